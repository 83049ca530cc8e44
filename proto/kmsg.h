/* kmsg: runtime of the generated Kafka request/response codecs (bounded reader, growable
 * writer, decode arena, errors, request/response header helpers). No I/O.
 *
 * The codecs themselves are generated into proto/kafka_msgs.{h,c} by
 * proto/gen/kgen.py from the Kafka JSON schemas; that header documents the
 * per-message API (kmsg_<name>_init/_decode/_encode) and the api table.
 *
 * Decoding: wrap the request bytes in a struct kmsg_reader and give the
 * decoder a struct kmsg_arena. Every read is bounds-checked; strings, bytes
 * and records in the decoded struct point INTO the input buffer (borrowed,
 * never copied), arrays and unknown tagged fields are allocated from the
 * arena. Counts are checked against the remaining input and against named
 * limits before anything is allocated, so a hostile length costs nothing.
 * Free everything at once with kmsg_arena_free() when done with the message.
 *
 * Encoding: append to a struct kmsg_writer (grows with sl_realloc up to its
 * max_bytes). A failed encode leaves the writer as it was.
 *
 * Errors are negative kmsg_err codes; kmsg_strerror()/kmsg_err_name() name
 * them. */
#ifndef KMSG_H
#define KMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KMSG_ERRORS(X)                                                                             \
	X(KMSG_OK, 0, "ok")                                                                        \
	X(KMSG_ETRUNC, -1, "input truncated")                                                      \
	X(KMSG_EMALFORMED, -2, "malformed input")                                                  \
	X(KMSG_ELIMIT, -3, "over a size or count limit")                                           \
	X(KMSG_ENOMEM, -4, "out of memory")                                                        \
	X(KMSG_EVERSION, -5, "version not defined by the schema")                                  \
	X(KMSG_EUNSUPPORTED, -6, "non-default value in a field this version lacks")                \
	X(KMSG_ENULL, -7, "null in a non-nullable field")                                          \
	X(KMSG_ETOOLONG, -8, "value too long for its wire encoding")                               \
	X(KMSG_EINVAL, -9, "invalid argument")

enum kmsg_err {
#define KMSG_ERR_ENUM(name, code, msg) name = (code),
	KMSG_ERRORS(KMSG_ERR_ENUM)
#undef KMSG_ERR_ENUM
};

/* Returns a static description of err ("unknown error" if not a kmsg_err). */
const char *kmsg_strerror(int err);
/* Returns the symbolic name of err ("KMSG_ETRUNC"), or "KMSG_E?" if unknown. */
const char *kmsg_err_name(int err);

/* ---- Limits ------------------------------------------------------------ */

/* Most elements one decoded array may have, whatever the input length. */
#define KMSG_ARRAY_COUNT_MAX (1 << 20)
/* Default limit on the bytes one arena hands out (decoded arrays and unknown
 * tagged fields); strings and bytes are borrowed and do not count. */
#define KMSG_ARENA_BYTES_MAX_DEFAULT ((size_t)64 << 20)
/* Default limit on the bytes one writer holds. */
#define KMSG_WRITER_BYTES_MAX_DEFAULT ((size_t)256 << 20)
/* Arena chunk size; bigger allocations get a chunk of their own. */
#define KMSG_ARENA_CHUNK_BYTES ((size_t)8192)

/* ---- Value types used by the generated structs ------------------------- */

/* A string: UTF-8, not NUL-terminated. null = true is the Kafka null string
 * (ptr and len are then ignored). Decoded strings borrow the input buffer. */
struct kmsg_str {
	const char *ptr;
	int32_t len;
	bool null;
};

/* A bytes or records field, same conventions as kmsg_str. */
struct kmsg_bytes {
	const uint8_t *ptr;
	int32_t len;
	bool null;
};

/* A UUID (16 raw bytes, network order). All zero is Kafka's zero UUID. */
struct kmsg_uuid {
	uint8_t bytes[16];
};

/* One tagged field this code does not know. data borrows from the input. */
struct kmsg_raw_tag {
	uint32_t tag;
	const uint8_t *data;
	uint32_t len;
};

/* Unknown tagged fields of one struct, in the order they were read. Encoders
 * write them back, merged by tag number with the known tagged fields. */
struct kmsg_tags {
	struct kmsg_raw_tag *items;
	int32_t count;
};

/* Returns a kmsg_str borrowing the NUL-terminated s (NULL gives null). */
static inline struct kmsg_str kmsg_str_make(const char *s)
{
	struct kmsg_str r = {s, 0, s == NULL};
	if (s != NULL) {
		r.len = (int32_t)strlen(s);
	}
	return r;
}

/* Returns the null string. */
static inline struct kmsg_str kmsg_str_null(void)
{
	struct kmsg_str r = {NULL, 0, true};
	return r;
}

/* Returns true if s is not null and equals the NUL-terminated c. */
static inline bool kmsg_str_eq(const struct kmsg_str *s, const char *c)
{
	size_t n = strlen(c);
	return !s->null && (size_t)s->len == n && (n == 0 || memcmp(s->ptr, c, n) == 0);
}

/* ---- Reader ------------------------------------------------------------ */

/* A bounded cursor over borrowed input: pos never passes len. */
struct kmsg_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

static inline void kmsg_reader_init(struct kmsg_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
}

static inline size_t kmsg_reader_remaining(const struct kmsg_reader *r)
{
	return r->len - r->pos;
}

/* ---- Writer ------------------------------------------------------------ */

/* A growable output buffer. buf[0..len) is the encoded data, owned by the
 * writer until kmsg_writer_take(). */
struct kmsg_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max_bytes;
};

/* Initialises an empty writer that refuses to grow past max_bytes
 * (KMSG_ELIMIT); 0 means KMSG_WRITER_BYTES_MAX_DEFAULT. Allocates nothing. */
void kmsg_writer_init(struct kmsg_writer *w, size_t max_bytes);
/* Empties the writer, keeping its buffer for reuse. */
void kmsg_writer_reset(struct kmsg_writer *w);
/* Frees the buffer; the writer is empty (and reusable) afterwards. */
void kmsg_writer_free(struct kmsg_writer *w);
/* Passes ownership of the buffer to the caller (sl_free it) and empties the
 * writer. Returns NULL, with *len = 0, when nothing was written. */
uint8_t *kmsg_writer_take(struct kmsg_writer *w, size_t *len);
/* Appends n raw bytes (copied). */
int kmsg_writer_append(struct kmsg_writer *w, const void *p, size_t n);
/* Starts a size-prefixed frame: appends a 4-byte placeholder and stores its
 * position in *mark. kmsg_writer_frame_end() fills in the number of bytes
 * written since (KMSG_ETOOLONG past INT32_MAX). */
int kmsg_writer_frame_begin(struct kmsg_writer *w, size_t *mark);
int kmsg_writer_frame_end(struct kmsg_writer *w, size_t mark);

/* ---- Arena ------------------------------------------------------------- */

struct kmsg__arena_chunk;

/* Bump allocator for decoded messages. Allocations are aligned for any type
 * and live until kmsg_arena_reset()/kmsg_arena_free(). */
struct kmsg_arena {
	struct kmsg__arena_chunk *chunks;
	size_t chunk_used; /* bytes used in chunks (the newest one) */
	size_t used_bytes; /* bytes handed out so far, counted against max_bytes */
	size_t max_bytes;
};

/* Initialises an empty arena handing out at most max_bytes in total (0 means
 * KMSG_ARENA_BYTES_MAX_DEFAULT). Allocates nothing. */
void kmsg_arena_init(struct kmsg_arena *a, size_t max_bytes);
/* Returns n zeroed bytes, or NULL if n would pass the limit or memory is
 * short. n == 0 returns NULL. */
void *kmsg_arena_alloc(struct kmsg_arena *a, size_t n);
/* Frees every allocation; the arena stays initialised with the same limit. */
void kmsg_arena_reset(struct kmsg_arena *a);
/* Same as kmsg_arena_reset (an arena owns nothing else). */
void kmsg_arena_free(struct kmsg_arena *a);

/* ---- Request and response headers -------------------------------------- */

struct kmsg_request_header;
struct kmsg_response_header;

/* The request header version a request of (api_key, api_version) uses: 2 for
 * flexible versions, else 1 (also for api keys no schema defines). The
 * flexible boundary is open-ended, so a version above the schema's max is
 * judged the same way: ApiVersions v4 from a newer client still has header v2.
 * (Header v0 only exists for ControlledShutdown v0, which we do not define.) */
int kmsg_request_header_version(int16_t api_key, int16_t api_version);
/* The response header version: 1 for flexible versions, else 0; always 0 for
 * ApiVersions (KIP-511: a client must be able to read the response header
 * before it knows which versions the broker speaks). */
int kmsg_response_header_version(int16_t api_key, int16_t api_version);

/* Reads a request header: peeks api key and version, picks the header
 * version as above, decodes. Unknown api keys decode as header v1 so the
 * caller still learns the correlation id. client_id borrows from r. */
int kmsg_request_header_read(struct kmsg_reader *r, struct kmsg_request_header *out,
			     struct kmsg_arena *arena);
/* Writes h with the header version its api key and version call for. */
int kmsg_request_header_write(struct kmsg_writer *w, const struct kmsg_request_header *h);
/* Reads the response header of a response to (api_key, api_version). */
int kmsg_response_header_read(struct kmsg_reader *r, int16_t api_key, int16_t api_version,
			      struct kmsg_response_header *out, struct kmsg_arena *arena);
/* Writes the response header for a response to (api_key, api_version). */
int kmsg_response_header_write(struct kmsg_writer *w, int16_t api_key, int16_t api_version,
			       int32_t correlation_id);

/* ---- Internal: used by the generated code ------------------------------ */

/* Reads: 0 or a negative kmsg_err; the reader never moves past its end. */
int kmsg__read_int8(struct kmsg_reader *r, int8_t *v);
int kmsg__read_int16(struct kmsg_reader *r, int16_t *v);
int kmsg__read_uint16(struct kmsg_reader *r, uint16_t *v);
int kmsg__read_int32(struct kmsg_reader *r, int32_t *v);
int kmsg__read_uint32(struct kmsg_reader *r, uint32_t *v);
int kmsg__read_int64(struct kmsg_reader *r, int64_t *v);
int kmsg__read_float64(struct kmsg_reader *r, double *v);
int kmsg__read_bool(struct kmsg_reader *r, bool *v);
int kmsg__read_uuid(struct kmsg_reader *r, struct kmsg_uuid *v);
int kmsg__read_uvarint(struct kmsg_reader *r, uint32_t *v);
/* compact: unsigned varint length + 1 (0 = null), else int16 (-1 = null). */
int kmsg__read_string(struct kmsg_reader *r, bool compact, bool nullable, struct kmsg_str *s);
/* compact: unsigned varint length + 1 (0 = null), else int32 (-1 = null). */
int kmsg__read_bytes(struct kmsg_reader *r, bool compact, bool nullable, struct kmsg_bytes *b);
/* Reads an array length; *n = -1 for null. Fails with KMSG_ETRUNC when
 * n * min_elem_bytes exceeds the remaining input, KMSG_ELIMIT past
 * KMSG_ARRAY_COUNT_MAX, before anything is allocated. */
int kmsg__read_array_len(struct kmsg_reader *r, bool compact, bool nullable, size_t min_elem_bytes,
			 int32_t *n);

/* Decodes known tagged field `tag` from r (exactly its bytes) into out.
 * Returns 1 if handled, 0 if unknown here, or a negative kmsg_err. */
typedef int (*kmsg__tag_fn)(struct kmsg_reader *r, uint32_t tag, int16_t version, void *out,
			    struct kmsg_arena *arena);
/* Reads a tagged-fields section: known tags go to fn (may be NULL), the
 * others are kept in *unknown. */
int kmsg__read_tags(struct kmsg_reader *r, int16_t version, void *out, struct kmsg_arena *arena,
		    struct kmsg_tags *unknown, kmsg__tag_fn fn);

/* Returns an array of n zeroed elements (NULL with *rc = 0 when n == 0), or
 * NULL with *rc < 0. */
void *kmsg__arena_array(struct kmsg_arena *a, int32_t n, size_t elem_bytes, int *rc);

int kmsg__write_int8(struct kmsg_writer *w, int8_t v);
int kmsg__write_int16(struct kmsg_writer *w, int16_t v);
int kmsg__write_uint16(struct kmsg_writer *w, uint16_t v);
int kmsg__write_int32(struct kmsg_writer *w, int32_t v);
int kmsg__write_uint32(struct kmsg_writer *w, uint32_t v);
int kmsg__write_int64(struct kmsg_writer *w, int64_t v);
int kmsg__write_float64(struct kmsg_writer *w, double v);
int kmsg__write_bool(struct kmsg_writer *w, bool v);
int kmsg__write_uuid(struct kmsg_writer *w, const struct kmsg_uuid *v);
int kmsg__write_uvarint(struct kmsg_writer *w, uint32_t v);
int kmsg__write_string(struct kmsg_writer *w, bool compact, bool nullable,
		       const struct kmsg_str *s);
int kmsg__write_bytes(struct kmsg_writer *w, bool compact, bool nullable,
		      const struct kmsg_bytes *b);
/* Writes an array length (null when is_null). has_items tells whether the
 * items pointer is non-NULL, to refuse count > 0 without items. */
int kmsg__write_array_len(struct kmsg_writer *w, bool compact, bool nullable, bool is_null,
			  int32_t count, bool has_items);
/* Known tagged field: tag_begin writes the tag and remembers where the value
 * starts; tag_end inserts the value's size in front of it. */
int kmsg__write_tag_begin(struct kmsg_writer *w, uint32_t tag, size_t *mark);
int kmsg__write_tag_end(struct kmsg_writer *w, size_t mark);
/* Writes unknown tags from *idx on while their tag is below `below`. */
int kmsg__write_unknown_tags_below(struct kmsg_writer *w, const struct kmsg_tags *t, int32_t *idx,
				   uint32_t below);
/* Writes the unknown tags from *idx to the end. */
int kmsg__write_unknown_tags_rest(struct kmsg_writer *w, const struct kmsg_tags *t, int32_t *idx);
/* A tagged-fields section holding only unknown tags: count, then each. */
int kmsg__write_tags_unknown(struct kmsg_writer *w, const struct kmsg_tags *t);

bool kmsg__uuid_is_zero(const struct kmsg_uuid *u);
/* True if s is not null and holds exactly c[0..n). */
bool kmsg__str_equals(const struct kmsg_str *s, const char *c, size_t n);

#endif /* KMSG_H */
