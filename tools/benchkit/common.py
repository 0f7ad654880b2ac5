# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""What every part of the benchmark shares: the workload's constants, ports, and what
/proc tells about a server's processes (memory, CPU time)."""

import http.client
import json
import math
import os
import platform
import re
import socket
import subprocess
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HTTPD = "/usr/sbin/apache2"
MODEL, STREAM_MODEL = "gpt-4o-mini", "gpt-4o-mini-stream"
KEY = "bench-key-0000000000000000"
ADMIN_KEY = "bench-admin-key-00000000"
API_VERSION = "2024-10-21"
DIRECT = "/openai/deployments/bench/chat/completions?api-version=" + API_VERSION
DIRECT_STREAM = "/openai/deployments/bench-stream/chat/completions?api-version=" + API_VERSION
V1 = "/v1/chat/completions"
CHAT = {"model": MODEL, "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hello to the benchmark."}]}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def chat_body(size, model=MODEL, stream=False):
    """A chat request of exactly `size` bytes (at least the small CHAT's): a prompt
    of English-like words, as long prompts are."""
    # "stream" before the prompt: the SSE backend finds it without parsing.
    body = {"model": model, "stream": True} if stream else {"model": model}
    body.update((k, v) for k, v in CHAT.items() if k != "model")
    compact = json.dumps(body, separators=(",", ":"))
    if size > len(compact):
        body["messages"] = [{"role": "user", "content": ""}]
        room = size - len(json.dumps(body, separators=(",", ":")))
        words = "the quick brown fox jumps over the lazy dog and keeps running "
        body["messages"][0]["content"] = (words * (room // len(words) + 1))[:room]
    return json.dumps(body, separators=(",", ":")).encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d" % port)


def request(port, method, path, body=None, headers=None, timeout=60):
    """One HTTP request on a new connection: (status, body bytes, seconds)."""
    hdrs = {"Content-Type": "application/json", "api-key": KEY}
    hdrs.update(headers or {})
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        out = resp.read()
        return resp.status, out, time.perf_counter() - t0
    finally:
        conn.close()


def wait_answer(port, path, body, timeout=120):
    """Seconds until the server answers `path` with 200 (it may accept connections
    well before its children serve)."""
    t0 = time.perf_counter()
    end = time.time() + timeout
    while time.time() < end:
        try:
            status, _, _ = request(port, "POST", path, body, timeout=5)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("port %d does not answer %s" % (port, path))


# ------------------------------------------------------------------ /proc

def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def memory_kb(pid):
    """{"rss", "pss", "private_dirty"} of a process in kB (0s if it is gone)."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            text = f.read()
    except OSError:
        return {"rss": 0, "pss": 0, "private_dirty": 0}
    field = {name: int(v) for name, v in
             re.findall(r"^(Rss|Pss|Private_Dirty):\s+(\d+)", text, re.M)}
    return {"rss": field["Rss"], "pss": field["Pss"], "private_dirty": field["Private_Dirty"]}


def status_kb(pid, field):
    """A kB field of /proc/<pid>/status (RssShmem: the shared memory it touched)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^%s:\s+(\d+)" % field, f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def pss_sum_kb(pids):
    return sum(memory_kb(p)["pss"] for p in pids)


def cpu_seconds(pids):
    """User and system CPU time of these processes (all their threads), in seconds."""
    user = system = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def machine_busy_seconds():
    """The CPU time the whole machine spent busy (all its cores: user, system,
    interrupts; not idle or waiting), in seconds: what a request costs everything on
    the machine, the load generator and the backend included, when divided by the
    requests of a run."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy,
    # nor is steal (time the hypervisor gave to other guests).
    return (sum(ticks[:8]) - ticks[3] - ticks[4] - ticks[7]) / CLK_TCK


def wait_gone(pid, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if not os.path.exists("/proc/%d" % pid):
            return
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.05)


def machine():
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
    cpu = m.group(1) if m else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 ** 3)
    version = subprocess.run([HTTPD, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "kernel": platform.release(), "httpd": version.split(": ", 1)[-1],
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True,
                                    text=True).stderr.strip().split("/")[-1],
            "python": platform.python_version()}


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
