/* Bounds-checked big-endian byte cursors shared by the Raft message codec and
 * the transport's frame and hello parsing. Private to server/.
 *
 * The reader never reads past its end: a read that does not fit sets a sticky
 * `bad` flag and returns zero, so a parser can read a whole fixed-size block
 * and test the flag once, before it uses any value to size an allocation. The
 * writer is only ever used on buffers sized exactly beforehand, so running out
 * of room is a programmer error and asserts. */
#ifndef SL_SERVER_RPC_BYTES_H
#define SL_SERVER_RPC_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/sl_common.h"

struct sl__rd {
	const uint8_t *p; /* next unread byte */
	size_t left;	  /* bytes remaining */
	bool bad;	  /* a read ran past the end */
};

static inline void sl__rd_init(struct sl__rd *r, const void *buf, size_t len)
{
	r->p = buf;
	r->left = len;
	r->bad = false;
}

/* Returns a pointer to the next n bytes and consumes them, or NULL (and sets
 * bad) if fewer than n remain. */
static inline const uint8_t *sl__rd_bytes(struct sl__rd *r, size_t n)
{
	if (r->left < n) {
		r->bad = true;
		r->left = 0;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static inline uint8_t sl__rd_u8(struct sl__rd *r)
{
	const uint8_t *p = sl__rd_bytes(r, 1);
	return p == NULL ? 0 : p[0];
}

static inline uint16_t sl__rd_u16(struct sl__rd *r)
{
	const uint8_t *p = sl__rd_bytes(r, 2);
	return p == NULL ? 0 : (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t sl__get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t sl__get_be64(const uint8_t *p)
{
	return (uint64_t)sl__get_be32(p) << 32 | sl__get_be32(p + 4);
}

static inline uint32_t sl__rd_u32(struct sl__rd *r)
{
	const uint8_t *p = sl__rd_bytes(r, 4);
	return p == NULL ? 0 : sl__get_be32(p);
}

static inline uint64_t sl__rd_u64(struct sl__rd *r)
{
	const uint8_t *p = sl__rd_bytes(r, 8);
	return p == NULL ? 0 : sl__get_be64(p);
}

struct sl__wr {
	uint8_t *p;   /* next byte to write */
	uint8_t *end; /* one past the last writable byte */
};

static inline void sl__wr_init(struct sl__wr *w, void *buf, size_t len)
{
	w->p = buf;
	w->end = w->p + len;
}

static inline void sl__wr_bytes(struct sl__wr *w, const void *src, size_t n)
{
	SL_ASSERT((size_t)(w->end - w->p) >= n);
	if (n > 0) {
		memcpy(w->p, src, n);
	}
	w->p += n;
}

static inline void sl__wr_u8(struct sl__wr *w, uint8_t v)
{
	sl__wr_bytes(w, &v, 1);
}

static inline void sl__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void sl__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void sl__put_be64(uint8_t *p, uint64_t v)
{
	sl__put_be32(p, (uint32_t)(v >> 32));
	sl__put_be32(p + 4, (uint32_t)v);
}

static inline void sl__wr_u16(struct sl__wr *w, uint16_t v)
{
	uint8_t b[2];
	sl__put_be16(b, v);
	sl__wr_bytes(w, b, sizeof(b));
}

static inline void sl__wr_u32(struct sl__wr *w, uint32_t v)
{
	uint8_t b[4];
	sl__put_be32(b, v);
	sl__wr_bytes(w, b, sizeof(b));
}

static inline void sl__wr_u64(struct sl__wr *w, uint64_t v)
{
	uint8_t b[8];
	sl__put_be64(b, v);
	sl__wr_bytes(w, b, sizeof(b));
}

#endif /* SL_SERVER_RPC_BYTES_H */
