# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""What a process that dies or stops must not take with it: the token reservations of
its requests (given back by the parent's sweep: the owner is gone, or silent past its
deadline) and the shared state's lock (taken over from a stopped holder)."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import MPMS, make_server, request
from mockclient import start_mock
from test_balancing import KEY, fleet_yaml, instance

STREAM = {"model": "gpt-4o", "stream": True, "max_tokens": 500,
          "messages": [{"role": "user", "content": "tell me a long story"}]}


@pytest.fixture(scope="module")
def backend():
    m = start_mock(name="resilience", api_key=KEY, deployments={"dep-r": "gpt-4o"})
    yield m
    m.stop()


@pytest.fixture
def started(backend):
    backend.client.reset()
    servers = []

    def start(mpm, routing_timeout=20, extra_conf="AOProxyMaxBodySize 262144"):
        yaml_text = fleet_yaml("failover", [instance("r", backend.port, ["gpt-4o"],
                                                     max_tpm=1000000, deployment="dep-r")])
        yaml_text = yaml_text.replace("timeout: 20", "timeout: %d" % routing_timeout)
        srv = make_server(mpm, yaml_text, extra_conf=extra_conf)
        srv.start()
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        for pid in children(srv):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        srv.stop()


def children(srv):
    out = subprocess.run(["pgrep", "-P", str(srv.pid())], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def tpm(srv):
    resp = request(srv, "GET", "/instances/r")
    assert resp.status == 200, resp.body
    return resp.json()["tpm"]


def wait_for(cond, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


def open_stream(srv):
    """Sends a streamed chat and reads it in a thread until it ends or breaks."""
    def run():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            conn.request("POST", "/v1/chat/completions", body=json.dumps(STREAM),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            while resp.read(256):
                pass
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def slow_streams(backend, seconds):
    backend.client.rules([{"stream": True, "chunks": int(seconds / 0.25),
                           "event_delay_ms": 250}])


def backend_connections(port):
    """Socket inodes connected to the mock's port (from /proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[2].rsplit(":", 1)[1], 16) == port and parts[3] == "01":
                        inodes.add(parts[9])
        except OSError:
            pass
    return inodes


def pids_talking_to(srv, port):
    inodes = backend_connections(port)
    found = []
    for pid in children(srv):
        try:
            links = [os.readlink("/proc/%d/fd/%s" % (pid, fd))
                     for fd in os.listdir("/proc/%d/fd" % pid)]
        except OSError:
            continue
        if any(l.startswith("socket:[") and l[8:-1] in inodes for l in links):
            found.append(pid)
    return found


@pytest.mark.parametrize("mpm", MPMS)
def test_killed_children_give_their_reservations_back(started, backend, mpm):
    srv = started(mpm)
    slow_streams(backend, 15)
    for _ in range(6):
        open_stream(srv)
    held = wait_for(lambda: tpm(srv)["reserved"], 10)
    assert held > 0
    used_before = tpm(srv)["used"]
    for pid in pids_talking_to(srv, backend.port):
        os.kill(pid, signal.SIGKILL)
    # the parent's sweep (once a second) gives them back
    assert wait_for(lambda: tpm(srv)["reserved"] == 0, 10), tpm(srv)
    # counted as used: the budget must rather hold than be exceeded
    assert tpm(srv)["used"] >= used_before + held
    assert any("AOP00110" in l for l in srv.read_log().splitlines())
    backend.client.reset()
    resp = request(srv, "POST", "/v1/chat/completions",
                   {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status == 200
    assert wait_for(lambda: tpm(srv)["reserved"] == 0, 5)


def test_a_stopped_child_loses_its_reservation_at_the_deadline(started, backend):
    # routing.timeout 1 s and AOProxyConnectTimeout 1 s: a reservation silent for
    # 2 x 1 + 1 + 2 = 5 s is given back.
    srv = started("prefork", routing_timeout=1,
                  extra_conf="AOProxyMaxBodySize 262144\nAOProxyConnectTimeout 1")
    slow_streams(backend, 20)
    open_stream(srv)
    held = wait_for(lambda: tpm(srv)["reserved"], 10)
    assert held > 0
    (pid,) = wait_for(lambda: pids_talking_to(srv, backend.port), 5)
    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        assert wait_for(lambda: tpm(srv)["reserved"] == 0, 12), tpm(srv)
        assert time.time() - stopped_at >= 3.5          # not before its deadline
    finally:
        os.kill(pid, signal.SIGCONT)
    # the owner's late release finds nothing to give back: never below zero
    time.sleep(2)
    assert tpm(srv)["reserved"] == 0


def gdb_available():
    return shutil.which("gdb") is not None


@pytest.mark.skipif(not gdb_available(), reason="gdb is installed by tools/setup")
def test_a_child_stopped_holding_the_lock_stalls_no_one(started, backend):
    """A debugger stops a child inside the shared state's lock (a breakpoint on
    aop_shm_unlock, which runs with it held): the other children go on serving."""
    srv = started("prefork")
    backend.client.reset()
    victim = children(srv)[0]
    gdb = subprocess.Popen(
        ["gdb", "-q", "-nx", "-p", str(victim), "-batch",
         "-ex", "set pagination off", "-ex", "break aop_shm_unlock", "-ex", "continue",
         "-ex", "shell sleep 8", "-ex", "delete", "-ex", "detach"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hit = threading.Event()
    seen = []

    def watch():
        for line in gdb.stdout:
            seen.append(line)
            if "Breakpoint 1," in line:
                hit.set()
    threading.Thread(target=watch, daemon=True).start()
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    try:
        # requests spread over the children until the victim stops in the lock
        deadline = time.time() + 20
        while not hit.is_set() and time.time() < deadline:
            threading.Thread(target=lambda: request(srv, "POST", "/v1/chat/completions",
                                                    chat, timeout=30),
                             daemon=True).start()
            time.sleep(0.05)
        assert hit.is_set(), "".join(seen)
        # now every other child needs the lock for each request
        times = []
        for _ in range(8):
            t0 = time.time()
            resp = request(srv, "POST", "/v1/chat/completions", chat, timeout=30)
            times.append(time.time() - t0)
            assert resp.status == 200, resp.body
        assert max(times) < 3.0, times          # the debugger holds it for 8 s
    finally:
        gdb.wait(timeout=30)
    assert any("AOP00111" in l for l in
               wait_for(lambda: [l for l in srv.read_log().splitlines() if "AOP00111" in l],
                        5) or [])
