/* Applying committed controller commands to the state: idempotent by (Raft
 * index, command number), deterministic, atomic per command (every
 * allocation happens before the first change), and tolerant of commands that
 * are invalid against the state, which become no-ops with a reason. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"

__attribute__((format(printf, 3, 4))) static void
say(struct sd_ctl_result *res, enum sd_ctl_outcome outcome, const char *fmt, ...)
{
	va_list ap;
	res->outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* ---- Brokers ------------------------------------------------------------ */

/* Returns a registered broker other than `except` whose rack is b's but whose
 * region is not, or NULL. */
static const struct sd_ctl_broker *rack_conflict(const struct sd_ctl_state *s,
						 const struct sd_ctl_broker *b, int32_t except)
{
	for (int32_t i = 0; i < s->n_brokers; i++) {
		const struct sd_ctl_broker *o = &s->brokers[i];
		if (o->id != except && strcmp(o->rack, b->rack) == 0 &&
		    strcmp(o->region, b->region) != 0) {
			return o;
		}
	}
	return NULL;
}

static bool same_broker(const struct sd_ctl_broker *a, const struct sd_ctl_broker *b)
{
	return strcmp(a->region, b->region) == 0 && strcmp(a->rack, b->rack) == 0 &&
	       strcmp(a->kafka.host, b->kafka.host) == 0 && a->kafka.port == b->kafka.port &&
	       strcmp(a->rpc.host, b->rpc.host) == 0 && a->rpc.port == b->rpc.port;
}

static int apply_register(struct sd_ctl_state *s, const struct sd_ctl_broker *b,
			  struct sd_ctl_result *res)
{
	int32_t pos = sd__broker_pos(s, b->id);
	if (pos >= 0) {
		const struct sd_ctl_broker *old = &s->brokers[pos];
		if (old->incarnation == b->incarnation && same_broker(old, b)) {
			say(res, SD_CTL_OUTCOME_UNCHANGED, "broker %d incarnation %llu", b->id,
			    (unsigned long long)b->incarnation);
			return 0;
		}
		if (old->incarnation >= b->incarnation) {
			say(res, SD_CTL_OUTCOME_STALE_INCARNATION,
			    "broker %d is registered with incarnation %llu, command has %llu",
			    b->id, (unsigned long long)old->incarnation,
			    (unsigned long long)b->incarnation);
			return 0;
		}
	} else if (s->n_brokers >= SD_CTL_BROKERS_MAX) {
		say(res, SD_CTL_OUTCOME_LIMIT, "%d brokers registered", s->n_brokers);
		return 0;
	}
	const struct sd_ctl_broker *o = rack_conflict(s, b, b->id);
	if (o != NULL) {
		say(res, SD_CTL_OUTCOME_RACK_REGION_CONFLICT,
		    "broker %d: rack '%s' is in region '%s' (broker %d), not '%s'", b->id, b->rack,
		    o->region, o->id, b->region);
		return 0;
	}
	struct sd_ctl_broker copy;
	if ((pos < 0 && sd__reserve((void **)&s->brokers, &s->brokers_cap, s->n_brokers + 1,
				    sizeof(*s->brokers)) != 0) ||
	    sd__broker_dup(&copy, b) != 0) {
		return SD_CTL_ENOMEM;
	}
	if (pos >= 0) {
		sd__broker_clear(&s->brokers[pos]);
	} else {
		pos = -pos - 1;
		memmove(&s->brokers[pos + 1], &s->brokers[pos],
			(size_t)(s->n_brokers - pos) * sizeof(*s->brokers));
		s->n_brokers++;
	}
	s->brokers[pos] = copy;
	return 0;
}

static void apply_unregister(struct sd_ctl_state *s, const struct sd_ctl_unregister_broker *u,
			     struct sd_ctl_result *res)
{
	int32_t pos = sd__broker_pos(s, u->broker_id);
	if (pos < 0) {
		say(res, SD_CTL_OUTCOME_UNKNOWN_BROKER, "broker %d is not registered",
		    u->broker_id);
		return;
	}
	uint64_t inc = s->brokers[pos].incarnation;
	if (u->incarnation != 0 && u->incarnation != inc) {
		say(res, SD_CTL_OUTCOME_STALE_INCARNATION,
		    "broker %d is registered with incarnation %llu, command has %llu", u->broker_id,
		    (unsigned long long)inc, (unsigned long long)u->incarnation);
		return;
	}
	sd__broker_clear(&s->brokers[pos]);
	memmove(&s->brokers[pos], &s->brokers[pos + 1],
		(size_t)(s->n_brokers - pos - 1) * sizeof(*s->brokers));
	s->n_brokers--;
}

/* ---- Topics ------------------------------------------------------------- */

/* Resolves a topic reference; on failure sets UNKNOWN_TOPIC and returns
 * NULL. */
static struct sd_ctl_topic *resolve(struct sd_ctl_state *s, const struct sd_ctl_topic_ref *ref,
				    struct sd_ctl_result *res)
{
	char want[33], have[33];
	sd__id_hex(ref->id, want);
	if (ref->name == NULL) {
		int32_t pos = sd__topic_id_pos(s, ref->id);
		if (pos < 0) {
			say(res, SD_CTL_OUTCOME_UNKNOWN_TOPIC, "no topic with id %s", want);
		}
		return pos >= 0 ? s->by_id[pos] : NULL;
	}
	int32_t pos = sd__topic_name_pos(s, ref->name);
	if (pos < 0) {
		say(res, SD_CTL_OUTCOME_UNKNOWN_TOPIC, "no topic '%s'", ref->name);
		return NULL;
	}
	struct sd_ctl_topic *t = s->by_name[pos];
	if (!sd__id_zero(ref->id) && memcmp(t->id, ref->id, SD_CTL_TOPIC_ID_BYTES) != 0) {
		sd__id_hex(t->id, have);
		say(res, SD_CTL_OUTCOME_UNKNOWN_TOPIC, "topic '%s' has id %s, not %s", ref->name,
		    have, want);
		return NULL;
	}
	return t;
}

/* Checks new partitions against the state: fresh group ids, registered
 * replicas and room in the state. Sets the outcome and returns false if one
 * fails. */
static bool parts_fit(const struct sd_ctl_state *s, const char *topic,
		      const struct sd_ctl_partition *p, int32_t n, struct sd_ctl_result *res)
{
	if (p[0].group_id < s->next_group_id) {
		say(res, SD_CTL_OUTCOME_GROUP_ID_USED, "topic '%s': group %llu is below %llu",
		    topic, (unsigned long long)p[0].group_id, (unsigned long long)s->next_group_id);
		return false;
	}
	if (s->n_groups > SD_CTL_PARTITIONS_MAX - n) {
		say(res, SD_CTL_OUTCOME_LIMIT, "topic '%s': %d partitions exist, limit %d", topic,
		    s->n_groups, SD_CTL_PARTITIONS_MAX);
		return false;
	}
	for (int32_t i = 0; i < n; i++) {
		for (int32_t r = 0; r < p[i].n_replicas; r++) {
			if (sd__broker_pos(s, p[i].replicas[r]) < 0) {
				say(res, SD_CTL_OUTCOME_UNKNOWN_BROKER,
				    "topic '%s': broker %d is not registered", topic,
				    p[i].replicas[r]);
				return false;
			}
		}
	}
	return true;
}

/* Appends the group index entries of partitions [first, first + n) of t,
 * whose group ids all exceed every existing one, and advances
 * next_group_id. groups must have room. */
static void add_groups(struct sd_ctl_state *s, struct sd_ctl_topic *t, int32_t first, int32_t n)
{
	for (int32_t p = first; p < first + n; p++) {
		s->groups[s->n_groups++] = (struct sd__group_ref){t->partitions[p].group_id, t, p};
	}
	s->next_group_id = t->partitions[first + n - 1].group_id + 1;
}

static int apply_create_topic(struct sd_ctl_state *s, const struct sd_ctl_topic *c,
			      struct sd_ctl_result *res)
{
	int32_t name_pos = sd__topic_name_pos(s, c->name);
	int32_t id_pos = sd__topic_id_pos(s, c->id);
	char hex[33];
	if (name_pos >= 0) {
		say(res, SD_CTL_OUTCOME_TOPIC_EXISTS, "topic '%s' exists", c->name);
		return 0;
	}
	if (id_pos >= 0) {
		sd__id_hex(c->id, hex);
		say(res, SD_CTL_OUTCOME_TOPIC_ID_EXISTS, "topic '%s': id %s is topic '%s'", c->name,
		    hex, s->by_id[id_pos]->name);
		return 0;
	}
	if (s->n_topics >= SD_CTL_TOPICS_MAX) {
		say(res, SD_CTL_OUTCOME_LIMIT, "topic '%s': %d topics exist", c->name, s->n_topics);
		return 0;
	}
	if (!parts_fit(s, c->name, c->partitions, c->n_partitions, res)) {
		return 0;
	}
	int32_t n = s->n_topics;
	if (sd__reserve((void **)&s->by_name, &s->name_cap, n + 1, sizeof(*s->by_name)) != 0 ||
	    sd__reserve((void **)&s->by_id, &s->id_cap, n + 1, sizeof(*s->by_id)) != 0 ||
	    sd__reserve((void **)&s->groups, &s->groups_cap, s->n_groups + c->n_partitions,
			sizeof(*s->groups)) != 0) {
		return SD_CTL_ENOMEM;
	}
	struct sd_ctl_topic *t = sd__topic_dup(c);
	if (t == NULL) {
		return SD_CTL_ENOMEM;
	}
	name_pos = -name_pos - 1;
	id_pos = -id_pos - 1;
	memmove(&s->by_name[name_pos + 1], &s->by_name[name_pos],
		(size_t)(n - name_pos) * sizeof(*s->by_name));
	memmove(&s->by_id[id_pos + 1], &s->by_id[id_pos], (size_t)(n - id_pos) * sizeof(*s->by_id));
	s->by_name[name_pos] = t;
	s->by_id[id_pos] = t;
	s->n_topics++;
	add_groups(s, t, 0, t->n_partitions);
	return 0;
}

static void apply_delete_topic(struct sd_ctl_state *s, const struct sd_ctl_topic_ref *ref,
			       struct sd_ctl_result *res)
{
	struct sd_ctl_topic *t = resolve(s, ref, res);
	if (t == NULL) {
		return;
	}
	int32_t name_pos = sd__topic_name_pos(s, t->name);
	int32_t id_pos = sd__topic_id_pos(s, t->id);
	SL_ASSERT(name_pos >= 0 && id_pos >= 0);
	int32_t n = --s->n_topics;
	memmove(&s->by_name[name_pos], &s->by_name[name_pos + 1],
		(size_t)(n - name_pos) * sizeof(*s->by_name));
	memmove(&s->by_id[id_pos], &s->by_id[id_pos + 1], (size_t)(n - id_pos) * sizeof(*s->by_id));
	int32_t kept = 0;
	for (int32_t i = 0; i < s->n_groups; i++) {
		if (s->groups[i].topic != t) {
			s->groups[kept++] = s->groups[i];
		}
	}
	s->n_groups = kept;
	sd__topic_free(t);
}

/* Computes the topic's configs after the alter operations into out (pointers
 * borrowed from t and a), in no particular order. Returns the count. */
static int32_t merge_configs(const struct sd_ctl_topic *t, const struct sd_ctl_alter_configs *a,
			     struct sd_ctl_config *out, bool *changed)
{
	int32_t n = t->n_configs;
	memcpy(out, t->configs, (size_t)n * sizeof(*out));
	*changed = false;
	for (int32_t i = 0; i < a->n_ops; i++) {
		int32_t at = -1;
		for (int32_t j = 0; j < n; j++) {
			if (strcmp(out[j].key, a->ops[i].key) == 0) {
				at = j;
			}
		}
		if (a->ops[i].value == NULL) {
			if (at >= 0) {
				out[at] = out[--n];
				*changed = true;
			}
		} else if (at < 0) {
			out[n++] = a->ops[i];
			*changed = true;
		} else if (strcmp(out[at].value, a->ops[i].value) != 0) {
			out[at].value = a->ops[i].value;
			*changed = true;
		}
	}
	return n;
}

static int apply_alter(struct sd_ctl_state *s, const struct sd_ctl_alter_configs *a,
		       struct sd_ctl_result *res)
{
	struct sd_ctl_topic *t = resolve(s, &a->topic, res);
	if (t == NULL) {
		return 0;
	}
	struct sd_ctl_config merged[2 * SD_CTL_CONFIGS_MAX];
	bool changed;
	int32_t n = merge_configs(t, a, merged, &changed);
	if (!changed) {
		say(res, SD_CTL_OUTCOME_UNCHANGED, "topic '%s': configs already so", t->name);
		return 0;
	}
	if (n > SD_CTL_CONFIGS_MAX) {
		say(res, SD_CTL_OUTCOME_LIMIT, "topic '%s': %d configs, limit %d", t->name, n,
		    SD_CTL_CONFIGS_MAX);
		return 0;
	}
	struct sd_ctl_config *fresh;
	if (sd__configs_dup(merged, n, &fresh) != 0) {
		return SD_CTL_ENOMEM;
	}
	sd__configs_free(t->configs, t->n_configs);
	t->configs = fresh;
	t->n_configs = n;
	return 0;
}

static int apply_create_partitions(struct sd_ctl_state *s, const struct sd_ctl_create_partitions *c,
				   struct sd_ctl_result *res)
{
	struct sd_ctl_topic *t = resolve(s, &c->topic, res);
	if (t == NULL) {
		return 0;
	}
	if (c->first_index != t->n_partitions) {
		say(res, SD_CTL_OUTCOME_PARTITION_COUNT_CHANGED,
		    "topic '%s' has %d partitions, command adds from %d", t->name, t->n_partitions,
		    c->first_index);
		return 0;
	}
	if (c->partitions[0].n_replicas != t->replication_factor) {
		say(res, SD_CTL_OUTCOME_REPLICATION_FACTOR_MISMATCH,
		    "topic '%s' has replication factor %d, new partitions have %d", t->name,
		    t->replication_factor, c->partitions[0].n_replicas);
		return 0;
	}
	if (!parts_fit(s, t->name, c->partitions, c->n_partitions, res)) {
		return 0;
	}
	int32_t total = t->n_partitions + c->n_partitions;
	if (sd__reserve((void **)&s->groups, &s->groups_cap, s->n_groups + c->n_partitions,
			sizeof(*s->groups)) != 0) {
		return SD_CTL_ENOMEM;
	}
	struct sd_ctl_partition *p =
	    sl_realloc((void *)(uintptr_t)t->partitions, (size_t)total * sizeof(*p));
	if (p == NULL) {
		return SD_CTL_ENOMEM;
	}
	sd__partitions_copy(&p[t->n_partitions], c->partitions, c->n_partitions);
	t->partitions = p;
	int32_t first = t->n_partitions;
	t->n_partitions = total;
	add_groups(s, t, first, c->n_partitions);
	return 0;
}

static void apply_reassign(struct sd_ctl_state *s, const struct sd_ctl_reassign *r,
			   struct sd_ctl_result *res)
{
	struct sd_ctl_topic *t = resolve(s, &r->topic, res);
	if (t == NULL) {
		return;
	}
	if (r->partition >= t->n_partitions) {
		say(res, SD_CTL_OUTCOME_UNKNOWN_PARTITION, "topic '%s' has %d partitions, not %d",
		    t->name, t->n_partitions, r->partition + 1);
		return;
	}
	for (int32_t i = 0; i < r->n_replicas; i++) {
		if (sd__broker_pos(s, r->replicas[i]) < 0) {
			say(res, SD_CTL_OUTCOME_UNKNOWN_BROKER,
			    "%s/%d: broker %d is not registered", t->name, r->partition,
			    r->replicas[i]);
			return;
		}
	}
	struct sd_ctl_partition *p =
	    (struct sd_ctl_partition *)(uintptr_t)&t->partitions[r->partition];
	if (p->n_replicas == r->n_replicas &&
	    memcmp(p->replicas, r->replicas, (size_t)r->n_replicas * sizeof(r->replicas[0])) == 0) {
		say(res, SD_CTL_OUTCOME_UNCHANGED, "%s/%d: replicas already so", t->name,
		    r->partition);
		return;
	}
	p->n_replicas = r->n_replicas;
	p->replica_epoch++;
	memset(p->replicas, 0, sizeof(p->replicas));
	memcpy(p->replicas, r->replicas, (size_t)r->n_replicas * sizeof(r->replicas[0]));
}

/* ---- Entry points ------------------------------------------------------- */

static int dispatch(struct sd_ctl_state *s, const struct sd_ctl_cmd *cmd, struct sd_ctl_result *res)
{
	switch (cmd->type) {
	case SD_CTL_CMD_REGISTER_BROKER:
		return apply_register(s, &cmd->u.register_broker, res);
	case SD_CTL_CMD_UNREGISTER_BROKER:
		apply_unregister(s, &cmd->u.unregister_broker, res);
		return 0;
	case SD_CTL_CMD_CREATE_TOPIC:
		return apply_create_topic(s, &cmd->u.create_topic, res);
	case SD_CTL_CMD_DELETE_TOPIC:
		apply_delete_topic(s, &cmd->u.delete_topic, res);
		return 0;
	case SD_CTL_CMD_ALTER_TOPIC_CONFIGS:
		return apply_alter(s, &cmd->u.alter_configs, res);
	case SD_CTL_CMD_CREATE_PARTITIONS:
		return apply_create_partitions(s, &cmd->u.create_partitions, res);
	case SD_CTL_CMD_REASSIGN:
		apply_reassign(s, &cmd->u.reassign, res);
		return 0;
	}
	SL_ASSERT(!"validated command of unknown type");
	return 0;
}

/* Returns true if (index, seq) is at or before the applied position. */
static bool stale(const struct sd_ctl_state *s, uint64_t index, uint32_t seq)
{
	return index < s->applied_index || (index == s->applied_index && seq <= s->applied_seq);
}

int sd__apply_at(struct sd_ctl_state *s, uint64_t index, uint32_t seq, bool complete,
		 const struct sd_ctl_cmd *cmd, struct sd_ctl_result *res)
{
	struct sd_ctl_result scratch;
	SL_ASSERT(s != NULL && cmd != NULL);
	if (res == NULL) {
		res = &scratch;
	}
	res->outcome = SD_CTL_OUTCOME_APPLIED;
	res->detail[0] = '\0';
	if (index == 0) {
		return SD_CTL_EINVAL;
	}
	if (stale(s, index, seq)) {
		say(res, SD_CTL_OUTCOME_STALE_POSITION, "position %llu.%u, applied %llu.%u",
		    (unsigned long long)index, seq, (unsigned long long)s->applied_index,
		    s->applied_seq);
		return 0;
	}
	int rc = sd_ctl_cmd_validate(cmd);
	if (rc != 0) {
		say(res, SD_CTL_OUTCOME_MALFORMED, "%s command: %s", sd_ctl_cmd_type_str(cmd->type),
		    sd_ctl_strerror(rc));
	} else {
		rc = dispatch(s, cmd, res);
		if (rc != 0) {
			res->outcome = SD_CTL_OUTCOME_APPLIED;
			res->detail[0] = '\0';
			return rc;
		}
	}
	s->applied_index = index;
	s->applied_seq = seq;
	s->applied_complete = complete;
	return 0;
}

int sd_ctl_apply(struct sd_ctl_state *s, uint64_t index, const struct sd_ctl_cmd *cmd,
		 struct sd_ctl_result *res)
{
	return sd__apply_at(s, index, 0, true, cmd, res);
}

/* Counts the entry's commands, decoding each. Returns the count, or a
 * negative error (SD_CTL_ENOMEM, or why the entry does not decode). */
static int32_t count_cmds(const uint8_t *buf, size_t len)
{
	struct sd_ctl_entry_iter it;
	struct sd_ctl_cmd cmd;
	int32_t n = 0;
	int rc = sd_ctl_entry_iter_init(&it, buf, len);
	while (rc == 0 && (rc = sd_ctl_entry_iter_next(&it, &cmd)) == 1) {
		sd_ctl_cmd_free(&cmd);
		n++;
		rc = 0;
	}
	sd_ctl_entry_iter_free(&it);
	return rc < 0 ? rc : n;
}

/* Records a whole-entry no-op (malformed or command-less) at (index, 0). */
static void skip_entry(struct sd_ctl_state *s, uint64_t index, enum sd_ctl_outcome why, int err,
		       struct sd_ctl_result *res)
{
	if (stale(s, index, 0)) {
		say(res, SD_CTL_OUTCOME_STALE_POSITION, "position %llu.0, applied %llu.%u",
		    (unsigned long long)index, (unsigned long long)s->applied_index,
		    s->applied_seq);
		return;
	}
	say(res, why, "entry %llu: %s", (unsigned long long)index,
	    err != 0 ? sd_ctl_strerror(err) : "no commands");
	s->applied_index = index;
	s->applied_seq = 0;
	s->applied_complete = true;
}

int sd_ctl_apply_entry(struct sd_ctl_state *s, uint64_t index, const uint8_t *buf, size_t len,
		       struct sd_ctl_result *results, int32_t results_cap, int32_t *n_results)
{
	struct sd_ctl_result scratch;
	SL_ASSERT(s != NULL && (results != NULL || results_cap == 0));
	if (n_results != NULL) {
		*n_results = 0;
	}
	if (index == 0 || (buf == NULL && len > 0)) {
		return SD_CTL_EINVAL;
	}
	int32_t n = count_cmds(buf, len);
	if (n == SD_CTL_ENOMEM) {
		return n;
	}
	if (n <= 0) {
		skip_entry(s, index,
			   n < 0 ? SD_CTL_OUTCOME_MALFORMED : SD_CTL_OUTCOME_NOT_A_COMMAND, n,
			   results_cap > 0 ? &results[0] : &scratch);
		if (n_results != NULL) {
			*n_results = 1;
		}
		return 0;
	}
	struct sd_ctl_entry_iter it;
	struct sd_ctl_cmd cmd;
	int rc = sd_ctl_entry_iter_init(&it, buf, len);
	for (int32_t k = 0; rc == 0 && k < n; k++) {
		rc = sd_ctl_entry_iter_next(&it, &cmd);
		if (rc != 1) {
			/* The first pass decoded the same bytes; only memory can
			 * fail now. */
			SL_ASSERT(rc == SD_CTL_ENOMEM);
			break;
		}
		rc = sd__apply_at(s, index, (uint32_t)k, k == n - 1, &cmd,
				  k < results_cap ? &results[k] : &scratch);
		sd_ctl_cmd_free(&cmd);
		if (rc == 0 && n_results != NULL) {
			*n_results = k + 1;
		}
	}
	sd_ctl_entry_iter_free(&it);
	return rc;
}
