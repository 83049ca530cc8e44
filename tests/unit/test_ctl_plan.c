/* Unit tests for server/ctl_state.h, part two: planning on the controller
 * leader (each Kafka error, region spread, balance, determinism) and the
 * reconcile view and diffs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_state.h"
#include "tests/unit/ctl_th.h"

/* ------------------------------------------------------------------------ */
/* Planning                                                                  */
/* ------------------------------------------------------------------------ */

static uint8_t plan_id[SD_CTL_TOPIC_ID_BYTES] = {0x42};

static struct sd_ctl_plan_topic_req plan_req(const char *name, int32_t partitions, int32_t rf)
{
	return (struct sd_ctl_plan_topic_req){.name = name,
					      .topic_id = plan_id,
					      .partitions = partitions,
					      .replication_factor = rf,
					      .live_brokers = LIVE6,
					      .n_live = 6};
}

/* Plans and expects a refusal with the Kafka code; returns the message. */
static void expect_refused(const struct sd_ctl_state *s, const struct sd_ctl_plan_topic_req *req,
			   int16_t code, const char *needle)
{
	struct sd_ctl_cmd out;
	struct sd_ctl_plan_result res;
	int rc = sd_ctl_plan_create_topic(s, req, &out, &res);
	ck_assert_msg(rc == SD_CTL_EREFUSED, "%s: rc %s", req->name != NULL ? req->name : "-",
		      sd_ctl_err_name(rc));
	ck_assert_msg(res.error_code == code, "%s: code %d, want %d (%s)",
		      req->name != NULL ? req->name : "-", res.error_code, code, res.message);
	ck_assert_msg(strstr(res.message, needle) != NULL, "message '%s' lacks '%s'", res.message,
		      needle);
	ck_assert_ptr_null(out.mem);
}

START_TEST(test_plan_errors)
{
	static const int32_t b[1] = {1};
	struct sd_ctl_state *s = six_brokers();
	struct topic_fx fx;
	APPLY(s, 10, topic_cmd(&fx, "orders.eu", 1, 1, 1, 1, b, 1), APPLIED);
	char long_name[SD_CTL_TOPIC_NAME_MAX + 2];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	const struct {
		const char *name;
		const char *needle;
	} bad_names[] = {{"", "empty"},	     {".", "'.'"},	 {"..", "'..'"},
			 {"a b", "illegal"}, {"a/b", "illegal"}, {long_name, "longer"},
			 {NULL, "empty"}};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_names); i++) {
		struct sd_ctl_plan_topic_req req = plan_req(bad_names[i].name, 1, 1);
		expect_refused(s, &req, SD_CTL_KAFKA_INVALID_TOPIC_EXCEPTION, bad_names[i].needle);
	}
	struct sd_ctl_plan_topic_req req = plan_req("orders.eu", 1, 1);
	expect_refused(s, &req, SD_CTL_KAFKA_TOPIC_ALREADY_EXISTS, "already exists");
	req = plan_req("orders_eu", 1, 1);
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_TOPIC_EXCEPTION, "collides");
	const int32_t bad_parts[] = {0, -1, SD_CTL_TOPIC_PARTITIONS_MAX + 1};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_parts); i++) {
		req = plan_req("fresh", bad_parts[i], 1);
		expect_refused(s, &req, SD_CTL_KAFKA_INVALID_PARTITIONS, "partitions");
	}
	const int32_t bad_rf[] = {0, -1, SD_CTL_REPLICATION_FACTOR_MAX + 1};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_rf); i++) {
		req = plan_req("fresh", 1, bad_rf[i]);
		expect_refused(s, &req, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR,
			       "replication factor");
	}
	req = plan_req("fresh", 1, 4);
	req.n_live = 3; /* brokers 1..3 alive */
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR, "3 live brokers");
	static const int32_t unknown_live[2] = {1, 50};
	req = plan_req("fresh", 1, 2);
	req.live_brokers = unknown_live;
	req.n_live = 2;
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR, "1 live brokers");

	struct sd_ctl_config cfg[2] = {{"retention.ms", "1"}, {"retention.ms", "2"}};
	req = plan_req("fresh", 1, 1);
	req.configs = cfg;
	req.n_configs = 2;
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "twice");
	cfg[1] = (struct sd_ctl_config){"leaders.preference", "regions:"};
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "leaders.preference");
	cfg[1] = (struct sd_ctl_config){"leaders.preference", "continents:eu"};
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "leaders.preference");
	cfg[1] = (struct sd_ctl_config){"bad key", "x"};
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "invalid");
	cfg[1] = (struct sd_ctl_config){"k", NULL};
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "no value");
	req.n_configs = SD_CTL_CONFIGS_MAX + 1;
	expect_refused(s, &req, SD_CTL_KAFKA_INVALID_CONFIG, "limit");

	/* Preferences placement cannot meet. */
	cfg[1] = (struct sd_ctl_config){"leaders.preference", "regions:mars"};
	req.n_configs = 2;
	expect_refused(s, &req, SD_CTL_KAFKA_POLICY_VIOLATION, "mars");
	cfg[1] = (struct sd_ctl_config){"leaders.preference", "regions:ap-south"};
	req.n_live = 4; /* brokers 5 and 6 (ap-south) are down */
	expect_refused(s, &req, SD_CTL_KAFKA_POLICY_VIOLATION, "ap-south");

	/* Topic ids: zero is invalid, one in use must be redrawn. */
	struct sd_ctl_cmd out;
	struct sd_ctl_plan_result res;
	req = plan_req("fresh", 1, 1);
	uint8_t zero[SD_CTL_TOPIC_ID_BYTES] = {0}, used[SD_CTL_TOPIC_ID_BYTES];
	req.topic_id = zero;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &out, &res), SD_CTL_EINVAL);
	fill_id(used, 1);
	req.topic_id = used;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &out, &res), SD_CTL_EEXIST);
	sd_ctl_state_free(s);
}
END_TEST

/* Two regions: us-east has one broker, eu-west three. With leaders pinned in
 * us-east and three voters, eu-west holds the majority. */
START_TEST(test_plan_majority_elsewhere)
{
	struct sd_ctl_state *s = new_state();
	const char *racks[4] = {"use-a", "euw-a", "euw-b", "euw-c"};
	for (int i = 0; i < 4; i++) {
		struct sd_ctl_cmd c = reg_cmd(i + 1, i == 0 ? "us-east" : "eu-west", racks[i], 1);
		APPLY(s, (uint64_t)i + 1, &c, APPLIED);
	}
	struct sd_ctl_config cfg[1] = {{"leaders.preference", "regions:us-east"}};
	struct sd_ctl_plan_topic_req req = plan_req("pinned", 2, 3);
	req.configs = cfg;
	req.n_configs = 1;
	req.n_live = 4;
	struct sd_ctl_cmd out;
	struct sd_ctl_plan_result res;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &out, &res), 0);
	ck_assert(res.warnings & PL_WARN_MAJORITY_ELSEWHERE);
	ck_assert_msg(strstr(res.message, "warning") != NULL, "%s", res.message);
	for (int p = 0; p < 2; p++) {
		ck_assert_int_eq(out.u.create_topic.partitions[p].replicas[0], 1);
	}
	sd_ctl_cmd_free(&out);
	req.refuse_warnings = PL_WARN_MAJORITY_ELSEWHERE;
	expect_refused(s, &req, SD_CTL_KAFKA_POLICY_VIOLATION, "refused");
	sd_ctl_state_free(s);
}
END_TEST

static const char *region_of(const struct sd_ctl_state *s, int32_t id)
{
	return sd_ctl_state_broker_find(s, id)->region;
}

START_TEST(test_plan_spreads_regions)
{
	struct sd_ctl_state *s = six_brokers();
	struct sd_ctl_config cfg[2] = {{"retention.ms", "60000"},
				       {"leaders.preference", "regions:us-east"}};
	for (int pinned = 0; pinned < 2; pinned++) {
		struct sd_ctl_plan_topic_req req = plan_req(pinned ? "pinned" : "spread", 6, 3);
		req.configs = cfg;
		req.n_configs = 1 + pinned;
		plan_id[1] = (uint8_t)pinned;
		struct sd_ctl_cmd out;
		struct sd_ctl_plan_result res;
		ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &out, &res), 0);
		ck_assert_int_eq(res.error_code, 0);
		ck_assert_uint_eq(res.warnings, 0);
		const struct sd_ctl_topic *t = &out.u.create_topic;
		ck_assert_int_eq(t->n_partitions, 6);
		ck_assert_int_eq(t->n_configs, 1 + pinned);
		int replicas[7] = {0}, leaders[7] = {0};
		for (int p = 0; p < 6; p++) {
			const struct sd_ctl_partition *part = &t->partitions[p];
			ck_assert_int_eq(part->n_replicas, 3);
			/* One voter in each region. */
			for (int i = 0; i < 3; i++) {
				for (int j = 0; j < i; j++) {
					ck_assert_str_ne(region_of(s, part->replicas[i]),
							 region_of(s, part->replicas[j]));
				}
				replicas[part->replicas[i]]++;
			}
			leaders[part->replicas[0]]++;
			if (pinned) {
				ck_assert_str_eq(region_of(s, part->replicas[0]), "us-east");
			}
		}
		for (int b = 1; b <= 6; b++) {
			ck_assert_int_eq(replicas[b], 3);
			if (!pinned) {
				ck_assert_int_eq(leaders[b], 1);
			}
		}
		uint64_t next = sd_ctl_state_next_group_id(s);
		ck_assert_uint_eq(t->partitions[0].group_id, next);
		ck_assert_uint_eq(res.next_group_id, next + 6);
		APPLY(s, 100 + (uint64_t)pinned, &out, APPLIED);
		sd_ctl_cmd_free(&out);
	}
	plan_id[1] = 0;
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, "pinned");
	ck_assert_str_eq(sd_ctl_topic_config(t, "leaders.preference"), "regions:us-east");
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_plan_deterministic_and_balanced)
{
	struct sd_ctl_state *s = six_brokers(), *s2;
	ck_assert_int_eq(sd_ctl_state_copy(s, &s2), 0);
	/* Topics created one after another balance together. */
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		plan_id[2] = (uint8_t)i;
		struct sd_ctl_plan_topic_req req = plan_req(name, 1 + i, 2);
		struct sd_ctl_cmd a, b;
		struct sd_ctl_plan_result res;
		ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &a, &res), 0);
		ck_assert_int_eq(sd_ctl_plan_create_topic(s2, &req, &b, &res), 0);
		size_t la, lb;
		uint8_t *ea = encode(&a, &la), *eb = encode(&b, &lb);
		ck_assert_uint_eq(la, lb);
		ck_assert_mem_eq(ea, eb, la);
		free(ea);
		free(eb);
		APPLY(s, 50 + (uint64_t)i, &a, APPLIED);
		APPLY(s2, 50 + (uint64_t)i, &b, APPLIED);
		sd_ctl_cmd_free(&a);
		sd_ctl_cmd_free(&b);
	}
	plan_id[2] = 0;
	int count[7] = {0};
	for (int32_t i = 0; i < sd_ctl_state_topic_count(s); i++) {
		const struct sd_ctl_topic *t = sd_ctl_state_topic_at(s, i);
		for (int32_t p = 0; p < t->n_partitions; p++) {
			for (int32_t r = 0; r < t->partitions[p].n_replicas; r++) {
				count[t->partitions[p].replicas[r]]++;
			}
		}
	}
	int lo = 1000, hi = 0;
	for (int b = 1; b <= 6; b++) {
		lo = count[b] < lo ? count[b] : lo;
		hi = count[b] > hi ? count[b] : hi;
	}
	ck_assert_int_le(hi - lo, 1); /* 30 replicas over 6 brokers */
	ck_assert(sd_ctl_state_equal(s, s2));
	sd_ctl_state_free(s);
	sd_ctl_state_free(s2);
}
END_TEST

START_TEST(test_plan_create_partitions)
{
	struct sd_ctl_state *s = six_brokers();
	struct sd_ctl_config cfg[1] = {{"leaders.preference", "regions:eu-west"}};
	struct sd_ctl_plan_topic_req req = plan_req("grow", 2, 3);
	req.configs = cfg;
	req.n_configs = 1;
	struct sd_ctl_cmd out;
	struct sd_ctl_plan_result res;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &out, &res), 0);
	APPLY(s, 10, &out, APPLIED);
	sd_ctl_cmd_free(&out);

	struct sd_ctl_plan_partitions_req preq = {
	    .name = "nope", .new_total = 4, .live_brokers = LIVE6, .n_live = 6};
	ck_assert_int_eq(sd_ctl_plan_create_partitions(s, &preq, &out, &res), SD_CTL_EREFUSED);
	ck_assert_int_eq(res.error_code, SD_CTL_KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	preq.name = "grow";
	preq.new_total = 2;
	ck_assert_int_eq(sd_ctl_plan_create_partitions(s, &preq, &out, &res), SD_CTL_EREFUSED);
	ck_assert_int_eq(res.error_code, SD_CTL_KAFKA_INVALID_PARTITIONS);
	preq.new_total = SD_CTL_TOPIC_PARTITIONS_MAX + 1;
	ck_assert_int_eq(sd_ctl_plan_create_partitions(s, &preq, &out, &res), SD_CTL_EREFUSED);
	ck_assert_int_eq(res.error_code, SD_CTL_KAFKA_INVALID_PARTITIONS);
	preq.new_total = 5;
	preq.n_live = 2;
	ck_assert_int_eq(sd_ctl_plan_create_partitions(s, &preq, &out, &res), SD_CTL_EREFUSED);
	ck_assert_int_eq(res.error_code, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR);
	preq.n_live = 6;
	ck_assert_int_eq(sd_ctl_plan_create_partitions(s, &preq, &out, &res), 0);
	ck_assert_int_eq(out.u.create_partitions.first_index, 2);
	ck_assert_int_eq(out.u.create_partitions.n_partitions, 3);
	ck_assert_uint_eq(out.u.create_partitions.partitions[0].group_id, 3);
	ck_assert_uint_eq(res.next_group_id, 6);
	APPLY(s, 11, &out, APPLIED);
	APPLY(s, 12, &out, PARTITION_COUNT_CHANGED);
	sd_ctl_cmd_free(&out);
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, "grow");
	ck_assert_int_eq(t->n_partitions, 5);
	for (int p = 0; p < 5; p++) {
		ck_assert_str_eq(region_of(s, t->partitions[p].replicas[0]), "eu-west");
	}
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_plan_alloc_failures)
{
	struct sd_ctl_state *s = six_brokers();
	struct sd_ctl_config cfg[1] = {{"leaders.preference", "regions:us-east"}};
	struct sd_ctl_plan_topic_req req = plan_req("t", 4, 3);
	req.configs = cfg;
	req.n_configs = 1;
	int failures = 0;
	for (long k = 1;; k++) {
		struct sd_ctl_cmd out;
		struct sd_ctl_plan_result res;
		sl_fault_arm(SL_FAULT_ALLOC, k, false);
		int rc = sd_ctl_plan_create_topic(s, &req, &out, &res);
		sl_fault_reset();
		if (rc == 0) {
			sd_ctl_cmd_free(&out);
			break;
		}
		ck_assert_msg(rc == SD_CTL_ENOMEM, "k=%ld: %s %s", k, sd_ctl_err_name(rc),
			      res.message);
		ck_assert_ptr_null(out.mem);
		failures++;
	}
	ck_assert_int_gt(failures, 2);
	sd_ctl_state_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Reconcile                                                                 */
/* ------------------------------------------------------------------------ */

START_TEST(test_reconcile)
{
	static const int32_t b[3] = {1, 2, 3};
	struct sd_ctl_state *s0 = six_brokers(), *s1, *s2;
	struct topic_fx fx;
	/* p0 [1,2] g1, p1 [2,3] g2, p2 [3,1] g3. */
	APPLY(s0, 10, topic_cmd(&fx, "t", 1, 3, 2, 1, b, 3), APPLIED);
	struct sd_ctl_local *local;
	int32_t n;
	ck_assert_int_eq(sd_ctl_local_partitions(s0, 1, &local, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(local[0].group_id, 1);
	ck_assert_str_eq(local[0].topic, "t");
	ck_assert_int_eq(local[0].partition, 0);
	ck_assert_uint_eq(local[1].group_id, 3);
	ck_assert_int_eq(local[1].replicas[0], 3);
	ck_assert_int_eq(local[1].replicas[1], 1);
	sl_free(local);
	ck_assert_int_eq(sd_ctl_local_partitions(s0, 6, &local, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(local);

	/* From nothing: creates only. */
	struct sd_ctl_change *ch;
	ck_assert_int_eq(sd_ctl_state_diff(NULL, s0, 2, &ch, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(ch[0].kind, SD_CTL_CHANGE_CREATE);
	ck_assert_uint_eq(ch[0].part.group_id, 1);
	ck_assert(ch[0].part.bootstrap);
	ck_assert_uint_eq(ch[1].part.group_id, 2);
	sl_free(ch);

	/* Move p0 off broker 1 onto 3, reorder p2, add p3 elsewhere. */
	ck_assert_int_eq(sd_ctl_state_copy(s0, &s1), 0);
	struct sd_ctl_cmd r = reassign_cmd("t", 0, (const int32_t[]){2, 3}, 2);
	APPLY(s1, 11, &r, APPLIED);
	r = reassign_cmd("t", 2, (const int32_t[]){1, 3}, 2);
	APPLY(s1, 12, &r, APPLIED);
	ck_assert_int_eq(sd_ctl_state_diff(s0, s1, 1, &ch, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(ch[0].kind, SD_CTL_CHANGE_DELETE);
	ck_assert_uint_eq(ch[0].part.group_id, 1);
	ck_assert_int_eq(ch[0].old_n_replicas, 2);
	ck_assert_int_eq(ch[1].kind, SD_CTL_CHANGE_REPLICAS);
	ck_assert_uint_eq(ch[1].part.group_id, 3);
	ck_assert_int_eq(ch[1].part.replicas[0], 1);
	ck_assert_int_eq(ch[1].old_replicas[0], 3);
	sl_free(ch);
	ck_assert_int_eq(sd_ctl_state_diff(s0, s1, 3, &ch, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(ch[0].kind, SD_CTL_CHANGE_REPLICAS); /* g3 reordered */
	ck_assert_uint_eq(ch[0].part.group_id, 3);
	ck_assert_int_eq(ch[1].kind, SD_CTL_CHANGE_CREATE); /* g1 arrives */
	ck_assert_uint_eq(ch[1].part.group_id, 1);
	ck_assert_int_eq(ch[1].old_n_replicas, 0);
	/* g1 was reassigned: broker 3 joins as a learner, no bootstrap. */
	ck_assert(!ch[1].part.bootstrap);
	ck_assert_uint_eq(ch[1].part.replica_epoch, 1);
	sl_free(ch);
	/* Nothing changed for broker 5, and none between equal states. */
	ck_assert_int_eq(sd_ctl_state_diff(s0, s1, 5, &ch, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(sd_ctl_state_diff(s1, s1, 2, &ch, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(ch);

	/* Deleting the topic deletes everything local. */
	ck_assert_int_eq(sd_ctl_state_copy(s1, &s2), 0);
	struct sd_ctl_cmd del = delete_cmd("t", 0);
	APPLY(s2, 13, &del, APPLIED);
	ck_assert_int_eq(sd_ctl_state_diff(s1, s2, 3, &ch, &n), 0);
	ck_assert_int_eq(n, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ch[i].kind, SD_CTL_CHANGE_DELETE);
		ck_assert_uint_eq(ch[i].part.group_id, (uint64_t)i + 1);
	}
	sl_free(ch);

	/* Unsorted input is refused. */
	struct sd_ctl_local two[2] = {{.group_id = 5}, {.group_id = 4}};
	ck_assert_int_eq(sd_ctl_local_diff(two, 2, NULL, 0, &ch, &n), SD_CTL_EINVAL);
	two[1].group_id = 5;
	ck_assert_int_eq(sd_ctl_local_diff(NULL, 0, two, 2, &ch, &n), SD_CTL_EINVAL);
	sd_ctl_state_free(s0);
	sd_ctl_state_free(s1);
	sd_ctl_state_free(s2);
}
END_TEST

/* Registered under the suite name "ctl_state" too, so CK_RUN_SUITE=ctl_state
 * runs every controller-state test. */
Suite *ctl_plan_suite(void)
{
	Suite *s = suite_create("ctl_state");
	TCase *plan = tcase_create("plan");
	tcase_add_test(plan, test_plan_errors);
	tcase_add_test(plan, test_plan_majority_elsewhere);
	tcase_add_test(plan, test_plan_spreads_regions);
	tcase_add_test(plan, test_plan_deterministic_and_balanced);
	tcase_add_test(plan, test_plan_create_partitions);
	tcase_add_test(plan, test_plan_alloc_failures);
	suite_add_tcase(s, plan);
	TCase *rec = tcase_create("reconcile");
	tcase_add_test(rec, test_reconcile);
	suite_add_tcase(s, rec);
	return s;
}
