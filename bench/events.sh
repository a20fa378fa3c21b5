#!/usr/bin/env bash
# Events, in one run, on one hub and its embedded NATS server (reached through --nats-listen):
#   raw          the ceiling: a Go program publishes with acknowledgement into a file-backed
#                work-queue JetStream stream and a durable pull consumer acks each message
#   switchboard  the fastest path a sender has: POST /api/v1/solutions/bench/events (async, 202
#                once stored) from keep-alive HTTP clients into topic bench.count, whose Lua
#                handler does Keystore.incr; done when the counter reaches $N
# both with $CLIENTS concurrent publishers (default 16) for $N events (default 5000). Then both
# at a steady $RATE events/s (default 1000) for $STEADY (default 5s): publish → the consumer
# has it (raw) against POST sent → the handler starts (switchboard, whose handler records
# os.clock() first; the hub's clock is set against the wall clock by the sync call with the
# shortest round trip, to within half of it; it stores that under a key of its own per event).
# DIAG=1 prints the 60 slowest events of the steady run with their send times.
# BATCH=100 publishes the throughput run in POSTs of 100 events (a JSON array). Needs go, curl.
# Usage: bench/events.sh     (PIN=1 keeps the hub on CPU 1 and the load on CPU 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sb_addr=127.0.0.1:${SB_PORT:-18080}
nats_addr=127.0.0.1:${NATS_PORT:-14222}

build_switchboard >/dev/null
(cd "$root" && go build -o "$work/eventload" ./bench/eventload)
admin=bench-admin-token-0123456789
"$work/switchboard" serve --addr "$sb_addr" --data "$work/data" --admin-token "$admin" \
  --nats-listen "$nats_addr" --log-level warn >"$work/switchboard.log" 2>&1 &
pids+=($!)
pin $!
wait_http "http://$sb_addr/readyz"

# handler NAME TOPIC SCRIPT: deploys a handler of solution bench.
handler() {
  api POST /api/v1/solutions/bench/handlers "$(printf '{"name":"%s","topics":["%s"],"script":"%s"}' "$1" "$2" "$3")"
}
api POST /api/v1/solutions '{"id":"bench"}'
handler count bench.count 'Keystore.incr({key = \"count\"})'
handler lat bench.lat 'local t = os.clock()\nKeystore.set({key = \"lat:\" .. event.id, value = string.format(\"%.6f\", t)})'
handler read bench.read 'return {n = tonumber(Keystore.get({key = \"count\"}).value or \"0\")}'
handler dump bench.dump 'return Keystore.mget({keys = event.data.keys}).values'
handler clock bench.clock 'return {clock = os.clock()}'

echo "events benchmark: N=${N:-5000}, ${CLIENTS:-16} publishers, steady ${RATE:-1000}/s for ${STEADY:-5s}, $(nproc) CPUs, $(go env GOVERSION), PIN=${PIN:-0}"
load_cmd=("$work/eventload" -hub "http://$sb_addr" -token "$admin" -nats "$nats_addr" -nats-token-file "$work/data/nats-token" \
  -n "${N:-5000}" -clients "${CLIENTS:-16}" -batch "${BATCH:-1}" -rate "${RATE:-1000}" -steady "${STEADY:-5s}")
if [[ ${PIN:-0} == 1 ]]; then taskset -c 0 "${load_cmd[@]}"; else "${load_cmd[@]}"; fi
