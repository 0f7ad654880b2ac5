# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""OpenAI calls become Azure calls for the chosen instance, on the real wire."""

import http.client
import json
import socket
import time

import pytest

from conftest import KEYS, MPMS, make_server, request, serving

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}],
        "temperature": 0.2, "max_tokens": 20}

CLIENT_SECRETS = {
    "Authorization": "Bearer sk-client-secret-should-not-leak",
    "api-key": "client-api-key-should-not-leak",
    "OpenAI-Organization": "org-should-not-leak",
    "OpenAI-Project": "proj-should-not-leak",
    "Cookie": "session=should-not-leak",
    # Any case: the module picks the names to compare by two of their bytes.
    "proxy-authorization": "Basic should-not-leak",
    "ACCEPT-ENCODING": "gzip",
}


def header_names(rec):
    return {k.lower() for k, _ in rec["headers"]}


def header(rec, name):
    for k, v in rec["headers"]:
        if k.lower() == name.lower():
            return v
    return None


def test_chat_is_translated_for_the_preferred_instance(server, fleet):
    body = json.dumps(CHAT).encode()
    resp = request(server, "POST", "/v1/chat/completions", body, headers=CLIENT_SECRETS)
    assert resp.status == 200, resp.body
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "mock:east:east-mini"
    assert data["usage"]["total_tokens"] > 0
    (rec,) = fleet.east.client.requests()
    assert fleet.west.client.requests() == []
    assert rec["method"] == "POST"
    assert rec["path"] == "/openai/deployments/east-mini/chat/completions"
    assert rec["params"] == {"api-version": "2024-08-01-preview"}
    assert rec["body"].encode() == body, "the body reaches Azure byte for byte"
    assert header(rec, "api-key") == KEYS["east"]
    assert header(rec, "content-length") == str(len(body))
    names = header_names(rec)
    for h in ("authorization", "openai-organization", "openai-project", "cookie",
              "proxy-authorization", "accept-encoding"):
        assert h not in names
    assert [v for k, v in rec["headers"] if k.lower() == "api-key"] == [KEYS["east"]]


def test_each_instance_gets_its_own_deployment_version_and_key(server, fleet):
    resp = request(server, "POST", "/v1/chat/completions",
                   dict(CHAT, model="gpt-4o-2024-11-20"))
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"] == "mock:west:west-nov"
    (rec,) = fleet.west.client.requests()
    assert rec["path"] == "/openai/deployments/west-nov/chat/completions"
    assert rec["params"] == {"api-version": "2024-10-21"}
    assert header(rec, "api-key") == KEYS["west"]
    assert fleet.east.client.requests() == []


def test_model_matching_is_exact(server, fleet):
    # gpt-4o is served by east only; gpt-4o-2024-11-20 by west only.
    assert request(server, "POST", "/v1/chat/completions", dict(CHAT, model="gpt-4o")) \
        .json()["choices"][0]["message"]["content"] == "mock:east:east-4o"
    assert request(server, "POST", "/v1/chat/completions",
                   dict(CHAT, model="gpt-4o-2024-11-20")).json()["model"] == "gpt-4o-2024-11-20"
    for model in ("gpt-4o-2024-08-06", "GPT-4O", "gpt-4"):
        resp = request(server, "POST", "/v1/chat/completions", dict(CHAT, model=model))
        assert resp.status == 404
        assert resp.json()["error"]["code"] == "model_not_found"


def test_completions_and_embeddings(server, fleet):
    resp = request(server, "POST", "/v1/completions",
                   {"model": "gpt-35-turbo-instruct", "prompt": "Once", "max_tokens": 5})
    assert resp.status == 200, resp.body
    assert resp.json()["object"] == "text_completion"
    resp = request(server, "POST", "/v1/embeddings",
                   {"model": "text-embedding-3-small", "input": ["a", "b"]})
    assert resp.status == 200, resp.body
    assert len(resp.json()["data"]) == 2
    paths = [r["path"] for r in fleet.east.client.requests()]
    assert paths == ["/openai/deployments/east-instruct/completions",
                     "/openai/deployments/east-embed/embeddings"]


def test_failover_on_refused_connection_keeps_the_body(server, fleet):
    # "dead" (priority 0) refuses connections: the same request goes on to west.
    server.expect_error(r"AH00957|AH00959|AH01114|connect to remote machine failed")
    for size in (10, 60 * 1024):
        payload = dict(CHAT, model="failover-model",
                       messages=[{"role": "user", "content": "x" * size}])
        body = json.dumps(payload).encode()
        resp = request(server, "POST", "/v1/chat/completions", body)
        assert resp.status == 200, resp.body
        assert resp.json()["choices"][0]["message"]["content"] == "mock:west:west-fo"
        (rec,) = fleet.west.client.requests()
        assert rec["body_length"] == len(body)
        assert rec["body"].encode() == body
        assert header(rec, "content-length") == str(len(body))
        assert header(rec, "api-key") == KEYS["west"]
        fleet.west.client.reset()


@pytest.fixture(params=MPMS)
def own_server(request, fleet):
    """A server of its own for a test that makes instances rest (a reset does, for
    AOProxyCooldown): the shared one's later tests would find them resting."""
    run = serving(request, make_server(request.param, fleet.yaml()))
    srv = next(run)
    yield srv
    bad = srv.unexpected_errors()
    for _ in run:                     # stops it
        pass
    assert not bad, "\n".join(bad)


def test_failover_on_connection_reset_keeps_a_large_body(own_server, fleet):
    # east resets the connection once after reading the request: the same request
    # goes on to the next instance that serves gpt-4o-mini (west), body intact.
    server = own_server
    server.expect_error(r"AH01102|AH01095|AH00898|AH01097|error reading status line")
    fleet.east.client.rules([{"action": "reset", "times": 1}])
    body = json.dumps(dict(CHAT, messages=[{"role": "user", "content": "y" * 48000}])).encode()
    resp = request(server, "POST", "/v1/chat/completions", body)
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"] == "mock:west:west-mini"
    (east_rec,) = fleet.east.client.requests()
    (west_rec,) = fleet.west.client.requests()
    assert east_rec["body"].encode() == body
    assert west_rec["body"].encode() == body
    assert header(west_rec, "content-length") == str(len(body))
    # A reset rests east like a 5xx (AOProxyCooldown): the next request goes to west.
    resp = request(server, "POST", "/v1/chat/completions", CHAT)
    assert resp.json()["choices"][0]["message"]["content"] == "mock:west:west-mini"
    east = request(server, "GET", "/instances/east").json()
    assert east["stats"]["errors"]["by_kind"]["reset"] == 1
    assert east["health"]["cooldown_until"] is not None


def test_every_instance_failing_gives_an_openai_error(own_server, fleet):
    server = own_server
    server.expect_error(r"AH01102|AH01095|AH00898|AH01097|AOP00041")
    fleet.east.client.rules([{"action": "reset", "times": 1}])
    fleet.west.client.rules([{"action": "reset", "times": 1}])
    resp = request(server, "POST", "/v1/chat/completions", CHAT)
    assert resp.status == 502
    err = resp.json()["error"]
    assert err["code"] == "upstream_unavailable" and err["type"] == "server_error"
    assert "2 attempts" in err["message"]


def read_events(srv, payload, timeout=30):
    """Sends a streamed request; returns [(seconds since start, event line)]."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    body = json.dumps(payload).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % len(body) + body)
    start, buf, events = time.time(), b"", []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        for line in chunk.split(b"\n"):
            if line.startswith(b"data: "):
                events.append((time.time() - start, line.decode().strip()))
    sock.close()
    return buf, events


def test_stream_arrives_event_by_event(server, fleet):
    fleet.east.client.rules([{"stream": True, "event_delay_ms": 300, "chunks": 4}])
    raw, events = read_events(server, dict(CHAT, stream=True))
    head = raw.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert "200" in head.split("\r\n")[0]
    assert "content-type: text/event-stream" in head
    assert events[-1][1] == "data: [DONE]"
    # Each event was forwarded as it came, not buffered until the end: arrival
    # times spread over the mock's pauses (9 events, 300 ms apart).
    assert len(events) >= 8
    assert events[-1][0] - events[0][0] > 1.5
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:])]
    assert sum(1 for g in gaps if g > 0.2) >= 5
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content", "")
                   for _, e in events[:-1] if json.loads(e[6:])["choices"])
    assert text == "mock:east:east-mini"


def test_ten_megabyte_response_passes(server, fleet):
    fleet.east.client.rules([{"content_bytes": 10 * 1024 * 1024}])
    resp = request(server, "POST", "/v1/chat/completions", CHAT, timeout=120)
    assert resp.status == 200
    assert len(resp.body) > 10 * 1024 * 1024
    content = resp.json()["choices"][0]["message"]["content"]
    assert len(content.encode()) == 10 * 1024 * 1024


def test_models_are_listed(server):
    resp = request(server, "GET", "/v1/models")
    assert resp.status == 200
    ids = [m["id"] for m in resp.json()["data"]]
    assert ids == sorted(["gpt-4o-mini", "gpt-4o", "text-embedding-3-small",
                          "gpt-35-turbo-instruct", "gpt-4o-2024-11-20", "failover-model"])
    assert request(server, "GET", "/v1/models/gpt-4o").json()["id"] == "gpt-4o"
    assert request(server, "GET", "/v1/models/nope").status == 404


def test_secrets_never_leak_into_logs(server, fleet):
    request(server, "POST", "/v1/chat/completions", CHAT, headers=CLIENT_SECRETS)
    request(server, "POST", "/v1/chat/completions", dict(CHAT, model="nope"))
    time.sleep(0.3)
    logs = server.read_log() + server.read_log(server.access_log)
    for key in KEYS.values():
        assert key not in logs
    assert "key-dead-never-answers" not in logs
    # Nor the client's own credentials: the access log has the request ...
    assert "POST /v1/chat/completions" in server.read_log(server.access_log)
    # ... but none of its Authorization, api-key or Cookie (tools/httpdconf.py's LogFormat).
    for secret in ("sk-client-secret-should-not-leak", "client-api-key-should-not-leak",
                   "session=should-not-leak"):
        assert secret not in logs


def stream_events(body):
    return [l[6:] for l in body.decode().split("\n") if l.startswith("data: ")]


def test_stream_usage_chunk_is_stripped_unless_the_client_asked(server, fleet):
    payload = dict(CHAT, stream=True)
    plain = request(server, "POST", "/v1/chat/completions", payload)
    asked = request(server, "POST", "/v1/chat/completions",
                    dict(payload, stream_options={"include_usage": True}))
    assert plain.status == asked.status == 200
    plain_events, asked_events = stream_events(plain.body), stream_events(asked.body)
    # Upstream both asked Azure for usage ...
    recs = fleet.east.client.requests()
    assert [r["json"]["stream_options"] for r in recs] == [{"include_usage": True}] * 2
    # ... the one that did not ask gets the stream without the usage chunk ...
    assert not any('"usage"' in e and json.loads(e).get("usage") for e in plain_events[:-1])
    assert plain_events[-1] == "[DONE]"
    # ... and otherwise exactly what the other client sees, chunk for chunk.
    usage_chunks = [e for e in asked_events[:-1] if json.loads(e).get("usage")]
    assert len(usage_chunks) == 1
    assert json.loads(usage_chunks[0])["usage"]["total_tokens"] > 0
    assert len(asked_events) == len(plain_events) + 1
    # A client that did not ask gets byte-for-byte what Azure sent, minus that event.
    assert plain.body.count(b"\n\n") == asked.body.count(b"\n\n") - 1


def test_client_stream_options_are_kept_when_asked(server, fleet):
    body = json.dumps(dict(CHAT, stream=True, stream_options={"include_usage": True})).encode()
    resp = request(server, "POST", "/v1/chat/completions", body)
    assert resp.status == 200
    (rec,) = fleet.east.client.requests()
    assert rec["body"].encode() == body, "nothing to add: the body goes as the client sent it"


def test_stripped_stream_sent_with_a_content_length_stays_well_formed(server, fleet):
    # Azure (or a gateway before it) may send a stream with a Content-Length: taking
    # the usage chunk out must not leave a length that no longer holds.
    fleet.east.client.rules([{"stream": True, "content_length": True, "event_delay_ms": 50}])
    resp = request(server, "POST", "/v1/chat/completions", dict(CHAT, stream=True))
    assert resp.status == 200
    cl = resp.header("Content-Length")
    assert cl is None or int(cl) == len(resp.body)
    events = stream_events(resp.body)
    assert events[-1] == "[DONE]"
    assert not any(json.loads(e).get("usage") for e in events[:-1])
