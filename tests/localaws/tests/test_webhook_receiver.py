"""The webhook receiver: requests recorded with their answer, queued 429s with Retry-After."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import control


def _post(url: str, body: bytes) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_a_post_is_recorded_and_answered_like_slack(aws_endpoint):
    status, headers, text = _post(f"{aws_endpoint}/_localaws/webhook/slack/services/T1/B2/x",
                                  json.dumps({"text": "hi"}).encode())
    assert (status, text) == (200, "ok")
    assert headers["Content-Type"].startswith("text/plain")
    _post(f"{aws_endpoint}/_localaws/webhook/other", b"not json")
    _, got = control(aws_endpoint, "GET", "/_localaws/webhooks?name=slack")
    assert [r["json"] for r in got["requests"]] == [{"text": "hi"}]
    assert got["requests"][0]["answered"] == 200
    assert got["requests"][0]["path"] == "services/T1/B2/x"
    _, everything = control(aws_endpoint, "GET", "/_localaws/webhooks")
    other = everything["requests"][1]
    assert (other["name"], other["body"], other["json"]) == ("other", "not json", None)


def test_queued_429s_carry_retry_after_then_the_receiver_accepts(aws_endpoint):
    status, body = control(aws_endpoint, "POST", "/_localaws/webhooks/replies",
                           {"name": "slack", "status": 429, "retry_after": 2, "count": 2, "body": "rate_limited"})
    assert status == 200 and body["queued"] == 2
    answers = [_post(f"{aws_endpoint}/_localaws/webhook/slack", b"{}") for _ in range(3)]
    assert [a[0] for a in answers] == [429, 429, 200]
    assert answers[0][1]["Retry-After"] == "2" and answers[0][2] == "rate_limited"
    _, got = control(aws_endpoint, "GET", "/_localaws/webhooks")
    assert [r["answered"] for r in got["requests"]] == [429, 429, 200]
    # Replies are per receiver: another name is not rate-limited.
    assert _post(f"{aws_endpoint}/_localaws/webhook/hook", b"{}")[0] == 200


def test_reset_clears_requests_and_replies(aws_endpoint):
    control(aws_endpoint, "POST", "/_localaws/webhooks/replies", {"name": "slack", "status": 500})
    _post(f"{aws_endpoint}/_localaws/webhook/slack", b"{}")
    control(aws_endpoint, "POST", "/_localaws/webhooks/replies", {"name": "slack", "status": 503})
    assert control(aws_endpoint, "POST", "/_localaws/reset")[0] == 200
    assert control(aws_endpoint, "GET", "/_localaws/webhooks")[1] == {"requests": []}
    assert _post(f"{aws_endpoint}/_localaws/webhook/slack", b"{}")[0] == 200


def test_bad_reply_specs_are_refused(aws_endpoint):
    assert control(aws_endpoint, "POST", "/_localaws/webhooks/replies", {"status": 429})[0] == 400
    assert control(aws_endpoint, "POST", "/_localaws/webhooks/replies", {"name": "x", "status": 999})[0] == 400
    assert _post(f"{aws_endpoint}/_localaws/webhook/", b"{}")[0] == 400
