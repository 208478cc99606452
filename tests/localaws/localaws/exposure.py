"""Exposure ground truth: how many requests each task set of a deployment answered, and
how many of them with a 5xx, over time.

traffic.py counts every request routed to a task set (EXPOSURE, per slice of emulated
time); this module maps a CodeDeploy deployment to its blue and green task sets and
serves the counts at `GET /_localaws/exposure?deployment=<id>`. A benchmark reads the
green task set's 5xx count as the number of user requests that reached the bad release
before traffic went back to blue (after the rollback green receives no requests, so
the total is that number).
"""

from __future__ import annotations

from typing import Any

from moto.backends import get_backend

from . import codedeploy, registry, traffic


def _task_set_view(ts_id: str | None) -> dict[str, Any] | None:
    if not ts_id:
        return None
    e = traffic.EXPOSURE.get(ts_id) or traffic.Exposure()
    return {
        "task_set": ts_id,
        "requests": e.requests,
        "errors": e.errors,
        "first_error_emulated": e.first_error_emulated,
        "first_error_real": e.first_error_real,
        "series": [{"t": t, "requests": c[0], "errors": c[1]} for t, c in sorted(e.series.items())],
    }


def _find(deployment_id: str) -> Any:
    for _, regions in list(get_backend("codedeploy").items()):
        for _, backend in list(regions.items()):
            dep = backend.deployments.get(deployment_id)
            if dep is not None:
                return dep
    return None


def for_deployment(deployment_id: str) -> dict[str, Any] | None:
    """Blue and green of a deployment with what each answered; None if it is unknown."""
    dep = _find(deployment_id)
    if dep is None:
        return None
    sim = codedeploy._sim(dep)
    out: dict[str, Any] = {"deployment": deployment_id, "status": dep.status,
                           "blue": None, "green": None}
    if sim is not None:
        out["blue"] = _task_set_view(sim.blue_ts)
        out["green"] = _task_set_view(sim.green_ts)
        out["rollback_of"] = sim.rollback_of
    return out


@registry.route("GET", "/_localaws/exposure")
def _exposure_route(method: str, path: str, query: dict, body: bytes):
    dep_id = (query.get("deployment") or [""])[0]
    if not dep_id:
        views = {ts: _task_set_view(ts) for ts in sorted(traffic.EXPOSURE)}
        return 200, {"Content-Type": "application/json"}, {"task_sets": views}
    result = for_deployment(dep_id)
    if result is None:
        return 404, {"Content-Type": "application/json"}, {"error": f"no deployment {dep_id}"}
    return 200, {"Content-Type": "application/json"}, result
