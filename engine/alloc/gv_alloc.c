/* SPDX-License-Identifier: MIT */
/*
 * gv_alloc.c - the allocator programs plug into the core: mimalloc when the
 * build found it (and no sanitizer is on, since ASan/TSan want to see every
 * allocation), else libc.
 */
#include <grapevine/grapevine.h>

#ifdef GV_HAVE_MIMALLOC
#include <mimalloc.h>
#include <pthread.h>

/*
 * mimalloc returns freed pages to the OS after 25 ms by default. grapevine
 * frees and reallocates datagram buffers and rumors all the time over a
 * large working set (a simulated cluster of 10^4 nodes touches ~1 GB), so
 * pages went back and forth: half of gvbench's time at 20,000 nodes was
 * the kernel zeroing them again (3.3 s instead of 11 s per update once
 * they stay). Keep freed pages for 10 s before returning them: a daemon
 * still gives memory back when it shrinks.
 */
static pthread_once_t tune_once = PTHREAD_ONCE_INIT;

static void
tune(void)
{
	mi_option_set(mi_option_decommit_delay, 10000);
	mi_option_set(mi_option_segment_decommit_delay, 10000);
}

static void *
mi_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return mi_malloc(size ? size : 1);
}

static void
mi_free_sized(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (ptr)
		mi_free_size(ptr, size ? size : 1);
}

static const gv_mem mi_mem = {mi_alloc, mi_free_sized, NULL};

const gv_mem *
gv_mem_default(void)
{
	pthread_once(&tune_once, tune);
	return &mi_mem;
}

const char *
gv_mem_default_name(void)
{
	return "mimalloc";
}
#else
const gv_mem *
gv_mem_default(void)
{
	return gv_mem_libc();
}

const char *
gv_mem_default_name(void)
{
	return "libc";
}
#endif
