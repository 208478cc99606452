"""Fault injection and call counts across services and protocols."""

from __future__ import annotations

import time

import botocore.exceptions
import cbor2
import pytest
from botocore.exceptions import ClientError
from conftest import control
from test_cloudwatch_cbor import call as cbor_call

NO_RETRY = {"retries": {"mode": "standard", "total_max_attempts": 1}}

# (boto3 service, operation method, kwargs, call-count key, protocol)
CALLS = [
    ("ecs", "list_clusters", {}, "ecs.ListClusters"),
    ("ecr", "describe_repositories", {}, "ecr.DescribeRepositories"),
    ("codedeploy", "list_applications", {}, "codedeploy.ListApplications"),
    ("logs", "describe_log_groups", {}, "logs.DescribeLogGroups"),
    ("cloudwatch", "describe_alarms", {}, "cloudwatch.DescribeAlarms"),
    ("elbv2", "describe_load_balancers", {}, "elbv2.DescribeLoadBalancers"),
]


def faults(endpoint, rules, seed=None):
    body = {"rules": rules}
    if seed is not None:
        body["seed"] = seed
    status, out = control(endpoint, "POST", "/_localaws/faults", body)
    assert status == 200, out
    return out


def calls(endpoint):
    status, out = control(endpoint, "GET", "/_localaws/calls")
    assert status == 200
    return out


def test_calls_are_counted_per_service_and_operation_for_every_protocol(aws_client, aws_endpoint):
    for service, method, kw, _ in CALLS:
        getattr(aws_client(service), method)(**kw)
    aws_client("codedeploy").list_applications()
    status, _, _ = cbor_call(aws_endpoint, "DescribeAlarms", {})
    assert status == 200
    counted = calls(aws_endpoint)["calls"]
    expected = {key: 1 for *_, key in CALLS}
    expected["codedeploy.ListApplications"] = 2
    expected["cloudwatch.DescribeAlarms"] = 2  # JSON from boto3 + CBOR
    assert counted == expected
    # Control API calls are not AWS calls.
    assert not any(k.startswith("_localaws") or k.startswith("unknown") for k in counted)

    status, out = control(aws_endpoint, "POST", "/_localaws/calls/reset")
    assert status == 200 and out["calls"] == {}
    assert calls(aws_endpoint)["calls"] == {}


@pytest.mark.parametrize("service,method,kw,key", CALLS, ids=[c[3] for c in CALLS])
def test_throttling_in_each_service_protocol(aws_client, aws_endpoint, service, method, kw, key):
    svc, op = key.split(".")
    faults(aws_endpoint, [{"service": svc, "operation": op, "throttle": 1.0}])
    client = aws_client(service, **NO_RETRY)
    with pytest.raises(ClientError) as err:
        getattr(client, method)(**kw)
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert calls(aws_endpoint)["injected"] == {key: {"throttle": 1}}


def test_throttling_over_cbor(aws_endpoint):
    faults(aws_endpoint, [{"service": "cloudwatch", "operation": "*", "throttle": 1.0}])
    status, headers, data = cbor_call(aws_endpoint, "DescribeAlarms", {})
    assert status == 400
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor2.loads(data)["__type"] == "com.amazonaws.cloudwatch#ThrottlingException"
    assert headers["x-amzn-query-error"] == "ThrottlingException;Sender"


def test_sdk_retries_through_limited_throttling(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "codedeploy", "operation": "ListApplications", "throttle": 1.0, "limit": 2}])
    client = aws_client("codedeploy", retries={"mode": "standard", "total_max_attempts": 5})
    assert client.list_applications()["applications"] == []
    report = calls(aws_endpoint)
    assert report["calls"]["codedeploy.ListApplications"] == 3
    assert report["injected"]["codedeploy.ListApplications"] == {"throttle": 2}
    assert control(aws_endpoint, "GET", "/_localaws/faults")[1]["rules"][0]["injected"] == 2


def test_server_errors(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "ecs", "error5xx": 1.0}], seed=3)
    client = aws_client("ecs", **NO_RETRY)
    seen = set()
    for _ in range(8):
        with pytest.raises(ClientError) as err:
            client.list_clusters()
        status = err.value.response["ResponseMetadata"]["HTTPStatusCode"]
        code = err.value.response["Error"]["Code"]
        assert (status, code) in {(500, "InternalFailure"), (503, "ServiceUnavailable")}
        seen.add(status)
    assert seen == {500, 503}
    # Other services are untouched by an ecs rule.
    aws_client("ecr", **NO_RETRY).describe_repositories()


def test_dropped_connections(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "logs", "operation": "DescribeLogGroups", "drop": 1.0}])
    client = aws_client("logs", **NO_RETRY)
    with pytest.raises((botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError)):
        client.describe_log_groups()
    assert calls(aws_endpoint)["injected"]["logs.DescribeLogGroups"] == {"drop": 1}
    # The server keeps serving other requests.
    faults(aws_endpoint, [])
    assert client.describe_log_groups()["logGroups"] == []


def test_hang_accepts_and_never_answers_until_rules_change(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "ecs", "operation": "ListClusters", "hang": 1.0}])
    client = aws_client("ecs", read_timeout=1, connect_timeout=2, **NO_RETRY)
    t0 = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.list_clusters()
    assert time.monotonic() - t0 >= 1.0
    assert calls(aws_endpoint)["injected"]["ecs.ListClusters"] == {"hang": 1}
    # Other operations are served while a request hangs; new rules release it.
    aws_client("ecr", **NO_RETRY).describe_repositories()
    faults(aws_endpoint, [])
    assert "clusterArns" in client.list_clusters()


def test_hang_ends_after_hang_seconds(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "ecs", "operation": "ListClusters", "hang": 1.0, "hang_seconds": 0.5}])
    client = aws_client("ecs", read_timeout=5, **NO_RETRY)
    with pytest.raises(ClientError) as err:
        client.list_clusters()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


@pytest.mark.parametrize("rule", [{"hang": 0.6, "drop": 0.6}, {"hang": 1.0, "hang_seconds": -1}])
def test_bad_hang_rules_are_rejected(aws_endpoint, rule):
    status, out = control(aws_endpoint, "POST", "/_localaws/faults", {"rules": [rule]})
    assert status == 400, out


def test_latency_applies_only_to_matching_operation(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "codedeploy", "operation": "ListApplications", "latency_ms": 400}])
    client = aws_client("codedeploy", **NO_RETRY)
    t0 = time.monotonic()
    client.list_applications()
    assert time.monotonic() - t0 >= 0.4
    assert "codedeploy.ListApplications" not in calls(aws_endpoint)["injected"]


def test_seeded_share_is_reproducible(aws_client, aws_endpoint):
    client = aws_client("codedeploy", **NO_RETRY)

    def pattern():
        outcome = []
        for _ in range(40):
            try:
                client.list_applications()
                outcome.append(".")
            except ClientError:
                outcome.append("T")
        return "".join(outcome)

    faults(aws_endpoint, [{"service": "codedeploy", "operation": "*", "throttle": 0.3}], seed=11)
    first = pattern()
    faults(aws_endpoint, [{"service": "codedeploy", "operation": "*", "throttle": 0.3}], seed=11)
    assert pattern() == first
    assert 3 <= first.count("T") <= 25, first


@pytest.mark.parametrize(
    "bad",
    [
        {"rules": [{"service": "ecs", "throttle": 1.5}]},
        {"rules": [{"service": "ecs", "throttle": 0.6, "drop": 0.6}]},
        {"rules": [{"service": "ecs", "explode": 1}]},
        {"rules": "ecs"},
    ],
)
def test_invalid_fault_rules_are_rejected(aws_endpoint, bad):
    status, out = control(aws_endpoint, "POST", "/_localaws/faults", bad)
    assert status == 400, out


def test_reset_clears_faults(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "*", "throttle": 1.0}])
    assert control(aws_endpoint, "POST", "/_localaws/reset")[0] == 200
    assert control(aws_endpoint, "GET", "/_localaws/faults")[1] == {"rules": []}
    aws_client("ecs", **NO_RETRY).list_clusters()


@pytest.mark.parametrize(
    "service,method,kw,key,code",
    [
        ("ecs", "list_clusters", {}, "ecs.ListClusters", "AccessDeniedException"),
        ("codedeploy", "list_applications", {}, "codedeploy.ListApplications", "AccessDeniedException"),
        ("logs", "describe_log_groups", {}, "logs.DescribeLogGroups", "AccessDeniedException"),
        ("cloudwatch", "describe_alarms", {}, "cloudwatch.DescribeAlarms", "AccessDenied"),
    ],
    ids=["ecs", "codedeploy", "logs", "cloudwatch-query"],
)
def test_deny_answers_access_denied_naming_the_action(aws_client, aws_endpoint, service, method, kw, key, code):
    svc, op = key.split(".")
    faults(aws_endpoint, [{"service": svc, "operation": op, "deny": 1.0}])
    client = aws_client(service, **NO_RETRY)
    with pytest.raises(ClientError) as err:
        getattr(client, method)(**kw)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"not authorized to perform: {svc}:{op}" in err.value.response["Error"]["Message"]
    assert calls(aws_endpoint)["injected"] == {key: {"deny": 1}}


def test_deny_over_cbor_and_only_for_the_named_operation(aws_client, aws_endpoint):
    faults(aws_endpoint, [{"service": "cloudwatch", "operation": "DescribeAlarms", "deny": 1.0}])
    status, headers, data = cbor_call(aws_endpoint, "DescribeAlarms", {})
    assert status == 400
    assert cbor2.loads(data)["__type"] == "com.amazonaws.cloudwatch#AccessDenied"
    assert headers["x-amzn-query-error"] == "AccessDenied;Sender"
    # Another operation of the same service is allowed.
    assert aws_client("cloudwatch", **NO_RETRY).list_metrics()["Metrics"] == []


def test_deny_share_counts_with_the_others(aws_endpoint):
    status, out = control(aws_endpoint, "POST", "/_localaws/faults", {"rules": [{"deny": 0.6, "throttle": 0.6}]})
    assert status == 400, out


def test_the_timeline_says_which_fault_each_call_got(aws_client, aws_endpoint):
    start = control(aws_endpoint, "GET", "/_localaws/timeline?since=0")[1]["last"]
    faults(aws_endpoint, [{"service": "ecs", "operation": "ListClusters", "throttle": 1.0}])
    with pytest.raises(ClientError):
        aws_client("ecs", **NO_RETRY).list_clusters()
    aws_client("ecr").describe_repositories()
    entries = control(aws_endpoint, "GET", f"/_localaws/timeline?since={start}")[1]["entries"]
    got = {e["operation"]: e["fault"] for e in entries if e["kind"] == "call"}
    assert got == {"ecs.ListClusters": "throttle", "ecr.DescribeRepositories": None}
