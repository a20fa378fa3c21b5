#!/usr/bin/env bash
# Time to ready on an empty data directory, and idle memory (RSS) after start and after a few
# requests. Runs $RUNS starts (default 5) and prints each. Usage: bench/startup.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${RUNS:-5}
addr=127.0.0.1:${SB_PORT:-18090}
build_switchboard >/dev/null

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "startup: $runs starts on an empty data directory, $(nproc) CPUs, $(go env GOVERSION)"
printf "%-4s %14s %14s %18s\n" run "ready ms" "idle RSS MiB" "RSS after 1k req"
for i in $(seq 1 "$runs"); do
  rm -rf "$work/data"
  start=$(date +%s%N)
  "$work/switchboard" serve --addr "$addr" --data "$work/data" --admin-token bench-admin-token-0123456789 --log-level warn >"$work/sb.log" 2>&1 &
  pid=$!
  until curl -fsS -o /dev/null "http://$addr/readyz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/sb.log" >&2; exit 1; }
    sleep 0.005
  done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 2 # let start-up garbage be collected before reading idle memory
  idle=$(rss_kib "$pid")
  for _ in $(seq 1 1000); do echo "url = \"http://$addr/healthz\""; done >"$work/urls"
  curl -fsS -K "$work/urls" >/dev/null
  after=$(rss_kib "$pid")
  printf "%-4s %14s %14.1f %18.1f\n" "$i" "$ready" "$(echo "$idle/1024" | bc -l)" "$(echo "$after/1024" | bc -l)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
