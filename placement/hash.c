/* Deterministic hashing used for tie-breaking and sticky replica choice. */
#include "placement/internal.h"

uint64_t pl__mix64(uint64_t x)
{
	/* splitmix64 finaliser: a bijection with good avalanche. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t pl__hash_str(uint64_t h, const char *s)
{
	/* FNV-1a over the bytes, then mixed. */
	h ^= 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return pl__mix64(h);
}

uint64_t pl_client_hash(const char *client_id, const char *client_rack)
{
	/* The 0xff separator keeps ("ab", "c") and ("a", "bc") apart. */
	uint64_t h = pl__hash_str(0, client_id);
	return pl__hash_str(h ^ 0xffull, client_rack);
}
