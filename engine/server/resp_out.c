/* SPDX-License-Identifier: MIT */
/*
 * resp_out.c - the bytes-out half of the Redis protocol (RESP2/3): the
 * growable gv_resp_buf (which also serves as a connection's input buffer,
 * through reserve and commit) and the gv_resp_out_* encoders that append
 * one reply value, or a client's command, to it. See resp.h for the
 * contracts; the parsers are in resp_parse.c.
 *
 * The buffer allocates only through the gv_mem it was given and latches
 * its first failure, so an encoder never leaves a reply with a hole in it.
 * The file is compiled with the core's gv_core.h force-included, so it
 * cannot reach for malloc, a clock or a socket by mistake.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/gv_core.h" /* gv__alloc, gv__free (already force-included) */
#include "server/resp.h"

/* ------------------------------------------------------------------ */
/* Output buffer                                                      */

void
gv_resp_buf_init(gv_resp_buf *b, const gv_mem *mem, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->mem = mem;
	b->limit = limit;
}

void
gv_resp_buf_fini(gv_resp_buf *b)
{
	gv__free(b->mem, b->data, b->cap);
	b->data = NULL;
	b->cap = 0;
	b->start = 0;
	b->end = 0;
}

void
gv_resp_buf_clear(gv_resp_buf *b)
{
	b->start = 0;
	b->end = 0;
	b->err = 0;
}

bool
gv_resp_buf_adopt(gv_resp_buf *b, char *data, size_t len)
{
	if (b->start != b->end || b->err || !data || !len ||
	    (b->limit && len > b->limit))
		return false;
	gv__free(b->mem, b->data, b->cap);
	b->data = data;
	b->cap = len;
	b->start = 0;
	b->end = len;
	return true;
}

void
gv_resp_buf_trim(gv_resp_buf *b)
{
	if (b->start == b->end)
		gv_resp_buf_fini(b);
}

char *
gv_resp_buf_reserve(gv_resp_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	size_t pend = b->end - b->start;
	if (b->limit && (n > b->limit || pend > b->limit - n)) {
		b->err = GV_ENOSPC;
		return NULL;
	}
	if (b->cap - b->end >= n)
		return b->data + b->end;
	if (n > SIZE_MAX / 4 - pend) {
		b->err = GV_ENOMEM;
		return NULL;
	}
	size_t need = pend + n;
	if (need <= b->cap) { /* room at the front: slide down */
		memmove(b->data, b->data + b->start, pend);
	} else {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < need)
			ncap *= 2;
		char *nd = gv__alloc(b->mem, ncap);
		if (!nd) {
			b->err = GV_ENOMEM;
			return NULL;
		}
		if (pend)
			memcpy(nd, b->data + b->start, pend);
		gv__free(b->mem, b->data, b->cap);
		b->data = nd;
		b->cap = ncap;
	}
	b->start = 0;
	b->end = pend;
	return b->data + b->end;
}

void
gv_resp_buf_commit(gv_resp_buf *b, size_t n)
{
	if (n > b->cap - b->end)
		n = b->cap - b->end;
	b->end += n;
}

int
gv_resp_buf_append(gv_resp_buf *b, const void *p, size_t n)
{
	char *d = gv_resp_buf_reserve(b, n);
	if (!d)
		return b->err;
	if (n)
		memcpy(d, p, n);
	b->end += n;
	return 0;
}

void
gv_resp_buf_consume(gv_resp_buf *b, size_t n)
{
	size_t pend = b->end - b->start;
	if (n >= pend) {
		b->start = 0;
		b->end = 0;
	} else {
		b->start += n;
	}
}

/* ------------------------------------------------------------------ */
/* Encoders                                                           */

/* Decimal digits of v at the end of out[0, 24); returns the start. */
static char *
fmt_u64(char out[24], uint64_t v)
{
	char *p = out + 24;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

/* "<c><v>\r\n" for a header or an integer. */
static int
out_num(gv_resp_buf *b, char c, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *d = fmt_u64(tmp, u);
	size_t nd = (size_t)(tmp + 24 - d);
	char *w = gv_resp_buf_reserve(b, nd + 4);
	if (!w)
		return b->err;
	char *s = w;
	*w++ = c;
	if (v < 0)
		*w++ = '-';
	memcpy(w, d, nd);
	w += nd;
	*w++ = '\r';
	*w++ = '\n';
	b->end += (size_t)(w - s);
	return 0;
}

/* "<c><s>\r\n" with CR and LF in s written as spaces. */
static int
out_line(gv_resp_buf *b, char c, const char *s, size_t n)
{
	char *w = gv_resp_buf_reserve(b, n + 3);
	if (!w)
		return b->err;
	w[0] = c;
	for (size_t i = 0; i < n; i++)
		w[1 + i] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->end += n + 3;
	return 0;
}

int
gv_resp_out_simple(gv_resp_buf *b, const char *s)
{
	return out_line(b, '+', s, strlen(s));
}

int
gv_resp_out_ok(gv_resp_buf *b)
{
	return gv_resp_buf_append(b, "+OK\r\n", 5);
}

int
gv_resp_out_error(gv_resp_buf *b, const char *msg)
{
	return out_line(b, '-', msg, strlen(msg));
}

int
gv_resp_out_errorf(gv_resp_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return GV_EINVAL;
	if ((size_t)n < sizeof(small))
		return out_line(b, '-', small, (size_t)n);
	/* Long message: format straight into the buffer, then sanitise. */
	char *w = gv_resp_buf_reserve(b, (size_t)n + 3);
	if (!w)
		return b->err;
	w[0] = '-';
	va_start(ap, fmt);
	vsnprintf(w + 1, (size_t)n + 1, fmt, ap);
	va_end(ap);
	for (int i = 1; i <= n; i++)
		if (w[i] == '\r' || w[i] == '\n')
			w[i] = ' ';
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->end += (size_t)n + 3;
	return 0;
}

int
gv_resp_out_int(gv_resp_buf *b, int64_t v)
{
	return out_num(b, ':', v);
}

int
gv_resp_out_bulk(gv_resp_buf *b, const void *p, size_t n)
{
	char tmp[24];
	char *d = fmt_u64(tmp, n);
	size_t nd = (size_t)(tmp + 24 - d);
	if (n > SIZE_MAX / 4)
		return GV_ENOMEM;
	char *w = gv_resp_buf_reserve(b, 1 + nd + 2 + n + 2);
	if (!w)
		return b->err;
	char *s = w;
	*w++ = '$';
	memcpy(w, d, nd);
	w += nd;
	*w++ = '\r';
	*w++ = '\n';
	if (n)
		memcpy(w, p, n);
	w += n;
	*w++ = '\r';
	*w++ = '\n';
	b->end += (size_t)(w - s);
	return 0;
}

int
gv_resp_out_bulk_str(gv_resp_buf *b, const char *s)
{
	return gv_resp_out_bulk(b, s, strlen(s));
}

int
gv_resp_out_bulkf(gv_resp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return GV_EINVAL;
	char tmp[24];
	char *d = fmt_u64(tmp, (uint64_t)n);
	size_t nd = (size_t)(tmp + 24 - d);
	/* +1: vsnprintf's NUL lands where the final CR goes. */
	char *w = gv_resp_buf_reserve(b, 1 + nd + 2 + (size_t)n + 2);
	if (!w)
		return b->err;
	char *s = w;
	*w++ = '$';
	memcpy(w, d, nd);
	w += nd;
	*w++ = '\r';
	*w++ = '\n';
	va_start(ap, fmt);
	vsnprintf(w, (size_t)n + 1, fmt, ap);
	va_end(ap);
	w += n;
	*w++ = '\r';
	*w++ = '\n';
	b->end += (size_t)(w - s);
	return 0;
}

static bool
resp3(const gv_resp_buf *b)
{
	return b->proto == 3;
}

int
gv_resp_out_null(gv_resp_buf *b)
{
	if (resp3(b))
		return gv_resp_buf_append(b, "_\r\n", 3);
	return gv_resp_buf_append(b, "$-1\r\n", 5);
}

int
gv_resp_out_array(gv_resp_buf *b, size_t n)
{
	if (n > INT64_MAX)
		return GV_ERANGE;
	return out_num(b, '*', (int64_t)n);
}

int
gv_resp_out_null_array(gv_resp_buf *b)
{
	if (resp3(b))
		return gv_resp_buf_append(b, "_\r\n", 3);
	return gv_resp_buf_append(b, "*-1\r\n", 5);
}

int
gv_resp_out_map(gv_resp_buf *b, size_t n)
{
	if (n > INT64_MAX / 2)
		return GV_ERANGE;
	if (resp3(b))
		return out_num(b, '%', (int64_t)n);
	return out_num(b, '*', (int64_t)(2 * n));
}

int
gv_resp_out_set(gv_resp_buf *b, size_t n)
{
	if (n > INT64_MAX)
		return GV_ERANGE;
	return out_num(b, resp3(b) ? '~' : '*', (int64_t)n);
}

int
gv_resp_out_double(gv_resp_buf *b, double v)
{
	char s[40];
	/* Redis 7.0's addReplyDouble: inf and nan by name (RESP3's
	 * spelling, which its RESP2 bulk uses too), else %.17g */
	if (isinf(v))
		snprintf(s, sizeof(s), "%s", v > 0 ? "inf" : "-inf");
	else if (isnan(v))
		snprintf(s, sizeof(s), "nan");
	else
		snprintf(s, sizeof(s), "%.17g", v);
	if (resp3(b))
		return out_line(b, ',', s, strlen(s));
	return gv_resp_out_bulk(b, s, strlen(s));
}

int
gv_resp_out_bool(gv_resp_buf *b, bool v)
{
	if (resp3(b))
		return gv_resp_buf_append(b, v ? "#t\r\n" : "#f\r\n", 4);
	return gv_resp_buf_append(b, v ? ":1\r\n" : ":0\r\n", 4);
}

int
gv_resp_out_verbatim(gv_resp_buf *b, const char *fmt, const void *p,
		     size_t n)
{
	if (strlen(fmt) != 3)
		return GV_EINVAL;
	if (!resp3(b))
		return gv_resp_out_bulk(b, p, n);
	if (n > SIZE_MAX / 4)
		return GV_ENOMEM;
	int r = out_num(b, '=', (int64_t)(n + 4));
	char *w = r ? NULL : gv_resp_buf_reserve(b, 4 + n + 2);
	if (!w)
		return b->err;
	memcpy(w, fmt, 3);
	w[3] = ':';
	if (n)
		memcpy(w + 4, p, n);
	w[4 + n] = '\r';
	w[4 + n + 1] = '\n';
	b->end += 4 + n + 2;
	return 0;
}

int
gv_resp_out_command(gv_resp_buf *b, size_t argc, const char *const *argv,
		    const size_t *lens)
{
	int r = gv_resp_out_array(b, argc);
	for (size_t i = 0; i < argc && !r; i++) {
		size_t n = lens ? lens[i] : strlen(argv[i]);
		r = gv_resp_out_bulk(b, argv[i], n);
	}
	return r;
}
