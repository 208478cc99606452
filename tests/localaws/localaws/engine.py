"""The engine: the lock over the simulated AWS state and the one loop that moves it on.

moto's backends are not thread-safe, and the simulation changes them from a background
thread while the server's threads answer API requests. One re-entrant lock, LOCK,
serialises the two. This module owns it: the modules below (scenarios, codedeploy,
traffic) never take it themselves. They expose step functions and name their entry
points that touch the shared state, and on import the engine

- wraps the ECS backend methods in scenarios.SHARED_STATE_METHODS and the CodeDeploy
  response methods in codedeploy.RESPONSE_METHODS with LOCK,
- registers the reset hooks of scenarios and traffic, run under LOCK,
- registers `_engine`, the background loop that calls `tick()`: the simulated ECS
  tasks first, then the deployments, then the traffic, each step under LOCK (released
  in between so API requests are answered between the steps); between ticks it waits
  two emulated seconds, kept within 0.03–0.25 real seconds.

Callers above the engine that change the same state outside the loop (provision.py)
take LOCK themselves.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import traceback
from datetime import datetime
from typing import Any, Callable, Iterable

from moto.codedeploy import responses as cd_responses
from moto.ecs import models as ecs_models
from moto.elbv2 import models as elb_models

from . import codedeploy, incidents, insights, registry, scenarios, targets, traffic
from .clock import get_clock

LOCK = threading.RLock()


def locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` run under LOCK (keeps fn's name and attributes)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return fn(*args, **kwargs)

    wrapper._localaws_locked = True  # type: ignore[attr-defined]
    return wrapper


def _lock_methods(cls: type, names: Iterable[str]) -> None:
    for name in names:
        method = getattr(cls, name)
        # A second import of this module must not wrap the wrappers again.
        if not getattr(method, "_localaws_locked", False):
            setattr(cls, name, locked(method))


_lock_methods(ecs_models.EC2ContainerServiceBackend, scenarios.SHARED_STATE_METHODS)
_lock_methods(cd_responses.CodeDeployResponse, codedeploy.RESPONSE_METHODS)
registry.on_reset(locked(scenarios.reset))
registry.on_reset(locked(traffic.reset))
# Target health, Container Insights and incidents (targets.py, insights.py, incidents.py).
_lock_methods(elb_models.ELBv2Backend, targets.SHARED_STATE_METHODS)
incidents.put_incident = locked(incidents.put_incident)
registry.on_reset(locked(insights.reset))
registry.on_reset(locked(incidents.reset))


def tick(now: datetime) -> None:
    """One step of the simulation at emulated time `now`.

    Tasks come first so that a deployment sees the task sets as of `now`; traffic comes
    last so that requests follow the listener weights the deployments just set."""
    with LOCK:
        scenarios.tick(now)
    with LOCK:
        codedeploy.tick(now)
    with LOCK:
        traffic.tick(now)
    with LOCK:
        insights.tick(now)


_last_error = [0.0]


@registry.background
def _engine(stop_event: threading.Event) -> None:
    """The emulator's one simulation loop (started and stopped by the server)."""
    while not stop_event.is_set():
        clock = get_clock()
        now = clock.now()
        try:
            tick(now)
        except Exception:  # noqa: BLE001 - keep the loop alive, report at most every 5 s
            if time.monotonic() - _last_error[0] > 5:
                _last_error[0] = time.monotonic()
                print("localaws: engine tick failed", file=sys.stderr)
                traceback.print_exc()
        stop_event.wait(max(0.03, min(0.25, clock.real_seconds(2.0))))
