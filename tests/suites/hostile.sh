#!/usr/bin/env bash
# Hostile Kafka frames (tests/compat/hostile.py) against a one-broker
# cluster started with deploy/cluster.sh on free ports: negative and
# oversized lengths, truncated headers, unknown keys and versions, huge
# array counts, corrupt and truncated batches. Each must get its error
# response or a closed connection while a second connection keeps being
# answered, nothing invalid may be stored, and the broker must stop cleanly.
# $1 is the build directory.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
suite=hostile
. tests/compat/suite_lib.sh
find_python
[ -x "$build/stretchlogd" ] || fail "no $build/stretchlogd (make BUILD=$build all)"
make_tmp

max=1048576
"$py" deploy/cluster.py start "$tmp/cluster" --bin "$build/stretchlogd" --base-port auto \
	--brokers 1 --regions r1 --set socket.request.max.bytes=$max \
	--set message.max.bytes=1024 >/dev/null || fail "cluster did not start"
addr=$("$py" deploy/cluster.py bootstrap "$tmp/cluster")
rc=0
(cd tests/compat && "$py" hostile.py "$addr" "$max") || rc=1
"$py" deploy/cluster.py status "$tmp/cluster" >/dev/null || { echo "hostile: broker not up after the cases" >&2; rc=1; }
"$py" deploy/cluster.py stop "$tmp/cluster" >/dev/null || rc=1
check_logs "$tmp/cluster" || rc=1
[ $rc -eq 0 ] || show_warnings "$tmp/cluster"
exit $rc
