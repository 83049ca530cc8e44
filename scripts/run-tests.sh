#!/usr/bin/env bash
# Runs every test suite against the build in $1 and prints a closing
# "N passed, N failed" line. Each suite is one command; a suite passes when it
# exits 0. SL_TEST_QUICK=1 shortens the long-running suites (used by asan).
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
pass=0
fail=0
failed=()
run() {
	local name=$1
	shift
	echo "=== suite $name"
	local t0=$SECONDS
	if "$@"; then
		pass=$((pass + 1))
		echo "=== suite $name: ok ($((SECONDS - t0))s)"
	else
		fail=$((fail + 1))
		failed+=("$name")
		echo "=== suite $name: FAILED ($((SECONDS - t0))s)"
	fi
}

run unit env CK_DEFAULT_TIMEOUT=120 "$build/test_unit"
for t in tests/suites/*.sh; do
	[ -f "$t" ] || continue
	run "$(basename "$t" .sh)" bash "$t" "$build"
done

[ ${#failed[@]} -gt 0 ] && echo "failed suites: ${failed[*]}"
echo "suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
