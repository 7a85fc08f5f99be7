/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire.c - the datagram decoder on arbitrary bytes. The first byte
 * picks the mode: even, the bytes as they came (header and checksum
 * checks); odd, with magic, version and cluster forced and the checksum
 * fixed, so the records behind a valid header are explored. Every record
 * decoded must lie inside the datagram, and the walk must end.
 */
#include <stdlib.h>

#include "core/wire.h"
#include "fuzz.h"

#define CLUSTER 0x11223344u

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > GV_WIRE_MAX_MTU + 1)
		return 0;
	int mode = data[0] & 1;
	size_t len = size - 1;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (mode && len >= GV_WIRE_HEADER_LEN) {
		buf[0] = GV_WIRE_MAGIC & 0xff;
		buf[1] = GV_WIRE_MAGIC >> 8;
		buf[2] = GV_WIRE_VERSION;
		buf[3] = 0;
		for (int i = 0; i < 4; i++)
			buf[4 + i] = (uint8_t)(CLUSTER >> (8 * i));
		fuzz_fix_checksum(buf, len);
	}
	gv_wire_reader rd;
	gv_wire_header h;
	if (gv_wire_open(&rd, &h, buf, len, CLUSTER) == 0) {
		gv_wire_record rec;
		size_t n = 0;
		int rc;
		while ((rc = gv_wire_next(&rd, &rec)) == 1) {
			if (rec.type == GV_REC_UPDATE) {
				const gv_wire_update *u = &rec.u.update;
				if ((u->klen && (u->key < buf ||
						 u->key + u->klen > buf + len)) ||
				    (u->vlen && (u->val < buf ||
						 u->val + u->vlen > buf + len)))
					abort(); /* a view outside the datagram */
			}
			if (++n > len)
				abort(); /* the walk does not advance */
		}
	}
	free(buf);
	return 0;
}
