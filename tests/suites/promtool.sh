#!/usr/bin/env bash
# Renders sample metrics of every kind (tests/tools/metrics_sample) and checks
# the exposition text with `promtool check metrics` (format and lint rules).
# promtool comes with Debian's prometheus package, which `make deps` installs:
# a missing promtool fails this suite. $1 is the build directory.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
if ! command -v promtool >/dev/null; then
	echo "promtool: not found (install the prometheus package: make deps)" >&2
	exit 1
fi
out=$("$build/tests/tools/metrics_sample")
for want in '# TYPE stretchlog_produce_latency_seconds histogram' \
	'stretchlog_metrics_series_overflow_total{metric="stretchlog_cross_region_bytes_total"} 1' \
	'stretchlog_produce_latency_seconds_bucket{acks="all",le="+Inf"} 100'; do
	grep -qF -- "$want" <<<"$out" || { echo "promtool: sample output lacks: $want" >&2; exit 1; }
done
lines=$(wc -l <<<"$out")
if ! problems=$(promtool check metrics <<<"$out" 2>&1); then
	echo "$problems" >&2
	echo "promtool: check metrics failed" >&2
	exit 1
fi
echo "promtool: $lines lines of exposition text pass 'promtool check metrics'"
