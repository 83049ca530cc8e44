/* The controller: Raft group 0 over controller.quorum.voters, its applied
 * state (brokers, topics, assignments), and the RPCs brokers use to change
 * it.
 *
 * Happy path: every broker hosts group 0 (voters bootstrap it with the voter
 * list; other brokers join as learners, added by the leader once they
 * register). When group 0's high watermark moves, committed entries are read
 * from its log and applied to the state in index order, then the broker
 * reconciles its data partitions against the state (create, delete). A
 * broker that wants a change (its own registration, a topic creation from a
 * Kafka client) sends a request to the controller leader; the leader handles
 * requests one at a time: it validates, plans (placement/ through
 * sd_ctl_plan_create_topic), submits the command with acks=all, waits until
 * its own state has applied it, and answers with the entry's index. The
 * requesting broker answers its client once its own state has applied that
 * index, so a Metadata request that follows sees the change.
 *
 * Failure modes: requests unanswered within a second are resent to whoever
 * leads then (the leader de-duplicates by (broker, request id)); after
 * request_timeout_ms the caller gets REQUEST_TIMED_OUT. A leader that loses
 * leadership fails its queue with NOT_CONTROLLER so callers resend. Malformed
 * RPC payloads are dropped and counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/broker.h"
#include "server/json.h"
#include "server/rpc_bytes.h"

#define RPC_REQ 1
#define RPC_RESP 2
#define RPC_HEARTBEAT 3
#define RPC_NOTICE 4

#define CTL_RESEND_MS 1000
#define CTL_REQUEST_TIMEOUT_MS 15000
#define CTL_HEARTBEAT_MS 500
#define CTL_LIVENESS_MS 3000
#define CTL_RPC_BYTES_MAX (1u << 20)
#define CTL_PENDING_MAX 4096
#define CTL_NOTICE_ENTRIES_MAX 4096

/* Kafka error codes used here. */
#define KERR_NONE 0
#define KERR_REQUEST_TIMED_OUT 7
#define KERR_NOT_CONTROLLER 41
#define KERR_INVALID_REQUEST 42
#define KERR_UNKNOWN_TOPIC 3

/* A request this broker sent and waits on. */
struct pending {
	uint64_t id;
	uint8_t kind;
	uint8_t *payload;
	size_t len;
	uint64_t sent_ms, start_ms;
	uint64_t wait_index; /* answered: complete once applied >= this */
	bool answered;
	sd_ctl_done_cb cb;
	void *data;
	struct pending *next;
};

/* A request queued on the leader. */
struct lreq {
	int32_t from;
	uint64_t id;
	uint8_t kind;
	uint8_t *payload;
	size_t len;
	struct lreq *next;
};

struct sd_controller {
	struct sd_broker *b;
	struct sd_part *part;
	struct sd_ctl_state *state;
	struct sd_ctl_local *hosted;
	int32_t n_hosted;
	uint8_t *rbuf;
	size_t rbuf_cap;
	bool voter;
	int32_t leader;
	uint64_t next_id;
	struct pending *pending;
	/* Leader side. */
	struct lreq *queue, *queue_tail;
	bool busy;            /* the head is being proposed */
	uint64_t busy_index;  /* its entry, once submitted */
	struct rl_submit_req sub;
	int64_t *seen_ms;     /* by broker id: last heartbeat */
	int32_t seen_cap;
	uv_timer_t timer;
	uint64_t last_heartbeat_ms;
	uint64_t rpc_bad;
	bool reg_done, reg_pending;
	bool stopping;
};

static uint64_t now_ms(const struct sd_controller *c)
{
	return uv_now(c->b->loop);
}

/* ---- Message encoding --------------------------------------------------- */

/* Messages are built in an sd_buf bounded by CTL_RPC_BYTES_MAX; its
 * errors are sticky and checked once before sending. */
static void mb_init(struct sd_buf *m)
{
	sd_buf_init(m, CTL_RPC_BYTES_MAX);
}

static void mb_put(struct sd_buf *m, const void *src, size_t n)
{
	(void)sd_buf_append(m, src, n);
}

static void mb_u8(struct sd_buf *m, uint8_t v)
{
	mb_put(m, &v, 1);
}

static void mb_u16(struct sd_buf *m, uint16_t v)
{
	uint8_t b[2];
	sl__put_be16(b, v);
	mb_put(m, b, 2);
}

static void mb_u32(struct sd_buf *m, uint32_t v)
{
	uint8_t b[4];
	sl__put_be32(b, v);
	mb_put(m, b, 4);
}

static void mb_u64(struct sd_buf *m, uint64_t v)
{
	uint8_t b[8];
	sl__put_be64(b, v);
	mb_put(m, b, 8);
}

/* Strings: u16 length (0xffff = null), bytes. */
static void mb_str(struct sd_buf *m, const char *s)
{
	if (s == NULL) {
		mb_u16(m, 0xffff);
		return;
	}
	size_t n = strlen(s);
	if (n >= 0xffff) {
		n = 0xfffe;
	}
	mb_u16(m, (uint16_t)n);
	mb_put(m, s, n);
}

/* Reads a string into an arena-less copy: returns sl_malloc'd text, or NULL
 * with *is_null set; sets r->bad on malformed input. */
static char *rd_str(struct sl__rd *r, bool *is_null)
{
	uint16_t n = sl__rd_u16(r);
	*is_null = n == 0xffff;
	if (*is_null || r->bad) {
		return NULL;
	}
	const uint8_t *p = sl__rd_bytes(r, n);
	if (p == NULL || memchr(p, 0, n) != NULL) {
		r->bad = true;
		return NULL;
	}
	char *s = sl_malloc((size_t)n + 1);
	if (s == NULL) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void send_to(struct sd_controller *c, int32_t to, const struct sd_buf *m)
{
	if (m->err != 0) {
		return;
	}
	if (to == c->b->id) {
		sd_controller_on_control(c->b, (uint64_t)to, (const uint8_t *)m->data, m->len);
		return;
	}
	(void)sd_pm_send_control(c->b->pm, (uint64_t)to, SD_CTL_CONTROLLER_GROUP_ID, m->data,
				 m->len);
}

/* ---- Caller side ---------------------------------------------------------- */

static void pending_send(struct sd_controller *c, struct pending *p)
{
	p->sent_ms = now_ms(c);
	if (c->leader < 0) {
		return; /* resent by the timer once a leader is known */
	}
	struct sd_buf m;
	mb_init(&m);
	mb_u8(&m, RPC_REQ);
	mb_u32(&m, (uint32_t)c->b->id);
	mb_u64(&m, p->id);
	mb_u8(&m, p->kind);
	mb_put(&m, p->payload, p->len);
	send_to(c, c->leader, &m);
	sd_buf_free(&m);
}

static int call(struct sd_controller *c, uint8_t kind, struct sd_buf *payload, sd_ctl_done_cb cb,
		void *data)
{
	unsigned n = 0;
	for (struct pending *q = c->pending; q != NULL; q = q->next) {
		n++;
	}
	if (payload->err != 0 || n >= CTL_PENDING_MAX) {
		sd_buf_free(payload);
		return -1;
	}
	struct pending *p = sl_calloc(1, sizeof(*p));
	if (p == NULL) {
		sd_buf_free(payload);
		return -1;
	}
	p->id = ++c->next_id;
	p->kind = kind;
	p->payload = (uint8_t *)payload->data; /* ownership passes to p */
	p->len = payload->len;
	p->cb = cb;
	p->data = data;
	p->start_ms = now_ms(c);
	p->next = c->pending;
	c->pending = p;
	pending_send(c, p);
	return 0;
}

static void pending_finish(struct sd_controller *c, struct pending *p, int16_t err,
			   const char *msg)
{
	struct pending **pp = &c->pending;
	while (*pp != p) {
		pp = &(*pp)->next;
	}
	*pp = p->next;
	if (p->cb != NULL) {
		p->cb(p->data, err, msg);
	}
	sl_free(p->payload);
	sl_free(p);
}

/* Completes answered requests whose entry this broker has applied. */
static void pending_check_applied(struct sd_controller *c)
{
	uint64_t applied = sd_ctl_state_applied_index(c->state);
	for (struct pending *p = c->pending, *next; p != NULL; p = next) {
		next = p->next;
		if (p->answered && p->wait_index <= applied) {
			pending_finish(c, p, KERR_NONE, "");
		}
	}
}

static void on_resp(struct sd_controller *c, struct sl__rd *r)
{
	uint64_t id = sl__rd_u64(r);
	int16_t err = (int16_t)sl__rd_u16(r);
	uint64_t index = sl__rd_u64(r);
	bool is_null;
	char *msg = rd_str(r, &is_null);
	if (r->bad) {
		c->rpc_bad++;
		sl_free(msg);
		return;
	}
	for (struct pending *p = c->pending; p != NULL; p = p->next) {
		if (p->id != id || p->answered) {
			continue;
		}
		if (err == KERR_NOT_CONTROLLER) {
			break; /* resent to the new leader by the timer */
		}
		if (err != KERR_NONE) {
			pending_finish(c, p, err, msg ? msg : "");
			break;
		}
		p->answered = true;
		p->wait_index = index;
		pending_check_applied(c);
		break;
	}
	sl_free(msg);
}

/* ---- Leader side: answering and proposing ------------------------------- */

static void reply(struct sd_controller *c, int32_t to, uint64_t id, int16_t err, uint64_t index,
		  const char *msg)
{
	struct sd_buf m;
	mb_init(&m);
	mb_u8(&m, RPC_RESP);
	mb_u64(&m, id);
	mb_u16(&m, (uint16_t)err);
	mb_u64(&m, index);
	mb_str(&m, msg);
	send_to(c, to, &m);
	sd_buf_free(&m);
}

static void lreq_pop(struct sd_controller *c)
{
	struct lreq *q = c->queue;
	c->queue = q->next;
	if (c->queue == NULL) {
		c->queue_tail = NULL;
	}
	sl_free(q->payload);
	sl_free(q);
	c->busy = false;
	c->busy_index = 0;
}

static void leader_pump(struct sd_controller *c);

static void proposal_done(struct rl_submit_req *req, int status)
{
	struct sd_controller *c = req->data;
	if (c->stopping || c->queue == NULL || !c->busy) {
		return;
	}
	if (status != 0) {
		reply(c, c->queue->from, c->queue->id, KERR_NOT_CONTROLLER, 0, rl_strerror(status));
		lreq_pop(c);
		leader_pump(c);
		return;
	}
	c->busy_index = req->index;
	/* Answered once applied (sd_controller_on_hwm calls leader_pump). */
	leader_pump(c);
}

/* Submits cmd; the head request is answered once its entry is applied. */
static int propose(struct sd_controller *c, const struct sd_ctl_cmd *cmd)
{
	uint8_t *batch;
	size_t len;
	int rv = sd_ctl_batch_build(cmd, 1, (int64_t)sl_now_wall_ms(), &batch, &len);
	if (rv != 0) {
		return rv;
	}
	memset(&c->sub, 0, sizeof(c->sub));
	c->sub.data = c;
	rv = sd_part_submit(c->part, &c->sub, batch, len, RL_ACKS_ALL, proposal_done);
	if (rv != 0) {
		sl_free(batch);
		return rv;
	}
	c->busy = true;
	return 0;
}

static void live_brokers(struct sd_controller *c, int32_t *out, int32_t *n)
{
	*n = 0;
	uint64_t now = now_ms(c);
	for (int32_t i = 0; i < sd_ctl_state_broker_count(c->state); i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(c->state, i);
		bool live = br->id == c->b->id ||
			    (br->id < c->seen_cap && c->seen_ms[br->id] > 0 &&
			     now - (uint64_t)c->seen_ms[br->id] <= CTL_LIVENESS_MS);
		if (live) {
			out[(*n)++] = br->id;
		}
	}
}

/* Decodes the configs of an intent into arrays owned by the caller. */
static int rd_configs(struct sl__rd *r, struct sd_ctl_config **out, int32_t *n, bool allow_null)
{
	uint16_t count = sl__rd_u16(r);
	*out = NULL;
	*n = 0;
	if (r->bad || count > SD_CTL_CONFIGS_MAX) {
		return -1;
	}
	struct sd_ctl_config *cf = sl_calloc(count ? count : 1, sizeof(*cf));
	if (cf == NULL) {
		return -1;
	}
	for (uint16_t i = 0; i < count; i++) {
		bool knull, vnull;
		cf[i].key = rd_str(r, &knull);
		cf[i].value = rd_str(r, &vnull);
		*n = i + 1;
		if (r->bad || knull || (vnull && !allow_null)) {
			*out = cf;
			return -1;
		}
	}
	*out = cf;
	return 0;
}

static void free_configs(struct sd_ctl_config *cf, int32_t n)
{
	for (int32_t i = 0; i < n && cf != NULL; i++) {
		sl_free((void *)cf[i].key);
		sl_free((void *)cf[i].value);
	}
	sl_free(cf);
}

/* Handles the head request: returns true when it is finished (answered
 * without a proposal), false when a proposal is in flight. */
static bool handle_create(struct sd_controller *c, struct lreq *q, struct sl__rd *r)
{
	bool is_null;
	char *name = rd_str(r, &is_null);
	int32_t partitions = (int32_t)sl__rd_u32(r);
	int32_t rf = (int32_t)sl__rd_u32(r);
	bool validate_only = sl__rd_u8(r) != 0;
	struct sd_ctl_config *cf;
	int32_t ncf;
	int bad = rd_configs(r, &cf, &ncf, false);
	bool done = true;
	if (bad || r->bad || name == NULL) {
		reply(c, q->from, q->id, KERR_INVALID_REQUEST, 0, "malformed create request");
		goto out;
	}
	char msg[SD_CTL_MSG_BYTES];
	struct sd_config_kv kv[SD_CTL_CONFIGS_MAX];
	for (int32_t i = 0; i < ncf; i++) {
		kv[i].name = cf[i].key;
		kv[i].value = cf[i].value;
	}
	int16_t cerr = sd_topic_config_check_all(kv, ncf, msg, sizeof(msg));
	if (cerr != 0) {
		reply(c, q->from, q->id, cerr, 0, msg);
		goto out;
	}
	int32_t live[SD_CTL_BROKERS_MAX];
	int32_t n_live;
	live_brokers(c, live, &n_live);
	uint8_t topic_id[SD_CTL_TOPIC_ID_BYTES];
	uint64_t seed = sl_now_mono_ns() ^ ((uint64_t)c->b->id << 48) ^ q->id;
	for (int i = 0; i < SD_CTL_TOPIC_ID_BYTES; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		topic_id[i] = (uint8_t)(seed >> 56);
	}
	topic_id[0] |= 1;
	struct sd_ctl_plan_topic_req pr = {
		.name = name,
		.topic_id = topic_id,
		.partitions = partitions,
		.replication_factor = rf,
		.configs = cf,
		.n_configs = ncf,
		.live_brokers = live,
		.n_live = n_live,
	};
	struct sd_ctl_cmd cmd;
	struct sd_ctl_plan_result res;
	int rv = sd_ctl_plan_create_topic(c->state, &pr, &cmd, &res);
	if (rv != 0 || res.error_code != 0) {
		reply(c, q->from, q->id, res.error_code ? res.error_code : KERR_INVALID_REQUEST, 0,
		      res.message[0] ? res.message : sd_ctl_strerror(rv));
		goto out;
	}
	if (res.warnings != 0) {
		SL_LOG(SL_LOG_WARN, "component=controller event=placement_warning topic=%s msg=\"%s\"",
		       name, res.message);
	}
	if (validate_only) {
		reply(c, q->from, q->id, KERR_NONE, 0, res.message);
	} else if (propose(c, &cmd) != 0) {
		reply(c, q->from, q->id, KERR_NOT_CONTROLLER, 0, "proposal failed");
	} else {
		done = false;
	}
	sd_ctl_cmd_free(&cmd);
out:
	sl_free(name);
	free_configs(cf, ncf);
	return done;
}

static bool handle_delete(struct sd_controller *c, struct lreq *q, struct sl__rd *r)
{
	bool is_null;
	char *name = rd_str(r, &is_null);
	bool done = true;
	const struct sd_ctl_topic *t = name ? sd_ctl_state_topic_find(c->state, name) : NULL;
	if (r->bad || name == NULL) {
		reply(c, q->from, q->id, KERR_INVALID_REQUEST, 0, "malformed delete request");
	} else if (t == NULL) {
		reply(c, q->from, q->id, KERR_UNKNOWN_TOPIC, 0, "unknown topic");
	} else {
		struct sd_ctl_cmd cmd = {.type = SD_CTL_CMD_DELETE_TOPIC};
		cmd.u.delete_topic.name = t->name;
		memcpy(cmd.u.delete_topic.id, t->id, SD_CTL_TOPIC_ID_BYTES);
		if (propose(c, &cmd) != 0) {
			reply(c, q->from, q->id, KERR_NOT_CONTROLLER, 0, "proposal failed");
		} else {
			done = false;
		}
	}
	sl_free(name);
	return done;
}

static bool handle_alter(struct sd_controller *c, struct lreq *q, struct sl__rd *r)
{
	bool is_null;
	char *name = rd_str(r, &is_null);
	bool validate_only = sl__rd_u8(r) != 0;
	struct sd_ctl_config *ops;
	int32_t nops;
	int bad = rd_configs(r, &ops, &nops, true);
	bool done = true;
	const struct sd_ctl_topic *t = name ? sd_ctl_state_topic_find(c->state, name) : NULL;
	char msg[SD_CTL_MSG_BYTES] = "";
	if (bad || r->bad || name == NULL || nops == 0) {
		reply(c, q->from, q->id, KERR_INVALID_REQUEST, 0, "malformed alter request");
		goto out;
	}
	if (t == NULL) {
		reply(c, q->from, q->id, KERR_UNKNOWN_TOPIC, 0, "unknown topic");
		goto out;
	}
	for (int32_t i = 0; i < nops && strcmp(t->name, SD_OFFSETS_TOPIC) == 0; i++) {
		/* Committed offsets must never be deleted by retention. */
		bool retention = strcmp(ops[i].key, "retention.ms") == 0 ||
				 strcmp(ops[i].key, "retention.bytes") == 0;
		if (retention && (ops[i].value == NULL || strcmp(ops[i].value, "-1") != 0)) {
			reply(c, q->from, q->id, 40 /* INVALID_CONFIG */, 0,
			      SD_OFFSETS_TOPIC " keeps retention.ms and retention.bytes at -1");
			goto out;
		}
	}
	for (int32_t i = 0; i < nops; i++) {
		int16_t e = ops[i].value == NULL
				    ? (sd_config_key_find(SD_CONFIG_TOPIC, ops[i].key) ? 0 : 40)
				    : sd_topic_config_check(ops[i].key, ops[i].value, msg, sizeof(msg));
		if (e != 0) {
			if (msg[0] == '\0') {
				snprintf(msg, sizeof(msg), "unknown topic config %s", ops[i].key);
			}
			reply(c, q->from, q->id, e, 0, msg);
			goto out;
		}
	}
	if (validate_only) {
		reply(c, q->from, q->id, KERR_NONE, 0, "");
		goto out;
	}
	struct sd_ctl_cmd cmd = {.type = SD_CTL_CMD_ALTER_TOPIC_CONFIGS};
	cmd.u.alter_configs.topic.name = t->name;
	memcpy(cmd.u.alter_configs.topic.id, t->id, SD_CTL_TOPIC_ID_BYTES);
	cmd.u.alter_configs.n_ops = nops;
	cmd.u.alter_configs.ops = ops;
	if (propose(c, &cmd) != 0) {
		reply(c, q->from, q->id, KERR_NOT_CONTROLLER, 0, "proposal failed");
	} else {
		done = false;
	}
out:
	sl_free(name);
	free_configs(ops, nops);
	return done;
}

static bool handle_register(struct sd_controller *c, struct lreq *q, struct sl__rd *r)
{
	bool n1, n2, n3, n4;
	struct sd_ctl_cmd cmd = {.type = SD_CTL_CMD_REGISTER_BROKER};
	struct sd_ctl_broker *br = &cmd.u.register_broker;
	br->id = (int32_t)sl__rd_u32(r);
	char *region = rd_str(r, &n1);
	char *rack = rd_str(r, &n2);
	char *khost = rd_str(r, &n3);
	br->kafka.port = sl__rd_u16(r);
	char *rhost = rd_str(r, &n4);
	br->rpc.port = sl__rd_u16(r);
	br->incarnation = sl__rd_u64(r);
	br->region = region;
	br->rack = rack;
	br->kafka.host = khost;
	br->rpc.host = rhost;
	bool done = true;
	const struct sd_ctl_broker *have = sd_ctl_state_broker_find(c->state, br->id);
	if (r->bad || region == NULL || rack == NULL || khost == NULL || rhost == NULL ||
	    br->id != q->from) {
		reply(c, q->from, q->id, KERR_INVALID_REQUEST, 0, "malformed registration");
	} else if (have != NULL && have->incarnation == br->incarnation) {
		reply(c, q->from, q->id, KERR_NONE, sd_ctl_state_applied_index(c->state), "");
	} else if (propose(c, &cmd) != 0) {
		reply(c, q->from, q->id, KERR_NOT_CONTROLLER, 0, "proposal failed");
	} else {
		done = false;
	}
	sl_free(region);
	sl_free(rack);
	sl_free(khost);
	sl_free(rhost);
	return done;
}

static bool is_leader(const struct sd_controller *c)
{
	return c->leader == c->b->id;
}

/* Runs the leader's queue: answers the head once its entry is applied,
 * then starts the next. */
static void leader_pump(struct sd_controller *c)
{
	while (c->queue != NULL) {
		struct lreq *q = c->queue;
		if (c->busy) {
			if (c->busy_index == 0 ||
			    sd_ctl_state_applied_index(c->state) < c->busy_index) {
				return;
			}
			reply(c, q->from, q->id, KERR_NONE, c->busy_index, "");
			lreq_pop(c);
			continue;
		}
		if (!is_leader(c)) {
			reply(c, q->from, q->id, KERR_NOT_CONTROLLER, 0, "not the controller");
			lreq_pop(c);
			continue;
		}
		struct sl__rd r;
		sl__rd_init(&r, q->payload, q->len);
		bool done;
		switch (q->kind) {
		case SD_CTL_RPC_REGISTER:
			done = handle_register(c, q, &r);
			break;
		case SD_CTL_RPC_CREATE_TOPIC:
			done = handle_create(c, q, &r);
			break;
		case SD_CTL_RPC_DELETE_TOPIC:
			done = handle_delete(c, q, &r);
			break;
		case SD_CTL_RPC_ALTER_CONFIGS:
			done = handle_alter(c, q, &r);
			break;
		default:
			reply(c, q->from, q->id, KERR_INVALID_REQUEST, 0, "unknown request");
			done = true;
			break;
		}
		if (!done) {
			return;
		}
		lreq_pop(c);
	}
}

static void on_req(struct sd_controller *c, struct sl__rd *r)
{
	int32_t from = (int32_t)sl__rd_u32(r);
	uint64_t id = sl__rd_u64(r);
	uint8_t kind = sl__rd_u8(r);
	if (r->bad) {
		c->rpc_bad++;
		return;
	}
	if (!is_leader(c)) {
		reply(c, from, id, KERR_NOT_CONTROLLER, 0, "not the controller");
		return;
	}
	/* A resend of a request already queued: keep the first. */
	for (struct lreq *q = c->queue; q != NULL; q = q->next) {
		if (q->from == from && q->id == id) {
			return;
		}
	}
	struct lreq *q = sl_calloc(1, sizeof(*q));
	uint8_t *copy = sl_malloc(r->left ? r->left : 1);
	if (q == NULL || copy == NULL) {
		sl_free(q);
		sl_free(copy);
		return;
	}
	memcpy(copy, r->p, r->left);
	q->from = from;
	q->id = id;
	q->kind = kind;
	q->payload = copy;
	q->len = r->left;
	if (c->queue_tail != NULL) {
		c->queue_tail->next = q;
	} else {
		c->queue = q;
	}
	c->queue_tail = q;
	leader_pump(c);
}

/* ---- Heartbeats and leadership notices ---------------------------------- */

static void on_heartbeat(struct sd_controller *c, struct sl__rd *r)
{
	int32_t from = (int32_t)sl__rd_u32(r);
	if (r->bad || from < 0 || from >= SD_CTL_BROKERS_MAX * 1000) {
		c->rpc_bad++;
		return;
	}
	if (from >= c->seen_cap) {
		int32_t cap = from + 64;
		int64_t *s = sl_realloc(c->seen_ms, (size_t)cap * sizeof(*s));
		if (s == NULL) {
			return;
		}
		memset(s + c->seen_cap, 0, (size_t)(cap - c->seen_cap) * sizeof(*s));
		c->seen_ms = s;
		c->seen_cap = cap;
	}
	c->seen_ms[from] = (int64_t)now_ms(c);
}

static void on_notice(struct sd_controller *c, struct sl__rd *r)
{
	int32_t from = (int32_t)sl__rd_u32(r);
	uint32_t n = sl__rd_u32(r);
	if (r->bad || n > CTL_NOTICE_ENTRIES_MAX) {
		c->rpc_bad++;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t g = sl__rd_u64(r);
		uint64_t term = sl__rd_u64(r);
		if (r->bad) {
			c->rpc_bad++;
			return;
		}
		sd_leader_note(c->b, g, term, from);
	}
}

void sd_controller_on_control(struct sd_broker *b, uint64_t peer, const uint8_t *buf, size_t len)
{
	struct sd_controller *c = b->ctl;
	(void)peer;
	if (c == NULL || len > CTL_RPC_BYTES_MAX || len < 1) {
		return;
	}
	struct sl__rd r;
	sl__rd_init(&r, buf + 1, len - 1);
	switch (buf[0]) {
	case RPC_REQ:
		on_req(c, &r);
		break;
	case RPC_RESP:
		on_resp(c, &r);
		break;
	case RPC_HEARTBEAT:
		on_heartbeat(c, &r);
		break;
	case RPC_NOTICE:
		on_notice(c, &r);
		break;
	default:
		c->rpc_bad++;
		break;
	}
}

struct notice_ctx {
	struct sd_buf m;
	uint32_t n;
	size_t count_pos;
	struct sd_broker *b;
};

static void add_led(struct sd_part *p, void *arg)
{
	struct notice_ctx *nc = arg;
	struct rl_group *g = sd_part_group(p);
	if (g == NULL || sd_part_group_id(p) == SD_CTL_CONTROLLER_GROUP_ID ||
	    nc->n >= CTL_NOTICE_ENTRIES_MAX) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	if (st.role == RAFT_LEADER) {
		mb_u64(&nc->m, sd_part_group_id(p));
		mb_u64(&nc->m, st.term);
		nc->n++;
	}
}

/* Tells every other broker which groups this broker leads. */
static void broadcast_notice(struct sd_controller *c)
{
	struct notice_ctx nc = {.b = c->b};
	mb_init(&nc.m);
	mb_u8(&nc.m, RPC_NOTICE);
	mb_u32(&nc.m, (uint32_t)c->b->id);
	nc.count_pos = nc.m.len;
	mb_u32(&nc.m, 0);
	sd_pm_foreach(c->b->pm, add_led, &nc);
	if (nc.m.err == 0) {
		sl__put_be32((uint8_t *)nc.m.data + nc.count_pos, nc.n);
		for (int32_t i = 0; i < sd_ctl_state_broker_count(c->state); i++) {
			const struct sd_ctl_broker *br = sd_ctl_state_broker_at(c->state, i);
			if (br->id != c->b->id) {
				send_to(c, br->id, &nc.m);
			}
		}
	}
	sd_buf_free(&nc.m);
}

/* ---- Applying the log and reconciling ----------------------------------- */

static void reconcile(struct sd_controller *c)
{
	struct sd_ctl_local *want;
	int32_t n_want;
	if (sd_ctl_local_partitions(c->state, c->b->id, &want, &n_want) != 0) {
		return;
	}
	struct sd_ctl_change *ch;
	int32_t n_ch;
	if (sd_ctl_local_diff(c->hosted, c->n_hosted, want, n_want, &ch, &n_ch) != 0) {
		sl_free(want);
		return;
	}
	for (int32_t i = 0; i < n_ch; i++) {
		switch (ch[i].kind) {
		case SD_CTL_CHANGE_DELETE:
			sd_broker_close_partition(c->b, ch[i].part.group_id, true);
			break;
		case SD_CTL_CHANGE_CREATE:
			(void)sd_broker_open_partition(c->b, &ch[i].part, ch[i].part.bootstrap);
			break;
		case SD_CTL_CHANGE_REPLICAS:
			break; /* membership moves are driven by the partition leader */
		}
	}
	sl_free(ch);
	sl_free(c->hosted);
	c->hosted = want;
	c->n_hosted = n_want;
}

static void add_peers(struct sd_controller *c)
{
	for (int32_t i = 0; i < sd_ctl_state_broker_count(c->state); i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(c->state, i);
		if (br->id == c->b->id) {
			continue;
		}
		struct sl_transport_peer_info info;
		if (sl_transport_peer_info(&c->b->transport, (uint64_t)br->id, &info) == 0) {
			continue;
		}
		(void)sl_transport_add_peer(&c->b->transport, (uint64_t)br->id, br->rpc.host,
					    br->rpc.port);
	}
}

static int read_entry(struct sd_controller *c, uint64_t index, size_t *len)
{
	struct rl_entry_info info;
	struct rl_log *log = sd_part_log(c->part);
	int rv = rl_entry_read(log, index, c->rbuf, c->rbuf_cap, &info);
	if (rv == RL_ETOOSMALL) {
		uint8_t *nb = sl_realloc(c->rbuf, info.size);
		if (nb == NULL) {
			return RL_ENOMEM;
		}
		c->rbuf = nb;
		c->rbuf_cap = info.size;
		rv = rl_entry_read(log, index, c->rbuf, c->rbuf_cap, &info);
	}
	*len = info.size;
	return rv;
}

void sd_controller_on_hwm(struct sd_broker *b)
{
	struct sd_controller *c = b->ctl;
	struct rl_group *g = c && c->part ? sd_part_group(c->part) : NULL;
	if (g == NULL) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	uint64_t upto = st.commit_index < st.durable_index ? st.commit_index : st.durable_index;
	uint64_t before = sd_ctl_state_applied_index(c->state);
	for (uint64_t i = before + 1; i <= upto; i++) {
		size_t len;
		int rv = read_entry(c, i, &len);
		if (rv == RL_ENOTFOUND) {
			continue; /* below the log start: nothing to apply */
		}
		if (rv != 0) {
			SL_LOG(SL_LOG_ERROR, "component=controller event=read_failed index=%llu err=%s",
			       (unsigned long long)i, rl_err_name(rv));
			break;
		}
		struct sd_ctl_result res[8];
		int32_t n;
		rv = sd_ctl_apply_entry(c->state, i, c->rbuf, len, res, 8, &n);
		if (rv != 0) {
			SL_LOG(SL_LOG_ERROR, "component=controller event=apply_failed index=%llu err=%s",
			       (unsigned long long)i, sd_ctl_err_name(rv));
			break;
		}
		for (int32_t k = 0; k < SL_MIN(n, 8); k++) {
			if (res[k].outcome != SD_CTL_OUTCOME_APPLIED &&
			    res[k].outcome != SD_CTL_OUTCOME_NOT_A_COMMAND) {
				SL_LOG(SL_LOG_INFO,
				       "component=controller event=noop index=%llu outcome=%s "
				       "detail=\"%s\"",
				       (unsigned long long)i, sd_ctl_outcome_name(res[k].outcome),
				       res[k].detail);
			}
		}
	}
	if (sd_ctl_state_applied_index(c->state) != before) {
		add_peers(c);
		reconcile(c);
		pending_check_applied(c);
		leader_pump(c);
	}
}

void sd_controller_on_role(struct sd_broker *b, int new_role)
{
	struct sd_controller *c = b->ctl;
	if (c == NULL) {
		return;
	}
	if (new_role == RAFT_LEADER) {
		c->leader = b->id;
		SL_LOG(SL_LOG_INFO, "component=controller event=controller_leader broker=%d", b->id);
	} else if (c->leader == b->id) {
		c->leader = -1;
	}
	if (new_role != RAFT_LEADER) {
		/* Hand queued requests back to their senders. */
		leader_pump(c);
	}
}

int32_t sd_controller_leader(const struct sd_broker *b)
{
	const struct sd_controller *c = b->ctl;
	return c == NULL ? -1 : c->leader;
}

/* ---- Periodic work ------------------------------------------------------- */

static void refresh_leader(struct sd_controller *c)
{
	struct rl_group *g = sd_part_group(c->part);
	if (g == NULL) {
		return;
	}
	struct rl_group_status st;
	rl_group_get_status(g, &st);
	c->leader = st.leader_id != 0 ? (int32_t)st.leader_id : -1;
	if (st.role == RAFT_LEADER) {
		c->leader = c->b->id;
	}
}

static void send_registration(struct sd_controller *c, bool force);

static void add_learners(struct sd_controller *c)
{
	struct rl_group *g = sd_part_group(c->part);
	struct rl_group_progress pr[SD_CTL_BROKERS_MAX];
	unsigned n = rl_group_progress(g, pr, SD_CTL_BROKERS_MAX);
	for (int32_t i = 0; i < sd_ctl_state_broker_count(c->state); i++) {
		const struct sd_ctl_broker *br = sd_ctl_state_broker_at(c->state, i);
		bool member = false;
		for (unsigned k = 0; k < n && k < SD_CTL_BROKERS_MAX; k++) {
			member |= pr[k].id == (uint64_t)br->id;
		}
		if (!member) {
			int rv = rl_group_add_learner(g, (uint64_t)br->id, now_ms(c));
			sd_part_touch(c->part);
			if (rv == 0) {
				SL_LOG(SL_LOG_INFO, "component=controller event=add_learner broker=%d",
				       br->id);
			}
			return; /* one change at a time */
		}
	}
}

static void on_timer(uv_timer_t *t)
{
	struct sd_controller *c = t->data;
	uint64_t now = now_ms(c);
	refresh_leader(c);
	for (struct pending *p = c->pending, *next; p != NULL; p = next) {
		next = p->next;
		if (now - p->start_ms >= CTL_REQUEST_TIMEOUT_MS) {
			pending_finish(c, p, KERR_REQUEST_TIMED_OUT, "controller did not answer");
		} else if (!p->answered && now - p->sent_ms >= CTL_RESEND_MS) {
			pending_send(c, p);
		}
	}
	if (now - c->last_heartbeat_ms >= CTL_HEARTBEAT_MS) {
		c->last_heartbeat_ms = now;
		if (c->leader >= 0) {
			struct sd_buf m;
	mb_init(&m);
			mb_u8(&m, RPC_HEARTBEAT);
			mb_u32(&m, (uint32_t)c->b->id);
			send_to(c, c->leader, &m);
			sd_buf_free(&m);
		}
		broadcast_notice(c);
		send_registration(c, false);
		if (is_leader(c)) {
			add_learners(c);
		}
	}
}

/* ---- Registration -------------------------------------------------------- */

static void registered(void *data, int16_t err, const char *msg)
{
	struct sd_controller *c = data;
	c->reg_pending = false;
	if (err == 0) {
		c->reg_done = true;
		SL_LOG(SL_LOG_INFO, "component=controller event=registered broker=%d", c->b->id);
	} else {
		SL_LOG(SL_LOG_WARN, "component=controller event=register_failed err=%d msg=\"%s\"",
		       err, msg);
	}
}

static void send_registration(struct sd_controller *c, bool force)
{
	const struct sd_ctl_broker *have = sd_ctl_state_broker_find(c->state, c->b->id);
	if (have != NULL && have->incarnation == c->b->incarnation) {
		c->reg_done = true;
	}
	if ((c->reg_done && !force) || c->reg_pending || c->leader < 0) {
		return;
	}
	struct sd_buf m;
	mb_init(&m);
	mb_u32(&m, (uint32_t)c->b->id);
	mb_str(&m, c->b->region);
	mb_str(&m, c->b->rack);
	mb_str(&m, c->b->kafka_adv.host);
	mb_u16(&m, c->b->kafka_adv.port);
	mb_str(&m, c->b->rpc_ep.host);
	mb_u16(&m, c->b->rpc_ep.port);
	mb_u64(&m, c->b->incarnation);
	if (call(c, SD_CTL_RPC_REGISTER, &m, registered, c) == 0) {
		c->reg_pending = true;
	}
}

/* ---- Public calls ---------------------------------------------------------- */

int sd_controller_create_topic(struct sd_broker *b, const struct sd_topic_intent *t,
			       sd_ctl_done_cb cb, void *data)
{
	struct sd_buf m;
	mb_init(&m);
	int32_t partitions = t->partitions;
	int32_t rf = t->replication_factor;
	if (partitions == -1) {
		partitions = (int32_t)sd_config_int(b->cfg, "num.partitions");
	}
	if (rf == -1) {
		rf = (int32_t)sd_config_int(b->cfg, "default.replication.factor");
	}
	mb_str(&m, t->name);
	mb_u32(&m, (uint32_t)partitions);
	mb_u32(&m, (uint32_t)rf);
	mb_u8(&m, t->validate_only);
	mb_u16(&m, (uint16_t)t->n_configs);
	for (int32_t i = 0; i < t->n_configs; i++) {
		mb_str(&m, t->configs[i].key);
		mb_str(&m, t->configs[i].value);
	}
	return call(b->ctl, SD_CTL_RPC_CREATE_TOPIC, &m, cb, data);
}

int sd_controller_delete_topic(struct sd_broker *b, const char *name, sd_ctl_done_cb cb,
			       void *data)
{
	struct sd_buf m;
	mb_init(&m);
	mb_str(&m, name);
	return call(b->ctl, SD_CTL_RPC_DELETE_TOPIC, &m, cb, data);
}

int sd_controller_alter_configs(struct sd_broker *b, const char *topic,
				const struct sd_ctl_config *ops, int32_t n_ops, bool validate_only,
				sd_ctl_done_cb cb, void *data)
{
	struct sd_buf m;
	mb_init(&m);
	mb_str(&m, topic);
	mb_u8(&m, validate_only);
	mb_u16(&m, (uint16_t)n_ops);
	for (int32_t i = 0; i < n_ops; i++) {
		mb_str(&m, ops[i].key);
		mb_str(&m, ops[i].value);
	}
	return call(b->ctl, SD_CTL_RPC_ALTER_CONFIGS, &m, cb, data);
}

const struct sd_ctl_state *sd_controller_state(const struct sd_broker *b)
{
	return b->ctl->state;
}

/* ---- Start / stop ------------------------------------------------------------ */

int sd_controller_start(struct sd_broker *b)
{
	struct sd_controller *c = sl_calloc(1, sizeof(*c));
	if (c == NULL || sd_ctl_state_new(&c->state) != 0) {
		sl_free(c);
		return -1;
	}
	c->b = b;
	c->leader = -1;
	b->ctl = c;
	struct sd_voter voters[SD_VOTERS_MAX];
	int nv = sd_config_voters(b->cfg, voters);
	uint64_t ids[SD_VOTERS_MAX];
	for (int i = 0; i < nv; i++) {
		ids[i] = (uint64_t)voters[i].id;
		c->voter |= voters[i].id == b->id;
		if (voters[i].id != b->id) {
			(void)sl_transport_add_peer(&b->transport, (uint64_t)voters[i].id,
						    voters[i].ep.host, voters[i].ep.port);
		}
	}
	struct sd_part_opts o = {
		.group_id = SD_CTL_CONTROLLER_GROUP_ID,
		.dir_name = "__controller",
		.voters = c->voter ? ids : NULL,
		.n_voters = c->voter ? (unsigned)nv : 0,
		.snapshot_threshold = UINT32_MAX, /* the controller log is kept whole */
	};
	char err[256] = "";
	int rv = sd_pm_open_partition(b->pm, &o, &c->part, err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "stretchlogd: controller log: %s (%s)\n", rl_strerror(rv), err);
		return -1;
	}
	sd_part_set_data(c->part, NULL);
	uv_timer_init(b->loop, &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, on_timer, 100, 100);
	return 0;
}

void sd_controller_quiesce(struct sd_broker *b)
{
	struct sd_controller *c = b->ctl;
	if (c != NULL) {
		c->stopping = true;
		uv_timer_stop(&c->timer);
	}
}

static void timer_closed(uv_handle_t *h)
{
	sl_free(h->data);
}

void sd_controller_stop(struct sd_broker *b)
{
	struct sd_controller *c = b->ctl;
	if (c == NULL) {
		return;
	}
	c->stopping = true;
	uv_timer_stop(&c->timer);
	while (c->pending != NULL) {
		pending_finish(c, c->pending, KERR_REQUEST_TIMED_OUT, "broker shutting down");
	}
	while (c->queue != NULL) {
		lreq_pop(c);
	}
	sd_ctl_state_free(c->state);
	sl_free(c->hosted);
	sl_free(c->rbuf);
	sl_free(c->seen_ms);
	b->ctl = NULL;
	uv_close((uv_handle_t *)&c->timer, timer_closed); /* frees c */
}
