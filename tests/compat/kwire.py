"""Small Kafka wire helpers for the compat, hostile-frame and failover tests.

A blocking connection that sends frames (raw bytes or kafka-python protocol
structs) and reads framed responses; Metadata and Fetch helpers that show
what the broker really stores (batch codecs, control batches), which the
client libraries hide or, for kafka-python 2.0.2, get wrong; and a diff
helper that prints mismatches the way the suites report them.
"""
import io
import socket
import struct

from kafka.protocol.api import RequestHeader
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.record.memory_records import MemoryRecords

CLIENT_ID = "stretchlog-test"


class Closed(Exception):
    """The broker closed the connection."""


class Conn:
    def __init__(self, addr, timeout=5.0):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cid = 0

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def recv_frame(self):
        """The next response frame (without its length), or Closed."""
        (n,) = struct.unpack(">i", self._recv_exact(4))
        if n < 4 or n > 256 << 20:
            raise ValueError("bad response length %d" % n)
        return self._recv_exact(n)

    def closed_within(self, timeout):
        """True when the broker closes the connection within timeout seconds
        without sending anything; False when it is still open; the bytes
        received otherwise."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        return True if data == b"" else data

    def next_cid(self):
        self.cid += 1
        return self.cid

    def request(self, req):
        """Sends a kafka-python request struct; returns the decoded response."""
        cid = self.next_cid()
        # kafka-python's encode() is a weak method: keep the header alive.
        hdr = RequestHeader(req, correlation_id=cid, client_id=CLIENT_ID)
        msg = hdr.encode() + req.encode()
        self.send_raw(struct.pack(">i", len(msg)) + msg)
        frame = self.recv_frame()
        (got,) = struct.unpack(">i", frame[:4])
        if got != cid:
            raise ValueError("correlation id %d, expected %d" % (got, cid))
        return req.RESPONSE_TYPE.decode(io.BytesIO(frame[4:]))


def metadata(addr, topics=None):
    """({broker id: "host:port"}, {(topic, partition): (leader, replicas)},
    {topic: error code}) as broker addr sees them. topics None lists all
    without creating any."""
    c = Conn(addr)
    try:
        r = c.request(MetadataRequest[1](topics=topics))
    finally:
        c.close()
    brokers = {b[0]: "%s:%d" % (b[1], b[2]) for b in r.brokers}
    parts = {}
    errors = {}
    for err, name, _internal, plist in r.topics:
        errors[name] = err
        for perr, pid, leader, replicas, _isr in plist:
            parts[(name, pid)] = (leader, list(replicas), perr)
    return brokers, parts, errors


class Batch:
    def __init__(self, b):
        self.base_offset = b.base_offset
        self.last_offset = b.base_offset + b.last_offset_delta
        self.is_control = bool(b.is_control_batch)
        self.compression = b.compression_type
        self.records = [(r.offset, r.key, r.value, list(r.headers)) for r in b]


def fetch_batches(addr, topic, partition, offset=0, max_wait_ms=100, end=None, rack=None):
    """Every batch of topic/partition from offset up to the high watermark
    (or end), fetched from broker addr with Fetch v11 (which carries every
    control batch, as a header without records) and rack_id rack when given
    (a follower serves those, KIP-392). Returns (batches, high watermark);
    raises on a partition error."""
    c = Conn(addr)
    out = []
    try:
        while True:
            req = FetchRequest[11](replica_id=-1, max_wait_time=max_wait_ms, min_bytes=1,
                                   max_bytes=8 << 20, isolation_level=0, session_id=0,
                                   session_epoch=-1,
                                   topics=[(topic, [(partition, -1, offset, -1, 4 << 20)])],
                                   forgotten_topics_data=[], rack_id=rack or "")
            r = c.request(req)
            _t, plist = r.topics[0]
            err, hwm, data = plist[0][1], plist[0][2], plist[0][-1]
            if err != 0:
                raise RuntimeError("fetch %s/%d at %d from %s: error %d" %
                                   (topic, partition, offset, addr, err))
            stop = hwm if end is None else min(hwm, end)
            if offset >= stop:
                return out, hwm
            mr = MemoryRecords(data)
            got = False
            while True:
                b = mr.next_batch()
                if b is None:
                    break
                bb = Batch(b)
                if bb.last_offset < offset:
                    continue
                out.append(bb)
                offset = bb.last_offset + 1
                got = True
            if not got:
                raise RuntimeError("fetch %s/%d at %d from %s: no complete batch below hwm %d" %
                                   (topic, partition, offset, addr, hwm))
    finally:
        c.close()


def data_records(batches):
    """(offset, key, value, headers) of the non-control records, in order."""
    return [r for b in batches if not b.is_control for r in b.records]


def control_offsets(batches):
    """Offsets taken by control batches (Raft configuration and barriers)."""
    return {o for b in batches if b.is_control for o in range(b.base_offset, b.last_offset + 1)}


def show(v, n=60):
    r = repr(v)
    if len(r) <= n:
        return r
    return r[: n - 16] + "...(%s)" % ("%d B" % len(v) if isinstance(v, (bytes, str)) else "...")


def first_diff(e, g):
    """Where two values first differ, as text."""
    if isinstance(e, (bytes, str)) and isinstance(g, (bytes, str)) and type(e) is type(g):
        i = next((k for k in range(min(len(e), len(g))) if e[k] != g[k]), min(len(e), len(g)))
        return "lengths %d/%d, first difference at byte %d: %s vs %s" % (
            len(e), len(g), i, show(e[i:i + 16], 80), show(g[i:i + 16], 80))
    return "%s vs %s" % (show(e, 200), show(g, 200))


def diff(what, expected, got, limit=6, fields=None):
    """None when equal, else a diff-like report of the first differences.
    Items that are tuples are compared field by field (fields names them)."""
    if expected == got:
        return None
    lines = ["%s: %d expected, %d got" % (what, len(expected), len(got))]
    shown = 0
    for i in range(max(len(expected), len(got))):
        e = expected[i] if i < len(expected) else "<missing>"
        g = got[i] if i < len(got) else "<missing>"
        if e == g:
            continue
        lines.append("  @%d" % i)
        lines.append("  - expected %s" % show(e, 160))
        lines.append("  + got      %s" % show(g, 160))
        if isinstance(e, tuple) and isinstance(g, tuple) and len(e) == len(g):
            for k, (fe, fg) in enumerate(zip(e, g)):
                if fe != fg:
                    name = fields[k] if fields and k < len(fields) else "field %d" % k
                    lines.append("    %s differs: %s" % (name, first_diff(fe, fg)))
        shown += 1
        if shown >= limit:
            lines.append("  ...")
            break
    return "\n".join(lines)
