/* tests/sim/simfs.h: an in-memory file system implementing rl_vfs
 * (raftlog/vfs.h) that remembers, per file and per directory, what is
 * durable and what was written since the last sync, so a simulated crash
 * can lose, keep or tear unsynced writes.
 *
 * Model
 * -----
 * - A file's content is its durable image plus a list of unsynced
 *   operations (writes, truncations). fdatasync()/fsync() fold the list
 *   into the durable image.
 * - A directory's names are its durable table plus a list of unsynced
 *   operations (create, unlink, rename). fsync() on the directory folds
 *   them. mkdir() is durable at once (documented in raftlog/vfs.h: raftlog
 *   does not sync the parent).
 * - A crash of one tag (the sim gives each broker's directories one tag)
 *   keeps a random prefix of each file's and each directory's unsynced
 *   operations and may tear the last kept write at a random byte, either
 *   cutting the file there or leaving the rest of the write as zeros.
 *   Files no durable name reaches disappear.
 * - A tag can be frozen: every mutating call (write, truncate, sync,
 *   create, rename, unlink, mkdir) on its files fails with -EIO, as on a
 *   machine that has lost power; reads still see the current images (what
 *   the dying process saw), close() works. simfs_arm_crash() freezes a tag
 *   after a number of mutating calls, to crash in the middle of a writer
 *   pass; simfs_arm_error() fails one call with -EIO instead.
 *
 * Single-threaded: use it with manual writers only. Deterministic: fds are
 * allocated lowest-first, directory listings are sorted by name. */
#ifndef SIM_SIMFS_H
#define SIM_SIMFS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raftlog/vfs.h"
#include "tests/sim/rng.h"

/* Most tags (brokers) one file system distinguishes. */
#define SIMFS_TAGS_MAX 16

struct simfs;

/* Counters of one crash. */
struct simfs_crash_stats {
	unsigned files;       /* files with unsynced operations */
	unsigned ops_kept;    /* unsynced file operations that survived */
	unsigned ops_lost;    /* unsynced file operations lost */
	unsigned torn;        /* writes torn */
	unsigned dir_ops_lost;
};

/* Creates an empty file system. Aborts when out of memory. */
struct simfs *simfs_create(void);

/* Frees everything; no descriptor may be open. */
void simfs_destroy(struct simfs *fs);

/* Returns the rl_vfs table of fs (owned by fs), for rl_vfs_set(). */
const struct rl_vfs *simfs_vfs(struct simfs *fs);

/* Creates a top-level directory path (no '/' inside) whose subtree carries
 * tag (1 .. SIMFS_TAGS_MAX - 1). Durable at once. */
void simfs_add_root(struct simfs *fs, const char *path, unsigned tag);

/* Sets the callbacks (with arg) run when a tag becomes frozen by an armed
 * crash, and when an armed I/O error fires. */
void simfs_set_callbacks(struct simfs *fs, void (*freeze_cb)(void *arg, unsigned tag),
			 void (*error_cb)(void *arg, unsigned tag), void *arg);

/* Freezes or thaws a tag. */
void simfs_freeze(struct simfs *fs, unsigned tag, bool frozen);

/* Returns whether tag is frozen. */
bool simfs_frozen(const struct simfs *fs, unsigned tag);

/* Freezes tag just before its after_ops-th next mutating call (write,
 * truncate, sync, create, rename, unlink), which then fails; 0 disarms. */
void simfs_arm_crash(struct simfs *fs, unsigned tag, unsigned long after_ops);

/* Makes tag's after_ops-th next mutating call fail once with -EIO (a disk
 * error; nothing freezes); 0 disarms. */
void simfs_arm_error(struct simfs *fs, unsigned tag, unsigned long after_ops);

/* Prints every mutating call to out (NULL: quiet). */
void simfs_set_trace(struct simfs *fs, FILE *out);

/* Returns how many descriptors on tag's files are open. */
unsigned simfs_open_fds(const struct simfs *fs, unsigned tag);

/* Crashes tag: no descriptor of it may be open. Unsynced operations are
 * kept or lost as described above, drawing from rng; the tag is thawed
 * and disarmed. st (may be NULL) receives counters, added to. */
void simfs_crash(struct simfs *fs, unsigned tag, struct sim_rng *rng, struct simfs_crash_stats *st);

#endif /* SIM_SIMFS_H */
