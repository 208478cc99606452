"""A timeline of what the emulator saw, for measuring clients against each other.

Every AWS request (operation and the client's User-Agent product), every CodeDeploy
deployment status change, every StopDeployment request and every alarm state change is
recorded with the real wall-clock time (epoch seconds) and the emulated time. A
benchmark reads it with `GET /_localaws/timeline?since=<seq>` and can then say, for
example, how long after an alarm entered ALARM a client asked to stop the deployment,
in real seconds, whatever the time scale. Bounded: the oldest entries are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from . import clock

MAX_ENTRIES = 200_000


class Timeline:
    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0

    def record(self, kind: str, **fields: Any) -> None:
        real = time.time()
        emulated = clock.get_clock().now().timestamp()
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, "kind": kind, "real": real, "emulated": emulated, **fields})

    def since(self, seq: int = 0) -> dict[str, Any]:
        with self._lock:
            items = [e for e in self._entries if e["seq"] > seq]
            return {"entries": items, "last": self._seq, "real_now": time.time()}

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


TIMELINE = Timeline()


def user_agent_product(environ: dict) -> str:
    """The first product of the client's User-Agent (`aws-cli/1.46.3`, `aws-sdk-rust/1.3.9`)."""
    ua = environ.get("HTTP_USER_AGENT") or environ.get("HTTP_X_AMZ_USER_AGENT") or ""
    first = ua.split(" ", 1)[0]
    return first[:80]
