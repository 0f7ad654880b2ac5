# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Resuming a cut stream (issue 15, item 9): with `stream_resume: true` on a
deployment that continues an assistant prefill, a chat stream cut after the client
had part of it goes on there, with the text already sent as the prefill, and the
client gets one whole answer; a refused prefill, or no such deployment, leaves the
client the clean break (the stream_interrupted event) it gets without the option."""

import http.client
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import MPMS, Response, make_server, request, serving
from harness import SRCDIR
from mockclient import start_mock

ADMIN = "admin-key-resume-7d1e0c"
ANSWER = "The quick brown fox jumps over the lazy dog and runs far away into the woods"

YAML = """\
routing: {{ strategy: "failover", retries: 3, timeout: 20, stream_idle_timeout: 1 }}
instances:
  - {{ name: a, api_key: ka, api_base: "http://127.0.0.1:{a}", api_version: "2024-10-21",
      priority: 1, supported_models: [m1, m2],
      model_deployments: {{ m1: a-1, m2: a-2 }} }}
  - {{ name: b, api_key: kb, api_base: "http://127.0.0.1:{b}", api_version: "2024-10-21",
      priority: 2, supported_models: [m1, m2],
      model_deployments: {{ m1: {{ deployment: b-1, stream_resume: true }}, m2: b-2 }} }}
  - {{ name: c, api_key: kc, api_base: "http://127.0.0.1:{c}", api_version: "2024-10-21",
      priority: 3, supported_models: [m1],
      model_deployments: {{ m1: {{ deployment: c-1, stream_resume: true }} }} }}
"""


@pytest.fixture(scope="module")
def mocks():
    ms = [start_mock(name=n, api_key="k" + n, deployments={n + "-1": "m1", n + "-2": "m2"})
          for n in "abc"]
    yield ms
    for m in ms:
        m.stop()


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    a, b, c = mocks
    yield from serving(request, make_server(request.param,
                                            YAML.format(a=a.port, b=b.port, c=c.port),
                                            extra_conf="AOProxyCooldown 1",
                                            env={"ADMIN_API_KEY": ADMIN}))


# mod_proxy_http's own lines for a backend that broke off or went silent.
EXPECTED = r"AH01102|AH01110|AH00898|AH01097|AH01095|AH02609|error reading|timed out"


@pytest.fixture(autouse=True)
def reset(mocks, server):
    for m in mocks:
        m.client.reset()
    server.expect_error(EXPECTED)
    time.sleep(1.1)         # the last test's rests are over
    yield
    # Every fault test ends with a healthy request through the same server.
    for m in mocks:
        m.client.clear_rules()
    time.sleep(1.1)
    r = stream(server)
    assert r.status == 200 and text_of(r)[0].startswith("mock:a:"), r.body


def stream(srv, model="m1", **kw):
    """The stream as the client got it: a broken one ends its connection without the
    chunked encoding's end, and what came before counts."""
    body = {"model": model, "messages": [{"role": "user", "content": "tell me"}],
            "stream": True}
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, **kw)),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    try:
        data = resp.read()
    except http.client.IncompleteRead as e:
        data = e.partial
    conn.close()
    return Response(resp.status, resp.getheaders(), data)


def events(resp):
    out = []
    for block in resp.body.decode().split("\n\n"):
        data = [ln[5:].lstrip() for ln in block.split("\n") if ln.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


def text_of(resp):
    """The answer's text as a client assembles it, whether it saw [DONE], and the
    error events."""
    text, done, errors = "", False, []
    for d in events(resp):
        if d == "[DONE]":
            done = True
            continue
        obj = json.loads(d)      # every event whole: never half of one
        if "error" in obj:
            errors.append(obj["error"])
            continue
        for ch in obj.get("choices", []):
            text += (ch.get("delta") or {}).get("content") or ""
    return text, done, errors


def chat_calls(mock):
    return [r for r in mock.client.requests() if r.get("path", "").endswith("chat/completions")]


def cut_rule(**kw):
    return dict({"content": ANSWER, "chunks": 8, "action": "cut_stream", "cut_after": 5,
                 "times": 1}, **kw)


def test_a_cut_stream_resumes_into_one_answer(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server)
    assert r.status == 200, r.body
    text, done, errors = text_of(r)
    # One whole answer, as if nothing had happened.
    assert (text, done, errors) == (ANSWER, True, [])
    assert r.header("x-aoproxy-instance") == "a"
    # b was asked to continue what the client had: a's first three pieces.
    (call,) = chat_calls(b)
    sent = json.loads(call["body"])
    prefix = sent["messages"][-1]
    assert prefix["role"] == "assistant" and ANSWER.startswith(prefix["content"])
    assert 0 < len(prefix["content"]) < len(ANSWER)
    assert sent["messages"][:-1] == [{"role": "user", "content": "tell me"}]
    assert "/deployments/b-1/" in call["path"] and sent["stream"] is True
    assert len(chat_calls(c)) == 0
    insts = {i["name"]: i for i in request(server, "GET", "/stats/instances").json()["instances"]}
    assert insts["a"]["stats"]["errors"]["by_kind"]["truncated"] == 1
    assert insts["b"]["stats"]["successes"] == 1


def test_a_cut_mid_event_never_reaches_the_client_half(server, mocks):
    a, b, c = mocks
    # The cut falls inside an event (and the chunked encoding is left open).
    a.client.rules([{"content": ANSWER, "chunks": 8, "action": "truncate",
                     "truncate_after": 900, "times": 1}])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server)
    assert r.status == 200, r.body
    assert text_of(r) == (ANSWER, True, [])


def test_a_stalled_stream_resumes(server, mocks):
    a, b, c = mocks
    a.client.rules([{"content": ANSWER, "chunks": 8, "action": "stall", "stall_after": 4,
                     "hang_ms": 10000, "times": 1}])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    t0 = time.time()
    r = stream(server)
    assert r.status == 200, r.body
    assert text_of(r) == (ANSWER, True, [])
    # Within about routing.stream_idle_timeout (1 s) of the stall, not the 10 s hang.
    assert time.time() - t0 < 8
    insts = {i["name"]: i for i in request(server, "GET", "/stats/instances").json()["instances"]}
    assert insts["a"]["stats"]["errors"]["by_kind"]["timeout"] == 1


def test_a_refused_prefill_moves_on_then_gives_the_original_break(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"prefill": "reject"}])
    c.client.rules([{"prefill": "reject"}])
    r = stream(server)
    assert r.status == 200
    text, done, errors = text_of(r)
    # What the client had, then the break it gets without stream_resume: never the
    # resume's 400, never a [DONE].
    assert ANSWER.startswith(text) and 0 < len(text) < len(ANSWER)
    assert not done and [e["code"] for e in errors] == ["stream_interrupted"]
    assert b"unsupported_prefill" not in r.body
    assert len(chat_calls(b)) == 1 and len(chat_calls(c)) == 1


def test_a_refused_prefill_then_one_that_continues(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"prefill": "reject"}])
    c.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server)
    assert text_of(r) == (ANSWER, True, [])


def test_without_stream_resume_the_break_stands(server, mocks):
    a, b, c = mocks
    # m2: no deployment resumes.
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server, model="m2")
    text, done, errors = text_of(r)
    assert 0 < len(text) < len(ANSWER) and not done
    assert [e["code"] for e in errors] == ["stream_interrupted"]
    assert len(chat_calls(b)) == 0


def test_several_choices_are_not_resumed(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server, n=2)
    text, done, errors = text_of(r)
    assert not done and [e["code"] for e in errors] == ["stream_interrupted"]
    assert len(chat_calls(b)) == 0


def test_the_usage_the_client_asked_for_is_the_resumers(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server, stream_options={"include_usage": True})
    assert text_of(r) == (ANSWER, True, [])
    usage = [json.loads(d)["usage"] for d in events(r)
             if d != "[DONE]" and json.loads(d).get("usage")]
    assert len(usage) == 1 and usage[0]["completion_tokens"] > 0


def test_the_client_connection_stays_open_after_a_resume(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "hi"}],
                       "stream": True})
    # The second goes to b (a rests after its cut) on the same connection.
    socks = []
    for want in (ANSWER, ANSWER):
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json"})
        socks.append(conn.sock)
        resp = conn.getresponse()
        got = Response(resp.status, resp.getheaders(), resp.read())
        assert text_of(got) == (want, True, [])
        assert not resp.will_close
    conn.close()
    assert socks[0] is socks[1]


def test_the_official_sdk_gets_one_answer(server, mocks):
    node_dir = os.path.join(SRCDIR, "t", "node")
    assert shutil.which("node"), "node is required"
    assert os.path.isdir(os.path.join(node_dir, "node_modules", "openai")), \
        "run `npm ci --prefix t/node` first (tools/setup does)"
    a, b, c = mocks
    a.client.rules([cut_rule()])
    b.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    env = dict(os.environ, AOPROXY=server.url, MODEL="m1", ANSWER=ANSWER)
    res = subprocess.run(["node", "--test", "--test-reporter=tap",
                          os.path.join(node_dir, "resume.test.mjs")],
                         env=env, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert re.search(r"^# pass 1$", out, re.M) and re.search(r"^# fail 0$", out, re.M), out
    # It was resumed, not served whole by b: a cut it, b continued a prefill.
    assert [r["status"] for r in chat_calls(a)] == ["cut"]
    (call,) = chat_calls(b)
    assert json.loads(call["body"])["messages"][-1]["role"] == "assistant"


def test_the_option_is_shown_and_taken_by_the_api(server, mocks):
    a, b, c = mocks
    deps = request(server, "GET", "/instances/config/b").json()["model_deployments"]
    assert deps == {"m1": {"deployment": "b-1", "stream_resume": True}, "m2": "b-2"}
    admin = {"X-Admin-API-Key": ADMIN}
    bad = request(server, "PATCH", "/instances/c",
                  {"model_deployments": {"m1": {"deployment": "c-1", "stream_resume": "yes"}}},
                  headers=admin)
    assert bad.status == 400 and b"model_deployments.m1.stream_resume" in bad.body
    # c no longer resumes: with b refusing, the cut stays a break, and c is not asked.
    resp = request(server, "PATCH", "/instances/c", {"model_deployments": {"m1": "c-1"}},
                   headers=admin)
    assert resp.status == 200, resp.body
    try:
        a.client.rules([cut_rule()])
        b.client.rules([{"prefill": "reject"}])
        c.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
        text, done, errors = text_of(stream(server))
        assert not done and [e["code"] for e in errors] == ["stream_interrupted"]
        assert len(chat_calls(c)) == 0
    finally:
        resp = request(server, "PATCH", "/instances/c", {"model_deployments": {
            "m1": {"deployment": "c-1", "stream_resume": True}}}, headers=admin)
        assert resp.status == 200, resp.body


def test_a_resume_answered_with_no_stream_is_dropped(server, mocks):
    a, b, c = mocks
    a.client.rules([cut_rule()])
    # A 200 that is no stream (a JSON body): never into the client's stream.
    b.client.rules([{"status": 200, "body": {"id": "x", "object": "chat.completion"}}])
    c.client.rules([{"content": ANSWER, "chunks": 8, "prefill": "continue"}])
    r = stream(server)
    assert text_of(r) == (ANSWER, True, [])
    assert b'"object": "chat.completion"' not in r.body and len(chat_calls(b)) == 1
