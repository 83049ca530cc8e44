/* Helpers shared by unit tests. */
#include "tests/unit/helpers.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
