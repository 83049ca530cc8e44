/* Preferred-leader balance: an optimal choice of each partition's first replica, with exchanges. */
#include <string.h>

#include "placement/assign_ctx.h"

/* Scratch of the search. The BFS runs over brokers; an edge x -> w means "x
 * leads partition p and w is an eligible voter of p", so moving leadership
 * along a path changes only the two ends' counts. members lists, per broker,
 * the partitions it is a voter of (for exchanges). */
struct search {
	int *queue, *par_b, *par_p, *seen;
	int *led_off, *led;	  /* CSR: partitions led by each broker */
	int *member_off, *member; /* CSR: partitions each broker is a voter of */
	int stamp;
};

static void index_partitions(const struct pl__actx *c, struct search *s)
{
	size_t nb1 = (size_t)c->nb + 1;
	memset(s->led_off, 0, nb1 * sizeof(int));
	memset(s->member_off, 0, nb1 * sizeof(int));
	for (int32_t p = 0; p < c->partitions; p++) {
		s->led_off[c->leader[p] + 1]++;
		for (int i = 0; i < c->rf; i++) {
			s->member_off[pl__crow(c, p)[i] + 1]++;
		}
	}
	for (int b = 0; b < c->nb; b++) {
		s->led_off[b + 1] += s->led_off[b];
		s->member_off[b + 1] += s->member_off[b];
	}
	/* queue and par_b serve as fill counters here. */
	memset(s->queue, 0, (size_t)c->nb * sizeof(int));
	memset(s->par_b, 0, (size_t)c->nb * sizeof(int));
	for (int32_t p = 0; p < c->partitions; p++) {
		int l = c->leader[p];
		s->led[s->led_off[l] + s->queue[l]++] = p;
		for (int i = 0; i < c->rf; i++) {
			int b = pl__crow(c, p)[i];
			s->member[s->member_off[b] + s->par_b[b]++] = p;
		}
	}
}

static bool row_has(const int *row, int rf, int b)
{
	for (int i = 0; i < rf; i++) {
		if (row[i] == b) {
			return true;
		}
	}
	return false;
}

/* Moves leadership along the BFS path from u to x: each partition on it
 * goes to the next broker, so u loses one and x keeps its count. */
static void shift_path(struct pl__actx *c, const struct search *s, int u, int x)
{
	for (int z = x; z != u; z = s->par_b[z]) {
		c->leader[s->par_p[z]] = z;
	}
}

/* BFS from u. Returns true after applying a path to a broker with at least
 * two fewer leaders; otherwise leaves the reached brokers in queue[0, *n). */
static bool augment(struct pl__actx *c, struct search *s, int u, int *n)
{
	int head = 0;
	int tail = 0;
	s->stamp++;
	s->queue[tail++] = u;
	s->seen[u] = s->stamp;
	while (head < tail) {
		int x = s->queue[head++];
		for (int j = s->led_off[x]; j < s->led_off[x + 1]; j++) {
			const int *row = pl__row(c, s->led[j]);
			for (int i = 0; i < c->rf; i++) {
				int w = row[i];
				if (s->seen[w] == s->stamp || !pl__leader_eligible(c, w)) {
					continue;
				}
				s->seen[w] = s->stamp;
				s->par_b[w] = x;
				s->par_p[w] = s->led[j];
				if (c->b_lead[w] + 2 <= c->b_lead[u]) {
					shift_path(c, s, u, w);
					pl__lead_add(c, u, -1);
					pl__lead_add(c, w, +1);
					return true;
				}
				s->queue[tail++] = w;
			}
		}
	}
	*n = tail;
	return false;
}

/* Replaces voter `from` by `to` in row (which holds from, not to). */
static void replace(int *row, int rf, int from, int to)
{
	for (int k = 0; k < rf; k++) {
		row[k] = row[k] == from ? to : row[k];
	}
}

/* Finds a partition q holding w but not y and not led by w such that rows
 * p and q stay valid when y and w trade places; returns -1 if none. */
static int exchange_partner(struct pl__actx *c, const struct search *s, int32_t p, int w, int y)
{
	bool same_rack = c->t->brokers[w].rack == c->t->brokers[y].rack;
	int *prow = pl__row(c, p);
	if (!same_rack) {
		replace(prow, c->rf, y, w);
		bool ok = pl__row_valid(c, prow);
		replace(prow, c->rf, w, y);
		if (!ok) {
			return -1;
		}
	}
	for (int j = s->member_off[w]; j < s->member_off[w + 1]; j++) {
		int32_t q = s->member[j];
		int *qrow = pl__row(c, q);
		if (c->leader[q] == w || row_has(qrow, c->rf, y)) {
			continue;
		}
		if (same_rack) {
			return q;
		}
		replace(qrow, c->rf, w, y);
		bool ok = pl__row_valid(c, qrow);
		replace(qrow, c->rf, y, w);
		if (ok) {
			return q;
		}
	}
	return -1;
}

/* Tries to end a path at a low broker w through an exchange: w takes the
 * place of a voter y in a partition p led by a reached broker x, and y takes
 * w's place in another partition q, both rows staying valid. Replica counts
 * are unchanged; w then leads p. */
static bool exchange(struct pl__actx *c, struct search *s, int u, int n_reached)
{
	const struct pl__broker_rec *recs = c->t->brokers;
	for (int w = 0; w < c->nb; w++) {
		if (!recs[w].alive || !pl__leader_eligible(c, w) ||
		    c->b_lead[w] + 2 > c->b_lead[u]) {
			continue;
		}
		for (int r = 0; r < n_reached; r++) {
			int x = s->queue[r];
			for (int j = s->led_off[x]; j < s->led_off[x + 1]; j++) {
				int32_t p = s->led[j];
				int *row = pl__row(c, p);
				if (c->leader[p] != x || row_has(row, c->rf, w)) {
					continue;
				}
				for (int i = 0; i < c->rf && c->exchange_budget > 0; i++) {
					int y = row[i];
					c->exchange_budget--;
					int32_t q = exchange_partner(c, s, p, w, y);
					if (q < 0) {
						continue;
					}
					replace(pl__row(c, q), c->rf, w, y);
					row[i] = w;
					shift_path(c, s, u, x);
					c->leader[p] = w;
					pl__lead_add(c, u, -1);
					pl__lead_add(c, w, +1);
					return true;
				}
			}
		}
	}
	return false;
}

/* One improvement from any broker with at least two more leaders than the
 * least-led eligible broker. Returns true if it made one. */
static bool improve_once(struct pl__actx *c, struct search *s, bool exchanges)
{
	int64_t floor = INT64_MAX;
	for (int b = 0; b < c->nb; b++) {
		if (c->t->brokers[b].alive && pl__leader_eligible(c, b)) {
			floor = SL_MIN(floor, c->b_lead[b]);
		}
	}
	index_partitions(c, s);
	for (int u = 0; u < c->nb; u++) {
		int n = 0;
		if (c->b_lead[u] < floor + 2) {
			continue;
		}
		if (augment(c, s, u, &n) ||
		    (exchanges && c->exchange_budget > 0 && exchange(c, s, u, n))) {
			return true;
		}
	}
	return false;
}

int pl__balance_leaders(struct pl__actx *c)
{
	size_t nb = (size_t)c->nb;
	size_t cells = (size_t)c->partitions * (size_t)c->rf;
	int *buf = sl_calloc(6 * nb + 2 + (size_t)c->partitions + cells, sizeof(int));
	if (buf == NULL) {
		return PL_ERR_NOMEM;
	}
	struct search s = {.queue = buf,
			   .par_b = buf + nb,
			   .par_p = buf + 2 * nb,
			   .seen = buf + 3 * nb,
			   .led_off = buf + 4 * nb,
			   .member_off = buf + 5 * nb + 1,
			   .led = buf + 6 * nb + 2,
			   .member = buf + 6 * nb + 2 + c->partitions,
			   .stamp = 0};
	/* Augmenting paths and exchanges lower the sum of squared leader counts
	 * and keep replica counts; replica moves lower the sum of squared
	 * replica counts. The pair falls lexicographically, so this ends. */
	for (;;) {
		while (improve_once(c, &s, c->exchanges)) {
		}
		if (!c->exchanges || !pl__balance_replicas(c)) {
			break;
		}
	}
	sl_free(buf);
	return 0;
}
