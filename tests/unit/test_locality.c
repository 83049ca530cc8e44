/* Unit tests of the broker's locality helpers (server/locality.c): client
 * classification, topology input from the controller state, and the rule
 * that decides when a leader sends a follower a commit notice. */
#include <check.h>
#include <string.h>

#include "ctl_th.h"
#include "server/broker.h"

static struct pl_topology *topo3(void)
{
	static const struct pl_broker br[] = {
	    {1, "r1", "r1-a", true},
	    {2, "r1", "r1-b", true},
	    {3, "r2", "r2-a", true},
	    {4, "us-east-1", "us-east-1a", false},
	};
	struct pl_topology *t = NULL;
	ck_assert_int_eq(pl_topology_new(br, 4, &t, NULL, 0), 0);
	return t;
}

START_TEST(test_where_names)
{
	ck_assert_str_eq(sd_loc_where_str(SD_LOC_SAME_RACK), "same_rack");
	ck_assert_str_eq(sd_loc_where_str(SD_LOC_SAME_REGION), "same_region");
	ck_assert_str_eq(sd_loc_where_str(SD_LOC_CROSS_REGION), "cross_region");
	ck_assert_str_eq(sd_loc_where_str(SD_LOC_UNKNOWN), "unknown");
	ck_assert_str_eq(sd_loc_where_str((enum sd_loc_where)99), "unknown");
}
END_TEST

START_TEST(test_classify)
{
	struct pl_topology *t = topo3();
	/* A broker in r1, rack r1-a. */
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "r1-a"), SD_LOC_SAME_RACK);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "r1-b"), SD_LOC_SAME_REGION);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "r1"), SD_LOC_SAME_REGION);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "r2-a"), SD_LOC_CROSS_REGION);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "r2"), SD_LOC_CROSS_REGION);
	/* An availability zone unknown to the cluster matches its region. */
	ck_assert_int_eq(sd_loc__classify(t, "us-east-1", "us-east-1a", "us-east-1c"),
			 SD_LOC_SAME_REGION);
	ck_assert_int_eq(sd_loc__classify(t, "r2", "r2-a", "us-east-1c"), SD_LOC_CROSS_REGION);
	/* Nothing to match. */
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", NULL), SD_LOC_UNKNOWN);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", ""), SD_LOC_UNKNOWN);
	ck_assert_int_eq(sd_loc__classify(t, "r1", "r1-a", "eu-west-9"), SD_LOC_UNKNOWN);
	ck_assert_int_eq(sd_loc__classify(NULL, "r1", "r1-a", "r1-a"), SD_LOC_UNKNOWN);
	/* A broker whose own rack and region the topology does not know yet. */
	ck_assert_int_eq(sd_loc__classify(t, "zz", "zz-a", "r1-a"), SD_LOC_CROSS_REGION);
	pl_topology_free(t);
}
END_TEST

static void apply_ok(struct sd_ctl_state *s, uint64_t index, struct sd_ctl_cmd c)
{
	struct sd_ctl_result res;
	ck_assert_int_eq(sd_ctl_apply(s, index, &c, &res), 0);
	ck_assert_int_eq(res.outcome, SD_CTL_OUTCOME_APPLIED);
}

START_TEST(test_brokers_from_state)
{
	struct sd_ctl_state *s;
	ck_assert_int_eq(sd_ctl_state_new(&s), 0);
	uint64_t empty = sd_loc__brokers_digest(s);
	struct pl_broker v[4];
	ck_assert_int_eq(sd_loc__brokers_from_state(s, v, 4), 0);
	apply_ok(s, 1, reg_cmd(3, "r2", "r2-a", 1));
	apply_ok(s, 2, reg_cmd(1, "r1", "r1-a", 1));
	apply_ok(s, 3, reg_cmd(2, "r1", "r1-b", 1));
	uint64_t three = sd_loc__brokers_digest(s);
	ck_assert_uint_ne(three, empty);
	ck_assert_int_eq(sd_loc__brokers_from_state(s, v, 2), -1);
	ck_assert_int_eq(sd_loc__brokers_from_state(s, v, 4), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(v[i].id, i + 1); /* ascending ids */
		ck_assert(v[i].alive);
	}
	ck_assert_str_eq(v[0].region, "r1");
	ck_assert_str_eq(v[1].rack, "r1-b");
	ck_assert_str_eq(v[2].rack, "r2-a");
	struct pl_topology *t = NULL;
	ck_assert_int_eq(pl_topology_new(v, 3, &t, NULL, 0), 0);
	ck_assert_int_eq(pl_topology_region_count(t), 2);
	pl_topology_free(t);
	/* A restart with the same location keeps the digest; a new rack or a
	 * new broker changes it. */
	apply_ok(s, 4, reg_cmd(2, "r1", "r1-b", 2));
	ck_assert_uint_eq(sd_loc__brokers_digest(s), three);
	apply_ok(s, 5, reg_cmd(2, "r1", "r1-c", 3));
	uint64_t moved = sd_loc__brokers_digest(s);
	ck_assert_uint_ne(moved, three);
	apply_ok(s, 6, reg_cmd(7, "r3", "r3-a", 1));
	ck_assert_uint_ne(sd_loc__brokers_digest(s), moved);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_notice_due)
{
	/* Caught up follower, commit moved past what it was told. */
	ck_assert(sd_loc__notice_due(10, 10, 10, 9));
	ck_assert(sd_loc__notice_due(10, 10, 8, 0));
	/* Already told. */
	ck_assert(!sd_loc__notice_due(10, 10, 10, 10));
	ck_assert(!sd_loc__notice_due(10, 10, 9, 10));
	/* Entries still in flight to it (match < last): the AppendEntries
	 * that carries them brings the commit index; a notice with an older
	 * prev could move its commit index backwards. */
	ck_assert(!sd_loc__notice_due(9, 10, 9, 0));
	ck_assert(!sd_loc__notice_due(0, 10, 5, 0));
	/* Nothing committed, or an impossible commit beyond the log. */
	ck_assert(!sd_loc__notice_due(0, 0, 0, 0));
	ck_assert(!sd_loc__notice_due(10, 10, 11, 0));
}
END_TEST

Suite *locality_suite(void)
{
	Suite *s = suite_create("locality");
	TCase *tc = tcase_create("helpers");
	tcase_add_test(tc, test_where_names);
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_brokers_from_state);
	tcase_add_test(tc, test_notice_due);
	suite_add_tcase(s, tc);
	return s;
}
