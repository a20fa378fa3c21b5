#!/usr/bin/env bash
# Dynamic service calls, in one run: wrk against
#   direct    POST /echo on the echo service itself (an HTTP client calling the service)
#   via-hub   GET /apps/demo/echo, whose script is return Echo.echo({value="x"})
#   endpoint  GET /apps/demo/plain, whose script is return {value="x"} (the hub's own hop)
# first at 1 connection, in $ROUNDS interleaved rounds (default 5) of $ROUND each (default 2s),
# so that a drift of the machine's speed touches every kind alike: what the hub adds to one call
# is the median over the rounds of via-hub minus direct, at p50 and p99. Then at $CONNS
# connections (default 32) for $DURATION (default 10s): req/s with one service call per request.
# Needs go, wrk, curl. Usage: bench/dynamic.sh     (PIN=1 as in bench/endpoint.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${DURATION:-10s}
rounds=${ROUNDS:-5}
round=${ROUND:-2s}
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
api POST /api/v1/solutions/demo/endpoints '{"method":"GET","path":"/plain","script":"return {value=\"x\"}"}'
got=$(curl -fsS "http://$sb_addr/apps/demo/echo")
[[ $got == '{"value":"x"}' ]] || { echo "switchboard answered $got" >&2; exit 1; }
printf 'wrk.method = "POST"\nwrk.body = "{\\"value\\":\\"x\\"}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$work/post.lua"

echo "dynamic service benchmark: $rounds rounds of $round at 1 connection, $duration at ${CONNS:-32}, $(nproc) CPUs, $(go env GOVERSION), PIN=${PIN:-0}"
conns=1
duration_all=$duration
duration=$round
warmup=2s
run_wrk warm "http://$echo_addr/echo" -s "$work/post.lua"
run_wrk warm "http://$sb_addr/apps/demo/echo"
warmup=0
for r in $(seq 1 "$rounds"); do
  run_wrk "direct-1 $r" "http://$echo_addr/echo" -s "$work/post.lua"
  run_wrk "via-hub-1 $r" "http://$sb_addr/apps/demo/echo"
  run_wrk "endpoint-1 $r" "http://$sb_addr/apps/demo/plain"
done
conns=${CONNS:-32}
duration=$duration_all
warmup=3s
run_wrk "direct-$conns 0" "http://$echo_addr/echo" -s "$work/post.lua"
run_wrk "via-hub-$conns 0" "http://$sb_addr/apps/demo/echo"

# Lines are "KIND ROUND rps p50ms p99ms"; medians per kind, and of via-hub - direct per round.
awk -v c="$conns" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  $1 == "warm" { next }
  {
    k = $1; r = $2
    if (!(k in n)) order[++kinds] = k
    n[k]++; rps[k, n[k]] = $3; p50[k, n[k]] = $4; p99[k, n[k]] = $5
    byround[k, r, 50] = $4; byround[k, r, 99] = $5; rounds[r] = 1
  }
  END {
    printf "%-14s %7s %12s %10s %10s\n", "run", "rounds", "req/s", "p50 ms", "p99 ms"
    for (i = 1; i <= kinds; i++) {
      k = order[i]; m = n[k]
      for (j = 1; j <= m; j++) { a[j] = rps[k, j]; b[j] = p50[k, j]; d[j] = p99[k, j] }
      printf "%-14s %7d %12.0f %10.3f %10.3f\n", k, m, median(a, m), median(b, m), median(d, m)
      med[k] = median(a, m)
    }
    m = 0
    for (r in rounds) if (("via-hub-1", r, 50) in byround) { m++; a[m] = byround["via-hub-1", r, 50] - byround["direct-1", r, 50]; b[m] = byround["via-hub-1", r, 99] - byround["direct-1", r, 99]; d[m] = byround["endpoint-1", r, 50] }
    for (j = 1; j <= m; j++) { x[j] = a[j] }
    lo = 1e9; hi = -1e9; for (j = 1; j <= m; j++) { if (a[j] < lo) lo = a[j]; if (a[j] > hi) hi = a[j] }
    printf "added by the hub to one call (median of %d rounds of via-hub-1 - direct-1): p50 %.0f us (target < 150 us; rounds %.0f..%.0f us), p99 %.0f us\n", m, median(x, m) * 1000, lo * 1000, hi * 1000, median(b, m) * 1000
    printf "of which the hop into the hub (endpoint-1, an endpoint without a call): p50 %.0f us\n", median(d, m) * 1000
    printf "endpoint with one service call, %d connections: %.0f req/s (the service alone: %.0f)\n", c, med["via-hub-" c], med["direct-" c]
  }' "$work/results"
