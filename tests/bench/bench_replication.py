#!/usr/bin/env python3
"""Replication benchmarks: three repl_node processes on loopback (real
transport, real disks, fsync on, acks=all). Prints BENCH lines:
  disk.seq_write_fdatasync_peer   raw disk in this run (1 MiB writes + fdatasync)
  replication.rf3_1kib            MB/s of 1 KiB records in 1 MiB batches
  replication.commit_p50_ms / _p99_ms   at half that load
  replication.idle_cpu_1000p      CPU % of one core per broker, 1000 idle groups
  replication.rf3_1kib_per_disk3  rf3_1kib / (disk / 3), target >= 0.6
  replication.rf3_small_batches   MB/s of 2 KiB batches (8 records of 256 B),
                                  256 in flight: the group coalesces them
  replication.rf3_small_batches_uncoalesced  the same with coalescing off
                                  (coalesce_bytes_max 0: one entry a batch)
  replication.small_batches_coalescing_gain  the ratio of the two
usage: bench_replication.py BUILD_DIR   (SL_BENCH_SECONDS, default 8)
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SECONDS = float(os.environ.get("SL_BENCH_SECONDS", "8"))


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def disk_mb_s(root, mib=512):
    path = os.path.join(root, "disk.bin")
    buf = b"\x5a" * (1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.monotonic()
    for _ in range(mib):
        os.write(fd, buf)
        os.fdatasync(fd)
    dt = time.monotonic() - t0
    os.close(fd)
    os.unlink(path)
    return mib * (1 << 20) / 1e6 / dt


class Cluster:
    def __init__(self, binary, root, groups, extra):
        ports = free_ports(3)
        peers = ",".join("%d=127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(ports))
        self.procs, self.stats = [], []
        self.lock = threading.Lock()
        for i in range(3):
            d = os.path.join(root, "n%d" % (i + 1))
            shutil.rmtree(d, ignore_errors=True)
            cmd = [binary, "serve", "--id", str(i + 1), "--peers", peers, "--dir", d,
                   "--groups", str(groups)] + extra
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
            threading.Thread(target=self._read, args=(p,), daemon=True).start()

    def _read(self, p):
        for line in p.stdout:
            if line.startswith("STATS "):
                kv = dict(x.split("=") for x in line.split()[1:])
                with self.lock:
                    self.stats.append((time.monotonic(), kv))

    def window(self, t0, t1):
        with self.lock:
            return [kv for (t, kv) in self.stats if t0 <= t <= t1]

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def throughput(binary, root, rate=None, load=None):
    extra = load or ["--record-bytes", "1024", "--batch-records", "1024", "--inflight", "8"]
    extra = ["--load", "--stats-ms", "500"] + extra
    if rate:
        extra += ["--rate-mbps", "%.1f" % rate]
    c = Cluster(binary, root, 1, extra)
    time.sleep(2.5)  # election + warm-up
    t0 = time.monotonic()
    time.sleep(SECONDS)
    t1 = time.monotonic()
    c.stop()
    rows = [kv for kv in c.window(t0, t1) if kv["leaders"] != "0"]
    if not rows:
        return 0.0, 0.0, 0.0
    mbps = sum(float(kv["mbps"]) for kv in rows) / len(rows)
    p50 = sorted(int(kv["p50_us"]) for kv in rows)[len(rows) // 2] / 1000.0
    p99 = max(int(kv["p99_us"]) for kv in rows) / 1000.0
    return mbps, p50, p99


def small_batches(binary, root, coalesce_bytes):
    """Many concurrent small batches, as from many producers with linger 0."""
    load = ["--record-bytes", "256", "--batch-records", "8", "--inflight", "256",
            "--coalesce-bytes", str(coalesce_bytes)]
    mbps, _, _ = throughput(binary, root, load=load)
    return mbps


def idle_cpu(binary, root, groups=1000):
    c = Cluster(binary, root, groups, ["--stats-ms", "1000"])
    time.sleep(8.0)  # bootstrap 1000 logs and elect every group
    before = [cpu_seconds(p.pid) for p in c.procs]
    t0 = time.monotonic()
    time.sleep(SECONDS)
    dt = time.monotonic() - t0
    after = [cpu_seconds(p.pid) for p in c.procs]
    c.stop()
    return max((a - b) / dt * 100.0 for a, b in zip(after, before))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    binary = os.path.join(build, "tests/cluster/repl_node")
    root = tempfile.mkdtemp(prefix="bench_repl.", dir=os.environ.get("TMPDIR", "/tmp"))
    try:
        disk = disk_mb_s(root)
        print("BENCH disk.seq_write_fdatasync_peer %.1f MB/s" % disk, flush=True)
        mbps, _, _ = throughput(binary, root)
        print("BENCH replication.rf3_1kib %.1f MB/s" % mbps, flush=True)
        _, p50, p99 = throughput(binary, root, rate=mbps / 2)
        print("BENCH replication.commit_p50_ms %.2f ms (at %.1f MB/s)" % (p50, mbps / 2))
        print("BENCH replication.commit_p99_ms %.2f ms (at %.1f MB/s)" % (p99, mbps / 2))
        cpu = idle_cpu(binary, root)
        print("BENCH replication.idle_cpu_1000p %.2f %%core_per_broker (target < 5)" % cpu)
        print("BENCH replication.rf3_1kib_per_disk3 %.2f ratio (target >= 0.6)" %
              (mbps / (disk / 3)), flush=True)
        # Before/after coalescing in one run (the machine is noisy: compare
        # the ratio, not the figures across runs).
        plain = small_batches(binary, root, 0)
        print("BENCH replication.rf3_small_batches_uncoalesced %.1f MB/s" % plain, flush=True)
        merged = small_batches(binary, root, 1 << 20)
        print("BENCH replication.rf3_small_batches %.1f MB/s" % merged, flush=True)
        print("BENCH replication.small_batches_coalescing_gain %.2f ratio" %
              (merged / plain if plain > 0 else 0.0), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
