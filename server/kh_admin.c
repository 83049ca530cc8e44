/* Kafka admin APIs: CreateTopics (v0-4), DeleteTopics (v0-3),
 * DescribeConfigs (v1-2) and AlterConfigs (v0-1).
 *
 * Happy path: each topic or resource of a request becomes one controller
 * call (sd_controller_*), answered once the controller leader committed the
 * change and this broker applied it, so a Metadata or DescribeConfigs that
 * follows sees it. The response goes out when every call has completed.
 * DescribeConfigs is answered from the applied state at once.
 * Failure modes: the controller's Kafka error code and message are passed
 * through per topic (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
 * INVALID_REPLICATION_FACTOR, INVALID_CONFIG, POLICY_VIOLATION, ...);
 * explicit replica assignments are refused with INVALID_REQUEST (placement
 * decides); resources other than topics get INVALID_REQUEST. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/kh.h"

#define RESOURCE_TOPIC 2

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

static void create_one(struct sd_broker *b, struct admin *a, bool validate_only,
		       const struct kmsg_create_topics_request_creatable_topic *t,
		       struct kmsg_create_topics_response_creatable_topic_result *out)
{
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	out->name = t->name;
	out->error_message = kmsg_str_null();
	out->num_partitions = t->num_partitions;
	out->replication_factor = t->replication_factor;
	out->configs.null = true;
	if (!sd_kstr_copy(&t->name, name, sizeof(name)) || !sd_ctl_topic_name_valid(name)) {
		out->error_code = KE_INVALID_TOPIC_EXCEPTION;
		out->error_message = kmsg_str_make("invalid topic name");
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
	for (int32_t i = 0; i < r->topics.count; i++) {
		kmsg_create_topics_response_creatable_topic_result_init(&resp->topics.items[i]);
		create_one(b, a, r->validate_only, &r->topics.items[i], &resp->topics.items[i]);
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

static void describe_one(struct sd_broker *b, struct sk_request *req, bool synonyms,
			 const struct kmsg_describe_configs_request_describe_configs_resource *res,
			 struct kmsg_describe_configs_response_describe_configs_result *out)
{
	out->resource_type = res->resource_type;
	out->resource_name = res->resource_name;
	out->error_message = kmsg_str_null();
	char name[SD_CTL_TOPIC_NAME_MAX + 1];
	const struct sd_ctl_topic *t = NULL;
	if (res->resource_type != RESOURCE_TOPIC) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = kmsg_str_make("only topic resources are supported");
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
	if (res->resource_type != RESOURCE_TOPIC) {
		out->error_code = KE_INVALID_REQUEST;
		out->error_message = kmsg_str_make("only topic resources are supported");
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
