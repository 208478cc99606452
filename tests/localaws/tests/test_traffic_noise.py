"""Traffic level per scenario, background errors on both colours and the exposure counts.

Each test deploys a release at the session's time scale (1 real second per emulated
minute) and checks what the emulator answered per colour: from the logs (what a judge
reads) and from `GET /_localaws/exposure` (the ground truth a benchmark reads).
"""

from __future__ import annotations

import pytest

from conftest import control
from helpers_deploy import deploy_tag, json_lines, log_lines, provision_stack, set_config, wait_deployment
from localaws import traffic


@pytest.fixture
def clients(aws_client):
    return {s: aws_client(s) for s in ("codedeploy", "ecs", "ecr", "logs")}


def _exposure(endpoint: str, dep_id: str) -> dict:
    status, body = control(endpoint, "GET", f"/_localaws/exposure?deployment={dep_id}")
    assert status == 200, body
    return body


def _errors_by_stream(logs, stack) -> list[tuple[str, dict]]:
    return [(s, l) for s, l in json_lines(log_lines(logs, stack)) if l.get("level") == 50]


def _task_ids(ecs, stack, task_set_id: str) -> set[str]:
    arns = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=stack["cluster"], startedBy=task_set_id, desiredStatus=status)["taskArns"]
    return {a.rsplit("/", 1)[1] for a in arns}


def test_healthy_noisy_fails_a_little_on_both_colours_with_the_shared_dependency(aws_endpoint, clients):
    cd, ecs, ecr, logs = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["logs"]
    # A high rate makes the small background share visible within one deployment; a
    # slower clock lets the emulator keep up with it.
    set_config(aws_endpoint, seconds_per_minute=2)
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "healthy-noisy"},
                            requests_per_minute=600, alarm_threshold=1000, termination_wait_minutes=0)
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Succeeded", info
    exp = _exposure(aws_endpoint, dep_id)
    blue, green = exp["blue"], exp["green"]
    for colour in (blue, green):
        assert colour["requests"] > 1500, exp
        rate = colour["errors"] / colour["requests"]
        assert 0.002 < rate < 0.02, (rate, colour["requests"], colour["errors"])
        assert sum(c["requests"] for c in colour["series"]) == colour["requests"]
        assert sum(c["errors"] for c in colour["series"]) == colour["errors"]
    blue_tasks = _task_ids(ecs, stack, blue["task_set"])
    green_tasks = _task_ids(ecs, stack, green["task_set"])
    errors = _errors_by_stream(logs, stack)
    seen = {"blue": 0, "green": 0}
    for stream, line in errors:
        task = stream.rsplit("/", 1)[1]
        seen["blue" if task in blue_tasks else "green" if task in green_tasks else "other"] = 1
        assert line["req"]["url"] == "/api/products", line
        assert line["err"]["message"] == traffic.BACKGROUND_FAILURE["message"]
        assert line["res"]["statusCode"] == 502
    assert seen == {"blue": 1, "green": 1}, seen


def test_slow_burn_fails_green_three_times_as_often_with_its_own_error(aws_endpoint, clients):
    cd, ecs, ecr, logs = clients["codedeploy"], clients["ecs"], clients["ecr"], clients["logs"]
    set_config(aws_endpoint, seconds_per_minute=2)
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "slow-burn"},
                            requests_per_minute=900, alarm_threshold=100000, termination_wait_minutes=0,
                            deployment_config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Succeeded", info
    exp = _exposure(aws_endpoint, dep_id)
    blue_rate = exp["blue"]["errors"] / exp["blue"]["requests"]
    green_rate = exp["green"]["errors"] / exp["green"]["requests"]
    assert 0.005 < blue_rate < 0.02, exp["blue"]
    assert 1.8 < green_rate / blue_rate < 5.0, (green_rate, blue_rate)
    green_tasks = _task_ids(ecs, stack, exp["green"]["task_set"])
    messages = {"blue": set(), "green": set()}
    for stream, line in _errors_by_stream(logs, stack):
        colour = "green" if stream.rsplit("/", 1)[1] in green_tasks else "blue"
        messages[colour].add(line["err"]["message"])
    assert messages["blue"] == {traffic.BACKGROUND_FAILURE["message"]}
    assert messages["green"] == {traffic.BACKGROUND_FAILURE["message"], "Query read timeout"}


def test_low_traffic_scenario_sets_the_request_rate(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "low-traffic"},
                            alarm_threshold=1000, termination_wait_minutes=0)
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    wait_deployment(cd, dep_id, timeout=60)
    exp = _exposure(aws_endpoint, dep_id)
    # About 6 requests a minute once green runs, over the ~10 emulated minutes of shifting
    # (the default rate of 90 a minute would give ~900).
    total = exp["blue"]["requests"] + exp["green"]["requests"]
    minutes = max(1.0, (exp["green"]["series"][-1]["t"] - exp["green"]["series"][0]["t"]) / 60) \
        if exp["green"]["series"] else 10.0
    assert total < 20 * minutes, (total, minutes)


def test_exposure_counts_green_5xx_only_for_a_bad_release(aws_endpoint, clients):
    cd, ecs, ecr = clients["codedeploy"], clients["ecs"], clients["ecr"]
    stack = provision_stack(aws_endpoint, images={"v1": "healthy", "v2": "http-5xx"})
    dep_id, _ = deploy_tag(cd, ecs, ecr, stack, "v2")
    info = wait_deployment(cd, dep_id, timeout=60)
    assert info["status"] == "Stopped"
    exp = _exposure(aws_endpoint, dep_id)
    assert exp["green"]["errors"] > 0 and exp["blue"]["errors"] == 0, exp
    assert exp["green"]["first_error_emulated"] is not None and exp["green"]["first_error_real"] is not None
    first = next(c for c in exp["green"]["series"] if c["errors"])
    assert first["t"] <= exp["green"]["first_error_emulated"] < first["t"] + 5.0
    status, body = control(aws_endpoint, "GET", "/_localaws/exposure?deployment=d-NOSUCH")
    assert status == 404 and "d-NOSUCH" in body["error"]
