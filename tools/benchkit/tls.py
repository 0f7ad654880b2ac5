# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""An HTTPS backend, as Azure is: nginx with a self-signed certificate that the
proxies verify (Apache: SSLProxyEngine with that certificate as its one CA; nginx:
proxy_ssl_verify). Small chat throughput through plain mod_proxy, mod_aoproxy and
nginx as a reverse proxy, and the TLS handshakes each made at the backend: each
backend connection's first request is logged with whether its session was resumed,
so the log shows whether connections are reused."""

import json
import os
import random
import statistics

from .common import CHAT, DIRECT, V1, cpu_seconds, machine_busy_seconds
from .rounds import (median_interval, median_of, paired, paired_cpu, paired_difference,
                     run_rounds)
from .servers import Apache, backend, nginx_proxy, self_signed
from .wrkload import wrk


class Handshakes:
    """The backend's log of new connections: one line per connection, with whether
    its TLS session was resumed and the protocol."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path) as f:
                return [x.split() for x in f.read().split("\n") if x.strip()]
        except OSError:
            return []


def observed(fn, hs, be):
    """fn() with what happened meanwhile added to its result: the connections the
    backend saw opened, and the CPU time, per request, of the backend and of the whole
    machine (wrk, the proxy and the backend together: what a proxy's extra work costs
    all of them, as its code and data crowd theirs out of the shared caches)."""
    def run():
        n0 = len(hs.lines())
        be0, m0 = sum(cpu_seconds(be.pids())), machine_busy_seconds()
        r = fn()
        be1, m1 = sum(cpu_seconds(be.pids())), machine_busy_seconds()
        new = hs.lines()[n0:]
        r["handshakes"] = {"new_connections": len(new),
                           "resumed": sum(1 for x in new if x[1:2] == ["r"]),
                           "protocols": sorted({x[2] for x in new if len(x) > 2})}
        if r["requests"]:
            r["backend_us"] = (be1 - be0) * 1e6 / r["requests"]
            r["machine_us"] = (m1 - m0) * 1e6 / r["requests"]
        return r
    return run


def spread(rounds, a, b):
    """The per-round ratios of a over b: their quartiles and the share of rounds at or
    above 0.95 (how far a median of them can be trusted on a noisy machine)."""
    r = sorted(x["rps"] / y["rps"] for x, y in zip(rounds[a], rounds[b]))
    q = statistics.quantiles(r, n=4, method="inclusive") if len(r) > 1 else [r[0]] * 3
    lo, hi = median_interval(r)
    return {"q1": q[0], "q3": q[2], "min": r[0], "max": r[-1],
            "share_at_least_0_95": sum(1 for x in r if x >= 0.95) / len(r),
            "median_90_low": lo, "median_90_high": hi}


def run(cfg, tmp):
    root = os.path.join(tmp, "tls")
    os.makedirs(root, exist_ok=True)
    cert, key = self_signed(root)
    be = backend(os.path.join(root, "backend"), tls=(cert, key))
    hs = Handshakes(os.path.join(root, "backend", "handshakes.log"))
    origin = "https://127.0.0.1:%d" % be.tls_port
    per = -(-cfg.tls_repeat // cfg.tls_blocks)     # rounds a block
    print("tls: %ds per run, %d connections, %d rounds of the proxies compared in %d "
          "blocks, %d with the references" % (cfg.tls_duration, cfg.connections,
                                               per * cfg.tls_blocks, cfg.tls_blocks,
                                               cfg.tls_ref_repeat))
    rounds, ref_rounds = {}, {}
    # Each Apache, as it is started: the servers run with ASLR, so a server's layout
    # (and its few per cent of speed, the same for the server's whole life) is drawn at
    # its start; restarted for each block, in a new order, that draw averages out.
    make = {
        "plain": lambda: Apache(os.path.join(root, "plain"), origin, ssl_ca=cert,
                                ready=(DIRECT, CHAT)),
        # The control: a second plain mod_proxy configured as the first.  Its ratio
        # to the first is what the machine alone makes of two equal servers.
        "plain_again": lambda: Apache(os.path.join(root, "plain-again"), origin,
                                      ssl_ca=cert, ready=(DIRECT, CHAT)),
        "aoproxy": lambda: Apache(os.path.join(root, "aop"), origin, 2, ssl_ca=cert,
                                  ready=(V1, CHAT)),
        # Two members on the one backend, as mod_aoproxy's two instances: as many
        # connection pools, so as many backend connections (each member keeps its own).
        "plain_2": lambda: Apache(os.path.join(root, "plain2"), origin, plain_members=2,
                                  ssl_ca=cert, ready=(DIRECT, CHAT))}
    paths = {"plain": DIRECT, "plain_again": DIRECT, "aoproxy": V1, "plain_2": DIRECT,
             "nginx": DIRECT}
    ngx = None
    try:
        ngx = nginx_proxy(os.path.join(root, "nginx"), be.tls_port, "https", cert)

        def step(servers, name):
            srv = servers[name]
            url = "http://127.0.0.1:%d%s" % (srv.port, paths[name])
            return (name, observed(lambda: wrk(url, json.dumps(CHAT), cfg.tls_duration,
                                              cfg.connections, tmp, cpu_pids=srv.pids()),
                                  hs, be))

        def block(names, repeat, into, extra=()):
            """Starts the Apaches named (in a random order), runs the rounds of extra
            and of all the servers named ("nginx": the one running), stops them."""
            servers = {"nginx": ngx}
            started = [n for n in names if n != "nginx"]
            try:
                for name in random.sample(started, len(started)):
                    servers[name] = make[name]()
                run_rounds(list(extra) + [step(servers, n) for n in names], repeat, into)
            finally:
                for name in started:
                    if name in servers:
                        servers[name].stop()

        # The proxies compared, back to back in every round (the rounds alternate the
        # order, plain always beside the other two): the machine's drift, larger than
        # the difference, cancels best so, and the more rounds the steadier the median.
        for _ in range(cfg.tls_blocks):
            block(["plain_again", "plain", "aoproxy"], per, rounds)
        # The references, fewer rounds: the backend alone (it is not the bottleneck),
        # plain mod_proxy with 2 members, and nginx as a proxy, each beside plain
        # mod_proxy of the same round.
        direct = ("backend", observed(lambda: wrk(origin + DIRECT, json.dumps(CHAT),
                                                  cfg.tls_duration, cfg.connections, tmp,
                                                  cpu_pids=be.pids()), hs, be))
        block(["plain_2", "plain", "nginx"], cfg.tls_ref_repeat, ref_rounds, [direct])
    finally:
        if ngx:
            ngx.stop()
        be.stop()
    results = {name: median_of(runs) for name, runs in rounds.items()}
    for name in ("backend", "nginx", "plain_2"):
        results[name] = median_of(ref_rounds[name])
    every = {name: list(runs) for name, runs in rounds.items()}
    for name, runs in ref_rounds.items():
        every.setdefault(name, []).extend(runs)
    for name, res in results.items():
        res["handshakes"] = {k: sum(r["handshakes"][k] for r in every[name])
                             for k in ("new_connections", "resumed")}
        res["handshakes"]["protocols"] = sorted(
            {p for r in every[name] for p in r["handshakes"]["protocols"]})
        res["requests_total"] = sum(r["requests"] for r in every[name])
    return {"settings": {"duration": cfg.tls_duration, "connections": cfg.connections,
                         "repeat": per * cfg.tls_blocks, "blocks": cfg.tls_blocks,
                         "ref_repeat": cfg.tls_ref_repeat},
            "results": results, "rounds": rounds, "ref_rounds": ref_rounds,
            "spread": {"aoproxy": spread(rounds, "aoproxy", "plain"),
                       "aoproxy_vs_plain_again": spread(rounds, "aoproxy", "plain_again"),
                       "plain_again": spread(rounds, "plain_again", "plain")},
            "ratios": {"aoproxy": paired(rounds, "aoproxy", "plain"),
                       "aoproxy_vs_plain_again": paired(rounds, "aoproxy", "plain_again"),
                       "plain_again": paired(rounds, "plain_again", "plain"),
                       "plain_2": paired(ref_rounds, "plain_2", "plain"),
                       "nginx": paired(ref_rounds, "nginx", "plain"),
                       "aoproxy_added_cpu_us": paired_cpu(rounds, "aoproxy", "plain"),
                       "aoproxy_added_user_us": paired_cpu(rounds, "aoproxy", "plain",
                                                           "user_us"),
                       "aoproxy_added_backend_us": paired_difference(
                           rounds, "aoproxy", "plain", lambda r: r["backend_us"]),
                       "aoproxy_added_machine_us": paired_difference(
                           rounds, "aoproxy", "plain", lambda r: r["machine_us"]),
                       "plain_again_added_machine_us": paired_difference(
                           rounds, "plain_again", "plain", lambda r: r["machine_us"])}}


def markdown(part):
    st, res, rat, spr = part["settings"], part["results"], part["ratios"], part["spread"]
    rows = ["| through | req/s | vs plain | p50 ms | p99 ms | CPU us/req | machine us/req "
            "| backend connections (resumed) | requests | TLS |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    names = {"backend": "none (wrk to the backend)", "plain": "plain mod_proxy",
             "plain_again": "plain mod_proxy again (the control)",
             "plain_2": "plain mod_proxy, 2 members", "aoproxy": "mod_aoproxy (2 instances)",
             "nginx": "nginx"}
    for name in ("plain", "plain_again", "aoproxy", "plain_2", "nginx", "backend"):
        r = res[name]
        ratio = "1" if name == "plain" else ("**%.3f**" % rat[name] if name in rat else "")
        rows.append("| %s | %.0f | %s | %.2f | %.2f | %.1f | %s | %d (%d) | %d | %s |" % (
            names[name], r["rps"], ratio, r["p50_ms"], r["p99_ms"],
            r["cpu"]["us_per_request"],
            "%.1f" % r["machine_us"] if r.get("machine_us") is not None else "",
            r["handshakes"]["new_connections"],
            r["handshakes"]["resumed"], r["requests_total"],
            ", ".join(r["handshakes"].get("protocols", []))))
    a, c = spr["aoproxy"], spr["plain_again"]
    return """## HTTPS backend

nginx serves the small chat's answer on https (TLS 1.2 and 1.3 offered, a
self-signed RSA-2048 certificate for 127.0.0.1). Apache (`SSLProxyEngine On`,
`SSLProxyVerify require`, the certificate as `SSLProxyCACertificateFile`) and nginx
(`proxy_ssl_verify on`, keep-alive upstream, `proxy_ssl_session_reuse on`,
`proxy_ssl_protocols TLSv1.2 TLSv1.3`) verify it. wrk with {conn} connections for
{dur} s a run, plain http between wrk and the proxy.

The three compared, plain mod_proxy, a second plain mod_proxy configured as the first
(the control) and mod_aoproxy, ran {rounds} rounds in {blocks} blocks; each block
started the three anew, in a random order (a server's memory layout, drawn at its
start, is worth a few per cent of its speed for its whole life). The references ran
{ref} rounds after them, each beside plain mod_proxy: plain mod_proxy with 2 members
on the one backend (as many connection pools as mod_aoproxy's 2 instances: each
member keeps its own in each child), nginx as a proxy, and wrk to the backend alone.

mod_aoproxy's throughput is **{ratio:.3f}** of plain mod_proxy's (the median of the
per-round ratios; single rounds {amin:.3f} to {amax:.3f}, quartiles {aq1:.3f} and
{aq3:.3f}, {ashare:.0f} % of them at 0.95 or above; {interval}) and {vsagain:.3f} of the control's.
The control against plain mod_proxy, two equal servers: **{again:.3f}** (single rounds
{cmin:.3f} to {cmax:.3f}, quartiles {cq1:.3f} and {cq3:.3f}), the machine's own noise
against which the other ratios are to be read. mod_aoproxy adds {cpu:+.1f} us of CPU
per request over plain mod_proxy, user time {user:+.1f} us (medians of the per-round
differences); the backend's CPU a request, {be}, and the whole machine's (wrk, the
proxy and the backend on its 2 cores), {mach} (the control: {cmach}).

CPU: the proxy's serving processes (for the last row: the backend's); machine: all
the CPU time the machine was busy, per request. Backend
connections: how many TLS connections the backend saw opened over all rounds (each
block's servers open their own), against the requests they carried (resumed: with an
abbreviated handshake); nginx closes an upstream connection after 1000 requests
(`keepalive_requests`, its default) and opens the next with a resumed session.

{rows}
""".format(conn=st["connections"], dur=st["duration"], rounds=st["repeat"],
           blocks=st["blocks"], ref=st["ref_repeat"], ratio=rat["aoproxy"],
           amin=a["min"], amax=a["max"], aq1=a["q1"], aq3=a["q3"],
           ashare=100 * a["share_at_least_0_95"], vsagain=rat["aoproxy_vs_plain_again"],
           again=rat["plain_again"], cmin=c["min"], cmax=c["max"], cq1=c["q1"], cq3=c["q3"],
           cpu=rat["aoproxy_added_cpu_us"], user=rat["aoproxy_added_user_us"],
           interval=("a bootstrap 90 %% interval for that median, %.3f to %.3f"
                     % (a["median_90_low"], a["median_90_high"])
                     if "median_90_low" in a else "no interval computed"),
           be=added(rat.get("aoproxy_added_backend_us")),
           mach=added(rat.get("aoproxy_added_machine_us")),
           cmach=added(rat.get("plain_again_added_machine_us")),
           rows="\n".join(rows))


def added(us):
    return "%+.1f us" % us if us is not None else "not measured"
