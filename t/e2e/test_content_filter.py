# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Azure's content filter (issue 15, item 5): a refused prompt (a 400 with code
content_filter, content_policy_violation or innererror ResponsibleAIPolicyViolation)
reaches the client as Azure wrote it, is never retried nor routed around, and counts
per instance as its own kind; an answer the filter cut (finish_reason, or the
Responses API's incomplete_details.reason, content_filter) is a success counted
apart.  Neither says anything of the instance's health."""

import time

import pytest

from conftest import MPMS, make_server, request, serving
from mockclient import start_mock
from test_stats import metrics, sample

YAML = """\
routing: {{ strategy: "failover", retries: 3, timeout: 20 }}
instances:
  - {{ name: a, api_key: ka, api_base: "http://127.0.0.1:{a}", api_version: "2024-10-21",
      priority: 1, supported_models: [m1], model_deployments: {{ m1: a-1 }} }}
  - {{ name: b, api_key: kb, api_base: "http://127.0.0.1:{b}", api_version: "2024-10-21",
      priority: 2, supported_models: [m1], model_deployments: {{ m1: b-1 }} }}
"""


@pytest.fixture(scope="module")
def mocks():
    a = start_mock(name="a", api_key="ka", deployments={"a-1": "m1"})
    b = start_mock(name="b", api_key="kb", deployments={"b-1": "m1"})
    yield a, b
    a.stop()
    b.stop()


ADMIN = "admin-key-filter-2b9d41"


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    a, b = mocks
    yield from serving(request, make_server(request.param, YAML.format(a=a.port, b=b.port),
                                            env={"ADMIN_API_KEY": ADMIN}))


@pytest.fixture(autouse=True)
def healthy_after(mocks, server):
    # Every test counts from zero, with no instance resting.
    for m in mocks:
        m.client.reset()
    deadline = time.time() + 30
    while time.time() < deadline and any(
            i["health"]["cooldown_until"] for i in
            request(server, "GET", "/stats/instances").json()["instances"]):
        time.sleep(0.2)
    r = request(server, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN})
    assert r.status == 200, r.body
    yield
    # Every fault test ends with a healthy request through the same server, served
    # by the first instance: the filter's verdicts rested nothing.
    for m in mocks:
        m.client.clear_rules()
    r = chat(server)
    assert r.status == 200, r.body
    assert r.header("x-aoproxy-instance") == "a"


def chat(srv, stream=False, **kw):
    body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    return request(srv, "POST", "/v1/chat/completions", dict(body, **kw))


def calls(mock):
    return [r for r in mock.client.requests() if r.get("path", "").startswith("/openai/")]


def stats_of(srv, name):
    insts = request(srv, "GET", "/stats/instances").json()["instances"]
    return next(i for i in insts if i["name"] == name)


@pytest.mark.parametrize("code", ["content_filter", "content_policy_violation"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_prompt_is_final_and_counted_apart(server, mocks, code, stream):
    a, b = mocks
    a.client.rules([{"status": 400, "error": code, "times": 1}])
    r = chat(server, stream=stream)
    assert r.status == 400, r.body
    err = r.json()["error"]
    # Azure's own body: its code and the filter's verdict.
    assert err["code"] == code and err["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    # Never retried, never routed around.
    assert len(calls(a)) == 1 and len(calls(b)) == 0
    st = stats_of(server, "a")
    kinds = st["stats"]["errors"]["by_kind"]
    assert kinds["content_filter"] == 1 and kinds["client_4xx"] == 0, kinds
    assert st["stats"]["content_filter"] == {"refused": 1, "filtered_answers": 0}
    # The client's prompt, not the instance: it stays healthy and rests not.
    assert st["health"]["status"] == "healthy" and st["health"]["cooldown_until"] is None
    overall = request(server, "GET", "/stats").json()
    assert overall["window"]["errors"]["by_kind"]["content_filter"] == 1
    assert overall["total"]["content_filter"]["refused"] == 1
    _, s = metrics(server)
    assert sample(s, "aoproxy_requests_total", aoproxy_instance="a", model="m1",
                  outcome="content_filter") == 1
    assert sample(s, "aoproxy_requests_total", aoproxy_instance="a", model="m1",
                  outcome="client_4xx") == 0
    assert sample(s, "aoproxy_client_requests_total", outcome="content_filter") == 1


def test_other_400s_stay_client_errors(server, mocks):
    a, b = mocks
    a.client.rules([{"status": 400, "error": "context_length_exceeded", "times": 1}])
    r = chat(server)
    assert r.status == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    kinds = stats_of(server, "a")["stats"]["errors"]["by_kind"]
    assert kinds["content_filter"] == 0 and kinds["client_4xx"] == 1, kinds


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_the_filter_cut_is_a_success_counted_apart(server, mocks, stream):
    a, b = mocks
    a.client.rules([{"finish_reason": "content_filter", "times": 2}])
    for _ in range(2):
        r = chat(server, stream=stream)
        assert r.status == 200, r.body
        if stream:
            assert b'"finish_reason":"content_filter"' in r.body and b"data: [DONE]" in r.body
        else:
            assert r.json()["choices"][0]["finish_reason"] == "content_filter"
    # Answers with other finish reasons are not counted.
    assert chat(server, stream=stream).status == 200
    st = stats_of(server, "a")["stats"]
    assert st["successes"] == 3 and st["content_filter"] == {"refused": 0, "filtered_answers": 2}
    assert st["errors"]["total"] == 0
    _, s = metrics(server)
    assert sample(s, "aoproxy_content_filtered_answers_total", aoproxy_instance="a",
                  model="m1") == 2
    assert sample(s, "aoproxy_content_filtered_answers_total", aoproxy_instance="b",
                  model="m1") == 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_answer_the_filter_cut_is_counted(server, mocks, stream):
    a, b = mocks
    a.client.rules([{"response_status": "incomplete", "incomplete_reason": "content_filter",
                     "times": 1}])
    body = {"model": "m1", "input": "hi"}
    if stream:
        body["stream"] = True
    r = request(server, "POST", "/v1/responses", body)
    assert r.status == 200, r.body
    if stream:
        assert b'"reason":"content_filter"' in r.body
    else:
        assert r.json()["incomplete_details"] == {"reason": "content_filter"}
    st = stats_of(server, "a")["stats"]
    assert st["content_filter"]["filtered_answers"] == 1 and st["successes"] == 1


def test_circuit_states_in_metrics(server, mocks):
    a, b = mocks
    _, s = metrics(server)
    for name in ("a", "b"):
        assert sample(s, "aoproxy_circuit_state", aoproxy_instance=name, model="m1",
                      state="closed") == 1
        assert sample(s, "aoproxy_instance_circuit_state", aoproxy_instance=name,
                      state="closed") == 1
    # A 503 rests a's deployment: its circuit opens (b serves meanwhile).
    a.client.rules([{"status": 503, "times": 1}])
    r = chat(server)
    assert r.status == 200 and r.header("x-aoproxy-instance") == "b"
    _, s = metrics(server)
    assert sample(s, "aoproxy_circuit_state", aoproxy_instance="a", model="m1",
                  state="open") == 1
    assert sample(s, "aoproxy_circuit_state", aoproxy_instance="a", model="m1",
                  state="closed") == 0
    assert sample(s, "aoproxy_circuit_state", aoproxy_instance="b", model="m1",
                  state="closed") == 1
    # The instance's own circuit: a 503 is the deployment's matter.
    assert sample(s, "aoproxy_instance_circuit_state", aoproxy_instance="a",
                  state="closed") == 1
    dep = stats_of(server, "a")["deployments"]["m1"]
    assert dep["circuit"] == "open"
    # Wait out the rest so the closing request goes to a.
    deadline = time.time() + 30
    while time.time() < deadline and stats_of(server, "a")["deployments"]["m1"]["cooldown_until"]:
        time.sleep(0.2)
