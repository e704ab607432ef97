#!/usr/bin/env bash
# bench/compare.sh — mxgate side by side with the upstream alone and with
# pass-through proxies, in one run of interleaved rounds, on loopback.
#
# Targets (each a separate process, all talking plain HTTP on 127.0.0.1):
#   upstream   the fake homeserver alone (mxgate-bench upstream)
#   nginx      nginx, one worker, proxy_pass with a keep-alive upstream pool
#   mx-pass    mxgate with [gateway] verify = false (pass-through of its own stack)
#   mx-verify  mxgate verifying (pinned key for the bench origin)
#
# For each round, each PDU count and each target (order rotated per round):
# one closed-loop run of DURATION seconds with CONNECTIONS keep-alive
# connections, recording req/s, latency and the target's CPU µs/request
# (for proxies: the proxy's CPU only, not the upstream's). Then: p99 at half
# of mx-verify's saturation rate vs the upstream alone, and (unless
# --no-scaling) 50-PDU transactions and 1 / 1000 connections.
# Prints a table of medians with ratios; raw JSON lines are kept in OUT.
#
# Usage: bench/compare.sh [--rounds N] [--pdus "1 10"] [--connections N]
#          [--duration S] [--warmup S] [--no-scaling] [--no-nginx] [--no-build]
#          [--out DIR] [--base-port P]
# Environment: MXGATE_LOG (RUST_LOG of the gateways, default "info").
set -euo pipefail

ROUNDS=5
PDUS="1 10"
CONNECTIONS=32
DURATION=5
WARMUP=1
SCALING=1
NGINX=1
BUILD=1
BASE_PORT=28000
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --pdus) PDUS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --no-scaling) SCALING=0; shift ;;
    --no-nginx) NGINX=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/mxgate-compare.XXXXXX)}
mkdir -p "$OUT/state-pass" "$OUT/state-verify"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
BENCH="$ROOT/target/release/mxgate-bench"
MXGATE="$ROOT/target/release/mxgate"
UP_PORT=$((BASE_PORT + 8))
NGINX_PORT=$((BASE_PORT + 80))
PASS_PORT=$((BASE_PORT + 448))
VERIFY_PORT=$((BASE_PORT + 449))
PIDS=()

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -f "$OUT/nginx.pid" ]]; then kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true; fi
}
trap cleanup EXIT


# --- build ------------------------------------------------------------------
if [[ $BUILD == 1 ]]; then
  log "building release binaries (mxgate, mxgate-bench)"
  (cd "$ROOT" && cargo build --release -q -p mxgate -p mxgate-bench)
fi

# --- the fake upstream --------------------------------------------------------
"$BENCH" upstream --listen "127.0.0.1:$UP_PORT" 2>"$OUT/upstream.log" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "$UP_PORT"

# --- nginx --------------------------------------------------------------------
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [[ $NGINX == 1 && ! -x $NGINX_BIN && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  log "installing nginx (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
NGINX_PIDS=""
if [[ $NGINX == 1 && -x $NGINX_BIN ]]; then
  mkdir -p "$OUT/nginx-tmp" && chmod 1777 "$OUT/nginx-tmp"
  cat > "$OUT/nginx.conf" <<EOF
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx-tmp/body;
  proxy_temp_path $OUT/nginx-tmp/proxy;
  fastcgi_temp_path $OUT/nginx-tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx-tmp/uwsgi;
  scgi_temp_path $OUT/nginx-tmp/scgi;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_max_body_size 8m;
  client_body_buffer_size 4m;
  upstream fake_homeserver {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://fake_homeserver;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
EOF
  "$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT" 2>>"$OUT/nginx-error.log"
  wait_port "$NGINX_PORT"
  master=$(cat "$OUT/nginx.pid")
  NGINX_PIDS="$master,$(pgrep -P "$master" | paste -sd, -)"
  log "nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //') pids $NGINX_PIDS"
else
  log "nginx not available: skipping it"
fi

# --- mxgate, pass-through and verifying ----------------------------------------
bench_mxgate_config false "127.0.0.1:$PASS_PORT" "$OUT/state-pass" > "$OUT/mx-pass.toml"
bench_mxgate_config true "127.0.0.1:$VERIFY_PORT" "$OUT/state-verify" > "$OUT/mx-verify.toml"
RUST_LOG=${MXGATE_LOG:-info} "$MXGATE" serve --config "$OUT/mx-pass.toml" >"$OUT/mx-pass.log" 2>&1 &
PASS_PID=$!; PIDS+=("$PASS_PID")
RUST_LOG=${MXGATE_LOG:-info} "$MXGATE" serve --config "$OUT/mx-verify.toml" >"$OUT/mx-verify.log" 2>&1 &
VERIFY_PID=$!; PIDS+=("$VERIFY_PID")
wait_port "$PASS_PORT"; wait_port "$VERIFY_PORT"

declare -A URL=([upstream]="http://127.0.0.1:$UP_PORT" [nginx]="http://127.0.0.1:$NGINX_PORT"
  [mx-pass]="http://127.0.0.1:$PASS_PORT" [mx-verify]="http://127.0.0.1:$VERIFY_PORT")
declare -A PID=([upstream]="$UP_PID" [nginx]="$NGINX_PIDS" [mx-pass]="$PASS_PID" [mx-verify]="$VERIFY_PID")
TARGETS=(upstream mx-pass mx-verify)
[[ -n $NGINX_PIDS ]] && TARGETS=(upstream nginx mx-pass mx-verify)

# --- request pools (signed once) and the bare verify cost -----------------------
ALL_PDUS="$PDUS"; [[ $SCALING == 1 && " $PDUS " != *" 50 "* ]] && ALL_PDUS="$PDUS 50"
for p in $ALL_PDUS; do
  count=$(( p == 1 ? 60000 : (p <= 10 ? 20000 : 4000) ))
  "$BENCH" sign --pdus "$p" --count "$count" --out "$OUT/pool-$p.bin" 2>>"$OUT/bench.log"
done
"$BENCH" verify-cost --json > "$OUT/verify-cost.json"
log "bare verify: $(cat "$OUT/verify-cost.json")"

# run PHASE TARGET PDUS CONNECTIONS [extra args...]: one measured run, appended to results.
run() {
  local phase=$1 target=$2 pdus=$3 conns=$4; shift 4
  local line
  if line=$("$BENCH" run --target "${URL[$target]}" --requests "$OUT/pool-$pdus.bin" \
      --connections "$conns" --duration "$DURATION" --warmup "$WARMUP" \
      --target-pid "${PID[$target]}" --label "$target" --json "$@" 2>>"$OUT/bench.log"); then
    echo "{\"phase\":\"$phase\",\"run\":$line}" >> "$RESULTS"
    log "$phase $target pdus=$pdus conns=$conns: $(jq -r '"\(.rps|floor) req/s, \(.target_cpu_us_per_req // 0 | .*10|round/10) µs/req, p99 \(.p99_us|floor) µs"' <<<"$line")"
  else
    echo "{\"phase\":\"$phase\",\"failed\":{\"label\":\"$target\",\"pdus\":$pdus,\"connections\":$conns}}" >> "$RESULTS"
    log "$phase $target pdus=$pdus conns=$conns: FAILED (see $OUT/bench.log)"
  fi
}

# rotate N: the targets, starting at index N mod their count.
rotate() {
  local n=$(( $1 % ${#TARGETS[@]} ))
  echo "${TARGETS[@]:n}" "${TARGETS[@]:0:n}"
}

# --- main rounds ----------------------------------------------------------------
for round in $(seq "$ROUNDS"); do
  for p in $PDUS; do
    for target in $(rotate "$round"); do run main "$target" "$p" "$CONNECTIONS"; done
  done
done

# --- p99 at half of mx-verify's saturation rate ------------------------------------
SAT=$(jq -s '[.[] | select(.phase=="main" and .run.label=="mx-verify" and .run.pdus==1) | .run.rps] | sort | if length>0 then .[length/2|floor] else 0 end' "$RESULTS")
HALF=$(jq -n "$SAT / 2 | floor")
if [[ $HALF -gt 0 ]]; then
  for round in $(seq 3); do
    for target in upstream mx-verify; do run half-rate "$target" 1 "$CONNECTIONS" --rate "$HALF"; done
  done
fi

# --- scaling: 50 PDUs, 1 and 1000 connections ----------------------------------------
if [[ $SCALING == 1 ]]; then
  for round in $(seq 3); do
    for target in $(rotate "$round"); do run scaling "$target" 50 "$CONNECTIONS"; done
    for conns in 1 1000; do
      for target in $(rotate "$round"); do
        [[ $target == upstream ]] || run scaling "$target" 1 "$conns"
      done
    done
  done
fi

# --- summary: medians and ratios --------------------------------------------------
python3 - "$RESULTS" "$OUT/verify-cost.json" "$CONNECTIONS" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
from collections import defaultdict

results, cost, conns = sys.argv[1], sys.argv[2], int(sys.argv[3])
bare = json.load(open(cost))["verify_strict_us_min"]
runs, failed = defaultdict(list), defaultdict(int)
for line in open(results):
    row = json.loads(line)
    r = row.get("run") or row["failed"]
    key = (row["phase"], r["label"], r["pdus"], r["connections"])
    if "run" in row:
        runs[key].append(r)
    else:
        failed[key] += 1

def med(phase, label, pdus, c, field):
    values = [r[field] for r in runs.get((phase, label, pdus, c), []) if r.get(field) is not None]
    return statistics.median(values) if values else None

def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"

print(f"bare ed25519 verify_strict (900 B): {bare:.1f} µs (min of 15 loops)")
order = {"upstream": 0, "nginx": 1, "mx-pass": 2, "mx-verify": 3}
for phase in ("main", "half-rate", "scaling"):
    keys = sorted({k[1:] for k in list(runs) + list(failed) if k[0] == phase},
                  key=lambda k: (k[1], k[2], order.get(k[0], 9)))
    if not keys:
        continue
    print(f"\n[{phase}] medians over rounds")
    print(f"{'target':<10} {'pdus':>4} {'conns':>5} {'runs':>6} {'req/s':>8} {'cpu µs/req':>10} "
          f"{'p50 µs':>8} {'p99 µs':>8} {'rss MiB':>7}")
    for label, pdus, c in keys:
        m = lambda f: med(phase, label, pdus, c, f)
        rss = m("target_rss_kib")
        n, bad = len(runs.get((phase, label, pdus, c), [])), failed.get((phase, label, pdus, c), 0)
        print(f"{label:<10} {pdus:>4} {c:>5} {f'{n}/{n + bad}':>6} {fmt(m('rps'), 0):>8} "
              f"{fmt(m('target_cpu_us_per_req')):>10} {fmt(m('p50_us'), 0):>8} "
              f"{fmt(m('p99_us'), 0):>8} {fmt(rss and rss / 1024):>7}")

def ratio(a, b):
    return None if a is None or not b else a / b

def check(name, value, limit, lower_is_better=True):
    if value is None:
        print(f"  {name}: n/a")
        return
    ok = value <= limit if lower_is_better else value >= limit
    sign = "<=" if lower_is_better else ">="
    print(f"  {name}: {value:.2f} (target {sign} {limit}) {'MET' if ok else 'NOT MET'}")

print("\nratios (issue 7 targets; medians of the same run)")
pdu_list = sorted({k[2] for k in runs if k[0] == "main"})
for pdus in pdu_list:
    cpu = {t: med("main", t, pdus, conns, "target_cpu_us_per_req") for t in order}
    rps = {t: med("main", t, pdus, conns, "rps") for t in order}
    limit = None if cpu["mx-pass"] is None else cpu["mx-pass"] + bare
    print(f" {pdus} PDU(s), {conns} connections:")
    check("mx-verify CPU / (mx-pass CPU + bare verify)", ratio(cpu["mx-verify"], limit), 1.1)
    nginx_limit = None if cpu["nginx"] is None else cpu["nginx"] + bare
    check("mx-verify CPU / (nginx CPU + bare verify)", ratio(cpu["mx-verify"], nginx_limit), 1.1)
    check("mx-verify req/s / nginx req/s", ratio(rps["mx-verify"], rps["nginx"]), 0.55, False)
    check("mx-verify req/s / mx-pass req/s (issue 3)", ratio(rps["mx-verify"], rps["mx-pass"]), 0.70, False)
    check("mx-verify CPU per request vs 85 µs", cpu["mx-verify"], 85)
base = med("main", "mx-verify", 1, conns, "target_cpu_us_per_req")
for pdus, phase in ((10, "main"), (50, "scaling")):
    grown = med(phase, "mx-verify", pdus, conns, "target_cpu_us_per_req")
    if pdus == 10:
        check("mx-verify CPU 10 PDUs / 1 PDU", ratio(grown, base), 1.25)
    elif grown is not None:
        print(f"  mx-verify CPU 50 PDUs / 1 PDU: {fmt(ratio(grown, base), 2)} (no target)")
up = med("half-rate", "upstream", 1, conns, "p99_us")
mx = med("half-rate", "mx-verify", 1, conns, "p99_us")
if up is not None and mx is not None:
    rate = med("half-rate", "mx-verify", 1, conns, "rate")
    print(f"  p99 at {fmt(rate, 0)} req/s (half of mx-verify saturation): upstream {up:.0f} µs, "
          f"mx-verify {mx:.0f} µs")
    check("p99 added by mx-verify, ms", (mx - up) / 1000, 1.0)
PY
log "raw results: $RESULTS"
