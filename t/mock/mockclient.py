# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""mockclient.py - tiny stdlib helpers to drive t/mock/mock_azure.py from tests.

    from mockclient import start_mock
    mock = start_mock(name="east", deployments={"chat": "gpt-4o-mini"}, api_key="k")
    proc, port, client = mock          # it unpacks as a 3-tuple
    client.rules([{"status": 429, "headers": {"Retry-After": "1"}, "times": 1}])
    ...
    client.requests(); client.stats(); client.reset()
    mock.stop()                        # or stop(proc)
"""

import json
import os
import select
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK_SCRIPT = os.path.join(HERE, "mock_azure.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class MockClient:
    """Talks to the /_mock/ control API of one mock instance."""

    def __init__(self, base_url, timeout=10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # An https mock has a test's self-signed certificate.
        self.context = ssl._create_unverified_context() if base_url.startswith("https") else None

    def _call(self, method, path, obj=None):
        data = None
        headers = {}
        if obj is not None:
            data = json.dumps(obj).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                return json.loads(r.read().decode() or "null")
        except urllib.error.HTTPError as e:
            raise RuntimeError("mock control %s %s -> %s: %s" % (method, path, e.code, e.read()[:500]))

    def health(self):
        return self._call("GET", "/_mock/health")

    def reset(self):
        return self._call("POST", "/_mock/reset", {})

    def rules(self, rules):
        """Append rules (a list of dicts); returns their indexes."""
        return self._call("POST", "/_mock/rules", {"rules": list(rules)})["indexes"]

    def clear_rules(self):
        """Remove every rule; recordings and counters stay."""
        return self._call("POST", "/_mock/rules/clear", {})

    def list_rules(self):
        return self._call("GET", "/_mock/rules")

    def requests(self):
        return self._call("GET", "/_mock/requests")

    def stats(self):
        return self._call("GET", "/_mock/stats")


class MockProcess(tuple):
    """(proc, port, client) plus .proc/.port/.client/.url/.name and .stop()."""

    def __new__(cls, proc, port, client, name):
        self = super().__new__(cls, (proc, port, client))
        self.proc, self.port, self.client, self.name = proc, port, client, name
        self.url = client.base_url
        return self

    def stop(self):
        stop(self.proc)


def start_mock(name="mock", deployments=None, api_key=None, extra_args=(), host="127.0.0.1",
               quiet=True, timeout=10.0, tls=None):
    """Start mock_azure.py on a free port; wait for READY (``timeout`` s).

    ``deployments``: dict {dep: model} or iterable of "dep=model" strings.
    ``tls``: (certificate, key) files: the mock serves https (its control API too).
    Returns a MockProcess, which unpacks as ``(proc, port, client)``.
    """
    cmd = [PYTHON, MOCK_SCRIPT, "--host", host, "--port", "0", "--name", name]
    if api_key is not None:
        cmd += ["--api-key", api_key]
    if deployments:
        items = deployments.items() if isinstance(deployments, dict) else \
            (tuple(d.split("=", 1)) if "=" in d else (d, "gpt-4o-mini") for d in deployments)
        for dep, model in items:
            cmd += ["--deployment", "%s=%s" % (dep, model)]
    if quiet:
        cmd.append("--quiet")
    if tls:
        cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    cmd += list(extra_args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    port = None
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        for line in buf.split(b"\n")[:-1]:
            if line.startswith(b"READY "):
                port = int(line.split()[1])
        if port is not None:
            break
    if port is None:
        stop(proc)
        raise RuntimeError("mock %r did not become ready in %.0fs (output: %r)" % (name, timeout, buf[:500]))
    # the mock prints nothing on stdout after READY (logs go to stderr)
    proc.stdout.close()
    h = "[%s]" % host if ":" in host else host
    client = MockClient("%s://%s:%d" % ("https" if tls else "http", h, port))
    return MockProcess(proc, port, client, name)


def stop(proc, timeout=5.0):
    """SIGTERM the mock process, then SIGKILL if it does not exit in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
