"""Container Insights metrics (namespace ECS/ContainerInsights) of the simulated services.

ECS publishes these once a minute for clusters whose `containerInsights` setting is
`enabled` or `enhanced` (CreateCluster / UpdateCluster `settings`; a cluster without the
setting has it `disabled`, as on AWS with the account default). Per service
(dimensions ClusterName + ServiceName): CpuUtilized, CpuReserved (CPU units),
MemoryUtilized, MemoryReserved (Megabytes), RunningTaskCount, DesiredTaskCount,
PendingTaskCount, TaskSetCount, DeploymentCount. With `enhanced` (enhanced observability)
also per task (ClusterName + TaskDefinitionFamily + TaskId): CpuUtilized, CpuReserved,
MemoryUtilized, MemoryReserved.

AWS publishes no formula for the figures of a made-up application, so the emulator
assumes: an idle task uses 30 % of its task memory and 8–20 % of its CPU; a task of the
`oom` scenario grows linearly with the requests it served towards its limit (`served /
requests_before_oom` of the way from 30 % to 100 %), so the minutes before its OOM kill
show the climb; the value of a minute is the peak seen during that minute (sampled every
engine tick), and a task OOM-killed during the minute shows its full task memory.

`tick(now)` is called by the engine's loop under its lock.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from moto.backends import get_backend

from . import scenarios

NAMESPACE = "ECS/ContainerInsights"
_rng = random.Random()

# task arn -> (peak memory MiB, peak cpu units) in the current minute
_PEAKS: dict[str, tuple[float, float]] = {}
# (account, region) -> start of the minute being collected
_MINUTE: dict[tuple[str, str], datetime] = {}


def insights_mode(account: str, region: str, cluster_name: str) -> str:
    """`disabled`, `enabled` or `enhanced` for a cluster."""
    try:
        cluster = get_backend("ecs")[account][region].clusters.get(cluster_name)
    except Exception:  # noqa: BLE001
        return "disabled"
    for item in (getattr(cluster, "settings", None) or []):
        if item.get("name") == "containerInsights":
            return str(item.get("value") or "disabled")
    return "disabled"


def _limits(sim: scenarios.TaskSim) -> tuple[float, float]:
    """(memory MiB, cpu units) of the task definition."""
    try:
        return float(sim.task.memory or 512), float(sim.task.cpu or 256)
    except (TypeError, ValueError):
        return 512.0, 256.0


def memory_used(sim: scenarios.TaskSim) -> float:
    memory, _ = _limits(sim)
    base = 0.30 + _rng.uniform(-0.02, 0.02)
    if sim.scenario == "oom":
        limit = max(1, int(sim.params.get("requests_before_oom", 10)))
        share = min(1.0, sim.served / limit)
        return memory * min(1.0, base + (1.0 - base) * share)
    return memory * base


def cpu_used(sim: scenarios.TaskSim) -> float:
    _, cpu = _limits(sim)
    return cpu * _rng.uniform(0.08, 0.20)


def _sample() -> None:
    for arn, sim in list(scenarios.SIMS.items()):
        if not sim.alive:
            if sim.scenario == "oom" and not getattr(sim, "_insights_oom", False):
                # The kernel killed it at its limit: the minute's peak is the task's memory,
                # also when the kill came before this minute's first sample.
                sim._insights_oom = True  # type: ignore[attr-defined]
                _PEAKS[arn] = (_limits(sim)[0], _PEAKS.get(arn, (0.0, 0.0))[1])
            continue
        mem, cpu = memory_used(sim), cpu_used(sim)
        old = _PEAKS.get(arn, (0.0, 0.0))
        _PEAKS[arn] = (max(old[0], mem), max(old[1], cpu))


def _datum(name: str, value: float, unit: str, dims: dict[str, str], at: datetime) -> dict[str, Any]:
    return {"MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": at,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}


def _publish(account: str, region: str, minute: datetime) -> None:
    backend = get_backend("ecs")[account][region]
    cw = get_backend("cloudwatch")[account][region]
    data: list[dict[str, Any]] = []
    for service in list(backend.services.values()):
        mode = insights_mode(account, region, service.cluster_name)
        if mode not in ("enabled", "enhanced"):
            continue
        sims = [s for s in scenarios.SIMS.values() if s.service == service.name and s.cluster == service.cluster_name
                and s.arn in _PEAKS]
        dims = {"ClusterName": service.cluster_name, "ServiceName": service.name}
        mem_used = sum(_PEAKS[s.arn][0] for s in sims)
        cpu_used_total = sum(_PEAKS[s.arn][1] for s in sims)
        mem_res = sum(_limits(s)[0] for s in sims)
        cpu_res = sum(_limits(s)[1] for s in sims)
        desired = sum(scenarios.desired_for(service, ts) for ts in service.task_sets) if service.task_sets \
            else int(service.desired_count or 0)
        running = int(service.running_count or 0)
        if sims:
            data += [_datum("CpuUtilized", cpu_used_total, "None", dims, minute),
                     _datum("CpuReserved", cpu_res, "None", dims, minute),
                     _datum("MemoryUtilized", mem_used, "Megabytes", dims, minute),
                     _datum("MemoryReserved", mem_res, "Megabytes", dims, minute)]
        data += [_datum("RunningTaskCount", running, "Count", dims, minute),
                 _datum("DesiredTaskCount", desired, "Count", dims, minute),
                 _datum("PendingTaskCount", int(service.pending_count or 0), "Count", dims, minute),
                 _datum("TaskSetCount", len(service.task_sets or []), "Count", dims, minute),
                 _datum("DeploymentCount", max(1, len(service.task_sets or [])), "Count", dims, minute)]
        if mode == "enhanced":
            for s in sims:
                family = str(s.task.task_definition_arn).rsplit("/", 1)[-1].split(":")[0]
                tdims = {"ClusterName": service.cluster_name, "TaskDefinitionFamily": family,
                         "TaskId": s.task_id}
                mem, cpu = _PEAKS[s.arn]
                data += [_datum("CpuUtilized", cpu, "None", tdims, minute),
                         _datum("CpuReserved", _limits(s)[1], "None", tdims, minute),
                         _datum("MemoryUtilized", mem, "Megabytes", tdims, minute),
                         _datum("MemoryReserved", _limits(s)[0], "Megabytes", tdims, minute)]
    for i in range(0, len(data), 500):
        cw.put_metric_data(NAMESPACE, data[i:i + 500])


def tick(now: datetime) -> None:
    """Sample every running task; at each minute boundary publish the minute's figures."""
    _sample()
    regions = {(s.account, s.region) for s in scenarios.SIMS.values()}
    for key in regions:
        start = _MINUTE.setdefault(key, now.replace(second=0, microsecond=0))
        if now >= start + timedelta(minutes=1):
            _publish(key[0], key[1], start)
            for arn in [a for a, s in scenarios.SIMS.items() if (s.account, s.region) == key]:
                _PEAKS.pop(arn, None)
            _MINUTE[key] = now.replace(second=0, microsecond=0)


def reset() -> None:
    _PEAKS.clear()
    _MINUTE.clear()
