/* Replica balance: single-replica moves toward even replica counts, keeping every row valid. */
#include <limits.h>

#include "placement/assign_ctx.h"

static int64_t min_live_replicas(const struct pl__actx *c)
{
	int64_t m = INT64_MAX;
	for (int b = 0; b < c->nb; b++) {
		if (c->t->brokers[b].alive) {
			m = SL_MIN(m, c->b_rep[b]);
		}
	}
	return m;
}

static bool in_row(const int *row, int rf, int b)
{
	for (int i = 0; i < rf; i++) {
		if (row[i] == b) {
			return true;
		}
	}
	return false;
}

static bool candidate_before(const struct pl__actx *c, int a, int b)
{
	if (b < 0) {
		return true;
	}
	if (c->b_rep[a] != c->b_rep[b]) {
		return c->b_rep[a] < c->b_rep[b];
	}
	if (c->b_lead[a] != c->b_lead[b]) {
		return c->b_lead[a] < c->b_lead[b];
	}
	if (c->b_tie[a] != c->b_tie[b]) {
		return c->b_tie[a] < c->b_tie[b];
	}
	return a < b;
}

/* Returns the least-loaded broker of rack k not in row with at least two
 * fewer replicas than u, or -1. */
static int rack_candidate(const struct pl__actx *c, int k, const int *row, int u)
{
	int best = -1;
	for (int i = c->rack_brokers_off[k]; i < c->rack_brokers_off[k + 1]; i++) {
		int v = c->rack_brokers[i];
		if (c->b_rep[v] + 2 <= c->b_rep[u] && !in_row(row, c->rf, v) &&
		    candidate_before(c, v, best)) {
			best = v;
		}
	}
	return best;
}

/* Tries to move the voter at row[i] of partition p to a broker with at least
 * two fewer replicas, keeping the row valid. Returns true if it moved. */
static bool try_move(struct pl__actx *c, int32_t p, int i)
{
	int *row = pl__row(c, p);
	int u = row[i];
	int u_rack = c->t->brokers[u].rack;
	int best = -1;
	for (int k = 0; k < c->nk; k++) {
		int v = rack_candidate(c, k, row, u);
		if (v < 0 || !candidate_before(c, v, best)) {
			continue;
		}
		row[i] = v;
		bool ok = k == u_rack || pl__row_valid(c, row);
		row[i] = u;
		if (ok) {
			best = v;
		}
	}
	if (best < 0) {
		return false;
	}
	row[i] = best;
	pl__load_add(c, u, -1);
	pl__load_add(c, best, +1);
	if (c->leader[p] == u) {
		pl__lead_add(c, u, -1);
		c->leader[p] = pl__leader_greedy(c, p);
		pl__lead_add(c, c->leader[p], +1);
	}
	return true;
}

bool pl__balance_replicas(struct pl__actx *c)
{
	/* Every move lowers the sum of squared replica counts by at least two,
	 * so this terminates; the bound only guards against a logic error. */
	int64_t moves_max = (int64_t)c->partitions * c->rf * (int64_t)(c->nb + 1) + 1;
	int64_t moves = 0;
	bool moved = true;
	bool any = false;
	while (moved) {
		moved = false;
		int64_t floor = min_live_replicas(c);
		for (int32_t p = 0; p < c->partitions; p++) {
			for (int i = 0; i < c->rf; i++) {
				if (c->b_rep[pl__row(c, p)[i]] < floor + 2 || !try_move(c, p, i)) {
					continue;
				}
				moved = true;
				any = true;
				SL_ASSERT(++moves <= moves_max);
				floor = min_live_replicas(c);
			}
		}
	}
	return any;
}
