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
    # --- timing of the signals (see TIMING below; the defaults are the fast profile) ---
    # "fast" or "realistic": the profile last applied (setting `timing` applies one).
    "timing": "fast",
    # A minute's ALB metrics are put this long after the minute ends (uniform between
    # min and max, drawn per minute).
    "alb_metrics_delay_min_seconds": 0,
    "alb_metrics_delay_max_seconds": 0,
    # When the newest periods of an alarm's window hold no data yet, evaluation looks
    # back up to this many periods for the newest ones that do (AWS's evaluation range).
    "alarm_eval_lookback_periods": 0,
    # awslogs ships a task's lines in batches every this many seconds; a line becomes
    # visible to FilterLogEvents when its batch is ingested (0: at once).
    "awslogs_batch_seconds": 0,
    # ...and ingested this long after its batch was shipped.
    "awslogs_ingest_seconds": 0,
}

# Timing profiles. "fast" is the emulator's historical behaviour, which keeps tests
# short; "realistic" is AWS's timing as documented or, where AWS publishes no figure,
# as assumed here (README.md, "Realistic timing"). Setting `timing` applies a profile;
# keys given in the same update override it.
TIMING: dict[str, dict[str, Any]] = {
    "fast": {
        "alarm_eval_seconds": 10,
        "alb_metrics_delay_min_seconds": 0,
        "alb_metrics_delay_max_seconds": 0,
        "alarm_eval_lookback_periods": 0,
        "awslogs_batch_seconds": 0,
        "awslogs_ingest_seconds": 0,
        "traffic_slice_seconds": 5,
    },
    "realistic": {
        # Alarms with periods of 60 s or more are evaluated once a minute.
        "alarm_eval_seconds": 60,
        # ALB metrics for a minute appear 1–1.5 minutes after it ends (assumption).
        "alb_metrics_delay_min_seconds": 60,
        "alb_metrics_delay_max_seconds": 90,
        "alarm_eval_lookback_periods": 3,
        # The awslogs driver flushes every 5 s; ingestion then takes ~3 s (assumption),
        # so a line is searchable 3–8 s after it was written.
        "awslogs_batch_seconds": 5,
        "awslogs_ingest_seconds": 3,
        # Requests are generated after their slice of time ends: short slices keep a
        # line's write close to its timestamp.
        "traffic_slice_seconds": 1,
    },
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
    timing = changes.get("timing")
    if timing is not None:
        if timing not in TIMING:
            raise ValueError(f"timing must be one of {', '.join(sorted(TIMING))}")
        changes = {**TIMING[timing], **changes}
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
    if float(changes.get("alb_metrics_delay_min_seconds", get("alb_metrics_delay_min_seconds") or 0)) > \
            float(changes.get("alb_metrics_delay_max_seconds", get("alb_metrics_delay_max_seconds") or 0)):
        raise ValueError("alb_metrics_delay_min_seconds must not exceed alb_metrics_delay_max_seconds")
    with _lock:
        _values.update(changes)
    return snapshot()


def reset() -> None:
    """Back to the defaults (the clock's time scale is left as it is)."""
    with _lock:
        _values.clear()
        _values.update(DEFAULTS)
