/* SPDX-License-Identifier: MIT */
/*
 * resp_parse.c - the bytes-in half of the Redis protocol (RESP2): the
 * server's incremental request parser (gv_resp_req_*) and the client's
 * reply scanner and parser (gv_resp_reply_*, used by gvctl and by the
 * front end to cut GV.CONFLICTS fragments), which share the limits and the
 * header-line reader below. See resp.h for the contracts; the buffer and
 * the encoders are in resp_out.c.
 *
 * Every read is bounds-checked against the length the caller gave, every
 * length from the wire is checked against a limit before it is used, and
 * the only allocations are the request argv (grown as arguments arrive,
 * never sized from an announced count) and reply arrays (sized only once
 * their bytes are present). The file is compiled with the core's
 * gv_core.h force-included, so it cannot reach for malloc, a clock or a
 * socket by mistake.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/gv_core.h" /* gv__alloc, gv__free (already force-included) */
#include "server/resp.h"

/* Longest '*', '$' or ':' header line we look at, CRLF excluded. */
#define HDR_MAX 32

/* A request's argv starts with room for this many arguments. */
#define ARGV_MIN 8

enum { KIND_NONE = 0, KIND_INLINE = 1, KIND_MBULK = 2 };

void
gv_resp_limits_init(gv_resp_limits *lim)
{
	lim->max_args = GV_RESP_DEFAULT_MAX_ARGS;
	lim->max_bulk = GV_RESP_DEFAULT_MAX_BULK;
	lim->max_inline = GV_RESP_DEFAULT_MAX_INLINE;
	lim->max_elems = GV_RESP_DEFAULT_MAX_ELEMS;
}

/*
 * Zero fields take the defaults; lengths are clamped so that "length + 2"
 * and element counts can never overflow size_t or int64_t below.
 */
static void
limits_resolve(gv_resp_limits *out, const gv_resp_limits *in)
{
	gv_resp_limits_init(out);
	if (in) {
		if (in->max_args)
			out->max_args = in->max_args;
		if (in->max_bulk)
			out->max_bulk = in->max_bulk;
		if (in->max_inline)
			out->max_inline = in->max_inline;
		if (in->max_elems)
			out->max_elems = in->max_elems;
	}
	const size_t cap = (size_t)INT64_MAX < SIZE_MAX / 4 ? (size_t)INT64_MAX
							    : SIZE_MAX / 4;
	if (out->max_args > cap / sizeof(gv_resp_arg))
		out->max_args = cap / sizeof(gv_resp_arg);
	if (out->max_bulk > cap)
		out->max_bulk = cap;
	if (out->max_inline > cap)
		out->max_inline = cap;
	if (out->max_elems > cap / sizeof(gv_resp_value))
		out->max_elems = cap / sizeof(gv_resp_value);
}

/* ------------------------------------------------------------------ */
/* Numbers and header lines                                           */

/*
 * Parse a decimal int64 in s[0, n): an optional '-' and 1 to 19 digits,
 * nothing else (no '+', no blanks). Returns false if it is not one.
 */
static bool
parse_i64(const char *s, size_t n, int64_t *out)
{
	bool neg = false;
	size_t i = 0;
	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n || n - i > 19)
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit */
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

enum { HDR_OK = 1, HDR_MORE = 0, HDR_BAD = -1, HDR_LONG = -2 };

/*
 * Read the number of a header line starting at buf[from] ("123\r\n").
 * Only HDR_MAX bytes are searched for the CR, so the answer does not depend
 * on how the bytes were split across reads. On HDR_OK, *next is the offset
 * after the LF.
 */
static int
read_header(const char *buf, size_t len, size_t from, int64_t *val,
	    size_t *next)
{
	if (from > len)
		return HDR_MORE;
	size_t avail = len - from;
	size_t win = avail < HDR_MAX + 1 ? avail : HDR_MAX + 1;
	const char *cr = memchr(buf + from, '\r', win);
	if (!cr)
		return avail > HDR_MAX ? HDR_LONG : HDR_MORE;
	size_t i = (size_t)(cr - buf);
	if (i + 1 >= len)
		return HDR_MORE;
	if (buf[i + 1] != '\n')
		return HDR_BAD;
	if (!parse_i64(buf + from, i - from, val))
		return HDR_BAD;
	*next = i + 2;
	return HDR_OK;
}

/* Render an unexpected byte for an error message: 'x' or '\xHH'. */
static void
byte_repr(char *out, size_t n, unsigned char c)
{
	if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
		snprintf(out, n, "'%c'", c);
	else
		snprintf(out, n, "'\\x%02x'", c);
}

/* ------------------------------------------------------------------ */
/* Request parser                                                     */

void
gv_resp_req_init(gv_resp_req *p, const gv_mem *mem, const gv_resp_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->mem = mem;
	limits_resolve(&p->lim, lim);
	p->mbulk = -1;
	p->bulk = -1;
}

void
gv_resp_req_fini(gv_resp_req *p)
{
	gv__free(p->mem, p->argv, p->cap * sizeof(*p->argv));
	p->argv = NULL;
	p->cap = 0;
	p->argc = 0;
}

void
gv_resp_req_reset(gv_resp_req *p)
{
	p->argc = 0;
	p->start = 0;
	p->pos = 0;
	p->mbulk = -1;
	p->bulk = -1;
	p->kind = KIND_NONE;
	p->err = 0;
	p->errmsg[0] = '\0';
}

const char *
gv_resp_req_errmsg(const gv_resp_req *p)
{
	return p->errmsg;
}

size_t
gv_resp_req_need(const gv_resp_req *p)
{
	if (p->err || p->kind != KIND_MBULK || p->bulk < 0)
		return 0;
	return p->pos + (size_t)p->bulk + 2;
}

/* Latch an error: the parser returns it from now on. */
static int
req_fail(gv_resp_req *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
req_fail(gv_resp_req *p, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	p->err = err;
	return err;
}

/* Room for one more argument; grows by doubling up to @want entries. */
static int
req_grow(gv_resp_req *p, size_t want)
{
	if (p->argc < p->cap)
		return 0;
	size_t ncap = p->cap ? p->cap * 2 : ARGV_MIN;
	if (ncap > want)
		ncap = want;
	if (ncap <= p->argc)
		ncap = p->argc + 1;
	gv_resp_arg *nv = gv__alloc(p->mem, ncap * sizeof(*nv));
	if (!nv)
		return req_fail(p, GV_ENOMEM, "out of memory");
	if (p->argc)
		memcpy(nv, p->argv, p->argc * sizeof(*nv));
	gv__free(p->mem, p->argv, p->cap * sizeof(*p->argv));
	p->argv = nv;
	p->cap = ncap;
	return 0;
}

static int
req_add(gv_resp_req *p, size_t want, size_t off, size_t len)
{
	int r = req_grow(p, want);
	if (r)
		return r;
	p->argv[p->argc].ptr = NULL;
	p->argv[p->argc].off = off;
	p->argv[p->argc].len = len;
	p->argc++;
	return 0;
}

/* Redis splits inline arguments on isspace() in the C locale. */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Split buf[from, end) into arguments like Redis's sdssplitargs(), writing
 * unescaped bytes in place (the write index never passes the read index).
 */
static int
split_inline(gv_resp_req *p, char *buf, size_t from, size_t end)
{
	static const char unbalanced[] =
		"Protocol error: unbalanced quotes in request";
	size_t r = from;
	for (;;) {
		while (r < end && is_blank(buf[r]))
			r++;
		if (r >= end)
			return 0;
		if (p->argc >= p->lim.max_args)
			return req_fail(p, GV_ERANGE,
					"Protocol error: too many arguments "
					"(max %zu)",
					p->lim.max_args);
		size_t tok = r, w = r;
		bool inq = false, insq = false, done = false;
		while (!done) {
			if (!inq && !insq) {
				if (r >= end || is_blank(buf[r])) {
					done = true;
				} else if (buf[r] == '"') {
					inq = true;
					r++;
				} else if (buf[r] == '\'') {
					insq = true;
					r++;
				} else {
					buf[w++] = buf[r++];
				}
				continue;
			}
			if (r >= end)
				return req_fail(p, GV_EMALFORMED, unbalanced);
			char c = buf[r];
			if (inq && c == '\\' && r + 3 < end &&
			    buf[r + 1] == 'x' && hex_val(buf[r + 2]) >= 0 &&
			    hex_val(buf[r + 3]) >= 0) {
				buf[w++] = (char)(hex_val(buf[r + 2]) * 16 +
						  hex_val(buf[r + 3]));
				r += 4;
			} else if (inq && c == '\\' && r + 1 < end) {
				char e = buf[r + 1];
				switch (e) {
				case 'n': e = '\n'; break;
				case 'r': e = '\r'; break;
				case 't': e = '\t'; break;
				case 'b': e = '\b'; break;
				case 'a': e = '\a'; break;
				default: break;
				}
				buf[w++] = e;
				r += 2;
			} else if (insq && c == '\\' && r + 1 < end &&
				   buf[r + 1] == '\'') {
				buf[w++] = '\'';
				r += 2;
			} else if ((inq && c == '"') || (insq && c == '\'')) {
				/* A closing quote must end the argument. */
				if (r + 1 < end && !is_blank(buf[r + 1]))
					return req_fail(p, GV_EMALFORMED,
							unbalanced);
				r++;
				done = true;
			} else {
				buf[w++] = c;
				r++;
			}
		}
		int e = req_add(p, p->lim.max_args, tok, w - tok);
		if (e)
			return e;
	}
}

/* Returns 1 (command or empty line at p->pos), 0 (need more) or < 0. */
static int
parse_inline(gv_resp_req *p, char *buf, size_t len)
{
	const size_t max = p->lim.max_inline;
	const char *nl = p->pos < len ? memchr(buf + p->pos, '\n', len - p->pos)
				      : NULL;
	if (!nl) {
		if (len - p->start > max)
			goto too_big;
		p->pos = len; /* the next call searches only new bytes */
		return 0;
	}
	size_t nlo = (size_t)(nl - buf);
	if (nlo - p->start > max)
		goto too_big;
	size_t end = nlo;
	if (end > p->start && buf[end - 1] == '\r')
		end--;
	p->argc = 0;
	int r = split_inline(p, buf, p->start, end);
	if (r)
		return r;
	p->pos = nlo + 1;
	return 1;
too_big:
	return req_fail(p, GV_ERANGE,
			"Protocol error: too big inline request (max %zu "
			"bytes)",
			max);
}

/* Returns 1 (command, or empty "*0", ending at p->pos), 0 or < 0. */
static int
parse_mbulk(gv_resp_req *p, char *buf, size_t len)
{
	int64_t v;
	size_t next;
	int h;

	if (p->mbulk < 0) {
		h = read_header(buf, len, p->start + 1, &v, &next);
		if (h == HDR_MORE)
			return 0;
		if (h == HDR_LONG)
			return req_fail(p, GV_EMALFORMED,
					"Protocol error: too big mbulk count "
					"string");
		/* Redis skips any count <= 0 as an empty request and
		 * refuses one past INT_MAX */
		if (h == HDR_BAD || v > INT32_MAX)
			return req_fail(p, GV_EMALFORMED,
					"Protocol error: invalid multibulk "
					"length");
		if (v > 10 && p->unauth)
			return req_fail(p, GV_ERANGE,
					"Protocol error: unauthenticated "
					"multibulk length");
		if (v > 0 && (uint64_t)v > p->lim.max_args)
			return req_fail(p, GV_ERANGE,
					"Protocol error: too many arguments "
					"(max %zu)",
					p->lim.max_args);
		p->pos = next;
		p->argc = 0;
		if (v <= 0)
			return 1; /* "*0", "*-1", "*-5": nothing to run */
		p->mbulk = v;
		p->bulk = -1;
	}
	while ((int64_t)p->argc < p->mbulk) {
		if (p->bulk < 0) {
			if (p->pos >= len)
				return 0;
			if (buf[p->pos] != '$') {
				char got[8];
				byte_repr(got, sizeof(got),
					  (unsigned char)buf[p->pos]);
				return req_fail(p, GV_EMALFORMED,
						"Protocol error: expected '$', "
						"got %s",
						got);
			}
			h = read_header(buf, len, p->pos + 1, &v, &next);
			if (h == HDR_MORE)
				return 0;
			if (h == HDR_LONG)
				return req_fail(p, GV_EMALFORMED,
						"Protocol error: too big bulk "
						"count string");
			if (h == HDR_BAD || v < 0)
				return req_fail(p, GV_EMALFORMED,
						"Protocol error: invalid bulk "
						"length");
			if (v > 16384 && p->unauth)
				return req_fail(p, GV_EVALSIZE,
						"Protocol error: "
						"unauthenticated bulk length");
			if ((uint64_t)v > p->lim.max_bulk)
				return req_fail(p, GV_EVALSIZE,
						"Protocol error: bulk too long "
						"(max %zu bytes)",
						p->lim.max_bulk);
			p->bulk = v;
			p->pos = next;
		}
		size_t blen = (size_t)p->bulk; /* <= max_bulk <= SIZE_MAX/4 */
		if (len - p->pos < blen + 2)
			return 0;
		if (buf[p->pos + blen] != '\r' ||
		    buf[p->pos + blen + 1] != '\n')
			return req_fail(p, GV_EMALFORMED,
					"Protocol error: expected CRLF after "
					"bulk string");
		int r = req_add(p, (size_t)p->mbulk, p->pos, blen);
		if (r)
			return r;
		p->pos += blen + 2;
		p->bulk = -1;
	}
	return 1;
}

int
gv_resp_req_parse(gv_resp_req *p, char *buf, size_t len, size_t *consumed)
{
	if (p->err)
		return p->err;
	if (!buf && len)
		return GV_EINVAL;
	/* A caller that shrank the buffer below our progress broke the
	 * contract; resynchronising is impossible, so say so. */
	if (p->pos > len || p->start > len)
		return req_fail(p, GV_EINVAL, "internal error: input lost");
	for (;;) {
		if (p->kind == KIND_NONE) {
			if (p->start >= len)
				break;
			p->kind = buf[p->start] == '*' ? KIND_MBULK
						       : KIND_INLINE;
			p->pos = p->start;
			p->mbulk = -1;
			p->bulk = -1;
			p->argc = 0;
		}
		int r = p->kind == KIND_INLINE ? parse_inline(p, buf, len)
					       : parse_mbulk(p, buf, len);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		size_t end = p->pos;
		p->kind = KIND_NONE;
		p->mbulk = -1;
		p->bulk = -1;
		if (p->argc == 0) { /* blank line or "*0": skip it */
			p->start = end;
			continue;
		}
		for (size_t i = 0; i < p->argc; i++)
			p->argv[i].ptr = buf + p->argv[i].off;
		p->start = 0;
		p->pos = 0;
		*consumed = end;
		return 1;
	}
	/* Need more. Hand back what was skipped and rebase our offsets on
	 * the byte after it, where the caller's next buffer will start. */
	size_t k = p->start;
	if (p->kind == KIND_NONE) {
		p->pos = 0;
		p->argc = 0;
	} else if (k) {
		p->pos -= k;
		for (size_t i = 0; i < p->argc; i++)
			p->argv[i].off -= k;
	}
	p->start = 0;
	*consumed = k;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reply parser                                                       */

const char *
gv_resp_type_name(int type)
{
	switch (type) {
	case GV_RESP_SIMPLE: return "simple";
	case GV_RESP_ERROR: return "error";
	case GV_RESP_INTEGER: return "integer";
	case GV_RESP_BULK: return "bulk";
	case GV_RESP_NIL: return "nil";
	case GV_RESP_ARRAY: return "array";
	case GV_RESP_NIL_ARRAY: return "nil-array";
	default: return "unknown";
	}
}

/* One value's header, as read_value() finds it. */
struct rhdr {
	int type;
	int64_t num;     /* INTEGER value, BULK length, ARRAY count */
	size_t str, len; /* SIMPLE, ERROR, BULK text: offset and length */
	size_t next;     /* offset after the header (after the data for
			    scalars; the first element for arrays) */
};

/* Read the value starting at buf[pos]: 1, 0 (need more) or < 0. */
static int
read_value(const char *buf, size_t len, size_t pos, const gv_resp_limits *lim,
	   struct rhdr *h)
{
	if (pos >= len)
		return 0;
	int64_t v;
	size_t next;
	int r;
	switch (buf[pos]) {
	case '_': /* RESP3 null */
		if (len - pos < 3)
			return 0;
		if (buf[pos + 1] != '\r' || buf[pos + 2] != '\n')
			return GV_EMALFORMED;
		h->type = GV_RESP_NIL;
		h->next = pos + 3;
		return 1;
	case '#': /* RESP3 boolean, read as the integer RESP2 gets */
		if (len - pos < 4)
			return 0;
		if ((buf[pos + 1] != 't' && buf[pos + 1] != 'f') ||
		    buf[pos + 2] != '\r' || buf[pos + 3] != '\n')
			return GV_EMALFORMED;
		h->type = GV_RESP_INTEGER;
		h->num = buf[pos + 1] == 't';
		h->next = pos + 4;
		return 1;
	case '+':
	case '-':
	case ',':   /* RESP3 double, read as its text */
	case '(': { /* RESP3 big number, likewise */
		h->type = buf[pos] == '-' ? GV_RESP_ERROR : GV_RESP_SIMPLE;
		const char *cr = memchr(buf + pos + 1, '\r', len - pos - 1);
		if (!cr)
			return len - pos - 1 > lim->max_bulk ? GV_EVALSIZE : 0;
		size_t i = (size_t)(cr - buf);
		if (i - pos - 1 > lim->max_bulk)
			return GV_EVALSIZE;
		if (i + 1 >= len)
			return 0;
		if (buf[i + 1] != '\n')
			return GV_EMALFORMED;
		h->str = pos + 1;
		h->len = i - pos - 1;
		h->next = i + 2;
		return 1;
	}
	case ':':
		r = read_header(buf, len, pos + 1, &v, &next);
		if (r == HDR_MORE)
			return 0;
		if (r != HDR_OK)
			return GV_EMALFORMED;
		h->type = GV_RESP_INTEGER;
		h->num = v;
		h->next = next;
		return 1;
	case '$':
	case '=': /* RESP3 verbatim: a bulk whose first 4 bytes say "txt:" */
		r = read_header(buf, len, pos + 1, &v, &next);
		if (r == HDR_MORE)
			return 0;
		if (r != HDR_OK || v < -1 || (buf[pos] == '=' && v < 4))
			return GV_EMALFORMED;
		if (v == -1) {
			h->type = GV_RESP_NIL;
			h->next = next;
			return 1;
		}
		if ((uint64_t)v > lim->max_bulk)
			return GV_EVALSIZE;
		if (len - next < (size_t)v + 2)
			return 0;
		if (buf[next + (size_t)v] != '\r' ||
		    buf[next + (size_t)v + 1] != '\n')
			return GV_EMALFORMED;
		h->type = GV_RESP_BULK;
		h->num = v;
		h->str = next;
		h->len = (size_t)v;
		h->next = next + (size_t)v + 2;
		if (buf[pos] == '=') { /* the text without its format */
			h->str += 4;
			h->len -= 4;
			h->num -= 4;
		}
		return 1;
	case '*':
	case '~': /* RESP3 set */
	case '>': /* RESP3 push */
	case '%': /* RESP3 map: its keys and values as one flat array */
		r = read_header(buf, len, pos + 1, &v, &next);
		if (r == HDR_MORE)
			return 0;
		if (r != HDR_OK || v < -1 || (buf[pos] != '*' && v < 0))
			return GV_EMALFORMED;
		if (buf[pos] == '%') {
			if ((uint64_t)v > lim->max_elems / 2)
				return GV_EVALSIZE;
			v *= 2;
		}
		if (v > 0 && (uint64_t)v > lim->max_elems)
			return GV_EVALSIZE;
		h->type = v == -1 ? GV_RESP_NIL_ARRAY : GV_RESP_ARRAY;
		h->num = v;
		h->next = next;
		return 1;
	default:
		return GV_EMALFORMED;
	}
}

/*
 * Walk one reply without building anything: a stack of "elements still to
 * read" per nesting level, so depth is bounded and nothing recurses.
 */
static int
scan_reply(const char *buf, size_t len, const gv_resp_limits *lim,
	   size_t *consumed)
{
	uint64_t left[GV_RESP_MAX_DEPTH + 1];
	int depth = 0;
	size_t pos = 0;
	left[0] = 1;
	while (depth >= 0) {
		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		struct rhdr h;
		int r = read_value(buf, len, pos, lim, &h);
		if (r <= 0)
			return r;
		pos = h.next;
		if (h.type == GV_RESP_ARRAY && h.num > 0) {
			if (depth >= GV_RESP_MAX_DEPTH)
				return GV_EMALFORMED;
			left[++depth] = (uint64_t)h.num;
		}
	}
	*consumed = pos;
	return 1;
}

int
gv_resp_reply_scan(const char *buf, size_t len, const gv_resp_limits *lim,
		   size_t *consumed)
{
	gv_resp_limits l;
	if (!buf && len)
		return GV_EINVAL;
	limits_resolve(&l, lim);
	return scan_reply(buf, len, &l, consumed);
}

/*
 * Build the tree of a reply scan_reply() accepted, so every read succeeds
 * and recursion is at most GV_RESP_MAX_DEPTH deep. Returns the offset after
 * the value, or 0 with *err set when an allocation fails (the value is
 * then complete enough for gv_resp_value_fini).
 */
static size_t
build(const char *buf, size_t len, size_t pos, const gv_resp_limits *lim,
      const gv_mem *mem, gv_resp_value *v, int *err)
{
	struct rhdr h;
	memset(v, 0, sizeof(*v));
	if (read_value(buf, len, pos, lim, &h) != 1) {
		*err = GV_EMALFORMED; /* unreachable after a scan */
		return 0;
	}
	v->type = h.type;
	switch (h.type) {
	case GV_RESP_SIMPLE:
	case GV_RESP_ERROR:
	case GV_RESP_BULK:
		v->str = buf + h.str;
		v->len = h.len;
		return h.next;
	case GV_RESP_INTEGER:
		v->integer = h.num;
		return h.next;
	case GV_RESP_ARRAY:
		break;
	default:
		return h.next;
	}
	pos = h.next;
	if (h.num == 0)
		return pos;
	size_t n = (size_t)h.num; /* <= max_elems, sized to not overflow */
	v->elems = gv__zalloc(mem, n * sizeof(*v->elems));
	if (!v->elems) {
		*err = GV_ENOMEM;
		return 0;
	}
	v->n = n;
	for (size_t i = 0; i < n; i++) {
		pos = build(buf, len, pos, lim, mem, &v->elems[i], err);
		if (!pos)
			return 0;
	}
	return pos;
}

int
gv_resp_reply_parse(const char *buf, size_t len, const gv_mem *mem,
		    const gv_resp_limits *lim, gv_resp_value *out,
		    size_t *consumed)
{
	gv_resp_limits l;
	size_t n;
	if ((!buf && len) || !mem || !out)
		return GV_EINVAL;
	limits_resolve(&l, lim);
	int r = scan_reply(buf, len, &l, &n);
	if (r <= 0)
		return r;
	gv_resp_value v;
	int err = 0;
	if (!build(buf, n, 0, &l, mem, &v, &err)) {
		gv_resp_value_fini(mem, &v);
		return err;
	}
	*out = v;
	*consumed = n;
	return 1;
}

void
gv_resp_value_fini(const gv_mem *mem, gv_resp_value *v)
{
	if (v->type == GV_RESP_ARRAY && v->elems) {
		for (size_t i = 0; i < v->n; i++)
			gv_resp_value_fini(mem, &v->elems[i]);
		gv__free(mem, v->elems, v->n * sizeof(*v->elems));
	}
	v->elems = NULL;
	v->n = 0;
}
