#!/usr/bin/env bash
# Installs the test dependencies (scripts/setup.sh) and runs every test: a plain build
# with warnings as errors, clippy and rustfmt, the Rust unit and end-to-end tests
# (nextest), the local AWS emulator's pytest suite, then the portable build's glibc check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/bin:$PATH"
status=0
# The plain build (no tests) must be warning-free: dead code shows up here first. The
# flag goes to shipwatch's own crate only, so the dependencies' build is shared.
cargo rustc --quiet --bin shipwatch -- -D warnings || status=$?
cargo clippy --quiet --all-targets -- -D warnings || status=$?
cargo fmt --check || status=$?
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast || status=$?
else
  cargo test --workspace --no-fail-fast || status=$?
fi
PYTHONPATH=tests/localaws .tools/venv/bin/python -m pytest tests/localaws/tests -q -p no:cacheprovider || status=$?
# The binary for older agents and Lambda still builds against the glibc 2.28 baseline
# (the dev profile: the check is the link, not the optimiser).
bash scripts/build-portable.sh --profile dev || status=$?
exit $status
