/* SPDX-License-Identifier: MIT */
/*
 * gvctl.c - the operator's command-line client for grapevined. It speaks
 * RESP over TCP (blocking socket, connect/send/receive timeouts) and reads
 * replies with the RESP reply parser of engine/server/resp_parse.c. GET,
 * SET and DEL are the Redis commands, so they work against any Redis
 * server too.
 *
 * Exit status: 0 on success; 1 when the command fails (cannot connect, no
 * reply in time, an error reply, GET of a missing key); 2 on bad usage.
 *
 * The GV.* commands: the contract grapevined implements. Element types are
 * RESP2; "scalar" means a bulk string, simple string or integer (gvctl
 * prints any of them), "nil" the null bulk string.
 *
 *   GV.MEMBERS
 *     An array with one element per member, each an array of 5:
 *       [name, address, region, state, incarnation]
 *     name, address ("host:port"), region and state ("alive", "suspect",
 *     "dead", "left") are bulk strings; incarnation is an integer.
 *     gvctl prints them as an aligned table in the order received.
 *
 *   GV.STATS
 *     An array of alternating field and value, [f1, v1, f2, v2, ...];
 *     fields are bulk strings, values scalars; printed as "field: value"
 *     lines. A single bulk string is also accepted and printed as is.
 *
 *   GV.CONFLICTS <n>
 *     The n most recent write conflicts this node resolved, newest first:
 *     an array of arrays of 6:
 *       [key, winner_value, loser_value, winner_version, loser_version,
 *        at_ms]
 *     key and the values are bulk strings (a value is nil when that side
 *     was a delete); the versions are scalars, by convention the bulk
 *     string "<hlc>@<origin>" (hlc in decimal, origin node id as 16 hex
 *     digits); at_ms is an integer, Unix time in milliseconds when this
 *     node saw the conflict. n is 1 .. 100000; gvctl sends 10 by default.
 *
 *   GV.WATCH <key>
 *     An array of 3: [version, members_with_latest, members_total]
 *     version is the newest version of key this node knows (same text as
 *     in GV.CONFLICTS), nil if no member holds the key;
 *     members_with_latest is how many live members hold that version and
 *     members_total how many live members there are, both integers.
 *     gvctl polls it and prints
 *       "version <v>  <k>/<n> members (<pct>%)"
 *     per poll, pct rounded down, until Ctrl-C or --count polls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "server/resp.h"

#define DEFAULT_ADDR "127.0.0.1:6380"
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_INTERVAL_MS 500
#define DEFAULT_CONFLICTS 10
#define MAX_CONFLICTS 100000
/* Table cells longer than this are cut with "..." (values can be big). */
#define CELL_MAX 40
/* Most reply bytes gvctl buffers (a GV.MEMBERS of a big cluster fits). */
#define REPLY_LIMIT (1024u * 1024 * 1024)

static const char usage_text[] =
	"usage: gvctl [-a HOST:PORT] [--timeout MS] COMMAND [ARGS]\n"
	"\n"
	"Talks to a grapevined over its Redis-protocol port.\n"
	"\n"
	"commands:\n"
	"  members            the cluster's members (GV.MEMBERS)\n"
	"  get KEY            print KEY's value; prints (nil) and exits 1 "
	"if missing\n"
	"  set KEY VALUE      write KEY\n"
	"  del KEY [KEY...]   delete keys; prints how many existed\n"
	"  stats              the node's counters (GV.STATS)\n"
	"  conflicts [N]      the N most recent write conflicts, default 10\n"
	"                     (GV.CONFLICTS)\n"
	"  watch KEY          poll KEY's replication (GV.WATCH) until Ctrl-C\n"
	"      --interval-ms MS   time between polls (default 500)\n"
	"      --count N          stop after N polls\n"
	"  keys list          the cluster keyring: each key's id, whether this\n"
	"                     node holds it (primary/held), and how many live\n"
	"                     members hold it and use it as primary (GV.KEYS)\n"
	"  keys install KEY   add KEY (64 hex digits or base64) on every member\n"
	"  keys use KEY|ID    make a key primary everywhere; do it once `keys\n"
	"                     list` shows every member holding it\n"
	"  keys remove KEY|ID drop a key everywhere (not the primary)\n"
	"  keygen             print a new random key (base64; local, no daemon)\n"
	"\n"
	"options:\n"
	"  -a, --addr HOST:PORT   daemon address (default " DEFAULT_ADDR ")\n"
	"                         IPv6 as [ADDR]:PORT\n"
	"      --timeout MS       connect, send and reply timeout (default "
	"2000)\n"
	"  -h, --help             this help\n"
	"      --version          print the version\n"
	"\n"
	"environment:\n"
	"  GVCTL_AUTH             the daemon's --requirepass password, sent\n"
	"                         as AUTH before the command\n"
	"\n"
	"Put -- before a KEY or VALUE that begins with '-'.\n"
	"Exit status: 0 success; 1 failure (connection, error reply, missing\n"
	"key); 2 usage.\n";

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void
die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("gvctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (code == 2)
		fputs("Try 'gvctl --help'.\n", stderr);
	exit(code);
}

/* A whole decimal number in [lo, hi], or usage error naming @what. */
static long
parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		die(2, "invalid %s '%s' (want a number from %ld to %ld)", what,
		    s, lo, hi);
	return v;
}

/* ------------------------------------------------------------------ */
/* Connection                                                         */

struct conn {
	int fd;
	const char *addr; /* as the user wrote it, for messages */
	int timeout_ms;
	gv_resp_buf in, out;
	gv_resp_value reply;
	size_t reply_len; /* bytes of @reply at the front of @in, or 0 */
};

/* Split "host:port" or "[v6]:port"; a usage error if malformed. */
static void
split_addr(const char *addr, char *host, size_t hostsz, char *port,
	   size_t portsz)
{
	const char *colon, *h = addr;
	size_t hl;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			die(2, "invalid address '%s' (want [ADDR]:PORT)", addr);
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || strchr(addr, ':') != colon)
			die(2, "invalid address '%s' (want HOST:PORT)", addr);
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= hostsz)
		die(2, "invalid address '%s' (want HOST:PORT)", addr);
	long p = parse_num(colon + 1, 1, 65535, "port");
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portsz, "%ld", p);
}

/* Connect one address with a timeout; 0 or an errno value. */
static int
try_connect(const struct addrinfo *ai, int timeout_ms, int *fdp)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
						SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0)
		return errno;
	int err = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int r;
		do {
			r = poll(&pfd, 1, timeout_ms);
		} while (r < 0 && errno == EINTR && !interrupted);
		if (r < 0) {
			err = errno;
			goto fail;
		}
		if (r == 0) {
			err = ETIMEDOUT;
			goto fail;
		}
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		err = errno;
		goto fail;
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (timeout_ms % 1000) * 1000};
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		err = errno;
		goto fail;
	}
	/* latency only: without it a command still goes out whole */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fdp = fd;
	return 0;
fail:
	(void)close(fd); /* nothing sent yet; @err is what went wrong */
	return err;
}

static void
conn_open(struct conn *c, const char *addr, int timeout_ms)
{
	char host[256], port[8];
	split_addr(addr, host, sizeof(host), port, sizeof(port));
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->addr = addr;
	c->timeout_ms = timeout_ms;
	gv_resp_buf_init(&c->in, gv_mem_libc(), REPLY_LIMIT);
	gv_resp_buf_init(&c->out, gv_mem_libc(), 0);

	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g)
		die(1, "cannot resolve %s: %s", host,
		    g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
	int err = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		err = try_connect(ai, timeout_ms, &c->fd);
		if (!err)
			break;
		if (interrupted)
			break;
	}
	freeaddrinfo(res);
	if (interrupted)
		exit(0);
	if (c->fd < 0)
		die(1, "cannot connect to %s: %s", addr, strerror(err));
}

static void
conn_close(struct conn *c)
{
	if (c->reply_len)
		gv_resp_value_fini(gv_mem_libc(), &c->reply);
	gv_resp_buf_fini(&c->in);
	gv_resp_buf_fini(&c->out);
	if (c->fd >= 0)
		(void)close(c->fd); /* every reply is in; nothing to lose */
	c->fd = -1;
}

/*
 * Send a command and wait for its reply. Returns the reply (valid until
 * the next call); exits on any I/O or protocol failure. A SIGINT during the
 * wait exits 0 (watch is stopped with Ctrl-C).
 */
static const gv_resp_value *
conn_call(struct conn *c, size_t argc, const char *const *argv)
{
	if (c->reply_len) {
		gv_resp_value_fini(gv_mem_libc(), &c->reply);
		gv_resp_buf_consume(&c->in, c->reply_len);
		c->reply_len = 0;
	}
	gv_resp_buf_clear(&c->out);
	if (gv_resp_out_command(&c->out, argc, argv, NULL))
		die(1, "out of memory");
	while (gv_resp_buf_pending(&c->out)) {
		ssize_t n = send(c->fd, gv_resp_buf_data(&c->out),
				 gv_resp_buf_pending(&c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n < 0 && interrupted)
			exit(0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			die(1, "%s: cannot send within %d ms", c->addr,
			    c->timeout_ms);
		if (n < 0)
			die(1, "%s: send: %s", c->addr, strerror(errno));
		gv_resp_buf_consume(&c->out, (size_t)n);
	}
	for (;;) {
		size_t used;
		int r = gv_resp_reply_parse(gv_resp_buf_data(&c->in),
					    gv_resp_buf_pending(&c->in),
					    gv_mem_libc(), NULL, &c->reply,
					    &used);
		if (r == 1) {
			c->reply_len = used;
			return &c->reply;
		}
		if (r == GV_EVALSIZE)
			die(1, "%s: reply beyond the protocol limits", c->addr);
		if (r < 0)
			die(1, "%s: the reply is not RESP (is it grapevined?)",
			    c->addr);
		char *w = gv_resp_buf_reserve(&c->in, 64 * 1024);
		if (!w)
			die(1, "%s: reply too big", c->addr);
		ssize_t n = recv(c->fd, w, 64 * 1024, 0);
		if (n < 0 && interrupted)
			exit(0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			die(1, "%s: no reply within %d ms", c->addr,
			    c->timeout_ms);
		if (n < 0)
			die(1, "%s: recv: %s", c->addr, strerror(errno));
		if (n == 0)
			die(1, "%s: connection closed by the server", c->addr);
		gv_resp_buf_commit(&c->in, (size_t)n);
	}
}

/* ------------------------------------------------------------------ */
/* Printing                                                           */

/* A growable C string for rendering cells. */
struct str {
	char *p;
	size_t len, cap;
};

static void
str_add(struct str *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 64;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *np = realloc(s->p, cap);
		if (!np)
			die(1, "out of memory");
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
str_fmt(struct str *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
str_fmt(struct str *s, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		str_add(s, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
							 : sizeof(tmp) - 1);
}

/* Text with control bytes shown as \xHH (UTF-8 passes through). */
static void
str_escaped(struct str *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			str_fmt(s, "\\x%02x", c);
		else
			str_add(s, p + i, 1);
	}
}

/* Render any reply value on one line. */
static void
render(struct str *s, const gv_resp_value *v)
{
	switch (v->type) {
	case GV_RESP_SIMPLE:
	case GV_RESP_BULK: str_escaped(s, v->str, v->len); break;
	case GV_RESP_ERROR:
		str_add(s, "(error) ", 8);
		str_escaped(s, v->str, v->len);
		break;
	case GV_RESP_INTEGER: str_fmt(s, "%" PRId64, v->integer); break;
	case GV_RESP_NIL:
	case GV_RESP_NIL_ARRAY: str_add(s, "(nil)", 5); break;
	case GV_RESP_ARRAY:
		str_add(s, "[", 1);
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				str_add(s, ", ", 2);
			render(s, &v->elems[i]);
		}
		str_add(s, "]", 1);
		break;
	default: str_add(s, "?", 1);
	}
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t
text_width(const char *p)
{
	size_t w = 0;
	for (; *p; p++)
		if (((unsigned char)*p & 0xc0) != 0x80)
			w++;
	return w;
}

/* Cut a rendered cell longer than CELL_MAX code points, ending in "...". */
static void
cell_cut(struct str *s)
{
	if (!s->p || text_width(s->p) <= CELL_MAX)
		return;
	size_t w = 0;
	for (size_t i = 0; i < s->len; i++) {
		if (((unsigned char)s->p[i] & 0xc0) == 0x80)
			continue;
		if (w++ == CELL_MAX - 3) {
			s->len = i;
			s->p[i] = '\0';
			str_add(s, "...", 3);
			return;
		}
	}
}

/* An aligned table: @ncols headers, then rows of rendered cells. */
struct table {
	size_t ncols, nrows;
	struct str *cells; /* nrows * ncols, row-major */
};

static void
table_print(const struct table *t, const char *const *hdr)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		die(1, "out of memory");
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = text_width(hdr[c]);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = text_width(t->cells[r * t->ncols + c].p);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell =
				r == 0 ? hdr[c]
				       : t->cells[(r - 1) * t->ncols + c].p;
			size_t pad = w[c] - text_width(cell) + 2;
			fputs(cell, stdout);
			if (c + 1 < t->ncols)
				printf("%*s", (int)pad, "");
		}
		fputc('\n', stdout);
	}
	free(w);
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].p);
	free(t->cells);
}

/* Print an error reply and exit 1; otherwise return. */
static void
check_error(const gv_resp_value *v)
{
	if (v->type == GV_RESP_ERROR) {
		struct str s = {0};
		str_escaped(&s, v->str, v->len);
		die(1, "%s", s.p ? s.p : "");
	}
}

static void
unexpected(const char *cmd, const gv_resp_value *v)
{
	struct str s = {0};
	render(&s, v);
	die(1, "unexpected reply to %s: %s", cmd, s.p ? s.p : "");
}

/* Print a scalar reply like redis-cli does; @raw bulk bytes as they are. */
static void
print_scalar(const gv_resp_value *v)
{
	if (v->type == GV_RESP_BULK) {
		fwrite(v->str, 1, v->len, stdout);
		fputc('\n', stdout);
		return;
	}
	if (v->type == GV_RESP_INTEGER) {
		printf("(integer) %" PRId64 "\n", v->integer);
		return;
	}
	struct str s = {0};
	render(&s, v);
	puts(s.p ? s.p : "");
	free(s.p);
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

static int
cmd_get(struct conn *c, const char *key)
{
	const char *argv[] = {"GET", key};
	const gv_resp_value *v = conn_call(c, 2, argv);
	check_error(v);
	if (v->type == GV_RESP_NIL) {
		puts("(nil)");
		return 1;
	}
	print_scalar(v);
	return 0;
}

static int
cmd_set(struct conn *c, const char *key, const char *value)
{
	const char *argv[] = {"SET", key, value};
	const gv_resp_value *v = conn_call(c, 3, argv);
	check_error(v);
	print_scalar(v);
	return 0;
}

static int
cmd_del(struct conn *c, int nkeys, char **keys)
{
	const char **argv = calloc((size_t)nkeys + 1, sizeof(*argv));
	if (!argv)
		die(1, "out of memory");
	argv[0] = "DEL";
	for (int i = 0; i < nkeys; i++)
		argv[i + 1] = keys[i];
	const gv_resp_value *v = conn_call(c, (size_t)nkeys + 1, argv);
	free(argv);
	check_error(v);
	print_scalar(v);
	return 0;
}

/* A new key from the kernel's generator, as base64 (44 characters). */
static int
cmd_keygen(void)
{
	unsigned char k[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(1, "cannot open /dev/urandom: %s", strerror(errno));
	/* reads of up to 256 bytes from urandom are whole and not
	 * interrupted; anything else is a broken /dev */
	ssize_t got = read(fd, k, sizeof(k));
	if (got != (ssize_t)sizeof(k))
		die(1, "cannot read /dev/urandom: %s",
		    got < 0 ? strerror(errno) : "short read");
	(void)close(fd); /* read-only: nothing to flush, nothing lost */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
				  "vwxyz0123456789+/";
	char out[45];
	size_t o = 0;
	for (size_t i = 0; i < 30; i += 3) {
		uint32_t x = (uint32_t)k[i] << 16 | (uint32_t)k[i + 1] << 8 |
			     k[i + 2];
		out[o++] = b64[x >> 18 & 63];
		out[o++] = b64[x >> 12 & 63];
		out[o++] = b64[x >> 6 & 63];
		out[o++] = b64[x & 63];
	}
	uint32_t x = (uint32_t)k[30] << 16 | (uint32_t)k[31] << 8;
	out[o++] = b64[x >> 18 & 63];
	out[o++] = b64[x >> 12 & 63];
	out[o++] = b64[x >> 6 & 63];
	out[o++] = '=';
	out[o] = 0;
	puts(out);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(out, sizeof(out));
	return 0;
}

static int
cmd_stats(struct conn *c)
{
	const char *argv[] = {"GV.STATS"};
	const gv_resp_value *v = conn_call(c, 1, argv);
	check_error(v);
	if (v->type == GV_RESP_BULK || v->type == GV_RESP_SIMPLE) {
		fwrite(v->str, 1, v->len, stdout);
		if (v->len == 0 || v->str[v->len - 1] != '\n')
			fputc('\n', stdout);
		return 0;
	}
	if (v->type != GV_RESP_ARRAY || v->n % 2)
		unexpected("GV.STATS", v);
	for (size_t i = 0; i < v->n; i += 2) {
		struct str s = {0};
		render(&s, &v->elems[i]);
		str_add(&s, ": ", 2);
		render(&s, &v->elems[i + 1]);
		puts(s.p);
		free(s.p);
	}
	return 0;
}

/* Fill a table from an array of arrays of at least @ncols elements. */
static void
table_from(struct table *t, const gv_resp_value *v, size_t ncols,
	   const char *cmd, void (*cell)(struct str *, size_t col,
					 const gv_resp_value *))
{
	if (v->type != GV_RESP_ARRAY)
		unexpected(cmd, v);
	t->ncols = ncols;
	t->nrows = v->n;
	t->cells = calloc(v->n * ncols + 1, sizeof(*t->cells));
	if (!t->cells)
		die(1, "out of memory");
	for (size_t r = 0; r < v->n; r++) {
		const gv_resp_value *row = &v->elems[r];
		if (row->type != GV_RESP_ARRAY || row->n < ncols)
			unexpected(cmd, row);
		for (size_t col = 0; col < ncols; col++) {
			struct str *s = &t->cells[r * ncols + col];
			cell(s, col, &row->elems[col]);
			if (!s->p)
				str_add(s, "", 0);
		}
	}
}

static void
member_cell(struct str *s, size_t col, const gv_resp_value *v)
{
	(void)col;
	render(s, v);
}

static int
cmd_members(struct conn *c)
{
	static const char *const hdr[] = {"NAME", "ADDRESS", "REGION", "STATE",
					  "INCARNATION"};
	const char *argv[] = {"GV.MEMBERS"};
	const gv_resp_value *v = conn_call(c, 1, argv);
	check_error(v);
	struct table t;
	table_from(&t, v, 5, "GV.MEMBERS", member_cell);
	table_print(&t, hdr);
	table_free(&t);
	return 0;
}

static void
conflict_cell(struct str *s, size_t col, const gv_resp_value *v)
{
	if (col == 5 && v->type == GV_RESP_INTEGER) {
		/* at_ms: Unix milliseconds, shown in UTC. */
		time_t sec = (time_t)(v->integer / 1000);
		struct tm tm;
		char when[32];
		if (v->integer >= 0 && gmtime_r(&sec, &tm) &&
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm)) {
			str_fmt(s, "%s.%03dZ", when, (int)(v->integer % 1000));
			return;
		}
	}
	if (v->type == GV_RESP_NIL && (col == 1 || col == 2)) {
		str_add(s, "(deleted)", 9);
		return;
	}
	render(s, v);
	cell_cut(s);
}

static int
cmd_conflicts(struct conn *c, long n)
{
	static const char *const hdr[] = {"KEY",	    "WINNER",
					  "LOSER",	    "WINNER_VERSION",
					  "LOSER_VERSION", "AT (UTC)"};
	char num[24];
	snprintf(num, sizeof(num), "%ld", n);
	const char *argv[] = {"GV.CONFLICTS", num};
	const gv_resp_value *v = conn_call(c, 2, argv);
	check_error(v);
	struct table t;
	table_from(&t, v, 6, "GV.CONFLICTS", conflict_cell);
	if (t.nrows == 0)
		puts("no conflicts");
	else
		table_print(&t, hdr);
	table_free(&t);
	return 0;
}

static void
key_cell(struct str *s, size_t col, const gv_resp_value *v)
{
	(void)col;
	render(s, v);
}

static int
cmd_keys(struct conn *c, char **args)
{
	if (strcmp(args[0], "list")) {
		const char *argv[] = {"GV.KEYS", args[0], args[1]};
		const gv_resp_value *v = conn_call(c, 3, argv);
		check_error(v);
		print_scalar(v);
		return 0;
	}
	const char *argv[] = {"GV.KEYS", "LIST"};
	const gv_resp_value *v = conn_call(c, 2, argv);
	check_error(v);
	static const char *const hdr[] = {"KEY_ID", "HERE", "HOLDERS",
					  "PRIMARY_FOR", "LIVE_MEMBERS"};
	struct table t;
	table_from(&t, v, 5, "GV.KEYS", key_cell);
	table_print(&t, hdr);
	table_free(&t);
	return 0;
}

/* Sleep @ms unless interrupted. */
static void
sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
cmd_watch(struct conn *c, const char *key, long interval_ms, long count)
{
	const char *argv[] = {"GV.WATCH", key};
	for (long i = 0; !interrupted && (count == 0 || i < count); i++) {
		if (i)
			sleep_ms(interval_ms);
		if (interrupted)
			break;
		const gv_resp_value *v = conn_call(c, 2, argv);
		check_error(v);
		if (v->type != GV_RESP_ARRAY || v->n != 3 ||
		    v->elems[1].type != GV_RESP_INTEGER ||
		    v->elems[2].type != GV_RESP_INTEGER)
			unexpected("GV.WATCH", v);
		int64_t k = v->elems[1].integer, n = v->elems[2].integer;
		struct str s = {0};
		render(&s, &v->elems[0]);
		printf("version %s  %" PRId64 "/%" PRId64 " members (%d%%)\n",
		       s.p, k, n,
		       n > 0 && k >= 0 ? (int)((k > n ? n : k) * 100 / n) : 0);
		free(s.p);
		/* each poll is seen as it comes; and a watch whose output
		 * goes nowhere (a full disk) stops instead of polling on */
		if (fflush(stdout) != 0)
			die(1, "cannot write output: %s", strerror(errno));
	}
	return 0;
}

/* Exit 1 if any output was lost (stdout on a full disk, a closed pipe). */
static void
flush_output(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		die(1, "cannot write output: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */

enum { OPT_TIMEOUT = 256, OPT_INTERVAL, OPT_COUNT, OPT_VERSION };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"interval-ms", required_argument, NULL, OPT_INTERVAL},
		{"count", required_argument, NULL, OPT_COUNT},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *addr = DEFAULT_ADDR;
	long timeout_ms = DEFAULT_TIMEOUT_MS, interval_ms = DEFAULT_INTERVAL_MS;
	long count = 0;
	bool watch_opts = false;
	int o;

	opterr = 0; /* our own messages, with the exit code we promise */
	while ((o = getopt_long(argc, argv, ":a:h", longopts, NULL)) != -1) {
		switch (o) {
		case 'a': addr = optarg; break;
		case 'h':
			fputs(usage_text, stdout);
			flush_output();
			return 0;
		case OPT_TIMEOUT:
			timeout_ms = parse_num(optarg, 1, 3600000, "--timeout");
			break;
		case OPT_INTERVAL:
			interval_ms = parse_num(optarg, 1, 86400000,
						"--interval-ms");
			watch_opts = true;
			break;
		case OPT_COUNT:
			count = parse_num(optarg, 1, LONG_MAX, "--count");
			watch_opts = true;
			break;
		case OPT_VERSION:
			puts("gvctl " GV_VERSION_STRING);
			flush_output();
			return 0;
		case ':':
			die(2, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				die(2, "unknown option '-%c'", optopt);
			die(2, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int nargs = argc - optind;
	char **args = argv + optind;
	if (nargs == 0)
		die(2, "no command given");
	const char *cmd = args[0];
	nargs--;
	args++;

	/* Check the command line fully before touching the network. */
	long nconf = DEFAULT_CONFLICTS;
	int lo, hi;
	if (!strcmp(cmd, "members") || !strcmp(cmd, "stats")) {
		lo = 0, hi = 0;
	} else if (!strcmp(cmd, "get") || !strcmp(cmd, "watch")) {
		lo = 1, hi = 1;
	} else if (!strcmp(cmd, "set")) {
		lo = 2, hi = 2;
	} else if (!strcmp(cmd, "del")) {
		lo = 1, hi = INT_MAX;
	} else if (!strcmp(cmd, "conflicts")) {
		lo = 0, hi = 1;
	} else if (!strcmp(cmd, "keygen")) {
		lo = 0, hi = 0;
	} else if (!strcmp(cmd, "keys")) {
		if (nargs == 0)
			die(2, "keys needs a subcommand: list, install KEY, "
			       "use KEY|ID or remove KEY|ID");
		if (!strcmp(args[0], "list"))
			lo = 1, hi = 1;
		else if (!strcmp(args[0], "install") ||
			 !strcmp(args[0], "use") ||
			 !strcmp(args[0], "remove"))
			lo = 2, hi = 2;
		else
			die(2, "unknown keys subcommand '%s' (list, install, "
			       "use, remove)",
			    args[0]);
	} else {
		die(2, "unknown command '%s'", cmd);
	}
	if (nargs < lo || nargs > hi) {
		static const char *const forms[] = {
			"members", "stats", "get KEY", "watch KEY",
			"set KEY VALUE", "del KEY [KEY...]", "conflicts [N]",
			"keygen", "keys list|install KEY|use KEY|remove KEY"};
		const char *form = cmd;
		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
			if (!strncmp(forms[i], cmd, strlen(cmd)) &&
			    (forms[i][strlen(cmd)] == ' ' ||
			     !forms[i][strlen(cmd)]))
				form = forms[i];
		die(2, "wrong number of arguments (usage: gvctl %s)", form);
	}
	if (watch_opts && strcmp(cmd, "watch"))
		die(2, "--interval-ms and --count apply only to watch");
	if (!strcmp(cmd, "conflicts") && nargs == 1)
		nconf = parse_num(args[0], 1, MAX_CONFLICTS, "conflicts N");

	if (!strcmp(cmd, "keygen")) {
		int krc = cmd_keygen();
		flush_output(); /* a key that did not get out is no key */
		return krc;
	}
	/* SIGINT stops watch (exit 0) and interrupts a blocked call. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: recv returns EINTR */
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));

	struct conn c;
	conn_open(&c, addr, (int)timeout_ms);
	/* a daemon with --requirepass: the password from the environment,
	 * never from the command line, which ps shows (redis-cli's
	 * REDISCLI_AUTH does the same) */
	const char *pass = getenv("GVCTL_AUTH");
	if (pass && *pass) {
		const char *av[] = {"AUTH", pass};
		check_error(conn_call(&c, 2, av));
	}
	int rc;
	if (!strcmp(cmd, "members"))
		rc = cmd_members(&c);
	else if (!strcmp(cmd, "stats"))
		rc = cmd_stats(&c);
	else if (!strcmp(cmd, "get"))
		rc = cmd_get(&c, args[0]);
	else if (!strcmp(cmd, "set"))
		rc = cmd_set(&c, args[0], args[1]);
	else if (!strcmp(cmd, "del"))
		rc = cmd_del(&c, nargs, args);
	else if (!strcmp(cmd, "conflicts"))
		rc = cmd_conflicts(&c, nconf);
	else if (!strcmp(cmd, "keys"))
		rc = cmd_keys(&c, args);
	else
		rc = cmd_watch(&c, args[0], interval_ms, count);
	conn_close(&c);
	flush_output();
	return rc;
}
