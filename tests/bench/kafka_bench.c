/* kafka_bench: the Kafka-protocol benchmark client (librdkafka), driven by
 * tests/bench/bench_kafka.py against a stretchlogd cluster.
 *
 *   kafka_bench create --bootstrap B --topic T --partitions P [--replication 3]
 *       Creates the topic (CreateTopics) and waits until Metadata names a
 *       leader for every partition.
 *   kafka_bench produce --bootstrap B --topic T --bytes N [--record-bytes 1024]
 *                       [--rate-mbps R] [--linger-ms 10] [--batch-bytes 1000000]
 *                       [--inflight 5]
 *       Produces N bytes of record values (acks=all, no compression, values
 *       of incompressible bytes), at most R MB/s when R > 0, and prints
 *       RESULT produce mb_s=.. wall_mb_s=.. records=.. seconds=.. first_ms=..
 *              p50_ms=.. p99_ms=.. errors=..
 *       mb_s is the steady state (first delivery to last), wall_mb_s counts
 *       from the start (connections, metadata), first_ms is the time to
 *       the first delivery. --inflight is librdkafka's max.in.flight
 *       (requests per broker connection). Latency is enqueue (rd_kafka_produce) to
 *       delivery report.
 *   kafka_bench consume --bootstrap B --topic T --partitions P [--passes K]
 *                       [--records N]
 *       Reads every partition from the beginning to its end K times with
 *       assigned partitions (no group) and prints
 *       RESULT consume mb_s=.. records=.. bytes=.. seconds=..
 *       counting record value bytes over the time from each pass's first
 *       record to its last. A pass ends after N records when N > 0, else at
 *       the partition EOF of every partition.
 *
 * Failure modes: a delivery error or a consumer error is counted (errors=)
 * and the exit status is 1; bad arguments print usage and exit 2. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAT_MAX (1u << 24) /* delivery latencies kept (records) */
#define PARTITIONS_MAX 1024

struct opts {
	const char *mode;
	const char *bootstrap;
	const char *topic;
	long long bytes;
	int record_bytes;
	double rate_mbps;
	int linger_ms;
	int batch_bytes;
	int inflight;
	int partitions;
	int passes;
	int replication;
	long long records;
};

struct produce_state {
	uint32_t *lat_us; /* delivery latencies */
	size_t n_lat;
	long long delivered;
	long long errors;
	uint64_t first_ns; /* first and latest successful delivery */
	uint64_t last_ns;
	char first_error[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kafka_bench create --bootstrap B --topic T --partitions P [--replication 3]\n"
		"       kafka_bench produce --bootstrap B --topic T --bytes N [--record-bytes 1024]\n"
		"                   [--rate-mbps R] [--linger-ms 10] [--batch-bytes 1000000]\n"
		"                   [--inflight 5]\n"
		"       kafka_bench consume --bootstrap B --topic T --partitions P [--passes 1]\n"
		"                   [--records N]\n");
	exit(2);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka_bench: %s=%s: %s\n", k, v, err);
		exit(2);
	}
}

static void set_int(rd_kafka_conf_t *conf, const char *k, long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", v);
	set(conf, k, buf);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct produce_state *ps = opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (ps->errors++ == 0) {
			snprintf(ps->first_error, sizeof(ps->first_error), "%s",
				 rd_kafka_err2str(m->err));
		}
		return;
	}
	ps->delivered++;
	uint64_t now = now_ns();
	if (ps->first_ns == 0) {
		ps->first_ns = now;
	}
	ps->last_ns = now;
	uint64_t sent = (uint64_t)(uintptr_t)m->_private;
	uint64_t us = (now - sent) / 1000u;
	if (ps->n_lat < LAT_MAX) {
		ps->lat_us[ps->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(uint32_t *v, size_t n, double p)
{
	if (n == 0) {
		return 0.0;
	}
	size_t i = (size_t)(p * (double)(n - 1));
	return v[i] / 1000.0;
}

/* Sleeps until the byte budget of rate_mbps allows `sent` bytes. */
static void pace(rd_kafka_t *rk, uint64_t t0, long long sent, double rate_mbps)
{
	if (rate_mbps <= 0) {
		return;
	}
	uint64_t due = t0 + (uint64_t)((double)sent / (rate_mbps * 1e6) * 1e9);
	uint64_t now = now_ns();
	if (due > now + 1000000u) {
		/* Serve delivery reports while waiting, for timely latencies. */
		rd_kafka_poll(rk, (int)((due - now) / 1000000u));
	}
}

static int produce(const struct opts *o)
{
	struct produce_state ps = {0};
	ps.lat_us = malloc(LAT_MAX * sizeof(*ps.lat_us));
	uint8_t *value = malloc((size_t)o->record_bytes);
	if (ps.lat_us == NULL || value == NULL) {
		fprintf(stderr, "kafka_bench: out of memory\n");
		return 1;
	}
	uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift: incompressible values */
	for (int i = 0; i < o->record_bytes; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		value[i] = (uint8_t)x;
	}
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", o->bootstrap);
	set(conf, "acks", "all");
	set(conf, "compression.codec", "none");
	set_int(conf, "linger.ms", o->linger_ms);
	set_int(conf, "batch.size", o->batch_bytes);
	set_int(conf, "message.max.bytes", o->batch_bytes + 65536);
	set_int(conf, "queue.buffering.max.kbytes", 1048576);
	set_int(conf, "queue.buffering.max.messages", 1000000);
	set(conf, "enable.idempotence", "false");
	set_int(conf, "max.in.flight", o->inflight);
	set(conf, "socket.send.buffer.bytes", "4194304");
	rd_kafka_conf_set_opaque(conf, &ps);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "kafka_bench: rd_kafka_new: %s\n", err);
		return 1;
	}
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
	long long n = o->bytes / o->record_bytes;
	uint64_t t0 = now_ns();
	for (long long i = 0; i < n; i++) {
		pace(rk, t0, i * o->record_bytes, o->rate_mbps);
		for (;;) {
			/* Values are not copied (the buffer outlives the producer);
			 * the enqueue time rides in the message opaque. */
			if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, value, (size_t)o->record_bytes,
					     NULL, 0, (void *)(uintptr_t)now_ns()) == 0) {
				break;
			}
			if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "kafka_bench: produce: %s\n",
					rd_kafka_err2str(rd_kafka_last_error()));
				return 1;
			}
			rd_kafka_poll(rk, 5);
		}
		if ((i & 1023) == 0) {
			rd_kafka_poll(rk, 0);
		}
	}
	while (rd_kafka_outq_len(rk) > 0) {
		rd_kafka_poll(rk, 50);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	/* Steady state, as the replication benchmark measures after its
	 * warm-up: from the first delivery (connections, metadata and the
	 * first commit are behind) to the last, over the records delivered
	 * after the first. */
	double span = (double)(ps.last_ns - ps.first_ns) / 1e9;
	double steady = span > 0 ? (double)(ps.delivered - 1) * o->record_bytes / 1e6 / span : 0.0;
	double startup_ms = ps.first_ns > t0 ? (double)(ps.first_ns - t0) / 1e6 : 0.0;
	qsort(ps.lat_us, ps.n_lat, sizeof(*ps.lat_us), cmp_u32);
	printf("RESULT produce mb_s=%.1f wall_mb_s=%.1f records=%lld seconds=%.2f first_ms=%.1f "
	       "p50_ms=%.2f p99_ms=%.2f errors=%lld\n",
	       steady, (double)ps.delivered * o->record_bytes / 1e6 / secs, ps.delivered, secs,
	       startup_ms, pct_ms(ps.lat_us, ps.n_lat, 0.50), pct_ms(ps.lat_us, ps.n_lat, 0.99),
	       ps.errors);
	if (ps.errors > 0) {
		fprintf(stderr, "kafka_bench: %lld delivery errors, first: %s\n", ps.errors,
			ps.first_error);
	}
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	free(value);
	free(ps.lat_us);
	return ps.errors > 0 ? 1 : 0;
}

static rd_kafka_t *consumer_new(const struct opts *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", o->bootstrap);
	set(conf, "group.id", "kafka_bench"); /* required by the API; never joined */
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.auto.offset.store", "false");
	set(conf, "enable.partition.eof", "true");
	set(conf, "check.crcs", "false");
	set(conf, "fetch.wait.max.ms", "100");
	set_int(conf, "fetch.max.bytes", 64 << 20);
	set_int(conf, "max.partition.fetch.bytes", 16 << 20);
	set_int(conf, "receive.message.max.bytes", (64 << 20) + 65536);
	set_int(conf, "queued.max.messages.kbytes", 1 << 20);
	set_int(conf, "queued.min.messages", 1000000);
	set(conf, "socket.receive.buffer.bytes", "8388608");
	if (getenv("KAFKA_BENCH_DEBUG") != NULL) {
		set(conf, "debug", getenv("KAFKA_BENCH_DEBUG"));
	}
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "kafka_bench: rd_kafka_new: %s\n", err);
		exit(1);
	}
	return rk;
}

/* One pass: every partition from the beginning to EOF. Adds to the
 * counters; returns the number of errors. */
static long long consume_pass(rd_kafka_t *rk, const struct opts *o, long long *records,
			      long long *bytes, uint64_t *busy_ns)
{
	uint64_t t0 = 0, t_last = 0;
	long long got = 0;
	rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(o->partitions);
	for (int p = 0; p < o->partitions; p++) {
		rd_kafka_topic_partition_list_add(tps, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, tps);
	rd_kafka_topic_partition_list_destroy(tps);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_bench: assign: %s\n", rd_kafka_err2str(e));
		return 1;
	}
	bool eof[PARTITIONS_MAX] = {false};
	int n_eof = 0;
	long long errors = 0;
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	rd_kafka_message_t *msgs[4096];
	uint64_t deadline = now_ns() + 600ull * 1000000000u;
	while (n_eof < o->partitions && (o->records <= 0 || got < o->records) &&
	       now_ns() < deadline) {
		/* The call waits for the whole batch or the timeout: ask for no
		 * more than the pass still expects, so its end is not a wait. */
		size_t want = 4096;
		if (o->records > 0 && o->records - got < (long long)want) {
			want = (size_t)(o->records - got);
		}
		ssize_t k = rd_kafka_consume_batch_queue(q, 1000, msgs, want);
		for (ssize_t i = 0; i < k; i++) {
			rd_kafka_message_t *m = msgs[i];
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (m->partition >= 0 && m->partition < o->partitions &&
				    !eof[m->partition]) {
					eof[m->partition] = true;
					n_eof++;
				}
			} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				if (errors++ == 0) {
					fprintf(stderr, "kafka_bench: consume: %s\n",
						rd_kafka_message_errstr(m));
				}
			} else {
				if (got++ == 0) {
					t0 = now_ns();
				}
				t_last = now_ns();
				(*records)++;
				*bytes += (long long)m->len;
			}
			rd_kafka_message_destroy(m);
		}
	}
	*busy_ns += t_last - t0;
	if (n_eof < o->partitions && (o->records <= 0 || got < o->records)) {
		fprintf(stderr, "kafka_bench: consume: %d of %d partitions reached their end\n", n_eof,
			o->partitions);
		errors++;
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_assign(rk, NULL);
	return errors;
}

static int consume(const struct opts *o)
{
	if (o->partitions < 1 || o->partitions > PARTITIONS_MAX) {
		usage();
	}
	rd_kafka_t *rk = consumer_new(o);
	long long records = 0, bytes = 0, errors = 0;
	uint64_t busy_ns = 0;
	for (int pass = 0; pass < o->passes; pass++) {
		errors += consume_pass(rk, o, &records, &bytes, &busy_ns);
	}
	double secs = (double)busy_ns / 1e9;
	printf("RESULT consume mb_s=%.1f records=%lld bytes=%lld seconds=%.2f errors=%lld\n",
	       secs > 0 ? (double)bytes / 1e6 / secs : 0.0, records, bytes, secs, errors);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return errors > 0 ? 1 : 0;
}

/* True once Metadata names a leader for each of the topic's partitions. */
static bool leaders_known(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int partitions)
{
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		return false;
	}
	bool ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		  md->topics[0].partition_cnt == partitions;
	for (int i = 0; ok && i < md->topics[0].partition_cnt; i++) {
		ok = md->topics[0].partitions[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		     md->topics[0].partitions[i].leader >= 0;
	}
	rd_kafka_metadata_destroy(md);
	return ok;
}

static int create(const struct opts *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", o->bootstrap);
	set(conf, "allow.auto.create.topics", "false");
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "kafka_bench: rd_kafka_new: %s\n", err);
		return 1;
	}
	rd_kafka_NewTopic_t *nt =
		rd_kafka_NewTopic_new(o->topic, o->partitions, o->replication, err, sizeof(err));
	if (nt == NULL) {
		fprintf(stderr, "kafka_bench: %s\n", err);
		return 1;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
	int rc = 0;
	if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_bench: CreateTopics: %s\n",
			ev == NULL ? "timed out" : rd_kafka_event_error_string(ev));
		rc = 1;
	} else {
		size_t n;
		const rd_kafka_topic_result_t **res =
			rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
		for (size_t i = 0; i < n; i++) {
			if (rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
				fprintf(stderr, "kafka_bench: create %s: %s\n",
					rd_kafka_topic_result_name(res[i]),
					rd_kafka_topic_result_error_string(res[i]));
				rc = 1;
			}
		}
	}
	if (ev != NULL) {
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
	uint64_t deadline = now_ns() + 60ull * 1000000000u;
	while (rc == 0 && !leaders_known(rk, rkt, o->partitions)) {
		if (now_ns() > deadline) {
			fprintf(stderr, "kafka_bench: %s: no leader for every partition after 60 s\n",
				o->topic);
			rc = 1;
		}
		rd_kafka_poll(rk, 100);
	}
	if (rc == 0) {
		printf("RESULT create topic=%s partitions=%d\n", o->topic, o->partitions);
	}
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {.record_bytes = 1024, .linger_ms = 10, .batch_bytes = 1000000, .inflight = 5,
			 .passes = 1, .replication = 3};
	if (argc < 2) {
		usage();
	}
	o.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		if (i + 1 >= argc) {
			usage();
		}
		const char *v = argv[++i];
		if (strcmp(k, "--bootstrap") == 0) {
			o.bootstrap = v;
		} else if (strcmp(k, "--topic") == 0) {
			o.topic = v;
		} else if (strcmp(k, "--bytes") == 0) {
			o.bytes = atoll(v);
		} else if (strcmp(k, "--record-bytes") == 0) {
			o.record_bytes = atoi(v);
		} else if (strcmp(k, "--rate-mbps") == 0) {
			o.rate_mbps = atof(v);
		} else if (strcmp(k, "--linger-ms") == 0) {
			o.linger_ms = atoi(v);
		} else if (strcmp(k, "--batch-bytes") == 0) {
			o.batch_bytes = atoi(v);
		} else if (strcmp(k, "--inflight") == 0) {
			o.inflight = atoi(v);
		} else if (strcmp(k, "--partitions") == 0) {
			o.partitions = atoi(v);
		} else if (strcmp(k, "--replication") == 0) {
			o.replication = atoi(v);
		} else if (strcmp(k, "--records") == 0) {
			o.records = atoll(v);
		} else if (strcmp(k, "--passes") == 0) {
			o.passes = atoi(v);
		} else {
			usage();
		}
	}
	if (o.bootstrap == NULL || o.topic == NULL || o.record_bytes < 1 || o.passes < 1 ||
	    o.batch_bytes < 1024 || o.linger_ms < 0 || o.inflight < 1) {
		usage();
	}
	if (strcmp(o.mode, "produce") == 0) {
		if (o.bytes < o.record_bytes) {
			usage();
		}
		return produce(&o);
	}
	if (strcmp(o.mode, "create") == 0) {
		return o.partitions >= 1 ? create(&o) : (usage(), 2);
	}
	if (strcmp(o.mode, "consume") == 0) {
		return consume(&o);
	}
	usage();
	return 2;
}
