"""ELBv2 target health of the simulated ECS tasks.

ECS registers each task of a task set as an `ip` target (its ENI's private IPv4
address, the `privateIPv4Address` of DescribeTasks' attachment, on the container port)
in the task set's target group. moto only knows targets registered through
RegisterTargets, so DescribeTargetHealth is answered here from the scheduler's
TaskSims (scenarios.py) for target groups that have simulated tasks, with AWS's states
and reason codes:

- task RUNNING, first health-check interval: `initial` / `Elb.RegistrationInProgress`;
  then until the healthy threshold is reached: `initial` / `Elb.InitialHealthChecking`;
- in service: `healthy`;
- health-failing scenarios once the unhealthy threshold is reached: `unhealthy` /
  `Target.ResponseCodeMismatch` ("Health checks failed with these codes: [503]"), or
  `Target.Timeout` when the scenario's `health_check_timeout` param is set;
- a task that ECS is stopping: `draining` / `Target.DeregistrationInProgress`;
- tasks not yet RUNNING or STOPPED are not registered (not listed).

Targets registered through the API in the same group are answered by moto as before.
The patch runs inside the engine's lock (engine.py wraps the ELBv2 backend method).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moto.elbv2 import models as elb_models

from . import scenarios
from .clock import get_clock

_Backend = elb_models.ELBv2Backend
_ORIGINAL: dict[str, Any] = {}

# ELBv2 backend methods that read the scheduler's state (wrapped with the engine's lock).
SHARED_STATE_METHODS = ("describe_target_health",)


def target_health(sim: scenarios.TaskSim, tg_arn: str, now: datetime) -> tuple[str, str | None, str | None] | None:
    """(State, Reason, Description) of a task's target at `now`, None when not registered."""
    task = sim.task
    if sim.phase == "STOPPED" or sim.running_at is None or now < sim.running_at:
        return None
    if task.desired_status == "STOPPED":
        return "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
    interval, _, _ = scenarios.health_config(sim.account, sim.region, tg_arn)
    if sim.unhealthy_at is not None and now >= sim.unhealthy_at:
        if sim.params.get("health_check_timeout"):
            return "unhealthy", "Target.Timeout", "Request timed out"
        code = int(sim.params.get("status", 503)) if sim.scenario == "health-path-broken" else 503
        return "unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
    if sim.healthy_at is not None and now >= sim.healthy_at:
        return "healthy", None, None
    if now < sim.running_at + timedelta(seconds=interval):
        return "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
    return "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"


def _health_status(sim: scenarios.TaskSim, tg_arn: str, now: datetime) -> Any | None:
    health = target_health(sim, tg_arn, now)
    if health is None:
        return None
    state, reason, description = health
    return elb_models.FakeHealthStatus(sim.ip, str(sim.port), "traffic-port", state, reason, description)


def _describe_target_health(self, target_group_arn: str, targets: list[dict[str, Any]]):
    sims = [s for s in scenarios.SIMS.values()
            if target_group_arn in s.target_group_arns and s.account == self.account_id
            and s.region == self.region_name]
    if not sims:
        return _ORIGINAL["describe_target_health"](self, target_group_arn, targets)
    now = get_clock().now()
    # Newest first per IP: a replaced task can reuse an address.
    by_ip: dict[str, Any] = {}
    for sim in sorted(sims, key=lambda s: s.created):
        status = _health_status(sim, target_group_arn, now)
        if status is not None:
            by_ip[sim.ip] = status
    if targets:
        wanted = {t.get("Id") for t in targets}
        return [h for ip, h in by_ip.items() if ip in wanted]
    return list(by_ip.values())


def _install() -> None:
    if getattr(_Backend.describe_target_health, "_localaws", False):
        return
    _ORIGINAL.setdefault("describe_target_health", _Backend.describe_target_health)
    _describe_target_health._localaws = True  # type: ignore[attr-defined]
    _Backend.describe_target_health = _describe_target_health


_install()
