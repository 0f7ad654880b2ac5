# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Large fleets: mod_aoproxy with 1000 and 5000 instances (all serving one model,
equal weights, one backend) against plain mod_proxy_balancer with as many members.
Start time, the parent's and the children's memory, the shared segment, the latency
of `POST /instances/add` and what a steady light load meets meanwhile, `GET /metrics`,
and how many instances got traffic after 2 requests per instance."""

import http.client
import json
import os
import re
import statistics
import threading
import time

from .common import (ADMIN_KEY, API_VERSION, CHAT, DIRECT, KEY, MODEL, V1,
                     memory_kb, percentile, request, status_kb)
from . import count_client
from .servers import Apache

LOAD_THREADS = 2
PAGE = 250                           # instances a page of /metrics and /stats/instances


class LightLoad:
    """LOAD_THREADS clients, each sending the small chat on its own keep-alive
    connection one request after the other: (start, seconds, status) of each."""

    def __init__(self, port):
        self.port, self.stopping, self.samples = port, threading.Event(), []
        self.threads = [threading.Thread(target=self.loop, daemon=True)
                        for _ in range(LOAD_THREADS)]
        for t in self.threads:
            t.start()

    def loop(self):
        body = json.dumps(CHAT).encode()
        hdrs = {"Content-Type": "application/json", "api-key": KEY}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stopping.is_set():
            t0 = time.perf_counter()
            try:
                conn.request("POST", V1, body=body, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.samples.append((t0, time.perf_counter() - t0, status))
        conn.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(70)
        return self.samples


def added_instance(i, origin):
    return {"name": "added%02d" % i, "api_key": KEY, "api_base": origin,
            "api_version": API_VERSION,
            "supported_models": [MODEL], "model_deployments": {MODEL: "bench"}}


def window(samples):
    """Latency summary of (start, seconds, status) samples, in ms."""
    ms = sorted(s[1] * 1000 for s in samples)
    return {"requests": len(ms), "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99),
            "max_ms": ms[-1] if ms else None,
            "over_100ms": sum(1 for x in ms if x > 100),
            "over_10ms": sum(1 for x in ms if x > 10)}


def adds_under_load(srv, origin, count):
    """`count` adds, 1 s apart, while LightLoad runs: first `count` + 1 s without adds (the
    baseline: the load's own jitter, client included), then the adds, then 1 s. The
    requests after the first add are also split into those that overlapped an add's
    call (from its request until its answer, and 100 ms after it, while the other
    processes take the change) and the others."""
    load = LightLoad(srv.port)
    time.sleep(max(1.5, count + 1.0))
    first = time.perf_counter()
    adds, spans = [], []
    for i in range(count):
        t0 = time.perf_counter()
        status, body, secs = request(srv.port, "POST", "/instances/add",
                                     added_instance(i, origin),
                                     headers={"X-Admin-API-Key": ADMIN_KEY}, timeout=120)
        if status != 201:
            raise RuntimeError("POST /instances/add: %d %s" % (status, body[:200]))
        spans.append((t0, time.perf_counter() + 0.1))
        adds.append(secs * 1000)
        time.sleep(1)
    samples = load.stop()
    before = [s for s in samples if s[0] < first]
    after = [s for s in samples if s[0] >= first]

    def overlaps(s):
        return any(s[0] < b and s[0] + s[1] > a for a, b in spans)
    return {"adds": count, "add_ms": adds, "add_ms_median": statistics.median(adds),
            "add_ms_max": max(adds),
            "load_before": window(before), "load_during": window(after),
            "load_overlapping_adds": window([s for s in after if overlaps(s)]),
            "load_between_adds": window([s for s in after if not overlaps(s)]),
            "failed": sum(1 for s in samples if s[2] != 200)}


def timed_get(port, path, times=3):
    """GET path `times` times: size, median and max time, and the last body."""
    took, text = [], b""
    for _ in range(times):
        status, text, secs = request(port, "GET", path, timeout=120)
        if status != 200:
            raise RuntimeError("GET %s: %d" % (path, status))
        took.append(secs * 1000)
    return {"bytes": len(text), "ms_median": statistics.median(took), "ms_max": max(took)}, text


def metrics(port, times=3):
    """GET /metrics (its first page: at most 1000 instances by default)."""
    return timed_get(port, "/metrics", times)


NEXT = re.compile(rb"^# aoproxy_next_page after=(\S+)$", re.M)


def all_metrics_pages(port, limit):
    """Every page of /metrics at ?limit=: the texts, and each page's time in ms."""
    texts, took, after = [], [], None
    while True:
        path = "/metrics?limit=%d" % limit + ("&after=" + after if after else "")
        status, text, secs = request(port, "GET", path, timeout=120)
        if status != 200:
            raise RuntimeError("GET %s: %d" % (path, status))
        texts.append(text)
        took.append(secs * 1000)
        m = NEXT.search(text)
        if not m:
            return texts, took
        after = m.group(1).decode().split("&")[0]


def paged(port, limit):
    """/metrics and /stats/instances a page of `limit` instances at a time."""
    texts, took = all_metrics_pages(port, limit)
    stats, _ = timed_get(port, "/stats/instances?limit=%d" % limit)
    return {"limit": limit, "metrics_pages": len(texts),
            "metrics_page_bytes_max": max(len(t) for t in texts),
            "metrics_page_ms_median": statistics.median(took),
            "metrics_page_ms_max": max(took),
            "stats_instances_ms_median": stats["ms_median"],
            "stats_instances_bytes": stats["bytes"]}, texts


def instances_with_traffic(texts):
    per = {}
    for text in texts:
        for name, n in re.findall(rb'^aoproxy_requests_total\{aoproxy_instance="([^"]+)",'
                                  rb'model="[^"]+",outcome="[^"]+"\} (\d+)$', text, re.M):
            per[name] = per.get(name, 0) + int(n)
    return sum(1 for v in per.values() if v > 0)


def shm_bytes(srv):
    m = re.findall(r"AOP00050: shared memory: (\d+) bytes for (\d+) instances", srv.log_text())
    return (int(m[-1][0]), int(m[-1][1])) if m else (None, None)


def server_memory(srv):
    parent = memory_kb(srv.pid())
    kids = [memory_kb(p) for p in srv.pids()]
    return {"parent_rss_kb": parent["rss"], "parent_pss_kb": parent["pss"],
            "parent_rss_shmem_kb": status_kb(srv.pid(), "RssShmem"),
            "child_pss_kb": statistics.fmean(k["pss"] for k in kids),
            "child_rss_kb": statistics.fmean(k["rss"] for k in kids),
            "child_rss_kb_max": max(k["rss"] for k in kids),
            "child_private_dirty_kb_max": max(k["private_dirty"] for k in kids),
            "children": len(kids)}


def fleet_yaml(origin, n):
    """n instances of one model in the block style of conf/base.yaml (a field a line;
    YAML files may have 32 MiB: 10 000 such instances take about 3 MiB)."""
    one = ('  - name: inst{i:05d}\n'
           '    api_key: "{key}"\n'
           '    api_base: "{origin}"\n'
           '    api_version: "{v}"\n'
           '    supported_models:\n'
           '      - {m}\n'
           '    model_deployments:\n'
           '      {m}: bench\n')
    return ("routing:\n  strategy: \"weighted\"\n  retries: 2\n  timeout: 30\ninstances:\n"
            + "".join(one.format(i=i, key=KEY, origin=origin, v=API_VERSION, m=MODEL)
                      for i in range(n)))


def measure_block_start(tmp, origin, n):
    """Start alone with n block-style instances: time, parent memory, YAML size."""
    text = fleet_yaml(origin, n)
    srv = Apache(os.path.join(tmp, "fleet-block-%d" % n), origin, yaml=text,
                 log_level="warn aoproxy:info", ready=(V1, CHAT))
    try:
        return {"instances": n, "yaml_bytes": len(text), "start_seconds": srv.start_seconds,
                "memory_at_start": server_memory(srv)}
    finally:
        srv.stop()


def measure_aoproxy(cfg, tmp, origin, n):
    """Start, memory and shared segment; traffic spread and /metrics; adds."""
    srv = Apache(os.path.join(tmp, "fleet-aop-%d" % n), origin, yaml=fleet_yaml(origin, n),
                 log_level="warn aoproxy:info", ready=(V1, CHAT))
    try:
        out = {"start_seconds": srv.start_seconds}
        out["shm_bytes"], out["shm_instance_slots"] = shm_bytes(srv)
        out["memory_at_start"] = server_memory(srv)
        # A fixed number of requests: each instance's fair share is a few.
        out["traffic"] = count_client.send(srv.port, V1, json.dumps(CHAT).encode(),
                                           cfg.fleet_requests_per_instance * n)
        out["memory_after_traffic"] = server_memory(srv)
        out["metrics"], _ = metrics(srv.port)
        out["paged"], texts = paged(srv.port, PAGE)
        out["traffic"]["instances_with_traffic"] = instances_with_traffic(texts)
        out["memory_after_metrics"] = server_memory(srv)
        out["add"] = adds_under_load(srv, origin, cfg.fleet_adds)
        out["memory_after_adds"] = server_memory(srv)
    finally:
        srv.stop()
    return out


def measure_plain(tmp, origin, n):
    srv = Apache(os.path.join(tmp, "fleet-plain-%d" % n), origin, plain_members=n,
                 ready=(DIRECT, CHAT))
    try:
        return {"start_seconds": srv.start_seconds, "memory_at_start": server_memory(srv)}
    finally:
        srv.stop()


def run(cfg, tmp, backend):
    origin = "http://127.0.0.1:%d" % backend.port
    out = {}
    for n in cfg.fleet_sizes:
        print("fleet: %d instances" % n)
        plain = measure_plain(tmp, origin, n)
        print("  plain    start %.2f s  parent RSS %d kB  child PSS %d kB" % (
            plain["start_seconds"], plain["memory_at_start"]["parent_rss_kb"],
            plain["memory_at_start"]["child_pss_kb"]))
        aop = measure_aoproxy(cfg, tmp, origin, n)
        print("  aoproxy  start %.2f s  parent RSS %d kB  child PSS %d kB  shm %s  "
              "traffic %d of %d  metrics %d B %.0f ms  add %.0f ms (load max %.0f ms, "
              "baseline max %.0f ms)" % (
                  aop["start_seconds"], aop["memory_at_start"]["parent_rss_kb"],
                  aop["memory_at_start"]["child_pss_kb"], aop["shm_bytes"],
                  aop["traffic"]["instances_with_traffic"], n, aop["metrics"]["bytes"],
                  aop["metrics"]["ms_median"], aop["add"]["add_ms_median"],
                  aop["add"]["load_during"]["max_ms"], aop["add"]["load_before"]["max_ms"]))
        out[str(n)] = {"plain": plain, "aoproxy": aop}
        print("           /metrics?limit=%d: %d pages, %.0f ms a page (max %.0f), "
              "/stats/instances?limit=%d %.0f ms" % (
                  PAGE, aop["paged"]["metrics_pages"], aop["paged"]["metrics_page_ms_median"],
                  aop["paged"]["metrics_page_ms_max"], PAGE,
                  aop["paged"]["stats_instances_ms_median"]))
    block = measure_block_start(tmp, origin, 2 * max(cfg.fleet_sizes))
    print("fleet: %d block-style instances (%d bytes of YAML): start %.2f s, parent RSS %d kB"
          % (block["instances"], block["yaml_bytes"], block["start_seconds"],
             block["memory_at_start"]["parent_rss_kb"]))
    return {"settings": {"sizes": cfg.fleet_sizes, "adds": cfg.fleet_adds,
                         "requests_per_instance": cfg.fleet_requests_per_instance,
                         "load_threads": LOAD_THREADS, "page": PAGE},
            "sizes": out, "block_start": block}


def mb(kb):
    return "%.1f MB" % (kb / 1024.0)


def slow_requests(ad):
    """Requests over 10 ms that overlapped an add, between the adds and in the baseline
    before them (runs saved before that split: all after the first add)."""
    def one(w):
        return "%d of %d" % (w.get("over_10ms", 0), w["requests"])
    if "load_overlapping_adds" not in ad:
        return one(ad["load_during"])
    return "**%s**; %s; %s" % (one(ad["load_overlapping_adds"]),
                               one(ad["load_between_adds"]), one(ad["load_before"]))


def markdown(part):
    st = part["settings"]
    page = st.get("page", PAGE)
    rows = ["| instances | server | start s | parent RSS (of it shared memory) | shared segment "
            "| child PSS at start "
            "| child PSS after traffic |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    ops = ["| instances | got traffic | requests | `POST /instances/add` ms (median, max) "
           "| light load p99 / max ms before | max ms during adds "
           "| requests > 10 ms: overlapping an add; between adds; before "
           "| `GET /metrics` (first page) size, ms "
           "| `/metrics?limit=%d` pages, ms a page (max) | `/stats/instances?limit=%d` ms "
           "| largest child RSS after /metrics | after the adds |" % (page, page),
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "| ---: |"]
    for n, x in part["sizes"].items():
        p, a = x["plain"], x["aoproxy"]
        rows.append("| %s | plain mod_proxy (%s members) | %.2f | %s (%s) | - | %s | - |" % (
            n, n, p["start_seconds"], mb(p["memory_at_start"]["parent_rss_kb"]),
            mb(p["memory_at_start"]["parent_rss_shmem_kb"]),
            mb(p["memory_at_start"]["child_pss_kb"])))
        rows.append("| %s | mod_aoproxy | %.2f | **%s** (%s) | %s (%s slots) | %s | %s |" % (
            n, a["start_seconds"], mb(a["memory_at_start"]["parent_rss_kb"]),
            mb(a["memory_at_start"]["parent_rss_shmem_kb"]),
            "%.0f MB" % (a["shm_bytes"] / 1048576.0) if a["shm_bytes"] else "?",
            a["shm_instance_slots"], mb(a["memory_at_start"]["child_pss_kb"]),
            mb(a["memory_after_traffic"]["child_pss_kb"])))
        t, ad, m, pg = a["traffic"], a["add"], a["metrics"], a["paged"]
        ops.append("| %s | **%d of %s** | %d | %.0f, %.0f | %.1f / %.1f | **%.0f** | %s "
                   "| %.1f MB, %.0f | %d, %.0f (%.0f) | %.0f | %s | %s |" % (
                       n, t["instances_with_traffic"], n, t["requests"], ad["add_ms_median"],
                       ad["add_ms_max"], ad["load_before"]["p99_ms"],
                       ad["load_before"]["max_ms"], ad["load_during"]["max_ms"],
                       slow_requests(ad),
                       m["bytes"] / 1048576.0, m["ms_median"], pg["metrics_pages"],
                       pg["metrics_page_ms_median"], pg["metrics_page_ms_max"],
                       pg["stats_instances_ms_median"],
                       mb(a["memory_after_metrics"]["child_rss_kb_max"]),
                       mb(a["memory_after_adds"]["child_rss_kb_max"])))
    b = part.get("block_start")
    block = ("A start alone with %d instances in block style (%.1f MB of YAML): %.2f s, "
             "parent RSS %s." % (b["instances"], b["yaml_bytes"] / 1048576.0,
                                 b["start_seconds"], mb(b["memory_at_start"]["parent_rss_kb"]))
             if b else "")
    return """## Large fleets

mod_aoproxy with N instances in its YAML (one model all serve, equal weights,
strategy weighted, one backend origin; block style, a field a line, as in
conf/base.yaml) against plain mod_proxy_balancer with N `BalancerMember`s; both with
the small benchmark MPM (2 fixed processes of 32 threads). Start: from
`apache2 -k start` until the server answers a chat request. The shared segment's
size is what AOP00050 logs (room for the configured instances plus
`AOProxyInstanceGrowth`); parent RSS counts the pages of it the parent touched.

{rows}

{block}

Then, for mod_aoproxy: {per} requests per instance (8 keep-alive clients; a fair
share would reach every instance) and how many instances `/metrics` counts with at
least one (read a page of {page} at a time); then {adds} `POST /instances/add` (a new
instance on the same origin, 1 s apart) while {threads} clients send the small chat
one request after the other (their latencies during {base} s before the first add,
the baseline, and from the first add until 1 s after the last; the requests over
10 ms are counted among those that overlapped an add's call or the 100 ms after its
answer, those between the adds, and the baseline's, since a Python client on 2 busy
cores has pauses of its own); `GET /metrics` (its default first page, 1000
instances) and `/stats/instances?limit={page}` are timed three times (median), every
page of `/metrics?limit={page}` once. The largest child's RSS is taken after /metrics
and again after the adds.

{ops}
""".format(rows="\n".join(rows), ops="\n".join(ops), per=st["requests_per_instance"],
           adds=st["adds"], base="%g" % max(1.5, st["adds"] + 1.0), threads=st["load_threads"],
           page=page, block=block)
