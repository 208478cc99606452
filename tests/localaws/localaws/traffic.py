"""Simulated production traffic through the ALB of every CodeDeploy ECS deployment group.

Every few emulated seconds a share of the configured requests per minute arrives at
the production listener, is split between the target groups by the listener's forward
weights (which CodeDeploy shifts), and lands on a task that is in service in that
target group. The task's scenario decides the answer. Each request leaves what the
real system would leave:

- a pino JSON line in the task's awslogs stream (`request completed` at level 30, or
  `request errored` at level 50 with `err`), carrying `trace_id`/`span_id`;
- a trace in traces.py (server span → Express handler → pg / HTTP client spans);
- per emulated minute, `AWS/ApplicationELB` metrics (RequestCount,
  HTTPCode_Target_2XX/5XX_Count, HTTPCode_ELB_5XX/502/503_Count, TargetResponseTime,
  Healthy/UnHealthyHostCount) for the dimension sets `LoadBalancer` and
  `LoadBalancer`+`TargetGroup`, with timestamps at the start of the minute. Like the
  ALB, zero error counts are not published.

Requests that reach a container which has just died (OOM kill) get a 502 from the
load balancer itself (no log line, no trace); a target group without any registered
target answers 503.

Traffic level and background errors: a site's requests per minute come from the
scenario of its newest task set that names `requests_per_minute`, else the stack's
provisioned rate, else the setting `traffic_requests_per_minute`. Its background error
rate, applied on every colour alike, is the largest of the `background_error_rate` of
the scenarios running there, the stack's provisioned one and the setting
`traffic_background_error_rate`. A background error is a failure of a dependency that
both releases share (GET /api/products → pricing service, 502), so it differs by route
and message from a scenario's own failures: a report can tell "also in blue" from
"new in green".

Exposure: every request routed to a task set is counted per task set (answered, and
answered with a 5xx by the task or by the load balancer in its name), in slices of
emulated time; exposure.py serves the counts per deployment.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moto.backends import get_backend

from . import scenarios, traces
from .clock import get_clock
from .scenarios import TaskSim, setting
from .workload import ORDERS_SELECT, STATEMENTS, Outcome, pino, serve, write_logs

scenarios.register_defaults({
    # Total requests per emulated minute arriving at each service's production listener.
    "traffic_requests_per_minute": 90,
    # Requests are generated in slices of this many emulated seconds.
    "traffic_slice_seconds": 5,
    # Share of all requests failing for a reason common to both colours (0 = none).
    "traffic_background_error_rate": 0.0,
})

# The shared dependency whose failures make the background errors.
BACKGROUND_ROUTE = ("GET", "/api/products")
BACKGROUND_FAILURE = {"kind": "http", "message": "Request failed with status code 504",
                      "url": "http://pricing.internal:8080/v1/prices", "upstream_status": 504}

# (method, route template, share of traffic)
ROUTES = [
    ("GET", "/api/orders", 0.45),
    ("GET", "/api/orders/:id", 0.15),
    ("POST", "/api/orders", 0.10),
    ("GET", "/api/products", 0.30),
]

_rng = random.Random()


@dataclass
class Site:
    """One service behind one production listener."""

    account: str
    region: str
    cluster: str
    service: str
    listener_arn: str
    lb_arn: str
    tg_arns: list[str]
    next_slice: datetime | None = None
    carry: float = 0.0
    buckets: dict[datetime, dict[str, dict[str, float]]] = field(default_factory=dict)
    # minute -> its publication delay (alb_metrics_delay_*), drawn once
    delays: dict[datetime, float] = field(default_factory=dict)


SITES: dict[tuple[str, str, str, str], Site] = {}
# per-site overrides of the request rate: (account, region, cluster, service) -> rpm
RATE_OVERRIDES: dict[tuple[str, str, str, str], float] = {}
# per-site background error rates from provisioning, same keys
BACKGROUND_OVERRIDES: dict[tuple[str, str, str, str], float] = {}


@dataclass
class Exposure:
    """What one task set answered: totals and per slice of emulated time."""

    requests: int = 0
    errors: int = 0
    first_error_real: float | None = None
    first_error_emulated: float | None = None
    # slice start (epoch seconds, emulated) -> [requests, 5xx]
    series: dict[float, list[int]] = field(default_factory=dict)


# task set id -> what it answered
EXPOSURE: dict[str, Exposure] = {}


def _expose(ts_id: str, at: datetime, slice_start: datetime, failed: bool) -> None:
    e = EXPOSURE.setdefault(ts_id, Exposure())
    e.requests += 1
    cell = e.series.setdefault(slice_start.timestamp(), [0, 0])
    cell[0] += 1
    if failed:
        e.errors += 1
        cell[1] += 1
        if e.first_error_emulated is None:
            e.first_error_emulated = at.timestamp()
            # Real time of the request, so a benchmark can compare with the timeline.
            clock = get_clock()
            e.first_error_real = time.time() - clock.real_seconds((clock.now() - at).total_seconds())


# ---------------------------------------------------------------------------
# Request outcomes per scenario


def _route_url(method: str, route: str) -> str:
    if route == "/api/orders/:id":
        return f"/api/orders/{_rng.randint(1000, 99999)}"
    if route == "/api/orders" and method == "GET":
        return f"/api/orders?customerId={_rng.randint(1, 5000)}"
    return route


def _ok_duration(route: str) -> float:
    base = {"/api/products": 12.0, "/api/orders": 28.0, "/api/orders/:id": 9.0}.get(route, 20.0)
    return max(1.0, _rng.lognormvariate(0, 0.35) * base)


def outcome_for(sim: TaskSim, method: str, route: str, background: float = 0.0) -> Outcome:
    """The answer of `sim` to one request; `background` is the site's background error rate."""
    key = f"{method} {route}"
    params = sim.params
    if sim.scenario in scenarios.FAILING_SCENARIOS:
        for spec in params.get("failures") or []:
            if spec.get("route") in (key, route) and _rng.random() < float(spec.get("rate", 0)):
                kind = spec.get("kind", "pg")
                if kind == "http":
                    return Outcome(int(spec.get("status", 502)), _rng.uniform(30, 120), {
                        "kind": "http", "message": spec.get("message", "Request failed with status code 503"),
                        "url": spec.get("url", "http://inventory.internal:8080/v1/stock"),
                        "upstream_status": int(spec.get("upstream_status", 503))})
                return Outcome(int(spec.get("status", 500)), _rng.uniform(3, 25), {
                    "kind": "pg", "stage": spec.get("stage", "connect"),
                    "message": spec.get("message", "Database connection refused"),
                    "statement": STATEMENTS.get(key, ORDERS_SELECT)})
    if sim.scenario == "route-5xx" and route.startswith("/api/") and _rng.random() < float(params.get("rate", 0.6)):
        return Outcome(500, _rng.uniform(2, 8), {"kind": "app", "type": params.get("error_type", "TypeError"),
                                                 "message": params.get("message", "")})
    if sim.scenario == "latency" and params.get("route") in (key, route):
        slow = float(params.get("downstream_ms", 7000)) * _rng.uniform(0.9, 1.2)
        return Outcome(201 if method == "POST" else 200, _ok_duration(route) + slow,
                       downstream={"url": params.get("downstream_url", "http://inventory.internal:8080/v1/stock"),
                                   "duration_ms": slow})
    if sim.scenario == "hook-fail" and key == "GET /api/orders":
        return Outcome(500, _rng.uniform(4, 15), _hook_fail_failure(params))
    if background > 0 and (method, route) == BACKGROUND_ROUTE:
        # The rate applies to all requests; only this route fails, so it is scaled up.
        share = next(s for m, r, s in ROUTES if (m, r) == BACKGROUND_ROUTE)
        if _rng.random() < min(1.0, background / share):
            return Outcome(502, _rng.uniform(2000, 5000), dict(BACKGROUND_FAILURE))
    status = 201 if method == "POST" else 200
    return Outcome(status, _ok_duration(route))


def _hook_fail_failure(params: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "pg", "stage": "query", "message": params.get("message", 'relation "orders_v2" does not exist'),
            "statement": "SELECT id, customer_id, status, total_cents FROM orders_v2 WHERE customer_id = $1 "
                         "ORDER BY created_at DESC LIMIT 50",
            "code": "42P01"}


def smoke_test(green: list[TaskSim], at: datetime, function: str) -> tuple[bool, str, str]:
    """A lifecycle-hook function's smoke test through the test route against green tasks.

    Returns (passed, message, log tail of the function)."""
    targets = [s for s in green if s.alive] or green
    lines = [f"START RequestId: {traces.new_span_id()[:8]}-smoke Version: $LATEST",
             f"smoke test: GET /api/orders?limit=1 against the replacement task set"]
    if not targets:
        return False, "no replacement task is running", "\n".join(lines)
    sim = targets[0]
    hook = sim.scenario == "hook-fail"
    for i in range(3):
        outcome = outcome_for(sim, "GET", "/api/orders")
        if hook:
            outcome = Outcome(500, _rng.uniform(4, 15), _hook_fail_failure(sim.params))
        trace_id, _ = serve(sim, at + timedelta(seconds=i), "GET", "/api/orders", "/api/orders?limit=1", outcome,
                            user_agent="axios/1.7.7 (codedeploy-hook)")
        lines.append(f"GET /api/orders?limit=1 -> {outcome.status} (trace {trace_id})")
        if outcome.status >= 500:
            lines.append(f"ERROR smoke test failed: expected 200, got {outcome.status}")
            lines.append(f"putLifecycleEventHookExecutionStatus status=Failed ({function})")
            return False, f"expected 200 from GET /api/orders?limit=1, got {outcome.status}", "\n".join(lines)
    lines.append(f"putLifecycleEventHookExecutionStatus status=Succeeded ({function})")
    return True, "smoke test passed", "\n".join(lines)


# ---------------------------------------------------------------------------
# Sites and the per-slice simulation


def _discover() -> None:
    """One Site per CodeDeploy ECS deployment group with a production listener."""
    seen = set()
    for account, regions in list(get_backend("codedeploy").items()):
        for region, cd in list(regions.items()):
            for groups in list(cd.deployment_groups.values()):
                for dg in list(groups.values()):
                    services = dg.ecs_services or []
                    pairs = (dg.load_balancer_info or {}).get("targetGroupPairInfoList") or []
                    if not services or not pairs:
                        continue
                    listeners = ((pairs[0].get("prodTrafficRoute") or {}).get("listenerArns") or [])
                    if not listeners:
                        continue
                    svc = services[0]
                    key = (account, region, svc.get("clusterName", ""), svc.get("serviceName", ""))
                    seen.add(key)
                    if key in SITES:
                        continue
                    elb = get_backend("elbv2")[account][region]
                    names = [tg.get("name") for tg in pairs[0].get("targetGroups") or []]
                    tg_arns = [tg.arn for tg in elb.target_groups.values() if tg.name in names]
                    listener_arn = listeners[0]
                    lb_arn = ""
                    for lb in elb.load_balancers.values():
                        if listener_arn in lb.listeners:
                            lb_arn = lb.arn
                    if not lb_arn:
                        continue
                    SITES[key] = Site(account, region, key[2], key[3], listener_arn, lb_arn, tg_arns)
    for key in list(SITES):
        if key not in seen:
            SITES.pop(key, None)


def listener_weights(account: str, region: str, listener_arn: str) -> dict[str, float]:
    """Target group ARN -> weight share (0..1) from the listener's default forward action."""
    elb = get_backend("elbv2")[account][region]
    listener = None
    for lb in elb.load_balancers.values():
        listener = lb.listeners.get(listener_arn) or listener
    if listener is None:
        return {}
    for action in listener.default_actions:
        data = action.data
        if data.get("Type") != "forward":
            continue
        fc = data.get("ForwardConfig") or {}
        groups = fc.get("TargetGroups") or []
        if groups:
            total = sum(float(g.get("Weight", 1)) for g in groups)
            if total <= 0:
                return {}
            return {g["TargetGroupArn"]: float(g.get("Weight", 1)) / total for g in groups}
        if data.get("TargetGroupArn"):
            return {data["TargetGroupArn"]: 1.0}
    return {}


def _task_sets_by_tg(account: str, region: str, cluster: str, service: str) -> dict[str, Any]:
    backend = get_backend("ecs")[account][region]
    svc = backend.services.get(f"{cluster}:{service}")
    result: dict[str, Any] = {}
    if svc is None:
        return result
    for ts in svc.task_sets:
        for lb in ts.load_balancers or []:
            arn = lb.get("targetGroupArn")
            if arn and (arn not in result or ts.status != "DRAINING"):
                result[arn] = ts
    return result


def _dims(site: Site, tg_arn: str | None) -> list[dict[str, str]]:
    lb_dim = site.lb_arn.split(":loadbalancer/", 1)[-1]
    dims = [{"Name": "LoadBalancer", "Value": lb_dim}]
    if tg_arn:
        dims.append({"Name": "TargetGroup", "Value": tg_arn.split(":", 5)[-1]})
    return dims


def _count(site: Site, minute: datetime, tg_arn: str | None, metric: str, value: float = 1.0) -> None:
    bucket = site.buckets.setdefault(minute, {})
    for key in ("", tg_arn or ""):
        if key == "" or tg_arn:
            bucket.setdefault(key, {}).setdefault(metric, 0.0)
            bucket[key][metric] += value
        if not tg_arn:
            break


def _response_time(site: Site, minute: datetime, tg_arn: str | None, seconds: float) -> None:
    bucket = site.buckets.setdefault(minute, {})
    for key in ("", tg_arn or ""):
        stats = bucket.setdefault(key, {})
        stats["_rt_sum"] = stats.get("_rt_sum", 0.0) + seconds
        stats["_rt_n"] = stats.get("_rt_n", 0.0) + 1
        stats["_rt_min"] = min(stats.get("_rt_min", seconds), seconds)
        stats["_rt_max"] = max(stats.get("_rt_max", seconds), seconds)
        if not tg_arn:
            break


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _routes_pick() -> tuple[str, str]:
    r = _rng.random()
    acc = 0.0
    for method, route, share in ROUTES:
        acc += share
        if r < acc:
            return method, route
    return ROUTES[-1][0], ROUTES[-1][1]


def site_profile(site: Site, by_tg: dict[str, Any]) -> tuple[float, float]:
    """(requests per minute, background error rate) of a site at the moment."""
    key = (site.account, site.region, site.cluster, site.service)
    rpm = RATE_OVERRIDES.get(key, float(setting("traffic_requests_per_minute", 90)))
    background = max(BACKGROUND_OVERRIDES.get(key, 0.0), float(setting("traffic_background_error_rate", 0.0)))
    newest = None
    for ts in by_tg.values():
        for sim in scenarios.sims_of_task_set(ts.id):
            if sim.task.desired_status != "RUNNING":
                continue
            background = max(background, float(sim.params.get("background_error_rate") or 0.0))
            if sim.params.get("requests_per_minute") is not None and (newest is None or sim.created > newest[0]):
                newest = (sim.created, float(sim.params["requests_per_minute"]))
    if newest is not None:
        rpm = newest[1]
    return rpm, background


def _simulate_slice(site: Site, start: datetime, seconds: float) -> None:
    by_tg = _task_sets_by_tg(site.account, site.region, site.cluster, site.service)
    rpm, background = site_profile(site, by_tg)
    expected = rpm * seconds / 60.0 + site.carry
    n = int(expected)
    site.carry = expected - n
    if n <= 0:
        return
    weights = listener_weights(site.account, site.region, site.listener_arn)
    if not weights:
        return
    backend = get_backend("ecs")[site.account][site.region]
    svc = backend.services.get(f"{site.cluster}:{site.service}")
    arns = list(weights)
    cum = []
    acc = 0.0
    for arn in arns:
        acc += weights[arn]
        cum.append(acc)
    times = sorted(start + timedelta(seconds=_rng.uniform(0, seconds)) for _ in range(n))
    for at in times:
        r = _rng.random() * acc
        tg_arn = arns[next(i for i, c in enumerate(cum) if r <= c)] if acc > 0 else arns[0]
        minute = _minute(at)
        method, route = _routes_pick()
        _count(site, minute, tg_arn, "RequestCount")
        ts = by_tg.get(tg_arn)
        sims = scenarios.sims_of_task_set(ts.id) if ts is not None else []
        in_service = [s for s in sims if s.in_service(at)]
        # Targets that died but are not yet marked unhealthy still get requests: 502 from the ALB.
        interval, _, unhealthy_n = scenarios.health_config(site.account, site.region, tg_arn)
        zombies = [s for s in sims if s.exited_at and s.healthy_at and s.exited_at <= at
                   < s.exited_at + timedelta(seconds=interval * unhealthy_n)]
        failed = _answer(site, svc, at, minute, tg_arn, method, route, in_service, zombies, background)
        if ts is not None:
            _expose(ts.id, at, start, failed)


def _answer(site: Site, svc: Any, at: datetime, minute: datetime, tg_arn: str, method: str, route: str,
            in_service: list[TaskSim], zombies: list[TaskSim], background: float) -> bool:
    """One request routed to target group `tg_arn`: who answers it and how. True for a 5xx."""
    targets = in_service + zombies
    if not targets:
        _count(site, minute, tg_arn, "HTTPCode_ELB_5XX_Count")
        _count(site, minute, tg_arn, "HTTPCode_ELB_503_Count")
        return True
    sim = _rng.choice(targets)
    if sim in zombies:
        _count(site, minute, tg_arn, "HTTPCode_ELB_5XX_Count")
        _count(site, minute, tg_arn, "HTTPCode_ELB_502_Count")
        return True
    if sim.scenario == "oom":
        sim.served += 1
        limit = int(sim.params.get("requests_before_oom", 10))
        if not sim.warned_memory and sim.served >= max(1, limit // 2):
            sim.warned_memory = True
            write_logs(sim, [pino(sim, int(at.timestamp() * 1000), 40, "memory usage high",
                                  memory={"rssMB": 486, "heapUsedMB": 431, "limitMB": 512})])
        if sim.served >= limit:
            # The kernel kills the container mid-request: the ALB answers 502.
            scenarios.oom_kill(sim, at, svc)
            _count(site, minute, tg_arn, "HTTPCode_ELB_5XX_Count")
            _count(site, minute, tg_arn, "HTTPCode_ELB_502_Count")
            return True
    url = _route_url(method, route)
    outcome = outcome_for(sim, method, route, background)
    serve(sim, at, method, route, url, outcome)
    _response_time(site, minute, tg_arn, outcome.duration_ms / 1000.0)
    if outcome.status >= 500:
        _count(site, minute, tg_arn, "HTTPCode_Target_5XX_Count")
        return True
    _count(site, minute, tg_arn, "HTTPCode_Target_2XX_Count")
    return False


def _publish_delay(site: Site, minute: datetime) -> float:
    """Seconds after the end of `minute` at which its metrics are put (drawn once per minute)."""
    low = float(setting("alb_metrics_delay_min_seconds", 0))
    high = float(setting("alb_metrics_delay_max_seconds", 0))
    if high <= 0:
        return 0.0
    if minute not in site.delays:
        site.delays[minute] = _rng.uniform(low, max(low, high))
    return site.delays[minute]


def _flush(site: Site, now: datetime, force: bool = False) -> None:
    cw = get_backend("cloudwatch")[site.account][site.region]
    for minute in sorted(site.buckets):
        if not force and minute + timedelta(seconds=60 + _publish_delay(site, minute)) > now:
            continue
        site.delays.pop(minute, None)
        bucket = site.buckets.pop(minute)
        data = []
        for tg_key, stats in bucket.items():
            dims = _dims(site, tg_key or None)
            for metric, value in stats.items():
                if metric.startswith("_") or value <= 0:
                    continue
                data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": minute,
                             "Value": float(value), "Unit": "Count"})
            if stats.get("_rt_n"):
                data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": minute,
                             "Unit": "Seconds", "StatisticValues": {
                                 "SampleCount": stats["_rt_n"], "Sum": stats["_rt_sum"],
                                 "Minimum": stats["_rt_min"], "Maximum": stats["_rt_max"]}})
        # Host counts per target group (published every minute, even without requests).
        for tg_arn in site.tg_arns:
            if tg_arn not in _attached_tgs(site):
                continue
            ts = _task_sets_by_tg(site.account, site.region, site.cluster, site.service).get(tg_arn)
            sims = scenarios.sims_of_task_set(ts.id) if ts is not None else []
            end = minute + timedelta(seconds=60)
            healthy = sum(1 for s in sims if s.in_service(end))
            unhealthy = sum(1 for s in sims if s.alive and not s.in_service(end) and s.running_at
                            and s.running_at + timedelta(seconds=10) <= minute + timedelta(seconds=60))
            for metric, value in (("HealthyHostCount", healthy), ("UnHealthyHostCount", unhealthy)):
                data.append({"MetricName": metric, "Dimensions": _dims(site, tg_arn), "Timestamp": minute,
                             "Value": float(value), "Unit": "Count"})
        if data:
            cw.put_metric_data("AWS/ApplicationELB", data)


def _attached_tgs(site: Site) -> set[str]:
    elb = get_backend("elbv2")[site.account][site.region]
    return {arn for arn in site.tg_arns if site.lb_arn in (elb.target_groups[arn].load_balancer_arns
                                                          if arn in elb.target_groups else [])}


def tick(now: datetime) -> None:
    """Generate the requests due up to `now` and publish the metrics of finished minutes
    (one step of the engine's loop, run under its lock)."""
    slice_s = float(setting("traffic_slice_seconds", 5))
    _discover()
    for site in list(SITES.values()):
        if site.next_slice is None:
            site.next_slice = now
        # Catch up at most 10 emulated minutes (the loop may have been starved).
        if now - site.next_slice > timedelta(minutes=10):
            site.next_slice = now - timedelta(minutes=10)
        while site.next_slice + timedelta(seconds=slice_s) <= now:
            _simulate_slice(site, site.next_slice, slice_s)
            site.next_slice += timedelta(seconds=slice_s)
        _flush(site, now)


def set_rate(account: str, region: str, cluster: str, service: str, rpm: float) -> None:
    RATE_OVERRIDES[(account, region, cluster, service)] = float(rpm)


def set_background(account: str, region: str, cluster: str, service: str, rate: float) -> None:
    BACKGROUND_OVERRIDES[(account, region, cluster, service)] = float(rate)


def reset() -> None:
    """Forget every site and rate override (a reset hook that the engine registers,
    under its lock)."""
    SITES.clear()
    RATE_OVERRIDES.clear()
    BACKGROUND_OVERRIDES.clear()
    EXPOSURE.clear()
