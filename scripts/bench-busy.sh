#!/usr/bin/env bash
# Benchmark of the rollback report on a busy service (a script, not a test).
#
# Starts the local AWS emulator with the sample stack, sends RPS requests a second
# (default 200) through its load balancer, and deploys a `slow-burn` release (4.5 % of
# green's GET /api/orders fail, 1 % background errors on both colours) with CodeDeploy's
# linear 10 %/min configuration. CodeDeploy is made to poll its alarms only every 7.5
# emulated minutes, so the bad release runs about 8 minutes, up to 80 % of the traffic,
# before it is stopped and rolled back (the linear configuration finishes shifting after
# 9), a report window of about 12 minutes with the margins: roughly RPS × 60 × 12 lines.
# When the rollback is complete, `shipwatch report <deployment>` runs, and the script
# prints the time from the rollback's end to the report written, and how many
# FilterLogEvents calls it made (the emulator counts them; AWS allows 5 a second).
# Target: <= 60 s.
#
# Time scaling: the emulator's clock runs SPM real seconds per emulated minute (default
# 30, so the 10-minute deployment takes about 5 real minutes). Traffic, log timestamps,
# metrics and CodeDeploy run on the emulated clock; the report's own time and
# FilterLogEvents pacing (4 calls a second) are real time, as against AWS.
#
# Usage: scripts/bench-busy.sh
# Env:   RPS (200), SPM (30), BIN=/path/to/shipwatch (default: a release build),
#        KEEP=1 keeps the temporary directory.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
rps="${RPS:-200}"
spm="${SPM:-30}"
python="$here/.tools/venv/bin/python"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/shipwatch-busy.XXXXXX")"
emu_pid=""
cleanup() {
  if [[ -n "$emu_pid" ]]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi
}
trap cleanup EXIT

if [[ ! -x "$python" ]]; then
  echo "$python is missing: run scripts/setup.sh to install the local AWS emulator" >&2
  exit 2
fi
if [[ -z "${BIN:-}" ]]; then
  echo "building release binary…" >&2
  (cd "$here" && cargo build --release --quiet)
  BIN="${CARGO_TARGET_DIR:-$here/target}/release/shipwatch"
fi

echo "starting the emulator (${spm} s per emulated minute)…" >&2
PYTHONPATH="$here/tests/localaws" "$python" -m localaws serve --port 0 \
  --seconds-per-minute "$spm" --provision web --ready-file "$tmp/ready.json" \
  >"$tmp/emulator.out" 2>"$tmp/emulator.err" &
emu_pid=$!
for _ in $(seq 1 300); do [[ -s "$tmp/ready.json" ]] && break; sleep 0.1; done
[[ -s "$tmp/ready.json" ]] || { echo "the emulator did not start:" >&2; cat "$tmp/emulator.err" >&2; exit 1; }

PYTHONPATH="$here/tests/localaws/tests:$here/tests/localaws" \
  "$python" - "$tmp" "$rps" "$BIN" <<'PY'
import json, os, subprocess, sys, time, urllib.request
import boto3
from helpers_deploy import deploy_tag, wait_deployment

tmp, rps, binary = sys.argv[1], float(sys.argv[2]), sys.argv[3]
ready = json.load(open(os.path.join(tmp, "ready.json")))
ep = ready["endpoint"]
stack = ready["stack"].get("web", ready["stack"])

def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ep + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")

def filter_calls():
    return int(control("GET", "/_localaws/calls")["calls"].get("logs.FilterLogEvents", 0))

kw = dict(endpoint_url=ep, region_name=stack["region"], aws_access_key_id="t", aws_secret_access_key="t")
cd, ecs, ecr = boto3.client("codedeploy", **kw), boto3.client("ecs", **kw), boto3.client("ecr", **kw)
control("POST", "/_localaws/config", {"traffic_requests_per_minute": rps * 60, "alarm_poll_seconds": 450})
control("POST", "/_localaws/image", {"repository": stack["repository"], "tag": "busy", "scenario": "slow-burn"})
spm = control("GET", "/_localaws/config")["seconds_per_minute"]
dep, _ = deploy_tag(cd, ecs, ecr, stack, "busy")
print(f"deployment {dep}: {rps:.0f} requests/s, slow-burn release, waiting for the rollback…", file=sys.stderr)
info = wait_deployment(cd, dep, timeout=spm * 20)
rb = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
if not rb:
    sys.exit(f"deployment {dep} ended {info['status']} without a rollback")
wait_deployment(cd, rb, statuses=("Succeeded", "Failed", "Stopped"), timeout=spm * 10)
t0 = time.time()
calls0 = filter_calls()
# CodeDeploy's times are on the emulated clock.
minutes = (info["completeTime"] - info["createTime"]).total_seconds() / 60

cfg = os.path.join(tmp, "shipwatch.toml")
with open(cfg, "w") as f:
    f.write(f"""[service]
region = "{stack['region']}"
cluster = "{stack['cluster']}"
service = "{stack['service']}"
container = "{stack['container']}"
port = {stack['port']}

[image]
repository = "{stack['repository']}"

[codedeploy]
application = "{stack['application']}"
deployment_group = "{stack['deployment_group']}"

[report]
output_dir = "{tmp}/report"
jaeger_url = "{ep}"
""")
env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "AWS_ENDPOINT_URL": ep, "SHIPWATCH_CONFIG": cfg,
       "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_REGION": stack["region"],
       "AWS_EC2_METADATA_DISABLED": "true"}
out = subprocess.run([binary, "report", dep, "--out-dir", os.path.join(tmp, "report")],
                     env=env, capture_output=True, text=True)
t1 = time.time()
if out.returncode != 0:
    sys.exit(f"shipwatch report failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
calls = filter_calls() - calls0
r = json.load(open(os.path.join(tmp, "report", "report.json")))
m = (r.get("metrics") or {}).get("totals") or {}
logs, blue = r.get("logs") or {}, r.get("blue_logs") or {}
requests = m.get("green_requests", 0) + m.get("blue_requests", 0)
print(f"deployment ran      {minutes:.1f} emulated min before CodeDeploy stopped it")
w = r.get("window") or {}
print(f"report window       {w.get('start')} → {w.get('end')} (emulated)")
print(f"requests in window  {requests:.0f} (one log line each), green {m.get('green_requests', 0):.0f}, blue {m.get('blue_requests', 0):.0f}")
print(f"filter pattern      {logs.get('filter_pattern')}")
print(f"lines fetched       green {logs.get('lines_read')}, blue {blue.get('lines_read')}")
print(f"FilterLogEvents     {calls} calls (first pages, filtered reads of both colours, slow-request reads)")
print(f"rollback end → report written: {t1 - t0:.1f} s (target ≤ 60 s)")
print(f"verdict: {r['verdict']['text'][:300]}")
PY
