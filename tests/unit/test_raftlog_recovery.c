/* Unit tests for raftlog recovery: index rebuild (missing, damaged, short,
 * long), mid-log corruption reported as RL_ECORRUPT, torn tails cut at
 * every byte of the final batch, and fault injection (failed writes,
 * syncs, allocations, opens) never losing an acknowledged append. Its cases
 * run inside the raftlog suite (see raftlog_suite()). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"
#include "tests/unit/helpers.h"
#include "tests/unit/raftlog_th.h"

static struct th_log T;

/* n batches of 3 records each, segments of about 4 batches. */
static void build(int n)
{
	th_rl_setup(&T, 4 * 150);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(th_rl_append(&T, 1 + (uint64_t)i / 10, 3, 20, 1000 + i), 0);
	}
}

static void seg_path(size_t k, const char *ext, char *out, size_t size)
{
	char name[64];
	th_rl_segment_name(&T, k, name, sizeof(name));
	snprintf(out, size, "%s/%s.%s", T.dir, name, ext);
}

static size_t n_segments(void)
{
	struct rl_log_info li;
	rl_log_get_info(T.log, &li);
	return li.segments;
}

static void append_bytes(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* ---- Index rebuild ------------------------------------------------------ */

enum damage { DELETE, CORRUPT, SHORTEN, LENGTHEN_GARBAGE, LENGTHEN_COPY, PARTIAL, DAMAGE_N };

static void damage_index(const char *path, enum damage d)
{
	long size = th_rl_file_size(path);
	ck_assert_int_gt(size, 64);
	switch (d) {
	case DELETE:
		ck_assert_int_eq(unlink(path), 0);
		break;
	case CORRUPT:
		th_rl_flip_byte(path, size - 64 - 30);
		break;
	case SHORTEN:
		th_rl_truncate_file(path, size - 64 - 10);
		break;
	case LENGTHEN_GARBAGE: {
		uint8_t junk[64];
		memset(junk, 0xab, sizeof(junk));
		append_bytes(path, junk, sizeof(junk));
		break;
	}
	case LENGTHEN_COPY: {
		uint8_t rec[64];
		int fd = open(path, O_RDONLY);
		ck_assert_int_eq(pread(fd, rec, 64, size - 64), 64);
		close(fd);
		append_bytes(path, rec, sizeof(rec));
		break;
	}
	case PARTIAL:
		append_bytes(path, "abc", 3);
		break;
	default:
		break;
	}
}

START_TEST(index_rebuild_all_damages)
{
	for (int d = 0; d < DAMAGE_N; d++) {
		for (int which = 0; which < 3; which++) { /* first, middle, last */
			build(30);
			uint32_t digest = th_rl_digest(T.log);
			size_t n = n_segments();
			size_t k = which == 0 ? 0 : which == 1 ? n / 2 : n - 1;
			char path[4200], log_path[4200];
			seg_path(k, "index", path, sizeof(path));
			seg_path(k, "log", log_path, sizeof(log_path));
			long good_size = th_rl_file_size(path);
			th_rl_close(&T);
			damage_index(path, (enum damage)d);
			int rv = th_rl_reopen(&T);
			ck_assert_msg(rv == 0, "damage %d seg %zu: %s", d, k, T.err);
			ck_assert_uint_eq(th_rl_digest(T.log), digest);
			ck_assert_int_eq(th_rl_file_size(path), good_size);
			/* And the log keeps working. */
			ck_assert_int_eq(th_rl_append(&T, 5, 3, 20, 9), 0);
			ck_assert_int_eq(th_rl_reopen(&T), 0);
			struct rl_log_info li;
			rl_log_get_info(T.log, &li);
			ck_assert_uint_eq(li.last_index, 31);
			th_rl_teardown(&T);
		}
	}
}
END_TEST

/* ---- Corruption --------------------------------------------------------- */

START_TEST(corruption_in_closed_segment)
{
	build(30);
	char path[4200], ipath[4200];
	seg_path(1, "log", path, sizeof(path));
	seg_path(1, "index", ipath, sizeof(ipath));
	th_rl_close(&T);
	/* A bad byte inside the first batch (with the index gone, the scan
	 * meets it). */
	th_rl_flip_byte(path, 100);
	ck_assert_int_eq(unlink(ipath), 0);
	ck_assert_int_eq(th_rl_reopen(&T), RL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(T.err, "closed segment"));
	ck_assert_ptr_nonnull(strstr(T.err, "position 0"));
	th_rl_flip_byte(path, 100);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(corruption_last_batch_of_closed_segment)
{
	build(30);
	char path[4200];
	seg_path(1, "log", path, sizeof(path));
	long size = th_rl_file_size(path);
	th_rl_close(&T);
	th_rl_flip_byte(path, size - 5); /* the spot-checked batch */
	ck_assert_int_eq(th_rl_reopen(&T), RL_ECORRUPT);
	char name[64];
	th_rl_segment_name(&T, 1, name, sizeof(name));
	ck_assert_ptr_nonnull(strstr(T.err, name));
	th_rl_teardown(&T);
}
END_TEST

START_TEST(corruption_mid_last_segment)
{
	build(30);
	size_t n = n_segments();
	char path[4200], ipath[4200];
	seg_path(n - 1, "log", path, sizeof(path));
	seg_path(n - 1, "index", ipath, sizeof(ipath));
	th_rl_close(&T);
	th_rl_flip_byte(path, 70); /* first batch of two */
	/* Covered by the index: found on read, with the CRC re-check. */
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	struct rl_log_info li;
	rl_log_get_info(T.log, &li);
	uint8_t buf[1024];
	ck_assert_int_eq(rl_entry_read(T.log, li.last_index - 1, buf, sizeof(buf), NULL), RL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(rl_log_errmsg(T.log), "position 0"));
	uint8_t *copy;
	size_t copy_len;
	int64_t next;
	struct rl_entry_info ei;
	ck_assert_int_eq(rl_entry_get_info(T.log, li.last_index - 1, &ei), 0);
	ck_assert_int_eq(rl_read_copy(T.log, ei.base_offset, INT64_MAX, 1, &copy, &copy_len, &next),
			 RL_ECORRUPT);
	/* Without the index the tail scan finds a bad batch followed by a
	 * valid one: corruption, not a torn tail, and nothing is cut. */
	th_rl_close(&T);
	long size = th_rl_file_size(path);
	ck_assert_int_eq(unlink(ipath), 0);
	ck_assert_int_eq(th_rl_reopen(&T), RL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(T.err, "followed by a valid batch"));
	ck_assert_int_eq(th_rl_file_size(path), size);
	th_rl_teardown(&T);
}
END_TEST

START_TEST(missing_middle_segment)
{
	build(30);
	char path[4200], ipath[4200];
	seg_path(2, "log", path, sizeof(path));
	seg_path(2, "index", ipath, sizeof(ipath));
	th_rl_close(&T);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(unlink(ipath), 0);
	ck_assert_int_eq(th_rl_reopen(&T), RL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(T.err, "expected"));
	th_rl_teardown(&T);
}
END_TEST

/* ---- Torn writes -------------------------------------------------------- */

/* For every length of the final batch, cut the last segment there and
 * reopen: exactly the whole batches before it remain, and appending the
 * same batch again restores the identical log. */
static void torn_sweep(int n)
{
	build(n);
	uint32_t digest = th_rl_digest(T.log);
	struct rl_entry_info last;
	ck_assert_int_eq(rl_entry_get_info(T.log, (uint64_t)n, &last), 0);
	size_t nseg = n_segments();
	char path[4200];
	seg_path(nseg - 1, "log", path, sizeof(path));
	long full = th_rl_file_size(path);
	ck_assert_int_eq(full, (long)(last.size + (uint32_t)(full - last.size)));
	for (uint32_t cut = 0; cut < last.size; cut++) {
		th_rl_close(&T);
		th_rl_truncate_file(path, full - (long)last.size + (long)cut);
		int rv = th_rl_reopen(&T);
		ck_assert_msg(rv == 0, "cut %u: %s", cut, T.err);
		struct rl_log_info li;
		rl_log_get_info(T.log, &li);
		ck_assert_uint_eq(li.last_index, (uint64_t)n - 1);
		ck_assert_int_eq(li.next_offset, last.base_offset);
		ck_assert_int_eq(li.durable_offset, last.base_offset);
		ck_assert_uint_eq(li.segments, full == (long)last.size ? nseg - 1 : nseg);
		ck_assert_int_eq(th_rl_append(&T, last.term, 3, 20, 1000 + n - 1), 0);
		ck_assert_uint_eq(th_rl_digest(T.log), digest);
	}
	/* Garbage or zeros after the last batch are a torn tail too. */
	th_rl_close(&T);
	uint8_t junk[300];
	memset(junk, 0, sizeof(junk));
	append_bytes(path, junk, sizeof(junk));
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_uint_eq(th_rl_digest(T.log), digest);
	th_rl_close(&T);
	for (size_t i = 0; i < sizeof(junk); i++) {
		junk[i] = (uint8_t)(i * 37 + 11);
	}
	append_bytes(path, junk, sizeof(junk));
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_uint_eq(th_rl_digest(T.log), digest);
	ck_assert_int_eq(th_rl_file_size(path), full);
	th_rl_teardown(&T);
}

START_TEST(torn_tail_every_length)
{
	torn_sweep(30); /* last segment holds two batches */
	torn_sweep(29); /* last segment holds one batch: cut to empty */
}
END_TEST

/* ---- Fault injection ---------------------------------------------------- */

enum { F_BATCHES = 12, F_APPENDS = 10 };

struct f_append {
	struct rl_append_req req;
	int calls;
	int status;
	bool before_trunc;
	uint8_t *copy[2];
	size_t len[2];
	unsigned n;
};

struct f_run {
	uint8_t *bufs[F_BATCHES];
	size_t lens[F_BATCHES];
	struct f_append ap[F_APPENDS];
	int n_ap;
	bool truncated;
	uint64_t trunc_from;
	int errors;
	int meta_status[3];
	int meta_calls[3];
};

static void f_append_cb(struct rl_append_req *req, int status)
{
	struct f_append *a = req->data;
	a->calls++;
	a->status = status;
}

static void f_meta_cb(struct rl_meta_req *req, int status)
{
	int *slot = req->data;
	slot[0] = status;
	slot[3]++;
}

static void f_trunc_cb(struct rl_truncate_req *req, int status)
{
	int *st = req->data;
	*st = status;
}

static void f_retain_cb(struct rl_retain_req *req, int status)
{
	int *st = req->data;
	*st = status;
}

static void f_append(struct f_run *r, unsigned first, unsigned n)
{
	struct f_append *a = &r->ap[r->n_ap++];
	struct rl_entry e[2];
	for (unsigned i = 0; i < n; i++) {
		e[i] = (struct rl_entry){.term = 2, .kind = RL_KIND_DATA, .buf = r->bufs[first + i],
					 .len = r->lens[first + i]};
	}
	a->req.data = a;
	a->before_trunc = !r->truncated;
	int rv = rl_append(T.log, &a->req, e, n, RL_APPEND_ASSIGN, f_append_cb);
	if (rv != 0) {
		r->errors++;
		a->n = 0;
		return;
	}
	a->n = n;
	for (unsigned i = 0; i < n; i++) {
		a->copy[i] = malloc(e[i].len);
		memcpy(a->copy[i], e[i].buf, e[i].len);
		a->len[i] = e[i].len;
	}
}

/* The operation sequence run under an armed fault. */
static void f_sequence(struct f_run *r)
{
	static int meta[2][4];
	static int trunc_status, retain_status;
	memset(meta, 0, sizeof(meta));
	struct rl_meta_req mreq[2] = {{.data = meta[0]}, {.data = meta[1]}};
	struct rl_truncate_req treq = {.data = &trunc_status};
	struct rl_retain_req rreq = {.data = &retain_status};
	for (unsigned i = 0; i < 5; i++) {
		f_append(r, i, 1);
		if (i % 2 == 1) {
			rl_writer_run_pending(T.w);
		}
	}
	struct rl_log_info li;
	rl_log_get_info(T.log, &li);
	trunc_status = 0;
	if (li.last_index >= 6 && rl_truncate(T.log, &treq, 6, f_trunc_cb) == 0) {
		r->truncated = true;
		r->trunc_from = 6;
	} else if (li.last_index >= 6) {
		r->errors++;
	}
	if (rl_set_term_vote(T.log, &mreq[0], 3, 7, f_meta_cb) != 0) {
		meta[0][3] = -1;
		r->errors++;
	}
	f_append(r, 5, 2);
	f_append(r, 7, 2);
	rl_writer_run_pending(T.w);
	uint8_t conf[20] = "configuration bytes";
	struct rl_snapshot_meta sm = {.index = 42, .term = 2, .conf = conf, .conf_len = sizeof(conf)};
	if (rl_set_snapshot(T.log, &mreq[1], &sm, f_meta_cb) != 0) {
		meta[1][3] = -1;
		r->errors++;
	}
	struct rl_retention p = {.retention_bytes = 0, .retention_ms = -1, .bound_offset = 6};
	retain_status = 0;
	if (rl_retain(T.log, &rreq, &p, f_retain_cb) != 0) {
		r->errors++;
	}
	f_append(r, 9, 1);
	f_append(r, 10, 2);
	rl_writer_run_pending(T.w);
	r->errors += trunc_status != 0;
	r->errors += retain_status != 0;
	for (int i = 0; i < 2; i++) {
		r->meta_status[i] = meta[i][3] == 1 ? meta[i][0] : -1;
		r->errors += meta[i][3] == 1 && meta[i][0] != 0;
	}
	for (int i = 0; i < r->n_ap; i++) {
		r->errors += r->ap[i].n > 0 && r->ap[i].status != 0;
	}
}

/* After a clean reopen every acknowledged append is there, bytes equal. */
static void f_check(struct f_run *r)
{
	struct rl_log_info li;
	rl_log_get_info(T.log, &li);
	for (int i = 0; i < r->n_ap; i++) {
		struct f_append *a = &r->ap[i];
		for (unsigned j = 0; j < a->n; j++) {
			uint64_t index = a->req.first_index + j;
			bool gone = (r->truncated && a->before_trunc && index >= r->trunc_from) ||
				    index < li.first_index;
			if (a->status == 0 && !gone) {
				uint8_t buf[4096];
				int rv = rl_entry_read(T.log, index, buf, sizeof(buf), NULL);
				ck_assert_msg(rv == 0, "acked index %lu lost: %s", (unsigned long)index,
					      rl_err_name(rv));
				ck_assert_mem_eq(buf, a->copy[j], a->len[j]);
			}
			free(a->copy[j]);
		}
	}
	if (r->meta_status[0] == 0) {
		ck_assert_uint_eq(li.term, 3);
		ck_assert_uint_eq(li.vote, 7);
	}
	struct rl_snapshot_meta sm;
	rl_log_get_snapshot(T.log, &sm);
	if (r->meta_status[1] == 0) {
		ck_assert_uint_eq(sm.index, 42);
	}
}

static int f_run_once(enum sl_fault_kind kind, long n, bool sticky)
{
	struct f_run r;
	memset(&r, 0, sizeof(r));
	th_rl_setup(&T, 400);
	for (int i = 0; i < F_BATCHES; i++) {
		r.bufs[i] = th_rl_batch(100 + i, 2, 40 + 10 * i, (uint32_t)i, &r.lens[i]);
	}
	sl_fault_arm(kind, n, sticky);
	f_sequence(&r);
	sl_fault_reset();
	struct rl_log_info li;
	rl_log_get_info(T.log, &li);
	if (r.errors > 0 && li.failed) {
		ck_assert_int_ne(rl_log_errmsg(T.log)[0], '\0');
		struct f_append extra = {0};
		struct rl_entry e = {.term = 2, .kind = RL_KIND_DATA, .buf = r.bufs[0], .len = r.lens[0]};
		ck_assert_int_eq(rl_append(T.log, &extra.req, &e, 1, RL_APPEND_ASSIGN, f_append_cb),
				 RL_EIO);
		for (uint64_t i = li.durable_index + 1; i <= li.last_index; i++) {
			uint8_t buf[4096];
			ck_assert_int_eq(rl_entry_read(T.log, i, buf, sizeof(buf), NULL), RL_EIO);
		}
	}
	int rv = th_rl_reopen(&T);
	ck_assert_msg(rv == 0, "fault %d n=%ld sticky=%d: reopen: %s", kind, n, sticky, T.err);
	f_check(&r);
	for (int i = 0; i < F_BATCHES; i++) {
		sl_free(r.bufs[i]);
	}
	th_rl_teardown(&T);
	return r.errors;
}

static void f_sweep(enum sl_fault_kind kind, bool sticky)
{
	long n;
	enum sl_log_level saved = sl_log_min_level;
	sl_log_min_level = SL_LOG_OFF;
	for (n = 1; n < 1000; n++) {
		if (f_run_once(kind, n, sticky) == 0) {
			break;
		}
	}
	sl_log_min_level = saved;
	fprintf(stderr, "raftlog fault sweep: kind=%d sticky=%d failing runs=%ld\n", (int)kind,
		(int)sticky, n - 1);
	ck_assert_int_gt(n, 1); /* the fault did hit */
	ck_assert_int_lt(n, 1000);
}

START_TEST(fault_write)
{
	f_sweep(SL_FAULT_WRITE, false);
	f_sweep(SL_FAULT_WRITE, true);
}
END_TEST

START_TEST(fault_fsync)
{
	f_sweep(SL_FAULT_FSYNC, false);
	f_sweep(SL_FAULT_FSYNC, true);
}
END_TEST

START_TEST(fault_alloc)
{
	f_sweep(SL_FAULT_ALLOC, false);
	f_sweep(SL_FAULT_ALLOC, true);
}
END_TEST

START_TEST(fault_open)
{
	f_sweep(SL_FAULT_OPEN, false);
}
END_TEST

/* Recovery itself under faults: the open fails cleanly or succeeds, and a
 * clean open afterwards has the whole log. */
START_TEST(fault_during_open)
{
	static const enum sl_fault_kind kinds[] = {SL_FAULT_ALLOC, SL_FAULT_READ, SL_FAULT_OPEN,
						   SL_FAULT_WRITE, SL_FAULT_FSYNC};
	sl_log_min_level = SL_LOG_OFF;
	for (size_t k = 0; k < SL_ARRAY_LEN(kinds); k++) {
		build(14);
		uint32_t digest = th_rl_digest(T.log);
		size_t nseg = n_segments();
		char ipath[4200], lpath[4200];
		seg_path(nseg - 1, "index", ipath, sizeof(ipath));
		seg_path(nseg - 1, "log", lpath, sizeof(lpath));
		th_rl_close(&T);
		uint8_t junk[10] = {1, 2, 3};
		for (long n = 1; n < 500; n++) {
			unlink(ipath); /* force a rebuild and a tail cut */
			append_bytes(lpath, junk, sizeof(junk));
			sl_fault_arm(kinds[k], n, false);
			int rv = th_rl_reopen(&T);
			sl_fault_reset();
			th_rl_close(&T);
			ck_assert_int_eq(th_rl_reopen(&T), 0);
			ck_assert_uint_eq(th_rl_digest(T.log), digest);
			th_rl_close(&T);
			if (rv == 0) {
				break;
			}
		}
		th_rl_teardown(&T);
	}
}
END_TEST

TCase *th_rl_fault_tcase(void)
{
	TCase *tc = tcase_create("faults");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, fault_write);
	tcase_add_test(tc, fault_fsync);
	tcase_add_test(tc, fault_alloc);
	tcase_add_test(tc, fault_open);
	tcase_add_test(tc, fault_during_open);
	return tc;
}

/* A torn final batch whose record carries a whole, valid batch of some
 * other log (offset 0) is still a torn tail, not corruption. */
START_TEST(torn_batch_with_embedded_batch)
{
	build(5);
	uint32_t digest = th_rl_digest(T.log);
	size_t inner_len, outer_len;
	uint8_t *inner = th_rl_batch(1, 2, 100, 9, &inner_len);
	kp_batch_set_leader_epoch(inner, 1);
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 15, KP_CODEC_NONE, -1, -1, -1), 0);
	ck_assert_int_eq(kp_batch_builder_add(&b, 7, NULL, -1, inner, (int32_t)inner_len, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	uint8_t *outer = kp_batch_builder_take(&b, &outer_len);
	kp_batch_builder_free(&b);
	kp_batch_set_leader_epoch(outer, 1);
	char path[4200];
	seg_path(n_segments() - 1, "log", path, sizeof(path));
	th_rl_close(&T);
	long size = th_rl_file_size(path);
	/* Cut inside the outer batch, after the whole inner one. */
	append_bytes(path, outer, outer_len - 5);
	ck_assert_int_eq(th_rl_reopen(&T), 0);
	ck_assert_uint_eq(th_rl_digest(T.log), digest);
	ck_assert_int_eq(th_rl_file_size(path), size);
	sl_free(inner);
	sl_free(outer);
	th_rl_teardown(&T);
}
END_TEST

Suite *raftlog_recovery_suite(void)
{
	/* Empty on purpose: these cases run in the "raftlog" suite so that
	 * `test_unit raftlog` runs every raftlog test. */
	return suite_create("raftlog_recovery");
}

TCase *th_rl_recovery_tcase(void)
{
	TCase *tc = tcase_create("recovery");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, index_rebuild_all_damages);
	tcase_add_test(tc, corruption_in_closed_segment);
	tcase_add_test(tc, corruption_last_batch_of_closed_segment);
	tcase_add_test(tc, corruption_mid_last_segment);
	tcase_add_test(tc, missing_middle_segment);
	tcase_add_test(tc, torn_tail_every_length);
	tcase_add_test(tc, torn_batch_with_embedded_batch);
	return tc;
}
