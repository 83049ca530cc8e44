/* The deterministic cluster simulator's command line: runs a range of
 * seeds, each in its own child process (jobs at a time), prints one summary
 * line and the failed seeds, and exits non-zero if any seed violated an
 * invariant (its failure line says what, at which step, and how to replay
 * it; a single seed runs in process).
 *
 *   sim [--seeds N] [--seed FIRST] [--jobs J] [--scenario NAME] [--strict]
 *       [-v|-vv|-vvv]
 *
 * --scenario: chaos (random faults, pinning, consumers), region-fail,
 * follower-cut (scenario.c), or draw (the default: each seed picks, mostly
 * chaos).
 *
 * A seed that runs into a known issue (a bug already reported outside the
 * simulator, recognised by its exact signature: sim_known()) is listed as
 * known and does not fail the run, unless --strict.
 *
 * A seed's run depends only on the seed: replaying it with -v prints the
 * same events in the same order. Wall-clock time is read here only, for
 * the summary line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sl_common.h"
#include "tests/sim/sim.h"

#define JOBS_MAX 64
#define SHOWN_MAX 32

#define KNOWN_KINDS_MAX 8

/* Seeds by outcome, for the closing lines. */
struct outcome {
	uint64_t seeds[SHOWN_MAX];
	unsigned n;
};

/* Seeds that hit known issues, by issue. */
struct known {
	char name[KNOWN_KINDS_MAX][48];
	struct outcome by[KNOWN_KINDS_MAX];
	unsigned kinds;
	unsigned n;
};

/* Command-line options. */
struct opts {
	uint64_t seeds;
	uint64_t first;
	unsigned jobs;
	int verbose;
	bool strict;
	enum sim_scenario scenario;
};

static void usage(FILE *f, int status)
{
	fprintf(f,
		"usage: sim [--seeds N] [--seed FIRST] [--jobs J] [--scenario NAME] [--strict]\n"
		"           [-v|-vv|-vvv]\n"
		"  --seeds N        seeds to run (default 100), each in its own process\n"
		"  --seed FIRST     first seed (default 1)\n"
		"  --jobs J         seeds run at once (1..%d, default 1)\n"
		"  --scenario NAME  draw (default: each seed picks), chaos, region-fail,\n"
		"                   follower-cut\n"
		"  --strict         known issues fail too\n"
		"  -v, -vv, -vvv    trace events, + messages, + disk calls (one seed)\n",
		JOBS_MAX);
	exit(status);
}

static void note(struct outcome *o, uint64_t seed)
{
	if (o->n < SHOWN_MAX) {
		o->seeds[o->n] = seed;
	}
	o->n++;
}

static void note_known(struct known *k, const char *name, uint64_t seed)
{
	unsigned i = 0;
	while (i < k->kinds && strcmp(k->name[i], name) != 0) {
		i++;
	}
	if (i == k->kinds && k->kinds < KNOWN_KINDS_MAX) {
		snprintf(k->name[k->kinds++], sizeof(k->name[0]), "%s", name);
	}
	if (i < k->kinds) {
		note(&k->by[i], seed);
	}
	k->n++;
}

static void add_stats(struct sim_stats *t, const struct sim_stats *a)
{
	t->seeds += a->seeds;
	t->steps += a->steps;
	t->virtual_ms += a->virtual_ms;
	t->submits += a->submits;
	t->acked_all += a->acked_all;
	t->acked_one += a->acked_one;
	t->rejected += a->rejected;
	t->crashes += a->crashes;
	t->kills += a->kills;
	t->mid_pass += a->mid_pass;
	t->torn += a->torn;
	t->ops_lost += a->ops_lost;
	t->stops += a->stops;
	t->io_errors += a->io_errors;
	t->failovers += a->failovers;
	t->transfers += a->transfers;
	t->partitions += a->partitions;
	t->msgs += a->msgs;
	t->dropped += a->dropped;
	t->full_checks += a->full_checks;
	t->retained += a->retained;
	t->cu_transfers += a->cu_transfers;
	t->cu_installs += a->cu_installs;
	t->cu_fallbacks += a->cu_fallbacks;
	t->cu_bytes += a->cu_bytes;
	t->bursts += a->bursts;
	t->merged_entries += a->merged_entries;
	t->merged_batches += a->merged_batches;
	t->max_term = SL_MAX(t->max_term, a->max_term);
	t->max_index = SL_MAX(t->max_index, a->max_index);
	t->scen_chaos += a->scen_chaos;
	t->scen_region_fail += a->scen_region_fail;
	t->scen_follower_cut += a->scen_follower_cut;
	t->pin_transfers += a->pin_transfers;
	t->reranks += a->reranks;
	t->early_elections += a->early_elections;
	t->reads += a->reads;
	t->follower_reads += a->follower_reads;
	t->stale_refusals += a->stale_refusals;
	t->batches_read += a->batches_read;
	t->failover_ms_max = SL_MAX(t->failover_ms_max, a->failover_ms_max);
	t->failback_ms_max = SL_MAX(t->failback_ms_max, a->failback_ms_max);
	t->failover_bound_pct_max = SL_MAX(t->failover_bound_pct_max, a->failover_bound_pct_max);
	t->failback_bound_pct_max = SL_MAX(t->failback_bound_pct_max, a->failback_bound_pct_max);
	t->early_preempted += a->early_preempted;
	t->cutoff_ms_max = SL_MAX(t->cutoff_ms_max, a->cutoff_ms_max);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One seed running in a child process. */
struct child {
	pid_t pid;
	int fd;
	uint64_t seed;
};

static void start_child(struct child *c, uint64_t seed, const struct opts *o)
{
	int p[2];
	if (pipe(p) != 0) {
		perror("pipe");
		exit(2);
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		perror("fork");
		exit(2);
	}
	if (c->pid == 0) {
		close(p[0]);
		sim_result_fd = p[1];
		struct sim_result res;
		memset(&res, 0, sizeof(res));
		sim_run_seed(seed, o->verbose, o->strict, o->scenario, &res.stats);
		/* exit(), not _exit(): LeakSanitizer checks at exit. */
		exit(write_all(p[1], &res, sizeof(res)) == 0 ? 0 : 3);
	}
	close(p[1]);
	c->fd = p[0];
	c->seed = seed;
}

/* Collects one child's counters and files its seed under its outcome. */
static void finish_child(struct child *c, struct sim_stats *total, struct outcome *failed,
			 struct known *known)
{
	struct sim_result res;
	size_t got = 0;
	while (got < sizeof(res)) {
		ssize_t r = read(c->fd, (char *)&res + got, sizeof(res) - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		got += (size_t)r;
	}
	close(c->fd);
	int status = 0;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
	}
	bool whole = got == sizeof(res);
	if (whole && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		add_stats(total, &res.stats);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == SIM_EXIT_KNOWN) {
		res.known_name[sizeof(res.known_name) - 1] = '\0';
		note_known(known, whole ? res.known_name : "unnamed", c->seed);
	} else {
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "sim: FAIL seed=%llu: killed by signal %d\n",
				(unsigned long long)c->seed, WTERMSIG(status));
		}
		note(failed, c->seed);
	}
}

/* Runs every seed in its own child process, jobs at a time, so that a
 * crash in one seed neither stops nor disturbs the others. */
static void run_seeds(const struct opts *o, struct sim_stats *total, struct outcome *failed,
		      struct known *known)
{
	struct child kids[JOBS_MAX];
	unsigned running = 0;
	uint64_t next = 0;
	while (next < o->seeds || running > 0) {
		if (next < o->seeds && running < o->jobs) {
			start_child(&kids[running++], o->first + next++, o);
			continue;
		}
		/* Wait for the oldest child: results stay in seed order. */
		finish_child(&kids[0], total, failed, known);
		memmove(&kids[0], &kids[1], (--running) * sizeof(kids[0]));
	}
}

/* Prints the one summary line: name=value for every counter. */
static void print_summary(const struct sim_stats *t, const struct opts *o, unsigned known,
			  double wall, bool ok)
{
	const struct {
		const char *name;
		uint64_t value;
	} f[] = {
		{"seeds", t->seeds},         {"known", known},
		{"first", o->first},         {"jobs", o->jobs},
		{"steps", t->steps},         {"virtual_s", t->virtual_ms / 1000},
		{"submits", t->submits},     {"acked_all", t->acked_all},
		{"acked_one", t->acked_one}, {"rejected", t->rejected},
		{"power_fails", t->crashes}, {"kills", t->kills},
		{"mid_pass", t->mid_pass},   {"torn", t->torn},
		{"lost_ops", t->ops_lost},   {"stops", t->stops},
		{"io_errors", t->io_errors}, {"failovers", t->failovers},
		{"transfers", t->transfers}, {"partitions", t->partitions},
		{"msgs", t->msgs},           {"dropped", t->dropped},
		{"full_checks", t->full_checks},
		{"retained_segs", t->retained},
		{"catchups", t->cu_transfers},
		{"catchup_installs", t->cu_installs},
		{"catchup_fallbacks", t->cu_fallbacks},
		{"catchup_kb", t->cu_bytes / 1024},
		{"bursts", t->bursts},
		{"merged_entries", t->merged_entries},
		{"merged_batches", t->merged_batches},
		{"max_term", t->max_term},   {"max_index", t->max_index},
		{"chaos", t->scen_chaos},
		{"region_fail", t->scen_region_fail},
		{"follower_cut", t->scen_follower_cut},
		{"pin_transfers", t->pin_transfers},
		{"reranks", t->reranks},
		{"early_elections", t->early_elections},
		{"reads", t->reads},
		{"follower_reads", t->follower_reads},
		{"stale_refusals", t->stale_refusals},
		{"batches_read", t->batches_read},
		{"failover_ms_max", t->failover_ms_max},
		{"failback_ms_max", t->failback_ms_max},
		{"failover_bound_pct_max", t->failover_bound_pct_max},
		{"failback_bound_pct_max", t->failback_bound_pct_max},
		{"early_preempted", t->early_preempted},
		{"cutoff_ms_max", t->cutoff_ms_max},
	};
	printf("sim:");
	for (size_t i = 0; i < SL_ARRAY_LEN(f); i++) {
		printf(" %s=%llu", f[i].name, (unsigned long long)f[i].value);
	}
	printf(" wall_s=%.1f %s\n", wall, ok ? "ok" : "FAILED");
}

static void print_seeds(const char *what, const struct outcome *o)
{
	if (o->n == 0) {
		return;
	}
	printf("sim: %u %s seed(s):", o->n, what);
	for (unsigned i = 0; i < o->n && i < SHOWN_MAX; i++) {
		printf(" %llu", (unsigned long long)o->seeds[i]);
	}
	printf("%s\n", o->n > SHOWN_MAX ? " ..." : "");
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.seeds = 100, .first = 1, .jobs = 1};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
			o->seeds = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			o->first = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
			o->jobs = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
			if (!sim_scenario_parse(argv[++i], &o->scenario)) {
				fprintf(stderr, "sim: unknown scenario '%s'\n", argv[i]);
				usage(stderr, 2);
			}
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, 0);
		} else if (strcmp(argv[i], "--strict") == 0) {
			o->strict = true;
		} else if (strcmp(argv[i], "-v") == 0) {
			o->verbose = 1;
		} else if (strcmp(argv[i], "-vv") == 0) {
			o->verbose = 2;
		} else if (strcmp(argv[i], "-vvv") == 0) {
			o->verbose = 3;
		} else {
			usage(stderr, 2);
		}
	}
	if (o->jobs == 0 || o->jobs > JOBS_MAX) {
		usage(stderr, 2);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	parse(argc, argv, &o);
	sl_log_min_level = o.verbose ? SL_LOG_INFO : SL_LOG_OFF;
	double t0 = wall_s();
	struct sim_stats total;
	struct outcome failed = {0};
	struct known known;
	memset(&known, 0, sizeof(known));
	memset(&total, 0, sizeof(total));
	if (o.seeds == 1) {
		sim_run_seed(o.first, o.verbose, o.strict, o.scenario, &total); /* in process */
	} else {
		run_seeds(&o, &total, &failed, &known);
	}
	print_summary(&total, &o, known.n, wall_s() - t0, failed.n == 0);
	print_seeds("failed", &failed);
	for (unsigned i = 0; i < known.kinds; i++) {
		char what[96];
		snprintf(what, sizeof(what), "known-issue (%s)", known.name[i]);
		print_seeds(what, &known.by[i]);
	}
	return failed.n > 0 ? 1 : 0;
}
