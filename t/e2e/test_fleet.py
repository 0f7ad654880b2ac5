# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Fleets of hundreds and thousands of instances: every instance that serves a model
gets its share, the reports come in pages that name every instance once, a YAML of
10 000 block-style instances loads, and a change through the API leaves requests
flowing (a functional check: speed is tools/bench's)."""

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import KEY, fleet_yaml, instance

ADMIN = "admin-key-3c2b1a0f9e8d7c6b"
AUTH = {"X-Admin-API-Key": ADMIN}
MANY = 600                           # far past the 256 candidates a pick once saw


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="fleet", api_key=KEY, deployments={"dep-f": "gpt-4o"})
    yield m
    m.stop()


def many_yaml(mock, n, strategy="weighted"):
    return fleet_yaml(strategy, [instance("i%05d" % i, mock.port, ["gpt-4o"],
                                          deployment="dep-f") for i in range(n)])


@pytest.fixture
def big(request, mock):
    made = []

    def start(mpm, n=MANY, strategy="weighted", yaml_text=None):
        srv = make_server(mpm, yaml_text or many_yaml(mock, n, strategy),
                          env={"ADMIN_API_KEY": ADMIN})
        made.append(srv)
        srv.start()
        return srv
    yield start
    for srv in made:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def chat(srv):
    return request(srv, "POST", "/v1/chat/completions",
                   {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                   headers={"api-key": KEY})


def send(srv, n, threads=8):
    with ThreadPoolExecutor(threads) as pool:
        return [r.status for r in pool.map(lambda _: chat(srv), range(n))]


def stats_pages(srv, limit):
    """Every page of /stats/instances: (pages, instances in page order)."""
    pages, got, after = [], [], None
    while True:
        path = "/stats/instances?limit=%d" % limit + ("&after=" + after if after else "")
        resp = request(srv, "GET", path)
        assert resp.status == 200, resp.body[:300]
        body = resp.json()
        assert len(body["instances"]) <= limit
        pages.append(body)
        got += body["instances"]
        after = body.get("next")    # (older answers had no pages)
        if after is None:
            return pages, got


def requests_per_instance(text):
    per = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "aoproxy_requests_total":
                name = s.labels["aoproxy_instance"]
                per[name] = per.get(name, 0) + int(s.value)
    return per


def metrics_pages(srv, limit):
    per, after, pages = {}, None, 0
    while True:
        path = "/metrics?limit=%d" % limit + ("&after=" + after if after else "")
        resp = request(srv, "GET", path)
        assert resp.status == 200
        page = requests_per_instance(resp.body.decode())
        assert 0 < len(page) <= limit
        assert not set(page) & set(per), "an instance on two pages"
        per.update(page)
        pages += 1
        m = re.search(r"^# aoproxy_next_page after=([^&\s]+)&limit=(\d+)", resp.body.decode(),
                      re.M)
        link = resp.header("Link")
        if not m:
            assert link is None
            return per, pages
        assert link and ("after=%s" % m.group(1)) in link
        after = m.group(1)


@pytest.mark.parametrize("mpm", MPMS)
def test_every_one_of_600_instances_gets_traffic(mpm, big, mock):
    srv = big(mpm)
    statuses = send(srv, 2 * MANY)
    assert statuses == [200] * (2 * MANY)
    _, insts = stats_pages(srv, 1000)
    assert len(insts) == MANY
    counts = {i["name"]: i["stats"]["requests"] for i in insts}
    idle = sorted(n for n, c in counts.items() if c == 0)
    assert not idle, "%d instances never picked, e.g. %s" % (len(idle), idle[:5])
    assert sum(counts.values()) == 2 * MANY


@pytest.mark.parametrize("mpm", MPMS)
def test_round_robin_among_600_uses_every_one(mpm, big, mock):
    srv = big(mpm, strategy="round_robin")
    assert send(srv, 2 * MANY) == [200] * (2 * MANY)
    per, _ = metrics_pages(srv, 1000)
    assert len(per) == MANY
    assert min(per.values()) >= 1, sorted(per.items(), key=lambda kv: kv[1])[:5]


@pytest.mark.parametrize("mpm", MPMS)
def test_pages_name_every_instance_exactly_once(mpm, big, mock):
    srv = big(mpm)
    assert send(srv, 50) == [200] * 50
    pages, insts = stats_pages(srv, 64)
    names = [i["name"] for i in insts]
    assert len(pages) == (MANY + 63) // 64
    assert len(names) == MANY and len(set(names)) == MANY
    assert names == sorted(names)
    assert all(p["total"] == MANY for p in pages)
    per, npages = metrics_pages(srv, 100)
    assert npages == MANY // 100
    assert set(per) == set(names)
    assert sum(per.values()) == 50
    # a scrape without ?limit= is a bounded page too
    resp = request(srv, "GET", "/stats/instances")
    assert len(resp.json()["instances"]) == MANY and resp.json()["next"] is None
    for bad in ("0", "10001", "x", "-1", ""):
        assert_openai_error(request(srv, "GET", "/metrics?limit=" + bad), 400,
                            "invalid_value", "limit")
        assert_openai_error(request(srv, "GET", "/stats/instances?limit=" + bad), 400,
                            "invalid_value", "limit")


def block_yaml(port, n):
    """n instances in the block style of conf/base.yaml (a field a line)."""
    one = """\
  - name: "blk{i:05d}"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    priority: 100
    weight: 100
    max_tpm: 0
    supported_models:
      - "gpt-4o"
    model_deployments:
      gpt-4o: "dep-f"
"""
    return ('routing:\n  strategy: "weighted"\n  retries: 2\n  timeout: 20\ninstances:\n'
            + "".join(one.format(i=i, key=KEY, port=port) for i in range(n)))


def test_a_yaml_of_10000_block_style_instances_loads(big, mock):
    text = block_yaml(mock.port, 10000)
    assert len(text) > 2 * 1024 * 1024          # twice the old limit of a file
    srv = big("event", yaml_text=text)
    assert send(srv, 20, threads=4) == [200] * 20
    body = request(srv, "GET", "/stats/instances?limit=1").json()
    assert body["total"] == 10000 and body["instances"][0]["name"] == "blk00000"


class Load:
    """Two clients sending chats one after the other until stopped."""

    def __init__(self, srv):
        self.srv, self.stop_at, self.statuses = srv, threading.Event(), []
        self.threads = [threading.Thread(target=self.loop) for _ in range(2)]
        for t in self.threads:
            t.start()

    def loop(self):
        while not self.stop_at.is_set():
            self.statuses.append(chat(self.srv).status)

    def stop(self):
        self.stop_at.set()
        for t in self.threads:
            t.join(60)
        return self.statuses


@pytest.mark.parametrize("mpm", MPMS)
def test_adds_through_the_api_leave_requests_flowing(mpm, big, mock):
    srv = big(mpm)
    load = Load(srv)
    try:
        for i in range(3):
            body = {"name": "added%d" % i, "api_key": KEY,
                    "api_base": "http://127.0.0.1:%d" % mock.port,
                    "api_version": "2024-10-21", "supported_models": ["gpt-4o"],
                    "model_deployments": {"gpt-4o": "dep-f"}}
            resp = request(srv, "POST", "/instances/add", body, headers=AUTH)
            assert resp.status == 201, resp.body[:300]
    finally:
        statuses = load.stop()
    assert statuses and set(statuses) == {200}, statuses
    # the added instances are in the rotation like the others
    assert send(srv, 2 * (MANY + 3)) == [200] * (2 * (MANY + 3))
    _, insts = stats_pages(srv, 1000)
    counts = {i["name"]: i["stats"]["requests"] for i in insts}
    assert len(counts) == MANY + 3
    assert all(counts["added%d" % i] > 0 for i in range(3)), counts


def merged_counts(srv):
    """(merged anew, as they were) of every change published so far (AOP00270)."""
    return [(int(a), int(b)) for a, b in re.findall(
        r"AOP00270: instances generation \d+: (\d+) merged anew, (\d+) as they were",
        srv.read_log())]


def view_builds(srv, gen):
    """(instances, lines taken as they were) of each process's view of generation gen
    (AOP00081)."""
    return [(int(a), int(b)) for a, b in re.findall(
        r"AOP00081: instances of generation %d: (\d+), view built in \d+ us \(the "
        r"document's read \d+ us; (\d+) lines as they were" % gen, srv.read_log())]


@pytest.mark.parametrize("mpm", MPMS)
def test_a_view_reads_only_the_lines_a_change_touched(mpm, big, mock):
    """After a PATCH of one instance of 600, each process's next view takes the 599
    others' lines from its last view as they were (compared in place, not copied,
    split and looked up again)."""
    srv = big(mpm)
    resp = request(srv, "PATCH", "/instances/i00007", {"weight": 7}, headers=AUTH)
    assert resp.status == 200, resp.body[:300]
    gen = resp.json()["generation"]
    assert send(srv, 64) == [200] * 64
    builds = view_builds(srv, gen)
    assert builds and set(builds) == {(MANY, MANY - 1)}, builds


@pytest.mark.parametrize("mpm", MPMS)
def test_a_change_merges_only_the_instances_it_changes(mpm, big, mock):
    """A PATCH, a revert to the YAML (rollback to 0) and a deletion in a fleet of 600
    merge anew only the instance they name; the others keep their records (and their
    sources) as they were; a reload merges everything over the new YAML."""
    srv = big(mpm)

    def ok(method, path, body=None):
        resp = request(srv, method, path, body, headers=AUTH)
        assert resp.status in (200, 201), resp.body[:300]
        return json.loads(resp.body) if resp.body else None

    ok("PATCH", "/instances/i00007", {"weight": 7})
    assert merged_counts(srv)[-1] == (1, MANY - 1)
    src = ok("GET", "/admin/config/instances/i00007/sources")["sources"]
    assert src["weight"]["layer"] == "database", src
    src = ok("GET", "/admin/config/instances/i00008/sources")["sources"]
    assert src["weight"]["layer"] == "yaml", src
    # back to the YAML's definition: its YAML instance read from the document alone
    ok("POST", "/admin/instances/i00007/rollback", {"version": 0})
    assert merged_counts(srv)[-1] == (1, MANY - 1)
    src = ok("GET", "/admin/config/instances/i00007/sources")["sources"]
    assert src["weight"]["layer"] == "yaml", src
    # a deletion merges nothing: the instance is gone, the others are as they were
    resp = request(srv, "DELETE", "/instances/i00009", headers=AUTH)
    assert resp.status in (200, 204), resp.body[:300]
    assert merged_counts(srv)[-1] == (0, MANY - 1)
    _, insts = stats_pages(srv, 1000)
    names = {i["name"] for i in insts}
    assert "i00009" not in names and len(names) == MANY - 1
    assert send(srv, 2 * MANY) == [200] * (2 * MANY)
    ok("POST", "/config/reload")
    assert merged_counts(srv)[-1] == (MANY - 1, 0)
