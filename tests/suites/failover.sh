#!/usr/bin/env bash
# Leader failover under acks=all load (tests/cluster/failover.py): three
# brokers from deploy/cluster.py on free ports, kafka-python producing while
# the leader of partition 0 is SIGKILLed and restarted; every acknowledged
# write must be read back once, at its offset, in order. SL_TEST_QUICK=1
# (ASan) kills twice instead of three times. $1 is the build directory.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
suite=failover
. tests/compat/suite_lib.sh
find_python
[ -x "$build/stretchlogd" ] || fail "no $build/stretchlogd (make BUILD=$build all)"
kills=3
[ "${SL_TEST_QUICK:-0}" = 1 ] && kills=2
exec "$py" tests/cluster/failover.py "$build" --kills "$kills"
