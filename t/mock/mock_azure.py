#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""mock_azure.py - a scriptable mock of the Azure OpenAI data-plane API.

Stdlib only (Python 3.11).  Used by mod_aoproxy's end-to-end tests: a real
Apache with mod_aoproxy is put in front of one or more instances of this
server.  It answers like Azure OpenAI on the wire, records every request it
receives, and can be told to misbehave through a small JSON control API under
``/_mock/``.

Azure endpoints (POST, ``api-version`` query parameter required)::

    /openai/deployments/{dep}/chat/completions
    /openai/deployments/{dep}/completions
    /openai/deployments/{dep}/embeddings
    /openai/v1/chat/completions, /openai/v1/completions, /openai/v1/embeddings
        (Azure's v1 API: no api-version; the body's ``model`` is the deployment)
    /openai/responses..., /openai/v1/responses...   (mock_responses.py)
    token endpoints with --token-secret            (mock_entra.py)

Deterministic answers
---------------------
CONTENT (chat message content, completion text) is ``"mock:{name}:{dep}"``,
where ``name`` is the ``--name`` of this instance; a rule with
``content_bytes`` pads it with ``" "`` + ``"x" * k`` to exactly that many
bytes.

Usage numbers:

* ``prompt_tokens P = max(1, total_chars // 4)`` where ``total_chars`` is the
  total number of characters (``len()`` of the Python str, i.e. code points)
  of all message contents (chat: string contents plus the ``text`` of
  ``{"type":"text"}`` content parts), of all prompt strings (completions), or
  of all input strings (embeddings).  Token-array inputs count one char per
  token.
* ``completion_tokens C = len(CONTENT.split()) * number_of_choices`` (so with
  the default ``n=1`` it is simply the number of whitespace-separated words of
  CONTENT; for completions the number of choices is ``n * number_of_prompts``).
* ``total_tokens = P + C``; embeddings report ``prompt_tokens = total_tokens = P``.

Embeddings are 8 floats (or ``dimensions`` of them if the request sets it),
derived from a SHA-256 of the input and exactly representable as float32; with
``"encoding_format":"base64"`` each is the base64 of the little-endian float32
array.

Control API (JSON)
------------------
``GET /_mock/health``    -> ``{"ok":true}``
``GET /_mock/requests``  -> list of recorded (non-``/_mock``) requests
``POST /_mock/reset``    -> clears recordings, rules and counters
``POST /_mock/rules``    -> ``{"rules":[...]}`` appends rules
``GET /_mock/rules``     -> the rules with their remaining ``times``
``GET /_mock/stats``     -> ``{"requests","by_deployment","tokens_served","tokens_by_minute",
"token_requests","responses_stored","connections"}``: connections is how many TCP connections were
accepted (with ``--tls-cert``/``--tls-key``, TLS connections: the handshakes a proxy
made, so a test sees whether it reuses its connections)

``POST /_mock/rules/clear`` -> removes the rules only (recordings and counters stay)

Recorded request: ``{"method","path","query" (raw string),"params" (dict; a
repeated key gives a list),"headers" ([name,value] pairs as received),"body"
(raw text),"json" (parsed or null),"body_length","time","rule" (index of the
rule applied or null),"deployment","status" (what was answered: an int, or
"reset"/"hang"/"cut"/"closed"/"truncated"/"stalled"/"no_done")}``.  Every request outside
``/_mock/`` is counted; with ``--max-records N`` only the first N since the last
reset are kept (a load test's memory stays bounded; ``stats`` still counts all).

Rules (``POST /_mock/rules`` ``{"rules":[rule,...]}``; the first matching
live rule wins; indexes count from the last reset):

* matchers: ``deployment`` (str), ``path_suffix`` (e.g. "chat/completions"),
  ``stream`` (bool, compared with the body's ``"stream": true``)
* ``times``: apply to this many requests, then the rule is spent (default:
  unlimited)
* ``delay_ms``: wait before answering (before any other action)
* ``status`` (+ ``body``: JSON object or raw string, default an Azure-shaped
  error for that status; + ``headers``: dict added to / replacing the answer's
  headers): answer that instead of the normal answer
* ``action``: ``"reset"`` (SO_LINGER 0 + close: TCP RST, no answer),
  ``"close"`` (close (FIN) without a byte of answer),
  ``"hang"`` (no answer until the client closes, at most ``hang_ms``, default
  and max 120000), ``"cut_stream"`` (streams: send ``cut_after`` events,
  default 3, then close without ``[DONE]`` or the last chunk; non-streamed:
  announce the full Content-Length, send half the body, close),
  ``"truncate"`` (announce the whole answer, send its first ``truncate_after``
  bytes, default half, then close: non-streamed, the full Content-Length is
  promised; streamed, the cut falls wherever that byte is, mid-event if so,
  and the chunked encoding is left unterminated),
  ``"stall"`` (send the answer's start, then nothing until the client closes,
  at most ``hang_ms``: streams send ``stall_after`` events, default 2;
  non-streamed answers the headers and ``stall_after`` bytes, default half)
* ``error``: with ``status``, a named Azure error body instead of the default:
  ``content_filter`` (the prompt filter's 400 with ``innererror``),
  ``content_policy_violation``, ``context_length_exceeded``
* ``finish_reason``: the answer's finish_reason (e.g. ``content_filter``; default stop)
* ``first_event_delay_ms``: streams: the headers at once, then this long before the
  first event (a slow first token)
* ``malformed_at``: streams: event k is replaced by a cut JSON ``data:`` line
* ``done``: false ends a stream cleanly (its last chunk) but without
  ``data: [DONE]`` (recorded status "no_done")
* ``content``: CONTENT itself (a string) instead of ``mock:{name}:{dep}``
* ``prefill``: chat, when the last message is the assistant's with a string
  content P (an assistant prefill, as a resumed stream sends it): ``"continue"``
  answers CONTENT without P at its start (CONTENT when it does not start with
  P), as a deployment that continues prefills would; ``"reject"`` answers 400
  ``invalid_request_error`` (code ``unsupported_prefill``).  Without it the
  prefill is ignored (CONTENT whole), as Azure's GPT deployments do.
* ``chunks`` (K content pieces in a stream, default 5), ``event_delay_ms``
  (sleep between streamed events), ``content_bytes`` (pad CONTENT to that
  many bytes), ``headers`` (also applies to normal answers)
"""

import argparse
import base64
import hashlib
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

import mock_entra
import mock_responses

MAX_BODY = 256 * 1024 * 1024
DEFAULT_MODEL = "gpt-4o-mini"
HANG_MAX_S = 120.0

ERR_401 = ("Access denied due to invalid subscription key or wrong API endpoint. "
           "Make sure to provide a valid key for an active subscription and use a "
           "correct regional API endpoint for your resource.")
ERR_DEPLOYMENT = ("The API deployment for this resource does not exist. If you created "
                  "the deployment within the last 5 minutes, please wait a moment and "
                  "try again.")
ERR_BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely "
                "means you aren't using your HTTP library correctly. The OpenAI API "
                "expects a JSON payload, but what was sent was not valid JSON. If you "
                "have trouble figuring out how to fix this, please contact us through "
                "our help center at help.openai.com.)")

AZURE_PATH_RE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)$")
# Azure's v1 API: no api-version, the deployment is the body's "model".
AZURE_V1_RE = re.compile(r"^/openai/v1/(chat/completions|completions|embeddings)$")

CONTENT_FILTER_OK = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def default_error_body(status, api_version="2024-10-21"):
    """Azure-shaped error body for an HTTP status (used by rules without ``body``)."""
    if status == 400:
        return {"error": {"code": "BadRequest", "message": "The request is invalid.",
                          "type": "invalid_request_error", "param": None}}
    if status == 401:
        return {"error": {"code": "401", "message": ERR_401}}
    if status == 403:
        return {"error": {"code": "403", "message": "Access denied due to Virtual Network/Firewall rules."}}
    if status == 404:
        return {"error": {"code": "404", "message": "Resource not found"}}
    if status == 408:
        return {"error": {"code": "Timeout", "message": "The operation was timeout."}}
    if status == 429:
        return {"error": {"code": "429", "message": (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            f"{api_version} have exceeded token rate limit of your current OpenAI S0 pricing tier. "
            "Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you "
            "would like to further increase the default rate limit.")}}
    if status == 500:
        return {"error": {"code": "InternalServerError",
                          "message": "The server had an error while processing your request. Sorry about that!"}}
    if status == 502:
        return {"error": {"code": "BadGateway", "message": "Bad gateway."}}
    if status == 503:
        return {"error": {"code": "ServiceUnavailable",
                          "message": "The service is temporarily unable to process your request. Please try again later."}}
    if status == 504:
        return {"error": {"code": "GatewayTimeout", "message": "The operation was timeout."}}
    return {"error": {"code": str(status), "message": "Mock error %d" % status}}


CONTENT_FILTER_HIT = dict(CONTENT_FILTER_OK, hate={"filtered": True, "severity": "high"},
                          jailbreak={"filtered": False, "detected": False})

PRESET_ERRORS = {
    # Azure's prompt filter: final, never retried; the details are in innererror.
    "content_filter": {"error": {
        "message": ("The response was filtered due to the prompt triggering Azure OpenAI's "
                    "content management policy. Please modify your prompt and retry. To learn "
                    "more about our content filtering policies please read our documentation: "
                    "https://go.microsoft.com/fwlink/?linkid=2198766"),
        "type": None, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation",
                       "content_filter_result": CONTENT_FILTER_HIT}}},
    "content_policy_violation": {"error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error", "param": None, "code": "content_policy_violation",
        "innererror": {"code": "ResponsibleAIPolicyViolation",
                       "content_filter_result": CONTENT_FILTER_HIT}}},
    "context_length_exceeded": {"error": {
        "message": ("This model's maximum context length is 128000 tokens. However, your "
                    "messages resulted in 130000 tokens. Please reduce the length of the "
                    "messages."),
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
}


def preset_error_body(name):
    """A named Azure error body (rule ``"error": name`` with a ``status``)."""
    if name not in PRESET_ERRORS:
        raise ValueError("unknown error preset %r (known: %s)" % (name, ", ".join(PRESET_ERRORS)))
    return PRESET_ERRORS[name]


def oai_error(message, param=None, code=None, etype="invalid_request_error"):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def count_words(s):
    return len(s.split())


def _text_len(x):
    """Characters of a prompt/input item: str -> len, token list -> len, else 0."""
    if isinstance(x, str):
        return len(x)
    if isinstance(x, list):
        return len(x)
    return 0


def prompt_tokens_from_chars(total_chars):
    """P = max(1, total_chars // 4)."""
    return max(1, total_chars // 4)


def chat_prompt_chars(messages):
    total = 0
    if not isinstance(messages, list):
        return 0
    for m in messages:
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            total += len(c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"])
                elif isinstance(part, str):
                    total += len(part)
    return total


def split_pieces(s, k):
    """Split s into at most k non-empty, nearly equal pieces (k >= 1)."""
    k = max(1, int(k))
    if not s:
        return []
    k = min(k, len(s))
    base, extra = divmod(len(s), k)
    out, pos = [], 0
    for i in range(k):
        size = base + (1 if i < extra else 0)
        out.append(s[pos:pos + size])
        pos += size
    return out


def embedding_vector(item, dims):
    """Deterministic vector of `dims` float32-exact floats in [-1, 1)."""
    seed = json.dumps(item, sort_keys=True).encode("utf-8", "replace")
    out = []
    counter = 0
    while len(out) < dims:
        h = hashlib.sha256(seed + b"#" + str(counter).encode()).digest()
        for i in range(0, len(h), 2):
            if len(out) >= dims:
                break
            v = int.from_bytes(h[i:i + 2], "little")  # 0..65535
            out.append((v - 32768) / 32768.0)  # exact in float32 (16-bit mantissa)
        counter += 1
    return out


class BadRequest(Exception):
    pass


class State:
    """Recordings, rules and counters, shared by all handler threads."""

    def __init__(self, max_records=None):
        self.lock = threading.Lock()
        self.max_records = max_records
        self.reset()

    def reset(self):
        with self.lock:
            self.count = 0
            self.requests = []
            self.rules = []          # list of dicts; "_remaining" None = unlimited
            self.by_deployment = {}
            self.tokens_served = 0
            self.tokens_by_minute = {}
            self.minute_requests = {}
            self.token_requests = 0
            self.responses = mock_responses.Store()
            self.connections = 0

    def connected(self):
        with self.lock:
            self.connections += 1

    def record(self, rec):
        with self.lock:
            self.count += 1
            if self.max_records is None or len(self.requests) < self.max_records:
                self.requests.append(rec)
            dep = rec.get("deployment")
            if dep is not None:
                self.by_deployment[dep] = self.by_deployment.get(dep, 0) + 1
            minute = int(rec["time"] // 60)
            self.minute_requests[minute] = self.minute_requests.get(minute, 0) + 1

    def update(self, rec, **kw):
        with self.lock:
            rec.update(kw)

    def clear_rules(self):
        with self.lock:
            self.rules = []

    def add_rules(self, rules):
        idx = []
        with self.lock:
            for r in rules:
                r = dict(r)
                if r.get("error") is not None:
                    preset_error_body(r["error"])  # unknown names: a 400 now, not later
                t = r.get("times")
                r["_remaining"] = None if t is None else int(t)
                self.rules.append(r)
                idx.append(len(self.rules) - 1)
        return idx

    def match_rule(self, deployment, path, is_stream):
        with self.lock:
            for i, r in enumerate(self.rules):
                if r["_remaining"] is not None and r["_remaining"] <= 0:
                    continue
                if "deployment" in r and r["deployment"] is not None and r["deployment"] != deployment:
                    continue
                if "path_suffix" in r and r["path_suffix"] is not None and not path.endswith(r["path_suffix"]):
                    continue
                if "stream" in r and r["stream"] is not None and bool(r["stream"]) != bool(is_stream):
                    continue
                if r["_remaining"] is not None:
                    r["_remaining"] -= 1
                return i, r
        return None, None

    def add_tokens(self, n):
        with self.lock:
            self.tokens_served += n
            m = str(int(time.time() // 60))
            self.tokens_by_minute[m] = self.tokens_by_minute.get(m, 0) + n

    def ratelimit_remaining(self):
        with self.lock:
            minute = int(time.time() // 60)
            req = self.minute_requests.get(minute, 0)
            tok = self.tokens_by_minute.get(str(minute), 0)
        return max(0, 1_000_000 - tok), max(0, 10_000 - req)

    def snapshot_requests(self):
        with self.lock:
            return [dict(r) for r in self.requests]

    def snapshot_rules(self):
        with self.lock:
            out = []
            for r in self.rules:
                d = {k: v for k, v in r.items() if not k.startswith("_")}
                d["remaining"] = r["_remaining"]
                out.append(d)
            return out

    def stats(self):
        with self.lock:
            return {
                "requests": self.count,
                "by_deployment": dict(self.by_deployment),
                "tokens_served": self.tokens_served,
                "tokens_by_minute": dict(self.tokens_by_minute),
                "token_requests": self.token_requests,
                "responses_stored": len(self.responses.items),
                "connections": self.connections,
            }


class ConnectionGone(Exception):
    """The client went away, or we closed the connection on purpose."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pieces = staticmethod(split_pieces)
    server_version = "mock-azure/1.0"
    sys_version = ""
    timeout = 600  # idle keep-alive connections are dropped after this

    # ---- plumbing -------------------------------------------------------
    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except Exception:
            pass

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, OSError, ConnectionGone):
            pass

    def log_message(self, fmt, *args):
        if not self.server.cfg.quiet:
            sys.stderr.write("[%s] %s - %s\n" % (self.server.cfg.name, self.address_string(), fmt % args))

    def version_string(self):
        return self.server_version

    @property
    def state(self):
        return self.server.state

    @property
    def cfg(self):
        return self.server.cfg

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return self._read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl.strip())
        except ValueError:
            raise BadRequest("bad Content-Length")
        if n < 0 or n > MAX_BODY:
            raise BadRequest("bad Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionGone()
        return data

    def _read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionGone()
            if not line.endswith(b"\n"):
                raise BadRequest("chunk size line too long")
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size < 0:
                raise BadRequest("bad chunk size")
            if size == 0:
                # trailers until an empty line
                while True:
                    t = self.rfile.readline(65537)
                    if not t:
                        raise ConnectionGone()
                    if t in (b"\r\n", b"\n"):
                        break
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            data = self.rfile.read(size)
            if len(data) != size:
                raise ConnectionGone()
            parts.append(data)
            crlf = self.rfile.readline(3)
            if crlf not in (b"\r\n", b"\n"):
                raise BadRequest("missing CRLF after chunk")
        return b"".join(parts)

    def common_headers(self):
        tok, req = self.state.ratelimit_remaining()
        rid = str(uuid.uuid4())
        return [
            ("apim-request-id", rid),
            ("x-request-id", rid),
            ("x-ratelimit-remaining-tokens", str(tok)),
            ("x-ratelimit-remaining-requests", str(req)),
            ("x-ms-region", "Mock Region"),
            ("x-mock-name", self.cfg.name),
        ]

    def send_raw(self, status, body, content_type="application/json", headers=None, extra=None):
        """Send a complete (Content-Length) response; body is bytes/str/obj."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        hdrs = [("Content-Type", content_type)]
        hdrs += extra if extra is not None else []
        hdrs = self._merge_headers(hdrs, headers)
        self.send_response(status)
        for k, v in hdrs:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    @staticmethod
    def _merge_headers(hdrs, override):
        if not override:
            return hdrs
        low = {k.lower() for k in override}
        out = [(k, v) for k, v in hdrs if k.lower() not in low]
        out += [(str(k), str(v)) for k, v in override.items()]
        return out

    def send_json(self, status, obj, headers=None, azure=True):
        self.send_raw(status, obj, "application/json", headers,
                      self.common_headers() if azure else [])

    def abort_reset(self):
        """Close the connection abruptly (RST) without answering."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except Exception:
            pass
        try:
            self.connection.close()
        except OSError:
            pass
        raise ConnectionGone()

    def abort_close(self):
        """Close the connection (FIN) wherever we are in the response."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise ConnectionGone()

    def client_gone(self):
        """True if the peer closed its side (readable with EOF) or errored."""
        try:
            r, _, x = select.select([self.connection], [], [self.connection], 0)
            if x:
                return True
            if r:
                data = self.connection.recv(1, socket.MSG_PEEK)
                return data == b""
        except (OSError, ValueError):
            return True
        return False

    def hang_then_close(self, rule):
        """Nothing more until the client closes (at most hang_ms), then close."""
        try:
            self.wfile.flush()
        except Exception:
            pass
        limit = time.monotonic() + min(HANG_MAX_S, float(rule.get("hang_ms", HANG_MAX_S * 1000)) / 1000.0)
        while time.monotonic() < limit and not self.client_gone():
            time.sleep(0.05)
        return self.abort_close()

    def sleep_ms(self, ms):
        if ms and ms > 0:
            time.sleep(ms / 1000.0)

    # ---- dispatch -------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def send_response(self, code, message=None):
        self._headers_started = True
        super().send_response(code, message)

    def dispatch(self):
        self._headers_started = False
        try:
            path, _, query = self.path.partition("?")
            if path.startswith("/_mock/") or path == "/_mock":
                return self.control(path, query)
            return self.azure(path, query)
        except ConnectionGone:
            self.close_connection = True
        except (ConnectionError, BrokenPipeError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # never crash; answer 500 if we still can
            self.close_connection = True
            if not self.cfg.quiet:
                import traceback
                traceback.print_exc()
            if not self._headers_started:
                try:
                    self.send_json(500, {"error": {"code": "MockInternalError", "message": repr(e)}})
                except Exception:
                    pass

    # ---- control API ----------------------------------------------------
    def control(self, path, query):
        try:
            raw = self.read_body()
        except BadRequest as e:
            self.close_connection = True
            return self.send_json(400, {"ok": False, "error": str(e)}, azure=False)
        st = self.state
        m = self.command
        if path == "/_mock/health" and m in ("GET", "HEAD"):
            return self.send_json(200, {"ok": True, "name": self.cfg.name}, azure=False)
        if path == "/_mock/requests" and m == "GET":
            return self.send_json(200, st.snapshot_requests(), azure=False)
        if path == "/_mock/stats" and m == "GET":
            return self.send_json(200, st.stats(), azure=False)
        if path == "/_mock/reset" and m == "POST":
            st.reset()
            return self.send_json(200, {"ok": True}, azure=False)
        if path == "/_mock/rules/clear" and m == "POST":
            st.clear_rules()
            return self.send_json(200, {"ok": True}, azure=False)
        if path == "/_mock/rules" and m == "GET":
            return self.send_json(200, st.snapshot_rules(), azure=False)
        if path == "/_mock/rules" and m == "POST":
            try:
                obj = json.loads(raw.decode("utf-8")) if raw else {}
            except (ValueError, UnicodeDecodeError) as e:
                return self.send_json(400, {"ok": False, "error": "bad JSON: %s" % e}, azure=False)
            rules = obj.get("rules") if isinstance(obj, dict) else obj
            if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                return self.send_json(400, {"ok": False, "error": "expected {\"rules\":[{...}]}"}, azure=False)
            try:
                idx = st.add_rules(rules)
            except (TypeError, ValueError) as e:
                return self.send_json(400, {"ok": False, "error": str(e)}, azure=False)
            return self.send_json(200, {"ok": True, "indexes": idx}, azure=False)
        return self.send_json(404, {"ok": False, "error": "unknown control endpoint"}, azure=False)

    # ---- Azure API ------------------------------------------------------
    def azure(self, path, query):
        rec = {
            "method": self.command, "path": path, "query": query,
            "params": {}, "headers": [[k, v] for k, v in self.headers.raw_items()],
            "body": "", "json": None, "body_length": 0, "time": time.time(),
            "rule": None, "deployment": None, "status": None,
        }
        params = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            if k in params:
                if isinstance(params[k], list):
                    params[k].append(v)
                else:
                    params[k] = [params[k], v]
            else:
                params[k] = v
        rec["params"] = params
        m = AZURE_PATH_RE.match(path)
        v1 = None if m else AZURE_V1_RE.match(path)
        dep = unquote(m.group(1)) if m else None
        kind = m.group(2) if m else (v1.group(1) if v1 else None)
        rec["deployment"] = dep

        bad_body = None
        try:
            raw = self.read_body()
        except BadRequest as e:
            raw, bad_body = b"", str(e)
            self.close_connection = True
        rec["body"] = raw.decode("utf-8", "replace")
        rec["body_length"] = len(raw)
        parsed, json_ok = None, False
        if raw:
            try:
                parsed = json.loads(rec["body"])
                json_ok = True
            except ValueError:
                pass
        rec["json"] = parsed
        is_stream = isinstance(parsed, dict) and parsed.get("stream") is True
        if v1 and isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            dep = rec["deployment"] = parsed["model"]
        responses = mock_responses.match(path)
        if responses and responses[1] is None and isinstance(parsed, dict) \
                and isinstance(parsed.get("model"), str):
            rec["deployment"] = parsed["model"]
        token_path = self.cfg.token_secret is not None and mock_entra.is_token_path(path)
        self.state.record(rec)

        def answer(status, obj, headers=None):
            self.state.update(rec, status=status)
            self.send_json(status, obj, headers)

        if bad_body is not None:
            return answer(400, oai_error("Invalid request: %s" % bad_body))

        # ---- scripted misbehaviour
        ri, rule = self.state.match_rule(rec["deployment"], path, is_stream)
        if rule is not None:
            self.state.update(rec, rule=ri)
            rule = dict(rule)
        else:
            rule = {}
        self.sleep_ms(rule.get("delay_ms"))
        action = rule.get("action")
        if action == "reset":
            self.state.update(rec, status="reset")
            return self.abort_reset()
        if action == "close":
            self.state.update(rec, status="closed")
            return self.abort_close()
        if action == "hang":
            self.state.update(rec, status="hang")
            return self.hang_then_close(rule)
        if rule.get("status") is not None:
            status = int(rule["status"])
            body = rule.get("body")
            hdrs = rule.get("headers") or {}
            if body is None and rule.get("error") is not None:
                body = preset_error_body(rule["error"])
            if body is None:
                body = default_error_body(status, params.get("api-version") or "2024-10-21")
            self.state.update(rec, status=status)
            if isinstance(body, str):
                try:
                    json.loads(body)
                    ctype = "application/json"
                except ValueError:
                    ctype = "text/plain; charset=utf-8"
                return self.send_raw(status, body, ctype, hdrs, self.common_headers())
            return self.send_json(status, body, hdrs)

        # ---- normal Azure behaviour
        if token_path:
            with self.state.lock:
                self.state.token_requests += 1
            status, obj = mock_entra.answer(self.cfg, self.command, path, query, self.headers, raw)
            self.state.update(rec, status=status)
            return self.send_json(status, obj, azure=False)
        if m is None and v1 is None and responses is None:
            return answer(404, {"error": {"code": "404", "message": "Resource not found"}})
        refusal = self.auth_refusal()
        if refusal is not None:
            return answer(401, refusal)
        if responses is not None:
            return mock_responses.handle(self, rec, responses, self.command, params, parsed,
                                         json_ok, rule, answer)
        if not params.get("api-version") and v1 is None:
            return answer(404, {"error": {"code": "404", "message": "Resource not found"}})
        if v1 is not None and not dep:
            return answer(400, oai_error("Missing required parameter: 'model'.", param="model"))
        if self.cfg.deployments and dep not in self.cfg.deployments:
            return answer(404, {"error": {"code": "DeploymentNotFound", "message": ERR_DEPLOYMENT}})
        if self.command != "POST":
            return answer(404, {"error": {"code": "404", "message": "Resource not found"}})
        if not json_ok or not isinstance(parsed, dict):
            return answer(400, oai_error(ERR_BAD_JSON))
        model = self.cfg.deployments.get(dep, DEFAULT_MODEL) if self.cfg.deployments else DEFAULT_MODEL
        so = parsed.get("stream_options")
        if so is not None and not is_stream:
            return answer(400, oai_error("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                         param="stream_options", code=None))
        n = parsed.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > 128:
            return answer(400, oai_error("%r is not valid under any of the given schemas - 'n'" % (n,), param="n"))

        content = rule.get("content") or "mock:%s:%s" % (self.cfg.name, dep)
        cb = rule.get("content_bytes")
        if cb:
            cb = int(cb)
            base = content.encode()
            if cb > len(base) + 1:
                content = content + " " + "x" * (cb - len(base) - 1)

        if kind == "embeddings":
            return self.embeddings(rec, parsed, model)
        if kind == "chat/completions":
            if "messages" not in parsed:
                return answer(400, oai_error("'messages' is a required property", param="messages"))
            if not isinstance(parsed["messages"], list) or not parsed["messages"]:
                return answer(400, oai_error("'messages' must be a non-empty array", param="messages"))
            ptok = prompt_tokens_from_chars(chat_prompt_chars(parsed["messages"]))
            nchoices = n
            last = parsed["messages"][-1]
            prefill = (last.get("content") if isinstance(last, dict)
                       and last.get("role") == "assistant" else None)
            if isinstance(prefill, str) and rule.get("prefill") == "reject":
                return answer(400, oai_error("An assistant message at the end of 'messages' "
                                             "is not supported (mock).", param="messages",
                                             code="unsupported_prefill"))
            if isinstance(prefill, str) and rule.get("prefill") == "continue":
                content = content[len(prefill):] if content.startswith(prefill) else content
        else:
            if "prompt" not in parsed:
                return answer(400, oai_error("'prompt' is a required property", param="prompt"))
            prompts = parsed["prompt"]
            if isinstance(prompts, str) or (isinstance(prompts, list) and prompts and isinstance(prompts[0], int)):
                prompts = [prompts]
            if not isinstance(prompts, list) or not prompts:
                prompts = [""]
            ptok = prompt_tokens_from_chars(sum(_text_len(p) for p in prompts))
            nchoices = n * len(prompts)
        ctok = count_words(content) * nchoices
        usage = {"prompt_tokens": ptok, "completion_tokens": ctok, "total_tokens": ptok + ctok}
        chat = kind == "chat/completions"
        if is_stream:
            return self.stream(rec, rule, chat, model, content, nchoices, usage,
                               include_usage=isinstance(so, dict) and so.get("include_usage") is True)
        created = int(time.time())
        if chat:
            obj = {
                "id": "chatcmpl-mock" + uuid.uuid4().hex[:20], "object": "chat.completion",
                "created": created, "model": model,
                "choices": [{"index": i, "message": {"role": "assistant", "content": content, "refusal": None},
                             "finish_reason": rule.get("finish_reason", "stop"), "logprobs": None,
                             "content_filter_results": CONTENT_FILTER_OK} for i in range(nchoices)],
                "usage": usage, "system_fingerprint": "fp_mock",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": CONTENT_FILTER_OK}],
            }
        else:
            obj = {
                "id": "cmpl-mock" + uuid.uuid4().hex[:20], "object": "text_completion",
                "created": created, "model": model,
                "choices": [{"index": i, "text": content, "finish_reason": rule.get("finish_reason", "stop"), "logprobs": None,
                             "content_filter_results": CONTENT_FILTER_OK} for i in range(nchoices)],
                "usage": usage, "system_fingerprint": "fp_mock",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": CONTENT_FILTER_OK}],
            }
        self.state.add_tokens(usage["total_tokens"])
        self.state.update(rec, status=200)
        # As Azure's answers come: members sorted, so "usage" last at the top.
        body = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
        if rule.get("action") in ("cut_stream", "truncate", "stall"):
            return self.partial_body(rec, rule, body)
        return self.send_raw(200, body, "application/json", rule.get("headers"), self.common_headers())

    def partial_body(self, rec, rule, body):
        """Promise the full Content-Length, send part of the body, then close
        (cut_stream: half; truncate: truncate_after bytes) or stall (stall_after
        bytes, then nothing)."""
        action = rule["action"]
        key = {"truncate": "truncate_after", "stall": "stall_after"}.get(action)
        n = int(rule.get(key, len(body) // 2)) if key else len(body) // 2
        n = max(0, min(n, len(body) - 1))
        self.state.update(rec, status={"cut_stream": "cut", "truncate": "truncated",
                                       "stall": "stalled"}[action])
        self.send_response(200)
        for k, v in [("Content-Type", "application/json")] + self.common_headers():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:n])
        if action == "stall":
            return self.hang_then_close(rule)
        return self.abort_close()

    def auth_refusal(self):
        """None when the request's credentials pass, else the 401 body.  With
        --token-secret an Entra/managed-identity Bearer token passes, and api-key only
        when --api-key is also given (Azure's disableLocalAuth otherwise)."""
        key = self.headers.get("api-key")
        if self.cfg.token_secret is not None:
            if key is not None:
                ok = self.cfg.api_key is not None and key == self.cfg.api_key
                return None if ok else {"error": {"code": "401", "message": ERR_401}}
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                return {"error": {"code": "401", "message": ERR_401}}
            return mock_entra.bearer_refusal(self.cfg, self.headers)
        if self.cfg.api_key is not None and key != self.cfg.api_key:
            return {"error": {"code": "401", "message": ERR_401}}
        return None

    def embeddings(self, rec, parsed, model):
        if "input" not in parsed:
            self.state.update(rec, status=400)
            return self.send_json(400, oai_error("'input' is a required property", param="input"))
        inp = parsed["input"]
        if isinstance(inp, str) or (isinstance(inp, list) and inp and isinstance(inp[0], int)):
            items = [inp]
        elif isinstance(inp, list) and inp:
            items = inp
        else:
            self.state.update(rec, status=400)
            return self.send_json(400, oai_error("'$.input' is invalid.", param="input"))
        dims = parsed.get("dimensions") or 8
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1 or dims > 4096:
            dims = 8
        b64 = parsed.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(items):
            vec = embedding_vector(item, dims)
            emb = base64.b64encode(struct.pack("<%df" % dims, *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        p = prompt_tokens_from_chars(sum(_text_len(x) for x in items))
        self.state.add_tokens(p)
        self.state.update(rec, status=200)
        obj = {"object": "list", "data": data, "model": model,
               "usage": {"prompt_tokens": p, "total_tokens": p}}
        return self.send_json(200, obj)

    def stream(self, rec, rule, chat, model, content, nchoices, usage, include_usage):
        k = rule.get("chunks") or 5
        pieces = split_pieces(content, k)
        created = int(time.time())
        cid = ("chatcmpl-mock" if chat else "cmpl-mock") + uuid.uuid4().hex[:20]
        obj_name = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choices, **extra):
            d = {"id": cid, "object": obj_name, "created": created, "model": model,
                 "system_fingerprint": "fp_mock", "choices": choices}
            d.update(extra)
            return d

        def choice(i, delta_or_text, finish=None):
            c = {"index": i, "finish_reason": finish, "logprobs": None, "content_filter_results": {}}
            if chat:
                c["delta"] = delta_or_text
            else:
                c["text"] = delta_or_text
            return c

        events = [{"id": "", "object": "", "created": 0, "model": "", "choices": [],
                   "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": CONTENT_FILTER_OK}]}]
        if chat:
            events.append(chunk([choice(i, {"role": "assistant", "content": "", "refusal": None})
                                 for i in range(nchoices)]))
        for p in pieces:
            for i in range(nchoices):
                events.append(chunk([choice(i, {"content": p} if chat else p)]))
        events.append(chunk([choice(i, {} if chat else "", rule.get("finish_reason", "stop"))
                             for i in range(nchoices)]))
        if include_usage:
            events.append(chunk([], usage=usage))

        frames = [b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n"
                  for ev in events]
        tail = b"data: [DONE]\n\n" if rule.get("done", True) else None
        return self.send_events(rec, rule, frames, tail, usage["total_tokens"])

    def send_events(self, rec, rule, frames, tail, tokens):
        """Send an SSE answer made of `frames` (bytes, one event each) and `tail`
        (chat's [DONE], or None), misbehaving as the rule says."""
        ev_delay = rule.get("event_delay_ms") or 0
        cut = rule.get("action") == "cut_stream"
        cut_after = int(rule.get("cut_after", 3))
        stall = rule.get("action") == "stall"
        stall_after = int(rule.get("stall_after", 2))
        self.state.update(rec, status=200)
        if rule.get("action") == "truncate":
            return self.truncated_stream(rec, rule, b"".join(frames) + (tail or b""))
        if rule.get("content_length") and not cut:
            # The whole stream at once with a Content-Length, as some gateways (and
            # nginx's `return`) send it.
            parts = frames + ([tail] if tail else [])
            self.send_response(200)
            hdrs = [("Content-Type", "text/event-stream; charset=utf-8"),
                    ("Content-Length", str(sum(len(x) for x in parts)))] + self.common_headers()
            for kk, v in self._merge_headers(hdrs, rule.get("headers")):
                self.send_header(kk, v)
            self.end_headers()
            for i, part in enumerate(parts):
                if i > 0:
                    self.sleep_ms(ev_delay)
                self.wfile.write(part)
                self.wfile.flush()
            self.state.add_tokens(tokens)
            return
        chunked = self.request_version != "HTTP/1.0"
        self.send_response(200)
        hdrs = [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")]
        if chunked:
            hdrs.append(("Transfer-Encoding", "chunked"))
        else:
            self.close_connection = True  # HTTP/1.0: body ends at close
            hdrs.append(("Connection", "close"))
        hdrs += self.common_headers()
        for kk, v in self._merge_headers(hdrs, rule.get("headers")):
            self.send_header(kk, v)
        self.end_headers()

        def write_chunk(data):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)

        if rule.get("malformed_at") is not None and 0 <= int(rule["malformed_at"]) < len(frames):
            frames = list(frames)
            frames[int(rule["malformed_at"])] = b'data: {"choices":[{"delta":{"content":"x\n\n'
        self.wfile.flush()
        self.sleep_ms(rule.get("first_event_delay_ms"))
        sent = 0
        for i, frame in enumerate(frames):
            if cut and sent >= cut_after:
                self.state.update(rec, status="cut")
                return self.abort_close()
            if stall and sent >= stall_after:
                self.state.update(rec, status="stalled")
                return self.hang_then_close(rule)
            if i > 0:
                self.sleep_ms(ev_delay)
            write_chunk(frame)
            sent += 1
        if cut:
            self.state.update(rec, status="cut")
            return self.abort_close()
        self.sleep_ms(ev_delay)
        if tail:
            write_chunk(tail)
        else:
            self.state.update(rec, status="no_done")
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.state.add_tokens(tokens)

    def truncated_stream(self, rec, rule, data):
        """The stream's first truncate_after bytes (default half) in one chunk, then
        close without the last chunk."""
        n = max(0, min(int(rule.get("truncate_after", len(data) // 2)), len(data) - 1))
        self.state.update(rec, status="truncated")
        self.send_response(200)
        hdrs = [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"),
                ("Transfer-Encoding", "chunked")] + self.common_headers()
        for kk, v in self._merge_headers(hdrs, rule.get("headers")):
            self.send_header(kk, v)
        self.end_headers()
        if n:
            self.wfile.write(b"%x\r\n%s\r\n" % (n, data[:n]))
        return self.abort_close()


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, cfg):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.cfg = cfg
        self.state = State(cfg.max_records)
        self.tls = None
        if cfg.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        super().__init__(addr, Handler)

    def get_request(self):
        """Each accepted connection counted; with TLS, wrapped (the handshake runs in
        the connection's own thread, at its first read, not in the accept loop)."""
        sock, addr = super().get_request()
        self.state.connected()
        if self.tls:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError, ConnectionGone)):
            return
        if not self.cfg.quiet:
            super().handle_error(request, client_address)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Mock Azure OpenAI server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the bound port to this file once listening")
    ap.add_argument("--name", default="mock", help="label of this instance (appears in answers)")
    ap.add_argument("--api-key", default=None, help="required value of the api-key header")
    ap.add_argument("--deployment", action="append", default=[], metavar="DEP=MODEL",
                    help="known deployment and the model it reports (repeatable)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--max-records", type=int, default=None, metavar="N",
                    help="keep only the first N recorded requests (counters count all)")
    ap.add_argument("--tls-cert", metavar="PEM", help="serve https with this certificate")
    ap.add_argument("--tls-key", metavar="PEM", help="the certificate's key")
    mock_entra.add_arguments(ap)
    a = ap.parse_args(argv)
    mock_entra.finish_arguments(ap, a)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    deps = {}
    for d in a.deployment:
        dep, sep, model = d.partition("=")
        if not dep:
            ap.error("bad --deployment %r" % d)
        deps[dep] = model if sep and model else DEFAULT_MODEL
    a.deployments = deps
    return a


def main(argv=None):
    cfg = parse_args(argv)

    def on_signal(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = MockServer((cfg.host, cfg.port), cfg)
    except OSError as e:
        sys.stderr.write("mock_azure: cannot listen on %s:%s: %s\n" % (cfg.host, cfg.port, e))
        return 2
    port = server.server_address[1]
    if cfg.port_file:
        tmp = cfg.port_file + ".tmp%d" % os.getpid()
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, cfg.port_file)
    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            server.server_close()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
