/* SPDX-License-Identifier: MIT */
/*
 * netcluster.c - gv_nodes on real loopback sockets, with measurement (see
 * netcluster.h). Set-up happens on the driver's thread before any worker
 * runs: every socket is bound first (a node must know its own address to
 * be created), then the nodes are created, prejoined and attached, and
 * only then do the worker threads start, so no node is ever touched by
 * two threads. Each worker is a gv_shard (engine/shard: the runtime the
 * daemon runs its nodes on) whose nodes are this worker's share. From
 * then on the driver talks to a worker only through its shard's command
 * ring, and reads what the workers publish through atomics and the
 * shards' snapshots (the counters).
 *
 * The nodes are created at a start time t0 a little in the future, after
 * the set-up will have finished. A node draws the phase of its gossip
 * round (and probe) timer at random from its creation time; created at
 * the real time instead, every node whose first round fell due during
 * the set-up (60 ms for 150 nodes, more than half a round) would be run
 * by the first loop iteration with one `now`, and since a node re-arms its
 * round from the time it ran, those nodes would tick in lockstep for the
 * rest of the run, unlike nodes on separate machines. Nothing calls a
 * node before t0 but gv_shard_attach's drain of its (empty) send queue:
 * no timer is due and no peer sends before then.
 */
#include "netcluster.h"

#include "bench_util.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/counter.h"
#include "core/rng.h"
#include "io/io.h"
#include "shard/shard.h"
#include "zbench.h"

#define RING_CAP 16384 /* commands per worker ring */
#define KEY_MAX 32

/* netcluster_stats is a flat run of uint64_t counters, summed and
 * subtracted as an array. */
#define NCOUNTERS (sizeof(netcluster_stats) / sizeof(uint64_t))
_Static_assert(sizeof(netcluster_stats) % sizeof(uint64_t) == 0,
               "netcluster_stats holds uint64_t counters only");

enum cmd_kind {
	CMD_PUT = 1, /* tracked write: arg = track */
	CMD_BG,      /* background write: arg = key number */
	CMD_WRITE,   /* logged write: arg = write number */
	CMD_READ,    /* publish roots and values: arg = sequence number */
	CMD_KILL,    /* crash the node */
	CMD_RESTART, /* start it again empty: arg = seed node */
	CMD_TP,      /* throughput write: arg = its sequence number */
	CMD_JOIN,    /* join through the seeds (cfg.join_seeds) */
};

/* One slot of a worker's command ring (copied in and out). */
struct cmd {
	uint32_t kind;
	uint32_t ep; /* the node's index on its worker */
	uint64_t arg;
};

/* One io worker: a shard hosting nodes idx, idx + W, idx + 2W, ... */
struct worker {
	netcluster *c;
	unsigned idx;
	gv_shard *sh;
	gv_rng loss_rng; /* worker thread only */
	gv_time put_now; /* time of the put being executed */
	uint8_t *val;    /* value scratch, value_size bytes */
	uint8_t *pool;   /* VAL_POOL different values (background and
	                  * throughput writes take them in turn: a run of
	                  * writes in one datagram does not repeat a value,
	                  * which would flatter compression) */
	/* worker thread only; published through the shard's snapshot */
	uint64_t ev_suspect, ev_dead, bg_puts, put_errors, tp_overtaken;
	uint64_t ev_conflict, down_puts;
	/*
	 * The answer to a CMD_READ: release by the worker after it wrote
	 * netcluster_read's output arrays, acquire by the driver before it
	 * reads them: the driver never reads half-written outputs.
	 */
	_Atomic uint64_t rd_seq;
	bool dirty;      /* driver only: background puts queued since flush */
	uint64_t ticket; /* driver only: netcluster_snapshot's request */
};

struct nodectx {
	netcluster *c;
	struct worker *w;
	size_t idx;
};

struct track {
	/* Injection time (0 until the put ran), the put's error. Written
	 * once by the writer's worker; relaxed: the values carry no other
	 * data, and the driver's reads after `reached` are ordered by it. */
	_Atomic gv_time injected;
	_Atomic int error;
	/* Nodes that applied it. Release by each worker after it wrote its
	 * node's apply time (and, at the writer, the injection time), acquire
	 * by the driver: a driver that counts N reads all N times. */
	_Atomic size_t reached;
};

/* A logged write (netcluster_write). node and key are written by the
 * driver before the command is pushed (the ring orders them); ver and rc
 * by the worker before its release store of done. */
struct wslot {
	size_t node, key;
	gv_version ver;
	int rc;
	_Atomic bool done;
};

/* Original node ids, sorted, for the member watch's lookups. */
struct byid {
	gv_node_id id;
	size_t idx;
};

/* One throughput write (see netcluster.h for the rule it implements). */
struct tp_slot {
	gv_time offered; /* driver only */
	uint32_t key;    /* written by the driver before it queues the put,
	                  * read by the writer's worker after it pops it: the
	                  * ring orders the two */
	/*
	 * The previous write of the same key, plus one (0: none). Written by
	 * the driver before the put is queued; read by the workers that
	 * apply this write or a later one of the key, which they can only
	 * have received after this one was queued (the socket orders that,
	 * outside C11's view): relaxed, atomic only so that no access races.
	 */
	_Atomic uint32_t prev;
	/* Written once by the writer's worker before its first increment of
	 * reached (below), so it is ordered before done; relaxed. */
	_Atomic gv_time injected;
	_Atomic int error;
	/*
	 * Nodes holding this write or a newer one of its key. acq_rel: the
	 * worker whose increment reaches N has synchronized with every
	 * earlier incrementer (the RMWs form a release sequence), the writer
	 * included, and so stamps done after they all wrote.
	 */
	_Atomic uint32_t reached;
	/* Release by that worker after the count reached N, acquire by the
	 * driver: a driver that sees done also sees injected. */
	_Atomic gv_time done;
};

struct netcluster {
	netcluster_config cfg;
	size_t n;
	unsigned nw;
	struct worker *w;
	gv_node **nodes;
	struct nodectx *ctx;
	gv_node_id *ids;
	gv_addr *addrs;
	struct track *tracks;
	/*
	 * applied[t * n + i]: node i's first apply of track t (0: none).
	 * Written once, by node i's worker only; the driver reads it (see
	 * struct track for the ordering), relaxed.
	 */
	_Atomic gv_time *applied;
	gv_time t0;   /* the nodes' creation time (see the top) */
	int64_t wall; /* the nodes' wall_offset_ms */

	/* ---- faults (cfg.faults) */
	int32_t *port_node; /* [65536]: the node bound to a loopback port,
	                     * -1: none; read-only once the workers run */
	/*
	 * group[i] is written by the driver, relaxed, before its release
	 * store of cut; a filter that acquires cut == true reads the groups
	 * of that cut. They change only while cut is false.
	 */
	_Atomic unsigned *group;
	_Atomic bool cut;
	/* Partition (heal) events at or after these times are recorded in
	 * part_at (heal_at): first one per node. Relaxed: the times order
	 * nothing else, and a callback that misses a new value by an
	 * instant only records an event from just before the cut. */
	_Atomic gv_time cut_from, heal_from;
	_Atomic gv_time *part_at, *heal_at;
	/* kill / restart: the node's worker only */
	bool *is_down;
	gv_node **old; /* the last node replaced by a restart, kept for its
	                * counters (snapshot) until netcluster_del */
	uint64_t *restarts;
	/* Published by the worker after a kill / restart: relaxed times
	 * (the driver only waits for them to appear, no other data). */
	_Atomic gv_time *down_at, *up_at;
	_Atomic int *restart_err;
	struct byid *byid; /* n entries, sorted by id */

	/* ---- member watch (cfg.watch_members): [target * n + observer],
	 * written by the observer's worker only, read relaxed by the driver
	 * (a time, nothing else hangs on it) */
	_Atomic gv_time watch_from;
	_Atomic gv_time *seen_s, *seen_d;

	/* ---- formation (cfg.join_seeds): view[i] members node i sees
	 * alive, full_at[i] the first time that was n - 1; written by node
	 * i's worker only, read relaxed by the driver (counts and times,
	 * nothing hangs on them). sent_dg / sent_b: node i's datagrams and
	 * bytes sent, written by its worker's publish, read after the
	 * snapshot's answer (which orders them) */
	_Atomic uint32_t *view;
	_Atomic gv_time *full_at;
	_Atomic uint64_t *sent_dg, *sent_b;

	/* ---- logged writes and reads */
	struct wslot *wl;
	/* kseen[k * n + i]: node i reported a conflict on logged key k
	 * (node i's worker only); kconf[k] counts them (relaxed) */
	uint8_t *kseen;
	_Atomic uint32_t *kconf;
	/* CMD_READ's request and output, set by the driver before the
	 * commands are pushed (the ring orders them), written by each
	 * worker for its nodes before its release store of rd_seq */
	uint64_t *rd_roots;
	bool *rd_up;
	netcluster_entry *rd_vals;
	int rd_space;
	size_t rd_nkeys;
	uint64_t rd_seq; /* driver only */
	/* throughput writes (tp_updates > 0) */
	struct tp_slot *tp;
	/*
	 * tp_held[i * tp_words + s / 64], bit s % 64: node i holds write s or
	 * a newer one of its key. Row i is read and written by node i's
	 * worker only, so it needs no atomics.
	 */
	uint64_t *tp_held;
	size_t tp_words;
	uint32_t *tp_last; /* driver only: per key, its last write plus one */
	uint64_t tp_next;  /* driver only: the next sequence number */
	size_t tp_writers; /* cfg.tp_writers, 0 resolved to n */
};

void
netcluster_config_default(netcluster_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	gv_node_config_default(&cfg->node);
	cfg->backend = GV_IO_AUTO;
	cfg->seed = 1;
	cfg->value_size = 32;
	cfg->bg_keys = 4096;
}

/* ------------------------------------------------------------ callbacks */

/* The number n of a "<prefix>n" key (prefix of 3 bytes, n decimal and
 * below limit), or false: "cv:<t>" tracks, "kw:<k>" logged keys. */
static bool
key_number(const uint8_t *key, size_t klen, const char *prefix,
           uint64_t limit, size_t *out)
{
	uint64_t v = 0;

	if (klen < 4 || klen > 3 + 19 || memcmp(key, prefix, 3) != 0)
		return false;
	for (size_t i = 3; i < klen; i++) {
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(key[i] - '0');
	}
	if (v >= limit)
		return false;
	*out = (size_t)v;
	return true;
}

/*
 * Node x now holds throughput write s: mark it and the earlier writes of
 * its key this node did not hold yet (worker thread). at: the time of the
 * apply, 0 to read the clock if a write completes.
 */
static void
tp_hold(netcluster *c, struct worker *w, size_t node, uint64_t s, gv_time at)
{
	uint64_t *row = c->tp_held + node * c->tp_words;

	uint64_t cur = s + 1; /* a write plus one; 0: the chain's end */

	while (cur) {
		uint64_t i = cur - 1, bit = UINT64_C(1) << (i & 63);
		struct tp_slot *sl = &c->tp[i];

		if (row[i >> 6] & bit)
			break; /* held, and so are the ones before it */
		row[i >> 6] |= bit;
		if (i != s)
			w->tp_overtaken++;
		if (atomic_fetch_add_explicit(&sl->reached, 1,
		                              memory_order_acq_rel) +
		            1 ==
		    c->n) {
			if (!at)
				at = gv_io_now();
			atomic_store_explicit(&sl->done, at,
			                      memory_order_release);
		}
		cur = atomic_load_explicit(&sl->prev, memory_order_relaxed);
	}
}

/* A "tp:" write's sequence number, from its value; false if it is not
 * one (or not one of this cluster's). */
static bool
tp_of(const netcluster *c, const gv_record *rec, uint64_t *s)
{
	uint64_t v;

	if (!c->tp || rec->klen < 4 || memcmp(rec->key, "tp:", 3) != 0 ||
	    rec->vlen < 8)
		return false;
	if (rec->kind == GV_KIND_COUNTER) {
		/* --counters: the value is the latest write's number + 1 */
		gv_counter ct;
		int64_t iv;
		if (gv_counter_decode(rec->val, rec->vlen, &ct) ||
		    gv_counter_int(&ct, &iv) || iv < 1)
			return false;
		v = (uint64_t)iv - 1;
	} else {
		memcpy(&v, rec->val, 8);
		v = le64toh(v);
	}
	if (v >= c->cfg.tp_updates)
		return false;
	*s = v;
	return true;
}

/*
 * --counters: INCRBY the key's counter by what makes its value s + 1
 * (one writer per key, so the writer's view is the whole counter): the
 * counter path of INCR, and a value that says which write it is.
 */
static int
tp_incr(gv_node *n, gv_time now, const char *key, size_t klen, uint64_t s)
{
	gv_record r;
	int64_t cur = 0;
	if (gv_node_get_at(n, now, key, klen, &r) == 0 &&
	    r.kind == GV_KIND_COUNTER) {
		gv_counter ct;
		if (gv_counter_decode(r.val, r.vlen, &ct) == 0)
			gv_counter_int(&ct, &cur);
	}
	gv_incr by = {.di = (int64_t)(s + 1) - cur};
	return gv_node_incr(n, now, key, klen, &by, GV_PRIO_NORMAL, NULL);
}

/* Runs on the node's worker thread. */
static void
cb_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	struct nodectx *x = ud;
	netcluster *c = x->c;
	size_t t;
	uint64_t s;

	if (tp_of(c, rec, &s)) {
		/* the writer's own apply is the injection */
		tp_hold(c, x->w, x->idx, s, result < 0 ? x->w->put_now : 0);
		return;
	}
	if (!key_number(rec->key, rec->klen, "cv:", c->cfg.tracks, &t))
		return;
	_Atomic gv_time *slot = &c->applied[t * c->n + x->idx];
	if (atomic_load_explicit(slot, memory_order_relaxed))
		return; /* only the first apply counts */
	/* The loop's `now` is that of the whole batch of datagrams; read the
	 * clock for this apply. The writer's own apply is the injection. */
	gv_time at = result < 0 ? x->w->put_now : gv_io_now();
	atomic_store_explicit(slot, at, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->tracks[t].reached, 1,
	                          memory_order_release);
}

static int
cmp_byid(const void *a, const void *b)
{
	gv_node_id x = ((const struct byid *)a)->id;
	gv_node_id y = ((const struct byid *)b)->id;

	return x < y ? -1 : x > y;
}

/* The node an original id belongs to, or SIZE_MAX. */
static size_t
node_of_id(const netcluster *c, gv_node_id id)
{
	struct byid key = {id, 0};
	const struct byid *hit =
	        bsearch(&key, c->byid, c->n, sizeof(*c->byid), cmp_byid);

	return hit ? hit->idx : SIZE_MAX;
}

/* Store t in *slot unless it already holds a time at or after from: the
 * first event since `from` (one writer per slot). */
static void
first_since(_Atomic gv_time *slot, gv_time from, gv_time t)
{
	gv_time cur = atomic_load_explicit(slot, memory_order_relaxed);

	if (!cur || cur < from)
		atomic_store_explicit(slot, t, memory_order_relaxed);
}

/* Node x's alive count after a member went from old to m->state (old
 * 255: new), and the first time it reached the full view. */
static void
count_view(netcluster *c, struct nodectx *x, const gv_member_info *m, int old)
{
	_Atomic uint32_t *v = &c->view[x->idx];
	uint32_t cur = atomic_load_explicit(v, memory_order_relaxed);

	if (old == GV_MEMBER_ALIVE && m->state != GV_MEMBER_ALIVE)
		cur--;
	else if (old != GV_MEMBER_ALIVE && m->state == GV_MEMBER_ALIVE)
		cur++;
	else
		return;
	atomic_store_explicit(v, cur, memory_order_relaxed);
	if (cur == c->n - 1 &&
	    !atomic_load_explicit(&c->full_at[x->idx], memory_order_relaxed))
		atomic_store_explicit(&c->full_at[x->idx], gv_io_now(),
		                      memory_order_relaxed);
}

static void
cb_member(void *ud, const gv_member_info *m, int old, gv_time now)
{
	struct nodectx *x = ud;
	struct worker *w = x->w;
	netcluster *c = x->c;

	if (c->view)
		count_view(c, x, m, old);
	if (m->state == GV_MEMBER_SUSPECT)
		w->ev_suspect++;
	else if (m->state == GV_MEMBER_DEAD)
		w->ev_dead++;
	else
		return;
	if (!c->seen_s)
		return;
	size_t target = node_of_id(c, m->id);
	if (target == SIZE_MAX)
		return; /* a restarted node's new id */
	gv_time from =
	        atomic_load_explicit(&c->watch_from, memory_order_relaxed);
	/* the loop's now is that of a whole batch: read the clock */
	gv_time at = gv_io_now();
	if (!from || at < from)
		return;
	size_t slot = target * c->n + x->idx;
	/* seen dead without a suspect phase: suspect then too */
	first_since(&c->seen_s[slot], from, at);
	if (m->state == GV_MEMBER_DEAD)
		first_since(&c->seen_d[slot], from, at);
}

static void
cb_partition(void *ud, bool partitioned, double reach, gv_time now)
{
	struct nodectx *x = ud;
	netcluster *c = x->c;
	_Atomic gv_time *from = partitioned ? &c->cut_from : &c->heal_from;
	_Atomic gv_time *slot =
	        partitioned ? &c->part_at[x->idx] : &c->heal_at[x->idx];
	gv_time f = atomic_load_explicit(from, memory_order_relaxed);
	gv_time at = gv_io_now();

	if (f && at >= f)
		first_since(slot, f, at);
}

static void
cb_conflict(void *ud, const gv_record *winner, const gv_record *loser,
            gv_time now)
{
	struct nodectx *x = ud;
	netcluster *c = x->c;
	size_t k;

	x->w->ev_conflict++;
	if (!key_number(winner->key, winner->klen, "kw:", c->cfg.wkeys, &k) ||
	    c->kseen[k * c->n + x->idx])
		return;
	c->kseen[k * c->n + x->idx] = 1;
	atomic_fetch_add_explicit(&c->kconf[k], 1, memory_order_relaxed);
}

/* Drops outgoing datagrams with probability cfg.loss (worker thread). */
static bool
loss_filter(void *ud, int ep, const gv_addr *peer, bool outgoing)
{
	struct worker *w = ud;

	return !outgoing || gv_rng_double(&w->loss_rng) >= w->c->cfg.loss;
}

/*
 * cfg.faults: the loss draw, then, while the network is cut, drops every
 * datagram to or from a node of another group (worker thread). The peer
 * of a datagram between nodes is a loopback port of port_node.
 */
static bool
fault_filter(void *ud, int ep, const gv_addr *peer, bool outgoing)
{
	struct worker *w = ud;
	netcluster *c = w->c;

	if (c->cfg.loss > 0 && !loss_filter(ud, ep, peer, outgoing))
		return false;
	/* acquire: the groups of this cut (see struct netcluster) */
	if (!atomic_load_explicit(&c->cut, memory_order_acquire))
		return true;
	int32_t other = c->port_node[peer->port];
	if (other < 0)
		return true;
	size_t self = w->idx + (size_t)ep * c->nw;
	return atomic_load_explicit(&c->group[self], memory_order_relaxed) ==
	       atomic_load_explicit(&c->group[other], memory_order_relaxed);
}

/* ------------------------------------------------------------ worker */

#define VAL_POOL 64

static void
fill_value(const netcluster *c, uint8_t *val, size_t len, uint64_t seed)
{
	if (c->cfg.value_kind != ZB_RANDOM) {
		zb_fill(c->cfg.value_kind, val, len, seed);
		return;
	}
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = gv_splitmix64(&seed);
		memcpy(val + i, &x, len - i < 8 ? len - i : 8);
	}
}

/* The pool's value for write number k, into w->val. */
static void
pool_value(struct worker *w, uint64_t k)
{
	size_t len = w->c->cfg.value_size;
	memcpy(w->val, w->pool + (k % VAL_POOL) * len, len);
}

static uint64_t
clock_ns(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Add one node's counters to s; its member views only if it is live. */
static void
add_node_stats(netcluster_stats *s, const gv_node *node, bool views)
{
	const gv_node_stats *ns = gv_node_get_stats(node);

	s->dgrams_out += ns->dgrams_out;
	s->bytes_out += ns->bytes_out;
	s->dgrams_in += ns->dgrams_in;
	s->updates_out += ns->updates_out;
	s->tree_ihave_out += ns->tree_ihave_out;
	s->tree_grafts_out += ns->tree_grafts_out;
	s->tree_graft_drops += ns->tree_graft_drops;
	s->tree_received += ns->tree_received;
	s->tree_hops += ns->tree_hops;
	s->updates_refused += ns->updates_refused;
	s->outbox_drops += ns->outbox_drops;
	s->hlc_rejected += ns->hlc_rejected;
	s->ae_sessions += ns->ae_sessions;
	s->ae_msgs_out += ns->ae_msgs_out;
	if (views) {
		s->members_suspect += ns->members_suspect;
		s->members_dead += ns->members_dead;
	}
	s->probes += ns->probes;
	s->probe_fails += ns->probe_fails;
	s->ping_reqs += ns->ping_reqs;
	s->suspicions += ns->suspicions;
	s->refutes += ns->refutes;
	s->ae_sessions_clean += ns->ae_sessions_clean;
	s->ae_entries_sent += ns->ae_entries_sent;
	s->partitions += ns->partitions;
	s->heals += ns->heals;
	s->z_compressed += ns->compressed_datagrams;
	s->z_skipped += ns->compress_skipped;
	s->z_in_bytes += ns->compress_in_bytes;
	s->z_out_bytes += ns->compress_out_bytes;
	s->z_decompressed += ns->decompressed_datagrams;
	s->z_errors += ns->decompress_errors;
	s->z_compress_ns += ns->compress_ns;
	s->z_decompress_ns += ns->decompress_ns;
}

/* The shard's on_publish: the worker's counters into its snapshot buffer
 * (asked for by netcluster_snapshot; the shard publishes it). */
static void
publish(void *ud, gv_shard *sh, void *snap, gv_time now)
{
	struct worker *w = ud;
	netcluster *c = w->c;
	netcluster_stats *s = snap;
	gv_io_stats io;

	memset(s, 0, sizeof(*s));
	for (size_t i = w->idx; i < c->n; i += c->nw) {
		const gv_node_stats *ns = gv_node_get_stats(c->nodes[i]);
		atomic_store_explicit(&c->sent_dg[i], ns->dgrams_out,
		                      memory_order_relaxed);
		atomic_store_explicit(&c->sent_b[i], ns->bytes_out,
		                      memory_order_relaxed);
		add_node_stats(s, c->nodes[i], !c->is_down[i]);
		/* a node a restart replaced keeps its counters in the sums,
		 * so differences between snapshots stay right */
		if (c->old[i])
			add_node_stats(s, c->old[i], false);
	}
	s->ev_conflict = w->ev_conflict;
	s->down_puts = w->down_puts;
	s->ev_suspect = w->ev_suspect;
	s->ev_dead = w->ev_dead;
	s->bg_puts = w->bg_puts;
	s->put_errors = w->put_errors;
	s->tp_overtaken = w->tp_overtaken;
	gv_io_get_stats(gv_shard_io(sh), &io);
	s->io_dgrams_out = io.dgrams_out;
	s->io_send_errors = io.send_errors;
	s->io_kernel_drops = io.kernel_drops;
	s->io_filtered_out = io.filtered_out;
	s->io_buf_exhausted = io.buf_exhausted;
	s->io_pool_exhausted = io.pool_exhausted;
	s->io_truncated = io.truncated;
	s->io_recv_errors = io.recv_errors;
	s->io_filtered_in = io.filtered_in;
}

static int make_node(netcluster *c, size_t i, gv_node_id id, uint64_t seed,
                     gv_time now, gv_node **out);

/* Logged write: the value's first 8 bytes name it (netcluster_read). */
static void
do_write(struct worker *w, size_t node, size_t wid)
{
	netcluster *c = w->c;
	struct wslot *ws = &c->wl[wid];
	char key[KEY_MAX];
	uint64_t tag = (uint64_t)wid;
	gv_record r;
	int klen, rc;

	klen = snprintf(key, sizeof(key), "kw:%zu", ws->key);
	fill_value(c, w->val, c->cfg.value_size, c->cfg.seed ^ ~tag);
	memcpy(w->val, &tag, sizeof(tag));
	w->put_now = gv_io_now();
	rc = gv_node_put(c->nodes[node], w->put_now, key, (size_t)klen, w->val,
	                 c->cfg.value_size, GV_PRIO_NORMAL);
	if (rc == 0) {
		/* the version the write got: it is the live value now */
		rc = gv_node_get(c->nodes[node], key, (size_t)klen, &r);
		if (rc == 0)
			ws->ver = r.ver;
	}
	if (rc)
		w->put_errors++;
	ws->rc = rc;
	/* release: ver and rc before done */
	atomic_store_explicit(&ws->done, true, memory_order_release);
	gv_shard_touch(w->sh, (int)(node / c->nw));
}

static void
do_read(struct worker *w, uint64_t seq)
{
	netcluster *c = w->c;
	size_t nk = c->rd_nkeys;
	char key[KEY_MAX];
	gv_record r;
	int klen;

	for (size_t i = w->idx; i < c->n; i += c->nw) {
		bool up = !c->is_down[i];

		c->rd_roots[i] = up ? gv_node_root(c->nodes[i]) : 0;
		if (c->rd_up)
			c->rd_up[i] = up;
		for (size_t k = 0; k < nk; k++) {
			netcluster_entry *e = &c->rd_vals[i * nk + k];

			memset(e, 0, sizeof(*e));
			e->wid = UINT64_MAX;
			klen = snprintf(
			        key, sizeof(key), "%s:%zu",
			        c->rd_space == NETCLUSTER_BG ? "bg" : "kw", k);
			if (!up ||
			    gv_node_get(c->nodes[i], key, (size_t)klen, &r))
				continue;
			e->present = true;
			e->ver = r.ver;
			if (c->rd_space == NETCLUSTER_LOGGED &&
			    r.vlen == c->cfg.value_size)
				memcpy(&e->wid, r.val, sizeof(e->wid));
		}
	}
	/* release: the outputs before the sequence number */
	atomic_store_explicit(&w->rd_seq, seq, memory_order_release);
}

static void
do_kill(struct worker *w, size_t node)
{
	netcluster *c = w->c;

	if (c->is_down[node])
		return;
	/* cannot fail: the endpoint is attached and we are outside any
	 * endpoint call */
	gv_io_detach(gv_shard_io(w->sh), (int)(node / c->nw));
	c->is_down[node] = true;
	atomic_store_explicit(&c->down_at[node], gv_io_now(),
	                      memory_order_relaxed);
}

/*
 * A new id for node i's restart number r: from a splitmix64 stream of the
 * run's seed, node and restart; never zero nor an original id, which the
 * member watch would take for the old incarnation.
 */
static gv_node_id
restart_id(const netcluster *c, size_t i, uint64_t r)
{
	uint64_t s = c->cfg.seed ^ (UINT64_C(0x7265737461727421) + i * 7919 +
	                            r * UINT64_C(0x100000001b3));
	gv_node_id id;

	do
		id = gv_splitmix64(&s);
	while (id == 0 || node_of_id(c, id) != SIZE_MAX);
	return id;
}

/* Join through seeds 0 .. join_seeds - 1, node itself excluded. */
static void
do_join(struct worker *w, size_t node)
{
	netcluster *c = w->c;
	gv_addr seeds[NETCLUSTER_SEEDS_MAX];
	size_t k = 0;

	for (size_t i = 0; i < c->cfg.join_seeds; i++)
		if (i != node)
			seeds[k++] = c->addrs[i];
	if (k && gv_node_join(c->nodes[node], gv_io_now(), seeds, k) == 0)
		gv_shard_touch(w->sh, (int)(node / c->nw));
}

static void
do_restart(struct worker *w, size_t node, size_t seed)
{
	netcluster *c = w->c;
	uint64_t r = ++c->restarts[node];
	gv_time now = gv_io_now();
	gv_node *fresh;
	int rc;

	if (!c->is_down[node])
		return;
	rc = make_node(c, node, restart_id(c, node, r),
	               c->cfg.seed * 1000003u + node + r * UINT64_C(0x9e37),
	               now, &fresh);
	if (rc == 0)
		rc = gv_node_join(fresh, now, &c->addrs[seed], 1);
	if (rc == 0)
		rc = gv_shard_attach(w->sh, (int)(node / c->nw), fresh);
	if (rc) {
		if (fresh)
			gv_node_del(fresh);
		atomic_store_explicit(&c->restart_err[node], rc,
		                      memory_order_relaxed);
		return;
	}
	if (c->old[node])
		gv_node_del(c->old[node]);
	c->old[node] = c->nodes[node];
	c->nodes[node] = fresh;
	c->is_down[node] = false;
	atomic_store_explicit(&c->up_at[node], gv_io_now(),
	                      memory_order_relaxed);
}

/*
 * The shard's on_cmd (worker thread). Background and throughput writes
 * take the time of their batch of commands, `now` (read once: a clock
 * read per write was 2.5% of a throughput run); it is at or before each
 * write's real time, so a convergence time can only come out longer.
 * Tracked `converge` writes read the clock each. Every write touches its
 * node: the shard drains it once after the batch (as the io loop drains
 * a batch of received datagrams), so writes queued together share
 * datagrams.
 */
static void
run_cmd(void *ud, gv_shard *sh, void *arg, gv_time now)
{
	struct worker *w = ud;
	const struct cmd *cmd = arg;
	netcluster *c = w->c;
	size_t node = w->idx + (size_t)cmd->ep * c->nw;
	char key[KEY_MAX];
	int klen, rc;

	/* a killed node takes no writes: a crashed process answers none */
	if (c->is_down[node] && (cmd->kind == CMD_PUT || cmd->kind == CMD_BG ||
	                         cmd->kind == CMD_WRITE)) {
		w->down_puts++;
		if (cmd->kind == CMD_WRITE) {
			c->wl[cmd->arg].rc = GV_EINVAL;
			atomic_store_explicit(&c->wl[cmd->arg].done, true,
			                      memory_order_release);
		}
		return;
	}
	switch (cmd->kind) {
	case CMD_PUT: {
		struct track *tr = &c->tracks[cmd->arg];

		klen = snprintf(key, sizeof(key), "cv:%" PRIu64, cmd->arg);
		fill_value(c, w->val, c->cfg.value_size,
		           c->cfg.seed ^ (cmd->arg * UINT64_C(0x2545f491)));
		w->put_now = gv_io_now();
		atomic_store_explicit(&tr->injected, w->put_now,
		                      memory_order_relaxed);
		rc = gv_node_put(c->nodes[node], w->put_now, key, (size_t)klen,
		                 w->val, c->cfg.value_size, GV_PRIO_NORMAL);
		if (rc) {
			w->put_errors++;
			atomic_store_explicit(&tr->error, rc,
			                      memory_order_relaxed);
		}
		gv_shard_touch(sh, (int)cmd->ep);
		break;
	}
	case CMD_BG:
		klen = snprintf(key, sizeof(key), "bg:%" PRIu64,
		                cmd->arg % c->cfg.bg_keys);
		w->put_now = now;
		pool_value(w, cmd->arg);
		rc = gv_node_put(c->nodes[node], w->put_now, key, (size_t)klen,
		                 w->val, c->cfg.value_size, GV_PRIO_NORMAL);
		if (rc)
			w->put_errors++;
		else
			w->bg_puts++;
		gv_shard_touch(sh, (int)cmd->ep);
		break;
	case CMD_WRITE:
		do_write(w, node, (size_t)cmd->arg);
		break;
	case CMD_READ:
		do_read(w, cmd->arg);
		break;
	case CMD_KILL:
		do_kill(w, node);
		break;
	case CMD_RESTART:
		do_restart(w, node, (size_t)cmd->arg);
		break;
	case CMD_JOIN:
		do_join(w, node);
		break;
	case CMD_TP: {
		struct tp_slot *sl = &c->tp[cmd->arg];
		uint64_t le = htole64(cmd->arg);

		klen = snprintf(key, sizeof(key), "tp:%" PRIu32, sl->key);
		/* the value carries the write's number */
		pool_value(w, cmd->arg);
		memcpy(w->val, &le, 8);
		w->put_now = now;
		atomic_store_explicit(&sl->injected, w->put_now,
		                      memory_order_relaxed);
		if (c->cfg.tp_counters)
			rc = tp_incr(c->nodes[node], w->put_now, key,
			             (size_t)klen, cmd->arg);
		else if (c->cfg.tp_ttl_ms)
			rc = gv_node_put_ex(
			        c->nodes[node], w->put_now, key, (size_t)klen,
			        w->val, c->cfg.value_size,
			        gv_node_clock_ms(c->nodes[node], w->put_now) +
			                c->cfg.tp_ttl_ms,
			        GV_PRIO_NORMAL);
		else
			rc = gv_node_put(c->nodes[node], w->put_now, key,
			                 (size_t)klen, w->val, c->cfg.value_size,
			                 GV_PRIO_NORMAL);
		if (rc) {
			w->put_errors++;
			atomic_store_explicit(&sl->error, rc,
			                      memory_order_relaxed);
		}
		gv_shard_touch(sh, (int)cmd->ep);
		break;
	}
	}
}

/* ------------------------------------------------------------ set-up */

static int
raise_nofile(size_t need, char *err, size_t errlen)
{
	struct rlimit rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	want = rl;
	want.rlim_cur = need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		want.rlim_max = need; /* needs CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return 0;
	snprintf(err, errlen,
	         "need %zu file descriptors, RLIMIT_NOFILE is %llu (hard "
	         "%llu) and cannot be raised: %s",
	         need, (unsigned long long)rl.rlim_cur,
	         (unsigned long long)rl.rlim_max, strerror(errno));
	return -EMFILE;
}

static unsigned
pow2_at_least(size_t x)
{
	unsigned p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

static int
worker_init(netcluster *c, struct worker *w, unsigned idx, size_t neps,
            char *err, size_t errlen)
{
	gv_shard_config sc;
	gv_io_config *ic = &sc.io;
	int rc;

	w->c = c;
	w->idx = idx;
	gv_rng_seed(&w->loss_rng,
	            c->cfg.seed * UINT64_C(0x9e3779b97f4a7c15) + idx + 1);
	w->val = calloc(1, c->cfg.value_size);
	w->pool = calloc(VAL_POOL, c->cfg.value_size);
	if (!w->val || !w->pool)
		return GV_ENOMEM;
	fill_value(c, w->val, c->cfg.value_size, c->cfg.seed + idx);
	for (size_t k = 0; k < VAL_POOL; k++)
		fill_value(c, w->pool + k * c->cfg.value_size,
		           c->cfg.value_size,
		           c->cfg.seed * 1000003 + idx * VAL_POOL + k);

	gv_shard_config_default(&sc);
	sc.name = "gvbench-w";
	sc.index = idx;
	sc.cmd_size = sizeof(struct cmd);
	sc.cmd_cap = RING_CAP;
	sc.pub_size = sizeof(netcluster_stats);
	sc.pub_every_us = 0; /* counters only when netcluster_snapshot asks */
	sc.ops.on_cmd = run_cmd;
	sc.ops.on_publish = publish;
	sc.ud = w;
	ic->backend = c->cfg.backend;
	ic->max_endpoints = (unsigned)neps;
	/*
	 * Attaching a socket queues its receive; the queue must hold all of
	 * them, or gv_shard_attach() would submit from this thread and bind
	 * the ring to it instead of the worker's.
	 */
	ic->ring_entries = pow2_at_least(neps + 64 > 1024 ? neps + 64 : 1024);
	if (ic->ring_entries > 32768)
		ic->ring_entries = 32768;
	/* 64 KiB receive buffers, shared by the worker's sockets: with them
	 * the io layer asks for UDP GRO, and the datagrams a peer sent back
	 * to back as one GSO send arrive as one receive (64 MiB a worker) */
	ic->buf_count = 1024;
	ic->buf_size = 65536;
	ic->send_slots = 2048;
	if (c->cfg.faults) {
		ic->filter = fault_filter;
		ic->filter_ud = w;
	} else if (c->cfg.loss > 0) {
		ic->filter = loss_filter;
		ic->filter_ud = w;
	}
	rc = gv_shard_new(&w->sh, &sc);
	if (rc)
		snprintf(err, errlen, "worker %u: %s", idx, gv_strerror(rc));
	return rc;
}

static void
prejoin(netcluster *c, size_t i, gv_time now)
{
	char name[32];

	for (size_t j = 0; j < c->n; j++) {
		if (j == i)
			continue;
		snprintf(name, sizeof(name), "n%zu", j);
		gv_member_info m = {
		        .id = c->ids[j],
		        .addr = c->addrs[j],
		        .state = GV_MEMBER_ALIVE,
		        .name = name,
		        .region = "",
		};
		gv_node_add_member(c->nodes[i], now, &m);
	}
}

/* Unix ms minus monotonic ms: the HLC then reads like real time. */
static int64_t
wall_offset_ms(void)
{
	struct timespec mono, real;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	return (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000 -
	       ((int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000);
}

/* Node i (or its restart) from the template; *out NULL on failure. */
static int
make_node(netcluster *c, size_t i, gv_node_id id, uint64_t seed, gv_time now,
          gv_node **out)
{
	gv_node_config nc = c->cfg.node;

	*out = NULL;
	nc.id = id;
	nc.addr = c->addrs[i];
	nc.seed = seed;
	nc.wall_offset_ms = c->wall;
	snprintf(nc.name, sizeof(nc.name), "n%zu", i);
	nc.cb.on_update = cb_update;
	nc.cb.on_member = cb_member;
	nc.cb.on_conflict = cb_conflict;
	nc.cb.on_partition = cb_partition;
	nc.cb.clock_ns = clock_ns;
	nc.ud = &c->ctx[i];
	return gv_node_new(out, &nc, now);
}

static int
build(netcluster *c, char *err, size_t errlen)
{
	const netcluster_config *cfg = &c->cfg;
	size_t per = (c->n + c->nw - 1) / c->nw;
	gv_addr bind;
	int rc;

	rc = raise_nofile(c->n + (size_t)c->nw * 8 + 64, err, errlen);
	if (rc)
		return rc;
	c->w = calloc(c->nw, sizeof(*c->w));
	c->nodes = calloc(c->n, sizeof(*c->nodes));
	c->ctx = calloc(c->n, sizeof(*c->ctx));
	c->ids = calloc(c->n, sizeof(*c->ids));
	c->addrs = calloc(c->n, sizeof(*c->addrs));
	c->tracks = calloc(cfg->tracks ? cfg->tracks : 1, sizeof(*c->tracks));
	c->applied = calloc(cfg->tracks ? cfg->tracks * c->n : 1,
	                    sizeof(*c->applied));
	c->is_down = calloc(c->n, sizeof(*c->is_down));
	c->old = calloc(c->n, sizeof(*c->old));
	c->restarts = calloc(c->n, sizeof(*c->restarts));
	c->down_at = calloc(c->n, sizeof(*c->down_at));
	c->up_at = calloc(c->n, sizeof(*c->up_at));
	c->restart_err = calloc(c->n, sizeof(*c->restart_err));
	c->part_at = calloc(c->n, sizeof(*c->part_at));
	c->heal_at = calloc(c->n, sizeof(*c->heal_at));
	c->group = calloc(c->n, sizeof(*c->group));
	c->byid = calloc(c->n, sizeof(*c->byid));
	c->wl = calloc(cfg->wlog ? cfg->wlog : 1, sizeof(*c->wl));
	c->kseen = calloc(cfg->wkeys ? cfg->wkeys * c->n : 1, 1);
	c->kconf = calloc(cfg->wkeys ? cfg->wkeys : 1, sizeof(*c->kconf));
	c->sent_dg = calloc(c->n, sizeof(*c->sent_dg));
	c->sent_b = calloc(c->n, sizeof(*c->sent_b));
	if (cfg->join_seeds) {
		c->view = calloc(c->n, sizeof(*c->view));
		c->full_at = calloc(c->n, sizeof(*c->full_at));
		if (!c->view || !c->full_at) {
			snprintf(err, errlen, "out of memory");
			return GV_ENOMEM;
		}
	}
	if (!c->sent_dg || !c->sent_b || !c->w || !c->nodes || !c->ctx || !c->ids || !c->addrs ||
	    !c->tracks || !c->applied || !c->is_down || !c->old ||
	    !c->restarts || !c->down_at || !c->up_at || !c->restart_err ||
	    !c->part_at || !c->heal_at || !c->group || !c->byid || !c->wl ||
	    !c->kseen || !c->kconf) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
	}
	if (cfg->faults) {
		c->port_node = malloc(65536 * sizeof(*c->port_node));
		if (!c->port_node) {
			snprintf(err, errlen, "out of memory");
			return GV_ENOMEM;
		}
		memset(c->port_node, 0xff, 65536 * sizeof(*c->port_node));
	}
	if (cfg->watch_members) {
		c->seen_s = calloc(c->n * c->n, sizeof(*c->seen_s));
		c->seen_d = calloc(c->n * c->n, sizeof(*c->seen_d));
		if (!c->seen_s || !c->seen_d) {
			snprintf(err, errlen, "out of memory");
			return GV_ENOMEM;
		}
	}
	if (cfg->tp_updates) {
		/* calloc: the pages of writes never made stay untouched */
		c->tp_words = (cfg->tp_updates + 63) / 64;
		c->tp = calloc(cfg->tp_updates, sizeof(*c->tp));
		c->tp_held = calloc(c->n * c->tp_words, sizeof(*c->tp_held));
		c->tp_last = calloc(cfg->tp_keys, sizeof(*c->tp_last));
		c->tp_writers = cfg->tp_writers ? cfg->tp_writers : c->n;
		if (!c->tp || !c->tp_held || !c->tp_last) {
			snprintf(err, errlen,
			         "out of memory for %zu tracked writes",
			         cfg->tp_updates);
			return GV_ENOMEM;
		}
	}
	for (unsigned k = 0; k < c->nw; k++) {
		rc = worker_init(c, &c->w[k], k, per, err, errlen);
		if (rc) {
			if (!*err)
				snprintf(err, errlen, "worker %u: %s", k,
				         gv_strerror(rc));
			return rc;
		}
	}

	/* Sockets first: node i is socket i / W of worker i % W. */
	gv_io_addr_parse(&bind, "127.0.0.1:0");
	for (size_t i = 0; i < c->n; i++) {
		struct worker *w = &c->w[i % c->nw];

		rc = gv_shard_add_node(w->sh, &bind, NULL, &c->addrs[i]);
		if (rc < 0) {
			snprintf(err, errlen, "socket of node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
		if ((size_t)rc != i / c->nw) {
			snprintf(err, errlen, "socket of node %zu: index %d", i,
			         rc);
			return GV_EINVAL;
		}
		if (c->port_node)
			c->port_node[c->addrs[i].port] = (int32_t)i;
	}

	/* Ids: consecutive splitmix64 outputs are distinct (a bijection
	 * of distinct states); only a zero is skipped. */
	uint64_t s = cfg->seed;
	for (size_t i = 0; i < c->n; i++) {
		do
			c->ids[i] = gv_splitmix64(&s);
		while (c->ids[i] == 0);
		c->byid[i] = (struct byid){c->ids[i], i};
	}
	qsort(c->byid, c->n, sizeof(*c->byid), cmp_byid);
	int64_t wall = wall_offset_ms();
	/* a budget for the rest of the set-up: node creation, then N^2
	 * member insertions */
	c->t0 = gv_io_now() + 100000 + 1000 * (gv_time)c->n +
	        (gv_time)c->n * c->n / 4;
	c->wall = wall;
	for (size_t i = 0; i < c->n; i++) {
		c->ctx[i] = (struct nodectx){c, &c->w[i % c->nw], i};
		rc = make_node(c, i, c->ids[i], cfg->seed * 1000003u + i, c->t0,
		               &c->nodes[i]);
		if (rc) {
			snprintf(err, errlen, "node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
	}
	for (size_t i = 0; i < c->n && !cfg->join_seeds; i++)
		prejoin(c, i, c->t0);
	for (size_t i = 0; i < c->n; i++) {
		rc = gv_shard_attach(c->w[i % c->nw].sh, (int)(i / c->nw),
		                     c->nodes[i]);
		if (rc) {
			snprintf(err, errlen, "attach node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
	}
	for (unsigned k = 0; k < c->nw; k++) {
		rc = gv_shard_start(c->w[k].sh);
		if (rc) {
			snprintf(err, errlen, "worker thread: %s",
			         gv_strerror(rc));
			return rc;
		}
	}
	gv_time late = gv_io_now();
	if (late > c->t0)
		fprintf(stderr,
		        "netcluster: set-up overran its budget by %.1f ms: "
		        "nodes whose first timers fell due before the workers "
		        "ran tick together\n",
		        (double)(late - c->t0) / 1000.0);
	return 0;
}

static int push(netcluster *c, size_t node, uint32_t kind, uint64_t arg);

/*
 * The join storm: at t0 (the nodes' start) every node but node 0 is told
 * to join, all queued before any worker is woken, so they run within a
 * loop iteration of each other.
 */
static int
join_all(netcluster *c, char *err, size_t errlen)
{
	gv_time now = gv_io_now();
	int rc;

	if (now < c->t0)
		sleep_us(c->t0 - now);
	for (size_t i = 1; i < c->n; i++) {
		while ((rc = push(c, i, CMD_JOIN, 0)) == GV_EFULL)
			sleep_us(100);
		if (rc) {
			snprintf(err, errlen, "join of node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
	}
	for (unsigned k = 0; k < c->nw; k++)
		gv_shard_wake(c->w[k].sh);
	return 0;
}

int
netcluster_new(netcluster **out, const netcluster_config *cfg, char *err,
               size_t errlen)
{
	netcluster *c;
	int rc;

	if (errlen)
		err[0] = 0;
	if (!out || !cfg || cfg->nodes < 2 || cfg->nodes > 65536 ||
	    !(cfg->loss >= 0 && cfg->loss < 1) || cfg->value_size == 0 ||
	    cfg->bg_keys == 0 ||
	    (cfg->wlog && cfg->value_size < sizeof(uint64_t)) ||
	    (cfg->wkeys && cfg->nodes > SIZE_MAX / cfg->wkeys) ||
	    (cfg->watch_members && cfg->nodes > NETCLUSTER_WATCH_MAX) ||
	    cfg->join_seeds > cfg->nodes ||
	    cfg->join_seeds > NETCLUSTER_SEEDS_MAX ||
	    (cfg->tracks && cfg->nodes > SIZE_MAX / 8 / cfg->tracks) ||
	    (cfg->tp_updates &&
	     (cfg->value_size < 8 || cfg->tp_keys == 0 ||
	      cfg->tp_keys > UINT32_MAX || cfg->tp_updates >= UINT32_MAX ||
	      cfg->tp_writers > cfg->nodes))) {
		snprintf(err, errlen, "invalid configuration");
		return GV_EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
	}
	c->cfg = *cfg;
	c->n = cfg->nodes;
	c->nw = cfg->workers;
	if (!c->nw) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		c->nw = cores > 0 ? (unsigned)cores : 1;
	}
	if (c->nw > c->n)
		c->nw = (unsigned)c->n;
	rc = build(c, err, errlen);
	if (rc == 0 && cfg->join_seeds)
		rc = join_all(c, err, errlen);
	if (rc) {
		netcluster_del(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
netcluster_del(netcluster *c)
{
	if (!c)
		return;
	/* all of them first: a running worker's nodes still call the
	 * callbacks and filters, which read the shared arrays below */
	for (unsigned k = 0; c->w && k < c->nw; k++)
		if (c->w[k].sh)
			gv_shard_stop(c->w[k].sh);
	/* the workers are gone: everything below is this thread's */
	for (unsigned k = 0; c->w && k < c->nw; k++) {
		gv_shard_del(c->w[k].sh);
		free(c->w[k].val);
		free(c->w[k].pool);
	}
	for (size_t i = 0; c->nodes && i < c->n; i++)
		if (c->nodes[i])
			gv_node_del(c->nodes[i]);
	for (size_t i = 0; c->old && i < c->n; i++)
		if (c->old[i])
			gv_node_del(c->old[i]);
	free(c->old);
	free(c->is_down);
	free(c->restarts);
	free(c->down_at);
	free(c->up_at);
	free(c->restart_err);
	free(c->part_at);
	free(c->heal_at);
	free(c->group);
	free(c->byid);
	free(c->wl);
	free(c->kseen);
	free(c->kconf);
	free(c->port_node);
	free(c->seen_s);
	free(c->seen_d);
	free(c->view);
	free(c->full_at);
	free(c->sent_dg);
	free(c->sent_b);
	free(c->w);
	free(c->nodes);
	free(c->ctx);
	free(c->ids);
	free(c->addrs);
	free(c->tracks);
	free(c->applied);
	free(c->tp);
	free(c->tp_held);
	free(c->tp_last);
	free(c);
}

gv_time
netcluster_t0(const netcluster *c)
{
	return c->t0;
}

size_t
netcluster_size(const netcluster *c)
{
	return c->n;
}

unsigned
netcluster_workers(const netcluster *c)
{
	return c->nw;
}

const char *
netcluster_backend(const netcluster *c)
{
	return gv_io_backend_name(gv_shard_io(c->w[0].sh));
}

size_t
netcluster_view(const netcluster *c, size_t node, gv_time *full)
{
	gv_time at = 0;
	size_t v = 0;

	if (c->view && node < c->n) {
		v = atomic_load_explicit(&c->view[node], memory_order_relaxed);
		at = atomic_load_explicit(&c->full_at[node],
		                          memory_order_relaxed);
	}
	if (full)
		*full = c->view && !at ? GV_TIME_NEVER : at;
	return v;
}

void
netcluster_node_sent(const netcluster *c, size_t node, uint64_t *dgrams,
                     uint64_t *bytes)
{
	*dgrams = node < c->n ? atomic_load_explicit(&c->sent_dg[node],
	                                             memory_order_relaxed)
	                      : 0;
	*bytes = node < c->n ? atomic_load_explicit(&c->sent_b[node],
	                                            memory_order_relaxed)
	                     : 0;
}

/* ------------------------------------------------------------ driving */

static int
push(netcluster *c, size_t node, uint32_t kind, uint64_t arg)
{
	struct worker *w;
	struct cmd cmd;

	if (node >= c->n)
		return GV_EINVAL;
	w = &c->w[node % c->nw];
	cmd = (struct cmd){kind, (uint32_t)(node / c->nw), arg};
	return gv_shard_submit(w->sh, &cmd);
}

int
netcluster_put(netcluster *c, size_t node, size_t t)
{
	if (t >= c->cfg.tracks)
		return GV_EINVAL;
	int rc = push(c, node, CMD_PUT, t);
	if (rc == 0)
		gv_shard_wake(c->w[node % c->nw].sh);
	return rc;
}

int
netcluster_put_bg(netcluster *c, size_t node, uint64_t k)
{
	int rc = push(c, node, CMD_BG, k);
	if (rc == 0)
		c->w[node % c->nw].dirty = true;
	return rc;
}

void
netcluster_flush(netcluster *c)
{
	for (unsigned k = 0; k < c->nw; k++)
		if (c->w[k].dirty) {
			c->w[k].dirty = false;
			gv_shard_wake(c->w[k].sh);
		}
}

int
netcluster_tp_put(netcluster *c, uint64_t key, gv_time offered, uint64_t *seq)
{
	if (!c->tp || key >= c->cfg.tp_keys)
		return GV_EINVAL;
	if (c->tp_next >= c->cfg.tp_updates)
		return GV_ENOSPC;

	uint64_t s = c->tp_next;
	size_t node = (size_t)(key % c->tp_writers);
	struct tp_slot *sl = &c->tp[s];

	/* filled before the push, which publishes it to the worker; a
	 * refused push leaves a slot nobody reads and the next put reuses */
	sl->offered = offered;
	sl->key = (uint32_t)key;
	atomic_store_explicit(&sl->prev, c->tp_last[key], memory_order_relaxed);
	int rc = push(c, node, CMD_TP, s);
	if (rc)
		return rc;
	c->tp_last[key] = (uint32_t)(s + 1);
	c->tp_next = s + 1;
	c->w[node % c->nw].dirty = true;
	*seq = s;
	return 0;
}

uint64_t
netcluster_tp_count(const netcluster *c)
{
	return c->tp_next;
}

int
netcluster_tp_get(const netcluster *c, uint64_t seq, netcluster_tp_info *out)
{
	if (seq >= c->tp_next)
		return GV_EINVAL;

	const struct tp_slot *sl = &c->tp[seq];
	/* acquire: done, then the injection time written before it */
	gv_time done = atomic_load_explicit(&sl->done, memory_order_acquire);

	out->offered = sl->offered;
	out->done = done;
	out->injected =
	        atomic_load_explicit(&sl->injected, memory_order_relaxed);
	out->reached = atomic_load_explicit(&sl->reached, memory_order_relaxed);
	out->error = atomic_load_explicit(&sl->error, memory_order_relaxed);
	return 0;
}

size_t
netcluster_reached(const netcluster *c, size_t t)
{
	if (t >= c->cfg.tracks)
		return 0;
	return atomic_load_explicit(&c->tracks[t].reached,
	                            memory_order_acquire);
}

int
netcluster_put_error(const netcluster *c, size_t t)
{
	if (t >= c->cfg.tracks)
		return GV_EINVAL;
	return atomic_load_explicit(&c->tracks[t].error, memory_order_relaxed);
}

bool
netcluster_track(const netcluster *c, size_t t, gv_time *injected,
                 gv_time *applied)
{
	if (t >= c->cfg.tracks)
		return false;
	/* acquire: the apply times of the nodes counted so far */
	(void)atomic_load_explicit(&c->tracks[t].reached, memory_order_acquire);
	gv_time inj = atomic_load_explicit(&c->tracks[t].injected,
	                                   memory_order_relaxed);
	if (!inj)
		return false;
	*injected = inj;
	for (size_t i = 0; i < c->n; i++) {
		gv_time at = atomic_load_explicit(&c->applied[t * c->n + i],
		                                  memory_order_relaxed);
		applied[i] = at ? at : GV_TIME_NEVER;
	}
	return true;
}

int
netcluster_snapshot(netcluster *c, netcluster_stats *out, uint64_t timeout_us)
{
	gv_time deadline = gv_io_now() + timeout_us;
	netcluster_stats sum, snap;

	/* ask them all first, so the workers take theirs in parallel */
	for (unsigned k = 0; k < c->nw; k++)
		c->w[k].ticket = gv_shard_request_publish(c->w[k].sh);
	memset(&sum, 0, sizeof(sum));
	for (unsigned k = 0; k < c->nw; k++) {
		struct worker *w = &c->w[k];

		/* the shard's acquire: its snapshot is then one taken after
		 * the request, and read_snapshot copies it under its lock */
		while (gv_shard_published(w->sh) < w->ticket) {
			if (gv_shard_error(w->sh) || gv_io_now() > deadline)
				return -ETIMEDOUT;
			sleep_us(100);
		}
		(void)gv_shard_read_snapshot(w->sh, &snap);
		const uint64_t *src = (const uint64_t *)&snap;
		uint64_t *dst = (uint64_t *)&sum;
		for (size_t f = 0; f < NCOUNTERS; f++)
			dst[f] += src[f];
	}
	*out = sum;
	return 0;
}

void
netcluster_stats_diff(netcluster_stats *out, const netcluster_stats *a,
                      const netcluster_stats *b)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	uint64_t *d = (uint64_t *)out;

	for (size_t f = 0; f < NCOUNTERS; f++)
		d[f] = y[f] - x[f];
}

/* ------------------------------------------------------------ faults */

int
netcluster_partition(netcluster *c, const unsigned *group_of, gv_time *at)
{
	if (!c->cfg.faults || !group_of ||
	    atomic_load_explicit(&c->cut, memory_order_relaxed))
		return GV_EINVAL;
	for (size_t i = 0; i < c->n; i++)
		atomic_store_explicit(&c->group[i], group_of[i],
		                      memory_order_relaxed);
	gv_time now = gv_io_now();
	atomic_store_explicit(&c->cut_from, now, memory_order_relaxed);
	/* release: the groups before the cut (see struct netcluster) */
	atomic_store_explicit(&c->cut, true, memory_order_release);
	if (at)
		*at = now;
	return 0;
}

gv_time
netcluster_heal(netcluster *c)
{
	gv_time now = gv_io_now();

	atomic_store_explicit(&c->heal_from, now, memory_order_relaxed);
	atomic_store_explicit(&c->cut, false, memory_order_release);
	return now;
}

void
netcluster_part_times(const netcluster *c, gv_time *raised, gv_time *healed)
{
	gv_time cf = atomic_load_explicit(&c->cut_from, memory_order_relaxed);
	gv_time hf = atomic_load_explicit(&c->heal_from, memory_order_relaxed);

	for (size_t i = 0; i < c->n; i++) {
		gv_time p = atomic_load_explicit(&c->part_at[i],
		                                 memory_order_relaxed);
		gv_time h = atomic_load_explicit(&c->heal_at[i],
		                                 memory_order_relaxed);
		if (raised)
			raised[i] = cf && p >= cf ? p : GV_TIME_NEVER;
		if (healed)
			healed[i] = hf && h >= hf ? h : GV_TIME_NEVER;
	}
}

int
netcluster_kill(netcluster *c, size_t node)
{
	int rc = push(c, node, CMD_KILL, 0);

	if (rc == 0)
		gv_shard_wake(c->w[node % c->nw].sh);
	return rc;
}

int
netcluster_restart(netcluster *c, size_t node, size_t seed)
{
	if (seed >= c->n || seed == node)
		return GV_EINVAL;
	int rc = push(c, node, CMD_RESTART, seed);
	if (rc == 0)
		gv_shard_wake(c->w[node % c->nw].sh);
	return rc;
}

gv_time
netcluster_down_at(const netcluster *c, size_t node)
{
	return node < c->n ? atomic_load_explicit(&c->down_at[node],
	                                          memory_order_relaxed)
	                   : 0;
}

gv_time
netcluster_up_at(const netcluster *c, size_t node)
{
	return node < c->n ? atomic_load_explicit(&c->up_at[node],
	                                          memory_order_relaxed)
	                   : 0;
}

int
netcluster_restart_error(const netcluster *c, size_t node)
{
	return node < c->n ? atomic_load_explicit(&c->restart_err[node],
	                                          memory_order_relaxed)
	                   : GV_EINVAL;
}

void
netcluster_watch_from(netcluster *c, gv_time t)
{
	atomic_store_explicit(&c->watch_from, t, memory_order_relaxed);
}

void
netcluster_seen(const netcluster *c, size_t target, size_t observer,
                gv_time *suspect, gv_time *dead)
{
	gv_time from =
	        atomic_load_explicit(&c->watch_from, memory_order_relaxed);
	gv_time s = 0, d = 0;

	if (c->seen_s && target < c->n && observer < c->n) {
		s = atomic_load_explicit(&c->seen_s[target * c->n + observer],
		                         memory_order_relaxed);
		d = atomic_load_explicit(&c->seen_d[target * c->n + observer],
		                         memory_order_relaxed);
	}
	*suspect = from && s >= from ? s : GV_TIME_NEVER;
	*dead = from && d >= from ? d : GV_TIME_NEVER;
}

/* ------------------------------------------------------------ logged writes */

int
netcluster_write(netcluster *c, size_t node, size_t w, size_t key)
{
	if (w >= c->cfg.wlog || key >= c->cfg.wkeys || node >= c->n)
		return GV_EINVAL;
	/* the worker reads these after popping the command */
	c->wl[w].node = node;
	c->wl[w].key = key;
	int rc = push(c, node, CMD_WRITE, w);
	if (rc == 0)
		gv_shard_wake(c->w[node % c->nw].sh);
	return rc;
}

bool
netcluster_write_result(const netcluster *c, size_t w, gv_version *ver, int *rc)
{
	if (w >= c->cfg.wlog ||
	    !atomic_load_explicit(&c->wl[w].done, memory_order_acquire))
		return false;
	*ver = c->wl[w].ver;
	*rc = c->wl[w].rc;
	return true;
}

int
netcluster_read(netcluster *c, uint64_t *roots, bool *up, int space,
                size_t nkeys, netcluster_entry *vals, uint64_t timeout_us)
{
	size_t limit = space == NETCLUSTER_BG ? c->cfg.bg_keys : c->cfg.wkeys;
	gv_time deadline = gv_io_now() + timeout_us;
	uint64_t seq = ++c->rd_seq;

	if (!roots || (nkeys && !vals) || nkeys > limit ||
	    (space != NETCLUSTER_BG && space != NETCLUSTER_LOGGED))
		return GV_EINVAL;
	c->rd_roots = roots;
	c->rd_up = up;
	c->rd_vals = vals;
	c->rd_space = space;
	c->rd_nkeys = nkeys;
	for (unsigned k = 0; k < c->nw; k++) {
		struct worker *w = &c->w[k];
		struct cmd cmd = {CMD_READ, 0, seq};

		while (gv_shard_submit(w->sh, &cmd)) {
			if (gv_io_now() > deadline)
				return GV_EFULL;
			gv_shard_wake(w->sh);
			sleep_us(100);
		}
		gv_shard_wake(w->sh);
	}
	for (unsigned k = 0; k < c->nw; k++) {
		struct worker *w = &c->w[k];

		/* acquire: the worker's outputs (see do_read) */
		while (atomic_load_explicit(&w->rd_seq, memory_order_acquire) !=
		       seq) {
			if (gv_shard_error(w->sh) || gv_io_now() > deadline)
				return -ETIMEDOUT;
			sleep_us(50);
		}
	}
	return 0;
}

size_t
netcluster_conflicts(const netcluster *c, size_t k)
{
	return k < c->cfg.wkeys ? atomic_load_explicit(&c->kconf[k],
	                                               memory_order_relaxed)
	                        : 0;
}
