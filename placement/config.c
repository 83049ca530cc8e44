/* Configuration: the one table of placement tunables (name, bounds, default, unit, description). */
#include <string.h>

#include "placement/internal.h"

#define DAY_MS (24LL * 3600 * 1000)

/* The table; offsets[] below says which field each key sets. */
static const struct pl_config_key keys[] = {
    {"leaders.transfer.lag.max.entries", 0, INT64_MAX / 2, 1000, "entries",
     "A voter counts as caught up for leadership transfer when it is at most this many "
     "entries behind the leader's last index."},
    {"leaders.transfer.contact.age.max.ms", 1, DAY_MS, 2000, "ms",
     "A voter counts as reachable when the leader heard from it within this time."},
    {"leaders.transfer.healthy.min.ms", 0, DAY_MS, 10000, "ms",
     "A voter receives leadership only after being alive, reachable and caught up "
     "continuously for this long."},
    {"leaders.transfer.cool.down.ms", 0, DAY_MS, 30000, "ms",
     "No leadership transfer starts within this time after the last leadership change."},
    {"leaders.election.timeout.step.ms", 0, DAY_MS, 500, "ms",
     "Election timeout added per preference rank, counting only the places that still have a "
     "live voter of the partition, so that the best live place stands for election first."},
};

static const size_t offsets[] = {
    offsetof(struct pl_config, transfer_lag_max_entries),
    offsetof(struct pl_config, transfer_contact_age_max_ms),
    offsetof(struct pl_config, transfer_healthy_min_ms),
    offsetof(struct pl_config, transfer_cool_down_ms),
    offsetof(struct pl_config, election_timeout_step_ms),
};

_Static_assert(SL_ARRAY_LEN(keys) == SL_ARRAY_LEN(offsets), "one offset per key");
_Static_assert(SL_ARRAY_LEN(keys) * sizeof(int64_t) == sizeof(struct pl_config),
	       "every pl_config field has a key");

static int64_t get_field(const struct pl_config *cfg, size_t i)
{
	int64_t v;
	memcpy(&v, (const char *)cfg + offsets[i], sizeof(v));
	return v;
}

static void set_field(struct pl_config *cfg, size_t i, int64_t v)
{
	memcpy((char *)cfg + offsets[i], &v, sizeof(v));
}

const struct pl_config_key *pl_config_keys(size_t *n)
{
	SL_ASSERT(n != NULL);
	*n = SL_ARRAY_LEN(keys);
	return keys;
}

void pl_config_init(struct pl_config *cfg)
{
	SL_ASSERT(cfg != NULL);
	for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
		set_field(cfg, i, keys[i].default_value);
	}
}

/* Parses a whole decimal int64: optional '-', then digits only (no blanks,
 * no suffix). Locale-independent, unlike strtoll(). */
static bool parse_i64(const char *s, int64_t *out)
{
	if (s == NULL) {
		return false;
	}
	bool neg = s[0] == '-';
	const char *p = neg ? s + 1 : s;
	if (*p == '\0') {
		return false;
	}
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			return false;
		}
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (limit - d) / 10) {
			return false;
		}
		v = v * 10 + d;
	}
	*out = neg && v > 0 ? -(int64_t)(v - 1) - 1 : (int64_t)v;
	return true;
}

int pl_config_set(struct pl_config *cfg, const char *name, const char *value, char *errmsg,
		  size_t errmsg_len)
{
	SL_ASSERT(cfg != NULL);
	pl__errmsg(errmsg, errmsg_len, "%s", "");
	for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
		if (name == NULL || strcmp(keys[i].name, name) != 0) {
			continue;
		}
		int64_t v;
		if (!parse_i64(value, &v) || v < keys[i].min || v > keys[i].max) {
			pl__errmsg(errmsg, errmsg_len,
				   "%s: '%s' is not an integer in [%lld, %lld] %s", keys[i].name,
				   value != NULL ? value : "(null)", (long long)keys[i].min,
				   (long long)keys[i].max, keys[i].unit);
			return PL_ERR_CONFIG;
		}
		set_field(cfg, i, v);
		return 0;
	}
	pl__errmsg(errmsg, errmsg_len, "unknown placement key '%s'",
		   name != NULL ? name : "(null)");
	return PL_ERR_CONFIG;
}

int pl_config_validate(const struct pl_config *cfg, char *errmsg, size_t errmsg_len)
{
	SL_ASSERT(cfg != NULL);
	pl__errmsg(errmsg, errmsg_len, "%s", "");
	for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
		int64_t v = get_field(cfg, i);
		if (v < keys[i].min || v > keys[i].max) {
			pl__errmsg(errmsg, errmsg_len, "%s: %lld is outside [%lld, %lld] %s",
				   keys[i].name, (long long)v, (long long)keys[i].min,
				   (long long)keys[i].max, keys[i].unit);
			return PL_ERR_CONFIG;
		}
	}
	return 0;
}
