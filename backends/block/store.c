// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
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

int blk_store_open(const char *path, bool readonly, uint32_t logical, bool direct,
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
	} else if (S_ISREG(st.st_mode)) {
		r = probe_file(s, &st, logical);
	} else {
		r = -ENOTBLK;
	}
	if (r)
		goto fail;
	if (direct)
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
