# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Long prompts: chat requests of 1 KB, 100 KB and 1 MB through plain mod_proxy and
mod_aoproxy (the backend answers the same small JSON): throughput, latency and
Apache's CPU time per request."""

import os

from .common import DIRECT, V1, chat_body
from .rounds import median_of, paired, paired_cpu, run_rounds
from .servers import Apache
from .wrkload import wrk

SIZES = (("1k", 1024), ("100k", 100 * 1024), ("1m", 1024 * 1024))


def run(cfg, tmp, backend):
    origin = "http://127.0.0.1:%d" % backend.port
    print("bodies: %ds per run, %d connections, %d rounds" % (
        cfg.body_duration, cfg.connections, cfg.body_repeat))
    servers, rounds = {}, {}
    try:
        servers["plain"] = Apache(os.path.join(tmp, "bodies-plain"), origin)
        servers["aoproxy"] = Apache(os.path.join(tmp, "bodies-aop"), origin, 2)
        steps = []
        for label, size in SIZES:
            body = chat_body(size)
            for name, path in (("plain", DIRECT), ("aoproxy", V1)):
                srv = servers[name]
                url = "http://127.0.0.1:%d%s" % (srv.port, path)
                steps.append(("%s_%s" % (name, label),
                              lambda url=url, srv=srv, body=body: wrk(
                                  url, body, cfg.body_duration, cfg.connections, tmp,
                                  cpu_pids=srv.pids())))
        run_rounds(steps, cfg.body_repeat, rounds)
    finally:
        for srv in servers.values():
            srv.stop()
    results = {name: median_of(runs) for name, runs in rounds.items()}
    out = {}
    for label, size in SIZES:
        p, a = "plain_" + label, "aoproxy_" + label
        out[label] = {"bytes": len(chat_body(size)),
                      "plain": results[p], "aoproxy": results[a],
                      "throughput_ratio": paired(rounds, a, p),
                      "added_cpu_us": paired_cpu(rounds, a, p),
                      "added_user_us": paired_cpu(rounds, a, p, "user_us"),
                      "added_system_us": paired_cpu(rounds, a, p, "system_us")}
    return {"settings": {"duration": cfg.body_duration, "connections": cfg.connections,
                         "repeat": cfg.body_repeat},
            "sizes": out, "rounds": rounds}


def signed(v):
    return "?" if v is None else "%+.1f" % v


def markdown(part):
    st = part["settings"]
    rows = ["| body | plain req/s | mod_aoproxy req/s | ratio | plain CPU us/req "
            "| mod_aoproxy CPU us/req | added CPU us/req (user, system) | plain p99 ms "
            "| mod_aoproxy p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, x in part["sizes"].items():
        p, a = x["plain"], x["aoproxy"]
        rows.append("| %s (%d B) | %.0f | %.0f | **%.3f** | %.1f | %.1f | **%+.1f** (%s, %s) "
                    "| %.2f | %.2f |" % (
                        label.upper().replace("K", " KB").replace("M", " MB"), x["bytes"],
                        p["rps"], a["rps"], x["throughput_ratio"], p["cpu"]["us_per_request"],
                        a["cpu"]["us_per_request"], x["added_cpu_us"],
                        signed(x.get("added_user_us")), signed(x.get("added_system_us")),
                        p["p99_ms"], a["p99_ms"]))
    errors = sum(r["non_2xx"] + r["socket_errors"] for runs in part["rounds"].values()
                 for r in runs)
    return """## Request body size: 1 KB, 100 KB, 1 MB prompts

wrk with {conn} connections for {dur} s a run, {rounds} rounds, posting a
chat request whose prompt brings the body to the size given; the backend answers the same
small JSON. Plain mod_proxy_balancer (1 member) against mod_aoproxy (2 instances);
CPU is the Apache children's user + system time over the run divided by the requests
served (user time is where the module's own work shows; system time is mostly the
network's, the same for both, and noisier). The ratio and the added CPU are medians
of the per-round ones.

{rows}

Failed requests (non-2xx answers and socket errors) over all runs: {errors}.
""".format(conn=st["connections"], dur=st["duration"], rounds=st["repeat"],
           rows="\n".join(rows), errors=errors)
