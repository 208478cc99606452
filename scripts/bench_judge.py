"""Benchmark (not a test): how many user requests reach a bad release, with shipwatch's
judge, with shipwatch on the alarms only, and with CodeDeploy's own alarm rollback.

Runs on the emulator's realistic timing (ALB metrics 60–90 s late, alarms evaluated once a
minute, awslogs batches of 5 s), time scaled: one emulated minute lasts
`--seconds-per-minute` real seconds and shipwatch's poll intervals are scaled by the same
factor, so every number below is in emulated seconds (what it would be on AWS).

Modes: judge (the default `deploy`), alarm-only (`--no-judge`), codedeploy (`--no-judge
--no-stop-on-alarm`: shipwatch only waits; CodeDeploy stops on the group's alarms, as `aws
ecs deploy` relies on). Cases: healthy-noisy (false rollbacks), http-5xx, slow-burn,
low-traffic, crash-loop. Per run, from the emulator's ground truth (/_localaws/exposure)
and timeline: green 5xx before traffic was back on blue (exposure), green's first 5xx →
StopDeployment (or CodeDeploy's own stop), the outcome; and the AWS calls of one healthy
10-step linear deployment with the judge.
Run through scripts/bench-judge.sh, which builds shipwatch and installs the emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import ROOT, VENV, control  # noqa: E402

MODES = {"judge": [], "alarm-only": ["--no-judge"], "codedeploy": ["--no-judge", "--no-stop-on-alarm"]}
# Stack settings per case: the noisy services need an alarm threshold above their noise,
# as their owners would set it; the clean ones keep the sample stack's threshold of 1.
CASES = {
    "healthy-noisy": {"alarm_threshold": 30},
    "http-5xx": {},
    "slow-burn": {"alarm_threshold": 30},
    "low-traffic": {},
    "crash-loop": {},
}


def config(stack: dict, work: Path, endpoint: str, spm: float, judge_extra: str = "") -> Path:
    scale = spm / 60.0
    path = work / "shipwatch.toml"
    path.write_text(f"""
[service]
region = "{stack['region']}"
cluster = "{stack['cluster']}"
service = "{stack['service']}"
container = "{stack['container']}"
port = {stack['port']}

[image]
repository = "{stack['repository']}"

[task_definition]
mode = "current"

[codedeploy]
application = "{stack['application']}"
deployment_group = "{stack['deployment_group']}"
timeout = "{60 * scale:.1f}m"

[watch]
poll_interval = "{10 * scale:.3f}s"
alarm_poll_interval = "{4 * scale:.3f}s"
heartbeat = "{30 * scale:.3f}s"
state_file = "{work / 'state.json'}"

[watch.judge]
poll_interval = "{5 * scale:.3f}s"
metrics_poll_interval = "{20 * scale:.3f}s"
{judge_extra}

[report]
output_dir = "{work / 'report'}"
""")
    return path


def one_run(endpoint: str, binary: str, spm: float, case: str, mode: str, idx: int, rpm: float,
            root: Path, judge_extra: str = "") -> dict:
    name = f"{case[:6]}{mode[:2]}{idx}".replace("-", "")
    spec = {"name": name, "images": {"v1": "healthy"}, "requests_per_minute": rpm, **CASES[case]}
    stack = control(endpoint, "POST", "/_localaws/provision", spec)
    sha = secrets.token_hex(20)
    control(endpoint, "POST", "/_localaws/image", {"repository": stack["repository"], "tag": sha, "scenario": case})
    work = root / name
    work.mkdir()
    cfg = config(stack, work, endpoint, spm, judge_extra)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": stack["region"],
           "AWS_EC2_METADATA_DISABLED": "true", "SHIPWATCH_CONFIG": str(cfg)}
    started = time.time()
    proc = subprocess.run([binary, "--output", "json", "deploy", "--sha", sha, *MODES[mode]], env=env,
                          cwd=work, capture_output=True, text=True, timeout=3600)
    summary = {}
    for line in reversed(proc.stdout.splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if "outcome" in v:
            summary = v
            break
    dep = (summary.get("deployment") or {}).get("id")
    out = {"case": case, "mode": mode, "exit": proc.returncode, "outcome": summary.get("outcome"),
           "deployment": dep, "started": started, "ended": time.time(), "stack": name,
           "judge": (summary.get("judge") or {}).get("stopped") or (summary.get("judge") or {}).get("note")}
    if dep:
        exp = control(endpoint, "GET", f"/_localaws/exposure?deployment={dep}")
        green = exp.get("green") or {}
        out["exposure"] = green.get("errors", 0)
        out["green_requests"] = green.get("requests", 0)
        out["first_error_real"] = green.get("first_error_real")
    return out


def stop_times(runs: list[dict], timeline: list[dict], spm: float) -> None:
    """First green 5xx → stop, in emulated seconds (real seconds × 60 / spm)."""
    factor = 60.0 / spm
    for r in runs:
        dep, first = r.get("deployment"), r.get("first_error_real")
        if not dep or first is None:
            continue
        stop = next((e for e in timeline if e["kind"] == "stop_requested" and e["deployment_id"] == dep), None)
        if stop is None:
            stop = next((e for e in timeline if e["kind"] == "deployment" and e["deployment_id"] == dep
                         and e["status"] in ("Stopped", "Failed")), None)
        if stop is not None:
            r["first_error_to_stop"] = max(0.0, (stop["real"] - first) * factor)


def calls_of(timeline: list[dict], start: float, end: float) -> int:
    return sum(1 for e in timeline if e["kind"] == "call" and start <= e["real"] <= end
               and e["agent"].startswith("aws-sdk-rust"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds-per-minute", type=float, default=6.0)
    ap.add_argument("--healthy-runs", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3, help="runs per bad case and mode")
    ap.add_argument("--rpm", type=float, default=600.0, help="requests a minute of each stack")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to run")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated modes to run (judge, alarm-only, codedeploy)")
    ap.add_argument("--min-requests", type=int, default=None, help="[watch.judge] min_requests (default: shipwatch's)")
    ap.add_argument("--confidence", type=float, default=None, help="[watch.judge] confidence (default: shipwatch's)")
    a = ap.parse_args()
    cases = a.cases.split(",")
    modes = [m for m in a.modes.split(",") if m in MODES]
    extra = "\n".join(f"{k} = {v}" for k, v in (("min_requests", a.min_requests), ("confidence", a.confidence))
                      if v is not None)
    spm = a.seconds_per_minute
    work = Path(tempfile.mkdtemp(prefix="shipwatch-bench-judge."))
    ready = work / "ready.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "localaws"))
    server = subprocess.Popen([str(VENV / "python"), "-m", "localaws", "serve", "--port", "0", "--timing",
                               "realistic", "--seconds-per-minute", str(spm), "--ready-file", str(ready)],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(work / "localaws.log", "w"))
    try:
        for _ in range(300):
            if ready.exists() and ready.stat().st_size:
                break
            time.sleep(0.1)
        endpoint = json.loads(ready.read_text())["endpoint"]
        # A crash-looping green never becomes healthy; CodeDeploy gives up after the ECS
        # install timeout (60 minutes on AWS), shortened here to keep the run short.
        control(endpoint, "POST", "/_localaws/config", {"ecs_install_timeout_minutes": 5})
        print(f"local AWS at {endpoint}, realistic timing, 1 emulated minute = {spm:g} real s", file=sys.stderr)
        # One healthy deployment alone: the API calls of a 10-step linear deployment.
        alone_calls = None
        if "healthy-noisy" in cases:
            alone = one_run(endpoint, a.bin, spm, "healthy-noisy", "judge", 99, a.rpm, work, extra)
            tl = control(endpoint, "GET", "/_localaws/timeline?since=0")["entries"]
            alone_calls = calls_of(tl, alone["started"], alone["ended"])
            print(f"  calls alone: {alone_calls} ({alone['outcome']})", file=sys.stderr)
        jobs = []
        if "healthy-noisy" in cases:
            jobs += [("healthy-noisy", "judge", i) for i in range(a.healthy_runs)]
            jobs += [("healthy-noisy", m, i) for m in ("alarm-only", "codedeploy") if m in modes
                     for i in range(a.runs)]
        jobs += [(c, m, i) for c in ("http-5xx", "slow-burn", "low-traffic") if c in cases
                 for m in modes for i in range(a.runs)]
        if "crash-loop" in cases:
            jobs += [("crash-loop", m, 0) for m in modes]
        results: list[dict] = []
        lock = threading.Lock()

        def job(j):
            r = one_run(endpoint, a.bin, spm, j[0], j[1], j[2], a.rpm, work, extra)
            with lock:
                results.append(r)
                print("  " + json.dumps({k: v for k, v in r.items() if k not in ("started", "ended")}),
                      file=sys.stderr)

        with ThreadPoolExecutor(a.parallel) as pool:
            list(pool.map(job, jobs))
        tl = control(endpoint, "GET", "/_localaws/timeline?since=0")["entries"]
        stop_times(results, tl, spm)
        report(results, alone_calls, spm, a)
    finally:
        server.terminate()
        server.wait(timeout=20)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


def report(results: list[dict], calls: int, spm: float, a) -> None:
    def stat(xs: list[float], unit: str = "") -> str:
        if not xs:
            return "-"
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
        return f"median {statistics.median(xs):.0f}{unit}, p95 {p95:.0f}{unit} (n={len(xs)})"

    print(f"\njudge benchmark: realistic timing, 1 emulated minute = {spm:g} real s, {a.rpm:g} requests/min "
          f"per stack; times in emulated seconds")
    for case in CASES:
        print(f"{case}:")
        for mode in MODES:
            rs = [r for r in results if r["case"] == case and r["mode"] == mode]
            if not rs:
                continue
            outcomes = {}
            for r in rs:
                outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
            exp = [r["exposure"] for r in rs if "exposure" in r]
            stop = [r["first_error_to_stop"] for r in rs if "first_error_to_stop" in r]
            print(f"  {mode:11} outcomes {outcomes}; green 5xx (exposure) {stat(exp)}; "
                  f"first 5xx → stop {stat(stop, ' s')}")
    healthy = [r for r in results if r["case"] == "healthy-noisy" and r["mode"] == "judge"]
    false = sum(1 for r in healthy if r["outcome"] != "succeeded")
    if healthy:
        print(f"false rollbacks with the judge: {false} of {len(healthy)} healthy-noisy runs")
    if calls is not None:
        print(f"API calls (shipwatch, judge on) for one healthy 10-step linear deployment: {calls}")


if __name__ == "__main__":
    sys.exit(main())
