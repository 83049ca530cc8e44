/* proto: the Kafka wire formats shared by broker and client. No I/O.
 *
 * This header covers the record layer: CRC-32C, zigzag varints, RecordBatch
 * v2 (header parse/validate, record iteration, building) and lz4 frames (the
 * compression codec 3 of the records section). Request/response codecs for
 * the Kafka APIs live in proto/kafka_msgs.h (generated).
 *
 * RecordBatch v2 header (61 bytes, big-endian), see
 * ../shared/kafka-protocol/docs/implementation.html section 5.3:
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
 *   magic int8 (=2) | crc uint32 | attributes int16 | lastOffsetDelta int32 |
 *   baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
 *   producerEpoch int16 | baseSequence int32 | recordsCount int32 | records...
 * batchLength counts the bytes after the batchLength field. The CRC-32C covers
 * attributes .. end of batch, so baseOffset and partitionLeaderEpoch can be
 * rewritten without recomputing it.
 *
 * Errors are negative kp_err codes; kp_strerror()/kp_err_name() name them. */
#ifndef KP_PROTO_H
#define KP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KP_ERRORS(X)                                                           \
	X(KP_OK, 0, "ok")                                                        \
	X(KP_ETRUNC, -1, "input truncated")                                      \
	X(KP_ECORRUPT, -2, "corrupt data")                                       \
	X(KP_ECRC, -3, "CRC mismatch")                                           \
	X(KP_EMAGIC, -4, "unsupported record batch magic")                       \
	X(KP_ETOOLARGE, -5, "size over the configured limit")                    \
	X(KP_ENOMEM, -6, "out of memory")                                        \
	X(KP_ECODEC, -7, "unsupported compression codec")                        \
	X(KP_EINVAL, -8, "invalid argument")

enum kp_err {
#define KP_ERR_ENUM(name, code, msg) name = (code),
	KP_ERRORS(KP_ERR_ENUM)
#undef KP_ERR_ENUM
};

const char *kp_strerror(int err);
const char *kp_err_name(int err);

/* ---- CRC-32C (Castagnoli) ---------------------------------------------- */

/* Extends crc over buf. Start with crc = 0. Uses the SSE4.2 crc32
 * instruction when the CPU has it (detected once at run time), else a
 * slicing table. kp_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t kp_crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable table implementation, exposed so tests can compare both. */
uint32_t kp__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* ---- Varints (zigzag, as in protobuf / Kafka records) ------------------ */

/* Maximum encoded sizes. */
#define KP_VARINT_MAX 5
#define KP_VARLONG_MAX 10

/* Encode a zigzag varint/varlong into out (room for the max size); return
 * the number of bytes written. */
size_t kp_varint_encode(int32_t v, uint8_t *out);
size_t kp_varlong_encode(int64_t v, uint8_t *out);
/* Decode from buf[0..len). Return bytes consumed (> 0) or KP_ETRUNC /
 * KP_ECORRUPT (overlong encoding: more than the maximum size, or bits beyond
 * the type's width in the last byte). Non-minimal encodings within the
 * maximum size (0x80 0x00 for 0) are accepted, as Kafka's decoder accepts
 * them. */
int kp_varint_decode(const uint8_t *buf, size_t len, int32_t *out);
int kp_varlong_decode(const uint8_t *buf, size_t len, int64_t *out);
/* Unsigned (non-zigzag) varint, used by flexible protocol versions. */
size_t kp_uvarint_encode(uint32_t v, uint8_t *out);
int kp_uvarint_decode(const uint8_t *buf, size_t len, uint32_t *out);

/* ---- Big-endian helpers ------------------------------------------------ */
static inline uint16_t kp_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t kp_get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t kp_get_u64(const uint8_t *p)
{
	return ((uint64_t)kp_get_u32(p) << 32) | kp_get_u32(p + 4);
}
static inline void kp_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void kp_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void kp_put_u64(uint8_t *p, uint64_t v)
{
	kp_put_u32(p, (uint32_t)(v >> 32));
	kp_put_u32(p + 4, (uint32_t)v);
}

/* ---- RecordBatch v2 ---------------------------------------------------- */

#define KP_BATCH_HEADER_SIZE 61
/* Offset of batchLength, and bytes before the part counted by it. */
#define KP_BATCH_LENGTH_OFFSET 8
#define KP_BATCH_LOG_OVERHEAD 12
/* Byte offsets of header fields. */
#define KP_BATCH_OFF_BASE_OFFSET 0
#define KP_BATCH_OFF_LEADER_EPOCH 12
#define KP_BATCH_OFF_MAGIC 16
#define KP_BATCH_OFF_CRC 17
#define KP_BATCH_OFF_ATTRIBUTES 21
#define KP_BATCH_CRC_START 21

/* attributes bits */
#define KP_ATTR_CODEC_MASK 0x07 /* 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd */
#define KP_ATTR_TIMESTAMP_LOG_APPEND 0x08
#define KP_ATTR_TRANSACTIONAL 0x10
#define KP_ATTR_CONTROL 0x20

enum kp_codec { KP_CODEC_NONE = 0, KP_CODEC_GZIP = 1, KP_CODEC_SNAPPY = 2, KP_CODEC_LZ4 = 3, KP_CODEC_ZSTD = 4 };

/* Decoded batch header. */
struct kp_batch_header {
	int64_t base_offset;
	int32_t batch_length;       /* bytes after the batchLength field */
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

/* Total bytes of the batch (KP_BATCH_LOG_OVERHEAD + batch_length). */
static inline size_t kp_batch_size(const struct kp_batch_header *h)
{
	return (size_t)KP_BATCH_LOG_OVERHEAD + (size_t)h->batch_length;
}

/* Parses the 61-byte header at buf (len >= KP_BATCH_HEADER_SIZE, else
 * KP_ETRUNC). Checks magic == 2 (KP_EMAGIC), batch_length sane (>= 49, so
 * the header fits; else KP_ECORRUPT), records_count >= 0,
 * last_offset_delta >= 0 (else KP_ECORRUPT). Does not check the CRC or that
 * the whole batch is present. Whenever len >= KP_BATCH_HEADER_SIZE, *out
 * holds the raw fields even on KP_EMAGIC/KP_ECORRUPT (for error messages;
 * magic 0/1 message sets keep their size at the same offset). */
int kp_batch_parse_header(const uint8_t *buf, size_t len, struct kp_batch_header *out);

/* Full validation of one batch starting at buf: header as above, the whole
 * batch present in len (KP_ETRUNC otherwise), total size <= max_bytes
 * (KP_ETOOLARGE; max_bytes 0 = no limit), CRC-32C matches (KP_ECRC). The
 * size limit is checked before presence, so an oversized batch is refused
 * from its header alone. On success fills *out if out != NULL. Does not
 * decode records. */
int kp_batch_validate(const uint8_t *buf, size_t len, size_t max_bytes, struct kp_batch_header *out);

/* kp_batch_validate() without the CRC: for a batch whose CRC was verified
 * in this process since its bytes last changed (or that this process
 * built), so that each byte is CRC-checked once per process. */
int kp_batch_check_frame(const uint8_t *buf, size_t len, size_t max_bytes,
			 struct kp_batch_header *out);

/* Deep validation for data a broker accepts from a producer: kp_batch_validate
 * plus every record decodes (decompressing lz4 into scratch memory), the
 * number of records equals records_count, record offset deltas are
 * 0..records_count-1 in order and last_offset_delta == records_count-1
 * (so a batch with no records is refused). Codecs other than none and lz4
 * give KP_ECODEC; any inconsistency inside the batch gives KP_ECORRUPT. */
int kp_batch_validate_records(const uint8_t *buf, size_t len, size_t max_bytes);

/* Rewrites baseOffset and partitionLeaderEpoch in place (outside the CRC). */
void kp_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void kp_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/* One header of a record. Pointers borrow from the batch (or from the
 * iterator's decompression buffer). */
struct kp_header {
	const uint8_t *key;
	int32_t key_len;     /* key is a string; -1 never happens for header keys */
	const uint8_t *value;
	int32_t value_len;   /* -1 = null */
};

/* One decoded record. Pointers borrow until the iterator is advanced past the
 * batch or freed. */
struct kp_record {
	int64_t offset;      /* base_offset + offset_delta */
	int64_t timestamp;   /* base_timestamp + timestamp_delta; max_timestamp
			      * when the batch has KP_ATTR_TIMESTAMP_LOG_APPEND,
			      * as Kafka defines it */
	int8_t attributes;
	const uint8_t *key;
	int32_t key_len;     /* -1 = null */
	const uint8_t *value;
	int32_t value_len;   /* -1 = null */
	int32_t headers_count;
	const uint8_t *headers_raw; /* encoded headers, for kp_record_header() */
	size_t headers_raw_len;
};

/* Upper bound on the decompressed records section of one lz4 batch
 * (iteration and kp_batch_validate_records give KP_ETOOLARGE beyond it). Kafka
 * clients cap a producer batch at about 1 MB before compression. */
#define KP_RECORDS_DECOMPRESSED_MAX ((size_t)64 << 20)

/* Iterates the records of one batch, decompressing lz4 when needed. */
struct kp_record_iter {
	struct kp_batch_header hdr;
	const uint8_t *pos;
	const uint8_t *end;
	uint8_t *decompressed; /* owned, sl_free'd by kp_record_iter_free */
	int32_t index;
};

/* Starts iterating the batch at buf[0..len) (must be one whole, validated
 * batch; the CRC is not rechecked, but hostile contents only ever give an
 * error). Returns 0 or a negative kp_err; on error nothing needs freeing
 * (kp_record_iter_free is still safe). Offset deltas are not required to be
 * dense: compacted batches have gaps. */
int kp_record_iter_init(struct kp_record_iter *it, const uint8_t *batch, size_t len);
/* Returns 1 and fills *rec, 0 at the end, or a negative kp_err (KP_ECORRUPT
 * when the records do not match records_count or the records section). */
int kp_record_iter_next(struct kp_record_iter *it, struct kp_record *rec);
void kp_record_iter_free(struct kp_record_iter *it);
/* Decodes header i (0-based) of rec. Returns 0, KP_EINVAL when i is not in
 * 0..headers_count-1, or another negative kp_err. */
int kp_record_header(const struct kp_record *rec, int32_t i, struct kp_header *out);

/* Builds one RecordBatch v2 in memory. Usage: init, add records, finish,
 * then the bytes are in b->buf[0..b->len) (owned by the builder until
 * kp_batch_builder_free; kp_batch_builder_take passes ownership). */
struct kp_batch_builder {
	uint8_t *buf;        /* header space + uncompressed records */
	size_t len;
	size_t cap;
	int64_t base_offset;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int32_t count;
	int16_t attributes;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	bool finished;
};

/* codec is KP_CODEC_NONE or KP_CODEC_LZ4. producer_id -1 / epoch -1 /
 * sequence -1 for a non-idempotent producer. */
int kp_batch_builder_init(struct kp_batch_builder *b, int64_t base_offset, enum kp_codec codec,
			  int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);
/* Marks the batch as a control batch (attributes bit 5). */
void kp_batch_builder_set_control(struct kp_batch_builder *b);
/* Appends a record; key/value may be NULL (null; a length of -1 also means
 * null, other negative lengths are KP_EINVAL). headers may be NULL when
 * n_headers is 0; header keys are not nullable, header values are like
 * values. Copies everything. Offset delta = current count. The first record's
 * timestamp becomes baseTimestamp. On error the builder is unchanged. */
int kp_batch_builder_add(struct kp_batch_builder *b, int64_t timestamp, const void *key,
			 int32_t key_len, const void *value, int32_t value_len,
			 const struct kp_header *headers, int32_t n_headers);
/* Compresses if asked, fills the header (partitionLeaderEpoch -1, to be set
 * on append) and the CRC. Returns 0 or an error: KP_EINVAL for a batch with
 * no records (not a valid producer batch) or a second finish; on error the
 * builder is unchanged, so finish may be retried after KP_ENOMEM. */
int kp_batch_builder_finish(struct kp_batch_builder *b);
/* Passes ownership of the finished batch bytes to the caller (sl_free them).
 * Returns NULL before a successful finish. */
uint8_t *kp_batch_builder_take(struct kp_batch_builder *b, size_t *len);
void kp_batch_builder_free(struct kp_batch_builder *b);

/* CRC-32C of one record's content as a consumer sees it: its timestamp,
 * attributes, key, value and headers (lengths included, null distinct from
 * empty), but not its position (offset) in a batch. A record keeps its value
 * through kp_batch_merge(). */
uint32_t kp_record_crc(const struct kp_record *rec);

/* ---- Merging batches --------------------------------------------------- */

/* Whether a batch with header h may be merged with others: magic 2, no
 * producer id (-1: neither idempotent nor transactional), not transactional,
 * not a control batch, codec none or lz4 (the codecs this layer can
 * re-encode). */
bool kp_batch_mergeable(const struct kp_batch_header *h);

/* Whether a batch with header b may follow one with header a inside one
 * merged batch: both mergeable, the same codec and timestamp type, and with
 * log-append time the same maxTimestamp (the time every record takes). */
bool kp_batch_merge_compatible(const struct kp_batch_header *a, const struct kp_batch_header *b);

/* Merges n (>= 1) batches, each one whole CRC-valid batch of lens[i] bytes
 * that kp_batch_merge_compatible() accepts after batches[0], into one
 * RecordBatch v2 that holds every record in order. Each record's bytes are
 * kept as they are except its offsetDelta (renumbered from 0 across the
 * merged batch) and timestampDelta (rewritten relative to the first batch's
 * baseTimestamp, so every record keeps its timestamp), and the length
 * prefix that covers them. The records are recompressed when the batches
 * are lz4. The header takes the first batch's attributes, producer epoch and
 * base sequence; baseOffset 0 and partitionLeaderEpoch -1 (set on append);
 * lastOffsetDelta, recordsCount, maxTimestamp (the highest record
 * timestamp, or the common one with log-append time) and the CRC are
 * computed.
 *
 * Every source batch must have dense offset deltas 0..recordsCount-1 with
 * lastOffsetDelta = recordsCount-1, so that its records keep their relative
 * offsets; anything else (or any record that does not decode) gives
 * KP_ECORRUPT. A merged batch above max_bytes (0: no limit), or whose
 * decompressed records would exceed KP_RECORDS_DECOMPRESSED_MAX, gives
 * KP_ETOOLARGE. Incompatible batches give KP_EINVAL, out of memory
 * KP_ENOMEM. On success *out (sl_malloc'd) passes to the caller with its
 * length in *out_len; the sources are only read. */
int kp_batch_merge(const uint8_t *const *batches, const size_t *lens, unsigned n, size_t max_bytes,
		   uint8_t **out, size_t *out_len);

/* ---- lz4 frames -------------------------------------------------------- */

/* Compresses src into one lz4 frame (the form Kafka uses for codec 3:
 * independent 64 KB blocks, no content size, no content checksum).
 * *out is sl_malloc'd; ownership passes to the caller on success. */
int kp_lz4_compress(const uint8_t *src, size_t len, uint8_t **out, size_t *out_len);
/* Decompresses one or more concatenated lz4 frames, with or without content
 * size and content checksum, block checksums, linked or independent blocks.
 * Output is limited to max_out bytes (KP_ETOOLARGE past it). *out is
 * sl_malloc'd (ownership passes on success; never NULL then, even for empty
 * output). Empty input, damaged frames, and input ending inside a frame give
 * KP_ECORRUPT. */
int kp_lz4_decompress(const uint8_t *src, size_t len, size_t max_out, uint8_t **out,
		      size_t *out_len);

#endif /* KP_PROTO_H */
