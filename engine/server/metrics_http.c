/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c - /metrics: the counter table's Prometheus rows
 * (counters.h) and the propagation-delay histogram, rendered by the
 * engine/shard metrics registry and served over HTTP from the front end's
 * epoll loop without ever blocking it.
 *
 * At start every row with a Prometheus name becomes one series of the
 * registry pointing at its slot of a scratch snapshot, and the histogram
 * one series pointing at a scratch histogram. A scrape fills both (the
 * table read once, the shards' histograms added up) and renders. All of it
 * runs on the front end's thread, so the snapshot needs no lock; its slots
 * are atomics only because the registry's sources are.
 *
 * Each scrape is a small state machine, at most METRICS_CONNS at once
 * (more are closed at once, counted in metrics_refused): read the request
 * until its blank line (or METRICS_REQ bytes, or the peer's EOF), then
 * write the response as fast as the socket takes it, then close. One that
 * has not finished METRICS_DEADLINE_US after it was accepted is closed
 * (counted in metrics_timeouts), checked at every turn of the loop, which
 * wakes at least every 200 ms.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/counters.h"
#include "server/log.h"

#define METRICS_CONNS 16             /* scrapes served at once */
#define METRICS_REQ 2048             /* request bytes read, at most */
#define METRICS_DEADLINE_US 5000000  /* accept to close, at most */
#define METRICS_ACCEPTS 64           /* per wakeup: then the clients' turn */

struct mconn {
	int fd; /* -1: a free slot */
	bool writing;
	gv_time deadline;
	size_t got;
	char req[METRICS_REQ + 1];
	gv_resp_buf out; /* the response, while writing */
};

struct gvd_metrics {
	gv_metrics reg;
	_Atomic uint64_t snap[GVD_NCOUNTERS]; /* filled by each scrape */
	_Atomic double ratio;                 /* compression_ratio */
	_Atomic double zsecs[2];              /* compress, decompress CPU */
	gv_histogram delay;                   /* the shards' summed */
	gv_metrics_buf body;                  /* reused by each scrape */
	unsigned nconns;
	struct mconn conns[METRICS_CONNS];
};

/* --------------------------------------------------------- registry */

int
gvd_metrics_init(gv_daemon *d, char *err, size_t errlen)
{
	struct gvd_metrics *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
	}
	d->metrics = m; /* gvd_metrics_fini frees it, also on failure */
	gv_metrics_init(&m->reg, d->mem);
	gv_metrics_buf_init(&m->body, d->mem);
	gv_histogram_init(&m->delay, gv_hist_delay_s_bounds, GV_HIST_DELAY_S_N);
	for (size_t i = 0; i < METRICS_CONNS; i++)
		m->conns[i].fd = -1;
	int rc = 0;
	for (size_t i = 0; i < GVD_NCOUNTERS && !rc; i++) {
		const struct gvd_counter *c = &gvd_counters[i];
		atomic_init(&m->snap[i], 0);
		if (!c->prom)
			continue;
		/* a family's help is on its first row */
		const char *help = c->help;
		for (size_t j = i; !help && j-- > 0;)
			if (gvd_counters[j].prom &&
			    !strcmp(gvd_counters[j].prom, c->prom))
				help = gvd_counters[j].help;
		gv_metric_label l = {c->lname, c->lval};
		size_t nl = c->lname ? 1 : 0;
		rc = c->type == GV_METRIC_COUNTER
			     ? gv_metrics_add_counter(&m->reg, c->prom, help,
						      &l, nl, &m->snap[i])
			     : gv_metrics_add_gauge(&m->reg, c->prom, help, &l,
						    nl, &m->snap[i]);
		if (rc)
			snprintf(err, errlen, "metrics: cannot register %s: %s",
				 c->prom, gv_strerror(rc));
	}
	/* the float series: not rows of the table, made from its rows */
	atomic_init(&m->ratio, 1.0);
	atomic_init(&m->zsecs[0], 0.0);
	atomic_init(&m->zsecs[1], 0.0);
	if (!rc)
		rc = gv_metrics_add_gauge_f64(
			&m->reg, "grapevine_compression_ratio",
			"Raw over compressed bytes of the gossip datagrams sent "
			"compressed (1: none yet).",
			NULL, 0, &m->ratio);
	static const char *const zop[2] = {"compress", "decompress"};
	for (int k = 0; k < 2 && !rc; k++) {
		gv_metric_label l = {"op", zop[k]};
		rc = gv_metrics_add_counter_f64(
			&m->reg, "grapevine_compress_cpu_seconds_total",
			"Time spent compressing and decompressing gossip "
			"datagrams.",
			&l, 1, &m->zsecs[k]);
	}
	if (rc)
		snprintf(err, errlen, "metrics: compression: %s",
			 gv_strerror(rc));
	if (!rc) {
		rc = gv_metrics_add_histogram(
			&m->reg, "grapevine_propagation_delay_seconds",
			"Origin write (HLC) to local apply, seconds.", NULL, 0,
			&m->delay);
		if (rc)
			snprintf(err, errlen, "metrics: %s", gv_strerror(rc));
	}
	return rc;
}

/* The table and the histograms now, into the registry's sources. */
static void
snapshot(gv_daemon *d, struct gvd_metrics *m)
{
	uint64_t v[GVD_NCOUNTERS];
	gvd_counters_read(d, v, NULL);
	/* relaxed: read back on this thread by gv_metrics_write */
	for (size_t i = 0; i < GVD_NCOUNTERS; i++)
		atomic_store_explicit(&m->snap[i], v[i], memory_order_relaxed);
	atomic_store_explicit(&m->ratio, gvd_compression_ratio(v),
			      memory_order_relaxed);
	atomic_store_explicit(&m->zsecs[0], (double)v[GVD_C_COMPRESS_NS] / 1e9,
			      memory_order_relaxed);
	atomic_store_explicit(&m->zsecs[1],
			      (double)v[GVD_C_DECOMPRESS_NS] / 1e9,
			      memory_order_relaxed);
	gv_histogram_init(&m->delay, gv_hist_delay_s_bounds, GV_HIST_DELAY_S_N);
	for (unsigned i = 0; i < d->k; i++)
		(void)gv_histogram_add(&m->delay, &d->shards[i].delay);
}

/* ---------------------------------------------------------- scrapes */

static void
mconn_close(gv_daemon *d, struct gvd_metrics *m, struct mconn *c)
{
	/* close removes it from the epoll set anyway; a failed close of a
	 * finished scrape loses nothing */
	(void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	(void)close(c->fd);
	c->fd = -1;
	gv_resp_buf_fini(&c->out);
	m->nconns--;
}

/* Write what the socket takes; close when all is out (or on an error). */
static void
send_response(gv_daemon *d, struct gvd_metrics *m, struct mconn *c)
{
	while (gv_resp_buf_pending(&c->out)) {
		ssize_t n = send(c->fd, gv_resp_buf_data(&c->out),
				 gv_resp_buf_pending(&c->out), MSG_NOSIGNAL);
		if (n > 0) {
			gv_resp_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT brings us back */
		break;
	}
	mconn_close(d, m, c);
}

/* The request is in (or all of it that will come): answer it. */
static void
respond(gv_daemon *d, struct gvd_metrics *m, struct mconn *c)
{
	c->req[c->got] = 0;
	bool found = !strncmp(c->req, "GET /metrics ", 13) ||
		     !strncmp(c->req, "GET /metrics?", 13) ||
		     !strncmp(c->req, "GET / ", 6);
	ssize_t n = 0;
	m->body.len = 0;
	if (found) {
		snapshot(d, m);
		n = gv_metrics_write(&m->reg, &m->body);
	}
	size_t blen = found && n >= 0 ? m->body.len : 0;
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n",
			  !found  ? "404 Not Found"
			  : n < 0 ? "500 Internal Server Error"
				  : "200 OK",
			  blen ? "Content-Type: text/plain; version=0.0.4\r\n"
			       : "",
			  blen);
	gv_resp_buf_append(&c->out, head, (size_t)hl);
	if (blen)
		gv_resp_buf_append(&c->out, m->body.data, blen);
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	if (c->out.err || epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		mconn_close(d, m, c);
		return;
	}
	c->writing = true;
	send_response(d, m, c);
}

/* Read what arrived; answer once the request is complete. */
static void
read_request(gv_daemon *d, struct gvd_metrics *m, struct mconn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->req + c->got, METRICS_REQ - c->got);
		if (n > 0) {
			c->got += (size_t)n;
			c->req[c->got] = 0;
			if (strstr(c->req, "\r\n\r\n") || c->got == METRICS_REQ)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the rest later, or the deadline */
		if (n == 0 && c->got)
			break; /* the peer is done: answer what came */
		mconn_close(d, m, c);
		return;
	}
	respond(d, m, c);
}

static void
accept_scrapes(gv_daemon *d, struct gvd_metrics *m)
{
	for (int i = 0; i < METRICS_ACCEPTS; i++) {
		int fd = accept4(d->mfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct mconn *c = NULL;
		for (size_t j = 0; j < METRICS_CONNS && !c; j++)
			if (m->conns[j].fd < 0)
				c = &m->conns[j];
		if (!c) {
			(void)close(fd); /* refused unread: nothing to lose */
			d->metrics_refused++;
			gv_log(GV_LOG_DEBUG, "metrics connection refused",
			       "open=%u", m->nconns);
			continue;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			gv_log(GV_LOG_WARN, "cannot watch a metrics connection",
			       "error=\"%s\"", strerror(errno));
			(void)close(fd); /* unread: nothing to lose */
			continue;
		}
		c->fd = fd;
		c->writing = false;
		c->got = 0;
		c->deadline = gv_io_now() + METRICS_DEADLINE_US;
		gv_resp_buf_init(&c->out, d->mem, 0);
		m->nconns++;
	}
}

bool
gvd_metrics_event(gv_daemon *d, void *p, uint32_t events)
{
	struct gvd_metrics *m = d->metrics;
	if (!m)
		return false;
	if (p == &d->mfd) {
		accept_scrapes(d, m);
		return true;
	}
	uintptr_t a = (uintptr_t)p;
	if (a < (uintptr_t)m->conns ||
	    a >= (uintptr_t)(m->conns + METRICS_CONNS))
		return false;
	struct mconn *c = p;
	if (c->fd < 0)
		return true;
	if (c->writing)
		send_response(d, m, c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_request(d, m, c);
	return true;
}

void
gvd_metrics_tick(gv_daemon *d)
{
	struct gvd_metrics *m = d->metrics;
	if (!m || !m->nconns)
		return;
	gv_time now = gv_io_now();
	for (size_t i = 0; i < METRICS_CONNS; i++) {
		struct mconn *c = &m->conns[i];
		if (c->fd < 0 || now < c->deadline)
			continue;
		d->metrics_timeouts++;
		gv_log(GV_LOG_DEBUG, "metrics connection timed out",
		       "state=%s", c->writing ? "writing" : "reading");
		mconn_close(d, m, c);
	}
}

void
gvd_metrics_fini(gv_daemon *d)
{
	struct gvd_metrics *m = d->metrics;
	if (!m)
		return;
	for (size_t i = 0; i < METRICS_CONNS; i++)
		if (m->conns[i].fd >= 0)
			mconn_close(d, m, &m->conns[i]);
	gv_metrics_buf_fini(&m->body);
	gv_metrics_fini(&m->reg);
	free(m);
	d->metrics = NULL;
}
