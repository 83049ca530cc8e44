#!/usr/bin/env bash
# Checks that docs/configuration.md matches the configuration table in
# server/config.c (regenerate it with scripts/gen-config-doc.sh). $1 is the
# build directory.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
if ! diff -u docs/configuration.md <("$build/tests/tools/config_doc"); then
	echo "config_doc: docs/configuration.md is stale; run scripts/gen-config-doc.sh" >&2
	exit 1
fi
echo "config_doc: docs/configuration.md is up to date"
