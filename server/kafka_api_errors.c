/* Whole-request error responses: mirror a decoded request and report one
 * Kafka error code for each of its parts (pure; see kafka_api.h). */
#include <string.h>

#include "common/sl_common.h"
#include "server/kafka_api.h"

/* Every builder below takes the decoded request of `version` and fills the
 * response so that it encodes at that version: a field the version lacks
 * keeps its default unless the schema marks it ignorable. */

static int produce_error(const struct kmsg_produce_request *rq, int16_t ec, struct kmsg_arena *a,
			 struct kmsg_produce_response *rs)
{
	int rc;
	kmsg_produce_response_init(rs);
	int32_t nt = rq->topic_data.count;
	struct kmsg_produce_response_topic_produce_response *ts =
	    kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_produce_request_topic_produce_data *t = &rq->topic_data.items[i];
		kmsg_produce_response_topic_produce_response_init(&ts[i]);
		ts[i].name = t->name;
		int32_t np = t->partition_data.count;
		struct kmsg_produce_response_partition_produce_response *ps =
		    kmsg__arena_array(a, np, sizeof(*ps), &rc);
		if (rc < 0) {
			return rc;
		}
		for (int32_t j = 0; j < np; j++) {
			kmsg_produce_response_partition_produce_response_init(&ps[j]);
			ps[j].index = t->partition_data.items[j].index;
			ps[j].error_code = ec;
			ps[j].base_offset = -1;
		}
		ts[i].partition_responses.items = ps;
		ts[i].partition_responses.count = np;
	}
	rs->responses.items = ts;
	rs->responses.count = nt;
	return 0;
}

static int fetch_error(const struct kmsg_fetch_request *rq, int16_t ec, struct kmsg_arena *a,
		       struct kmsg_fetch_response *rs)
{
	int rc;
	kmsg_fetch_response_init(rs);
	rs->error_code = ec; /* v7+, ignorable before */
	int32_t nt = rq->topics.count;
	struct kmsg_fetch_response_fetchable_topic_response *ts =
	    kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_fetch_request_fetch_topic *t = &rq->topics.items[i];
		kmsg_fetch_response_fetchable_topic_response_init(&ts[i]);
		ts[i].topic = t->topic;
		ts[i].topic_id = t->topic_id;
		int32_t np = t->partitions.count;
		struct kmsg_fetch_response_partition_data *ps =
		    kmsg__arena_array(a, np, sizeof(*ps), &rc);
		if (rc < 0) {
			return rc;
		}
		for (int32_t j = 0; j < np; j++) {
			kmsg_fetch_response_partition_data_init(&ps[j]);
			ps[j].partition_index = t->partitions.items[j].partition;
			ps[j].error_code = ec;
			ps[j].high_watermark = -1;
			/* Empty, not null: some clients do not expect null records. */
			ps[j].records.null = false;
		}
		ts[i].partitions.items = ps;
		ts[i].partitions.count = np;
	}
	rs->responses.items = ts;
	rs->responses.count = nt;
	return 0;
}

static int list_offsets_error(const struct kmsg_list_offsets_request *rq, int16_t ec,
			      struct kmsg_arena *a, struct kmsg_list_offsets_response *rs)
{
	int rc;
	kmsg_list_offsets_response_init(rs);
	int32_t nt = rq->topics.count;
	struct kmsg_list_offsets_response_list_offsets_topic_response *ts =
	    kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_list_offsets_request_list_offsets_topic *t = &rq->topics.items[i];
		kmsg_list_offsets_response_list_offsets_topic_response_init(&ts[i]);
		ts[i].name = t->name;
		int32_t np = t->partitions.count;
		struct kmsg_list_offsets_response_list_offsets_partition_response *ps =
		    kmsg__arena_array(a, np, sizeof(*ps), &rc);
		if (rc < 0) {
			return rc;
		}
		for (int32_t j = 0; j < np; j++) {
			kmsg_list_offsets_response_list_offsets_partition_response_init(&ps[j]);
			ps[j].partition_index = t->partitions.items[j].partition_index;
			ps[j].error_code = ec;
		}
		ts[i].partitions.items = ps;
		ts[i].partitions.count = np;
	}
	rs->topics.items = ts;
	rs->topics.count = nt;
	return 0;
}

static int metadata_error(int16_t version, const struct kmsg_metadata_request *rq, int16_t ec,
			  struct kmsg_arena *a, struct kmsg_metadata_response *rs)
{
	int rc;
	kmsg_metadata_response_init(rs);
	int32_t nt = rq->topics.null ? 0 : rq->topics.count;
	struct kmsg_metadata_response_topic *ts = kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_metadata_request_topic *t = &rq->topics.items[i];
		kmsg_metadata_response_topic_init(&ts[i]);
		ts[i].error_code = ec;
		ts[i].name = t->name;
		/* Request names are nullable from v10, response names from v12. */
		if (ts[i].name.null && version < 12) {
			ts[i].name = kmsg_str_make("");
		}
		ts[i].topic_id = t->topic_id;
	}
	rs->topics.items = ts;
	rs->topics.count = nt;
	return 0;
}

static int offset_commit_error(const struct kmsg_offset_commit_request *rq, int16_t ec,
			       struct kmsg_arena *a, struct kmsg_offset_commit_response *rs)
{
	int rc;
	kmsg_offset_commit_response_init(rs);
	int32_t nt = rq->topics.count;
	struct kmsg_offset_commit_response_topic *ts = kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_offset_commit_request_topic *t = &rq->topics.items[i];
		kmsg_offset_commit_response_topic_init(&ts[i]);
		ts[i].name = t->name;
		int32_t np = t->partitions.count;
		struct kmsg_offset_commit_response_partition *ps =
		    kmsg__arena_array(a, np, sizeof(*ps), &rc);
		if (rc < 0) {
			return rc;
		}
		for (int32_t j = 0; j < np; j++) {
			kmsg_offset_commit_response_partition_init(&ps[j]);
			ps[j].partition_index = t->partitions.items[j].partition_index;
			ps[j].error_code = ec;
		}
		ts[i].partitions.items = ps;
		ts[i].partitions.count = np;
	}
	rs->topics.items = ts;
	rs->topics.count = nt;
	return 0;
}

/* OffsetFetch v0-7: one group, topics at the top level. */
static int offset_fetch_topics_error(const struct kmsg_offset_fetch_request *rq, int16_t ec,
				     struct kmsg_arena *a, struct kmsg_offset_fetch_response *rs)
{
	int rc;
	int32_t nt = rq->topics.null ? 0 : rq->topics.count;
	struct kmsg_offset_fetch_response_topic *ts = kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_offset_fetch_request_topic *t = &rq->topics.items[i];
		kmsg_offset_fetch_response_topic_init(&ts[i]);
		ts[i].name = t->name;
		int32_t np = t->partition_indexes.count;
		struct kmsg_offset_fetch_response_partition *ps =
		    kmsg__arena_array(a, np, sizeof(*ps), &rc);
		if (rc < 0) {
			return rc;
		}
		for (int32_t j = 0; j < np; j++) {
			kmsg_offset_fetch_response_partition_init(&ps[j]);
			ps[j].partition_index = t->partition_indexes.items[j];
			ps[j].committed_offset = -1;
			ps[j].error_code = ec;
		}
		ts[i].partitions.items = ps;
		ts[i].partitions.count = np;
	}
	rs->topics.items = ts;
	rs->topics.count = nt;
	rs->error_code = ec; /* v2-7, ignorable elsewhere */
	return 0;
}

/* OffsetFetch v8+: one error per group (Kafka does not list partitions). */
static int offset_fetch_groups_error(const struct kmsg_offset_fetch_request *rq, int16_t ec,
				     struct kmsg_arena *a, struct kmsg_offset_fetch_response *rs)
{
	int rc;
	int32_t ng = rq->groups.count;
	struct kmsg_offset_fetch_response_group *gs = kmsg__arena_array(a, ng, sizeof(*gs), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < ng; i++) {
		kmsg_offset_fetch_response_group_init(&gs[i]);
		gs[i].group_id = rq->groups.items[i].group_id;
		gs[i].error_code = ec;
	}
	rs->groups.items = gs;
	rs->groups.count = ng;
	return 0;
}

static int offset_fetch_error(int16_t version, const struct kmsg_offset_fetch_request *rq,
			      int16_t ec, struct kmsg_arena *a,
			      struct kmsg_offset_fetch_response *rs)
{
	kmsg_offset_fetch_response_init(rs);
	if (version >= 8) {
		return offset_fetch_groups_error(rq, ec, a, rs);
	}
	return offset_fetch_topics_error(rq, ec, a, rs);
}

static int find_coordinator_error(int16_t version, const struct kmsg_find_coordinator_request *rq,
				  int16_t ec, struct kmsg_arena *a,
				  struct kmsg_find_coordinator_response *rs)
{
	int rc;
	kmsg_find_coordinator_response_init(rs);
	if (version < 4) {
		rs->error_code = ec;
		rs->node_id = -1;
		rs->port = -1;
		return 0;
	}
	int32_t nk = rq->coordinator_keys.count;
	struct kmsg_find_coordinator_response_coordinator *cs =
	    kmsg__arena_array(a, nk, sizeof(*cs), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nk; i++) {
		kmsg_find_coordinator_response_coordinator_init(&cs[i]);
		cs[i].key = rq->coordinator_keys.items[i];
		cs[i].node_id = -1;
		cs[i].port = -1;
		cs[i].error_code = ec;
	}
	rs->coordinators.items = cs;
	rs->coordinators.count = nk;
	return 0;
}

static int create_topics_error(const struct kmsg_create_topics_request *rq, int16_t ec,
			       struct kmsg_arena *a, struct kmsg_create_topics_response *rs)
{
	int rc;
	kmsg_create_topics_response_init(rs);
	int32_t nt = rq->topics.count;
	struct kmsg_create_topics_response_creatable_topic_result *ts =
	    kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		kmsg_create_topics_response_creatable_topic_result_init(&ts[i]);
		ts[i].name = rq->topics.items[i].name;
		ts[i].error_code = ec;
	}
	rs->topics.items = ts;
	rs->topics.count = nt;
	return 0;
}

static int delete_topics_error(int16_t version, const struct kmsg_delete_topics_request *rq,
			       int16_t ec, struct kmsg_arena *a,
			       struct kmsg_delete_topics_response *rs)
{
	int rc;
	kmsg_delete_topics_response_init(rs);
	/* v0-5 name topics in topic_names, v6+ in topics (name or id). */
	int32_t nt = version >= 6 ? rq->topics.count : rq->topic_names.count;
	struct kmsg_delete_topics_response_deletable_topic_result *ts =
	    kmsg__arena_array(a, nt, sizeof(*ts), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < nt; i++) {
		kmsg_delete_topics_response_deletable_topic_result_init(&ts[i]);
		if (version >= 6) {
			ts[i].name = rq->topics.items[i].name;
			ts[i].topic_id = rq->topics.items[i].topic_id;
		} else {
			ts[i].name = rq->topic_names.items[i];
		}
		ts[i].error_code = ec;
	}
	rs->responses.items = ts;
	rs->responses.count = nt;
	return 0;
}

static int describe_configs_error(const struct kmsg_describe_configs_request *rq, int16_t ec,
				  struct kmsg_arena *a, struct kmsg_describe_configs_response *rs)
{
	int rc;
	kmsg_describe_configs_response_init(rs);
	int32_t n = rq->resources.count;
	struct kmsg_describe_configs_response_describe_configs_result *xs =
	    kmsg__arena_array(a, n, sizeof(*xs), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < n; i++) {
		kmsg_describe_configs_response_describe_configs_result_init(&xs[i]);
		xs[i].error_code = ec;
		xs[i].error_message = kmsg_str_null();
		xs[i].resource_type = rq->resources.items[i].resource_type;
		xs[i].resource_name = rq->resources.items[i].resource_name;
	}
	rs->results.items = xs;
	rs->results.count = n;
	return 0;
}

static int alter_configs_error(const struct kmsg_alter_configs_request *rq, int16_t ec,
			       struct kmsg_arena *a, struct kmsg_alter_configs_response *rs)
{
	int rc;
	kmsg_alter_configs_response_init(rs);
	int32_t n = rq->resources.count;
	struct kmsg_alter_configs_response_alter_configs_resource_response *xs =
	    kmsg__arena_array(a, n, sizeof(*xs), &rc);
	if (rc < 0) {
		return rc;
	}
	for (int32_t i = 0; i < n; i++) {
		kmsg_alter_configs_response_alter_configs_resource_response_init(&xs[i]);
		xs[i].error_code = ec;
		xs[i].error_message = kmsg_str_null();
		xs[i].resource_type = rq->resources.items[i].resource_type;
		xs[i].resource_name = rq->resources.items[i].resource_name;
	}
	rs->responses.items = xs;
	rs->responses.count = n;
	return 0;
}

/* The group APIs and InitProducerId answer with one top-level error code. */
static int top_level_error(int16_t api_key, int16_t ec, void *response)
{
	switch (api_key) {
	case KMSG_API_JOIN_GROUP: {
		struct kmsg_join_group_response *rs = response;
		kmsg_join_group_response_init(rs);
		rs->error_code = ec;
		return 0;
	}
	case KMSG_API_HEARTBEAT: {
		struct kmsg_heartbeat_response *rs = response;
		kmsg_heartbeat_response_init(rs);
		rs->error_code = ec;
		return 0;
	}
	case KMSG_API_LEAVE_GROUP: {
		struct kmsg_leave_group_response *rs = response;
		kmsg_leave_group_response_init(rs);
		rs->error_code = ec;
		return 0;
	}
	case KMSG_API_SYNC_GROUP: {
		struct kmsg_sync_group_response *rs = response;
		kmsg_sync_group_response_init(rs);
		rs->error_code = ec;
		return 0;
	}
	case KMSG_API_INIT_PRODUCER_ID: {
		struct kmsg_init_producer_id_response *rs = response;
		kmsg_init_producer_id_response_init(rs);
		rs->error_code = ec;
		return 0;
	}
	default:
		return KMSG_EINVAL;
	}
}

int sk_api_error_response(int16_t api_key, int16_t version, const void *request, int16_t error_code,
			  struct kmsg_arena *arena, void *response)
{
	switch (api_key) {
	case KMSG_API_PRODUCE:
		return produce_error(request, error_code, arena, response);
	case KMSG_API_FETCH:
		return fetch_error(request, error_code, arena, response);
	case KMSG_API_LIST_OFFSETS:
		return list_offsets_error(request, error_code, arena, response);
	case KMSG_API_METADATA:
		return metadata_error(version, request, error_code, arena, response);
	case KMSG_API_OFFSET_COMMIT:
		return offset_commit_error(request, error_code, arena, response);
	case KMSG_API_OFFSET_FETCH:
		return offset_fetch_error(version, request, error_code, arena, response);
	case KMSG_API_FIND_COORDINATOR:
		return find_coordinator_error(version, request, error_code, arena, response);
	case KMSG_API_CREATE_TOPICS:
		return create_topics_error(request, error_code, arena, response);
	case KMSG_API_DELETE_TOPICS:
		return delete_topics_error(version, request, error_code, arena, response);
	case KMSG_API_DESCRIBE_CONFIGS:
		return describe_configs_error(request, error_code, arena, response);
	case KMSG_API_ALTER_CONFIGS:
		return alter_configs_error(request, error_code, arena, response);
	default:
		return top_level_error(api_key, error_code, response);
	}
}

/* ---- request extent ---------------------------------------------------------------- */

/* Adds the topics of array arr (a decoded struct { items; count; }) and the
 * entries of each topic's array member parts. */
#define EXTENT_ADD(out, arr, parts)                                                                \
	do {                                                                                       \
		(out)->topics += (arr).count;                                                      \
		for (int32_t i_ = 0; i_ < (arr).count; i_++) {                                     \
			(out)->partitions += (arr).items[i_].parts.count;                          \
		}                                                                                  \
	} while (0)

void sk_api_request_extent(int16_t api_key, const void *request, struct sk_request_extent *out)
{
	SL_ASSERT(out != NULL);
	*out = (struct sk_request_extent){0, 0};
	if (request == NULL) {
		return;
	}
	switch (api_key) {
	case KMSG_API_PRODUCE: {
		const struct kmsg_produce_request *rq = request;
		EXTENT_ADD(out, rq->topic_data, partition_data);
		break;
	}
	case KMSG_API_FETCH: {
		const struct kmsg_fetch_request *rq = request;
		EXTENT_ADD(out, rq->topics, partitions);
		EXTENT_ADD(out, rq->forgotten_topics_data, partitions);
		break;
	}
	case KMSG_API_LIST_OFFSETS: {
		const struct kmsg_list_offsets_request *rq = request;
		EXTENT_ADD(out, rq->topics, partitions);
		break;
	}
	case KMSG_API_OFFSET_COMMIT: {
		const struct kmsg_offset_commit_request *rq = request;
		EXTENT_ADD(out, rq->topics, partitions);
		break;
	}
	case KMSG_API_OFFSET_FETCH: {
		const struct kmsg_offset_fetch_request *rq = request;
		if (!rq->topics.null) {
			EXTENT_ADD(out, rq->topics, partition_indexes);
		}
		for (int32_t g = 0; g < rq->groups.count; g++) {
			if (!rq->groups.items[g].topics.null) {
				EXTENT_ADD(out, rq->groups.items[g].topics, partition_indexes);
			}
		}
		break;
	}
	case KMSG_API_METADATA: {
		const struct kmsg_metadata_request *rq = request;
		out->topics = rq->topics.null ? 0 : rq->topics.count;
		break;
	}
	case KMSG_API_CREATE_TOPICS: {
		const struct kmsg_create_topics_request *rq = request;
		EXTENT_ADD(out, rq->topics, assignments);
		break;
	}
	case KMSG_API_DELETE_TOPICS: {
		const struct kmsg_delete_topics_request *rq = request;
		out->topics = (int64_t)rq->topics.count + rq->topic_names.count;
		break;
	}
	default:
		break;
	}
}
