/* Helpers shared by unit tests: temporary directories, record checksums. */
#ifndef SL_TEST_HELPERS_H
#define SL_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh empty directory under $TMPDIR (or /tmp) and writes its path
 * into buf. Aborts the test on failure. */
void th_tmpdir(char *buf, size_t len);
/* Removes a directory tree (best effort). */
void th_rmtree(const char *path);
/* Fills out[] with the kp_record_crc of every record of a whole batch
 * whose offset is in [from, to], asserting they decode and fit in max;
 * returns how many. */
int th_record_crcs(const uint8_t *batch, size_t len, int64_t from, int64_t to, uint32_t *out,
		   int max);

#endif
