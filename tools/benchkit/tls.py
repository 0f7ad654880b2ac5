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
import statistics

from .common import CHAT, DIRECT, V1
from .rounds import median_of, paired, paired_cpu, run_rounds
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


def counted(fn, hs):
    """fn() with the connections the backend saw opened meanwhile added to its result."""
    def run():
        n0 = len(hs.lines())
        r = fn()
        new = hs.lines()[n0:]
        r["handshakes"] = {"new_connections": len(new),
                           "resumed": sum(1 for x in new if x[1:2] == ["r"]),
                           "protocols": sorted({x[2] for x in new if len(x) > 2})}
        return r
    return run


def spread(rounds, a, b):
    """The per-round ratios of a over b: their quartiles and the share of rounds at or
    above 0.95 (how far a median of them can be trusted on a noisy machine)."""
    r = sorted(x["rps"] / y["rps"] for x, y in zip(rounds[a], rounds[b]))
    q = statistics.quantiles(r, n=4, method="inclusive") if len(r) > 1 else [r[0]] * 3
    return {"q1": q[0], "q3": q[2], "min": r[0], "max": r[-1],
            "share_at_least_0_95": sum(1 for x in r if x >= 0.95) / len(r)}


def run(cfg, tmp):
    root = os.path.join(tmp, "tls")
    os.makedirs(root, exist_ok=True)
    cert, key = self_signed(root)
    be = backend(os.path.join(root, "backend"), tls=(cert, key))
    hs = Handshakes(os.path.join(root, "backend", "handshakes.log"))
    origin = "https://127.0.0.1:%d" % be.tls_port
    print("tls: %ds per run, %d connections, %d rounds of the proxies compared, %d with "
          "the references" % (cfg.tls_duration, cfg.connections, cfg.tls_repeat,
                              cfg.tls_ref_repeat))
    servers, rounds, ref_rounds = {}, {}, {}
    try:
        servers["plain"] = Apache(os.path.join(root, "plain"), origin, ssl_ca=cert,
                                  ready=(DIRECT, CHAT))
        # Two members on the one backend, as mod_aoproxy's two instances: as many
        # connection pools, so as many backend connections (each member keeps its own).
        servers["plain_2"] = Apache(os.path.join(root, "plain2"), origin, plain_members=2,
                                    ssl_ca=cert, ready=(DIRECT, CHAT))
        servers["aoproxy"] = Apache(os.path.join(root, "aop"), origin, 2, ssl_ca=cert,
                                    ready=(V1, CHAT))
        # The control: a second plain mod_proxy, configured as the first.  Its ratio to
        # the first is what the machine alone makes of two equal servers (it has been
        # 0.85 to 1.05 on these 2 cores); a difference smaller than that is not shown.
        servers["plain_again"] = Apache(os.path.join(root, "plain-again"), origin,
                                        ssl_ca=cert, ready=(DIRECT, CHAT))
        servers["nginx"] = nginx_proxy(os.path.join(root, "nginx"), be.tls_port, "https", cert)

        def step(name, path):
            srv = servers[name]
            url = "http://127.0.0.1:%d%s" % (srv.port, path)
            return (name, counted(lambda: wrk(url, json.dumps(CHAT), cfg.tls_duration,
                                              cfg.connections, tmp, cpu_pids=srv.pids()),
                                  hs))

        # The proxies compared, back to back in every round (the rounds alternate the
        # order, plain always beside the other two): the machine's drift, larger than
        # the difference, cancels best so, and the more rounds the steadier the median.
        run_rounds([step("plain_again", DIRECT), step("plain", DIRECT), step("aoproxy", V1),
                    step("plain_2", DIRECT)], cfg.tls_repeat, rounds)
        # The references, fewer rounds: the backend alone (it is not the bottleneck)
        # and nginx as a proxy, each beside plain mod_proxy of the same round.
        direct = ("backend", counted(lambda: wrk(origin + DIRECT, json.dumps(CHAT),
                                                 cfg.tls_duration, cfg.connections, tmp,
                                                 cpu_pids=be.pids()), hs))
        run_rounds([direct, step("plain", DIRECT), step("nginx", DIRECT)],
                   cfg.tls_ref_repeat, ref_rounds)
    finally:
        for srv in servers.values():
            srv.stop()
        be.stop()
    results = {name: median_of(runs) for name, runs in rounds.items()}
    for name in ("backend", "nginx"):
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
                         "repeat": cfg.tls_repeat, "ref_repeat": cfg.tls_ref_repeat},
            "results": results, "rounds": rounds, "ref_rounds": ref_rounds,
            "spread": {"aoproxy": spread(rounds, "aoproxy", "plain"),
                       "aoproxy_vs_plain_2": spread(rounds, "aoproxy", "plain_2"),
                       "plain_2": spread(rounds, "plain_2", "plain"),
                       "plain_again": spread(rounds, "plain_again", "plain")},
            "ratios": {"aoproxy": paired(rounds, "aoproxy", "plain"),
                       "aoproxy_vs_plain_2": paired(rounds, "aoproxy", "plain_2"),
                       "plain_2": paired(rounds, "plain_2", "plain"),
                       "plain_again": paired(rounds, "plain_again", "plain"),
                       "aoproxy_added_cpu_us_vs_plain_2": paired_cpu(rounds, "aoproxy",
                                                                     "plain_2"),
                       "nginx": paired(ref_rounds, "nginx", "plain"),
                       "aoproxy_added_cpu_us": paired_cpu(rounds, "aoproxy", "plain"),
                       "aoproxy_added_user_us": paired_cpu(rounds, "aoproxy", "plain",
                                                           "user_us")}}


def spread_text(part):
    """How the per-round ratios spread, for runs that recorded it."""
    if "spread" not in part:
        return ""
    a, b = part["spread"]["aoproxy"], part["spread"]["aoproxy_vs_plain_2"]
    same = ""
    if "plain_again" in part["spread"]:
        c = part["spread"]["plain_again"]
        same = """ The control, plain
mod_proxy against a second plain mod_proxy configured alike, came to **%.3f**
(quartiles %.3f and %.3f, single rounds %.3f to %.3f): the machine's own noise, against
which the ratios above are to be read.""" % (part["ratios"]["plain_again"], c["q1"], c["q3"],
                                             c["min"], c["max"])
    return """
The throughput ratios of single rounds spread with the machine: mod_aoproxy over
plain mod_proxy from %.3f to %.3f (quartiles %.3f and %.3f; %.0f %% of the rounds at
0.95 or above); over plain mod_proxy with 2 members, quartiles %.3f and %.3f (%.0f %%
at 0.95 or above).%s""" % (a["min"], a["max"], a["q1"], a["q3"], 100 * a["share_at_least_0_95"],
                          b["q1"], b["q3"], 100 * b["share_at_least_0_95"], same)


def markdown(part):
    st, res, rat = part["settings"], part["results"], part["ratios"]
    rows = ["| through | req/s | vs plain | p50 ms | p99 ms | CPU us/req | backend connections "
            "(resumed) | requests | TLS |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    names = {"backend": "none (wrk to the backend)", "plain": "plain mod_proxy",
             "plain_2": "plain mod_proxy, 2 members", "aoproxy": "mod_aoproxy (2 instances)",
             "nginx": "nginx", "plain_again": "plain mod_proxy again (the control)"}
    for name in ("plain", "plain_again", "plain_2", "aoproxy", "nginx", "backend"):
        if name not in res:             # runs saved before plain_2
            continue
        r = res[name]
        ratio = "1" if name == "plain" else ("**%.3f**" % rat[name] if name in rat else "")
        rows.append("| %s | %.0f | %s | %.2f | %.2f | %.1f | %d (%d) | %d | %s |" % (
            names[name], r["rps"], ratio, r["p50_ms"], r["p99_ms"],
            r["cpu"]["us_per_request"], r["handshakes"]["new_connections"],
            r["handshakes"]["resumed"], r["requests_total"],
            ", ".join(r["handshakes"].get("protocols", []))))
    return """## HTTPS backend

nginx serves the small chat's answer on https (TLS 1.2 and 1.3 offered, a
self-signed RSA-2048 certificate for 127.0.0.1). Apache (`SSLProxyEngine On`,
`SSLProxyVerify require`, the certificate as `SSLProxyCACertificateFile`) and nginx
(`proxy_ssl_verify on`, keep-alive upstream, `proxy_ssl_session_reuse on`,
`proxy_ssl_protocols TLSv1.2 TLSv1.3`) verify it. wrk with {conn} connections for
{dur} s a run, plain http between wrk and the proxy: {rounds} rounds of the four
Apache rows, then {ref} rounds of plain mod_proxy beside the references (nginx, the
backend alone; nginx's ratio is to plain mod_proxy of those rounds).
CPU: the proxy's serving processes (for the last row: the backend's). Backend
connections: how many TLS connections the backend saw opened over all rounds
(resumed: with an abbreviated handshake), against the requests they carried; nginx
closes an upstream connection after 1000 requests (`keepalive_requests`, its default)
and opens the next with a resumed session.

mod_aoproxy adds {cpu:+.1f} us of CPU per request over plain mod_proxy here
({user:+.1f} us of it user time; medians of the per-round differences).{vs2}
{spread}

{rows}
""".format(conn=st["connections"], dur=st["duration"], rounds=st["repeat"],
           ref=st.get("ref_repeat", st["repeat"]), spread=spread_text(part),
           cpu=rat["aoproxy_added_cpu_us"], user=rat.get("aoproxy_added_user_us", float("nan")),
           vs2="" if "plain_2" not in res else """ Each
member of a balancer (each instance of mod_aoproxy) keeps its own pool of backend
connections in each child; plain mod_proxy with 2 members on the one backend, as
many pools as mod_aoproxy's 2 instances, is the row "2 members": mod_aoproxy's
throughput is **%.3f** of it (%+.1f us of CPU per request), and it is %.3f of the
one member's.""" % (rat["aoproxy_vs_plain_2"], rat["aoproxy_added_cpu_us_vs_plain_2"],
                    rat["plain_2"]),
           rows="\n".join(rows))
