#!/usr/bin/env bash
# Kaa automation invocations (23/AIP), in one run per bus: BenchmarkKaa in internal/hub
# (bench_kaa_test.go), one hub in the test binary, one publisher connection playing Kaa's
# trigger service:
#   executor   the hub's executor stores each invocation as an event of automation.bench and
#              a small Lua handler runs (reads event.data, makes a message of it, keeps one in
#              the Keystore every 1,000); done when switchboard_automation_invocations_executed_total
#              has counted them all (/metrics read every 5 ms)
#   raw-nats   a plain nats.go subscription on the same bus decodes each (kaa.Decode, then the
#              payload's JSON): the peer baseline
# $N invocations (default 20000) as fast as they go, at most 4,096 out at a time; then $STEADY_N
# (default 3000) at 1,000/s for publish → the handler starts (the subscriber has it), p50/p99.
# "stalls" are the times the handler's event consumer missed heartbeats and delivered nothing
# for ~4s (the hub logs "no heartbeat received"); a run with one is slower by that much.
# Buses: embedded (the hub's NATS in-process; publisher and subscriber on --nats-listen) and
# outside ($NATS_URL, default $SWITCHBOARD_TEST_NATS_URL, else nats://127.0.0.1:4222 when it
# answers; it needs JetStream).
# Usage: bench/kaa.sh     Needs go.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

url=${NATS_URL:-${SWITCHBOARD_TEST_NATS_URL:-nats://127.0.0.1:4222}}
hostport=${url#*://}
hostport=${hostport##*@}
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
  echo "no NATS at $url: the outside bus is skipped" >&2
  url=
fi
(cd "$root" && go test -c -o "$work/hub.test" ./internal/hub/)

# bench BENCHTIME REGEXP: runs the benchmarks, appending their lines to $work/out.
bench() {
  (cd "$root/internal/hub" && SWITCHBOARD_TEST_NATS_URL=$url "$work/hub.test" -test.run '^$' \
    -test.bench "$2" -test.benchtime "$1" -test.count 1) >>"$work/raw" 2>&1 || true
  grep '^BenchmarkKaa/' "$work/raw" >"$work/out" || true
}
echo "kaa benchmark: N=${N:-20000} as fast as they go, ${STEADY_N:-3000} at 1000/s, $(nproc) CPUs, $(go env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench "${N:-20000}x" 'Kaa//^(Executor|RawNATS)$'
bench "${STEADY_N:-3000}x" 'Kaa//Steady$'
if grep -q -- '--- FAIL\|^FAIL' "$work/raw"; then cat "$work/raw" >&2; exit 1; fi

awk '
  # BenchmarkKaa/<bus>/<run>-<procs> N ns/op [value unit]...
  {
    split($1, p, "/"); bus = p[2]; run = p[3]; sub(/-[0-9]+$/, "", run)
    for (i = 3; i < NF; i++) v[bus, run, $(i + 1)] = $i
    if (!(bus in seen)) { seen[bus] = 1; order[++nb] = bus }
  }
  function f(x, fmt) { return x == "" ? "-" : sprintf(fmt, x) }
  END {
    printf "%-9s %-16s %10s %9s %9s %7s\n", "bus", "run", "inv/s", "p50 ms", "p99 ms", "stalls"
    split("Executor RawNATS ExecutorSteady RawNATSSteady", runs, " ")
    for (b = 1; b <= nb; b++) for (r = 1; r <= 4; r++) {
      bus = order[b]; run = runs[r]
      if ((bus, run, "inv/s") in v)
        printf "%-9s %-16s %10.0f %9s %9s %7s\n", bus, run, v[bus, run, "inv/s"], f(v[bus, run, "p50-ms"], "%.3f"), f(v[bus, run, "p99-ms"], "%.3f"),
          run ~ /^Executor/ ? v[bus, run, "stalls"] + 0 : "-"
    }
    for (b = 1; b <= nb; b++) {
      bus = order[b]
      if ((bus, "Executor", "inv/s") in v && (bus, "RawNATS", "inv/s") in v)
        printf "ratio executor / raw inv/s (%s): %.3f\n", bus, v[bus, "Executor", "inv/s"] / v[bus, "RawNATS", "inv/s"]
      if ((bus, "ExecutorSteady", "p50-ms") in v && (bus, "RawNATSSteady", "p50-ms") in v)
        printf "added by the executor at 1000/s (%s): p50 %.3f ms, p99 %.3f ms\n", bus,
          v[bus, "ExecutorSteady", "p50-ms"] - v[bus, "RawNATSSteady", "p50-ms"], v[bus, "ExecutorSteady", "p99-ms"] - v[bus, "RawNATSSteady", "p99-ms"]
    }
  }' "$work/out"
