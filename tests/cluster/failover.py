#!/usr/bin/env python3
"""Leader failover under acks=all load, with real processes and a real client.

Usage: failover.py BUILD_DIR [--kills N] [--partitions P] [--keep]

Three brokers start with deploy/cluster.py on free ports. kafka-python
produces with acks='all' in a loop (retries=0: the loop itself retries, and
every attempt carries a fresh value, so an attempt that failed but was
committed anyway can be told apart from a duplicate). Meanwhile the broker
that leads partition 0 (found with Metadata) is SIGKILLed, a new leader must
take over and acknowledge writes, and the killed broker is restarted; N
times. Afterwards, with every broker back:
  - every acknowledged (partition, offset, value) is read back (kafka-python
    assign() + seek_to_beginning) at exactly that offset: nothing lost, no
    offset holding another value than acknowledged;
  - every acknowledged value is stored exactly once in the topic, and no
    value is stored that was never sent;
  - per partition, acknowledged offsets increase in the order the writes were
    acknowledged, and offsets read are unique and increasing;
  - the replicas of every partition converge to the same high watermark and
    log end offset (and, where followers serve reads, hold the same records).
The cluster and its directory are removed at the end unless --keep.
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy"))
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

import kwire  # noqa: E402
from cluster import start_on_free_ports  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

TOPIC = "failover"


def log(msg):
    print("failover: %s" % msg, flush=True)


class Loader(threading.Thread):
    """Produces in rounds of one record per partition and waits for each
    round's acknowledgements; records what was acknowledged and what not."""

    def __init__(self, bootstrap, partitions):
        super().__init__(daemon=True)
        self.partitions = partitions
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", retries=0, linger_ms=2,
            max_in_flight_requests_per_connection=1, request_timeout_ms=6000,
            max_block_ms=5000, metadata_max_age_ms=1000, reconnect_backoff_ms=50,
            reconnect_backoff_max_ms=500, client_id="stretchlog-failover")
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.acked = []  # (partition, offset, value, send time), in ack order
        self.failed = []  # values of attempts that got an error (maybe stored)
        self.errors = {}
        self.seq = 0

    def acks_for(self, p):
        with self.lock:
            return sum(1 for a in self.acked if a[0] == p)

    def acked_sent_after(self, p, t):
        """Whether a write to p sent after time t was acknowledged."""
        with self.lock:
            return any(a[0] == p and a[3] > t for a in reversed(self.acked))

    def run(self):
        while not self.stop_ev.is_set():
            futs = []
            t_send = time.monotonic()
            for p in range(self.partitions):
                self.seq += 1
                value = b"fo-%08d-p%d" % (self.seq, p)
                try:
                    futs.append((p, value, self.producer.send(TOPIC, value=value, partition=p)))
                except Exception as e:  # noqa: BLE001 - KafkaTimeoutError and friends
                    self.note_error(value, e)
            bad = False
            for p, value, f in futs:
                try:
                    md = f.get(timeout=15)
                except Exception as e:  # noqa: BLE001 - any error: not acknowledged
                    self.note_error(value, e)
                    bad = True
                    continue
                with self.lock:
                    self.acked.append((md.partition, md.offset, value, t_send))
            if bad:
                time.sleep(0.1)
        self.producer.close(timeout=10)

    def note_error(self, value, e):
        with self.lock:
            self.failed.append(value)
            name = type(e).__name__
            self.errors[name] = self.errors.get(name, 0) + 1


def leader_of(cluster, partition, exclude=(), timeout=20):
    """The broker id leading TOPIC/partition, as a live broker's Metadata and
    the leader's own /v1/status agree; not one of exclude."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for i in cluster.ids:
            if i in exclude or not cluster.alive(i):
                continue
            try:
                _b, parts, _e = kwire.metadata(cluster.kafka_addr(i), [TOPIC])
            except (OSError, kwire.Closed, ValueError) as e:
                last = e
                continue
            leader = parts.get((TOPIC, partition), (-1,))[0]
            last = (i, parts.get((TOPIC, partition)))
            if leader in exclude or leader not in cluster.ids or not cluster.alive(leader):
                continue
            st = cluster.status(leader) or {}
            for p in st.get("partitions", []):
                if p["topic"] == TOPIC and p["partition"] == partition and p["role"] == "leader":
                    return leader
        time.sleep(0.1)
    raise RuntimeError("no leader for %s/%d after %ds (last %s)" % (TOPIC, partition, timeout,
                                                                   last))


def create_topic(cluster, partitions):
    a = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15000)
    try:
        r = a.create_topics([NewTopic(TOPIC, partitions, 3)], timeout_ms=15000)
        errs = [t[1] for t in r.topic_errors]
        if errs != [0]:
            raise RuntimeError("CreateTopics: %s" % r)
    finally:
        a.close()
    for p in range(partitions):
        leader_of(cluster, p)


def kill_cycle(cluster, loader, k, settle_s):
    victim = leader_of(cluster, 0)
    before = loader.acks_for(0)
    t_kill = time.monotonic()
    cluster.kill(victim)
    log("kill %d: SIGKILLed broker %d, leader of %s/0 (%d acks on it so far)" %
        (k, victim, TOPIC, before))
    new = leader_of(cluster, 0, exclude=(victim,), timeout=30)
    t_leader = time.monotonic()
    deadline = t_leader + 30
    while not loader.acked_sent_after(0, t_kill):
        if time.monotonic() > deadline:
            raise RuntimeError("no write to %s/0 sent after the kill was acknowledged in 30 s"
                               % TOPIC)
        time.sleep(0.02)
    log("kill %d: broker %d leads %s/0 %.2f s after the kill; first write sent after the kill "
        "acknowledged at %.2f s" % (k, new, TOPIC, t_leader - t_kill, time.monotonic() - t_kill))
    time.sleep(0.5)
    cluster.start_broker(victim)
    cluster.wait_ready([victim], timeout=30)
    log("kill %d: broker %d restarted and registered" % (k, victim))
    time.sleep(settle_s)


def read_back(cluster, partitions, ends, timeout=30):
    """{p: [(offset, value)]} of the data records, read with kafka-python from
    the beginning up to the last data record, control records skipped; also
    {p: control offsets} and {p: hwm}."""
    control, hwm, last = {}, {}, {}
    for p in range(partitions):
        deadline = time.monotonic() + 10
        while True:
            leader = leader_of(cluster, p)
            batches, hwm[p] = kwire.fetch_batches(cluster.kafka_addr(leader), TOPIC, p)
            if hwm[p] >= ends.get(p, 0):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%s/%d: high watermark %d below acknowledged end %d" %
                                   (TOPIC, p, hwm[p], ends[p]))
            time.sleep(0.1)
        control[p] = kwire.control_offsets(batches)
        # The broker answers control batches without records, so the read
        # ends at the last data record, not at hwm - 1.
        last[p] = max([r[0] for r in kwire.data_records(batches)], default=-1)
    c = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None,
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    got = {p: [] for p in range(partitions)}
    try:
        c.assign([TopicPartition(TOPIC, p) for p in range(partitions)])
        c.seek_to_beginning()
        seen = {p: -1 for p in range(partitions)}
        deadline = time.monotonic() + timeout
        while any(seen[p] < last[p] for p in range(partitions)):
            if time.monotonic() > deadline:
                raise RuntimeError("read stopped at %s, high watermarks %s" % (seen, hwm))
            for tp, recs in c.poll(timeout_ms=200).items():
                for m in recs:
                    seen[tp.partition] = max(seen[tp.partition], m.offset)
                    if m.offset in control[tp.partition]:
                        raise RuntimeError("kafka-python returned a record at control offset "
                                           "%d of partition %d" % (m.offset, tp.partition))
                    got[tp.partition].append((m.offset, m.value))
    finally:
        c.close()
    return got, control, hwm


def verify(loader, got, partitions):
    """The checks of the module doc on the history; returns failure texts."""
    fails = []
    stored = {}  # value -> [(p, offset)]
    for p in range(partitions):
        offs = [o for o, _v in got[p]]
        if offs != sorted(set(offs)):
            fails.append("%s/%d: offsets read are not unique and increasing" % (TOPIC, p))
        for o, v in got[p]:
            stored.setdefault(v, []).append((p, o))
    acked_values = set()
    for p in range(partitions):
        acks = [(o, v) for (ap, o, v, _t) in loader.acked if ap == p]
        by_off = dict(got[p])
        exp = [(o, v) for o, v in acks]
        have = [(o, by_off.get(o, "<nothing at this offset>")) for o, _v in acks]
        d = kwire.diff("%s/%d acknowledged (offset, value) vs stored" % (TOPIC, p), exp, have,
                       fields=["offset", "value"])
        if d:
            fails.append(d)
        ack_offs = [o for o, _v in acks]
        if ack_offs != sorted(set(ack_offs)):
            bad = [(a, b) for a, b in zip(ack_offs, ack_offs[1:]) if b <= a][:5]
            fails.append("%s/%d: acknowledged offsets not increasing in ack order: %s" %
                         (TOPIC, p, bad))
        acked_values |= {v for _o, v in acks}
    dup = {v: w for v, w in stored.items() if len(w) > 1}
    if dup:
        fails.append("values stored more than once: %s" %
                     [(v, w) for v, w in list(dup.items())[:5]])
    sent = acked_values | set(loader.failed)
    junk = [(v, w) for v, w in stored.items() if v not in sent]
    if junk:
        fails.append("values stored that were never sent: %s" % junk[:5])
    missing = [v for v in acked_values if v not in stored]
    if missing:
        fails.append("%d acknowledged values not stored at all, e.g. %s" %
                     (len(missing), sorted(missing)[:5]))
    return fails


def replicas_agree(cluster, partitions, got, timeout=15):
    """Replicas converge (same hwm and log end in /v1/status); where a
    follower serves a Fetch v11 with its own rack, its records equal the
    leader's. Returns (failures, notes)."""
    fails, notes = [], []
    deadline = time.monotonic() + timeout
    while True:
        views = {}
        for i in cluster.ids:
            for p in (cluster.status(i) or {}).get("partitions", []):
                if p["topic"] == TOPIC:
                    views.setdefault(p["partition"], {})[i] = (p["high_watermark"],
                                                                p["log_end_offset"])
        diverged = {p: v for p, v in views.items() if len(set(v.values())) != 1 or len(v) != 3}
        if len(views) == partitions and not diverged:
            break
        if time.monotonic() > deadline:
            fails.append("replicas did not converge in %ds: (hwm, log end) per broker %s" %
                         (timeout, diverged or views))
            return fails, notes
        time.sleep(0.2)
    served = 0
    for p in range(partitions):
        want = [(o, v) for o, v in got[p]]
        for i in cluster.ids:
            b = cluster.broker(i)
            try:
                batches, _h = kwire.fetch_batches(cluster.kafka_addr(i), TOPIC, p, rack=b["rack"])
            except RuntimeError as e:
                if "error 6" in str(e):
                    continue  # a follower that does not serve reads (yet)
                raise
            served += 1
            have = [(o, v) for o, _k, v, _h in kwire.data_records(batches)]
            d = kwire.diff("%s/%d records on broker %d" % (TOPIC, p, i), want, have)
            if d:
                fails.append(d)
    notes.append("replica reads compared: %d of %d (followers answering NOT_LEADER_OR_FOLLOWER "
                 "to a rack fetch are skipped)" % (served, 3 * partitions))
    return fails, notes


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds between kills")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    root = tempfile.mkdtemp(prefix="sl-failover.")
    cluster = None
    loader = None
    ok = False
    try:
        cluster = start_on_free_ports(os.path.join(root, "cluster"),
                                      os.path.join(a.build, "stretchlogd"), brokers=3)
        create_topic(cluster, a.partitions)
        log("cluster up, topic %s with %d partitions (%.1fs)" % (TOPIC, a.partitions,
                                                                 time.monotonic() - t0))
        loader = Loader(cluster.bootstrap, a.partitions)
        loader.start()
        deadline = time.monotonic() + 20
        while loader.acks_for(0) < 50:
            if time.monotonic() > deadline or not loader.is_alive():
                raise RuntimeError("no steady acks before the first kill: %d, errors %s" %
                                   (loader.acks_for(0), loader.errors))
            time.sleep(0.05)
        for k in range(1, a.kills + 1):
            kill_cycle(cluster, loader, k, a.settle)
        loader.stop_ev.set()
        loader.join(30)
        log("load stopped: %d acknowledged, %d failed attempts %s" %
            (len(loader.acked), len(loader.failed), loader.errors))
        cluster.wait_ready(cluster.ids, timeout=30)
        ends = {}
        for p, o, _v, _t in loader.acked:
            ends[p] = max(ends.get(p, 0), o + 1)
        got, control, hwm = read_back(cluster, a.partitions, ends)
        fails = verify(loader, got, a.partitions)
        rf, notes = replicas_agree(cluster, a.partitions, got)
        fails += rf
        for n in notes:
            log(n)
        log("read back %d records (%d control batches skipped), high watermarks %s" % (
            sum(len(v) for v in got.values()), sum(len(c) for c in control.values()), hwm))
        if fails:
            for f in fails:
                print("FAIL " + f)
        else:
            log("ok: %d kills, every acknowledged write read back once, in order (%.1fs)" %
                (a.kills, time.monotonic() - t0))
            ok = True
    except Exception as e:  # noqa: BLE001 - report, then clean up
        print("FAIL %s: %s" % (type(e).__name__, e))
        if cluster is not None:
            cluster.print_log_tails(cluster.ids)
    finally:
        if loader is not None and loader.is_alive():
            loader.stop_ev.set()
            loader.join(20)
        if cluster is not None:
            cluster.stop(timeout=40)
            bad = check_logs(cluster)
            if bad:
                ok = False
                for b in bad:
                    print("FAIL " + b)
        if a.keep:
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


def check_logs(cluster):
    """Sanitizer reports in any broker log; brokers whose last run did not
    end with a clean stop (event=stopped)."""
    out = []
    for i in cluster.ids:
        try:
            with open(cluster.path("broker%d.log" % i), errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            if marker in text:
                k = text.index(marker)
                out.append("broker %d log: %s" % (i, text[max(0, k - 200):k + 1500]))
        lines = text.rstrip("\n").split("\n")
        if not lines or "event=stopped" not in lines[-1]:
            out.append("broker %d did not stop cleanly; last lines:\n%s" %
                       (i, "\n".join(lines[-10:])))
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
