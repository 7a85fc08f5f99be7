/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - grapevined's lifecycle: start the shards (a gv_node and an io
 * worker each, on their own thread), the listeners and the hook thread;
 * run the front end's epoll loop; leave the cluster and stop. Also what
 * runs on a shard's thread around the node: its loop iteration, the
 * node's callbacks, and shard 0 passing membership to the other shards.
 * How the threads talk: daemon_int.h.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "server/log.h"

/* ----------------------------------------------------------- helpers */

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
wake_front(gv_daemon *d)
{
	uint64_t one = 1;
	ssize_t w = write(d->efd, &one, sizeof(one));
	(void)w;
}

/* ------------------------------------------------------ node callbacks */

/* Tell shard i about a member (from shard 0's thread). A full ring drops
 * the message, counted, and marks shard i for a resync: shard 0 sends it
 * the whole membership as soon as there is room (shard_iter). */
static void
push_member(gv_daemon *d, unsigned i, const struct member_msg *mm)
{
	struct shard *t = &d->shards[i];
	if (!t->resync && gv_spsc_push(&t->memq, mm) == 0) {
		gv_io_wake(t->io);
		return;
	}
	atomic_fetch_add_explicit(&d->shards[0].mem_dropped, 1,
				  memory_order_relaxed);
	if (!t->resync)
		gv_log(GV_LOG_WARN, "member queue full, shard will resync",
		       "shard=%u", i);
	t->resync = true;
}

/* Shard 0: the whole membership to each shard marked for a resync. */
static void
resync_members(struct shard *sh)
{
	gv_daemon *d = sh->d;
	gv_member_info *m = NULL;
	size_t total = 0;
	for (unsigned i = 1; i < d->k; i++) {
		struct shard *t = &d->shards[i];
		if (!t->resync)
			continue;
		if (!m) {
			total = gv_node_members(sh->node, NULL, 0);
			m = calloc(total + 1, sizeof(*m));
			if (!m)
				return; /* next iteration */
			total = gv_node_members(sh->node, m, total);
		}
		size_t cap = t->memq.mask + 1;
		if (cap - gv_spsc_size(&t->memq) < total)
			continue; /* wait until it all fits */
		for (size_t j = 0; j < total; j++) {
			struct member_msg mm = {m[j].id, m[j].addr,
						m[j].incarnation, m[j].state};
			gv_spsc_push(&t->memq, &mm);
		}
		t->resync = false;
		gv_io_wake(t->io);
		gv_log(GV_LOG_INFO, "member queue resynced", "shard=%u "
		       "members=%zu", i, total);
	}
	free(m);
}

static void
cb_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	struct shard *s = ud;
	if (result < 0)
		return; /* local write */
	double delay = (double)wall_ms() - (double)gv_hlc_ms(rec->ver.hlc);
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
		       "incarnation=%u",
		       gv_log_quote(m->name, q, sizeof(q)), a,
		       state_name(old), state_name(m->state), m->incarnation);
	/* the other shards learn it from here */
	for (unsigned i = 1; i < d->k; i++) {
		struct member_msg mm = {m->id, m->addr, m->incarnation,
					m->state};
		push_member(d, i, &mm);
	}
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
		 "shard count mismatch: this node runs %u shards, seed %s runs "
		 "%u; every node of a cluster must use the same --shards",
		 d->k, gv_addr_str(seed, a, sizeof(a)), their);
	atomic_store(&d->fatal, 1);
	wake_front(d);
}

/* ------------------------------------------------------------ shards */

static void
publish(struct shard *sh, gv_time now)
{
	if (now - sh->last_pub < PUB_EVERY_US)
		return;
	/* never wait for a reader: skip this round if it holds the lock */
	if (pthread_mutex_trylock(&sh->pub_mu))
		return;
	sh->last_pub = now;
	const gv_store *st = gv_node_store(sh->node);
	sh->pub.st = *gv_node_get_stats(sh->node);
	sh->pub.keys = st->count - st->tombstones -
		       gv_node_reserved_count(sh->node);
	sh->pub.tombstones = st->tombstones;
	sh->pub.mem_used = st->mem_used;
	sh->pub.reach = gv_node_reach(sh->node);
	sh->pub.partitioned = gv_node_partitioned(sh->node);
	gv_io_get_stats(sh->io, &sh->pub.io);
	pthread_mutex_unlock(&sh->pub_mu);
}

/* Once per loop iteration of the shard's io worker. */
static void
shard_iter(void *ud)
{
	struct shard *sh = ud;
	gv_daemon *d = sh->d;
	gv_time now = gv_io_now();
	bool touched = false, replied = false;
	struct sub *s;
	/* a reply that found outq full goes first; while it cannot, no more
	 * requests are taken (they wait in inq, and a full inq is a BUSY
	 * reply): the shard never waits for the front end */
	if (sh->held && gv_spsc_push(&sh->outq, &sh->held) == 0) {
		sh->held = NULL;
		replied = true;
	}
	while (!sh->held && gv_spsc_pop(&sh->inq, &s)) {
		gvd_apply_sub(sh, s, now);
		if (gv_spsc_push(&sh->outq, &s)) {
			sh->held = s;
			atomic_fetch_add_explicit(&sh->out_held, 1,
						  memory_order_relaxed);
			atomic_store(&sh->outq_full, 1);
		}
		touched = replied = true;
	}
	if (sh->idx == 0)
		resync_members(sh);
	struct member_msg mm;
	while (gv_spsc_pop(&sh->memq, &mm)) {
		gv_member_info info = {.id = mm.id,
				       .addr = mm.addr,
				       .incarnation = mm.incarnation,
				       .state = mm.state};
		info.addr.port = (uint16_t)(info.addr.port + sh->idx);
		gv_node_set_member(sh->node, now, &info);
		touched = true;
	}
	if (atomic_load(&sh->leave) == 1) {
		atomic_store(&sh->leave, 2);
		if (sh->idx == 0)
			gv_node_leave(sh->node, now);
		sh->leave_at = now;
		touched = true;
	}
	if (atomic_load(&sh->leave) == 2 && now - sh->leave_at > 500000)
		sh->stop = 1; /* the leave has had half a second to go out */
	if (touched)
		gv_io_poke(sh->io, sh->ep);
	if (replied)
		wake_front(d);
	publish(sh, now);
}

static void *
shard_main(void *arg)
{
	struct shard *sh = arg;
	if (sh->d->cfg.pin) {
		cpu_set_t set;
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		CPU_ZERO(&set);
		CPU_SET(sh->idx % (unsigned)(cores > 0 ? cores : 1), &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	gv_io_run(sh->io, &sh->stop);
	return NULL;
}

static void
io_log(void *ud, int level, const char *msg)
{
	struct shard *sh = ud;
	int l = level == GV_IO_LOG_ERROR  ? GV_LOG_ERROR
		: level == GV_IO_LOG_WARN ? GV_LOG_WARN
		: level == GV_IO_LOG_INFO ? GV_LOG_INFO
					  : GV_LOG_DEBUG;
	gv_log(l, msg, "shard=%u", sh->idx);
}

static uint32_t
cluster_id(const char *name)
{
	return (uint32_t)XXH3_64bits(name, strlen(name));
}

static int
shard_init(gv_daemon *d, unsigned i, char *err, size_t errlen)
{
	struct shard *sh = &d->shards[i];
	sh->d = d;
	sh->idx = i;
	pthread_mutex_init(&sh->pub_mu, NULL);
	static const double bounds[] = {0.5, 1, 2, 5, 10, 20, 50,
					100, 200, 500, 1000, 2000, 5000};
	gv_histogram_init(&sh->delay, bounds,
			  sizeof(bounds) / sizeof(bounds[0]));
	if (gv_spsc_init(&sh->inq, d->mem, RING, sizeof(struct sub *)) ||
	    gv_spsc_init(&sh->outq, d->mem, RING, sizeof(struct sub *)) ||
	    gv_spsc_init(&sh->memq, d->mem, 4096, sizeof(struct member_msg)) ||
	    gv_spsc_init(&sh->evq, d->mem, EVQ, sizeof(struct event))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sh->rings = true;
	sh->addr = d->cfg.bind;
	sh->addr.port = (uint16_t)(d->cfg.bind.port + i);

	gv_node_config nc;
	gv_node_config_default(&nc);
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd >= 0) {
		ssize_t r = read(fd, &seed, sizeof(seed));
		(void)r;
		close(fd);
	}
	/* one id per process: every shard of a node shares it */
	static gv_node_id node_id;
	if (!node_id)
		node_id = seed | 1;
	nc.id = node_id;
	nc.addr = sh->addr;
	nc.seed = seed + i;
	snprintf(nc.name, sizeof(nc.name), "%s", d->cfg.name);
	snprintf(nc.region, sizeof(nc.region), "%s", d->cfg.region);
	nc.cluster = d->cluster_id;
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
	nc.store.max_value = d->cfg.max_value;
	nc.store.max_memory = (size_t)(d->cfg.max_memory / d->k);
	struct timespec mono, real;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	nc.wall_offset_ms = (int64_t)real.tv_sec * 1000 +
			    real.tv_nsec / 1000000 -
			    ((int64_t)mono.tv_sec * 1000 +
			     mono.tv_nsec / 1000000);
	d->wall_offset_ms = nc.wall_offset_ms;
	nc.mem = d->mem;
	nc.keyring = d->keyring; /* shared by the shards */
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

	gv_io_config ic;
	gv_io_config_default(&ic);
	ic.backend = d->cfg.io_backend;
	ic.max_endpoints = 1;
	ic.buf_size = 65536; /* big values travel in one datagram */
	ic.buf_count = 256;
	ic.log = io_log;
	ic.log_ud = sh;
	ic.on_iter = shard_iter;
	ic.iter_ud = sh;
	rc = gv_io_new(&sh->io, &ic);
	if (rc) {
		snprintf(err, errlen, "shard %u: cannot start the network "
			 "worker: %s", i, gv_strerror(rc));
		return -1;
	}
	gv_addr bound;
	/* A process that just exited may hold its UDP ports a little
	 * longer: the kernel tears its io_uring down asynchronously. A
	 * restart (by hand, systemd or a test) retries for up to 2 s. */
	for (int tries = 0;; tries++) {
		rc = gv_io_add(sh->io, &sh->addr, &gv_node_ops, sh->node,
			       &bound);
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
	return 0;
}

static void
shard_fini(struct shard *sh)
{
	if (sh->io)
		gv_io_del(sh->io);
	if (sh->node)
		gv_node_del(sh->node);
	if (sh->rings) {
		gv_spsc_fini(&sh->inq);
		gv_spsc_fini(&sh->outq);
		gv_spsc_fini(&sh->memq);
		gv_spsc_fini(&sh->evq);
	}
	pthread_mutex_destroy(&sh->pub_mu);
}

/* ------------------------------------------------------------ lifecycle */

int
gv_daemon_new(gv_daemon **out, const gv_daemon_config *cfg, char *err,
	      size_t errlen)
{
	gv_daemon *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
	}
	d->cfg = *cfg;
	d->k = cfg->shards ? cfg->shards : 1;
	if (d->k > MAX_SHARDS)
		d->k = MAX_SHARDS;
	d->mem = gv_mem_default();
	d->lfd = d->mfd = d->epfd = d->efd = -1;
	d->started = time(NULL);
	d->cluster_id = cluster_id(cfg->cluster);
	gv_resp_limits_init(&d->lim);
	d->lim.max_bulk = cfg->max_value + GV_MAX_KEY + 1024;
	gv_log_set_level(cfg->log_level);
	if (cfg->keyring[0] && gvd_load_keyring(d, err, errlen))
		goto fail;
	for (unsigned i = 0; i < d->k; i++)
		if (shard_init(d, i, err, errlen))
			goto fail;
	d->lfd = gvd_listen_tcp(&cfg->resp, err, errlen, "RESP");
	if (d->lfd < 0)
		goto fail;
	if (cfg->metrics_on) {
		d->mfd = gvd_listen_tcp(&cfg->metrics, err, errlen, "metrics");
		if (d->mfd < 0)
			goto fail;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->epfd < 0 || d->efd < 0) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->lfd};
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev);
	ev.data.ptr = &d->efd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->efd, &ev);
	if (d->mfd >= 0) {
		ev.data.ptr = &d->mfd;
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->mfd, &ev);
	}
	if (cfg->nseeds) {
		/* before the threads start: shard 0 is ours alone now */
		gv_node_join(d->shards[0].node, gv_io_now(), cfg->seeds,
			     cfg->nseeds);
		gv_io_poke(d->shards[0].io, d->shards[0].ep);
	}
	for (unsigned i = 0; i < d->k; i++) {
		if (pthread_create(&d->shards[i].th, NULL, shard_main,
				   &d->shards[i])) {
			snprintf(err, errlen, "cannot start shard thread");
			goto fail;
		}
		d->shards[i].running = true;
	}
	if (cfg->on_event[0]) {
		if (access(cfg->on_event, X_OK)) {
			snprintf(err, errlen, "--on-event %s: %s",
				 cfg->on_event, strerror(errno));
			goto fail;
		}
		if (pthread_create(&d->hook_th, NULL, gvd_hook_main, d) == 0)
			d->hook_running = true;
	}
	char a[64], r[64], m[64] = "off";
	if (d->mfd >= 0)
		gv_addr_str(&cfg->metrics, m, sizeof(m));
	gv_log(GV_LOG_INFO, "grapevined started",
	       "version=%s gossip=%s shards=%u resp=%s metrics=%s io=%s "
	       "allocator=%s gossip_auth=%s resp_auth=none",
	       GV_VERSION_STRING, gv_addr_str(&cfg->bind, a, sizeof(a)), d->k,
	       gv_addr_str(&cfg->resp, r, sizeof(r)), m,
	       gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
	       d->keyring ? gv_cipher_name(gv_keyring_cipher(d->keyring))
			  : "none");
	if (d->keyring)
		gv_log(GV_LOG_INFO, "gossip is sealed",
		       "cipher=%s keys=%zu primary=%08x keyring=%s",
		       gv_cipher_name(gv_keyring_cipher(d->keyring)),
		       gv_keyring_count(d->keyring),
		       gv_keyring_primary(d->keyring), cfg->keyring);
	else
		gv_log(GV_LOG_WARN,
		       "gossip runs in the clear (no keyring): anyone who "
		       "can reach the gossip port can read and write the "
		       "data",
		       NULL);
	*out = d;
	return 0;
fail:
	gv_daemon_del(d);
	return -1;
}

int
gv_daemon_run(gv_daemon *d, const volatile sig_atomic_t *stop)
{
	struct epoll_event evs[64];
	while (!*stop && !atomic_load(&d->fatal)) {
		int n = epoll_wait(d->epfd, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &d->lfd) {
				gvd_accept_clients(d);
			} else if (p == &d->mfd) {
				gvd_serve_metrics(d);
			} else if (p == &d->efd) {
				uint64_t v;
				ssize_t r = read(d->efd, &v, sizeof(v));
				(void)r;
			} else {
				struct client *c = p;
				if (c->paused &&
				    (evs[i].events & (EPOLLHUP | EPOLLERR))) {
					/* not read: gone */
					gvd_client_close(d, c);
					continue;
				}
				if (evs[i].events & (EPOLLIN | EPOLLHUP |
						     EPOLLERR)) {
					if (!gvd_client_input(d, c))
						continue;
				}
				if (evs[i].events & EPOLLOUT)
					gvd_flush_resume(d, c);
			}
		}
		gvd_drain_shards(d);
		gvd_save_keyring(d);
	}
	int fatal = atomic_load(&d->fatal);
	if (fatal)
		gv_log(GV_LOG_ERROR, "fatal", "error=%s",
		       gv_log_quote(d->fatal_msg, (char[300]){0}, 300));
	gv_log(GV_LOG_INFO, "leaving the cluster", NULL);
	for (unsigned i = 0; i < d->k; i++) {
		atomic_store(&d->shards[i].leave, 1);
		gv_io_wake(d->shards[i].io);
	}
	for (unsigned i = 0; i < d->k; i++)
		if (d->shards[i].running) {
			pthread_join(d->shards[i].th, NULL);
			d->shards[i].running = false;
		}
	gvd_drain_shards(d);
	gv_log(GV_LOG_INFO, "stopped", NULL);
	return fatal ? 1 : 0;
}

void
gv_daemon_del(gv_daemon *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->k; i++)
		if (d->shards[i].running) {
			d->shards[i].stop = 1;
			gv_io_wake(d->shards[i].io);
			pthread_join(d->shards[i].th, NULL);
			d->shards[i].running = false;
		}
	if (d->hook_running) {
		atomic_store(&d->hook_stop, 1);
		pthread_join(d->hook_th, NULL);
	}
	/* the shards are stopped: collect what came back, and what never
	 * left their queues, then the clients with their replies */
	gvd_drain_shards(d);
	for (unsigned i = 0; i < d->k; i++) {
		struct sub *sb;
		if ((sb = d->shards[i].held)) {
			/* applied, but its reply found outq full */
			d->shards[i].held = NULL;
			struct req *r = sb->parent;
			if (++r->done == r->nsubs && !r->cl)
				gvd_req_free(r);
		}
		while (d->shards[i].rings && gv_spsc_pop(&d->shards[i].inq, &sb)) {
			struct req *r = sb->parent;
			sb->rc = GV_ECANCELED_SHUTDOWN;
			if (++r->done == r->nsubs && !r->cl)
				gvd_req_free(r);
		}
	}
	while (d->clients)
		gvd_client_close(d, d->clients);
	for (unsigned i = 0; i < d->k; i++)
		shard_fini(&d->shards[i]);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->mfd >= 0)
		close(d->mfd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->efd >= 0)
		close(d->efd);
	gvd_save_keyring(d);
	gv_keyring_del(d->keyring);
	free(d);
}

/* ------------------------------------------------ routing and stats */

static int
send_sub(gv_daemon *d, struct sub *s)
{
	struct shard *sh = &d->shards[s->shard];
	if (gv_spsc_push(&sh->inq, &s))
		return -1;
	return 0;
}

void
gvd_dispatch(gv_daemon *d, struct req *r)
{
	bool woken[MAX_SHARDS] = {false};
	for (unsigned i = 0; i < r->nsubs; i++) {
		struct sub *s = &r->subs[i];
		if (send_sub(d, s)) {
			/* the shard is far behind: answer this part with an
			 * error rather than wait */
			s->rc = GV_EFULL;
			r->done++;
			d->busy_replies++;
			continue;
		}
		if (!woken[s->shard]) {
			woken[s->shard] = true;
			gv_io_wake(d->shards[s->shard].io);
		}
	}
}

/* Completed subs from the shards. */
void
gvd_drain_shards(gv_daemon *d)
{
	for (unsigned i = 0; i < d->k; i++) {
		struct sub *s;
		if (d->shards[i].rings && atomic_load(&d->shards[i].outq_full) &&
		    atomic_exchange(&d->shards[i].outq_full, 0)) {
			/* it holds a reply back: there is room now (drained
			 * below, before it runs) */
			gv_io_wake(d->shards[i].io);
		}
		while (d->shards[i].rings && gv_spsc_pop(&d->shards[i].outq, &s)) {
			struct req *r = s->parent;
			r->done++;
			if (!req_done(r))
				continue;
			if (!r->cl) {
				/* its client is gone: nobody to answer */
				gvd_req_free(r);
				continue;
			}
			struct client *c = r->cl;
			if (c->head == r) {
				if (!gvd_flush_resume(d, c))
					continue;
				if (c->closing && !c->head &&
				    !gv_resp_buf_pending(&c->out))
					gvd_client_close(d, c);
			}
		}
	}
}

void
gvd_sum_stats(gv_daemon *d, struct pub *t, struct pub *per)
{
	memset(t, 0, sizeof(*t));
	struct pub first;
	memset(&first, 0, sizeof(first));
	for (unsigned i = 0; i < d->k; i++) {
		struct shard *sh = &d->shards[i];
		pthread_mutex_lock(&sh->pub_mu);
		struct pub p = sh->pub;
		pthread_mutex_unlock(&sh->pub_mu);
		if (per)
			per[i] = p;
		if (i == 0)
			first = p;
		uint64_t *a = (uint64_t *)&t->st, *b = (uint64_t *)&p.st;
		for (size_t k = 0; k < sizeof(p.st) / sizeof(uint64_t); k++)
			a[k] += b[k];
		t->keys += p.keys;
		t->tombstones += p.tombstones;
		t->mem_used += p.mem_used;
		t->io.dgrams_in += p.io.dgrams_in;
		t->io.dgrams_out += p.io.dgrams_out;
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
		x->replies_held += atomic_load_explicit(&sh->out_held,
							memory_order_relaxed);
	}
	for (struct client *c = d->clients; c; c = c->next)
		x->paused_clients += c->paused;
}
