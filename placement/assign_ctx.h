/* Private: the working state shared by assignment, balancing and move planning. */
#ifndef PL_ASSIGN_CTX_H
#define PL_ASSIGN_CTX_H

#include "placement/internal.h"

/* Everything indexes brokers, racks and regions by their topology index. One
 * arena allocation holds every array, so one failure point and one free. */
struct pl__actx {
	const struct pl_topology *t;
	int rf;
	int32_t partitions;
	uint64_t seed;
	bool exchanges;		 /* may swap voters between rows to balance leaders */
	int64_t exchange_budget; /* exchange candidates left to examine */
	int nb, nr, nk;
	struct pl__pref_ranks ranks;
	int n_usable_pref;  /* preferred names with a live broker */
	int n_pref_regions; /* preferred regions with a live broker, by rank */
	int pref_regions[PL_PREF_NAMES_MAX];
	int n_pref_racks; /* preferred racks with a live broker, by rank */
	int pref_racks[PL_PREF_NAMES_MAX];
	int n_live_regions;	/* regions with a live broker */
	int n_live;		/* live brokers */
	int *region_cap;	/* live brokers per region */
	int *rack_cap;		/* live brokers per rack */
	int *region_live_racks; /* racks with a live broker, per region */
	int *region_racks_off;	/* CSR: racks of region r are */
	int *region_racks;	/* region_racks[off[r] .. off[r+1]) */
	int *rack_brokers_off;	/* CSR: live brokers of rack k are */
	int *rack_brokers;	/* rack_brokers[off[k] .. off[k+1]) */
	int64_t *b_rep;		/* replicas per broker: existing load + placed */
	int64_t *b_lead;	/* leaders per broker: existing load + placed */
	int64_t *region_rep;	/* replicas on the live brokers of a region */
	int64_t *rack_rep;	/* replicas on the live brokers of a rack */
	int64_t *region_lead;	/* leaders on the live brokers of a region */
	int64_t *rack_lead;	/* leaders on the live brokers of a rack */
	uint64_t *b_tie;	/* seeded tie-breakers */
	uint64_t *region_tie;
	uint64_t *rack_tie;
	int *rows;   /* partitions * rf broker indices */
	int *leader; /* per partition: broker index of the preferred leader */
	/* Scratch for placing one row. */
	int *cnt_region;
	int *cnt_rack;
	int *kept_region;
	int *kept_rack;
	unsigned char *in_row;
	unsigned char *kept;
	void *arena;
};

/* Validates the common inputs and builds the context (rows unset, loads from
 * load[]). On error writes detail and returns a PL_ERR_* code. */
int pl__actx_init(struct pl__actx *c, const struct pl_topology *t, const struct pl_preference *pref,
		  int32_t partitions, int rf, const struct pl_broker_load *load, int n_load,
		  uint64_t seed, char *detail, size_t detail_len);
void pl__actx_free(struct pl__actx *c);

/* Returns row p. */
static inline int *pl__row(struct pl__actx *c, int32_t p)
{
	return c->rows + (size_t)p * (size_t)c->rf;
}

/* Returns row p, read-only. */
static inline const int *pl__crow(const struct pl__actx *c, int32_t p)
{
	return c->rows + (size_t)p * (size_t)c->rf;
}

/* Adds delta replicas of broker b to every replica counter. */
void pl__load_add(struct pl__actx *c, int b, int delta);
/* Adds delta leaders of broker b to every leader counter. */
void pl__lead_add(struct pl__actx *c, int b, int delta);

/* Places row p: keeps the live brokers in kept[0..n_kept) where the spread
 * allows, fills the rest greedily, and adds the row to the loads. */
void pl__place_row(struct pl__actx *c, int32_t p, const int *kept, int n_kept);

/* True if a row of distinct live brokers meets the region, rack and
 * preference spread guarantees of pl_assign(). */
bool pl__row_valid(const struct pl__actx *c, const int *row);

/* True if broker b may be the preferred leader under the preference. */
bool pl__leader_eligible(const struct pl__actx *c, int b);

/* Returns the eligible voter of row p with the fewest leaders. */
int pl__leader_greedy(const struct pl__actx *c, int32_t p);

/* Moves single replicas from brokers to brokers with two fewer while every
 * row stays valid, until no such move exists. Keeps c->leader consistent.
 * Returns true if it moved any. */
bool pl__balance_replicas(struct pl__actx *c);

/* Improves c->leader until no chain of leadership moves (and, if
 * c->exchanges, no exchange of two same-rack voters between two rows) takes
 * a leader from a broker to one with two fewer; re-balances replicas after
 * exchanges. Returns 0 or PL_ERR_NOMEM. */
int pl__balance_leaders(struct pl__actx *c);

/* Computes warning bits over every row and describes the first in detail. */
unsigned pl__warnings(const struct pl__actx *c, const struct pl_preference *pref, char *detail,
		      size_t detail_len);

#endif /* PL_ASSIGN_CTX_H */
