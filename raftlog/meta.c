/* Durable metadata: the vote file (term + vote in two alternating CRC'd
 * slots) and the state file (log start, snapshot metadata; replaced
 * atomically by write-temp + fsync + rename + fsync dir). Formats in
 * FORMAT.md, "Metadata files".
 *
 * Happy path: open reads both files; a missing vote file is created (empty
 * term 0) through a temp file and rename; a missing state file means a log
 * that starts at index 1, offset 0, with no snapshot. Updates run on the
 * writer (pass.c): a vote update overwrites the older slot and is synced
 * with the group commit.
 * Failure modes: a torn slot write leaves the other slot valid (the higher
 * sequence number wins); a vote file with no valid slot, or a state file
 * with a bad CRC, is RL_ECORRUPT; I/O errors are RL_EIO. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"
#include "raftlog/internal.h"

static const uint8_t vote_magic[8] = {'R', 'L', 'V', 'O', 'T', 'E', 0, 1};
static const uint8_t state_magic[8] = {'R', 'L', 'S', 'T', 'A', 'T', 'E', 1};
#define STATE_FIXED_SIZE 72
#define STATE_SIZE_MAX (16u << 20)

void rl__vote_encode(uint64_t seq, uint64_t term, uint64_t vote, uint8_t out[RL__VOTE_SLOT_SIZE])
{
	memset(out, 0, RL__VOTE_SLOT_SIZE);
	memcpy(out, vote_magic, sizeof(vote_magic));
	kp_put_u64(out + 8, seq);
	kp_put_u64(out + 16, term);
	kp_put_u64(out + 24, vote);
	kp_put_u32(out + 60, kp_crc32c(0, out, 60));
}

static bool vote_decode(const uint8_t *in, uint64_t *seq, uint64_t *term, uint64_t *vote)
{
	if (memcmp(in, vote_magic, sizeof(vote_magic)) != 0 ||
	    kp_get_u32(in + 60) != kp_crc32c(0, in, 60)) {
		return false;
	}
	*seq = kp_get_u64(in + 8);
	*term = kp_get_u64(in + 16);
	*vote = kp_get_u64(in + 24);
	return true;
}

static int vote_create(struct rl_log *log, char *err, size_t err_size)
{
	uint8_t img[RL__VOTE_FILE_SIZE];
	memset(img, 0, sizeof(img));
	rl__vote_encode(0, 0, 0, img);
	rl__vote_encode(1, 0, 0, img + RL__VOTE_SLOT_STRIDE);
	int rv = rl__write_file_atomic(log->dir_fd, RL__VOTE_TMP, RL__VOTE_FILE, img, sizeof(img));
	if (rv != 0) {
		snprintf(err, err_size, "%s/%s: create: %s", log->dir, RL__VOTE_FILE,
			 strerror(-rv));
		return RL_EIO;
	}
	return 0;
}

/* Opens (creating if missing) the vote file and loads term and vote. */
int rl__vote_load(struct rl_log *log, char *err, size_t err_size)
{
	int fd = rl__open(log->dir_fd, RL__VOTE_FILE, O_RDWR);
	if (fd == -ENOENT) {
		int rv = vote_create(log, err, err_size);
		if (rv != 0) {
			return rv;
		}
		fd = rl__open(log->dir_fd, RL__VOTE_FILE, O_RDWR);
	}
	if (fd < 0) {
		snprintf(err, err_size, "%s/%s: open: %s", log->dir, RL__VOTE_FILE, strerror(-fd));
		return RL_EIO;
	}
	uint8_t img[RL__VOTE_FILE_SIZE];
	ssize_t n = rl__pread_all(fd, img, sizeof(img), 0);
	if (n < 0) {
		snprintf(err, err_size, "%s/%s: pread: %s", log->dir, RL__VOTE_FILE,
			 strerror((int)-n));
		rl__close(fd);
		return RL_EIO;
	}
	bool found = false;
	for (int i = 0; i < 2; i++) {
		uint64_t seq, term, vote;
		size_t at = (size_t)i * RL__VOTE_SLOT_STRIDE;
		if ((size_t)n >= at + RL__VOTE_SLOT_SIZE && vote_decode(img + at, &seq, &term, &vote) &&
		    (!found || seq > log->w_vote_seq)) {
			found = true;
			log->w_vote_seq = seq;
			log->term = term;
			log->vote = vote;
		}
	}
	if (!found) {
		snprintf(err, err_size, "%s/%s: no valid slot", log->dir, RL__VOTE_FILE);
		rl__close(fd);
		return RL_ECORRUPT;
	}
	/* The slot read may exist only in the page cache (a killed process
	 * never synced it); the term and vote recovered must be durable. */
	int rv = rl__fdatasync(fd);
	if (rv != 0) {
		snprintf(err, err_size, "%s/%s: fdatasync: %s", log->dir, RL__VOTE_FILE,
			 strerror(-rv));
		rl__close(fd);
		return RL_EIO;
	}
	log->vote_fd = fd;
	return 0;
}

/* Encodes st into a new sl_malloc'd image. Returns 0 or RL_ENOMEM. */
int rl__state_encode(const struct rl__state *st, uint8_t **out, size_t *out_len)
{
	size_t len = STATE_FIXED_SIZE + st->snap_conf_len + 4;
	uint8_t *b = sl_malloc(len);
	if (b == NULL) {
		return RL_ENOMEM;
	}
	memcpy(b, state_magic, sizeof(state_magic));
	kp_put_u32(b + 8, 1);
	kp_put_u32(b + 12, st->reset_pending ? 1u : 0u);
	kp_put_u64(b + 16, st->start_index);
	kp_put_u64(b + 24, (uint64_t)st->start_offset);
	kp_put_u64(b + 32, st->snap_index);
	kp_put_u64(b + 40, st->snap_term);
	kp_put_u64(b + 48, st->snap_conf_index);
	kp_put_u64(b + 56, (uint64_t)st->snap_log_start_offset);
	kp_put_u32(b + 64, (uint32_t)st->snap_conf_len);
	kp_put_u32(b + 68, 0);
	if (st->snap_conf_len > 0) {
		memcpy(b + STATE_FIXED_SIZE, st->snap_conf, st->snap_conf_len);
	}
	kp_put_u32(b + len - 4, kp_crc32c(0, b, len - 4));
	*out = b;
	*out_len = len;
	return 0;
}

static int state_decode(const uint8_t *b, size_t len, struct rl__state *st)
{
	if (len < STATE_FIXED_SIZE + 4 || memcmp(b, state_magic, sizeof(state_magic)) != 0 ||
	    kp_get_u32(b + len - 4) != kp_crc32c(0, b, len - 4) || kp_get_u32(b + 8) != 1) {
		return RL_ECORRUPT;
	}
	size_t conf_len = kp_get_u32(b + 64);
	if (STATE_FIXED_SIZE + conf_len + 4 != len) {
		return RL_ECORRUPT;
	}
	st->reset_pending = (kp_get_u32(b + 12) & 1u) != 0;
	st->start_index = kp_get_u64(b + 16);
	st->start_offset = (int64_t)kp_get_u64(b + 24);
	st->snap_index = kp_get_u64(b + 32);
	st->snap_term = kp_get_u64(b + 40);
	st->snap_conf_index = kp_get_u64(b + 48);
	st->snap_log_start_offset = (int64_t)kp_get_u64(b + 56);
	st->snap_conf = NULL;
	st->snap_conf_len = conf_len;
	if (conf_len > 0) {
		st->snap_conf = sl_malloc(conf_len);
		if (st->snap_conf == NULL) {
			return RL_ENOMEM;
		}
		memcpy(st->snap_conf, b + STATE_FIXED_SIZE, conf_len);
	}
	return st->start_index >= 1 && st->start_offset >= 0 ? 0 : RL_ECORRUPT;
}

/* Loads the state file into *st (defaults if missing). */
int rl__state_load(struct rl_log *log, struct rl__state *st, char *err, size_t err_size)
{
	memset(st, 0, sizeof(*st));
	st->start_index = 1;
	int fd = rl__open(log->dir_fd, RL__STATE_FILE, O_RDONLY);
	if (fd == -ENOENT) {
		return 0;
	}
	if (fd < 0) {
		snprintf(err, err_size, "%s/%s: open: %s", log->dir, RL__STATE_FILE, strerror(-fd));
		return RL_EIO;
	}
	uint64_t size = 0;
	int rv = rl__fsize(fd, &size);
	uint8_t *b = NULL;
	if (rv == 0 && size <= STATE_SIZE_MAX) {
		b = sl_malloc((size_t)size);
		rv = b == NULL ? RL_ENOMEM : 0;
		if (rv == 0) {
			ssize_t n = rl__pread_all(fd, b, (size_t)size, 0);
			rv = n == (ssize_t)size ? state_decode(b, (size_t)size, st) : RL_EIO;
		}
	} else if (rv == 0) {
		rv = RL_ECORRUPT;
	} else {
		rv = RL_EIO;
	}
	rl__close(fd);
	sl_free(b);
	if (rv != 0) {
		snprintf(err, err_size, "%s/%s: %s", log->dir, RL__STATE_FILE, rl_strerror(rv));
	}
	return rv;
}

void rl__state_free(struct rl__state *st)
{
	sl_free(st->snap_conf);
	st->snap_conf = NULL;
	st->snap_conf_len = 0;
}
