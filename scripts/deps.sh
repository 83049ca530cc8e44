#!/usr/bin/env bash
# Installs what stretchlog needs to build and test, if it is missing.
# Idempotent and quick when everything is present. Enables bookworm-backports
# by reusing the mirror already configured in this machine's apt sources: no
# registry host name is written into the repository.
set -euo pipefail

need_raft=0.22.1
pkgs_build=(build-essential pkg-config libuv1-dev liblz4-dev check clang)
pkgs_test=(kcat python3-kafka python3-lz4 lz4 prometheus libclang-rt-14-dev librdkafka-dev)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

raft_ok() {
	local v
	v=$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null || true)
	case "$v" in "$need_raft"*) return 0 ;; *) return 1 ;; esac
}

missing=()
for p in "${pkgs_build[@]}" "${pkgs_test[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Node.js and npm for the kafkajs compat tests (tests/suites/compat.sh, which
# installs kafkajs itself with npm): Debian's packages, unless a node and an
# npm are already on the PATH (whatever their origin).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if raft_ok && [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

# First mirror URI serving the main Debian suites (not -security).
mirror_uri() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			BEGIN { RS=""; FS="\n" }
			{
				uri=""; suites=""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uri=$i }
					if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites=$i }
				}
				if (uri != "" && suites ~ /(^| )bookworm( |$)/) { split(uri, u, " "); print u[1]; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' "$f"
	done
}

bp=/etc/apt/sources.list.d/stretchlog-backports.sources
if ! raft_ok && [ ! -f "$bp" ]; then
	uri=$(mirror_uri | head -n 1)
	if [ -z "$uri" ]; then
		echo "deps: no bookworm mirror found in the apt sources; cannot enable bookworm-backports" >&2
		exit 1
	fi
	sudo_ tee "$bp" >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
sudo_ apt-get update -qq
if ! raft_ok; then
	sudo_ apt-get install -y -qq -t bookworm-backports "libraft-dev=${need_raft}*" "libraft0=${need_raft}*" >/dev/null ||
		sudo_ apt-get install -y -qq -t bookworm-backports libraft-dev >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
	sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
raft_ok || { echo "deps: libraft-dev $need_raft not installed" >&2; exit 1; }
echo "deps: ok (libraft $(dpkg-query -W -f='${Version}' libraft-dev))"
