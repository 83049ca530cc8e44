/* Private declarations shared by the placement/ source files (not for other modules). */
#ifndef PL_INTERNAL_H
#define PL_INTERNAL_H

#include <stdarg.h>

#include "common/sl_common.h"
#include "placement/placement.h"

/* A broker as stored: the public record plus its region and rack indices. */
struct pl__broker_rec {
	int32_t id;
	bool alive;
	int region; /* index into regions */
	int rack;   /* index into racks */
};

/* A rack as stored: its name and its region's index. */
struct pl__rack_rec {
	char name[PL_NAME_BYTES_MAX];
	int region;
};

struct pl_topology {
	int n_brokers;
	int n_regions;
	int n_racks;
	struct pl__broker_rec *brokers;	    /* ascending id */
	char (*regions)[PL_NAME_BYTES_MAX]; /* ascending byte order */
	struct pl__rack_rec *racks;	    /* ascending byte order of name */
};

/* Returns the index of a broker id in t->brokers, or -1. */
int pl__broker_index(const struct pl_topology *t, int32_t id);
/* Returns the index of a region or rack name, or -1. */
int pl__region_index(const struct pl_topology *t, const char *name);
int pl__rack_index(const struct pl_topology *t, const char *name);
/* Locates a client rack; sets *region and *rack to indices or -1. */
enum pl_locality_level pl__locate(const struct pl_topology *t, const char *client_rack, int *region,
				  int *rack);
/* Returns true if s is a valid region or rack name (see struct pl_broker). */
bool pl__name_valid(const char *s);

/* Returns true if a preference value is well formed (as parsing makes it). */
bool pl__pref_valid(const struct pl_preference *p);

/* Writes a formatted message into errmsg (if not NULL and len > 0). */
void pl__errmsg(char *errmsg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Preference resolved against a topology: ranks of regions and racks
 * (n_names = not preferred), and where leaders belong. */
struct pl__pref_ranks {
	int n_names;	    /* rank of an unpreferred region or rack */
	int *region_rank;   /* per region index */
	int *rack_rank;	    /* per rack index */
	int lead_region;    /* first preferred live region (regions:), else -1 */
	int lead_rack;	    /* first preferred live rack (racks:), else -1 */
	int lead_region_of; /* region where leaders belong (either kind), else -1 */
};

/* Fills ranks for pref over t; the arrays must hold n_regions and n_racks
 * ints. Under "racks:" a region ranks by its best preferred rack that has a
 * live broker. Returns the number of preferred names that have a live broker. */
int pl__pref_resolve(const struct pl_preference *pref, const struct pl_topology *t,
		     struct pl__pref_ranks *out);

/* 64-bit mixing (splitmix64 finaliser) and FNV-1a string hash. */
uint64_t pl__mix64(uint64_t x);
uint64_t pl__hash_str(uint64_t h, const char *s);

#endif /* PL_INTERNAL_H */
