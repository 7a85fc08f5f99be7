/* SPDX-License-Identifier: MIT */
/*
 * gv_alloc.c - the allocator programs plug into the core: mimalloc when the
 * build found it (and no sanitizer is on, since ASan/TSan want to see every
 * allocation), else libc.
 */
#include <grapevine/grapevine.h>

#ifdef GV_HAVE_MIMALLOC
#include <mimalloc.h>

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
