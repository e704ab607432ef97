#!/usr/bin/env bash
# bench/ab.sh — before/after CPU µs per request of two mxgate binaries (or two
# environments of one binary), side by side in interleaved rounds, on loopback.
#
# Each variant is a separate `mxgate serve` (verifying, bench key pinned) in
# front of one shared fake upstream. For each round, each PDU count and each
# variant (order alternating per round): one closed-loop run, recording the
# variant's CPU µs/request, req/s and RSS. Prints medians per variant.
#
# Usage: bench/ab.sh [--rounds N] [--pdus "1 10"] [--connections N]
#          [--duration S] [--verify true|false] [--out DIR] [--base-port P]
#          NAME=BINARY[:ENV=VALUE,...] NAME=BINARY[:...] ...
# Example: bench/ab.sh before=/tmp/mxgate-old after=target/release/mxgate
#          bench/ab.sh glibc=target/release/mxgate arena2=target/release/mxgate:MALLOC_ARENA_MAX=2
set -euo pipefail

ROUNDS=3
PDUS="1 10"
CONNECTIONS=32
DURATION=5
VERIFY=true
BASE_PORT=29000
OUT=""
VARIANTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --pdus) PDUS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --verify) VERIFY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *=*) VARIANTS+=("$1"); shift ;;
    *) echo "ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ ${#VARIANTS[@]} -ge 1 ]] || { echo "ab.sh: give at least one NAME=BINARY" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/mxgate-ab.XXXXXX)}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
BENCH="$ROOT/target/release/mxgate-bench"
UP_PORT=$((BASE_PORT + 8))
PIDS=()

log() { printf '[ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT


"$BENCH" upstream --listen "127.0.0.1:$UP_PORT" 2>"$OUT/upstream.log" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "$UP_PORT"
sleep 0.2
kill -0 "$UP_PID" 2>/dev/null || { log "the upstream did not start (port in use?)"; exit 1; }

declare -A URL PID
NAMES=()
i=0
for variant in "${VARIANTS[@]}"; do
  name=${variant%%=*}; spec=${variant#*=}
  binary=${spec%%:*}; envs=""
  [[ $spec == *:* ]] && envs=${spec#*:}
  port=$((BASE_PORT + 400 + i)); i=$((i + 1))
  mkdir -p "$OUT/state-$name"
  bench_mxgate_config "$VERIFY" "127.0.0.1:$port" "$OUT/state-$name" > "$OUT/$name.toml"
  # shellcheck disable=SC2086 # envs is a comma-separated list of VAR=VALUE
  env ${envs//,/ } RUST_LOG=${MXGATE_LOG:-info} "$binary" serve --config "$OUT/$name.toml" \
    >"$OUT/$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=("$!")
  URL[$name]="http://127.0.0.1:$port"
  NAMES+=("$name")
  wait_port "$port"
  log "$name: $binary ${envs:+($envs)} pid ${PID[$name]}"
done

for p in $PDUS; do
  count=$(( p == 1 ? 60000 : (p <= 10 ? 20000 : 4000) ))
  "$BENCH" sign --pdus "$p" --count "$count" --out "$OUT/pool-$p.bin" 2>>"$OUT/bench.log"
done

for round in $(seq "$ROUNDS"); do
  for p in $PDUS; do
    order=("${NAMES[@]}")
    if (( round % 2 == 0 )); then
      order=(); for (( j=${#NAMES[@]}-1; j>=0; j-- )); do order+=("${NAMES[j]}"); done
    fi
    for name in "${order[@]}"; do
      if line=$("$BENCH" run --target "${URL[$name]}" --requests "$OUT/pool-$p.bin" \
          --connections "$CONNECTIONS" --duration "$DURATION" --warmup 1 \
          --target-pid "${PID[$name]}" --label "$name" --json 2>>"$OUT/bench.log"); then
        echo "$line" >> "$RESULTS"
        log "$name pdus=$p: $(jq -r '"\(.rps|floor) req/s, \(.target_cpu_us_per_req // 0 | .*10|round/10) µs/req"' <<<"$line")"
      else
        log "$name pdus=$p: FAILED (see $OUT/bench.log)"
      fi
    done
  done
done

python3 - "$RESULTS" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["pdus"], r["label"])].append(r)
print(f"{'variant':<12} {'pdus':>4} {'runs':>4} {'cpu µs/req (median)':>20} {'all rounds':<24} {'req/s':>7} {'rss MiB':>7}")
for (pdus, label), rs in sorted(runs.items()):
    cpu = [r["target_cpu_us_per_req"] for r in rs]
    rss = statistics.median(r.get("target_rss_kib") or 0 for r in rs) / 1024
    print(f"{label:<12} {pdus:>4} {len(rs):>4} {statistics.median(cpu):>20.1f} "
          f"{' '.join(f'{c:.1f}' for c in cpu):<24} {statistics.median(r['rps'] for r in rs):>7.0f} {rss:>7.1f}")
PY
