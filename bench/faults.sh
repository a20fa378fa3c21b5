#!/usr/bin/env bash
# Faults at full size: TestClusterFaults (internal/hub/e2e_faults_test.go) with $N events
# (default 20000) instead of the CI run's 2000, without the race detector. A 3-node NATS cluster
# with JetStream on loopback, three switchboard instances on it, each a process of its own,
# behind a round-robin front that checks their /readyz every 250ms (internal/lbproxy); events
# published through the front (paced over 35s, or as fast as they are taken) and a steady
# endpoint load through it; the instance running a cron connector is SIGKILLed, then the NATS
# node leading the events stream is stopped and started again. It prints the events
# acknowledged, handled, missing and handled more than once, the longest endpoint failure
# window after each fault, and how long the connector took to move. The test fails on a
# missing event, a failure window longer than the front's detection time plus a margin, or a
# connector not moved within its lease.
# Usage: bench/faults.sh     (N=20000; KEEP_LOG=FILE keeps the whole test output)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need go "to run the fault test"
cd "$root"
echo "faults benchmark: N=${N:-20000} events, $(nproc) CPUs, $(go env GOVERSION)"
status=0
SWITCHBOARD_FAULT_EVENTS=${N:-20000} go test -count=1 -timeout 20m -run '^TestClusterFaults$' -v ./internal/hub \
  >"$work/switchboard.log" 2>&1 || status=$?
grep -E 'faults: |^(--- |FAIL|ok )' "$work/switchboard.log" | sed -E 's/^ +//; s/^e2e_faults_test.go:[0-9]+: //'
if [[ $status != 0 ]]; then
  echo "the fault test failed; its output:" >&2
  grep -vE 'faults: ' "$work/switchboard.log" | tail -60 >&2
fi
exit $status
