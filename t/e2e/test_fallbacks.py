# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Model fallbacks (`fallbacks:`), the wait for a short Retry-After on the last
instance (`routing.max_retry_wait`) and the headers that say what served (issue 15,
items 6 and 7)."""

import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request, serving
from mockclient import start_mock

YAML = """\
routing: {{ strategy: "failover", retries: 3, timeout: 20, max_retry_wait: 2 }}
aliases: {{ big: m1 }}
fallbacks: {{ m1: [m2], m3: [m2] }}
context_window_fallbacks: {{ m4: [m2] }}
instances:
  - {{ name: a, api_key: ka, api_base: "http://127.0.0.1:{a}", api_version: "2024-10-21",
      supported_models: [m1, m3, m4], model_deployments: {{ m1: a-1, m3: a-3, m4: a-4 }} }}
  - {{ name: b, api_key: kb, api_base: "http://127.0.0.1:{b}", api_version: "v1",
      supported_models: [m2], model_deployments: {{ m2: b-2 }} }}
"""


@pytest.fixture(scope="module")
def mocks():
    a = start_mock(name="a", api_key="ka", deployments={"a-1": "m1", "a-3": "m3", "a-4": "m4"})
    b = start_mock(name="b", api_key="kb", deployments={"b-2": "m2"})
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    a, b = mocks
    # Short rests, so that each test starts with both instances serving.
    yield from serving(request, make_server(request.param, YAML.format(a=a.port, b=b.port),
                                            extra_conf="AOProxyCooldown 1"))


@pytest.fixture(autouse=True)
def reset(mocks, server):
    for m in mocks:
        m.client.reset()
    deadline = time.time() + 10
    while time.time() < deadline:
        stats = request(server, "GET", "/stats/instances").json()["instances"]
        if all(i["health"]["cooldown_until"] is None for i in stats):
            break
        time.sleep(0.2)
    yield
    # Every fault test ends with a healthy request through the same server.
    for m in mocks:
        m.client.clear_rules()
    time.sleep(1.1)
    r = chat(server, "m2")
    assert r.status == 200, r.body


def chat(srv, model="m1", **kw):
    return request(srv, "POST", "/v1/chat/completions",
                   dict({"model": model, "messages": [{"role": "user", "content": "hi"}]}, **kw))


def calls(mock):
    return [r for r in mock.client.requests() if r.get("path", "").startswith("/openai/")]


def test_the_served_model_and_instance_are_named(server, mocks):
    r = chat(server, "big")
    assert r.status == 200, r.body
    assert r.header("x-aoproxy-model") == "m1" and r.header("x-aoproxy-instance") == "a"
    assert r.header("x-aoproxy-fallback") is None


@pytest.mark.parametrize("fault", [{"status": 500, "times": 1}, {"action": "reset", "times": 1}])
def test_a_failed_model_falls_back(server, mocks, fault):
    a, b = mocks
    server.expect_error(r"AH01102|AH00898|AH01110")    # mod_proxy_http on the reset
    a.client.rules([fault])
    r = chat(server)
    assert r.status == 200, r.body
    # The fallback's deployment served (the v1 instance got it as the body's model),
    # and the client is told so.
    assert r.json()["model"] == "m2"
    assert r.header("x-aoproxy-model") == "m2" and r.header("x-aoproxy-instance") == "b"
    assert r.header("x-aoproxy-fallback") == "m1"
    assert len(calls(a)) == 1
    (sent,) = calls(b)
    assert sent["path"] == "/openai/v1/chat/completions"
    assert sent["deployment"] == "b-2"
    # Usage is booked to the model and instance that served.
    stats = request(server, "GET", "/stats/instances").json()
    b_stats = [i for i in stats["instances"] if i["name"] == "b"][0]
    assert b_stats["stats"]["successes"] >= 1


def test_a_model_out_of_instances_falls_back_at_once(server, mocks):
    a, b = mocks
    # m3's instance rests after a 503 with a long Retry-After: the next request goes
    # straight to m2, without an attempt on it.
    a.client.rules([{"status": 503, "times": 1, "headers": {"Retry-After": "3"}}])
    r = chat(server, "m3")
    assert r.status == 200 and r.header("x-aoproxy-fallback") == "m3", r.body
    r = chat(server, "m3")
    assert r.status == 200 and r.header("x-aoproxy-instance") == "b", r.body
    assert len(calls(a)) == 1
    # A model without fallbacks whose only instance rests: refused as before.
    b.client.rules([{"status": 503, "times": 1, "headers": {"Retry-After": "3"}}])
    server.expect_error(r"AOP00041")
    assert_openai_error(chat(server, "m2"), 503)
    assert_openai_error(chat(server, "m2"), 429, code="rate_limit_exceeded")
    time.sleep(3.1)


def test_a_short_retry_after_on_the_last_instance_is_waited_out(server, mocks):
    a, b = mocks
    a.client.rules([{"status": 429, "times": 1, "headers": {"Retry-After": "1"}}])
    b.client.rules([{"status": 429, "times": 1, "headers": {"Retry-After": "1"}}])
    start = time.time()
    r = chat(server, "m1")
    took = time.time() - start
    assert r.status == 200, r.body
    # a said 429, its fallback b too, and b was tried again once its second was over:
    # never sooner than its Retry-After.
    b_calls = calls(b)
    assert [c["status"] for c in b_calls] == [429, 200], b_calls
    assert b_calls[1]["time"] - b_calls[0]["time"] >= 0.95
    assert took < 5


def test_a_long_retry_after_is_not_waited(server, mocks):
    a, b = mocks
    a.client.rules([{"status": 429, "times": 1, "headers": {"Retry-After": "5"}}])
    b.client.rules([{"status": 429, "times": 1, "headers": {"Retry-After": "5"}}])
    start = time.time()
    server.expect_error(r"AOP00041")
    r = chat(server, "m1")
    assert time.time() - start < 2
    assert_openai_error(r, 429, code="rate_limit_exceeded")
    assert r.header("Retry-After")
    assert len(calls(b)) == 1
    time.sleep(5)


def test_a_prompt_too_long_moves_to_the_larger_context(server, mocks):
    a, b = mocks
    a.client.rules([{"status": 400, "error": "context_length_exceeded", "times": 1}])
    r = chat(server, "m4")
    assert r.status == 200, r.body
    assert r.header("x-aoproxy-model") == "m2" and r.header("x-aoproxy-fallback") == "m4"
    assert [c["status"] for c in calls(a)] == [400] and len(calls(b)) == 1
    # The instance answered as it should: it does not rest.
    assert chat(server, "m4").header("x-aoproxy-instance") == "a"


def test_other_refusals_reach_the_client_as_azure_wrote_them(server, mocks):
    a, b = mocks
    a.client.rules([{"status": 400, "error": "content_filter", "times": 1}])
    r = chat(server, "m4")
    # Azure's own body, its innererror (the filter's verdict) included.
    assert r.status == 400, r.body
    err = r.json()["error"]
    assert err["code"] == "content_filter" and "innererror" in err, err
    assert len(calls(b)) == 0
    # Without a context window fallback, context_length_exceeded is the client's too.
    a.client.rules([{"status": 400, "error": "context_length_exceeded", "times": 1}])
    r = chat(server, "m1")
    assert r.status == 400 and b"context_length_exceeded" in r.body
    assert len(calls(b)) == 0
