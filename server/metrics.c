/* The metrics registry declared in metrics.h: metric families, series in a
 * hash table per family, atomic updates, and the Prometheus text renderer. */
#include "server/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"

const double sd_metrics_latency_seconds_buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const int sd_metrics_latency_seconds_buckets_count =
    (int)SL_ARRAY_LEN(sd_metrics_latency_seconds_buckets);

const double sd_metrics_size_bytes_buckets[] = {
    256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
};
const int sd_metrics_size_bytes_buckets_count = (int)SL_ARRAY_LEN(sd_metrics_size_bytes_buckets);

/* Buckets of the hash table a metric starts with. */
#define TABLE_INITIAL 16

struct sd_series {
	struct sd_metric *family;
	struct sd_series *hnext; /* hash chain */
	struct sd_series *prev;	 /* creation order */
	struct sd_series *next;
	uint64_t hash;
	_Atomic uint64_t ival;	   /* counter: integer part */
	_Atomic uint64_t bits;	   /* gauge value, histogram sum (double bits) */
	double fval;		   /* counter: fractional part (loop thread) */
	_Atomic uint64_t *buckets; /* histogram: n_buckets + 1 counts, not cumulative */
	char **values;		   /* n_labels label values */
};

struct sd_metric {
	struct sd_metrics *registry;
	char *name;
	char *help;
	enum sd_metric_type type;
	int n_labels;
	char *label_names[SD_METRICS_LABELS_MAX];
	int n_buckets;
	double buckets[SD_METRICS_BUCKETS_MAX];
	int series_max;
	int n_series;
	uint64_t overflow;
	sd_metric_collect_fn collect;
	void *collect_data;
	struct sd_series **table; /* table_size chains */
	size_t table_size;	  /* power of two */
	struct sd_series *head;
	struct sd_series *tail;
	struct sd_series *sink; /* the overflow series */
};

struct sd_metrics {
	int n;
	int series_cap; /* sd_metrics_set_series_max(); 0 until set */
	struct sd_metric *families[SD_METRICS_FAMILIES_MAX];
	char errmsg[256];
};

struct sd_metric_emitter {
	struct sd_metric *f;
	struct sd_buf *out;
	int emitted;
};

const char *sd_metrics_strerror(int err)
{
	if (err == 0) {
		return "success";
	}
	switch (err) {
#define SD_METRICS_ERR_MSG(name, value, text)                                                      \
	case (value):                                                                              \
		return (text);
		SD_METRICS_ERRORS(SD_METRICS_ERR_MSG)
#undef SD_METRICS_ERR_MSG
	default:
		return "unknown error";
	}
}

const char *sd_metrics_err_name(int err)
{
	if (err == 0) {
		return "0";
	}
	switch (err) {
#define SD_METRICS_ERR_NAME(name, value, text)                                                     \
	case (value):                                                                              \
		return #name;
		SD_METRICS_ERRORS(SD_METRICS_ERR_NAME)
#undef SD_METRICS_ERR_NAME
	default:
		return "SD_METRICS_UNKNOWN";
	}
}

static int fail(struct sd_metrics *m, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sd_metrics *m, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- atomics on doubles -------------------------------------------------- */

static uint64_t dbl_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double bits_dbl(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

static void atomic_add_dbl(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(p, &old, dbl_bits(bits_dbl(old) + v),
						      memory_order_relaxed, memory_order_relaxed)) {
	}
}

/* ---- names -------------------------------------------------------------- */

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Metric names allow ':' (recording rules); label names do not. */
static bool name_valid(const char *s, bool colon)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > SD_METRICS_NAME_BYTES_MAX) {
		return false;
	}
	for (const char *p = s; *p != '\0'; p++) {
		bool ok = is_alpha_(*p) || (colon && *p == ':') || (p != s && is_digit(*p));
		if (!ok) {
			return false;
		}
	}
	return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Writes the sample names of a metric (itself, plus _bucket, _sum and _count
 * for a histogram) into names and returns how many. */
static int sample_names(const char *name, enum sd_metric_type type,
			char names[4][SD_METRICS_NAME_BYTES_MAX + 16])
{
	static const char *const suffixes[] = {"", "_bucket", "_sum", "_count"};
	int n = type == SD_METRIC_HISTOGRAM ? 4 : 1;
	for (int k = 0; k < n; k++) {
		snprintf(names[k], sizeof(names[k]), "%s%s", name, suffixes[k]);
	}
	return n;
}

/* Checks that no sample name of a new metric equals one of a registered
 * metric's, or the overflow counter's. */
static int check_name_free(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	char mine[4][SD_METRICS_NAME_BYTES_MAX + 16];
	char theirs[4][SD_METRICS_NAME_BYTES_MAX + 16];
	int n_mine = sample_names(d->name, d->type, mine);
	for (int i = -1; i < m->n; i++) {
		int n_theirs =
		    i < 0 ? sample_names(SD_METRICS_OVERFLOW_NAME, SD_METRIC_COUNTER, theirs)
			  : sample_names(m->families[i]->name, m->families[i]->type, theirs);
		for (int a = 0; a < n_mine; a++) {
			for (int b = 0; b < n_theirs; b++) {
				if (strcmp(mine[a], theirs[b]) == 0) {
					return fail(m, SD_METRICS_EEXIST,
						    "metric %s: name %s is already taken", d->name,
						    mine[a]);
				}
			}
		}
	}
	return 0;
}

static int check_labels(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	if (d->n_labels < 0 || d->n_labels > SD_METRICS_LABELS_MAX ||
	    (d->n_labels > 0 && d->label_names == NULL)) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: %d labels (at most %d)", d->name,
			    d->n_labels, SD_METRICS_LABELS_MAX);
	}
	for (int i = 0; i < d->n_labels; i++) {
		const char *l = d->label_names[i];
		bool ok = name_valid(l, false) && strncmp(l, "__", 2) != 0 &&
			  !(d->type == SD_METRIC_HISTOGRAM && strcmp(l, "le") == 0);
		for (int k = 0; ok && k < i; k++) {
			ok = strcmp(l, d->label_names[k]) != 0;
		}
		if (!ok) {
			return fail(m, SD_METRICS_EINVAL,
				    "metric %s: invalid or repeated label '%s'", d->name,
				    l != NULL ? l : "(null)");
		}
	}
	return 0;
}

static int check_buckets(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	if (d->type != SD_METRIC_HISTOGRAM) {
		if (d->n_buckets != 0) {
			return fail(m, SD_METRICS_EINVAL, "metric %s: buckets on a non-histogram",
				    d->name);
		}
		return 0;
	}
	if (d->n_buckets < 1 || d->n_buckets > SD_METRICS_BUCKETS_MAX || d->buckets == NULL) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: %d buckets (1 to %d)", d->name,
			    d->n_buckets, SD_METRICS_BUCKETS_MAX);
	}
	for (int i = 0; i < d->n_buckets; i++) {
		if (!isfinite(d->buckets[i]) || (i > 0 && !(d->buckets[i] > d->buckets[i - 1]))) {
			return fail(m, SD_METRICS_EINVAL,
				    "metric %s: bucket bounds must be finite and increasing",
				    d->name);
		}
	}
	return 0;
}

static int check_desc(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	if (!name_valid(d->name, true)) {
		return fail(m, SD_METRICS_EINVAL, "invalid metric name '%s'",
			    d->name != NULL ? d->name : "(null)");
	}
	if (d->help == NULL || strlen(d->help) > SD_METRICS_HELP_BYTES_MAX) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: help missing or too long", d->name);
	}
	if (d->type != SD_METRIC_COUNTER && d->type != SD_METRIC_GAUGE &&
	    d->type != SD_METRIC_HISTOGRAM) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: unknown type", d->name);
	}
	if (d->type == SD_METRIC_COUNTER && !has_suffix(d->name, "_total")) {
		return fail(m, SD_METRICS_EINVAL, "counter %s: name must end in _total", d->name);
	}
	if (d->series_max < 0 || d->series_max > SD_METRICS_SERIES_MAX) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: series_max %d outside [0, %d]",
			    d->name, d->series_max, SD_METRICS_SERIES_MAX);
	}
	if (d->collect != NULL && d->type == SD_METRIC_HISTOGRAM) {
		return fail(m, SD_METRICS_EINVAL, "metric %s: histograms cannot be collected",
			    d->name);
	}
	int rv = check_labels(m, d);
	if (rv == 0) {
		rv = check_buckets(m, d);
	}
	return rv;
}

/* ---- series ------------------------------------------------------------- */

static uint64_t hash_values(int n, const char *const *values)
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < n; i++) {
		const char *v = values != NULL && values[i] != NULL ? values[i] : "";
		for (; *v != '\0'; v++) {
			h = (h ^ (unsigned char)*v) * 1099511628211ULL;
		}
		h = (h ^ 0xffu) * 1099511628211ULL;
	}
	return h;
}

static const char *value_at(const char *const *values, int i)
{
	return values != NULL && values[i] != NULL ? values[i] : "";
}

/* Allocates a zeroed series with room for buckets and copies of the values
 * in one block. */
static struct sd_series *series_alloc(struct sd_metric *f, const char *const *values)
{
	size_t head = (sizeof(struct sd_series) + 7) & ~(size_t)7;
	size_t nb = f->type == SD_METRIC_HISTOGRAM ? (size_t)f->n_buckets + 1 : 0;
	size_t size = head + nb * sizeof(uint64_t) + (size_t)f->n_labels * sizeof(char *);
	for (int i = 0; i < f->n_labels; i++) {
		size += strlen(value_at(values, i)) + 1;
	}
	char *block = sl_calloc(1, size);
	if (block == NULL) {
		return NULL;
	}
	struct sd_series *s = (struct sd_series *)(void *)block;
	s->family = f;
	char *p = block + head;
	if (nb > 0) {
		s->buckets = (_Atomic uint64_t *)(void *)p;
		p += nb * sizeof(uint64_t);
	}
	s->values = (char **)(void *)p;
	p += (size_t)f->n_labels * sizeof(char *);
	for (int i = 0; i < f->n_labels; i++) {
		size_t len = strlen(value_at(values, i));
		memcpy(p, value_at(values, i), len + 1);
		s->values[i] = p;
		p += len + 1;
	}
	s->hash = hash_values(f->n_labels, values);
	return s;
}

static bool series_matches(const struct sd_series *s, const char *const *values, uint64_t h)
{
	if (s->hash != h) {
		return false;
	}
	for (int i = 0; i < s->family->n_labels; i++) {
		if (strcmp(s->values[i], value_at(values, i)) != 0) {
			return false;
		}
	}
	return true;
}

/* Doubles the hash table; on allocation failure keeps the old one. */
static void table_grow(struct sd_metric *f)
{
	size_t size = f->table_size * 2;
	struct sd_series **t = sl_calloc(size, sizeof(*t));
	if (t == NULL) {
		return;
	}
	for (struct sd_series *s = f->head; s != NULL; s = s->next) {
		size_t b = s->hash & (size - 1);
		s->hnext = t[b];
		t[b] = s;
	}
	sl_free(f->table);
	f->table = t;
	f->table_size = size;
}

static bool values_fit(const struct sd_metric *f, const char *const *values)
{
	for (int i = 0; i < f->n_labels; i++) {
		if (strlen(value_at(values, i)) > SD_METRICS_LABEL_VALUE_BYTES_MAX) {
			return false;
		}
	}
	return true;
}

/* Counts a refused series; the first refusal of each metric is logged (the
 * counter tells how many followed). */
static void count_overflow(struct sd_metric *f)
{
	if (f->overflow++ == 0) {
		SL_LOG(SL_LOG_WARN,
		       "component=metrics event=metrics_series_overflow metric=%s series_max=%d "
		       "counter=" SD_METRICS_OVERFLOW_NAME,
		       f->name, f->series_max);
	}
}

struct sd_series *sd_metric_series(struct sd_metric *f, const char *const *label_values)
{
	SL_ASSERT(f != NULL && f->collect == NULL);
	SL_ASSERT(f->n_labels == 0 || label_values != NULL);
	uint64_t h = hash_values(f->n_labels, label_values);
	for (struct sd_series *s = f->table[h & (f->table_size - 1)]; s != NULL; s = s->hnext) {
		if (series_matches(s, label_values, h)) {
			return s;
		}
	}
	if (f->n_series >= f->series_max || !values_fit(f, label_values)) {
		count_overflow(f);
		return f->sink;
	}
	struct sd_series *s = series_alloc(f, label_values);
	if (s == NULL) {
		count_overflow(f);
		return f->sink;
	}
	if ((size_t)f->n_series >= f->table_size) {
		table_grow(f);
	}
	size_t b = h & (f->table_size - 1);
	s->hnext = f->table[b];
	f->table[b] = s;
	s->prev = f->tail;
	if (f->tail != NULL) {
		f->tail->next = s;
	} else {
		f->head = s;
	}
	f->tail = s;
	f->n_series++;
	return s;
}

int sd_metric_remove(struct sd_metric *f, const char *const *label_values)
{
	SL_ASSERT(f != NULL && f->collect == NULL);
	uint64_t h = hash_values(f->n_labels, label_values);
	struct sd_series **pp = &f->table[h & (f->table_size - 1)];
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		struct sd_series *s = *pp;
		if (!series_matches(s, label_values, h)) {
			continue;
		}
		*pp = s->hnext;
		if (s->prev != NULL) {
			s->prev->next = s->next;
		} else {
			f->head = s->next;
		}
		if (s->next != NULL) {
			s->next->prev = s->prev;
		} else {
			f->tail = s->prev;
		}
		f->n_series--;
		sl_free(s);
		return 0;
	}
	return SD_METRICS_ENOENT;
}

int sd_metric_series_count(const struct sd_metric *f)
{
	return f->n_series;
}

uint64_t sd_metric_overflow_count(const struct sd_metric *f)
{
	return f->overflow;
}

bool sd_series_is_overflow(const struct sd_series *s)
{
	return s == s->family->sink;
}

/* ---- registry ----------------------------------------------------------- */

int sd_metrics_new(struct sd_metrics **out)
{
	SL_ASSERT(out != NULL);
	*out = sl_calloc(1, sizeof(**out));
	return *out != NULL ? 0 : SD_METRICS_ENOMEM;
}

int sd_metrics_set_series_max(struct sd_metrics *m, int series_max)
{
	SL_ASSERT(m != NULL);
	if (series_max < 1 || series_max > SD_METRICS_SERIES_MAX) {
		return SD_METRICS_EINVAL;
	}
	m->series_cap = series_max;
	return 0;
}

static void metric_free(struct sd_metric *f)
{
	if (f == NULL) {
		return;
	}
	struct sd_series *s = f->head;
	while (s != NULL) {
		struct sd_series *next = s->next;
		sl_free(s);
		s = next;
	}
	sl_free(f->sink);
	sl_free(f->table);
	for (int i = 0; i < f->n_labels; i++) {
		sl_free(f->label_names[i]);
	}
	sl_free(f->name);
	sl_free(f->help);
	sl_free(f);
}

void sd_metrics_free(struct sd_metrics *m)
{
	if (m == NULL) {
		return;
	}
	for (int i = 0; i < m->n; i++) {
		metric_free(m->families[i]);
	}
	sl_free(m);
}

const char *sd_metrics_errmsg(const struct sd_metrics *m)
{
	return m->errmsg;
}

struct sd_metric *sd_metrics_find(const struct sd_metrics *m, const char *name)
{
	for (int i = 0; i < m->n; i++) {
		if (strcmp(m->families[i]->name, name) == 0) {
			return m->families[i];
		}
	}
	return NULL;
}

/* Builds a metric from a checked description; NULL when memory runs out. */
static struct sd_metric *metric_new(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	struct sd_metric *f = sl_calloc(1, sizeof(*f));
	if (f == NULL) {
		return NULL;
	}
	f->registry = m;
	f->type = d->type;
	if (m->series_cap == 0) {
		f->series_max = d->series_max > 0 ? d->series_max : SD_METRICS_SERIES_DEFAULT;
	} else {
		f->series_max = d->series_max > 0 ? SL_MIN(d->series_max, m->series_cap)
						  : m->series_cap;
	}
	f->collect = d->collect;
	f->collect_data = d->collect_data;
	f->n_buckets = d->type == SD_METRIC_HISTOGRAM ? d->n_buckets : 0;
	for (int i = 0; i < f->n_buckets; i++) {
		f->buckets[i] = d->buckets[i];
	}
	f->name = sl_strdup(d->name);
	f->help = sl_strdup(d->help);
	bool ok = f->name != NULL && f->help != NULL;
	for (int i = 0; ok && i < d->n_labels; i++) {
		f->label_names[i] = sl_strdup(d->label_names[i]);
		ok = f->label_names[i] != NULL;
		f->n_labels = i + 1;
	}
	if (ok) {
		f->n_labels = d->n_labels;
		f->table_size = TABLE_INITIAL;
		f->table = sl_calloc(f->table_size, sizeof(*f->table));
		f->sink = series_alloc(f, NULL);
		ok = f->table != NULL && f->sink != NULL;
	}
	if (!ok) {
		metric_free(f);
		return NULL;
	}
	return f;
}

int sd_metrics_register(struct sd_metrics *m, const struct sd_metric_desc *d,
			struct sd_metric **out)
{
	SL_ASSERT(m != NULL && d != NULL);
	m->errmsg[0] = '\0';
	if (out != NULL) {
		*out = NULL;
	}
	int rv = check_desc(m, d);
	if (rv == 0) {
		rv = check_name_free(m, d);
	}
	if (rv != 0) {
		return rv;
	}
	if (m->n == SD_METRICS_FAMILIES_MAX) {
		return fail(m, SD_METRICS_ELIMIT, "metric %s: registry holds %d metrics already",
			    d->name, SD_METRICS_FAMILIES_MAX);
	}
	struct sd_metric *f = metric_new(m, d);
	if (f == NULL) {
		return fail(m, SD_METRICS_ENOMEM, "metric %s: out of memory", d->name);
	}
	m->families[m->n++] = f;
	if (out != NULL) {
		*out = f;
	}
	return 0;
}

/* ---- updates ------------------------------------------------------------ */

void sd_counter_add(struct sd_series *s, uint64_t n)
{
	SL_ASSERT(s->family->type == SD_METRIC_COUNTER);
	atomic_fetch_add_explicit(&s->ival, n, memory_order_relaxed);
}

void sd_counter_inc(struct sd_series *s)
{
	sd_counter_add(s, 1);
}

void sd_counter_add_double(struct sd_series *s, double v)
{
	SL_ASSERT(s->family->type == SD_METRIC_COUNTER);
	if (isfinite(v) && v > 0) {
		s->fval += v;
	}
}

void sd_gauge_set(struct sd_series *s, double v)
{
	SL_ASSERT(s->family->type == SD_METRIC_GAUGE);
	atomic_store_explicit(&s->bits, dbl_bits(v), memory_order_relaxed);
}

void sd_gauge_add(struct sd_series *s, double v)
{
	SL_ASSERT(s->family->type == SD_METRIC_GAUGE);
	atomic_add_dbl(&s->bits, v);
}

void sd_histogram_observe(struct sd_series *s, double v)
{
	struct sd_metric *f = s->family;
	SL_ASSERT(f->type == SD_METRIC_HISTOGRAM);
	if (isnan(v)) {
		return;
	}
	int i = 0;
	while (i < f->n_buckets && v > f->buckets[i]) {
		i++;
	}
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_add_dbl(&s->bits, v);
}

double sd_series_value(const struct sd_series *s)
{
	if (s->family->type == SD_METRIC_COUNTER) {
		return (double)atomic_load_explicit(&s->ival, memory_order_relaxed) + s->fval;
	}
	return bits_dbl(atomic_load_explicit(&s->bits, memory_order_relaxed));
}

uint64_t sd_series_count(const struct sd_series *s)
{
	uint64_t n = 0;
	if (s->family->type == SD_METRIC_HISTOGRAM) {
		for (int i = 0; i <= s->family->n_buckets; i++) {
			n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		}
	}
	return n;
}

/* ---- rendering ---------------------------------------------------------- */

/* Formats a sample value as Prometheus expects: shortest round-trip decimal,
 * NaN, +Inf or -Inf. */
static void fmt_value(char *buf, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(buf, len, "%.15g", v);
		if (strtod(buf, NULL) != v) {
			snprintf(buf, len, "%.17g", v);
		}
	}
}

/* Appends s escaped for a HELP line (label == false) or a label value. */
static void put_escaped(struct sd_buf *b, const char *s, bool label)
{
	size_t n = strlen(s);
	size_t i = 0;
	while (i < n && b->err == 0) {
		size_t bad;
		size_t ok = sd_utf8_valid_prefix(s + i, n - i, &bad);
		size_t run = 0;
		for (size_t k = 0; k < ok; k++) {
			char c = s[i + k];
			const char *e = c == '\\'	    ? "\\\\"
					: c == '\n'	    ? "\\n"
					: label && c == '"' ? "\\\""
							    : NULL;
			if (e != NULL) {
				sd_buf_append(b, s + i + run, k - run);
				sd_buf_puts(b, e);
				run = k + 1;
			}
		}
		sd_buf_append(b, s + i + run, ok - run);
		i += ok;
		if (bad > 0) {
			sd_buf_puts(b, "\xEF\xBF\xBD");
			i += bad;
		}
	}
}

/* Appends `{a="x",b="y"` plus an optional le label and `}`; nothing when
 * there are no labels at all. */
static void put_labels(struct sd_buf *b, const struct sd_metric *f, const char *const *values,
		       const char *le)
{
	if (f->n_labels == 0 && le == NULL) {
		return;
	}
	sd_buf_append(b, "{", 1);
	for (int i = 0; i < f->n_labels; i++) {
		sd_buf_printf(b, "%s%s=\"", i > 0 ? "," : "", f->label_names[i]);
		put_escaped(b, value_at(values, i), true);
		sd_buf_append(b, "\"", 1);
	}
	if (le != NULL) {
		sd_buf_printf(b, "%sle=\"%s\"", f->n_labels > 0 ? "," : "", le);
	}
	sd_buf_append(b, "}", 1);
}

static void put_sample(struct sd_buf *b, const struct sd_metric *f, const char *suffix,
		       const char *const *values, const char *le, const char *value)
{
	sd_buf_puts(b, f->name);
	sd_buf_puts(b, suffix);
	put_labels(b, f, values, le);
	sd_buf_append(b, " ", 1);
	sd_buf_puts(b, value);
	sd_buf_append(b, "\n", 1);
}

static void put_header(struct sd_buf *b, const char *name, const char *help,
		       enum sd_metric_type type)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	sd_buf_printf(b, "# HELP %s ", name);
	put_escaped(b, help, false);
	sd_buf_printf(b, "\n# TYPE %s %s\n", name, types[type]);
}

static void render_histogram(struct sd_buf *b, const struct sd_metric *f, const struct sd_series *s)
{
	const char *const *values = (const char *const *)s->values;
	uint64_t cum = 0;
	char le[40], val[40];
	for (int i = 0; i <= f->n_buckets; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < f->n_buckets) {
			fmt_value(le, sizeof(le), f->buckets[i]);
		} else {
			snprintf(le, sizeof(le), "+Inf");
		}
		snprintf(val, sizeof(val), "%llu", (unsigned long long)cum);
		put_sample(b, f, "_bucket", values, le, val);
	}
	fmt_value(val, sizeof(val), sd_series_value(s));
	put_sample(b, f, "_sum", values, NULL, val);
	snprintf(val, sizeof(val), "%llu", (unsigned long long)cum);
	put_sample(b, f, "_count", values, NULL, val);
}

static void render_series(struct sd_buf *b, const struct sd_metric *f, const struct sd_series *s)
{
	char val[40];
	if (f->type == SD_METRIC_HISTOGRAM) {
		render_histogram(b, f, s);
		return;
	}
	if (f->type == SD_METRIC_COUNTER && s->fval == 0) {
		/* Exact even above 2^53. */
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)atomic_load_explicit(&s->ival, memory_order_relaxed));
	} else {
		fmt_value(val, sizeof(val), sd_series_value(s));
	}
	put_sample(b, f, "", (const char *const *)s->values, NULL, val);
}

void sd_metric_emit(struct sd_metric_emitter *e, const char *const *label_values, double value)
{
	SL_ASSERT(e != NULL);
	struct sd_metric *f = e->f;
	SL_ASSERT(f->n_labels == 0 || label_values != NULL);
	if (e->emitted >= f->series_max || !values_fit(f, label_values)) {
		count_overflow(f);
		return;
	}
	e->emitted++;
	char val[40];
	fmt_value(val, sizeof(val), value);
	put_sample(e->out, f, "", label_values, NULL, val);
}

static void render_overflow(struct sd_metrics *m, struct sd_buf *b)
{
	put_header(b, SD_METRICS_OVERFLOW_NAME,
		   "Series refused because a metric reached its series limit or a label value "
		   "was too long, by metric.",
		   SD_METRIC_COUNTER);
	for (int i = 0; i < m->n; i++) {
		const struct sd_metric *f = m->families[i];
		if (f->overflow > 0) {
			sd_buf_printf(b, SD_METRICS_OVERFLOW_NAME "{metric=\"%s\"} %llu\n", f->name,
				      (unsigned long long)f->overflow);
		}
	}
}

int sd_metrics_render(struct sd_metrics *m, struct sd_buf *out)
{
	SL_ASSERT(m != NULL && out != NULL);
	for (int i = 0; i < m->n && out->err == 0; i++) {
		struct sd_metric *f = m->families[i];
		put_header(out, f->name, f->help, f->type);
		if (f->collect != NULL) {
			struct sd_metric_emitter e = {f, out, 0};
			f->collect(&e, f->collect_data);
			continue;
		}
		for (const struct sd_series *s = f->head; s != NULL && out->err == 0; s = s->next) {
			render_series(out, f, s);
		}
	}
	render_overflow(m, out);
	if (out->err == SD_JSON_ETOOBIG) {
		return SD_METRICS_ETOOBIG;
	}
	return out->err != 0 ? SD_METRICS_ENOMEM : 0;
}
