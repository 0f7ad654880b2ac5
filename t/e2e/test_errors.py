# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Bad input gets OpenAI's error shape with the right status; nothing reaches Azure."""

from conftest import MAX_BODY, assert_openai_error, request


def nothing_sent(fleet):
    return fleet.east.client.requests() == [] and fleet.west.client.requests() == []


def test_malformed_json(server, fleet):
    resp = request(server, "POST", "/v1/chat/completions", b'{"model": "gpt-4o-mini",')
    err = assert_openai_error(resp, 400)
    assert err["type"] == "invalid_request_error"
    assert "JSON" in err["message"]
    assert nothing_sent(fleet)


def test_body_not_an_object(server, fleet):
    assert_openai_error(request(server, "POST", "/v1/embeddings", b"[1, 2]"), 400)
    assert_openai_error(request(server, "POST", "/v1/embeddings", b""), 400)


def test_missing_or_mistyped_model(server, fleet):
    resp = request(server, "POST", "/v1/chat/completions", {"messages": []})
    err = assert_openai_error(resp, 400)
    assert "model" in err["message"]
    resp = request(server, "POST", "/v1/chat/completions", {"model": 42, "messages": []})
    assert_openai_error(resp, 400, code="invalid_type", param="model")
    assert nothing_sent(fleet)


def test_unknown_model(server, fleet):
    resp = request(server, "POST", "/v1/chat/completions",
                   {"model": "gpt-7", "messages": [{"role": "user", "content": "hi"}]})
    err = assert_openai_error(resp, 404, code="model_not_found", param="model")
    assert "gpt-7" in err["message"]
    assert nothing_sent(fleet)


def test_body_over_the_limit(server, fleet):
    big = b'{"model":"gpt-4o-mini","input":"' + b"x" * (MAX_BODY + 10) + b'"}'
    resp = request(server, "POST", "/v1/embeddings", big)
    assert_openai_error(resp, 413, code="request_too_large")
    # Chunked, so the size is only known while reading.
    def chunks():
        for _ in range(40):
            yield b"y" * 8192
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/embeddings", body=chunks(),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 413
    assert r.getheader("Content-Type").startswith("application/json")
    conn.close()
    assert nothing_sent(fleet)


def test_wrong_method(server, fleet):
    resp = request(server, "GET", "/v1/chat/completions")
    assert_openai_error(resp, 405)
    assert resp.header("Allow") == "POST"
    resp = request(server, "POST", "/v1/models", {})
    assert_openai_error(resp, 405)
    assert resp.header("Allow") == "GET"


def test_unknown_path(server, fleet):
    for path in ("/v1/images/generations", "/v1/chat", "/v1/"):
        resp = request(server, "POST", path, {"model": "gpt-4o-mini"})
        assert_openai_error(resp, 404, code="unknown_url")
    assert nothing_sent(fleet)


def test_valid_request_after_errors_on_same_connection(server, fleet):
    import http.client
    import json
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    for body in (b"{bad", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}).encode()):
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
    assert r.status == 200
    conn.close()
