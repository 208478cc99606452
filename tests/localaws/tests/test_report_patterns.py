"""The filter patterns shipwatch's report generates, as the emulator's FilterLogEvents
evaluates them (AWS semantics: JSON comparisons on a missing field are false, `||`
across fields, `?` terms and quoted phrases), and the `latency` scenario's requests:
slow through one downstream call, with the log line's responseTime and the trace's
client span agreeing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from localaws import traces, traffic, workload
from localaws.logs import compile_pattern

PINO_OK = json.dumps({"level": 30, "res": {"statusCode": 200}, "responseTime": 12, "msg": "request completed"})
PINO_ERR = json.dumps({"level": 50, "res": {"statusCode": 200}, "msg": "handled, logged as error"})
PINO_5XX = json.dumps({"level": 30, "res": {"statusCode": 503}, "msg": "request completed"})
PINO_SLOW = json.dumps({"level": 30, "res": {"statusCode": 200}, "responseTime": 7400, "msg": "request completed"})
NO_FIELDS = json.dumps({"msg": "no level, no status"})

ERROR_OR_5XX = "{ $.level >= 50 || $.res.statusCode >= 500 }"
TEXT = ('?error ?ERROR ?Error ?fatal ?FATAL ?Fatal ?critical ?CRITICAL ?panic ?PANIC ?emerg ?alert ?crit '
        '?Exception ?Traceback ?panic: ?"Caused by" ?" 500 " ?" 501 " ?" 502 " ?" 503 " ?" 504 "')


@pytest.mark.parametrize("line,expected", [
    (PINO_OK, False), (PINO_ERR, True), (PINO_5XX, True), (NO_FIELDS, False), ("plain text", False),
])
def test_numeric_level_or_status(line, expected):
    assert compile_pattern(ERROR_OR_5XX)(line) is expected


def test_string_levels_or_list():
    words = ["error", "ERROR", "Error", "fatal", "FATAL"]
    pattern = "{ " + " || ".join(f'$.level = "{w}"' for w in words) + " || $.status >= 500 }"
    m = compile_pattern(pattern)
    assert m('{"level":"error","msg":"x"}') and m('{"level":"FATAL"}') and m('{"level":"info","status":502}')
    assert not m('{"level":"info","status":200}') and not m('{"level":"errors"}')


@pytest.mark.parametrize("line,expected", [
    ("2026-01-01 10:00:00 ERROR payment failed", True),
    ("2026-01-01 10:00:00 INFO ok", False),
    ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /a HTTP/1.1" 503 12 "-" "curl"', True),
    ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl"', False),
    ("Caused by: java.io.IOException: closed", True),
    ("Traceback (most recent call last):", True),
])
def test_text_terms(line, expected):
    assert compile_pattern(TEXT)(line) is expected


def test_slow_request_clause():
    m = compile_pattern("{ $.responseTime >= 6000 }")
    assert m(PINO_SLOW) and not m(PINO_OK) and not m(NO_FIELDS)


def test_latency_scenario_is_slow_in_the_log_line_and_the_span(monkeypatch):
    written = []
    monkeypatch.setattr(workload, "write_logs", lambda sim, lines: written.extend(lines))
    sim = SimpleNamespace(scenario="latency", params={"route": "GET /api/orders", "downstream_ms": 7000,
                                                      "downstream_url": "http://inventory.internal:8080/v1/stock"},
                          service="web", hostname="h", ip="10.0.0.1", tag="v2", arn="arn:task/1",
                          container="web", port=8080, pid=1)
    slow = traffic.outcome_for(sim, "GET", "/api/orders")
    fast = traffic.outcome_for(sim, "GET", "/api/products")
    assert slow.status == 200 and slow.duration_ms >= 6300 and slow.downstream
    assert fast.downstream is None and fast.duration_ms < 1000
    trace_id, _ = workload.serve(sim, traces_now(), "GET", "/api/orders", "/api/orders?customerId=1", slow)
    line = json.loads(written[-1][1])
    assert line["responseTime"] == round(slow.duration_ms)
    spans = traces.get(trace_id)["spans"]
    client = [s for s in spans if s["operationName"] == "GET"]
    assert len(client) == 1
    tags = {t["key"]: t["value"] for t in client[0]["tags"]}
    assert tags["http.url"] == "http://inventory.internal:8080/v1/stock"
    assert client[0]["duration"] == int(slow.downstream["duration_ms"] * 1000)


def traces_now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)
