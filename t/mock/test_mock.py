# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Tests of the mock Azure OpenAI server (t/mock/mock_azure.py), over real sockets.

Run: /usr/bin/python3 -m pytest t/mock -q
"""

import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockclient import MOCK_SCRIPT, PYTHON, MockClient, start_mock, stop  # noqa: E402

KEY = "secret-key"
AV = "2024-10-21"
CHAT = "/openai/deployments/chat/chat/completions?api-version=" + AV
COMPL = "/openai/deployments/instruct/completions?api-version=" + AV
EMB = "/openai/deployments/emb/embeddings?api-version=" + AV


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="m1", api_key=KEY,
                   deployments={"chat": "gpt-4o-2024-08-06", "instruct": "gpt-35-turbo-instruct",
                                "emb": "text-embedding-3-small"})
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def _reset(mock):
    mock.client.reset()
    yield


def conn(mock, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", mock.port, timeout=timeout)


def post(mock, path, obj=None, headers=None, raw=None, c=None, key=KEY):
    c = c or conn(mock)
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["api-key"] = key
    h.update(headers or {})
    body = raw if raw is not None else json.dumps(obj).encode()
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r, data


def post_json(mock, path, obj, **kw):
    r, data = post(mock, path, obj, **kw)
    return r, json.loads(data)


def sse_events(data):
    """Split an SSE body into the payloads of its data: lines."""
    out = []
    for block in data.decode().split("\n\n"):
        if block.startswith("data: "):
            out.append(block[6:])
        else:
            assert block == "", block
    return out


def p_tokens(chars):
    return max(1, chars // 4)


# ---------------------------------------------------------------- basics

def test_health(mock):
    c = conn(mock)
    c.request("GET", "/_mock/health")
    r = c.getresponse()
    assert r.status == 200
    assert json.loads(r.read())["ok"] is True


def test_chat_answer_and_usage(mock):
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello to the whole wide world please"}]
    r, j = post_json(mock, CHAT, {"messages": msgs, "temperature": 0})
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/json"
    for h in ("apim-request-id", "x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
              "x-request-id"):
        assert r.getheader(h), h
    assert j["object"] == "chat.completion"
    assert j["id"].startswith("chatcmpl-")
    assert j["model"] == "gpt-4o-2024-08-06"
    assert j["system_fingerprint"] == "fp_mock"
    ch = j["choices"]
    assert len(ch) == 1
    assert ch[0]["index"] == 0 and ch[0]["finish_reason"] == "stop" and ch[0]["logprobs"] is None
    assert ch[0]["message"]["role"] == "assistant"
    assert ch[0]["message"]["content"] == "mock:m1:chat"
    chars = sum(len(m["content"]) for m in msgs)
    assert j["usage"] == {"prompt_tokens": p_tokens(chars), "completion_tokens": 1,
                          "total_tokens": p_tokens(chars) + 1}


def test_chat_min_prompt_tokens_and_content_parts(mock):
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "hi"}]})
    assert j["usage"]["prompt_tokens"] == 1
    parts = [{"type": "text", "text": "a" * 40}, {"type": "text", "text": "b" * 8}]
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": parts}]})
    assert j["usage"]["prompt_tokens"] == 12


def test_chat_n_choices(mock):
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x" * 100}], "n": 3})
    assert [c["index"] for c in j["choices"]] == [0, 1, 2]
    assert all(c["message"]["content"] == "mock:m1:chat" for c in j["choices"])
    assert j["usage"] == {"prompt_tokens": 25, "completion_tokens": 3, "total_tokens": 28}


def test_completions(mock):
    r, j = post_json(mock, COMPL, {"prompt": "Once upon a time there", "max_tokens": 5})
    assert r.status == 200
    assert j["object"] == "text_completion"
    assert j["model"] == "gpt-35-turbo-instruct"
    assert j["choices"][0]["text"] == "mock:m1:instruct"
    assert j["usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    r, j = post_json(mock, COMPL, {"prompt": ["a" * 8, "b" * 8]})
    assert len(j["choices"]) == 2
    assert j["usage"]["prompt_tokens"] == 4


def test_embeddings_float_and_base64(mock):
    r, j = post_json(mock, EMB, {"input": "hello embeddings"})
    assert r.status == 200
    assert j["object"] == "list" and j["model"] == "text-embedding-3-small"
    assert len(j["data"]) == 1
    d = j["data"][0]
    assert d["object"] == "embedding" and d["index"] == 0
    vec = d["embedding"]
    assert len(vec) == 8 and all(isinstance(x, float) for x in vec)
    assert j["usage"] == {"prompt_tokens": 4, "total_tokens": 4}

    r, j2 = post_json(mock, EMB, {"input": ["hello embeddings", "second"], "encoding_format": "base64"})
    assert [d["index"] for d in j2["data"]] == [0, 1]
    dec = list(struct.unpack("<8f", base64.b64decode(j2["data"][0]["embedding"])))
    assert dec == vec  # same input -> same vector, float32-exact
    assert j2["usage"]["prompt_tokens"] == p_tokens(len("hello embeddings") + len("second"))


# ---------------------------------------------------------------- wire behaviour

def test_chunked_request_body(mock):
    body = json.dumps({"messages": [{"role": "user", "content": "chunky " * 10}]}).encode()
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    c = conn(mock)
    c.request("POST", CHAT, body=iter(pieces), encode_chunked=True,
              headers={"api-key": KEY, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    r = c.getresponse()
    j = json.loads(r.read())
    assert r.status == 200
    assert j["usage"]["prompt_tokens"] == p_tokens(70)
    rec = mock.client.requests()[-1]
    assert rec["body"] == body.decode() and rec["body_length"] == len(body)
    assert ["Transfer-Encoding", "chunked"] in rec["headers"]
    # the same connection still works afterwards (chunks fully consumed)
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "again"}]}, c=c)
    assert r.status == 200


def test_chunked_request_raw_with_extensions_and_trailer(mock):
    body = b'{"input":"abcdefgh"}'
    s = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
    req = (b"POST " + EMB.encode() + b" HTTP/1.1\r\nHost: x\r\napi-key: " + KEY.encode() +
           b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
           b"5;ext=1\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] +
           b"\r\n0\r\nX-Trailer: yes\r\n\r\n")
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    s.close()
    assert mock.client.requests()[-1]["json"] == {"input": "abcdefgh"}


def test_bad_chunked_body_gets_400_and_server_survives(mock):
    s = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
    s.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")
    s.close()
    s = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
    s.sendall(b"\x00\xffgarbage\r\n\r\n")
    s.recv(65536)
    s.close()
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "ok"}]})
    assert r.status == 200


def test_keep_alive_reuse(mock):
    c = conn(mock)
    c.connect()
    sock = c.sock
    local = sock.getsockname()
    for i in range(5):
        r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "n%d" % i}]}, c=c)
        assert r.status == 200
        assert r.getheader("Connection") != "close"
        assert c.sock is sock and sock.getsockname() == local
    # errors keep the connection open too
    r, j = post_json(mock, "/openai/deployments/chat/chat/completions", {"messages": []}, c=c)
    assert r.status == 404
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "z"}]}, c=c)
    assert r.status == 200 and c.sock is sock


# ---------------------------------------------------------------- errors

def test_wrong_or_missing_key_401(mock):
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, key="bad")
    assert r.status == 401
    assert j["error"]["code"] == "401"
    assert j["error"]["message"].startswith("Access denied due to invalid subscription key or wrong API endpoint.")
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, key=None)
    assert r.status == 401


def test_missing_api_version_404(mock):
    r, j = post_json(mock, "/openai/deployments/chat/chat/completions",
                     {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 404
    assert j == {"error": {"code": "404", "message": "Resource not found"}}


def test_unknown_deployment(mock):
    r, j = post_json(mock, "/openai/deployments/nope/chat/completions?api-version=" + AV,
                     {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 404
    assert j["error"]["code"] == "DeploymentNotFound"
    assert j["error"]["message"].startswith("The API deployment for this resource does not exist.")


def test_unknown_path_and_method_404(mock):
    for path in ("/v1/chat/completions", "/openai/deployments/chat/images/generations?api-version=1", "/"):
        r, j = post_json(mock, path, {})
        assert r.status == 404, path
    c = conn(mock)
    c.request("GET", CHAT, headers={"api-key": KEY})
    r = c.getresponse()
    r.read()
    assert r.status == 404


def test_bad_json_400(mock):
    r, data = post(mock, CHAT, raw=b"{not json")
    assert r.status == 400
    j = json.loads(data)
    assert j["error"]["type"] == "invalid_request_error"
    assert "could not parse the JSON body" in j["error"]["message"]
    r, j = post_json(mock, CHAT, {"model": "x"})
    assert r.status == 400 and j["error"]["param"] == "messages"
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}],
                                  "stream_options": {"include_usage": True}})
    assert r.status == 400 and j["error"]["param"] == "stream_options"


def test_any_deployment_without_list():
    m = start_mock(name="free")
    try:
        r, j = post_json(m, "/openai/deployments/whatever/chat/completions?api-version=1",
                         {"messages": [{"role": "user", "content": "x"}]}, key=None)
        assert r.status == 200
        assert j["model"] == "gpt-4o-mini"
        assert j["choices"][0]["message"]["content"] == "mock:free:whatever"
    finally:
        m.stop()


# ---------------------------------------------------------------- streaming

def stream_req(mock, extra=None, path=CHAT, c=None):
    body = {"messages": [{"role": "user", "content": "stream me please"}], "stream": True}
    body.update(extra or {})
    r, data = post(mock, path, body, c=c)
    return r, data


def test_stream_without_usage(mock):
    r, data = stream_req(mock)
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/event-stream")
    assert r.getheader("Transfer-Encoding") == "chunked"
    ev = sse_events(data)
    assert ev[-1] == "[DONE]"
    objs = [json.loads(e) for e in ev[:-1]]
    assert objs[0]["choices"] == [] and objs[0]["prompt_filter_results"]
    assert objs[1]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [o["choices"][0]["delta"]["content"] for o in objs[2:-1]]
    assert len(pieces) == 5
    assert "".join(pieces) == "mock:m1:chat"
    assert objs[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(o["object"] == "chat.completion.chunk" for o in objs[1:])
    assert not any("usage" in o for o in objs)


def test_stream_with_usage(mock):
    r, data = stream_req(mock, {"stream_options": {"include_usage": True}})
    ev = sse_events(data)
    assert ev[-1] == "[DONE]"
    last = json.loads(ev[-2])
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
    assert json.loads(ev[-3])["choices"][0]["finish_reason"] == "stop"


def test_stream_completions(mock):
    r, data = post(mock, COMPL, {"prompt": "abcd" * 3, "stream": True,
                                 "stream_options": {"include_usage": True}})
    ev = sse_events(data)
    objs = [json.loads(e) for e in ev[:-1]]
    assert objs[0]["choices"] == []
    text = "".join(o["choices"][0]["text"] for o in objs[1:-1] if o["choices"])
    assert text == "mock:m1:instruct"
    assert objs[-1]["usage"]["prompt_tokens"] == 3


def test_stream_keepalive_and_chunks_rule_events_flushed(mock):
    mock.client.rules([{"chunks": 3, "event_delay_ms": 60}])
    c = conn(mock)
    body = json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": True})
    c.request("POST", CHAT, body=body, headers={"api-key": KEY, "Content-Type": "application/json"})
    r = c.getresponse()
    arrivals = []
    buf = b""
    while True:
        d = r.read1(65536)
        if not d:
            break
        buf += d
        arrivals.append((time.monotonic(), d.count(b"data: ")))
    ev = sse_events(buf)
    pieces = [json.loads(e)["choices"][0]["delta"].get("content") for e in ev[2:-2]]
    assert len(pieces) == 3 and "".join(pieces) == "mock:m1:chat"
    # events arrive one by one, spread over time (not buffered)
    assert len(arrivals) >= 5
    assert arrivals[-1][0] - arrivals[0][0] >= 0.25
    # connection reusable after the chunked stream
    sock = c.sock
    r2, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, c=c)
    assert r2.status == 200 and c.sock is sock


# ---------------------------------------------------------------- rules

def test_rule_429_with_headers_and_times(mock):
    idx = mock.client.rules([{"status": 429, "times": 2,
                              "headers": {"Retry-After": "2", "retry-after-ms": "2000"}}])
    assert idx == [0]
    msg = {"messages": [{"role": "user", "content": "x"}]}
    for _ in range(2):
        r, j = post_json(mock, CHAT, msg)
        assert r.status == 429
        assert r.getheader("Retry-After") == "2" and r.getheader("retry-after-ms") == "2000"
        assert j["error"]["code"] == "429"
    r, j = post_json(mock, CHAT, msg)
    assert r.status == 200
    recs = mock.client.requests()
    assert [x["rule"] for x in recs] == [0, 0, None]
    assert [x["status"] for x in recs] == [429, 429, 200]
    assert mock.client.list_rules()[0]["remaining"] == 0


def test_rule_custom_body_and_matchers(mock):
    mock.client.rules([
        {"deployment": "emb", "status": 500, "body": {"error": {"code": "boom", "message": "b"}}},
        {"path_suffix": "chat/completions", "stream": True, "status": 503},
        {"path_suffix": "/completions", "deployment": "instruct", "status": 400, "body": "plain text"},
    ])
    r, j = post_json(mock, EMB, {"input": "x"})
    assert r.status == 500 and j["error"]["code"] == "boom"
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200  # stream matcher does not match
    r, data = stream_req(mock)
    assert r.status == 503 and json.loads(data)["error"]["code"] == "ServiceUnavailable"
    r, data = post(mock, COMPL, {"prompt": "x"})
    assert r.status == 400 and data == b"plain text"
    assert [x["rule"] for x in mock.client.requests()] == [0, None, 1, 2]


def test_rule_applies_before_auth(mock):
    mock.client.rules([{"status": 429, "times": 1}])
    r, j = post_json(mock, CHAT, {"messages": []}, key="wrong")
    assert r.status == 429


def test_rule_delay(mock):
    mock.client.rules([{"delay_ms": 400, "times": 1}])
    t0 = time.monotonic()
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200 and time.monotonic() - t0 >= 0.39
    t0 = time.monotonic()
    post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert time.monotonic() - t0 < 0.3


def test_rule_reset(mock):
    mock.client.rules([{"action": "reset", "times": 1}])
    c = conn(mock)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        post(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, c=c)
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200
    recs = mock.client.requests()
    assert len(recs) == 2 and recs[0]["rule"] == 0 and recs[0]["status"] == "reset"


def test_rule_reset_sends_rst(mock):
    mock.client.rules([{"action": "reset"}])
    s = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
    s.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    with pytest.raises(ConnectionResetError):
        while s.recv(65536):
            pass
        raise AssertionError("got a clean EOF instead of a reset")
    s.close()


def test_rule_hang(mock):
    mock.client.rules([{"action": "hang", "times": 1}])
    c = conn(mock, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        post(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, c=c)
    assert time.monotonic() - t0 >= 0.45
    c.close()
    assert mock.client.requests()[0]["status"] == "hang"
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200


def test_rule_hang_limit(mock):
    mock.client.rules([{"action": "hang", "hang_ms": 300}])
    c = conn(mock, timeout=5)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        post(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]}, c=c)


def test_rule_cut_stream(mock):
    mock.client.rules([{"action": "cut_stream", "cut_after": 3}])
    c = conn(mock)
    body = json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": True})
    c.request("POST", CHAT, body=body, headers={"api-key": KEY})
    r = c.getresponse()
    assert r.status == 200
    got = b""
    with pytest.raises(http.client.IncompleteRead):
        while True:
            d = r.read1(65536)
            if not d:
                break
            got += d
    assert got.count(b"data: ") == 3
    assert b"[DONE]" not in got
    # non-streamed: half a body, then EOF
    r2c = conn(mock)
    r2c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "x"}]}),
                headers={"api-key": KEY})
    r2 = r2c.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        r2.read()


def read_until_close(r):
    """What a response's body delivered before the connection broke: (bytes, error)."""
    got = b""
    try:
        while True:
            d = r.read1(65536)
            if not d:
                return got, None
            got += d
    except (http.client.IncompleteRead, ConnectionError) as e:
        return got, e


def test_rule_close_sends_fin_without_an_answer(mock):
    mock.client.rules([{"action": "close", "times": 1}])
    s = socket.create_connection(("127.0.0.1", mock.port), timeout=5)
    s.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert s.recv(65536) == b""          # a clean EOF, no byte of answer, no RST
    s.close()
    assert mock.client.requests()[0]["status"] == "closed"
    r, j = post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200


def test_rule_truncate_promises_the_full_length(mock):
    mock.client.rules([{"action": "truncate", "truncate_after": 40, "times": 1}])
    c = conn(mock)
    c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "x"}]}),
              headers={"api-key": KEY})
    r = c.getresponse()
    assert r.status == 200
    announced = int(r.getheader("Content-Length"))
    got, _ = read_until_close(r)       # read1 ends quietly at the close
    assert len(got) == 40 < announced
    assert mock.client.requests()[0]["status"] == "truncated"
    # the default cuts in the middle
    mock.client.rules([{"action": "truncate", "times": 1}])
    c = conn(mock)
    c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "x"}]}),
              headers={"api-key": KEY})
    r = c.getresponse()
    announced = int(r.getheader("Content-Length"))
    got, _ = read_until_close(r)
    assert len(got) == announced // 2


def test_rule_truncate_a_stream_mid_event(mock):
    whole = stream_req(mock)[1]
    mock.client.rules([{"action": "truncate", "truncate_after": 100, "times": 1}])
    c = conn(mock)
    c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "stream me please"}],
                                             "stream": True}), headers={"api-key": KEY})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
    got, err = read_until_close(r)
    assert isinstance(err, http.client.IncompleteRead)   # no last chunk
    assert len(got) == 100 and b"[DONE]" not in got
    assert whole.startswith(got[:60])                      # the same stream, cut


def test_rule_stall_stream_after_events(mock):
    mock.client.rules([{"action": "stall", "stall_after": 2, "hang_ms": 5000, "times": 1}])
    c = conn(mock, timeout=0.8)
    c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "x"}],
                                             "stream": True}), headers={"api-key": KEY})
    r = c.getresponse()
    got = b""
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        while True:
            d = r.read1(65536)
            if not d:
                break
            got += d
    assert time.monotonic() - t0 >= 0.7
    assert got.count(b"data: ") == 2
    c.close()
    assert mock.client.requests()[0]["status"] == "stalled"


def test_rule_stall_body_after_bytes(mock):
    mock.client.rules([{"action": "stall", "stall_after": 10, "hang_ms": 300, "times": 1}])
    c = conn(mock, timeout=5)
    c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "x"}]}),
              headers={"api-key": KEY})
    r = c.getresponse()
    t0 = time.monotonic()
    got, err = read_until_close(r)
    # hang_ms bounds the stall; then the connection closes short of the length
    assert 0.25 <= time.monotonic() - t0 < 3
    assert len(got) == 10 < int(r.getheader("Content-Length"))


def test_rule_stream_without_done_ends_cleanly(mock):
    mock.client.rules([{"done": False, "times": 1}])
    r, data = stream_req(mock)           # a complete chunked body: no IncompleteRead
    assert r.status == 200
    ev = sse_events(data)
    assert ev and "[DONE]" not in ev
    assert json.loads(ev[-1])["choices"][0]["finish_reason"] == "stop"
    assert mock.client.requests()[0]["status"] == "no_done"


def test_rules_clear_keeps_recordings(mock):
    mock.client.rules([{"status": 500}])
    r, _ = post(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 500
    mock.client.clear_rules()
    assert mock.client.list_rules() == []
    r, _ = post(mock, CHAT, {"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 200
    assert [q["status"] for q in mock.client.requests()] == [500, 200]


def test_max_records_bounds_the_recording_not_the_count():
    m = start_mock(name="few", api_key=KEY, deployments={"chat": "gpt-4o"},
                   extra_args=["--max-records", "2"])
    try:
        for _ in range(5):
            assert post(m, CHAT, {"messages": [{"role": "user", "content": "x"}]})[0].status == 200
        assert len(m.client.requests()) == 2
        assert m.client.stats()["requests"] == 5
        assert m.client.stats()["by_deployment"] == {"chat": 5}
    finally:
        m.stop()


def test_rule_content_bytes_10mb(mock):
    size = 10 * 1024 * 1024
    mock.client.rules([{"content_bytes": size, "times": 1}])
    t0 = time.monotonic()
    r, data = post(mock, CHAT, {"messages": [{"role": "user", "content": "big"}]})
    assert r.status == 200
    assert int(r.getheader("Content-Length")) == len(data) > size
    j = json.loads(data)
    content = j["choices"][0]["message"]["content"]
    assert len(content.encode()) == size
    assert content.startswith("mock:m1:chat ")
    assert j["usage"]["completion_tokens"] == 2
    assert time.monotonic() - t0 < 5


def test_rule_content_bytes_stream(mock):
    mock.client.rules([{"content_bytes": 1000, "chunks": 10}])
    r, data = stream_req(mock)
    ev = sse_events(data)
    pieces = [json.loads(e)["choices"][0]["delta"]["content"] for e in ev[2:-2]]
    assert len(pieces) == 10 and len("".join(pieces)) == 1000


def test_bad_rules_rejected(mock):
    c = conn(mock)
    c.request("POST", "/_mock/rules", body=b"[1,2]")
    r = c.getresponse()
    r.read()
    assert r.status == 400


# ---------------------------------------------------------------- recording & stats

def test_recording(mock):
    c = conn(mock)
    body = json.dumps({"messages": [{"role": "user", "content": "rec"}], "temperature": 0.5})
    c.request("POST", CHAT + "&foo=bar", body=body,
              headers={"api-key": KEY, "Content-Type": "application/json", "X-Custom-Hdr": "V1"})
    c.getresponse().read()
    recs = mock.client.requests()
    assert len(recs) == 1
    rec = recs[0]
    assert rec["method"] == "POST"
    assert rec["path"] == "/openai/deployments/chat/chat/completions"
    assert rec["query"] == "api-version=%s&foo=bar" % AV
    assert rec["params"] == {"api-version": AV, "foo": "bar"}
    names = [h[0] for h in rec["headers"]]
    assert names.index("api-key") < names.index("Content-Type") < names.index("X-Custom-Hdr")
    assert ["X-Custom-Hdr", "V1"] in rec["headers"]
    assert rec["body"] == body and rec["body_length"] == len(body)
    assert rec["json"] == json.loads(body)
    assert rec["rule"] is None and rec["deployment"] == "chat"
    assert abs(rec["time"] - time.time()) < 10
    # control requests are not recorded; non-JSON bodies record json null
    post(mock, "/openai/deployments/chat/chat/completions?api-version=1", raw=b"\xffnot json")
    recs = mock.client.requests()
    assert len(recs) == 2 and recs[1]["json"] is None and recs[1]["body_length"] == 9


def test_stats_and_reset(mock):
    post_json(mock, CHAT, {"messages": [{"role": "user", "content": "x" * 40}]})  # 10 + 1
    post_json(mock, EMB, {"input": "y" * 20})  # 5
    stream_req(mock, {"stream_options": {"include_usage": True}})  # 4 + 1
    post_json(mock, CHAT, {"messages": []}, key="bad")  # recorded, no tokens
    st = mock.client.stats()
    assert st["requests"] == 4
    assert st["by_deployment"] == {"chat": 3, "emb": 1}
    assert st["tokens_served"] == 21
    assert sum(st["tokens_by_minute"].values()) == 21
    minute = int(time.time() // 60)
    assert set(st["tokens_by_minute"]) <= {str(minute), str(minute - 1)}
    mock.client.rules([{"status": 500}])
    mock.client.reset()
    # The stats request's own connection is the one accepted since the reset.
    assert mock.client.stats() == {"requests": 0, "by_deployment": {}, "tokens_served": 0,
                                   "tokens_by_minute": {}, "token_requests": 0,
                                   "responses_stored": 0, "connections": 1}
    assert mock.client.requests() == [] and mock.client.list_rules() == []


def test_tls_counts_connections():
    """With a certificate the mock serves https and counts the TLS connections it
    accepted: requests on one kept-alive connection count once."""
    import ssl
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=127.0.0.1", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        m = start_mock(name="tls", deployments={"chat": "gpt-4o-mini"}, tls=(cert, key))
        try:
            before = m.client.stats()["connections"]
            ctx = ssl._create_unverified_context()
            body = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
            path = "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
            conn = http.client.HTTPSConnection("127.0.0.1", m.port, context=ctx, timeout=10)
            for _ in range(3):
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200 and b"mock:tls:chat" in resp.read()
            conn.close()
            for _ in range(2):
                one = http.client.HTTPSConnection("127.0.0.1", m.port, context=ctx, timeout=10)
                one.request("POST", path, body, {"Content-Type": "application/json"})
                assert one.getresponse().status == 200
                one.close()
            st = m.client.stats()
            # 1 kept alive + 2 single + this stats request's own
            assert st["connections"] - before == 4 and st["requests"] == 5
        finally:
            m.stop()


# ---------------------------------------------------------------- process

def test_cli_port_file_and_sigterm():
    with tempfile.TemporaryDirectory() as d:
        pf = os.path.join(d, "port")
        p = subprocess.Popen([PYTHON, MOCK_SCRIPT, "--port", "0", "--port-file", pf, "--quiet",
                              "--name", "cli"], stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            assert line.startswith("READY ")
            port = int(line.split()[1])
            assert int(open(pf).read()) == port
            assert MockClient("http://127.0.0.1:%d" % port).health()["ok"] is True
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=5) == 0
        finally:
            stop(p)
