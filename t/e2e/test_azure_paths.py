# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Azure's two upstream styles and Azure-shaped client paths (issue 16, items 3-4):
an `api_version: "v1"` instance gets /openai/v1/{op} with the deployment as the body's
model and nothing else of the body changed; the Responses API goes to Azure's path in
each style; the client may say /openai/deployments/{name}/..., /openai/responses... and
/openai/v1/...; aliases rename models; anything else under /v1/ or /openai/ is a JSON
404, a wrong method a JSON 405; the client's credentials never reach Azure."""

import json

import pytest

from conftest import MPMS, assert_openai_error, make_server, request, serving
from mockclient import start_mock

KEY = "key-paths-e2e-0c7d4b2a9e"
DATED = "2024-10-21"
CLIENT_KEY = "client-api-key-paths-8f3e"
CLIENT_TOKEN = "client-bearer-token-paths-2b6d"

YAML = """\
routing: {{ strategy: "failover", retries: 2, timeout: 20 }}
aliases: {{ my-chat: "gpt-4o-mini", my-v1: "m-v1" }}
instances:
  - name: "dated"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{md}"
    api_version: "{dated}"
    supported_models: ["gpt-4o-mini", "text-embedding-3-small", "gpt-35-turbo-instruct"]
    model_deployments:
      gpt-4o-mini: "d-mini"
      text-embedding-3-small: "d-embed"
      gpt-35-turbo-instruct: "d-instruct"
  - name: "dated-rv"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{mr}"
    api_version: "{dated}"
    responses_api_version: "2025-03-01-preview"
    supported_models: ["m-rv"]
    model_deployments: {{ m-rv: "d-rv" }}
  - name: "v1"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{mv}/"
    api_version: "v1"
    supported_models: ["m-v1", "m-v1-embed", "m-v1-instruct"]
    model_deployments: {{ m-v1: "v-chat", m-v1-embed: "v-embed", m-v1-instruct: "v-instruct" }}
"""


@pytest.fixture(scope="module")
def mocks():
    md = start_mock(name="md", api_key=KEY, deployments={
        "d-mini": "gpt-4o-mini", "d-embed": "text-embedding-3-small",
        "d-instruct": "gpt-35-turbo-instruct"})
    # its own resource: a response it makes is nowhere else
    mr = start_mock(name="mr", api_key=KEY, deployments={"d-rv": "gpt-4o"})
    mv = start_mock(name="mv", api_key=KEY, deployments={
        "v-chat": "gpt-4o", "v-embed": "text-embedding-3-small", "v-instruct": "gpt-35-turbo-instruct"})
    yield md, mv, mr
    for m in (md, mv, mr):
        m.stop()


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    md, mv, mr = mocks
    yield from serving(request, make_server(request.param, YAML.format(
        key=KEY, md=md.port, mv=mv.port, mr=mr.port, dated=DATED)))


@pytest.fixture(autouse=True)
def fresh(mocks):
    for m in mocks:
        m.client.reset()
    yield


def send(srv, method, path, raw=None, headers=None):
    """A request with exactly these body bytes."""
    return request(srv, method, path, raw, headers=headers)


def one(mock, since=0):
    """The single request a mock saw (since it had seen `since`: a reset would also
    drop the responses it stores)."""
    recs = mock.client.requests()[since:]
    assert len(recs) == 1, [(r["method"], r["path"], r["status"]) for r in recs]
    return recs[0]


def nothing_sent(mocks):
    return all(m.client.requests() == [] for m in mocks)


def hdr(rec, name):
    vals = [v for k, v in rec["headers"] if k.lower() == name]
    return vals[0] if len(vals) == 1 else (None if not vals else vals)


def assert_azure_auth(rec):
    assert hdr(rec, "api-key") == KEY
    assert hdr(rec, "authorization") is None
    text = json.dumps(rec["headers"])
    assert CLIENT_KEY not in text and CLIENT_TOKEN not in text


# An awkwardly written body: spaces around the colons, a non-ASCII character both
# escaped and raw, a key order the client chose.  Only the model's value may change.
def chat_body(model):
    head = b'{ "messages" : [ {"role":"user", "content":"h\\u00e9llo \xc3\xa9t\xc3\xa9"} ],\n'
    if model is None:
        return head + b'  "temperature" : 0.5 }'
    return head + b'  "model" :  "' + model.encode() + b'" , "temperature" : 0.5 }'


# ---------------------------------------------------------------- upstream styles

def test_v1_instance_gets_v1_path_and_the_deployment_as_model(server, mocks):
    md, mv, mr = mocks
    raw = chat_body("m-v1")
    resp = send(server, "POST", "/v1/chat/completions", raw)
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"] == "mock:mv:v-chat"
    rec = one(mv)
    assert rec["path"] == "/openai/v1/chat/completions"
    assert rec["query"] == "" and "api-version" not in rec["params"]
    assert rec["body"] == raw.replace(b'"m-v1"', b'"v-chat"').decode()
    assert_azure_auth(rec)
    # embeddings and completions: the same style
    for path, model, dep, body in (
            ("/v1/embeddings", "m-v1-embed", "v-embed", {"input": ["a", "b"]}),
            ("/v1/completions", "m-v1-instruct", "v-instruct", {"prompt": "say", "max_tokens": 3})):
        mv.client.reset()
        raw = json.dumps(dict(body, model=model), indent=1).encode()
        resp = send(server, "POST", path, raw)
        assert resp.status == 200, resp.body
        rec = one(mv)
        assert rec["path"] == "/openai" + path and rec["query"] == ""
        assert rec["body"] == raw.replace(b'"%s"' % model.encode(), b'"%s"' % dep.encode()).decode()
    # a stream: the model rewrite and the stream_options splice, nothing else
    mv.client.reset()
    raw = b'{"model": "m-v1", "stream": true, "messages": [{"role": "user", "content": "s"}]}'
    resp = send(server, "POST", "/v1/chat/completions", raw)
    assert resp.status == 200 and resp.body.rstrip().endswith(b"data: [DONE]")
    got = one(mv)["json"]
    assert got == dict(json.loads(raw), model="v-chat", stream_options={"include_usage": True})
    assert nothing_sent([md])


def test_dated_instance_gets_the_deployment_path_and_the_body_unchanged(server, mocks):
    md, mv, mr = mocks
    raw = chat_body("gpt-4o-mini")
    resp = send(server, "POST", "/v1/chat/completions", raw)
    assert resp.status == 200, resp.body
    rec = one(md)
    assert rec["path"] == "/openai/deployments/d-mini/chat/completions"
    assert rec["params"] == {"api-version": DATED}
    assert rec["body"] == raw.decode()
    assert_azure_auth(rec)
    assert nothing_sent([mv])


def test_responses_on_a_dated_and_on_a_v1_instance(server, mocks):
    md, mv, mr = mocks
    cases = (("gpt-4o-mini", md, "d-mini", "/openai/responses", {"api-version": "2025-04-01-preview"}),
             ("m-rv", mr, "d-rv", "/openai/responses", {"api-version": "2025-03-01-preview"}),
             ("m-v1", mv, "v-chat", "/openai/v1/responses", {}))
    for model, mock, dep, path, params in cases:
        for m in mocks:
            m.client.reset()
        raw = b'{"input" : "what is up?",  "model":"' + model.encode() + b'", "store": true}'
        resp = send(server, "POST", "/v1/responses", raw)
        assert resp.status == 200, resp.body
        obj = resp.json()
        assert obj["output"][0]["content"][0]["text"] == "mock:%s:%s" % (mock.name, dep)
        rec = one(mock)
        assert (rec["path"], rec["params"]) == (path, params)
        assert rec["body"] == raw.replace(b'"%s"' % model.encode(), b'"%s"' % dep.encode()).decode()
        assert_azure_auth(rec)
        # by id, in the same style; the client's api-version (Azure-shaped) is ignored
        for client_path in ("/v1/responses/%s" % obj["id"],
                            "/openai/responses/%s?api-version=2024-01-01" % obj["id"],
                            "/openai/v1/responses/%s/input_items?limit=2" % obj["id"]):
            since = len(mock.client.requests())
            got = request(server, "GET", client_path)
            assert got.status == 200, (client_path, got.body[:300])
            rec = one(mock, since)
            want = dict(params, limit="2") if "limit" in client_path else params
            assert rec["path"].startswith(path + "/" + obj["id"]), rec["path"]
            assert rec["params"] == want, (client_path, rec["params"])
    # model is required (and nothing is sent without one)
    for m in mocks:
        m.client.reset()
    for prefix in ("/v1", "/openai", "/openai/v1"):
        assert_openai_error(request(server, "POST", prefix + "/responses", {"input": "x"}), 400,
                            code="missing_required_parameter", param="model")
    assert nothing_sent(mocks)


# ---------------------------------------------------------------- Azure-shaped clients

def test_deployment_paths_route_by_the_path_name(server, mocks):
    md, mv, mr = mocks
    # dated: with no model in the body, or another one: the path decides, the body
    # goes as sent, and the instance's api-version replaces the client's
    for body_model in (None, "not-a-configured-model"):
        md.client.reset()
        raw = chat_body(body_model)
        resp = send(server, "POST",
                    "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2099-12-31", raw)
        assert resp.status == 200, resp.body
        rec = one(md)
        assert rec["path"] == "/openai/deployments/d-mini/chat/completions"
        assert rec["params"] == {"api-version": DATED}
        assert rec["body"] == raw.decode()
    # v1: the deployment becomes the body's model, inserted when there was none
    for body_model in (None, "whatever"):
        mv.client.reset()
        raw = chat_body(body_model)
        resp = send(server, "POST", "/openai/deployments/m-v1/chat/completions?api-version=x", raw)
        assert resp.status == 200, resp.body
        rec = one(mv)
        assert rec["path"] == "/openai/v1/chat/completions" and rec["query"] == ""
        want = (b'{"model":"v-chat",' + raw[1:]) if body_model is None \
            else raw.replace(b'"whatever"', b'"v-chat"')
        assert rec["body"] == want.decode()
    # embeddings and completions
    for path, dep in (("/openai/deployments/text-embedding-3-small/embeddings", "d-embed"),
                      ("/openai/deployments/gpt-35-turbo-instruct/completions", "d-instruct")):
        md.client.reset()
        body = {"input": "e"} if "embed" in path else {"prompt": "p", "max_tokens": 2}
        resp = request(server, "POST", path + "?api-version=2024-02-01", body)
        assert resp.status == 200, resp.body
        rec = one(md)
        assert rec["path"] == "/openai/deployments/%s/%s" % (dep, path.rsplit("/", 1)[1])
        assert rec["params"] == {"api-version": DATED}
    # a name nothing serves
    for m in mocks:
        m.client.reset()
    assert_openai_error(request(server, "POST", "/openai/deployments/nope/chat/completions"
                                "?api-version=2024-10-21", {"messages": []}), 404,
                        code="model_not_found")
    assert nothing_sent(mocks)


def test_aliases_in_the_body_and_in_the_path(server, mocks):
    md, mv, mr = mocks
    raw = chat_body("my-chat")
    resp = send(server, "POST", "/v1/chat/completions", raw)
    assert resp.status == 200, resp.body
    rec = one(md)
    assert rec["path"] == "/openai/deployments/d-mini/chat/completions"
    assert rec["body"] == raw.decode()                     # dated: byte-identical
    md.client.reset()
    resp = send(server, "POST", "/openai/deployments/my-chat/chat/completions?api-version=1",
                chat_body(None))
    assert resp.status == 200
    assert one(md)["path"] == "/openai/deployments/d-mini/chat/completions"
    # on a v1 instance the alias, like any model name, becomes the deployment
    raw = chat_body("my-v1")
    resp = send(server, "POST", "/openai/v1/chat/completions", raw)
    assert resp.status == 200, resp.body
    assert one(mv)["body"] == raw.replace(b'"my-v1"', b'"v-chat"').decode()
    mv.client.reset()
    resp = request(server, "POST", "/v1/responses", {"model": "my-v1", "input": "hi"})
    assert resp.status == 200, resp.body
    assert one(mv)["json"]["model"] == "v-chat"
    ids = [m["id"] for m in request(server, "GET", "/v1/models").json()["data"]]
    for name in ("gpt-4o-mini", "m-v1", "m-rv", "my-chat", "my-v1"):
        assert name in ids, ids
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("aliases,key", [
    ('{ my-chat: "no-such-model" }', "my-chat"),        # names no configured model
    ('{ gpt-4o-mini: "m-v1" }', "gpt-4o-mini"),         # is itself a configured model
])
def test_a_bad_alias_fails_configtest(aliases, key):
    text = YAML.format(key=KEY, md=9, mv=9, mr=9, dated=DATED).replace(
        'aliases: { my-chat: "gpt-4o-mini", my-v1: "m-v1" }', "aliases: " + aliases)
    srv = make_server("event", text)
    res = srv.configtest()
    assert res.returncode != 0, res.stderr
    assert "AOP00001" in res.stderr and "base.yaml:2:" in res.stderr, res.stderr
    assert key in res.stderr, res.stderr


# ---------------------------------------------------------------- errors and credentials

def test_unknown_paths_are_json_404(server, mocks):
    for method, path in (("POST", "/v1/bogus"), ("GET", "/v1/responses/r1/bogus"),
                         ("POST", "/v1/responses/r1/cancel/more"), ("GET", "/openai/"),
                         ("GET", "/openai/bogus"), ("POST", "/openai/deployments/gpt-4o-mini/bogus"),
                         ("POST", "/openai/deployments/gpt-4o-mini"),
                         ("POST", "/openai/v1/bogus"), ("GET", "/openai/v1/responses/r1/x/y"),
                         ("POST", "/openai/responses/r1/bogus?api-version=2025-04-01-preview")):
        resp = request(server, method, path, {"model": "gpt-4o-mini"} if method == "POST" else None)
        assert_openai_error(resp, 404, code="unknown_url")
        assert b"<html" not in resp.body.lower()
    assert nothing_sent(mocks)


def test_wrong_methods_are_json_405_with_allow(server, mocks):
    for method, path, allow in (
            ("GET", "/v1/responses", {"POST"}),
            ("PUT", "/v1/responses/resp_1", {"GET", "DELETE"}),
            ("GET", "/v1/responses/resp_1/cancel", {"POST"}),
            ("POST", "/v1/responses/resp_1/input_items", {"GET"}),
            ("DELETE", "/openai/responses?api-version=2025-04-01-preview", {"POST"}),
            ("PATCH", "/openai/v1/responses/resp_1", {"GET", "DELETE"}),
            ("GET", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=1", {"POST"}),
            ("GET", "/openai/v1/embeddings", {"POST"})):
        resp = request(server, method, path, {} if method in ("POST", "PUT", "PATCH") else None)
        assert_openai_error(resp, 405)
        got = {m.strip() for m in (resp.header("Allow") or "").split(",") if m.strip()}
        assert got == allow, (method, path, resp.header("Allow"))
    assert nothing_sent(mocks)


def test_client_credentials_never_reach_azure(server, mocks):
    md, mv, mr = mocks
    creds = {"api-key": CLIENT_KEY, "Authorization": "Bearer " + CLIENT_TOKEN}
    calls = (("/v1/chat/completions", {"model": "gpt-4o-mini"}, md),
             ("/openai/v1/chat/completions", {"model": "m-v1"}, mv),
             ("/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", {}, md),
             ("/openai/deployments/m-v1/chat/completions?api-version=2024-10-21", {}, mv),
             ("/openai/responses?api-version=2025-04-01-preview", {"model": "gpt-4o-mini"}, md),
             ("/v1/responses", {"model": "m-v1"}, mv))
    for path, body, mock in calls:
        for m in mocks:
            m.client.reset()
        if "responses" in path:
            body = dict(body, input="hi")
        else:
            body = dict(body, messages=[{"role": "user", "content": "hi"}])
        resp = request(server, "POST", path, body, headers=creds)
        assert resp.status == 200, (path, resp.body[:300])
        assert_azure_auth(one(mock))
        if "responses" in path:
            rid = resp.json()["id"]
            since = len(mock.client.requests())
            assert request(server, "GET", "/openai/responses/%s?api-version=1" % rid,
                           headers=creds).status == 200
            assert_azure_auth(one(mock, since))
