"""A local Lambda Runtime API, so a custom-runtime function (`bootstrap`) runs here as
the Lambda service runs it: the function polls `GET /2018-06-01/runtime/invocation/next`
(which blocks until an event is queued), and answers with
`POST /2018-06-01/runtime/invocation/<request id>/response` or `/error`; a function
that cannot start posts `/2018-06-01/runtime/init/error`. Headers of `next` as AWS
sends them: Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn,
-Trace-Id.

Point a function at it with AWS_LAMBDA_RUNTIME_API=<host:port of the emulator>.
Several processes may poll at once (one per execution environment, as Lambda scales
out); each queued event goes to exactly one of them.

Control API:
- `POST /_localaws/lambda/invoke {"event": {...}, "timeout_seconds"?: 300}` queues an
  event; answers `{"request_id"}`.
- `GET /_localaws/lambda/invocations` lists every invocation with its state
  (`queued`, `running`, `succeeded`, `failed`), the response or error, and times;
  `GET /_localaws/lambda/invocations/<request id>` one of them.
- `GET /_localaws/lambda/init-errors` the init errors posted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from typing import Any

from . import registry

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:shipwatch-remediate"

_cond = threading.Condition()
_queue: deque[str] = deque()
_invocations: dict[str, dict[str, Any]] = {}
_init_errors: list[dict[str, Any]] = []


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode("utf-8", "replace")


def invoke(event: Any, timeout_seconds: float = 300.0) -> str:
    request_id = str(uuid.uuid4())
    with _cond:
        _invocations[request_id] = {"request_id": request_id, "event": event, "state": "queued",
                                    "timeout_seconds": timeout_seconds, "queued_at": time.time()}
        _queue.append(request_id)
        _cond.notify_all()
    return request_id


def _next(wait_seconds: float | None = None) -> dict[str, Any] | None:
    """The next queued invocation, marked running; blocks like the real API."""
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    with _cond:
        while not _queue:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            _cond.wait(timeout=1.0 if left is None else min(left, 1.0))
        request_id = _queue.popleft()
        inv = _invocations[request_id]
        inv["state"] = "running"
        inv["started_at"] = time.time()
        return dict(inv)


@registry.route("GET", PREFIX + "/invocation/next")
def _next_route(method: str, path: str, query: dict, body: bytes):
    inv = _next()
    assert inv is not None
    deadline_ms = int((inv["started_at"] + float(inv["timeout_seconds"])) * 1000)
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": inv["request_id"],
        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
    }
    return 200, headers, json.dumps(inv["event"])


def _finish(request_id: str, state: str, payload: Any) -> tuple:
    with _cond:
        inv = _invocations.get(request_id)
        if inv is None:
            return 400, {}, {"errorMessage": f"unknown request id {request_id}",
                             "errorType": "InvalidRequestID"}
        if inv["state"] != "running":
            return 400, {}, {"errorMessage": f"invocation {request_id} is {inv['state']}, not running",
                             "errorType": "InvalidStateTransition"}
        inv["state"] = state
        inv["response" if state == "succeeded" else "error"] = payload
        inv["finished_at"] = time.time()
        _cond.notify_all()
    return 202, {}, {"status": "OK"}


@registry.route("POST", PREFIX + "/invocation/")
def _result_route(method: str, path: str, query: dict, body: bytes):
    rest = path[len(PREFIX + "/invocation/"):]
    request_id, _, kind = rest.partition("/")
    if kind == "response":
        return _finish(request_id, "succeeded", _json(body))
    if kind == "error":
        return _finish(request_id, "failed", _json(body))
    return 404, {}, {"errorMessage": f"no such runtime API path {path}", "errorType": "NotFound"}


@registry.route("POST", PREFIX + "/init/error")
def _init_error_route(method: str, path: str, query: dict, body: bytes):
    with _cond:
        _init_errors.append({"error": _json(body), "at": time.time()})
    return 202, {}, {"status": "OK"}


@registry.route("POST", "/_localaws/lambda/invoke")
def _invoke_route(method: str, path: str, query: dict, body: bytes):
    data = _json(body)
    if not isinstance(data, dict) or "event" not in data:
        return 400, {}, {"error": "body must be {\"event\": {...}}"}
    return 200, {}, {"request_id": invoke(data["event"], float(data.get("timeout_seconds") or 300))}


@registry.route("GET", "/_localaws/lambda/invocations")
def _invocations_route(method: str, path: str, query: dict, body: bytes):
    rest = path[len("/_localaws/lambda/invocations"):].strip("/")
    with _cond:
        if rest:
            inv = _invocations.get(rest)
            if inv is None:
                return 404, {}, {"error": f"unknown request id {rest}"}
            return 200, {}, dict(inv)
        return 200, {}, {"invocations": [dict(v) for v in _invocations.values()]}


@registry.route("GET", "/_localaws/lambda/init-errors")
def _init_errors_route(method: str, path: str, query: dict, body: bytes):
    with _cond:
        return 200, {}, {"init_errors": list(_init_errors)}


@registry.on_reset
def reset() -> None:
    with _cond:
        _queue.clear()
        _invocations.clear()
        _init_errors.clear()
