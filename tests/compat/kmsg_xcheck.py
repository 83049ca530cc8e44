#!/usr/bin/env python3
# Cross-checks proto/'s generated Kafka codecs against kafka-python's hand-written schemas.
"""kafka-python (2.0.2) encodes randomized requests and responses of every api and
version it knows (all non-flexible); the C driver must decode each one
completely and re-encode it to the same bytes.

Usage: kmsg_xcheck.py DRIVER [--per-version N] [--seed S]
Exit status: 0 all agree, 1 a disagreement, 77 kafka-python is not installed.
"""
import argparse
import importlib
import random
import subprocess
import sys

try:
    import kafka.protocol.types as T
    from kafka.protocol.api import Request, Response
except ImportError:
    print('kmsg_xcheck: kafka-python not installed, skipping')
    sys.exit(77)

MODULES = ['admin', 'commit', 'fetch', 'group', 'metadata', 'offset', 'produce']
# The api keys proto/ has schemas for.
KEYS = {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19, 20, 22, 32, 33}
# Where kafka-python 2.0.2 itself disagrees with Kafka's schemas (checked
# against Kafka 3.8.0's JSON): skipped, not counted as failures.
KNOWN_BAD = {
    ('GroupCoordinatorResponse', 1): 'lacks throttle_time_ms (v1+)',
    ('OffsetRequest', 4): 'current_leader_epoch is Int64, Kafka says int32',
    ('OffsetRequest', 5): 'current_leader_epoch is Int64, Kafka says int32',
    ('ProduceResponse', 8): 'lacks record_errors and error_message (v8+)',
}
# Fields kafka-python cannot encode when non-empty (its schema holds the
# String class instead of an instance): always sent empty.
EMPTY_FIELDS = {'forgotten_topics_data'}


def value(t, rnd):
    if isinstance(t, T.Schema):
        return tuple(value(f, rnd) for f in t.fields)
    if isinstance(t, T.Array):
        if rnd.random() < 0.2:
            return []
        return [value(t.array_of, rnd) for _ in range(rnd.randint(1, 3))]
    name = t.__name__ if isinstance(t, type) else type(t).__name__
    if name == 'Int8':
        return rnd.randint(-128, 127)
    if name == 'Int16':
        return rnd.randint(-32768, 32767)
    if name == 'Int32':
        return rnd.randint(-2**31, 2**31 - 1)
    if name == 'Int64':
        return rnd.randint(-2**63, 2**63 - 1)
    if name == 'Boolean':
        return rnd.random() < 0.5
    if name == 'String':
        return ''.join(rnd.choice('abcxyz-.') for _ in range(rnd.randint(0, 8)))
    if name == 'Bytes':
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 12)))
    raise TypeError('unhandled kafka-python type ' + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('driver')
    ap.add_argument('--per-version', type=int, default=30)
    ap.add_argument('--seed', type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    lines, labels = [], []
    for mod in MODULES:
        m = importlib.import_module('kafka.protocol.' + mod)
        for name in sorted(dir(m)):
            classes = getattr(m, name)
            if not (isinstance(classes, list) and classes and isinstance(classes[0], type)
                    and issubclass(classes[0], (Request, Response))):
                continue
            for cls in classes:
                if cls.API_KEY not in KEYS or (name, cls.API_VERSION) in KNOWN_BAD:
                    continue
                kind = 'req' if issubclass(cls, Request) else 'resp'
                schema = cls.SCHEMA
                for _ in range(args.per_version):
                    v = [[] if n in EMPTY_FIELDS else value(f, rnd)
                         for n, f in zip(schema.names, schema.fields)]
                    data = schema.encode(v)
                    lines.append('%d %s %d %s' % (cls.API_KEY, kind, cls.API_VERSION, data.hex()))
                    labels.append('%s v%d' % (name, cls.API_VERSION))
    res = subprocess.run([args.driver], input='\n'.join(lines) + '\n', capture_output=True,
                         text=True, check=False)
    out = res.stdout.split('\n')
    if res.returncode != 0 or len(out) < len(lines):
        print('kmsg_xcheck: driver failed (status %d)\n%s' % (res.returncode, res.stderr[-4000:]))
        return 1
    kinds, bad = set(), {}
    for label, r in zip(labels, out):
        kinds.add(label)
        if r != 'OK':
            bad.setdefault(label, r)
    print('kmsg_xcheck: %d messages, %d api/version kinds, %d disagree (%d known kafka-python '
          'schema bugs skipped)' % (len(lines), len(kinds), len(bad), len(KNOWN_BAD)))
    for k in sorted(bad):
        print('  %s: %s' % (k, bad[k]))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
