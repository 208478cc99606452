"""CloudWatch over Smithy RPC v2 CBOR, as aws-sdk-cloudwatch for Rust sends it.

Requests are encoded the way the Rust SDK's generated serializers do (indefinite-length
top-level map, definite arrays, timestamps as tag 1 over a float64, doubles as
float64), and every response is checked against the botocore output shape: each member
must have the CBOR type its shape asks for, since the Rust deserializer is strict
(a double sent as an integer, or a timestamp sent as a string, fails there).
"""

from __future__ import annotations

import gzip
import json
import struct
import urllib.request
from datetime import datetime, timedelta, timezone

import botocore.session
import cbor2
import pytest
from botocore import parsers, serialize

from localaws import clock, settings

PATH = "/service/GraniteServiceVersion20100801/operation/"
AUTH = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/monitoring/aws4_request, SignedHeaders=host;smithy-protocol, Signature=0"
MODEL = botocore.session.get_session().get_service_model("cloudwatch")
LB = [{"Name": "LoadBalancer", "Value": "app/web/0123456789abcdef"}, {"Name": "TargetGroup", "Value": "targetgroup/green/fedcba9876543210"}]


class Ts:
    """A timestamp to encode as tag 1 + float64, as aws-smithy-cbor does."""

    def __init__(self, dt: datetime) -> None:
        self.seconds = dt.timestamp()


def rust_like(value) -> bytes:
    """Encode like aws-smithy-cbor's Encoder as driven by the generated code."""
    if isinstance(value, dict):
        out = b"\xbf"
        for k, v in value.items():
            out += cbor2.dumps(k) + rust_like(v)
        return out + b"\xff"
    if isinstance(value, list):
        return _head(0x80, len(value)) + b"".join(rust_like(v) for v in value)
    if isinstance(value, Ts):
        return b"\xc1\xfb" + struct.pack(">d", value.seconds)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    return cbor2.dumps(value)


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major | n])
    if n < 256:
        return bytes([major | 24, n])
    return bytes([major | 25]) + struct.pack(">H", n)


def call(endpoint, op, payload, raw: bytes | None = None, headers: dict | None = None):
    body = raw if raw is not None else rust_like(payload)
    hdrs = {
        "smithy-protocol": "rpc-v2-cbor",
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "Authorization": AUTH,
    }
    hdrs.update(headers or {})
    req = urllib.request.Request(endpoint + PATH + op, data=body, method="POST", headers=hdrs)
    try:
        resp = urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as err:
        resp = err
    with resp:
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, data


def check_types(shape, value, path="$"):
    """Assert that a decoded CBOR value has the types the shape requires."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(value, dict), f"{path}: expected map, got {type(value).__name__}"
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: members not in the model: {unknown}"
        for k, v in value.items():
            assert v is not None, f"{path}.{k}: null sent for an absent member"
            check_types(shape.members[k], v, f"{path}.{k}")
    elif t == "list":
        assert isinstance(value, list), f"{path}: expected array"
        for i, v in enumerate(value):
            check_types(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(value, dict), f"{path}: expected map"
    elif t == "timestamp":
        assert isinstance(value, datetime), f"{path}: expected tag-1 timestamp, got {value!r}"
    elif t in ("double", "float"):
        assert isinstance(value, float), f"{path}: expected a float, got {value!r}"
    elif t in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected an integer, got {value!r}"
    elif t == "boolean":
        assert isinstance(value, bool), f"{path}: expected a boolean"
    elif t == "blob":
        assert isinstance(value, bytes), f"{path}: expected a byte string"
    else:
        assert isinstance(value, str), f"{path}: expected a text string, got {value!r}"


def ok(endpoint, op, payload, **kw):
    status, headers, data = call(endpoint, op, payload, **kw)
    assert status == 200, (status, data)
    assert headers.get("smithy-protocol") == "rpc-v2-cbor"
    output = MODEL.operation_model(op).output_shape
    if output is None:
        assert data == b"", f"{op} has no output; body must be empty"
        assert "content-type" not in headers
        return None
    assert headers.get("content-type") == "application/cbor"
    decoded = cbor2.loads(data)
    check_types(output, decoded)
    return decoded


@pytest.fixture
def ep(aws_endpoint):
    settings.update({"alarm_evaluation": False})
    return aws_endpoint


def put_alarm(ep, name="cbor-alarm"):
    return ok(ep, "PutMetricAlarm", {
        "AlarmName": name, "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
        "Dimensions": LB, "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 1,
        "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
        "ActionsEnabled": False,
    })


def test_alarm_operations_round_trip(ep):
    assert put_alarm(ep) is None
    out = ok(ep, "DescribeAlarms", {"AlarmNames": ["cbor-alarm"]})
    alarm = out["MetricAlarms"][0]
    assert alarm["AlarmName"] == "cbor-alarm"
    assert alarm["Threshold"] == 1.0 and alarm["Period"] == 60 and alarm["EvaluationPeriods"] == 2
    assert alarm["Dimensions"] == LB
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateUpdatedTimestamp"].tzinfo is not None

    assert ok(ep, "SetAlarmState", {"AlarmName": "cbor-alarm", "StateValue": "ALARM", "StateReason": "from cbor"}) is None
    hist = ok(ep, "DescribeAlarmHistory", {"AlarmName": "cbor-alarm", "HistoryItemType": "StateUpdate"})
    item = hist["AlarmHistoryItems"][0]
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert json.loads(item["HistoryData"])["newState"]["stateReason"] == "from cbor"

    assert ok(ep, "DeleteAlarms", {"AlarmNames": ["cbor-alarm"]}) is None
    assert ok(ep, "DescribeAlarms", {})["MetricAlarms"] == []


def test_alarm_history_pages_with_next_token(ep):
    put_alarm(ep, "paged")
    for i in range(5):
        ok(ep, "SetAlarmState", {"AlarmName": "paged", "StateValue": "ALARM" if i % 2 == 0 else "OK", "StateReason": str(i)})
    seen, token = [], None
    for _ in range(10):
        payload = {"AlarmName": "paged", "HistoryItemType": "StateUpdate", "MaxRecords": 2, "ScanBy": "TimestampAscending"}
        if token:
            payload["NextToken"] = token
        out = ok(ep, "DescribeAlarmHistory", payload)
        seen += [json.loads(i["HistoryData"])["newState"]["stateReason"] for i in out["AlarmHistoryItems"]]
        token = out.get("NextToken")
        if not token:
            break
    assert seen == ["0", "1", "2", "3", "4"]


def test_metric_data_round_trip_per_period(ep):
    base = datetime(2026, 5, 6, 7, 0, 0, tzinfo=timezone.utc)
    ok(ep, "PutMetricData", {"Namespace": "AWS/ApplicationELB", "MetricData": [
        {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": LB, "Value": v, "Unit": "Count", "Timestamp": Ts(base + timedelta(seconds=s))}
        for s, v in ((1, 2.0), (50, 3.0), (61, 7.0))
    ]})
    out = ok(ep, "GetMetricData", {
        "MetricDataQueries": [{"Id": "e5xx", "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": LB}, "Period": 60, "Stat": "Sum"}, "ReturnData": True}],
        "StartTime": Ts(base), "EndTime": Ts(base + timedelta(minutes=5)),
    })
    res = out["MetricDataResults"][0]
    assert res["Id"] == "e5xx" and res["StatusCode"] == "Complete"
    # Default ScanBy is TimestampDescending.
    assert res["Values"] == [7.0, 5.0]
    assert res["Timestamps"] == [base + timedelta(minutes=1), base]

    metrics = ok(ep, "ListMetrics", {"Namespace": "AWS/ApplicationELB"})["Metrics"]
    assert {m["MetricName"] for m in metrics} == {"HTTPCode_Target_5XX_Count"}
    stats = ok(ep, "GetMetricStatistics", {
        "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": LB,
        "StartTime": Ts(base), "EndTime": Ts(base + timedelta(minutes=5)), "Period": 300, "Statistics": ["Sum", "SampleCount"],
    })
    assert stats["Label"] == "HTTPCode_Target_5XX_Count"
    assert [(d["Sum"], d["SampleCount"]) for d in stats["Datapoints"]] == [(12.0, 3.0)]


def test_gzip_compressed_put_metric_data(ep):
    # The Rust SDK gzips large PutMetricData bodies (requestCompression trait).
    now = clock.get_clock().now()
    body = gzip.compress(rust_like({"Namespace": "Gz", "MetricData": [{"MetricName": "m", "Value": 1.5, "Timestamp": Ts(now)}]}))
    status, headers, data = call(ep, "PutMetricData", None, raw=body, headers={"Content-Encoding": "gzip"})
    assert status == 200, data
    out = ok(ep, "GetMetricData", {
        "MetricDataQueries": [{"Id": "m", "MetricStat": {"Metric": {"Namespace": "Gz", "MetricName": "m"}, "Period": 60, "Stat": "Average"}}],
        "StartTime": Ts(now - timedelta(minutes=2)), "EndTime": Ts(now + timedelta(minutes=2)),
    })
    assert out["MetricDataResults"][0]["Values"] == [1.5]


def test_empty_input_bodies(ep):
    put_alarm(ep, "e")
    # An empty input structure is an empty (indefinite-length) map ...
    assert [a["AlarmName"] for a in ok(ep, "DescribeAlarms", {})["MetricAlarms"]] == ["e"]
    # ... and an absent body is read as one too.
    assert [a["AlarmName"] for a in ok(ep, "DescribeAlarms", None, raw=b"")["MetricAlarms"]] == ["e"]


def test_modelled_error_has_shape_id_and_query_code(ep):
    status, headers, data = call(ep, "SetAlarmState", {"AlarmName": "missing", "StateValue": "ALARM", "StateReason": "x"})
    assert status == 404
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"
    err = cbor2.loads(data)
    assert err["__type"] == "com.amazonaws.cloudwatch#ResourceNotFound"
    assert isinstance(err["message"], str)
    # aws-sdk-cloudwatch takes the code from x-amzn-query-error (query-compatible service).
    assert headers["x-amzn-query-error"] == "ResourceNotFound;Sender"

    status, headers, data = call(ep, "SetAlarmState", {"AlarmName": "missing", "StateValue": "ALARM", "StateReason": "x", "StateReasonData": "{bad"})
    assert status == 400
    assert cbor2.loads(data)["__type"] == "com.amazonaws.cloudwatch#InvalidFormatFault"
    assert headers["x-amzn-query-error"] == "InvalidFormat;Sender"


def test_protocol_errors(ep):
    status, headers, data = call(ep, "NoSuchOperation", {})
    assert status == 404 and cbor2.loads(data)["__type"].endswith("#UnknownOperationException")
    status, headers, data = call(ep, "DescribeAlarms", None, raw=b"\xbf\x61")
    assert status == 400 and cbor2.loads(data)["__type"].endswith("#SerializationException")
    status, headers, data = call(ep, "GetMetricData", {"MetricDataQueries": [], "StartTime": Ts(datetime(2026, 1, 1, tzinfo=timezone.utc)), "EndTime": Ts(datetime(2026, 1, 1, tzinfo=timezone.utc))})
    assert status == 400
    assert headers["x-amzn-query-error"] == "ValidationError;Sender"


def test_floats_are_float64_on_the_wire(ep):
    put_alarm(ep, "wire")
    _, _, data = call(ep, "DescribeAlarms", {"AlarmNames": ["wire"]})
    key = cbor2.dumps("Threshold")
    i = data.index(key) + len(key)
    assert data[i] == 0xFB, f"Threshold encoded with initial byte {data[i]:#x}"
    key = cbor2.dumps("StateUpdatedTimestamp")
    i = data.index(key) + len(key)
    assert data[i] == 0xC1, "timestamps must use tag 1"


def test_botocore_rpcv2_cbor_client_round_trip(ep):
    """botocore's own rpcv2Cbor serializer and parser, as a second independent client."""
    ser = serialize.create_serializer("smithy-rpc-v2-cbor", include_validation=True)
    parser = parsers.create_parser("smithy-rpc-v2-cbor")

    def bcall(op_name, params):
        op = MODEL.operation_model(op_name)
        req = ser.serialize_to_request(params, op)
        headers = dict(req["headers"])
        headers["Authorization"] = AUTH
        status, resp_headers, data = call(ep, op_name, None, raw=req["body"] or b"", headers=headers)
        return parser.parse({"status_code": status, "headers": resp_headers, "body": data}, op.output_shape)

    assert "Error" not in bcall("PutMetricAlarm", {
        "AlarmName": "boto", "Namespace": "N", "MetricName": "M", "Statistic": "Maximum", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 0.5, "ComparisonOperator": "GreaterThanThreshold",
    })
    out = bcall("DescribeAlarms", {"AlarmNames": ["boto"]})
    assert out["MetricAlarms"][0]["Threshold"] == 0.5
    err = bcall("SetAlarmState", {"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"})
    assert err["Error"]["Code"] == "ResourceNotFound"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
