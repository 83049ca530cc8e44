#!/usr/bin/env python3
# kgen: generates the Kafka message codecs (proto/kafka_msgs.{h,c}) and their
# test helpers (tests/unit/kmsg_fill.c) from Kafka's JSON message schemas.
"""Generate C codecs for Kafka request/response messages.

Usage:
    python3 proto/gen/kgen.py [--check] [--tests-dir DIR] SCHEMA_DIR OUT_DIR

SCHEMA_DIR holds Kafka's message/*.json (../shared/kafka-protocol/message).
OUT_DIR receives kafka_msgs.h and kafka_msgs.c. The test helpers go to
--tests-dir (default: OUT_DIR/../tests/unit when that directory exists).
With --check nothing is written: the script exits 1 if any output file would
change (used by tests/suites/kgen.sh to prove the committed files are fresh).

Standard library only, and deterministic: the output depends only on the
schema files' contents (never on paths, dates or dict order), so re-running
gives identical bytes. Generated C follows the conventions of proto/kmsg.h;
see the comment at the top of the generated header for the C API.
"""

import argparse
import json
import os
import re
import sys

MAXV = 0x7FFF  # open-ended version ranges ("3+") end here

# ---------------------------------------------------------------------------
# Schema loading


def strip_comments(text):
    """Removes // comments outside JSON strings."""
    out = []
    i = 0
    n = len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == '\\' and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


class Versions:
    """An inclusive version range, possibly empty."""

    def __init__(self, lo, hi):
        self.lo = lo
        self.hi = hi

    @staticmethod
    def parse(s):
        s = str(s).strip()
        if s == 'none' or s == '':
            return Versions(1, 0)
        if s.endswith('+'):
            return Versions(int(s[:-1]), MAXV)
        if '-' in s:
            a, b = s.split('-')
            return Versions(int(a), int(b))
        return Versions(int(s), int(s))

    @property
    def empty(self):
        return self.lo > self.hi

    def __and__(self, o):
        return Versions(max(self.lo, o.lo), min(self.hi, o.hi))

    def __eq__(self, o):
        if self.empty and o.empty:
            return True
        return (self.lo, self.hi) == (o.lo, o.hi)

    def contains(self, v):
        return self.lo <= v <= self.hi

    def covers(self, o):
        return o.empty or (self.lo <= o.lo and o.hi <= self.hi)

    def __str__(self):
        if self.empty:
            return 'none'
        if self.hi == MAXV:
            return '%d+' % self.lo
        if self.lo == self.hi:
            return '%d' % self.lo
        return '%d-%d' % (self.lo, self.hi)


C_KEYWORDS = set('''auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed
sizeof static struct switch typedef union unsigned void volatile while bool
true false'''.split())


def snake(name):
    s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', name)
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)
    s = s.lower()
    if s in C_KEYWORDS:
        s += '_'
    return s


SCALARS = {
    # kind: (C type, wire bytes)
    'int8': ('int8_t', 1),
    'int16': ('int16_t', 2),
    'uint16': ('uint16_t', 2),
    'int32': ('int32_t', 4),
    'uint32': ('uint32_t', 4),
    'int64': ('int64_t', 8),
    'float64': ('double', 8),
    'bool': ('bool', 1),
    'uuid': ('struct kmsg_uuid', 16),
}
VARLEN = {'string': 'struct kmsg_str', 'bytes': 'struct kmsg_bytes',
          'records': 'struct kmsg_bytes'}
PRIMS = set(SCALARS) | set(VARLEN)
INT_LIMITS = {
    'int8': (-(1 << 7), (1 << 7) - 1, 'INT8'),
    'int16': (-(1 << 15), (1 << 15) - 1, 'INT16'),
    'uint16': (0, (1 << 16) - 1, 'UINT16'),
    'int32': (-(1 << 31), (1 << 31) - 1, 'INT32'),
    'uint32': (0, (1 << 32) - 1, 'UINT32'),
    'int64': (-(1 << 63), (1 << 63) - 1, 'INT64'),
}


def parse_int(v):
    if isinstance(v, bool):
        raise ValueError('bool where an int was expected')
    if isinstance(v, int):
        return v
    s = str(v).strip()
    neg = s.startswith('-')
    if neg:
        s = s[1:]
    if s.lower().startswith('0x'):
        x = int(s[2:], 16)
    elif len(s) > 1 and s.startswith('0'):
        x = int(s[1:], 8)
    else:
        x = int(s, 10)
    return -x if neg else x


class SchemaError(Exception):
    pass


class Field:
    def __init__(self, d, owner):
        self.owner = owner  # Struct
        self.name = d['name']
        self.cname = snake(self.name)
        self.type = d['type']
        self.about = d.get('about', '')
        self.versions = Versions.parse(d['versions'])
        self.nullable = Versions.parse(d.get('nullableVersions', 'none'))
        self.tag = d.get('tag')
        self.tagged = Versions.parse(d['taggedVersions']) if 'taggedVersions' in d else None
        if (self.tag is None) != (self.tagged is None):
            raise SchemaError('%s: tag and taggedVersions go together' % self.name)
        if self.tagged is not None and self.tagged.hi != MAXV:
            raise SchemaError('%s: taggedVersions must be open-ended' % self.name)
        self.ignorable = bool(d.get('ignorable', False))
        self.flex_override = (Versions.parse(d['flexibleVersions'])
                              if 'flexibleVersions' in d else None)
        self.raw_default = d.get('default')
        self.struct = None
        self.elem = None
        t = self.type
        if t.startswith('[]'):
            e = t[2:]
            if e in PRIMS:
                if e in ('bytes', 'records', 'uuid'):
                    raise SchemaError('%s: unsupported array element %s' % (self.name, e))
                self.kind = 'parray'
                self.elem = e
            else:
                self.kind = 'sarray'
                self.struct_name = e
        elif t in PRIMS:
            self.kind = t
        else:
            self.kind = 'struct'
            self.struct_name = t
        if self.kind in ('int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64',
                         'bool', 'uuid') and not self.nullable.empty:
            raise SchemaError('%s: %s cannot be nullable' % (self.name, t))
        self.default = self._parse_default()
        self.sub_fields = d.get('fields')

    def _parse_default(self):
        v = self.raw_default
        k = self.kind
        if k in INT_LIMITS:
            x = 0 if v is None or v == '' else parse_int(v)
            lo, hi, _ = INT_LIMITS[k]
            if not lo <= x <= hi:
                raise SchemaError('%s: default %r out of range' % (self.name, v))
            return x
        if k == 'float64':
            return 0.0 if v is None else float(v)
        if k == 'bool':
            if v is None:
                return False
            if isinstance(v, bool):
                return v
            if str(v).lower() not in ('true', 'false'):
                raise SchemaError('%s: bad bool default %r' % (self.name, v))
            return str(v).lower() == 'true'
        if k == 'string':
            if v is None:
                return ''
            return None if v == 'null' else str(v)
        if k == 'bytes':
            if v is None:
                return b''
            if v == 'null':
                return None
            raise SchemaError('%s: bytes default must be null' % self.name)
        if k == 'records':
            return None
        if k in ('sarray', 'parray'):
            if v is None:
                return []
            if v == 'null':
                return None
            raise SchemaError('%s: array default must be null' % self.name)
        if k == 'uuid':
            return None
        if k == 'struct':
            if v is not None:
                raise SchemaError('%s: struct fields take no default' % self.name)
            return None
        raise SchemaError('unknown kind ' + k)

    @property
    def has_null_member(self):
        """Arrays get a `null` member only when some version can carry null."""
        return self.kind in ('sarray', 'parray') and (
            not self.nullable.empty or self.default is None)

    def present(self, ctx):
        return self.versions & ctx

    def regular_range(self, ctx):
        """Versions (within ctx) where the field is a regular, in-line field."""
        p = self.versions & ctx
        if self.tagged is None or p.empty:
            return p
        return Versions(p.lo, min(p.hi, self.tagged.lo - 1))

    def tagged_range(self, ctx):
        if self.tagged is None:
            return Versions(1, 0)
        return self.versions & ctx & self.tagged


class Struct:
    def __init__(self, kafka_name, msg, fields_json, ctx, is_root):
        self.kafka_name = kafka_name
        self.msg = msg
        self.ctx = ctx
        self.is_root = is_root
        ms = msg.snake
        s = snake(kafka_name)
        if is_root or s.startswith(ms + '_'):
            self.snake = s
        else:
            self.snake = ms + '_' + s
        self.ctype = 'struct kmsg_' + self.snake
        self.fields = [Field(fd, self) for fd in fields_json]
        names = set()
        for f in self.fields:
            if f.cname in names or f.cname == 'unknown_tags':
                raise SchemaError('%s: duplicate field %s' % (kafka_name, f.cname))
            names.add(f.cname)
        tags = [f.tag for f in self.fields if f.tag is not None]
        if len(tags) != len(set(tags)):
            raise SchemaError('%s: duplicate tag' % kafka_name)
        self.children = []
        for f in self.fields:
            if f.kind in ('struct', 'sarray'):
                if f.sub_fields is None:
                    cs = msg.common.get(f.struct_name)
                    if cs is None:
                        raise SchemaError('%s: no fields for struct %s' % (f.name, f.struct_name))
                    sub_json, sub_ctx = cs['fields'], Versions.parse(cs['versions']) & ctx
                else:
                    sub_json, sub_ctx = f.sub_fields, f.versions & ctx
                f.struct = Struct(f.struct_name, msg, sub_json, sub_ctx, False)
                self.children.append(f.struct)

    @property
    def flex_range(self):
        return self.msg.flex & self.ctx

    @property
    def has_tags(self):
        """True if some version of this struct ends with a tagged-fields section."""
        return not self.flex_range.empty

    def known_tagged(self):
        fs = [f for f in self.fields if not f.tagged_range(self.ctx).empty]
        return sorted(fs, key=lambda f: f.tag)

    def walk(self):
        """Yields nested structs first, then this one (declaration order)."""
        for c in self.children:
            yield from c.walk()
        yield self

    def min_wire_bytes(self, v):
        """Smallest encoding of this struct at version v."""
        total = 0
        for f in self.fields:
            if not f.regular_range(self.ctx).contains(v):
                continue
            total += field_min_bytes(f, v)
        if self.msg.flex.contains(v):
            total += 1
        return total


def field_compact(f, v):
    fv = f.flex_override if f.flex_override is not None else f.owner.msg.flex
    return fv.contains(v)


def field_min_bytes(f, v):
    k = f.kind
    if k in SCALARS:
        return SCALARS[k][1]
    compact = field_compact(f, v)
    if k == 'string':
        return 1 if compact else 2
    if k in ('bytes', 'records', 'sarray', 'parray'):
        return 1 if compact else 4
    if k == 'struct':
        return f.struct.min_wire_bytes(v)
    raise SchemaError(k)


class Message:
    def __init__(self, d, fname):
        self.fname = fname
        self.name = d['name']
        self.type = d['type']
        self.api_key = d.get('apiKey')
        self.valid = Versions.parse(d['validVersions'])
        self.flex = Versions.parse(d.get('flexibleVersions', 'none'))
        self.snake = snake(self.name)
        self.common = {cs['name']: cs for cs in d.get('commonStructs', [])}
        if self.valid.empty:
            raise SchemaError(self.name + ': no valid versions')
        self.root = Struct(self.name, self, d['fields'], self.valid, True)
        for st in self.root.walk():
            for f in st.fields:
                tr = f.tagged_range(st.ctx)
                if not tr.empty and not self.flex.covers(tr):
                    raise SchemaError('%s.%s: tagged outside flexible versions' % (st.kafka_name, f.name))

    @property
    def short(self):
        for suf in ('Request', 'Response'):
            if self.name.endswith(suf):
                return self.name[:-len(suf)]
        return self.name


def load_messages(schema_dir):
    msgs = []
    for fn in sorted(os.listdir(schema_dir)):
        if not fn.endswith('.json'):
            continue
        with open(os.path.join(schema_dir, fn), encoding='utf-8') as fp:
            d = json.loads(strip_comments(fp.read()))
        msgs.append(Message(d, fn))
    if not msgs:
        raise SchemaError('no *.json schemas in ' + schema_dir)
    # Global uniqueness of generated type names.
    seen = {}
    for m in msgs:
        for st in m.root.walk():
            if st.snake in seen:
                raise SchemaError('type name clash: kmsg_%s (%s and %s)' % (
                    st.snake, seen[st.snake], m.fname))
            seen[st.snake] = m.fname
    return msgs


# ---------------------------------------------------------------------------
# C emission helpers


class Out:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def __call__(self, s=''):
        if s == '':
            self.lines.append('')
        else:
            self.lines.append('\t' * self.depth + s)

    def open(self, s):
        self(s)
        self.depth += 1

    def close(self, s='}'):
        self.depth -= 1
        self(s)

    def text(self):
        return '\n'.join(self.lines) + '\n'


def cond(rng, ctx):
    """C condition on `version` for rng within ctx: None = never, '' = always."""
    r = rng & ctx
    if r.empty:
        return None
    parts = []
    if r.lo > ctx.lo:
        parts.append('version >= %d' % r.lo)
    if r.hi < ctx.hi:
        parts.append('version <= %d' % r.hi)
    return ' && '.join(parts)


def bool_expr(rng, ctx):
    c = cond(rng, ctx)
    if c is None:
        return 'false'
    if c == '':
        return 'true'
    return '(%s)' % c


def c_int(kind, x):
    lo, hi, pfx = INT_LIMITS[kind]
    if x == lo and lo != 0:
        return pfx + '_MIN'
    if x == hi:
        return pfx + '_MAX'
    if kind == 'int64':
        return 'INT64_C(%d)' % x
    if kind == 'uint32':
        return 'UINT32_C(%d)' % x
    return '%d' % x


def c_string_lit(s):
    out = ['"']
    for ch in s.encode('utf-8'):
        c = chr(ch)
        if c in '"\\':
            out.append('\\' + c)
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append('\\%03o' % ch)
    out.append('"')
    return ''.join(out)


def c_comment_text(s):
    s = s.replace('*/', '* /').replace('/*', '/ *')
    return ''.join(ch if 32 <= ord(ch) < 127 else '?' for ch in s)


def wrap(text, width):
    words = text.split()
    lines, cur = [], ''
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = w if not cur else cur + ' ' + w
    if cur:
        lines.append(cur)
    return lines


def nondefault_expr(f, lv):
    """C expression: true when lvalue lv differs from f's default."""
    k = f.kind
    if k in INT_LIMITS:
        return '%s != %s' % (lv, c_int(k, f.default))
    if k == 'float64':
        return '%s != %r' % (lv, f.default)
    if k == 'bool':
        return lv if not f.default else '!%s' % lv
    if k == 'uuid':
        return '!kmsg__uuid_is_zero(&%s)' % lv
    if k == 'string':
        if f.default is None:
            return '!%s.null' % lv
        if f.default == '':
            return '(%s.null || %s.len != 0)' % (lv, lv)
        return '!kmsg__str_equals(&%s, %s, %d)' % (lv, c_string_lit(f.default),
                                                  len(f.default.encode('utf-8')))
    if k in ('bytes', 'records'):
        if f.default is None:
            return '!%s.null' % lv
        return '(%s.null || %s.len != 0)' % (lv, lv)
    if k in ('sarray', 'parray'):
        if f.default is None:
            return '!%s.null' % lv
        if f.has_null_member:
            return '(%s.null || %s.count != 0)' % (lv, lv)
        return '%s.count != 0' % lv
    if k == 'struct':
        return '!is_default_%s(&%s)' % (f.struct.snake, lv)
    raise SchemaError(k)


SCALAR_FN = {'int8': 'int8', 'int16': 'int16', 'uint16': 'uint16', 'int32': 'int32',
             'uint32': 'uint32', 'int64': 'int64', 'float64': 'float64', 'bool': 'bool',
             'uuid': 'uuid'}


def compact_expr(f, rng):
    """C expression: is f encoded compactly (flexible) at this version?"""
    fv = f.flex_override if f.flex_override is not None else f.owner.msg.flex
    return bool_expr(fv, rng)


def check(o):
    o.open('if (rc < 0) {')
    o('return rc;')
    o.close()


# ---------------------------------------------------------------------------
# Header


HEADER_INTRO = '''\
/* Kafka request/response structs and codecs. GENERATED by proto/gen/kgen.py
 * from kafka-protocol/message/<Name>.json (Apache Kafka 3.8.0 schemas): do not
 * edit; change the generator and run
 *   python3 proto/gen/kgen.py ../shared/kafka-protocol/message proto/
 *
 * For every message X (kmsg_metadata_request, kmsg_fetch_response, ...):
 *
 *   struct kmsg_X holds the union of the fields of every version. Absent
 *   fields keep their default. Strings are struct kmsg_str, bytes and records
 *   struct kmsg_bytes (pointer + length + null flag); arrays are an inline
 *   struct { items, count[, null] }; nested structs are embedded. In decoded
 *   messages every string/bytes/records pointer BORROWS from the input buffer
 *   and every array lives in the arena: both must outlive the struct.
 *   Structs of flexible messages carry unknown_tags: tagged fields this code
 *   does not know, preserved on decode and written back on encode.
 *
 *   void kmsg_X_init(struct kmsg_X *m) sets every field to its default (the
 *   schema "default", else 0 / false / "" / empty array / null records).
 *   Nested struct types have an _init too.
 *
 *   int kmsg_X_decode(struct kmsg_reader *r, int16_t version, struct kmsg_X *out,
 *                     struct kmsg_arena *arena)
 *   reads one X of the given version at r's position and advances r. Returns
 *   0 or a negative kmsg_err: KMSG_EVERSION (version outside the schema's
 *   validVersions), KMSG_ETRUNC, KMSG_EMALFORMED, KMSG_ENULL (null in a
 *   non-nullable version), KMSG_ELIMIT (array count or arena bytes over the
 *   limit), KMSG_ENOMEM. On error *out is partly filled; reset the arena.
 *
 *   int kmsg_X_encode(struct kmsg_writer *w, int16_t version, const struct kmsg_X *in)
 *   appends X in the given version to w. Returns 0 or a negative kmsg_err:
 *   KMSG_EVERSION, KMSG_EUNSUPPORTED (a non-ignorable field the version
 *   lacks holds a non-default value), KMSG_ENULL, KMSG_ETOOLONG, KMSG_EINVAL,
 *   KMSG_ELIMIT, KMSG_ENOMEM. On error w is left as it was before the call.
 *   Fields a version lacks are silently dropped when the schema marks them
 *   ignorable (or they hold their default).
 *
 *   KMSG_X_VERSION_MIN / KMSG_X_VERSION_MAX are the schema's validVersions;
 *   every one of them is supported, not only the advertised ones. */
'''


def field_ctype(f):
    k = f.kind
    if k in SCALARS:
        return SCALARS[k][0]
    if k in VARLEN:
        return VARLEN[k]
    if k == 'struct':
        return f.struct.ctype
    raise SchemaError(k)


def field_doc(f, st):
    bits = ['v' + str(f.versions & st.ctx)]
    nv = f.nullable & f.versions & st.ctx
    if not nv.empty:
        bits.append('nullable v' + str(nv))
    if f.tagged is not None:
        bits.append('tag %d' % f.tag)
    if f.raw_default is not None:
        bits.append('default %s' % (f.raw_default if f.raw_default != '' else '""'))
    if f.ignorable:
        bits.append('ignorable')
    head = ', '.join(bits) + '.'
    about = c_comment_text(f.about.strip())
    return wrap(head + (' ' + about if about else ''), 84)


def gen_struct_decl(o, st):
    m = st.msg
    if st.is_root:
        o('/* %s: versions %s, flexible %s. */' % (st.kafka_name, m.valid, m.flex))
    else:
        o('/* %s (in %s): versions %s. */' % (st.kafka_name, m.name, st.ctx))
    o.open('%s {' % st.ctype)
    for f in st.fields:
        for ln in field_doc(f, st):
            o('/* ' + ln + ' */' if len(field_doc(f, st)) == 1 else '// ' + ln)
        if f.kind in ('sarray', 'parray'):
            if f.kind == 'sarray':
                et = f.struct.ctype
            elif f.elem in SCALARS:
                et = SCALARS[f.elem][0]
            else:
                et = VARLEN[f.elem]
            o.open('struct {')
            o('%s *items;' % et)
            o('int32_t count;')
            if f.has_null_member:
                o('bool null;')
            o.close('} %s;' % f.cname)
        else:
            o('%s %s;' % (field_ctype(f), f.cname))
    if st.has_tags:
        o('/* Tagged fields not known to this code, in wire order. */')
        o('struct kmsg_tags unknown_tags;')
    if not st.fields and not st.has_tags:
        o('char unused_; /* C forbids empty structs. */')
    o.close('};')
    o()


def fix_field_comments(lines):
    """Turns runs of '// ' lines into one /* ... */ block comment."""
    out = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        s = ln.lstrip('\t')
        if s.startswith('// '):
            ind = ln[:len(ln) - len(s)]
            block = []
            while i < len(lines) and lines[i].lstrip('\t').startswith('// '):
                block.append(lines[i].lstrip('\t')[3:])
                i += 1
            out.append(ind + '/* ' + block[0])
            for b in block[1:-1]:
                out.append(ind + ' * ' + b)
            out.append(ind + ' * ' + block[-1] + ' */')
            continue
        out.append(ln)
        i += 1
    return out


def gen_header(msgs):
    o = Out()
    for ln in HEADER_INTRO.rstrip('\n').split('\n'):
        o.lines.append(ln)
    o('/* clang-format off */')
    o('#ifndef KMSG_KAFKA_MSGS_H')
    o('#define KMSG_KAFKA_MSGS_H')
    o()
    o('#include <stdbool.h>')
    o('#include <stddef.h>')
    o('#include <stdint.h>')
    o()
    o('#include "proto/kmsg.h"')
    o()
    apis = api_list(msgs)
    o('/* Api keys defined by the schemas. */')
    o.open('enum kmsg_api_key {')
    for key, name, _, _ in apis:
        o('KMSG_API_%s = %d,' % (snake(name).upper(), key))
    o.close('};')
    o()
    o('/* One row per api key: what the schemas define (not what the broker')
    o(' * advertises). The function pointers take the request/response struct of')
    o(' * that api as void *, for dispatch tables. */')
    o.open('struct kmsg_api {')
    o('int16_t api_key;')
    o('const char *name;              /* "Metadata", "ApiVersions", ... */')
    o('int16_t min_version;           /* validVersions of the request and response */')
    o('int16_t max_version;')
    o('int16_t first_flexible_version; /* -1: no flexible version */')
    o('size_t request_size;           /* sizeof the request struct */')
    o('size_t response_size;')
    o('void (*request_init)(void *msg);')
    o('void (*response_init)(void *msg);')
    o('int (*request_decode)(struct kmsg_reader *r, int16_t version, void *out,')
    o('\t\t      struct kmsg_arena *arena);')
    o('int (*request_encode)(struct kmsg_writer *w, int16_t version, const void *in);')
    o('int (*response_decode)(struct kmsg_reader *r, int16_t version, void *out,')
    o('\t\t       struct kmsg_arena *arena);')
    o('int (*response_encode)(struct kmsg_writer *w, int16_t version, const void *in);')
    o.close('};')
    o()
    o('#define KMSG_API_COUNT %d' % len(apis))
    o('/* Sorted by api key. */')
    o('extern const struct kmsg_api kmsg_apis[KMSG_API_COUNT];')
    o('/* Returns the row for api_key, or NULL if no schema defines it. */')
    o('const struct kmsg_api *kmsg_api_lookup(int16_t api_key);')
    o()
    for m in msgs:
        o('/* ' + '-' * 70 + ' */')
        up = m.snake.upper()
        o('#define KMSG_%s_VERSION_MIN %d' % (up, m.valid.lo))
        o('#define KMSG_%s_VERSION_MAX %d' % (up, m.valid.hi))
        o()
        for st in m.root.walk():
            gen_struct_decl(o, st)
        for st in m.root.walk():
            o('void kmsg_%s_init(%s *m);' % (st.snake, st.ctype))
        o('int kmsg_%s_decode(struct kmsg_reader *r, int16_t version, struct kmsg_%s *out,'
          % (m.snake, m.snake))
        o('\tstruct kmsg_arena *arena);')
        o('int kmsg_%s_encode(struct kmsg_writer *w, int16_t version, const struct kmsg_%s *in);'
          % (m.snake, m.snake))
        o()
    o('#endif /* KMSG_KAFKA_MSGS_H */')
    o.lines = fix_field_comments(o.lines)
    return o.text()


def api_list(msgs):
    """[(api_key, short name, request Message, response Message)] sorted by key."""
    by_key = {}
    for m in msgs:
        if m.api_key is None or m.type not in ('request', 'response'):
            continue
        by_key.setdefault(m.api_key, {})[m.type] = m
    out = []
    for key in sorted(by_key):
        pair = by_key[key]
        if 'request' not in pair or 'response' not in pair:
            raise SchemaError('api key %d lacks a request or response schema' % key)
        rq, rs = pair['request'], pair['response']
        if rq.valid != rs.valid or rq.flex != rs.flex:
            raise SchemaError('api key %d: request/response versions differ' % key)
        out.append((key, rq.short, rq, rs))
    return out


# ---------------------------------------------------------------------------
# Source: init, decode, encode


class FnSet:
    """Collects static functions of one message; prototypes are emitted first."""

    def __init__(self):
        self.protos = []
        self.bodies = []

    def add(self, proto, out):
        self.protos.append(proto + ';')
        self.bodies.append(out)


def finish_fn(o, params_unused):
    """Adds (void) casts for parameters the body never mentions, and drops an
    `int rc;` the body never assigns."""
    body = '\n'.join(o.lines[1:])
    if not re.search(r'\brc = ', body):
        o.lines = [ln for ln in o.lines if ln != '\tint rc;']
        body = '\n'.join(o.lines[1:])
    extra = []
    for p in params_unused:
        if not re.search(r'\b%s\b' % p, body):
            extra.append('\t(void)%s;' % p)
    if extra:
        # After the declarations, i.e. before the body's first blank line.
        at = o.lines.index('', 2) if '' in o.lines[2:] else 2
        o.lines[at:at] = extra
    return o


def gen_init(st):
    o = Out()
    fn_open(o, 'void kmsg_%s_init(%s *m)' % (st.snake, st.ctype))
    o('memset(m, 0, sizeof(*m));')
    for f in st.fields:
        lv = 'm->' + f.cname
        k = f.kind
        if k in INT_LIMITS and f.default != 0:
            o('%s = %s;' % (lv, c_int(k, f.default)))
        elif k == 'float64' and f.default != 0.0:
            o('%s = %r;' % (lv, f.default))
        elif k == 'bool' and f.default:
            o('%s = true;' % lv)
        elif k == 'string':
            if f.default is None:
                o('%s.null = true;' % lv)
            elif f.default != '':
                o('%s.ptr = %s;' % (lv, c_string_lit(f.default)))
                o('%s.len = %d;' % (lv, len(f.default.encode('utf-8'))))
        elif k in ('bytes', 'records', 'sarray', 'parray') and f.default is None:
            o('%s.null = true;' % lv)
        elif k == 'struct':
            o('kmsg_%s_init(&%s);' % (f.struct.snake, lv))
    o.close()
    return o


def decode_value(o, f, rng, lv):
    """Emits code decoding field f (within version range rng) into lvalue lv."""
    k = f.kind
    compact = compact_expr(f, rng)
    nullable = bool_expr(f.nullable, rng)
    if k in SCALARS:
        o('rc = kmsg__read_%s(r, &%s);' % (SCALAR_FN[k], lv))
        check(o)
    elif k == 'string':
        o('rc = kmsg__read_string(r, %s, %s, &%s);' % (compact, nullable, lv))
        check(o)
    elif k in ('bytes', 'records'):
        o('rc = kmsg__read_bytes(r, %s, %s, &%s);' % (compact, nullable, lv))
        check(o)
    elif k == 'struct':
        o('rc = decode_%s(r, version, &%s, arena);' % (f.struct.snake, lv))
        check(o)
    else:
        if k == 'sarray':
            vs = [v for v in range(rng.lo, min(rng.hi, f.owner.msg.valid.hi) + 1)]
            min_bytes = max(1, min(f.struct.min_wire_bytes(v) for v in vs))
        elif f.elem in SCALARS:
            min_bytes = SCALARS[f.elem][1]
        else:
            min_bytes = 1 if compact != 'false' else 2
        o.open('{')
        o('int32_t n;')
        o('rc = kmsg__read_array_len(r, %s, %s, %d, &n);' % (compact, nullable, min_bytes))
        check(o)
        if nullable != 'false':
            o.open('if (n < 0) {')
            o('%s.null = true;' % lv)
            o('n = 0;')
            o.close()
        elif f.has_null_member:
            o('%s.null = false;' % lv)
        o('%s.items = kmsg__arena_array(arena, n, sizeof(*%s.items), &rc);' % (lv, lv))
        check(o)
        o('%s.count = n;' % lv)
        o.open('for (int32_t i = 0; i < n; i++) {')
        el = '%s.items[i]' % lv
        if k == 'sarray':
            o('rc = decode_%s(r, version, &%s, arena);' % (f.struct.snake, el))
        elif f.elem in SCALARS:
            o('rc = kmsg__read_%s(r, &%s);' % (SCALAR_FN[f.elem], el))
        else:
            o('rc = kmsg__read_string(r, %s, false, &%s);' % (compact, el))
        check(o)
        o.close()
        o.close()


def encode_value(o, f, rng, lv):
    k = f.kind
    compact = compact_expr(f, rng)
    nullable = bool_expr(f.nullable, rng)
    if k in SCALARS:
        arg = ('&' + lv) if k == 'uuid' else lv
        o('rc = kmsg__write_%s(w, %s);' % (SCALAR_FN[k], arg))
        check(o)
    elif k == 'string':
        o('rc = kmsg__write_string(w, %s, %s, &%s);' % (compact, nullable, lv))
        check(o)
    elif k in ('bytes', 'records'):
        o('rc = kmsg__write_bytes(w, %s, %s, &%s);' % (compact, nullable, lv))
        check(o)
    elif k == 'struct':
        o('rc = encode_%s(w, version, &%s);' % (f.struct.snake, lv))
        check(o)
    else:
        isnull = ('%s.null' % lv) if f.has_null_member else 'false'
        o('rc = kmsg__write_array_len(w, %s, %s, %s, %s.count, %s.items != NULL);'
          % (compact, nullable, isnull, lv, lv))
        check(o)
        loop_n = '%s.count' % lv if isnull == 'false' else '(%s ? 0 : %s.count)' % (isnull, lv)
        o.open('for (int32_t i = 0; i < %s; i++) {' % loop_n)
        el = '%s.items[i]' % lv
        if k == 'sarray':
            o('rc = encode_%s(w, version, &%s);' % (f.struct.snake, el))
        elif f.elem == 'uuid':
            o('rc = kmsg__write_uuid(w, &%s);' % el)
        elif f.elem in SCALARS:
            o('rc = kmsg__write_%s(w, %s);' % (SCALAR_FN[f.elem], el))
        else:
            o('rc = kmsg__write_string(w, %s, false, &%s);' % (compact, el))
        check(o)
        o.close()


def fn_open(o, sig):
    o(sig)
    o('{')
    o.depth += 1


def gen_decode_struct(st, fns):
    ctx = st.ctx
    o = Out()
    sig = 'static int decode_%s(struct kmsg_reader *r, int16_t version, %s *out, ' \
          'struct kmsg_arena *arena)' % (st.snake, st.ctype)
    fn_open(o, sig)
    o('int rc;')
    o()
    o('kmsg_%s_init(out);' % st.snake)
    for f in st.fields:
        rr = f.regular_range(ctx)
        c = cond(rr, ctx)
        if c is None:
            continue
        if c:
            o.open('if (%s) {' % c)
        decode_value(o, f, rr, 'out->' + f.cname)
        if c:
            o.close()
    if st.has_tags:
        c = cond(st.msg.flex, ctx)
        if c:
            o.open('if (%s) {' % c)
        cb = ('decode_tag_%s' % st.snake) if st.known_tagged() else 'NULL'
        o('rc = kmsg__read_tags(r, version, out, arena, &out->unknown_tags, %s);' % cb)
        check(o)
        if c:
            o.close()
    o('return 0;')
    o.close()
    finish_fn(o, ['version', 'arena'])
    fns.add(sig, o)
    if st.known_tagged():
        gen_decode_tags(st, fns)


def gen_decode_tags(st, fns):
    tctx = st.flex_range
    o = Out()
    sig = 'static int decode_tag_%s(struct kmsg_reader *r, uint32_t tag, int16_t version, ' \
          'void *dst, struct kmsg_arena *arena)' % st.snake
    fn_open(o, sig)
    o('%s *out = dst;' % st.ctype)
    o('int rc;')
    o()
    o('switch (tag) {')
    for f in st.known_tagged():
        tr = f.tagged_range(st.ctx)
        o('case %d:' % f.tag)
        o.depth += 1
        c = cond(tr, tctx)
        if c:
            o.open('if (!(%s)) {' % c)
            o('return 0;')
            o.close()
        decode_value(o, f, tr, 'out->' + f.cname)
        o('return 1;')
        o.depth -= 1
    o('default:')
    o('\treturn 0;')
    o('}')
    o.close()
    finish_fn(o, ['version', 'arena'])
    fns.add(sig, o)


def gen_encode_struct(st, fns, need_isdef):
    ctx = st.ctx
    o = Out()
    sig = 'static int encode_%s(struct kmsg_writer *w, int16_t version, const %s *in)' % (
        st.snake, st.ctype)
    fn_open(o, sig)
    o('int rc;')
    o()
    for f in st.fields:
        lv = 'in->' + f.cname
        pc = cond(f.versions, ctx)
        if pc != '' and not f.ignorable:
            nd = nondefault_expr(f, lv)
            if f.kind == 'struct':
                need_isdef.add(f.struct)
            if pc is None:
                o.open('if (%s) {' % nd)
            else:
                o.open('if (!(%s) && %s) {' % (pc, nd))
            o('return KMSG_EUNSUPPORTED;')
            o.close()
        rr = f.regular_range(ctx)
        c = cond(rr, ctx)
        if c is None:
            continue
        if c:
            o.open('if (%s) {' % c)
        encode_value(o, f, rr, lv)
        if c:
            o.close()
    if st.has_tags:
        c = cond(st.msg.flex, ctx)
        if c:
            o.open('if (%s) {' % c)
        if st.known_tagged():
            o('rc = encode_tags_%s(w, version, in);' % st.snake)
        else:
            o('rc = kmsg__write_tags_unknown(w, &in->unknown_tags);')
        check(o)
        if c:
            o.close()
    o('return 0;')
    o.close()
    finish_fn(o, ['version'])
    fns.add(sig, o)
    if st.has_tags and st.known_tagged():
        gen_encode_tags(st, fns, need_isdef)


def gen_encode_tags(st, fns, need_isdef):
    tctx = st.flex_range
    o = Out()
    sig = 'static int encode_tags_%s(struct kmsg_writer *w, int16_t version, const %s *in)' % (
        st.snake, st.ctype)
    fn_open(o, sig)
    o('int rc;')
    o('int32_t u = 0;')
    o('size_t mark;')
    known = st.known_tagged()
    for f in known:
        c = cond(f.tagged_range(st.ctx), tctx)
        nd = nondefault_expr(f, 'in->' + f.cname)
        if f.kind == 'struct':
            need_isdef.add(f.struct)
        e = nd if c == '' else '(%s) && %s' % (c, nd)
        o('bool has%d = %s;' % (f.tag, e))
    o()
    o.open('if (in->unknown_tags.count < 0) {')
    o('return KMSG_EINVAL;')
    o.close()
    terms = ' + '.join('(has%d ? 1u : 0u)' % f.tag for f in known)
    o('rc = kmsg__write_uvarint(w, (uint32_t)in->unknown_tags.count + %s);' % terms)
    check(o)
    for f in known:
        o.open('if (has%d) {' % f.tag)
        o('rc = kmsg__write_unknown_tags_below(w, &in->unknown_tags, &u, %du);' % f.tag)
        check(o)
        o('rc = kmsg__write_tag_begin(w, %du, &mark);' % f.tag)
        check(o)
        encode_value(o, f, f.tagged_range(st.ctx), 'in->' + f.cname)
        o('rc = kmsg__write_tag_end(w, mark);')
        check(o)
        o.close()
    o('return kmsg__write_unknown_tags_rest(w, &in->unknown_tags, &u);')
    o.close()
    finish_fn(o, ['version'])
    fns.add(sig, o)


def gen_is_default(st, fns, need_isdef):
    o = Out()
    sig = 'static bool is_default_%s(const %s *m)' % (st.snake, st.ctype)
    fn_open(o, sig)
    for f in st.fields:
        if f.kind == 'struct':
            need_isdef.add(f.struct)
        o.open('if (%s) {' % nondefault_expr(f, 'm->' + f.cname))
        o('return false;')
        o.close()
    if st.has_tags:
        o('return m->unknown_tags.count == 0;')
    else:
        o('return true;')
    o.close()
    fns.add(sig, o)


def gen_source(msgs):
    o = Out()
    o('/* Kafka request/response codecs. GENERATED by proto/gen/kgen.py from')
    o(' * kafka-protocol/message/<Name>.json: do not edit. See proto/kafka_msgs.h. */')
    o('/* clang-format off */')
    o('#include <string.h>')
    o()
    o('#include "proto/kafka_msgs.h"')
    o()
    for m in msgs:
        fns = FnSet()
        need_isdef = set()
        inits = [gen_init(st) for st in m.root.walk()]
        for st in m.root.walk():
            gen_decode_struct(st, fns)
        for st in m.root.walk():
            gen_encode_struct(st, fns, need_isdef)
        done = set()
        order = []
        while True:
            todo = sorted((s for s in need_isdef if s.snake not in done), key=lambda s: s.snake)
            if not todo:
                break
            for s in todo:
                done.add(s.snake)
                order.append(s)
                gen_is_default(s, fns, need_isdef)
        o('/* ' + '=' * 70)
        o(' * %s (%s) */' % (m.name, m.fname))
        o()
        for p in fns.protos:
            o(p)
        o()
        for i in inits:
            o.lines.extend(i.lines)
            o()
        for b in fns.bodies:
            o.lines.extend(b.lines)
            o()
        lo, hi = m.valid.lo, m.valid.hi
        o('int kmsg_%s_decode(struct kmsg_reader *r, int16_t version, struct kmsg_%s *out,'
          % (m.snake, m.snake))
        o('\tstruct kmsg_arena *arena)')
        o('{')
        o.depth += 1
        o.open('if (version < %d || version > %d) {' % (lo, hi))
        o('return KMSG_EVERSION;')
        o.close()
        o('return decode_%s(r, version, out, arena);' % m.snake)
        o.close()
        o()
        o('int kmsg_%s_encode(struct kmsg_writer *w, int16_t version, const struct kmsg_%s *in)'
          % (m.snake, m.snake))
        o('{')
        o.depth += 1
        o.open('if (version < %d || version > %d) {' % (lo, hi))
        o('return KMSG_EVERSION;')
        o.close()
        o('size_t start = w->len;')
        o('int rc = encode_%s(w, version, in);' % m.snake)
        o.open('if (rc < 0) {')
        o('w->len = start;')
        o.close()
        o('return rc;')
        o.close()
        o()
    gen_api_table(o, msgs)
    return o.text()


def gen_api_table(o, msgs):
    apis = api_list(msgs)
    o('/* ' + '=' * 70)
    o(' * Api table */')
    o()
    for key, name, rq, rs in apis:
        for m in (rq, rs):
            s = m.snake
            o('static void init_%s_v(void *m)' % s)
            o('{')
            o('\tkmsg_%s_init(m);' % s)
            o('}')
            o()
            o('static int decode_%s_v(struct kmsg_reader *r, int16_t version, void *out,' % s)
            o('\tstruct kmsg_arena *arena)')
            o('{')
            o('\treturn kmsg_%s_decode(r, version, out, arena);' % s)
            o('}')
            o()
            o('static int encode_%s_v(struct kmsg_writer *w, int16_t version, const void *in)' % s)
            o('{')
            o('\treturn kmsg_%s_encode(w, version, in);' % s)
            o('}')
            o()
    o.open('const struct kmsg_api kmsg_apis[KMSG_API_COUNT] = {')
    for key, name, rq, rs in apis:
        ff = rq.flex.lo if not rq.flex.empty else -1
        o.open('{')
        o('.api_key = %d,' % key)
        o('.name = %s,' % c_string_lit(name))
        o('.min_version = %d,' % rq.valid.lo)
        o('.max_version = %d,' % rq.valid.hi)
        o('.first_flexible_version = %d,' % ff)
        o('.request_size = sizeof(struct kmsg_%s),' % rq.snake)
        o('.response_size = sizeof(struct kmsg_%s),' % rs.snake)
        o('.request_init = init_%s_v,' % rq.snake)
        o('.response_init = init_%s_v,' % rs.snake)
        o('.request_decode = decode_%s_v,' % rq.snake)
        o('.request_encode = encode_%s_v,' % rq.snake)
        o('.response_decode = decode_%s_v,' % rs.snake)
        o('.response_encode = encode_%s_v,' % rs.snake)
        o.close('},')
    o.close('};')
    o()
    o('const struct kmsg_api *kmsg_api_lookup(int16_t api_key)')
    o('{')
    o.depth += 1
    o('size_t lo = 0;')
    o('size_t hi = KMSG_API_COUNT;')
    o.open('while (lo < hi) {')
    o('size_t mid = lo + (hi - lo) / 2;')
    o.open('if (kmsg_apis[mid].api_key == api_key) {')
    o('return &kmsg_apis[mid];')
    o.close()
    o.open('if (kmsg_apis[mid].api_key < api_key) {')
    o('lo = mid + 1;')
    o.close('} else {')
    o.depth += 1
    o('hi = mid;')
    o.close()
    o.close()
    o('return NULL;')
    o.close()


# ---------------------------------------------------------------------------
# Test helpers: fill with non-default values, compare


FILL_INTRO = '''\
/* Test helpers for the Kafka codecs: fill every message with version-aware
 * values, compare two messages field by field. GENERATED by
 * proto/gen/kgen.py: do not edit. #included by tests/unit/test_kmsg.c only.
 *
 * fill_X(m, version, seed, arena) sets every field present in `version` to a
 * seed-derived value; seed % 4 picks a mode: 0 = non-default values and one
 * element per array, 1 = two elements and unknown tagged fields in flexible
 * versions, 2 = nulls where the version allows them and tagged fields left
 * at their default, 3 = everything default. Fields the version lacks keep
 * their defaults, so encode -> decode must give back an equal struct. */
/* clang-format off */
'''


def fill_value(o, f, kind, lv, jexpr):
    """Emits an assignment of a non-default scalar value to lv."""
    if kind in INT_LIMITS:
        ct = SCALARS[kind][0]
        d = f.default if f is not None else 0
        op = '-' if d > 0 else '+'
        o('%s = (%s)((int64_t)%s %s (int64_t)fv(seed, %s));' % (lv, ct, c_int(kind, d) if d != 0 else '0', op, jexpr))
    elif kind == 'float64':
        d = f.default if f is not None else 0.0
        o('%s = %r + (double)fv(seed, %s) + 0.5;' % (lv, d, jexpr))
    elif kind == 'bool':
        d = f.default if f is not None else False
        o('%s = %s;' % (lv, 'false' if d else 'true'))
    elif kind == 'uuid':
        o('fill_uuid(&%s, seed, %s);' % (lv, jexpr))
    elif kind == 'string':
        o('%s = fill_str(a, seed, %s);' % (lv, jexpr))
    elif kind in ('bytes', 'records'):
        o('%s = fill_bytes(a, seed, %s);' % (lv, jexpr))
    else:
        raise SchemaError(kind)


def gen_fill_struct(st):
    ctx = st.ctx
    o = Out()
    fn_open(o, 'static void fill_%s(%s *m, int16_t version, uint32_t seed, '
            'struct kmsg_arena *a)' % (st.snake, st.ctype))
    o('uint32_t mode = seed % 4;')
    o()
    o('kmsg_%s_init(m);' % st.snake)
    o.open('if (mode == 3) {')
    o('return;')
    o.close()
    for j, f in enumerate(st.fields):
        pr = f.present(ctx)
        c = cond(pr, ctx)
        if c is None:
            continue
        conds = []
        if c:
            conds.append('(%s)' % c)
        if f.tagged is not None:
            tr = f.tagged_range(ctx)
            tc = cond(tr, pr)
            # Tagged in (part of) the present range: mode 2 leaves it default.
            conds.append('!(mode == 2%s)' % ('' if tc == '' else ' && (%s)' % tc))
        if conds:
            o.open('if (%s) {' % ' && '.join(conds))
        lv = 'm->' + f.cname
        nullable = bool_expr(f.nullable, pr)
        k = f.kind
        if k in SCALARS or k in VARLEN:
            if k in VARLEN and nullable != 'false':
                o.open('if (mode == 2%s) {' % ('' if nullable == 'true' else ' && ' + nullable))
                o('%s = kmsg_str_null();' % lv if k == 'string' else
                  '%s.null = true;' % lv)
                if k != 'string':
                    o('%s.ptr = NULL;' % lv)
                    o('%s.len = 0;' % lv)
                o.close('} else {')
                o.depth += 1
                fill_value(o, f, k, lv, str(j))
                o.close()
            else:
                fill_value(o, f, k, lv, str(j))
        elif k == 'struct':
            o('fill_%s(&%s, version, seed, a);' % (f.struct.snake, lv))
        else:
            if nullable != 'false':
                o.open('if (mode == 2%s) {' % ('' if nullable == 'true' else ' && ' + nullable))
                o('%s.null = true;' % lv)
                o('%s.count = 0;' % lv)
                o('%s.items = NULL;' % lv)
                o.close('} else {')
                o.depth += 1
            if f.has_null_member:
                o('%s.null = false;' % lv)
            o('%s.count = mode == 0 ? 1 : 2;' % lv)
            o('%s.items = kmsg_arena_alloc(a, (size_t)%s.count * sizeof(*%s.items));' % (lv, lv, lv))
            o('ck_assert_ptr_nonnull(%s.items);' % lv)
            o.open('for (int32_t i = 0; i < %s.count; i++) {' % lv)
            el = '%s.items[i]' % lv
            if k == 'sarray':
                o('fill_%s(&%s, version, seed + 4u * (uint32_t)(i + 1), a);' % (f.struct.snake, el))
            else:
                fill_value(o, None, f.elem, el, '%d + (uint32_t)i' % j)
            o.close()
            if nullable != 'false':
                o.close()
        if conds:
            o.close()
    if st.has_tags:
        c = cond(st.msg.flex, ctx)
        top = max([f.tag for f in st.fields if f.tag is not None] + [0])
        o.open('if (mode == 1%s) {' % ('' if c == '' else ' && (%s)' % c))
        o('fill_unknown_tags(&m->unknown_tags, a, seed, %du);' % (top + 10))
        o.close()
    o.close()
    finish_fn(o, ['version', 'a'])
    return o


def gen_equal_struct(st):
    o = Out()
    fn_open(o, 'static bool equal_%s(const %s *x, const %s *y)' % (st.snake, st.ctype, st.ctype))
    for f in st.fields:
        a, b = 'x->' + f.cname, 'y->' + f.cname
        where = c_string_lit('%s.%s' % (st.kafka_name, f.name))
        k = f.kind
        if k == 'uuid':
            e = 'memcmp(&%s, &%s, sizeof(%s)) != 0' % (a, b, a)
        elif k in SCALARS:
            e = '%s != %s' % (a, b)
        elif k == 'string':
            e = '!str_eq(&%s, &%s)' % (a, b)
        elif k in ('bytes', 'records'):
            e = '!bytes_eq(&%s, &%s)' % (a, b)
        elif k == 'struct':
            e = '!equal_%s(&%s, &%s)' % (f.struct.snake, a, b)
        else:
            e = None
        if e is not None:
            o.open('if (%s) {' % e)
            o('return differ(%s);' % where)
            o.close()
            continue
        if f.has_null_member:
            o.open('if (%s.null != %s.null) {' % (a, b))
            o('return differ(%s);' % where)
            o.close()
        o.open('if (%s.count != %s.count) {' % (a, b))
        o('return differ(%s);' % where)
        o.close()
        o.open('for (int32_t i = 0; i < %s.count; i++) {' % a)
        ea, eb = a + '.items[i]', b + '.items[i]'
        if k == 'sarray':
            e = '!equal_%s(&%s, &%s)' % (f.struct.snake, ea, eb)
        elif f.elem == 'string':
            e = '!str_eq(&%s, &%s)' % (ea, eb)
        else:
            e = '%s != %s' % (ea, eb)
        o.open('if (%s) {' % e)
        o('return differ(%s);' % where)
        o.close()
        o.close()
    if st.has_tags:
        o.open('if (!tags_eq(&x->unknown_tags, &y->unknown_tags)) {')
        o('return differ(%s);' % c_string_lit(st.kafka_name + '.unknown_tags'))
        o.close()
    o('return true;')
    o.close()
    return o


def gen_fill(msgs):
    o = Out()
    o.lines.extend(FILL_INTRO.rstrip('\n').split('\n'))
    for m in msgs:
        for st in m.root.walk():
            o('static void fill_%s(%s *m, int16_t version, uint32_t seed, struct kmsg_arena *a);'
              % (st.snake, st.ctype))
            o('static bool equal_%s(const %s *x, const %s *y);' % (st.snake, st.ctype, st.ctype))
    o()
    for m in msgs:
        o('/* ---- %s */' % m.name)
        o()
        for st in m.root.walk():
            o.lines.extend(gen_fill_struct(st).lines)
            o()
            o.lines.extend(gen_equal_struct(st).lines)
            o()
        s = m.snake
        o('static void fill_%s_v(void *m, int16_t version, uint32_t seed, struct kmsg_arena *a)' % s)
        o('{')
        o('\tfill_%s(m, version, seed, a);' % s)
        o('}')
        o()
        o('static bool equal_%s_v(const void *x, const void *y)' % s)
        o('{')
        o('\treturn equal_%s(x, y);' % s)
        o('}')
        o()
        o('static int decode_%s_v(struct kmsg_reader *r, int16_t version, void *out,' % s)
        o('\tstruct kmsg_arena *arena)')
        o('{')
        o('\treturn kmsg_%s_decode(r, version, out, arena);' % s)
        o('}')
        o()
        o('static int encode_%s_v(struct kmsg_writer *w, int16_t version, const void *in)' % s)
        o('{')
        o('\treturn kmsg_%s_encode(w, version, in);' % s)
        o('}')
        o()
    o('/* Every message the schemas define, for table-driven tests. */')
    o.open('static const struct msg_case msg_cases[] = {')
    for m in msgs:
        s = m.snake
        o('{%s, %d, %d, sizeof(struct kmsg_%s), fill_%s_v, equal_%s_v, encode_%s_v, decode_%s_v},'
          % (c_string_lit(m.name), m.valid.lo, m.valid.hi, s, s, s, s, s))
    o.close('};')
    return o.text()


# ---------------------------------------------------------------------------


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('schema_dir')
    ap.add_argument('out_dir')
    ap.add_argument('--tests-dir', default=None,
                    help='where kmsg_fill.c goes (default OUT_DIR/../tests/unit if it exists)')
    ap.add_argument('--check', action='store_true',
                    help='write nothing; exit 1 if any output would change')
    args = ap.parse_args(argv)
    try:
        msgs = load_messages(args.schema_dir)
    except (SchemaError, ValueError, KeyError) as e:
        print('kgen: %s' % e, file=sys.stderr)
        return 2
    outputs = {
        os.path.join(args.out_dir, 'kafka_msgs.h'): gen_header(msgs),
        os.path.join(args.out_dir, 'kafka_msgs.c'): gen_source(msgs),
    }
    tests_dir = args.tests_dir
    if tests_dir is None:
        cand = os.path.join(args.out_dir, os.pardir, 'tests', 'unit')
        if os.path.isdir(cand):
            tests_dir = cand
    if tests_dir is not None:
        outputs[os.path.join(tests_dir, 'kmsg_fill.c')] = gen_fill(msgs)
    stale = []
    for path in sorted(outputs):
        data = outputs[path].encode('utf-8')
        try:
            with open(path, 'rb') as fp:
                old = fp.read()
        except OSError:
            old = None
        if old == data:
            continue
        stale.append(path)
        if not args.check:
            tmp = path + '.tmp'
            with open(tmp, 'wb') as fp:
                fp.write(data)
            os.replace(tmp, path)
    if args.check:
        for p in stale:
            print('kgen: %s is stale (re-run proto/gen/kgen.py)' % os.path.normpath(p),
                  file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        print('kgen: wrote %s' % os.path.normpath(p))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
