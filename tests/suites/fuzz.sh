#!/usr/bin/env bash
# Short libFuzzer run over the Kafka request path and a live listener
# connection (tests/fuzz/run.sh): 30 s in all, 12 s with SL_TEST_QUICK=1.
# Skipped (passes) when clang cannot build with -fsanitize=fuzzer.
# Usage: fuzz.sh [build-dir] (the argument is unused: the harnesses always
# build into build-fuzz/ with clang).
set -u
cd "$(dirname "$0")/../.."
seconds=30
if [ "${SL_TEST_QUICK:-0}" = 1 ]; then
	seconds=12
fi
cc=${FUZZ_CC:-clang}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe/p.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
	! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
	echo "fuzz: $cc with libFuzzer not available, skipping"
	exit 0
fi
bash tests/fuzz/run.sh "$seconds"
