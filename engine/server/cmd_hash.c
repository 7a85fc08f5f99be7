/* SPDX-License-Identifier: MIT */
/*
 * cmd_hash.c - the hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL,
 * HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN, HINCRBY, HINCRBYFLOAT,
 * HRANDFIELD, HSCAN; and the WRONGTYPE check the string commands make.
 *
 * Each is a single-key command (gvd_key_cmd): it runs whole on the key's
 * shard thread, where core/hash.c keeps the hash as one entry per field
 * (merged field by field across nodes; the rule is in docs/cache.md).
 * Replies and error texts are Redis 7's (tests/integration/cache_test.py
 * compares them with redis-server's in RESP2 and RESP3). What Redis's
 * encodings decide is imitated: a hash of at most 128 fields whose
 * fields and values are at most 64 bytes is a "listpack" (OBJECT
 * ENCODING; HSCAN answers it whole, in order, with cursor 0), a bigger
 * one a "hashtable" (HSCAN walks it by field hash: a field present for
 * the whole scan is returned once).
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <xxhash.h>

#include "core/counter.h"

#define LP_ENTRIES 128 /* Redis's hash-max-listpack-entries */
#define LP_VALUE 64    /* hash-max-listpack-value */
#define HRAND_MAX (1u << 24) /* HRANDFIELD's negative count, at most */

static const char ERR_SYNTAX[] = "ERR syntax error";

static gvd_key_fn k_hset, k_hsetnx, k_hmset, k_hget, k_hmget, k_hdel,
	k_hgetall, k_hkeys, k_hvals, k_hlen, k_hexists, k_hstrlen, k_hincrby,
	k_hincrbyfloat, k_hrandfield, k_hscan;

#define HASH_COMMAND(name)                                                    \
	void gvd_cmd_##name(gv_daemon *d, struct client *c, gv_resp_arg *av,  \
			    size_t ac)                                        \
	{                                                                     \
		gvd_key_cmd(d, c, av, ac, k_##name);                          \
	}

HASH_COMMAND(hsetnx)
HASH_COMMAND(hget)
HASH_COMMAND(hmget)
HASH_COMMAND(hdel)
HASH_COMMAND(hgetall)
HASH_COMMAND(hkeys)
HASH_COMMAND(hvals)
HASH_COMMAND(hlen)
HASH_COMMAND(hexists)
HASH_COMMAND(hstrlen)
HASH_COMMAND(hincrby)
HASH_COMMAND(hincrbyfloat)
HASH_COMMAND(hrandfield)
HASH_COMMAND(hscan)

/* HSET and HMSET take field value pairs: an odd count is an arity
 * error, answered before any shard sees it. */
static void
pairs_cmd(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
	  gvd_key_fn *fn, const char *name)
{
	if (ac % 2) {
		struct req *r = gvd_ready(c);
		if (r)
			gv_resp_out_errorf(&r->reply,
					   "ERR wrong number of arguments for "
					   "'%s' command",
					   name);
		return;
	}
	gvd_key_cmd(d, c, av, ac, fn);
}

void
gvd_cmd_hset(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	pairs_cmd(d, c, av, ac, k_hset, "hset");
}

void
gvd_cmd_hmset(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	pairs_cmd(d, c, av, ac, k_hmset, "hmset");
}

/* ------------------------------------------------------- shard side */

bool
gvd_wrongtype(gv_node *n, gv_time now, const void *key, size_t klen,
	      int want, gv_resp_buf *b)
{
	int t = gv_node_key_type(n, now, key, klen);
	if (t == GV_TYPE_NONE || t == want)
		return false;
	gv_resp_out_error(b, GVD_WRONGTYPE);
	return true;
}

static bool
not_hash(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	return gvd_wrongtype(sh->node, now, s->key, s->klen, GV_TYPE_HASH, b);
}

/* Store errors the front end words (OOM, READONLY, ...): in s->rc. */
static bool
failed(struct sub *s, int rc)
{
	if (rc >= 0)
		return false;
	s->rc = rc;
	return true;
}

void
gvd_field_value(const gv_record *r, char *num, const uint8_t **p, size_t *n)
{
	gv_counter c;
	if (r->kind == GV_KIND_COUNTER &&
	    gv_counter_decode(r->val, r->vlen, &c) == 0) {
		*n = gv_counter_format(&c, num, GV_COUNTER_STR_MAX);
		*p = (const uint8_t *)num;
	} else {
		*p = r->val;
		*n = r->vlen;
	}
}

static void
out_gvd_field_value(gv_resp_buf *b, const gv_record *r)
{
	char num[GV_COUNTER_STR_MAX];
	const uint8_t *p;
	size_t n;
	gvd_field_value(r, num, &p, &n);
	gv_resp_out_bulk(b, p, n);
}

/* The field's entry this command wrote (last), for WAIT. */
static void
wrote_field(struct sub *s, const gv_resp_arg *f)
{
	uint8_t k[GV_MAX_KEY];
	size_t n = gv_hash_field_key(k, s->key, s->klen, f->ptr, f->len);
	if (!n)
		return;
	free(s->wkey);
	s->wkey = dupmem(k, n);
	s->wklen = s->wkey ? n : 0;
}

static int
set_pairs(struct shard *sh, struct sub *s, gv_time now, int64_t *added)
{
	*added = 0;
	/* all or nothing at the memory cap: the whole command's fields
	 * (entries and their share of the index) checked before the first,
	 * each field counted as new */
	const gv_store *st = gv_node_store(sh->node);
	if (st->max_memory) {
		size_t need = 0;
		for (size_t i = 2; i + 1 < s->nargs; i += 2)
			need += gv_store_entry_size(s->klen + s->args[i].len + 7,
						    s->args[i + 1].len) +
				64 + s->args[i].len;
		if (st->mem_used + need > st->max_memory)
			return GV_ENOSPC;
	}
	for (size_t i = 2; i + 1 < s->nargs; i += 2) {
		const gv_resp_arg *f = &s->args[i], *v = &s->args[i + 1];
		int rc = gv_node_hset(sh->node, now, s->key, s->klen, f->ptr,
				      f->len, v->ptr, v->len, GV_PRIO_NORMAL);
		if (rc < 0)
			return rc;
		*added += rc;
		wrote_field(s, f);
	}
	return 0;
}

static void
k_hset(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	int64_t added;
	if (!failed(s, set_pairs(sh, s, now, &added)))
		gv_resp_out_int(b, added);
}

static void
k_hmset(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	int64_t added;
	if (!failed(s, set_pairs(sh, s, now, &added)))
		gv_resp_out_ok(b);
}

static void
k_hsetnx(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	const gv_resp_arg *f = &s->args[2], *v = &s->args[3];
	if (gv_node_hget(sh->node, now, s->key, s->klen, f->ptr, f->len,
			 NULL) == 0) {
		gv_resp_out_int(b, 0);
		return;
	}
	int rc = gv_node_hset(sh->node, now, s->key, s->klen, f->ptr, f->len,
			      v->ptr, v->len, GV_PRIO_NORMAL);
	if (!failed(s, rc)) {
		wrote_field(s, f);
		gv_resp_out_int(b, 1);
	}
}

static void
k_hget(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_record r;
	if (gv_node_hget(sh->node, now, s->key, s->klen, s->args[2].ptr,
			 s->args[2].len, &r))
		gv_resp_out_null(b);
	else
		out_gvd_field_value(b, &r);
}

static void
k_hmget(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_resp_out_array(b, s->nargs - 2);
	for (size_t i = 2; i < s->nargs; i++) {
		gv_record r;
		if (gv_node_hget(sh->node, now, s->key, s->klen,
				 s->args[i].ptr, s->args[i].len, &r))
			gv_resp_out_null(b);
		else
			out_gvd_field_value(b, &r);
	}
}

static void
k_hdel(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	int64_t n = 0;
	for (size_t i = 2; i < s->nargs; i++) {
		int rc = gv_node_hdel(sh->node, now, s->key, s->klen,
				      s->args[i].ptr, s->args[i].len,
				      GV_PRIO_NORMAL);
		if (failed(s, rc))
			return;
		n += rc;
		if (rc)
			wrote_field(s, &s->args[i]);
	}
	gv_resp_out_int(b, n);
}

/* HGETALL, HKEYS, HVALS: the fields into a buffer, then its header. */
struct walk {
	gv_resp_buf *b;
	bool keys, vals;
	size_t n;
};

static int
walk_visit(void *ud, const uint8_t *f, size_t flen, const gv_record *r)
{
	struct walk *w = ud;
	if (w->keys)
		gv_resp_out_bulk(w->b, f, flen);
	if (w->vals)
		out_gvd_field_value(w->b, r);
	w->n++;
	return 0;
}

static void
listing(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
	bool keys, bool vals)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_resp_buf tmp;
	gv_resp_buf_init(&tmp, gv_mem_libc(), 0);
	tmp.proto = b->proto;
	struct walk w = {.b = &tmp, .keys = keys, .vals = vals};
	gv_node_hash_foreach(sh->node, now, s->key, s->klen, walk_visit, &w);
	if (keys && vals && b->proto >= 3)
		gv_resp_out_map(b, w.n);
	else
		gv_resp_out_array(b, w.n * (keys && vals ? 2 : 1));
	if (tmp.err)
		b->err = tmp.err;
	else
		gv_resp_buf_append(b, gv_resp_buf_data(&tmp),
				   gv_resp_buf_pending(&tmp));
	gv_resp_buf_fini(&tmp);
}

static void
k_hgetall(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	listing(sh, s, now, b, true, true);
}

static void
k_hkeys(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	listing(sh, s, now, b, true, false);
}

static void
k_hvals(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	listing(sh, s, now, b, false, true);
}

static void
k_hlen(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_resp_out_int(b, (int64_t)gv_node_hlen(sh->node, now, s->key,
						 s->klen));
}

static void
k_hexists(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_resp_out_int(b, gv_node_hget(sh->node, now, s->key, s->klen,
					s->args[2].ptr, s->args[2].len,
					NULL) == 0);
}

static void
k_hstrlen(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_record r;
	if (gv_node_hget(sh->node, now, s->key, s->klen, s->args[2].ptr,
			 s->args[2].len, &r)) {
		gv_resp_out_int(b, 0);
		return;
	}
	char num[GV_COUNTER_STR_MAX];
	const uint8_t *p;
	size_t n;
	gvd_field_value(&r, num, &p, &n);
	gv_resp_out_int(b, (int64_t)n);
}

/* HINCRBY, HINCRBYFLOAT: a counter per field (core/counter.h), so
 * increments at several nodes at once all count. */
static void
hincr(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b,
      const gv_incr *by)
{
	if (not_hash(sh, s, now, b))
		return;
	gv_record r;
	int rc = gv_node_hincr(sh->node, now, s->key, s->klen, s->args[2].ptr,
			       s->args[2].len, by, GV_PRIO_NORMAL, &r);
	if (rc == 0)
		wrote_field(s, &s->args[2]);
	(void)gvd_incr_reply(b, s, rc, &r, by->is_float, true);
}

static void
k_hincrby(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	gv_incr by = {0};
	if (!gv_parse_i64(s->args[3].ptr, s->args[3].len, &by.di)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return;
	}
	hincr(sh, s, now, b, &by);
}

static void
k_hincrbyfloat(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	gv_incr by = {.is_float = true};
	if (!gv_parse_ld(s->args[3].ptr, s->args[3].len, &by.df)) {
		gv_resp_out_error(b, "ERR value is not a valid float");
		return;
	}
	if (isnan(by.df) || isinf(by.df)) {
		gv_resp_out_error(b, "ERR value is NaN or Infinity");
		return;
	}
	hincr(sh, s, now, b, &by);
}

/* The live fields, gathered (their bytes are the store's: valid until
 * the node's next write). */
struct gathered {
	size_t n, cap;
	const uint8_t **f, **v;
	size_t *flen, *vlen;
	char **num; /* a counter's printed value, or NULL */
	bool big;   /* past Redis's listpack limits */
	bool oom;
};

static int
gather_visit(void *ud, const uint8_t *f, size_t flen, const gv_record *r)
{
	struct gathered *g = ud;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		const uint8_t **nf = realloc(g->f, cap * sizeof(*nf));
		if (nf)
			g->f = nf;
		const uint8_t **nv = realloc(g->v, cap * sizeof(*nv));
		if (nv)
			g->v = nv;
		size_t *nfl = realloc(g->flen, cap * sizeof(*nfl));
		if (nfl)
			g->flen = nfl;
		size_t *nvl = realloc(g->vlen, cap * sizeof(*nvl));
		if (nvl)
			g->vlen = nvl;
		char **nn = realloc(g->num, cap * sizeof(*nn));
		if (nn)
			g->num = nn;
		if (!nf || !nv || !nfl || !nvl || !nn) {
			g->oom = true;
			return 1;
		}
		g->cap = cap;
	}
	size_t i = g->n;
	g->f[i] = f;
	g->flen[i] = flen;
	g->num[i] = NULL;
	if (r->kind == GV_KIND_COUNTER) {
		char num[GV_COUNTER_STR_MAX];
		const uint8_t *p;
		size_t n;
		gvd_field_value(r, num, &p, &n);
		g->num[i] = dupmem(p, n);
		if (!g->num[i]) {
			g->oom = true;
			return 1;
		}
		g->v[i] = (const uint8_t *)g->num[i];
		g->vlen[i] = n;
	} else {
		g->v[i] = r->val;
		g->vlen[i] = r->vlen;
	}
	if (flen > LP_VALUE || g->vlen[i] > LP_VALUE)
		g->big = true;
	g->n++;
	return 0;
}

static void
gather(gv_node *n, gv_time now, const struct sub *s, struct gathered *g)
{
	memset(g, 0, sizeof(*g));
	gv_node_hash_foreach(n, now, s->key, s->klen, gather_visit, g);
	if (g->n > LP_ENTRIES)
		g->big = true;
}

static void
gathered_free(struct gathered *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->num[i]);
	free(g->f);
	free(g->v);
	free(g->flen);
	free(g->vlen);
	free(g->num);
}

/* OBJECT ENCODING of a hash. */
void
gvd_hash_encoding(gv_node *n, gv_time now, const struct sub *s,
		  gv_resp_buf *b)
{
	struct gathered g;
	gather(n, now, s, &g);
	gv_resp_out_bulk_str(b, g.big ? "hashtable" : "listpack");
	gathered_free(&g);
}

static uint64_t
next_rand(struct shard *sh, gv_time now)
{
	if (!sh->rng)
		sh->rng = now ^ ((uint64_t)(uintptr_t)sh << 16);
	sh->rng = sh->rng * 6364136223846793005ull + 1442695040888963407ull;
	return sh->rng >> 11;
}

static void
out_pair(gv_resp_buf *b, const struct gathered *g, size_t i, bool values)
{
	if (values && b->proto >= 3)
		gv_resp_out_array(b, 2);
	gv_resp_out_bulk(b, g->f[i], g->flen[i]);
	if (values)
		gv_resp_out_bulk(b, g->v[i], g->vlen[i]);
}

/* HRANDFIELD key [count [WITHVALUES]] */
static void
k_hrandfield(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	int64_t count = 0;
	bool withcount = s->nargs >= 3, values = false;
	if (withcount) {
		if (!gv_parse_i64(s->args[2].ptr, s->args[2].len, &count) ||
		    count == INT64_MIN) {
			gv_resp_out_error(b, GVD_ERR_INT);
			return;
		}
		if (s->nargs > 4 ||
		    (s->nargs == 4 && !gvd_arg_is(&s->args[3], "withvalues"))) {
			gv_resp_out_error(b, ERR_SYNTAX);
			return;
		}
		values = s->nargs == 4;
		/* Redis's bound with values; without, a bound of ours: a
		 * reply of 2^24 picks at most (Redis would try to send any
		 * count, and hit the client's output limit) */
		if ((values && count < -(INT64_MAX / 2)) ||
		    count < -(int64_t)HRAND_MAX) {
			gv_resp_out_error(b, "ERR value is out of range");
			return;
		}
	}
	if (not_hash(sh, s, now, b))
		return;
	struct gathered g;
	gather(sh->node, now, s, &g);
	if (g.oom) {
		s->rc = GV_ENOMEM;
	} else if (!withcount) {
		if (!g.n)
			gv_resp_out_null(b);
		else {
			size_t i = next_rand(sh, now) % g.n;
			gv_resp_out_bulk(b, g.f[i], g.flen[i]);
		}
	} else if (count == 0 || !g.n) {
		gv_resp_out_array(b, 0);
	} else if (count < 0) {
		uint64_t m = (uint64_t)-count;
		gv_resp_out_array(b, values && b->proto < 3 ? 2 * m : m);
		for (uint64_t k = 0; k < m; k++)
			out_pair(b, &g, next_rand(sh, now) % g.n, values);
	} else if ((uint64_t)count >= g.n) {
		gv_resp_out_array(b, values && b->proto < 3 ? 2 * g.n : g.n);
		for (size_t i = 0; i < g.n; i++)
			out_pair(b, &g, i, values);
	} else {
		/* distinct: a partial Fisher-Yates over the indices */
		size_t *ix = malloc(g.n * sizeof(*ix));
		if (!ix) {
			s->rc = GV_ENOMEM;
		} else {
			for (size_t i = 0; i < g.n; i++)
				ix[i] = i;
			size_t m = (size_t)count;
			gv_resp_out_array(b, values && b->proto < 3 ? 2 * m
								    : m);
			for (size_t i = 0; i < m; i++) {
				size_t j = i + next_rand(sh, now) % (g.n - i);
				size_t t = ix[i];
				ix[i] = ix[j];
				ix[j] = t;
				out_pair(b, &g, ix[i], values);
			}
			free(ix);
		}
	}
	gathered_free(&g);
}

/* HSCAN's order for a big hash: by field hash (cursor 0 is the end). */
static uint64_t
scan_pos(const uint8_t *f, size_t flen)
{
	return (XXH3_64bits(f, flen) >> 1) + 1;
}

struct pos_ix {
	uint64_t pos;
	size_t i;
};

static int
pos_cmp(const void *a, const void *b)
{
	const struct pos_ix *x = a, *y = b;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static bool
field_match(const char *pat, bool nomatch, const uint8_t *f, size_t flen)
{
	if (nomatch)
		return false;
	if (!pat)
		return true;
	char k[GV_MAX_KEY + 1];
	if (flen > GV_MAX_KEY || memchr(f, 0, flen))
		return false;
	memcpy(k, f, flen);
	k[flen] = 0;
	return fnmatch(pat, k, 0) == 0;
}

/* HSCAN key cursor [MATCH pattern] [COUNT count] */
static void
k_hscan(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	const gv_resp_arg *a = s->args;
	uint64_t cursor = 0;
	for (size_t i = 0; i < a[2].len; i++) {
		char ch = a[2].ptr[i];
		if (ch < '0' || ch > '9' || a[2].len > 20 ||
		    cursor > (UINT64_MAX - (uint64_t)(ch - '0')) / 10) {
			gv_resp_out_error(b, "ERR invalid cursor");
			return;
		}
		cursor = cursor * 10 + (uint64_t)(ch - '0');
	}
	if (!a[2].len) {
		gv_resp_out_error(b, "ERR invalid cursor");
		return;
	}
	/* Redis's order: the cursor, the key's type, an absent key's
	 * empty answer, and only then the options */
	if (not_hash(sh, s, now, b))
		return;
	if (gv_node_key_type(sh->node, now, s->key, s->klen) == GV_TYPE_NONE) {
		gv_resp_out_array(b, 2);
		gv_resp_out_bulk_str(b, "0");
		gv_resp_out_array(b, 0);
		return;
	}
	int64_t count = 10;
	const char *pat = NULL;
	bool nomatch = false;
	for (size_t i = 3; i < s->nargs; i += 2) {
		if (i + 1 >= s->nargs) {
			gv_resp_out_error(b, ERR_SYNTAX);
			return;
		}
		if (gvd_arg_is(&a[i], "count")) {
			if (!gv_parse_i64(a[i + 1].ptr, a[i + 1].len, &count)) {
				gv_resp_out_error(b, GVD_ERR_INT);
				return;
			}
			if (count < 1) {
				gv_resp_out_error(b, ERR_SYNTAX);
				return;
			}
		} else if (gvd_arg_is(&a[i], "match")) {
			/* the args are NUL-terminated copies; a pattern with
			 * a NUL in it matches no field here (fnmatch) */
			pat = a[i + 1].ptr;
			nomatch = strlen(pat) != a[i + 1].len;
			if (a[i + 1].len == 1 && pat[0] == '*')
				pat = NULL;
		} else {
			gv_resp_out_error(b, ERR_SYNTAX);
			return;
		}
	}
	struct gathered g;
	gather(sh->node, now, s, &g);
	if (g.oom) {
		gathered_free(&g);
		s->rc = GV_ENOMEM;
		return;
	}
	gv_resp_buf tmp;
	gv_resp_buf_init(&tmp, gv_mem_libc(), 0);
	tmp.proto = b->proto;
	size_t n = 0;
	uint64_t next = 0;
	if (!g.big) {
		/* a listpack: whole, in order, as Redis answers it */
		for (size_t i = 0; i < g.n; i++)
			if (field_match(pat, nomatch, g.f[i], g.flen[i])) {
				gv_resp_out_bulk(&tmp, g.f[i], g.flen[i]);
				gv_resp_out_bulk(&tmp, g.v[i], g.vlen[i]);
				n++;
			}
	} else {
		struct pos_ix *px = malloc(g.n * sizeof(*px));
		size_t m = 0;
		for (size_t i = 0; px && i < g.n; i++) {
			uint64_t p = scan_pos(g.f[i], g.flen[i]);
			if (p >= cursor)
				px[m++] = (struct pos_ix){p, i};
		}
		if (px) {
			qsort(px, m, sizeof(*px), pos_cmp);
			size_t j = 0;
			for (; j < m && j < (size_t)count; j++) {
				size_t i = px[j].i;
				if (field_match(pat, nomatch, g.f[i], g.flen[i])) {
					/* pairs: flat, in RESP3 too */
					gv_resp_out_bulk(&tmp, g.f[i],
							 g.flen[i]);
					gv_resp_out_bulk(&tmp, g.v[i],
							 g.vlen[i]);
					n++;
				}
			}
			next = j < m ? px[j].pos : 0;
			free(px);
		} else {
			tmp.err = GV_ENOMEM;
		}
	}
	gathered_free(&g);
	gv_resp_out_array(b, 2);
	gv_resp_out_bulkf(b, "%llu", (unsigned long long)next);
	gv_resp_out_array(b, 2 * n);
	if (tmp.err)
		b->err = tmp.err;
	else
		gv_resp_buf_append(b, gv_resp_buf_data(&tmp),
				   gv_resp_buf_pending(&tmp));
	gv_resp_buf_fini(&tmp);
}
