/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_journal: what a ring's consumer must remember to survive SIGKILL.
 *
 * Each request is copied off the shared ring into a journal slot (that copy
 * is the backend's private copy: the only one it ever looks at), together
 * with the ring index it came from; the index of the next request to take
 * is kept too; before a response is written its ring index is recorded.
 * The journal is a file mapped shared (in a tmpfs such as /run), so a
 * killed daemon leaves it intact.  A restarted daemon reopens it: requests
 * taken but not answered, and answers written but not published, are
 * redone, and consumption resumes where it stopped.  This matters because
 * a response overwrites a request slot of the shared ring: without the
 * journal, an answer written just before the kill would be read back as a
 * request.  Returns -errno; no global state.
 */
#ifndef PVSPLIT_BACK_JOURNAL_H
#define PVSPLIT_BACK_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

struct pvb_journal;

enum pvb_jstate { PVB_J_FREE = 0, PVB_J_TAKEN = 1, PVB_J_ANSWERED = 2 };

struct pvb_jslot {
	uint32_t state;	   /* enum pvb_jstate */
	uint32_t ring_idx; /* where the request was taken */
	uint32_t rsp_idx;  /* where its response went (PVB_J_ANSWERED) */
	uint32_t pad;
	uint8_t req[]; /* the private copy */
};

/*
 * Open the journal at path for a ring of nslots entries whose requests take
 * req_size bytes.  identity names the ring (domain, device, queue, grant
 * refs, port...).  With resume, an existing journal of the same identity is
 * kept (*resumed = true); otherwise the file is started afresh.
 */
int pvb_journal_open(const char *path, uint64_t identity, uint32_t nslots, uint32_t req_size,
		     bool resume, struct pvb_journal **out, bool *resumed);
/* Close; with remove the file is deleted (a clean disconnect). */
void pvb_journal_close(struct pvb_journal *j, bool remove);

struct pvb_jslot *pvb_journal_slot(struct pvb_journal *j, uint32_t i);
uint32_t pvb_journal_req_cons(const struct pvb_journal *j);
void pvb_journal_set_req_cons(struct pvb_journal *j, uint32_t req_cons);

/* Record a request copied into slot s from ring index idx. */
void pvb_journal_taken(struct pvb_jslot *s, uint32_t idx);
/* Record that slot s's response is about to be written at ring index idx. */
void pvb_journal_answering(struct pvb_jslot *s, uint32_t idx);
/* The response of slot s is published: forget it. */
void pvb_journal_done(struct pvb_jslot *s);

/* FNV-1a over a buffer, to build identities. */
uint64_t pvb_journal_hash(uint64_t h, const void *buf, size_t len);

#endif
