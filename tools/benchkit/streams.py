# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Slow concurrent streams, as LLM traffic is: N clients, each holding one streamed
chat request that the backend (benchkit.sse_backend) answers over several seconds,
started in a linear ramp. Per proxy (plain mod_proxy, mod_aoproxy, nginx as the
reference) and N: completed, failed, TTFB p50/p99, and memory per stream (the serving
processes' PSS when the most streams were in progress, minus their PSS before, over
that number of streams). Every run has fresh servers, so no run inherits another's
memory. Both Apaches run the MPM settings the package ships
(conf/aoproxy-streaming.conf, read as it is); a second set runs Debian's stock event
MPM settings."""

import asyncio
import os
import statistics
import subprocess
import sys
import time

from .common import (DIRECT_STREAM, STREAM_MODEL, TOP, V1, chat_body, cpu_seconds,
                     pss_sum_kb)
from .servers import DEBIAN_MPM, Apache, nginx_proxy, stream_mpm
from .stream_client import Progress, raise_fd_limit, run_streams, summarize

RAMP_PER_SECOND = 500       # new streams a second: a steep but not instant arrival
SAMPLE_SECONDS = 0.5


class SseBackend:
    def __init__(self, seconds, events):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchkit.sse_backend", "--port", "0",
             "--seconds", str(seconds), "--events", str(events)],
            cwd=os.path.join(TOP, "tools"), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError("the SSE backend did not start")
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def start_proxy(kind, root, backend_port, mpm):
    """(server, path) for kind plain / aoproxy / nginx, ready to serve."""
    origin = "http://127.0.0.1:%d" % backend_port
    if kind == "nginx":
        return nginx_proxy(root, backend_port), DIRECT_STREAM
    ready_body = chat_body(0, model=STREAM_MODEL)      # not streamed: answered at once
    if kind == "plain":
        srv = Apache(root, origin, mpm=mpm, ready=(DIRECT_STREAM, ready_body))
        return srv, DIRECT_STREAM
    return Apache(root, origin, 2, mpm=mpm, ready=(V1, ready_body)), V1


def settled(srv, quiet=0.5, limit=10):
    """The serving processes once their number has not changed for `quiet` seconds
    (a server answers before it has started all of them)."""
    pids, since, end = srv.pids(), time.time(), time.time() + limit
    while time.time() < end and time.time() - since < quiet:
        time.sleep(0.1)
        now = srv.pids()
        if sorted(now) != sorted(pids):
            pids, since = now, time.time()
    return pids


async def sample(srv, progress, samples, stop):
    """The serving processes' PSS with the streams in progress, every SAMPLE_SECONDS
    (the processes asked each time: Debian's MPM settings start more)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        n = progress.in_progress()
        kb = await asyncio.to_thread(lambda: pss_sum_kb(srv.pids()))
        # Streams still waiting for their first byte hold their request bodies (they
        # can still fail over): a sample with any is no measure of a stream's memory.
        samples.append({"in_progress": min(n, progress.in_progress()), "pss_kb": kb,
                        "waiting": progress.connected - progress.first_byte})
        due = loop.time() + SAMPLE_SECONDS
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)
        except TimeoutError:
            # How late the client's own loop woke: when it lags (a starved client on a
            # busy machine), its TTFB numbers carry that lag.
            progress.lag_max = max(progress.lag_max, loop.time() - due)


async def drive(srv, path, body, n, timeout):
    progress, samples, stop = Progress(), [], asyncio.Event()
    sampler = asyncio.create_task(sample(srv, progress, samples, stop))
    records = await run_streams(srv.port, path, body, n, n / RAMP_PER_SECOND, timeout, progress)
    stop.set()
    await sampler
    return records, samples, progress


def one_run(kind, root, backend_port, mpm, n, prompt, timeout):
    srv, path = start_proxy(kind, root, backend_port, mpm)
    try:
        pids = settled(srv)
        idle = pss_sum_kb(pids)
        cpu0 = cpu_seconds(pids)
        body = chat_body(prompt, model=STREAM_MODEL, stream=True)
        t0 = time.perf_counter()
        records, samples, progress = asyncio.run(drive(srv, path, body, n, timeout))
        wall = time.perf_counter() - t0
        cpu1 = cpu_seconds(srv.pids())
    finally:
        srv.stop()
    out = summarize(records)
    peak, streaming = streaming_samples(samples)
    out.update({"processes": len(pids), "idle_pss_kb": idle, "peak": peak,
                "client_lag_max_ms": progress.lag_max * 1000,
                "pss_per_stream_kb": (statistics.median(s["pss_kb"] for s in streaming) - idle)
                / peak["in_progress"] if streaming else None,
                "peak_pss_per_stream_kb": (max(s["pss_kb"] for s in samples) - idle) / n
                if samples else None,
                "cpu_ms_per_stream": (sum(cpu1) - sum(cpu0)) * 1000 / n,
                "wall_seconds": wall})
    return out


def streaming_samples(samples):
    """(peak, samples): the samples with the most streams in progress, all of them past
    their first byte (the memory a stream holds while it streams: the median of
    them), else with the most in progress whatever they wait for."""
    done = [s for s in samples if s["waiting"] == 0 and s["in_progress"]] or samples
    if not done:
        return {"in_progress": 0, "pss_kb": 0}, []
    most = max(s["in_progress"] for s in done)
    chosen = [s for s in done if s["in_progress"] == most]
    return chosen[0], chosen


def describe(r):
    return ("%5d/%d completed, %d failed %s  ttfb p50 %s p99 %s ms  %s kB/stream "
            "(%d in progress; peak %s)  %.1f s  client lag %.0f ms" % (
                r["completed"], r["streams"], r["failed"], r["errors"] or "",
                fmt(r["ttfb_p50_ms"]), fmt(r["ttfb_p99_ms"]), fmt(r["pss_per_stream_kb"]),
                r["peak"]["in_progress"], fmt(r.get("peak_pss_per_stream_kb")),
                r["wall_seconds"], r["client_lag_max_ms"]))


def fmt(v):
    return "-" if v is None else "%.1f" % v


def directives(conf):
    """The configuration's directive lines, without comments and blank lines."""
    return "\n".join(line.strip() for line in conf.splitlines()
                     if line.strip() and not line.strip().startswith("#"))


def run(cfg, tmp):
    raise_fd_limit()
    mpm = stream_mpm()
    backend = SseBackend(cfg.stream_seconds, cfg.stream_events)
    timeout = cfg.stream_seconds * 4 + 30
    runs = {}
    try:
        print("streams: %g s each, %d events, ramp %d/s; stream MPM:" % (
            cfg.stream_seconds, cfg.stream_events, RAMP_PER_SECOND))
        for label, prompt, n in cfg.stream_sets:
            for kind in ("plain", "aoproxy", "nginx"):
                name = "%s_%s_%d" % (kind, label, n)
                print("  %-24s" % name, end="", flush=True)
                r = one_run(kind, os.path.join(tmp, "st-" + name), backend.port, mpm,
                            n, prompt, timeout)
                r.update({"kind": kind, "prompt": label, "prompt_bytes": prompt, "n": n})
                runs[name] = r
                print(describe(r))
        print("streams: Debian's default event MPM:")
        n = cfg.debian_streams
        for kind in ("plain", "aoproxy"):
            name = "%s_debian_%d" % (kind, n)
            print("  %-24s" % name, end="", flush=True)
            r = one_run(kind, os.path.join(tmp, "st-" + name), backend.port, DEBIAN_MPM, n, 0,
                        cfg.stream_seconds * (n // 100 + 4) + 30)
            r.update({"kind": kind, "prompt": "debian", "prompt_bytes": 0, "n": n})
            runs[name] = r
            print(describe(r))
    finally:
        backend.stop()
    return {"settings": {"stream_seconds": cfg.stream_seconds, "events": cfg.stream_events,
                         "ramp_per_second": RAMP_PER_SECOND, "sets": cfg.stream_sets,
                         "debian_streams": cfg.debian_streams,
                         "stream_mpm": directives(mpm), "debian_mpm": DEBIAN_MPM},
            "runs": runs}


def markdown(part):
    st, runs = part["settings"], part["runs"]
    rows = ["| prompt | streams | proxy | completed | failed | TTFB p50 ms | TTFB p99 ms "
            "| PSS per stream (kB) | vs plain | peak PSS per stream (kB) | CPU ms/stream "
            "| client lag ms |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = {"plain": "plain mod_proxy", "aoproxy": "mod_aoproxy", "nginx": "nginx"}
    for label, prompt, n in st["sets"]:
        base = runs.get("plain_%s_%d" % (label, n))
        for kind in ("plain", "aoproxy", "nginx"):
            r = runs["%s_%s_%d" % (kind, label, n)]
            rows.append(row(r, base, names[kind], "%s (%d B)" % (label, r["prompt_bytes"])
                            if prompt else "small"))
    deb = ["| streams | proxy | completed | failed | TTFB p50 ms | TTFB p99 ms | TTFB max ms |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind in ("plain", "aoproxy"):
        r = runs["%s_debian_%d" % (kind, st["debian_streams"])]
        deb.append("| %d | %s | %d | %d | %s | %s | %s |" % (
            r["n"], names[kind], r["completed"], r["failed"], fmt(r["ttfb_p50_ms"]),
            fmt(r["ttfb_p99_ms"]), fmt(r["ttfb_max_ms"])))
    return """## Slow concurrent streams

Each client holds one streamed chat request (`"stream": true`) on its own connection;
the backend, a one-process asyncio server (`tools/benchkit/sse_backend.py`), reads the
whole request and then answers with an Azure-shaped SSE stream that lasts
{secs:g} s ({events} content events, one every {every:g} s, the first events at
once). Clients start in a linear ramp of {ramp} a second; one asyncio process drives them all
(`tools/benchkit/stream_client.py`). A stream completed when it got status 200 and
every chunk to `data: [DONE]`. TTFB is from the client's connect to the first body
byte. PSS per stream: the serving processes' PSS (Apache's children, nginx's workers),
sampled every {sample} s, minus their PSS before the run, divided by the streams in
progress; the median of the samples with the most streams in progress and none still
waiting for its first byte: memory while a stream streams (mod_aoproxy has given
the body back). Peak PSS per stream: the highest sample over the run, divided by all
the streams; it includes requests still waiting for their first byte (mod_aoproxy
keeps such a request's body, for failover).
Each run starts fresh servers.
CPU: the serving processes' user + system time over the run, per stream. Client lag:
how late the client's own event loop woke at worst (a client starved by other work
on the machine adds that much to the TTFBs it measures).

Both Apaches run the event MPM with the settings the package ships for streaming
gateways, `conf/aoproxy-streaming.conf` (Debian:
`/etc/apache2/conf-available/aoproxy-streaming.conf`), read as it is; its directives
(nginx: `worker_processes auto`, `proxy_buffering off`, keep-alive to the backend):

```
{mpm}
```

{rows}

Debian's stock event MPM settings (`mods-available/mpm_event.conf`), {n} streams:
each stream holds a worker thread for its whole length, so no more than
MaxRequestWorkers (150) are served at once and the others wait in the listen queue.

```
{deb_mpm}
```

{deb}
""".format(secs=st["stream_seconds"], events=st["events"],
           every=st["stream_seconds"] / max(st["events"], 1), ramp=st["ramp_per_second"],
           sample=SAMPLE_SECONDS, mpm=st["stream_mpm"], rows="\n".join(rows),
           n=st["debian_streams"], deb_mpm=st["debian_mpm"], deb="\n".join(deb))


def row(r, base, name, prompt):
    ratio = ""
    if base is not None and r is not base and r["pss_per_stream_kb"] and \
            base["pss_per_stream_kb"]:
        ratio = "%.2f" % (r["pss_per_stream_kb"] / base["pss_per_stream_kb"])
    return "| %s | %d | %s | %d | %d | %s | %s | %s | %s | %s | %.2f | %s |" % (
        prompt, r["n"], name, r["completed"], r["failed"], fmt(r["ttfb_p50_ms"]),
        fmt(r["ttfb_p99_ms"]), fmt(r["pss_per_stream_kb"]), ratio,
        fmt(r.get("peak_pss_per_stream_kb")), r["cpu_ms_per_stream"],
        "%.0f" % r["client_lag_max_ms"] if "client_lag_max_ms" in r else "")
