"""Helpers for the deployment, scenario, trace and provisioning tests.

`provision_stack` builds the sample stack through the control API; `register_release`
registers a task-definition revision pinned to an image tag's digest (as a pipeline
would: tag → DescribeImages → `repo@sha256:…`); `create_deployment` starts a CodeDeploy
deployment with an AppSpec; `wait_deployment` waits, with a bound, for a status.
"""

from __future__ import annotations

import json
import time

from conftest import control, wait_for


def provision_stack(endpoint: str, **spec) -> dict:
    status, body = control(endpoint, "POST", "/_localaws/provision", spec)
    assert status == 200, body
    return body


def set_scenario(endpoint: str, image: str, scenario: str, params: dict | None = None) -> dict:
    status, body = control(endpoint, "POST", "/_localaws/scenario",
                           {"image": image, "scenario": scenario, "params": params or {}})
    assert status == 200, body
    return body


def set_config(endpoint: str, **values) -> dict:
    status, body = control(endpoint, "POST", "/_localaws/config", values)
    assert status == 200, body
    return body


def pinned_image(ecr, stack: dict, tag: str) -> str:
    detail = ecr.describe_images(repositoryName=stack["repository"], imageIds=[{"imageTag": tag}])["imageDetails"][0]
    return f"{stack['repository_uri']}@{detail['imageDigest']}"


def register_release(ecs, ecr, stack: dict, tag: str) -> str:
    current = ecs.describe_task_definition(taskDefinition=stack["task_definition_arn"])["taskDefinition"]
    containers = current["containerDefinitions"]
    containers[0]["image"] = pinned_image(ecr, stack, tag)
    arn = ecs.register_task_definition(
        family=current["family"], containerDefinitions=containers, networkMode=current["networkMode"],
        requiresCompatibilities=current["requiresCompatibilities"], cpu=current["cpu"], memory=current["memory"],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def appspec(task_def_arn: str, container: str = "web", port: int = 8080, hooks: list | None = None) -> str:
    doc = {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
            "TaskDefinition": task_def_arn,
            "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port}}}}],
    }
    if hooks:
        doc["Hooks"] = hooks
    return json.dumps(doc)


def create_deployment(cd, stack: dict, task_def_arn: str, config: str | None = None, **extra) -> str:
    kwargs = dict(
        applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(task_def_arn)}},
    )
    if config:
        kwargs["deploymentConfigName"] = config
    kwargs.update(extra)
    return cd.create_deployment(**kwargs)["deploymentId"]


def deploy_tag(cd, ecs, ecr, stack: dict, tag: str, config: str | None = None, **extra) -> tuple[str, str]:
    arn = register_release(ecs, ecr, stack, tag)
    return create_deployment(cd, stack, arn, config, **extra), arn


def wait_deployment(cd, deployment_id: str, statuses=("Succeeded", "Failed", "Stopped"), timeout: float = 60.0) -> dict:
    def done():
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        return info if info["status"] in statuses else None

    return wait_for(done, timeout, f"deployment {deployment_id} to reach {statuses}", interval=0.2)


def target(cd, stack: dict, deployment_id: str) -> dict:
    return cd.get_deployment_target(deploymentId=deployment_id,
                                     targetId=f"{stack['cluster']}:{stack['service']}")["deploymentTarget"]["ecsTarget"]


def weights(ecs_target: dict) -> dict[str, float]:
    return {t["taskSetLabel"]: t["trafficWeight"] for t in ecs_target["taskSetsInfo"]}


def events_by_name(ecs_target: dict) -> dict[str, dict]:
    return {e["lifecycleEventName"]: e for e in ecs_target["lifecycleEvents"]}


def log_lines(logs, stack: dict, stream_prefix: str | None = None) -> list[tuple[str, str]]:
    """(stream, message) of every event in the stack's log group (all pages)."""
    kwargs = {"logGroupName": stack["log_group"]}
    if stream_prefix:
        kwargs["logStreamNamePrefix"] = stream_prefix
    out = []
    while True:
        page = logs.filter_log_events(**kwargs)
        out += [(e["logStreamName"], e["message"]) for e in page["events"]]
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def json_lines(lines: list[tuple[str, str]]) -> list[tuple[str, dict]]:
    out = []
    for stream, msg in lines:
        try:
            out.append((stream, json.loads(msg)))
        except ValueError:
            pass
    return out


def task_set_tasks(ecs, stack: dict, task_set_id: str, desired_status: str = "RUNNING") -> list[dict]:
    arns = ecs.list_tasks(cluster=stack["cluster"], startedBy=task_set_id, desiredStatus=desired_status)["taskArns"]
    if not arns:
        return []
    return ecs.describe_tasks(cluster=stack["cluster"], tasks=arns)["tasks"]


def sleep_minutes(minutes: float, seconds_per_minute: float = 1.0) -> None:
    time.sleep(minutes * seconds_per_minute)
