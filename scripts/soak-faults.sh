#!/usr/bin/env bash
# Soak (a script, not part of the suite): 20 deployments against the local AWS under
# 30 % throttling + 10 % 5xx + 2 s latency on every call, alternating healthy and 5xx
# releases. Each must end right (0, or 3 stopped by shipwatch itself) and exit within
# 10 s of the terminal state; one line per run, then a summary.
#
# Usage: scripts/soak-faults.sh [RUNS]
# Env: SHIPWATCH_SOAK_LATENCY_MS (2000), SHIPWATCH_SOAK_SECONDS_PER_MINUTE (10),
# SHIPWATCH_SOAK_SHOW (set: print each run's whole output),
# SHIPWATCH_SOAK_KIND (healthy or http-5xx: only that kind; default alternating),
# SHIPWATCH_SOAK_TIMING (realistic: AWS's alarm, metric and log timing; fast: the
# emulator's quick one), SHIPWATCH_SOAK_REQUESTS_PER_MINUTE (600).
# CodeDeploy's own alarm poll runs every 3 emulated minutes; the stack has no termination
# wait (shipwatch reads it in real minutes, which the scaled emulator runs through faster).
# For a 5xx release the lines after the run say what decided the stop and list the AWS
# calls the emulator received after the terminal state (+seconds operation): what stood
# between the end and the exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh emulator >&2
export SHIPWATCH_SOAK_RUNS="${1:-20}"
exec cargo nextest run --test e2e --run-ignored only --no-capture -E 'test(soak_under_faults)'
