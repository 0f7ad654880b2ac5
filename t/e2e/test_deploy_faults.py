# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Faults and quotas per deployment (issue 15, items 1 and 8).

Azure's rate limits and outages are per deployment (an instance x model pair): a 429,
408 or 5xx, a timeout or a reset on one model's deployment rests that deployment
alone, and the instance's other models go on without a failover; a refused key
(401/403) is the instance's and rests it whole.  A deployment may have its own
max_tpm and max_rpm (model_deployments' object form); max_rpm holds over 1 s and 10 s
windows as Azure counts.  The circuit of each instance and of each deployment
(closed, open, half_open) shows in /stats/instances.

Two servers per MPM, module-scoped: `plain` (the plain deployment form only, so that
its tests run on a module without the object form too) and `limited` (deployment
limits, the admin API).  Every mock deployment is named after its instance and
model, so the mock's record says who served each request.  Each test ends with a
healthy request through the same server.
"""

import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import KEY, chat, pids_used, served_by

ADMIN = "admin-key-dep-5c4b3a2910"


@pytest.fixture(scope="module")
def dep():
    mock = start_mock(name="dep", api_key=KEY, deployments={
        "a-4o": "gpt-4o", "a-mini": "gpt-4o-mini", "b-4o": "gpt-4o", "b-mini": "gpt-4o-mini",
        "k1-x": "m-x", "k1-y": "m-y", "k2-x": "m-x", "k2-y": "m-y",
        "r-rpm": "m-rpm", "r-free": "m-free", "t-tpm": "m-tpm", "t-free": "m-tfree",
        "p-one": "m-p", "p-two": "m-p2"})
    yield mock
    mock.stop()


@pytest.fixture(autouse=True)
def reset_dep(dep):
    dep.client.reset()
    yield


def inst(name, port, deployments, priority=100, extra=""):
    """deployments: model -> YAML value (a quoted name or a flow map)."""
    return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    priority: {priority}
    supported_models: [{models}]
    model_deployments: {{ {deps} }}
{extra}""".format(name=name, key=KEY, port=port, priority=priority, extra=extra,
                  models=", ".join('"%s"' % m for m in deployments),
                  deps=", ".join('"%s": %s' % kv for kv in deployments.items()))


def fleet(instances):
    return 'routing: { strategy: "failover", retries: 3, timeout: 20 }\ninstances:\n' + \
        "".join(instances)


def start(request, yaml_text):
    srv = make_server(request.param, yaml_text,
                      extra_conf="AOProxyMaxBodySize 262144\nAOProxyCooldown 1",
                      env={"ADMIN_API_KEY": ADMIN})
    srv.start()
    srv.expect_error(r"AOP00044: instance k1 refused its api key \(401\)")
    yield srv
    bad = srv.unexpected_errors()
    srv.stop()
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module", params=MPMS)
def plain(request, dep):
    yield from start(request, fleet([
        inst("a", dep.port, {"gpt-4o": '"a-4o"', "gpt-4o-mini": '"a-mini"'}, priority=1),
        inst("b", dep.port, {"gpt-4o": '"b-4o"', "gpt-4o-mini": '"b-mini"'}, priority=2),
        inst("k1", dep.port, {"m-x": '"k1-x"', "m-y": '"k1-y"'}, priority=1),
        inst("k2", dep.port, {"m-x": '"k2-x"', "m-y": '"k2-y"'}, priority=2)]))


@pytest.fixture(scope="module", params=MPMS)
def limited(request, dep):
    yield from start(request, fleet([
        inst("r", dep.port, {"m-rpm": "{ deployment: r-rpm, max_rpm: 12 }",
                             "m-free": '"r-free"'}),
        inst("t", dep.port, {"m-tpm": "{ deployment: t-tpm, max_tpm: 1100 }",
                             "m-tfree": '"t-free"'}),
        inst("p", dep.port, {"m-p": '"p-one"', "m-p2": '"p-two"'})]))


def get(srv, path):
    resp = request(srv, "GET", path)
    assert resp.status == 200, resp.body
    return resp.json()


def state(srv, name):
    """An instance's entry in /stats/instances."""
    found = [i for i in get(srv, "/stats/instances")["instances"] if i["name"] == name]
    assert len(found) == 1
    return found[0]


def admin(srv, method, path, body=None):
    return request(srv, method, path, body, headers={"X-Admin-API-Key": ADMIN})


def wait_closed(srv, name, model, timeout=8.0):
    """Waits out a deployment's rest, then closes its circuit with a probe that
    succeeds (a healthy request)."""
    deadline = time.time() + timeout
    while state(srv, name)["deployments"][model]["circuit"] == "open":
        assert time.time() < deadline, state(srv, name)
        time.sleep(0.1)
    assert chat(srv, model=model).status == 200
    assert state(srv, name)["deployments"][model]["circuit"] == "closed"


# ------------------------------------------------------------ cooldowns per deployment

@pytest.mark.parametrize("status,headers", [(503, {"Retry-After": "3"}),
                                            (429, {"Retry-After": "3"})])
def test_a_fault_on_one_deployment_leaves_the_instance_serving_its_other_models(
        plain, dep, status, headers):
    dep.client.rules([{"deployment": "a-4o", "status": status, "headers": headers,
                       "times": 1}])
    resp = chat(plain, model="gpt-4o")
    assert resp.status == 200, resp.body
    assert served_by(dep) == ["a-4o", "b-4o"]
    # a's gpt-4o-mini deployment was not touched: a serves it, no failover.
    for _ in range(3):
        assert chat(plain, model="gpt-4o-mini").status == 200
    assert served_by(dep)[2:] == ["a-mini"] * 3
    # ... while a's gpt-4o deployment rests: b serves gpt-4o.
    assert chat(plain, model="gpt-4o").status == 200
    assert served_by(dep)[-1] == "b-4o"
    a = state(plain, "a")
    assert a["deployments"]["gpt-4o"]["circuit"] == "open"
    assert a["deployments"]["gpt-4o"]["last_error"]["status"] == status
    assert a["deployments"]["gpt-4o-mini"]["circuit"] == "closed"
    assert a["health"]["circuit"] == "closed"        # the instance's own: its key is fine
    assert a["health"]["cooldown_until"] is not None  # the instance shows its resting deployment
    wait_closed(plain, "a", "gpt-4o")
    assert served_by(dep)[-1] == "a-4o"


def test_a_timeout_rests_the_deployment_alone(plain, dep):
    plain.expect_error(r"AH01102|AH01110|AH00898|AH01097|AH01095|timed out|error reading")
    dep.client.rules([{"deployment": "a-4o", "action": "reset", "times": 1}])
    assert chat(plain, model="gpt-4o").status == 200
    assert served_by(dep) == ["a-4o", "b-4o"]
    assert chat(plain, model="gpt-4o-mini").status == 200
    assert served_by(dep)[-1] == "a-mini"
    assert state(plain, "a")["deployments"]["gpt-4o"]["consecutive_failures"] == 1
    wait_closed(plain, "a", "gpt-4o")


def test_a_refused_key_still_rests_the_whole_instance(plain, dep):
    dep.client.rules([{"deployment": "k1-x", "status": 401, "times": 1}])
    assert chat(plain, model="m-x").status == 200
    # k1's other model goes to k2 too: the key is the instance's.
    assert chat(plain, model="m-y").status == 200
    assert served_by(dep) == ["k1-x", "k2-x", "k2-y"]
    k1 = state(plain, "k1")
    assert k1["health"]["status"] == "unhealthy"
    assert k1["health"]["circuit"] == "open"
    assert chat(plain, model="m-x").status == 200
    assert served_by(dep)[-1] == "k2-x"


# ------------------------------------------------------------ the circuit, per deployment

def test_circuit_opens_goes_half_open_extends_and_closes(plain, dep):
    # a's gpt-4o fails twice: open for 1 s (AOProxyCooldown), then half-open; its
    # probe fails, and it opens again for twice as long.
    dep.client.rules([{"deployment": "a-4o", "status": 500, "times": 2}])
    assert chat(plain, model="gpt-4o").status == 200
    d = state(plain, "a")["deployments"]["gpt-4o"]
    assert (d["circuit"], d["consecutive_failures"]) == ("open", 1)
    t0 = time.time()
    while state(plain, "a")["deployments"]["gpt-4o"]["circuit"] == "open":
        assert time.time() - t0 < 3
        time.sleep(0.05)
    assert state(plain, "a")["deployments"]["gpt-4o"]["circuit"] == "half_open"
    # The probe (a's 500) fails over to b, and a rests 2 s now.
    assert chat(plain, model="gpt-4o").status == 200
    assert served_by(dep)[-2:] == ["a-4o", "b-4o"]
    t1 = time.time()
    d = state(plain, "a")["deployments"]["gpt-4o"]
    assert (d["circuit"], d["consecutive_failures"]) == ("open", 2)
    while state(plain, "a")["deployments"]["gpt-4o"]["circuit"] == "open":
        time.sleep(0.05)
    assert time.time() - t1 >= 1.5, "a failed probe must rest the deployment longer"
    # gpt-4o-mini stayed closed throughout; the probe that succeeds closes gpt-4o.
    assert state(plain, "a")["deployments"]["gpt-4o-mini"]["circuit"] == "closed"
    wait_closed(plain, "a", "gpt-4o")
    assert served_by(dep)[-1] == "a-4o"


def test_a_half_open_deployment_takes_one_probe_at_a_time(plain, dep):
    dep.client.rules([{"deployment": "a-4o", "status": 503, "times": 1}])
    assert chat(plain, model="gpt-4o").status == 200
    while state(plain, "a")["deployments"]["gpt-4o"]["circuit"] == "open":
        time.sleep(0.05)
    dep.client.reset()
    # The probe is slow: while it is out, the others go to b.
    dep.client.rules([{"deployment": "a-4o", "delay_ms": 1500, "times": 1}])
    out = []
    threads = [threading.Thread(target=lambda: out.append(chat(plain, model="gpt-4o")))
               for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert [r.status for r in out] == [200] * 4
    assert sorted(served_by(dep)) == ["a-4o", "b-4o", "b-4o", "b-4o"]
    assert state(plain, "a")["deployments"]["gpt-4o"]["circuit"] == "closed"
    assert chat(plain, model="gpt-4o").status == 200
    assert served_by(dep)[-1] == "a-4o"


# ------------------------------------------------------------ per-deployment limits

def test_per_deployment_max_rpm_holds_across_processes(limited, dep):
    # max_rpm 12: 1 request a second, 2 in any ten seconds.  Requests in flight from
    # many connections for 3 s, each held 300 ms by the mock so that several
    # processes serve them.
    dep.client.rules([{"deployment": "r-rpm", "delay_ms": 300}])
    out, lock, stop_at = [], threading.Lock(), time.time() + 3.0

    def worker():
        while time.time() < stop_at:
            r = chat(limited, model="m-rpm")
            with lock:
                out.append(r)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in out if r.status == 200]
    limited_ = [r for r in out if r.status == 429]
    assert len(ok) + len(limited_) == len(out)
    seen = dep.client.stats()["by_deployment"].get("r-rpm", 0)
    assert 1 <= len(ok) == seen <= 2, (len(ok), seen, len(out))
    assert len(limited_) >= 8
    for r in limited_[:5]:
        assert_openai_error(r, 429, code="rate_limit_exceeded")
        assert 1 <= int(r.header("Retry-After")) <= 10
    assert len(pids_used(limited)) >= 2
    # The instance's other model has no limit of its own: served, no 429.
    assert chat(limited, model="m-free").status == 200
    r = state(limited, "r")["deployments"]["m-rpm"]
    assert r["rpm"]["max_rpm"] == 12 and r["rpm"]["last_10_seconds"] <= 2


def test_per_deployment_max_tpm(limited, dep):
    # Each request uses 101 tokens (400 characters, 1 completion token) and reserves
    # about 108: ten fit t-tpm's 1100 tokens a minute, the eleventh does not.
    statuses = [chat(limited, model="m-tpm", content="x" * 400).status for _ in range(13)]
    assert statuses == [200] * 10 + [429] * 3, statuses
    assert dep.client.stats()["by_deployment"]["t-tpm"] == 10
    resp = chat(limited, model="m-tpm", content="x" * 400)
    assert_openai_error(resp, 429, code="rate_limit_exceeded")
    assert 1 <= int(resp.header("Retry-After")) <= 61
    # The same instance's other deployment is not limited.
    assert chat(limited, model="m-tfree", content="x" * 400).status == 200
    assert served_by(dep)[-1] == "t-free"
    t = state(limited, "t")["deployments"]["m-tpm"]
    assert t["tpm"]["max_tpm"] == 1100 and t["tpm"]["used"] == 1010


def test_object_form_in_the_api_and_its_persistence(limited, dep):
    got = get(limited, "/instances/config/r")
    # Shown as written: the object where there is a limit, the plain name elsewhere.
    assert got["model_deployments"] == {"m-rpm": {"deployment": "r-rpm", "max_rpm": 12},
                                        "m-free": "r-free"}
    bad = admin(limited, "PATCH", "/instances/p", {"model_deployments": {
        "m-p": {"deployment": "p-one", "max_rpm": -1}, "m-p2": "p-two"}})
    assert_openai_error(bad, 400)
    assert b"model_deployments.m-p.max_rpm" in bad.body
    resp = admin(limited, "PATCH", "/instances/p", {"model_deployments": {
        "m-p": {"deployment": "p-one", "max_rpm": 6}, "m-p2": "p-two"}, "max_rpm": 600})
    assert resp.status == 200, resp.body
    want = {"m-p": {"deployment": "p-one", "max_rpm": 6}, "m-p2": "p-two"}
    assert get(limited, "/instances/config/p")["model_deployments"] == want
    assert get(limited, "/instances/config/p")["max_rpm"] == 600
    # max_rpm 6: one request in ten seconds.
    assert [chat(limited, model="m-p").status for _ in range(3)] == [200, 429, 429]
    assert chat(limited, model="m-p2").status == 200
    # Kept in the store: a restart serves the same.
    limited.stop()
    limited.start()
    assert get(limited, "/instances/config/p")["model_deployments"] == want
    # Back to the plain form: shown as before, no limit.
    resp = admin(limited, "PATCH", "/instances/p", {"model_deployments": {
        "m-p": "p-one", "m-p2": "p-two"}, "max_rpm": 0})
    assert resp.status == 200, resp.body
    assert get(limited, "/instances/config/p")["model_deployments"] == {"m-p": "p-one",
                                                                 "m-p2": "p-two"}
    assert chat(limited, model="m-p").status == 200
