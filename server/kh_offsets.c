/* Kafka OffsetCommit (v2-7) and OffsetFetch (v1-5) at the group
 * coordinator.
 *
 * Happy path (commit): the group's coordinator checks the member and
 * generation (cg_commit_check: simple consumers with generation -1 commit
 * into an EMPTY group), every partition is checked (topic known, metadata
 * within offset.metadata.max.bytes), and the valid ones become one
 * RecordBatch of offset records (Kafka's key/value layout, server/cgroup.h)
 * submitted to the group's __consumer_offsets partition with acks=all. When
 * the entry commits, the records are applied to the coordinator's offsets
 * and the request is answered; the log and the map never disagree.
 * Fetch answers from the coordinator's map: a partition without a commit
 * gets offset -1 and empty metadata; v2+ with topics null lists every
 * offset of the group.
 *
 * Failure modes: not the coordinator NOT_COORDINATOR, loading
 * COORDINATOR_LOAD_IN_PROGRESS (every partition gets it); an unknown topic
 * UNKNOWN_TOPIC_OR_PARTITION and too long metadata OFFSET_METADATA_TOO_LARGE
 * (that partition only); leadership lost before the commit NOT_COORDINATOR,
 * a batch above message.max.bytes INVALID_COMMIT_OFFSET_SIZE, a storage
 * error COORDINATOR_NOT_AVAILABLE (the client retries). */
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "server/kh_group_int.h"

/* One partition of a commit: its answer and what to apply. */
struct cpart {
	struct kmsg_offset_commit_response_partition *out;
	const char *topic; /* arena */
	struct cg_offset value;
	bool submitted;
};

struct commit {
	struct rl_submit_req sreq;
	struct sk_request *req;
	struct sd_groups *gs;
	struct kmsg_offset_commit_response resp;
	const char *group;
	int32_t part;
	struct cg_coord *coord; /* at submission; checked again when done */
	struct cpart *parts;
	int32_t n_parts;
};

static int16_t commit_error(int rl_err)
{
	switch (rl_err) {
	case RL_ENOTLEADER:
	case RL_ESHUTDOWN:
		return KE_NOT_COORDINATOR;
	case RL_ETOOLARGE:
		return KE_INVALID_COMMIT_OFFSET_SIZE;
	default:
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
}

static void commit_finish(struct commit *cm, int status)
{
	struct sd_groups *gs = cm->gs;
	struct cg_coord *now = cm->part < gs->n_parts ? gs->parts[cm->part].coord : NULL;
	for (int32_t i = 0; i < cm->n_parts; i++) {
		struct cpart *p = &cm->parts[i];
		if (!p->submitted) {
			continue;
		}
		int16_t err = status != 0 ? commit_error(status) : 0;
		if (err == 0 && now != cm->coord) {
			err = KE_NOT_COORDINATOR; /* defensive: the coordinator was replaced */
		}
		if (err == 0) {
			struct cg_record r = {.is_offset = true, .partition = p->out->partition_index,
					      .value = p->value};
			snprintf(r.group, sizeof(r.group), "%s", cm->group);
			snprintf(r.topic, sizeof(r.topic), "%s", p->topic);
			err = (int16_t)cg_coord_apply_record(now, &r);
		}
		p->out->error_code = err;
		if (err == 0) {
			gs->commits_ok++;
		} else {
			gs->commits_failed++;
		}
	}
	struct sk_request *req = cm->req;
	struct kmsg_offset_commit_response resp = cm->resp;
	sl_free(cm->parts);
	sl_free(cm);
	sk_respond(req, &resp);
	sd__groups_rearm(gs);
}

static void commit_done(struct rl_submit_req *sreq, int status)
{
	commit_finish(sreq->data, status);
}

/* Checks one partition and adds its record to bb. Returns its error. */
static int16_t commit_partition(struct commit *cm, struct cpart *p, const char *topic,
				const struct kmsg_offset_commit_request_partition *rp,
				struct kp_batch_builder *bb, int64_t now_ms)
{
	struct sd_broker *b = cm->gs->b;
	const struct sd_ctl_topic *t =
		topic != NULL ? sd_ctl_state_topic_find(sd_controller_state(b), topic) : NULL;
	if (t == NULL || rp->partition_index < 0 || rp->partition_index >= t->n_partitions) {
		return KE_UNKNOWN_TOPIC_OR_PARTITION;
	}
	size_t mlen = rp->committed_metadata.null || rp->committed_metadata.len < 0
			      ? 0
			      : (size_t)rp->committed_metadata.len;
	if (mlen > (size_t)sd_config_int(b->cfg, "offset.metadata.max.bytes")) {
		return KE_OFFSET_METADATA_TOO_LARGE;
	}
	p->topic = topic;
	p->value.offset = rp->committed_offset;
	p->value.leader_epoch =
		cm->req->api_version >= 6 ? rp->committed_leader_epoch : -1;
	p->value.commit_ms = now_ms;
	p->value.metadata = mlen > 0 ? rp->committed_metadata.ptr : "";
	p->value.metadata_len = mlen;
	uint8_t key[CG_KEY_BYTES_MAX];
	uint8_t *val = kmsg_arena_alloc(cm->req->arena, CG_VALUE_BYTES_MAX);
	int kl = cg_offset_key_encode(key, sizeof(key), cm->group, topic, rp->partition_index);
	int vl = val != NULL ? cg_offset_value_encode(val, CG_VALUE_BYTES_MAX, &p->value) : -1;
	if (kl < 0 || vl < 0) {
		return kl < 0 ? KE_UNKNOWN_TOPIC_OR_PARTITION : KE_OFFSET_METADATA_TOO_LARGE;
	}
	if (kp_batch_builder_add(bb, now_ms, key, kl, val, vl, NULL, 0) != 0) {
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
	p->submitted = true;
	return KE_NONE;
}

/* Fills the response skeleton and the records; returns how many partitions
 * were added to bb, or -1 when out of memory. */
static int32_t commit_build(struct commit *cm, const struct kmsg_offset_commit_request *r,
			    struct kp_batch_builder *bb)
{
	struct kmsg_arena *a = cm->req->arena;
	int64_t now_ms = sl_now_wall_ms();
	int32_t nt = r->topics.count, k = 0, added = 0;
	cm->resp.topics.items = kmsg_arena_alloc(a, (size_t)(nt + 1) * sizeof(*cm->resp.topics.items));
	if (cm->resp.topics.items == NULL) {
		return -1;
	}
	cm->resp.topics.count = nt;
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_offset_commit_request_topic *t = &r->topics.items[i];
		struct kmsg_offset_commit_response_topic *rt = &cm->resp.topics.items[i];
		kmsg_offset_commit_response_topic_init(rt);
		rt->name = t->name;
		int32_t np = t->partitions.count;
		rt->partitions.items = kmsg_arena_alloc(a, (size_t)(np + 1) * sizeof(*rt->partitions.items));
		if (rt->partitions.items == NULL) {
			return -1;
		}
		rt->partitions.count = np;
		bool ok;
		const char *topic = sd__kstr_arena(a, &t->name, CG_TOPIC_BYTES_MAX, false, &ok);
		for (int32_t j = 0; j < np; j++, k++) {
			struct kmsg_offset_commit_response_partition *out = &rt->partitions.items[j];
			kmsg_offset_commit_response_partition_init(out);
			out->partition_index = t->partitions.items[j].partition_index;
			struct cpart *p = &cm->parts[k];
			p->out = out;
			out->error_code =
				commit_partition(cm, p, topic, &t->partitions.items[j], bb, now_ms);
			added += p->submitted;
		}
	}
	return added;
}

static void handle_offset_commit(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_offset_commit_request *r = req->body;
	struct sd_member_ref m;
	int16_t err =
	    sd__member_ref(req->arena, &r->group_id, &r->member_id, &r->group_instance_id, &m);
	if (err != 0) {
		sk_respond_error(req, err);
		return;
	}
	const char *group = m.group;
	int32_t part;
	struct cg_coord *c = sd__groups_coord(gs, group, &part, &err);
	if (c != NULL) {
		err = cg_commit_check(c, group, m.member, m.instance,
				      r->generation_id_or_member_epoch, uv_now(gs->b->loop));
		sd__groups_rearm(gs);
	}
	int64_t n = 0;
	for (int32_t i = 0; i < r->topics.count; i++) {
		n += r->topics.items[i].partitions.count;
	}
	struct sd_partition_view v;
	if (err == 0 && (!sd_partition_view(gs->b, SD_OFFSETS_TOPIC, part, &v) || v.g == NULL)) {
		err = KE_NOT_COORDINATOR;
	}
	struct commit *cm = err == 0 ? sl_calloc(1, sizeof(*cm)) : NULL;
	if (cm != NULL && (cm->parts = sl_calloc((size_t)n + 1, sizeof(*cm->parts))) == NULL) {
		sl_free(cm);
		cm = NULL;
	}
	if (cm == NULL) {
		sk_respond_error(req, err != 0 ? err : KE_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	cm->req = req;
	cm->gs = gs;
	cm->group = group;
	cm->part = part;
	cm->coord = c;
	cm->n_parts = (int32_t)n;
	kmsg_offset_commit_response_init(&cm->resp);
	struct kp_batch_builder bb;
	int32_t added = -1;
	if (kp_batch_builder_init(&bb, 0, KP_CODEC_NONE, -1, -1, -1) == 0) {
		added = commit_build(cm, r, &bb);
	}
	uint8_t *batch = NULL;
	size_t len = 0;
	if (added > 0 && kp_batch_builder_finish(&bb) == 0) {
		batch = kp_batch_builder_take(&bb, &len);
	}
	kp_batch_builder_free(&bb);
	if (added < 0 || (added > 0 && batch == NULL)) {
		sl_free(cm->parts);
		sl_free(cm);
		sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	if (added == 0) {
		commit_finish(cm, 0);
		return;
	}
	cm->sreq.data = cm;
	int rv = sd_part_submit(v.sp->part, &cm->sreq, batch, len, RL_ACKS_ALL, commit_done);
	if (rv != 0) {
		sl_free(batch);
		commit_finish(cm, rv);
	}
}

/* ---- OffsetFetch -------------------------------------------------------------- */

static void fill_partition(struct kmsg_offset_fetch_response_partition *out, int32_t partition,
			   const struct cg_offset *o)
{
	kmsg_offset_fetch_response_partition_init(out);
	out->partition_index = partition;
	out->committed_offset = o != NULL ? o->offset : -1;
	out->committed_leader_epoch = o != NULL ? o->leader_epoch : -1;
	out->metadata.ptr = o != NULL ? o->metadata : "";
	out->metadata.len = o != NULL ? (int32_t)o->metadata_len : 0;
	out->metadata.null = false;
	out->error_code = 0;
}

struct all_entry {
	const char *topic;
	int32_t partition;
	struct cg_offset o;
};

struct all_walk {
	struct all_entry *v;
	size_t n, cap;
};

static void collect(void *arg, const char *topic, int32_t partition, const struct cg_offset *o)
{
	struct all_walk *w = arg;
	if (w->n < w->cap) {
		w->v[w->n++] = (struct all_entry){topic, partition, *o};
	}
}

static int cmp_entry(const void *x, const void *y)
{
	const struct all_entry *a = x, *b = y;
	int c = strcmp(a->topic, b->topic);
	return c != 0 ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

/* Every committed offset of g, grouped by topic. Returns 0 or -1 (memory). */
static int fetch_all(struct sk_request *req, const struct cg_group *g,
		     struct kmsg_offset_fetch_response *resp)
{
	struct all_walk w = {.cap = cg_offset_count(g)};
	w.v = kmsg_arena_alloc(req->arena, (w.cap + 1) * sizeof(*w.v));
	if (w.v == NULL) {
		return -1;
	}
	cg_offset_foreach(g, collect, &w);
	qsort(w.v, w.n, sizeof(*w.v), cmp_entry);
	size_t nt = 0;
	for (size_t i = 0; i < w.n; i++) {
		nt += i == 0 || strcmp(w.v[i].topic, w.v[i - 1].topic) != 0;
	}
	resp->topics.items = kmsg_arena_alloc(req->arena, (nt + 1) * sizeof(*resp->topics.items));
	struct kmsg_offset_fetch_response_partition *ps =
		kmsg_arena_alloc(req->arena, (w.n + 1) * sizeof(*ps));
	if (resp->topics.items == NULL || ps == NULL) {
		return -1;
	}
	int32_t t = -1;
	for (size_t i = 0; i < w.n; i++) {
		if (i == 0 || strcmp(w.v[i].topic, w.v[i - 1].topic) != 0) {
			struct kmsg_offset_fetch_response_topic *rt = &resp->topics.items[++t];
			kmsg_offset_fetch_response_topic_init(rt);
			rt->name = kmsg_str_make(w.v[i].topic);
			rt->partitions.items = &ps[i];
		}
		fill_partition(&ps[i], w.v[i].partition, &w.v[i].o);
		resp->topics.items[t].partitions.count++;
	}
	resp->topics.count = (int32_t)nt;
	return 0;
}

static void handle_offset_fetch(void *ctx, struct sk_request *req)
{
	struct sd_groups *gs = ctx;
	const struct kmsg_offset_fetch_request *r = req->body;
	bool ok;
	const char *group =
		sd__kstr_arena(req->arena, &r->group_id, CG_GROUP_ID_BYTES_MAX, false, &ok);
	int32_t part;
	int16_t err = KE_INVALID_GROUP_ID;
	struct cg_coord *c = ok ? sd__groups_coord(gs, group, &part, &err) : NULL;
	if (c == NULL) {
		sk_respond_error(req, err);
		return;
	}
	const struct cg_group *g = cg_coord_find(c, group);
	struct kmsg_offset_fetch_response resp;
	kmsg_offset_fetch_response_init(&resp);
	if (r->topics.null) {
		if (fetch_all(req, g, &resp) != 0) {
			sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
			return;
		}
		sk_respond(req, &resp);
		return;
	}
	int32_t nt = r->topics.count;
	resp.topics.items = kmsg_arena_alloc(req->arena, (size_t)(nt + 1) * sizeof(*resp.topics.items));
	if (resp.topics.items == NULL) {
		sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	resp.topics.count = nt;
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_offset_fetch_request_topic *t = &r->topics.items[i];
		struct kmsg_offset_fetch_response_topic *rt = &resp.topics.items[i];
		kmsg_offset_fetch_response_topic_init(rt);
		rt->name = t->name;
		int32_t np = t->partition_indexes.count;
		rt->partitions.items =
			kmsg_arena_alloc(req->arena, (size_t)(np + 1) * sizeof(*rt->partitions.items));
		if (rt->partitions.items == NULL) {
			sk_respond_error(req, KE_COORDINATOR_NOT_AVAILABLE);
			return;
		}
		rt->partitions.count = np;
		bool tok;
		const char *topic = sd__kstr_arena(req->arena, &t->name, CG_TOPIC_BYTES_MAX, false, &tok);
		for (int32_t j = 0; j < np; j++) {
			struct cg_offset o;
			int32_t pi = t->partition_indexes.items[j];
			bool have = tok && cg_offset_get(g, topic, pi, &o);
			fill_partition(&rt->partitions.items[j], pi, have ? &o : NULL);
		}
	}
	sk_respond(req, &resp);
}

void sd_kh_offsets_register(struct sd_broker *b)
{
	sk_server_set_handler(b->kafka, KMSG_API_OFFSET_COMMIT, handle_offset_commit, b->groups);
	sk_server_set_handler(b->kafka, KMSG_API_OFFSET_FETCH, handle_offset_fetch, b->groups);
}
