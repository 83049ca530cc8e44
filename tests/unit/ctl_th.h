/* Fixtures shared by the controller-state tests (test_ctl_state.c and
 * test_ctl_plan.c): hand-built commands, an applying helper that checks the
 * outcome and the state's invariants, and a six-broker three-region state. */
#ifndef SL_TEST_CTL_TH_H
#define SL_TEST_CTL_TH_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ctl_state.h"

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                  */
/* ------------------------------------------------------------------------ */

#define MAX_PARTS 64

static inline void fill_id(uint8_t id[SD_CTL_TOPIC_ID_BYTES], uint8_t b)
{
	memset(id, b, SD_CTL_TOPIC_ID_BYTES);
}

static inline struct sd_ctl_cmd reg_cmd(int32_t id, const char *region, const char *rack,
					uint64_t inc)
{
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_REGISTER_BROKER};
	c.u.register_broker = (struct sd_ctl_broker){
	    .id = id,
	    .region = region,
	    .rack = rack,
	    .kafka = {"kafka.example", (uint16_t)(9092 + id)},
	    .rpc = {"10.0.0.1", (uint16_t)(9093 + id)},
	    .incarnation = inc,
	};
	return c;
}

/* A CREATE_TOPIC command whose storage lives in the fixture. Partition p's
 * replicas are brokers[(p + r) % n_brokers]. */
struct topic_fx {
	struct sd_ctl_partition parts[MAX_PARTS];
	struct sd_ctl_config cfg[4];
	struct sd_ctl_cmd cmd;
};

static inline struct sd_ctl_cmd *topic_cmd(struct topic_fx *fx, const char *name, uint8_t id_byte,
					   int32_t n, int32_t rf, uint64_t first_group,
					   const int32_t *brokers, int n_brokers)
{
	memset(fx, 0, sizeof(*fx));
	ck_assert(n <= MAX_PARTS);
	for (int32_t p = 0; p < n; p++) {
		fx->parts[p].group_id = first_group + (uint64_t)p;
		fx->parts[p].n_replicas = rf;
		for (int32_t r = 0; r < rf; r++) {
			fx->parts[p].replicas[r] = brokers[(p + r) % n_brokers];
		}
	}
	fx->cfg[0] = (struct sd_ctl_config){"retention.ms", "3600000"};
	fx->cfg[1] = (struct sd_ctl_config){"cleanup.policy", "delete"};
	fx->cmd.type = SD_CTL_CMD_CREATE_TOPIC;
	struct sd_ctl_topic *t = &fx->cmd.u.create_topic;
	t->name = name;
	fill_id(t->id, id_byte);
	t->replication_factor = rf;
	t->n_configs = 2;
	t->configs = fx->cfg;
	t->n_partitions = n;
	t->partitions = fx->parts;
	return &fx->cmd;
}

static inline struct sd_ctl_cmd delete_cmd(const char *name, uint8_t id_byte)
{
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_DELETE_TOPIC};
	c.u.delete_topic.name = name;
	if (id_byte != 0) {
		fill_id(c.u.delete_topic.id, id_byte);
	}
	return c;
}

static inline struct sd_ctl_cmd reassign_cmd(const char *name, int32_t partition, const int32_t *r,
					     int32_t n)
{
	struct sd_ctl_cmd c = {.type = SD_CTL_CMD_REASSIGN};
	c.u.reassign.topic.name = name;
	c.u.reassign.partition = partition;
	c.u.reassign.n_replicas = n;
	memcpy(c.u.reassign.replicas, r, (size_t)n * sizeof(*r));
	return c;
}

static inline struct sd_ctl_state *new_state(void)
{
	struct sd_ctl_state *s = NULL;
	ck_assert_int_eq(sd_ctl_state_new(&s), 0);
	return s;
}

/* Applies cmd at index and checks the outcome and the invariants. */
static inline void apply_expect(struct sd_ctl_state *s, uint64_t index,
				const struct sd_ctl_cmd *cmd, enum sd_ctl_outcome want,
				const char *where)
{
	struct sd_ctl_result res;
	ck_assert_int_eq(sd_ctl_apply(s, index, cmd, &res), 0);
	ck_assert_msg(res.outcome == want, "%s: outcome %s (%s), want %s", where,
		      sd_ctl_outcome_name(res.outcome), res.detail, sd_ctl_outcome_name(want));
	ck_assert_int_eq(sd_ctl_state_check(s), 0);
}

#define APPLY(s, idx, cmd, want) apply_expect((s), (idx), (cmd), SD_CTL_OUTCOME_##want, #cmd)

/* Six brokers: two per region, each in its own rack. */
static const char *const REGION6[6] = {"us-east", "us-east",  "eu-west",
				       "eu-west", "ap-south", "ap-south"};
static const char *const RACK6[6] = {"us-east-1a", "us-east-1b",  "eu-west-1a",
				     "eu-west-1b", "ap-south-1a", "ap-south-1b"};
static const int32_t LIVE6[6] = {1, 2, 3, 4, 5, 6};

/* Registers brokers 1..6 at indexes 1..6. */
static inline struct sd_ctl_state *six_brokers(void)
{
	struct sd_ctl_state *s = new_state();
	for (int i = 0; i < 6; i++) {
		struct sd_ctl_cmd c = reg_cmd(i + 1, REGION6[i], RACK6[i], 1);
		APPLY(s, (uint64_t)i + 1, &c, APPLIED);
	}
	return s;
}

/* Encodes cmd into a fresh buffer. */
static inline uint8_t *encode(const struct sd_ctl_cmd *cmd, size_t *len)
{
	size_t size;
	ck_assert_int_eq(sd_ctl_cmd_encoded_size(cmd, &size), 0);
	uint8_t *buf = malloc(size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(sd_ctl_cmd_encode(cmd, buf, size, len), 0);
	ck_assert_uint_eq(*len, size);
	return buf;
}

#endif /* SL_TEST_CTL_TH_H */
