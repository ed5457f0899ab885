#!/usr/bin/env bash
# Starts a local six-node Redis Cluster (3 masters, 3 replicas) on free loopback ports,
# no persistence, in a temp dir; prints the REDIS_CLUSTER_NODES line to use and keeps the
# cluster up until Ctrl-C. The tests start theirs from test/support/redis-cluster.ts too.
#   scripts/redis-cluster.sh            # in one terminal
#   REDIS_CLUSTER_NODES=<printed nodes> npm start
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx test/support/redis-cluster.ts
