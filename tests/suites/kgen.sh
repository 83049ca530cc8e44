#!/usr/bin/env bash
# Checks that the committed Kafka codecs (proto/kafka_msgs.{h,c}, tests/unit/kmsg_fill.c)
# are what proto/gen/kgen.py generates from ../shared/kafka-protocol/message. Skipped (passes)
# when the schemas or python3 are absent. Usage: kgen.sh [build-dir] (the argument is unused).
set -u
cd "$(dirname "$0")/../.."
schemas=../shared/kafka-protocol/message
if [ ! -d "$schemas" ]; then
	echo "kgen: $schemas not found, skipping the regeneration check"
	exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "kgen: no python3, skipping the regeneration check"
	exit 0
fi
if python3 proto/gen/kgen.py --check "$schemas" proto/; then
	echo "kgen: generated files are up to date"
else
	echo "kgen: generated files are stale: run python3 proto/gen/kgen.py $schemas proto/"
	exit 1
fi
