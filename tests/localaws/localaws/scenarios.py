"""Release scenarios and the simulated ECS tasks that run them.

A scenario says how the containers of one image behave (healthy, failing requests,
crashing, running out of memory, failing health checks, failing a deployment hook).
It is chosen per image: by digest, by `repo:tag` or by bare tag, with ECR consulted to
map a digest (task definitions pin images as `repo@sha256:…`) to its tags.

moto keeps task sets as plain records and never runs tasks for them, so this module
is the service scheduler: for every task set of a service it starts and stops moto
ECS tasks so that the task set holds `ceil(desiredCount × scale%)` tasks, moves them
through PROVISIONING → PENDING → RUNNING, lets the scenario stop them with AWS's stop
codes and reasons, replaces stopped ones, writes their container logs (awslogs
stream `<prefix>/<container>/<task-id>`) and adds service events.

Everything is timed on the emulated clock. `tick()` is one step of the engine's loop
(engine.py). Nothing here takes the engine's lock: the engine holds it around `tick()`
and `reset()` and wraps the ECS backend methods named in SHARED_STATE_METHODS with it.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moto.backends import get_backend
from moto.ecs import models as ecs_models

from . import registry, settings
from .clock import get_clock
from .workload import health_check_failure, pino, write_logs

MY_DEFAULTS: dict[str, Any] = {
    # Emulated seconds from RunTask to PENDING and to RUNNING.
    "task_pending_seconds": 4,
    "task_running_seconds": 20,
    # Stopped tasks stay visible (ListTasks desiredStatus=STOPPED) this long, like ECS.
    "stopped_task_retention_minutes": 60,
    # Emulated seconds between the ALB marking a target unhealthy and ECS stopping its task.
    "ecs_unhealthy_replace_seconds": 15,
}


def register_defaults(defaults: dict[str, Any]) -> None:
    """Add this emulator part's settings to the shared settings with their defaults."""
    for key, value in defaults.items():
        settings.DEFAULTS.setdefault(key, value)
        if settings.get(key) is None:
            settings.update({key: value})


register_defaults(MY_DEFAULTS)


def setting(key: str, default: Any = None) -> Any:
    value = settings.get(key)
    return default if value is None else value


SCENARIOS: dict[str, dict[str, Any]] = {
    "healthy": {},
    "http-5xx": {
        # Each failure: a route and its failure rate, the failing dependency and the error.
        "failures": [
            {
                "route": "GET /api/orders",
                "rate": 0.4,
                "kind": "pg",
                "message": "Database connection refused",
            }
        ],
    },
    "crash-loop": {
        "crash_after_seconds": 6,
        "exit_code": 1,
        "error_type": "TypeError",
        "message": "Cannot read properties of undefined (reading 'split')",
    },
    "oom": {
        # Memory grows with every request served; the kernel kills the container after this many.
        "requests_before_oom": 10,
    },
    "health-check-fail": {
        "message": "Redis connection timeout after 2000ms",
    },
    "health-path-broken": {
        # The target group's health path answers 404 (e.g. the app moved it) while other routes work.
        "status": 404,
    },
    "route-5xx": {
        # The reverse: the health path answers 200 while the application's routes fail with 500.
        "rate": 0.6,
        "error_type": "TypeError",
        "message": "Cannot read properties of undefined (reading 'map')",
    },
    "hook-fail": {
        "event": "AfterAllowTestTraffic",
        "function": "",
        "message": 'relation "orders_v2" does not exist',
    },
    # Background noise on both colours (see traffic.py, "Traffic level and background
    # errors"): a healthy release in a service that always fails a little.
    "healthy-noisy": {
        "background_error_rate": 0.0075,
    },
    # Green fails three times as often as blue, still rarely: the same background noise
    # on both colours, plus green's own failure on another route with another message.
    "slow-burn": {
        "background_error_rate": 0.01,
        "failures": [
            {
                "route": "GET /api/orders",
                "rate": 0.045,
                "kind": "pg",
                "stage": "query",
                "message": "Query read timeout",
            }
        ],
    },
    # A bad release in a service that sees a few requests a minute: every GET
    # /api/orders of green fails, yet green answers too few requests to judge.
    "low-traffic": {
        "requests_per_minute": 12,
        "failures": [
            {
                "route": "GET /api/orders",
                "rate": 1.0,
                "kind": "pg",
                "message": "Database connection refused",
            }
        ],
    },
    "latency": {
        # The release calls a downstream service on one route, and that call is slow:
        # the requests still succeed, only late (trace span and log responseTime agree).
        "route": "GET /api/orders",
        "downstream_url": "http://inventory.internal:8080/v1/stock",
        "downstream_ms": 7000,
    },
}

# Scenarios whose `failures` fail requests the way http-5xx does.
FAILING_SCENARIOS = ("http-5xx", "slow-burn", "low-traffic")

_scenario_lock = threading.Lock()
# key ("sha256:…", "repo:tag", "tag" or "repo") -> (scenario name, params)
_assigned: dict[str, tuple[str, dict[str, Any]]] = {}


def set_scenario(image: str, scenario: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not image:
        raise ValueError("image is required")
    key = image.strip()
    if "/" in key.split("@")[0] and "@" in key:
        key = key.split("@", 1)[1]  # a full pinned reference: the digest identifies it
    elif "/" in key:
        key = key.rsplit("/", 1)[1]  # registry/repo:tag -> repo:tag
    with _scenario_lock:
        _assigned[key] = (scenario, dict(params or {}))
    return {"image": key, "scenario": scenario, "params": dict(params or {})}


def parse_image(image: str) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(repository, tag, digest, registry account, registry region) of an image reference."""
    ref = image or ""
    digest = tag = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    account = region = None
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0]):
        host = parts[0].split(".")
        if len(host) >= 4 and host[1] == "dkr" and host[2] == "ecr":
            account, region = host[0], host[3]
        parts = parts[1:]
    return "/".join(parts), tag, digest, account, region


def image_tags(image: str, account: str, region: str) -> list[str]:
    """Tags of an image; for a digest reference, looked up in ECR."""
    repo, tag, digest, reg_account, reg_region = parse_image(image)
    if tag and not digest:
        return [tag]
    if not digest:
        return []
    try:
        backend = get_backend("ecr")[reg_account or account][reg_region or region]
        repository = backend.repositories.get(repo)
        if repository is None:
            return []
        for img in list(repository.images):
            if img.image_digest == digest:
                return [t for t in img.image_tags if t]
    except Exception:  # noqa: BLE001 - an unknown registry simply has no tags
        return []
    return []


def resolve(image: str, account: str, region: str) -> tuple[str, dict[str, Any], str | None]:
    """(scenario, params merged over its defaults, tag) for an image reference."""
    repo, tag, digest, _, _ = parse_image(image)
    tags = image_tags(image, account, region)
    keys: list[str] = []
    if digest:
        keys.append(digest)
    for t in tags:
        keys.append(f"{repo}:{t}")
    for t in tags:
        keys.append(t)
    keys.append(repo)
    with _scenario_lock:
        for key in keys:
            if key in _assigned:
                name, params = _assigned[key]
                merged = json.loads(json.dumps(SCENARIOS[name]))
                merged.update(params)
                return name, merged, (tags[0] if tags else tag)
    return "healthy", {}, (tags[0] if tags else tag)


def assignments() -> dict[str, Any]:
    with _scenario_lock:
        return {k: {"scenario": v[0], "params": v[1]} for k, v in _assigned.items()}


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@registry.route("POST", "/_localaws/scenario")
def _scenario_route(method: str, path: str, query: dict, body: bytes):
    try:
        data = _json_body(body)
        result = set_scenario(str(data.get("image") or ""), str(data.get("scenario") or ""),
                              data.get("params") or {})
    except ValueError as exc:
        return 400, {"Content-Type": "application/json"}, {"error": str(exc)}
    return 200, {"Content-Type": "application/json"}, result


@registry.route("GET", "/_localaws/scenario")
def _scenario_list_route(method: str, path: str, query: dict, body: bytes):
    return 200, {"Content-Type": "application/json"}, {
        "scenarios": sorted(SCENARIOS), "assigned": assignments()}


# ---------------------------------------------------------------------------
# Simulated tasks
# ---------------------------------------------------------------------------

_rng = random.Random()


@dataclass
class TaskSim:
    account: str
    region: str
    cluster: str
    service: str
    task_set_id: str
    task: Any  # moto ecs Task
    scenario: str
    params: dict[str, Any]
    image: str
    tag: str | None
    created: datetime
    hostname: str
    ip: str
    container: str
    port: int
    log_group: str | None
    log_stream: str | None
    log_region: str
    target_group_arns: list[str]
    phase: str = "PROVISIONING"
    running_at: datetime | None = None
    healthy_at: datetime | None = None
    health_fail_at: datetime | None = None
    crash_at: datetime | None = None
    exited_at: datetime | None = None
    stop_steps: list[tuple[datetime, str]] = field(default_factory=list)
    served: int = 0
    pid: int = 1
    next_health_check: datetime | None = None
    warned_memory: bool = False
    # When the target group starts answering "unhealthy" for it (health-failing scenarios).
    unhealthy_at: datetime | None = None

    @property
    def arn(self) -> str:
        return self.task.task_arn

    @property
    def task_id(self) -> str:
        return self.task.task_arn.rsplit("/", 1)[-1]

    @property
    def alive(self) -> bool:
        """The container is up (requests reach it)."""
        return self.phase == "RUNNING" and self.exited_at is None

    def in_service(self, at: datetime) -> bool:
        """Registered and healthy in its target group at `at`: the ALB routes requests to it."""
        return self.alive and self.healthy_at is not None and self.healthy_at <= at


# task arn -> TaskSim
SIMS: dict[str, TaskSim] = {}
# Called with every new TaskSim before it is stored (incidents.py puts a task set's incident on it).
LAUNCH_HOOKS: list[Any] = []
# Scenarios whose tasks fail the target group's health checks and are replaced by the scheduler.
HEALTH_FAILING = ("health-check-fail", "health-path-broken")


def sims_of_task_set(task_set_id: str) -> list[TaskSim]:
    return [s for s in SIMS.values() if s.task_set_id == task_set_id]


def _ecs_backends():
    for account, regions in list(get_backend("ecs").items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _elbv2(account: str, region: str):
    return get_backend("elbv2")[account][region]


def health_config(account: str, region: str, tg_arn: str | None) -> tuple[float, int, int]:
    """(interval s, healthy threshold, unhealthy threshold) of a target group."""
    try:
        tg = _elbv2(account, region).target_groups.get(tg_arn) if tg_arn else None
    except Exception:  # noqa: BLE001
        tg = None
    if tg is None:
        return 30.0, 5, 2
    return (
        float(tg.health_check_interval_seconds or 30),
        int(tg.healthy_threshold_count or 5),
        int(tg.unhealthy_threshold_count or 2),
    )


def _service_event(service: Any, message: str, at: datetime) -> None:
    service.events.insert(
        0,
        {"id": str(ecs_models.mock_random.uuid4()), "createdAt": at, "message": message},
    )
    del service.events[100:]


def _container_def(task_def: Any) -> dict[str, Any]:
    defs = task_def.container_definitions or [{}]
    essential = [c for c in defs if c.get("essential", True)]
    return (essential or defs)[0]


def _log_target(cdef: dict[str, Any], region: str) -> tuple[str | None, str | None, str]:
    conf = cdef.get("logConfiguration") or {}
    if conf.get("logDriver") != "awslogs":
        return None, None, region
    opts = conf.get("options") or {}
    return opts.get("awslogs-group"), opts.get("awslogs-stream-prefix"), opts.get("awslogs-region") or region


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def launch_task(backend: Any, service: Any, task_set: Any, now: datetime) -> TaskSim | None:
    account, region = backend.account_id, backend.region_name
    network = task_set.network_configuration or service.network_configuration or None
    launch_type = task_set.launch_type if task_set.launch_type in ("FARGATE", "EC2") else "FARGATE"
    kwargs = dict(
        cluster_str=service.cluster_name,
        task_definition_str=task_set.task_definition,
        count=1,
        overrides=None,
        started_by=task_set.id,
        tags=None,
        networking_configuration=network,
        group=f"service:{service.name}",
        platform_version=task_set.platform_version,
    )
    try:
        tasks = _ORIGINAL["run_task"](backend, launch_type=launch_type, **kwargs)
    except Exception:  # noqa: BLE001 - e.g. EC2 launch type without instances
        try:
            tasks = _ORIGINAL["run_task"](backend, launch_type="FARGATE", **kwargs)
        except Exception as exc:  # noqa: BLE001
            _service_event(service, f"(service {service.name}, taskSet {task_set.id}) was unable to "
                           f"place a task. Reason: {exc}.", now)
            return None
    if not tasks:
        return None
    task = tasks[0]
    task._transitions = []  # the scheduler below owns lastStatus, not moto's state manager
    task_def = backend.describe_task_definition(task_set.task_definition)
    cdef = _container_def(task_def)
    image = cdef.get("image") or ""
    scenario, params, tag = resolve(image, account, region)
    group, prefix, log_region = _log_target(cdef, region)
    task_id = task.task_arn.rsplit("/", 1)[-1]
    stream = f"{prefix}/{cdef.get('name')}/{task_id}" if group and prefix else None
    ip = "10.0.%d.%d" % (_rng.randint(0, 3), _rng.randint(10, 250))
    for att in task.attachments:
        for d in att.get("details", []):
            if d.get("name") == "privateIPv4Address" and d.get("value"):
                ip = d["value"]
    ports = cdef.get("portMappings") or [{}]
    tg_arns = [lb.get("targetGroupArn") for lb in (task_set.load_balancers or []) if lb.get("targetGroupArn")]
    sim = TaskSim(
        account=account, region=region, cluster=service.cluster_name, service=service.name,
        task_set_id=task_set.id, task=task, scenario=scenario, params=params, image=image,
        tag=tag, created=now, hostname="ip-" + ip.replace(".", "-") + f".{region}.compute.internal",
        ip=ip, container=cdef.get("name") or "app", port=int(ports[0].get("containerPort") or 80),
        log_group=group, log_stream=stream, log_region=log_region, target_group_arns=tg_arns,
    )
    _decorate_new_task(sim, task_def, cdef, now)
    for hook in LAUNCH_HOOKS:
        hook(sim)
    SIMS[task.task_arn] = sim
    _service_event(service, f"(service {service.name}, taskSet {task_set.id}) has started 1 tasks: "
                   f"(task {task_id}).", now)
    return sim


def _decorate_new_task(sim: TaskSim, task_def: Any, cdef: dict[str, Any], now: datetime) -> None:
    task = sim.task
    task.last_status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.created_at = now
    task.health_status = "UNKNOWN"
    task.connectivity = "CONNECTING"
    task.cpu = task_def.cpu
    task.memory = task_def.memory
    task.availability_zone = f"{sim.region}a"
    task.version = 1
    task.launch_type = task.launch_type or "FARGATE"
    task.platform_version = task.platform_version or "1.4.0"
    task.platform_family = "Linux"
    task.stop_code = None
    task.stopped_reason = None
    _, _, digest, _, _ = parse_image(sim.image)
    for c in task.containers:
        c.task_arn = task.task_arn
        c.last_status = "PENDING"
        c.exitCode = None
        c.health_status = "UNKNOWN"
        c.image_digest = digest
        c.runtime_id = "%032x-%d" % (_rng.getrandbits(128), _rng.randint(1000000000, 4000000000))
        c.network_interfaces = [{"attachmentId": task.attachments[0]["id"], "privateIpv4Address": sim.ip}] \
            if task.attachments else []


def _start_lines(sim: TaskSim, at: datetime) -> list[tuple[int, str]]:
    t = _ms(at)
    version = sim.tag or "unknown"
    return [
        pino(sim, t, 30, f"starting {sim.service} {version}", env="production", node="v20.17.0"),
        pino(sim, t + 180, 30, "connected to postgres", db={"host": "orders-db.internal", "port": 5432,
                                                             "database": "orders"}),
        pino(sim, t + 240, 30, f"Server listening at http://0.0.0.0:{sim.port}"),
    ]


def crash_stack(params: dict[str, Any]) -> str:
    etype = params.get("error_type", "TypeError")
    msg = params.get("message", "")
    return (f"{etype}: {msg}\n"
            "    at parseRedisUrl (/app/src/config.js:27:41)\n"
            "    at loadConfig (/app/src/config.js:48:18)\n"
            "    at createServer (/app/src/server.js:19:20)\n"
            "    at Object.<anonymous> (/app/src/index.js:8:1)\n"
            "    at Module._compile (node:internal/modules/cjs/loader:1469:14)")


def exit_task(sim: TaskSim, at: datetime, exit_code: int, stop_code: str, reason: str,
              container_reason: str | None = None, scheduler: bool = False) -> None:
    """The task stops: container exit, then STOPPING/DEPROVISIONING/STOPPED like ECS."""
    task = sim.task
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stop_code = stop_code
    task.stopped_reason = reason
    task.stopping_at = at
    steps: list[tuple[datetime, str]] = []
    if scheduler and sim.alive:
        # Deregistration from the target group before the container is stopped.
        task.last_status = "DEACTIVATING"
        steps.append((at + timedelta(seconds=5), "STOPPING"))
        container_exit_at = at + timedelta(seconds=6)
    else:
        task.last_status = "STOPPING"
        container_exit_at = at
    steps.append((container_exit_at + timedelta(seconds=5), "DEPROVISIONING"))
    steps.append((container_exit_at + timedelta(seconds=15), "STOPPED"))
    sim.stop_steps = steps
    sim.exited_at = container_exit_at
    task.execution_stopped_at = container_exit_at
    for c in task.containers:
        c.exitCode = exit_code if sim.running_at else None
        c.reason = container_reason
        c.last_status = "STOPPED"
        c.health_status = "UNKNOWN"
    task.health_status = "UNKNOWN"
    if sim.phase != "RUNNING":
        sim.phase = task.last_status


def stop_sim_by_user(sim: TaskSim, reason: str | None, at: datetime) -> None:
    exit_task(sim, at, 143, "UserInitiated", reason or "Task stopped by user", scheduler=True)


def _advance(sim: TaskSim, backend: Any, service: Any, now: datetime) -> None:
    task = sim.task
    created = sim.created
    pending_at = created + timedelta(seconds=float(setting("task_pending_seconds", 4)))
    running_at = created + timedelta(seconds=float(setting("task_running_seconds", 20)))
    if task.desired_status == "RUNNING":
        if sim.phase == "PROVISIONING" and now >= pending_at:
            sim.phase = task.last_status = "PENDING"
            task.connectivity = "CONNECTED"
            task.connectivity_at = pending_at
            task.pull_started_at = pending_at
        if sim.phase == "PENDING" and now >= running_at:
            sim.phase = task.last_status = "RUNNING"
            sim.running_at = running_at
            task.pull_stopped_at = running_at - timedelta(seconds=3)
            task.started_at = running_at
            for c in task.containers:
                c.last_status = "RUNNING"
            write_logs(sim, _start_lines(sim, running_at))
            interval, healthy_n, unhealthy_n = health_config(sim.account, sim.region,
                                                             (sim.target_group_arns or [None])[0])
            sim.next_health_check = running_at + timedelta(seconds=interval)
            if sim.scenario == "crash-loop":
                sim.crash_at = running_at + timedelta(seconds=float(sim.params.get("crash_after_seconds", 6)))
            if sim.target_group_arns:
                if sim.scenario not in HEALTH_FAILING:
                    sim.healthy_at = running_at + timedelta(seconds=interval * healthy_n)
                else:
                    grace = float(getattr(service, "health_check_grace_period_seconds", 0) or 0)
                    sim.unhealthy_at = running_at + timedelta(seconds=interval * unhealthy_n)
                    # ECS notices the unhealthy target a little after the ALB marks it.
                    lag = float(setting("ecs_unhealthy_replace_seconds", 15))
                    sim.health_fail_at = running_at + timedelta(seconds=max(grace, interval * unhealthy_n) + lag)
            else:
                sim.healthy_at = running_at
        if sim.phase == "RUNNING":
            _running_behaviour(sim, service, now)
    # Stop progression (after the container exited or the scheduler stopped the task).
    while sim.stop_steps and now >= sim.stop_steps[0][0]:
        at, status = sim.stop_steps.pop(0)
        sim.phase = task.last_status = status
        if status == "STOPPED":
            task.stopped_at = at


def _running_behaviour(sim: TaskSim, service: Any, now: datetime) -> None:
    task = sim.task
    if sim.healthy_at is not None and now >= sim.healthy_at and task.health_status != "HEALTHY" \
            and sim.exited_at is None and sim.target_group_arns:
        task.health_status = "UNKNOWN"  # no container health check: ECS reports UNKNOWN
        if not getattr(sim, "_registered_event", False):
            sim._registered_event = True  # type: ignore[attr-defined]
            for arn in sim.target_group_arns:
                _service_event(service, f"(service {sim.service}, taskSet {sim.task_set_id}) registered 1 "
                               f"targets in (target-group {arn})", sim.healthy_at)
    if sim.scenario == "crash-loop" and sim.crash_at and now >= sim.crash_at:
        t = _ms(sim.crash_at)
        err = {"type": sim.params.get("error_type", "TypeError"), "message": sim.params.get("message", ""),
               "stack": crash_stack(sim.params)}
        write_logs(sim, [pino(sim, t, 60, "uncaught exception, shutting down", err=err)])
        exit_task(sim, sim.crash_at, int(sim.params.get("exit_code", 1)), "EssentialContainerExited",
                  "Essential container in task exited")
        sim.crash_at = None
        _service_event(service, f"(service {sim.service}, taskSet {sim.task_set_id}) has stopped 1 running "
                       f"tasks: (task {sim.task_id}).", now)
    if sim.scenario in HEALTH_FAILING and sim.exited_at is None:
        interval, _, _ = health_config(sim.account, sim.region, (sim.target_group_arns or [None])[0])
        _failing_health_checks(sim, now, interval)
        if sim.health_fail_at and now >= sim.health_fail_at:
            tg = (sim.target_group_arns or [""])[0]
            _service_event(service, f"(service {sim.service}, taskSet {sim.task_set_id}) (task {sim.task_id}) "
                           f"failed ELB health checks in (target-group {tg})", sim.health_fail_at)
            exit_task(sim, sim.health_fail_at, 143, "ServiceSchedulerInitiated",
                      f"Task failed ELB health checks in (target-group {tg})", scheduler=True)
            _service_event(service, f"(service {sim.service}, taskSet {sim.task_set_id}) has stopped 1 running "
                           f"tasks: (task {sim.task_id}).", now)


def _failing_health_checks(sim: TaskSim, now: datetime, interval: float) -> None:
    """The ALB's health checks reach the app; it answers 503 and logs the error."""
    while sim.next_health_check and sim.next_health_check <= now:
        at = sim.next_health_check
        sim.next_health_check = at + timedelta(seconds=interval)
        health_check_failure(sim, at)


def oom_kill(sim: TaskSim, at: datetime, service: Any) -> None:
    exit_task(sim, at, 137, "EssentialContainerExited", "Essential container in task exited",
              container_reason="OutOfMemoryError: Container killed due to memory usage")
    _service_event(service, f"(service {sim.service}, taskSet {sim.task_set_id}) has stopped 1 running "
                   f"tasks: (task {sim.task_id}).", at)


def desired_for(service: Any, task_set: Any) -> int:
    scale = (task_set.scale or {}).get("value", 100.0)
    return int(math.ceil(float(service.desired_count or 0) * float(scale) / 100.0 - 1e-9))


def tick(now: datetime) -> None:
    """Bring every task set to its desired count and advance every simulated task
    (one step of the engine's loop, run under its lock)."""
    live_sets: set[str] = set()
    for account, region, backend in _ecs_backends():
        for service in list(backend.services.values()):
            if not service.task_sets:
                continue
            for task_set in list(service.task_sets):
                live_sets.add(task_set.id)
                _reconcile(backend, service, task_set, now)
            _update_counts(service, now)
    # Task sets that were deleted: their tasks are stopped by the scheduler.
    for sim in list(SIMS.values()):
        if sim.task_set_id not in live_sets and sim.task.desired_status == "RUNNING":
            exit_task(sim, now, 143, "ServiceSchedulerInitiated",
                      f"Scaling activity initiated by (deployment {sim.task_set_id})", scheduler=True)
        if sim.task_set_id not in live_sets and sim.stop_steps:
            _advance(sim, None, None, now)
    _purge(now)


def _reconcile(backend: Any, service: Any, task_set: Any, now: datetime) -> None:
    sims = sims_of_task_set(task_set.id)
    for sim in sims:
        _advance(sim, backend, service, now)
    active = [s for s in sims if s.task.desired_status == "RUNNING"]
    want = desired_for(service, task_set) if service.status == "ACTIVE" else 0
    if len(active) < want:
        for _ in range(want - len(active)):
            launch_task(backend, service, task_set, now)
    elif len(active) > want:
        # Scale in: tasks not yet running go first, then the newest.
        order = sorted(active, key=lambda s: (s.phase == "RUNNING", -s.created.timestamp()))
        extra = order[: len(active) - want]
        running = [s for s in extra if s.alive]
        if running:
            _service_event(service, f"(service {service.name}, taskSet {task_set.id}) has begun draining "
                           f"connections on {len(running)} tasks.", now)
        for sim in extra:
            exit_task(sim, now, 0, "ServiceSchedulerInitiated",
                      f"Scaling activity initiated by (deployment {task_set.id})", scheduler=True)
        if extra:
            ids = ", ".join(s.task_id for s in extra)
            _service_event(service, f"(service {service.name}, taskSet {task_set.id}) has stopped "
                           f"{len(extra)} running tasks: (task {ids}).", now)


def _update_counts(service: Any, now: datetime) -> None:
    total_running = total_pending = 0
    for task_set in service.task_sets:
        sims = [s for s in sims_of_task_set(task_set.id) if s.task.desired_status == "RUNNING"]
        running = sum(1 for s in sims if s.phase == "RUNNING")
        pending = sum(1 for s in sims if s.phase in ("PROVISIONING", "PENDING"))
        desired = desired_for(service, task_set)
        task_set.computed_desired_count = desired
        task_set.running_count = running
        task_set.pending_count = pending
        steady = running == desired and pending == 0 and all(
            s.in_service(now) or not s.target_group_arns for s in sims if s.phase == "RUNNING")
        new_state = "STEADY_STATE" if steady else "STABILIZING"
        if task_set.stabilityStatus != new_state:
            task_set.stabilityStatus = new_state
            task_set.stabilityStatusAt = now
        total_running += running
        total_pending += pending
    old_steady = getattr(service, "_localaws_steady", None)
    steady_all = all(ts.stabilityStatus == "STEADY_STATE" for ts in service.task_sets)
    service.running_count = total_running
    service.pending_count = total_pending
    if steady_all and old_steady is False:
        _service_event(service, f"(service {service.name}) has reached a steady state.", now)
    service._localaws_steady = steady_all


def _purge(now: datetime) -> None:
    keep = timedelta(minutes=float(setting("stopped_task_retention_minutes", 60)))
    for arn, sim in list(SIMS.items()):
        stopped_at = getattr(sim.task, "stopped_at", None)
        if sim.phase == "STOPPED" and stopped_at and now - stopped_at > keep:
            SIMS.pop(arn, None)
            try:
                backend = get_backend("ecs")[sim.account][sim.region]
                backend.tasks.get(sim.cluster, {}).pop(arn, None)
            except Exception:  # noqa: BLE001
                pass


# ---------------------------------------------------------------------------
# moto ECS backend patches: AWS-like ListTasks filters, StopTask codes, task sets
# that do not get moto's own (untracked) tasks.
# ---------------------------------------------------------------------------

# moto's own methods, for the replacements below and for launch_task (which runs
# inside tick(), already under the engine's lock).
_ORIGINAL: dict[str, Any] = {}
_Backend = ecs_models.EC2ContainerServiceBackend

# ECS backend methods that read or change what tick() changes (tasks, task sets,
# services). API requests call them from the server's threads while the engine's loop
# runs, and moto's backends are not thread-safe: the engine wraps each with its lock.
SHARED_STATE_METHODS = (
    "describe_tasks", "describe_services", "describe_task_sets", "update_task_set",
    "update_service_primary_task_set", "update_service", "delete_task_set", "run_task", "delete_service",
    "list_tasks", "stop_task", "create_task_set",
)


def _list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                service_name=None, desiredStatus=None):
    tasks = _ORIGINAL["list_tasks"](self, cluster_str, container_instance, family, started_by,
                                    None, desiredStatus or "RUNNING")
    if service_name:
        name = service_name.split("/")[-1]
        tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]
    return tasks


def _stop_task(self, cluster_str, task_str, reason):
    task_id = task_str.split("/")[-1]
    for arn, sim in SIMS.items():
        if arn.endswith("/" + task_id) and sim.account == self.account_id and sim.region == self.region_name:
            stop_sim_by_user(sim, reason, get_clock().now())
            return sim.task
    task = _ORIGINAL["stop_task"](self, cluster_str, task_str, reason)
    task.stop_code = "UserInitiated"
    task.stopped_at = get_clock().now()
    return task


def _create_task_set(self, service, cluster_str, task_definition, external_id=None, network_configuration=None,
                     load_balancers=None, service_registries=None, launch_type=None,
                     capacity_provider_strategy=None, platform_version=None, scale=None, client_token=None,
                     tags=None):
    task_set = _ORIGINAL["create_task_set"](
        self, service, cluster_str, task_definition, external_id=external_id,
        network_configuration=network_configuration, load_balancers=load_balancers,
        service_registries=service_registries, launch_type=launch_type,
        capacity_provider_strategy=capacity_provider_strategy, platform_version=platform_version,
        scale=None, client_token=client_token, tags=tags)
    task_set.scale = scale or {"value": 100.0, "unit": "PERCENT"}
    now = get_clock().now()
    task_set.createdAt = task_set.updatedAt = task_set.stabilityStatusAt = now
    task_set.stabilityStatus = "STABILIZING"
    task_set.started_by = None
    task_set.computed_desired_count = 0
    task_set.running_count = task_set.pending_count = 0
    return task_set


def _resource_requirements(task_definition: Any) -> dict[str, Any]:
    """moto's version needs container-level memory; Fargate task definitions often
    give it only at task level, which AWS accepts."""
    req: dict[str, Any] = {"CPU": 0, "MEMORY": 0, "PORTS": [], "PORTS_UDP": []}
    for c in task_definition.container_definitions:
        req["CPU"] += int(c.get("cpu", c.get("Cpu", 0)) or 0)
        req["MEMORY"] += int(c.get("memory", c.get("Memory", c.get("memoryReservation",
                                                                      c.get("MemoryReservation", 0)))) or 0)
        for pm in c.get("portMappings", c.get("PortMappings", [])) or []:
            port = pm.get("hostPort", pm.get("HostPort"))
            if port is not None:
                req["PORTS"].append(port)
    return req


def _install_patches() -> None:
    if getattr(_Backend.list_tasks, "_localaws", False):
        return
    _Backend._calculate_task_resource_requirements = staticmethod(_resource_requirements)
    # moto's ECS task reads the ENI's private DNS name, which moto only sets in VPCs with
    # DNS hostnames enabled; AWS leaves it empty there instead of failing.
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None
    _ORIGINAL.setdefault("run_task", _Backend.run_task)
    for name, fn in (("list_tasks", _list_tasks), ("stop_task", _stop_task), ("create_task_set", _create_task_set)):
        _ORIGINAL.setdefault(name, getattr(_Backend, name))
        fn._localaws = True  # type: ignore[attr-defined]
        setattr(_Backend, name, fn)


_install_patches()


def reset() -> None:
    """Forget every simulated task and scenario assignment (a reset hook that the
    engine registers, under its lock)."""
    SIMS.clear()
    with _scenario_lock:
        _assigned.clear()
