/* Topology: brokers grouped into racks and regions, and client-rack matching. */
#include <stdlib.h>
#include <string.h>

#include "placement/internal.h"

/* ASCII classes, independent of the C locale (which is global state). */
static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool pl__name_valid(const char *s)
{
	if (s == NULL || s[0] == '\0') {
		return false;
	}
	size_t n = 0;
	for (const char *p = s; *p != '\0'; p++, n++) {
		unsigned char c = (unsigned char)*p;
		if (n + 1 >= PL_NAME_BYTES_MAX) {
			return false;
		}
		if (!is_digit(c) && !is_alpha(c) && c != '.' && c != '_' && c != '-' && c != '/') {
			return false;
		}
	}
	return true;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int cmp_broker_id(const void *a, const void *b)
{
	const struct pl_broker *x = a;
	const struct pl_broker *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Sorts names (PL_NAME_BYTES_MAX each) and removes duplicates; returns the
 * count left. */
static int sort_unique(char (*names)[PL_NAME_BYTES_MAX], int n)
{
	if (n == 0) {
		return 0;
	}
	qsort(names, (size_t)n, PL_NAME_BYTES_MAX, cmp_name);
	int k = 1;
	for (int i = 1; i < n; i++) {
		if (strcmp(names[i], names[k - 1]) != 0) {
			memmove(names[k], names[i], PL_NAME_BYTES_MAX);
			k++;
		}
	}
	return k;
}

static int find_name(char (*names)[PL_NAME_BYTES_MAX], int n, const char *name)
{
	int lo = 0;
	int hi = n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(names[mid], name);
		if (c == 0) {
			return mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return -1;
}

/* Checks ids and names of the (id-sorted) input. */
static int validate_brokers(const struct pl_broker *sorted, int n, char *errmsg, size_t len)
{
	for (int i = 0; i < n; i++) {
		const struct pl_broker *b = &sorted[i];
		if (b->id < 0 || b->region == NULL || b->rack == NULL) {
			pl__errmsg(errmsg, len, "broker %d: negative id or missing region/rack",
				   (int)b->id);
			return PL_ERR_INVAL;
		}
		if (!pl__name_valid(b->region) || !pl__name_valid(b->rack)) {
			pl__errmsg(errmsg, len,
				   "broker %d: region and rack must be 1-%d characters of "
				   "[A-Za-z0-9._/-]",
				   (int)b->id, PL_NAME_BYTES_MAX - 1);
			return PL_ERR_NAME;
		}
		if (i > 0 && sorted[i - 1].id == b->id) {
			pl__errmsg(errmsg, len, "broker %d: listed twice", (int)b->id);
			return PL_ERR_DUP_BROKER;
		}
	}
	return 0;
}

/* Builds the region and rack tables and links brokers to them. */
static int index_names(struct pl_topology *t, const struct pl_broker *sorted, char *errmsg,
		       size_t len)
{
	int n = t->n_brokers;
	char(*rack_names)[PL_NAME_BYTES_MAX] = sl_calloc((size_t)n + 1, PL_NAME_BYTES_MAX);
	if (rack_names == NULL) {
		return PL_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		strcpy(t->regions[i], sorted[i].region);
		strcpy(rack_names[i], sorted[i].rack);
	}
	t->n_regions = sort_unique(t->regions, n);
	t->n_racks = sort_unique(rack_names, n);
	for (int k = 0; k < t->n_racks; k++) {
		memcpy(t->racks[k].name, rack_names[k], PL_NAME_BYTES_MAX);
		t->racks[k].region = -1;
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		struct pl__broker_rec *b = &t->brokers[i];
		b->id = sorted[i].id;
		b->alive = sorted[i].alive;
		b->region = find_name(t->regions, t->n_regions, sorted[i].region);
		b->rack = find_name(rack_names, t->n_racks, sorted[i].rack);
		SL_ASSERT(b->region >= 0 && b->rack >= 0);
		struct pl__rack_rec *k = &t->racks[b->rack];
		if (k->region >= 0 && k->region != b->region) {
			pl__errmsg(errmsg, len, "broker %d: rack %s is also in region %s, not %s",
				   (int)b->id, k->name, t->regions[k->region],
				   t->regions[b->region]);
			rc = PL_ERR_RACK_REGION;
		}
		k->region = b->region;
	}
	sl_free(rack_names);
	return rc;
}

int pl_topology_new(const struct pl_broker *brokers, int n, struct pl_topology **out, char *errmsg,
		    size_t errmsg_len)
{
	SL_ASSERT(out != NULL);
	*out = NULL;
	pl__errmsg(errmsg, errmsg_len, "%s", "");
	if (n < 0 || (n > 0 && brokers == NULL)) {
		pl__errmsg(errmsg, errmsg_len, "broker count %d is invalid", n);
		return PL_ERR_INVAL;
	}
	if (n > PL_BROKERS_MAX) {
		pl__errmsg(errmsg, errmsg_len, "%d brokers exceed PL_BROKERS_MAX (%d)", n,
			   PL_BROKERS_MAX);
		return PL_ERR_LIMIT;
	}
	int rc = PL_ERR_NOMEM;
	struct pl_topology *t = NULL;
	struct pl_broker *sorted = sl_calloc((size_t)n + 1, sizeof(*sorted));
	if (sorted == NULL) {
		goto err;
	}
	if (n > 0) {
		memcpy(sorted, brokers, (size_t)n * sizeof(*sorted));
		qsort(sorted, (size_t)n, sizeof(*sorted), cmp_broker_id);
	}
	rc = validate_brokers(sorted, n, errmsg, errmsg_len);
	if (rc != 0) {
		goto err_after_sorted;
	}
	rc = PL_ERR_NOMEM;
	t = sl_calloc(1, sizeof(*t));
	if (t == NULL) {
		goto err_after_sorted;
	}
	t->n_brokers = n;
	t->brokers = sl_calloc((size_t)n + 1, sizeof(*t->brokers));
	t->regions = sl_calloc((size_t)n + 1, sizeof(*t->regions));
	t->racks = sl_calloc((size_t)n + 1, sizeof(*t->racks));
	if (t->brokers == NULL || t->regions == NULL || t->racks == NULL) {
		goto err_after_topology;
	}
	rc = index_names(t, sorted, errmsg, errmsg_len);
	if (rc != 0) {
		goto err_after_topology;
	}
	sl_free(sorted);
	*out = t;
	return 0;

err_after_topology:
	pl_topology_free(t);
err_after_sorted:
	sl_free(sorted);
err:
	if (rc == PL_ERR_NOMEM) {
		pl__errmsg(errmsg, errmsg_len, "out of memory building a %d-broker topology", n);
	}
	return rc;
}

void pl_topology_free(struct pl_topology *t)
{
	if (t == NULL) {
		return;
	}
	sl_free(t->brokers);
	sl_free(t->regions);
	sl_free(t->racks);
	sl_free(t);
}

int pl__broker_index(const struct pl_topology *t, int32_t id)
{
	int lo = 0;
	int hi = t->n_brokers - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int32_t m = t->brokers[mid].id;
		if (m == id) {
			return mid;
		}
		if (m < id) {
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return -1;
}

int pl__region_index(const struct pl_topology *t, const char *name)
{
	return name == NULL ? -1 : find_name(t->regions, t->n_regions, name);
}

int pl__rack_index(const struct pl_topology *t, const char *name)
{
	if (name == NULL) {
		return -1;
	}
	int lo = 0;
	int hi = t->n_racks - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(t->racks[mid].name, name);
		if (c == 0) {
			return mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return -1;
}

int pl_topology_set_alive(struct pl_topology *t, int32_t broker_id, bool alive)
{
	SL_ASSERT(t != NULL);
	int i = pl__broker_index(t, broker_id);
	if (i < 0) {
		return PL_ERR_UNKNOWN_BROKER;
	}
	t->brokers[i].alive = alive;
	return 0;
}

int pl_topology_broker_count(const struct pl_topology *t)
{
	return t->n_brokers;
}

int pl_topology_region_count(const struct pl_topology *t)
{
	return t->n_regions;
}

int pl_topology_rack_count(const struct pl_topology *t)
{
	return t->n_racks;
}

void pl_topology_broker_at(const struct pl_topology *t, int i, struct pl_broker *out)
{
	SL_ASSERT(i >= 0 && i < t->n_brokers);
	const struct pl__broker_rec *b = &t->brokers[i];
	out->id = b->id;
	out->alive = b->alive;
	out->region = t->regions[b->region];
	out->rack = t->racks[b->rack].name;
}

bool pl_topology_find(const struct pl_topology *t, int32_t broker_id, struct pl_broker *out)
{
	int i = pl__broker_index(t, broker_id);
	if (i < 0) {
		return false;
	}
	pl_topology_broker_at(t, i, out);
	return true;
}

const char *pl_topology_region_name(const struct pl_topology *t, int i)
{
	SL_ASSERT(i >= 0 && i < t->n_regions);
	return t->regions[i];
}

const char *pl_topology_rack_name(const struct pl_topology *t, int i)
{
	SL_ASSERT(i >= 0 && i < t->n_racks);
	return t->racks[i].name;
}

/* True if region name r is a proper prefix of s ending on a token boundary
 * (see pl_topology_locate()). */
static bool region_prefix_of(const char *r, const char *s)
{
	size_t n = strlen(r);
	if (n == 0 || strncmp(r, s, n) != 0 || s[n] == '\0') {
		return false;
	}
	unsigned char last = (unsigned char)r[n - 1];
	unsigned char next = (unsigned char)s[n];
	if (is_digit(last) && is_digit(next)) {
		return false;
	}
	if (is_alpha(last) && is_alpha(next)) {
		return false;
	}
	return true;
}

enum pl_locality_level pl__locate(const struct pl_topology *t, const char *client_rack, int *region,
				  int *rack)
{
	*region = -1;
	*rack = -1;
	if (client_rack == NULL || client_rack[0] == '\0') {
		return PL_LOCALITY_NONE;
	}
	int k = pl__rack_index(t, client_rack);
	if (k >= 0) {
		*rack = k;
		*region = t->racks[k].region;
		return PL_LOCALITY_RACK;
	}
	int r = pl__region_index(t, client_rack);
	if (r < 0) {
		size_t best_len = 0;
		for (int i = 0; i < t->n_regions; i++) {
			size_t len = strlen(t->regions[i]);
			if (len > best_len && region_prefix_of(t->regions[i], client_rack)) {
				best_len = len;
				r = i;
			}
		}
	}
	if (r < 0) {
		return PL_LOCALITY_NONE;
	}
	*region = r;
	return PL_LOCALITY_REGION;
}

void pl_topology_locate(const struct pl_topology *t, const char *client_rack,
			struct pl_locality *out)
{
	SL_ASSERT(t != NULL && out != NULL);
	int region;
	int rack;
	out->level = pl__locate(t, client_rack, &region, &rack);
	out->region = region >= 0 ? t->regions[region] : NULL;
	out->rack = rack >= 0 ? t->racks[rack].name : NULL;
}
