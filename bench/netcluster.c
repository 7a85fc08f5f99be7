/* SPDX-License-Identifier: MIT */
/*
 * netcluster.c - gv_nodes on real loopback sockets, with measurement (see
 * netcluster.h). Set-up happens on the driver's thread before any worker
 * runs: every socket is bound first (a node must know its own address to
 * be created), then the nodes are created, prejoined and attached, and
 * only then do the worker threads start, so no node is ever touched by
 * two threads. From then on the driver talks to a worker only through
 * its command ring, and reads what the workers publish through atomics.
 *
 * The nodes are created at a start time t0 a little in the future, after
 * the set-up will have finished. A node draws the phase of its gossip
 * round (and probe) timer at random from its creation time; created at
 * the real time instead, every node whose first round fell due during
 * the set-up (60 ms for 150 nodes, more than half a round) would be run
 * by the first loop iteration with one `now`, and since a node re-arms its
 * round from the time it ran, those nodes would tick in lockstep for the
 * rest of the run, unlike nodes on separate machines. Nothing calls a
 * node before t0 but gv_io_attach's drain of its (empty) send queue: no
 * timer is due and no peer sends before then.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "netcluster.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/io.h"
#include "shard/spsc.h"

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
	CMD_SNAP,    /* publish counters: arg = sequence number */
	CMD_TP,      /* throughput write: arg = its sequence number */
};

/* One slot of a worker's command ring (copied in and out). */
struct cmd {
	uint32_t kind;
	uint32_t ep; /* the node's index on its worker */
	uint64_t arg;
};

struct worker {
	netcluster *c;
	unsigned idx;
	gv_io *io;
	pthread_t th;
	bool started;
	volatile sig_atomic_t stop; /* read by gv_io_run between iterations */
	gv_spsc ring;               /* driver -> worker commands */
	bool ring_ok;
	gv_rng loss_rng; /* worker thread only */
	gv_time put_now; /* time of the put being executed */
	uint8_t *val;    /* value scratch, value_size bytes */
	/* worker thread only; published through snap */
	uint64_t ev_suspect, ev_dead, bg_puts, put_errors, tp_overtaken;
	netcluster_stats snap; /* written before snap_seq is published */
	/*
	 * Release by the worker after it wrote snap, acquire by the driver
	 * before it reads snap: the driver never reads a half-written
	 * snapshot. The driver asks for the next one only after reading.
	 */
	_Atomic uint64_t snap_seq;
	/* Set by the worker when gv_io_run failed (the loop ended). */
	_Atomic int failed;
	bool dirty; /* driver only: background puts queued since flush */
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
	uint64_t snap_seq; /* driver only */
	gv_time t0;        /* the nodes' creation time (see the top) */
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

/* Track number of a "cv:<t>" key, or false. */
static bool
track_of(const netcluster *c, const uint8_t *key, size_t klen, size_t *t)
{
	uint64_t v = 0;

	if (klen < 4 || klen > 3 + 19 || memcmp(key, "cv:", 3) != 0)
		return false;
	for (size_t i = 3; i < klen; i++) {
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(key[i] - '0');
	}
	if (v >= c->cfg.tracks)
		return false;
	*t = (size_t)v;
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
	memcpy(&v, rec->val, 8);
	v = le64toh(v);
	if (v >= c->cfg.tp_updates)
		return false;
	*s = v;
	return true;
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
	if (!track_of(c, rec->key, rec->klen, &t))
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

static void
cb_member(void *ud, const gv_member_info *m, int old, gv_time now)
{
	struct worker *w = ((struct nodectx *)ud)->w;

	if (m->state == GV_MEMBER_SUSPECT)
		w->ev_suspect++;
	else if (m->state == GV_MEMBER_DEAD)
		w->ev_dead++;
}

/* Drops outgoing datagrams with probability cfg.loss (worker thread). */
static bool
loss_filter(void *ud, int ep, const gv_addr *peer, bool outgoing)
{
	struct worker *w = ud;

	return !outgoing || gv_rng_double(&w->loss_rng) >= w->c->cfg.loss;
}

/* ------------------------------------------------------------ worker */

static void
fill_value(uint8_t *val, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = gv_splitmix64(&seed);
		memcpy(val + i, &x, len - i < 8 ? len - i : 8);
	}
}

static void
snapshot(struct worker *w, uint64_t seq)
{
	netcluster *c = w->c;
	netcluster_stats *s = &w->snap;
	gv_io_stats io;

	memset(s, 0, sizeof(*s));
	for (size_t i = w->idx; i < c->n; i += c->nw) {
		const gv_node_stats *ns = gv_node_get_stats(c->nodes[i]);

		s->dgrams_out += ns->dgrams_out;
		s->bytes_out += ns->bytes_out;
		s->dgrams_in += ns->dgrams_in;
		s->updates_out += ns->updates_out;
		s->updates_refused += ns->updates_refused;
		s->outbox_drops += ns->outbox_drops;
		s->hlc_rejected += ns->hlc_rejected;
		s->ae_sessions += ns->ae_sessions;
		s->ae_msgs_out += ns->ae_msgs_out;
		s->members_suspect += ns->members_suspect;
		s->members_dead += ns->members_dead;
	}
	s->ev_suspect = w->ev_suspect;
	s->ev_dead = w->ev_dead;
	s->bg_puts = w->bg_puts;
	s->put_errors = w->put_errors;
	s->tp_overtaken = w->tp_overtaken;
	gv_io_get_stats(w->io, &io);
	s->io_dgrams_out = io.dgrams_out;
	s->io_send_errors = io.send_errors;
	s->io_kernel_drops = io.kernel_drops;
	s->io_filtered_out = io.filtered_out;
	s->io_buf_exhausted = io.buf_exhausted;
	s->io_pool_exhausted = io.pool_exhausted;
	s->io_truncated = io.truncated;
	s->io_recv_errors = io.recv_errors;
	atomic_store_explicit(&w->snap_seq, seq, memory_order_release);
}

static void
run_cmd(struct worker *w, const struct cmd *cmd)
{
	netcluster *c = w->c;
	size_t node = w->idx + (size_t)cmd->ep * c->nw;
	char key[KEY_MAX];
	int klen, rc;

	switch (cmd->kind) {
	case CMD_PUT: {
		struct track *tr = &c->tracks[cmd->arg];

		klen = snprintf(key, sizeof(key), "cv:%" PRIu64, cmd->arg);
		fill_value(w->val, c->cfg.value_size,
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
		gv_io_poke(w->io, (int)cmd->ep);
		break;
	}
	case CMD_BG:
		klen = snprintf(key, sizeof(key), "bg:%" PRIu64,
		                cmd->arg % c->cfg.bg_keys);
		w->put_now = gv_io_now();
		rc = gv_node_put(c->nodes[node], w->put_now, key, (size_t)klen,
		                 w->val, c->cfg.value_size, GV_PRIO_NORMAL);
		if (rc)
			w->put_errors++;
		else
			w->bg_puts++;
		gv_io_poke(w->io, (int)cmd->ep);
		break;
	case CMD_SNAP:
		snapshot(w, cmd->arg);
		break;
	case CMD_TP: {
		struct tp_slot *sl = &c->tp[cmd->arg];
		uint64_t le = htole64(cmd->arg);

		klen = snprintf(key, sizeof(key), "tp:%" PRIu32, sl->key);
		/* the value carries the write's number */
		memcpy(w->val, &le, 8);
		w->put_now = gv_io_now();
		atomic_store_explicit(&sl->injected, w->put_now,
		                      memory_order_relaxed);
		rc = gv_node_put(c->nodes[node], w->put_now, key, (size_t)klen,
		                 w->val, c->cfg.value_size, GV_PRIO_NORMAL);
		if (rc) {
			w->put_errors++;
			atomic_store_explicit(&sl->error, rc,
			                      memory_order_relaxed);
		}
		gv_io_poke(w->io, (int)cmd->ep);
		break;
	}
	}
}

/* gv_io's on_iter: drain the command ring (worker thread). */
static void
worker_iter(void *ud)
{
	struct worker *w = ud;
	struct cmd batch[64];
	size_t k;

	while ((k = gv_spsc_pop_n(&w->ring, batch, 64)) > 0)
		for (size_t i = 0; i < k; i++)
			run_cmd(w, &batch[i]);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "gvbench-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	int rc = gv_io_run(w->io, &w->stop);
	if (rc) {
		fprintf(stderr, "netcluster: worker %u stopped: %s\n", w->idx,
		        gv_strerror(rc));
		atomic_store(&w->failed, rc);
	}
	return NULL;
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
	gv_io_config ic;
	int rc;

	w->c = c;
	w->idx = idx;
	gv_rng_seed(&w->loss_rng,
	            c->cfg.seed * UINT64_C(0x9e3779b97f4a7c15) + idx + 1);
	w->val = calloc(1, c->cfg.value_size);
	if (!w->val)
		return GV_ENOMEM;
	fill_value(w->val, c->cfg.value_size, c->cfg.seed + idx);
	rc = gv_spsc_init(&w->ring, gv_mem_libc(), RING_CAP,
	                  sizeof(struct cmd));
	if (rc)
		return rc;
	w->ring_ok = true;

	gv_io_config_default(&ic);
	ic.backend = c->cfg.backend;
	ic.max_endpoints = (unsigned)neps;
	/*
	 * Attaching a socket queues its receive; the queue must hold all of
	 * them, or gv_io_attach() would submit from this thread and bind the
	 * ring to it instead of the worker's.
	 */
	ic.ring_entries = pow2_at_least(neps + 64 > 1024 ? neps + 64 : 1024);
	if (ic.ring_entries > 32768)
		ic.ring_entries = 32768;
	ic.buf_count = 4096; /* shared by the worker's sockets */
	ic.send_slots = 2048;
	ic.on_iter = worker_iter;
	ic.iter_ud = w;
	if (c->cfg.loss > 0) {
		ic.filter = loss_filter;
		ic.filter_ud = w;
	}
	rc = gv_io_new(&w->io, &ic);
	if (rc)
		snprintf(err, errlen, "worker %u: io: %s", idx,
		         gv_strerror(rc));
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
	if (!c->w || !c->nodes || !c->ctx || !c->ids || !c->addrs ||
	    !c->tracks || !c->applied) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
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

		rc = gv_io_add(w->io, &bind, NULL, NULL, &c->addrs[i]);
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
	}

	/* Ids: consecutive splitmix64 outputs are distinct (a bijection
	 * of distinct states); only a zero is skipped. */
	uint64_t s = cfg->seed;
	for (size_t i = 0; i < c->n; i++) {
		do
			c->ids[i] = gv_splitmix64(&s);
		while (c->ids[i] == 0);
	}
	int64_t wall = wall_offset_ms();
	/* a budget for the rest of the set-up: node creation, then N^2
	 * member insertions */
	c->t0 = gv_io_now() + 100000 + 1000 * (gv_time)c->n +
	        (gv_time)c->n * c->n / 4;
	for (size_t i = 0; i < c->n; i++) {
		gv_node_config nc = cfg->node;

		nc.id = c->ids[i];
		nc.addr = c->addrs[i];
		nc.seed = cfg->seed * 1000003u + i;
		nc.wall_offset_ms = wall;
		snprintf(nc.name, sizeof(nc.name), "n%zu", i);
		c->ctx[i] = (struct nodectx){c, &c->w[i % c->nw], i};
		nc.cb.on_update = cb_update;
		nc.cb.on_member = cb_member;
		nc.ud = &c->ctx[i];
		rc = gv_node_new(&c->nodes[i], &nc, c->t0);
		if (rc) {
			snprintf(err, errlen, "node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
	}
	for (size_t i = 0; i < c->n; i++)
		prejoin(c, i, c->t0);
	for (size_t i = 0; i < c->n; i++) {
		rc = gv_io_attach(c->w[i % c->nw].io, (int)(i / c->nw),
		                  &gv_node_ops, c->nodes[i]);
		if (rc) {
			snprintf(err, errlen, "attach node %zu: %s", i,
			         gv_strerror(rc));
			return rc;
		}
	}
	for (unsigned k = 0; k < c->nw; k++) {
		rc = pthread_create(&c->w[k].th, NULL, worker_main, &c->w[k]);
		if (rc) {
			snprintf(err, errlen, "worker thread: %s",
			         strerror(rc));
			return -rc;
		}
		c->w[k].started = true;
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
	for (unsigned k = 0; c->w && k < c->nw; k++) {
		struct worker *w = &c->w[k];

		if (!w->started)
			continue;
		/* Release pairs with gv_io_run's acquire load of the flag. */
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		gv_io_wake(w->io);
		pthread_join(w->th, NULL);
	}
	/* the workers are gone: everything below is this thread's */
	for (unsigned k = 0; c->w && k < c->nw; k++) {
		struct worker *w = &c->w[k];

		if (w->io)
			gv_io_del(w->io);
		if (w->ring_ok)
			gv_spsc_fini(&w->ring);
		free(w->val);
	}
	for (size_t i = 0; c->nodes && i < c->n; i++)
		if (c->nodes[i])
			gv_node_del(c->nodes[i]);
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
	return gv_io_backend_name(c->w[0].io);
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
	return gv_spsc_push(&w->ring, &cmd);
}

int
netcluster_put(netcluster *c, size_t node, size_t t)
{
	if (t >= c->cfg.tracks)
		return GV_EINVAL;
	int rc = push(c, node, CMD_PUT, t);
	if (rc == 0)
		gv_io_wake(c->w[node % c->nw].io);
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
			gv_io_wake(c->w[k].io);
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

static void
pause_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

int
netcluster_snapshot(netcluster *c, netcluster_stats *out, uint64_t timeout_us)
{
	uint64_t seq = ++c->snap_seq;
	gv_time deadline = gv_io_now() + timeout_us;
	netcluster_stats sum;

	for (unsigned k = 0; k < c->nw; k++) {
		struct worker *w = &c->w[k];
		struct cmd cmd = {CMD_SNAP, 0, seq};

		while (gv_spsc_push(&w->ring, &cmd)) {
			if (gv_io_now() > deadline)
				return GV_EFULL;
			gv_io_wake(w->io);
			pause_us(100);
		}
		gv_io_wake(w->io);
	}
	memset(&sum, 0, sizeof(sum));
	for (unsigned k = 0; k < c->nw; k++) {
		struct worker *w = &c->w[k];

		while (atomic_load_explicit(&w->snap_seq,
		                            memory_order_acquire) != seq) {
			if (atomic_load(&w->failed) || gv_io_now() > deadline)
				return -ETIMEDOUT;
			pause_us(100);
		}
		const uint64_t *src = (const uint64_t *)&w->snap;
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
