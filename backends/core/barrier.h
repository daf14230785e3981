/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memory barriers xen/io/ring.h expects, for userspace (as libxenctrl defines them). */
#ifndef PVSPLIT_BACK_BARRIER_H
#define PVSPLIT_BACK_BARRIER_H

#ifndef xen_mb
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#endif
