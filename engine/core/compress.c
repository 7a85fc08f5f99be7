/* SPDX-License-Identifier: MIT */
/*
 * compress.c - the zstd contexts behind compress.h. zstd allocates through
 * a ZSTD_customMem bridged to the caller's gv_mem; gv_mem's free takes the
 * size, zstd's does not, so every block carries its size in a 16-byte
 * prefix (16 keeps zstd's blocks as aligned as gv_mem's).
 */
#include "compress.h"

#include <zstd_errors.h>

#define PREFIX 16

struct gv_zctx {
	const gv_mem *mem;
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	int level; /* the level cc is set to (INT_MIN: none yet) */
};

static void *
z_alloc(void *opaque, size_t size)
{
	const gv_mem *mem = opaque;
	if (size > SIZE_MAX - PREFIX)
		return NULL;
	uint8_t *p = gv__alloc(mem, size + PREFIX);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	return p + PREFIX;
}

static void
z_free(void *opaque, void *ptr)
{
	if (!ptr)
		return;
	const gv_mem *mem = opaque;
	uint8_t *p = (uint8_t *)ptr - PREFIX;
	size_t size;
	memcpy(&size, p, sizeof(size));
	gv__free(mem, p, size + PREFIX);
}

int
gv_zctx_new(gv_zctx **out, const gv_mem *mem)
{
	if (!out || !mem)
		return GV_EINVAL;
	gv_zctx *z = gv__zalloc(mem, sizeof(*z));
	if (!z)
		return GV_ENOMEM;
	z->mem = mem;
	z->level = INT_MIN;
	ZSTD_customMem cm = {z_alloc, z_free, (void *)mem};
	z->cc = ZSTD_createCCtx_advanced(cm);
	z->dc = ZSTD_createDCtx_advanced(cm);
	if (!z->cc || !z->dc)
		goto nomem;
	/* The frame says its size (the decoder insists), carries no
	 * checksum (the datagram's checksum or AEAD tag covers it) and no
	 * dictionary id: 4 to 8 bytes saved per datagram. */
	if (ZSTD_isError(
	            ZSTD_CCtx_setParameter(z->cc, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(
	            ZSTD_CCtx_setParameter(z->cc, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cc, ZSTD_c_dictIDFlag, 0)))
		goto nomem;
	*out = z;
	return 0;
nomem:
	gv_zctx_del(z);
	return GV_ENOMEM;
}

void
gv_zctx_del(gv_zctx *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cc);
	ZSTD_freeDCtx(z->dc);
	gv__free(z->mem, z, sizeof(*z));
}

size_t
gv_compress_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

ssize_t
gv_compress(gv_zctx *z, void *dst, size_t dst_cap, const void *src, size_t len,
            int level)
{
	if (!z || (!dst && dst_cap) || (!src && len) ||
	    level < GV_COMPRESS_LEVEL_MIN || level > GV_COMPRESS_LEVEL_MAX)
		return GV_EINVAL;
	if (len < GV_COMPRESS_MIN_INPUT || dst_cap == 0)
		return 0;
	if (len > (size_t)SSIZE_MAX)
		return GV_EINVAL;
	if (level != z->level) {
		if (ZSTD_isError(ZSTD_CCtx_setParameter(
		            z->cc, ZSTD_c_compressionLevel, level)))
			return GV_EINVAL;
		z->level = level;
	}
	/* a frame at least as long as the input is of no use */
	size_t cap = dst_cap < len ? dst_cap : len - 1;
	size_t n = ZSTD_compress2(z->cc, dst, cap, src, len);
	if (ZSTD_isError(n)) {
		/* a failed frame leaves the context mid-frame: start over */
		(void)ZSTD_CCtx_reset(z->cc, ZSTD_reset_session_only);
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return 0;
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return GV_ENOMEM;
		return GV_EINVAL;
	}
	return n < len ? (ssize_t)n : 0;
}

ssize_t
gv_compressed_len(const void *src, size_t len)
{
	if (!src && len)
		return GV_EINVAL;
	size_t n = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(n) || n == 0 || n > len || n > (size_t)SSIZE_MAX)
		return GV_EMALFORMED;
	return (ssize_t)n;
}

int
gv_decompressed_size(const void *src, size_t len, uint64_t *size)
{
	if (!size || (!src && len))
		return GV_EINVAL;
	ZSTD_frameHeader fh;
	size_t r = ZSTD_getFrameHeader(&fh, src, len);
	if (ZSTD_isError(r))
		return GV_EMALFORMED;
	if (r > 0)
		return GV_ETRUNCATED; /* r: the header's length */
	if (fh.frameType != ZSTD_frame || fh.dictID != 0 ||
	    fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
		return GV_EMALFORMED;
	*size = fh.frameContentSize;
	return 0;
}

ssize_t
gv_decompress(gv_zctx *z, void *dst, size_t dst_cap, const void *src,
              size_t len)
{
	if (!z || (!dst && dst_cap) || (!src && len))
		return GV_EINVAL;
	uint64_t want;
	int rc = gv_decompressed_size(src, len, &want);
	if (rc)
		return rc == GV_ETRUNCATED ? GV_EMALFORMED : rc;
	if (want > dst_cap || want > (uint64_t)SSIZE_MAX)
		return GV_ERANGE;
	/* exactly one frame, nothing after it */
	size_t flen = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(flen) || flen != len)
		return GV_EMALFORMED;
	/* dst bounded by the declared size: zstd fails a frame whose
	 * blocks would decode to more, and never writes past it */
	size_t n = ZSTD_decompressDCtx(z->dc, dst, (size_t)want, src, len);
	if (ZSTD_isError(n) || n != want) {
		(void)ZSTD_DCtx_reset(z->dc, ZSTD_reset_session_only);
		return GV_EMALFORMED;
	}
	return (ssize_t)n;
}
