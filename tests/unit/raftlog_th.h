/* Helpers shared by the raftlog unit tests (defined in test_raftlog.c). */
#ifndef RL_TEST_TH_H
#define RL_TEST_TH_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "raftlog/raftlog.h"

/* One log in a temp dir, driven by a manual writer. */
struct th_log {
	char dir[4096];
	struct rl_writer *w;
	struct rl_log *log;
	struct rl_log_config cfg;
	char err[512];
};

/* Creates a temp dir and opens a log with the given segment size. */
void th_rl_setup(struct th_log *t, uint64_t segment_bytes_max);
/* Closes the log and writer and removes the dir. */
void th_rl_teardown(struct th_log *t);
/* Closes the log (and writer) and reopens both; returns rl_log_open's code
 * (t->log is NULL on failure, t->err has the message). */
int th_rl_reopen(struct th_log *t);
/* Closes the log and the writer. */
void th_rl_close(struct th_log *t);
/* Builds a data batch (sl_malloc'd) with n records of value_size bytes. */
uint8_t *th_rl_batch(int64_t ts, int n_records, size_t value_size, uint32_t seed, size_t *len);
/* Appends one data batch in ASSIGN mode, runs the writer, returns the
 * submit error or the callback status. */
int th_rl_append(struct th_log *t, uint64_t term, int n_records, size_t value_size, int64_t ts);
/* Appends n batches (one call each), asserting success. */
void th_rl_append_n(struct th_log *t, int n, uint64_t term, int n_records, size_t value_size);
/* A checksum over every entry's info and bytes, for before/after checks. */
uint32_t th_rl_digest(struct rl_log *log);
/* Path of a file of the log dir. */
void th_rl_path(const struct th_log *t, const char *name, char *out, size_t size);
/* Name of the k-th segment (0-based, sorted) without extension. */
void th_rl_segment_name(const struct th_log *t, size_t k, char *out, size_t size);
/* Size of a file. */
long th_rl_file_size(const char *path);
/* Truncates / corrupts a file. */
void th_rl_truncate_file(const char *path, long len);
void th_rl_flip_byte(const char *path, long pos);

/* The cases in test_raftlog_recovery.c, run as part of the raftlog suite. */
TCase *th_rl_recovery_tcase(void);
TCase *th_rl_fault_tcase(void);

#endif
