"""The provisioned sample stack: its resources seen through boto3, its baseline traffic,
and the AWS CLI v1 (`aws ecs deploy`, `aws deploy wait deployment-successful`) running
against it unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import control, wait_for
from helpers_deploy import json_lines, log_lines, pinned_image, provision_stack, task_set_tasks

KEYS = {"region", "account", "cluster", "service", "container", "port", "repository", "repository_uri", "image_tags",
        "application", "deployment_group", "deployment_config", "alarms", "log_group", "log_stream_prefix",
        "task_definition_arn", "task_definition_family", "load_balancer_arn", "listener_arn", "target_groups",
        "subnets", "security_groups", "jaeger_url"}


def test_provision_creates_the_whole_stack(aws_endpoint, aws_client):
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "http-5xx"}, desired_count=3)
    assert KEYS <= set(stack), KEYS - set(stack)
    assert stack["jaeger_url"] == aws_endpoint
    ecr, ecs, elb, cd, cw, logs, ec2 = (aws_client(s) for s in ("ecr", "ecs", "elbv2", "codedeploy", "cloudwatch",
                                                               "logs", "ec2"))
    images = ecr.describe_images(repositoryName=stack["repository"])["imageDetails"]
    assert sorted(t for i in images for t in i["imageTags"]) == ["v1", "v2"]
    assert len({i["imageDigest"] for i in images}) == 2
    td = ecs.describe_task_definition(taskDefinition=stack["task_definition_arn"])["taskDefinition"]
    c = td["containerDefinitions"][0]
    assert c["image"] == pinned_image(ecr, stack, "v1")
    assert c["name"] == stack["container"] and c["portMappings"][0]["containerPort"] == 8080
    assert c["logConfiguration"]["options"]["awslogs-group"] == "/ecs/web"
    assert c["logConfiguration"]["options"]["awslogs-stream-prefix"] == "web"
    assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]
    svc = ecs.describe_services(cluster=stack["cluster"], services=["web"])["services"][0]
    assert svc["deploymentController"]["type"] == "CODE_DEPLOY" and svc["desiredCount"] == 3
    assert svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == stack["subnets"]
    (ts,) = svc["taskSets"]
    assert ts["status"] == "PRIMARY" and ts["runningCount"] == 3
    tasks = task_set_tasks(ecs, stack, ts["id"])
    assert len(tasks) == 3 and all(t["startedBy"] == ts["id"] and t["group"] == "service:web" for t in tasks)
    assert all(t["lastStatus"] == "RUNNING" and t["launchType"] == "FARGATE" for t in tasks)
    lb = elb.describe_load_balancers(LoadBalancerArns=[stack["load_balancer_arn"]])["LoadBalancers"][0]
    assert lb["Type"] == "application"
    tgs = elb.describe_target_groups(LoadBalancerArn=stack["load_balancer_arn"])["TargetGroups"]
    assert stack["target_groups"]["blue"]["arn"] in [t["TargetGroupArn"] for t in tgs]
    assert ec2.describe_subnets(SubnetIds=stack["subnets"])["Subnets"]
    group = cd.get_deployment_group(applicationName=stack["application"],
                                    deploymentGroupName=stack["deployment_group"])["deploymentGroupInfo"]
    assert group["computePlatform"] == "ECS"
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["ecsServices"] == [{"serviceName": "web", "clusterName": stack["cluster"]}]
    assert group["alarmConfiguration"]["enabled"] and \
        [a["name"] for a in group["alarmConfiguration"]["alarms"]] == stack["alarms"]
    assert set(group["autoRollbackConfiguration"]["events"]) == {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}
    pair = group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
    assert [t["name"] for t in pair["targetGroups"]] == ["web-tg-blue", "web-tg-green"]
    assert pair["prodTrafficRoute"]["listenerArns"] == [stack["listener_arn"]]
    alarms = cw.describe_alarms(AlarmNames=stack["alarms"])["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count",
                                                 "TargetResponseTime"}
    latency = next(a for a in alarms if a["MetricName"] == "TargetResponseTime")
    assert latency["Statistic"] == "Maximum" and latency["Threshold"] == 6.0
    assert all(a["Dimensions"] == [{"Name": "LoadBalancer", "Value": stack["load_balancer_arn"].split(
        ":loadbalancer/")[1]}] for a in alarms)
    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/web")["logGroups"]
    assert groups[0]["retentionInDays"] == 14
    # Each running task writes to prefix/container/task-id.
    streams = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/ecs/web")["logStreams"]}
    assert {f"web/web/{t['taskArn'].rsplit('/', 1)[1]}" for t in tasks} <= streams

    status, again = control(aws_endpoint, "POST", "/_localaws/provision", {"name": "web"})
    assert status == 409, again
    other = provision_stack(aws_endpoint, name="shop", requests_per_minute=30)
    assert other["cluster"] == "shop-cluster" and other["application"] == "AppECS-shop-cluster-shop"


def test_blue_serves_baseline_traffic_with_metrics(aws_endpoint, aws_client):
    stack = provision_stack(aws_endpoint, requests_per_minute=120)
    cw, logs = aws_client("cloudwatch"), aws_client("logs")
    lb_dim = stack["load_balancer_arn"].split(":loadbalancer/")[1]
    tg_dim = stack["target_groups"]["blue"]["arn"].split(":", 5)[5]
    assert tg_dim.startswith("targetgroup/web-tg-blue/")

    def requests():
        now = control(aws_endpoint, "GET", "/_localaws/health")[1]["now"]
        from datetime import datetime

        end = datetime.fromisoformat(now)
        out = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName="RequestCount",
                                       Dimensions=[{"Name": "LoadBalancer", "Value": lb_dim},
                                                   {"Name": "TargetGroup", "Value": tg_dim}],
                                       StartTime=end - timedelta(minutes=10), EndTime=end, Period=60,
                                       Statistics=["Sum"])["Datapoints"]
        return sorted(out, key=lambda p: p["Timestamp"]) if len(out) >= 3 else None

    points = wait_for(requests, 15, "three minutes of RequestCount for the blue target group")
    # The first minute is partial (traffic starts with the stack); full minutes carry ~120.
    assert all(110 <= p["Sum"] <= 130 for p in points[1:]), points
    lines = json_lines(log_lines(logs, stack))
    done = [l for _, l in lines if l.get("msg") == "request completed"]
    assert len(done) >= 100
    assert all(l["level"] == 30 and l["res"]["statusCode"] in (200, 201) for l in done)
    assert not [l for _, l in lines if l.get("level", 0) >= 50]


@pytest.fixture
def ecs_deploy_cli(aws_endpoint, tmp_path):
    """`aws ecs deploy` builds its CodeDeploy client without --endpoint-url, so the endpoint
    comes from the standard AWS_ENDPOINT_URL variable (applies to every service)."""
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
    }

    def run(*args: str):
        cmd = [str(Path(sys.executable).parent / "aws"), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture
def cli_stack(aws_endpoint, tmp_path, aws_client):
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy", "v3": "http-5xx"},
                            deployment_config="CodeDeployDefault.ECSAllAtOnce", termination_wait_minutes=3)
    # AllAtOnce moves all traffic at once; the alarms are watched through the termination
    # wait (the "bake time"), which is what catches a bad release here.
    ecr = aws_client("ecr")

    def files(tag: str):
        task_def = {
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "web", "image": pinned_image(ecr, stack, tag), "essential": True,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
            }],
        }
        td_file = tmp_path / f"taskdef-{tag}.json"
        td_file.write_text(json.dumps(task_def))
        spec_file = tmp_path / "appspec.yaml"
        spec_file.write_text("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n"
                             "      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n"
                             "        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 8080\n")
        return str(td_file), str(spec_file)

    return stack, files


def test_aws_ecs_deploy_succeeds_for_a_healthy_release(cli_stack, ecs_deploy_cli, aws_client):
    stack, files = cli_stack
    td_file, spec_file = files("v2")
    proc = ecs_deploy_cli("ecs", "deploy", "--cluster", stack["cluster"], "--service", "web", "--task-definition",
                          td_file, "--codedeploy-appspec", spec_file)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("Successfully registered new ECS task definition arn:aws:ecs:us-east-1:")
    assert out[1].startswith("Successfully created deployment d-")
    assert out[-1].startswith("Successfully deployed arn:aws:ecs:") and out[-1].endswith("to service 'web'")
    dep_id = out[1].rsplit(" ", 1)[1]
    info = aws_client("codedeploy").get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Succeeded"


def test_aws_ecs_deploy_fails_for_a_bad_release(cli_stack, ecs_deploy_cli, aws_client):
    stack, files = cli_stack
    td_file, spec_file = files("v3")
    proc = ecs_deploy_cli("ecs", "deploy", "--cluster", stack["cluster"], "--service", "web", "--task-definition",
                          td_file, "--codedeploy-appspec", spec_file)
    assert proc.returncode == 255, (proc.stdout, proc.stderr)
    assert "Waiter DeploymentSuccessful failed" in proc.stderr
    dep_id = proc.stdout.splitlines()[1].rsplit(" ", 1)[1]
    info = aws_client("codedeploy").get_deployment(deploymentId=dep_id)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"


def test_aws_deploy_wait_deployment_successful(cli_stack, aws_cli, tmp_path):
    stack, files = cli_stack
    td_file, _ = files("v2")
    td = aws_cli("ecs", "register-task-definition", "--cli-input-json", f"file://{td_file}")
    arn = td["taskDefinition"]["taskDefinitionArn"]
    content = json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
        "TaskDefinition": arn, "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]})
    revision = tmp_path / "revision.json"
    revision.write_text(json.dumps({"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}))
    dep = aws_cli("deploy", "create-deployment", "--application-name", stack["application"],
                  "--deployment-group-name", stack["deployment_group"], "--revision", f"file://{revision}")
    proc = aws_cli("deploy", "wait", "deployment-successful", "--deployment-id", dep["deploymentId"], check=False)
    assert proc.returncode == 0, proc.stderr
    got = aws_cli("deploy", "get-deployment", "--deployment-id", dep["deploymentId"])
    assert got["deploymentInfo"]["status"] == "Succeeded"
    target = aws_cli("deploy", "get-deployment-target", "--deployment-id", dep["deploymentId"],
                     "--target-id", f"{stack['cluster']}:web")
    sets = {t["taskSetLabel"]: t for t in target["deploymentTarget"]["ecsTarget"]["taskSetsInfo"]}
    assert sets["Green"]["trafficWeight"] == 100.0 and sets["Blue"]["trafficWeight"] == 0.0
