#!/usr/bin/env bash
# Runs every benchmark against the build in $1. Each prints lines of the form
#   BENCH <name> <value> <unit>
# including, where an issue sets a target, a ratio computed from figures
# measured in the same run (absolute numbers are noisy across runs).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
for b in "$build"/tests/bench/*; do
	[ -x "$b" ] || continue
	"$b"
done
# Benchmarks that drive several processes are scripts taking the build dir.
# Some drive kafka-python: use a python3 that has it (Debian's python3-kafka
# is installed for /usr/bin/python3, which may not be first on PATH).
py=python3
if ! "$py" -c 'import kafka' 2>/dev/null && [ -x /usr/bin/python3 ]; then
	py=/usr/bin/python3
fi
for s in tests/bench/*.py; do
	[ -f "$s" ] || continue
	"$py" "$s" "$build"
done
