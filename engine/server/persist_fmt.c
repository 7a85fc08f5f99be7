/* SPDX-License-Identifier: MIT */
/*
 * persist_fmt.c - the snapshot and log format (persist_fmt.h).
 */
#include "server/persist_fmt.h"

#include <string.h>
#include <xxhash.h>

#include "core/gv_core.h"

void
gvp_header_encode(const struct gvp_header *h, uint8_t out[GVP_HDR_LEN])
{
	memset(out, 0, GVP_HDR_LEN);
	memcpy(out, GVP_MAGIC, 4);
	out[4] = h->kind;
	out[5] = h->version;
	gv__st16(out + 6, h->shard);
	gv__st16(out + 8, h->shards);
	gv__st64(out + 16, h->gen);
	gv__st64(out + 24, h->node);
	gv__st64(out + 32, h->created_ms);
	gv__st64(out + 40, XXH3_64bits(out, 40));
}

int
gvp_header_decode(const uint8_t *p, size_t n, struct gvp_header *h,
		  const char **why)
{
	if (n < GVP_HDR_LEN) {
		*why = "shorter than a header";
		return GVP_BAD;
	}
	if (memcmp(p, GVP_MAGIC, 4)) {
		*why = "not a grapevine file (bad magic)";
		return GVP_BAD;
	}
	if (gv__ld64(p + 40) != XXH3_64bits(p, 40)) {
		*why = "bad header checksum";
		return GVP_BAD;
	}
	h->kind = p[4];
	h->version = p[5];
	h->shard = gv__ld16(p + 6);
	h->shards = gv__ld16(p + 8);
	h->gen = gv__ld64(p + 16);
	h->node = gv__ld64(p + 24);
	h->created_ms = gv__ld64(p + 32);
	if (h->version != GVP_VERSION) {
		*why = "wrong version (this build reads version 1)";
		return GVP_BAD;
	}
	if (h->kind != GVP_KIND_SNAP && h->kind != GVP_KIND_LOG) {
		*why = "unknown file kind";
		return GVP_BAD;
	}
	if (!h->shards || h->shard >= h->shards) {
		*why = "bad shard numbers";
		return GVP_BAD;
	}
	return 0;
}

size_t
gvp_entry_size(size_t klen, size_t vlen)
{
	return GVP_FRAME + GVP_ENTRY_FIXED + klen + vlen;
}

static void
frame_head(uint8_t *out, size_t body)
{
	uint8_t l[4];
	gv__st32(l, (uint32_t)body);
	memcpy(out, l, 4);
	gv__st32(out + 4, XXH32(l, 4, GVP_SEED));
}

size_t
gvp_entry_head(const gv_record *r, uint8_t *out, uint8_t tail[4])
{
	size_t body = GVP_ENTRY_FIXED + r->klen + r->vlen;
	frame_head(out, body);
	uint8_t *b = out + 8;
	b[0] = GVP_ENTRY;
	b[1] = (uint8_t)((r->tombstone ? 1 : 0) | (r->cond ? 2 : 0));
	b[2] = r->kind;
	gv__st16(b + 3, (uint16_t)r->klen);
	gv__st32(b + 5, (uint32_t)r->vlen);
	gv__st64(b + 9, r->ver.hlc);
	gv__st64(b + 17, r->ver.origin);
	gv__st64(b + 25, r->prev.hlc);
	gv__st64(b + 33, r->prev.origin);
	gv__st64(b + 41, r->expire);
	if (r->klen)
		memcpy(b + GVP_ENTRY_FIXED, r->key, r->klen);
	uint64_t seed = XXH3_64bits(b, GVP_ENTRY_FIXED + r->klen);
	gv__st32(tail, (uint32_t)XXH3_64bits_withSeed(r->val, r->vlen, seed));
	return 8 + GVP_ENTRY_FIXED + r->klen;
}

size_t
gvp_entry_encode(const gv_record *r, uint8_t *out)
{
	uint8_t tail[4];
	size_t n = gvp_entry_head(r, out, tail);
	if (r->vlen)
		memcpy(out + n, r->val, r->vlen);
	n += r->vlen;
	memcpy(out + n, tail, 4);
	return n + 4;
}

/* Frame a body written at out + 8 (len bytes). */
static size_t
frame_body(uint8_t *out, size_t len)
{
	frame_head(out, len);
	gv__st32(out + 8 + len, (uint32_t)XXH3_64bits(out + 8, len));
	return GVP_FRAME + len;
}

size_t
gvp_remove_encode(const void *key, size_t klen, uint8_t *out)
{
	out[8] = GVP_REMOVE;
	gv__st16(out + 9, (uint16_t)klen);
	if (klen)
		memcpy(out + 11, key, klen);
	return frame_body(out, 3 + klen);
}

size_t
gvp_member_encode(const gv_addr *a, uint8_t *out)
{
	out[8] = GVP_MEMBER;
	out[9] = a->family;
	gv__st16(out + 10, a->port);
	memcpy(out + 12, a->addr, 16);
	return frame_body(out, 20);
}

size_t
gvp_end_encode(uint64_t count, uint8_t *out)
{
	out[8] = GVP_END;
	gv__st64(out + 9, count);
	return frame_body(out, 9);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int
bad(const char **why, const char *w)
{
	*why = w;
	return GVP_BAD;
}

int
gvp_next(const uint8_t *p, size_t n, size_t *used, struct gvp_rec *out,
	 const char **why)
{
	*why = NULL;
	if (n == 0) {
		*used = 0;
		return GVP_EOF;
	}
	if (n < 8 || all_zero(p, n < 8 ? n : 8)) {
		/* a frame's head cut short, or zeroes where one should be:
		 * torn if nothing but zeroes follows (or too little for a
		 * head at all) */
		if (n < 8 || all_zero(p, n)) {
			*used = n;
			*why = "incomplete record at the end";
			return GVP_TORN;
		}
		return bad(why, "bad record length");
	}
	uint32_t len = gv__ld32(p);
	if (gv__ld32(p + 4) != XXH32(p, 4, GVP_SEED))
		return bad(why, "bad record length (its check fails)");
	if (len == 0)
		return bad(why, "bad record length");
	if ((uint64_t)len + GVP_FRAME > n) {
		*used = n;
		*why = "incomplete record at the end";
		return GVP_TORN;
	}
	const uint8_t *b = p + 8;
	uint32_t check = gv__ld32(b + len);
	memset(out, 0, sizeof(*out));
	out->type = b[0];
	switch (b[0]) {
	case GVP_ENTRY: {
		if (len < GVP_ENTRY_FIXED)
			return bad(why, "entry record too short");
		gv_record *r = &out->rec;
		uint8_t fl = b[1];
		if (fl & ~3u)
			return bad(why, "entry record with unknown flags");
		r->tombstone = fl & 1;
		r->cond = (fl & 2) != 0;
		r->kind = b[2];
		r->klen = gv__ld16(b + 3);
		r->vlen = gv__ld32(b + 5);
		if ((uint64_t)GVP_ENTRY_FIXED + r->klen + r->vlen != len)
			return bad(why, "entry record length does not add up");
		if (r->klen > GV_MAX_KEY)
			return bad(why, "entry key too long");
		if (r->kind > GV_KIND_MAX || (r->tombstone &&
					      (r->kind || r->vlen || r->cond)))
			return bad(why, "entry record of unknown kind");
		r->ver.hlc = gv__ld64(b + 9);
		r->ver.origin = gv__ld64(b + 17);
		r->prev.hlc = gv__ld64(b + 25);
		r->prev.origin = gv__ld64(b + 33);
		r->expire = gv__ld64(b + 41);
		if (gv_version_is_zero(&r->ver))
			return bad(why, "entry record with a zero version");
		r->key = b + GVP_ENTRY_FIXED;
		r->val = r->vlen ? r->key + r->klen : NULL;
		uint64_t seed = XXH3_64bits(b, GVP_ENTRY_FIXED + r->klen);
		if ((uint32_t)XXH3_64bits_withSeed(r->val, r->vlen, seed) != check)
			return bad(why, "bad record checksum");
		break;
	}
	case GVP_REMOVE:
		if (len < 3 || gv__ld16(b + 1) + 3u != len)
			return bad(why, "remove record length does not add up");
		if (gv__ld16(b + 1) > GV_MAX_KEY)
			return bad(why, "remove key too long");
		out->rec.klen = gv__ld16(b + 1);
		out->rec.key = b + 3;
		break;
	case GVP_MEMBER:
		if (len != 20)
			return bad(why, "member record length");
		out->addr.family = b[1];
		out->addr.port = gv__ld16(b + 2);
		memcpy(out->addr.addr, b + 4, 16);
		if (out->addr.family != 4 && out->addr.family != 6)
			return bad(why, "member record address family");
		break;
	case GVP_END:
		if (len != 9)
			return bad(why, "end record length");
		out->count = gv__ld64(b + 1);
		break;
	default:
		return bad(why, "unknown record type");
	}
	if (b[0] != GVP_ENTRY && (uint32_t)XXH3_64bits(b, len) != check)
		return bad(why, "bad record checksum");
	*used = GVP_FRAME + len;
	return GVP_OK;
}

static int
load_bad(struct gvp_load *L, size_t off, const char *why)
{
	L->off = off;
	L->why = why;
	return GVP_BAD;
}

int
gvp_load_records(gv_node *node, const uint8_t *p, size_t n, size_t base,
		 struct gvp_load *L)
{
	size_t off = 0;
	bool ended = false;
	L->why = NULL;
	/* a snapshot's end record says how many entries follow: the table
	 * is sized for them first (they come in key-hash order) */
	if (L->snap && n >= GVP_FRAME + 9) {
		struct gvp_rec end;
		size_t used;
		const char *why;
		if (gvp_next(p + n - (GVP_FRAME + 9), GVP_FRAME + 9, &used, &end,
			     &why) == GVP_OK &&
		    end.type == GVP_END && end.count <= n / GVP_ENTRY_FIXED)
			(void)gv_node_load_reserve(node, (size_t)end.count);
	}
	for (;;) {
		struct gvp_rec r;
		size_t used;
		const char *why;
		int rc = gvp_next(p + off, n - off, &used, &r, &why);
		L->off = base + off;
		if (rc == GVP_EOF)
			break;
		if (rc == GVP_TORN) {
			if (L->snap) /* renamed into place only whole */
				return load_bad(L, base + off,
						"snapshot cut short");
			L->why = why;
			return GVP_TORN;
		}
		if (rc != GVP_OK)
			return load_bad(L, base + off, why);
		if (ended)
			return load_bad(L, base + off,
					"records after the end record");
		int lr = 0;
		switch (r.type) {
		case GVP_ENTRY:
			lr = gv_node_load(node, L->now, &r.rec);
			if (lr)
				break;
			L->entries++;
			if (r.rec.expire && r.rec.expire <= L->now_ms)
				L->expired++;
			break;
		case GVP_REMOVE:
			if (L->snap)
				return load_bad(L, base + off,
						"remove record in a snapshot");
			lr = gv_node_load_remove(node, r.rec.key, r.rec.klen);
			break;
		case GVP_MEMBER:
			if (!L->snap)
				return load_bad(L, base + off,
						"member record in a log");
			if (L->on_member)
				L->on_member(L->ud, &r.addr);
			break;
		case GVP_END:
			if (!L->snap)
				return load_bad(L, base + off,
						"end record in a log");
			if (r.count != L->entries)
				return load_bad(L, base + off,
						"the end record's count is not "
						"the snapshot's entries");
			ended = true;
			break;
		default:
			break;
		}
		if (lr == GV_ENOSPC || lr == GV_ENOMEM || lr == GV_EVALSIZE) {
			/* not damage: this node's limits are smaller */
			L->why = lr == GV_EVALSIZE
					 ? "a value longer than --max-value"
					 : "the data does not fit in --max-memory";
			return GVP_NOROOM;
		}
		if (lr)
			return load_bad(L, base + off, gv_strerror(lr));
		L->records++;
		off += used;
	}
	if (L->snap && !ended)
		return load_bad(L, base + off,
				"snapshot without its end record (incomplete)");
	return GVP_OK;
}
