/* SPDX-License-Identifier: MIT */
/*
 * fuzz_persist.c - the persistence file format (engine/server/
 * persist_fmt.c) on arbitrary files: the header decoder, the record
 * decoder gvp_next and the loader gvp_load_records into a live node with
 * a small memory cap. The input is [ctl u8][file]:
 *   ctl bit 0     the records are a snapshot's (else a log's)
 *   ctl bit 1     first give the file valid checksums (the header's and
 *                 every frame's that fits), so the fuzzer explores the
 *                 fields behind them instead of stopping at a check
 *   ctl bits 2-3  the store's memory cap: 4 KiB, 64 KiB, 1 MiB, 16 MiB
 * The records are the file past its 48-byte header (the whole file when
 * shorter). Checked: every record decoded is inside the buffer, at least
 * a frame long, and encodes back to the same bytes; the loader stops where
 * the decoder does (or earlier, for a record the node or the file kind
 * refuses), counts what it loaded, and installs each key's last record
 * exactly; every allocation is back when the node is deleted.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "core/node_int.h"
#include "fuzz.h"
#include "server/persist_fmt.h"

#define MAX_CHECKED 512 /* records whose install is checked one by one */

static size_t live;

static void *
t_alloc(void *ctx, size_t size)
{
	(void)ctx;
	void *p = malloc(size ? size : 1);
	if (p)
		live += size;
	return p;
}

static void
t_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	if (p) {
		live -= size;
		free(p);
	}
}

static const gv_mem tmem = {t_alloc, t_free, NULL};

static bool
inside(const uint8_t *p, size_t n, const uint8_t *q, size_t len)
{
	return (uintptr_t)q >= (uintptr_t)p &&
	       (uintptr_t)q + len <= (uintptr_t)p + n;
}

/* The record at p (used bytes) encoded again from its decoded form. */
static void
check_reencode(const uint8_t *p, size_t used, const struct gvp_rec *r)
{
	uint8_t *buf = malloc(used);
	if (!buf)
		abort();
	size_t n = 0;
	switch (r->type) {
	case GVP_ENTRY: {
		const gv_record *e = &r->rec;
		if (gvp_entry_size(e->klen, e->vlen) != used)
			abort();
		n = gvp_entry_encode(e, buf);
		if (n != used || memcmp(buf, p, used))
			abort();
		/* the head and tail of a value written where it lies */
		uint8_t tail[4];
		memset(buf, 0, used);
		size_t h = gvp_entry_head(e, buf, tail);
		if (h != GVP_ENTRY_HEAD + e->klen || h + e->vlen + 4 != used ||
		    memcmp(buf, p, h) || memcmp(tail, p + h + e->vlen, 4))
			abort();
		break;
	}
	case GVP_REMOVE:
		n = gvp_remove_encode(r->rec.key, r->rec.klen, buf);
		break;
	case GVP_MEMBER:
		n = gvp_member_encode(&r->addr, buf);
		break;
	case GVP_END:
		n = gvp_end_encode(r->count, buf);
		break;
	default:
		abort(); /* an OK record of no known type */
	}
	if (r->type != GVP_ENTRY && (n != used || memcmp(buf, p, used)))
		abort();
	free(buf);
}

/* One call of gvp_next at p[0..n), its answer checked. */
static int
next_checked(const uint8_t *p, size_t n, size_t *used, struct gvp_rec *r)
{
	const char *why = "unset";
	*used = (size_t)-1;
	int rc = gvp_next(p, n, used, r, &why);
	switch (rc) {
	case GVP_EOF:
		if (n || *used)
			abort();
		break;
	case GVP_TORN:
		if (!n || *used != n || !why)
			abort();
		break;
	case GVP_BAD:
		if (!why)
			abort();
		break;
	case GVP_OK:
		if (why || *used == 0 || *used > n || *used <= GVP_FRAME)
			abort();
		if (r->type == GVP_ENTRY || r->type == GVP_REMOVE) {
			if (r->rec.klen > GV_MAX_KEY ||
			    !inside(p, *used - 4, r->rec.key, r->rec.klen))
				abort();
		}
		if (r->type == GVP_ENTRY) {
			const gv_record *e = &r->rec;
			if (e->klen + e->vlen + GVP_ENTRY_HEAD + 4 != *used ||
			    (e->vlen &&
			     (!inside(p, *used - 4, e->val, e->vlen) ||
			      e->val != e->key + e->klen)) ||
			    (!e->vlen && e->val) ||
			    gv_version_is_zero(&e->ver) ||
			    e->kind > GV_KIND_MAX ||
			    (e->tombstone && (e->kind || e->vlen)))
				abort();
		}
		if (r->type == GVP_MEMBER && r->addr.family != 4 &&
		    r->addr.family != 6)
			abort();
		check_reencode(p, *used, r);
		break;
	default:
		abort();
	}
	return rc;
}

/* A walk over p[0..n): the records and their offsets (up to max of them
 * kept), and where and how it stopped. */
struct walk {
	size_t ok, off, removes;
	int rc;
	struct gvp_rec *recs;
	size_t *offs;
	size_t max;
};

static void
walk(const uint8_t *p, size_t n, struct walk *w)
{
	w->ok = w->off = w->removes = 0;
	for (;;) {
		struct gvp_rec r;
		size_t used;
		w->rc = next_checked(p + w->off, n - w->off, &used, &r);
		if (w->rc != GVP_OK)
			return;
		if (w->ok < w->max) {
			w->recs[w->ok] = r;
			w->offs[w->ok] = w->off;
		}
		if (r.type == GVP_REMOVE)
			w->removes++;
		w->ok++;
		w->off += used;
		if (w->off > n)
			abort();
	}
}

/* Valid checksums for the header and every frame that fits. */
static void
fix_checksums(uint8_t *f, size_t n)
{
	size_t off = 0;
	if (n >= GVP_HDR_LEN) {
		uint64_t c = XXH3_64bits(f, 40);
		memcpy(f + 40, &c, 8);
		off = GVP_HDR_LEN;
	}
	while (n - off >= 8) {
		uint8_t *p = f + off;
		uint32_t len;
		memcpy(&len, p, 4);
		uint32_t lc = XXH32(p, 4, GVP_SEED);
		memcpy(p + 4, &lc, 4);
		if (!len || (uint64_t)len + GVP_FRAME > n - off)
			return;
		const uint8_t *b = p + 8;
		uint32_t bc = (uint32_t)XXH3_64bits(b, len);
		size_t klen = len >= 5 ? (size_t)b[3] | (size_t)b[4] << 8 : 0;
		if (b[0] == GVP_ENTRY && len >= GVP_ENTRY_FIXED &&
		    GVP_ENTRY_FIXED + klen <= len) {
			size_t fixed = GVP_ENTRY_FIXED + klen;
			uint64_t seed = XXH3_64bits(b, fixed);
			bc = (uint32_t)XXH3_64bits_withSeed(b + fixed,
							    len - fixed, seed);
		}
		memcpy(p + 8 + len, &bc, 4);
		off += GVP_FRAME + len;
	}
}

static size_t members;

static void
on_member(void *ud, const gv_addr *a)
{
	(void)ud;
	if (a->family != 4 && a->family != 6)
		abort();
	members++;
}

static bool
same_key(const gv_record *a, const gv_record *b)
{
	return a->klen == b->klen && (!a->klen || !memcmp(a->key, b->key,
							   a->klen));
}

/* Each key's last record of the first w->ok, installed exactly. */
static void
check_installed(gv_node *n, const struct walk *w)
{
	for (size_t i = 0; i < w->ok; i++) {
		const struct gvp_rec *r = &w->recs[i];
		if (r->type != GVP_ENTRY && r->type != GVP_REMOVE)
			continue;
		bool later = false;
		for (size_t j = i + 1; j < w->ok && !later; j++)
			later = (w->recs[j].type == GVP_ENTRY ||
				 w->recs[j].type == GVP_REMOVE) &&
				same_key(&r->rec, &w->recs[j].rec);
		if (later)
			continue;
		gv_record got;
		int rc = gv_store_lookup(&n->store, r->rec.key, r->rec.klen,
					 &got);
		if (r->type == GVP_REMOVE) {
			if (rc != GV_ENOTFOUND)
				abort();
			continue;
		}
		/* the store keeps no cond mark on a tombstone (store.c,
		 * entry_fill): the one field a load does not install as
		 * given, and one that means nothing there */
		const gv_record *e = &r->rec;
		bool cond = e->cond && !e->tombstone;
		if (rc || got.klen != e->klen || got.vlen != e->vlen ||
		    gv_version_cmp(&got.ver, &e->ver) ||
		    gv_version_cmp(&got.prev, &e->prev) ||
		    got.tombstone != e->tombstone || got.kind != e->kind ||
		    got.expire != e->expire || got.cond != cond ||
		    (e->vlen && memcmp(got.val, e->val, e->vlen)))
			abort();
	}
}

static void
load(const uint8_t *f, size_t fsize, uint8_t ctl)
{
	static const size_t caps[4] = {4u << 10, 64u << 10, 1u << 20,
				       16u << 20};
	size_t base = fsize >= GVP_HDR_LEN ? GVP_HDR_LEN : 0;
	const uint8_t *p = f + base;
	size_t n = fsize - base;
	static struct gvp_rec recs[MAX_CHECKED];
	static size_t offs[MAX_CHECKED];
	struct walk w = {.recs = recs, .offs = offs, .max = MAX_CHECKED};
	walk(p, n, &w);

	gv_node_config c;
	gv_node_config_default(&c);
	c.id = 1;
	c.addr = (gv_addr){.family = 4, .port = 7000, .addr = {127, 0, 0, 1}};
	c.cluster = 7;
	c.mem = &tmem;
	c.merkle_depth = 2;
	c.conflict_log = 4;
	c.store.max_value = 32u << 10; /* a longer value: GV_EVALSIZE */
	c.store.max_memory = caps[(ctl >> 2) & 3];
	gv_time now = 1000000;
	gv_node *node;
	if (gv_node_new(&node, &c, now))
		abort();
	/* a member, as a restarted daemon has: without one, gv_node_del
	 * walks a NULL member array (n->members + 0), which clang's UBSan
	 * reports (dissem.c, gv__dissem_fini) */
	gv_member_info m = {.id = 100, .state = GV_MEMBER_ALIVE, .name = "p",
			    .region = "",
			    .addr = {.family = 4, .port = 7001,
				     .addr = {127, 0, 0, 2}}};
	if (gv_node_add_member(node, now, &m))
		abort();
	members = 0;
	struct gvp_load L = {.snap = ctl & 1, .now = now, .now_ms = 5000,
			     .on_member = on_member};
	int rc = gvp_load_records(node, p, n, base, &L);
	if (L.entries > L.records || L.expired > L.entries ||
	    L.records > w.ok || L.off < base || L.off > base + w.off)
		abort();
	/* it stopped at the start of the record after those it loaded */
	if (L.records < MAX_CHECKED &&
	    L.off != base + (L.records < w.ok ? offs[L.records] : w.off))
		abort();
	switch (rc) {
	case GVP_OK:
		if (w.rc != GVP_EOF || L.records != w.ok || L.off != base + n ||
		    L.why)
			abort();
		if (L.snap ? L.entries + members + 1 != L.records
			   : (L.entries + w.removes != L.records || members))
			abort();
		break;
	case GVP_TORN:
		if (L.snap || w.rc != GVP_TORN || L.records != w.ok ||
		    L.off != base + w.off || !L.why)
			abort();
		break;
	case GVP_BAD:
		if (!L.why)
			abort();
		break;
	case GVP_NOROOM:
		if (!L.why || L.records >= w.ok)
			abort();
		break;
	default:
		abort();
	}
	if ((rc == GVP_OK || rc == GVP_TORN) && w.ok <= MAX_CHECKED)
		check_installed(node, &w);
	(void)gv_node_load_end(node, now);
	/* the loaded keys read as a node's reads do */
	for (size_t i = 0; i < w.ok && i < MAX_CHECKED && i < L.records; i++) {
		gv_record got;
		if (recs[i].type == GVP_ENTRY)
			(void)gv_node_get(node, recs[i].rec.key,
					  recs[i].rec.klen, &got);
	}
	gv_node_del(node);
	if (live)
		abort(); /* a leak */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gvp_header h;
	const char *why = NULL;
	if (gvp_header_decode(data, size, &h, &why) == 0) {
		if (why)
			abort();
	} else if (!why) {
		abort();
	}
	if (size < 1 || size > (1u << 24))
		return 0;
	uint8_t ctl = data[0];
	size_t fsize = size - 1;
	uint8_t *f = malloc(fsize ? fsize : 1);
	if (!f)
		abort();
	memcpy(f, data + 1, fsize);
	if (ctl & 2)
		fix_checksums(f, fsize);

	why = NULL;
	int rc = gvp_header_decode(f, fsize, &h, &why);
	if (rc != 0 && (rc != GVP_BAD || !why))
		abort();
	if (rc == 0) {
		/* a header that decodes encodes back to the same bytes */
		uint8_t again[GVP_HDR_LEN];
		gvp_header_encode(&h, again);
		if (h.version != GVP_VERSION || !h.shards ||
		    h.shard >= h.shards ||
		    (h.kind != GVP_KIND_SNAP && h.kind != GVP_KIND_LOG))
			abort();
		/* flags and reserved are not read: equal elsewhere */
		if (memcmp(again, f, 10) || memcmp(again + 16, f + 16, 24))
			abort();
	}

	/* the decoder from the file's start, and from past its header */
	struct walk w = {.max = 0};
	walk(f, fsize, &w);
	load(f, fsize, ctl);
	free(f);
	return 0;
}
