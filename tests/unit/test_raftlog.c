/* Unit tests for raftlog/: appends, segment roll, lookups at every boundary,
 * reads bounded by offset and bytes, truncation, retention, reset, metadata
 * durability, the threaded writer. Recovery, torn writes and fault
 * injection are in test_raftlog_recovery.c (run in this suite too). */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"
#include "tests/unit/helpers.h"
#include "tests/unit/raftlog_th.h"

/* ---- Helpers ------------------------------------------------------------ */

static int open_log(struct th_log *t)
{
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	t->log = NULL;
	int rv = rl_writer_create(NULL, &wc, &t->w);
	if (rv != 0) {
		t->w = NULL;
		snprintf(t->err, sizeof(t->err), "writer: %s", rl_strerror(rv));
		return rv;
	}
	rv = rl_log_open(t->w, &t->cfg, &t->log, t->err, sizeof(t->err));
	if (rv != 0) {
		t->log = NULL;
	}
	return rv;
}

void th_rl_setup(struct th_log *t, uint64_t segment_bytes_max)
{
	memset(t, 0, sizeof(*t));
	th_tmpdir(t->dir, sizeof(t->dir));
	rl_log_config_default(&t->cfg);
	t->cfg.dir = t->dir;
	t->cfg.segment_bytes_max = segment_bytes_max;
	t->cfg.batch_bytes_max = 1u << 20;
	int rv = open_log(t);
	ck_assert_msg(rv == 0, "open: %s", t->err);
}

void th_rl_close(struct th_log *t)
{
	if (t->log != NULL) {
		rl_log_close(t->log);
		t->log = NULL;
	}
	if (t->w != NULL) {
		rl_writer_close(t->w);
		t->w = NULL;
	}
}

int th_rl_reopen(struct th_log *t)
{
	th_rl_close(t);
	return open_log(t);
}

void th_rl_teardown(struct th_log *t)
{
	sl_fault_reset();
	th_rl_close(t);
	th_rmtree(t->dir);
}

uint8_t *th_rl_batch(int64_t ts, int n_records, size_t value_size, uint32_t seed, size_t *len)
{
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1), 0);
	uint8_t *value = malloc(value_size + 1);
	for (int r = 0; r < n_records; r++) {
		for (size_t i = 0; i < value_size; i++) {
			value[i] = (uint8_t)(seed * 31u + (uint32_t)r * 7u + (uint32_t)i);
		}
		ck_assert_int_eq(kp_batch_builder_add(&b, ts + r, "k", 1, value, (int32_t)value_size,
						      NULL, 0),
				 0);
	}
	free(value);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

struct cb_rec {
	int calls;
	int status;
	int order[64];
};

static void append_cb(struct rl_append_req *req, int status)
{
	struct cb_rec *c = req->data;
	c->calls++;
	c->status = status;
}

int th_rl_append(struct th_log *t, uint64_t term, int n_records, size_t value_size, int64_t ts)
{
	size_t len;
	struct rl_log_info info;
	rl_log_get_info(t->log, &info);
	uint8_t *b = th_rl_batch(ts, n_records, value_size, (uint32_t)info.next_offset, &len);
	struct rl_entry e = {.term = term, .kind = RL_KIND_DATA, .buf = b, .len = len};
	struct cb_rec c = {0};
	struct rl_append_req req = {.data = &c};
	int rv = rl_append(t->log, &req, &e, 1, RL_APPEND_ASSIGN, append_cb);
	if (rv == 0) {
		rl_writer_run_pending(t->w);
		ck_assert_int_eq(c.calls, 1);
		rv = c.status;
	}
	sl_free(b);
	return rv;
}

void th_rl_append_n(struct th_log *t, int n, uint64_t term, int n_records, size_t value_size)
{
	for (int i = 0; i < n; i++) {
		int rv = th_rl_append(t, term, n_records, value_size, 1000 + i);
		ck_assert_msg(rv == 0, "append %d: %s %s", i, rl_err_name(rv), rl_log_errmsg(t->log));
	}
}

uint32_t th_rl_digest(struct rl_log *log)
{
	struct rl_log_info li;
	rl_log_get_info(log, &li);
	uint32_t crc = kp_crc32c(0, &li.first_index, sizeof(li.first_index));
	crc = kp_crc32c(crc, &li.last_index, sizeof(li.last_index));
	crc = kp_crc32c(crc, &li.next_offset, sizeof(li.next_offset));
	for (uint64_t i = li.first_index; i <= li.last_index; i++) {
		static uint8_t buf[1 << 21];
		struct rl_entry_info info;
		ck_assert_int_eq(rl_entry_read(log, i, buf, sizeof(buf), &info), 0);
		info.durable = false;
		crc = kp_crc32c(crc, &info.index, sizeof(info.index));
		crc = kp_crc32c(crc, &info.term, sizeof(info.term));
		crc = kp_crc32c(crc, &info.base_offset, sizeof(info.base_offset));
		crc = kp_crc32c(crc, &info.last_offset, sizeof(info.last_offset));
		crc = kp_crc32c(crc, buf, info.size);
	}
	return crc;
}

void th_rl_path(const struct th_log *t, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", t->dir, name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void th_rl_segment_name(const struct th_log *t, size_t k, char *out, size_t size)
{
	char *names[1024];
	size_t n = 0;
	DIR *d = opendir(t->dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 1024) {
		size_t l = strlen(de->d_name);
		if (l == 24 && strcmp(de->d_name + 20, ".log") == 0) {
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	ck_assert_uint_lt(k, n);
	snprintf(out, size, "%.20s", names[k]);
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
	}
}

long th_rl_file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		return -1;
	}
	return (long)st.st_size;
}

void th_rl_truncate_file(const char *path, long len)
{
	ck_assert_int_eq(truncate(path, len), 0);
}

void th_rl_flip_byte(const char *path, long pos)
{
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint8_t b;
	ck_assert_int_eq(pread(fd, &b, 1, pos), 1);
	b ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &b, 1, pos), 1);
	close(fd);
}

static struct th_log T;

static void info(struct rl_log_info *li)
{
	rl_log_get_info(T.log, li);
}

/* ---- Basics ------------------------------------------------------------- */

START_TEST(append_assigns_and_reads_back)
{
	th_rl_setup(&T, 1 << 20);
	size_t len;
	uint8_t *b1 = th_rl_batch(100, 3, 10, 1, &len);
	size_t len2;
	uint8_t *b2 = th_rl_batch(200, 1, 10, 2, &len2);
	struct rl_entry e[2] = {{.term = 1, .kind = RL_KIND_DATA, .buf = b1, .len = len},
				{.term = 2, .kind = RL_KIND_DATA, .buf = b2, .len = len2}};
	struct cb_rec c = {0};
	struct rl_append_req req = {.data = &c};
	ck_assert_int_eq(rl_append(T.log, &req, e, 2, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_int_eq(c.calls, 0); /* never inside the call */
	ck_assert_uint_eq(req.first_index, 1);
	ck_assert_uint_eq(req.last_index, 2);
	ck_assert_int_eq(req.base_offset, 0);
	ck_assert_int_eq(req.last_offset, 3);
	/* Offsets assigned in the caller's buffer. */
	ck_assert_int_eq((int64_t)kp_get_u64(b2), 3);
	ck_assert_int_eq((int32_t)kp_get_u32(b2 + KP_BATCH_OFF_LEADER_EPOCH), 2);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.last_index, 2);
	ck_assert_uint_eq(li.durable_index, 0);
	ck_assert_int_eq(li.next_offset, 4);
	ck_assert_int_eq(li.durable_offset, 0);
	/* Pending entries are read from the borrowed buffer. */
	uint8_t buf[4096];
	struct rl_entry_info ei;
	ck_assert_int_eq(rl_entry_read(T.log, 2, buf, sizeof(buf), &ei), 0);
	ck_assert(!ei.durable);
	ck_assert_mem_eq(buf, b2, len2);
	/* ... or borrowed from it without a copy. */
	const uint8_t *peek = NULL;
	size_t peek_len = 0;
	ck_assert_int_eq(rl_entry_peek(T.log, 2, &peek, &peek_len), 0);
	ck_assert_ptr_eq(peek, b2);
	ck_assert_uint_eq(peek_len, len2);
	ck_assert_int_eq(rl_entry_peek(T.log, 3, &peek, &peek_len), RL_ENOTFOUND);
	/* Nothing readable by offset until durable. */
	struct rl_read_ref ref;
	ck_assert_int_eq(rl_read_range(T.log, 0, INT64_MAX, 1 << 20, &ref), 0);
	ck_assert_uint_eq(ref.len, 0);
	ck_assert_uint_eq(rl_writer_run_pending(T.w), 1);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.status, 0);
	info(&li);
	ck_assert_uint_eq(li.durable_index, 2);
	ck_assert_int_eq(li.durable_offset, 4);
	ck_assert_uint_eq(li.last_term, 2);
	ck_assert_int_eq(rl_entry_read(T.log, 1, buf, sizeof(buf), &ei), 0);
	ck_assert(ei.durable);
	ck_assert_mem_eq(buf, b1, len);
	ck_assert_int_eq(rl_entry_peek(T.log, 1, &peek, &peek_len), RL_ENOTFOUND); /* durable */
	ck_assert_int_eq(ei.base_offset, 0);
	ck_assert_int_eq(ei.last_offset, 2);
	ck_assert_int_eq(ei.max_timestamp, 102);
	ck_assert_int_eq(rl_entry_read(T.log, 1, buf, 10, &ei), RL_ETOOSMALL);
	ck_assert_uint_eq(ei.size, len);
	ck_assert_int_eq(rl_entry_read(T.log, 3, buf, sizeof(buf), &ei), RL_ENOTFOUND);
	ck_assert_int_eq(rl_entry_read(T.log, 0, buf, sizeof(buf), &ei), RL_ENOTFOUND);
	sl_free(b1);
	sl_free(b2);
	/* Survives a reopen, bytes identical. */
	uint32_t d = th_rl_digest(T.log);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_uint_eq(th_rl_digest(T.log), d);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(append_verify_mode)
{
	th_rl_setup(&T, 1 << 20);
	size_t len;
	uint8_t *b = th_rl_batch(1, 2, 10, 1, &len);
	kp_batch_set_base_offset(b, 5);
	kp_batch_set_leader_epoch(b, 1);
	struct rl_entry e = {.term = 1, .kind = RL_KIND_DATA, .buf = b, .len = len};
	struct cb_rec c = {0};
	struct rl_append_req req = {.data = &c};
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), RL_EOFFSET);
	ck_assert_ptr_nonnull(strstr(rl_log_errmsg(T.log), "expected 0"));
	kp_batch_set_base_offset(b, 0);
	e.term = 2;
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), RL_EINVAL);
	e.term = 1;
	e.kind = RL_KIND_CONFIG;
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), RL_EBATCH);
	e.kind = RL_KIND_DATA;
	b[len - 1] ^= 1; /* CRC */
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), RL_EBATCH);
	b[len - 1] ^= 1;
	e.len = len - 1;
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), RL_EBATCH);
	e.len = len;
	ck_assert_int_eq(rl_append(T.log, &req, &e, 1, RL_APPEND_VERIFY, append_cb), 0);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.status, 0);
	/* Terms must not decrease. */
	ck_assert_int_eq(th_rl_append(&T, 3, 1, 1, 0), 0);
	ck_assert_int_eq(th_rl_append(&T, 2, 1, 1, 0), RL_EINVAL);
	sl_free(b);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(limits_and_queue_full)
{
	memset(&T, 0, sizeof(T));
	th_tmpdir(T.dir, sizeof(T.dir));
	rl_log_config_default(&T.cfg);
	T.cfg.dir = T.dir;
	T.cfg.batch_bytes_max = 1000;
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	wc.queue_ops_max = 2;
	wc.queue_bytes_max = 100000;
	ck_assert_int_eq(rl_writer_create(NULL, &wc, &T.w), 0);
	ck_assert_int_eq(rl_log_open(T.w, &T.cfg, &T.log, T.err, sizeof(T.err)), 0);
	size_t len;
	uint8_t *big = th_rl_batch(1, 1, 2000, 1, &len);
	struct rl_entry e = {.term = 1, .kind = RL_KIND_DATA, .buf = big, .len = len};
	struct cb_rec c = {0};
	struct rl_append_req r1 = {.data = &c}, r2 = {.data = &c}, r3 = {.data = &c};
	ck_assert_int_eq(rl_append(T.log, &r1, &e, 1, RL_APPEND_ASSIGN, append_cb), RL_ETOOLARGE);
	sl_free(big);
	uint8_t *b = th_rl_batch(1, 1, 10, 1, &len);
	e.buf = b;
	e.len = len;
	ck_assert_int_eq(rl_append(T.log, &r1, &e, 1, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_int_eq(rl_append(T.log, &r2, &e, 1, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_int_eq(rl_append(T.log, &r3, &e, 1, RL_APPEND_ASSIGN, append_cb), RL_EAGAIN);
	ck_assert_uint_eq(rl_log_pending_ops(T.log), 2);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.calls, 2);
	ck_assert_int_eq(rl_append(T.log, &r3, &e, 1, RL_APPEND_ASSIGN, append_cb), 0);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.calls, 3);
	sl_free(b);
	ck_assert_str_eq(rl_err_name(RL_EAGAIN), "RL_EAGAIN");
	ck_assert_str_eq(rl_strerror(RL_ECORRUPT), "corrupt data on disk");
	ck_assert_str_eq(rl_err_name(12345), "RL_UNKNOWN");
	th_rl_teardown(&T);
}
END_TEST

/* ---- Segments and lookups ----------------------------------------------- */

/* 30 batches of 3 records (offsets 3i..3i+2) with max timestamp 1000+i+2,
 * segments of ~4 batches. */
static void build_segmented(void)
{
	th_rl_setup(&T, 4 * 150);
	for (int i = 0; i < 30; i++) {
		ck_assert_int_eq(th_rl_append(&T, 1 + (uint64_t)i / 10, 3, 20, 1000 + i), 0);
	}
}

START_TEST(segment_roll_and_boundaries)
{
	build_segmented();
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_gt(li.segments, 5);
	ck_assert_uint_eq(li.last_index, 30);
	ck_assert_int_eq(li.next_offset, 90);
	/* Every segment file is named after its first batch's base offset and
	 * every entry's lookups agree at each segment's first and last entry. */
	int64_t expect_base = 0;
	for (size_t k = 0; k < li.segments; k++) {
		char name[64], path[4200];
		th_rl_segment_name(&T, k, name, sizeof(name));
		ck_assert_int_eq(strtoll(name, NULL, 10), expect_base);
		snprintf(path, sizeof(path), "%s/%s.log", T.dir, name);
		long size = th_rl_file_size(path);
		ck_assert_int_le(size, 600);
		uint64_t first_idx;
		ck_assert_int_eq(rl_offset_to_index(T.log, expect_base, &first_idx), 0);
		struct rl_entry_info ei;
		ck_assert_int_eq(rl_entry_get_info(T.log, first_idx, &ei), 0);
		ck_assert_int_eq(ei.base_offset, expect_base);
		/* Walk to the segment end. */
		long bytes = 0;
		uint64_t idx = first_idx;
		while (bytes < size) {
			ck_assert_int_eq(rl_entry_get_info(T.log, idx, &ei), 0);
			ck_assert_int_eq(ei.base_offset, (int64_t)(idx - 1) * 3);
			ck_assert_int_eq(ei.last_offset, (int64_t)(idx - 1) * 3 + 2);
			ck_assert_uint_eq(ei.term, 1 + (idx - 1) / 10);
			for (int64_t o = ei.base_offset; o <= ei.last_offset; o++) {
				uint64_t got;
				ck_assert_int_eq(rl_offset_to_index(T.log, o, &got), 0);
				ck_assert_uint_eq(got, idx);
			}
			int64_t off;
			ck_assert_int_eq(rl_offset_for_timestamp(T.log, ei.max_timestamp, &off), 0);
			ck_assert_int_eq(off, ei.base_offset);
			ck_assert_int_eq(rl_offset_for_timestamp(T.log, ei.max_timestamp - 1, &off), 0);
			ck_assert_int_eq(off, ei.base_offset > 0 ? ei.base_offset - 3 : 0);
			bytes += ei.size;
			idx++;
		}
		ck_assert_int_eq(bytes, size);
		expect_base = ei.last_offset + 1;
	}
	ck_assert_int_eq(expect_base, 90);
	uint64_t idx;
	int64_t off;
	ck_assert_int_eq(rl_offset_to_index(T.log, 90, &idx), RL_ENOTFOUND);
	ck_assert_int_eq(rl_offset_to_index(T.log, -1, &idx), RL_ENOTFOUND);
	ck_assert_int_eq(rl_offset_for_timestamp(T.log, 1000 + 29 + 3, &off), RL_ENOTFOUND);
	ck_assert_int_eq(rl_offset_for_timestamp(T.log, 0, &off), 0);
	ck_assert_int_eq(off, 0);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(read_ranges_bounded)
{
	build_segmented();
	struct rl_entry_info e1, e2;
	ck_assert_int_eq(rl_entry_get_info(T.log, 1, &e1), 0);
	ck_assert_int_eq(rl_entry_get_info(T.log, 2, &e2), 0);
	struct rl_read_ref ref;
	/* From the middle of a batch: the whole batch. */
	ck_assert_int_eq(rl_read_range(T.log, 1, INT64_MAX, 1, &ref), 0);
	ck_assert_uint_eq(ref.len, e1.size); /* at least one whole batch */
	ck_assert_int_eq(ref.file_pos, 0);
	ck_assert_int_eq(ref.base_offset, 0);
	ck_assert_int_eq(ref.next_offset, 3);
	uint8_t buf[600];
	ck_assert_int_eq(pread(ref.fd, buf, ref.len, ref.file_pos), (ssize_t)ref.len);
	ck_assert_int_eq(kp_batch_validate(buf, ref.len, 0, NULL), 0);
	rl_read_release(&ref);
	rl_read_release(&ref);
	/* max bytes: two batches fit exactly. */
	ck_assert_int_eq(rl_read_range(T.log, 0, INT64_MAX, e1.size + e2.size, &ref), 0);
	ck_assert_uint_eq(ref.len, e1.size + e2.size);
	ck_assert_int_eq(ref.next_offset, 6);
	rl_read_release(&ref);
	ck_assert_int_eq(rl_read_range(T.log, 0, INT64_MAX, e1.size + e2.size - 1, &ref), 0);
	ck_assert_uint_eq(ref.len, e1.size);
	rl_read_release(&ref);
	/* max offset (high watermark): batches must end before it. */
	ck_assert_int_eq(rl_read_range(T.log, 0, 5, 1 << 20, &ref), 0);
	ck_assert_int_eq(ref.next_offset, 3);
	rl_read_release(&ref);
	ck_assert_int_eq(rl_read_range(T.log, 0, 2, 1 << 20, &ref), 0);
	ck_assert_uint_eq(ref.len, 0);
	ck_assert_int_eq(rl_read_range(T.log, 3, 3, 1 << 20, &ref), 0);
	ck_assert_uint_eq(ref.len, 0);
	/* One segment per range; ranges chain across segments. */
	int64_t off = 0;
	int n_ranges = 0;
	while (off < 90) {
		ck_assert_int_eq(rl_read_range(T.log, off, INT64_MAX, 1 << 20, &ref), 0);
		ck_assert_uint_gt(ref.len, 0);
		ck_assert_int_eq(ref.base_offset, off);
		off = ref.next_offset;
		rl_read_release(&ref);
		n_ranges++;
	}
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq((uint64_t)n_ranges, li.segments);
	ck_assert_int_eq(rl_read_range(T.log, 90, INT64_MAX, 100, &ref), 0);
	ck_assert_uint_eq(ref.len, 0);
	ck_assert_int_eq(rl_read_range(T.log, 91, INT64_MAX, 100, &ref), RL_ERANGE);
	ck_assert_int_eq(rl_read_range(T.log, -1, INT64_MAX, 100, &ref), RL_ERANGE);
	/* Copies span segments and are bounded the same way. */
	uint8_t *out;
	size_t out_len;
	int64_t next;
	ck_assert_int_eq(rl_read_copy(T.log, 4, 80, 1 << 20, &out, &out_len, &next), 0);
	ck_assert_int_eq(next, 78);
	size_t at = 0;
	int64_t expect = 3;
	while (at < out_len) {
		struct kp_batch_header h;
		ck_assert_int_eq(kp_batch_validate(out + at, out_len - at, 0, &h), 0);
		ck_assert_int_eq(h.base_offset, expect);
		expect += 3;
		at += kp_batch_size(&h);
	}
	ck_assert_int_eq(expect, 78);
	sl_free(out);
	ck_assert_int_eq(rl_read_copy(T.log, 0, INT64_MAX, 1, &out, &out_len, &next), 0);
	ck_assert_uint_eq(out_len, e1.size);
	ck_assert_int_eq(next, 3);
	sl_free(out);
	ck_assert_int_eq(rl_read_copy(T.log, 90, INT64_MAX, 1, &out, &out_len, &next), 0);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_ptr_null(out);
	th_rl_teardown(&T);
}
END_TEST

/* ---- Truncation --------------------------------------------------------- */

static void truncate_cb(struct rl_truncate_req *req, int status)
{
	struct cb_rec *c = req->data;
	c->status = status;
	c->calls++;
}

static void do_truncate(uint64_t index)
{
	struct cb_rec c = {0};
	struct rl_truncate_req req = {.data = &c};
	ck_assert_int_eq(rl_truncate(T.log, &req, index, truncate_cb), 0);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.status, 0);
}

/* After truncating at `index`, the log ends at index - 1 / offset
 * 3 * (index - 1), survives a reopen and accepts new appends that reuse
 * the offsets. */
static void check_truncated(uint64_t index)
{
	struct rl_log_info li;
	for (int pass = 0; pass < 2; pass++) {
		info(&li);
		ck_assert_uint_eq(li.last_index, index - 1);
		ck_assert_uint_eq(li.durable_index, index - 1);
		ck_assert_int_eq(li.next_offset, 3 * (int64_t)(index - 1));
		ck_assert_int_eq(li.durable_offset, 3 * (int64_t)(index - 1));
		uint64_t bytes = 0;
		for (uint64_t i = 1; i < index; i++) {
			struct rl_entry_info ei;
			ck_assert_int_eq(rl_entry_get_info(T.log, i, &ei), 0);
			bytes += ei.size;
		}
		ck_assert_uint_eq(li.bytes, bytes);
		if (pass == 0) {
			ck_assert_int_eq(th_rl_reopen(&T), 0);
		}
	}
	ck_assert_int_eq(th_rl_append(&T, 9, 3, 20, 5000), 0);
	struct rl_entry_info ei;
	ck_assert_int_eq(rl_entry_get_info(T.log, index, &ei), 0);
	ck_assert_int_eq(ei.base_offset, 3 * (int64_t)(index - 1));
	ck_assert_uint_eq(ei.term, 9);
	uint32_t d = th_rl_digest(T.log);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_uint_eq(th_rl_digest(T.log), d);
}

START_TEST(truncate_middle_of_segment)
{
	build_segmented();
	do_truncate(7);
	check_truncated(7);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(truncate_at_segment_start)
{
	build_segmented();
	char name[64];
	th_rl_segment_name(&T, 2, name, sizeof(name));
	uint64_t idx;
	ck_assert_int_eq(rl_offset_to_index(T.log, strtoll(name, NULL, 10), &idx), 0);
	struct rl_log_info before;
	info(&before);
	do_truncate(idx);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.segments, 2);
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.log", T.dir, name);
	ck_assert_int_eq(th_rl_file_size(path), -1);
	check_truncated(idx);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(truncate_everything_and_last)
{
	build_segmented();
	do_truncate(30); /* only the last entry */
	check_truncated(30);
	do_truncate(1);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.segments, 0);
	ck_assert_uint_eq(li.last_index, 0);
	ck_assert_int_eq(li.next_offset, 0);
	check_truncated(1);
	/* Truncating at last + 1 is a no-op; beyond it is invalid. */
	info(&li);
	do_truncate(li.last_index + 1);
	struct cb_rec c = {0};
	struct rl_truncate_req req = {.data = &c};
	ck_assert_int_eq(rl_truncate(T.log, &req, li.last_index + 2, truncate_cb), RL_EINVAL);
	ck_assert_int_eq(rl_truncate(T.log, &req, 0, truncate_cb), RL_EINVAL);
	th_rl_teardown(&T);
}
END_TEST

/* Truncate pending entries before the writer ran: the replaced entries
 * never become durable, reads see the new ones, order is kept. */
START_TEST(truncate_pending_entries)
{
	th_rl_setup(&T, 1 << 20);
	th_rl_append_n(&T, 2, 1, 1, 10);
	size_t l1, l2;
	uint8_t *b1 = th_rl_batch(1, 1, 10, 11, &l1);
	uint8_t *b2 = th_rl_batch(1, 2, 10, 22, &l2);
	struct rl_entry e1 = {.term = 1, .kind = RL_KIND_DATA, .buf = b1, .len = l1};
	struct rl_entry e2 = {.term = 2, .kind = RL_KIND_DATA, .buf = b2, .len = l2};
	struct cb_rec c1 = {0}, c2 = {0}, ct = {0};
	struct rl_append_req r1 = {.data = &c1}, r2 = {.data = &c2};
	struct rl_truncate_req rt = {.data = &ct};
	ck_assert_int_eq(rl_append(T.log, &r1, &e1, 1, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_uint_eq(r1.first_index, 3);
	ck_assert_int_eq(rl_truncate(T.log, &rt, 3, truncate_cb), 0);
	ck_assert_int_eq(rl_append(T.log, &r2, &e2, 1, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_uint_eq(r2.first_index, 3);
	ck_assert_int_eq(r2.base_offset, 2);
	uint8_t buf[1024];
	ck_assert_int_eq(rl_entry_read(T.log, 3, buf, sizeof(buf), NULL), 0);
	ck_assert_mem_eq(buf, b2, l2);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c1.calls + c2.calls + ct.calls, 3);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.durable_index, 3);
	ck_assert_int_eq(li.next_offset, 4);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_int_eq(rl_entry_read(T.log, 3, buf, sizeof(buf), NULL), 0);
	ck_assert_mem_eq(buf, b2, l2);
	sl_free(b1);
	sl_free(b2);
	th_rl_teardown(&T);
}
END_TEST

/* ---- Retention and reset -------------------------------------------------- */

static void retain_cb(struct rl_retain_req *req, int status)
{
	struct cb_rec *c = req->data;
	c->status = status;
	c->calls++;
}

static uint32_t do_retain(int64_t bytes, int64_t ms, int64_t now, int64_t bound)
{
	struct rl_retention p = {.retention_bytes = bytes, .retention_ms = ms, .now_ms = now,
				 .bound_offset = bound};
	struct cb_rec c = {0};
	struct rl_retain_req req = {.data = &c};
	ck_assert_int_eq(rl_retain(T.log, &req, &p, retain_cb), 0);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.status, 0);
	return req.segments_deleted;
}

START_TEST(retention_edges)
{
	build_segmented();
	struct rl_log_info li;
	info(&li);
	uint64_t nseg = li.segments;
	char name1[64];
	th_rl_segment_name(&T, 1, name1, sizeof(name1));
	int64_t seg1_base = strtoll(name1, NULL, 10);
	/* Nothing at or above the bound offset is deleted. */
	ck_assert_uint_eq(do_retain(0, -1, 0, seg1_base - 1), 0);
	ck_assert_uint_eq(do_retain(0, -1, 0, seg1_base), 1);
	info(&li);
	ck_assert_int_eq(li.start_offset, seg1_base);
	ck_assert_uint_eq(li.segments, nseg - 1);
	uint64_t idx;
	ck_assert_int_eq(rl_offset_to_index(T.log, seg1_base - 1, &idx), RL_ENOTFOUND);
	struct rl_read_ref ref;
	ck_assert_int_eq(rl_read_range(T.log, 0, INT64_MAX, 100, &ref), RL_ERANGE);
	/* Bytes: keep at least this many bytes. */
	uint64_t keep = li.bytes - 1;
	ck_assert_uint_eq(do_retain((int64_t)keep, -1, 0, INT64_MAX), 0);
	/* Age: segments whose newest batch is older than now - ms. */
	struct rl_entry_info ei;
	char name2[64];
	th_rl_segment_name(&T, 1, name2, sizeof(name2));
	ck_assert_int_eq(rl_offset_to_index(T.log, strtoll(name2, NULL, 10) - 1, &idx), 0);
	ck_assert_int_eq(rl_entry_get_info(T.log, idx, &ei), 0);
	ck_assert_uint_eq(do_retain(-1, 10, ei.max_timestamp + 10, INT64_MAX), 0);
	ck_assert_uint_eq(do_retain(-1, 10, ei.max_timestamp + 11, INT64_MAX), 1);
	/* The active segment is never deleted, whatever the policy. */
	ck_assert_uint_eq(do_retain(0, 0, INT64_MAX / 2, INT64_MAX), nseg - 3);
	info(&li);
	ck_assert_uint_eq(li.segments, 1);
	ck_assert_uint_eq(do_retain(0, 0, INT64_MAX / 2, INT64_MAX), 0);
	/* Durable across reopen. */
	uint32_t d = th_rl_digest(T.log);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	struct rl_log_info l2;
	info(&l2);
	ck_assert_int_eq(l2.start_offset, li.start_offset);
	ck_assert_uint_eq(l2.first_index, li.first_index);
	ck_assert_uint_eq(th_rl_digest(T.log), d);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(read_ref_outlives_retention)
{
	build_segmented();
	struct rl_read_ref ref;
	ck_assert_int_eq(rl_read_range(T.log, 0, INT64_MAX, 1 << 20, &ref), 0);
	ck_assert_uint_gt(ref.len, 0);
	ck_assert_uint_ge(do_retain(0, -1, 0, INT64_MAX), 1);
	char path[4200];
	th_rl_path(&T, "00000000000000000000.log", path, sizeof(path));
	ck_assert_int_eq(th_rl_file_size(path), -1);
	uint8_t buf[1024];
	ck_assert_int_eq(pread(ref.fd, buf, ref.len, ref.file_pos), (ssize_t)ref.len);
	ck_assert_int_eq(kp_batch_validate(buf, ref.len, 0, NULL), 0);
	th_rl_close(&T); /* the ref outlives the log too */
	ck_assert_int_eq(pread(ref.fd, buf, ref.len, ref.file_pos), (ssize_t)ref.len);
	rl_read_release(&ref);
	th_rl_teardown(&T);
}
END_TEST

static void reset_cb(struct rl_reset_req *req, int status)
{
	struct cb_rec *c = req->data;
	c->status = status;
	c->calls++;
}

START_TEST(reset_restarts_log)
{
	build_segmented();
	struct cb_rec c = {0};
	struct rl_reset_req req = {.data = &c};
	ck_assert_int_eq(rl_reset(T.log, &req, 101, 12, reset_cb), 0);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.first_index, 101);
	ck_assert_uint_eq(li.last_index, 100);
	ck_assert_int_eq(li.next_offset, 12);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(th_rl_append(&T, 4, 3, 20, 1), 0);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	info(&li);
	ck_assert_uint_eq(li.first_index, 101);
	ck_assert_uint_eq(li.last_index, 101);
	ck_assert_int_eq(li.start_offset, 12);
	ck_assert_int_eq(li.next_offset, 15);
	ck_assert_uint_eq(li.segments, 1);
	th_rl_teardown(&T);
}
END_TEST

/* ---- Metadata ----------------------------------------------------------- */

static void meta_cb(struct rl_meta_req *req, int status)
{
	struct cb_rec *c = req->data;
	c->status = status;
	c->calls++;
}

START_TEST(term_vote_and_snapshot_durable)
{
	th_rl_setup(&T, 1 << 20);
	struct rl_log_info li;
	info(&li);
	ck_assert_uint_eq(li.term, 0);
	ck_assert_uint_eq(li.vote, 0);
	struct cb_rec c = {0};
	struct rl_meta_req req = {.data = &c};
	for (uint64_t t = 1; t <= 5; t++) {
		ck_assert_int_eq(rl_set_term_vote(T.log, &req, t, t + 100, meta_cb), 0);
		info(&li);
		ck_assert_uint_eq(li.term, t);
		rl_writer_run_pending(T.w);
		ck_assert_int_eq(c.status, 0);
		ck_assert_int_eq(th_rl_reopen(&T), 0);
		info(&li);
		ck_assert_uint_eq(li.term, t);
		ck_assert_uint_eq(li.vote, t + 100);
	}
	ck_assert_int_eq(rl_set_term_vote(T.log, &req, 4, 0, meta_cb), RL_EINVAL);
	/* A torn slot write leaves the previous value. */
	char path[4200];
	th_rl_path(&T, "vote", path, sizeof(path));
	th_rl_close(&T);
	th_rl_flip_byte(path, 20); /* slot 0 holds sequence 6, the latest */
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	info(&li);
	ck_assert_uint_eq(li.term, 4);
	ck_assert_uint_eq(li.vote, 104);

	uint8_t conf[300];
	for (size_t i = 0; i < sizeof(conf); i++) {
		conf[i] = (uint8_t)i;
	}
	struct rl_snapshot_meta sm = {.index = 77, .term = 3, .conf_index = 5,
				      .log_start_offset = 1234, .conf = conf,
				      .conf_len = sizeof(conf)};
	ck_assert_int_eq(rl_set_snapshot(T.log, &req, &sm, meta_cb), 0);
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	struct rl_snapshot_meta got;
	rl_log_get_snapshot(T.log, &got);
	ck_assert_uint_eq(got.index, 77);
	ck_assert_uint_eq(got.term, 3);
	ck_assert_uint_eq(got.conf_index, 5);
	ck_assert_int_eq(got.log_start_offset, 1234);
	ck_assert_uint_eq(got.conf_len, sizeof(conf));
	ck_assert_mem_eq(got.conf, conf, sizeof(conf));
	/* A damaged state file is reported, not ignored. */
	th_rl_path(&T, "state", path, sizeof(path));
	th_rl_close(&T);
	th_rl_flip_byte(path, 30);
	ck_assert_int_eq(th_rl_reopen(&T), RL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(T.err, "state"));
	th_rl_teardown(&T);
}
END_TEST

/* ---- Control entries and the RAFT_START listing -------------------------- */

struct visit_rec {
	int n;
	uint64_t index[16];
	int kind[16];
	char payload[16][32];
};

static int visit_cb(void *arg, const struct rl_entry_info *info, const uint8_t *payload,
		    size_t payload_len)
{
	struct visit_rec *v = arg;
	v->index[v->n] = info->index;
	v->kind[v->n] = info->kind;
	snprintf(v->payload[v->n], 32, "%.*s", (int)payload_len, payload ? (const char *)payload : "");
	v->n++;
	return 0;
}

START_TEST(control_entries_and_visit)
{
	th_rl_setup(&T, 1 << 20);
	uint8_t *cb1, *cb2;
	size_t l1, l2;
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_CONFIG, "conf-v1", 7, 5, &cb1, &l1), 0);
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_DATA, NULL, 0, 5, &cb2, &l2), RL_EINVAL);
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_BARRIER, NULL, 0, 5, &cb2, &l2), 0);
	enum rl_kind kind;
	const uint8_t *p;
	size_t plen;
	ck_assert_int_eq(rl_batch_kind(cb1, l1, &kind, &p, &plen), 0);
	ck_assert_int_eq(kind, RL_KIND_CONFIG);
	ck_assert_uint_eq(plen, 7);
	ck_assert_mem_eq(p, "conf-v1", 7);
	size_t dl;
	uint8_t *data = th_rl_batch(1, 2, 5, 1, &dl);
	struct rl_entry e[3] = {{.term = 1, .kind = RL_KIND_CONFIG, .buf = cb1, .len = l1},
				{.term = 1, .kind = RL_KIND_DATA, .buf = data, .len = dl},
				{.term = 2, .kind = RL_KIND_BARRIER, .buf = cb2, .len = l2}};
	struct cb_rec c = {0};
	struct rl_append_req req = {.data = &c};
	ck_assert_int_eq(rl_append(T.log, &req, e, 3, RL_APPEND_ASSIGN, append_cb), 0);
	ck_assert_int_eq(req.last_offset, 3); /* control batches take one offset each */
	rl_writer_run_pending(T.w);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	struct visit_rec v = {0};
	ck_assert_int_eq(rl_log_visit(T.log, visit_cb, &v), 0);
	ck_assert_int_eq(v.n, 3);
	ck_assert_int_eq(v.kind[0], RL_KIND_CONFIG);
	ck_assert_str_eq(v.payload[0], "conf-v1");
	ck_assert_int_eq(v.kind[1], RL_KIND_DATA);
	ck_assert_int_eq(v.kind[2], RL_KIND_BARRIER);
	ck_assert_uint_eq(v.index[2], 3);
	sl_free(cb1);
	sl_free(cb2);
	sl_free(data);
	th_rl_teardown(&T);
}
END_TEST

/* ---- Threaded writer ----------------------------------------------------- */

struct thr_ctx {
	int done;
	int order[400];
	int status_bad;
};

static void thr_cb(struct rl_append_req *req, int status)
{
	struct thr_ctx *x = *(struct thr_ctx **)req->data;
	int id = (int)(intptr_t)((void **)req->data)[1];
	x->order[x->done++] = id;
	x->status_bad |= status != 0;
}

START_TEST(threaded_writer_fifo)
{
	char dir[4096];
	th_tmpdir(dir, sizeof(dir));
	uv_loop_t loop;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	struct rl_writer *w;
	ck_assert_int_eq(rl_writer_create(&loop, &wc, &w), 0);
	struct rl_log *logs[4];
	for (int i = 0; i < 4; i++) {
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/p%d", dir, i);
		struct rl_log_config cfg;
		rl_log_config_default(&cfg);
		cfg.dir = sub;
		cfg.segment_bytes_max = 4096;
		ck_assert_int_eq(rl_log_open(w, &cfg, &logs[i], NULL, 0), 0);
	}
	enum { N = 400 };
	static struct rl_append_req reqs[N];
	static void *datas[N][2];
	static uint8_t *bufs[N];
	struct thr_ctx ctx = {0};
	struct thr_ctx per_log[4];
	memset(per_log, 0, sizeof(per_log));
	for (int i = 0; i < N; i++) {
		size_t len;
		bufs[i] = th_rl_batch(i, 2, 100, (uint32_t)i, &len);
		datas[i][0] = &per_log[i % 4];
		datas[i][1] = (void *)(intptr_t)i;
		reqs[i].data = datas[i];
		struct rl_entry e = {.term = 1, .kind = RL_KIND_DATA, .buf = bufs[i], .len = len};
		ck_assert_int_eq(rl_append(logs[i % 4], &reqs[i], &e, 1, RL_APPEND_ASSIGN, thr_cb), 0);
		if (i % 37 == 0) {
			uv_run(&loop, UV_RUN_NOWAIT);
		}
	}
	while (per_log[0].done + per_log[1].done + per_log[2].done + per_log[3].done < N) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	for (int l = 0; l < 4; l++) {
		ck_assert_int_eq(per_log[l].status_bad, 0);
		for (int k = 0; k < N / 4; k++) {
			ck_assert_int_eq(per_log[l].order[k], k * 4 + l); /* FIFO per log */
		}
		struct rl_log_info li;
		rl_log_get_info(logs[l], &li);
		ck_assert_uint_eq(li.durable_index, N / 4);
		ck_assert_uint_gt(li.segments, 1);
		rl_log_close(logs[l]);
	}
	(void)ctx;
	for (int i = 0; i < N; i++) {
		sl_free(bufs[i]);
	}
	rl_writer_close(w);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	th_rmtree(dir);
}
END_TEST

Suite *raftlog_suite(void)
{
	Suite *s = suite_create("raftlog");
	TCase *tc = tcase_create("basics");
	tcase_add_test(tc, append_assigns_and_reads_back);
	tcase_add_test(tc, append_verify_mode);
	tcase_add_test(tc, limits_and_queue_full);
	tcase_add_test(tc, control_entries_and_visit);
	tcase_add_test(tc, term_vote_and_snapshot_durable);
	tcase_add_test(tc, threaded_writer_fifo);
	suite_add_tcase(s, tc);
	tc = tcase_create("segments");
	tcase_add_test(tc, segment_roll_and_boundaries);
	tcase_add_test(tc, read_ranges_bounded);
	tcase_add_test(tc, read_ref_outlives_retention);
	suite_add_tcase(s, tc);
	tc = tcase_create("truncate_retain");
	tcase_add_test(tc, truncate_middle_of_segment);
	tcase_add_test(tc, truncate_at_segment_start);
	tcase_add_test(tc, truncate_everything_and_last);
	tcase_add_test(tc, truncate_pending_entries);
	tcase_add_test(tc, retention_edges);
	tcase_add_test(tc, reset_restarts_log);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, th_rl_recovery_tcase());
	suite_add_tcase(s, th_rl_fault_tcase());
	return s;
}
