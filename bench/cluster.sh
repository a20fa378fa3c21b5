#!/usr/bin/env bash
# A 3-node NATS cluster with JetStream on loopback, 3 switchboard instances on it (each its own
# process, --replicas as given, default: as many as the cluster places, here 3) and a
# round-robin proxy in front; prints the URLs and runs until Ctrl-C, which stops everything.
# Usage: bench/cluster.sh [-proxy 127.0.0.1:8080] [-addrs a1,a2,a3] [-replicas N] [-dir DIR]
#        [-health-interval 500ms]   (how often the proxy asks each instance's /readyz)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need go "to build switchboard and run bench/cluster"
bin=$(build_switchboard)
cd "$root"
go build -o "$work/cluster" ./bench/cluster
# Not exec: the EXIT trap of lib.sh removes the binaries once it ends.
"$work/cluster" -switchboard "$bin" "$@"
