#!/usr/bin/env python3
"""Starts, stops and inspects a local stretchlogd cluster on loopback.

Usage (deploy/cluster.sh is the same program):
  cluster.py start   DIR [--brokers 3] [--regions r1,r2,r3] [--base-port P|auto]
                         [--bin PATH] [--voters K] [--timeout S] [--set k=v]...
  cluster.py stop    DIR [--timeout S]
  cluster.py status  DIR
  cluster.py bootstrap DIR          Kafka bootstrap list, host:port,...
  cluster.py kill    DIR ID         SIGKILL one broker
  cluster.py restart DIR ID         start one stopped broker again, wait until it answers

Layout of DIR: cluster.json (what start chose, read by every other command),
brokerN.properties, brokerN.log (stdout and stderr), brokerN.pid and dataN/.
Broker i (1-based) of base port P listens on P+i (Kafka), P+100+i (inter-broker
RPC) and P+200+i (admin HTTP); --base-port auto picks a P whose ports are all
free, so that tests can run side by side. Broker i lives in region
regions[(i-1) % R] and rack "<region>-a", "-b", ... for the first, second, ...
broker of that region. The first K brokers (K = --voters, by default the
largest odd number <= min(N, 5)) are controller voters.

start returns once every broker answers GET /v1/status, names the same live
controller leader and lists all N brokers as registered; on a timeout or a
broker that exits early it prints the tail of the broker logs, stops what it
started and exits 1.

The module is also imported by the multi-process tests (tests/cluster/,
tests/compat/): Cluster.create(), .start(), .kill(), .start_broker(),
.wait_ready(), .status(), .stop().
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
BROKERS_MAX = 99


def log(msg):
    print("cluster: " + msg, file=sys.stderr, flush=True)


def ports_of(base, i):
    """Kafka, RPC and admin ports of broker i (1-based) for base port base."""
    return base + i, base + 100 + i, base + 200 + i


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_base_port(n, lo=20000, hi=32000, tries=200):
    """A base port whose 3*n ports are free now (below the usual ephemeral
    range, so outgoing connections do not take them meanwhile)."""
    rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(tries):
        base = rnd.randrange(lo, hi - 300)
        if all(port_free(p) for i in range(1, n + 1) for p in ports_of(base, i)):
            return base
    raise RuntimeError("no free base port found")


def pid_alive(pid):
    """True while pid runs (a zombie counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def pid_is_broker(pid, binary):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    return os.path.basename(argv0) == os.path.basename(binary)


def http_get(port, path, timeout=2.0):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=timeout) as r:
        return r.read()


class Cluster:
    """A cluster described by DIR/cluster.json."""

    def __init__(self, root, state):
        self.root = os.path.abspath(root)
        self.state = state
        self.procs = {}  # id -> Popen, for brokers this process started

    # ---- creation and loading ------------------------------------------------
    @classmethod
    def create(cls, root, binary, brokers=3, regions=("r1", "r2", "r3"), base_port=None,
               voters=None, sets=()):
        if not 1 <= brokers <= BROKERS_MAX:
            raise ValueError("--brokers must be 1..%d" % BROKERS_MAX)
        if base_port is None:
            base_port = free_base_port(brokers)
        if voters is None:
            voters = min(brokers, 5)
            voters -= 1 if voters % 2 == 0 else 0
        if not 1 <= voters <= brokers:
            raise ValueError("--voters must be 1..%d" % brokers)
        regions = list(regions)
        root = os.path.abspath(root)
        os.makedirs(root, exist_ok=True)
        bl = []
        seen = {}
        for i in range(1, brokers + 1):
            region = regions[(i - 1) % len(regions)]
            k = seen.get(region, 0)
            seen[region] = k + 1
            kafka, rpc, admin = ports_of(base_port, i)
            bl.append({"id": i, "region": region, "rack": "%s-%s" % (region, "abcdefghij"[k % 10]),
                       "kafka": kafka, "rpc": rpc, "admin": admin})
        state = {"bin": os.path.abspath(binary), "base_port": base_port, "voters": voters,
                 "sets": list(sets), "brokers": bl}
        c = cls(root, state)
        for b in bl:
            c._write_properties(b)
        c.save()
        return c

    def save(self):
        with open(self.path(STATE_FILE), "w") as f:
            json.dump(self.state, f, indent=1)

    @classmethod
    def load(cls, root):
        with open(os.path.join(root, STATE_FILE)) as f:
            return cls(root, json.load(f))

    def _write_properties(self, b):
        n = len(self.state["brokers"])
        voters = ",".join("%d@%s:%d" % (v["id"], HOST, v["rpc"])
                          for v in self.state["brokers"][: self.state["voters"]])
        lines = [
            "# Generated by deploy/cluster.py; --set overrides on the command line win.",
            "node.id=%d" % b["id"],
            "broker.region=%s" % b["region"],
            "broker.rack=%s" % b["rack"],
            "listeners=PLAINTEXT://%s:%d" % (HOST, b["kafka"]),
            "rpc.listener=%s:%d" % (HOST, b["rpc"]),
            "admin.listener=%s:%d" % (HOST, b["admin"]),
            "controller.quorum.voters=%s" % voters,
            "log.dirs=%s" % self.data_dir(b["id"]),
            "default.replication.factor=%d" % min(3, n),
            "",
        ]
        with open(self.path("broker%d.properties" % b["id"]), "w") as f:
            f.write("\n".join(lines))

    # ---- accessors ------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.root, name)

    def data_dir(self, i):
        return self.path("data%d" % i)

    def broker(self, i):
        for b in self.state["brokers"]:
            if b["id"] == i:
                return b
        raise KeyError("no broker %d" % i)

    @property
    def ids(self):
        return [b["id"] for b in self.state["brokers"]]

    @property
    def bootstrap(self):
        return ",".join("%s:%d" % (HOST, b["kafka"]) for b in self.state["brokers"])

    def kafka_addr(self, i):
        return "%s:%d" % (HOST, self.broker(i)["kafka"])

    def pid(self, i):
        try:
            with open(self.path("broker%d.pid" % i)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid) or not pid_is_broker(pid, self.state["bin"]):
            return None
        return pid

    def alive(self, i):
        p = self.procs.get(i)
        if p is not None:
            return p.poll() is None
        return self.pid(i) is not None

    def status(self, i, timeout=2.0):
        """The broker's /v1/status as a dict, or None when it does not answer."""
        try:
            return json.loads(http_get(self.broker(i)["admin"], "/v1/status", timeout))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def metrics(self, i, timeout=2.0):
        return http_get(self.broker(i)["admin"], "/metrics", timeout).decode()

    # ---- processes --------------------------------------------------------------
    def start_broker(self, i):
        """Starts broker i in the background (own session, output to its log)."""
        if self.alive(i):
            raise RuntimeError("broker %d already runs (pid %s)" % (i, self.pid(i)))
        argv = [self.state["bin"], "-c", self.path("broker%d.properties" % i)]
        for kv in self.state["sets"]:
            argv += ["--set", kv]
        with open(self.path("broker%d.log" % i), "ab") as logf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 close_fds=True)
        self.procs[i] = p
        with open(self.path("broker%d.pid" % i), "w") as f:
            f.write("%d\n" % p.pid)
        return p.pid

    def start(self, timeout=30.0):
        for i in self.ids:
            self.start_broker(i)
        try:
            self.wait_ready(self.ids, timeout)
        except RuntimeError:
            self.stop(timeout=5)
            raise

    def ready_problem(self, ids):
        """Why the brokers ids are not ready yet, or None when they are."""
        n = len(self.ids)
        leaders = set()
        for i in ids:
            if not self.alive(i):
                return "broker %d exited" % i
        for i in ids:
            st = self.status(i)
            if st is None:
                return "broker %d does not answer /v1/status" % i
            if st.get("controller_leader") not in self.ids:
                return "broker %d knows no controller leader" % i
            leaders.add(st["controller_leader"])
            if len(st.get("brokers", [])) < n:
                return "broker %d sees %d of %d brokers registered" % (
                    i, len(st.get("brokers", [])), n)
        if len(leaders) != 1:
            return "brokers disagree on the controller leader: %s" % sorted(leaders)
        if not self.alive(next(iter(leaders))):
            return "controller leader %d is down" % next(iter(leaders))
        return None

    def wait_ready(self, ids, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            why = self.ready_problem(ids)
            if why is None:
                return
            if why.endswith("exited") or time.monotonic() > deadline:
                self.print_log_tails(ids)
                raise RuntimeError("cluster not ready: " + why)
            time.sleep(0.1)

    def wipe(self):
        """Removes what create() and the brokers wrote in the directory."""
        for i in self.ids:
            for name in ("broker%d.properties", "broker%d.log", "broker%d.pid"):
                try:
                    os.unlink(self.path(name % i))
                except OSError:
                    pass
            shutil.rmtree(self.data_dir(i), ignore_errors=True)
        try:
            os.unlink(self.path(STATE_FILE))
        except OSError:
            pass

    def port_conflict(self):
        """Whether a broker log reports a port already in use."""
        for i in self.ids:
            try:
                with open(self.path("broker%d.log" % i), errors="replace") as f:
                    if "EADDRINUSE" in f.read():
                        return True
            except OSError:
                pass
        return False

    def print_log_tails(self, ids, lines=15):
        for i in ids:
            try:
                with open(self.path("broker%d.log" % i), errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except OSError:
                continue
            log("--- broker%d.log (last %d lines)" % (i, len(tail)))
            sys.stderr.write("".join(tail))

    def signal(self, i, sig):
        p = self.procs.get(i)
        pid = p.pid if p is not None and p.poll() is None else self.pid(i)
        if pid is None:
            return False
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def _wait_exit(self, i, deadline):
        p = self.procs.get(i)
        while time.monotonic() < deadline:
            if p is not None:
                if p.poll() is not None:
                    return p.returncode
            elif self.pid(i) is None:
                return None
            time.sleep(0.05)
        return "timeout"

    def kill(self, i):
        """SIGKILLs broker i and waits until it is gone."""
        if self.signal(i, signal.SIGKILL):
            self._wait_exit(i, time.monotonic() + 10)
        self._forget(i)

    def _forget(self, i):
        self.procs.pop(i, None)
        try:
            os.unlink(self.path("broker%d.pid" % i))
        except OSError:
            pass

    def stop(self, timeout=40.0, ids=None):
        """SIGTERM (drain), then SIGKILL whatever is left at timeout. Returns
        {id: exit status or None when unknown or "killed"}."""
        ids = self.ids if ids is None else ids
        sent = [i for i in ids if self.signal(i, signal.SIGTERM)]
        deadline = time.monotonic() + timeout
        out = {}
        for i in sent:
            rc = self._wait_exit(i, deadline)
            if rc == "timeout":
                self.signal(i, signal.SIGKILL)
                self._wait_exit(i, time.monotonic() + 10)
                rc = "killed"
            out[i] = rc
        for i in ids:
            self._forget(i)
        return out


def start_on_free_ports(root, binary, attempts=3, timeout=30.0, **kw):
    """Cluster.create() with a free base port, then start(); when a port
    was taken between the check and the bind (tests run side by side),
    starts over in a fresh directory with other ports. Returns the Cluster."""
    for attempt in range(attempts):
        c = Cluster.create(root, binary, base_port=None, **kw)
        try:
            c.start(timeout)
            return c
        except RuntimeError:
            if attempt + 1 == attempts or not c.port_conflict():
                raise
            log("a port was taken meanwhile; starting over on other ports")
            c.wipe()
    raise AssertionError("unreachable")


# ---- command line ---------------------------------------------------------------
def cmd_start(a):
    old = None
    if os.path.exists(os.path.join(a.dir, STATE_FILE)):
        old = Cluster.load(a.dir)
        running = [i for i in old.ids if old.alive(i)]
        if running:
            log("%s: brokers %s still run; stop them first" % (a.dir, running))
            return 1
    binary = a.bin or (old.state["bin"] if old else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "stretchlogd"))
    if not os.access(binary, os.X_OK):
        log("no broker binary at %s (build it, or pass --bin)" % binary)
        return 1
    if old is not None:
        # A restart keeps the layout (ports, regions, voters) its data was made with.
        c = old
        c.state["bin"] = os.path.abspath(binary)
        if a.set:
            c.state["sets"] = a.set
        c.save()
        log("%s: restarting the cluster stored there (layout options ignored)" % a.dir)
    try:
        if old is not None:
            c.start(a.timeout)
        elif a.base_port == "auto":
            c = start_on_free_ports(a.dir, binary, timeout=a.timeout, brokers=a.brokers,
                                    regions=a.regions.split(","), voters=a.voters, sets=a.set)
        else:
            c = Cluster.create(a.dir, binary, a.brokers, a.regions.split(","),
                               int(a.base_port), a.voters, a.set)
            c.start(a.timeout)
    except RuntimeError as e:
        log(str(e))
        return 1
    for b in c.state["brokers"]:
        print("broker %d pid=%d region=%s rack=%s kafka=%s:%d admin=http://%s:%d log=%s" % (
            b["id"], c.procs[b["id"]].pid, b["region"], b["rack"], HOST, b["kafka"], HOST,
            b["admin"], c.path("broker%d.log" % b["id"])))
    print("bootstrap=%s" % c.bootstrap)
    return 0


def cmd_stop(a):
    c = Cluster.load(a.dir)
    for i, rc in sorted(c.stop(a.timeout).items()):
        print("broker %d stopped%s" % (i, "" if rc is None else " (%s)" % rc))
    return 0


def cmd_status(a):
    c = Cluster.load(a.dir)
    bad = 0
    for b in c.state["brokers"]:
        i = b["id"]
        pid = c.pid(i)
        st = c.status(i) if pid else None
        if st is None:
            bad += 1
            print("broker %d %s region=%s kafka=%s:%d" % (
                i, "down" if pid is None else "not-answering pid=%d" % pid, b["region"], HOST,
                b["kafka"]))
            continue
        roles = {}
        for p in st.get("partitions", []):
            roles[p.get("role", "?")] = roles.get(p.get("role", "?"), 0) + 1
        print("broker %d up pid=%d region=%s rack=%s kafka=%s:%d controller_leader=%s "
              "topics=%d partitions=%s" % (
                  i, pid, b["region"], b["rack"], HOST, b["kafka"], st.get("controller_leader"),
                  len(st.get("topics", [])),
                  ",".join("%s:%d" % kv for kv in sorted(roles.items())) or "0"))
    return 1 if bad else 0


def cmd_kill(a):
    c = Cluster.load(a.dir)
    c.kill(a.id)
    print("broker %d killed" % a.id)
    return 0


def cmd_restart(a):
    c = Cluster.load(a.dir)
    c.start_broker(a.id)
    try:
        c.wait_ready([a.id], a.timeout)
    except RuntimeError as e:
        log(str(e))
        return 1
    print("broker %d pid=%d up" % (a.id, c.procs[a.id].pid))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(prog="cluster.sh", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--brokers", type=int, default=3)
    s.add_argument("--regions", default="r1,r2,r3")
    s.add_argument("--base-port", default="19200", help="a port number, or auto")
    s.add_argument("--bin", help="stretchlogd binary (default: build/stretchlogd)")
    s.add_argument("--voters", type=int, help="controller voters: the first K brokers")
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to every broker")
    s = sub.add_parser("stop")
    s.add_argument("dir")
    s.add_argument("--timeout", type=float, default=40.0)
    for name in ("status", "bootstrap"):
        sub.add_parser(name).add_argument("dir")
    s = sub.add_parser("kill")
    s.add_argument("dir")
    s.add_argument("id", type=int)
    s = sub.add_parser("restart")
    s.add_argument("dir")
    s.add_argument("id", type=int)
    s.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args(argv)
    if a.cmd != "start" and not os.path.exists(os.path.join(a.dir, STATE_FILE)):
        log("%s: no %s (was the cluster started there?)" % (a.dir, STATE_FILE))
        return 1
    if a.cmd == "bootstrap":
        print(Cluster.load(a.dir).bootstrap)
        return 0
    return {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "kill": cmd_kill,
            "restart": cmd_restart}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
