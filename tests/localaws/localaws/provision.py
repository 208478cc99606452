"""One-call provisioning of a complete sample stack for CodeDeploy blue/green on ECS.

`provision(spec)` (also `POST /_localaws/provision` and `serve --provision NAME`)
creates, directly in moto's backends of one account and region:

- an ECR repository with one image per tag (distinct digests), each tag's scenario set;
- a VPC with two subnets and a security group;
- an ALB with a production listener (port 80, optionally a test listener) and a blue
  and a green target group (ip targets, health check GET /healthz every 10 s);
- the log group `/ecs/<name>` with a retention policy;
- an ECS cluster, a task definition (image pinned by digest, awslogs), a Fargate
  service on the CODE_DEPLOY controller and its initial PRIMARY task set, whose tasks
  are already running and healthy so the baseline traffic is served from the start;
- CloudWatch alarms on the load balancer (see ALARMS below);
- a CodeDeploy application and ECS deployment group (BLUE_GREEN with traffic control,
  both alarms, automatic rollback on failure and on alarm).

`POST /_localaws/image` pushes a further release image and sets its scenario.

Alarm design: two alarms on the load balancer as a whole (`LoadBalancer` dimension),
Sum over 60 s, one datapoint, missing data not breaching:
`<name>-5xx` on HTTPCode_Target_5XX_Count (the application answered 5xx) and
`<name>-elb-5xx` on HTTPCode_ELB_5XX_Count (the ALB answered 5xx itself: a target died
mid-request or no target was available). Alarming on the load balancer rather than on
one target group survives the blue/green swap of target groups between deployments,
and the blue baseline is clean, so during a deployment the errors come from green.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from moto.backends import get_backend

from . import codedeploy, registry, scenarios, settings, traffic
from .clock import get_clock
from .engine import LOCK

DEFAULT_SPEC: dict[str, Any] = {
    "name": "web",
    "region": None,  # settings "region" (us-east-1)
    "account": None,  # settings "account_id" (moto's default 123456789012)
    "images": {"v1": "healthy"},
    "initial_tag": None,  # first tag of images
    "desired_count": 2,
    "deployment_config": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    "ready_wait_minutes": 0,
    "ready_action": "CONTINUE_DEPLOYMENT",
    "termination_wait_minutes": 1,
    "alarm_threshold": 1,
    # The latency alarm's threshold (TargetResponseTime Maximum, seconds): above the
    # 2–5 s that background errors (traffic.py) take, so only a slow release trips it.
    "latency_alarm_seconds": 6.0,
    "alarm_period": 60,
    "alarm_evaluation_periods": 1,
    "alarm_datapoints": 1,
    "rollback_events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    "test_listener_port": None,
    "requests_per_minute": None,  # settings "traffic_requests_per_minute"
    "background_error_rate": None,  # settings "traffic_background_error_rate"
    "log_retention_days": 14,
    "cpu": "256",
    "memory": "512",
    "port": 8080,
    # The cluster's containerInsights setting: "enhanced" (per service and task), "enabled", "disabled".
    "container_insights": "enhanced",
}


def _manifest(repo: str, tag: str) -> str:
    """A Docker image manifest whose layer digests (and so the image digest) are unique per tag."""

    def digest(part: str) -> str:
        return "sha256:" + hashlib.sha256(f"{repo}:{tag}:{part}".encode()).hexdigest()

    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": digest("config")},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3370628 + i * 977,
             "digest": digest(f"layer{i}")}
            for i in range(3)
        ],
    })


def push_image(account: str, region: str, repository: str, tag: str, scenario: str | None = None,
               params: dict[str, Any] | None = None) -> dict[str, Any]:
    """PutImage of a new tag (created on the fly if the repository is missing), then its scenario."""
    if scenario is not None and scenario not in scenarios.SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(scenarios.SCENARIOS))}")
    with LOCK:
        ecr = get_backend("ecr")[account][region]
        if repository not in ecr.repositories:
            ecr.create_repository(repository_name=repository, registry_id=None,
                                  encryption_config={"encryptionType": "AES256"},
                                  image_scan_config={"scanOnPush": False}, image_tag_mutability="MUTABLE",
                                  tags=[])
        image = ecr.put_image(repository, _manifest(repository, tag), tag,
                              "application/vnd.docker.distribution.manifest.v2+json")
        uri = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"
    if scenario is not None:
        scenarios.set_scenario(f"{repository}:{tag}", scenario, params)
    return {"repository": repository, "tag": tag, "image_digest": image.image_digest,
            "image_uri": f"{uri}:{tag}", "image_pinned": f"{uri}@{image.image_digest}",
            "scenario": scenario or scenarios.resolve(f"{uri}:{tag}", account, region)[0]}


def provision(spec: dict[str, Any] | None = None, endpoint: str | None = None) -> dict[str, Any]:
    """Create the stack; `endpoint` is the base URL of the emulator serving it (the
    caller knows it: the server, or the route that received the request). When given,
    the result carries it as `endpoint` and `jaeger_url` (the Jaeger API shares the port)."""
    s = dict(DEFAULT_SPEC)
    s.update({k: v for k, v in (spec or {}).items() if v is not None})
    name = str(s["name"])
    region = s.get("region") or settings.get("region") or "us-east-1"
    account = str(s.get("account") or settings.get("account_id") or "123456789012")
    images: dict[str, str] = dict(s["images"])
    if not images:
        raise ValueError("images must name at least one tag")
    initial_tag = s.get("initial_tag") or next(iter(images))
    if initial_tag not in images:
        images[initial_tag] = "healthy"
    port = int(s["port"])
    now = get_clock().now()

    with LOCK:
        pushed = {tag: push_image(account, region, name, tag, scen) for tag, scen in images.items()}
        repo_uri = f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"

        ec2 = get_backend("ec2")[account][region]
        vpc = ec2.create_vpc("10.0.0.0/16", tags=[{"Key": "Name", "Value": f"{name}-vpc"}])
        vpc.enable_dns_hostnames = True
        subnets = [
            ec2.create_subnet(vpc.id, f"10.0.{i + 1}.0/24", availability_zone=f"{region}{az}")
            for i, az in enumerate("ab")
        ]
        sg = ec2.create_security_group(f"{name}-sg", f"{name} service and load balancer", vpc_id=vpc.id)
        subnet_ids = [x.id for x in subnets]

        elb = get_backend("elbv2")[account][region]
        lb = elb.create_load_balancer(f"{name}-alb", [sg.id], subnet_ids, scheme="internet-facing",
                                      loadbalancer_type="application")
        tgs = {}
        for colour in ("blue", "green"):
            tgs[colour] = elb.create_target_group(
                f"{name}-tg-{colour}", vpc_id=vpc.id, protocol="HTTP", port=str(port),
                healthcheck_protocol="HTTP", healthcheck_path="/healthz", healthcheck_interval_seconds=10,
                healthcheck_timeout_seconds=5, healthy_threshold_count="2", unhealthy_threshold_count="3",
                matcher={"HttpCode": "200"}, target_type="ip")
        listener = elb.create_listener(lb.arn, "HTTP", "80", None, None,
                                       [{"Type": "forward", "TargetGroupArn": tgs["blue"].arn}])
        test_listener = None
        if s.get("test_listener_port"):
            test_listener = elb.create_listener(lb.arn, "HTTP", str(s["test_listener_port"]), None, None,
                                                [{"Type": "forward", "TargetGroupArn": tgs["green"].arn}])

        logs = get_backend("logs")[account][region]
        log_group = f"/ecs/{name}"
        if log_group not in logs.groups:
            logs.create_log_group(log_group, {})
        logs.put_retention_policy(log_group, int(s["log_retention_days"]))

        ecs = get_backend("ecs")[account][region]
        cluster_name = f"{name}-cluster"
        ecs.create_cluster(cluster_name, cluster_settings=[
            {"name": "containerInsights", "value": str(s["container_insights"])}])
        container = {
            "name": name,
            "image": pushed[initial_tag]["image_pinned"],
            "essential": True,
            "portMappings": [{"containerPort": port, "hostPort": port, "protocol": "tcp", "name": f"{name}-http"}],
            "environment": [{"name": "NODE_ENV", "value": "production"}, {"name": "PORT", "value": str(port)}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": name}},
        }
        task_def = ecs.register_task_definition(
            name, [container], network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            cpu=str(s["cpu"]), memory=str(s["memory"]),
            execution_role_arn=f"arn:aws:iam::{account}:role/{name}-execution",
            task_role_arn=f"arn:aws:iam::{account}:role/{name}-task")
        network = {"awsvpcConfiguration": {"subnets": subnet_ids, "securityGroups": [sg.id],
                                           "assignPublicIp": "DISABLED"}}
        lbs = [{"targetGroupArn": tgs["blue"].arn, "containerName": name, "containerPort": port}]
        service = ecs.create_service(
            cluster_name, name, int(s["desired_count"]), task_definition_str=task_def.arn, load_balancers=lbs,
            deployment_controller={"type": "CODE_DEPLOY"}, launch_type="FARGATE", platform_version="LATEST",
            network_configuration=network, propagate_tags="NONE")
        service.health_check_grace_period_seconds = 0
        service.created_at = now
        task_set = ecs.create_task_set(service.arn, cluster_name, task_def.arn, network_configuration=network,
                                       load_balancers=lbs, launch_type="FARGATE", platform_version="1.4.0",
                                       scale={"value": 100.0, "unit": "PERCENT"})
        ecs.update_service_primary_task_set(cluster_name, service.arn, task_set.task_set_arn)
        task_set.status = "PRIMARY"
        # The stack has been up for a while: its tasks are running and healthy now.
        earlier = now - timedelta(minutes=5)
        for _ in range(int(s["desired_count"])):
            sim = scenarios.launch_task(ecs, service, task_set, earlier)
            if sim is not None:
                scenarios._advance(sim, ecs, service, now)
        scenarios.tick(now)

        lb_dim = lb.arn.split(":loadbalancer/", 1)[1]
        alarms = [f"{name}-5xx", f"{name}-elb-5xx"]
        cw = get_backend("cloudwatch")[account][region]
        for alarm_name, metric, what in ((alarms[0], "HTTPCode_Target_5XX_Count", "targets"),
                                         (alarms[1], "HTTPCode_ELB_5XX_Count", "the load balancer")):
            cw.put_metric_alarm(
                name=alarm_name, namespace="AWS/ApplicationELB", metric_name=metric,
                comparison_operator="GreaterThanOrEqualToThreshold",
                evaluation_periods=int(s["alarm_evaluation_periods"]), period=int(s["alarm_period"]),
                threshold=float(s["alarm_threshold"]), statistic="Sum",
                description=f"HTTP 5xx answered by {what} of {name}",
                dimensions=[{"Name": "LoadBalancer", "Value": lb_dim}], alarm_actions=[],
                datapoints_to_alarm=int(s["alarm_datapoints"]), treat_missing_data="notBreaching",
                unit=None)

        # Latency: the slowest target response of a minute (the emulator publishes
        # statistic sets, from which CloudWatch cannot compute percentiles; on AWS a
        # p99 ExtendedStatistic is the usual choice and shipwatch reads either).
        alarms.append(f"{name}-response-time")
        cw.put_metric_alarm(
            name=alarms[-1], namespace="AWS/ApplicationELB", metric_name="TargetResponseTime",
            comparison_operator="GreaterThanOrEqualToThreshold",
            evaluation_periods=int(s["alarm_evaluation_periods"]), period=int(s["alarm_period"]),
            threshold=float(s["latency_alarm_seconds"]), statistic="Maximum",
            description=f"slowest target response of {name}",
            dimensions=[{"Name": "LoadBalancer", "Value": lb_dim}], alarm_actions=[],
            datapoints_to_alarm=int(s["alarm_datapoints"]), treat_missing_data="notBreaching",
            unit=None)

        cd = get_backend("codedeploy")[account][region]
        app_name = f"AppECS-{cluster_name}-{name}"
        group_name = f"DgpECS-{cluster_name}-{name}"
        config_name = str(s["deployment_config"])
        codedeploy.routing_for(cd, config_name)  # must exist
        cd.create_application(app_name, "ECS", [])
        pair: dict[str, Any] = {"targetGroups": [{"name": tgs["blue"].name}, {"name": tgs["green"].name}],
                                "prodTrafficRoute": {"listenerArns": [listener.arn]}}
        if test_listener is not None:
            pair["testTrafficRoute"] = {"listenerArns": [test_listener.arn]}
        cd.create_deployment_group(
            app_name, group_name, config_name, None, None, None,
            f"arn:aws:iam::{account}:role/{name}-codedeploy",
            auto_rollback_configuration={"enabled": bool(s["rollback_events"]),
                                         "events": list(s["rollback_events"])},
            deployment_style={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            blue_green_deployment_configuration={
                "deploymentReadyOption": {"actionOnTimeout": s["ready_action"],
                                          "waitTimeInMinutes": int(s["ready_wait_minutes"])},
                "terminateBlueInstancesOnDeploymentSuccess": {
                    "action": "TERMINATE", "terminationWaitTimeInMinutes": int(s["termination_wait_minutes"])}},
            load_balancer_info={"targetGroupPairInfoList": [pair]},
            ecs_services=[{"serviceName": name, "clusterName": cluster_name}],
        )
        dg = cd.deployment_groups[app_name][group_name]
        dg.alarm_configuration = {"enabled": True, "ignorePollAlarmFailure": False,
                                  "alarms": [{"name": a} for a in alarms]}
        codedeploy._group_routing_defaults(dg)
        if s.get("requests_per_minute"):
            traffic.set_rate(account, region, cluster_name, name, float(s["requests_per_minute"]))
        if s.get("background_error_rate") is not None:
            traffic.set_background(account, region, cluster_name, name, float(s["background_error_rate"]))

    result: dict[str, Any] = {
        "region": region,
        "account": account,
        "cluster": cluster_name,
        "service": name,
        "container": name,
        "port": port,
        "repository": name,
        "repository_uri": repo_uri,
        "image_tags": list(images),
        "images": {tag: {"digest": p["image_digest"], "pinned": p["image_pinned"], "scenario": p["scenario"]}
                   for tag, p in pushed.items()},
        "initial_tag": initial_tag,
        "application": app_name,
        "deployment_group": group_name,
        "deployment_config": config_name,
        "alarms": alarms,
        "log_group": log_group,
        "log_stream_prefix": name,
        "task_definition_arn": task_def.arn,
        "task_definition_family": name,
        "load_balancer_arn": lb.arn,
        "listener_arn": listener.arn,
        "target_groups": {c: {"name": tg.name, "arn": tg.arn} for c, tg in tgs.items()},
        "subnets": subnet_ids,
        "security_groups": [sg.id],
        "vpc": vpc.id,
    }
    if test_listener is not None:
        result["test_listener_arn"] = test_listener.arn
    if endpoint:
        result["jaeger_url"] = endpoint
        result["endpoint"] = endpoint
    return result


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@registry.route("POST", "/_localaws/provision", endpoint=True)
def _provision_route(method: str, path: str, query: dict, body: bytes, endpoint: str):
    try:
        result = provision(_body(body), endpoint=endpoint)
    except ValueError as exc:
        return 400, {"Content-Type": "application/json"}, {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - e.g. a second stack with the same name
        return 409, {"Content-Type": "application/json"}, {"error": f"{type(exc).__name__}: {exc}"}
    return 200, {"Content-Type": "application/json"}, result


@registry.route("POST", "/_localaws/image")
def _image_route(method: str, path: str, query: dict, body: bytes):
    try:
        data = _body(body)
        repo = str(data.get("repository") or "")
        tag = str(data.get("tag") or "")
        if not repo or not tag:
            raise ValueError("repository and tag are required")
        account = str(data.get("account") or settings.get("account_id") or "123456789012")
        region = str(data.get("region") or settings.get("region") or "us-east-1")
        result = push_image(account, region, repo, tag, data.get("scenario") or "healthy", data.get("params"))
    except ValueError as exc:
        return 400, {"Content-Type": "application/json"}, {"error": str(exc)}
    return 200, {"Content-Type": "application/json"}, result
