"""Incidents in a running service, outside any deployment.

`POST /_localaws/incident {"cluster", "service", "incident", "params"}` puts a scenario
on the service's current task set (the PRIMARY one, else the only one): its running
tasks change behaviour from now on, and the tasks the scheduler starts to replace
stopped ones (scenarios.py) get the same scenario until another incident (e.g.
`healthy`) is put on the task set. The release's image keeps its own scenario for new
task sets. Incidents, each a scenario with parameters chosen for an investigation to
have something to see:

| incident | scenario | what happens |
|---|---|---|
| `oom` | oom | memory climbs with the requests served (Container Insights), then exit 137 |
| `crash-loop` | crash-loop | each task exits 1 seconds after start with a config error stack |
| `dependency-failure` | http-5xx | routes fail: `connect ECONNREFUSED 10.0.40.12:5432` (orders-db) |
| `health-check-fail` | health-check-fail | the health path answers 503 (Redis timeout) → unhealthy, replaced |
| `health-path-broken` | health-path-broken | the health path answers 404 while other routes succeed |
| `route-5xx` | route-5xx | the health path answers 200 while routes fail with 500 |
| `healthy` | healthy | back to normal |

`params` are merged over the scenario's defaults and the incident's own.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

from moto.backends import get_backend

from . import registry, scenarios
from .clock import get_clock

INCIDENTS: dict[str, tuple[str, dict[str, Any]]] = {
    # About 4 emulated minutes of traffic per task before the kill, so the climb shows per minute.
    "oom": ("oom", {"requests_before_oom": 180}),
    "crash-loop": ("crash-loop", {"crash_after_seconds": 4,
                                  "message": "Cannot read properties of undefined (reading 'split')"}),
    "dependency-failure": ("http-5xx", {"failures": [
        {"route": r, "rate": 0.7, "kind": "pg", "stage": "connect",
         "message": "connect ECONNREFUSED 10.0.40.12:5432"}
        for r in ("GET /api/orders", "GET /api/orders/:id", "POST /api/orders", "GET /api/products")]}),
    "health-check-fail": ("health-check-fail", {}),
    "health-path-broken": ("health-path-broken", {}),
    "route-5xx": ("route-5xx", {}),
    "healthy": ("healthy", {}),
}

_lock = threading.Lock()
# task set id -> (scenario, params)
_ON_TASK_SET: dict[str, tuple[str, dict[str, Any]]] = {}


def _merged(incident: str, params: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if incident not in INCIDENTS:
        raise ValueError(f"unknown incident {incident!r}; known: {', '.join(sorted(INCIDENTS))}")
    scenario, extra = INCIDENTS[incident]
    merged = json.loads(json.dumps(scenarios.SCENARIOS[scenario]))
    merged.update(json.loads(json.dumps(extra)))
    merged.update(params or {})
    return scenario, merged


def _current_task_set(service: Any) -> Any:
    sets = list(service.task_sets or [])
    primary = [ts for ts in sets if getattr(ts, "status", "") == "PRIMARY"]
    if primary:
        return primary[0]
    if len(sets) == 1:
        return sets[0]
    raise ValueError(f"service {service.name} has no PRIMARY task set to put an incident on")


def _apply(sim: scenarios.TaskSim, scenario: str, params: dict[str, Any], now: datetime) -> None:
    """Make a running task behave as `scenario` from `now` on."""
    sim.scenario, sim.params = scenario, dict(params)
    sim.served, sim.warned_memory = 0, False
    sim.crash_at = sim.unhealthy_at = sim.health_fail_at = None
    if not sim.alive:
        return
    if scenario == "crash-loop":
        sim.crash_at = now + timedelta(seconds=float(params.get("crash_after_seconds", 6)))
    if scenario in scenarios.HEALTH_FAILING:
        interval, _, unhealthy_n = scenarios.health_config(sim.account, sim.region,
                                                           (sim.target_group_arns or [None])[0])
        sim.next_health_check = now + timedelta(seconds=interval)
        sim.unhealthy_at = now + timedelta(seconds=interval * unhealthy_n)
        lag = float(scenarios.setting("ecs_unhealthy_replace_seconds", 15))
        sim.health_fail_at = sim.unhealthy_at + timedelta(seconds=lag)


def put_incident(cluster: str, service_name: str, incident: str, params: dict[str, Any] | None,
                 account: str | None = None, region: str | None = None) -> dict[str, Any]:
    scenario, merged = _merged(incident, params)
    now = get_clock().now()
    for acc, regions in list(get_backend("ecs").items()):
        for reg, backend in list(regions.items()):
            if (account and acc != account) or (region and reg != region):
                continue
            svc = next((s for s in backend.services.values()
                        if s.name == service_name and s.cluster_name == cluster.split("/")[-1]), None)
            if svc is None:
                continue
            task_set = _current_task_set(svc)
            with _lock:
                _ON_TASK_SET[task_set.id] = (scenario, merged)
            touched = []
            for sim in scenarios.sims_of_task_set(task_set.id):
                if sim.task.desired_status == "RUNNING":
                    _apply(sim, scenario, merged, now)
                    touched.append(sim.task_id)
            return {"incident": incident, "scenario": scenario, "params": merged, "task_set": task_set.id,
                    "tasks": touched, "at": now.isoformat()}
    raise ValueError(f"no service {service_name!r} in cluster {cluster!r}")


def _on_launch(sim: scenarios.TaskSim) -> None:
    """A replacement task of a task set with an incident gets the incident's scenario."""
    with _lock:
        found = _ON_TASK_SET.get(sim.task_set_id)
    if found is not None:
        sim.scenario, sim.params = found[0], dict(found[1])


scenarios.LAUNCH_HOOKS.append(_on_launch)


@registry.route("POST", "/_localaws/incident")
def _incident_route(method: str, path: str, query: dict, body: bytes):
    try:
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        result = put_incident(str(data.get("cluster") or ""), str(data.get("service") or ""),
                              str(data.get("incident") or ""), data.get("params") or {},
                              data.get("account"), data.get("region"))
    except ValueError as exc:
        return 400, {"Content-Type": "application/json"}, {"error": str(exc)}
    return 200, {"Content-Type": "application/json"}, result


def reset() -> None:
    with _lock:
        _ON_TASK_SET.clear()
