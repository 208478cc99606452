"""FilterLogEvents: filter patterns, parameter checks and paging, through boto3 and the AWS CLI."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import control

from localaws.logs import PatternError, compile_pattern

GROUP = "/ecs/web"
# moto rejects events older than 14 days, so offsets are added to a recent base.
BASE = (int(time.time()) - 3600) * 1000

EVENTS = {
    "web/app/task-blue": [
        (1000, '{"level": "error", "latency": 750, "trace_id": "t-1", "user": {"id": 7, "tags": ["a", "b"]}, "ok": false}'),
        (2000, '{"level": "info", "latency": 120, "trace_id": "t-2", "user": {"id": 8, "tags": ["c"]}, "ok": true, "note": null}'),
        (3000, "ERROR payment failed for order 42"),
    ],
    "web/app/task-green": [
        (1500, '{"level": "warn", "latency": 500, "trace_id": "t-3", "path": "/api/orders"}'),
        (2500, "WARN slow request [GET /api/orders] 1200ms"),
        (3500, "INFO Exiting normally after ERROR recovery"),
    ],
}


@pytest.fixture
def logs(aws_client):
    client = aws_client("logs")
    client.create_log_group(logGroupName=GROUP)
    for stream, events in EVENTS.items():
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        client.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[{"timestamp": BASE + t, "message": m} for t, m in events])
    return client


def messages(client, **kw):
    out, token = [], None
    while True:
        args = dict(logGroupName=GROUP, **kw)
        if token:
            args["nextToken"] = token
        resp = client.filter_log_events(**args)
        out += [e["message"] for e in resp["events"]]
        token = resp.get("nextToken")
        if not token:
            return out


def times(client, **kw):
    by_message = {m: t for evs in EVENTS.values() for t, m in evs}
    for key in ("startTime", "endTime"):
        if key in kw:
            kw[key] += BASE
    return [by_message[m] for m in messages(client, **kw)]


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("", [1000, 1500, 2000, 2500, 3000, 3500]),
        ("ERROR", [3000, 3500]),
        ("ERROR payment", [3000]),
        ('"slow request"', [2500]),
        ('"request slow"', []),
        ("?WARN ?payment", [2500, 3000]),
        ("ERROR -Exiting", [3000]),
        ('-"level"', [2500, 3000, 3500]),
        ("error", [1000]),  # case sensitive: only the JSON "error" value
        ('{ $.level = "error" }', [1000]),
        ("{ $.level = error }", [1000]),
        ('{ $.level != "error" }', [1500, 2000]),
        ("{ $.latency >= 500 }", [1000, 1500]),
        ("{ $.latency > 500 }", [1000]),
        ("{ $.latency < 500 }", [2000]),
        ("{ $.latency <= 500 }", [1500, 2000]),
        ("{ $.latency = 120 }", [2000]),
        ("{ $.latency != 120 }", [1000, 1500]),
        ('{ $.trace_id = "t-*" }', [1000, 1500, 2000]),
        ('{ $.path = "*orders" }', [1500]),
        ('{ $.level = "error" || $.level = "warn" }', [1000, 1500]),
        ('{ ($.level = "info" || $.level = "warn") && $.latency > 200 }', [1500]),
        ('{ $.level = "info" || ($.level = "warn" && $.latency > 200) }', [1500, 2000]),
        ("{ $.note IS NULL }", [2000]),
        ("{ $.note NOT EXISTS }", [1000, 1500]),
        ("{ $.ok IS TRUE }", [2000]),
        ("{ $.ok IS FALSE }", [1000]),
        ("{ $.user.id = 7 }", [1000]),
        ('{ $.user.tags[0] = "c" }', [2000]),
        ('{ $.user.tags[1] = "b" }', [1000]),
        ("{ $.user = 7 }", []),  # a selector must hit a scalar
        ("[level, path = \"*orders*\", ...]", []),
        ("[lvl = WARN, ..., duration = *ms]", [2500]),
        ("[lvl = INFO, ...]", [3500]),
    ],
)
def test_filter_patterns(logs, pattern, expected):
    assert times(logs, filterPattern=pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.level = ",
        '{ $.level = "error"',
        "{ $.level == 1 }",
        "{ $.latency > fast }",
        "{ level = 1 }",
        "{ $.x IS MAYBE }",
        "{ ($.a = 1 }",
        "{ }",
        '"unterminated',
        "? ERROR",
        "ERROR -",
        "a=b",
        "[a,, b]",
    ],
)
def test_malformed_patterns_are_invalid_parameter(logs, pattern):
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Invalid filter pattern" in err.value.response["Error"]["Message"]


def test_compile_pattern_unit_cases():
    assert compile_pattern('{ $.a[2] = 3 }')('{"a": [1, 2, 3]}')
    assert not compile_pattern('{ $.a[5] = 3 }')('{"a": [1, 2, 3]}')
    assert not compile_pattern("{ $.a = 1 }")("not json at all")
    assert compile_pattern('{ $.msg = "*time out*" }')('{"msg": "request time out after 3s"}')
    with pytest.raises(PatternError):
        compile_pattern("{ $.a = 1 } trailing")


def test_stream_selection_and_time_range(logs):
    assert times(logs, logStreamNames=["web/app/task-green"]) == [1500, 2500, 3500]
    assert times(logs, logStreamNamePrefix="web/app/task-b") == [1000, 2000, 3000]
    assert times(logs, startTime=1500, endTime=3000) == [1500, 2000, 2500, 3000]
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*"
    by_id = logs.filter_log_events(logGroupIdentifier=arn, filterPattern="ERROR")["events"]
    assert [e["timestamp"] - BASE for e in by_id] == [3000, 3500]
    with pytest.raises(ClientError):
        logs.filter_log_events(logGroupName=GROUP, logGroupIdentifier=GROUP)
    events = logs.filter_log_events(logGroupName=GROUP, filterPattern="WARN")["events"]
    assert events[0]["logStreamName"] == "web/app/task-green"
    assert set(events[0]) >= {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}


@pytest.mark.parametrize(
    "kw",
    [
        {"logStreamNames": ["web/app/task-blue"], "logStreamNamePrefix": "web/"},
        {"logStreamNames": [f"s{i}" for i in range(101)]},
        {"limit": 10001},
        {"filterPattern": "x" * 1025},
    ],
)
def test_invalid_parameters(logs, kw):
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=GROUP, **kw)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_unknown_group_is_resource_not_found(logs):
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName="/nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_paging_with_limit_requires_next_token(logs):
    first = logs.filter_log_events(logGroupName=GROUP, limit=4)
    assert len(first["events"]) == 4 and first.get("nextToken")
    second = logs.filter_log_events(logGroupName=GROUP, limit=4, nextToken=first["nextToken"])
    assert [e["timestamp"] - BASE for e in second["events"]] == [3000, 3500]
    assert "nextToken" not in second
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=GROUP, nextToken="garbage")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_page_limits_from_settings_and_cli_follows_tokens(logs, aws_cli, aws_endpoint):
    assert control(aws_endpoint, "POST", "/_localaws/config", {"logs_max_page_events": 2})[0] == 200
    page = logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.latency > 0 }")
    assert len(page["events"]) == 2 and page.get("nextToken"), "a page must stop at logs_max_page_events"
    assert times(logs, filterPattern="{ $.latency > 0 }") == [1000, 1500, 2000]
    # The CLI paginates by itself; it only gets everything by following nextToken.
    out = aws_cli("logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", "?WARN ?ERROR")
    assert [e["timestamp"] - BASE for e in out["events"]] == [2500, 3000, 3500]
    assert control(aws_endpoint, "POST", "/_localaws/config", {"logs_max_page_events": 10000, "logs_max_page_bytes": 200})[0] == 200
    page = logs.filter_log_events(logGroupName=GROUP)
    assert 1 <= len(page["events"]) < 6 and page.get("nextToken"), "a page must stop at logs_max_page_bytes"
    assert len(messages(logs)) == 6


def test_cli_json_pattern_and_malformed_pattern(logs, aws_cli):
    out = aws_cli("logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", '{ $.level = "warn" }')
    assert [json.loads(e["message"])["trace_id"] for e in out["events"]] == ["t-3"]
    proc = aws_cli("logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", "{ $.level = ", check=False)
    assert proc.returncode != 0
    assert "InvalidParameterException" in proc.stderr
