# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The chaos suite's fleet and gateway: three mock Azure instances behind a real
apache2 with mod_aoproxy from the build tree (the e2e harness), under load from
load.py, while instances and Apache's own processes misbehave.

Run it with tools/test-chaos (CI runs it after tools/test-all)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "mock"))

import pytest  # noqa: E402

from harness import Httpd, free_port  # noqa: E402
from mockclient import start_mock  # noqa: E402

MODEL = "gpt-4o-mini"
ADMIN = "chaos-admin-key-0123456789"
# Lines mod_proxy writes at [error] when an instance misbehaves on purpose here, and
# mod_aoproxy's own when a request (or a stream) could not be served.
EXPECTED_ERRORS = re.compile(
    r"AH01102|AH01110|AH00898|AH01097|AH01095|AH02609|AH00957|AH00959|AH01114|AH01084"
    r"|error reading|timed out|Connection reset|Connection refused")
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


class Instance:
    """One mock Azure instance on a fixed port, so that it can be killed and started
    again where the gateway expects it."""

    def __init__(self, name):
        self.name = name
        self.key = "key-%s-0123456789abcdef" % name
        self.port = free_port()
        self.mock = None
        self.start()

    def start(self):
        self.mock = start_mock(name=self.name, api_key=self.key,
                               deployments={"chat-" + self.name: MODEL},
                               extra_args=["--port", str(self.port), "--max-records", "100"])

    def kill(self):
        """SIGKILL: in-flight requests break, new connections are refused."""
        self.mock.proc.kill()
        self.mock.proc.wait(10)

    def stop(self):
        self.mock.stop()

    @property
    def client(self):
        return self.mock.client

    def yaml(self):
        return """\
  - name: "{n}"
    api_key: "{k}"
    api_base: "http://127.0.0.1:{p}"
    api_version: "2024-10-21"
    supported_models: ["{m}"]
    model_deployments: {{ {m}: "chat-{n}" }}
""".format(n=self.name, k=self.key, p=self.port, m=MODEL)


class Fleet:
    def __init__(self):
        self.instances = [Instance("m%d" % i) for i in range(3)]

    def __getitem__(self, i):
        return self.instances[i]

    def yaml(self, timeout=3):
        return ('routing: {{ strategy: "round_robin", retries: 2, timeout: {} }}\n'
                'instances:\n'.format(timeout) + "".join(i.yaml() for i in self.instances))

    def calm(self):
        for inst in self.instances:
            if inst.mock.proc.poll() is not None:
                inst.start()
            inst.client.clear_rules()

    def stop(self):
        for inst in self.instances:
            inst.stop()


@pytest.fixture(scope="session")
def fleet():
    f = Fleet()
    yield f
    f.stop()


# Fixed sets of processes where the test needs them to stay (the throughput test),
# else the e2e tuning; prefork allows more children than the load has connections.
TUNING = {
    "event": "",
    "prefork": "MaxRequestWorkers 24\nServerLimit 24",
    "event-fixed": "StartServers 4\nMinSpareThreads 1\nMaxSpareThreads 64",
}


def gateway(request, fleet, mpm, tuning="", cooldown=None, retry=5):
    root = tempfile.mkdtemp(prefix="aop-chaos-%s-" % mpm)
    extra = ["AOProxyMaxBodySize 262144", "AOProxyAdminKey %s" % ADMIN,
             "AOProxyRetryInterval %d" % retry, TUNING.get(tuning or mpm, "")]
    if cooldown is not None:
        extra.append("AOProxyCooldown %s" % cooldown)
    srv = Httpd(root, mpm=mpm, extra_conf="\n".join(extra), log_level="warn aoproxy:notice")
    srv.write_yaml("base.yaml", fleet.yaml())
    srv.start()
    return srv


def finish(request, srv):
    for pid in children(srv):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    srv.stop()
    if not request.session.testsfailed:
        shutil.rmtree(srv.root, ignore_errors=True)


def children(srv):
    out = subprocess.run(["pgrep", "-P", str(srv.pid())], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def busy_children(srv):
    """The children that hold established client connections (from /proc/net/tcp
    and their file descriptors): stopping or killing one of them hits requests in
    flight, not an idle spare."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == srv.port and fields[3] == "01":
                inodes.add("socket:[%s]" % fields[9])
    busy = []
    for pid in children(srv):
        fd_dir = "/proc/%d/fd" % pid
        try:
            links = {os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)}
        except OSError:
            continue
        if links & inodes:
            busy.append(pid)
    return busy or children(srv)


def api(srv, method, path, body=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    headers = {"X-Admin-API-Key": ADMIN}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    assert resp.status == 200, (method, path, resp.status, text[:300])
    return json.loads(text)


def stats_total(srv):
    return api(srv, "GET", "/stats")["total"]


def reserved(srv):
    """Tokens every instance still holds in reservations."""
    states = api(srv, "GET", "/stats/instances")
    states = states.get("instances", states) if isinstance(states, dict) else states
    return {s["name"]: s["tpm"]["reserved"] for s in states}


def wait_unreserved(srv, timeout):
    deadline = time.time() + timeout
    while True:
        held = reserved(srv)
        if not any(held.values()) or time.time() > deadline:
            return held
        time.sleep(0.2)


def access_log(srv, expected=0, timeout=5.0):
    """(lines, 200s) of the proxied chat completions in the access log, read by the
    request line and the status (whatever else the LogFormat holds).  httpd writes a
    line just after the answer went out: waits (at most timeout) for expected lines."""
    deadline = time.time() + timeout
    while True:
        lines = ok = 0
        for line in srv.read_log(srv.access_log).splitlines():
            m = REQUEST_LINE.search(line)
            if m and m.group("method") == "POST" and m.group("path") == "/v1/chat/completions":
                lines += 1
                ok += m.group("status") == "200"
        if lines >= expected or time.time() > deadline:
            return lines, ok
        time.sleep(0.1)


def unexpected_log_lines(srv):
    """[error] and worse that no fault here explains, and any child that died of
    anything but the SIGKILLs the test sent."""
    bad = []
    for line in srv.read_log().splitlines():
        if re.search(r"\[(?:[\w_]+:)?(error|crit|alert|emerg)\]", line) \
                and not EXPECTED_ERRORS.search(line):
            bad.append(line)
        elif "exit signal" in line and "exit signal Killed" not in line:
            bad.append(line)
    return bad
