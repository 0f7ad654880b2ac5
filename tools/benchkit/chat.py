# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The small fast chat: a ~100-byte chat completion, JSON and streamed, through plain
mod_proxy_balancer and mod_aoproxy with 2 and 256 instances (and the backend itself,
the ceiling), at saturation and at light load; TTFB of streams; memory per child."""

import json
import os
import re
import socket
import statistics
import time

from .common import CHAT, DIRECT, DIRECT_STREAM, KEY, STREAM_MODEL, V1, memory_kb
from .rounds import median_of, paired, paired_cpu, run_rounds
from .servers import Apache
from .wrkload import wrk

LIGHT_CONNECTIONS = 2


def read_response(sock, buf, t0):
    """Reads one HTTP/1.1 response (Content-Length or chunked); returns the seconds
    from t0 to its first body byte, and what was read beyond it."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    while not buf:
        buf += sock.recv(65536)
    first = time.perf_counter() - t0
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        n = int(m.group(1))
        while len(buf) < n:
            buf += sock.recv(65536)
        return first, buf[n:]
    while b"\r\n0\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    end = buf.index(b"\r\n0\r\n\r\n") + 7
    return first, buf[end:]


def ttfb(port, path, body, n):
    """Time to the first body byte of n sequential streamed requests on one
    keep-alive connection, in ms (20 warm-up requests not counted)."""
    data = json.dumps(body).encode()
    req = (b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           b"api-key: %s\r\nContent-Length: %d\r\n\r\n" % (path.encode(), KEY.encode(),
                                                           len(data)) + data)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, times = b"", []
    for i in range(n + 20):
        t0 = time.perf_counter()
        sock.sendall(req)
        first, buf = read_response(sock, buf, t0)
        if i >= 20:
            times.append(first * 1000)
    sock.close()
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1],
            "mean_ms": statistics.fmean(times)}


def scenarios(servers, backend, cfg, tmp):
    """(name, fn) in the order they run: each comparison side by side, so that the
    machine's drift touches both alike."""
    body_s = dict(CHAT, stream=True)
    ours_s = dict(CHAT, model=STREAM_MODEL, stream=True)
    steps = []

    def add(name, srv, path, body, stream=False, light=False):
        port = srv.port
        url = "http://127.0.0.1:%d%s" % (port, path)
        conns = LIGHT_CONNECTIONS if light else cfg.connections
        pids = srv.pids if hasattr(srv, "pids") else None

        def fn():
            r = wrk(url, json.dumps(body), cfg.duration, conns, tmp, cpu_pids=pids())
            if stream:
                r["ttfb"] = ttfb(port, path, body, cfg.ttfb_requests)
            return r
        steps.append((name, fn))

    add("backend", backend, DIRECT, CHAT)
    add("backend_stream", backend, DIRECT_STREAM, body_s, stream=True)
    for n in ("", "_256"):
        plain, ours = servers["plain" + n], servers["aoproxy" + (n or "_2")]
        add("plain" + n, plain, DIRECT, CHAT)
        add("aoproxy" + (n or "_2"), ours, V1, CHAT)
        add("plain%s_stream" % n, plain, DIRECT_STREAM, body_s, stream=True)
        add("aoproxy%s_stream" % (n or "_2"), ours, V1, ours_s, stream=True)
    # Light load: at 32 connections on 2 cores a p99 is mostly queueing and follows
    # throughput; with LIGHT_CONNECTIONS it is the cost of a request's own path.
    add("plain_light", servers["plain"], DIRECT, CHAT, light=True)
    add("aoproxy_2_light", servers["aoproxy_2"], V1, CHAT, light=True)
    return steps


def ratios(res, rounds):
    plain, plain_s = res["plain"], res["plain_stream"]
    out = {}
    for name, base in (("aoproxy_2", "plain"), ("aoproxy_256", "plain")):
        out[name] = {"throughput_ratio": paired(rounds, name, base),
                     "added_p50_ms": res[name]["p50_ms"] - plain["p50_ms"],
                     "added_p99_ms": res[name]["p99_ms"] - plain["p99_ms"],
                     "added_cpu_us": paired_cpu(rounds, name, base),
                     "added_user_us": paired_cpu(rounds, name, base, "user_us")}
    for name in ("aoproxy_2_stream", "aoproxy_256_stream"):
        a = res[name]
        out[name] = {"throughput_ratio": paired(rounds, name, "plain_stream"),
                     "added_p99_ms": a["p99_ms"] - plain_s["p99_ms"],
                     "added_cpu_us": paired_cpu(rounds, name, "plain_stream"),
                     "added_user_us": paired_cpu(rounds, name, "plain_stream", "user_us"),
                     "added_ttfb_p50_ms": a["ttfb"]["p50_ms"] - plain_s["ttfb"]["p50_ms"],
                     "added_ttfb_p99_ms": a["ttfb"]["p99_ms"] - plain_s["ttfb"]["p99_ms"]}
    out["aoproxy_2_light"] = {
        "connections": LIGHT_CONNECTIONS,
        "added_p50_ms": res["aoproxy_2_light"]["p50_ms"] - res["plain_light"]["p50_ms"],
        "added_p99_ms": res["aoproxy_2_light"]["p99_ms"] - res["plain_light"]["p99_ms"],
        "added_cpu_us": paired_cpu(rounds, "aoproxy_2_light", "plain_light"),
        "added_user_us": paired_cpu(rounds, "aoproxy_2_light", "plain_light", "user_us")}
    out["backend_headroom"] = res["backend"]["rps"] / plain["rps"]
    out["flat_2_to_256"] = {"throughput_ratio": paired(rounds, "aoproxy_256", "aoproxy_2"),
                            "added_p99_ms": res["aoproxy_256"]["p99_ms"]
                            - res["aoproxy_2"]["p99_ms"],
                            "plain_throughput_ratio": paired(rounds, "plain_256", "plain"),
                            "vs_plain_256": paired(rounds, "aoproxy_256", "plain_256")}
    return out


def memory(servers):
    out = {}
    for name, srv in servers.items():
        kb = [memory_kb(p) for p in srv.pids()]
        out[name] = {"processes": len(kb),
                     "rss_kb_mean": statistics.fmean(x["rss"] for x in kb),
                     "rss_kb_max": max(x["rss"] for x in kb),
                     "pss_kb_mean": statistics.fmean(x["pss"] for x in kb),
                     "private_dirty_kb_mean": statistics.fmean(x["private_dirty"] for x in kb)}
    for name in ("plain_256", "aoproxy_2", "aoproxy_256"):
        out[name]["ratio_to_plain"] = out[name]["rss_kb_mean"] / out["plain"]["rss_kb_mean"]
    return out


def run(cfg, tmp, backend):
    origin = "http://127.0.0.1:%d" % backend.port
    print("chat: %ds per run, %d connections, %d rounds" % (cfg.duration, cfg.connections,
                                                           cfg.repeat))
    servers, rounds = {}, {}
    try:
        servers["plain"] = Apache(os.path.join(tmp, "plain"), origin)
        # The same balancer with 256 members: what mod_proxy_balancer itself costs per
        # member, apart from our selection and accounting.
        servers["plain_256"] = Apache(os.path.join(tmp, "plain256"), origin, plain_members=256)
        servers["aoproxy_2"] = Apache(os.path.join(tmp, "aop2"), origin, 2)
        servers["aoproxy_256"] = Apache(os.path.join(tmp, "aop256"), origin, 256)
        run_rounds(scenarios(servers, backend, cfg, tmp), cfg.repeat, rounds)
        mem = memory(servers)
    finally:
        for srv in servers.values():
            srv.stop()
    results = {name: median_of(runs) for name, runs in rounds.items()}
    return {"settings": {"duration": cfg.duration, "connections": cfg.connections,
                         "repeat": cfg.repeat, "ttfb_requests": cfg.ttfb_requests},
            "results": results, "rounds": rounds, "memory": mem,
            "ratios": ratios(results, rounds)}


def markdown(part):
    res, rat, mem, st = part["results"], part["ratios"], part["memory"], part["settings"]
    rows = ["| run | req/s | p50 ms | p99 ms | server CPU us/req | TTFB p50 ms | TTFB p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in res.items():
        t, c = r.get("ttfb"), r.get("cpu")
        rows.append("| %s | %.0f | %.2f | %.2f | %s | %s | %s |" % (
            name, r["rps"], r["p50_ms"], r["p99_ms"],
            "%.1f" % c["us_per_request"] if c else "",
            "%.3f" % t["p50_ms"] if t else "", "%.3f" % t["p99_ms"] if t else ""))
    ratio_rows = ["| vs plain mod_proxy | throughput | added CPU us/req | of it user "
                  "| added p99 ms | added TTFB p50 ms |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("aoproxy_2", "aoproxy_256", "aoproxy_2_stream", "aoproxy_256_stream"):
        x = rat[name]
        ratio_rows.append("| %s | %.3f | %+.1f | %+.1f | %+.3f | %s |" % (
            name, x["throughput_ratio"], x.get("added_cpu_us", float("nan")),
            x.get("added_user_us", float("nan")), x["added_p99_ms"],
            "%+.3f" % x["added_ttfb_p50_ms"] if "added_ttfb_p50_ms" in x else ""))
    mem_rows = ["| server | processes | RSS per process (kB) | vs plain | PSS (kB) "
                "| private dirty (kB) |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, x in mem.items():
        mem_rows.append("| %s | %d | %.0f | %s | %.0f | %.0f |" % (
            name, x["processes"], x["rss_kb_mean"],
            "%.3f" % x["ratio_to_plain"] if "ratio_to_plain" in x else "",
            x.get("pss_kb_mean", 0), x.get("private_dirty_kb_mean", 0)))
    light = rat["aoproxy_2_light"]
    return """## Small chat: throughput, latency, CPU, TTFB

wrk with {conn} connections for {dur} s a run, {rounds} rounds; a ~100-byte
chat completion, as JSON and streamed (SSE). A server's CPU is its serving processes'
(Apache's children, nginx's workers) user + system time over the run divided by the
requests served.

The backend (nginx answering a fixed JSON or SSE body) served {head:.1f}x the plain
proxy's rate: it is not the bottleneck.

{rows}

{ratios}

At light load ({light_c} connections, where a p99 is a request's own path rather than
queueing): mod_aoproxy adds {light_p50:+.3f} ms at p50 and {light_p99:+.3f} ms at
p99, and {light_cpu:+.1f} us of Apache CPU per request ({light_user:+.1f} us of it user
time).

Selection and accounting with 256 instances instead of 2: throughput ratio
{flat_t:.3f}, added p99 {flat_p:+.3f} ms. For comparison, plain mod_proxy_balancer with
256 members instead of 1: throughput ratio {flat_plain:.3f}. mod_aoproxy with 256
instances against plain mod_proxy_balancer with 256 members: {vs256:.3f}.

Memory per Apache child after the runs:

{mem_rows}
""".format(conn=st["connections"], dur=st["duration"], rounds=st["repeat"],
           head=rat["backend_headroom"], rows="\n".join(rows), ratios="\n".join(ratio_rows),
           flat_t=rat["flat_2_to_256"]["throughput_ratio"],
           vs256=rat["flat_2_to_256"]["vs_plain_256"],
           flat_p=rat["flat_2_to_256"]["added_p99_ms"],
           flat_plain=rat["flat_2_to_256"]["plain_throughput_ratio"],
           light_c=light["connections"], light_p50=light["added_p50_ms"],
           light_p99=light["added_p99_ms"], light_cpu=light.get("added_cpu_us", float("nan")),
           light_user=light.get("added_user_us", float("nan")),
           mem_rows="\n".join(mem_rows))
