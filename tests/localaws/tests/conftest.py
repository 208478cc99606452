"""Shared pytest fixtures: one emulator per test session, clean state per test.

`localaws` is the running server (time scale 1 real second per emulated minute);
`aws_endpoint` resets all emulator state before the test and restores the default
settings after it; `aws_client(service, **config)` makes a boto3 client and `aws_cli`
runs the AWS CLI v1 of the venv against the emulator. At the end of the session the
server is stopped and the session fails if any of its threads is still alive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from localaws import clock, server, settings

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
VENV_BIN = Path(sys.executable).parent
SECONDS_PER_MINUTE = 1.0


@pytest.fixture(scope="session")
def localaws():
    handle = server.start(port=0, seconds_per_minute=SECONDS_PER_MINUTE)
    try:
        yield handle
    finally:
        handle.stop()
        left = [t.name for t in threading.enumerate() if t.name.startswith("localaws")]
        assert not left, f"emulator threads left behind: {left}"


def control(endpoint: str, method: str, path: str, body=None):
    """Call the control API; returns (status, decoded JSON)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def aws_endpoint(localaws):
    status, _ = control(localaws.endpoint, "POST", "/_localaws/reset")
    assert status == 200
    yield localaws.endpoint
    settings.reset()
    if clock.get_clock().seconds_per_minute != SECONDS_PER_MINUTE:
        clock.rescale(SECONDS_PER_MINUTE)


@pytest.fixture
def aws_client(aws_endpoint):
    def make(service: str, **config):
        cfg = Config(**config) if config else None
        return boto3.client(service, endpoint_url=aws_endpoint, region_name=REGION, config=cfg, **CREDS)

    return make


@pytest.fixture
def aws_cli(aws_endpoint, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    }

    def run(*args: str, check: bool = True):
        cmd = [str(VENV_BIN / "aws"), "--endpoint-url", aws_endpoint, "--output", "json", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        if not check:
            return proc
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    return run


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll until predicate() returns a truthy value; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
