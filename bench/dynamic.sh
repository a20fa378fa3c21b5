#!/usr/bin/env bash
# Dynamic service calls, in one run: wrk against
#   direct    POST /echo on the echo service itself (an HTTP client calling the service)
#   via-hub   GET /apps/demo/echo, whose script is return Echo.echo({value="x"})
# first at 1 connection (latency: what the hub adds to one call, p50 and p99), then at
# $CONNS connections (default 32; req/s with one service call per request).
# Needs go, wrk, curl. Usage: bench/dynamic.sh     (PIN=1 as in bench/endpoint.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
conns=${CONNS:-32}
duration=${DURATION:-10s}
need wrk "apt-get install wrk"
sb_addr=127.0.0.1:${SB_PORT:-18080}
echo_addr=127.0.0.1:${ECHO_PORT:-18093}

build_switchboard >/dev/null
(cd "$root" && go build -o "$work/echoservice" ./bench/echoservice)
start_switchboard "$sb_addr"
SWITCHBOARD_URL="http://$sb_addr" SWITCHBOARD_REGISTRATION_TOKEN="$(cat "$work/data/registration-token")" \
  ECHO_ADDR="$echo_addr" ECHO_NO_VERIFY=1 "$work/echoservice" &
pids+=($!)
pin $!
for _ in $(seq 1 100); do curl -fsS -o /dev/null -H "Authorization: Bearer $admin" "http://$sb_addr/api/v1/services/echo" 2>/dev/null && break; sleep 0.1; done
api POST /api/v1/solutions '{"id":"demo"}'
api POST /api/v1/solutions/demo/services '{"service":"echo"}'
api POST /api/v1/solutions/demo/endpoints '{"method":"GET","path":"/echo","script":"return Echo.echo({value=\"x\"})"}'
got=$(curl -fsS "http://$sb_addr/apps/demo/echo")
[[ $got == '{"value":"x"}' ]] || { echo "switchboard answered $got" >&2; exit 1; }
printf 'wrk.method = "POST"\nwrk.body = "{\\"value\\":\\"x\\"}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$work/post.lua"

echo "dynamic service benchmark: $duration each, $(nproc) CPUs, $(go env GOVERSION), PIN=${PIN:-0}"
conns=1
run_wrk direct-1 "http://$echo_addr/echo" -s "$work/post.lua"
run_wrk via-hub-1 "http://$sb_addr/apps/demo/echo"
conns=${CONNS:-32}
run_wrk direct-$conns "http://$echo_addr/echo" -s "$work/post.lua"
run_wrk via-hub-$conns "http://$sb_addr/apps/demo/echo"

awk -v c="${CONNS:-32}" '
  { name[NR] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
  END {
    printf "%-14s %12s %10s %10s\n", "run", "req/s", "p50 ms", "p99 ms"
    for (i = 1; i <= NR; i++) printf "%-14s %12.0f %10.3f %10.3f\n", name[i], rps[name[i]], p50[name[i]], p99[name[i]]
    printf "added by the hub at 1 connection: p50 %.0f us (target < 150 us), p99 %.0f us\n", (p50["via-hub-1"] - p50["direct-1"]) * 1000, (p99["via-hub-1"] - p99["direct-1"]) * 1000
    printf "endpoint with one service call, %d connections: %.0f req/s (the service alone: %.0f)\n", c, rps["via-hub-" c], rps["direct-" c]
  }' "$work/results"
