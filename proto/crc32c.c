/* CRC-32C (Castagnoli): SSE4.2 crc32 instruction when present, else slicing-by-8.
 *
 * The instruction has a latency of three cycles and a throughput of one, so
 * one dependent chain runs at a third of its speed: long inputs are cut into
 * three adjacent blocks whose CRCs run interleaved and are then combined by
 * "appending zeros" to the earlier ones with precomputed GF(2) operator
 * tables (the method of Mark Adler's crc32c.c). */
#include "proto/proto.h"

#include <pthread.h>
#include <string.h>

/* Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY 0x82F63B78u

typedef uint32_t (*crc_fn)(uint32_t crc, const uint8_t *p, size_t len);

/* table[k][b] is the CRC of byte b followed by k zero bytes; slicing-by-8
 * folds eight input bytes per step with eight lookups. */
static uint32_t table[8][256];
static crc_fn crc_impl;

/* Interleaved block sizes (powers of two) and their zeros operators:
 * shift_long[k][b] is what byte b in lane k of a raw register becomes
 * after LONG_BYTES zero bytes. */
#define LONG_BYTES 8192
#define SHORT_BYTES 256
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++) {
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		}
		table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++) {
		for (int k = 1; k < 8; k++) {
			uint32_t prev = table[k - 1][b];
			table[k][b] = (prev >> 8) ^ table[0][prev & 0xFFu];
		}
	}
}

/* Operates on the inverted register (no pre/post conditioning). */
static uint32_t crc_sw_raw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len > 0 && ((uintptr_t)p & 7u) != 0) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xFFu];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;
		c = table[7][lo & 0xFFu] ^ table[6][(lo >> 8) & 0xFFu] ^
		    table[5][(lo >> 16) & 0xFFu] ^ table[4][lo >> 24] ^ table[3][hi & 0xFFu] ^
		    table[2][(hi >> 8) & 0xFFu] ^ table[1][(hi >> 16) & 0xFFu] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xFFu];
		len--;
	}
	return c;
}

/* mat times vec over GF(2): mat is 32 columns. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;
	while (vec != 0) {
		if (vec & 1u) {
			sum ^= *mat;
		}
		vec >>= 1;
		mat++;
	}
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++) {
		square[n] = gf2_times(mat, mat[n]);
	}
}

/* The operator appending len (a power of two) zero bytes, as tables. */
static void build_shift(uint32_t zeros[4][256], size_t len)
{
	uint32_t odd[32], even[32];
	odd[0] = CRC32C_POLY; /* one zero bit */
	for (int n = 1; n < 32; n++) {
		odd[n] = 1u << (n - 1);
	}
	gf2_square(even, odd); /* two zero bits */
	gf2_square(odd, even); /* four */
	gf2_square(even, odd); /* one zero byte */
	for (; len > 1; len >>= 1) {
		memcpy(odd, even, sizeof(odd));
		gf2_square(even, odd);
	}
	for (uint32_t n = 0; n < 256; n++) {
		for (int k = 0; k < 4; k++) {
			zeros[k][n] = gf2_times(even, n << (8 * k));
		}
	}
}

static uint32_t shift(uint32_t zeros[4][256], uint32_t c)
{
	return zeros[0][c & 0xFFu] ^ zeros[1][(c >> 8) & 0xFFu] ^ zeros[2][(c >> 16) & 0xFFu] ^
	       zeros[3][c >> 24];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW_CRC 1

/* Three adjacent blocks of block bytes each at p, interleaved, combined
 * into the running register c. */
__attribute__((target("sse4.2"))) static uint64_t crc_hw_3way(uint64_t c, const uint8_t *p,
							      size_t block,
							      uint32_t zeros[4][256])
{
	uint64_t c1 = 0, c2 = 0;
	for (size_t i = 0; i < block; i += 8) {
		uint64_t w0, w1, w2;
		memcpy(&w0, p + i, 8);
		memcpy(&w1, p + block + i, 8);
		memcpy(&w2, p + 2 * block + i, 8);
		c = __builtin_ia32_crc32di(c, w0);
		c1 = __builtin_ia32_crc32di(c1, w1);
		c2 = __builtin_ia32_crc32di(c2, w2);
	}
	c = shift(zeros, (uint32_t)c) ^ (uint32_t)c1;
	return shift(zeros, (uint32_t)c) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_raw(uint32_t c, const uint8_t *p,
							     size_t len)
{
	while (len > 0 && ((uintptr_t)p & 7u) != 0) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	uint64_t c64 = c;
	for (; len >= 3 * LONG_BYTES; p += 3 * LONG_BYTES, len -= 3 * LONG_BYTES) {
		c64 = crc_hw_3way(c64, p, LONG_BYTES, shift_long);
	}
	for (; len >= 3 * SHORT_BYTES; p += 3 * SHORT_BYTES, len -= 3 * SHORT_BYTES) {
		c64 = crc_hw_3way(c64, p, SHORT_BYTES, shift_short);
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof(w));
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len > 0) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	return c;
}
#endif

static void crc_init(void)
{
	build_tables();
	build_shift(shift_long, LONG_BYTES);
	build_shift(shift_short, SHORT_BYTES);
	crc_impl = crc_sw_raw;
#ifdef HAVE_HW_CRC
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		crc_impl = crc_hw_raw;
	}
#endif
}

uint32_t kp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~crc, buf, len);
}

uint32_t kp__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_sw_raw(~crc, buf, len);
}
