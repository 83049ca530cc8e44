#!/usr/bin/env bash
# Retention end to end (tests/cluster/retention.py): three brokers from
# deploy/cluster.py on free ports, topics with segment.bytes=4096 and
# retention.bytes or retention.ms, kafka-python producing; the log start
# must advance on every replica (ListOffsets earliest), Fetch below it must
# get OFFSET_OUT_OF_RANGE, a consumer from 0 must reset to it and read the
# rest intact. $1 is the build directory.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
suite=retention
. tests/compat/suite_lib.sh
find_python
[ -x "$build/stretchlogd" ] || fail "no $build/stretchlogd (make BUILD=$build all)"
exec "$py" tests/cluster/retention.py "$build"
