"""The local Lambda Runtime API (lambda_rt.py) as a custom runtime sees it, and an
incident on one task (task_incident.py)."""

from __future__ import annotations

import json
import threading
import urllib.request

from conftest import control, wait_for
from helpers_deploy import provision_stack

NEXT = "/2018-06-01/runtime/invocation/next"


def _http(endpoint: str, method: str, path: str, body: bytes | None = None):
    req = urllib.request.Request(endpoint + path, data=body, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_an_event_goes_to_one_poller_and_its_response_is_recorded(aws_endpoint):
    got: list[tuple[dict, bytes]] = []

    def poll():
        _, headers, body = _http(aws_endpoint, "GET", NEXT)
        got.append((headers, body))

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(2)]
    for p in pollers:
        p.start()
    status, body = control(aws_endpoint, "POST", "/_localaws/lambda/invoke", {"event": {"n": 1}})
    assert status == 200
    rid = body["request_id"]
    wait_for(lambda: len(got) == 1, 5, "one poller gets the event")
    headers, payload = got[0]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == rid
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > 0
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].startswith("arn:aws:lambda:")
    assert json.loads(payload) == {"n": 1}
    _, inv = control(aws_endpoint, "GET", f"/_localaws/lambda/invocations/{rid}")
    assert inv["state"] == "running"

    status, _, _ = _http(aws_endpoint, "POST", f"/2018-06-01/runtime/invocation/{rid}/response", b'{"ok": true}')
    assert status == 202
    _, inv = control(aws_endpoint, "GET", f"/_localaws/lambda/invocations/{rid}")
    assert inv["state"] == "succeeded" and inv["response"] == {"ok": True}
    # A second answer for the same request is refused, as by the real API.
    try:
        _http(aws_endpoint, "POST", f"/2018-06-01/runtime/invocation/{rid}/error", b"{}")
        raise AssertionError("a second answer was accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 400

    # The other poller takes the next event; its error is recorded.
    control(aws_endpoint, "POST", "/_localaws/lambda/invoke", {"event": {"n": 2}})
    wait_for(lambda: len(got) == 2, 5, "the second poller gets the second event")
    rid2 = got[1][0]["Lambda-Runtime-Aws-Request-Id"]
    _http(aws_endpoint, "POST", f"/2018-06-01/runtime/invocation/{rid2}/error",
          b'{"errorType": "x", "errorMessage": "bad event"}')
    _, inv = control(aws_endpoint, "GET", f"/_localaws/lambda/invocations/{rid2}")
    assert inv["state"] == "failed" and inv["error"]["errorMessage"] == "bad event"


def test_invoke_needs_an_event(aws_endpoint):
    status, body = control(aws_endpoint, "POST", "/_localaws/lambda/invoke", {"payload": {}})
    assert status == 400 and "event" in body["error"]


def test_an_incident_on_one_task_leaves_the_others_healthy(aws_endpoint, aws_client):
    stack = provision_stack(aws_endpoint)
    ecs, elb = aws_client("ecs"), aws_client("elbv2")
    arns = ecs.list_tasks(cluster=stack["cluster"], serviceName=stack["service"])["taskArns"]
    assert len(arns) == 2
    status, body = control(aws_endpoint, "POST", "/_localaws/task-incident",
                           {"cluster": stack["cluster"], "task": arns[0], "incident": "health-path-broken"})
    assert status == 200, body
    tg = stack["target_groups"]["blue"]["arn"]

    def states():
        return sorted(d["TargetHealth"]["State"]
                      for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"])

    wait_for(lambda: states() == ["healthy", "unhealthy"], 30, "one unhealthy target")
    status, body = control(aws_endpoint, "POST", "/_localaws/task-incident",
                           {"cluster": stack["cluster"], "task": "nope", "incident": "oom"})
    assert status == 400 and "nope" in body["error"]
