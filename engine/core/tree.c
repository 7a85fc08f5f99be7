/* SPDX-License-Identifier: MIT */
/*
 * tree.c - the broadcast tree of tree mode (--mode tree): an epidemic
 * broadcast tree with Plumtree's lazy push and grafts (Leitao, Pereira and
 * Rodrigues, "Epidemic Broadcast Trees", SRDS 2007), over the SWIM
 * membership.
 *
 * Each node's neighbours are its successor and its predecessor in the
 * first `fanout` successor cycles of dissem.c (a random regular graph of
 * degree up to 2 * fanout). The tree's links among them are not found by
 * pruning duplicates, as Plumtree does, but computed from the membership:
 * every node takes the same breadth-first spanning tree of that graph,
 * rooted at the member first in cycle 0 (gv__cycle_tree), so nodes with
 * the same view agree on it and no message is needed to build it. (Trees
 * built by pruning were measured here to over-prune under writes from
 * many origins at once: concurrent prunes cut two links of one cycle, the
 * grafts that mend it make new cycles, and the tree never settled.)
 *
 * A write a node applies first (its own, or one that came on a tree link)
 * is pushed at once to its tree neighbours but the sender, in the flooding
 * passes of dissem.c (batched per neighbour, since they are the same for
 * every write): each node receives each write once. Its id (key hash,
 * HLC) is announced, tree_lazy_us later and in batches, to the other
 * neighbours (IHAVE). A node told of a write it does not hold waits
 * tree_graft_us for the tree to bring it, then asks the announcer (GRAFT,
 * at most GRAFT_RATE a second), which sends it (GV_UPD_GRAFT) and the
 * node passes it on down the tree: writes get through loss, a crashed
 * member until it is declared dead (then the tree is recomputed without
 * it), and views that differ while a membership change spreads. A write
 * repaired by anti-entropy is announced to every neighbour instead of
 * pushed, and when the tree's copy comes after it, that copy goes on.
 *
 * Writes of high or critical priority go on every link (the lazy ones
 * too): they do not wait for a repair. Small clusters (at most
 * GV_DIRECT_MAX peers) bypass the tree: the origin sends to every member
 * itself (dissem.c).
 *
 * An IHAVE item is (key hash, HLC): a node holds the write when its entry
 * of that key is at least that new (a write of another origin at the same
 * HLC counts as held: anti-entropy settles that case).
 */
#include "node_int.h"

#define PSLOTS (2 * GV_TREE_PENDING)
#define GRAFT_TRIES 5
/* a node asks for at most GRAFT_RATE missing writes a second (bursts of
 * GRAFT_BURST): past that it is overloaded or cut off, and asking would
 * add to the load that lost them; anti-entropy brings the rest */
#define GRAFT_RATE 4000.0
#define GRAFT_BURST 2000.0
#define GRAFT_BATCH 512

/* How the first copy of a write came (have cache, low 2 bits). */
#define HAVE_REPAIR 0 /* anti-entropy: the tree's copy is passed on */
#define HAVE_TREE 1   /* a tree link */
#define HAVE_GRAFT 2  /* a GRAFT's answer: other copies change nothing */
#define HAVE_MASK 3ull

/* A write's id in the caches (the low 2 bits: the have cache's state). */
static uint64_t
item_id(uint64_t kh, uint64_t hlc)
{
	uint64_t x = kh ^ (hlc * 0x9e3779b97f4a7c15ull);
	x ^= x >> 29;
	x &= ~HAVE_MASK;
	return x ? x : 4;
}

static struct thave *
have_slot(gv_node *n, uint64_t id)
{
	struct tree *t = &n->tree;
	size_t cap = n->cfg.seen_cache;
	if (!cap)
		return NULL;
	if (!t->have) {
		t->have = gv__zalloc(n->mem, cap * sizeof(*t->have));
		if (!t->have)
			return NULL;
	}
	return &t->have[(id >> 2) & (cap - 1)];
}

/* ------------------------------------------------------- neighbours */

void
gv__tree_refresh(gv_node *n)
{
	struct tree *t = &n->tree;
	if (t->valid && t->epoch == n->members_epoch)
		return;
	unsigned d = n->cfg.fanout < GV_FLOOD_CYCLES ? n->cfg.fanout
						     : GV_FLOOD_CYCLES;
	uint32_t idx[2 * GV_FLOOD_CYCLES];
	gv_node_id ids[2 * GV_FLOOD_CYCLES];
	unsigned k = gv__cycle_neighbours(n, d, idx, ids);
	gv_node_id tree[2 * GV_FLOOD_CYCLES];
	int nt = gv__cycle_tree(n, d, tree, 2 * GV_FLOOD_CYCLES);
	for (unsigned i = 0; i < k; i++) {
		struct tnbr *b = &t->nb[i];
		/* in the tree (no memory for it: every link, as flooding) */
		bool in = nt < 0;
		for (int j = 0; j < nt && !in; j++)
			in = tree[j] == ids[i];
		*b = (struct tnbr){.id = ids[i], .idx = idx[i], .eager = in};
	}
	t->nn = k;
	t->valid = true;
	t->epoch = n->members_epoch;
}

const gv_addr *
gv__tree_addr(const gv_node *n, const struct tnbr *b)
{
	if (n->statics)
		return &n->statics->addr[b->idx];
	if (b->idx < n->nmembers && n->members[b->idx].id == b->id) {
		const struct member *m = &n->members[b->idx];
		return m->state == GV_MEMBER_ALIVE ||
				       m->state == GV_MEMBER_SUSPECT
			       ? &m->addr
			       : NULL;
	}
	const struct member *m = gv__member_find(n, b->id);
	return m && (m->state == GV_MEMBER_ALIVE ||
		     m->state == GV_MEMBER_SUSPECT)
		       ? &m->addr
		       : NULL;
}

/* -------------------------------------------------- eager and lazy */

void
gv__tree_new(gv_node *n, gv_node_id sender, uint8_t uflags, uint8_t priority,
	     uint64_t kh, uint64_t hlc)
{
	if (!sender || (uflags & (GV_UPD_AE | GV_UPD_DIRECT)) ||
	    priority > GV_PRIO_NORMAL)
		return;
	uint64_t id = item_id(kh, hlc);
	struct thave *h = have_slot(n, id);
	bool graft = (uflags & GV_UPD_GRAFT) != 0;
	if (h)
		*h = (struct thave){id | (graft ? HAVE_GRAFT : HAVE_TREE),
				    sender};
	if (graft)
		return;
	n->st.tree_received++;
	n->st.tree_hops += n->tree.cur_hops + 1u;
}

void
gv__tree_repaired(gv_node *n, uint64_t kh, uint64_t hlc)
{
	uint64_t id = item_id(kh, hlc);
	struct thave *h = have_slot(n, id);
	if (h)
		*h = (struct thave){id | HAVE_REPAIR, 0};
}

/*
 * A copy of a write we hold came from `sender`. If a repair (anti-
 * entropy, under load sometimes faster than the tree) brought the first
 * one, this is the tree's copy, which the nodes behind us still wait
 * for: returns true, and the caller passes it on (once). Otherwise (or
 * if the cache has forgotten the write) it is dropped.
 */
bool
gv__tree_dup(gv_node *n, gv_node_id sender, uint8_t uflags, uint8_t priority,
	     uint64_t kh, uint64_t hlc)
{
	if (!gv__tree_on(n) || !sender ||
	    (uflags & (GV_UPD_AE | GV_UPD_DIRECT | GV_UPD_GRAFT)) ||
	    priority > GV_PRIO_NORMAL)
		return false;
	uint64_t id = item_id(kh, hlc);
	struct thave *h = have_slot(n, id);
	if (!h || (h->idf & ~HAVE_MASK) != id)
		return false;
	switch (h->idf & HAVE_MASK) {
	case HAVE_REPAIR:
		*h = (struct thave){id | HAVE_TREE, sender};
		return true;
	case HAVE_GRAFT:
		/* the tree's copy after the GRAFT's answer (which went on):
		 * the tree is whole here, the GRAFT was early */
		*h = (struct thave){id | HAVE_TREE, sender};
		return false;
	}
	/* a second copy on the tree: the views of the membership differ
	 * (a change is spreading); once they agree, the trees do */
	n->st.tree_dups++;
	return false;
}

void
gv__tree_announce(gv_node *n, uint64_t kh, uint64_t hlc, gv_node_id from,
		  bool all)
{
	struct tree *t = &n->tree;
	if (t->nann >= t->ann_cap) {
		size_t cap = t->ann_cap ? 2 * t->ann_cap : 256;
		if (cap > GV_TREE_ANN_MAX)
			cap = GV_TREE_ANN_MAX;
		struct tann *a = cap > t->ann_cap
					 ? gv__alloc(n->mem, cap * sizeof(*a))
					 : NULL;
		if (!a) {
			n->st.tree_ann_drops++; /* anti-entropy covers it */
			return;
		}
		if (t->nann)
			memcpy(a, t->ann, t->nann * sizeof(*a));
		gv__free(n->mem, t->ann, t->ann_cap * sizeof(*a));
		t->ann = a;
		t->ann_cap = cap;
	}
	t->ann[t->nann++] = (struct tann){kh, hlc, from, n->now, all};
}

/* Whether the store holds the write (kh, hlc), or a newer one of its
 * key. */
static bool
tree_holds(const gv_node *n, uint64_t kh, uint64_t hlc)
{
	gv_record r;
	return gv_store_lookup_hash(&n->store, kh, &r) == 0 &&
	       r.ver.hlc >= hlc;
}

/* ------------------------------------------------------ the output */

/* Write the IHAVE items ann[0 .. cnt - 1] for neighbour b. */
static void
announce_to(gv_node *n, struct tnbr *b, const gv_addr *a, size_t cnt)
{
	struct tree *t = &n->tree;
	struct bulk bk;
	gv__bulk_init(&bk, n, a, false);
	size_t room = n->cfg.max_datagram - GV_WIRE_HEADER_LEN;
	size_t per = (room - gv_wire_tree_size(0)) / GV_TREE_ITEM;
	if (per > UINT16_MAX)
		per = UINT16_MAX;
	uint64_t items[2 * 256];
	if (per > 256)
		per = 256;
	size_t k = 0;
	for (size_t i = 0; i <= cnt && !bk.err; i++) {
		if (i < cnt) {
			const struct tann *e = &t->ann[i];
			if (e->from == b->id || (b->eager && !e->all))
				continue;
			items[2 * k] = e->kh;
			items[2 * k + 1] = e->hlc;
			k++;
		}
		if (k && (k == per || i == cnt)) {
			gv_wire_writer *w = gv__bulk_room(
				&bk, gv_wire_tree_size((uint16_t)k));
			if (w && gv_wire_put_tree(w, GV_TREE_IHAVE, items,
						  (uint16_t)k) == 0)
				n->st.tree_ihave_out += k;
			k = 0;
		}
	}
	gv__bulk_finish(&bk);
}

/*
 * Announce the writes queued at least tree_lazy_us ago (the others wait
 * for the next flush: an announcement must not outrun the tree, or the
 * nodes deep in it would ask for what is on its way).
 */
static void
lazy_flush(gv_node *n, gv_time now)
{
	struct tree *t = &n->tree;
	size_t cnt = 0;
	while (cnt < t->nann && t->ann[cnt].at + n->cfg.tree_lazy_us <= now)
		cnt++;
	gv__tree_refresh(n);
	for (unsigned i = 0; i < t->nn; i++) {
		struct tnbr *b = &t->nb[i];
		const gv_addr *a = gv__tree_addr(n, b);
		if (a && cnt)
			announce_to(n, b, a, cnt);
	}
	memmove(t->ann, t->ann + cnt, (t->nann - cnt) * sizeof(*t->ann));
	t->nann -= cnt;
}

/* ------------------------------------------------------- grafting */

static bool
pend_alloc(gv_node *n)
{
	struct tree *t = &n->tree;
	if (t->pend)
		return true;
	t->pend = gv__alloc(n->mem, GV_TREE_PENDING * sizeof(*t->pend));
	t->pslot = gv__zalloc(n->mem, PSLOTS * sizeof(*t->pslot));
	if (t->pend && t->pslot)
		return true;
	gv__free(n->mem, t->pend, GV_TREE_PENDING * sizeof(*t->pend));
	gv__free(n->mem, t->pslot, PSLOTS * sizeof(*t->pslot));
	t->pend = NULL;
	t->pslot = NULL;
	return false;
}

/* Wait for (kh, hlc) announced by `from` at `addr`. */
static void
pend_push(gv_node *n, uint64_t kh, uint64_t hlc, gv_node_id from,
	  const gv_addr *addr, uint8_t tries)
{
	struct tree *t = &n->tree;
	if (!pend_alloc(n))
		return;
	uint32_t *ps = &t->pslot[(item_id(kh, hlc) >> 2) & (PSLOTS - 1)];
	if (*ps) {
		struct tpend *p = &t->pend[*ps - 1];
		if (p->kh == kh && p->hlc == hlc) {
			if (p->from != from && !p->has_alt) {
				p->alt = *addr;
				p->alt_from = from;
				p->has_alt = true;
			}
			return; /* already awaited */
		}
	}
	if (t->pcount == GV_TREE_PENDING) {
		n->st.tree_ann_drops++; /* anti-entropy covers it */
		return;
	}
	size_t i = (t->phead + t->pcount++) % GV_TREE_PENDING;
	t->pend[i] = (struct tpend){
		.kh = kh,
		.hlc = hlc,
		.due = n->now + n->cfg.tree_graft_us,
		.addr = *addr,
		.from = from,
		.tries = tries,
	};
	*ps = (uint32_t)i + 1;
}

struct graft {
	gv_addr addr;
	gv_node_id from;
	uint64_t kh, hlc;
};

static int
graft_cmp(const void *a, const void *b)
{
	const struct graft *x = a, *y = b;
	return x->from < y->from ? -1 : x->from > y->from;
}

static void
send_grafts(gv_node *n, struct graft *g, size_t k)
{
	qsort(g, k, sizeof(*g), graft_cmp);
	uint64_t items[2 * 64];
	for (size_t i = 0; i < k;) {
		struct bulk bk;
		gv__bulk_init(&bk, n, &g[i].addr, false);
		size_t j = i;
		while (j < k && g[j].from == g[i].from && !bk.err) {
			size_t c = 0;
			for (; j < k && g[j].from == g[i].from && c < 64; j++) {
				items[2 * c] = g[j].kh;
				items[2 * c + 1] = g[j].hlc;
				c++;
			}
			gv_wire_writer *w =
				gv__bulk_room(&bk, gv_wire_tree_size((uint16_t)c));
			if (w && gv_wire_put_tree(w, GV_TREE_GRAFT, items,
						  (uint16_t)c) == 0)
				n->st.tree_grafts_out += c;
		}
		gv__bulk_finish(&bk);
		while (j < k && g[j].from == g[i].from)
			j++;
		i = j;
	}
}

/* Announced writes whose wait is over: still missing, they are asked
 * for (and awaited again, from another announcer if there was one). */
static void
pend_due(gv_node *n, gv_time now)
{
	struct tree *t = &n->tree;
	struct graft g[GRAFT_BATCH];
	size_t k = 0;
	while (t->pcount && t->pend[t->phead].due <= now && k < GRAFT_BATCH) {
		struct tpend p = t->pend[t->phead];
		uint32_t *ps = &t->pslot[(item_id(p.kh, p.hlc) >> 2) & (PSLOTS - 1)];
		if (*ps == t->phead + 1)
			*ps = 0;
		t->phead = (t->phead + 1) % GV_TREE_PENDING;
		t->pcount--;
		if (tree_holds(n, p.kh, p.hlc))
			continue;
		t->graft_tokens += (double)(now - t->graft_at) * GRAFT_RATE / 1e6;
		t->graft_at = now;
		if (t->graft_tokens > GRAFT_BURST)
			t->graft_tokens = GRAFT_BURST;
		if (t->graft_tokens < 1.0) {
			n->st.tree_graft_drops++;
			continue;
		}
		t->graft_tokens -= 1.0;
		g[k++] = (struct graft){p.addr, p.from, p.kh, p.hlc};
		if (p.tries + 1 < GRAFT_TRIES)
			pend_push(n, p.kh, p.hlc, p.has_alt ? p.alt_from : p.from,
				  p.has_alt ? &p.alt : &p.addr,
				  (uint8_t)(p.tries + 1));
	}
	if (k)
		send_grafts(n, g, k);
}

/* ------------------------------------------------------- the input */

static void
on_graft(gv_node *n, const gv_addr *from, const gv_wire_tree *tr)
{
	struct bulk bk;
	gv__bulk_init(&bk, n, from, false);
	for (size_t i = 0; i < tr->count && !bk.err; i++) {
		uint64_t kh, hlc;
		gv_wire_tree_item(tr, i, &kh, &hlc);
		gv_record rec;
		if (gv_store_lookup_hash(&n->store, kh, &rec))
			continue; /* gone (purged): nothing to send */
		gv_wire_writer *w =
			gv__bulk_room(&bk, gv__record_wire_size(n, &rec));
		if (w && gv__put_record(n, w, &rec, GV_PRIO_NORMAL,
					GV_UPD_GRAFT) == 0)
			n->st.updates_out++;
	}
	gv__bulk_finish(&bk);
}

void
gv__on_tree(gv_node *n, gv_time now, const gv_addr *from, gv_node_id sender,
	    const gv_wire_tree *tr)
{
	if (!gv__tree_on(n))
		return; /* another mode: no tree here */
	switch (tr->kind) {
	case GV_TREE_IHAVE:
		n->st.tree_ihave_in += tr->count;
		for (size_t i = 0; i < tr->count; i++) {
			uint64_t kh, hlc;
			gv_wire_tree_item(tr, i, &kh, &hlc);
			uint64_t id = item_id(kh, hlc);
			struct thave *h = have_slot(n, id);
			if (h && (h->idf & ~HAVE_MASK) == id)
				continue; /* received */
			if (!tree_holds(n, kh, hlc))
				pend_push(n, kh, hlc, sender, from, 0);
		}
		break;
	case GV_TREE_GRAFT:
		n->st.tree_grafts_in += tr->count;
		on_graft(n, from, tr);
		break;
	}
}

/* ------------------------------------------------------- timers */

gv_time
gv__tree_next(const gv_node *n)
{
	const struct tree *t = &n->tree;
	gv_time next = GV_TIME_NEVER;
	if (t->pcount)
		next = t->pend[t->phead].due;
	if (t->nann && t->ann[0].at + n->cfg.tree_lazy_us < next)
		next = t->ann[0].at + n->cfg.tree_lazy_us;
	return next;
}

void
gv__tree_tick(gv_node *n, gv_time now)
{
	struct tree *t = &n->tree;
	if (!gv__tree_on(n))
		return;
	if (t->pcount)
		pend_due(n, now);
	if (t->nann && now >= t->ann[0].at + n->cfg.tree_lazy_us)
		lazy_flush(n, now);
}

void
gv__tree_fini(gv_node *n)
{
	struct tree *t = &n->tree;
	gv__free(n->mem, t->ann, t->ann_cap * sizeof(*t->ann));
	gv__free(n->mem, t->pend, t->pend ? GV_TREE_PENDING * sizeof(*t->pend)
					  : 0);
	gv__free(n->mem, t->pslot, t->pslot ? PSLOTS * sizeof(*t->pslot) : 0);
	gv__free(n->mem, t->have,
		 t->have ? n->cfg.seen_cache * sizeof(*t->have) : 0);
	memset(t, 0, sizeof(*t));
}
