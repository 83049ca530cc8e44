#!/usr/bin/env bash
# Regenerates docs/configuration.md from the configuration table in
# server/config.c. Usage: scripts/gen-config-doc.sh [build-dir]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
make -s BUILD="$build" "$build/tests/tools/config_doc"
"$build/tests/tools/config_doc" >docs/configuration.md.tmp
mv docs/configuration.md.tmp docs/configuration.md
echo "wrote docs/configuration.md"
