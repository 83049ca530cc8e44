#!/usr/bin/env python3
"""Retention end to end, with real processes and real clients.

Usage: retention.py BUILD_DIR [--keep]

Three brokers start with deploy/cluster.py on free ports, with
log.retention.check.interval.ms=1000 and small Raft snapshot intervals (the
retention bound lies below the latest snapshot). Two topics, one partition,
three replicas, segment.bytes=4096:
  - "ret-bytes" with retention.bytes=16384: kafka-python produces ~100 KB;
  - "ret-ms" with retention.ms=60000: records stamped an hour ago, then
    records stamped now.
Checks, per topic:
  - ret-bytes: every replica keeps between retention.bytes and one segment
    more of segment files;
  - ListOffsets earliest advances above 0 on every replica (each broker is
    asked: followers answer ListOffsets), and for ret-ms never past the
    first recent record;
  - a raw Fetch below the log start gets OFFSET_OUT_OF_RANGE from the leader;
  - kafka-python, assigned and seeked to offset 0 with
    auto_offset_reset=earliest, resets to the log start and reads every
    acknowledged record from there to the end at its offset, intact;
  - /metrics counts deleted segments and exports the log start offset, and
    passes `promtool check metrics` when promtool is installed;
  - every broker logged an event=retention_deleted line.
The cluster and its directory are removed at the end unless --keep.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy"))
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

import kwire  # noqa: E402
from cluster import start_on_free_ports  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.protocol.fetch import FetchRequest  # noqa: E402
from kafka.protocol.offset import OffsetRequest  # noqa: E402

SETS = ["log.retention.check.interval.ms=1000", "raft.snapshot.interval.entries=40",
        "raft.snapshot.trailing.entries=8", "log.flush.fsync.enable=false"]
OFFSET_OUT_OF_RANGE = 1


def log(msg):
    print("retention: %s" % msg, flush=True)


def earliest(addr, topic):
    """ListOffsets earliest of topic/0 from the broker at addr: (error, offset)."""
    c = kwire.Conn(addr)
    try:
        r = c.request(OffsetRequest[1](replica_id=-1, topics=[(topic, [(0, -2)])]))
        _p, err, _ts, off = r.topics[0][1][0]
        return err, off
    finally:
        c.close()


def fetch_error(addr, topic, offset):
    """The error code of a Fetch v11 of topic/0 at offset (no rack)."""
    c = kwire.Conn(addr)
    try:
        req = FetchRequest[11](replica_id=-1, max_wait_time=100, min_bytes=1, max_bytes=1 << 20,
                               isolation_level=0, session_id=0, session_epoch=-1,
                               topics=[(topic, [(0, -1, offset, -1, 1 << 20)])],
                               forgotten_topics_data=[], rack_id="")
        return c.request(req).topics[0][1][0][1]
    finally:
        c.close()


def leader_of(cluster, topic, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i in cluster.ids:
            try:
                _b, parts, _e = kwire.metadata(cluster.kafka_addr(i), [topic])
            except (OSError, kwire.Closed, ValueError):
                continue
            leader, _r, err = parts.get((topic, 0), (-1, [], -1))
            if err == 0 and leader in cluster.ids:
                return leader
        time.sleep(0.2)
    raise RuntimeError("%s/0 has no leader after %ds" % (topic, timeout))


def produce(bootstrap, topic, n, size, ts_ms=None):
    """n records of size bytes, one acks=all batch each; returns {offset: value}."""
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                      request_timeout_ms=10000, client_id="stretchlog-retention")
    out = {}
    try:
        for k in range(n):
            v = ("%s-%06d-" % (topic, k)).encode().ljust(size, b"x")
            md = p.send(topic, value=v, partition=0, timestamp_ms=ts_ms).get(timeout=15)
            out[md.offset] = v
    finally:
        p.close()
    return out


def settled_start(cluster, topic, above, timeout=25):
    """Waits until every broker answers ListOffsets earliest > above and the
    answers stay put for three retention intervals; returns {broker: start}."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = {}
        for i in cluster.ids:
            try:
                err, off = earliest(cluster.kafka_addr(i), topic)
            except (OSError, kwire.Closed, ValueError):
                err, off = -1, -1
            now[i] = off if err == 0 else None
        if now != last:
            last, since = now, time.monotonic()
        elif all(v is not None and v > above for v in now.values()) and \
                time.monotonic() - since >= 3.5:
            return now
        time.sleep(0.25)
    raise RuntimeError("%s: ListOffsets earliest did not settle above %d on every replica: %s"
                       % (topic, above, last))


def consume_from_zero(bootstrap, topic, end):
    """kafka-python assigned to topic/0, seeked to 0 (below the log start)
    with auto_offset_reset=earliest: [(offset, value)] up to end."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id=None, consumer_timeout_ms=10000,
                      fetch_max_wait_ms=200, client_id="stretchlog-retention")
    got = []
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        for m in c:
            got.append((m.offset, m.value))
            if m.offset + 1 >= end:
                break
    finally:
        c.close()
    return got


def metric(text, name, labels):
    pat = re.compile(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), re.M)
    m = pat.search(text)
    return float(m.group(1)) if m else None


def segment_bytes(cluster, i, topic):
    """Bytes of topic/0's segment files in broker i's data directory."""
    d = cluster.data_dir(i)
    n = 0
    for sub in os.listdir(d):
        if sub.startswith(topic + "-0."):
            n += sum(os.path.getsize(os.path.join(d, sub, f))
                     for f in os.listdir(os.path.join(d, sub)) if f.endswith(".log"))
    return n


def check_topic(cluster, topic, acked, first_kept, fails):
    """Common checks once the start has settled; first_kept is the lowest
    offset that must survive (None: any)."""
    end = max(acked) + 1
    starts = settled_start(cluster, topic, 0)
    log("%s: log start per broker %s (end %d)" % (topic, starts, end))
    leader = leader_of(cluster, topic)
    start = starts[leader]
    if len(set(starts.values())) != 1:
        # Each replica deletes on its own bound; they need not agree, but
        # none may be past the leader's end or hold less than the policy.
        log("%s: replicas settled at different starts %s" % (topic, starts))
    if first_kept is not None and max(starts.values()) > first_kept:
        fails.append("%s: a replica deleted past offset %d, which retention must keep: %s" %
                     (topic, first_kept, starts))
    err = fetch_error(cluster.kafka_addr(leader), topic, start - 1)
    if err != OFFSET_OUT_OF_RANGE:
        fails.append("%s: Fetch at %d (below the log start %d) got error %d, want "
                     "OFFSET_OUT_OF_RANGE" % (topic, start - 1, start, err))
    got = consume_from_zero(cluster.bootstrap, topic, end)
    if not got or got[0][0] != start:
        fails.append("%s: kafka-python from 0 started at %s, want the log start %d" %
                     (topic, got[0][0] if got else None, start))
    want = [(o, v) for o, v in sorted(acked.items()) if o >= start]
    d = kwire.diff("%s records from the log start" % topic, want, got, fields=["offset", "value"])
    if d:
        fails.append(d)
    m = cluster.metrics(leader)
    v = metric(m, "stretchlog_partition_log_start_offset",
               'topic="%s",partition="0"' % topic)
    if v != start:
        fails.append("%s: stretchlog_partition_log_start_offset on broker %d is %s, want %d" %
                     (topic, leader, v, start))
    segs = metric(m, "stretchlog_retention_deleted_total", 'kind="segments"')
    if not segs:
        fails.append("broker %d: stretchlog_retention_deleted_total{kind=\"segments\"} is %s" %
                     (leader, segs))
    return start


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    root = tempfile.mkdtemp(prefix="sl-retention.")
    cluster = None
    ok = False
    fails = []
    try:
        cluster = start_on_free_ports(os.path.join(root, "cluster"),
                                      os.path.join(a.build, "stretchlogd"), brokers=3,
                                      sets=SETS)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap,
                                 client_id="stretchlog-retention", request_timeout_ms=15000)
        admin.create_topics([
            NewTopic("ret-bytes", 1, 3, topic_configs={"segment.bytes": "4096",
                                                       "retention.bytes": "16384"}),
            NewTopic("ret-ms", 1, 3, topic_configs={"segment.bytes": "4096",
                                                    "retention.ms": "60000"}),
        ])
        admin.close()
        for t in ("ret-bytes", "ret-ms"):
            leader_of(cluster, t)
        log("cluster up, topics created (%.1fs)" % (time.monotonic() - t0))

        acked = produce(cluster.bootstrap, "ret-bytes", 400, 250)
        start = check_topic(cluster, "ret-bytes", acked, None, fails)
        for i in cluster.ids:
            held = segment_bytes(cluster, i, "ret-bytes")
            # At least retention.bytes stays; less than one more segment
            # (segment.bytes plus one batch) beyond it.
            if not 16384 <= held <= 16384 + 4096 + 512:
                fails.append("ret-bytes: broker %d holds %d bytes of segments, want "
                             "16384..%d" % (i, held, 16384 + 4096 + 512))
        log("ret-bytes: start %d, %d bytes of segments on broker 1 (%.1fs)" %
            (start, segment_bytes(cluster, 1, "ret-bytes"), time.monotonic() - t0))

        old = produce(cluster.bootstrap, "ret-ms", 200, 250,
                      ts_ms=int(time.time() * 1000) - 3600 * 1000)
        new = produce(cluster.bootstrap, "ret-ms", 120, 250)
        acked = dict(old)
        acked.update(new)
        start = check_topic(cluster, "ret-ms", acked, min(new), fails)
        log("ret-ms: start %d, first recent record at %d (%.1fs)" % (start, min(new),
                                                                     time.monotonic() - t0))
        if shutil.which("promtool"):
            pr = subprocess.run(["promtool", "check", "metrics"], input=cluster.metrics(1).encode(),
                                capture_output=True, timeout=30)
            if pr.returncode != 0:
                fails.append("promtool check metrics on broker 1's /metrics: %s" %
                             (pr.stdout + pr.stderr).decode(errors="replace")[:2000])
        for i in cluster.ids:
            with open(cluster.path("broker%d.log" % i), errors="replace") as f:
                n = sum(1 for line in f if "event=retention_deleted" in line)
            log("broker %d logged %d retention_deleted lines" % (i, n))
            if n == 0:
                fails.append("broker %d logged no event=retention_deleted line" % i)
        for f in fails:
            log("FAIL %s" % f)
        ok = not fails
        # A clean drain (exit 0) also means no sanitizer report at exit.
        rcs = cluster.stop()
        bad = {i: rc for i, rc in rcs.items() if rc != 0}
        if bad:
            log("FAIL brokers did not exit 0 after SIGTERM: %s" % bad)
            cluster.print_log_tails(list(bad), 40)
            ok = False
        log("%s in %.1fs" % ("PASS" if ok else "FAIL", time.monotonic() - t0))
    except Exception as e:  # noqa: BLE001 - report, print logs, fail
        log("FAIL %s: %s" % (type(e).__name__, e))
        ok = False
        if cluster is not None:
            cluster.print_log_tails(cluster.ids)
    finally:
        if cluster is not None:
            cluster.stop()
        if a.keep or not ok:
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
