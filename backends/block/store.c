// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/major.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store.h"

static uint64_t sysfs_u64(dev_t dev, const char *attr, uint64_t dflt)
{
	char path[128];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s", major(dev), minor(dev), attr);
	f = fopen(path, "r");
	if (!f)
		return dflt;
	if (fscanf(f, "%llu", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static int probe_bdev(struct blk_store *s, dev_t dev)
{
	unsigned long long size;
	int lss, pbs;

	if (ioctl(s->fd, BLKGETSIZE64, &size) || ioctl(s->fd, BLKSSZGET, &lss) ||
	    ioctl(s->fd, BLKPBSZGET, &pbs))
		return -errno;
	s->size = size;
	s->logical = (uint32_t)lss;
	s->physical = (uint32_t)pbs;
	s->dio_align = s->logical;
	s->discard = sysfs_u64(dev, "discard_max_bytes", 0) > 0;
	s->discard_granularity = (uint32_t)sysfs_u64(dev, "discard_granularity", s->logical);
	if (!s->discard_granularity)
		s->discard_granularity = s->logical;
	s->discard_alignment = 0;
	/*
	 * Secure discard: Linux >= 5.19 answers EOPNOTSUPP before looking at
	 * the range when the device cannot; a misaligned one-byte range makes
	 * a capable device answer EINVAL without touching anything.
	 */
	if (!s->readonly) {
		uint64_t range[2] = { 0, 1 };

		s->secure_discard = ioctl(s->fd, BLKSECDISCARD, range) != 0 && errno == EINVAL;
	}
	return 0;
}

static int probe_file(struct blk_store *s, const struct stat *st, uint32_t logical)
{
	s->size = (uint64_t)st->st_size;
	s->logical = logical ? logical : 512;
	if (s->logical != 512 && s->logical != 4096)
		return -EINVAL;
	if (s->size % s->logical)
		return -EINVAL;
	/* The page cache works in pages: that is the physical granule. */
	s->physical = 4096;
	s->dio_align = 4096;
	s->discard_granularity = st->st_blksize ? (uint32_t)st->st_blksize : 4096;
	s->discard_alignment = 0;
	/* Punching a hole past the end tells whether the file system can. */
	s->discard = !s->readonly && fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					       (off_t)s->size, 4096) == 0;
	s->secure_discard = false; /* a punched hole is not an erase */
	return 0;
}

/*
 * Serve loop device dev (s->fd) through its backing file: sysfs's path,
 * checked against the loop's own inode and size.  0, or -errno with s as it was.
 */
static int loop_file(struct blk_store *s, dev_t dev, int flags)
{
	struct loop_info64 li;
	char path[128], file[4096];
	struct stat st;
	size_t n;
	FILE *f;
	int fd;

	if (ioctl(s->fd, LOOP_GET_STATUS64, &li))
		return -errno;
	if (li.lo_offset || li.lo_sizelimit || li.lo_encrypt_type != LO_CRYPT_NONE)
		return -ENOTSUP;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", major(dev),
		 minor(dev));
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(file, 1, sizeof(file) - 1, f);
	fclose(f);
	while (n && file[n - 1] == '\n')
		n--;
	file[n] = 0;
	if (file[0] != '/')
		return -ENOENT;
	fd = open(file, flags);
	if (fd < 0)
		return -errno;
	/* The same inode (not a file renamed over it, " (deleted)" never opens), whole. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_ino != li.lo_inode ||
	    st.st_dev != (dev_t)li.lo_device || (uint64_t)st.st_size != s->size) {
		close(fd);
		return -ESTALE;
	}
	s->file = strdup(file);
	if (!s->file) {
		close(fd);
		return -ENOMEM;
	}
	close(s->fd);
	s->fd = fd;
	s->bdev = false;
	/* The loop device's geometry stays; discard is a punched hole now. */
	s->discard = !s->readonly && fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					       (off_t)s->size, 4096) == 0;
	s->secure_discard = false;
	return 0;
}

int blk_store_open(const char *path, bool readonly, uint32_t logical, unsigned oflags,
		   struct blk_store **out)
{
	struct blk_store *s = calloc(1, sizeof(*s));
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int r;

	if (!s)
		return -ENOMEM;
	s->readonly = readonly;
	s->dfd = -1;
	s->fd = open(path, flags);
	if (s->fd < 0 || fstat(s->fd, &st)) {
		r = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		s->bdev = true;
		r = probe_bdev(s, st.st_rdev);
		/* Not a loop device, or one with more to it: it stays (not an error). */
		if (!r && (oflags & BLK_STORE_LOOP_FILE) && !(oflags & BLK_STORE_DIRECT) &&
		    major(st.st_rdev) == LOOP_MAJOR)
			loop_file(s, st.st_rdev, flags);
	} else if (S_ISREG(st.st_mode)) {
		r = probe_file(s, &st, logical);
	} else {
		r = -ENOTBLK;
	}
	if (r)
		goto fail;
	if (oflags & BLK_STORE_DIRECT)
		s->dfd = open(path, flags | O_DIRECT);
	*out = s;
	return 0;
fail:
	blk_store_close(s);
	return r;
}

void blk_store_close(struct blk_store *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->dfd >= 0)
		close(s->dfd);
	free(s->file);
	free(s);
}

int blk_store_refresh(struct blk_store *s, bool *changed)
{
	uint64_t size;

	if (s->bdev) {
		unsigned long long v;

		if (ioctl(s->fd, BLKGETSIZE64, &v))
			return -errno;
		size = v;
	} else {
		struct stat st;

		if (fstat(s->fd, &st))
			return -errno;
		size = (uint64_t)st.st_size - (uint64_t)st.st_size % s->logical;
	}
	*changed = size != s->size;
	s->size = size;
	return 0;
}

int blk_store_discard_bdev(struct blk_store *s, uint64_t off, uint64_t len, bool secure)
{
	uint64_t range[2] = { off, len };

	return ioctl(s->fd, secure ? BLKSECDISCARD : BLKDISCARD, range) ? -errno : 0;
}
