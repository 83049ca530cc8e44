/* In-memory file system with durable and unsynced state per file and per
 * directory, for crash simulation (see simfs.h for the model).
 *
 * Happy path: every call works on the current image (cur) and appends an
 * operation to the unsynced list; a sync replays the list onto the durable
 * image and clears it.
 * Failure modes: a frozen tag answers -EIO to everything but close(); a
 * crash replays a random prefix of each unsynced list onto the durable
 * images (maybe tearing the last write) and makes that the current state. */
#include "tests/sim/simfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl_common.h"

#define NAME_MAX_BYTES 64
#define PATH_MAX_BYTES 160
#define FD_BASE 100

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);
	SL_ASSERT(q != NULL);
	return q;
}

static void *xcalloc(size_t n, size_t size)
{
	void *q = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	SL_ASSERT(q != NULL);
	return q;
}

/* Grows *v (elements of size elem) so that it holds at least n + 1. */
static void grow(void **v, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap) {
		return;
	}
	*cap = *cap == 0 ? 8 : *cap * 2;
	*v = xrealloc(*v, *cap * elem);
}

/* ---- Files ------------------------------------------------------------- */

struct bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
};

enum fop_type { FOP_WRITE = 1, FOP_TRUNC };

/* One unsynced file operation. */
struct fop {
	enum fop_type type;
	uint64_t pos; /* WRITE: position; TRUNC: new size */
	size_t len;
	uint8_t *data;
};

struct inode {
	struct bytes cur;
	struct bytes dur;
	struct fop *ops;
	size_t n_ops;
	size_t cap_ops;
	unsigned open_refs;
	bool mark;
};

static void bytes_resize(struct bytes *b, size_t len)
{
	if (len > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		while (cap < len) {
			cap *= 2;
		}
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (len > b->len) {
		memset(b->p + b->len, 0, len - b->len);
	}
	b->len = len;
}

static void bytes_write(struct bytes *b, uint64_t pos, const uint8_t *data, size_t len)
{
	if (pos + len > b->len) {
		bytes_resize(b, (size_t)(pos + len));
	}
	memcpy(b->p + pos, data, len);
}

/* Applies op to b; a torn write keeps only `keep` bytes of it (cut or
 * zero-filled). */
static void fop_apply(struct bytes *b, const struct fop *op, size_t keep, bool zero_fill)
{
	if (op->type == FOP_TRUNC) {
		bytes_resize(b, (size_t)op->pos);
		return;
	}
	if (keep < op->len && zero_fill) {
		uint8_t *z = xcalloc(1, op->len);
		memcpy(z, op->data, keep);
		bytes_write(b, op->pos, z, op->len);
		free(z);
		return;
	}
	bytes_write(b, op->pos, op->data, keep);
}

static void inode_push(struct inode *ino, enum fop_type type, uint64_t pos, const uint8_t *data,
		       size_t len)
{
	grow((void **)&ino->ops, &ino->cap_ops, ino->n_ops, sizeof(*ino->ops));
	struct fop *op = &ino->ops[ino->n_ops++];
	op->type = type;
	op->pos = pos;
	op->len = len;
	op->data = NULL;
	if (type == FOP_WRITE) {
		op->data = xrealloc(NULL, len);
		memcpy(op->data, data, len);
	}
}

static void inode_clear_ops(struct inode *ino)
{
	for (size_t i = 0; i < ino->n_ops; i++) {
		free(ino->ops[i].data);
	}
	ino->n_ops = 0;
}

static void inode_sync(struct inode *ino)
{
	for (size_t i = 0; i < ino->n_ops; i++) {
		fop_apply(&ino->dur, &ino->ops[i], ino->ops[i].len, false);
	}
	inode_clear_ops(ino);
}

/* Keeps a random prefix of the unsynced operations, maybe tearing the
 * last kept write, and makes the result current. */
static void inode_crash(struct inode *ino, struct sim_rng *rng, struct simfs_crash_stats *st)
{
	if (ino->n_ops > 0) {
		size_t keep = (size_t)sim_rng_below(rng, ino->n_ops + 1);
		st->files++;
		st->ops_kept += (unsigned)keep;
		st->ops_lost += (unsigned)(ino->n_ops - keep);
		for (size_t i = 0; i < keep; i++) {
			const struct fop *op = &ino->ops[i];
			size_t bytes = op->len;
			bool zero = false;
			if (i + 1 == keep && op->type == FOP_WRITE && op->len > 1 &&
			    sim_rng_chance(rng, 500)) {
				bytes = (size_t)sim_rng_below(rng, op->len);
				zero = sim_rng_chance(rng, 300);
				st->torn++;
			}
			fop_apply(&ino->dur, op, bytes, zero);
		}
		inode_clear_ops(ino);
	}
	bytes_resize(&ino->cur, ino->dur.len);
	if (ino->dur.len > 0) {
		memcpy(ino->cur.p, ino->dur.p, ino->dur.len);
	}
}

static void inode_free(struct inode *ino)
{
	inode_clear_ops(ino);
	free(ino->ops);
	free(ino->cur.p);
	free(ino->dur.p);
	free(ino);
}

/* ---- Directories ------------------------------------------------------- */

struct dent {
	char name[NAME_MAX_BYTES];
	struct inode *ino;
};

/* A name table, sorted by name. */
struct table {
	struct dent *v;
	size_t n;
	size_t cap;
};

enum dop_type { DOP_LINK = 1, DOP_UNLINK, DOP_RENAME };

/* One unsynced directory operation. */
struct dop {
	enum dop_type type;
	char name[NAME_MAX_BYTES];
	char to[NAME_MAX_BYTES]; /* RENAME */
	struct inode *ino;       /* LINK */
};

struct dir {
	char path[PATH_MAX_BYTES];
	unsigned tag;
	struct table cur;
	struct table dur;
	struct dop *ops;
	size_t n_ops;
	size_t cap_ops;
	struct inode **inodes; /* every inode created here, until collected */
	size_t n_inodes;
	size_t cap_inodes;
	unsigned open_refs;
};

static struct dent *table_find(struct table *t, const char *name, size_t *at)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(t->v[mid].name, name);
		if (c == 0) {
			*at = mid;
			return &t->v[mid];
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*at = lo;
	return NULL;
}

static void table_set(struct table *t, const char *name, struct inode *ino)
{
	size_t at;
	struct dent *d = table_find(t, name, &at);
	if (d == NULL) {
		grow((void **)&t->v, &t->cap, t->n, sizeof(*t->v));
		memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof(*t->v));
		t->n++;
		d = &t->v[at];
		snprintf(d->name, sizeof(d->name), "%s", name);
	}
	d->ino = ino;
}

static void table_del(struct table *t, const char *name)
{
	size_t at;
	if (table_find(t, name, &at) != NULL) {
		memmove(&t->v[at], &t->v[at + 1], (t->n - at - 1) * sizeof(*t->v));
		t->n--;
	}
}

static void table_copy(struct table *dst, const struct table *src)
{
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++) {
		grow((void **)&dst->v, &dst->cap, dst->n, sizeof(*dst->v));
		dst->v[dst->n++] = src->v[i];
	}
}

static void dop_apply(struct table *t, const struct dop *op)
{
	size_t at;
	struct dent *d;
	switch (op->type) {
	case DOP_LINK:
		table_set(t, op->name, op->ino);
		break;
	case DOP_UNLINK:
		table_del(t, op->name);
		break;
	case DOP_RENAME:
		d = table_find(t, op->name, &at);
		SL_ASSERT(d != NULL);
		struct inode *ino = d->ino;
		table_del(t, op->name);
		table_set(t, op->to, ino);
		break;
	}
}

static void dir_push(struct dir *d, enum dop_type type, const char *name, const char *to,
		     struct inode *ino)
{
	grow((void **)&d->ops, &d->cap_ops, d->n_ops, sizeof(*d->ops));
	struct dop *op = &d->ops[d->n_ops++];
	memset(op, 0, sizeof(*op));
	op->type = type;
	snprintf(op->name, sizeof(op->name), "%s", name);
	if (to != NULL) {
		snprintf(op->to, sizeof(op->to), "%s", to);
	}
	op->ino = ino;
	dop_apply(&d->cur, op);
}

static void mark_table(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		t->v[i].ino->mark = true;
	}
}

/* Frees inodes no name, pending operation or descriptor reaches. */
static void dir_collect(struct dir *d)
{
	for (size_t i = 0; i < d->n_inodes; i++) {
		d->inodes[i]->mark = d->inodes[i]->open_refs > 0;
	}
	mark_table(&d->cur);
	mark_table(&d->dur);
	for (size_t i = 0; i < d->n_ops; i++) {
		if (d->ops[i].ino != NULL) {
			d->ops[i].ino->mark = true;
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < d->n_inodes; i++) {
		if (d->inodes[i]->mark) {
			d->inodes[k++] = d->inodes[i];
		} else {
			inode_free(d->inodes[i]);
		}
	}
	d->n_inodes = k;
}

static void dir_sync(struct dir *d)
{
	table_copy(&d->dur, &d->cur);
	d->n_ops = 0;
	dir_collect(d);
}

static void dir_crash(struct dir *d, struct sim_rng *rng, struct simfs_crash_stats *st)
{
	size_t keep = (size_t)sim_rng_below(rng, d->n_ops + 1);
	st->dir_ops_lost += (unsigned)(d->n_ops - keep);
	for (size_t i = 0; i < keep; i++) {
		dop_apply(&d->dur, &d->ops[i]);
	}
	d->n_ops = 0;
	for (size_t i = 0; i < d->n_inodes; i++) {
		inode_crash(d->inodes[i], rng, st);
	}
	table_copy(&d->cur, &d->dur);
	dir_collect(d);
}

static void dir_free(struct dir *d)
{
	for (size_t i = 0; i < d->n_inodes; i++) {
		inode_free(d->inodes[i]);
	}
	free(d->inodes);
	free(d->cur.v);
	free(d->dur.v);
	free(d->ops);
	free(d);
}

/* ---- The file system ---------------------------------------------------- */

struct fdent {
	bool used;
	struct dir *dir;
	struct inode *ino; /* NULL for a directory descriptor */
	char name[NAME_MAX_BYTES];
};

struct simfs {
	struct rl_vfs vfs;
	struct dir **dirs;
	size_t n_dirs;
	size_t cap_dirs;
	struct fdent *fds;
	size_t n_fds;
	size_t cap_fds;
	bool frozen[SIMFS_TAGS_MAX];
	unsigned long countdown[SIMFS_TAGS_MAX];
	unsigned long err_countdown[SIMFS_TAGS_MAX];
	void (*freeze_cb)(void *arg, unsigned tag);
	void (*error_cb)(void *arg, unsigned tag);
	void *freeze_arg;
	FILE *trace;
};

/* Prints one mutating call when tracing. */
static void trace(struct simfs *fs, const char *what, int fd, const char *name, uint64_t a,
		  uint64_t b)
{
	if (fs->trace == NULL) {
		return;
	}
	const struct fdent *f = fd >= FD_BASE && (size_t)(fd - FD_BASE) < fs->n_fds
					? &fs->fds[fd - FD_BASE]
					: NULL;
	fprintf(fs->trace, "simfs: %s %s/%s %llu %llu\n", what, f != NULL ? f->dir->path : "-",
		name != NULL ? name : (f != NULL ? f->name : "-"), (unsigned long long)a,
		(unsigned long long)b);
}

static struct dir *find_dir(struct simfs *fs, const char *path)
{
	for (size_t i = 0; i < fs->n_dirs; i++) {
		if (strcmp(fs->dirs[i]->path, path) == 0) {
			return fs->dirs[i];
		}
	}
	return NULL;
}

static struct dir *new_dir(struct simfs *fs, const char *path, unsigned tag)
{
	struct dir *d = xcalloc(1, sizeof(*d));
	SL_ASSERT(strlen(path) < sizeof(d->path));
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->tag = tag;
	grow((void **)&fs->dirs, &fs->cap_dirs, fs->n_dirs, sizeof(*fs->dirs));
	fs->dirs[fs->n_dirs++] = d;
	return d;
}

static struct fdent *get_fd(struct simfs *fs, int fd)
{
	size_t i = (size_t)(fd - FD_BASE);
	if (fd < FD_BASE || i >= fs->n_fds || !fs->fds[i].used) {
		return NULL;
	}
	return &fs->fds[i];
}

static int new_fd(struct simfs *fs, struct dir *d, struct inode *ino, const char *name)
{
	size_t i = 0;
	while (i < fs->n_fds && fs->fds[i].used) {
		i++;
	}
	if (i == fs->n_fds) {
		grow((void **)&fs->fds, &fs->cap_fds, fs->n_fds, sizeof(*fs->fds));
		fs->n_fds++;
	}
	fs->fds[i] = (struct fdent){.used = true, .dir = d, .ino = ino};
	snprintf(fs->fds[i].name, sizeof(fs->fds[i].name), "%s", name);
	d->open_refs++;
	if (ino != NULL) {
		ino->open_refs++;
	}
	return FD_BASE + (int)i;
}

/* Checks the tag's state before a call: a frozen tag refuses mutating
 * calls, which also count down an armed crash. Reads always work (they see
 * what the dying process saw). Returns 0 or -EIO. */
static int gate(struct simfs *fs, unsigned tag, bool mutating)
{
	if (!mutating) {
		return 0;
	}
	if (fs->frozen[tag]) {
		return -EIO;
	}
	if (fs->countdown[tag] > 0 && --fs->countdown[tag] == 0) {
		if (fs->trace != NULL) {
			fprintf(fs->trace, "simfs: tag %u freezes\n", tag);
		}
		fs->frozen[tag] = true;
		if (fs->freeze_cb != NULL) {
			fs->freeze_cb(fs->freeze_arg, tag);
		}
		return -EIO;
	}
	if (fs->err_countdown[tag] > 0 && --fs->err_countdown[tag] == 0) {
		if (fs->error_cb != NULL) {
			fs->error_cb(fs->freeze_arg, tag);
		}
		return -EIO;
	}
	return 0;
}

/* Looks up a file descriptor (not a directory) and gates it. */
static int file_fd(struct simfs *fs, int fd, bool mutating, struct inode **ino)
{
	struct fdent *f = get_fd(fs, fd);
	if (f == NULL) {
		return -EBADF;
	}
	int rv = gate(fs, f->dir->tag, mutating);
	if (rv == 0 && f->ino == NULL) {
		rv = -EISDIR;
	}
	*ino = f->ino;
	return rv;
}

static struct dir *dir_of_fd(struct simfs *fs, int fd)
{
	struct fdent *f = get_fd(fs, fd);
	return f != NULL && f->ino == NULL ? f->dir : NULL;
}

/* ---- rl_vfs functions ---------------------------------------------------- */

static int fs_open_dir(struct simfs *fs, const char *path)
{
	struct dir *d = find_dir(fs, path);
	if (d == NULL) {
		return -ENOENT;
	}
	int rv = gate(fs, d->tag, false);
	return rv != 0 ? rv : new_fd(fs, d, NULL, ".");
}

static int fs_open(void *data, int dir_fd, const char *name, int flags, unsigned mode)
{
	struct simfs *fs = data;
	(void)mode;
	if (dir_fd == AT_FDCWD) {
		return (flags & O_DIRECTORY) ? fs_open_dir(fs, name) : -EINVAL;
	}
	struct dir *d = dir_of_fd(fs, dir_fd);
	if (d == NULL || (flags & O_DIRECTORY) || strchr(name, '/') != NULL ||
	    strlen(name) >= NAME_MAX_BYTES) {
		return d == NULL ? -EBADF : -EINVAL;
	}
	size_t at;
	struct dent *e = table_find(&d->cur, name, &at);
	bool mutating = e == NULL ? (flags & O_CREAT) != 0 : (flags & O_TRUNC) != 0;
	int rv = gate(fs, d->tag, mutating);
	if (rv != 0) {
		return rv;
	}
	if (e == NULL) {
		if (!(flags & O_CREAT)) {
			return -ENOENT;
		}
		struct inode *ino = xcalloc(1, sizeof(*ino));
		grow((void **)&d->inodes, &d->cap_inodes, d->n_inodes, sizeof(*d->inodes));
		d->inodes[d->n_inodes++] = ino;
		dir_push(d, DOP_LINK, name, NULL, ino);
		trace(fs, "create", dir_fd, name, 0, 0);
		return new_fd(fs, d, ino, name);
	}
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		bytes_resize(&e->ino->cur, 0);
		inode_push(e->ino, FOP_TRUNC, 0, NULL, 0);
		trace(fs, "o_trunc", dir_fd, name, 0, 0);
	}
	return new_fd(fs, d, e->ino, name);
}

static int fs_close(void *data, int fd)
{
	struct simfs *fs = data;
	struct fdent *f = get_fd(fs, fd);
	if (f == NULL) {
		return -EBADF;
	}
	f->used = false;
	f->dir->open_refs--;
	if (f->ino != NULL) {
		f->ino->open_refs--;
	}
	return 0;
}

static ssize_t fs_pread(void *data, int fd, void *buf, size_t len, uint64_t pos)
{
	struct inode *ino;
	int rv = file_fd(data, fd, false, &ino);
	if (rv != 0) {
		return rv;
	}
	if (pos >= ino->cur.len) {
		return 0;
	}
	size_t n = SL_MIN(len, (size_t)(ino->cur.len - pos));
	memcpy(buf, ino->cur.p + pos, n);
	return (ssize_t)n;
}

static ssize_t fs_pwritev(void *data, int fd, const struct iovec *iov, int iovcnt, uint64_t pos)
{
	struct inode *ino;
	int rv = file_fd(data, fd, true, &ino);
	if (rv != 0) {
		return rv;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	uint8_t *buf = xrealloc(NULL, total);
	size_t at = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	bytes_write(&ino->cur, pos, buf, total);
	inode_push(ino, FOP_WRITE, pos, buf, total);
	trace(data, "write", fd, NULL, pos, total);
	free(buf);
	return (ssize_t)total;
}

static int fs_sync(void *data, int fd)
{
	struct simfs *fs = data;
	struct fdent *f = get_fd(fs, fd);
	if (f == NULL) {
		return -EBADF;
	}
	int rv = gate(fs, f->dir->tag, true);
	if (rv != 0) {
		return rv;
	}
	trace(fs, "sync", fd, NULL, 0, 0);
	if (f->ino != NULL) {
		inode_sync(f->ino);
	} else {
		dir_sync(f->dir);
	}
	return 0;
}

static int fs_ftruncate(void *data, int fd, uint64_t len)
{
	struct inode *ino;
	int rv = file_fd(data, fd, true, &ino);
	if (rv != 0) {
		return rv;
	}
	bytes_resize(&ino->cur, (size_t)len);
	inode_push(ino, FOP_TRUNC, len, NULL, 0);
	trace(data, "ftruncate", fd, NULL, len, 0);
	return 0;
}

static int fs_fsize(void *data, int fd, uint64_t *size)
{
	struct inode *ino;
	int rv = file_fd(data, fd, false, &ino);
	if (rv == 0) {
		*size = ino->cur.len;
	}
	return rv;
}

/* Looks up and gates the directory of a name operation. */
static int name_dir(struct simfs *fs, int dir_fd, struct dir **out)
{
	*out = dir_of_fd(fs, dir_fd);
	return *out == NULL ? -EBADF : gate(fs, (*out)->tag, true);
}

static int fs_rename(void *data, int dir_fd, const char *from, const char *to)
{
	struct dir *d;
	int rv = name_dir(data, dir_fd, &d);
	if (rv != 0) {
		return rv;
	}
	size_t at;
	if (table_find(&d->cur, from, &at) == NULL) {
		return -ENOENT;
	}
	if (strlen(to) >= NAME_MAX_BYTES) {
		return -EINVAL;
	}
	dir_push(d, DOP_RENAME, from, to, NULL);
	trace(data, "rename", dir_fd, from, 0, 0);
	return 0;
}

static int fs_unlink(void *data, int dir_fd, const char *name)
{
	struct dir *d;
	int rv = name_dir(data, dir_fd, &d);
	if (rv != 0) {
		return rv;
	}
	size_t at;
	if (table_find(&d->cur, name, &at) == NULL) {
		return -ENOENT;
	}
	dir_push(d, DOP_UNLINK, name, NULL, NULL);
	trace(data, "unlink", dir_fd, name, 0, 0);
	return 0;
}

static int fs_mkdir(void *data, const char *path, unsigned mode)
{
	struct simfs *fs = data;
	(void)mode;
	if (find_dir(fs, path) != NULL) {
		return -EEXIST;
	}
	char parent[PATH_MAX_BYTES];
	const char *slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash - path) >= sizeof(parent) ||
	    strlen(path) >= PATH_MAX_BYTES) {
		return -EACCES; /* only inside a root made by simfs_add_root() */
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	struct dir *p = find_dir(fs, parent);
	if (p == NULL) {
		return -ENOENT;
	}
	int rv = gate(fs, p->tag, true);
	if (rv == 0) {
		new_dir(fs, path, p->tag);
	}
	return rv;
}

static int fs_list(void *data, int dir_fd, rl_vfs_list_cb cb, void *arg)
{
	struct simfs *fs = data;
	struct dir *d = dir_of_fd(fs, dir_fd);
	if (d == NULL) {
		return -EBADF;
	}
	int rv = gate(fs, d->tag, false);
	for (size_t i = 0; rv == 0 && i < d->cur.n; i++) {
		rv = cb(arg, d->cur.v[i].name);
	}
	return rv;
}

/* ---- Public functions ---------------------------------------------------- */

struct simfs *simfs_create(void)
{
	struct simfs *fs = xcalloc(1, sizeof(*fs));
	fs->vfs = (struct rl_vfs){
		.data = fs,
		.open = fs_open,
		.close = fs_close,
		.pread = fs_pread,
		.pwritev = fs_pwritev,
		.fdatasync = fs_sync,
		.fsync = fs_sync,
		.ftruncate = fs_ftruncate,
		.fsize = fs_fsize,
		.rename = fs_rename,
		.unlink = fs_unlink,
		.mkdir = fs_mkdir,
		.list = fs_list,
		.writeback = NULL,
	};
	return fs;
}

void simfs_destroy(struct simfs *fs)
{
	for (size_t i = 0; i < fs->n_fds; i++) {
		SL_ASSERT(!fs->fds[i].used);
	}
	for (size_t i = 0; i < fs->n_dirs; i++) {
		dir_free(fs->dirs[i]);
	}
	free(fs->dirs);
	free(fs->fds);
	free(fs);
}

const struct rl_vfs *simfs_vfs(struct simfs *fs)
{
	return &fs->vfs;
}

void simfs_add_root(struct simfs *fs, const char *path, unsigned tag)
{
	SL_ASSERT(tag > 0 && tag < SIMFS_TAGS_MAX && strchr(path, '/') == NULL);
	SL_ASSERT(find_dir(fs, path) == NULL);
	new_dir(fs, path, tag);
}

void simfs_set_callbacks(struct simfs *fs, void (*freeze_cb)(void *arg, unsigned tag),
			 void (*error_cb)(void *arg, unsigned tag), void *arg)
{
	fs->freeze_cb = freeze_cb;
	fs->error_cb = error_cb;
	fs->freeze_arg = arg;
}

void simfs_freeze(struct simfs *fs, unsigned tag, bool frozen)
{
	SL_ASSERT(tag < SIMFS_TAGS_MAX);
	fs->frozen[tag] = frozen;
}

bool simfs_frozen(const struct simfs *fs, unsigned tag)
{
	return tag < SIMFS_TAGS_MAX && fs->frozen[tag];
}

void simfs_arm_crash(struct simfs *fs, unsigned tag, unsigned long after_ops)
{
	SL_ASSERT(tag < SIMFS_TAGS_MAX);
	fs->countdown[tag] = after_ops;
}

void simfs_set_trace(struct simfs *fs, FILE *out)
{
	fs->trace = out;
}

void simfs_arm_error(struct simfs *fs, unsigned tag, unsigned long after_ops)
{
	SL_ASSERT(tag < SIMFS_TAGS_MAX);
	fs->err_countdown[tag] = after_ops;
}

unsigned simfs_open_fds(const struct simfs *fs, unsigned tag)
{
	unsigned n = 0;
	for (size_t i = 0; i < fs->n_fds; i++) {
		n += fs->fds[i].used && fs->fds[i].dir->tag == tag;
	}
	return n;
}

void simfs_crash(struct simfs *fs, unsigned tag, struct sim_rng *rng, struct simfs_crash_stats *st)
{
	struct simfs_crash_stats local = {0};
	SL_ASSERT(simfs_open_fds(fs, tag) == 0);
	for (size_t i = 0; i < fs->n_dirs; i++) {
		if (fs->dirs[i]->tag == tag) {
			dir_crash(fs->dirs[i], rng, st != NULL ? st : &local);
		}
	}
	fs->frozen[tag] = false;
	fs->countdown[tag] = 0;
	fs->err_countdown[tag] = 0;
}
