/* Unit tests for server/ctl_state.h: command codec (round trips, hostile
 * bytes), entry batches, and apply (idempotence, determinism, no-op reasons,
 * group ids). Planning and reconcile are in test_ctl_plan.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"
#include "server/ctl_state.h"
#include "tests/unit/ctl_th.h"

/* ------------------------------------------------------------------------ */
/* Sample commands, one of each type (and a few variants)                    */
/* ------------------------------------------------------------------------ */

#define N_SAMPLES 10

static struct topic_fx sample_topic;
static struct sd_ctl_partition sample_add[2];
static struct sd_ctl_config sample_ops[3];

static void samples(struct sd_ctl_cmd out[N_SAMPLES])
{
	static const int32_t b[3] = {1, 2, 3};
	memset(out, 0, N_SAMPLES * sizeof(*out));
	out[0] = reg_cmd(7, "eu-west", "eu-west-1c", 42);
	out[1].type = SD_CTL_CMD_UNREGISTER_BROKER;
	out[1].u.unregister_broker = (struct sd_ctl_unregister_broker){7, 42};
	out[2] = *topic_cmd(&sample_topic, "orders", 0xab, 5, 3, 11, b, 3);
	out[3] = delete_cmd("orders", 0);
	out[4] = delete_cmd(NULL, 0xab);
	out[5] = delete_cmd("orders", 0xab);
	sample_ops[0] = (struct sd_ctl_config){"retention.ms", "1000"};
	sample_ops[1] = (struct sd_ctl_config){"cleanup.policy", NULL};
	sample_ops[2] = (struct sd_ctl_config){"leaders.preference", "regions:us-east,eu-west"};
	out[6].type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS;
	out[6].u.alter_configs = (struct sd_ctl_alter_configs){{"orders", {0}}, 3, sample_ops};
	for (int i = 0; i < 2; i++) {
		sample_add[i] = (struct sd_ctl_partition){
		    .group_id = 100 + (uint64_t)i, .n_replicas = 3, .replicas = {3, 1, 2}};
	}
	out[7].type = SD_CTL_CMD_CREATE_PARTITIONS;
	out[7].u.create_partitions =
	    (struct sd_ctl_create_partitions){{"orders", {0}}, 5, 2, sample_add};
	fill_id(out[7].u.create_partitions.topic.id, 0xab);
	out[8] = reassign_cmd("orders", 4, (const int32_t[]){2, 3, 4, 5}, 4);
	out[9] = reg_cmd(0, "r", "k", 0);
}

/* ------------------------------------------------------------------------ */
/* Codec                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_error_tables)
{
	ck_assert_str_eq(sd_ctl_strerror(0), "success");
	ck_assert_str_eq(sd_ctl_err_name(SD_CTL_ETRUNC), "SD_CTL_ETRUNC");
	ck_assert_str_eq(sd_ctl_strerror(SD_CTL_ENOMEM), "out of memory");
	ck_assert_str_eq(sd_ctl_err_name(-999), "SD_CTL_EUNKNOWN");
	ck_assert_str_eq(sd_ctl_strerror(-999), "unknown controller error");
	ck_assert_str_eq(sd_ctl_outcome_name(SD_CTL_OUTCOME_TOPIC_EXISTS), "TOPIC_EXISTS");
	ck_assert_str_eq(sd_ctl_outcome_name((enum sd_ctl_outcome)999), "UNKNOWN");
	ck_assert_str_eq(sd_ctl_cmd_type_str(SD_CTL_CMD_REASSIGN), "REASSIGN");
}
END_TEST

START_TEST(test_topic_names)
{
	char long_name[SD_CTL_TOPIC_NAME_MAX + 2];
	memset(long_name, 'a', sizeof(long_name));
	long_name[SD_CTL_TOPIC_NAME_MAX] = '\0';
	ck_assert(sd_ctl_topic_name_valid(long_name));
	long_name[SD_CTL_TOPIC_NAME_MAX] = 'a';
	long_name[SD_CTL_TOPIC_NAME_MAX + 1] = '\0';
	ck_assert(!sd_ctl_topic_name_valid(long_name));
	ck_assert(sd_ctl_topic_name_valid("Orders_v2.eu-west"));
	ck_assert(sd_ctl_topic_name_valid("..."));
	ck_assert(!sd_ctl_topic_name_valid(""));
	ck_assert(!sd_ctl_topic_name_valid("."));
	ck_assert(!sd_ctl_topic_name_valid(".."));
	ck_assert(!sd_ctl_topic_name_valid("a b"));
	ck_assert(!sd_ctl_topic_name_valid("a/b"));
	ck_assert(!sd_ctl_topic_name_valid("caf\xc3\xa9"));
	ck_assert(!sd_ctl_topic_name_valid(NULL));
}
END_TEST

START_TEST(test_roundtrip_every_command)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len, len2;
		uint8_t *buf = encode(&cmds[i], &len);
		ck_assert_uint_eq(buf[0], SD_CTL_CMD_VERSION);
		ck_assert_uint_eq(buf[1], (unsigned)cmds[i].type);
		struct sd_ctl_cmd d;
		ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
		ck_assert_int_eq(d.type, cmds[i].type);
		uint8_t *again = encode(&d, &len2);
		ck_assert_uint_eq(len, len2);
		ck_assert_mem_eq(buf, again, len);
		sd_ctl_cmd_free(&d);
		ck_assert_ptr_null(d.mem);
		free(again);
		free(buf);
	}
}
END_TEST

START_TEST(test_roundtrip_fields)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	size_t len;
	struct sd_ctl_cmd d;
	uint8_t *buf = encode(&cmds[0], &len);
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
	const struct sd_ctl_broker *b = &d.u.register_broker;
	ck_assert_int_eq(b->id, 7);
	ck_assert_str_eq(b->region, "eu-west");
	ck_assert_str_eq(b->rack, "eu-west-1c");
	ck_assert_str_eq(b->kafka.host, "kafka.example");
	ck_assert_uint_eq(b->kafka.port, 9099);
	ck_assert_str_eq(b->rpc.host, "10.0.0.1");
	ck_assert_uint_eq(b->rpc.port, 9100);
	ck_assert_uint_eq(b->incarnation, 42);
	sd_ctl_cmd_free(&d);
	free(buf);

	buf = encode(&cmds[2], &len);
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
	const struct sd_ctl_topic *t = &d.u.create_topic;
	ck_assert_str_eq(t->name, "orders");
	ck_assert_uint_eq(t->id[15], 0xab);
	ck_assert_int_eq(t->replication_factor, 3);
	ck_assert_int_eq(t->n_partitions, 5);
	ck_assert_int_eq(t->n_configs, 2);
	ck_assert_str_eq(t->configs[1].key, "cleanup.policy");
	ck_assert_str_eq(t->configs[1].value, "delete");
	for (int p = 0; p < 5; p++) {
		ck_assert_uint_eq(t->partitions[p].group_id, 11 + (uint64_t)p);
		ck_assert_int_eq(t->partitions[p].n_replicas, 3);
		ck_assert_int_eq(t->partitions[p].replicas[0], 1 + p % 3);
	}
	sd_ctl_cmd_free(&d);
	free(buf);

	buf = encode(&cmds[6], &len);
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
	ck_assert_str_eq(d.u.alter_configs.topic.name, "orders");
	ck_assert(d.u.alter_configs.ops[1].value == NULL);
	ck_assert_str_eq(d.u.alter_configs.ops[2].value, "regions:us-east,eu-west");
	sd_ctl_cmd_free(&d);
	free(buf);

	buf = encode(&cmds[4], &len);
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
	ck_assert(d.u.delete_topic.name == NULL);
	ck_assert_uint_eq(d.u.delete_topic.id[0], 0xab);
	sd_ctl_cmd_free(&d);
	free(buf);
}
END_TEST

/* The largest command: every partition at the largest replication factor. */
START_TEST(test_roundtrip_limits)
{
	static struct sd_ctl_partition parts[SD_CTL_TOPIC_PARTITIONS_MAX];
	static struct sd_ctl_config cfg[SD_CTL_CONFIGS_MAX];
	static char keys[SD_CTL_CONFIGS_MAX][16];
	static char value[SD_CTL_CONFIG_VALUE_MAX + 1];
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	memset(name, 'x', SD_CTL_TOPIC_NAME_MAX);
	name[SD_CTL_TOPIC_NAME_MAX] = '\0';
	memset(value, 'v', SD_CTL_CONFIG_VALUE_MAX);
	for (int i = 0; i < SD_CTL_CONFIGS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		cfg[i] = (struct sd_ctl_config){keys[i], i == 0 ? value : "1"};
	}
	for (int p = 0; p < SD_CTL_TOPIC_PARTITIONS_MAX; p++) {
		parts[p].group_id = 1 + (uint64_t)p;
		parts[p].n_replicas = SD_CTL_REPLICATION_FACTOR_MAX;
		for (int r = 0; r < SD_CTL_REPLICATION_FACTOR_MAX; r++) {
			parts[p].replicas[r] = (p + r) % 100;
		}
	}
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_CREATE_TOPIC};
	c.u.create_topic = (struct sd_ctl_topic){
	    .name = name,
	    .replication_factor = SD_CTL_REPLICATION_FACTOR_MAX,
	    .n_configs = SD_CTL_CONFIGS_MAX,
	    .configs = cfg,
	    .n_partitions = SD_CTL_TOPIC_PARTITIONS_MAX,
	    .partitions = parts,
	};
	fill_id(c.u.create_topic.id, 1);
	size_t len;
	uint8_t *buf = encode(&c, &len);
	ck_assert_uint_le(len, SD_CTL_CMD_BYTES_MAX);
	struct sd_ctl_cmd d;
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), 0);
	ck_assert_int_eq(d.u.create_topic.n_partitions, SD_CTL_TOPIC_PARTITIONS_MAX);
	ck_assert_str_eq(d.u.create_topic.configs[0].value, value);
	sd_ctl_cmd_free(&d);
	free(buf);

	/* One over each limit is refused when encoding. */
	c.u.create_topic.n_configs = SD_CTL_CONFIGS_MAX + 1;
	ck_assert_int_eq(sd_ctl_cmd_encoded_size(&c, &len), SD_CTL_ELIMIT);
	c.u.create_topic.n_configs = 0;
	c.u.create_topic.n_partitions = SD_CTL_TOPIC_PARTITIONS_MAX + 1;
	ck_assert_int_eq(sd_ctl_cmd_encoded_size(&c, &len), SD_CTL_ELIMIT);
	struct sd_ctl_cmd r = reassign_cmd("t", 0, (const int32_t[]){1}, 1);
	r.u.reassign.n_replicas = SD_CTL_REPLICAS_MAX + 1;
	ck_assert_int_eq(sd_ctl_cmd_encoded_size(&r, &len), SD_CTL_ELIMIT);
}
END_TEST

START_TEST(test_decode_every_truncation)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len;
		uint8_t *buf = encode(&cmds[i], &len);
		for (size_t cut = 0; cut < len; cut++) {
			/* A copy of exactly cut bytes so ASan sees any overread. */
			uint8_t *part = malloc(cut + 1);
			memcpy(part, buf, cut);
			struct sd_ctl_cmd d;
			int rc = sd_ctl_cmd_decode(cut > 0 ? part : NULL, cut, &d);
			ck_assert_msg(rc == SD_CTL_ETRUNC, "sample %d cut %zu: %s", i, cut,
				      sd_ctl_err_name(rc));
			ck_assert_ptr_null(d.mem);
			free(part);
		}
		/* One trailing byte is malformed. */
		uint8_t *longer = malloc(len + 1);
		memcpy(longer, buf, len);
		longer[len] = 0;
		struct sd_ctl_cmd d;
		ck_assert_int_eq(sd_ctl_cmd_decode(longer, len + 1, &d), SD_CTL_EMALFORMED);
		free(longer);
		free(buf);
	}
}
END_TEST

START_TEST(test_decode_version_and_type)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	size_t len;
	uint8_t *buf = encode(&cmds[1], &len);
	struct sd_ctl_cmd d;
	buf[0] = 0;
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), SD_CTL_EVERSION);
	buf[0] = SD_CTL_CMD_VERSION + 1;
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), SD_CTL_EVERSION);
	buf[0] = SD_CTL_CMD_VERSION;
	const uint8_t bad_types[] = {0, 8, 0x7f, 0xff};
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		buf[1] = bad_types[i];
		ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), SD_CTL_ETYPE);
	}
	free(buf);
	struct sd_ctl_cmd bad = {.type = (enum sd_ctl_cmd_type)99};
	ck_assert_int_eq(sd_ctl_cmd_validate(&bad), SD_CTL_ETYPE);
	ck_assert_int_eq(sd_ctl_cmd_encoded_size(&bad, &len), SD_CTL_ETYPE);
}
END_TEST

/* Hand-made headers with counts far beyond the bytes present. */
START_TEST(test_decode_huge_counts)
{
	struct sd_ctl_cmd d;
	/* CREATE_TOPIC, name "t", id, rf 1, n_partitions given below. */
	uint8_t ct[2 + 3 + 16 + 2 + 4 + 2] = {SD_CTL_CMD_VERSION, SD_CTL_CMD_CREATE_TOPIC, 0, 1,
					      't'};
	memset(ct + 5, 1, 16);
	ct[22] = 1;
	kp_put_u32(ct + 23, 0xffffffffu);
	ck_assert_int_eq(sd_ctl_cmd_decode(ct, sizeof(ct), &d), SD_CTL_ELIMIT);
	kp_put_u32(ct + 23, SD_CTL_TOPIC_PARTITIONS_MAX + 1);
	ck_assert_int_eq(sd_ctl_cmd_decode(ct, sizeof(ct), &d), SD_CTL_ELIMIT);
	/* In range but with no bytes behind it: truncated, before allocating. */
	kp_put_u32(ct + 23, SD_CTL_TOPIC_PARTITIONS_MAX);
	sl_fault_arm(SL_FAULT_ALLOC, 2, true);
	int rc = sd_ctl_cmd_decode(ct, sizeof(ct), &d);
	sl_fault_reset();
	ck_assert_int_eq(rc, SD_CTL_ETRUNC);
	/* Too many configs. */
	kp_put_u32(ct + 23, 1);
	kp_put_u16(ct + 27, SD_CTL_CONFIGS_MAX + 1);
	ck_assert_int_eq(sd_ctl_cmd_decode(ct, sizeof(ct), &d), SD_CTL_ELIMIT);
	kp_put_u16(ct + 27, 0xffff);
	ck_assert_int_eq(sd_ctl_cmd_decode(ct, sizeof(ct), &d), SD_CTL_ELIMIT);
	/* A name longer than allowed. */
	uint8_t nm[] = {SD_CTL_CMD_VERSION, SD_CTL_CMD_DELETE_TOPIC, 0xff, 0xfe, 'a'};
	ck_assert_int_eq(sd_ctl_cmd_decode(nm, sizeof(nm), &d), SD_CTL_ELIMIT);
	kp_put_u16(nm + 2, SD_CTL_TOPIC_NAME_MAX + 1);
	ck_assert_int_eq(sd_ctl_cmd_decode(nm, sizeof(nm), &d), SD_CTL_ELIMIT);
	/* Too many replicas in a reassign. */
	uint8_t ra[2 + 3 + 16 + 4 + 1] = {SD_CTL_CMD_VERSION, SD_CTL_CMD_REASSIGN, 0, 1, 't'};
	ra[sizeof(ra) - 1] = SD_CTL_REPLICAS_MAX + 1;
	ck_assert_int_eq(sd_ctl_cmd_decode(ra, sizeof(ra), &d), SD_CTL_ELIMIT);
	ra[sizeof(ra) - 1] = 0xff;
	ck_assert_int_eq(sd_ctl_cmd_decode(ra, sizeof(ra), &d), SD_CTL_ELIMIT);
	/* A command over the size limit is refused from its length alone. */
	ck_assert_int_eq(sd_ctl_cmd_decode(ra, SD_CTL_CMD_BYTES_MAX + 1, &d), SD_CTL_ELIMIT);
}
END_TEST

/* Encodes a valid command, then applies `mutate` to the bytes and expects
 * decoding to fail with want. */
static void expect_bad(const struct sd_ctl_cmd *c, size_t at, uint8_t byte, int want)
{
	size_t len;
	uint8_t *buf = encode(c, &len);
	ck_assert_uint_lt(at, len);
	buf[at] = byte;
	struct sd_ctl_cmd d;
	int rc = sd_ctl_cmd_decode(buf, len, &d);
	ck_assert_msg(rc == want, "byte %zu = %u: %s, want %s", at, byte, sd_ctl_err_name(rc),
		      sd_ctl_err_name(want));
	free(buf);
}

START_TEST(test_decode_semantic_checks)
{
	static const int32_t b[3] = {1, 2, 3};
	struct topic_fx fx;
	struct sd_ctl_cmd *c = topic_cmd(&fx, "abc", 9, 2, 2, 5, b, 3);
	/* Layout: 2 hdr, name 2+3 (4..6), id 16 (7..22), rf u16 (23..24), ... */
	expect_bad(c, 5, ' ', SD_CTL_EMALFORMED); /* name "a c" */
	expect_bad(c, 5, 0, SD_CTL_EMALFORMED);	  /* NUL inside a string */
	expect_bad(c, 24, 0, SD_CTL_EMALFORMED);  /* rf 0 */
	expect_bad(c, 24, 3, SD_CTL_EMALFORMED);  /* rf 3 but 2 replicas each */
	expect_bad(c, 23, 1, SD_CTL_ELIMIT);	  /* rf 258 */
	size_t len;
	uint8_t *buf = encode(c, &len);
	/* Last partition: u64 group, u8 n, 2 x i32. Make the replicas equal. */
	buf[len - 1] = buf[len - 5];
	buf[len - 2] = buf[len - 6];
	buf[len - 3] = buf[len - 7];
	buf[len - 4] = buf[len - 8];
	struct sd_ctl_cmd d;
	ck_assert_int_eq(sd_ctl_cmd_decode(buf, len, &d), SD_CTL_EMALFORMED);
	free(buf);
	/* Group ids must increase: make the second equal the first. */
	fx.parts[1].group_id = fx.parts[0].group_id;
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);
	fx.parts[1].group_id = 0;
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);
	fx.parts[1].group_id = 6;
	fx.parts[1].replicas[0] = -1;
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);
	fx.parts[1].replicas[0] = 2;
	ck_assert_int_eq(sd_ctl_cmd_validate(c), 0);
	fx.parts[1].replica_epoch = 1; /* state-only field */
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);
	fx.parts[1].replica_epoch = 0;
	fill_id(fx.cmd.u.create_topic.id, 0);
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);
	fill_id(fx.cmd.u.create_topic.id, 9);
	fx.cfg[1].key = "retention.ms";
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED); /* duplicate key */
	fx.cfg[1].key = "bad key";
	ck_assert_int_eq(sd_ctl_cmd_validate(c), SD_CTL_EMALFORMED);

	struct sd_ctl_cmd r = reg_cmd(1, "us east", "x", 1);
	ck_assert_int_eq(sd_ctl_cmd_validate(&r), SD_CTL_EMALFORMED);
	r = reg_cmd(1, "us-east", "x", 1);
	r.u.register_broker.kafka.port = 0;
	ck_assert_int_eq(sd_ctl_cmd_validate(&r), SD_CTL_EMALFORMED);
	r = reg_cmd(-1, "us-east", "x", 1);
	ck_assert_int_eq(sd_ctl_cmd_validate(&r), SD_CTL_EMALFORMED);
	struct sd_ctl_cmd del = delete_cmd(NULL, 0);
	ck_assert_int_eq(sd_ctl_cmd_validate(&del), SD_CTL_EMALFORMED);
	struct sd_ctl_cmd ra = reassign_cmd("t", 0, (const int32_t[]){1, 1}, 2);
	ck_assert_int_eq(sd_ctl_cmd_validate(&ra), SD_CTL_EMALFORMED);
	struct sd_ctl_cmd alter = {.type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS};
	alter.u.alter_configs.topic.name = "t";
	ck_assert_int_eq(sd_ctl_cmd_validate(&alter), SD_CTL_EMALFORMED); /* no ops */
}
END_TEST

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random byte flips, insertions of extreme values and pure garbage: decoding
 * either fails or yields a command that encodes back to the same bytes. */
START_TEST(test_decode_hostile_random)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int decoded = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		uint8_t *buf = encode(&cmds[iter % N_SAMPLES], &len);
		int flips = 1 + (int)(rng_next(&x) % 4);
		for (int f = 0; f < flips; f++) {
			size_t at = rng_next(&x) % len;
			uint64_t v = rng_next(&x);
			buf[at] = (v & 3) == 0 ? 0xff : (v & 3) == 1 ? 0 : (uint8_t)(v >> 8);
		}
		size_t use = (rng_next(&x) % 8) == 0 ? rng_next(&x) % (len + 1) : len;
		if (iter % 10 == 9) {
			for (size_t i = 0; i < len; i++) {
				buf[i] = (uint8_t)rng_next(&x);
			}
			buf[0] = SD_CTL_CMD_VERSION;
			buf[1] = (uint8_t)(1 + rng_next(&x) % 7);
		}
		struct sd_ctl_cmd d;
		int rc = sd_ctl_cmd_decode(buf, use, &d);
		ck_assert_int_le(rc, 0);
		if (rc == 0) {
			size_t len2;
			uint8_t *again = encode(&d, &len2);
			ck_assert_uint_eq(len2, use);
			ck_assert_mem_eq(again, buf, use);
			free(again);
			sd_ctl_cmd_free(&d);
			decoded++;
		} else {
			ck_assert_ptr_null(d.mem);
		}
		free(buf);
	}
	ck_assert_int_gt(decoded, 0);
}
END_TEST

START_TEST(test_decode_alloc_failures)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	size_t len;
	uint8_t *buf = encode(&cmds[2], &len);
	int failures = 0;
	for (long n = 1;; n++) {
		struct sd_ctl_cmd d;
		sl_fault_arm(SL_FAULT_ALLOC, n, false);
		int rc = sd_ctl_cmd_decode(buf, len, &d);
		sl_fault_reset();
		if (rc == 0) {
			sd_ctl_cmd_free(&d);
			break;
		}
		ck_assert_int_eq(rc, SD_CTL_ENOMEM);
		ck_assert_ptr_null(d.mem);
		failures++;
	}
	ck_assert_int_gt(failures, 0);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Entries                                                                   */
/* ------------------------------------------------------------------------ */

static uint8_t *concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t *len)
{
	uint8_t *out = malloc(alen + blen);
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	*len = alen + blen;
	return out;
}

START_TEST(test_batch_roundtrip)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	uint8_t *batch;
	size_t blen;
	ck_assert_int_eq(sd_ctl_batch_build(cmds, N_SAMPLES, 1700000000000, &batch, &blen), 0);
	ck_assert_int_eq(kp_batch_validate_records(batch, blen, 0), 0);
	enum rl_kind kind;
	ck_assert_int_eq(rl_batch_kind(batch, blen, &kind, NULL, NULL), 0);
	ck_assert_int_eq(kind, RL_KIND_DATA);

	/* Barrier before, config after: both skipped. */
	uint8_t *barrier, *config;
	size_t barlen, conflen;
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_BARRIER, NULL, 0, 5, &barrier, &barlen), 0);
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_CONFIG, "conf", 4, 5, &config, &conflen),
			 0);
	size_t l1, len;
	uint8_t *e1 = concat(barrier, barlen, batch, blen, &l1);
	uint8_t *entry = concat(e1, l1, config, conflen, &len);
	struct sd_ctl_entry_iter it;
	ck_assert_int_eq(sd_ctl_entry_iter_init(&it, entry, len), 0);
	for (int i = 0; i < N_SAMPLES; i++) {
		struct sd_ctl_cmd d;
		ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), 1);
		size_t a_len, b_len;
		uint8_t *a = encode(&d, &a_len);
		uint8_t *b = encode(&cmds[i], &b_len);
		ck_assert_uint_eq(a_len, b_len);
		ck_assert_mem_eq(a, b, a_len);
		free(a);
		free(b);
		sd_ctl_cmd_free(&d);
	}
	struct sd_ctl_cmd d;
	ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), 0);
	sd_ctl_entry_iter_free(&it);

	/* A control-only entry has no commands. */
	ck_assert_int_eq(sd_ctl_entry_iter_init(&it, config, conflen), 0);
	ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), 0);
	sd_ctl_entry_iter_free(&it);
	free(entry);
	free(e1);
	sl_free(barrier);
	sl_free(config);
	sl_free(batch);
}
END_TEST

START_TEST(test_batch_hostile)
{
	struct sd_ctl_cmd cmds[N_SAMPLES];
	samples(cmds);
	uint8_t *batch;
	size_t blen;
	ck_assert_int_eq(sd_ctl_batch_build(cmds, 3, 1, &batch, &blen), 0);
	struct sd_ctl_entry_iter it;
	struct sd_ctl_cmd d;
	/* Every truncation of the entry: an error, never a crash. */
	for (size_t cut = 1; cut < blen; cut++) {
		uint8_t *part = malloc(cut);
		memcpy(part, batch, cut);
		ck_assert_int_eq(sd_ctl_entry_iter_init(&it, part, cut), 0);
		int rc;
		while ((rc = sd_ctl_entry_iter_next(&it, &d)) == 1) {
			sd_ctl_cmd_free(&d);
		}
		ck_assert_int_eq(rc, SD_CTL_EBATCH);
		sd_ctl_entry_iter_free(&it);
		free(part);
	}
	/* A flipped byte in the records fails the CRC. */
	batch[blen - 3] ^= 0x40;
	ck_assert_int_eq(sd_ctl_entry_iter_init(&it, batch, blen), 0);
	ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), SD_CTL_EBATCH);
	ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), SD_CTL_EBATCH); /* sticky */
	sd_ctl_entry_iter_free(&it);
	sl_free(batch);

	/* A valid batch whose record is not a command. */
	struct kp_batch_builder b;
	ck_assert_int_eq(kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1), 0);
	ck_assert_int_eq(kp_batch_builder_add(&b, 0, NULL, -1,
					      "\x01\x04\x00\x05"
					      "ab",
					      6, NULL, 0),
			 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b), 0);
	ck_assert_int_eq(sd_ctl_entry_iter_init(&it, b.buf, b.len), 0);
	ck_assert_int_eq(sd_ctl_entry_iter_next(&it, &d), SD_CTL_ETRUNC);
	sd_ctl_entry_iter_free(&it);
	kp_batch_builder_free(&b);

	ck_assert_int_eq(sd_ctl_entry_iter_init(&it, NULL, SD_CTL_ENTRY_BYTES_MAX + 1),
			 SD_CTL_EINVAL);
	sd_ctl_entry_iter_free(&it);
	ck_assert_int_eq(sd_ctl_batch_build(cmds, 0, 0, &batch, &blen), SD_CTL_EINVAL);
	struct sd_ctl_cmd bad = delete_cmd(NULL, 0);
	ck_assert_int_eq(sd_ctl_batch_build(&bad, 1, 0, &batch, &blen), SD_CTL_EMALFORMED);
	ck_assert_ptr_null(batch);
}
END_TEST

START_TEST(test_batch_command_limit)
{
	static struct sd_ctl_cmd many[SD_CTL_ENTRY_CMDS_MAX + 1];
	for (int i = 0; i <= SD_CTL_ENTRY_CMDS_MAX; i++) {
		many[i].type = SD_CTL_CMD_UNREGISTER_BROKER;
		many[i].u.unregister_broker.broker_id = i;
	}
	uint8_t *batch;
	size_t blen;
	ck_assert_int_eq(sd_ctl_batch_build(many, SD_CTL_ENTRY_CMDS_MAX + 1, 0, &batch, &blen),
			 SD_CTL_ELIMIT);
	/* Two full batches in one entry exceed the per-entry count. */
	ck_assert_int_eq(sd_ctl_batch_build(many, SD_CTL_ENTRY_CMDS_MAX, 0, &batch, &blen), 0);
	size_t len;
	uint8_t *entry = concat(batch, blen, batch, blen, &len);
	struct sd_ctl_state *s = new_state();
	struct sd_ctl_result res[2];
	int32_t n;
	ck_assert_int_eq(sd_ctl_apply_entry(s, 3, entry, len, res, 2, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(res[0].outcome, SD_CTL_OUTCOME_MALFORMED);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 3);
	/* One full batch applies: every command is an unknown-broker no-op. */
	ck_assert_int_eq(sd_ctl_apply_entry(s, 4, batch, blen, res, 2, &n), 0);
	ck_assert_int_eq(n, SD_CTL_ENTRY_CMDS_MAX);
	ck_assert_int_eq(res[1].outcome, SD_CTL_OUTCOME_UNKNOWN_BROKER);
	ck_assert_uint_eq(sd_ctl_state_applied_seq(s), SD_CTL_ENTRY_CMDS_MAX - 1);
	sd_ctl_state_free(s);
	free(entry);
	sl_free(batch);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Apply                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_apply_brokers)
{
	struct sd_ctl_state *s = new_state();
	struct sd_ctl_cmd c = reg_cmd(5, "us-east", "us-east-1a", 3);
	APPLY(s, 1, &c, APPLIED);
	APPLY(s, 2, &c, UNCHANGED);
	c = reg_cmd(5, "us-east", "us-east-1b", 3);
	APPLY(s, 3, &c, STALE_INCARNATION); /* same incarnation, other data */
	c = reg_cmd(5, "us-east", "us-east-1b", 2);
	APPLY(s, 4, &c, STALE_INCARNATION);
	c = reg_cmd(5, "us-east", "us-east-1b", 4);
	APPLY(s, 5, &c, APPLIED);
	ck_assert_str_eq(sd_ctl_state_broker_find(s, 5)->rack, "us-east-1b");
	ck_assert_uint_eq(sd_ctl_state_broker_find(s, 5)->incarnation, 4);
	/* A rack lives in one region only. */
	c = reg_cmd(6, "eu-west", "us-east-1b", 1);
	APPLY(s, 6, &c, RACK_REGION_CONFLICT);
	c = reg_cmd(2, "us-east", "us-east-1b", 1);
	APPLY(s, 7, &c, APPLIED);
	ck_assert_int_eq(sd_ctl_state_broker_count(s), 2);
	ck_assert_int_eq(sd_ctl_state_broker_at(s, 0)->id, 2);
	ck_assert_int_eq(sd_ctl_state_broker_at(s, 1)->id, 5);
	/* Unregister. */
	struct sd_ctl_cmd u = {.type = SD_CTL_CMD_UNREGISTER_BROKER};
	u.u.unregister_broker = (struct sd_ctl_unregister_broker){9, 0};
	APPLY(s, 8, &u, UNKNOWN_BROKER);
	u.u.unregister_broker = (struct sd_ctl_unregister_broker){5, 3};
	APPLY(s, 9, &u, STALE_INCARNATION);
	u.u.unregister_broker = (struct sd_ctl_unregister_broker){5, 4};
	APPLY(s, 10, &u, APPLIED);
	ck_assert_ptr_null(sd_ctl_state_broker_find(s, 5));
	u.u.unregister_broker = (struct sd_ctl_unregister_broker){2, 0};
	APPLY(s, 11, &u, APPLIED);
	ck_assert_int_eq(sd_ctl_state_broker_count(s), 0);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 11);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_apply_create_delete)
{
	static const int32_t b[3] = {1, 2, 3};
	struct sd_ctl_state *s = six_brokers();
	struct topic_fx fx;
	APPLY(s, 10, topic_cmd(&fx, "orders", 1, 3, 3, 1, b, 3), APPLIED);
	ck_assert_uint_eq(sd_ctl_state_next_group_id(s), 4);
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, "orders");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->n_partitions, 3);
	/* Configs are stored sorted by key. */
	ck_assert_str_eq(t->configs[0].key, "cleanup.policy");
	ck_assert_str_eq(sd_ctl_topic_config(t, "retention.ms"), "3600000");
	ck_assert_ptr_null(sd_ctl_topic_config(t, "nope"));
	uint8_t id[SD_CTL_TOPIC_ID_BYTES];
	fill_id(id, 1);
	ck_assert_ptr_eq(sd_ctl_state_topic_find_id(s, id), t);
	const struct sd_ctl_topic *gt;
	int32_t gp;
	ck_assert(sd_ctl_state_group_find(s, 2, &gt, &gp));
	ck_assert_ptr_eq(gt, t);
	ck_assert_int_eq(gp, 1);
	ck_assert(!sd_ctl_state_group_find(s, 0, NULL, NULL));
	ck_assert(!sd_ctl_state_group_find(s, 4, NULL, NULL));

	/* Same name again, other id: TOPIC_EXISTS. Same id, other name. */
	APPLY(s, 11, topic_cmd(&fx, "orders", 2, 1, 1, 4, b, 3), TOPIC_EXISTS);
	APPLY(s, 12, topic_cmd(&fx, "payments", 1, 1, 1, 4, b, 3), TOPIC_ID_EXISTS);
	/* Unknown replica. */
	static const int32_t ghost[1] = {77};
	APPLY(s, 13, topic_cmd(&fx, "payments", 2, 1, 1, 4, ghost, 1), UNKNOWN_BROKER);
	APPLY(s, 14, topic_cmd(&fx, "payments", 2, 2, 2, 4, b, 3), APPLIED);
	ck_assert_int_eq(sd_ctl_state_topic_count(s), 2);
	ck_assert_str_eq(sd_ctl_state_topic_at(s, 0)->name, "orders");
	ck_assert_str_eq(sd_ctl_state_topic_at(s, 1)->name, "payments");
	ck_assert_int_eq(sd_ctl_state_partition_count(s), 5);

	/* Delete by name, by id, with a mismatched id, unknown. */
	struct sd_ctl_cmd del = delete_cmd("orders", 9);
	APPLY(s, 15, &del, UNKNOWN_TOPIC);
	del = delete_cmd("nope", 0);
	APPLY(s, 16, &del, UNKNOWN_TOPIC);
	del = delete_cmd(NULL, 2);
	APPLY(s, 17, &del, APPLIED);
	ck_assert_ptr_null(sd_ctl_state_topic_find(s, "payments"));
	ck_assert(!sd_ctl_state_group_find(s, 4, NULL, NULL));
	del = delete_cmd("orders", 1);
	APPLY(s, 18, &del, APPLIED);
	ck_assert_int_eq(sd_ctl_state_topic_count(s), 0);
	ck_assert_int_eq(sd_ctl_state_partition_count(s), 0);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_group_ids_never_reused)
{
	static const int32_t b[2] = {1, 2};
	struct sd_ctl_state *s = six_brokers();
	struct topic_fx fx;
	APPLY(s, 10, topic_cmd(&fx, "a", 1, 2, 2, 1, b, 2), APPLIED);
	struct sd_ctl_cmd del = delete_cmd("a", 0);
	APPLY(s, 11, &del, APPLIED);
	ck_assert_uint_eq(sd_ctl_state_next_group_id(s), 3);
	/* Re-creating with the freed ids is refused... */
	APPLY(s, 12, topic_cmd(&fx, "a", 2, 2, 2, 1, b, 2), GROUP_ID_USED);
	APPLY(s, 13, topic_cmd(&fx, "a", 2, 2, 2, 2, b, 2), GROUP_ID_USED);
	/* ...a gap is fine, and later ids follow the highest. */
	APPLY(s, 14, topic_cmd(&fx, "a", 2, 2, 2, 10, b, 2), APPLIED);
	ck_assert_uint_eq(sd_ctl_state_next_group_id(s), 12);
	/* A plan after the delete starts above every id ever used. */
	struct sd_ctl_plan_topic_req req = {.name = "b",
					    .partitions = 2,
					    .replication_factor = 1,
					    .live_brokers = LIVE6,
					    .n_live = 6};
	uint8_t id[SD_CTL_TOPIC_ID_BYTES];
	fill_id(id, 3);
	req.topic_id = id;
	struct sd_ctl_cmd plan;
	struct sd_ctl_plan_result res;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &plan, &res), 0);
	ck_assert_uint_eq(plan.u.create_topic.partitions[0].group_id, 12);
	ck_assert_uint_eq(res.next_group_id, 14);
	sd_ctl_cmd_free(&plan);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_racing_creates)
{
	struct sd_ctl_state *s = six_brokers();
	uint8_t id1[SD_CTL_TOPIC_ID_BYTES], id2[SD_CTL_TOPIC_ID_BYTES];
	fill_id(id1, 1);
	fill_id(id2, 2);
	struct sd_ctl_plan_topic_req req = {.name = "orders",
					    .topic_id = id1,
					    .partitions = 3,
					    .replication_factor = 3,
					    .live_brokers = LIVE6,
					    .n_live = 6};
	struct sd_ctl_cmd a, b, c;
	struct sd_ctl_plan_result res;
	/* Two leaders' requests planned against the same state. */
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &a, &res), 0);
	req.topic_id = id2;
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &b, &res), 0);
	/* A different topic planned while those are in flight, without and
	 * with the reservation hint. */
	req.name = "payments";
	ck_assert_int_eq(sd_ctl_plan_create_topic(s, &req, &c, &res), 0);
	struct sd_ctl_state *t;
	ck_assert_int_eq(sd_ctl_state_copy(s, &t), 0);
	APPLY(s, 10, &a, APPLIED);
	APPLY(s, 11, &b, TOPIC_EXISTS);
	APPLY(s, 12, &c, GROUP_ID_USED);
	sd_ctl_cmd_free(&c);
	req.first_group_id = 4;
	ck_assert_int_eq(sd_ctl_plan_create_topic(t, &req, &c, &res), 0);
	ck_assert_uint_eq(c.u.create_topic.partitions[0].group_id, 4);
	ck_assert_uint_eq(res.next_group_id, 7);
	APPLY(s, 13, &c, APPLIED);
	/* The topic that won keeps the first id. */
	uint8_t got[SD_CTL_TOPIC_ID_BYTES];
	memcpy(got, sd_ctl_state_topic_find(s, "orders")->id, sizeof(got));
	ck_assert_mem_eq(got, id1, sizeof(got));
	sd_ctl_cmd_free(&a);
	sd_ctl_cmd_free(&b);
	sd_ctl_cmd_free(&c);
	sd_ctl_state_free(t);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_apply_alter)
{
	static const int32_t b[1] = {1};
	struct sd_ctl_state *s = six_brokers();
	struct topic_fx fx;
	APPLY(s, 10, topic_cmd(&fx, "t", 1, 1, 1, 1, b, 1), APPLIED);
	struct sd_ctl_config ops[3] = {
	    {"retention.ms", "5"}, {"cleanup.policy", NULL}, {"a.new.key", ""}};
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS};
	c.u.alter_configs = (struct sd_ctl_alter_configs){{"t", {0}}, 3, ops};
	APPLY(s, 11, &c, APPLIED);
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, "t");
	ck_assert_int_eq(t->n_configs, 2);
	ck_assert_str_eq(t->configs[0].key, "a.new.key");
	ck_assert_str_eq(t->configs[0].value, "");
	ck_assert_str_eq(sd_ctl_topic_config(t, "retention.ms"), "5");
	ck_assert_ptr_null(sd_ctl_topic_config(t, "cleanup.policy"));
	APPLY(s, 12, &c, UNCHANGED);
	c.u.alter_configs.topic.name = "nope";
	APPLY(s, 13, &c, UNKNOWN_TOPIC);
	/* Past the config limit. */
	static char keys[SD_CTL_CONFIGS_MAX][16];
	struct sd_ctl_config many[SD_CTL_CONFIGS_MAX];
	for (int i = 0; i < SD_CTL_CONFIGS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		many[i] = (struct sd_ctl_config){keys[i], "v"};
	}
	c.u.alter_configs = (struct sd_ctl_alter_configs){{"t", {0}}, SD_CTL_CONFIGS_MAX, many};
	APPLY(s, 14, &c, LIMIT);
	c.u.alter_configs.n_ops = SD_CTL_CONFIGS_MAX - 2;
	APPLY(s, 15, &c, APPLIED);
	ck_assert_int_eq(sd_ctl_state_topic_find(s, "t")->n_configs, SD_CTL_CONFIGS_MAX);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_apply_partitions_and_reassign)
{
	static const int32_t b[3] = {1, 2, 3};
	struct sd_ctl_state *s = six_brokers();
	struct topic_fx fx;
	APPLY(s, 10, topic_cmd(&fx, "t", 1, 2, 2, 1, b, 3), APPLIED);
	struct sd_ctl_partition add[2] = {{.group_id = 3, .n_replicas = 2, .replicas = {4, 5}},
					  {.group_id = 4, .n_replicas = 2, .replicas = {5, 6}}};
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_CREATE_PARTITIONS};
	c.u.create_partitions = (struct sd_ctl_create_partitions){{"t", {0}}, 1, 2, add};
	APPLY(s, 11, &c, PARTITION_COUNT_CHANGED);
	c.u.create_partitions.first_index = 2;
	add[0].n_replicas = add[1].n_replicas = 1;
	APPLY(s, 12, &c, REPLICATION_FACTOR_MISMATCH);
	add[0].n_replicas = add[1].n_replicas = 2;
	add[1].replicas[1] = 99;
	APPLY(s, 13, &c, UNKNOWN_BROKER);
	add[1].replicas[1] = 6;
	fill_id(c.u.create_partitions.topic.id, 1);
	APPLY(s, 14, &c, APPLIED);
	APPLY(s, 15, &c, PARTITION_COUNT_CHANGED); /* a racing duplicate */
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, "t");
	ck_assert_int_eq(t->n_partitions, 4);
	ck_assert_int_eq(t->partitions[3].replicas[0], 5);
	int32_t p;
	ck_assert(sd_ctl_state_group_find(s, 4, NULL, &p));
	ck_assert_int_eq(p, 3);
	ck_assert_uint_eq(sd_ctl_state_next_group_id(s), 5);

	struct sd_ctl_cmd r = reassign_cmd("t", 4, (const int32_t[]){1, 2}, 2);
	APPLY(s, 16, &r, UNKNOWN_PARTITION);
	r = reassign_cmd("t", 3, (const int32_t[]){1, 42}, 2);
	APPLY(s, 17, &r, UNKNOWN_BROKER);
	r = reassign_cmd("t", 3, (const int32_t[]){5, 6}, 2);
	APPLY(s, 18, &r, UNCHANGED);
	r = reassign_cmd("t", 3, (const int32_t[]){6, 1, 2}, 3);
	APPLY(s, 19, &r, APPLIED);
	t = sd_ctl_state_topic_find(s, "t");
	ck_assert_int_eq(t->partitions[3].n_replicas, 3);
	ck_assert_int_eq(t->partitions[3].replicas[2], 2);
	ck_assert_uint_eq(t->partitions[3].group_id, 4);
	ck_assert_uint_eq(t->partitions[3].replica_epoch, 1);
	ck_assert_uint_eq(t->partitions[2].replica_epoch, 0);
	sd_ctl_state_free(s);
}
END_TEST

START_TEST(test_apply_position)
{
	struct sd_ctl_state *s = new_state();
	struct sd_ctl_cmd c = reg_cmd(1, "r", "k", 1);
	struct sd_ctl_result res;
	ck_assert_int_eq(sd_ctl_apply(s, 0, &c, &res), SD_CTL_EINVAL);
	APPLY(s, 5, &c, APPLIED);
	c = reg_cmd(2, "r", "k", 1);
	APPLY(s, 5, &c, STALE_POSITION);
	APPLY(s, 4, &c, STALE_POSITION);
	ck_assert_ptr_null(sd_ctl_state_broker_find(s, 2));
	/* Indexes may skip (entries without commands need not be passed). */
	APPLY(s, 9, &c, APPLIED);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 9);
	ck_assert_uint_eq(sd_ctl_state_applied_seq(s), 0);
	ck_assert(sd_ctl_state_applied_complete(s));
	/* An invalid hand-built command is a MALFORMED no-op that advances. */
	struct sd_ctl_cmd bad = delete_cmd(NULL, 0);
	APPLY(s, 10, &bad, MALFORMED);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 10);
	ck_assert_int_eq(sd_ctl_apply(s, 11, &bad, NULL), 0);
	sd_ctl_state_free(s);
}
END_TEST

/* A random command over a small universe of brokers and topics, including
 * many that are no-ops against the state. Storage is static. */
static struct sd_ctl_cmd random_cmd(uint64_t *x)
{
	static const char *const regions[3] = {"r0", "r1", "r2"};
	static const char *const racks[6] = {"k0", "k1", "k2", "k3", "k4", "k5"};
	static const char *const names[5] = {"t0", "t1", "t2", "t3", "t4"};
	static struct topic_fx fx;
	static struct sd_ctl_partition add[3];
	static struct sd_ctl_config ops[2];
	static uint64_t group = 1;
	int32_t brokers[8];
	for (int i = 0; i < 8; i++) {
		brokers[i] = (int32_t)((i * 3 + (int)(rng_next(x) % 3)) % 8);
	}
	const char *name = names[rng_next(x) % 5];
	struct sd_ctl_cmd c;
	switch (rng_next(x) % 7) {
	case 0: {
		int rk = (int)(rng_next(x) % 6);
		return reg_cmd((int32_t)(rng_next(x) % 8),
			       regions[(rk / 2 + rng_next(x) % 8 / 7) % 3], racks[rk],
			       rng_next(x) % 3);
	}
	case 1:
		c = (struct sd_ctl_cmd){.type = SD_CTL_CMD_UNREGISTER_BROKER};
		c.u.unregister_broker.broker_id = (int32_t)(rng_next(x) % 8);
		return c;
	case 2: {
		int32_t rf = 1 + (int32_t)(rng_next(x) % 2);
		brokers[1] = (brokers[0] + 1) % 8;
		group += rng_next(x) % 4 == 0 ? 0 : 3;
		return *topic_cmd(&fx, name, (uint8_t)(1 + rng_next(x) % 7), 3, rf, group, brokers,
				  rf);
	}
	case 3:
		return delete_cmd(name, 0);
	case 4:
		ops[0] = (struct sd_ctl_config){"retention.ms", rng_next(x) % 2 ? "1" : "2"};
		ops[1] = (struct sd_ctl_config){"x", rng_next(x) % 2 ? NULL : "y"};
		c = (struct sd_ctl_cmd){.type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS};
		c.u.alter_configs = (struct sd_ctl_alter_configs){{name, {0}}, 2, ops};
		return c;
	case 5:
		for (int i = 0; i < 3; i++) {
			add[i] = (struct sd_ctl_partition){.group_id = group + 10 + (uint64_t)i,
							   .n_replicas = 1,
							   .replicas = {brokers[i]}};
		}
		group += 13;
		c = (struct sd_ctl_cmd){.type = SD_CTL_CMD_CREATE_PARTITIONS};
		c.u.create_partitions = (struct sd_ctl_create_partitions){
		    {name, {0}}, 3 + (int32_t)(rng_next(x) % 2) * 3, 3, add};
		return c;
	default:
		return reassign_cmd(name, (int32_t)(rng_next(x) % 7), brokers, 1);
	}
}

START_TEST(test_determinism_and_replay)
{
	struct sd_ctl_state *a = new_state(), *b = new_state();
	uint64_t x = 12345;
	int outcomes[32] = {0};
	enum { N = 3000 };
	static struct sd_ctl_cmd log[N];
	static uint8_t *encoded[N];
	static size_t lens[N];
	for (int i = 0; i < N; i++) {
		struct sd_ctl_cmd c = random_cmd(&x);
		/* Keep an encoded copy for the replay (fixture storage is reused). */
		encoded[i] = encode(&c, &lens[i]);
		struct sd_ctl_result ra, rb;
		ck_assert_int_eq(sd_ctl_apply(a, (uint64_t)i + 1, &c, &ra), 0);
		ck_assert_int_eq(sd_ctl_apply(b, (uint64_t)i + 1, &c, &rb), 0);
		ck_assert_int_eq(ra.outcome, rb.outcome);
		ck_assert_str_eq(ra.detail, rb.detail);
		outcomes[ra.outcome]++;
		ck_assert_int_eq(sd_ctl_state_check(a), 0);
	}
	ck_assert(sd_ctl_state_equal(a, b));
	ck_assert_uint_eq(sd_ctl_state_digest(a), sd_ctl_state_digest(b));
	/* The mix exercised real changes and no-ops. */
	ck_assert_int_gt(outcomes[SD_CTL_OUTCOME_APPLIED], N / 5);
	ck_assert_int_gt(outcomes[SD_CTL_OUTCOME_TOPIC_EXISTS], 0);
	ck_assert_int_gt(outcomes[SD_CTL_OUTCOME_UNKNOWN_TOPIC], 0);
	ck_assert_int_gt(outcomes[SD_CTL_OUTCOME_GROUP_ID_USED], 0);
	ck_assert_int_gt(outcomes[SD_CTL_OUTCOME_RACK_REGION_CONFLICT], 0);

	/* Replaying the whole log changes nothing. */
	uint64_t digest = sd_ctl_state_digest(a);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(sd_ctl_cmd_decode(encoded[i], lens[i], &log[i]), 0);
		struct sd_ctl_result r;
		ck_assert_int_eq(sd_ctl_apply(a, (uint64_t)i + 1, &log[i], &r), 0);
		ck_assert_int_eq(r.outcome, SD_CTL_OUTCOME_STALE_POSITION);
	}
	ck_assert_uint_eq(sd_ctl_state_digest(a), digest);

	/* A copy is equal; a fresh state replaying decoded commands is too. */
	struct sd_ctl_state *c, *d = new_state();
	ck_assert_int_eq(sd_ctl_state_copy(a, &c), 0);
	ck_assert(sd_ctl_state_equal(a, c));
	ck_assert_int_eq(sd_ctl_state_check(c), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(sd_ctl_apply(d, (uint64_t)i + 1, &log[i], NULL), 0);
		sd_ctl_cmd_free(&log[i]);
		free(encoded[i]);
	}
	ck_assert_uint_eq(sd_ctl_state_digest(d), digest);
	/* One change is visible to both equal() and digest(). */
	struct sd_ctl_cmd reg = reg_cmd(100, "r9", "k9", 1);
	APPLY(c, N + 1, &reg, APPLIED);
	ck_assert(!sd_ctl_state_equal(a, c));
	ck_assert_uint_ne(sd_ctl_state_digest(a), sd_ctl_state_digest(c));
	sd_ctl_state_free(a);
	sd_ctl_state_free(b);
	sd_ctl_state_free(c);
	sd_ctl_state_free(d);
}
END_TEST

/* An entry of several commands, applied with the Nth allocation failing and
 * then retried, ends in the same state as without faults. */
START_TEST(test_apply_entry_alloc_failures)
{
	static const int32_t b[3] = {1, 2, 3};
	struct topic_fx fx;
	struct sd_ctl_cmd cmds[4];
	cmds[0] = reg_cmd(7, "ap-south", "ap-south-1c", 1);
	cmds[1] = *topic_cmd(&fx, "t", 1, 4, 3, 1, b, 3);
	struct sd_ctl_config ops[1] = {{"retention.ms", "9"}};
	cmds[2] = (struct sd_ctl_cmd){.type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS};
	cmds[2].u.alter_configs = (struct sd_ctl_alter_configs){{"t", {0}}, 1, ops};
	cmds[3] = reassign_cmd("t", 2, (const int32_t[]){7, 1}, 2);
	uint8_t *batch;
	size_t blen;
	ck_assert_int_eq(sd_ctl_batch_build(cmds, 4, 0, &batch, &blen), 0);

	struct sd_ctl_state *base = six_brokers(), *want;
	ck_assert_int_eq(sd_ctl_state_copy(base, &want), 0);
	struct sd_ctl_result res[4];
	int32_t n;
	ck_assert_int_eq(sd_ctl_apply_entry(want, 20, batch, blen, res, 4, &n), 0);
	ck_assert_int_eq(n, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(res[i].outcome == SD_CTL_OUTCOME_APPLIED, "%d: %s %s", i,
			      sd_ctl_outcome_name(res[i].outcome), res[i].detail);
	}
	int failures = 0;
	for (long k = 1;; k++) {
		struct sd_ctl_state *s;
		ck_assert_int_eq(sd_ctl_state_copy(base, &s), 0);
		sl_fault_arm(SL_FAULT_ALLOC, k, false);
		int rc = sd_ctl_apply_entry(s, 20, batch, blen, res, 4, &n);
		sl_fault_reset();
		ck_assert_int_eq(sd_ctl_state_check(s), 0);
		if (rc == 0) {
			ck_assert(sd_ctl_state_equal(s, want));
			sd_ctl_state_free(s);
			break;
		}
		ck_assert_int_eq(rc, SD_CTL_ENOMEM);
		failures++;
		/* A partly applied entry is not reported as applied. */
		ck_assert_uint_lt(sd_ctl_state_applied_index(s), 20);
		ck_assert_int_eq(sd_ctl_apply_entry(s, 20, batch, blen, res, 4, &n), 0);
		ck_assert_uint_eq(sd_ctl_state_applied_index(s), 20);
		ck_assert(sd_ctl_state_equal(s, want));
		ck_assert_uint_eq(sd_ctl_state_digest(s), sd_ctl_state_digest(want));
		sd_ctl_state_free(s);
	}
	ck_assert_int_gt(failures, 4);

	/* Copying fails cleanly at every allocation too. */
	for (long k = 1;; k++) {
		struct sd_ctl_state *s = NULL;
		sl_fault_arm(SL_FAULT_ALLOC, k, false);
		int rc = sd_ctl_state_copy(want, &s);
		sl_fault_reset();
		if (rc == 0) {
			ck_assert(sd_ctl_state_equal(s, want));
			sd_ctl_state_free(s);
			break;
		}
		ck_assert_int_eq(rc, SD_CTL_ENOMEM);
		ck_assert_ptr_null(s);
	}
	sd_ctl_state_free(base);
	sd_ctl_state_free(want);
	sl_free(batch);
}
END_TEST

START_TEST(test_apply_entry_kinds)
{
	struct sd_ctl_state *s = new_state();
	uint8_t *barrier;
	size_t barlen;
	ck_assert_int_eq(rl_control_batch_build(RL_KIND_BARRIER, NULL, 0, 0, &barrier, &barlen), 0);
	struct sd_ctl_result res;
	int32_t n;
	ck_assert_int_eq(sd_ctl_apply_entry(s, 1, barrier, barlen, &res, 1, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(res.outcome, SD_CTL_OUTCOME_NOT_A_COMMAND);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 1);
	ck_assert_int_eq(sd_ctl_apply_entry(s, 1, barrier, barlen, &res, 1, &n), 0);
	ck_assert_int_eq(res.outcome, SD_CTL_OUTCOME_STALE_POSITION);
	/* Garbage is one MALFORMED no-op. */
	uint8_t junk[100];
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_eq(sd_ctl_apply_entry(s, 2, junk, sizeof(junk), &res, 1, &n), 0);
	ck_assert_int_eq(res.outcome, SD_CTL_OUTCOME_MALFORMED);
	ck_assert_uint_eq(sd_ctl_state_applied_index(s), 2);
	/* Results beyond the capacity are counted but not stored. */
	struct sd_ctl_cmd cmds[2] = {reg_cmd(1, "r", "k", 1), reg_cmd(1, "r", "k", 1)};
	uint8_t *batch;
	size_t blen;
	ck_assert_int_eq(sd_ctl_batch_build(cmds, 2, 0, &batch, &blen), 0);
	ck_assert_int_eq(sd_ctl_apply_entry(s, 3, batch, blen, &res, 1, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(res.outcome, SD_CTL_OUTCOME_APPLIED);
	ck_assert_int_eq(sd_ctl_apply_entry(s, 3, batch, blen, NULL, 0, NULL), 0);
	ck_assert_int_eq(sd_ctl_apply_entry(s, 0, batch, blen, NULL, 0, NULL), SD_CTL_EINVAL);
	ck_assert_uint_eq(sd_ctl_state_applied_seq(s), 1);
	sd_ctl_state_free(s);
	sl_free(batch);
	sl_free(barrier);
}
END_TEST

Suite *ctl_state_suite(void)
{
	Suite *s = suite_create("ctl_state");
	TCase *codec = tcase_create("codec");
	tcase_add_test(codec, test_error_tables);
	tcase_add_test(codec, test_topic_names);
	tcase_add_test(codec, test_roundtrip_every_command);
	tcase_add_test(codec, test_roundtrip_fields);
	tcase_add_test(codec, test_roundtrip_limits);
	tcase_add_test(codec, test_decode_every_truncation);
	tcase_add_test(codec, test_decode_version_and_type);
	tcase_add_test(codec, test_decode_huge_counts);
	tcase_add_test(codec, test_decode_semantic_checks);
	tcase_add_test(codec, test_decode_hostile_random);
	tcase_add_test(codec, test_decode_alloc_failures);
	suite_add_tcase(s, codec);
	TCase *entry = tcase_create("entry");
	tcase_add_test(entry, test_batch_roundtrip);
	tcase_add_test(entry, test_batch_hostile);
	tcase_add_test(entry, test_batch_command_limit);
	suite_add_tcase(s, entry);
	TCase *apply = tcase_create("apply");
	tcase_add_test(apply, test_apply_brokers);
	tcase_add_test(apply, test_apply_create_delete);
	tcase_add_test(apply, test_group_ids_never_reused);
	tcase_add_test(apply, test_racing_creates);
	tcase_add_test(apply, test_apply_alter);
	tcase_add_test(apply, test_apply_partitions_and_reassign);
	tcase_add_test(apply, test_apply_position);
	tcase_add_test(apply, test_determinism_and_replay);
	tcase_add_test(apply, test_apply_entry_alloc_failures);
	tcase_add_test(apply, test_apply_entry_kinds);
	suite_add_tcase(s, apply);
	return s;
}
