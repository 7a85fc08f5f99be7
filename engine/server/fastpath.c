/* SPDX-License-Identifier: MIT */
/*
 * fastpath.c - --frontend threads: RESP clients served by every worker
 * thread (docs/frontend.md); the workers' side (the front end's, set-up
 * and counters: fastpath_setup.c).
 *
 * The front end accepts, and hands each new client (when no password is
 * asked) to a worker thread in turn over that worker's `tow` ring. The
 * worker reads, parses and runs its commands in its own loop, next to
 * the shards it hosts: a single-key command (GET, SET and its options,
 * the TTL and counter commands, DEL/EXISTS of one key, PING, ECHO) is
 * applied at once when its key's shard is on this thread, else it hops
 * to the thread that hosts it over the ring between the two (xr, one per
 * ordered pair, carrying commands one way and their answers back), and
 * its reply goes out in order with the client's others, all of a turn's
 * replies in one write. The first command of any other kind (MULTI,
 * HELLO, MGET, CLIENT...) hands the client back to the front end once
 * its earlier commands are answered (`tom` ring): the front end serves it
 * from then on, exactly as with --frontend single.
 *
 * Order. A key's commands run in the order its clients sent them: they
 * all run on one thread, here at once or through one ring in order.
 * Replies go out in the order of the commands. A pipelined burst's
 * commands on keys of different threads run side by side, as
 * Dragonfly's pipeline squashing runs them: another client may see the
 * burst's writes land in another order than it was sent in, until the
 * burst is answered; a command sent after a reply was read sees every
 * write answered before it (below). A command that finds its ring at
 * its share (XMAX) waits (fwait), and the client is not parsed further.
 *
 * What the front end dispatches stays atomic to these clients. The
 * front end holds the workers (d->fe_epoch odd) while it pushes a req
 * to several threads, and from an EXEC's (or RENAME's) check until its
 * second step is pushed; the epoch grows by one as each spell begins
 * and ends. A worker runs a command of its clients, or one that hopped
 * in, only after it read the epoch even, drained its own command ring
 * from the front end (gv_shard_take_cmds), and read the same epoch
 * again, all after the command was read off its socket or its ring. So
 * a reader here that saw one part of an MSET (another thread applied
 * it, and the MSET's pushes began before that) finds the hold on (it
 * waits) or the whole MSET in its ring (applied first); a check applied
 * in the drain shows as a changed epoch; and no write of a worker lands
 * between an EXEC's check and the EXEC. A write is answered only once
 * applied, so what a reply showed is there for the next command anyone
 * sends after reading it.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/commands.h"
#include "server/log.h"
#include "server/persist.h"

_Thread_local struct gvd_tstats *gvd_ts;
_Thread_local struct worker *gvd_self;

/* Commands of ours at one other thread at most: that thread's answers
 * and its own commands to us then fit its ring back to us (RING). */
#define XMAX (RING / 4)

/* Ring messages: req pointers, bit 0 set on an answer. */
#define XR_ANSWER 1u

static gv_spsc *
xr(gv_daemon *d, unsigned from, unsigned to)
{
	return &d->xr[from * d->nthreads + to];
}

/* --------------------------------------------------- the worker */

static void
post_tom(struct worker *w, uintptr_t m)
{
	if (!w->ntom_over && !gv_spsc_push(&w->tom, &m)) {
		gvd_wake_front(w->d);
		return;
	}
	if (w->ntom_over == w->tom_over_cap) {
		size_t cap = w->tom_over_cap ? w->tom_over_cap * 2 : 64;
		uintptr_t *p = realloc(w->tom_over, cap * sizeof(*p));
		if (!p) {
			/* cannot drop it (the client would be lost to both
			 * threads): wait for room */
			while (gv_spsc_push(&w->tom, &m))
				gvd_wake_front(w->d);
			return;
		}
		w->tom_over = p;
		w->tom_over_cap = cap;
	}
	w->tom_over[w->ntom_over++] = m;
}

static void
flush_tom(struct worker *w)
{
	size_t k = 0;
	while (k < w->ntom_over && !gv_spsc_push(&w->tom, &w->tom_over[k]))
		k++;
	if (k) {
		memmove(w->tom_over, w->tom_over + k,
			(w->ntom_over - k) * sizeof(*w->tom_over));
		w->ntom_over -= k;
		gvd_wake_front(w->d);
	}
}

static void
unlink_worker(struct worker *w, struct client *c)
{
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		w->clients = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wprev = c->wnext = NULL;
	gvd_dirty_unlink(&w->dirty, c);
	if (c->on_run) {
		if (c->rprev)
			c->rprev->rnext = c->rnext;
		else
			w->run = c->rnext;
		if (c->rnext)
			c->rnext->rprev = c->rprev;
		c->on_run = false;
		c->rprev = c->rnext = NULL;
	}
}

static void
mark_dirty(struct worker *w, struct client *c)
{
	gvd_dirty_push(&w->dirty, c);
}

static void
run_later(struct worker *w, struct client *c)
{
	if (c->on_run)
		return;
	c->on_run = true;
	c->rprev = NULL;
	c->rnext = w->run;
	if (w->run)
		w->run->rprev = c;
	w->run = c;
}

/* Not read because its replies or requests piled up: counted as the
 * front end counts its own (client_read_pauses, paused_clients). */
static void
set_paused(struct worker *w, struct client *c, bool on)
{
	if (on == c->paused)
		return;
	c->paused = on;
	if (on)
		gvd_tinc(&w->ts->pauses);
	uint64_t n = atomic_load_explicit(&w->ts->paused, memory_order_relaxed);
	atomic_store_explicit(&w->ts->paused, on ? n + 1 : n - 1,
			      memory_order_relaxed);
}

static void
set_events(struct worker *w, struct client *c)
{
	if (c->fd < 0)
		return;
	size_t soft = gvd_out_soft(w->d);
	bool full = c->queued >= CLIENT_PENDING ||
		    gv_resp_buf_pending(&c->out) >= soft;
	bool in = !c->migrate && !c->closing && !full;
	bool out = gv_resp_buf_pending(&c->out) > 0;
	set_paused(w, c, full && !c->migrate && !c->closing);
	if (in == c->in_on && out == c->out_on)
		return;
	struct epoll_event ev = {.events = (in ? EPOLLIN : 0) |
					   (out ? EPOLLOUT : 0),
				 .data.ptr = c};
	if (epoll_ctl(w->cfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->in_on = in;
		c->out_on = out;
	} else {
		c->closing = true; /* cannot be watched: it would hang */
		gv_resp_buf_clear(&c->out);
	}
}

/* The client is done with: its socket closed now, the client itself
 * handed to the front end to free once no command of it is out. */
static void set_paused(struct worker *w, struct client *c, bool on);

/* Returns true when c went to the front end to be freed: not to be
 * touched again. */
static bool
close_client(struct worker *w, struct client *c)
{
	set_paused(w, c, false);
	if (c->fd >= 0) {
		(void)epoll_ctl(w->cfd, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd); /* a socket we are done with */
		c->fd = -1;
	}
	c->gone = true;
	if (c->fwait) {
		/* never sent: answered by nobody */
		c->fwait->done = c->fwait->total;
		c->fwait = NULL;
	}
	if (c->fout)
		return false; /* when the last comes back */
	unlink_worker(w, c);
	post_tom(w, (uintptr_t)c | 1);
	return true;
}

/* Give the client back to the front end once nothing of it is left
 * here: its commands all answered (their replies may still wait in its
 * output: the front end writes them). */
static bool
maybe_hand(struct worker *w, struct client *c)
{
	if (!c->migrate || c->gone || c->head || c->fwait || c->fout)
		return false;
	(void)epoll_ctl(w->cfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->in_on = c->out_on = false;
	set_paused(w, c, false);
	unlink_worker(w, c);
	gvd_tinc(&w->ts->fast_handed);
	post_tom(w, (uintptr_t)c);
	return true;
}

/* New clients from the front end, and its kills. */
static void
take_tow(struct worker *w)
{
	uintptr_t m;
	while (gv_spsc_pop(&w->tow, &m)) {
		struct client *c = (struct client *)m;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		c->wprev = NULL;
		c->wnext = w->clients;
		if (w->clients)
			w->clients->wprev = c;
		w->clients = c;
		gvd_tinc(&w->ts->fast_served);
		if (epoll_ctl(w->cfd, EPOLL_CTL_ADD, c->fd, &ev)) {
			close_client(w, c);
			continue;
		}
		c->in_on = true;
	}
	if (atomic_load_explicit(&w->kill_pending, memory_order_acquire)) {
		atomic_store_explicit(&w->kill_pending, false,
				      memory_order_relaxed);
		for (struct client *c = w->clients, *next; c; c = next) {
			next = c->wnext;
			if (!c->gone &&
			    atomic_load_explicit(&c->kill_req,
						 memory_order_relaxed))
				close_client(w, c);
		}
	}
}

static bool write_client(struct worker *w, struct client *c);

/* Read what the socket has (not parsed yet: see the order above). */
static void
read_client(struct worker *w, struct client *c)
{
	gv_daemon *d = w->d;
	/* not while whole commands wait for their replies to go: TCP holds
	 * the rest (epoll stops reporting it once its events are set) */
	size_t got = 0;
	while (!c->gone && !c->migrate && !c->paused && !c->wblocked &&
	       !c->fwait && got < 4 * 65536) {
		int g = gvd_input_room(d, c);
		if (g) {
			if (g > 0)
				gvd_tinc(&w->ts->in_disc);
			close_client(w, c);
			return;
		}
		size_t room = c->incap - c->inlen;
		ssize_t n = read(c->fd, c->in + c->inlen, room);
		if (n == 0 || (n < 0 && errno != EAGAIN &&
			       errno != EWOULDBLOCK && errno != EINTR)) {
			close_client(w, c);
			return;
		}
		if (n < 0)
			break;
		c->inlen += (size_t)n;
		got += (size_t)n;
		run_later(w, c);
		if ((size_t)n < room)
			break;
	}
}

static void
poll_clients(struct worker *w)
{
	struct epoll_event ev[64];
	int n;
	do {
		n = epoll_wait(w->cfd, ev, 64, 0);
		for (int i = 0; i < n; i++) {
			struct client *c = ev[i].data.ptr;
			if (c->gone)
				continue;
			/* a write may hand it back or close it: then it is
			 * not ours to read */
			if ((ev[i].events & EPOLLOUT) && !write_client(w, c))
				continue;
			if (!c->gone &&
			    (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				read_client(w, c);
		}
	} while (n == 64);
}

/* The answers to our hops, and the others' commands for our shards
 * (kept in order: applied once it is safe, below). */
static void
take_xr(struct worker *w)
{
	gv_daemon *d = w->d;
	for (unsigned u = 0; u < d->nthreads; u++) {
		if (u == w->idx)
			continue;
		uintptr_t m;
		gv_spsc *ring = xr(d, u, w->idx);
		while (gv_spsc_pop(ring, &m)) {
			struct req *r = (struct req *)(m & ~(uintptr_t)XR_ANSWER);
			if (!(m & XR_ANSWER)) {
				r->wnext = NULL;
				if (w->hq_tail)
					w->hq_tail->wnext = r;
				else
					w->hq_head = r;
				w->hq_tail = r;
				continue;
			}
			struct client *c = r->cl;
			w->xout[u]--;
			c->fout--;
			r->done = r->total;
			if (c->gone) {
				if (!c->fout)
					close_client(w, c);
				continue;
			}
			mark_dirty(w, c);
			if (c->fwait || c->inlen)
				run_later(w, c);
		}
	}
}

/* Apply one command's sub on our thread. */
static void
apply_here(gv_daemon *d, struct req *r, gv_time now)
{
	struct sub *s = &r->subs[0];
	struct shard *sh = &d->shards[s->shard];
	gvd_apply_sub(sh, s, now);
	gv_shard_touch(sh->w->rt, sh->ep);
}

static void
run_hq(struct worker *w, gv_time now)
{
	gv_daemon *d = w->d;
	while (w->hq_head) {
		struct req *r = w->hq_head;
		uintptr_t m = (uintptr_t)r | XR_ANSWER;
		/* r is its sender's again once answered: read it first */
		struct req *next = r->wnext;
		unsigned to = r->origin;
		apply_here(d, r, now);
		/* cannot be full: the sender keeps at most XMAX of its
		 * commands here, and we as many of ours there */
		if (gv_spsc_push(xr(d, w->idx, to), &m)) {
			gv_log(GV_LOG_ERROR, "worker ring full", "to=%u", to);
			break;
		}
		w->wake_mask |= 1ull << to;
		w->hq_head = next;
		if (!w->hq_head)
			w->hq_tail = NULL;
	}
}

/* Send or run r (the client's next command), or keep it waiting. */
static void
try_send(struct worker *w, struct client *c, struct req *r)
{
	gv_daemon *d = w->d;
	if (!r->nsubs) {
		r->done = r->total;
		mark_dirty(w, c);
		return;
	}
	unsigned v = d->shards[r->subs[0].shard].w->idx;
	if (v == w->idx) {
		apply_here(d, r, gv_io_now());
		r->done = r->total;
		gvd_tinc(&w->ts->fast_local);
		mark_dirty(w, c);
		return;
	}
	if (w->xout[v] >= XMAX) {
		c->fwait = r;
		return;
	}
	uintptr_t m = (uintptr_t)r;
	r->origin = (uint16_t)w->idx;
	if (gv_spsc_push(xr(d, w->idx, v), &m)) {
		c->fwait = r;
		return;
	}
	w->xout[v]++;
	c->fout++;
	w->wake_mask |= 1ull << v;
	gvd_tinc(&w->ts->fast_hops);
}

/* From gvd_dispatch, on a worker's thread: r is one of its client's
 * single-key commands. */
void
gvd_fast_dispatch(struct worker *w, struct req *r)
{
	try_send(w, r->cl, r);
}

/* The commands a worker runs: one key, or none; the rest go to the
 * front end. */
static bool
fast_ok(const struct gvd_cmd *cmd, size_t ac)
{
	static gvd_cmd_fn *const one[] = {
		gvd_cmd_get,	   gvd_cmd_set,	     gvd_cmd_setex,
		gvd_cmd_psetex,	   gvd_cmd_setnx,    gvd_cmd_getset,
		gvd_cmd_getdel,	   gvd_cmd_getex,    gvd_cmd_expire,
		gvd_cmd_pexpire,   gvd_cmd_expireat, gvd_cmd_pexpireat,
		gvd_cmd_ttl,	   gvd_cmd_pttl,     gvd_cmd_expiretime,
		gvd_cmd_pexpiretime, gvd_cmd_persist, gvd_cmd_incr,
		gvd_cmd_decr,	   gvd_cmd_incrby,   gvd_cmd_decrby,
		gvd_cmd_incrbyfloat, gvd_cmd_ping,   gvd_cmd_echo,
	};
	if (!cmd || cmd->subs)
		return false;
	if (cmd->fn == gvd_cmd_del || cmd->fn == gvd_cmd_exists)
		return ac == 2;
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		if (cmd->fn == one[i])
			return true;
	return false;
}

/*
 * Prefetching. A pipelined SET spends most of its time waiting for memory:
 * the store's slot, the entry it points to and the Merkle leaf are cache
 * misses, and running the commands one after another takes them one after
 * another. So before a client's buffered commands run, a light scan finds
 * the keys of the first PF_MAX whole multibulk commands and prefetches
 * what each will touch in the stores this worker owns (another thread's
 * store is not ours to read), in two stages: all the slots and Merkle
 * leaves, then the entries the slots point to, so that many misses are in
 * flight at once. (Two variants measured slower: a window of 8 commands
 * kept ahead of the parser, and the next clients' keys prefetched while
 * one client runs.) The scan is a hint only: it
 * stops at the first byte it does not expect and leaves every check to
 * the parser.
 */
#define PF_MAX 32
#define PF_MAX_ARGS 64

/* A decimal after the type byte at *pos, then CRLF; false if not there. */
static bool
scan_num(const char *p, size_t n, size_t *pos, size_t *out)
{
	size_t i = *pos + 1, v = 0, digits = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 10) {
		v = v * 10 + (size_t)(p[i] - '0');
		i++;
		digits++;
	}
	if (!digits || i + 2 > n || p[i] != '\r')
		return false;
	*pos = i + 2;
	*out = v;
	return true;
}

/* The bulk string at *pos, whole; false if it is not. */
static bool
scan_bulk(const char *p, size_t n, size_t *pos, const char **s, size_t *len)
{
	size_t i = *pos, l;
	if (i >= n || p[i] != '$' || !scan_num(p, n, &i, &l) || l > n - i ||
	    n - i - l < 2)
		return false;
	*s = p + i;
	*len = l;
	*pos = i + l + 2;
	return true;
}

/* The first PF_MAX commands of the client's input: slots and leaves of
 * our shards' keys fetched, then the entries the slots point to. */
static void
prefetch_keys(struct worker *w, const struct client *c)
{
	gv_daemon *d = w->d;
	const gv_store *st[PF_MAX];
	uint64_t h[PF_MAX];
	size_t k = 0, pos = 0, n = c->inlen;
	const char *p = c->in;
	while (k < PF_MAX && pos < n && p[pos] == '*') {
		size_t argc, len;
		const char *key;
		if (!scan_num(p, n, &pos, &argc) || argc < 2 ||
		    argc > PF_MAX_ARGS || !scan_bulk(p, n, &pos, &key, &len) ||
		    !scan_bulk(p, n, &pos, &key, &len))
			break;
		uint64_t hash = XXH3_64bits(key, len);
		struct shard *sh = &d->shards[hash % d->k];
		if (sh->w == w) {
			st[k] = gv_node_store(sh->node);
			h[k] = hash;
			gv_store_prefetch(st[k], hash, 0);
			k++;
		}
		for (size_t i = 2; i < argc; i++)
			if (!scan_bulk(p, n, &pos, &key, &len))
				goto staged;
	}
staged:
	for (size_t i = 0; i < k; i++)
		gv_store_prefetch(st[i], h[i], 1);
}

/* Parse and run the client's buffered commands while it may. Returns
 * false when c is no longer ours (handed back). */
static bool
run_client(struct worker *w, struct client *c)
{
	gv_daemon *d = w->d;
	if (c->fwait) {
		struct req *r = c->fwait;
		c->fwait = NULL;
		try_send(w, c, r);
		if (c->fwait)
			return true;
	}
	size_t soft = gvd_out_soft(d);
	size_t off = 0;
	bool partial = false;
	if (c->inlen)
		prefetch_keys(w, c);
	while (off < c->inlen && !c->fwait && !c->migrate && !c->closing &&
	       c->queued < CLIENT_PENDING &&
	       gv_resp_buf_pending(&c->out) < soft) {
		size_t used = 0;
		int rc = gv_resp_req_parse(&c->parser, c->in + off,
					   c->inlen - off, &used);
		if (rc == 0) {
			off += used;
			partial = true;
			break;
		}
		if (rc < 0) {
			/* as the front end does: the error, then close */
			struct req *r = gvd_ready(c);
			if (r) {
				gv_resp_out_errorf(&r->reply, "ERR %s",
						   gv_resp_req_errmsg(&c->parser));
				c->inflight++;
			}
			c->closing = true;
			mark_dirty(w, c);
			break;
		}
		const gv_resp_arg *a0 = &c->parser.argv[0];
		const struct gvd_cmd *cmd =
			gvd_cmd_find(gvd_cmds, gvd_ncmds, a0->ptr, a0->len);
		if (used >= BIG_VALUE || !fast_ok(cmd, c->parser.argc)) {
			/* the front end runs it as parsed (an inline
			 * command's quotes are undone in place: it cannot
			 * be parsed again), then what follows */
			c->mig_used = used;
			c->migrate = true;
			break;
		}
		gvd_command_row(d, c, cmd, c->parser.argv, c->parser.argc);
		c->inflight++;
		off += used;
		mark_dirty(w, c); /* answered at once, or when it is back */
		/* big replies, or many, go into the output now, so that the
		 * soft limit above sees them and stops the parse early (past
		 * the hard limit the write below closes the client); small
		 * ones wait for the turn's end, encoded together */
		const struct req *t = c->tail;
		/* done: run here (r->done is this thread's to write); one
		 * still at another thread is not ours to read */
		bool big = t && req_done(t) && t->nsubs &&
			   t->subs[0].outlen >= 4096;
		if ((big || c->queued >= 64) && !gvd_encode_replies(d, c))
			break;
	}
	if (off) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
		/* the handed command's arguments moved with it */
		for (size_t i = 0; c->mig_used && i < c->parser.argc; i++)
			c->parser.argv[i].ptr -= off;
	}
	/* stopped at its share of replies, with whole commands left */
	c->wblocked = !partial && c->inlen && !c->fwait &&
		      !c->migrate && !c->closing;
	set_events(w, c);
	return !c->migrate || !maybe_hand(w, c);
}

/* Encode the answered commands at the head and write. Returns false
 * when c is no longer ours (closed, or handed back). */
static bool
write_client(struct worker *w, struct client *c)
{
	gv_daemon *d = w->d;
	if (!gvd_encode_replies(d, c)) {
		gv_log(GV_LOG_WARN, "client output over the limit, closing",
		       "fd=%d pending=%zu limit=%llu", c->fd,
		       gv_resp_buf_pending(&c->out),
		       (unsigned long long)d->cfg.client_output_limit);
		gvd_tinc(&w->ts->out_disc);
		return !close_client(w, c);
	}
	gvd_write_out(c);
	if (!gv_resp_buf_pending(&c->out)) {
		c->out_big = 0;
		if (c->out.cap > (1u << 20))
			gv_resp_buf_trim(&c->out);
	}
	if (c->closing && !c->head && !gv_resp_buf_pending(&c->out))
		return !close_client(w, c);
	set_events(w, c);
	if (c->wblocked) {
		c->wblocked = false;
		run_later(w, c); /* what is buffered goes on next turn */
	}
	return !maybe_hand(w, c);
}

void
gvd_fast_iter(struct worker *w, gv_time now)
{
	gv_daemon *d = w->d;
	if (!d->threaded)
		return;
	if (!gvd_ts) {
		gvd_ts = w->ts;
		gvd_self = w;
	}
	take_tow(w);
	if (w->cfd_ready) {
		w->cfd_ready = false;
		poll_clients(w);
	}
	take_xr(w);
	/* after reading: what the front end pushed before these commands
	 * were sent is applied first, nothing is half pushed, and no
	 * check waits for its second step. The same even hold before and
	 * after the drain: no spell began before it and ran through it
	 * (a check applied in the drain and its EXEC not), and the last
	 * one ended before the first read, with its pushes in the ring */
	uint64_t e1 = atomic_load_explicit(&d->fe_epoch, memory_order_acquire);
	bool ok = !(e1 & 1) && gv_shard_take_cmds(w->rt) &&
		  atomic_load_explicit(&d->fe_epoch, memory_order_acquire) == e1;
	if (ok) {
		run_hq(w, now);
		/* from the head: a client's run may hand it back or close
		 * it (it leaves the list then), never add one */
		struct client *again = NULL;
		while (w->run) {
			struct client *c = w->run;
			w->run = c->rnext;
			if (w->run)
				w->run->rprev = NULL;
			c->on_run = false;
			c->rprev = c->rnext = NULL;
			if (!c->gone && !c->migrate && !run_client(w, c))
				continue; /* handed back: the front end's */
			if (!c->gone && c->fwait) {
				/* its ring at its share: tried each turn */
				c->rnext = again;
				again = c;
			}
		}
		while (again) {
			struct client *c = again;
			again = c->rnext;
			c->rnext = NULL;
			run_later(w, c);
		}
	} else if (w->hq_head || w->run) {
		gv_shard_wake(w->rt); /* once the front end is done */
	}
	/* --dir: the turn's writes logged (always: synced) before replies */
	gvd_persist_commit(w);
	while (w->dirty) {
		struct client *c = w->dirty;
		gvd_dirty_unlink(&w->dirty, c);
		if (!c->gone)
			(void)write_client(w, c);
	}
	/* clients that stopped at their share: parsed again next turn */
	if (w->run)
		gv_shard_wake(w->rt);
	flush_tom(w);
	for (unsigned u = 0; w->wake_mask && u < d->nthreads; u++)
		if (w->wake_mask & (1ull << u))
			gv_shard_wake(d->workers[u].rt);
	w->wake_mask = 0;
}
