#!/usr/bin/env bash
# Benchmark of the rollback report's log analysis (a script, not a test).
#
# Generates a pino-style JSON-lines log file (default 1 GiB) in a temporary directory,
# then times, in one run and on the same (page-cached) file:
#   - `wc -l`                                   (the floor: reading and counting lines)
#   - `shipwatch report --logs-file`            (error lines grouped by message and by trace id)
#   - `jq` doing the same grouping              (error lines counted by message and by trace id)
# and prints MB/s, the ratios and peak RSS. Targets: >= 20x jq, >= 1/5 of wc -l, <= 64 MB RSS.
# wc -l and shipwatch take well under a second, where one sample on a shared machine
# says little: they run REPEAT times each, alternating, and the medians are compared
# (each run's seconds are printed too). jq runs once.
#
# Usage: scripts/bench-report.sh [SIZE_MB]      (SIZE_MB defaults to 1024)
# Env:   KEEP=1 keeps the temporary directory; JQ=/path/to/jq; BIN=/path/to/shipwatch;
#        REPEAT=N runs of wc -l and shipwatch (default 5).
set -euo pipefail

size_mb="${1:-1024}"
here="$(cd "$(dirname "$0")/.." && pwd)"
jq_bin="${JQ:-/usr/bin/jq}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/shipwatch-bench.XXXXXX")"
cleanup() { if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi; }
trap cleanup EXIT

if [[ -z "${BIN:-}" ]]; then
  echo "building release binary…" >&2
  (cd "$here" && cargo build --release --quiet)
  BIN="$here/target/release/shipwatch"
fi
log="$tmp/app.log"

echo "generating ${size_mb} MiB of pino-style log lines…" >&2
python3 - "$log" "$size_mb" <<'PY'
import random, sys, json
path, size_mb = sys.argv[1], int(sys.argv[2])
target = size_mb * 1024 * 1024
rng = random.Random(42)
routes = ["/api/orders", "/api/orders/{id}", "/api/cart", "/api/users/{id}", "/api/pay", "/health"]
t = 1767261600000
hexd = "0123456789abcdef"
def hid(n): return "".join(rng.choice(hexd) for _ in range(n))
# A pool of trace ids so that several error lines share one, as in a real incident.
pool = [hid(32) for _ in range(2000)]
written = 0
with open(path, "w", buffering=1 << 20) as f:
    batch = []
    while written < target:
        t += rng.randint(0, 3)
        route = rng.choice(routes).replace("{id}", str(rng.randint(1, 99999)))
        r = rng.random()
        tid = rng.choice(pool) if r < 0.03 else hid(32)
        base = {"level": 30, "time": t, "pid": 7, "hostname": "ip-10-0-1-23.ec2.internal",
                "req": {"id": rng.randint(1, 10**9), "method": "GET", "url": route,
                        "headers": {"host": "shop.example.com", "user-agent": "Mozilla/5.0", "accept": "application/json"}},
                "trace_id": tid, "span_id": hid(16)}
        if r < 0.015:
            base.update(level=50, res={"statusCode": 500}, responseTime=rng.randint(5, 3000),
                        err={"type": "Error", "message": "Database connection refused",
                             "stack": "Error: Database connection refused\n    at Pool.connect (/app/db.js:41:11)\n    at async getOrders (/app/orders.js:12:5)"},
                        msg="request errored")
        elif r < 0.025:
            base.update(level=50, msg="Timeout after %dms talking to payments" % rng.randint(1000, 5000),
                        res={"statusCode": 504}, responseTime=rng.randint(1000, 5000))
        elif r < 0.03:
            base.update(level=30, msg="request completed", res={"statusCode": 503}, responseTime=rng.randint(1, 50))
        else:
            base.update(res={"statusCode": 200}, responseTime=rng.randint(1, 300), msg="request completed")
        line = json.dumps(base, separators=(",", ":")) + "\n"
        batch.append(line)
        written += len(line)
        if len(batch) >= 5000:
            f.write("".join(batch)); batch.clear()
    f.write("".join(batch))
PY
bytes=$(stat -c %s "$log")
mb=$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1048576}')
echo "file: $log, $mb MiB, $(wc -l <"$log") lines" >&2
cat "$log" >/dev/null # warm the page cache so every tool reads from memory

# Runs a command under /usr/bin/time -v (or falls back to bash's time and /proc),
# printing "<seconds> <peak RSS kB>".
measure() {
  local out="$tmp/time.$$"
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$out" "$@" >/dev/null
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$out" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$out")
    echo "$wall $rss"
  else
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null &
    local pid=$! peak=0
    while kill -0 "$pid" 2>/dev/null; do
      local r; r=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [[ -n "$r" && "$r" -gt "$peak" ]] && peak=$r
      sleep 0.05
    done
    wait "$pid"
    end=$(date +%s.%N)
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}') $peak"
  fi
}

jq_prog='reduce (inputs | select(.level >= 50 or ((.res.statusCode // 0) >= 500))) as $l
  ({m: {}, t: {}};
   .m[($l.err.message // $l.msg // "")] += 1
   | if $l.trace_id then .t[$l.trace_id] += 1 else . end)
  | {messages: (.m | to_entries | sort_by(-.value) | .[:15]), traces: (.t | to_entries | sort_by(-.value) | .[:20])}'

# Run from the temporary directory so no project configuration file is picked up.
cd "$tmp"
unset SHIPWATCH_CONFIG
repeat="${REPEAT:-5}"
wc_runs=() sw_runs=() wc_rss=0 sw_rss=0
for ((i = 0; i < repeat; i++)); do
  read -r s r < <(measure wc -l "$log")
  wc_runs+=("$s"); ((r > wc_rss)) && wc_rss=$r
  read -r s r < <(measure "$BIN" report --logs-file "$log" --out-dir "$tmp/report")
  sw_runs+=("$s"); ((r > sw_rss)) && sw_rss=$r
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wc_s=$(median "${wc_runs[@]}")
sw_s=$(median "${sw_runs[@]}")
echo "wc -l runs (s):     ${wc_runs[*]}" >&2
echo "shipwatch runs (s): ${sw_runs[*]}" >&2
read -r jq_s jq_rss < <(measure "$jq_bin" -n "$jq_prog" "$log")

# Both tools must agree on what they counted, or the speed means nothing.
sw_errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logs"]["error_lines"])' "$tmp/report/report.json")
jq_errors=$("$jq_bin" -n 'reduce (inputs | select(.level >= 50 or ((.res.statusCode // 0) >= 500))) as $l (0; . + 1)' "$log")

awk -v mb="$mb" -v wc="$wc_s" -v sw="$sw_s" -v jq="$jq_s" -v wr="$wc_rss" -v sr="$sw_rss" -v jr="$jq_rss" \
    -v se="$sw_errors" -v je="$jq_errors" 'BEGIN {
  printf "\n%-10s %9s %10s %12s\n", "tool", "seconds", "MB/s", "peak RSS MB"
  printf "(wc -l and shipwatch: median of their runs; peak RSS: the highest)\n"
  printf "%-10s %9.2f %10.1f %12.1f\n", "wc -l", wc, mb/wc, wr/1024
  printf "%-10s %9.2f %10.1f %12.1f\n", "shipwatch", sw, mb/sw, sr/1024
  printf "%-10s %9.2f %10.1f %12.1f\n", "jq", jq, mb/jq, jr/1024
  printf "\nshipwatch vs jq:     %.1fx faster (target >= 20x)\n", jq/sw
  printf "shipwatch vs wc -l:  %.2f of its speed (target >= 0.20)\n", wc/sw
  printf "shipwatch peak RSS:  %.1f MB (target <= 64 MB)\n", sr/1024
  printf "error lines counted: shipwatch %d, jq %d%s\n", se, je, (se == je ? "" : "  (MISMATCH)")
}'
