"""Target health per task, the scheduler's replacements, Container Insights and incidents
put on a running service outside any deployment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import control, wait_for
from helpers_deploy import provision_stack


@pytest.fixture
def clients(aws_client):
    return {s: aws_client(s) for s in ("ecs", "elbv2", "cloudwatch", "logs")}


def _running(ecs, stack):
    arns = ecs.list_tasks(cluster=stack["cluster"], serviceName=stack["service"], desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=stack["cluster"], tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def _ip(task):
    for att in task["attachments"]:
        for d in att["details"]:
            if d["name"] == "privateIPv4Address":
                return d["value"]
    return None


def _health(elbv2, stack):
    arn = stack["target_groups"]["blue"]["arn"]
    return elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]


def _incident(endpoint, stack, incident, **params):
    status, body = control(endpoint, "POST", "/_localaws/incident",
                           {"cluster": stack["cluster"], "service": stack["service"], "incident": incident,
                            "params": params})
    assert status == 200, body
    return body


def _healthy_stack(endpoint, clients):
    stack = provision_stack(endpoint)
    wait_for(lambda: len(_health(clients["elbv2"], stack)) == 2
             and all(h["TargetHealth"]["State"] == "healthy" for h in _health(clients["elbv2"], stack)),
             20, "two healthy targets")
    return stack


def test_targets_are_the_tasks_eni_ips_and_healthy(aws_endpoint, clients):
    stack = _healthy_stack(aws_endpoint, clients)
    ips = {_ip(t) for t in _running(clients["ecs"], stack)}
    health = _health(clients["elbv2"], stack)
    assert {h["Target"]["Id"] for h in health} == ips
    assert all(h["Target"]["Port"] == 8080 for h in health)
    assert all("Reason" not in h["TargetHealth"] for h in health)


def test_stop_task_is_replaced_by_the_scheduler(aws_endpoint, clients):
    ecs, elbv2 = clients["ecs"], clients["elbv2"]
    stack = _healthy_stack(aws_endpoint, clients)
    before = _running(ecs, stack)
    victim = before[0]
    ecs.stop_task(cluster=stack["cluster"], task=victim["taskArn"], reason="test")
    states = wait_for(lambda: {h["Target"]["Id"]: h["TargetHealth"] for h in _health(elbv2, stack)}.get(_ip(victim)),
                      10, "the stopped task's target")
    assert states["State"] == "draining" and states["Reason"] == "Target.DeregistrationInProgress"

    def replaced():
        now = _running(ecs, stack)
        new = [t for t in now if t["taskArn"] not in {b["taskArn"] for b in before}]
        return new if len(now) == 2 and new else None

    new = wait_for(replaced, 20, "a replacement task")[0]
    assert new["startedBy"] == victim["startedBy"]
    assert new["group"] == f"service:{stack['service']}"
    seen = set()

    def passes():
        h = {x["Target"]["Id"]: x["TargetHealth"] for x in _health(elbv2, stack)}.get(_ip(new))
        if h:
            seen.add(h["State"])
        return h and h["State"] == "healthy"

    wait_for(passes, 20, "the replacement healthy")
    assert "initial" in seen
    events = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]["events"]
    assert any(new["taskArn"].rsplit("/", 1)[1] in e["message"] and "has started" in e["message"] for e in events)


@pytest.mark.parametrize("incident,code", [("health-check-fail", "[503]"), ("health-path-broken", "[404]")])
def test_health_failing_incidents_mark_targets_unhealthy(aws_endpoint, clients, incident, code):
    stack = _healthy_stack(aws_endpoint, clients)
    _incident(aws_endpoint, stack, incident)
    unhealthy = wait_for(lambda: [h for h in _health(clients["elbv2"], stack)
                                  if h["TargetHealth"]["State"] == "unhealthy"], 20, "an unhealthy target")
    th = unhealthy[0]["TargetHealth"]
    assert th["Reason"] == "Target.ResponseCodeMismatch"
    assert th["Description"] == f"Health checks failed with these codes: {code}"
    # ECS then stops the task for failing ELB health checks.
    stopped = wait_for(lambda: clients["ecs"].list_tasks(cluster=stack["cluster"], desiredStatus="STOPPED")["taskArns"],
                       20, "a stopped task")
    task = clients["ecs"].describe_tasks(cluster=stack["cluster"], tasks=stopped[:1])["tasks"][0]
    assert task["stopCode"] == "ServiceSchedulerInitiated"
    assert "failed ELB health checks" in task["stoppedReason"]


def test_route_5xx_keeps_targets_healthy_while_routes_fail(aws_endpoint, clients):
    stack = _healthy_stack(aws_endpoint, clients)
    _incident(aws_endpoint, stack, "route-5xx")
    logs = clients["logs"]

    def errors():
        ev = logs.filter_log_events(logGroupName=stack["log_group"], filterPattern='{ $.level = 50 }')["events"]
        return ev or None

    ev = wait_for(errors, 20, "error lines")
    assert "TypeError" in ev[0]["message"]
    assert all(h["TargetHealth"]["State"] == "healthy" for h in _health(clients["elbv2"], stack))


def test_oom_incident_climbs_in_container_insights_then_exit_137(aws_endpoint, clients):
    ecs, cw = clients["ecs"], clients["cloudwatch"]
    stack = _healthy_stack(aws_endpoint, clients)
    _incident(aws_endpoint, stack, "oom", requests_before_oom=120)

    def killed():
        arns = ecs.list_tasks(cluster=stack["cluster"], desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster=stack["cluster"], tasks=arns)["tasks"] if arns else []
        return [t for t in tasks if t["containers"][0].get("exitCode") == 137] or None

    task = wait_for(killed, 30, "an OOM-killed task")[0]
    assert "OutOfMemoryError" in task["containers"][0]["reason"]
    task_id = task["taskArn"].rsplit("/", 1)[1]
    end = datetime.now(timezone.utc) + timedelta(days=1)

    def climb():
        r = cw.get_metric_statistics(Namespace="ECS/ContainerInsights", MetricName="MemoryUtilized",
                                     Dimensions=[{"Name": "ClusterName", "Value": stack["cluster"]},
                                                 {"Name": "TaskDefinitionFamily", "Value": stack["service"]},
                                                 {"Name": "TaskId", "Value": task_id}],
                                     StartTime=end - timedelta(days=2), EndTime=end, Period=60,
                                     Statistics=["Maximum"])["Datapoints"]
        return r if len(r) >= 2 and max(p["Maximum"] for p in r) >= 512 else None

    points = [p["Maximum"] for p in sorted(wait_for(climb, 10, "per-task memory"), key=lambda p: p["Timestamp"])]
    assert points[0] < 0.8 * 512
    assert points == sorted(points)  # climbs minute by minute up to the kill
    assert points[-1] == 512


def test_container_insights_off_publishes_nothing(aws_endpoint, clients):
    ecs, cw = clients["ecs"], clients["cloudwatch"]
    stack = provision_stack(aws_endpoint, container_insights="disabled")
    cluster = ecs.describe_clusters(clusters=[stack["cluster"]], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "disabled"} in cluster["settings"]
    wait_for(lambda: len(_running(ecs, stack)) == 2, 20, "running tasks")
    import time

    time.sleep(3)  # three emulated minutes
    assert cw.list_metrics(Namespace="ECS/ContainerInsights")["Metrics"] == []
    ecs.update_cluster(cluster=stack["cluster"], settings=[{"name": "containerInsights", "value": "enabled"}])
    metrics = wait_for(lambda: cw.list_metrics(Namespace="ECS/ContainerInsights")["Metrics"], 10, "metrics")
    names = {m["MetricName"] for m in metrics}
    assert {"MemoryUtilized", "MemoryReserved", "CpuUtilized", "RunningTaskCount", "DesiredTaskCount"} <= names
    assert all({d["Name"] for d in m["Dimensions"]} == {"ClusterName", "ServiceName"} for m in metrics)


def test_crash_loop_incident_replaces_tasks_that_die_in_seconds(aws_endpoint, clients):
    ecs = clients["ecs"]
    stack = _healthy_stack(aws_endpoint, clients)
    _incident(aws_endpoint, stack, "crash-loop")

    def crashed():
        arns = ecs.list_tasks(cluster=stack["cluster"], desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster=stack["cluster"], tasks=arns)["tasks"] if arns else []
        short = [t for t in tasks if t.get("startedAt") and t.get("stoppedAt")
                 and t["containers"][0].get("exitCode") == 1
                 and (t["executionStoppedAt"] - t["startedAt"]).total_seconds() < 30]
        return short if len(short) >= 3 else None

    wait_for(crashed, 30, "replacement tasks crashing too")


def test_unknown_incident_is_rejected(aws_endpoint):
    stack = provision_stack(aws_endpoint)
    status, body = control(aws_endpoint, "POST", "/_localaws/incident",
                           {"cluster": stack["cluster"], "service": stack["service"], "incident": "nope"})
    assert status == 400 and "known:" in body["error"]
