/* Property tests for placement/: random topologies checked against an independent oracle. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement/placement.h"

/* Assertions that call into check only on failure: check records every
 * passing ck_assert with a write(), and the oracle loops make millions. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			ck_abort_msg(__VA_ARGS__);                                                 \
		}                                                                                  \
	} while (0)
#define REQUIRE_TRUE(cond) REQUIRE(cond, "%s:%d: %s", __FILE__, __LINE__, #cond)
#define REQUIRE_CMP(a, op, b)                                                                      \
	do {                                                                                       \
		long long a_ = (long long)(a);                                                     \
		long long b_ = (long long)(b);                                                     \
		REQUIRE(a_ op b_, "%s:%d: %s %s %s (%lld vs %lld)", __FILE__, __LINE__, #a, #op,   \
			#b, a_, b_);                                                               \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Seeded PRNG and run length                                                */
/* ------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rnd(uint64_t *s, int n)
{
	return (int)(splitmix64(s) % (uint64_t)n);
}

/* Cases per test: 2000, or 300 with SL_TEST_QUICK=1, or PL_PROP_CASES. */
static int cases(void)
{
	const char *n = getenv("PL_PROP_CASES");
	if (n != NULL && atoi(n) > 0) {
		return atoi(n);
	}
	const char *quick = getenv("SL_TEST_QUICK");
	return quick != NULL && strcmp(quick, "1") == 0 ? 300 : 2000;
}

/* Base seed: PL_PROP_SEED or a fixed default, so runs are reproducible. */
static uint64_t base_seed(void)
{
	const char *s = getenv("PL_PROP_SEED");
	return s != NULL ? strtoull(s, NULL, 0) : 0x5eed5eedull;
}

/* ------------------------------------------------------------------------ */
/* Worlds: a generated topology and the oracle's view of it                  */
/* ------------------------------------------------------------------------ */

#define W_REGIONS 6
#define W_RACKS	  24
#define W_BROKERS 128

struct world {
	int nb, n_regions, n_racks;
	int32_t id[W_BROKERS];
	int region[W_BROKERS], rack[W_BROKERS];
	bool alive[W_BROKERS];
	char region_name[W_REGIONS][16];
	char rack_name[W_RACKS][16];
	int rack_region[W_RACKS];
	bool symmetric; /* same live racks per region, same live brokers per rack */
	struct pl_preference pref;
	struct pl_topology *t;
	/* Oracle, from derive(). */
	int region_cap[W_REGIONS], rack_cap[W_RACKS], region_live_racks[W_REGIONS];
	int n_live, n_live_regions;
	int region_rank[W_REGIONS], rack_rank[W_RACKS];
	int lead_region, lead_rack, lead_region_of, usable;
};

static int find_gen(const struct world *w, int32_t id)
{
	for (int i = 0; i < w->nb; i++) {
		if (w->id[i] == id) {
			return i;
		}
	}
	return -1;
}

/* Returns the index of a region (or rack) name in w, or -1. */
static int name_index(const struct world *w, bool regions, const char *name)
{
	int n = regions ? w->n_regions : w->n_racks;
	for (int i = 0; i < n; i++) {
		if (strcmp(regions ? w->region_name[i] : w->rack_name[i], name) == 0) {
			return i;
		}
	}
	return -1;
}

/* Computes capacities, ranks and where leaders belong, independently of the
 * library. */
static void derive(struct world *w)
{
	memset(w->region_cap, 0, sizeof(w->region_cap));
	memset(w->rack_cap, 0, sizeof(w->rack_cap));
	memset(w->region_live_racks, 0, sizeof(w->region_live_racks));
	w->n_live = 0;
	w->n_live_regions = 0;
	for (int i = 0; i < w->nb; i++) {
		if (w->alive[i]) {
			w->region_cap[w->region[i]]++;
			w->rack_cap[w->rack[i]]++;
			w->n_live++;
		}
	}
	for (int k = 0; k < w->n_racks; k++) {
		w->region_live_racks[w->rack_region[k]] += w->rack_cap[k] > 0;
	}
	for (int r = 0; r < w->n_regions; r++) {
		w->n_live_regions += w->region_cap[r] > 0;
	}
	int n = w->pref.n_names;
	for (int r = 0; r < w->n_regions; r++) {
		w->region_rank[r] = n;
	}
	for (int k = 0; k < w->n_racks; k++) {
		w->rack_rank[k] = n;
	}
	w->lead_region = w->lead_rack = w->lead_region_of = -1;
	w->usable = 0;
	for (int i = 0; i < n; i++) {
		if (w->pref.kind == PL_PREF_REGIONS) {
			int r = name_index(w, true, w->pref.names[i]);
			if (r < 0) {
				continue;
			}
			w->region_rank[r] = i;
			if (w->region_cap[r] > 0 && w->usable++ == 0) {
				w->lead_region = w->lead_region_of = r;
			}
		} else {
			int k = name_index(w, false, w->pref.names[i]);
			if (k < 0) {
				continue;
			}
			w->rack_rank[k] = i;
			if (w->rack_cap[k] > 0) {
				int r = w->rack_region[k];
				w->region_rank[r] = i < w->region_rank[r] ? i : w->region_rank[r];
				if (w->usable++ == 0) {
					w->lead_rack = k;
					w->lead_region_of = r;
				}
			}
		}
	}
}

/* (Re)builds w->t from the arrays, passing brokers in a shuffled order. */
static void build(struct world *w, uint64_t *rng)
{
	struct pl_broker in[W_BROKERS];
	for (int i = 0; i < w->nb; i++) {
		in[i] = (struct pl_broker){.id = w->id[i],
					   .region = w->region_name[w->region[i]],
					   .rack = w->rack_name[w->rack[i]],
					   .alive = w->alive[i]};
	}
	for (int i = w->nb - 1; i > 0; i--) {
		int j = rnd(rng, i + 1);
		struct pl_broker tmp = in[i];
		in[i] = in[j];
		in[j] = tmp;
	}
	pl_topology_free(w->t);
	char err[PL_ERRMSG_BYTES];
	REQUIRE(pl_topology_new(in, w->nb, &w->t, err, sizeof(err)) == 0, "%s", err);
	derive(w);
}

static void add_broker(struct world *w, uint64_t *rng, int rack)
{
	int i = w->nb++;
	REQUIRE_CMP(w->nb, <, W_BROKERS);
	w->id[i] = 4 * i + rnd(rng, 4); /* distinct, not sorted with the index */
	w->region[i] = w->rack_region[rack];
	w->rack[i] = rack;
	w->alive[i] = true;
}

static int add_rack(struct world *w, int region)
{
	int k = w->n_racks++;
	int in_region = 0;
	for (int j = 0; j < k; j++) {
		in_region += w->rack_region[j] == region;
	}
	char name[16];
	snprintf(name, sizeof(name), "rg%d%c", region, 'a' + in_region);
	memcpy(w->rack_name[k], name, sizeof(name));
	w->rack_region[k] = region;
	return k;
}

static int add_region(struct world *w)
{
	int r = w->n_regions++;
	snprintf(w->region_name[r], sizeof(w->region_name[r]), "rg%d", r);
	return r;
}

static void gen_preference(struct world *w, uint64_t *rng)
{
	memset(&w->pref, 0, sizeof(w->pref));
	int kind = rnd(rng, 10);
	if (kind < 4) {
		return;
	}
	bool regions = kind < 8;
	w->pref.kind = regions ? PL_PREF_REGIONS : PL_PREF_RACKS;
	int pool = regions ? w->n_regions : w->n_racks;
	int want = 1 + rnd(rng, 3);
	for (int tries = 0; tries < 20 && w->pref.n_names < want; tries++) {
		char name[16];
		if (rnd(rng, 12) == 0) {
			snprintf(name, sizeof(name), "nowhere%d", rnd(rng, 3));
		} else {
			int j = rnd(rng, pool);
			snprintf(name, sizeof(name), "%s",
				 regions ? w->region_name[j] : w->rack_name[j]);
		}
		bool dup = false;
		for (int i = 0; i < w->pref.n_names; i++) {
			dup |= strcmp(w->pref.names[i], name) == 0;
		}
		if (!dup) {
			snprintf(w->pref.names[w->pref.n_names++], PL_NAME_BYTES_MAX, "%s", name);
		}
	}
}

/* 1-5 regions, 1-4 racks each, 1-4 brokers per rack; a third symmetric; in
 * the others an eighth of the brokers are dead. */
static void gen_world(struct world *w, uint64_t *rng)
{
	memset(w, 0, sizeof(*w));
	int n_regions = 1 + rnd(rng, 5);
	w->symmetric = rnd(rng, 3) == 0;
	int racks0 = 1 + rnd(rng, 4);
	int brokers0 = 1 + rnd(rng, 4);
	for (int r = 0; r < n_regions; r++) {
		add_region(w);
		int racks = w->symmetric ? racks0 : 1 + rnd(rng, 4);
		for (int j = 0; j < racks; j++) {
			int k = add_rack(w, r);
			int brokers = w->symmetric ? brokers0 : 1 + rnd(rng, 4);
			for (int b = 0; b < brokers; b++) {
				add_broker(w, rng, k);
				w->alive[w->nb - 1] = w->symmetric || rnd(rng, 8) != 0;
			}
		}
	}
	gen_preference(w, rng);
	build(w, rng);
}

/* ------------------------------------------------------------------------ */
/* Oracle for rows                                                           */
/* ------------------------------------------------------------------------ */

/* Returns NULL if the row meets guarantees 1-4 of pl_assign(), else why. */
static const char *row_violation(const struct world *w, const int32_t *row, int rf)
{
	int c[W_REGIONS] = {0};
	int n[W_RACKS] = {0};
	for (int i = 0; i < rf; i++) {
		int g = find_gen(w, row[i]);
		if (g < 0 || !w->alive[g]) {
			return "voter not a live broker";
		}
		for (int j = 0; j < i; j++) {
			if (row[j] == row[i]) {
				return "duplicate voter";
			}
		}
		c[w->region[g]]++;
		n[w->rack[g]]++;
	}
	for (int r = 0; r < w->n_regions; r++) {
		for (int s = 0; s < w->n_regions; s++) {
			if (c[r] >= c[s] + 2 && c[s] < w->region_cap[s]) {
				return "region spread";
			}
			if (w->region_rank[r] < w->region_rank[s] && c[s] > c[r] &&
			    c[r] < w->region_cap[r]) {
				return "region preference order";
			}
		}
	}
	for (int k = 0; k < w->n_racks; k++) {
		for (int l = 0; l < w->n_racks; l++) {
			if (w->rack_region[k] != w->rack_region[l]) {
				continue;
			}
			if (n[k] >= n[l] + 2 && n[l] < w->rack_cap[l]) {
				return "rack spread";
			}
			if (w->rack_rank[k] < w->rack_rank[l] && n[l] > n[k] &&
			    n[k] < w->rack_cap[k]) {
				return "rack preference order";
			}
		}
	}
	return NULL;
}

/* Checks a row fully, including the first replica and rack distinctness. */
static void check_row(const struct world *w, const int32_t *row, int rf, const char *ctx)
{
	const char *why = row_violation(w, row, rf);
	REQUIRE(why == NULL, "%s: %s", ctx, why);
	int c[W_REGIONS] = {0};
	int n[W_RACKS] = {0};
	for (int i = 0; i < rf; i++) {
		int g = find_gen(w, row[i]);
		c[w->region[g]]++;
		n[w->rack[g]]++;
	}
	bool racks_suffice = true;
	for (int r = 0; r < w->n_regions; r++) {
		racks_suffice &= c[r] <= w->region_live_racks[r];
	}
	for (int k = 0; k < w->n_racks && racks_suffice; k++) {
		REQUIRE(n[k] <= 1, "%s: two voters share rack %s", ctx, w->rack_name[k]);
	}
	int first = find_gen(w, row[0]);
	if (w->lead_rack >= 0) {
		REQUIRE(w->rack[first] == w->lead_rack, "%s: first replica off lead rack", ctx);
	} else if (w->lead_region >= 0) {
		REQUIRE(w->region[first] == w->lead_region, "%s: first replica off lead region",
			ctx);
		/* The first min(rf, live preferred regions) preferred regions hold a voter. */
		int held = 0;
		for (int i = 0; i < w->pref.n_names && held < rf; i++) {
			int r = name_index(w, true, w->pref.names[i]);
			if (r >= 0 && w->region_cap[r] > 0) {
				REQUIRE(c[r] >= 1, "%s: preferred region %s empty", ctx,
					w->region_name[r]);
				held++;
			}
		}
	}
}

/* Replica and leader counts per generated broker. */
static void counts(const struct world *w, const struct pl_assignment *a, int *rep, int *lead)
{
	memset(rep, 0, sizeof(int) * W_BROKERS);
	memset(lead, 0, sizeof(int) * W_BROKERS);
	for (int32_t p = 0; p < a->partitions; p++) {
		const int32_t *row = pl_assignment_row(a, p);
		for (int i = 0; i < a->replication_factor; i++) {
			int g = find_gen(w, row[i]);
			rep[g]++;
			lead[g] += i == 0;
		}
	}
}

static bool leader_eligible(const struct world *w, int g)
{
	if (w->lead_rack >= 0) {
		return w->rack[g] == w->lead_rack;
	}
	return w->lead_region < 0 || w->region[g] == w->lead_region;
}

/* The balance guarantees that hold on every topology: replicas within one
 * inside each rack, no improving single-replica move, no improving single
 * leader move. */
static void check_local_balance(const struct world *w, const struct pl_assignment *a,
				const int *rep, const int *lead, const char *ctx)
{
	int rf = a->replication_factor;
	for (int i = 0; i < w->nb; i++) {
		for (int j = 0; j < w->nb; j++) {
			if (w->alive[i] && w->alive[j] && w->rack[i] == w->rack[j]) {
				REQUIRE(rep[i] <= rep[j] + 1, "%s: rack %s unbalanced (%d vs %d)",
					ctx, w->rack_name[w->rack[i]], rep[i], rep[j]);
			}
		}
	}
	for (int32_t p = 0; p < a->partitions; p++) {
		const int32_t *row = pl_assignment_row(a, p);
		int32_t tmp[PL_REPLICATION_FACTOR_MAX];
		for (int i = 0; i < rf; i++) {
			int u = find_gen(w, row[i]);
			for (int v = 0; v < w->nb; v++) {
				if (!w->alive[v] || rep[v] + 2 > rep[u]) {
					continue;
				}
				memcpy(tmp, row, sizeof(int32_t) * (size_t)rf);
				tmp[i] = w->id[v];
				REQUIRE(row_violation(w, tmp, rf) != NULL,
					"%s: p%d could move %d->%d (%d vs %d replicas)", ctx,
					(int)p, (int)row[i], (int)w->id[v], rep[u], rep[v]);
			}
		}
		int u = find_gen(w, row[0]);
		for (int i = 1; i < rf; i++) {
			int v = find_gen(w, row[i]);
			if (leader_eligible(w, v)) {
				REQUIRE(lead[v] + 1 >= lead[u], "%s: p%d leader %d could move", ctx,
					(int)p, (int)row[0]);
			}
		}
	}
}

static void check_spread_within_one(const struct world *w, const int *cnt, bool only_lead,
				    const char *what, const char *ctx)
{
	int lo = 1 << 30;
	int hi = -1;
	for (int i = 0; i < w->nb; i++) {
		if (w->alive[i] && (!only_lead || leader_eligible(w, i))) {
			lo = cnt[i] < lo ? cnt[i] : lo;
			hi = cnt[i] > hi ? cnt[i] : hi;
		}
	}
	REQUIRE(hi - lo <= 1, "%s: %s counts range %d..%d", ctx, what, lo, hi);
}

/* Expected warning bits, computed from the rows. */
static unsigned expected_warnings(const struct world *w, const struct pl_assignment *a)
{
	unsigned bits = 0;
	bool pref = w->pref.kind != PL_PREF_NONE;
	if (pref && w->usable < w->pref.n_names) {
		bits |= PL_WARN_PREF_PARTIAL;
	}
	for (int32_t p = 0; p < a->partitions; p++) {
		int c[W_REGIONS] = {0};
		int n[W_RACKS] = {0};
		const int32_t *row = pl_assignment_row(a, p);
		for (int i = 0; i < a->replication_factor; i++) {
			int g = find_gen(w, row[i]);
			c[w->region[g]]++;
			n[w->rack[g]]++;
		}
		for (int k = 0; k < w->n_racks; k++) {
			bits |= n[k] > 1 ? PL_WARN_RACK_SHARED : 0;
			bool pref_rack =
			    w->pref.kind == PL_PREF_RACKS && w->rack_rank[k] < w->pref.n_names;
			bits |=
			    pref_rack && w->rack_cap[k] > 0 && n[k] == 0 ? PL_WARN_PREF_PARTIAL : 0;
		}
		for (int r = 0; r < w->n_regions; r++) {
			bool maj = 2 * c[r] > a->replication_factor && r != w->lead_region_of;
			bits |= pref && maj ? PL_WARN_MAJORITY_ELSEWHERE : 0;
			bool pref_region =
			    w->pref.kind == PL_PREF_REGIONS && w->region_rank[r] < w->pref.n_names;
			bits |= pref_region && w->region_cap[r] > 0 && c[r] == 0
				    ? PL_WARN_PREF_PARTIAL
				    : 0;
		}
	}
	return bits;
}

/* Every guarantee of an assignment (or a move-plan target) over world w. */
static void check_assignment(const struct world *w, const struct pl_assignment *a, bool fresh,
			     const char *ctx)
{
	for (int32_t p = 0; p < a->partitions; p++) {
		check_row(w, pl_assignment_row(a, p), a->replication_factor, ctx);
	}
	int rep[W_BROKERS];
	int lead[W_BROKERS];
	counts(w, a, rep, lead);
	check_local_balance(w, a, rep, lead, ctx);
	REQUIRE(a->warnings == expected_warnings(w, a), "%s: warnings %#x, expected %#x (%s)", ctx,
		a->warnings, expected_warnings(w, a), a->detail);
	if (!fresh || !w->symmetric) {
		return;
	}
	if (w->pref.kind == PL_PREF_NONE) {
		check_spread_within_one(w, rep, false, "replica", ctx);
		check_spread_within_one(w, lead, false, "leader", ctx);
	} else if (w->pref.kind == PL_PREF_REGIONS && a->replication_factor % w->n_regions == 0) {
		check_spread_within_one(w, rep, false, "replica", ctx);
		check_spread_within_one(w, lead, true, "leader", ctx);
	}
}

/* ------------------------------------------------------------------------ */
/* Assignment and move-plan properties                                       */
/* ------------------------------------------------------------------------ */

/* Returns the error pl_assign() must give for world w, or 0. */
static int expected_error(const struct world *w, int rf)
{
	if (rf > w->n_live) {
		return PL_ERR_NOT_ENOUGH_BROKERS;
	}
	if (w->pref.kind != PL_PREF_NONE && w->usable == 0) {
		return PL_ERR_PREF_UNSATISFIABLE;
	}
	return 0;
}

static bool same_assignment(const struct pl_assignment *a, const struct pl_assignment *b)
{
	return a->partitions == b->partitions && a->replication_factor == b->replication_factor &&
	       a->warnings == b->warnings &&
	       memcmp(a->replicas, b->replicas,
		      sizeof(int32_t) * (size_t)a->partitions * (size_t)a->replication_factor) == 0;
}

/* True if step s removes a live voter while a later step of the same
 * partition removes a dead one (dead voters must be replaced first). */
static bool removed_live_before_dead(const struct world *w, const struct pl_move_plan *plan, int s)
{
	for (int j = s + 1; j < plan->n_steps; j++) {
		const struct pl_move_step *st = &plan->steps[j];
		int g = find_gen(w, st->broker_id);
		if (st->partition == plan->steps[s].partition && st->kind == PL_STEP_REMOVE &&
		    (g < 0 || !w->alive[g])) {
			return true;
		}
	}
	return false;
}

/* Applies the plan's steps to copies of the current rows, checking the
 * safety rules at each step, and that the end state is the target. */
static void simulate_plan(const struct world *w, const struct pl_assignment *cur,
			  const struct pl_move_plan *plan, const char *ctx)
{
	int rf = cur->replication_factor;
	for (int32_t p = 0; p < cur->partitions; p++) {
		int32_t voters[PL_VOTERS_MAX];
		int n = rf;
		int32_t learner = PL_NO_BROKER;
		memcpy(voters, pl_assignment_row(cur, p), sizeof(int32_t) * (size_t)rf);
		int live0 = 0;
		for (int i = 0; i < n; i++) {
			int g = find_gen(w, voters[i]);
			live0 += g >= 0 && w->alive[g];
		}
		int expect_round = 0;
		int last_index = -1;
		for (int s = 0; s < plan->n_steps; s++) {
			const struct pl_move_step *st = &plan->steps[s];
			if (s > 0) {
				const struct pl_move_step *pr = &plan->steps[s - 1];
				REQUIRE(pr->round < st->round || (pr->round == st->round &&
								  pr->partition < st->partition),
					"%s: steps out of order", ctx);
			}
			if (st->partition != p) {
				continue;
			}
			REQUIRE_CMP(st->round, ==, expect_round++);
			REQUIRE_CMP(s, >, last_index);
			last_index = s;
			switch (st->kind) {
			case PL_STEP_ADD_LEARNER:
				REQUIRE_CMP(learner, ==, PL_NO_BROKER);
				for (int i = 0; i < n; i++) {
					REQUIRE_CMP(voters[i], !=, st->broker_id);
				}
				learner = st->broker_id;
				break;
			case PL_STEP_PROMOTE:
				REQUIRE_CMP(learner, ==, st->broker_id);
				voters[n++] = learner;
				learner = PL_NO_BROKER;
				REQUIRE_CMP(n, <=, rf + 1);
				break;
			case PL_STEP_REMOVE: {
				REQUIRE_CMP(learner, ==, PL_NO_BROKER);
				int rg = find_gen(w, st->broker_id);
				bool dead = rg < 0 || !w->alive[rg];
				REQUIRE(dead || !removed_live_before_dead(w, plan, s),
					"%s: live voter removed before a dead one", ctx);
				int at = -1;
				for (int i = 0; i < n; i++) {
					at = voters[i] == st->broker_id ? i : at;
				}
				REQUIRE_CMP(at, >=, 0);
				voters[at] = voters[--n];
				break;
			}
			}
			int live = 0;
			for (int i = 0; i < n; i++) {
				int g = find_gen(w, voters[i]);
				live += g >= 0 && w->alive[g];
			}
			REQUIRE(live >= live0, "%s: p%d live voters %d < %d", ctx, (int)p, live,
				live0);
		}
		REQUIRE_CMP(n, ==, rf);
		const int32_t *tgt = pl_assignment_row(&plan->target, p);
		for (int i = 0; i < rf; i++) {
			bool found = false;
			for (int j = 0; j < rf; j++) {
				found |= voters[j] == tgt[i];
			}
			REQUIRE(found, "%s: p%d end state differs from target", ctx, (int)p);
		}
	}
}

/* Changes the broker set: kill, remove, add or revive brokers. */
static void mutate(struct world *w, uint64_t *rng)
{
	int kind = rnd(rng, 4);
	if (kind == 0 || kind == 1) {
		int victims = 1 + rnd(rng, 2);
		for (int v = 0; v < victims && w->nb > 1; v++) {
			int i = rnd(rng, w->nb);
			if (kind == 0) {
				w->alive[i] = false;
			} else {
				w->id[i] = w->id[--w->nb];
				w->region[i] = w->region[w->nb];
				w->rack[i] = w->rack[w->nb];
				w->alive[i] = w->alive[w->nb];
			}
		}
	} else if (kind == 2) {
		int adds = 1 + rnd(rng, 4);
		for (int a = 0; a < adds; a++) {
			int where = rnd(rng, 4);
			int rack = rnd(rng, w->n_racks);
			if (where == 0 && w->n_racks < W_RACKS) {
				rack = add_rack(w, rnd(rng, w->n_regions));
			} else if (where == 1 && w->n_regions < W_REGIONS && w->n_racks < W_RACKS) {
				rack = add_rack(w, add_region(w));
			}
			add_broker(w, rng, rack);
		}
	} else {
		for (int i = 0; i < w->nb; i++) {
			w->alive[i] = true;
		}
	}
	w->symmetric = false;
	build(w, rng);
}

static void run_assign_case(uint64_t seed)
{
	uint64_t rng = seed;
	struct world w;
	gen_world(&w, &rng);
	int rf = 1 + rnd(&rng, 5);
	int32_t parts = 1 + rnd(&rng, 50);
	char ctx[800];
	char pref_s[PL_PREF_STRING_BYTES_MAX];
	pl_preference_format(&w.pref, pref_s, sizeof(pref_s));
	snprintf(ctx, sizeof(ctx), "seed=%#" PRIx64 " P=%d RF=%d pref=%s sym=%d", seed, (int)parts,
		 rf, pref_s, w.symmetric);
	struct pl_assign_req req = {.topology = w.t,
				    .preference = &w.pref,
				    .partitions = parts,
				    .replication_factor = rf,
				    .seed = seed};
	struct pl_assignment a;
	int rc = pl_assign(&req, &a);
	REQUIRE(rc == expected_error(&w, rf), "%s: rc=%s (%s)", ctx, pl_err_name(rc), a.detail);
	if (rc != 0) {
		REQUIRE_TRUE(a.replicas == NULL);
		pl_topology_free(w.t);
		return;
	}
	check_assignment(&w, &a, true, ctx);

	/* Determinism: same inputs, and the same brokers listed in another order. */
	struct pl_assignment again;
	build(&w, &rng);
	req.topology = w.t;
	REQUIRE_CMP(pl_assign(&req, &again), ==, 0);
	REQUIRE(same_assignment(&a, &again), "%s: not deterministic", ctx);
	pl_assignment_free(&again);

	/* A plan on the unchanged topology moves nothing. */
	struct pl_move_req mreq = {
	    .topology = w.t, .preference = &w.pref, .current = &a, .seed = seed};
	struct pl_move_plan plan;
	REQUIRE_CMP(pl_plan_moves(&mreq, &plan), ==, 0);
	REQUIRE(plan.n_steps == 0, "%s: idle plan has %d steps", ctx, plan.n_steps);
	REQUIRE(same_assignment(&a, &plan.target), "%s: idle plan changes rows", ctx);
	pl_move_plan_free(&plan);

	/* Brokers join or leave: the plan reaches a valid, balanced target. */
	mutate(&w, &rng);
	mreq.topology = w.t;
	rc = pl_plan_moves(&mreq, &plan);
	REQUIRE(rc == expected_error(&w, rf), "%s: plan rc=%s (%s)", ctx, pl_err_name(rc),
		plan.target.detail);
	if (rc == 0) {
		strncat(ctx, " after change", sizeof(ctx) - strlen(ctx) - 1);
		check_assignment(&w, &plan.target, false, ctx);
		simulate_plan(&w, &a, &plan, ctx);
		/* The target is a fixed point. */
		struct pl_move_plan again_plan;
		mreq.current = &plan.target;
		REQUIRE_CMP(pl_plan_moves(&mreq, &again_plan), ==, 0);
		REQUIRE(again_plan.n_steps == 0, "%s: replan has %d steps", ctx,
			again_plan.n_steps);
		pl_move_plan_free(&again_plan);
		pl_move_plan_free(&plan);
	}
	pl_assignment_free(&a);
	pl_topology_free(w.t);
}

START_TEST(prop_assign_and_move)
{
	uint64_t base = base_seed();
	int n = cases();
	for (int i = 0; i < n; i++) {
		run_assign_case(base + (uint64_t)i * 0x9e3779b97f4a7c15ull);
	}
}
END_TEST

/* Several topics created one after another on a symmetric topology, each
 * with the previous topics' load: replica counts stay within one overall,
 * and no single leadership move inside a topic would bring two brokers'
 * total leader counts closer. (Total leader counts cannot always stay within
 * one: a one-partition topic whose only broker with fewer leaders already
 * holds the most replicas must unbalance one of the two.) */
START_TEST(prop_multi_topic_balance)
{
	uint64_t base = base_seed() ^ 0x70c1c5ull;
	int n = cases() / 4;
	for (int i = 0; i < n; i++) {
		uint64_t rng = base + (uint64_t)i;
		struct world w;
		do {
			gen_world(&w, &rng);
			if (!w.symmetric) {
				pl_topology_free(w.t);
			}
		} while (!w.symmetric);
		memset(&w.pref, 0, sizeof(w.pref));
		derive(&w);
		struct pl_broker_load load[W_BROKERS];
		for (int b = 0; b < w.nb; b++) {
			load[b] = (struct pl_broker_load){.broker_id = w.id[b]};
		}
		int topics = 2 + rnd(&rng, 4);
		for (int t = 0; t < topics; t++) {
			int rf = 1 + rnd(&rng, w.nb < 5 ? w.nb : 5);
			struct pl_assign_req req = {.topology = w.t,
						    .partitions = 1 + rnd(&rng, 30),
						    .replication_factor = rf,
						    .load = load,
						    .n_load = w.nb,
						    .seed = rng};
			struct pl_assignment a;
			REQUIRE_CMP(pl_assign(&req, &a), ==, 0);
			REQUIRE_CMP(pl_assignment_tally(&a, load, w.nb), ==, 0);
			for (int32_t p = 0; p < a.partitions; p++) {
				const int32_t *row = pl_assignment_row(&a, p);
				int u = find_gen(&w, row[0]);
				for (int j = 1; j < rf; j++) {
					int v = find_gen(&w, row[j]);
					REQUIRE(load[v].leaders + 1 >= load[u].leaders,
						"case %d topic %d p%d: leader could move", i, t,
						(int)p);
				}
			}
			pl_assignment_free(&a);
		}
		int lo_r = 1 << 30, hi_r = 0;
		for (int b = 0; b < w.nb; b++) {
			lo_r = load[b].replicas < lo_r ? load[b].replicas : lo_r;
			hi_r = load[b].replicas > hi_r ? load[b].replicas : hi_r;
		}
		REQUIRE(hi_r - lo_r <= 1, "case %d: replicas %d..%d", i, lo_r, hi_r);
		pl_topology_free(w.t);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Leader choice properties                                                  */
/* ------------------------------------------------------------------------ */

static int oracle_rank(const struct world *w, int g)
{
	if (w->pref.kind == PL_PREF_NONE) {
		return 0;
	}
	const char *name = w->pref.kind == PL_PREF_REGIONS ? w->region_name[w->region[g]]
							   : w->rack_name[w->rack[g]];
	for (int i = 0; i < w->pref.n_names; i++) {
		if (strcmp(w->pref.names[i], name) == 0) {
			return i;
		}
	}
	return w->pref.n_names;
}

static bool oracle_ready(const struct world *w, const struct pl_config *cfg,
			 const struct pl_voter_progress *v, uint64_t last, int64_t now)
{
	int g = find_gen(w, v->broker_id);
	uint64_t lag = v->match_index >= last ? 0 : last - v->match_index;
	return g >= 0 && w->alive[g] && v->last_contact_age_ms >= 0 &&
	       v->last_contact_age_ms <= cfg->transfer_contact_age_max_ms &&
	       lag <= (uint64_t)cfg->transfer_lag_max_entries &&
	       v->healthy_since_ms != PL_TIME_NEVER && v->healthy_since_ms <= now &&
	       now - v->healthy_since_ms >= cfg->transfer_healthy_min_ms;
}

static void gen_voters(const struct world *w, uint64_t *rng, struct pl_voter_progress *v, int n,
		       uint64_t last, int64_t now)
{
	int picked[W_BROKERS] = {0};
	for (int i = 0; i < n; i++) {
		int g;
		do {
			g = rnd(rng, w->nb);
		} while (picked[g]);
		picked[g] = 1;
		v[i] = (struct pl_voter_progress){
		    .broker_id = w->id[g],
		    .match_index = last - (uint64_t)rnd(rng, 3000),
		    .last_contact_age_ms = rnd(rng, 8) == 0 ? -1 : rnd(rng, 4000),
		    .healthy_since_ms = rnd(rng, 5) == 0 ? PL_TIME_NEVER : now - rnd(rng, 20000)};
		if (rnd(rng, 2) == 0) {
			/* Mostly healthy, near the thresholds. */
			v[i].match_index = last - (uint64_t)rnd(rng, 1002);
			v[i].last_contact_age_ms = rnd(rng, 2002);
			v[i].healthy_since_ms = now - 9998 - rnd(rng, 10000);
			/* Sometimes exactly at a default threshold, +-1. */
			int edge = rnd(rng, 6);
			int64_t d = rnd(rng, 3) - 1;
			if (edge == 0) {
				v[i].match_index = last - (uint64_t)(1000 + d);
			} else if (edge == 1) {
				v[i].last_contact_age_ms = 2000 + d;
			} else if (edge == 2) {
				v[i].healthy_since_ms = now - 10000 - d;
			}
		}
	}
}

static void check_decision(const struct world *w, const struct pl_config *cfg,
			   const struct pl_leader_input *in, const struct pl_leader_decision *d)
{
	int lead_g = find_gen(w, in->leader_id);
	int lead_rank = oracle_rank(w, lead_g);
	int best_ready = 1 << 30;
	for (int i = 0; i < in->n_voters; i++) {
		const struct pl_voter_progress *v = &in->voters[i];
		int g = find_gen(w, v->broker_id);
		if (v->broker_id != in->leader_id &&
		    oracle_ready(w, cfg, v, in->leader_last_index, in->now_ms)) {
			best_ready =
			    oracle_rank(w, g) < best_ready ? oracle_rank(w, g) : best_ready;
		}
	}
	bool cool = in->now_ms - in->last_change_ms < cfg->transfer_cool_down_ms;
	bool should = w->pref.kind != PL_PREF_NONE && w->alive[lead_g] && best_ready < lead_rank;
	if (d->action == PL_LEADER_TRANSFER) {
		REQUIRE_TRUE(should && !cool);
		const struct pl_voter_progress *t = NULL;
		for (int i = 0; i < in->n_voters; i++) {
			t = in->voters[i].broker_id == d->target_id ? &in->voters[i] : t;
		}
		REQUIRE_TRUE(t != NULL);
		REQUIRE_TRUE(oracle_ready(w, cfg, t, in->leader_last_index, in->now_ms));
		REQUIRE_CMP(oracle_rank(w, find_gen(w, t->broker_id)), ==, best_ready);
	} else {
		REQUIRE_TRUE(!should || cool);
		REQUIRE_TRUE(d->reason != PL_LEADER_MOVE_TO_PREFERRED);
	}
}

START_TEST(prop_leader_choice)
{
	uint64_t base = base_seed() ^ 0x1eade7ull;
	int n = cases();
	struct pl_config cfg;
	pl_config_init(&cfg);
	for (int i = 0; i < n; i++) {
		uint64_t rng = base + (uint64_t)i;
		struct world w;
		gen_world(&w, &rng);
		int nv = 1 + rnd(&rng, w.nb < 5 ? w.nb : 5);
		uint64_t last = 100000;
		int64_t now = 1000000 + rnd(&rng, 1000);
		struct pl_voter_progress v[PL_VOTERS_MAX];
		gen_voters(&w, &rng, v, nv, last, now);
		int li = rnd(&rng, nv);
		for (int j = 0; j < nv && rnd(&rng, 2) == 0; j++) {
			/* Half the time the leader sits in the least preferred place. */
			if (oracle_rank(&w, find_gen(&w, v[j].broker_id)) >
			    oracle_rank(&w, find_gen(&w, v[li].broker_id))) {
				li = j;
			}
		}
		v[li].match_index = last;
		v[li].last_contact_age_ms = 0;
		struct pl_leader_input in = {.topology = w.t,
					     .preference = &w.pref,
					     .config = &cfg,
					     .leader_id = v[li].broker_id,
					     .leader_last_index = last,
					     .voters = v,
					     .n_voters = nv,
					     .now_ms = now,
					     .last_change_ms = now - rnd(&rng, 60000)};
		struct pl_leader_decision d;
		REQUIRE_CMP(pl_leader_decide(&in, &d), ==, 0);
		check_decision(&w, &cfg, &in, &d);
		/* Stable inputs: leadership settles after at most n_names
		 * transfers, each outside the cool-down of the previous one. */
		int transfers = 0;
		int64_t last_change = in.last_change_ms;
		for (int step = 0; step < 20; step++) {
			in.now_ms += cfg.transfer_cool_down_ms / 3;
			REQUIRE_CMP(pl_leader_decide(&in, &d), ==, 0);
			check_decision(&w, &cfg, &in, &d);
			if (d.action == PL_LEADER_TRANSFER) {
				REQUIRE_CMP(in.now_ms - last_change, >=, cfg.transfer_cool_down_ms);
				transfers++;
				last_change = in.now_ms;
				in.last_change_ms = last_change;
				for (int j = 0; j < nv; j++) {
					if (v[j].broker_id == d.target_id) {
						v[j].match_index = last;
						v[j].last_contact_age_ms = 0;
					}
				}
				in.leader_id = d.target_id;
			}
		}
		REQUIRE_CMP(transfers, <=, w.pref.n_names);
		pl_topology_free(w.t);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Fetch selection properties                                                */
/* ------------------------------------------------------------------------ */

static const char *gen_client_rack(const struct world *w, uint64_t *rng, char *buf, size_t len)
{
	switch (rnd(rng, 6)) {
	case 0:
		return NULL;
	case 1:
		snprintf(buf, len, "%s", w->region_name[rnd(rng, w->n_regions)]);
		return buf;
	case 2:
		snprintf(buf, len, "%sz", w->region_name[rnd(rng, w->n_regions)]);
		return buf;
	case 3:
		return "mars-1a";
	default:
		snprintf(buf, len, "%s", w->rack_name[rnd(rng, w->n_racks)]);
		return buf;
	}
}

static bool oracle_can_serve(const struct pl_fetch_input *in, const struct world *w,
			     const struct pl_replica_state *r)
{
	int g = find_gen(w, r->broker_id);
	return g >= 0 && w->alive[g] && r->leader_contact_age_ms >= 0 &&
	       r->leader_contact_age_ms <= in->max_staleness_ms && in->max_staleness_ms >= 0 &&
	       r->log_start_offset <= in->fetch_offset && in->fetch_offset <= r->high_watermark;
}

static void check_fetch(const struct world *w, const struct pl_fetch_input *in,
			const struct pl_fetch_choice *ch)
{
	struct pl_locality loc;
	pl_topology_locate(w->t, in->client_rack, &loc);
	if (ch->broker_id != in->leader_id) {
		const struct pl_replica_state *r = NULL;
		for (int i = 0; i < in->n_replicas; i++) {
			r = in->replicas[i].broker_id == ch->broker_id ? &in->replicas[i] : r;
		}
		REQUIRE_TRUE(r != NULL);
		REQUIRE_TRUE(oracle_can_serve(in, w, r));
		int g = find_gen(w, r->broker_id);
		REQUIRE_TRUE(loc.region != NULL &&
			     strcmp(loc.region, w->region_name[w->region[g]]) == 0);
		int lg = find_gen(w, in->leader_id);
		bool leader_region = strcmp(loc.region, w->region_name[w->region[lg]]) == 0;
		if (ch->reason == PL_FETCH_SAME_RACK) {
			REQUIRE_TRUE(strcmp(loc.rack, w->rack_name[w->rack[g]]) == 0);
			/* The leader wins its own rack's tier. */
			REQUIRE_TRUE(strcmp(loc.rack, w->rack_name[w->rack[lg]]) != 0);
		} else {
			REQUIRE_CMP(ch->reason, ==, PL_FETCH_SAME_REGION);
			REQUIRE_TRUE(!leader_region);
			/* No eligible replica in the client's rack. */
			for (int i = 0; i < in->n_replicas && loc.rack != NULL; i++) {
				int h = find_gen(w, in->replicas[i].broker_id);
				REQUIRE_TRUE(strcmp(loc.rack, w->rack_name[w->rack[h]]) != 0 ||
					     !oracle_can_serve(in, w, &in->replicas[i]));
			}
		}
	}
	if (ch->reason >= PL_FETCH_LEADER_NO_RACK) {
		REQUIRE_CMP(ch->broker_id, ==, in->leader_id);
		for (int i = 0; i < in->n_replicas && loc.region != NULL; i++) {
			int g = find_gen(w, in->replicas[i].broker_id);
			bool local = strcmp(loc.region, w->region_name[w->region[g]]) == 0;
			REQUIRE_TRUE(!(local && oracle_can_serve(in, w, &in->replicas[i])));
		}
	}
}

/* One random fetch over world w with nr replicas; boundaries are likely. */
static void fetch_query(const struct world *w, uint64_t *rng, int nr)
{
	struct pl_voter_progress tmp[PL_VOTERS_MAX];
	gen_voters(w, rng, tmp, nr, 1000, 0);
	struct pl_replica_state reps[PL_REPLICAS_MAX];
	for (int j = 0; j < nr; j++) {
		reps[j] =
		    (struct pl_replica_state){.broker_id = tmp[j].broker_id,
					      .log_start_offset = rnd(rng, 50) * 20,
					      .high_watermark = 900 + rnd(rng, 200),
					      .leader_contact_age_ms = tmp[j].last_contact_age_ms};
	}
	const struct pl_replica_state *edge = &reps[rnd(rng, nr)];
	int64_t offset = rnd(rng, 1200) - 10;
	int64_t bound = rnd(rng, 10) == 0 ? -1 : rnd(rng, 3000);
	int shape = rnd(rng, 4);
	if (shape == 0) {
		offset = edge->high_watermark + rnd(rng, 3) - 1;
	} else if (shape == 1) {
		offset = edge->log_start_offset + rnd(rng, 2) - 1;
	}
	if (rnd(rng, 3) == 0) {
		reps[rnd(rng, nr)].leader_contact_age_ms = bound + rnd(rng, 3) - 1;
	}
	char rack[32];
	const char *client_rack = gen_client_rack(w, rng, rack, sizeof(rack));
	if (rnd(rng, 2) == 0) {
		/* Often sit next to the boundary replica. */
		client_rack = w->rack_name[w->rack[find_gen(w, edge->broker_id)]];
	}
	struct pl_fetch_input in = {.topology = w->t,
				    .client_rack = client_rack,
				    .fetch_offset = offset,
				    .max_staleness_ms = bound,
				    .leader_id = reps[rnd(rng, nr)].broker_id,
				    .client_hash = splitmix64(rng),
				    .replicas = reps,
				    .n_replicas = nr};
	struct pl_fetch_choice ch;
	REQUIRE_CMP(pl_fetch_select(&in, &ch), ==, 0);
	check_fetch(w, &in, &ch);
	/* Sticky: the same client gets the same answer, whatever the order the
	 * replicas are listed in. */
	for (int j = nr - 1; j > 0; j--) {
		int k = rnd(rng, j + 1);
		struct pl_replica_state t = reps[j];
		reps[j] = reps[k];
		reps[k] = t;
	}
	struct pl_fetch_choice again;
	REQUIRE_CMP(pl_fetch_select(&in, &again), ==, 0);
	REQUIRE_CMP(again.broker_id, ==, ch.broker_id);
	REQUIRE_CMP(again.reason, ==, ch.reason);
}

START_TEST(prop_fetch_select)
{
	uint64_t base = base_seed() ^ 0xfe7c4ull;
	int n = cases();
	for (int i = 0; i < n; i++) {
		uint64_t rng = base + (uint64_t)i;
		struct world w;
		gen_world(&w, &rng);
		for (int q = 0; q < 8; q++) {
			fetch_query(&w, &rng, 1 + rnd(&rng, w.nb < 6 ? w.nb : 6));
		}
		pl_topology_free(w.t);
	}
}
END_TEST

Suite *placement_prop_suite(void)
{
	Suite *s = suite_create("placement_prop");
	TCase *tc = tcase_create("properties");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, prop_assign_and_move);
	tcase_add_test(tc, prop_multi_topic_balance);
	tcase_add_test(tc, prop_leader_choice);
	tcase_add_test(tc, prop_fetch_select);
	suite_add_tcase(s, tc);
	return s;
}
