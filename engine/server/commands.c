/* SPDX-License-Identifier: MIT */
/*
 * commands.c - a parsed RESP command turned into a req: gvd_command looks
 * it up in the command table (commands.h, cmd_table.c) and checks its
 * arity, the one place that does; then its handler here answers at once
 * (PING, INFO, errors...) or splits it into subs sent to the shards that
 * own the keys (GET, SET, MGET, SCAN, GV.KEYS...). Runs on the front
 * end's thread; the reply is encoded by frontend.c when every sub is back.
 */
#define _GNU_SOURCE
#include "server/commands.h"
#include "server/persist.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <xxhash.h>

#include "core/counter.h"

/* A ready reply: an error or an immediate answer. */
struct req *
gvd_ready(struct client *c)
{
	return gvd_req_new(c, C_READY, 0);
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
	s->shard = (uint16_t)gvd_shard_of(d, k->ptr, k->len);
	if (v) {
		s->val = dupmem(v->ptr, v->len);
		s->vlen = v->len;
	}
}

void
gvd_all_shards(struct req *r, int op)
{
	for (unsigned i = 0; i < r->nsubs; i++) {
		r->subs[i].op = (uint8_t)op;
		r->subs[i].shard = (uint16_t)i;
	}
}

void
gvd_error_reply(struct client *c, const char *msg)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_error(&r->reply, msg);
}

void
gvd_help_reply(struct client *c, const char *const *lines)
{
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	size_t n = 0;
	while (lines[n])
		n++;
	gv_resp_out_array(&r->reply, n);
	for (size_t i = 0; i < n; i++)
		gv_resp_out_simple(&r->reply, lines[i]);
}

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

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Redis 7's text for a name not in the table: the name and the first
 * arguments quoted, each cut at 128 bytes and at a NUL (Redis formats
 * them as C strings), arguments added while those so far are under 128
 * bytes, each cut to what is left of the 128.
 */
static void
unknown_command(struct client *c, const gv_resp_arg *av, size_t ac)
{
	char args[128 + 3];
	size_t n = 0;
	for (size_t i = 1; i < ac && n < 128; i++) {
		size_t l = strnlen(av[i].ptr, min_size(av[i].len, 128 - n));
		args[n++] = '\'';
		memcpy(args + n, av[i].ptr, l);
		n += l;
		args[n++] = '\'';
		args[n++] = ' ';
	}
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_errorf(
			&r->reply,
			"ERR unknown command '%.*s', with args beginning "
			"with: %.*s",
			(int)strnlen(av[0].ptr, min_size(av[0].len, 128)),
			av[0].ptr, (int)n, args);
}

/* Redis 7's text for a container's subcommand not in its table. */
static void
unknown_subcommand(struct client *c, const struct gvd_cmd *cmd,
		   const gv_resp_arg *sub)
{
	char up[32];
	size_t n = min_size(strlen(cmd->name), sizeof(up) - 1);
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)cmd->name[i]);
	up[n] = 0;
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_errorf(&r->reply,
				   "ERR unknown subcommand '%.*s'. Try %s "
				   "HELP.",
				   (int)strnlen(sub->ptr,
						min_size(sub->len, 128)),
				   sub->ptr, up);
}

/*
 * One parsed command: its row in the command table (its subcommand's, for
 * a container given one), the one arity check, the password check (after
 * those, as in Redis: an unknown command says so even before AUTH), then
 * the row's handler.
 */
static void
run_command(gv_daemon *d, struct client *c, const struct gvd_cmd *cmd,
	    gv_resp_arg *av, size_t ac)
{
	if (cmd && cmd->subs && ac > 1) {
		const struct gvd_cmd *sub = gvd_cmd_find(
			cmd->subs, cmd->nsubs, av[1].ptr, av[1].len);
		if (!sub) {
			c->dirty |= c->multi;
			return unknown_subcommand(c, cmd, &av[1]);
		}
		cmd = sub;
	}
	if (!cmd) {
		c->dirty |= c->multi; /* a refused command aborts the EXEC */
		return unknown_command(c, av, ac);
	}
	c->last_cmd = cmd->name;
	if (cmd->arity >= 0 ? ac != (size_t)cmd->arity
			    : ac < (size_t)-cmd->arity) {
		if (c->multi && !strcmp(cmd->name, "exec")) {
			/* Redis ends the transaction here, saying why */
			gvd_multi_reset(c);
			d->exec_aborts++;
			struct req *r = gvd_ready(c);
			if (r)
				gv_resp_out_error(
					&r->reply,
					"EXECABORT Transaction discarded "
					"because of: wrong number of "
					"arguments for 'exec' command");
			return;
		}
		c->dirty |= c->multi;
		return wrong_args(c, cmd->name);
	}
	/* requirepass set and this client not past AUTH: only the rows
	 * Redis marks no_auth (AUTH, HELLO, QUIT, RESET) run. GV.* too:
	 * they are admin commands of the same server. */
	if (!c->authed && d->cfg.requirepass[0] && !(cmd->flags & CMD_NO_AUTH))
		return gvd_error_reply(c, "NOAUTH Authentication required.");
	/* appendfsync always and a disk that refuses the log: a write
	 * would be acknowledged without being on disk; refused as Redis
	 * refuses writes after a failed AOF write */
	if ((cmd->flags & CMD_WRITE) && d->persist) {
		const char *why = gvd_persist_refuse(d);
		if (why) {
			c->dirty |= c->multi;
			struct req *r = gvd_ready(c);
			if (r)
				gv_resp_out_errorf(&r->reply,
						   "MISCONF Errors writing to "
						   "the AOF file: %s",
						   why);
			return;
		}
	}
	if (c->multi && gvd_multi_intercept(d, c, cmd, av, ac))
		return;
	cmd->fn(d, c, av, ac);
}

void
gvd_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	gvd_command_row(d, c, gvd_cmd_find(gvd_cmds, gvd_ncmds, av[0].ptr,
					   av[0].len),
			av, ac);
}

void
gvd_command_row(gv_daemon *d, struct client *c, const struct gvd_cmd *cmd,
		gv_resp_arg *av, size_t ac)
{
	gvd_tinc(&gvd_ts->commands);
	c->last = gvd_mono_s();
	run_command(d, c, cmd, av, ac);
	/* CLIENT REPLY SKIP silences the one command after it, whatever
	 * that command is (an error too), as in Redis's resetClient */
	c->skip_this = c->skip_next;
	c->skip_next = false;
}

/* ---------------------------------------------------------- handlers */

void
gvd_cmd_ping(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d;
	struct req *r;
	if (ac > 2) /* arity -1, but one message at most: Redis's check too */
		return wrong_args(c, "ping");
	if ((r = gvd_ready(c))) {
		if (ac == 2)
			gv_resp_out_bulk(&r->reply, av[1].ptr, av[1].len);
		else
			gv_resp_out_simple(&r->reply, "PONG");
	}
}

void
gvd_cmd_echo(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)ac;
	struct req *r;
	if ((r = gvd_ready(c)))
		gv_resp_out_bulk(&r->reply, av[1].ptr, av[1].len);
}

void
gvd_cmd_quit(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct req *r;
	if ((r = gvd_ready(c)))
		gv_resp_out_ok(&r->reply);
	c->closing = true;
}

/* One sub per key, av[1..ac), combined by @combine: GET (one key), MGET,
 * DEL, UNLINK, EXISTS, GV.WATCH. */
static void
per_key(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
	int combine, int op)
{
	struct req *r;
	if ((r = gvd_req_new(c, combine, (unsigned)(ac - 1)))) {
		for (size_t i = 1; i < ac; i++)
			key_sub(d, &r->subs[i - 1], op, &av[i], NULL);
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_get(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	per_key(d, c, av, ac, C_BULK, OP_GET);
}

/* DEL and UNLINK (the same here) and EXISTS: their integers summed. */
void
gvd_cmd_del(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	per_key(d, c, av, ac, C_SUM, OP_DEL);
}

void
gvd_cmd_exists(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	per_key(d, c, av, ac, C_SUM, OP_EXISTS);
}

void
gvd_cmd_mget(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	per_key(d, c, av, ac, C_MGET, OP_GET);
}

void
gvd_cmd_mset(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	if ((ac - 1) % 2) /* Redis's text too: arity -3 cannot say "pairs" */
		return wrong_args(c, "mset");
	if ((r = gvd_req_new(c, C_OK, (unsigned)((ac - 1) / 2)))) {
		for (size_t i = 1; i + 1 < ac; i += 2)
			key_sub(d, &r->subs[(i - 1) / 2], OP_SET, &av[i],
				&av[i + 1]);
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_dbsize(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	struct req *r;
	if ((r = gvd_req_new(c, C_SUM, d->k))) {
		gvd_all_shards(r, OP_COUNT);
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_scan(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	uint64_t cursor, count = 10;
	if (!arg_u64(&av[1], &cursor))
		return gvd_error_reply(c, "ERR invalid cursor");
	char *pattern = NULL;
	uint8_t type = 0; /* TYPE: 1 string, 2 hash, 3 a kind none has */
	for (size_t i = 2; i < ac; i++) {
		if (gvd_arg_is(&av[i], "count") && i + 1 < ac) {
			int64_t n;
			if (!gv_parse_i64(av[i + 1].ptr, av[i + 1].len, &n)) {
				free(pattern);
				return gvd_error_reply(c, "ERR value is not an "
						      "integer or out of "
						      "range");
			}
			if (n < 1) {
				free(pattern);
				return gvd_error_reply(c, "ERR syntax error");
			}
			count = (uint64_t)n;
			i++;
		} else if (gvd_arg_is(&av[i], "type") && i + 1 < ac) {
			/* strings (counters too) and hashes */
			type = gvd_arg_is(&av[i + 1], "string") ? 1
			       : gvd_arg_is(&av[i + 1], "hash") ? 2
								: 3;
			i++;
		} else if (gvd_arg_is(&av[i], "match") && i + 1 < ac) {
			free(pattern);
			pattern = calloc(1, av[i + 1].len + 1);
			if (pattern)
				memcpy(pattern, av[i + 1].ptr, av[i + 1].len);
			i++;
		} else {
			free(pattern);
			return gvd_error_reply(c, "ERR syntax error");
		}
	}
	uint64_t sh = cursor % d->k, leaf = cursor / d->k;
	if (leaf >= 65536) {
		free(pattern);
		return gvd_error_reply(c, "ERR invalid cursor");
	}
	if ((r = gvd_req_new(c, C_SCAN, 1))) {
		r->subs[0].op = OP_SCAN;
		r->subs[0].shard = (uint16_t)sh;
		r->subs[0].cursor = leaf;
		r->subs[0].count = count > 100000 ? 100000 : count;
		r->pattern = pattern;
		r->subs[0].pattern = pattern;
		r->subs[0].setmode = type; /* in: which kind to list */
		r->scan_shard = sh;
		gvd_dispatch(d, r);
	} else {
		free(pattern);
	}
}

void
gvd_cmd_info(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	/* INFO [section ...]: the names lowercased; one longer than any
	 * section's name matches none, as in Redis */
	enum { MAXSEC = 32 };
	char names[MAXSEC][16];
	const char *secs[MAXSEC];
	size_t n = 0;
	for (size_t i = 1; i < ac && n < MAXSEC; i++) {
		size_t l = av[i].len < 15 ? av[i].len : 15;
		for (size_t j = 0; j < l; j++)
			names[n][j] = (char)tolower((unsigned char)av[i].ptr[j]);
		names[n][l] = 0;
		if (av[i].len > 15 || memchr(av[i].ptr, 0, av[i].len))
			names[n][0] = '?';
		secs[n] = names[n];
		n++;
	}
	if ((r = gvd_ready(c))) {
		gv_resp_buf b;
		gv_resp_buf_init(&b, gv_mem_libc(), 0);
		gvd_info_text(d, &b, secs, n);
		/* a verbatim string in RESP3, as Redis sends it */
		gv_resp_out_verbatim(&r->reply, "txt", gv_resp_buf_data(&b),
				     gv_resp_buf_pending(&b));
		gv_resp_buf_fini(&b);
	}
}

void
gvd_cmd_gv_members(gv_daemon *d, struct client *c, gv_resp_arg *av,
		   size_t ac)
{
	(void)av, (void)ac;
	struct req *r;
	if ((r = gvd_req_new(c, C_RAW, 1))) {
		r->subs[0].op = OP_MEMBERS;
		r->subs[0].shard = 0;
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_gv_conflicts(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	struct req *r;
	uint64_t n = 10;
	if (ac > 2 ||
	    (ac == 2 && (!arg_u64(&av[1], &n) || n == 0 || n > 100000)))
		return gvd_error_reply(c, "ERR usage: GV.CONFLICTS "
				      "[count 1..100000]");
	if ((r = gvd_req_new(c, C_RAW, d->k))) {
		gvd_all_shards(r, OP_CONFLICTS);
		for (unsigned i = 0; i < d->k; i++)
			r->subs[i].count = n;
		r->scan_shard = n; /* cap of the merged reply */
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_gv_stats(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	struct req *r;
	if ((r = gvd_ready(c)))
		gvd_stats_array(d, &r->reply);
}

void
gvd_cmd_gv_watch(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	per_key(d, c, av, ac, C_WATCH, OP_WATCH);
}

/*
 * GV.KEYS LIST | INSTALL KEY | USE KEY|ID | REMOVE KEY|ID: the cluster's
 * keyring (gvctl keys). KEY is 64 hex digits or base64, ID the key's 8
 * hex digits as LIST shows them. Changes go to shard 0, which owns the
 * membership, and travel to the cluster as gossip.
 */
void
gvd_cmd_gv_keys(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	int op = -1;
	if (ac == 2 && gvd_arg_is(&av[1], "list"))
		op = 0;
	else if (ac == 3 && gvd_arg_is(&av[1], "install"))
		op = GV_KEYOP_INSTALL;
	else if (ac == 3 && gvd_arg_is(&av[1], "use"))
		op = GV_KEYOP_USE;
	else if (ac == 3 && gvd_arg_is(&av[1], "remove"))
		op = GV_KEYOP_REMOVE;
	if (op < 0)
		return gvd_error_reply(c, "ERR usage: GV.KEYS LIST | INSTALL "
				      "KEY | USE KEY|ID | REMOVE KEY|ID");
	if (!d->keyring)
		return gvd_error_reply(c, "ERR no keyring: this node's gossip "
				      "runs in the clear (start it with "
				      "--keyring FILE)");
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
			return gvd_error_reply(
				c, op == GV_KEYOP_INSTALL
					   ? "ERR not a key: 32 bytes as 64 "
					     "hex digits or base64"
					   : "ERR not a key (64 hex digits or "
					     "base64) or a key id (8 hex "
					     "digits)");
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
