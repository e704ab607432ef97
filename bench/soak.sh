#!/usr/bin/env bash
# bench/soak.sh — load and soak figures for docs/reliability.md (issue 8),
# loopback only, bounded in time.
#
# Starts the fake upstream (mxgate-bench upstream) and one verifying mxgate
# (release builds), then runs the phases asked for:
#   idle       N idle TCP connections held (default 10 000): mxgate's RSS
#              before, with them, after; when mxgate closed them.
#   slowloris  M connections trickling header bytes (default 1 000) while
#              signed requests run at --rate: their p50/p99/errors, next to
#              a baseline run without the slow connections.
#   soak       signed requests at --rate for --soak-duration seconds
#              (default 600): RSS and open FDs of mxgate at start and end
#              (sampled every 30 s), error count.
# Prints a summary; raw JSON lines, samples, configs and logs stay in OUT.
#
# Usage: bench/soak.sh [--phases "idle slowloris soak"] [--idle N]
#          [--slowloris M] [--rate R] [--soak-duration S] [--hold S]
#          [--no-build] [--out DIR] [--base-port P]
set -euo pipefail

PHASES="idle slowloris soak"
IDLE=10000
SLOW=1000
RATE=500
SOAK=600
HOLD=45
BUILD=1
BASE_PORT=29000
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --phases) PHASES=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --slowloris) SLOW=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --soak-duration) SOAK=$2; shift 2 ;;
    --hold) HOLD=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/mxgate-soak.XXXXXX)}
mkdir -p "$OUT/state"
BENCH="$ROOT/target/release/mxgate-bench"
MXGATE="$ROOT/target/release/mxgate"
UP_PORT=$((BASE_PORT + 8))
GW_PORT=$((BASE_PORT + 448))
GW="127.0.0.1:$GW_PORT"
SUMMARY="$OUT/summary.txt"
PIDS=()

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$SUMMARY" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT


# Waits (up to $2 s) for a line containing $3 in file $1.
wait_line() {
  for _ in $(seq $(( $2 * 10 ))); do
    if grep -q "$3" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "no '$3' in $1 after $2 s"; return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
sample() { echo "$(date +%s) rss_kib=$(rss_kib "$MX_PID") fds=$(fds "$MX_PID")"; }

# Both the holders and mxgate need more than 10 000 descriptors.
ulimit -n "$(ulimit -Hn)"
if [[ $(ulimit -n) -lt $((IDLE + 1000)) ]]; then
  log "ulimit -n is $(ulimit -n): too low for $IDLE connections"; exit 1
fi

if [[ $BUILD == 1 ]]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release -q -p mxgate -p mxgate-bench)
fi

# --- the fake upstream and mxgate ------------------------------------------------
"$BENCH" upstream --listen "127.0.0.1:$UP_PORT" 2>"$OUT/upstream.log" &
PIDS+=($!)
wait_port "$UP_PORT"
# Defaults kept: request_timeout_secs = 30, idle_timeout_secs = 120.
# max_connections defaults to 10 000; the idle phase holds 10 000 plus the
# measuring connections.
bench_mxgate_config true "$GW" "$OUT/state" $((IDLE + 2000)) 1000000 > "$OUT/mxgate.toml"
RUST_LOG=${MXGATE_LOG:-info} "$MXGATE" serve --config "$OUT/mxgate.toml" >"$OUT/mxgate.log" 2>&1 &
MX_PID=$!; PIDS+=("$MX_PID")
wait_port "$GW_PORT"
"$BENCH" sign --pdus 1 --count 60000 --out "$OUT/pool.bin" 2>>"$OUT/bench.log"
log "mxgate pid $MX_PID on $GW, out $OUT, $(nproc) cores, ulimit -n $(ulimit -n)"

# measure LABEL SECONDS [args]: signed requests at RATE; one JSON line to OUT/LABEL.json.
measure() {
  local label=$1 secs=$2; shift 2
  "$BENCH" run --target "http://$GW" --requests "$OUT/pool.bin" --rate "$RATE" \
    --connections 16 --duration "$secs" --warmup 1 --target-pid "$MX_PID" \
    --expect-rejections --json --label "$label" "$@" >"$OUT/$label.json" 2>>"$OUT/bench.log"
  jq -r --arg l "$label" '"\($l): \(.ok) ok, \(.errors) errors \(.statuses) \(.failures), \(.rps|floor) req/s, p50 \(.p50_us|floor) µs, p99 \(.p99_us|floor) µs, max \(.max_us|floor) µs"' \
    "$OUT/$label.json" | tee -a "$SUMMARY" >&2
}

# --- idle connections ---------------------------------------------------------
phase_idle() {
  measure warm 3
  local before; before=$(rss_kib "$MX_PID")
  "$BENCH" idle "$GW" --connections "$IDLE" --hold "$HOLD" >"$OUT/idle.jsonl" 2>>"$OUT/bench.log" &
  local holder=$!
  wait_line "$OUT/idle.jsonl" 300 '"held"'
  sleep 5
  local with fd_with; with=$(rss_kib "$MX_PID"); fd_with=$(fds "$MX_PID")
  measure idle-traffic 5
  wait "$holder" || true
  sleep 2
  local after; after=$(rss_kib "$MX_PID")
  log "idle: RSS before ${before} KiB, with $IDLE idle connections ${with} KiB ($fd_with FDs), after ${after} KiB; per connection $(( (with - before) * 1024 / IDLE )) B"
  log "idle: holder says $(tail -n1 "$OUT/idle.jsonl")"
}

# --- slowloris --------------------------------------------------------------------
phase_slowloris() {
  measure slow-baseline 20
  "$BENCH" slowloris "$GW" --connections "$SLOW" --duration 40 >"$OUT/slowloris.jsonl" 2>>"$OUT/bench.log" &
  local holder=$!
  wait_line "$OUT/slowloris.jsonl" 120 '"held"'
  log "slowloris: $SLOW connections trickling, mxgate RSS $(rss_kib "$MX_PID") KiB, $(fds "$MX_PID") FDs"
  measure slow-under-attack 20
  wait "$holder" || true
  log "slowloris: attacker says $(tail -n1 "$OUT/slowloris.jsonl")"
}

# --- soak -----------------------------------------------------------------------
phase_soak() {
  local samples="$OUT/soak-samples.txt"
  sample > "$samples"
  log "soak: start $(head -n1 "$samples"), $RATE req/s for $SOAK s"
  measure soak "$SOAK" &
  local runner=$!
  while kill -0 "$runner" 2>/dev/null; do
    sleep 30
    sample >> "$samples"
  done
  wait "$runner" || true
  sleep 2
  sample >> "$samples"
  log "soak: end $(tail -n1 "$samples") (samples in $samples)"
  log "soak: RSS min/max over the run $(awk -F'[= ]' '{print $3}' "$samples" | sort -n | sed -n '1p;$p' | paste -sd/) KiB"
}

for phase in $PHASES; do
  case "$phase" in
    idle) phase_idle ;;
    slowloris) phase_slowloris ;;
    soak) phase_soak ;;
    *) log "unknown phase $phase"; exit 2 ;;
  esac
done
log "done; summary in $SUMMARY"
