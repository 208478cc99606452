"""Distributed traces of the simulated requests, served on a Jaeger-compatible query API.

The traffic simulation records one trace per request (server span, Express handler
span, then the database or downstream HTTP client spans). `GET /api/traces/{traceID}`
answers in the JSON shape of Jaeger's query service (`jaeger-query` /api/traces), so a
client written against a real Jaeger can read them; the same trace ids appear in the
tasks' log lines. Only the emulator's own timestamps (emulated clock) are used.
"""

from __future__ import annotations

import json
import random
import threading
from collections import OrderedDict
from typing import Any

from . import registry, settings

# How many traces are kept (oldest dropped first).
settings.DEFAULTS.setdefault("traces_max", 50000)
if settings.get("traces_max") is None:
    settings.update({"traces_max": settings.DEFAULTS["traces_max"]})

_lock = threading.Lock()
# trace id -> {"spans": [...], "processes": {...}, "service": str, "start": µs}
_traces: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
_rng = random.Random()


def new_trace_id() -> str:
    return "%032x" % _rng.getrandbits(128)


def new_span_id() -> str:
    return "%016x" % _rng.getrandbits(64)


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int64"
    elif isinstance(value, float):
        kind = "float64"
    else:
        kind = "string"
        value = str(value)
    return {"key": key, "type": kind, "value": value}


class TraceBuilder:
    """Collects the spans of one trace in Jaeger's JSON form."""

    def __init__(self, trace_id: str, service: str, process_tags: dict[str, Any]):
        self.trace_id = trace_id
        self.spans: list[dict[str, Any]] = []
        self.processes = {
            "p1": {
                "serviceName": service,
                "tags": [_tag(k, v) for k, v in process_tags.items()],
            }
        }
        self.service = service

    def span(
        self,
        name: str,
        start_us: int,
        duration_us: int,
        parent: str | None,
        tags: dict[str, Any],
        span_id: str | None = None,
        logs: list[dict[str, Any]] | None = None,
    ) -> str:
        sid = span_id or new_span_id()
        refs = []
        if parent:
            refs.append({"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent})
        self.spans.append(
            {
                "traceID": self.trace_id,
                "spanID": sid,
                "flags": 1,
                "operationName": name,
                "references": refs,
                "startTime": int(start_us),
                "duration": max(1, int(duration_us)),
                "tags": [_tag(k, v) for k, v in tags.items()],
                "logs": logs or [],
                "processID": "p1",
                "warnings": None,
            }
        )
        return sid

    @staticmethod
    def exception_log(ts_us: int, exc_type: str, message: str, stack: str) -> dict[str, Any]:
        """An OpenTelemetry exception event as Jaeger shows it in a span's logs."""
        return {
            "timestamp": int(ts_us),
            "fields": [
                _tag("event", "exception"),
                _tag("exception.type", exc_type),
                _tag("exception.message", message),
                _tag("exception.stacktrace", stack),
            ],
        }

    def store(self) -> None:
        record(self.trace_id, self.spans, self.processes)


def record(trace_id: str, spans: list[dict[str, Any]], processes: dict[str, Any]) -> None:
    start = min((s["startTime"] for s in spans), default=0)
    service = next(iter(processes.values()))["serviceName"] if processes else ""
    with _lock:
        _traces[trace_id] = {
            "spans": spans,
            "processes": processes,
            "service": service,
            "start": start,
        }
        _traces.move_to_end(trace_id)
        limit = int(settings.get("traces_max", 50000))
        while len(_traces) > limit:
            _traces.popitem(last=False)


def get(trace_id: str) -> dict[str, Any] | None:
    """The trace in Jaeger's form (`data[0]`), or None."""
    with _lock:
        item = _traces.get(trace_id.lower())
    if item is None:
        return None
    return {
        "traceID": trace_id.lower(),
        "spans": item["spans"],
        "processes": item["processes"],
        "warnings": None,
    }


def count() -> int:
    with _lock:
        return len(_traces)


def _envelope(data: Any, errors: Any = None) -> dict[str, Any]:
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": errors}


@registry.route("GET", "/api/traces")
def _traces_route(method: str, path: str, query: dict, body: bytes):
    rest = path[len("/api/traces"):].strip("/")
    if rest:
        trace = get(rest)
        if trace is None:
            return (
                404,
                {"Content-Type": "application/json"},
                {"data": None, "total": 0, "limit": 0, "offset": 0,
                 "errors": [{"code": 404, "msg": "trace not found"}]},
            )
        return 200, {"Content-Type": "application/json"}, _envelope([trace])
    # Search: GET /api/traces?service=web[&limit=20][&start=µs&end=µs][&tags={"error":"true"}]
    service = (query.get("service") or [""])[0]
    if not service:
        return (
            400,
            {"Content-Type": "application/json"},
            {"data": None, "total": 0, "limit": 0, "offset": 0,
             "errors": [{"code": 400, "msg": "parameter 'service' is required"}]},
        )
    limit = int((query.get("limit") or ["20"])[0] or 20)
    start = int((query.get("start") or ["0"])[0] or 0)
    end = int((query.get("end") or [str(1 << 62)])[0] or (1 << 62))
    want_tags: dict[str, str] = {}
    if query.get("tags"):
        try:
            want_tags = {k: str(v) for k, v in json.loads(query["tags"][0]).items()}
        except (ValueError, AttributeError):
            want_tags = {}
    found = []
    with _lock:
        items = list(_traces.items())
    for tid, item in reversed(items):  # newest first, like Jaeger
        if item["service"] != service or not (start <= item["start"] <= end):
            continue
        if want_tags and not _has_tags(item["spans"], want_tags):
            continue
        found.append(get(tid))
        if len(found) >= limit:
            break
    return 200, {"Content-Type": "application/json"}, _envelope(found)


def _has_tags(spans: list[dict[str, Any]], want: dict[str, str]) -> bool:
    for span in spans:
        values = {t["key"]: str(t["value"]).lower() for t in span["tags"]}
        if all(values.get(k) == v.lower() for k, v in want.items()):
            return True
    return False


@registry.route("GET", "/api/services")
def _services_route(method: str, path: str, query: dict, body: bytes):
    with _lock:
        services = sorted({item["service"] for item in _traces.values()})
    data = services
    return 200, {"Content-Type": "application/json"}, {
        "data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}


@registry.on_reset
def _reset() -> None:
    with _lock:
        _traces.clear()
