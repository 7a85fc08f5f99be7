/* SPDX-License-Identifier: MIT */
/*
 * node.c - the node state machine's public face: configuration, creation,
 * local reads and writes, datagram intake (decode, then dispatch each
 * record to the part of the protocol that owns it), the send path (small
 * items coalesced per destination with piggybacked rumors, then ready bulk
 * datagrams paced by the anti-entropy budget), and the timers.
 */
#include "node_int.h"

#include <math.h>

static const char *const mode_names[] = {"eager", "push", "pull", "pushpull",
					 "tree"};

const char *
gv_mode_name(int mode)
{
	if (mode < 0 || mode > GV_MODE_TREE)
		return "unknown";
	return mode_names[mode];
}

int
gv_mode_parse(const char *s)
{
	for (int i = 0; i <= GV_MODE_TREE; i++)
		if (strcmp(s, mode_names[i]) == 0)
			return i;
	return -1;
}

void
gv_node_config_default(gv_node_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = GV_MODE_EAGER;
	c->fanout = 3;
	c->retransmit_mult = 4;
	c->interval_ms = 100;
	c->max_datagram = GV_WIRE_DEFAULT_MTU;
	c->pull_window_rounds = 10;
	c->ae_interval_ms = 1000;
	c->ae_max_sessions = 2;
	c->ae_bytes_per_sec = 8u << 20;
	c->ae_timeout_ms = 500;
	c->merkle_fan_log2 = GV_MERKLE_DEFAULT_FAN_LOG2;
	c->merkle_depth = GV_MERKLE_DEFAULT_DEPTH;
	c->probe_interval_ms = 200;
	c->probe_timeout_ms = 100;
	c->indirect_checks = 3;
	c->suspicion_mult = 3;
	c->suspicion_max_mult = 6;
	c->awareness_max = 8;
	c->reconnect_interval_ms = 1000;
	c->dead_reap_ms = 24ull * 3600 * 1000;
	c->quorum = 0.51;
	c->region_affinity = 0.7;
	c->cross_region_fanout = 1;
	c->tombstone_grace_ms = 24ull * 3600 * 1000;
	c->dedup_per_gen = 0;
	c->seen_cache = 1024;
	c->flood_gap_us = 1000;
	c->tree_lazy_us = 10000;
	c->tree_graft_us = 20000;
	c->flood_max_bytes = 16u << 20;
	c->max_rumors = 65536;
	c->ready_max_bytes = 16u << 20;
	c->conflict_log = 128;
	c->stream_threshold = GV_STREAM_DEFAULT_THRESHOLD;
	c->stream_chunk = GV_STREAM_DEFAULT_CHUNK;
	c->stream_timeout_ms = 2000;
	c->stream_stall_ms = 10000;
	c->compress_threshold = GV_COMPRESS_THRESHOLD_DEFAULT;
	c->compress_level = GV_COMPRESS_LEVEL_DEFAULT;
}

uint64_t
gv__wall_ms(const gv_node *n, gv_time now)
{
	int64_t w = (int64_t)(now / MS) + n->cfg.wall_offset_ms;
	return w < 0 ? 0 : (uint64_t)w;
}

#define RECLAIM_US (100 * MS) /* the active expiry cycle's period */
#define RECLAIM_SLOTS 65536   /* most table slots one tick examines */

uint64_t
gv__cluster_ms(const gv_node *n, gv_time now)
{
	uint64_t w = gv__wall_ms(n, now);
	uint64_t h = gv_hlc_ms(n->hlc.last);
	return h > w ? h : w;
}

uint32_t
gv__rand32(gv_node *n)
{
	return (uint32_t)(gv_rng_next(&n->rng) >> 32);
}

/* A timer's first expiry: uniformly spread over one period, so nodes
 * started together do not tick in lockstep. */
static gv_time
jitter_first(gv_node *n, gv_time now, uint64_t period_ms)
{
	if (!period_ms)
		return GV_TIME_NEVER;
	return now + 1 + gv_rng_below(&n->rng, period_ms * MS);
}

static int
check_config(const gv_node_config *c)
{
	if (!c->id || (c->addr.family != 4 && c->addr.family != 6))
		return GV_EINVAL;
	if (c->fanout == 0 || c->fanout > 64 || c->retransmit_mult == 0 ||
	    c->interval_ms == 0 || c->mode > GV_MODE_TREE)
		return GV_EINVAL;
	if (c->max_datagram < GV_WIRE_MIN_MTU ||
	    c->max_datagram > GV_WIRE_MAX_MTU)
		return GV_EINVAL;
	if (!(c->quorum > 0.0 && c->quorum <= 1.0) ||
	    c->region_affinity < 0.0 || c->region_affinity > 1.0)
		return GV_EINVAL;
	if (c->probe_interval_ms == 0 || c->probe_timeout_ms == 0 ||
	    c->probe_timeout_ms > c->probe_interval_ms ||
	    c->suspicion_mult == 0 || c->suspicion_max_mult == 0)
		return GV_EINVAL;
	if (c->seen_cache & (c->seen_cache - 1) || c->seen_cache > (1u << 20))
		return GV_EINVAL;
	if (c->ae_max_sessions > GV_MAX_AE_SESSIONS ||
	    c->indirect_checks > GV_MAX_CONFIRM)
		return GV_EINVAL;
	if (c->stream_threshold > GV_STREAM_INLINE_MAX ||
	    c->stream_chunk > (16u << 20) ||
	    (c->stream_chunk && c->stream_chunk < 1024) ||
	    (!c->cb.stream_send && c->store.max_value > GV_STREAM_INLINE_MAX))
		return GV_EINVAL;
	if (c->compress_level < GV_COMPRESS_LEVEL_MIN ||
	    c->compress_level > GV_COMPRESS_LEVEL_MAX)
		return GV_EINVAL;
	if (memchr(c->name, 0, sizeof(c->name)) == NULL ||
	    memchr(c->region, 0, sizeof(c->region)) == NULL)
		return GV_EINVAL;
	return 0;
}

int
gv_node_new(gv_node **out, const gv_node_config *cfg, gv_time now)
{
	if (!out || !cfg)
		return GV_EINVAL;
	int rc = check_config(cfg);
	if (rc)
		return rc;
	const gv_mem *mem = cfg->mem ? cfg->mem : gv_mem_libc();
	gv_node *n = gv__zalloc(mem, sizeof(*n));
	if (!n)
		return GV_ENOMEM;
	n->cfg = *cfg;
	n->mem = mem;
	n->self = cfg->id;
	n->now = now;
	n->reach = 1.0;
	gv_rng_seed(&n->rng, cfg->seed ^ cfg->id);
	{
		uint64_t b[3] = {cfg->id, cfg->seed, now};
		n->counter_slot = XXH3_64bits(b, sizeof(b)) | 1;
	}
	gv_hlc_init(&n->hlc, 0);
	n->nregions = 1;
	memcpy(n->regions[0], cfg->region, sizeof(n->regions[0]));
	n->static_self = SIZE_MAX;

	rc = gv_store_init(&n->store, mem, &cfg->store);
	if (rc)
		goto fail_store;
	rc = gv_merkle_init(&n->merkle, mem, cfg->merkle_fan_log2,
			    cfg->merkle_depth);
	if (rc)
		goto fail_merkle;
	gv_store_set_merkle(&n->store, &n->merkle);
	if (cfg->dedup_per_gen) {
		rc = gv_dedup_init(&n->dedup, mem, cfg->dedup_per_gen, 4);
		if (rc)
			goto fail_dedup;
		n->dedup_on = true;
	}
	if (cfg->conflict_log) {
		n->conflicts = gv__zalloc(
			mem, cfg->conflict_log * sizeof(gv_conflict_info));
		if (!n->conflicts) {
			rc = GV_ENOMEM;
			goto fail_conflicts;
		}
	}
	rc = gv__members_init(n);
	if (rc)
		goto fail_members;
	rc = gv__sec_init(n);
	if (rc) {
		gv__members_fini(n);
		goto fail_members;
	}
	gv__keys_init_base(n);

	n->ae_tokens = (double)cfg->ae_bytes_per_sec;
	n->ae_tokens_at = now;
	n->next_round = jitter_first(n, now, cfg->interval_ms);
	n->next_probe_tick = jitter_first(n, now, cfg->probe_interval_ms);
	n->next_ae = jitter_first(n, now, cfg->ae_interval_ms);
	n->next_reconnect = jitter_first(n, now, cfg->reconnect_interval_ms);
	n->next_sweep = now + 1000 * MS;
	n->next_dedup_advance = now + 1000 * MS;
	n->next_reclaim = now + RECLAIM_US;
	n->store.self = n->self;
	gv__stream_init(n);
	*out = n;
	return 0;

fail_members:
	gv__free(mem, n->conflicts,
		 cfg->conflict_log * sizeof(gv_conflict_info));
fail_conflicts:
	if (n->dedup_on)
		gv_dedup_fini(&n->dedup);
fail_dedup:
	gv_merkle_fini(&n->merkle);
fail_merkle:
	gv_store_fini(&n->store);
fail_store:
	gv__free(mem, n, sizeof(*n));
	return rc;
}

static void
ready_free(gv_node *n, struct ready *r)
{
	gv__free(n->mem, r, sizeof(*r) + r->alloc);
}

void
gv_node_del(gv_node *n)
{
	if (!n)
		return;
	const gv_mem *mem = n->mem;
	for (size_t i = 0; i < n->nitems; i++)
		if (n->items[i].kind == IT_RUMOR)
			n->items[i].u.r->refs--;
	n->nitems = 0;
	gv__stream_fini(n);
	gv__dissem_fini(n);
	gv__tree_fini(n);
	gv__tomb_fini(n);
	gv__watch_fini(n);
	while (n->ready_head) {
		struct ready *r = n->ready_head;
		n->ready_head = r->next;
		ready_free(n, r);
	}
	while (n->fast_head) {
		struct ready *r = n->fast_head;
		n->fast_head = r->next;
		ready_free(n, r);
	}
	gv__free(mem, n->items, n->items_cap * sizeof(struct item));
	gv__members_fini(n);
	gv__sec_fini(n);
	gv__z_fini(n);
	gv__keys_fini(n);
	gv__free(mem, n->conflicts,
		 n->cfg.conflict_log * sizeof(gv_conflict_info));
	if (n->purged_on)
		gv_dedup_fini(&n->purged);
	if (n->dedup_on)
		gv_dedup_fini(&n->dedup);
	gv__free(mem, n->seen, n->seen ? n->cfg.seen_cache * sizeof(uint64_t)
				       : 0);
	gv__hash_fini(n);
	gv_store_fini(&n->store);
	gv_merkle_fini(&n->merkle);
	gv__free(mem, n, sizeof(*n));
}

/* ------------------------------------------------------------- output */

int
gv__node_item(gv_node *n, const gv_addr *to, const struct item *it)
{
	if (n->nitems == n->items_cap) {
		if (n->items_cap >= GV_MAX_ITEMS) {
			n->st.outbox_drops++;
			return GV_EFULL;
		}
		size_t cap = n->items_cap ? n->items_cap * 2 : 64;
		struct item *p = gv__alloc(n->mem, cap * sizeof(*p));
		if (!p) {
			n->st.outbox_drops++;
			return GV_ENOMEM;
		}
		if (n->nitems)
			memcpy(p, n->items, n->nitems * sizeof(*p));
		gv__free(n->mem, n->items, n->items_cap * sizeof(*p));
		n->items = p;
		n->items_cap = cap;
	}
	struct item *slot = &n->items[n->nitems++];
	*slot = *it;
	slot->to = *to;
	if (it->kind == IT_RUMOR)
		it->u.r->refs++;
	return 0;
}

void
gv__header_for(gv_node *n, gv_wire_header *h)
{
	memset(h, 0, sizeof(*h));
	h->cluster = n->cfg.cluster;
	h->shard = n->cfg.shard;
	h->sender = n->self;
	h->incarnation = n->incarnation;
	h->seq = ++n->seq;
	h->unsummed = n->cfg.keyring != NULL; /* the tag checks it */
}

struct ready *
gv__ready_begin(gv_node *n, const gv_addr *to, bool ae, size_t cap,
		gv_wire_writer *w)
{
	if (n->cfg.ready_max_bytes &&
	    n->ready_bytes + cap > n->cfg.ready_max_bytes) {
		/* the peer asks faster than the budget sends: its session
		 * times out and a later one retries */
		n->st.outbox_drops++;
		return NULL;
	}
	struct ready *r = gv__alloc(n->mem, sizeof(*r) + cap);
	if (!r)
		return NULL;
	r->next = NULL;
	r->to = *to;
	r->ae = ae;
	r->alloc = cap;
	r->len = 0;
	gv_wire_header h;
	gv__header_for(n, &h);
	if (gv_wire_begin(w, r->data, cap, &h)) {
		ready_free(n, r);
		return NULL;
	}
	return r;
}

/* Queue a finished datagram at the end of its ready list. */
static void
ready_push(gv_node *n, struct ready *r)
{
	struct ready **head = r->ae ? &n->ready_head : &n->fast_head;
	struct ready **tail = r->ae ? &n->ready_tail : &n->fast_tail;
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
	n->nready++;
	n->ready_bytes += r->alloc;
}

void
gv__ready_commit(gv_node *n, struct ready *r, gv_wire_writer *w)
{
	if (!w->records) {
		ready_free(n, r);
		return;
	}
	r->len = (size_t)gv_wire_finish(w);
	ready_push(n, r);
}

/* anti-entropy datagrams over the stream: as big as still goes by UDP,
 * sealed, if the stream refuses one */
#define STREAM_BULK_CAP 60000

void
gv__bulk_init(struct bulk *b, gv_node *n, const gv_addr *to, bool ae)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->to = *to;
	b->ae = ae;
	/* anti-entropy's batches go over the stream channel when there is
	 * one: datagrams of up to 64 KiB, at TCP's pace, not the paced
	 * gossip budget's */
	b->stream = ae && gv__stream_on(n);
}

/* The datagram being built is complete: over the stream, or queued to
 * go out by UDP (also when the stream refuses it). */
static void
bulk_commit(struct bulk *b)
{
	gv_node *n = b->n;
	struct ready *r = b->r;
	b->r = NULL;
	if (!b->stream || !b->w.records) {
		gv__ready_commit(n, r, &b->w);
		return;
	}
	r->len = (size_t)gv_wire_finish(&b->w);
	if (gv__stream_send_dgram(n, &b->to, r->data, r->len) == 0) {
		n->st.ae_msgs_out++;
		n->st.ae_bytes_out += r->len;
		ready_free(n, r);
		return;
	}
	/* no room on the stream now: the datagram as it is (a big one goes
	 * alone, as a big value would) */
	ready_push(n, r);
}

gv_wire_writer *
gv__bulk_room(struct bulk *b, size_t size)
{
	if (b->err)
		return NULL;
	if (b->r && gv_wire_room(&b->w) >= size)
		return &b->w;
	if (b->r) {
		bulk_commit(b);
		b->datagrams++;
	}
	/* A record larger than max_datagram (a big value) travels alone
	 * in a datagram of its own, up to the largest UDP payload. */
	size_t cap = b->stream ? STREAM_BULK_CAP : b->n->cfg.max_datagram;
	if (size > cap - GV_WIRE_HEADER_LEN) {
		if (size > GV_WIRE_MAX_MTU - GV_WIRE_HEADER_LEN) {
			b->err = GV_EINVAL;
			return NULL;
		}
		cap = GV_WIRE_HEADER_LEN + size;
	}
	b->r = gv__ready_begin(b->n, &b->to, b->ae, cap, &b->w);
	if (!b->r) {
		b->err = GV_ENOMEM;
		return NULL;
	}
	if (b->stream)
		b->w.unsummed = false; /* checked as a clear datagram there */
	return &b->w;
}

void
gv__bulk_finish(struct bulk *b)
{
	if (b->r) {
		if (b->w.records)
			b->datagrams++;
		bulk_commit(b);
	}
}

/* Remove items[i] keeping the order of the rest. */
static void
item_remove(gv_node *n, size_t i)
{
	memmove(&n->items[i], &n->items[i + 1],
		(n->nitems - i - 1) * sizeof(struct item));
	n->nitems--;
}

/* Encode one control item; returns 0, or GV_ENOBUFS if it did not fit
 * (try the next datagram), or another error (drop the item). */
static int
put_item(gv_node *n, gv_wire_writer *w, struct item *it)
{
	switch (it->kind) {
	case IT_PING: {
		gv_wire_ping p = {it->u.ping.probe, it->u.ping.target};
		return gv_wire_put_ping(w, &p);
	}
	case IT_ACK: {
		gv_wire_ack a = {it->u.ack.probe, it->u.ack.flags};
		return gv_wire_put_ack(w, &a);
	}
	case IT_PING_REQ: {
		gv_wire_ping_req p = {it->u.ping.probe, it->u.ping.target,
				      it->u.ping.taddr};
		return gv_wire_put_ping_req(w, &p);
	}
	case IT_MEMBER: {
		gv_wire_member m;
		if (it->u.member.id == n->self) {
			gv__encode_self(n, &m);
		} else {
			struct member *mb = gv__member_find(n, it->u.member.id);
			if (!mb)
				return GV_ENOTFOUND;
			gv__encode_member(n, mb, it->u.member.state_override,
					  &m);
		}
		return gv_wire_put_member(w, &m);
	}
	case IT_SYNC_REQ: {
		gv_wire_sync_req s = {it->u.sync.session, it->u.sync.flags,
				      n->cfg.shards};
		return gv_wire_put_sync_req(w, &s);
	}
	case IT_RUMOR:
		return gv__put_update_rumor(n, w, it->u.r);
	case IT_GOSSIP:
		gv__piggyback(n, w, true, &it->to);
		return 0;
	case IT_PULL:
		gv__put_pull_digest(n, w);
		return 0;
	case IT_TOMB_ACK:
		return gv_wire_put_tomb_ack(w, it->u.tack, 1);
	default:
		return GV_EINVAL;
	}
}

static void
item_done(gv_node *n, size_t i)
{
	struct item *it = &n->items[i];
	if (it->kind == IT_RUMOR) {
		struct rumor *r = it->u.r;
		r->refs--;
		gv__rumor_release(n, r);
	}
	item_remove(n, i);
}

/* Item classes, sent in this order when a datagram is full. */
static int
item_class(const struct item *it)
{
	switch (it->kind) {
	case IT_PING:
	case IT_ACK:
	case IT_PING_REQ:
	case IT_MEMBER:
	case IT_SYNC_REQ:
		return 0; /* membership and liveness first */
	case IT_TOMB_ACK:
	case IT_PULL:
		return 1;
	default:
		return 2; /* data */
	}
}

/* Build one datagram for the destination of the oldest item. */
static ssize_t
send_items(gv_node *n, gv_addr *to, uint8_t *buf, size_t cap)
{
	gv_addr dest = n->items[0].to;
	gv_wire_writer w;
	gv_wire_header h;
	gv__header_for(n, &h);
	if (gv_wire_begin(&w, buf, n->cfg.max_datagram, &h))
		return GV_ENOBUFS;
	bool gossip = false;
	for (int cls = 0; cls <= 2; cls++) {
		for (size_t i = 0; i < n->nitems;) {
			struct item *it = &n->items[i];
			if (item_class(it) != cls || !gv_addr_eq(&it->to, &dest)) {
				i++;
				continue;
			}
			if (it->kind == IT_GOSSIP) {
				gossip = true;
				item_done(n, i);
				continue;
			}
			int rc = put_item(n, &w, it);
			if (rc == GV_ENOBUFS && w.records) {
				i++; /* next datagram */
				continue;
			}
			if (rc == GV_ENOBUFS && cap > w.cap) {
				/* alone and still too big for max_datagram:
				 * a big value goes in a datagram of its own */
				gv__header_for(n, &h);
				if (gv_wire_begin(&w, buf, cap, &h) == 0 &&
				    put_item(n, &w, it) == 0) {
					item_done(n, i);
					*to = dest;
					return gv_wire_finish(&w);
				}
				n->st.outbox_drops++;
			}
			item_done(n, i); /* sent, or impossible: drop */
		}
		if (cls == 0)
			gv__piggyback(n, &w, false, &dest);
	}
	if (gossip && n->updates.count && n->cfg.mode != GV_MODE_PULL)
		gv__fill_updates(n, &w, &dest); /* member rumors went in above */
	if (!w.records)
		return 0;
	*to = dest;
	return gv_wire_finish(&w);
}

static void
ae_refill(gv_node *n, gv_time now)
{
	double rate = (double)n->cfg.ae_bytes_per_sec;
	if (!rate)
		return;
	double dt = (double)(now - n->ae_tokens_at) / 1e6;
	n->ae_tokens_at = now;
	n->ae_tokens += dt * rate;
	/* a burst of at most a quarter second of budget */
	double burst = rate / 4 > 65536 ? rate / 4 : 65536;
	if (n->ae_tokens > burst)
		n->ae_tokens = burst;
}

static ssize_t
send_clear(gv_node *n, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	while (n->nitems) {
		ssize_t len = send_items(n, to, buf, cap);
		if (len < 0)
			return len;
		if (len > 0) {
			n->st.dgrams_out++;
			n->st.bytes_out += (uint64_t)len;
			return len;
		}
	}
	ssize_t flen = gv__flood_send(n, to, buf, cap);
	if (flen > 0) {
		n->st.dgrams_out++;
		n->st.bytes_out += (uint64_t)flen;
	}
	if (flen)
		return flen;
	struct ready **head = n->fast_head ? &n->fast_head : &n->ready_head;
	struct ready **tail = n->fast_head ? &n->fast_tail : &n->ready_tail;
	struct ready *r = *head;
	if (!r)
		return 0;
	if (r->len > cap) {
		/* a big-value datagram and a caller buffer too small for it */
		*head = r->next;
		if (!*head)
			*tail = NULL;
		n->nready--;
		n->ready_bytes -= r->alloc;
		ready_free(n, r);
		n->st.outbox_drops++;
		return send_clear(n, now, to, buf, cap);
	}
	if (r->ae && n->cfg.ae_bytes_per_sec) {
		ae_refill(n, now);
		if (n->ae_tokens < (double)r->len)
			return 0; /* paced: next_expiry says when */
		n->ae_tokens -= (double)r->len;
		n->st.ae_msgs_out++;
		n->st.ae_bytes_out += r->len;
	}
	*head = r->next;
	if (!*head)
		*tail = NULL;
	n->nready--;
	n->ready_bytes -= r->alloc;
	memcpy(buf, r->data, r->len);
	*to = r->to;
	ssize_t len = (ssize_t)r->len;
	ready_free(n, r);
	n->st.dgrams_out++;
	n->st.bytes_out += (uint64_t)len;
	return len;
}

ssize_t
gv_node_send(gv_node *n, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	if (!n || !to || !buf)
		return GV_EINVAL;
	/* with a keyring, cfg.max_datagram is already short of the tag */
	size_t over = n->cfg.keyring ? GV_SEAL_OVERHEAD : 0;
	if (cap < n->cfg.max_datagram + over)
		return GV_ENOBUFS;
	if (cap > GV_WIRE_MAX_MTU)
		cap = GV_WIRE_MAX_MTU;
	n->now = now;
	for (;;) {
		ssize_t len = send_clear(n, now, to, buf, cap - over);
		if (len > 0)
			len = (ssize_t)gv__z_pack(n, buf, (size_t)len);
		if (len <= 0 || !over)
			return len;
		ssize_t sealed = gv__sec_seal(n, buf, (size_t)len, cap);
		if (sealed > 0) {
			n->st.bytes_out += GV_SEAL_OVERHEAD;
			return sealed;
		}
		/* not sealable (seal_errors): never send it clear; it was
		 * not sent, so it does not count as sent either */
		n->st.dgrams_out--;
		n->st.bytes_out -= (uint64_t)len;
	}
}

/* ------------------------------------------------------------- intake */

static int recv_records(gv_node *n, gv_time now, const gv_addr *from,
			const gv_wire_header *hp, gv_wire_reader *rdp,
			size_t len);

int
gv_node_recv(gv_node *n, gv_time now, const gv_addr *from, const uint8_t *buf,
	     size_t len)
{
	if (!n || !from || (!buf && len))
		return GV_EINVAL;
	n->now = now;
	n->st.dgrams_in++;
	n->st.bytes_in += len;
	gv_wire_reader rd;
	gv_wire_header h;
	int rc;
	if (n->cfg.keyring || (len > 3 && (buf[3] & ~GV_WIRE_FLAG_ZSTD))) {
		/* sealed gossip: open it (sec.c counts every refusal) */
		rc = gv__sec_open(n, buf, len, &h, &buf, &len);
		if (rc)
			return rc;
		gv_wire_open_plain(&rd, buf, len);
	} else if ((rc = gv_wire_open(&rd, &h, buf, len, n->cfg.cluster))) {
		if (rc == GV_ECLUSTER)
			n->st.dgrams_foreign++;
		else
			n->st.dgrams_bad++;
		return rc;
	}
	return recv_records(n, now, from, &h, &rd, len);
}

/* A whole clear datagram that came over the stream channel (a batch of
 * anti-entropy records too big for gossip): the transport authenticated
 * it; its checksum and header are checked as a datagram's. */
int
gv__recv_stream_dgram(gv_node *n, gv_time now, const gv_addr *from,
		      const uint8_t *buf, size_t len)
{
	gv_wire_reader rd;
	gv_wire_header h;
	int rc = gv_wire_open(&rd, &h, buf, len, n->cfg.cluster);
	if (rc) {
		n->st.stream_bad++;
		return rc;
	}
	return recv_records(n, now, from, &h, &rd, len);
}

static int
recv_records(gv_node *n, gv_time now, const gv_addr *from,
	     const gv_wire_header *hp, gv_wire_reader *rdp, size_t len)
{
	const gv_wire_header h = *hp;
	gv_wire_reader rd = *rdp;
	int rc;
	if (h.shard != n->cfg.shard) {
		n->st.dgrams_foreign++;
		return GV_ECLUSTER;
	}
	if (h.sender == n->self)
		return 0; /* our own datagram came back */
	if (h.flags & GV_WIRE_FLAG_ZSTD) {
		/* inflated into the node's scratch; rd moves onto it */
		const uint8_t *zb = rd.buf;
		if ((rc = gv__z_unpack(n, &rd, &zb, &len)))
			return rc;
	}
	/*
	 * The first records are decoded ahead, so that what their updates
	 * will touch is prefetched together (gv__prefetch_updates), then
	 * handled in order; the rest, if any, one at a time.
	 */
	gv_wire_record ahead[GV_RECV_AHEAD], one;
	uint64_t khs[GV_RECV_AHEAD], ids[GV_RECV_AHEAD];
	size_t nahead = 0;
	while (nahead < GV_RECV_AHEAD &&
	       (rc = gv_wire_next(&rd, &ahead[nahead])) == 1)
		nahead++;
	gv__prefetch_updates(n, ahead, khs, ids, nahead);
	bool ae_counted = false;
	for (size_t i = 0;; i++) {
		const gv_wire_record *rec;
		uint64_t kh = 0, id = 0;
		if (i < nahead) {
			rec = &ahead[i];
			kh = khs[i];
			id = ids[i];
		} else if (rc == 1 && (rc = gv_wire_next(&rd, &one)) == 1) {
			rec = &one;
		} else {
			break;
		}
		switch (rec->type) {
		case GV_REC_UPDATE:
			gv__on_update(n, now, from, h.sender, &rec->u.update,
				      kh, id);
			break;
		case GV_REC_PING:
			gv__on_ping(n, now, from, h.sender, &rec->u.ping);
			break;
		case GV_REC_ACK:
			gv__on_ack(n, now, from, h.sender, &rec->u.ack);
			break;
		case GV_REC_PING_REQ:
			gv__on_ping_req(n, now, from, &rec->u.ping_req);
			break;
		case GV_REC_MEMBER:
			gv__on_member_record(n, now, from, h.sender,
					     &rec->u.member);
			break;
		case GV_REC_SYNC_REQ:
			gv__on_sync_req(n, now, from, h.sender,
					&rec->u.sync_req);
			break;
		case GV_REC_MERKLE_REQ:
			gv__on_merkle_req(n, now, from, &rec->u.merkle_req);
			goto ae;
		case GV_REC_MERKLE_RESP:
			gv__on_merkle_resp(n, now, from, &rec->u.merkle_resp);
			goto ae;
		case GV_REC_ENTRIES_REQ:
			gv__on_entries_req(n, now, from, &rec->u.entries_req);
			goto ae;
		case GV_REC_ENTRIES_RESP:
			goto ae;
		case GV_REC_PULL_DIGEST:
			if (rec->u.pull_digest.bucket == GV_PULL_QUERY ||
			    rec->u.pull_digest.bucket == GV_PULL_ANSWER) {
				gv__on_watch(n, now, from, &rec->u.pull_digest);
				break;
			}
			if (rec->u.pull_digest.bucket == GV_PULL_RECENT) {
				gv__on_pull_recent(n, now, from,
						   &rec->u.pull_digest);
				break;
			}
			gv__on_leaf_digest(n, now, from, &rec->u.pull_digest);
			goto ae;
		case GV_REC_TOMB_ACK:
			gv__on_tomb_ack(n, now, h.sender, &rec->u.tomb_ack);
			break;
		case GV_REC_PURGE:
			gv__on_purge(n, now, &rec->u.purge);
			break;
		case GV_REC_TREE:
			gv__on_tree(n, now, from, h.sender, &rec->u.tree);
			break;
		default:
			break;
		}
		continue;
	ae:
		if (!ae_counted) {
			ae_counted = true;
			n->st.ae_msgs_in++;
			n->st.ae_bytes_in += len;
		}
	}
	if (rc < 0) {
		n->st.dgrams_bad++;
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------------- timers */

static gv_time
tmin(gv_time a, gv_time b)
{
	return a < b ? a : b;
}

gv_time
gv_node_next_expiry(const gv_node *n)
{
	gv_time t = n->next_round;
	t = tmin(t, n->next_ae);
	t = tmin(t, n->next_sweep);
	t = tmin(t, n->next_dedup_advance);
	if (n->store.expiring)
		t = tmin(t, n->next_reclaim);
	if (!n->statics && !n->cfg.external_membership) {
		t = tmin(t, n->next_probe_tick);
		t = tmin(t, n->next_reconnect);
		t = tmin(t, n->form_at);
		t = tmin(t, gv__members_next(n));
	}
	t = tmin(t, gv__ae_next(n));
	if (n->flood.q[n->flood.pend].nents && !n->flood.active)
		t = tmin(t, n->flood.last_pass + n->cfg.flood_gap_us);
	if (n->ae_kick)
		t = tmin(t, n->now);
	t = tmin(t, gv__tree_next(n));
	t = tmin(t, gv__stream_next(n));
	/* paced anti-entropy output waiting for budget */
	if (!n->nitems && n->ready_head && n->ready_head->ae &&
	    n->cfg.ae_bytes_per_sec) {
		double need = (double)n->ready_head->len - n->ae_tokens;
		gv_time wait = need <= 0 ? 0
					 : (gv_time)(need * 1e6 /
						     (double)n->cfg
							     .ae_bytes_per_sec) +
						   1;
		t = tmin(t, n->ae_tokens_at + wait);
	}
	return t;
}

/*
 * The next tick of a periodic timer: one period after the tick that was
 * due, not after `now`. A caller that runs timers late (a busy loop
 * serving many nodes) would otherwise pull every late node onto the same
 * instant, and nodes meant to tick at random phases drift into lockstep
 * for good. Periods missed entirely are skipped.
 */
static gv_time
rearm(gv_time due, gv_time period, gv_time now)
{
	gv_time next = due + period;
	if (next <= now)
		next = now + period - (now - due) % period;
	return next;
}

/* An expired entry turned into its tombstone: acknowledged to its origin
 * and collected like a delete's (tomb.c). */
static void
reclaimed(void *ud, const gv_record *tomb)
{
	gv_node *n = ud;
	n->st.expired_reclaimed++;
	if (gv_key_reserved(tomb->key, tomb->klen))
		gv__hash_on_entry(n, n->now, tomb);
	gv__tomb_stored(n, n->now, tomb);
}

/*
 * The active expiry cycle: a bounded slice of the table each tick (at
 * most RECLAIM_SLOTS slots, at least 1/50 of it), so a table of expired
 * entries is reclaimed within seconds and no tick costs more than about
 * a millisecond.
 */
static void
reclaim_tick(gv_node *n, gv_time now)
{
	if (!n->store.expiring)
		return;
	n->store.now_ms = gv__cluster_ms(n, now);
	size_t slots = n->store.cap / 50;
	if (slots < 1024)
		slots = 1024;
	if (slots > RECLAIM_SLOTS)
		slots = RECLAIM_SLOTS;
	gv_store_reclaim(&n->store, &n->reclaim_cursor, slots, reclaimed, n);
}

int
gv_node_handle_expiry(gv_node *n, gv_time now)
{
	n->now = now;
	if (n->cfg.keyring)
		gv__keys_publish(n, now); /* when the ring changed */
	if (now >= n->next_round) {
		gv__round_tick(n, now);
		n->next_round = rearm(n->next_round, n->cfg.interval_ms * MS,
				      now);
	}
	if (!n->statics && !n->cfg.external_membership) {
		if (now >= n->next_probe_tick) {
			gv__probe_tick(n, now);
			n->next_probe_tick =
				now + n->cfg.probe_interval_ms * MS *
					      (uint64_t)(n->awareness + 1);
		}
		gv__members_timers(n, now);
		if (now >= n->form_at)
			gv__form_tick(n, now);
		if (now >= n->next_reconnect) {
			gv__reconnect_tick(n, now);
			n->next_reconnect = rearm(n->next_reconnect,
						  n->cfg.reconnect_interval_ms *
							  MS,
						  now);
		}
	}
	gv__tree_tick(n, now);
	bool periodic = now >= n->next_ae;
	gv__ae_tick(n, now, periodic || n->ae_kick);
	n->ae_kick = false;
	if (periodic)
		n->next_ae = n->cfg.ae_interval_ms
				     ? rearm(n->next_ae,
					     n->cfg.ae_interval_ms * MS, now)
				     : GV_TIME_NEVER;
	if (now >= n->next_sweep) {
		gv__tomb_sweep(n, now);
		if (!n->statics)
			gv__members_reap(n, now);
		n->next_sweep = now + 1000 * MS;
	}
	if (now >= n->next_dedup_advance) {
		/* generations of about a second: the dedup window is ~4 s,
		 * beyond any rumor's life; purged tombstones stay known for
		 * ~4 anti-entropy intervals */
		if (n->dedup_on)
			gv_dedup_advance(&n->dedup);
		if (n->purged_on)
			gv_dedup_advance(&n->purged);
		n->next_dedup_advance = now + 1000 * MS;
	}
	if (now >= n->next_reclaim) {
		reclaim_tick(n, now);
		n->next_reclaim = now + RECLAIM_US;
	}
	gv__stream_tick(n, now);
	gv__recent_expire(n, now);
	return 0;
}

/* ------------------------------------------------------------- endpoint */

static int
ep_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
	size_t len)
{
	return gv_node_recv(ep, now, from, buf, len);
}

static ssize_t
ep_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	return gv_node_send(ep, now, to, buf, cap);
}

static gv_time
ep_next(void *ep)
{
	return gv_node_next_expiry(ep);
}

static int
ep_expiry(void *ep, gv_time now)
{
	return gv_node_handle_expiry(ep, now);
}

/* Positional: the field names are poisoned identifiers in the core. */
const gv_endpoint_ops gv_node_ops = {ep_recv, ep_send, ep_next, ep_expiry};

/* ------------------------------------------------------------- data */

void
gv__record_conflict(gv_node *n, const gv_record *winner,
		    const gv_record *loser)
{
	if (n->cfg.cb.on_conflict)
		n->cfg.cb.on_conflict(n->cfg.ud, winner, loser, n->now);
	if (!n->cfg.conflict_log)
		return;
	gv_conflict_info *c = &n->conflicts[n->conflict_pos];
	n->conflict_pos = (n->conflict_pos + 1) % n->cfg.conflict_log;
	if (n->nconflicts < n->cfg.conflict_log)
		n->nconflicts++;
	memset(c, 0, sizeof(*c));
	c->klen = winner->klen;
	if (!gv__hash_display(winner->key, winner->klen, c->key,
			      sizeof(c->key), &c->klen))
		memcpy(c->key, winner->key,
		       winner->klen < sizeof(c->key) ? winner->klen
						     : sizeof(c->key));
	c->winner = winner->ver;
	c->loser = loser->ver;
	c->winner_vlen = winner->vlen;
	c->loser_vlen = loser->vlen;
	memcpy(c->winner_val, winner->val,
	       winner->vlen < sizeof(c->winner_val) ? winner->vlen
						    : sizeof(c->winner_val));
	memcpy(c->loser_val, loser->val,
	       loser->vlen < sizeof(c->loser_val) ? loser->vlen
						  : sizeof(c->loser_val));
	c->winner_tomb = winner->tombstone;
	c->loser_tomb = loser->tombstone;
	c->at = n->now;
}

size_t
gv_node_conflicts(const gv_node *n, gv_conflict_info *out, size_t max)
{
	size_t k = 0;
	size_t cap = n->cfg.conflict_log;
	for (size_t i = 0; i < n->nconflicts && k < max; i++) {
		size_t pos = (n->conflict_pos + cap - 1 - i) % cap;
		out[k++] = n->conflicts[pos];
	}
	return k;
}

/* A local write of key at version ver, stored and disseminated. */
static int
write_entry_ver(gv_node *n, gv_time now, const void *key, size_t klen,
		const void *val, size_t vlen, uint8_t kind, uint64_t expire,
		bool cond, const gv_version *ver, int priority, bool del,
		gv_record *out)
{
	gv_record rec;
	bool reserved = gv_key_reserved(key, klen);
	gv_version seen;
	int rc;
	if (!reserved && n->hidx.count && gv__hash_seen(n, key, klen, &seen))
		/* over a live hash: this write replaces all of it (its fields
		 * die, hash.c), which its receivers must not take for a write
		 * concurrent with them; a DEL writes its tombstone here even
		 * if the key holds no entry of its own */
		rc = gv_store_write_seen(&n->store, key, klen, val, vlen, kind,
					 expire, del, &seen, ver, &rec);
	else if (del)
		rc = gv_store_del(&n->store, key, klen, ver, &rec);
	else
		rc = gv_store_put_ex(&n->store, key, klen, val, vlen, kind,
				     expire, cond, ver, &rec);
	if (rc)
		return rc;
	n->st.updates_local++;
	if (reserved) {
		gv__keys_on_entry(n, now, &rec);
	} else {
		if (n->hidx.count)
			gv__hash_on_plain(n, now, &rec, false);
		if (n->cfg.cb.on_update)
			n->cfg.cb.on_update(n->cfg.ud, &rec, -1, now);
	}
	if (del)
		gv__tomb_stored(n, now, &rec);
	gv__spread_update(n, now, &rec, priority, 0, true);
	if (out)
		*out = rec;
	return 0;
}

/* The checks every local write makes; sets the store's clock. */
static int
write_check(gv_node *n, gv_time now, const void *key, size_t klen,
	    const void *val, size_t vlen, uint8_t kind, uint64_t expire,
	    int priority)
{
	if (!n || (klen && !key) || (vlen && !val))
		return GV_EINVAL;
	if (priority < GV_PRIO_LOW || priority > GV_PRIO_CRITICAL)
		return GV_EINVAL;
	if (n->partitioned && n->cfg.read_only_in_minority)
		return GV_EREADONLY;
	if (klen > GV_MAX_KEY)
		return GV_EKEYSIZE;
	/* a write must fit in one datagram to replicate, or go by the
	 * stream channel (announced in a datagram: the key must fit) */
	if (gv__stream_on(n) && vlen > n->cfg.stream_threshold) {
		if (vlen > n->store.max_value)
			return GV_EVALSIZE;
	} else if (GV_WIRE_HEADER_LEN +
			   gv_wire_update_size_meta(klen, vlen, kind,
						    expire) >
		   GV_WIRE_MAX_MTU) {
		return GV_EVALSIZE;
	}
	n->now = now;
	n->store.now_ms = gv__cluster_ms(n, now);
	return 0;
}

int
gv__write_local(gv_node *n, gv_time now, const void *key, size_t klen,
		const void *val, size_t vlen, uint8_t kind, uint64_t expire,
		const gv_version *ver, int priority, bool del, gv_record *out)
{
	int rc = write_check(n, now, key, klen, val, vlen, kind, expire,
			     priority);
	if (rc)
		return rc;
	return write_entry_ver(n, now, key, klen, val, vlen, kind, expire,
			       false, ver, priority, del, out);
}

static int
write_entry(gv_node *n, gv_time now, const void *key, size_t klen,
	    const void *val, size_t vlen, uint64_t expire, int priority,
	    bool del)
{
	int rc = write_check(n, now, key, klen, val, vlen, 0, expire,
			     priority);
	if (rc)
		return rc;
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	return write_entry_ver(n, now, key, klen, val, vlen, 0, expire, false,
			       &ver, priority, del, NULL);
}

static int
local_write(gv_node *n, gv_time now, const void *key, size_t klen,
	    const void *val, size_t vlen, uint64_t expire, int priority,
	    bool del)
{
	if (klen && key && gv_key_reserved(key, klen))
		return GV_EINVAL; /* the engine's own entries */
	return write_entry(n, now, key, klen, val, vlen, expire, priority,
			   del);
}

int
gv__reserved_write(gv_node *n, gv_time now, const void *key, size_t klen,
		   const void *val, size_t vlen)
{
	return write_entry(n, now, key, klen, val, vlen, 0, GV_PRIO_CRITICAL,
			   false);
}

int
gv_node_put(gv_node *n, gv_time now, const void *key, size_t klen,
	    const void *val, size_t vlen, int priority)
{
	return local_write(n, now, key, klen, val, vlen, 0, priority, false);
}

int
gv_node_put_ex(gv_node *n, gv_time now, const void *key, size_t klen,
	       const void *val, size_t vlen, uint64_t expire, int priority)
{
	return local_write(n, now, key, klen, val, vlen, expire, priority,
			   false);
}

static int
put_cond(gv_node *n, gv_time now, const void *key, size_t klen,
	 const void *val, size_t vlen, uint64_t expire, int priority,
	 bool absent)
{
	if (klen && key && gv_key_reserved(key, klen))
		return GV_EINVAL;
	int rc = write_check(n, now, key, klen, val, vlen, 0, expire,
			     priority);
	if (rc)
		return rc;
	if (absent && gv_store_get(&n->store, key, klen, NULL) == 0)
		return 1;
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	return write_entry_ver(n, now, key, klen, val, vlen, 0, expire, true,
			       &ver, priority, false, NULL);
}

int
gv_node_put_nx(gv_node *n, gv_time now, const void *key, size_t klen,
	       const void *val, size_t vlen, uint64_t expire, int priority)
{
	return put_cond(n, now, key, klen, val, vlen, expire, priority, true);
}

int
gv_node_put_cond(gv_node *n, gv_time now, const void *key, size_t klen,
		 const void *val, size_t vlen, uint64_t expire, int priority)
{
	return put_cond(n, now, key, klen, val, vlen, expire, priority, false);
}

int
gv_node_delete(gv_node *n, gv_time now, const void *key, size_t klen,
	       int priority)
{
	return local_write(n, now, key, klen, NULL, 0, 0, priority, true);
}

uint64_t
gv_node_clock_ms(gv_node *n, gv_time now)
{
	return gv__cluster_ms(n, now);
}

int
gv_node_get_at(gv_node *n, gv_time now, const void *key, size_t klen,
	       gv_record *out)
{
	if (key && gv_key_reserved(key, klen))
		return GV_ENOTFOUND;
	n->store.now_ms = gv__cluster_ms(n, now);
	return gv_store_get(&n->store, key, klen, out);
}

/* Write counter state c of key (its version computed from it). */
int
gv__write_counter(gv_node *n, gv_time now, const void *key, size_t klen,
	      const gv_counter *c, int priority, gv_record *out)
{
	uint8_t buf[GV_COUNTER_MAX_ENC];
	ssize_t len = gv_counter_encode(c, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	int rc = write_check(n, now, key, klen, buf, (size_t)len,
			     GV_KIND_COUNTER, c->expire, priority);
	if (rc)
		return rc;
	gv_version ver = gv_counter_ver(c);
	/* the state's version is one of this clock's timestamps (or older,
	 * for an EXPIRE that changed only the register): keep the clock
	 * ahead of it */
	gv_hlc_observe(&n->hlc, ver.hlc, gv__wall_ms(n, now));
	return write_entry_ver(n, now, key, klen, buf, (size_t)len,
			       GV_KIND_COUNTER, c->expire, false, &ver,
			       priority, false, out);
}

/*
 * The counter of key as it stands (live entry r, or none): a counter's
 * decoded state, or a new one whose base is a string's number. Returns 0,
 * GV_ENOTINT / GV_ENOTFLOAT (a string that is not a number of that kind).
 */
int
gv__counter_of(gv_node *n, const void *key, size_t klen, bool live,
	       const gv_record *r, bool want_float, gv_counter *c)
{
	memset(c, 0, offsetof(gv_counter, slots));
	if (live && r->kind == GV_KIND_COUNTER)
		return gv_counter_decode(r->val, r->vlen, c) ? GV_EINVAL : 0;
	gv_record old;
	if (live) {
		c->epoch = r->ver;
		c->expire = r->expire;
		c->exp_ver = r->ver;
		if (gv_parse_i64(r->val, r->vlen, &c->base_i))
			return 0;
		if (!want_float)
			return GV_ENOTINT;
		if (!gv_parse_ld(r->val, r->vlen, &c->base_f))
			return GV_ENOTFLOAT;
		c->base_float = true;
	} else if (gv_store_lookup(&n->store, key, klen, &old) == 0) {
		/* deleted or expired: the counter starts from that write */
		c->epoch = old.ver;
	}
	return 0;
}

int
gv_node_incr(gv_node *n, gv_time now, const void *key, size_t klen,
	     const gv_incr *by, int priority, gv_record *out)
{
	if (!n || !by || (klen && !key) || gv_key_reserved(key, klen))
		return GV_EINVAL;
	n->store.now_ms = gv__cluster_ms(n, now);
	gv_record r;
	bool live = gv_store_get(&n->store, key, klen, &r) == 0;
	gv_counter c;
	int rc = gv__counter_of(n, key, klen, live, &r, by->is_float, &c);
	if (rc || (rc = gv__counter_fits(&c, by)))
		return rc;
	return gv__counter_step(n, now, key, klen, &c, by, priority, out);
}

int
gv__counter_fits(const gv_counter *c, const gv_incr *by)
{
	if (by->is_float) {
		long double v = gv_counter_float(c) + by->df;
		if (isnan(v) || isinf(v))
			return GV_ENANINF;
		return 0;
	}
	int64_t v;
	if (gv_counter_int(c, &v))
		return GV_ENOTINT;
	if ((by->di > 0 && v > INT64_MAX - by->di) ||
	    (by->di < 0 && v < INT64_MIN - by->di))
		return GV_EOVERFLOW;
	return 0;
}

int
gv__counter_step(gv_node *n, gv_time now, const void *key, size_t klen,
		 gv_counter *c, const gv_incr *by, int priority,
		 gv_record *out)
{
	uint64_t t = gv_hlc_now(&n->hlc, gv__wall_ms(n, now));
	int rc = gv_counter_add(c, n->counter_slot, t, by->di, by->df,
				by->is_float);
	if (rc)
		return rc;
	rc = gv__write_counter(n, now, key, klen, c, priority, out);
	if (rc == 0)
		n->st.counter_incrs++;
	return rc;
}

int
gv_node_expire(gv_node *n, gv_time now, const void *key, size_t klen,
	       uint64_t expire, int priority)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen))
		return GV_EINVAL;
	n->store.now_ms = gv__cluster_ms(n, now);
	if (expire && expire <= n->store.now_ms)
		return GV_EINVAL;
	gv_record r;
	int rc = gv_store_get(&n->store, key, klen, &r);
	if (rc)
		return rc;
	if (r.kind == GV_KIND_COUNTER) {
		gv_counter c;
		if (gv_counter_decode(r.val, r.vlen, &c))
			return GV_EINVAL;
		gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)),
				  n->self};
		rc = gv_counter_set_expire(&c, n->counter_slot, &ver, expire);
		if (rc)
			return rc;
		return gv__write_counter(n, now, key, klen, &c, priority, NULL);
	}
	/* r's bytes are the store's: put_ex copies them before it frees */
	return write_entry(n, now, key, klen, r.val, r.vlen, expire, priority,
			   false);
}

int
gv_node_import(gv_node *n, gv_time now, const gv_record *rec)
{
	if (!n || !rec)
		return GV_EINVAL;
	n->now = now;
	gv_hlc_observe(&n->hlc, rec->ver.hlc, gv__wall_ms(n, now));
	if (gv__flushed(n, &rec->ver) && !gv__key_sys(rec->key, rec->klen))
		return GV_MERGE_STALE;
	n->store.now_ms = gv__cluster_ms(n, now);
	bool reserved = gv_key_reserved(rec->key, rec->klen);
	if (reserved && gv__hash_refuse(n, now, rec))
		return GV_MERGE_STALE;
	gv_record out;
	int res = gv_store_merge_out(&n->store, rec, 0, NULL, NULL, &out);
	if (res == GV_MERGE_APPLIED || res == GV_MERGE_CONFLICT_APPLIED) {
		if (reserved)
			gv__keys_on_entry(n, now, &out);
		else if (n->hidx.count)
			gv__hash_on_plain(n, now, &out, true);
	}
	return res;
}

void
gv_node_set_journal(gv_node *n, gv_journal_fn fn, void *ud)
{
	if (!n)
		return;
	n->store.journal = fn;
	n->store.journal_ud = ud;
}

int
gv_node_load(gv_node *n, gv_time now, const gv_record *rec)
{
	if (!n || !rec)
		return GV_EINVAL;
	n->now = now;
	gv_hlc_observe(&n->hlc, rec->ver.hlc, gv__wall_ms(n, now));
	n->store.now_ms = 0; /* exactly as given: nothing expires here */
	return gv_store_load(&n->store, rec);
}

int
gv_node_load_reserve(gv_node *n, size_t count)
{
	return n ? gv_store_reserve(&n->store, count) : GV_EINVAL;
}

int
gv_node_load_remove(gv_node *n, const void *key, size_t klen)
{
	if (!n)
		return GV_EINVAL;
	void (*j)(void *, const gv_record *, bool) = n->store.journal;
	n->store.journal = NULL;
	int rc = gv_store_remove(&n->store, key, klen);
	n->store.journal = j;
	return rc == GV_ENOTFOUND ? 0 : rc;
}

/* The engine's own reserved entries (not hashes'), copied out: acting on
 * them may change the store (a flush drops entries). */
struct sys_copy {
	gv_record *v;
	size_t n, cap;
	const gv_mem *mem;
	int err;
};

static int
copy_sys(void *ud, const gv_record *r)
{
	struct sys_copy *c = ud;
	if (r->tombstone || !gv__key_sys(r->key, r->klen))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		gv_record *v = gv__alloc(c->mem, cap * sizeof(*v));
		if (!v)
			return c->err = GV_ENOMEM;
		if (c->n)
			memcpy(v, c->v, c->n * sizeof(*v));
		gv__free(c->mem, c->v, c->cap * sizeof(*v));
		c->v = v;
		c->cap = cap;
	}
	gv_record *o = &c->v[c->n];
	*o = *r;
	uint8_t *b = gv__alloc(c->mem, r->klen + r->vlen + 1);
	if (!b)
		return c->err = GV_ENOMEM;
	memcpy(b, r->key, r->klen);
	if (r->vlen)
		memcpy(b + r->klen, r->val, r->vlen);
	o->key = b;
	o->val = r->vlen ? b + r->klen : NULL;
	c->n++;
	return 0;
}

int
gv_node_load_end(gv_node *n, gv_time now)
{
	if (!n)
		return GV_EINVAL;
	n->now = now;
	n->store.now_ms = gv__cluster_ms(n, now);
	struct sys_copy c = {.mem = n->mem};
	(void)gv_store_foreach(&n->store, copy_sys, &c);
	/* a flush's cut and the keyring's entries, as gossip applies them
	 * (a flush keeps the engine's own entries: the order is free) */
	for (size_t i = 0; i < c.n; i++)
		gv__keys_on_entry(n, now, &c.v[i]);
	for (size_t i = 0; i < c.n; i++)
		gv__free(n->mem, (void *)c.v[i].key,
			 c.v[i].klen + c.v[i].vlen + 1);
	gv__free(n->mem, c.v, c.cap * sizeof(*c.v));
	gv__hash_rebuild(n);
	return c.err;
}

int
gv_node_sync(gv_node *n, gv_time now, gv_node_id peer, const gv_addr *addr)
{
	if (!n || !addr)
		return GV_EINVAL;
	n->now = now;
	unsigned before = 0;
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++)
		before += n->ae[i].used;
	gv__ae_start(n, now, peer, addr);
	unsigned after = 0;
	for (int i = 0; i < GV_MAX_AE_SESSIONS; i++)
		after += n->ae[i].used;
	return after > before ? 0 : GV_EFULL;
}

int
gv_node_get(const gv_node *n, const void *key, size_t klen, gv_record *out)
{
	if (key && gv_key_reserved(key, klen))
		return GV_ENOTFOUND; /* the engine's own (they hold keys) */
	return gv_store_get(&n->store, key, klen, out);
}

size_t
gv_node_reserved_count(const gv_node *n)
{
	return n->store.reserved_live;
}

uint64_t
gv_node_root(gv_node *n)
{
	return gv_merkle_root(&n->merkle);
}

const gv_store *
gv_node_store(const gv_node *n)
{
	return &n->store;
}

double
gv_node_reach(const gv_node *n)
{
	return n->reach;
}

bool
gv_node_partitioned(const gv_node *n)
{
	return n->partitioned;
}

const gv_node_stats *
gv_node_get_stats(const gv_node *n)
{
	gv_node *m = (gv_node *)n;
	m->st.awareness = (uint64_t)n->awareness;
	m->st.hlc_rejected = n->hlc.rejected;
	for (int i = 0; i < GV_MERGE_NRESULTS; i++)
		m->st.merge[i] = n->store.merges[i];
	m->st.counter_joins = n->store.joins;
	return &n->st;
}
