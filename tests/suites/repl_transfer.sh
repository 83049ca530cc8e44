#!/usr/bin/env bash
# Leadership transfer under load with real processes: three repl_node
# processes on loopback under continuous acks=all load, leadership of two
# groups moved back and forth; every transfer must complete, only submissions
# held during a transfer may be rejected, and no acknowledged batch may be
# lost or its offset reused. SL_TEST_QUICK=1 (ASan) does fewer transfers.
# $1 is the build directory.
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
transfers=12
[ "${SL_TEST_QUICK:-0}" = 1 ] && transfers=4
exec python3 tests/cluster/repl_transfer.py "$build" --transfers "$transfers" --groups 2
