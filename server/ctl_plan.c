/* Planning on the controller leader: checks a CreateTopics or
 * CreatePartitions request against Kafka's rules and the state, asks
 * placement for replica assignments over the registered brokers the leader
 * believes alive, and turns the result into a command to submit. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"

/* The topic config that holds the leader preference. */
#define PREF_KEY "leaders.preference"

__attribute__((format(printf, 3, 4))) static int refuse(struct sd_ctl_plan_result *res,
							int16_t code, const char *fmt, ...)
{
	va_list ap;
	res->error_code = code;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return SD_CTL_EREFUSED;
}

/* ---- Request checks ----------------------------------------------------- */

/* Explains why a topic name breaks Kafka's rule. */
static int refuse_name(const char *name, struct sd_ctl_plan_result *res)
{
	const int16_t code = SD_CTL_KAFKA_INVALID_TOPIC_EXCEPTION;
	if (name == NULL || name[0] == '\0') {
		return refuse(res, code, "topic name is empty");
	}
	size_t n = strnlen(name, SD_CTL_TOPIC_NAME_MAX + 1);
	if (n > SD_CTL_TOPIC_NAME_MAX) {
		return refuse(res, code, "topic name is longer than %d characters",
			      SD_CTL_TOPIC_NAME_MAX);
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		return refuse(res, code, "topic name cannot be '.' or '..'");
	}
	return refuse(res, code,
		      "topic name '%.64s' is illegal: it may only contain ASCII alphanumerics, "
		      "'.', '_' and '-'",
		      name);
}

/* Returns an existing topic whose name equals name once '.' and '_' are
 * taken as the same character (Kafka refuses these: their metric names
 * collide), or NULL. */
static const struct sd_ctl_topic *colliding(const struct sd_ctl_state *s, const char *name)
{
	if (strpbrk(name, "._") == NULL) {
		return NULL;
	}
	size_t n = strlen(name);
	for (int32_t i = 0; i < s->n_topics; i++) {
		const char *o = s->by_name[i]->name;
		if (strlen(o) != n) {
			continue;
		}
		size_t k = 0;
		while (k < n && (o[k] == name[k] ||
				 (strchr("._", o[k]) != NULL && strchr("._", name[k]) != NULL))) {
			k++;
		}
		if (k == n) {
			return s->by_name[i];
		}
	}
	return NULL;
}

/* Checks the request's configs and finds the leader preference in them. */
static int check_configs(const struct sd_ctl_config *c, int32_t n, const char **pref_value,
			 struct sd_ctl_plan_result *res)
{
	const int16_t code = SD_CTL_KAFKA_INVALID_CONFIG;
	*pref_value = NULL;
	if (n < 0 || n > SD_CTL_CONFIGS_MAX) {
		return refuse(res, code, "%d configs given, limit %d", n, SD_CTL_CONFIGS_MAX);
	}
	if (n > 0 && c == NULL) {
		return SD_CTL_EINVAL;
	}
	for (int32_t i = 0; i < n; i++) {
		if (!sd__token_valid(c[i].key, SD_CTL_CONFIG_KEY_MAX)) {
			return refuse(res, code, "config key '%.64s' is invalid",
				      c[i].key != NULL ? c[i].key : "");
		}
		if (!sd__config_value_valid(c[i].value)) {
			return refuse(res, code, "config '%s' has no value or one over %d bytes",
				      c[i].key, SD_CTL_CONFIG_VALUE_MAX);
		}
		for (int32_t j = 0; j < i; j++) {
			if (strcmp(c[i].key, c[j].key) == 0) {
				return refuse(res, code, "config '%s' is given twice", c[i].key);
			}
		}
		if (strcmp(c[i].key, PREF_KEY) == 0) {
			*pref_value = c[i].value;
		}
	}
	return 0;
}

/* ---- Placement ---------------------------------------------------------- */

/* What assign() needs besides the state. */
struct assign_in {
	const char *pref_value; /* leaders.preference, NULL for none */
	int32_t partitions;
	int32_t replication_factor;
	const int32_t *live;
	int32_t n_live;
	uint64_t seed;
	unsigned refuse_warnings;
};

/* Builds the topology of the registered brokers, alive when listed in
 * in->live; *n_alive counts them. */
static int make_topology(const struct sd_ctl_state *s, const struct assign_in *in,
			 struct pl_topology **t, int32_t *n_alive, struct sd_ctl_plan_result *res)
{
	struct pl_broker *b = sl_calloc((size_t)s->n_brokers + 1, sizeof(*b));
	if (b == NULL) {
		return SD_CTL_ENOMEM;
	}
	for (int32_t i = 0; i < s->n_brokers; i++) {
		b[i] = (struct pl_broker){s->brokers[i].id, s->brokers[i].region,
					  s->brokers[i].rack, false};
	}
	*n_alive = 0;
	for (int32_t i = 0; i < in->n_live; i++) {
		int32_t pos = sd__broker_pos(s, in->live[i]);
		if (pos >= 0 && !b[pos].alive) {
			b[pos].alive = true;
			++*n_alive;
		}
	}
	int rc = pl_topology_new(b, s->n_brokers, t, res->message, sizeof(res->message));
	sl_free(b);
	if (rc == PL_ERR_NOMEM) {
		return SD_CTL_ENOMEM;
	}
	return rc == 0 ? 0 : SD_CTL_EPLACEMENT;
}

/* Tallies every topic's replicas and leaders per registered broker. */
static struct pl_broker_load *make_load(const struct sd_ctl_state *s)
{
	struct pl_broker_load *load = sl_calloc((size_t)s->n_brokers + 1, sizeof(*load));
	if (load == NULL) {
		return NULL;
	}
	for (int32_t i = 0; i < s->n_brokers; i++) {
		load[i].broker_id = s->brokers[i].id;
	}
	for (int32_t i = 0; i < s->n_groups; i++) {
		const struct sd_ctl_partition *p =
		    &s->groups[i].topic->partitions[s->groups[i].partition];
		for (int32_t r = 0; r < p->n_replicas; r++) {
			int32_t pos = sd__broker_pos(s, p->replicas[r]);
			if (pos >= 0) {
				load[pos].replicas++;
				load[pos].leaders += r == 0;
			}
		}
	}
	return load;
}

/* Maps a pl_assign() failure to a refusal or an error. */
static int assign_failed(int rc, const struct pl_assignment *a, const struct assign_in *in,
			 struct sd_ctl_plan_result *res)
{
	switch (rc) {
	case PL_ERR_NOMEM:
		return SD_CTL_ENOMEM;
	case PL_ERR_NOT_ENOUGH_BROKERS:
		return refuse(res, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR,
			      "replication factor %d: %s", in->replication_factor, a->detail);
	case PL_ERR_PREF_UNSATISFIABLE:
		return refuse(res, SD_CTL_KAFKA_POLICY_VIOLATION, "%s", a->detail);
	default:
		snprintf(res->message, sizeof(res->message), "placement: %s: %s", pl_err_name(rc),
			 a->detail);
		return SD_CTL_EPLACEMENT;
	}
}

/* Runs placement for in->partitions new partitions; on success *a owns the
 * rows and res carries the warnings. */
static int assign_with(const struct sd_ctl_state *s, const struct assign_in *in,
		       const struct pl_preference *pref, struct pl_topology *t,
		       struct pl_assignment *a, struct sd_ctl_plan_result *res)
{
	char why[PL_ERRMSG_BYTES] = "";
	int rc = pl_preference_check(pref, t, NULL, why, sizeof(why));
	if (rc != 0) {
		return refuse(res, SD_CTL_KAFKA_POLICY_VIOLATION, "%s", why);
	}
	struct pl_broker_load *load = make_load(s);
	if (load == NULL) {
		return SD_CTL_ENOMEM;
	}
	struct pl_assign_req req = {
	    .topology = t,
	    .preference = pref,
	    .partitions = in->partitions,
	    .replication_factor = in->replication_factor,
	    .load = load,
	    .n_load = s->n_brokers,
	    .seed = in->seed,
	};
	rc = pl_assign(&req, a);
	sl_free(load);
	if (rc != 0) {
		return assign_failed(rc, a, in, res);
	}
	res->warnings = a->warnings;
	if ((a->warnings & in->refuse_warnings) != 0) {
		rc = refuse(res, SD_CTL_KAFKA_POLICY_VIOLATION, "placement refused: %s", a->detail);
		pl_assignment_free(a);
		return rc;
	}
	if (a->warnings != 0) {
		snprintf(res->message, sizeof(res->message), "placement warning: %s", a->detail);
	}
	return 0;
}

static int assign(const struct sd_ctl_state *s, const struct assign_in *in, struct pl_assignment *a,
		  struct sd_ctl_plan_result *res)
{
	struct pl_preference pref;
	char why[PL_ERRMSG_BYTES] = "";
	if (pl_preference_parse(in->pref_value, &pref, why, sizeof(why)) != 0) {
		return refuse(res, SD_CTL_KAFKA_INVALID_CONFIG, "%s", why);
	}
	struct pl_topology *t = NULL;
	int32_t n_alive;
	int rc = make_topology(s, in, &t, &n_alive, res);
	if (rc != 0) {
		return rc;
	}
	if (in->replication_factor > n_alive) {
		pl_topology_free(t);
		return refuse(res, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR,
			      "replication factor %d is larger than the %d live brokers",
			      in->replication_factor, n_alive);
	}
	rc = assign_with(s, in, &pref, t, a, res);
	pl_topology_free(t);
	return rc;
}

static uint64_t id_seed(const uint8_t *id, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ull ^ salt;
	for (int i = 0; i < SD_CTL_TOPIC_ID_BYTES; i++) {
		h = (h ^ id[i]) * 0x100000001b3ull;
	}
	return h;
}

/* Fills n partitions from assignment rows, group ids from first. */
static void fill_parts(struct sd_ctl_partition *p, const struct pl_assignment *a, int32_t n,
		       uint64_t first)
{
	for (int32_t i = 0; i < n; i++) {
		p[i].group_id = first + (uint64_t)i;
		p[i].n_replicas = a->replication_factor;
		memcpy(p[i].replicas, pl_assignment_row(a, i),
		       (size_t)a->replication_factor * sizeof(int32_t));
	}
}

/* The first group id a plan may use. */
static uint64_t first_group(const struct sd_ctl_state *s, uint64_t wanted)
{
	return wanted > s->next_group_id ? wanted : s->next_group_id;
}

/* ---- Create topic ------------------------------------------------------- */

static int check_topic_req(const struct sd_ctl_state *s, const struct sd_ctl_plan_topic_req *req,
			   const char **pref_value, struct sd_ctl_plan_result *res)
{
	if (req->topic_id == NULL || sd__id_zero(req->topic_id)) {
		return SD_CTL_EINVAL;
	}
	if (!sd_ctl_topic_name_valid(req->name)) {
		return refuse_name(req->name, res);
	}
	if (sd__topic_name_pos(s, req->name) >= 0) {
		return refuse(res, SD_CTL_KAFKA_TOPIC_ALREADY_EXISTS, "topic '%s' already exists",
			      req->name);
	}
	const struct sd_ctl_topic *o = colliding(s, req->name);
	if (o != NULL) {
		return refuse(res, SD_CTL_KAFKA_INVALID_TOPIC_EXCEPTION,
			      "topic '%s' collides with existing topic '%s' ('.' and '_' "
			      "are the same in metric names)",
			      req->name, o->name);
	}
	if (sd__topic_id_pos(s, req->topic_id) >= 0) {
		return SD_CTL_EEXIST;
	}
	if (req->partitions < 1 || req->partitions > SD_CTL_TOPIC_PARTITIONS_MAX) {
		return refuse(res, SD_CTL_KAFKA_INVALID_PARTITIONS,
			      "number of partitions must be 1..%d, not %d",
			      SD_CTL_TOPIC_PARTITIONS_MAX, req->partitions);
	}
	if (req->replication_factor < 1 ||
	    req->replication_factor > SD_CTL_REPLICATION_FACTOR_MAX) {
		return refuse(res, SD_CTL_KAFKA_INVALID_REPLICATION_FACTOR,
			      "replication factor must be 1..%d, not %d",
			      SD_CTL_REPLICATION_FACTOR_MAX, req->replication_factor);
	}
	return check_configs(req->configs, req->n_configs, pref_value, res);
}

/* Builds the CREATE_TOPIC command in an arena that *out then owns. */
static int build_create(const struct sd_ctl_plan_topic_req *req, const struct pl_assignment *a,
			uint64_t first, struct sd_ctl_cmd *out)
{
	struct sd__arena ar = {NULL};
	struct sd_ctl_topic *t = &out->u.create_topic;
	struct sd_ctl_config *c = sd__arena_alloc(&ar, (size_t)req->n_configs * sizeof(*c) + 1);
	struct sd_ctl_partition *p = sd__arena_alloc(&ar, (size_t)req->partitions * sizeof(*p));
	t->name = sd__arena_strndup(&ar, req->name, strlen(req->name));
	bool ok = c != NULL && p != NULL && t->name != NULL;
	for (int32_t i = 0; ok && i < req->n_configs; i++) {
		c[i].key = sd__arena_strndup(&ar, req->configs[i].key, strlen(req->configs[i].key));
		c[i].value =
		    sd__arena_strndup(&ar, req->configs[i].value, strlen(req->configs[i].value));
		ok = c[i].key != NULL && c[i].value != NULL;
	}
	if (!ok) {
		sd__arena_release(ar.head);
		memset(out, 0, sizeof(*out));
		return SD_CTL_ENOMEM;
	}
	out->type = SD_CTL_CMD_CREATE_TOPIC;
	memcpy(t->id, req->topic_id, SD_CTL_TOPIC_ID_BYTES);
	t->replication_factor = req->replication_factor;
	t->n_configs = req->n_configs;
	t->configs = c;
	t->n_partitions = req->partitions;
	t->partitions = p;
	fill_parts(p, a, req->partitions, first);
	out->mem = ar.head;
	return 0;
}

int sd_ctl_plan_create_topic(const struct sd_ctl_state *s, const struct sd_ctl_plan_topic_req *req,
			     struct sd_ctl_cmd *out, struct sd_ctl_plan_result *res)
{
	SL_ASSERT(s != NULL && req != NULL && out != NULL && res != NULL);
	memset(out, 0, sizeof(*out));
	memset(res, 0, sizeof(*res));
	uint64_t first = first_group(s, req->first_group_id);
	res->next_group_id = first;
	const char *pref_value = NULL;
	int rc = check_topic_req(s, req, &pref_value, res);
	if (rc != 0) {
		return rc;
	}
	struct assign_in in = {
	    .pref_value = pref_value,
	    .partitions = req->partitions,
	    .replication_factor = req->replication_factor,
	    .live = req->live_brokers,
	    .n_live = req->live_brokers != NULL ? req->n_live : 0,
	    .seed = id_seed(req->topic_id, 0),
	    .refuse_warnings = req->refuse_warnings,
	};
	struct pl_assignment a;
	rc = assign(s, &in, &a, res);
	if (rc != 0) {
		return rc;
	}
	rc = build_create(req, &a, first, out);
	pl_assignment_free(&a);
	if (rc == 0) {
		res->next_group_id = first + (uint64_t)req->partitions;
	}
	return rc;
}

/* ---- Create partitions -------------------------------------------------- */

static int build_add(const struct sd_ctl_topic *t, const struct pl_assignment *a, int32_t n,
		     uint64_t first, struct sd_ctl_cmd *out)
{
	struct sd__arena ar = {NULL};
	struct sd_ctl_create_partitions *c = &out->u.create_partitions;
	struct sd_ctl_partition *p = sd__arena_alloc(&ar, (size_t)n * sizeof(*p));
	c->topic.name = sd__arena_strndup(&ar, t->name, strlen(t->name));
	if (p == NULL || c->topic.name == NULL) {
		sd__arena_release(ar.head);
		memset(out, 0, sizeof(*out));
		return SD_CTL_ENOMEM;
	}
	out->type = SD_CTL_CMD_CREATE_PARTITIONS;
	memcpy(c->topic.id, t->id, SD_CTL_TOPIC_ID_BYTES);
	c->first_index = t->n_partitions;
	c->n_partitions = n;
	c->partitions = p;
	fill_parts(p, a, n, first);
	out->mem = ar.head;
	return 0;
}

int sd_ctl_plan_create_partitions(const struct sd_ctl_state *s,
				  const struct sd_ctl_plan_partitions_req *req,
				  struct sd_ctl_cmd *out, struct sd_ctl_plan_result *res)
{
	SL_ASSERT(s != NULL && req != NULL && out != NULL && res != NULL);
	memset(out, 0, sizeof(*out));
	memset(res, 0, sizeof(*res));
	uint64_t first = first_group(s, req->first_group_id);
	res->next_group_id = first;
	const struct sd_ctl_topic *t = sd_ctl_state_topic_find(s, req->name);
	if (t == NULL) {
		return refuse(res, SD_CTL_KAFKA_UNKNOWN_TOPIC_OR_PARTITION, "no topic '%.64s'",
			      req->name != NULL ? req->name : "");
	}
	if (req->new_total <= t->n_partitions || req->new_total > SD_CTL_TOPIC_PARTITIONS_MAX) {
		return refuse(res, SD_CTL_KAFKA_INVALID_PARTITIONS,
			      "topic '%s' has %d partitions; the new count must be %d..%d, not %d",
			      t->name, t->n_partitions, t->n_partitions + 1,
			      SD_CTL_TOPIC_PARTITIONS_MAX, req->new_total);
	}
	int32_t n = req->new_total - t->n_partitions;
	struct assign_in in = {
	    .pref_value = sd_ctl_topic_config(t, PREF_KEY),
	    .partitions = n,
	    .replication_factor = t->replication_factor,
	    .live = req->live_brokers,
	    .n_live = req->live_brokers != NULL ? req->n_live : 0,
	    .seed = id_seed(t->id, (uint64_t)t->n_partitions),
	    .refuse_warnings = req->refuse_warnings,
	};
	struct pl_assignment a;
	int rc = assign(s, &in, &a, res);
	if (rc != 0) {
		return rc;
	}
	rc = build_add(t, &a, n, first, out);
	pl_assignment_free(&a);
	if (rc == 0) {
		res->next_group_id = first + (uint64_t)n;
	}
	return rc;
}
