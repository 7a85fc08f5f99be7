/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sealed.c - sealed datagrams (keyring.c, wire.c). The first byte
 * picks the mode:
 *   0: the bytes as a received datagram: header check, then open with a
 *      fixed ring; a forgery must never open (the fuzzer does not know
 *      the key), and nothing may crash or read out of bounds;
 *   1: the bytes as the records of a clear datagram, which is sealed
 *      with the ring (either cipher, by the second byte), opened again
 *      (it must round-trip exactly), and walked with gv_wire_next; then
 *      one byte the input picks is flipped, and the result must not open.
 */
#include <stdlib.h>

#include "core/keyring.h"
#include "core/wire.h"
#include "fuzz.h"

#define CLUSTER 0x11223344u

static gv_keyring *ring;
static gv_seal_cache *cache;

static void
setup(void)
{
	if (ring)
		return;
	static const char text[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
		"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";
	if (gv_keyring_new(&ring, NULL) ||
	    gv_keyring_load(ring, text, sizeof(text) - 1, NULL, 0) ||
	    gv_seal_cache_new(&cache, gv_mem_libc()))
		abort();
}

static void
walk(const uint8_t *buf, size_t len)
{
	gv_wire_reader rd;
	gv_wire_record rec;
	if (gv_wire_open_plain(&rd, buf, len))
		return;
	while (gv_wire_next(&rd, &rec) == 1)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 2 || size > GV_WIRE_MAX_MTU + 2)
		return 0;
	int mode = data[0] & 1;
	int cipher = (data[1] & 1) ? GV_CIPHER_XCHACHA20 : GV_CIPHER_AES256GCM;
	if (cipher == GV_CIPHER_AES256GCM && !gv_cipher_aes_available())
		cipher = GV_CIPHER_XCHACHA20;
	size_t len = size - 2;
	const uint8_t *in = data + 2;
	if (mode == 0) {
		uint8_t *buf = malloc(len ? len : 1), *out = malloc(len + 1);
		if (!buf || !out)
			abort();
		memcpy(buf, in, len);
		gv_wire_header h;
		size_t olen;
		if (gv_wire_check_sealed(&h, buf, len, CLUSTER) == 0 &&
		    gv_open(ring, cache, buf, len, out, &olen) == 0)
			abort(); /* a forgery opened */
		free(buf);
		free(out);
		return 0;
	}
	/* mode 1: seal the input as records, open, compare, tamper */
	if (len + GV_WIRE_HEADER_LEN + GV_SEAL_OVERHEAD > GV_WIRE_MAX_MTU)
		return 0;
	size_t clen = GV_WIRE_HEADER_LEN + len;
	size_t cap = clen + GV_SEAL_OVERHEAD;
	/* the writer wants room for one record header at least */
	size_t wcap = clen < GV_WIRE_HEADER_LEN + GV_WIRE_RECORD_HDR
			      ? GV_WIRE_HEADER_LEN + GV_WIRE_RECORD_HDR
			      : clen;
	uint8_t *clear = malloc(wcap), *buf = malloc(cap), *out = malloc(cap);
	if (!clear || !buf || !out)
		abort();
	gv_wire_header h = {.cluster = CLUSTER, .shard = 1, .sender = 42,
			    .incarnation = 3, .seq = 1000 + len};
	gv_wire_writer w;
	if (gv_wire_begin(&w, clear, wcap, &h))
		abort();
	memcpy(clear + GV_WIRE_HEADER_LEN, in, len);
	memcpy(buf, clear, clen);
	gv_keyring_set_cipher(ring, cipher);
	ssize_t sl = gv_seal(ring, cache, buf, clen, cap, 7);
	if (sl != (ssize_t)cap)
		abort();
	gv_wire_header hs;
	size_t olen = 0;
	if (gv_wire_check_sealed(&hs, buf, cap, CLUSTER) ||
	    gv_open(ring, cache, buf, cap, out, &olen) || olen != clen ||
	    memcmp(out + GV_WIRE_HEADER_LEN, clear + GV_WIRE_HEADER_LEN, len) ||
	    hs.sender != 42 || hs.seq != h.seq)
		abort(); /* did not round-trip */
	walk(out, olen);
	size_t at = (len ? in[0] | (size_t)in[len - 1] << 8 : 0) % cap;
	buf[at] ^= (uint8_t)(1u << (len % 8));
	if (gv_open(ring, cache, buf, cap, out, &olen) == 0)
		abort(); /* a changed datagram opened */
	free(clear);
	free(buf);
	free(out);
	return 0;
}
