/* SPDX-License-Identifier: MIT */
/*
 * test_mem.h - a counting, fault-injecting gv_mem for tests (after SQLite's
 * test_malloc.c). It counts live bytes and allocations exactly (frees are
 * sized, and a size mismatch aborts the test), records the peak, and can be
 * told to fail the Nth allocation from now, so a test can walk a failure
 * through every allocation point of an operation.
 *
 * Not thread-safe: multi-threaded tests allocate up front.
 */
#ifndef GV_TEST_MEM_H
#define GV_TEST_MEM_H

#include <stddef.h>
#include <grapevine/grapevine.h>

typedef struct gv_test_mem {
	gv_mem mem;           /* pass &tm.mem to the code under test */
	size_t live_bytes;    /* bytes allocated and not yet freed */
	size_t live_allocs;   /* allocations not yet freed */
	size_t peak_bytes;    /* highest live_bytes seen */
	size_t total_allocs;  /* successful allocations ever */
	size_t failures;      /* allocations refused by injection */
	long fail_countdown;  /* <0: never fail; N: the (N+1)th alloc fails */
	int fail_sticky;      /* once failing, keep failing */
} gv_test_mem;

void gv_test_mem_init(gv_test_mem *tm);

/* Fail the (n+1)th allocation from now (n = 0: the next one). */
void gv_test_mem_fail_after(gv_test_mem *tm, long n, int sticky);

/* Stop injecting failures. */
void gv_test_mem_no_fail(gv_test_mem *tm);

#endif
