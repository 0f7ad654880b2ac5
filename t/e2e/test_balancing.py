# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Strategies, shared TPM budgets, cooldowns and health, across Apache's processes.

Several instances live on one mock, each with its own deployment, so the mock's
record says exactly which instance served each request and in what order.

Why the distribution tests cannot flake: every pick happens under the module's
global mutex in shared memory, so N concurrent requests make N serialized picks
whatever process serves them; smooth weighted round-robin and the shared rotation
cursor are deterministic over those picks.  The counts are therefore exact (the
tolerance is zero), only which request got which instance varies.
"""

import json
import re
import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock

KEY = "key-bal-7d3f0e1a2b"


def instance(name, port, models, priority=100, weight=100, max_tpm=0, key=KEY,
             deployment=None):
    deployments = ", ".join('%s: "%s"' % (m, deployment or "dep-" + name) for m in models)
    return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    priority: {priority}
    weight: {weight}
    max_tpm: {max_tpm}
    supported_models: [{models}]
    model_deployments: {{ {deployments} }}
""".format(name=name, key=key, port=port, priority=priority, weight=weight,
           max_tpm=max_tpm, models=", ".join('"%s"' % m for m in models),
           deployments=deployments)


def fleet_yaml(strategy, instances, retries=3):
    return 'routing: {{ strategy: "{}", retries: {}, timeout: 20 }}\ninstances:\n{}'.format(
        strategy, retries, "".join(instances))


@pytest.fixture(scope="module")
def bal():
    mock = start_mock(name="bal", api_key=KEY,
                      deployments={"dep-a": "gpt-4o", "dep-b": "gpt-4o", "dep-c": "gpt-4o",
                                    "dep-d": "gpt-4o", "dep-tpm": "gpt-4o"})
    yield mock
    mock.stop()


@pytest.fixture(autouse=True)
def reset_bal(bal):
    bal.client.reset()
    yield


@pytest.fixture
def started():
    servers = []

    def start(mpm, yaml_text, **kw):
        srv = make_server(mpm, yaml_text, **kw)
        srv.start()
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def chat(srv, content="hello", model="gpt-4o", headers=None, **extra):
    body = dict({"model": model, "messages": [{"role": "user", "content": content}],
                 "max_tokens": 1}, **extra)
    return request(srv, "POST", "/v1/chat/completions", body, headers=headers)


def burst(srv, n, threads=24, **kw):
    """n requests from many connections at once; returns their responses.  With a
    backend delay (slow_backend), more requests are in flight than one event process
    has worker threads (16) and than one prefork child can take (1): the burst
    necessarily spreads over several processes."""
    out, lock, todo = [], threading.Lock(), list(range(n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            resp = chat(srv, **kw)
            with lock:
                out.append(resp)
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def slow_backend(mock, ms=30):
    mock.client.rules([{"delay_ms": ms}])


def held_connections(srv, n, **kw):
    """n requests, each on its own connection kept open until all are done: under
    prefork every one is served by a different child."""
    import http.client
    conns, statuses = [], []
    body = json.dumps(dict({"model": "gpt-4o", "max_tokens": 1,
                            "messages": [{"role": "user", "content": kw.pop("content", "hi")}]},
                           **kw)).encode()
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
        conns.append(conn)
    for conn in conns:
        conn.close()
    return statuses


def served_by(mock):
    return [r["deployment"] for r in mock.client.requests()]


def pids_used(srv, at_least=2, wait=3.0):
    """The processes that served requests, from the access log, which httpd writes
    just after each response: wait (briefly) until at_least of them show."""
    deadline = time.time() + wait
    while True:
        pids = set(re.findall(r"pid=(\d+)", srv.read_log(srv.access_log)))
        if len(pids) >= at_least or time.time() > deadline:
            return pids
        time.sleep(0.05)


@pytest.mark.parametrize("mpm", MPMS)
def test_weighted_shares_exactly_by_weight(mpm, bal, started):
    srv = started(mpm, fleet_yaml("weighted", [
        instance("a", bal.port, ["gpt-4o"], weight=3),
        instance("b", bal.port, ["gpt-4o"], weight=1)]))
    slow_backend(bal)
    resps = burst(srv, 400)
    assert all(r.status == 200 for r in resps)
    seen = served_by(bal)
    assert seen.count("dep-a") == 300 and seen.count("dep-b") == 100
    assert len(pids_used(srv)) >= 2, "the burst should have spread over processes"


@pytest.mark.parametrize("mpm", MPMS)
def test_round_robin_rotates_strictly_across_processes(mpm, bal, started):
    srv = started(mpm, fleet_yaml("round_robin", [
        instance("a", bal.port, ["gpt-4o"], weight=5),
        instance("b", bal.port, ["gpt-4o"]),
        instance("c", bal.port, ["gpt-4o"])]))
    # One request at a time, each on a new connection (so on varying processes):
    # the shared cursor makes the order strict.
    for _ in range(30):
        assert chat(srv).status == 200
    seen = served_by(bal)
    first = seen[0]
    order = ["dep-a", "dep-b", "dep-c"]
    start = order.index(first)
    assert seen == [order[(start + i) % 3] for i in range(30)]
    slow_backend(bal)
    resps = burst(srv, 300)
    assert all(r.status == 200 for r in resps)
    seen = served_by(bal)[30:]
    assert [seen.count(d) for d in order] == [100, 100, 100]
    assert len(pids_used(srv)) >= 2


@pytest.mark.parametrize("mpm", MPMS)
def test_failover_prefers_lowest_priority_and_shares_ties_by_weight(mpm, bal, started):
    srv = started(mpm, fleet_yaml("failover", [
        instance("c", bal.port, ["gpt-4o"], priority=200),
        instance("a", bal.port, ["gpt-4o"], priority=10, weight=3),
        instance("b", bal.port, ["gpt-4o"], priority=10, weight=1)]))
    slow_backend(bal)
    resps = burst(srv, 200)
    assert all(r.status == 200 for r in resps)
    seen = served_by(bal)
    assert (seen.count("dep-a"), seen.count("dep-b"), seen.count("dep-c")) == (150, 50, 0)


@pytest.mark.parametrize("mpm", MPMS)
def test_tpm_budget_holds_under_concurrent_load(mpm, bal, started):
    # Each request: prompt 100 tokens (400 characters, the mock's chars/4), 1
    # completion token; the budget allows 6000 tokens a minute.
    budget = 6000
    srv = started(mpm, fleet_yaml("failover", [
        instance("tpm", bal.port, ["gpt-4o"], max_tpm=budget, deployment="dep-tpm")]))
    slow_backend(bal)
    resps = burst(srv, 150, content="x" * 400)
    ok = [r for r in resps if r.status == 200]
    limited = [r for r in resps if r.status == 429]
    assert len(ok) + len(limited) == 150
    served = bal.client.stats()["tokens_served"]
    assert served <= budget, "the budget was overshot under concurrency"
    # Top up one request at a time: the window fills to within 5 % of the budget.
    for _ in range(80):
        if chat(srv, content="x" * 400).status == 429:
            break
    served = bal.client.stats()["tokens_served"]
    assert budget * 0.95 <= served <= budget, served
    for r in limited[:5]:
        err = assert_openai_error(r, 429, code="rate_limit_exceeded")
        assert err["type"] == "rate_limit_error"
        assert 1 <= int(r.header("Retry-After")) <= 61
    assert len(pids_used(srv)) >= 2


def test_tpm_budget_is_shared_by_every_prefork_child(bal, started):
    srv = started("prefork", fleet_yaml("failover", [
        instance("tpm", bal.port, ["gpt-4o"], max_tpm=1100, deployment="dep-tpm")]))
    # One request at a time, each on a connection that stays open, so each is served
    # by another child; exactly 10 fit the budget wherever they land: each really
    # uses 101 tokens (the window then holds 1010) and reserves about 108 while in
    # flight (an eleventh would need 1118).
    statuses = held_connections(srv, 14, content="x" * 400)
    assert statuses == [200] * 10 + [429] * 4
    assert len(pids_used(srv, 10)) >= 10


@pytest.mark.parametrize("size", [10, 48 * 1024])
def test_failover_on_429_keeps_the_body_and_honours_the_cooldown(bal, started, size):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    bal.client.rules([{"deployment": "dep-a", "status": 429,
                       "headers": {"Retry-After": "2"}, "times": 1}])
    body = json.dumps({"model": "gpt-4o", "max_tokens": 1,
                       "messages": [{"role": "user", "content": "z" * size}]}).encode()
    resp = request(srv, "POST", "/v1/chat/completions", body)
    assert resp.status == 200, resp.body
    recs = bal.client.requests()
    assert [r["deployment"] for r in recs] == ["dep-a", "dep-b"]
    assert recs[0]["body"].encode() == body and recs[1]["body"].encode() == body
    # a rests for 2 s: the next requests go straight to b ...
    assert chat(srv).status == 200
    assert served_by(bal)[-1] == "dep-b"
    time.sleep(2.3)
    # ... and then a is back.
    assert chat(srv).status == 200
    assert served_by(bal)[-1] == "dep-a"


def test_a_new_cooldown_never_shortens_a_running_one(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    # Two requests reach a together; the first 429 says 5 s, the later one 1 s.
    bal.client.rules([
        {"deployment": "dep-a", "status": 429, "delay_ms": 300,
         "headers": {"Retry-After": "5"}, "times": 1},
        {"deployment": "dep-a", "status": 429, "delay_ms": 900,
         "headers": {"retry-after-ms": "1000"}, "times": 1}])
    t0 = time.time()
    resps = burst(srv, 2, threads=2)
    assert [r.status for r in resps] == [200, 200]
    assert sorted(served_by(bal)) == ["dep-a", "dep-a", "dep-b", "dep-b"]
    time.sleep(max(0, t0 + 3.0 - time.time()))
    assert chat(srv).status == 200
    assert served_by(bal)[-1] == "dep-b", "the 1 s cooldown must not cut the 5 s one"
    time.sleep(max(0, t0 + 6.0 - time.time()))
    assert chat(srv).status == 200
    assert served_by(bal)[-1] == "dep-a"


def test_everything_rate_limited_gives_429_with_retry_after(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    bal.client.rules([{"status": 429, "headers": {"Retry-After": "3"}, "times": 2}])
    resp = chat(srv)
    assert_openai_error(resp, 429, code="rate_limit_exceeded")
    assert resp.header("Retry-After") in ("3", "4")
    assert len(bal.client.requests()) == 2
    # Both rest now: the next request is answered at once, without touching Azure.
    resp = chat(srv)
    assert_openai_error(resp, 429, code="rate_limit_exceeded")
    assert 1 <= int(resp.header("Retry-After")) <= 3
    assert len(bal.client.requests()) == 2


def test_5xx_fails_over_and_400_is_relayed(bal, started):
    srv = started("prefork", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    bal.client.rules([{"deployment": "dep-a", "status": 503, "times": 1}])
    assert chat(srv).status == 200
    assert served_by(bal) == ["dep-a", "dep-b"]
    bal.client.reset()
    filtered = {"error": {"code": "content_filter", "message": "The response was filtered",
                          "param": "prompt", "status": 400}}
    bal.client.rules([{"status": 400, "body": filtered, "times": 1}])
    resp = chat(srv)
    assert resp.status == 400
    assert resp.json() == filtered, "Azure's 400 reaches the client unchanged"
    assert len(bal.client.requests()) == 1, "a 400 is the client's: no failover"


@pytest.mark.parametrize("mpm", MPMS)
def test_a_request_failing_everywhere_names_each_instance_in_the_log(mpm, bal, started):
    from harness import closed_port
    srv = started(mpm, fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", closed_port(), ["gpt-4o"], priority=2),
        instance("c", bal.port, ["gpt-4o"], priority=3)]))
    srv.expect_error(r"AOP00041|AH00957|AH01114|AH00959|AH01102|AH00898|AH01097|AH02609|"
                     r"refused")
    bal.client.rules([{"deployment": "dep-a", "status": 500, "times": 1},
                      {"deployment": "dep-c", "status": 503, "times": 1}])
    assert_openai_error(chat(srv), 503, code="upstream_error")
    assert served_by(bal) == ["dep-a", "dep-c"]
    lines = [l for l in srv.read_log().splitlines() if "AOP00041" in l]
    assert len(lines) == 1 and "[aoproxy:error]" in lines[0], lines
    assert "request for model gpt-4o failed with 503 after 3 attempt(s): tried a (500), " \
           "b (refused), c (503)" in lines[0], lines[0]
    assert KEY not in srv.read_log()


def test_refused_key_marks_the_instance_unhealthy(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("badkey", bal.port, ["gpt-4o"], priority=1, key="wrong-key-000"),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    srv.expect_error(r"AOP00044: instance badkey refused its api key \(401\)")
    assert chat(srv).status == 200
    assert chat(srv).status == 200
    assert served_by(bal) == ["dep-badkey", "dep-b", "dep-b"]
    assert "wrong-key-000" not in srv.read_log()


def test_deployment_not_found_marks_that_model_only(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o", "gpt-4o-mini"], priority=1),
        instance("b", bal.port, ["gpt-4o-mini"], priority=2)]).replace(
            'gpt-4o-mini: "dep-a"', 'gpt-4o-mini: "no-such-deployment"'))
    assert chat(srv, model="gpt-4o-mini").status == 200
    assert chat(srv, model="gpt-4o-mini").status == 200
    assert served_by(bal) == ["no-such-deployment", "dep-b", "dep-b"]
    # a still serves gpt-4o.
    assert chat(srv, model="gpt-4o").status == 200
    assert served_by(bal)[-1] == "dep-a"


@pytest.mark.parametrize("mpm", MPMS)
def test_streamed_usage_is_counted_exactly(mpm, bal, started):
    # As in the prefork test above: 101 tokens a request by Azure's usage, so 10 fit
    # a 1100-token budget.  Counted from an estimate instead (prompt 107 + text 4),
    # only 9 would: the 10th answer tells usage from estimate.
    srv = started(mpm, fleet_yaml("failover", [
        instance("tpm", bal.port, ["gpt-4o"], max_tpm=1100, deployment="dep-tpm")]))
    statuses = []
    for _ in range(11):
        resp = chat(srv, content="x" * 400, stream=True)
        statuses.append(resp.status)
        if resp.status == 200:
            assert resp.body.rstrip().endswith(b"data: [DONE]")
            assert b'"usage"' not in resp.body, "the client did not ask for usage"
    assert statuses == [200] * 10 + [429]
    recs = bal.client.requests()
    assert all(r["json"]["stream_options"] == {"include_usage": True} for r in recs)


def raw_stream(srv, payload, timeout=30):
    """Reads a streamed answer on a raw socket until the server closes it."""
    import socket
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    body = json.dumps(payload).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    return data


@pytest.mark.parametrize("mpm", MPMS)
def test_a_broken_stream_ends_with_an_error_event(mpm, bal, started):
    srv = started(mpm, fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    srv.expect_error(r"AH01102|AH01110|AH00898|AH01097|AH02609|error reading")
    bal.client.rules([{"deployment": "dep-a", "action": "cut_stream", "cut_after": 3,
                       "times": 1}])
    data = raw_stream(srv, {"model": "gpt-4o", "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]})
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    events = [l[6:] for l in body.decode(errors="replace").split("\n")
              if l.startswith("data: ")]
    assert len(events) >= 2
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_interrupted"
    assert last["error"]["type"] == "server_error"
    assert "[DONE]" not in events
    # Bytes had reached the client: no failover to b.
    assert served_by(bal) == ["dep-a"]


def test_a_timeout_fails_over(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]).replace("timeout: 20", "timeout: 1"))
    srv.expect_error(r"AH01102|AH01095|AH00898|AH01097|timed out|Timeout")
    bal.client.rules([{"deployment": "dep-a", "action": "hang", "hang_ms": 4000, "times": 1}])
    t0 = time.time()
    resp = chat(srv)
    assert resp.status == 200, resp.body
    assert served_by(bal) == ["dep-a", "dep-b"]
    assert time.time() - t0 < 3.5


def test_azure_remaining_tokens_steer_traffic_away(bal, started):
    srv = started("event", fleet_yaml("failover", [
        instance("a", bal.port, ["gpt-4o"], priority=1),
        instance("b", bal.port, ["gpt-4o"], priority=2)]))
    # a says it has 5 tokens left for this minute (Azure counts what other gateways
    # spend too): the next requests (about 10 tokens each) go to b, though a's own
    # budget here is unlimited.
    bal.client.rules([{"deployment": "dep-a", "headers": {"x-ratelimit-remaining-tokens": "5"},
                       "times": 1}])
    assert chat(srv).status == 200
    assert chat(srv).status == 200
    assert chat(srv).status == 200
    assert served_by(bal) == ["dep-a", "dep-b", "dep-b"]


@pytest.mark.parametrize("mpm", MPMS)
def test_a_graceful_restart_keeps_spent_budgets(mpm, bal, started):
    srv = started(mpm, fleet_yaml("failover", [
        instance("tpm", bal.port, ["gpt-4o"], max_tpm=1100, deployment="dep-tpm")]))
    statuses = [chat(srv, content="x" * 400).status for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    srv.graceful()
    resp = chat(srv, content="x" * 400)
    assert resp.status == 429, "the window must survive a graceful restart"
    assert len(bal.client.requests()) == 10
