/* Assignment: validating requests, building the working context, and pl_assign(). */
#include <string.h>

#include "placement/assign_ctx.h"

/* Arena layout: every array of the context, in one block. */
struct arena_plan {
	size_t ints, i64s, u64s, bytes;
};

static size_t align8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

static void *carve(char **cursor, size_t bytes)
{
	void *p = *cursor;
	*cursor += align8(bytes);
	return p;
}

static int carve_all(struct pl__actx *c)
{
	size_t nb = (size_t)c->nb;
	size_t nr = (size_t)c->nr;
	size_t nk = (size_t)c->nk;
	size_t cells = (size_t)c->partitions * (size_t)c->rf;
	size_t ints[] = {nr, nk, nr, nr + 1, nk, nk + 1, nb, cells, (size_t)c->partitions,
			 nr, nk, nr, nk,     nr, nk};
	size_t total = 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(ints); i++) {
		total += align8(ints[i] * sizeof(int));
	}
	total += 2 * align8(nb * sizeof(int64_t)) + 2 * align8(nr * sizeof(int64_t)) +
		 2 * align8(nk * sizeof(int64_t));
	total += align8(nb * sizeof(uint64_t)) + align8(nr * sizeof(uint64_t)) +
		 align8(nk * sizeof(uint64_t));
	total += 2 * align8(nb);
	c->arena = sl_calloc(1, total);
	if (c->arena == NULL) {
		return PL_ERR_NOMEM;
	}
	char *p = c->arena;
	c->ranks.region_rank = carve(&p, nr * sizeof(int));
	c->ranks.rack_rank = carve(&p, nk * sizeof(int));
	c->region_cap = carve(&p, nr * sizeof(int));
	c->region_racks_off = carve(&p, (nr + 1) * sizeof(int));
	c->region_racks = carve(&p, nk * sizeof(int));
	c->rack_brokers_off = carve(&p, (nk + 1) * sizeof(int));
	c->rack_brokers = carve(&p, nb * sizeof(int));
	c->rows = carve(&p, cells * sizeof(int));
	c->leader = carve(&p, (size_t)c->partitions * sizeof(int));
	c->cnt_region = carve(&p, nr * sizeof(int));
	c->cnt_rack = carve(&p, nk * sizeof(int));
	c->kept_region = carve(&p, nr * sizeof(int));
	c->kept_rack = carve(&p, nk * sizeof(int));
	c->region_live_racks = carve(&p, nr * sizeof(int));
	c->rack_cap = carve(&p, nk * sizeof(int));
	c->b_rep = carve(&p, nb * sizeof(int64_t));
	c->b_lead = carve(&p, nb * sizeof(int64_t));
	c->region_rep = carve(&p, nr * sizeof(int64_t));
	c->rack_rep = carve(&p, nk * sizeof(int64_t));
	c->region_lead = carve(&p, nr * sizeof(int64_t));
	c->rack_lead = carve(&p, nk * sizeof(int64_t));
	c->b_tie = carve(&p, nb * sizeof(uint64_t));
	c->region_tie = carve(&p, nr * sizeof(uint64_t));
	c->rack_tie = carve(&p, nk * sizeof(uint64_t));
	c->in_row = carve(&p, nb);
	c->kept = carve(&p, nb);
	SL_ASSERT((size_t)(p - (char *)c->arena) == total);
	return 0;
}

/* Capacities, the CSR lists and the seeded tie-breakers. */
static void index_topology(struct pl__actx *c)
{
	const struct pl_topology *t = c->t;
	for (int i = 0; i < c->nb; i++) {
		const struct pl__broker_rec *b = &t->brokers[i];
		c->b_tie[i] = pl__mix64(c->seed ^ pl__mix64((uint64_t)b->id));
		if (b->alive) {
			c->region_cap[b->region]++;
			c->rack_cap[b->rack]++;
			c->n_live++;
		}
	}
	for (int r = 0; r < c->nr; r++) {
		c->region_tie[r] = pl__hash_str(c->seed, t->regions[r]);
		c->n_live_regions += c->region_cap[r] > 0;
	}
	/* Racks per region, in rack index order. */
	for (int k = 0; k < c->nk; k++) {
		c->rack_tie[k] = pl__hash_str(c->seed ^ 0x5bd1e995u, t->racks[k].name);
		c->region_racks_off[t->racks[k].region + 1]++;
		c->region_live_racks[t->racks[k].region] += c->rack_cap[k] > 0;
	}
	for (int r = 0; r < c->nr; r++) {
		c->region_racks_off[r + 1] += c->region_racks_off[r];
	}
	for (int k = 0; k < c->nk; k++) {
		int r = t->racks[k].region;
		c->region_racks[c->region_racks_off[r] + c->cnt_region[r]++] = k;
	}
	/* Live brokers per rack, in id order. */
	for (int k = 0; k < c->nk; k++) {
		c->rack_brokers_off[k + 1] = c->rack_brokers_off[k] + c->rack_cap[k];
	}
	for (int i = 0; i < c->nb; i++) {
		const struct pl__broker_rec *b = &t->brokers[i];
		if (b->alive) {
			c->rack_brokers[c->rack_brokers_off[b->rack] + c->cnt_rack[b->rack]++] = i;
		}
	}
	memset(c->cnt_region, 0, (size_t)c->nr * sizeof(int));
	memset(c->cnt_rack, 0, (size_t)c->nk * sizeof(int));
}

static int apply_load(struct pl__actx *c, const struct pl_broker_load *load, int n_load,
		      char *detail, size_t len)
{
	for (int i = 0; i < n_load; i++) {
		if (load[i].replicas < 0 || load[i].leaders < 0) {
			pl__errmsg(detail, len, "load of broker %d is negative",
				   (int)load[i].broker_id);
			return PL_ERR_INVAL;
		}
		int b = pl__broker_index(c->t, load[i].broker_id);
		if (b >= 0) {
			c->b_rep[b] += load[i].replicas;
			c->b_lead[b] += load[i].leaders;
		}
	}
	for (int b = 0; b < c->nb; b++) {
		const struct pl__broker_rec *rec = &c->t->brokers[b];
		if (rec->alive) {
			c->region_rep[rec->region] += c->b_rep[b];
			c->rack_rep[rec->rack] += c->b_rep[b];
			c->region_lead[rec->region] += c->b_lead[b];
			c->rack_lead[rec->rack] += c->b_lead[b];
		}
	}
	return 0;
}

static int check_args(int32_t partitions, int rf, const struct pl_broker_load *load, int n_load,
		      char *detail, size_t len)
{
	if (partitions < 1 || rf < 1 || n_load < 0 || (n_load > 0 && load == NULL)) {
		pl__errmsg(detail, len, "invalid request: partitions=%d replication_factor=%d",
			   (int)partitions, rf);
		return PL_ERR_INVAL;
	}
	if (partitions > PL_PARTITIONS_MAX || rf > PL_REPLICATION_FACTOR_MAX) {
		pl__errmsg(detail, len,
			   "partitions=%d replication_factor=%d exceed the maxima %d and %d",
			   (int)partitions, rf, PL_PARTITIONS_MAX, PL_REPLICATION_FACTOR_MAX);
		return PL_ERR_LIMIT;
	}
	return 0;
}

/* Lists the live preferred regions and racks in rank order. */
static void list_preferred(struct pl__actx *c)
{
	for (int rank = 0; rank < c->ranks.n_names; rank++) {
		for (int r = 0; r < c->nr; r++) {
			if (c->ranks.region_rank[r] == rank && c->region_cap[r] > 0 &&
			    c->n_pref_regions < PL_PREF_NAMES_MAX) {
				c->pref_regions[c->n_pref_regions++] = r;
			}
		}
		for (int k = 0; k < c->nk; k++) {
			if (c->ranks.rack_rank[k] == rank && c->rack_cap[k] > 0) {
				c->pref_racks[c->n_pref_racks++] = k;
			}
		}
	}
}

int pl__actx_init(struct pl__actx *c, const struct pl_topology *t, const struct pl_preference *pref,
		  int32_t partitions, int rf, const struct pl_broker_load *load, int n_load,
		  uint64_t seed, char *detail, size_t detail_len)
{
	SL_ASSERT(c != NULL && t != NULL);
	memset(c, 0, sizeof(*c));
	int rc = check_args(partitions, rf, load, n_load, detail, detail_len);
	if (rc != 0) {
		return rc;
	}
	if (pref != NULL && !pl__pref_valid(pref)) {
		pl__errmsg(detail, detail_len, "invalid leaders.preference value");
		return PL_ERR_INVAL;
	}
	c->t = t;
	c->rf = rf;
	c->partitions = partitions;
	c->seed = seed;
	c->nb = t->n_brokers;
	c->nr = t->n_regions;
	c->nk = t->n_racks;
	rc = carve_all(c);
	if (rc != 0) {
		pl__errmsg(detail, detail_len, "out of memory");
		return rc;
	}
	index_topology(c);
	if (rf > c->n_live) {
		pl__errmsg(detail, detail_len, "replication factor %d exceeds the %d live brokers",
			   rf, c->n_live);
		rc = PL_ERR_NOT_ENOUGH_BROKERS;
		goto err_after_arena;
	}
	c->n_usable_pref = pl__pref_resolve(pref, t, &c->ranks);
	if (c->ranks.n_names > 0 && c->n_usable_pref == 0) {
		rc = pl_preference_check(pref, t, NULL, detail, detail_len);
		SL_ASSERT(rc == PL_ERR_PREF_UNSATISFIABLE);
		goto err_after_arena;
	}
	list_preferred(c);
	rc = apply_load(c, load, n_load, detail, detail_len);
	if (rc != 0) {
		goto err_after_arena;
	}
	return 0;

err_after_arena:
	pl__actx_free(c);
	return rc;
}

void pl__actx_free(struct pl__actx *c)
{
	sl_free(c->arena);
	memset(c, 0, sizeof(*c));
}

void pl__load_add(struct pl__actx *c, int b, int delta)
{
	const struct pl__broker_rec *rec = &c->t->brokers[b];
	c->b_rep[b] += delta;
	c->region_rep[rec->region] += delta;
	c->rack_rep[rec->rack] += delta;
}

void pl__lead_add(struct pl__actx *c, int b, int delta)
{
	const struct pl__broker_rec *rec = &c->t->brokers[b];
	c->b_lead[b] += delta;
	c->region_lead[rec->region] += delta;
	c->rack_lead[rec->rack] += delta;
}

bool pl__leader_eligible(const struct pl__actx *c, int b)
{
	const struct pl__broker_rec *rec = &c->t->brokers[b];
	if (c->ranks.lead_rack >= 0) {
		return rec->rack == c->ranks.lead_rack;
	}
	if (c->ranks.lead_region >= 0) {
		return rec->region == c->ranks.lead_region;
	}
	return true;
}

int pl__leader_greedy(const struct pl__actx *c, int32_t p)
{
	const int *row = c->rows + (size_t)p * (size_t)c->rf;
	int best = -1;
	for (int i = 0; i < c->rf; i++) {
		int b = row[i];
		if (!pl__leader_eligible(c, b)) {
			continue;
		}
		if (best < 0 || c->b_lead[b] < c->b_lead[best] ||
		    (c->b_lead[b] == c->b_lead[best] &&
		     (c->b_rep[b] < c->b_rep[best] ||
		      (c->b_rep[b] == c->b_rep[best] && c->b_tie[b] < c->b_tie[best])))) {
			best = b;
		}
	}
	SL_ASSERT(best >= 0);
	return best;
}

/* Returns the live eligible broker that should lead the next partition:
 * fewest leaders, then fewest replicas, then the seeded tie. Choosing the
 * leader before the other voters keeps leader counts even across topics. */
static int next_leader(const struct pl__actx *c)
{
	int best = -1;
	for (int b = 0; b < c->nb; b++) {
		if (!c->t->brokers[b].alive || !pl__leader_eligible(c, b)) {
			continue;
		}
		if (best < 0 || c->b_lead[b] < c->b_lead[best] ||
		    (c->b_lead[b] == c->b_lead[best] &&
		     (c->b_rep[b] < c->b_rep[best] ||
		      (c->b_rep[b] == c->b_rep[best] && c->b_tie[b] < c->b_tie[best])))) {
			best = b;
		}
	}
	SL_ASSERT(best >= 0);
	return best;
}

/* Writes the context's rows into out (ids, preferred leader first). */
static void export_rows(const struct pl__actx *c, struct pl_assignment *out)
{
	for (int32_t p = 0; p < c->partitions; p++) {
		const int *row = c->rows + (size_t)p * (size_t)c->rf;
		int32_t *dst = out->replicas + (size_t)p * (size_t)c->rf;
		int j = 1;
		dst[0] = c->t->brokers[c->leader[p]].id;
		for (int i = 0; i < c->rf; i++) {
			if (row[i] != c->leader[p]) {
				dst[j++] = c->t->brokers[row[i]].id;
			}
		}
		SL_ASSERT(j == c->rf);
	}
}

int pl_assign(const struct pl_assign_req *req, struct pl_assignment *out)
{
	SL_ASSERT(req != NULL && out != NULL && req->topology != NULL);
	memset(out, 0, sizeof(*out));
	struct pl__actx c;
	int rc = pl__actx_init(&c, req->topology, req->preference, req->partitions,
			       req->replication_factor, req->load, req->n_load, req->seed,
			       out->detail, sizeof(out->detail));
	if (rc != 0) {
		return rc;
	}
	/* Exchanges only reshuffle this topic's rows; bound the search so a
	 * hopeless one stays cheap (a count, not a clock: deterministic). */
	c.exchanges = true;
	c.exchange_budget = 1000000 + 64 * (int64_t)c.partitions * c.rf;
	out->replicas = sl_calloc((size_t)c.partitions * (size_t)c.rf, sizeof(int32_t));
	if (out->replicas == NULL) {
		pl__errmsg(out->detail, sizeof(out->detail), "out of memory");
		rc = PL_ERR_NOMEM;
		goto err_after_ctx;
	}
	for (int32_t p = 0; p < c.partitions; p++) {
		int lead = next_leader(&c);
		(void)lead;
		pl__place_row(&c, p, NULL, 0);
		c.leader[p] = pl__leader_greedy(&c, p);
		pl__lead_add(&c, c.leader[p], +1);
	}
	pl__balance_replicas(&c);
	rc = pl__balance_leaders(&c);
	if (rc != 0) {
		pl__errmsg(out->detail, sizeof(out->detail), "out of memory");
		goto err_after_rows;
	}
	out->partitions = c.partitions;
	out->replication_factor = c.rf;
	export_rows(&c, out);
	out->warnings = pl__warnings(&c, req->preference, out->detail, sizeof(out->detail));
	pl__actx_free(&c);
	return 0;

err_after_rows:
	sl_free(out->replicas);
	out->replicas = NULL;
err_after_ctx:
	pl__actx_free(&c);
	return rc;
}

void pl_assignment_free(struct pl_assignment *a)
{
	if (a == NULL) {
		return;
	}
	sl_free(a->replicas);
	memset(a, 0, sizeof(*a));
}

static int find_load(const struct pl_broker_load *load, int n_load, int32_t id)
{
	for (int i = 0; i < n_load; i++) {
		if (load[i].broker_id == id) {
			return i;
		}
	}
	return -1;
}

int pl_assignment_tally(const struct pl_assignment *a, struct pl_broker_load *load, int n_load)
{
	SL_ASSERT(a != NULL && (load != NULL || n_load == 0));
	size_t cells = (size_t)a->partitions * (size_t)a->replication_factor;
	for (size_t i = 0; i < cells; i++) {
		if (find_load(load, n_load, a->replicas[i]) < 0) {
			return PL_ERR_UNKNOWN_BROKER;
		}
	}
	for (size_t i = 0; i < cells; i++) {
		struct pl_broker_load *l = &load[find_load(load, n_load, a->replicas[i])];
		l->replicas++;
		if (i % (size_t)a->replication_factor == 0) {
			l->leaders++;
		}
	}
	return 0;
}
