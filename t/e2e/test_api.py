# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The management API's read-only configuration views never show a secret."""

from conftest import KEYS, assert_openai_error, request


def test_instances_are_listed_with_masked_keys(server):
    resp = request(server, "GET", "/instances")
    assert resp.status == 200
    text = resp.body.decode()
    for key in KEYS.values():
        assert key not in text
    insts = {i["name"]: i for i in resp.json()["instances"]}
    assert set(insts) == {"dead", "east", "west"}
    assert insts["east"]["api_key"] == "***"
    assert insts["west"]["api_base"] == "http://127.0.0.1:%s" % insts["west"]["api_base"].rsplit(":", 1)[1]
    assert insts["west"]["model_deployments"]["gpt-4o-2024-11-20"] == "west-nov"
    assert insts["east"]["max_tpm"] == 240000


def test_config_is_effective_and_masked(server):
    cfg = request(server, "GET", "/config").json()
    assert cfg["routing"] == {"strategy": "failover", "retries": 3, "timeout": 20,
                              "first_token_timeout": 0, "first_token_timeout_by_model": {},
                              "stream_idle_timeout": 0}
    assert cfg["monitoring"]["additional_windows"] == [15, 30, 60]
    assert all(i["api_key"] == "***" for i in cfg["instances"])


def test_unknown_api_path_and_method(server):
    assert_openai_error(request(server, "GET", "/stats/nope"), 404)
    assert_openai_error(request(server, "DELETE", "/config"), 405)


# A path the API has, asked with another method: 405 with the methods it has, never
# 404 (nor "no instance named add": a spelled-out path beats /instances/{name}).
WRONG_METHODS = [
    ("GET", "/instances/add", "POST"),
    ("GET", "/instances/add/", "POST"),
    ("PATCH", "/instances/add", "POST"),
    ("DELETE", "/instances/add-many", "POST"),
    ("GET", "/instances/add-many", "POST"),
    ("GET", "/stats/reset", "POST"),
    ("GET", "/config/reload", "POST"),
    ("GET", "/admin/config/reload", "POST"),
    ("PUT", "/stats", "GET"),
    ("POST", "/metrics", "GET"),
    ("POST", "/instances", "GET"),
    ("POST", "/instances/config/all", "GET"),
    ("DELETE", "/instances/config/east", "GET"),
    ("GET", "/instances/verify/east", "POST"),
    ("POST", "/instances/east", "GET, PATCH, DELETE"),
    ("GET", "/admin/instances/east/rollback", "POST"),
    ("DELETE", "/admin/instances/east/versions", "GET"),
    ("POST", "/admin/config/instances/east/sources", "GET"),
]


def test_wrong_method_on_a_known_path_is_405(server):
    for method, path, allow in WRONG_METHODS:
        resp = request(server, method, path)
        err = assert_openai_error(resp, 405, code="method_not_allowed")
        assert resp.header("Allow") == allow, (method, path, resp.header("Allow"))
        assert method in err["message"] and allow in err["message"], err
    # Unknown paths stay 404, whatever the method.
    for method, path in (("GET", "/instances/add/x"), ("POST", "/stats/nope"),
                         ("GET", "/admin/instances/east")):
        assert_openai_error(request(server, method, path), 404, code="unknown_url")


def test_old_paths_redirect_permanently(server):
    import http.client
    for old, new in (("/verification/instances/east", "/instances/verify/east"),
                     ("/health/instances/east", "/instances/east"),
                     ("/health/instances", "/stats/instances")):
        for method in ("GET", "POST"):
            resp = request(server, method, old)
            assert resp.status == 301, (old, resp.status)
            assert resp.header("Location") == new
    # Query strings follow.
    assert request(server, "GET", "/health/instances?x=1").header("Location") == \
        "/stats/instances?x=1"
    # /verification/instances/test is gone.
    assert_openai_error(request(server, "POST", "/verification/instances/test"), 404)
    # The new place of /health/instances/east answers.
    assert request(server, "GET", "/instances/east").json()["name"] == "east"
