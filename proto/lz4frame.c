/* lz4 frames (Kafka compression codec 3) through liblz4's LZ4F API and sl_malloc. */
#define LZ4F_STATIC_LINKING_ONLY /* LZ4F_CustomMem: route liblz4's allocations */
#include <lz4frame.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

#include <string.h>

/* Compression writes what Kafka's Java producer and librdkafka write, the
 * form every Kafka consumer reads: independent 64 KB blocks, no content size,
 * no checksums beyond the header's. (Java's KafkaLZ4BlockInputStream refuses
 * linked blocks.)
 *
 * Decompression accepts any standard frame sequence. The output grows by
 * doubling up to max_out; a frame that would produce more is KP_ETOOLARGE,
 * found without ever holding more than max_out bytes. liblz4 decodes with
 * its bounds-checked decoder, so hostile input only ever yields an error. */

#define DECOMPRESS_INITIAL_CAP 4096

static void *lz4_alloc(void *state, size_t size)
{
	(void)state;
	return sl_malloc(size);
}

static void *lz4_calloc(void *state, size_t size)
{
	(void)state;
	return sl_calloc(1, size);
}

static void lz4_free(void *state, void *p)
{
	(void)state;
	sl_free(p);
}

static const LZ4F_CustomMem lz4_mem = {lz4_alloc, lz4_calloc, lz4_free, NULL};

static int map_lz4_error(size_t code)
{
	if (LZ4F_getErrorCode(code) == LZ4F_ERROR_allocation_failed) {
		return KP_ENOMEM;
	}
	return KP_ECORRUPT;
}

int kp__lz4_compress(const uint8_t *src, size_t len, size_t headroom, uint8_t **out,
		     size_t *out_len)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.autoFlush = 1;

	size_t bound = LZ4F_compressFrameBound(len, &prefs);
	if (LZ4F_isError(bound) || bound < len || bound > SIZE_MAX - headroom) {
		return KP_ETOOLARGE;
	}
	uint8_t *dst = sl_malloc(headroom + bound);
	if (dst == NULL) {
		return KP_ENOMEM;
	}
	LZ4F_cctx *cctx = LZ4F_createCompressionContext_advanced(lz4_mem, LZ4F_VERSION);
	if (cctx == NULL) {
		sl_free(dst);
		return KP_ENOMEM;
	}
	size_t n = LZ4F_compressFrame_usingCDict(cctx, dst + headroom, bound,
						 len > 0 ? (const void *)src : (const void *)dst,
						 len, NULL, &prefs);
	LZ4F_freeCompressionContext(cctx);
	if (LZ4F_isError(n)) {
		sl_free(dst);
		/* The bound rules out a short buffer: only memory can fail. */
		return LZ4F_getErrorCode(n) == LZ4F_ERROR_allocation_failed ? KP_ENOMEM : KP_EINVAL;
	}
	*out = dst;
	*out_len = headroom + n;
	return 0;
}

int kp_lz4_compress(const uint8_t *src, size_t len, uint8_t **out, size_t *out_len)
{
	return kp__lz4_compress(src, len, 0, out, out_len);
}

/* Output buffer of a decompression. */
struct sink {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;
};

/* Makes room for more output: doubles the buffer up to sink->max. Returns 0,
 * KP_ENOMEM, or KP_ETOOLARGE when the buffer is already at the limit. */
static int sink_grow(struct sink *s)
{
	if (s->cap >= s->max) {
		return KP_ETOOLARGE;
	}
	size_t cap = s->cap == 0 ? DECOMPRESS_INITIAL_CAP : s->cap * 2;
	if (cap > s->max || cap < s->cap) {
		cap = s->max;
	}
	uint8_t *p = sl_realloc(s->buf, cap);
	if (p == NULL) {
		return KP_ENOMEM;
	}
	s->buf = p;
	s->cap = cap;
	return 0;
}

/* Feeds src through dctx into s. Returns 0 when the input ended exactly at a
 * frame boundary, else a negative kp_err. */
static int decompress_frames(LZ4F_dctx *dctx, const uint8_t *src, size_t len, struct sink *s)
{
	size_t pos = 0;
	size_t hint = 1; /* non-zero while inside a frame */
	while (pos < len) {
		if (s->len == s->cap) {
			int rc = sink_grow(s);
			if (rc == KP_ETOOLARGE) {
				/* At the limit: more input is fine only while it
				 * yields no output (checksums, end marks). */
				uint8_t probe[1];
				size_t dn = sizeof(probe);
				size_t sn = len - pos;
				hint = LZ4F_decompress(dctx, probe, &dn, src + pos, &sn, NULL);
				if (LZ4F_isError(hint)) {
					return map_lz4_error(hint);
				}
				if (dn > 0) {
					return KP_ETOOLARGE;
				}
				if (sn == 0) {
					return KP_ECORRUPT; /* no progress */
				}
				pos += sn;
				continue;
			}
			if (rc != 0) {
				return rc;
			}
		}
		size_t dn = s->cap - s->len;
		size_t sn = len - pos;
		hint = LZ4F_decompress(dctx, s->buf + s->len, &dn, src + pos, &sn, NULL);
		if (LZ4F_isError(hint)) {
			return map_lz4_error(hint);
		}
		if (dn == 0 && sn == 0 && s->len < s->cap) {
			return KP_ECORRUPT; /* no progress with room to spare */
		}
		pos += sn;
		s->len += dn;
	}
	/* Input ending inside a frame is damage, not a partial read: the
	 * caller hands over a whole records section. */
	return hint == 0 ? 0 : KP_ECORRUPT;
}

int kp_lz4_decompress(const uint8_t *src, size_t len, size_t max_out, uint8_t **out,
		      size_t *out_len)
{
	if (len == 0) {
		return KP_ECORRUPT; /* not even one frame */
	}
	LZ4F_dctx *dctx = LZ4F_createDecompressionContext_advanced(lz4_mem, LZ4F_VERSION);
	if (dctx == NULL) {
		return KP_ENOMEM;
	}
	struct sink s = {NULL, 0, 0, max_out};
	/* Start near the likely size so most batches need no reallocation. */
	size_t guess = len > SIZE_MAX / 4 ? SIZE_MAX : len * 4;
	if (guess > DECOMPRESS_INITIAL_CAP) {
		s.cap = guess > max_out ? max_out : guess;
		s.buf = sl_malloc(s.cap);
		if (s.buf == NULL) {
			LZ4F_freeDecompressionContext(dctx);
			return KP_ENOMEM;
		}
	}
	int rc = decompress_frames(dctx, src, len, &s);
	LZ4F_freeDecompressionContext(dctx);
	if (rc != 0) {
		sl_free(s.buf);
		return rc;
	}
	if (s.buf == NULL) {
		/* Frames with no content: hand back a valid, empty buffer. */
		s.buf = sl_malloc(1);
		if (s.buf == NULL) {
			return KP_ENOMEM;
		}
	}
	*out = s.buf;
	*out_len = s.len;
	return 0;
}
