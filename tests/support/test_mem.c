/* SPDX-License-Identifier: MIT */
/*
 * test_mem.c - the counting, fault-injecting allocator (see test_mem.h).
 * Each block carries a small header with its size so a sized free that does
 * not match the allocation is caught at once.
 */
#include "test_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16
#define MAGIC 0x67766d656d6d656dULL

static void *
tm_alloc(void *ctx, size_t size)
{
	gv_test_mem *tm = ctx;
	if (tm->fail_countdown >= 0) {
		if (tm->fail_countdown == 0) {
			if (!tm->fail_sticky)
				tm->fail_countdown = -1;
			tm->failures++;
			return NULL;
		}
		tm->fail_countdown--;
	}
	unsigned char *p = malloc(HDR + size);
	if (!p)
		return NULL;
	unsigned long long hdr[2] = {MAGIC, size};
	memcpy(p, hdr, sizeof(hdr));
	tm->live_bytes += size;
	tm->live_allocs++;
	tm->total_allocs++;
	if (tm->live_bytes > tm->peak_bytes)
		tm->peak_bytes = tm->live_bytes;
	return p + HDR;
}

static void
tm_free(void *ctx, void *ptr, size_t size)
{
	gv_test_mem *tm = ctx;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	unsigned long long hdr[2];
	memcpy(hdr, p, sizeof(hdr));
	if (hdr[0] != MAGIC || hdr[1] != size) {
		fprintf(stderr, "test_mem: bad free of %p (size %zu, allocated "
				"%llu, magic %llx)\n",
			ptr, size, hdr[1], hdr[0]);
		abort();
	}
	memset(p, 0, HDR);
	tm->live_bytes -= size;
	tm->live_allocs--;
	free(p);
}

void
gv_test_mem_init(gv_test_mem *tm)
{
	memset(tm, 0, sizeof(*tm));
	tm->mem.alloc = tm_alloc;
	tm->mem.dealloc = tm_free;
	tm->mem.ctx = tm;
	tm->fail_countdown = -1;
}

void
gv_test_mem_fail_after(gv_test_mem *tm, long n, int sticky)
{
	tm->fail_countdown = n;
	tm->fail_sticky = sticky;
}

void
gv_test_mem_no_fail(gv_test_mem *tm)
{
	tm->fail_countdown = -1;
	tm->fail_sticky = 0;
}
