# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""A slow Azure: answers every POST with a chat stream (SSE, chunked) that lasts
--seconds, one content event every --seconds / --events, as a model generating
tokens does. asyncio from the standard library, one process, thousands of streams.

    /usr/bin/python3 -m benchkit.sse_backend --port 0 [--seconds 10] [--events 10]

(run from tools/); prints "READY <port>"; SIGTERM ends it. The request body is read
whole (Content-Length or chunked) before the answer starts, as Azure does.
"""

import argparse
import asyncio
import resource
import signal
import socket
import sys

from benchkit.servers import ANSWER, sse_events

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n")
# A request that does not ask to stream (the servers' readiness check) is answered
# at once.
JSON = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(ANSWER) + ANSWER.encode())


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


async def read_body(reader, head):
    """The request body, whole (Content-Length or chunked)."""
    low = head.lower()
    if b"transfer-encoding: chunked" in low:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append((await reader.readexactly(size + 2))[:-2])
            if size == 0:
                return b"".join(parts)
    for line in low.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


def wants_stream(body):
    # The benchmark's bodies say it near their start, in this spelling (chat_body);
    # a proxy may move it, so its end is looked at too. No full parse: a 1 MB prompt
    # would cost this one-core backend more than the proxies under test.
    return b'"stream":true' in body[:4096] or b'"stream":true' in body[-512:]


class Backend:
    def __init__(self, seconds, events):
        words = ["tok%d " % i for i in range(events)]
        evs = [e.encode() for e in sse_events(words)]
        # Two opening events at once (filter results, role), then one word per tick,
        # then the finish, usage and [DONE] with the last word.
        self.first = chunk(b"".join(evs[:2]))
        self.ticks = [chunk(e) for e in evs[2:2 + events]]
        self.tail = chunk(b"".join(evs[2 + events:])) + b"0\r\n\r\n"
        self.interval = seconds / max(events, 1)
        self.streams = 0

    async def serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await read_body(reader, head)
                if not wants_stream(body):
                    writer.write(JSON)
                    await writer.drain()
                    continue
                self.streams += 1
                writer.write(HEAD + self.first)
                await writer.drain()
                for t in self.ticks:
                    await asyncio.sleep(self.interval)
                    writer.write(t)
                    await writer.drain()
                writer.write(self.tail)
                await writer.drain()
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def main(args):
    backend = Backend(args.seconds, args.events)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    server = await asyncio.start_server(backend.serve, sock=sock, backlog=8192, limit=1 << 20)
    print("READY %d" % sock.getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--events", type=int, default=10)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(ap.parse_args()))
    sys.exit(0)
