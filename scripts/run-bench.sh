#!/usr/bin/env bash
# Runs every benchmark against the build in $1. Each prints lines of the form
#   BENCH <name> <value> <unit>
# and, where the issue sets a target, a ratio line computed here from figures
# measured in this same run (absolute numbers are noisy across runs).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for b in "$build"/tests/bench/*; do
	[ -x "$b" ] || continue
	"$b" | tee -a "$out"
done
fig() { awk -v n="$1" '$1 == "BENCH" && $2 == n { print $3 }' "$out" | tail -n 1; }
ratio() { # name numerator denominator scale target
	local a b
	a=$(fig "$2"); b=$(fig "$3")
	[ -n "$a" ] && [ -n "$b" ] || return 0
	awk -v a="$a" -v b="$b" -v s="$4" -v t="$5" -v n="$1" 'BEGIN {
		r = (b > 0) ? a / (b * s) : 0
		printf "BENCH %s %.2f ratio (target >= %s: %s)\n", n, r, t, (r >= t ? "met" : "NOT met")
	}'
}
ratio ratio.append_1mib_1p_vs_disk raftlog.append_1mib_1p disk.seq_write_fdatasync 1 0.8
ratio ratio.append_16kib_100p_vs_disk raftlog.append_16kib_100p disk.seq_write_fdatasync 1 0.5
