#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (address + undefined sanitizers)
# into build-fuzz/, generates the seed corpus from valid encodings of every
# request version (tests/fuzz/gen_corpus.c), and fuzzes for $1 seconds in
# all (default 300): two thirds on fuzz_request (parser, codecs, answers),
# one third on fuzz_conn (a live listener connection). Corpora grow in
# build-fuzz/corpus-<harness>/; crashes land in build-fuzz/crashes/, each to
# become a regression case in tests/unit/test_kafka_api.c. Exits 0 when no
# crash was found, 1 otherwise (also when clang with libFuzzer is missing).
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
flags=(-std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wformat=2 -Werror -I.)
core=(proto/kmsg.c proto/kafka_msgs.c proto/varint.c common/sl_common.c server/kafka_api.c server/kafka_api_errors.c)
deps=("${core[@]}" server/kafka_conn.c server/kafka_conn.h tests/fuzz/*.c tests/fuzz/*.h
	tests/unit/kmsg_fill.c proto/kmsg.h proto/kafka_msgs.h proto/proto.h server/kafka_api.h common/sl_common.h)
stale() { # stale <target>: true when the target is missing or older than a source
	[ -f "$1" ] || return 0
	for d in "${deps[@]}"; do
		[ "$d" -nt "$1" ] && return 0
	done
	return 1
}
build() { # build <name> <extra sources and libraries...>
	local name=$1
	shift
	if stale "$out/$name"; then
		echo "fuzz: building $out/$name with $cc"
		"$cc" "${flags[@]}" -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			-o "$out/$name.tmp" "tests/fuzz/$name.c" "${core[@]}" "$@" -lpthread
		mv "$out/$name.tmp" "$out/$name"
	fi
}
build fuzz_request
build fuzz_conn server/kafka_conn.c -luv
if stale "$out/gen_corpus"; then
	"$cc" "${flags[@]}" -O1 -o "$out/gen_corpus" tests/fuzz/gen_corpus.c "${core[@]}" -lpthread
fi
rm -rf "$out/seeds" "$out/crashes"
mkdir -p "$out/seeds" "$out/crashes"
"$out/gen_corpus" "$out/seeds"
status=0
run() { # run <harness> <seconds>
	local name=$1 secs=$2 log=$out/$1.log rc
	mkdir -p "$out/corpus-$name"
	set +e
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$out/crashes/$name-" \
		"$out/corpus-$name" "$out/seeds" >"$log" 2>&1
	rc=$?
	set -e
	local execs rate
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	echo "fuzz: $name ${secs}s: ${execs:-?} execs (${rate:-?}/s), exit $rc," \
		"corpus $(find "$out/corpus-$name" -type f | wc -l) files"
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log"
		status=1
	fi
}
run fuzz_request $((seconds * 2 / 3 > 0 ? seconds * 2 / 3 : 1))
run fuzz_conn $((seconds / 3 > 0 ? seconds / 3 : 1))
echo "fuzz: $(find "$out/crashes" -type f | wc -l) crash files in $out/crashes"
exit $status
