#!/usr/bin/env python3
"""Hostile Kafka frames against a running broker.

Usage: hostile.py KAFKA_ADDR REQUEST_BYTES_MAX
  (the broker must run with socket.request.max.bytes=REQUEST_BYTES_MAX and
  message.max.bytes=1024; tests/suites/hostile.sh starts it so)

Each case opens its own connection, sends raw bytes and expects what the
protocol prescribes: an error response (with the right correlation id and
error code) or a closed connection when the frame itself cannot be parsed.
After every case a second, long-lived connection must still be answered
(ApiVersions and Metadata), and at the end a valid produce must land right
after the one made before the cases: no invalid batch was written.
REQUEST_BYTES_MAX is the broker's socket.request.max.bytes.
"""
import struct
import sys
import time

import kwire
from kafka.protocol.admin import ApiVersionRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

TOPIC = "hostile"
CLIENT = b"hostile"

CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_VERSION = 35
UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
INVALID_RECORD = 87
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
INVALID_TOPIC_EXCEPTION = 17
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
INVALID_REQUEST = 42


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def kstr(s):
    return i16(len(s)) + s


def header(key, version, cid, client=CLIENT):
    return i16(key) + i16(version) + i32(cid) + kstr(client)


def frame(payload):
    return i32(len(payload)) + payload


def batch(values, codec=0):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 20)
    ts = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(i, timestamp=ts, key=b"k%d" % i, value=v, headers=[("h", b"x")])
    return bytes(b.build())


def recrc(b):
    """The batch with its CRC-32C recomputed (after a deliberate edit)."""
    b = bytearray(b)
    b[17:21] = struct.pack(">I", calc_crc32c(b[21:]))
    return bytes(b)


def produce_v3(cid, records, acks=-1, topic=TOPIC.encode(), partition=0, n_topics=None,
               n_parts=None, records_len=None):
    body = i16(-1) + i16(acks) + i32(5000)
    body += i32(1 if n_topics is None else n_topics) + kstr(topic)
    body += i32(1 if n_parts is None else n_parts) + i32(partition)
    body += i32(len(records) if records_len is None else records_len) + records
    return frame(header(0, 3, cid) + body)


def parse_produce_v3(resp):
    """[(topic, partition, error, base_offset)] of a Produce v3 response body."""
    p = 0
    out = []
    (nt,) = struct.unpack_from(">i", resp, p)
    p += 4
    for _ in range(nt):
        (ln,) = struct.unpack_from(">h", resp, p)
        name = resp[p + 2:p + 2 + ln].decode()
        p += 2 + ln
        (np_,) = struct.unpack_from(">i", resp, p)
        p += 4
        for _ in range(np_):
            idx, err, base, _lat = struct.unpack_from(">ihqq", resp, p)
            p += 22
            out.append((name, idx, err, base))
    return out


class Result:
    def __init__(self, kind, cid=None, body=None):
        self.kind = kind  # "closed", "open" (nothing within the wait) or "response"
        self.cid = cid
        self.body = body
        self.note = ""

    def __repr__(self):
        if self.kind == "response":
            return "response(cid=%d%s)" % (self.cid, self.note)
        return self.kind


def exchange(addr, data, wait=3.0, partial=False):
    """Sends data on a new connection; returns what the broker does."""
    c = kwire.Conn(addr)
    try:
        c.send_raw(data)
        if partial:
            return Result("sent")
        c.sock.settimeout(wait)
        try:
            f = c.recv_frame()
        except kwire.Closed:
            return Result("closed")
        except TimeoutError:
            return Result("open")
        (cid,) = struct.unpack(">i", f[:4])
        res = Result("response", cid, f[4:])
        # Anything after the response must not be garbage; a close is fine.
        return res
    finally:
        c.close()


class Keeper:
    """The second connection that must keep working throughout."""

    def __init__(self, addr):
        self.addr = addr
        self.c = kwire.Conn(addr)
        self.n = 0

    def check(self):
        r = self.c.request(ApiVersionRequest[0]())
        if r.error_code != 0 or not r.api_versions:
            raise AssertionError("ApiVersions on the keeper connection: %s" % r)
        r = self.c.request(MetadataRequest[1](topics=None))
        if not r.brokers:
            raise AssertionError("Metadata on the keeper connection lists no broker: %s" % r)
        self.n += 2


def expect_close(res):
    return None if res.kind == "closed" else "expected the connection closed, got %r" % res


def expect_produce_error(codes, cid):
    def f(res):
        if res.kind != "response":
            return "expected a Produce response, got %r" % res
        if res.cid != cid:
            return "response correlation id %d, sent %d" % (res.cid, cid)
        parts = parse_produce_v3(res.body)
        errs = [p[2] for p in parts]
        res.note = ", error %s" % ",".join(str(e) for e in errs)
        if len(parts) != 1 or errs[0] not in codes:
            return "partition errors %s, expected one of %s" % (parts, sorted(codes))
        return None
    return f


def expect_close_or_error(res):
    if res.kind == "closed" or res.kind == "response":
        return None
    return "expected an error response or a close, got %r" % res


def cases(max_bytes):
    good = batch([b"v1", b"v2", b"v3"])
    bad_crc = bytearray(good)
    bad_crc[-3] ^= 0x55  # a value byte: the CRC no longer matches
    huge_count = recrc(good[:57] + i32(0x7FFFFFFF) + good[61:])
    negative_count = recrc(good[:57] + i32(-5) + good[61:])
    control = recrc(good[:21] + i16(0x20) + good[23:])
    old_magic = good[:16] + b"\x01" + good[17:]
    big = batch([bytes(range(256)) * 8])  # 2 KiB, over message.max.bytes=1024
    lying_length = good[:8] + i32(len(good) + 1000) + good[12:]
    yield "negative length", i32(-1) + b"\0" * 16, expect_close
    yield "length over the max", i32(max_bytes + 1) + b"\0" * 64, expect_close
    yield "length 2^31-1", i32(0x7FFFFFFF), expect_close
    yield "empty frame", i32(0), expect_close
    yield "truncated header", frame(i16(3) + i16(1)), expect_close
    yield "header client id past the frame", frame(i16(3) + i16(1) + i32(9) + i16(200)), \
        expect_close
    yield "unknown api key 999", frame(header(999, 0, 11)), expect_close_or_error
    yield "undefined version Metadata v99", frame(header(3, 99, 12) + i32(-1)), \
        expect_close_or_error
    yield "Metadata array count 2^31-1", frame(header(3, 1, 13) + i32(0x7FFFFFFF)), expect_close
    yield "Metadata topic name past the frame", frame(header(3, 1, 14) + i32(1) + i16(3000)), \
        expect_close
    yield "Produce topics count 2^31-1", frame(header(0, 3, 15) + i16(-1) + i16(-1) + i32(5000)
                                               + i32(0x7FFFFFFF)), expect_close
    yield "Produce partitions count 2^31-1", produce_v3(16, good, n_parts=0x7FFFFFFF), \
        expect_close
    yield "Produce records length past the frame", produce_v3(17, good, records_len=1 << 30), \
        expect_close
    yield "CreateTopics count 2^31-1", frame(header(19, 3, 18) + i32(0x7FFFFFFF)), expect_close
    yield "trailing bytes after a Metadata body", frame(header(3, 1, 19) + i32(-1) + b"junk"), \
        expect_close
    yield "Produce truncated batch", produce_v3(20, good[:-7]), \
        expect_produce_error({CORRUPT_MESSAGE}, 20)
    yield "Produce batch shorter than its header", produce_v3(21, good[:40]), \
        expect_produce_error({CORRUPT_MESSAGE}, 21)
    yield "Produce batch length beyond the records", produce_v3(22, lying_length), \
        expect_produce_error({CORRUPT_MESSAGE}, 22)
    yield "Produce bad CRC", produce_v3(23, bytes(bad_crc)), \
        expect_produce_error({CORRUPT_MESSAGE}, 23)
    yield "Produce records count 2^31-1", produce_v3(24, huge_count), \
        expect_produce_error({CORRUPT_MESSAGE, INVALID_RECORD}, 24)
    yield "Produce negative records count", produce_v3(25, negative_count), \
        expect_produce_error({CORRUPT_MESSAGE, INVALID_RECORD}, 25)
    yield "Produce control batch from a client", produce_v3(26, control), \
        expect_produce_error({INVALID_RECORD}, 26)
    yield "Produce magic 1 batch", produce_v3(27, old_magic), \
        expect_produce_error({UNSUPPORTED_FOR_MESSAGE_FORMAT, CORRUPT_MESSAGE}, 27)
    yield "Produce empty records", produce_v3(28, b""), \
        expect_produce_error({INVALID_RECORD, CORRUPT_MESSAGE}, 28)
    yield "Produce acks=2", produce_v3(29, good, acks=2), \
        expect_produce_error({INVALID_REQUIRED_ACKS}, 29)
    yield "Produce batch over max.message.bytes", produce_v3(30, big), \
        expect_produce_error({MESSAGE_TOO_LARGE}, 30)
    yield "Produce to a valid batch then a bad one", produce_v3(31, good + bytes(bad_crc)), \
        expect_produce_error({CORRUPT_MESSAGE}, 31)


def unsupported_fetch(addr):
    """Fetch v2 is defined but below the supported range: the broker answers
    UNSUPPORTED_VERSION with the request's correlation id (or closes)."""
    body = i32(-1) + i32(100) + i32(1) + i32(1) + kstr(TOPIC.encode()) + i32(1) + i32(0) + \
        struct.pack(">q", 0) + i32(1024)
    res = exchange(addr, frame(header(1, 2, 41) + body))
    if res.kind == "closed":
        return None
    if res.kind != "response" or res.cid != 41:
        return "expected an UNSUPPORTED_VERSION response or a close, got %r" % res
    # v2 response: throttle, topics[name, partitions[index, error, ...]]
    _thr, nt, ln = struct.unpack_from(">iih", res.body, 0)
    idx, err = struct.unpack_from(">ih", res.body, 10 + ln + 4)
    if err != UNSUPPORTED_VERSION:
        return "Fetch v2 partition error %d, expected %d" % (err, UNSUPPORTED_VERSION)
    print("     (answered with error %d)" % err)
    return None


def group_cases(addr):
    """Consumer group requests that must fail get Kafka's error code (the
    coordinator of every group is this one broker). Yields (name, got,
    expected)."""
    from kafka.protocol.commit import (GroupCoordinatorRequest, OffsetCommitRequest,
                                       OffsetFetchRequest)
    from kafka.protocol.group import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
                                      SyncGroupRequest)
    c = kwire.Conn(addr)
    try:
        # The first FindCoordinator creates __consumer_offsets: poll until ready.
        deadline = time.monotonic() + 30
        while True:
            r = c.request(GroupCoordinatorRequest[0](consumer_group="hg"))
            if r.error_code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        yield "FindCoordinator once __consumer_offsets exists", r.error_code, 0
        # kafka-python 2.0.2's FindCoordinator v1 response lacks throttle_time_ms:
        # read the raw answer (throttle_time_ms, error_code, ...).
        raw = exchange_frame(c, frame(header(10, 1, 59) + kstr(b"tx-1") + b"\x01"))
        yield "FindCoordinator transaction key type", struct.unpack_from(">h", raw, 4)[0], \
            INVALID_REQUEST
        proto = [("range", b"\0\0\0\0\0\0\0\0")]
        yield "JoinGroup session timeout 1 ms", c.request(JoinGroupRequest[2](
            group="hg", session_timeout=1, rebalance_timeout=1000, member_id="",
            protocol_type="consumer", group_protocols=proto)).error_code, INVALID_SESSION_TIMEOUT
        yield "JoinGroup empty group id", c.request(JoinGroupRequest[2](
            group="", session_timeout=10000, rebalance_timeout=1000, member_id="",
            protocol_type="consumer", group_protocols=proto)).error_code, INVALID_GROUP_ID
        yield "JoinGroup 300-byte group id", c.request(JoinGroupRequest[2](
            group="g" * 300, session_timeout=10000, rebalance_timeout=1000, member_id="",
            protocol_type="consumer", group_protocols=proto)).error_code, INVALID_GROUP_ID
        yield "JoinGroup without protocols", c.request(JoinGroupRequest[2](
            group="hg", session_timeout=10000, rebalance_timeout=1000, member_id="",
            protocol_type="consumer", group_protocols=[])).error_code, INCONSISTENT_GROUP_PROTOCOL
        yield "JoinGroup unknown member id", c.request(JoinGroupRequest[2](
            group="hg-new", session_timeout=10000, rebalance_timeout=1000, member_id="ghost",
            protocol_type="consumer", group_protocols=proto)).error_code, UNKNOWN_MEMBER_ID
        yield "Heartbeat unknown member", c.request(HeartbeatRequest[1](
            group="hg", generation_id=1, member_id="ghost")).error_code, UNKNOWN_MEMBER_ID
        yield "SyncGroup unknown member", c.request(SyncGroupRequest[1](
            group="hg", generation_id=1, member_id="ghost",
            group_assignment=[])).error_code, UNKNOWN_MEMBER_ID
        yield "LeaveGroup unknown member", c.request(LeaveGroupRequest[1](
            group="hg", member_id="ghost")).error_code, UNKNOWN_MEMBER_ID

        def commit(group, gen, member, topic, part, meta):
            r = c.request(OffsetCommitRequest[2](
                consumer_group=group, consumer_group_generation_id=gen, consumer_id=member,
                retention_time=-1, topics=[(topic, [(part, 42, meta)])]))
            return r.topics[0][1][0][1]
        yield "OffsetCommit generation 5 of an unknown group", \
            commit("hg-gen", 5, "m", TOPIC, 0, ""), ILLEGAL_GENERATION
        yield "OffsetCommit 5000-byte metadata", commit("hg", -1, "", TOPIC, 0, "m" * 5000), \
            OFFSET_METADATA_TOO_LARGE
        yield "OffsetCommit unknown topic", commit("hg", -1, "", "hostile-nosuch", 0, ""), \
            UNKNOWN_TOPIC_OR_PARTITION
        yield "OffsetCommit partition 99", commit("hg", -1, "", TOPIC, 99, ""), \
            UNKNOWN_TOPIC_OR_PARTITION
        yield "OffsetCommit simple consumer", commit("hg", -1, "", TOPIC, 0, "meta"), 0
        r = c.request(OffsetFetchRequest[1](consumer_group="hg", topics=[(TOPIC, [0, 1])]))
        got = [(p[0], p[1], p[2], p[3]) for p in r.topics[0][1]]
        yield "OffsetFetch committed and unknown", got, [(0, 42, "meta", 0), (1, -1, "", 0)]
        yield "Produce to __consumer_offsets", \
            parse_produce_v3(exchange_frame(c, produce_v3(
                60, batch([b"x"]), topic=b"__consumer_offsets")))[0][2], INVALID_TOPIC_EXCEPTION
    finally:
        c.close()
    # A JoinGroup whose protocols count is 2^31-1 cannot be decoded: closed.
    body = kstr(b"hg") + i32(10000) + i32(1000) + kstr(b"") + kstr(b"consumer") + \
        i32(0x7FFFFFFF)
    res = exchange(addr, frame(header(11, 2, 61) + body))
    yield "JoinGroup protocols count 2^31-1", res.kind, "closed"


def exchange_frame(c, data):
    c.send_raw(data)
    return c.recv_frame()[4:]


def valid_produce(addr, values):
    c = kwire.Conn(addr)
    try:
        c.send_raw(produce_v3(1000 + len(values), batch(values)))
        f = c.recv_frame()
    finally:
        c.close()
    parts = parse_produce_v3(f[4:])
    if len(parts) != 1 or parts[0][2] != 0:
        raise AssertionError("valid produce failed: %s" % parts)
    return parts[0][3]


def main(argv):
    addr, max_bytes = argv[0], int(argv[1])
    # The topic: auto-created by Metadata; wait for its leader.
    deadline = time.monotonic() + 15
    while True:
        _b, parts, _e = kwire.metadata(addr, [TOPIC])
        if parts.get((TOPIC, 0), (-1,))[0] >= 0 and parts[(TOPIC, 0)][2] == 0:
            break
        if time.monotonic() > deadline:
            print("hostile: topic %s has no leader: %s" % (TOPIC, parts))
            return 1
        time.sleep(0.1)
    first = valid_produce(addr, [b"before"])
    keeper = Keeper(addr)
    keeper.check()
    failed = []
    n = 0
    for name, data, expect in cases(max_bytes):
        n += 1
        t0 = time.monotonic()
        res = exchange(addr, data)
        why = expect(res)
        try:
            keeper.check()
        except Exception as e:  # noqa: BLE001 - any failure of the keeper is the finding
            why = (why + "; " if why else "") + "second connection failed: %r" % e
            keeper = Keeper(addr)
        print("%s %-42s %-28r %.2fs%s" % ("ok  " if why is None else "FAIL", name, res,
                                         time.monotonic() - t0, "" if why is None else
                                         "\n     " + why), flush=True)
        if why is not None:
            failed.append(name)
    # Fetch v2 (defined, unsupported) and a client that leaves mid-frame.
    def leave_mid_frame():
        exchange(addr, i32(100) + b"\0" * 10, partial=True)
        return None

    for name, fn in (("Fetch v2 (unsupported version)", lambda: unsupported_fetch(addr)),
                     ("client leaves mid-frame", leave_mid_frame)):
        n += 1
        why = fn()
        keeper.check()
        print("%s %s%s" % ("ok  " if why is None else "FAIL", name,
                            "" if why is None else "\n     " + why))
        if why is not None:
            failed.append(name)
    for name, got, want in group_cases(addr):
        n += 1
        keeper.check()
        ok = got == want
        print("%s %-46s got %r%s" % ("ok  " if ok else "FAIL", name, got,
                                     "" if ok else ", expected %r" % (want,)), flush=True)
        if not ok:
            failed.append(name)
    # Nothing invalid was written: the next valid batch follows the first.
    second = valid_produce(addr, [b"after"])
    n += 1
    if second != first + 1:
        failed.append("no invalid batch written")
        print("FAIL valid produce before the cases got offset %d, after them %d (expected %d)"
              % (first, second, first + 1))
    else:
        print("ok   no invalid batch written (offsets %d then %d)" % (first, second))
    batches, _hwm = kwire.fetch_batches(addr, TOPIC, 0)
    got = [r[2] for r in kwire.data_records(batches)]
    n += 1
    d = kwire.diff("values stored in %s/0" % TOPIC, [b"before", b"after"], got)
    if d:
        failed.append("stored values")
        print("FAIL " + d)
    else:
        print("ok   stored values are exactly the two valid ones")
    print("hostile: %d cases, %d keeper round trips, %d failed%s" % (
        n, keeper.n, len(failed), (": " + "; ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
