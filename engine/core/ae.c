/* SPDX-License-Identifier: MIT */
/*
 * ae.c - Merkle anti-entropy.
 *
 * A session is a descent through the two nodes' Merkle trees that visits
 * only differing subtrees, alternating sides:
 *
 *   A -> B  MERKLE_RESP level 0: A's digests of the root's children
 *   B -> A  MERKLE_RESP level 1: B's children of each child that differed
 *   ...     (one level per message, down to the leaves)
 *   X -> Y  PULL_DIGEST per differing leaf: (key hash, version) of X's
 *           entries in it
 *   Y -> X  UPDATE (anti-entropy flag) for every entry of Y's the digest
 *           lacks or has older, and ENTRIES_REQ for the keys where X is
 *           newer or Y has nothing
 *   X -> Y  UPDATE for the requested keys
 *
 * Every message is answered from the receiver's current state with no
 * session memory, so a session chunks freely across datagrams (each chunk
 * carries its own subtrees) and a lost datagram only drops its subtrees
 * from this session; the initiator keeps a small record of the session
 * only to bound how many run at once, to time out idle ones and to run one
 * confirming session after one that moved entries. The bytes exchanged
 * grow with the number of differences and the tree depth, not with the
 * size of the data. With the default 16-ary depth-4 tree, one difference
 * costs 4 digest messages of ~180 bytes, one leaf digest and the entry:
 * about 1.3 KB over 3.5 round trips, whatever the number of keys.
 *
 * Anti-entropy output goes through the paced ready queue (ae_bytes_per_sec).
 */
#include "node_int.h"

#define LEAF_DIGEST_MAX 64 /* entries listed per leaf; beyond: whole leaf */

static struct ae_session *
session_find(gv_node *n, uint32_t id)
{
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++)
		if (n->ae[i].used && n->ae[i].id == id)
			return &n->ae[i];
	return NULL;
}

void
gv__ae_activity(gv_node *n, gv_time now, uint32_t session, bool data)
{
	struct ae_session *s = session_find(n, session);
	if (!s)
		return;
	s->last = now;
	if (data)
		s->exchanged = true;
}

gv_time
gv__ae_next(const gv_node *n)
{
	gv_time t = GV_TIME_NEVER;
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++) {
		const struct ae_session *s = &n->ae[i];
		if (!s->used)
			continue;
		gv_time due = s->last + n->cfg.ae_timeout_ms * MS;
		if (due < t)
			t = due;
	}
	return t;
}

static unsigned
active_sessions(const gv_node *n)
{
	unsigned k = 0;
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++)
		k += n->ae[i].used;
	return k;
}

/* Send our digests of the children of (level, index) in session s. */
static void
put_children(gv_node *n, struct bulk *b, uint32_t session, unsigned level,
	     uint32_t index)
{
	uint64_t d[256];
	unsigned fan = n->merkle.fan_log2;
	if (gv_merkle_children(&n->merkle, level, index, d, 256) < 0)
		return;
	gv_wire_writer *w = gv__bulk_room(b, gv_wire_merkle_resp_size(fan, 1));
	if (w)
		gv_wire_put_merkle_resp(w, session, (uint8_t)level,
					(uint8_t)fan, &index, d, 1);
}

static void
start_session(gv_node *n, gv_time now, gv_node_id peer, const gv_addr *addr,
	      unsigned retries)
{
	if (active_sessions(n) >= n->cfg.ae_max_sessions)
		return;
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++) {
		struct ae_session *s = &n->ae[i];
		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->id = gv__rand32(n) | 1;
		s->peer = peer;
		s->addr = *addr;
		s->started = now;
		s->last = now;
		s->retries = retries;
		n->st.ae_sessions++;
		struct bulk b;
		gv__bulk_init(&b, n, addr, true);
		put_children(n, &b, s->id, 0, 0);
		gv__bulk_finish(&b);
		return;
	}
}

void
gv__ae_start(gv_node *n, gv_time now, gv_node_id peer, const gv_addr *addr)
{
	/* one session per peer at a time */
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++)
		if (n->ae[i].used && n->ae[i].peer == peer)
			return;
	start_session(n, now, peer, addr, 0);
}

void
gv__ae_tick(gv_node *n, gv_time now, bool start)
{
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++) {
		struct ae_session *s = &n->ae[i];
		if (!s->used || now - s->last < n->cfg.ae_timeout_ms * MS)
			continue;
		/* copy first: start_session may reuse (and clear) this slot */
		gv_node_id peer = s->peer;
		gv_addr addr = s->addr;
		unsigned retries = s->retries;
		bool again = s->exchanged && retries < 2;
		s->used = false;
		/* entries moved (or datagrams were lost): confirm at once */
		if (again)
			start_session(n, now, peer, &addr, retries + 1);
	}
	if (!start || active_sessions(n) >= n->cfg.ae_max_sessions)
		return;
	gv_node_id peer;
	gv_addr addr;
	if (gv__pick_one(n, 0, &peer, &addr))
		gv__ae_start(n, now, peer, &addr);
}

/* ------------------------------------------------------------ descent */

struct leaf_ctx {
	gv_node *n;
	struct bulk *b;
	uint32_t session;
	uint64_t items[LEAF_DIGEST_MAX * 3];
	size_t count;
	bool overflow;
};

static int
collect_leaf(void *ud, const gv_record *r)
{
	struct leaf_ctx *c = ud;
	if (c->count == LEAF_DIGEST_MAX) {
		c->overflow = true;
		return 1;
	}
	c->items[3 * c->count] = r->hash;
	c->items[3 * c->count + 1] = r->ver.hlc;
	c->items[3 * c->count + 2] = r->ver.origin;
	c->count++;
	return 0;
}

static int
send_entry(void *ud, const gv_record *r)
{
	struct leaf_ctx *c = ud;
	gv_wire_writer *w = gv__bulk_room(c->b, gv__record_wire_size(c->n, r));
	if (!w)
		return 1;
	if (gv__put_record(c->n, w, r, GV_PRIO_NORMAL, GV_UPD_AE) == 0)
		c->n->st.ae_entries_sent++;
	return 0;
}

/* A differing leaf: list our entries in it, or, if there are too many to
 * list, send them all and ask for all of the peer's. */
static void
leaf_differs(gv_node *n, struct bulk *b, uint32_t session, uint32_t leaf)
{
	struct leaf_ctx c = {.n = n, .b = b, .session = session};
	gv_store_foreach_bucket(&n->store, leaf, n->merkle.leaf_bits,
				collect_leaf, &c);
	if (!c.overflow) {
		gv_wire_writer *w = gv__bulk_room(
			b, gv_wire_pull_digest_size((uint16_t)c.count));
		if (w)
			gv_wire_put_pull_digest(w, session, leaf, c.items,
						(uint16_t)c.count);
		return;
	}
	gv_store_foreach_bucket(&n->store, leaf, n->merkle.leaf_bits,
				send_entry, &c);
	uint64_t item = leaf;
	gv_wire_writer *w = gv__bulk_room(b, gv_wire_entries_req_size(1));
	if (w)
		gv_wire_put_entries_req(w, session, GV_ENTRIES_LEAVES, &item, 1);
}

void
gv__on_merkle_resp(gv_node *n, gv_time now, const gv_addr *from,
		   const gv_wire_merkle_resp *m)
{
	gv__ae_activity(n, now, m->session, false);
	if (m->fan_log2 != n->merkle.fan_log2 || m->level >= n->merkle.depth)
		return; /* trees shaped differently: a configuration error */
	if (m->count == 0) {
		/* the peer found nothing to descend into */
		struct ae_session *s = session_find(n, m->session);
		if (s && m->level == 0 && !s->exchanged) {
			n->st.ae_sessions_clean++;
			s->used = false;
		}
		return;
	}
	unsigned arity = 1u << m->fan_log2;
	unsigned level = m->level;
	size_t group = 4 + 8 * (size_t)arity;
	struct bulk b;
	gv__bulk_init(&b, n, from, true);
	bool any = false;
	uint64_t mine[256], theirs[256];
	uint32_t diff[256];
	for (uint16_t g = 0; g < m->count && !b.err; g++) {
		const uint8_t *p = m->groups + g * group;
		uint32_t index = gv_wire_u32_at(p, 0);
		if (index >= gv_merkle_level_size(&n->merkle, level))
			continue;
		for (unsigned i = 0; i < arity; i++)
			theirs[i] = gv_wire_u64_at(p + 4, i);
		if (gv_merkle_children(&n->merkle, level, index, mine, 256) < 0)
			continue;
		size_t k = gv_merkle_diff(mine, theirs, arity, diff);
		for (size_t j = 0; j < k; j++) {
			uint32_t child = (index << m->fan_log2) + diff[j];
			any = true;
			if (level + 1 < n->merkle.depth)
				put_children(n, &b, m->session, level + 1,
					     child);
			else
				leaf_differs(n, &b, m->session, child);
		}
	}
	if (!any && level == 0) {
		/* roots agree: say so, so the initiator can close at once */
		gv_wire_writer *w =
			gv__bulk_room(&b, gv_wire_merkle_resp_size(m->fan_log2,
								   0));
		if (w)
			gv_wire_put_merkle_resp(w, m->session, 0, m->fan_log2,
						NULL, NULL, 0);
	}
	gv__bulk_finish(&b);
}

void
gv__on_merkle_req(gv_node *n, gv_time now, const gv_addr *from,
		  const gv_wire_merkle_req *m)
{
	gv__ae_activity(n, now, m->session, false);
	if (m->level >= n->merkle.depth)
		return;
	struct bulk b;
	gv__bulk_init(&b, n, from, true);
	for (uint16_t i = 0; i < m->count && !b.err; i++) {
		uint32_t index = gv_wire_u32_at(m->index, i);
		if (index < gv_merkle_level_size(&n->merkle, m->level))
			put_children(n, &b, m->session, m->level, index);
	}
	gv__bulk_finish(&b);
}

/* ------------------------------------------------------------ leaves */

struct cmp_ctx {
	gv_node *n;
	struct bulk *b;
	const gv_wire_pull_digest *d;
	bool *matched; /* peer items we hold at least as new */
	uint64_t want[LEAF_DIGEST_MAX];
	size_t nwant;
	bool sent;
};

static int
compare_entry(void *ud, const gv_record *r)
{
	struct cmp_ctx *c = ud;
	const gv_wire_pull_digest *d = c->d;
	bool peer_has = false;
	for (uint16_t i = 0; i < d->count; i++) {
		if (gv_wire_u64_at(d->items, 3 * i) != r->hash)
			continue;
		gv_version v = {gv_wire_u64_at(d->items, 3 * i + 1),
				gv_wire_u64_at(d->items, 3 * i + 2)};
		int cmp = gv_version_cmp(&v, &r->ver);
		if (cmp >= 0)
			peer_has = true;
		if (cmp <= 0)
			c->matched[i] = true;
	}
	if (peer_has)
		return 0;
	struct leaf_ctx lc = {.n = c->n, .b = c->b};
	c->sent = true;
	return send_entry(&lc, r);
}

void
gv__on_leaf_digest(gv_node *n, gv_time now, const gv_addr *from,
		   const gv_wire_pull_digest *d)
{
	if (d->bucket >= gv_merkle_nleaves(&n->merkle) ||
	    d->count > LEAF_DIGEST_MAX)
		return;
	bool matched[LEAF_DIGEST_MAX] = {false};
	struct bulk b;
	gv__bulk_init(&b, n, from, true);
	struct cmp_ctx c = {.n = n, .b = &b, .d = d, .matched = matched};
	gv_store_foreach_bucket(&n->store, d->bucket, n->merkle.leaf_bits,
				compare_entry, &c);
	/* what the peer has and we lack (or hold older): ask for it */
	for (uint16_t i = 0; i < d->count; i++)
		if (!matched[i])
			c.want[c.nwant++] = gv_wire_u64_at(d->items, 3 * i);
	if (c.nwant) {
		gv_wire_writer *w = gv__bulk_room(
			&b, gv_wire_entries_req_size((uint16_t)c.nwant));
		if (w)
			gv_wire_put_entries_req(w, d->session, GV_ENTRIES_KEYS,
						c.want, (uint16_t)c.nwant);
	}
	gv__bulk_finish(&b);
	gv__ae_activity(n, now, d->session, c.sent || c.nwant);
}

struct key_ctx {
	struct leaf_ctx lc;
	uint64_t hash;
};

static int
send_if_hash(void *ud, const gv_record *r)
{
	struct key_ctx *k = ud;
	if (r->hash != k->hash)
		return 0;
	return send_entry(&k->lc, r);
}

void
gv__on_entries_req(gv_node *n, gv_time now, const gv_addr *from,
		   const gv_wire_entries_req *e)
{
	gv__ae_activity(n, now, e->session, true);
	struct bulk b;
	gv__bulk_init(&b, n, from, true);
	for (uint16_t i = 0; i < e->count && !b.err; i++) {
		uint64_t item = gv_wire_u64_at(e->items, i);
		if (e->kind == GV_ENTRIES_LEAVES) {
			if (item >= gv_merkle_nleaves(&n->merkle))
				continue;
			struct leaf_ctx c = {.n = n, .b = &b};
			gv_store_foreach_bucket(&n->store, (uint32_t)item,
						n->merkle.leaf_bits, send_entry,
						&c);
		} else {
			struct key_ctx k = {.lc = {.n = n, .b = &b},
					    .hash = item};
			gv_store_foreach_bucket(
				&n->store, gv_merkle_leaf_of(&n->merkle, item),
				n->merkle.leaf_bits, send_if_hash, &k);
		}
	}
	gv__bulk_finish(&b);
}
