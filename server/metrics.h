/* Metrics registry of stretchlogd: counters, gauges and histograms with label
 * sets, rendered in the Prometheus text exposition format 0.0.4 for the admin
 * endpoint GET /metrics.
 *
 * MODEL. A *metric* (a Prometheus metric family) has a name, a help text, a
 * type and a fixed list of label names. Each distinct list of label values
 * is a *series* with its own value. sd_metric_series() finds or creates the
 * series for some label values and returns a handle that stays valid until
 * the series is removed or the registry freed; hold it instead of looking it
 * up on every update. A metric may instead have a collect callback, which
 * emits its series at scrape time (gauges or counters read from other
 * modules' statistics); such a metric stores nothing.
 *
 * BOUNDS. Every metric holds at most series_max series (label values can
 * come from clients: client_rack, topic names): its description's
 * (SD_METRICS_SERIES_DEFAULT when left at 0). Once the registry has a limit
 * (sd_metrics_set_series_max(), the broker's metrics.series.per.metric.max),
 * metrics registered afterwards get at most that limit, and a description
 * that leaves series_max at 0 gets exactly it. Past that, and for label
 * values longer than SD_METRICS_LABEL_VALUE_BYTES_MAX or when memory runs
 * out, sd_metric_series() returns the metric's *overflow series*: updates to
 * it are accepted and never rendered, and each refused series is counted in
 * the rendered counter SD_METRICS_OVERFLOW_NAME{metric="<name>"}, and the
 * first refusal of each metric logs one line (event=metrics_series_overflow).
 * Callers
 * therefore never check for NULL. Collect callbacks are bounded the same
 * way. Names, label counts, bucket counts and the metric count have named
 * maxima below.
 *
 * THREADS. The registry belongs to the loop thread: registering, looking up
 * or removing series and rendering happen there. Updating a series through
 * sd_counter_add(), sd_gauge_set(), sd_gauge_add() and
 * sd_histogram_observe() is safe from any thread (relaxed atomics, e.g. the
 * disk-writer thread counting fsyncs), as long as the series outlives the
 * update. sd_counter_add_double() is loop-thread only.
 *
 * OUTPUT. Metrics render in registration order, series in creation order,
 * each metric as "# HELP", "# TYPE", then its samples; histograms as
 * cumulative name_bucket{le="..."} lines ending with le="+Inf", then
 * name_sum and name_count. Help text escapes backslash and newline; label
 * values escape backslash, double quote and newline, and bytes that are not
 * valid UTF-8 become U+FFFD. By Prometheus convention counter names must end
 * in "_total" and values use base units (seconds, bytes); registration
 * enforces the suffix, the names are checked by `promtool check metrics` in
 * tests/suites/promtool.sh. */
#ifndef SD_SERVER_METRICS_H
#define SD_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/json.h"

/* Metrics in one registry. */
#define SD_METRICS_FAMILIES_MAX 1024
/* Label names per metric. */
#define SD_METRICS_LABELS_MAX 8
/* Finite bucket boundaries per histogram (+Inf is implied). */
#define SD_METRICS_BUCKETS_MAX 32
/* Series per metric when the description leaves series_max at 0. */
#define SD_METRICS_SERIES_DEFAULT 1000
/* Largest series_max a metric may ask for. */
#define SD_METRICS_SERIES_MAX 100000
/* Bytes of a metric or label name, NUL excluded. */
#define SD_METRICS_NAME_BYTES_MAX 128
/* Bytes of a help text, NUL excluded. */
#define SD_METRICS_HELP_BYTES_MAX 1024
/* Bytes of one label value, NUL excluded; longer values go to overflow. */
#define SD_METRICS_LABEL_VALUE_BYTES_MAX 256
/* Bytes of one rendered scrape. */
#define SD_METRICS_RENDER_BYTES_MAX (64u << 20)
/* Name of the counter of refused series, labelled by metric. */
#define SD_METRICS_OVERFLOW_NAME "stretchlog_metrics_series_overflow_total"

/* Error codes, negative, from -300 down. The X-macro feeds the enum,
 * sd_metrics_strerror() and sd_metrics_err_name(). */
#define SD_METRICS_ERRORS(X)                                                                       \
	X(SD_METRICS_EINVAL, -300, "invalid metric name, label, help text or buckets")             \
	X(SD_METRICS_EEXIST, -301, "a metric with a clashing name is registered")                  \
	X(SD_METRICS_ELIMIT, -302, "too many metrics")                                             \
	X(SD_METRICS_ENOMEM, -303, "out of memory")                                                \
	X(SD_METRICS_ENOENT, -304, "no such series")                                               \
	X(SD_METRICS_ETOOBIG, -305, "rendered metrics exceed the output limit")

enum sd_metrics_error {
#define SD_METRICS_ERR_ENUM(name, value, text) name = (value),
	SD_METRICS_ERRORS(SD_METRICS_ERR_ENUM)
#undef SD_METRICS_ERR_ENUM
};

/* Returns a static description of an SD_METRICS_* code ("success" for 0,
 * "unknown error" otherwise). Never returns NULL. */
const char *sd_metrics_strerror(int err);

/* Returns the static symbolic name of an SD_METRICS_* code, "0" for success,
 * or "SD_METRICS_UNKNOWN". Never returns NULL. */
const char *sd_metrics_err_name(int err);

/* Metric types. */
enum sd_metric_type {
	SD_METRIC_COUNTER = 0,
	SD_METRIC_GAUGE,
	SD_METRIC_HISTOGRAM,
};

struct sd_metrics;	  /* a registry; opaque */
struct sd_metric;	  /* one metric family; opaque, owned by its registry */
struct sd_series;	  /* one series; opaque, owned by its metric */
struct sd_metric_emitter; /* passed to collect callbacks; opaque */

/* Emits the series of a callback metric at scrape time: call
 * sd_metric_emit() once per series, each with distinct label values. Runs on
 * the rendering (loop) thread inside sd_metrics_render(); it must not
 * register or remove metrics. */
typedef void (*sd_metric_collect_fn)(struct sd_metric_emitter *e, void *data);

/* What sd_metrics_register() needs. Every pointer is copied (the strings and
 * arrays may be freed after the call), except collect_data, which is
 * borrowed until the registry is freed. */
struct sd_metric_desc {
	const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in "_total" */
	const char *help; /* one line; may be "" */
	enum sd_metric_type type;
	const char *const *label_names; /* n_labels names [a-zA-Z_][a-zA-Z0-9_]*,
					 * distinct, not starting with "__",
					 * not "le" for histograms */
	int n_labels;			/* 0..SD_METRICS_LABELS_MAX */
	const double *buckets;		/* histograms: 1..SD_METRICS_BUCKETS_MAX
					 * finite, strictly increasing upper bounds */
	int n_buckets;
	int series_max;		      /* 0 means SD_METRICS_SERIES_DEFAULT */
	sd_metric_collect_fn collect; /* NULL, or a counter/gauge callback */
	void *collect_data;
};

/* Latency buckets in seconds, 0.5 ms .. 10 s (14 bounds), for request,
 * append and fsync latencies. */
extern const double sd_metrics_latency_seconds_buckets[];
extern const int sd_metrics_latency_seconds_buckets_count;

/* Size buckets in bytes, 256 B .. 64 MiB in powers of 4 (10 bounds), for
 * request, batch and coalesced-entry sizes. */
extern const double sd_metrics_size_bytes_buckets[];
extern const int sd_metrics_size_bytes_buckets_count;

/* Creates an empty registry in *out. Returns 0 or SD_METRICS_ENOMEM. */
int sd_metrics_new(struct sd_metrics **out);

/* Sets the registry's series limit per metric for metrics registered from
 * now on (see BOUNDS). Returns 0, or SD_METRICS_EINVAL outside
 * 1..SD_METRICS_SERIES_MAX. */
int sd_metrics_set_series_max(struct sd_metrics *m, int series_max);

/* Frees a registry with all its metrics and series (NULL-safe). No other
 * thread may be updating a series of it. */
void sd_metrics_free(struct sd_metrics *m);

/* Registers a metric described by d and stores its handle in *out (owned by
 * the registry). Returns 0, or SD_METRICS_EINVAL (bad name, help, labels,
 * buckets, series_max, a counter name without "_total", a callback on a
 * histogram), SD_METRICS_EEXIST (the name, or one of a histogram's _bucket,
 * _sum and _count names, is taken), SD_METRICS_ELIMIT or SD_METRICS_ENOMEM;
 * sd_metrics_errmsg() then says which. */
int sd_metrics_register(struct sd_metrics *m, const struct sd_metric_desc *d,
			struct sd_metric **out);

/* Returns the last registration error's context, "" if none. Borrowed from
 * the registry until the next call. */
const char *sd_metrics_errmsg(const struct sd_metrics *m);

/* Returns the metric registered under name, or NULL. */
struct sd_metric *sd_metrics_find(const struct sd_metrics *m, const char *name);

/* Returns the series with the given label values (an array of the metric's
 * n_labels strings, compared byte for byte and copied on creation; NULL
 * entries mean ""; the array may be NULL when n_labels is 0), creating it at
 * zero if needed. Returns the overflow series when the metric is full, a
 * value is too long, or memory runs out (see BOUNDS). Never NULL. The metric
 * must not have a collect callback. */
struct sd_series *sd_metric_series(struct sd_metric *f, const char *const *label_values);

/* Removes the series with these label values (e.g. of a deleted partition);
 * handles to it become invalid. Returns 0 or SD_METRICS_ENOENT. */
int sd_metric_remove(struct sd_metric *f, const char *const *label_values);

/* Returns the number of live series of a metric (overflow series excluded). */
int sd_metric_series_count(const struct sd_metric *f);

/* Returns how many series the metric refused (see BOUNDS). */
uint64_t sd_metric_overflow_count(const struct sd_metric *f);

/* Returns true if s is its metric's overflow series. */
bool sd_series_is_overflow(const struct sd_series *s);

/* Counter: adds n. Any thread. */
void sd_counter_add(struct sd_series *s, uint64_t n);
/* Counter: adds 1. Any thread. */
void sd_counter_inc(struct sd_series *s);
/* Counter: adds a non-negative, finite fraction (e.g. seconds). Loop thread
 * only. */
void sd_counter_add_double(struct sd_series *s, double v);
/* Gauge: sets the value. Any thread. */
void sd_gauge_set(struct sd_series *s, double v);
/* Gauge: adds v (may be negative). Any thread. */
void sd_gauge_add(struct sd_series *s, double v);
/* Histogram: records one observation; NaN is ignored. Any thread. */
void sd_histogram_observe(struct sd_series *s, double v);

/* Returns a counter's or gauge's current value, or a histogram's sum. */
double sd_series_value(const struct sd_series *s);
/* Returns a histogram's observation count (0 for other types). */
uint64_t sd_series_count(const struct sd_series *s);

/* Inside a collect callback: emits one series with the metric's n_labels
 * label values (copied; NULL entries mean "", NULL array when n_labels is 0)
 * and its value. Emits beyond series_max, or with an over-long value, are
 * counted as overflow and dropped. */
void sd_metric_emit(struct sd_metric_emitter *e, const char *const *label_values, double value);

/* Renders every metric into out (appended, within out's byte limit), in the
 * exposition format described above. Returns 0, or SD_METRICS_ETOOBIG or
 * SD_METRICS_ENOMEM when out's limit or memory ran out (out then holds a
 * truncated, unusable text). Loop thread only. */
int sd_metrics_render(struct sd_metrics *m, struct sd_buf *out);

/* The Content-Type of rendered metrics. */
#define SD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif /* SD_SERVER_METRICS_H */
