#!/usr/bin/env bash
# Locality end to end (issue 5): a three-region stretchlogd cluster on
# loopback, a topic pinned with leaders.preference=regions:r1,r2, kcat
# consumers with client.rack in every region (byte-exact reads served
# in-region), SIGKILL of the pinned region's broker (leaders move to r2,
# writes accepted) and its restart (leaders return to r1 after the
# cool-down), then an AlterConfigs to regions:r3,r2 (election timeouts
# re-ranked on every replica, leaders move to r3) and SIGKILL of the r3
# broker (leaders move to r2, the new next preference) and its restart, then
# SIGSTOP of the r3 broker (silent: leaders move to r2 once the transports'
# idle timeout declares it down) and SIGCONT (leaders return to r3).
# Needs kcat and python3 with kafka-python. $1 is the build
# directory. The Python driver stops its brokers itself; the trap kills the
# pids it recorded only if the driver died first.
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
py=python3
if ! "$py" -c 'import kafka' 2>/dev/null; then
	py=/usr/bin/python3
fi
if ! command -v kcat >/dev/null || ! "$py" -c 'import kafka' 2>/dev/null; then
	echo "locality: kcat or kafka-python missing (make deps)" >&2
	exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sl-locality.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	for f in "$dir"/broker*.pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
"$py" tests/cluster/locality.py "$build" --keep "$dir" &
pid=$!
wait "$pid"
rc=$?
pid=
exit "$rc"
