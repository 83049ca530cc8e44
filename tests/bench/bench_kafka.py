#!/usr/bin/env python3
"""Kafka-protocol benchmarks: three stretchlogd brokers on loopback
(deploy/cluster.py, fsync on), a topic with replication factor 3, and the
librdkafka client tests/bench/kafka_bench.c (acks=all, linger, 1 MB batches,
1 KiB incompressible records). Prints BENCH lines:
  replication.rf3_1kib_peer   raw replication measured in this run
                              (bench_replication.py's figure, for the ratio)
  kafka.produce_rf3_1kib      MB/s of record values, acks=all, steady state
                              (first delivery to last; the wall figure from
                              the start is printed alongside)
  kafka.produce_rf3_1kib_1p   the same with one partition: one leader and
                              one Raft group per broker, the replication
                              peer's shape (3 partitions spread leaders and
                              give every broker three logs to fsync)
  kafka.produce_p99_ms        p99 enqueue-to-delivery latency at half that load
  kafka.produce_p50_ms        the same run's median
  kafka.consume_1kib          MB/s of record values read back (page cache),
                              assigned partitions, several passes
  kafka.produce_vs_replication  produce / replication.rf3_1kib (target >= 0.8)
  kafka.produce_1p_vs_replication  produce_rf3_1kib_1p / replication.rf3_1kib
  kafka.consume_target_ratio  consume / 1000 MB/s (target >= 1)
usage: bench_kafka.py BUILD_DIR
  SL_BENCH_KAFKA_MB         produce volume of the throughput run (default 400)
  SL_BENCH_KAFKA_PARTITIONS partitions of the topic (default 3)
  SL_BENCH_KAFKA_LINGER_MS  producer linger.ms (default 10)
  SL_BENCH_KAFKA_INFLIGHT   producer max.in.flight per broker (default 5;
                            the replication peer keeps 8 batches in flight)
  SL_BENCH_KAFKA_NO_PEER=1  skip the replication peer (no ratio line)
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "deploy"))

import bench_replication  # noqa: E402
from cluster import start_on_free_ports  # noqa: E402

VOLUME_MB = float(os.environ.get("SL_BENCH_KAFKA_MB", "400"))
PARTITIONS = int(os.environ.get("SL_BENCH_KAFKA_PARTITIONS", "3"))
LINGER_MS = int(os.environ.get("SL_BENCH_KAFKA_LINGER_MS", "10"))
INFLIGHT = int(os.environ.get("SL_BENCH_KAFKA_INFLIGHT", "5"))
LATENCY_SECONDS = 8.0
CONSUME_PASSES = 3


def run(argv, timeout=900):
    """Runs kafka_bench; returns its RESULT fields as a dict."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    sys.stderr.write(p.stderr)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = dict(kv.split("=", 1) for kv in line.split()[2:])
    if p.returncode != 0 or res is None:
        raise RuntimeError("%s %s failed (exit %d)" % (argv[0], argv[1], p.returncode))
    return res


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    client = os.path.join(build, "tests/kafka/kafka_bench")
    broker = os.path.join(build, "stretchlogd")
    if not os.access(client, os.X_OK):
        print("bench_kafka: no %s (librdkafka-dev missing? make deps, then make all); "
              "skipped" % client, file=sys.stderr)
        return 0
    root = tempfile.mkdtemp(prefix="bench_kafka.", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        repl = None
        if os.environ.get("SL_BENCH_KAFKA_NO_PEER") != "1":
            os.makedirs(os.path.join(root, "repl"))
            repl, _, _ = bench_replication.throughput(
                os.path.join(build, "tests/cluster/repl_node"), os.path.join(root, "repl"))
            print("BENCH replication.rf3_1kib_peer %.1f MB/s" % repl, flush=True)
            # The peer leaves gigabytes behind: drop them and let the disk
            # settle, so that the brokers start from the same disk state
            # the peer did (else they measure the peer's aftermath).
            shutil.rmtree(os.path.join(root, "repl"), ignore_errors=True)
            os.sync()
        c = start_on_free_ports(os.path.join(root, "cluster"), broker,
                                sets=["message.max.bytes=2097152"])
        try:
            rc = measure(client, c.bootstrap, repl)
        finally:
            c.stop()
        return rc
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(client, bootstrap, repl):
    base = [client, None, "--bootstrap", bootstrap]

    def cmd(mode, topic, *extra):
        argv = list(base)
        argv[1] = mode
        if mode == "produce":
            extra = extra + ("--inflight", str(INFLIGHT))
        return argv + ["--topic", topic] + list(extra)

    for t in ("bench", "bench_lat"):
        run(cmd("create", t, "--partitions", str(PARTITIONS), "--replication", "3"))
    run(cmd("create", "bench_1p", "--partitions", "1", "--replication", "3"))
    volume = int(VOLUME_MB * 1e6)
    r = run(cmd("produce", "bench", "--bytes", str(volume), "--linger-ms", str(LINGER_MS)))
    mbps = float(r["mb_s"])
    records = r["records"]
    print("BENCH kafka.produce_rf3_1kib %.1f MB/s (%d partitions, acks=all, linger %d ms; "
          "%s MB/s from the start, first delivery after %s ms)" %
          (mbps, PARTITIONS, LINGER_MS, r["wall_mb_s"], r["first_ms"]), flush=True)
    r = run(cmd("produce", "bench_1p", "--bytes", str(volume), "--linger-ms", str(LINGER_MS)))
    mbps_1p = float(r["mb_s"])
    print("BENCH kafka.produce_rf3_1kib_1p %.1f MB/s (1 partition, acks=all, linger %d ms)" %
          (mbps_1p, LINGER_MS), flush=True)
    half = mbps / 2
    r = run(cmd("produce", "bench_lat", "--bytes", str(int(half * 1e6 * LATENCY_SECONDS)),
                "--rate-mbps", "%.2f" % half, "--linger-ms", str(LINGER_MS)))
    print("BENCH kafka.produce_p50_ms %s ms (at %.1f MB/s)" % (r["p50_ms"], half))
    print("BENCH kafka.produce_p99_ms %s ms (at %.1f MB/s)" % (r["p99_ms"], half), flush=True)
    r = run(cmd("consume", "bench", "--partitions", str(PARTITIONS), "--passes",
                str(CONSUME_PASSES), "--records", records))
    consume = float(r["mb_s"])
    print("BENCH kafka.consume_1kib %.1f MB/s (librdkafka, %d passes over %.0f MB)" %
          (consume, CONSUME_PASSES, VOLUME_MB), flush=True)
    if repl:
        print("BENCH kafka.produce_vs_replication %.2f ratio (target >= 0.8)" % (mbps / repl))
        print("BENCH kafka.produce_1p_vs_replication %.2f ratio" % (mbps_1p / repl))
    print("BENCH kafka.consume_target_ratio %.2f ratio (target >= 1, 1000 MB/s)" %
          (consume / 1000.0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
