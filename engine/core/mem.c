/* SPDX-License-Identifier: MIT */
/*
 * mem.c - the libc allocator as a gv_mem. The core allocates only through
 * the gv_mem its caller passes (gv_core.h poisons malloc and free); this
 * file is the one sanctioned bridge to libc.
 */
#include <grapevine/grapevine.h>

/*
 * The poisoned identifiers cannot be named, so bind other names to the same
 * symbols with asm labels. Any other file that calls malloc still fails.
 */
extern void *gv__libc_malloc(size_t) __asm__("malloc");
extern void gv__libc_free(void *) __asm__("free");

static void *
libc_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return gv__libc_malloc(size ? size : 1);
}

static void
libc_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	gv__libc_free(ptr);
}

static const gv_mem libc_mem = {libc_alloc, libc_free, NULL};

const gv_mem *
gv_mem_libc(void)
{
	return &libc_mem;
}
