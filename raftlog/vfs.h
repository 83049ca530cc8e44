/* raftlog/vfs.h: the file-system interface under raftlog, replaceable so a
 * simulator can run logs on an in-memory disk that loses unsynced writes.
 *
 * Every system call raftlog makes on its files and directories goes through
 * one process-global table of functions, struct rl_vfs. The default is the
 * POSIX implementation (openat, pread, pwritev, fdatasync, renameat, ...).
 * rl_vfs_set() installs another table, for instance tests/sim/simfs.c.
 *
 * Contract for an implementation
 * ------------------------------
 * - Descriptors are small non-negative ints chosen by the implementation;
 *   raftlog only passes them back. A directory descriptor comes from open()
 *   with O_DIRECTORY. open() may also be given AT_FDCWD as dir_fd with a
 *   path (raftlog does so for the log directory only).
 * - Every function returns 0 (or a byte count, or a descriptor) on success
 *   and a negative errno value on failure. pread() and pwritev() may
 *   transfer fewer bytes than asked; raftlog retries the rest. -EINTR is
 *   retried.
 * - Durability is the implementation's business, with POSIX meaning:
 *   fdatasync() makes a file's data and size durable; fsync() on a
 *   directory makes its entries (created, renamed, unlinked names) durable.
 *   mkdir() is not followed by an fsync of the parent directory.
 * - raftlog's fault injection (sl_fault_hit(), common/sl_common.h) is
 *   checked before the table is called, so injected faults work with any
 *   implementation.
 * - Threads: a writer thread calls the table concurrently with the loop
 *   thread, on different descriptors. An implementation used with thread-
 *   mode writers must be thread-safe; one used only with manual writers
 *   (rl_writer_config.manual) need not be.
 *
 * Limitation: rl_read_range() hands out a segment's descriptor for
 * sendfile(). It is a real file descriptor only with the POSIX table; with
 * another table use rl_read_copy(), which reads through the table. */
#ifndef RL_VFS_H
#define RL_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Called by rl_vfs.list() once per name in a directory ("." and ".."
 * excluded), in any order. name is borrowed for the call. A non-zero return
 * stops the listing and is returned by list(). The callback may not change
 * the directory. */
typedef int (*rl_vfs_list_cb)(void *arg, const char *name);

/* A file-system implementation. data is passed as the first argument of
 * every function. Every member except writeback must be set. */
struct rl_vfs {
	void *data;
	/* Opens name relative to the directory descriptor dir_fd (or a path
	 * when dir_fd is AT_FDCWD). flags are open(2) flags (O_RDONLY, O_RDWR,
	 * O_WRONLY, O_CREAT, O_TRUNC, O_DIRECTORY); mode applies to created
	 * files. Returns a descriptor or -errno (-ENOENT if missing). */
	int (*open)(void *data, int dir_fd, const char *name, int flags, unsigned mode);
	/* Closes a descriptor. Must succeed for any open descriptor. */
	int (*close)(void *data, int fd);
	/* Reads up to len bytes at pos. Returns the count (0 at end of file)
	 * or -errno. */
	ssize_t (*pread)(void *data, int fd, void *buf, size_t len, uint64_t pos);
	/* Writes the iovcnt buffers of iov (borrowed for the call) at pos,
	 * extending the file (with zeros before pos if needed). Returns the
	 * count written (> 0) or -errno. */
	ssize_t (*pwritev)(void *data, int fd, const struct iovec *iov, int iovcnt, uint64_t pos);
	/* Makes a file's data and size durable. */
	int (*fdatasync)(void *data, int fd);
	/* Makes a file, or a directory's entries, durable. */
	int (*fsync)(void *data, int fd);
	/* Sets a file's size. */
	int (*ftruncate)(void *data, int fd, uint64_t len);
	/* Stores a file's size in *size. */
	int (*fsize)(void *data, int fd, uint64_t *size);
	/* Renames from to `to` within the directory dir_fd, replacing `to`. */
	int (*rename)(void *data, int dir_fd, const char *from, const char *to);
	/* Removes name from the directory dir_fd. Returns -ENOENT if missing. */
	int (*unlink)(void *data, int dir_fd, const char *name);
	/* Creates the directory path (one level). Returns -EEXIST if it
	 * exists. */
	int (*mkdir)(void *data, const char *path, unsigned mode);
	/* Lists the names in the directory dir_fd, calling cb for each. */
	int (*list)(void *data, int dir_fd, rl_vfs_list_cb cb, void *arg);
	/* Optional (may be NULL): starts writeback of a file's dirty data
	 * without waiting (sync_file_range); a hint, its result is ignored. */
	void (*writeback)(void *data, int fd);
};

/* Installs vfs (borrowed; must stay valid until replaced) as the table every
 * raftlog call uses from now on; NULL restores the POSIX table. Call it only
 * while no log is open: descriptors of one table mean nothing to another. */
void rl_vfs_set(const struct rl_vfs *vfs);

/* Returns the table in use (the POSIX one unless rl_vfs_set() replaced
 * it). */
const struct rl_vfs *rl_vfs_get(void);

/* Returns the POSIX table, e.g. for an implementation that wraps it. */
const struct rl_vfs *rl_vfs_posix(void);

#endif /* RL_VFS_H */
