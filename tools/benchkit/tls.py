"""An HTTPS backend, as Azure is: nginx with a self-signed certificate that the
proxies verify (Apache: SSLProxyEngine with that certificate as its one CA; nginx:
proxy_ssl_verify). Small chat throughput through plain mod_proxy, mod_aoproxy and
nginx as a reverse proxy, and the TLS handshakes each made at the backend: each
backend connection's first request is logged with whether its session was resumed,
so the log shows whether connections are reused."""

import json
import os

from .common import CHAT, DIRECT, V1
from .rounds import median_of, paired, paired_cpu, run_rounds
from .servers import Apache, backend, nginx_proxy, self_signed
from .wrkload import wrk


class Handshakes:
    """Counts the backend's log of new connections (full and resumed handshakes)."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path) as f:
                return [x.split() for x in f.read().split("\n") if x.strip()]
        except OSError:
            return []

    def read(self):
        lines = self.lines()
        return len(lines), sum(1 for x in lines if x[1:2] == ["r"])

    def protocols(self):
        return sorted({x[2] for x in self.lines() if len(x) > 2})


def counted(fn, hs):
    """fn() with the handshakes made meanwhile added to its result."""
    def run():
        n0, r0 = hs.read()
        r = fn()
        n1, r1 = hs.read()
        r["handshakes"] = {"new_connections": n1 - n0, "resumed": r1 - r0}
        return r
    return run


def run(cfg, tmp):
    root = os.path.join(tmp, "tls")
    os.makedirs(root, exist_ok=True)
    cert, key = self_signed(root)
    be = backend(os.path.join(root, "backend"), tls=(cert, key))
    hs = Handshakes(os.path.join(root, "backend", "handshakes.log"))
    origin = "https://127.0.0.1:%d" % be.tls_port
    print("tls: %ds per run, %d connections, %d rounds" % (
        cfg.tls_duration, cfg.connections, cfg.tls_repeat))
    servers, rounds = {}, {}
    try:
        servers["plain"] = Apache(os.path.join(root, "plain"), origin, ssl_ca=cert,
                                  ready=(DIRECT, CHAT))
        servers["aoproxy"] = Apache(os.path.join(root, "aop"), origin, 2, ssl_ca=cert,
                                    ready=(V1, CHAT))
        servers["nginx"] = nginx_proxy(os.path.join(root, "nginx"), be.tls_port, "https", cert)
        steps = [("backend", counted(lambda: wrk(origin + DIRECT, json.dumps(CHAT),
                                                 cfg.tls_duration, cfg.connections, tmp,
                                                 cpu_pids=be.pids()), hs))]
        for name, path in (("plain", DIRECT), ("aoproxy", V1), ("nginx", DIRECT)):
            srv = servers[name]
            url = "http://127.0.0.1:%d%s" % (srv.port, path)
            steps.append((name, counted(lambda url=url, srv=srv: wrk(
                url, json.dumps(CHAT), cfg.tls_duration, cfg.connections, tmp,
                cpu_pids=srv.pids()), hs)))
        run_rounds(steps, cfg.tls_repeat, rounds)
        protocols = hs.protocols()
    finally:
        for srv in servers.values():
            srv.stop()
        be.stop()
    results = {name: median_of(runs) for name, runs in rounds.items()}
    for name, runs in rounds.items():
        results[name]["handshakes"] = {
            k: sum(r["handshakes"][k] for r in runs) for k in ("new_connections", "resumed")}
        results[name]["requests_total"] = sum(r["requests"] for r in runs)
    return {"settings": {"duration": cfg.tls_duration, "connections": cfg.connections,
                         "repeat": cfg.tls_repeat, "protocols": protocols},
            "results": results, "rounds": rounds,
            "ratios": {"aoproxy": paired(rounds, "aoproxy", "plain"),
                       "nginx": paired(rounds, "nginx", "plain"),
                       "aoproxy_added_cpu_us": paired_cpu(rounds, "aoproxy", "plain")}}


def markdown(part):
    st, res, rat = part["settings"], part["results"], part["ratios"]
    rows = ["| through | req/s | vs plain | p50 ms | p99 ms | CPU us/req | backend connections "
            "(resumed) | requests |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = {"backend": "none (wrk to the backend)", "plain": "plain mod_proxy",
             "aoproxy": "mod_aoproxy", "nginx": "nginx"}
    for name in ("plain", "aoproxy", "nginx", "backend"):
        r = res[name]
        ratio = "1" if name == "plain" else ("**%.3f**" % rat[name] if name in rat else "")
        rows.append("| %s | %.0f | %s | %.2f | %.2f | %.1f | %d (%d) | %d |" % (
            names[name], r["rps"], ratio, r["p50_ms"], r["p99_ms"],
            r["cpu"]["us_per_request"], r["handshakes"]["new_connections"],
            r["handshakes"]["resumed"], r["requests_total"]))
    protocols = " and ".join(st.get("protocols") or ["TLS"])
    return """## HTTPS backend

nginx serves the small chat's answer on https ({protocols}, a self-signed RSA-2048
certificate for 127.0.0.1). Apache (`SSLProxyEngine On`, `SSLProxyVerify require`,
the certificate as `SSLProxyCACertificateFile`) and nginx (`proxy_ssl_verify on`,
keep-alive upstream, `proxy_ssl_session_reuse on`) verify it. wrk with {conn}
connections for {dur} s a run, {rounds} rounds, plain http between wrk and the proxy.
CPU: the proxy's serving processes (for the last row: the backend's). Backend
connections: how many TLS connections the backend saw opened over all rounds
(resumed: with an abbreviated handshake), against the requests they carried. mod_aoproxy
adds {cpu:+.1f} us of CPU per request over plain mod_proxy here (median of the rounds).

{rows}
""".format(conn=st["connections"], dur=st["duration"], rounds=st["repeat"],
           cpu=rat["aoproxy_added_cpu_us"], rows="\n".join(rows), protocols=protocols)
