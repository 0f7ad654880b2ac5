# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""A fixed number of requests (wrk runs for a time, not a count): a few asyncio
clients, each on its own keep-alive connection, send one POST after the other until
`total` have been answered."""

import asyncio
import re
import time

from .common import KEY

LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")


async def client(port, request, todo, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while todo[0] > 0:
            todo[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            m = LENGTH.search(head)
            if not m:
                raise RuntimeError("an answer without Content-Length")
            await reader.readexactly(int(m.group(1)))
            counts["ok" if head.startswith(b"HTTP/1.1 200") else "failed"] += 1
    finally:
        writer.close()


async def run(port, path, body, total, connections):
    request = (b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               b"api-key: %s\r\nContent-Length: %d\r\n\r\n" % (path.encode(), KEY.encode(),
                                                               len(body)) + body)
    todo, counts = [total], {"ok": 0, "failed": 0}
    await asyncio.gather(*(client(port, request, todo, counts) for _ in range(connections)))
    return counts


def send(port, path, body, total, connections=8):
    """{"requests", "failed", "rps"} once `total` requests have been answered."""
    t0 = time.perf_counter()
    counts = asyncio.run(run(port, path, body, total, connections))
    secs = time.perf_counter() - t0
    done = counts["ok"] + counts["failed"]
    return {"requests": done, "failed": counts["failed"], "rps": done / secs}
