/* RecordBatch v2: header parse/validate, record iteration, batch building, error names. */
#include "common/sl_common.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

#include <string.h>

/* Hostile input is the normal case here (producers, peers, disks): every
 * length and count read from a batch is checked against the bytes that remain
 * before it is used, and arithmetic on values read from the wire wraps in
 * unsigned types instead of overflowing. Inside a batch that is present in
 * full, anything inconsistent is KP_ECORRUPT; KP_ETRUNC only ever means the
 * caller's buffer ends before the batch does. */

/* Smallest batchLength: the header after the batchLength field. */
#define BATCH_LENGTH_MIN    (KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD)
#define BUILDER_INITIAL_CAP 512

/* ---- errors ------------------------------------------------------------ */

const char *kp_strerror(int err)
{
	switch (err) {
#define KP_ERR_MSG(name, code, msg)                                                                \
	case (code):                                                                               \
		return (msg);
		KP_ERRORS(KP_ERR_MSG)
#undef KP_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *kp_err_name(int err)
{
	switch (err) {
#define KP_ERR_NAME(name, code, msg)                                                               \
	case (code):                                                                               \
		return #name;
		KP_ERRORS(KP_ERR_NAME)
#undef KP_ERR_NAME
	default:
		return "KP_UNKNOWN";
	}
}

/* ---- header ------------------------------------------------------------ */

int kp_batch_parse_header(const uint8_t *buf, size_t len, struct kp_batch_header *out)
{
	if (len < KP_BATCH_HEADER_SIZE) {
		return KP_ETRUNC;
	}
	struct kp_batch_header h;
	h.base_offset = (int64_t)kp_get_u64(buf + KP_BATCH_OFF_BASE_OFFSET);
	h.batch_length = (int32_t)kp_get_u32(buf + KP__OFF_BATCH_LENGTH);
	h.partition_leader_epoch = (int32_t)kp_get_u32(buf + KP_BATCH_OFF_LEADER_EPOCH);
	h.magic = (int8_t)buf[KP_BATCH_OFF_MAGIC];
	h.crc = kp_get_u32(buf + KP_BATCH_OFF_CRC);
	h.attributes = (int16_t)kp_get_u16(buf + KP_BATCH_OFF_ATTRIBUTES);
	h.last_offset_delta = (int32_t)kp_get_u32(buf + KP__OFF_LAST_OFFSET_DELTA);
	h.base_timestamp = (int64_t)kp_get_u64(buf + KP__OFF_BASE_TIMESTAMP);
	h.max_timestamp = (int64_t)kp_get_u64(buf + KP__OFF_MAX_TIMESTAMP);
	h.producer_id = (int64_t)kp_get_u64(buf + KP__OFF_PRODUCER_ID);
	h.producer_epoch = (int16_t)kp_get_u16(buf + KP__OFF_PRODUCER_EPOCH);
	h.base_sequence = (int32_t)kp_get_u32(buf + KP__OFF_BASE_SEQUENCE);
	h.records_count = (int32_t)kp_get_u32(buf + KP__OFF_RECORDS_COUNT);
	*out = h;
	if (h.magic != 2) {
		return KP_EMAGIC;
	}
	if (h.batch_length < BATCH_LENGTH_MIN || h.records_count < 0 || h.last_offset_delta < 0) {
		return KP_ECORRUPT;
	}
	return 0;
}

int kp_batch_check_frame(const uint8_t *buf, size_t len, size_t max_bytes,
			 struct kp_batch_header *out)
{
	struct kp_batch_header h;
	int rc = kp_batch_parse_header(buf, len, &h);
	if (rc != 0) {
		return rc;
	}
	size_t size = kp_batch_size(&h);
	/* The limit first: it is known from the header alone, so a reader can
	 * refuse an oversized batch without waiting for all of it. */
	if (max_bytes != 0 && size > max_bytes) {
		return KP_ETOOLARGE;
	}
	if (len < size) {
		return KP_ETRUNC;
	}
	if (out != NULL) {
		*out = h;
	}
	return 0;
}

int kp_batch_validate(const uint8_t *buf, size_t len, size_t max_bytes, struct kp_batch_header *out)
{
	struct kp_batch_header h;
	int rc = kp_batch_check_frame(buf, len, max_bytes, &h);
	if (rc != 0) {
		return rc;
	}
	uint32_t crc = kp_crc32c(0, buf + KP_BATCH_CRC_START, kp_batch_size(&h) - KP_BATCH_CRC_START);
	if (crc != h.crc) {
		return KP_ECRC;
	}
	if (out != NULL) {
		*out = h;
	}
	return 0;
}

void kp_batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
	kp_put_u64(batch + KP_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void kp_batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
	kp_put_u32(batch + KP_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

/* ---- record decoding --------------------------------------------------- */

/* A bounded read position. */
struct cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static size_t cursor_left(const struct cursor *c)
{
	return (size_t)(c->end - c->p);
}

static int read_varint(struct cursor *c, int32_t *v)
{
	int n = kp_varint_decode(c->p, cursor_left(c), v);
	if (n < 0) {
		return KP_ECORRUPT;
	}
	c->p += n;
	return 0;
}

static int read_varlong(struct cursor *c, int64_t *v)
{
	int n = kp_varlong_decode(c->p, cursor_left(c), v);
	if (n < 0) {
		return KP_ECORRUPT;
	}
	c->p += n;
	return 0;
}

/* Reads a varint length then that many bytes; -1 is null when nullable. */
static int read_bytes(struct cursor *c, bool nullable, const uint8_t **data, int32_t *len)
{
	int rc = read_varint(c, len);
	if (rc != 0) {
		return rc;
	}
	if (*len < 0) {
		if (*len == -1 && nullable) {
			*data = NULL;
			return 0;
		}
		return KP_ECORRUPT;
	}
	if ((size_t)*len > cursor_left(c)) {
		return KP_ECORRUPT;
	}
	*data = c->p;
	c->p += *len;
	return 0;
}

static int read_header(struct cursor *c, struct kp_header *h)
{
	int rc = read_bytes(c, false, &h->key, &h->key_len);
	if (rc != 0) {
		return rc;
	}
	return read_bytes(c, true, &h->value, &h->value_len);
}

static int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* Decodes the record body in c (exactly one record's bytes) into rec. */
static int decode_body(struct cursor *c, const struct kp_batch_header *h, struct kp_record *rec)
{
	if (cursor_left(c) < 1) {
		return KP_ECORRUPT;
	}
	rec->attributes = (int8_t)*c->p++;
	int64_t ts_delta;
	int32_t offset_delta;
	int rc = read_varlong(c, &ts_delta);
	if (rc == 0) {
		rc = read_varint(c, &offset_delta);
	}
	if (rc == 0) {
		rc = read_bytes(c, true, &rec->key, &rec->key_len);
	}
	if (rc == 0) {
		rc = read_bytes(c, true, &rec->value, &rec->value_len);
	}
	if (rc == 0) {
		rc = read_varint(c, &rec->headers_count);
	}
	if (rc != 0) {
		return rc;
	}
	if (rec->headers_count < 0) {
		return KP_ECORRUPT;
	}
	rec->headers_raw = c->p;
	for (int32_t i = 0; i < rec->headers_count; i++) {
		struct kp_header hdr;
		rc = read_header(c, &hdr);
		if (rc != 0) {
			return rc;
		}
	}
	if (c->p != c->end) {
		return KP_ECORRUPT; /* the length promised more than the fields hold */
	}
	rec->headers_raw_len = (size_t)(c->end - rec->headers_raw);
	rec->offset = add_wrap(h->base_offset, offset_delta);
	/* Kafka: with log-append time every record carries the batch's time. */
	if ((h->attributes & KP_ATTR_TIMESTAMP_LOG_APPEND) != 0) {
		rec->timestamp = h->max_timestamp;
	} else {
		rec->timestamp = add_wrap(h->base_timestamp, ts_delta);
	}
	return 0;
}

int kp_record_iter_init(struct kp_record_iter *it, const uint8_t *batch, size_t len)
{
	memset(it, 0, sizeof(*it));
	int rc = kp_batch_parse_header(batch, len, &it->hdr);
	if (rc != 0) {
		return rc;
	}
	size_t size = kp_batch_size(&it->hdr);
	if (len < size) {
		return KP_ETRUNC;
	}
	const uint8_t *records = batch + KP_BATCH_HEADER_SIZE;
	size_t records_len = size - KP_BATCH_HEADER_SIZE;
	int codec = it->hdr.attributes & KP_ATTR_CODEC_MASK;
	if (records_len == 0 || codec == KP_CODEC_NONE) {
		/* No records section (an emptied, compacted batch) needs no codec. */
		it->pos = records;
		it->end = records + records_len;
		return 0;
	}
	if (codec != KP_CODEC_LZ4) {
		return KP_ECODEC;
	}
	size_t out_len;
	rc = kp_lz4_decompress(records, records_len, KP_RECORDS_DECOMPRESSED_MAX, &it->decompressed,
			       &out_len);
	if (rc != 0) {
		it->decompressed = NULL;
		return rc;
	}
	it->pos = it->decompressed;
	it->end = it->decompressed + out_len;
	return 0;
}

int kp_record_iter_next(struct kp_record_iter *it, struct kp_record *rec)
{
	if (it->index >= it->hdr.records_count) {
		/* Bytes beyond the declared records are damage, not padding. */
		return it->pos == it->end ? 0 : KP_ECORRUPT;
	}
	struct cursor c = {it->pos, it->end};
	int32_t body_len;
	int rc = read_varint(&c, &body_len);
	if (rc != 0) {
		return rc; /* includes fewer records than declared */
	}
	if (body_len < 0 || (size_t)body_len > cursor_left(&c)) {
		return KP_ECORRUPT;
	}
	struct cursor body = {c.p, c.p + body_len};
	struct kp_record r;
	rc = decode_body(&body, &it->hdr, &r);
	if (rc != 0) {
		return rc;
	}
	*rec = r;
	it->pos = body.end;
	it->index++;
	return 1;
}

void kp_record_iter_free(struct kp_record_iter *it)
{
	sl_free(it->decompressed);
	it->decompressed = NULL;
	it->pos = NULL;
	it->end = NULL;
}

int kp_record_header(const struct kp_record *rec, int32_t i, struct kp_header *out)
{
	if (i < 0 || i >= rec->headers_count) {
		return KP_EINVAL;
	}
	struct cursor c = {rec->headers_raw, rec->headers_raw + rec->headers_raw_len};
	struct kp_header h;
	for (int32_t k = 0; k <= i; k++) {
		int rc = read_header(&c, &h);
		if (rc != 0) {
			return rc;
		}
	}
	*out = h;
	return 0;
}

/* ---- deep validation --------------------------------------------------- */

int kp_batch_validate_records(const uint8_t *buf, size_t len, size_t max_bytes)
{
	struct kp_batch_header h;
	int rc = kp_batch_validate(buf, len, max_bytes, &h);
	if (rc != 0) {
		return rc;
	}
	int codec = h.attributes & KP_ATTR_CODEC_MASK;
	if (codec != KP_CODEC_NONE && codec != KP_CODEC_LZ4) {
		return KP_ECODEC;
	}
	/* Checked before decompressing: cheap, and rules out empty batches. */
	if (h.last_offset_delta != h.records_count - 1) {
		return KP_ECORRUPT;
	}
	struct kp_record_iter it;
	rc = kp_record_iter_init(&it, buf, len);
	if (rc != 0) {
		return rc;
	}
	struct kp_record rec;
	int64_t expect = 0;
	while ((rc = kp_record_iter_next(&it, &rec)) == 1) {
		/* Invert the wrapping addition to recover the offset delta. */
		int64_t delta = (int64_t)((uint64_t)rec.offset - (uint64_t)h.base_offset);
		if (delta != expect) {
			rc = KP_ECORRUPT;
			break;
		}
		expect++;
	}
	kp_record_iter_free(&it);
	/* The iterator ends (0) only after records_count records that used up
	 * the records section exactly. */
	return rc;
}

/* ---- builder ----------------------------------------------------------- */

int kp_batch_builder_init(struct kp_batch_builder *b, int64_t base_offset, enum kp_codec codec,
			  int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
	memset(b, 0, sizeof(*b));
	if (codec != KP_CODEC_NONE && codec != KP_CODEC_LZ4) {
		return KP_ECODEC;
	}
	b->buf = sl_malloc(BUILDER_INITIAL_CAP);
	if (b->buf == NULL) {
		return KP_ENOMEM;
	}
	b->cap = BUILDER_INITIAL_CAP;
	b->len = KP_BATCH_HEADER_SIZE;
	b->base_offset = base_offset;
	b->attributes = (int16_t)codec;
	b->producer_id = producer_id;
	b->producer_epoch = producer_epoch;
	b->base_sequence = base_sequence;
	return 0;
}

void kp_batch_builder_set_control(struct kp_batch_builder *b)
{
	b->attributes = (int16_t)(b->attributes | KP_ATTR_CONTROL);
}

static size_t varint_size(int32_t v)
{
	uint8_t tmp[KP_VARINT_MAX];
	return kp_varint_encode(v, tmp);
}

static size_t varlong_size(int64_t v)
{
	uint8_t tmp[KP_VARLONG_MAX];
	return kp_varlong_encode(v, tmp);
}

/* Encoded size of a length-prefixed field (len -1 = null). */
static uint64_t field_size(int32_t len)
{
	return varint_size(len) + (len > 0 ? (uint64_t)len : 0);
}

/* Normalises a caller's (pointer, length) pair: NULL or -1 means null. */
static int norm_len(const void *p, int32_t len, int32_t *out)
{
	if (p == NULL || len == -1) {
		*out = -1;
		return 0;
	}
	if (len < 0) {
		return KP_EINVAL;
	}
	*out = len;
	return 0;
}

/* Checks the headers and adds their encoded size to *size. */
static int headers_size(const struct kp_header *headers, int32_t n, uint64_t *size)
{
	if (n < 0 || (n > 0 && headers == NULL)) {
		return KP_EINVAL;
	}
	*size += varint_size(n);
	for (int32_t i = 0; i < n; i++) {
		const struct kp_header *h = &headers[i];
		int32_t vlen;
		if (h->key_len < 0 || (h->key == NULL && h->key_len > 0) ||
		    norm_len(h->value, h->value_len, &vlen) != 0) {
			return KP_EINVAL;
		}
		*size += field_size(h->key_len) + field_size(vlen);
		if (*size > INT32_MAX) {
			return KP_ETOOLARGE;
		}
	}
	return 0;
}

/* Makes room for need more bytes. */
static int builder_reserve(struct kp_batch_builder *b, size_t need)
{
	if (b->cap - b->len >= need) {
		return 0;
	}
	size_t cap = b->cap;
	while (cap - b->len < need) {
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	}
	uint8_t *p = sl_realloc(b->buf, cap);
	if (p == NULL) {
		return KP_ENOMEM;
	}
	b->buf = p;
	b->cap = cap;
	return 0;
}

static void put_field(uint8_t **w, const void *data, int32_t len)
{
	*w += kp_varint_encode(len, *w);
	if (len > 0) {
		memcpy(*w, data, (size_t)len);
		*w += len;
	}
}

/* Writes one record whose body is body_len bytes at the end of b->buf. */
static void write_record(struct kp_batch_builder *b, uint32_t body_len, int64_t ts_delta,
			 const void *key, int32_t key_len, const void *value, int32_t value_len,
			 const struct kp_header *headers, int32_t n_headers)
{
	uint8_t *w = b->buf + b->len;
	w += kp_varint_encode((int32_t)body_len, w);
	*w++ = 0; /* record attributes: unused */
	w += kp_varlong_encode(ts_delta, w);
	w += kp_varint_encode(b->count, w);
	put_field(&w, key, key_len);
	put_field(&w, value, value_len);
	w += kp_varint_encode(n_headers, w);
	for (int32_t i = 0; i < n_headers; i++) {
		int32_t vlen = -1;
		(void)norm_len(headers[i].value, headers[i].value_len, &vlen);
		put_field(&w, headers[i].key, headers[i].key_len);
		put_field(&w, headers[i].value, vlen);
	}
	b->len = (size_t)(w - b->buf);
}

int kp_batch_builder_add(struct kp_batch_builder *b, int64_t timestamp, const void *key,
			 int32_t key_len, const void *value, int32_t value_len,
			 const struct kp_header *headers, int32_t n_headers)
{
	if (b->finished || b->buf == NULL) {
		return KP_EINVAL;
	}
	if (b->count == INT32_MAX) {
		return KP_ETOOLARGE;
	}
	int32_t klen, vlen;
	if (norm_len(key, key_len, &klen) != 0 || norm_len(value, value_len, &vlen) != 0) {
		return KP_EINVAL;
	}
	int64_t base_ts = b->count == 0 ? timestamp : b->base_timestamp;
	int64_t ts_delta = (int64_t)((uint64_t)timestamp - (uint64_t)base_ts);
	uint64_t body = 1 + varlong_size(ts_delta) + varint_size(b->count) + field_size(klen) +
			field_size(vlen);
	int rc = headers_size(headers, n_headers, &body);
	if (rc != 0) {
		return rc;
	}
	uint64_t total = varint_size((int32_t)SL_MIN(body, (uint64_t)INT32_MAX)) + body;
	/* batchLength (an int32) counts everything after the first 12 bytes. */
	if (body > INT32_MAX || total > (uint64_t)INT32_MAX + KP_BATCH_LOG_OVERHEAD - b->len) {
		return KP_ETOOLARGE;
	}
	rc = builder_reserve(b, (size_t)total);
	if (rc != 0) {
		return rc;
	}
	write_record(b, (uint32_t)body, ts_delta, key, klen, value, vlen, headers, n_headers);
	if (b->count == 0) {
		b->base_timestamp = timestamp;
		b->max_timestamp = timestamp;
	} else if (timestamp > b->max_timestamp) {
		b->max_timestamp = timestamp;
	}
	b->count++;
	return 0;
}

void kp__batch_write_header(uint8_t *buf, size_t len, const struct kp_batch_header *h)
{
	kp_put_u64(buf + KP_BATCH_OFF_BASE_OFFSET, (uint64_t)h->base_offset);
	kp_put_u32(buf + KP__OFF_BATCH_LENGTH, (uint32_t)(len - KP_BATCH_LOG_OVERHEAD));
	kp_put_u32(buf + KP_BATCH_OFF_LEADER_EPOCH, (uint32_t)h->partition_leader_epoch);
	buf[KP_BATCH_OFF_MAGIC] = 2;
	kp_put_u16(buf + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)h->attributes);
	kp_put_u32(buf + KP__OFF_LAST_OFFSET_DELTA, (uint32_t)h->last_offset_delta);
	kp_put_u64(buf + KP__OFF_BASE_TIMESTAMP, (uint64_t)h->base_timestamp);
	kp_put_u64(buf + KP__OFF_MAX_TIMESTAMP, (uint64_t)h->max_timestamp);
	kp_put_u64(buf + KP__OFF_PRODUCER_ID, (uint64_t)h->producer_id);
	kp_put_u16(buf + KP__OFF_PRODUCER_EPOCH, (uint16_t)h->producer_epoch);
	kp_put_u32(buf + KP__OFF_BASE_SEQUENCE, (uint32_t)h->base_sequence);
	kp_put_u32(buf + KP__OFF_RECORDS_COUNT, (uint32_t)h->records_count);
	uint32_t crc = kp_crc32c(0, buf + KP_BATCH_CRC_START, len - KP_BATCH_CRC_START);
	kp_put_u32(buf + KP_BATCH_OFF_CRC, crc);
}

static void write_header(struct kp_batch_builder *b)
{
	struct kp_batch_header h = {
		.base_offset = b->base_offset,
		.partition_leader_epoch = -1, /* assigned on append */
		.attributes = b->attributes,
		.last_offset_delta = b->count - 1,
		.base_timestamp = b->base_timestamp,
		.max_timestamp = b->max_timestamp,
		.producer_id = b->producer_id,
		.producer_epoch = b->producer_epoch,
		.base_sequence = b->base_sequence,
		.records_count = b->count,
	};
	kp__batch_write_header(b->buf, b->len, &h);
}

int kp_batch_builder_finish(struct kp_batch_builder *b)
{
	if (b->finished || b->buf == NULL || b->count == 0) {
		return KP_EINVAL;
	}
	if ((b->attributes & KP_ATTR_CODEC_MASK) == KP_CODEC_LZ4) {
		uint8_t *z;
		size_t z_len;
		int rc =
		    kp__lz4_compress(b->buf + KP_BATCH_HEADER_SIZE, b->len - KP_BATCH_HEADER_SIZE,
				     KP_BATCH_HEADER_SIZE, &z, &z_len);
		if (rc != 0) {
			return rc;
		}
		if (z_len - KP_BATCH_LOG_OVERHEAD > INT32_MAX) {
			sl_free(z);
			return KP_ETOOLARGE;
		}
		sl_free(b->buf);
		b->buf = z;
		b->len = z_len;
		b->cap = z_len;
	}
	write_header(b);
	b->finished = true;
	return 0;
}

uint8_t *kp_batch_builder_take(struct kp_batch_builder *b, size_t *len)
{
	if (!b->finished || b->buf == NULL) {
		return NULL;
	}
	uint8_t *p = b->buf;
	*len = b->len;
	b->buf = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void kp_batch_builder_free(struct kp_batch_builder *b)
{
	sl_free(b->buf);
	b->buf = NULL;
	b->len = 0;
	b->cap = 0;
}
