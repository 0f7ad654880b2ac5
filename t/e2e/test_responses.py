# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The Responses API through the gateway (issue 16, items 1-2; docs/SPEC-16 choices):
usage counted exactly in /stats and TPM budgets, streamed or not, replays counting none;
response affinity across a graceful restart and an instance-set change by the API;
lookups of ids the gateway never saw; the errors when the instance that holds a
response cannot serve; failover before the first byte of a new response.

Each pair of instances that serves a model lives on two mocks; each mock holds only
the responses it made (404, or 400 previous_response_not_found, for any other), so
routed() sees in the mocks' records any call sent to an instance that does not hold
the id, even where a lookup across instances would hide it from the client."""

import json
import re
import urllib.request

import pytest

from conftest import MPMS, assert_openai_error, make_server, request, serving
from mockclient import start_mock

KEY = "key-resp-e2e-6d2b9a0c4f"
ADMIN = "admin-resp-e2e-1a9c8e7f"
AUTH = {"X-Admin-API-Key": ADMIN}
MODEL_OF = "gpt-4o"      # the mocks' model behind every deployment


def inst(name, mock, models, dep, priority=100, max_tpm=0, api_version="2024-10-21"):
    return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "{ver}"
    priority: {priority}
    max_tpm: {max_tpm}
    supported_models: [{models}]
    model_deployments: {{ {deps} }}
""".format(name=name, key=KEY, port=mock.port, ver=api_version, priority=priority,
           max_tpm=max_tpm, models=", ".join('"%s"' % m for m in models),
           deps=", ".join('%s: "%s"' % (m, dep) for m in models))


class Mocks:
    """ma and mb hold the two sides of every model pair; mc is for instances the API
    adds; mt for the single-instance models."""

    def __init__(self):
        self.ma = start_mock(name="ma", api_key=KEY, deployments={
            d: MODEL_OF for d in ("dep-a", "dep-p", "dep-u", "dep-f1")})
        self.mb = start_mock(name="mb", api_key=KEY, deployments={
            d: MODEL_OF for d in ("dep-b", "dep-q", "dep-v", "dep-f2")})
        self.mc = start_mock(name="mc", api_key=KEY, deployments={
            d: MODEL_OF for d in ("dep-c", "dep-r")})
        self.mt = start_mock(name="mt", api_key=KEY, deployments={
            d: MODEL_OF for d in ("dep-x", "dep-tpm", "dep-st", "dep-rs")})
        self.all = {"ma": self.ma, "mb": self.mb, "mc": self.mc, "mt": self.mt}

    def yaml(self):
        ma, mb, mt = self.ma, self.mb, self.mt
        return 'routing: { strategy: "failover", retries: 3, timeout: 20 }\ninstances:\n' + "".join([
            # first in the list: removing it by the API moves every later index
            inst("x-first", mt, ["m-x"], "dep-x"),
            inst("resp-a", ma, ["m-resp"], "dep-a"),
            inst("resp-b", mb, ["m-resp"], "dep-b", api_version="v1"),
            inst("tpm-only", mt, ["m-tpm"], "dep-tpm", max_tpm=1100),
            inst("stats-only", mt, ["m-st"], "dep-st"),
            inst("pin-east", ma, ["m-pin"], "dep-p"),
            inst("pin-west", mb, ["m-pin"], "dep-q"),
            inst("un-east", ma, ["m-un"], "dep-u"),
            inst("un-west", mb, ["m-un"], "dep-v", api_version="v1"),
            inst("fo-first", ma, ["m-fo"], "dep-f1", priority=1),
            inst("fo-second", mb, ["m-fo"], "dep-f2", priority=2),
            inst("rm-stay", mt, ["m-rm"], "dep-rs"),
        ])

    def reset(self):
        for m in self.all.values():
            m.client.reset()

    def stop(self):
        for m in self.all.values():
            m.stop()


@pytest.fixture(scope="module")
def mocks():
    m = Mocks()
    yield m
    m.stop()


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    yield from serving(request, make_server(request.param, mocks.yaml(),
                                            env={"ADMIN_API_KEY": ADMIN}))


@pytest.fixture(autouse=True)
def fresh(mocks):
    mocks.reset()
    yield


# ---------------------------------------------------------------- helpers

# deployment -> the mock that has it (each deployment is one instance)
def owner_of_text(text):
    m = re.fullmatch(r"mock:(m[abct]):(dep-[\w-]+)", text or "")
    assert m, "not a mock answer: %r" % (text,)
    return m.group(1), m.group(2)


def out_text(resp_obj):
    return resp_obj["output"][0]["content"][0]["text"]


def create(srv, model, input="hello there", prefix="/v1", **extra):
    return request(srv, "POST", prefix + "/responses", dict({"model": model, "input": input},
                                                             **extra))


def created(srv, model, **kw):
    """A new response that must succeed: (its object, (mock, deployment))."""
    r = create(srv, model, **kw)
    assert r.status == 200, (r.status, r.body[:500])
    obj = r.json()
    return obj, owner_of_text(out_text(obj))


def sse(body):
    """A stream's typed events: [(event name, data)]."""
    events = []
    for block in body.decode().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            assert name == data["type"], block
            events.append((name, data))
    return events


def streamed(srv, model, input="hello there", **extra):
    r = create(srv, model, input=input, stream=True, **extra)
    assert r.status == 200, (r.status, r.body[:500])
    assert r.header("Content-Type").startswith("text/event-stream")
    evs = sse(r.body)
    assert evs[0][0] == "response.created"
    assert [d["sequence_number"] for _, d in evs] == list(range(len(evs)))
    final = evs[-1][1]["response"]
    return evs, final


# A call naming an id goes only where the id lives: every Responses request a mock
# saw names ids it made (in its path, or as previous_response_id), and succeeded,
# unless the test lists it in `allowed` as (mock name, method, status).
RESP_PATH = re.compile(r"^/openai(?:/v1)?/responses(?:/([^/]+)(?:/(cancel|input_items))?)?$")


def mark(mocks):
    """How many requests each mock has seen: what came after is new.  (A reset would
    also drop the responses a mock stores.)"""
    return {name: len(m.client.requests()) for name, m in mocks.all.items()}


def since(mock, marks):
    return mock.client.requests()[marks[mock.name]:]


def routed(mocks, owners, allowed=()):
    for name, mock in mocks.all.items():
        for r in mock.client.requests():
            m = RESP_PATH.match(r["path"])
            if not m:
                continue
            rid = m.group(1) or (r["json"] or {}).get("previous_response_id")
            what = "%s %s?%s at %s -> %s" % (r["method"], r["path"], r["query"], name, r["status"])
            if rid is not None and (name, r["method"], r["status"]) not in allowed:
                assert rid in owners, what + ": an id the test did not make"
                assert owners[rid] == name, what + ": sent to the wrong instance (%s made it)" \
                    % owners[rid]
            # a Responses stream has no [DONE]: the mock records its normal end as no_done
            if (name, r["method"], r["status"]) not in allowed and r["status"] != "no_done":
                assert 200 <= r["status"] < 300, what


def stats_of(srv, name):
    resp = request(srv, "GET", "/stats/instances")
    assert resp.status == 200, resp.body
    for i in resp.json()["instances"]:
        if i["name"] == name:
            return i
    raise AssertionError("no instance %s in /stats/instances" % name)


def window(srv):
    resp = request(srv, "GET", "/stats")
    assert resp.status == 200, resp.body
    return resp.json()["window"]


def admin(srv, method, path, body=None):
    return request(srv, method, path, body, headers=AUTH)


def direct(mock, method, path, body=None):
    """A request straight to a mock instance, as a client before the gateway made it."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(mock.url + path, data=data, method=method,
                                 headers={"api-key": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def pair(srv, model):
    """Two responses of a two-instance model: the gateway alternates between equal
    instances, so one lives on each.  {mock name: response id}, and owners."""
    got = {}
    for _ in range(2):
        obj, (mock, _dep) = created(srv, model)
        got[mock] = obj["id"]
    assert set(got) == {"ma", "mb"}, got
    return got, {rid: m for m, rid in got.items()}


# ---------------------------------------------------------------- usage

def test_stats_count_responses_usage_exactly_and_replays_none(server, mocks):
    before, wbefore = stats_of(server, "stats-only")["stats"], window(server)
    usages = []
    first, _ = created(server, "m-st", input="y" * 40)
    usages.append(first["usage"])
    # streamed: the usage of response.completed, with its cached/reasoning details
    mocks.mt.client.rules([{"deployment": "dep-st", "cached_tokens": 7, "reasoning_tokens": 3,
                            "times": 1}])
    evs, final = streamed(server, "m-st", input="z" * 80)
    assert evs[-1][0] == "response.completed"
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 7
    usages.append(final["usage"])
    # the other ends of a stream carry usage too
    for status in ("incomplete", "failed"):
        mocks.mt.client.rules([{"deployment": "dep-st", "response_status": status, "times": 1}])
        evs, final = streamed(server, "m-st", input="w" * (20 if status == "failed" else 60))
        assert evs[-1][0] == "response." + status
        usages.append(final["usage"])
    # a chain turn: the mock bills the conversation re-read
    chained, _ = created(server, "m-st", input="v" * 12, previous_response_id=first["id"])
    assert chained["usage"]["input_tokens"] == 3 + first["usage"]["total_tokens"]
    usages.append(chained["usage"])
    # by-id calls: a plain GET (its JSON has usage) and a replayed stream (its
    # response.completed has usage): a request each, no tokens
    got = request(server, "GET", "/v1/responses/%s" % first["id"])
    assert got.status == 200 and got.json()["usage"] == first["usage"]
    replay = request(server, "GET", "/v1/responses/%s?stream=true&starting_after=2"
                     % final["id"])
    assert replay.status == 200, replay.body[:300]
    revs = sse(replay.body)
    assert revs[0][1]["sequence_number"] == 3 and revs[-1][0] == "response.failed"
    assert revs[-1][1]["response"]["usage"] == final["usage"]
    after, wafter = stats_of(server, "stats-only")["stats"], window(server)

    want = {"prompt": sum(u["input_tokens"] for u in usages),
            "completion": sum(u["output_tokens"] for u in usages),
            "total": sum(u["total_tokens"] for u in usages)}
    # the mock's own count of what it served (a replay serves 0)
    assert mocks.mt.client.stats()["tokens_served"] == want["total"]
    delta = {k: after["tokens"][k] - before["tokens"][k] for k in want}
    assert delta == want, (delta, want)
    assert after["tokens"]["estimated"] == before["tokens"]["estimated"]
    assert after["requests"] - before["requests"] == 7
    assert after["successes"] - before["successes"] == 7
    wdelta = {k: wafter["tokens"][k] - wbefore["tokens"][k] for k in want}
    assert wdelta == want
    assert wafter["requests"] - wbefore["requests"] == 7
    assert [r["params"].get("stream") for r in mocks.mt.client.requests()
            if r["method"] == "GET"] == [None, "true"]


def test_tpm_budget_counts_responses_usage_exactly(server, mocks):
    # 101 tokens a request by the mock's usage (input 400 characters / 4 + one word):
    # 10 fit a 1100-token budget, plain or streamed; the 11th is refused.  As the chat
    # budget tests say max_tokens 1, these say max_output_tokens 1: what a request may
    # still produce is part of what it reserves while in flight.
    statuses, first = [], None
    for i in range(11):
        if i % 2:
            r = create(server, "m-tpm", input="x" * 400, stream=True, max_output_tokens=1)
            if r.status == 200:
                assert sse(r.body)[-1][1]["response"]["usage"]["total_tokens"] == 101
        else:
            r = create(server, "m-tpm", input="x" * 400, max_output_tokens=1)
            if r.status == 200:
                assert r.json()["usage"]["total_tokens"] == 101
                first = first or r.json()["id"]
        statuses.append(r.status)
        last = r
    assert statuses == [200] * 10 + [429], statuses
    err = assert_openai_error(last, 429, code="rate_limit_exceeded")
    assert 1 <= int(last.header("Retry-After")) <= 61, err
    assert mocks.mt.client.stats()["tokens_served"] == 1010
    assert stats_of(server, "tpm-only")["tpm"]["used"] == 1010
    # a turn after a response of that instance, as big as the refused one: 429 naming
    # the id and the instance
    resp = create(server, "m-tpm", input="x" * 400, previous_response_id=first,
                  max_output_tokens=1)
    err = assert_openai_error(resp, 429, code="rate_limit_exceeded")
    assert first in err["message"] and "tpm-only" in err["message"], err
    assert 1 <= int(resp.header("Retry-After")) <= 61
    assert mocks.mt.client.stats()["tokens_served"] == 1010


# ---------------------------------------------------------------- affinity

def follow_up(server, mocks, ids, owners, prefix="/v1"):
    """Every by-id call and a chain turn on each id, then the routing check of all the
    test's calls; owners (every id the test made) gets the new ids."""
    for mock, rid in ids.items():
        got = request(server, "GET", "%s/responses/%s" % (prefix, rid))
        assert got.status == 200, (rid, got.status, got.body[:300])
        assert owner_of_text(out_text(got.json()))[0] == mock
        items = request(server, "GET", "%s/responses/%s/input_items?limit=3" % (prefix, rid))
        assert items.status == 200 and items.json()["object"] == "list", items.body[:300]
        nxt, (where, _) = created(server, "m-resp", input="and then?", prefix=prefix,
                                  previous_response_id=rid)
        assert where == mock, "the turn after %s went to %s" % (rid, where)
        owners[nxt["id"]] = where
    routed(mocks, owners)


def test_affinity_survives_a_graceful_restart(server, mocks):
    ids, owners = pair(server, "m-resp")
    more, owners2 = pair(server, "m-resp")
    owners.update(owners2)
    server.graceful()
    follow_up(server, mocks, ids, owners)
    follow_up(server, mocks, more, owners, prefix="/openai")


def test_affinity_survives_instances_added_and_removed_by_the_api(server, mocks):
    ids, owners = pair(server, "m-resp")
    more, owners2 = pair(server, "m-resp")
    owners.update(owners2)
    body = {"name": "resp-c", "api_key": KEY, "api_base": mocks.mc.url, "api_version": "v1",
            "supported_models": ["m-resp"], "model_deployments": {"m-resp": "dep-c"}}
    assert admin(server, "POST", "/instances/add", body).status == 201
    # the first instance goes: every later one moves down an index
    assert admin(server, "DELETE", "/instances/x-first").status == 200
    names = [i["name"] for i in request(server, "GET", "/instances").json()["instances"]]
    assert "resp-c" in names and "x-first" not in names
    follow_up(server, mocks, ids, owners)
    follow_up(server, mocks, more, owners, prefix="/openai/v1")
    # the new instance serves the model, but nothing of what the others hold
    seen = set()
    for _ in range(3):
        seen.add(created(server, "m-resp")[1][0])
    assert seen == {"ma", "mb", "mc"}
    assert admin(server, "DELETE", "/instances/resp-c").status == 200


def test_an_unknown_id_is_looked_up_across_the_instances(server, mocks):
    before = {n: stats_of(server, n)["stats"]["cooldowns"] for n in ("resp-a", "resp-b")}
    # made at resp-b before (or without) the gateway
    made = direct(mocks.mb, "POST", "/openai/v1/responses", {"model": "dep-b", "input": "old"})
    made2 = direct(mocks.mb, "POST", "/openai/v1/responses", {"model": "dep-b", "input": "old 2"})
    got = request(server, "GET", "/v1/responses/%s" % made["id"])
    assert got.status == 200, got.body[:300]
    assert got.json()["id"] == made["id"] and out_text(got.json()) == "mock:mb:dep-b"
    # remembered: the next call goes straight there
    m0 = mark(mocks)
    got = request(server, "GET", "/v1/responses/%s" % made["id"])
    assert got.status == 200
    assert since(mocks.ma, m0) == []
    assert [r["status"] for r in since(mocks.mb, m0)] == [200]
    # a POST naming an unknown previous_response_id: the model's instances in turn
    nxt, (where, _) = created(server, "m-resp", previous_response_id=made2["id"])
    assert where == "mb"
    m0 = mark(mocks)
    _, (where, _) = created(server, "m-resp", previous_response_id=nxt["id"])
    assert where == "mb"
    assert since(mocks.ma, m0) == [] and len(since(mocks.mb, m0)) == 1
    # no instance holds it: the last answer (404 by id, 400 for a POST), logged
    nope = "resp_" + "0" * 48
    server.expect_error(r"AOP00041: .* failed with (404|400) after \d+ attempt")
    assert_openai_error(request(server, "GET", "/v1/responses/" + nope), 404)
    assert_openai_error(create(server, "m-resp", previous_response_id=nope), 400,
                        code="previous_response_not_found", param="previous_response_id")
    # a 404 or previous_response_not_found rests no one
    after = {n: stats_of(server, n)["stats"]["cooldowns"] for n in ("resp-a", "resp-b")}
    assert after == before
    seen = {created(server, "m-resp")[1][0] for _ in range(2)}
    assert seen == {"ma", "mb"}


def test_pinned_instance_cooling_down_gives_429_naming_it(server, mocks):
    ids, owners = pair(server, "m-pin")
    mocks.ma.client.rules([{"deployment": "dep-p", "status": 429, "times": 1,
                            "headers": {"Retry-After": "30"}}])
    # new responses go on elsewhere (pin-east rests once its 429 came)
    for _ in range(2):
        assert created(server, "m-pin")[1][0] == "mb"
    assert [r["status"] for r in mocks.ma.client.requests()
            if r["path"].endswith("/responses") and r["status"] != 200] == [429]
    m0 = mark(mocks)
    rid = ids["ma"]
    resp = create(server, "m-pin", previous_response_id=rid)
    err = assert_openai_error(resp, 429, code="rate_limit_exceeded")
    assert rid in err["message"] and "pin-east" in err["message"], err
    assert 1 <= int(resp.header("Retry-After")) <= 30
    # never silently to the other instance, and not at all to the resting deployment
    assert since(mocks.ma, m0) == [] and since(mocks.mb, m0) == []
    # A 429 rests the deployment (instance x model), not the instance: a call on the
    # stored response itself uses no deployment, and its instance serves it.
    resp = request(server, "GET", "/v1/responses/" + rid)
    assert resp.status == 200 and resp.json()["id"] == rid, resp.body[:300]
    assert [r["method"] for r in since(mocks.ma, m0)] == ["GET"] and since(mocks.mb, m0) == []
    # the other side's response is unaffected
    assert request(server, "GET", "/v1/responses/" + ids["mb"]).status == 200
    # an id the gateway never saw, held by the resting instance: pin-west says it has
    # no such response, and the client hears that (or that the model is resting), never
    # a gateway error
    old = direct(mocks.ma, "POST", "/openai/responses?api-version=2025-04-01-preview",
                 {"model": "dep-p", "input": "before the gateway"})
    server.expect_error(r"AOP00041: request for model m-pin failed")
    resp = create(server, "m-pin", previous_response_id=old["id"])
    assert resp.status in (400, 429), (resp.status, resp.body[:300])
    if resp.status == 400:
        assert_openai_error(resp, 400, code="previous_response_not_found")
    routed(mocks, owners, allowed={("ma", "POST", 429), ("ma", "POST", 200),
                                   ("mb", "POST", 400)})


def test_pinned_instance_disabled_gives_503_naming_it(server, mocks):
    ids, owners = pair(server, "m-un")
    rid = ids["ma"]
    assert admin(server, "PATCH", "/instances/un-east", {"enabled": False}).status == 200
    m0 = mark(mocks)
    try:
        answers = (create(server, "m-un", previous_response_id=rid),
                   request(server, "GET", "/v1/responses/%s/input_items" % rid),
                   request(server, "POST", "/v1/responses/%s/cancel" % rid))
        assert [r.status for r in answers] == [503] * 3, [r.body[:200] for r in answers]
        for resp in answers:
            err = assert_openai_error(resp, 503, code="response_instance_unavailable")
            assert "un-east" in err["message"], err
        assert since(mocks.ma, m0) == [] and since(mocks.mb, m0) == []
    finally:
        assert admin(server, "PATCH", "/instances/un-east", {"enabled": True}).status == 200
    got = request(server, "GET", "/v1/responses/" + rid)
    assert got.status == 200 and got.json()["id"] == rid
    routed(mocks, owners)


def test_pinned_instance_refusing_its_key_gives_503_naming_it(server, mocks):
    """After the test above (un-east stays unhealthy)."""
    ids, owners = pair(server, "m-un")
    rid = ids["ma"]
    # the next request at un-east finds its key refused (and fails over to un-west)
    server.expect_error(r"AOP00044: instance un-east refused its api key \(401\)")
    mocks.ma.client.rules([{"deployment": "dep-u", "status": 401, "times": 1}])
    for _ in range(2):
        obj, (where, _) = created(server, "m-un")
        assert where == "mb"
        owners[obj["id"]] = "mb"
    m0 = mark(mocks)
    for resp in (create(server, "m-un", previous_response_id=rid),
                 request(server, "GET", "/v1/responses/" + rid)):
        err = assert_openai_error(resp, 503, code="response_instance_unavailable")
        assert "un-east" in err["message"], err
    assert since(mocks.ma, m0) == [] and since(mocks.mb, m0) == []
    routed(mocks, owners, allowed={("ma", "POST", 401)})


def test_removed_instance_gives_not_found(server, mocks):
    body = {"name": "rm-gone", "api_key": KEY, "api_base": mocks.mc.url,
            "api_version": "2024-10-21", "supported_models": ["m-rm"],
            "model_deployments": {"m-rm": "dep-r"}}
    assert admin(server, "POST", "/instances/add", body).status == 201
    held = {}
    for _ in range(2):
        obj, (mock, _) = created(server, "m-rm")
        held[mock] = obj["id"]
    assert set(held) == {"mc", "mt"}, held
    assert admin(server, "DELETE", "/instances/rm-gone").status == 200
    m0 = mark(mocks)
    rid = held["mc"]
    err = assert_openai_error(request(server, "GET", "/v1/responses/" + rid), 404)
    assert "removed" in err["message"] and rid in err["message"], err
    err = assert_openai_error(create(server, "m-rm", previous_response_id=rid), 400,
                              code="previous_response_not_found")
    assert "removed" in err["message"], err
    # not a silent new conversation on rm-stay
    assert since(mocks.mt, m0) == [] and since(mocks.mc, m0) == []
    assert request(server, "GET", "/v1/responses/" + held["mt"]).status == 200


def test_a_new_response_fails_over_before_the_first_byte(server, mocks):
    owners = {}
    for stream in (False, True):
        m0 = mark(mocks)
        mocks.ma.client.rules([{"deployment": "dep-f1", "status": 500, "times": 1}])
        if stream:
            evs, final = streamed(server, "m-fo")
            assert evs[-1][0] == "response.completed"
            text = out_text(final)
        else:
            obj, _ = created(server, "m-fo")
            final, text = obj, out_text(obj)
        assert text == "mock:mb:dep-f2"
        first = since(mocks.ma, m0)
        # fo-first rests after its 500 (a cooldown): the second round may skip it
        assert [r["status"] for r in first] in (([500], []) if stream else ([500],)), first
        assert request(server, "GET", "/v1/responses/" + final["id"]).status == 200
        owners[final["id"]] = "mb"
        routed(mocks, owners, allowed={("ma", "POST", 500)})
