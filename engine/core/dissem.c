/* SPDX-License-Identifier: MIT */
/*
 * dissem.c - dissemination: rumors with a transmit budget.
 *
 * A write that is new here (local, or remote and applied) becomes a rumor.
 * In eager mode it is pushed at once to `fanout` random peers (scaled by
 * its priority); in every mode but pull, periodic rounds put pending
 * rumors, fewest-sent first, into datagrams to `fanout` random peers, until
 * each rumor has been sent retransmit_mult * ceil(log10(N + 1)) times
 * (memberlist's rule). Membership rumors ride in every datagram that has
 * room, ahead of data. Pull and push-pull rounds also send a digest of the
 * updates seen in the last pull_window_rounds rounds; the peer answers
 * with the recent updates the digest lacks.
 *
 * Rumors hold the key, not the value: the value is read from the store
 * when the rumor is encoded, so a rumor overtaken by a newer write of the
 * same key is noticed and retired instead of spreading an old value.
 */
#include "node_int.h"

#define RECENT_MAX 4096
#define DIGEST_MAX 256
#define PULL_REPLY_DATAGRAMS 4

/* ---------------------------------------------------------- queues */

void
gv__bq_push(struct bqueue *q, struct rumor *r)
{
	unsigned b = r->transmits < GV_BQ_BUCKETS ? r->transmits
						  : GV_BQ_BUCKETS - 1;
	r->qnext = NULL;
	r->qprev = q->tail[b];
	if (q->tail[b])
		q->tail[b]->qnext = r;
	else
		q->head[b] = r;
	q->tail[b] = r;
	r->in_queue = true;
	q->count++;
}

void
gv__bq_remove(struct bqueue *q, struct rumor *r)
{
	unsigned b = r->transmits < GV_BQ_BUCKETS ? r->transmits
						  : GV_BQ_BUCKETS - 1;
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->head[b] = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->tail[b] = r->qprev;
	r->qprev = r->qnext = NULL;
	r->in_queue = false;
	q->count--;
}

struct rumor *
gv__rumor_new(gv_node *n, uint8_t kind, const void *key, size_t klen,
	      const gv_version *ver)
{
	struct rumor *r = gv__zalloc(n->mem, sizeof(*r) + klen);
	if (!r)
		return NULL;
	r->kind = kind;
	r->klen = (uint16_t)klen;
	if (klen)
		memcpy(r->key, key, klen);
	if (ver)
		r->ver = *ver;
	r->key_hash = gv__key_hash(key, klen);
	r->limit = gv__rumor_limit(n);
	r->created = n->now;
	r->priority = GV_PRIO_NORMAL;
	return r;
}

static void
rumor_free(gv_node *n, struct rumor *r)
{
	gv__free(n->mem, r, sizeof(*r) + r->klen);
}

void
gv__rumor_release(gv_node *n, struct rumor *r)
{
	if (!r->in_queue && !r->in_recent && r->refs == 0)
		rumor_free(n, r);
}

/* ceil(log10(x)) for x >= 1, in integers. */
static uint32_t
ceil_log10(uint64_t x)
{
	uint32_t k = 0;
	for (uint64_t p = 1; p < x; p *= 10)
		k++;
	return k;
}

uint32_t
gv__rumor_limit(const gv_node *n)
{
	uint64_t N = gv__cluster_size(n);
	uint32_t lim = n->cfg.retransmit_mult * ceil_log10(N + 1);
	if (lim < 1)
		lim = 1;
	if (lim > GV_BQ_BUCKETS - 1)
		lim = GV_BQ_BUCKETS - 1;
	return lim;
}

/* Priority scales the fanout by 0.5 / 1 / 1.5 / 2, rounding up. */
static size_t
scaled_fanout(const gv_node *n, int priority)
{
	size_t f = ((size_t)n->cfg.fanout * (size_t)(priority + 1) + 1) / 2;
	return f ? f : 1;
}

/* Drop the oldest entry of the recent list. */
static void
recent_drop_oldest(gv_node *n)
{
	struct rumor *r = n->recent_head;
	n->recent_head = r->rnext;
	if (n->recent_head)
		n->recent_head->rprev = NULL;
	else
		n->recent_tail = NULL;
	r->in_recent = false;
	n->nrecent--;
	gv__rumor_release(n, r);
}

static void
recent_add(gv_node *n, struct rumor *r)
{
	if (n->nrecent >= RECENT_MAX)
		recent_drop_oldest(n);
	r->rnext = NULL;
	r->rprev = n->recent_tail;
	if (n->recent_tail)
		n->recent_tail->rnext = r;
	else
		n->recent_head = r;
	n->recent_tail = r;
	r->in_recent = true;
	n->nrecent++;
}

void
gv__recent_expire(gv_node *n, gv_time now)
{
	gv_time window = (gv_time)n->cfg.pull_window_rounds *
			 n->cfg.interval_ms * MS;
	while (n->recent_head && now - n->recent_head->created > window)
		recent_drop_oldest(n);
}

/* Retire a rumor from its broadcast queue (budget spent). */
static void
retire(gv_node *n, struct bqueue *q, struct rumor *r)
{
	gv__bq_remove(q, r);
	if (r->kind == RUMOR_MEMBER) {
		if (r->member == n->self) {
			n->self_rumor = NULL;
		} else {
			struct member *m = gv__member_find(n, r->member);
			if (m && m->rumor == r)
				m->rumor = NULL;
		}
	}
	gv__rumor_release(n, r);
}

/* Count one transmission: move up a bucket, or retire. */
static void
transmitted(gv_node *n, struct bqueue *q, struct rumor *r)
{
	if (!r->in_queue) {
		r->transmits++;
		return;
	}
	gv__bq_remove(q, r);
	r->transmits++;
	if (r->transmits >= r->limit) {
		r->in_queue = true; /* retire() removes from the queue */
		q->count++;
		unsigned b = r->transmits < GV_BQ_BUCKETS ? r->transmits
							  : GV_BQ_BUCKETS - 1;
		/* put it back where retire() will look for it */
		r->qprev = q->tail[b];
		r->qnext = NULL;
		if (q->tail[b])
			q->tail[b]->qnext = r;
		else
			q->head[b] = r;
		q->tail[b] = r;
		retire(n, q, r);
		return;
	}
	gv__bq_push(q, r);
}

/* ---------------------------------------------------------- flooding */

/*
 * Eager mode floods new writes over d successor cycles. Cycle j orders the
 * members by a hash of (id, j); every node forwards a write it has just
 * applied to its successor in cycles 0 .. d-1 (d = fanout scaled by
 * priority; the origin uses 2d, which saves about a hop). The union of d
 * random cycles is an expander: every node has d independent
 * predecessors, a write reaches all N nodes in about log_d(N) + 2 hops,
 * and each node receives it about d times (rmr ~ d - 1), where random
 * push needs ~ln(N) + ln(1/p) copies per node (12 and more) for every node
 * to get it with probability 1 - p. Because the destinations are the same
 * few successors for every write, everything a node must forward at one
 * send() (all that arrived in the batch the io loop handed it) shares one
 * datagram per successor: the datagram count per update falls as load
 * rises. With regions, the cycles visit each region's members together,
 * so only d edges per cycle cross a region border.
 *
 * Small clusters (at most GV_DIRECT_MAX peers) skip the relays: the origin
 * sends to every live member itself and flags the record GV_UPD_DIRECT,
 * and receivers do not forward it (one copy per node, one hop).
 *
 * A write is encoded once, when it is applied (its entry is in cache), into
 * the pending buffer; a pass (at most one per flood_gap_us) swaps the
 * buffers and sends every record to each destination in turn (several
 * datagrams each if needed: padded to full size, so the io layer sends
 * them as one UDP GSO send); writes applied during a pass wait for the
 * next. Writes lost on the way (a crashed successor before it is
 * suspected, kernel drops) are repaired by anti-entropy.
 */

static uint64_t
cycle_mix(uint64_t id, unsigned j)
{
	uint64_t x = id ^ (0x9e3779b97f4a7c15ull * (j + 1));
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Position of a node in cycle j: region first, when there are several. */
static uint64_t
cycle_key(gv_node_id id, uint16_t tag, unsigned j, bool regions)
{
	uint64_t h = cycle_mix(id, j);
	return regions ? ((uint64_t)tag << 48) | (h >> 16) : h;
}

static uint16_t
region_tag_name(const char *name)
{
	return (uint16_t)(XXH3_64bits(name, strlen(name)) >> 48);
}

/* The cycle positions of the members: what the successor and the
 * predecessor searches of every cycle need. */
struct cycles {
	bool regions;
	uint16_t tags[GV_MAX_REGIONS];
	uint16_t own;
	size_t total;
};

static void
cycles_init(const gv_node *n, struct cycles *c)
{
	c->regions = n->multi_region;
	memset(c->tags, 0, sizeof(c->tags));
	c->own = 0;
	if (c->regions && !n->statics) {
		for (unsigned i = 0; i < n->nregions; i++)
			c->tags[i] = region_tag_name(n->regions[i]);
		c->own = c->tags[0];
	} else if (c->regions) {
		c->own = (uint16_t)(cycle_mix(n->static_own_region, 99) >> 48);
	}
	c->total = n->statics ? n->statics->n : n->nmembers;
}

/* Member i's key in cycle j; false if it takes no part (self, not
 * live). */
static bool
cycles_key(const gv_node *n, const struct cycles *c, size_t i, unsigned j,
	   uint64_t *key)
{
	gv_node_id id;
	uint16_t tag = 0;
	if (n->statics) {
		if (i == n->static_self)
			return false;
		id = n->statics->id[i];
		if (c->regions && n->statics->region)
			tag = (uint16_t)(cycle_mix(n->statics->region[i], 99) >>
					 48);
	} else {
		const struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_ALIVE && m->state != GV_MEMBER_SUSPECT)
			return false;
		id = m->id;
		if (c->regions)
			tag = c->tags[m->region];
	}
	*key = cycle_key(id, tag, j, c->regions);
	return true;
}

/* This node's successor (*succ) and predecessor (*pred) in cycle j, as
 * member (or static peer) indices; false when it is alone. */
static bool
cycle_neighbours(const gv_node *n, const struct cycles *c, unsigned j,
		 size_t *succ, size_t *pred)
{
	uint64_t self = cycle_key(n->self, c->own, j, c->regions);
	bool above = false, below = false, any = false;
	uint64_t best_above = 0, best_below = 0, kmin = 0, kmax = 0;
	size_t ia = 0, ib = 0, imin = 0, imax = 0;
	for (size_t i = 0; i < c->total; i++) {
		uint64_t key;
		if (!cycles_key(n, c, i, j, &key))
			continue;
		if (key > self && (!above || key < best_above)) {
			above = true;
			best_above = key;
			ia = i;
		}
		if (key < self && (!below || key > best_below)) {
			below = true;
			best_below = key;
			ib = i;
		}
		if (!any || key < kmin) {
			kmin = key;
			imin = i;
		}
		if (!any || key > kmax) {
			kmax = key;
			imax = i;
		}
		any = true;
	}
	if (!any)
		return false;
	*succ = above ? ia : imin;
	*pred = below ? ib : imax;
	return true;
}

static gv_node_id
index_id(const gv_node *n, size_t i)
{
	return n->statics ? n->statics->id[i] : n->members[i].id;
}

/* Recompute the successors in the first k cycles when membership changed
 * (or more cycles are wanted than were computed). */
static void
succ_refresh(gv_node *n, unsigned k)
{
	struct flood *f = &n->flood;
	if (k > GV_FLOOD_CYCLES)
		k = GV_FLOOD_CYCLES;
	if (f->valid && f->epoch == n->members_epoch && f->nsucc >= k)
		return;
	struct cycles c;
	cycles_init(n, &c);
	f->nsucc = 0;
	for (unsigned j = 0; j < k; j++) {
		size_t is, ip;
		if (!cycle_neighbours(n, &c, j, &is, &ip))
			break;
		f->succ_idx[j] = (uint32_t)is;
		f->succ[j] = index_id(n, is);
		f->nsucc = j + 1;
	}
	f->valid = true;
	f->epoch = n->members_epoch;
}

struct ckey {
	uint64_t key;
	uint32_t v;
};

static int
ckey_cmp(const void *a, const void *b)
{
	const struct ckey *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * The broadcast tree (tree.c) as every node with this membership view
 * computes it: over the graph of the first d cycles (each node linked to
 * its successor and predecessor in each), breadth first from the node
 * first in cycle 0, taking links in cycle order. Writes this node's tree
 * neighbours (its parent and children) into out; returns how many, or
 * -1 (no memory, or more than max).
 */
int
gv__cycle_tree(const gv_node *n, unsigned d, gv_node_id *out, unsigned max)
{
	struct cycles c;
	cycles_init(n, &c);
	size_t total = c.total, m = 0;
	size_t deg = 2 * (size_t)d;
	struct ckey *s = gv__alloc(n->mem, (total + 1) * sizeof(*s));
	uint32_t *who = gv__alloc(n->mem, (total + 1) * sizeof(*who));
	uint32_t *adj = gv__alloc(n->mem, (total + 1) * deg * sizeof(*adj));
	uint8_t *na = gv__zalloc(n->mem, (total + 1) * sizeof(*na));
	int32_t *parent = gv__alloc(n->mem, (total + 1) * sizeof(*parent));
	uint32_t *queue = gv__alloc(n->mem, (total + 1) * sizeof(*queue));
	int rc = -1;
	if (!s || !who || !adj || !na || !parent || !queue)
		goto out;
	/* vertices: the live members, then self (vertex m - 1) */
	for (size_t i = 0; i < total; i++) {
		uint64_t key;
		if (cycles_key(n, &c, i, 0, &key))
			who[m++] = (uint32_t)i;
	}
	size_t self = m++;
	for (unsigned j = 0; j < d && m > 1; j++) {
		for (size_t v = 0; v < m; v++) {
			uint64_t key;
			if (v == self)
				key = cycle_key(n->self, c.own, j, c.regions);
			else
				cycles_key(n, &c, who[v], j, &key);
			s[v] = (struct ckey){key, (uint32_t)v};
		}
		qsort(s, m, sizeof(*s), ckey_cmp);
		if (j == 0)
			queue[0] = s[0].v; /* the root */
		for (size_t p = 0; p < m; p++) {
			uint32_t a = s[p].v, b = s[(p + 1) % m].v;
			uint32_t e[2][2] = {{a, b}, {b, a}};
			for (int q = 0; q < 2; q++) {
				uint32_t u = e[q][0], w = e[q][1];
				bool dup = u == w;
				for (unsigned k = 0; k < na[u] && !dup; k++)
					dup = adj[u * deg + k] == w;
				if (!dup && na[u] < deg)
					adj[u * deg + na[u]++] = w;
			}
		}
	}
	if (m == 1) {
		rc = 0;
		goto out;
	}
	for (size_t v = 0; v < m; v++)
		parent[v] = -2; /* unseen */
	size_t qh = 0, qt = 1;
	parent[queue[0]] = -1;
	while (qh < qt) {
		uint32_t u = queue[qh++];
		for (unsigned k = 0; k < na[u]; k++) {
			uint32_t w = adj[u * deg + k];
			if (parent[w] != -2)
				continue;
			parent[w] = (int32_t)u;
			queue[qt++] = w;
		}
	}
	unsigned k = 0;
	for (size_t v = 0; v < m; v++) {
		bool link = (size_t)parent[self] == v ||
			    (parent[v] >= 0 && (size_t)parent[v] == self);
		if (!link || v == self)
			continue;
		if (k == max)
			goto out;
		out[k++] = index_id(n, who[v]);
	}
	rc = (int)k;
out:
	gv__free(n->mem, s, s ? (total + 1) * sizeof(*s) : 0);
	gv__free(n->mem, who, who ? (total + 1) * sizeof(*who) : 0);
	gv__free(n->mem, adj, adj ? (total + 1) * deg * sizeof(*adj) : 0);
	gv__free(n->mem, na, na ? (total + 1) * sizeof(*na) : 0);
	gv__free(n->mem, parent, parent ? (total + 1) * sizeof(*parent) : 0);
	gv__free(n->mem, queue, queue ? (total + 1) * sizeof(*queue) : 0);
	return rc;
}

unsigned
gv__cycle_neighbours(const gv_node *n, unsigned d, uint32_t *idx,
		     gv_node_id *ids)
{
	struct cycles c;
	cycles_init(n, &c);
	unsigned k = 0;
	for (unsigned j = 0; j < d; j++) {
		size_t pick[2];
		if (!cycle_neighbours(n, &c, j, &pick[0], &pick[1]))
			break;
		for (unsigned p = 0; p < 2; p++) {
			gv_node_id id = index_id(n, pick[p]);
			bool dup = false;
			for (unsigned q = 0; q < k; q++)
				dup |= ids[q] == id;
			if (dup)
				continue;
			idx[k] = (uint32_t)pick[p];
			ids[k++] = id;
		}
	}
	return k;
}

static bool
flood_has_dest(const struct flood *f, gv_node_id id)
{
	for (unsigned i = 0; i < f->ndest; i++)
		if (f->dest[i] == id)
			return true;
	return false;
}

static void
flood_add_dest(struct flood *f, gv_node_id id, const gv_addr *a,
	       uint8_t cycle)
{
	if (f->ndest >= GV_MAX_FLOOD_DESTS || flood_has_dest(f, id))
		return;
	f->dest[f->ndest] = id;
	f->dest_addr[f->ndest] = *a;
	f->dest_cycle[f->ndest] = cycle;
	f->ndest++;
}

/* Grow *p (elem bytes each, *cap of them) to hold at least need. */
static bool
grow(gv_node *n, void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = gv__alloc(n->mem, c * elem);
	if (!q)
		return false;
	if (*cap)
		memcpy(q, *p, *cap * elem);
	gv__free(n->mem, *p, *cap * elem);
	*p = q;
	*cap = c;
	return true;
}

/* Start a pass over the records queued so far: they become the sending
 * buffer, and new writes go to the other. */
static bool
flood_begin(gv_node *n)
{
	struct flood *f = &n->flood;
	struct flood_buf *q = &f->q[f->pend];
	if (!q->nents)
		return false;
	f->pend ^= 1;
	struct flood_buf *o = &f->q[f->pend]; /* the last pass's: done */
	o->nents = o->enc_len = 0;
	o->maxc = 0;
	o->direct = false;
	unsigned maxc = q->maxc;
	bool direct = q->direct;
	f->ndest = 0;
	if (gv__tree_on(n)) {
		/* the tree's links (class 0) and, for the writes of high
		 * priority only (maxc 2), the lazy ones (class 1) */
		gv__tree_refresh(n);
		for (unsigned i = 0; i < n->tree.nn; i++) {
			const struct tnbr *b = &n->tree.nb[i];
			const gv_addr *a = gv__tree_addr(n, b);
			if (a && (b->eager || maxc > 1))
				flood_add_dest(f, b->id, a, b->eager ? 0 : 1);
		}
		maxc = 0; /* no successor cycles */
	} else {
		succ_refresh(n, maxc);
	}
	for (unsigned j = 0; j < f->nsucc && j < maxc; j++) {
		if (n->statics) {
			flood_add_dest(f, f->succ[j],
				       &n->statics->addr[f->succ_idx[j]],
				       (uint8_t)j);
			continue;
		}
		const struct member *m = gv__member_find(n, f->succ[j]);
		if (m && (m->state == GV_MEMBER_ALIVE ||
			  m->state == GV_MEMBER_SUSPECT))
			flood_add_dest(f, m->id, &m->addr, (uint8_t)j);
	}
	if (direct) {
		/* every live member (suspects too: only the origin will
		 * send it to them) */
		size_t total = n->statics ? n->statics->n : n->nmembers;
		for (size_t i = 0; i < total; i++) {
			if (n->statics) {
				if (i != n->static_self)
					flood_add_dest(f, n->statics->id[i],
						       &n->statics->addr[i],
						       255);
				continue;
			}
			const struct member *m = &n->members[i];
			if (m->state == GV_MEMBER_ALIVE ||
			    m->state == GV_MEMBER_SUSPECT)
				flood_add_dest(f, m->id, &m->addr, 255);
		}
	}
	f->cur = 0;
	f->pos = 0;
	f->active = true;
	return true;
}

static bool
flood_wants(const struct flood_ent *e, gv_node_id dest, uint8_t cycle)
{
	if (dest == e->ffrom)
		return false;
	return e->direct || cycle < e->fcycles;
}

static int
flood_put(gv_node *n, gv_wire_writer *w, const struct flood_ent *e)
{
	int rc = gv_wire_put_raw(w, n->flood.q[n->flood.pend ^ 1].enc + e->off,
				 e->len);
	if (rc == 0)
		n->st.updates_out++;
	return rc;
}

/*
 * Fill the datagram w (begun) for destination c with the pass's records
 * from index i on; returns the index to go on from. A datagram that
 * fills up is padded to its full size when @pad (so that back-to-back
 * datagrams to one peer go out as one UDP GSO send); a record too big
 * for w alone gets a datagram of its own, up to cap.
 */
static size_t
flood_fill(gv_node *n, gv_wire_writer *w, uint8_t *buf, size_t cap,
	   unsigned c, size_t i, bool pad)
{
	struct flood *f = &n->flood;
	struct flood_buf *q = &f->q[f->pend ^ 1];
	gv_wire_header h;
	for (; i < q->nents; i++) {
		const struct flood_ent *e = &q->ents[i];
		if (!flood_wants(e, f->dest[c], f->dest_cycle[c]))
			continue;
		int rc = flood_put(n, w, e);
		if (rc != GV_ENOBUFS)
			continue;
		if (w->records) {
			/* first in the next one, to the same peer: full
			 * size, so the io layer can send both as one (UDP
			 * GSO) */
			if (pad)
				gv_wire_pad_to(w, w->cap);
			break;
		}
		/* alone and too big for this datagram: one of its own */
		gv__header_for(n, &h);
		if (cap > w->cap && gv_wire_begin(w, buf, cap, &h) == 0 &&
		    flood_put(n, w, e) == 0) {
			i++;
			break;
		}
		n->st.outbox_drops++;
		gv__header_for(n, &h);
		gv_wire_begin(w, buf, n->cfg.max_datagram, &h);
	}
	return i;
}

ssize_t
gv__flood_send(gv_node *n, gv_addr *to, uint8_t *buf, size_t cap)
{
	struct flood *f = &n->flood;
	size_t mtu = n->cfg.max_datagram;
	for (;;) {
		if (!f->active) {
			if (!f->q[f->pend].nents ||
			    n->now < f->last_pass + n->cfg.flood_gap_us)
				return 0; /* next_expiry wakes us */
			f->last_pass = n->now;
			if (!flood_begin(n))
				return 0;
			/* with compression packing (zdgram.c), as many raw
			 * bytes as should compress into one datagram: the
			 * same for the whole pass, so that every peer gets
			 * the same runs and their frames are reused */
			f->raw_cap = gv__z_pack_cap(n, cap);
		}
		struct flood_buf *q = &f->q[f->pend ^ 1];
		while (f->cur < f->ndest) {
			unsigned c = f->cur;
			gv_wire_header h;
			gv_wire_writer w;
			size_t raw_cap = f->raw_cap > mtu && f->raw_cap <= cap
						 ? f->raw_cap
						 : mtu;
			gv__header_for(n, &h);
			if (gv_wire_begin(&w, buf, raw_cap, &h))
				return GV_ENOBUFS;
			size_t i0 = f->pos;
			size_t i = flood_fill(n, &w, buf, cap, c, i0,
					      raw_cap == mtu);
			bool packed = false;
			ssize_t plen = 0;
			if (raw_cap > mtu && w.cap == raw_cap && w.len > mtu) {
				/* padded to full size only when more follow
				 * for this peer: the last of a chain may be
				 * shorter */
				plen = gv__z_fit(n, buf, w.len, mtu,
						 i < q->nents);
				packed = plen > 0;
				if (!packed) {
					/* it did not compress enough: as
					 * without packing */
					n->st.updates_out -= w.records;
					gv__header_for(n, &h);
					gv_wire_begin(&w, buf, mtu, &h);
					i = flood_fill(n, &w, buf, cap, c, i0,
						       true);
				}
			}
			if (i >= q->nents) {
				f->cur++;
				f->pos = 0;
			} else {
				f->pos = i;
			}
			if (packed) {
				*to = f->dest_addr[c];
				return plen;
			}
			if (w.records) {
				*to = f->dest_addr[c];
				return gv_wire_finish(&w);
			}
		}
		f->active = false; /* the pass is over */
		if (!f->q[f->pend].nents)
			return 0;
	}
}

/* Whether rec travels as a reference to be fetched over the stream. */
static inline bool
record_ref(const gv_node *n, const gv_record *rec)
{
	return !rec->tombstone && rec->vlen > n->cfg.stream_threshold &&
	       gv__stream_on(n);
}

size_t
gv__record_wire_size(const gv_node *n, const gv_record *rec)
{
	return gv_wire_update_size_meta(rec->klen,
					record_ref(n, rec) ? GV_WIRE_REF_LEN
							   : rec->vlen,
					rec->kind, rec->expire);
}

/* Fill u from rec: the value itself, or (GV_UPD_REF) its size and digest
 * in ref[GV_WIRE_REF_LEN]. */
static int
record_update(gv_node *n, const gv_record *rec, uint8_t priority,
	      uint8_t flags, gv_wire_update *u, uint8_t *ref)
{
	bool isref = record_ref(n, rec);
	if ((!isref && rec->vlen > UINT16_MAX) || rec->klen > UINT16_MAX)
		return GV_EINVAL;
	*u = (gv_wire_update){
		.ver = rec->ver,
		.prev = rec->prev,
		.flags = flags | (rec->tombstone ? GV_UPD_TOMBSTONE : 0) |
			 (rec->cond ? GV_UPD_COND : 0) |
			 (isref ? GV_UPD_REF : 0),
		.priority = priority,
		.key = rec->key,
		.klen = (uint16_t)rec->klen,
		.val = rec->val,
		.vlen = (uint16_t)rec->vlen,
		.kind = rec->kind,
		.expire = rec->expire,
	};
	if (isref) {
		gv__st64(ref, rec->vlen);
		gv__st64(ref + 8, gv__value_digest(n, rec));
		u->val = ref;
		u->vlen = GV_WIRE_REF_LEN;
	}
	return 0;
}

/*
 * Queue a write just applied (or written) here for the next pass, encoded
 * now, while its entry is in cache: a record that goes to several peers is
 * encoded once, and no rumor is allocated. A write overtaken before the
 * pass still goes out; receivers keep the newer one.
 */
static void
flood_add(gv_node *n, const gv_record *rec, int priority, gv_node_id from,
	  bool announce)
{
	struct flood *f = &n->flood;
	struct flood_buf *q = &f->q[f->pend];
	bool tree = gv__tree_on(n);
	size_t k;
	if (tree) {
		/* class 0: the tree's links; 1: also the lazy ones, for the
		 * writes that should not wait for a repair */
		k = priority > GV_PRIO_NORMAL ? 2 : 1;
	} else {
		k = scaled_fanout(n, priority);
		if (!from)
			k *= 2; /* the origin: a hop's worth at once */
		if (k > GV_FLOOD_CYCLES)
			k = GV_FLOOD_CYCLES;
	}
	bool direct = !from && gv__cluster_size(n) - 1 <= GV_DIRECT_MAX;
	/* hops from the origin to the next node */
	unsigned hops = from ? n->tree.cur_hops + 1u : 0;
	if (hops > UINT8_MAX)
		hops = UINT8_MAX;
	if (tree && announce && !direct && priority <= GV_PRIO_NORMAL)
		gv__tree_announce(n, rec->hash ? rec->hash
					       : gv__key_hash(rec->key,
							      rec->klen),
				  rec->ver.hlc, from, false);
	gv_wire_update u;
	uint8_t ref[GV_WIRE_REF_LEN];
	if (record_update(n, rec, (uint8_t)priority,
			  direct ? GV_UPD_DIRECT : 0, &u, ref))
		return;
	u.hops = (uint8_t)hops;
	size_t size = gv__record_wire_size(n, rec);
	if (n->cfg.flood_max_bytes &&
	    q->enc_len + size > n->cfg.flood_max_bytes) {
		/* the sends fall behind the writes: stored, and anti-entropy
		 * carries it */
		n->st.flood_drops++;
		return;
	}
	ssize_t len = -1;
	if (grow(n, (void **)&q->enc, &q->enc_cap, q->enc_len + size, 1) &&
	    grow(n, (void **)&q->ents, &q->ents_cap, q->nents + 1,
		 sizeof(*q->ents)))
		len = gv_wire_encode_update(q->enc + q->enc_len,
					    q->enc_cap - q->enc_len, &u);
	if (len <= 0) {
		n->st.outbox_drops++; /* anti-entropy will carry it */
		return;
	}
	q->ents[q->nents++] = (struct flood_ent){
		.off = q->enc_len,
		.len = (uint32_t)len,
		.fcycles = (uint8_t)k,
		.direct = direct,
		.ffrom = from,
	};
	q->enc_len += (size_t)len;
	if (k > q->maxc)
		q->maxc = (unsigned)k;
	q->direct |= direct;
}

/* ---------------------------------------------------------- spreading */

/*
 * A full queue makes room by retiring the rumor sent most often (as
 * memberlist's queue prunes): it has done most of its spreading, and the
 * peers it missed get it through anti-entropy.
 */
static void
evict_most_sent(gv_node *n, struct bqueue *q)
{
	for (unsigned b = GV_BQ_BUCKETS; b-- > 0;)
		if (q->head[b]) {
			retire(n, q, q->head[b]);
			n->st.rumor_drops++;
			return;
		}
}

void
gv__spread_update(gv_node *n, gv_time now, const gv_record *rec,
		  int priority, gv_node_id from, bool forward)
{
	if (gv__eager(n)) {
		if (forward) /* else its origin sent it to every node */
			flood_add(n, rec, priority, from, true);
		return;
	}
	struct rumor *r =
		gv__rumor_new(n, RUMOR_UPDATE, rec->key, rec->klen, &rec->ver);
	if (!r)
		return; /* anti-entropy will carry it */
	r->priority = (uint8_t)priority;
	r->created = now;
	recent_add(n, r); /* for pull digests */
	if (n->cfg.max_rumors && n->updates.count >= n->cfg.max_rumors)
		evict_most_sent(n, &n->updates);
	gv__bq_push(&n->updates, r);
}

void
gv__spread_member(gv_node *n, gv_node_id id)
{
	struct rumor **slot;
	if (id == n->self) {
		slot = &n->self_rumor;
	} else {
		struct member *m = gv__member_find(n, id);
		if (!m)
			return;
		slot = &m->rumor;
	}
	/*
	 * Membership news gets twice the update budget: a refutation that
	 * misses one node turns into a false death there (at e^-copies per
	 * node, 12 copies still lose one node in ~10^5 receipts; 24 none in
	 * practice), and membership rumors are few and small.
	 */
	uint32_t limit = 2 * gv__rumor_limit(n);
	if (limit > GV_BQ_BUCKETS - 1)
		limit = GV_BQ_BUCKETS - 1;
	if (*slot) {
		/* news about the same member: the budget starts again */
		if ((*slot)->in_queue)
			gv__bq_remove(&n->mrumors, *slot);
		(*slot)->transmits = 0;
		(*slot)->limit = limit;
		gv__bq_push(&n->mrumors, *slot);
		return;
	}
	struct rumor *r = gv__rumor_new(n, RUMOR_MEMBER, NULL, 0, NULL);
	if (!r)
		return;
	r->limit = limit;
	r->member = id;
	gv__bq_push(&n->mrumors, r);
	*slot = r;
}

void
gv__spread_purge(gv_node *n, const void *key, size_t klen,
		 const gv_version *ver)
{
	if (n->cfg.max_rumors && n->mrumors.count >= n->cfg.max_rumors) {
		/* the tombstones elsewhere wait for their grace period */
		n->st.rumor_drops++;
		return;
	}
	struct rumor *r = gv__rumor_new(n, RUMOR_PURGE, key, klen, ver);
	if (!r)
		return;
	gv__bq_push(&n->mrumors, r);
}

/* ---------------------------------------------------------- encoding */

int
gv__put_record(gv_node *n, gv_wire_writer *w, const gv_record *rec,
	       uint8_t priority, uint8_t flags)
{
	gv_wire_update u;
	uint8_t ref[GV_WIRE_REF_LEN];
	int rc = record_update(n, rec, priority, flags, &u, ref);
	if (rc)
		return rc;
	return gv_wire_put_update(w, &u);
}

/* The store's entry for r's key, if it is still r's version. */
static bool
rumor_current(const gv_node *n, const struct rumor *r, gv_record *rec)
{
	return gv_store_lookup(&n->store, r->key, r->klen, rec) == 0 &&
	       gv_version_cmp(&rec->ver, &r->ver) == 0;
}

int
gv__put_update_rumor(gv_node *n, gv_wire_writer *w, struct rumor *r)
{
	gv_record rec;
	if (!rumor_current(n, r, &rec))
		return GV_ENOTFOUND; /* overtaken: a newer rumor carries it */
	int rc = gv__put_record(n, w, &rec, r->priority, 0);
	if (rc)
		return rc;
	n->st.updates_out++;
	transmitted(n, &n->updates, r);
	return 0;
}

static int
put_member_rumor(gv_node *n, gv_wire_writer *w, struct rumor *r)
{
	if (r->kind == RUMOR_PURGE) {
		gv_wire_purge p = {r->ver, r->key, r->klen};
		return gv_wire_put_purge(w, &p);
	}
	gv_wire_member m;
	if (r->member == n->self) {
		gv__encode_self(n, &m);
	} else {
		struct member *mb = gv__member_find(n, r->member);
		if (!mb)
			return GV_ENOTFOUND;
		gv__encode_member(n, mb, 255, &m);
	}
	return gv_wire_put_member(w, &m);
}

/* Fill w (a datagram to dest) from queue q, fewest-sent first. */
static void
fill_from(gv_node *n, gv_wire_writer *w, struct bqueue *q, bool updates,
	  const gv_addr *dest)
{
	struct rumor *sent[256];
	size_t nsent = 0;
	struct rumor *dead[256];
	size_t ndead = 0;
	for (unsigned b = 0; b < GV_BQ_BUCKETS && nsent < 256; b++) {
		for (struct rumor *r = q->head[b]; r && nsent < 256;
		     r = r->qnext) {
			int rc;
			if (updates) {
				/* encode now, count the transmission below */
				gv_record rec;
				if (!rumor_current(n, r, &rec)) {
					if (ndead < 256)
						dead[ndead++] = r;
					continue;
				}
				rc = gv__put_record(n, w, &rec, r->priority, 0);
				if (rc == 0)
					n->st.updates_out++;
				if (rc == GV_ENOBUFS &&
				    GV_WIRE_HEADER_LEN +
						    gv__record_wire_size(n,
									 &rec) >
					    n->cfg.max_datagram) {
					/* a big value: in a datagram of its
					 * own (counted when it is sent) */
					struct item it = {.kind = IT_RUMOR};
					it.u.r = r;
					gv__node_item(n, dest, &it);
					continue;
				}
			} else {
				rc = put_member_rumor(n, w, r);
				if (rc == GV_ENOTFOUND && ndead < 256) {
					dead[ndead++] = r;
					continue;
				}
			}
			if (rc == GV_ENOBUFS)
				goto done; /* datagram full */
			if (rc == 0)
				sent[nsent++] = r;
			else if (ndead < 256)
				dead[ndead++] = r;
		}
	}
done:
	for (size_t i = 0; i < ndead; i++)
		retire(n, q, dead[i]);
	for (size_t i = 0; i < nsent; i++)
		transmitted(n, q, sent[i]);
}

void
gv__piggyback(gv_node *n, gv_wire_writer *w, bool updates,
	      const gv_addr *dest)
{
	if (n->mrumors.count)
		fill_from(n, w, &n->mrumors, false, dest);
	if (updates && n->updates.count && n->cfg.mode != GV_MODE_PULL)
		fill_from(n, w, &n->updates, true, dest);
}

void
gv__fill_updates(gv_node *n, gv_wire_writer *w, const gv_addr *dest)
{
	fill_from(n, w, &n->updates, true, dest);
}

void
gv__put_pull_digest(gv_node *n, gv_wire_writer *w)
{
	size_t room = gv_wire_room(w);
	size_t fixed = GV_WIRE_RECORD_HDR + 10;
	if (room < fixed)
		return;
	size_t max = (room - fixed) / 24;
	if (max > DIGEST_MAX)
		max = DIGEST_MAX;
	uint64_t items[DIGEST_MAX * 3];
	size_t k = 0;
	for (struct rumor *r = n->recent_tail; r && k < max; r = r->rprev) {
		items[3 * k] = r->key_hash;
		items[3 * k + 1] = r->ver.hlc;
		items[3 * k + 2] = r->ver.origin;
		k++;
	}
	gv_wire_put_pull_digest(w, 0, GV_PULL_RECENT, items, (uint16_t)k);
}

/* ---------------------------------------------------------- intake */

static uint64_t
update_id(uint64_t key_hash, const gv_version *v)
{
	uint64_t buf[3] = {key_hash, v->hlc, v->origin};
	return XXH3_64bits(buf, sizeof(buf));
}

static void
conflict_cb(void *ud, const gv_record *winner, const gv_record *loser)
{
	gv_node *n = ud;
	if (winner->cond && loser->cond)
		n->st.nx_conflicts++;
	gv__record_conflict(ud, winner, loser);
}

/*
 * Before a datagram's updates are merged, fetch what they will touch: the
 * seen-cache slots, the store's home slots and the Merkle leaves, then
 * the entries the slots point to. Each is a likely cache miss (a node's
 * store is large, and in a benchmark many nodes share one machine's
 * caches); issued together they overlap instead of costing one trip to
 * memory each (150 nodes, 10,000 writes/s: p50 298 -> 30-48 ms).
 */
void
gv__prefetch_updates(gv_node *n, const gv_wire_record *recs, uint64_t *khs,
		     uint64_t *ids, size_t nrecs)
{
	const gv_merkle *m = &n->merkle;
	unsigned k = 0;
	for (size_t i = 0; i < nrecs; i++) {
		khs[i] = ids[i] = 0;
		if (recs[i].type != GV_REC_UPDATE)
			continue;
		const gv_wire_update *u = &recs[i].u.update;
		uint64_t kh = gv__key_hash(u->key, u->klen);
		khs[i] = kh;
		ids[i] = update_id(kh, &u->ver);
		gv_store_prefetch(&n->store, kh, 0);
		if (n->seen)
			__builtin_prefetch(
				&n->seen[ids[i] & (n->cfg.seen_cache - 1)]);
		if (m->digest)
			__builtin_prefetch(&m->digest[m->off[m->depth] +
						      gv_merkle_leaf_of(m, kh)]);
		k++;
	}
	if (k < 2)
		return; /* nothing to overlap */
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].type == GV_REC_UPDATE)
			gv_store_prefetch(&n->store, khs[i], 1);
}

/* The seen-cache slot of update id (NULL: no cache). */
static uint64_t *
seen_slot(gv_node *n, uint64_t id)
{
	if (!n->cfg.seen_cache)
		return NULL;
	if (!n->seen) {
		n->seen = gv__zalloc(n->mem, n->cfg.seen_cache * sizeof(uint64_t));
		if (!n->seen)
			return NULL; /* the store alone catches duplicates */
	}
	return &n->seen[id & (n->cfg.seen_cache - 1)];
}

/* A tombstone its origin sent again: it retransmits until we ack. */
static void
tomb_from_origin(gv_node *n, gv_time now, gv_node_id sender, bool tomb,
		 const uint8_t *key, size_t klen, const gv_version *ver,
		 uint64_t kh)
{
	if (!tomb || sender != ver->origin)
		return;
	gv_record rec = {.key = key, .klen = klen, .ver = *ver,
			 .tombstone = true, .hash = kh};
	gv__tomb_stored(n, now, &rec);
}

/* Merge a remote write that passed the arrival checks, and pass it on. */
static void
apply_update(gv_node *n, gv_time now, gv_node_id sender, const gv_record *in,
	     uint64_t kh, uint64_t id, uint64_t *seen, uint8_t priority,
	     uint8_t uflags)
{
	gv_record rec;
	n->store.now_ms = gv__cluster_ms(n, now);
	bool reserved = gv_key_reserved(in->key, in->klen);
	if (GV_UNLIKELY(reserved) && gv__hash_refuse(n, now, in)) {
		/* a hash's field older than its key's last write: dead */
		if (seen)
			*seen = id;
		return;
	}
	int res = gv_store_merge_out(&n->store, in, kh, conflict_cb, n, &rec);
	if (res < 0) {
		n->st.updates_refused++;
		return; /* not recorded as seen: anti-entropy retries */
	}
	if (seen)
		*seen = id;
	if (n->dedup_on)
		gv_dedup_insert(&n->dedup, id);
	if (res == GV_MERGE_APPLIED || res == GV_MERGE_CONFLICT_APPLIED) {
		if (GV_UNLIKELY(reserved)) {
			gv__keys_on_entry(n, now, &rec);
		} else {
			if (GV_UNLIKELY(n->hidx.count))
				gv__hash_on_plain(n, now, &rec, true);
			if (n->cfg.cb.on_update)
				n->cfg.cb.on_update(n->cfg.ud, &rec, res,
						    now);
		}
		if (rec.tombstone)
			gv__tomb_stored(n, now, &rec);
		/* a counter state joined with ours (a version no one sent):
		 * flooding passes on what came, every node joins it alike;
		 * the round-based modes spread the joined state */
		bool joined = gv_version_cmp(&rec.ver, &in->ver) != 0;
		if (gv__tree_on(n) && (uflags & GV_UPD_AE)) {
			/* a repair: the neighbours are told, and those that
			 * lack it too ask (the tree is not disturbed) */
			gv__tree_repaired(n, kh, in->ver.hlc);
			gv__tree_announce(n, kh, rec.ver.hlc, sender, true);
			return;
		}
		if (gv__tree_on(n))
			gv__tree_new(n, sender, uflags, priority, kh,
				     in->ver.hlc);
		gv__spread_update(n, now, joined && gv__eager(n) ? in : &rec,
				  priority, sender, !(uflags & GV_UPD_DIRECT));
	} else if (res == GV_MERGE_DUPLICATE) {
		if (gv__tree_dup(n, sender, uflags, priority, kh, in->ver.hlc))
			flood_add(n, in, priority, sender, false);
		tomb_from_origin(n, now, sender, in->tombstone, in->key, in->klen,
				 &in->ver, kh);
	}
}

/* The record an UPDATE carries (its value inline). */
static void
update_record(const gv_wire_update *u, uint64_t kh, gv_record *out)
{
	bool tomb = (u->flags & GV_UPD_TOMBSTONE) != 0;
	*out = (gv_record){
		.key = u->key,
		.klen = u->klen,
		.val = u->val,
		.vlen = u->vlen,
		.ver = u->ver,
		.prev = u->prev,
		.tombstone = tomb,
		.kind = u->kind,
		.expire = u->expire,
		.cond = (u->flags & GV_UPD_COND) != 0 && !tomb,
		.hash = kh,
	};
}

void
gv__on_update(gv_node *n, gv_time now, const gv_addr *from, gv_node_id sender,
	      const gv_wire_update *u, uint64_t kh, uint64_t id)
{
	n->st.updates_in++;
	if (!kh)
		kh = gv__key_hash(u->key, u->klen);
	if (!id)
		id = update_id(kh, &u->ver);
	/*
	 * Anti-entropy's entries always go to the store: they come because
	 * the trees differ, and the cache must never stand between a node
	 * and the repair (after a tombstone is collected, the store may lack
	 * what the cache remembers).
	 */
	uint64_t *seen = seen_slot(n, id);
	if ((seen && *seen == id && !(u->flags & GV_UPD_AE)) ||
	    (n->dedup_on && gv_dedup_contains(&n->dedup, id))) {
		n->st.dedup_hits++;
		if (gv__tree_dup(n, sender, u->flags, u->priority, kh,
				 u->ver.hlc) &&
		    !(u->flags & GV_UPD_REF)) {
			gv_record in;
			update_record(u, kh, &in);
			n->tree.cur_hops = u->hops;
			flood_add(n, &in, u->priority, sender, false);
		}
		tomb_from_origin(n, now, sender,
				 (u->flags & GV_UPD_TOMBSTONE) != 0, u->key,
				 u->klen, &u->ver, kh);
		return;
	}
	bool tomb = (u->flags & GV_UPD_TOMBSTONE) != 0;
	if (tomb && gv__tomb_purged_recently(n, kh, &u->ver))
		return; /* collected already: do not bring it back */
	if (GV_UNLIKELY(gv__flushed(n, &u->ver)) &&
	    !gv__key_sys(u->key, u->klen)) {
		/* older than the last FLUSHDB: gone for good */
		n->st.flushed_updates++;
		if (seen)
			*seen = id;
		return;
	}
	if (gv_hlc_observe(&n->hlc, u->ver.hlc, gv__wall_ms(n, now)))
		return; /* too far in the future: counted, not adopted */
	n->tree.cur_hops = u->hops;
	if (GV_UNLIKELY(u->flags & GV_UPD_REF)) {
		/* the value follows over the stream (stream.c) */
		gv__stream_announced(n, now, from, sender, u, kh);
		return;
	}
	gv_record in;
	update_record(u, kh, &in);
	apply_update(n, now, sender, &in, kh, id, seen, u->priority,
		     u->flags);
}

void
gv__apply_update(gv_node *n, gv_time now, gv_node_id sender,
		 const gv_record *in, uint64_t kh, uint8_t priority,
		 uint8_t uflags)
{
	/* the checks gv__on_update made at the announcement, again: a
	 * flush or a purge may have come meanwhile */
	uint64_t id = update_id(kh, &in->ver);
	n->tree.cur_hops = 0;
	if (in->tombstone && gv__tomb_purged_recently(n, kh, &in->ver))
		return;
	if (gv__flushed(n, &in->ver) && !gv__key_sys(in->key, in->klen)) {
		n->st.flushed_updates++;
		return;
	}
	apply_update(n, now, sender, in, kh, id, seen_slot(n, id), priority,
		     uflags);
}

/* Recent updates the requester's digest lacks go back to it. */
void
gv__on_pull_recent(gv_node *n, gv_time now, const gv_addr *from,
		   const gv_wire_pull_digest *d)
{
	/* the digest as a small hash set: key_hash -> index */
	enum { SET = 1024 };
	int16_t set[SET];
	memset(set, 0xff, sizeof(set));
	size_t cnt = d->count < DIGEST_MAX ? d->count : DIGEST_MAX;
	for (size_t i = 0; i < cnt; i++) {
		uint64_t kh = gv_wire_u64_at(d->items, 3 * i);
		size_t j = (size_t)(kh & (SET - 1));
		while (set[j] >= 0)
			j = (j + 1) & (SET - 1);
		set[j] = (int16_t)i;
	}
	struct bulk b;
	gv__bulk_init(&b, n, from, false);
	for (struct rumor *r = n->recent_tail; r && !b.err; r = r->rprev) {
		if (r->kind != RUMOR_UPDATE)
			continue;
		bool have = false;
		size_t j = (size_t)(r->key_hash & (SET - 1));
		while (set[j] >= 0) {
			size_t i = (size_t)set[j];
			if (gv_wire_u64_at(d->items, 3 * i) == r->key_hash) {
				gv_version v = {
					gv_wire_u64_at(d->items, 3 * i + 1),
					gv_wire_u64_at(d->items, 3 * i + 2)};
				if (gv_version_cmp(&v, &r->ver) >= 0)
					have = true;
			}
			j = (j + 1) & (SET - 1);
		}
		if (have)
			continue;
		gv_record rec;
		if (!rumor_current(n, r, &rec))
			continue;
		gv_wire_writer *w =
			gv__bulk_room(&b, gv__record_wire_size(n, &rec));
		if (!w || b.datagrams >= PULL_REPLY_DATAGRAMS)
			break;
		if (gv__put_record(n, w, &rec, r->priority, 0) == 0)
			n->st.updates_out++;
	}
	gv__bulk_finish(&b);
}

/* ---------------------------------------------------------- rounds */

void
gv__round_tick(gv_node *n, gv_time now)
{
	bool pull = n->cfg.mode == GV_MODE_PULL ||
		    n->cfg.mode == GV_MODE_PUSHPULL;
	bool push = n->cfg.mode != GV_MODE_PULL && n->updates.count;
	if (!pull && !push && !n->mrumors.count)
		return;
	gv_addr to[64];
	size_t k = gv__pick_peers(n, n->cfg.fanout, 0, to);
	for (size_t i = 0; i < k; i++) {
		struct item it = {.kind = IT_GOSSIP};
		gv__node_item(n, &to[i], &it);
		if (pull) {
			struct item p = {.kind = IT_PULL};
			gv__node_item(n, &to[i], &p);
		}
	}
}

static void
free_queue(gv_node *n, struct bqueue *q)
{
	for (unsigned b = 0; b < GV_BQ_BUCKETS; b++) {
		struct rumor *r = q->head[b];
		while (r) {
			struct rumor *next = r->qnext;
			r->in_queue = false;
			gv__rumor_release(n, r);
			r = next;
		}
		q->head[b] = q->tail[b] = NULL;
	}
	q->count = 0;
}

void
gv__dissem_fini(gv_node *n)
{
	for (size_t i = 0; i < n->nmembers; i++)
		n->members[i].rumor = NULL;
	n->self_rumor = NULL;
	free_queue(n, &n->updates);
	free_queue(n, &n->mrumors);
	struct rumor *r = n->recent_head;
	while (r) {
		struct rumor *next = r->rnext;
		r->in_recent = false;
		gv__rumor_release(n, r);
		r = next;
	}
	n->recent_head = n->recent_tail = NULL;
	n->nrecent = 0;
	for (int i = 0; i < 2; i++) {
		struct flood_buf *q = &n->flood.q[i];
		gv__free(n->mem, q->enc, q->enc_cap);
		gv__free(n->mem, q->ents, q->ents_cap * sizeof(*q->ents));
		memset(q, 0, sizeof(*q));
	}
	n->flood.active = false;
}
