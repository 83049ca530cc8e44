#!/usr/bin/env python3
"""Leadership transfer benchmarks: runs tests/cluster/repl_transfer.py --bench
(three repl_node processes on loopback, real disks, acks=all load, repeated
transfers) and passes its BENCH lines through:
  replication.transfer_ms        p50 time from the transfer request to the new
                                 leader acknowledging its first write
  replication.transfer_ms_max    the slowest of them
  replication.transfer_rejected  submissions rejected per transfer (mean)
usage: bench_transfer.py BUILD_DIR   (SL_BENCH_TRANSFERS, default 20)"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
build = sys.argv[1] if len(sys.argv) > 1 else "build"
script = os.path.join(here, "..", "cluster", "repl_transfer.py")
transfers = os.environ.get("SL_BENCH_TRANSFERS", "20")
sys.exit(subprocess.call([sys.executable, script, build, "--bench", "--transfers", transfers]))
