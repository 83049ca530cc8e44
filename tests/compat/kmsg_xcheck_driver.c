/* Cross-check driver for the Kafka codecs: decodes messages another implementation encoded and
 * re-encodes them, reporting whether the bytes survive unchanged.
 *
 * Reads lines "<api_key> <req|resp> <version> <hex>" on stdin and prints one line per input:
 * "OK", or "ERR <what>" (decode error, bytes left over, encode error, different bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka_msgs.h"

#define LINE_BYTES_MAX ((size_t)1 << 22)

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

static void check_one(const struct kmsg_api *api, int req, int16_t version, const uint8_t *buf,
		      size_t n)
{
	struct kmsg_arena a;
	struct kmsg_reader r;
	struct kmsg_writer w;
	void *m = calloc(1, req ? api->request_size : api->response_size);
	if (m == NULL) {
		puts("ERR oom");
		return;
	}
	kmsg_arena_init(&a, 0);
	kmsg_writer_init(&w, 0);
	kmsg_reader_init(&r, buf, n);
	int rc = (req ? api->request_decode : api->response_decode)(&r, version, m, &a);
	if (rc < 0) {
		printf("ERR decode %s at byte %zu of %zu\n", kmsg_err_name(rc), r.pos, n);
	} else if (kmsg_reader_remaining(&r) > 0) {
		printf("ERR %zu bytes left over\n", kmsg_reader_remaining(&r));
	} else if ((rc = (req ? api->request_encode : api->response_encode)(&w, version, m)) < 0) {
		printf("ERR encode %s\n", kmsg_err_name(rc));
	} else if (w.len != n || (n > 0 && memcmp(w.buf, buf, n) != 0)) {
		printf("ERR re-encoding differs (%zu vs %zu bytes)\n", w.len, n);
	} else {
		puts("OK");
	}
	kmsg_writer_free(&w);
	kmsg_arena_free(&a);
	free(m);
}

int main(void)
{
	char *line = malloc(LINE_BYTES_MAX);
	uint8_t *buf = malloc(LINE_BYTES_MAX / 2);
	if (line == NULL || buf == NULL) {
		return 2;
	}
	while (fgets(line, (int)LINE_BYTES_MAX, stdin) != NULL) {
		int key;
		int version;
		int off = 0;
		char kind[8];
		if (sscanf(line, "%d %7s %d %n", &key, kind, &version, &off) != 3) {
			puts("ERR bad input line");
			continue;
		}
		size_t n = 0;
		const char *h = line + off;
		while (hexval(h[0]) >= 0 && hexval(h[1]) >= 0) {
			buf[n++] = (uint8_t)(hexval(h[0]) * 16 + hexval(h[1]));
			h += 2;
		}
		const struct kmsg_api *api = kmsg_api_lookup((int16_t)key);
		if (api == NULL) {
			puts("ERR unknown api key");
			continue;
		}
		/* An exact-size copy, so sanitizers see any read past the end. */
		uint8_t *copy = malloc(n > 0 ? n : 1);
		if (copy == NULL) {
			return 2;
		}
		memcpy(copy, buf, n);
		check_one(api, strcmp(kind, "req") == 0, (int16_t)version, copy, n);
		fflush(stdout);
		free(copy);
	}
	free(line);
	free(buf);
	return 0;
}
