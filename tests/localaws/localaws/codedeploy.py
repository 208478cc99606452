"""CodeDeploy blue/green deployments of ECS services, on top of moto's CodeDeploy.

moto stores applications, deployment groups and deployments but leaves every
deployment `Created`. This module adds what AWS does for the ECS compute platform:

- CreateDeployment validates the AppSpec (JSON or YAML, keys in any case like the AWS
  CLI writes them) against ECS, refuses a second active deployment in a group
  (DeploymentLimitExceededException) and gives the deployment an AWS-style id.
- `tick()`, a step of the engine's loop (engine.py), moves each deployment through
  the ECS lifecycle events in AWS order — BeforeInstall, Install (green task set: startedBy
  CODE_DEPLOY, externalId = deployment id), AfterInstall, AllowTestTraffic,
  AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic (listener weights shifted
  per the deployment config: AllAtOnce, linear, canary, predefined or custom),
  AfterAllowTraffic — honours the ready wait and the termination wait, polls the
  group's alarms at start and every `alarm_poll_seconds`, stops on ALARM, fails on a
  failed hook or an install that never becomes healthy, and starts the rollback
  deployment (creator codeDeployRollback, CodeDeployDefault.ECSAllAtOnce) that moves
  the traffic back to the original task set.
- Missing operations: StopDeployment, ContinueDeployment, ListDeploymentTargets,
  BatchGetDeploymentTargets, GetDeploymentTarget, Create/Get/List/DeleteDeploymentConfig,
  GetApplicationRevision, BatchGetDeploymentGroups; GetDeploymentGroup gains
  alarmConfiguration and last successful/attempted deployment; ListDeployments filters
  and sorts newest first.

All times come from the emulated clock. The same loop also drives the simulated ECS
tasks (scenarios.tick) and the traffic (traffic.tick). Nothing here takes the engine's
lock: the engine holds it around `tick()` and wraps RESPONSE_METHODS with it.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml
from moto.backends import get_backend
from moto.codedeploy import models as cd_models
from moto.codedeploy import responses as cd_responses
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.elbv2.models import FakeAction

from . import scenarios, traffic
from .clock import get_clock
from .scenarios import setting
from .timeline import TIMELINE

scenarios.register_defaults({
    # CodeDeploy gives up on a replacement task set that never becomes healthy (AWS: 60 min).
    "ecs_install_timeout_minutes": 60,
    # Emulated seconds a lifecycle event without a hook takes, and a hook function's run time.
    "lifecycle_event_seconds": 2,
    "hook_seconds": 5,
    # A drained replacement task set is deleted this long after a rollback.
    "drained_task_set_retention_minutes": 5,
})

EVENTS = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
HOOKABLE = {"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"}
ACTIVE = ("Created", "Queued", "InProgress", "Ready", "Baking")
TERMINAL = ("Succeeded", "Failed", "Stopped")

PREDEFINED_CONFIGS: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.ECSAllAtOnce": {"type": "AllAtOnce"},
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": {
        "type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}},
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": {
        "type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 3}},
    "CodeDeployDefault.ECSCanary10Percent5Minutes": {
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}},
    "CodeDeployDefault.ECSCanary10Percent15Minutes": {
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15}},
}
SERVER_CONFIGS = {
    "CodeDeployDefault.OneAtATime": {"type": "HOST_COUNT", "value": 1},
    "CodeDeployDefault.HalfAtATime": {"type": "FLEET_PERCENT", "value": 50},
    "CodeDeployDefault.AllAtOnce": {"type": "HOST_COUNT", "value": 0},
}

# Messages: errorInformation/rollbackInfo texts follow captured AWS output where one
# exists (alarm stop, rollback links); the others are worded like AWS's and marked.
MSG_ALARM = ("One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, "
             "and the affected deployments have been stopped. Activated alarms: {alarms}")
MSG_ROLLBACK_TRIGGERED = "Deployment {orig} {verb}. Automatic rollback is triggered with a DeploymentId {rb}."
MSG_ROLLBACK_OF = "Deployment {rb} is triggered to roll back deployment {orig}."
# Not captured from AWS (wording of our own, in AWS's style):
MSG_MANUAL_STOP = "The deployment was stopped by a user request."
MSG_INSTALL_TIMEOUT = ("The deployment timed out while waiting for the replacement task set to become healthy. "
                       "This time out period is {minutes} minutes.")
MSG_HOOK = ("The deployment failed because the {event} lifecycle event hook {function} reported a failure: "
            "{reason}")
MSG_READY_TIMEOUT = ("The deployment was stopped because traffic rerouting was not started before the end of the "
                     "wait period of {minutes} minutes.")


class CodeDeployError(JsonRESTError):
    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def _now() -> datetime:
    return get_clock().now()


def _new_deployment_id() -> str:
    return "d-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))


# ---------------------------------------------------------------------------
# AppSpec


def _ci(d: Any, key: str, default: Any = None) -> Any:
    """Case-insensitive dict lookup (the AWS CLI keeps the user's key spelling)."""
    if not isinstance(d, dict):
        return default
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == key.lower():
            return v
    return default


@dataclass
class AppSpec:
    task_definition: str
    container_name: str
    container_port: int
    platform_version: str | None
    network: dict[str, Any] | None
    capacity_provider_strategy: list[dict[str, Any]] | None
    hooks: dict[str, str]
    content: str


def parse_appspec(revision: dict[str, Any]) -> AppSpec:
    rtype = (revision or {}).get("revisionType")
    if rtype == "AppSpecContent":
        content = ((revision.get("appSpecContent") or {}).get("content")) or ""
    elif rtype == "String":
        content = ((revision.get("string") or {}).get("content")) or ""
    else:
        raise CodeDeployError("InvalidRevisionException",
                              f"The revision type {rtype} is not supported for the ECS compute platform; "
                              "use AppSpecContent.")
    try:
        doc = yaml.safe_load(content)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise CodeDeployError("InvalidRevisionException", f"The AppSpec file cannot be parsed: {exc}") from None
    if not isinstance(doc, dict):
        raise CodeDeployError("InvalidRevisionException", "The AppSpec file cannot be parsed: not a mapping.")
    resources = _ci(doc, "Resources")
    if not isinstance(resources, list) or not resources:
        raise CodeDeployError("InvalidRevisionException",
                              "The AppSpec file must specify exactly one AWS::ECS::Service resource.")
    target = None
    for res in resources:
        if isinstance(res, dict):
            for _, body in res.items():
                if isinstance(body, dict) and str(_ci(body, "Type", "")).upper() == "AWS::ECS::SERVICE":
                    target = body
    if target is None:
        raise CodeDeployError("InvalidRevisionException",
                              "The AppSpec file must specify exactly one AWS::ECS::Service resource.")
    props = _ci(target, "Properties") or {}
    td = _ci(props, "TaskDefinition")
    if not td:
        raise CodeDeployError("InvalidRevisionException",
                              "The AppSpec file is missing the required property TaskDefinition.")
    lbi = _ci(props, "LoadBalancerInfo") or {}
    cname = _ci(lbi, "ContainerName")
    cport = _ci(lbi, "ContainerPort")
    if not cname or cport is None:
        raise CodeDeployError("InvalidRevisionException",
                              "The AppSpec file is missing LoadBalancerInfo ContainerName or ContainerPort.")
    try:
        cport = int(cport)
    except (TypeError, ValueError):
        raise CodeDeployError("InvalidRevisionException",
                              f"The container port {cport!r} in the AppSpec file is not a number.") from None
    network = None
    nc = _ci(props, "NetworkConfiguration")
    if nc:
        aws = _ci(nc, "AwsvpcConfiguration") or {}
        network = {"awsvpcConfiguration": {
            "subnets": list(_ci(aws, "Subnets") or []),
            "securityGroups": list(_ci(aws, "SecurityGroups") or []),
            "assignPublicIp": _ci(aws, "AssignPublicIp") or "DISABLED"}}
    cps = _ci(props, "CapacityProviderStrategy")
    hooks: dict[str, str] = {}
    raw_hooks = _ci(doc, "Hooks") or []
    if isinstance(raw_hooks, dict):
        raw_hooks = [raw_hooks]
    for item in raw_hooks:
        if isinstance(item, dict):
            for k, v in item.items():
                name = next((e for e in HOOKABLE if e.lower() == str(k).lower()), None)
                if name is None:
                    raise CodeDeployError("InvalidRevisionException",
                                          f"The lifecycle event {k} in the AppSpec file is not valid for the "
                                          "ECS compute platform.")
                hooks[name] = str(v)
    return AppSpec(str(td), str(cname), cport, _ci(props, "PlatformVersion"), network,
                   [{k[0].lower() + k[1:]: v for k, v in c.items()} for c in cps] if cps else None,
                   hooks, content)


def _validate_against_ecs(spec: AppSpec, account: str, region: str) -> Any:
    ecs = get_backend("ecs")[account][region]
    try:
        task_def = ecs.describe_task_definition(spec.task_definition)
    except Exception:  # noqa: BLE001 - moto raises its own not-found error
        raise CodeDeployError("InvalidRevisionException",
                              f"The task definition {spec.task_definition} in the AppSpec file does not exist."
                              ) from None
    containers = {c.get("name"): c for c in task_def.container_definitions}
    if spec.container_name not in containers:
        raise CodeDeployError("InvalidRevisionException",
                              f"The container name {spec.container_name} in the AppSpec file does not match any "
                              f"container in the task definition {task_def.arn}.")
    ports = [int(p.get("containerPort", -1)) for p in containers[spec.container_name].get("portMappings") or []]
    if spec.container_port not in ports:
        raise CodeDeployError("InvalidRevisionException",
                              f"The container port {spec.container_port} in the AppSpec file is not a port "
                              f"mapping of container {spec.container_name} in the task definition "
                              f"{task_def.arn}.")
    return task_def


# ---------------------------------------------------------------------------
# Deployment configs


def _configs(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "_ld_configs"):
        backend._ld_configs = {}
    return backend._ld_configs


def routing_for(backend: Any, name: str) -> dict[str, Any]:
    if name in PREDEFINED_CONFIGS:
        return PREDEFINED_CONFIGS[name]
    custom = _configs(backend).get(name)
    if custom is None:
        raise CodeDeployError("DeploymentConfigDoesNotExistException",
                              f"No deployment configuration found for name: {name}")
    if custom.get("computePlatform") != "ECS" or not custom.get("trafficRoutingConfig"):
        raise CodeDeployError("InvalidDeploymentConfigNameException",
                              f"The deployment configuration {name} cannot be used with the ECS compute platform.")
    return custom["trafficRoutingConfig"]


def shift_plan(routing: dict[str, Any]) -> list[tuple[float, float]]:
    """[(emulated seconds after AllowTraffic started, green weight %)], ending at 100."""
    rtype = routing.get("type")
    if rtype == "TimeBasedLinear":
        lin = routing.get("timeBasedLinear") or {}
        pct = max(1, int(lin.get("linearPercentage", 10)))
        interval = float(lin.get("linearInterval", 1)) * 60
        plan = []
        weight, i = 0, 0
        while weight < 100:
            weight = min(100, weight + pct)
            plan.append((i * interval, float(weight)))
            i += 1
        return plan
    if rtype == "TimeBasedCanary":
        can = routing.get("timeBasedCanary") or {}
        pct = float(can.get("canaryPercentage", 10))
        interval = float(can.get("canaryInterval", 5)) * 60
        return [(0.0, pct), (interval, 100.0)]
    return [(0.0, 100.0)]


# ---------------------------------------------------------------------------
# Deployment simulation state


@dataclass
class Lifecycle:
    name: str
    status: str = "Pending"
    start: datetime | None = None
    end: datetime | None = None
    diagnostics: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lifecycleEventName": self.name, "status": self.status}
        if self.start:
            out["startTime"] = self.start
        if self.end:
            out["endTime"] = self.end
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        return out


@dataclass
class DeploySim:
    account: str
    region: str
    cluster: str
    service: str
    spec: AppSpec | None
    routing: dict[str, Any]
    rollback_of: str | None = None
    events: list[Lifecycle] = field(default_factory=lambda: [Lifecycle(n) for n in EVENTS])
    step: int = -1  # index of the current event; -1 before start
    step_started: datetime | None = None
    step_ready_at: datetime | None = None
    phase: str = "created"
    blue_ts: str | None = None  # task set ids
    green_ts: str | None = None
    blue_tg: str | None = None  # target group ARNs
    green_tg: str | None = None
    prod_listeners: list[str] = field(default_factory=list)
    test_listeners: list[str] = field(default_factory=list)
    green_weight: float = 0.0
    plan: list[tuple[float, float]] = field(default_factory=list)
    plan_started: datetime | None = None
    next_alarm_poll: datetime | None = None
    wait_until: datetime | None = None
    wait_kind: str | None = None  # READY_WAIT | TERMINATION_WAIT
    ready_action: str = "CONTINUE_DEPLOYMENT"
    target_status: str = "Pending"
    last_updated: datetime | None = None
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)  # task set id -> last info
    hook_failure: dict[str, Any] | None = None
    install_deadline: datetime | None = None
    drained_at: datetime | None = None
    continued: bool = False
    failing: tuple[str, str] | None = None


def _sim(dep: Any) -> DeploySim | None:
    return getattr(dep, "_ld", None)


def _cd_backend(account: str, region: str):
    return get_backend("codedeploy")[account][region]


def _ecs(account: str, region: str):
    return get_backend("ecs")[account][region]


def _elb(account: str, region: str):
    return get_backend("elbv2")[account][region]


# ---------------------------------------------------------------------------
# moto model patches


_orig_dep_init = cd_models.DeploymentInfo.__init__


def _dep_init(self, *args, **kwargs):
    _orig_dep_init(self, *args, **kwargs)
    self.deployment_id = _new_deployment_id()
    now = _now()
    self.create_time = now
    self.error_information = None
    self.rollback_info = None
    self.deployment_overview = None
    self.previous_revision = None


if not getattr(cd_models.DeploymentInfo.__init__, "_localaws", False):
    _dep_init._localaws = True  # type: ignore[attr-defined]
    cd_models.DeploymentInfo.__init__ = _dep_init


def _group_routing_defaults(dg: Any) -> None:
    """Fill what AWS returns for every ECS blue/green group (the AWS CLI reads both waits)."""
    if dg.application.compute_platform != "ECS":
        return
    bg = dg.blue_green_deployment_configuration
    bg.setdefault("deploymentReadyOption", {}).setdefault("actionOnTimeout", "CONTINUE_DEPLOYMENT")
    bg["deploymentReadyOption"].setdefault("waitTimeInMinutes", 0)
    term = bg.setdefault("terminateBlueInstancesOnDeploymentSuccess", {})
    term.setdefault("action", "TERMINATE")
    term.setdefault("terminationWaitTimeInMinutes", 0)


# ---------------------------------------------------------------------------
# API shapes


def _alarm_config(obj: Any) -> dict[str, Any]:
    ac = getattr(obj, "alarm_configuration", None)
    if ac is None:
        return {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
    if isinstance(ac, dict):
        return {"enabled": bool(ac.get("enabled", False)),
                "ignorePollAlarmFailure": bool(ac.get("ignorePollAlarmFailure", False)),
                "alarms": list(ac.get("alarms") or [])}
    return {"enabled": bool(ac.enabled), "ignorePollAlarmFailure": bool(ac.ignore_poll_alarm_failure),
            "alarms": list(ac.alarms or [])}


def _last_info(info: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(info) if info else None


def deployment_group_info(dg: Any) -> dict[str, Any]:
    info = cd_responses._deployment_group_info(dg)
    info["alarmConfiguration"] = _alarm_config(dg)
    info["lastSuccessfulDeployment"] = _last_info(getattr(dg, "_ld_last_success", None))
    info["lastAttemptedDeployment"] = _last_info(getattr(dg, "_ld_last_attempt", None))
    info["targetRevision"] = getattr(dg, "_ld_target_revision", None)
    return info


def _public_revision(revision: dict[str, Any] | None) -> dict[str, Any] | None:
    """GetDeployment does not echo the AppSpec content, only its hash (as AWS)."""
    if not revision:
        return revision
    rev = json.loads(json.dumps(revision))
    if rev.get("revisionType") == "AppSpecContent":
        content = (rev.get("appSpecContent") or {}).get("content") or ""
        rev["appSpecContent"] = {"sha256": (rev.get("appSpecContent") or {}).get("sha256")
                                 or hashlib.sha256(content.encode()).hexdigest()}
    return rev


def deployment_info(dep: Any) -> dict[str, Any]:
    info = cd_responses._deployment_info(dep)
    info["errorInformation"] = dep.error_information
    info["rollbackInfo"] = dep.rollback_info
    info["deploymentOverview"] = dep.deployment_overview
    info["revision"] = _public_revision(dep.revision)
    info["previousRevision"] = _public_revision(dep.previous_revision)
    info["instanceTerminationWaitTimeStarted"] = bool(dep.instance_termination_wait_time_started)
    info["additionalDeploymentStatusInfo"] = None
    info["externalId"] = dep.external_id or None
    info["relatedDeployments"] = None
    info["targetInstances"] = None
    info["fileExistsBehavior"] = None
    info["ignoreApplicationStopFailures"] = None
    info["updateOutdatedInstancesOnly"] = None
    if not dep.auto_rollback_configuration:
        info["autoRollbackConfiguration"] = dep.deployment_group.auto_rollback_configuration or None
    return info


def _task_set_info(sim: DeploySim, ts_id: str | None, label: str) -> dict[str, Any] | None:
    if not ts_id:
        return None
    ecs = _ecs(sim.account, sim.region)
    svc = ecs.services.get(f"{sim.cluster}:{sim.service}")
    ts = next((t for t in (svc.task_sets if svc else []) if t.id == ts_id), None)
    tg_arn = sim.green_tg if label == "Green" else sim.blue_tg
    tg = _elb(sim.account, sim.region).target_groups.get(tg_arn) if tg_arn else None
    weight = sim.green_weight if label == "Green" else 100.0 - sim.green_weight
    if ts is not None:
        info = {
            "identifer": ts.id,
            "desiredCount": int(getattr(ts, "computed_desired_count", 0) or 0),
            "pendingCount": int(getattr(ts, "pending_count", 0) or 0),
            "runningCount": int(getattr(ts, "running_count", 0) or 0),
            "status": ts.status,
            "trafficWeight": float(weight),
            "targetGroup": {"name": tg.name if tg else ""},
            "taskSetLabel": label,
        }
        sim.snapshot[ts_id] = info
        return info
    old = sim.snapshot.get(ts_id)
    if old is None:
        return None
    old = dict(old, trafficWeight=float(weight), desiredCount=0, pendingCount=0, runningCount=0)
    return old


def ecs_target(dep: Any) -> dict[str, Any]:
    sim = _sim(dep)
    ecs = _ecs(sim.account, sim.region)
    svc = ecs.services.get(f"{sim.cluster}:{sim.service}")
    task_sets = [x for x in (_task_set_info(sim, sim.blue_ts, "Blue"), _task_set_info(sim, sim.green_ts, "Green"))
                 if x]
    return {
        "deploymentTargetType": "ECSTarget",
        "ecsTarget": {
            "deploymentId": dep.deployment_id,
            "targetId": f"{sim.cluster}:{sim.service}",
            "targetArn": svc.arn if svc else
            f"arn:aws:ecs:{sim.region}:{sim.account}:service/{sim.cluster}/{sim.service}",
            "lastUpdatedAt": sim.last_updated or dep.create_time,
            "lifecycleEvents": [e.to_api() for e in sim.events],
            "status": sim.target_status,
            "taskSetsInfo": task_sets,
        },
    }


# ---------------------------------------------------------------------------
# Response methods added to / replacing moto's CodeDeployResponse


def _r_create_deployment_group(self):
    result = _orig_create_deployment_group(self)
    app = self._get_param("applicationName")
    name = self._get_param("deploymentGroupName")
    dg = self.codedeploy_backend.deployment_groups[app][name]
    dg._ld_config_given = bool(self._get_param("deploymentConfigName"))
    ac = self._get_param("alarmConfiguration")
    dg.alarm_configuration = ac or None
    if dg.application.compute_platform == "ECS" and not dg._ld_config_given:
        dg.deployment_config_name = "CodeDeployDefault.ECSAllAtOnce"
    _group_routing_defaults(dg)
    return result


def _r_update_deployment_group(self):
    app = self._get_param("applicationName")
    name = self._get_param("currentDeploymentGroupName")
    dg = self.codedeploy_backend.get_deployment_group(app, name)
    new_name = self._get_param("newDeploymentGroupName")
    mapping = {
        "deploymentConfigName": "deployment_config_name", "serviceRoleArn": "service_role_arn",
        "alarmConfiguration": "alarm_configuration", "autoRollbackConfiguration": "auto_rollback_configuration",
        "deploymentStyle": "deployment_style",
        "blueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
        "loadBalancerInfo": "load_balancer_info", "ecsServices": "ecs_services",
    }
    for param, attr in mapping.items():
        value = self._get_param(param)
        if value is not None:
            if param == "deploymentConfigName" and value not in PREDEFINED_CONFIGS \
                    and value not in SERVER_CONFIGS and value not in _configs(self.codedeploy_backend):
                raise CodeDeployError("DeploymentConfigDoesNotExistException",
                                      f"No deployment configuration found for name: {value}")
            setattr(dg, attr, value)
    _group_routing_defaults(dg)
    if new_name and new_name != name:
        groups = self.codedeploy_backend.deployment_groups[app]
        groups[new_name] = groups.pop(name)
        dg.deployment_group_name = new_name
    return ActionResult({"hooksNotCleanedUp": []})


def _r_get_deployment_group(self):
    dg = self.codedeploy_backend.get_deployment_group(self._get_param("applicationName"),
                                                      self._get_param("deploymentGroupName"))
    return ActionResult({"deploymentGroupInfo": deployment_group_info(dg)})


def _r_batch_get_deployment_groups(self):
    app = self._get_param("applicationName")
    infos, errors = [], []
    for name in self._get_param("deploymentGroupNames") or []:
        try:
            infos.append(deployment_group_info(self.codedeploy_backend.get_deployment_group(app, name)))
        except JsonRESTError as exc:
            errors.append(exc.message)
    return ActionResult({"deploymentGroupsInfo": infos, "errorMessage": "; ".join(errors) or None})


def _r_get_deployment(self):
    dep = self.codedeploy_backend.get_deployment(self._get_param("deploymentId"))
    return ActionResult({"deploymentInfo": deployment_info(dep)})


def _r_batch_get_deployments(self):
    ids = self._get_param("deploymentIds") or []
    deps = self.codedeploy_backend.batch_get_deployments(ids)
    return ActionResult({"deploymentsInfo": [deployment_info(d) for d in deps]})


def _aware(dt: Any) -> datetime | None:
    if dt is None:
        return None
    if isinstance(dt, (int, float)):
        return datetime.fromtimestamp(dt, tz=timezone.utc)
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _r_list_deployments(self):
    app = self._get_param("applicationName")
    group = self._get_param("deploymentGroupName")
    if app and not group:
        raise cd_models.DeploymentGroupNameRequiredException(
            "If applicationName is specified, then deploymentGroupName must be specified.")
    if group and not app:
        raise cd_models.ApplicationNameRequiredException(
            "If deploymentGroupName is specified, applicationName must be specified.")
    if app:
        self.codedeploy_backend.get_deployment_group(app, group)
    statuses = self._get_param("includeOnlyStatuses") or []
    rng = self._get_param("createTimeRange") or {}
    start, end = _aware(rng.get("start")), _aware(rng.get("end"))
    if start and end and start > end:
        raise cd_models.InvalidTimeRangeException("The start time must be earlier than the end time.")
    external = self._get_param("externalId")
    found = []
    for dep in self.codedeploy_backend.deployments.values():
        if app and (dep.application_name != app or dep.deployment_group_name != group):
            continue
        if statuses and dep.status not in statuses:
            continue
        created = _aware(dep.create_time)
        if start and created < start:
            continue
        if end and created > end:
            continue
        if external and dep.external_id != external:
            continue
        found.append(dep)
    found.sort(key=lambda d: _aware(d.create_time), reverse=True)  # newest first
    ids = [d.deployment_id for d in found]
    token = self._get_param("nextToken")
    offset = int(token) if token and token.isdigit() else 0
    page = ids[offset: offset + 100]
    nxt = str(offset + 100) if offset + 100 < len(ids) else None
    return ActionResult({"deployments": page, "nextToken": nxt})


def _r_create_deployment(self):
    backend = self.codedeploy_backend
    app_name = self._get_param("applicationName")
    group_name = self._get_param("deploymentGroupName")
    app = backend.get_application(app_name)
    if not group_name:
        raise cd_models.DeploymentGroupNameRequiredException("Deployment group name is required.")
    dg = backend.get_deployment_group(app_name, group_name)
    if app.compute_platform != "ECS":
        return _orig_create_deployment(self)
    for other in backend.deployments.values():
        if other.application_name == app_name and other.deployment_group_name == group_name \
                and other.status in ACTIVE:
            raise CodeDeployError("DeploymentLimitExceededException",
                                  f"The Deployment Group '{group_name}' already has an active Deployment "
                                  f"'{other.deployment_id}'")
    config_name = self._get_param("deploymentConfigName") or str(dg.deployment_config_name)
    routing = routing_for(backend, config_name)
    revision = self._get_param("revision") or {}
    spec = parse_appspec(revision)
    _validate_against_ecs(spec, backend.account_id, backend.region_name)
    services = dg.ecs_services or []
    if not services:
        raise CodeDeployError("InvalidECSServiceException",
                              f"The deployment group {group_name} has no ECS service.")
    dep_id = backend.create_deployment(
        application_name=app_name, deployment_group_name=group_name, revision=revision,
        deployment_config_name=config_name, description=self._get_param("description"),
        auto_rollback_configuration=self._get_param("autoRollbackConfiguration"),
        override_alarm_configuration=self._get_param("overrideAlarmConfiguration"))
    dep = backend.deployments[dep_id]
    TIMELINE.record("deployment", deployment_id=dep_id, status=dep.status, error_code=None)
    dep.previous_revision = (getattr(dg, "_ld_last_success_revision", None))
    dep._ld = DeploySim(backend.account_id, backend.region_name, services[0].get("clusterName"),
                        services[0].get("serviceName"), spec, routing)
    dep._ld.last_updated = dep.create_time
    _record_revision(backend, app_name, group_name, revision, dep.create_time)
    _mark_attempt(dg, dep)
    return ActionResult({"deploymentId": dep_id})


def _record_revision(backend: Any, app: str, group: str, revision: dict[str, Any], at: datetime) -> None:
    if revision.get("revisionType") != "AppSpecContent":
        return
    content = (revision.get("appSpecContent") or {}).get("content") or ""
    sha = (revision.get("appSpecContent") or {}).get("sha256") or hashlib.sha256(content.encode()).hexdigest()
    revs = backend.__dict__.setdefault("_ld_revisions", {})
    item = revs.setdefault((app, sha), {"content": content, "registerTime": at, "firstUsedTime": at,
                                        "lastUsedTime": at, "groups": []})
    item["lastUsedTime"] = at
    if group not in item["groups"]:
        item["groups"].append(group)


def _mark_attempt(dg: Any, dep: Any) -> None:
    dg._ld_last_attempt = {"deploymentId": dep.deployment_id, "status": dep.status,
                           "endTime": dep.complete_time, "createTime": dep.create_time}


def _r_get_application_revision(self):
    app = self._get_param("applicationName")
    self.codedeploy_backend.get_application(app)
    revision = self._get_param("revision") or {}
    content = (revision.get("appSpecContent") or {}).get("content") or ""
    sha = (revision.get("appSpecContent") or {}).get("sha256") or \
        (hashlib.sha256(content.encode()).hexdigest() if content else None)
    item = self.codedeploy_backend.__dict__.get("_ld_revisions", {}).get((app, sha))
    if item is None:
        raise CodeDeployError("RevisionDoesNotExistException", "The revision does not exist.")
    return ActionResult({
        "applicationName": app,
        "revision": {"revisionType": "AppSpecContent",
                     "appSpecContent": {"content": item["content"], "sha256": sha}},
        "revisionInfo": {"deploymentGroups": list(item["groups"]), "firstUsedTime": item["firstUsedTime"],
                         "lastUsedTime": item["lastUsedTime"], "registerTime": item["registerTime"]},
    })


def _active_dep(backend: Any, dep_id: str) -> Any:
    dep = backend.get_deployment(dep_id)
    if dep.status in TERMINAL:
        raise CodeDeployError("DeploymentAlreadyCompletedException",
                              f"The deployment {dep_id} has already completed.")
    return dep


def _r_stop_deployment(self):
    dep_id = self._get_param("deploymentId")
    if not dep_id:
        raise CodeDeployError("DeploymentIdRequiredException", "The deployment ID must be specified.")
    dep = _active_dep(self.codedeploy_backend, dep_id)
    if _sim(dep) is None:
        dep.status = "Stopped"
        dep.complete_time = _now()
        return ActionResult({"status": "Succeeded", "statusMessage": "Deployment stopped."})
    rollback = self._get_param("autoRollbackEnabled")
    TIMELINE.record("stop_requested", deployment_id=dep_id, rollback=rollback)
    if rollback is None:
        events = _rollback_events(dep)
        rollback = "DEPLOYMENT_STOP_ON_REQUEST" in events
    rb = stop(dep, "MANUAL_STOP", MSG_MANUAL_STOP, bool(rollback), _now())
    if rb:
        return ActionResult({"status": "Pending",
                             "statusMessage": "Stopping Pending. Stopping to schedule commands in the "
                                              "deployment instances"})
    return ActionResult({"status": "Succeeded", "statusMessage": f"Deployment {dep_id} stopped."})


def _r_continue_deployment(self):
    dep_id = self._get_param("deploymentId")
    wait_type = self._get_param("deploymentWaitType") or "READY_WAIT"
    if wait_type not in ("READY_WAIT", "TERMINATION_WAIT"):
        raise CodeDeployError("InvalidDeploymentWaitTypeException", f"Invalid wait type {wait_type}.")
    dep = _active_dep(self.codedeploy_backend, dep_id)
    sim = _sim(dep)
    if sim is None or sim.wait_kind != wait_type:
        raise CodeDeployError("DeploymentIsNotInReadyStateException",
                              f"The deployment {dep_id} is not waiting ({wait_type}).")
    if wait_type == "READY_WAIT":
        sim.continued = True
    else:
        sim.wait_until = _now()  # the loop picks it up at once
    return EmptyResult()


def _target_dep(self) -> Any:
    dep_id = self._get_param("deploymentId")
    if not dep_id:
        raise CodeDeployError("DeploymentIdRequiredException", "The deployment ID must be specified.")
    dep = self.codedeploy_backend.get_deployment(dep_id)
    if _sim(dep) is None:
        raise CodeDeployError("DeploymentNotStartedException",
                              f"The deployment {dep_id} has no targets.")
    return dep


def _r_list_deployment_targets(self):
    dep = _target_dep(self)
    sim = _sim(dep)
    filters = self._get_param("targetFilters") or {}
    wanted = filters.get("TargetStatus")
    ids = [f"{sim.cluster}:{sim.service}"]
    if wanted and sim.target_status not in wanted:
        ids = []
    return ActionResult({"targetIds": ids, "nextToken": None})


def _r_batch_get_deployment_targets(self):
    dep = _target_dep(self)
    sim = _sim(dep)
    ids = self._get_param("targetIds") or []
    if len(ids) > 25:
        raise CodeDeployError("DeploymentTargetListSizeExceededException",
                              "The maximum number of targets that can be requested is 25.")
    mine = f"{sim.cluster}:{sim.service}"
    for tid in ids:
        if tid != mine:
            raise CodeDeployError("DeploymentTargetDoesNotExistException",
                                  f"The target {tid} does not exist in deployment {dep.deployment_id}.")
    return ActionResult({"deploymentTargets": [ecs_target(dep) for _ in ids]})


def _r_get_deployment_target(self):
    dep = _target_dep(self)
    sim = _sim(dep)
    tid = self._get_param("targetId")
    if not tid:
        raise CodeDeployError("DeploymentTargetIdRequiredException", "A target ID must be specified.")
    if tid != f"{sim.cluster}:{sim.service}":
        raise CodeDeployError("DeploymentTargetDoesNotExistException",
                              f"The target {tid} does not exist in deployment {dep.deployment_id}.")
    return ActionResult({"deploymentTarget": ecs_target(dep)})


def _r_create_deployment_config(self):
    backend = self.codedeploy_backend
    name = self._get_param("deploymentConfigName")
    if not name:
        raise CodeDeployError("DeploymentConfigNameRequiredException", "Deployment config name is required.")
    if name.startswith("CodeDeployDefault."):
        raise CodeDeployError("InvalidDeploymentConfigNameException",
                              "The deployment configuration name cannot start with CodeDeployDefault.")
    if name in _configs(backend):
        raise CodeDeployError("DeploymentConfigAlreadyExistsException",
                              f"Deployment configuration {name} already exists.")
    platform = self._get_param("computePlatform") or "Server"
    routing = self._get_param("trafficRoutingConfig")
    if platform == "ECS":
        rtype = (routing or {}).get("type")
        if rtype not in ("TimeBasedCanary", "TimeBasedLinear", "AllAtOnce"):
            raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                                  "The traffic routing configuration is not valid for ECS.")
        key = {"TimeBasedLinear": "timeBasedLinear", "TimeBasedCanary": "timeBasedCanary"}.get(rtype)
        if key:
            body = routing.get(key) or {}
            pct = body.get("linearPercentage" if rtype == "TimeBasedLinear" else "canaryPercentage")
            interval = body.get("linearInterval" if rtype == "TimeBasedLinear" else "canaryInterval")
            if not isinstance(pct, int) or not 1 <= pct <= 99 or not isinstance(interval, int) \
                    or interval < 1:
                raise CodeDeployError("InvalidTrafficRoutingConfigurationException",
                                      "The percentage must be 1-99 and the interval at least 1 minute.")
    if len(_configs(backend)) >= 25:
        raise CodeDeployError("DeploymentConfigLimitExceededException",
                              "The deployment configurations limit was exceeded.")
    config_id = str(cd_models.uuid.uuid4())
    _configs(backend)[name] = {
        "deploymentConfigId": config_id, "deploymentConfigName": name, "createTime": _now(),
        "computePlatform": platform, "trafficRoutingConfig": routing,
        "minimumHealthyHosts": self._get_param("minimumHealthyHosts"),
    }
    return ActionResult({"deploymentConfigId": config_id})


def _r_get_deployment_config(self):
    name = self._get_param("deploymentConfigName")
    if name in PREDEFINED_CONFIGS:
        info = {"deploymentConfigId": hashlib.md5(name.encode()).hexdigest(), "deploymentConfigName": name,
                "computePlatform": "ECS", "trafficRoutingConfig": PREDEFINED_CONFIGS[name],
                "createTime": datetime(2018, 11, 27, tzinfo=timezone.utc)}
    elif name in SERVER_CONFIGS:
        info = {"deploymentConfigId": hashlib.md5(name.encode()).hexdigest(), "deploymentConfigName": name,
                "computePlatform": "Server", "minimumHealthyHosts": SERVER_CONFIGS[name],
                "createTime": datetime(2014, 11, 12, tzinfo=timezone.utc)}
    else:
        info = _configs(self.codedeploy_backend).get(name)
        if info is None:
            raise CodeDeployError("DeploymentConfigDoesNotExistException",
                                  f"No deployment configuration found for name: {name}")
    return ActionResult({"deploymentConfigInfo": info})


def _r_list_deployment_configs(self):
    names = sorted(list(SERVER_CONFIGS) + list(PREDEFINED_CONFIGS) + list(_configs(self.codedeploy_backend)))
    return ActionResult({"deploymentConfigsList": names})


def _r_delete_deployment_config(self):
    name = self._get_param("deploymentConfigName")
    if name.startswith("CodeDeployDefault."):
        raise CodeDeployError("InvalidOperationException", "A predefined configuration cannot be deleted.")
    _configs(self.codedeploy_backend).pop(name, None)
    return EmptyResult()


_R = cd_responses.CodeDeployResponse
_orig_create_deployment = _R.create_deployment
_orig_create_deployment_group = _R.create_deployment_group
if getattr(_R, "_localaws_patched", False):
    # Re-import: keep the originals of the first import.
    _orig_create_deployment = _R._localaws_orig_create_deployment
    _orig_create_deployment_group = _R._localaws_orig_create_deployment_group
else:
    _R._localaws_orig_create_deployment = _orig_create_deployment
    _R._localaws_orig_create_deployment_group = _orig_create_deployment_group
    _R._localaws_patched = True

# The response methods added or replaced. They read and change the deployments that
# the engine's loop moves on, so the engine wraps each with its lock.
RESPONSE_METHODS = {
    "create_deployment_group": _r_create_deployment_group,
    "update_deployment_group": _r_update_deployment_group,
    "get_deployment_group": _r_get_deployment_group,
    "batch_get_deployment_groups": _r_batch_get_deployment_groups,
    "get_deployment": _r_get_deployment,
    "batch_get_deployments": _r_batch_get_deployments,
    "list_deployments": _r_list_deployments,
    "create_deployment": _r_create_deployment,
    "get_application_revision": _r_get_application_revision,
    "stop_deployment": _r_stop_deployment,
    "continue_deployment": _r_continue_deployment,
    "list_deployment_targets": _r_list_deployment_targets,
    "batch_get_deployment_targets": _r_batch_get_deployment_targets,
    "get_deployment_target": _r_get_deployment_target,
    "create_deployment_config": _r_create_deployment_config,
    "get_deployment_config": _r_get_deployment_config,
    "list_deployment_configs": _r_list_deployment_configs,
    "delete_deployment_config": _r_delete_deployment_config,
}
for _name, _fn in RESPONSE_METHODS.items():
    _fn.__name__ = _name
    setattr(_R, _name, _fn)


# ---------------------------------------------------------------------------
# The lifecycle


def _rollback_events(dep: Any) -> list[str]:
    conf = dep.auto_rollback_configuration or dep.deployment_group.auto_rollback_configuration or {}
    if not conf.get("enabled"):
        return []
    return list(conf.get("events") or [])


def _alarm_names(dep: Any) -> list[str]:
    override = dep.override_alarm_configuration
    conf = override if override else _alarm_config(dep.deployment_group)
    if isinstance(conf, dict):
        if not conf.get("enabled"):
            return []
        return [a.get("name") for a in conf.get("alarms") or [] if a.get("name")]
    return []


def poll_alarms(dep: Any) -> list[str]:
    """Names of the deployment's alarms that are in ALARM."""
    sim = _sim(dep)
    names = _alarm_names(dep)
    if not names:
        return []
    cw = get_backend("cloudwatch")[sim.account][sim.region]
    active = []
    for name in names:
        alarm = cw.alarms.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            active.append(name)
    return active


def _service(sim: DeploySim) -> Any:
    return _ecs(sim.account, sim.region).services.get(f"{sim.cluster}:{sim.service}")


def _task_set(sim: DeploySim, ts_id: str | None) -> Any:
    svc = _service(sim)
    if svc is None or not ts_id:
        return None
    return next((t for t in svc.task_sets if t.id == ts_id), None)


def _set_weights(sim: DeploySim, green: float, listeners: list[str] | None = None) -> None:
    """Forward weights on the production listener(s): green%, blue rest."""
    sim.green_weight = float(green)
    elb = _elb(sim.account, sim.region)
    groups = []
    if sim.blue_tg:
        groups.append({"TargetGroupArn": sim.blue_tg, "Weight": int(round(100 - green))})
    if sim.green_tg:
        groups.append({"TargetGroupArn": sim.green_tg, "Weight": int(round(green))})
    if not groups:
        return
    for arn in listeners if listeners is not None else sim.prod_listeners:
        for lb in elb.load_balancers.values():
            listener = lb.listeners.get(arn)
            if listener is None:
                continue
            live = [g for g in groups if g["Weight"] > 0]
            if len(live) == 1 and len(groups) == 2 and green in (0.0, 100.0) and sim.phase in ("done", "rolledback"):
                action = FakeAction({"Type": "forward", "TargetGroupArn": live[0]["TargetGroupArn"]})
            else:
                action = FakeAction({"Type": "forward", "ForwardConfig": {"TargetGroups": [dict(g) for g in groups]}})
            listener.default_actions = [action]
            for rule in listener._default_rule.values():
                rule.actions = [action]
            for g in groups:
                tg = elb.target_groups.get(g["TargetGroupArn"])
                if tg is not None and lb.arn not in tg.load_balancer_arns:
                    tg.load_balancer_arns.append(lb.arn)


def _resolve_routes(dep: Any, sim: DeploySim) -> None:
    """Blue/green task sets and target groups, listeners, from the group and the service."""
    dg = dep.deployment_group
    pairs = (dg.load_balancer_info or {}).get("targetGroupPairInfoList") or []
    elb = _elb(sim.account, sim.region)
    tg_arns = []
    if pairs:
        names = [g.get("name") for g in pairs[0].get("targetGroups") or []]
        by_name = {tg.name: tg.arn for tg in elb.target_groups.values()}
        tg_arns = [by_name[n] for n in names if n in by_name]
        sim.prod_listeners = list((pairs[0].get("prodTrafficRoute") or {}).get("listenerArns") or [])
        sim.test_listeners = list((pairs[0].get("testTrafficRoute") or {}).get("listenerArns") or [])
    svc = _service(sim)
    primary = next((t for t in svc.task_sets if t.status == "PRIMARY"), None) if svc else None
    sim.blue_ts = primary.id if primary else None
    blue_tg = None
    if primary is not None:
        blue_tg = next((lb.get("targetGroupArn") for lb in primary.load_balancers or []
                        if lb.get("targetGroupArn")), None)
    if blue_tg is None and sim.prod_listeners:
        weights = traffic.listener_weights(sim.account, sim.region, sim.prod_listeners[0])
        if weights:
            blue_tg = max(weights, key=weights.get)
    if blue_tg is None and tg_arns:
        blue_tg = tg_arns[0]
    sim.blue_tg = blue_tg
    sim.green_tg = next((a for a in tg_arns if a != blue_tg), None)


def _begin_event(sim: DeploySim, idx: int, now: datetime) -> None:
    sim.step = idx
    ev = sim.events[idx]
    ev.status = "InProgress"
    ev.start = now
    sim.step_started = now
    sim.step_ready_at = None
    sim.last_updated = now


def _finish_event(sim: DeploySim, now: datetime, status: str = "Succeeded",
                  diagnostics: dict[str, Any] | None = None) -> None:
    ev = sim.events[sim.step]
    ev.status = status
    ev.end = now
    ev.diagnostics = diagnostics
    sim.last_updated = now


def _skip_rest(sim: DeploySim, now: datetime) -> None:
    for ev in sim.events:
        if ev.status in ("Pending", "InProgress"):
            ev.status = "Skipped"
    sim.last_updated = now


def _set_status(dep: Any, status: str, now: datetime) -> None:
    if status != dep.status:
        info = getattr(dep, "error_information", None) or {}
        TIMELINE.record("deployment", deployment_id=dep.deployment_id, status=status,
                        error_code=info.get("code"))
    dep.status = status
    dg = dep.deployment_group
    if status in TERMINAL:
        dep.complete_time = now
        count = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
        count["Succeeded" if status == "Succeeded" else "Failed"] = 1
        dep.deployment_overview = count
        if status == "Succeeded":
            dg._ld_last_success = {"deploymentId": dep.deployment_id, "status": status,
                                   "endTime": now, "createTime": dep.create_time}
            dg._ld_last_success_revision = dep.revision
            dg._ld_target_revision = _public_revision(dep.revision)
    elif status == "Ready":
        dep.deployment_overview = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0,
                                   "Ready": 1}
    else:
        dep.deployment_overview = None
    if getattr(dg, "_ld_last_attempt", {}).get("deploymentId") == dep.deployment_id:
        _mark_attempt(dg, dep)


def _hook_for(dep: Any, sim: DeploySim, event: str) -> str | None:
    return (sim.spec.hooks if sim.spec else {}).get(event)


def _green_scenario(sim: DeploySim) -> tuple[str, dict[str, Any]]:
    if not sim.spec:
        return "healthy", {}
    ecs = _ecs(sim.account, sim.region)
    try:
        td = ecs.describe_task_definition(sim.spec.task_definition)
    except Exception:  # noqa: BLE001
        return "healthy", {}
    image = next((c.get("image") for c in td.container_definitions if c.get("name") == sim.spec.container_name), "")
    name, params, _ = scenarios.resolve(image or "", sim.account, sim.region)
    return name, params


def _failing_hook(dep: Any, sim: DeploySim) -> tuple[str, str] | None:
    """(event, function) that the release's hook-fail scenario makes fail, if any."""
    name, params = _green_scenario(sim)
    if name != "hook-fail":
        return None
    hooks = sim.spec.hooks if sim.spec else {}
    wanted = params.get("event") or "AfterAllowTestTraffic"
    if wanted in hooks:
        return wanted, hooks[wanted]
    for ev in EVENTS[2:]:
        if ev in hooks:
            return ev, hooks[ev]
    # The AppSpec names no hook after BeforeInstall: the scenario brings its own smoke-test hook.
    return wanted, params.get("function") or f"CodeDeployHook_{sim.service}_smoke_test"


def tick_deployment(dep: Any, now: datetime) -> None:
    sim = _sim(dep)
    if sim is None or dep.status in TERMINAL:
        if sim is not None:
            _after_end(dep, sim, now)
        return
    if dep.status == "Created":
        _set_status(dep, "InProgress", now)
        dep.start_time = now
        sim.target_status = "InProgress"
        if sim.rollback_of is None:
            _resolve_routes(dep, sim)
            sim.phase = "events"
            sim.plan = shift_plan(sim.routing)
            ready = (dep.deployment_group.blue_green_deployment_configuration or {}).get("deploymentReadyOption") \
                or {}
            sim.ready_action = ready.get("actionOnTimeout") or "CONTINUE_DEPLOYMENT"
            sim.failing = _failing_hook(dep, sim)
        else:
            sim.phase = "rollback"
        _begin_event(sim, 0, now)
    if sim.rollback_of is not None:
        _tick_rollback(dep, sim, now)
        return
    # Alarm polling: from the start of Install (an alarm already in ALARM fails Install,
    # as observed on AWS), then every alarm_poll_seconds until the end.
    if sim.next_alarm_poll is None and sim.step >= EVENTS.index("Install"):
        sim.next_alarm_poll = now
    if sim.next_alarm_poll and now >= sim.next_alarm_poll:
        sim.next_alarm_poll = now + timedelta(seconds=float(setting("alarm_poll_seconds", 20)))
        active = poll_alarms(dep)
        if active:
            stop(dep, "ALARM_ACTIVE", MSG_ALARM.format(alarms=" ".join(active)),
                 "DEPLOYMENT_STOP_ON_ALARM" in _rollback_events(dep), now)
            return
    _tick_events(dep, sim, now)


def _event_duration(sim: DeploySim, name: str, hooked: bool) -> float:
    return float(setting("hook_seconds", 5)) if hooked else float(setting("lifecycle_event_seconds", 2))


def _tick_events(dep: Any, sim: DeploySim, now: datetime) -> None:
    # Loop: several quick events can complete within one tick.
    for _ in range(len(EVENTS) + 2):
        if dep.status in TERMINAL:
            return
        if sim.phase == "ready_wait":
            if not sim.continued:
                if sim.wait_until is None or now < sim.wait_until:
                    return
                if sim.ready_action == "STOP_DEPLOYMENT":
                    minutes = _ready_wait_minutes(dep) or 0
                    stop(dep, "TIMEOUT", MSG_READY_TIMEOUT.format(minutes=int(minutes)), False, now)
                    return
            sim.wait_kind = None
            sim.wait_until = None
            sim.phase = "events"
            _set_status(dep, "InProgress", now)
            sim.target_status = "InProgress"
            _begin_event(sim, EVENTS.index("BeforeAllowTraffic"), now)
            continue
        if sim.phase == "termination_wait":
            if now < sim.wait_until:
                return
            sim.wait_kind = None
            _terminate_blue(dep, sim, now)
            return
        if sim.phase == "draining_blue":
            _finish_drain(dep, sim, now)
            return
        if sim.phase != "events":
            return
        ev = sim.events[sim.step]
        name = ev.name
        hook = _hook_for(dep, sim, name) if name in HOOKABLE else None
        failing = sim.failing
        if failing and failing[0] == name:
            hook = failing[1]
        if name == "Install":
            if not _tick_install(dep, sim, now):
                return
        elif name == "AllowTestTraffic":
            if now - sim.step_started < timedelta(seconds=_event_duration(sim, name, False)):
                return
            if sim.test_listeners:
                _set_weights(sim, 100.0, sim.test_listeners)
                sim.green_weight = 0.0
        elif name == "AllowTraffic":
            if not _tick_shift(dep, sim, now):
                return
        else:
            if now - sim.step_started < timedelta(seconds=_event_duration(sim, name, bool(hook))):
                return
            if hook and failing and failing[0] == name:
                green = scenarios.sims_of_task_set(sim.green_ts) if sim.green_ts else []
                passed, reason, tail = traffic.smoke_test(green, sim.step_started, hook)
                if not passed:
                    diag = {"errorCode": "ScriptFailed", "scriptName": hook,
                            "message": f"The lifecycle event hook {hook} reported status Failed: {reason}",
                            "logTail": tail[-4096:]}
                    _finish_event(sim, now, "Failed", diag)
                    fail(dep, "HOOK_EXECUTION_FAILURE",
                         MSG_HOOK.format(event=name, function=hook, reason=reason), now)
                    return
        _finish_event(sim, now)
        if sim.step + 1 >= len(EVENTS):
            _after_traffic(dep, sim, now)
            return
        nxt = EVENTS[sim.step + 1]
        if nxt == "BeforeAllowTraffic" and _ready_wait_minutes(dep) is not None:
            minutes = _ready_wait_minutes(dep)
            if minutes > 0 or sim.ready_action == "STOP_DEPLOYMENT":
                sim.phase = "ready_wait"
                sim.wait_kind = "READY_WAIT"
                # STOP_DEPLOYMENT without a wait time waits for ContinueDeployment only.
                sim.wait_until = now + timedelta(minutes=minutes) if minutes > 0 else None
                if sim.ready_action == "STOP_DEPLOYMENT":
                    # Traffic is rerouted only on ContinueDeployment: the deployment is Ready.
                    _set_status(dep, "Ready", now)
                    sim.target_status = "Ready"
                return
        _begin_event(sim, sim.step + 1, now)


def _ready_wait_minutes(dep: Any) -> float | None:
    ready = (dep.deployment_group.blue_green_deployment_configuration or {}).get("deploymentReadyOption")
    if not ready:
        return None
    return float(ready.get("waitTimeInMinutes") or 0)


def _tick_install(dep: Any, sim: DeploySim, now: datetime) -> bool:
    """Create the replacement task set, then wait until it is healthy. True when done."""
    ecs = _ecs(sim.account, sim.region)
    svc = _service(sim)
    if svc is None:
        _finish_event(sim, now, "Failed")
        fail(dep, "INVALID_ECS_SERVICE", f"The ECS service {sim.service} in cluster {sim.cluster} does not exist.",
             now)
        return False
    if sim.green_ts is None:
        # Leftover replacement task sets of earlier stopped deployments go first.
        for ts in list(svc.task_sets):
            if ts.status != "PRIMARY" and ts.id != sim.blue_ts:
                ecs.delete_task_set(sim.cluster, sim.service, ts.task_set_arn)
        blue = _task_set(sim, sim.blue_ts)
        network = sim.spec.network or (blue.network_configuration if blue else None) or \
            svc.network_configuration or None
        lbs = [{"targetGroupArn": sim.green_tg, "containerName": sim.spec.container_name,
                "containerPort": sim.spec.container_port}] if sim.green_tg else []
        launch_type = (blue.launch_type if blue else None) or svc.launch_type or "FARGATE"
        ts = ecs.create_task_set(
            svc.arn, sim.cluster, sim.spec.task_definition, external_id=dep.deployment_id,
            network_configuration=network, load_balancers=lbs, launch_type=launch_type,
            capacity_provider_strategy=sim.spec.capacity_provider_strategy,
            platform_version=sim.spec.platform_version or (blue.platform_version if blue else None),
            scale={"value": 100.0, "unit": "PERCENT"})
        ts.started_by = "CODE_DEPLOY"
        sim.green_ts = ts.id
        sim.install_deadline = now + timedelta(minutes=float(setting("ecs_install_timeout_minutes", 60)))
        return False
    ts = _task_set(sim, sim.green_ts)
    if ts is not None and ts.stabilityStatus == "STEADY_STATE" and int(getattr(ts, "running_count", 0)) >= \
            int(getattr(ts, "computed_desired_count", 0)):
        return True
    if now >= sim.install_deadline:
        minutes = int(float(setting("ecs_install_timeout_minutes", 60)))
        _finish_event(sim, now, "Failed")
        fail(dep, "TIMEOUT", MSG_INSTALL_TIMEOUT.format(minutes=minutes), now)
    return False


def _tick_shift(dep: Any, sim: DeploySim, now: datetime) -> bool:
    if sim.plan_started is None:
        sim.plan_started = now
    elapsed = (now - sim.plan_started).total_seconds()
    weight = sim.green_weight
    for at, w in sim.plan:
        if elapsed >= at:
            weight = w
    if weight != sim.green_weight:
        _set_weights(sim, weight)
        sim.last_updated = now
    return sim.green_weight >= 100.0


def _after_traffic(dep: Any, sim: DeploySim, now: datetime) -> None:
    """All events done: green becomes PRIMARY, then the termination wait or the end."""
    ecs = _ecs(sim.account, sim.region)
    green = _task_set(sim, sim.green_ts)
    if green is not None:
        ecs.update_service_primary_task_set(sim.cluster, sim.service, green.task_set_arn)
        for ts in _service(sim).task_sets:
            if ts.id == sim.blue_ts:
                ts.status = "ACTIVE"
    term = (dep.deployment_group.blue_green_deployment_configuration or {}).get(
        "terminateBlueInstancesOnDeploymentSuccess") or {}
    if term.get("action", "TERMINATE") == "KEEP_ALIVE" or sim.blue_ts is None:
        _succeed(dep, sim, now)
        return
    minutes = float(term.get("terminationWaitTimeInMinutes") or 0)
    dep.instance_termination_wait_time_started = True
    sim.phase = "termination_wait"
    sim.wait_kind = "TERMINATION_WAIT"
    sim.wait_until = now + timedelta(minutes=minutes)


def _terminate_blue(dep: Any, sim: DeploySim, now: datetime) -> None:
    blue = _task_set(sim, sim.blue_ts)
    if blue is not None:
        blue.scale = {"value": 0.0, "unit": "PERCENT"}
        blue.status = "DRAINING"
        blue.updatedAt = now
    sim.phase = "draining_blue"
    sim.drained_at = now


def _finish_drain(dep: Any, sim: DeploySim, now: datetime) -> None:
    blue = _task_set(sim, sim.blue_ts)
    if blue is not None:
        still = [s for s in scenarios.sims_of_task_set(blue.id) if s.phase not in ("STOPPED", "DEPROVISIONING")]
        if still:
            return
        _task_set_info(sim, sim.blue_ts, "Blue")  # keep the last view for GetDeploymentTarget
        _ecs(sim.account, sim.region).delete_task_set(sim.cluster, sim.service, blue.task_set_arn)
    _succeed(dep, sim, now)


def _succeed(dep: Any, sim: DeploySim, now: datetime) -> None:
    sim.phase = "done"
    _set_weights(sim, 100.0)
    sim.target_status = "Succeeded"
    sim.last_updated = now
    _set_status(dep, "Succeeded", now)


def stop(dep: Any, code: str, message: str, rollback: bool, now: datetime) -> Any:
    """Stop an active deployment; returns the rollback deployment, if one was started."""
    sim = _sim(dep)
    if sim.step >= 0 and sim.events[sim.step].status == "InProgress":
        _finish_event(sim, now, "Failed")
    _skip_rest(sim, now)
    dep.error_information = {"code": code, "message": message}
    sim.target_status = "Failed"
    sim.wait_kind = None
    _set_status(dep, "Stopped", now)
    return _maybe_rollback(dep, sim, rollback, "terminated", now)


def fail(dep: Any, code: str, message: str, now: datetime) -> Any:
    sim = _sim(dep)
    _skip_rest(sim, now)
    dep.error_information = {"code": code, "message": message}
    sim.target_status = "Failed"
    sim.wait_kind = None
    _set_status(dep, "Failed", now)
    return _maybe_rollback(dep, sim, "DEPLOYMENT_FAILURE" in _rollback_events(dep), "failed", now)


def _maybe_rollback(dep: Any, sim: DeploySim, rollback: bool, verb: str, now: datetime) -> Any:
    sim.phase = "ended"
    if not rollback or sim.green_ts is None:
        if sim.green_ts is not None and sim.green_weight <= 0:
            # Nothing reached production: the replacement is simply removed.
            _drain_green(sim, now)
        return None
    backend = _cd_backend(sim.account, sim.region)
    dg = dep.deployment_group
    rb_id = backend.create_deployment(
        application_name=dep.application_name, deployment_group_name=dep.deployment_group_name,
        revision=dep.previous_revision or dep.revision, deployment_config_name="CodeDeployDefault.ECSAllAtOnce")
    rb = backend.deployments[rb_id]
    TIMELINE.record("deployment", deployment_id=rb_id, status=rb.status, error_code=None,
                    rollback_of=dep.deployment_id)
    rb.creator = "codeDeployRollback"
    rb.previous_revision = dep.revision
    rb.create_time = now
    rsim = DeploySim(sim.account, sim.region, sim.cluster, sim.service, None, {"type": "AllAtOnce"},
                     rollback_of=dep.deployment_id)
    rsim.blue_ts, rsim.green_ts = sim.blue_ts, sim.green_ts
    rsim.blue_tg, rsim.green_tg = sim.blue_tg, sim.green_tg
    rsim.prod_listeners, rsim.test_listeners = list(sim.prod_listeners), list(sim.test_listeners)
    rsim.green_weight = sim.green_weight
    rsim.snapshot = dict(sim.snapshot)
    rsim.last_updated = now
    rb._ld = rsim
    dep.rollback_info = {"rollbackDeploymentId": rb_id,
                         "rollbackMessage": MSG_ROLLBACK_TRIGGERED.format(orig=dep.deployment_id, verb=verb,
                                                                          rb=rb_id)}
    rb.rollback_info = {"rollbackTriggeringDeploymentId": dep.deployment_id,
                        "rollbackMessage": MSG_ROLLBACK_OF.format(rb=rb_id, orig=dep.deployment_id)}
    _mark_attempt(dg, rb)
    return rb


def _drain_green(sim: DeploySim, now: datetime) -> None:
    green = _task_set(sim, sim.green_ts)
    if green is not None:
        green.scale = {"value": 0.0, "unit": "PERCENT"}
        green.status = "DRAINING"
        green.updatedAt = now
    sim.drained_at = now


def _tick_rollback(dep: Any, sim: DeploySim, now: datetime) -> None:
    """Route all traffic back to the original task set; drain the replacement."""
    quick = timedelta(seconds=float(setting("lifecycle_event_seconds", 2)))
    if sim.phase == "rollback":
        ev = sim.events[sim.step]
        if now - sim.step_started < quick:
            return
        if ev.name == "AllowTraffic":
            ecs = _ecs(sim.account, sim.region)
            _set_weights(sim, 0.0)
            blue = _task_set(sim, sim.blue_ts)
            if blue is not None:
                blue.scale = {"value": 100.0, "unit": "PERCENT"}
                ecs.update_service_primary_task_set(sim.cluster, sim.service, blue.task_set_arn)
            _drain_green(sim, now)
        _finish_event(sim, now)
        if sim.step + 1 < len(EVENTS):
            _begin_event(sim, sim.step + 1, now)
            return
        sim.phase = "rolledback"
        _set_weights(sim, 0.0)
        sim.target_status = "Succeeded"
        _set_status(dep, "Succeeded", now)


def _after_end(dep: Any, sim: DeploySim, now: datetime) -> None:
    """Housekeeping after the end: delete a drained replacement task set after a while."""
    if sim.drained_at is None:
        return
    keep = timedelta(minutes=float(setting("drained_task_set_retention_minutes", 5)))
    green = _task_set(sim, sim.green_ts)
    if green is not None and green.status == "DRAINING" and now - sim.drained_at >= keep:
        _task_set_info(sim, sim.green_ts, "Green")
        _ecs(sim.account, sim.region).delete_task_set(sim.cluster, sim.service, green.task_set_arn)
        sim.drained_at = None


def tick(now: datetime) -> None:
    """Move every deployment on to `now`, oldest first (one step of the engine's loop,
    run under its lock)."""
    for account, regions in list(get_backend("codedeploy").items()):
        for region, backend in list(regions.items()):
            for dep in sorted(list(backend.deployments.values()), key=lambda d: _aware(d.create_time)):
                if _sim(dep) is not None:
                    tick_deployment(dep, now)
