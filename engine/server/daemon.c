/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - grapevined's lifecycle: set up the shards and their worker
 * threads (shards.c), the listeners and the hook thread; run the front
 * end's epoll loop; leave the cluster and stop. How the threads talk:
 * daemon_int.h.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

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
	d->started_mono = gvd_mono_s();
	/* grapevine never evicts: a write past --max-memory is refused */
	snprintf(d->maxmemory_policy, sizeof(d->maxmemory_policy),
		 "noeviction");
	uint8_t rid[20] = {0};
	/* best effort: a run id only tells restarts apart */
	if (getrandom(rid, sizeof(rid), 0) != (ssize_t)sizeof(rid))
		memcpy(rid, &d->started, sizeof(d->started));
	for (size_t i = 0; i < sizeof(rid); i++)
		snprintf(d->run_id + 2 * i, 3, "%02x", rid[i]);
	gv_resp_limits_init(&d->lim);
	d->lim.max_bulk = cfg->max_value + GV_MAX_KEY + 1024;
	/* multi-key commands of any size (Redis takes up to INT_MAX
	 * arguments): the input cap (IN_LIMIT) is what bounds a request,
	 * and the parser's argv grows only as arguments arrive */
	d->lim.max_args = IN_LIMIT / 4;
	/* a request holding a value of --max-value, and its key */
	d->in_limit = d->lim.max_bulk + (1u << 20);
	if (d->in_limit < IN_LIMIT)
		d->in_limit = IN_LIMIT;
	gv_log_set_level(cfg->log_level);
	if (cfg->keyring[0] && gvd_load_keyring(d, err, errlen))
		goto fail;
	if (gvd_shards_init(d, err, errlen))
		goto fail;
	d->lfd = gvd_listen_tcp(&cfg->resp, err, errlen, "RESP");
	if (d->lfd < 0)
		goto fail;
	if (cfg->metrics_on) {
		d->mfd = gvd_listen_tcp(&cfg->metrics, err, errlen, "metrics");
		if (d->mfd < 0 || gvd_metrics_init(d, err, errlen))
			goto fail;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->epfd < 0 || d->efd < 0) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->lfd};
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev))
		goto epoll_fail;
	ev.data.ptr = &d->efd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->efd, &ev))
		goto epoll_fail;
	if (d->mfd >= 0) {
		ev.data.ptr = &d->mfd;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->mfd, &ev))
			goto epoll_fail;
	}
	if (gvd_shards_start(d, err, errlen))
		goto fail;
	if (cfg->on_event[0]) {
		if (access(cfg->on_event, X_OK)) {
			snprintf(err, errlen, "--on-event %s: %s",
				 cfg->on_event, strerror(errno));
			goto fail;
		}
		int rc = pthread_create(&d->hook_th, NULL, gvd_hook_main, d);
		if (rc) {
			snprintf(err, errlen, "cannot start the hook thread: %s",
				 strerror(rc));
			goto fail;
		}
		d->hook_running = true;
	}
	char a[64], r[64], m[64] = "off";
	if (d->mfd >= 0)
		gv_addr_str(&cfg->metrics, m, sizeof(m));
	gv_log(GV_LOG_INFO, "grapevined started",
	       "version=%s gossip=%s shards=%u threads=%u resp=%s metrics=%s "
	       "io=%s allocator=%s gossip_auth=%s resp_auth=%s",
	       GV_VERSION_STRING, gv_addr_str(&cfg->bind, a, sizeof(a)), d->k,
	       d->nthreads, gv_addr_str(&cfg->resp, r, sizeof(r)), m,
	       gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
	       d->keyring ? gv_cipher_name(gv_keyring_cipher(d->keyring))
			  : "none",
	       cfg->requirepass[0] ? "requirepass" : "none");
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
epoll_fail:
	snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
fail:
	gv_daemon_del(d);
	return -1;
}

int
gv_daemon_run(gv_daemon *d, const volatile sig_atomic_t *stop)
{
	struct epoll_event evs[64];
	gvd_ts = d->ts; /* this thread's counters: the front end's */
	while (!*stop && !atomic_load(&d->fatal)) {
		/* a WAIT polls its shard every millisecond */
		int n = epoll_wait(d->epfd, evs, 64,
				   d->dirty ? 0 : d->waits ? 1 : 200);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &d->lfd) {
				gvd_accept_clients(d);
			} else if (gvd_metrics_event(d, p, evs[i].events)) {
				/* the metrics listener or a scrape */
			} else if (p == &d->efd) {
				uint64_t v;
				/* EAGAIN: another wake already consumed it */
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
		gvd_fast_take(d);
		gvd_drain_shards(d);
		gvd_wait_tick(d);
		gvd_turn_end(d);
		gvd_clients_tick(d);
		gvd_metrics_tick(d);
		gvd_save_keyring(d);
	}
	int fatal = atomic_load(&d->fatal);
	if (fatal)
		gv_log(GV_LOG_ERROR, "fatal", "error=%s",
		       gv_log_quote(d->fatal_msg, (char[300]){0}, 300));
	gv_log(GV_LOG_INFO, "leaving the cluster", NULL);
	gvd_shards_leave(d);
	gvd_drain_shards(d);
	gvd_turn_end(d);
	gv_log(GV_LOG_INFO, "stopped", NULL);
	return fatal ? 1 : 0;
}

void
gv_daemon_del(gv_daemon *d)
{
	if (!d)
		return;
	if (d->hook_running) {
		atomic_store(&d->hook_stop, 1);
		pthread_join(d->hook_th, NULL);
	}
	/* stop the threads, collect what came back and what was never
	 * applied, then close the clients with their replies */
	gvd_shards_fini(d);
	/* WAITs between probes: answered (done), so their clients' close
	 * frees them; those of closed clients freed here */
	while (d->waits) {
		struct req *r = d->waits;
		d->waits = r->poll_next;
		r->done = r->total;
		if (!r->cl)
			gvd_req_free(r);
	}
	while (d->clients)
		gvd_client_close(d, d->clients);
	gvd_shards_del(d);
	gvd_metrics_fini(d);
	/* closing a listening socket or an epoll fd cannot lose data */
	if (d->lfd >= 0)
		(void)close(d->lfd);
	if (d->mfd >= 0)
		(void)close(d->mfd);
	if (d->epfd >= 0)
		(void)close(d->epfd);
	if (d->efd >= 0)
		(void)close(d->efd);
	gvd_save_keyring(d);
	gv_keyring_del(d->keyring);
	free(d);
}
