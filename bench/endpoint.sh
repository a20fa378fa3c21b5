#!/usr/bin/env bash
# Side-by-side endpoint benchmark, in one run: wrk against
#   switchboard  GET /apps/demo/dynamic-service  (the seed's Keystore set+get script)
#   gobaseline   GET /dynamic-service            (a plain Go handler over a map)
#   nodered      GET /dynamic-service            (Node-RED doing the same)
# and, for reference, switchboard-write: the script storing a new value on every request.
# at $CONNS connections (default 32) for $DURATION (default 10s) each, then prints req/s, p50,
# p99 and the ratios. Needs go, wrk, curl, node and npm. Usage: bench/endpoint.sh
# PIN=1 runs each server on CPU 1 and wrk (one thread) on CPU 0 (needs 2 CPUs and taskset).
# NATS=listen exposes the embedded NATS server to outside programs (--nats-listen), NATS=url runs
# on the outside NATS at $NATS_URL (default nats://127.0.0.1:4222): in both the Keystore is not
# its buckets' only writer. NATS=cluster starts a 3-node NATS cluster on loopback (bench/cluster
# with no instances) and runs on it, its buckets with 3 replicas. BEFORE=REV also measures the seed's endpoint on git revision REV
# (built from the repository), one build after the other, in the same run. NODERED=0 leaves
# Node-RED out.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
conns=${CONNS:-32}
duration=${DURATION:-10s}
need wrk "apt-get install wrk"
need curl "apt-get install curl"

sb_addr=127.0.0.1:${SB_PORT:-18080}
base_addr=127.0.0.1:${BASE_PORT:-18081}
nr_port=${NR_PORT:-18802}

nats_args=()
sol=demo
unique=no
case ${NATS:-} in
  "") ;;
  listen) nats_args=(--nats-listen "127.0.0.1:${NATS_PORT:-14222}") ;;
  url)
    nats_args=(--nats-url "${NATS_URL:-nats://127.0.0.1:4222}")
    # The outside server keeps state between runs and may serve others: solutions of our own.
    unique=yes
    ;;
  cluster)
    (cd "$root" && go build -o "$work/cluster" ./bench/cluster)
    "$work/cluster" -addrs "" -dir "$work/nats-cluster" >"$work/cluster.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q '^nats:' "$work/cluster.out" && break; sleep 0.1; done
    cluster_urls=$(awk '/^nats:/ { print $2 }' "$work/cluster.out")
    [[ -n $cluster_urls ]] || { echo "the NATS cluster did not start:" >&2; cat "$work/cluster.out" >&2; exit 1; }
    nats_args=(--nats-url "$cluster_urls")
    ;;
  *) echo "NATS=$NATS: want listen, url or cluster" >&2; exit 2 ;;
esac

# setup_seed: the solution and its two endpoints on the running switchboard.
setup_seed() {
  if [[ $unique == yes ]]; then sol=bench-$RANDOM$RANDOM; fi
  api POST /api/v1/solutions "{\"id\":\"$sol\"}"
  api POST /api/v1/solutions/$sol/endpoints "$(cat <<'JSON'
{"method":"GET","path":"/dynamic-service","script":"Keystore.set({key=\"my-key\", value=\"my-key-value-updated\"})\nreturn Keystore.get({key=\"my-key\"})"}
JSON
)"
  # The same, but each request stores a new value, so every request is a durable JetStream
  # write (the seed's script stores the same value each time, which the Keystore recognises as
  # no change).
  api POST /api/v1/solutions/$sol/endpoints "$(cat <<'JSON'
{"method":"GET","path":"/dynamic-service-write","script":"Keystore.set({key=\"my-key\", value=request.request_id})\nreturn Keystore.get({key=\"my-key\"})"}
JSON
)"
  local got
  got=$(curl -fsS "http://$sb_addr/apps/$sol/dynamic-service")
  [[ $got == '{"value":"my-key-value-updated"}' ]] || { echo "switchboard answered $got" >&2; exit 1; }
}

# stop_switchboard: removes the solution (its Keystore bucket goes with it) and stops the server.
stop_switchboard() {
  curl -fsS -X DELETE "http://$sb_addr/api/v1/solutions/$sol" -H "Authorization: Bearer $admin" >/dev/null || true
  kill "$sb_pid"
  wait "$sb_pid" 2>/dev/null || true
}

build_switchboard >/dev/null
if [[ -n ${BEFORE:-} ]]; then
  mkdir "$work/before"
  (cd "$root" && git archive "$BEFORE") | tar -x -C "$work/before"
  (cd "$work/before" && go build -o "$work/switchboard-before" ./cmd/switchboard)
fi

(cd "$shared/peers/gobaseline" && go build -o "$work/gobaseline" .)
"$work/gobaseline" -addr "$base_addr" >/dev/null 2>&1 &
pids+=($!)
pin $!
wait_http "http://$base_addr/dynamic-service"

nodered=yes
if [[ ${NODERED:-1} == 1 ]] && command -v node >/dev/null && nr_pid=$(PORT=$nr_port bash "$shared/peers/nodered/run.sh" | tail -n 1); then
  pids+=("$nr_pid")
  pin "$nr_pid"
else
  nodered=no
  echo "node-red could not be started; its column is left out" >&2
fi

echo "endpoint benchmark: $conns connections, $duration each, $(nproc) CPUs, $(go env GOVERSION), PIN=${PIN:-0}, NATS=${NATS:-in-process}${BEFORE:+, BEFORE=$BEFORE}"
if [[ -n ${BEFORE:-} ]]; then
  start_switchboard "$sb_addr" "$work/switchboard-before" "${nats_args[@]}"
  setup_seed
  run_wrk switchboard-before "http://$sb_addr/apps/$sol/dynamic-service"
  stop_switchboard
fi
start_switchboard "$sb_addr" "$work/switchboard" "${nats_args[@]}"
setup_seed
run_wrk switchboard "http://$sb_addr/apps/$sol/dynamic-service"
run_wrk switchboard-write "http://$sb_addr/apps/$sol/dynamic-service-write"
stop_switchboard
run_wrk gobaseline "http://$base_addr/dynamic-service"
[[ $nodered == yes ]] && run_wrk nodered "http://127.0.0.1:$nr_port/dynamic-service"

awk '
  { name[NR] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
  END {
    printf "%-18s %12s %10s %10s\n", "peer", "req/s", "p50 ms", "p99 ms"
    for (i = 1; i <= NR; i++) printf "%-18s %12.0f %10.3f %10.3f\n", name[i], rps[name[i]], p50[name[i]], p99[name[i]]
    printf "switchboard / gobaseline req/s: %.2fx (target >= 0.5x)\n", rps["switchboard"] / rps["gobaseline"]
    if ("switchboard-before" in rps) printf "switchboard-before / gobaseline req/s: %.2fx\n", rps["switchboard-before"] / rps["gobaseline"]
    if ("nodered" in rps) printf "switchboard / nodered req/s:    %.2fx (target >= 3x)\n", rps["switchboard"] / rps["nodered"]
    printf "switchboard p99: %.3f ms (target < 5 ms)\n", p99["switchboard"]
  }' "$work/results"
