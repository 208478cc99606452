#!/usr/bin/env bash
# The whole loop against a local AWS: provision a sample ECS/CodeDeploy stack, deploy a
# healthy release (exit 0), then a release whose green tasks answer 5xx: shipwatch sees
# the alarm, stops the deployment, CodeDeploy rolls back (exit 3), and the report says why.
# Time is scaled: one emulated minute lasts one real second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/shipwatch-out/demo"
rm -rf "$out" && mkdir -p "$out"

bash scripts/setup.sh emulator
echo "demo: building shipwatch"
cargo build --quiet
bin="$root/target/debug/shipwatch"

echo "demo: starting the local AWS (1 emulated minute = 1 s)"
PYTHONPATH=tests/localaws .tools/venv/bin/python -m localaws serve --port 0 --seconds-per-minute 1 \
  --provision web --ready-file "$out/ready.json" > "$out/localaws.out" 2> "$out/localaws.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/ready.json" ] && break; sleep 0.1; done
[ -s "$out/ready.json" ] || { echo "demo: the local AWS did not start; see $out/localaws.log" >&2; exit 1; }
endpoint=$(.tools/venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$out/ready.json")
stack() { .tools/venv/bin/python -c 'import json,sys; r=json.load(open(sys.argv[1]))["stack"]; r=r[0] if isinstance(r,list) else r; r=r.get("web",r); print(r[sys.argv[2]])' "$out/ready.json" "$1"; }

good=$(printf 'good-%s' "$(date +%s%N)" | sha1sum | cut -c1-40)
bad=$(printf 'bad-%s' "$(date +%s%N)" | sha1sum | cut -c1-40)
push() { curl -fsS -X POST "$endpoint/_localaws/image" -H 'Content-Type: application/json' \
  -d "{\"repository\":\"$(stack repository)\",\"tag\":\"$1\",\"scenario\":\"$2\"}" > /dev/null; }
push "$good" healthy
push "$bad" http-5xx
# CodeDeploy's own alarm polling is left at a realistic pace (3 emulated minutes here), so
# what stops the bad release is shipwatch watching the alarm itself.
curl -fsS -X POST "$endpoint/_localaws/config" -H 'Content-Type: application/json' -d '{"alarm_poll_seconds": 180}' > /dev/null

cat > "$out/shipwatch.toml" <<TOML
# Generated for the demo stack; pipeline/shipwatch.toml is the sample for a real service.
[service]
region = "$(stack region)"
cluster = "$(stack cluster)"
service = "$(stack service)"
container = "$(stack container)"
port = $(stack port)

[image]
repository = "$(stack repository)"

[task_definition]
mode = "current"

[codedeploy]
application = "$(stack application)"
deployment_group = "$(stack deployment_group)"
deployment_config = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"

[watch]
poll_interval = "0.5s"
alarm_poll_interval = "0.5s"
heartbeat = "10s"
state_file = "$out/deploy-state.json"

[report]
output_dir = "$out/report"
jaeger_url = "$endpoint"
TOML

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION="$(stack region)" AWS_EC2_METADATA_DISABLED=true
export SHIPWATCH_CONFIG="$out/shipwatch.toml"

echo
echo "demo: 1/2 deploying a healthy release ${good:0:7} (linear 10% every minute)"
set +e
"$bin" deploy --sha "$good"; rc1=$?
echo "demo: shipwatch exited $rc1 (0 = succeeded)"
echo
echo "demo: 2/2 deploying release ${bad:0:7}, whose green tasks answer 5xx on GET /api/orders"
"$bin" deploy --sha "$bad"; rc2=$?
set -e
echo "demo: shipwatch exited $rc2 (3 = rolled back)"
echo
if [ -f "$out/report/report.md" ]; then
  echo "demo: the rollback report:"
  echo "  $out/report/report.md"
  echo "  $out/report/report.html"
  echo "  $out/report/report.json"
fi
[ "$rc1" = 0 ] && [ "$rc2" = 3 ] || { echo "demo: unexpected exit codes ($rc1, $rc2)" >&2; exit 1; }
