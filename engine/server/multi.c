/* SPDX-License-Identifier: MIT */
/*
 * multi.c - transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH, with
 * Redis 7's replies.
 *
 * After MULTI a command is looked up and its arity checked as always
 * (gvd_command), then kept here with its arguments and answered +QUEUED;
 * a refused one marks the transaction, and EXEC answers EXECABORT. EXEC
 * runs the kept commands' handlers with the client in capture mode
 * (c->capture): every req a handler makes (gvd_req_new) becomes a kid of
 * the EXEC's req instead of a reply of its own, and gvd_dispatch leaves
 * it to the EXEC. So any command of the table works inside MULTI, with no
 * code of its own here. The EXEC's req waits for all of its kids' subs
 * and is dispatched as one req: its batches go out all or none, which
 * makes the transaction atomic to every reader on this node, across
 * shards (daemon_int.h). Its reply is an array of each kid's reply,
 * encoded as the kid would have been on its own (gvd_finish_one), so a
 * command's runtime error is an element and the others still apply, as
 * in Redis.
 *
 * WATCH is a check-and-set against this node's replica. At WATCH each
 * key's version is read on its shard (OP_VERSION; tombstones included)
 * and kept in the client; the client is not read until that is back, so
 * an EXEC always has the versions. EXEC checks them (OP_VCHECK) on the
 * keys' shards before anything of it applies:
 *
 *  - When every WATCHed key and every sub of the transaction is on one
 *    worker thread, the checks go first in the EXEC's part on that
 *    thread, and a changed key makes the thread skip the rest: check and
 *    apply are one step of one thread, exact against every write, local
 *    or arriving by gossip.
 *  - Otherwise EXEC takes two steps. The checks go out alone, and while
 *    they are out the front end dispatches nothing else (d->barrier): a
 *    command of any client of this node is ordered before the check
 *    (and seen by it) or after the EXEC. When every key is unchanged the
 *    EXEC goes out, ahead of everything that waited; else nothing of it
 *    goes anywhere and EXEC answers null. The one race left is a gossip
 *    write from another node landing on a WATCHed key between its check
 *    and the EXEC's apply on that shard (one front-end round trip, tens
 *    of microseconds): the EXEC then still applies, everywhere (never
 *    half), and overwrites that write where it writes the same key (its
 *    version is newer). The EXEC's part on each thread checks again
 *    first and counts such a change (watch_late) so it is visible.
 *
 * Either way WATCH and MULTI/EXEC see this node only: two nodes can both
 * pass a WATCH of the same key, and last-write-wins decides which write
 * survives (README).
 */
#include "server/commands.h"

#include <xxhash.h>

static void
ok_reply(struct client *c)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_ok(&r->reply);
}

/* Forget the queued commands and leave MULTI. */
static void
discard(struct client *c)
{
	for (size_t i = 0; i < c->nmq; i++) {
		free(c->mq[i].av);
		free(c->mq[i].mem);
	}
	free(c->mq);
	c->mq = NULL;
	c->nmq = c->mqcap = c->mqbytes = 0;
	c->multi = false;
	c->dirty = false;
}

static void
unwatch(struct client *c)
{
	for (size_t i = 0; i < c->nwatch; i++)
		free(c->watch[i].key);
	free(c->watch);
	c->watch = NULL;
	c->nwatch = c->wcap = 0;
}

void
gvd_multi_reset(struct client *c)
{
	discard(c);
	unwatch(c);
}

/* Keep a command for EXEC: its arguments copied into one block (the
 * parser's point into the input buffer, which moves). */
static int
queue_cmd(struct client *c, const struct gvd_cmd *cmd, gv_resp_arg *av,
	  size_t ac)
{
	if (c->nmq == c->mqcap) {
		size_t cap = c->mqcap ? c->mqcap * 2 : 8;
		struct queued_cmd *q = realloc(c->mq, cap * sizeof(*q));
		if (!q)
			return GV_ENOMEM;
		c->mq = q;
		c->mqcap = cap;
	}
	size_t bytes = 0;
	for (size_t i = 0; i < ac; i++)
		bytes += av[i].len + 1;
	/* the queue is bounded like a request: what a client can make the
	 * daemon hold is its input limit, in MULTI too */
	if (c->mqbytes + bytes + ac * sizeof(gv_resp_arg) > IN_LIMIT)
		return GV_EFULL;
	struct queued_cmd *q = &c->mq[c->nmq];
	q->av = malloc(ac * sizeof(*q->av));
	q->mem = malloc(bytes ? bytes : 1);
	if (!q->av || !q->mem) {
		free(q->av);
		free(q->mem);
		return GV_ENOMEM;
	}
	char *p = q->mem;
	for (size_t i = 0; i < ac; i++) {
		memcpy(p, av[i].ptr, av[i].len);
		/* NUL-ended: a handler may read an argument as a string */
		p[av[i].len] = 0;
		q->av[i] = av[i];
		q->av[i].ptr = p;
		p += av[i].len + 1;
	}
	q->ac = ac;
	q->cmd = cmd;
	c->nmq++;
	c->mqbytes += bytes + ac * sizeof(gv_resp_arg);
	return 0;
}

/* The check subs of an EXEC: one per WATCHed key, with the version it
 * had at WATCH. */
static void
check_subs(gv_daemon *d, const struct client *c, struct sub *s)
{
	for (size_t i = 0; i < c->nwatch; i++) {
		struct watched *w = &c->watch[i];
		s[i].op = OP_VCHECK;
		s[i].key = dupmem(w->key, w->klen);
		s[i].klen = w->klen;
		s[i].shard = (uint16_t)gvd_shard_of(d, w->key, w->klen);
		s[i].ver = w->ver;
		s[i].setmode = w->live;
	}
}

/* Are all of x's subs, its kids' included, on one worker thread? */
static bool
one_thread(gv_daemon *d, const struct req *x)
{
	int t = -1;
	for (unsigned i = 0; i < x->nsubs; i++) {
		int w = (int)d->shards[x->subs[i].shard].w->idx;
		if (t >= 0 && w != t)
			return false;
		t = w;
	}
	for (unsigned k = 0; k < x->nkids; k++)
		for (unsigned i = 0; i < x->kids[k]->nsubs; i++) {
			int w = (int)d->shards[x->kids[k]->subs[i].shard]
					.w->idx;
			if (t >= 0 && w != t)
				return false;
			t = w;
		}
	return true;
}


/*
 * EXEC in MULTI: run the queued commands' handlers into kids of one req
 * (see the top of the file), then send it, after its WATCH check.
 */
static void
exec_run(gv_daemon *d, struct client *c)
{
	if (c->dirty) {
		gvd_multi_reset(c);
		d->exec_aborts++;
		return gvd_error_reply(c, "EXECABORT Transaction discarded "
				      "because of previous errors.");
	}
	unsigned nw = (unsigned)c->nwatch;
	struct req *x = gvd_req_new(c, C_EXEC, nw);
	if (!x) {
		gvd_multi_reset(c);
		return gvd_error_reply(c, "ERR out of memory");
	}
	check_subs(d, c, x->subs);
	d->execs++;
	c->capture = x;
	for (size_t i = 0; i < c->nmq; i++) {
		struct queued_cmd *q = &c->mq[i];
		unsigned before = x->nkids;
		gvd_tinc(&gvd_ts->commands);
		q->cmd->fn(d, c, q->av, q->ac);
		if (x->nkids == before) {
			/* the handler could not make its req (out of
			 * memory): the element says so */
			struct req *e = gvd_ready(c);
			if (e)
				gv_resp_out_error(&e->reply,
						  "ERR out of memory");
		}
	}
	c->capture = NULL;
	gvd_multi_reset(c); /* EXEC ends MULTI and every WATCH */
	unsigned total = x->nsubs;
	for (unsigned k = 0; k < x->nkids; k++) {
		total += x->kids[k]->nsubs;
		/* writes made under WATCH are conditional, like SET NX's:
		 * two nodes can both pass the check (nx_conflicts) */
		for (unsigned i = 0; nw && i < x->kids[k]->nsubs; i++)
			x->kids[k]->subs[i].cond = true;
	}
	x->total = total;
	unsigned q = total ? total : 1;
	c->queued += q - x->queued;
	x->queued = q;
	if (!nw || one_thread(d, x)) {
		x->watch_one = nw > 0;
		gvd_dispatch(d, x);
		return;
	}
	/* two steps: the checks alone first (gvd_exec_checked) */
	struct req *chk = gvd_req_alloc(C_READY, nw);
	if (!chk) {
		for (unsigned i = 0; i < x->nsubs; i++)
			x->subs[i].rc = GV_ENOMEM;
		x->done = x->total;
		return;
	}
	for (unsigned i = 0; i < nw; i++) {
		struct sub *s = &chk->subs[i], *t = &x->subs[i];
		s->op = OP_VCHECK;
		s->key = t->key ? dupmem(t->key, t->klen) : NULL;
		s->klen = t->klen;
		s->shard = t->shard;
		s->ver = t->ver;
		s->setmode = t->setmode;
		t->setmode |= 2; /* a recheck: it only counts */
	}
	chk->exec = x;
	chk->d = d;
	chk->on_done = gvd_exec_checked;
	gvd_dispatch(d, chk);
}

bool
gvd_multi_intercept(gv_daemon *d, struct client *c, const struct gvd_cmd *cmd,
		    gv_resp_arg *av, size_t ac)
{
	const char *n = cmd->name;
	int rc;
	if (!strcmp(n, "exec")) {
		exec_run(d, c);
	} else if (!strcmp(n, "discard")) {
		gvd_multi_reset(c);
		ok_reply(c);
	} else if (!strcmp(n, "multi")) {
		gvd_error_reply(c, "ERR MULTI calls can not be nested");
	} else if (!strcmp(n, "watch")) {
		gvd_error_reply(c, "ERR WATCH inside MULTI is not allowed");
	} else if (!strcmp(n, "quit") || !strcmp(n, "reset")) {
		return false; /* at once, as Redis does */
	} else if ((cmd->flags & CMD_DENYOOM) && gvd_mem_full(d)) {
		c->dirty = true;
		gvd_error_reply(c, "OOM command not allowed when used memory > "
			       "'maxmemory'.");
	} else if ((rc = queue_cmd(c, cmd, av, ac))) {
		c->dirty = true;
		gvd_error_reply(c, rc == GV_EFULL
				       ? "ERR transaction too large (more "
					 "than 70 MiB of commands queued)"
				       : "ERR out of memory");
	} else {
		struct req *r = gvd_ready(c);
		if (r)
			gv_resp_out_simple(&r->reply, "QUEUED");
	}
	return true;
}

/* A WATCH's versions are back: keep them (a key already WATCHed keeps
 * its first version, the stricter one); the client is read again. */
void
gvd_watch_done(struct client *c, struct req *r)
{
	c->watch_wait--;
	for (unsigned i = 0; i < r->nsubs; i++) {
		struct sub *s = &r->subs[i];
		bool have = false;
		for (size_t j = 0; j < c->nwatch && !have; j++)
			have = c->watch[j].klen == s->klen &&
			       !memcmp(c->watch[j].key, s->key, s->klen);
		if (have)
			continue;
		if (c->nwatch == c->wcap) {
			size_t cap = c->wcap ? c->wcap * 2 : 8;
			struct watched *w = realloc(c->watch, cap * sizeof(*w));
			if (!w)
				goto oom;
			c->watch = w;
			c->wcap = cap;
		}
		struct watched *w = &c->watch[c->nwatch];
		/* s->rc: the version could not be read: a version no key
		 * has, so that EXEC fails rather than miss a change */
		w->key = dupmem(s->key, s->klen);
		if (!w->key)
			goto oom;
		w->klen = s->klen;
		w->ver = s->rc ? (gv_version){UINT64_MAX, UINT64_MAX} : s->ver;
		w->live = !s->null;
		c->nwatch++;
	}
	return;
oom:
	/* a key we cannot keep would be a WATCH that never fails: keep a
	 * marker the check always finds changed instead */
	if (c->nwatch) {
		c->watch[0].ver = (gv_version){UINT64_MAX, UINT64_MAX};
		c->watch[0].live = true;
	}
}

/* The EXEC's reply: null when a WATCHed key changed, else each
 * command's reply. */
void
gvd_exec_finish(gv_daemon *d, gv_resp_buf *o, struct client *c, struct req *r)
{
	if (r->aborted) {
		gv_resp_out_null_array(o);
		return;
	}
	if (r->refused == GV_ENOSPC) {
		/* Redis refuses such an EXEC whole, with its OOM error */
		gv_resp_out_error(o, "OOM command not allowed when used "
				     "memory > 'maxmemory'.");
		return;
	}
	if (atomic_load_explicit(&r->abort, memory_order_relaxed)) {
		d->watch_aborts++;
		gv_resp_out_null_array(o);
		return;
	}
	for (unsigned i = 0; i < r->nsubs; i++)
		if (r->subs[i].ival)
			d->watch_late++;
	gv_resp_out_array(o, r->nkids);
	for (unsigned k = 0; k < r->nkids; k++)
		gvd_finish_one(d, o, c, r->kids[k]);
}

/* ---------------------------------------------------------- handlers */

void
gvd_cmd_multi(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	c->multi = true; /* in MULTI, gvd_multi_intercept answers */
	ok_reply(c);
}

void
gvd_cmd_exec(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	gvd_error_reply(c, "ERR EXEC without MULTI");
}

void
gvd_cmd_discard(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	gvd_error_reply(c, "ERR DISCARD without MULTI");
}

void
gvd_cmd_unwatch(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	/* inside MULTI it is queued and runs in the EXEC, whose checks are
	 * made by then: it changes nothing there, as in Redis */
	if (!c->capture)
		unwatch(c);
	ok_reply(c);
}

void
gvd_cmd_watch(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r = gvd_req_new(c, C_WATCHED, (unsigned)(ac - 1));
	if (!r)
		return;
	for (size_t i = 1; i < ac; i++) {
		struct sub *s = &r->subs[i - 1];
		s->op = OP_VERSION;
		s->key = dupmem(av[i].ptr, av[i].len);
		s->klen = av[i].len;
		s->shard = (uint16_t)gvd_shard_of(d, av[i].ptr, av[i].len);
	}
	/* not read until the versions are back (gvd_watch_done) */
	c->watch_wait++;
	gvd_dispatch(d, r);
}
