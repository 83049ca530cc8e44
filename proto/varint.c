/* Zigzag varints/varlongs and unsigned varints, as in protobuf and Kafka records. */
#include "proto/proto.h"

/* Non-minimal encodings (0x80 0x00 for 0) are accepted, as Kafka's own
 * ByteUtils.readVarint accepts them: the broker must not reject a batch that a
 * Kafka broker would store. What is rejected is anything that cannot be an
 * int32/int64: more bytes than the maximum size, or bits beyond the width in
 * the last byte. */

static size_t put_u64(uint64_t v, uint8_t *out)
{
	size_t n = 0;
	while (v >= 0x80u) {
		out[n++] = (uint8_t)(v | 0x80u);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* Decodes an unsigned varint of at most width bits (32 or 64) from
 * buf[0..len). Returns bytes consumed, KP_ETRUNC or KP_ECORRUPT. */
static int get_u64(const uint8_t *buf, size_t len, unsigned width, uint64_t *out)
{
	size_t max_bytes = (width + 6) / 7;
	uint64_t v = 0;
	for (size_t i = 0; i < max_bytes; i++) {
		if (i >= len) {
			return KP_ETRUNC;
		}
		uint64_t b = buf[i];
		unsigned shift = (unsigned)(7 * i);
		if (i == max_bytes - 1) {
			/* Last possible byte: no continuation, no bits past the width. */
			if ((b & 0x80u) != 0 || (b >> (width - shift)) != 0) {
				return KP_ECORRUPT;
			}
		}
		v |= (b & 0x7Fu) << shift;
		if ((b & 0x80u) == 0) {
			*out = v;
			return (int)(i + 1);
		}
	}
	return KP_ECORRUPT; /* not reached: the last byte always returns */
}

size_t kp_varint_encode(int32_t v, uint8_t *out)
{
	uint32_t u = (uint32_t)v;
	uint32_t zz = (u << 1) ^ (0u - (u >> 31));
	return put_u64(zz, out);
}

size_t kp_varlong_encode(int64_t v, uint8_t *out)
{
	uint64_t u = (uint64_t)v;
	uint64_t zz = (u << 1) ^ (0u - (u >> 63));
	return put_u64(zz, out);
}

size_t kp_uvarint_encode(uint32_t v, uint8_t *out)
{
	return put_u64(v, out);
}

int kp_varint_decode(const uint8_t *buf, size_t len, int32_t *out)
{
	uint64_t v;
	int n = get_u64(buf, len, 32, &v);
	if (n > 0) {
		uint32_t zz = (uint32_t)v;
		*out = (int32_t)((zz >> 1) ^ (0u - (zz & 1u)));
	}
	return n;
}

int kp_varlong_decode(const uint8_t *buf, size_t len, int64_t *out)
{
	uint64_t zz;
	int n = get_u64(buf, len, 64, &zz);
	if (n > 0) {
		*out = (int64_t)((zz >> 1) ^ (0u - (zz & 1u)));
	}
	return n;
}

int kp_uvarint_decode(const uint8_t *buf, size_t len, uint32_t *out)
{
	uint64_t v;
	int n = get_u64(buf, len, 32, &v);
	if (n > 0) {
		*out = (uint32_t)v;
	}
	return n;
}
