# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Statistics, health and metrics: the same truth from every Apache process."""

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock
from test_balancing import (KEY, burst, chat, fleet_yaml, held_connections, instance,
                            pids_used, served_by, slow_backend)

ADMIN = "admin-key-5f0c2e9b7a1d4e8f"


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="stats", api_key=KEY,
                   deployments={"dep-a": "gpt-4o", "dep-b": "gpt-4o", "dep-c": "gpt-4o"})
    yield m
    m.stop()


@pytest.fixture(autouse=True)
def reset_mock(mock):
    mock.client.reset()
    yield


def two_instances(mock, strategy="failover"):
    return fleet_yaml(strategy, [
        instance("a", mock.port, ["gpt-4o"], priority=1, max_tpm=100000),
        instance("b", mock.port, ["gpt-4o"], priority=2),
        instance("c", mock.port, ["gpt-4o"], priority=3).replace(
            "    max_tpm: 0\n", "    max_tpm: 0\n    enabled: false\n")])


@pytest.fixture
def stats_server(request, mock):
    """A new server for each test (the name differs from conftest's module-scoped,
    MPM-parametrized `server`, which pytest would otherwise reuse across tests)."""
    srv = make_server(request.param if hasattr(request, "param") else "event",
                      two_instances(mock), env={"ADMIN_API_KEY": ADMIN})
    srv.start()
    yield srv
    bad = srv.unexpected_errors()
    srv.stop()
    assert not bad, "\n".join(bad)


def get(srv, path):
    resp = request(srv, "GET", path)
    assert resp.status == 200, resp.body
    assert resp.header("Content-Type").startswith("application/json")
    return resp.json()


def instances_by_name(srv):
    return {i["name"]: i for i in get(srv, "/stats/instances")["instances"]}


def metrics(srv):
    resp = request(srv, "GET", "/metrics")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(resp.body.decode()):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return resp.body.decode(), samples


def sample(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.parametrize("stats_server", MPMS, indirect=True)
def test_counts_are_exact_across_processes(stats_server, mock):
    server = stats_server
    # 40 successes over many processes, then 3 requests that a rests on (429, 2 s)
    # and b serves, then 2 unknown-model requests answered by us.
    slow_backend(mock, 20)
    resps = burst(server, 40, content="x" * 40)
    assert all(r.status == 200 for r in resps)
    assert len(pids_used(server)) >= 2
    mock.client.reset()
    mock.client.rules([{"deployment": "dep-a", "status": 429,
                        "headers": {"Retry-After": "30"}, "times": 1}])
    for _ in range(3):
        assert chat(server, content="x" * 40).status == 200
    for _ in range(2):
        assert chat(server, model="nope").status == 404
    insts = instances_by_name(server)
    a, b = insts["a"]["stats"], insts["b"]["stats"]
    assert a["requests"] == 41 and a["successes"] == 40
    assert a["errors"]["by_kind"]["rate_limited"] == 1 and a["errors"]["by_class"]["4xx"] == 1
    assert a["failovers"] == 1 and a["cooldowns"] == 1
    assert b["requests"] == 3 and b["successes"] == 3
    # The mock's usage: prompt = 40 characters / 4 = 10, completion = 1 word.
    assert a["tokens"] == {"prompt": 400, "completion": 40, "total": 440, "estimated": 0,
                           "estimated_requests": 0}
    assert b["tokens"]["total"] == 33
    overall = get(server, "/stats")["window"]
    assert overall["requests"] == 45 and overall["successes"] == 43
    assert overall["errors"]["by_kind"]["client_4xx"] == 2
    assert overall["failovers"] == 1 and overall["cooldowns"] == 1
    assert overall["tokens"]["total"] == 473
    assert insts["a"]["tpm"]["used"] == 440
    # Prometheus sees the same numbers.
    text, samples = metrics(server)
    assert sample(samples, "aoproxy_requests_total", aoproxy_instance="a", model="gpt-4o",
                  outcome="success") == 40
    assert sample(samples, "aoproxy_requests_total", aoproxy_instance="a", model="gpt-4o",
                  outcome="rate_limited") == 1
    assert sample(samples, "aoproxy_tokens_total", aoproxy_instance="b", model="gpt-4o",
                  type="prompt") == 30
    assert sample(samples, "aoproxy_request_duration_seconds_count", aoproxy_instance="a",
                  model="gpt-4o") == 41
    assert sample(samples, "aoproxy_client_requests_total", outcome="client_4xx") == 2
    assert sample(samples, "aoproxy_instance_health", aoproxy_instance="a",
                  status="rate_limited") == 1
    assert 'instance="' not in text.replace('aoproxy_instance="', "")


def test_percentiles_follow_known_latencies(stats_server, mock):
    server = stats_server
    mock.client.rules([{"delay_ms": 1200, "times": 2}, {"delay_ms": 120}])
    burst(server, 2, threads=2)
    for _ in range(18):
        assert chat(server).status == 200
    lat = instances_by_name(server)["a"]["stats"]["latency_ms"]
    assert lat["count"] == 20
    assert 120 <= lat["avg"] <= 400                       # (2 x 1200 + 18 x 120) / 20 = 228
    # Ranks 10, 19 and 20 of 20: a 120 ms answer, then the 1.2 s ones (plus the
    # proxy's own time), each within the buckets' 6.25 %.
    assert 120 * 0.9375 <= lat["p50"] <= 150
    assert 1200 * 0.9375 <= lat["p95"] <= 1400 and 1200 * 0.9375 <= lat["p99"] <= 1400
    _, samples = metrics(server)
    le = lambda v: sample(samples, "aoproxy_request_duration_seconds_bucket",
                          aoproxy_instance="a", model="gpt-4o", le=v)
    # /metrics exports the powers of two of microseconds: 65.5 ms, 262 ms, 1.05 s, 2.1 s
    assert le("0.065536") == 0 and le("0.262144") == 18 and le("1.048576") == 18
    assert le("2.097152") == 20 and le("+Inf") == 20
    assert le("0.000032") == 0 and le("268.435456") == 20


@pytest.mark.parametrize("stats_server", MPMS, indirect=True)
def test_percentiles_are_within_the_measured_latencies(stats_server, mock):
    """Every answer takes at least the mock's 30 ms and at most what the client saw,
    so the server's percentiles lie between 30 ms and the client's percentiles (with
    the buckets' 6.25 %).  Fixed 0-5/5-10/10-25/25-50 ms buckets put p50 at 37.5 ms."""
    server = stats_server
    slow_backend(mock, 30)
    seen = []
    for _ in range(20):
        t0 = time.monotonic()
        assert chat(server).status == 200
        seen.append((time.monotonic() - t0) * 1000)
    seen.sort()
    client = {"p50": seen[9], "p95": seen[18], "p99": seen[19]}
    for where in (instances_by_name(server)["a"]["stats"], get(server, "/stats")["window"],
                  get(server, "/stats")["total"]):
        lat = where["latency_ms"]
        assert lat["count"] == 20
        for p in ("p50", "p95", "p99"):
            assert 30 * 0.9375 <= lat[p] <= client[p] * 1.0625, (p, lat, client)
        assert lat["p50"] <= lat["p95"] <= lat["p99"]


@pytest.mark.parametrize("stats_server", MPMS, indirect=True)
def test_cooldowns_are_counted_in_windows_and_totals(stats_server, mock):
    server = stats_server
    server.expect_error(r"AOP00041")
    # a answers 429 (rests 30 s) and b serves; then b answers 503 (rests 1 s) and
    # nothing is left: two cooldowns, one each.
    mock.client.rules([{"deployment": "dep-a", "status": 429,
                        "headers": {"Retry-After": "30"}, "times": 1}])
    assert chat(server).status == 200
    mock.client.rules([{"deployment": "dep-b", "status": 503,
                        "headers": {"Retry-After": "1"}, "times": 1}])
    assert chat(server).status == 503
    stats = get(server, "/stats")
    assert stats["window"]["cooldowns"] == 2 and stats["total"]["cooldowns"] == 2
    assert stats["window"]["failovers"] == 1
    insts = instances_by_name(server)
    assert insts["a"]["stats"]["cooldowns"] == 1 and insts["b"]["stats"]["cooldowns"] == 1
    for w in get(server, "/stats/windows")["windows"]:
        assert w["overall"]["cooldowns"] == 2
        assert w["instances"]["a"]["cooldowns"] == 1 and w["instances"]["b"]["cooldowns"] == 1
    _, samples = metrics(server)
    for name in ("a", "b"):
        assert sample(samples, "aoproxy_cooldowns_total", aoproxy_instance=name,
                      model="gpt-4o") == 1


def test_stream_ttfb_is_measured(stats_server, mock):
    server = stats_server
    mock.client.rules([{"stream": True, "event_delay_ms": 200, "chunks": 3}])
    resp = chat(server, stream=True)
    assert resp.status == 200
    stats = instances_by_name(server)["a"]["stats"]
    assert stats["ttfb_ms"]["count"] == 1
    assert stats["ttfb_ms"]["avg"] < stats["latency_ms"]["avg"]
    assert stats["latency_ms"]["avg"] >= 900               # 6 events, 200 ms apart


def test_windows_are_listed_and_summed(stats_server, mock):
    server = stats_server
    for _ in range(3):
        chat(server)
    windows = get(server, "/stats/windows")["windows"]
    assert [w["minutes"] for w in windows] == [5, 15, 30, 60]
    for w in windows:
        assert w["overall"]["requests"] == 3
        assert w["instances"]["a"]["requests"] == 3
        assert w["instances"]["b"]["requests"] == 0


def test_health_transitions(stats_server, mock):
    server = stats_server
    server.expect_error(r"AOP00044|AOP00041")
    health = get(server, "/stats/health")
    assert health["status"] == "healthy"
    assert health["counts"] == {"healthy": 2, "degraded": 0, "rate_limited": 0,
                                "unhealthy": 0, "disabled": 1}
    # a answers 429 with 2 s: rate limited, with its deadline; the service is degraded.
    mock.client.rules([{"deployment": "dep-a", "status": 429, "headers": {"Retry-After": "2"},
                        "times": 1}])
    chat(server)
    a = get(server, "/instances/a")
    assert a["health"]["status"] == "rate_limited"
    assert a["health"]["cooldown_until"] is not None
    assert a["health"]["last_error"]["status"] == 429
    assert a["config"]["api_key"] == "***"
    assert get(server, "/stats/health")["status"] == "degraded"
    time.sleep(2.2)
    # a is back; it refuses its key (401): unhealthy from now on.  b answers 503
    # (resting 1 s): degraded, with one failure.  Nothing else can serve: 503.
    assert get(server, "/instances/a")["health"]["status"] == "healthy"
    mock.client.rules([{"deployment": "dep-a", "status": 401, "times": 1},
                       {"deployment": "dep-b", "status": 503, "times": 1,
                        "headers": {"Retry-After": "1"}}])
    assert chat(server).status == 503
    insts = instances_by_name(server)
    assert insts["a"]["health"]["status"] == "unhealthy"
    assert "refused" in insts["a"]["health"]["reason"]
    assert insts["b"]["health"]["status"] == "degraded"
    assert insts["b"]["health"]["consecutive_failures"] == 1
    assert insts["c"]["health"]["status"] == "disabled"
    assert get(server, "/stats/health")["status"] == "degraded"
    # b recovers with a success: back to healthy; a still cannot serve.
    time.sleep(1.1)
    assert chat(server).status == 200
    insts = instances_by_name(server)
    assert insts["b"]["health"]["status"] == "healthy"
    assert insts["b"]["health"]["consecutive_failures"] == 0
    assert get(server, "/stats/health")["status"] == "degraded"


def test_reset_needs_the_admin_key(stats_server, mock):
    server = stats_server
    chat(server)
    assert get(server, "/stats")["total"]["requests"] == 1
    resp = request(server, "POST", "/stats/reset")
    assert_openai_error(resp, 401, code="invalid_admin_key")
    resp = request(server, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN + "x"})
    assert_openai_error(resp, 401, code="invalid_admin_key")
    resp = request(server, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN[:-1]})
    assert_openai_error(resp, 401, code="invalid_admin_key")
    assert get(server, "/stats")["total"]["requests"] == 1
    resp = request(server, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200 and resp.json()["reset"] is True
    stats = get(server, "/stats")
    assert stats["total"]["requests"] == 0 and stats["window"]["requests"] == 0
    assert instances_by_name(server)["a"]["stats"]["requests"] == 0
    assert ADMIN not in server.read_log() + server.read_log(server.access_log)


def test_reset_is_refused_when_no_admin_key_is_configured(mock):
    srv = make_server("event", two_instances(mock))
    srv.env.pop("ADMIN_API_KEY", None)
    srv.start()
    try:
        resp = request(srv, "POST", "/stats/reset", headers={"X-Admin-API-Key": "anything-at-all"})
        assert_openai_error(resp, 403, code="admin_key_not_configured")
        assert_openai_error(request(srv, "GET", "/stats/reset"), 405)
    finally:
        srv.stop()


def test_admin_key_directive(mock):
    srv = make_server("event", two_instances(mock), extra_conf="AOProxyAdminKey %s" % ADMIN)
    srv.env.pop("ADMIN_API_KEY", None)
    srv.start()
    try:
        resp = request(srv, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN})
        assert resp.status == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("stats_server", MPMS, indirect=True)
def test_statistics_survive_a_graceful_restart(stats_server, mock):
    server = stats_server
    for _ in range(4):
        chat(server)
    server.graceful()
    assert get(server, "/stats")["total"]["requests"] == 4
    assert instances_by_name(server)["a"]["stats"]["requests"] == 4
    chat(server)
    assert get(server, "/stats")["total"]["requests"] == 5


def test_every_process_reports_the_same(mock):
    srv = make_server("prefork", two_instances(mock))
    srv.start()
    try:
        for _ in range(6):
            chat(srv)
        # Each stats request on a connection held open: a different child each time.
        import http.client
        conns, answers = [], []
        for _ in range(5):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            conn.request("GET", "/stats")
            answers.append(json.loads(conn.getresponse().read())["total"]["requests"])
            conns.append(conn)
        for conn in conns:
            conn.close()
        assert answers == [6] * 5
        assert len(pids_used(srv, 5)) >= 5
    finally:
        srv.stop()


def test_unknown_instance_and_no_secret_anywhere(stats_server, mock):
    server = stats_server
    chat(server)
    assert_openai_error(request(server, "GET", "/instances/nope"), 404,
                        code="instance_not_found")
    for path in ("/stats", "/stats/windows", "/stats/instances", "/stats/health",
                 "/instances/a", "/metrics", "/instances", "/config"):
        body = request(server, "GET", path).body.decode()
        assert KEY not in body and ADMIN not in body, path
