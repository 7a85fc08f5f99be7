/* SPDX-License-Identifier: MIT */
/*
 * tomb.c - collecting tombstones without letting deleted keys come back.
 *
 * A delete leaves a tombstone (a death certificate): while any replica may
 * still hold the old value, the tombstone is what stops anti-entropy from
 * bringing that value back. So a tombstone is collected only when every
 * member that is not known to have left holds it - alive, suspect and dead
 * members all count, since a dead member may be on the far side of a
 * partition with the old value - or after tombstone_grace.
 *
 * Every node that stores a tombstone acknowledges it to the write's origin
 * (TOMB_ACK; again whenever the origin retransmits it, so a lost ack is
 * repaired). The origin tracks who holds each of its tombstones; once the
 * holders cover the membership it purges its copy and spreads a PURGE
 * rumor. Each node remembers recently purged versions for a few seconds,
 * so anti-entropy from a node that has not purged yet does not plant the
 * tombstone again. Independently, every node collects tombstones older
 * than tombstone_grace (by their HLC time) in a slow background sweep.
 */
#include "node_int.h"

#define SWEEP_SLICES 16 /* the grace sweep covers the leaves in 16 s */

static uint64_t
purge_id(uint64_t key_hash, const gv_version *v)
{
	uint64_t buf[3] = {key_hash, v->hlc, v->origin};
	return XXH3_64bits(buf, sizeof(buf)) ^ UINT64_C(0x7075726765);
}

bool
gv__tomb_purged_recently(gv_node *n, uint64_t key_hash, const gv_version *ver)
{
	return n->purged_on &&
	       gv_dedup_contains(&n->purged, purge_id(key_hash, ver));
}

/* Remember a collected tombstone for a few seconds (the set is made on
 * first use: most nodes of a big simulation never collect one). */
static void
remember_purged(gv_node *n, uint64_t key_hash, const gv_version *ver)
{
	if (!n->purged_on) {
		if (gv_dedup_init(&n->purged, n->mem, 1024, 4))
			return;
		n->purged_on = true;
	}
	gv_dedup_insert(&n->purged, purge_id(key_hash, ver));
}

static void
tomb_free(gv_node *n, struct tomb *t)
{
	gv__free(n->mem, t->holders, t->cap * sizeof(gv_node_id));
	gv__free(n->mem, t, sizeof(*t) + t->klen);
}

void
gv__tomb_fini(gv_node *n)
{
	while (n->tombs) {
		struct tomb *t = n->tombs;
		n->tombs = t->next;
		tomb_free(n, t);
	}
	n->ntombs = 0;
}

/* Purge our copy of key@ver; remember it; returns true if it was there. */
static bool
purge_local(gv_node *n, const uint8_t *key, size_t klen, const gv_version *ver)
{
	uint64_t kh = gv__key_hash(key, klen);
	remember_purged(n, kh, ver);
	gv_record r;
	if (GV_UNLIKELY(gv_key_reserved(key, klen)) &&
	    gv_store_lookup(&n->store, key, klen, &r) == 0)
		/* a hash's expiry register: its dead fields go first */
		gv__hash_on_entry(n, n->now, &r);
	if (gv_store_purge(&n->store, key, klen, ver) != 0)
		return false;
	n->st.tombstones_purged++;
	return true;
}

void
gv__tomb_stored(gv_node *n, gv_time now, const gv_record *rec)
{
	if (rec->ver.origin == n->self) {
		if (n->ntombs >= 65536)
			return; /* the grace sweep will collect the rest */
		struct tomb *t = gv__zalloc(n->mem, sizeof(*t) + rec->klen);
		if (!t)
			return;
		t->ver = rec->ver;
		t->key_hash = gv__key_hash(rec->key, rec->klen);
		t->created = now;
		t->klen = (uint16_t)rec->klen;
		memcpy(t->key, rec->key, rec->klen);
		t->next = n->tombs;
		n->tombs = t;
		n->ntombs++;
		return;
	}
	if (n->statics)
		return;
	struct member *o = gv__member_find(n, rec->ver.origin);
	if (!o || o->state == GV_MEMBER_LEFT)
		return;
	struct item it = {.kind = IT_TOMB_ACK};
	it.u.tack[0] = gv__key_hash(rec->key, rec->klen);
	it.u.tack[1] = rec->ver.hlc;
	it.u.tack[2] = rec->ver.origin;
	gv__node_item(n, &o->addr, &it);
}

static bool
holds(const struct tomb *t, gv_node_id id)
{
	size_t lo = 0, hi = t->nholders;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->holders[mid] == id)
			return true;
		if (t->holders[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void
add_holder(gv_node *n, struct tomb *t, gv_node_id id)
{
	if (holds(t, id))
		return;
	if (t->nholders == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		gv_node_id *h = gv__alloc(n->mem, cap * sizeof(gv_node_id));
		if (!h)
			return;
		if (t->nholders)
			memcpy(h, t->holders, t->nholders * sizeof(gv_node_id));
		gv__free(n->mem, t->holders, t->cap * sizeof(gv_node_id));
		t->holders = h;
		t->cap = cap;
	}
	size_t i = t->nholders;
	while (i > 0 && t->holders[i - 1] > id) {
		t->holders[i] = t->holders[i - 1];
		i--;
	}
	t->holders[i] = id;
	t->nholders++;
}

/* Does every member that has not left hold t? Only a node that has
 * received a full membership can tell (a joiner whose sync was lost does
 * not know every member yet; its tombstones wait for the grace period or
 * for the sync). */
static bool
complete(const gv_node *n, const struct tomb *t)
{
	if (!n->synced && !n->statics && !n->cfg.external_membership)
		return false;
	for (size_t i = 0; i < n->nmembers; i++) {
		const struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_LEFT && !holds(t, m->id))
			return false;
	}
	return true;
}

/* Unlink and finish t: collect it everywhere if it is still ours. */
static void
tomb_done(gv_node *n, struct tomb **link, bool collect)
{
	struct tomb *t = *link;
	*link = t->next;
	n->ntombs--;
	if (collect && purge_local(n, t->key, t->klen, &t->ver))
		gv__spread_purge(n, t->key, t->klen, &t->ver);
	tomb_free(n, t);
}

/* Is the store's entry for t's key still exactly t's tombstone? */
static bool
still_current(const gv_node *n, const struct tomb *t)
{
	gv_record r;
	return gv_store_lookup(&n->store, t->key, t->klen, &r) == 0 &&
	       r.tombstone && gv_version_cmp(&r.ver, &t->ver) == 0;
}

void
gv__on_tomb_ack(gv_node *n, gv_time now, gv_node_id sender,
		const gv_wire_tomb_ack *a)
{
	for (uint16_t i = 0; i < a->count; i++) {
		uint64_t kh = gv_wire_u64_at(a->items, 3 * i);
		gv_version v = {gv_wire_u64_at(a->items, 3 * i + 1),
				gv_wire_u64_at(a->items, 3 * i + 2)};
		for (struct tomb **l = &n->tombs; *l; l = &(*l)->next) {
			struct tomb *t = *l;
			if (t->key_hash != kh || gv_version_cmp(&t->ver, &v))
				continue;
			add_holder(n, t, sender);
			if (complete(n, t))
				tomb_done(n, l, still_current(n, t));
			break;
		}
	}
}

void
gv__on_purge(gv_node *n, gv_time now, const gv_wire_purge *p)
{
	uint64_t kh = gv__key_hash(p->key, p->klen);
	if (gv__tomb_purged_recently(n, kh, &p->ver))
		return; /* heard it already */
	if (purge_local(n, p->key, p->klen, &p->ver))
		gv__spread_purge(n, p->key, p->klen, &p->ver);
}

struct grace_ctx {
	gv_node *n;
	uint64_t cutoff_ms;
	size_t k;
	struct {
		uint8_t key[GV_MAX_KEY];
		size_t klen;
		gv_version ver;
	} *out;
	size_t cap;
};

static int
old_tombstone(void *ud, const gv_record *r)
{
	struct grace_ctx *c = ud;
	/* an expired entry's tombstone ages from its deadline */
	uint64_t t = gv_hlc_ms(r->ver.hlc);
	if (r->expire > t)
		t = r->expire;
	if (!r->tombstone || t >= c->cutoff_ms)
		return 0;
	if (c->k == c->cap)
		return 1;
	memcpy(c->out[c->k].key, r->key, r->klen);
	c->out[c->k].klen = r->klen;
	c->out[c->k].ver = r->ver;
	c->k++;
	return 0;
}

void
gv__tomb_sweep(gv_node *n, gv_time now)
{
	/* our pending tombstones: done when everyone holds them, or when
	 * overtaken by a newer write of the key */
	for (struct tomb **l = &n->tombs; *l;) {
		if (!still_current(n, *l))
			tomb_done(n, l, false);
		else if (complete(n, *l))
			tomb_done(n, l, true);
		else
			l = &(*l)->next;
	}
	if (!n->store.tombstones)
		return;
	/* grace: a slice of the leaves per sweep */
	uint64_t wall = gv__wall_ms(n, now);
	if (wall < n->cfg.tombstone_grace_ms)
		return;
	struct grace_ctx c = {.n = n,
			      .cutoff_ms = wall - n->cfg.tombstone_grace_ms};
	c.cap = 16;
	c.out = gv__alloc(n->mem, c.cap * sizeof(*c.out));
	if (!c.out)
		return;
	uint32_t leaves = gv_merkle_nleaves(&n->merkle);
	uint32_t per = leaves / SWEEP_SLICES ? leaves / SWEEP_SLICES : 1;
	for (uint32_t i = 0; i < per; i++) {
		uint32_t leaf = (n->sweep_bucket + i) % leaves;
		gv_store_foreach_bucket(&n->store, leaf, n->merkle.leaf_bits,
					old_tombstone, &c);
		if (c.k == c.cap) {
			per = i; /* this leaf again next time */
			break;
		}
	}
	n->sweep_bucket = (n->sweep_bucket + per) % leaves;
	for (size_t i = 0; i < c.k; i++)
		purge_local(n, c.out[i].key, c.out[i].klen, &c.out[i].ver);
	gv__free(n->mem, c.out, c.cap * sizeof(*c.out));
}
