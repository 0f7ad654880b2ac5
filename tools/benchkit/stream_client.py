# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Many concurrent streamed requests from one cheap process (asyncio): each client
opens its own connection at its turn in a linear ramp, POSTs the body, and reads the
chunked SSE answer to its end. Per stream: when it connected, its time to the first
body byte, and whether it completed (status 200, every chunk, [DONE]).

    /usr/bin/python3 -m benchkit.stream_client --port P --path /v1/chat/completions \\
        --streams 1000 --ramp 2 [--prompt-bytes 102400] [--model M]

(run from tools/) prints a summary as JSON."""

import argparse
import asyncio
import json
import resource
import time

from benchkit.common import KEY, STREAM_MODEL, chat_body, percentile


class Progress:
    """Counts the sampler reads while the streams run."""

    def __init__(self):
        self.connected = self.first_byte = self.finished = 0
        self.lag_max = 0.0

    def in_progress(self):
        return self.connected - self.finished


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def read_chunked(reader, on_first):
    """Reads chunks to the last one; returns the bytes of the body."""
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return b"".join(parts)
        if not parts:
            on_first()
        parts.append(data[:-2])


async def one_stream(port, request, start, timeout, progress):
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start - loop.time()))
    t0 = loop.time()
    rec = {"start": t0, "ttfb": None, "ok": False, "error": None}
    writer = None

    def first():
        rec["ttfb"] = loop.time() - t0
        progress.first_byte += 1

    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=1 << 20), timeout)
        progress.connected += 1
        writer.write(request)
        async with asyncio.timeout(timeout):
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                rec["error"] = "status %d" % status
            elif b"transfer-encoding: chunked" not in head.lower():
                rec["error"] = "not chunked"
            else:
                body = await read_chunked(reader, first)
                rec["ok"] = body.rstrip().endswith(b"data: [DONE]")
                if not rec["ok"]:
                    rec["error"] = "no [DONE]"
    except TimeoutError:
        rec["error"] = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        rec["error"] = type(e).__name__
    finally:
        rec["seconds"] = loop.time() - t0
        if writer is not None:
            progress.finished += 1
            writer.close()
    return rec


def build_request(path, body):
    return (b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Accept: text/event-stream\r\napi-key: %s\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), KEY.encode(), len(body)) + body)


async def run_streams(port, path, body, n, ramp, timeout, progress=None):
    """n streams, the i-th starting at i * ramp / n seconds; returns their records."""
    progress = progress or Progress()
    request = build_request(path, body)
    t0 = asyncio.get_running_loop().time() + 0.05
    tasks = [one_stream(port, request, t0 + i * ramp / n, timeout, progress)
             for i in range(n)]
    return await asyncio.gather(*tasks)


def summarize(records):
    ok = [r for r in records if r["ok"]]
    ttfb = sorted(r["ttfb"] * 1000 for r in records if r["ttfb"] is not None)
    errors = {}
    for r in records:
        if not r["ok"]:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    return {"streams": len(records), "completed": len(ok), "failed": len(records) - len(ok),
            "errors": errors,
            "ttfb_p50_ms": percentile(ttfb, 0.5), "ttfb_p99_ms": percentile(ttfb, 0.99),
            "ttfb_max_ms": ttfb[-1] if ttfb else None,
            "seconds_p50": percentile(sorted(r["seconds"] for r in ok), 0.5)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--ramp", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--prompt-bytes", type=int, default=0)
    ap.add_argument("--model", default=STREAM_MODEL)
    args = ap.parse_args()
    raise_fd_limit()
    body = chat_body(args.prompt_bytes, model=args.model, stream=True)
    t0 = time.perf_counter()
    records = asyncio.run(run_streams(args.port, args.path, body, args.streams, args.ramp,
                                      args.timeout))
    out = summarize(records)
    out["wall_seconds"] = time.perf_counter() - t0
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
