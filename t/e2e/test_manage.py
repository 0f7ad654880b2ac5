# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Instance management through the admin API: changes stored in SQLite, live in every
Apache process at once (prefork with 4+ children, event), kept across restarts, with
versions, rollback, per-field sources, reloads and state-file migration."""

import json
import os
import sqlite3
import stat
import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import (KEY, burst, chat, fleet_yaml, held_connections, instance,
                            pids_used, served_by, slow_backend)

ADMIN = "admin-key-9a8b7c6d5e4f3a2b"
AUTH = {"X-Admin-API-Key": ADMIN}
KEY_NEW = "key-new-0f1e2d3c4b5a69788"


@pytest.fixture(scope="module")
def east():
    m = start_mock(name="east", api_key=KEY,
                   deployments={"dep-y": "gpt-4o", "dep-y2": "gpt-4o", "dep-z": "gpt-4o"})
    yield m
    m.stop()


@pytest.fixture(scope="module")
def far():
    """Another host:port: an instance there needs a new balancer member."""
    m = start_mock(name="far", api_key=KEY_NEW,
                   deployments={"dep-new": "new-model", "dep-n2": "gpt-4o"})
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def reset_mocks(east, far):
    east.client.reset()
    far.client.reset()
    yield


def base_yaml(east):
    return fleet_yaml("failover", [instance("y", east.port, ["gpt-4o"], priority=1,
                                            deployment="dep-y")])


@pytest.fixture
def mgr(request, east):
    """A new server per test (see test_stats.stats_server for why not `server`)."""
    made = []

    def start(mpm, yaml_text=None, extra_conf="", env=None, **kw):
        srv = make_server(mpm, yaml_text or base_yaml(east),
                          extra_conf="AOProxyMaxBodySize 262144\n" + extra_conf,
                          env=dict({"ADMIN_API_KEY": ADMIN}, **(env or {})), **kw)
        made.append(srv)
        srv.start()
        return srv
    yield start
    for srv in made:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def new_instance(far, name="added", models=("new-model",), deployment="dep-new", **extra):
    body = {"name": name, "api_key": KEY_NEW, "api_base": "http://127.0.0.1:%d" % far.port,
            "api_version": "2024-10-21", "supported_models": list(models),
            "model_deployments": {m: deployment for m in models}}
    body.update(extra)
    return body


def admin(srv, method, path, body=None, key=ADMIN):
    return request(srv, method, path, body, headers={"X-Admin-API-Key": key} if key else None)


def ok(resp, status=200):
    assert resp.status == status, (resp.status, resp.body[:800])
    assert KEY.encode() not in resp.body and KEY_NEW.encode() not in resp.body
    return resp.json()


def names(srv, query=""):
    return [i["name"] for i in ok(request(srv, "GET", "/instances" + query))["instances"]]


def all_ok(responses):
    return [r.status for r in responses if r.status != 200] == []


# ---------------------------------------------------------------- live everywhere

@pytest.mark.parametrize("mpm", MPMS)
def test_added_instance_serves_at_once_in_every_process(mpm, mgr, far):
    srv = mgr(mpm)
    assert_openai_error(chat(srv, model="new-model"), 404, "model_not_found")
    body = ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    assert body["instance"]["name"] == "added"
    assert body["instance"]["api_key"] == "***"
    assert body["instance"]["version"] == 1
    slow_backend(far, 40)
    out = burst(srv, 48, model="new-model")
    assert all_ok(out), [r.status for r in out]
    # the burst really spread: every prefork child (4) or both event processes saw it
    want = 4 if mpm == "prefork" else 2
    assert len(pids_used(srv, want)) >= want
    assert set(served_by(far)) == {"dep-new"} and len(served_by(far)) == 48
    got = far.client.requests()[0]
    assert dict((k.lower(), v) for k, v in got["headers"])["api-key"] == KEY_NEW
    statuses = held_connections(srv, 6, model="new-model")
    assert statuses == [200] * 6
    assert "added" in names(srv)
    assert "model_not_found" not in json.dumps(request(srv, "GET", "/v1/models").json())
    assert "new-model" in [m["id"] for m in request(srv, "GET", "/v1/models").json()["data"]]


@pytest.mark.parametrize("mpm", MPMS)
def test_added_worker_is_synced_without_mod_proxys_scan(mpm, east, far):
    """The other processes take the added instance's balancer member by a look at each
    slot, not by ap_proxy_sync_balancer, which compares every slot with every worker
    (thousands of instances: milliseconds under the balancer's lock each request takes).
    mod_proxy's sync logs each slot it takes or finds again (AH02403, AH02402) at
    debug: it never ran, and every process serves the new member."""
    srv = make_server(mpm, base_yaml(east), extra_conf="AOProxyMaxBodySize 262144\n",
                      env={"ADMIN_API_KEY": ADMIN})
    srv.log_level = "warn aoproxy:debug proxy:debug"
    srv.start()
    try:
        ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
        slow_backend(far, 40)
        out = burst(srv, 48, model="new-model")
        assert all_ok(out), [r.status for r in out]
        want = 4 if mpm == "prefork" else 2
        assert len(pids_used(srv, want)) >= want
        assert held_connections(srv, 6, model="new-model") == [200] * 6
        assert set(served_by(far)) == {"dep-new"} and len(served_by(far)) == 54
        log = srv.read_log()
        assert "AH02403" not in log and "AH02402" not in log
        bad = srv.unexpected_errors()
        assert not bad, "\n".join(bad)
    finally:
        srv.stop()


@pytest.mark.parametrize("mpm", MPMS)
def test_patch_and_delete_seen_by_the_next_request_everywhere(mpm, mgr, east, far):
    srv = mgr(mpm)
    ok(admin(srv, "POST", "/instances/add",
             new_instance(far, name="n2", models=["gpt-4o"], deployment="dep-n2", priority=0)),
       201)
    slow_backend(far, 30)
    assert all_ok(burst(srv, 32))
    assert set(served_by(far)) == {"dep-n2"} and not served_by(east)
    far.client.reset()
    # disable it: the YAML instance takes everything, in every process
    body = ok(admin(srv, "PATCH", "/instances/n2", {"enabled": False}))
    assert body["instance"]["enabled"] is False and body["instance"]["version"] == 2
    slow_backend(east, 30)
    assert all_ok(burst(srv, 32))
    assert not served_by(far) and set(served_by(east)) == {"dep-y"}
    east.client.reset()
    # a new deployment for the YAML instance
    ok(admin(srv, "PATCH", "/instances/y", {"model_deployments": {"gpt-4o": "dep-y2"}}))
    slow_backend(east, 30)
    assert all_ok(burst(srv, 32))
    assert set(served_by(east)) == {"dep-y2"}
    # delete the YAML instance: nothing serves gpt-4o but the disabled n2
    ok(admin(srv, "DELETE", "/instances/y"))
    out = burst(srv, 16)
    assert {r.status for r in out} == {404}
    assert "y" not in names(srv)
    assert_openai_error(request(srv, "GET", "/instances/y"), 404, "instance_not_found")
    ok(admin(srv, "PATCH", "/instances/n2", {"enabled": True}))
    far.client.reset()
    assert all_ok(burst(srv, 16))
    assert set(served_by(far)) == {"dep-n2"}


def test_deleted_then_added_again_reuses_its_slot(mgr, far):
    srv = mgr("event", extra_conf="AOProxyInstanceGrowth 1")
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    ok(admin(srv, "DELETE", "/instances/added"))
    assert_openai_error(chat(srv, model="new-model"), 404, "model_not_found")
    # another name on the same host takes the removed instance's worker
    ok(admin(srv, "POST", "/instances/add", new_instance(far, name="again")), 201)
    assert chat(srv, model="new-model").status == 200
    # a third host would need a new slot: refused, nothing stored
    third = start_mock(name="third", api_key=KEY_NEW, deployments={"dep-new": "new-model"})
    try:
        body = new_instance(third, name="third")
        err = assert_openai_error(admin(srv, "POST", "/instances/add", body), 503, "no_capacity")
        assert "AOProxyInstanceGrowth" in err["message"]
    finally:
        third.stop()
    assert "third" not in names(srv)
    assert_openai_error(admin(srv, "GET", "/admin/instances/third/versions"), 404)
    srv.expect_error(r"AOP00092")


# ---------------------------------------------------------------- all or nothing

def test_add_many_is_all_or_nothing(mgr, far):
    srv = mgr("prefork")
    good = new_instance(far, name="m1")
    bad = new_instance(far, name="m2", weight=-1)
    err = assert_openai_error(admin(srv, "POST", "/instances/add-many",
                                    {"instances": [good, bad]}), 400, "invalid_instance")
    assert "instances[1]" in err["message"] and err["param"] == "weight"
    assert_openai_error(admin(srv, "POST", "/instances/add-many", [good, dict(good)]), 409,
                        "duplicate_name")
    clash = new_instance(far, name="y")
    assert_openai_error(admin(srv, "POST", "/instances/add-many", [good, clash]), 409,
                        "instance_exists")
    assert names(srv) == ["y"]
    assert_openai_error(chat(srv, model="new-model"), 404, "model_not_found")
    body = ok(admin(srv, "POST", "/instances/add-many",
                    {"instances": [good, new_instance(far, name="m3")]}), 201)
    assert body["added"] == ["m1", "m3"]
    assert [i["api_key"] for i in body["instances"]] == ["***", "***"]
    assert names(srv) == ["y", "m1", "m3"]
    assert held_connections(srv, 5, model="new-model") == [200] * 5


@pytest.mark.parametrize("payload,field", [
    ({"name": "bad name!"}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"weight": "10"}, "weight"),
    ({"priority": 1.5}, "priority"),
    ({"max_tpm": -5}, "max_tpm"),
    ({"enabled": "yes"}, "enabled"),
    ({"api_base": "openai.azure.com/x"}, "api_base"),
    ({"api_base": "ftp://example.com"}, "api_base"),
    ({"colour": "blue"}, "colour"),
    ({"supported_models": ["new-model", "other"]}, "model_deployments"),
    ({"supported_models": "new-model"}, "supported_models"),
    ({"name": "add"}, "name"),                # /instances/add is an endpoint
    ({"name": "add-many"}, "name"),
])
def test_bad_payloads_name_the_field_and_change_nothing(payload, field, mgr, far, request):
    srv = mgr("event")
    body = new_instance(far)
    body.update(payload)
    err = assert_openai_error(admin(srv, "POST", "/instances/add", body), 400, "invalid_instance")
    assert err["param"] is not None and err["param"].startswith(field), err
    assert KEY_NEW not in err["message"]
    assert names(srv) == ["y"]
    assert not os.path.exists(os.path.join(srv.root, "state", "instance_state.db")) or \
        not sqlite3.connect(os.path.join(srv.root, "state", "instance_state.db")).execute(
            "SELECT count(*) FROM instance_versions").fetchone()[0]


def test_bad_patches_and_bodies(mgr, far):
    srv = mgr("event")
    err = assert_openai_error(admin(srv, "PATCH", "/instances/y", {"weight": -1}), 400)
    assert err["param"] == "weight"
    assert_openai_error(admin(srv, "PATCH", "/instances/y", {"name": "other"}), 400)
    assert_openai_error(admin(srv, "PATCH", "/instances/nope", {"weight": 1}), 404,
                        "instance_not_found")
    assert_openai_error(admin(srv, "DELETE", "/instances/nope"), 404, "instance_not_found")
    resp = request(srv, "POST", "/instances/add", b"{not json",
                   headers={"X-Admin-API-Key": ADMIN})
    assert_openai_error(resp, 400, "invalid_json")
    assert_openai_error(admin(srv, "POST", "/instances/add"), 400)
    assert_openai_error(admin(srv, "POST", "/instances/add", [1, 2]), 400)
    assert_openai_error(admin(srv, "POST", "/admin/instances/y/rollback", {"version": "1"}), 400,
                        "invalid_version")
    big = new_instance(far, padding="x" * (2 * 1024 * 1024))
    assert admin(srv, "POST", "/instances/add", big).status in (400, 413)
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 100


def test_plain_http_is_accepted_with_a_warning(mgr, far):
    srv = mgr("event")
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    log = srv.read_log()
    assert "AOP00093" in log and "plain http" in log and KEY_NEW not in log


# ---------------------------------------------------------------- history

def test_versions_and_rollback(mgr, far):
    srv = mgr("prefork")
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 7}))
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 9, "priority": 4}))
    vs = ok(admin(srv, "GET", "/admin/instances/y/versions"))["versions"]
    assert [v["version"] for v in vs] == [2, 1]
    assert vs[0]["change"] == "update" and sorted(vs[0]["fields"]) == ["priority", "weight"]
    assert vs[1]["fields"] == ["weight"]
    assert vs[0]["instance"]["api_key"] == "***" and vs[0]["changed_at"]
    assert vs[0]["changed_by"].startswith("admin-api")
    body = ok(admin(srv, "POST", "/admin/instances/y/rollback", {"version": 1}))
    assert body["rolled_back_to"] == 1 and body["version"] == 3
    cfg = ok(request(srv, "GET", "/instances/config/y"))
    assert (cfg["weight"], cfg["priority"], cfg["version"]) == (7, 1, 3)
    vs = ok(admin(srv, "GET", "/admin/instances/y/versions"))["versions"]
    assert vs[0]["change"] == "rollback"
    assert_openai_error(admin(srv, "POST", "/admin/instances/y/rollback", {"version": 9}), 404)
    assert_openai_error(admin(srv, "GET", "/admin/instances/never/versions"), 404)
    # a deleted instance can be rolled back to life
    ok(admin(srv, "DELETE", "/instances/y"))
    assert_openai_error(chat(srv), 404, "model_not_found")
    ok(admin(srv, "POST", "/admin/instances/y/rollback", {"version": 3}))
    assert chat(srv).status == 200


@pytest.mark.parametrize("mpm", MPMS)
def test_a_yaml_instance_deleted_through_the_api_comes_back(mpm, mgr, east, far):
    srv = mgr(mpm)
    assert ok(admin(srv, "DELETE", "/instances/y"))["version"] == 1
    assert_openai_error(chat(srv), 404, "model_not_found")
    vs = ok(admin(srv, "GET", "/admin/instances/y/versions"))["versions"]
    assert [(v["version"], v["change"]) for v in vs] == [(1, "delete")]
    # Its one version is the deletion: rolling back to that is a documented 409 that
    # says what brings it back.
    err = assert_openai_error(admin(srv, "POST", "/admin/instances/y/rollback",
                                    {"version": 1}), 409, "conflict")
    assert "version 0" in err["message"]
    # Version 0: the instance as the YAML defines it, live in every process.
    body = ok(admin(srv, "POST", "/admin/instances/y/rollback", {"version": 0}))
    assert body["rolled_back_to"] == 0 and body["version"] == 2
    assert body["instance"]["name"] == "y" and body["instance"]["api_key"] == "***"
    assert held_connections(srv, 4) == [200] * 4
    assert served_by(east) == ["dep-y"] * 4
    vs = ok(admin(srv, "GET", "/admin/instances/y/versions"))["versions"]
    assert vs[0]["change"] == "revert" and vs[0]["instance"]["api_key"] == "***"
    src = ok(admin(srv, "GET", "/admin/config/instances/y/sources"))["sources"]
    assert {s["layer"] for s in src.values()} <= {"yaml", "default"}, src
    # Every field follows the YAML again: after a reload, and after a restart.
    srv.write_yaml("base.yaml", base_yaml(east).replace("weight: 100", "weight: 77"))
    ok(admin(srv, "POST", "/config/reload"))
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 77
    srv.stop()
    srv.start()
    assert names(srv) == ["y"] and chat(srv).status == 200
    # An instance only the API defined has no YAML: version 0 deletes it.
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    body = ok(admin(srv, "POST", "/admin/instances/added/rollback", {"version": 0}))
    assert body["version"] == 2 and "instance" not in body
    assert names(srv) == ["y"]
    assert_openai_error(admin(srv, "POST", "/admin/instances/added/rollback", {"version": 0}),
                        409, "conflict")
    assert_openai_error(admin(srv, "POST", "/admin/instances/never/rollback", {"version": 0}),
                        404)
    assert_openai_error(admin(srv, "POST", "/admin/instances/y/rollback", {"version": -1}),
                        400, "invalid_version")


# ---------------------------------------------------------------- restarts

@pytest.mark.parametrize("mpm", MPMS)
def test_changes_survive_restart_and_graceful(mpm, mgr, east, far):
    srv = mgr(mpm)
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 42}))
    srv.graceful()
    assert "added" in names(srv) and chat(srv, model="new-model").status == 200
    srv.stop()
    srv.start()
    assert names(srv) == ["y", "added"]
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 42
    assert held_connections(srv, 4, model="new-model") == [200] * 4
    db = os.path.join(srv.root, "state", "instance_state.db")
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


# ---------------------------------------------------------------- layers

def test_precedence_and_sources(mgr, east):
    srv = mgr("event")
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 5}))
    src = ok(admin(srv, "GET", "/admin/config/instances/y/sources"))
    assert src["sources"]["weight"]["layer"] == "database"
    assert src["sources"]["weight"]["version"] == 1
    assert src["sources"]["api_version"]["layer"] == "yaml"
    assert src["sources"]["api_version"]["location"].endswith("base.yaml")
    assert src["sources"]["provider_type"]["layer"] == "default"
    # the YAML changes a field the database does not set, and one it does
    srv.write_yaml("base.yaml", base_yaml(east).replace('"2024-10-21"', '"2025-01-01"')
                   .replace("weight: 100", "weight: 77"))
    body = ok(admin(srv, "POST", "/config/reload"))
    assert body["reloaded"] is True
    cfg = ok(request(srv, "GET", "/instances/config/y"))
    assert cfg["api_version"] == "2025-01-01" and cfg["weight"] == 5
    chat(srv)
    assert east.client.requests()[-1]["params"]["api-version"] == "2025-01-01"
    layers = ok(admin(srv, "GET", "/admin/config/sources"))
    assert [l["layer"] for l in layers["precedence"]] == ["database", "state_file", "yaml",
                                                          "default"]
    assert layers["precedence"][0]["exists"] is True
    eff = ok(admin(srv, "GET", "/admin/config/effective"))
    assert eff["instances"][0]["weight"] == 5 and eff["sources"]["y"]["weight"]["layer"] == \
        "database"


def test_reload_of_a_broken_yaml_changes_nothing(mgr, east):
    srv = mgr("prefork")
    srv.write_yaml("base.yaml", base_yaml(east) + "  - name: [oops\n")
    err = assert_openai_error(admin(srv, "POST", "/admin/config/reload"), 400, "config_invalid")
    assert "base.yaml" in err["message"]
    assert chat(srv).status == 200
    assert names(srv) == ["y"]
    srv.write_yaml("base.yaml", base_yaml(east))     # or `apache2 -k stop` would refuse it


def test_reload_adds_yaml_instances_live(mgr, east):
    srv = mgr("prefork")
    srv.write_yaml("base.yaml", fleet_yaml("failover", [
        instance("y", east.port, ["gpt-4o"], priority=1, deployment="dep-y"),
        instance("z", east.port, ["gpt-4o"], priority=0, deployment="dep-z")]))
    ok(admin(srv, "POST", "/config/reload"))
    slow_backend(east, 30)
    assert all_ok(burst(srv, 24))
    assert set(served_by(east)) == {"dep-z"}


def test_reload_reads_an_environment_file_that_appeared(mgr, east):
    srv = mgr("event", environment="prod")
    files = ok(admin(srv, "GET", "/admin/config/sources"))["precedence"][2]["files"]
    assert [os.path.basename(f) for f in files] == ["base.yaml"]
    srv.write_yaml("prod.yaml", "instances:\n  - name: \"y\"\n    weight: 61\n")
    body = ok(admin(srv, "POST", "/config/reload"))
    assert [os.path.basename(f) for f in body["files"]] == ["base.yaml", "prod.yaml"]
    # every process's view says where its YAML now comes from
    for _ in range(8):
        files = ok(admin(srv, "GET", "/admin/config/sources"))["precedence"][2]["files"]
        assert [os.path.basename(f) for f in files] == ["base.yaml", "prod.yaml"]
    src = ok(admin(srv, "GET", "/admin/config/instances/y/sources"))["sources"]
    assert src["weight"]["layer"] == "yaml" and src["weight"]["location"].endswith("prod.yaml")
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 61


def test_state_file_is_imported_on_first_start(mgr, east, far, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"timestamp": 1715000000.5, "worker_id": "w1", "instances": [
        dict(new_instance(far, name="legacy"), max_input_tokens=0, proxy_url=None,
             stats={"error_count": 3}),
        {"name": "y", "weight": 3}]}))
    os.chmod(tmp_path, 0o755)
    srv = mgr("prefork", env={"INSTANCE_MANAGER_STATE_FILE": str(state)})
    assert names(srv) == ["y", "legacy"]
    assert chat(srv, model="new-model").status == 200
    src = ok(admin(srv, "GET", "/admin/config/instances/y/sources"))["sources"]
    assert src["weight"]["layer"] == "state_file"
    assert src["api_base"]["layer"] == "yaml"
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 3
    assert "AOP00087" in srv.read_log()
    vs = ok(admin(srv, "GET", "/admin/instances/legacy/versions"))["versions"]
    assert vs[0]["change"] == "import"
    # a restart does not import again
    srv.stop()
    srv.start()
    assert len(ok(admin(srv, "GET", "/admin/instances/legacy/versions"))["versions"]) == 1


# ---------------------------------------------------------------- filters, reads

def test_instance_filters_and_config_reads(mgr, far):
    srv = mgr("event")
    ok(admin(srv, "POST", "/instances/add", new_instance(far, enabled=False)), 201)
    assert names(srv, "?model=new-model") == ["added"]
    assert names(srv, "?model=gpt-4o") == ["y"]
    assert names(srv, "?provider_type=azure") == ["y", "added"]
    assert names(srv, "?provider_type=openai") == []
    assert names(srv, "?status=disabled") == ["added"]
    assert names(srv, "?status=healthy") == ["y"]
    assert names(srv, "?status=enabled") == ["y"]
    assert_openai_error(request(srv, "GET", "/instances?status=sleepy"), 400, "invalid_filter")
    allc = ok(request(srv, "GET", "/instances/config/all"))["instances"]
    assert [i["name"] for i in allc] == ["y", "added"]
    assert all(i["api_key"] == "***" for i in allc)
    assert ok(request(srv, "GET", "/instances/config/added"))["enabled"] is False
    assert_openai_error(request(srv, "GET", "/instances/config/none"), 404)
    assert ok(request(srv, "GET", "/instances/added"))["health"]["status"] == "disabled"


# ---------------------------------------------------------------- the admin key

ADMIN_ROUTES = [
    ("POST", "/instances/add"), ("POST", "/instances/add-many"), ("PATCH", "/instances/y"),
    ("DELETE", "/instances/y"), ("POST", "/config/reload"), ("GET", "/admin/config/sources"),
    ("GET", "/admin/config/instances/y/sources"), ("GET", "/admin/config/effective"),
    ("POST", "/admin/config/reload"), ("GET", "/admin/instances/y/versions"),
    ("POST", "/admin/instances/y/rollback"), ("POST", "/stats/reset"),
]


def test_every_admin_route_needs_the_key(mgr, far):
    srv = mgr("event")
    for method, path in ADMIN_ROUTES:
        assert_openai_error(admin(srv, method, path, {}, key=None), 401, "invalid_admin_key")
        assert_openai_error(admin(srv, method, path, {}, key=ADMIN[:-1] + "x"), 401,
                            "invalid_admin_key")
    assert names(srv) == ["y"]


def test_without_an_admin_key_changes_are_refused(east, far):
    srv = make_server("event", base_yaml(east))
    srv.start()
    try:
        for method, path in ADMIN_ROUTES:
            assert_openai_error(admin(srv, method, path, {}), 403, "admin_key_not_configured")
        assert names(srv) == ["y"]
    finally:
        srv.stop()


# ---------------------------------------------------------------- a broken store

def test_locked_store_answers_503_and_keeps_running(mgr, far):
    srv = mgr("event")
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 5}))
    db = sqlite3.connect(os.path.join(srv.root, "state", "instance_state.db"), timeout=1)
    db.execute("BEGIN EXCLUSIVE")
    try:
        err = assert_openai_error(admin(srv, "POST", "/instances/add", new_instance(far)), 503,
                                  "store_busy")
        assert "locked" in err["message"] or "busy" in err["message"]
    finally:
        db.rollback()
        db.close()
    assert names(srv) == ["y"] and chat(srv).status == 200
    srv.expect_error(r"AOP00091")


def test_corrupt_store_answers_503_and_keeps_running(mgr, far):
    srv = mgr("event")
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 5}))
    path = os.path.join(srv.root, "state", "instance_state.db")
    with open(path, "r+b") as f:
        f.write(b"this is not a database" * 100)
    assert_openai_error(admin(srv, "POST", "/instances/add", new_instance(far)), 503)
    assert names(srv) == ["y"] and chat(srv).status == 200
    assert ok(request(srv, "GET", "/instances/config/y"))["weight"] == 5
    srv.expect_error(r"AOP00091")


# ---------------------------------------------------------------- secrets

def test_no_secret_in_any_answer_or_log(mgr, east, far):
    srv = mgr("event")
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    ok(admin(srv, "PATCH", "/instances/added", {"api_key": "***"}))   # keeps the key
    assert chat(srv, model="new-model").status == 200
    ok(admin(srv, "PATCH", "/instances/added", {"weight": 3}))
    paths = ["/instances", "/instances/added", "/instances/config/all",
             "/instances/config/added", "/config", "/admin/config/sources",
             "/admin/config/instances/added/sources", "/admin/config/effective",
             "/admin/instances/added/versions", "/stats", "/stats/instances", "/metrics"]
    for p in paths:
        resp = admin(srv, "GET", p)
        assert resp.status == 200, (p, resp.status)
        for secret in (KEY, KEY_NEW, ADMIN):
            assert secret.encode() not in resp.body, p
    log = srv.read_log() + srv.read_log(srv.access_log)
    for secret in (KEY, KEY_NEW, ADMIN):
        assert secret not in log
    assert far.client.requests()[-1]["headers"]


@pytest.mark.parametrize("mpm", MPMS)
def test_in_flight_requests_finish_on_the_instances_they_started_with(mpm, mgr, far):
    srv = mgr(mpm)
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)
    far.client.rules([{"delay_ms": 1500}])
    got = []
    t = threading.Thread(target=lambda: got.append(chat(srv, model="new-model")))
    t.start()
    deadline = time.time() + 5
    while not far.client.requests() and time.time() < deadline:
        time.sleep(0.02)
    ok(admin(srv, "DELETE", "/instances/added"))
    assert_openai_error(chat(srv, model="new-model"), 404, "model_not_found")
    t.join()
    assert got[0].status == 200, got[0].body
    assert got[0].json()["choices"][0]["message"]["content"].startswith("mock:far:dep-new")
    # its usage was counted on the instance's slot, and nothing was logged as an error
    assert "added" not in names(srv)


def test_unwritable_store_answers_503_and_keeps_running(mgr, far):
    srv = mgr("event")
    ok(admin(srv, "PATCH", "/instances/y", {"weight": 5}))
    db = os.path.join(srv.root, "state", "instance_state.db")
    os.chmod(db, 0o400)                          # as a full or read-only disk would
    try:
        err = assert_openai_error(admin(srv, "POST", "/instances/add", new_instance(far)), 503,
                                  "store_unavailable")
        assert KEY_NEW not in err["message"]
    finally:
        # SQLite made its -shm file with the database's mode: the operator's fix
        # is to make them all writable again.
        for f in os.listdir(os.path.dirname(db)):
            os.chmod(os.path.join(os.path.dirname(db), f), 0o600)
    assert names(srv) == ["y"] and chat(srv).status == 200
    assert ok(admin(srv, "GET", "/admin/instances/y/versions"))["versions"][0]["version"] == 1
    ok(admin(srv, "POST", "/instances/add", new_instance(far)), 201)   # and it works again
    srv.expect_error(r"AOP00091")
