#!/usr/bin/env bash
# Links the simulator against an assertions-on libraft 0.22.1 built from a
# source tree the caller provides (e.g. `apt-get source raft` with deb-src
# enabled, or a checkout of cowsql/raft at tag v0.22.1; the sources are never
# part of this repository). Debian's libraft has assertions compiled out, so
# contract violations by the group driver pass silently there; with this
# build they abort at the violated assertion.
#
#   tests/sim/raft-debug.sh RAFT_SRC_DIR [BUILD]    (after make BUILD=... all)
#   BUILD/tests/sim/sim-raft-debug --seeds 200 --jobs 2
set -euo pipefail
src=${1:?usage: raft-debug.sh RAFT_SRC_DIR [BUILD]}
build=${2:-build}
cd "$(dirname "$0")/../.."
grep -qF 'AC_INIT([raft], [0.22.1]' "$src/configure.ac" || echo "warning: expected libraft 0.22.1 sources" >&2
obj="$build/raft-debug"
mkdir -p "$obj"
core="byte client compress configuration convert election entry err heap membership message
      progress random raft recv recv_append_entries recv_append_entries_result
      recv_request_vote recv_request_vote_result recv_install_snapshot recv_timeout_now
      restore replication state syscall timeout tracing trail log legacy snapshot fixture"
for f in $core; do
	cc -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -DV0_ENABLED \
		-I"$src/include" -c "$src/src/$f.c" -o "$obj/$f.o"
done
ar rcs "$obj/libraft-debug.a" "$obj"/*.o
# The simulator, with libraft taken from the archive instead of -lraft.
libs="$build/libserver.a $build/libclient.a $build/libplacement.a $build/libraftlog.a"
libs="$libs $build/libproto.a $build/libcommon.a"
cc -o "$build/tests/sim/sim-raft-debug" "$build"/tests/sim/*.o $libs "$obj/libraft-debug.a" \
	$(pkg-config --libs libuv liblz4) -lpthread -lm
echo "built $build/tests/sim/sim-raft-debug"
