"""The realistic timing profile: delayed ALB metrics, alarms evaluated once a minute,
awslogs lines searchable only after their batch is ingested; the fast profile unchanged.

Times are compared in emulated seconds (timeline entries and API timestamps), so the
assertions hold whatever the time scale; the tests run at 3 real seconds per emulated
minute so that polling resolves a few emulated seconds.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from conftest import control, wait_for
from helpers_deploy import deploy_tag, provision_stack, set_config, wait_deployment
from localaws import settings


def _timeline(endpoint: str) -> list[dict]:
    return control(endpoint, "GET", "/_localaws/timeline?since=0")[1]["entries"]


def _emulated_now(endpoint: str) -> datetime:
    return datetime.fromisoformat(control(endpoint, "GET", "/_localaws/health")[1]["now"])


def test_timing_profiles_apply_their_settings_and_reject_bad_values(aws_endpoint):
    body = set_config(aws_endpoint, timing="realistic")
    for key, value in settings.TIMING["realistic"].items():
        assert body[key] == value, key
    assert body["timing"] == "realistic"
    # A key given with the profile wins over it.
    body = set_config(aws_endpoint, timing="realistic", awslogs_batch_seconds=2)
    assert body["awslogs_batch_seconds"] == 2 and body["alarm_eval_seconds"] == 60
    body = set_config(aws_endpoint, timing="fast")
    assert body["alarm_eval_seconds"] == 10 and body["alb_metrics_delay_max_seconds"] == 0
    status, err = control(aws_endpoint, "POST", "/_localaws/config", {"timing": "slow"})
    assert status == 400 and "timing" in err["error"]
    status, err = control(aws_endpoint, "POST", "/_localaws/config",
                          {"alb_metrics_delay_min_seconds": 90, "alb_metrics_delay_max_seconds": 30})
    assert status == 400 and "alb_metrics_delay_min_seconds" in err["error"]


def _first_request_count_seen(cw, stack, endpoint, minutes: int) -> dict[datetime, datetime]:
    """For each minute's RequestCount datapoint, the emulated time it was first visible."""
    dims = [{"Name": "LoadBalancer", "Value": stack["load_balancer_arn"].split(":loadbalancer/", 1)[1]}]
    seen: dict[datetime, datetime] = {}
    start = _emulated_now(endpoint)

    def poll():
        now = _emulated_now(endpoint)
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName="RequestCount",
                                          Dimensions=dims, StartTime=start - timedelta(minutes=1),
                                          EndTime=now + timedelta(minutes=1), Period=60, Statistics=["Sum"])
        for p in points["Datapoints"]:
            seen.setdefault(p["Timestamp"].astimezone(timezone.utc), now)
        return len(seen) >= minutes

    wait_for(poll, 60, f"{minutes} minutes of RequestCount", interval=0.05)
    return seen


def test_realistic_alb_metrics_appear_a_minute_or_more_after_their_minute(aws_endpoint, aws_client):
    set_config(aws_endpoint, seconds_per_minute=3, timing="realistic")
    stack = provision_stack(aws_endpoint)
    seen = _first_request_count_seen(aws_client("cloudwatch"), stack, aws_endpoint, 3)
    for minute, at in seen.items():
        late = (at - (minute + timedelta(seconds=60))).total_seconds()
        # 60–90 s, plus the engine's step and this test's polling (a few emulated seconds).
        assert 55 <= late <= 100, (minute, at, late)


def test_fast_alb_metrics_appear_when_their_minute_ends(aws_endpoint, aws_client):
    set_config(aws_endpoint, seconds_per_minute=3)
    stack = provision_stack(aws_endpoint)
    seen = _first_request_count_seen(aws_client("cloudwatch"), stack, aws_endpoint, 2)
    for minute, at in seen.items():
        assert (at - (minute + timedelta(seconds=60))).total_seconds() <= 15, (minute, at)


def test_realistic_awslogs_lines_are_searchable_only_after_their_batch(aws_endpoint, aws_client):
    set_config(aws_endpoint, seconds_per_minute=3, timing="realistic")
    stack = provision_stack(aws_endpoint)
    logs = aws_client("logs")
    lags: list[int] = []
    deadline = time.monotonic() + 30
    while len(lags) < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
        now_ms = int(_emulated_now(aws_endpoint).timestamp() * 1000)
        page = logs.filter_log_events(logGroupName=stack["log_group"],
                                      filterPattern='"request completed"', startTime=now_ms - 120_000)
        after_ms = int(_emulated_now(aws_endpoint).timestamp() * 1000)
        for ev in page["events"]:
            # Never visible before its batch was ingested: 3 s after a flush that comes
            # at most 5 s after the line.
            assert ev["ingestionTime"] <= after_ms
            assert ev["ingestionTime"] - ev["timestamp"] >= 3000, ev
            lags.append(ev["ingestionTime"] - ev["timestamp"])
    assert len(lags) >= 50, lags
    # Typically 3–8 s; the line itself is written after its 1 s traffic slice and the
    # engine's step, which a loaded machine stretches, so only the quickest is bounded.
    assert min(lags) <= 9000, sorted(lags)


def test_realistic_alarm_fires_minutes_after_the_first_bad_request(aws_endpoint, aws_client):
    set_config(aws_endpoint, seconds_per_minute=2, timing="realistic")
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "http-5xx"}, requests_per_minute=300)
    cd, ecs, ecr = aws_client("codedeploy"), aws_client("ecs"), aws_client("ecr")
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=90)
    assert info["status"] == "Stopped"
    exposure = control(aws_endpoint, "GET", f"/_localaws/exposure?deployment={dep_id}")[1]
    first_bad = exposure["green"]["first_error_emulated"]
    fired = next(e for e in _timeline(aws_endpoint) if e["kind"] == "alarm" and e["new_state"] == "ALARM")
    minute_end = first_bad - first_bad % 60 + 60
    # Published at least 60 s after the first bad minute ends, then the next evaluation.
    assert fired["emulated"] >= minute_end + 60, (fired, first_bad)
    assert fired["emulated"] - first_bad >= 60
