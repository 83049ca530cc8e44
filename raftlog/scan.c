/* Validating sequential reader over a segment file, used by recovery to
 * rebuild an index and to check the tail of the last segment.
 *
 * Happy path: rl__scan_next() reads one batch header, then the whole batch,
 * checks it with kp_batch_validate() (header, length, CRC-32C), checks its
 * base offset continues the previous batch and its epoch (term) does not
 * decrease, and returns its index record.
 * Failure modes: an incomplete or invalid batch returns RL__SCAN_BAD with
 * the reason in s->why and s->pos at the batch; a read error returns RL_EIO.
 * rl__scan_valid_after() then tells a torn tail (nothing valid follows) from
 * mid-file corruption (a valid batch follows). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

void rl__scan_init(struct rl__scan *s, int fd, const char *name, uint64_t file_size,
		   uint64_t pos, uint64_t next_index, int64_t next_offset, uint64_t last_term)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->name = name;
	s->file_size = file_size;
	s->pos = pos;
	s->next_index = next_index;
	s->next_offset = next_offset;
	s->last_term = last_term;
}

void rl__scan_free(struct rl__scan *s)
{
	sl_free(s->buf);
	s->buf = NULL;
	s->cap = 0;
}

static int reserve(struct rl__scan *s, size_t n)
{
	if (n <= s->cap) {
		return 0;
	}
	uint8_t *buf = sl_realloc(s->buf, n);
	if (buf == NULL) {
		return RL_ENOMEM;
	}
	s->buf = buf;
	s->cap = n;
	return 0;
}

static int read_exact(struct rl__scan *s, uint8_t *dst, size_t len, uint64_t pos)
{
	ssize_t n = rl__pread_all(s->fd, dst, len, pos);
	if (n < 0) {
		snprintf(s->why, sizeof(s->why), "pread: %s", strerror((int)-n));
		return RL_EIO;
	}
	if ((size_t)n != len) {
		snprintf(s->why, sizeof(s->why), "file shrank while reading");
		return RL_EIO;
	}
	return 0;
}

/* Reads and checks the whole batch at s->pos; its header is in s->buf. */
static int check_batch(struct rl__scan *s, size_t size, struct rl__rec *rec)
{
	struct kp_batch_header h;
	int rv = read_exact(s, s->buf, size, s->pos);
	if (rv != 0) {
		return rv;
	}
	rv = kp_batch_validate(s->buf, size, 0, &h);
	if (rv != 0) {
		snprintf(s->why, sizeof(s->why), "invalid batch: %s", kp_strerror(rv));
		return RL__SCAN_BAD;
	}
	if (h.base_offset != s->next_offset) {
		snprintf(s->why, sizeof(s->why), "base offset %" PRId64 ", expected %" PRId64,
			 h.base_offset, s->next_offset);
		return RL__SCAN_BAD;
	}
	if (rl__rec_from_batch(s->buf, size, s->next_index, s->pos, rec) != 0) {
		snprintf(s->why, sizeof(s->why), "bad leader epoch or control record");
		return RL__SCAN_BAD;
	}
	if (rec->term < s->last_term) {
		snprintf(s->why, sizeof(s->why), "term %" PRIu64 " below previous %" PRIu64,
			 rec->term, s->last_term);
		return RL__SCAN_BAD;
	}
	return 1;
}

int rl__scan_next(struct rl__scan *s, struct rl__rec *rec)
{
	if (s->pos >= s->file_size) {
		return 0;
	}
	uint64_t remaining = s->file_size - s->pos;
	if (remaining < KP_BATCH_HEADER_SIZE) {
		snprintf(s->why, sizeof(s->why), "incomplete batch header (%" PRIu64 " bytes)",
			 remaining);
		return RL__SCAN_BAD;
	}
	int rv = reserve(s, KP_BATCH_HEADER_SIZE);
	if (rv == 0) {
		rv = read_exact(s, s->buf, KP_BATCH_HEADER_SIZE, s->pos);
	}
	if (rv != 0) {
		return rv;
	}
	struct kp_batch_header h;
	rv = kp_batch_parse_header(s->buf, KP_BATCH_HEADER_SIZE, &h);
	if (rv != 0) {
		snprintf(s->why, sizeof(s->why), "bad batch header: %s", kp_strerror(rv));
		return RL__SCAN_BAD;
	}
	size_t size = kp_batch_size(&h);
	if (size > RL__SCAN_BATCH_MAX || size > remaining) {
		snprintf(s->why, sizeof(s->why), "incomplete batch (%" PRIu64 " of %zu bytes)",
			 remaining, size);
		return RL__SCAN_BAD;
	}
	rv = reserve(s, size);
	if (rv != 0) {
		return rv;
	}
	rv = check_batch(s, size, rec);
	if (rv == 1) {
		s->pos += size;
		s->next_index++;
		s->next_offset = rec->last_offset + 1;
		s->last_term = rec->term;
	}
	return rv;
}

/* Returns true if a whole batch with a valid CRC starts at q. */
static int valid_at(struct rl__scan *s, const uint8_t *hdr, uint64_t q)
{
	struct kp_batch_header h;
	/* A batch that could continue this log: later offset, same or later
	 * term. (A batch embedded in some record's payload rarely is.) */
	if (kp_batch_parse_header(hdr, KP_BATCH_HEADER_SIZE, &h) != 0 ||
	    h.base_offset < s->next_offset || h.partition_leader_epoch < 1 ||
	    (uint64_t)h.partition_leader_epoch < s->last_term) {
		return 0;
	}
	size_t size = kp_batch_size(&h);
	if (size > RL__SCAN_BATCH_MAX || size > s->file_size - q) {
		return 0;
	}
	int rv = reserve(s, size);
	if (rv == 0) {
		rv = read_exact(s, s->buf, size, q);
	}
	if (rv != 0) {
		return rv;
	}
	return kp_batch_validate(s->buf, size, 0, NULL) == 0 ? 1 : 0;
}

#define WINDOW_BYTES (1u << 20)

/* Looks for any whole valid batch that could continue the log (base offset
 * at or past the expected one, term not lower) starting at a position >=
 * from. Returns 1
 * (and *found), 0 if none, or RL_EIO / RL_ENOMEM. */
int rl__scan_valid_after(struct rl__scan *s, uint64_t from, uint64_t *found)
{
	uint8_t *win = sl_malloc(WINDOW_BYTES + KP_BATCH_HEADER_SIZE);
	if (win == NULL) {
		return RL_ENOMEM;
	}
	int rv = 0;
	uint64_t q = from;
	while (rv == 0 && q + KP_BATCH_HEADER_SIZE <= s->file_size) {
		uint64_t want = SL_MIN((uint64_t)WINDOW_BYTES + KP_BATCH_HEADER_SIZE,
				       s->file_size - q);
		rv = read_exact(s, win, (size_t)want, q);
		if (rv != 0) {
			break;
		}
		uint64_t starts = want - KP_BATCH_HEADER_SIZE + 1;
		for (uint64_t i = 0; i < starts && rv == 0; i++) {
			if (win[i + KP_BATCH_OFF_MAGIC] != 2) {
				continue;
			}
			rv = valid_at(s, win + i, q + i);
			if (rv == 1) {
				*found = q + i;
			}
		}
		q += starts;
	}
	sl_free(win);
	return rv;
}

/* Reads the batch of record r into dst (r->size bytes) and checks it: CRC
 * and that it is the batch the record describes. Returns 0, RL_EIO or
 * RL_ECORRUPT. */
int rl__read_batch(int fd, const struct rl__rec *r, uint8_t *dst)
{
	ssize_t n = rl__pread_all(fd, dst, r->size, r->pos);
	if (n < 0) {
		return RL_EIO;
	}
	struct kp_batch_header h;
	if ((size_t)n != r->size || kp_batch_validate(dst, r->size, 0, &h) != 0 ||
	    h.base_offset != r->base_offset || h.crc != r->batch_crc ||
	    h.base_offset + h.last_offset_delta != r->last_offset ||
	    (uint64_t)h.partition_leader_epoch != r->term) {
		return RL_ECORRUPT;
	}
	return 0;
}
