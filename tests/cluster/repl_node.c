/* Replication test node: one process hosting G Raft groups over the real
 * transport, partition manager and disks, with a built-in load generator,
 * and a checker for the logs several such processes leave behind.
 *
 *   repl_node serve --id I --peers 1=host:port,2=host:port,... --dir D
 *             --groups G [--load] [--record-bytes 1024] [--batch-records 256]
 *             [--inflight 8] [--rate-mbps R] [--acklog FILE] [--acks all|1]
 *             [--snapshot-threshold N] [--snapshot-trailing M]
 *             [--stats-ms 1000] [--heartbeat-ms 100] [--election-ms 1000]
 *             [--control] [--coalesce-bytes N]
 *   repl_node check --dirs D1,D2,D3 --groups G --acklogs A1,A2,... [--same-start]
 *
 * serve: groups 1..G are bootstrapped with every peer as a voter. With
 * --load, whenever this node leads a group it keeps `inflight` batches
 * submitted to it; each acknowledged batch is appended to the ack log as
 * "<group> <base_offset> <records> <digest>", digest being the CRC-32C of
 * its records' kp_record_crc values (the group may merge batches into one
 * entry, so the stored batch is not the submitted one; its records are).
 * --coalesce-bytes sets the groups' coalesce_bytes_max (0: no merging). A
 * STATS line is printed every stats-ms: acked bytes, latency percentiles,
 * groups led, entries and merges. SIGTERM closes everything cleanly and
 * exits 0.
 *
 * Events, one line each, times in microseconds of CLOCK_MONOTONIC (shared
 * by the processes of one machine):
 *   ROLE id= group= role= term= t_us= rejected= early=
 *     a role change; on leaving leadership, rejected counts the submissions
 *     that failed since this node was asked to transfer the group (made
 *     during the transfer's hold window) and early those that failed
 *     although made before the request (0 unless leadership was lost
 *     otherwise than by the transfer).
 *   FIRSTACK id= group= term= t_us=   first write acknowledged as leader
 *   TRANSFER id= group= target= rv= t_us=   a transfer was requested
 * With --control, commands are read from stdin, one a line:
 *   transfer <group> <target id>   calls rl_group_transfer()
 * A bad command is reported on stderr ("CONTROL error=...") and ignored.
 *
 * check: reads every replica's logs and checks, per group, that offsets are
 * dense, that replicas hold identical batches (index, offset, CRC) up to the
 * shortest log, and that every acknowledged batch's records are present in
 * every replica at its offsets (alone or inside a merged entry). With --same-start, every replica of a group must also
 * have the same log start offset (nothing runs retention here, so replicas
 * that caught up by range transfer keep the whole log; a metadata-only
 * install would restart a follower's log past the start). Exits 0 when all
 * hold. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/sl_common.h"
#include "proto/proto.h"
#include "raftlog/raftlog.h"
#include "server/pm.h"
#include "server/transport.h"

#define PEERS_MAX 8
#define LAT_MAX (1u << 20)

struct peer {
	uint64_t id;
	char host[64];
	uint16_t port;
};

struct sub {
	struct rl_submit_req req;
	struct gload *gl;
	uint64_t t0_ns;
	int32_t records;
	uint32_t digest;
	size_t len;
};

struct gload {
	struct sd_part *part;
	uint64_t group_id;
	bool leader;
	bool first_ack;     /* leader: no write acknowledged yet */
	unsigned inflight;
	uint64_t seq;
	uint64_t xfer_ns;   /* leader: when a transfer was requested, 0 = none */
	unsigned xfer_rejected, xfer_early;
};

static struct {
	uint64_t id;
	struct peer peers[PEERS_MAX];
	unsigned n_peers;
	const char *dir;
	unsigned groups;
	bool load;
	unsigned record_bytes, batch_records, inflight_max, stats_ms;
	double rate_mbps;
	enum rl_acks acks;
	FILE *acklog;
	unsigned snap_threshold, snap_trailing, heartbeat_ms, election_ms;
	long coalesce_bytes; /* -1: the group default */
	bool same_start;
	bool control;

	uv_loop_t loop;
	struct sl_transport t;
	struct sd_pm *pm;
	struct gload *gl;
	uv_timer_t pump_timer, stats_timer;
	uv_signal_t sigterm, sigint;
	uv_pipe_t ctl;
	bool ctl_open;
	char ctl_line[256];
	size_t ctl_len;
	bool ctl_overlong;
	uint64_t start_ns, submitted_bytes, acked_bytes, acked_batches, failed;
	uint64_t interval_bytes;
	uint32_t *lat_us;
	unsigned n_lat;
	bool stopping;
	uint8_t *value;
} s;

static void die(const char *what)
{
	fprintf(stderr, "repl_node: %s\n", what);
	exit(2);
}

static void parse_peers(const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct peer *p = &s.peers[s.n_peers];
		char host[64];
		unsigned long long id;
		unsigned port;
		if (s.n_peers == PEERS_MAX || sscanf(tok, "%llu=%63[^:]:%u", &id, host, &port) != 3) {
			die("bad --peers (want 1=host:port,...)");
		}
		p->id = id;
		snprintf(p->host, sizeof(p->host), "%s", host);
		p->port = (uint16_t)port;
		s.n_peers++;
	}
	free(copy);
}

/* ---- Load -------------------------------------------------------------- */

/* The kp_record_crc of every record of a batch (malloc'd into *out);
 * returns the count, or -1 when the records do not decode. */
static int record_crcs(const uint8_t *batch, size_t len, uint32_t **out)
{
	struct kp_batch_header h;
	struct kp_record_iter it;
	struct kp_record rec;
	*out = NULL;
	if (kp_batch_parse_header(batch, len, &h) != 0 || kp_record_iter_init(&it, batch, len) != 0) {
		return -1;
	}
	uint32_t *crcs = malloc(((size_t)h.records_count + 1) * sizeof(*crcs));
	int n = 0, rc;
	while (crcs != NULL && (rc = kp_record_iter_next(&it, &rec)) == 1 && n < h.records_count) {
		crcs[n++] = kp_record_crc(&rec);
	}
	kp_record_iter_free(&it);
	if (crcs == NULL || n != h.records_count) {
		free(crcs);
		return -1;
	}
	*out = crcs;
	return n;
}

/* What the ack log records of n records: a CRC-32C of their CRCs. */
static uint32_t records_digest(const uint32_t *crcs, size_t n)
{
	return kp_crc32c(0, crcs, n * sizeof(*crcs));
}

static uint8_t *build_batch(struct gload *g, size_t *len, uint32_t *digest)
{
	struct kp_batch_builder b;
	if (kp_batch_builder_init(&b, 0, KP_CODEC_NONE, -1, -1, -1) != 0) {
		die("builder");
	}
	int64_t ts = (int64_t)sl_now_wall_ms();
	for (unsigned i = 0; i < s.batch_records; i++) {
		uint64_t tag = (s.id << 48) ^ (g->group_id << 40) ^ (g->seq << 8) ^ i;
		memcpy(s.value, &tag, sizeof(tag));
		if (kp_batch_builder_add(&b, ts, NULL, -1, s.value, (int32_t)s.record_bytes, NULL, 0) !=
		    0) {
			die("builder add");
		}
	}
	g->seq++;
	if (kp_batch_builder_finish(&b) != 0) {
		die("builder finish");
	}
	uint8_t *buf = kp_batch_builder_take(&b, len);
	kp_batch_builder_free(&b);
	uint32_t *crcs;
	int n = record_crcs(buf, *len, &crcs);
	if (n < 0) {
		die("own batch does not decode");
	}
	*digest = records_digest(crcs, (size_t)n);
	free(crcs);
	return buf;
}

static void pump(struct gload *g);

/* Prints one event line: name, ids, term, time, then extra. */
static void print_event(const char *name, struct gload *g, const char *extra)
{
	struct rl_group_status st = {0};
	struct rl_group *grp = sd_part_group(g->part);
	if (grp != NULL) {
		rl_group_get_status(grp, &st);
	}
	printf("%s id=%llu group=%llu term=%llu t_us=%llu%s%s\n", name, (unsigned long long)s.id,
	       (unsigned long long)g->group_id, (unsigned long long)st.term,
	       (unsigned long long)(sl_now_mono_ns() / 1000), extra[0] ? " " : "", extra);
	fflush(stdout);
}

static void submit_done(struct rl_submit_req *req, int status)
{
	struct sub *sb = req->data;
	struct gload *g = sb->gl;
	g->inflight--;
	if (status == 0) {
		uint64_t us = (sl_now_mono_ns() - sb->t0_ns) / 1000;
		if (s.n_lat < LAT_MAX) {
			s.lat_us[s.n_lat++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
		}
		s.acked_bytes += sb->len;
		s.interval_bytes += sb->len;
		s.acked_batches++;
		if (s.acklog != NULL) {
			fprintf(s.acklog, "%llu %lld %d %u\n", (unsigned long long)g->group_id,
				(long long)req->base_offset, sb->records, sb->digest);
			fflush(s.acklog);
		}
		if (g->first_ack) {
			g->first_ack = false;
			print_event("FIRSTACK", g, "");
		}
	} else {
		s.failed++;
		if (g->xfer_ns != 0 && sb->t0_ns >= g->xfer_ns) {
			g->xfer_rejected++;
		} else if (g->xfer_ns != 0) {
			g->xfer_early++;
		}
	}
	free(sb);
	pump(g);
}

static bool rate_allows(void)
{
	if (s.rate_mbps <= 0) {
		return true;
	}
	double elapsed_s = (double)(sl_now_mono_ns() - s.start_ns) / 1e9;
	return (double)s.submitted_bytes < s.rate_mbps * 1e6 * elapsed_s;
}

static void pump(struct gload *g)
{
	while (s.load && !s.stopping && g->leader && g->inflight < s.inflight_max && rate_allows()) {
		struct sub *sb = calloc(1, sizeof(*sb));
		uint32_t digest;
		size_t len;
		uint8_t *buf = build_batch(g, &len, &digest);
		sb->gl = g;
		sb->req.data = sb;
		sb->records = (int32_t)s.batch_records;
		sb->digest = digest;
		sb->len = len;
		sb->t0_ns = sl_now_mono_ns();
		int rv = sd_part_submit(g->part, &sb->req, buf, len, s.acks, submit_done);
		if (rv != 0) {
			sl_free(buf);
			free(sb);
			if (rv == RL_ENOTLEADER) {
				g->leader = false;
			}
			return;
		}
		s.submitted_bytes += len;
		g->inflight++;
	}
}

static void pump_all(uv_timer_t *t)
{
	(void)t;
	for (unsigned i = 0; i < s.groups; i++) {
		pump(&s.gl[i]);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void print_stats(uv_timer_t *t)
{
	(void)t;
	unsigned leaders = 0;
	for (unsigned i = 0; i < s.groups; i++) {
		leaders += s.gl[i].leader;
	}
	uint32_t p50 = 0, p99 = 0;
	if (s.n_lat > 0) {
		qsort(s.lat_us, s.n_lat, sizeof(*s.lat_us), cmp_u32);
		p50 = s.lat_us[s.n_lat / 2];
		p99 = s.lat_us[(size_t)s.n_lat * 99 / 100];
	}
	struct rl_catchup_stats cu = {0};
	struct rl_submit_stats ss = {0};
	for (unsigned i = 0; i < s.groups; i++) {
		struct rl_group *g = sd_part_group(s.gl[i].part);
		if (g == NULL) {
			continue;
		}
		struct rl_submit_stats sone;
		rl_group_submit_stats(g, &sone);
		ss.entries += sone.entries;
		ss.merged_entries += sone.merged_entries;
		ss.merged_batches += sone.merged_batches;
		ss.append_splits += sone.append_splits;
		struct rl_catchup_stats one;
		rl_group_catchup_stats(g, &one);
		cu.transfers += one.transfers;
		cu.requests_sent += one.requests_sent;
		cu.bytes_received += one.bytes_received;
		cu.windows_appended += one.windows_appended;
		cu.installs += one.installs;
		cu.bytes_sent += one.bytes_sent;
		cu.windows_served += one.windows_served;
	}
	double secs = (double)s.stats_ms / 1000.0;
	printf("STATS id=%llu leaders=%u acked_batches=%llu acked_bytes=%llu mbps=%.1f "
	       "p50_us=%u p99_us=%u samples=%u failed=%llu cu_transfers=%llu cu_requests=%llu "
	       "cu_received=%llu cu_windows=%llu cu_installs=%llu cu_sent=%llu cu_served=%llu "
	       "entries=%llu merged_entries=%llu merged_batches=%llu append_splits=%llu\n",
	       (unsigned long long)s.id, leaders, (unsigned long long)s.acked_batches,
	       (unsigned long long)s.acked_bytes, (double)s.interval_bytes / 1e6 / secs, p50, p99,
	       s.n_lat, (unsigned long long)s.failed, (unsigned long long)cu.transfers,
	       (unsigned long long)cu.requests_sent, (unsigned long long)cu.bytes_received,
	       (unsigned long long)cu.windows_appended, (unsigned long long)cu.installs,
	       (unsigned long long)cu.bytes_sent, (unsigned long long)cu.windows_served,
	       (unsigned long long)ss.entries, (unsigned long long)ss.merged_entries,
	       (unsigned long long)ss.merged_batches, (unsigned long long)ss.append_splits);
	fflush(stdout);
	s.interval_bytes = 0;
	s.n_lat = 0;
}

/* ---- Callbacks --------------------------------------------------------- */

static void on_role(struct sd_part *p, int old_role, int new_role)
{
	(void)old_role;
	struct gload *g = sd_part_data(p);
	char extra[96];
	snprintf(extra, sizeof(extra), "role=%d rejected=%u early=%u", new_role, g->xfer_rejected,
		 g->xfer_early);
	g->leader = new_role == RAFT_LEADER;
	g->first_ack = g->leader;
	g->xfer_ns = 0;
	g->xfer_rejected = g->xfer_early = 0;
	print_event("ROLE", g, extra);
	pump(g);
}

static void on_failed(struct sd_part *p, int err, const char *msg)
{
	fprintf(stderr, "repl_node: group %llu failed: %s: %s\n",
		(unsigned long long)sd_part_group_id(p), rl_err_name(err), msg);
	exit(3);
}

static void on_frame(struct sl_transport *t, const struct sl_transport_frame *f)
{
	(void)t;
	sd_pm_recv(s.pm, f);
}

static void pm_closed(void *arg)
{
	(void)arg;
	sl_transport_close(&s.t, NULL);
	uv_close((uv_handle_t *)&s.pump_timer, NULL);
	uv_close((uv_handle_t *)&s.stats_timer, NULL);
	uv_close((uv_handle_t *)&s.sigterm, NULL);
	uv_close((uv_handle_t *)&s.sigint, NULL);
	if (s.ctl_open) {
		s.ctl_open = false;
		uv_close((uv_handle_t *)&s.ctl, NULL);
	}
}

/* ---- Control (stdin) --------------------------------------------------- */

static void ctl_transfer(unsigned long long group, unsigned long long target)
{
	if (group == 0 || group > s.groups) {
		fprintf(stderr, "CONTROL error=\"no group %llu\"\n", group);
		return;
	}
	struct gload *g = &s.gl[group - 1];
	struct rl_group *grp = sd_part_group(g->part);
	int rv = grp == NULL ? RL_ENOTLEADER : rl_group_transfer(grp, target, uv_now(&s.loop));
	if (grp != NULL) {
		sd_part_touch(g->part);
	}
	if (rv == 0 && g->xfer_ns == 0) {
		g->xfer_ns = sl_now_mono_ns();
	}
	char extra[96];
	snprintf(extra, sizeof(extra), "target=%llu rv=%s", target, rv == 0 ? "OK" : rl_err_name(rv));
	print_event("TRANSFER", g, extra);
}

static void ctl_command(char *line)
{
	unsigned long long group, target;
	char extra;
	if (sscanf(line, "transfer %llu %llu %c", &group, &target, &extra) == 2) {
		ctl_transfer(group, target);
	} else if (line[0] != '\0') {
		fprintf(stderr, "CONTROL error=\"unknown command\" line=\"%s\"\n", line);
	}
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	static char chunk[4096];
	*buf = uv_buf_init(chunk, sizeof(chunk));
}

/* Splits stdin into lines; an overlong line is reported and dropped. */
static void ctl_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0) {
		if (s.ctl_open) {
			s.ctl_open = false;
			uv_close((uv_handle_t *)st, NULL);
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];
		if (ch == '\n') {
			s.ctl_line[s.ctl_len] = '\0';
			if (s.ctl_overlong) {
				fprintf(stderr, "CONTROL error=\"line too long\"\n");
			} else if (!s.stopping) {
				ctl_command(s.ctl_line);
			}
			s.ctl_len = 0;
			s.ctl_overlong = false;
		} else if (s.ctl_len + 1 < sizeof(s.ctl_line)) {
			s.ctl_line[s.ctl_len++] = ch;
		} else {
			s.ctl_overlong = true;
		}
	}
}

static void setup_control(void)
{
	if (uv_guess_handle(0) != UV_NAMED_PIPE || uv_pipe_init(&s.loop, &s.ctl, 0) != 0 ||
	    uv_pipe_open(&s.ctl, 0) != 0 ||
	    uv_read_start((uv_stream_t *)&s.ctl, ctl_alloc, ctl_read) != 0) {
		die("--control needs stdin to be a pipe");
	}
	s.ctl_open = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	if (s.stopping) {
		return;
	}
	s.stopping = true;
	uv_timer_stop(&s.pump_timer);
	uv_timer_stop(&s.stats_timer);
	sd_pm_close(s.pm, pm_closed, NULL);
}

static void setup_transport(void)
{
	struct sl_transport_config tc;
	sl_transport_config_init(&tc);
	tc.cluster_id = "repl";
	tc.backoff_base_ms = 50;
	tc.backoff_max_ms = 500;
	struct sl_transport_callbacks cb = {.recv = on_frame, .peer = NULL};
	const struct peer *self = NULL;
	for (unsigned i = 0; i < s.n_peers; i++) {
		if (s.peers[i].id == s.id) {
			self = &s.peers[i];
		}
	}
	if (self == NULL) {
		die("--id not in --peers");
	}
	if (sl_transport_init(&s.t, &s.loop, s.id, self->host, self->port, &tc, &cb) != 0 ||
	    sl_transport_listen(&s.t) != 0) {
		die("transport listen failed");
	}
	for (unsigned i = 0; i < s.n_peers; i++) {
		if (s.peers[i].id != s.id &&
		    sl_transport_add_peer(&s.t, s.peers[i].id, s.peers[i].host, s.peers[i].port) !=
			0) {
			die("add peer");
		}
	}
}

static void setup_groups(void)
{
	struct sd_pm_config pc;
	sd_pm_config_default(&pc);
	pc.self_id = s.id;
	pc.data_dir = s.dir;
	pc.segment_bytes_max = 64u << 20;
	pc.group.heartbeat_timeout_ms = s.heartbeat_ms;
	pc.group.election_timeout_ms = s.election_ms;
	if (s.snap_threshold > 0) {
		pc.group.snapshot_threshold = s.snap_threshold;
		pc.group.snapshot_trailing = s.snap_trailing;
	}
	if (s.coalesce_bytes >= 0) {
		pc.group.coalesce_bytes_max = (uint32_t)s.coalesce_bytes;
	}
	struct sd_pm_callbacks cbs = {.role_changed = on_role, .failed = on_failed};
	if (sd_pm_create(&s.loop, &s.t, &pc, &cbs, &s.pm) != 0) {
		die("pm create");
	}
	uint64_t voters[PEERS_MAX];
	for (unsigned i = 0; i < s.n_peers; i++) {
		voters[i] = s.peers[i].id;
	}
	s.gl = calloc(s.groups, sizeof(*s.gl));
	for (unsigned i = 0; i < s.groups; i++) {
		char name[32], err[256];
		snprintf(name, sizeof(name), "g%u", i + 1);
		struct sd_part_opts o = {.group_id = i + 1, .dir_name = name, .voters = voters,
					 .n_voters = s.n_peers};
		s.gl[i].group_id = i + 1;
		if (sd_pm_open_partition(s.pm, &o, &s.gl[i].part, err, sizeof(err)) != 0) {
			fprintf(stderr, "repl_node: open %s: %s\n", name, err);
			exit(2);
		}
		sd_part_set_data(s.gl[i].part, &s.gl[i]);
	}
}

static int serve(void)
{
	if (s.dir == NULL || s.n_peers == 0 || s.id == 0 || s.groups == 0) {
		die("serve needs --id, --peers, --dir, --groups");
	}
	signal(SIGPIPE, SIG_IGN);
	sl_alloc_tune_for_service(); /* as stretchlogd */
	uv_loop_init(&s.loop);
	s.value = calloc(1, s.record_bytes + 8);
	s.lat_us = malloc(sizeof(*s.lat_us) * LAT_MAX);
	s.start_ns = sl_now_mono_ns();
	setup_transport();
	setup_groups();
	uv_timer_init(&s.loop, &s.pump_timer);
	uv_timer_start(&s.pump_timer, pump_all, 1, 1);
	uv_timer_init(&s.loop, &s.stats_timer);
	uv_timer_start(&s.stats_timer, print_stats, s.stats_ms, s.stats_ms);
	uv_signal_init(&s.loop, &s.sigterm);
	uv_signal_start(&s.sigterm, on_signal, SIGTERM);
	uv_signal_init(&s.loop, &s.sigint);
	uv_signal_start(&s.sigint, on_signal, SIGINT);
	if (s.control) {
		setup_control();
	}
	uv_run(&s.loop, UV_RUN_DEFAULT);
	uv_loop_close(&s.loop);
	printf("EXIT id=%llu acked_batches=%llu\n", (unsigned long long)s.id,
	       (unsigned long long)s.acked_batches);
	return 0;
}

/* ---- Checker ----------------------------------------------------------- */

struct rec {
	uint64_t index;
	int64_t offset, next;
	uint32_t crc;
	int kind;
	uint32_t *rcrc; /* data entries: kp_record_crc of each record */
};

struct replica_log {
	struct rec *r;
	size_t n;
	int64_t start_offset;
};

static int load_log(const char *dir, struct replica_log *out)
{
	struct rl_writer_config wc;
	rl_writer_config_default(&wc);
	wc.manual = true;
	struct rl_writer *w;
	if (rl_writer_create(NULL, &wc, &w) != 0) {
		return -1;
	}
	struct rl_log_config lc;
	rl_log_config_default(&lc);
	lc.dir = dir;
	struct rl_log *log;
	char err[256];
	if (rl_log_open(w, &lc, &log, err, sizeof(err)) != 0) {
		fprintf(stderr, "check: open %s: %s\n", dir, err);
		rl_writer_close(w);
		return -1;
	}
	struct rl_log_info info;
	rl_log_get_info(log, &info);
	out->start_offset = info.start_offset;
	out->n = 0;
	out->r = calloc(info.last_index - info.first_index + 2, sizeof(*out->r));
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	int rv = 0;
	for (uint64_t i = info.first_index; i <= info.last_index && info.last_index > 0; i++) {
		struct rl_entry_info ei;
		int e = rl_entry_read(log, i, buf, cap, &ei);
		if (e == RL_ETOOSMALL) {
			cap = ei.size;
			buf = realloc(buf, cap);
			e = rl_entry_read(log, i, buf, cap, &ei);
		}
		if (e != 0) {
			fprintf(stderr, "check: %s index %llu: %s\n", dir, (unsigned long long)i,
				rl_err_name(e));
			rv = -1;
			break;
		}
		struct kp_batch_header h;
		kp_batch_parse_header(buf, ei.size, &h);
		uint32_t *rcrc = NULL;
		if (ei.kind == RL_KIND_DATA &&
		    record_crcs(buf, ei.size, &rcrc) != ei.last_offset - ei.base_offset + 1) {
			fprintf(stderr, "check: %s index %llu: records do not decode\n", dir,
				(unsigned long long)i);
			free(rcrc);
			rcrc = NULL;
			rv = -1;
		}
		out->r[out->n++] = (struct rec){i, ei.base_offset, ei.last_offset + 1, h.crc,
						(int)ei.kind, rcrc};
	}
	free(buf);
	rl_log_close(log);
	rl_writer_close(w);
	return rv;
}

/* The entry whose batch starts at off, or NULL. */
static const struct rec *find_offset(const struct replica_log *l, int64_t off)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->r[mid].offset < off) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < l->n && l->r[lo].offset == off ? &l->r[lo] : NULL;
}

/* The entry that holds offset off, or NULL. */
static const struct rec *find_containing(const struct replica_log *l, int64_t off)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->r[mid].next <= off) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo < l->n && l->r[lo].offset <= off ? &l->r[lo] : NULL;
}

/* Whether entry r holds recs records at off..off+recs-1 with this digest. */
static bool holds_records(const struct rec *r, int64_t off, int recs, uint32_t digest)
{
	return r != NULL && r->rcrc != NULL && recs > 0 && off + recs <= r->next &&
	       records_digest(r->rcrc + (off - r->offset), (size_t)recs) == digest;
}

static int check_group(char **dirs, unsigned n_dirs, unsigned g, char **acklogs, unsigned n_ack,
		       uint64_t *acks_checked)
{
	struct replica_log logs[PEERS_MAX];
	int bad = 0;
	size_t shortest = SIZE_MAX;
	for (unsigned i = 0; i < n_dirs; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s/g%u", dirs[i], g);
		if (load_log(path, &logs[i]) != 0) {
			return 1;
		}
		for (size_t k = 1; k < logs[i].n; k++) {
			if (logs[i].r[k].offset != logs[i].r[k - 1].next) {
				printf("FAIL group=%u replica=%u offsets not dense at index %llu\n", g, i,
				       (unsigned long long)logs[i].r[k].index);
				bad = 1;
			}
		}
		if (logs[i].n < shortest) {
			shortest = logs[i].n;
		}
	}
	/* Replicas keep the same log start (catch-up by range transfer). */
	for (unsigned i = 1; s.same_start && i < n_dirs; i++) {
		if (logs[i].start_offset != logs[0].start_offset) {
			printf("FAIL group=%u replica %u starts at offset %lld, replica 0 at %lld\n", g,
			       i, (long long)logs[i].start_offset, (long long)logs[0].start_offset);
			bad = 1;
		}
	}
	/* Replicas agree on every index they share. */
	for (unsigned i = 1; i < n_dirs; i++) {
		for (size_t k = 0; k < logs[i].n; k++) {
			const struct rec *a = &logs[i].r[k];
			const struct rec *b = find_offset(&logs[0], a->offset);
			if (b != NULL && (b->crc != a->crc || b->index != a->index)) {
				printf("FAIL group=%u replica %u differs from replica 0 at offset %lld\n",
				       g, i, (long long)a->offset);
				bad = 1;
				break;
			}
		}
	}
	/* Every acknowledged batch is everywhere, and no offset was reused. */
	for (unsigned a = 0; a < n_ack; a++) {
		FILE *f = fopen(acklogs[a], "r");
		if (f == NULL) {
			continue;
		}
		unsigned long long gg;
		long long off;
		int recs;
		unsigned digest;
		while (fscanf(f, "%llu %lld %d %u", &gg, &off, &recs, &digest) == 4) {
			if (gg != g) {
				continue;
			}
			(*acks_checked)++;
			for (unsigned i = 0; i < n_dirs; i++) {
				const struct rec *r = find_containing(&logs[i], off);
				if (off < logs[i].start_offset) {
					continue; /* below the retained log */
				}
				if (!holds_records(r, off, recs, digest)) {
					printf("FAIL group=%u acked batch at offset %lld (%s) %s on "
					       "replica %u\n",
					       g, off, acklogs[a], r ? "differs" : "missing", i);
					bad = 1;
				}
			}
		}
		fclose(f);
	}
	printf("CHECK group=%u replicas=%u batches=%zu start_offsets=", g, n_dirs, shortest);
	for (unsigned i = 0; i < n_dirs; i++) {
		printf("%s%lld", i ? "," : "", (long long)logs[i].start_offset);
		for (size_t k = 0; k < logs[i].n; k++) {
			free(logs[i].r[k].rcrc);
		}
		free(logs[i].r);
	}
	printf("\n");
	return bad;
}

static unsigned split(char *arg, char **out, unsigned max)
{
	unsigned n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(arg, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
		out[n++] = tok;
	}
	return n;
}

static int check(char *dirs_arg, char *acks_arg)
{
	char *dirs[PEERS_MAX], *acks[64];
	unsigned nd = split(dirs_arg, dirs, PEERS_MAX);
	unsigned na = acks_arg ? split(acks_arg, acks, 64) : 0;
	int bad = 0;
	uint64_t checked = 0;
	for (unsigned g = 1; g <= s.groups; g++) {
		bad |= check_group(dirs, nd, g, acks, na, &checked);
	}
	printf("CHECK %s acked_batches_checked=%llu\n", bad ? "FAILED" : "OK",
	       (unsigned long long)checked);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		die("usage: repl_node serve|check ...");
	}
	s.record_bytes = 1024;
	s.batch_records = 256;
	s.inflight_max = 8;
	s.stats_ms = 1000;
	s.acks = RL_ACKS_ALL;
	s.heartbeat_ms = 100;
	s.election_ms = 1000;
	s.coalesce_bytes = -1;
	sl_log_min_level = SL_LOG_WARN;
	char *dirs = NULL, *acklogs = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
		if (OPT("--id")) {
			s.id = strtoull(v, NULL, 10);
		} else if (OPT("--peers")) {
			parse_peers(v);
		} else if (OPT("--dir")) {
			s.dir = v;
		} else if (OPT("--groups")) {
			s.groups = (unsigned)atoi(v);
		} else if (strcmp(a, "--load") == 0) {
			s.load = true;
		} else if (OPT("--record-bytes")) {
			s.record_bytes = (unsigned)atoi(v);
		} else if (OPT("--batch-records")) {
			s.batch_records = (unsigned)atoi(v);
		} else if (OPT("--inflight")) {
			s.inflight_max = (unsigned)atoi(v);
		} else if (OPT("--rate-mbps")) {
			s.rate_mbps = atof(v);
		} else if (OPT("--acklog")) {
			s.acklog = fopen(v, "a");
			if (s.acklog == NULL) {
				die("cannot open --acklog");
			}
		} else if (OPT("--acks")) {
			s.acks = strcmp(v, "1") == 0 ? RL_ACKS_LEADER : RL_ACKS_ALL;
		} else if (OPT("--snapshot-threshold")) {
			s.snap_threshold = (unsigned)atoi(v);
		} else if (OPT("--snapshot-trailing")) {
			s.snap_trailing = (unsigned)atoi(v);
		} else if (OPT("--stats-ms")) {
			s.stats_ms = (unsigned)atoi(v);
		} else if (OPT("--heartbeat-ms")) {
			s.heartbeat_ms = (unsigned)atoi(v);
		} else if (OPT("--election-ms")) {
			s.election_ms = (unsigned)atoi(v);
		} else if (OPT("--coalesce-bytes")) {
			s.coalesce_bytes = atol(v);
		} else if (OPT("--dirs")) {
			dirs = argv[i];
		} else if (OPT("--acklogs")) {
			acklogs = argv[i];
		} else if (strcmp(a, "--same-start") == 0) {
			s.same_start = true;
		} else if (strcmp(a, "--control") == 0) {
			s.control = true;
		} else {
			fprintf(stderr, "repl_node: unknown or incomplete option %s\n", a);
			return 2;
		}
#undef OPT
	}
	if (strcmp(argv[1], "serve") == 0) {
		return serve();
	}
	if (strcmp(argv[1], "check") == 0 && dirs != NULL && s.groups > 0) {
		return check(dirs, acklogs);
	}
	die("usage: repl_node serve|check ...");
	return 2;
}
