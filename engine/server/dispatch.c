/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - a req's subs to the shards' threads and back: grouped into
 * batches (one ring slot each: up to BATCH_KEYS subs of one req for one
 * shard), pushed all or none (every ring with room for its part first,
 * else the req waits in the daemon's FIFO, retried as replies come back),
 * refused whole before anything is sent when a shard is at its memory
 * cap, an EXEC's checks and the first step of RENAME/COPY/MSETNX under
 * the barrier (nothing else dispatched until they are back), and the
 * completed batches taken back (gvd_drain_shards). One front-end thread
 * pushes and each thread applies its ring in order, so a req dispatched
 * after another sees all of its writes or none (daemon_int.h).
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"


/* Every sub a req waits for, in its order: its own, then its kids'
 * (an EXEC's commands, in order). */
static unsigned
collect_subs(struct req *r, struct sub **all)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->nsubs; i++)
		all[n++] = &r->subs[i];
	for (unsigned k = 0; k < r->nkids; k++)
		for (unsigned i = 0; i < r->kids[k]->nsubs; i++)
			all[n++] = &r->kids[k]->subs[i];
	return n;
}

/*
 * Group r's subs into batches: by shard, in r's order within a shard, up
 * to bk subs each. bk starts at BATCH_KEYS and doubles until no thread
 * needs more than half its ring for r, so that any req fits once the
 * ring drains, whatever its size. An EXEC's own subs (its WATCH checks)
 * make batches of their own, pushed before its commands' on every shard:
 * a thread hosting several shards then runs all of its checks before
 * any of its writes. Returns 0 or GV_ENOMEM.
 */
static int
make_batches(gv_daemon *d, struct req *r)
{
	/* a group: a shard of phase 0 (own subs) or 1 (kids' subs) */
	enum { G = 2 * MAX_SHARDS };
	unsigned n = r->total, cnt[G] = {0}, at[G], fill[G];
	if (n == 1 && !r->nkids) {
		/* the common case (GET, SET...): nothing to allocate */
		r->order1 = &r->subs[0];
		r->batch1 = (struct batch){.r = r, .v = &r->order1, .n = 1,
					   .shard = r->subs[0].shard};
		r->batches = &r->batch1;
		r->nbatches = 1;
		return 0;
	}
	struct sub **all = malloc(n * sizeof(*all));
	unsigned char *grp = malloc(n);
	r->order = malloc(n * sizeof(*r->order));
	if (!all || !grp || !r->order) {
		free(all);
		free(grp);
		return GV_ENOMEM;
	}
	if (collect_subs(r, all) != n) {
		free(all);
		free(grp);
		return GV_EINVAL; /* a kid's subs changed: a bug */
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned phase = r->nkids && i >= r->nsubs;
		grp[i] = (unsigned char)(phase * MAX_SHARDS + all[i]->shard);
		cnt[grp[i]]++;
	}
	size_t bk = BATCH_KEYS;
	for (;;) {
		size_t nb[MAX_SHARDS] = {0};
		bool fits = true;
		for (unsigned g = 0; g < G; g++)
			if (cnt[g])
				nb[d->shards[g % MAX_SHARDS].w->idx] +=
					(cnt[g] + bk - 1) / bk;
		for (unsigned t = 0; t < d->nthreads; t++)
			if (nb[t] > gv_shard_capacity(d->workers[t].rt) / 2)
				fits = false;
		if (fits)
			break;
		bk *= 2;
	}
	unsigned nbatch = 0, pos = 0;
	for (unsigned g = 0; g < G; g++) {
		at[g] = pos;
		pos += cnt[g];
		nbatch += (unsigned)((cnt[g] + bk - 1) / bk);
	}
	r->batches = calloc(nbatch ? nbatch : 1, sizeof(*r->batches));
	if (!r->batches) {
		free(all);
		free(grp);
		return GV_ENOMEM;
	}
	memcpy(fill, at, sizeof(fill));
	for (unsigned i = 0; i < n; i++)
		r->order[fill[grp[i]]++] = all[i];
	free(all);
	free(grp);
	r->nbatches = 0;
	for (unsigned g = 0; g < G; g++)
		for (unsigned o = 0; o < cnt[g]; o += (unsigned)bk) {
			struct batch *b = &r->batches[r->nbatches++];
			b->r = r;
			b->shard = (uint16_t)(g % MAX_SHARDS);
			b->v = &r->order[at[g] + o];
			b->n = (uint32_t)(cnt[g] - o < bk ? cnt[g] - o : bk);
		}
	return 0;
}

/* One spell of the hold begins (see gv_daemon.fe_epoch): odd from the
 * first. The pushes that follow publish it (release). */
static void
hold_begin(gv_daemon *d)
{
	if (d->hold_depth++ == 0)
		atomic_fetch_add_explicit(&d->fe_epoch, 1, memory_order_relaxed);
}

/* Push all of r's batches, or none when a ring lacks room for its part.
 * Returns whether they went. */
static bool
try_push(gv_daemon *d, struct req *r)
{
	size_t need[MAX_SHARDS] = {0};
	for (unsigned i = 0; i < r->nbatches; i++)
		need[d->shards[r->batches[i].shard].w->idx]++;
	unsigned nt = 0;
	for (unsigned t = 0; t < d->nthreads; t++) {
		if (need[t] && gv_shard_room(d->workers[t].rt) < need[t])
			return false;
		nt += need[t] > 0;
	}
	/* the workers' clients must not see a req pushed to several
	 * threads half pushed, nor write between a check and its second
	 * step (fastpath.c): the hold says so; begun before the pushes
	 * (their release publishes it), ended after them */
	if (nt > 1)
		hold_begin(d);
	if (r->exec) {
		hold_begin(d); /* until its second step: gvd_hold_release */
		r->held = true;
	}
	for (unsigned i = 0; i < r->nbatches; i++) {
		struct batch *b = &r->batches[i];
		/* cannot fail: the room was checked above, and only this
		 * thread pushes (gv_shard_room) */
		(void)gv_shard_submit(d->shards[b->shard].w->rt, &b);
	}
	/* woken once at the turn's end (gvd_turn_end), with the rest of
	 * what this turn gave them */
	for (unsigned t = 0; t < d->nthreads; t++)
		if (need[t])
			d->wake_threads |= 1ull << t;
	if (nt > 1)
		gvd_hold_release(d);
	if (r->second) {
		r->second = false;
		gvd_hold_release(d); /* the check's second step is out */
	}
	if (r->exec)
		d->barrier = r; /* an EXEC's check: the rest waits for it */
	return true;
}

static void
wait_push(gv_daemon *d, struct req *r, bool front)
{
	d->reqs_held++;
	if (front) {
		r->wnext = d->wait_head;
		d->wait_head = r;
		if (!d->wait_tail)
			d->wait_tail = r;
		return;
	}
	r->wnext = NULL;
	if (d->wait_tail)
		d->wait_tail->wnext = r;
	else
		d->wait_head = r;
	d->wait_tail = r;
}

/* The shards' store bytes as last published, re-read at most every
 * 10 ms (a snapshot is at most PUB_EVERY_US old). */
static void
mem_refresh(gv_daemon *d)
{
	gv_time now = gv_io_now();
	if (!d->mem_seen_at || now - d->mem_seen_at > 10000) {
		struct pub t, per[MAX_SHARDS];
		gvd_sum_stats(d, &t, per);
		for (unsigned i = 0; i < d->k; i++)
			d->mem_seen[i] = per[i].mem_used;
		d->mem_seen_at = now;
	}
}

/* Is a shard's store at its share of --max-memory (as last published;
 * within 1%: a store refuses the entry that would pass the cap, so a full
 * one stays a little under it)? Then MULTI refuses a deny-oom command
 * while queuing, as Redis does over maxmemory (its keys are not known
 * before EXEC runs its handler). */
bool
gvd_mem_full(gv_daemon *d)
{
	if (!d->cfg.max_memory)
		return false;
	mem_refresh(d);
	size_t cap = (size_t)(d->cfg.max_memory / d->k);
	for (unsigned i = 0; i < d->k; i++)
		if (d->mem_seen[i] >= cap - cap / 100)
			return true;
	return false;
}

/*
 * Would r pass a shard's memory cap? Its writes (subs carrying a value)
 * counted as new entries, against each shard's bytes as last published
 * (mem_refresh). This is
 * Redis's refusal of a deny-oom command over maxmemory, made before
 * anything is sent, so that a refused MSET or EXEC applies nothing
 * anywhere. It cannot see the writes in flight since the snapshot nor
 * the gossip arriving meanwhile: a shard that still reaches its cap at
 * apply time refuses its own puts (GV_ENOSPC, the reply is OOM) while
 * the other shards' parts apply. The count is an upper bound (an
 * overwrite frees the old entry), so near the cap it refuses early.
 */
static bool
over_memory(gv_daemon *d, struct req *r)
{
	if (!d->cfg.max_memory)
		return false;
	size_t need[MAX_SHARDS] = {0};
	bool any = false;
	for (unsigned b = 0; b < r->nbatches; b++)
		for (uint32_t i = 0; i < r->batches[b].n; i++) {
			const struct sub *s = r->batches[b].v[i];
			if (s->val && s->op != OP_KEYS) {
				need[s->shard] += gv_store_entry_size(s->klen,
								      s->vlen);
				any = true;
			}
		}
	if (!any)
		return false;
	mem_refresh(d);
	size_t cap = (size_t)(d->cfg.max_memory / d->k);
	for (unsigned i = 0; i < d->k; i++)
		if (need[i] && d->mem_seen[i] + need[i] > cap)
			return true;
	return false;
}

/* Answer all of r with rc, nothing sent. */
static void
refuse(gv_daemon *d, struct req *r, int rc)
{
	for (unsigned i = 0; i < r->nsubs; i++)
		r->subs[i].rc = rc;
	for (unsigned k = 0; k < r->nkids; k++)
		for (unsigned i = 0; i < r->kids[k]->nsubs; i++)
			r->kids[k]->subs[i].rc = rc;
	if (r->combine == C_EXEC)
		r->refused = rc; /* one error for the whole EXEC */
	r->done = r->total;
	if (r->on_done) {
		/* from a handler (inside the client's input): its flush
		 * comes when the input is done, not from here */
		struct req *x = r->on_done(d, r);
		if (x && req_done(x) && !x->cl)
			gvd_req_free(x);
	}
}

/*
 * Send r's subs to their shards' threads, all or none. A req that finds
 * a ring without room for its part, or others waiting before it, waits
 * in the daemon's FIFO (gvd_dispatch_waiting retries as replies come
 * back): a client is never answered BUSY and nothing is half applied.
 * The FIFO keeps the order of dispatch, so a client's commands still
 * reach the shards in the order it sent them. A kid (a command an EXEC
 * is running) goes out with its EXEC instead.
 */
void
gvd_dispatch(gv_daemon *d, struct req *r)
{
	if (gvd_self) {
		/* a worker's client (fastpath.c): one key, or none */
		gvd_fast_dispatch(gvd_self, r);
		return;
	}
	if (r->kid)
		return;
	if (!r->total)
		return; /* nothing to send (an EXEC of ready replies) */
	int rc = make_batches(d, r);
	if (rc)
		return refuse(d, r, rc);
	if (over_memory(d, r)) {
		d->oom_refused++;
		return refuse(d, r, GV_ENOSPC);
	}
	if (!d->wait_head && !d->barrier && try_push(d, r))
		return;
	wait_push(d, r, false);
}

/* Push r ahead of every waiting req: an EXEC whose check passed, which
 * must follow its check before anything else does (also the second step
 * of RENAME, COPY and MSETNX across threads: cmd_multikey.c). */
void
gvd_hold_release(gv_daemon *d)
{
	/* release: a worker that reads the even value sees every push
	 * made before it */
	if (d->hold_depth && --d->hold_depth == 0)
		atomic_fetch_add_explicit(&d->fe_epoch, 1, memory_order_release);
}

void
gvd_dispatch_first(gv_daemon *d, struct req *r)
{
	int rc = make_batches(d, r);
	if (rc || over_memory(d, r)) {
		if (r->second) { /* never goes out: nothing to hold for */
			r->second = false;
			gvd_hold_release(d);
		}
		if (rc)
			return refuse(d, r, rc);
		d->oom_refused++;
		return refuse(d, r, GV_ENOSPC);
	}
	if (!try_push(d, r))
		wait_push(d, r, true);
}

/* The waiting reqs, oldest first, while they fit (and no EXEC's check
 * is out). */
void
gvd_dispatch_waiting(gv_daemon *d)
{
	while (d->wait_head && !d->barrier) {
		struct req *r = d->wait_head;
		if (!try_push(d, r))
			break;
		d->wait_head = r->wnext;
		if (!d->wait_head)
			d->wait_tail = NULL;
		r->wnext = NULL;
	}
}

/*
 * An EXEC's check came back (multi.c): end the barrier; push the EXEC
 * (the check passed) ahead of the waiting reqs, or answer it (a key
 * changed: nothing of it was sent).
 */
struct req *
gvd_exec_checked(gv_daemon *d, struct req *chk)
{
	struct req *x = chk->exec;
	if (d->barrier == chk)
		d->barrier = NULL;
	bool held = chk->held; /* not when it was refused unsent */
	bool changed = false;
	for (unsigned i = 0; i < chk->nsubs; i++)
		if (chk->subs[i].ival || chk->subs[i].rc)
			changed = true;
	gvd_req_free(chk);
	if (changed) {
		x->aborted = true;
		d->watch_aborts++;
		x->done = x->total;
		if (held)
			gvd_hold_release(d);
	} else {
		x->second = held;
		gvd_dispatch_first(d, x);
	}
	gvd_dispatch_waiting(d);
	return x;
}

/* A req whose subs are all back: free it when its client is gone, else
 * flush the client when it heads the client's queue. */
void
gvd_req_finished(gv_daemon *d, struct req *r)
{
	if (!r->cl) {
		/* its client is gone: nobody to answer */
		gvd_req_free(r);
		return;
	}
	/* encoded and written at the turn's end, with the client's other
	 * replies of this turn: one write for all of them */
	if (r->cl->head == r)
		gvd_mark_dirty(d, r->cl);
}

/* Completed batches from the threads. */
void
gvd_drain_shards(gv_daemon *d)
{
	/* before the rings are read: a reply pushed after this finds 0
	 * and writes the eventfd (gvd_wake_front), one before is seen */
	atomic_exchange_explicit(&d->fe_wake, 0, memory_order_acq_rel);
	for (unsigned t = 0; t < d->nthreads; t++) {
		struct batch *b;
		if (!d->workers[t].rt)
			continue;
		while (gv_shard_take(d->workers[t].rt, &b)) {
			struct req *r = b->r;
			r->done += b->n;
			if (!req_done(r))
				continue;
			if (r->on_done) {
				r = r->on_done(d, r);
				if (!r || !req_done(r))
					continue;
			}
			gvd_req_finished(d, r);
		}
	}
	gvd_dispatch_waiting(d);
}

