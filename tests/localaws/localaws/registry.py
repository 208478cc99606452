"""Extension points that the emulator's modules register into.

server.py owns the WSGI app; other modules add HTTP routes (the control API under
/_localaws/ and the Jaeger query API), background loops and reset hooks here, so no
module has to import the server and the server does not need to know every feature.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

# A route handler receives (method, path, query: dict[str, list[str]], body: bytes)
# and returns (status: int, headers: dict[str, str], body: bytes | str | dict | list).
# dict/list bodies are sent as JSON. A handler registered with `endpoint=True` also
# receives the keyword argument `endpoint`: the base URL of the server that received
# the request (for answers that point clients back at the emulator).
Handler = Callable[..., tuple]


@dataclass
class Route:
    method: str
    prefix: str
    handler: Handler
    endpoint: bool = False


ROUTES: list[Route] = []
# Background loops: called once with a threading.Event that is set when the server stops.
BACKGROUND: list[Callable[[threading.Event], None]] = []
# Called on POST /moto-api/reset and /_localaws/reset, after moto's own reset.
RESET_HOOKS: list[Callable[[], None]] = []


def route(method: str, prefix: str, endpoint: bool = False):
    """Register a handler for requests whose path starts with `prefix`."""

    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method.upper(), prefix, fn, endpoint))
        return fn

    return deco


def background(fn: Callable[[threading.Event], None]):
    BACKGROUND.append(fn)
    return fn


def on_reset(fn: Callable[[], None]):
    RESET_HOOKS.append(fn)
    return fn
