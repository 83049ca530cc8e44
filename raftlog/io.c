/* System calls used by raftlog, each asking sl_fault_hit() first so tests
 * can fail the Nth open, write, read or sync.
 *
 * Happy path: each helper does its whole job (short reads and writes are
 * retried, EINTR is retried) and returns 0 or a byte count.
 * Failure modes: a real or injected failure returns -errno (-EIO for an
 * injected one); nothing is retried after an fsync failure, since the kernel
 * may have dropped the dirty pages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raftlog/internal.h"

int rl__open(int dir_fd, const char *name, int flags)
{
	if (sl_fault_hit(SL_FAULT_OPEN)) {
		return -EIO;
	}
	int fd;
	do {
		fd = openat(dir_fd, name, flags | O_CLOEXEC, 0644);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int rl__pwrite_all(int fd, const void *buf, size_t len, uint64_t pos)
{
	const uint8_t *p = buf;
	while (len > 0) {
		if (sl_fault_hit(SL_FAULT_WRITE)) {
			return -EIO;
		}
		ssize_t n = pwrite(fd, p, len, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (n == 0) {
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		pos += (uint64_t)n;
	}
	return 0;
}

int rl__pwritev_all(int fd, struct iovec *iov, int iovcnt, uint64_t pos)
{
	while (iovcnt > 0) {
		if (sl_fault_hit(SL_FAULT_WRITE)) {
			return -EIO;
		}
		ssize_t n = pwritev(fd, iov, iovcnt, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
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
		ssize_t n = pread(fd, p + done, len - done, (off_t)(pos + done));
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
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
	return fdatasync(fd) < 0 ? -errno : 0;
}

int rl__fsync_dir(int dir_fd)
{
	if (sl_fault_hit(SL_FAULT_FSYNC)) {
		return -EIO;
	}
	return fsync(dir_fd) < 0 ? -errno : 0;
}

int rl__ftruncate(int fd, uint64_t len)
{
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	int rv;
	do {
		rv = ftruncate(fd, (off_t)len);
	} while (rv < 0 && errno == EINTR);
	return rv < 0 ? -errno : 0;
}

int rl__fsize(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int rl__unlink(int dir_fd, const char *name)
{
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
		return -errno;
	}
	return 0;
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
	close(fd);
	if (rv != 0) {
		return rv;
	}
	if (sl_fault_hit(SL_FAULT_WRITE)) {
		return -EIO;
	}
	if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
		return -errno;
	}
	return rl__fsync_dir(dir_fd);
}
