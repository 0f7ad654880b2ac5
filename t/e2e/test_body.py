# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The request body, read once: large and chunked bodies reach the instance that
fails over byte for byte (with the stream_options splice), the size limit holds at
its exact value for both framings, and a stream's body leaves the process when its
answer starts (the children's private memory, from /proc/<pid>/smaps_rollup)."""

import http.client
import json
import socket
import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server
from mockclient import start_mock
from test_balancing import KEY, fleet_yaml, instance
from test_resilience import children

LIMIT = 2 * 1024 * 1024
SPLICE = b',"stream_options":{"include_usage":true}'


@pytest.fixture(scope="module")
def mock():
    m = start_mock(name="body", api_key=KEY, deployments={"dep-a": "gpt-4o", "dep-b": "gpt-4o"})
    yield m
    m.stop()


@pytest.fixture
def started(mock):
    mock.client.reset()
    servers = []

    def start(mpm, limit=LIMIT):
        srv = make_server(mpm, fleet_yaml("failover", [
            instance("a", mock.port, ["gpt-4o"], priority=1),
            instance("b", mock.port, ["gpt-4o"], priority=2)]),
            extra_conf="AOProxyMaxBodySize %d" % limit)
        srv.start()
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        bad = srv.unexpected_errors()
        srv.stop()
        assert not bad, "\n".join(bad)


def body_of(size, stream=False, extra=None):
    """A chat body of exactly size bytes, with escapes and non-ASCII in its prompt (the
    gateway must pass them as they are) and a space after the closing brace."""
    head = {"model": "gpt-4o", "stream": stream, "max_tokens": 5}
    head.update(extra or {})
    head["messages"] = [{"role": "user", "content": ""}]
    empty = json.dumps(head, separators=(",", ":")).encode() + b" "
    unit = b'line \\"one\\"\\n\\u00e9t\xc3\xa9 '
    room = size - len(empty)
    prompt = unit * (room // len(unit)) + b"x" * (room % len(unit))
    out = empty.replace(b'"content":""', b'"content":"' + prompt + b'"')
    assert len(out) == size and json.loads(out)
    return out


def post(srv, body, chunked=False, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if chunked:
        pieces = [body[i:i + 7001] for i in range(0, len(body), 7001)]
        conn.request("POST", "/v1/chat/completions", body=iter(pieces), headers=headers,
                     encode_chunked=True)
    else:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


@pytest.mark.parametrize("mpm", MPMS)
def test_large_and_chunked_bodies_fail_over_byte_for_byte(mpm, mock, started):
    srv = started(mpm)
    # a answers 500 and rests a millisecond: each body fails over from a to b.
    fail_a = [{"deployment": "dep-a", "status": 500, "times": 1,
               "headers": {"retry-after-ms": "1"}}]
    for size, chunked in ((1024 * 1024, False), (300 * 1000, True), (1024 * 1024 + 3, True),
                          (70 * 1000, False), (2000, True), (3000, False)):
        time.sleep(0.05)
        mock.client.reset()
        mock.client.rules(fail_a)
        body = body_of(size, stream=True)
        status, data = post(srv, body, chunked)
        assert status == 200, data[:300]
        assert data.rstrip().endswith(b"data: [DONE]")
        recs = mock.client.requests()
        assert len(recs) == 2, [(r["deployment"], r["status"], r["body_length"]) for r in recs]
        a, b = recs
        assert (a["deployment"], b["deployment"]) == ("dep-a", "dep-b")
        # The client's bytes, the stream_options member inserted before the last brace.
        want = body[:-2] + SPLICE + body[-2:]
        assert a["body"].encode() == want, (size, chunked)
        assert b["body"].encode() == want, (size, chunked)
        assert b["body_length"] == len(want)
    # A client that asked for usage itself: not a byte changed.
    time.sleep(0.05)
    mock.client.reset()
    mock.client.rules(fail_a)
    body = body_of(600 * 1000, stream=True, extra={"stream_options": {"include_usage": True}})
    status, _ = post(srv, body, chunked=True)
    assert status == 200
    assert [r["body"].encode() for r in mock.client.requests()] == [body, body]


@pytest.mark.parametrize("mpm", MPMS)
def test_the_size_limit_holds_at_its_exact_value(mpm, mock, started):
    limit = 200 * 1000
    srv = started(mpm, limit=limit)
    for chunked in (False, True):
        mock.client.reset()
        body = body_of(limit)
        status, data = post(srv, body, chunked)
        assert status == 200, data[:300]
        (rec,) = mock.client.requests()
        assert rec["body"].encode() == body
        status, data = post(srv, body_of(limit + 1), chunked)
        assert status == 413, data[:300]
        err = json.loads(data)["error"]
        assert err["code"] == "request_too_large" and str(limit) in err["message"]
        assert len(mock.client.requests()) == 1


def private_kb(pid):
    """The process's private memory (pages no other process shares), in kB."""
    total = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def growth_kb(before, pids):
    """Private memory grown since before ({pid: kB}); a child started since counts
    whole, less the least an old child had (what a fresh fork carries anyway)."""
    floor = min(before.values())
    return sum(max(0, private_kb(p) - before.get(p, floor)) for p in pids)


class HeldStream(threading.Thread):
    """A streamed chat with a prompt of a megabyte, read slowly to its end."""

    def __init__(self, srv, body):
        super().__init__(daemon=True)
        self.srv, self.body = srv, body
        self.first_byte = threading.Event()
        self.data = b""

    def run(self):
        sock = socket.create_connection(("127.0.0.1", self.srv.port), timeout=60)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(self.body) + self.body)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            if b"data: " in self.data + chunk:
                self.first_byte.set()
            self.data += chunk
        sock.close()


@pytest.mark.parametrize("mpm", MPMS)
def test_a_streams_body_leaves_the_process_when_its_answer_starts(mpm, mock, started):
    n, mb = 6, 1024
    srv = started(mpm)
    time.sleep(1.0)                       # the children settle
    before = {p: private_kb(p) for p in children(srv)}
    # The answers start after 3 s, then stream for 5 s more.
    mock.client.rules([{"stream": True, "delay_ms": 3000, "chunks": 20,
                        "event_delay_ms": 250}])
    streams = [HeldStream(srv, body_of(mb * 1024, stream=True)) for _ in range(n)]
    for s in streams:
        s.start()
    time.sleep(2.0)
    assert not any(s.first_byte.is_set() for s in streams)
    waiting = growth_kb(before, children(srv)) / n
    for s in streams:
        assert s.first_byte.wait(15)
    time.sleep(0.5)
    answering = growth_kb(before, children(srv)) / n
    for s in streams:
        s.join(30)
        assert b"data: [DONE]" in s.data, s.data[-300:]
    print("private memory per stream: %.0f kB waiting, %.0f kB answering" % (
        waiting, answering))
    # Waiting for its answer, a stream may still fail over: its body is there, once
    # (1 MB), not copied (four copies before).
    assert waiting <= 1.5 * mb, waiting
    # Once the answer started, the body is gone.
    assert answering <= 256, answering
