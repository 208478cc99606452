"""The Jaeger-compatible query API: trace lookup, unknown ids, services and search."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import wait_for
from helpers_deploy import json_lines, log_lines, provision_stack


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_unknown_trace_is_a_jaeger_404(aws_endpoint):
    status, body = _get(f"{aws_endpoint}/api/traces/{'0' * 32}")
    assert status == 404
    assert body["data"] is None and body["errors"] == [{"code": 404, "msg": "trace not found"}]


def test_request_traces_match_log_lines_and_are_searchable(aws_endpoint, aws_client):
    stack = provision_stack(aws_endpoint, requests_per_minute=120)
    logs = aws_client("logs")
    lines = wait_for(lambda: [l for _, l in json_lines(log_lines(logs, stack)) if l.get("trace_id")], 10,
                     "request log lines")
    line = lines[-1]
    status, body = _get(f"{aws_endpoint}/api/traces/{line['trace_id']}")
    assert status == 200 and body["errors"] is None and body["total"] == 0
    trace = body["data"][0]
    spans = trace["spans"]
    root = next(s for s in spans if not s["references"])
    assert root["spanID"] == line["span_id"] and len(root["spanID"]) == 16
    assert all(s["traceID"] == line["trace_id"] for s in spans)
    assert {t["key"]: t["value"] for t in root["tags"]}["span.kind"] == "server"
    assert root["operationName"] == f"{line['req']['method']} " + next(
        t["value"] for t in root["tags"] if t["key"] == "http.route")
    # Microsecond timestamps consistent with the log line's epoch milliseconds.
    assert abs((root["startTime"] + root["duration"]) // 1000 - line["time"]) <= 1
    process = trace["processes"][root["processID"]]
    assert process["serviceName"] == "web"
    assert any(t["key"] == "hostname" and t["value"] == line["hostname"] for t in process["tags"])
    status, services = _get(f"{aws_endpoint}/api/services")
    assert status == 200 and services["data"] == ["web"]
    status, found = _get(f"{aws_endpoint}/api/traces?service=web&limit=5")
    assert status == 200 and 1 <= len(found["data"]) <= 5
    status, none = _get(f"{aws_endpoint}/api/traces?service=web&tags=" + urllib.request.quote('{"error":"true"}'))
    assert status == 200 and none["data"] == []  # a healthy stack has no failing request
    status, _ = _get(f"{aws_endpoint}/api/traces")
    assert status == 400
