/* RecordBatch v2 merging: many small producer batches become one batch, each
 * record re-encoded only where its position changes (offsetDelta,
 * timestampDelta and the length prefix); kp_record_crc() for comparing
 * records across batches.
 *
 * The sources are trusted to be whole and CRC-valid (the caller validated
 * them), but their records are decoded defensively all the same: anything
 * inconsistent gives KP_ECORRUPT and the caller keeps the batches apart. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

/* A record grows by at most this much when re-encoded: timestampDelta up to
 * 10 bytes instead of at least 1, offsetDelta up to 5 instead of at least 1,
 * and a length prefix up to 5 instead of at least 1. */
#define RECORD_GROWTH_MAX ((KP_VARLONG_MAX - 1) + (KP_VARINT_MAX - 1) + (KP_VARINT_MAX - 1))

static void crc_u64(uint32_t *crc, uint64_t v)
{
	uint8_t b[8];
	kp_put_u64(b, v);
	*crc = kp_crc32c(*crc, b, sizeof(b));
}

static void crc_bytes(uint32_t *crc, const uint8_t *p, int32_t len)
{
	uint8_t b[4];
	kp_put_u32(b, (uint32_t)len);
	*crc = kp_crc32c(*crc, b, sizeof(b));
	if (len > 0) {
		*crc = kp_crc32c(*crc, p, (size_t)len);
	}
}

uint32_t kp_record_crc(const struct kp_record *rec)
{
	uint32_t crc = 0;
	uint8_t attr = (uint8_t)rec->attributes;
	crc_u64(&crc, (uint64_t)rec->timestamp);
	crc = kp_crc32c(crc, &attr, 1);
	crc_bytes(&crc, rec->key, rec->key_len);
	crc_bytes(&crc, rec->value, rec->value_len);
	crc_u64(&crc, (uint64_t)(uint32_t)rec->headers_count);
	crc_bytes(&crc, rec->headers_raw, (int32_t)rec->headers_raw_len);
	return crc;
}

bool kp_batch_mergeable(const struct kp_batch_header *h)
{
	int codec = h->attributes & KP_ATTR_CODEC_MASK;
	return h->magic == 2 && h->producer_id == -1 &&
	       (h->attributes & (KP_ATTR_TRANSACTIONAL | KP_ATTR_CONTROL)) == 0 &&
	       (codec == KP_CODEC_NONE || codec == KP_CODEC_LZ4);
}

bool kp_batch_merge_compatible(const struct kp_batch_header *a, const struct kp_batch_header *b)
{
	const int16_t same = KP_ATTR_CODEC_MASK | KP_ATTR_TIMESTAMP_LOG_APPEND;
	if (!kp_batch_mergeable(a) || !kp_batch_mergeable(b) ||
	    (a->attributes & same) != (b->attributes & same)) {
		return false;
	}
	return (a->attributes & KP_ATTR_TIMESTAMP_LOG_APPEND) == 0 ||
	       a->max_timestamp == b->max_timestamp;
}

/* One source batch's records section, uncompressed. */
struct src {
	struct kp_batch_header h;
	const uint8_t *recs;
	size_t len;
	uint8_t *owned; /* decompressed copy, or NULL */
};

static int src_open(struct src *s, const uint8_t *batch, size_t len)
{
	memset(s, 0, sizeof(*s));
	int rc = kp_batch_parse_header(batch, len, &s->h);
	if (rc != 0) {
		return rc;
	}
	size_t size = kp_batch_size(&s->h);
	if (size != len || s->h.records_count < 1 ||
	    s->h.last_offset_delta != s->h.records_count - 1) {
		return KP_ECORRUPT;
	}
	s->recs = batch + KP_BATCH_HEADER_SIZE;
	s->len = size - KP_BATCH_HEADER_SIZE;
	if ((s->h.attributes & KP_ATTR_CODEC_MASK) == KP_CODEC_LZ4) {
		rc = kp_lz4_decompress(s->recs, s->len, KP_RECORDS_DECOMPRESSED_MAX, &s->owned,
				       &s->len);
		if (rc != 0) {
			s->owned = NULL;
			return rc;
		}
		s->recs = s->owned;
	}
	return 0;
}

/* Where the output records go, and what the header will say. */
struct dst {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int32_t count;
	int64_t base_ts;
	int64_t max_ts;
	bool log_append;
};

/* Re-encodes every record of s after those already in d. */
static int copy_records(struct dst *d, const struct src *s)
{
	const uint8_t *p = s->recs, *end = s->recs + s->len;
	for (int32_t i = 0; i < s->h.records_count; i++) {
		int32_t body_len, off_delta;
		int64_t ts_delta;
		int n = kp_varint_decode(p, (size_t)(end - p), &body_len);
		if (n < 0 || body_len < 1 || (size_t)body_len > (size_t)(end - p) - (size_t)n) {
			return KP_ECORRUPT;
		}
		const uint8_t *body = p + n, *body_end = body + body_len, *q = body + 1;
		n = kp_varlong_decode(q, (size_t)(body_end - q), &ts_delta);
		if (n < 0) {
			return KP_ECORRUPT;
		}
		q += n;
		n = kp_varint_decode(q, (size_t)(body_end - q), &off_delta);
		if (n < 0 || off_delta != i) {
			return KP_ECORRUPT;
		}
		q += n;
		if (d->count == INT32_MAX) {
			return KP_ETOOLARGE;
		}
		/* Wrapping arithmetic: hostile timestamps must not overflow. */
		int64_t ts = (int64_t)((uint64_t)s->h.base_timestamp + (uint64_t)ts_delta);
		int64_t new_delta = (int64_t)((uint64_t)ts - (uint64_t)d->base_ts);
		uint8_t mid[1 + KP_VARLONG_MAX + KP_VARINT_MAX];
		size_t mid_len = 0;
		mid[mid_len++] = *body; /* record attributes */
		mid_len += kp_varlong_encode(new_delta, mid + mid_len);
		mid_len += kp_varint_encode(d->count, mid + mid_len);
		size_t tail_len = (size_t)(body_end - q);
		size_t new_body = mid_len + tail_len;
		if (new_body > INT32_MAX || d->cap - d->len < KP_VARINT_MAX + new_body) {
			return KP_ETOOLARGE; /* cannot happen within RECORD_GROWTH_MAX */
		}
		d->len += kp_varint_encode((int32_t)new_body, d->buf + d->len);
		memcpy(d->buf + d->len, mid, mid_len);
		memcpy(d->buf + d->len + mid_len, q, tail_len);
		d->len += new_body;
		if (!d->log_append && (d->count == 0 || ts > d->max_ts)) {
			d->max_ts = ts;
		}
		d->count++;
		p = body_end;
	}
	return p == end ? 0 : KP_ECORRUPT;
}

/* Room for every source's records re-encoded, after a header. */
static int dst_reserve(struct dst *d, const struct src *srcs, unsigned n)
{
	size_t total = KP_BATCH_HEADER_SIZE;
	for (unsigned i = 0; i < n; i++) {
		size_t grow = (size_t)srcs[i].h.records_count * RECORD_GROWTH_MAX;
		if (srcs[i].len > KP_RECORDS_DECOMPRESSED_MAX || grow > KP_RECORDS_DECOMPRESSED_MAX) {
			return KP_ETOOLARGE;
		}
		total += srcs[i].len + grow;
		if (total > KP_RECORDS_DECOMPRESSED_MAX + (size_t)KP_BATCH_HEADER_SIZE) {
			return KP_ETOOLARGE;
		}
	}
	d->buf = sl_malloc(total);
	if (d->buf == NULL) {
		return KP_ENOMEM;
	}
	d->cap = total;
	d->len = KP_BATCH_HEADER_SIZE;
	return 0;
}

/* Compresses the records after the header when the codec asks for it and
 * writes the header. On success d->buf[0..d->len) is the batch. */
static int dst_finish(struct dst *d, const struct kp_batch_header *first, size_t max_bytes)
{
	if (d->len - KP_BATCH_HEADER_SIZE > KP_RECORDS_DECOMPRESSED_MAX) {
		return KP_ETOOLARGE;
	}
	if ((first->attributes & KP_ATTR_CODEC_MASK) == KP_CODEC_LZ4) {
		uint8_t *z;
		size_t z_len;
		int rc = kp__lz4_compress(d->buf + KP_BATCH_HEADER_SIZE,
					  d->len - KP_BATCH_HEADER_SIZE, KP_BATCH_HEADER_SIZE, &z,
					  &z_len);
		if (rc != 0) {
			return rc;
		}
		sl_free(d->buf);
		d->buf = z;
		d->len = d->cap = z_len;
	}
	if ((max_bytes != 0 && d->len > max_bytes) ||
	    d->len - KP_BATCH_LOG_OVERHEAD > (size_t)INT32_MAX) {
		return KP_ETOOLARGE;
	}
	struct kp_batch_header h = *first;
	h.base_offset = 0;
	h.partition_leader_epoch = -1; /* assigned on append */
	h.last_offset_delta = d->count - 1;
	h.base_timestamp = d->base_ts;
	h.max_timestamp = d->max_ts;
	h.records_count = d->count;
	kp__batch_write_header(d->buf, d->len, &h);
	return 0;
}

int kp_batch_merge(const uint8_t *const *batches, const size_t *lens, unsigned n, size_t max_bytes,
		   uint8_t **out, size_t *out_len)
{
	if (n == 0) {
		return KP_EINVAL;
	}
	struct src *srcs = sl_calloc(n, sizeof(*srcs));
	if (srcs == NULL) {
		return KP_ENOMEM;
	}
	struct dst d = {0};
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = src_open(&srcs[i], batches[i], lens[i]);
		if (rc == 0 && !kp_batch_merge_compatible(&srcs[0].h, &srcs[i].h)) {
			rc = KP_EINVAL;
		}
	}
	if (rc == 0) {
		rc = dst_reserve(&d, srcs, n);
	}
	d.base_ts = srcs[0].h.base_timestamp;
	d.log_append = (srcs[0].h.attributes & KP_ATTR_TIMESTAMP_LOG_APPEND) != 0;
	d.max_ts = srcs[0].h.max_timestamp;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = copy_records(&d, &srcs[i]);
	}
	if (rc == 0) {
		rc = dst_finish(&d, &srcs[0].h, max_bytes);
	}
	for (unsigned i = 0; i < n; i++) {
		sl_free(srcs[i].owned); /* NULL when not opened */
	}
	sl_free(srcs);
	if (rc != 0) {
		sl_free(d.buf);
		return rc;
	}
	*out = d.buf;
	*out_len = d.len;
	return 0;
}
