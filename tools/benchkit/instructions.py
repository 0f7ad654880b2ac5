# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Instructions per request: one Apache process (`httpd -X`) under callgrind serves
the small chat, JSON and streamed (and JSON with an https backend), through plain
mod_proxy_balancer and through mod_aoproxy (2 instances).  Unlike CPU time, the count is the same run after run
whatever else the machine does, so it shows a change's own cost where the other parts'
ratios are within their noise.  A count is (instructions after warm-up + N requests
- instructions after warm-up alone) / N, inside ap_run_process_connection only
(COUNTED): start-up, shutdown and the background tasks stay out."""

import http.client
import json
import os
import shutil
import subprocess
import time

from .common import CHAT, DIRECT, DIRECT_STREAM, HTTPD, KEY, STREAM_MODEL, V1, wait_port
from . import servers

WARM_UP = 30
KINDS = (("json", "small chat, JSON"), ("stream", "small chat, streamed"),
         ("tls", "small chat, JSON, https backend"))


# Only what runs inside it is counted (the caches are simulated throughout): every
# phase of a request, on one keep-alive connection.  Left out are the event MPM's
# listener (the same for both servers) and the module's background tasks, which run
# as often as the slow run under callgrind lets them: counted, they moved a small
# chat's count by 1 000 between two runs of one build; left out, two runs agree to
# about 10 instructions.
COUNTED = "ap_run_process_connection"

# The first-level cache misses callgrind simulates (the machine's own L1 geometry):
# instruction reads, data reads, data writes.
MISSES = ("I1mr", "D1mr", "D1mw")


def count(root_dir, srv, path, body, n):
    """The events of one `httpd -X` run that served WARM_UP + n requests: instructions
    ("Ir") and the simulated first-level cache misses (MISSES)."""
    out = os.path.join(root_dir, "callgrind-%d.out" % n)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--cache-sim=yes",
                             "--toggle-collect=" + COUNTED,
                             "--callgrind-out-file=" + out,
                             HTTPD, "-X", "-d", srv.root, "-f", srv.conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(srv.port, 120)
        # httpd writes the profile at exit as its User, after creating it as root.
        os.chmod(out, 0o666)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        data = json.dumps(body)
        for _ in range(WARM_UP + n):
            conn.request("POST", path, data, {"Content-Type": "application/json",
                                              "api-key": KEY})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError("%s answered %d" % (path, resp.status))
        conn.close()
    finally:
        proc.terminate()
        proc.wait(120)
    events = None
    with open(out) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif events and (line.startswith("summary:") or line.startswith("totals:")):
                return dict(zip(events, (int(x) for x in line.split()[1:])))
    raise RuntimeError("no callgrind summary in " + out)


def per_request(tmp, name, srv, path, body, n):
    root_dir = os.path.join(tmp, "instr-" + name)
    os.makedirs(root_dir, exist_ok=True)
    os.chmod(root_dir, 0o777)
    base = count(root_dir, srv, path, body, 0)
    total = count(root_dir, srv, path, body, n)
    return {k: (total.get(k, 0) - base.get(k, 0)) / n for k in ("Ir",) + MISSES}


def run(cfg, tmp, backend):
    if not shutil.which("valgrind"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=True)
    origin = "http://127.0.0.1:%d" % backend.port
    n = cfg.instr_requests
    print("instr: callgrind, %d requests a run" % n)
    results, misses = {}, {}
    stream = dict(CHAT, stream=True)
    for name, instances in (("plain", 0), ("aoproxy_2", 2)):
        # Started once as the benchmark starts it (its configuration written), stopped,
        # then run by hand under valgrind.
        srv = servers.Apache(os.path.join(tmp, "instr-srv-" + name), origin, instances)
        srv.stop()
        time.sleep(0.5)
        ours = instances > 0
        for kind, path, body in (
                ("json", V1 if ours else DIRECT, CHAT),
                ("stream", V1 if ours else DIRECT_STREAM,
                 dict(stream, model=STREAM_MODEL) if ours else stream)):
            key = "%s_%s" % (name, kind)
            record(results, misses, key, per_request(tmp, key, srv, path, body, n))
    tls_root = os.path.join(tmp, "instr-tls")
    os.makedirs(tls_root, exist_ok=True)
    cert, pkey = servers.self_signed(tls_root)
    tls_backend = servers.backend(os.path.join(tls_root, "backend"), tls=(cert, pkey))
    try:
        origin = "https://127.0.0.1:%d" % tls_backend.tls_port
        for name, instances in (("plain", 0), ("aoproxy_2", 2)):
            ours = instances > 0
            srv = servers.Apache(os.path.join(tls_root, name), origin, instances, ssl_ca=cert,
                                 ready=(V1 if ours else DIRECT, CHAT))
            srv.stop()
            time.sleep(0.5)
            key = "%s_tls" % name
            record(results, misses, key,
                   per_request(tmp, key, srv, V1 if ours else DIRECT, CHAT, n))
    finally:
        tls_backend.stop()
    added = {kind: results["aoproxy_2_" + kind] - results["plain_" + kind]
             for kind, _ in KINDS if "plain_" + kind in results}
    return {"settings": {"requests": n, "warm_up": WARM_UP}, "results": results,
            "added": added, "misses": misses}


def record(results, misses, key, events):
    results[key] = events["Ir"]
    misses[key] = {k: events[k] for k in MISSES}
    print("  %-18s %9.0f instructions a request, L1 misses: %s" % (
        key, events["Ir"], ", ".join("%s %.0f" % (k, events[k]) for k in MISSES)))


def markdown(part):
    r, a = part["results"], part["added"]
    m = part.get("misses", {})
    rows = ["| request | plain mod_proxy | mod_aoproxy (2 instances) | added | ratio "
            "| L1 misses: plain | mod_aoproxy | added |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind, label in KINDS:
        if kind not in a:               # runs saved before the https row
            continue
        p, o = r["plain_" + kind], r["aoproxy_2_" + kind]
        mp, mo = (sum(m.get(x + "_" + kind, {}).values()) for x in ("plain", "aoproxy_2"))
        rows.append("| %s | %.0f | %.0f | **%+.0f** | %.3f | %.0f | %.0f | **%+.0f** |" % (
            label, p, o, a[kind], o / p, mp, mo, mo - mp))
    return """## Instructions per request

One Apache process (`apache2 -X`, the event MPM's configuration of the small chat
part) under valgrind's callgrind serves {warm} requests to warm up and then {n} more,
one after the other on one keep-alive connection; a count is the difference between
that run and one of the warm-up alone, divided by {n}, of what runs inside
`ap_run_process_connection` (callgrind's `--toggle-collect`: every phase of a request,
not the MPM's listener nor the module's background tasks, whose share of a run
depends on how long it takes; counts saved until 4 December, 17:50Z included them,
about 3 400 instructions more for plain and a few hundred more for the module, and
moved by up to 1 000 between runs). Instructions are not time
(the kernel's work, most of a proxied request's, is not in them, and a cache miss
costs the time of many), but they are the same from run to run whatever else the
machine does: the module's own cost, free of the noise in the other parts. The https row is the
small chat again with the HTTPS part's backend (nginx on TLS, verified): the TLS
work is the same for both, so what the module adds there should be what it adds on
http.

L1 misses are callgrind's simulation of the machine's first-level caches (its
`--cache-sim`): instruction reads, data reads and data writes that missed, added up.
Each costs a trip to the second level or beyond; the module's code run on every
request beside httpd's is more than the instruction cache keeps (docs/performance.md
counts it), and on a busy host each miss costs more. They are why the module's share of a request's time
is larger than its share of the instructions, and why it grows when the machine is
loaded (docs/performance.md, "TLS to Azure").

{rows}
""".format(warm=part["settings"]["warm_up"], n=part["settings"]["requests"],
           rows="\n".join(rows))
