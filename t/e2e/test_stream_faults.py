# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""A stream whose instance misbehaves (issue 15, items 2, 3 and 4).

* routing.first_token_timeout: a stream's headers are held until its first event; one
  that does not come in time is a failed attempt (a timeout: the instance rests) and
  the request fails over, the client gets one whole stream from the next instance, or
  with nothing left an OpenAI error.  first_token_timeout_by_model overrides it.
* routing.stream_idle_timeout: a stream that goes silent once the client has bytes is
  cut after that long with the in-band error event, never a [DONE]; counted as a
  timeout of the instance.
* A reset before the status line on a kept-alive client connection fails over (or
  answers an OpenAI error) on that connection: it is never closed without an answer.

The Responses API's streams (no [DONE]: they end with response.completed) behave the
same.  One mock holds every deployment, so its record says which instance served.
Each test ends with a healthy request through the same server.
"""

import http.client
import json
import socket
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock

KEY = "key-stream-5b1c9e"
FIRST_TOKEN = 1        # routing.first_token_timeout, seconds
IDLE = 1               # routing.stream_idle_timeout
PATIENT = 6            # first_token_timeout_by_model.patient
# mod_proxy_http's lines when a backend breaks off, resets or a read times out, and
# ours when nothing is left.
EXPECTED = (r"AH01102|AH01110|AH00898|AH01097|AH01095|AH02609|AH01104|error reading"
            r"|timed out|AOP00041")

DEPLOYMENTS = {"dep-a": "gpt-4o", "dep-b": "gpt-4o", "dep-solo": "solo",
               "dep-pa": "patient", "dep-pb": "patient"}


def fleet_yaml(port):
    def inst(name, priority, deps):
        return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    priority: {priority}
    supported_models: [{models}]
    model_deployments: {{ {deps} }}
""".format(name=name, key=KEY, port=port, priority=priority,
           models=", ".join('"%s"' % m for m in deps),
           deps=", ".join('"%s": "%s"' % kv for kv in deps.items()))
    return ("routing:\n  strategy: failover\n  retries: 3\n  timeout: 20\n"
            "  first_token_timeout: %d\n  stream_idle_timeout: %d\n"
            "  first_token_timeout_by_model: { patient: %d }\ninstances:\n"
            % (FIRST_TOKEN, IDLE, PATIENT)
            + inst("a", 1, {"gpt-4o": "dep-a", "solo": "dep-solo", "patient": "dep-pa"})
            + inst("b", 2, {"gpt-4o": "dep-b", "patient": "dep-pb"}))


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="sf", api_key=KEY, deployments=DEPLOYMENTS)
    yield m
    m.stop()


@pytest.fixture(scope="module", params=MPMS)
def srv(request, mock):
    s = make_server(request.param, fleet_yaml(mock.port),
                    extra_conf="AOProxyMaxBodySize 262144\nAOProxyCooldown 1")
    s.start()
    yield s
    s.stop()


def get(srv, path):
    resp = request(srv, "GET", path)
    assert resp.status == 200, resp.body
    return resp.json()


def by_kind(srv, name=None):
    if name:
        return get(srv, "/instances/" + name)["stats"]["errors"]["by_kind"]
    return get(srv, "/stats")["total"]["errors"]["by_kind"]


def resting(srv, name):
    return get(srv, "/instances/" + name)["health"]["cooldown_until"] is not None


@pytest.fixture(autouse=True)
def settled(srv, mock):
    """Every test starts with no instance resting (AOProxyCooldown 1) and a clean
    mock, and leaves no error line it did not expect."""
    deadline = time.time() + 5
    while (resting(srv, "a") or resting(srv, "b")) and time.time() < deadline:
        time.sleep(0.1)
    mock.client.reset()
    srv.expect_error(EXPECTED)
    yield
    bad = srv.unexpected_errors()
    assert not bad, "\n".join(bad)


def served_by(mock):
    return [r["deployment"] for r in mock.client.requests()]


def timed_stream(srv, path, payload, timeout=30):
    """POSTs a streamed request on a raw socket and reads until the server closes:
    (head, [(seconds since the request, data line)], total seconds)."""
    body = json.dumps(payload).encode()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    t0 = time.time()
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(body))
                 + body)
    data, stamps = b"", []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        stamps.append((time.time() - t0, len(data)))
    total = time.time() - t0
    sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    offset = len(head) + 4
    events = []
    for line in rest.split(b"\n"):
        offset += len(line) + 1
        if line.startswith(b"data: "):
            at = next((t for t, n in stamps if n >= offset - 1), total)
            events.append((at, line[6:].decode(errors="replace").strip()))
    return head.decode(errors="replace"), events, total


def chat_stream(srv, model="gpt-4o"):
    return timed_stream(srv, "/v1/chat/completions", {
        "model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})


def responses_stream(srv, model="gpt-4o"):
    return timed_stream(srv, "/v1/responses", {"model": model, "stream": True,
                                               "input": "hi"})


def content(events):
    """The text of a chat stream's deltas."""
    out = ""
    for _, e in events:
        if e.startswith("{"):
            for c in json.loads(e).get("choices", []):
                out += (c.get("delta") or {}).get("content") or ""
    return out


def responses_types(events):
    return [json.loads(e).get("type") for _, e in events if e.startswith("{")]


def healthy(srv):
    """A plain request through the same server: it stayed well."""
    resp = request(srv, "POST", "/v1/chat/completions",
                   {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"].startswith("mock:sf:dep-")


# ------------------------------------------------------------ first token

def test_a_slow_first_token_fails_over_to_one_whole_stream(srv, mock):
    before = by_kind(srv, "a")["timeout"]
    mock.client.rules([{"deployment": "dep-a", "first_event_delay_ms": 4000, "times": 1}])
    head, events, total = chat_stream(srv)
    assert head.startswith("HTTP/1.1 200"), head
    # The client got b's stream alone, whole, once: nothing of a's.
    assert content(events) == "mock:sf:dep-b"
    assert events[-1][1] == "[DONE]"
    assert [e for _, e in events].count("[DONE]") == 1
    assert not any("error" in e for _, e in events)
    assert served_by(mock) == ["dep-a", "dep-b"]
    # About the limit, not a's 4 s first event nor routing.timeout's 20 s.
    assert FIRST_TOKEN * 0.9 <= total < FIRST_TOKEN + 1.5, total
    assert by_kind(srv, "a")["timeout"] == before + 1
    assert resting(srv, "a")
    healthy(srv)


def test_a_first_token_within_the_limit_is_served(srv, mock):
    mock.client.rules([{"deployment": "dep-a", "first_event_delay_ms": 400, "times": 1}])
    head, events, total = chat_stream(srv)
    assert head.startswith("HTTP/1.1 200"), head
    assert content(events) == "mock:sf:dep-a" and events[-1][1] == "[DONE]"
    assert served_by(mock) == ["dep-a"]
    assert not resting(srv, "a")
    healthy(srv)


def test_a_models_own_first_token_timeout_overrides_the_general_one(srv, mock):
    # 2.5 s is past the general limit but within patient's own.
    mock.client.rules([{"deployment": "dep-pa", "first_event_delay_ms": 2500, "times": 1}])
    head, events, total = chat_stream(srv, model="patient")
    assert head.startswith("HTTP/1.1 200"), head
    assert content(events) == "mock:sf:dep-pa" and events[-1][1] == "[DONE]"
    assert served_by(mock) == ["dep-pa"]
    assert total >= 2.5
    healthy(srv)


def test_a_slow_first_token_with_nowhere_else_to_go_is_an_openai_504(srv, mock):
    mock.client.rules([{"deployment": "dep-solo", "first_event_delay_ms": 4000, "times": 1}])
    t0 = time.time()
    resp = request(srv, "POST", "/v1/chat/completions",
                   {"model": "solo", "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]})
    assert time.time() - t0 < FIRST_TOKEN + 1.5
    assert_openai_error(resp, 504, code="upstream_unavailable")
    assert served_by(mock) == ["dep-solo"]
    healthy(srv)


def test_a_responses_stream_with_a_slow_first_event_fails_over(srv, mock):
    before = by_kind(srv, "a")["timeout"]
    mock.client.rules([{"deployment": "dep-a", "first_event_delay_ms": 4000, "times": 1}])
    head, events, total = responses_stream(srv)
    assert head.startswith("HTTP/1.1 200"), head
    types = responses_types(events)
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.created") == 1 and "error" not in types
    deltas = "".join(json.loads(e).get("delta", "") for _, e in events
                     if json.loads(e).get("type") == "response.output_text.delta")
    assert deltas == "mock:sf:dep-b"
    assert served_by(mock) == ["dep-a", "dep-b"]
    assert total < FIRST_TOKEN + 1.5, total
    assert by_kind(srv, "a")["timeout"] == before + 1
    healthy(srv)


# ------------------------------------------------------------ stalls

def assert_cut_after_idle(events, total):
    """The stream's last event is our error, about IDLE after the one before it."""
    last_at, last = events[-1]
    err = json.loads(last)["error"]
    assert err["code"] == "stream_interrupted" and err["type"] == "server_error"
    assert "[DONE]" not in [e for _, e in events]
    gap = last_at - events[-2][0]
    assert IDLE * 0.8 <= gap < IDLE + 1.5, gap
    assert total < IDLE + 2.5, total


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_stall_mid_stream_ends_with_the_error_event(srv, mock, api):
    a_before, all_before = by_kind(srv, "a")["timeout"], by_kind(srv)["timeout"]
    mock.client.rules([{"deployment": "dep-a", "action": "stall", "stall_after": 3,
                        "hang_ms": 15000, "times": 1}])
    head, events, total = (chat_stream if api == "chat" else responses_stream)(srv)
    assert head.startswith("HTTP/1.1 200"), head
    assert len(events) == 4, events          # the three sent, then ours
    assert_cut_after_idle(events, total)
    if api == "responses":
        assert "response.completed" not in responses_types(events[:-1])
    # Bytes had reached the client: no failover, and the stall counts as a timeout.
    assert served_by(mock) == ["dep-a"]
    assert by_kind(srv, "a")["timeout"] == a_before + 1
    assert by_kind(srv)["timeout"] == all_before + 1
    assert resting(srv, "a")
    healthy(srv)


def test_a_slow_but_steady_stream_is_not_cut(srv, mock):
    # Each event within the idle limit: the whole stream takes longer than it.
    mock.client.rules([{"deployment": "dep-a", "event_delay_ms": 600, "chunks": 3,
                        "times": 1}])
    head, events, total = chat_stream(srv)
    assert content(events) == "mock:sf:dep-a" and events[-1][1] == "[DONE]"
    assert total > IDLE * 2
    assert not resting(srv, "a")
    healthy(srv)


# ------------------------------------------------------------ keep-alive reset

def keepalive_post(conn, payload):
    conn.request("POST", "/v1/chat/completions", body=json.dumps(payload),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.read()


@pytest.mark.parametrize("stream", [False, True])
def test_a_reset_on_a_kept_alive_connection_fails_over_on_it(srv, mock, stream):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    plain = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert keepalive_post(conn, plain)[0] == 200
    mock.client.rules([{"deployment": "dep-a", "action": "reset", "times": 1}])
    status, body = keepalive_post(conn, dict(plain, stream=stream))
    assert status == 200, body
    if stream:
        events = [(0, l[6:].decode()) for l in body.split(b"\n") if l.startswith(b"data: ")]
        assert content(events) == "mock:sf:dep-b" and events[-1][1] == "[DONE]"
    else:
        assert json.loads(body)["choices"][0]["message"]["content"] == "mock:sf:dep-b"
    # The same connection still serves.
    assert keepalive_post(conn, plain)[0] == 200
    conn.close()
    assert served_by(mock) == ["dep-a", "dep-a", "dep-b", "dep-b"]
    assert resting(srv, "a")
    healthy(srv)


def test_a_reset_on_a_kept_alive_connection_with_nowhere_else_is_an_openai_error(srv, mock):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    solo = {"model": "solo", "messages": [{"role": "user", "content": "hi"}]}
    assert keepalive_post(conn, solo)[0] == 200
    mock.client.rules([{"deployment": "dep-solo", "action": "reset", "times": 1}])
    status, body = keepalive_post(conn, solo)
    assert status == 502, body
    assert json.loads(body)["error"]["code"] == "upstream_unavailable"
    # The connection was answered, not closed: it takes the next request.
    assert keepalive_post(conn, {"model": "gpt-4o",
                                 "messages": [{"role": "user", "content": "hi"}]})[0] == 200
    conn.close()
    healthy(srv)
