/* Move plans: from a current assignment to a balanced one after brokers join or leave. */
#include <string.h>

#include "placement/assign_ctx.h"

static int check_current(const struct pl_assignment *cur, char *detail, size_t len)
{
	if (cur->replicas == NULL || cur->partitions < 1 || cur->replication_factor < 1 ||
	    cur->replication_factor > PL_REPLICATION_FACTOR_MAX ||
	    cur->partitions > PL_PARTITIONS_MAX) {
		pl__errmsg(detail, len, "current assignment is empty or out of range");
		return PL_ERR_INVAL;
	}
	for (int32_t p = 0; p < cur->partitions; p++) {
		const int32_t *row = pl_assignment_row(cur, p);
		for (int i = 0; i < cur->replication_factor; i++) {
			for (int j = 0; j < i; j++) {
				if (row[i] == row[j]) {
					pl__errmsg(detail, len,
						   "partition %d lists broker %d twice", (int)p,
						   (int)row[i]);
					return PL_ERR_INVAL;
				}
			}
		}
	}
	return 0;
}

/* Writes into kept the live voters of the current row p; returns how many. */
static int live_voters(const struct pl__actx *c, const struct pl_assignment *cur, int32_t p,
		       int *kept)
{
	const int32_t *row = pl_assignment_row(cur, p);
	int n = 0;
	for (int i = 0; i < cur->replication_factor; i++) {
		int b = pl__broker_index(c->t, row[i]);
		if (b >= 0 && c->t->brokers[b].alive) {
			kept[n++] = b;
		}
	}
	return n;
}

/* Places every row of the target, keeping live voters where the spread
 * allows. Loads count every kept voter up front, so early partitions see the
 * load that later partitions will keep. */
static void place_targets(struct pl__actx *c, const struct pl_assignment *cur)
{
	int kept[PL_REPLICATION_FACTOR_MAX];
	for (int32_t p = 0; p < c->partitions; p++) {
		int n = live_voters(c, cur, p, kept);
		for (int i = 0; i < n; i++) {
			pl__load_add(c, kept[i], +1);
		}
	}
	for (int32_t p = 0; p < c->partitions; p++) {
		int n = live_voters(c, cur, p, kept);
		for (int i = 0; i < n; i++) {
			pl__load_add(c, kept[i], -1);
		}
		pl__place_row(c, p, kept, n);
		int first = pl__broker_index(c->t, pl_assignment_row(cur, p)[0]);
		int *row = pl__row(c, p);
		c->leader[p] = -1;
		for (int i = 0; i < c->rf && first >= 0; i++) {
			if (row[i] == first && pl__leader_eligible(c, first)) {
				c->leader[p] = first;
			}
		}
		if (c->leader[p] < 0) {
			c->leader[p] = pl__leader_greedy(c, p);
		}
		pl__lead_add(c, c->leader[p], +1);
	}
}

/* Writes the target row p: current voters that stay keep their positions,
 * newcomers fill the vacated ones, then the preferred leader swaps to the
 * front. */
static void export_target(const struct pl__actx *c, const struct pl_assignment *cur, int32_t p,
			  int32_t *dst)
{
	const int32_t *old = pl_assignment_row(cur, p);
	const int *row = c->rows + (size_t)p * (size_t)c->rf;
	int32_t ids[PL_REPLICATION_FACTOR_MAX];
	bool used[PL_REPLICATION_FACTOR_MAX] = {false};
	for (int i = 0; i < c->rf; i++) {
		ids[i] = c->t->brokers[row[i]].id;
		dst[i] = PL_NO_BROKER;
	}
	for (int i = 0; i < c->rf; i++) {
		for (int j = 0; j < c->rf; j++) {
			if (!used[j] && ids[j] == old[i]) {
				used[j] = true;
				dst[i] = old[i];
			}
		}
	}
	for (int i = 0, j = 0; i < c->rf; i++) {
		while (dst[i] == PL_NO_BROKER && j < c->rf) {
			if (!used[j]) {
				used[j] = true;
				dst[i] = ids[j];
			}
			j++;
		}
	}
	int32_t lead = c->t->brokers[c->leader[p]].id;
	for (int i = 0; i < c->rf; i++) {
		if (dst[i] == lead) {
			dst[i] = dst[0];
			dst[0] = lead;
		}
	}
}

static bool row_has(const int32_t *row, int rf, int32_t id)
{
	for (int i = 0; i < rf; i++) {
		if (row[i] == id) {
			return true;
		}
	}
	return false;
}

/* Lists the steps of partition p: (add learner, promote, remove) per replaced
 * voter, dead voters replaced first. Returns the number written to steps. */
static int partition_steps(const struct pl_topology *t, const struct pl_assignment *cur,
			   const struct pl_assignment *tgt, int32_t p, struct pl_move_step *steps)
{
	const int32_t *old = pl_assignment_row(cur, p);
	const int32_t *neu = pl_assignment_row(tgt, p);
	int rf = cur->replication_factor;
	int32_t out[PL_REPLICATION_FACTOR_MAX];
	int32_t in[PL_REPLICATION_FACTOR_MAX];
	int n_out = 0;
	int n_in = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < rf; i++) {
			struct pl_broker b;
			bool live = pl_topology_find(t, old[i], &b) && b.alive;
			if (live == (pass == 1) && !row_has(neu, rf, old[i])) {
				out[n_out++] = old[i];
			}
		}
	}
	for (int i = 0; i < rf; i++) {
		if (!row_has(old, rf, neu[i])) {
			in[n_in++] = neu[i];
		}
	}
	SL_ASSERT(n_in == n_out);
	int n = 0;
	for (int i = 0; i < n_in; i++) {
		const enum pl_step_kind kinds[3] = {PL_STEP_ADD_LEARNER, PL_STEP_PROMOTE,
						    PL_STEP_REMOVE};
		for (int j = 0; j < 3; j++) {
			steps[n] = (struct pl_move_step){.partition = p,
							 .round = n,
							 .kind = kinds[j],
							 .broker_id = j < 2 ? in[i] : out[i]};
			n++;
		}
	}
	return n;
}

/* Builds plan->steps ordered by round, then partition. */
static int build_steps(const struct pl_topology *t, const struct pl_assignment *cur,
		       struct pl_move_plan *plan)
{
	int rf = cur->replication_factor;
	size_t cap = (size_t)cur->partitions * 3u * (size_t)rf;
	struct pl_move_step *all = sl_calloc(cap + 1, sizeof(*all));
	plan->steps = sl_calloc(cap + 1, sizeof(*plan->steps));
	if (all == NULL || plan->steps == NULL) {
		sl_free(all);
		return PL_ERR_NOMEM;
	}
	/* all holds each partition's steps in a fixed slot of 3 * rf. */
	int rounds = 0;
	for (int32_t p = 0; p < cur->partitions; p++) {
		struct pl_move_step *slot = all + (size_t)p * 3u * (size_t)rf;
		int n = partition_steps(t, cur, &plan->target, p, slot);
		for (int i = n; i < 3 * rf; i++) {
			slot[i].round = -1;
		}
		rounds = SL_MAX(rounds, n);
		plan->partitions_changed += n > 0;
	}
	int n_steps = 0;
	for (int r = 0; r < rounds; r++) {
		for (int32_t p = 0; p < cur->partitions; p++) {
			struct pl_move_step *s = &all[(size_t)p * 3u * (size_t)rf + (size_t)r];
			if (s->round == r) {
				plan->steps[n_steps++] = *s;
			}
		}
	}
	plan->n_steps = n_steps;
	sl_free(all);
	return 0;
}

int pl_plan_moves(const struct pl_move_req *req, struct pl_move_plan *out)
{
	SL_ASSERT(req != NULL && out != NULL && req->topology != NULL && req->current != NULL);
	memset(out, 0, sizeof(*out));
	char *detail = out->target.detail;
	size_t detail_len = sizeof(out->target.detail);
	const struct pl_assignment *cur = req->current;
	int rc = check_current(cur, detail, detail_len);
	if (rc != 0) {
		return rc;
	}
	struct pl__actx c;
	rc = pl__actx_init(&c, req->topology, req->preference, cur->partitions,
			   cur->replication_factor, req->load, req->n_load, req->seed, detail,
			   detail_len);
	if (rc != 0) {
		return rc;
	}
	struct pl_assignment *tgt = &out->target;
	tgt->replicas = sl_calloc((size_t)c.partitions * (size_t)c.rf, sizeof(int32_t));
	if (tgt->replicas == NULL) {
		rc = PL_ERR_NOMEM;
		goto err_after_ctx;
	}
	place_targets(&c, cur);
	pl__balance_replicas(&c);
	rc = pl__balance_leaders(&c);
	if (rc != 0) {
		goto err_after_target;
	}
	tgt->partitions = c.partitions;
	tgt->replication_factor = c.rf;
	for (int32_t p = 0; p < c.partitions; p++) {
		export_target(&c, cur, p, tgt->replicas + (size_t)p * (size_t)c.rf);
	}
	tgt->warnings = pl__warnings(&c, req->preference, detail, detail_len);
	rc = build_steps(req->topology, cur, out);
	if (rc != 0) {
		goto err_after_target;
	}
	pl__actx_free(&c);
	return 0;

err_after_target:
	sl_free(tgt->replicas);
	sl_free(out->steps);
err_after_ctx:
	pl__actx_free(&c);
	memset(out, 0, sizeof(*out));
	pl__errmsg(detail, detail_len, "out of memory");
	return rc;
}

void pl_move_plan_free(struct pl_move_plan *plan)
{
	if (plan == NULL) {
		return;
	}
	sl_free(plan->target.replicas);
	sl_free(plan->steps);
	memset(plan, 0, sizeof(*plan));
}

const char *pl_step_kind_str(enum pl_step_kind kind)
{
	switch (kind) {
	case PL_STEP_ADD_LEARNER:
		return "add-learner";
	case PL_STEP_PROMOTE:
		return "promote";
	case PL_STEP_REMOVE:
		return "remove";
	}
	return "unknown";
}
