/* SPDX-License-Identifier: MIT */
/*
 * cmd_strings.c - the rest of the string and keyspace commands that live
 * on one key's shard: APPEND, STRLEN, GETRANGE, SETRANGE, TYPE, OBJECT
 * ENCODING|FREQ|IDLETIME|REFCOUNT|HELP; and TOUCH (one sub per key, like
 * EXISTS). Same scheme as cmd_keys.c: the front end routes, the shard's
 * thread parses, reads, writes and encodes the reply (gvd_key_fn).
 *
 * A counter (core/counter.h) reads as its number printed; a command that
 * edits the bytes (APPEND, SETRANGE) writes that number back as a plain
 * string with the edit, which ends the counter (like a SET).
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <strings.h>

#include "core/counter.h"

/* Redis's proto-max-bulk-len: the longest string SETRANGE may make. */
#define STRING_MAX (512ull << 20)

static gvd_key_fn k_append, k_strlen, k_getrange, k_setrange, k_type,
	k_object_encoding, k_object_freq, k_object_idletime,
	k_object_refcount;

#define STR_COMMAND(name)                                                     \
	void gvd_cmd_##name(gv_daemon *d, struct client *c, gv_resp_arg *av,  \
			    size_t ac)                                        \
	{                                                                     \
		gvd_key_cmd(d, c, av, ac, k_##name);                          \
	}

STR_COMMAND(append)
STR_COMMAND(strlen)
STR_COMMAND(getrange)
STR_COMMAND(setrange)
STR_COMMAND(type)

/* OBJECT sub key: the key is av[2], so route on it */
#define OBJECT_COMMAND(name)                                                  \
	void gvd_cmd_object_##name(gv_daemon *d, struct client *c,            \
				   gv_resp_arg *av, size_t ac)                \
	{                                                                     \
		gv_resp_arg a[3] = {av[0], av[2], av[1]};                     \
		(void)ac;                                                     \
		gvd_key_cmd(d, c, a, 3, k_object_##name);                     \
	}

OBJECT_COMMAND(encoding)
OBJECT_COMMAND(freq)
OBJECT_COMMAND(idletime)
OBJECT_COMMAND(refcount)

static const char *const object_help[] = {
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to "
	"store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned "
	"integer is",
	"    proportional to the logarithm of the recent access frequency of "
	"the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated "
	"number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with "
	"the specified",
	"    <key>.",
	"HELP",
	"    Prints this help.",
	NULL,
};

void
gvd_cmd_object_help(gv_daemon *d, struct client *c, gv_resp_arg *av,
		    size_t ac)
{
	(void)d, (void)av, (void)ac;
	gvd_help_reply(c, object_help);
}

/* OBJECT with no subcommand: Redis's arity error for the container. */
void
gvd_cmd_object(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_error(&r->reply, "ERR wrong number of arguments "
					     "for 'object' command");
}

void
gvd_cmd_touch(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	/* TOUCH counts the keys that exist: EXISTS's work, one key each
	 * (no access times are kept to refresh) */
	gvd_cmd_exists(d, c, av, ac);
}

/* ------------------------------------------------------- shard side */


/* A hash where a string command reads: WRONGTYPE written into b. */
static bool
not_string(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	return gvd_wrongtype(sh->node, now, s->key, s->klen, GV_TYPE_STRING,
			     b);
}

static void
k_strlen(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &v);
	gv_resp_out_int(b, have ? (int64_t)v.n : 0);
}

static void
k_type(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	static const char *const names[] = {"none", "string", "hash"};
	gv_resp_out_simple(b, names[gv_node_key_type(sh->node, now, s->key,
						     s->klen)]);
}

/* GETRANGE key start end: Redis's clamping of negative and far ends. */
static void
k_getrange(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	int64_t start, end;
	if (!gv_parse_i64(s->args[2].ptr, s->args[2].len, &start) ||
	    !gv_parse_i64(s->args[3].ptr, s->args[3].len, &end)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return;
	}
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	if (!gvd_value_get(sh->node, now, s->key, s->klen, num, &v) || !v.n) {
		gv_resp_out_bulk(b, "", 0);
		return;
	}
	int64_t len = (int64_t)v.n;
	if (start < 0 && end < 0 && start > end) {
		gv_resp_out_bulk(b, "", 0);
		return;
	}
	if (start < 0)
		start += len;
	if (end < 0)
		end += len;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= len)
		end = len - 1;
	if (start > end) {
		gv_resp_out_bulk(b, "", 0);
		return;
	}
	gv_resp_out_bulk(b, v.p + start, (size_t)(end - start + 1));
}

/* Write the new bytes of the key, keeping its deadline. */
static bool
write_keep_ttl(struct shard *sh, struct sub *s, gv_time now, const void *p,
	       size_t n, uint64_t expire)
{
	int rc = gv_node_put_ex(sh->node, now, s->key, s->klen, p, n, expire,
				GV_PRIO_NORMAL);
	if (rc) {
		s->rc = rc;
		return false;
	}
	return true;
}

static void
k_append(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &v);
	const gv_resp_arg *a = &s->args[2];
	size_t n = (have ? v.n : 0) + a->len;
	char *buf = malloc(n ? n : 1);
	if (!buf) {
		s->rc = GV_ENOMEM;
		return;
	}
	if (have)
		memcpy(buf, v.p, v.n);
	memcpy(buf + n - a->len, a->ptr, a->len);
	if (write_keep_ttl(sh, s, now, buf, n, have ? v.expire : 0))
		gv_resp_out_int(b, (int64_t)n);
	free(buf);
}

static void
k_setrange(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	int64_t off;
	if (!gv_parse_i64(s->args[2].ptr, s->args[2].len, &off)) {
		gv_resp_out_error(b, GVD_ERR_INT);
		return;
	}
	if (off < 0) {
		gv_resp_out_error(b, "ERR offset is out of range");
		return;
	}
	const gv_resp_arg *a = &s->args[3];
	if (not_string(sh, s, now, b))
		return;
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	bool have = gvd_value_get(sh->node, now, s->key, s->klen, num, &v);
	size_t old = have ? v.n : 0;
	if (a->len == 0) {
		/* nothing to write: the length as it is, nothing created */
		gv_resp_out_int(b, (int64_t)old);
		return;
	}
	if ((uint64_t)off + a->len > STRING_MAX) {
		gv_resp_out_error(b, "ERR string exceeds maximum allowed size "
				     "(proto-max-bulk-len)");
		return;
	}
	size_t n = (size_t)off + a->len > old ? (size_t)off + a->len : old;
	char *buf = calloc(1, n);
	if (!buf) {
		s->rc = GV_ENOMEM;
		return;
	}
	if (have)
		memcpy(buf, v.p, v.n);
	memcpy(buf + off, a->ptr, a->len);
	if (write_keep_ttl(sh, s, now, buf, n, have ? v.expire : 0))
		gv_resp_out_int(b, (int64_t)n);
	free(buf);
}

/* OBJECT ENCODING: what Redis would use for these bytes: "int" for a
 * decimal that fits a long, "embstr" up to 44 bytes, else "raw". */
static void
k_object_encoding(struct shard *sh, struct sub *s, gv_time now,
		  gv_resp_buf *b)
{
	if (gv_node_key_type(sh->node, now, s->key, s->klen) ==
	    GV_TYPE_HASH) {
		gvd_hash_encoding(sh->node, now, s, b);
		return;
	}
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	if (!gvd_value_get(sh->node, now, s->key, s->klen, num, &v)) {
		gv_resp_out_null(b);
		return;
	}
	int64_t i;
	if (v.n <= 20 && gv_parse_i64(v.p, v.n, &i))
		gv_resp_out_bulk_str(b, "int");
	else
		gv_resp_out_bulk_str(b, v.n <= 44 ? "embstr" : "raw");
}

static void
k_object_freq(struct shard *sh, struct sub *s, gv_time now, gv_resp_buf *b)
{
	(void)sh, (void)s, (void)now;
	gv_resp_out_error(b, "ERR An LFU maxmemory policy is not selected, "
			     "access frequency not tracked. Please note that "
			     "when switching between policies at runtime LRU "
			     "and LFU data will take some time to adjust.");
}

/* OBJECT IDLETIME: seconds since the key was last written (no access
 * times are kept: reads do not count). */
static void
k_object_idletime(struct shard *sh, struct sub *s, gv_time now,
		  gv_resp_buf *b)
{
	gv_record r;
	bool live;
	gv_node_key_version(sh->node, now, s->key, s->klen, &r.ver, &live);
	if (!live) {
		gv_resp_out_null(b);
		return;
	}
	uint64_t clock = gv_node_clock_ms(sh->node, now);
	uint64_t at = r.ver.hlc >> GV_HLC_LOGICAL_BITS;
	gv_resp_out_int(b, clock > at ? (int64_t)((clock - at) / 1000) : 0);
}

/* OBJECT REFCOUNT: Redis shares the integers 0..9999. */
static void
k_object_refcount(struct shard *sh, struct sub *s, gv_time now,
		  gv_resp_buf *b)
{
	if (gv_node_key_type(sh->node, now, s->key, s->klen) ==
	    GV_TYPE_HASH) {
		gv_resp_out_int(b, 1);
		return;
	}
	char num[GV_COUNTER_STR_MAX];
	struct gvd_value v;
	if (!gvd_value_get(sh->node, now, s->key, s->klen, num, &v)) {
		gv_resp_out_null(b);
		return;
	}
	int64_t i;
	bool shared = v.n <= 4 && gv_parse_i64(v.p, v.n, &i) && i >= 0 &&
		      i < 10000;
	gv_resp_out_int(b, shared ? INT32_MAX : 1);
}

/* ------------------------------------------------- every shard's keys */

/* KEYS pattern: every shard lists its live keys that match. */
void
gvd_cmd_keys(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)ac;
	struct req *r = gvd_req_new(c, C_KEYS, d->k);
	if (!r)
		return;
	r->pattern = calloc(1, av[1].len + 1);
	if (!r->pattern) {
		r->subs[0].rc = GV_ENOMEM;
		r->done = r->nsubs;
		return;
	}
	memcpy(r->pattern, av[1].ptr, av[1].len);
	bool all = strcmp(r->pattern, "*") == 0;
	for (unsigned i = 0; i < d->k; i++) {
		r->subs[i].op = OP_KEYLIST;
		r->subs[i].shard = (uint16_t)i;
		r->subs[i].pattern = all ? NULL : r->pattern;
	}
	gvd_dispatch(d, r);
}

void
gvd_cmd_randomkey(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	struct req *r = gvd_req_new(c, C_RANDOM, d->k);
	if (!r)
		return;
	for (unsigned i = 0; i < d->k; i++) {
		r->subs[i].op = OP_RANDOM;
		r->subs[i].shard = (uint16_t)i;
	}
	gvd_dispatch(d, r);
}
