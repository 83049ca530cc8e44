/* Registers sample metrics of every kind (labelled and unlabelled counters,
 * gauges, histograms, collect callbacks, escaped label values, an overflowed
 * metric), updates them and prints one scrape on stdout, for
 * tests/suites/promtool.sh to check with `promtool check metrics`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/sl_common.h"
#include "server/json.h"
#include "server/metrics.h"

static void collect_disk(struct sd_metric_emitter *e, void *data)
{
	(void)data;
	sd_metric_emit(e, (const char *[]){"/data/a"}, 1.5e9);
	sd_metric_emit(e, (const char *[]){"/data/b"}, 0);
}

static void collect_uptime(struct sd_metric_emitter *e, void *data)
{
	(void)data;
	sd_metric_emit(e, NULL, 42.25);
}

static struct sd_metric *reg(struct sd_metrics *m, const struct sd_metric_desc *d)
{
	struct sd_metric *f;
	int rv = sd_metrics_register(m, d, &f);
	if (rv != 0) {
		fprintf(stderr, "metrics_sample: %s: %s\n", sd_metrics_err_name(rv),
			sd_metrics_errmsg(m));
		exit(1);
	}
	return f;
}

int main(void)
{
	struct sd_metrics *m;
	if (sd_metrics_new(&m) != 0) {
		return 1;
	}
	const char *api_labels[] = {"api", "client_rack", "locality"};
	struct sd_metric *req =
	    reg(m, &(struct sd_metric_desc){
		       .name = "stretchlog_kafka_requests_total",
		       .help = "Kafka requests handled, by API and client locality.",
		       .type = SD_METRIC_COUNTER,
		       .label_names = api_labels,
		       .n_labels = 3,
		   });
	sd_counter_add(sd_metric_series(req, (const char *[]){"Produce", "us-east-1a", "rack"}),
		       10);
	sd_counter_add(sd_metric_series(req, (const char *[]){"Fetch", "eu\"west\\1\nb", "region"}),
		       3);
	sd_counter_add(sd_metric_series(req, (const char *[]){"Fetch", "bad\xff", "none"}), 1);
	struct sd_metric *bytes = reg(m, &(struct sd_metric_desc){
					     .name = "stretchlog_cross_region_bytes_total",
					     .help = "Bytes sent to another region.",
					     .type = SD_METRIC_COUNTER,
					     .label_names = (const char *[]){"region"},
					     .n_labels = 1,
					     .series_max = 1,
					 });
	sd_counter_add(sd_metric_series(bytes, (const char *[]){"eu-west"}), 1u << 30);
	sd_counter_inc(sd_metric_series(bytes, (const char *[]){"ap-south"})); /* overflows */
	struct sd_metric *cpu = reg(m, &(struct sd_metric_desc){
					   .name = "stretchlog_loop_busy_seconds_total",
					   .help = "Seconds the loop thread spent working.",
					   .type = SD_METRIC_COUNTER,
				       });
	sd_counter_add_double(sd_metric_series(cpu, NULL), 0.125);
	struct sd_metric *lag = reg(m, &(struct sd_metric_desc){
					   .name = "stretchlog_follower_lag_offsets",
					   .help = "Offsets a follower is behind its leader.",
					   .type = SD_METRIC_GAUGE,
					   .label_names = (const char *[]){"topic", "partition"},
					   .n_labels = 2,
				       });
	sd_gauge_set(sd_metric_series(lag, (const char *[]){"orders", "0"}), 17);
	sd_gauge_set(sd_metric_series(lag, (const char *[]){"orders", "1"}), NAN);
	sd_gauge_set(sd_metric_series(lag, (const char *[]){"orders", "2"}), -INFINITY);
	struct sd_metric *up = reg(m, &(struct sd_metric_desc){
					  .name = "stretchlog_up",
					  .help = "1 while the broker runs.",
					  .type = SD_METRIC_GAUGE,
				      });
	sd_gauge_set(sd_metric_series(up, NULL), 1);
	struct sd_metric *lat = reg(m, &(struct sd_metric_desc){
					   .name = "stretchlog_produce_latency_seconds",
					   .help = "Produce latency from request to answer.",
					   .type = SD_METRIC_HISTOGRAM,
					   .label_names = (const char *[]){"acks"},
					   .n_labels = 1,
					   .buckets = sd_metrics_latency_seconds_buckets,
					   .n_buckets = sd_metrics_latency_seconds_buckets_count,
				       });
	for (int i = 0; i < 100; i++) {
		sd_histogram_observe(sd_metric_series(lat, (const char *[]){"all"}), i * 0.001);
		sd_histogram_observe(sd_metric_series(lat, (const char *[]){"1"}), i * 0.2);
	}
	struct sd_metric *size = reg(m, &(struct sd_metric_desc){
					    .name = "stretchlog_entry_size_bytes",
					    .help = "Bytes per coalesced Raft entry.",
					    .type = SD_METRIC_HISTOGRAM,
					    .buckets = sd_metrics_size_bytes_buckets,
					    .n_buckets = sd_metrics_size_bytes_buckets_count,
					});
	sd_histogram_observe(sd_metric_series(size, NULL), 5000);
	reg(m, &(struct sd_metric_desc){
		   .name = "stretchlog_disk_free_bytes",
		   .help = "Free bytes per log directory.",
		   .type = SD_METRIC_GAUGE,
		   .label_names = (const char *[]){"dir"},
		   .n_labels = 1,
		   .collect = collect_disk,
	       });
	reg(m, &(struct sd_metric_desc){
		   .name = "stretchlog_uptime_seconds_total",
		   .help = "Seconds since start.",
		   .type = SD_METRIC_COUNTER,
		   .collect = collect_uptime,
	       });
	reg(m, &(struct sd_metric_desc){
		   .name = "stretchlog_empty",
		   .help = "A metric with no series yet.",
		   .type = SD_METRIC_GAUGE,
	       });
	struct sd_buf b;
	sd_buf_init(&b, SD_METRICS_RENDER_BYTES_MAX);
	int rv = sd_metrics_render(m, &b);
	if (rv != 0) {
		fprintf(stderr, "metrics_sample: render: %s\n", sd_metrics_strerror(rv));
		return 1;
	}
	fwrite(b.data, 1, b.len, stdout);
	sd_buf_free(&b);
	sd_metrics_free(m);
	return 0;
}
