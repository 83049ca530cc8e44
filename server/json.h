/* The bounded, growable byte buffer that admin responses and metric scrapes
 * are built in (struct sd_buf), and a small streaming JSON writer on top of it
 * (struct sd_json) for /v1/status and other admin endpoints.
 *
 * Errors are sticky: the first failure (out of memory, the buffer's byte
 * limit, nesting deeper than SD_JSON_DEPTH_MAX) is remembered in the buffer or
 * writer, later writes do nothing, and the caller checks once at the end.
 * Misuse that only a programming error can cause (a value where an object
 * expects a key, closing an array that is not open) trips SL_ASSERT.
 * Nothing here is thread-safe; each object belongs to one thread. */
#ifndef SD_SERVER_JSON_H
#define SD_SERVER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes of sd_buf and sd_json, negative, from -500 down (other server/
 * modules use other ranges). The X-macro feeds the enum, sd_json_strerror()
 * and sd_json_err_name(). */
#define SD_JSON_ERRORS(X)                                                                          \
	X(SD_JSON_ENOMEM, -500, "out of memory")                                                   \
	X(SD_JSON_ETOOBIG, -501, "output exceeds the buffer's byte limit")                         \
	X(SD_JSON_EDEPTH, -502, "JSON nesting deeper than SD_JSON_DEPTH_MAX")                      \
	X(SD_JSON_EOPEN, -503, "JSON document has unclosed objects or arrays")

enum sd_json_error {
#define SD_JSON_ERR_ENUM(name, value, text) name = (value),
	SD_JSON_ERRORS(SD_JSON_ERR_ENUM)
#undef SD_JSON_ERR_ENUM
};

/* Returns a static description of an SD_JSON_* code ("success" for 0,
 * "unknown error" otherwise). Never returns NULL. */
const char *sd_json_strerror(int err);

/* Returns the static symbolic name of an SD_JSON_* code ("SD_JSON_ENOMEM"),
 * "0" for success or "SD_JSON_UNKNOWN". Never returns NULL. */
const char *sd_json_err_name(int err);

/* ---- byte buffer -------------------------------------------------------- */

/* A growable byte buffer that never holds more than max bytes. data is
 * always NUL-terminated when not NULL (the NUL is not counted in len and not
 * in max). Fields are readable; change them only through the functions. */
struct sd_buf {
	char *data; /* owned; NULL until the first append */
	size_t len; /* bytes written */
	size_t cap; /* bytes allocated, excluding the NUL */
	size_t max; /* byte limit */
	int err;    /* 0 or the first SD_JSON_ENOMEM / SD_JSON_ETOOBIG */
};

/* Initializes an empty buffer that may grow to max bytes. Allocates nothing. */
void sd_buf_init(struct sd_buf *b, size_t max);

/* Releases the buffer's memory and leaves it empty and error-free (it may be
 * reused). */
void sd_buf_free(struct sd_buf *b);

/* Empties the buffer and clears its error, keeping its memory. */
void sd_buf_reset(struct sd_buf *b);

/* Appends n bytes from p (copied). Returns 0 or the sticky error; on error
 * the buffer's contents are unchanged. */
int sd_buf_append(struct sd_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string (copied). Same returns as sd_buf_append(). */
int sd_buf_puts(struct sd_buf *b, const char *s);

/* Appends printf-style formatted text. Same returns as sd_buf_append(). */
int sd_buf_printf(struct sd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for n more bytes and returns where they go, or NULL on error
 * (sticky as above). The caller writes at most n bytes there and then calls
 * sd_buf_commit() with how many it wrote. */
char *sd_buf_reserve(struct sd_buf *b, size_t n);

/* Marks n reserved bytes as written (n must not exceed the last reserve). */
void sd_buf_commit(struct sd_buf *b, size_t n);

/* ---- JSON writer -------------------------------------------------------- */

/* Deepest nesting of objects and arrays the writer accepts. */
#define SD_JSON_DEPTH_MAX 32

/* A streaming JSON writer. Values are separated and keys quoted
 * automatically: inside an object, call sd_json_key() before every value (or
 * use the sd_json_kv_* shortcuts). Strings are escaped per RFC 8259: quote,
 * backslash and control characters are escaped, and bytes that are not valid
 * UTF-8 become U+FFFD, so the output is always valid UTF-8 JSON. */
struct sd_json {
	struct sd_buf *buf; /* borrowed for the writer's life */
	int depth;
	bool in_object[SD_JSON_DEPTH_MAX]; /* per level: object (true) or array */
	bool has_items[SD_JSON_DEPTH_MAX]; /* per level: a comma is due */
	bool after_key;			   /* a key was written, its value is due */
	bool done;			   /* a complete top-level value was written */
	int err;			   /* sticky: 0 or SD_JSON_EDEPTH */
};

/* Starts a writer appending one JSON document to buf (borrowed). */
void sd_json_init(struct sd_json *j, struct sd_buf *buf);

void sd_json_object_begin(struct sd_json *j);
void sd_json_object_end(struct sd_json *j);
void sd_json_array_begin(struct sd_json *j);
void sd_json_array_end(struct sd_json *j);

/* Writes an object key (copied and escaped); the next call writes its value. */
void sd_json_key(struct sd_json *j, const char *key);

/* Writes a string value (copied and escaped); NULL writes null. */
void sd_json_str(struct sd_json *j, const char *s);
/* Writes a string value of n bytes that need not be NUL-terminated. */
void sd_json_strn(struct sd_json *j, const char *s, size_t n);
void sd_json_int(struct sd_json *j, int64_t v);
void sd_json_uint(struct sd_json *j, uint64_t v);
/* Writes a number with up to 17 significant digits; NaN and infinities,
 * which JSON cannot express, are written as null. */
void sd_json_double(struct sd_json *j, double v);
void sd_json_bool(struct sd_json *j, bool v);
void sd_json_null(struct sd_json *j);

/* Shortcuts: key then value. */
void sd_json_kv_str(struct sd_json *j, const char *key, const char *s);
void sd_json_kv_int(struct sd_json *j, const char *key, int64_t v);
void sd_json_kv_uint(struct sd_json *j, const char *key, uint64_t v);
void sd_json_kv_double(struct sd_json *j, const char *key, double v);
void sd_json_kv_bool(struct sd_json *j, const char *key, bool v);

/* Finishes the document. Returns 0 if one complete value was written and the
 * buffer holds it, else the first error: the buffer's (SD_JSON_ENOMEM,
 * SD_JSON_ETOOBIG), SD_JSON_EDEPTH, or SD_JSON_EOPEN when objects or arrays
 * are still open or nothing was written. */
int sd_json_finish(struct sd_json *j);

/* Appends s (n bytes) to b as a quoted, escaped JSON string, as sd_json_str()
 * does. Returns 0 or the buffer's sticky error. */
int sd_json_quote(struct sd_buf *b, const char *s, size_t n);

/* Returns the length of the longest prefix of s (n bytes) that is valid
 * UTF-8 up to the first invalid sequence, and stores in *bad the length of
 * that invalid sequence (0 when all of s is valid). Shared by the JSON and
 * Prometheus escapers. */
size_t sd_utf8_valid_prefix(const char *s, size_t n, size_t *bad);

#endif /* SD_SERVER_JSON_H */
