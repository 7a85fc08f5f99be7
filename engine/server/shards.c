/* SPDX-License-Identifier: MIT */
/*
 * shards.c - grapevined's shards on the shard runtime (engine/shard).
 *
 * The cluster has S key shards (--shards, the same on every node); this
 * host runs T worker threads (--threads), each a gv_shard hosting the key
 * shards i with i % T == t as gv_nodes, shard i on gossip port PORT + i.
 * Shard i gossips with shard i of every peer, so hosts with different T
 * form one cluster. Shard 0 runs SWIM for the process and tells the other
 * shards every membership change (id, address, incarnation, state, name
 * and region) over one member queue per thread.
 *
 * The front end sends a req's subs to the threads of their keys' shards
 * as batches (dispatch.c); a thread applies a batch to its shards' nodes
 * (apply.c) and answers with the same pointer over the reply ring.
 * Each thread publishes its shards' stats every PUB_EVERY_US.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "server/log.h"
#include "server/persist.h"

/* ----------------------------------------------------------- helpers */

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	/* CLOCK_REALTIME cannot fail with a valid timespec */
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
gvd_wake_front(gv_daemon *d)
{
	uint64_t one = 1;
	/* one write until the front end drains the rings again
	 * (gvd_drain_shards clears the flag first): what a thread pushes
	 * meanwhile is read in that same drain */
	if (atomic_exchange_explicit(&d->fe_wake, 1, memory_order_acq_rel))
		return;
	/* EAGAIN means the counter is already non-zero: the front end is
	 * woken either way; nothing else can fail on an eventfd */
	ssize_t w = write(d->efd, &one, sizeof(one));
	(void)w;
}

/* A membership message for the other shards, from a member as shard 0
 * sees it. */
static void
member_msg_of(struct member_msg *mm, const gv_member_info *m)
{
	memset(mm, 0, sizeof(*mm));
	mm->id = m->id;
	mm->addr = m->addr;
	mm->incarnation = m->incarnation;
	mm->state = m->state;
	snprintf(mm->name, sizeof(mm->name), "%s", m->name ? m->name : "");
	snprintf(mm->region, sizeof(mm->region), "%s",
		 m->region ? m->region : "");
}

/* ------------------------------------------------------ membership */

/* Tell thread t's shards about a member (from shard 0's thread). A full
 * queue drops the message, counted, and marks the thread for a resync:
 * shard 0 sends it the whole membership as soon as there is room. */
static void
push_member(gv_daemon *d, struct worker *w, const struct member_msg *mm)
{
	if (!w->resync && gv_spsc_push(&w->memq, mm) == 0) {
		gv_shard_wake(w->rt);
		return;
	}
	atomic_fetch_add_explicit(&d->shards[0].mem_dropped, 1,
				  memory_order_relaxed);
	if (!w->resync)
		gv_log(GV_LOG_WARN, "member queue full, thread will resync",
		       "thread=%u", w->idx);
	w->resync = true;
}

/* Does thread w host a shard other than 0 (one that needs the
 * membership shard 0 runs)? */
static bool
needs_members(const struct worker *w)
{
	return w->nlocal > (w->idx == 0 ? 1u : 0u);
}

/* Shard 0's thread: the whole membership to each thread marked for a
 * resync. */
static void
resync_members(gv_daemon *d)
{
	gv_member_info *m = NULL;
	size_t total = 0;
	for (unsigned t = 0; t < d->nthreads; t++) {
		struct worker *w = &d->workers[t];
		if (!w->resync)
			continue;
		if (!m) {
			total = gv_node_members(d->shards[0].node, NULL, 0);
			m = calloc(total + 1, sizeof(*m));
			if (!m)
				return; /* next iteration */
			total = gv_node_members(d->shards[0].node, m, total);
		}
		size_t cap = gv_spsc_capacity(&w->memq);
		if (cap - gv_spsc_size(&w->memq) < total)
			continue; /* wait until it all fits */
		for (size_t j = 0; j < total; j++) {
			struct member_msg mm;
			member_msg_of(&mm, &m[j]);
			/* cannot fail: the room was checked above and only
			 * this thread pushes */
			(void)gv_spsc_push(&w->memq, &mm);
		}
		w->resync = false;
		gv_shard_wake(w->rt);
		gv_log(GV_LOG_INFO, "member queue resynced",
		       "thread=%u members=%zu", t, total);
	}
	free(m);
}

/* Thread w: apply the membership messages to its shards (not shard 0,
 * whose SWIM they come from). */
static void
take_members(struct worker *w, gv_time now)
{
	gv_daemon *d = w->d;
	struct member_msg mm;
	while (gv_spsc_pop(&w->memq, &mm)) {
		for (unsigned j = 0; j < w->nlocal; j++) {
			struct shard *sh = &d->shards[w->local[j]];
			if (sh->idx == 0)
				continue;
			gv_member_info info = {.id = mm.id,
					       .addr = mm.addr,
					       .incarnation = mm.incarnation,
					       .state = mm.state,
					       .name = mm.name,
					       .region = mm.region};
			/* shard i of a peer is on its shard-0 port + i */
			info.addr.port = (uint16_t)(info.addr.port + sh->idx);
			int rc = gv_node_set_member(sh->node, now, &info);
			if (rc)
				gv_log(GV_LOG_WARN, "member not passed on",
				       "shard=%u error=%s", sh->idx,
				       gv_strerror(rc));
			gv_shard_touch(w->rt, sh->ep);
		}
	}
}

/* ------------------------------------------------------ node callbacks */

static uint32_t
cluster_id(const char *name)
{
	return (uint32_t)XXH3_64bits(name, strlen(name));
}

/* The node's stream channel: this worker's TCP connections. */
static int
cb_stream_send(void *ud, const gv_addr *to, const uint8_t *msg, size_t len)
{
	struct shard *sh = ud;
	return gv_shard_stream_send(sh->w->rt, sh->ep, to, msg, len);
}

static void
cb_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	struct shard *s = ud;
	if (result < 0)
		return; /* local write */
	double delay = ((double)wall_ms() - (double)gv_hlc_ms(rec->ver.hlc)) /
		       1000; /* seconds */
	gv_histogram_observe(&s->delay, delay < 0 ? 0 : delay);
}

static void
cb_member(void *ud, const gv_member_info *m, int old, gv_time now)
{
	struct shard *s = ud;
	gv_daemon *d = s->d;
	char a[64], q[160];
	gv_addr_str(&m->addr, a, sizeof(a));
	int lvl = m->state == GV_MEMBER_ALIVE || m->state == GV_MEMBER_LEFT
			  ? GV_LOG_INFO
			  : GV_LOG_WARN;
	if (m->state != GV_MEMBER_SUSPECT || gv_log_level() <= GV_LOG_DEBUG)
		gv_log(lvl, "member state", "member=%s addr=%s from=%s to=%s "
		       "incarnation=%u region=%s",
		       gv_log_quote(m->name, q, sizeof(q)), a,
		       state_name(old), state_name(m->state), m->incarnation,
		       m->region);
	/* the other shards learn it from here */
	struct member_msg mm;
	member_msg_of(&mm, m);
	for (unsigned t = 0; t < d->nthreads; t++)
		if (needs_members(&d->workers[t]))
			push_member(d, &d->workers[t], &mm);
	const char *type = NULL;
	if (m->state == GV_MEMBER_ALIVE)
		type = "member-join";
	else if (m->state == GV_MEMBER_LEFT)
		type = "member-leave";
	else if (m->state == GV_MEMBER_DEAD)
		type = "member-failed";
	if (type) {
		struct event e = {0};
		snprintf(e.type, sizeof(e.type), "%s", type);
		snprintf(e.name, sizeof(e.name), "%s", m->name);
		snprintf(e.addr, sizeof(e.addr), "%s", a);
		snprintf(e.region, sizeof(e.region), "%s", m->region);
		snprintf(e.state, sizeof(e.state), "%s", state_name(m->state));
		e.incarnation = m->incarnation;
		gvd_push_event(s, &e);
	}
}

static void
copy_val(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(dst, v, k);
	dst[k] = 0;
}

static void
cb_conflict(void *ud, const gv_record *w, const gv_record *l, gv_time now)
{
	struct shard *s = ud;
	struct event e = {0};
	snprintf(e.type, sizeof(e.type), "conflict");
	uint8_t shown[sizeof(e.key)];
	size_t full, n = gv_key_display(w->key, w->klen, shown, sizeof(shown),
					&full);
	if (n)
		copy_val(e.key, sizeof(e.key), shown, n); /* a hash's field */
	else
		copy_val(e.key, sizeof(e.key), w->key, w->klen);
	copy_val(e.winner, sizeof(e.winner), w->val, w->vlen);
	copy_val(e.loser, sizeof(e.loser), l->val, l->vlen);
	gvd_push_event(s, &e);
	if (gv_log_level() <= GV_LOG_DEBUG) {
		char q[300];
		gv_log(GV_LOG_DEBUG, "conflict", "shard=%u key=%s", s->idx,
		       gv_log_quote(e.key, q, sizeof(q)));
	}
}

/* The CPU cost of compression, timed around each call: the monotonic
 * clock (vDSO, ~20 ns), not the thread's CPU clock (a system call, as
 * long as compressing a small datagram); a preempted call counts its
 * wait, rarely, the call being microseconds. */
static uint64_t
cb_clock_ns(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
cb_partition(void *ud, bool part, double reach, gv_time now)
{
	struct shard *s = ud;
	gv_log(part ? GV_LOG_WARN : GV_LOG_INFO,
	       part ? "partition detected" : "partition healed",
	       "reach=%.2f quorum=0.51", reach);
	struct event e = {0};
	snprintf(e.type, sizeof(e.type), "%s", part ? "partition" : "heal");
	e.reach = reach;
	gvd_push_event(s, &e);
}

static void
cb_join_refused(void *ud, const gv_addr *seed, unsigned their, gv_time now)
{
	struct shard *s = ud;
	gv_daemon *d = s->d;
	char a[64];
	snprintf(d->fatal_msg, sizeof(d->fatal_msg),
		 "shard count mismatch: this node runs --shards %u, seed %s "
		 "runs %u; every node of a cluster must use the same --shards "
		 "(--threads may differ)",
		 d->k, gv_addr_str(seed, a, sizeof(a)), their);
	atomic_store(&d->fatal, 1);
	gvd_wake_front(d);
}

/* ------------------------------------------------- the shard runtime */

/*
 * One batch from the front end: its subs applied to their shard's node in
 * order, then one answer. An EXEC whose WATCHed keys and commands are all
 * on this thread checks first (OP_VCHECK, at the head of its part) and,
 * when a key changed, skips the rest: nothing else ran on this thread in
 * between, so check and apply are one step.
 */
static void
on_cmd(void *ud, gv_shard *rt, void *cmd, gv_time now)
{
	struct worker *w = ud;
	struct batch *b;
	memcpy(&b, cmd, sizeof(b));
	struct shard *sh = &w->d->shards[b->shard];
	struct req *r = b->r;
	for (uint32_t i = 0; i < b->n; i++) {
		struct sub *s = b->v[i];
		/* relaxed: only this thread writes and reads it while the
		 * batches are out (watch_one); the front end reads it after
		 * taking the replies, ordered by the reply ring */
		if (atomic_load_explicit(&r->abort, memory_order_relaxed)) {
			s->null = true; /* not applied */
			continue;
		}
		gvd_apply_sub(sh, s, now);
		if (s->op == OP_VCHECK && s->ival && r->watch_one)
			atomic_store_explicit(&r->abort, true,
					      memory_order_relaxed);
	}
	/* --dir: the log written (always: synced) before the answer goes */
	gvd_persist_commit(w);
	/* cannot fail: one reply per command, and the runtime holds a whole
	 * batch of them when the ring is full */
	(void)gv_shard_reply(rt, &b);
	gv_shard_touch(rt, sh->ep);
}

static void
on_iter(void *ud, gv_shard *rt, gv_time now)
{
	struct worker *w = ud;
	gv_daemon *d = w->d;
	if (w->idx == 0)
		resync_members(d);
	take_members(w, now);
	int leave = atomic_load(&w->leave);
	if (leave == 1) {
		atomic_store(&w->leave, 2);
		if (w->idx == 0) {
			/* shard 0 (always on thread 0) speaks for the node */
			int rc = gv_node_leave(d->shards[0].node, now);
			if (rc)
				gv_log(GV_LOG_WARN, "leave not announced",
				       "error=%s", gv_strerror(rc));
			gv_shard_touch(rt, d->shards[0].ep);
		}
		w->leave_at = now;
	} else if (leave == 2 && now - w->leave_at > 500000) {
		/* the leave has had half a second to go out */
		gv_shard_request_stop(rt);
	}
	gvd_fast_iter(w, now);
	gvd_persist_iter(w, now);
}

static void
on_publish(void *ud, gv_shard *rt, void *snap, gv_time now)
{
	struct worker *w = ud;
	struct pub *p = snap;
	uint64_t zthr = atomic_load_explicit(&w->d->compress_threshold,
					     memory_order_relaxed);
	bool zset = zthr != w->compress_threshold;
	w->compress_threshold = zthr;
	for (unsigned j = 0; j < w->nlocal; j++) {
		gv_node *n = w->d->shards[w->local[j]].node;
		if (zset) /* CONFIG SET compress-threshold */
			(void)gv_node_set_compress(n, (size_t)zthr,
						   w->d->cfg.compress_level);
		const gv_store *st = gv_node_store(n);
		memset(&p[j], 0, sizeof(p[j]));
		p[j].st = *gv_node_get_stats(n);
		p[j].keys = st->count - st->tombstones -
			    gv_node_reserved_count(n) + gv_node_hash_count(n);
		p[j].tombstones = st->tombstones;
		p[j].expires = st->expiring;
		p[j].expire_sum = st->expire_sum;
		p[j].clock_ms = gv_node_clock_ms(n, now);
		p[j].mem_used = st->mem_used;
		p[j].reach = gv_node_reach(n);
		p[j].partitioned = gv_node_partitioned(n);
	}
	/* the thread's socket counters, once: with the first shard */
	gv_io_get_stats(gv_shard_io(rt), &p[0].io);
	gv_shard_stream_stats(rt, &p[0].tcp);
}

static void
on_reply(void *ud, gv_shard *rt)
{
	struct worker *w = ud;
	gvd_wake_front(w->d);
}

static void
io_log(void *ud, int level, const char *msg)
{
	struct worker *w = ud;
	int l = level == GV_IO_LOG_ERROR  ? GV_LOG_ERROR
		: level == GV_IO_LOG_WARN ? GV_LOG_WARN
		: level == GV_IO_LOG_INFO ? GV_LOG_INFO
					  : GV_LOG_DEBUG;
	gv_log(l, msg, "thread=%u", w->idx);
}

/* A power of two at least x (x <= 2^30). */
static size_t
pow2_at_least(size_t x)
{
	size_t p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

static int
worker_init(gv_daemon *d, unsigned t, char *err, size_t errlen)
{
	d->workers[t].cfd = -1; /* fastpath.c: none yet */
	struct worker *w = &d->workers[t];
	w->d = d;
	w->idx = t;
	/* before the thread starts: what its nodes are created with */
	w->compress_threshold = d->cfg.compress_threshold;
	atomic_store_explicit(&d->compress_threshold,
			      d->cfg.compress_threshold, memory_order_relaxed);
	for (unsigned i = t; i < d->k; i += d->nthreads)
		w->local[w->nlocal++] = i;
	if (gv_spsc_init(&w->memq, d->mem, MEMQ, sizeof(struct member_msg))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->memq_ok = true;

	gv_shard_config sc;
	gv_shard_config_default(&sc);
	sc.index = t;
	sc.name = "gv-shard";
	sc.io.backend = d->cfg.io_backend;
	sc.io.max_endpoints = w->nlocal;
	sc.io.buf_size = 65536; /* big values travel in one datagram */
	sc.io.buf_count = 256 * (w->nlocal < 4 ? w->nlocal : 4);
	sc.io.send_slots = 1024 * (w->nlocal < 2 ? 1 : 2);
	sc.io.log = io_log;
	sc.io.log_ud = w;
	sc.cmd_size = sizeof(struct batch *);
	sc.cmd_cap = pow2_at_least((size_t)RING * w->nlocal);
	sc.reply_size = sizeof(struct batch *);
	sc.reply_cap = sc.cmd_cap;
	sc.pub_size = w->nlocal * sizeof(struct pub);
	sc.pub_every_us = PUB_EVERY_US;
	sc.cpu = d->cfg.pin ? d->cpus[t % d->ncpus] : -1;
	sc.ops.on_cmd = on_cmd;
	sc.ops.on_iter = on_iter;
	sc.ops.on_publish = on_publish;
	sc.ops.on_reply = on_reply;
	sc.ud = w;
	int rc = gv_shard_new(&w->rt, &sc);
	if (rc) {
		snprintf(err, errlen, "thread %u: cannot start the network "
			 "worker: %s", t, gv_strerror(rc));
		return -1;
	}
	gv_tcp_config tc;
	gv_tcp_config_default(&tc);
	tc.cluster = cluster_id(d->cfg.cluster);
	tc.keyring = d->keyring;
	tc.max_msg = GV_STREAM_MAX_MSG(GV_STREAM_DEFAULT_CHUNK);
	tc.queue_max = (size_t)d->cfg.stream_buffer;
	rc = gv_shard_enable_stream(w->rt, &tc);
	if (rc) {
		snprintf(err, errlen, "thread %u: cannot set up the stream "
			 "channel: %s", t, gv_strerror(rc));
		return -1;
	}
	return 0;
}

/* Randomness for the node id and the shards' seeds (which also draw the
 * boot value that goes into every sealed datagram's nonce): from the
 * kernel, never from the time or the pid, which repeat across quick
 * restarts. */
static int
random_bytes(void *buf, size_t len, char *err, size_t errlen)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = getrandom((char *)buf + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "cannot get randomness from the "
				 "kernel (getrandom): %s",
				 r < 0 ? strerror(errno) : "no bytes");
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static int
shard_init(gv_daemon *d, unsigned i, gv_node_id id, uint64_t seed,
	   char *err, size_t errlen)
{
	struct shard *sh = &d->shards[i];
	struct worker *w = &d->workers[i % d->nthreads];
	sh->d = d;
	sh->idx = i;
	sh->w = w;
	sh->io = gv_shard_io(w->rt);
	if (gv_histogram_init(&sh->delay, gv_hist_delay_s_bounds,
			      GV_HIST_DELAY_S_N) ||
	    gv_spsc_init(&sh->evq, d->mem, EVQ, sizeof(struct event))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sh->evq_ok = true;
	sh->addr = d->cfg.bind;
	sh->addr.port = (uint16_t)(d->cfg.bind.port + i);

	gv_node_config nc;
	gv_node_config_default(&nc);
	nc.id = id; /* one per process: every shard of a node shares it */
	nc.addr = sh->addr;
	nc.seed = seed;
	snprintf(nc.name, sizeof(nc.name), "%s", d->cfg.name);
	snprintf(nc.region, sizeof(nc.region), "%s", d->cfg.region);
	nc.cluster = cluster_id(d->cfg.cluster);
	nc.shard = (uint16_t)i;
	nc.shards = (uint16_t)d->k;
	nc.external_membership = i > 0;
	nc.mode = d->cfg.mode;
	nc.fanout = d->cfg.fanout;
	nc.interval_ms = d->cfg.interval_ms;
	nc.probe_interval_ms = d->cfg.probe_interval_ms;
	nc.probe_timeout_ms = d->cfg.probe_interval_ms / 2
				      ? d->cfg.probe_interval_ms / 2
				      : 1;
	nc.read_only_in_minority = d->cfg.read_only_minority;
	nc.flood_gap_us = d->cfg.flood_gap_us;
	nc.tree_lazy_us = d->cfg.tree_lazy_us;
	nc.tree_graft_us = d->cfg.tree_graft_us;
	nc.store.max_value = d->cfg.max_value;
	nc.stream_threshold = (size_t)d->cfg.stream_threshold;
	nc.cb.stream_send = cb_stream_send;
	nc.store.max_memory = (size_t)(d->cfg.max_memory / d->k);
	nc.wall_offset_ms = d->wall_offset_ms;
	nc.mem = d->mem;
	nc.keyring = d->keyring; /* shared by the shards */
	nc.compress_threshold = (size_t)d->cfg.compress_threshold;
	nc.compress_level = d->cfg.compress_level;
	nc.cb.clock_ns = cb_clock_ns;
	nc.cb.on_update = cb_update;
	nc.cb.on_conflict = cb_conflict;
	if (i == 0) {
		nc.cb.on_member = cb_member;
		nc.cb.on_partition = cb_partition;
		nc.cb.on_join_refused = cb_join_refused;
	}
	nc.ud = sh;
	int rc = gv_node_new(&sh->node, &nc, gv_io_now());
	if (rc) {
		snprintf(err, errlen, "shard %u: %s", i, gv_strerror(rc));
		return -1;
	}
	/* A process that just exited may hold its UDP ports a little
	 * longer: the kernel tears its io_uring down asynchronously. A
	 * restart (by hand, systemd or a test) retries for up to 2 s. */
	for (int tries = 0;; tries++) {
		rc = gv_shard_add_node(w->rt, &sh->addr, sh->node, NULL);
		if (rc != -EADDRINUSE || tries == 100)
			break;
		if (tries == 0)
			gv_log(GV_LOG_INFO, "gossip port busy, retrying",
			       "shard=%u", i);
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	if (rc < 0) {
		char a[64];
		snprintf(err, errlen, "cannot bind gossip port %s: %s",
			 gv_addr_str(&sh->addr, a, sizeof(a)),
			 gv_strerror(rc));
		return -1;
	}
	sh->ep = rc;
	/* the stream channel on the same port number, TCP (retried like the
	 * gossip port: a process that just exited may still hold it) */
	for (int tries = 0;; tries++) {
		rc = gv_shard_stream_listen(w->rt, sh->ep, &sh->addr,
					    &sh->addr, (uint16_t)i, id);
		if (rc != -EADDRINUSE || tries == 100)
			break;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	if (rc < 0) {
		char a[64];
		snprintf(err, errlen,
			 "cannot listen for the stream channel on TCP %s: %s",
			 gv_addr_str(&sh->addr, a, sizeof(a)),
			 gv_strerror(rc));
		return -1;
	}
	return 0;
}

int
gvd_shards_init(gv_daemon *d, char *err, size_t errlen)
{
	d->ncpus = gv_shard_cpus(d->cpus, MAX_SHARDS);
	if (d->ncpus > MAX_SHARDS)
		d->ncpus = MAX_SHARDS;
	d->nthreads = d->cfg.threads;
	if (!d->nthreads)
		d->nthreads = d->ncpus < d->k ? d->ncpus : d->k;
	if (d->nthreads > d->k)
		d->nthreads = d->k;
	struct timespec mono, real;
	/* neither clock can fail with a valid timespec */
	(void)clock_gettime(CLOCK_MONOTONIC, &mono);
	(void)clock_gettime(CLOCK_REALTIME, &real);
	d->wall_offset_ms = (int64_t)real.tv_sec * 1000 +
			    real.tv_nsec / 1000000 -
			    ((int64_t)mono.tv_sec * 1000 +
			     mono.tv_nsec / 1000000);
	uint64_t rnd[MAX_SHARDS + 1];
	if (random_bytes(rnd, sizeof(rnd), err, errlen))
		return -1;
	gv_node_id id = rnd[0] | 1; /* never zero */
	for (unsigned t = 0; t < d->nthreads; t++)
		if (worker_init(d, t, err, errlen))
			return -1;
	for (unsigned i = 0; i < d->k; i++)
		if (shard_init(d, i, id, rnd[1 + i], err, errlen))
			return -1;
	explicit_bzero(rnd, sizeof(rnd));
	/* --dir: the data loaded before any thread runs */
	if (gvd_persist_open(d, err, errlen))
		return -1;
	return gvd_fast_init(d, err, errlen);
}

int
gvd_shards_start(gv_daemon *d, char *err, size_t errlen)
{
	/* --join's seeds, and the members a snapshot knew (--dir) */
	gv_addr seeds[GV_MAX_SEEDS + 64];
	size_t nseeds = d->cfg.nseeds;
	memcpy(seeds, d->cfg.seeds, nseeds * sizeof(seeds[0]));
	nseeds += gvd_persist_seeds(d, seeds + nseeds, 64);
	if (nseeds) {
		/* before the threads start: shard 0 is ours alone now */
		struct shard *s0 = &d->shards[0];
		int rc = gv_node_join(s0->node, gv_io_now(), seeds, nseeds);
		if (rc == 0)
			rc = gv_io_poke(s0->io, s0->ep);
		if (rc) {
			snprintf(err, errlen, "cannot join: %s",
				 gv_strerror(rc));
			return -1;
		}
	}
	for (unsigned t = 0; t < d->nthreads; t++) {
		int rc = gv_shard_start(d->workers[t].rt);
		if (rc) {
			snprintf(err, errlen, "cannot start worker thread %u: "
				 "%s", t, gv_strerror(rc));
			return -1;
		}
	}
	return 0;
}

void
gvd_shards_leave(gv_daemon *d)
{
	for (unsigned t = 0; t < d->nthreads; t++) {
		atomic_store(&d->workers[t].leave, 1);
		gv_shard_wake(d->workers[t].rt);
	}
	/* each thread stops half a second after its leave went out */
	for (unsigned t = 0; t < d->nthreads; t++)
		while (!gv_shard_done(d->workers[t].rt))
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000},
				  NULL);
}

/* A batch whose shard is gone: count it back, free its req if
 * orphaned. */
static void
batch_back(struct batch *b)
{
	struct req *r = b->r;
	for (uint32_t i = 0; i < b->n; i++)
		b->v[i]->rc = GV_ECANCELED_SHUTDOWN;
	r->done += b->n;
	if (!req_done(r))
		return;
	if (r->on_done) {
		/* an EXEC's check: its EXEC is answered (or freed) with its
		 * client, not flushed now that the threads are stopped */
		r = r->on_done(r->d, r);
		if (!r || !req_done(r))
			return;
	}
	if (!r->cl)
		gvd_req_free(r);
}

void
gvd_shards_fini(gv_daemon *d)
{
	for (unsigned t = 0; t < d->nthreads; t++)
		if (d->workers[t].rt)
			gv_shard_stop(d->workers[t].rt);
	/* the threads are stopped: collect what came back (and what the
	 * runtime held back), then what was never applied */
	gvd_drain_shards(d);
	for (unsigned t = 0; t < d->nthreads; t++) {
		struct batch *b;
		if (!d->workers[t].rt)
			continue;
		while (gv_shard_unapplied(d->workers[t].rt, &b))
			batch_back(b);
	}
	/* and what never left the front end: answered, for the clients'
	 * close to free */
	d->barrier = NULL;
	while (d->wait_head) {
		struct req *r = d->wait_head;
		d->wait_head = r->wnext;
		for (unsigned i = 0; i < r->nsubs; i++)
			r->subs[i].rc = GV_ECANCELED_SHUTDOWN;
		r->done = r->total;
		if (r->exec) {
			/* an EXEC's check: its EXEC never went out */
			r->exec->aborted = true;
			r->exec->done = r->exec->total;
			gvd_req_free(r);
		} else if (!r->cl) {
			gvd_req_free(r);
		}
	}
	d->wait_tail = NULL;
	/* the workers' clients: their commands answered, rings gone */
	gvd_fast_fini(d);
	/* the threads are stopped: what the logs hold goes to disk */
	gvd_persist_close(d);
}

void
gvd_shards_del(gv_daemon *d)
{
	for (unsigned i = 0; i < d->k; i++) {
		struct shard *sh = &d->shards[i];
		if (sh->node)
			gv_node_del(sh->node);
		if (sh->evq_ok)
			gv_spsc_fini(&sh->evq);
	}
	for (unsigned t = 0; t < d->nthreads; t++) {
		struct worker *w = &d->workers[t];
		gv_shard_del(w->rt);
		if (w->memq_ok)
			gv_spsc_fini(&w->memq);
		free(w->ts);
		w->ts = NULL;
	}
	free(d->ts);
	d->ts = NULL;
}

/* ------------------------------------------------------------ stats */

void
gvd_sum_stats(gv_daemon *d, struct pub *t, struct pub *per)
{
	memset(t, 0, sizeof(*t));
	struct pub first, snap[MAX_SHARDS];
	memset(&first, 0, sizeof(first));
	for (unsigned w = 0; w < d->nthreads; w++) {
		struct worker *wk = &d->workers[w];
		gv_shard_read_snapshot(wk->rt, snap);
		for (unsigned j = 0; j < wk->nlocal; j++) {
			unsigned i = wk->local[j];
			struct pub *p = &snap[j];
			if (per)
				per[i] = *p;
			if (i == 0)
				first = *p;
			uint64_t *a = (uint64_t *)&t->st;
			const uint64_t *b = (const uint64_t *)&p->st;
			for (size_t k = 0; k < sizeof(p->st) / sizeof(uint64_t);
			     k++)
				a[k] += b[k];
			t->keys += p->keys;
			t->expires += p->expires;
			t->expire_sum += p->expire_sum;
			if (p->clock_ms > t->clock_ms)
				t->clock_ms = p->clock_ms;
			t->tombstones += p->tombstones;
			t->mem_used += p->mem_used;
			t->io.dgrams_in += p->io.dgrams_in;
			t->io.dgrams_out += p->io.dgrams_out;
			uint64_t *ta = (uint64_t *)&t->tcp;
			const uint64_t *tb = (const uint64_t *)&p->tcp;
			for (size_t k = 0; k < sizeof(p->tcp) / sizeof(uint64_t);
			     k++)
				ta[k] += tb[k];
		}
	}
	/* membership is the node's, run by shard 0 (the others mirror it) */
	t->reach = first.reach;
	t->partitioned = first.partitioned;
	t->st.members_alive = first.st.members_alive;
	t->st.members_suspect = first.st.members_suspect;
	t->st.members_dead = first.st.members_dead;
	t->st.members_left = first.st.members_left;
	t->st.probes = first.st.probes;
	t->st.suspicions = first.st.suspicions;
	t->st.refutes = first.st.refutes;
	t->st.awareness = first.st.awareness; /* not a sum */
}

void
gvd_sum_drops(gv_daemon *d, struct drops *x)
{
	memset(x, 0, sizeof(*x));
	for (unsigned i = 0; i < d->k; i++) {
		struct shard *sh = &d->shards[i];
		x->hook_events += atomic_load_explicit(&sh->ev_dropped,
						       memory_order_relaxed);
		x->member_msgs += atomic_load_explicit(&sh->mem_dropped,
						       memory_order_relaxed);
	}
	for (unsigned t = 0; t < d->nthreads; t++) {
		gv_shard_stats ss;
		gv_shard_get_stats(d->workers[t].rt, &ss);
		x->replies_held += ss.replies_held;
	}
	for (struct client *c = d->clients; c; c = c->next)
		x->paused_clients += !c->home && c->paused; /* a worker's:
							    * its own */
}
