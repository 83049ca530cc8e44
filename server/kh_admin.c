/* Kafka admin APIs: CreateTopics (v0-4), DeleteTopics (v0-3),
 * DescribeConfigs (v1-2) and AlterConfigs (v0-1).
 *
 * Happy path: each topic or resource of a request becomes one controller
 * call (sd_controller_*), answered once the controller leader committed the
 * change and this broker applied it, so a Metadata or DescribeConfigs that
 * follows sees it. The response goes out when every call has completed.
 * DescribeConfigs is answered from the applied state at once. A BROKER
 * resource is described from the configuration table: named by this
 * broker's id, every broker key with its effective value (source
 * STATIC_BROKER_CONFIG when the properties file or --set gave it, else
 * DEFAULT_CONFIG); named "", the cluster defaults (every key's default,
 * DEFAULT_CONFIG). Broker keys are read-only (static: applied at start) and
 * a sensitive key's value is never shown.
 * Failure modes: the controller's Kafka error code and message are passed
 * through per topic (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
 * INVALID_REPLICATION_FACTOR, INVALID_CONFIG, POLICY_VIOLATION, ...); a
 * topic named more than once in one CreateTopics gets INVALID_REQUEST at
 * every occurrence and is not created, as in Kafka; explicit replica
 * assignments are refused with INVALID_REQUEST (placement decides), and so
 * are creating or deleting the internal topic __consumer_offsets (its
 * coordinators create it; deleting it would lose committed offsets); a
 * BROKER resource naming another broker (or not a broker id), AlterConfigs
 * on any BROKER resource (broker configuration is static) and other
 * resource types get INVALID_REQUEST with a message saying why. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/kh.h"

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
/* Longest error message built for a request (longer ones are cut). */
#define ADMIN_MSG_BYTES 256

/* One request waiting on several controller calls. */
struct admin {
	struct sk_request *req;
	void *resp;
	unsigned outstanding;
	bool all_sent;
};

struct admin_call {
	struct admin *a;
	int16_t *code;
	struct kmsg_str *msg;
};

static void admin_maybe_finish(struct admin *a)
{
	if (a->all_sent && a->outstanding == 0) {
		sk_respond(a->req, a->resp);
		sl_free(a);
	}
}

static void call_done(void *data, int16_t err, const char *message)
{
	struct admin_call *c = data;
	struct admin *a = c->a;
	*c->code = err;
	if (err != 0 && c->msg != NULL && message != NULL && message[0] != '\0') {
		size_t n = strlen(message);
		char *copy = kmsg_arena_alloc(a->req->arena, n + 1);
		if (copy != NULL) {
			memcpy(copy, message, n + 1);
			*c->msg = kmsg_str_make(copy);
		}
	}
	sl_free(c);
	a->outstanding--;
	admin_maybe_finish(a);
}

static struct admin_call *new_call(struct admin *a, int16_t *code, struct kmsg_str *msg)
{
	struct admin_call *c = sl_calloc(1, sizeof(*c));
	if (c != NULL) {
		c->a = a;
		c->code = code;
		c->msg = msg;
		a->outstanding++;
	}
	return c;
}

static void call_failed(struct admin *a, struct admin_call *c)
{
	*c->code = KE_REQUEST_TIMED_OUT;
	sl_free(c);
	a->outstanding--;
}

/* A message in the request's arena (cut at ADMIN_MSG_BYTES), or a static
 * fallback when the arena is out of memory. */
__attribute__((format(printf, 2, 3))) static struct kmsg_str admin_msg(struct sk_request *req,
								       const char *fmt, ...)
{
	char *m = kmsg_arena_alloc(req->arena, ADMIN_MSG_BYTES);
	if (m == NULL) {
		return kmsg_str_make("invalid request");
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, ADMIN_MSG_BYTES, fmt, ap);
	va_end(ap);
	return kmsg_str_make(m);
}

static struct admin *admin_new(struct sk_request *req, void *resp)
{
	struct admin *a = sl_calloc(1, sizeof(*a));
	if (a != NULL) {
		a->req = req;
		a->resp = resp;
	}
	return a;
}

/* ---- CreateTopics --------------------------------------------------------- */

static int kstr_cmp(const struct kmsg_str *x, const struct kmsg_str *y)
{
	if (x->null || y->null) {
		return (int)y->null - (int)x->null;
	}
	int32_t n = SL_MIN(x->len, y->len);
	int c = n > 0 ? memcmp(x->ptr, y->ptr, (size_t)n) : 0;
	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int topic_cmp(const void *x, const void *y)
{
	const struct kmsg_create_topics_request_creatable_topic *const *a = x, *const *b = y;
	return kstr_cmp(&(*a)->name, &(*b)->name);
}

/* Marks dup[i] for every topic whose name occurs more than once (sorting
 * pointers: requests may name request.topics.max topics). Returns false
 * when out of memory. */
static bool find_duplicates(struct sk_request *req, const struct kmsg_create_topics_request *r,
			    bool *dup)
{
	int32_t n = r->topics.count;
	const struct kmsg_create_topics_request_creatable_topic **v =
		kmsg_arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*v));
	if (v == NULL) {
		return false;
	}
	for (int32_t i = 0; i < n; i++) {
		v[i] = &r->topics.items[i];
	}
	qsort(v, (size_t)n, sizeof(*v), topic_cmp);
	for (int32_t i = 1; i < n; i++) {
		if (kstr_cmp(&v[i - 1]->name, &v[i]->name) == 0) {
			dup[v[i - 1] - r->topics.items] = true;
			dup[v[i] - r->topics.items] = true;
		}
	}
	return true;
}

static void create_one(struct sd_broker *b, struct admin *a, bool validate_only, bool duplicate,
		       const struct kmsg_create_topics_request_creatable_topic *t,
		       struct kmsg_create_topics_response_creatable_topic_result *out)
{
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	out->name = t->name;
	out->error_message = kmsg_str_null();
	out->num_partitions = t->num_partitions;
	out->replication_factor = t->replication_factor;
	out->configs.null = true;
	if (duplicate) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = admin_msg(a->req,
					       "topic '%.*s' is named more than once in this "
					       "request; none of them is created",
					       t->name.null ? 0 : (int)SL_MIN(t->name.len, 200),
					       t->name.null ? "" : t->name.ptr);
		return;
	}
	if (!sd_kstr_copy(&t->name, name, sizeof(name)) || !sd_ctl_topic_name_valid(name)) {
		out->error_code = KE_INVALID_TOPIC_EXCEPTION;
		out->error_message = kmsg_str_make("invalid topic name");
		return;
	}
	if (strcmp(name, SD_OFFSETS_TOPIC) == 0) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = kmsg_str_make(SD_OFFSETS_TOPIC " is internal: the group "
						   "coordinator creates it");
		return;
	}
	if (t->assignments.count > 0) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = kmsg_str_make("replica assignments are chosen by placement");
		return;
	}
	int32_t nc = t->configs.count;
	struct sd_ctl_config *cf = kmsg_arena_alloc(a->req->arena, (size_t)(nc + 1) * sizeof(*cf));
	if (cf == NULL || nc > SD_CTL_CONFIGS_MAX) {
		out->error_code = KE_INVALID_REQUEST;
		return;
	}
	for (int32_t i = 0; i < nc; i++) {
		const struct kmsg_create_topics_request_createable_topic_config *c =
			&t->configs.items[i];
		char *k = kmsg_arena_alloc(a->req->arena, SD_CTL_CONFIG_KEY_MAX + 1);
		char *v = kmsg_arena_alloc(a->req->arena, SD_CTL_CONFIG_VALUE_MAX + 1);
		if (k == NULL || v == NULL || !sd_kstr_copy(&c->name, k, SD_CTL_CONFIG_KEY_MAX + 1) ||
		    !sd_kstr_copy(&c->value, v, SD_CTL_CONFIG_VALUE_MAX + 1)) {
			out->error_code = 40; /* INVALID_CONFIG */
			out->error_message = kmsg_str_make("config names and values must be set");
			return;
		}
		cf[i].key = k;
		cf[i].value = v;
	}
	struct sd_topic_intent in = {
		.name = name,
		.partitions = t->num_partitions,
		.replication_factor = t->replication_factor,
		.configs = cf,
		.n_configs = nc,
		.validate_only = validate_only,
	};
	struct admin_call *c = new_call(a, &out->error_code, &out->error_message);
	if (c == NULL) {
		out->error_code = KE_REQUEST_TIMED_OUT;
		return;
	}
	if (sd_controller_create_topic(b, &in, call_done, c) != 0) {
		call_failed(a, c);
	}
}

static void handle_create_topics(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_create_topics_request *r = req->body;
	struct kmsg_create_topics_response *resp = kmsg_arena_alloc(req->arena, sizeof(*resp));
	struct admin *a = resp ? admin_new(req, resp) : NULL;
	if (a == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	kmsg_api_lookup(KMSG_API_CREATE_TOPICS)->response_init(resp);
	resp->topics.count = r->topics.count;
	resp->topics.items =
		kmsg_arena_alloc(req->arena, (size_t)(r->topics.count + 1) * sizeof(*resp->topics.items));
	if (resp->topics.items == NULL) {
		sl_free(a);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	bool *dup = kmsg_arena_alloc(req->arena, (size_t)(r->topics.count + 1) * sizeof(*dup));
	if (dup == NULL || !find_duplicates(req, r, dup)) {
		sl_free(a);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < r->topics.count; i++) {
		kmsg_create_topics_response_creatable_topic_result_init(&resp->topics.items[i]);
		create_one(b, a, r->validate_only, dup[i], &r->topics.items[i],
			   &resp->topics.items[i]);
	}
	a->all_sent = true;
	admin_maybe_finish(a);
}

/* ---- DeleteTopics ----------------------------------------------------------- */

static void handle_delete_topics(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_delete_topics_request *r = req->body;
	bool v6 = req->api_version >= 6;
	int32_t n = v6 ? r->topics.count : r->topic_names.count;
	struct kmsg_delete_topics_response *resp = kmsg_arena_alloc(req->arena, sizeof(*resp));
	struct admin *a = resp ? admin_new(req, resp) : NULL;
	if (a == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	kmsg_api_lookup(KMSG_API_DELETE_TOPICS)->response_init(resp);
	resp->responses.count = n;
	resp->responses.items =
		kmsg_arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*resp->responses.items));
	if (resp->responses.items == NULL) {
		sl_free(a);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		struct kmsg_delete_topics_response_deletable_topic_result *out = &resp->responses.items[i];
		kmsg_delete_topics_response_deletable_topic_result_init(out);
		const struct kmsg_str *ks = v6 ? &r->topics.items[i].name : &r->topic_names.items[i];
		out->name = *ks;
		out->error_message = kmsg_str_null();
		char name[SD_CTL_TOPIC_NAME_MAX + 1];
		if (!sd_kstr_copy(ks, name, sizeof(name)) ||
		    sd_ctl_state_topic_find(sd_controller_state(b), name) == NULL) {
			out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		if (strcmp(name, SD_OFFSETS_TOPIC) == 0) {
			out->error_code = KE_INVALID_REQUEST;
			out->error_message = kmsg_str_make(
			    SD_OFFSETS_TOPIC " is internal: deleting it would lose every "
					     "committed offset");
			continue;
		}
		struct admin_call *c = new_call(a, &out->error_code, &out->error_message);
		if (c == NULL) {
			out->error_code = KE_REQUEST_TIMED_OUT;
		} else if (sd_controller_delete_topic(b, name, call_done, c) != 0) {
			call_failed(a, c);
		}
	}
	a->all_sent = true;
	admin_maybe_finish(a);
}

/* ---- DescribeConfigs ------------------------------------------------------ */

static bool key_wanted(const struct kmsg_describe_configs_request_describe_configs_resource *res,
		       const char *name)
{
	if (res->configuration_keys.null) {
		return true;
	}
	for (int32_t i = 0; i < res->configuration_keys.count; i++) {
		if (kmsg_str_eq(&res->configuration_keys.items[i], name)) {
			return true;
		}
	}
	return false;
}

/* Whether a BROKER resource names this broker (*defaults false) or the
 * cluster defaults, "" (*defaults true); else false with *err and *msg set. */
static bool broker_resource(struct sd_broker *b, struct sk_request *req, const struct kmsg_str *name,
			    bool *defaults, int16_t *err, struct kmsg_str *msg)
{
	*defaults = name->null || name->len == 0;
	if (*defaults) {
		return true;
	}
	char text[16];
	char *end = NULL;
	long id = -1;
	if (sd_kstr_copy(name, text, sizeof(text)) && text[0] >= '0' && text[0] <= '9') {
		id = strtol(text, &end, 10);
	}
	if (end == NULL || *end != '\0') {
		*err = KE_INVALID_REQUEST;
		*msg = admin_msg(req, "broker resource '%.*s' is not a broker id: name a broker id or \"\" "
				      "(cluster defaults)",
				 (int)SL_MIN(name->len, 64), name->ptr);
		return false;
	}
	if (id != b->id) {
		*err = KE_INVALID_REQUEST;
		*msg = admin_msg(req, "unexpected broker id %ld: this is broker %d; ask broker %ld, or "
				      "name %d or \"\" (cluster defaults) here",
				 id, (int)b->id, id, (int)b->id);
		return false;
	}
	return true;
}

/* Fills the synonyms of a broker key: the key itself where it was set,
 * then its default. Returns how many (at most 2). */
static int32_t broker_synonyms(const struct sd_config_key *k, const char *value, int8_t source,
			       bool sensitive,
			       struct kmsg_describe_configs_response_describe_configs_synonym *s)
{
	int32_t ns = 0;
	if (source != SD_KAFKA_SOURCE_DEFAULT) {
		kmsg_describe_configs_response_describe_configs_synonym_init(&s[ns]);
		s[ns].name = kmsg_str_make(k->name);
		s[ns].value = sensitive ? kmsg_str_null() : kmsg_str_make(value);
		s[ns].source = source;
		ns++;
	}
	if (k->default_value != NULL) {
		kmsg_describe_configs_response_describe_configs_synonym_init(&s[ns]);
		s[ns].name = kmsg_str_make(k->name);
		s[ns].value = sensitive ? kmsg_str_null() : kmsg_str_make(k->default_value);
		s[ns].source = SD_KAFKA_SOURCE_DEFAULT;
		ns++;
	}
	return ns;
}

/* DescribeConfigs of a BROKER resource, from the configuration table. */
static void describe_broker(struct sd_broker *b, struct sk_request *req, bool synonyms,
			    const struct kmsg_describe_configs_request_describe_configs_resource *res,
			    struct kmsg_describe_configs_response_describe_configs_result *out)
{
	bool defaults;
	if (!broker_resource(b, req, &res->resource_name, &defaults, &out->error_code,
			     &out->error_message)) {
		return;
	}
	size_t nk;
	const struct sd_config_key *keys = sd_config_keys(&nk);
	struct kmsg_describe_configs_response_describe_configs_resource_result *items =
		kmsg_arena_alloc(req->arena, (nk + 1) * sizeof(*items));
	struct kmsg_describe_configs_response_describe_configs_synonym *syn =
		kmsg_arena_alloc(req->arena, (nk + 1) * 2 * sizeof(*syn));
	if (items == NULL || syn == NULL) {
		out->error_code = KE_REQUEST_TIMED_OUT;
		return;
	}
	int32_t k = 0;
	for (size_t i = 0; i < nk; i++) {
		const struct sd_config_key *key = &keys[i];
		if (key->scope != SD_CONFIG_BROKER || !key_wanted(res, key->name) ||
		    (defaults && key->default_value == NULL)) {
			continue;
		}
		const char *value = defaults ? key->default_value : sd_config_str(b->cfg, key->name);
		int8_t source = defaults || sd_config_source_of(b->cfg, key->name) ==
						    SD_CONFIG_SOURCE_DEFAULT
					? SD_KAFKA_SOURCE_DEFAULT
					: SD_KAFKA_SOURCE_STATIC_BROKER;
		bool sensitive = (key->flags & SD_CONFIG_F_SENSITIVE) != 0;
		struct kmsg_describe_configs_response_describe_configs_resource_result *it = &items[k];
		kmsg_describe_configs_response_describe_configs_resource_result_init(it);
		it->name = kmsg_str_make(key->name);
		it->value = sensitive ? kmsg_str_null() : kmsg_str_make(value);
		it->read_only = true; /* static: set in the properties file, applied at start */
		it->is_default = req->api_version == 0 && source == SD_KAFKA_SOURCE_DEFAULT;
		it->config_source = source;
		it->is_sensitive = sensitive;
		it->config_type = sd_config_kafka_type(key);
		it->documentation = kmsg_str_make(key->description);
		it->synonyms.items = &syn[2 * k];
		it->synonyms.count =
			synonyms ? broker_synonyms(key, value, source, sensitive, &syn[2 * k]) : 0;
		k++;
	}
	out->configs.items = items;
	out->configs.count = k;
}

static void describe_one(struct sd_broker *b, struct sk_request *req, bool synonyms,
			 const struct kmsg_describe_configs_request_describe_configs_resource *res,
			 struct kmsg_describe_configs_response_describe_configs_result *out)
{
	out->resource_type = res->resource_type;
	out->resource_name = res->resource_name;
	out->error_message = kmsg_str_null();
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	const struct sd_ctl_topic *t = NULL;
	if (res->resource_type == RESOURCE_BROKER) {
		describe_broker(b, req, synonyms, res, out);
		return;
	}
	if (res->resource_type != RESOURCE_TOPIC) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = kmsg_str_make("only topic and broker resources are supported");
		return;
	}
	if (sd_kstr_copy(&res->resource_name, name, sizeof(name))) {
		t = sd_ctl_state_topic_find(sd_controller_state(b), name);
	}
	if (t == NULL) {
		out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	struct sd_config_kv kv[SD_CTL_CONFIGS_MAX];
	for (int32_t i = 0; i < t->n_configs && i < SD_CTL_CONFIGS_MAX; i++) {
		kv[i].name = t->configs[i].key;
		kv[i].value = t->configs[i].value;
	}
	struct sd_config_description *d =
		kmsg_arena_alloc(req->arena, SD_TOPIC_KEYS_MAX * sizeof(*d));
	struct kmsg_describe_configs_response_describe_configs_resource_result *items =
		kmsg_arena_alloc(req->arena, (SD_TOPIC_KEYS_MAX + 1) * sizeof(*items));
	struct kmsg_describe_configs_response_describe_configs_synonym *syn =
		kmsg_arena_alloc(req->arena, (SD_TOPIC_KEYS_MAX + 1) * 2 * sizeof(*syn));
	if (d == NULL || items == NULL || syn == NULL) {
		out->error_code = KE_REQUEST_TIMED_OUT;
		return;
	}
	int n = sd_topic_config_describe(b->cfg, kv, t->n_configs, d);
	int32_t k = 0;
	for (int i = 0; i < n; i++) {
		if (!key_wanted(res, d[i].name)) {
			continue;
		}
		struct kmsg_describe_configs_response_describe_configs_resource_result *it = &items[k];
		kmsg_describe_configs_response_describe_configs_resource_result_init(it);
		it->name = kmsg_str_make(d[i].name);
		it->value = kmsg_str_make(d[i].value);
		it->read_only = d[i].read_only;
		/* IsDefault exists in v0 only; v1+ say it with config_source. */
		it->is_default = req->api_version == 0 && d[i].is_default;
		it->config_source = d[i].source;
		it->is_sensitive = false;
		it->config_type = d[i].config_type;
		it->documentation = kmsg_str_make(d[i].documentation);
		int32_t ns = 0;
		struct kmsg_describe_configs_response_describe_configs_synonym *s = &syn[2 * k];
		if (synonyms && !d[i].is_default) {
			kmsg_describe_configs_response_describe_configs_synonym_init(&s[ns]);
			s[ns].name = it->name;
			s[ns].value = it->value;
			s[ns].source = SD_KAFKA_SOURCE_DYNAMIC_TOPIC;
			ns++;
		}
		if (synonyms && d[i].synonym != NULL) {
			kmsg_describe_configs_response_describe_configs_synonym_init(&s[ns]);
			s[ns].name = kmsg_str_make(d[i].synonym);
			s[ns].value = kmsg_str_make(d[i].synonym_value);
			s[ns].source = d[i].synonym_source;
			ns++;
		}
		it->synonyms.items = s;
		it->synonyms.count = ns;
		k++;
	}
	out->configs.items = items;
	out->configs.count = k;
}

static void handle_describe_configs(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_describe_configs_request *r = req->body;
	struct kmsg_describe_configs_response resp;
	kmsg_api_lookup(KMSG_API_DESCRIBE_CONFIGS)->response_init(&resp);
	resp.results.count = r->resources.count;
	resp.results.items = kmsg_arena_alloc(
		req->arena, (size_t)(r->resources.count + 1) * sizeof(*resp.results.items));
	if (resp.results.items == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < r->resources.count; i++) {
		kmsg_describe_configs_response_describe_configs_result_init(&resp.results.items[i]);
		describe_one(b, req, r->include_synonyms, &r->resources.items[i],
			     &resp.results.items[i]);
	}
	sk_respond(req, &resp);
}

/* ---- AlterConfigs ------------------------------------------------------------ */

static void alter_one(struct sd_broker *b, struct admin *a, bool validate_only,
		      const struct kmsg_alter_configs_request_alter_configs_resource *res,
		      struct kmsg_alter_configs_response_alter_configs_resource_response *out)
{
	out->resource_type = res->resource_type;
	out->resource_name = res->resource_name;
	out->error_message = kmsg_str_null();
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	bool defaults;
	if (res->resource_type == RESOURCE_BROKER &&
	    broker_resource(b, a->req, &res->resource_name, &defaults, &out->error_code,
			    &out->error_message)) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = admin_msg(a->req,
					       "broker configuration is static (applied at start): "
					       "set it in broker %d's properties file or with --set "
					       "and restart the broker",
					       (int)b->id);
		return;
	}
	if (res->resource_type != RESOURCE_TOPIC) {
		if (res->resource_type != RESOURCE_BROKER) {
			out->error_code = KE_INVALID_REQUEST;
			out->error_message = kmsg_str_make("only topic and broker resources are supported");
		}
		return;
	}
	const struct sd_ctl_topic *t = NULL;
	if (sd_kstr_copy(&res->resource_name, name, sizeof(name))) {
		t = sd_ctl_state_topic_find(sd_controller_state(b), name);
	}
	if (t == NULL) {
		out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	/* AlterConfigs replaces the whole set: keys not named go back to
	 * their defaults, so they are deleted. */
	int32_t n = res->configs.count;
	int32_t cap = n + t->n_configs + 1;
	struct sd_ctl_config *ops = kmsg_arena_alloc(a->req->arena, (size_t)cap * sizeof(*ops));
	if (ops == NULL || n > SD_CTL_CONFIGS_MAX) {
		out->error_code = KE_INVALID_REQUEST;
		return;
	}
	int32_t k = 0;
	for (int32_t i = 0; i < n; i++) {
		char *key = kmsg_arena_alloc(a->req->arena, SD_CTL_CONFIG_KEY_MAX + 1);
		char *val = kmsg_arena_alloc(a->req->arena, SD_CTL_CONFIG_VALUE_MAX + 1);
		if (key == NULL || val == NULL ||
		    !sd_kstr_copy(&res->configs.items[i].name, key, SD_CTL_CONFIG_KEY_MAX + 1)) {
			out->error_code = 40;
			return;
		}
		ops[k].key = key;
		ops[k].value = sd_kstr_copy(&res->configs.items[i].value, val,
					    SD_CTL_CONFIG_VALUE_MAX + 1)
				       ? val
				       : NULL;
		k++;
	}
	for (int32_t j = 0; j < t->n_configs; j++) {
		bool named = false;
		for (int32_t i = 0; i < n; i++) {
			named |= strcmp(ops[i].key, t->configs[j].key) == 0;
		}
		if (!named) {
			ops[k].key = t->configs[j].key;
			ops[k].value = NULL;
			k++;
		}
	}
	if (k == 0) {
		return; /* nothing set and nothing to reset */
	}
	struct admin_call *c = new_call(a, &out->error_code, &out->error_message);
	if (c == NULL) {
		out->error_code = KE_REQUEST_TIMED_OUT;
	} else if (sd_controller_alter_configs(b, name, ops, k, validate_only, call_done, c) != 0) {
		call_failed(a, c);
	}
}

static void handle_alter_configs(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_alter_configs_request *r = req->body;
	struct kmsg_alter_configs_response *resp = kmsg_arena_alloc(req->arena, sizeof(*resp));
	struct admin *a = resp ? admin_new(req, resp) : NULL;
	if (a == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	kmsg_api_lookup(KMSG_API_ALTER_CONFIGS)->response_init(resp);
	resp->responses.count = r->resources.count;
	resp->responses.items = kmsg_arena_alloc(
		req->arena, (size_t)(r->resources.count + 1) * sizeof(*resp->responses.items));
	if (resp->responses.items == NULL) {
		sl_free(a);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < r->resources.count; i++) {
		kmsg_alter_configs_response_alter_configs_resource_response_init(&resp->responses.items[i]);
		alter_one(b, a, r->validate_only, &r->resources.items[i], &resp->responses.items[i]);
	}
	a->all_sent = true;
	admin_maybe_finish(a);
}

void sd_kh_admin_register(struct sd_broker *b)
{
	sk_server_set_handler(b->kafka, KMSG_API_CREATE_TOPICS, handle_create_topics, b);
	sk_server_set_handler(b->kafka, KMSG_API_DELETE_TOPICS, handle_delete_topics, b);
	sk_server_set_handler(b->kafka, KMSG_API_DESCRIBE_CONFIGS, handle_describe_configs, b);
	sk_server_set_handler(b->kafka, KMSG_API_ALTER_CONFIGS, handle_alter_configs, b);
}
