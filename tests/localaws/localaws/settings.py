"""Run-time settings of the emulator, shared by all of its modules.

Values are emulated seconds unless a key says otherwise. They can be changed while
the server runs with `POST /_localaws/config`; modules read them on every use (never
cache them at import time) so a change takes effect at once. `seconds_per_minute` is
not stored here: it lives in the clock (see clock.py) and is exposed through get().
"""

from __future__ import annotations

import threading
from typing import Any

from . import clock

DEFAULTS: dict[str, Any] = {
    # How often CodeDeploy polls a deployment group's alarms.
    "alarm_poll_seconds": 20,
    # How often every metric alarm is evaluated from metric data.
    "alarm_eval_seconds": 10,
    # False pauses the evaluation loop (alarms then change only by SetAlarmState).
    "alarm_evaluation": True,
    # After SetAlarmState, evaluation leaves the alarm alone for this long. AWS
    # re-evaluates at the next evaluation (0), which at a high time scale can be a
    # fraction of a real second; a demo may want a manual ALARM to stay visible.
    "alarm_manual_hold_seconds": 0,
    # FilterLogEvents page limits (AWS: 10,000 events or about 1 MB).
    "logs_max_page_events": 10000,
    "logs_max_page_bytes": 1048576,
    # Region and account that the control API and background work use by default.
    "region": "us-east-1",
    "account_id": "123456789012",
}

_lock = threading.Lock()
_values: dict[str, Any] = dict(DEFAULTS)


def get(key: str, default: Any = None) -> Any:
    if key == "seconds_per_minute":
        return clock.get_clock().seconds_per_minute
    with _lock:
        return _values.get(key, default)


def snapshot() -> dict[str, Any]:
    with _lock:
        values = dict(_values)
    values["seconds_per_minute"] = clock.get_clock().seconds_per_minute
    return values


def update(changes: dict[str, Any]) -> dict[str, Any]:
    """Apply changes; `seconds_per_minute` rescales the clock. Returns all settings."""
    changes = dict(changes)
    spm = changes.pop("seconds_per_minute", None)
    if spm is not None:
        spm = float(spm)
        if spm <= 0:
            raise ValueError("seconds_per_minute must be positive")
        clock.rescale(spm)
    for key, value in changes.items():
        if key in DEFAULTS and isinstance(DEFAULTS[key], bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
        elif key in DEFAULTS and isinstance(DEFAULTS[key], (int, float)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
    with _lock:
        _values.update(changes)
    return snapshot()


def reset() -> None:
    """Back to the defaults (the clock's time scale is left as it is)."""
    with _lock:
        _values.clear()
        _values.update(DEFAULTS)
