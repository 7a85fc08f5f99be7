/* SPDX-License-Identifier: MIT */
/*
 * wire.c - the datagram encoder and its total decoder (layout in wire.h).
 *
 * The decoder reads bytes that came off the network, so it trusts nothing:
 * every length is checked against what is left before anything is read,
 * and a known record must use exactly the bytes its body length claims
 * (no slack, no overrun), which makes random corruption that slipped past
 * the checksum very unlikely to decode. A record that fails leaves the
 * reader where it was, so every later call decodes the same bytes and
 * fails the same way. Nothing allocates; decoded records point into the
 * caller's buffer.
 *
 * The encoder validates a whole record before it writes a byte, so a
 * failed put_* leaves both the writer and the buffer untouched.
 */
#include "wire.h"

#include "compress.h"

/* Body sizes of fixed records and fixed parts of variable ones. */
#define PING_BODY 12         /* probe u32, target u64 */
#define ACK_BODY 5           /* probe u32, flags u8 */
#define PING_REQ_FIXED 12    /* probe u32, target u64; then addr */
#define MEMBER_FIXED 21      /* state, node, incarnation, accuser u64 */
#define MERKLE_REQ_FIXED 7   /* session u32, level u8, count u16 */
#define MERKLE_RESP_FIXED 8  /* session u32, level u8, fan u8, count u16 */
#define ENTRIES_REQ_FIXED 7  /* session u32, kind u8, count u16 */
#define ENTRIES_RESP_BODY 7  /* session u32, flags u8, count u16 */
#define PULL_DIGEST_FIXED 10 /* session u32, bucket u32, count u16 */
#define PULL_ITEM 24         /* key_hash u64, hlc u64, origin u64 */
#define SYNC_REQ_BODY 7      /* session u32, flags u8, shards u16 */
#define TOMB_ACK_FIXED 2     /* count u16 */
#define TOMB_ITEM 24         /* key_hash u64, hlc u64, origin u64 */
#define TREE_FIXED 3         /* kind u8, count u16 */
#define PURGE_FIXED 18       /* hlc u64, origin u64, klen u16 */
#define ADDR_FIXED 3         /* family u8, port u16 */
#define FAN_LOG2_MAX 8

#define ACK_FLAGS_ALL GV_ACK_NACK
#define ENTRIES_RESP_FLAGS_ALL GV_ENTRIES_LAST

/* The checksum covers the first 32 header bytes (as the seed) and the
 * records; the checksum field itself sits between the two. */
#define CSUM_OFF 32

static uint64_t
wire_checksum(const uint8_t *buf, size_t len)
{
	uint64_t seed = XXH3_64bits(buf, CSUM_OFF);
	return XXH3_64bits_withSeed(buf + GV_WIRE_HEADER_LEN,
				    len - GV_WIRE_HEADER_LEN, seed);
}

/* Encoded size of an address, or 0 for an unknown family. */
static size_t
addr_size(uint8_t family)
{
	if (family == 4)
		return ADDR_FIXED + 4;
	if (family == 6)
		return ADDR_FIXED + 16;
	return 0;
}

size_t
gv_wire_update_size(size_t klen, size_t vlen)
{
	return GV_WIRE_RECORD_HDR + GV_WIRE_UPDATE_FIXED + klen + vlen;
}

size_t
gv_wire_update_size_meta(size_t klen, size_t vlen, uint8_t kind,
			 uint64_t expire)
{
	return gv_wire_update_size(klen, vlen) +
	       (kind || expire ? GV_WIRE_META_LEN : 0);
}

static inline bool
update_has_meta(const gv_wire_update *u)
{
	return u->kind || u->expire;
}

/* Bytes of an UPDATE body: fixed part, key, meta header, value. */
static inline size_t
update_body_len(const gv_wire_update *u)
{
	return GV_WIRE_UPDATE_FIXED + (size_t)u->klen + u->vlen +
	       (update_has_meta(u) ? GV_WIRE_META_LEN : 0);
}

/* An unknown family is sized as IPv6: an upper bound for planning. */
size_t
gv_wire_member_size(const gv_wire_member *m)
{
	size_t a = addr_size(m->addr.family);
	return GV_WIRE_RECORD_HDR + MEMBER_FIXED + (a ? a : ADDR_FIXED + 16) +
	       1 + m->region_len + 1 + m->name_len;
}

size_t
gv_wire_merkle_req_size(uint16_t count)
{
	return GV_WIRE_RECORD_HDR + MERKLE_REQ_FIXED + 4 * (size_t)count;
}

size_t
gv_wire_merkle_resp_size(uint8_t fan_log2, uint16_t count)
{
	if (fan_log2 < 1 || fan_log2 > FAN_LOG2_MAX)
		return SIZE_MAX;
	size_t group = 4 + 8 * ((size_t)1 << fan_log2);
	return GV_WIRE_RECORD_HDR + MERKLE_RESP_FIXED + group * count;
}

size_t
gv_wire_entries_req_size(uint16_t count)
{
	return GV_WIRE_RECORD_HDR + ENTRIES_REQ_FIXED + 8 * (size_t)count;
}

size_t
gv_wire_pull_digest_size(uint16_t count)
{
	return GV_WIRE_RECORD_HDR + PULL_DIGEST_FIXED +
	       PULL_ITEM * (size_t)count;
}

size_t
gv_wire_tomb_ack_size(uint16_t count)
{
	return GV_WIRE_RECORD_HDR + TOMB_ACK_FIXED + TOMB_ITEM * (size_t)count;
}

size_t
gv_wire_tree_size(uint16_t count)
{
	return GV_WIRE_RECORD_HDR + TREE_FIXED + GV_TREE_ITEM * (size_t)count;
}

size_t
gv_wire_purge_size(size_t klen)
{
	return GV_WIRE_RECORD_HDR + PURGE_FIXED + klen;
}

/* ---------------------------------------------------------------- encoder */

int
gv_wire_begin(gv_wire_writer *w, uint8_t *buf, size_t cap,
	      const gv_wire_header *h)
{
	if (!w || !buf || !h)
		return GV_EINVAL;
	if (cap > GV_WIRE_MAX_MTU)
		cap = GV_WIRE_MAX_MTU;
	if (cap < GV_WIRE_HEADER_LEN + GV_WIRE_RECORD_HDR)
		return GV_EINVAL;
	/* A datagram is written clear; gv_seal (keyring.h) seals it. */
	if (h->flags != 0)
		return GV_EINVAL;

	gv__st16(buf + 0, GV_WIRE_MAGIC);
	buf[2] = GV_WIRE_VERSION;
	buf[3] = h->flags;
	gv__st32(buf + 4, h->cluster);
	gv__st16(buf + 8, h->shard);
	gv__st16(buf + 10, 0);
	gv__st64(buf + 12, h->sender);
	gv__st32(buf + 20, h->incarnation);
	gv__st64(buf + 24, h->seq);
	gv__st64(buf + CSUM_OFF, 0);

	w->buf = buf;
	w->cap = cap;
	w->len = GV_WIRE_HEADER_LEN;
	w->records = 0;
	w->unsummed = h->unsummed;
	return 0;
}

static bool
writer_ok(const gv_wire_writer *w)
{
	return w && w->buf && w->len >= GV_WIRE_HEADER_LEN &&
	       w->len <= w->cap && w->cap <= GV_WIRE_MAX_MTU;
}

size_t
gv_wire_room(const gv_wire_writer *w)
{
	return writer_ok(w) ? w->cap - w->len : 0;
}

/*
 * Check that a record with a body of @body bytes can be appended and write
 * its record header. Nothing is written on failure. The caller has already
 * validated every field, so once this succeeds the record is committed.
 */
static int
reserve(gv_wire_writer *w, uint8_t type, size_t body, uint8_t **out)
{
	if (body > UINT16_MAX)
		return GV_EINVAL;
	if (GV_WIRE_RECORD_HDR + body > w->cap - w->len)
		return GV_ENOBUFS;
	uint8_t *p = w->buf + w->len;
	p[0] = type;
	gv__st16(p + 1, (uint16_t)body);
	*out = p + GV_WIRE_RECORD_HDR;
	return 0;
}

static void
commit(gv_wire_writer *w, size_t body)
{
	w->len += GV_WIRE_RECORD_HDR + body;
	w->records++;
}

/* memcpy that tolerates (NULL, 0), which memcpy itself does not. */
static uint8_t *
put_bytes(uint8_t *p, const uint8_t *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

static uint8_t *
put_addr(uint8_t *p, const gv_wire_addr *a)
{
	size_t n = addr_size(a->family) - ADDR_FIXED;
	p[0] = a->family;
	gv__st16(p + 1, a->port);
	memcpy(p + ADDR_FIXED, a->addr, n);
	return p + ADDR_FIXED + n;
}

static bool
update_ok(const gv_wire_update *u)
{
	return u && !(u->flags & ~GV_UPD_FLAGS_ALL) && u->priority <= 3 &&
	       u->klen <= GV_MAX_KEY &&
	       !((u->flags & GV_UPD_TOMBSTONE) && u->vlen != 0) &&
	       !((u->flags & GV_UPD_REF) &&
		 ((u->flags & GV_UPD_TOMBSTONE) ||
		  u->vlen != GV_WIRE_REF_LEN)) &&
	       !(u->klen && !u->key) && !(u->vlen && !u->val);
}

/* The UPDATE body at p (update_body_len(u) bytes). */
static void
update_body(uint8_t *p, const gv_wire_update *u)
{
	bool meta = update_has_meta(u);
	gv__st64(p + 0, u->ver.hlc);
	gv__st64(p + 8, u->ver.origin);
	gv__st64(p + 16, u->prev.hlc);
	gv__st64(p + 24, u->prev.origin);
	p[32] = (uint8_t)((u->flags & ~GV_UPD_META) | (meta ? GV_UPD_META : 0));
	p[33] = u->priority;
	p[34] = u->hops;
	gv__st16(p + 35, u->klen);
	gv__st16(p + 37,
		 (uint16_t)(u->vlen + (meta ? GV_WIRE_META_LEN : 0)));
	p = put_bytes(p + GV_WIRE_UPDATE_FIXED, u->key, u->klen);
	if (meta) {
		p[0] = u->kind;
		gv__st64(p + 1, u->expire);
		p += GV_WIRE_META_LEN;
	}
	put_bytes(p, u->val, u->vlen);
}

int
gv_wire_put_update(gv_wire_writer *w, const gv_wire_update *u)
{
	if (!writer_ok(w) || !update_ok(u))
		return GV_EINVAL;

	size_t body = update_body_len(u);
	if (body > UINT16_MAX)
		return GV_EINVAL;
	uint8_t *p;
	int rc = reserve(w, GV_REC_UPDATE, body, &p);
	if (rc)
		return rc;
	update_body(p, u);
	commit(w, body);
	return 0;
}

ssize_t
gv_wire_encode_update(uint8_t *p, size_t room, const gv_wire_update *u)
{
	if (!p || !update_ok(u))
		return GV_EINVAL;
	size_t body = update_body_len(u);
	if (body > UINT16_MAX)
		return GV_EINVAL;
	if (GV_WIRE_RECORD_HDR + body > room)
		return GV_ENOBUFS;
	p[0] = GV_REC_UPDATE;
	gv__st16(p + 1, (uint16_t)body);
	update_body(p + GV_WIRE_RECORD_HDR, u);
	return (ssize_t)(GV_WIRE_RECORD_HDR + body);
}

int
gv_wire_put_raw(gv_wire_writer *w, const uint8_t *rec, size_t len)
{
	if (!writer_ok(w) || !rec || len < GV_WIRE_RECORD_HDR ||
	    (size_t)gv__ld16(rec + 1) + GV_WIRE_RECORD_HDR != len)
		return GV_EINVAL;
	if (len > w->cap - w->len)
		return GV_ENOBUFS;
	memcpy(w->buf + w->len, rec, len);
	w->len += len;
	w->records++;
	return 0;
}

int
gv_wire_put_ping(gv_wire_writer *w, const gv_wire_ping *ping)
{
	if (!writer_ok(w) || !ping)
		return GV_EINVAL;
	uint8_t *p;
	int rc = reserve(w, GV_REC_PING, PING_BODY, &p);
	if (rc)
		return rc;
	gv__st32(p, ping->probe);
	gv__st64(p + 4, ping->target);
	commit(w, PING_BODY);
	return 0;
}

int
gv_wire_put_ack(gv_wire_writer *w, const gv_wire_ack *a)
{
	if (!writer_ok(w) || !a || (a->flags & ~ACK_FLAGS_ALL))
		return GV_EINVAL;
	uint8_t *p;
	int rc = reserve(w, GV_REC_ACK, ACK_BODY, &p);
	if (rc)
		return rc;
	gv__st32(p, a->probe);
	p[4] = a->flags;
	commit(w, ACK_BODY);
	return 0;
}

int
gv_wire_put_ping_req(gv_wire_writer *w, const gv_wire_ping_req *pr)
{
	if (!writer_ok(w) || !pr)
		return GV_EINVAL;
	size_t asz = addr_size(pr->addr.family);
	if (!asz)
		return GV_EINVAL;
	size_t body = PING_REQ_FIXED + asz;
	uint8_t *p;
	int rc = reserve(w, GV_REC_PING_REQ, body, &p);
	if (rc)
		return rc;
	gv__st32(p, pr->probe);
	gv__st64(p + 4, pr->target);
	put_addr(p + PING_REQ_FIXED, &pr->addr);
	commit(w, body);
	return 0;
}

int
gv_wire_put_member(gv_wire_writer *w, const gv_wire_member *m)
{
	if (!writer_ok(w) || !m)
		return GV_EINVAL;
	size_t asz = addr_size(m->addr.family);
	if (!asz || m->state > GV_MEMBER_LEFT ||
	    m->region_len > GV_WIRE_MAX_REGION ||
	    m->name_len > GV_WIRE_MAX_NAME || (m->region_len && !m->region) ||
	    (m->name_len && !m->name))
		return GV_EINVAL;

	size_t body = MEMBER_FIXED + asz + 1 + m->region_len + 1 + m->name_len;
	uint8_t *p;
	int rc = reserve(w, GV_REC_MEMBER, body, &p);
	if (rc)
		return rc;
	p[0] = m->state;
	gv__st64(p + 1, m->node);
	gv__st32(p + 9, m->incarnation);
	gv__st64(p + 13, m->accuser);
	p = put_addr(p + MEMBER_FIXED, &m->addr);
	*p++ = m->region_len;
	p = put_bytes(p, m->region, m->region_len);
	*p++ = m->name_len;
	put_bytes(p, m->name, m->name_len);
	commit(w, body);
	return 0;
}

int
gv_wire_put_merkle_req(gv_wire_writer *w, uint32_t session, uint8_t level,
		       const uint32_t *index, uint16_t count)
{
	if (!writer_ok(w) || (count && !index))
		return GV_EINVAL;
	size_t body = MERKLE_REQ_FIXED + 4 * (size_t)count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_MERKLE_REQ, body, &p);
	if (rc)
		return rc;
	gv__st32(p, session);
	p[4] = level;
	gv__st16(p + 5, count);
	p += MERKLE_REQ_FIXED;
	for (size_t i = 0; i < count; i++, p += 4)
		gv__st32(p, index[i]);
	commit(w, body);
	return 0;
}

int
gv_wire_put_merkle_resp(gv_wire_writer *w, uint32_t session, uint8_t level,
			uint8_t fan_log2, const uint32_t *index,
			const uint64_t *digests, uint16_t count)
{
	if (!writer_ok(w) || fan_log2 < 1 || fan_log2 > FAN_LOG2_MAX ||
	    (count && (!index || !digests)))
		return GV_EINVAL;
	size_t fan = (size_t)1 << fan_log2;
	size_t group = 4 + 8 * fan;
	size_t body = MERKLE_RESP_FIXED + group * count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_MERKLE_RESP, body, &p);
	if (rc)
		return rc;
	gv__st32(p, session);
	p[4] = level;
	p[5] = fan_log2;
	gv__st16(p + 6, count);
	p += MERKLE_RESP_FIXED;
	for (size_t i = 0; i < count; i++) {
		gv__st32(p, index[i]);
		p += 4;
		for (size_t j = 0; j < fan; j++, p += 8)
			gv__st64(p, digests[i * fan + j]);
	}
	commit(w, body);
	return 0;
}

int
gv_wire_put_entries_req(gv_wire_writer *w, uint32_t session, uint8_t kind,
			const uint64_t *items, uint16_t count)
{
	if (!writer_ok(w) || kind > GV_ENTRIES_KEYS || (count && !items))
		return GV_EINVAL;
	size_t body = ENTRIES_REQ_FIXED + 8 * (size_t)count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_ENTRIES_REQ, body, &p);
	if (rc)
		return rc;
	gv__st32(p, session);
	p[4] = kind;
	gv__st16(p + 5, count);
	p += ENTRIES_REQ_FIXED;
	for (size_t i = 0; i < count; i++, p += 8)
		gv__st64(p, items[i]);
	commit(w, body);
	return 0;
}

int
gv_wire_put_entries_resp(gv_wire_writer *w, const gv_wire_entries_resp *r)
{
	if (!writer_ok(w) || !r || (r->flags & ~ENTRIES_RESP_FLAGS_ALL))
		return GV_EINVAL;
	uint8_t *p;
	int rc = reserve(w, GV_REC_ENTRIES_RESP, ENTRIES_RESP_BODY, &p);
	if (rc)
		return rc;
	gv__st32(p, r->session);
	p[4] = r->flags;
	gv__st16(p + 5, r->count);
	commit(w, ENTRIES_RESP_BODY);
	return 0;
}

int
gv_wire_put_pull_digest(gv_wire_writer *w, uint32_t session, uint32_t bucket,
			const uint64_t *items, uint16_t count)
{
	if (!writer_ok(w) || (count && !items))
		return GV_EINVAL;
	size_t body = PULL_DIGEST_FIXED + PULL_ITEM * (size_t)count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_PULL_DIGEST, body, &p);
	if (rc)
		return rc;
	gv__st32(p, session);
	gv__st32(p + 4, bucket);
	gv__st16(p + 8, count);
	p += PULL_DIGEST_FIXED;
	for (size_t i = 0; i < 3 * (size_t)count; i++, p += 8)
		gv__st64(p, items[i]);
	commit(w, body);
	return 0;
}

int
gv_wire_put_sync_req(gv_wire_writer *w, const gv_wire_sync_req *s)
{
	if (!writer_ok(w) || !s || (s->flags & ~GV_SYNC_FLAGS_ALL))
		return GV_EINVAL;
	uint8_t *p;
	int rc = reserve(w, GV_REC_SYNC_REQ, SYNC_REQ_BODY, &p);
	if (rc)
		return rc;
	gv__st32(p, s->session);
	p[4] = s->flags;
	gv__st16(p + 5, s->shards);
	commit(w, SYNC_REQ_BODY);
	return 0;
}

int
gv_wire_pad_to(gv_wire_writer *w, size_t len)
{
	if (!writer_ok(w) || len > w->cap)
		return GV_EINVAL;
	if (w->len == len)
		return 0;
	if (w->len > len || len - w->len < GV_WIRE_RECORD_HDR)
		return GV_ENOBUFS;
	size_t body = len - w->len - GV_WIRE_RECORD_HDR;
	uint8_t *p;
	int rc = reserve(w, GV_REC_PAD, body, &p);
	if (rc)
		return rc;
	memset(p, 0, body);
	w->len += GV_WIRE_RECORD_HDR + body;
	return 0;
}

int
gv_wire_put_tomb_ack(gv_wire_writer *w, const uint64_t *items,
		     uint16_t count)
{
	if (!writer_ok(w) || (count && !items))
		return GV_EINVAL;
	size_t body = TOMB_ACK_FIXED + TOMB_ITEM * (size_t)count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_TOMB_ACK, body, &p);
	if (rc)
		return rc;
	gv__st16(p, count);
	p += TOMB_ACK_FIXED;
	for (size_t i = 0; i < 3 * (size_t)count; i++, p += 8)
		gv__st64(p, items[i]);
	commit(w, body);
	return 0;
}

int
gv_wire_put_tree(gv_wire_writer *w, uint8_t kind, const uint64_t *items,
		 uint16_t count)
{
	if (!writer_ok(w) || (count && !items) || kind < GV_TREE_IHAVE ||
	    kind > GV_TREE_KIND_MAX)
		return GV_EINVAL;
	size_t body = TREE_FIXED + GV_TREE_ITEM * (size_t)count;
	uint8_t *p;
	int rc = reserve(w, GV_REC_TREE, body, &p);
	if (rc)
		return rc;
	p[0] = kind;
	gv__st16(p + 1, count);
	p += TREE_FIXED;
	for (size_t i = 0; i < 2 * (size_t)count; i++, p += 8)
		gv__st64(p, items[i]);
	commit(w, body);
	return 0;
}

int
gv_wire_put_purge(gv_wire_writer *w, const gv_wire_purge *pg)
{
	if (!writer_ok(w) || !pg)
		return GV_EINVAL;
	if (pg->klen > GV_MAX_KEY || (pg->klen && !pg->key))
		return GV_EINVAL;
	size_t body = PURGE_FIXED + (size_t)pg->klen;
	uint8_t *p;
	int rc = reserve(w, GV_REC_PURGE, body, &p);
	if (rc)
		return rc;
	gv__st64(p, pg->ver.hlc);
	gv__st64(p + 8, pg->ver.origin);
	gv__st16(p + 16, pg->klen);
	put_bytes(p + PURGE_FIXED, pg->key, pg->klen);
	commit(w, body);
	return 0;
}

ssize_t
gv_wire_finish(gv_wire_writer *w)
{
	if (!writer_ok(w))
		return GV_EINVAL;
	if (!w->unsummed)
		gv__st64(w->buf + CSUM_OFF, wire_checksum(w->buf, w->len));
	return (ssize_t)w->len;
}

/* ---------------------------------------------------------------- decoder */

static void
header_of(gv_wire_header *h, const uint8_t *buf)
{
	h->version = buf[2];
	h->flags = buf[3];
	h->cluster = gv__ld32(buf + 4);
	h->shard = gv__ld16(buf + 8);
	h->sender = gv__ld64(buf + 12);
	h->incarnation = gv__ld32(buf + 20);
	h->seq = gv__ld64(buf + 24);
}

int
gv_wire_open(gv_wire_reader *r, gv_wire_header *h, const uint8_t *buf,
	     size_t len, uint32_t cluster)
{
	if (!r || (!buf && len))
		return GV_EINVAL;
	if (len < GV_WIRE_HEADER_LEN)
		return GV_ETRUNCATED;
	if (gv__ld16(buf) != GV_WIRE_MAGIC)
		return GV_EBADMAGIC;
	if (buf[2] != GV_WIRE_VERSION)
		return GV_EVERSION;
	/* A sealed datagram is opened by gv_open (keyring.h) and read
	 * with gv_wire_open_plain, never here. */
	if (buf[3] & ~GV_WIRE_FLAG_ZSTD)
		return GV_EMALFORMED;
	if (gv__ld16(buf + 10) != 0)
		return GV_EMALFORMED;
	if (len > GV_WIRE_MAX_MTU)
		return GV_EMALFORMED;
	if (gv__ld64(buf + CSUM_OFF) != wire_checksum(buf, len))
		return GV_ECHECKSUM;
	/* After the checksum, so a corrupted cluster id reads as corruption
	 * rather than as a stranger. */
	if (gv__ld32(buf + 4) != cluster)
		return GV_ECLUSTER;

	if (h)
		header_of(h, buf);
	r->buf = buf;
	r->len = len;
	r->off = GV_WIRE_HEADER_LEN;
	return 0;
}

int
gv_wire_check_sealed(gv_wire_header *h, const uint8_t *buf, size_t len,
		     uint32_t cluster)
{
	if (!h || (!buf && len))
		return GV_EINVAL;
	if (len < GV_WIRE_HEADER_LEN + 16)
		return GV_ETRUNCATED;
	if (gv__ld16(buf) != GV_WIRE_MAGIC)
		return GV_EBADMAGIC;
	if (buf[2] != GV_WIRE_VERSION)
		return GV_EVERSION;
	if (!(buf[3] & GV_WIRE_FLAG_SEALED) ||
	    (buf[3] & ~(GV_WIRE_FLAG_SEALED | GV_WIRE_FLAG_AESGCM |
			GV_WIRE_FLAG_ZSTD)))
		return GV_EMALFORMED;
	if (gv__ld16(buf + 10) != 0 || len > GV_WIRE_MAX_MTU)
		return GV_EMALFORMED;
	if (gv__ld32(buf + 4) != cluster)
		return GV_ECLUSTER;
	header_of(h, buf);
	return 0;
}

int
gv_wire_open_plain(gv_wire_reader *r, const uint8_t *buf, size_t len)
{
	if (!r || !buf || len < GV_WIRE_HEADER_LEN || len > GV_WIRE_MAX_MTU)
		return GV_EINVAL;
	r->buf = buf;
	r->len = len;
	r->off = GV_WIRE_HEADER_LEN;
	return 0;
}

size_t
gv_wire_unpadded_len(const uint8_t *buf, size_t len)
{
	if (!buf || len < GV_WIRE_HEADER_LEN)
		return len;
	size_t off = GV_WIRE_HEADER_LEN;
	while (len - off >= GV_WIRE_RECORD_HDR) {
		size_t end = off + GV_WIRE_RECORD_HDR + gv__ld16(buf + off + 1);
		if (end > len)
			return len;
		if (end == len)
			return buf[off] == GV_REC_PAD ? off : len;
		off = end;
	}
	return len;
}

void
gv_wire_set_compressed(uint8_t *buf, size_t len, bool summed)
{
	buf[3] |= GV_WIRE_FLAG_ZSTD;
	if (summed)
		gv__st64(buf + CSUM_OFF, wire_checksum(buf, len));
}

int
gv_wire_inflate(struct gv_zctx *z, gv_wire_reader *r, uint8_t *out,
		size_t cap, const uint8_t *buf, size_t len, size_t *outlen)
{
	if (!z || !r || !out || !buf || !outlen || len < GV_WIRE_HEADER_LEN ||
	    cap < GV_WIRE_HEADER_LEN)
		return GV_EINVAL;
	if (!(buf[3] & GV_WIRE_FLAG_ZSTD))
		return GV_EMALFORMED;
	if (cap > GV_WIRE_MAX_MTU)
		cap = GV_WIRE_MAX_MTU;
	/* the frame, then only zeros (a packed datagram's padding) */
	const uint8_t *f = buf + GV_WIRE_HEADER_LEN;
	size_t room = len - GV_WIRE_HEADER_LEN;
	ssize_t flen = gv_compressed_len(f, room);
	if (flen < 0)
		return GV_EMALFORMED;
	for (size_t i = (size_t)flen; i < room; i++)
		if (f[i])
			return GV_EMALFORMED;
	ssize_t n = gv_decompress(z, out + GV_WIRE_HEADER_LEN,
				  cap - GV_WIRE_HEADER_LEN, f, (size_t)flen);
	if (n < 0)
		return (int)n;
	memcpy(out, buf, GV_WIRE_HEADER_LEN);
	out[3] &= (uint8_t)~GV_WIRE_FLAG_ZSTD;
	*outlen = GV_WIRE_HEADER_LEN + (size_t)n;
	r->buf = out;
	r->len = *outlen;
	r->off = GV_WIRE_HEADER_LEN;
	return 0;
}

/*
 * Each dec_* decodes one body of exactly @n bytes at @b (already known to
 * lie inside the datagram). A field that runs past the body, or a body
 * with bytes left over, is GV_EMALFORMED: the record disagrees with itself.
 */

static int
dec_update(const uint8_t *b, size_t n, gv_wire_update *u)
{
	if (n < GV_WIRE_UPDATE_FIXED)
		return GV_EMALFORMED;
	u->ver.hlc = gv__ld64(b + 0);
	u->ver.origin = gv__ld64(b + 8);
	u->prev.hlc = gv__ld64(b + 16);
	u->prev.origin = gv__ld64(b + 24);
	u->flags = b[32];
	u->priority = b[33];
	u->hops = b[34];
	u->klen = gv__ld16(b + 35);
	u->vlen = gv__ld16(b + 37);
	bool meta = (u->flags & GV_UPD_META) != 0;
	if ((u->flags & ~GV_UPD_FLAGS_ALL) || u->priority > 3 ||
	    u->klen > GV_MAX_KEY || (meta && u->vlen < GV_WIRE_META_LEN))
		return GV_EMALFORMED;
	if ((size_t)u->klen + u->vlen != n - GV_WIRE_UPDATE_FIXED)
		return GV_EMALFORMED;
	u->key = b + GV_WIRE_UPDATE_FIXED;
	u->val = u->key + u->klen;
	u->kind = 0;
	u->expire = 0;
	if (meta) {
		u->kind = u->val[0];
		u->expire = gv__ld64(u->val + 1);
		u->val += GV_WIRE_META_LEN;
		u->vlen = (uint16_t)(u->vlen - GV_WIRE_META_LEN);
		/* a meta header says something: kind or expiry */
		if (!u->kind && !u->expire)
			return GV_EMALFORMED;
	}
	if ((u->flags & GV_UPD_TOMBSTONE) && u->vlen != 0)
		return GV_EMALFORMED;
	if ((u->flags & GV_UPD_REF) &&
	    ((u->flags & GV_UPD_TOMBSTONE) || u->vlen != GV_WIRE_REF_LEN))
		return GV_EMALFORMED;
	u->flags &= (uint8_t)~GV_UPD_META;
	return 0;
}

/* Decode an address at the start of @n bytes; returns its size or error. */
static int
dec_addr(const uint8_t *p, size_t n, gv_wire_addr *a)
{
	if (n < ADDR_FIXED)
		return GV_EMALFORMED;
	size_t sz = addr_size(p[0]);
	if (!sz)
		return GV_EMALFORMED;
	if (sz > n)
		return GV_EMALFORMED;
	a->family = p[0];
	a->port = gv__ld16(p + 1);
	memset(a->addr, 0, sizeof(a->addr));
	memcpy(a->addr, p + ADDR_FIXED, sz - ADDR_FIXED);
	return (int)sz;
}

static int
dec_ping_req(const uint8_t *b, size_t n, gv_wire_ping_req *pr)
{
	if (n < PING_REQ_FIXED)
		return GV_EMALFORMED;
	pr->probe = gv__ld32(b);
	pr->target = gv__ld64(b + 4);
	int sz = dec_addr(b + PING_REQ_FIXED, n - PING_REQ_FIXED, &pr->addr);
	if (sz < 0)
		return sz;
	if (PING_REQ_FIXED + (size_t)sz != n)
		return GV_EMALFORMED;
	return 0;
}

/* A u8 length prefix and that many bytes, at most @max, within [*off, n). */
static int
dec_short_string(const uint8_t *b, size_t n, size_t *off, size_t max,
		 const uint8_t **s, uint8_t *slen)
{
	if (*off >= n)
		return GV_EMALFORMED;
	uint8_t l = b[*off];
	if (l > max || l > n - *off - 1)
		return GV_EMALFORMED;
	*s = b + *off + 1;
	*slen = l;
	*off += 1 + (size_t)l;
	return 0;
}

static int
dec_member(const uint8_t *b, size_t n, gv_wire_member *m)
{
	if (n < MEMBER_FIXED)
		return GV_EMALFORMED;
	m->state = b[0];
	m->node = gv__ld64(b + 1);
	m->incarnation = gv__ld32(b + 9);
	m->accuser = gv__ld64(b + 13);
	if (m->state > GV_MEMBER_LEFT)
		return GV_EMALFORMED;
	size_t off = MEMBER_FIXED;
	int sz = dec_addr(b + off, n - off, &m->addr);
	if (sz < 0)
		return sz;
	off += (size_t)sz;
	int rc = dec_short_string(b, n, &off, GV_WIRE_MAX_REGION, &m->region,
				  &m->region_len);
	if (rc)
		return rc;
	rc = dec_short_string(b, n, &off, GV_WIRE_MAX_NAME, &m->name,
			      &m->name_len);
	if (rc)
		return rc;
	return off == n ? 0 : GV_EMALFORMED;
}

static int
dec_merkle_req(const uint8_t *b, size_t n, gv_wire_merkle_req *q)
{
	if (n < MERKLE_REQ_FIXED)
		return GV_EMALFORMED;
	q->session = gv__ld32(b);
	q->level = b[4];
	q->count = gv__ld16(b + 5);
	if (4 * (size_t)q->count != n - MERKLE_REQ_FIXED)
		return GV_EMALFORMED;
	q->index = b + MERKLE_REQ_FIXED;
	return 0;
}

static int
dec_merkle_resp(const uint8_t *b, size_t n, gv_wire_merkle_resp *q)
{
	if (n < MERKLE_RESP_FIXED)
		return GV_EMALFORMED;
	q->session = gv__ld32(b);
	q->level = b[4];
	q->fan_log2 = b[5];
	q->count = gv__ld16(b + 6);
	if (q->fan_log2 < 1 || q->fan_log2 > FAN_LOG2_MAX)
		return GV_EMALFORMED;
	/* At most 65535 * (4 + 8 * 256): no overflow in size_t. */
	size_t group = 4 + 8 * ((size_t)1 << q->fan_log2);
	if (group * q->count != n - MERKLE_RESP_FIXED)
		return GV_EMALFORMED;
	q->groups = b + MERKLE_RESP_FIXED;
	return 0;
}

static int
dec_entries_req(const uint8_t *b, size_t n, gv_wire_entries_req *q)
{
	if (n < ENTRIES_REQ_FIXED)
		return GV_EMALFORMED;
	q->session = gv__ld32(b);
	q->kind = b[4];
	q->count = gv__ld16(b + 5);
	if (q->kind > GV_ENTRIES_KEYS)
		return GV_EMALFORMED;
	if (8 * (size_t)q->count != n - ENTRIES_REQ_FIXED)
		return GV_EMALFORMED;
	q->items = b + ENTRIES_REQ_FIXED;
	return 0;
}

static int
dec_pull_digest(const uint8_t *b, size_t n, gv_wire_pull_digest *q)
{
	if (n < PULL_DIGEST_FIXED)
		return GV_EMALFORMED;
	q->session = gv__ld32(b);
	q->bucket = gv__ld32(b + 4);
	q->count = gv__ld16(b + 8);
	if (PULL_ITEM * (size_t)q->count != n - PULL_DIGEST_FIXED)
		return GV_EMALFORMED;
	q->items = b + PULL_DIGEST_FIXED;
	return 0;
}

static int
dec_tomb_ack(const uint8_t *b, size_t n, gv_wire_tomb_ack *q)
{
	if (n < TOMB_ACK_FIXED)
		return GV_EMALFORMED;
	q->count = gv__ld16(b);
	if (TOMB_ITEM * (size_t)q->count != n - TOMB_ACK_FIXED)
		return GV_EMALFORMED;
	q->items = b + TOMB_ACK_FIXED;
	return 0;
}

static int
dec_tree(const uint8_t *b, size_t n, gv_wire_tree *q)
{
	if (n < TREE_FIXED)
		return GV_EMALFORMED;
	q->kind = b[0];
	q->count = gv__ld16(b + 1);
	if (q->kind < GV_TREE_IHAVE || q->kind > GV_TREE_KIND_MAX ||
	    GV_TREE_ITEM * (size_t)q->count != n - TREE_FIXED)
		return GV_EMALFORMED;
	q->items = b + TREE_FIXED;
	return 0;
}

static int
dec_purge(const uint8_t *b, size_t n, gv_wire_purge *q)
{
	if (n < PURGE_FIXED)
		return GV_EMALFORMED;
	q->ver.hlc = gv__ld64(b);
	q->ver.origin = gv__ld64(b + 8);
	q->klen = gv__ld16(b + 16);
	if (q->klen > GV_MAX_KEY || q->klen != n - PURGE_FIXED)
		return GV_EMALFORMED;
	q->key = b + PURGE_FIXED;
	return 0;
}

/* Returns 0 with *rec filled, 1 for an unknown type, or an error. */
static int
dec_record(uint8_t type, const uint8_t *b, size_t n, gv_wire_record *rec)
{
	rec->type = type;
	switch (type) {
	case GV_REC_UPDATE:
		return dec_update(b, n, &rec->u.update);
	case GV_REC_PING:
		if (n != PING_BODY)
			return GV_EMALFORMED;
		rec->u.ping.probe = gv__ld32(b);
		rec->u.ping.target = gv__ld64(b + 4);
		return 0;
	case GV_REC_ACK:
		if (n != ACK_BODY || (b[4] & ~ACK_FLAGS_ALL))
			return GV_EMALFORMED;
		rec->u.ack.probe = gv__ld32(b);
		rec->u.ack.flags = b[4];
		return 0;
	case GV_REC_PING_REQ:
		return dec_ping_req(b, n, &rec->u.ping_req);
	case GV_REC_MEMBER:
		return dec_member(b, n, &rec->u.member);
	case GV_REC_MERKLE_REQ:
		return dec_merkle_req(b, n, &rec->u.merkle_req);
	case GV_REC_MERKLE_RESP:
		return dec_merkle_resp(b, n, &rec->u.merkle_resp);
	case GV_REC_ENTRIES_REQ:
		return dec_entries_req(b, n, &rec->u.entries_req);
	case GV_REC_ENTRIES_RESP:
		if (n != ENTRIES_RESP_BODY || (b[4] & ~ENTRIES_RESP_FLAGS_ALL))
			return GV_EMALFORMED;
		rec->u.entries_resp.session = gv__ld32(b);
		rec->u.entries_resp.flags = b[4];
		rec->u.entries_resp.count = gv__ld16(b + 5);
		return 0;
	case GV_REC_PULL_DIGEST:
		return dec_pull_digest(b, n, &rec->u.pull_digest);
	case GV_REC_SYNC_REQ:
		if (n != SYNC_REQ_BODY || (b[4] & ~GV_SYNC_FLAGS_ALL))
			return GV_EMALFORMED;
		rec->u.sync_req.session = gv__ld32(b);
		rec->u.sync_req.flags = b[4];
		rec->u.sync_req.shards = gv__ld16(b + 5);
		return 0;
	case GV_REC_TOMB_ACK:
		return dec_tomb_ack(b, n, &rec->u.tomb_ack);
	case GV_REC_PURGE:
		return dec_purge(b, n, &rec->u.purge);
	case GV_REC_TREE:
		return dec_tree(b, n, &rec->u.tree);
	default:
		return 1;
	}
}

int
gv_wire_next(gv_wire_reader *r, gv_wire_record *rec)
{
	if (!r || !rec || !r->buf || r->off > r->len)
		return GV_EINVAL;

	size_t off = r->off;
	for (;;) {
		if (off == r->len)
			break;
		size_t left = r->len - off;
		if (left < GV_WIRE_RECORD_HDR)
			return GV_ETRUNCATED;
		const uint8_t *p = r->buf + off;
		size_t blen = gv__ld16(p + 1);
		if (blen > left - GV_WIRE_RECORD_HDR)
			return GV_ETRUNCATED;

		gv_wire_record tmp;
		int rc = dec_record(p[0], p + GV_WIRE_RECORD_HDR, blen, &tmp);
		if (rc < 0)
			return rc;
		/* Skipping unknown records moves the reader even if a later
		 * record fails, so it stays at the bad record itself. */
		off += GV_WIRE_RECORD_HDR + blen;
		r->off = off;
		if (rc == 0) {
			*rec = tmp;
			return 1;
		}
	}
	r->off = off;
	return 0;
}
