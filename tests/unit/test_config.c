/* Unit tests for server/config: the table's consistency (with placement/'s
 * keys too), value syntax of every type, the properties-file parser
 * (comments, separators, escapes, continuations), error messages naming file,
 * line and key, cross-key checks, listeners and voters, topic checks,
 * resolution and DescribeConfigs rows, help and Markdown output, allocation
 * failure sweeps and random input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/config.h"
#include "server/http.h"
#include "server/kafka_conn.h"
#include "tests/unit/helpers.h"

/* A minimal valid broker configuration. */
static const char *const base_props = "node.id=1\n"
				      "controller.quorum.voters=1@127.0.0.1:9093\n";

static struct sd_config *new_config(void)
{
	struct sd_config *c;
	ck_assert_int_eq(sd_config_new(&c), 0);
	return c;
}

static int load(struct sd_config *c, const char *text)
{
	return sd_config_load_text(c, text, strlen(text), "test.properties");
}

/* Loads base_props + text and finishes; returns the first error. */
static int load_full(struct sd_config *c, const char *text)
{
	int rv = load(c, base_props);
	ck_assert_int_eq(rv, 0);
	rv = sd_config_load_text(c, text, strlen(text), "extra.properties");
	return rv != 0 ? rv : sd_config_finish(c);
}

static void assert_errmsg_has(const struct sd_config *c, const char *needle)
{
	ck_assert_msg(strstr(sd_config_errmsg(c), needle) != NULL, "errmsg '%s' lacks '%s'",
		      sd_config_errmsg(c), needle);
}

/* ---- the table ------------------------------------------------------------ */

START_TEST(table_is_consistent)
{
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	int topics = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sd_config_key *k = &keys[i];
		ck_assert_msg(k->description != NULL && k->description[0] != '\0', "%s", k->name);
		ck_assert_msg(k->description[strlen(k->description) - 1] == '.', "%s: sentence",
			      k->name);
		ck_assert_ptr_nonnull(k->unit);
		for (size_t j = 0; j < i; j++) {
			ck_assert_msg(keys[j].scope != k->scope ||
					  strcmp(keys[j].name, k->name) != 0,
				      "%s twice", k->name);
		}
		if (i > 0 && k->scope == SD_CONFIG_BROKER) {
			ck_assert_msg(keys[i - 1].scope == SD_CONFIG_BROKER, "broker keys first");
		}
		char canon[SD_CONFIG_VALUE_BYTES_MAX + 1], err[SD_CONFIG_ERRMSG_BYTES];
		union sd_config_value v;
		if (k->scope == SD_CONFIG_TOPIC) {
			topics++;
			ck_assert_ptr_null(k->default_value);
			const struct sd_config_key *b =
			    sd_config_key_find(SD_CONFIG_BROKER, k->synonym);
			ck_assert_msg(b != NULL, "%s: synonym %s", k->name, k->synonym);
			ck_assert_int_eq(b->type, k->type);
			ck_assert_msg(b->min == k->min && b->max == k->max, "%s bounds", k->name);
			ck_assert(b->choices == k->choices && b->check == k->check);
			ck_assert_msg(sd_config_value_parse(k, b->default_value, canon,
							    sizeof(canon), &v, err,
							    sizeof(err)) == 0,
				      "%s", err);
		} else if (k->flags & SD_CONFIG_F_REQUIRED) {
			ck_assert_ptr_null(k->default_value);
		} else {
			ck_assert_msg(k->default_value != NULL, "%s: default", k->name);
			ck_assert_msg(sd_config_value_parse(k, k->default_value, canon,
							    sizeof(canon), &v, err,
							    sizeof(err)) == 0,
				      "%s", err);
			ck_assert_str_eq(canon, k->default_value); /* defaults are canonical */
		}
	}
	ck_assert_int_le(topics, SD_TOPIC_KEYS_MAX);
	ck_assert_int_ge(topics, 9);
}
END_TEST

START_TEST(placement_keys_match_placement)
{
	size_t n_pl, n;
	const struct pl_config_key *pk = pl_config_keys(&n_pl);
	const struct sd_config_key *keys = sd_config_keys(&n);
	size_t flagged = 0;
	for (size_t i = 0; i < n; i++) {
		flagged += (keys[i].flags & SD_CONFIG_F_PLACEMENT) != 0;
	}
	ck_assert_uint_eq(flagged, n_pl);
	for (size_t i = 0; i < n_pl; i++) {
		const struct sd_config_key *k = sd_config_key_find(SD_CONFIG_BROKER, pk[i].name);
		ck_assert_msg(k != NULL, "%s missing", pk[i].name);
		ck_assert(k->flags & SD_CONFIG_F_PLACEMENT);
		ck_assert(k->min == pk[i].min && k->max == pk[i].max);
		ck_assert_int_eq(atoll(k->default_value), pk[i].default_value);
		ck_assert_str_eq(k->unit, pk[i].unit);
		ck_assert_str_eq(k->description, pk[i].description);
	}
	/* And the values reach placement. */
	struct sd_config *c = new_config();
	ck_assert_int_eq(sd_config_set(c, "leaders.transfer.cool.down.ms", "1m", NULL), 0);
	struct pl_config pc, def;
	sd_config_placement(c, &pc);
	pl_config_init(&def);
	ck_assert_int_eq(pc.transfer_cool_down_ms, 60000);
	ck_assert_int_eq(pc.transfer_lag_max_entries, def.transfer_lag_max_entries);
	sd_config_free(c);
}
END_TEST

START_TEST(defaults_and_getters)
{
	struct sd_config *c = new_config();
	ck_assert_str_eq(sd_config_str(c, "listeners"), "PLAINTEXT://127.0.0.1:9092");
	ck_assert_int_eq(sd_config_int(c, "log.retention.ms"), 604800000);
	ck_assert_int_eq(sd_config_int(c, "log.segment.bytes"), 1073741824);
	ck_assert(sd_config_bool(c, "log.flush.fsync.enable"));
	ck_assert_str_eq(sd_config_str(c, "compression.type"), "producer");
	ck_assert_str_eq(sd_config_str(c, "node.id"), "");
	ck_assert_int_eq(sd_config_source_of(c, "node.id"), SD_CONFIG_SOURCE_DEFAULT);
	ck_assert_str_eq(sd_config_origin(c, "log.dirs"), "default");
	const char *const *items;
	ck_assert_int_eq(sd_config_list(c, "log.dirs", &items), 1);
	ck_assert_str_eq(items[0], "/tmp/stretchlog-logs");
	ck_assert_int_eq(sd_config_list(c, "advertised.listeners", &items), 0);
	struct sd_endpoint ep;
	sd_config_endpoint(c, "rpc.listener", &ep);
	ck_assert_str_eq(ep.host, "0.0.0.0");
	ck_assert_uint_eq(ep.port, 9093);
	ck_assert(ep.wildcard);
	sd_config_endpoint(c, "admin.listener", &ep);
	ck_assert_uint_eq(ep.port, 9644);
	ck_assert_int_eq(sd_config_finish(c), SD_CONFIG_EREQUIRED);
	assert_errmsg_has(c, "node.id");
	ck_assert_int_eq(load(c, base_props), 0);
	ck_assert_int_eq(sd_config_finish(c), 0);
	ck_assert_int_eq(sd_config_int(c, "node.id"), 1);
	struct sd_voter vs[SD_VOTERS_MAX];
	ck_assert_int_eq(sd_config_voters(c, vs), 1);
	ck_assert_int_eq(vs[0].id, 1);
	struct sd_listener ls[SD_LISTENERS_MAX];
	ck_assert_int_eq(sd_config_advertised_listeners(c, ls), 1);
	ck_assert_str_eq(ls[0].name, "PLAINTEXT");
	ck_assert_str_eq(ls[0].ep.host, "127.0.0.1");
	ck_assert_uint_eq(ls[0].ep.port, 9092);
	sd_config_free(c);
}
END_TEST

/* ---- value syntax ------------------------------------------------------------ */

static const char *const test_choices[] = {"alpha", "beta", NULL};

static const struct sd_config_key k_bool = {.name = "t.bool", .type = SD_CONFIG_BOOL, .unit = ""};
static const struct sd_config_key k_int = {
    .name = "t.int", .type = SD_CONFIG_INT, .min = -5, .max = 1000, .unit = ""};
static const struct sd_config_key k_big = {
    .name = "t.big", .type = SD_CONFIG_INT, .min = INT64_MIN, .max = INT64_MAX, .unit = ""};
static const struct sd_config_key k_dbl = {
    .name = "t.dbl", .type = SD_CONFIG_DOUBLE, .dmin = 0, .dmax = 1, .unit = ""};
static const struct sd_config_key k_dur = {
    .name = "t.dur", .type = SD_CONFIG_DURATION, .min = -1, .max = INT64_MAX, .unit = "ms"};
static const struct sd_config_key k_bytes = {
    .name = "t.bytes", .type = SD_CONFIG_BYTES, .min = -1, .max = INT64_MAX, .unit = "bytes"};
static const struct sd_config_key k_enum = {
    .name = "t.enum", .type = SD_CONFIG_ENUM, .choices = test_choices, .unit = ""};
static const struct sd_config_key k_list = {
    .name = "t.list", .type = SD_CONFIG_LIST, .min = 0, .max = 3, .unit = ""};
static const struct sd_config_key k_str = {
    .name = "t.str", .type = SD_CONFIG_STRING, .min = 2, .max = 4, .unit = ""};

struct value_case {
	const struct sd_config_key *key;
	const char *text;
	int rv;
	const char *canon; /* on success */
	int64_t i;	   /* on success, integer types */
};

static const struct value_case value_cases[] = {
    {&k_bool, "true", 0, "true", 0},
    {&k_bool, " FALSE ", 0, "false", 0},
    {&k_bool, "yes", SD_CONFIG_EVALUE, NULL, 0},
    {&k_bool, "", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "42", 0, "42", 42},
    {&k_int, "\t+7 ", 0, "7", 7},
    {&k_int, "-5", 0, "-5", -5},
    {&k_int, "-6", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "1001", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "4 2", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "0x10", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "", SD_CONFIG_EVALUE, NULL, 0},
    {&k_int, "-", SD_CONFIG_EVALUE, NULL, 0},
    {&k_big, "9223372036854775807", 0, "9223372036854775807", INT64_MAX},
    {&k_big, "-9223372036854775808", 0, "-9223372036854775808", INT64_MIN},
    {&k_big, "9223372036854775808", SD_CONFIG_EVALUE, NULL, 0},
    {&k_big, "99999999999999999999999", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dbl, "0.25", 0, "0.25", 0},
    {&k_dbl, "1e-3", 0, "1e-3", 0},
    {&k_dbl, "1.5", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dbl, "nan", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dbl, "0x1p-2", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dur, "250", 0, "250", 250},
    {&k_dur, "250ms", 0, "250", 250},
    {&k_dur, "30s", 0, "30000", 30000},
    {&k_dur, "30 S", 0, "30000", 30000},
    {&k_dur, "2m", 0, "120000", 120000},
    {&k_dur, "2min", 0, "120000", 120000},
    {&k_dur, "1h", 0, "3600000", 3600000},
    {&k_dur, "7d", 0, "604800000", 604800000},
    {&k_dur, "-1", 0, "-1", -1},
    {&k_dur, "-1s", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dur, "-2", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dur, "5w", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dur, "s", SD_CONFIG_EVALUE, NULL, 0},
    {&k_dur, "999999999999999999d", SD_CONFIG_EVALUE, NULL, 0},
    {&k_bytes, "64k", 0, "65536", 65536},
    {&k_bytes, "64KiB", 0, "65536", 65536},
    {&k_bytes, "2 MB", 0, "2097152", 2097152},
    {&k_bytes, "1g", 0, "1073741824", 1073741824},
    {&k_bytes, "1t", 0, "1099511627776", 1099511627776LL},
    {&k_bytes, "-1", 0, "-1", -1},
    {&k_bytes, "8388607t", 0, "9223370937343148032", 9223370937343148032LL},
    {&k_bytes, "8388608t", SD_CONFIG_EVALUE, NULL, 0},
    {&k_bytes, "1.5g", SD_CONFIG_EVALUE, NULL, 0},
    {&k_bytes, "1 x", SD_CONFIG_EVALUE, NULL, 0},
    {&k_enum, "alpha", 0, "alpha", 0},
    {&k_enum, "BETA", 0, "beta", 0},
    {&k_enum, "gamma", SD_CONFIG_EVALUE, NULL, 0},
    {&k_list, "", 0, "", 0},
    {&k_list, " a , b ,c ", 0, "a,b,c", 0},
    {&k_list, "a b", 0, "a b", 0},
    {&k_list, "a,,b", SD_CONFIG_EVALUE, NULL, 0},
    {&k_list, "a,", SD_CONFIG_EVALUE, NULL, 0},
    {&k_list, "a,b,c,d", SD_CONFIG_EVALUE, NULL, 0},
    {&k_str, "ab", 0, "ab", 0},
    {&k_str, "abcde", SD_CONFIG_EVALUE, NULL, 0},
    {&k_str, "a", SD_CONFIG_EVALUE, NULL, 0},
};

START_TEST(value_syntax)
{
	const struct value_case *vc = &value_cases[_i];
	char canon[SD_CONFIG_VALUE_BYTES_MAX + 1], err[SD_CONFIG_ERRMSG_BYTES] = "";
	union sd_config_value v;
	int rv =
	    sd_config_value_parse(vc->key, vc->text, canon, sizeof(canon), &v, err, sizeof(err));
	ck_assert_msg(rv == vc->rv, "%s='%s': rv %d, want %d (%s)", vc->key->name, vc->text, rv,
		      vc->rv, err);
	if (rv != 0) {
		ck_assert_msg(strncmp(err, vc->key->name, strlen(vc->key->name)) == 0,
			      "message names the key: %s", err);
		return;
	}
	ck_assert_str_eq(canon, vc->canon);
	if (vc->key->type == SD_CONFIG_INT || vc->key->type == SD_CONFIG_DURATION ||
	    vc->key->type == SD_CONFIG_BYTES) {
		ck_assert_int_eq(v.i, vc->i);
	}
	if (vc->key == &k_bool) {
		ck_assert_int_eq(v.b, strcmp(canon, "true") == 0);
	}
}
END_TEST

START_TEST(value_too_long)
{
	char *big = malloc(SD_CONFIG_VALUE_BYTES_MAX + 2);
	memset(big, 'a', SD_CONFIG_VALUE_BYTES_MAX + 1);
	big[SD_CONFIG_VALUE_BYTES_MAX + 1] = '\0';
	char canon[SD_CONFIG_VALUE_BYTES_MAX + 1], err[SD_CONFIG_ERRMSG_BYTES];
	union sd_config_value v;
	ck_assert_int_eq(
	    sd_config_value_parse(&k_list, big, canon, sizeof(canon), &v, err, sizeof(err)),
	    SD_CONFIG_ETOOBIG);
	/* A canonical form longer than the caller's buffer. */
	char small[4];
	ck_assert_int_eq(
	    sd_config_value_parse(&k_dur, "1d", small, sizeof(small), &v, err, sizeof(err)),
	    SD_CONFIG_ETOOBIG);
	free(big);
}
END_TEST

/* ---- addresses ------------------------------------------------------------------ */

START_TEST(endpoints)
{
	struct sd_endpoint ep;
	char err[SD_CONFIG_ERRMSG_BYTES];
	ck_assert_int_eq(sd_config_parse_endpoint("host-1.example:80", false, &ep, err, 256), 0);
	ck_assert_str_eq(ep.host, "host-1.example");
	ck_assert_uint_eq(ep.port, 80);
	ck_assert(!ep.wildcard);
	ck_assert_int_eq(sd_config_parse_endpoint("[::1]:9092", true, &ep, err, 256), 0);
	ck_assert_str_eq(ep.host, "::1");
	ck_assert_int_eq(sd_config_parse_endpoint("[::]:9092", false, &ep, err, 256), 0);
	ck_assert(ep.wildcard);
	ck_assert_int_eq(sd_config_parse_endpoint(":0", false, &ep, err, 256), 0);
	ck_assert(ep.wildcard && ep.port == 0);
	static const char *const bad[] = {
	    "",		"host",	     "host:", "host:65536", "host:-1", "host:+1",     "host:1x",
	    "::1:9092", "[::1]9092", "[]:1",  "[zz]:1",	    "ho st:1", "host:123456", "[::1:1",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		ck_assert_msg(sd_config_parse_endpoint(bad[i], false, &ep, err, 256) ==
				  SD_CONFIG_EVALUE,
			      "'%s' accepted", bad[i]);
	}
	ck_assert_int_eq(sd_config_parse_endpoint(":9092", true, &ep, err, 256), SD_CONFIG_EVALUE);
	ck_assert_int_eq(sd_config_parse_endpoint("0.0.0.0:9092", true, &ep, err, 256),
			 SD_CONFIG_EVALUE);
	ck_assert_int_eq(sd_config_parse_endpoint("h:0", true, &ep, err, 256), SD_CONFIG_EVALUE);
	char longhost[600];
	memset(longhost, 'a', 300);
	snprintf(longhost + 300, 300, ":1");
	ck_assert_int_eq(sd_config_parse_endpoint(longhost, false, &ep, err, 256),
			 SD_CONFIG_EVALUE);
}
END_TEST

START_TEST(listeners_and_voters)
{
	struct sd_listener ls[SD_LISTENERS_MAX];
	char err[SD_CONFIG_ERRMSG_BYTES];
	int n = sd_config_parse_listeners("PLAINTEXT://127.0.0.1:9092, internal://[::1]:9095",
					  false, ls, SD_LISTENERS_MAX, err, sizeof(err));
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(ls[1].name, "INTERNAL");
	ck_assert_str_eq(ls[1].ep.host, "::1");
	ck_assert_uint_eq(ls[1].ep.port, 9095);
	ck_assert_int_eq(sd_config_parse_listeners("  ", false, ls, 8, err, sizeof(err)), 0);
	static const char *const bad[] = {
	    "PLAINTEXT://h",
	    "PLAINTEXT:/h:1",
	    "//h:1",
	    "SSL://h:1",
	    "SASL_PLAINTEXT://h:1",
	    "A://h:1,A://h:2",
	    "A://h:1,,B://h:2",
	    "1A://h:1",
	    "A-B://h:1",
	    "A://h:1,B://h:1,C://h:1,D://h:1,E://h:1,F://h:1,G://h:1,H://h:1,I://h:1",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		ck_assert_msg(sd_config_parse_listeners(bad[i], false, ls, SD_LISTENERS_MAX, err,
							sizeof(err)) == SD_CONFIG_EVALUE,
			      "'%s' accepted", bad[i]);
	}
	ck_assert_int_eq(sd_config_parse_listeners("SSL://h:1", false, ls, 8, err, sizeof(err)),
			 SD_CONFIG_EVALUE);
	ck_assert_ptr_nonnull(strstr(err, "only PLAINTEXT"));
	ck_assert_int_eq(sd_config_parse_listeners("A://:1", true, ls, 8, err, sizeof(err)),
			 SD_CONFIG_EVALUE);

	struct sd_voter vs[SD_VOTERS_MAX];
	n = sd_config_parse_voters("1@a:9093, 2@b.example:9093,3@[::1]:9093", vs, SD_VOTERS_MAX,
				   err, sizeof(err));
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(vs[2].id, 3);
	ck_assert_str_eq(vs[1].ep.host, "b.example");
	static const char *const bad_voters[] = {
	    "1@a:1,1@b:1",
	    "x@a:1",
	    "1a:1",
	    "@a:1",
	    "-1@a:1",
	    "1@:1",
	    "1@a:0",
	    "2147483648@a:1",
	    "1@a:1,2@a:1,3@a:1,4@a:1,5@a:1,6@a:1,7@a:1,8@a:1,9@a:1,10@a:1",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_voters); i++) {
		ck_assert_msg(sd_config_parse_voters(bad_voters[i], vs, SD_VOTERS_MAX, err,
						     sizeof(err)) == SD_CONFIG_EVALUE,
			      "'%s' accepted", bad_voters[i]);
	}
}
END_TEST

/* ---- properties files ----------------------------------------------------------- */

START_TEST(properties_syntax)
{
	struct sd_config *c = new_config();
	const char *text = "# a comment\n"
			   "   ! another comment \\\n"
			   "\n"
			   "node.id = 7\r\n"
			   "broker.region: us-east\n"
			   "broker.rack    us-east-1a   \n"
			   "cluster.id=my\\\n"
			   "      cluster\n"
			   "log.dirs = /data/a, \\\n"
			   "           /data/b\n"
			   "controller.quorum.voters=7@h:9093\n"
			   "log.flush.fsync.enable=\\u0066alse\n"
			   "logging.level\t=\tWARN\n"
			   "advertised.listeners=\n"
			   "leaders.preference=regions:\\u0065u,us-east\n"
			   "num.partitions=\\3\n"
			   "log.retention.ms=1d\\\n";
	int rv = load(c, text);
	ck_assert_msg(rv == 0, "%s", sd_config_errmsg(c));
	ck_assert_int_eq(sd_config_int(c, "node.id"), 7);
	ck_assert_str_eq(sd_config_str(c, "broker.region"), "us-east");
	ck_assert_str_eq(sd_config_str(c, "broker.rack"), "us-east-1a");
	ck_assert_str_eq(sd_config_str(c, "cluster.id"), "mycluster");
	const char *const *items;
	ck_assert_int_eq(sd_config_list(c, "log.dirs", &items), 2);
	ck_assert_str_eq(items[0], "/data/a");
	ck_assert_str_eq(items[1], "/data/b");
	ck_assert(!sd_config_bool(c, "log.flush.fsync.enable"));
	ck_assert_str_eq(sd_config_str(c, "logging.level"), "warn");
	ck_assert_str_eq(sd_config_str(c, "leaders.preference"), "regions:eu,us-east");
	ck_assert_int_eq(sd_config_int(c, "num.partitions"), 3);
	ck_assert_int_eq(sd_config_int(c, "log.retention.ms"), 86400000);
	ck_assert_int_eq(sd_config_source_of(c, "node.id"), SD_CONFIG_SOURCE_FILE);
	ck_assert_str_eq(sd_config_origin(c, "node.id"), "test.properties:4");
	ck_assert_str_eq(sd_config_origin(c, "log.dirs"), "test.properties:9");
	ck_assert_int_eq(sd_config_finish(c), 0);
	sd_config_free(c);
}
END_TEST

START_TEST(properties_escapes)
{
	struct sd_config *c = new_config();
	/* An escaped trailing blank is kept (then trimmed by value parsing for
	 * non-string types); \t, \\ and a surrogate pair decode. */
	ck_assert_int_eq(load(c, "log.dirs=/a\\\\b,/\\uD83D\\uDE00,/c\\ d \\ \n"), 0);
	const char *const *items;
	ck_assert_int_eq(sd_config_list(c, "log.dirs", &items), 3);
	ck_assert_str_eq(items[0], "/a\\b");
	ck_assert_str_eq(items[1], "/\xF0\x9F\x98\x80");
	ck_assert_str_eq(items[2], "/c d"); /* list items are trimmed */
	/* \t inside a path is a control character: refused by the path check. */
	ck_assert_int_eq(load(c, "log.dirs=/c\\td\n"), SD_CONFIG_EVALUE);
	static const char *const bad[] = {
	    "cluster.id=\\u00\n",   "cluster.id=\\uZZZZ\n",  "cluster.id=\\u0000\n",
	    "cluster.id=\\uD800\n", "cluster.id=\\uDC00x\n", "cluster.id=\\uD800\\u0041\n",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		struct sd_config *d = new_config();
		ck_assert_msg(load(d, bad[i]) == SD_CONFIG_ESYNTAX, "'%s' accepted", bad[i]);
		assert_errmsg_has(d, "test.properties:1:");
		sd_config_free(d);
	}
	sd_config_free(c);
}
END_TEST

struct error_case {
	const char *text;
	int rv;
	const char *needle;
};

static const struct error_case error_cases[] = {
    {"node.id=1\nfoo.bar=1\n", SD_CONFIG_EUNKNOWN, "test.properties:2: unknown key 'foo.bar'"},
    {"retention.ms=5\n", SD_CONFIG_EUNKNOWN,
     "its cluster default is the broker key log.retention.ms"},
    {"\n\nlog.segment.bytes=1x\n", SD_CONFIG_EVALUE,
     "test.properties:3: log.segment.bytes: '1x' is not a byte size"},
    {"log.segment.bytes=100\n", SD_CONFIG_EVALUE, "100 is outside [4096, 2147483647] bytes"},
    {"node.id=-1\n", SD_CONFIG_EVALUE, "node.id: -1 is outside"},
    {"node.id=1\nnode.id=2\n", SD_CONFIG_EDUP,
     "test.properties:2: node.id: set twice in this file (first at test.properties:1)"},
    {"compression.type=gzip\n", SD_CONFIG_EVALUE, "Kafka codec 'gzip' is not supported"},
    {"log.cleanup.policy=compact\n", SD_CONFIG_EVALUE, "compaction is not supported"},
    {"listeners=SSL://h:1\n", SD_CONFIG_EVALUE, "only PLAINTEXT"},
    {"leaders.preference=zones:a\n", SD_CONFIG_EVALUE, "leaders.preference:"},
    {"broker.rack=a b\n", SD_CONFIG_EVALUE, "broker.rack: 'a b' is not a name"},
    {"=value\n", SD_CONFIG_ESYNTAX, "test.properties:1: a line with a value but no key"},
    {"cluster.id=a\0b\n", SD_CONFIG_ESYNTAX, "NUL byte"},
    {"controller.quorum.voters=1@h:1,1@h:2\n", SD_CONFIG_EVALUE, "voter id 1 repeated"},
    {"logging.level=loud\n", SD_CONFIG_EVALUE, "'loud' is not one of debug, info, warn, error"},
};

START_TEST(properties_errors)
{
	const struct error_case *ec = &error_cases[_i];
	struct sd_config *c = new_config();
	size_t len = strlen(ec->text);
	if (strstr(ec->needle, "NUL") != NULL) {
		len = 15; /* "cluster.id=a\0b\n" */
	}
	int rv = sd_config_load_text(c, ec->text, len, "test.properties");
	ck_assert_msg(rv == ec->rv, "rv %s (%s)", sd_config_err_name(rv), sd_config_errmsg(c));
	assert_errmsg_has(c, ec->needle);
	sd_config_free(c);
}
END_TEST

START_TEST(properties_limits)
{
	struct sd_config *c = new_config();
	size_t big = SD_CONFIG_FILE_BYTES_MAX + 1;
	char *text = malloc(big);
	memset(text, '#', big);
	ck_assert_int_eq(sd_config_load_text(c, text, big, "big"), SD_CONFIG_ETOOBIG);
	/* A logical line over the line limit (continuations). */
	size_t n = 0;
	n += (size_t)sprintf(text, "cluster.id=");
	while (n < SD_CONFIG_LINE_BYTES_MAX + 100) {
		memcpy(text + n, "aaaaaaa\\\n", 9);
		n += 9;
	}
	ck_assert_int_eq(sd_config_load_text(c, text, n, "long"), SD_CONFIG_ETOOBIG);
	assert_errmsg_has(c, "long:");
	/* A value over the value limit. */
	n = (size_t)sprintf(text, "cluster.id=");
	memset(text + n, 'a', SD_CONFIG_VALUE_BYTES_MAX + 10);
	n += SD_CONFIG_VALUE_BYTES_MAX + 10;
	ck_assert_int_eq(sd_config_load_text(c, text, n, "value"), SD_CONFIG_ETOOBIG);
	/* A key over the key limit. */
	memset(text, 'k', 300);
	ck_assert_int_eq(sd_config_load_text(c, text, 300, "key"), SD_CONFIG_ETOOBIG);
	free(text);
	sd_config_free(c);
}
END_TEST

START_TEST(properties_file_and_overrides)
{
	char dir[256], path[320];
	th_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/broker.properties", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("node.id=3\ncontroller.quorum.voters=3@h:9093\nlog.segment.bytes=64m\n", f);
	fclose(f);
	struct sd_config *c = new_config();
	ck_assert_int_eq(sd_config_load_file(c, path), 0);
	ck_assert_int_eq(sd_config_set_arg(c, "log.segment.bytes=128m"), 0);
	ck_assert_int_eq(sd_config_int(c, "log.segment.bytes"), 128 << 20);
	ck_assert_int_eq(sd_config_source_of(c, "log.segment.bytes"), SD_CONFIG_SOURCE_OVERRIDE);
	ck_assert_str_eq(sd_config_origin(c, "log.segment.bytes"), "--set");
	ck_assert_int_eq(sd_config_set_arg(c, "node.id"), SD_CONFIG_ESYNTAX);
	ck_assert_int_eq(sd_config_set_arg(c, "=3"), SD_CONFIG_ESYNTAX);
	ck_assert_int_eq(sd_config_set_arg(c, "nope=3"), SD_CONFIG_EUNKNOWN);
	assert_errmsg_has(c, "--set: unknown key 'nope'");
	ck_assert_int_eq(sd_config_set_arg(c, "num.partitions=0"), SD_CONFIG_EVALUE);
	assert_errmsg_has(c, "--set: num.partitions: 0 is outside");
	ck_assert_int_eq(sd_config_set_arg(c, "cluster.id=a=b"), SD_CONFIG_EVALUE);
	ck_assert_int_eq(sd_config_int(c, "log.segment.bytes"), 128 << 20); /* unchanged */
	ck_assert_int_eq(sd_config_finish(c), 0);
	/* The same file loaded again is a new load: no duplicate error. */
	ck_assert_int_eq(sd_config_load_file(c, path), 0);
	snprintf(path, sizeof(path), "%s/missing.properties", dir);
	ck_assert_int_eq(sd_config_load_file(c, path), SD_CONFIG_EIO);
	assert_errmsg_has(c, "missing.properties: cannot open");
	sd_config_free(c);
	th_rmtree(dir);
}
END_TEST

/* ---- cross-key checks ------------------------------------------------------------ */

static const struct error_case finish_cases[] = {
    {"raft.heartbeat.interval.ms=1s\n", SD_CONFIG_ECONFLICT, "must be below raft.election"},
    {"message.max.bytes=200m\n", SD_CONFIG_ECONFLICT, "exceeds socket.request.max.bytes"},
    /* 16 MiB frames hold 16777216 - 72 bytes of batch; 16 - 72 of AppendEntries
     * data with 32 entries in flight (72 = 16 frame + 40 message + 16 entry). */
    {"message.max.bytes=16777145\n", SD_CONFIG_ECONFLICT,
     "message.max.bytes (16777145) plus 72 bytes"},
    {"message.max.bytes=16777144\n", 0, ""},
    {"raft.append.max.bytes=16m\n", SD_CONFIG_ECONFLICT,
     "raft.append.max.bytes (16777216) plus 568 bytes of encoding for up to "
     "raft.max.inflight.entries (32)"},
    {"raft.append.max.bytes=16776648\n", 0, ""},
    {"raft.append.max.bytes=16776648\nraft.max.inflight.entries=33\n", SD_CONFIG_ECONFLICT,
     "does not fit in an inter-broker frame (16777216 bytes)"},
    {"raft.append.max.bytes=0\n", SD_CONFIG_EVALUE, "raft.append.max.bytes"},
    {"raft.coalesce.max.bytes=17m\n", SD_CONFIG_EVALUE, "raft.coalesce.max.bytes"},
    {"raft.coalesce.max.bytes=0\n", 0, ""},
    {"transport.idle.timeout.ms=299\n", SD_CONFIG_ECONFLICT,
     "transport.idle.timeout.ms (299) must be 0 (off) or at least 3 x "
     "raft.heartbeat.interval.ms (100)"},
    {"transport.idle.timeout.ms=300\n", 0, ""},
    {"transport.idle.timeout.ms=0\n", 0, ""},
    {"transport.idle.timeout.ms=39\nraft.heartbeat.interval.ms=10\n", SD_CONFIG_ECONFLICT,
     "and at least 40"},
    {"advertised.listeners=OTHER://h:1\n", SD_CONFIG_ECONFLICT, "listener OTHER is not in"},
    {"listeners=PLAINTEXT://:9092\n", SD_CONFIG_ECONFLICT, "advertised.listeners must say"},
    {"listeners=PLAINTEXT://127.0.0.1:9093\n", SD_CONFIG_ECONFLICT,
     "listeners PLAINTEXT and rpc.listener both use port 9093"},
    {"admin.listener=127.0.0.1:9093\n", SD_CONFIG_ECONFLICT,
     "rpc.listener and admin.listener both use port 9093"},
    {"node.id=5\nnode.id=6\n", SD_CONFIG_EDUP, "set twice"},
    {"node.id=5\n", SD_CONFIG_ECONFLICT, "node.id 5 is not in controller.quorum.voters"},
    {"", 0, ""},
    {"listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://broker1:9092\n", 0, ""},
    {"listeners=PLAINTEXT://127.0.0.1:0,B://127.0.0.1:0\nrpc.listener=127.0.0.1:0\n"
     "admin.listener=127.0.0.1:0\nadvertised.listeners=B://h:5\n",
     0, ""},
    {"admin.listener=127.0.0.1:9644\nrpc.listener=10.0.0.1:9644\n", 0, ""},
};

START_TEST(finish_checks)
{
	const struct error_case *fc = &finish_cases[_i];
	struct sd_config *c = new_config();
	int rv = load_full(c, fc->text);
	ck_assert_msg(rv == fc->rv, "rv %s (%s)", sd_config_err_name(rv), sd_config_errmsg(c));
	assert_errmsg_has(c, fc->needle);
	sd_config_free(c);
}
END_TEST

/* The listener getters hand over every key they own, defaults included. */
START_TEST(listener_settings)
{
	struct sd_config *c = new_config();
	struct sk_config kc;
	struct sd_http_config hc;
	sd_config_kafka(c, &kc);
	ck_assert_uint_eq(kc.idle_timeout_ms, 600000);
	ck_assert_uint_eq(kc.request_topics_max, 10000);
	ck_assert_uint_eq(kc.request_partitions_max, 100000);
	ck_assert_uint_eq(kc.connections_max, 10000);
	ck_assert_uint_eq(kc.inflight_requests_max, 16);
	ck_assert_uint_eq(kc.request_bytes_max, 104857600);
	ck_assert_int_eq(load_full(c, "connections.max.idle.ms=90s\n"
				      "request.topics.max=7\n"
				      "request.partitions.max=70\n"
				      "max.connections=5\n"
				      "max.inflight.requests.per.connection=3\n"
				      "socket.request.max.bytes=2m\n"
				      "admin.connections.max=9\n"
				      "admin.request.timeout.ms=1500\n"),
			 0);
	sd_config_kafka(c, &kc);
	ck_assert_uint_eq(kc.idle_timeout_ms, 90000);
	ck_assert_uint_eq(kc.request_topics_max, 7);
	ck_assert_uint_eq(kc.request_partitions_max, 70);
	ck_assert_uint_eq(kc.connections_max, 5);
	ck_assert_uint_eq(kc.inflight_requests_max, 3);
	ck_assert_uint_eq(kc.request_bytes_max, 2u << 20);
	sd_config_http(c, &hc);
	ck_assert_int_eq(hc.connections_max, 9);
	ck_assert_uint_eq(hc.request_timeout_ms, 1500);
	struct sd_http_config def;
	sd_http_config_init(&def);
	ck_assert_uint_eq(hc.header_bytes_max, def.header_bytes_max);
	ck_assert_uint_eq(hc.idle_timeout_ms, def.idle_timeout_ms);
	sd_config_free(c);
}
END_TEST

START_TEST(finish_rpc_reachable)
{
	struct sd_config *c = new_config();
	ck_assert_int_eq(load(c, "node.id=4\ncontroller.quorum.voters=1@h:9093\n"), 0);
	ck_assert_int_eq(sd_config_finish(c), SD_CONFIG_ECONFLICT);
	assert_errmsg_has(c, "advertised.rpc.listener");
	ck_assert_int_eq(sd_config_set(c, "advertised.rpc.listener", "b4:9093", NULL), 0);
	ck_assert_int_eq(sd_config_finish(c), 0);
	ck_assert_int_eq(sd_config_set(c, "advertised.rpc.listener", ":9093", NULL),
			 SD_CONFIG_EVALUE);
	sd_config_free(c);
}
END_TEST

/* ---- topics ------------------------------------------------------------------------ */

START_TEST(topic_checks)
{
	char msg[256];
	ck_assert_int_eq(sd_topic_config_check("retention.ms", "1h", msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(sd_topic_config_check("retention.ms", NULL, msg, sizeof(msg)), 0);
	ck_assert_int_eq(sd_topic_config_check("leaders.preference", "racks:a, b", msg, 256), 0);
	ck_assert_int_eq(sd_topic_config_check("compression.type", "LZ4", msg, 256), 0);
	struct {
		const char *name, *value, *needle;
	} bad[] = {
	    {"foo", "1", "unknown topic config 'foo'"},
	    {"log.retention.ms", "1", "it is a broker key; the topic config is retention.ms"},
	    {NULL, "1", "unknown topic config"},
	    {"retention.ms", "abc", "retention.ms: 'abc' is not a duration"},
	    {"retention.ms", "-2", "retention.ms: -2 is outside"},
	    {"cleanup.policy", "compact", "compaction is not supported"},
	    {"cleanup.policy", "compact,delete", "compaction is not supported"},
	    {"compression.type", "zstd", "Kafka codec 'zstd' is not supported"},
	    {"compression.type", "brotli", "is not one of producer, none, lz4"},
	    {"leaders.preference", "regions:", "leaders.preference:"},
	    {"min.insync.replicas", "0", "min.insync.replicas: 0 is outside [1, 15]"},
	    {"segment.bytes", "1", "segment.bytes: 1 is outside"},
	    {"max.message.bytes", "2g", "max.message.bytes: 2147483648 is outside"},
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		ck_assert_int_eq(sd_topic_config_check(bad[i].name, bad[i].value, msg, sizeof(msg)),
				 SD_KAFKA_INVALID_CONFIG);
		ck_assert_msg(strstr(msg, bad[i].needle) != NULL, "'%s' lacks '%s'", msg,
			      bad[i].needle);
	}
	char big[SD_TOPIC_VALUE_BYTES_MAX + 10];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(sd_topic_config_check("leaders.preference", big, msg, sizeof(msg)),
			 SD_KAFKA_INVALID_CONFIG);
	/* NULL msg buffers are fine. */
	ck_assert_int_eq(sd_topic_config_check("foo", "1", NULL, 0), SD_KAFKA_INVALID_CONFIG);

	struct sd_config_kv kv[] = {
	    {"retention.ms", "1"}, {"segment.bytes", "1m"}, {"retention.ms", "2"}};
	ck_assert_int_eq(sd_topic_config_check_all(kv, 2, msg, sizeof(msg)), 0);
	ck_assert_int_eq(sd_topic_config_check_all(kv, 3, msg, sizeof(msg)),
			 SD_KAFKA_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(msg, "retention.ms: set twice"));
	struct sd_config_kv many[SD_TOPIC_CONFIGS_MAX + 1];
	for (int i = 0; i <= SD_TOPIC_CONFIGS_MAX; i++) {
		many[i] = (struct sd_config_kv){"retention.ms", "1"};
	}
	ck_assert_int_eq(sd_topic_config_check_all(many, SD_TOPIC_CONFIGS_MAX + 1, msg, 256),
			 SD_KAFKA_INVALID_CONFIG);
	ck_assert_int_eq(sd_topic_config_check_all(NULL, 0, msg, 256), 0);
	ck_assert_int_eq(sd_topic_config_check_all(NULL, -1, msg, 256), SD_KAFKA_INVALID_CONFIG);
}
END_TEST

START_TEST(topic_resolve)
{
	struct sd_config *c = new_config();
	ck_assert_int_eq(load(c, "log.retention.ms=2h\nleaders.preference=regions:eu\n"
				 "compression.type=lz4\n"),
			 0);
	struct sd_topic_config t;
	char msg[256];
	ck_assert_int_eq(sd_topic_config_resolve(c, NULL, 0, &t, msg, sizeof(msg)), 0);
	ck_assert_int_eq(t.retention_ms, 7200000);
	ck_assert_int_eq(t.retention_bytes, -1);
	ck_assert_int_eq(t.segment_bytes, 1073741824);
	ck_assert_int_eq(t.max_message_bytes, 1048588);
	ck_assert_int_eq(t.follower_read_max_staleness_ms, 10000);
	ck_assert_int_eq(t.min_insync_replicas, 1);
	ck_assert_int_eq(t.compression, SD_COMPRESSION_LZ4);
	ck_assert_int_eq(t.leaders_preference.kind, PL_PREF_REGIONS);
	ck_assert_str_eq(t.leaders_preference.names[0], "eu");
	struct sd_config_kv kv[] = {
	    {"retention.ms", "5s"},
	    {"leaders.preference", "none"},
	    {"compression.type", NULL},
	    {"min.insync.replicas", "2"},
	    {"follower.read.max.staleness.ms", "-1"},
	    {"retention.bytes", "1g"},
	};
	ck_assert_int_eq(sd_topic_config_resolve(c, kv, (int)SL_ARRAY_LEN(kv), &t, msg, 256), 0);
	ck_assert_int_eq(t.retention_ms, 5000);
	ck_assert_int_eq(t.retention_bytes, 1 << 30);
	ck_assert_int_eq(t.leaders_preference.kind, PL_PREF_NONE);
	ck_assert_int_eq(t.compression, SD_COMPRESSION_LZ4); /* NULL: cluster default */
	ck_assert_int_eq(t.min_insync_replicas, 2);
	ck_assert_int_eq(t.follower_read_max_staleness_ms, -1);
	struct sd_config_kv badkv[] = {{"retention.ms", "x"}};
	ck_assert_int_eq(sd_topic_config_resolve(c, badkv, 1, &t, msg, 256),
			 SD_KAFKA_INVALID_CONFIG);
	sd_config_free(c);
}
END_TEST

START_TEST(topic_describe)
{
	struct sd_config *c = new_config();
	ck_assert_int_eq(load(c, "log.retention.bytes=1g\n"), 0);
	struct sd_config_kv kv[] = {{"retention.ms", "1h"}, {"segment.bytes", "not-a-size"}};
	struct sd_config_description rows[SD_TOPIC_KEYS_MAX];
	int n = sd_topic_config_describe(c, kv, 2, rows);
	size_t total;
	const struct sd_config_key *keys = sd_config_keys(&total);
	int topic_keys = 0;
	for (size_t i = 0; i < total; i++) {
		topic_keys += keys[i].scope == SD_CONFIG_TOPIC;
	}
	ck_assert_int_eq(n, topic_keys);
	bool seen_ms = false, seen_bytes = false, seen_seg = false, seen_cleanup = false;
	for (int i = 0; i < n; i++) {
		const struct sd_config_description *d = &rows[i];
		ck_assert(!d->read_only && !d->is_sensitive);
		ck_assert_ptr_nonnull(d->documentation);
		if (strcmp(d->name, "retention.ms") == 0) {
			seen_ms = true;
			ck_assert_str_eq(d->value, "3600000");
			ck_assert_int_eq(d->source, SD_KAFKA_SOURCE_DYNAMIC_TOPIC);
			ck_assert(!d->is_default);
			ck_assert_str_eq(d->synonym, "log.retention.ms");
			ck_assert_str_eq(d->synonym_value, "604800000");
			ck_assert_int_eq(d->synonym_source, SD_KAFKA_SOURCE_DEFAULT);
			ck_assert_int_eq(d->config_type, SD_KAFKA_TYPE_LONG);
		} else if (strcmp(d->name, "retention.bytes") == 0) {
			seen_bytes = true;
			ck_assert_str_eq(d->value, "1073741824");
			ck_assert_int_eq(d->source, SD_KAFKA_SOURCE_STATIC_BROKER);
			ck_assert(!d->is_default);
		} else if (strcmp(d->name, "segment.bytes") == 0) {
			seen_seg = true;
			ck_assert_str_eq(d->value, "not-a-size");
			ck_assert_int_eq(d->config_type, SD_KAFKA_TYPE_INT);
		} else if (strcmp(d->name, "cleanup.policy") == 0) {
			seen_cleanup = true;
			ck_assert_str_eq(d->value, "delete");
			ck_assert_int_eq(d->source, SD_KAFKA_SOURCE_DEFAULT);
			ck_assert(d->is_default);
			ck_assert_int_eq(d->config_type, SD_KAFKA_TYPE_STRING);
		}
	}
	ck_assert(seen_ms && seen_bytes && seen_seg && seen_cleanup);
	sd_config_free(c);
}
END_TEST

/* ---- renderings ---------------------------------------------------------------------- */

START_TEST(help_and_markdown_list_every_key)
{
	char *help = NULL, *md = NULL;
	size_t help_len = 0, md_len = 0;
	FILE *f = open_memstream(&help, &help_len);
	sd_config_help(f);
	fclose(f);
	f = open_memstream(&md, &md_len);
	ck_assert_int_eq(sd_config_write_markdown(f), 0);
	fclose(f);
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\n  %s  (", keys[i].name);
		ck_assert_msg(strstr(help, needle) != NULL, "help lacks %s", keys[i].name);
		snprintf(needle, sizeof(needle), "| `%s` |", keys[i].name);
		ck_assert_msg(strstr(md, needle) != NULL, "markdown lacks %s", keys[i].name);
	}
	ck_assert_ptr_nonnull(
	    strstr(help, "log.segment.bytes  (bytes; default 1073741824 (1 GiB)"));
	ck_assert_ptr_nonnull(strstr(help, "node.id  (int; required; 0 to 2147483647)"));
	ck_assert_ptr_nonnull(
	    strstr(md, "| `retention.ms` | duration | broker's log.retention.ms |"));
	/* Help lines stay within the wrap width unless one word is longer. */
	for (char *line = strtok(help, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, "      ", 6) == 0) {
			ck_assert_msg(strlen(line) <= 78 || strchr(line + 6, ' ') == NULL, "%s",
				      line);
		}
	}
	free(help);
	free(md);
}
END_TEST

START_TEST(dump_round_trips)
{
	struct sd_config *c = new_config();
	ck_assert_int_eq(load(c, "node.id=9\ncluster.id=x\nlog.dirs=/a\\\\b,/c d\n"
				 "controller.quorum.voters=9@h:1\nlog.retention.ms=1h\n"),
			 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	sd_config_dump(c, f);
	fclose(f);
	struct sd_config *d = new_config();
	ck_assert_msg(sd_config_load_text(d, text, len, "dump") == 0, "%s", sd_config_errmsg(d));
	size_t n;
	const struct sd_config_key *keys = sd_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].scope == SD_CONFIG_BROKER) {
			ck_assert_str_eq(sd_config_str(c, keys[i].name),
					 sd_config_str(d, keys[i].name));
		}
	}
	free(text);
	sd_config_free(c);
	sd_config_free(d);
}
END_TEST

/* ---- failures and hostile input --------------------------------------------------------- */

START_TEST(alloc_failure_sweep)
{
	const char *text = "node.id=1\ncontroller.quorum.voters=1@h:9093,2@i:9093\n"
			   "log.dirs=/a,/b\ncluster.id=abc\n";
	bool completed = false;
	for (long nth = 1; nth < 1000 && !completed; nth++) {
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		struct sd_config *c = NULL;
		int rv = sd_config_new(&c);
		if (rv == 0) {
			rv = load(c, text);
			if (rv == 0) {
				rv = sd_config_set_arg(c, "log.dirs=/x,/y,/z");
			}
			if (rv == 0) {
				rv = sd_config_finish(c);
				completed = rv == 0;
			}
			if (rv != 0) {
				ck_assert_msg(rv == SD_CONFIG_ENOMEM, "nth %ld: %s", nth,
					      sd_config_err_name(rv));
			}
		} else {
			ck_assert_int_eq(rv, SD_CONFIG_ENOMEM);
			ck_assert_ptr_null(c);
		}
		sd_config_free(c);
		sl_fault_reset();
	}
	ck_assert(completed);
}
END_TEST

START_TEST(random_input_never_crashes)
{
	static const char alphabet[] = "ab.=:# \t\\\n\r!u0D8xlog.dirsnode.id,@[]:9";
	uint64_t s = 0x9E3779B97F4A7C15ULL;
	char text[512];
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 0;
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		size_t len = s % sizeof(text);
		for (; n < len; n++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			text[n] = (s & 7) == 0 ? (char)(s >> 8)
					       : alphabet[(s >> 8) % (sizeof(alphabet) - 1)];
		}
		struct sd_config *c = new_config();
		int rv = sd_config_load_text(c, text, n, "fuzz");
		ck_assert(rv <= 0);
		if (rv != 0) {
			ck_assert_msg(strncmp(sd_config_errmsg(c), "fuzz:", 5) == 0, "%s",
				      sd_config_errmsg(c));
		}
		(void)sd_config_finish(c);
		sd_config_free(c);
	}
}
END_TEST

START_TEST(error_names)
{
	ck_assert_str_eq(sd_config_err_name(SD_CONFIG_EDUP), "SD_CONFIG_EDUP");
	ck_assert_str_eq(sd_config_err_name(0), "0");
	ck_assert_str_eq(sd_config_err_name(-1), "SD_CONFIG_UNKNOWN");
	ck_assert_str_eq(sd_config_strerror(SD_CONFIG_EREQUIRED), "a required key is not set");
	ck_assert_str_eq(sd_config_strerror(12345), "unknown error");
	ck_assert_str_eq(sd_config_type_name(SD_CONFIG_BYTES), "bytes");
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, table_is_consistent);
	tcase_add_test(tc, placement_keys_match_placement);
	tcase_add_test(tc, defaults_and_getters);
	tcase_add_test(tc, error_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("values");
	tcase_add_loop_test(tc, value_syntax, 0, (int)SL_ARRAY_LEN(value_cases));
	tcase_add_test(tc, value_too_long);
	tcase_add_test(tc, endpoints);
	tcase_add_test(tc, listeners_and_voters);
	suite_add_tcase(s, tc);
	tc = tcase_create("properties");
	tcase_add_test(tc, properties_syntax);
	tcase_add_test(tc, properties_escapes);
	tcase_add_loop_test(tc, properties_errors, 0, (int)SL_ARRAY_LEN(error_cases));
	tcase_add_test(tc, properties_limits);
	tcase_add_test(tc, properties_file_and_overrides);
	tcase_add_loop_test(tc, finish_checks, 0, (int)SL_ARRAY_LEN(finish_cases));
	tcase_add_test(tc, finish_rpc_reachable);
	tcase_add_test(tc, listener_settings);
	tcase_add_test(tc, dump_round_trips);
	suite_add_tcase(s, tc);
	tc = tcase_create("topics");
	tcase_add_test(tc, topic_checks);
	tcase_add_test(tc, topic_resolve);
	tcase_add_test(tc, topic_describe);
	suite_add_tcase(s, tc);
	tc = tcase_create("docs");
	tcase_add_test(tc, help_and_markdown_list_every_key);
	suite_add_tcase(s, tc);
	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, alloc_failure_sweep);
	tcase_add_test(tc, random_input_never_crashes);
	suite_add_tcase(s, tc);
	return s;
}
