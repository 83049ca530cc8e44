#!/usr/bin/env python3
"""Locality benchmarks: runs tests/cluster/locality.py --bench (a three-region
cluster on loopback) and passes its BENCH lines through:
locality.cross_region_consumer_bytes_pct, locality.follower_visibility_p99_ms,
locality.failover_to_preferred_s (the pinned region's broker SIGKILLed until
acks=all writes are accepted in the next preferred region; about one
raft.election.timeout.ms: the next region's voter campaigns as soon as the
survivors' vote guard opens), locality.failover_after_rerank_s (the same
after an AlterConfigs changed leaders.preference on the running topic).
usage: bench_locality.py BUILD_DIR"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
build = sys.argv[1] if len(sys.argv) > 1 else "build"
script = os.path.join(here, "..", "cluster", "locality.py")
sys.exit(subprocess.call([sys.executable, script, build, "--bench"]))
