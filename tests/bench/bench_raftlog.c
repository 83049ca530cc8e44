/* raftlog benchmarks. Prints "BENCH <name> <value> <unit>" lines:
 *   disk.seq_write_fdatasync   raw disk: 1 MiB writes, fdatasync after each
 *   raftlog.append_1mib_1p     1 MiB batches, one partition, several in flight
 *   raftlog.append_16kib_100p  16 KiB batches over 100 partitions
 *   raftlog.read_cached        reading the 1 MiB log back by offset ranges
 * plus the ratios to the disk figure and their targets (>= 0.8, >= 0.5).
 * Total bytes per figure: SL_BENCH_DISK_MB (default 1024) MiB. Works in a
 * temp dir under $TMPDIR (or /tmp), removed at the end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"

#define MIB (1u << 20)

static double mb_per_s(uint64_t bytes, uint64_t ns)
{
	return ns == 0 ? 0 : (double)bytes / 1e6 / ((double)ns / 1e9);
}

static double bench_disk(const char *dir, uint64_t total_mib)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/disk.bin", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror("open");
		exit(2);
	}
	uint8_t *buf = malloc(MIB);
	memset(buf, 0x5a, MIB);
	uint64_t t0 = sl_now_mono_ns();
	for (uint64_t i = 0; i < total_mib; i++) {
		if (write(fd, buf, MIB) != (ssize_t)MIB || fdatasync(fd) != 0) {
			perror("write");
			exit(2);
		}
	}
	uint64_t ns = sl_now_mono_ns() - t0;
	close(fd);
	unlink(path);
	free(buf);
	return mb_per_s(total_mib * MIB, ns);
}

/* Build a data batch of about `size` bytes (one record). */
static uint8_t *make_batch(size_t size, size_t *len)
{
	struct kp_batch_builder b;
	size_t vlen = size - 80;
	uint8_t *v = malloc(vlen);
	for (size_t i = 0; i < vlen; i++) {
		v[i] = (uint8_t)(i * 131);
	}
	if (kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1) != 0 ||
	    kp_batch_builder_add(&b, 1, NULL, -1, v, (int32_t)vlen, NULL, 0) != 0 ||
	    kp_batch_builder_finish(&b) != 0) {
		fprintf(stderr, "batch build failed\n");
		exit(2);
	}
	free(v);
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	return out;
}

struct slot {
	struct rl_append_req req;
	struct rl_log *log;
	uint8_t *buf;
	size_t len;
};

struct run {
	uint64_t bytes_left;
	uint64_t bytes_done;
	unsigned in_flight;
};

static struct run g_run;

static void submit(struct slot *s);

static void on_append(struct rl_append_req *req, int status)
{
	struct slot *s = req->data;
	if (status != 0) {
		fprintf(stderr, "append failed: %s\n", rl_log_errmsg(s->log));
		exit(2);
	}
	g_run.in_flight--;
	g_run.bytes_done += s->len;
	if (g_run.bytes_left >= s->len) {
		submit(s);
	}
}

static void submit(struct slot *s)
{
	struct rl_entry e = {.term = 1, .kind = RL_KIND_DATA, .buf = s->buf, .len = s->len};
	s->req.data = s;
	int rv = rl_append(s->log, &s->req, &e, 1, RL_APPEND_ASSIGN, on_append);
	if (rv != 0) {
		fprintf(stderr, "rl_append: %s\n", rl_err_name(rv));
		exit(2);
	}
	g_run.bytes_left -= s->len;
	g_run.in_flight++;
}

/* Appends total bytes of batch_size batches over n_logs logs with
 * per_log in flight each. Leaves the logs open in *logs_out if not NULL. */
static double bench_append(const char *dir, const char *name, unsigned n_logs, size_t batch_size,
			   unsigned per_log, uint64_t total, struct rl_log **log_out,
			   struct rl_writer **w_out, uv_loop_t *loop)
{
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.queue_bytes_max = 2ull << 30;
	struct rl_writer *w;
	if (rl_writer_create(loop, &wc, &w) != 0) {
		exit(2);
	}
	struct rl_log **logs = calloc(n_logs, sizeof(*logs));
	for (unsigned i = 0; i < n_logs; i++) {
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/%s-%u", dir, name, i);
		struct rl_log_config cfg;
		rl_log_config_default(&cfg);
		cfg.dir = sub;
		cfg.batch_bytes_max = 2 * MIB;
		char err[512];
		if (rl_log_open(w, &cfg, &logs[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "open: %s\n", err);
			exit(2);
		}
	}
	size_t len;
	unsigned n_slots = n_logs * per_log;
	struct slot *slots = calloc(n_slots, sizeof(*slots));
	for (unsigned i = 0; i < n_slots; i++) {
		slots[i].buf = make_batch(batch_size, &len);
		slots[i].len = len;
		slots[i].log = logs[i % n_logs];
	}
	g_run = (struct run){.bytes_left = total};
	uint64_t t0 = sl_now_mono_ns();
	for (unsigned i = 0; i < n_slots && g_run.bytes_left >= len; i++) {
		submit(&slots[i]);
	}
	while (g_run.in_flight > 0) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uint64_t ns = sl_now_mono_ns() - t0;
	for (unsigned i = 0; i < n_slots; i++) {
		sl_free(slots[i].buf);
	}
	free(slots);
	if (log_out != NULL) {
		*log_out = logs[0];
		*w_out = w;
	} else {
		for (unsigned i = 0; i < n_logs; i++) {
			rl_log_close(logs[i]);
		}
		rl_writer_close(w);
		uv_run(loop, UV_RUN_DEFAULT);
	}
	free(logs);
	return mb_per_s(g_run.bytes_done, ns);
}

static double bench_read(struct rl_log *log)
{
	struct rl_log_info li;
	rl_log_get_info(log, &li);
	uint64_t bytes = 0;
	uint64_t t0 = sl_now_mono_ns();
	int64_t off = li.start_offset;
	while (off < li.durable_offset) {
		uint8_t *buf;
		size_t len;
		int64_t next;
		if (rl_read_copy(log, off, li.durable_offset, MIB, &buf, &len, &next) != 0 || len == 0) {
			fprintf(stderr, "read failed at %lld\n", (long long)off);
			exit(2);
		}
		bytes += len;
		sl_free(buf);
		off = next;
	}
	return mb_per_s(bytes, sl_now_mono_ns() - t0);
}

int main(void)
{
	const char *env = getenv("SL_BENCH_DISK_MB");
	uint64_t total_mib = env != NULL && atol(env) > 0 ? (uint64_t)atol(env) : 1024;
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/slbench.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	double disk = bench_disk(dir, total_mib);
	printf("BENCH disk.seq_write_fdatasync %.1f MB/s\n", disk);
	fflush(stdout);
	struct rl_log *log;
	struct rl_writer *w;
	double a1 = bench_append(dir, "p1", 1, MIB, 8, total_mib * MIB, &log, &w, &loop);
	printf("BENCH raftlog.append_1mib_1p %.1f MB/s\n", a1);
	fflush(stdout);
	double rd = bench_read(log);
	rl_log_close(log);
	rl_writer_close(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	double a100 = bench_append(dir, "p100", 100, 16 * 1024, 32, total_mib * MIB, NULL, NULL,
				   &loop);
	printf("BENCH raftlog.append_16kib_100p %.1f MB/s\n", a100);
	printf("BENCH raftlog.read_cached %.1f MB/s\n", rd);
	printf("BENCH raftlog.append_1mib_1p_per_disk %.2f ratio (target >= 0.8)\n", a1 / disk);
	printf("BENCH raftlog.append_16kib_100p_per_disk %.2f ratio (target >= 0.5)\n", a100 / disk);
	uv_loop_close(&loop);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
