/* SPDX-License-Identifier: MIT */
/*
 * cmd_keys.c - the single-key string commands that read and write on the
 * key's shard in one step: SET with its options, SETEX, PSETEX, SETNX,
 * GETSET, GETDEL, GETEX, the EXPIRE family, TTL and friends, PERSIST, and
 * the counters (INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT); and FLUSHDB /
 * FLUSHALL, sent to every shard.
 *
 * The front end only routes: a row's handler (gvd_cmd_set...) copies the
 * arguments into one sub for the key's shard (key_cmd); the shard's
 * thread parses the options, reads the key, writes, and encodes the whole
 * reply as a RESP fragment (k_set...), all in one turn, so a
 * read-check-write (SET NX, INCR, EXPIRE GT) sees no other command of
 * this node in between. Errors and their texts are Redis 7's, checked
 * against redis-server (tests/integration).
 *
 * Time: deadlines are absolute cluster milliseconds (gv_node_clock_ms:
 * Unix time as the HLC keeps it), so EX and PX count from this node's
 * clock and EXAT/PXAT are Unix times, as in Redis.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <stdio.h>
#include <strings.h>
#include <xxhash.h>

#include "core/counter.h"

/* ------------------------------------------------------- front end */

_Thread_local struct gvd_donor gvd_donor;

/* Keep the arguments in the request's own buffer (see gvd_donor). */
static bool
take_donor(struct sub *s, const gv_resp_arg *av, size_t ac, size_t bytes)
{
	struct gvd_donor *g = &gvd_donor;
	if (!g->buf || g->taken || bytes < BIG_VALUE)
		return false;
	for (size_t i = 0; i < ac; i++)
		if (av[i].len &&
		    (av[i].ptr < g->buf ||
		     av[i].ptr + av[i].len >= g->buf + g->len))
			return false;
	s->args = malloc(ac * sizeof(gv_resp_arg));
	if (!s->args)
		return false;
	for (size_t i = 0; i < ac; i++) {
		/* the byte after each is its CRLF's, consumed: a NUL there
		 * ends it as a copy's would */
		char *p = (char *)av[i].ptr;
		if (av[i].len)
			p[av[i].len] = 0;
		s->args[i] = (gv_resp_arg){.ptr = av[i].len ? p : "",
					   .len = av[i].len};
	}
	s->nargs = ac;
	s->argbuf = g->buf;
	g->taken = true;
	return true;
}

bool
gvd_copy_args(struct sub *s, const gv_resp_arg *av, size_t ac)
{
	size_t bytes = ac * sizeof(gv_resp_arg);
	for (size_t i = 0; i < ac; i++)
		bytes += av[i].len + 1;
	if (take_donor(s, av, ac, bytes))
		return true;
	s->args = malloc(bytes);
	if (!s->args)
		return false;
	char *p = (char *)(s->args + ac);
	for (size_t i = 0; i < ac; i++) {
		memcpy(p, av[i].ptr, av[i].len);
		p[av[i].len] = 0;
		s->args[i] = (gv_resp_arg){.ptr = p, .len = av[i].len};
		p += av[i].len + 1;
	}
	s->nargs = ac;
	return true;
}

void
gvd_key_cmd(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
	    gvd_key_fn *fn)
{
	struct req *r = gvd_req_new(c, C_FRAG, 1);
	if (!r)
		return;
	struct sub *s = &r->subs[0];
	s->op = OP_KEYCMD;
	s->kfn = fn;
	if (!gvd_copy_args(s, av, ac)) {
		s->rc = GV_ENOMEM;
		r->done = r->total;
		return;
	}
	s->key = dupmem(av[1].ptr, av[1].len);
	s->klen = av[1].len;
	s->shard = (uint16_t)gvd_shard_of(d, av[1].ptr, av[1].len);
	if (!s->key) {
		s->rc = GV_ENOMEM;
		r->done = r->total;
		return;
	}
	gvd_dispatch(d, r);
}

static gvd_key_fn k_set, k_setex, k_psetex, k_setnx, k_getset, k_getdel,
	k_getex, k_expire, k_pexpire, k_expireat, k_pexpireat, k_ttl, k_pttl,
	k_expiretime, k_pexpiretime, k_persist, k_incr, k_decr, k_incrby,
	k_decrby, k_incrbyfloat;

#define KEY_COMMAND(name)                                                     \
	void gvd_cmd_##name(gv_daemon *d, struct client *c, gv_resp_arg *av,  \
			    size_t ac)                                        \
	{                                                                     \
		gvd_key_cmd(d, c, av, ac, k_##name);                              \
	}

KEY_COMMAND(set)
KEY_COMMAND(setex)
KEY_COMMAND(psetex)
KEY_COMMAND(setnx)
KEY_COMMAND(getset)
KEY_COMMAND(getdel)
KEY_COMMAND(getex)
KEY_COMMAND(expire)
KEY_COMMAND(pexpire)
KEY_COMMAND(expireat)
KEY_COMMAND(pexpireat)
KEY_COMMAND(ttl)
KEY_COMMAND(pttl)
KEY_COMMAND(expiretime)
KEY_COMMAND(pexpiretime)
KEY_COMMAND(persist)
KEY_COMMAND(incr)
KEY_COMMAND(decr)
KEY_COMMAND(incrby)
KEY_COMMAND(decrby)
KEY_COMMAND(incrbyfloat)

/*
 * FLUSHDB / FLUSHALL [ASYNC|SYNC] (one database: the same). A replicated
 * operation on every shard (core/flush.c): writes ordered before it are
 * gone on every node, later ones survive, a node cut off applies it on
 * heal. SYNC and ASYNC are the same here: the entries are freed on each
 * shard's thread when the flush reaches it.
 */
static void
flush_cmd(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	if (ac > 2 || (ac == 2 && !(av[1].len == 5 &&
				    strncasecmp(av[1].ptr, "async", 5) == 0) &&
		       !(av[1].len == 4 && strncasecmp(av[1].ptr, "sync", 4) == 0))) {
		struct req *r = gvd_ready(c);
		if (r)
			gv_resp_out_error(&r->reply, "ERR syntax error");
		return;
	}
	struct req *r = gvd_req_new(c, C_OK, d->k);
	if (!r)
		return;
	gvd_all_shards(r, OP_FLUSH);
	gvd_dispatch(d, r);
}

void
gvd_cmd_flushdb(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	flush_cmd(d, c, av, ac);
}

void
gvd_cmd_flushall(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	flush_cmd(d, c, av, ac);
}

/* ------------------------------------------------------- shard side */

static const char ERR_SYNTAX[] = "ERR syntax error";

bool
gvd_value_get(gv_node *n, gv_time now, const void *key, size_t klen,
	      char *num, struct gvd_value *v)
{
	gv_record r;
	if (gv_node_get_at(n, now, key, klen, &r))
		return false;
	v->expire = r.expire;
	v->ver = r.ver;
	v->kind = r.kind;
	if (r.kind == GV_KIND_COUNTER) {
		gv_counter c;
		if (gv_counter_decode(r.val, r.vlen, &c))
			return false; /* checked when stored: cannot happen */
		v->n = gv_counter_format(&c, num, GV_COUNTER_STR_MAX);
		v->p = (const uint8_t *)num;
	} else {
		v->p = r.val;
		v->n = r.vlen;
	}
	return true;
}

int
gvd_read_value(gv_node *n, gv_time now, const void *key, size_t klen,
	       char **out, size_t *outlen, bool frag)
{
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	if (!gvd_value_get(n, now, key, klen, num, &v))
		return GV_ENOTFOUND;
	if (frag && v.n >= BIG_VALUE) {
		/* the whole bulk reply, once: the front end hands it to the
		 * client's output without copying it again */
		char hdr[32];
		int h = snprintf(hdr, sizeof(hdr), "$%zu\r\n", v.n);
		*outlen = (size_t)h + v.n + 2;
		*out = malloc(*outlen);
		if (!*out)
			return GV_ENOMEM;
		memcpy(*out, hdr, (size_t)h);
		memcpy(*out + h, v.p, v.n);
		memcpy(*out + h + v.n, "\r\n", 2);
		return 1;
	}
	*out = dupmem(v.p, v.n);
	*outlen = v.n;
	return *out ? 0 : GV_ENOMEM;
}

void
gvd_out_value(gv_resp_buf *b, bool have, const struct gvd_value *v)
{
	if (have)
		gv_resp_out_bulk(b, v->p, v->n);
	else
		gv_resp_out_null(b);
}

/*
 * An expiry argument: EX/PX seconds or milliseconds from now, EXAT/PXAT
 * Unix seconds or milliseconds. Redis's checks: an integer, positive, and
 * the deadline within 64 bits. Returns 0 with the deadline, or writes the
 * error and returns -1.
 */
enum unit { U_EX, U_PX, U_EXAT, U_PXAT };

static int
deadline_of(gv_resp_buf *b, const gv_resp_arg *a, int unit, uint64_t clock,
	    const char *cmd, uint64_t *out)
{
	int64_t t;
	if (!gv_parse_i64(a->ptr, a->len, &t)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return -1;
	}
	bool rel = unit == U_EX || unit == U_PX;
	bool secs = unit == U_EX || unit == U_EXAT;
	if (t <= 0 || (secs && t > INT64_MAX / 1000) ||
	    (rel && (uint64_t)t * (secs ? 1000 : 1) > INT64_MAX - clock)) {
		gv_resp_out_errorf(b, "ERR invalid expire time in '%s' command",
				   cmd);
		return -1;
	}
	uint64_t ms = (uint64_t)t * (secs ? 1000 : 1);
	*out = rel ? clock + ms : ms;
	return 0;
}

/* A hash where a string command reads: WRONGTYPE written into b. */
static bool
not_string(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	return gvd_wrongtype(sh->node, now, s->key, s->klen, GV_TYPE_STRING,
			     b);
}

/* Store errors the front end words (OOM, READONLY, ...): in s->rc. */
static bool
failed(struct sub *s, int rc)
{
	if (rc == 0 || rc == GV_ENOTFOUND)
		return false;
	s->rc = rc;
	return true;
}

/* Write val with deadline (0: none), or delete when it has passed; nx:
 * as a conditional write that found the key absent (counted apart when
 * another node's one conflicts with it). */
static int
store_value(struct shard *sh, gv_time now, struct sub *s, const void *val,
	    size_t vlen, uint64_t deadline, uint64_t clock, bool nx)
{
	if (deadline && deadline <= clock) {
		int rc = gv_node_delete(sh->node, now, s->key, s->klen,
					GV_PRIO_NORMAL);
		return rc == GV_ENOTFOUND ? 0 : rc;
	}
	if (nx) {
		int rc = gv_node_put_nx(sh->node, now, s->key, s->klen, val,
					vlen, deadline, GV_PRIO_NORMAL);
		return rc == 1 ? 0 : rc; /* checked absent just before */
	}
	if (s->cond)
		return gv_node_put_cond(sh->node, now, s->key, s->klen, val,
					vlen, deadline, GV_PRIO_NORMAL);
	return gv_node_put_ex(sh->node, now, s->key, s->klen, val, vlen,
			      deadline, GV_PRIO_NORMAL);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL] */
static void
k_set(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	const gv_resp_arg *a = s->args;
	int cond = 0, unit = -1;
	bool get = false, keepttl = false;
	size_t tpos = 0;
	for (size_t i = 3; i < s->nargs; i++) {
		if (gvd_arg_is(&a[i], "nx") && cond != 2) {
			cond = 1;
		} else if (gvd_arg_is(&a[i], "xx") && cond != 1) {
			cond = 2;
		} else if (gvd_arg_is(&a[i], "get")) {
			get = true;
		} else if (gvd_arg_is(&a[i], "keepttl") && unit < 0) {
			keepttl = true;
		} else if (!keepttl && unit < 0 && i + 1 < s->nargs &&
			   (gvd_arg_is(&a[i], "ex") || gvd_arg_is(&a[i], "px") ||
			    gvd_arg_is(&a[i], "exat") || gvd_arg_is(&a[i], "pxat"))) {
			unit = gvd_arg_is(&a[i], "ex")	   ? U_EX
			       : gvd_arg_is(&a[i], "px")   ? U_PX
			       : gvd_arg_is(&a[i], "exat") ? U_EXAT
						   : U_PXAT;
			tpos = ++i;
		} else {
			gv_resp_out_error(b, ERR_SYNTAX);
			return;
		}
	}
	uint64_t clock = gv_node_clock_ms(sh->node, now), deadline = 0;
	if (unit >= 0 &&
	    deadline_of(b, &a[tpos], unit, clock, "set", &deadline))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value old;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &old);
	if (gv_node_key_type(sh->node, now, s->key, s->klen) == GV_TYPE_HASH) {
		/* SET replaces a hash (core/hash.c), but GET cannot read it */
		if (get) {
			gv_resp_out_error(b, GVD_WRONGTYPE);
			return;
		}
		have = true;
		old.expire = gv_node_hash_deadline(sh->node, now, s->key,
						   s->klen);
	}
	if ((cond == 1 && have) || (cond == 2 && !have)) {
		if (get)
			gvd_out_value(b, have, &old);
		else
			gv_resp_out_null(b);
		return;
	}
	if (keepttl && have)
		deadline = old.expire;
	/* the old value must be sent before the write replaces it */
	if (get)
		gvd_out_value(b, have, &old);
	if (failed(s, store_value(sh, now, s, a[2].ptr, a[2].len, deadline,
				  clock, cond == 1)))
		return;
	if (!get)
		gv_resp_out_ok(b);
}

/* SETEX key seconds value, PSETEX key milliseconds value */
static void
set_ttl(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	int unit, const char *cmd)
{
	uint64_t clock = gv_node_clock_ms(sh->node, now), deadline;
	if (deadline_of(b, &s->args[2], unit, clock, cmd, &deadline))
		return;
	if (failed(s, store_value(sh, now, s, s->args[3].ptr, s->args[3].len,
				  deadline, clock, false)))
		return;
	gv_resp_out_ok(b);
}

static void
k_setex(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	set_ttl(sh, s, now, b, U_EX, "setex");
}

static void
k_psetex(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	set_ttl(sh, s, now, b, U_PX, "psetex");
}

static void
k_setnx(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (gv_node_key_type(sh->node, now, s->key, s->klen) == GV_TYPE_HASH) {
		gv_resp_out_int(b, 0);
		return;
	}
	int rc = gv_node_put_nx(sh->node, now, s->key, s->klen, s->args[2].ptr,
				s->args[2].len, 0, GV_PRIO_NORMAL);
	if (rc == 1) {
		gv_resp_out_int(b, 0);
		return;
	}
	if (failed(s, rc))
		return;
	gv_resp_out_int(b, 1);
}

static void
k_getset(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value old;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &old);
	gv_resp_buf tmp;
	gv_resp_buf_init(&tmp, gv_mem_libc(), 0);
	tmp.proto = b->proto;
	gvd_out_value(&tmp, have, &old); /* before the write frees it */
	int rc = gv_node_put(sh->node, now, s->key, s->klen, s->args[2].ptr,
			     s->args[2].len, GV_PRIO_NORMAL);
	if (!failed(s, rc))
		gv_resp_buf_append(b, gv_resp_buf_data(&tmp),
				   gv_resp_buf_pending(&tmp));
	gv_resp_buf_fini(&tmp);
}

static void
k_getdel(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value old;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &old);
	gvd_out_value(b, have, &old);
	if (have && failed(s, gv_node_delete(sh->node, now, s->key, s->klen,
					     GV_PRIO_NORMAL)))
		return;
}

/* GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST] */
static void
k_getex(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	const gv_resp_arg *a = s->args;
	int unit = -1;
	bool persist = false;
	if (s->nargs == 3 && gvd_arg_is(&a[2], "persist")) {
		persist = true;
	} else if (s->nargs == 4 &&
		   (gvd_arg_is(&a[2], "ex") || gvd_arg_is(&a[2], "px") || gvd_arg_is(&a[2], "exat") ||
		    gvd_arg_is(&a[2], "pxat"))) {
		unit = gvd_arg_is(&a[2], "ex")	   ? U_EX
		       : gvd_arg_is(&a[2], "px")   ? U_PX
		       : gvd_arg_is(&a[2], "exat") ? U_EXAT
					   : U_PXAT;
	} else if (s->nargs != 2) {
		gv_resp_out_error(b, ERR_SYNTAX);
		return;
	}
	uint64_t clock = gv_node_clock_ms(sh->node, now), deadline = 0;
	if (unit >= 0 && deadline_of(b, &a[3], unit, clock, "getex", &deadline))
		return;
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &v);
	gvd_out_value(b, have, &v);
	if (!have || (unit < 0 && !(persist && v.expire)))
		return;
	int rc;
	if (unit >= 0 && deadline <= clock)
		rc = gv_node_delete(sh->node, now, s->key, s->klen,
				    GV_PRIO_NORMAL);
	else
		rc = gv_node_expire(sh->node, now, s->key, s->klen, deadline,
				    GV_PRIO_NORMAL);
	failed(s, rc);
}

/* EXPIRE key t [NX|XX|GT|LT] and PEXPIRE, EXPIREAT, PEXPIREAT */
static void
expire_cmd(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	   int unit, const char *cmd)
{
	const gv_resp_arg *a = s->args;
	bool nx = false, xx = false, gt = false, lt = false;
	for (size_t i = 3; i < s->nargs; i++) {
		if (gvd_arg_is(&a[i], "nx"))
			nx = true;
		else if (gvd_arg_is(&a[i], "xx"))
			xx = true;
		else if (gvd_arg_is(&a[i], "gt"))
			gt = true;
		else if (gvd_arg_is(&a[i], "lt"))
			lt = true;
		else {
			gv_resp_out_errorf(b, "ERR Unsupported option %.*s",
					   (int)a[i].len, a[i].ptr);
			return;
		}
	}
	if (nx && (xx || gt || lt)) {
		gv_resp_out_error(b, "ERR NX and XX, GT or LT options at the "
				     "same time are not compatible");
		return;
	}
	if (gt && lt) {
		gv_resp_out_error(b, "ERR GT and LT options at the same time "
				     "are not compatible");
		return;
	}
	int64_t t;
	if (!gv_parse_i64(a[2].ptr, a[2].len, &t)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return;
	}
	uint64_t clock = gv_node_clock_ms(sh->node, now);
	bool secs = unit == U_EX || unit == U_EXAT;
	bool rel = unit == U_EX || unit == U_PX;
	/* Redis: a time that overflows is an error; zero or negative
	 * (or a past absolute time) deletes the key */
	__int128 ms = (__int128)t * (secs ? 1000 : 1) + (rel ? clock : 0);
	if ((secs && (t > INT64_MAX / 1000 || t < INT64_MIN / 1000)) ||
	    ms > INT64_MAX) {
		gv_resp_out_errorf(b, "ERR invalid expire time in '%s' command",
				   cmd);
		return;
	}
	gv_record r;
	bool hash = gv_node_key_type(sh->node, now, s->key, s->klen) ==
		    GV_TYPE_HASH;
	if (hash) {
		r.expire = gv_node_hash_deadline(sh->node, now, s->key,
						 s->klen);
	} else if (gv_node_get_at(sh->node, now, s->key, s->klen, &r)) {
		gv_resp_out_int(b, 0);
		return;
	}
	uint64_t deadline = ms <= 0 ? 1 : (uint64_t)ms;
	uint64_t cur = r.expire; /* 0: none, i.e. infinite */
	if ((nx && cur) || (xx && !cur) ||
	    (gt && (!cur || deadline <= cur)) || (lt && cur && deadline >= cur)) {
		gv_resp_out_int(b, 0);
		return;
	}
	int rc = deadline <= clock
			 ? gv_node_delete(sh->node, now, s->key, s->klen,
					  GV_PRIO_NORMAL)
		 : hash ? gv_node_hash_expire(sh->node, now, s->key, s->klen,
					      deadline, GV_PRIO_NORMAL)
			: gv_node_expire(sh->node, now, s->key, s->klen,
					 deadline, GV_PRIO_NORMAL);
	if (failed(s, rc))
		return;
	gv_resp_out_int(b, 1);
}

static void
k_expire(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	expire_cmd(sh, s, now, b, U_EX, "expire");
}

static void
k_pexpire(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	expire_cmd(sh, s, now, b, U_PX, "pexpire");
}

static void
k_expireat(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	expire_cmd(sh, s, now, b, U_EXAT, "expireat");
}

static void
k_pexpireat(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	expire_cmd(sh, s, now, b, U_PXAT, "pexpireat");
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 absent, -1 no expiry. */
static void
ttl_cmd(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	bool ms, bool absolute)
{
	gv_record r;
	if (gv_node_key_type(sh->node, now, s->key, s->klen) ==
	    GV_TYPE_HASH) {
		r.expire = gv_node_hash_deadline(sh->node, now, s->key,
						 s->klen);
	} else if (gv_node_get_at(sh->node, now, s->key, s->klen, &r)) {
		gv_resp_out_int(b, -2);
		return;
	}
	if (!r.expire) {
		gv_resp_out_int(b, -1);
		return;
	}
	uint64_t clock = gv_node_clock_ms(sh->node, now);
	uint64_t left = r.expire > clock ? r.expire - clock : 0;
	int64_t v;
	if (absolute)
		v = (int64_t)(ms ? r.expire : r.expire / 1000);
	else
		v = (int64_t)(ms ? left : (left + 500) / 1000);
	gv_resp_out_int(b, v);
}

static void
k_ttl(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	ttl_cmd(sh, s, now, b, false, false);
}

static void
k_pttl(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	ttl_cmd(sh, s, now, b, true, false);
}

static void
k_expiretime(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	ttl_cmd(sh, s, now, b, false, true);
}

static void
k_pexpiretime(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	ttl_cmd(sh, s, now, b, true, true);
}

static void
k_persist(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (gv_node_key_type(sh->node, now, s->key, s->klen) ==
	    GV_TYPE_HASH) {
		if (!gv_node_hash_deadline(sh->node, now, s->key, s->klen)) {
			gv_resp_out_int(b, 0);
			return;
		}
		if (!failed(s, gv_node_hash_expire(sh->node, now, s->key,
						   s->klen, 0,
						   GV_PRIO_NORMAL)))
			gv_resp_out_int(b, 1);
		return;
	}
	gv_record r;
	if (gv_node_get_at(sh->node, now, s->key, s->klen, &r) || !r.expire) {
		gv_resp_out_int(b, 0);
		return;
	}
	if (failed(s, gv_node_expire(sh->node, now, s->key, s->klen, 0,
				     GV_PRIO_NORMAL)))
		return;
	gv_resp_out_int(b, 1);
}

bool
gvd_incr_reply(gv_resp_buf *b, struct sub *s, int rc, const gv_record *r,
	       bool is_float, bool hash)
{
	switch (rc) {
	case 0:
		break;
	case GV_ENOTINT:
		gv_resp_out_error(b, hash ? "ERR hash value is not an integer"
					  : GVD_ERR_INT);
		return false;
	case GV_ENOTFLOAT:
		gv_resp_out_error(b, hash ? "ERR hash value is not a float"
					  : "ERR value is not a valid float");
		return false;
	case GV_EOVERFLOW:
		gv_resp_out_error(b, "ERR increment or decrement would "
				     "overflow");
		return false;
	case GV_ENANINF:
		gv_resp_out_error(b, "ERR increment would produce NaN or "
				     "Infinity");
		return false;
	case GV_EFULL:
		gv_resp_out_errorf(b, "ERR counter changed by more than %d "
				      "nodes since it was set: %s it to "
				      "start a new one",
				   GV_COUNTER_MAX_SLOTS, hash ? "HSET" : "SET");
		return false;
	default:
		s->rc = rc;
		return false;
	}
	gv_counter c;
	if (gv_counter_decode(r->val, r->vlen, &c)) {
		s->rc = GV_EMALFORMED;
		return false;
	}
	if (is_float) {
		char num[GV_COUNTER_STR_MAX];
		size_t n = gv_counter_format(&c, num, sizeof(num));
		gv_resp_out_bulk(b, num, n);
	} else {
		int64_t v = 0;
		gv_counter_int(&c, &v); /* checked by the incr itself */
		gv_resp_out_int(b, v);
	}
	return true;
}

/* The counters: a CRDT (core/counter.h), so increments at several nodes
 * at once all count. */
static void
incr_by(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	const gv_incr *by)
{
	if (not_string(sh, s, now, b))
		return;
	gv_record r;
	int rc = gv_node_incr(sh->node, now, s->key, s->klen, by,
			      GV_PRIO_NORMAL, &r);
	(void)gvd_incr_reply(b, s, rc, &r, by->is_float, false);
}

static void
incr_int(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	 int64_t sign, bool arg)
{
	int64_t v = 1;
	if (arg && !gv_parse_i64(s->args[2].ptr, s->args[2].len, &v)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return;
	}
	if (sign < 0 && v == INT64_MIN) {
		gv_resp_out_error(b, "ERR decrement would overflow");
		return;
	}
	gv_incr by = {.di = sign * v};
	incr_by(sh, s, now, b, &by);
}

static void
k_incr(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	incr_int(sh, s, now, b, 1, false);
}

static void
k_decr(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	incr_int(sh, s, now, b, -1, false);
}

static void
k_incrby(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	incr_int(sh, s, now, b, 1, true);
}

static void
k_decrby(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	incr_int(sh, s, now, b, -1, true);
}

static void
k_incrbyfloat(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	gv_incr by = {.is_float = true};
	if (!gv_parse_ld(s->args[2].ptr, s->args[2].len, &by.df)) {
		gv_resp_out_error(b, "ERR value is not a valid float");
		return;
	}
	incr_by(sh, s, now, b, &by);
}
