"""Background errors: the old, known failures every version of the service has.

A real service is rarely at zero errors: a flaky downstream fails a small share of
requests whatever release runs. This module gives the simulated app such a failure,
on blue and green alike, so that a report can tell an error the release brought (new
in green) from one that was there before (also in blue).

The background failure is a call to a recommendations service from
`GET /api/products` that times out. By default the app handles it: it logs the error
at level 50 (pino `error`) and still answers 200 without recommendations, so the
load balancer's 5xx alarm does not fire on blue alone (the sample stack's alarm fires
on a single 5xx). `background_error_status` ≥ 500 makes the request fail instead.

Settings (POST /_localaws/config), read on every request; a scenario's params of the
same names override them for the tasks of that image:

- `background_error_rate`: share (0–1) of the route's requests that hit the failure;
- `background_error_route`: `METHOD /route` it applies to;
- `background_error_status`: the answer when it does (200: handled, logged as error).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from . import settings
from .scenarios import register_defaults
from .workload import Outcome, pino, write_logs

register_defaults({
    "background_error_rate": 0.0,
    "background_error_route": "GET /api/products",
    "background_error_status": 200,
})

MESSAGE = "Recommendations request timed out after 800ms"
URL = "http://recommendations.internal:8080/v2/recommendations"

_rng = random.Random()


def _param(sim: Any, key: str) -> Any:
    value = (getattr(sim, "params", None) or {}).get(key)
    return settings.get(key) if value is None else value


def outcome(sim: Any, method: str, route: str) -> Outcome | None:
    """The background failure for this request, or None when it does not hit."""
    rate = float(_param(sim, "background_error_rate") or 0.0)
    if rate <= 0 or _param(sim, "background_error_route") not in (f"{method} {route}", route):
        return None
    if _rng.random() >= rate:
        return None
    status = int(_param(sim, "background_error_status") or 200)
    return Outcome(status, _rng.uniform(805, 830), {
        "kind": "http", "message": MESSAGE, "url": URL, "upstream_status": 504, "background": True})


def log_handled(sim: Any, at: datetime, outcome: Outcome, trace_id: str, span_id: str) -> None:
    """The error line of a background failure the app answered without a 5xx (a 5xx
    answer is logged by the request itself, as `request errored`)."""
    failure = outcome.failure or {}
    if not failure.get("background") or outcome.status >= 500:
        return
    end_ms = int(at.timestamp() * 1000 + outcome.duration_ms)
    err = {"type": "AxiosError", "message": MESSAGE,
           "stack": (f"AxiosError: {MESSAGE}\n"
                     "    at RedirectableRequest.handleRequestTimeout (/app/node_modules/axios/lib/adapters/http.js:647:16)\n"
                     "    at async RecommendationsClient.forProducts (/app/src/clients/recommendations.js:22:18)\n"
                     "    at async listProducts (/app/src/routes/products.js:31:25)"),
           "code": "ECONNABORTED"}
    write_logs(sim, [pino(sim, end_ms, 50, "recommendations unavailable, answering without them", err=err,
                          trace_id=trace_id, span_id=span_id, trace_flags="01")])
