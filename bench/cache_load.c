/* SPDX-License-Identifier: MIT */
/*
 * cache_load.c - the load step of `gvbench cache` (cache_load.h): the
 * writer connections on the caller's thread, one epoll loop, and the lag
 * readers on a thread of their own, so that a reader's timestamps do not
 * wait for the writers' batches. Requests are encoded by hand (no
 * snprintf per request): at a million requests a second the client must
 * not be what is measured.
 */
#include "cache_load.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cache_cluster.h"
#include "resp_client.h"

#define CONNECT_TIMEOUT_MS 3000
#define MAX_EVENTS 64
#define MAX_LAT (UINT64_C(64) << 20) /* latencies kept per step */
#define POLL_BATCH 512               /* GETs a reader sends at once */
#define LOOP_WAIT_NS 1000000u        /* the longest the loops sleep */

/* ------------------------------------------------------------ keys */

int
cache_keys_init(struct cache_keys *k, size_t conns, size_t per_conn)
{
	memset(k, 0, sizeof(*k));
	k->acked = calloc(conns * per_conn, sizeof(*k->acked));
	k->seq = calloc(conns, sizeof(*k->seq));
	if (!k->acked || !k->seq) {
		cache_keys_fini(k);
		return -ENOMEM;
	}
	k->conns = conns;
	k->per_conn = per_conn;
	return 0;
}

void
cache_keys_fini(struct cache_keys *k)
{
	free(k->acked);
	free(k->seq);
	memset(k, 0, sizeof(*k));
}

/* Decimal digits of v at p; returns how many. */
static size_t
put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

size_t
cache_key_name(const struct cache_keys *k, size_t i, char *buf, size_t cap)
{
	char tmp[64];
	size_t n = 0;

	memcpy(tmp, "cache:", 6);
	n = 6;
	n += put_u64(tmp + n, i / k->per_conn);
	tmp[n++] = ':';
	n += put_u64(tmp + n, i % k->per_conn);
	if (n > cap)
		n = cap;
	memcpy(buf, tmp, n);
	return n;
}

uint64_t
cache_value_seq(const char *v, size_t len)
{
	uint64_t s = 0;

	if (len < CACHE_SEQ_DIGITS)
		return 0;
	for (size_t i = 0; i < CACHE_SEQ_DIGITS; i++) {
		char ch = v[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return 0;
		s = s << 4 | d;
	}
	return s;
}

/* ------------------------------------------------------------ vectors */

struct u64vec {
	uint64_t *v;
	size_t n, cap, max;
	uint64_t dropped; /* past max */
};

static int
vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		if (a->cap >= a->max) {
			a->dropped++;
			return 0;
		}
		size_t cap = a->cap ? a->cap * 2 : 65536;
		uint64_t *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* ------------------------------------------------------------ encoding */

/* "$<len>\r\n" */
static size_t
put_bulk_hdr(char *p, size_t len)
{
	size_t n = 0;

	p[n++] = '$';
	n += put_u64(p + n, len);
	p[n++] = '\r';
	p[n++] = '\n';
	return n;
}

static const char HEX[] = "0123456789abcdef";

/* SET key value or GET key, appended to b. filler: value_size bytes. */
static int
put_request(struct rbuf *b, const struct cache_keys *k, size_t key, bool set,
            uint64_t seq, const char *filler, size_t vsize)
{
	char name[64];
	size_t klen = cache_key_name(k, key, name, sizeof(name));

	if (rbuf_reserve(b, 64 + klen + vsize))
		return -ENOMEM;
	char *p = b->p + b->len;
	size_t n = 0;
	if (set) {
		memcpy(p, "*3\r\n$3\r\nSET\r\n", 13);
	} else {
		memcpy(p, "*2\r\n$3\r\nGET\r\n", 13);
	}
	n = 13;
	n += put_bulk_hdr(p + n, klen);
	memcpy(p + n, name, klen);
	n += klen;
	p[n++] = '\r';
	p[n++] = '\n';
	if (set) {
		n += put_bulk_hdr(p + n, vsize);
		for (int i = CACHE_SEQ_DIGITS - 1; i >= 0; i--)
			p[n++] = HEX[(seq >> (4 * i)) & 15];
		memcpy(p + n, filler, vsize - CACHE_SEQ_DIGITS);
		n += vsize - CACHE_SEQ_DIGITS;
		p[n++] = '\r';
		p[n++] = '\n';
	}
	b->len += n;
	return 0;
}

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64*: the mix and key choice need speed, not quality */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

/* ------------------------------------------------------------ lag readers */

struct sample {
	uint32_t key;
	uint64_t seq;
	uint64_t t_ack;
};

struct reader {
	int fd;
	struct rbuf in, out;
	uint32_t *pend; /* samples not seen yet; the first nbatch are asked */
	size_t npend, nbatch, nreplied;
	uint8_t *done; /* per sample: seen or timed out here */
	uint64_t next_poll;
};

struct lag_ctx {
	const struct cache_keys *k;
	struct sample *s;
	size_t cap;
	size_t count; /* samples published: written by the load thread with
	               * release after filling s[count], read by the reader
	               * thread with acquire, so it never reads a sample
	               * half-written */
	int finished; /* the load is over: same release/acquire pairing, so
	               * the reader sees every sample published before it */
	int efd;      /* the load thread's "new sample" wake-up */
	struct reader *r;
	size_t nr;
	uint64_t poll_ns, timeout_ns;
	struct u64vec lag;
	uint64_t timeouts;
	int err;
};

/* Ask reader rd for all its pending samples (dropping those too old). */
static int
reader_poll(struct lag_ctx *x, struct reader *rd, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < rd->npend; i++) {
		uint32_t id = rd->pend[i];
		if (now - x->s[id].t_ack > x->timeout_ns) {
			rd->done[id] = 1;
			x->timeouts++;
			continue;
		}
		rd->pend[keep++] = id;
	}
	rd->npend = keep;
	rd->nbatch = keep < POLL_BATCH ? keep : POLL_BATCH;
	rd->nreplied = 0;
	for (size_t i = 0; i < rd->nbatch; i++)
		if (put_request(&rd->out, x->k, x->s[rd->pend[i]].key, false, 0,
		                NULL, 0))
			return -ENOMEM;
	int rc = rbuf_send(rd->fd, &rd->out);
	return rc < 0 ? rc : 0;
}

/* The replies reader rd has received, at time now. */
static int
reader_replies(struct lag_ctx *x, struct reader *rd, uint64_t now)
{
	struct resp_val v;
	ssize_t k;

	while ((k = resp_parse(rd->in.p + rd->in.off, rd->in.len - rd->in.off,
	                       &v)) > 0) {
		rd->in.off += (size_t)k;
		if (rd->nreplied >= rd->nbatch)
			return -EPROTO;
		uint32_t id = rd->pend[rd->nreplied++];
		if (v.type == '$' && !v.nil &&
		    cache_value_seq(v.s, v.len) >= x->s[id].seq) {
			rd->done[id] = 1;
			/* the reply came after the ack (the reader learnt of
			 * the write then); max() guards a clock read earlier
			 * on another core */
			uint64_t t =
			        now > x->s[id].t_ack ? now - x->s[id].t_ack : 0;
			if (vec_push(&x->lag, t))
				return -ENOMEM;
		}
	}
	if (k < 0)
		return -EPROTO;
	if (rd->nreplied == rd->nbatch && rd->nbatch) {
		size_t keep = 0;
		for (size_t i = 0; i < rd->npend; i++)
			if (!rd->done[rd->pend[i]])
				rd->pend[keep++] = rd->pend[i];
		rd->npend = keep;
		rd->nbatch = 0;
		rd->next_poll = now + x->poll_ns;
	}
	return 0;
}

static void *
reader_main(void *arg)
{
	struct lag_ctx *x = arg;
	struct epoll_event ev[MAX_EVENTS];
	size_t taken = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0) {
		x->err = -errno;
		return NULL;
	}
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(ep, EPOLL_CTL_ADD, x->efd, &e);
	for (size_t i = 0; i < x->nr; i++) {
		e.data.u64 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, x->r[i].fd, &e);
	}
	for (;;) {
		int fin = __atomic_load_n(&x->finished, __ATOMIC_ACQUIRE);
		size_t n = __atomic_load_n(&x->count, __ATOMIC_ACQUIRE);
		uint64_t now = mono_ns();
		for (; taken < n; taken++)
			for (size_t i = 0; i < x->nr; i++) {
				struct reader *rd = &x->r[i];
				rd->pend[rd->npend++] = (uint32_t)taken;
				if (!rd->nbatch && rd->npend == 1)
					rd->next_poll = now; /* read at once */
			}
		bool idle = true;
		uint64_t wait = LOOP_WAIT_NS;
		for (size_t i = 0; i < x->nr && !x->err; i++) {
			struct reader *rd = &x->r[i];
			if (rd->nbatch || rd->npend)
				idle = false;
			if (rd->nbatch || !rd->npend)
				continue;
			if (rd->next_poll <= now) {
				x->err = reader_poll(x, rd, now);
			} else if (rd->next_poll - now < wait) {
				wait = rd->next_poll - now;
			}
		}
		if (x->err || (fin && idle && taken == n) || cc_interrupted)
			break;
		struct timespec ts = {.tv_nsec = (long)wait};
		int k = epoll_pwait2(ep, ev, MAX_EVENTS, &ts, NULL);
		if (k < 0 && errno != EINTR) {
			x->err = -errno;
			break;
		}
		now = mono_ns();
		for (int j = 0; j < k && !x->err; j++) {
			if (ev[j].data.u64 == UINT64_MAX) {
				uint64_t junk;
				if (read(x->efd, &junk, sizeof(junk)) < 0)
					(void)junk;
				continue;
			}
			struct reader *rd = &x->r[ev[j].data.u64];
			x->err = rbuf_recv(rd->fd, &rd->in);
			if (!x->err)
				x->err = reader_replies(x, rd, now);
		}
	}
	/* what is still pending was never seen */
	for (size_t i = 0; i < x->nr; i++)
		x->timeouts += x->r[i].npend;
	close(ep);
	return NULL;
}

/* ------------------------------------------------------------ writers */

struct req {
	uint64_t t0; /* scheduled (open loop) or sent (closed) */
	uint64_t seq;
	uint32_t key;
	bool set, sampled;
};

struct lconn {
	int fd;
	struct rbuf in, out;
	struct req *q; /* ring of `pipeline` outstanding requests */
	size_t head, n;
	uint64_t next_due; /* open loop */
	uint64_t rng;
	bool want_out;
};

struct load {
	const struct cache_step_opts *o;
	struct cache_keys *k;
	struct cache_step *r;
	struct lconn *c;
	struct lag_ctx *x;
	char *filler;
	int ep;
	uint64_t interval_ns;  /* open loop: per connection */
	uint64_t sample_every; /* ns between sampled writes */
	uint64_t next_sample;
	size_t nsampled;
	struct u64vec lat;
	uint64_t last_reply;
};

static void
issue(struct load *l, unsigned ci, uint64_t now, uint64_t t0)
{
	struct lconn *c = &l->c[ci];
	const struct cache_step_opts *o = l->o;
	struct req *q = &c->q[(c->head + c->n) % o->pipeline];
	uint64_t rnd = rng_next(&c->rng);

	q->t0 = t0;
	q->key = (uint32_t)(ci * l->k->per_conn + (rnd >> 32) % l->k->per_conn);
	q->set = (double)(rnd & 0xffffffffu) / 4294967296.0 >= o->get_ratio;
	q->sampled = false;
	q->seq = 0;
	if (q->set) {
		q->seq = ++l->k->seq[ci];
		if (l->nsampled < o->lag_max && now >= l->next_sample &&
		    o->nreaders) {
			q->sampled = true;
			l->nsampled++;
			l->next_sample += l->sample_every;
		}
	}
	c->n++;
	/* the buffer is grown by put_request; a failure shows as -ENOMEM
	 * at the next send, the request then never answered: time-out */
	put_request(&c->out, l->k, q->key, q->set, q->seq, l->filler,
	            o->value_size);
}

static int
flush(struct load *l, unsigned ci)
{
	struct lconn *c = &l->c[ci];
	int rc = rbuf_send(c->fd, &c->out);

	if (rc < 0)
		return rc;
	bool want = rc == 1;
	if (want != c->want_out) {
		struct epoll_event e = {
		        .events = EPOLLIN | (want ? EPOLLOUT : 0),
		        .data.u32 = ci,
		};
		c->want_out = want;
		if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &e))
			return -errno;
	}
	return 0;
}

static void
publish(struct lag_ctx *x, const struct req *q, uint64_t now)
{
	size_t n = x->count;
	uint64_t one = 1;

	if (n >= x->cap)
		return;
	x->s[n] = (struct sample){.key = q->key, .seq = q->seq, .t_ack = now};
	__atomic_store_n(&x->count, n + 1, __ATOMIC_RELEASE);
	if (write(x->efd, &one, sizeof(one)) < 0)
		(void)one;
}

static int
replies(struct load *l, unsigned ci, uint64_t now)
{
	struct lconn *c = &l->c[ci];
	struct resp_val v;
	ssize_t k;

	while ((k = resp_parse(c->in.p + c->in.off, c->in.len - c->in.off,
	                       &v)) > 0) {
		c->in.off += (size_t)k;
		if (!c->n)
			return -EPROTO;
		struct req *q = &c->q[c->head];
		c->head = (c->head + 1) % l->o->pipeline;
		c->n--;
		l->last_reply = now;
		if (vec_push(&l->lat, now - q->t0))
			return -ENOMEM;
		if (v.type == '-') {
			l->r->errors++;
		} else if (q->set) {
			l->r->sets++;
			l->k->acked[q->key] = q->seq;
			if (q->sampled)
				publish(l->x, q, now);
		} else {
			l->r->gets++;
			l->r->get_hits += !v.nil;
		}
	}
	return k < 0 ? -EPROTO : 0;
}

/* The writers' loop, from t_start to the last reply. */
static int
run_load(struct load *l, uint64_t t_start)
{
	const struct cache_step_opts *o = l->o;
	uint64_t t_end = t_start + (uint64_t)(o->seconds * 1e9);
	uint64_t deadline = t_end + o->drain_timeout_ns;
	bool open = o->rate > 0;
	struct epoll_event ev[MAX_EVENTS];
	int rc;

	for (unsigned i = 0; i < o->conns; i++)
		l->c[i].next_due = t_start + i * l->interval_ns / o->conns;
	for (;;) {
		uint64_t now = mono_ns();
		uint64_t wait = LOOP_WAIT_NS;
		bool busy = false;

		if (cc_interrupted)
			return -EINTR;
		progress_bar(o->progress, "cache", o->label,
		             (double)(now - t_start) /
		                     (double)(t_end - t_start));
		for (unsigned i = 0; i < o->conns; i++) {
			struct lconn *c = &l->c[i];
			bool added = false;
			if (open) {
				/* a batch of `pipeline` when due and the
				 * last one is answered, as the closed loop
				 * sends them, at the offered rate */
				if (!c->n && c->next_due <= now &&
				    c->next_due < t_end) {
					double late =
					        (double)(now - c->next_due) /
					        1e6;
					if (late > l->r->max_late_ms)
						l->r->max_late_ms = late;
					for (unsigned j = 0; j < o->pipeline;
					     j++)
						issue(l, i, now, c->next_due);
					c->next_due += l->interval_ns;
					added = true;
				}
				if (c->next_due < t_end) {
					busy = true;
					if (!c->n && c->next_due > now &&
					    c->next_due - now < wait)
						wait = c->next_due - now;
				}
			} else if (!c->n && now < t_end) {
				for (unsigned j = 0; j < o->pipeline; j++)
					issue(l, i, now, now);
				added = true;
			}
			if (added && (rc = flush(l, i)))
				return rc;
			if (c->n)
				busy = true;
		}
		if (!busy && now >= t_end)
			return 0;
		if (now > deadline) {
			size_t left = 0;
			for (unsigned i = 0; i < o->conns; i++)
				left += l->c[i].n;
			fprintf(stderr,
			        "gvbench cache: %s: %zu replies missing %.0f s "
			        "after the load\n",
			        o->label, left,
			        (double)o->drain_timeout_ns / 1e9);
			return -ETIMEDOUT;
		}
		if (!open && now < t_end && t_end - now < wait)
			wait = t_end - now;
		struct timespec ts = {.tv_nsec = (long)wait};
		int k = epoll_pwait2(l->ep, ev, MAX_EVENTS, &ts, NULL);
		if (k < 0 && errno != EINTR)
			return -errno;
		now = mono_ns();
		for (int j = 0; j < k; j++) {
			unsigned ci = ev[j].data.u32;
			struct lconn *c = &l->c[ci];
			if (ev[j].events & EPOLLOUT && (rc = flush(l, ci)))
				return rc;
			if (!(ev[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			if ((rc = rbuf_recv(c->fd, &c->in)) ||
			    (rc = replies(l, ci, now)))
				return rc;
		}
	}
}

/* ------------------------------------------------------------ a step */

static int
open_conns(struct load *l)
{
	const struct cache_step_opts *o = l->o;

	for (unsigned i = 0; i < o->conns; i++) {
		struct lconn *c = &l->c[i];
		c->q = calloc(o->pipeline, sizeof(*c->q));
		if (!c->q)
			return -ENOMEM;
		c->rng = (o->seed + i + 1) * UINT64_C(0x9e3779b97f4a7c15) | 1;
		c->fd = resp_connect(o->port, CONNECT_TIMEOUT_MS);
		if (c->fd < 0)
			return c->fd;
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &e))
			return -errno;
	}
	struct lag_ctx *x = l->x;
	for (size_t i = 0; i < x->nr; i++) {
		struct reader *rd = &x->r[i];
		rd->pend = calloc(x->cap ? x->cap : 1, sizeof(*rd->pend));
		rd->done = calloc(x->cap ? x->cap : 1, 1);
		if (!rd->pend || !rd->done)
			return -ENOMEM;
		rd->fd = resp_connect(o->reader_ports[i], CONNECT_TIMEOUT_MS);
		if (rd->fd < 0)
			return rd->fd;
	}
	return 0;
}

static void
close_conns(struct load *l)
{
	for (unsigned i = 0; l->c && i < l->o->conns; i++) {
		if (l->c[i].fd > 0)
			close(l->c[i].fd);
		rbuf_free(&l->c[i].in);
		rbuf_free(&l->c[i].out);
		free(l->c[i].q);
	}
	for (size_t i = 0; i < l->x->nr; i++) {
		struct reader *rd = &l->x->r[i];
		if (rd->fd > 0)
			close(rd->fd);
		rbuf_free(&rd->in);
		rbuf_free(&rd->out);
		free(rd->pend);
		free(rd->done);
	}
}

int
cache_step_run(const struct cache_step_opts *o, struct cache_keys *k,
               struct cache_step *r)
{
	struct lag_ctx x = {
	        .k = k,
	        .cap = o->nreaders ? o->lag_max : 0,
	        .efd = -1,
	        .nr = o->nreaders,
	        .poll_ns = o->poll_ns,
	        .timeout_ns = o->lag_timeout_ns,
	        .lag = {.max = SIZE_MAX},
	};
	struct load l = {
	        .o = o,
	        .k = k,
	        .r = r,
	        .x = &x,
	        .lat = {.max = MAX_LAT},
	        .ep = -1,
	};
	pthread_t th;
	bool thread = false;
	int rc = -ENOMEM;

	memset(r, 0, sizeof(*r));
	l.c = calloc(o->conns, sizeof(*l.c));
	x.r = calloc(o->nreaders ? o->nreaders : 1, sizeof(*x.r));
	x.s = calloc(x.cap ? x.cap : 1, sizeof(*x.s));
	l.filler = malloc(o->value_size);
	if (!l.c || !x.r || !x.s || !l.filler)
		goto out;
	memset(l.filler, 'x', o->value_size);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	x.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l.ep < 0 || x.efd < 0) {
		rc = -errno;
		goto out;
	}
	rc = open_conns(&l);
	if (rc) {
		fprintf(stderr, "gvbench cache: %s: connect: %s\n", o->label,
		        strerror(-rc));
		goto out;
	}
	l.interval_ns =
	        o->rate > 0 ? (uint64_t)(1e9 * o->conns * o->pipeline / o->rate)
	                    : 0;
	if (o->rate > 0 && !l.interval_ns)
		l.interval_ns = 1;
	l.sample_every =
	        o->lag_max ? (uint64_t)(o->seconds * 1e9 / (double)o->lag_max)
	                   : UINT64_MAX;
	if (o->nreaders) {
		rc = -pthread_create(&th, NULL, reader_main, &x);
		if (rc) {
			fprintf(stderr, "gvbench cache: pthread_create: %s\n",
			        strerror(-rc));
			goto out;
		}
		thread = true;
	}
	uint64_t t_start = mono_ns();
	l.next_sample = t_start + l.sample_every / 2;
	l.last_reply = t_start;
	rc = run_load(&l, t_start);
	progress_clear(o->progress);
	r->elapsed_s = (double)(l.last_reply - t_start) / 1e9;
	if (rc && rc != -EINTR && rc != -ETIMEDOUT)
		fprintf(stderr, "gvbench cache: %s: %s\n", o->label,
		        strerror(-rc));
out:
	__atomic_store_n(&x.finished, 1, __ATOMIC_RELEASE);
	if (thread) {
		uint64_t one = 1;
		if (write(x.efd, &one, sizeof(one)) < 0)
			(void)one;
		pthread_join(th, NULL);
		if (x.err && !rc) {
			fprintf(stderr, "gvbench cache: %s: lag reader: %s\n",
			        o->label, strerror(-x.err));
			rc = x.err;
		}
	}
	if (l.c)
		close_conns(&l);
	if (l.ep >= 0)
		close(l.ep);
	if (x.efd >= 0)
		close(x.efd);
	free(l.c);
	free(x.r);
	free(x.s);
	free(l.filler);
	r->lat_ns = l.lat.v;
	r->nlat = l.lat.n;
	r->lag_ns = x.lag.v;
	r->nlag = x.lag.n;
	r->lag_writes = x.count;
	r->lag_timeouts = x.timeouts;
	if (r->nlat)
		qsort(r->lat_ns, r->nlat, sizeof(*r->lat_ns), cmp_u64);
	if (r->nlag)
		qsort(r->lag_ns, r->nlag, sizeof(*r->lag_ns), cmp_u64);
	return cc_interrupted ? -EINTR : rc;
}

void
cache_step_fini(struct cache_step *r)
{
	free(r->lat_ns);
	free(r->lag_ns);
	memset(r, 0, sizeof(*r));
}
