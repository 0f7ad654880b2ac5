# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Self-tests of the mock's Responses API, v1 API and token endpoints."""

import http.client
import json
import os
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockclient import start_mock  # noqa: E402

KEY = "secret-key"
SECRET = "token-signing-secret"
SCOPE = "https://cognitiveservices.azure.com/.default"


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="r1", api_key=KEY, deployments={"gpt4o": "gpt-4o", "mini": "gpt-4o-mini"})
    yield m
    m.stop()


@pytest.fixture(scope="module")
def entra():
    m = start_mock(name="e1", deployments={"mini": "gpt-4o-mini"},
                   extra_args=["--token-secret", SECRET, "--token-lifetime", "2",
                               "--entra-client", "app1=s3cret", "--entra-assertion", "fed-tok",
                               "--identity-header", "idh"])
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def _reset(mock):
    mock.client.reset()
    yield


def call(m, method, path, obj=None, headers=None, raw=None, key=KEY):
    c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["api-key"] = key
    h.update(headers or {})
    body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else None)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def jcall(m, method, path, obj=None, **kw):
    r, data = call(m, method, path, obj, **kw)
    return r.status, json.loads(data)


def typed_events(data):
    out = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        ev = json.loads(lines[1][6:])
        assert ev["type"] == lines[0][7:]
        out.append(ev)
    return out


# ---------------------------------------------------------------- v1 API

def test_v1_chat_takes_deployment_from_body_without_api_version(mock):
    st, obj = jcall(mock, "POST", "/openai/v1/chat/completions",
                    {"model": "gpt4o", "messages": [{"role": "user", "content": "abcdefgh"}]})
    assert st == 200
    assert obj["choices"][0]["message"]["content"] == "mock:r1:gpt4o"
    assert obj["usage"]["prompt_tokens"] == 2
    assert mock.client.stats()["by_deployment"] == {"gpt4o": 1}
    st, obj = jcall(mock, "POST", "/openai/v1/chat/completions",
                    {"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert st == 404 and obj["error"]["code"] == "DeploymentNotFound"


# ---------------------------------------------------------------- Responses

@pytest.mark.parametrize("base", ["/openai/v1/responses", "/openai/responses?api-version=2025-04-01-preview"])
def test_create_retrieve_items_delete(mock, base):
    path, _, q = base.partition("?")
    q = "?" + q if q else ""
    st, resp = jcall(mock, "POST", base, {"model": "mini", "input": "x" * 40,
                                          "instructions": "abcd"})
    assert st == 200, resp
    assert resp["object"] == "response" and resp["status"] == "completed"
    assert resp["id"].startswith("resp_") and resp["model"] == "gpt-4o-mini"
    assert resp["output"][0]["content"][0]["text"] == "mock:r1:mini"
    assert resp["usage"] == {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 0},
                             "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": 12}
    st, again = jcall(mock, "GET", path + "/" + resp["id"] + q)
    assert st == 200 and again == resp
    st, items = jcall(mock, "GET", path + "/" + resp["id"] + "/input_items" + q)
    assert st == 200 and items["object"] == "list"
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "x" * 40}]
    st, gone = jcall(mock, "DELETE", path + "/" + resp["id"] + q)
    assert st == 200 and gone == {"id": resp["id"], "object": "response.deleted", "deleted": True}
    st, err = jcall(mock, "GET", path + "/" + resp["id"] + q)
    assert st == 404 and err["error"]["type"] == "invalid_request_error"


def test_dated_style_needs_api_version(mock):
    st, _ = jcall(mock, "POST", "/openai/responses", {"model": "mini", "input": "hi"})
    assert st == 404


def test_previous_response_chain_bills_the_conversation_and_unknown_id_is_400(mock):
    st, r1 = jcall(mock, "POST", "/openai/v1/responses", {"model": "mini", "input": "y" * 80})
    st, r2 = jcall(mock, "POST", "/openai/v1/responses",
                   {"model": "mini", "input": "y" * 8, "previous_response_id": r1["id"]})
    assert st == 200 and r2["previous_response_id"] == r1["id"]
    assert r2["usage"]["input_tokens"] == 2 + r1["usage"]["total_tokens"]
    other = start_mock(name="r2", api_key=KEY, deployments={"mini": "gpt-4o-mini"})
    try:
        st, err = jcall(other, "POST", "/openai/v1/responses",
                        {"model": "mini", "input": "z", "previous_response_id": r1["id"]})
        assert st == 400 and err["error"]["code"] == "previous_response_not_found"
        assert err["error"]["param"] == "previous_response_id"
    finally:
        other.stop()


def test_streamed_response_typed_events_with_usage_and_resume(mock):
    r, data = call(mock, "POST", "/openai/v1/responses",
                   {"model": "mini", "input": "abcdabcd", "stream": True})
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
    assert b"[DONE]" not in data
    evs = typed_events(data)
    types = [e["type"] for e in evs]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-1] == "response.completed"
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    deltas = "".join(e["delta"] for e in evs if e["type"] == "response.output_text.delta")
    assert deltas == "mock:r1:mini"
    final = evs[-1]["response"]
    assert final["usage"]["input_tokens"] == 2 and final["usage"]["output_tokens"] == 1
    r, again = call(mock, "GET", "/openai/v1/responses/%s?stream=true&starting_after=%d"
                    % (final["id"], len(evs) - 3))
    assert [e["sequence_number"] for e in typed_events(again)] == [len(evs) - 2, len(evs) - 1]


@pytest.mark.parametrize("status,last", [("incomplete", "response.incomplete"),
                                         ("failed", "response.failed")])
def test_incomplete_and_failed_end_events_carry_usage(mock, status, last):
    mock.client.rules([{"path_suffix": "/responses", "response_status": status}])
    r, data = call(mock, "POST", "/openai/v1/responses",
                   {"model": "mini", "input": "hi", "stream": True})
    evs = typed_events(data)
    assert evs[-1]["type"] == last and evs[-1]["response"]["status"] == status
    assert evs[-1]["response"]["usage"]["total_tokens"] == 2


def test_cut_stream_rule_applies_to_responses(mock):
    mock.client.rules([{"path_suffix": "/responses", "action": "cut_stream", "cut_after": 3}])
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
    c.request("POST", "/openai/v1/responses", json.dumps({"model": "mini", "input": "hi",
                                                          "stream": True}),
              {"api-key": KEY, "Content-Type": "application/json"})
    r = c.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    assert mock.client.requests()[-1]["status"] == "cut"


def test_background_cancel_and_completion(mock):
    mock.client.rules([{"path_suffix": "/responses", "background_ms": 500, "times": 1}])
    st, q = jcall(mock, "POST", "/openai/v1/responses",
                  {"model": "mini", "input": "hi", "background": True})
    assert st == 200 and q["status"] == "queued"
    st, c = jcall(mock, "POST", "/openai/v1/responses/%s/cancel" % q["id"])
    assert st == 200 and c["status"] == "cancelled"
    st, q2 = jcall(mock, "POST", "/openai/v1/responses",
                   {"model": "mini", "input": "hi", "background": True})
    time.sleep(0.3)
    st, done = jcall(mock, "GET", "/openai/v1/responses/" + q2["id"])
    assert done["status"] == "completed" and done["usage"]["total_tokens"] == 2
    st, sync = jcall(mock, "POST", "/openai/v1/responses", {"model": "mini", "input": "hi"})
    st, err = jcall(mock, "POST", "/openai/v1/responses/%s/cancel" % sync["id"])
    assert st == 400


# ---------------------------------------------------------------- Entra / managed identity

def token(m, form, tenant="tenant-1"):
    return call(m, "POST", "/%s/oauth2/v2.0/token" % tenant, key=None,
                raw=urllib.parse.urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_client_secret_token_works_then_expires(entra):
    r, data = token(entra, {"grant_type": "client_credentials", "client_id": "app1",
                            "client_secret": "s3cret", "scope": SCOPE})
    assert r.status == 200
    tok = json.loads(data)
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 2
    chat = {"model": "mini", "messages": [{"role": "user", "content": "hi"}]}
    bearer = {"Authorization": "Bearer " + tok["access_token"]}
    st, obj = jcall(entra, "POST", "/openai/v1/chat/completions", chat, key=None, headers=bearer)
    assert st == 200, obj
    st, obj = jcall(entra, "POST", "/openai/v1/chat/completions", chat, key=None)
    assert st == 401
    st, obj = jcall(entra, "POST", "/openai/v1/chat/completions", chat, key="any")
    assert st == 401  # keys disabled (no --api-key): disableLocalAuth
    # the expiry is whole seconds rounded up: a 2-second token lives 2 to 3 seconds
    time.sleep(3.1)
    st, obj = jcall(entra, "POST", "/openai/v1/chat/completions", chat, key=None, headers=bearer)
    assert st == 401 and "expired" in obj["error"]["message"]
    assert entra.client.stats()["token_requests"] >= 1


@pytest.mark.parametrize("form,status,number", [
    ({"client_id": "app1", "client_secret": "wrong"}, 401, 7000215),
    ({"client_id": "nobody", "client_secret": "x"}, 400, 700016),
    ({"client_id": "app1", "client_assertion": "bad",
      "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, 401, 700024),
])
def test_token_refusals_are_aad_shaped(entra, form, status, number):
    r, data = token(entra, dict(form, grant_type="client_credentials", scope=SCOPE))
    assert r.status == status
    err = json.loads(data)
    assert err["error_codes"] == [number] and err["error_description"].startswith("AADSTS%d" % number)


def test_workload_identity_assertion_and_managed_identity(entra):
    r, data = token(entra, {"grant_type": "client_credentials", "client_id": "app1", "scope": SCOPE,
                            "client_assertion": "fed-tok", "client_assertion_type":
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert r.status == 200
    q = "?api-version=2018-02-01&resource=https://cognitiveservices.azure.com/"
    r, data = call(entra, "GET", "/metadata/identity/oauth2/token" + q, key=None,
                   headers={"Metadata": "true"})
    assert r.status == 200 and json.loads(data)["token_type"] == "Bearer"
    r, _ = call(entra, "GET", "/metadata/identity/oauth2/token" + q, key=None)
    assert r.status == 400
    r, data = call(entra, "GET", "/msi/token" + q.replace("2018-02-01", "2019-08-01"), key=None,
                   headers={"X-IDENTITY-HEADER": "idh"})
    assert r.status == 200 and json.loads(data)["access_token"].startswith("mocktok.")


# ---------------------------------------------------------------- provider faults (issue 15)

CHAT = "/openai/deployments/mini/chat/completions?api-version=2024-10-21"
MSG = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("name,code", [("content_filter", "content_filter"),
                                       ("context_length_exceeded", "context_length_exceeded")])
def test_error_presets(mock, name, code):
    mock.client.rules([{"status": 400, "error": name, "times": 1}])
    st, obj = jcall(mock, "POST", CHAT, MSG)
    assert st == 400 and obj["error"]["code"] == code
    if name == "content_filter":
        assert obj["error"]["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    with pytest.raises(RuntimeError):
        mock.client.rules([{"status": 400, "error": "no_such_preset"}])


def test_finish_reason_content_filter(mock):
    mock.client.rules([{"finish_reason": "content_filter"}])
    st, obj = jcall(mock, "POST", CHAT, MSG)
    assert obj["choices"][0]["finish_reason"] == "content_filter"
    r, data = call(mock, "POST", CHAT, dict(MSG, stream=True))
    assert b'"finish_reason":"content_filter"' in data


def test_prefill_continue_reject_and_ignore(mock):
    pre = {"messages": [{"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "The quick "}]}
    mock.client.rules([{"content": "The quick brown fox", "prefill": "continue", "times": 1},
                       {"prefill": "reject", "times": 1},
                       {"content": "The quick brown fox", "times": 1}])
    st, obj = jcall(mock, "POST", CHAT, pre)
    assert st == 200 and obj["choices"][0]["message"]["content"] == "brown fox"
    st, obj = jcall(mock, "POST", CHAT, pre)
    assert st == 400 and obj["error"]["code"] == "unsupported_prefill"
    # Without the rule, the prefill is ignored: the whole answer, as Azure's GPTs give.
    st, obj = jcall(mock, "POST", CHAT, pre)
    assert st == 200 and obj["choices"][0]["message"]["content"] == "The quick brown fox"


def test_first_event_delay_sends_headers_first(mock):
    mock.client.rules([{"first_event_delay_ms": 600}])
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
    t0 = time.monotonic()
    c.request("POST", CHAT, json.dumps(dict(MSG, stream=True)),
              {"api-key": KEY, "Content-Type": "application/json"})
    r = c.getresponse()
    t_headers = time.monotonic() - t0
    r.read()
    t_body = time.monotonic() - t0
    assert r.status == 200 and t_headers < 0.5 and t_body >= 0.6


def test_malformed_event(mock):
    mock.client.rules([{"malformed_at": 2}])
    r, data = call(mock, "POST", CHAT, dict(MSG, stream=True))
    blocks = [b for b in data.decode().split("\n\n") if b]
    with pytest.raises(ValueError):
        json.loads(blocks[2][6:])
    assert blocks[-1] == "data: [DONE]"
