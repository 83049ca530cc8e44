/* Unit tests for server/cgroup.h: the consumer group state machine driven
 * with injected time (joins, MEMBER_ID_REQUIRED, initial delay, leader
 * assignment, heartbeats, session and rebalance timeouts, leave, static
 * members, protocol selection, commit checks, cancel, failed allocations)
 * and the __consumer_offsets record codec. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/cgroup.h"

/* One request's answer as the env callbacks saw it. */
struct ans {
	int n; /* answers received (must end at 0 or 1) */
	int16_t error;
	int32_t generation;
	char member_id[CG_MEMBER_ID_BYTES_MAX + 1];
	char leader[CG_MEMBER_ID_BYTES_MAX + 1];
	char protocol[64];
	int32_t n_members;
	char members[8][64];
	char metadata[8][64];
	char assignment[64];
};

static void on_join(void *data, void *token, const struct cg_join_result *r)
{
	(void)data;
	struct ans *a = token;
	a->n++;
	a->error = r->error;
	a->generation = r->generation;
	snprintf(a->member_id, sizeof(a->member_id), "%s", r->member_id);
	snprintf(a->leader, sizeof(a->leader), "%s", r->leader);
	snprintf(a->protocol, sizeof(a->protocol), "%s", r->protocol_name ? r->protocol_name : "");
	a->n_members = r->n_members;
	for (int32_t i = 0; i < r->n_members && i < 8; i++) {
		snprintf(a->members[i], 64, "%s", r->members[i].member_id);
		snprintf(a->metadata[i], 64, "%.*s", (int)r->members[i].metadata_len,
			 (const char *)r->members[i].metadata);
	}
}

static void on_sync(void *data, void *token, int16_t error, const char *pt, const char *pn,
		    const uint8_t *assignment, size_t len)
{
	(void)data;
	(void)pt;
	(void)pn;
	struct ans *a = token;
	a->n++;
	a->error = error;
	snprintf(a->assignment, sizeof(a->assignment), "%.*s", (int)len, (const char *)assignment);
}

static struct cg_coord *coord(void)
{
	struct cg_config cfg;
	cg_config_default(&cfg);
	cfg.initial_rebalance_delay_ms = 100;
	struct cg_env env = {.join_done = on_join, .sync_done = on_sync};
	struct cg_coord *c = cg_coord_new(&cfg, &env);
	ck_assert_ptr_nonnull(c);
	return c;
}

static const struct cg_protocol range_proto[1] = {{"range", (const uint8_t *)"meta", 4}};

static struct cg_join_req jreq(const char *group, const char *member, int version)
{
	struct cg_join_req r = {
		.group_id = group,
		.member_id = member,
		.client_id = "cli",
		.protocol_type = "consumer",
		.protocols = range_proto,
		.n_protocols = 1,
		.session_timeout_ms = 10000,
		.rebalance_timeout_ms = 20000,
		.require_known_member_id = version >= 4,
		.nonce = 42,
	};
	return r;
}

static void sync_req(struct cg_coord *c, struct ans *a, const char *group, const char *member,
		     int32_t gen, const struct cg_assignment *as, int32_t n, uint64_t now)
{
	struct cg_sync_req r = {.group_id = group, .member_id = member, .generation = gen,
				.assignments = as, .n_assignments = n};
	cg_sync(c, a, &r, now);
}

/* Joins one member into an empty group (v4 flow) and syncs it: stable, generation 1. */
static void join_one(struct cg_coord *c, const char *group, char *member_out, uint64_t *now)
{
	struct ans a = {0}, b = {0}, s = {0};
	struct cg_join_req r = jreq(group, "", 4);
	cg_join(c, &a, &r, *now);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(a.error, CG_E_MEMBER_ID_REQUIRED);
	ck_assert(strncmp(a.member_id, "cli-", 4) == 0);
	r.member_id = a.member_id;
	cg_join(c, &b, &r, *now);
	ck_assert_int_eq(b.n, 0); /* the initial delay */
	ck_assert_uint_eq(cg_coord_deadline_ms(c), *now + 100);
	*now += 100;
	cg_coord_tick(c, *now);
	ck_assert_int_eq(b.n, 1);
	ck_assert_int_eq(b.error, 0);
	ck_assert_int_eq(b.generation, 1);
	ck_assert_str_eq(b.leader, a.member_id);
	ck_assert_str_eq(b.protocol, "range");
	ck_assert_int_eq(b.n_members, 1);
	ck_assert_str_eq(b.metadata[0], "meta");
	struct cg_assignment as = {a.member_id, (const uint8_t *)"p0,p1", 5};
	sync_req(c, &s, group, a.member_id, 1, &as, 1, *now);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.error, 0);
	ck_assert_str_eq(s.assignment, "p0,p1");
	ck_assert_int_eq(cg_group_state(cg_coord_find(c, group)), CG_STABLE);
	strcpy(member_out, a.member_id);
}

START_TEST(test_single_member)
{
	struct cg_coord *c = coord();
	uint64_t now = 1000;
	char m[CG_MEMBER_ID_BYTES_MAX + 1];
	join_one(c, "g", m, &now);
	ck_assert_int_eq(cg_heartbeat(c, "g", m, NULL, 1, now), 0);
	ck_assert_int_eq(cg_heartbeat(c, "g", m, NULL, 7, now), CG_E_ILLEGAL_GENERATION);
	ck_assert_int_eq(cg_heartbeat(c, "g", "nobody", NULL, 1, now), CG_E_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(cg_heartbeat(c, "nogroup", m, NULL, 1, now), CG_E_UNKNOWN_MEMBER_ID);
	/* A stable sync returns the assignment again. */
	struct ans s = {0};
	sync_req(c, &s, "g", m, 1, NULL, 0, now);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.assignment, "p0,p1");
	/* Leaving empties the group (generation 2, no protocol). */
	ck_assert_int_eq(cg_leave(c, "g", m, NULL, now), 0);
	struct cg_group *g = cg_coord_find(c, "g");
	ck_assert_int_eq(cg_group_state(g), CG_EMPTY);
	ck_assert_int_eq(cg_group_generation(g), 2);
	ck_assert_int_eq(cg_leave(c, "g", m, NULL, now), CG_E_UNKNOWN_MEMBER_ID);
	/* An empty group without offsets is freed at the next tick. */
	ck_assert_uint_eq(cg_coord_deadline_ms(c), 0);
	cg_coord_tick(c, now);
	ck_assert_ptr_null(cg_coord_find(c, "g"));
	struct cg_stats st = {0};
	cg_coord_stats(c, &st);
	ck_assert_uint_eq(st.rebalances, 2);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_second_member_rebalances)
{
	struct cg_coord *c = coord();
	uint64_t now = 1000;
	char a_id[CG_MEMBER_ID_BYTES_MAX + 1];
	join_one(c, "g", a_id, &now);
	/* B joins with v3 (no MEMBER_ID_REQUIRED): a rebalance starts. */
	struct ans bj = {0}, aj = {0};
	struct cg_join_req rb = jreq("g", "", 3);
	cg_join(c, &bj, &rb, now);
	ck_assert_int_eq(bj.n, 0);
	ck_assert_int_eq(cg_group_state(cg_coord_find(c, "g")), CG_PREPARING_REBALANCE);
	ck_assert_int_eq(cg_heartbeat(c, "g", a_id, NULL, 1, now), CG_E_REBALANCE_IN_PROGRESS);
	/* Commits at the current generation are still allowed while preparing. */
	ck_assert_int_eq(cg_commit_check(c, "g", a_id, NULL, 1, now), 0);
	struct ans early = {0};
	sync_req(c, &early, "g", a_id, 1, NULL, 0, now);
	ck_assert_int_eq(early.error, CG_E_REBALANCE_IN_PROGRESS);
	struct cg_join_req ra = jreq("g", a_id, 3);
	cg_join(c, &aj, &ra, now + 5);
	ck_assert_int_eq(aj.n, 1);
	ck_assert_int_eq(bj.n, 1);
	ck_assert_int_eq(aj.generation, 2);
	ck_assert_int_eq(bj.generation, 2);
	ck_assert_str_eq(aj.leader, a_id);
	ck_assert_int_eq(aj.n_members, 2);
	ck_assert_int_eq(bj.n_members, 0);
	ck_assert_int_eq(cg_commit_check(c, "g", a_id, NULL, 2, now), CG_E_REBALANCE_IN_PROGRESS);
	/* B's sync waits for the leader's. */
	struct ans bs = {0}, as = {0};
	sync_req(c, &bs, "g", bj.member_id, 2, NULL, 0, now + 6);
	ck_assert_int_eq(bs.n, 0);
	struct cg_assignment asg[2] = {{a_id, (const uint8_t *)"A", 1},
				       {bj.member_id, (const uint8_t *)"B", 1}};
	sync_req(c, &as, "g", a_id, 2, asg, 2, now + 7);
	ck_assert_int_eq(as.n, 1);
	ck_assert_int_eq(bs.n, 1);
	ck_assert_str_eq(as.assignment, "A");
	ck_assert_str_eq(bs.assignment, "B");
	ck_assert_int_eq(cg_commit_check(c, "g", a_id, NULL, 1, now), CG_E_ILLEGAL_GENERATION);
	ck_assert_int_eq(cg_commit_check(c, "g", bj.member_id, NULL, 2, now), 0);
	ck_assert_int_eq(cg_commit_check(c, "g", "", NULL, -1, now), CG_E_UNKNOWN_MEMBER_ID);

	/* B stops heartbeating: removed at its session timeout; A rejoins alone. */
	now += 7;
	for (uint64_t t = now; t < now + 10000; t += 2000) {
		ck_assert_int_eq(cg_heartbeat(c, "g", a_id, NULL, 2, t), 0);
		cg_coord_tick(c, t);
	}
	now += 10001;
	ck_assert_uint_le(cg_coord_deadline_ms(c), now);
	cg_coord_tick(c, now);
	ck_assert_int_eq(cg_group_member_count(cg_coord_find(c, "g")), 1);
	ck_assert_int_eq(cg_heartbeat(c, "g", a_id, NULL, 2, now), CG_E_REBALANCE_IN_PROGRESS);
	struct ans a3 = {0};
	cg_join(c, &a3, &ra, now);
	ck_assert_int_eq(a3.n, 1);
	ck_assert_int_eq(a3.generation, 3);
	struct cg_stats st = {0};
	cg_coord_stats(c, &st);
	ck_assert_uint_eq(st.members_expired, 1);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_rebalance_timeout_drops_laggards)
{
	struct cg_coord *c = coord();
	uint64_t now = 1000;
	char a_id[CG_MEMBER_ID_BYTES_MAX + 1];
	join_one(c, "g", a_id, &now);
	struct ans bj = {0};
	struct cg_join_req rb = jreq("g", "", 3);
	rb.rebalance_timeout_ms = 30000;
	rb.session_timeout_ms = 60000;
	cg_join(c, &bj, &rb, now);
	/* A heartbeats but never rejoins: at the rebalance timeout (30 s, the
	 * largest) the join completes without it. */
	for (uint64_t t = now; t < now + 30000; t += 3000) {
		cg_heartbeat(c, "g", a_id, NULL, 1, t);
		cg_coord_tick(c, t);
		ck_assert_int_eq(bj.n, 0);
	}
	cg_coord_tick(c, now + 30000);
	ck_assert_int_eq(bj.n, 1);
	ck_assert_int_eq(bj.error, 0);
	ck_assert_str_eq(bj.leader, bj.member_id);
	ck_assert_int_eq(bj.n_members, 1);
	ck_assert_int_eq(cg_heartbeat(c, "g", a_id, NULL, 1, now), CG_E_UNKNOWN_MEMBER_ID);
	/* The new leader never syncs: removed at the sync timeout; the group,
	 * empty and without offsets, is freed in the same tick. */
	cg_coord_tick(c, now + 30000 + 30000 - 1);
	ck_assert_int_eq(cg_group_state(cg_coord_find(c, "g")), CG_COMPLETING_REBALANCE);
	cg_coord_tick(c, now + 30000 + 30000);
	ck_assert_ptr_null(cg_coord_find(c, "g"));
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_errors)
{
	struct cg_coord *c = coord();
	struct ans a = {0};
	struct cg_join_req r = jreq("", "", 4);
	cg_join(c, &a, &r, 0);
	ck_assert_int_eq(a.error, CG_E_INVALID_GROUP_ID);
	r = jreq("g", "", 4);
	r.session_timeout_ms = 10;
	cg_join(c, &a, &r, 0);
	ck_assert_int_eq(a.error, CG_E_INVALID_SESSION_TIMEOUT);
	r = jreq("g", "", 4);
	r.n_protocols = 0;
	cg_join(c, &a, &r, 0);
	ck_assert_int_eq(a.error, CG_E_INCONSISTENT_GROUP_PROTOCOL);
	r = jreq("g", "ghost", 4);
	cg_join(c, &a, &r, 0);
	ck_assert_int_eq(a.error, CG_E_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(a.n, 4);
	/* A different protocol type than the group's is refused. */
	uint64_t now = 0;
	char m[CG_MEMBER_ID_BYTES_MAX + 1];
	join_one(c, "g", m, &now);
	struct ans b = {0};
	r = jreq("g", "", 3);
	r.protocol_type = "connect";
	cg_join(c, &b, &r, now);
	ck_assert_int_eq(b.error, CG_E_INCONSISTENT_GROUP_PROTOCOL);
	struct ans s = {0};
	sync_req(c, &s, "g", "ghost", 1, NULL, 0, now);
	ck_assert_int_eq(s.error, CG_E_UNKNOWN_MEMBER_ID);
	sync_req(c, &s, "g", m, 9, NULL, 0, now);
	ck_assert_int_eq(s.error, CG_E_ILLEGAL_GENERATION);
	ck_assert_int_eq(cg_commit_check(c, "", "", NULL, -1, now), CG_E_INVALID_GROUP_ID);
	/* Simple consumers: generation -1 commits create an empty group; a
	 * generation for an unknown group is illegal. */
	ck_assert_int_eq(cg_commit_check(c, "simple", "", NULL, -1, now), 0);
	ck_assert_int_eq(cg_group_state(cg_coord_find(c, "simple")), CG_EMPTY);
	ck_assert_int_eq(cg_commit_check(c, "other", "m", NULL, 5, now), CG_E_ILLEGAL_GENERATION);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_protocol_selection)
{
	struct cg_coord *c = coord();
	static const struct cg_protocol p1[2] = {{"range", NULL, 0}, {"roundrobin", NULL, 0}};
	static const struct cg_protocol p2[2] = {{"roundrobin", NULL, 0}, {"range", NULL, 0}};
	static const struct cg_protocol p3[2] = {{"sticky", NULL, 0}, {"roundrobin", NULL, 0}};
	const struct cg_protocol *ps[3] = {p1, p2, p3};
	struct ans a[3] = {{0}};
	for (int i = 0; i < 3; i++) {
		struct cg_join_req r = jreq("g", "", 3);
		r.protocols = ps[i];
		r.n_protocols = 2;
		cg_join(c, &a[i], &r, 0);
	}
	cg_coord_tick(c, 100);
	cg_coord_tick(c, 200);
	cg_coord_tick(c, 300);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(a[i].n, 1);
		ck_assert_str_eq(a[i].protocol, "roundrobin");
	}
	/* A fourth member without roundrobin cannot join. */
	struct ans d = {0};
	struct cg_join_req r = jreq("g", "", 3);
	cg_join(c, &d, &r, 300);
	ck_assert_int_eq(d.error, CG_E_INCONSISTENT_GROUP_PROTOCOL);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_static_member)
{
	struct cg_coord *c = coord();
	struct ans a = {0};
	struct cg_join_req r = jreq("g", "", 5);
	r.instance_id = "host-1";
	cg_join(c, &a, &r, 0);
	ck_assert_int_eq(a.n, 0); /* no MEMBER_ID_REQUIRED for static members */
	cg_coord_tick(c, 100);
	ck_assert_int_eq(a.error, 0);
	char old[CG_MEMBER_ID_BYTES_MAX + 1];
	strcpy(old, a.member_id);
	/* Restarted: same instance, no member id. The old id is fenced. */
	struct ans b = {0};
	r.nonce = 43;
	cg_join(c, &b, &r, 200);
	ck_assert_int_eq(b.n, 1);
	ck_assert_int_eq(b.error, 0);
	ck_assert_str_ne(b.member_id, old);
	ck_assert_int_eq(b.generation, 2);
	ck_assert_int_eq(cg_heartbeat(c, "g", old, "host-1", 2, 200), CG_E_FENCED_INSTANCE_ID);
	ck_assert_int_eq(cg_leave(c, "g", "", "host-1", 200), 0);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_cancel_and_free)
{
	struct cg_coord *c = coord();
	struct ans a = {0}, b = {0};
	struct cg_join_req r = jreq("g", "", 3);
	cg_join(c, &a, &r, 0);
	cg_join(c, &b, &r, 0);
	ck_assert(cg_coord_cancel(c, "g", &a));
	ck_assert(!cg_coord_cancel(c, "g", &a));
	/* The initial delay is extended once for the second member. */
	cg_coord_tick(c, 100);
	ck_assert_int_eq(b.n, 0);
	cg_coord_tick(c, 200);
	ck_assert_int_eq(a.n, 0);
	ck_assert_int_eq(b.n, 1);
	/* Parked answers get the coordinator's error when it is freed. */
	struct ans s = {0};
	sync_req(c, &s, "g", b.member_id, 1, NULL, 0, 200);
	ck_assert_int_eq(s.n, 0);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.error, CG_E_NOT_COORDINATOR);
}
END_TEST

/* The two-member scenario with the Nth allocation failing: every request
 * gets at most one answer and nothing leaks (run under ASan). */
START_TEST(test_alloc_failures)
{
	for (long n = 1; n < 200; n++) {
		struct cg_coord *c = coord();
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		struct ans a1 = {0}, b1 = {0}, a2 = {0}, s1 = {0}, s2 = {0};
		struct cg_join_req ra = jreq("g", "", 3), rb = jreq("g", "", 3);
		cg_join(c, &a1, &ra, 0);
		cg_join(c, &b1, &rb, 0);
		cg_coord_tick(c, 100);
		ra.member_id = a1.member_id;
		cg_join(c, &a2, &ra, 100);
		struct cg_assignment as[1] = {{a1.member_id, (const uint8_t *)"x", 1}};
		sync_req(c, &s1, "g", a1.member_id, a2.generation, as, 1, 100);
		sync_req(c, &s2, "g", b1.member_id, a2.generation, NULL, 0, 100);
		struct cg_record rec = {.is_offset = true, .partition = 1,
					.value = {5, -1, 0, "", 0}};
		strcpy(rec.group, "g");
		strcpy(rec.topic, "t");
		(void)cg_coord_apply_record(c, &rec);
		sl_fault_reset();
		cg_coord_tick(c, 50000);
		cg_coord_free(c, CG_E_NOT_COORDINATOR);
		ck_assert_int_le(a1.n, 1);
		ck_assert_int_le(b1.n, 1);
		ck_assert_int_le(a2.n, 1);
		ck_assert_int_le(s1.n, 1);
		ck_assert_int_le(s2.n, 1);
	}
}
END_TEST

/* ---- Records ------------------------------------------------------------ */

START_TEST(test_record_roundtrip)
{
	uint8_t k[CG_KEY_BYTES_MAX], v[CG_VALUE_BYTES_MAX];
	int kl = cg_offset_key_encode(k, sizeof(k), "grp", "orders", 7);
	static const uint8_t want_key[] = {0, 1, 0, 3, 'g', 'r', 'p', 0, 6, 'o', 'r', 'd', 'e', 'r',
					   's', 0, 0, 0, 7};
	ck_assert_int_eq(kl, (int)sizeof(want_key));
	ck_assert_mem_eq(k, want_key, sizeof(want_key));
	struct cg_offset o = {1234567890123, 9, 1700000000000, "meta", 4};
	int vl = cg_offset_value_encode(v, sizeof(v), &o);
	ck_assert_int_eq(vl, 2 + 8 + 4 + 2 + 4 + 8);
	struct cg_record r;
	ck_assert_int_eq(cg_record_decode(k, kl, v, vl, &r), 0);
	ck_assert(r.is_offset && !r.tombstone);
	ck_assert_str_eq(r.group, "grp");
	ck_assert_str_eq(r.topic, "orders");
	ck_assert_int_eq(r.partition, 7);
	ck_assert_int_eq(r.value.offset, 1234567890123);
	ck_assert_int_eq(r.value.leader_epoch, 9);
	ck_assert_int_eq(r.value.commit_ms, 1700000000000);
	ck_assert_uint_eq(r.value.metadata_len, 4);
	ck_assert_mem_eq(r.value.metadata, "meta", 4);
	/* Applying, reading back, overwriting, deleting. */
	struct cg_coord *c = coord();
	ck_assert_int_eq(cg_coord_apply_record(c, &r), 0);
	struct cg_offset got;
	ck_assert(cg_offset_get(cg_coord_find(c, "grp"), "orders", 7, &got));
	ck_assert_int_eq(got.offset, 1234567890123);
	ck_assert_str_eq(got.metadata, "meta");
	ck_assert(!cg_offset_get(cg_coord_find(c, "grp"), "orders", 8, &got));
	r.value.offset = 5;
	ck_assert_int_eq(cg_coord_apply_record(c, &r), 0);
	ck_assert(cg_offset_get(cg_coord_find(c, "grp"), "orders", 7, &got));
	ck_assert_int_eq(got.offset, 5);
	ck_assert_uint_eq(cg_offset_count(cg_coord_find(c, "grp")), 1);
	ck_assert_int_eq(cg_record_decode(k, kl, NULL, -1, &r), 0);
	ck_assert(r.tombstone);
	ck_assert_int_eq(cg_coord_apply_record(c, &r), 0);
	ck_assert_uint_eq(cg_offset_count(cg_coord_find(c, "grp")), 0);
	cg_coord_free(c, CG_E_NOT_COORDINATOR);
}
END_TEST

START_TEST(test_record_versions_and_garbage)
{
	uint8_t k[CG_KEY_BYTES_MAX];
	int kl = cg_offset_key_encode(k, sizeof(k), "g", "t", 0);
	struct cg_record r;
	/* Value v1 (Kafka 0.10-2.0): offset, metadata, commit and expire times. */
	static const uint8_t v1[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 1, 'm',
				     0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9};
	ck_assert_int_eq(cg_record_decode(k, kl, v1, sizeof(v1), &r), 0);
	ck_assert_int_eq(r.value.offset, 42);
	ck_assert_int_eq(r.value.leader_epoch, -1);
	ck_assert_int_eq(r.value.commit_ms, 7);
	/* Group metadata keys (version 2) are skipped, not errors. */
	static const uint8_t gk[] = {0, 2, 0, 1, 'g'};
	ck_assert_int_eq(cg_record_decode(gk, sizeof(gk), v1, sizeof(v1), &r), 0);
	ck_assert(!r.is_offset);
	/* Truncations, trailing bytes, unknown versions and NULs are refused. */
	for (int n = 0; n < kl; n++) {
		ck_assert_int_eq(cg_record_decode(k, n, v1, sizeof(v1), &r), -1);
	}
	for (int n = 0; n < (int)sizeof(v1); n++) {
		ck_assert_int_eq(cg_record_decode(k, kl, v1, n, &r), -1);
	}
	uint8_t bad[sizeof(v1) + 1];
	memcpy(bad, v1, sizeof(v1));
	ck_assert_int_eq(cg_record_decode(k, kl, bad, sizeof(bad), &r), -1);
	bad[1] = 9;
	ck_assert_int_eq(cg_record_decode(k, kl, bad, sizeof(v1), &r), -1);
	static const uint8_t nul[] = {0, 1, 0, 1, 0, 0, 1, 't', 0, 0, 0, 0};
	ck_assert_int_eq(cg_record_decode(nul, sizeof(nul), v1, sizeof(v1), &r), -1);
	static const uint8_t neg[] = {0, 1, 0xff, 0xff, 0, 1, 't', 0, 0, 0, 0};
	ck_assert_int_eq(cg_record_decode(neg, sizeof(neg), v1, sizeof(v1), &r), -1);
	/* Names longer than the limits do not encode; a small buffer does not either. */
	char longname[CG_GROUP_ID_BYTES_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(cg_offset_key_encode(k, sizeof(k), longname, "t", 0), -1);
	ck_assert_int_eq(cg_offset_key_encode(k, 5, "g", "t", 0), -1);
}
END_TEST

START_TEST(test_partition_for)
{
	/* Java's String.hashCode, as Kafka's GroupCoordinator.partitionFor. */
	ck_assert_int_eq(cg_partition_for("my-group", 50), 36);
	ck_assert_int_eq(cg_partition_for("console-consumer-1", 50), 24);
	ck_assert_int_eq(cg_partition_for("g1", 16), 10);
	ck_assert_int_eq(cg_partition_for("", 16), 0);
}
END_TEST

Suite *cgroup_suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_single_member);
	tcase_add_test(tc, test_second_member_rebalances);
	tcase_add_test(tc, test_rebalance_timeout_drops_laggards);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_protocol_selection);
	tcase_add_test(tc, test_static_member);
	tcase_add_test(tc, test_cancel_and_free);
	tcase_add_test(tc, test_alloc_failures);
	tcase_add_test(tc, test_record_roundtrip);
	tcase_add_test(tc, test_record_versions_and_garbage);
	tcase_add_test(tc, test_partition_for);
	suite_add_tcase(s, tc);
	return s;
}
