"""Release scenarios: each leaves the evidence a real failure would (task stops with
AWS's codes, container logs, traces, ALB metrics) and ends the deployment as AWS would."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta

import pytest

from conftest import control, wait_for
from helpers_deploy import (deploy_tag, events_by_name, json_lines, log_lines, provision_stack, set_config,
                            set_scenario, target, task_set_tasks, wait_deployment)


@pytest.fixture
def clients(aws_client):
    return {s: aws_client(s) for s in ("codedeploy", "ecs", "ecr", "elbv2", "cloudwatch", "logs")}


def _green_id(ecs, stack, dep_id):
    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    return next(ts["id"] for ts in svc["taskSets"] if ts.get("externalId") == dep_id)


def _trace(endpoint: str, trace_id: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}/api/traces/{trace_id}", timeout=10) as resp:
        return json.loads(resp.read())


def test_http_5xx_logs_errors_with_traces_only_on_green(aws_endpoint, clients):
    cd, ecs, ecr, logs = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["logs"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "http-5xx"})
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Stopped"
    wait_deployment(cd, info["rollbackInfo"]["rollbackDeploymentId"], timeout=30)
    # After the rollback the green task set is drained: its tasks are stopped.
    green_tasks = wait_for(lambda: task_set_tasks(ecs, stack, _green_id(ecs, stack, dep_id), "STOPPED"), 10,
                           "the drained green tasks")
    assert all(t["stopCode"] == "ServiceSchedulerInitiated" for t in green_tasks)
    green_ids = {t["taskArn"].rsplit("/", 1)[1] for t in green_tasks}
    assert green_ids
    lines = json_lines(log_lines(logs, stack))
    streams = {s for s, _ in lines}
    assert all(s.startswith("web/web/") for s in streams)
    errors = [(s, l) for s, l in lines if l.get("level") == 50]
    assert errors, "no error lines"
    for stream, line in errors:
        assert stream.rsplit("/", 1)[1] in green_ids
        assert line["msg"] == "request errored"
        assert line["req"]["method"] == "GET" and line["req"]["url"].startswith("/api/orders")
        assert line["res"]["statusCode"] == 500
        assert line["err"]["message"] == "Database connection refused"
        assert "pg/lib/client.js" in line["err"]["stack"]
        assert len(line["trace_id"]) == 32 and int(line["trace_id"], 16) >= 0
        assert isinstance(line["time"], int) and line["pid"] and line["hostname"]
    infos = [l for _, l in lines if l.get("level") == 30 and l.get("msg") == "request completed"]
    assert infos and all(l["res"]["statusCode"] in (200, 201) for l in infos)
    blue_streams = {s for s, _ in lines if s.rsplit("/", 1)[1] not in green_ids}
    assert blue_streams, "blue tasks serve traffic too"

    doc = _trace(aws_endpoint, errors[0][1]["trace_id"])
    assert doc["errors"] is None and len(doc["data"]) == 1
    trace = doc["data"][0]
    assert trace["traceID"] == errors[0][1]["trace_id"]
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert {"GET /api/orders", "request handler - /api/orders", "pg.connect"} <= set(spans)
    root = spans["GET /api/orders"]
    assert root["references"] == [] and root["spanID"] == errors[0][1]["span_id"]
    handler = spans["request handler - /api/orders"]
    assert handler["references"] == [{"refType": "CHILD_OF", "traceID": trace["traceID"], "spanID": root["spanID"]}]
    connect = spans["pg.connect"]
    assert connect["references"][0]["spanID"] == handler["spanID"]
    tags = {t["key"]: t["value"] for t in connect["tags"]}
    assert tags["error"] is True and tags["otel.status_code"] == "ERROR" and tags["db.system"] == "postgresql"
    fields = {f["key"]: f["value"] for f in connect["logs"][0]["fields"]}
    assert fields["event"] == "exception" and fields["exception.message"] == "Database connection refused"
    assert {t["key"]: t["value"] for t in root["tags"]}["http.status_code"] == 500
    assert connect["startTime"] >= root["startTime"] and connect["duration"] <= root["duration"]
    assert trace["processes"][connect["processID"]]["serviceName"] == "web"
    # Traces of successful requests have the query span with its statement: a read for a
    # GET (a POST's is an INSERT, which is why the line is chosen by its method).
    ok_get = next(l for l in reversed(infos) if l["req"]["method"] == "GET" and l["req"]["url"] != "/healthz")
    ok_trace = _trace(aws_endpoint, ok_get["trace_id"])["data"][0]
    query = next(s for s in ok_trace["spans"] if s["operationName"] == "pg.query")
    assert any(t["key"] == "db.statement" and t["value"].startswith("SELECT") for t in query["tags"])


def test_crash_loop_tasks_exit_and_the_install_times_out(aws_endpoint, clients):
    cd, ecs, ecr, logs = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["logs"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"})
    set_scenario(aws_endpoint, "web:v2", "crash-loop")
    set_config(aws_endpoint, ecs_install_timeout_minutes=3)
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=40)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "TIMEOUT"
    assert "replacement task set to become healthy" in info["errorInformation"]["message"]
    assert events_by_name(target(cd, stack, dep_id))["Install"]["status"] == "Failed"
    green = _green_id(ecs, stack, dep_id)
    stopped = task_set_tasks(ecs, stack, green, "STOPPED")
    assert len(stopped) >= 3, "tasks were replaced and crashed again"
    for task in stopped:
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["containers"][0]["exitCode"] == 1
    done = [t for t in stopped if t["lastStatus"] == "STOPPED"]
    assert done and all(t["stoppedAt"] >= t["startedAt"] for t in done)
    lines = json_lines(log_lines(logs, stack, f"web/web/{stopped[0]['taskArn'].rsplit('/', 1)[1]}"))
    fatal = [l for _, l in lines if l.get("level") == 60]
    assert fatal and fatal[0]["err"]["type"] == "TypeError" and "at parseRedisUrl" in fatal[0]["err"]["stack"]
    events = ecs.describe_services(cluster=stack["cluster"], services=["web"])["services"][0]["events"]
    assert any(e["message"].startswith(f"(service web, taskSet {green}) has started 1 tasks: (task ") for e in events)
    assert any(f"taskSet {green}) has stopped 1 running tasks" in e["message"] for e in events)
    # DEPLOYMENT_FAILURE is a rollback event of the stack's group.
    rb = wait_deployment(cd, info["rollbackInfo"]["rollbackDeploymentId"], timeout=30)
    assert rb["status"] == "Succeeded"


def test_oom_release_kills_tasks_and_the_elb_alarm_stops_it(aws_endpoint, clients):
    cd, ecs, ecr, logs, cw = (clients[k] for k in ("codedeploy", "ecs", "ecr", "logs", "cloudwatch"))
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "oom"},
                            deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes")
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert "web-elb-5xx" in info["errorInformation"]["message"]
    green = _green_id(ecs, stack, dep_id)
    killed = task_set_tasks(ecs, stack, green, "STOPPED")
    killed = [t for t in killed if t["containers"][0].get("exitCode") == 137]
    assert killed, "an OOM-killed task"
    task = killed[0]
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["containers"][0]["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    warn = [l for _, l in json_lines(log_lines(logs, stack)) if l.get("level") == 40]
    assert warn and warn[0]["msg"] == "memory usage high"
    stats = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_502_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": stack["load_balancer_arn"].split(":loadbalancer/")[1]}],
        StartTime=info["createTime"] - timedelta(minutes=5), EndTime=info["completeTime"] + timedelta(minutes=5),
        Period=60, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 1


def test_health_check_fail_tasks_are_replaced_by_the_scheduler(aws_endpoint, clients):
    cd, ecs, ecr, logs = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["logs"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "health-check-fail"})
    set_config(aws_endpoint, ecs_install_timeout_minutes=4)
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=40)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "TIMEOUT"
    green = _green_id(ecs, stack, dep_id)
    stopped = task_set_tasks(ecs, stack, green, "STOPPED")
    assert stopped
    tg_arn = stack["target_groups"]["green"]["arn"]
    for task in stopped:
        assert task["stopCode"] == "ServiceSchedulerInitiated"
        assert task["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg_arn})"
    lines = json_lines(log_lines(logs, stack))
    failures = [l for _, l in lines if l.get("msg") == "health check failed"]
    assert failures and failures[0]["level"] == 50 and failures[0]["res"]["statusCode"] == 503
    assert failures[0]["err"]["message"] == "Redis connection timeout after 2000ms"
    trace = _trace(aws_endpoint, failures[0]["trace_id"])["data"][0]
    ping = next(s for s in trace["spans"] if s["operationName"] == "PING")
    assert any(t["key"] == "error" and t["value"] is True for t in ping["tags"])
    events = ecs.describe_services(cluster=stack["cluster"], services=["web"])["services"][0]["events"]
    assert any(f"failed ELB health checks in (target-group {tg_arn})" in e["message"] for e in events)


def test_scenario_control_api(aws_endpoint, clients):
    ecr = clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy"})
    status, body = control(aws_endpoint, "POST", "/_localaws/scenario", {"image": "web:v1", "scenario": "nope"})
    assert status == 400 and "unknown scenario" in body["error"]
    status, pushed = control(aws_endpoint, "POST", "/_localaws/image",
                             {"repository": "web", "tag": "v9", "scenario": "oom",
                              "params": {"requests_before_oom": 3}})
    assert status == 200 and pushed["scenario"] == "oom"
    digests = {d["imageDigest"] for d in ecr.describe_images(repositoryName="web")["imageDetails"]}
    assert pushed["image_digest"] in digests and len(digests) == 2
    assert pushed["image_pinned"] == f"{stack['repository_uri']}@{pushed['image_digest']}"
    # A digest reference resolves through ECR to the tag's scenario; a digest key wins over the tag.
    from localaws import scenarios

    assert scenarios.resolve(pushed["image_pinned"], stack["account"], stack["region"])[:2] == \
        ("oom", dict(scenarios.SCENARIOS["oom"], requests_before_oom=3))
    set_scenario(aws_endpoint, pushed["image_digest"], "crash-loop")
    assert scenarios.resolve(pushed["image_pinned"], stack["account"], stack["region"])[0] == "crash-loop"
    # repo:tag is more specific than a bare tag.
    set_scenario(aws_endpoint, "v1", "http-5xx")
    assert scenarios.resolve(f"{stack['repository_uri']}:v1", stack["account"], stack["region"])[0] == "healthy"
    set_scenario(aws_endpoint, "web:v1", "http-5xx")
    assert scenarios.resolve(f"{stack['repository_uri']}:v1", stack["account"], stack["region"])[0] == "http-5xx"
    # An image pushed with plain ECR calls and a bare-tag scenario, resolved by digest.
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "1" * 64, "size": 1, "mediaType": "x"},
                           "layers": [{"digest": "sha256:" + "2" * 64, "size": 1, "mediaType": "y"}]})
    digest = ecr.put_image(repositoryName="web", imageManifest=manifest, imageTag="v8")["image"]["imageId"]["imageDigest"]
    assert scenarios.resolve(f"{stack['repository_uri']}@{digest}", stack["account"], stack["region"])[0] == "healthy"
    set_scenario(aws_endpoint, "v8", "hook-fail")
    assert scenarios.resolve(f"{stack['repository_uri']}@{digest}", stack["account"], stack["region"])[0] == "hook-fail"
    status, listing = control(aws_endpoint, "GET", "/_localaws/scenario")
    assert status == 200 and "hook-fail" in listing["scenarios"]
