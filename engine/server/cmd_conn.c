/* SPDX-License-Identifier: MIT */
/*
 * cmd_conn.c - the connection's own commands, answered on the front end
 * as Redis 7 answers them (same reply types, same error texts): HELLO
 * (the RESP version, authentication and name in one), AUTH, CLIENT and
 * its subcommands, SELECT (database 0 only), RESET, TIME and LASTSAVE.
 * They change or report the struct client's connection state, which is
 * the front end's alone, so none of them goes to a shard.
 *
 * The password (--requirepass, CONFIG SET requirepass) is compared in
 * constant time: both sides are hashed (BLAKE2b) and the digests compared
 * with sodium_memcmp, so neither the length nor the first differing byte
 * shows in the timing. It is never logged.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "server/log.h"

/* ----------------------------------------------------------- helpers */

int64_t
gvd_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

/* What CONFIG GET maxclients and INFO say: the clients this process's
 * descriptor limit leaves room for (Redis's own adjustment: 32 kept for
 * itself), at most Redis's default 10000. grapevined does not refuse a
 * client at that count; the kernel's limit is what stops it. */
unsigned
gvd_maxclients(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 10000 + 32)
		return 10000;
	return rl.rlim_cur > 32 ? (unsigned)(rl.rlim_cur - 32) : 1;
}

bool
gvd_auth_ok(const gv_daemon *d, const char *user, size_t ulen, const char *pass,
            size_t plen)
{
	/* one user, Redis's "default" (user names are case-sensitive) */
	if (ulen != 7 || memcmp(user, "default", 7))
		return false;
	const char *want = d->cfg.requirepass;
	if (!want[0])
		return true; /* "nopass": Redis takes any password then */
	unsigned char a[32], b[32];
	crypto_generichash(a, sizeof(a), (const unsigned char *)pass, plen,
	                   NULL, 0);
	crypto_generichash(b, sizeof(b), (const unsigned char *)want,
	                   strlen(want), NULL, 0);
	bool ok = sodium_memcmp(a, b, sizeof(a)) == 0;
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	return ok;
}

/* Redis's string2ll: an optional '-', no '+', no leading zeros or
 * blanks, within int64. */
static bool
arg_ll(const gv_resp_arg *a, long long *out)
{
	const char *p = a->ptr;
	size_t n = a->len, i = 0;
	bool neg = false;
	if (n == 0 || n > 20)
		return false;
	if (n == 1 && p[0] == '0') {
		*out = 0;
		return true;
	}
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i >= n || p[i] < '1' || p[i] > '9')
		return false;
	unsigned long long v = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (ULLONG_MAX - (unsigned)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (neg ? v > (unsigned long long)LLONG_MAX + 1 : v > LLONG_MAX)
		return false;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

static void
reply_error(struct client *c, const char *msg)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_error(&r->reply, msg);
}

static void
reply_ok(struct client *c)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_ok(&r->reply);
}

static void
reply_int(struct client *c, int64_t v)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_int(&r->reply, v);
}

/* A reply nobody gets (CLIENT REPLY OFF and SKIP answer nothing): it
 * keeps the command's place in the client's queue. */
static void
reply_none(struct client *c)
{
	struct req *r = gvd_ready(c);
	if (r)
		r->noreply = true;
}

/* Redis's validateClientAttr: printable ASCII without spaces, so that a
 * CLIENT LIST line still splits at its spaces. */
static bool
attr_ok(const gv_resp_arg *a)
{
	for (size_t i = 0; i < a->len; i++)
		if (a->ptr[i] < '!' || a->ptr[i] > '~')
			return false;
	return true;
}

/* Set *dst to a copy of @a ("" clears it). */
static int
set_attr(char **dst, const gv_resp_arg *a)
{
	char *v = NULL;
	if (a->len) {
		v = strndup(a->ptr, a->len); /* attr_ok: no NUL inside */
		if (!v)
			return GV_ENOMEM;
	}
	free(*dst);
	*dst = v;
	return 0;
}

/* CLIENT SETNAME's and HELLO SETNAME's check; false with the error
 * replied. */
static bool
set_name(struct client *c, const gv_resp_arg *a)
{
	if (!attr_ok(a)) {
		reply_error(c, "ERR Client names cannot contain spaces, "
		               "newlines or special characters.");
		return false;
	}
	if (set_attr(&c->name, a)) {
		reply_error(c, "ERR out of memory");
		return false;
	}
	return true;
}

/* The connection back as a new one gets it (RESET, and no password
 * check passed yet if one is set). */
static void
reset_client(gv_daemon *d, struct client *c)
{
	c->proto = 2;
	free(c->name);
	c->name = NULL;
	c->authed = !d->cfg.requirepass[0];
	c->reply_off = false;
	c->skip_next = false;
	c->no_evict = false;
	c->no_touch = false;
	gvd_multi_reset(c); /* RESET ends MULTI and every WATCH */
}

/* -------------------------------------------------------- HELLO, AUTH */

/* Redis 7's HELLO map: 7 pairs (HELLO 3 reads it as a map, HELLO 2 as
 * the flat array). */
static void
hello_reply(struct req *r, const struct client *c)
{
	gv_resp_buf *b = &r->reply;
	gv_resp_out_map(b, 7);
	gv_resp_out_bulk_str(b, "server");
	gv_resp_out_bulk_str(b, "redis");
	gv_resp_out_bulk_str(b, "version");
	gv_resp_out_bulk_str(b, GVD_REDIS_VERSION);
	gv_resp_out_bulk_str(b, "proto");
	gv_resp_out_int(b, c->proto);
	gv_resp_out_bulk_str(b, "id");
	gv_resp_out_int(b, (int64_t)c->id);
	gv_resp_out_bulk_str(b, "mode");
	gv_resp_out_bulk_str(b, "standalone");
	gv_resp_out_bulk_str(b, "role");
	gv_resp_out_bulk_str(b, "master");
	gv_resp_out_bulk_str(b, "modules");
	gv_resp_out_array(b, 0);
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]], in
 * Redis 7.0's order of checks: the version, the options' syntax, the
 * password, "authenticated?", the name; only then the new protocol. */
void
gvd_cmd_hello(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	long long ver = 0;
	if (ac >= 2) {
		if (!arg_ll(&av[1], &ver))
			return reply_error(c, "ERR Protocol version is not an "
			                      "integer or out of range");
		if (ver < 2 || ver > 3)
			return reply_error(c, "NOPROTO unsupported protocol "
			                      "version");
	}
	const gv_resp_arg *user = NULL, *pass = NULL, *name = NULL;
	for (size_t j = 2; j < ac; j++) {
		size_t more = ac - 1 - j;
		if (gvd_arg_is(&av[j], "auth") && more >= 2) {
			user = &av[j + 1];
			pass = &av[j + 2];
			j += 2;
		} else if (gvd_arg_is(&av[j], "setname") && more) {
			name = &av[++j];
		} else {
			struct req *r = gvd_ready(c);
			if (r)
				gv_resp_out_errorf(
				        &r->reply,
				        "ERR Syntax error in HELLO option "
				        "'%.*s'",
				        (int)strnlen(av[j].ptr,
				                     av[j].len < 128 ? av[j].len
				                                     : 128),
				        av[j].ptr);
			return;
		}
	}
	if (user) {
		if (!gvd_auth_ok(d, user->ptr, user->len, pass->ptr, pass->len))
			return reply_error(c, "WRONGPASS invalid "
			                      "username-password pair or user "
			                      "is disabled.");
		c->authed = true;
	}
	if (d->cfg.requirepass[0] && !c->authed)
		return reply_error(
		        c, "NOAUTH HELLO must be called with the client "
		           "already authenticated, otherwise the HELLO AUTH "
		           "<user> <pass> option can be used to authenticate "
		           "the client and select the RESP protocol version "
		           "at the same time");
	if (name && !set_name(c, name))
		return;
	if (ver)
		c->proto = (uint8_t)ver; /* this reply is in it already */
	struct req *r = gvd_ready(c);
	if (r)
		hello_reply(r, c);
}

/* AUTH [username] password. */
void
gvd_cmd_auth(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	if (ac > 3)
		return reply_error(c, "ERR syntax error");
	const gv_resp_arg def = {.ptr = "default", .len = 7};
	const gv_resp_arg *user = ac == 3 ? &av[1] : &def;
	const gv_resp_arg *pass = ac == 3 ? &av[2] : &av[1];
	if (ac == 2 && !d->cfg.requirepass[0])
		return reply_error(c, "ERR AUTH <password> called without any "
		                      "password configured for the default "
		                      "user. Are you sure your configuration "
		                      "is correct?");
	if (!gvd_auth_ok(d, user->ptr, user->len, pass->ptr, pass->len)) {
		/* at debug level (a client guessing must not flood the
		 * log), and never with the password */
		gv_log(GV_LOG_DEBUG, "AUTH failed", "id=%llu addr=%s",
		       (unsigned long long)c->id, c->addr);
		return reply_error(c, "WRONGPASS invalid username-password "
		                      "pair or user is disabled.");
	}
	c->authed = true;
	reply_ok(c);
}

/* ------------------------------------------------ SELECT, RESET, TIME */

void
gvd_cmd_select(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)ac;
	long long id;
	if (!arg_ll(&av[1], &id))
		return reply_error(c, "ERR value is not an integer or out of "
		                      "range");
	if (id < INT_MIN || id > INT_MAX) /* Redis's words, "must between" */
		return reply_error(c, "ERR value is out of range, value must "
		                      "between -2147483648 and 2147483647");
	if (id != 0) /* one keyspace: databases is 1 */
		return reply_error(c, "ERR DB index is out of range");
	reply_ok(c);
}

void
gvd_cmd_reset(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	reset_client(d, c);
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_simple(&r->reply, "RESET");
}

void
gvd_cmd_time(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	gv_resp_out_array(&r->reply, 2);
	gv_resp_out_bulkf(&r->reply, "%lld", (long long)ts.tv_sec);
	gv_resp_out_bulkf(&r->reply, "%ld", ts.tv_nsec / 1000);
}


/* ------------------------------------------------------------ CLIENT */

/* One CLIENT LIST / CLIENT INFO line, Redis 7.0's fields in its order
 * with 7.2's lib-name and lib-ver at the end. What grapevine does not
 * have (pub/sub, MULTI, tracking) reads as Redis shows it unused. */
void
gvd_client_info_line(gv_daemon *d, const struct client *c, gv_resp_buf *b)
{
	(void)d;
	int64_t now = gvd_mono_s();
	char flags[8];
	size_t nf = 0;
	/* a worker serves it (fastpath.c): its buffers are that thread's,
	 * shown empty; what it does is its idle time and last command */
	bool h = c->home != NULL;
	if ((!h && c->closing) || c->killed)
		flags[nf++] = 'A'; /* close as soon as possible */
	if (c->no_evict)
		flags[nf++] = 'e';
	if (c->no_touch)
		flags[nf++] = 'T';
	if (!nf)
		flags[nf++] = 'N';
	flags[nf] = 0;
	size_t omem = h ? 0 : gv_resp_buf_pending(&c->out);
	size_t qbuf = h ? 0 : c->inlen, qcap = h ? 0 : c->incap;
	size_t ocap = h ? 0 : c->out.cap;
	const char *cmd = c->last_cmd;
	const char *name = c->name ? c->name : "";
	const char *ln = c->lib_name ? c->lib_name : "";
	const char *lv = c->lib_ver ? c->lib_ver : "";
	/* the fixed fields fit in 1024; the names are as long as given */
	size_t cap = 1024 + strlen(name) + strlen(ln) + strlen(lv);
	char *line = malloc(cap);
	if (!line) {
		if (!b->err)
			b->err = GV_ENOMEM; /* latched: no reply with a hole */
		return;
	}
	int n = snprintf(
	        line, cap,
	        "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld "
	        "flags=%s db=0 sub=0 psub=0 ssub=0 multi=%d qbuf=%zu "
	        "qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=%zu obl=0 "
	        "oll=0 omem=%zu tot-mem=%zu events=%s cmd=%s user=default "
	        "redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
	        (unsigned long long)c->id, c->addr, c->laddr, c->fd_shown,
	        name, (long long)(now - c->created),
	        (long long)(now - c->last), flags,
	        c->multi ? (int)c->nmq : -1, qbuf, qcap - qbuf, qcap, qbuf,
	        omem, sizeof(*c) + qcap + ocap,
	        h ? "r"
	          : c->paused ? (c->want_out ? "w" : "")
	                      : (c->want_out ? "rw" : "r"),
	        cmd ? cmd : "NULL", c->proto, ln, lv);
	if (n > 0)
		gv_resp_buf_append(b, line,
		                   (size_t)n < cap ? (size_t)n : cap - 1);
	free(line);
}

void
gvd_cmd_client_id(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	reply_int(c, (int64_t)c->id);
}

void
gvd_cmd_client_getname(gv_daemon *d, struct client *c, gv_resp_arg *av,
                       size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	if (c->name)
		gv_resp_out_bulk_str(&r->reply, c->name);
	else
		gv_resp_out_null(&r->reply);
}

void
gvd_cmd_client_setname(gv_daemon *d, struct client *c, gv_resp_arg *av,
                       size_t ac)
{
	(void)d, (void)ac;
	if (set_name(c, &av[2]))
		reply_ok(c);
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2; clients send it on
 * connect and ignore an error, but answering it is better). */
void
gvd_cmd_client_setinfo(gv_daemon *d, struct client *c, gv_resp_arg *av,
                       size_t ac)
{
	(void)d, (void)ac;
	char **dst = gvd_arg_is(&av[2], "lib-name")  ? &c->lib_name
	             : gvd_arg_is(&av[2], "lib-ver") ? &c->lib_ver
	                                         : NULL;
	struct req *r;
	int an = (int)strnlen(av[2].ptr, av[2].len < 128 ? av[2].len : 128);
	if (!dst) {
		if ((r = gvd_ready(c)))
			gv_resp_out_errorf(&r->reply,
			                   "ERR Unrecognized option '%.*s'", an,
			                   av[2].ptr);
		return;
	}
	if (!attr_ok(&av[3])) {
		if ((r = gvd_ready(c)))
			gv_resp_out_errorf(&r->reply,
			                   "ERR %.*s cannot contain spaces, "
			                   "newlines or special characters.",
			                   an, av[2].ptr);
		return;
	}
	if (set_attr(dst, &av[3]))
		return reply_error(c, "ERR out of memory");
	reply_ok(c);
}

void
gvd_cmd_client_info(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	gv_resp_buf b;
	gv_resp_buf_init(&b, gv_mem_libc(), 0);
	gvd_client_info_line(d, c, &b);
	gv_resp_out_verbatim(&r->reply, "txt", gv_resp_buf_data(&b),
	                     gv_resp_buf_pending(&b));
	gv_resp_buf_fini(&b);
}

/* Redis's client types: every client here is "normal". Returns 1 for
 * normal, 0 for a type no client has, -1 for an unknown name. */
static int
client_type(const gv_resp_arg *a)
{
	if (gvd_arg_is(a, "normal"))
		return 1;
	if (gvd_arg_is(a, "master") || gvd_arg_is(a, "replica") || gvd_arg_is(a, "slave") ||
	    gvd_arg_is(a, "pubsub"))
		return 0;
	return -1;
}

static void
unknown_type(struct client *c, const gv_resp_arg *a)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_errorf(
		        &r->reply, "ERR Unknown client type '%.*s'",
		        (int)strnlen(a->ptr, a->len < 128 ? a->len : 128),
		        a->ptr);
}

/* CLIENT LIST [TYPE type | ID id [id ...]]: a line per client, oldest
 * first as Redis lists them. */
void
gvd_cmd_client_list(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	int type = 1;
	size_t ids = 0;
	if (ac == 4 && gvd_arg_is(&av[2], "type")) {
		if ((type = client_type(&av[3])) < 0)
			return unknown_type(c, &av[3]);
	} else if (ac > 3 && gvd_arg_is(&av[2], "id")) {
		for (size_t j = 3; j < ac; j++) {
			long long id;
			if (!arg_ll(&av[j], &id) || id < 1)
				return reply_error(c, "ERR Invalid client ID");
		}
		ids = ac - 3;
	} else if (ac != 2) {
		return reply_error(c, "ERR syntax error");
	}
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	gv_resp_buf b;
	gv_resp_buf_init(&b, gv_mem_libc(), 0);
	struct client *last = d->clients;
	while (last && last->next) /* d->clients is newest first */
		last = last->next;
	for (struct client *x = last; x && type; x = x->prev) {
		bool in = !ids;
		for (size_t j = 0; j < ids && !in; j++) {
			long long id;
			in = arg_ll(&av[3 + j], &id) && (uint64_t)id == x->id;
		}
		if (in)
			gvd_client_info_line(d, x, &b);
	}
	gv_resp_out_verbatim(&r->reply, "txt", gv_resp_buf_data(&b),
	                     gv_resp_buf_pending(&b));
	gv_resp_buf_fini(&b);
}

/* Close @x for CLIENT KILL: the caller itself after this reply (as
 * Redis's CLIENT_CLOSE_AFTER_REPLY), any other at the loop's tick. */
static void
kill_client(gv_daemon *d, struct client *c, struct client *x)
{
	if (x == c) {
		c->closing = true;
	} else {
		x->killed = true; /* closed at the tick; no more commands */
		if (!x->home) /* a worker's: closed by it (fastpath.c) */
			x->closing = true;
		d->kill_pending = true;
	}
}

/*
 * CLIENT KILL ip:port (the old form: OK or "No such client") or
 * CLIENT KILL <filter value> ... with ID, ADDR, LADDR, TYPE, USER and
 * SKIPME (yes by default): the number of clients killed.
 */
void
gvd_cmd_client_kill(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	const gv_resp_arg *addr = NULL, *laddr = NULL;
	long long id = 0;
	int type = 1;
	bool skipme = true;
	if (ac == 3) {
		addr = &av[2];
		skipme = false;
	} else if (ac > 3 && ac % 2 == 0) {
		for (size_t i = 2; i < ac; i += 2) {
			const gv_resp_arg *v = &av[i + 1];
			if (gvd_arg_is(&av[i], "id")) {
				if (!arg_ll(v, &id) || id < 1)
					return reply_error(
					        c, "ERR client-id should be "
					           "greater than 0");
			} else if (gvd_arg_is(&av[i], "type")) {
				if ((type = client_type(v)) < 0)
					return unknown_type(c, v);
			} else if (gvd_arg_is(&av[i], "addr")) {
				addr = v;
			} else if (gvd_arg_is(&av[i], "laddr")) {
				laddr = v;
			} else if (gvd_arg_is(&av[i], "user")) {
				if (v->len != 7 ||
				    memcmp(v->ptr, "default", 7)) {
					struct req *r = gvd_ready(c);
					if (r)
						gv_resp_out_errorf(
						        &r->reply,
						        "ERR No such user "
						        "'%.*s'",
						        (int)strnlen(
						                v->ptr,
						                v->len < 128
						                        ? v->len
						                        : 128),
						        v->ptr);
					return;
				}
			} else if (gvd_arg_is(&av[i], "skipme")) {
				if (gvd_arg_is(v, "yes"))
					skipme = true;
				else if (gvd_arg_is(v, "no"))
					skipme = false;
				else
					return reply_error(c, "ERR syntax "
					                      "error");
			} else {
				return reply_error(c, "ERR syntax error");
			}
		}
	} else {
		return reply_error(c, "ERR syntax error");
	}
	int64_t killed = 0;
	for (struct client *x = d->clients; x && type; x = x->next) {
		if (addr && (strlen(x->addr) != addr->len ||
		             memcmp(x->addr, addr->ptr, addr->len)))
			continue;
		if (laddr && (strlen(x->laddr) != laddr->len ||
		              memcmp(x->laddr, laddr->ptr, laddr->len)))
			continue;
		if (id && x->id != (uint64_t)id)
			continue;
		if (skipme && x == c)
			continue;
		if (x->killed || (!x->home && x->closing))
			continue; /* already going (QUIT, KILL): not again */
		kill_client(d, c, x);
		killed++;
	}
	if (ac == 3) {
		if (!killed)
			return reply_error(c, "ERR No such client");
		return reply_ok(c);
	}
	reply_int(c, killed);
}

/* CLIENT NO-EVICT ON|OFF, CLIENT NO-TOUCH ON|OFF: kept and shown in
 * CLIENT LIST's flags. grapevine evicts neither clients nor keys, and
 * keeps no access times, so both change nothing else. */
static void
client_onoff(struct client *c, const gv_resp_arg *a, bool *flag)
{
	if (gvd_arg_is(a, "on"))
		*flag = true;
	else if (gvd_arg_is(a, "off"))
		*flag = false;
	else
		return reply_error(c, "ERR syntax error");
	reply_ok(c);
}

void
gvd_cmd_client_no_evict(gv_daemon *d, struct client *c, gv_resp_arg *av,
                        size_t ac)
{
	(void)d, (void)ac;
	client_onoff(c, &av[2], &c->no_evict);
}

void
gvd_cmd_client_no_touch(gv_daemon *d, struct client *c, gv_resp_arg *av,
                        size_t ac)
{
	(void)d, (void)ac;
	client_onoff(c, &av[2], &c->no_touch);
}

/* CLIENT REPLY ON|OFF|SKIP: OFF and SKIP are themselves unanswered;
 * a silenced command still runs, in order, and its reply is dropped
 * (frontend.c flush_client). */
void
gvd_cmd_client_reply(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)ac;
	if (gvd_arg_is(&av[2], "on")) {
		c->reply_off = false;
		c->skip_next = false;
		return reply_ok(c);
	}
	if (gvd_arg_is(&av[2], "off")) {
		reply_none(c);
		c->reply_off = true;
		return;
	}
	if (gvd_arg_is(&av[2], "skip")) {
		reply_none(c);
		if (!c->reply_off)
			c->skip_next = true;
		return;
	}
	reply_error(c, "ERR syntax error");
}

/* CLIENT HELP: Redis 7.2's text for the subcommands grapevine has. */
void
gvd_cmd_client_help(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	static const char *const help[] = {
	        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands "
	        "are:",
	        "GETNAME",
	        "    Return the name of the current connection.",
	        "ID",
	        "    Return the ID of the current connection.",
	        "INFO",
	        "    Return information about the current client connection.",
	        "KILL <ip:port>",
	        "    Kill connection made from <ip:port>.",
	        "KILL <option> <value> [<option> <value> [...]]",
	        "    Kill connections. Options are:",
	        "    * ADDR (<ip:port>|<unixsocket>:0)",
	        "      Kill connections made from the specified address",
	        "    * LADDR (<ip:port>|<unixsocket>:0)",
	        "      Kill connections made to specified local address",
	        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	        "      Kill connections by type.",
	        "    * USER <username>",
	        "      Kill connections authenticated by <username>.",
	        "    * SKIPME (YES|NO)",
	        "      Skip killing current connection (default: yes).",
	        "    * ID <client-id>",
	        "      Kill connections by client id.",
	        "LIST [options ...]",
	        "    Return information about client connections. Options:",
	        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	        "      Return clients of specified type.",
	        "REPLY (ON|OFF|SKIP)",
	        "    Control the replies sent to the current connection.",
	        "SETNAME <name>",
	        "    Assign the name <name> to the current connection.",
	        "SETINFO <option> <value>",
	        "    Set client meta attr. Options are:",
	        "    * LIB-NAME: the client lib name.",
	        "    * LIB-VER: the client lib version.",
	        "NO-EVICT (ON|OFF)",
	        "    Protect current client connection from eviction.",
	        "NO-TOUCH (ON|OFF)",
	        "    Will not touch LRU/LFU stats when this mode is on.",
	        "HELP",
	        "    Prints this help.",
	        NULL};
	gvd_help_reply(c, help);
}
