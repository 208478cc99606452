#!/usr/bin/env bash
# Benchmark (a script, not a test): user requests exposed to a bad release with shipwatch's
# judge, with shipwatch on the alarms only, and with CodeDeploy's own alarm rollback, on the
# emulator's realistic timing, time scaled (numbers in emulated seconds). See
# scripts/bench_judge.py for what is measured.
#
# Usage: scripts/bench-judge.sh [--seconds-per-minute S] [--healthy-runs N] [--runs N] [--rpm R] [--parallel P]
#        [--cases healthy-noisy,http-5xx,…] [--modes judge,alarm-only,codedeploy] [--min-requests N] [--confidence C]
# Env: BIN=/path/to/shipwatch (default: a release build of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh emulator >&2
if [[ -z "${BIN:-}" ]]; then
  echo "building release binary…" >&2
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/shipwatch"
fi
exec .tools/venv/bin/python scripts/bench_judge.py --bin "$BIN" "$@"
