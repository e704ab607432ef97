#!/usr/bin/env bash
# bench/instructions.sh — instructions per request of one or more mxgate
# binaries, counted by valgrind's callgrind: deterministic where CPU time on a
# busy shared machine moves by ±10 % between runs, so small changes show.
#
# For each binary: a verifying `mxgate serve` under callgrind in front of the
# fake upstream; a short warm-up run, counters zeroed, a measured closed-loop
# run of DURATION seconds, counters dumped; prints instructions (Ir) ÷
# responses. Valgrind runs the gateway ~50× slower and on one thread at a
# time, so only the instruction count is meaningful, not the timing.
#
# Usage: bench/instructions.sh [--pdus "1 10"] [--duration S] [--connections N]
#          [--out DIR] [--base-port P] NAME=BINARY [NAME=BINARY ...]
set -euo pipefail

PDUS="1 10"
DURATION=5
CONNECTIONS=8
BASE_PORT=32000
OUT=""
VARIANTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pdus) PDUS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *=*) VARIANTS+=("$1"); shift ;;
    *) echo "instructions.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ ${#VARIANTS[@]} -ge 1 ]] || { echo "instructions.sh: give NAME=BINARY" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/mxgate-instr.XXXXXX)}
mkdir -p "$OUT"
BENCH="$ROOT/target/release/mxgate-bench"
UP_PORT=$((BASE_PORT + 8))
PORT=$((BASE_PORT + 448))
PIDS=()

log() { printf '[instructions %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT


"$BENCH" upstream --listen "127.0.0.1:$UP_PORT" 2>"$OUT/upstream.log" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "$UP_PORT"
sleep 0.2
kill -0 "$UP_PID" 2>/dev/null || { log "the upstream did not start (port in use?)"; exit 1; }

mkdir -p "$OUT/state"
bench_mxgate_config true "127.0.0.1:$PORT" "$OUT/state" > "$OUT/mxgate.toml"
for p in $PDUS; do
  "$BENCH" sign --pdus "$p" --count 20000 --out "$OUT/pool-$p.bin" 2>>"$OUT/bench.log"
done

printf '%-12s %4s %9s %14s %12s\n' variant pdus responses "instructions" "per request" | tee "$OUT/summary.txt"
for variant in "${VARIANTS[@]}"; do
  name=${variant%%=*}; binary=${variant#*=}
  for p in $PDUS; do
    RUST_LOG=${MXGATE_LOG:-info} valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$name.$p" \
      "$binary" serve --config "$OUT/mxgate.toml" >"$OUT/$name.$p.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_port "$PORT" 600
    "$BENCH" run --target "http://127.0.0.1:$PORT" --requests "$OUT/pool-$p.bin" \
      --connections "$CONNECTIONS" --duration 1 --warmup 0 --json >/dev/null 2>>"$OUT/bench.log"
    callgrind_control -z "$pid" >/dev/null
    line=$("$BENCH" run --target "http://127.0.0.1:$PORT" --requests "$OUT/pool-$p.bin" \
      --connections "$CONNECTIONS" --duration "$DURATION" --warmup 0 --json 2>>"$OUT/bench.log")
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    responses=$(jq -r .requests <<<"$line")
    # The dump after zeroing is the file with the highest part number.
    dump=$(ls -v "$OUT/cg.$name.$p".* 2>/dev/null | tail -n 1)
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    printf '%-12s %4s %9s %14s %12.0f\n' "$name" "$p" "$responses" "$ir" \
      "$(jq -n "$ir / $responses")" | tee -a "$OUT/summary.txt"
  done
done
