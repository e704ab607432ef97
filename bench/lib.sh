# bench/lib.sh — pieces shared by the bench scripts (sourced, not run).
# Expects: log(), and for bench_mxgate_config: $BENCH (mxgate-bench binary)
# and $UP_PORT (the fake upstream's port).

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most
# $2 tenths of a second, default 100).
wait_port() {
  for _ in $(seq "${2:-100}"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listens on port $1"; return 1
}

# Prints a bench mxgate.toml: one fronted homeserver (the fake upstream) and
# the bench origin's pinned key. $1 = verify (true/false), $2 = listen
# address, $3 = state dir, $4 = max_connections (default 20000),
# $5 = per-origin rate and burst (default 1000000000: no limiting).
bench_mxgate_config() {
  cat <<CONFIG
[gateway]
state_dir = "$3"
verify = $1

[inbound]
listen = "$2"
well_known = false
max_connections = ${4:-20000}
rate_limit_per_origin_per_sec = ${5:-1000000000}
rate_limit_burst = ${5:-1000000000}

[[homeserver]]
server_name = "hs.bench.example"
upstream = "http://127.0.0.1:$UP_PORT"

$("$BENCH" print-key --toml external)
CONFIG
}
