/* Unit tests for server/metrics (and the sd_buf / sd_json helpers it renders
 * into): exact exposition text, validation of names, labels and buckets,
 * escaping, series limits and overflow, removal, callbacks, concurrent
 * updates from another thread, output limits and allocation failures. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/json.h"
#include "server/metrics.h"

static struct sd_metrics *registry(void)
{
	struct sd_metrics *m;
	ck_assert_int_eq(sd_metrics_new(&m), 0);
	return m;
}

/* Renders m and returns the text (caller frees with sd_buf_free). */
static void render(struct sd_metrics *m, struct sd_buf *b)
{
	sd_buf_init(b, SD_METRICS_RENDER_BYTES_MAX);
	ck_assert_int_eq(sd_metrics_render(m, b), 0);
	ck_assert_ptr_nonnull(b->data);
}

static const char *const overflow_header =
    "# HELP " SD_METRICS_OVERFLOW_NAME " Series refused because a metric reached its series "
    "limit or a label value was too long, by metric.\n"
    "# TYPE " SD_METRICS_OVERFLOW_NAME " counter\n";

START_TEST(render_every_type)
{
	struct sd_metrics *m = registry();
	struct sd_metric *req, *inflight, *lat;
	const char *api_labels[] = {"api", "locality"};
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "stretchlog_requests_total",
						 .help = "Kafka requests handled.",
						 .type = SD_METRIC_COUNTER,
						 .label_names = api_labels,
						 .n_labels = 2,
					     },
					     &req),
			 0);
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "stretchlog_inflight_requests",
						 .help = "Requests in flight.",
						 .type = SD_METRIC_GAUGE,
					     },
					     &inflight),
			 0);
	const double bounds[] = {0.0009765625, 0.0078125, 0.125}; /* exact binary fractions */
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "stretchlog_produce_latency_seconds",
						 .help = "Produce latency.",
						 .type = SD_METRIC_HISTOGRAM,
						 .label_names = api_labels,
						 .n_labels = 1,
						 .buckets = bounds,
						 .n_buckets = 3,
					     },
					     &lat),
			 0);
	struct sd_series *p = sd_metric_series(req, (const char *[]){"Produce", "local"});
	sd_counter_inc(p);
	sd_counter_add(p, 41);
	ck_assert_ptr_eq(sd_metric_series(req, (const char *[]){"Produce", "local"}), p);
	sd_counter_add(sd_metric_series(req, (const char *[]){"Fetch", NULL}), 7);
	sd_gauge_set(sd_metric_series(inflight, NULL), 3);
	sd_gauge_add(sd_metric_series(inflight, NULL), -0.5);
	struct sd_series *h = sd_metric_series(lat, (const char *[]){"Produce"});
	sd_histogram_observe(h, 0.00048828125);
	sd_histogram_observe(h, 0.0009765625); /* le is inclusive */
	sd_histogram_observe(h, 0.0625);
	sd_histogram_observe(h, 7);
	sd_histogram_observe(h, NAN); /* ignored */
	ck_assert_uint_eq(sd_series_count(h), 4);
	struct sd_buf b;
	render(m, &b);
	char expect[4096];
	snprintf(
	    expect, sizeof(expect),
	    "# HELP stretchlog_requests_total Kafka requests handled.\n"
	    "# TYPE stretchlog_requests_total counter\n"
	    "stretchlog_requests_total{api=\"Produce\",locality=\"local\"} 42\n"
	    "stretchlog_requests_total{api=\"Fetch\",locality=\"\"} 7\n"
	    "# HELP stretchlog_inflight_requests Requests in flight.\n"
	    "# TYPE stretchlog_inflight_requests gauge\n"
	    "stretchlog_inflight_requests 2.5\n"
	    "# HELP stretchlog_produce_latency_seconds Produce latency.\n"
	    "# TYPE stretchlog_produce_latency_seconds histogram\n"
	    "stretchlog_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.0009765625\"} 2\n"
	    "stretchlog_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.0078125\"} 2\n"
	    "stretchlog_produce_latency_seconds_bucket{api=\"Produce\",le=\"0.125\"} 3\n"
	    "stretchlog_produce_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 4\n"
	    "stretchlog_produce_latency_seconds_sum{api=\"Produce\"} 7.06396484375\n"
	    "stretchlog_produce_latency_seconds_count{api=\"Produce\"} 4\n"
	    "%s",
	    overflow_header);
	ck_assert_str_eq(b.data, expect);
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

START_TEST(values_format)
{
	struct sd_metrics *m = registry();
	struct sd_metric *g, *c;
	ck_assert_int_eq(
	    sd_metrics_register(m,
				&(struct sd_metric_desc){.name = "g",
							 .help = "",
							 .type = SD_METRIC_GAUGE,
							 .label_names = (const char *[]){"k"},
							 .n_labels = 1},
				&g),
	    0);
	ck_assert_int_eq(
	    sd_metrics_register(
		m,
		&(struct sd_metric_desc){.name = "c_total", .help = "", .type = SD_METRIC_COUNTER},
		&c),
	    0);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"a"}), 0.1);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"b"}), 1e21);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"c"}), NAN);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"d"}), -INFINITY);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"e"}), INFINITY);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"f"}), 1.0 / 3);
	sd_counter_add(sd_metric_series(c, NULL), (1ULL << 60) + 1);
	struct sd_buf b;
	render(m, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"a\"} 0.1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"b\"} 1e+21\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"c\"} NaN\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"d\"} -Inf\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"e\"} +Inf\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\ng{k=\"f\"} 0.33333333333333331\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nc_total 1152921504606846977\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "# HELP g \n# TYPE g gauge\n"));
	/* A fractional counter is rendered as a double. */
	sd_counter_add_double(sd_metric_series(c, NULL), 0.5);
	sd_counter_add_double(sd_metric_series(c, NULL), -3);  /* ignored */
	sd_counter_add_double(sd_metric_series(c, NULL), NAN); /* ignored */
	sd_buf_reset(&b);
	ck_assert_int_eq(sd_metrics_render(m, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "\nc_total 1.152921504606847e+18\n"));
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

START_TEST(escaping)
{
	struct sd_metrics *m = registry();
	struct sd_metric *g;
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "client_rack_info",
						 .help = "Back\\slash and\nnewline.",
						 .type = SD_METRIC_GAUGE,
						 .label_names = (const char *[]){"client_rack"},
						 .n_labels = 1,
					     },
					     &g),
			 0);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"a\"b\\c\nd\te"}), 1);
	sd_gauge_set(sd_metric_series(g, (const char *[]){"bad\xff\xc3(utf8\xe2\x82\xac"}), 2);
	struct sd_buf b;
	render(m, &b);
	ck_assert_ptr_nonnull(
	    strstr(b.data, "# HELP client_rack_info Back\\\\slash and\\nnewline.\n"));
	ck_assert_ptr_nonnull(
	    strstr(b.data, "client_rack_info{client_rack=\"a\\\"b\\\\c\\nd\te\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data,
				     "client_rack_info{client_rack=\"bad\xEF\xBF\xBD\xEF\xBF\xBD"
				     "(utf8\xe2\x82\xac\"} 2\n"));
	/* The two raw series stay distinct. */
	ck_assert_int_eq(sd_metric_series_count(g), 2);
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

static void dummy_collect(struct sd_metric_emitter *e, void *data)
{
	(void)e;
	(void)data;
}

START_TEST(validation)
{
	struct sd_metrics *m = registry();
	const double good[] = {1, 2};
	const double unsorted[] = {2, 1};
	const double nan_b[] = {1, NAN};
	const double inf_b[] = {1, INFINITY};
	struct {
		struct sd_metric_desc d;
		int rv;
	} cases[] = {
	    {{.name = "", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EINVAL},
	    {{.name = "1abc", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EINVAL},
	    {{.name = "a-b", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EINVAL},
	    {{.name = "ok:colon", .help = "", .type = SD_METRIC_GAUGE}, 0},
	    {{.name = "x", .help = NULL, .type = SD_METRIC_GAUGE}, SD_METRICS_EINVAL},
	    {{.name = "requests", .help = "", .type = SD_METRIC_COUNTER}, SD_METRICS_EINVAL},
	    {{.name = "y", .help = "", .type = (enum sd_metric_type)9}, SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .label_names = (const char *[]){"a:b"},
	      .n_labels = 1},
	     SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .label_names = (const char *[]){"__x"},
	      .n_labels = 1},
	     SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .label_names = (const char *[]){"a", "a"},
	      .n_labels = 2},
	     SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .label_names = (const char *[]){NULL},
	      .n_labels = 1},
	     SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .n_labels = SD_METRICS_LABELS_MAX + 1,
	      .label_names = (const char *[]){"a"}},
	     SD_METRICS_EINVAL},
	    {{.name = "y", .help = "", .type = SD_METRIC_GAUGE, .buckets = good, .n_buckets = 2},
	     SD_METRICS_EINVAL},
	    {{.name = "y", .help = "", .type = SD_METRIC_GAUGE, .series_max = -1},
	     SD_METRICS_EINVAL},
	    {{.name = "y",
	      .help = "",
	      .type = SD_METRIC_GAUGE,
	      .series_max = SD_METRICS_SERIES_MAX + 1},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 0},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = unsorted,
	      .n_buckets = 2},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = nan_b,
	      .n_buckets = 2},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = inf_b,
	      .n_buckets = 2},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = SD_METRICS_BUCKETS_MAX + 1},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 2,
	      .label_names = (const char *[]){"le"},
	      .n_labels = 1},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 2,
	      .collect = dummy_collect},
	     SD_METRICS_EINVAL},
	    {{.name = "h",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 2},
	     0},
	    {{.name = "h", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EEXIST},
	    {{.name = "h_count", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EEXIST},
	    {{.name = "h_bucket", .help = "", .type = SD_METRIC_GAUGE}, SD_METRICS_EEXIST},
	    {{.name = "g", .help = "", .type = SD_METRIC_GAUGE}, 0},
	    {{.name = "g",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 2},
	     SD_METRICS_EEXIST},
	    {{.name = "g2_sum", .help = "", .type = SD_METRIC_GAUGE}, 0},
	    {{.name = "g2",
	      .help = "",
	      .type = SD_METRIC_HISTOGRAM,
	      .buckets = good,
	      .n_buckets = 2},
	     SD_METRICS_EEXIST},
	    {{.name = SD_METRICS_OVERFLOW_NAME, .help = "", .type = SD_METRIC_COUNTER},
	     SD_METRICS_EEXIST},
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		struct sd_metric *f = (struct sd_metric *)&cases;
		int rv = sd_metrics_register(m, &cases[i].d, &f);
		ck_assert_msg(rv == cases[i].rv, "case %zu (%s): %s, %s", i, cases[i].d.name,
			      sd_metrics_err_name(rv), sd_metrics_errmsg(m));
		ck_assert(rv == 0 ? f != NULL : f == NULL);
		ck_assert(rv == 0 || sd_metrics_errmsg(m)[0] != '\0');
	}
	ck_assert_ptr_nonnull(sd_metrics_find(m, "h"));
	ck_assert_ptr_null(sd_metrics_find(m, "nope"));
	char longname[SD_METRICS_NAME_BYTES_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(
	    sd_metrics_register(
		m, &(struct sd_metric_desc){.name = longname, .help = "", .type = SD_METRIC_GAUGE},
		NULL),
	    SD_METRICS_EINVAL);
	sd_metrics_free(m);
}
END_TEST

START_TEST(family_limit)
{
	struct sd_metrics *m = registry();
	char name[32];
	for (int i = 0; i < SD_METRICS_FAMILIES_MAX; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		ck_assert_int_eq(
		    sd_metrics_register(
			m,
			&(struct sd_metric_desc){.name = name, .help = "", .type = SD_METRIC_GAUGE},
			NULL),
		    0);
	}
	ck_assert_int_eq(
	    sd_metrics_register(
		m, &(struct sd_metric_desc){.name = "last", .help = "", .type = SD_METRIC_GAUGE},
		NULL),
	    SD_METRICS_ELIMIT);
	sd_metrics_free(m);
}
END_TEST

START_TEST(series_limit_and_overflow)
{
	struct sd_metrics *m = registry();
	struct sd_metric *f;
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "fetch_total",
						 .help = "h",
						 .type = SD_METRIC_COUNTER,
						 .label_names = (const char *[]){"client_rack"},
						 .n_labels = 1,
						 .series_max = 3,
					     },
					     &f),
			 0);
	const char *racks[] = {"a", "b", "c", "d", "e"};
	for (int i = 0; i < 5; i++) {
		struct sd_series *s = sd_metric_series(f, &racks[i]);
		ck_assert_int_eq(sd_series_is_overflow(s), i >= 3);
		sd_counter_inc(s);
	}
	/* An existing series is still found when the metric is full. */
	ck_assert(!sd_series_is_overflow(sd_metric_series(f, &racks[1])));
	char big[SD_METRICS_LABEL_VALUE_BYTES_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *bigv[] = {big};
	ck_assert(sd_series_is_overflow(sd_metric_series(f, bigv)));
	ck_assert_int_eq(sd_metric_series_count(f), 3);
	ck_assert_uint_eq(sd_metric_overflow_count(f), 3);
	struct sd_buf b;
	render(m, &b);
	ck_assert_ptr_null(strstr(b.data, "client_rack=\"d\""));
	ck_assert_ptr_nonnull(
	    strstr(b.data, SD_METRICS_OVERFLOW_NAME "{metric=\"fetch_total\"} 3\n"));
	/* Removing a series makes room. */
	ck_assert_int_eq(sd_metric_remove(f, &racks[0]), 0);
	ck_assert_int_eq(sd_metric_remove(f, &racks[0]), SD_METRICS_ENOENT);
	ck_assert(!sd_series_is_overflow(sd_metric_series(f, &racks[3])));
	ck_assert_int_eq(sd_metric_series_count(f), 3);
	sd_buf_reset(&b);
	ck_assert_int_eq(sd_metrics_render(m, &b), 0);
	ck_assert_ptr_null(strstr(b.data, "client_rack=\"a\""));
	ck_assert_ptr_nonnull(strstr(b.data, "fetch_total{client_rack=\"d\"} 0\n"));
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

/* sd_metrics_set_series_max() (metrics.series.per.metric.max) caps every
 * metric registered afterwards: a description without series_max gets the
 * cap, a larger series_max is cut to it, a smaller one stays. */
START_TEST(registry_series_cap)
{
	struct sd_metrics *m = registry();
	ck_assert_int_eq(sd_metrics_set_series_max(m, 0), SD_METRICS_EINVAL);
	ck_assert_int_eq(sd_metrics_set_series_max(m, SD_METRICS_SERIES_MAX + 1),
			 SD_METRICS_EINVAL);
	ck_assert_int_eq(sd_metrics_set_series_max(m, 4), 0);
	struct sd_metric *f[3];
	const int asked[3] = {0, 100, 2};
	const int expect[3] = {4, 4, 2};
	for (int k = 0; k < 3; k++) {
		char name[32];
		snprintf(name, sizeof(name), "m%d_total", k);
		ck_assert_int_eq(sd_metrics_register(m,
						     &(struct sd_metric_desc){
							 .name = name,
							 .help = "h",
							 .type = SD_METRIC_COUNTER,
							 .label_names = (const char *[]){"topic"},
							 .n_labels = 1,
							 .series_max = asked[k],
						     },
						     &f[k]),
				 0);
		for (int i = 0; i < 10; i++) {
			char v[16];
			snprintf(v, sizeof(v), "t%d", i);
			const char *vals[] = {v};
			ck_assert_int_eq(sd_series_is_overflow(sd_metric_series(f[k], vals)),
					 i >= expect[k]);
		}
		ck_assert_int_eq(sd_metric_series_count(f[k]), expect[k]);
		ck_assert_uint_eq(sd_metric_overflow_count(f[k]), (uint64_t)(10 - expect[k]));
	}
	struct sd_buf b;
	render(m, &b);
	ck_assert_ptr_nonnull(strstr(b.data, SD_METRICS_OVERFLOW_NAME "{metric=\"m0_total\"} 6\n"));
	ck_assert_ptr_null(strstr(b.data, "topic=\"t4\""));
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

START_TEST(many_series_and_removal_order)
{
	struct sd_metrics *m = registry();
	struct sd_metric *f;
	ck_assert_int_eq(
	    sd_metrics_register(m,
				&(struct sd_metric_desc){
				    .name = "partition_hwm",
				    .help = "h",
				    .type = SD_METRIC_GAUGE,
				    .label_names = (const char *[]){"topic", "partition"},
				    .n_labels = 2,
				    .series_max = 5000,
				},
				&f),
	    0);
	struct sd_series **handles = malloc(5000 * sizeof(*handles));
	char part[16];
	for (int i = 0; i < 5000; i++) {
		snprintf(part, sizeof(part), "%d", i);
		handles[i] = sd_metric_series(f, (const char *[]){"orders", part});
		sd_gauge_set(handles[i], i);
	}
	for (int i = 0; i < 5000; i += 7) {
		snprintf(part, sizeof(part), "%d", i);
		ck_assert_ptr_eq(sd_metric_series(f, (const char *[]){"orders", part}), handles[i]);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(part, sizeof(part), "%d", i);
		ck_assert_int_eq(sd_metric_remove(f, (const char *[]){"orders", part}), 0);
	}
	ck_assert_int_eq(sd_metric_series_count(f), 2500);
	struct sd_buf b;
	render(m, &b);
	/* Creation order is kept: 1, 3, 5, ... */
	const char *p1 = strstr(b.data, "partition=\"1\"}");
	const char *p3 = strstr(b.data, "partition=\"3\"}");
	ck_assert(p1 != NULL && p3 != NULL && p1 < p3);
	ck_assert_ptr_null(strstr(b.data, "partition=\"2\"}"));
	free(handles);
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

struct collect_ctx {
	int calls;
	int emit;
};

static void collect_disk(struct sd_metric_emitter *e, void *data)
{
	struct collect_ctx *ctx = data;
	ctx->calls++;
	char dir[32];
	for (int i = 0; i < ctx->emit; i++) {
		snprintf(dir, sizeof(dir), "/data/%d", i);
		sd_metric_emit(e, (const char *[]){dir}, 1000.0 * i);
	}
}

static void collect_uptime(struct sd_metric_emitter *e, void *data)
{
	(void)data;
	sd_metric_emit(e, NULL, 12.5);
}

START_TEST(collect_callbacks)
{
	struct sd_metrics *m = registry();
	struct collect_ctx ctx = {0, 3};
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "disk_free_bytes",
						 .help = "Free bytes.",
						 .type = SD_METRIC_GAUGE,
						 .label_names = (const char *[]){"dir"},
						 .n_labels = 1,
						 .series_max = 2,
						 .collect = collect_disk,
						 .collect_data = &ctx,
					     },
					     NULL),
			 0);
	ck_assert_int_eq(sd_metrics_register(m,
					     &(struct sd_metric_desc){
						 .name = "uptime_seconds_total",
						 .help = "Uptime.",
						 .type = SD_METRIC_COUNTER,
						 .collect = collect_uptime,
					     },
					     NULL),
			 0);
	struct sd_buf b;
	render(m, &b);
	ck_assert_int_eq(ctx.calls, 1);
	ck_assert_ptr_nonnull(strstr(b.data, "disk_free_bytes{dir=\"/data/0\"} 0\n"
					     "disk_free_bytes{dir=\"/data/1\"} 1000\n# HELP"));
	ck_assert_ptr_nonnull(strstr(b.data, "\nuptime_seconds_total 12.5\n"));
	ck_assert_ptr_nonnull(
	    strstr(b.data, SD_METRICS_OVERFLOW_NAME "{metric=\"disk_free_bytes\"} 1\n"));
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

/* ---- threads ------------------------------------------------------------------- */

struct writer_ctx {
	struct sd_series *counter;
	struct sd_series *gauge;
	struct sd_series *hist;
	int rounds;
};

static void *writer(void *arg)
{
	struct writer_ctx *w = arg;
	for (int i = 0; i < w->rounds; i++) {
		sd_counter_add(w->counter, 2);
		sd_gauge_add(w->gauge, 1);
		sd_histogram_observe(w->hist, 0.002);
	}
	return NULL;
}

START_TEST(updates_from_other_threads)
{
	struct sd_metrics *m = registry();
	struct sd_metric *c, *g, *h;
	sd_metrics_register(
	    m,
	    &(struct sd_metric_desc){.name = "fsync_total", .help = "", .type = SD_METRIC_COUNTER},
	    &c);
	sd_metrics_register(
	    m, &(struct sd_metric_desc){.name = "queue_depth", .help = "", .type = SD_METRIC_GAUGE},
	    &g);
	sd_metrics_register(
	    m,
	    &(struct sd_metric_desc){.name = "fsync_seconds",
				     .help = "",
				     .type = SD_METRIC_HISTOGRAM,
				     .buckets = sd_metrics_latency_seconds_buckets,
				     .n_buckets = sd_metrics_latency_seconds_buckets_count},
	    &h);
	struct writer_ctx w = {sd_metric_series(c, NULL), sd_metric_series(g, NULL),
			       sd_metric_series(h, NULL), 100000};
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &w), 0);
	}
	struct sd_buf b;
	sd_buf_init(&b, SD_METRICS_RENDER_BYTES_MAX);
	for (int i = 0; i < 50; i++) { /* scrapes while the writers run */
		sd_buf_reset(&b);
		ck_assert_int_eq(sd_metrics_render(m, &b), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
	}
	ck_assert_double_eq(sd_series_value(w.counter), 600000);
	ck_assert_double_eq(sd_series_value(w.gauge), 300000);
	ck_assert_uint_eq(sd_series_count(w.hist), 300000);
	ck_assert_double_eq_tol(sd_series_value(w.hist), 600, 1e-6);
	sd_buf_reset(&b);
	ck_assert_int_eq(sd_metrics_render(m, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "fsync_seconds_bucket{le=\"0.0025\"} 300000\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "fsync_seconds_bucket{le=\"0.001\"} 0\n"));
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

/* ---- limits and failures ----------------------------------------------------------- */

START_TEST(render_limit)
{
	struct sd_metrics *m = registry();
	struct sd_metric *g;
	sd_metrics_register(m,
			    &(struct sd_metric_desc){
				.name = "g", .help = "a long help text", .type = SD_METRIC_GAUGE},
			    &g);
	sd_gauge_set(sd_metric_series(g, NULL), 1);
	struct sd_buf b;
	sd_buf_init(&b, 20);
	ck_assert_int_eq(sd_metrics_render(m, &b), SD_METRICS_ETOOBIG);
	sd_buf_free(&b);
	sl_fault_arm(SL_FAULT_ALLOC, 1, true);
	sd_buf_init(&b, 1 << 20);
	ck_assert_int_eq(sd_metrics_render(m, &b), SD_METRICS_ENOMEM);
	sl_fault_reset();
	sd_buf_free(&b);
	sd_metrics_free(m);
}
END_TEST

START_TEST(alloc_failure_sweep)
{
	bool completed = false;
	for (long nth = 1; nth < 200 && !completed; nth++) {
		sl_fault_arm(SL_FAULT_ALLOC, nth, false);
		struct sd_metrics *m = NULL;
		int rv = sd_metrics_new(&m);
		if (rv != 0) {
			ck_assert_int_eq(rv, SD_METRICS_ENOMEM);
			sl_fault_reset();
			continue;
		}
		struct sd_metric *f = NULL;
		rv = sd_metrics_register(m,
					 &(struct sd_metric_desc){
					     .name = "lat_seconds",
					     .help = "h",
					     .type = SD_METRIC_HISTOGRAM,
					     .label_names = (const char *[]){"api", "topic"},
					     .n_labels = 2,
					     .buckets = sd_metrics_latency_seconds_buckets,
					     .n_buckets = sd_metrics_latency_seconds_buckets_count,
					 },
					 &f);
		if (rv == 0) {
			int real = 0;
			for (int i = 0; i < 40; i++) {
				char t[16];
				snprintf(t, sizeof(t), "t%d", i);
				struct sd_series *s =
				    sd_metric_series(f, (const char *[]){"Produce", t});
				sd_histogram_observe(s,
						     0.01); /* the overflow series takes it too */
				real += !sd_series_is_overflow(s);
			}
			ck_assert_uint_eq((uint64_t)real + sd_metric_overflow_count(f), 40);
			completed = real == 40;
		} else {
			ck_assert_int_eq(rv, SD_METRICS_ENOMEM);
		}
		sl_fault_reset();
		sd_metrics_free(m);
	}
	ck_assert(completed);
}
END_TEST

/* ---- sd_buf and sd_json ------------------------------------------------------------ */

START_TEST(buf_basics)
{
	struct sd_buf b;
	sd_buf_init(&b, 10);
	ck_assert_int_eq(sd_buf_puts(&b, "hello"), 0);
	ck_assert_int_eq(sd_buf_printf(&b, "%d", 1234), 0);
	ck_assert_str_eq(b.data, "hello1234");
	ck_assert_int_eq(sd_buf_puts(&b, "xy"), SD_JSON_ETOOBIG);
	ck_assert_str_eq(b.data, "hello1234");			 /* unchanged */
	ck_assert_int_eq(sd_buf_puts(&b, "z"), SD_JSON_ETOOBIG); /* sticky */
	sd_buf_reset(&b);
	ck_assert_int_eq(sd_buf_printf(&b, "%s", "0123456789"), 0);
	ck_assert_uint_eq(b.len, 10);
	sd_buf_free(&b);
	sd_buf_init(&b, 100000);
	char big[1000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(sd_buf_printf(&b, "<%s>", big), 0); /* past the small stack buffer */
	ck_assert_uint_eq(b.len, 1001);
	sd_buf_free(&b);
	ck_assert_str_eq(sd_json_err_name(SD_JSON_EDEPTH), "SD_JSON_EDEPTH");
	ck_assert_str_eq(sd_metrics_err_name(SD_METRICS_ELIMIT), "SD_METRICS_ELIMIT");
	ck_assert_str_eq(sd_metrics_strerror(0), "success");
}
END_TEST

START_TEST(json_writer)
{
	struct sd_buf b;
	sd_buf_init(&b, 1 << 16);
	struct sd_json j;
	sd_json_init(&j, &b);
	sd_json_object_begin(&j);
	sd_json_kv_str(&j, "name", "a\"b\\c\n\x01\xff\xe2\x82\xac");
	sd_json_kv_int(&j, "neg", -5);
	sd_json_kv_uint(&j, "big", UINT64_MAX);
	sd_json_kv_double(&j, "half", 0.5);
	sd_json_kv_double(&j, "nan", NAN);
	sd_json_kv_bool(&j, "ok", true);
	sd_json_key(&j, "list");
	sd_json_array_begin(&j);
	sd_json_int(&j, 1);
	sd_json_str(&j, NULL);
	sd_json_object_begin(&j);
	sd_json_object_end(&j);
	sd_json_array_begin(&j);
	sd_json_array_end(&j);
	sd_json_strn(&j, "abc", 2);
	sd_json_array_end(&j);
	sd_json_key(&j, "n");
	sd_json_null(&j);
	sd_json_object_end(&j);
	ck_assert_int_eq(sd_json_finish(&j), 0);
	ck_assert_str_eq(b.data,
			 "{\"name\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\xe2\x82\xac\","
			 "\"neg\":-5,\"big\":18446744073709551615,\"half\":0.5,"
			 "\"nan\":null,\"ok\":true,\"list\":[1,null,{},[],\"ab\"],\"n\":null}");
	sd_buf_free(&b);

	/* Unclosed, too deep, too big. */
	sd_buf_init(&b, 1 << 16);
	sd_json_init(&j, &b);
	sd_json_array_begin(&j);
	ck_assert_int_eq(sd_json_finish(&j), SD_JSON_EOPEN);
	sd_buf_free(&b);
	sd_buf_init(&b, 1 << 16);
	sd_json_init(&j, &b);
	ck_assert_int_eq(sd_json_finish(&j), SD_JSON_EOPEN);
	for (int i = 0; i < SD_JSON_DEPTH_MAX + 1; i++) {
		sd_json_array_begin(&j);
	}
	ck_assert_int_eq(sd_json_finish(&j), SD_JSON_EDEPTH);
	sd_buf_free(&b);
	sd_buf_init(&b, 8);
	sd_json_init(&j, &b);
	sd_json_str(&j, "0123456789");
	ck_assert_int_eq(sd_json_finish(&j), SD_JSON_ETOOBIG);
	sd_buf_free(&b);
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");
	tcase_add_test(tc, render_every_type);
	tcase_add_test(tc, values_format);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, collect_callbacks);
	suite_add_tcase(s, tc);
	tc = tcase_create("registry");
	tcase_add_test(tc, validation);
	tcase_add_test(tc, family_limit);
	tcase_add_test(tc, series_limit_and_overflow);
	tcase_add_test(tc, registry_series_cap);
	tcase_add_test(tc, many_series_and_removal_order);
	tcase_add_test(tc, render_limit);
	tcase_add_test(tc, alloc_failure_sweep);
	suite_add_tcase(s, tc);
	tc = tcase_create("threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, updates_from_other_threads);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_test(tc, buf_basics);
	tcase_add_test(tc, json_writer);
	suite_add_tcase(s, tc);
	return s;
}
