/* System calls used by raftlog: the POSIX file-system table (struct rl_vfs,
 * raftlog/vfs.h), the table switch, and the rl__ helpers every other file
 * calls, each asking sl_fault_hit() first so tests can fail the Nth open,
 * write, read or sync.
 *
 * Happy path: each helper does its whole job through the table in use
 * (short reads and writes are retried, EINTR is retried) and returns 0 or a
 * byte count.
 * Failure modes: a real or injected failure returns -errno (-EIO for an
 * injected one); nothing is retried after an fsync failure, since the kernel
 * may have dropped the dirty pages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raftlog/internal.h"
#include "raftlog/vfs.h"

/* ---- The POSIX table --------------------------------------------------- */

static int px_open(void *data, int dir_fd, const char *name, int flags, unsigned mode)
{
	(void)data;
	int fd;
	do {
		fd = openat(dir_fd, name, flags | O_CLOEXEC, (mode_t)mode);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static int px_close(void *data, int fd)
{
	(void)data;
	return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t px_pread(void *data, int fd, void *buf, size_t len, uint64_t pos)
{
	(void)data;
	ssize_t n = pread(fd, buf, len, (off_t)pos);
	return n < 0 ? -errno : n;
}

static ssize_t px_pwritev(void *data, int fd, const struct iovec *iov, int iovcnt, uint64_t pos)
{
	(void)data;
	ssize_t n = pwritev(fd, iov, iovcnt, (off_t)pos);
	return n < 0 ? -errno : n;
}

static int px_fdatasync(void *data, int fd)
{
	(void)data;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int px_fsync(void *data, int fd)
{
	(void)data;
	return fsync(fd) < 0 ? -errno : 0;
}

static int px_ftruncate(void *data, int fd, uint64_t len)
{
	(void)data;
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int px_fsize(void *data, int fd, uint64_t *size)
{
	(void)data;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int px_rename(void *data, int dir_fd, const char *from, const char *to)
{
	(void)data;
	return renameat(dir_fd, from, dir_fd, to) < 0 ? -errno : 0;
}

static int px_unlink(void *data, int dir_fd, const char *name)
{
	(void)data;
	return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
}

static int px_mkdir(void *data, const char *path, unsigned mode)
{
	(void)data;
	return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static int px_list(void *data, int dir_fd, rl_vfs_list_cb cb, void *arg)
{
	(void)data;
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int rv = -errno;
		if (fd >= 0) {
			close(fd);
		}
		return rv;
	}
	rewinddir(d);
	int rv = 0;
	struct dirent *de;
	while (rv == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			rv = cb(arg, de->d_name);
		}
	}
	closedir(d);
	return rv;
}

static void px_writeback(void *data, int fd)
{
	(void)data;
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static const struct rl_vfs posix_vfs = {
	.data = NULL,
	.open = px_open,
	.close = px_close,
	.pread = px_pread,
	.pwritev = px_pwritev,
	.fdatasync = px_fdatasync,
	.fsync = px_fsync,
	.ftruncate = px_ftruncate,
	.fsize = px_fsize,
	.rename = px_rename,
	.unlink = px_unlink,
	.mkdir = px_mkdir,
	.list = px_list,
	.writeback = px_writeback,
};

/* Set only while no log is open (documented), so plain loads suffice: the
 * writer thread is created after the store. */
static const struct rl_vfs *vfs = &posix_vfs;

void rl_vfs_set(const struct rl_vfs *table)
{
	vfs = table != NULL ? table : &posix_vfs;
}

const struct rl_vfs *rl_vfs_get(void)
{
	return vfs;
}

const struct rl_vfs *rl_vfs_posix(void)
{
	return &posix_vfs;
}

/* ---- Helpers ----------------------------------------------------------- */

int rl__open(int dir_fd, const char *name, int flags)
{
	if (sl_fault_hit(SL_FAULT_OPEN)) {
		return -EIO;
	}
	int fd;
	do {
		fd = vfs->open(vfs->data, dir_fd, name, flags, 0644);
	} while (fd == -EINTR);
	return fd;
}

void rl__close(int fd)
{
	if (fd >= 0) {
		(void)vfs->close(vfs->data, fd);
	}
}

int rl__pwrite_all(int fd, const void *buf, size_t len, uint64_t pos)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	return len == 0 ? 0 : rl__pwritev_all(fd, &iov, 1, pos);
}

int rl__pwritev_all(int fd, struct iovec *iov, int iovcnt, uint64_t pos)
{
	while (iovcnt > 0) {
		if (sl_fault_hit(SL_FAULT_WRITE)) {
			return -EIO;
		}
		ssize_t n = vfs->pwritev(vfs->data, fd, iov, iovcnt, pos);
		if (n == -EINTR) {
			continue;
		}
		if (n < 0) {
			return (int)n;
		}
		if (n == 0) {
			return -EIO;
		}
		pos += (uint64_t)n;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

ssize_t rl__pread_all(int fd, void *buf, size_t len, uint64_t pos)
{
	uint8_t *p = buf;
	size_t done = 0;
	while (done < len) {
		if (sl_fault_hit(SL_FAULT_READ)) {
			return -EIO;
		}
		ssize_t n = vfs->pread(vfs->data, fd, p + done, len - done, pos + done);
		if (n == -EINTR) {
			continue;
		}
		if (n < 0) {
			return n;
		}
		if (n == 0) {
			break;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int rl__fdatasync(int fd)
{
	if (sl_fault_hit(SL_FAULT_FSYNC)) {
		return -EIO;
	}
	return vfs->fdatasync(vfs->data, fd);
}

int rl__fsync_dir(int dir_fd)
{
	if (sl_fault_hit(SL_FAULT_FSYNC)) {
		return -EIO;
	}
	return vfs->fsync(vfs->data, dir_fd);
}

void rl__writeback(int fd)
{
	if (vfs->writeback != NULL) {
		vfs->writeback(vfs->data, fd);
	}
}

int rl__ftruncate(int fd, uint64_t len)
{
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	int rv;
	do {
		rv = vfs->ftruncate(vfs->data, fd, len);
	} while (rv == -EINTR);
	return rv;
}

int rl__fsize(int fd, uint64_t *size)
{
	return vfs->fsize(vfs->data, fd, size);
}

int rl__unlink(int dir_fd, const char *name)
{
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	int rv = vfs->unlink(vfs->data, dir_fd, name);
	return rv == -ENOENT ? 0 : rv;
}

int rl__mkdir(const char *path)
{
	return vfs->mkdir(vfs->data, path, 0755);
}

int rl__list_dir(int dir_fd, rl_vfs_list_cb cb, void *arg)
{
	return vfs->list(vfs->data, dir_fd, cb, arg);
}

/* Replaces dir/name with buf atomically: write tmp, fdatasync, rename over
 * name, fsync the directory. A crash leaves either the old or the new file
 * (and maybe a stale tmp, removed at open). */
int rl__write_file_atomic(int dir_fd, const char *tmp, const char *name, const void *buf,
			  size_t len)
{
	int fd = rl__open(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0) {
		return fd;
	}
	int rv = rl__pwrite_all(fd, buf, len, 0);
	if (rv == 0) {
		rv = rl__fdatasync(fd);
	}
	rl__close(fd);
	if (rv != 0) {
		return rv;
	}
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	rv = vfs->rename(vfs->data, dir_fd, tmp, name);
	if (rv != 0) {
		return rv;
	}
	return rl__fsync_dir(dir_fd);
}
