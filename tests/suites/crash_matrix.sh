#!/usr/bin/env bash
# raftlog crash matrix: SIGKILL a writer at random moments, reopen, check no
# acknowledged append or term/vote was lost. 200 iterations, 30 with
# SL_TEST_QUICK=1 (ASan runs). $1 is the build directory.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
iterations=200
if [ "${SL_TEST_QUICK:-0}" = 1 ]; then
	iterations=30
fi
out=$("$build/tests/crash/crash_matrix" "$iterations")
echo "$out"
echo "$out" | grep -q "lost_acked=0 ok"
