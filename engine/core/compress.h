/* SPDX-License-Identifier: MIT */
/*
 * compress.h - zstd compression for gossip datagrams and stream chunks.
 *
 * A gv_zctx holds one zstd compression and one decompression context,
 * created once (per node, per stream connection) and reused for every
 * call: zstd's contexts cost tens of KiB to set up, more than compressing
 * a datagram. All of their memory comes from the gv_mem given at creation.
 *
 * Every compressed buffer is one standard zstd frame (RFC 8878) with its
 * content size written in the frame header and no checksum (the datagram
 * checksum or the AEAD tag covers the compressed bytes). The decoder is
 * total, like the wire decoder: a frame without a content size, with a
 * content size larger than the caller's bound, with a dictionary, with
 * bytes after it, truncated or corrupted is refused, and the decompressor
 * writes only inside the caller's buffer and allocates nothing per call
 * (single-shot decompression needs no window buffer).
 *
 * Not thread-safe: a gv_zctx is used by one thread at a time.
 */
#ifndef GV_CORE_COMPRESS_H
#define GV_CORE_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

/* zstd level used for datagrams unless configured: -1, a "fast" level
 * (no entropy coding of literals): 2.4 times less CPU to compress and
 * about 3 times less to decompress than level 1, for about a tenth less
 * gain on gossip datagrams (docs/compression.md). Bulk stream chunks,
 * compressed once and sent once, can afford 1 to 3. */
#define GV_COMPRESS_LEVEL_DEFAULT (-1)
#define GV_COMPRESS_LEVEL_MIN (-7)
#define GV_COMPRESS_LEVEL_MAX 19

/* gv_node_config.compress_threshold's default: datagrams whose records
 * pass this many bytes are tried (docs/compression.md: measured) */
#define GV_COMPRESS_THRESHOLD_DEFAULT 512

/* The smallest input gv_compress() tries: a zstd frame header with a
 * content size is 6 to 14 bytes, and a block header 3 more. */
#define GV_COMPRESS_MIN_INPUT 32

typedef struct gv_zctx gv_zctx;

/*
 * gv_zctx_new - create the contexts.
 * @mem: allocator for every byte zstd uses (kept; must outlive the zctx).
 * Returns 0 with *out set; GV_EINVAL, GV_ENOMEM. *out is written only on
 * success.
 */
int gv_zctx_new(gv_zctx **out, const gv_mem *mem);

/* Free the contexts (NULL is a no-op). */
void gv_zctx_del(gv_zctx *z);

/*
 * gv_compress_bound - the largest frame gv_compress() may write for @len
 * input bytes (ZSTD_compressBound): a dst of this size never makes it
 * return 0 for want of room.
 */
size_t gv_compress_bound(size_t len);

/*
 * gv_compress - compress @len bytes at @src into one zstd frame at @dst.
 * @dst_cap: room at dst. A frame that does not fit, or that would not be
 * smaller than @len, is not written: the call returns 0 ("not smaller:
 * send it raw"). Pass dst_cap < len to demand a gain (the datagram path
 * asks for a worthwhile margin this way, and zstd gives up as soon as
 * the output passes dst_cap, so incompressible data costs less).
 * @level: zstd level, GV_COMPRESS_LEVEL_MIN..GV_COMPRESS_LEVEL_MAX
 * (negative: faster, less compression).
 * dst and src must not overlap. Inputs shorter than
 * GV_COMPRESS_MIN_INPUT return 0 without trying.
 * Returns the frame's length (0 < n < len), 0 (not smaller, dst's bytes
 * undefined), GV_EINVAL (NULL pointer with a non-zero length, level out of
 * range), GV_ENOMEM (zstd could not get its workspace).
 */
ssize_t gv_compress(gv_zctx *z, void *dst, size_t dst_cap, const void *src,
                    size_t len, int level);

/*
 * gv_decompress - decompress the one zstd frame of @len bytes at @src
 * into @dst, which has room for @dst_cap bytes.
 * The frame header must state its content size, and it must be at most
 * dst_cap; the frame must be exactly @len bytes (no trailing data, no
 * second frame) and use no dictionary.
 * Returns the decompressed length (exactly the content size, which may be
 * 0); GV_EINVAL (NULL z or dst/src NULL with a non-zero length),
 * GV_ERANGE (content size larger than dst_cap), GV_EMALFORMED (not a zstd
 * frame, content size missing, truncated, corrupted, trailing bytes, a
 * dictionary, or an output that disagrees with the content size). On
 * error dst's first dst_cap bytes may have been written, never more.
 */
ssize_t gv_decompress(gv_zctx *z, void *dst, size_t dst_cap, const void *src,
                      size_t len);

/*
 * gv_compressed_len - the length of the zstd frame that starts at @src
 * (what may follow it is not looked at). Returns it (> 0), GV_EINVAL,
 * GV_EMALFORMED (not a frame, or truncated).
 */
ssize_t gv_compressed_len(const void *src, size_t len);

/*
 * gv_decompressed_size - the content size the frame at @src declares,
 * for a caller that sizes its buffer first (a stream chunk): 0 and
 * *size on success; GV_EMALFORMED (not a frame, or no content size),
 * GV_ETRUNCATED (shorter than the frame header), GV_EINVAL.
 */
int gv_decompressed_size(const void *src, size_t len, uint64_t *size);

#endif /* GV_CORE_COMPRESS_H */
