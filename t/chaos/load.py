# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""A closed-loop load generator that counts what clients see, exactly.

Each of N threads keeps one HTTP/1.1 keep-alive connection and sends requests back to
back.  An answer counts as good only when its status is 200 and its body is complete
and well formed: a JSON completion whose content comes from an instance, or a stream
of events that ends with [DONE] and carries no error event.  Everything else is an
error, by kind: the status, "incomplete" (a body shorter than announced, a cut
chunked stream), "bad_body", "error_event", "timeout", "connect", "reset".

One case is not an error: a request sent on a reused keep-alive connection that the
server closes without a byte of answer (it closed the idle connection: a graceful
restart, a child that exited).  Every HTTP client retries that on a new connection
(RFC 9112 section 9.3.1); so does this one, once, and counts it as "stale".
"""

import http.client
import json
import socket
import threading
import time

CHAT = {"model": "gpt-4o-mini", "max_tokens": 8,
        "messages": [{"role": "user", "content": "Say hello to the chaos test."}]}


class Stale(Exception):
    """The server closed a reused connection before answering."""


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = {}          # kind -> count
        self.stale = 0
        self.samples = []         # (start, end, kind or "ok"): monotonic times
        self.examples = {}        # kind -> first detail

    def add(self, started, kind, detail=None):
        now = time.monotonic()
        with self.lock:
            if kind == "ok":
                self.ok += 1
            else:
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.examples.setdefault(kind, detail)
            self.samples.append((started, now, kind))

    def completed(self, t0, t1):
        """Good answers that completed in [t0, t1): throughput."""
        with self.lock:
            return sum(1 for _, t, k in self.samples if t0 <= t < t1 and k == "ok")

    def errors_started(self, t0, t1):
        """{kind: n} of the failed requests that started in [t0, t1)."""
        out = {}
        with self.lock:
            for t, _, k in self.samples:
                if t0 <= t < t1 and k != "ok":
                    out[k] = out.get(k, 0) + 1
        return out

    def error_total(self):
        with self.lock:
            return sum(self.errors.values())


def check_json(body):
    try:
        obj = json.loads(body)
        content = obj["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "bad_body"
    return None if isinstance(content, str) and content.startswith("mock:") else "bad_body"


def check_stream(body):
    events = [l[6:] for l in body.decode("utf-8", "replace").split("\n")
              if l.startswith("data: ")]
    bad = False
    for e in events:
        if e == "[DONE]":
            continue
        try:
            if "error" in json.loads(e):
                return "error_event"       # the proxy told the client its stream broke
        except ValueError:
            bad = True
    if bad:
        return "bad_body"
    if not events or events[-1] != "[DONE]":
        return "incomplete"
    return None


class Load:
    """Runs until stop(); .counts holds what the clients saw."""

    def __init__(self, port, connections=16, timeout=60.0, stream_every=0):
        self.port = port
        self.connections = connections
        self.timeout = timeout
        self.stream_every = stream_every   # every k-th request of a thread streams; 0: none
        self.counts = Counts()
        self.stopping = threading.Event()
        self.threads = []

    def start(self):
        for i in range(self.connections):
            t = threading.Thread(target=self.run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 10)
        return self.counts

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def run(self, i):
        conn, n = None, 0
        while not self.stopping.is_set():
            n += 1
            stream = self.stream_every and n % self.stream_every == 0
            payload = dict(CHAT, stream=True) if stream else CHAT
            body = json.dumps(payload).encode()
            reused = conn is not None
            started = time.monotonic()
            if conn is None:
                conn = self.connect()
            try:
                kind, detail = self.one(conn, body, stream, reused)
            except Stale:
                with self.counts.lock:
                    self.counts.stale += 1
                conn.close()
                conn = self.connect()
                try:
                    kind, detail = self.one(conn, body, stream, False)
                except Stale:
                    kind, detail = "reset", "closed without an answer"
            if kind != "ok":
                conn.close()
                conn = None
            self.counts.add(started, kind, detail)
        if conn is not None:
            conn.close()

    def one(self, conn, body, stream, reused):
        """One request: ("ok", None) or (error kind, detail)."""
        try:
            conn.request("POST", "/v1/chat/completions", body=body,
                         headers={"Content-Type": "application/json"})
        except (ConnectionRefusedError, socket.gaierror) as e:
            return "connect", repr(e)
        except (BrokenPipeError, ConnectionResetError) as e:
            if reused:
                raise Stale() from e
            return "reset", repr(e)
        except socket.timeout:
            return "timeout", "sending"
        try:
            resp = conn.getresponse()
        except http.client.RemoteDisconnected as e:
            if reused:
                raise Stale() from e
            return "reset", repr(e)
        except ConnectionResetError as e:
            if reused:
                raise Stale() from e
            return "reset", repr(e)
        except socket.timeout:
            return "timeout", "waiting for the answer"
        except (http.client.HTTPException, OSError) as e:
            return "reset", repr(e)
        try:
            data = resp.read()
        except http.client.IncompleteRead as e:
            # A broken stream ends with the proxy's error event, then the connection
            # closes without the last chunk: the client was told.
            if stream and check_stream(e.partial) == "error_event":
                return "error_event", e.partial[-300:]
            return "incomplete", repr(e)[:200]
        except socket.timeout:
            return "timeout", "reading the answer"
        except (http.client.HTTPException, OSError) as e:
            return "incomplete", repr(e)[:200]
        if resp.status != 200:
            return "status_%d" % resp.status, data[:300]
        problem = check_stream(data) if stream else check_json(data)
        if problem:
            return problem, data[-300:]
        if resp.will_close:
            conn.close()
        return "ok", None
