# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""What a failing instance costs (issue 12, items 3 and 4).

A timeout, a reset, a refused connection or an answer that breaks off is an error of
the instance: it counts by kind in /stats (timeout, reset, connection, truncated), the
instance rests like after a 5xx (AOProxyCooldown), and once the cooldown is over it
takes one request at a time (a probe) until one succeeds.  An answer that breaks off
before any of it reached the client (the proxy holds a JSON answer until it is whole,
a stream until its first byte) fails over as if it never came.

Every instance lives on one mock with its own deployment, so the mock's record says
which instance served each request, in order.
"""

import json
import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import chat, fleet_yaml, instance, raw_stream, served_by

KEY = "key-bal-7d3f0e1a2b"
# mod_proxy_http's own lines when a backend breaks off, resets or times out.
PROXY_ERRORS = (r"AH01102|AH01110|AH00898|AH01097|AH01095|AH02609|AH00957|AH00959|AH01114"
                r"|error reading|timed out")


@pytest.fixture(scope="module")
def flt():
    mock = start_mock(name="flt", api_key=KEY,
                      deployments={"dep-a": "gpt-4o", "dep-b": "gpt-4o", "dep-c": "gpt-4o"})
    yield mock
    mock.stop()


@pytest.fixture(autouse=True)
def reset_flt(flt):
    flt.client.reset()
    yield


@pytest.fixture
def started():
    servers = []

    def start(mpm, yaml_text, cooldown=None):
        extra = "AOProxyMaxBodySize 262144"
        if cooldown is not None:
            extra += "\nAOProxyCooldown %s" % cooldown
        srv = make_server(mpm, yaml_text, extra_conf=extra)
        srv.start()
        srv.expect_error(PROXY_ERRORS)
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def a_then_b(flt, timeout=20, strategy="failover"):
    """a preferred, b behind it; a timeout in seconds."""
    return fleet_yaml(strategy, [instance("a", flt.port, ["gpt-4o"], priority=1),
                                 instance("b", flt.port, ["gpt-4o"], priority=2)]
                      ).replace("timeout: 20", "timeout: %s" % timeout)


def get(srv, path):
    resp = request(srv, "GET", path)
    assert resp.status == 200, resp.body
    return resp.json()


def by_kind(srv, name=None):
    """An instance's error counts by kind (its attempts), or the overall ones."""
    if name:
        return get(srv, "/instances/" + name)["stats"]["errors"]["by_kind"]
    return get(srv, "/stats")["total"]["errors"]["by_kind"]


def resting(srv, name):
    return get(srv, "/instances/" + name)["health"]["cooldown_until"] is not None


def content_of(resp):
    return resp.json()["choices"][0]["message"]["content"]


def stream_events(data):
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return head, [l[6:] for l in body.decode(errors="replace").split("\n")
                  if l.startswith("data: ")]


STREAM = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


# ------------------------------------------------------------ answers broken off

@pytest.mark.parametrize("mpm", MPMS)
def test_a_truncated_answer_fails_over_unseen_and_rests_the_instance(mpm, flt, started):
    srv = started(mpm, a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "action": "truncate", "truncate_after": 60,
                       "times": 1}])
    resp = chat(srv)
    # The client gets b's whole answer, never a's half (a promised more bytes).
    assert resp.status == 200, resp.body
    assert content_of(resp) == "mock:flt:dep-b"
    assert resting(srv, "a")
    assert chat(srv).status == 200
    assert served_by(flt) == ["dep-a", "dep-b", "dep-b"]
    assert by_kind(srv, "a")["truncated"] == 1
    total = get(srv, "/stats")["total"]
    assert (total["requests"], total["successes"], total["failovers"]) == (2, 2, 1)


def test_a_truncated_answer_with_nowhere_else_to_go_is_an_openai_502(flt, started):
    srv = started("event", fleet_yaml("failover", [instance("a", flt.port, ["gpt-4o"])]))
    srv.expect_error(r"AOP00041")
    flt.client.rules([{"deployment": "dep-a", "action": "truncate", "times": 1}])
    resp = chat(srv)
    assert_openai_error(resp, 502, code="upstream_unavailable")
    assert by_kind(srv, "a")["truncated"] == 1
    total = get(srv, "/stats")["total"]
    assert (total["requests"], total["successes"]) == (1, 0)


def test_past_the_hold_limit_a_truncated_answer_reaches_the_client_and_counts(flt, started):
    """Answers over 4 MB (AOP_HOLD_MAX) are not held whole: one cut after that point
    reaches the client cut, and counts as truncated, and the instance rests."""
    import http.client
    srv = started("event", a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "content_bytes": 6 * 1024 * 1024,
                       "action": "truncate", "truncate_after": 5 * 1024 * 1024,
                       "times": 1}])
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"model": "gpt-4o", "messages": [{"role": "user",
                                                                   "content": "big"}]}))
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()
    assert served_by(flt) == ["dep-a"]
    assert by_kind(srv)["truncated"] == 1 and by_kind(srv, "a")["truncated"] == 1
    assert resting(srv, "a")


def test_a_body_that_stalls_past_the_timeout_fails_over(flt, started):
    srv = started("event", a_then_b(flt, timeout=1))
    flt.client.rules([{"deployment": "dep-a", "action": "stall", "stall_after": 30,
                       "hang_ms": 6000, "times": 1}])
    t0 = time.time()
    resp = chat(srv)
    assert resp.status == 200 and content_of(resp) == "mock:flt:dep-b"
    assert time.time() - t0 < 4
    assert by_kind(srv, "a")["truncated"] == 1 and resting(srv, "a")


def test_a_stream_closed_before_its_first_event_fails_over(flt, started):
    srv = started("event", a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "action": "truncate", "truncate_after": 0,
                       "stream": True, "times": 1}])
    _, events = stream_events(raw_stream(srv, STREAM))
    assert events[-1] == "[DONE]"
    assert "mock:flt:dep-b" in "".join(json.loads(e)["choices"][0]["delta"].get("content", "")
                                       for e in events[2:-1] if json.loads(e)["choices"])
    assert served_by(flt) == ["dep-a", "dep-b"]
    assert by_kind(srv, "a")["truncated"] == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_a_cut_stream_is_an_error_of_kind_truncated(mpm, flt, started):
    srv = started(mpm, a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "action": "cut_stream", "cut_after": 3,
                       "times": 1}])
    _, events = stream_events(raw_stream(srv, STREAM))
    assert json.loads(events[-1])["error"]["code"] == "stream_interrupted"
    total = get(srv, "/stats")["total"]
    assert (total["requests"], total["successes"]) == (1, 0)
    assert total["errors"]["by_kind"]["truncated"] == 1
    assert total["errors"]["by_class"]["other"] == 1
    assert by_kind(srv, "a")["truncated"] == 1
    # a rests: the next stream goes to b, whole.
    assert resting(srv, "a")
    _, events = stream_events(raw_stream(srv, STREAM))
    assert events[-1] == "[DONE]"
    assert served_by(flt) == ["dep-a", "dep-b"]


def test_a_stream_that_ends_without_done_is_truncated(flt, started):
    srv = started("event", a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "done": False, "times": 1}])
    _, events = stream_events(raw_stream(srv, STREAM))
    # Its HTTP end was clean, but the stream never said it was done.
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "stream_interrupted"
    assert by_kind(srv)["truncated"] == 1
    assert resting(srv, "a")


def test_a_stream_that_stalls_past_the_timeout_is_truncated(flt, started):
    srv = started("event", a_then_b(flt, timeout=1))
    flt.client.rules([{"deployment": "dep-a", "action": "stall", "stall_after": 3,
                       "hang_ms": 6000, "times": 1}])
    t0 = time.time()
    _, events = stream_events(raw_stream(srv, STREAM))
    assert time.time() - t0 < 4
    assert json.loads(events[-1])["error"]["code"] == "stream_interrupted"
    assert by_kind(srv)["truncated"] == 1 and by_kind(srv, "a")["truncated"] == 1


# ------------------------------------------------------ no answer at all

@pytest.mark.parametrize("action", ["reset", "close"])
def test_a_reset_rests_the_instance(flt, started, action):
    srv = started("event", a_then_b(flt))
    flt.client.rules([{"deployment": "dep-a", "action": action, "times": 1}])
    assert chat(srv).status == 200
    assert resting(srv, "a")
    # a would answer now, but it rests: b serves.
    assert chat(srv).status == 200
    assert served_by(flt) == ["dep-a", "dep-b", "dep-b"]
    kinds = by_kind(srv, "a")
    assert kinds["reset"] == 1 and kinds["connection"] == 0
    assert get(srv, "/instances/a")["stats"]["cooldowns"] == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_a_reset_on_a_kept_alive_client_connection_fails_over(mpm, flt, started):
    """mod_proxy_http closes a keep-alive client's connection without an answer when
    the backend resets (so that the client may retry): the client would see its
    connection die.  It gets b's answer on the same connection instead."""
    import http.client
    srv = started(mpm, a_then_b(flt))
    body = json.dumps({"model": "gpt-4o", "max_tokens": 1,
                       "messages": [{"role": "user", "content": "hi"}]})
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    hdrs = {"Content-Type": "application/json"}
    conn.request("POST", "/v1/chat/completions", body=body, headers=hdrs)
    first = conn.getresponse()
    assert first.status == 200 and b"dep-a" in first.read()
    flt.client.rules([{"deployment": "dep-a", "action": "reset", "times": 1}])
    conn.request("POST", "/v1/chat/completions", body=body, headers=hdrs)
    second = conn.getresponse()
    assert second.status == 200 and b"mock:flt:dep-b" in second.read()
    conn.close()
    assert served_by(flt) == ["dep-a", "dep-a", "dep-b"]
    assert by_kind(srv, "a")["reset"] == 1 and resting(srv, "a")


def test_a_timeout_rests_the_instance(flt, started):
    srv = started("event", a_then_b(flt, timeout=1))
    flt.client.rules([{"deployment": "dep-a", "action": "hang", "hang_ms": 4000, "times": 1}])
    assert chat(srv).status == 200
    assert chat(srv).status == 200
    assert served_by(flt) == ["dep-a", "dep-b", "dep-b"]
    assert by_kind(srv, "a")["timeout"] == 1 and resting(srv, "a")


def test_a_refused_instance_is_left_out(flt, started):
    from harness import closed_port
    srv = started("event", fleet_yaml("failover", [
        instance("dead", closed_port(), ["gpt-4o"], priority=1),
        instance("b", flt.port, ["gpt-4o"], priority=2)]))
    statuses = [chat(srv).status for _ in range(6)]
    assert statuses == [200] * 6
    # One attempt found it refusing; mod_proxy's retry interval (AOProxyRetryInterval,
    # 60 s) keeps it out of every later pick.
    state = get(srv, "/instances/dead")
    assert state["stats"]["requests"] == 1
    assert state["stats"]["errors"]["by_kind"]["connection"] == 1
    assert state["health"]["status"] == "unhealthy"
    assert state["health"]["consecutive_failures"] == 1


# ------------------------------------------------------ the probe after a cooldown

def burst(srv, n):
    out, threads = [], []
    lock = threading.Lock()

    def one():
        resp = chat(srv)
        with lock:
            out.append(resp.status)
    for _ in range(n):
        threads.append(threading.Thread(target=one))
        threads[-1].start()
    for t in threads:
        t.join()
    return out


@pytest.mark.parametrize("mpm", MPMS)
def test_after_its_cooldown_a_failed_instance_gets_one_probe_at_a_time(mpm, flt, started):
    srv = started(mpm, fleet_yaml("round_robin", [
        instance("a", flt.port, ["gpt-4o"]), instance("b", flt.port, ["gpt-4o"])]
    ).replace("timeout: 20", "timeout: 2"), cooldown=1)
    flt.client.rules([{"deployment": "dep-a", "action": "hang", "hang_ms": 8000}])
    statuses = burst(srv, 2)        # one of them goes to a, hangs, fails over
    assert statuses == [200, 200]
    assert served_by(flt).count("dep-a") == 1
    time.sleep(1.3)                 # the cooldown is over: a is half-open
    flt.client.reset()
    flt.client.rules([{"deployment": "dep-a", "action": "hang", "hang_ms": 8000}])
    statuses = burst(srv, 8)
    assert statuses == [200] * 8
    # Round robin would have sent a four of them; the probe is the only one.
    assert served_by(flt).count("dep-a") == 1
    assert resting(srv, "a")        # the probe failed: a rests again
    # When a answers again, its probe closes the circuit.
    flt.client.clear_rules()
    time.sleep(1.3)
    deadline = time.time() + 10
    while get(srv, "/instances/a")["health"]["consecutive_failures"] and time.time() < deadline:
        assert chat(srv).status == 200
    assert get(srv, "/instances/a")["health"]["consecutive_failures"] == 0
    flt.client.reset()
    assert burst(srv, 8) == [200] * 8
    assert served_by(flt).count("dep-a") == 4


def test_a_lone_half_open_instance_still_takes_every_request(flt, started):
    """With nothing else to go to, the probe does not hold the others back: they go
    too, rather than get a 429 for as long as the probe runs."""
    srv = started("event", fleet_yaml("failover", [instance("a", flt.port, ["gpt-4o"])]),
                  cooldown=1)
    srv.expect_error(r"AOP00041")
    flt.client.rules([{"deployment": "dep-a", "status": 500, "times": 1}])
    assert chat(srv).status == 502              # the only instance failed
    time.sleep(1.2)                             # the cooldown is over: half-open
    flt.client.rules([{"deployment": "dep-a", "delay_ms": 600}])
    assert burst(srv, 4) == [200] * 4
    assert get(srv, "/instances/a")["health"]["consecutive_failures"] == 0
