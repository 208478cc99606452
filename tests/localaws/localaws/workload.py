"""The application inside a simulated task: what it leaves behind for one request.

A task of the sample service runs a Node.js (Express + pg) app that logs with pino and
traces with OpenTelemetry. For a request it answered, `serve()` records the trace
(traces.py: server span → Express handler → pg / HTTP client / redis spans) and writes
the pino line to the task's awslogs stream (`write_logs`). The ECS scheduler
(scenarios.py) uses it for failing ALB health checks and start-up and crash lines, the
traffic (traffic.py) for the requests it routes. `sim` arguments are scenarios.TaskSim
objects; only their attributes are used here, so this module sits below both.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.backends import get_backend

from . import settings, traces
from .clock import get_clock

ORDERS_SELECT = ("SELECT id, customer_id, status, total_cents, created_at FROM orders "
                 "WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50")
STATEMENTS = {
    "GET /api/orders": ORDERS_SELECT,
    "GET /api/orders/:id": "SELECT id, customer_id, status, total_cents, created_at FROM orders WHERE id = $1",
    "POST /api/orders": ("INSERT INTO orders (customer_id, status, total_cents) VALUES ($1, $2, $3) "
                         "RETURNING id"),
    "GET /api/products": "SELECT id, name, price_cents FROM products WHERE active = true ORDER BY name LIMIT 100",
}

_rng = random.Random()
# Request ids in the pino lines (`req.id`), counted across every task like a log reader sees them.
_req_counter = [0]


@dataclass
class Outcome:
    status: int
    duration_ms: float
    failure: dict[str, Any] | None = None  # {"kind": "pg"|"http"|"redis", "message", ...}
    # A successful but slow downstream HTTP call: {"url", "duration_ms"}.
    downstream: dict[str, Any] | None = None


def _stack(failure: dict[str, Any]) -> tuple[str, str]:
    """(error type, stack) as Node would print them for the failure."""
    msg = failure["message"]
    if failure["kind"] == "pg" and failure.get("stage") == "connect":
        return "Error", (f"Error: {msg}\n"
                         "    at Client._handleErrorEvent (/app/node_modules/pg/lib/client.js:350:19)\n"
                         "    at Connection.<anonymous> (/app/node_modules/pg/lib/client.js:150:12)\n"
                         "    at async Pool.connect (/app/node_modules/pg-pool/index.js:45:11)\n"
                         "    at async OrdersRepository.listForCustomer (/app/src/repositories/orders.js:21:20)\n"
                         "    at async listOrders (/app/src/routes/orders.js:14:18)")
    if failure["kind"] == "pg":
        return "DatabaseError", (f"error: {msg}\n"
                                 "    at Parser.parseErrorMessage (/app/node_modules/pg-protocol/dist/parser.js:283:98)\n"
                                 "    at Parser.handlePacket (/app/node_modules/pg-protocol/dist/parser.js:122:29)\n"
                                 "    at async OrdersRepository.listForCustomer (/app/src/repositories/orders.js:24:22)\n"
                                 "    at async listOrders (/app/src/routes/orders.js:14:18)")
    if failure["kind"] == "redis":
        return "Error", (f"Error: {msg}\n"
                         "    at Timeout._onTimeout (/app/node_modules/ioredis/built/Redis.js:171:32)\n"
                         "    at listOnTimeout (node:internal/timers:573:17)\n"
                         "    at async healthCheck (/app/src/routes/health.js:9:5)")
    if failure["kind"] == "app":
        etype = failure.get("type", "TypeError")
        return etype, (f"{etype}: {msg}\n"
                       "    at toOrderView (/app/src/views/orders.js:12:28)\n"
                       "    at Array.map (<anonymous>)\n"
                       "    at listOrders (/app/src/routes/orders.js:22:30)")
    return "AxiosError", (f"AxiosError: {msg}\n"
                          "    at settle (/app/node_modules/axios/lib/core/settle.js:19:12)\n"
                          "    at IncomingMessage.handleStreamEnd (/app/node_modules/axios/lib/adapters/http.js:599:11)\n"
                          "    at async InventoryClient.stockFor (/app/src/clients/inventory.js:17:22)\n"
                          "    at async listOrders (/app/src/routes/orders.js:16:21)")


def write_logs(sim: Any, lines: list[tuple[int, str]]) -> None:
    """Append (epoch ms, message) events to the task's awslogs stream."""
    if not sim.log_group or not sim.log_stream or not lines:
        return
    try:
        logs = get_backend("logs")[sim.account][sim.log_region]
        group = logs.groups.get(sim.log_group)
        if group is None:
            # awslogs-create-group behaviour; without it a real task would fail to start,
            # but a missing group here only means the test did not create one.
            logs.create_log_group(sim.log_group, {})
            group = logs.groups[sim.log_group]
        if sim.log_stream not in group.streams:
            group.create_log_stream(sim.log_stream)
        stream = group.streams[sim.log_stream]
        lines = sorted(lines, key=lambda x: x[0])
        events = [{"timestamp": ts, "message": msg} for ts, msg in lines]
        # The stream-level call skips moto's "2 hours in the future" check, which
        # emulated time (running faster than real time) would otherwise hit.
        stream.put_log_events(events)
        ingestion = get_clock().now_ms()
        batch_ms = int(float(settings.get("awslogs_batch_seconds") or 0) * 1000)
        latency_ms = int(float(settings.get("awslogs_ingest_seconds") or 0) * 1000)
        # Each stream's driver flushes on its own beat.
        phase = zlib.crc32(sim.log_stream.encode()) % batch_ms if batch_ms > 0 else 0
        for ev in stream.events[-len(events):]:
            ev.ingestion_time = max(ingestion, ev.timestamp)
            if batch_ms > 0:
                # Shipped with the batch at the driver's next flush, ingested a little later.
                flush = phase + -(-(ev.timestamp - phase) // batch_ms) * batch_ms
                ev.ingestion_time = max(ev.ingestion_time, flush + latency_ms)
        stream.last_ingestion_time = get_clock().now().replace(tzinfo=None)  # moto keeps naive UTC
    except Exception:  # noqa: BLE001 - logging must never break the simulation
        pass


def pino(sim: Any, ts_ms: int, level: int, msg: str, **fields: Any) -> tuple[int, str]:
    """A log line as pino writes it: level, time, pid, hostname, then fields, then msg."""
    line: dict[str, Any] = {"level": level, "time": ts_ms, "pid": sim.pid, "hostname": sim.hostname}
    line.update(fields)
    line["msg"] = msg
    return ts_ms, json.dumps(line, separators=(",", ":"))


def serve(sim: Any, at: datetime, method: str, route: str, url: str, outcome: Outcome,
          user_agent: str = "Mozilla/5.0", log_success: bool = True) -> tuple[str, str]:
    """Record the trace and the log line of one request the app answered. Returns (trace_id, span_id)."""
    start_us = int(at.timestamp() * 1_000_000)
    dur_us = int(outcome.duration_ms * 1000)
    trace_id = traces.new_trace_id()
    tb = traces.TraceBuilder(trace_id, sim.service, {
        "hostname": sim.hostname, "ip": sim.ip, "host.name": sim.hostname,
        "service.version": sim.tag or "", "telemetry.sdk.language": "nodejs",
        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.26.0",
        "cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.task.arn": sim.arn,
        "aws.ecs.launchtype": "fargate", "container.name": sim.container,
    })
    failed = outcome.status >= 500
    server_id = traces.new_span_id()
    handler_id = traces.new_span_id()
    server_tags: dict[str, Any] = {
        "span.kind": "server", "http.method": method, "http.route": route, "http.target": url,
        "http.scheme": "http", "http.flavor": "1.1", "net.host.port": sim.port,
        "http.user_agent": user_agent, "http.status_code": outcome.status,
        "otel.library.name": "@opentelemetry/instrumentation-http",
    }
    if failed:
        server_tags.update({"otel.status_code": "ERROR", "error": True})
    tb.span(f"{method} {route}", start_us, dur_us, None, server_tags, span_id=server_id)
    h_start = start_us + 300
    h_dur = max(50, dur_us - 600)
    tb.span(f"request handler - {route}", h_start, h_dur, server_id, {
        "http.route": route, "express.name": route, "express.type": "request_handler",
        "otel.library.name": "@opentelemetry/instrumentation-express"}, span_id=handler_id)
    failure = outcome.failure
    err_fields: dict[str, Any] | None = None
    c_start = h_start + 200
    if failure:
        etype, stack = _stack(failure)
        err_fields = {"type": etype, "message": failure["message"], "stack": stack}
        if failure["kind"] == "pg":
            err_fields["code"] = failure.get("code") or "ECONNREFUSED"
    if route == "/healthz":
        if failure:
            tb.span("PING", c_start, h_dur - 400, handler_id, {
                "span.kind": "client", "db.system": "redis", "db.statement": "ping",
                "net.peer.name": "cache.internal", "net.peer.port": 6379, "otel.status_code": "ERROR",
                "otel.status_description": failure["message"], "error": True,
                "otel.library.name": "@opentelemetry/instrumentation-ioredis"},
                logs=[tb.exception_log(c_start + h_dur - 400, err_fields["type"], failure["message"],
                                       err_fields["stack"])])
    else:
        key = f"{method} {route}"
        statement = (failure or {}).get("statement") or STATEMENTS.get(key, ORDERS_SELECT)
        db_tags = {"span.kind": "client", "db.system": "postgresql", "db.name": "orders", "db.user": "app",
                   "net.peer.name": "orders-db.internal", "net.peer.port": 5432,
                   "db.connection_string": "postgresql://orders-db.internal:5432/orders",
                   "otel.library.name": "@opentelemetry/instrumentation-pg"}
        connect_dur = int(min(2500, max(300, h_dur * 0.15)))
        if failure and failure["kind"] == "pg" and failure.get("stage") == "connect":
            connect_dur = max(200, h_dur - 500)
            tb.span("pg.connect", c_start, connect_dur, handler_id, dict(
                db_tags, **{"otel.status_code": "ERROR", "otel.status_description": failure["message"],
                            "error": True}),
                logs=[tb.exception_log(c_start + connect_dur, err_fields["type"], failure["message"],
                                       err_fields["stack"])])
        else:
            tb.span("pg.connect", c_start, connect_dur, handler_id, db_tags)
            q_start = c_start + connect_dur + 100
            q_dur = max(100, h_dur - connect_dur - 600)
            slow_us = int((outcome.downstream or {}).get("duration_ms", 0) * 1000)
            if slow_us:
                q_dur = max(100, h_dur - connect_dur - 600 - slow_us - 100)
            q_tags = dict(db_tags, **{"db.statement": statement, "db.operation": statement.split()[0]})
            if failure and failure["kind"] == "pg":
                q_tags.update({"otel.status_code": "ERROR", "otel.status_description": failure["message"],
                               "error": True})
                tb.span("pg.query", q_start, q_dur, handler_id, q_tags,
                        logs=[tb.exception_log(q_start + q_dur, err_fields["type"], failure["message"],
                                               err_fields["stack"])])
            else:
                tb.span("pg.query", q_start, q_dur, handler_id, q_tags)
            if slow_us:
                down = outcome.downstream["url"]
                tb.span("GET", q_start + q_dur + 100, slow_us, handler_id, {
                    "span.kind": "client", "http.method": "GET", "http.url": down, "http.status_code": 200,
                    "net.peer.name": down.split("/")[2].split(":")[0],
                    "otel.library.name": "@opentelemetry/instrumentation-http"})
            if failure and failure["kind"] == "http":
                hc_start = q_start + q_dur + 100
                hc_dur = max(100, h_dur - (hc_start - h_start) - 100)
                tb.span("GET", hc_start, hc_dur, handler_id, {
                    "span.kind": "client", "http.method": "GET", "http.url": failure["url"],
                    "http.status_code": failure.get("upstream_status", 503),
                    "net.peer.name": failure["url"].split("/")[2].split(":")[0],
                    "otel.status_code": "ERROR", "otel.status_description": failure["message"], "error": True,
                    "otel.library.name": "@opentelemetry/instrumentation-http"},
                    logs=[tb.exception_log(hc_start + hc_dur, err_fields["type"], failure["message"],
                                           err_fields["stack"])])
    tb.store()
    _req_counter[0] += 1
    end_ms = int((start_us + dur_us) / 1000)
    req = {"id": _req_counter[0], "method": method, "url": url,
           "headers": {"host": "api.example.internal", "user-agent": user_agent}}
    fields = {"trace_id": trace_id, "span_id": server_id, "trace_flags": "01", "req": req,
              "res": {"statusCode": outcome.status}}
    if route == "/healthz":
        if failure:
            write_logs(sim, [pino(sim, end_ms, 50, "health check failed", err=err_fields,
                                  trace_id=trace_id, span_id=handler_id, trace_flags="01",
                                  req={"id": _req_counter[0], "method": method, "url": url},
                                  res={"statusCode": outcome.status},
                                  responseTime=round(outcome.duration_ms))])
        return trace_id, server_id
    if failed:
        line = pino(sim, end_ms, 50, "request errored", **fields, err=err_fields,
                    responseTime=round(outcome.duration_ms))
    else:
        if not log_success:
            return trace_id, server_id
        line = pino(sim, end_ms, 30, "request completed", **fields, responseTime=round(outcome.duration_ms))
    write_logs(sim, [line])
    return trace_id, server_id


def health_check_failure(sim: Any, at: datetime) -> None:
    """An ALB health check that the app of a health-check-fail release answers with 503
    (health-path-broken: 404, the path is not served; pino-http logs it at warn level)."""
    if sim.scenario == "health-path-broken":
        status = int(sim.params.get("status", 404))
        _req_counter[0] += 1
        ts = int(at.timestamp() * 1000) + 2
        write_logs(sim, [pino(sim, ts, 40, "request completed",
                              req={"id": _req_counter[0], "method": "GET", "url": "/healthz",
                                   "headers": {"user-agent": "ELB-HealthChecker/2.0"}},
                              res={"statusCode": status}, responseTime=2)])
        return
    message = sim.params.get("message", "Redis connection timeout after 2000ms")
    serve(sim, at, "GET", "/healthz", "/healthz",
          Outcome(503, 2000 + _rng.uniform(1, 9), {"kind": "redis", "message": message}),
          user_agent="ELB-HealthChecker/2.0")
