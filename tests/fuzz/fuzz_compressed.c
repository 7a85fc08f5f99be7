/* SPDX-License-Identifier: MIT */
/*
 * fuzz_compressed.c - the compressed-datagram decoder (GV_WIRE_FLAG_ZSTD)
 * on arbitrary bytes: gv_wire_open, gv_wire_inflate (gv_decompress
 * under a hard output bound) and the records behind it. The first byte
 * picks the mode:
 *   even: the bytes after it are a datagram whose records region is
 *         taken as the zstd frame as it came (header forced: magic,
 *         version, cluster, the compressed flag; checksum fixed), so
 *         the frame decoder sees everything the fuzzer makes;
 *   odd:  the bytes after the 40-byte header are records, compressed
 *         here (level from the first byte) into the datagram: the
 *         inflated records must be those bytes exactly, and then are
 *         walked as the node would.
 * In both, the inflated datagram must fit GV_WIRE_MAX_MTU and every
 * decoded record must lie inside it; a refused frame must leave nothing
 * to walk. The contexts are made once (as a node makes them) and every
 * input is independent of the ones before.
 */
#include <stdlib.h>

#include "core/compress.h"
#include "core/wire.h"
#include "fuzz.h"

#define CLUSTER 0x11223344u

static gv_zctx *z;
static uint8_t out[GV_WIRE_MAX_MTU];

static void
force_header(uint8_t *buf)
{
	buf[0] = GV_WIRE_MAGIC & 0xff;
	buf[1] = GV_WIRE_MAGIC >> 8;
	buf[2] = GV_WIRE_VERSION;
	buf[3] = GV_WIRE_FLAG_ZSTD;
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(CLUSTER >> (8 * i));
	buf[10] = buf[11] = 0;
}

static void
walk(const uint8_t *dg, size_t len)
{
	gv_wire_reader rd;
	if (gv_wire_open_plain(&rd, dg, len))
		abort();
	gv_wire_record rec;
	size_t n = 0;
	while (gv_wire_next(&rd, &rec) == 1) {
		if (rec.type == GV_REC_UPDATE) {
			const gv_wire_update *u = &rec.u.update;
			if ((u->klen &&
			     (u->key < dg || u->key + u->klen > dg + len)) ||
			    (u->vlen &&
			     (u->val < dg || u->val + u->vlen > dg + len)))
				abort(); /* a view outside the datagram */
		}
		if (++n > len)
			abort(); /* the walk does not advance */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 + GV_WIRE_HEADER_LEN || size > GV_WIRE_MAX_MTU + 1)
		return 0;
	if (!z && gv_zctx_new(&z, gv_mem_libc()))
		abort();
	int mode = data[0] & 1;
	size_t len = size - 1;
	uint8_t *buf = malloc(GV_WIRE_MAX_MTU);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, GV_WIRE_HEADER_LEN);
	force_header(buf);
	const uint8_t *recs = data + 1 + GV_WIRE_HEADER_LEN;
	size_t nrecs = len - GV_WIRE_HEADER_LEN;
	if (mode == 0) {
		memcpy(buf + GV_WIRE_HEADER_LEN, recs, nrecs);
	} else {
		int level = (data[0] >> 1) % 9 + 1;
		ssize_t n = gv_compress(z, buf + GV_WIRE_HEADER_LEN,
		                        GV_WIRE_MAX_MTU - GV_WIRE_HEADER_LEN,
		                        recs, nrecs, level);
		if (n < 0)
			abort();
		if (n == 0) { /* not smaller: it would go raw */
			free(buf);
			return 0;
		}
		if ((size_t)n >= nrecs)
			abort(); /* "compressed" and not smaller */
		len = GV_WIRE_HEADER_LEN + (size_t)n;
	}
	fuzz_fix_checksum(buf, len);
	gv_wire_reader rd;
	gv_wire_header h;
	if (gv_wire_open(&rd, &h, buf, len, CLUSTER) != 0)
		abort(); /* the header is forced, the checksum fixed */
	size_t olen = 0;
	int rc = gv_wire_inflate(z, &rd, out, sizeof(out), buf, len, &olen);
	if (mode == 1 && (rc != 0 || olen != GV_WIRE_HEADER_LEN + nrecs ||
	                  memcmp(out + GV_WIRE_HEADER_LEN, recs, nrecs)))
		abort(); /* our own frame must come back exactly */
	if (rc == 0) {
		if (olen > sizeof(out) || olen < GV_WIRE_HEADER_LEN ||
		    (out[3] & GV_WIRE_FLAG_ZSTD))
			abort();
		walk(out, olen);
	} else if (rc != GV_EMALFORMED && rc != GV_ERANGE) {
		abort();
	}
	free(buf);
	return 0;
}
