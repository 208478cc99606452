"""The timeline (`GET /_localaws/timeline`): real and emulated times of calls,
deployment status changes, stop requests and alarm changes, for benchmarks."""

from __future__ import annotations

import time

import pytest

from conftest import control, wait_for
from helpers_deploy import deploy_tag, provision_stack, target, wait_deployment, weights


@pytest.fixture
def clients(aws_client):
    return {s: aws_client(s) for s in ("codedeploy", "ecs", "ecr", "cloudwatch")}


def timeline(endpoint: str, since: int = 0) -> dict:
    status, body = control(endpoint, "GET", f"/_localaws/timeline?since={since}")
    assert status == 200, body
    return body


def test_timeline_orders_calls_statuses_stops_and_alarms(aws_endpoint, clients):
    cd, ecs, ecr, cw = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["cloudwatch"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"})
    start = timeline(aws_endpoint)["last"]
    t0 = time.time()
    dep, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    wait_for(lambda: weights(target(cd, stack, dep)).get("Green", 0) >= 10.0, 30, "traffic on green")
    cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=True)
    rollback = cd.get_deployment(deploymentId=dep)["deploymentInfo"]["rollbackInfo"]["rollbackDeploymentId"]
    wait_deployment(cd, rollback, timeout=30)
    cw.set_alarm_state(AlarmName=stack["alarms"][0], StateValue="ALARM", StateReason="test")
    t1 = time.time()

    entries = timeline(aws_endpoint, start)["entries"]
    assert entries and all(e["seq"] > start for e in entries)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert all(t0 - 0.5 <= e["real"] <= t1 + 0.5 for e in entries), entries[:3]
    reals = [e["real"] for e in entries]
    assert reals == sorted(reals)

    creates = [e for e in entries if e["kind"] == "call" and e["operation"] == "codedeploy.CreateDeployment"]
    assert len(creates) == 1 and creates[0]["agent"].startswith("Boto3/"), creates

    mine = [(e["status"], e["error_code"]) for e in entries if e["kind"] == "deployment" and e["deployment_id"] == dep]
    assert mine[0][0] == "Created" and ("InProgress", None) in mine and mine[-1] == ("Stopped", "MANUAL_STOP"), mine
    stops = [e for e in entries if e["kind"] == "stop_requested"]
    assert [(s["deployment_id"], s["rollback"]) for s in stops] == [(dep, True)]
    stopped_at = next(e["seq"] for e in entries if e["kind"] == "deployment" and e["status"] == "Stopped")
    assert stops[0]["seq"] < stopped_at
    rb = [e for e in entries if e["kind"] == "deployment" and e["deployment_id"] == rollback]
    assert rb[0].get("rollback_of") == dep and rb[-1]["status"] == "Succeeded"

    alarms = [e for e in entries if e["kind"] == "alarm"]
    assert alarms[-1]["alarm"] == stack["alarms"][0] and alarms[-1]["new_state"] == "ALARM" and alarms[-1]["manual"]
    # Emulated time runs faster than real time (1 s per emulated minute here).
    first, last = entries[0], entries[-1]
    if last["real"] - first["real"] > 1:
        assert (last["emulated"] - first["emulated"]) > 10 * (last["real"] - first["real"])


def test_timeline_reset_and_bad_since(aws_endpoint, aws_client):
    aws_client("cloudwatch").describe_alarms()
    assert timeline(aws_endpoint)["entries"]
    status, _ = control(aws_endpoint, "POST", "/_localaws/reset")
    assert status == 200
    assert timeline(aws_endpoint)["entries"] == []
    status, body = control(aws_endpoint, "GET", "/_localaws/timeline?since=soon")
    assert status == 400 and "since" in body["error"]
