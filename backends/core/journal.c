// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define MAGIC 0x314c4e524a535650ull /* "PVSJRNL1" */

struct hdr {
	uint64_t magic;
	uint64_t identity;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t req_cons;
	uint32_t pad;
};

struct pvb_journal {
	char *path;
	struct hdr *h;
	size_t size;
	uint32_t slot_size;
};

uint64_t pvb_journal_hash(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!h)
		h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

int pvb_journal_open(const char *path, uint64_t identity, uint32_t nslots, uint32_t req_size,
		     bool resume, struct pvb_journal **out, bool *resumed)
{
	struct pvb_journal *j = calloc(1, sizeof(*j));
	uint32_t slot = (uint32_t)((sizeof(struct pvb_jslot) + req_size + 7) & ~7u);
	struct stat st;
	int fd, r;

	*resumed = false;
	if (!j)
		return -ENOMEM;
	j->path = strdup(path);
	j->slot_size = slot;
	j->size = sizeof(struct hdr) + (size_t)nslots * slot;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (!j->path || fd < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	if (fstat(fd, &st) || (resume ? 0 : ftruncate(fd, 0)) || ftruncate(fd, (off_t)j->size)) {
		r = -errno;
		close(fd);
		goto fail;
	}
	j->h = mmap(NULL, j->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (j->h == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	if (resume && (size_t)st.st_size == j->size && j->h->magic == MAGIC &&
	    j->h->identity == identity && j->h->nslots == nslots && j->h->slot_size == slot) {
		*resumed = true;
	} else {
		memset(j->h, 0, j->size);
		j->h->identity = identity;
		j->h->nslots = nslots;
		j->h->slot_size = slot;
		__atomic_store_n(&j->h->magic, MAGIC, __ATOMIC_RELEASE);
	}
	*out = j;
	return 0;
fail:
	free(j->path);
	free(j);
	return r;
}

void pvb_journal_close(struct pvb_journal *j, bool remove)
{
	if (!j)
		return;
	munmap(j->h, j->size);
	if (remove)
		unlink(j->path);
	free(j->path);
	free(j);
}

struct pvb_jslot *pvb_journal_slot(struct pvb_journal *j, uint32_t i)
{
	return (struct pvb_jslot *)((uint8_t *)(j->h + 1) + (size_t)i * j->slot_size);
}

uint32_t pvb_journal_req_cons(const struct pvb_journal *j)
{
	return j->h->req_cons;
}

void pvb_journal_set_req_cons(struct pvb_journal *j, uint32_t req_cons)
{
	__atomic_store_n(&j->h->req_cons, req_cons, __ATOMIC_RELEASE);
}

void pvb_journal_taken(struct pvb_jslot *s, uint32_t idx)
{
	s->ring_idx = idx;
	__atomic_store_n(&s->state, PVB_J_TAKEN, __ATOMIC_RELEASE);
}

void pvb_journal_answering(struct pvb_jslot *s, uint32_t idx)
{
	s->rsp_idx = idx;
	__atomic_store_n(&s->state, PVB_J_ANSWERED, __ATOMIC_RELEASE);
}

void pvb_journal_done(struct pvb_jslot *s)
{
	__atomic_store_n(&s->state, PVB_J_FREE, __ATOMIC_RELEASE);
}
