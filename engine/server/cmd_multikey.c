/* SPDX-License-Identifier: MIT */
/*
 * cmd_multikey.c - commands that read one key and write another, or check
 * several keys before writing them: RENAME, RENAMENX, COPY and MSETNX.
 *
 * On one worker thread (every key's shard hosted by the same thread, as
 * always with --threads 1) the command is one sub run whole by that
 * thread, which owns all of those shards' nodes: exact, like any
 * single-key command.
 *
 * Across threads it takes two steps, like an EXEC with WATCHes
 * (multi.c): the reads go out alone (the source's value, or the keys'
 * existence) while the front end dispatches nothing else (d->barrier:
 * the step-1 req's `exec` names the command's req); when they are back,
 * the writes go out ahead of everything that waited, all or none. So no
 * command of any client of this node lands between the read and the
 * write. A write arriving by gossip from another node in between can be
 * overwritten (RENAME) or missed (MSETNX's check), as for WATCH's race.
 * Inside MULTI a command across threads cannot take two steps (the EXEC
 * goes out as one dispatch): it answers an error element, saying so.
 *
 * A counter (core/counter.h) is copied or renamed as its value: the new
 * key holds a string, and its next INCR starts a counter from it. A hash
 * is copied field by field (a field's counter as its number): the
 * destination's old value goes first, then each field is an HSET there.
 * RENAME and COPY keep the source's deadline, as in Redis.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <strings.h>
#include <xxhash.h>

#include "core/counter.h"

enum mk_kind { MK_RENAME, MK_RENAMENX, MK_COPY, MK_MSETNX };

/* A sub for key k of op (and kfn), its arguments copied. */
static bool
key_sub(gv_daemon *d, struct sub *s, int op, gvd_key_fn *kfn,
	const gv_resp_arg *k, const gv_resp_arg *av, size_t ac)
{
	s->op = (uint8_t)op;
	s->kfn = kfn;
	s->key = dupmem(k->ptr, k->len);
	s->klen = k->len;
	s->shard = (uint16_t)gvd_shard_of(d, k->ptr, k->len);
	return s->key && (!av || gvd_copy_args(s, av, ac));
}

/* The keys of the command: RENAME/COPY av[1], av[2]; MSETNX av[1, 3..]. */
static bool
one_thread(gv_daemon *d, gv_resp_arg *av, size_t ac, int kind)
{
	const struct worker *w =
		d->shards[gvd_shard_of(d, av[1].ptr, av[1].len)].w;
	size_t step = kind == MK_MSETNX ? 2 : 1;
	size_t last = kind == MK_MSETNX ? ac : 3;
	for (size_t i = 1; i < last; i += step)
		if (d->shards[gvd_shard_of(d, av[i].ptr, av[i].len)].w != w)
			return false;
	return true;
}

/* ------------------------------------------ one thread: one sub */

static gv_node *
node_of(struct shard *sh, const gv_resp_arg *k)
{
	gv_daemon *d = sh->d;
	return d->shards[gvd_shard_of(d, k->ptr, k->len)].node;
}

/* RENAME, RENAMENX, COPY run on the thread of both keys (setmode: the
 * kind; COPY's REPLACE in null). */
static void
k_move(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	int kind = s->setmode;
	const gv_resp_arg *src = &s->args[1], *dst = &s->args[2];
	gv_node *ns = node_of(sh, src), *nd = node_of(sh, dst);
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	bool hash = gv_node_key_type(ns, now, src->ptr, src->len) ==
		    GV_TYPE_HASH;
	if (!hash && !gvd_value_get(ns, now, src->ptr, src->len, num, &v)) {
		if (kind == MK_COPY)
			gv_resp_out_int(b, 0);
		else
			gv_resp_out_error(b, "ERR no such key");
		return;
	}
	bool same = src->len == dst->len &&
		    memcmp(src->ptr, dst->ptr, src->len) == 0;
	if (same) {
		if (kind == MK_RENAME)
			gv_resp_out_ok(b);
		else if (kind == MK_RENAMENX)
			gv_resp_out_int(b, 0);
		else
			gv_resp_out_error(b, "ERR source and destination "
					     "objects are the same");
		return;
	}
	bool replace = kind == MK_RENAME || (kind == MK_COPY && s->null);
	if (!replace &&
	    gv_node_key_type(nd, now, dst->ptr, dst->len) != GV_TYPE_NONE) {
		gv_resp_out_int(b, 0);
		return;
	}
	int rc;
	if (hash) {
		gv_resp_buf dump;
		gv_resp_buf_init(&dump, gv_mem_libc(), 0);
		uint64_t deadline;
		rc = gvd_hash_dump(ns, now, src->ptr, src->len, &dump,
				   &deadline);
		if (rc == 0)
			rc = gvd_hash_restore(
				nd, now, dst->ptr, dst->len,
				(const uint8_t *)gv_resp_buf_data(&dump),
				gv_resp_buf_pending(&dump), deadline);
		gv_resp_buf_fini(&dump);
	} else {
		/* the value's bytes are the store's: copied before any
		 * write */
		char *val = dupmem(v.p, v.n);
		if (!val) {
			s->rc = GV_ENOMEM;
			return;
		}
		rc = gv_node_put_ex(nd, now, dst->ptr, dst->len, val, v.n,
				    v.expire, GV_PRIO_NORMAL);
		free(val);
	}
	if (rc == 0 && kind != MK_COPY)
		rc = gv_node_delete(ns, now, src->ptr, src->len,
				    GV_PRIO_NORMAL);
	if (rc && rc != GV_ENOTFOUND) {
		s->rc = rc;
		return;
	}
	if (kind == MK_RENAME)
		gv_resp_out_ok(b);
	else
		gv_resp_out_int(b, 1);
}

/* MSETNX on the thread of every key: all absent, then all written. */
static void
k_msetnx(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	for (size_t i = 1; i + 1 < s->nargs; i += 2)
		if (gv_node_key_type(node_of(sh, &s->args[i]), now,
				     s->args[i].ptr, s->args[i].len) !=
		    GV_TYPE_NONE) {
			gv_resp_out_int(b, 0);
			return;
		}
	for (size_t i = 1; i + 1 < s->nargs; i += 2) {
		const gv_resp_arg *k = &s->args[i], *v = &s->args[i + 1];
		int rc = gv_node_put_nx(node_of(sh, k), now, k->ptr, k->len,
					v->ptr, v->len, 0, GV_PRIO_NORMAL);
		if (rc < 0) {
			s->rc = rc;
			return;
		}
	}
	gv_resp_out_int(b, 1);
}

/* --------------------------------------- across threads: two steps */

/* Step 1 at the source: its value as clients read it (out), deadline
 * (cursor), or null; a hash's fields (gvd_hash_dump), with ival 1. */
static void
k_read(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (gv_node_key_type(sh->node, now, s->key, s->klen) ==
	    GV_TYPE_HASH) {
		gv_resp_buf dump;
		gv_resp_buf_init(&dump, gv_mem_libc(), 0);
		s->rc = gvd_hash_dump(sh->node, now, s->key, s->klen, &dump,
				      &s->cursor);
		gv_resp_out_bulk(b, gv_resp_buf_data(&dump),
				 gv_resp_buf_pending(&dump));
		gv_resp_buf_fini(&dump);
		s->ival = 1;
		return;
	}
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	if (!gvd_value_get(sh->node, now, s->key, s->klen, num, &v)) {
		s->null = true;
		return;
	}
	gv_resp_out_bulk(b, v.p, v.n); /* the value, in out (take_buf) */
	s->cursor = v.expire;
}

/* Step 2: write key = args[2] with deadline s->cursor; as a conditional
 * write (MSETNX) when setmode is set. */
static void
k_write(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	(void)b;
	if (s->count == 1) { /* a hash */
		int hr = gvd_hash_restore(sh->node, now, s->key, s->klen,
					  (const uint8_t *)s->args[2].ptr,
					  s->args[2].len, s->cursor);
		if (hr < 0)
			s->rc = hr;
		return;
	}
	int rc = s->setmode ? gv_node_put_nx(sh->node, now, s->key, s->klen,
					     s->args[2].ptr, s->args[2].len,
					     s->cursor, GV_PRIO_NORMAL)
			    : gv_node_put_ex(sh->node, now, s->key, s->klen,
					     s->args[2].ptr, s->args[2].len,
					     s->cursor, GV_PRIO_NORMAL);
	if (rc < 0)
		s->rc = rc;
}

/* The bulk k_read left in out: its bytes. */
static bool
read_result(const struct sub *s, const char **p, size_t *n)
{
	if (s->null || s->rc || !s->out)
		return false;
	const char *q = memchr(s->out, '\n', s->outlen);
	if (!q)
		return false;
	*p = q + 1;
	*n = s->outlen - (size_t)(*p - s->out) - 2;
	return true;
}

/* The reply when the answer is known from step 1 (nothing to write). */
static struct req *
answer(struct req *x, int64_t n, const char *err)
{
	if (err)
		gv_resp_out_error(&x->reply, err);
	else if (n < 0)
		gv_resp_out_ok(&x->reply);
	else
		gv_resp_out_int(&x->reply, n);
	x->done = x->total;
	return x;
}

/* Step 1 is back: decide, then send step 2 first (or answer now). */
static struct req *
step1_done(gv_daemon *d, struct req *chk)
{
	struct req *x = chk->exec;
	if (d->barrier == chk)
		d->barrier = NULL;
	x->second = chk->held; /* the hold ends when it is pushed, or here */
	int kind = x->scan_shard; /* the command's kind, kept there */
	struct req *out = x;
	if (kind == MK_MSETNX) {
		bool any = false, err = false;
		for (unsigned i = 0; i < chk->nsubs; i++) {
			any |= chk->subs[i].ival != 0;
			err |= chk->subs[i].rc != 0;
		}
		if (err)
			answer(x, 0, "ERR out of memory");
		else if (any)
			answer(x, 0, NULL);
		else {
			gv_resp_out_int(&x->reply, 1);
			gvd_dispatch_first(d, x);
		}
	} else {
		const char *p;
		size_t n;
		struct sub *src = &chk->subs[0], *dst = &chk->subs[1];
		bool replace = kind == MK_RENAME ||
			       (kind == MK_COPY && x->subs[0].null);
		if (src->rc || dst->rc)
			answer(x, 0, "ERR out of memory");
		else if (!read_result(src, &p, &n))
			answer(x, 0, kind == MK_COPY ? NULL : "ERR no such key");
		else if (!replace && dst->ival)
			answer(x, 0, NULL);
		else {
			/* step 2: the value at the destination, the source
			 * deleted (RENAME) */
			struct sub *w = &x->subs[0];
			w->null = false;
			w->cursor = src->cursor;
			w->count = (size_t)src->ival; /* 1: a hash */
			gv_resp_arg a[3] = {{.ptr = "set", .len = 3},
					    {.ptr = w->key, .len = w->klen},
					    {.ptr = p, .len = n}};
			if (!gvd_copy_args(w, a, 3)) {
				answer(x, 0, "ERR out of memory");
			} else {
				if (kind == MK_RENAME)
					gv_resp_out_ok(&x->reply);
				else
					gv_resp_out_int(&x->reply, 1);
				gvd_dispatch_first(d, x);
			}
		}
	}
	if (x->second && !x->nbatches) {
		/* answered without a second step: no push ends the hold */
		x->second = false;
		gvd_hold_release(d);
	}
	gvd_req_free(chk);
	gvd_dispatch_waiting(d);
	return out;
}

/* The two steps of a command across threads (not inside MULTI). */
static void
two_steps(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
	  int kind, bool replace)
{
	unsigned nk = kind == MK_MSETNX ? (unsigned)((ac - 1) / 2) : 2;
	/* the writes: MSETNX's keys; the destination, and for RENAME the
	 * source's delete */
	unsigned nx = kind == MK_MSETNX ? nk : kind == MK_COPY ? 1 : 2;
	struct req *x = gvd_req_new(c, C_READY, nx);
	if (!x)
		return;
	x->scan_shard = (uint64_t)kind;
	bool ok = true;
	if (kind == MK_MSETNX) {
		for (unsigned i = 0; i < nk; i++) {
			gv_resp_arg a[3] = {av[0], av[1 + 2 * i],
					    av[2 + 2 * i]};
			ok &= key_sub(d, &x->subs[i], OP_KEYCMD, k_write,
				      &av[1 + 2 * i], a, 3);
			x->subs[i].setmode = 1; /* a conditional write */
		}
	} else {
		ok &= key_sub(d, &x->subs[0], OP_KEYCMD, k_write, &av[2], NULL,
			      0);
		x->subs[0].null = replace; /* step 1 reads it back */
		if (kind != MK_COPY)
			ok &= key_sub(d, &x->subs[1], OP_DEL, NULL, &av[1],
				      NULL, 0);
	}
	struct req *chk = gvd_req_alloc(C_READY, nk);
	if (!ok || !chk) {
		if (chk)
			gvd_req_free(chk);
		for (unsigned i = 0; i < x->nsubs; i++)
			x->subs[i].rc = GV_ENOMEM;
		x->done = x->total;
		return;
	}
	if (kind == MK_MSETNX) {
		for (unsigned i = 0; i < nk; i++)
			ok &= key_sub(d, &chk->subs[i], OP_EXISTS, NULL,
				      &av[1 + 2 * i], NULL, 0);
	} else {
		ok &= key_sub(d, &chk->subs[0], OP_KEYCMD, k_read, &av[1],
			      NULL, 0);
		ok &= key_sub(d, &chk->subs[1], OP_EXISTS, NULL, &av[2], NULL,
			      0);
	}
	if (!ok) {
		for (unsigned i = 0; i < chk->nsubs; i++)
			chk->subs[i].rc = GV_ENOMEM;
	}
	chk->exec = x;
	chk->d = d;
	chk->on_done = step1_done;
	gvd_dispatch(d, chk);
}

/* ------------------------------------------- RENAME and COPY of a hash */

static void
st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int
dump_visit(void *ud, const uint8_t *f, size_t flen, const gv_record *r)
{
	gv_resp_buf *b = ud;
	char num[GV_COUNTER_STR_MAX];
	const uint8_t *p;
	size_t n;
	gvd_field_value(r, num, &p, &n);
	uint8_t len[4];
	st32(len, (uint32_t)flen);
	gv_resp_buf_append(b, len, 4);
	gv_resp_buf_append(b, f, flen);
	st32(len, (uint32_t)n);
	gv_resp_buf_append(b, len, 4);
	gv_resp_buf_append(b, p, n);
	return 0;
}

int
gvd_hash_dump(gv_node *n, gv_time now, const void *key, size_t klen,
	      gv_resp_buf *b, uint64_t *deadline)
{
	*deadline = gv_node_hash_deadline(n, now, key, klen);
	gv_node_hash_foreach(n, now, key, klen, dump_visit, b);
	return b->err;
}

int
gvd_hash_restore(gv_node *n, gv_time now, const void *key, size_t klen,
		 const uint8_t *p, size_t len, uint64_t deadline)
{
	/* whatever the destination held goes first (a hash: all of it) */
	int rc = gv_node_delete(n, now, key, klen, GV_PRIO_NORMAL);
	if (rc && rc != GV_ENOTFOUND)
		return rc;
	size_t at = 0;
	while (at + 8 <= len) {
		uint32_t fl = ld32(p + at);
		if (at + 4 + fl + 4 > len)
			return GV_EMALFORMED;
		const uint8_t *f = p + at + 4;
		uint32_t vl = ld32(p + at + 4 + fl);
		if (at + 8 + fl + vl > len)
			return GV_EMALFORMED;
		rc = gv_node_hset(n, now, key, klen, f, fl, p + at + 8 + fl,
				  vl, GV_PRIO_NORMAL);
		if (rc < 0)
			return rc;
		at += 8 + fl + vl;
	}
	if (deadline && deadline > gv_node_clock_ms(n, now))
		rc = gv_node_hash_expire(n, now, key, klen, deadline,
					 GV_PRIO_NORMAL);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------- front end */

static void
multikey(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
	 int kind)
{
	bool replace = false;
	if (kind == MK_COPY) {
		for (size_t i = 3; i < ac; i++) {
			if (gvd_arg_is(&av[i], "replace")) {
				replace = true;
			} else if (gvd_arg_is(&av[i], "db") && i + 1 < ac) {
				int64_t db;
				if (!gv_parse_i64(av[i + 1].ptr, av[i + 1].len,
						  &db))
					return gvd_error_reply(
						c, "ERR value is not an "
						   "integer or out of range");
				if (db != 0)
					return gvd_error_reply(
						c, "ERR DB index is out of "
						   "range");
				i++;
			} else {
				return gvd_error_reply(c, "ERR syntax error");
			}
		}
	}
	if (kind == MK_MSETNX && (ac - 1) % 2) {
		struct req *r = gvd_ready(c);
		if (r)
			gv_resp_out_error(&r->reply,
					  "ERR wrong number of arguments for "
					  "'msetnx' command");
		return;
	}
	if (one_thread(d, av, ac, kind)) {
		struct req *r = gvd_req_new(c, C_FRAG, 1);
		if (!r)
			return;
		struct sub *s = &r->subs[0];
		if (!key_sub(d, s, OP_KEYCMD,
			     kind == MK_MSETNX ? k_msetnx : k_move, &av[1], av,
			     ac)) {
			s->rc = GV_ENOMEM;
			r->done = r->total;
			return;
		}
		s->setmode = (uint8_t)kind;
		s->null = replace; /* COPY ... REPLACE */
		gvd_dispatch(d, r);
		return;
	}
	if (c->capture)
		return gvd_error_reply(c, "ERR this command's keys are on "
				      "different worker threads of this node: "
				      "grapevine runs it only outside MULTI "
				      "(or with --threads 1)");
	two_steps(d, c, av, ac, kind, replace);
}

void
gvd_cmd_rename(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	multikey(d, c, av, ac, MK_RENAME);
}

void
gvd_cmd_renamenx(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	multikey(d, c, av, ac, MK_RENAMENX);
}

void
gvd_cmd_copy(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	multikey(d, c, av, ac, MK_COPY);
}

void
gvd_cmd_msetnx(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	multikey(d, c, av, ac, MK_MSETNX);
}
