#!/usr/bin/env bash
# How Switchboard grows from 1 to 3 instances on a 3-node NATS cluster, in one run: for each
# count, bench/cluster starts a fresh cluster (3 replicas) with that many instances; then
#   endpoint  the seed's Keystore endpoint (set + get) under wrk, $CONNS connections in all
#             (default 32) split across the instances, one wrk per instance, as a load balancer
#             would spread them, for $DURATION (default 8s) after a 2s warm-up
#   events    $N async events (default 10000) POSTed by 16 keep-alive clients taking the
#             instances in turn, into a topic whose handler does Keystore.incr; stored/s is up to
#             the last 202, handled/s until the counter reads N (bench/scaleload)
# and, in the same run, the plain Go handler (../shared/peers/gobaseline) under the same wrk
# load for scale. Needs go, wrk and curl. Usage: bench/scale.sh   (COUNTS="1 3" to choose)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need wrk "apt-get install wrk"
need curl "apt-get install curl"
conns=${CONNS:-32}
duration=${DURATION:-8s}
events=${N:-10000}
counts=${COUNTS:-1 2 3}
admin=bench-admin-token-0123456789
bin=$(build_switchboard)
(cd "$root" && go build -o "$work/cluster" ./bench/cluster && go build -o "$work/scaleload" ./bench/scaleload)
(cd "$shared/peers/gobaseline" && go build -o "$work/gobaseline" .)

# wrk_split NAME URL...: one wrk per URL at the same time, $conns connections split between
# them; appends "NAME total-req/s" to $work/results.
wrk_split() {
  local name=$1 i=0 total=0 c w=()
  shift
  local per=$(( conns / $# )) extra=$(( conns % $# ))
  for url in "$@"; do
    c=$per; (( i < extra )) && c=$((c + 1))
    wrk -t1 -c"$c" -d2s "$url" >/dev/null &
    w+=($!)
    i=$((i + 1))
  done
  wait "${w[@]}"
  i=0 w=()
  for url in "$@"; do
    c=$per; (( i < extra )) && c=$((c + 1))
    wrk -t1 -c"$c" -d"$duration" "$url" >"$work/wrk-$name-$i.txt" &
    w+=($!)
    i=$((i + 1))
  done
  wait "${w[@]}"
  for f in "$work"/wrk-"$name"-*.txt; do
    if grep -q "Non-2xx" "$f"; then echo "$name answered errors:" >&2; cat "$f" >&2; exit 1; fi
    total=$(awk -v t="$total" '/^Requests\/sec/ { print t + $2 }' "$f")
  done
  echo "$name $total" >>"$work/results"
}

"$work/gobaseline" -addr 127.0.0.1:18081 >/dev/null 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:18081/dynamic-service
wrk_split gobaseline http://127.0.0.1:18081/dynamic-service

echo "scale benchmark: $conns connections, $duration each, $events events, $(nproc) CPUs, $(go env GOVERSION)"
for n in $counts; do
  addrs=() urls=() hubs=""
  for i in $(seq 1 "$n"); do
    addrs+=("127.0.0.1:$((18090 + i))")
    urls+=("http://127.0.0.1:$((18090 + i))")
  done
  hubs=$(IFS=,; echo "${urls[*]}")
  "$work/cluster" -switchboard "$bin" -addrs "$(IFS=,; echo "${addrs[*]}")" -proxy 127.0.0.1:18090 \
    -dir "$work/cluster-$n" >"$work/cluster-$n.out" 2>&1 &
  cluster_pid=$!
  pids+=($cluster_pid)
  for _ in $(seq 600); do grep -q '^proxy:' "$work/cluster-$n.out" && break; kill -0 $cluster_pid 2>/dev/null || break; sleep 0.1; done
  grep -q '^proxy:' "$work/cluster-$n.out" || { echo "the cluster with $n instances did not start:" >&2; cat "$work/cluster-$n.out" >&2; exit 1; }
  sb_addr=${addrs[0]}
  api POST /api/v1/solutions '{"id":"scale"}'
  api POST /api/v1/solutions/scale/endpoints '{"method":"GET","path":"/dynamic-service","script":"Keystore.set({key=\"my-key\", value=\"my-key-value-updated\"})\nreturn Keystore.get({key=\"my-key\"})"}'
  api POST /api/v1/solutions/scale/endpoints '{"method":"GET","path":"/count","script":"return {n = tonumber(Keystore.get({key=\"count\"}).value or \"0\")}"}'
  api POST /api/v1/solutions/scale/handlers '{"name":"count","topics":["scale.count"],"script":"Keystore.incr({key = \"count\"})"}'
  for u in "${urls[@]}"; do wait_http "$u/apps/scale/dynamic-service"; wait_http "$u/apps/scale/count"; done
  endpoint_urls=()
  for u in "${urls[@]}"; do endpoint_urls+=("$u/apps/scale/dynamic-service"); done
  wrk_split "endpoint-$n" "${endpoint_urls[@]}"
  "$work/scaleload" -hubs "$hubs" -token "$admin" -n "$events" | tee -a "$work/events"
  kill -INT $cluster_pid
  wait $cluster_pid 2>/dev/null || true
done

awk -v base="$(awk '$1 == "gobaseline" { print $2 }' "$work/results")" '
  FNR == NR { if ($1 ~ /^endpoint-/) { split($1, p, "-"); rps[p[2]] = $2 }; next }
  { ev[$2] = $0; stored[$2] = $8; handled[$2] = $10; order[++k] = $2 }
  END {
    printf "gobaseline (same wrk load): %.0f req/s\n", base
    printf "%-10s %14s %14s %10s %14s %14s\n", "instances", "endpoint req/s", "per instance", "x Go", "events stored/s", "handled/s"
    for (i = 1; i <= k; i++) { n = order[i]; printf "%-10s %14.0f %14.0f %9.2fx %14.0f %14.0f\n", n, rps[n], rps[n] / n, rps[n] / base, stored[n], handled[n] }
  }' "$work/results" "$work/events"
