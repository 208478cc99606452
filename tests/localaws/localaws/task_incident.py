"""An incident on ONE running task (where `/_localaws/incident` puts one on a whole
task set): the task behaves as the incident's scenario from now on; its replacement
does not. What `remediate` is for: one bad task among healthy ones.

`POST /_localaws/task-incident {"cluster", "task", "incident", "params"?, "ecs_replaces"?}`
— `task` is a task id or ARN; `ecs_replaces` false (the default) keeps the ECS
scheduler from stopping the task for its failed health checks, as while the service's
health-check grace period lasts, so what stops it is what the test runs. Answer:
`{"task", "incident", "scenario", "params", "at"}`; an unknown task or incident → 400.
"""

from __future__ import annotations

import json
from typing import Any

from . import engine, incidents, registry, scenarios
from .clock import get_clock


def put_task_incident(cluster: str, task: str, incident: str, params: dict[str, Any] | None,
                      ecs_replaces: bool = False) -> dict[str, Any]:
    scenario, merged = incidents._merged(incident, params)
    task_id = task.rsplit("/", 1)[-1]
    sim = next((s for s in scenarios.SIMS.values()
                if s.task_id == task_id and (not cluster or s.cluster == cluster.rsplit("/", 1)[-1])), None)
    if sim is None or sim.task.desired_status != "RUNNING":
        raise ValueError(f"no running task {task!r} in cluster {cluster!r}")
    now = get_clock().now()
    incidents._apply(sim, scenario, merged, now)
    if not ecs_replaces:
        sim.health_fail_at = None
    return {"task": sim.task_id, "incident": incident, "scenario": scenario, "params": merged,
            "at": now.isoformat()}


# The simulated tasks are the engine's: change them under its lock.
put_task_incident = engine.locked(put_task_incident)


@registry.route("POST", "/_localaws/task-incident")
def _route(method: str, path: str, query: dict, body: bytes):
    try:
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        result = put_task_incident(str(data.get("cluster") or ""), str(data.get("task") or ""),
                                   str(data.get("incident") or ""), data.get("params") or {},
                                   bool(data.get("ecs_replaces", False)))
    except ValueError as exc:
        return 400, {"Content-Type": "application/json"}, {"error": str(exc)}
    return 200, {"Content-Type": "application/json"}, result
