#!/usr/bin/env bash
# Multi-process replication: three repl_node processes on loopback, the
# leader SIGKILLed repeatedly under acks=all load, a follower stopped past
# several snapshots; no acknowledged batch may be lost or reordered.
# SL_TEST_QUICK=1 (ASan) does fewer kills. $1 is the build directory.
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
kills=5
[ "${SL_TEST_QUICK:-0}" = 1 ] && kills=2
exec python3 tests/cluster/repl_kill.py "$build" --kills "$kills" --groups 4
