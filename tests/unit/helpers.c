/* Helpers shared by unit tests. */
#include "tests/unit/helpers.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

void th_tmpdir(char *buf, size_t len)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0') {
		base = "/tmp";
	}
	int n = snprintf(buf, len, "%s/sltest.XXXXXX", base);
	ck_assert(n > 0 && (size_t)n < len);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

void th_rmtree(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0) {
		fprintf(stderr, "warning: could not remove %s\n", path);
	}
}

int th_record_crcs(const uint8_t *batch, size_t len, int64_t from, int64_t to, uint32_t *out,
		   int max)
{
	struct kp_record_iter it;
	struct kp_record rec;
	int n = 0, rc;
	ck_assert_int_eq(kp_record_iter_init(&it, batch, len), 0);
	while ((rc = kp_record_iter_next(&it, &rec)) == 1) {
		if (rec.offset >= from && rec.offset <= to) {
			ck_assert_int_lt(n, max);
			out[n++] = kp_record_crc(&rec);
		}
	}
	ck_assert_int_eq(rc, 0);
	kp_record_iter_free(&it);
	return n;
}
