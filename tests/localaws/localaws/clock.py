"""Scaled emulated time shared by every part of the emulator.

One emulated minute lasts `seconds_per_minute` real seconds, so a ten-minute linear
deployment can finish in ten seconds. Emulated time starts at the real time when the
clock is created and then runs faster; every timestamp the emulator hands out (API
fields, metric datapoints, log events, alarm history) comes from here so they stay
consistent with each other.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, seconds_per_minute: float = 60.0, start: datetime | None = None) -> None:
        if seconds_per_minute <= 0:
            raise ValueError("seconds_per_minute must be positive")
        self.seconds_per_minute = float(seconds_per_minute)
        self._real0 = time.monotonic()
        # `start` lets a new time scale continue from an existing clock's emulated
        # time instead of jumping back to the real time.
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._emu0 = start if start is not None else datetime.now(timezone.utc)

    @property
    def factor(self) -> float:
        """Emulated seconds per real second."""
        return 60.0 / self.seconds_per_minute

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._real0
        return self._emu0 + timedelta(seconds=elapsed * self.factor)

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def real_seconds(self, emulated_seconds: float) -> float:
        """How long `emulated_seconds` of emulated time lasts in real time."""
        return emulated_seconds / self.factor

    def sleep(self, emulated_seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep for an emulated duration; returns True if `stop` was set meanwhile."""
        delay = max(0.0, self.real_seconds(emulated_seconds))
        if stop is None:
            time.sleep(delay)
            return False
        return stop.wait(delay)


_clock = Clock()
_lock = threading.Lock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    with _lock:
        _clock = clock


def rescale(seconds_per_minute: float) -> Clock:
    """Switch to a new time scale without moving emulated time backwards."""
    with _lock:
        current = _clock
    clock = Clock(seconds_per_minute, start=current.now())
    set_clock(clock)
    return clock
