#!/usr/bin/env bash
# Real Kafka clients (kcat, kafka-python 2.0.2, kafkajs 2.2.4) against a
# 3-broker cluster started with deploy/cluster.sh on free ports; every
# record compared byte for byte (tests/compat/compat.py). kafkajs is
# installed into tests/compat/node with npm if missing; if npm cannot reach
# its registry the suite fails and says so. $1 is the build directory.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
suite=compat
. tests/compat/suite_lib.sh
find_python
command -v kcat >/dev/null || fail "kcat is required (make deps)"
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are required (make deps)"
[ -x "$build/stretchlogd" ] || fail "no $build/stretchlogd (make BUILD=$build all)"

node_dir=tests/compat/node
kjs_version() { node -p "require('./$node_dir/node_modules/kafkajs/package.json').version" 2>/dev/null; }
if [ "$(kjs_version)" != 2.2.4 ]; then
	echo "compat: installing kafkajs@2.2.4 into $node_dir with npm"
	if ! out=$(cd "$node_dir" && timeout 60 npm install --no-save --no-package-lock --no-audit \
		--no-fund --fetch-retries=1 --fetch-timeout=20000 kafkajs@2.2.4 2>&1); then
		echo "$out" | tail -n 15 >&2
		fail "npm could not install kafkajs@2.2.4: is the npm registry reachable from here? (npm config get registry: $(npm config get registry 2>/dev/null))"
	fi
	[ "$(kjs_version)" = 2.2.4 ] || fail "npm ran but kafkajs 2.2.4 is not in $node_dir/node_modules"
fi

make_tmp
"$py" deploy/cluster.py start "$tmp/cluster" --bin "$build/stretchlogd" --base-port auto \
	--set num.partitions=3 >/dev/null || fail "cluster did not start"
rc=0
"$py" tests/compat/compat.py "$tmp/cluster" "$build/stretchlogd" "$node_dir" || rc=1
# SIGTERM drains: every broker must log a clean stop and no sanitizer report.
"$py" deploy/cluster.py stop "$tmp/cluster" >/dev/null || rc=1
check_logs "$tmp/cluster" || rc=1
[ $rc -eq 0 ] || show_warnings "$tmp/cluster"
exit $rc
