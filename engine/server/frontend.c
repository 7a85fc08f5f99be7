/* SPDX-License-Identifier: MIT */
/*
 * frontend.c - the front end's client connections (one epoll thread): the
 * RESP listener, reading and parsing a client's input into commands,
 * encoding a req's reply once its subs are back, writing replies in order,
 * and the backpressure that pauses a client that reads too slowly or asks
 * too much at once.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

/* ------------------------------------------------------------ front end */

int
gvd_listen_tcp(const gv_addr *a, char *err, size_t errlen, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->addr, 4);
		sl = sizeof(*s4);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					      SOCK_CLOEXEC,
			0);
	int one = 1;
	char as[64];
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 511)) {
		snprintf(err, errlen, "cannot listen for %s on %s: %s", what,
			 gv_addr_str(a, as, sizeof(as)), strerror(errno));
		if (fd >= 0)
			(void)close(fd); /* never listened on */
		return -1;
	}
	return fd;
}


void
gvd_client_close(gv_daemon *d, struct client *c)
{
	/* the close below removes it from the epoll set in any case (no
	 * other descriptor refers to the socket); the DEL only says so
	 * early. A close error on a socket loses nothing we still hold. */
	if (c->fd >= 0) { /* -1: closed by the worker that served it */
		(void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd);
	}
	gvd_dirty_unlink(&d->dirty, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* finished reqs go now; reqs still at the shards finish without a
	 * client (gvd_drain_shards frees them) */
	for (struct req *r = c->head, *next; r; r = next) {
		next = r->next;
		r->next = NULL;
		if (req_done(r))
			gvd_req_free(r);
		else
			r->cl = NULL;
	}
	gvd_multi_reset(c);
	free(c->lw_key);
	free(c->in);
	free(c->name);
	free(c->lib_name);
	free(c->lib_ver);
	gv_resp_req_fini(&c->parser);
	gv_resp_buf_fini(&c->out);
	free(c);
	d->nclients--;
}

/* A req on no client's queue. */
struct req *
gvd_req_alloc(int combine, unsigned nsubs)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->combine = combine;
	r->nsubs = nsubs;
	r->total = nsubs;
	gv_resp_buf_init(&r->reply, gv_mem_libc(), 0);
	if (nsubs) {
		r->subs = calloc(nsubs, sizeof(*r->subs));
		if (!r->subs) {
			gv_resp_buf_fini(&r->reply);
			free(r);
			return NULL;
		}
		for (unsigned i = 0; i < nsubs; i++)
			r->subs[i].parent = r;
	}
	return r;
}

/*
 * A req on c's queue; or, while c runs an EXEC (c->capture), one of that
 * EXEC's commands: kept by the EXEC, whose batches carry its subs and
 * whose reply holds its reply (multi.c). Every handler makes its req
 * here, which is what makes any command work inside MULTI.
 */
struct req *
gvd_req_new(struct client *c, int combine, unsigned nsubs)
{
	struct req *x = c->capture;
	if (x && x->nkids == x->kcap) {
		unsigned cap = x->kcap ? x->kcap * 2 : 8;
		struct req **k = realloc(x->kids, cap * sizeof(*k));
		if (!k)
			return NULL;
		x->kids = k;
		x->kcap = cap;
	}
	struct req *r = gvd_req_alloc(combine, nsubs);
	if (!r)
		return NULL;
	r->cl = c;
	/* the protocol and CLIENT REPLY as they are when the command
	 * arrives: a later HELLO or CLIENT REPLY changes later replies */
	r->proto = c->proto;
	r->noreply = c->reply_off || c->skip_this;
	r->reply.proto = c->proto;
	for (unsigned i = 0; i < nsubs; i++)
		r->subs[i].proto = c->proto;
	if (x) {
		r->kid = true;
		x->kids[x->nkids++] = r;
		return r;
	}
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	r->queued = nsubs ? nsubs : 1;
	c->queued += r->queued;
	return r;
}

void
gvd_req_free(struct req *r)
{
	for (unsigned i = 0; i < r->nsubs; i++) {
		free(r->subs[i].key);
		free(r->subs[i].wkey);
		free(r->subs[i].val);
		free(r->subs[i].out);
		free(r->subs[i].args);
		free(r->subs[i].argbuf);
	}
	for (unsigned k = 0; k < r->nkids; k++)
		gvd_req_free(r->kids[k]);
	free(r->kids);
	if (r->batches != &r->batch1)
		free(r->batches);
	free(r->order);
	free(r->subs);
	free(r->pattern);
	gv_resp_buf_fini(&r->reply);
	free(r);
}


/* Encode a complete req's reply into o (c's output, or an EXEC's
 * reply for one of its commands). */
void
gvd_finish_one(gv_daemon *d, gv_resp_buf *o, struct client *c, struct req *r)
{
	o->proto = r->proto;
	/* WAIT's question is about the client's last write */
	for (unsigned i = 0; c && i < r->nsubs; i++) {
		struct sub *s = &r->subs[i];
		if (!s->wrote || s->rc)
			continue;
		char *k = s->wkey ? dupmem(s->wkey, s->wklen)
				  : dupmem(s->key, s->klen);
		if (!k)
			continue;
		free(c->lw_key);
		c->lw_key = k;
		c->lw_klen = s->wkey ? s->wklen : s->klen;
		c->lw_shard = s->shard;
		c->lw_ver = s->ver;
	}
	if (r->combine == C_WATCHED)
		gvd_watch_done(c, r); /* even on an error: it is read again */
	for (unsigned i = 0; i < r->nsubs && r->combine != C_EXEC; i++)
		if (r->subs[i].rc) {
			int rc = r->subs[i].rc;
			if (rc == GV_ENOSPC)
				gv_resp_out_error(o, "OOM command not allowed "
						     "when used memory > "
						     "'maxmemory'.");
			else if (rc == GV_EREADONLY)
				gv_resp_out_error(o, "READONLY this node is in "
						     "a minority partition");
			else if (rc == GVD_EWRONGTYPE)
				gv_resp_out_error(o, GVD_WRONGTYPE);
			else if (rc == GV_EFULL)
				gv_resp_out_error(o, "BUSY shard queue full, "
						     "try again");
			else if (rc == GVD_ESAVE)
				gv_resp_out_error(o, "ERR the snapshot failed "
						     "(the log says why; INFO "
						     "persistence)");
			else
				gv_resp_out_errorf(o, "ERR %s",
						   gv_strerror(rc));
			return;
		}
	switch (r->combine) {
	case C_READY:
		gv_resp_buf_append(o, gv_resp_buf_data(&r->reply),
				   gv_resp_buf_pending(&r->reply));
		break;
	case C_FRAG:
		gv_resp_buf_append(o, r->subs[0].out, r->subs[0].outlen);
		break;
	case C_KEYS: {
		int64_t total = 0;
		for (unsigned i = 0; i < r->nsubs; i++)
			total += r->subs[i].ival;
		gv_resp_out_array(o, (size_t)total);
		for (unsigned i = 0; i < r->nsubs; i++)
			gv_resp_buf_append(o, r->subs[i].out,
					   r->subs[i].outlen);
		break;
	}
	case C_RANDOM: {
		/* a shard with k of the n keys is picked with odds k/n, and
		 * picked its key uniformly: each key about 1/n */
		uint64_t total = 0;
		for (unsigned i = 0; i < r->nsubs; i++)
			total += (uint64_t)r->subs[i].ival;
		if (!total) {
			gv_resp_out_null(o);
			break;
		}
		if (!d->rng)
			d->rng = (uint64_t)time(NULL) ^ (uintptr_t)r;
		d->rng = d->rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t pick = (d->rng >> 11) % total;
		for (unsigned i = 0; i < r->nsubs; i++) {
			uint64_t k = (uint64_t)r->subs[i].ival;
			if (pick < k) {
				gv_resp_out_bulk(o, r->subs[i].out,
						 r->subs[i].outlen);
				break;
			}
			pick -= k;
		}
		break;
	}
	case C_BULK:
		if (r->subs[0].null) {
			gvd_tinc(&gvd_ts->misses);
			gv_resp_out_null(o);
		} else {
			gvd_tinc(&gvd_ts->hits);
			struct sub *s0 = &r->subs[0];
			if (!s0->frag)
				gv_resp_out_bulk(o, s0->out, s0->outlen);
			else if (gv_resp_buf_adopt(o, s0->out, s0->outlen))
				s0->out = NULL; /* the output owns it now */
			else
				gv_resp_buf_append(o, s0->out, s0->outlen);
		}
		break;
	case C_SET:
		if (r->subs[0].null)
			gv_resp_out_null(o);
		else
			gv_resp_out_ok(o);
		break;
	case C_OK:
		gv_resp_out_ok(o);
		break;
	case C_SUM: {
		int64_t sum = 0;
		for (unsigned i = 0; i < r->nsubs; i++)
			sum += r->subs[i].ival;
		gv_resp_out_int(o, sum);
		break;
	}
	case C_MGET:
		gv_resp_out_array(o, r->nsubs);
		for (unsigned i = 0; i < r->nsubs; i++) {
			if (r->subs[i].null) {
				gvd_tinc(&gvd_ts->misses);
				gv_resp_out_null(o);
			} else {
				gvd_tinc(&gvd_ts->hits);
				gv_resp_out_bulk(o, r->subs[i].out,
						 r->subs[i].outlen);
			}
		}
		break;
	case C_RAW:
		if (r->subs[0].op == OP_MEMBERS || r->subs[0].op == OP_KEYS) {
			gv_resp_buf_append(o, r->subs[0].out,
					   r->subs[0].outlen);
		} else {
			/* conflicts: concatenate up to the asked count */
			int64_t total = 0;
			for (unsigned i = 0; i < r->nsubs; i++)
				total += r->subs[i].ival;
			if ((uint64_t)total > r->scan_shard)
				total = (int64_t)r->scan_shard;
			gv_resp_out_array(o, (size_t)total);
			int64_t left = total;
			for (unsigned i = 0; i < r->nsubs && left > 0; i++) {
				if (r->subs[i].ival <= left) {
					gv_resp_buf_append(o, r->subs[i].out,
							   r->subs[i].outlen);
					left -= r->subs[i].ival;
					continue;
				}
				/* take the first `left` entries: re-scan */
				gv_resp_value v;
				const char *p = r->subs[i].out;
				size_t rem = r->subs[i].outlen;
				for (int64_t k = 0; k < left; k++) {
					size_t used = 0;
					if (gv_resp_reply_scan(p, rem, &d->lim,
							       &used) != 1)
						break;
					gv_resp_buf_append(o, p, used);
					p += used;
					rem -= used;
				}
				(void)v;
				left = 0;
			}
		}
		break;
	case C_SCAN: {
		struct sub *s = &r->subs[0];
		uint64_t sh = r->scan_shard, leaf = s->cursor;
		if (leaf >= 65536) {
			sh++;
			leaf = 0;
		}
		uint64_t next = sh >= d->k ? 0 : leaf * d->k + sh;
		gv_resp_out_array(o, 2);
		gv_resp_out_bulkf(o, "%llu", (unsigned long long)next);
		gv_resp_out_array(o, (size_t)s->ival);
		gv_resp_buf_append(o, s->out, s->outlen);
		break;
	}
	case C_WATCH: {
		struct sub *s = &r->subs[0];
		gv_resp_out_array(o, 3);
		if (gv_version_is_zero(&s->ver))
			gv_resp_out_null(o);
		else
			out_version(o, &s->ver);
		gv_resp_out_int(o, s->ival);
		gv_resp_out_int(o, (int64_t)s->count);
		break;
	}
	case C_WATCHED:
		gv_resp_out_ok(o);
		break;
	case C_EXEC:
		gvd_exec_finish(d, o, c, r);
		break;
	}
}

/* The soft output limit: OUT_SOFT, or half the hard limit if smaller. */
size_t
gvd_out_soft(const gv_daemon *d)
{
	return d->cfg.client_output_limit / 2 < OUT_SOFT
		       ? (size_t)(d->cfg.client_output_limit / 2)
		       : OUT_SOFT;
}

/* Is the client not to be read for now? Its unsent replies passed the
 * soft limit (it pipelines without reading), or it has its share of
 * requests at the shards. TCP then pushes back on it, and its replies
 * do not grow further than what it already asked for. */
static bool
client_blocked(const gv_daemon *d, const struct client *c)
{
	return c->queued >= CLIENT_PENDING || c->watch_wait ||
	       gv_resp_buf_pending(&c->out) >= gvd_out_soft(d);
}

/* A paused client is read again below half of both limits, so that it
 * is not paused and resumed at every reply. */
static bool
client_can_resume(const gv_daemon *d, const struct client *c)
{
	return c->queued < CLIENT_PENDING / 2 && !c->watch_wait &&
	       gv_resp_buf_pending(&c->out) < gvd_out_soft(d) / 2;
}

/* Change what epoll reports for c; on failure (out of kernel memory)
 * the client is closed, logged: a client we can no longer watch would
 * hang. Returns -1 then. */
static int
set_events(gv_daemon *d, struct client *c, struct epoll_event *ev)
{
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, ev) == 0)
		return 0;
	gv_log(GV_LOG_WARN, "epoll_ctl failed, closing client",
	       "fd=%d error=\"%s\"", c->fd, strerror(errno));
	gvd_client_close(d, c);
	return -1;
}

/* Write what c's output holds, as far as the socket takes it; a broken
 * connection drops it (nothing more to say) and marks c closing. */
void
gvd_write_out(struct client *c)
{
	while (gv_resp_buf_pending(&c->out)) {
		ssize_t w = write(c->fd, gv_resp_buf_data(&c->out),
				  gv_resp_buf_pending(&c->out));
		if (w > 0) {
			gv_resp_buf_consume(&c->out, (size_t)w);
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->closing = true; /* broken pipe: nothing more to say */
		gv_resp_buf_clear(&c->out);
		break;
	}
}

/* Past the hard output limit: one reply may be bigger than the limit (a
 * GET of a value of up to --max-value): the limit is on what the client
 * leaves unread beyond its biggest reply. */
static bool
over_output_limit(const gv_daemon *d, const struct client *c)
{
	return gv_resp_buf_pending(&c->out) >
	       d->cfg.client_output_limit + c->out_big;
}

/* Bytes of encoded replies after which a flush writes before it encodes
 * more: a turn that brought many replies for one client does not grow
 * its output past what the socket takes and the limit allows. */
#define FLUSH_CHUNK (256u << 10)

bool
gvd_encode_replies(gv_daemon *d, struct client *c)
{
	while (c->head && req_done(c->head)) {
		struct req *r = c->head;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		if (!r->noreply) { /* CLIENT REPLY OFF/SKIP: its place only */
			size_t before = gv_resp_buf_pending(&c->out);
			gvd_finish_one(d, &c->out, c, r);
			size_t len = gv_resp_buf_pending(&c->out) - before;
			if (len > c->out_big)
				c->out_big = len;
		}
		else if (r->combine == C_WATCHED)
			gvd_watch_done(c, r); /* its versions all the same */
		c->queued -= r->queued;
		gvd_req_free(r);
		c->inflight--;
		if (gv_resp_buf_pending(&c->out) >= FLUSH_CHUNK) {
			gvd_write_out(c);
			if (over_output_limit(d, c))
				return false; /* the rest unencoded */
		}
	}
	return !over_output_limit(d, c);
}

/* Returns false if the client was closed (output over the hard limit). */
static bool
flush_client(gv_daemon *d, struct client *c)
{
	(void)gvd_encode_replies(d, c); /* the limit is checked below */
	gvd_write_out(c);
	if (!gv_resp_buf_pending(&c->out)) {
		c->out_big = 0;
		if (c->out.cap > (1u << 20))
			gv_resp_buf_trim(&c->out); /* after a big reply */
	}
	if (over_output_limit(d, c)) {
		/* like Redis's client-output-buffer-limit: the client asked
		 * for more than it reads; it goes, nobody else waits */
		gv_log(GV_LOG_WARN, "client output over the limit, closing",
		       "fd=%d pending=%zu limit=%llu", c->fd,
		       gv_resp_buf_pending(&c->out),
		       (unsigned long long)d->cfg.client_output_limit);
		d->out_disconnects++;
		gvd_client_close(d, c);
		return false;
	}
	bool want = gv_resp_buf_pending(&c->out) > 0;
	bool was_paused = c->paused;
	if (c->paused && client_can_resume(d, c))
		c->paused = false; /* gvd_client_input reads it again */
	if (want != c->want_out || was_paused != c->paused) {
		struct epoll_event ev = {.events = (c->paused ? 0 : EPOLLIN) |
						   (want ? EPOLLOUT : 0),
					 .data.ptr = c};
		if (set_events(d, c, &ev))
			return false;
		c->want_out = want;
	}
	return true;
}

/* Mark a client not to be read (counted once per pause). */
static void
pause_client(gv_daemon *d, struct client *c)
{
	if (c->paused)
		return;
	c->paused = true;
	d->read_pauses++;
	struct epoll_event ev = {.events = c->want_out ? EPOLLOUT : 0,
				 .data.ptr = c};
	/* on failure the client is closed at its next event, which
	 * EPOLLHUP or the pending output brings (a paused client is not
	 * read, so its input cannot pile up meanwhile) */
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		gv_log(GV_LOG_WARN, "epoll_ctl failed, closing client",
		       "fd=%d error=\"%s\"", c->fd, strerror(errno));
		c->closing = true;
	}
}

/* c->in went with a command (gvd_donor): a new buffer for the bytes
 * after its first @used. Returns false when out of memory (c->in is then
 * empty: the client is closed). */
static bool
adopt_rest(struct client *c, size_t used)
{
	size_t rest = c->inlen - used;
	size_t cap = rest + 16384 > 65536 ? rest + 16384 : 65536;
	char *p = malloc(cap);
	char *old = c->in;
	c->in = p;
	c->incap = p ? cap : 0;
	c->inlen = p ? rest : 0;
	if (!p)
		return false;
	memcpy(p, old + used, rest);
	return true;
}

/* Run the command c's parser holds, the @used bytes at c->in + *off,
 * and move *off past them. Returns false when the client is closing. */
static bool
run_parsed(gv_daemon *d, struct client *c, size_t *off, size_t used)
{
	/* a big request at the head of the buffer: the buffer may go with
	 * the command (gvd_donor) */
	bool offer = used >= BIG_VALUE && *off == 0;
	gvd_donor = (struct gvd_donor){offer ? c->in : NULL, used, false};
	gvd_command(d, c, c->parser.argv, c->parser.argc);
	c->inflight++;
	bool taken = gvd_donor.taken;
	gvd_donor = (struct gvd_donor){0};
	if (taken && !adopt_rest(c, used)) {
		c->closing = true;
		return false;
	}
	*off += taken ? 0 : used;
	return true;
}

void
gvd_run_handed(gv_daemon *d, struct client *c)
{
	size_t off = 0, used = c->mig_used;
	c->mig_used = 0;
	if (!used || !run_parsed(d, c, &off, used) || !off)
		return;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
}

/* Run the complete commands buffered in c->in, until the client is
 * paused (then the rest waits there) or closing. */
static void
parse_input(gv_daemon *d, struct client *c)
{
	size_t off = 0;
	while (c->inlen && !c->closing && !c->paused) {
		if (client_blocked(d, c)) {
			pause_client(d, c);
			break;
		}
		size_t used = 0;
		/* before AUTH, Redis's small limits (AUTH may pass mid-way) */
		c->parser.unauth = d->cfg.requirepass[0] && !c->authed;
		int rc = gv_resp_req_parse(&c->parser, c->in + off,
					   c->inlen - off, &used);
		if (rc == 1) {
			if (!run_parsed(d, c, &off, used))
				break;
			continue;
		}
		if (rc == 0) {
			off += used;
			break;
		}
		struct req *r = gvd_ready(c);
		if (r) {
			gv_resp_out_errorf(&r->reply, "ERR %s",
					   gv_resp_req_errmsg(&c->parser));
			c->inflight++;
		}
		c->closing = true;
	}
	if (off) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	/* a big request came through: do not keep its buffer per client */
	if (c->incap > (1u << 20) && c->inlen < c->incap / 8 &&
	    gv_resp_req_need(&c->parser) < c->incap / 8) {
		size_t cap = c->inlen * 2 > 65536 ? c->inlen * 2 : 65536;
		char *p = realloc(c->in, cap);
		if (p) {
			c->in = p;
			c->incap = cap;
		}
	}
}

int
gvd_input_room(const gv_daemon *d, struct client *c)
{
	if (c->incap - c->inlen >= 16384)
		return 0;
	size_t need = gv_resp_req_need(&c->parser);
	size_t cap = c->incap * 2 > 65536 ? c->incap * 2 : 65536;
	if (need > cap)
		cap = need + 16384;
	if (cap > d->in_limit) {
		gv_log(GV_LOG_WARN, "client input too large, closing", "fd=%d",
		       c->fd);
		return 1;
	}
	char *p = realloc(c->in, cap);
	if (!p)
		return -1;
	c->in = p;
	c->incap = cap;
	return 0;
}

/* Returns false if the client was closed. */
bool
gvd_client_input(gv_daemon *d, struct client *c)
{
	for (;;) {
		/* what is buffered first: a pause may have left some */
		parse_input(d, c);
		if (c->closing)
			break;
		if (c->paused) {
			if (!flush_client(d, c))
				return false;
			if (c->paused)
				return true; /* TCP holds the rest */
			continue; /* the flush made room */
		}
		int g = gvd_input_room(d, c);
		if (g) {
			if (g > 0)
				d->in_disconnects++;
			gvd_client_close(d, c);
			return false;
		}
		size_t room = c->incap - c->inlen;
		ssize_t n = read(c->fd, c->in + c->inlen, room);
		if (n == 0) {
			gvd_client_close(d, c);
			return false;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			gvd_client_close(d, c);
			return false;
		}
		c->inlen += (size_t)n;
		if ((size_t)n < room) {
			/* the socket is drained: no second read to hear
			 * EAGAIN (epoll is level-triggered: more input
			 * brings the client back next turn) */
			parse_input(d, c);
			break;
		}
	}
	if (!flush_client(d, c))
		return false;
	if (c->closing && !c->head && !gv_resp_buf_pending(&c->out)) {
		gvd_client_close(d, c);
		return false;
	}
	return true;
}

/* Flush, and when that ends a pause, go on with the client's input.
 * Returns false if the client was closed. */
bool
gvd_flush_resume(gv_daemon *d, struct client *c)
{
	bool paused = c->paused;
	if (!flush_client(d, c))
		return false;
	if (paused && !c->paused)
		return gvd_client_input(d, c);
	return true;
}

void
gvd_mark_dirty(gv_daemon *d, struct client *c)
{
	gvd_dirty_push(&d->dirty, c);
}

static void
wake_threads(gv_daemon *d)
{
	for (unsigned t = 0; d->wake_threads && t < d->nthreads; t++)
		if (d->wake_threads & (1ull << t))
			gv_shard_wake(d->workers[t].rt);
	d->wake_threads = 0;
}

void
gvd_turn_end(gv_daemon *d)
{
	wake_threads(d);
	/* one at a time from the head: a flush may close its client, or
	 * mark one again (its input ran a command answered at once); the
	 * bound keeps a client that always does from holding the turn */
	for (unsigned n = 0; d->dirty && n < 2 * d->nclients + 16; n++) {
		struct client *c = d->dirty;
		gvd_dirty_unlink(&d->dirty, c);
		if (gvd_flush_resume(d, c) && c->closing && !c->head &&
		    !gv_resp_buf_pending(&c->out))
			gvd_client_close(d, c);
	}
	/* what those flushes dispatched goes out now, not a turn later */
	wake_threads(d);
}

/* A connection we could not take (no descriptors, no memory): logged at
 * most once a second, so that a storm of them does not flood the log. */
static void
accept_failed(gv_daemon *d, int err)
{
	time_t now = time(NULL);
	if (now == d->accept_logged)
		return;
	d->accept_logged = now;
	gv_log(GV_LOG_WARN, "cannot accept a client", "error=\"%s\"",
	       strerror(err));
}

/* "ip:port" as Redis writes a client's address ("[ip6]:port"). */
static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, len, "[%s]:%u", ip, port);
		return;
	}
	const struct sockaddr_in *s4 = (const void *)ss;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	}
	snprintf(out, len, "%s:%u", ip, port);
}

/*
 * Once per turn of the loop, after the events: close the clients CLIENT
 * KILL marked (not at once: an event of this turn may still name them),
 * and, about once a second with a --timeout / CONFIG SET timeout, those
 * idle that long. As in Redis, a client with requests still at the
 * shards is not idle.
 */
void
gvd_clients_tick(gv_daemon *d)
{
	int64_t now = gvd_mono_s();
	bool second = now != d->idle_checked;
	bool sweep = d->cfg.timeout && second;
	if (second) { /* INFO's instantaneous_ops_per_sec: the last second */
		uint64_t cmds = gvd_tsum(d, GVD_T_COMMANDS);
		d->ops_per_sec = cmds >= d->ops_prev
					 ? (cmds - d->ops_prev) /
						   (uint64_t)(now - d->idle_checked)
					 : 0;
		d->ops_prev = cmds;
		d->idle_checked = now;
	}
	if (!sweep && !d->kill_pending)
		return; /* the common turn: no walk over every client */
	d->kill_pending = false;
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (c->home) {
			/* a worker serves it: it closes it */
			if (c->killed ||
			    (sweep && now - c->last > (int64_t)d->cfg.timeout))
				gvd_fast_kill(d, c);
		} else if (c->killed) {
			gvd_client_close(d, c);
		} else if (sweep && !c->head &&
			   now - c->last > (int64_t)d->cfg.timeout) {
			gv_log(GV_LOG_DEBUG, "closing an idle client",
			       "id=%llu addr=%s", (unsigned long long)c->id,
			       c->addr);
			gvd_client_close(d, c);
		}
	}
}

void
gvd_accept_clients(gv_daemon *d)
{
	for (;;) {
		struct sockaddr_storage peer, self;
		socklen_t pl = sizeof(peer), sl = sizeof(self);
		int fd = accept4(d->lfd, (struct sockaddr *)&peer, &pl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				accept_failed(d, errno);
			return;
		}
		int one = 1;
		/* best effort: without it replies may wait for Nagle's
		 * timer, nothing is lost */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
		struct client *c = calloc(1, sizeof(*c));
		if (!c) {
			(void)close(fd); /* never used: nothing to lose */
			accept_failed(d, ENOMEM);
			continue;
		}
		c->fd = c->fd_shown = fd;
		c->id = ++d->next_client_id;
		c->proto = 2;
		c->authed = !d->cfg.requirepass[0];
		c->created = c->last = gvd_mono_s();
		format_addr(&peer, c->addr, sizeof(c->addr));
		if (getsockname(fd, (struct sockaddr *)&self, &sl) == 0)
			format_addr(&self, c->laddr, sizeof(c->laddr));
		gv_resp_req_init(&c->parser, gv_mem_libc(), &d->lim);
		gv_resp_buf_init(&c->out, gv_mem_libc(), 0);
		/* linked first: a worker may start on it at once */
		c->next = d->clients;
		if (d->clients)
			d->clients->prev = c;
		d->clients = c;
		d->nclients++;
		d->connections++;
		if (c->authed && gvd_fast_give(d, c))
			continue; /* a worker serves it (fastpath.c) */
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			accept_failed(d, errno);
			d->connections--;
			gvd_client_close(d, c); /* never used: nothing lost */
			continue;
		}
	}
}

