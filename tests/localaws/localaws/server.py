"""The emulator's HTTP server: moto's WSGI app inside our own WSGI layer.

The layer answers routes registered in registry.ROUTES (the control API under
/_localaws/ and any other module's routes) before moto, counts every AWS call and
applies fault rules (faults.py), translates Smithy RPC v2 CBOR to moto's query
protocol (cbor_bridge.py), and runs registry.RESET_HOOKS after moto's own reset.
`start()` runs it in threads of the current process (for pytest fixtures and
`python -m localaws serve`) together with every registry.BACKGROUND loop.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wsgi import get_input_stream

from . import clock, faults, registry, settings
from .timeline import TIMELINE, user_agent_product

# The emulator's feature modules: importing one patches moto and registers its routes,
# loops and reset hooks in registry (the engine's loop and lock come with `engine`).
# FEATURE_MODULES are listed in the health answer, in this order.
from . import cbor_bridge, cloudwatch, codedeploy, logs, scenarios, traces, traffic, webhook
from . import engine  # registers the loop, puts the API entry points under its lock; resets take it
from . import provision as provisioning  # start() has a parameter named `provision`
from . import lambda_rt, task_incident  # noqa: F401 - register their routes
from . import exposure  # noqa: F401 - registers GET /_localaws/exposure

FEATURE_MODULES = (cloudwatch, logs, codedeploy, scenarios, traffic, traces, provisioning, webhook)


_moto_app = None
_moto_lock = threading.Lock()


def moto_app():
    """moto's own WSGI application (built once per process)."""
    global _moto_app
    with _moto_lock:
        if _moto_app is None:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

            _moto_app = DomainDispatcherApplication(create_backend_app)
        return _moto_app


def reset_all() -> None:
    """moto's reset followed by every reset hook, under the engine's lock: a simulation
    step between the two would write the old tasks' logs (recreating their log group)
    into the fresh backends."""
    from moto.moto_api._internal.models import moto_api_backend

    with engine.LOCK:
        moto_api_backend.reset()
        run_reset_hooks()


def run_reset_hooks() -> None:
    for hook in list(registry.RESET_HOOKS):
        hook()


# ---------------------------------------------------------------------------
# WSGI layer


def _read_body(environ: dict) -> bytes:
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _encode_body(body: Any) -> tuple[bytes, str | None]:
    if isinstance(body, (dict, list)):
        return json.dumps(body, default=str).encode(), "application/json"
    if isinstance(body, str):
        return body.encode(), None
    return body or b"", None


def _find_route(method: str, path: str) -> registry.Route | None:
    best = None
    for r in registry.ROUTES:
        if r.method not in (method, "*") or not path.startswith(r.prefix):
            continue
        if best is None or len(r.prefix) > len(best.prefix):
            best = r
    return best


class DroppedConnection(ConnectionResetError):
    """Raised after a socket was closed on purpose; werkzeug treats it as a client hang-up."""


class LocalAwsApp:
    def __init__(self, app) -> None:
        self.app = app
        # Base URL of the server this app is mounted in; set once the port is bound.
        self.endpoint = ""

    def __call__(self, environ: dict, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"

        route = _find_route(method, path)
        if route is not None:
            body = _read_body(environ)
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            try:
                extra = {"endpoint": self.endpoint} if route.endpoint else {}
                status, headers, payload = route.handler(method, path, query, body, **extra)
            except ValueError as exc:
                status, headers, payload = 400, {}, {"error": str(exc)}
            except Exception as exc:  # a broken handler must not kill the server
                traceback.print_exc()
                status, headers, payload = 500, {}, {"error": f"{type(exc).__name__}: {exc}"}
            data, ctype = _encode_body(payload)
            hdrs = dict(headers or {})
            if ctype and not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = ctype
            return self._respond(start_response, status, list(hdrs.items()), data)

        if path.startswith("/moto-api/"):
            if path.rstrip("/") == "/moto-api/reset" and method == "POST":
                result = list(self.app(environ, start_response))
                run_reset_hooks()
                return result
            return self.app(environ, start_response)

        body = _read_body(environ)
        info = faults.identify(environ, body)
        faults.CALLS.record(info)
        decision = faults.FAULTS.decide(info)
        # Recorded at arrival, with the fault it is about to get (None: answered normally).
        TIMELINE.record("call", operation=info.key, agent=user_agent_product(environ), fault=decision.kind)
        if decision.latency_s > 0:
            time.sleep(decision.latency_s)
        if decision.kind is not None:
            faults.CALLS.record_fault(info, decision.kind)
            if decision.kind == "drop":
                self._drop(environ)
            status, headers, data = faults.injected_error(info, decision)
            return self._respond(start_response, status, headers, data)

        if info.protocol == "cbor":
            m = faults.CBOR_PATH.match(path)
            status, headers, data = cbor_bridge.handle(environ, body, m.group(1), m.group(2), self.app)
            return self._respond(start_response, status, headers, data)

        return self.app(environ, start_response)

    @staticmethod
    def _respond(start_response, status: int, headers: list[tuple[str, str]], data: bytes):
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        headers = [h for h in headers if h[0].lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {phrase}", headers)
        return [data]

    @staticmethod
    def _drop(environ: dict) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                # Linger 0: the close sends a reset, as a dropped connection would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise DroppedConnection("connection dropped by fault injection")


# ---------------------------------------------------------------------------
# Control API


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc


@registry.route("POST", "/_localaws/reset")
def _reset(method, path, query, body):
    reset_all()
    return 200, {}, {"reset": True}


@registry.route("GET", "/_localaws/health")
def _health(method, path, query, body):
    return 200, {}, {
        "status": "ok",
        "now": clock.get_clock().now().isoformat(),
        "seconds_per_minute": clock.get_clock().seconds_per_minute,
        "modules": [m.__name__ for m in FEATURE_MODULES],
    }


@registry.route("GET", "/_localaws/config")
def _get_config(method, path, query, body):
    return 200, {}, settings.snapshot()


@registry.route("POST", "/_localaws/config")
def _set_config(method, path, query, body):
    changes = _json_body(body)
    if not isinstance(changes, dict):
        raise ValueError("config must be a JSON object")
    return 200, {}, settings.update(changes)


@registry.route("GET", "/_localaws/faults")
def _get_faults(method, path, query, body):
    return 200, {}, faults.FAULTS.describe()


@registry.route("POST", "/_localaws/faults")
def _set_faults(method, path, query, body):
    spec = _json_body(body)
    if not isinstance(spec, dict):
        raise ValueError("faults must be a JSON object with a 'rules' list")
    raw_rules = spec.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ValueError("'rules' must be a list")
    rules = [faults.parse_rule(r) for r in raw_rules]
    faults.FAULTS.configure(rules, spec.get("seed"))
    return 200, {}, faults.FAULTS.describe()


@registry.route("GET", "/_localaws/calls")
def _get_calls(method, path, query, body):
    return 200, {}, faults.CALLS.snapshot()


@registry.route("POST", "/_localaws/calls/reset")
def _reset_calls(method, path, query, body):
    faults.CALLS.reset()
    return 200, {}, faults.CALLS.snapshot()


@registry.route("GET", "/_localaws/timeline")
def _get_timeline(method, path, query, body):
    try:
        since = int((query.get("since") or ["0"])[0])
    except ValueError:
        raise ValueError("'since' must be an integer sequence number") from None
    return 200, {}, TIMELINE.since(since)


@registry.on_reset
def _reset_faults_and_calls() -> None:
    faults.FAULTS.clear()
    faults.CALLS.reset()
    TIMELINE.reset()


# ---------------------------------------------------------------------------
# Server lifecycle


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server that remembers its connections, so stop() can
    close idle keep-alive connections and join every handler thread."""

    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        t = threading.Thread(
            target=self._handle, args=(request, client_address), name="localaws-http", daemon=True
        )
        with self._conns_lock:
            self._conns[t] = request
        t.start()

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conns_lock:
                self._conns.pop(threading.current_thread(), None)

    def close_connections(self, timeout: float) -> list[threading.Thread]:
        with self._conns_lock:
            items = list(self._conns.items())
        for _, sock in items:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t, _ in items:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t for t, _ in items if t.is_alive()]


def _handler_class(verbose: bool):
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, *args, **kwargs):
            if verbose:
                super().log_request(*args, **kwargs)

        def log_error(self, *args, **kwargs):
            if verbose:
                super().log_error(*args, **kwargs)

    return Handler


@dataclass
class ServerHandle:
    host: str
    port: int
    _server: _Server
    _thread: threading.Thread
    _stopped: bool = False
    stack: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop this server, close its connections and join its threads; the last
        server of the process also stops and joins the background loops."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._thread.join(timeout)
        self._server.server_close()
        left = self._server.close_connections(timeout)
        stuck = [t.name for t in left] + ([self._thread.name] if self._thread.is_alive() else [])
        with _state_lock:
            if self in _servers:
                _servers.remove(self)
            last = not _servers
        if last:
            stuck += _stop_loops(timeout)
        if stuck:
            raise RuntimeError(f"threads still alive after stop: {stuck}")

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# Every server of the process shares moto's state, the clock and one set of
# background loops (started with the first server, stopped with the last).
_servers: list[ServerHandle] = []
_loop_threads: list[threading.Thread] = []
_loop_stop = threading.Event()
_state_lock = threading.RLock()


def _loop_runner(fn, stop: threading.Event):
    def run():
        try:
            fn(stop)
        except Exception:
            # A crashed loop is reported, not swallowed silently.
            print(f"localaws: background loop {getattr(fn, '__name__', fn)} crashed", file=sys.stderr)
            traceback.print_exc()

    return run


def _start_loops() -> None:
    global _loop_stop
    _loop_stop = threading.Event()
    for fn in list(registry.BACKGROUND):
        t = threading.Thread(
            target=_loop_runner(fn, _loop_stop), name=f"localaws-bg-{getattr(fn, '__name__', 'loop')}", daemon=True
        )
        t.start()
        _loop_threads.append(t)


def _stop_loops(timeout: float) -> list[str]:
    _loop_stop.set()
    deadline = time.monotonic() + timeout
    for t in _loop_threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in _loop_threads if t.is_alive()]
    _loop_threads.clear()
    return stuck


def start(
    port: int = 0,
    seconds_per_minute: float = 60.0,
    alarm_poll_seconds: float | None = None,
    alarm_eval_seconds: float | None = None,
    host: str = "127.0.0.1",
    config: dict | None = None,
    provision: list[str] | tuple[str, ...] = (),
    verbose: bool = False,
) -> ServerHandle:
    """Start the emulator in this process; returns once it accepts connections.

    A second server in the same process serves the same state on another port; it
    rescales the shared clock (without moving it backwards) if asked for another
    time scale.
    """
    with _state_lock:
        first = not _servers
        if first:
            clock.set_clock(clock.Clock(seconds_per_minute))
        elif clock.get_clock().seconds_per_minute != float(seconds_per_minute):
            clock.rescale(seconds_per_minute)
        changes = dict(config or {})
        if alarm_poll_seconds is not None:
            changes["alarm_poll_seconds"] = alarm_poll_seconds
        if alarm_eval_seconds is not None:
            changes["alarm_eval_seconds"] = alarm_eval_seconds
        if changes:
            settings.update(changes)

        app = LocalAwsApp(moto_app())
        server = _Server(host, port, app, handler=_handler_class(verbose))
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="localaws-server", daemon=True
        )
        handle = ServerHandle(host, server.server_address[1], server, thread)
        app.endpoint = handle.endpoint  # before the first request can arrive
        thread.start()
        _servers.append(handle)
        if first:
            _start_loops()
    try:
        if provision:
            handle.stack = _provision(list(provision), handle.endpoint)
    except BaseException:
        handle.stop()
        raise
    return handle


def _provision(names: list[str], endpoint: str) -> Any:
    results = [provisioning.provision({"name": name}, endpoint=endpoint) for name in names]
    return results[0] if len(results) == 1 else results


def running() -> list[ServerHandle]:
    """The servers currently running in this process."""
    with _state_lock:
        return list(_servers)
