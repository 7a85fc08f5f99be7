/* SPDX-License-Identifier: MIT */
/*
 * watch.c - the operator's convergence watch: ask every live member which
 * version of a key it holds (a PULL_DIGEST query, answered by a PULL_DIGEST
 * answer) and count how many hold the newest. It costs one small datagram
 * per member and round, so it is for an operator watching one key, not for
 * the data path. WAIT (gv_node_holders) asks the same question of the
 * members not yet heard to hold a write, and counts those that answer
 * with it or newer.
 */
#include "node_int.h"

struct find_ctx {
	uint64_t kh;
	gv_version ver;
};

static int
find_hash(void *ud, const gv_record *r)
{
	struct find_ctx *c = ud;
	if (r->hash != c->kh)
		return 0;
	c->ver = r->ver;
	return 1;
}

/* This node's version of the key with hash kh (0,0 if none). */
static gv_version
version_of(gv_node *n, uint64_t kh)
{
	struct find_ctx c = {kh, {0, 0}};
	gv_store_foreach_bucket(&n->store, gv_merkle_leaf_of(&n->merkle, kh),
				n->merkle.leaf_bits, find_hash, &c);
	return c.ver;
}

static void
tally(gv_node *n, gv_node_watch_result *out)
{
	struct watch *w = &n->watch;
	gv_node_watch_result r = {.total = w->total};
	for (unsigned i = 0; i < w->nanswers; i++)
		if (gv_version_cmp(&w->answers[i], &r.latest) > 0)
			r.latest = w->answers[i];
	for (unsigned i = 0; i < w->nanswers; i++)
		if (gv_version_cmp(&w->answers[i], &r.latest) == 0)
			r.with_latest++;
	r.answered = w->nanswers;
	if (r.answered > r.total)
		r.total = r.answered;
	*out = r;
}

int
gv_node_watch(gv_node *n, gv_time now, const void *key, size_t klen,
	      gv_node_watch_result *out)
{
	if (!n || (klen && !key) || klen > GV_MAX_KEY || !out)
		return GV_EINVAL;
	n->now = now;
	struct watch *w = &n->watch;
	uint64_t kh = gv__key_hash(key, klen);
	gv_version mine = version_of(n, kh);
	if (w->active && w->key_hash == kh) {
		/* answers of the previous round, and ours as of now */
		w->answers[0] = mine;
		tally(n, out);
	} else {
		*out = (gv_node_watch_result){
			.latest = mine,
			.with_latest = 1,
			.answered = 1,
			.total = (unsigned)gv__cluster_size(n),
		};
	}
	/* start the next round */
	size_t total = gv__cluster_size(n);
	if (total > w->cap) {
		gv_version *a = gv__alloc(n->mem, total * sizeof(gv_version));
		if (!a)
			return 0; /* this round's answer stands; no new round */
		gv__free(n->mem, w->answers, w->cap * sizeof(gv_version));
		w->answers = a;
		w->cap = total;
	}
	w->active = true;
	w->key_hash = kh;
	w->id = gv__rand32(n) | 1;
	w->total = (unsigned)total;
	w->nanswers = 1;
	w->answers[0] = mine;
	uint64_t item[3] = {kh, 0, 0};
	for (size_t i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_ALIVE && m->state != GV_MEMBER_SUSPECT)
			continue;
		struct bulk b;
		gv__bulk_init(&b, n, &m->addr, false);
		gv_wire_writer *wr = gv__bulk_room(&b, gv_wire_pull_digest_size(1));
		if (wr)
			gv_wire_put_pull_digest(wr, w->id, GV_PULL_QUERY, item,
						1);
		gv__bulk_finish(&b);
	}
	return 0;
}

#define HOLD_ASK_US 2000 /* a member not heard yet is asked again */

static struct holders *
hold_slot(gv_node *n, uint64_t kh, const gv_version *ver, gv_time now)
{
	struct holders *lru = &n->hold[0];
	for (int i = 0; i < GV_HOLD_SLOTS; i++) {
		struct holders *h = &n->hold[i];
		if (h->active && h->key_hash == kh &&
		    gv_version_cmp(&h->ver, ver) == 0)
			return h;
		if (!h->active || h->used < lru->used)
			lru = h;
	}
	lru->active = true;
	lru->key_hash = kh;
	lru->ver = *ver;
	lru->id = gv__rand32(n) | 1;
	lru->n = 0;
	lru->asked = 0;
	lru->used = now;
	return lru;
}

static bool
held_by(const struct holders *h, const gv_addr *a)
{
	for (unsigned i = 0; i < h->n; i++)
		if (gv_addr_eq(&h->held[i], a))
			return true;
	return false;
}

int
gv_node_holders(gv_node *n, gv_time now, const void *key, size_t klen,
		const gv_version *ver, unsigned *holders, unsigned *alive)
{
	if (!n || (klen && !key) || klen > GV_MAX_KEY || !ver || !holders ||
	    !alive)
		return GV_EINVAL;
	n->now = now;
	uint64_t kh = gv__key_hash(key, klen);
	struct holders *h = hold_slot(n, kh, ver, now);
	h->used = now;
	unsigned live = 0, counted = 0;
	bool ask = !h->asked || now - h->asked >= HOLD_ASK_US;
	uint64_t item[3] = {kh, 0, 0};
	for (size_t i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_ALIVE && m->state != GV_MEMBER_SUSPECT)
			continue;
		live++;
		if (held_by(h, &m->addr)) {
			counted++;
			continue;
		}
		if (!ask)
			continue;
		struct bulk b;
		gv__bulk_init(&b, n, &m->addr, false);
		gv_wire_writer *wr = gv__bulk_room(&b, gv_wire_pull_digest_size(1));
		if (wr)
			gv_wire_put_pull_digest(wr, h->id, GV_PULL_QUERY, item,
						1);
		gv__bulk_finish(&b);
	}
	if (ask)
		h->asked = now;
	*holders = counted;
	*alive = live;
	return 0;
}

/* A WAIT question's answer: is from one more holder? */
static bool
hold_answer(gv_node *n, const gv_addr *from, const gv_wire_pull_digest *d)
{
	for (int i = 0; i < GV_HOLD_SLOTS; i++) {
		struct holders *h = &n->hold[i];
		if (!h->active || d->session != h->id)
			continue;
		gv_version v = {gv_wire_u64_at(d->items, 1),
				gv_wire_u64_at(d->items, 2)};
		if (gv_wire_u64_at(d->items, 0) != h->key_hash ||
		    gv_version_cmp(&v, &h->ver) < 0 || held_by(h, from))
			return true;
		if (h->n == h->cap) {
			unsigned cap = h->cap ? 2 * h->cap : 8;
			gv_addr *a = gv__alloc(n->mem, cap * sizeof(*a));
			if (!a)
				return true;
			if (h->n)
				memcpy(a, h->held, h->n * sizeof(*a));
			gv__free(n->mem, h->held, h->cap * sizeof(*a));
			h->held = a;
			h->cap = cap;
		}
		h->held[h->n++] = *from;
		return true;
	}
	return false;
}

void
gv__on_watch(gv_node *n, gv_time now, const gv_addr *from,
	     const gv_wire_pull_digest *d)
{
	if (d->bucket == GV_PULL_QUERY) {
		/* answer with our version of each key asked about */
		struct bulk b;
		gv__bulk_init(&b, n, from, false);
		size_t k = d->count < 16 ? d->count : 16;
		uint64_t items[16 * 3];
		for (size_t i = 0; i < k; i++) {
			uint64_t kh = gv_wire_u64_at(d->items, 3 * i);
			gv_version v = version_of(n, kh);
			items[3 * i] = kh;
			items[3 * i + 1] = v.hlc;
			items[3 * i + 2] = v.origin;
		}
		gv_wire_writer *w =
			gv__bulk_room(&b, gv_wire_pull_digest_size((uint16_t)k));
		if (w)
			gv_wire_put_pull_digest(w, d->session, GV_PULL_ANSWER,
						items, (uint16_t)k);
		gv__bulk_finish(&b);
		return;
	}
	if (d->count >= 1 && hold_answer(n, from, d))
		return;
	struct watch *w = &n->watch;
	if (!w->active || d->session != w->id || d->count < 1 ||
	    gv_wire_u64_at(d->items, 0) != w->key_hash ||
	    w->nanswers >= w->cap)
		return;
	w->answers[w->nanswers++] = (gv_version){gv_wire_u64_at(d->items, 1),
						 gv_wire_u64_at(d->items, 2)};
}

void
gv__watch_fini(gv_node *n)
{
	gv__free(n->mem, n->watch.answers, n->watch.cap * sizeof(gv_version));
	n->watch.answers = NULL;
	for (int i = 0; i < GV_HOLD_SLOTS; i++) {
		gv__free(n->mem, n->hold[i].held,
			 n->hold[i].cap * sizeof(gv_addr));
		n->hold[i].held = NULL;
	}
}
