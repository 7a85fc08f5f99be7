/* SPDX-License-Identifier: MIT */
/*
 * stream.c - values too large for a datagram, carried over the stream
 * channel.
 *
 * Gossip announces a large write at datagram speed: its UPDATE record has
 * GV_UPD_REF and, instead of the value, the value's size and XXH3-64
 * digest. A node that finds the announced version newer than what it holds
 * asks the announcer for the value (FETCH) over the stream channel: a
 * reliable, ordered, bounded message pipe per peer that the transport
 * provides (the daemon: TCP, sealed with the keyring when gossip is; the
 * simulator: a modelled link). The announcer answers with DATA messages,
 * one chunk each, and the receiver assembles the value aside; only a
 * whole value whose digest matches is merged into the store, through the
 * same path as a write that came in a datagram (conflicts, tombstones,
 * flushes, dissemination). Until then reads see the old value: never a
 * torn one. Once merged, the receiver announces the write onward in its
 * turn, so each node fetches a value once, from a node that holds it.
 *
 * A node announces only what it holds, so the announcer can serve the
 * fetch unless the key has changed since (NACK: the fetch moves on to the
 * next announcer heard, then to the write's origin, then gives up:
 * anti-entropy announces it again later). A fetch without progress for
 * stream_timeout_ms moves on the same way; a transfer to a peer whose
 * queue stays full for stream_stall_ms is abandoned (stream_stalls): a
 * stalled peer holds at most its transport's bounded queue and one
 * transfer slot, and gossip never waits for it.
 *
 * Messages (little-endian; the transport frames, authenticates and
 * delivers each one whole and in order per peer):
 *   common   type u8, hlc u64, origin u64, klen u16, key[klen]
 *   FETCH    common                    ("send me this version or newer")
 *   NACK     common, reason u8         ("I do not hold it", "busy"; from
 *                                      a fetcher: "stop sending it": it
 *                                      asks elsewhere, or gave up)
 *   DATA     common, prev_hlc u64, prev_origin u64, flags u8
 *            (GV_UPD_TOMBSTONE, GV_UPD_COND, DATA_ZSTD), kind u8,
 *            expire u64, total u32, offset u32, digest u64, bytes[rest]
 *            (with DATA_ZSTD, the chunk as one zstd frame: a chunk is
 *            compressed when the node compresses (compress_threshold)
 *            and it saves an eighth; after CHUNK_TRIES chunks of a value
 *            that did not, the rest goes raw)
 *            (the version the sender holds now: the one asked for or a
 *            newer one; chunks of one value come in offset order)
 *   DGRAM    type u8, then a whole clear datagram (wire.h) of up to 64
 *            KiB: anti-entropy's batches (entries, leaf digests, a
 *            joiner's repair), which would otherwise be paced out as
 *            gossip datagrams of max_datagram bytes
 */
#include "node_int.h"

#include <xxhash.h>

#define ST_FETCH 1
#define ST_DATA 2
#define ST_NACK 3
#define ST_DGRAM 4 /* type u8, then a whole clear datagram */

#define NACK_GONE 1   /* not held (any more) */
#define NACK_BUSY 2   /* too many transfers */
#define NACK_CANCEL 3 /* from the fetcher: stop sending it to me */

#define COMMON_LEN (1 + 8 + 8 + 2)
#define DATA_FIXED (8 + 8 + 1 + 1 + 8 + 4 + 4 + 8)
/* DATA flags: the chunk's bytes are one zstd frame (compress.h) */
#define DATA_ZSTD 0x80
/* zstd level for chunks: compressed once, sent once */
#define CHUNK_LEVEL 1
/* chunks of one value that did not compress before it is sent raw */
#define CHUNK_TRIES 2
/* the timer's period while fetches or transfers are open */
#define TICK_US 20000
/* chunks pushed per pump: the event loop gets back to gossip */
#define PUMP_BUDGET 32

struct sfetch {
	uint8_t key[GV_MAX_KEY];
	uint16_t klen;
	uint64_t kh;
	gv_version want;      /* the newest version announced */
	gv_node_id sender;    /* who announced it first (its sender id) */
	uint8_t priority, uflags; /* the announcement's (GV_UPD_AE, DIRECT) */
	gv_addr src[GV_STREAM_SOURCES];
	uint8_t nsrc;         /* sources heard */
	uint8_t cur;          /* the one asked */
	bool origin_tried;
	gv_time progress;     /* asked, or last chunk */
	/* receiving */
	bool receiving;
	gv_version ver, prev;
	uint8_t flags, kind;
	uint64_t expire, digest;
	uint32_t total, got;
	uint8_t *buf;
};

struct sxfer {
	uint8_t key[GV_MAX_KEY];
	uint16_t klen;
	gv_version ver;
	gv_addr to;
	uint32_t off, total;
	uint64_t digest;
	bool blocked;
	uint8_t zfails;   /* chunks that did not compress (CHUNK_TRIES) */
	gv_time progress; /* last chunk taken (or the start) */
};

/* ------------------------------------------------------------ helpers */

/*
 * A large value's digest: announced with every copy of its write and
 * sent with its chunks. Hashing 256 MiB takes tens of milliseconds, and
 * one write is announced and served several times, so the last few are
 * remembered by (key, version) (a value never changes under a version).
 */
uint64_t
gv__value_digest(gv_node *n, const gv_record *rec)
{
	uint64_t kh = gv__key_hash(rec->key, rec->klen);
	struct digest_memo *m =
		&n->stream.memo[(kh ^ rec->ver.hlc) % GV_STREAM_MEMO];
	if (m->kh == kh && gv_version_cmp(&m->ver, &rec->ver) == 0 &&
	    m->len == rec->vlen)
		return m->digest;
	uint64_t d = XXH3_64bits(rec->val, rec->vlen);
	*m = (struct digest_memo){kh, rec->ver, rec->vlen, d};
	return d;
}

bool
gv__stream_on(const gv_node *n)
{
	return n->cfg.cb.stream_send != NULL;
}

static bool
addr_eq(const gv_addr *a, const gv_addr *b)
{
	return gv_addr_eq(a, b);
}

static void
tick_soon(gv_node *n, gv_time now)
{
	gv_time t = now + TICK_US;
	if (n->stream.next == GV_TIME_NEVER || t < n->stream.next)
		n->stream.next = t;
}

static uint8_t *
put_common(uint8_t *p, uint8_t type, const gv_version *v, const uint8_t *key,
	   uint16_t klen)
{
	*p++ = type;
	gv__st64(p, v->hlc);
	gv__st64(p + 8, v->origin);
	gv__st16(p + 16, klen);
	memcpy(p + 18, key, klen);
	return p + 18 + klen;
}

static int
msg_out(gv_node *n, const gv_addr *to, const uint8_t *msg, size_t len)
{
	int rc = n->cfg.cb.stream_send(n->cfg.ud, to, msg, len);
	if (rc == 0) {
		n->st.stream_msgs_out++;
		n->st.stream_bytes_out += len;
	} else if (rc == GV_EAGAIN) {
		n->st.stream_blocked++;
	}
	return rc;
}

/* Small control messages: a full queue drops them (the peer's fetch
 * times out and moves on; counted in stream_blocked). */
static void
send_ctl(gv_node *n, const gv_addr *to, uint8_t type, const gv_version *v,
	 const uint8_t *key, uint16_t klen, int reason)
{
	uint8_t msg[COMMON_LEN + GV_MAX_KEY + 1];
	uint8_t *p = put_common(msg, type, v, key, klen);
	if (type == ST_NACK)
		*p++ = (uint8_t)reason;
	(void)msg_out(n, to, msg, (size_t)(p - msg));
}

/* --------------------------------------------------------- receiving */

static struct sfetch *
fetch_find(gv_node *n, const uint8_t *key, uint16_t klen, size_t *idx)
{
	for (size_t i = 0; i < n->stream.nfetch; i++) {
		struct sfetch *f = n->stream.fetch[i];
		if (f->klen == klen && memcmp(f->key, key, klen) == 0) {
			if (idx)
				*idx = i;
			return f;
		}
	}
	return NULL;
}

static void
fetch_drop_buf(gv_node *n, struct sfetch *f)
{
	if (f->buf) {
		gv__free(n->mem, f->buf, f->total);
		n->stream.pending_bytes -= f->total;
	}
	f->buf = NULL;
	f->receiving = false;
	f->got = f->total = 0;
}

static void
fetch_remove(gv_node *n, size_t i)
{
	struct sfetch *f = n->stream.fetch[i];
	fetch_drop_buf(n, f);
	gv__free(n->mem, f, sizeof(*f));
	n->stream.fetch[i] = n->stream.fetch[--n->stream.nfetch];
}

static void
fetch_ask(gv_node *n, gv_time now, struct sfetch *f, const gv_addr *to)
{
	f->progress = now;
	send_ctl(n, to, ST_FETCH, &f->want, f->key, f->klen, 0);
}

/* The source asked failed (NACK, timeout, connection down): ask the next
 * one heard, then the write's origin. Returns false when none is left. */
static bool
fetch_next_source(gv_node *n, gv_time now, struct sfetch *f)
{
	/* the one we leave may be sending still: it stops (a whole value
	 * we would drop otherwise) */
	send_ctl(n, &f->src[f->cur], ST_NACK, &f->want, f->key, f->klen,
		 NACK_CANCEL);
	fetch_drop_buf(n, f);
	if (f->cur + 1 < f->nsrc) {
		f->cur++;
		n->st.stream_fetch_retries++;
		fetch_ask(n, now, f, &f->src[f->cur]);
		return true;
	}
	if (!f->origin_tried) {
		f->origin_tried = true;
		struct member *m = gv__member_find(n, f->want.origin);
		if (m && m->state != GV_MEMBER_DEAD &&
		    m->state != GV_MEMBER_LEFT &&
		    !addr_eq(&m->addr, &f->src[f->cur])) {
			n->st.stream_fetch_retries++;
			if (f->nsrc < GV_STREAM_SOURCES)
				f->src[f->nsrc++] = m->addr;
			else
				f->src[GV_STREAM_SOURCES - 1] = m->addr;
			f->cur = (uint8_t)(f->nsrc - 1);
			fetch_ask(n, now, f, &f->src[f->cur]);
			return true;
		}
	}
	n->st.stream_fetch_failed++;
	return false;
}

void
gv__stream_announced(gv_node *n, gv_time now, const gv_addr *from,
		     gv_node_id sender, const gv_wire_update *u, uint64_t kh)
{
	if (!gv__stream_on(n)) {
		n->st.updates_refused++; /* no stream here: cannot fetch */
		return;
	}
	uint64_t size = gv__ld64(u->val);
	if (size > n->store.max_value) {
		n->st.stream_refused++;
		n->st.updates_refused++;
		return;
	}
	gv_record cur;
	if (gv_store_lookup(&n->store, u->key, u->klen, &cur) == 0 &&
	    gv_version_cmp(&cur.ver, &u->ver) >= 0) {
		/* held already, or a newer one: what a merge would say */
		n->st.merge[gv_version_cmp(&cur.ver, &u->ver) == 0
				    ? GV_MERGE_DUPLICATE
				    : GV_MERGE_STALE]++;
		return;
	}
	struct sfetch *f = fetch_find(n, u->key, u->klen, NULL);
	if (f) {
		int c = gv_version_cmp(&u->ver, &f->want);
		if (c > 0) {
			/* newer: wanted from now on; a value on its way
			 * still lands (then this one is fetched) */
			f->want = u->ver;
			f->sender = sender;
		}
		for (unsigned i = 0; i < f->nsrc; i++)
			if (addr_eq(&f->src[i], from))
				return;
		if (f->nsrc < GV_STREAM_SOURCES)
			f->src[f->nsrc++] = *from;
		return;
	}
	if (n->stream.nfetch >= GV_STREAM_MAX_FETCHES) {
		n->st.stream_fetch_drops++; /* anti-entropy announces it again */
		return;
	}
	f = gv__zalloc(n->mem, sizeof(*f));
	if (!f) {
		n->st.stream_fetch_drops++;
		return;
	}
	memcpy(f->key, u->key, u->klen);
	f->klen = u->klen;
	f->kh = kh;
	f->want = u->ver;
	f->sender = sender;
	f->priority = u->priority;
	f->uflags = u->flags & (GV_UPD_AE | GV_UPD_DIRECT);
	f->src[0] = *from;
	f->nsrc = 1;
	n->stream.fetch[n->stream.nfetch++] = f;
	n->st.stream_fetches++;
	fetch_ask(n, now, f, from);
	tick_soon(n, now);
}

/* A whole value arrived and its digest matches: merge it. */
static void
fetch_complete(gv_node *n, gv_time now, size_t idx)
{
	struct sfetch *f = n->stream.fetch[idx];
	gv_record in = {
		.key = f->key,
		.klen = f->klen,
		.val = f->buf,
		.vlen = f->total,
		.ver = f->ver,
		.prev = f->prev,
		.tombstone = (f->flags & GV_UPD_TOMBSTONE) != 0,
		.kind = f->kind,
		.expire = f->expire,
		.cond = (f->flags & GV_UPD_COND) != 0,
		.hash = f->kh,
	};
	n->st.stream_values_in++;
	n->st.stream_value_bytes_in += f->total;
	gv__apply_update(n, now, f->sender, &in, f->kh, f->priority,
			 f->uflags);
	bool more = gv_version_cmp(&f->want, &f->ver) > 0;
	fetch_drop_buf(n, f);
	if (more) {
		/* a newer one was announced meanwhile: ask its announcer */
		f->cur = (uint8_t)(f->nsrc - 1);
		f->origin_tried = false;
		fetch_ask(n, now, f, &f->src[f->cur]);
		return;
	}
	fetch_remove(n, idx);
}

static void
on_data(gv_node *n, gv_time now, const gv_addr *from, const gv_version *v,
	const uint8_t *key, uint16_t klen, const uint8_t *p, size_t left)
{
	if (left < DATA_FIXED) {
		n->st.stream_bad++;
		return;
	}
	size_t idx;
	struct sfetch *f = fetch_find(n, key, klen, &idx);
	if (!f || !addr_eq(&f->src[f->cur], from)) {
		/* given up, or asked elsewhere: the sender stops */
		n->st.stream_unexpected++;
		send_ctl(n, from, ST_NACK, v, key, klen, NACK_CANCEL);
		return;
	}
	gv_version prev = {gv__ld64(p), gv__ld64(p + 8)};
	uint8_t flags = p[16], kind = p[17];
	uint64_t expire = gv__ld64(p + 18);
	uint32_t total = gv__ld32(p + 26), off = gv__ld32(p + 30);
	uint64_t digest = gv__ld64(p + 34);
	const uint8_t *bytes = p + DATA_FIXED;
	size_t zlen = left - DATA_FIXED; /* on the wire */
	size_t blen = zlen;              /* of the value */
	bool zip = (flags & DATA_ZSTD) != 0;
	uint64_t zsize = 0;
	if (zip && (gv_decompressed_size(bytes, zlen, &zsize) ||
		    zsize > GV_STREAM_MAX_MSG(GV_STREAM_DEFAULT_CHUNK) * 64))
		zsize = UINT64_MAX; /* refused below */
	if (zip)
		blen = zsize > SIZE_MAX ? SIZE_MAX : (size_t)zsize;
	flags &= (uint8_t)~DATA_ZSTD;
	bool tomb = (flags & GV_UPD_TOMBSTONE) != 0;
	if ((flags & ~(GV_UPD_TOMBSTONE | GV_UPD_COND)) ||
	    kind > GV_KIND_MAX || (tomb && total) || off > total ||
	    blen > total - off || (zip && !blen) || gv_version_is_zero(v)) {
		n->st.stream_bad++;
		if (!fetch_next_source(n, now, f))
			fetch_remove(n, idx);
		return;
	}
	if (!f->receiving) {
		if (off != 0) {
			n->st.stream_unexpected++;
			return;
		}
		if (total > n->store.max_value ||
		    (n->store.max_memory &&
		     n->store.mem_used + n->stream.pending_bytes + total >
			     n->store.max_memory)) {
			/* it would not fit: refused, like a write that does
			 * not fit the store */
			n->st.stream_refused++;
			n->st.updates_refused++;
			send_ctl(n, from, ST_NACK, v, key, klen, NACK_GONE);
			fetch_remove(n, idx);
			return;
		}
		if (total) {
			f->buf = gv__alloc(n->mem, total);
			if (!f->buf) {
				n->st.stream_refused++;
				fetch_remove(n, idx);
				return;
			}
			n->stream.pending_bytes += total;
		}
		f->receiving = true;
		f->ver = *v;
		f->prev = prev;
		f->flags = flags;
		f->kind = kind;
		f->expire = expire;
		f->total = total;
		f->digest = digest;
		f->got = 0;
		if (gv_version_cmp(v, &f->want) > 0)
			f->want = *v;
	} else if (off != f->got || total != f->total ||
		   gv_version_cmp(v, &f->ver) != 0) {
		n->st.stream_bad++;
		if (!fetch_next_source(n, now, f))
			fetch_remove(n, idx);
		return;
	}
	if (zip) {
		if (!n->zctx && gv_zctx_new(&n->zctx, n->mem)) {
			n->st.stream_refused++;
			fetch_remove(n, idx);
			return;
		}
		uint64_t t0 = n->cfg.cb.clock_ns ? n->cfg.cb.clock_ns(n->cfg.ud)
						 : 0;
		ssize_t got = gv_decompress(n->zctx, f->buf + off, blen, bytes,
					    zlen);
		if (n->cfg.cb.clock_ns)
			n->st.decompress_ns +=
				n->cfg.cb.clock_ns(n->cfg.ud) - t0;
		if (got != (ssize_t)blen) {
			n->st.decompress_errors++;
			n->st.stream_bad++;
			if (!fetch_next_source(n, now, f))
				fetch_remove(n, idx);
			return;
		}
		n->st.stream_chunks_unzipped++;
	} else if (blen) {
		memcpy(f->buf + off, bytes, blen);
	}
	f->got += (uint32_t)blen;
	f->progress = now;
	if (f->got < f->total)
		return;
	if (XXH3_64bits(f->buf, f->total) != f->digest) {
		n->st.stream_bad++;
		if (!fetch_next_source(n, now, f))
			fetch_remove(n, idx);
		return;
	}
	fetch_complete(n, now, idx);
}

static void xfer_remove(gv_node *n, size_t i);

static void
on_nack(gv_node *n, gv_time now, const gv_addr *from, const uint8_t *key,
	uint16_t klen, uint8_t reason)
{
	if (reason == NACK_CANCEL) {
		/* the fetcher went elsewhere: our transfer to it ends */
		for (size_t i = 0; i < n->stream.nxfer; i++) {
			struct sxfer *x = n->stream.xfer[i];
			if (x->klen == klen && !memcmp(x->key, key, klen) &&
			    addr_eq(&x->to, from)) {
				xfer_remove(n, i);
				n->st.stream_cancels++;
				break;
			}
		}
		return;
	}
	size_t idx;
	struct sfetch *f = fetch_find(n, key, klen, &idx);
	if (!f || !addr_eq(&f->src[f->cur], from))
		return;
	n->st.stream_nacks_in++;
	if (!fetch_next_source(n, now, f))
		fetch_remove(n, idx);
}

/* ----------------------------------------------------------- sending */

static void
xfer_remove(gv_node *n, size_t i)
{
	gv__free(n->mem, n->stream.xfer[i], sizeof(struct sxfer));
	n->stream.xfer[i] = n->stream.xfer[--n->stream.nxfer];
}

static void
on_fetch(gv_node *n, gv_time now, const gv_addr *from, const gv_version *v,
	 const uint8_t *key, uint16_t klen)
{
	gv_record rec;
	n->store.now_ms = gv__cluster_ms(n, now);
	if (gv_store_lookup(&n->store, key, klen, &rec) != 0 ||
	    gv_version_cmp(&rec.ver, v) < 0) {
		n->st.stream_nacks_out++;
		send_ctl(n, from, ST_NACK, v, key, klen, NACK_GONE);
		return;
	}
	/* the same value asked again by the same peer (a retry): restart */
	for (size_t i = 0; i < n->stream.nxfer; i++) {
		struct sxfer *x = n->stream.xfer[i];
		if (x->klen == klen && !memcmp(x->key, key, klen) &&
		    addr_eq(&x->to, from)) {
			xfer_remove(n, i);
			break;
		}
	}
	struct sxfer *x = NULL;
	if (n->stream.nxfer < GV_STREAM_MAX_SENDS)
		x = gv__zalloc(n->mem, sizeof(*x));
	if (!x) {
		n->st.stream_nacks_out++;
		send_ctl(n, from, ST_NACK, v, key, klen, NACK_BUSY);
		return;
	}
	memcpy(x->key, key, klen);
	x->klen = klen;
	x->ver = rec.ver;
	x->to = *from;
	x->total = (uint32_t)rec.vlen;
	x->digest = gv__value_digest(n, &rec);
	x->progress = now;
	n->stream.xfer[n->stream.nxfer++] = x;
	n->st.stream_sends++;
	tick_soon(n, now);
}

/* Compress a chunk into dst (room: chunk bytes): the frame's length, or
 * 0 when it does not save an eighth. Counted with the datagrams'. */
static ssize_t
compress_chunk(gv_node *n, uint8_t *dst, const uint8_t *src, size_t len)
{
	uint64_t t0 = n->cfg.cb.clock_ns ? n->cfg.cb.clock_ns(n->cfg.ud) : 0;
	ssize_t z = gv_compress(n->zctx, dst, len - len / 8, src, len,
				CHUNK_LEVEL);
	if (n->cfg.cb.clock_ns)
		n->st.compress_ns += n->cfg.cb.clock_ns(n->cfg.ud) - t0;
	if (z > 0) {
		n->st.stream_chunks_zipped++;
		n->st.compress_in_bytes += len;
		n->st.compress_out_bytes += (uint64_t)z;
	}
	return z > 0 ? z : 0;
}

/* One chunk of x. Returns 1 (sent, more to come), 0 (done: remove it),
 * GV_EAGAIN (queue full), or another error (remove it). */
static int
xfer_chunk(gv_node *n, gv_time now, struct sxfer *x)
{
	gv_record rec;
	if (gv_store_lookup(&n->store, x->key, x->klen, &rec) != 0 ||
	    gv_version_cmp(&rec.ver, &x->ver) != 0) {
		/* changed under the transfer: the peer asks again (the
		 * newer write is announced to it anyway) */
		n->st.stream_nacks_out++;
		send_ctl(n, &x->to, ST_NACK, &x->ver, x->key, x->klen,
			 NACK_GONE);
		return 0;
	}
	size_t chunk = x->total - x->off;
	if (chunk > n->stream.chunk)
		chunk = n->stream.chunk;
	size_t need = COMMON_LEN + GV_MAX_KEY + DATA_FIXED + n->stream.chunk;
	if (!n->stream.msg) {
		n->stream.msg = gv__alloc(n->mem, need);
		if (!n->stream.msg)
			return GV_ENOMEM;
	}
	uint8_t *p = put_common(n->stream.msg, ST_DATA, &rec.ver, x->key,
				x->klen);
	gv__st64(p, rec.prev.hlc);
	gv__st64(p + 8, rec.prev.origin);
	p[16] = (uint8_t)((rec.tombstone ? GV_UPD_TOMBSTONE : 0) |
			  (rec.cond ? GV_UPD_COND : 0));
	p[17] = rec.kind;
	gv__st64(p + 18, rec.expire);
	gv__st32(p + 26, x->total);
	gv__st32(p + 30, x->off);
	gv__st64(p + 34, x->digest);
	uint8_t *flagp = p + 16;
	p += DATA_FIXED;
	ssize_t z = 0;
	if (n->cfg.compress_threshold && chunk >= n->cfg.compress_threshold &&
	    x->zfails < CHUNK_TRIES) {
		if (!n->zctx && gv_zctx_new(&n->zctx, n->mem))
			x->zfails = CHUNK_TRIES;
		else
			z = compress_chunk(n, p, rec.val + x->off, chunk);
		if (z > 0)
			*flagp |= DATA_ZSTD;
		else
			x->zfails++;
	}
	if (z <= 0 && chunk)
		memcpy(p, rec.val + x->off, chunk);
	p += z > 0 ? (size_t)z : chunk;
	int rc = msg_out(n, &x->to, n->stream.msg,
			 (size_t)(p - n->stream.msg));
	if (rc)
		return rc;
	x->off += (uint32_t)chunk;
	x->progress = now;
	if (x->off < x->total)
		return 1;
	n->st.stream_values_out++;
	n->st.stream_value_bytes_out += x->total;
	return 0;
}

/* Push chunks, round robin over the transfers not blocked. */
static void
pump(gv_node *n, gv_time now)
{
	unsigned budget = PUMP_BUDGET;
	bool progress = true;
	while (budget && progress && n->stream.nxfer) {
		progress = false;
		for (size_t i = 0; i < n->stream.nxfer && budget;) {
			struct sxfer *x = n->stream.xfer[i];
			if (x->blocked) {
				i++;
				continue;
			}
			int rc = xfer_chunk(n, now, x);
			budget--;
			if (rc == 1) {
				progress = true;
				i++;
			} else if (rc == GV_EAGAIN) {
				/* every transfer to this peer waits */
				for (size_t j = 0; j < n->stream.nxfer; j++)
					if (addr_eq(&n->stream.xfer[j]->to,
						    &x->to))
						n->stream.xfer[j]->blocked =
							true;
				i++;
			} else {
				xfer_remove(n, i); /* done, or failed */
			}
		}
	}
	if (!budget)
		n->stream.next = now; /* more to send: come back at once */
}

int
gv__stream_send_dgram(gv_node *n, const gv_addr *to, const uint8_t *dg,
		      size_t len)
{
	size_t need = COMMON_LEN + GV_MAX_KEY + DATA_FIXED + n->stream.chunk;
	if (len + 1 > need)
		return GV_EINVAL;
	if (!n->stream.msg) {
		n->stream.msg = gv__alloc(n->mem, need);
		if (!n->stream.msg)
			return GV_ENOMEM;
	}
	n->stream.msg[0] = ST_DGRAM;
	memcpy(n->stream.msg + 1, dg, len);
	return msg_out(n, to, n->stream.msg, len + 1);
}

/* ------------------------------------------------------------ the API */

int
gv_node_stream_recv(gv_node *n, gv_time now, const gv_addr *from,
		    const uint8_t *msg, size_t len)
{
	if (!n || !from || (!msg && len))
		return GV_EINVAL;
	n->now = now;
	n->st.stream_msgs_in++;
	n->st.stream_bytes_in += len;
	if (len && msg[0] == ST_DGRAM)
		return gv__recv_stream_dgram(n, now, from, msg + 1, len - 1);
	if (len < COMMON_LEN) {
		n->st.stream_bad++;
		return GV_EMALFORMED;
	}
	uint8_t type = msg[0];
	gv_version v = {gv__ld64(msg + 1), gv__ld64(msg + 9)};
	uint16_t klen = gv__ld16(msg + 17);
	if (klen > GV_MAX_KEY || klen > len - COMMON_LEN) {
		n->st.stream_bad++;
		return GV_EMALFORMED;
	}
	const uint8_t *key = msg + COMMON_LEN;
	const uint8_t *p = key + klen;
	size_t left = len - COMMON_LEN - klen;
	switch (type) {
	case ST_FETCH:
		if (left) {
			n->st.stream_bad++;
			return GV_EMALFORMED;
		}
		on_fetch(n, now, from, &v, key, klen);
		pump(n, now);
		return 0;
	case ST_DATA:
		on_data(n, now, from, &v, key, klen, p, left);
		return 0;
	case ST_NACK:
		if (left != 1) {
			n->st.stream_bad++;
			return GV_EMALFORMED;
		}
		on_nack(n, now, from, key, klen, p[0]);
		return 0;
	default:
		n->st.stream_bad++; /* unknown: counted and skipped */
		return GV_EMALFORMED;
	}
}

void
gv_node_stream_ready(gv_node *n, gv_time now, const gv_addr *peer)
{
	if (!n)
		return;
	n->now = now;
	for (size_t i = 0; i < n->stream.nxfer; i++)
		if (!peer || addr_eq(&n->stream.xfer[i]->to, peer))
			n->stream.xfer[i]->blocked = false;
	pump(n, now);
}

void
gv_node_stream_down(gv_node *n, gv_time now, const gv_addr *peer)
{
	if (!n || !peer)
		return;
	n->now = now;
	for (size_t i = 0; i < n->stream.nxfer;) {
		if (addr_eq(&n->stream.xfer[i]->to, peer))
			xfer_remove(n, i);
		else
			i++;
	}
	for (size_t i = 0; i < n->stream.nfetch;) {
		struct sfetch *f = n->stream.fetch[i];
		if (addr_eq(&f->src[f->cur], peer) &&
		    !fetch_next_source(n, now, f)) {
			fetch_remove(n, i);
			continue;
		}
		i++;
	}
}

size_t
gv_node_stream_pending(const gv_node *n)
{
	return n ? n->stream.nfetch + n->stream.nxfer : 0;
}

/* ------------------------------------------------------------ timers */

gv_time
gv__stream_next(const gv_node *n)
{
	return n->stream.next;
}

void
gv__stream_tick(gv_node *n, gv_time now)
{
	if (n->stream.next == GV_TIME_NEVER || now < n->stream.next)
		return;
	n->stream.next = GV_TIME_NEVER;
	gv_time timeout = n->cfg.stream_timeout_ms * 1000;
	for (size_t i = 0; i < n->stream.nfetch;) {
		struct sfetch *f = n->stream.fetch[i];
		if (now - f->progress >= timeout) {
			n->st.stream_timeouts++;
			if (!fetch_next_source(n, now, f)) {
				fetch_remove(n, i);
				continue;
			}
		}
		i++;
	}
	gv_time stall = n->cfg.stream_stall_ms * 1000;
	for (size_t i = 0; i < n->stream.nxfer;) {
		struct sxfer *x = n->stream.xfer[i];
		if (now - x->progress >= stall) {
			n->st.stream_stalls++; /* the peer does not read */
			xfer_remove(n, i);
			continue;
		}
		/* a transport that never calls ready still gets retried */
		x->blocked = false;
		i++;
	}
	pump(n, now);
	if (n->stream.nfetch || n->stream.nxfer)
		tick_soon(n, now);
}

int
gv__stream_init(gv_node *n)
{
	n->stream.next = GV_TIME_NEVER;
	n->stream.chunk = n->cfg.stream_chunk ? n->cfg.stream_chunk
					      : GV_STREAM_DEFAULT_CHUNK;
	return 0;
}

void
gv__stream_fini(gv_node *n)
{
	while (n->stream.nfetch)
		fetch_remove(n, n->stream.nfetch - 1);
	while (n->stream.nxfer)
		xfer_remove(n, n->stream.nxfer - 1);
	if (n->stream.msg)
		gv__free(n->mem, n->stream.msg,
			 COMMON_LEN + GV_MAX_KEY + DATA_FIXED +
				 n->stream.chunk);
	n->stream.msg = NULL;
}
