# Shared by tests/suites/{compat,failover,hostile}.sh (sourced, not run).
# Picks a Python with kafka-python, starts and checks a deploy/cluster.sh
# cluster in a temporary directory that the EXIT trap removes.

fail() { echo "$suite: $*" >&2; exit 1; }

# Sets $py to a python3 that imports kafka-python and lz4.
find_python() {
	py=""
	for p in /usr/bin/python3 python3; do
		if "$p" -c 'import kafka, lz4' >/dev/null 2>&1; then py=$p; return 0; fi
	done
	fail "python3-kafka and python3-lz4 are required (make deps)"
}

# make_tmp: $tmp, removed (after stopping any cluster in it) on exit.
make_tmp() {
	tmp=$(mktemp -d "/tmp/sl-$suite.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}
cleanup() {
	if [ -f "$tmp/cluster/cluster.json" ]; then
		"$py" deploy/cluster.py stop "$tmp/cluster" --timeout 20 >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}

# check_logs DIR: 0 when every broker log shows a clean stop and no
# sanitizer report; prints what is wrong otherwise.
check_logs() {
	local rc=0 log
	for log in "$1"/broker*.log; do
		[ -f "$log" ] || continue
		if grep -q 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' "$log"; then
			echo "$suite: sanitizer report in $(basename "$log"):" >&2
			grep -m 5 -A 25 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' "$log" >&2
			rc=1
		fi
		if [ "$(tail -n 1 "$log" | grep -c 'event=stopped')" = 0 ]; then
			echo "$suite: $(basename "$log") does not end with a clean stop; its tail:" >&2
			tail -n 15 "$log" >&2
			rc=1
		fi
	done
	return $rc
}

# show_warnings DIR: the last warning and error lines of every broker log.
show_warnings() {
	local log
	for log in "$1"/broker*.log; do
		echo "--- $(basename "$log"): last warnings and errors" >&2
		grep 'level=warn\|level=error' "$log" | tail -n 15 >&2
	done
}
