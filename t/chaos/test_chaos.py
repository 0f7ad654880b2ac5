# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Chaos (issue 12): three instances under closed-loop load for well over 30 s while,
in turn, one instance stalls past routing.timeout, resets, truncates its answers,
closes without answering, answers 429 and 503, is killed and started again, and cuts
or stalls its streams; then the configuration is reloaded, Apache restarts
gracefully, a child is stopped (SIGSTOP) and children are killed (SIGKILL).

What it asserts:
- no client sees an error while healthy capacity remains: every phase ends with zero
  client errors, but for two kinds of loss nothing can prevent: a stream cut after
  some of it reached the client (the client gets an error event, and /stats counts
  exactly those requests as `truncated`), and the requests in flight in a child that
  is SIGKILLed;
- /stats equals the access log: as many requests as access-log lines of proxied
  calls and as client requests answered, as many successes as 200s less the cut
  streams; after the SIGKILLs, short by at most what the killed children held;
- no token reservation is left once the load stops, the killed children's included.

Cooldowns are 2 s here (AOProxyCooldown), so that an instance a phase made rest is
serving again (its probe answered) before the next phase makes another rest: the
mechanism is the one of the default 10 s, scaled down to fit the run.
"""

import os
import signal
import time

import pytest

from conftest import (api, access_log, busy_children, finish, gateway, stats_total,
                      unexpected_log_lines, wait_unreserved)
from load import Load

PHASE_S = 3.0       # load time of one fault
CALM_S = 2.5        # load time after it, faults cleared: the instance serves again
STREAM_EVERY = 4    # every 4th request of a client streams


def rules(inst, *r):
    return lambda ctx: ctx.fleet[inst].client.rules(list(r))


def kill(inst):
    return lambda ctx: ctx.fleet[inst].kill()


def reload(ctx):
    body = api(ctx.srv, "POST", "/config/reload")
    assert body["reloaded"] is True and body["instances"] == 3


def graceful(ctx):
    ctx.srv.graceful()


def sigstop(ctx):
    pid = busy_children(ctx.srv)[0]
    os.kill(pid, signal.SIGSTOP)
    time.sleep(2.0)
    os.kill(pid, signal.SIGCONT)


def sigkill(ctx):
    for _ in range(2):
        pid = busy_children(ctx.srv)[-1]
        os.kill(pid, signal.SIGKILL)
        ctx.killed += 1
        time.sleep(1.5)


# (name, what starts it, error kinds a client may see in it)
BACKEND_FAULTS = [
    ("m0 stalls past routing.timeout", rules(0, {"action": "hang", "hang_ms": 30000}), ()),
    ("m1 resets", rules(1, {"action": "reset"}), ()),
    ("m2 truncates", rules(2, {"action": "truncate", "stream": False},
                           {"action": "truncate", "stream": True, "truncate_after": 0}), ()),
    ("m0 closes without answering", rules(0, {"action": "close"}), ()),
    ("m1 answers 429", rules(1, {"status": 429, "headers": {"Retry-After": "2"}}), ()),
    ("m2 answers 503", rules(2, {"status": 503}), ()),
    ("m0 is killed", kill(0), ()),
    ("m1 cuts streams, m2 stalls them",
     lambda ctx: (rules(1, {"action": "cut_stream", "stream": True, "cut_after": 3})(ctx),
                  rules(2, {"action": "stall", "stream": True, "stall_after": 2,
                            "hang_ms": 30000})(ctx)),
     ("error_event",)),
]
SERVER_EVENTS = [
    ("configuration reloaded", reload, ()),
    ("graceful restart", graceful, ()),
    ("a child SIGSTOPped for 2 s", sigstop, ()),
]


class Ctx:
    def __init__(self, srv, fleet):
        self.srv, self.fleet, self.killed = srv, fleet, 0
        self.report = []


def run_phase(ctx, load, name, start, allowed, calm=True):
    t0 = time.monotonic()
    start(ctx)
    time.sleep(max(0.0, PHASE_S - (time.monotonic() - t0)))
    ctx.fleet.calm()
    if calm:
        time.sleep(CALM_S)
    t1 = time.monotonic()
    errors = load.counts.errors_started(t0, t1)
    ctx.report.append((name, load.counts.completed(t0, t1) / (t1 - t0), errors, allowed))
    return errors


def print_report(mpm, ctx, seconds, counts):
    print("\nchaos (%s): %.0f s of load, %d good answers, %d stale keep-alive retries"
          % (mpm, seconds, counts.ok, counts.stale))
    for name, rate, errors, allowed in ctx.report:
        print("  %-36s %7.0f req/s  errors %s%s" % (name, rate, errors or "none",
                                                    " (allowed: %s)" % ", ".join(allowed)
                                                    if allowed else ""))


def forbidden(ctx):
    return [(name, errors) for name, _, errors, allowed in ctx.report
            if any(k not in allowed for k in errors)]


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_chaos(mpm, fleet, request):
    fleet.calm()
    srv = gateway(request, fleet, mpm, cooldown=2)
    ctx = Ctx(srv, fleet)
    try:
        conns = 10 if mpm == "prefork" else 24
        t_start = time.monotonic()
        load = Load(srv.port, connections=conns, stream_every=STREAM_EVERY).start()
        run_phase(ctx, load, "healthy", lambda c: None, ())
        for name, start, allowed in BACKEND_FAULTS + SERVER_EVENTS:
            run_phase(ctx, load, name, start, allowed)
        counts = load.stop()
        seconds = time.monotonic() - t_start

        # Every phase: no client error but what the phase allows.
        print_report(mpm, ctx, seconds, counts)
        assert seconds >= 30
        assert not forbidden(ctx), (forbidden(ctx), counts.examples)
        # The cut streams are the only errors, and /stats counts exactly those.
        cut = counts.errors.get("error_event", 0)
        # (httpd logs a request just after its answer went out)
        total, (lines, ok_lines) = stats_total(srv), access_log(srv, counts.ok + cut)
        assert cut > 0 and counts.error_total() == cut
        assert total["errors"]["by_kind"]["truncated"] == cut
        # /stats, the access log and the clients agree.
        assert total["requests"] == lines == counts.ok + cut
        assert total["successes"] == counts.ok == ok_lines - cut
        assert total["errors"]["total"] == cut
        assert wait_unreserved(srv, 5) == {"m0": 0, "m1": 0, "m2": 0}

        # SIGKILLed children: their in-flight requests are lost, nothing else.
        load = Load(srv.port, connections=conns, stream_every=STREAM_EVERY).start()
        time.sleep(1.0)
        run_phase(ctx, load, "children SIGKILLed", sigkill, ("reset", "incomplete"),
                  calm=False)
        time.sleep(1.0)
        counts2 = load.stop()
        lost = counts2.stale + counts2.error_total()
        print("  after SIGKILL: %d good answers, %d lost in flight (stale retries %d, "
              "errors %s)" % (counts2.ok, lost, counts2.stale, counts2.errors))
        assert ctx.killed == 2
        assert counts2.error_total() <= ctx.killed * (1 if mpm == "prefork" else conns)
        # The parent's sweep gives back what the dead held.
        held = wait_unreserved(srv, 10)
        assert held == {"m0": 0, "m1": 0, "m2": 0}, held
        total2 = stats_total(srv)
        counted = total2["requests"] - total["requests"]
        logged = access_log(srv, lines + counted)[0] - lines
        # Every answer a client got was counted; nothing was counted twice but what a
        # client sent again after a killed child had counted it.
        assert counts2.ok <= counted <= counts2.ok + lost
        # A killed child takes with it the log lines of what it was serving, and no
        # more (its requests in flight: one at a time under prefork).
        assert logged <= counted <= logged + ctx.killed * (1 if mpm == "prefork" else conns)
        assert total2["errors"]["by_kind"]["truncated"] == cut
        bad = unexpected_log_lines(srv)
        assert not bad, "\n".join(bad[:20])
    finally:
        finish(request, srv)
        fleet.calm()
