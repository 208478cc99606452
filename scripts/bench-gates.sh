#!/usr/bin/env bash
# Benchmark (not a test): shipwatch evaluating a large Trivy report against jq doing the
# same evaluation, on one generated file in one run.
#
#   scripts/bench-gates.sh [SIZE_MB]      # default 50
#
# Generates a Trivy-format (schema 2) image report of about SIZE_MB megabytes, then times
#   shipwatch (release build): gate image --report big.json  (parse, policy, allowlist,
#                              JUnit + SARIF + Markdown + JSON written)
#   jq: counts by severity plus the failing findings (CRITICAL/HIGH with a fixed version),
#       the same decision the default image policy makes
# Each is run 3 times; the best time counts. Prints MB/s for both and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-50}
jq=${JQ:-/usr/bin/jq}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "bench: building shipwatch (release)"
cargo build --release --quiet 2>/dev/null || cargo build --release
bin=$(pwd)/target/release/shipwatch

echo "bench: generating a ${size_mb} MB Trivy report"
python3 - "$work/big.json" "$size_mb" <<'EOF'
import json, random, sys
path, size_mb = sys.argv[1], int(sys.argv[2])
target = size_mb * 1024 * 1024
rnd = random.Random(42)
sev = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
words = "buffer overflow in the parser allows remote attackers to cause a denial of service via crafted input \"quoted\" \\ path".split()
def vuln(i, pkg):
    has_fix = rnd.random() < 0.6
    v = {
        "VulnerabilityID": f"CVE-20{rnd.randint(10, 25)}-{rnd.randint(1000, 99999)}",
        "PkgID": f"{pkg}@1.{i % 20}.{i % 7}",
        "PkgName": pkg,
        "PkgIdentifier": {"PURL": f"pkg:npm/{pkg}@1.{i % 20}.{i % 7}", "UID": f"{i:016x}"},
        "InstalledVersion": f"1.{i % 20}.{i % 7}",
        "Status": "fixed" if has_fix else "affected",
        "Layer": {"DiffID": "sha256:" + "ab" * 32},
        "SeveritySource": "nvd",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/cve-{i}",
        "DataSource": {"ID": "ghsa", "Name": "GitHub Security Advisory npm", "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Anpm"},
        "Title": " ".join(rnd.choice(words) for _ in range(8)),
        "Description": " ".join(rnd.choice(words) for _ in range(60)),
        "Severity": rnd.choice(sev),
        "CweIDs": [f"CWE-{rnd.randint(20, 900)}"],
        "VendorSeverity": {"ghsa": rnd.randint(1, 4), "nvd": rnd.randint(1, 4)},
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}},
        "References": [f"https://example.invalid/ref/{i}/{k}" for k in range(4)],
        "PublishedDate": "2021-01-01T00:00:00Z",
        "LastModifiedDate": "2023-01-01T00:00:00Z",
    }
    if has_fix:
        v["FixedVersion"] = f"1.{i % 20}.{i % 7 + 1}"
    return v
results, size, i = [], 0, 0
while size < target:
    vulns = []
    for _ in range(200):
        v = vuln(i, f"pkg-{i % 997}")
        size += len(json.dumps(v)) + 2
        vulns.append(v)
        i += 1
    results.append({"Target": f"app/node_modules/set-{len(results)}/package-lock.json", "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": vulns})
report = {"SchemaVersion": 2, "CreatedAt": "2026-11-22T00:00:00Z", "ArtifactName": "bench:latest",
          "ArtifactType": "container_image", "Metadata": {"OS": {"Family": "alpine", "Name": "3.19.1"}}, "Results": results}
with open(path, "w") as f:
    json.dump(report, f)
print(f"bench: {i} vulnerabilities")
EOF
bytes=$(stat -c %s "$work/big.json")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "bench: report is $mb MB"

filter='[.Results[]? | .Vulnerabilities[]?]
  | { counts: (group_by(.Severity) | map({key: .[0].Severity, value: length}) | from_entries),
      failing: [ .[] | select((.Severity == "CRITICAL" or .Severity == "HIGH") and ((.FixedVersion // "") != ""))
                 | {id: .VulnerabilityID, package: .PkgName, version: .InstalledVersion, fixed: .FixedVersion, title: .Title} ] }
  | {counts, failing: (.failing | length)}'

now() { date +%s%N; }
best() { # best-of-3 wall time in ms of "${@:2}"; $1 is the exit code it must end with
  local want=$1 best_ms=0 t0 t1 ms rc
  shift
  for _ in 1 2 3; do
    t0=$(now)
    rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    t1=$(now)
    # A run that failed early would look fast; refuse to time it.
    if [ "$rc" != "$want" ]; then
      echo "bench: $1 exited $rc, expected $want" >&2
      exit 1
    fi
    ms=$(( (t1 - t0) / 1000000 ))
    if [ "$best_ms" = 0 ] || [ "$ms" -lt "$best_ms" ]; then best_ms=$ms; fi
  done
  echo "$best_ms"
}

# Same answer first: the number of failing findings must agree.
# Run from the scratch directory: no config file there, so no allowlist either.
cd "$work"
# The gate exits 7 here (the report has failing findings), so its status is not checked.
"$bin" --output json gate image --report big.json --out-dir out > shipwatch.json || true
sw_failing=$(python3 -c 'import json,sys; print(json.load(open("shipwatch.json"))["failing"])')
jq_failing=$("$jq" "$filter" big.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["failing"])')
echo "bench: failing findings: shipwatch $sw_failing, jq $jq_failing"
if [ "$sw_failing" != "$jq_failing" ]; then
  echo "bench: the two disagree; the comparison is meaningless" >&2
  exit 1
fi

# The report has failing findings, so the gate exits 7.
sw_ms=$(best 7 "$bin" gate image --report big.json --out-dir out)
jq_ms=$(best 0 "$jq" "$filter" big.json)
# Where shipwatch's time goes, from its own debug log: reading, parsing and judging the
# report, versus rendering and writing the four output files.
for i in 1 2 3; do
  "$bin" -vv gate image --report big.json --out-dir out 2> "debug-$i.log" >/dev/null || true
done
# shipwatch logs this phase in milliseconds whatever its length ("… after 1234.5 ms").
eval_ms=$(sed -n 's/.*gates evaluated after \([0-9.]*\) ms.*/\1/p' debug-*.log | sort -n | sed -n 1p)
if [ -z "$eval_ms" ]; then
  echo "bench: no \"gates evaluated after … ms\" line in shipwatch's debug log" >&2
  exit 1
fi
awk -v b="$bytes" -v s="$sw_ms" -v j="$jq_ms" -v e="${eval_ms:-0}" 'BEGIN {
  mb = b / 1048576
  printf "shipwatch: %5d ms  %7.1f MB/s  (whole run: parse, policy, JUnit + SARIF + Markdown + JSON written)\n", s, mb / (s / 1000)
  if (e > 0) printf "           %5d ms  %7.1f MB/s  (of which reading, parsing and judging the report)\n", e, mb / (e / 1000)
  printf "jq:        %5d ms  %7.1f MB/s\n", j, mb / (j / 1000)
  printf "ratio:     %.1fx whole run, %.1fx evaluation only (target >= 10x)\n", j / s, (e > 0 ? j / e : 0)
}'
