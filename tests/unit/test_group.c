/* Unit tests for the raftlog group driver: three replicas in one process,
 * manual writers, a virtual clock, and messages passed through the real
 * wire codec (server/rpc_codec.h) with optional loss. Checks elections,
 * replication with acks=1/all, the high watermark, byte-identical replicas,
 * dense offsets, leadership transfer and failover after a crash. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/group.h"
#include "raftlog/raftlog.h"
#include "server/rpc_codec.h"
#include "tests/unit/helpers.h"

#define N 3
#define MAXQ 4096

struct wire {
	uint64_t from, to;
	uint8_t *buf;
	size_t len;
};

struct node {
	uint64_t id;
	char dir[300];
	struct rl_writer *w;
	struct rl_log *log;
	struct rl_group *g;
	bool up;
};

static struct {
	char root[256];
	struct node nodes[N];
	struct wire q[MAXQ];
	unsigned nq;
	uint64_t now;
	uint64_t rng;
	unsigned drop_pct;
	bool cut[N + 1][N + 1];
	struct rl_group_env env;
} c;

static uint64_t rnd(void)
{
	uint64_t z = (c.rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct node *node_of(struct rl_group *g)
{
	return rl_group_data(g);
}

static void env_send(struct rl_group *g, const struct raft_message *msg)
{
	struct node *from = node_of(g);
	if (c.nq == MAXQ || (c.drop_pct > 0 && rnd() % 100 < c.drop_pct)) {
		return;
	}
	struct wire *wm = &c.q[c.nq];
	ck_assert_int_eq(sl_rpc_encode(msg, 0, &wm->buf, &wm->len), 0);
	wm->from = from->id;
	wm->to = msg->server_id;
	c.nq++;
}

static void run_writers(void)
{
	for (int again = 1; again;) {
		again = 0;
		for (int i = 0; i < N; i++) {
			if (c.nodes[i].w != NULL && rl_writer_run_pending(c.nodes[i].w) > 0) {
				again = 1;
			}
		}
	}
}

/* Delivers every queued message (in random order), then runs writers. */
static void deliver(void)
{
	while (c.nq > 0) {
		unsigned k = (unsigned)(rnd() % c.nq);
		struct wire wm = c.q[k];
		c.q[k] = c.q[--c.nq];
		struct node *to = &c.nodes[wm.to - 1];
		if (to->up && !c.cut[wm.from][wm.to]) {
			struct raft_message msg;
			ck_assert_int_eq(sl_rpc_decode(wm.buf, wm.len, NULL, &msg), 0);
			msg.server_id = wm.from;
			rl_group_receive(to->g, &msg, c.now);
		}
		sl_free(wm.buf);
		run_writers();
	}
}

static void step_ms(unsigned ms)
{
	for (unsigned t = 0; t < ms; t++) {
		c.now++;
		for (int i = 0; i < N; i++) {
			if (c.nodes[i].up && rl_group_deadline_ms(c.nodes[i].g) <= c.now) {
				rl_group_tick(c.nodes[i].g, c.now);
			}
		}
		run_writers();
		deliver();
	}
}

static void boot_cb(struct rl_bootstrap_req *req, int status)
{
	ck_assert_int_eq(status, 0);
	*(int *)req->data = 1;
}

static void open_node(int i, bool bootstrap)
{
	struct node *n = &c.nodes[i];
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	ck_assert_int_eq(rl_writer_create(NULL, &wc, &n->w), 0);
	struct rl_log_config lc;
	rl_log_config_default(&lc);
	lc.dir = n->dir;
	lc.segment_bytes_max = 64 * 1024;
	char err[256];
	ck_assert_int_eq(rl_log_open(n->w, &lc, &n->log, err, sizeof(err)), 0);
	if (bootstrap) {
		uint64_t voters[N] = {1, 2, 3};
		struct rl_bootstrap_req br;
		int done = 0;
		br.data = &done;
		ck_assert_int_eq(rl_group_bootstrap(n->log, &br, voters, N, 1000, boot_cb), 0);
		rl_writer_run_pending(n->w);
		ck_assert_int_eq(done, 1);
	}
	struct rl_group_config gc;
	rl_group_config_default(&gc);
	gc.server_id = n->id;
	gc.group_id = 7;
	gc.seed = (uint32_t)(n->id * 7919 + c.rng);
	gc.snapshot_threshold = 64;
	gc.snapshot_trailing = 16;
	ck_assert_int_eq(rl_group_open(n->log, &gc, &c.env, c.now, &n->g), 0);
	rl_group_set_data(n->g, n);
	n->up = true;
}

static void close_cb(struct rl_group *g, void *arg)
{
	(void)g;
	*(int *)arg = 1;
}

/* Stops a node as a crash would: unsynced work is still completed by the
 * manual writer (a clean stop); the simulator covers torn state. */
static void stop_node(int i)
{
	struct node *n = &c.nodes[i];
	int done = 0;
	n->up = false;
	rl_group_close(n->g, close_cb, &done);
	rl_writer_run_pending(n->w);
	ck_assert_int_eq(done, 1);
	rl_log_close(n->log);
	rl_writer_close(n->w);
	n->g = NULL;
	n->log = NULL;
	n->w = NULL;
}

static void cluster_up(uint64_t seed)
{
	memset(&c, 0, sizeof(c));
	c.rng = seed;
	c.now = 1000;
	c.env.send = env_send;
	char root[256];
	th_tmpdir(root, sizeof(root));
	memcpy(c.root, root, sizeof(root));
	for (int i = 0; i < N; i++) {
		c.nodes[i].id = (uint64_t)i + 1;
		snprintf(c.nodes[i].dir, sizeof(c.nodes[i].dir), "%s/n%d", root, i + 1);
		open_node(i, true);
	}
}

static void cluster_down(void)
{
	for (int i = 0; i < N; i++) {
		if (c.nodes[i].up) {
			stop_node(i);
		}
	}
	while (c.nq > 0) {
		sl_free(c.q[--c.nq].buf);
	}
	th_rmtree(c.root);
}

static int leader(void)
{
	int found = -1;
	uint64_t best_term = 0;
	for (int i = 0; i < N; i++) {
		struct rl_group_status st;
		if (!c.nodes[i].up) {
			continue;
		}
		rl_group_get_status(c.nodes[i].g, &st);
		if (st.role == RAFT_LEADER && st.term >= best_term) {
			best_term = st.term;
			found = i;
		}
	}
	return found;
}

static int wait_leader(unsigned max_ms)
{
	for (unsigned t = 0; t < max_ms; t += 10) {
		int l = leader();
		if (l >= 0) {
			return l;
		}
		step_ms(10);
	}
	return -1;
}

struct sub {
	struct rl_submit_req req;
	int status; /* 1 = pending */
	uint32_t crc;
};

static void sub_cb(struct rl_submit_req *req, int status)
{
	struct sub *s = req->data;
	s->status = status;
}

static uint8_t *make_batch(unsigned k, size_t *len)
{
	struct kp_batch_builder b;
	char value[64];
	snprintf(value, sizeof(value), "record-%u", k);
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1), 0);
	for (unsigned r = 0; r < 1 + k % 3; r++) {
		ck_assert_int_eq(kp_batch_builder_add(&b, 1700000000000 + k, "k", 1, value,
						      (int32_t)strlen(value), NULL, 0),
				 0);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	return out;
}

static int submit(int l, struct sub *s, unsigned k, enum rl_acks acks)
{
	size_t len;
	uint8_t *batch = make_batch(k, &len);
	s->status = 1;
	s->req.data = s;
	int rv = rl_group_submit(c.nodes[l].g, &s->req, batch, len, acks, sub_cb, c.now);
	if (rv != 0) {
		sl_free(batch);
		s->status = rv;
	}
	return rv;
}

/* Every up replica holds the same bytes from the latest log start to the
 * smallest high watermark, and offsets are dense. (A replica that installed
 * a snapshot starts later.) */
static void check_replicas(void)
{
	int64_t hwm = INT64_MAX, start = 0;
	for (int i = 0; i < N; i++) {
		if (c.nodes[i].up) {
			struct rl_group_status st;
			rl_group_get_status(c.nodes[i].g, &st);
			hwm = SL_MIN(hwm, st.hwm);
			start = SL_MAX(start, st.start_offset);
		}
	}
	uint8_t *ref = NULL;
	size_t ref_len = 0;
	for (int i = 0; i < N; i++) {
		if (!c.nodes[i].up) {
			continue;
		}
		uint8_t *data = NULL;
		size_t len = 0;
		int64_t next = 0;
		ck_assert_int_eq(
			rl_read_copy(c.nodes[i].log, start, hwm, 1 << 30, &data, &len, &next), 0);
		ck_assert_int_eq(next, hwm);
		/* dense offsets */
		if (len == 0) {
			ck_assert_int_eq(start, hwm); /* nothing committed past the starts */
			continue;
		}
		struct kp_batch_header first;
		ck_assert_int_eq(kp_batch_parse_header(data, len, &first), 0);
		int64_t expect = first.base_offset;
		ck_assert_int_le(expect, start);
		for (size_t pos = 0; pos < len;) {
			struct kp_batch_header h;
			ck_assert_int_eq(kp_batch_validate(data + pos, len - pos, 0, &h), 0);
			ck_assert_int_eq(h.base_offset, expect);
			expect = h.base_offset + h.last_offset_delta + 1;
			pos += kp_batch_size(&h);
		}
		ck_assert_int_eq(expect, hwm);
		if (ref == NULL) {
			ref = data;
			ref_len = len;
		} else {
			ck_assert_uint_eq(len, ref_len);
			ck_assert(memcmp(data, ref, len) == 0);
			sl_free(data);
		}
	}
	sl_free(ref);
}

START_TEST(elects_and_replicates)
{
	cluster_up(11);
	int l = wait_leader(5000);
	ck_assert_int_ge(l, 0);
	static struct sub subs[200];
	for (unsigned k = 0; k < 200; k++) {
		ck_assert_int_eq(submit(l, &subs[k], k, k % 2 ? RL_ACKS_ALL : RL_ACKS_LEADER), 0);
		if (k % 10 == 9) {
			step_ms(5);
		}
	}
	step_ms(200);
	int64_t last = -1;
	for (unsigned k = 0; k < 200; k++) {
		ck_assert_int_eq(subs[k].status, 0);
		ck_assert_int_gt(subs[k].req.base_offset, last);
		last = subs[k].req.last_offset;
	}
	struct rl_group_status st;
	rl_group_get_status(c.nodes[l].g, &st);
	ck_assert_int_eq(st.hwm, last + 1);
	check_replicas();
	cluster_down();
}
END_TEST

START_TEST(transfer_under_load)
{
	cluster_up(23);
	int l = wait_leader(5000);
	ck_assert_int_ge(l, 0);
	int target = (l + 1) % N;
	static struct sub subs[100];
	unsigned acked = 0, rejected = 0;
	for (unsigned k = 0; k < 100; k++) {
		int cur = leader();
		if (k == 30) {
			ck_assert_int_eq(rl_group_transfer(c.nodes[l].g, c.nodes[target].id, c.now), 0);
		}
		if (cur < 0 || submit(cur, &subs[k], k, RL_ACKS_ALL) != 0) {
			subs[k].status = RL_ENOTLEADER;
		}
		step_ms(3);
	}
	step_ms(500);
	ck_assert_int_eq(leader(), target);
	for (unsigned k = 0; k < 100; k++) {
		ck_assert_int_ne(subs[k].status, 1);
		if (subs[k].status == 0) {
			acked++;
		} else {
			rejected++;
		}
	}
	ck_assert_uint_ge(acked, 80);
	check_replicas();
	cluster_down();
}
END_TEST

START_TEST(failover_keeps_acknowledged)
{
	cluster_up(37);
	c.drop_pct = 5;
	int l = wait_leader(5000);
	ck_assert_int_ge(l, 0);
	static struct sub subs[150];
	for (unsigned k = 0; k < 150; k++) {
		int cur = leader();
		if (k == 50) {
			stop_node(cur);
			cur = -1;
		}
		if (k == 100) {
			open_node(l, false);
		}
		if (cur < 0 || submit(cur, &subs[k], k, RL_ACKS_ALL) != 0) {
			subs[k].status = -1000;
		}
		step_ms(cur < 0 ? 1500 : 5);
	}
	c.drop_pct = 0;
	step_ms(1000);
	ck_assert_int_ge(leader(), 0);
	/* Every acknowledged batch is in the committed log on every replica. */
	check_replicas();
	int lead = leader();
	for (unsigned k = 0; k < 150; k++) {
		if (subs[k].status != 0) {
			continue;
		}
		uint64_t index;
		ck_assert_int_eq(rl_offset_to_index(c.nodes[lead].log, subs[k].req.base_offset,
						    &index),
				 0);
	}
	cluster_down();
}
END_TEST


/* ---- Randomized simulation ----------------------------------------------
 * Each seed runs a cluster through random submissions (acks=1 and all),
 * message loss, one-way link cuts, and node restarts, then heals it.
 * Checked: at most one leader per term at every step; afterwards every
 * acks=all batch is present, with identical bytes, at its offset on every
 * replica that still holds that offset; replicas byte-identical with dense
 * offsets (check_replicas). Seeds: SL_SIM_SEEDS (default 200, 40 with
 * SL_TEST_QUICK), first seed SL_SIM_SEED (default 1); SL_SIM_VERBOSE=1
 * prints each seed as it starts, so a failure names its seed. */

#define SIM_SUBS 120

struct acked {
	int64_t offset;
	uint8_t *bytes;
	size_t len;
};

static uint64_t leader_of_term[4096];

static void check_one_leader_per_term(void)
{
	for (int i = 0; i < N; i++) {
		struct rl_group_status st;
		if (!c.nodes[i].up) {
			continue;
		}
		rl_group_get_status(c.nodes[i].g, &st);
		if (st.role != RAFT_LEADER || st.term >= 4096) {
			continue;
		}
		if (leader_of_term[st.term] == 0) {
			leader_of_term[st.term] = c.nodes[i].id;
		}
		ck_assert_uint_eq(leader_of_term[st.term], c.nodes[i].id);
	}
}

static void sim_step(unsigned ms)
{
	for (unsigned t = 0; t < ms; t++) {
		step_ms(1);
		check_one_leader_per_term();
	}
}

static void sim_fault(void)
{
	unsigned r = (unsigned)(rnd() % 100);
	if (r < 4) {
		int i = (int)(rnd() % N);
		if (c.nodes[i].up) {
			stop_node(i);
		} else {
			open_node(i, false);
		}
	} else if (r < 10) {
		unsigned a = 1 + (unsigned)(rnd() % N), b = 1 + (unsigned)(rnd() % N);
		c.cut[a][b] = !c.cut[a][b];
	} else if (r < 12) {
		memset(c.cut, 0, sizeof(c.cut));
	}
}

/* Copies the batch at offset from node i, or returns NULL if that replica
 * does not hold it (below its log start, or not yet committed there). */
static uint8_t *read_batch_at(int i, int64_t offset, size_t *len)
{
	uint8_t *data = NULL;
	int64_t next;
	struct rl_group_status st;
	rl_group_get_status(c.nodes[i].g, &st);
	if (offset < st.start_offset || offset >= st.hwm) {
		return NULL;
	}
	ck_assert_int_eq(rl_read_copy(c.nodes[i].log, offset, st.hwm, 1, &data, len, &next), 0);
	ck_assert_ptr_nonnull(data);
	return data;
}

static void sim_check_acked(struct acked *acked, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		int holders = 0;
		for (int i = 0; i < N; i++) {
			size_t len;
			uint8_t *b = read_batch_at(i, acked[k].offset, &len);
			if (b == NULL) {
				continue;
			}
			holders++;
			struct kp_batch_header h;
			ck_assert_int_eq(kp_batch_parse_header(b, len, &h), 0);
			ck_assert_int_eq(h.base_offset, acked[k].offset);
			/* Bytes after the header fields the leader rewrites. */
			ck_assert_uint_eq(kp_batch_size(&h), acked[k].len);
			ck_assert(memcmp(b + KP_BATCH_OFF_MAGIC, acked[k].bytes + KP_BATCH_OFF_MAGIC,
					 acked[k].len - KP_BATCH_OFF_MAGIC) == 0);
			sl_free(b);
		}
		if (holders == 0) {
			for (int i = 0; i < N; i++) {
				struct rl_group_status st;
				rl_group_get_status(c.nodes[i].g, &st);
				fprintf(stderr,
					"lost? offset=%lld node=%d role=%d term=%llu start=%lld "
					"hwm=%lld next=%lld commit=%llu last=%llu\n",
					(long long)acked[k].offset, i + 1, st.role,
					(unsigned long long)st.term, (long long)st.start_offset,
					(long long)st.hwm, (long long)st.next_offset,
					(unsigned long long)st.commit_index,
					(unsigned long long)st.last_index);
			}
		}
		ck_assert_int_ge(holders, 1);
	}
}

static void sim_one(uint64_t seed)
{
	static struct sub subs[SIM_SUBS];
	static struct acked acked[SIM_SUBS];
	unsigned n_acked = 0, next = 0;
	memset(leader_of_term, 0, sizeof(leader_of_term));
	cluster_up(seed);
	c.drop_pct = (unsigned)(rnd() % 15);
	while (next < SIM_SUBS) {
		int l = leader();
		if (l >= 0 && rnd() % 3 != 0) {
			enum rl_acks acks = rnd() % 4 == 0 ? RL_ACKS_LEADER : RL_ACKS_ALL;
			if (submit(l, &subs[next], next, acks) != 0) {
				subs[next].status = -1000;
			}
			next++;
		}
		sim_fault();
		sim_step(1 + (unsigned)(rnd() % 40));
	}
	memset(c.cut, 0, sizeof(c.cut));
	c.drop_pct = 0;
	for (int i = 0; i < N; i++) {
		if (!c.nodes[i].up) {
			open_node(i, false);
		}
	}
	sim_step(3000);
	ck_assert_int_ge(leader(), 0);
	for (unsigned k = 0; k < SIM_SUBS; k++) {
		ck_assert_int_ne(subs[k].status, 1); /* every submission answered */
		if (subs[k].status == 0 && subs[k].req.acks == RL_ACKS_ALL) {
			size_t len;
			acked[n_acked].bytes = make_batch(k, &len);
			acked[n_acked].len = len;
			acked[n_acked].offset = subs[k].req.base_offset;
			n_acked++;
		}
	}
	sim_check_acked(acked, n_acked);
	check_replicas();
	for (unsigned k = 0; k < n_acked; k++) {
		sl_free(acked[k].bytes);
	}
	cluster_down();
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : dflt;
}

START_TEST(sim_random_faults)
{
	long seeds = env_long("SL_SIM_SEEDS", getenv("SL_TEST_QUICK") ? 40 : 200);
	long first = env_long("SL_SIM_SEED", 1);
	sl_log_min_level = SL_LOG_ERROR;
	for (long s = first; s < first + seeds; s++) {
		if (getenv("SL_SIM_VERBOSE") != NULL) {
			fprintf(stderr, "sim seed=%ld\n", s);
		}
		sim_one((uint64_t)s);
	}
	sl_log_min_level = SL_LOG_INFO;
}
END_TEST

Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, elects_and_replicates);
	tcase_add_test(tc, transfer_under_load);
	tcase_add_test(tc, failover_keeps_acknowledged);
	suite_add_tcase(s, tc);
	TCase *sim = tcase_create("sim");
	tcase_set_timeout(sim, 900);
	tcase_add_test(sim, sim_random_faults);
	suite_add_tcase(s, sim);
	return s;
}
