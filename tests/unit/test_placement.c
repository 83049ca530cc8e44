/* Unit tests for placement/: topology, preferences, assignment, moves, leaders, fetch, config. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "placement/placement.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

#define BROKERS(...) ((struct pl_broker[]){__VA_ARGS__})
#define COUNT(arr)   ((int)(sizeof(arr) / sizeof((arr)[0])))
#define B(i, reg, rk)                                                                              \
	{                                                                                          \
		.id = (i), .region = (reg), .rack = (rk), .alive = true                            \
	}

static struct pl_topology *make_topo(const struct pl_broker *b, int n)
{
	struct pl_topology *t = NULL;
	char err[PL_ERRMSG_BYTES];
	int rc = pl_topology_new(b, n, &t, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	return t;
}

#define TOPO(...)                                                                                  \
	make_topo(BROKERS(__VA_ARGS__),                                                            \
		  (int)(sizeof(BROKERS(__VA_ARGS__)) / sizeof(struct pl_broker)))

/* A grid: regions r0..r<R-1> ("us-r"), racks "<region><letter>", ids
 * 100*region + 10*rack + broker. */
static char grid_names[256][2][24];

static struct pl_topology *grid(int regions, int racks, int brokers)
{
	struct pl_broker b[256];
	int n = 0;
	for (int r = 0; r < regions; r++) {
		for (int k = 0; k < racks; k++) {
			for (int i = 0; i < brokers; i++, n++) {
				snprintf(grid_names[n][0], 24, "reg-%d", r + 1);
				snprintf(grid_names[n][1], 24, "reg-%d%c", r + 1, 'a' + k);
				b[n] = (struct pl_broker){.id = 100 * r + 10 * k + i,
							  .region = grid_names[n][0],
							  .rack = grid_names[n][1],
							  .alive = true};
			}
		}
	}
	return make_topo(b, n);
}

static struct pl_preference pref_of(const char *s)
{
	struct pl_preference p;
	char err[PL_ERRMSG_BYTES];
	ck_assert_msg(pl_preference_parse(s, &p, err, sizeof(err)) == 0, "%s", err);
	return p;
}

static const char *region_of(const struct pl_topology *t, int32_t id)
{
	struct pl_broker b;
	ck_assert(pl_topology_find(t, id, &b));
	return b.region;
}

static const char *rack_of(const struct pl_topology *t, int32_t id)
{
	struct pl_broker b;
	ck_assert(pl_topology_find(t, id, &b));
	return b.rack;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(errors_have_names_and_messages)
{
	ck_assert_str_eq(pl_err_name(0), "0");
	ck_assert_str_eq(pl_strerror(0), "success");
	ck_assert_str_eq(pl_err_name(PL_ERR_INVAL), "PL_ERR_INVAL");
	ck_assert_str_eq(pl_err_name(PL_ERR_PREF_UNSATISFIABLE), "PL_ERR_PREF_UNSATISFIABLE");
	ck_assert_str_eq(pl_strerror(PL_ERR_NOMEM), "out of memory");
	ck_assert_str_eq(pl_err_name(-999), "PL_ERR_UNKNOWN");
	ck_assert_str_eq(pl_strerror(-999), "unknown placement error");
#define CHECK_ONE(name, value, msg)                                                                \
	ck_assert_int_lt(PL_ERR_##name, 0);                                                        \
	ck_assert_str_eq(pl_strerror(PL_ERR_##name), msg);                                         \
	ck_assert_str_eq(pl_err_name(PL_ERR_##name), "PL_ERR_" #name);
	PL_ERRNO_MAP(CHECK_ONE)
#undef CHECK_ONE
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Topology                                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(topology_indexes_brokers)
{
	struct pl_topology *t =
	    TOPO(B(7, "eu-west-1", "eu-west-1b"), B(3, "us-east-1", "us-east-1a"),
		 B(5, "eu-west-1", "eu-west-1a"), B(1, "us-east-1", "us-east-1a"));
	ck_assert_int_eq(pl_topology_broker_count(t), 4);
	ck_assert_int_eq(pl_topology_region_count(t), 2);
	ck_assert_int_eq(pl_topology_rack_count(t), 3);
	ck_assert_str_eq(pl_topology_region_name(t, 0), "eu-west-1");
	ck_assert_str_eq(pl_topology_region_name(t, 1), "us-east-1");
	ck_assert_str_eq(pl_topology_rack_name(t, 2), "us-east-1a");
	struct pl_broker b;
	int32_t prev = -1;
	for (int i = 0; i < 4; i++) {
		pl_topology_broker_at(t, i, &b);
		ck_assert_int_gt(b.id, prev);
		prev = b.id;
	}
	ck_assert(pl_topology_find(t, 5, &b));
	ck_assert_str_eq(b.region, "eu-west-1");
	ck_assert_str_eq(b.rack, "eu-west-1a");
	ck_assert(b.alive);
	ck_assert(!pl_topology_find(t, 4, &b));
	ck_assert_int_eq(pl_topology_set_alive(t, 5, false), 0);
	ck_assert(pl_topology_find(t, 5, &b) && !b.alive);
	ck_assert_int_eq(pl_topology_set_alive(t, 42, false), PL_ERR_UNKNOWN_BROKER);
	pl_topology_free(t);
	pl_topology_free(NULL);
}
END_TEST

START_TEST(topology_rejects_bad_input)
{
	struct pl_topology *t = (struct pl_topology *)1;
	char err[PL_ERRMSG_BYTES];
	ck_assert_int_eq(
	    pl_topology_new(BROKERS(B(1, "a", "a1"), B(1, "a", "a2")), 2, &t, err, sizeof(err)),
	    PL_ERR_DUP_BROKER);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(err, "broker 1"));
	ck_assert_int_eq(pl_topology_new(BROKERS(B(-2, "a", "a1")), 1, &t, err, sizeof(err)),
			 PL_ERR_INVAL);
	ck_assert_int_eq(
	    pl_topology_new(BROKERS(B(1, "a", "x"), B(2, "b", "x")), 2, &t, err, sizeof(err)),
	    PL_ERR_RACK_REGION);
	ck_assert_ptr_nonnull(strstr(err, "rack x"));
	ck_assert_int_eq(pl_topology_new(BROKERS(B(1, "a b", "x")), 1, &t, err, sizeof(err)),
			 PL_ERR_NAME);
	ck_assert_int_eq(pl_topology_new(BROKERS(B(1, "", "x")), 1, &t, err, sizeof(err)),
			 PL_ERR_NAME);
	ck_assert_int_eq(pl_topology_new(BROKERS(B(1, "a", "x,y")), 1, &t, err, sizeof(err)),
			 PL_ERR_NAME);
	char longname[PL_NAME_BYTES_MAX + 1];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[PL_NAME_BYTES_MAX] = '\0';
	ck_assert_int_eq(pl_topology_new(BROKERS(B(1, longname, "x")), 1, &t, NULL, 0),
			 PL_ERR_NAME);
	longname[PL_NAME_BYTES_MAX - 1] = '\0'; /* exactly the maximum length */
	ck_assert_int_eq(pl_topology_new(BROKERS(B(1, longname, "x")), 1, &t, NULL, 0), 0);
	pl_topology_free(t);
	struct pl_broker nul = {.id = 1, .region = NULL, .rack = "x"};
	ck_assert_int_eq(pl_topology_new(&nul, 1, &t, NULL, 0), PL_ERR_INVAL);
	ck_assert_int_eq(pl_topology_new(NULL, -1, &t, NULL, 0), PL_ERR_INVAL);
	ck_assert_int_eq(pl_topology_new(&nul, PL_BROKERS_MAX + 1, &t, err, sizeof(err)),
			 PL_ERR_LIMIT);
	ck_assert_int_eq(pl_topology_new(NULL, 0, &t, NULL, 0), 0);
	ck_assert_int_eq(pl_topology_broker_count(t), 0);
	pl_topology_free(t);
}
END_TEST

START_TEST(topology_survives_alloc_failures)
{
	for (long nth = 1;; nth++) {
		struct pl_topology *t = NULL;
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		int rc = pl_topology_new(BROKERS(B(1, "a", "a1"), B(2, "b", "b1")), 2, &t, NULL, 0);
		sl_fault_reset();
		if (rc == 0) {
			ck_assert_int_gt(nth, 1);
			pl_topology_free(t);
			break;
		}
		ck_assert_int_eq(rc, PL_ERR_NOMEM);
		ck_assert_ptr_null(t);
	}
}
END_TEST

static void expect_locate(const struct pl_topology *t, const char *rack,
			  enum pl_locality_level level, const char *region, const char *want_rack)
{
	struct pl_locality loc;
	pl_topology_locate(t, rack, &loc);
	ck_assert_msg(loc.level == level, "locate(%s): level %d", rack ? rack : "NULL", loc.level);
	if (region == NULL) {
		ck_assert_ptr_null(loc.region);
	} else {
		ck_assert_str_eq(loc.region, region);
	}
	if (want_rack == NULL) {
		ck_assert_ptr_null(loc.rack);
	} else {
		ck_assert_str_eq(loc.rack, want_rack);
	}
}

START_TEST(locate_client_racks)
{
	struct pl_topology *t =
	    TOPO(B(1, "us-east-1", "us-east-1a"), B(2, "us-east-1", "us-east-1b"),
		 B(3, "us-east-10", "us-east-10a"), B(4, "us-central1", "us-central1-a"),
		 B(5, "east", "east-z1"), B(6, "eu", "eu"));
	expect_locate(t, NULL, PL_LOCALITY_NONE, NULL, NULL);
	expect_locate(t, "", PL_LOCALITY_NONE, NULL, NULL);
	expect_locate(t, "us-east-1a", PL_LOCALITY_RACK, "us-east-1", "us-east-1a");
	expect_locate(t, "us-east-1", PL_LOCALITY_REGION, "us-east-1", NULL);
	/* An AZ of the region that holds no broker: region level. */
	expect_locate(t, "us-east-1c", PL_LOCALITY_REGION, "us-east-1", NULL);
	/* Longest prefix wins, and "us-east-1" is no prefix of "us-east-10b". */
	expect_locate(t, "us-east-10b", PL_LOCALITY_REGION, "us-east-10", NULL);
	expect_locate(t, "us-east-11a", PL_LOCALITY_NONE, NULL, NULL);
	expect_locate(t, "us-central1-f", PL_LOCALITY_REGION, "us-central1", NULL);
	/* "east" must not match inside the word "eastus". */
	expect_locate(t, "eastus-1", PL_LOCALITY_NONE, NULL, NULL);
	expect_locate(t, "east-z9", PL_LOCALITY_REGION, "east", NULL);
	/* A rack named like its region matches as a rack. */
	expect_locate(t, "eu", PL_LOCALITY_RACK, "eu", "eu");
	expect_locate(t, "US-EAST-1a", PL_LOCALITY_NONE, NULL, NULL);
	expect_locate(t, "ap-south-1a", PL_LOCALITY_NONE, NULL, NULL);
	/* Liveness does not matter for matching. */
	ck_assert_int_eq(pl_topology_set_alive(t, 1, false), 0);
	expect_locate(t, "us-east-1a", PL_LOCALITY_RACK, "us-east-1", "us-east-1a");
	pl_topology_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Preference                                                                */
/* ------------------------------------------------------------------------ */

START_TEST(preference_parses_and_formats)
{
	char buf[PL_PREF_STRING_BYTES_MAX];
	struct pl_preference p = pref_of("none");
	ck_assert_int_eq(p.kind, PL_PREF_NONE);
	ck_assert_int_eq(pl_preference_format(&p, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "none");
	p = pref_of(NULL);
	ck_assert_int_eq(p.kind, PL_PREF_NONE);
	p = pref_of("  regions: us-east-1 , eu-west-1\t");
	ck_assert_int_eq(p.kind, PL_PREF_REGIONS);
	ck_assert_int_eq(p.n_names, 2);
	ck_assert_str_eq(p.names[0], "us-east-1");
	ck_assert_str_eq(p.names[1], "eu-west-1");
	ck_assert_int_gt(pl_preference_format(&p, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "regions:us-east-1,eu-west-1");
	struct pl_preference back = pref_of(buf);
	ck_assert(pl_preference_equal(&p, &back));
	p = pref_of("racks:use1-az1");
	ck_assert_int_eq(p.kind, PL_PREF_RACKS);
	ck_assert_int_eq(pl_preference_format(&p, buf, sizeof(buf)), 14);
	ck_assert_str_eq(buf, "racks:use1-az1");
	ck_assert(!pl_preference_equal(&p, &back));
	/* Too small a buffer. */
	ck_assert_int_eq(pl_preference_format(&p, buf, 14), PL_ERR_NOSPACE);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(pl_preference_format(&p, buf, 15), 14);
	/* The maximum: eight maximal names fit PL_PREF_STRING_BYTES_MAX. */
	struct pl_preference big = {.kind = PL_PREF_REGIONS, .n_names = PL_PREF_NAMES_MAX};
	for (int i = 0; i < PL_PREF_NAMES_MAX; i++) {
		memset(big.names[i], 'a' + i, PL_NAME_BYTES_MAX - 1);
	}
	ck_assert_int_gt(pl_preference_format(&big, buf, sizeof(buf)), 0);
	back = pref_of(buf);
	ck_assert(pl_preference_equal(&big, &back));
	/* Invalid values refuse to format. */
	struct pl_preference bad = {.kind = PL_PREF_RACKS, .n_names = 0};
	ck_assert_int_eq(pl_preference_format(&bad, buf, sizeof(buf)), PL_ERR_INVAL);
}
END_TEST

static void expect_parse_error(const char *value, const char *fragment)
{
	struct pl_preference p;
	char err[PL_ERRMSG_BYTES];
	ck_assert_msg(pl_preference_parse(value, &p, err, sizeof(err)) == PL_ERR_PREF_SYNTAX,
		      "accepted '%s'", value);
	ck_assert_int_eq(p.kind, PL_PREF_NONE);
	ck_assert_msg(strstr(err, fragment) != NULL, "'%s': error '%s' lacks '%s'", value, err,
		      fragment);
}

START_TEST(preference_rejects_malformed)
{
	expect_parse_error("", "expected none");
	expect_parse_error("  ", "expected none");
	expect_parse_error("regions", "expected none");
	expect_parse_error("us-east-1", "expected none");
	expect_parse_error("regions:", "lists no names");
	expect_parse_error("racks:  ", "lists no names");
	expect_parse_error("regions:a,,b", "empty name at position 2");
	expect_parse_error("regions:a,", "empty name at position 2");
	expect_parse_error("regions:,a", "empty name at position 1");
	expect_parse_error("regions:a,b,a", "'a' is listed twice");
	expect_parse_error("zones:a", "unknown kind 'zones'");
	expect_parse_error("Regions:a", "unknown kind 'Regions'");
	expect_parse_error("regions:a b", "invalid name 'a b'");
	expect_parse_error("regions:a:b", "invalid name 'a:b'");
	expect_parse_error("regions:a,b,c,d,e,f,g,h,i", "more than 8 names");
	char longv[200];
	snprintf(longv, sizeof(longv), "racks:%0*d", PL_NAME_BYTES_MAX, 7);
	expect_parse_error(longv, "invalid name");
	/* Exactly eight names is fine. */
	struct pl_preference p = pref_of("regions:a,b,c,d,e,f,g,h");
	ck_assert_int_eq(p.n_names, 8);
}
END_TEST

START_TEST(preference_check_and_rank)
{
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "us", "us-b"), B(3, "eu", "eu-a"));
	char err[PL_ERRMSG_BYTES];
	bool partial = true;
	struct pl_preference p = pref_of("regions:us,eu");
	ck_assert_int_eq(pl_preference_check(&p, t, &partial, err, sizeof(err)), 0);
	ck_assert(!partial);
	p = pref_of("regions:ap,eu");
	ck_assert_int_eq(pl_preference_check(&p, t, &partial, err, sizeof(err)), 0);
	ck_assert(partial);
	ck_assert_ptr_nonnull(strstr(err, "no region named ap"));
	p = pref_of("regions:us-a");
	ck_assert_int_eq(pl_preference_check(&p, t, &partial, err, sizeof(err)),
			 PL_ERR_PREF_UNSATISFIABLE);
	ck_assert_ptr_nonnull(strstr(err, "racks:us-a"));
	p = pref_of("racks:eu");
	ck_assert_int_eq(pl_preference_check(&p, t, NULL, err, sizeof(err)),
			 PL_ERR_PREF_UNSATISFIABLE);
	ck_assert_ptr_nonnull(strstr(err, "regions:eu"));
	ck_assert_int_eq(pl_topology_set_alive(t, 3, false), 0);
	p = pref_of("regions:eu");
	ck_assert_int_eq(pl_preference_check(&p, t, NULL, err, sizeof(err)),
			 PL_ERR_PREF_UNSATISFIABLE);
	ck_assert_ptr_nonnull(strstr(err, "region eu has no live broker"));
	ck_assert_int_eq(pl_preference_check(NULL, t, NULL, NULL, 0), 0);

	p = pref_of("regions:eu,us");
	ck_assert_int_eq(pl_preference_rank(&p, t, 3), 0);
	ck_assert_int_eq(pl_preference_rank(&p, t, 1), 1);
	ck_assert_int_eq(pl_preference_rank(&p, t, 99), 2);
	p = pref_of("racks:us-b");
	ck_assert_int_eq(pl_preference_rank(&p, t, 2), 0);
	ck_assert_int_eq(pl_preference_rank(&p, t, 1), 1);
	ck_assert_int_eq(pl_preference_rank(NULL, t, 1), 0);
	pl_topology_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Assignment                                                                */
/* ------------------------------------------------------------------------ */

static struct pl_assignment assign_ok(const struct pl_topology *t, const char *pref, int32_t parts,
				      int rf)
{
	struct pl_preference p = pref_of(pref);
	struct pl_assign_req req = {
	    .topology = t, .preference = &p, .partitions = parts, .replication_factor = rf};
	struct pl_assignment a;
	int rc = pl_assign(&req, &a);
	ck_assert_msg(rc == 0, "pl_assign: %s: %s", pl_err_name(rc), a.detail);
	ck_assert_int_eq(a.partitions, parts);
	ck_assert_int_eq(a.replication_factor, rf);
	return a;
}

START_TEST(assign_spreads_over_regions)
{
	struct pl_topology *t = grid(3, 2, 2);
	struct pl_assignment a = assign_ok(t, "none", 12, 3);
	int leaders[3][2][2] = {{{0}}};
	int replicas[3][2][2] = {{{0}}};
	for (int32_t p = 0; p < 12; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		bool region_seen[3] = {false};
		for (int i = 0; i < 3; i++) {
			int r = row[i] / 100;
			ck_assert(!region_seen[r]);
			region_seen[r] = true;
			replicas[r][row[i] / 10 % 10][row[i] % 10]++;
		}
		leaders[row[0] / 100][row[0] / 10 % 10][row[0] % 10]++;
	}
	/* 36 replicas and 12 leaders over 12 brokers: exactly 3 and 1 each. */
	for (int i = 0; i < 12; i++) {
		ck_assert_int_eq(replicas[i / 4][i / 2 % 2][i % 2], 3);
		ck_assert_int_eq(leaders[i / 4][i / 2 % 2][i % 2], 1);
	}
	ck_assert_uint_eq(a.warnings, 0);
	ck_assert_str_eq(a.detail, "");
	pl_assignment_free(&a);
	pl_assignment_free(NULL);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_regions_preference)
{
	/* Two regions, RF 3: the preferred region holds the majority and the
	 * first replica. */
	struct pl_topology *t = grid(2, 3, 1);
	struct pl_assignment a = assign_ok(t, "regions:reg-2", 6, 3);
	for (int32_t p = 0; p < 6; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		ck_assert_str_eq(region_of(t, row[0]), "reg-2");
		int in_pref = 0;
		for (int i = 0; i < 3; i++) {
			in_pref += strcmp(region_of(t, row[i]), "reg-2") == 0;
		}
		ck_assert_int_eq(in_pref, 2);
		ck_assert_str_ne(rack_of(t, row[0]), rack_of(t, row[1]));
	}
	ck_assert_uint_eq(a.warnings, 0);
	pl_assignment_free(&a);
	/* Ordered preference with RF 2 over 3 regions: the first two preferred. */
	pl_topology_free(t);
	t = grid(3, 1, 2);
	a = assign_ok(t, "regions:reg-3,reg-1", 4, 2);
	for (int32_t p = 0; p < 4; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		ck_assert_str_eq(region_of(t, row[0]), "reg-3");
		ck_assert_str_eq(region_of(t, row[1]), "reg-1");
	}
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_warns_majority_elsewhere)
{
	/* The preferred region has one broker: RF 3 puts two voters elsewhere. */
	struct pl_topology *t =
	    TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "eu", "eu-b"), B(4, "eu", "eu-c"));
	struct pl_assignment a = assign_ok(t, "regions:us", 2, 3);
	ck_assert_uint_eq(a.warnings, PL_WARN_MAJORITY_ELSEWHERE);
	ck_assert_ptr_nonnull(strstr(a.detail, "region eu holds 2 of 3 voters"));
	ck_assert_int_eq(pl_assignment_row(&a, 0)[0], 1);
	pl_assignment_free(&a);
	/* No preference: no such warning. */
	a = assign_ok(t, "none", 2, 3);
	ck_assert_uint_eq(a.warnings, 0);
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_refuses_impossible)
{
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "us", "us-b"), B(3, "eu", "eu-a"));
	struct pl_preference p = pref_of("regions:ap");
	struct pl_assign_req req = {
	    .topology = t, .preference = &p, .partitions = 3, .replication_factor = 2};
	struct pl_assignment a;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_PREF_UNSATISFIABLE);
	ck_assert_ptr_null(a.replicas);
	ck_assert_ptr_nonnull(strstr(a.detail, "no region named ap"));
	/* The preferred region exists but is down. */
	p = pref_of("regions:eu");
	ck_assert_int_eq(pl_topology_set_alive(t, 3, false), 0);
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_PREF_UNSATISFIABLE);
	/* RF above the live brokers. */
	req.preference = NULL;
	req.replication_factor = 3;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_NOT_ENOUGH_BROKERS);
	ck_assert_ptr_nonnull(strstr(a.detail, "2 live brokers"));
	req.replication_factor = 2;
	ck_assert_int_eq(pl_assign(&req, &a), 0);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_ne(a.replicas[i], 3);
	}
	pl_assignment_free(&a);
	/* Argument checks. */
	req.partitions = 0;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_INVAL);
	req.partitions = PL_PARTITIONS_MAX + 1;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_LIMIT);
	req.partitions = 1;
	req.replication_factor = 0;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_INVAL);
	req.replication_factor = PL_REPLICATION_FACTOR_MAX + 1;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_LIMIT);
	req.replication_factor = 1;
	struct pl_broker_load neg = {.broker_id = 1, .replicas = -1};
	req.load = &neg;
	req.n_load = 1;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_INVAL);
	struct pl_preference broken = {.kind = PL_PREF_REGIONS, .n_names = 0};
	req.load = NULL;
	req.n_load = 0;
	req.preference = &broken;
	ck_assert_int_eq(pl_assign(&req, &a), PL_ERR_INVAL);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_partial_preference_and_racks)
{
	struct pl_topology *t =
	    TOPO(B(1, "us", "us-a"), B(2, "us", "us-b"), B(3, "eu", "eu-a"), B(4, "eu", "eu-b"));
	/* One unknown name: assignment proceeds, with a warning. */
	struct pl_assignment a = assign_ok(t, "regions:ap,eu", 2, 2);
	ck_assert(a.warnings & PL_WARN_PREF_PARTIAL);
	ck_assert_str_eq(region_of(t, pl_assignment_row(&a, 0)[0]), "eu");
	pl_assignment_free(&a);
	/* racks: the first replica sits in the first preferred rack. */
	a = assign_ok(t, "racks:us-b,eu-a", 4, 2);
	for (int32_t p = 0; p < 4; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		ck_assert_int_eq(row[0], 2);
		ck_assert_int_eq(row[1], 3);
	}
	ck_assert_uint_eq(a.warnings, 0);
	pl_assignment_free(&a);
	/* A dead first preferred rack: leaders go to the next. */
	ck_assert_int_eq(pl_topology_set_alive(t, 2, false), 0);
	a = assign_ok(t, "racks:us-b,eu-a", 2, 2);
	ck_assert_int_eq(pl_assignment_row(&a, 0)[0], 3);
	ck_assert(a.warnings & PL_WARN_PREF_PARTIAL);
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_rack_sharing_only_when_needed)
{
	/* One region, two racks, RF 3: two voters must share a rack. */
	struct pl_topology *t = grid(1, 2, 2);
	struct pl_assignment a = assign_ok(t, "none", 4, 3);
	ck_assert_uint_eq(a.warnings, PL_WARN_RACK_SHARED);
	ck_assert_ptr_nonnull(strstr(a.detail, "holds 2 voters"));
	pl_assignment_free(&a);
	/* RF 2 fits in two racks: no sharing. */
	a = assign_ok(t, "none", 4, 2);
	ck_assert_uint_eq(a.warnings, 0);
	for (int32_t p = 0; p < 4; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		ck_assert_str_ne(rack_of(t, row[0]), rack_of(t, row[1]));
	}
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_is_deterministic_and_uses_load)
{
	struct pl_topology *t = grid(3, 2, 2);
	struct pl_assignment a = assign_ok(t, "none", 7, 3);
	struct pl_assignment b = assign_ok(t, "none", 7, 3);
	ck_assert_mem_eq(a.replicas, b.replicas, sizeof(int32_t) * 21);
	pl_assignment_free(&b);
	/* Load: a second topic fills what the first left light. */
	struct pl_broker_load load[12];
	for (int i = 0; i < 12; i++) {
		struct pl_broker br;
		pl_topology_broker_at(t, i, &br);
		load[i] = (struct pl_broker_load){.broker_id = br.id};
	}
	ck_assert_int_eq(pl_assignment_tally(&a, load, 12), 0);
	struct pl_assign_req req = {.topology = t,
				    .partitions = 5,
				    .replication_factor = 3,
				    .load = load,
				    .n_load = 12,
				    .seed = 99};
	ck_assert_int_eq(pl_assign(&req, &b), 0);
	ck_assert_int_eq(pl_assignment_tally(&b, load, 12), 0);
	for (int i = 0; i < 12; i++) {
		ck_assert_int_eq(load[i].replicas, 3);
		ck_assert_int_eq(load[i].leaders, 1);
	}
	/* Tally refuses an assignment naming a broker the table lacks. */
	ck_assert_int_eq(pl_assignment_tally(&b, load, 11), PL_ERR_UNKNOWN_BROKER);
	ck_assert_int_eq(load[0].replicas, 3);
	pl_assignment_free(&a);
	pl_assignment_free(&b);
	pl_topology_free(t);
}
END_TEST

START_TEST(assign_survives_alloc_failures)
{
	struct pl_topology *t = grid(2, 2, 2);
	struct pl_preference p = pref_of("regions:reg-1");
	struct pl_assign_req req = {
	    .topology = t, .preference = &p, .partitions = 9, .replication_factor = 3};
	for (long nth = 1;; nth++) {
		struct pl_assignment a;
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		int rc = pl_assign(&req, &a);
		sl_fault_reset();
		if (rc == 0) {
			pl_assignment_free(&a);
			break;
		}
		ck_assert_int_eq(rc, PL_ERR_NOMEM);
		ck_assert_ptr_null(a.replicas);
	}
	pl_topology_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Move plans                                                                */
/* ------------------------------------------------------------------------ */

START_TEST(move_plan_replaces_dead_broker)
{
	struct pl_topology *t = grid(3, 1, 2);
	struct pl_assignment a = assign_ok(t, "none", 6, 3);
	ck_assert_int_eq(pl_topology_set_alive(t, 200, false), 0);
	struct pl_move_req req = {.topology = t, .current = &a};
	struct pl_move_plan plan;
	ck_assert_int_eq(pl_plan_moves(&req, &plan), 0);
	int affected = 0;
	for (int32_t p = 0; p < 6; p++) {
		const int32_t *row = pl_assignment_row(&a, p);
		bool had = false;
		for (int i = 0; i < 3; i++) {
			had |= row[i] == 200;
			ck_assert_int_ne(pl_assignment_row(&plan.target, p)[i], 200);
		}
		affected += had;
	}
	ck_assert_int_eq(plan.partitions_changed, affected);
	ck_assert_int_eq(plan.n_steps, 3 * affected);
	for (int s = 0; s < plan.n_steps; s++) {
		const struct pl_move_step *st = &plan.steps[s];
		ck_assert_int_eq(st->round, s / affected);
		ck_assert_int_eq(st->kind, (enum pl_step_kind)(s / affected));
		/* The only other broker of region 3 takes over. */
		ck_assert_int_eq(st->broker_id, st->kind == PL_STEP_REMOVE ? 200 : 201);
	}
	ck_assert_str_eq(pl_step_kind_str(PL_STEP_ADD_LEARNER), "add-learner");
	ck_assert_str_eq(pl_step_kind_str(PL_STEP_PROMOTE), "promote");
	ck_assert_str_eq(pl_step_kind_str(PL_STEP_REMOVE), "remove");
	pl_move_plan_free(&plan);
	pl_move_plan_free(NULL);
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(move_plan_fills_joined_broker)
{
	struct pl_topology *t = grid(1, 3, 1);
	struct pl_assignment a = assign_ok(t, "none", 6, 2);
	pl_topology_free(t);
	/* A fourth broker joins in a fourth rack: it should end with 3 of the
	 * 12 replicas, taken from the others, a few moves only. */
	t = TOPO(B(0, "reg-1", "reg-1a"), B(10, "reg-1", "reg-1b"), B(20, "reg-1", "reg-1c"),
		 B(30, "reg-1", "reg-1d"));
	struct pl_move_req req = {.topology = t, .current = &a};
	struct pl_move_plan plan;
	ck_assert_int_eq(pl_plan_moves(&req, &plan), 0);
	int on_new = 0;
	for (int i = 0; i < 12; i++) {
		on_new += plan.target.replicas[i] == 30;
	}
	ck_assert_int_eq(on_new, 3);
	ck_assert_int_eq(plan.n_steps, 9);
	for (int s = 0; s < plan.n_steps; s++) {
		if (plan.steps[s].kind != PL_STEP_REMOVE) {
			ck_assert_int_eq(plan.steps[s].broker_id, 30);
		}
	}
	pl_move_plan_free(&plan);
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

START_TEST(move_plan_rejects_bad_current)
{
	struct pl_topology *t = grid(1, 3, 1);
	int32_t rows[] = {0, 10, 20, 20};
	struct pl_assignment cur = {.partitions = 2, .replication_factor = 2, .replicas = rows};
	struct pl_move_req req = {.topology = t, .current = &cur};
	struct pl_move_plan plan;
	ck_assert_int_eq(pl_plan_moves(&req, &plan), PL_ERR_INVAL);
	ck_assert_ptr_nonnull(strstr(plan.target.detail, "partition 1 lists broker 20 twice"));
	ck_assert_ptr_null(plan.steps);
	cur.replicas = NULL;
	ck_assert_int_eq(pl_plan_moves(&req, &plan), PL_ERR_INVAL);
	/* All voters gone and too few live brokers left. */
	rows[3] = 0;
	cur.replicas = rows;
	ck_assert_int_eq(pl_topology_set_alive(t, 10, false), 0);
	ck_assert_int_eq(pl_topology_set_alive(t, 20, false), 0);
	ck_assert_int_eq(pl_plan_moves(&req, &plan), PL_ERR_NOT_ENOUGH_BROKERS);
	pl_topology_free(t);
}
END_TEST

START_TEST(move_plan_survives_alloc_failures)
{
	struct pl_topology *t = grid(2, 2, 2);
	struct pl_assignment a = assign_ok(t, "none", 8, 3);
	ck_assert_int_eq(pl_topology_set_alive(t, 110, false), 0);
	struct pl_move_req req = {.topology = t, .current = &a};
	for (long nth = 1;; nth++) {
		struct pl_move_plan plan;
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		int rc = pl_plan_moves(&req, &plan);
		sl_fault_reset();
		if (rc == 0) {
			ck_assert_int_gt(plan.n_steps, 0);
			pl_move_plan_free(&plan);
			break;
		}
		ck_assert_int_eq(rc, PL_ERR_NOMEM);
		ck_assert_ptr_null(plan.steps);
		ck_assert_ptr_null(plan.target.replicas);
	}
	pl_assignment_free(&a);
	pl_topology_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Leader choice                                                             */
/* ------------------------------------------------------------------------ */

/* Three voters: 1 in us, 2 in eu, 3 in ap; the leader is 3. */
struct leader_fixture {
	struct pl_topology *t;
	struct pl_preference pref;
	struct pl_config cfg;
	struct pl_voter_progress v[3];
	struct pl_leader_input in;
};

static void leader_setup(struct leader_fixture *f, const char *pref)
{
	f->t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "ap", "ap-a"));
	f->pref = pref_of(pref);
	pl_config_init(&f->cfg);
	int64_t now = 1000000;
	for (int i = 0; i < 3; i++) {
		f->v[i] = (struct pl_voter_progress){.broker_id = i + 1,
						     .match_index = 5000,
						     .last_contact_age_ms = 50,
						     .healthy_since_ms = now - 60000};
	}
	f->in = (struct pl_leader_input){.topology = f->t,
					 .preference = &f->pref,
					 .config = &f->cfg,
					 .leader_id = 3,
					 .leader_last_index = 5000,
					 .voters = f->v,
					 .n_voters = 3,
					 .now_ms = now,
					 .last_change_ms = now - 120000};
}

static struct pl_leader_decision decide(const struct leader_fixture *f)
{
	struct pl_leader_decision d;
	ck_assert_int_eq(pl_leader_decide(&f->in, &d), 0);
	return d;
}

START_TEST(leader_moves_to_preferred_in_order)
{
	struct leader_fixture f;
	leader_setup(&f, "regions:us,eu");
	struct pl_leader_decision d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(d.target_id, 1);
	ck_assert_int_eq(d.reason, PL_LEADER_MOVE_TO_PREFERRED);
	ck_assert_int_eq(d.leader_rank, 2);
	ck_assert_int_eq(d.target_rank, 0);
	/* us is down: eu next. */
	ck_assert_int_eq(pl_topology_set_alive(f.t, 1, false), 0);
	d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(d.target_id, 2);
	/* Leader now in eu; us back but not healthy long enough yet. */
	f.in.leader_id = 2;
	f.in.last_change_ms = f.in.now_ms - 60000;
	ck_assert_int_eq(pl_topology_set_alive(f.t, 1, true), 0);
	f.v[0].healthy_since_ms = f.in.now_ms - f.cfg.transfer_healthy_min_ms + 1;
	d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_STAY);
	ck_assert_int_eq(d.reason, PL_LEADER_NONE_READY);
	f.v[0].healthy_since_ms = f.in.now_ms - f.cfg.transfer_healthy_min_ms;
	d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(d.target_id, 1);
	/* Leader in the first preferred region stays. */
	f.in.leader_id = 1;
	d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_STAY);
	ck_assert_int_eq(d.reason, PL_LEADER_ALREADY_PREFERRED);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(leader_requires_caught_up_reachable_voter)
{
	struct leader_fixture f;
	leader_setup(&f, "regions:us");
	/* Lag exactly at the threshold is caught up; one more is not. */
	f.v[0].match_index = 5000 - (uint64_t)f.cfg.transfer_lag_max_entries;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_TRANSFER);
	f.v[0].match_index--;
	ck_assert_int_eq(decide(&f).reason, PL_LEADER_NONE_READY);
	f.v[0].match_index = 5000;
	/* Contact age at the bound is fine; beyond it, or never, is not. */
	f.v[0].last_contact_age_ms = f.cfg.transfer_contact_age_max_ms;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_TRANSFER);
	f.v[0].last_contact_age_ms++;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_STAY);
	f.v[0].last_contact_age_ms = -1;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_STAY);
	f.v[0].last_contact_age_ms = 0;
	/* A streak that never started or starts in the future. */
	f.v[0].healthy_since_ms = PL_TIME_NEVER;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_STAY);
	f.v[0].healthy_since_ms = f.in.now_ms + 5;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_STAY);
	/* Dead in the topology. */
	f.v[0].healthy_since_ms = 0;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(pl_topology_set_alive(f.t, 1, false), 0);
	ck_assert_int_eq(decide(&f).action, PL_LEADER_STAY);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(leader_cool_down)
{
	struct leader_fixture f;
	leader_setup(&f, "regions:us");
	f.in.last_change_ms = f.in.now_ms - f.cfg.transfer_cool_down_ms + 1;
	struct pl_leader_decision d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_STAY);
	ck_assert_int_eq(d.reason, PL_LEADER_COOL_DOWN);
	ck_assert_int_eq(d.target_id, 1);
	f.in.last_change_ms = f.in.now_ms - f.cfg.transfer_cool_down_ms;
	ck_assert_int_eq(decide(&f).action, PL_LEADER_TRANSFER);
	/* A change "in the future" (clock skew between sources) counts as recent. */
	f.in.last_change_ms = f.in.now_ms + 10;
	ck_assert_int_eq(decide(&f).reason, PL_LEADER_COOL_DOWN);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(leader_target_tie_breaks)
{
	struct leader_fixture f;
	leader_setup(&f, "regions:us,eu");
	/* Two voters in us this time. */
	pl_topology_free(f.t);
	f.t = TOPO(B(1, "us", "us-a"), B(2, "us", "us-b"), B(3, "ap", "ap-a"));
	f.in.topology = f.t;
	/* Smallest lag wins. */
	f.v[0].match_index = 4990;
	ck_assert_int_eq(decide(&f).target_id, 2);
	/* Equal lag: the longer streak wins. */
	f.v[0].match_index = 5000;
	f.v[0].healthy_since_ms = f.v[1].healthy_since_ms - 1;
	ck_assert_int_eq(decide(&f).target_id, 1);
	/* All equal: lowest id. */
	f.v[0].healthy_since_ms = f.v[1].healthy_since_ms;
	ck_assert_int_eq(decide(&f).target_id, 1);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(leader_edge_cases)
{
	struct leader_fixture f;
	leader_setup(&f, "none");
	struct pl_leader_decision d = decide(&f);
	ck_assert_int_eq(d.action, PL_LEADER_STAY);
	ck_assert_int_eq(d.reason, PL_LEADER_NO_PREFERENCE);
	ck_assert_int_eq(d.leader_rank, 0);
	f.pref = pref_of("regions:us");
	f.in.leader_id = PL_NO_BROKER;
	d = decide(&f);
	ck_assert_int_eq(d.reason, PL_LEADER_NO_LEADER);
	ck_assert_int_eq(d.leader_rank, -1);
	f.in.leader_id = 3;
	ck_assert_int_eq(pl_topology_set_alive(f.t, 3, false), 0);
	ck_assert_int_eq(decide(&f).reason, PL_LEADER_NO_LEADER);
	ck_assert_int_eq(pl_topology_set_alive(f.t, 3, true), 0);
	/* No voter in us at all: ap is as good as it gets. */
	f.in.n_voters = 2;
	f.v[0] = f.v[2];
	f.v[1].broker_id = 2;
	ck_assert_int_eq(decide(&f).reason, PL_LEADER_ALREADY_PREFERRED);
	/* Invalid inputs. */
	f.in.leader_id = 1;
	ck_assert_int_eq(pl_leader_decide(&f.in, &d), PL_ERR_INVAL);
	f.in.leader_id = 3;
	f.v[1].broker_id = 3;
	ck_assert_int_eq(pl_leader_decide(&f.in, &d), PL_ERR_INVAL);
	f.in.n_voters = 0;
	ck_assert_int_eq(pl_leader_decide(&f.in, &d), PL_ERR_INVAL);
	f.in.n_voters = PL_VOTERS_MAX + 1;
	ck_assert_int_eq(pl_leader_decide(&f.in, &d), PL_ERR_INVAL);
	for (int r = PL_LEADER_NO_PREFERENCE; r <= PL_LEADER_MOVE_TO_PREFERRED; r++) {
		ck_assert_str_ne(pl_leader_reason_str((enum pl_leader_reason)r), "unknown");
	}
	pl_topology_free(f.t);
}
END_TEST

START_TEST(voter_observe_tracks_streaks)
{
	struct leader_fixture f;
	leader_setup(&f, "regions:us");
	struct pl_voter_progress v = {.broker_id = 1,
				      .match_index = 500,
				      .last_contact_age_ms = 10,
				      .healthy_since_ms = PL_TIME_NEVER};
	pl_voter_observe(&v, f.t, &f.cfg, 500, 100);
	ck_assert_int_eq(v.healthy_since_ms, 100);
	pl_voter_observe(&v, f.t, &f.cfg, 510, 200);
	ck_assert_int_eq(v.healthy_since_ms, 100);
	v.last_contact_age_ms = f.cfg.transfer_contact_age_max_ms + 1;
	pl_voter_observe(&v, f.t, &f.cfg, 510, 300);
	ck_assert_int_eq(v.healthy_since_ms, PL_TIME_NEVER);
	v.last_contact_age_ms = 0;
	pl_voter_observe(&v, f.t, &f.cfg, 510, 400);
	ck_assert_int_eq(v.healthy_since_ms, 400);
	/* A match index ahead of the leader's view is caught up. */
	v.match_index = 900;
	ck_assert(pl_voter_healthy(&v, f.t, &f.cfg, 510));
	v.broker_id = 77;
	ck_assert(!pl_voter_healthy(&v, f.t, &f.cfg, 510));
	pl_topology_free(f.t);
}
END_TEST

START_TEST(election_timeouts_by_rank)
{
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "ap", "ap-a"));
	struct pl_preference p = pref_of("regions:us,eu");
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 1, 1000, 500), 1000);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 2, 1000, 500), 1500);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 3, 1000, 500), 2000);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 99, 1000, 500), 2000);
	p = pref_of("none");
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 3, 1000, 500), 1000);
	ck_assert_int_eq(pl_election_timeout_ms(NULL, t, 3, 1000, 500), 1000);
	p = pref_of("racks:eu-a");
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 2, 1000, 500), 1000);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 1, 1000, 500), 1500);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 1, 1000, INT64_MAX), INT64_MAX);
	ck_assert_int_eq(pl_election_timeout_ms(&p, t, 1, -5, -5), 0);
	pl_topology_free(t);
}
END_TEST

START_TEST(election_timeouts_by_live_rank)
{
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "ap", "ap-a"),
				     B(4, "us", "us-b"), B(5, "eu", "eu-b"));
	struct pl_preference p = pref_of("regions:us,eu");
	const int32_t v3[] = {1, 2, 3};
	/* Everyone alive: the static ranks. */
	ck_assert_int_eq(pl_election_rank_live(&p, t, 1, v3, 3), 0);
	ck_assert_int_eq(pl_election_rank_live(&p, t, 2, v3, 3), 1);
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, v3, 3), 2);
	ck_assert_int_eq(pl_election_timeout_live_ms(&p, t, 3, v3, 3, 1000, 500), 2000);
	/* The preferred region's voter is down: eu becomes first, ap second. */
	ck_assert_int_eq(pl_topology_set_alive(t, 1, false), 0);
	ck_assert_int_eq(pl_election_timeout_live_ms(&p, t, 2, v3, 3, 1000, 500), 1000);
	ck_assert_int_eq(pl_election_timeout_live_ms(&p, t, 3, v3, 3, 1000, 500), 1500);
	/* A broker's own liveness does not matter, only the others'. */
	ck_assert_int_eq(pl_election_rank_live(&p, t, 1, v3, 3), 0);
	/* Only the partition's voters count: broker 4 (us) is alive but not a
	 * voter here. */
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, v3, 3), 1);
	/* Two live voters in one better place count as one rank. */
	const int32_t v4[] = {2, 5, 3, 4};
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, v4, 4), 2);
	ck_assert_int_eq(pl_election_rank_live(&p, t, 5, v4, 4), 1);
	ck_assert_int_eq(pl_topology_set_alive(t, 4, false), 0);
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, v4, 4), 1);
	ck_assert_int_eq(pl_election_rank_live(&p, t, 5, v4, 4), 0);
	/* Standing for election first: alone in the best live place. */
	ck_assert(!pl_election_first(&p, t, 5, v4, 4)); /* 2 shares eu */
	ck_assert(!pl_election_first(&p, t, 2, v4, 4));
	ck_assert(!pl_election_first(&p, t, 3, v4, 4));
	ck_assert(pl_election_first(&p, t, 5, v4 + 1, 3)); /* 4 (us) is down */
	ck_assert(pl_election_first(&p, t, 2, v3, 3));	    /* 1 (us) is down */
	/* Voters unknown to the topology are ignored, as are duplicates. */
	const int32_t vx[] = {99, 2, 2, 3};
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, vx, 4), 1);
	/* No preference, or no voters: rank 0. */
	p = pref_of("none");
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, v3, 3), 0);
	ck_assert(!pl_election_first(&p, t, 3, v3, 3)); /* everyone ties */
	ck_assert(pl_election_first(&p, t, 3, v3 + 2, 1));
	ck_assert_int_eq(pl_election_rank_live(NULL, t, 3, v3, 3), 0);
	p = pref_of("regions:us,eu");
	ck_assert_int_eq(pl_election_rank_live(&p, t, 3, NULL, 0), 0);
	ck_assert_int_eq(pl_election_timeout_live_ms(&p, t, 2, v3, 3, 1000, INT64_MAX), 1000);
	/* The preferred voter comes back: eu is second again (saturating). */
	ck_assert_int_eq(pl_topology_set_alive(t, 1, true), 0);
	ck_assert_int_eq(pl_election_timeout_live_ms(&p, t, 2, v3, 3, 1000, INT64_MAX), INT64_MAX);
	pl_topology_free(t);
}
END_TEST

/* What the broker and the simulator hand their groups: the live-rank
 * timeout within bounds, and when a follower campaigns early. */
START_TEST(election_host_decisions)
{
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "ap", "ap-a"),
				     B(4, "eu", "eu-b"));
	struct pl_preference p = pref_of("regions:us,eu,ap");
	const int32_t v3[] = {1, 2, 3};
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 3, v3, 3, 1000, 500, 3600000), 2000);
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 1, v3, 3, 1000, 500, 3600000), 1000);
	/* Unknown to the topology, or out of 1..max: 0 (keep the base). */
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 9, v3, 3, 1000, 500, 3600000), 0);
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 3, v3, 3, 1000, 500, 1999), 0);
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 3, v3, 3, 0, 0, 3600000), 0);
	ck_assert_int_eq(
	    pl_election_timeout_replica_ms(&p, t, 3, v3, 3, 1000, INT64_MAX, INT64_MAX - 1), 0);
	/* Leader 1 alive: nobody campaigns early. */
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 1, v3, 3));
	/* Leader 1 dead: eu's voter is alone in the best live place. */
	ck_assert_int_eq(pl_topology_set_alive(t, 1, false), 0);
	ck_assert(pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 1, v3, 3));
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 2, v3, 3, 1000, 500, 3600000), 1000);
	ck_assert_int_eq(pl_election_timeout_replica_ms(&p, t, 3, v3, 3, 1000, 500, 3600000), 1500);
	ck_assert(!pl_election_leader_lost(&p, t, 3, PL_ROLE_FOLLOWER, 1, v3, 3)); /* ap: second */
	/* Only a follower that knows a leader the topology holds dead. */
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_CANDIDATE, 1, v3, 3));
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_UNKNOWN, 1, v3, 3));
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 0, v3, 3));
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, PL_NO_BROKER, v3, 3));
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 9, v3, 3));
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 3, v3, 3)); /* 3 alive */
	/* Two live voters in eu tie: neither campaigns early. */
	const int32_t v4[] = {1, 2, 4, 3};
	ck_assert(!pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 1, v4, 4));
	ck_assert(!pl_election_leader_lost(&p, t, 4, PL_ROLE_FOLLOWER, 1, v4, 4));
	ck_assert_int_eq(pl_topology_set_alive(t, 4, false), 0);
	ck_assert(pl_election_leader_lost(&p, t, 2, PL_ROLE_FOLLOWER, 1, v4, 4));
	pl_topology_free(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fetch selection and staleness                                             */
/* ------------------------------------------------------------------------ */

/* Replicas: leader 1 in us-a; 2 in eu-a, 3 in eu-a, 4 in eu-b. */
struct fetch_fixture {
	struct pl_topology *t;
	struct pl_replica_state r[4];
	struct pl_fetch_input in;
};

static void fetch_setup(struct fetch_fixture *f)
{
	f->t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "eu", "eu-a"), B(4, "eu", "eu-b"));
	for (int i = 0; i < 4; i++) {
		f->r[i] = (struct pl_replica_state){.broker_id = i + 1,
						    .log_start_offset = 100,
						    .high_watermark = 1000,
						    .leader_contact_age_ms = 20};
	}
	f->in = (struct pl_fetch_input){.topology = f->t,
					.client_rack = "eu-a",
					.fetch_offset = 900,
					.max_staleness_ms = 500,
					.leader_id = 1,
					.client_hash = pl_client_hash("consumer-1", "eu-a"),
					.replicas = f->r,
					.n_replicas = 4};
}

static struct pl_fetch_choice fetch(const struct fetch_fixture *f)
{
	struct pl_fetch_choice c;
	ck_assert_int_eq(pl_fetch_select(&f->in, &c), 0);
	return c;
}

START_TEST(fetch_prefers_rack_then_region_then_leader)
{
	struct fetch_fixture f;
	fetch_setup(&f);
	struct pl_fetch_choice c = fetch(&f);
	ck_assert(c.broker_id == 2 || c.broker_id == 3);
	ck_assert_int_eq(c.reason, PL_FETCH_SAME_RACK);
	ck_assert_str_eq(pl_fetch_reason_str(c.reason), "same-rack");
	/* Both rack replicas stale: the other eu rack. */
	f.r[1].leader_contact_age_ms = 501;
	f.r[2].leader_contact_age_ms = 501;
	c = fetch(&f);
	ck_assert_int_eq(c.broker_id, 4);
	ck_assert_int_eq(c.reason, PL_FETCH_SAME_REGION);
	/* Everything in eu stale: leader, and the reason says why. */
	f.r[3].leader_contact_age_ms = 501;
	c = fetch(&f);
	ck_assert_int_eq(c.broker_id, 1);
	ck_assert_int_eq(c.reason, PL_FETCH_LEADER_LOCAL_STALE);
	ck_assert_str_eq(pl_fetch_reason_str(c.reason),
			 "leader: no in-region replica within staleness bound");
	/* Fresh but behind the offset. */
	for (int i = 1; i < 4; i++) {
		f.r[i].leader_contact_age_ms = 500;
		f.r[i].high_watermark = 899;
	}
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_LOCAL_BEHIND);
	/* Down. */
	for (int i = 2; i <= 4; i++) {
		ck_assert_int_eq(pl_topology_set_alive(f.t, i, false), 0);
	}
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_LOCAL_DOWN);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(fetch_offset_boundaries)
{
	struct fetch_fixture f;
	fetch_setup(&f);
	f.in.client_rack = "eu-b";
	/* At the high watermark the replica serves (a tail long-poll). */
	f.in.fetch_offset = 1000;
	ck_assert_int_eq(fetch(&f).broker_id, 4);
	f.in.fetch_offset = 1001;
	ck_assert_int_eq(fetch(&f).broker_id, 1);
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_LOCAL_BEHIND);
	/* At the log start it serves; below, it does not. */
	f.in.fetch_offset = 100;
	ck_assert_int_eq(fetch(&f).broker_id, 4);
	f.in.fetch_offset = 99;
	ck_assert_int_ne(fetch(&f).reason, PL_FETCH_SAME_RACK);
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_LOCAL_BEHIND);
	f.in.fetch_offset = -1;
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_BAD_OFFSET);
	/* Staleness exactly at the bound is fine; a negative bound disables. */
	f.in.fetch_offset = 500;
	f.r[3].leader_contact_age_ms = 500;
	ck_assert_int_eq(fetch(&f).broker_id, 4);
	f.in.max_staleness_ms = -1;
	ck_assert_int_eq(fetch(&f).broker_id, 1);
	f.in.max_staleness_ms = 500;
	f.r[3].leader_contact_age_ms = -1;
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_SAME_REGION);
	ck_assert_int_ne(fetch(&f).broker_id, 4);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(fetch_client_locality_reasons)
{
	struct fetch_fixture f;
	fetch_setup(&f);
	f.in.client_rack = NULL;
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_NO_RACK);
	f.in.client_rack = "";
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_NO_RACK);
	f.in.client_rack = "mars-1a";
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_UNKNOWN_RACK);
	/* An unknown AZ of a known region: region level. */
	f.in.client_rack = "eu-c";
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_SAME_REGION);
	f.in.client_rack = "eu";
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_SAME_REGION);
	/* Client next to the leader: the leader, no redirect. */
	f.in.client_rack = "us-a";
	struct pl_fetch_choice c = fetch(&f);
	ck_assert_int_eq(c.broker_id, 1);
	ck_assert_int_eq(c.reason, PL_FETCH_SAME_RACK);
	/* Even if the leader is "behind": it answers out-of-range itself. */
	f.in.fetch_offset = 5000;
	ck_assert_int_eq(fetch(&f).broker_id, 1);
	/* No replica at all in the client's region. */
	pl_topology_free(f.t);
	f.t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "eu", "eu-a"), B(4, "eu", "eu-b"),
		   B(5, "ap", "ap-a"));
	f.in.topology = f.t;
	f.in.client_rack = "ap-a";
	ck_assert_int_eq(fetch(&f).reason, PL_FETCH_LEADER_NO_LOCAL);
	for (int r = PL_FETCH_SAME_RACK; r <= PL_FETCH_LEADER_BAD_OFFSET; r++) {
		ck_assert_str_ne(pl_fetch_reason_str((enum pl_fetch_reason)r), "unknown");
	}
	pl_topology_free(f.t);
}
END_TEST

START_TEST(fetch_is_sticky_and_spreads)
{
	/* Five replicas in the client's rack, plus the leader elsewhere. */
	struct pl_topology *t = TOPO(B(1, "us", "us-a"), B(2, "eu", "eu-a"), B(3, "eu", "eu-a"),
				     B(4, "eu", "eu-a"), B(5, "eu", "eu-a"), B(6, "eu", "eu-a"));
	struct pl_replica_state r[6];
	for (int i = 0; i < 6; i++) {
		r[i] = (struct pl_replica_state){.broker_id = i + 1, .high_watermark = 10};
	}
	struct pl_fetch_input in = {.topology = t,
				    .client_rack = "eu-a",
				    .fetch_offset = 5,
				    .max_staleness_ms = 100,
				    .leader_id = 1,
				    .replicas = r,
				    .n_replicas = 6};
	int hits[7] = {0};
	int32_t first[1000];
	const int clients = 1000;
	for (int c = 0; c < clients; c++) {
		char id[32];
		snprintf(id, sizeof(id), "client-%d", c);
		in.client_hash = pl_client_hash(id, "eu-a");
		struct pl_fetch_choice ch;
		ck_assert_int_eq(pl_fetch_select(&in, &ch), 0);
		first[c] = ch.broker_id;
		hits[ch.broker_id]++;
		/* Same client, same answer. */
		ck_assert_int_eq(pl_fetch_select(&in, &ch), 0);
		ck_assert_int_eq(ch.broker_id, first[c]);
	}
	for (int b = 2; b <= 6; b++) {
		/* 200 expected each; allow a generous band. */
		ck_assert_msg(hits[b] > 140 && hits[b] < 260, "broker %d got %d", b, hits[b]);
	}
	/* Replica 4 leaves the tier: only its clients move. */
	r[3].leader_contact_age_ms = 101;
	for (int c = 0; c < clients; c++) {
		char id[32];
		snprintf(id, sizeof(id), "client-%d", c);
		in.client_hash = pl_client_hash(id, "eu-a");
		struct pl_fetch_choice ch;
		ck_assert_int_eq(pl_fetch_select(&in, &ch), 0);
		ck_assert_int_ne(ch.broker_id, 4);
		if (first[c] != 4) {
			ck_assert_int_eq(ch.broker_id, first[c]);
		}
	}
	ck_assert(pl_client_hash("a", "bc") != pl_client_hash("ab", "c"));
	ck_assert(pl_client_hash(NULL, NULL) == pl_client_hash(NULL, NULL));
	pl_topology_free(t);
}
END_TEST

START_TEST(fetch_rejects_bad_input)
{
	struct fetch_fixture f;
	fetch_setup(&f);
	struct pl_fetch_choice c;
	f.in.leader_id = 9;
	ck_assert_int_eq(pl_fetch_select(&f.in, &c), PL_ERR_INVAL);
	f.in.leader_id = 1;
	f.r[2].broker_id = 2;
	ck_assert_int_eq(pl_fetch_select(&f.in, &c), PL_ERR_INVAL);
	f.r[2].broker_id = 3;
	f.in.n_replicas = 0;
	ck_assert_int_eq(pl_fetch_select(&f.in, &c), PL_ERR_INVAL);
	f.in.n_replicas = PL_REPLICAS_MAX + 1;
	ck_assert_int_eq(pl_fetch_select(&f.in, &c), PL_ERR_INVAL);
	/* A replica unknown to the topology is never chosen. */
	f.in.n_replicas = 4;
	f.r[1].broker_id = 42;
	f.r[2].broker_id = 43;
	f.in.client_rack = "eu-a";
	ck_assert_int_eq(fetch(&f).broker_id, 4);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(follower_staleness_decisions)
{
	ck_assert(pl_follower_may_serve(0, 0));
	ck_assert(pl_follower_may_serve(500, 500));
	ck_assert(!pl_follower_may_serve(501, 500));
	ck_assert(!pl_follower_may_serve(-1, 500));
	ck_assert(!pl_follower_may_serve(0, -1));
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 100, 1000, 999), PL_FOLLOWER_SERVE);
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 100, 1000, 1000), PL_FOLLOWER_WAIT);
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 100, 1000, 5000), PL_FOLLOWER_WAIT);
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 100, 1000, 100), PL_FOLLOWER_SERVE);
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 100, 1000, 99),
			 PL_FOLLOWER_OUT_OF_RANGE);
	ck_assert_int_eq(pl_follower_fetch_decide(10, 500, 0, 1000, -1), PL_FOLLOWER_OUT_OF_RANGE);
	/* Staleness first: a stale follower refuses even what it holds. */
	ck_assert_int_eq(pl_follower_fetch_decide(501, 500, 100, 1000, 500),
			 PL_FOLLOWER_REFUSE_STALE);
	ck_assert_int_eq(pl_follower_fetch_decide(501, 500, 100, 1000, 5),
			 PL_FOLLOWER_REFUSE_STALE);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(config_table)
{
	size_t n = 0;
	const struct pl_config_key *keys = pl_config_keys(&n);
	ck_assert_uint_eq(n, 5);
	struct pl_config cfg;
	pl_config_init(&cfg);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(keys[i].description);
		ck_assert_int_le(keys[i].min, keys[i].default_value);
		ck_assert_int_le(keys[i].default_value, keys[i].max);
	}
	ck_assert_int_eq(cfg.transfer_cool_down_ms, 30000);
	ck_assert_int_eq(cfg.election_timeout_step_ms, 500);
	ck_assert_int_eq(pl_config_validate(&cfg, NULL, 0), 0);
	char err[PL_ERRMSG_BYTES];
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", "60000", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.transfer_cool_down_ms, 60000);
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", "-1", err, sizeof(err)),
	    PL_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "leaders.transfer.cool.down.ms"));
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", "10s", err, sizeof(err)),
	    PL_ERR_CONFIG);
	ck_assert_int_eq(pl_config_set(&cfg, "leaders.transfer.cool.down.ms", "", err, sizeof(err)),
			 PL_ERR_CONFIG);
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", NULL, err, sizeof(err)),
	    PL_ERR_CONFIG);
	ck_assert_int_eq(pl_config_set(&cfg, "leaders.transfer.cool.down.ms",
				       "99999999999999999999", err, sizeof(err)),
			 PL_ERR_CONFIG);
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", " 5", err, sizeof(err)),
	    PL_ERR_CONFIG);
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.cool.down.ms", "-", err, sizeof(err)),
	    PL_ERR_CONFIG);
	ck_assert_int_eq(
	    pl_config_set(&cfg, "leaders.transfer.healthy.min.ms", "-0", err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.transfer_healthy_min_ms, 0);
	ck_assert_int_eq(pl_config_set(&cfg, "leaders.transfer.lag.max.entries",
				       "4611686018427387903", err, sizeof(err)),
			 0);
	ck_assert_int_eq(cfg.transfer_lag_max_entries, INT64_MAX / 2);
	ck_assert_int_eq(pl_config_set(&cfg, "leaders.transfer.lag.max.entries",
				       "-9223372036854775808", err, sizeof(err)),
			 PL_ERR_CONFIG);
	ck_assert_int_eq(pl_config_set(&cfg, "no.such.key", "1", err, sizeof(err)), PL_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "unknown placement key 'no.such.key'"));
	ck_assert_int_eq(cfg.transfer_cool_down_ms, 60000);
	cfg.transfer_contact_age_max_ms = 0;
	ck_assert_int_eq(pl_config_validate(&cfg, err, sizeof(err)), PL_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "leaders.transfer.contact.age.max.ms"));
}
END_TEST

Suite *placement_suite(void)
{
	Suite *s = suite_create("placement");
	TCase *tc = tcase_create("topology");
	tcase_add_test(tc, errors_have_names_and_messages);
	tcase_add_test(tc, topology_indexes_brokers);
	tcase_add_test(tc, topology_rejects_bad_input);
	tcase_add_test(tc, topology_survives_alloc_failures);
	tcase_add_test(tc, locate_client_racks);
	suite_add_tcase(s, tc);
	tc = tcase_create("preference");
	tcase_add_test(tc, preference_parses_and_formats);
	tcase_add_test(tc, preference_rejects_malformed);
	tcase_add_test(tc, preference_check_and_rank);
	tcase_add_test(tc, config_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("assign");
	tcase_add_test(tc, assign_spreads_over_regions);
	tcase_add_test(tc, assign_regions_preference);
	tcase_add_test(tc, assign_warns_majority_elsewhere);
	tcase_add_test(tc, assign_refuses_impossible);
	tcase_add_test(tc, assign_partial_preference_and_racks);
	tcase_add_test(tc, assign_rack_sharing_only_when_needed);
	tcase_add_test(tc, assign_is_deterministic_and_uses_load);
	tcase_add_test(tc, assign_survives_alloc_failures);
	tcase_add_test(tc, move_plan_replaces_dead_broker);
	tcase_add_test(tc, move_plan_fills_joined_broker);
	tcase_add_test(tc, move_plan_rejects_bad_current);
	tcase_add_test(tc, move_plan_survives_alloc_failures);
	suite_add_tcase(s, tc);
	tc = tcase_create("leader");
	tcase_add_test(tc, leader_moves_to_preferred_in_order);
	tcase_add_test(tc, leader_requires_caught_up_reachable_voter);
	tcase_add_test(tc, leader_cool_down);
	tcase_add_test(tc, leader_target_tie_breaks);
	tcase_add_test(tc, leader_edge_cases);
	tcase_add_test(tc, voter_observe_tracks_streaks);
	tcase_add_test(tc, election_timeouts_by_rank);
	tcase_add_test(tc, election_timeouts_by_live_rank);
	tcase_add_test(tc, election_host_decisions);
	suite_add_tcase(s, tc);
	tc = tcase_create("fetch");
	tcase_add_test(tc, fetch_prefers_rack_then_region_then_leader);
	tcase_add_test(tc, fetch_offset_boundaries);
	tcase_add_test(tc, fetch_client_locality_reasons);
	tcase_add_test(tc, fetch_is_sticky_and_spreads);
	tcase_add_test(tc, fetch_rejects_bad_input);
	tcase_add_test(tc, follower_staleness_decisions);
	suite_add_tcase(s, tc);
	return s;
}
