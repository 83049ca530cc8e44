/* Kafka Produce (v3-7): validate every batch, submit it to the partition's
 * Raft group, answer when the acks level is reached.
 *
 * Happy path: for each partition of the request the records are split into
 * RecordBatch v2 batches, each checked (size, magic, CRC, records) before
 * anything is submitted; each batch is copied and submitted with the
 * request's acks (acks=1: leader durable, acks=all: committed); the
 * partition's base offset is its first batch's. The response goes out when
 * every submission has completed, or at timeout_ms with REQUEST_TIMED_OUT
 * for those still waiting (their data may still commit, as in Kafka).
 * acks=0 requests get no response.
 * Failure modes: a partition this broker does not lead gets
 * NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION, a bad
 * CRC CORRUPT_MESSAGE, an old message format UNSUPPORTED_FOR_MESSAGE_FORMAT,
 * a batch over max.message.bytes MESSAGE_TOO_LARGE, invalid records
 * INVALID_RECORD; other partitions of the same request are unaffected. */
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "server/kh.h"

struct produce;

/* One partition's answer and how many of its batches are still waiting. */
struct pstate {
	struct kmsg_produce_response_partition_produce_response *out;
	unsigned pending;
};

struct psub {
	struct rl_submit_req req;
	struct produce *pr;
	struct pstate *ps;
	bool first;
};

struct produce {
	struct sk_request *req;
	struct sd_broker *b;
	struct kmsg_produce_response resp;
	unsigned outstanding;
	bool answered;
	bool acks0;
	uv_timer_t timer;
	bool timer_live;
	struct pstate *ps;
	int32_t n_ps;
};

static void produce_free(uv_handle_t *h)
{
	struct produce *pr = h->data;
	sl_free(pr->ps);
	sl_free(pr);
}

static void finish(struct produce *pr)
{
	if (!pr->answered) {
		pr->answered = true;
		if (pr->acks0) {
			sk_request_drop(pr->req);
		} else {
			sk_respond(pr->req, &pr->resp);
		}
	}
	if (pr->outstanding == 0) {
		if (pr->timer_live) {
			uv_close((uv_handle_t *)&pr->timer, produce_free);
		} else {
			sl_free(pr->ps);
			sl_free(pr);
		}
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct produce *pr = t->data;
	/* Partitions still waiting report a timeout. */
	for (int32_t i = 0; i < pr->n_ps; i++) {
		if (pr->ps[i].pending > 0) {
			pr->ps[i].out->error_code = KE_REQUEST_TIMED_OUT;
			pr->ps[i].out->base_offset = -1;
		}
	}
	finish(pr);
}

static void submit_done(struct rl_submit_req *req, int status)
{
	struct psub *s = req->data;
	struct produce *pr = s->pr;
	struct pstate *ps = s->ps;
	if (!pr->answered) {
		if (status != 0) {
			ps->out->error_code = sd_kafka_err_from_rl(status);
			ps->out->base_offset = -1;
		} else if (s->first && ps->out->error_code == 0) {
			ps->out->base_offset = req->base_offset;
		}
	}
	ps->pending--;
	sl_free(s);
	pr->outstanding--;
	bool all_done = pr->outstanding == 0;
	if (pr->answered) {
		if (pr->outstanding == 0) {
			finish(pr);
		}
		return;
	}
	if (all_done) {
		if (pr->timer_live) {
			uv_timer_stop(&pr->timer);
		}
		finish(pr);
	}
}

/* Checks every batch of a partition's records. Returns a Kafka error. */
static int16_t validate(const uint8_t *p, size_t len, size_t max_bytes, int *n_batches)
{
	*n_batches = 0;
	if (len == 0) {
		return KE_INVALID_RECORD;
	}
	while (len > 0) {
		struct kp_batch_header h;
		if (len < KP_BATCH_LOG_OVERHEAD + 5) {
			return KE_CORRUPT_MESSAGE;
		}
		int rv = kp_batch_parse_header(p, len, &h);
		if (rv == KP_EMAGIC) {
			return KE_UNSUPPORTED_FOR_MESSAGE_FORMAT;
		}
		if (rv != 0 || kp_batch_size(&h) > len) {
			return KE_CORRUPT_MESSAGE;
		}
		size_t size = kp_batch_size(&h);
		if (size > max_bytes) {
			return KE_MESSAGE_TOO_LARGE;
		}
		rv = kp_batch_validate(p, size, max_bytes, &h);
		if (rv != 0) {
			return KE_CORRUPT_MESSAGE;
		}
		if ((h.attributes & 0x20) != 0 || (h.attributes & 0x10) != 0 ||
		    kp_batch_validate_records(p, size, max_bytes) != 0) {
			return KE_INVALID_RECORD; /* control/transactional batches, bad records */
		}
		p += size;
		len -= size;
		(*n_batches)++;
	}
	return KE_NONE;
}

/* min.insync.replicas: voters in contact with the leader (itself
 * included) within one election timeout. */
static bool enough_insync(struct sd_broker *b, const struct sd_ctl_topic *t, struct rl_group *g,
			  const struct rl_group_status *st)
{
	const char *v = sd_ctl_topic_config(t, "min.insync.replicas");
	int64_t min = v ? strtoll(v, NULL, 10) : sd_config_int(b->cfg, "min.insync.replicas");
	if (min <= 1) {
		return true;
	}
	struct rl_group_progress pr[SD_CTL_REPLICAS_MAX * 2];
	unsigned n = rl_group_progress(g, pr, SD_CTL_REPLICAS_MAX * 2);
	uint64_t now = uv_now(b->loop);
	uint64_t window = (uint64_t)sd_config_int(b->cfg, "raft.election.timeout.ms");
	int64_t in = 0;
	for (unsigned i = 0; i < n && i < SD_CTL_REPLICAS_MAX * 2; i++) {
		if (pr[i].role != RAFT_VOTER) {
			continue;
		}
		in += pr[i].id == (uint64_t)b->id || pr[i].last_contact_ms + window >= now;
	}
	(void)st;
	return in >= min;
}

#define RECOMPRESS_HEADERS_MAX 1024

/* Re-encodes a validated batch with codec (compression.type none or lz4),
 * keeping producer fields, timestamps, keys, values and headers. Returns
 * the new batch (sl_malloc'd) or NULL. */
static uint8_t *recompress(const uint8_t *batch, size_t len, enum kp_codec codec, size_t *out_len)
{
	struct kp_record_iter it;
	struct kp_batch_builder bb;
	if (kp_record_iter_init(&it, batch, len) != 0) {
		return NULL;
	}
	uint8_t *out = NULL;
	struct kp_header *hs = sl_malloc(RECOMPRESS_HEADERS_MAX * sizeof(*hs));
	if (hs == NULL || kp_batch_builder_init(&bb, 0, codec, it.hdr.producer_id,
						 it.hdr.producer_epoch, it.hdr.base_sequence) != 0) {
		goto out_iter;
	}
	struct kp_record rec;
	int rv;
	while ((rv = kp_record_iter_next(&it, &rec)) == 1) {
		if (rec.headers_count > RECOMPRESS_HEADERS_MAX) {
			goto out_builder;
		}
		for (int32_t i = 0; i < rec.headers_count; i++) {
			if (kp_record_header(&rec, i, &hs[i]) != 0) {
				goto out_builder;
			}
		}
		if (kp_batch_builder_add(&bb, rec.timestamp, rec.key, rec.key_len, rec.value,
					 rec.value_len, hs, rec.headers_count) != 0) {
			goto out_builder;
		}
	}
	if (rv == 0 && kp_batch_builder_finish(&bb) == 0) {
		out = kp_batch_builder_take(&bb, out_len);
	}
out_builder:
	kp_batch_builder_free(&bb);
out_iter:
	sl_free(hs);
	kp_record_iter_free(&it);
	return out;
}

/* The codec a topic stores, or -1 to keep the producer's. */
static int target_codec(struct sd_broker *b, const struct sd_ctl_topic *t)
{
	const char *v = sd_ctl_topic_config(t, "compression.type");
	if (v == NULL) {
		v = sd_config_str(b->cfg, "compression.type");
	}
	if (strcmp(v, "lz4") == 0) {
		return KP_CODEC_LZ4;
	}
	if (strcmp(v, "none") == 0 || strcmp(v, "uncompressed") == 0) {
		return KP_CODEC_NONE;
	}
	return -1;
}

static void produce_partition(struct produce *pr, const char *topic,
			      const struct kmsg_produce_request_partition_produce_data *pd,
			      struct pstate *ps, enum rl_acks acks)
{
	struct kmsg_produce_response_partition_produce_response *out = ps->out;
	struct sd_broker *b = pr->b;
	out->index = pd->index;
	out->base_offset = -1;
	out->log_append_time_ms = -1;
	out->log_start_offset = -1;
	struct sd_partition_view v;
	if (!sd_partition_view(b, topic, pd->index, &v)) {
		out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	const struct sd_ctl_topic *t = v.topic;
	struct sd_partition *sp = v.sp;
	struct rl_group *g = v.g;
	struct rl_group_status st = v.st;
	if (strcmp(topic, SD_OFFSETS_TOPIC) == 0) {
		out->error_code = KE_INVALID_TOPIC_EXCEPTION; /* internal: written by coordinators */
		return;
	}
	if (g == NULL || st.role != RAFT_LEADER) {
		out->error_code = KE_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	out->log_start_offset = st.start_offset;
	if (acks == RL_ACKS_ALL && !enough_insync(b, t, g, &st)) {
		out->error_code = KE_NOT_ENOUGH_REPLICAS;
		return;
	}
	const char *mmb = sd_ctl_topic_config(t, "max.message.bytes");
	size_t max_bytes = mmb ? (size_t)strtoull(mmb, NULL, 10)
			       : (size_t)sd_config_int(b->cfg, "message.max.bytes");
	int n;
	const uint8_t *p = pd->records.ptr;
	size_t len = pd->records.null ? 0 : (size_t)pd->records.len;
	int16_t err = validate(p, len, max_bytes, &n);
	if (err != 0) {
		out->error_code = err;
		return;
	}
	for (int i = 0; i < n; i++) {
		struct kp_batch_header h;
		kp_batch_parse_header(p, len, &h);
		size_t size = kp_batch_size(&h);
		struct psub *s = sl_calloc(1, sizeof(*s));
		uint8_t *copy = sl_malloc(size);
		if (s == NULL || copy == NULL) {
			sl_free(s);
			sl_free(copy);
			out->error_code = KE_REQUEST_TIMED_OUT;
			break;
		}
		memcpy(copy, p, size);
		size_t stored = size;
		int codec = target_codec(b, t);
		if (codec >= 0 && (h.attributes & 0x7) != codec) {
			uint8_t *re = recompress(p, size, (enum kp_codec)codec, &stored);
			sl_free(copy);
			copy = re;
			if (copy == NULL) {
				sl_free(s);
				out->error_code = KE_INVALID_RECORD;
				break;
			}
		}
		s->pr = pr;
		s->ps = ps;
		s->first = i == 0;
		s->req.data = s;
		int rv = sd_part_submit(sp->part, &s->req, copy, stored, acks, submit_done);
		if (rv != 0) {
			sl_free(copy);
			sl_free(s);
			out->error_code = sd_kafka_err_from_rl(rv);
			break;
		}
		ps->pending++;
		pr->outstanding++;
		p += size;
		len -= size;
	}
}

static void handle_produce(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_produce_request *r = req->body;
	struct produce *pr = sl_calloc(1, sizeof(*pr));
	if (pr == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	pr->req = req;
	pr->b = b;
	pr->acks0 = r->acks == 0;
	kmsg_api_lookup(KMSG_API_PRODUCE)->response_init(&pr->resp);
	if (r->acks != 0 && r->acks != 1 && r->acks != -1) {
		sl_free(pr);
		sk_respond_error(req, KE_INVALID_REQUIRED_ACKS);
		return;
	}
	if (!r->transactional_id.null) {
		sl_free(pr);
		sk_respond_error(req, KE_INVALID_REQUEST);
		return;
	}
	enum rl_acks acks = r->acks == -1 ? RL_ACKS_ALL : RL_ACKS_LEADER;
	int32_t nt = r->topic_data.count;
	int64_t total = 0;
	for (int32_t i = 0; i < nt; i++) {
		total += r->topic_data.items[i].partition_data.count;
	}
	pr->ps = sl_calloc((size_t)total + 1, sizeof(*pr->ps));
	if (pr->ps == NULL) {
		sl_free(pr);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	pr->resp.responses.count = nt;
	pr->resp.responses.items =
		kmsg_arena_alloc(req->arena, (size_t)(nt + 1) * sizeof(*pr->resp.responses.items));
	if (pr->resp.responses.items == NULL) {
		sl_free(pr->ps);
		sl_free(pr);
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < nt; i++) {
		const struct kmsg_produce_request_topic_produce_data *td = &r->topic_data.items[i];
		struct kmsg_produce_response_topic_produce_response *tr = &pr->resp.responses.items[i];
		kmsg_produce_response_topic_produce_response_init(tr);
		tr->name = td->name;
		int32_t np = td->partition_data.count;
		tr->partition_responses.count = np;
		tr->partition_responses.items = kmsg_arena_alloc(
			req->arena, (size_t)(np + 1) * sizeof(*tr->partition_responses.items));
		if (tr->partition_responses.items == NULL) {
			tr->partition_responses.count = 0;
			continue;
		}
		char topic[SD_CTL_TOPIC_NAME_MAX + 1];
		bool ok = sd_kstr_copy(&td->name, topic, sizeof(topic));
		for (int32_t k = 0; k < np; k++) {
			struct kmsg_produce_response_partition_produce_response *out =
				&tr->partition_responses.items[k];
			kmsg_produce_response_partition_produce_response_init(out);
			out->record_errors.count = 0;
			out->error_message = kmsg_str_null();
			if (!ok) {
				out->index = td->partition_data.items[k].index;
				out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
				out->base_offset = -1;
				out->log_append_time_ms = -1;
				out->log_start_offset = -1;
				continue;
			}
			struct pstate *ps = &pr->ps[pr->n_ps++];
			ps->out = out;
			produce_partition(pr, topic, &td->partition_data.items[k], ps, acks);
		}
	}
	if (pr->outstanding == 0) {
		finish(pr);
		return;
	}
	uv_timer_init(b->loop, &pr->timer);
	pr->timer.data = pr;
	pr->timer_live = true;
	uint64_t timeout = r->timeout_ms > 0 ? (uint64_t)r->timeout_ms : 30000;
	uv_timer_start(&pr->timer, on_timeout, timeout, 0);
}

void sd_kh_produce_register(struct sd_broker *b)
{
	sk_server_set_handler(b->kafka, KMSG_API_PRODUCE, handle_produce, b);
}
