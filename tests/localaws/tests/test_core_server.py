"""The server itself: control API, reset hooks, extension routes, the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REGION, control

from localaws import clock, registry, server


def test_health_reports_time_scale_and_emulated_clock(aws_endpoint):
    status, body = control(aws_endpoint, "GET", "/_localaws/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["seconds_per_minute"] == 1.0
    assert "localaws.cloudwatch" in body["modules"]


def test_config_updates_settings_and_rescales_clock(aws_endpoint):
    before = clock.get_clock().now()
    status, body = control(aws_endpoint, "POST", "/_localaws/config", {"seconds_per_minute": 2, "alarm_poll_seconds": 5})
    assert status == 200
    assert body["seconds_per_minute"] == 2.0
    assert body["alarm_poll_seconds"] == 5
    assert clock.get_clock().seconds_per_minute == 2.0
    # Rescaling continues from the current emulated time instead of jumping back.
    assert clock.get_clock().now() >= before
    status, body = control(aws_endpoint, "GET", "/_localaws/config")
    assert body["alarm_poll_seconds"] == 5 and body["alarm_eval_seconds"] == 10


@pytest.mark.parametrize(
    "bad",
    [{"seconds_per_minute": 0}, {"alarm_eval_seconds": -1}, {"alarm_poll_seconds": "soon"}],
)
def test_config_rejects_invalid_values(aws_endpoint, bad):
    status, body = control(aws_endpoint, "POST", "/_localaws/config", bad)
    assert status == 400, body
    assert "error" in body


def test_reset_clears_moto_state_and_runs_hooks(aws_endpoint, aws_client):
    calls = []
    hook = lambda: calls.append("hook")  # noqa: E731
    registry.RESET_HOOKS.append(hook)
    try:
        cw = aws_client("cloudwatch")
        cw.put_metric_alarm(
            AlarmName="r1", Namespace="N", MetricName="M", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )
        assert control(aws_endpoint, "POST", "/_localaws/reset")[0] == 200
        assert calls == ["hook"]
        assert cw.describe_alarms()["MetricAlarms"] == []
        assert cw.describe_alarm_history()["AlarmHistoryItems"] == []

        # moto's own reset endpoint runs the hooks too.
        cw.put_metric_alarm(
            AlarmName="r2", Namespace="N", MetricName="M", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )
        assert control(aws_endpoint, "POST", "/moto-api/reset")[0] == 200
        assert calls == ["hook", "hook"]
        assert cw.describe_alarm_history()["AlarmHistoryItems"] == []
    finally:
        registry.RESET_HOOKS.remove(hook)


def test_registered_routes_are_served_before_moto(aws_endpoint):
    seen = []

    def handler(method, path, query, body):
        seen.append((method, path, query, body))
        return 201, {"X-Test": "yes"}, {"echo": body.decode(), "q": query}

    route = registry.Route("POST", "/_test/echo", handler)
    registry.ROUTES.append(route)
    try:
        status, body = control(aws_endpoint, "POST", "/_test/echo/sub?a=1", {"k": "v"})
    finally:
        registry.ROUTES.remove(route)
    assert status == 201
    assert body == {"echo": '{"k": "v"}', "q": {"a": ["1"]}}
    assert seen[0][1] == "/_test/echo/sub"


def test_second_server_in_same_process_shares_state(localaws, aws_client):
    aws_client("cloudwatch").put_metric_alarm(
        AlarmName="shared", Namespace="N", MetricName="M", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )
    loops_before = sorted(t.name for t in threading.enumerate() if t.name.startswith("localaws-bg-"))
    second = server.start(port=0, seconds_per_minute=1)
    try:
        assert second.port != localaws.port
        import boto3

        cw = boto3.client("cloudwatch", endpoint_url=second.endpoint, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["shared"]
        # Background loops are not duplicated.
        assert sorted(t.name for t in threading.enumerate() if t.name.startswith("localaws-bg-")) == loops_before
    finally:
        second.stop()
    # Stopping the second server leaves the first one and the loops running.
    assert control(localaws.endpoint, "GET", "/_localaws/health")[0] == 200
    assert sorted(t.name for t in threading.enumerate() if t.name.startswith("localaws-bg-")) == loops_before


def _serve(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.Popen(
        [sys.executable, "-m", "localaws", "serve", "--seconds-per-minute", "1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_cli_serve_prints_ready_line_writes_ready_file_and_stops_on_sigterm(tmp_path):
    ready_file = tmp_path / "ready.json"
    proc = _serve(tmp_path, "--ready-file", str(ready_file))
    try:
        line = proc.stdout.readline()
        assert line, f"no ready line; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        ready = json.loads(line)
        assert ready["pid"] == proc.pid
        assert ready["endpoint"].startswith("http://127.0.0.1:")
        assert json.loads(ready_file.read_text()) == ready
        status, body = control(ready["endpoint"], "GET", "/_localaws/health")
        assert status == 200 and body["seconds_per_minute"] == 1.0

        import boto3

        cw = boto3.client(
            "cloudwatch", endpoint_url=ready["endpoint"], region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        assert cw.describe_alarms()["MetricAlarms"] == []

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_serve_stops_on_sigint(tmp_path):
    proc = _serve(tmp_path)
    try:
        assert json.loads(proc.stdout.readline())["pid"] == proc.pid
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


STOP_SCRIPT = """
import http.client, threading
from localaws import server
handle = server.start(port=0, seconds_per_minute=1)
conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=30)
conn.request("GET", "/_localaws/health")
resp = conn.getresponse()
resp.read()
handle.stop(timeout=5)
left = [t.name for t in threading.enumerate() if t.name.startswith("localaws")]
conn.close()
print("LEFT", left)
"""


def test_stop_leaves_no_threads_behind():
    """stop() joins the server, handler and background threads of the handle."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", STOP_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "LEFT []" in proc.stdout, proc.stdout + proc.stderr
