/* Writes the seed corpus of fuzz_request: one file per valid request frame
 * (size prefix, header, body) of every api and every version the schemas
 * define, in four fill modes, plus a few streams of several frames and
 * ApiVersions requests above our range. Usage: gen_corpus <dir> */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/kmsg_fill_env.h"

static int write_file(const char *dir, const char *name, const struct kmsg_writer *w)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = w->len > 0 ? fwrite(w->buf, 1, w->len, f) : 0;
	int bad = n != w->len;
	bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "gen_corpus: %s: write failed\n", path);
		return -1;
	}
	return 0;
}

/* ApiVersions v3 and v4 (flexible header, v3 body) as librdkafka sends. */
static int api_versions_above(const char *dir)
{
	for (int16_t v = 3; v <= 4; v++) {
		struct kmsg_writer w;
		struct kmsg_request_header h;
		struct kmsg_api_versions_request body;
		size_t mark;
		char name[64];
		kmsg_writer_init(&w, 0);
		kmsg_request_header_init(&h);
		h.request_api_key = KMSG_API_API_VERSIONS;
		h.request_api_version = v;
		h.correlation_id = 7;
		h.client_id = kmsg_str_make("rdkafka");
		kmsg_api_versions_request_init(&body);
		body.client_software_name = kmsg_str_make("librdkafka");
		body.client_software_version = kmsg_str_make("2.0.2");
		int rc = kmsg_writer_frame_begin(&w, &mark);
		rc = rc == 0 ? kmsg_request_header_write(&w, &h) : rc;
		rc = rc == 0 ? kmsg_api_versions_request_encode(&w, 3, &body) : rc;
		rc = rc == 0 ? kmsg_writer_frame_end(&w, mark) : rc;
		snprintf(name, sizeof(name), "ApiVersions-above-v%d", v);
		if (rc != 0 || write_file(dir, name, &w) != 0) {
			kmsg_writer_free(&w);
			return -1;
		}
		kmsg_writer_free(&w);
	}
	return 0;
}

/* Pipelined streams of 4..11 frames of different apis and versions, with
 * correlation ids 0, 1, 2, ... (fuzz_conn picks how each is answered from
 * it), so the listener's bounds, pauses and ordering get exercised. */
static int streams(const char *dir)
{
	for (uint32_t k = 0; k < 32; k++) {
		struct kmsg_writer w;
		char name[64];
		kmsg_writer_init(&w, 0);
		uint32_t frames = 4 + k % 8;
		for (uint32_t f = 0; f < frames; f++) {
			const struct kmsg_api *api = &kmsg_apis[(k * 5 + f * 3) % KMSG_API_COUNT];
			int span = api->max_version - api->min_version + 1;
			int16_t v = (int16_t)(api->min_version + (int)((k + f) % (uint32_t)span));
			int rc = fill_request_frame(&w, api, v, (k + f) % 4, (int32_t)f);
			if (rc != 0) {
				fprintf(stderr, "gen_corpus: stream %u: %s\n", k,
					kmsg_err_name(rc));
				kmsg_writer_free(&w);
				return -1;
			}
		}
		snprintf(name, sizeof(name), "stream-%u", k);
		int rc = write_file(dir, name, &w);
		kmsg_writer_free(&w);
		if (rc != 0) {
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus <dir>\n");
		return 2;
	}
	const char *dir = argv[1];
	int files = 0;
	for (int i = 0; i < KMSG_API_COUNT; i++) {
		const struct kmsg_api *api = &kmsg_apis[i];
		for (int v = api->min_version; v <= api->max_version; v++) {
			for (uint32_t seed = 0; seed < 4; seed++) {
				struct kmsg_writer w;
				char name[96];
				kmsg_writer_init(&w, 0);
				int rc =
				    fill_request_frame(&w, api, (int16_t)v, seed, (int32_t)seed);
				/* Mode 1 streams: the same request twice, pipelined. */
				if (rc == 0 && seed == 1) {
					rc = fill_request_frame(&w, api, (int16_t)v, seed, 2);
				}
				snprintf(name, sizeof(name), "%s-v%d-s%u", api->name, v,
					 (unsigned)seed);
				if (rc != 0) {
					fprintf(stderr, "gen_corpus: %s: %s\n", name,
						kmsg_err_name(rc));
					return 1;
				}
				if (write_file(dir, name, &w) != 0) {
					return 1;
				}
				kmsg_writer_free(&w);
				files++;
			}
		}
	}
	if (api_versions_above(dir) != 0 || streams(dir) != 0) {
		return 1;
	}
	printf("gen_corpus: %d files in %s\n", files + 2 + 32, dir);
	return 0;
}
