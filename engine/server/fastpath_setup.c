/* SPDX-License-Identifier: MIT */
/*
 * fastpath_setup.c - --frontend threads, the front end's side
 * (fastpath.c is the workers'): the rings and client sets made before
 * the workers start and freed after they stop, a new client handed to
 * a worker, the clients the workers hand back or close taken in,
 * CLIENT KILL and --timeout passed on, and the counters summed over the
 * threads for INFO. docs/frontend.md.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/log.h"

uint64_t
gvd_tsum(const gv_daemon *d, int which)
{
	uint64_t n = 0;
	for (unsigned t = 0; t <= d->nthreads; t++) {
		const struct gvd_tstats *s =
			t < d->nthreads ? d->workers[t].ts : d->ts;
		if (!s)
			continue;
		const _Atomic uint64_t *f[] = {
			&s->commands,	&s->hits,	  &s->misses,
			&s->fast_local, &s->fast_hops, &s->fast_handed,
			&s->fast_served, &s->pauses,	  &s->out_disc,
			&s->in_disc,	&s->paused,
		};
		n += atomic_load_explicit(f[which], memory_order_relaxed);
	}
	if (which == GVD_T_COMMANDS)
		n -= d->commands_base;
	else if (which == GVD_T_HITS)
		n -= d->hits_base;
	else if (which == GVD_T_MISSES)
		n -= d->misses_base;
	return n;
}

/* ------------------------------------------------------ set up */

static void
cfd_ready(void *ud, gv_time now)
{
	(void)now;
	struct worker *w = ud;
	w->cfd_ready = true;
}

int
gvd_fast_init(gv_daemon *d, char *err, size_t errlen)
{
	unsigned n = d->nthreads;
	d->ts = calloc(1, sizeof(*d->ts));
	for (unsigned t = 0; t < n; t++)
		d->workers[t].ts = calloc(1, sizeof(*d->workers[t].ts));
	if (!d->ts) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned t = 0; t < n; t++)
		if (!d->workers[t].ts) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	d->threaded = !strcmp(d->cfg.frontend, "threads") &&
		      !d->cfg.requirepass[0];
	if (!d->threaded)
		return 0;
	d->xr = calloc((size_t)n * n, sizeof(*d->xr));
	if (!d->xr) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < n * n; i++)
		if (gv_spsc_init(&d->xr[i], d->mem, RING, sizeof(uintptr_t))) {
			/* the rest stay zeroed: fini skips them */
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	for (unsigned t = 0; t < n; t++) {
		struct worker *w = &d->workers[t];
		w->cfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->cfd < 0) {
			snprintf(err, errlen, "epoll_create1: %s",
				 strerror(errno));
			return -1;
		}
		if (gv_spsc_init(&w->tow, d->mem, RING, sizeof(uintptr_t)) ||
		    gv_spsc_init(&w->tom, d->mem, RING, sizeof(uintptr_t))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		w->tow_ok = w->tom_ok = true;
		int rc = gv_shard_watch(w->rt, w->cfd, cfd_ready, w);
		if (rc) {
			snprintf(err, errlen, "cannot watch the clients: %s",
				 gv_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/*
 * After the threads stopped: every command of a worker's client counts
 * as answered (it may sit in a ring; the rings only point at them), so
 * that closing the client frees it; then the rings go.
 */
void
gvd_fast_fini(gv_daemon *d)
{
	for (unsigned t = 0; t < d->nthreads; t++) {
		struct worker *w = &d->workers[t];
		for (struct client *c = w->clients; c; c = c->wnext) {
			for (struct req *r = c->head; r; r = r->next)
				r->done = r->total;
			c->to_write = false; /* the worker's list, not ours */
			c->dprev = c->dnext = NULL;
			c->home = NULL;
		}
		uintptr_t m;
		/* handed back or closed but not yet taken: the front end
		 * still lists them and closes them; new ones likewise */
		if (w->tom_ok) {
			while (gv_spsc_pop(&w->tom, &m))
				;
			gv_spsc_fini(&w->tom);
		}
		if (w->tow_ok) {
			while (gv_spsc_pop(&w->tow, &m))
				;
			gv_spsc_fini(&w->tow);
		}
		w->tom_ok = w->tow_ok = false;
		free(w->tom_over);
		w->tom_over = NULL;
		if (w->cfd >= 0)
			(void)close(w->cfd); /* an epoll set: nothing lost */
		w->cfd = -1;
	}
	if (d->xr) {
		for (unsigned i = 0; i < d->nthreads * d->nthreads; i++)
			if (d->xr[i].slots)
				gv_spsc_fini(&d->xr[i]);
		free(d->xr);
		d->xr = NULL;
	}
}

/* ------------------------------------------------ the front end */

bool
gvd_fast_give(gv_daemon *d, struct client *c)
{
	if (!d->threaded)
		return false;
	struct worker *w = &d->workers[d->next_home++ % d->nthreads];
	c->home = w;
	uintptr_t m = (uintptr_t)c;
	if (gv_spsc_push(&w->tow, &m)) {
		c->home = NULL; /* its ring is full: the front end serves it */
		return false;
	}
	gv_shard_wake(w->rt);
	return true;
}

/* A client back from its worker: the front end serves it from here on,
 * starting with what its input buffer holds. */
static void
adopt(gv_daemon *d, struct client *c)
{
	c->home = NULL;
	c->paused = false;
	c->want_out = gv_resp_buf_pending(&c->out) > 0;
	if (c->killed) {
		gvd_client_close(d, c);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN |
					   (c->want_out ? EPOLLOUT : 0),
				 .data.ptr = c};
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		gv_log(GV_LOG_WARN, "epoll_ctl failed, closing client",
		       "fd=%d error=\"%s\"", c->fd, strerror(errno));
		gvd_client_close(d, c);
		return;
	}
	gvd_run_handed(d, c);
	(void)gvd_client_input(d, c);
}

void
gvd_fast_take(gv_daemon *d)
{
	if (!d->threaded)
		return;
	for (unsigned t = 0; t < d->nthreads; t++) {
		uintptr_t m;
		while (gv_spsc_pop(&d->workers[t].tom, &m)) {
			struct client *c = (struct client *)(m & ~(uintptr_t)1);
			if (m & 1)
				gvd_client_close(d, c); /* its fd is closed */
			else
				adopt(d, c);
		}
	}
}

void
gvd_fast_kill(gv_daemon *d, struct client *c)
{
	(void)d;
	struct worker *w = c->home;
	if (!w || c->kill_sent)
		return;
	c->kill_sent = true;
	atomic_store_explicit(&c->kill_req, true, memory_order_relaxed);
	/* release: the worker that sees the flag sees the client's */
	atomic_store_explicit(&w->kill_pending, true, memory_order_release);
	gv_shard_wake(w->rt);
}
