/* CRC-32C (Castagnoli): SSE4.2 crc32 instruction when present, else slicing-by-8. */
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW_CRC 1

__attribute__((target("sse4.2"))) static uint32_t crc_hw_raw(uint32_t c, const uint8_t *p,
							     size_t len)
{
	while (len > 0 && ((uintptr_t)p & 7u) != 0) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	uint64_t c64 = c;
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
