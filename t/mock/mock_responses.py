# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""mock_responses.py - the Responses API of the mock Azure instance.

Paths, in Azure's two styles (the dated one needs ``api-version``; the v1 one
takes none, or ``api-version=preview``/``v1``)::

    POST   /openai/responses                       /openai/v1/responses
    GET    /openai/responses/{id}                  /openai/v1/responses/{id}
    DELETE /openai/responses/{id}                  /openai/v1/responses/{id}
    POST   /openai/responses/{id}/cancel           /openai/v1/responses/{id}/cancel
    GET    /openai/responses/{id}/input_items      /openai/v1/responses/{id}/input_items

The body's ``model`` names the deployment.  Responses are stored by this
instance only (as Azure stores them on the resource that made them): any call
naming an id it did not make gets 404 (``previous_response_id``: 400 with code
``previous_response_not_found``), so a test sees at once when a gateway sent a
request to the wrong instance.

Answer: one ``message`` output item whose text is CONTENT (``mock:{name}:{dep}``,
as chat).  Usage: ``input_tokens = max(1, chars // 4)`` of the input's text
(``input`` as a string, or the ``text``/``content`` strings of its items) plus
``instructions``, plus, with ``previous_response_id``, the previous response's
``total_tokens`` (the conversation is re-read, as Azure bills it);
``output_tokens`` = CONTENT's words; ``total_tokens`` their sum;
``input_tokens_details.cached_tokens`` and ``output_tokens_details.reasoning_tokens``
are 0 unless a rule sets ``cached_tokens`` / ``reasoning_tokens``.

Streamed (``"stream": true``): typed SSE events (``event:`` + ``data:`` with
``type`` and ``sequence_number``) response.created, response.in_progress,
response.output_item.added, response.content_part.added, response.output_text.delta
(one per piece, ``chunks`` of the rule, default 5), response.output_text.done,
response.content_part.done, response.output_item.done and the final
response.completed carrying ``usage``; no ``[DONE]``.  A rule with
``response_status: "incomplete"`` or ``"failed"`` ends with response.incomplete
(``incomplete_details.reason``: the rule's ``incomplete_reason``, default
``max_output_tokens``; ``content_filter`` is Azure's filter cutting the answer) or
response.failed (``error``) instead, with usage.  The chat rules' actions (cut_stream, stall, truncate,
event_delay_ms, content_length) apply to these streams too.

``background: true`` stores a ``queued`` response that turns ``completed`` after
``background_ms`` of the rule (default 200); ``cancel`` before then makes it
``cancelled``; cancelling a response that is not a background one is a 400.
``GET .../{id}?stream=true[&starting_after=N]`` replays a stored stream's events
after sequence number N.
"""

import json
import re
import time
import uuid

RESPONSES_RE = re.compile(r"^/openai(/v1)?/responses(?:/([^/]+)(?:/(cancel|input_items))?)?$")


def match(path):
    """(is_v1, id or None, sub or None) when `path` is a Responses API path, else None."""
    m = RESPONSES_RE.match(path)
    if not m:
        return None
    return bool(m.group(1)), m.group(2), m.group(3)


def oai_error(message, param=None, code=None, etype="invalid_request_error"):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def _text_chars(x):
    """Characters of the input's text, whatever shape it has."""
    if isinstance(x, str):
        return len(x)
    if isinstance(x, list):
        return sum(_text_chars(i) for i in x)
    if isinstance(x, dict):
        total = 0
        for key in ("text", "content"):
            if key in x:
                total += _text_chars(x[key])
        return total
    return 0


def _input_items(body):
    """The input as the list of items input_items returns (ids made up)."""
    inp = body.get("input")
    if isinstance(inp, str):
        inp = [{"role": "user", "content": inp}]
    items = []
    for it in inp if isinstance(inp, list) else []:
        if not isinstance(it, dict):
            continue
        it = dict(it)
        it.setdefault("type", "message")
        if isinstance(it.get("content"), str):
            it["content"] = [{"type": "input_text", "text": it["content"]}]
        it.setdefault("id", "msg_" + uuid.uuid4().hex[:24])
        it.setdefault("status", "completed")
        items.append(it)
    return items


class Store:
    """The responses one mock instance made (thread-safe through the State lock)."""

    def __init__(self):
        self.items = {}

    def clear(self):
        self.items = {}


def _response_object(rid, model, status, text, usage, body, created):
    msg_id = "msg_" + rid[5:29]
    output = []
    if text is not None:
        output = [{"type": "message", "id": msg_id, "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    return {
        "id": rid, "object": "response", "created_at": created, "status": status,
        "background": bool(body.get("background")), "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True), "temperature": 1.0, "text": {"format": {"type": "text"}},
        "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
        "usage": usage, "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


def _usage(h, body, prev, content, rule):
    chars = _text_chars(body.get("input")) + _text_chars(body.get("instructions") or "")
    inp = max(1, chars // 4)
    if prev is not None and prev["response"].get("usage"):
        inp += prev["response"]["usage"]["total_tokens"]
    out = len(content.split())
    return {"input_tokens": inp,
            "input_tokens_details": {"cached_tokens": int(rule.get("cached_tokens", 0))},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": int(rule.get("reasoning_tokens", 0))},
            "total_tokens": inp + out}


def _events(resp, content, pieces, final_status):
    """The typed events of a streamed response, as (type, payload) pairs."""
    start = dict(resp, status="in_progress", output=[], usage=None)
    item = resp["output"][0] if resp["output"] else None
    evs = [("response.created", {"response": start}),
           ("response.in_progress", {"response": start})]
    if item:
        iid = item["id"]
        empty = dict(item, status="in_progress", content=[])
        part0 = {"type": "output_text", "text": "", "annotations": []}
        evs.append(("response.output_item.added", {"output_index": 0, "item": empty}))
        evs.append(("response.content_part.added", {"item_id": iid, "output_index": 0,
                                                    "content_index": 0, "part": part0}))
        for piece in pieces:
            evs.append(("response.output_text.delta", {"item_id": iid, "output_index": 0,
                                                       "content_index": 0, "delta": piece}))
        evs.append(("response.output_text.done", {"item_id": iid, "output_index": 0,
                                                  "content_index": 0, "text": content}))
        evs.append(("response.content_part.done", {"item_id": iid, "output_index": 0,
                                                   "content_index": 0,
                                                   "part": item["content"][0]}))
        evs.append(("response.output_item.done", {"output_index": 0, "item": item}))
    evs.append(("response." + final_status, {"response": resp}))
    return evs


def _frames(events, after=-1):
    out = []
    for seq, (etype, payload) in enumerate(events):
        if seq <= after:
            continue
        data = dict({"type": etype, "sequence_number": seq}, **payload)
        out.append(b"event: " + etype.encode() + b"\ndata: "
                   + json.dumps(data, separators=(",", ":")).encode() + b"\n\n")
    return out


def _finish(resp, rule):
    """Apply a rule's response_status to a finished response."""
    status = rule.get("response_status") or "completed"
    if status == "incomplete":
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": rule.get("incomplete_reason", "max_output_tokens")}
    elif status == "failed":
        resp["status"] = "failed"
        resp["error"] = {"code": "server_error", "message": "The model failed (mock)."}
    return resp["status"]


def create(h, rec, body, v1, rule, answer):
    """POST /responses."""
    st = h.state
    model_dep = body.get("model")
    if not isinstance(model_dep, str) or not model_dep:
        return answer(400, oai_error("Missing required parameter: 'model'.", param="model",
                                     code="missing_required_parameter"))
    rec["deployment"] = model_dep
    if h.cfg.deployments and model_dep not in h.cfg.deployments:
        return answer(404, {"error": {"code": "DeploymentNotFound", "message": (
            "The API deployment for this resource does not exist.")}})
    if "input" not in body:
        return answer(400, oai_error("Missing required parameter: 'input'.", param="input",
                                     code="missing_required_parameter"))
    prev_id = body.get("previous_response_id")
    prev = None
    if prev_id is not None:
        with st.lock:
            prev = st.responses.items.get(prev_id)
        if prev is None:
            return answer(400, oai_error("Previous response with id '%s' not found." % prev_id,
                                         param="previous_response_id",
                                         code="previous_response_not_found"))
    model = h.cfg.deployments.get(model_dep, model_dep) if h.cfg.deployments else model_dep
    content = "mock:%s:%s" % (h.cfg.name, model_dep)
    rid = "resp_" + uuid.uuid4().hex + uuid.uuid4().hex[:16]
    created = int(time.time())
    usage = _usage(h, body, prev, content, rule)
    background = bool(body.get("background"))
    resp = _response_object(rid, model, "completed", content, usage, body, created)
    final = _finish(resp, rule)
    events = _events(resp, content, h.pieces(content, rule.get("chunks") or 5), final)
    entry = {"response": resp, "input_items": _input_items(body), "events": events,
             "ready_at": time.time() + (rule.get("background_ms", 200) / 1000.0
                                        if background else 0), "background": background}
    if body.get("store", True) is not False:
        with st.lock:
            st.responses.items[rid] = entry
    if background:
        queued = dict(resp, status="queued", output=[], usage=None)
        h.state.update(rec, status=200)
        return h.send_json(200, queued)
    if body.get("stream") is True:
        return h.send_events(rec, rule, _frames(events), None, usage["total_tokens"])
    h.state.add_tokens(usage["total_tokens"])
    return answer(200, resp)


def _current(entry):
    """A stored response as a GET sees it now (background ones complete in time)."""
    resp = entry["response"]
    if entry["background"] and entry.get("cancelled"):
        return dict(resp, status="cancelled", output=[], usage=None)
    if entry["background"] and time.time() < entry["ready_at"]:
        return dict(resp, status="in_progress", output=[], usage=None)
    return resp


def by_id(h, rec, method, rid, sub, params, rule, answer):
    """GET/DELETE /responses/{id}, POST .../cancel, GET .../input_items."""
    st = h.state
    with st.lock:
        entry = st.responses.items.get(rid)
    if entry is None:
        return answer(404, oai_error("Response with id '%s' not found." % rid))
    rec["deployment"] = entry["response"]["model"]
    if sub == "cancel":
        if method != "POST":
            return answer(405, oai_error("Method not allowed."))
        if not entry["background"]:
            return answer(400, oai_error("Only responses created with background=true can be "
                                         "cancelled.", code="invalid_request"))
        if time.time() < entry["ready_at"]:
            entry["cancelled"] = True
        return answer(200, _current(entry))
    if sub == "input_items":
        if method != "GET":
            return answer(405, oai_error("Method not allowed."))
        data = entry["input_items"]
        return answer(200, {"object": "list", "data": data,
                            "first_id": data[0]["id"] if data else None,
                            "last_id": data[-1]["id"] if data else None, "has_more": False})
    if method == "DELETE":
        with st.lock:
            st.responses.items.pop(rid, None)
        return answer(200, {"id": rid, "object": "response.deleted", "deleted": True})
    if method != "GET":
        return answer(405, oai_error("Method not allowed."))
    if params.get("stream") == "true":
        try:
            after = int(params.get("starting_after", "-1"))
        except ValueError:
            return answer(400, oai_error("Invalid 'starting_after'.", param="starting_after"))
        return h.send_events(rec, rule, _frames(entry["events"], after), None, 0)
    return answer(200, _current(entry))


def handle(h, rec, route, method, params, parsed, json_ok, rule, answer):
    """Serve one Responses API call; `route` is match()'s answer."""
    v1, rid, sub = route
    if not v1 and not params.get("api-version"):
        return answer(404, {"error": {"code": "404", "message": "Resource not found"}})
    if rid is None:
        if method != "POST":
            return answer(405, oai_error("Method not allowed."))
        if not json_ok or not isinstance(parsed, dict):
            return answer(400, oai_error("We could not parse the JSON body of your request."))
        return create(h, rec, parsed, v1, rule, answer)
    return by_id(h, rec, method, rid, sub, params, rule, answer)
