#!/usr/bin/env bash
# Builds a shipwatch binary that runs on older Linux agents and on AWS Lambda's
# provided.al2023: linked against glibc 2.28 symbols at most (Debian 10, RHEL 8 and
# Amazon Linux 2023 have that or newer), with zig as the linker through cargo-zigbuild.
# Both come from the Python package index, pinned below; no extra rustup target is needed
# because x86_64-unknown-linux-gnu is the host's.
#   scripts/build-portable.sh [--profile release|dev]   → target/portable/shipwatch
# Then checks the binary: `--version` runs, and no dynamic symbol needs a glibc newer
# than the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = "--profile" ]; then profile="${2:?--profile needs a name}"; fi
baseline=2.28
tools="$PWD/.tools/zig"
stamp="cargo-zigbuild==0.24.1 ziglang==0.17.1"
if [ ! -f "$tools/.stamp" ] || [ "$(cat "$tools/.stamp")" != "$stamp" ]; then
  echo "build-portable: installing $stamp"
  rm -rf "$tools"
  "${PYTHON:-python3}" -m venv "$tools"
  # shellcheck disable=SC2086
  "$tools/bin/pip" install --quiet --disable-pip-version-check $stamp
  echo "$stamp" > "$tools/.stamp"
fi
export PATH="$tools/bin:$PATH"
target=x86_64-unknown-linux-gnu
cargo zigbuild --quiet --profile "$profile" --target "$target.$baseline" --target-dir target/zig
dir=$profile
[ "$profile" = dev ] && dir=debug
mkdir -p target/portable
cp "target/zig/$target/$dir/shipwatch" target/portable/shipwatch

# The newest glibc symbol version the binary asks for must not pass the baseline.
newest=$(objdump -T target/portable/shipwatch | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
if [ "$(printf '%s\n%s\n' "$newest" "$baseline" | sort -V | tail -1)" != "$baseline" ]; then
  echo "build-portable: the binary needs GLIBC_$newest, newer than the $baseline baseline" >&2
  exit 1
fi
target/portable/shipwatch --version
echo "build-portable: target/portable/shipwatch needs glibc $newest at most (baseline $baseline)"
