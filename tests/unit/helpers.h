/* Helpers shared by unit tests: temporary directories. */
#ifndef SL_TEST_HELPERS_H
#define SL_TEST_HELPERS_H

#include <stddef.h>

/* Creates a fresh empty directory under $TMPDIR (or /tmp) and writes its path
 * into buf. Aborts the test on failure. */
void th_tmpdir(char *buf, size_t len);
/* Removes a directory tree (best effort). */
void th_rmtree(const char *path);

#endif
