#!/usr/bin/env bash
# Benchmark (a script, not a test): shipwatch deploy vs `aws ecs deploy` (AWS CLI v1) on the
# same local AWS, in real time by default (about 15 minutes: a 10-step linear deployment,
# then a 5xx release, both tools at once). Prints alarm → stop, terminal state → exit and
# API calls per deployment for both. See scripts/bench_deploy.py for what is measured.
#
# Usage: scripts/bench-deploy.sh [--seconds-per-minute S] [--repeat N] [--keep]
#   --seconds-per-minute 60 is real time (the default, the numbers to quote); less is a
#   quick look with shipwatch's poll intervals scaled by the same factor.
# Env: BIN=/path/to/shipwatch (default: a release build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh emulator >&2
if [[ -z "${BIN:-}" ]]; then
  echo "building release binary…" >&2
  cargo build --release --quiet
  BIN="$PWD/target/release/shipwatch"
fi
exec .tools/venv/bin/python scripts/bench_deploy.py --bin "$BIN" "$@"
