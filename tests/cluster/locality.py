#!/usr/bin/env python3
"""Locality end to end: a three-region stretchlogd cluster on loopback.

One broker per region (r1, r2, r3; racks r1-a, r2-a, r3-a), every broker a
controller voter. A topic with replication factor 3 and
leaders.preference=regions:r1,r2 is created with kafka-python's
KafkaAdminClient; then:
  1. every partition leader ends up on the r1 broker (Metadata);
  2. kcat consumers with -X client.rack=<rack> in each region read every
     record byte for byte, and each broker's /metrics shows the bytes it
     served in-region (no cross-region consumer bytes, redirects counted on
     the leader);
  3. SIGKILL of the r1 broker: leaders move to r2 and acks=all produces are
     accepted again (seconds measured);
  4. the r1 broker restarts: leaders return to r1 after the cool-down;
  5. an AlterConfigs sets leaders.preference=regions:r3,r2 on the running
     topic: leaders move to r3 and every replica's election timeout is
     re-ranked (base + rank * step, /v1/explain); SIGKILL of the r3 broker
     then moves leaders to r2 (the next preference now, not r1), and its
     restart returns them to r3;
  6. SIGSTOP of the r3 broker (a silent peer: no connection reset, as for a
     frozen process, a powered-off machine or a partition): the other
     brokers' transports declare it down after transport.idle.timeout.ms of
     silence, leaders move to r2 and writes are accepted; SIGCONT brings it
     back and leaders return to r3;
  7. everything produced, including during the failovers, reads back.
Between 2 and 3 a visibility probe tails partition 0 from r2 (served by the
r2 follower) while acks=all records are produced one by one, measuring
produce acknowledgement -> arrival at that consumer (LOCALITY_PROBE_LEADER=1
also probes a consumer on the leader, for comparison).
Prints "LOCALITY <name> <value> <unit>" figures. Usage:
  locality.py BUILD_DIR [--keep DIR] [--set KEY=VALUE]... [--bench]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
REGIONS = ["r1", "r2", "r3"]
PREFIX = "LOCALITY "  # "BENCH locality." with --bench
TOPIC = "loc"
PARTITIONS = 3
RECORDS = 200  # per partition, before the failover

# Short pinning timers so the test stays well under 90 s.
SETS = [
    "leaders.transfer.cool.down.ms=3000",
    "leaders.transfer.healthy.min.ms=1000",
    "follower.read.max.staleness.ms=5000",
    # A long step per rank: a follower in the second place that does not
    # learn the leader is gone waits at least base + step for its own
    # timer, so the SIGSTOP failover below is fast only if the transport's
    # idle timeout noticed the silent broker (re-rank, early election).
    "leaders.election.timeout.step.ms=8000",
    "log.flush.fsync.enable=false",
]


def log(msg):
    print("locality: " + msg, file=sys.stderr, flush=True)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def http_get(port, path, timeout=2.0):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=timeout) as r:
        return r.read().decode()


class Cluster:
    def __init__(self, binary, root):
        self.bin = binary
        self.root = root
        p = free_ports(9)
        self.b = {}
        for i in (1, 2, 3):
            self.b[i] = {"kafka": p[i - 1], "rpc": p[2 + i], "admin": p[5 + i],
                         "region": REGIONS[i - 1], "rack": REGIONS[i - 1] + "-a"}
        self.procs = {}
        self.frozen = set()

    def argv(self, i):
        b = self.b[i]
        voters = ",".join("%d@%s:%d" % (j, HOST, self.b[j]["rpc"]) for j in (1, 2, 3))
        a = [self.bin,
             "--set", "node.id=%d" % i,
             "--set", "listeners=PLAINTEXT://%s:%d" % (HOST, b["kafka"]),
             "--set", "rpc.listener=%s:%d" % (HOST, b["rpc"]),
             "--set", "admin.listener=%s:%d" % (HOST, b["admin"]),
             "--set", "controller.quorum.voters=" + voters,
             "--set", "log.dirs=" + os.path.join(self.root, "data%d" % i),
             "--set", "broker.region=" + b["region"],
             "--set", "broker.rack=" + b["rack"],
             "--set", "default.replication.factor=3"]
        for kv in SETS:
            a += ["--set", kv]
        return a

    def start(self, i):
        logf = open(os.path.join(self.root, "broker%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(self.argv(i), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        # For the suite's trap, should this driver die without cleaning up.
        with open(os.path.join(self.root, "broker%d.pid" % i), "w") as f:
            f.write("%d\n" % self.procs[i].pid)

    def freeze(self, i):
        self.procs[i].send_signal(signal.SIGSTOP)
        self.frozen.add(i)

    def thaw(self, i):
        self.procs[i].send_signal(signal.SIGCONT)
        self.frozen.discard(i)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.get(i)
        if i in self.frozen and p is not None and p.poll() is None:
            self.thaw(i)  # a stopped process would not act on SIGTERM
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p is not None:
            try:
                os.unlink(os.path.join(self.root, "broker%d.pid" % i))
            except OSError:
                pass

    def stop_all(self):
        for i in list(self.procs):
            self.kill(i, signal.SIGTERM)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def status(self, i):
        try:
            return json.loads(http_get(self.b[i]["admin"], "/v1/status"))
        except (OSError, ValueError):
            return None

    def metrics(self, i):
        return http_get(self.b[i]["admin"], "/metrics")

    def kafka(self, i):
        return "%s:%d" % (HOST, self.b[i]["kafka"])

    def bootstrap(self, ids=(1, 2, 3)):
        return ",".join(self.kafka(i) for i in ids)

    def tails(self):
        for i in self.b:
            try:
                with open(os.path.join(self.root, "broker%d.log" % i), errors="replace") as f:
                    lines = f.readlines()[-25:]
            except OSError:
                continue
            log("--- broker%d.log" % i)
            sys.stderr.write("".join(lines))


def wait_for(what, fn, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(step)


def ready(c, ids):
    leaders = set()
    for i in ids:
        if not c.alive(i):
            raise RuntimeError("broker %d exited" % i)
        st = c.status(i)
        if st is None or st.get("controller_leader", -1) < 0 or len(st.get("brokers", [])) < 3:
            return False
        leaders.add(st["controller_leader"])
    return len(leaders) == 1


def leaders(c, via):
    """Partition -> leader id from Metadata (kcat -L) asked of broker via."""
    try:
        out = subprocess.run(["kcat", "-L", "-J", "-b", c.kafka(via), "-t", TOPIC, "-m", "3"],
                             capture_output=True, timeout=10, text=True).stdout
        md = json.loads(out)
    except (subprocess.TimeoutExpired, ValueError):
        return {}
    for t in md.get("topics", []):
        if t.get("topic") == TOPIC:
            return {p["partition"]: p.get("leader", -1) for p in t.get("partitions", [])}
    return {}


def all_led_by(c, via, broker):
    m = leaders(c, via)
    return len(m) == PARTITIONS and all(v == broker for v in m.values())


def create_topic(c):
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=c.bootstrap(), client_id="locality-test",
                             request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3,
                                      topic_configs={"leaders.preference": "regions:r1,r2"})])
    finally:
        admin.close()


def alter_preference(c, ids, pref):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=c.bootstrap(ids), client_id="locality-alter",
                             request_timeout_ms=15000)
    try:
        res = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC,
                                                  configs={"leaders.preference": pref})])
    finally:
        admin.close()
    for r in getattr(res, "resources", []):
        if r[0] != 0:
            raise RuntimeError("AlterConfigs failed: %r" % (r,))


def setting(name, default):
    for kv in SETS:
        k, _, v = kv.partition("=")
        if k == name:
            return int(v)
    return default


def election_timeouts(c, ids):
    """{(broker, partition): election_timeout_ms} from /v1/explain."""
    out = {}
    for i in ids:
        for p in range(PARTITIONS):
            try:
                ex = json.loads(http_get(c.b[i]["admin"],
                                         "/v1/explain?topic=%s&partition=%d" % (TOPIC, p)))
            except (OSError, ValueError):
                return {}
            if "election_timeout_ms" in ex:
                out[(i, p)] = ex["election_timeout_ms"]
    return out


def ranked(c, order):
    """True when every replica's election timeout follows the preference
    order (broker ids, best first): base + rank * step."""
    base = setting("raft.election.timeout.ms", 1000)
    step = setting("leaders.election.timeout.step.ms", 500)
    got = election_timeouts(c, order)
    want = {(b, p): base + k * step for k, b in enumerate(order) for p in range(PARTITIONS)}
    return got == want


def produce(c, ids, records, tag):
    """Produces records[p] (lists of bytes) with acks=all; raises on failure."""
    from kafka import KafkaProducer
    prod = KafkaProducer(bootstrap_servers=c.bootstrap(ids), acks="all", linger_ms=2,
                         retries=20, retry_backoff_ms=200, request_timeout_ms=10000,
                         max_in_flight_requests_per_connection=1, client_id="loc-" + tag)
    try:
        futs = []
        for p, vals in records.items():
            for v in vals:
                futs.append(prod.send(TOPIC, value=v, partition=p))
        prod.flush(timeout=30)
        for f in futs:
            f.get(timeout=30)
    finally:
        prod.close(timeout=5)


def hwms_equal(c, ids, want):
    """True when every broker in ids has the same high watermark for each
    partition p, equal to its log end and at least want[p] (control batches
    take offsets too)."""
    seen = {}
    for i in ids:
        st = c.status(i)
        if st is None:
            return False
        for q in st.get("partitions", []):
            if q["topic"] != TOPIC:
                continue
            if q["high_watermark"] != q["log_end_offset"] or q["high_watermark"] < want[q["partition"]]:
                return False
            seen.setdefault(q["partition"], set()).add(q["high_watermark"])
    return len(seen) == len(want) and all(len(v) == 1 for v in seen.values())


def consume(c, rack, p, count):
    """kcat with client.rack from the start of partition p until EOF."""
    argv = ["kcat", "-C", "-b", c.bootstrap(), "-t", TOPIC, "-p", str(p), "-o", "beginning",
            "-e", "-q", "-f", "%s\n", "-X", "client.rack=" + rack, "-X", "fetch.wait.max.ms=200"]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("kcat failed (%d): %s" % (r.returncode, r.stderr.decode()[-400:]))
    return r.stdout


def metric(text, name, labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def check_reads(c, expected):
    """Every region's consumer reads every partition byte for byte."""
    for i in (1, 2, 3):
        rack = c.b[i]["rack"]
        for p in range(PARTITIONS):
            want = b"".join(v + b"\n" for v in expected[p])
            got = consume(c, rack, p, len(expected[p]))
            if got != want:
                raise RuntimeError("rack %s partition %d: %d bytes read, %d expected" %
                                   (rack, p, len(got), len(want)))


def check_metrics(c, before):
    """Consumers were served in-region: same-rack bytes on every broker,
    none cross-region, redirects counted on the leader."""
    for i in (1, 2, 3):
        m = c.metrics(i)
        same = metric(m, "stretchlog_consumer_bytes_total", {"locality": "same_rack"})
        cross = metric(m, "stretchlog_consumer_bytes_total", {"locality": "cross_region"})
        by_rack = metric(m, "stretchlog_consumer_bytes_by_rack_total",
                         {"client_rack": c.b[i]["rack"]})
        log("broker %d (%s): same_rack=%d cross_region=%d by_rack=%d" %
            (i, c.b[i]["region"], same, cross, by_rack))
        if same - before.get(i, 0) <= 0 or by_rack <= 0:
            raise RuntimeError("broker %d served no in-rack consumer bytes" % i)
        if cross > 0:
            raise RuntimeError("broker %d served %d cross-region consumer bytes" % (i, cross))
    m1 = c.metrics(1)
    redirects = metric(m1, "stretchlog_preferred_replica_redirects_total", {})
    led = metric(m1, "stretchlog_partition_leaders", {"topic": TOPIC, "region": "r1"})
    ok = metric(m1, "stretchlog_pinning_partitions", {"topic": TOPIC, "state": "compliant"})
    log("leader: redirects=%d leaders_r1=%d compliant=%d" % (redirects, led, ok))
    if redirects < 1 or led != PARTITIONS or ok != PARTITIONS:
        raise RuntimeError("leader metrics wrong: redirects=%d led=%d compliant=%d" %
                           (redirects, led, ok))


def check_explain(c):
    ex = json.loads(http_get(c.b[1]["admin"],
                             "/v1/explain?topic=%s&partition=0&client_rack=r2-a" % TOPIC))
    log("explain: %s" % json.dumps({k: ex.get(k) for k in ("evaluated_by", "fetch",
                                                            "leader_decision")}))
    if ex.get("evaluated_by") != "leader" or ex["fetch"]["broker"] != 2:
        raise RuntimeError("explain: r2-a should read from broker 2: %s" % ex)


def visibility_probe(c, n=150, rack="r2-a"):
    """Follower visibility as a client sees it: a kcat consumer in r2
    (client.rack=r2-a, served by the r2 follower) tails partition 0 while
    acks=all records are produced one at a time; the lag of a record is the
    time from its produce acknowledgement to its arrival at that consumer.
    Returns the sorted lags in ms."""
    import threading
    from kafka import KafkaProducer
    argv = ["kcat", "-C", "-u", "-q", "-b", c.bootstrap(), "-t", TOPIC, "-p", "0", "-o", "end",
            "-f", "%s\n", "-X", "client.rack=" + rack, "-X", "fetch.wait.max.ms=1000"]
    cons = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrived = {}

    def reader():
        for line in cons.stdout:
            arrived[line.strip()] = time.monotonic()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    prod = KafkaProducer(bootstrap_servers=c.bootstrap(), acks="all", linger_ms=0)
    acked = {}
    warm = []
    try:
        # Until the consumer sees a warm-up record it is not tailing yet
        # (-o end resolves after it starts).
        deadline = time.monotonic() + 15
        while not any(v.startswith(b"warm-up") for v in arrived):
            if time.monotonic() > deadline:
                raise RuntimeError("the probe consumer receives nothing")
            v = b"warm-up-%d" % len(warm)
            prod.send(TOPIC, value=v, partition=0).get(timeout=10)
            warm.append(v)
            time.sleep(0.2)
        time.sleep(0.5)  # let it settle on the follower
        for k in range(n):
            v = b"probe-%04d" % k
            prod.send(TOPIC, value=v, partition=0).get(timeout=10)
            acked[v] = time.monotonic()
            time.sleep(0.01)
        wait_for("probe records", lambda: all(v in arrived for v in acked), 10, 0.05)
    finally:
        prod.close(timeout=5)
        cons.terminate()
        cons.wait()
    return warm + list(acked), sorted((arrived[v] - t) * 1000.0
                                               for v, t in acked.items())


def cross_region_pct(c, ids):
    total = cross = 0.0
    for i in ids:
        m = c.metrics(i)
        total += metric(m, "stretchlog_consumer_bytes_total", {})
        cross += metric(m, "stretchlog_consumer_bytes_total", {"locality": "cross_region"})
    return 100.0 * cross / total if total else 0.0


def figure(name, value, unit):
    print("%s%s %.2f %s" % (PREFIX, name, value, unit), flush=True)


def values(tag, p, n):
    return [("%s-p%d-%05d-" % (tag, p, k)).encode() + b"x" * (k % 37) for k in range(n)]


def run(c):
    t0 = time.monotonic()
    for i in (1, 2, 3):
        c.start(i)
    wait_for("controller", lambda: ready(c, (1, 2, 3)), 30)
    create_topic(c)
    wait_for("leaders in r1", lambda: all_led_by(c, 2, 1), 30, 0.3)
    log("leaders in r1 after %.1fs" % (time.monotonic() - t0))
    expected = {p: values("a", p, RECORDS) for p in range(PARTITIONS)}
    produce(c, (1, 2, 3), expected, "a")
    want = {p: len(expected[p]) for p in range(PARTITIONS)}
    wait_for("replicas caught up", lambda: hwms_equal(c, (1, 2, 3), want), 20)
    check_reads(c, expected)
    check_metrics(c, {})
    check_explain(c)
    before = metric(c.metrics(2), "stretchlog_consumer_bytes_total", {"locality": "same_rack"})
    produced, lags = visibility_probe(c)
    expected[0] += produced
    if os.environ.get("LOCALITY_PROBE_LEADER"):
        produced, llags = visibility_probe(c, rack="r1-a")
        expected[0] += produced
        log("leader consumer (ack -> r1 consumer): p50 %.2f ms, p99 %.2f ms" %
            (llags[len(llags) // 2], llags[int(len(llags) * 0.99)]))
    served = metric(c.metrics(2), "stretchlog_consumer_bytes_total",
                    {"locality": "same_rack"}) - before
    p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    log("follower visibility (ack -> r2 consumer): p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
        "r2 served %d bytes" % (p50, p99, lags[-1], served))
    if served <= 0:
        raise RuntimeError("the probe consumer was not served by the r2 follower")
    figure("cross_region_consumer_bytes_pct", cross_region_pct(c, (1, 2, 3)), "%")
    figure("follower_visibility_p50_ms", p50, "ms")
    figure("follower_visibility_p99_ms", p99, "ms")

    # Failover: the pinned region goes away.
    t_kill = time.monotonic()
    c.kill(1)
    wait_for("leaders in r2", lambda: all_led_by(c, 2, 2), 20, 0.1)
    t_moved = time.monotonic() - t_kill
    more = {p: values("b", p, 20) for p in range(PARTITIONS)}
    produce(c, (2, 3), more, "b")
    t_writes = time.monotonic() - t_kill
    log("failover: leaders in r2 after %.2fs, writes accepted after %.2fs" % (t_moved, t_writes))
    for p in range(PARTITIONS):
        expected[p] += more[p]

    # Failback once the r1 broker is back and healthy.
    t_back = time.monotonic()
    c.start(1)
    wait_for("leaders back in r1", lambda: all_led_by(c, 2, 1), 45, 0.2)
    t_failback = time.monotonic() - t_back
    log("failback: leaders in r1 %.2fs after restart" % t_failback)
    want = {p: len(expected[p]) for p in range(PARTITIONS)}
    wait_for("replicas caught up again", lambda: hwms_equal(c, (1, 2, 3), want), 20)
    wait_for("election timeouts ranked r1, r2, r3", lambda: ranked(c, (1, 2, 3)), 10, 0.2)

    # The preference changes on the running topic: leaders and election
    # timeouts follow it.
    alter_preference(c, (1, 2, 3), "regions:r3,r2")
    wait_for("election timeouts re-ranked r3, r2, r1", lambda: ranked(c, (3, 2, 1)), 10, 0.2)
    wait_for("leaders in r3", lambda: all_led_by(c, 2, 3), 45, 0.2)
    t_kill = time.monotonic()
    c.kill(3)
    wait_for("leaders in r2 (next preferred)", lambda: all_led_by(c, 2, 2), 20, 0.05)
    t_moved2 = time.monotonic() - t_kill
    more = {p: values("c", p, 20) for p in range(PARTITIONS)}
    produce(c, (1, 2), more, "c")
    t_writes2 = time.monotonic() - t_kill
    log("failover after re-rank (SIGKILL): leaders in r2 after %.2fs, writes accepted after "
        "%.2fs" % (t_moved2, t_writes2))
    for p in range(PARTITIONS):
        expected[p] += more[p]
    c.start(3)
    wait_for("leaders back in r3", lambda: all_led_by(c, 2, 3), 45, 0.2)

    # A silent failure: the r3 broker freezes (no reset reaches its peers;
    # TCP keeps the connections open). Only the transports' idle timeout
    # tells the survivors; without it r2's voters keep their second-rank
    # timeout and no r2 election can end before base + step.
    slowest = (setting("raft.election.timeout.ms", 1000) +
               setting("leaders.election.timeout.step.ms", 500)) / 1000.0
    idle_before = {i: metric(c.metrics(i), "stretchlog_rpc_idle_timeouts_total", {})
                   for i in (1, 2)}
    t_stop = time.monotonic()
    c.freeze(3)
    wait_for("leaders in r2 after SIGSTOP", lambda: all_led_by(c, 2, 2), 60, 0.05)
    t_moved_stop = time.monotonic() - t_stop
    if t_moved_stop >= slowest:
        raise RuntimeError("leaders moved %.2fs after SIGSTOP, no sooner than r2's own timers "
                           "(%.2fs): the silent broker was not detected" %
                           (t_moved_stop, slowest))
    for i in (1, 2):
        idle = metric(c.metrics(i), "stretchlog_rpc_idle_timeouts_total", {})
        if idle <= idle_before[i]:
            raise RuntimeError("broker %d counted no idle timeout for the frozen broker" % i)
    more = {p: values("d", p, 20) for p in range(PARTITIONS)}
    produce(c, (1, 2), more, "d")
    t_writes_stop = time.monotonic() - t_stop
    log("failover after SIGSTOP: leaders in r2 after %.2fs, writes accepted after %.2fs" %
        (t_moved_stop, t_writes_stop))
    for p in range(PARTITIONS):
        expected[p] += more[p]
    if not c.alive(3):
        raise RuntimeError("the frozen broker exited")
    t_cont = time.monotonic()
    c.thaw(3)
    wait_for("leaders back in r3 after SIGCONT", lambda: all_led_by(c, 2, 3), 45, 0.2)
    t_failback_cont = time.monotonic() - t_cont
    log("failback after SIGCONT: leaders in r3 after %.2fs" % t_failback_cont)
    want = {p: len(expected[p]) for p in range(PARTITIONS)}
    wait_for("replicas caught up at the end", lambda: hwms_equal(c, (1, 2, 3), want), 20)
    check_reads(c, expected)
    figure("failover_leaders_moved_s", t_moved, "s")
    figure("failover_to_preferred_s", t_writes, "s")
    figure("failback_after_restart_s", t_failback, "s")
    figure("failover_after_rerank_s", t_writes2, "s")
    figure("failover_sigkill_leaders_moved_s", t_moved2, "s")
    figure("failover_sigstop_leaders_moved_s", t_moved_stop, "s")
    figure("failover_sigstop_writes_s", t_writes_stop, "s")
    figure("failback_after_sigcont_s", t_failback_cont, "s")
    figure("total_s", time.monotonic() - t0, "s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--keep", help="keep data and logs in this directory")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra broker setting (e.g. leaders.election.timeout.step.ms=0)")
    ap.add_argument("--bench", action="store_true",
                    help='print figures as "BENCH locality.<name> <value> <unit>"')
    a = ap.parse_args()
    SETS.extend(a.set)
    global PREFIX
    PREFIX = "BENCH locality." if a.bench else "LOCALITY "
    binary = os.path.abspath(os.path.join(a.build, "stretchlogd"))
    root = a.keep or tempfile.mkdtemp(prefix="sl-locality-")
    os.makedirs(root, exist_ok=True)
    c = Cluster(binary, root)
    ok = False
    try:
        run(c)
        ok = True
    except Exception as e:  # report, show the logs, clean up
        log("FAILED: %r" % e)
        import traceback
        traceback.print_exc()
        c.tails()
    finally:
        c.stop_all()
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    log("ok" if ok else "failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
