/* Consumer group membership: the classic group protocol's state machine
 * (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, session expiry, delayed
 * rebalances). Pure; the contract is in server/cgroup.h. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/cgroup_int.h"

void cg_config_default(struct cg_config *c)
{
	c->session_timeout_min_ms = 6000;
	c->session_timeout_max_ms = 1800000;
	c->initial_rebalance_delay_ms = 3000;
	c->members_max = 1000;
}

const char *cg_state_name(enum cg_state s)
{
	static const char *const names[CG_STATE_COUNT] = {
		"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"};
	return (unsigned)s < CG_STATE_COUNT ? names[s] : "Unknown";
}

/* ---- Coordinator and groups ------------------------------------------------ */

struct cg_coord *cg_coord_new(const struct cg_config *cfg, const struct cg_env *env)
{
	struct cg_coord *c = sl_calloc(1, sizeof(*c));
	if (c != NULL) {
		c->cfg = *cfg;
		c->env = *env;
	}
	return c;
}

struct cg_group *cg_coord_find(struct cg_coord *c, const char *id)
{
	return cg__map_get(&c->groups, id, strlen(id));
}

struct cg_group *cg__group_create(struct cg_coord *c, const char *id)
{
	if (c->groups.count >= CG_GROUPS_MAX || strlen(id) > CG_GROUP_ID_BYTES_MAX) {
		return NULL;
	}
	struct cg_group *g = sl_calloc(1, sizeof(*g));
	if (g == NULL || (g->id = sl_strdup(id)) == NULL) {
		sl_free(g);
		return NULL;
	}
	g->c = c;
	g->state = CG_EMPTY;
	if (cg__map_put(&c->groups, id, strlen(id), g) != 0) {
		sl_free(g->id);
		sl_free(g);
		return NULL;
	}
	return g;
}

static void protos_free(struct cg__proto *p, int32_t n)
{
	for (int32_t i = 0; i < n; i++) {
		sl_free(p[i].name);
		sl_free(p[i].meta);
	}
	sl_free(p);
}

static void member_free(struct cg__member *m)
{
	sl_free(m->id);
	sl_free(m->instance_id);
	protos_free(m->protos, m->n_protos);
	sl_free(m->assignment);
	sl_free(m);
}

static void join_error(struct cg_coord *c, void *token, int16_t error, const char *member_id)
{
	struct cg_join_result r = {
		.error = error, .generation = -1, .leader = "", .member_id = member_id ? member_id : ""};
	c->env.join_done(c->env.data, token, &r);
}

static void sync_answer(struct cg_group *g, struct cg__member *m, int16_t error)
{
	void *token = m->sync_token;
	m->sync_token = NULL;
	const char *pt = error == 0 ? g->protocol_type : NULL;
	const char *pn = error == 0 ? g->protocol : NULL;
	g->c->env.sync_done(g->c->env.data, token, error, pt, pn, error == 0 ? m->assignment : NULL,
			    error == 0 ? m->assignment_len : 0);
}

static void group_free(struct cg_group *g, int16_t error)
{
	struct cg_coord *c = g->c;
	g->state = CG_DEAD;
	while (g->members != NULL) {
		struct cg__member *m = g->members;
		g->members = m->next;
		if (m->join_token != NULL) {
			join_error(c, m->join_token, error, m->id);
		}
		if (m->sync_token != NULL) {
			sync_answer(g, m, error);
		}
		member_free(m);
	}
	while (g->pending != NULL) {
		struct cg__pending *p = g->pending;
		g->pending = p->next;
		sl_free(p->id);
		sl_free(p);
	}
	cg__offsets_free(g);
	sl_free(g->protocol_type);
	sl_free(g->protocol);
	sl_free(g->leader);
	sl_free(g->id);
	sl_free(g);
}

static void free_group_entry(void *arg, const void *key, size_t klen, void *val)
{
	(void)key;
	(void)klen;
	group_free(val, *(const int16_t *)arg); /* the map itself is freed after */
}

void cg_coord_free(struct cg_coord *c, int16_t error)
{
	if (c == NULL) {
		return;
	}
	cg__map_foreach(&c->groups, free_group_entry, &error);
	cg__map_free(&c->groups);
	sl_free(c);
}

/* ---- Members --------------------------------------------------------------- */

static struct cg__member *member_find(struct cg_group *g, const char *id)
{
	for (struct cg__member *m = g->members; m != NULL; m = m->next) {
		if (strcmp(m->id, id) == 0) {
			return m;
		}
	}
	return NULL;
}

static struct cg__member *member_by_instance(struct cg_group *g, const char *instance_id)
{
	for (struct cg__member *m = g->members; instance_id != NULL && m != NULL; m = m->next) {
		if (m->instance_id != NULL && strcmp(m->instance_id, instance_id) == 0) {
			return m;
		}
	}
	return NULL;
}

static struct cg__pending **pending_find(struct cg_group *g, const char *id)
{
	struct cg__pending **pp = &g->pending;
	while (*pp != NULL && strcmp((*pp)->id, id) != 0) {
		pp = &(*pp)->next;
	}
	return pp;
}

static void pending_drop(struct cg__pending **pp)
{
	struct cg__pending *p = *pp;
	*pp = p->next;
	sl_free(p->id);
	sl_free(p);
}

/* A new member id: the client id (cut), "-", a unique hex suffix. */
static char *new_member_id(struct cg_group *g, const char *client_id, uint64_t nonce)
{
	char buf[CG_MEMBER_ID_BYTES_MAX + 1];
	snprintf(buf, sizeof(buf), "%.200s-%016llx%08x", client_id ? client_id : "",
		 (unsigned long long)nonce, (unsigned)++g->id_counter);
	return sl_strdup(buf);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = sl_malloc(n ? n : 1);
	if (d != NULL && n > 0) {
		memcpy(d, p, n);
	}
	return d;
}

/* Copies the protocols of r; NULL on no memory. */
static struct cg__proto *protos_copy(const struct cg_join_req *r)
{
	struct cg__proto *p = sl_calloc((size_t)r->n_protocols, sizeof(*p));
	for (int32_t i = 0; p != NULL && i < r->n_protocols; i++) {
		p[i].name = sl_strdup(r->protocols[i].name);
		p[i].meta = dup_bytes(r->protocols[i].metadata, r->protocols[i].metadata_len);
		p[i].len = r->protocols[i].metadata_len;
		if (p[i].name == NULL || p[i].meta == NULL) {
			protos_free(p, i + 1);
			return NULL;
		}
	}
	return p;
}

static bool protos_equal(const struct cg__member *m, const struct cg_join_req *r)
{
	if (m->n_protos != r->n_protocols) {
		return false;
	}
	for (int32_t i = 0; i < r->n_protocols; i++) {
		const struct cg_protocol *q = &r->protocols[i];
		if (strcmp(m->protos[i].name, q->name) != 0 || m->protos[i].len != q->metadata_len ||
		    (q->metadata_len > 0 && memcmp(m->protos[i].meta, q->metadata, q->metadata_len) != 0)) {
			return false;
		}
	}
	return true;
}

static const struct cg__proto *member_proto(const struct cg__member *m, const char *name)
{
	for (int32_t i = 0; i < m->n_protos; i++) {
		if (strcmp(m->protos[i].name, name) == 0) {
			return &m->protos[i];
		}
	}
	return NULL;
}

/* True if every member but skip supports protocol name. */
static bool all_support(const struct cg_group *g, const char *name, const struct cg__member *skip)
{
	for (const struct cg__member *m = g->members; m != NULL; m = m->next) {
		if (m != skip && member_proto(m, name) == NULL) {
			return false;
		}
	}
	return true;
}

/* Kafka's supportsProtocols: a non-empty group needs the same protocol type
 * and one protocol every other member supports. */
static bool supports(const struct cg_group *g, const struct cg_join_req *r,
		     const struct cg__member *self)
{
	if (g->n_members == 0 || (g->n_members == 1 && self != NULL)) {
		return true;
	}
	if (g->protocol_type == NULL || strcmp(g->protocol_type, r->protocol_type) != 0) {
		return false;
	}
	for (int32_t i = 0; i < r->n_protocols; i++) {
		if (all_support(g, r->protocols[i].name, self)) {
			return true;
		}
	}
	return false;
}

/* Replaces m's settings with the join request's. Returns false on no
 * memory (m unchanged). */
static bool member_update(struct cg__member *m, const struct cg_join_req *r)
{
	struct cg__proto *p = protos_copy(r);
	if (p == NULL) {
		return false;
	}
	protos_free(m->protos, m->n_protos);
	m->protos = p;
	m->n_protos = r->n_protocols;
	m->session_ms = r->session_timeout_ms;
	m->rebalance_ms = r->rebalance_timeout_ms;
	return true;
}

static int32_t rebalance_timeout_ms(const struct cg_group *g)
{
	int32_t t = 0;
	for (const struct cg__member *m = g->members; m != NULL; m = m->next) {
		t = SL_MAX(t, m->rebalance_ms);
	}
	return t;
}

/* ---- Rebalancing ------------------------------------------------------------- */

static void member_remove(struct cg_group *g, struct cg__member *m, uint64_t now_ms);

/* Starts (or restarts) a rebalance: PREPARING_REBALANCE. */
static void prepare_rebalance(struct cg_group *g, uint64_t now_ms)
{
	if (g->state == CG_COMPLETING_REBALANCE) {
		for (struct cg__member *m = g->members; m != NULL; m = m->next) {
			if (m->sync_token != NULL) {
				sync_answer(g, m, CG_E_REBALANCE_IN_PROGRESS);
			}
		}
	}
	for (struct cg__member *m = g->members; m != NULL; m = m->next) {
		sl_free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
		if (g->state != CG_PREPARING_REBALANCE) {
			m->joined = m->join_token != NULL;
		}
	}
	int32_t timeout = rebalance_timeout_ms(g);
	if (g->state == CG_EMPTY) {
		int32_t delay = SL_MIN(g->c->cfg.initial_rebalance_delay_ms, timeout);
		g->initial_delay = delay > 0;
		g->new_member_added = false;
		g->initial_remaining_ms = (int64_t)timeout - delay;
		g->join_deadline_ms = now_ms + (uint64_t)delay;
	} else if (g->state != CG_PREPARING_REBALANCE) {
		g->initial_delay = false;
		g->join_deadline_ms = now_ms + (uint64_t)timeout;
	}
	g->state = CG_PREPARING_REBALANCE;
}

/* Kafka's selectProtocol: among the protocols every member supports, the
 * one most members list first (ties: the earliest in the first member's
 * list). NULL if there is none. */
static const char *select_protocol(const struct cg_group *g)
{
	const struct cg__member *first = g->members;
	const char *best = NULL;
	int32_t best_votes = -1;
	for (int32_t i = 0; i < first->n_protos; i++) {
		const char *name = first->protos[i].name;
		if (!all_support(g, name, NULL)) {
			continue;
		}
		int32_t votes = 0;
		for (const struct cg__member *m = g->members; m != NULL; m = m->next) {
			for (int32_t j = 0; j < m->n_protos; j++) {
				if (all_support(g, m->protos[j].name, NULL)) {
					votes += strcmp(m->protos[j].name, name) == 0;
					break;
				}
			}
		}
		if (votes > best_votes) {
			best = name;
			best_votes = votes;
		}
	}
	return best;
}

/* The join answer of m in the current generation (the leader's lists every
 * member's metadata for the selected protocol). */
static void join_answer(struct cg_group *g, struct cg__member *m, void *token)
{
	struct cg_coord *c = g->c;
	bool leader = g->leader != NULL && strcmp(g->leader, m->id) == 0;
	struct cg_member_info *infos = NULL;
	if (leader) {
		infos = sl_calloc((size_t)g->n_members + 1, sizeof(*infos));
		if (infos == NULL) {
			join_error(c, token, CG_E_COORDINATOR_NOT_AVAILABLE, m->id);
			return;
		}
		int32_t i = 0;
		for (struct cg__member *x = g->members; x != NULL; x = x->next, i++) {
			const struct cg__proto *p = member_proto(x, g->protocol);
			infos[i].member_id = x->id;
			infos[i].instance_id = x->instance_id;
			infos[i].metadata = p->meta;
			infos[i].metadata_len = p->len;
		}
	}
	struct cg_join_result r = {
		.error = CG_E_NONE,
		.generation = g->generation,
		.protocol_type = g->protocol_type,
		.protocol_name = g->protocol,
		.leader = g->leader,
		.member_id = m->id,
		.members = infos,
		.n_members = leader ? g->n_members : 0,
	};
	c->env.join_done(c->env.data, token, &r);
	sl_free(infos);
}

static void set_leader(struct cg_group *g, const char *id)
{
	char *copy = id != NULL ? sl_strdup(id) : NULL;
	if (id != NULL && copy == NULL && g->leader != NULL && strcmp(g->leader, id) == 0) {
		return; /* unchanged, and no memory to copy it */
	}
	sl_free(g->leader);
	g->leader = copy;
}

static void complete_join(struct cg_group *g, uint64_t now_ms)
{
	/* Members that did not rejoin in time are gone. */
	struct cg__member **pp = &g->members;
	while (*pp != NULL) {
		struct cg__member *m = *pp;
		if (m->joined) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		g->n_members--;
		member_free(m);
	}
	g->initial_delay = false;
	g->generation++;
	g->c->rebalances++;
	sl_free(g->protocol);
	g->protocol = NULL;
	if (g->n_members == 0) {
		g->state = CG_EMPTY;
		set_leader(g, NULL);
		return;
	}
	const char *proto = select_protocol(g);
	g->protocol = proto != NULL ? sl_strdup(proto) : NULL;
	if (g->leader == NULL || member_find(g, g->leader) == NULL) {
		set_leader(g, g->members->id);
	}
	if (g->protocol == NULL || g->leader == NULL) {
		/* No memory (or, impossibly, no common protocol): fail the joins. */
		for (struct cg__member *m = g->members; m != NULL; m = m->next) {
			m->joined = false;
			if (m->join_token != NULL) {
				void *t = m->join_token;
				m->join_token = NULL;
				join_error(g->c, t, CG_E_COORDINATOR_NOT_AVAILABLE, m->id);
			}
		}
		g->state = CG_PREPARING_REBALANCE;
		g->join_deadline_ms = now_ms + (uint64_t)rebalance_timeout_ms(g);
		return;
	}
	g->state = CG_COMPLETING_REBALANCE;
	g->sync_deadline_ms = now_ms + (uint64_t)rebalance_timeout_ms(g);
	for (struct cg__member *m = g->members; m != NULL; m = m->next) {
		m->joined = false;
		m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
		if (m->join_token != NULL) {
			void *t = m->join_token;
			m->join_token = NULL;
			join_answer(g, m, t);
		}
	}
}

/* Completes the join once every member (and every pending id) has joined. */
static void maybe_complete_join(struct cg_group *g, uint64_t now_ms)
{
	if (g->state != CG_PREPARING_REBALANCE || g->initial_delay || g->pending != NULL) {
		return;
	}
	for (struct cg__member *m = g->members; m != NULL; m = m->next) {
		if (!m->joined) {
			return;
		}
	}
	complete_join(g, now_ms);
}

/* Removes m (left, expired or fenced out) and rebalances the rest. */
static void member_remove(struct cg_group *g, struct cg__member *m, uint64_t now_ms)
{
	struct cg__member **pp = &g->members;
	while (*pp != m) {
		pp = &(*pp)->next;
	}
	*pp = m->next;
	g->n_members--;
	if (m->join_token != NULL) {
		join_error(g->c, m->join_token, CG_E_UNKNOWN_MEMBER_ID, m->id);
	}
	if (m->sync_token != NULL) {
		sync_answer(g, m, CG_E_UNKNOWN_MEMBER_ID);
	}
	if (g->leader != NULL && strcmp(g->leader, m->id) == 0) {
		set_leader(g, g->members != NULL ? g->members->id : NULL);
	}
	member_free(m);
	if (g->state == CG_STABLE || g->state == CG_COMPLETING_REBALANCE) {
		prepare_rebalance(g, now_ms);
	}
	maybe_complete_join(g, now_ms);
}

/* ---- JoinGroup ------------------------------------------------------------- */

static int16_t join_validate(const struct cg_coord *c, const struct cg_join_req *r)
{
	if (r->group_id[0] == '\0' || strlen(r->group_id) > CG_GROUP_ID_BYTES_MAX) {
		return CG_E_INVALID_GROUP_ID;
	}
	if (r->session_timeout_ms < c->cfg.session_timeout_min_ms ||
	    r->session_timeout_ms > c->cfg.session_timeout_max_ms) {
		return CG_E_INVALID_SESSION_TIMEOUT;
	}
	if (r->protocol_type[0] == '\0' || r->n_protocols < 1) {
		return CG_E_INCONSISTENT_GROUP_PROTOCOL;
	}
	if (r->n_protocols > CG_PROTOCOLS_MAX || strlen(r->member_id) > CG_MEMBER_ID_BYTES_MAX ||
	    strlen(r->protocol_type) > CG_NAME_BYTES_MAX ||
	    (r->instance_id != NULL &&
	     (r->instance_id[0] == '\0' || strlen(r->instance_id) > CG_NAME_BYTES_MAX))) {
		return CG_E_INVALID_REQUEST;
	}
	for (int32_t i = 0; i < r->n_protocols; i++) {
		if (strlen(r->protocols[i].name) > CG_NAME_BYTES_MAX ||
		    r->protocols[i].metadata_len > CG_METADATA_BYTES_MAX) {
			return CG_E_INVALID_REQUEST;
		}
		for (int32_t j = 0; j < i; j++) {
			if (strcmp(r->protocols[i].name, r->protocols[j].name) == 0) {
				return CG_E_INCONSISTENT_GROUP_PROTOCOL;
			}
		}
	}
	return CG_E_NONE;
}

/* Parks token as m's join and lets the rebalance progress. */
static void join_wait(struct cg_group *g, struct cg__member *m, void *token, uint64_t now_ms)
{
	if (m->join_token != NULL) {
		join_error(g->c, m->join_token, CG_E_REBALANCE_IN_PROGRESS, m->id);
	}
	m->join_token = token;
	m->joined = true;
	m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
	maybe_complete_join(g, now_ms);
}

/* A member that is new to the group (id given by us, now or earlier). */
static void add_member_and_join(struct cg_group *g, void *token, const struct cg_join_req *r,
				char *id, uint64_t now_ms)
{
	struct cg__member *m = sl_calloc(1, sizeof(*m));
	char *inst = r->instance_id != NULL ? sl_strdup(r->instance_id) : NULL;
	char *ptype = g->protocol_type == NULL ? sl_strdup(r->protocol_type) : NULL;
	if (m == NULL || id == NULL || (r->instance_id != NULL && inst == NULL) ||
	    (g->protocol_type == NULL && ptype == NULL) || !member_update(m, r)) {
		sl_free(m);
		sl_free(inst);
		sl_free(ptype);
		join_error(g->c, token, CG_E_COORDINATOR_NOT_AVAILABLE, id);
		sl_free(id);
		return;
	}
	if (ptype != NULL) {
		g->protocol_type = ptype;
	}
	m->id = id;
	m->instance_id = inst;
	struct cg__member **pp = &g->members;
	while (*pp != NULL) {
		pp = &(*pp)->next;
	}
	*pp = m;
	g->n_members++;
	if (g->state == CG_PREPARING_REBALANCE && g->initial_delay) {
		g->new_member_added = true;
	}
	if (g->state != CG_PREPARING_REBALANCE) {
		prepare_rebalance(g, now_ms);
	}
	join_wait(g, m, token, now_ms);
}

/* A static member rejoining with a new id: the old id is fenced. */
static void static_rejoin(struct cg_group *g, struct cg__member *m, void *token,
			  const struct cg_join_req *r, uint64_t now_ms)
{
	char *id = new_member_id(g, r->client_id, r->nonce);
	if (id == NULL || !member_update(m, r)) {
		sl_free(id);
		join_error(g->c, token, CG_E_COORDINATOR_NOT_AVAILABLE, r->member_id);
		return;
	}
	if (m->join_token != NULL) {
		join_error(g->c, m->join_token, CG_E_FENCED_INSTANCE_ID, m->id);
		m->join_token = NULL;
	}
	if (m->sync_token != NULL) {
		sync_answer(g, m, CG_E_FENCED_INSTANCE_ID);
	}
	if (g->leader != NULL && strcmp(g->leader, m->id) == 0) {
		set_leader(g, id);
	}
	sl_free(m->id);
	m->id = id;
	if (g->state != CG_PREPARING_REBALANCE) {
		prepare_rebalance(g, now_ms);
	}
	join_wait(g, m, token, now_ms);
}

static void join_unknown(struct cg_group *g, void *token, const struct cg_join_req *r,
			 uint64_t now_ms)
{
	struct cg__member *old = member_by_instance(g, r->instance_id);
	if (old != NULL) {
		static_rejoin(g, old, token, r, now_ms);
		return;
	}
	int32_t n_pending = 0;
	for (const struct cg__pending *p = g->pending; p != NULL; p = p->next) {
		n_pending++;
	}
	if (g->n_members + n_pending >= g->c->cfg.members_max) {
		join_error(g->c, token, CG_E_GROUP_MAX_SIZE_REACHED, "");
		return;
	}
	char *id = new_member_id(g, r->client_id, r->nonce);
	if (r->require_known_member_id && r->instance_id == NULL) {
		struct cg__pending *p = sl_calloc(1, sizeof(*p));
		if (p == NULL || id == NULL) {
			sl_free(p);
			sl_free(id);
			join_error(g->c, token, CG_E_COORDINATOR_NOT_AVAILABLE, "");
			return;
		}
		p->id = id;
		p->deadline_ms = now_ms + (uint64_t)r->session_timeout_ms;
		p->next = g->pending;
		g->pending = p;
		join_error(g->c, token, CG_E_MEMBER_ID_REQUIRED, id);
		return;
	}
	add_member_and_join(g, token, r, id, now_ms);
}

static void join_known(struct cg_group *g, void *token, const struct cg_join_req *r,
		       uint64_t now_ms)
{
	struct cg__pending **pp = pending_find(g, r->member_id);
	if (*pp != NULL) {
		char *id = sl_strdup(r->member_id);
		pending_drop(pp);
		add_member_and_join(g, token, r, id, now_ms);
		return;
	}
	struct cg__member *m = member_find(g, r->member_id);
	struct cg__member *by_inst = member_by_instance(g, r->instance_id);
	if (by_inst != NULL && by_inst != m) {
		join_error(g->c, token, CG_E_FENCED_INSTANCE_ID, r->member_id);
		return;
	}
	if (m == NULL) {
		join_error(g->c, token, CG_E_UNKNOWN_MEMBER_ID, r->member_id);
		return;
	}
	bool same = protos_equal(m, r);
	bool is_leader = g->leader != NULL && strcmp(g->leader, m->id) == 0;
	if (g->state == CG_COMPLETING_REBALANCE && same) {
		m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
		join_answer(g, m, token);
		return;
	}
	if (g->state == CG_STABLE && same && !is_leader) {
		m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
		join_answer(g, m, token);
		return;
	}
	if (!member_update(m, r)) {
		join_error(g->c, token, CG_E_COORDINATOR_NOT_AVAILABLE, r->member_id);
		return;
	}
	if (g->state != CG_PREPARING_REBALANCE) {
		prepare_rebalance(g, now_ms);
	}
	join_wait(g, m, token, now_ms);
}

void cg_join(struct cg_coord *c, void *token, const struct cg_join_req *r, uint64_t now_ms)
{
	int16_t err = join_validate(c, r);
	if (err != 0) {
		join_error(c, token, err, r->member_id);
		return;
	}
	struct cg_group *g = cg_coord_find(c, r->group_id);
	if (g == NULL && r->member_id[0] != '\0') {
		join_error(c, token, CG_E_UNKNOWN_MEMBER_ID, r->member_id);
		return;
	}
	if (g == NULL && (g = cg__group_create(c, r->group_id)) == NULL) {
		join_error(c, token, CG_E_COORDINATOR_NOT_AVAILABLE, r->member_id);
		return;
	}
	struct cg__member *self = r->member_id[0] ? member_find(g, r->member_id) : NULL;
	if (!supports(g, r, self)) {
		join_error(c, token, CG_E_INCONSISTENT_GROUP_PROTOCOL, r->member_id);
		return;
	}
	if (r->member_id[0] == '\0') {
		join_unknown(g, token, r, now_ms);
	} else {
		join_known(g, token, r, now_ms);
	}
}

/* ---- SyncGroup, Heartbeat, LeaveGroup, commits ------------------------------ */

/* The member a request names, or an error: UNKNOWN_MEMBER_ID,
 * FENCED_INSTANCE_ID or ILLEGAL_GENERATION (when generation >= -1 is to be
 * checked; pass INT32_MIN to skip). */
static int16_t member_check(struct cg_group *g, const char *member_id, const char *instance_id,
			    int32_t generation, struct cg__member **out)
{
	*out = NULL;
	if (g == NULL || g->state == CG_DEAD) {
		return g == NULL ? CG_E_UNKNOWN_MEMBER_ID : CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	struct cg__member *m = member_find(g, member_id);
	struct cg__member *by_inst = member_by_instance(g, instance_id);
	if (instance_id != NULL && by_inst != NULL && by_inst != m) {
		return CG_E_FENCED_INSTANCE_ID;
	}
	if (m == NULL) {
		return CG_E_UNKNOWN_MEMBER_ID;
	}
	if (generation != INT32_MIN && generation != g->generation) {
		return CG_E_ILLEGAL_GENERATION;
	}
	*out = m;
	return CG_E_NONE;
}

static void sync_store(struct cg_group *g, const struct cg_sync_req *r)
{
	for (int32_t i = 0; i < r->n_assignments; i++) {
		struct cg__member *m = member_find(g, r->assignments[i].member_id);
		if (m == NULL) {
			continue;
		}
		uint8_t *a = dup_bytes(r->assignments[i].data, r->assignments[i].len);
		if (a != NULL) {
			sl_free(m->assignment);
			m->assignment = a;
			m->assignment_len = r->assignments[i].len;
		}
	}
}

void cg_sync(struct cg_coord *c, void *token, const struct cg_sync_req *r, uint64_t now_ms)
{
	struct cg_group *g = cg_coord_find(c, r->group_id);
	struct cg__member *m;
	int16_t err = member_check(g, r->member_id, r->instance_id, r->generation, &m);
	if (err == 0 && ((r->protocol_type != NULL && g->protocol_type != NULL &&
			  strcmp(r->protocol_type, g->protocol_type) != 0) ||
			 (r->protocol_name != NULL && g->protocol != NULL &&
			  strcmp(r->protocol_name, g->protocol) != 0))) {
		err = CG_E_INCONSISTENT_GROUP_PROTOCOL;
	}
	if (err == 0 && g->state == CG_PREPARING_REBALANCE) {
		err = CG_E_REBALANCE_IN_PROGRESS;
	}
	for (int32_t i = 0; err == 0 && i < r->n_assignments; i++) {
		if (r->assignments[i].len > CG_METADATA_BYTES_MAX) {
			err = CG_E_INVALID_REQUEST;
		}
	}
	if (err != 0) {
		c->env.sync_done(c->env.data, token, err, NULL, NULL, NULL, 0);
		return;
	}
	m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
	if (g->state == CG_STABLE) {
		void *old = m->sync_token;
		m->sync_token = token;
		sync_answer(g, m, CG_E_NONE);
		m->sync_token = old;
		return;
	}
	/* COMPLETING_REBALANCE: wait for the leader's assignments. */
	if (m->sync_token != NULL) {
		sync_answer(g, m, CG_E_REBALANCE_IN_PROGRESS);
	}
	m->sync_token = token;
	if (g->leader == NULL || strcmp(g->leader, m->id) != 0) {
		return;
	}
	sync_store(g, r);
	g->state = CG_STABLE;
	for (struct cg__member *x = g->members; x != NULL; x = x->next) {
		if (x->sync_token != NULL) {
			sync_answer(g, x, CG_E_NONE);
		}
	}
}

int16_t cg_heartbeat(struct cg_coord *c, const char *group_id, const char *member_id,
		     const char *instance_id, int32_t generation, uint64_t now_ms)
{
	struct cg_group *g = cg_coord_find(c, group_id);
	struct cg__member *m;
	int16_t err = member_check(g, member_id, instance_id, generation, &m);
	if (err != 0) {
		return err;
	}
	m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
	return g->state == CG_PREPARING_REBALANCE ? CG_E_REBALANCE_IN_PROGRESS : CG_E_NONE;
}

int16_t cg_leave(struct cg_coord *c, const char *group_id, const char *member_id,
		 const char *instance_id, uint64_t now_ms)
{
	struct cg_group *g = cg_coord_find(c, group_id);
	if (g == NULL) {
		return CG_E_UNKNOWN_MEMBER_ID;
	}
	bool by_instance = member_id == NULL || member_id[0] == '\0';
	if (by_instance && instance_id != NULL) {
		struct cg__member *m = member_by_instance(g, instance_id);
		if (m == NULL) {
			return CG_E_UNKNOWN_MEMBER_ID;
		}
		member_remove(g, m, now_ms);
		return CG_E_NONE;
	}
	if (by_instance) {
		return CG_E_UNKNOWN_MEMBER_ID;
	}
	struct cg__pending **pp = pending_find(g, member_id);
	if (*pp != NULL) {
		pending_drop(pp);
		maybe_complete_join(g, now_ms);
		return CG_E_NONE;
	}
	struct cg__member *m;
	int16_t err = member_check(g, member_id, instance_id, INT32_MIN, &m);
	if (err != 0) {
		return err;
	}
	member_remove(g, m, now_ms);
	return CG_E_NONE;
}

int16_t cg_commit_check(struct cg_coord *c, const char *group_id, const char *member_id,
			const char *instance_id, int32_t generation, uint64_t now_ms)
{
	if (group_id[0] == '\0' || strlen(group_id) > CG_GROUP_ID_BYTES_MAX) {
		return CG_E_INVALID_GROUP_ID;
	}
	struct cg_group *g = cg_coord_find(c, group_id);
	if (g == NULL) {
		if (generation >= 0) {
			return CG_E_ILLEGAL_GENERATION;
		}
		return cg__group_create(c, group_id) != NULL ? CG_E_NONE
							      : CG_E_COORDINATOR_NOT_AVAILABLE;
	}
	struct cg__member *by_inst = member_by_instance(g, instance_id);
	if (instance_id != NULL && by_inst != NULL && strcmp(by_inst->id, member_id) != 0) {
		return CG_E_FENCED_INSTANCE_ID;
	}
	if (generation < 0 && g->state == CG_EMPTY) {
		return CG_E_NONE;
	}
	if (g->state == CG_COMPLETING_REBALANCE) {
		return CG_E_REBALANCE_IN_PROGRESS;
	}
	struct cg__member *m;
	int16_t err = member_check(g, member_id, instance_id, generation, &m);
	if (err == 0) {
		m->session_deadline_ms = now_ms + (uint64_t)m->session_ms;
	}
	return err;
}

/* ---- Time ------------------------------------------------------------------- */

/* A member whose answer is owed is kept alive (Kafka's shouldKeepAlive). */
static bool member_expires(const struct cg__member *m)
{
	return m->join_token == NULL && m->sync_token == NULL;
}

static uint64_t group_deadline(const struct cg_group *g)
{
	uint64_t d = UINT64_MAX;
	if (g->n_members == 0 && g->pending == NULL && g->offsets.count == 0 &&
	    g->state == CG_EMPTY) {
		return 0; /* nothing left: freed at the next tick */
	}
	for (const struct cg__pending *p = g->pending; p != NULL; p = p->next) {
		d = SL_MIN(d, p->deadline_ms);
	}
	for (const struct cg__member *m = g->members; m != NULL; m = m->next) {
		if (member_expires(m)) {
			d = SL_MIN(d, m->session_deadline_ms);
		}
	}
	if (g->state == CG_PREPARING_REBALANCE) {
		d = SL_MIN(d, g->join_deadline_ms);
	} else if (g->state == CG_COMPLETING_REBALANCE) {
		d = SL_MIN(d, g->sync_deadline_ms);
	}
	return d;
}

static void deadline_entry(void *arg, const void *key, size_t klen, void *val)
{
	(void)key;
	(void)klen;
	uint64_t *d = arg;
	*d = SL_MIN(*d, group_deadline(val));
}

uint64_t cg_coord_deadline_ms(const struct cg_coord *c)
{
	uint64_t d = UINT64_MAX;
	cg__map_foreach((struct cg__map *)&c->groups, deadline_entry, &d);
	return d;
}

static void expire_sync(struct cg_group *g, uint64_t now_ms)
{
	/* Members that did not sync in time are removed (the leader among
	 * them means no assignment will come); one removal restarts the
	 * rebalance, after which the others rejoin or time out there. */
	for (struct cg__member *m = g->members; m != NULL; m = m->next) {
		if (m->sync_token == NULL) {
			g->c->members_expired++;
			member_remove(g, m, now_ms);
			return;
		}
	}
}

static void tick_group(struct cg_group *g, uint64_t now_ms)
{
	struct cg__pending **pp = &g->pending;
	while (*pp != NULL) {
		if ((*pp)->deadline_ms <= now_ms) {
			pending_drop(pp);
		} else {
			pp = &(*pp)->next;
		}
	}
	bool again = true;
	while (again) {
		again = false;
		for (struct cg__member *m = g->members; m != NULL; m = m->next) {
			if (member_expires(m) && m->session_deadline_ms <= now_ms) {
				g->c->members_expired++;
				member_remove(g, m, now_ms);
				again = true;
				break;
			}
		}
	}
	if (g->state == CG_PREPARING_REBALANCE && g->join_deadline_ms <= now_ms) {
		if (g->initial_delay && g->new_member_added && g->initial_remaining_ms > 0) {
			int64_t delay = SL_MIN((int64_t)g->c->cfg.initial_rebalance_delay_ms,
					       g->initial_remaining_ms);
			g->initial_remaining_ms -= delay;
			g->new_member_added = false;
			g->join_deadline_ms = now_ms + (uint64_t)delay;
		} else {
			complete_join(g, now_ms);
		}
	} else if (g->state == CG_COMPLETING_REBALANCE && g->sync_deadline_ms <= now_ms) {
		expire_sync(g, now_ms);
	}
	maybe_complete_join(g, now_ms);
}

static void tick_entry(void *arg, const void *key, size_t klen, void *val)
{
	struct cg_group *g = val;
	uint64_t now_ms = *(uint64_t *)arg;
	tick_group(g, now_ms);
	if (group_deadline(g) == 0) {
		cg__map_del(&g->c->groups, key, klen);
		group_free(g, CG_E_NOT_COORDINATOR);
	}
}

void cg_coord_tick(struct cg_coord *c, uint64_t now_ms)
{
	cg__map_foreach(&c->groups, tick_entry, &now_ms);
}

bool cg_coord_cancel(struct cg_coord *c, const char *id, void *token)
{
	struct cg_group *g = cg_coord_find(c, id);
	for (struct cg__member *m = g ? g->members : NULL; m != NULL; m = m->next) {
		if (m->join_token == token) {
			m->join_token = NULL;
			return true;
		}
		if (m->sync_token == token) {
			m->sync_token = NULL;
			return true;
		}
	}
	return false;
}

/* ---- Observation --------------------------------------------------------- */

enum cg_state cg_group_state(const struct cg_group *g)
{
	return g->state;
}

int32_t cg_group_generation(const struct cg_group *g)
{
	return g->generation;
}

int32_t cg_group_member_count(const struct cg_group *g)
{
	return g->n_members;
}

const char *cg_group_leader(const struct cg_group *g)
{
	return g->leader != NULL ? g->leader : "";
}

const char *cg_group_protocol(const struct cg_group *g)
{
	return g->protocol != NULL ? g->protocol : "";
}

static void stats_entry(void *arg, const void *key, size_t klen, void *val)
{
	(void)key;
	(void)klen;
	struct cg_stats *s = arg;
	s->groups[((struct cg_group *)val)->state]++;
}

void cg_coord_stats(const struct cg_coord *c, struct cg_stats *out)
{
	cg__map_foreach((struct cg__map *)&c->groups, stats_entry, out);
	out->rebalances += c->rebalances;
	out->members_expired += c->members_expired;
}
