# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The shipped MPM settings for streaming gateways (conf/aoproxy-streaming.conf, the
package's conf-available/aoproxy-streaming.conf), included as they are after the
tests' own MPM lines, as Debian reads conf-enabled/ after mods-enabled/: Apache runs
its 16 processes with the module, and slow streams are served all at once rather
than as many at a time as the tests' 64 threads allow.  The event MPM only: the
file does nothing under prefork."""

import http.client
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import make_server
from harness import SRCDIR
from mockclient import start_mock

KEY = "key-streaming-0123456789ab"
SHIPPED = os.path.join(SRCDIR, "conf", "aoproxy-streaming.conf")
STREAMS = 200                   # over the tests' own MaxRequestWorkers (64)
EVENTS, EVENT_MS = 12, 500      # each stream lasts 6 s


@pytest.fixture(scope="module")
def slow_mock():
    m = start_mock(name="slow", api_key=KEY, deployments={"dep-slow": "gpt-4o-mini"})
    yield m
    m.stop()


@pytest.fixture(scope="module")
def streaming_server(request, slow_mock):
    yaml = """\
routing: {{ strategy: "failover", retries: 1, timeout: 30 }}
instances:
  - name: "slow"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    supported_models: ["gpt-4o-mini"]
    model_deployments: {{ gpt-4o-mini: "dep-slow" }}
""".format(key=KEY, port=slow_mock.port)
    srv = make_server("event", yaml, extra_conf='Include "%s"' % SHIPPED)
    srv.start()
    yield srv
    srv.stop()
    if not request.session.testsfailed:
        shutil.rmtree(srv.root, ignore_errors=True)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def stream(port, results, i):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/chat/completions", json.dumps({
            "model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}),
            {"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        results[i] = (resp.status, body.rstrip().endswith(b"data: [DONE]"))
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        results[i] = (repr(e), False)


def test_the_shipped_file_runs_its_processes(streaming_server):
    # The parent forks them after it listens, and a busy machine takes a while.
    deadline = time.time() + 30
    while len(children(streaming_server.pid())) < 16 and time.time() < deadline:
        time.sleep(0.2)
    kids = children(streaming_server.pid())
    assert len(kids) == 16, kids
    listen = subprocess.run(["ss", "-ltnH", "sport = :%d" % streaming_server.port],
                            capture_output=True, text=True).stdout.split()
    assert listen[2] == "4096", listen          # Send-Q of a listener: its backlog


def test_slow_streams_are_served_at_once(streaming_server, slow_mock):
    slow_mock.client.reset()
    slow_mock.client.rules([{"stream": True, "chunks": EVENTS, "event_delay_ms": EVENT_MS}])
    results = [None] * STREAMS
    threads = [threading.Thread(target=stream, args=(streaming_server.port, results, i))
               for i in range(STREAMS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [(200, True)] * STREAMS, [r for r in results if r != (200, True)][:5]
    arrivals = sorted(r["time"] for r in slow_mock.client.requests())
    assert len(arrivals) == STREAMS
    # Every request reached the backend before the first stream could end: with the
    # tests' 64 threads, the 65th would wait for a whole stream (6 s).
    assert arrivals[-1] - arrivals[0] < EVENTS * EVENT_MS / 1000.0 * 0.75, \
        arrivals[-1] - arrivals[0]
