/* Spread: placing one partition's voters over regions, racks and brokers, and checking rows. */
#include <limits.h>
#include <string.h>

#include "placement/assign_ctx.h"

/* Water-filling order for the next voter of a row: fewest voters of this row
 * so far, then preference rank, then (move plans) a region still holding a
 * kept voter, then least replicas per live broker, then the seeded tie. */
static bool region_before(const struct pl__actx *c, int a, int b)
{
	if (c->cnt_region[a] != c->cnt_region[b]) {
		return c->cnt_region[a] < c->cnt_region[b];
	}
	const int *rank = c->ranks.region_rank;
	if (rank[a] != rank[b]) {
		return rank[a] < rank[b];
	}
	bool sa = c->kept_region[a] > c->cnt_region[a];
	bool sb = c->kept_region[b] > c->cnt_region[b];
	if (sa != sb) {
		return sa;
	}
	int64_t la = c->region_rep[a] * c->region_cap[b];
	int64_t lb = c->region_rep[b] * c->region_cap[a];
	if (la != lb) {
		return la < lb;
	}
	la = c->region_lead[a] * c->region_cap[b];
	lb = c->region_lead[b] * c->region_cap[a];
	if (la != lb) {
		return la < lb;
	}
	if (c->region_tie[a] != c->region_tie[b]) {
		return c->region_tie[a] < c->region_tie[b];
	}
	return a < b;
}

/* The same order for racks inside one region. */
static bool rack_before(const struct pl__actx *c, int a, int b)
{
	if (c->cnt_rack[a] != c->cnt_rack[b]) {
		return c->cnt_rack[a] < c->cnt_rack[b];
	}
	const int *rank = c->ranks.rack_rank;
	if (rank[a] != rank[b]) {
		return rank[a] < rank[b];
	}
	bool sa = c->kept_rack[a] > c->cnt_rack[a];
	bool sb = c->kept_rack[b] > c->cnt_rack[b];
	if (sa != sb) {
		return sa;
	}
	int64_t la = c->rack_rep[a] * c->rack_cap[b];
	int64_t lb = c->rack_rep[b] * c->rack_cap[a];
	if (la != lb) {
		return la < lb;
	}
	la = c->rack_lead[a] * c->rack_cap[b];
	lb = c->rack_lead[b] * c->rack_cap[a];
	if (la != lb) {
		return la < lb;
	}
	if (c->rack_tie[a] != c->rack_tie[b]) {
		return c->rack_tie[a] < c->rack_tie[b];
	}
	return a < b;
}

/* Brokers inside one rack: kept ones first, then fewest replicas, then
 * fewest leaders, then the seeded tie. */
static bool broker_before(const struct pl__actx *c, int a, int b)
{
	if (c->kept[a] != c->kept[b]) {
		return c->kept[a] > c->kept[b];
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

static int pick_region(const struct pl__actx *c)
{
	int best = -1;
	for (int r = 0; r < c->nr; r++) {
		if (c->cnt_region[r] < c->region_cap[r] &&
		    (best < 0 || region_before(c, r, best))) {
			best = r;
		}
	}
	SL_ASSERT(best >= 0);
	return best;
}

static int pick_rack(const struct pl__actx *c, int region)
{
	int best = -1;
	for (int i = c->region_racks_off[region]; i < c->region_racks_off[region + 1]; i++) {
		int k = c->region_racks[i];
		if (c->cnt_rack[k] < c->rack_cap[k] && (best < 0 || rack_before(c, k, best))) {
			best = k;
		}
	}
	SL_ASSERT(best >= 0);
	return best;
}

static int pick_broker(const struct pl__actx *c, int rack)
{
	int best = -1;
	for (int i = c->rack_brokers_off[rack]; i < c->rack_brokers_off[rack + 1]; i++) {
		int b = c->rack_brokers[i];
		if (!c->in_row[b] && (best < 0 || broker_before(c, b, best))) {
			best = b;
		}
	}
	SL_ASSERT(best >= 0);
	return best;
}

void pl__place_row(struct pl__actx *c, int32_t p, const int *kept, int n_kept)
{
	int *row = pl__row(c, p);
	const struct pl__broker_rec *recs = c->t->brokers;
	for (int i = 0; i < n_kept; i++) {
		SL_ASSERT(recs[kept[i]].alive && !c->kept[kept[i]]);
		c->kept[kept[i]] = 1;
		c->kept_region[recs[kept[i]].region]++;
		c->kept_rack[recs[kept[i]].rack]++;
	}
	int regions[PL_REPLICATION_FACTOR_MAX];
	int n_regions = 0;
	for (int i = 0; i < c->rf; i++) {
		int r = pick_region(c);
		if (c->cnt_region[r]++ == 0) {
			regions[n_regions++] = r;
		}
	}
	int racks[PL_REPLICATION_FACTOR_MAX];
	int n_racks = 0;
	for (int i = 0; i < n_regions; i++) {
		for (int j = 0; j < c->cnt_region[regions[i]]; j++) {
			int k = pick_rack(c, regions[i]);
			if (c->cnt_rack[k]++ == 0) {
				racks[n_racks++] = k;
			}
		}
	}
	int pos = 0;
	for (int i = 0; i < n_racks; i++) {
		for (int j = 0; j < c->cnt_rack[racks[i]]; j++) {
			int b = pick_broker(c, racks[i]);
			c->in_row[b] = 1;
			row[pos++] = b;
		}
	}
	SL_ASSERT(pos == c->rf);
	/* Reset the scratch this row touched. */
	for (int i = 0; i < c->rf; i++) {
		c->in_row[row[i]] = 0;
		c->cnt_region[recs[row[i]].region] = 0;
		c->cnt_rack[recs[row[i]].rack] = 0;
		pl__load_add(c, row[i], +1);
	}
	for (int i = 0; i < n_kept; i++) {
		c->kept[kept[i]] = 0;
		c->kept_region[recs[kept[i]].region] = 0;
		c->kept_rack[recs[kept[i]].rack] = 0;
	}
}

/* Voter counts of one row per region and per rack. */
struct row_counts {
	int n_regions, n_racks;
	int region[PL_VOTERS_MAX], region_cnt[PL_VOTERS_MAX];
	int rack[PL_VOTERS_MAX], rack_cnt[PL_VOTERS_MAX];
};

static void count_row(const struct pl__actx *c, const int *row, struct row_counts *rc)
{
	memset(rc, 0, sizeof(*rc));
	for (int i = 0; i < c->rf; i++) {
		const struct pl__broker_rec *b = &c->t->brokers[row[i]];
		int j = 0;
		while (j < rc->n_regions && rc->region[j] != b->region) {
			j++;
		}
		rc->region[j] = b->region;
		rc->n_regions += rc->region_cnt[j]++ == 0;
		j = 0;
		while (j < rc->n_racks && rc->rack[j] != b->rack) {
			j++;
		}
		rc->rack[j] = b->rack;
		rc->n_racks += rc->rack_cnt[j]++ == 0;
	}
}

static int region_count(const struct row_counts *rc, int r)
{
	for (int j = 0; j < rc->n_regions; j++) {
		if (rc->region[j] == r) {
			return rc->region_cnt[j];
		}
	}
	return 0;
}

static int rack_count(const struct row_counts *rc, int k)
{
	for (int j = 0; j < rc->n_racks; j++) {
		if (rc->rack[j] == k) {
			return rc->rack_cnt[j];
		}
	}
	return 0;
}

/* Guarantees 2 and 4 at region level. */
static bool regions_valid(const struct pl__actx *c, const struct row_counts *rc)
{
	int max = 0;
	int min_open = rc->n_regions < c->n_live_regions ? 0 : INT_MAX;
	for (int j = 0; j < rc->n_regions; j++) {
		max = SL_MAX(max, rc->region_cnt[j]);
		if (rc->region_cnt[j] < c->region_cap[rc->region[j]]) {
			min_open = SL_MIN(min_open, rc->region_cnt[j]);
		}
	}
	if (min_open != INT_MAX && max >= min_open + 2) {
		return false;
	}
	const int *rank = c->ranks.region_rank;
	for (int i = 0; i < c->n_pref_regions; i++) {
		int r = c->pref_regions[i];
		int cr = region_count(rc, r);
		if (cr >= c->region_cap[r]) {
			continue;
		}
		for (int j = 0; j < rc->n_regions; j++) {
			if (rank[rc->region[j]] > rank[r] && rc->region_cnt[j] > cr) {
				return false;
			}
		}
	}
	return true;
}

/* Guarantees 3 and 4 at rack level, inside each region of the row. */
static bool racks_valid(const struct pl__actx *c, const struct row_counts *rc)
{
	const struct pl__rack_rec *racks = c->t->racks;
	for (int j = 0; j < rc->n_regions; j++) {
		int r = rc->region[j];
		int max = 0;
		int distinct = 0;
		int min_open = INT_MAX;
		for (int i = 0; i < rc->n_racks; i++) {
			if (racks[rc->rack[i]].region != r) {
				continue;
			}
			distinct++;
			max = SL_MAX(max, rc->rack_cnt[i]);
			if (rc->rack_cnt[i] < c->rack_cap[rc->rack[i]]) {
				min_open = SL_MIN(min_open, rc->rack_cnt[i]);
			}
		}
		if (distinct < c->region_live_racks[r]) {
			min_open = 0;
		}
		if (min_open != INT_MAX && max >= min_open + 2) {
			return false;
		}
	}
	const int *rank = c->ranks.rack_rank;
	for (int i = 0; i < c->n_pref_racks; i++) {
		int k = c->pref_racks[i];
		int nk = rack_count(rc, k);
		if (nk >= c->rack_cap[k]) {
			continue;
		}
		for (int l = 0; l < rc->n_racks; l++) {
			if (racks[rc->rack[l]].region == racks[k].region &&
			    rank[rc->rack[l]] > rank[k] && rc->rack_cnt[l] > nk) {
				return false;
			}
		}
	}
	return true;
}

bool pl__row_valid(const struct pl__actx *c, const int *row)
{
	struct row_counts rc;
	count_row(c, row, &rc);
	return regions_valid(c, &rc) && racks_valid(c, &rc);
}

/* Sets bit in *w and returns true if it was not set yet (first occurrence
 * of a warning kind gets described). */
static bool first_time(unsigned *w, unsigned bit)
{
	bool first = (*w & bit) == 0;
	*w |= bit;
	return first;
}

unsigned pl__warnings(const struct pl__actx *c, const struct pl_preference *pref, char *detail,
		      size_t detail_len)
{
	char majority[PL_ERRMSG_BYTES] = "";
	char partial[PL_ERRMSG_BYTES] = "";
	char shared[PL_ERRMSG_BYTES] = "";
	unsigned w = 0;
	if (c->ranks.n_names > 0 && c->n_usable_pref < c->ranks.n_names) {
		w |= PL_WARN_PREF_PARTIAL;
		pl_preference_check(pref, c->t, NULL, partial, sizeof(partial));
	}
	const struct pl_topology *t = c->t;
	for (int32_t p = 0; p < c->partitions; p++) {
		struct row_counts rc;
		count_row(c, c->rows + (size_t)p * (size_t)c->rf, &rc);
		for (int j = 0; j < rc.n_racks; j++) {
			int k = rc.rack[j];
			if (rc.rack_cnt[j] > 1 && first_time(&w, PL_WARN_RACK_SHARED)) {
				pl__errmsg(
				    shared, sizeof(shared),
				    "partition %d: rack %s holds %d voters (its region has %d "
				    "live racks)",
				    (int)p, t->racks[k].name, rc.rack_cnt[j],
				    c->region_live_racks[t->racks[k].region]);
			}
		}
		for (int j = 0; j < rc.n_regions && c->ranks.n_names > 0; j++) {
			if (2 * rc.region_cnt[j] > c->rf &&
			    rc.region[j] != c->ranks.lead_region_of &&
			    first_time(&w, PL_WARN_MAJORITY_ELSEWHERE)) {
				pl__errmsg(
				    majority, sizeof(majority),
				    "partition %d: region %s holds %d of %d voters but leaders "
				    "belong in %s",
				    (int)p, t->regions[rc.region[j]], rc.region_cnt[j], c->rf,
				    t->regions[c->ranks.lead_region_of]);
			}
		}
		for (int i = 0; i < c->n_pref_regions && c->ranks.lead_rack < 0; i++) {
			int r = c->pref_regions[i];
			if (region_count(&rc, r) == 0 && first_time(&w, PL_WARN_PREF_PARTIAL)) {
				pl__errmsg(partial, sizeof(partial),
					   "partition %d: preferred region %s holds none of its %d "
					   "voters",
					   (int)p, t->regions[r], c->rf);
			}
		}
		for (int i = 0; i < c->n_pref_racks; i++) {
			int k = c->pref_racks[i];
			if (rack_count(&rc, k) == 0 && first_time(&w, PL_WARN_PREF_PARTIAL)) {
				pl__errmsg(
				    partial, sizeof(partial),
				    "partition %d: preferred rack %s holds none of its %d voters",
				    (int)p, t->racks[k].name, c->rf);
			}
		}
	}
	const char *first = (w & PL_WARN_MAJORITY_ELSEWHERE) ? majority
			    : (w & PL_WARN_PREF_PARTIAL)     ? partial
							     : shared;
	pl__errmsg(detail, detail_len, "%s", first);
	return w;
}
