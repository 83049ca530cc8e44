#!/usr/bin/env bash
# Builds the libFuzzer harness with clang (address + undefined sanitizers)
# into build-fuzz/, generates the seed corpus from valid encodings of every
# request version (tests/fuzz/gen_corpus.c), and fuzzes for $1 seconds
# (default 300). Crashes land in build-fuzz/crashes/; turn each one into a
# regression case in tests/unit/test_kafka_conn.c. Exits 0 when no crash was
# found, 1 otherwise (also when clang with libFuzzer is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
out=build-fuzz
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found"
	exit 1
fi
mkdir -p "$out"
warn=(-std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wformat=2 -Werror -I.)
core=(proto/kmsg.c proto/kafka_msgs.c proto/varint.c common/sl_common.c server/kafka_api.c server/kafka_api_errors.c)
deps=("${core[@]}" tests/fuzz/fuzz_request.c tests/fuzz/gen_corpus.c tests/fuzz/kmsg_fill_env.h
	tests/unit/kmsg_fill.c proto/kmsg.h proto/kafka_msgs.h proto/proto.h server/kafka_api.h common/sl_common.h)
stale() { # stale <target>: true when the target is missing or older than a source
	[ -f "$1" ] || return 0
	for d in "${deps[@]}"; do
		[ "$d" -nt "$1" ] && return 0
	done
	return 1
}
if stale "$out/fuzz_request"; then
	echo "fuzz: building $out/fuzz_request with $cc"
	if ! "$cc" "${warn[@]}" -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o "$out/fuzz_request.tmp" tests/fuzz/fuzz_request.c "${core[@]}" -lpthread; then
		echo "fuzz: build failed"
		exit 1
	fi
	mv "$out/fuzz_request.tmp" "$out/fuzz_request"
fi
if stale "$out/gen_corpus"; then
	"$cc" "${warn[@]}" -O1 -o "$out/gen_corpus" tests/fuzz/gen_corpus.c "${core[@]}" -lpthread
fi
rm -rf "$out/seeds" "$out/crashes"
mkdir -p "$out/seeds" "$out/corpus" "$out/crashes"
"$out/gen_corpus" "$out/seeds"
log=$out/fuzz.log
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	"$out/fuzz_request" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 -artifact_prefix="$out/crashes/" \
	"$out/corpus" "$out/seeds" >"$log" 2>&1
rc=$?
set -e
grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|^#[0-9]+ +DONE' "$log" || true
crashes=$(find "$out/crashes" -type f | wc -l)
echo "fuzz: ${seconds}s, exit $rc, corpus $(find "$out/corpus" -type f | wc -l) files, $crashes crash files in $out/crashes"
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$log"
	exit 1
fi
exit 0
