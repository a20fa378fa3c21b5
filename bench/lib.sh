# Shared helpers for the bench scripts: start things, wait for them, run wrk, read its numbers.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [[ -n "${KEEP_LOG:-}" ]] && cp "$work/switchboard.log" "$KEEP_LOG"; rm -rf "$work"; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench needs $1 ($2)" >&2; exit 2; }; }

# wait_http URL: wait up to 30s for URL to answer 2xx.
wait_http() {
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "$1 did not answer" >&2; exit 1
}

# build_switchboard: builds the binary into $work and echoes its path.
build_switchboard() {
  (cd "$root" && go build -o "$work/switchboard" ./cmd/switchboard) && echo "$work/switchboard"
}

# start_switchboard ADDR [BIN [ARGS...]]: serves on ADDR with a fresh data dir (BIN defaults to
# $work/switchboard; ARGS are added to serve's); sets $admin and $sb_pid.
start_switchboard() {
  local addr=$1 bin=${2:-$work/switchboard}
  shift; shift || true
  admin=bench-admin-token-0123456789
  rm -rf "$work/data"
  "$bin" serve --addr "$addr" --data "$work/data" --admin-token "$admin" --log-level warn "$@" >>"$work/switchboard.log" 2>&1 &
  sb_pid=$!
  pids+=($!)
  pin $!
  wait_http "http://$addr/readyz"
}

# api METHOD PATH BODY: a management call as admin; fails the bench on a 4xx/5xx.
api() {
  curl -fsS -X "$1" "http://$sb_addr$2" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "$3" >/dev/null
}

# to_ms "1.23ms" → 1.23 (wrk prints us, ms or s).
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# pin PID: with PIN=1, keeps every thread of PID on CPU 1 (wrk runs on CPU 0), so the server and
# the load generator do not take each other's time slices.
pin() {
  if [[ ${PIN:-0} == 1 ]]; then taskset -a -pc 1 "$1" >/dev/null; fi
}

# load ARGS...: wrk, on CPU 0 with one thread when PIN=1, else two threads anywhere.
load() {
  if [[ ${PIN:-0} == 1 || ${conns:-2} -lt 2 ]]; then taskset -c 0 wrk -t1 "$@"; else wrk -t2 "$@"; fi
}

# run_wrk NAME URL [WRK ARGS...]: warms up (for $warmup, default 3s; 0 skips it), measures, and
# appends "NAME rps p50ms p99ms" to $work/results.
run_wrk() {
  local name=$1 url=$2 out
  shift 2
  if [[ ${warmup:-3s} != 0 ]]; then load -c"$conns" -d"${warmup:-3s}" "$@" "$url" >/dev/null; fi
  out=$(load -c"$conns" -d"$duration" --latency "$@" "$url")
  echo "$out" >"$work/wrk-$name.txt"
  if grep -q "Non-2xx" <<<"$out"; then echo "$name answered errors:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  echo "$name $rps $p50 $p99" >>"$work/results"
}
