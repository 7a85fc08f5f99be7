/* SPDX-License-Identifier: MIT */
/*
 * zdgram.c - a node's side of compressed gossip (GV_WIRE_FLAG_ZSTD):
 * compressing a finished datagram before it is sealed, and inflating a
 * compressed one after it is opened, before its records are decoded.
 *
 * The zstd contexts and the scratch buffer are the node's, made at the
 * first datagram that needs them (a node that never sees one pays
 * nothing: a simulated cluster of a thousand nodes would otherwise hold
 * a thousand decompression contexts of ~100 KiB), then reused: never a
 * context per datagram.
 *
 * What is tried: the records region of a datagram, without the PAD
 * record that fills it to max_datagram for a GSO chain, when it is
 * longer than cfg.compress_threshold. A padded datagram is tried only
 * with cfg.compress_padded: once compressed it is shorter than its
 * neighbours and the io layer sends it alone (docs/compression.md has
 * the measurement). The frame must save an eighth of the records (at
 * least MIN_GAIN bytes), or the datagram goes raw: a datagram never
 * grows, and a receiver never inflates for a trifle (random values
 * behind compressible headers save about a tenth: not worth the CPU).
 *
 * The same records often go to several peers in a row: an origin sends
 * a write to each of its peers itself (GV_UPD_DIRECT), a flooding pass
 * sends one run of records to each of its successors, and only the
 * header differs. So the last GV_ZCACHE inputs compressed and their
 * frames are kept (zc): records equal to one of them (compared byte for
 * byte, not by a hash a client could aim at) reuse its frame. An origin
 * sending a 20 KB value to 15 peers compresses it once, not 15 times,
 * and a pass of several datagrams per peer compresses each run once
 * (peer after peer, the same runs come back in the same order).
 *
 * A failed attempt costs as much CPU as a successful one, so a node
 * whose datagrams do not compress (random or already compressed values)
 * backs off: after k failures in a row it sends the next min(2^k,
 * MAX_BACKOFF) eligible datagrams raw without trying (counted in
 * compress_skipped too), and the first success resets it.
 */
#include "node_int.h"

#include "compress.h"

#define MIN_GAIN 32
#define MAX_BACKOFF 32

static uint64_t
clock_ns(const gv_node *n)
{
	return n->cfg.cb.clock_ns ? n->cfg.cb.clock_ns(n->cfg.ud) : 0;
}

/* The contexts and the scratch buffer, made once. */
static int
z_ready(gv_node *n)
{
	if (n->zbuf)
		return 0;
	if (!n->zctx) {
		int rc = gv_zctx_new(&n->zctx, n->mem);
		if (rc)
			return rc;
	}
	n->zbuf = gv__alloc(n->mem, GV_WIRE_MAX_MTU);
	return n->zbuf ? 0 : GV_ENOMEM;
}

void
gv__z_fini(gv_node *n)
{
	gv_zctx_del(n->zctx);
	n->zctx = NULL;
	gv__free(n->mem, n->zbuf, GV_WIRE_MAX_MTU);
	n->zbuf = NULL;
	for (unsigned k = 0; k < GV_ZCACHE; k++) {
		struct gv_zcache *e = &n->zc[k];
		gv__free(n->mem, e->raw, e->cap);
		gv__free(n->mem, e->frame, e->cap);
		memset(e, 0, sizeof(*e));
	}
}

/* A frame made for exactly these records, if one is kept. */
static const uint8_t *
cached(gv_node *n, const uint8_t *raw, size_t len, ssize_t *flen)
{
	for (unsigned k = 0; k < GV_ZCACHE; k++) {
		const struct gv_zcache *e = &n->zc[k];
		if (e->out && e->len == len && !memcmp(e->raw, raw, len)) {
			*flen = (ssize_t)e->out;
			n->st.compress_reused++;
			return e->frame;
		}
	}
	return NULL;
}

/* Keep raw and its frame, in place of the oldest kept (best effort). */
static void
remember(gv_node *n, const uint8_t *raw, size_t len, const uint8_t *frame,
         size_t flen)
{
	struct gv_zcache *e = &n->zc[n->zc_next];
	n->zc_next = (n->zc_next + 1) % GV_ZCACHE;
	if (e->cap < len) {
		size_t cap = len < 4096 ? 4096 : len;
		uint8_t *a = gv__alloc(n->mem, cap);
		uint8_t *b = a ? gv__alloc(n->mem, cap) : NULL;
		if (!b) {
			gv__free(n->mem, a, cap);
			e->out = 0;
			return;
		}
		gv__free(n->mem, e->raw, e->cap);
		gv__free(n->mem, e->frame, e->cap);
		e->raw = a;
		e->frame = b;
		e->cap = cap;
	}
	memcpy(e->raw, raw, len);
	memcpy(e->frame, frame, flen);
	e->len = len;
	e->out = flen;
}

size_t
gv__z_pack(gv_node *n, uint8_t *buf, size_t len)
{
	size_t thr = n->cfg.compress_threshold;
	if (!thr || len <= GV_WIRE_HEADER_LEN + thr ||
	    (buf[3] & GV_WIRE_FLAG_ZSTD)) /* packed by the flooding pass */
		return len;
	size_t end = gv_wire_unpadded_len(buf, len);
	if (end < len && !n->cfg.compress_padded)
		return len;
	size_t raw = end - GV_WIRE_HEADER_LEN;
	if (raw <= thr)
		return len;
	if (n->z_backoff) {
		n->z_backoff--;
		n->st.compress_skipped++;
		return len;
	}
	size_t gain = raw / 8 > MIN_GAIN ? raw / 8 : MIN_GAIN;
	if (raw <= gain || z_ready(n))
		return len;
	uint64_t t0 = clock_ns(n);
	ssize_t z = 0;
	const uint8_t *frame = cached(n, buf + GV_WIRE_HEADER_LEN, raw, &z);
	if (!frame) {
		frame = n->zbuf;
		z = gv_compress(n->zctx, n->zbuf, raw - gain,
		                buf + GV_WIRE_HEADER_LEN, raw,
		                n->cfg.compress_level);
		if (z > 0)
			remember(n, buf + GV_WIRE_HEADER_LEN, raw, n->zbuf,
			         (size_t)z);
	}
	n->st.compress_ns += clock_ns(n) - t0;
	if (z <= 0) {
		n->st.compress_skipped++;
		if (n->z_fails < 16)
			n->z_fails++;
		size_t b = (size_t)1 << n->z_fails;
		n->z_backoff = (uint32_t)(b < MAX_BACKOFF ? b : MAX_BACKOFF);
		return len;
	}
	n->z_fails = 0;
	memcpy(buf + GV_WIRE_HEADER_LEN, frame, (size_t)z);
	size_t out = GV_WIRE_HEADER_LEN + (size_t)z;
	gv_wire_set_compressed(buf, out, n->cfg.keyring == NULL);
	n->st.compressed_datagrams++;
	n->st.compress_in_bytes += raw;
	n->st.compress_out_bytes += (uint64_t)z;
	n->st.bytes_out -= len - out; /* send_clear counted it raw */
	return out;
}

int
gv__z_unpack(gv_node *n, gv_wire_reader *rd, const uint8_t **buf, size_t *len)
{
	int rc = z_ready(n);
	if (rc)
		return rc;
	uint64_t t0 = clock_ns(n);
	size_t out;
	rc = gv_wire_inflate(n->zctx, rd, n->zbuf, GV_WIRE_MAX_MTU, *buf, *len,
	                     &out);
	n->st.decompress_ns += clock_ns(n) - t0;
	if (rc) {
		n->st.decompress_errors++;
		n->st.dgrams_bad++;
		return rc;
	}
	n->st.decompressed_datagrams++;
	*buf = n->zbuf;
	*len = out;
	return 0;
}

int
gv_node_set_compress(gv_node *n, size_t threshold, int level)
{
	if (!n || level < GV_COMPRESS_LEVEL_MIN ||
	    level > GV_COMPRESS_LEVEL_MAX)
		return GV_EINVAL;
	n->cfg.compress_threshold = threshold;
	n->cfg.compress_level = level;
	for (unsigned k = 0; k < GV_ZCACHE; k++)
		n->zc[k].out = 0; /* made at the old level */
	return 0;
}

/*
 * Packing: the raw capacity is max_datagram times the expected ratio
 * (z_est, from the last packed datagrams, at most 4), shrunk by a tenth
 * so that most fit; below 1.2 not worth a rebuild now and then.
 */
#define PACK_START 2.0
#define PACK_MAX 4.0
#define PACK_MIN 1.2

size_t
gv__z_pack_cap(gv_node *n, size_t cap)
{
	size_t mtu = n->cfg.max_datagram;
	if (!n->cfg.compress_pack || !n->cfg.compress_threshold || n->z_backoff)
		return mtu;
	if (n->z_est == 0)
		n->z_est = PACK_START;
	if (n->z_est < PACK_MIN) {
		/* recover slowly, so that a node whose values became
		 * compressible again packs again */
		n->z_est += 0.01;
		return mtu;
	}
	size_t raw =
	        (size_t)((double)(mtu - GV_WIRE_HEADER_LEN) * n->z_est * 0.9) +
	        GV_WIRE_HEADER_LEN;
	if (raw > cap)
		raw = cap;
	if (raw > GV_WIRE_MAX_MTU)
		raw = GV_WIRE_MAX_MTU;
	return raw > mtu ? raw : mtu;
}

ssize_t
gv__z_fit(gv_node *n, uint8_t *buf, size_t len, size_t mtu, bool pad)
{
	size_t raw = len - GV_WIRE_HEADER_LEN, room = mtu - GV_WIRE_HEADER_LEN;
	if (z_ready(n))
		return GV_ENOBUFS;
	uint64_t t0 = clock_ns(n);
	ssize_t z = 0;
	const uint8_t *frame = cached(n, buf + GV_WIRE_HEADER_LEN, raw, &z);
	if (!frame || (size_t)z > room) {
		z = gv_compress(n->zctx, n->zbuf, room,
		                buf + GV_WIRE_HEADER_LEN, raw,
		                n->cfg.compress_level);
		frame = n->zbuf;
		if (z > 0)
			remember(n, buf + GV_WIRE_HEADER_LEN, raw, n->zbuf,
			         (size_t)z);
	}
	n->st.compress_ns += clock_ns(n) - t0;
	double got = z > 0 ? (double)raw / (double)z : 0;
	if (z <= 0) {
		/* expected too much: aim lower next time */
		n->z_est *= 0.8;
		n->st.compress_skipped++;
		return GV_ENOBUFS;
	}
	n->z_est = 0.8 * n->z_est + 0.2 * (got < PACK_MAX ? got : PACK_MAX);
	memcpy(buf + GV_WIRE_HEADER_LEN, frame, (size_t)z);
	size_t out = GV_WIRE_HEADER_LEN + (size_t)z;
	if (pad) {
		memset(buf + out, 0, mtu - out);
		out = mtu;
	}
	gv_wire_set_compressed(buf, out, n->cfg.keyring == NULL);
	n->st.compressed_datagrams++;
	n->st.compress_in_bytes += raw;
	n->st.compress_out_bytes += (uint64_t)z;
	return (ssize_t)out;
}
