# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Issue 12, hardening: numbers from clients and backends that once wrapped a budget or a
cooldown, names with NUL characters, duplicate keys, a short admin key from the
environment, and the balancer slots a new instance takes.

Each test here failed on the code before the fix (the slot test excepted: the code
was right, the documentation said otherwise; it holds the documented behaviour)."""

import calendar
import json
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import KEY, fleet_yaml, instance

ADMIN = "admin-key-hard-0c1d2e3f4a5b"
INT64_MAX = 2 ** 63 - 1
USAGE_MAX = 2 ** 40          # AOP_USAGE_MAX_TOKENS


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="hard", api_key=KEY, deployments={
        "dep-h": "gpt-4o", "dep-free": "gpt-4o-mini", "dep-a": "gpt-4o-mini",
        "dep-b": "gpt-4o-mini"})
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def reset_mock(mock):
    mock.client.reset()
    yield


@pytest.fixture
def started():
    servers = []

    def start(mpm, yaml_text, **kw):
        kw.setdefault("env", {"ADMIN_API_KEY": ADMIN})
        srv = make_server(mpm, yaml_text, **kw)
        srv.start()
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def budget_yaml(mock):
    """h: gpt-4o with a budget of 1000 tokens a minute; free: gpt-4o-mini, unlimited."""
    return fleet_yaml("failover", [
        instance("h", mock.port, ["gpt-4o"], max_tpm=1000, deployment="dep-h"),
        instance("free", mock.port, ["gpt-4o-mini"], deployment="dep-free")])


def chat(srv, model="gpt-4o", content="hi", **extra):
    body = dict({"model": model, "messages": [{"role": "user", "content": content}]},
                **extra)
    return request(srv, "POST", "/v1/chat/completions", body)


HI = '"messages":[{"role":"user","content":"hi"}]'


def raw_chat(srv, text):
    return request(srv, "POST", "/v1/chat/completions", text.encode())


def tpm_of(srv, name):
    insts = request(srv, "GET", "/stats/instances").json()["instances"]
    return [i for i in insts if i["name"] == name][0]["tpm"]


def stats_of(srv, name):
    insts = request(srv, "GET", "/stats/instances").json()["instances"]
    return [i for i in insts if i["name"] == name][0]["stats"]


def reserved_settles(srv, name, want=0, wait=3.0):
    """reserved as it is once the requests' ends are counted (log_transaction runs
    just after the answer went out)."""
    deadline = time.time() + wait
    while True:
        got = tpm_of(srv, name)["reserved"]
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.05)


# ---------------------------------------------------------------- item 1: numbers

ABSURD = [
    ({"max_tokens": INT64_MAX}, "max_tokens"),
    ({"max_tokens": 2 ** 62, "n": 4}, "max_tokens"),
    ({"max_completion_tokens": INT64_MAX}, "max_completion_tokens"),
    ({"max_tokens": 2 ** 31}, "max_tokens"),
    ({"n": 129}, "n"),
    ({"n": INT64_MAX}, "n"),
]


@pytest.mark.parametrize("mpm", MPMS)
def test_absurd_max_tokens_cannot_switch_off_a_budget(mpm, mock, started):
    srv = started(mpm, budget_yaml(mock))
    # Spend the budget: 4000 characters are 1000 prompt tokens to the mock (the answer
    # adds 1): the window holds 1001 of 1000, nothing fits any more.
    assert chat(srv, content="x" * 4000, max_tokens=1).status == 200
    assert_openai_error(chat(srv, max_tokens=1), 429, "rate_limit_exceeded")
    before = len(mock.client.requests())
    for extra, param in ABSURD:
        err = assert_openai_error(chat(srv, **extra), 400, "integer_above_max_value", param)
        assert err["type"] == "invalid_request_error"
    # Nothing reached Azure, nothing stays reserved, and the budget still holds.
    assert len(mock.client.requests()) == before
    assert reserved_settles(srv, "h") == 0
    assert_openai_error(chat(srv, max_tokens=1), 429, "rate_limit_exceeded")
    assert len(mock.client.requests()) == before


@pytest.mark.parametrize("mpm", MPMS)
def test_largest_accepted_counts_reserve_and_release_exactly(mpm, mock, started):
    srv = started(mpm, budget_yaml(mock))
    resp = chat(srv, model="gpt-4o-mini", max_tokens=2 ** 31 - 1, n=128)
    assert resp.status == 200, resp.body
    assert reserved_settles(srv, "free") == 0
    # Over a budget it is simply too big for a window that is not empty.
    assert chat(srv, max_tokens=1).status == 200
    assert_openai_error(chat(srv, max_tokens=2 ** 31 - 1, n=128), 429, "rate_limit_exceeded")
    assert reserved_settles(srv, "h") == 0


def test_huge_usage_from_the_backend_is_bounded(mock, started):
    srv = started("event", budget_yaml(mock))
    huge = {"id": "x", "object": "chat.completion", "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": INT64_MAX, "completion_tokens": INT64_MAX}}
    mock.client.rules([{"deployment": "dep-free", "status": 200, "body": json.dumps(huge),
                        "times": 2},
                       {"deployment": "dep-h", "status": 200, "body": json.dumps(huge),
                        "times": 1}])
    assert chat(srv, model="gpt-4o-mini").status == 200
    assert chat(srv, model="gpt-4o-mini").status == 200
    tokens = stats_of(srv, "free")["tokens"]
    assert tokens["prompt"] == 2 * USAGE_MAX and tokens["completion"] == 2 * USAGE_MAX
    assert tokens["total"] == 4 * USAGE_MAX
    total = request(srv, "GET", "/stats").json()["total"]["tokens"]
    assert total["total"] == 4 * USAGE_MAX
    # The budgeted instance: its window saturates, it reads as spent, never as room.
    assert chat(srv).status == 200
    tpm = tpm_of(srv, "h")
    assert tpm["used"] == 2 * USAGE_MAX and tpm["reserved"] == 0
    assert_openai_error(chat(srv), 429, "rate_limit_exceeded")


def test_wild_retry_after_is_held_at_an_hour(mock, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", mock.port, ["gpt-4o-mini"], priority=1, deployment="dep-a"),
        instance("b", mock.port, ["gpt-4o-mini"], priority=2, deployment="dep-b")]))
    mock.client.rules([{"deployment": "dep-a", "status": 429, "times": 1,
                        "headers": {"Retry-After": "99999999999999999999999"}}])
    t0 = time.time()
    assert chat(srv, model="gpt-4o-mini").status == 200
    assert [r["deployment"] for r in mock.client.requests()] == ["dep-a", "dep-b"]
    health = [i for i in request(srv, "GET", "/stats/health").json()["instances"]
              if i["name"] == "a"][0]["health"]
    until = calendar.timegm(time.strptime(health["cooldown_until"], "%Y-%m-%dT%H:%M:%SZ"))
    assert t0 + 3500 <= until <= t0 + 3700, (health, t0)


# ---------------------------------------------------------------- item 6: input edges

@pytest.mark.parametrize("mpm", MPMS)
def test_nul_in_model_is_refused(mpm, mock, started):
    srv = started(mpm, budget_yaml(mock))
    err = assert_openai_error(raw_chat(srv, '{"model":"gpt-4o-mini\\u0000evil",%s}' % HI),
                              400, "invalid_value", "model")
    assert "NUL" in err["message"]
    assert mock.client.requests() == []


@pytest.mark.parametrize("mpm", MPMS)
def test_duplicate_keys_the_gateway_reads_are_refused(mpm, mock, started):
    srv = started(mpm, budget_yaml(mock))
    # Once routed (and budgeted) as the last model while Azure got both.
    assert_openai_error(raw_chat(srv, '{"model":"gpt-4o",%s,"model":"gpt-4o-mini"}' % HI),
                        400, "duplicate_key", "model")
    assert_openai_error(raw_chat(srv, '{"model":"gpt-4o-mini","stream":false,"stream":true,'
                                      '%s}' % HI), 400, "duplicate_key", "stream")
    assert_openai_error(raw_chat(srv, '{"model":"gpt-4o-mini","max_tokens":1,%s,'
                                      '"max_tokens":100000}' % HI), 400, "duplicate_key",
                        "max_tokens")
    assert mock.client.requests() == []
    # A key the gateway does not read may come twice: it is forwarded untouched.
    body = '{"model":"gpt-4o-mini","user":"a","user":"b",%s}' % HI
    assert raw_chat(srv, body).status == 200
    assert mock.client.requests()[0]["body"] == body


def admin(srv, method, path, body=None):
    return request(srv, method, path, body, headers={"X-Admin-API-Key": ADMIN})


def new_instance(mock, name, deployment="dep-a"):
    return {"name": name, "api_key": KEY, "api_base": "http://127.0.0.1:%d" % mock.port,
            "api_version": "2024-10-21", "supported_models": ["gpt-4o-mini"],
            "model_deployments": {"gpt-4o-mini": deployment}}


def names(srv):
    return [i["name"] for i in request(srv, "GET", "/instances").json()["instances"]]


@pytest.mark.parametrize("mpm", MPMS)
def test_nul_in_instance_names_is_refused(mpm, mock, started):
    srv = started(mpm, budget_yaml(mock))
    body = json.dumps(new_instance(mock, "ok")).replace('"name": "ok"', '"name": "ok\\u0000evil"')
    err = assert_openai_error(admin(srv, "POST", "/instances/add", body.encode()), 400,
                              "invalid_value", "name")
    assert "NUL" in err["message"]
    # In a member name json-c cannot even tell: "gpt-4o-mini\u0000x" would be read as
    # "gpt-4o-mini".
    body = json.dumps(new_instance(mock, "ok2")).replace('"model_deployments": {"gpt-4o-mini"',
                                                         '"model_deployments": '
                                                         '{"gpt-4o-mini\\u0000x"')
    assert_openai_error(admin(srv, "POST", "/instances/add", body.encode()), 400,
                        "invalid_value", "model_deployments.gpt-4o-mini")
    many = json.dumps({"instances": [new_instance(mock, "m1")]}).replace('"m1"', '"m1\\u0000"')
    assert_openai_error(admin(srv, "POST", "/instances/add-many", many.encode()), 400,
                        "invalid_value", "instances[0].name")
    patch = '{"api_version":"2024-10-21\\u0000x"}'
    assert_openai_error(admin(srv, "PATCH", "/instances/free", patch.encode()), 400,
                        "invalid_value", "api_version")
    assert names(srv) == ["h", "free"]
    # A body over 8 KiB with a raw NUL byte early on: refused as not JSON, and read
    # whole (the buffer once ended at the NUL while its length went on).
    raw = b'{"name":"x\x00' + b" " * 20000 + b'"}'
    assert_openai_error(admin(srv, "POST", "/instances/add", raw), 400, "invalid_json")
    assert names(srv) == ["h", "free"]


def test_short_admin_key_from_the_environment_is_refused_like_the_directive(mock):
    yaml_text = budget_yaml(mock)
    # The directive has always refused it at configtest ...
    srv = make_server("event", yaml_text, extra_conf="AOProxyAdminKey short-8")
    res = srv.configtest()
    assert res.returncode != 0 and "at least 16 characters" in res.stderr, res.stderr
    # ... and now the environment does too, without showing the key.
    srv = make_server("event", yaml_text, env={"ADMIN_API_KEY": "short-08"})
    res = srv.configtest()
    assert res.returncode != 0, res.stderr
    assert "AOP00105" in res.stderr and "at least 16 characters" in res.stderr, res.stderr
    assert "short-08" not in res.stderr
    # A real start serves without an admin key (test_operator: AOP00106, changes 403).
    # Sixteen characters pass, from either source.
    srv = make_server("event", yaml_text, env={"ADMIN_API_KEY": "sixteen-chars-ok"})
    assert srv.configtest().returncode == 0
    srv = make_server("event", yaml_text, extra_conf="AOProxyAdminKey sixteen-chars-ok")
    assert srv.configtest().returncode == 0


def test_every_new_instance_takes_a_balancer_slot_even_on_a_known_origin(mock, started):
    """docs/api.md, AOProxyInstanceGrowth: slots go per instance, not per origin."""
    srv = started("event", budget_yaml(mock), extra_conf="AOProxyInstanceGrowth 1")
    # The YAML's instances already use this origin; a new name still needs a member.
    resp = admin(srv, "POST", "/instances/add", new_instance(mock, "n1"))
    assert resp.status == 201, resp.body
    err = assert_openai_error(admin(srv, "POST", "/instances/add", new_instance(mock, "n2")),
                              503, "no_capacity")
    assert "AOProxyInstanceGrowth" in err["message"]
    assert "n2" not in names(srv)
    srv.expect_error(r"AOP00092")
    # A removed instance frees its member for another name on the same origin.
    assert admin(srv, "DELETE", "/instances/n1").status == 200
    assert admin(srv, "POST", "/instances/add", new_instance(mock, "n2")).status == 201
    assert "n2" in names(srv)
