/* SPDX-License-Identifier: MIT */
/*
 * shard.c - the shard runtime (see shard.h): a thread running gv_io_run,
 * whose on_iter takes the owner's commands in batches, runs the owner's
 * per-iteration hook, drains the nodes the callbacks touched, publishes
 * the snapshot and wakes the reply reader. Everything a callback can do
 * to the shard (reply, touch) is recorded here and acted on once per
 * iteration, so a batch of commands costs one drain per node and one
 * wake of the owner.
 */
#define _GNU_SOURCE /* pthread_setname_np, pthread_setaffinity_np */
#include "shard/shard.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shard/spsc.h"

struct gv_shard {
	gv_shard_config cfg;
	char name[16];
	gv_io *io;
	pthread_t th;
	bool started, joined;
	/* Release by whoever asks for the stop, acquire by gv_io_run
	 * between iterations: the loop sees the request. */
	volatile sig_atomic_t stop;
	/* Set by the thread when it ends (release), read by others
	 * (acquire): then err is the loop's result. */
	_Atomic bool done;
	_Atomic int err;

	gv_spsc in, out;
	bool in_ok, out_ok;
	unsigned char *batch; /* GV_SHARD_BATCH commands, popped at once */

	/* replies that found the ring full, oldest first (shard thread) */
	unsigned char *held;
	size_t nheld;
	bool replied; /* a reply was queued this iteration */
	/* Set by the shard when it holds replies, exchanged to 0 by the
	 * owner's take, which then wakes it: the shard learns there is
	 * room without polling the ring. Both sides change it with an
	 * exchange (see flush_held and gv_shard_take), so that neither can
	 * miss the other. On its own line: the owner writes it. */
	char pad_of[64];
	_Atomic int out_full;
	char pad_of2[64];

	/* nodes, by socket index (shard thread once started) */
	gv_node **nodes;
	unsigned nnodes;
	bool *touched;
	unsigned *tlist;
	unsigned ntouched;

	/* snapshot: buf under mu; the shard writes with a trylock when it
	 * is periodic and a lock when asked, readers copy under the lock */
	pthread_mutex_t mu;
	bool mu_ok;
	void *pub;
	uint64_t pub_ticket; /* under mu */
	gv_time last_pub;    /* shard thread */
	/* Tickets: a requester's fetch_add on req, the shard's release
	 * store of done after the snapshot it took for them. */
	_Atomic uint64_t pub_req, pub_done;

	gv_tcp *tcp; /* the stream channel, or NULL */
	/* the owner's descriptor (gv_shard_watch), and the epoll set that
	 * joins it with the stream channel's when both are watched (the
	 * loop watches one descriptor) */
	int owner_fd, aux_fd;
	void (*owner_cb)(void *ud, gv_time now);
	void *owner_ud;

	/* counters: the shard writes, any thread reads (relaxed: each a
	 * count on its own, no other data hangs on them) */
	_Atomic uint64_t n_cmds, n_replies, n_held, n_pubs;
};

void
gv_shard_config_default(gv_shard_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "gv-shard";
	gv_io_config_default(&cfg->io);
	cfg->cmd_cap = 4096;
	cfg->reply_cap = 4096;
	cfg->pub_every_us = 100000;
	cfg->cpu = -1;
}

static void
slog(gv_shard *sh, int level, const char *msg)
{
	if (sh->cfg.io.log)
		sh->cfg.io.log(sh->cfg.io.log_ud, level, msg);
	else if (level <= GV_IO_LOG_WARN)
		fprintf(stderr, "%s: %s\n", sh->name, msg);
}

/*
 * Hand held replies to the ring, oldest first. Shard thread.
 *
 * With the ring still full, ask the owner's next take to wake us, then
 * look at the ring once more. The exchange and the owner's (after its
 * pop) are read-modify-writes of one variable, so one comes first: if
 * ours did, the owner's reads our 1 and wakes us; if the owner's did,
 * ours reads what it wrote and synchronizes with it (acq_rel), so the
 * second push sees the pop before it. Setting the flag and going to
 * sleep without the second look, a take that popped between our push
 * and our store, and found the flag still 0, would leave us holding
 * replies in front of an empty ring until the loop's next timeout.
 */
static void
flush_held(gv_shard *sh)
{
	size_t sz = sh->cfg.reply_size, k;
	bool armed = false;

	while (sh->nheld) {
		k = gv_spsc_push_n(&sh->out, sh->held, sh->nheld);
		if (k) {
			memmove(sh->held, sh->held + k * sz,
			        (sh->nheld - k) * sz);
			sh->nheld -= k;
			sh->replied = true;
			continue;
		}
		/* after arming, the owner's take wakes us, or already did
		 * (the wake is pending: we run again at once) */
		if (armed)
			return;
		(void)atomic_exchange_explicit(&sh->out_full, 1,
		                               memory_order_acq_rel);
		armed = true;
	}
}

/* req: the requests seen when the iteration began (shard_iter). */
static void
publish(gv_shard *sh, uint64_t req, gv_time now)
{
	uint64_t done =
	        atomic_load_explicit(&sh->pub_done, memory_order_relaxed);
	bool asked = req != done;

	if (!sh->pub)
		return;
	if (!asked && (!sh->cfg.pub_every_us ||
	               now - sh->last_pub < sh->cfg.pub_every_us))
		return;
	/* periodic: never wait for a reader (skip the round if one holds
	 * the lock); asked: a reader's copy is a short memcpy */
	if (asked)
		pthread_mutex_lock(&sh->mu);
	else if (pthread_mutex_trylock(&sh->mu))
		return;
	sh->last_pub = now;
	if (sh->cfg.ops.on_publish)
		sh->cfg.ops.on_publish(sh->cfg.ud, sh, sh->pub, now);
	sh->pub_ticket = req;
	pthread_mutex_unlock(&sh->mu);
	atomic_fetch_add_explicit(&sh->n_pubs, 1, memory_order_relaxed);
	/* release: a requester that sees its ticket done reads (under the
	 * lock) a snapshot taken after its request */
	atomic_store_explicit(&sh->pub_done, req, memory_order_release);
}

/* Apply up to max commands from the ring, in batches; *now is the time
 * the last batch was taken. Returns max less the commands taken. */
static size_t
take_cmds(gv_shard *sh, size_t max, gv_time *now)
{
	const gv_shard_ops *ops = &sh->cfg.ops;
	size_t sz = sh->cfg.cmd_size, k;

	while (!sh->nheld && max) {
		k = gv_spsc_pop_n(&sh->in, sh->batch,
		                  max < GV_SHARD_BATCH ? max : GV_SHARD_BATCH);
		if (!k)
			break;
		*now = gv_io_now();
		for (size_t i = 0; i < k; i++)
			ops->on_cmd(sh->cfg.ud, sh, sh->batch + i * sz, *now);
		atomic_fetch_add_explicit(&sh->n_cmds, k,
		                          memory_order_relaxed);
		max -= k;
	}
	return max;
}

bool
gv_shard_take_cmds(gv_shard *sh)
{
	gv_time now;

	flush_held(sh);
	/* room left: the last pop found the ring empty, after an acquire
	 * reload of its tail (gv__spsc_filled) */
	size_t left = take_cmds(sh, sh->cfg.cmd_cap, &now);
	return !sh->nheld && left > 0;
}

/* gv_io's on_iter (shard thread). */
static void
shard_iter(void *ud)
{
	gv_shard *sh = ud;
	const gv_shard_ops *ops = &sh->cfg.ops;
	size_t left = sh->cfg.cmd_cap;
	/*
	 * The publish requests to answer this iteration, read before the
	 * commands are taken. Acquire: pairs with the release in
	 * gv_shard_request_publish, so every command submitted before a
	 * request counted here is in the ring now, and (a ring holds at
	 * most cmd_cap) taken below before the snapshot answers it, unless
	 * held replies stop the taking. A request counted later has woken
	 * the loop: the next iteration answers it. (Read after the
	 * commands, a request that came while on_iter ran would be
	 * answered by a snapshot missing commands submitted before it.)
	 */
	uint64_t req = atomic_load_explicit(&sh->pub_req, memory_order_acquire);
	gv_time now = gv_io_now();

	flush_held(sh);
	/* at most a ring's worth: an owner that keeps the ring full must
	 * not keep the loop from its sockets and timers */
	left = take_cmds(sh, left, &now);
	/* more may wait, and the owner's wake for them may be spent: come
	 * back right after this iteration's sends */
	if (!left)
		gv_io_wake(sh->io);
	if (ops->on_iter)
		ops->on_iter(sh->cfg.ud, sh, now);
	if (sh->tcp)
		gv_tcp_tick(sh->tcp, now);
	while (sh->ntouched) {
		unsigned ep = sh->tlist[--sh->ntouched];

		sh->touched[ep] = false;
		/* cannot fail: ep is a socket of ours and we are outside
		 * any endpoint call; a detached one is simply skipped */
		(void)gv_io_poke(sh->io, (int)ep);
	}
	/* replies held this iteration (by on_cmd or on_iter): arm the
	 * owner's wake */
	flush_held(sh);
	publish(sh, req, now);
	if (sh->replied) {
		sh->replied = false;
		if (ops->on_reply)
			ops->on_reply(sh->cfg.ud, sh);
	}
}

static void *
shard_main(void *arg)
{
	gv_shard *sh = arg;
	int rc;

	(void)pthread_setname_np(pthread_self(), sh->name);
	if (sh->cfg.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(sh->cfg.cpu, &set);
		rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc) {
			char m[96];

			snprintf(m, sizeof(m), "cannot pin to cpu %d: %s",
			         sh->cfg.cpu, strerror(rc));
			slog(sh, GV_IO_LOG_WARN, m);
		}
	}
	rc = gv_io_run(sh->io, &sh->stop);
	if (rc) {
		char m[96];

		snprintf(m, sizeof(m), "io loop stopped: %s", gv_strerror(rc));
		slog(sh, GV_IO_LOG_ERROR, m);
	}
	atomic_store_explicit(&sh->err, rc, memory_order_relaxed);
	atomic_store_explicit(&sh->done, true, memory_order_release);
	return NULL;
}

static bool
pow2(size_t x)
{
	return x && !(x & (x - 1));
}

int
gv_shard_new(gv_shard **out, const gv_shard_config *cfg)
{
	gv_shard *sh;
	gv_io_config ic;
	unsigned neps;
	int rc;

	if (!out || !cfg || !cfg->cmd_size || !cfg->ops.on_cmd ||
	    !pow2(cfg->cmd_cap) || (cfg->reply_size && !pow2(cfg->reply_cap)))
		return GV_EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (sh)
		sh->owner_fd = sh->aux_fd = -1;
	if (!sh)
		return GV_ENOMEM;
	sh->cfg = *cfg;
	snprintf(sh->name, sizeof(sh->name), "%s%u",
	         cfg->name ? cfg->name : "gv-shard", cfg->index);
	neps = cfg->io.max_endpoints ? cfg->io.max_endpoints : 64;
	sh->nodes = calloc(neps, sizeof(*sh->nodes));
	sh->touched = calloc(neps, sizeof(*sh->touched));
	sh->tlist = calloc(neps, sizeof(*sh->tlist));
	sh->batch = malloc(GV_SHARD_BATCH * cfg->cmd_size);
	if (cfg->reply_size)
		sh->held = malloc(GV_SHARD_BATCH * cfg->reply_size);
	if (cfg->pub_size)
		sh->pub = calloc(1, cfg->pub_size);
	if (!sh->nodes || !sh->touched || !sh->tlist || !sh->batch ||
	    (cfg->reply_size && !sh->held) || (cfg->pub_size && !sh->pub)) {
		rc = GV_ENOMEM;
		goto fail;
	}
	rc = pthread_mutex_init(&sh->mu, NULL);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	sh->mu_ok = true;
	rc = gv_spsc_init(&sh->in, gv_mem_libc(), cfg->cmd_cap, cfg->cmd_size);
	if (rc)
		goto fail;
	sh->in_ok = true;
	if (cfg->reply_size) {
		rc = gv_spsc_init(&sh->out, gv_mem_libc(), cfg->reply_cap,
		                  cfg->reply_size);
		if (rc)
			goto fail;
		sh->out_ok = true;
	}
	ic = cfg->io;
	ic.max_endpoints = neps;
	ic.on_iter = shard_iter;
	ic.iter_ud = sh;
	rc = gv_io_new(&sh->io, &ic);
	if (rc)
		goto fail;
	*out = sh;
	return 0;
fail:
	gv_shard_del(sh);
	return rc;
}

void
gv_shard_del(gv_shard *sh)
{
	if (!sh)
		return;
	gv_shard_stop(sh);
	if (sh->io)
		gv_io_del(sh->io);
	gv_tcp_del(sh->tcp);
	if (sh->aux_fd >= 0)
		(void)close(sh->aux_fd); /* an epoll set: nothing to lose */
	if (sh->in_ok)
		gv_spsc_fini(&sh->in);
	if (sh->out_ok)
		gv_spsc_fini(&sh->out);
	if (sh->mu_ok)
		pthread_mutex_destroy(&sh->mu);
	free(sh->nodes);
	free(sh->touched);
	free(sh->tlist);
	free(sh->batch);
	free(sh->held);
	free(sh->pub);
	free(sh);
}

int
gv_shard_add_node(gv_shard *sh, const gv_addr *bind, gv_node *node,
                  gv_addr *bound)
{
	int ep = gv_io_add(sh->io, bind, node ? &gv_node_ops : NULL, node,
	                   bound);

	if (ep < 0)
		return ep;
	sh->nodes[ep] = node;
	if ((unsigned)ep >= sh->nnodes)
		sh->nnodes = (unsigned)ep + 1;
	return ep;
}

int
gv_shard_attach(gv_shard *sh, int ep, gv_node *node)
{
	int rc;

	if (ep < 0 || (unsigned)ep >= sh->nnodes)
		return GV_EINVAL;
	rc = gv_io_attach(sh->io, ep, &gv_node_ops, node);
	if (rc == 0)
		sh->nodes[ep] = node;
	return rc;
}

gv_node *
gv_shard_node(const gv_shard *sh, int ep)
{
	return ep >= 0 && (unsigned)ep < sh->nnodes ? sh->nodes[ep] : NULL;
}

unsigned
gv_shard_nodes(const gv_shard *sh)
{
	return sh->nnodes;
}

gv_io *
gv_shard_io(const gv_shard *sh)
{
	return sh->io;
}

unsigned
gv_shard_index(const gv_shard *sh)
{
	return sh->cfg.index;
}

int
gv_shard_start(gv_shard *sh)
{
	int rc;

	if (sh->started)
		return GV_EINVAL;
	rc = pthread_create(&sh->th, NULL, shard_main, sh);
	if (rc)
		return -rc;
	sh->started = true;
	return 0;
}

void
gv_shard_request_stop(gv_shard *sh)
{
	/* release: pairs with gv_io_run's acquire load of the flag */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	gv_io_wake(sh->io);
}

void
gv_shard_stop(gv_shard *sh)
{
	if (!sh->started || sh->joined)
		return;
	gv_shard_request_stop(sh);
	pthread_join(sh->th, NULL);
	sh->joined = true;
}

bool
gv_shard_done(const gv_shard *sh)
{
	return atomic_load_explicit(&sh->done, memory_order_acquire);
}

int
gv_shard_error(const gv_shard *sh)
{
	if (!gv_shard_done(sh))
		return 0;
	return atomic_load_explicit(&sh->err, memory_order_relaxed);
}

int
gv_shard_submit(gv_shard *sh, const void *cmd)
{
	return gv_spsc_push(&sh->in, cmd);
}

size_t
gv_shard_pending(const gv_shard *sh)
{
	return gv_spsc_size(&sh->in);
}

size_t
gv_shard_room(const gv_shard *sh)
{
	/* on the producer's side the size is an upper bound (the consumer
	 * may have popped since), so this is a lower bound of the room */
	return gv_spsc_capacity(&sh->in) - gv_spsc_size(&sh->in);
}

size_t
gv_shard_capacity(const gv_shard *sh)
{
	return gv_spsc_capacity(&sh->in);
}

void
gv_shard_wake(gv_shard *sh)
{
	gv_io_wake(sh->io);
}

int
gv_shard_reply(gv_shard *sh, const void *reply)
{
	size_t sz = sh->cfg.reply_size;

	if (!sh->out_ok)
		return GV_EINVAL;
	if (!sh->nheld && gv_spsc_push(&sh->out, reply) == 0) {
		sh->replied = true;
		atomic_fetch_add_explicit(&sh->n_replies, 1,
		                          memory_order_relaxed);
		return 0;
	}
	if (sh->nheld == GV_SHARD_BATCH)
		return GV_EFULL;
	/* held: shard_iter's flush_held, after the callbacks, pushes it
	 * or asks the owner's take to wake us */
	memcpy(sh->held + sh->nheld * sz, reply, sz);
	sh->nheld++;
	atomic_fetch_add_explicit(&sh->n_replies, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sh->n_held, 1, memory_order_relaxed);
	return 0;
}

int
gv_shard_take(gv_shard *sh, void *out)
{
	int got;

	if (!sh->out_ok)
		return 0;
	got = gv_spsc_pop(&sh->out, out);
	/*
	 * The shard holds replies back: our pop made room, so wake it.
	 * After the pop, so the shard it wakes sees the room; and an
	 * exchange, not a load, on every take: see flush_held for why then
	 * either we wake the shard or it sees our pop (a plain load could
	 * pass our pop's store and miss the shard's flag, and an owner
	 * that then waits for on_reply would wait for the loop's timeout).
	 * The line is the owner's alone but when the shard arms it.
	 */
	if (atomic_exchange_explicit(&sh->out_full, 0, memory_order_acq_rel))
		gv_io_wake(sh->io);
	if (got)
		return 1;
	/* once the thread is gone, what it held back comes last */
	if (sh->joined && sh->nheld) {
		size_t sz = sh->cfg.reply_size;

		memcpy(out, sh->held, sz);
		memmove(sh->held, sh->held + sz, (sh->nheld - 1) * sz);
		sh->nheld--;
		return 1;
	}
	return 0;
}

int
gv_shard_unapplied(gv_shard *sh, void *out)
{
	if (!sh->joined && sh->started)
		return 0;
	return gv_spsc_pop(&sh->in, out);
}

/* ------------------------------------------------------ stream channel */

static gv_node *
stream_node(gv_shard *sh, unsigned lep)
{
	return lep < sh->nnodes ? sh->nodes[lep] : NULL;
}

static void
st_recv(void *ud, unsigned lep, gv_time now, const gv_addr *peer,
	const uint8_t *msg, size_t len)
{
	gv_shard *sh = ud;
	gv_node *n = stream_node(sh, lep);
	if (!n)
		return;
	(void)gv_node_stream_recv(n, now, peer, msg, len);
	gv_shard_touch(sh, (int)lep);
}

static void
st_ready(void *ud, unsigned lep, gv_time now, const gv_addr *peer)
{
	gv_shard *sh = ud;
	gv_node *n = stream_node(sh, lep);
	if (!n)
		return;
	gv_node_stream_ready(n, now, peer);
	gv_shard_touch(sh, (int)lep);
}

static void
st_down(void *ud, unsigned lep, gv_time now, const gv_addr *peer)
{
	gv_shard *sh = ud;
	gv_node *n = stream_node(sh, lep);
	if (!n)
		return;
	gv_node_stream_down(n, now, peer);
	gv_shard_touch(sh, (int)lep);
}

static int rewatch(gv_shard *sh);

static void
st_watch(void *ud, gv_time now)
{
	gv_shard *sh = ud;
	gv_tcp_poll(sh->tcp, now);
	/* what the nodes sent meanwhile goes out in this iteration */
	while (sh->ntouched) {
		unsigned ep = sh->tlist[--sh->ntouched];

		sh->touched[ep] = false;
		(void)gv_io_poke(sh->io, (int)ep);
	}
}

int
gv_shard_enable_stream(gv_shard *sh, const gv_tcp_config *cfg)
{
	if (!sh || !cfg || sh->tcp || sh->started)
		return GV_EINVAL;
	gv_tcp_config tc = *cfg;
	tc.ops = (gv_tcp_ops){st_recv, st_ready, st_down};
	tc.ud = sh;
	if (!tc.log) {
		tc.log = sh->cfg.io.log;
		tc.log_ud = sh->cfg.io.log_ud;
	}
	int rc = gv_tcp_new(&sh->tcp, &tc);
	if (rc)
		return rc;
	rc = rewatch(sh);
	if (rc) {
		gv_tcp_del(sh->tcp);
		sh->tcp = NULL;
		(void)rewatch(sh);
	}
	return rc;
}

/* Both watched: what the joint set says is ready. */
static void
aux_watch(void *ud, gv_time now)
{
	gv_shard *sh = ud;
	struct epoll_event ev[2];
	int n = epoll_wait(sh->aux_fd, ev, 2, 0);

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == 1)
			st_watch(sh, now);
		else
			sh->owner_cb(sh->owner_ud, now);
	}
}

/* Tell the loop what to watch: the stream channel's set, the owner's
 * descriptor, or (both) a set joining the two. */
static int
rewatch(gv_shard *sh)
{
	int tfd = sh->tcp ? gv_tcp_fd(sh->tcp) : -1;

	if (sh->aux_fd >= 0) {
		(void)close(sh->aux_fd);
		sh->aux_fd = -1;
	}
	if (tfd >= 0 && sh->owner_fd >= 0) {
		struct epoll_event a = {.events = EPOLLIN, .data.u32 = 1};
		struct epoll_event b = {.events = EPOLLIN, .data.u32 = 2};

		sh->aux_fd = epoll_create1(EPOLL_CLOEXEC);
		if (sh->aux_fd < 0)
			return -errno;
		if (epoll_ctl(sh->aux_fd, EPOLL_CTL_ADD, tfd, &a) ||
		    epoll_ctl(sh->aux_fd, EPOLL_CTL_ADD, sh->owner_fd, &b)) {
			int e = -errno;

			(void)close(sh->aux_fd);
			sh->aux_fd = -1;
			return e;
		}
		return gv_io_watch(sh->io, sh->aux_fd, aux_watch, sh);
	}
	if (tfd >= 0)
		return gv_io_watch(sh->io, tfd, st_watch, sh);
	if (sh->owner_fd >= 0)
		return gv_io_watch(sh->io, sh->owner_fd, sh->owner_cb,
		                   sh->owner_ud);
	return gv_io_watch(sh->io, -1, NULL, NULL);
}

int
gv_shard_watch(gv_shard *sh, int fd, void (*cb)(void *ud, gv_time now),
	       void *ud)
{
	if (!sh || sh->started || (fd >= 0 && !cb))
		return GV_EINVAL;
	sh->owner_fd = fd;
	sh->owner_cb = fd >= 0 ? cb : NULL;
	sh->owner_ud = ud;
	int rc = rewatch(sh);
	if (rc) {
		sh->owner_fd = -1;
		sh->owner_cb = NULL;
		(void)rewatch(sh);
	}
	return rc;
}

int
gv_shard_stream_listen(gv_shard *sh, int ep, const gv_addr *bind,
		       const gv_addr *self, uint16_t shard, gv_node_id node)
{
	if (!sh || !sh->tcp || ep < 0)
		return GV_EINVAL;
	return gv_tcp_listen(sh->tcp, (unsigned)ep, bind, self, shard, node);
}

int
gv_shard_stream_send(gv_shard *sh, int ep, const gv_addr *to,
		     const uint8_t *msg, size_t len)
{
	if (!sh || !sh->tcp || ep < 0)
		return GV_EINVAL;
	return gv_tcp_send(sh->tcp, (unsigned)ep, to, msg, len, gv_io_now());
}

void
gv_shard_stream_stats(const gv_shard *sh, gv_tcp_stats *out)
{
	if (sh && sh->tcp)
		gv_tcp_get_stats(sh->tcp, out);
	else
		memset(out, 0, sizeof(*out));
}

void
gv_shard_touch(gv_shard *sh, int ep)
{
	if (ep < 0 || (unsigned)ep >= sh->nnodes || sh->touched[ep])
		return;
	sh->touched[ep] = true;
	sh->tlist[sh->ntouched++] = (unsigned)ep;
}

uint64_t
gv_shard_request_publish(gv_shard *sh)
{
	if (!sh->pub)
		return 0; /* nothing to publish: published() is 0 too */
	/* release: orders the requester's earlier writes (commands it
	 * submitted) before the shard's acquire of the ticket */
	uint64_t t = atomic_fetch_add_explicit(&sh->pub_req, 1,
	                                       memory_order_release) +
	             1;

	gv_io_wake(sh->io);
	return t;
}

uint64_t
gv_shard_published(const gv_shard *sh)
{
	return atomic_load_explicit(&sh->pub_done, memory_order_acquire);
}

uint64_t
gv_shard_read_snapshot(gv_shard *sh, void *dst)
{
	uint64_t t;

	if (!sh->pub)
		return 0;
	pthread_mutex_lock(&sh->mu);
	memcpy(dst, sh->pub, sh->cfg.pub_size);
	t = sh->pub_ticket;
	pthread_mutex_unlock(&sh->mu);
	return t;
}

void
gv_shard_get_stats(const gv_shard *sh, gv_shard_stats *out)
{
	out->cmds = atomic_load_explicit(&sh->n_cmds, memory_order_relaxed);
	out->replies =
	        atomic_load_explicit(&sh->n_replies, memory_order_relaxed);
	out->replies_held =
	        atomic_load_explicit(&sh->n_held, memory_order_relaxed);
	out->publishes =
	        atomic_load_explicit(&sh->n_pubs, memory_order_relaxed);
}

unsigned
gv_shard_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++) {
			if (!CPU_ISSET(c, &set))
				continue;
			if (n < max)
				cpus[n] = c;
			n++;
		}
		if (n)
			return n;
	}
	/* no affinity mask: every online CPU */
	long on = sysconf(_SC_NPROCESSORS_ONLN);

	n = on > 0 ? (unsigned)on : 1;
	for (unsigned i = 0; i < n && i < max; i++)
		cpus[i] = (int)i;
	return n;
}
