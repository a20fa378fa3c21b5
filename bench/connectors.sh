#!/usr/bin/env bash
# Connectors, in one run, broker by broker (mqtt, amqp, redis, nats core, natsjs: a JetStream
# stream, kafka: franz-go's kfake inside the load program), each on fresh queues/topics:
#   raw          the broker's own Go client (the library the connector uses) consumes N messages
#                (default 5000) published by bench/connload from $CLIENTS publishers (default
#                16), in the connector's delivery mode: MQTT 5 QoS 1, AMQP manual acks with a
#                prefetch, Redis XREADGROUP + XACK, NATS core, or JetStream explicit acks, Kafka
#                consumer group with offsets committed by hand; at most $INFLIGHT (default 16,
#                the connectors' default) unacknowledged
#   switchboard  a connector of that type (created with the admin token) reads the same kind
#                of destination into topic conn.<broker> of solution conn-<broker>, whose Lua
#                handler does Keystore.incr; done when the counter reaches N
# Then both at a steady $RATE msgs/s (default 1000) for $STEADY (default 5s): publish → the
# consumer has it (raw) against publish → the handler starts (switchboard: its first act is
# os.clock(), stored under a key of the message's own; the hub's clock is set against the wall
# clock by the sync call with the shortest round trip, to within half of it).
# Before each measure a probe is sent every 200ms until the consumer reads one, so that
# connecting and subscribing are not timed. A run that stops making progress for 15s ends with
# what arrived, and the loss is reported (core NATS is at most once).
# Brokers: MQTT_URL, AMQP_URL, REDIS_URL, NATS_URL (default the SWITCHBOARD_TEST_* ones, else
# 127.0.0.1 on the usual ports); one that does not answer is skipped. BROKERS=mqtt,kafka runs some.
# Usage: bench/connectors.sh     (PIN=1 keeps the hub on CPU 1 and the load on CPU 0). Needs go.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sb_addr=127.0.0.1:${SB_PORT:-18081}
brokers=${BROKERS:-mqtt,amqp,redis,nats,natsjs,kafka}

build_switchboard >/dev/null
(cd "$root" && go build -o "$work/connload" ./bench/connload)
start_switchboard "$sb_addr"
export SWITCHBOARD_SERVER="http://$sb_addr" SWITCHBOARD_TOKEN="$admin"
sb() { "$work/switchboard" "$@" >/dev/null; }

# The broker's handler: counts throughput messages, notes when each steady one started, and
# marks a probe.
cat >"$work/count.lua" <<'LUA'
local t = os.clock()
local d = event.data
if d.k == "t" then
  Keystore.incr({key = "count"})
elseif d.k == "s" then
  Keystore.set({key = "lat:" .. d.i, value = string.format("%.6f", t)})
else
  Keystore.set({key = "probe", value = "1"})
end
LUA
echo 'return {n = tonumber(Keystore.get({key = event.data.key}).value or "0")}' >"$work/read.lua"
echo 'return Keystore.mget({keys = event.data.keys}).values' >"$work/dump.lua"
echo 'return {clock = os.clock()}' >"$work/clock.lua"
for b in ${brokers//,/ }; do
  sb solution create "conn-$b"
  sb handler deploy count "$work/count.lua" -s "conn-$b" --topic "conn.$b"
  sb handler deploy read "$work/read.lua" -s "conn-$b" --topic conn.read
  sb handler deploy dump "$work/dump.lua" -s "conn-$b" --topic conn.dump
  sb handler deploy clock "$work/clock.lua" -s "conn-$b" --topic conn.clock
done

echo "connectors benchmark: $(nproc) CPUs, $(go env GOVERSION), PIN=${PIN:-0}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
load_cmd=("$work/connload" -hub "http://$sb_addr" -token "$admin" -brokers "$brokers"
  -mqtt "${MQTT_URL:-${SWITCHBOARD_TEST_MQTT_URL:-mqtt://127.0.0.1:1883}}"
  -amqp "${AMQP_URL:-${SWITCHBOARD_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}}"
  -redis "${REDIS_URL:-${SWITCHBOARD_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}}"
  -nats "${NATS_URL:-${SWITCHBOARD_TEST_NATS_URL:-nats://127.0.0.1:4222}}"
  -n "${N:-5000}" -clients "${CLIENTS:-16}" -inflight "${INFLIGHT:-16}" -rate "${RATE:-1000}" -steady "${STEADY:-5s}")
if [[ ${PIN:-0} == 1 ]]; then taskset -c 0 "${load_cmd[@]}"; else "${load_cmd[@]}"; fi
