/* Crash matrix for raftlog: a child appends batches through a real writer
 * thread and libuv loop and reports every acknowledged append (index,
 * offset, checksum) and every acknowledged term/vote on a pipe; the parent
 * SIGKILLs it at a random moment (0-200 ms), reopens the log and checks it
 * is a valid prefix (dense offsets and indexes, every batch's CRC) that
 * holds every acknowledged append with identical bytes.
 *
 * Usage: crash_matrix [iterations] [seed]. Defaults: 200 iterations, or 30
 * with SL_TEST_QUICK=1. Prints one summary line; exits 0 only if no
 * acknowledged write was lost. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"

#define IN_FLIGHT 8
#define ITER_PER_DIR 10
#define SEGMENT_BYTES (256u << 10)

/* One acknowledgement on the pipe (< PIPE_BUF, so writes are atomic). */
struct ack {
	uint32_t type; /* 1 = append entry, 2 = term/vote */
	uint32_t crc;
	uint64_t index; /* or the term */
	int64_t offset; /* or the vote */
	uint32_t len;
	uint32_t pad;
};

/* ---- Child -------------------------------------------------------------- */

struct slot {
	struct rl_append_req req;
	uint8_t *bufs[3];
	size_t lens[3];
	unsigned n;
};

struct child {
	uv_loop_t loop;
	struct rl_writer *w;
	struct rl_log *log;
	int fd;
	uint64_t rng;
	uint64_t term;
	unsigned completed;
	struct rl_meta_req meta_req;
	bool meta_busy;
	struct slot slots[IN_FLIGHT];
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void write_ack(struct child *c, const struct ack *a)
{
	if (write(c->fd, a, sizeof(*a)) != (ssize_t)sizeof(*a)) {
		_exit(3);
	}
}

static uint8_t *make_batch(uint64_t *rng, size_t *len)
{
	struct kp_batch_builder b;
	int n = 1 + (int)(rnd(rng) % 8);
	size_t vlen = 16 + rnd(rng) % 4096;
	uint8_t *v = malloc(vlen);
	for (size_t i = 0; i < vlen; i++) {
		v[i] = (uint8_t)rnd(rng);
	}
	if (kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1) != 0) {
		_exit(4);
	}
	for (int r = 0; r < n; r++) {
		if (kp_batch_builder_add(&b, (int64_t)r, NULL, -1, v, (int32_t)vlen, NULL, 0) != 0) {
			_exit(4);
		}
	}
	free(v);
	if (kp_batch_builder_finish(&b) != 0) {
		_exit(4);
	}
	uint8_t *out = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	return out;
}

static void submit(struct child *c, struct slot *s);

static void meta_cb(struct rl_meta_req *req, int status)
{
	struct child *c = req->data;
	if (status != 0) {
		_exit(5);
	}
	struct ack a = {.type = 2, .index = c->term, .offset = (int64_t)c->term % 3 + 1};
	write_ack(c, &a);
	c->meta_busy = false;
}

static struct child *g_child;

static void on_append(struct rl_append_req *req, int status)
{
	struct child *c = g_child;
	struct slot *s = req->data;
	if (status != 0) {
		fprintf(stderr, "child: append failed: %s %s\n", rl_err_name(status),
			rl_log_errmsg(c->log));
		_exit(6);
	}
	int64_t off = req->base_offset;
	for (unsigned i = 0; i < s->n; i++) {
		struct ack a = {.type = 1,
				.crc = kp_crc32c(0, s->bufs[i], s->lens[i]),
				.index = req->first_index + i,
				.offset = off,
				.len = (uint32_t)s->lens[i]};
		struct kp_batch_header h;
		kp_batch_parse_header(s->bufs[i], s->lens[i], &h);
		off += h.last_offset_delta + 1;
		write_ack(c, &a);
		sl_free(s->bufs[i]);
	}
	if (++c->completed % 64 == 0 && !c->meta_busy) {
		c->term++;
		c->meta_busy = true;
		c->meta_req.data = c;
		if (rl_set_term_vote(c->log, &c->meta_req, c->term, c->term % 3 + 1, meta_cb) != 0) {
			_exit(7);
		}
	}
	submit(c, s);
}

static void submit(struct child *c, struct slot *s)
{
	struct rl_entry e[3];
	s->n = 1 + (unsigned)(rnd(&c->rng) % 3);
	for (unsigned i = 0; i < s->n; i++) {
		s->bufs[i] = make_batch(&c->rng, &s->lens[i]);
		e[i] = (struct rl_entry){.term = c->term, .kind = RL_KIND_DATA, .buf = s->bufs[i],
					 .len = s->lens[i]};
	}
	s->req.data = s;
	int rv = rl_append(c->log, &s->req, e, s->n, RL_APPEND_ASSIGN, on_append);
	if (rv != 0) {
		fprintf(stderr, "child: rl_append: %s\n", rl_err_name(rv));
		_exit(8);
	}
}

static _Noreturn void child_main(const char *dir, int fd, uint64_t seed)
{
	static struct child c;
	memset(&c, 0, sizeof(c));
	g_child = &c;
	c.fd = fd;
	c.rng = seed | 1;
	if (uv_loop_init(&c.loop) != 0) {
		_exit(10);
	}
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	if (rl_writer_create(&c.loop, &wc, &c.w) != 0) {
		_exit(11);
	}
	struct rl_log_config cfg;
	rl_log_config_default(&cfg);
	cfg.dir = dir;
	cfg.segment_bytes_max = SEGMENT_BYTES;
	char err[512];
	if (rl_log_open(c.w, &cfg, &c.log, err, sizeof(err)) != 0) {
		fprintf(stderr, "child: open: %s\n", err);
		_exit(12);
	}
	struct rl_log_info li;
	rl_log_get_info(c.log, &li);
	c.term = SL_MAX(li.term, li.last_term);
	c.term = c.term == 0 ? 1 : c.term;
	for (int i = 0; i < IN_FLIGHT; i++) {
		submit(&c, &c.slots[i]);
	}
	uv_run(&c.loop, UV_RUN_DEFAULT);
	_exit(13);
}

/* ---- Parent ------------------------------------------------------------- */

struct history {
	struct ack *acks;
	size_t n;
	size_t cap;
	uint64_t term;
	int64_t vote;
};

static void add_ack(struct history *h, const struct ack *a)
{
	if (a->type == 2) {
		if (a->index >= h->term) {
			h->term = a->index;
			h->vote = a->offset;
		}
		return;
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 1024;
		h->acks = realloc(h->acks, h->cap * sizeof(*h->acks));
	}
	h->acks[h->n++] = *a;
}

/* Reads acks until the deadline (then kills) or EOF. */
static void collect(int fd, pid_t pid, unsigned kill_after_ms, struct history *h)
{
	uint64_t deadline = sl_now_mono_ns() + (uint64_t)kill_after_ms * 1000000u;
	bool killed = false;
	static uint8_t buf[65536];
	size_t have = 0;
	for (;;) {
		uint64_t now = sl_now_mono_ns();
		if (!killed && now >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int wait_ms = killed ? 1000 : (int)((deadline - now) / 1000000u) + 1;
		if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP))) {
			continue;
		}
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0) {
			break;
		}
		have += (size_t)n;
		size_t used = 0;
		while (have - used >= sizeof(struct ack)) {
			struct ack a;
			memcpy(&a, buf + used, sizeof(a));
			add_ack(h, &a);
			used += sizeof(a);
		}
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (!killed) {
		kill(pid, SIGKILL);
	}
}

/* Checks the reopened log; returns the number of lost acknowledged writes
 * (or -1 if the log itself is invalid). */
static long verify(const char *dir, const struct history *h)
{
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	struct rl_writer *w;
	struct rl_log *log;
	struct rl_log_config cfg;
	rl_log_config_default(&cfg);
	cfg.dir = dir;
	cfg.segment_bytes_max = SEGMENT_BYTES;
	char err[512];
	if (rl_writer_create(NULL, &wc, &w) != 0 || rl_log_open(w, &cfg, &log, err, sizeof(err)) != 0) {
		fprintf(stderr, "verify: open failed: %s\n", err);
		return -1;
	}
	long bad = 0;
	static uint8_t buf[1 << 20];
	struct rl_log_info li;
	rl_log_get_info(log, &li);
	int64_t next = li.start_offset;
	for (uint64_t i = li.first_index; i <= li.last_index; i++) {
		struct rl_entry_info ei;
		int rv = rl_entry_read(log, i, buf, sizeof(buf), &ei);
		if (rv != 0 || ei.base_offset != next) {
			fprintf(stderr, "verify: entry %" PRIu64 ": %s\n", i, rl_err_name(rv));
			bad = -1;
			break;
		}
		next = ei.last_offset + 1;
	}
	for (size_t k = 0; bad >= 0 && k < h->n; k++) {
		const struct ack *a = &h->acks[k];
		struct rl_entry_info ei;
		int rv = rl_entry_read(log, a->index, buf, sizeof(buf), &ei);
		if (rv != 0 || ei.base_offset != a->offset || ei.size != a->len ||
		    kp_crc32c(0, buf, ei.size) != a->crc) {
			fprintf(stderr, "verify: acked index %" PRIu64 " lost or changed (%s)\n",
				a->index, rl_err_name(rv));
			bad++;
		}
	}
	if (bad >= 0 && (li.term < h->term || (li.term == h->term && h->term > 0 &&
						 (int64_t)li.vote != h->vote))) {
		fprintf(stderr, "verify: acked term %" PRIu64 " lost (have %" PRIu64 ")\n", h->term,
			li.term);
		bad++;
	}
	rl_log_close(log);
	rl_writer_close(w);
	return bad;
}

int main(int argc, char **argv)
{
	const char *quick = getenv("SL_TEST_QUICK");
	long iterations = quick != NULL && quick[0] == '1' ? 30 : 200;
	if (argc > 1) {
		iterations = atol(argv[1]);
	}
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
	const char *tmp = getenv("TMPDIR");
	char base[4096];
	snprintf(base, sizeof(base), "%s/slcrash.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	sl_log_min_level = SL_LOG_ERROR;
	uint64_t rng = seed | 1;
	struct history h = {0};
	char dir[4200] = "";
	long lost = 0, acked = 0;
	long it;
	for (it = 0; it < iterations && lost == 0; it++) {
		if (it % ITER_PER_DIR == 0) {
			snprintf(dir, sizeof(dir), "%s/log%ld", base, it / ITER_PER_DIR);
			acked += (long)h.n;
			h.n = 0;
			h.term = 0;
		}
		int p[2];
		if (pipe(p) != 0) {
			perror("pipe");
			return 2;
		}
		uint64_t child_seed = rnd(&rng);
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_main(dir, p[1], child_seed);
		}
		close(p[1]);
		collect(p[0], pid, (unsigned)(rnd(&rng) % 201), &h);
		close(p[0]);
		int status;
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "iteration %ld: child exited with %d\n", it, WEXITSTATUS(status));
			lost = lost == 0 ? 1 : lost;
			break;
		}
		long bad = verify(dir, &h);
		if (bad != 0) {
			fprintf(stderr, "iteration %ld (seed %" PRIu64 "): verify failed\n", it, seed);
			lost += bad < 0 ? 1 : bad;
		}
	}
	acked += (long)h.n;
	free(h.acks);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0) {
		fprintf(stderr, "warning: could not remove %s\n", base);
	}
	printf("crash_matrix: iterations=%ld seed=%" PRIu64 " acked=%ld lost_acked=%ld %s\n", it, seed,
	       acked, lost, lost == 0 ? "ok" : "FAILED");
	return lost == 0 ? 0 : 1;
}
