"""Benchmark (not a test): `shipwatch deploy` and `aws ecs deploy` (AWS CLI v1) side by side
on the same local AWS, measured from the emulator's timeline (real wall-clock times).

Two phases, each running both tools at once on two fresh stacks of their own:
  1. a healthy release, ECSLinear10PercentEvery1Minutes (10 steps), 1-minute termination wait;
  2. a release whose green tasks answer 5xx, so the 5xx alarm goes to ALARM.
Printed per tool:
  - alarm in ALARM → StopDeployment (shipwatch stops it itself) vs → deployment stopped by
    the emulator's own CodeDeploy alarm polling (the CLI leaves the alarm to CodeDeploy);
  - the terminal state the tool waits for → process exit (median over all runs);
  - AWS API calls per deployment (by the tool's User-Agent, from the timeline).
Time scale: `--seconds-per-minute 60` (the default) is real time, the only setting whose
numbers mean what they say: both tools poll on real-time intervals, and the CLI's waiter
sleeps 15 real seconds whatever the scale. A smaller value runs faster and scales
shipwatch's poll intervals by the same factor, for a quick look only.
Run through scripts/bench-deploy.sh, which builds shipwatch and installs the emulator.
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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".tools" / "venv" / "bin"
TERMINAL = ("Succeeded", "Failed", "Stopped")


def control(endpoint: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


class Run:
    """One tool deploying one release to one stack, timed from outside."""

    def __init__(self, tool: str, scenario: str, stack: dict, sha: str, pinned: str, work: Path):
        self.tool, self.scenario, self.stack, self.sha, self.pinned = tool, scenario, stack, sha, pinned
        self.work = work
        self.lines: list[tuple[float, str]] = []
        self.code: int | None = None
        self.started = self.exited = 0.0
        self.deployment_id: str | None = None

    def command(self, endpoint: str, binary: str, spm: float) -> tuple[list[str], dict]:
        s = self.stack
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.work), "AWS_ENDPOINT_URL": endpoint,
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": s["region"],
               "AWS_DEFAULT_REGION": s["region"], "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
               "AWS_CONFIG_FILE": str(self.work / "aws-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(self.work / "aws-credentials")}
        if self.tool == "shipwatch":
            scale = spm / 60.0
            (self.work / "shipwatch.toml").write_text(f"""
[service]
region = "{s['region']}"
cluster = "{s['cluster']}"
service = "{s['service']}"
container = "{s['container']}"
port = {s['port']}

[image]
repository = "{s['repository']}"

[task_definition]
mode = "current"

[codedeploy]
application = "{s['application']}"
deployment_group = "{s['deployment_group']}"
timeout = "40m"

[watch]
poll_interval = "{10 * scale:.3f}s"
alarm_poll_interval = "{4 * scale:.3f}s"
heartbeat = "{30 * scale:.3f}s"
state_file = "{self.work / 'state.json'}"

[report]
output_dir = "{self.work / 'report'}"
jaeger_url = "{endpoint}"
""")
            env["SHIPWATCH_CONFIG"] = str(self.work / "shipwatch.toml")
            return [binary, "--output", "json", "deploy", "--sha", self.sha], env
        name = s["service"]
        task_def = {
            "family": s["task_definition_family"], "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512",
            "containerDefinitions": [{
                "name": s["container"], "image": self.pinned, "essential": True,
                "portMappings": [{"containerPort": s["port"], "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": s["log_group"], "awslogs-region": s["region"],
                    "awslogs-stream-prefix": s["log_stream_prefix"]}},
            }],
        }
        (self.work / "taskdef.json").write_text(json.dumps(task_def))
        (self.work / "appspec.yaml").write_text(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n"
            "      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n"
            f"        LoadBalancerInfo:\n          ContainerName: {s['container']}\n"
            f"          ContainerPort: {s['port']}\n")
        return [str(VENV / "aws"), "ecs", "deploy", "--cluster", s["cluster"], "--service", name,
                "--task-definition", str(self.work / "taskdef.json"),
                "--codedeploy-appspec", str(self.work / "appspec.yaml")], env

    def run(self, endpoint: str, binary: str, spm: float) -> None:
        cmd, env = self.command(endpoint, binary, spm)
        self.started = time.time()
        proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))
        self.code = proc.wait()
        self.exited = time.time()
        for _, line in self.lines:
            if line.startswith("Successfully created deployment "):
                self.deployment_id = line.rsplit(" ", 1)[1]
            elif line.startswith("{"):
                try:
                    v = json.loads(line)
                except ValueError:
                    continue
                if isinstance(v.get("deployment"), dict) and v["deployment"].get("id"):
                    self.deployment_id = v["deployment"]["id"]
                elif v.get("event") == "created" and v.get("deployment_id"):
                    self.deployment_id = v["deployment_id"]


def measure(run: Run, timeline: list[dict]) -> dict:
    """What the timeline says about one run."""
    dep = run.deployment_id
    out: dict = {"tool": run.tool, "scenario": run.scenario, "exit": run.code, "deployment": dep}
    if dep is None:
        out["error"] = "no deployment id in the tool's output: " + " | ".join(l for _, l in run.lines[-5:])
        return out
    statuses = [e for e in timeline if e["kind"] == "deployment" and e["deployment_id"] == dep]
    created = statuses[0]["real"] if statuses else run.started
    end = next((e for e in statuses if e["status"] in TERMINAL), None)
    rollback = next((e["deployment_id"] for e in timeline
                     if e["kind"] == "deployment" and e.get("rollback_of") == dep), None)
    waited_for = end
    if rollback and run.tool == "shipwatch":
        # shipwatch follows the rollback to its end; the CLI's waiter gives up at Stopped.
        waited_for = next((e for e in timeline if e["kind"] == "deployment"
                           and e["deployment_id"] == rollback and e["status"] in TERMINAL), None)
    if waited_for is not None:
        out["terminal"] = waited_for["status"] + (" (rollback)" if waited_for is not end else "")
        out["terminal_to_exit"] = run.exited - waited_for["real"]
    if end is not None:
        out["error_code"] = end.get("error_code")
    prefix = run.stack["service"] + "-"
    fired = next((e for e in timeline if e["kind"] == "alarm" and e["new_state"] == "ALARM"
                  and e["alarm"].startswith(prefix) and e["real"] >= created), None)
    if fired is not None:
        out["alarm"] = fired["alarm"]
        stop = next((e for e in timeline if e["kind"] == "stop_requested" and e["deployment_id"] == dep), None)
        if stop is not None:
            out["stopped_by"] = "the tool (StopDeployment)"
            out["alarm_to_stop"] = stop["real"] - fired["real"]
        elif end is not None and end.get("error_code") == "ALARM_ACTIVE":
            out["stopped_by"] = "CodeDeploy's alarm polling"
            out["alarm_to_stop"] = end["real"] - fired["real"]
    return out


def calls_by_agent(timeline: list[dict], since: int) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = {}
    for e in timeline:
        if e["kind"] == "call" and e["seq"] > since:
            agent = e["agent"].split("/", 1)[0] or "unknown"
            ops = per.setdefault(agent, {})
            ops[e["operation"]] = ops.get(e["operation"], 0) + 1
    return per


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the shipwatch binary")
    ap.add_argument("--seconds-per-minute", type=float, default=60.0,
                    help="real seconds per emulated minute (60 = real time, the default)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of both phases (medians over them)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--only", choices=("healthy", "http-5xx"), help="run one phase only")
    a = ap.parse_args()
    spm = a.seconds_per_minute
    work = Path(tempfile.mkdtemp(prefix="shipwatch-bench-deploy."))
    ready = work / "ready.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "localaws"))
    server = subprocess.Popen([str(VENV / "python"), "-m", "localaws", "serve", "--port", "0",
                               "--seconds-per-minute", str(spm), "--ready-file", str(ready)],
                              env=env, stdout=subprocess.DEVNULL, stderr=open(work / "localaws.log", "w"))
    try:
        for _ in range(300):
            if ready.exists() and ready.stat().st_size:
                break
            time.sleep(0.1)
        endpoint = json.loads(ready.read_text())["endpoint"]
        settings = control(endpoint, "GET", "/_localaws/config")
        print(f"local AWS at {endpoint}; 1 emulated minute = {spm:g} real s; CodeDeploy polls alarms every "
              f"{settings.get('alarm_poll_seconds')} emulated s; alarms evaluated every "
              f"{settings.get('alarm_eval_seconds')} emulated s", file=sys.stderr)
        results: list[dict] = []
        calls: dict[str, dict[str, dict[str, int]]] = {}
        for rep in range(a.repeat):
            for scenario in ("healthy", "http-5xx"):
                if a.only and scenario != a.only:
                    continue
                since = control(endpoint, "GET", "/_localaws/timeline?since=0")["last"]
                runs = []
                for tool in ("shipwatch", "aws-cli"):
                    name = f"{'sw' if tool == 'shipwatch' else 'cli'}{rep}{'ok' if scenario == 'healthy' else 'bad'}"
                    stack = control(endpoint, "POST", "/_localaws/provision",
                                    {"name": name, "images": {"v1": "healthy"}, "termination_wait_minutes": 1})
                    sha = secrets.token_hex(20)
                    image = control(endpoint, "POST", "/_localaws/image",
                                    {"repository": stack["repository"], "tag": sha, "scenario": scenario})
                    d = work / name
                    d.mkdir()
                    runs.append(Run(tool, scenario, stack, sha, image["image_pinned"], d))
                print(f"run {rep + 1}/{a.repeat}: {scenario}, both tools at once…", file=sys.stderr)
                threads = [threading.Thread(target=r.run, args=(endpoint, a.bin, spm)) for r in runs]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                timeline = control(endpoint, "GET", f"/_localaws/timeline?since={since}")["entries"]
                for r in runs:
                    m = measure(r, timeline)
                    results.append(m)
                    print("  " + json.dumps(m), file=sys.stderr)
                if rep == 0:
                    calls[scenario] = calls_by_agent(timeline, since)
        report(results, calls, spm)
    finally:
        server.terminate()
        server.wait(timeout=20)
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


def report(results: list[dict], calls: dict, spm: float) -> None:
    def med(xs):
        return f"{statistics.median(xs):6.2f} s (n={len(xs)}, max {max(xs):.2f})" if xs else "     -"

    agents = {"shipwatch": "aws-sdk-rust", "aws-cli": "aws-cli"}
    scale = "real time" if spm == 60 else f"time scaled {60 / spm:g}x (quick look, not for quoting)"
    print(f"\nshipwatch deploy vs aws ecs deploy on the local AWS, {scale}")
    print(f"{'':44} {'shipwatch':32} aws ecs deploy")
    for scenario in ("healthy", "http-5xx"):
        row = {t: [r for r in results if r["tool"] == t and r["scenario"] == scenario] for t in agents}
        print(f"{scenario}:")
        print(f"  {'exit codes':42} {str([r['exit'] for r in row['shipwatch']]):32} "
              f"{[r['exit'] for r in row['aws-cli']]}")
        print(f"  {'terminal state waited for':42} {str(sorted({r.get('terminal') for r in row['shipwatch']})):32} "
              f"{sorted({r.get('terminal') for r in row['aws-cli']})}")
        if scenario == "http-5xx":
            for t in agents:
                by = [r.get("stopped_by", "not stopped on the alarm") for r in row[t]]
                print(f"  {'stopped by (' + t + ')':42} "
                      + ", ".join(f"{b} ×{by.count(b)}" for b in sorted(set(by))))
            own = [r["alarm_to_stop"] for r in row["shipwatch"] if r.get("stopped_by", "").startswith("the tool")]
            codedeploy = [r["alarm_to_stop"] for t in agents for r in row[t]
                          if r.get("stopped_by", "").startswith("CodeDeploy")]
            print(f"  {'alarm in ALARM → StopDeployment (shipwatch)':42} {med(own)}")
            print(f"  {'alarm in ALARM → stopped by CodeDeploy':42} {med(codedeploy)}"
                  "   (its own alarm polling, any stack)")
        print(f"  {'terminal state → process exit':42} "
              f"{med([r['terminal_to_exit'] for r in row['shipwatch'] if 'terminal_to_exit' in r]):32} "
              f"{med([r['terminal_to_exit'] for r in row['aws-cli'] if 'terminal_to_exit' in r])}")
        c = calls.get(scenario, {})
        print(f"  {'API calls (first run)':42} {sum(c.get(agents['shipwatch'], {}).values()):<32} "
              f"{sum(c.get(agents['aws-cli'], {}).values())}")
    all_sw = [r["terminal_to_exit"] for r in results if r["tool"] == "shipwatch" and "terminal_to_exit" in r]
    all_cli = [r["terminal_to_exit"] for r in results if r["tool"] == "aws-cli" and "terminal_to_exit" in r]
    print(f"\nterminal → exit, all runs: shipwatch {med(all_sw)}; aws ecs deploy {med(all_cli)}")
    healthy = calls.get("healthy", {}).get(agents["shipwatch"], {})
    if healthy:
        print("shipwatch calls for the healthy 10-step deployment, by operation:")
        for op, n in sorted(healthy.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5}  {op}")


if __name__ == "__main__":
    sys.exit(main())
