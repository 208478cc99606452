"""CodeDeploy blue/green on ECS: lifecycle, traffic shifting, alarm stop and rollback,
Stop/ContinueDeployment, targets, limits and AppSpec validation, through boto3."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import wait_for
from helpers_deploy import (appspec, create_deployment, deploy_tag, events_by_name, provision_stack,
                            register_release, set_config, target, wait_deployment, weights)

EVENT_ORDER = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
               "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]


@pytest.fixture
def clients(aws_client):
    return {s: aws_client(s) for s in ("codedeploy", "ecs", "ecr", "elbv2", "cloudwatch", "logs")}


def test_healthy_linear_deployment_shifts_in_ten_steps_and_succeeds(aws_endpoint, clients):
    cd, ecs, ecr, elb = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["elbv2"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"}, termination_wait_minutes=1)
    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    blue_id = svc["taskSets"][0]["id"]
    dep_id, new_td = deploy_tag(cd, ecs, ecr, stack, "v2")
    assert dep_id.startswith("d-") and len(dep_id) == 11

    seen: list[float] = []
    statuses: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
        statuses.add(info["status"])
        if info["status"] in ("Succeeded", "Failed", "Stopped"):
            break
        if info["status"] != "Created":
            w = weights(target(cd, stack, dep_id)).get("Green")
            if w is not None and (not seen or seen[-1] != w):
                seen.append(w)
        time.sleep(0.1)
    assert info["status"] == "Succeeded", info
    assert "InProgress" in statuses
    # 0 before AllowTraffic, then ten linear steps of 10 %, never going back.
    steps = [w for w in seen if w > 0]
    assert steps == [10.0 * i for i in range(1, 11)], seen
    assert seen == sorted(seen)

    tgt = target(cd, stack, dep_id)
    assert [e["lifecycleEventName"] for e in tgt["lifecycleEvents"]] == EVENT_ORDER
    assert all(e["status"] == "Succeeded" for e in tgt["lifecycleEvents"])
    starts = [e["startTime"] for e in tgt["lifecycleEvents"]]
    assert starts == sorted(starts)
    allow = events_by_name(tgt)["AllowTraffic"]
    # Ten steps one emulated minute apart: at least nine emulated minutes of shifting.
    assert allow["endTime"] - allow["startTime"] >= timedelta(minutes=9)
    assert tgt["status"] == "Succeeded" and tgt["targetId"] == f"{stack['cluster']}:{stack['service']}"
    assert info["deploymentOverview"]["Succeeded"] == 1
    assert info["instanceTerminationWaitTimeStarted"] is True
    assert info["completeTime"] - allow["endTime"] >= timedelta(minutes=1)  # the termination wait

    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    assert svc["taskDefinition"] == new_td
    green = [ts for ts in svc["taskSets"] if ts["externalId"] == dep_id]
    assert len(green) == 1 and green[0]["status"] == "PRIMARY"
    assert blue_id not in [ts["id"] for ts in svc["taskSets"]]  # drained and deleted
    group = cd.get_deployment_group(applicationName=stack["application"],
                                    deploymentGroupName=stack["deployment_group"])["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == dep_id
    assert group["lastAttemptedDeployment"]["status"] == "Succeeded"
    listener = elb.describe_listeners(ListenerArns=[stack["listener_arn"]])["Listeners"][0]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == stack["target_groups"]["green"]["arn"]


def test_green_task_set_and_tasks_look_like_codedeploys(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"},
                            deployment_config="CodeDeployDefault.ECSCanary10Percent15Minutes")
    dep_id, new_td = deploy_tag(cd, ecs, ecr, stack, "v2")

    def canary():
        w = weights(target(cd, stack, dep_id))
        return w if w.get("Green") == 10.0 else None

    wait_for(canary, 30, "the 10 % canary")
    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    green = next(ts for ts in svc["taskSets"] if ts.get("externalId") == dep_id)
    assert green["startedBy"] == "CODE_DEPLOY" and green["status"] == "ACTIVE"
    assert green["id"].startswith("ecs-svc/") and green["id"][8:].isdigit()
    assert green["taskDefinition"] == new_td and green["runningCount"] == 2
    assert green["loadBalancers"][0]["targetGroupArn"] == stack["target_groups"]["green"]["arn"]
    tasks = ecs.describe_tasks(cluster=stack["cluster"], tasks=ecs.list_tasks(
        cluster=stack["cluster"], startedBy=green["id"])["taskArns"])["tasks"]
    assert len(tasks) == 2 and all(t["startedBy"] == green["id"] for t in tasks)
    assert all(t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == new_td for t in tasks)
    info = target(cd, stack, dep_id)
    labels = {t["taskSetLabel"]: t for t in info["taskSetsInfo"]}
    assert labels["Green"]["identifer"] == green["id"] and labels["Green"]["targetGroup"]["name"] == "web-tg-green"
    assert labels["Blue"]["status"] == "PRIMARY" and labels["Blue"]["trafficWeight"] == 90.0
    assert cd.list_deployment_targets(deploymentId=dep_id)["targetIds"] == [f"{stack['cluster']}:web"]
    batch = cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=[f"{stack['cluster']}:web"])
    assert batch["deploymentTargets"][0]["deploymentTargetType"] == "ECSTarget"
    with pytest.raises(ClientError) as err:
        cd.get_deployment_target(deploymentId=dep_id, targetId="other:svc")
    assert err.value.response["Error"]["Code"] == "DeploymentTargetDoesNotExistException"
    # A second deployment while this one runs is refused.
    with pytest.raises(ClientError) as err:
        create_deployment(cd, stack, new_td)
    assert err.value.response["Error"]["Code"] == "DeploymentLimitExceededException"
    assert dep_id in err.value.response["Error"]["Message"]


def test_http_5xx_release_is_stopped_by_the_alarm_and_rolled_back(aws_endpoint, clients):
    cd, ecs, ecr, elb, cw = (clients[k] for k in ("codedeploy", "ecs", "ecr", "elbv2", "cloudwatch"))
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "http-5xx"})
    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    blue_id = svc["taskSets"][0]["id"]
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Stopped", info
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert info["errorInformation"]["message"].startswith(
        "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the "
        "affected deployments have been stopped. Activated alarms: ")
    assert "web-5xx" in info["errorInformation"]["message"]
    alarm = cw.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"][0]
    history = cw.describe_alarm_history(AlarmName="web-5xx", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any("to ALARM" in h["HistorySummary"] for h in history), (alarm, history)
    events = events_by_name(target(cd, stack, dep_id))
    assert events["AllowTraffic"]["status"] == "Failed"
    assert events["AfterAllowTraffic"]["status"] == "Skipped"
    assert events["Install"]["status"] == "Succeeded"

    rb_id = info["rollbackInfo"]["rollbackDeploymentId"]
    assert rb_id != dep_id
    assert info["rollbackInfo"]["rollbackMessage"] == (
        f"Deployment {dep_id} terminated. Automatic rollback is triggered with a DeploymentId {rb_id}.")
    rb = wait_deployment(cd, rb_id, timeout=30)
    assert rb["status"] == "Succeeded" and rb["creator"] == "codeDeployRollback"
    assert rb["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert rb["rollbackInfo"]["rollbackTriggeringDeploymentId"] == dep_id
    assert rb["rollbackInfo"]["rollbackMessage"] == f"Deployment {rb_id} is triggered to roll back deployment {dep_id}."
    w = weights(target(cd, stack, rb_id))
    assert w == {"Blue": 100.0, "Green": 0.0}
    svc = ecs.describe_services(cluster=stack["cluster"], services=[stack["service"]])["services"][0]
    by_id = {ts["id"]: ts for ts in svc["taskSets"]}
    assert by_id[blue_id]["status"] == "PRIMARY"
    green = next(ts for ts in svc["taskSets"] if ts.get("externalId") == dep_id)
    assert green["status"] == "DRAINING" and green["scale"]["value"] == 0.0
    assert svc["taskDefinition"] == stack["task_definition_arn"]
    listener = elb.describe_listeners(ListenerArns=[stack["listener_arn"]])["Listeners"][0]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == stack["target_groups"]["blue"]["arn"]
    # Both appear in the group's listing, newest first.
    listed = cd.list_deployments(applicationName=stack["application"],
                                 deploymentGroupName=stack["deployment_group"])["deployments"]
    assert listed[:2] == [rb_id, dep_id]


def test_stop_deployment_with_and_without_rollback(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy", "v3": "healthy"})

    def shifting(dep):
        return lambda: weights(target(cd, stack, dep)).get("Green", 0) >= 20.0

    dep1, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    wait_for(shifting(dep1), 30, "traffic shifting to green")
    out = cd.stop_deployment(deploymentId=dep1, autoRollbackEnabled=True)
    assert out["status"] in ("Pending", "Succeeded") and out["statusMessage"]
    info = cd.get_deployment(deploymentId=dep1)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    rb = wait_deployment(cd, info["rollbackInfo"]["rollbackDeploymentId"], timeout=30)
    assert rb["status"] == "Succeeded"
    assert weights(target(cd, stack, rb["deploymentId"]))["Blue"] == 100.0
    with pytest.raises(ClientError) as err:
        cd.stop_deployment(deploymentId=dep1)
    assert err.value.response["Error"]["Code"] == "DeploymentAlreadyCompletedException"

    dep2, _ = deploy_tag(cd, ecs, ecr, stack, "v3")
    wait_for(shifting(dep2), 30, "traffic shifting to green")
    out = cd.stop_deployment(deploymentId=dep2, autoRollbackEnabled=False)
    assert out["status"] == "Succeeded"
    info = cd.get_deployment(deploymentId=dep2)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    assert "rollbackInfo" not in info or not info["rollbackInfo"].get("rollbackDeploymentId")
    # Without a rollback, traffic stays where the stop left it.
    time.sleep(2)
    assert weights(target(cd, stack, dep2))["Green"] >= 20.0
    stopped = cd.list_deployments(applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
                                  includeOnlyStatuses=["Stopped"])["deployments"]
    assert set(stopped) == {dep1, dep2}


def test_ready_wait_and_termination_wait_with_continue(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"}, ready_wait_minutes=30,
                            ready_action="STOP_DEPLOYMENT", termination_wait_minutes=30,
                            deployment_config="CodeDeployDefault.ECSAllAtOnce")
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, statuses=("Ready",), timeout=30)
    assert info["deploymentOverview"]["Ready"] == 1
    assert weights(target(cd, stack, dep_id))["Green"] == 0.0
    with pytest.raises(ClientError) as err:
        cd.continue_deployment(deploymentId=dep_id, deploymentWaitType="TERMINATION_WAIT")
    assert err.value.response["Error"]["Code"] == "DeploymentIsNotInReadyStateException"
    cd.continue_deployment(deploymentId=dep_id, deploymentWaitType="READY_WAIT")

    def in_termination_wait():
        i = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
        return i if i.get("instanceTerminationWaitTimeStarted") else None

    info = wait_for(in_termination_wait, 30, "the termination wait")
    assert info["status"] == "InProgress"
    tgt = target(cd, stack, dep_id)
    assert weights(tgt) == {"Blue": 0.0, "Green": 100.0}
    assert all(e["status"] == "Succeeded" for e in tgt["lifecycleEvents"])
    time.sleep(2)  # two emulated minutes of a 30-minute wait: still waiting
    assert cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]["status"] == "InProgress"
    cd.continue_deployment(deploymentId=dep_id, deploymentWaitType="TERMINATION_WAIT")
    assert wait_deployment(cd, dep_id, timeout=30)["status"] == "Succeeded"


def test_custom_deployment_config_and_list_filters(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"}, termination_wait_minutes=0)
    cd.create_deployment_config(deploymentConfigName="Canary20Every2Min", computePlatform="ECS",
                                trafficRoutingConfig={"type": "TimeBasedCanary",
                                                      "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 2}})
    got = cd.get_deployment_config(deploymentConfigName="Canary20Every2Min")["deploymentConfigInfo"]
    assert got["trafficRoutingConfig"]["timeBasedCanary"]["canaryPercentage"] == 20
    assert "CodeDeployDefault.ECSLinear10PercentEvery3Minutes" in cd.list_deployment_configs()["deploymentConfigsList"]
    with pytest.raises(ClientError) as err:
        cd.create_deployment_config(deploymentConfigName="CodeDeployDefault.Mine", computePlatform="ECS",
                                    trafficRoutingConfig={"type": "AllAtOnce"})
    assert err.value.response["Error"]["Code"] == "InvalidDeploymentConfigNameException"

    before = datetime.now(timezone.utc) - timedelta(days=1)
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2", config="Canary20Every2Min")
    seen = []

    def finished():
        info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
        if info["status"] == "InProgress":
            g = weights(target(cd, stack, dep_id)).get("Green")
            if g is not None and (not seen or seen[-1] != g):
                seen.append(g)
        return info if info["status"] in ("Succeeded", "Failed", "Stopped") else None

    info = wait_for(finished, 40, "the canary deployment", interval=0.1)
    assert info["status"] == "Succeeded" and info["deploymentConfigName"] == "Canary20Every2Min"
    assert [w for w in seen if w > 0] == [20.0, 100.0]
    allow = events_by_name(target(cd, stack, dep_id))["AllowTraffic"]
    assert allow["endTime"] - allow["startTime"] >= timedelta(minutes=2)

    in_range = cd.list_deployments(applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
                                   createTimeRange={"start": before})["deployments"]
    assert in_range == [dep_id]
    future = cd.list_deployments(createTimeRange={"start": datetime.now(timezone.utc) + timedelta(days=30)})
    assert future["deployments"] == []
    assert cd.list_deployments(includeOnlyStatuses=["InProgress", "Failed"])["deployments"] == []
    with pytest.raises(ClientError) as err:
        deploy_tag(cd, ecs, ecr, stack, "v2", config="NoSuchConfig")
    assert err.value.response["Error"]["Code"] == "DeploymentConfigDoesNotExistException"


def test_appspec_is_validated_against_the_task_definition(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"})
    td = register_release(ecs, ecr, stack, "v2")

    def attempt(content: str) -> str:
        with pytest.raises(ClientError) as err:
            cd.create_deployment(applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
                                 revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}})
        return err.value.response["Error"]["Code"] + ": " + err.value.response["Error"]["Message"]

    assert attempt(appspec(td, container="api")).startswith("InvalidRevisionException")
    assert "container name api" in attempt(appspec(td, container="api"))
    assert "port 9090" in attempt(appspec(td, port=9090))
    missing = td.rsplit(":", 1)[0] + ":99"
    assert "does not exist" in attempt(appspec(missing))
    assert attempt("version: 0.0\nResources: [").startswith("InvalidRevisionException")
    assert cd.list_deployments()["deployments"] == []
    # YAML with the AWS CLI's lower-case keys is accepted; the content is kept for GetApplicationRevision.
    yaml_spec = (f"version: 0.0\nresources:\n  - target:\n      type: AWS::ECS::Service\n      properties:\n"
                 f"        taskDefinition: \"{td}\"\n        loadBalancerInfo:\n          containerName: web\n"
                 f"          containerPort: 8080\n")
    dep = cd.create_deployment(applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
                               revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": yaml_spec}})
    info = cd.get_deployment(deploymentId=dep["deploymentId"])["deploymentInfo"]
    sha = info["revision"]["appSpecContent"]["sha256"]
    assert "content" not in info["revision"]["appSpecContent"]
    rev = cd.get_application_revision(applicationName=stack["application"], revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"sha256": sha}})
    assert rev["revision"]["appSpecContent"]["content"] == yaml_spec
    assert rev["revisionInfo"]["deploymentGroups"] == [stack["deployment_group"]]


def test_hook_failure_fails_the_deployment_and_rolls_back(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "hook-fail"})
    td = register_release(ecs, ecr, stack, "v2")
    dep_id = cd.create_deployment(
        applicationName=stack["application"], deploymentGroupName=stack["deployment_group"],
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(
            td, hooks=[{"AfterAllowTestTraffic": "web-smoke-test"}])}})["deploymentId"]
    info = wait_deployment(cd, dep_id, timeout=30)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert "web-smoke-test" in info["errorInformation"]["message"]
    events = events_by_name(target(cd, stack, dep_id))
    failed = events["AfterAllowTestTraffic"]
    assert failed["status"] == "Failed"
    assert failed["diagnostics"]["scriptName"] == "web-smoke-test"
    assert failed["diagnostics"]["errorCode"] == "ScriptFailed"
    assert "500" in failed["diagnostics"]["logTail"]
    assert all(events[e]["status"] == "Skipped" for e in EVENT_ORDER[5:])
    assert all(events[e]["status"] == "Succeeded" for e in EVENT_ORDER[:4])
    rb = wait_deployment(cd, info["rollbackInfo"]["rollbackDeploymentId"], timeout=30)
    assert rb["status"] == "Succeeded"
    assert info["rollbackInfo"]["rollbackMessage"].startswith(f"Deployment {dep_id} failed.")


def test_alarm_already_in_alarm_fails_install(aws_endpoint, clients):
    cd, ecs, ecr, cw = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["cloudwatch"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy"})
    set_config(aws_endpoint, alarm_manual_hold_seconds=600)
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="forced by test")
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=30)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert info["errorInformation"]["message"].endswith("Activated alarms: web-5xx")
    events = events_by_name(target(cd, stack, dep_id))
    assert events["BeforeInstall"]["status"] == "Succeeded"
    assert events["Install"]["status"] == "Failed"
    assert all(events[e]["status"] == "Skipped" for e in EVENT_ORDER[2:])
