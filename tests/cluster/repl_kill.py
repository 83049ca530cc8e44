#!/usr/bin/env python3
"""Multi-process replication test: three repl_node processes on loopback with
the real transport and disks. Under continuous acks=all submissions the
leader's process is SIGKILLed repeatedly and restarted; then a follower is
stopped long enough for the leaders to snapshot past it (it must catch up by
range transfer). At the end all nodes run without load until they converge,
stop cleanly, and `repl_node check` verifies: no acknowledged batch lost, no
offset reused, replicas identical, offsets dense, and (with catch-up by range
transfer, the default; SL_CATCHUP=0 turns it off) every replica of a group
keeps the same log start offset.

usage: repl_kill.py BUILD_DIR [--kills N] [--groups G]
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Node:
    """One repl_node process. With control=True its stdin takes commands
    (send()) and its event lines (ROLE, FIRSTACK, TRANSFER) are kept in
    self.events as (name, {key: value}) with the time they were read."""

    def __init__(self, binary, nid, peers, root, groups, extra, control=False):
        self.binary, self.id, self.peers, self.groups = binary, nid, peers, groups
        self.dir = os.path.join(root, "n%d" % nid)
        self.acklog = os.path.join(root, "ack%d.log" % nid)
        self.out = open(os.path.join(root, "n%d.out" % nid), "a")
        self.extra = extra
        self.control = control
        self.proc = None
        self.roles = {}
        self.events = []
        self.lock = threading.Lock()

    def start(self, load=True):
        cmd = [self.binary, "serve", "--id", str(self.id), "--peers", self.peers,
               "--dir", self.dir, "--groups", str(self.groups), "--acklog", self.acklog,
               "--stats-ms", "500"] + self.extra
        if load:
            cmd.append("--load")
        if self.control:
            cmd.append("--control")
        self.roles = {}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.out, text=True,
                                     stdin=subprocess.PIPE if self.control else None)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self.out.write(line)
            self.out.flush()
            name = line.split(" ", 1)[0]
            if name not in ("ROLE", "FIRSTACK", "TRANSFER"):
                continue
            kv = dict(x.split("=", 1) for x in line.split()[1:])
            with self.lock:
                self.events.append((name, kv))
                if name == "ROLE":
                    self.roles[int(kv["group"])] = int(kv["role"])

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def find(self, name, pred):
        """The first event called name whose fields satisfy pred, or None."""
        with self.lock:
            for n, kv in self.events:
                if n == name and pred(kv):
                    return kv
        return None

    def leads_group(self, group):
        with self.lock:
            return self.roles.get(group) == 3  # RAFT_LEADER

    def leads(self):
        with self.lock:
            return sum(1 for r in self.roles.values() if r == 3)  # RAFT_LEADER

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise SystemExit("node %d did not stop on SIGTERM" % self.id)
            if rc != 0:
                raise SystemExit("node %d exited %d" % (self.id, rc))


def acked(nodes):
    total = 0
    for n in nodes:
        try:
            with open(n.acklog) as f:
                total += sum(1 for _ in f)
        except FileNotFoundError:
            pass
    return total


def cleanup(nodes, root, ok):
    """Kills the nodes still running; removes their files if ok, else says
    where they are."""
    for n in nodes:
        if n.alive():
            n.proc.kill()
    if ok:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("logs kept in %s" % root)


def converge_and_check(binary, nodes, groups, check_args=()):
    """Runs the nodes without load until they converge, stops them cleanly
    and runs `repl_node check` over their logs and ack logs. Returns the
    number of acknowledged batches and the checker's exit code."""
    for n in nodes:
        n.stop()
    for n in nodes:
        n.start(load=False)
    time.sleep(3.0)
    for n in nodes:
        n.stop()
    total = acked(nodes)
    print("acknowledged batches: %d" % total, flush=True)
    rc = subprocess.call([binary, "check", "--groups", str(groups),
                          "--dirs", ",".join(n.dir for n in nodes),
                          "--acklogs", ",".join(n.acklog for n in nodes)] + list(check_args))
    return total, rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--groups", type=int, default=4)
    args = ap.parse_args()
    binary = os.path.join(args.build, "tests/cluster/repl_node")
    root = tempfile.mkdtemp(prefix="repl_kill.")
    ports = free_ports(3)
    peers = ",".join("%d=127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(ports))
    extra = ["--record-bytes", "512", "--batch-records", "16", "--inflight", "4",
             "--snapshot-threshold", "64", "--snapshot-trailing", "16",
             "--election-ms", "500", "--heartbeat-ms", "50"]
    nodes = [Node(binary, i + 1, peers, root, args.groups, extra) for i in range(3)]
    ok = False
    try:
        for n in nodes:
            n.start()
        time.sleep(2.0)
        for k in range(args.kills):
            victim = max(nodes, key=lambda n: n.leads())
            before = acked(nodes)
            victim.kill()
            print("kill %d: node %d (led %d groups), acked so far %d" %
                  (k + 1, victim.id, victim.leads(), before), flush=True)
            time.sleep(1.5)
            victim.start()
            time.sleep(1.5)
        # A follower falls outside the window and must catch up by transfer.
        lagger = min(nodes, key=lambda n: n.leads())
        lagger.stop()
        t0 = acked(nodes)
        time.sleep(3.0)
        print("follower %d stopped while %d batches were acknowledged" %
              (lagger.id, acked(nodes) - t0), flush=True)
        lagger.start()
        time.sleep(2.0)
        # Metadata-only installs (catch-up off) restart a lagging
        # follower's log past the start; range transfers keep it whole.
        same = ["--same-start"] if os.environ.get("SL_CATCHUP", "1") == "1" else []
        total, rc = converge_and_check(binary, nodes, args.groups, same)
        if total == 0:
            raise SystemExit("no batch was acknowledged")
        ok = rc == 0
    finally:
        cleanup(nodes, root, ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
