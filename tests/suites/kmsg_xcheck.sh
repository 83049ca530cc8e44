#!/usr/bin/env bash
# Cross-checks the generated Kafka codecs against kafka-python's encoder (tests/compat/
# kmsg_xcheck.py). Skipped (passes) when kafka-python is not installed.
# Usage: kmsg_xcheck.sh [build-dir]
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
py=""
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import kafka.protocol' >/dev/null 2>&1; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "kmsg_xcheck: kafka-python not installed, skipping"
	exit 0
fi
mkdir -p "$build/tests/compat"
driver=$build/tests/compat/kmsg_xcheck_driver
# Built from source here (not from $build's libraries) so it works for any build flavour.
${CC:-cc} -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wformat=2 -Werror -I. -o "$driver" tests/compat/kmsg_xcheck_driver.c proto/kmsg.c \
	proto/kafka_msgs.c proto/varint.c common/sl_common.c -lpthread || exit 1
"$py" tests/compat/kmsg_xcheck.py "$driver"
