"""A local receiver for outgoing webhooks (Slack incoming webhooks, generic JSON hooks).

POST /_localaws/webhook/<name>[/<path>]
                                  the receiver: records the request and answers like
                                  Slack does (200, text/plain "ok"), or with the next
                                  queued reply for <name>
GET  /_localaws/webhooks          what was received, oldest first (?name= filters)
POST /_localaws/webhooks/replies  queue replies: {"name": "slack", "status": 429,
                                  "retry_after": 1, "count": 2, "body": "rate_limited"}

Slack answers a rate-limited post with HTTP 429 and a Retry-After header in seconds
(Slack's rate-limit documentation); the queued replies reproduce that. Every request is
recorded with the answer it got, so a test can check what was retried and when.
Received requests and queued replies are cleared on reset.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from . import registry

PREFIX = "/_localaws/webhook/"

_lock = threading.Lock()
_received: list[dict] = []
_replies: dict[str, deque] = {}


def _name(path: str) -> tuple[str, str]:
    """The receiver's name (the first segment) and the rest of the path, which plays
    the part of a real webhook URL's token (Slack's /services/T…/B…/…)."""
    rest = path[len(PREFIX):].strip("/")
    name, _, tail = rest.partition("/")
    if not name:
        raise ValueError("give the receiver a name: POST /_localaws/webhook/<name>[/<any path>]")
    return name, tail


@registry.route("POST", PREFIX)
def _receive(method, path, query, body):
    name, tail = _name(path)
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        parsed = None
    with _lock:
        queue = _replies.get(name)
        reply = queue.popleft() if queue else None
        status = reply["status"] if reply else 200
        _received.append({
            "seq": len(_received) + 1,
            "name": name,
            "path": tail,
            "received_at": time.time(),
            "body": text,
            "json": parsed,
            "answered": status,
        })
    if reply is None:
        return 200, {"Content-Type": "text/plain"}, "ok"
    headers = {"Content-Type": "text/plain"}
    if reply.get("retry_after") is not None:
        headers["Retry-After"] = str(reply["retry_after"])
    return status, headers, reply.get("body", "")


@registry.route("GET", "/_localaws/webhooks")
def _list(method, path, query, body):
    name = (query.get("name") or [None])[0]
    with _lock:
        items = [r for r in _received if name is None or r["name"] == name]
    return 200, {}, {"requests": items}


@registry.route("POST", "/_localaws/webhooks/replies")
def _queue(method, path, query, body):
    spec = json.loads(body or b"{}")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError("replies need a JSON object with 'name' (the receiver) and 'status'")
    status = int(spec.get("status", 429))
    if not 100 <= status <= 599:
        raise ValueError(f"'status' {status} is not an HTTP status")
    count = int(spec.get("count", 1))
    retry_after = spec.get("retry_after")
    reply = {"status": status, "retry_after": retry_after, "body": str(spec.get("body", ""))}
    with _lock:
        q = _replies.setdefault(spec["name"], deque())
        q.extend(dict(reply) for _ in range(max(0, count)))
        queued = len(q)
    return 200, {}, {"name": spec["name"], "queued": queued}


@registry.on_reset
def _reset() -> None:
    with _lock:
        _received.clear()
        _replies.clear()
