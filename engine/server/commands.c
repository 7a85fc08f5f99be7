/* SPDX-License-Identifier: MIT */
/*
 * commands.c - a parsed RESP command turned into a req: answered at once
 * (PING, INFO, errors...), or split into subs sent to the shards that own
 * the keys (GET, SET, MGET, SCAN, GV.KEYS...). Runs on the front end's
 * thread; the reply is encoded by frontend.c when every sub is back.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <xxhash.h>

static unsigned
shard_of(const gv_daemon *d, const void *key, size_t klen)
{
	return (unsigned)(XXH3_64bits(key, klen) % d->k);
}

/* A ready reply: an error or an immediate answer. */
struct req *
gvd_ready(struct client *c)
{
	return gvd_req_new(c, C_READY, 0);
}


static bool
arg_is(const gv_resp_arg *a, const char *s)
{
	return a->len == strlen(s) && strncasecmp(a->ptr, s, a->len) == 0;
}

static bool
arg_u64(const gv_resp_arg *a, uint64_t *out)
{
	char buf[32];
	if (a->len == 0 || a->len >= sizeof(buf))
		return false;
	memcpy(buf, a->ptr, a->len);
	buf[a->len] = 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || *end || buf[0] == '-')
		return false;
	*out = v;
	return true;
}

static void
key_sub(gv_daemon *d, struct sub *s, int op, const gv_resp_arg *k,
	const gv_resp_arg *v)
{
	s->op = (uint8_t)op;
	s->key = dupmem(k->ptr, k->len);
	s->klen = k->len;
	s->shard = (uint16_t)shard_of(d, k->ptr, k->len);
	if (v) {
		s->val = dupmem(v->ptr, v->len);
		s->vlen = v->len;
	}
}

static void
all_shards(gv_daemon *d, struct req *r, int op)
{
	for (unsigned i = 0; i < r->nsubs; i++) {
		r->subs[i].op = (uint8_t)op;
		r->subs[i].shard = (uint16_t)i;
	}
}

static void keys_command(gv_daemon *d, struct client *c, gv_resp_arg *av,
			 size_t ac);

static void
wrong_args(struct client *c, const char *name)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_errorf(&r->reply,
				   "ERR wrong number of arguments for '%s' "
				   "command",
				   name);
}

/* One parsed command. */
void
gvd_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	d->commands++;
	struct req *r;
	char name[32];
	size_t nl = av[0].len < sizeof(name) - 1 ? av[0].len : sizeof(name) - 1;
	for (size_t i = 0; i < nl; i++)
		name[i] = (char)tolower((unsigned char)av[0].ptr[i]);
	name[nl] = 0;

	if (!strcmp(name, "ping")) {
		if (ac > 2)
			return wrong_args(c, "ping");
		if ((r = gvd_ready(c))) {
			if (ac == 2)
				gv_resp_out_bulk(&r->reply, av[1].ptr,
						 av[1].len);
			else
				gv_resp_out_simple(&r->reply, "PONG");
		}
	} else if (!strcmp(name, "echo")) {
		if (ac != 2)
			return wrong_args(c, "echo");
		if ((r = gvd_ready(c)))
			gv_resp_out_bulk(&r->reply, av[1].ptr, av[1].len);
	} else if (!strcmp(name, "quit")) {
		if ((r = gvd_ready(c)))
			gv_resp_out_ok(&r->reply);
		c->closing = true;
	} else if (!strcmp(name, "get")) {
		if (ac != 2)
			return wrong_args(c, "get");
		if ((r = gvd_req_new(c, C_BULK, 1))) {
			key_sub(d, &r->subs[0], OP_GET, &av[1], NULL);
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "set")) {
		if (ac < 3)
			return wrong_args(c, "set");
		int mode = 0;
		for (size_t i = 3; i < ac; i++) {
			if (arg_is(&av[i], "nx") && !mode) {
				mode = 1;
			} else if (arg_is(&av[i], "xx") && !mode) {
				mode = 2;
			} else if (arg_is(&av[i], "ex") || arg_is(&av[i], "px") ||
				   arg_is(&av[i], "exat") ||
				   arg_is(&av[i], "pxat") ||
				   arg_is(&av[i], "keepttl")) {
				if ((r = gvd_ready(c)))
					gv_resp_out_error(
						&r->reply,
						"ERR expiry (EX/PX/EXAT/PXAT/"
						"KEEPTTL) is not supported: "
						"grapevine keys do not expire");
				return;
			} else if (arg_is(&av[i], "get")) {
				if ((r = gvd_ready(c)))
					gv_resp_out_error(
						&r->reply,
						"ERR SET ... GET is not "
						"supported");
				return;
			} else {
				if ((r = gvd_ready(c)))
					gv_resp_out_error(&r->reply,
							  "ERR syntax error");
				return;
			}
		}
		if ((r = gvd_req_new(c, C_SET, 1))) {
			key_sub(d, &r->subs[0], OP_SET, &av[1], &av[2]);
			r->subs[0].setmode = (uint8_t)mode;
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "del") || !strcmp(name, "unlink") ||
		   !strcmp(name, "exists")) {
		if (ac < 2)
			return wrong_args(c, name);
		bool del = name[0] != 'e';
		if ((r = gvd_req_new(c, C_SUM, (unsigned)(ac - 1)))) {
			for (size_t i = 1; i < ac; i++)
				key_sub(d, &r->subs[i - 1],
					del ? OP_DEL : OP_EXISTS, &av[i], NULL);
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "mget")) {
		if (ac < 2)
			return wrong_args(c, "mget");
		if ((r = gvd_req_new(c, C_MGET, (unsigned)(ac - 1)))) {
			for (size_t i = 1; i < ac; i++)
				key_sub(d, &r->subs[i - 1], OP_GET, &av[i],
					NULL);
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "mset")) {
		if (ac < 3 || (ac - 1) % 2)
			return wrong_args(c, "mset");
		if ((r = gvd_req_new(c, C_OK, (unsigned)((ac - 1) / 2)))) {
			for (size_t i = 1; i + 1 < ac; i += 2)
				key_sub(d, &r->subs[(i - 1) / 2], OP_SET,
					&av[i], &av[i + 1]);
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "dbsize")) {
		if ((r = gvd_req_new(c, C_SUM, d->k))) {
			all_shards(d, r, OP_COUNT);
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "scan")) {
		uint64_t cursor, count = 10;
		if (ac < 2 || !arg_u64(&av[1], &cursor)) {
			if ((r = gvd_ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR invalid cursor");
			return;
		}
		char *pattern = NULL;
		for (size_t i = 2; i < ac; i++) {
			if (arg_is(&av[i], "count") && i + 1 < ac &&
			    arg_u64(&av[i + 1], &count) && count > 0) {
				i++;
			} else if (arg_is(&av[i], "match") && i + 1 < ac) {
				free(pattern);
				pattern = calloc(1, av[i + 1].len + 1);
				if (pattern)
					memcpy(pattern, av[i + 1].ptr,
					       av[i + 1].len);
				i++;
			} else {
				free(pattern);
				if ((r = gvd_ready(c)))
					gv_resp_out_error(&r->reply,
							  "ERR syntax error");
				return;
			}
		}
		uint64_t sh = cursor % d->k, leaf = cursor / d->k;
		if (leaf >= 65536) {
			free(pattern);
			if ((r = gvd_ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR invalid cursor");
			return;
		}
		if ((r = gvd_req_new(c, C_SCAN, 1))) {
			r->subs[0].op = OP_SCAN;
			r->subs[0].shard = (uint16_t)sh;
			r->subs[0].cursor = leaf;
			r->subs[0].count = count > 100000 ? 100000 : count;
			r->pattern = pattern;
			r->subs[0].pattern = pattern;
			r->scan_shard = sh;
			gvd_dispatch(d, r);
		} else {
			free(pattern);
		}
	} else if (!strcmp(name, "info")) {
		if ((r = gvd_ready(c))) {
			gv_resp_buf b;
			gv_resp_buf_init(&b, gv_mem_libc(), 0);
			char sec[32] = "";
			if (ac > 1) {
				size_t l = av[1].len < 31 ? av[1].len : 31;
				for (size_t i = 0; i < l; i++)
					sec[i] = (char)tolower(
						(unsigned char)av[1].ptr[i]);
				sec[l] = 0;
			}
			gvd_info_text(d, &b, sec);
			gv_resp_out_bulk(&r->reply, gv_resp_buf_data(&b),
					 gv_resp_buf_pending(&b));
			gv_resp_buf_fini(&b);
		}
	} else if (!strcmp(name, "command")) {
		/* minimal: clients probe it at connect time */
		if ((r = gvd_ready(c))) {
			if (ac > 1 && arg_is(&av[1], "count"))
				gv_resp_out_int(&r->reply, 17);
			else
				gv_resp_out_array(&r->reply, 0);
		}
	} else if (!strcmp(name, "gv.keys")) {
		keys_command(d, c, av, ac);
	} else if (!strcmp(name, "gv.members")) {
		if ((r = gvd_req_new(c, C_RAW, 1))) {
			r->subs[0].op = OP_MEMBERS;
			r->subs[0].shard = 0;
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "gv.conflicts")) {
		uint64_t n = 10;
		if (ac > 2 || (ac == 2 && (!arg_u64(&av[1], &n) || n == 0 ||
					   n > 100000))) {
			if ((r = gvd_ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR usage: GV.CONFLICTS "
						  "[count 1..100000]");
			return;
		}
		if ((r = gvd_req_new(c, C_RAW, d->k))) {
			all_shards(d, r, OP_CONFLICTS);
			for (unsigned i = 0; i < d->k; i++)
				r->subs[i].count = n;
			r->scan_shard = n; /* cap of the merged reply */
			gvd_dispatch(d, r);
		}
	} else if (!strcmp(name, "gv.stats")) {
		if ((r = gvd_ready(c)))
			gvd_stats_array(d, &r->reply);
	} else if (!strcmp(name, "gv.watch")) {
		if (ac != 2)
			return wrong_args(c, "gv.watch");
		if ((r = gvd_req_new(c, C_WATCH, 1))) {
			key_sub(d, &r->subs[0], OP_WATCH, &av[1], NULL);
			gvd_dispatch(d, r);
		}
	} else {
		if ((r = gvd_ready(c))) {
			char q[40];
			size_t l = av[0].len < 32 ? av[0].len : 32;
			memcpy(q, av[0].ptr, l);
			q[l] = 0;
			gv_resp_out_errorf(&r->reply,
					   "ERR unknown command '%s'", q);
		}
	}
}

/*
 * GV.KEYS LIST | INSTALL KEY | USE KEY|ID | REMOVE KEY|ID: the cluster's
 * keyring (gvctl keys). KEY is 64 hex digits or base64, ID the key's 8
 * hex digits as LIST shows them. Changes go to shard 0, which owns the
 * membership, and travel to the cluster as gossip.
 */
static void
keys_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	int op = -1;
	if (ac == 2 && arg_is(&av[1], "list"))
		op = 0;
	else if (ac == 3 && arg_is(&av[1], "install"))
		op = GV_KEYOP_INSTALL;
	else if (ac == 3 && arg_is(&av[1], "use"))
		op = GV_KEYOP_USE;
	else if (ac == 3 && arg_is(&av[1], "remove"))
		op = GV_KEYOP_REMOVE;
	if (op < 0) {
		if ((r = gvd_ready(c)))
			gv_resp_out_error(&r->reply,
					  "ERR usage: GV.KEYS LIST | INSTALL "
					  "KEY | USE KEY|ID | REMOVE KEY|ID");
		return;
	}
	if (!d->keyring) {
		if ((r = gvd_ready(c)))
			gv_resp_out_error(&r->reply,
					  "ERR no keyring: this node's gossip "
					  "runs in the clear (start it with "
					  "--keyring FILE)");
		return;
	}
	uint8_t key[GV_KEY_LEN];
	uint32_t id = 0;
	bool have_key = false;
	if (op) {
		const char *t = av[2].ptr;
		if (gv_key_parse(t, av[2].len, key) == 0) {
			have_key = true;
			id = gv_key_id(key);
		} else if (op == GV_KEYOP_INSTALL ||
			   gv_key_id_parse(t, av[2].len, &id)) {
			if ((r = gvd_ready(c)))
				gv_resp_out_error(
					&r->reply,
					op == GV_KEYOP_INSTALL
						? "ERR not a key: 32 bytes as "
						  "64 hex digits or base64"
						: "ERR not a key (64 hex digits "
						  "or base64) or a key id (8 "
						  "hex digits)");
			return;
		}
	}
	if ((r = gvd_req_new(c, C_RAW, 1))) {
		struct sub *s = &r->subs[0];
		s->op = OP_KEYS;
		s->shard = 0;
		s->setmode = (uint8_t)op;
		s->ival = id;
		if (have_key && op == GV_KEYOP_INSTALL) {
			s->val = dupmem(key, GV_KEY_LEN);
			s->vlen = GV_KEY_LEN;
		}
		gvd_dispatch(d, r);
	}
	explicit_bzero(key, sizeof(key));
}
