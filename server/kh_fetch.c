/* Kafka Fetch (v4-11) with long polling and follower fetching (KIP-392),
 * and ListOffsets (v1-3) on leaders and followers.
 *
 * Happy path (Fetch): for each requested partition hosted here, whole
 * committed batches from the fetch offset up to the high watermark are
 * located with rl_read_range() and sent straight from the segment file
 * (sendfile through sk_respond_raw: the bytes on disk are the bytes on the
 * wire). If fewer than MinBytes are available the request waits on every
 * partition it names until data arrives (the partition's high watermark
 * moves) or MaxWaitMs passes, then is evaluated once more and answered. The
 * last stable offset is the high watermark (no transactions).
 *
 * Control batches. Raft barriers and configurations are stored as one-record
 * control batches (raftlog/FORMAT.md). Clients that do not skip control
 * batches (kafka-python 2.0.2) would hand that record to the application,
 * so each control batch in a range is answered as a synthesized 61-byte
 * header with recordCount 0 (same baseOffset, epoch, attributes,
 * lastOffsetDelta, timestamps and producer fields; batchLength and CRC
 * recomputed): offsets stay dense, every client advances past it, none
 * shows a record. Runs of data batches between them are still sent from
 * the file. A response for Fetch v4-10 never carries a partition whose
 * records are control headers only: kafka-python 2.0.2 (Fetch v4) fails on
 * a record set without a record. There a leading run of control batches is
 * skipped (the records start at a later offset, which clients accept), and
 * a log ending in one answers as if at the high watermark. v11 clients
 * (librdkafka, kafkajs) get the lone header, so `kcat -e` reaches the end.
 *
 * Locality. On the leader, a v11 consumer fetch naming a rack_id may be
 * answered, per partition, with preferred_read_replica and no records when
 * pl_fetch_select() (through sd_loc_fetch_select()) picks a closer replica
 * that can serve the offset within the staleness bound; the client then
 * fetches there. A follower serves consumer fetches of any version up to its
 * own high watermark; a fetch at or beyond it waits like a tail fetch on the
 * leader (never OFFSET_OUT_OF_RANGE for that race), and a follower that has
 * not heard from its leader within follower.read.max.staleness.ms answers
 * NOT_LEADER_OR_FOLLOWER so the client returns to the leader. Record bytes
 * sent to consumers are counted by locality (client rack against this
 * broker's rack and region) and by client rack.
 *
 * Failure modes: a partition not hosted here, or a follower asked by a
 * replica (replica_id >= 0), a stale follower or a candidate gets
 * NOT_LEADER_OR_FOLLOWER (the client refreshes its metadata), an unknown one
 * UNKNOWN_TOPIC_OR_PARTITION, an offset below the log start (or, on the
 * leader, beyond the high watermark) OFFSET_OUT_OF_RANGE, a stale or future
 * leader epoch FENCED/UNKNOWN_LEADER_EPOCH. A connection closed while a
 * fetch waits releases it at once. */
#include <string.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "server/json.h"
#include "server/kh.h"

#define FETCH_PARTS_MAX 10000
#define FETCH_WAIT_MS_MAX 300000
/* Bound on a response body without its records (headers of at most
 * FETCH_PARTS_MAX partitions and their topic names). */
#define FETCH_BODY_BYTES_MAX ((size_t)16 << 20)
/* Bytes of a client.id used for replica stickiness (longer ones are cut). */
#define FETCH_CLIENT_ID_BYTES 256
/* Most pieces (file ranges and control headers) of one partition's records;
 * its range is cut before a control batch beyond that. */
#define FETCH_PIECES_MAX 65
/* Largest control batch read to synthesize its header (Raft barriers and
 * configurations are far smaller). */
#define FETCH_CONTROL_BYTES_MAX ((size_t)1 << 20)
/* Control-only ranges a Fetch v4-10 skips before it answers without them. */
#define FETCH_CONTROL_SKIPS_MAX 1024
/* Offset of recordCount in a batch header. */
#define BATCH_OFF_RECORDS_COUNT (KP_BATCH_HEADER_SIZE - 4)

struct fetch;

/* A fetch waiting on one partition (linked into sd_partition.waiters). */
struct sd_fetch_wait {
	struct fetch *f;
	struct sd_partition *sp;
	struct sd_fetch_wait *prev, *next;
};

/* A piece of a partition's records: a run of data batches sent from the
 * file (zero-copy), or the synthesized header of a control batch. */
struct fpiece {
	bool control;
	int64_t file_pos; /* data: position in ref.fd */
	size_t len;
	uint8_t hdr[KP_BATCH_HEADER_SIZE]; /* control */
};

struct fpart {
	int32_t topic; /* index into the request's topics */
	int32_t partition;
	int16_t error;
	int32_t preferred; /* preferred_read_replica, -1 for none */
	int64_t hwm, start;
	struct rl_read_ref ref;
	struct fpiece *pieces; /* &one, or FETCH_PIECES_MAX allocated; NULL if none */
	struct fpiece one;
	int32_t n_pieces;
	size_t records_len; /* bytes of the record set answered */
	bool has_data;	    /* some piece is a data range */
};

struct fetch {
	struct sk_request *req;
	struct sd_broker *b;
	struct fpart *parts;
	int32_t n_parts;
	struct sd_fetch_wait *waits;
	int32_t n_waits;
	uv_timer_t timer;
	bool waiting, answered, timer_live;
	bool consumer;			/* replica_id < 0 */
	char rack[SD_LOC_RACK_BYTES];	/* v11 rack_id, "" if none or too long */
	uint64_t client_hash;		/* pl_client_hash(client_id, rack) */
	struct sd_buf body; /* encoded response body, records excluded */
};

/* ---- Waiting -------------------------------------------------------------- */

static void unlink_waits(struct fetch *f)
{
	for (int32_t i = 0; i < f->n_waits; i++) {
		struct sd_fetch_wait *w = &f->waits[i];
		if (w->sp == NULL) {
			continue;
		}
		if (w->prev != NULL) {
			w->prev->next = w->next;
		} else {
			w->sp->waiters = w->next;
		}
		if (w->next != NULL) {
			w->next->prev = w->prev;
		}
		w->sp = NULL;
	}
	f->n_waits = 0;
}

/* Releases what a partition's last read holds; it answers no records. */
static void part_reset(struct fpart *fp)
{
	rl_read_release(&fp->ref);
	if (fp->pieces != &fp->one) {
		sl_free(fp->pieces);
	}
	fp->pieces = NULL;
	fp->n_pieces = 0;
	fp->records_len = 0;
	fp->has_data = false;
}

static void fetch_free(struct fetch *f)
{
	for (int32_t i = 0; i < f->n_parts; i++) {
		part_reset(&f->parts[i]);
	}
	sl_free(f->parts);
	sl_free(f->waits);
	sd_buf_free(&f->body);
	sl_free(f);
}

static void timer_closed(uv_handle_t *h)
{
	fetch_free(h->data);
}

static void fetch_done(void *data, int status)
{
	(void)status;
	struct fetch *f = data;
	if (f->timer_live) {
		uv_close((uv_handle_t *)&f->timer, timer_closed);
	} else {
		fetch_free(f);
	}
}

static bool evaluate(struct fetch *f, bool final);

static void wake(struct fetch *f)
{
	if (!f->waiting || f->answered) {
		return;
	}
	unlink_waits(f);
	(void)evaluate(f, false);
}

static bool still_waiting_on(const struct sd_partition *p, const struct fetch *f)
{
	for (const struct sd_fetch_wait *w = p->waiters; w != NULL; w = w->next) {
		if (w->f == f) {
			return true;
		}
	}
	return false;
}

void sd_kh_fetch_wake(struct sd_partition *p)
{
	sd_loc_partition_event(p);
	/* Collect first: evaluating relinks fetches that keep waiting, and may
	 * release others, so each is checked again before it is woken. */
	size_t n = 0;
	for (struct sd_fetch_wait *w = p->waiters; w != NULL; w = w->next) {
		n++;
	}
	if (n == 0) {
		return;
	}
	struct fetch **list = sl_malloc(n * sizeof(*list));
	if (list == NULL) {
		return; /* they answer at MaxWaitMs */
	}
	size_t k = 0;
	for (struct sd_fetch_wait *w = p->waiters; w != NULL; w = w->next) {
		list[k++] = w->f;
	}
	for (size_t i = 0; i < n; i++) {
		if (still_waiting_on(p, list[i])) {
			wake(list[i]);
		}
	}
	sl_free(list);
}

void sd_kh_fetch_drop_all(struct sd_partition *p)
{
	while (p->waiters != NULL) {
		struct fetch *f = p->waiters->f;
		unlink_waits(f);
		if (f->waiting && !f->answered) {
			uv_timer_stop(&f->timer);
			/* The partition is going away: answer from what is left. */
			evaluate(f, true);
		}
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct fetch *f = t->data;
	unlink_waits(f);
	evaluate(f, true);
}

static void on_cancel(struct sk_request *req)
{
	struct fetch *f = req->data;
	if (f->waiting && !f->answered) {
		uv_timer_stop(&f->timer);
		unlink_waits(f);
		evaluate(f, true);
	}
}

/* ---- Reading ---------------------------------------------------------------- */

/* The leader's KIP-392 choice: true (and fp->preferred set) when a v11
 * consumer with a rack should fetch this partition from another replica. */
static bool leader_redirect(struct fetch *f, struct fpart *fp, struct sd_partition *sp,
			    int64_t fetch_offset)
{
	if (f->req->api_version < 11 || !f->consumer || f->rack[0] == '\0') {
		return false;
	}
	struct pl_fetch_choice ch;
	if (sd_loc_fetch_select(f->b, sp, f->client_hash, f->rack, fetch_offset, &ch) != 0 ||
	    ch.broker_id < 0 || ch.broker_id == f->b->id) {
		return false;
	}
	fp->preferred = ch.broker_id;
	return true;
}

/* Leader epoch fencing (v9+): the same on leaders and followers. */
static int16_t epoch_error(const struct fetch *f,
			   const struct kmsg_fetch_request_fetch_partition *rp, uint64_t term)
{
	if (f->req->api_version < 9 || rp->current_leader_epoch < 0) {
		return 0;
	}
	if ((uint64_t)rp->current_leader_epoch < term) {
		return KE_FENCED_LEADER_EPOCH;
	}
	if ((uint64_t)rp->current_leader_epoch > term) {
		return KE_UNKNOWN_LEADER_EPOCH;
	}
	return 0;
}

/* A follower's answer before reading: 0 to serve, 1 to wait for data, or
 * sets fp->error. */
static int follower_gate(struct fetch *f, struct fpart *fp, struct sd_partition *sp,
			 const struct rl_group_status *st, int64_t fetch_offset)
{
	switch (sd_loc_follower_decide(f->b, sp, st, fetch_offset)) {
	case PL_FOLLOWER_SERVE:
		return 0;
	case PL_FOLLOWER_WAIT:
		return 1;
	case PL_FOLLOWER_REFUSE_STALE:
		fp->error = KE_NOT_LEADER_OR_FOLLOWER;
		return -1;
	default:
		fp->error = KE_OFFSET_OUT_OF_RANGE;
		return -1;
	}
}

/* The header a consumer gets for the control batch batch[0..]: the same
 * fields with no records, batchLength and CRC recomputed. */
static void control_header(const uint8_t *batch, uint8_t *hdr)
{
	memcpy(hdr, batch, KP_BATCH_HEADER_SIZE);
	kp_put_u32(hdr + KP_BATCH_LENGTH_OFFSET,
		   (uint32_t)(KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD));
	kp_put_u32(hdr + BATCH_OFF_RECORDS_COUNT, 0);
	kp_put_u32(hdr + KP_BATCH_OFF_CRC, kp_crc32c(0, hdr + KP_BATCH_CRC_START,
						     KP_BATCH_HEADER_SIZE - KP_BATCH_CRC_START));
}

/* Reads the control batch at Raft index (CRC-checked) into its header. */
static int read_control(struct rl_log *log, uint64_t index, const struct rl_entry_info *info,
			uint8_t *hdr)
{
	if (info->size < KP_BATCH_HEADER_SIZE || info->size > FETCH_CONTROL_BYTES_MAX) {
		return RL_ECORRUPT;
	}
	uint8_t *buf = sl_malloc(info->size);
	if (buf == NULL) {
		return RL_ENOMEM;
	}
	int rv = rl_entry_read(log, index, buf, info->size, NULL);
	if (rv == 0) {
		control_header(buf, hdr);
	}
	sl_free(buf);
	return rv;
}

/* The next piece of fp, or NULL when FETCH_PIECES_MAX are used or memory
 * is short. The first one needs no allocation. */
static struct fpiece *piece_add(struct fpart *fp)
{
	if (fp->n_pieces == 0) {
		fp->pieces = &fp->one;
	} else if (fp->n_pieces == 1) {
		struct fpiece *a = sl_malloc(FETCH_PIECES_MAX * sizeof(*a));
		if (a == NULL) {
			return NULL;
		}
		a[0] = fp->one;
		fp->pieces = a;
	} else if (fp->n_pieces == FETCH_PIECES_MAX) {
		return NULL;
	}
	struct fpiece *pc = &fp->pieces[fp->n_pieces++];
	memset(pc, 0, sizeof(*pc));
	return pc;
}

/* Splits fp->ref into pieces: runs of data batches stay file ranges, each
 * control batch becomes its synthesized header. The range is cut before a
 * batch that needs a piece beyond FETCH_PIECES_MAX or cannot be read; a
 * first batch that cannot be read is an error (an rl_err). */
static int split_range(struct fpart *fp, struct rl_log *log)
{
	uint64_t index;
	int rv = rl_offset_to_index(log, fp->ref.base_offset, &index);
	size_t pos = 0;
	int64_t next = fp->ref.base_offset;
	while (rv == 0 && pos < fp->ref.len) {
		struct rl_entry_info info;
		rv = rl_entry_get_info(log, index, &info);
		if (rv != 0) {
			break;
		}
		struct fpiece *last = fp->n_pieces > 0 ? &fp->pieces[fp->n_pieces - 1] : NULL;
		if (info.kind == RL_KIND_DATA && last != NULL && !last->control) {
			last->len += info.size;
		} else {
			struct fpiece *pc = piece_add(fp);
			if (pc == NULL) {
				break;
			}
			if (info.kind == RL_KIND_DATA) {
				pc->file_pos = fp->ref.file_pos + (int64_t)pos;
				pc->len = info.size;
				fp->has_data = true;
			} else if ((rv = read_control(log, index, &info, pc->hdr)) == 0) {
				pc->control = true;
				pc->len = KP_BATCH_HEADER_SIZE;
			} else {
				fp->n_pieces--;
				break;
			}
		}
		pos += info.size;
		next = info.last_offset + 1;
		index++;
	}
	SL_ASSERT(pos <= fp->ref.len); /* the range is whole batches of the same index */
	if (pos == 0) {
		return rv != 0 ? rv : RL_ENOMEM;
	}
	fp->ref.len = pos;
	fp->ref.next_offset = next;
	fp->records_len = 0;
	for (int32_t i = 0; i < fp->n_pieces; i++) {
		fp->records_len += fp->pieces[i].len;
	}
	return 0;
}

/* Reads [fetch_offset, hwm) into fp's pieces; for Fetch v4-10, skips a
 * leading run of control batches and answers a control-only tail with no
 * records (see the file comment). Returns 0 or an rl_err. */
static int read_records(const struct fetch *f, struct fpart *fp, struct rl_log *log,
			int64_t fetch_offset, int64_t hwm, size_t max)
{
	for (int skips = 0;; skips++) {
		int rv = rl_read_range(log, fetch_offset, hwm, max, &fp->ref);
		if (rv != 0 || fp->ref.len == 0) {
			return rv;
		}
		rv = split_range(fp, log);
		if (rv != 0 || fp->has_data || f->req->api_version >= 11) {
			if (rv != 0) {
				part_reset(fp);
			}
			return rv;
		}
		fetch_offset = fp->ref.next_offset;
		part_reset(fp);
		if (fetch_offset >= hwm || skips == FETCH_CONTROL_SKIPS_MAX) {
			return 0;
		}
	}
}

static void read_partition(struct fetch *f, struct fpart *fp,
			   const struct kmsg_fetch_request_fetch_partition *rp, const char *topic,
			   size_t budget)
{
	struct sd_broker *b = f->b;
	part_reset(fp);
	fp->error = 0;
	fp->preferred = -1;
	fp->hwm = fp->start = -1;
	struct sd_partition_view v;
	if (!sd_partition_view(b, topic, rp->partition, &v)) {
		fp->error = KE_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	struct sd_partition *sp = v.sp;
	struct rl_group *g = v.g;
	struct rl_group_status st = v.st;
	bool leader = g != NULL && st.role == RAFT_LEADER;
	bool follower = g != NULL && st.role == RAFT_FOLLOWER && f->consumer;
	if (!leader && !follower) {
		fp->error = KE_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	fp->error = epoch_error(f, rp, st.term);
	if (fp->error != 0) {
		return;
	}
	fp->hwm = st.hwm;
	fp->start = st.start_offset;
	if (leader && leader_redirect(f, fp, sp, rp->fetch_offset)) {
		return;
	}
	if (leader && (rp->fetch_offset < st.start_offset || rp->fetch_offset > st.hwm)) {
		fp->error = KE_OFFSET_OUT_OF_RANGE;
		return;
	}
	if (follower && follower_gate(f, fp, sp, &st, rp->fetch_offset) != 0) {
		return;
	}
	if (rp->fetch_offset == st.hwm || budget == 0) {
		return;
	}
	size_t max = rp->partition_max_bytes > 0 ? (size_t)rp->partition_max_bytes : 1;
	if (max > budget) {
		max = budget;
	}
	int rv = read_records(f, fp, sd_part_log(sp->part), rp->fetch_offset, st.hwm, max);
	if (rv != 0) {
		fp->error = sd_kafka_err_from_rl(rv);
	}
}

/* Reads every partition; returns the bytes of records found. *answer_now is
 * set when some partition has an error or a preferred replica. */
static size_t read_all(struct fetch *f, bool *answer_now)
{
	const struct kmsg_fetch_request *r = f->req->body;
	size_t total = 0;
	size_t max_total = r->max_bytes > 0 ? (size_t)r->max_bytes : SIZE_MAX;
	size_t segs_used = 0;
	int32_t k = 0;
	*answer_now = false;
	for (int32_t i = 0; i < r->topics.count; i++) {
		const struct kmsg_fetch_request_fetch_topic *t = &r->topics.items[i];
		char topic[SD_CTL_TOPIC_NAME_MAX + 1];
		bool ok = sd_kstr_copy(&t->topic, topic, sizeof(topic));
		for (int32_t j = 0; j < t->partitions.count; j++, k++) {
			struct fpart *fp = &f->parts[k];
			fp->topic = i;
			fp->partition = t->partitions.items[j].partition;
			if (!ok) {
				part_reset(fp);
				fp->error = KE_UNKNOWN_TOPIC_OR_PARTITION;
				fp->preferred = -1;
				fp->hwm = fp->start = -1;
			} else {
				/* The first partition with data may exceed max_bytes, as in Kafka. */
				size_t budget = total == 0 ? SIZE_MAX : (total < max_total ? max_total - total : 0);
				read_partition(f, fp, &t->partitions.items[j], topic, budget);
			}
			/* Every partition with records takes a memory segment
			 * before its pieces; the body's tail takes the last one. */
			if (fp->n_pieces > 0 && segs_used + 1 + fp->n_pieces + 1 > SK_RAW_SEGMENTS_MAX) {
				part_reset(fp);
			}
			segs_used += fp->n_pieces > 0 ? 1 + fp->n_pieces : 0;
			total += fp->records_len;
			*answer_now |= fp->error != 0 || fp->preferred >= 0;
		}
	}
	return total;
}

/* ---- Encoding -------------------------------------------------------------- */

static void put(struct fetch *f, const void *p, size_t n)
{
	(void)sd_buf_append(&f->body, p, n); /* errors are sticky: checked in respond() */
}

static void put16(struct fetch *f, int16_t v)
{
	uint8_t b[2];
	kp_put_u16(b, (uint16_t)v);
	put(f, b, 2);
}

static void put32(struct fetch *f, int32_t v)
{
	uint8_t b[4];
	kp_put_u32(b, (uint32_t)v);
	put(f, b, 4);
}

static void put64(struct fetch *f, int64_t v)
{
	uint8_t b[8];
	kp_put_u64(b, (uint64_t)v);
	put(f, b, 8);
}

/* Counts what this answer serves: consumer record bytes by locality and
 * client rack, and preferred-replica redirects. */
static void account(struct fetch *f)
{
	uint64_t bytes = 0;
	for (int32_t p = 0; p < f->n_parts; p++) {
		bytes += f->parts[p].records_len;
		if (f->parts[p].preferred >= 0) {
			sd_admin_redirect(f->b);
		}
	}
	if (f->consumer && bytes > 0) {
		enum sd_loc_where w = sd_loc__classify(sd_loc_topology(f->b), f->b->region,
						       f->b->rack, f->rack);
		sd_admin_consumer_bytes(f->b, w, f->rack, bytes);
	}
}

/* Out of memory while encoding: the whole request gets an error. */
static void respond_failed(struct fetch *f, size_t *cut, struct sk_segment *segs)
{
	sl_free(cut);
	sl_free(segs);
	f->answered = true;
	sk_respond_error(f->req, KE_REQUEST_TIMED_OUT);
	fetch_done(f, 0);
}

/* Encodes the body and sends it, records as file ranges. */
static void respond(struct fetch *f)
{
	const struct kmsg_fetch_request *r = f->req->body;
	int16_t v = f->req->api_version;
	/* Where each partition's records go: an offset into the body. */
	size_t *cut = sl_calloc((size_t)f->n_parts + 1, sizeof(*cut));
	size_t n_segs = 1;
	for (int32_t p = 0; p < f->n_parts; p++) {
		n_segs += f->parts[p].n_pieces > 0 ? 1 + (size_t)f->parts[p].n_pieces : 0;
	}
	SL_ASSERT(n_segs <= SK_RAW_SEGMENTS_MAX);
	struct sk_segment *segs = sl_calloc(n_segs, sizeof(*segs));
	if (cut == NULL || segs == NULL) {
		respond_failed(f, cut, segs);
		return;
	}
	put32(f, 0); /* throttle_time_ms */
	if (v >= 7) {
		put16(f, 0); /* error_code */
		put32(f, 0); /* session_id: sessions are not used */
	}
	put32(f, r->topics.count);
	int32_t k = 0;
	for (int32_t i = 0; i < r->topics.count; i++) {
		const struct kmsg_fetch_request_fetch_topic *t = &r->topics.items[i];
		put16(f, (int16_t)t->topic.len);
		put(f, t->topic.ptr, (size_t)t->topic.len);
		put32(f, t->partitions.count);
		for (int32_t j = 0; j < t->partitions.count; j++, k++) {
			struct fpart *fp = &f->parts[k];
			put32(f, fp->partition);
			put16(f, fp->error);
			put64(f, fp->hwm);
			put64(f, fp->hwm); /* last_stable_offset */
			if (v >= 5) {
				put64(f, fp->start);
			}
			put32(f, 0); /* aborted_transactions: none */
			if (v >= 11) {
				put32(f, fp->preferred);
			}
			put32(f, (int32_t)fp->records_len);
			cut[k] = f->body.len;
		}
	}
	if (f->body.err != 0) {
		respond_failed(f, cut, segs);
		return;
	}
	const uint8_t *body = (const uint8_t *)f->body.data;
	size_t n = 0, from = 0;
	for (int32_t p = 0; p < f->n_parts; p++) {
		const struct fpart *fp = &f->parts[p];
		if (fp->n_pieces == 0) {
			continue;
		}
		segs[n++] = sk_segment_mem(body + from, cut[p] - from);
		for (int32_t i = 0; i < fp->n_pieces; i++) {
			const struct fpiece *pc = &fp->pieces[i];
			segs[n++] = pc->control ? sk_segment_mem(pc->hdr, pc->len)
						: sk_segment_file(fp->ref.fd, pc->file_pos, pc->len);
		}
		from = cut[p];
	}
	segs[n++] = sk_segment_mem(body + from, f->body.len - from);
	account(f);
	f->answered = true;
	int rv = sk_respond_raw(f->req, segs, n, fetch_done, f);
	sl_free(segs);
	sl_free(cut);
	if (rv != 0) {
		fetch_done(f, rv);
	}
}

/* Answers if enough data (or final); else waits. Returns true if answered. */
static bool evaluate(struct fetch *f, bool final)
{
	const struct kmsg_fetch_request *r = f->req->body;
	bool answer_now;
	size_t total = read_all(f, &answer_now);
	size_t min = r->min_bytes > 0 ? (size_t)r->min_bytes : 0;
	if (final || answer_now || total >= min || r->max_wait_ms <= 0 ||
	    f->req->closed || f->b->stopping) {
		f->waiting = false;
		if (f->timer_live) {
			uv_timer_stop(&f->timer);
		}
		respond(f);
		return true;
	}
	/* Wait on every partition named. */
	int32_t k = 0;
	for (int32_t i = 0; i < r->topics.count; i++) {
		char topic[SD_CTL_TOPIC_NAME_MAX + 1];
		if (!sd_kstr_copy(&r->topics.items[i].topic, topic, sizeof(topic))) {
			continue;
		}
		for (int32_t j = 0; j < r->topics.items[i].partitions.count; j++) {
			struct sd_partition *sp =
				sd_partition_find(f->b, topic, r->topics.items[i].partitions.items[j].partition);
			if (sp == NULL) {
				continue;
			}
			struct sd_fetch_wait *w = &f->waits[k++];
			w->f = f;
			w->sp = sp;
			w->prev = NULL;
			w->next = sp->waiters;
			if (sp->waiters != NULL) {
				sp->waiters->prev = w;
			}
			sp->waiters = w;
		}
	}
	f->n_waits = k;
	if (!f->waiting) {
		f->waiting = true;
		uint64_t wait = (uint64_t)r->max_wait_ms;
		uv_timer_start(&f->timer, on_timeout, wait > FETCH_WAIT_MS_MAX ? FETCH_WAIT_MS_MAX : wait,
			       0);
	}
	return false;
}

static void handle_fetch(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_fetch_request *r = req->body;
	int64_t n = 0;
	for (int32_t i = 0; i < r->topics.count; i++) {
		n += r->topics.items[i].partitions.count;
	}
	if (n > FETCH_PARTS_MAX) {
		sk_respond_error(req, KE_INVALID_REQUEST);
		return;
	}
	struct fetch *f = sl_calloc(1, sizeof(*f));
	if (f != NULL) {
		sd_buf_init(&f->body, FETCH_BODY_BYTES_MAX);
		f->parts = sl_calloc((size_t)n + 1, sizeof(*f->parts));
		f->waits = sl_calloc((size_t)n + 1, sizeof(*f->waits));
	}
	if (f == NULL || f->parts == NULL || f->waits == NULL) {
		if (f != NULL) {
			fetch_free(f);
		}
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	f->req = req;
	f->b = b;
	f->n_parts = (int32_t)n;
	f->consumer = r->replica_id < 0;
	if (req->api_version < 11 || !sd_kstr_copy(&r->rack_id, f->rack, sizeof(f->rack))) {
		f->rack[0] = '\0';
	}
	char client_id[FETCH_CLIENT_ID_BYTES];
	bool no_id = req->client_id.null || req->client_id.len < 0;
	size_t id_len = no_id ? 0 : (size_t)req->client_id.len;
	id_len = SL_MIN(id_len, sizeof(client_id) - 1);
	if (id_len > 0) {
		memcpy(client_id, req->client_id.ptr, id_len);
	}
	client_id[id_len] = '\0';
	f->client_hash = pl_client_hash(client_id, f->rack);
	req->data = f;
	uv_timer_init(b->loop, &f->timer);
	f->timer.data = f;
	f->timer_live = true;
	sk_request_on_cancel(req, on_cancel);
	evaluate(f, false);
}

/* ---- ListOffsets ------------------------------------------------------------- */

static void list_partition(struct sd_broker *b, const char *topic, int32_t replica_id,
			   const struct kmsg_list_offsets_request_list_offsets_partition *rp,
			   struct kmsg_list_offsets_response_list_offsets_partition_response *out)
{
	out->partition_index = rp->partition_index;
	out->timestamp = -1;
	out->offset = -1;
	out->leader_epoch = -1;
	struct sd_partition_view v;
	if (!sd_partition_view(b, topic, rp->partition_index, &v)) {
		out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	struct sd_partition *sp = v.sp;
	struct rl_group *g = v.g;
	struct rl_group_status st = v.st;
	/* A follower answers from its own log and high watermark while it is
	 * within the staleness bound (any offset passes the range check). */
	if (g == NULL || (st.role != RAFT_LEADER &&
			  (st.role != RAFT_FOLLOWER || replica_id >= 0 ||
			   sd_loc_follower_decide(b, sp, &st, st.start_offset) ==
				   PL_FOLLOWER_REFUSE_STALE))) {
		out->error_code = KE_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	if (rp->timestamp == -2) {
		out->offset = st.start_offset;
	} else if (rp->timestamp == -1) {
		out->offset = st.hwm;
	} else {
		int64_t off;
		if (rl_offset_for_timestamp(sd_part_log(sp->part), rp->timestamp, &off) == 0 &&
		    off < st.hwm) {
			out->offset = off;
			out->timestamp = rp->timestamp;
		}
	}
}

static void handle_list_offsets(void *ctx, struct sk_request *req)
{
	struct sd_broker *b = ctx;
	const struct kmsg_list_offsets_request *r = req->body;
	struct kmsg_list_offsets_response resp;
	kmsg_api_lookup(KMSG_API_LIST_OFFSETS)->response_init(&resp);
	resp.topics.count = r->topics.count;
	resp.topics.items =
		kmsg_arena_alloc(req->arena, (size_t)(r->topics.count + 1) * sizeof(*resp.topics.items));
	if (resp.topics.items == NULL) {
		sk_respond_error(req, KE_REQUEST_TIMED_OUT);
		return;
	}
	for (int32_t i = 0; i < r->topics.count; i++) {
		const struct kmsg_list_offsets_request_list_offsets_topic *t = &r->topics.items[i];
		struct kmsg_list_offsets_response_list_offsets_topic_response *rt = &resp.topics.items[i];
		kmsg_list_offsets_response_list_offsets_topic_response_init(rt);
		rt->name = t->name;
		rt->partitions.count = t->partitions.count;
		rt->partitions.items = kmsg_arena_alloc(
			req->arena, (size_t)(t->partitions.count + 1) * sizeof(*rt->partitions.items));
		if (rt->partitions.items == NULL) {
			sk_respond_error(req, KE_REQUEST_TIMED_OUT);
			return;
		}
		char topic[SD_CTL_TOPIC_NAME_MAX + 1];
		bool ok = sd_kstr_copy(&t->name, topic, sizeof(topic));
		for (int32_t j = 0; j < t->partitions.count; j++) {
			struct kmsg_list_offsets_response_list_offsets_partition_response *out =
				&rt->partitions.items[j];
			kmsg_list_offsets_response_list_offsets_partition_response_init(out);
			if (!ok) {
				out->partition_index = t->partitions.items[j].partition_index;
				out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
				out->offset = out->timestamp = -1;
				continue;
			}
			list_partition(b, topic, r->replica_id, &t->partitions.items[j], out);
		}
	}
	sk_respond(req, &resp);
}

void sd_kh_fetch_register(struct sd_broker *b)
{
	sk_server_set_handler(b->kafka, KMSG_API_FETCH, handle_fetch, b);
	sk_server_set_handler(b->kafka, KMSG_API_LIST_OFFSETS, handle_list_offsets, b);
}
