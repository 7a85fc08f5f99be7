/* SPDX-License-Identifier: MIT */
/*
 * spsc.c - setup and teardown of the SPSC ring (see spsc.h; the push and
 * pop paths are inline there). The slot array is one allocation from the
 * caller's gv_mem, over-allocated so that it starts on a cache-line
 * boundary: a 64-byte message then fills exactly one line and a slot never
 * straddles two.
 */
#include "shard/spsc.h"

#include <stdint.h>

int
gv_spsc_init(gv_spsc *r, const gv_mem *mem, size_t capacity, size_t elem_size)
{
	if (!r || !mem || capacity == 0 || (capacity & (capacity - 1)) != 0 ||
	    elem_size == 0)
		return GV_EINVAL;
	if (capacity > (SIZE_MAX - GV_SPSC_LINE) / elem_size)
		return GV_EINVAL;

	size_t raw_size = capacity * elem_size + GV_SPSC_LINE - 1;
	void *raw = mem->alloc(mem->ctx, raw_size);
	if (!raw)
		return GV_ENOMEM;

	memset(r, 0, sizeof(*r));
	uintptr_t base = ((uintptr_t)raw + GV_SPSC_LINE - 1) &
	                 ~(uintptr_t)(GV_SPSC_LINE - 1);
	r->slots = (unsigned char *)base;
	r->mask = capacity - 1;
	r->elem_size = elem_size;
	r->raw = raw;
	r->raw_size = raw_size;
	r->mem = mem;
	/*
	 * Plain initialisation: the ring is published to the other thread
	 * by whatever hands it over (thread creation, a mutex), which
	 * orders these stores before its first access.
	 */
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void
gv_spsc_fini(gv_spsc *r)
{
	if (!r || !r->mem)
		return;
	r->mem->dealloc(r->mem->ctx, r->raw, r->raw_size);
	r->raw = NULL;
	r->slots = NULL;
	r->mem = NULL;
}
