# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""wrk, driving a POST of a fixed body, and the CPU time the server spent on it."""

import os
import re
import subprocess
import tempfile

from .common import KEY, cpu_seconds

# The body comes from a file: a prompt of a megabyte is no Lua literal.
WRK_LUA = """\
local f = assert(io.open("{path}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = "{key}"
"""


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def body_file(tmp, body):
    fd, path = tempfile.mkstemp(prefix="body-", suffix=".json", dir=tmp)
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    return path


def wrk(url, body, duration, connections, tmp, threads=1, cpu_pids=None):
    """Runs wrk: req/s, p50/p99 (ms), requests, errors; with cpu_pids, the CPU those
    processes spent meanwhile per request (us_per_request, user and system)."""
    data = body if isinstance(body, bytes) else body.encode()
    path = body_file(tmp, data)
    script = path + ".lua"
    with open(script, "w") as f:
        f.write(WRK_LUA.format(path=path, key=KEY))
    before = cpu_seconds(cpu_pids) if cpu_pids else None
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
                          "--latency", "-s", script, url], capture_output=True, text=True,
                         check=True).stdout
    after = cpu_seconds(cpu_pids) if cpu_pids else None
    os.unlink(path)
    os.unlink(script)
    pct = {p: to_ms(v, u) for p, v, u in
           re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r = {"rps": rps, "p50_ms": pct.get("50"), "p99_ms": pct.get("99"), "requests": total,
         "non_2xx": int(bad.group(1)) if bad else 0,
         "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0}
    if errs and r["socket_errors"]:
        r["socket_error_kinds"] = dict(zip(("connect", "read", "write", "timeout"),
                                           (int(x) for x in errs.groups())))
    if before and total:
        user, system = after[0] - before[0], after[1] - before[1]
        r["cpu"] = {"us_per_request": (user + system) * 1e6 / total,
                    "user_us": user * 1e6 / total, "system_us": system * 1e6 / total}
    return r
