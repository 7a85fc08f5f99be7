/* SPDX-License-Identifier: MIT */
/*
 * counter.c - the counter CRDT (see counter.h for the model and the
 * encoding).
 */
#include "counter.h"

#include <math.h>
#include <stdio.h>

#define FMT 1
#define F_BASE_FLOAT 0x01
#define S_FLOAT 0x01
#define HDR_LEN (2 + 16 + 8 + 8 + 16 + 1) /* the base counted apart */
#define LD_LEN 12                              /* mantissa i64 + exp i32 */

/* frexpl's mantissa in [0.5, 1), its magnitude scaled to 64 bits (all of
 * an x86 long double's), and its exponent shifted left by one with the
 * sign below: the same bits on every node. */
static void
put_ld(uint8_t *p, long double v)
{
	int e = 0;
	long double m = frexpl(v, &e);
	bool neg = signbit(m);
	gv__st64(p, (uint64_t)ldexpl(fabsl(m), 64));
	gv__st32(p + 8, (uint32_t)(((int32_t)e * 2) | (neg ? 1 : 0)));
}

static long double
get_ld(const uint8_t *p)
{
	uint64_t m = gv__ld64(p);
	int32_t x = (int32_t)gv__ld32(p + 8);
	long double v = ldexpl((long double)m, (x - (x & 1)) / 2 - 64);
	return (x & 1) ? -v : v;
}

static size_t
slot_size(const gv_counter_slot *s)
{
	return 8 + 4 + 1 + 8 + (s->fsum != 0 ? LD_LEN : 0);
}

size_t
gv_counter_size(const gv_counter *c)
{
	size_t n = HDR_LEN + (c->base_float ? LD_LEN : 8);
	for (unsigned i = 0; i < c->nslots; i++)
		n += slot_size(&c->slots[i]);
	return n;
}

ssize_t
gv_counter_encode(const gv_counter *c, uint8_t *p, size_t cap)
{
	size_t need = gv_counter_size(c);
	if (need > cap)
		return GV_ENOBUFS;
	uint8_t *q = p;
	*q++ = FMT;
	*q++ = c->base_float ? F_BASE_FLOAT : 0;
	gv__st64(q, c->epoch.hlc);
	gv__st64(q + 8, c->epoch.origin);
	q += 16;
	if (c->base_float) {
		put_ld(q, c->base_f);
		q += LD_LEN;
	} else {
		gv__st64(q, (uint64_t)c->base_i);
		q += 8;
	}
	gv__st64(q, c->hlc);
	gv__st64(q + 8, c->expire);
	gv__st64(q + 16, c->exp_ver.hlc);
	gv__st64(q + 24, c->exp_ver.origin);
	q += 32;
	*q++ = (uint8_t)c->nslots;
	for (unsigned i = 0; i < c->nslots; i++) {
		const gv_counter_slot *s = &c->slots[i];
		bool f = s->fsum != 0;
		gv__st64(q, s->origin);
		gv__st32(q + 8, s->seq);
		q[12] = f ? S_FLOAT : 0;
		gv__st64(q + 13, (uint64_t)s->isum);
		q += 21;
		if (f) {
			put_ld(q, s->fsum);
			q += LD_LEN;
		}
	}
	return (ssize_t)(q - p);
}

int
gv_counter_decode(const uint8_t *p, size_t n, gv_counter *c)
{
	const uint8_t *end = p + n;
	if (n < HDR_LEN + 8 || p[0] != FMT || (p[1] & ~F_BASE_FLOAT))
		return GV_EMALFORMED;
	memset(c, 0, offsetof(gv_counter, slots));
	c->base_float = p[1] & F_BASE_FLOAT;
	p += 2;
	c->epoch.hlc = gv__ld64(p);
	c->epoch.origin = gv__ld64(p + 8);
	p += 16;
	if (c->base_float) {
		if ((size_t)(end - p) < LD_LEN + 33)
			return GV_EMALFORMED;
		c->base_f = get_ld(p);
		p += LD_LEN;
	} else {
		c->base_i = (int64_t)gv__ld64(p);
		p += 8;
	}
	c->hlc = gv__ld64(p);
	c->expire = gv__ld64(p + 8);
	c->exp_ver.hlc = gv__ld64(p + 16);
	c->exp_ver.origin = gv__ld64(p + 24);
	p += 32;
	c->nslots = *p++;
	if (c->nslots > GV_COUNTER_MAX_SLOTS)
		return GV_EMALFORMED;
	for (unsigned i = 0; i < c->nslots; i++) {
		gv_counter_slot *s = &c->slots[i];
		if (end - p < 21)
			return GV_EMALFORMED;
		s->origin = gv__ld64(p);
		s->seq = gv__ld32(p + 8);
		uint8_t f = p[12];
		s->isum = (int64_t)gv__ld64(p + 13);
		p += 21;
		s->fsum = 0;
		if (f & ~S_FLOAT)
			return GV_EMALFORMED;
		if (f) {
			if (end - p < LD_LEN)
				return GV_EMALFORMED;
			s->fsum = get_ld(p);
			p += LD_LEN;
			if (s->fsum == 0 || !isfinite(s->fsum))
				return GV_EMALFORMED;
		}
		/* canonical: one slot per origin, in order */
		if (i && s->origin <= c->slots[i - 1].origin)
			return GV_EMALFORMED;
	}
	if (p != end || (c->base_float && !isfinite(c->base_f)))
		return GV_EMALFORMED;
	return 0;
}

gv_version
gv_counter_ver(const gv_counter *c)
{
	uint8_t buf[GV_COUNTER_MAX_ENC];
	ssize_t n = gv_counter_encode(c, buf, sizeof(buf));
	uint64_t sum = 0;
	for (unsigned i = 0; i < c->nslots; i++)
		sum += c->slots[i].seq;
	if (sum > UINT32_MAX)
		sum = UINT32_MAX;
	uint32_t h = (uint32_t)XXH3_64bits(buf, n > 0 ? (size_t)n : 0);
	gv_version v = {c->hlc, (sum << 32) | h};
	if (gv_version_is_zero(&v))
		v.origin = 1;
	return v;
}

int
gv_counter_join(gv_counter *a, const gv_counter *b)
{
	gv_counter_slot out[2 * GV_COUNTER_MAX_SLOTS];
	unsigned i = 0, j = 0, k = 0;
	/* both sorted by origin: merge, the higher sequence for a shared one */
	while (i < a->nslots && j < b->nslots) {
		const gv_counter_slot *x = &a->slots[i], *y = &b->slots[j];
		if (x->origin < y->origin) {
			out[k++] = *x;
			i++;
		} else if (y->origin < x->origin) {
			out[k++] = *y;
			j++;
		} else {
			out[k++] = x->seq >= y->seq ? *x : *y;
			i++;
			j++;
		}
	}
	while (i < a->nslots)
		out[k++] = a->slots[i++];
	while (j < b->nslots)
		out[k++] = b->slots[j++];
	if (k > GV_COUNTER_MAX_SLOTS)
		return GV_EFULL;
	if (k)
		memcpy(a->slots, out, k * sizeof(out[0]));
	a->nslots = k;
	if (b->hlc > a->hlc)
		a->hlc = b->hlc;
	if (gv_version_cmp(&b->exp_ver, &a->exp_ver) > 0) {
		a->exp_ver = b->exp_ver;
		a->expire = b->expire;
	}
	return 0;
}

bool
gv_counter_is_float(const gv_counter *c)
{
	if (c->base_float)
		return true;
	for (unsigned i = 0; i < c->nslots; i++)
		if (c->slots[i].fsum != 0)
			return true;
	return false;
}

long double
gv_counter_float(const gv_counter *c)
{
	long double v = c->base_float ? c->base_f : (long double)c->base_i;
	for (unsigned i = 0; i < c->nslots; i++)
		v += (long double)c->slots[i].isum + c->slots[i].fsum;
	return v;
}

int
gv_counter_int(const gv_counter *c, int64_t *out)
{
	if (gv_counter_is_float(c)) {
		char buf[GV_COUNTER_STR_MAX];
		size_t n = gv_format_ld(gv_counter_float(c), buf, sizeof(buf));
		return gv_parse_i64(buf, n, out) ? 0 : GV_EINVAL;
	}
	__int128 v = c->base_i;
	for (unsigned i = 0; i < c->nslots; i++)
		v += c->slots[i].isum;
	if (v > INT64_MAX || v < INT64_MIN)
		return GV_ERANGE;
	*out = (int64_t)v;
	return 0;
}

size_t
gv_counter_format(const gv_counter *c, char *buf, size_t cap)
{
	if (gv_counter_is_float(c))
		return gv_format_ld(gv_counter_float(c), buf, cap);
	int64_t v;
	if (gv_counter_int(c, &v) == 0) {
		int n = snprintf(buf, cap, "%lld", (long long)v);
		return n > 0 ? (size_t)n : 0;
	}
	/* integer sums that overflow (concurrent increments at several
	 * nodes, each within range): print the exact sum */
	__int128 s = c->base_i;
	for (unsigned i = 0; i < c->nslots; i++)
		s += c->slots[i].isum;
	char tmp[48];
	size_t n = 0;
	bool neg = s < 0;
	unsigned __int128 u = neg ? -(unsigned __int128)s : (unsigned __int128)s;
	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u && n < sizeof(tmp));
	size_t len = 0;
	if (neg && len + 1 < cap)
		buf[len++] = '-';
	while (n && len + 1 < cap)
		buf[len++] = tmp[--n];
	buf[len] = 0;
	return len;
}

static gv_counter_slot *
own_slot(gv_counter *c, gv_node_id self)
{
	unsigned i = 0;
	while (i < c->nslots && c->slots[i].origin < self)
		i++;
	if (i < c->nslots && c->slots[i].origin == self)
		return &c->slots[i];
	if (c->nslots == GV_COUNTER_MAX_SLOTS)
		return NULL;
	memmove(&c->slots[i + 1], &c->slots[i],
		(c->nslots - i) * sizeof(c->slots[0]));
	c->nslots++;
	memset(&c->slots[i], 0, sizeof(c->slots[i]));
	c->slots[i].origin = self;
	return &c->slots[i];
}

int
gv_counter_add(gv_counter *c, gv_node_id self, uint64_t hlc, int64_t di,
	       long double df, bool is_float)
{
	gv_counter_slot *s = own_slot(c, self);
	if (!s)
		return GV_EFULL;
	s->seq++;
	if (is_float)
		s->fsum += df;
	else
		s->isum = (int64_t)((uint64_t)s->isum + (uint64_t)di);
	if (hlc > c->hlc)
		c->hlc = hlc;
	return 0;
}

int
gv_counter_set_expire(gv_counter *c, gv_node_id self, const gv_version *ver,
		      uint64_t expire)
{
	gv_counter_slot *s = own_slot(c, self);
	if (!s)
		return GV_EFULL;
	s->seq++;
	c->expire = expire;
	c->exp_ver = *ver;
	if (ver->hlc > c->hlc)
		c->hlc = ver->hlc;
	return 0;
}

/* ----------------------------------------------------------- numbers */

bool
gv_parse_i64(const void *ptr, size_t n, int64_t *out)
{
	const char *p = ptr;
	if (n == 0 || n > 20)
		return false;
	size_t i = 0;
	bool neg = false;
	if (p[0] == '-') {
		neg = true;
		i = 1;
		if (n == 1)
			return false;
	}
	if (p[i] == '0')
		return n == 1 && (*out = 0, true);
	uint64_t v = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

bool
gv_parse_ld(const void *ptr, size_t n, long double *out)
{
	char buf[GV_COUNTER_STR_MAX];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, ptr, n);
	buf[n] = 0;
	/* Redis refuses leading spaces (strtold would skip them) */
	if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' ||
	    buf[0] == '\r' || buf[0] == '\v' || buf[0] == '\f')
		return false;
	char *end;
	errno = 0;
	long double v = strtold(buf, &end);
	if ((size_t)(end - buf) != n || isnan(v) ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL)))
		return false;
	*out = v;
	return true;
}

size_t
gv_format_ld(long double v, char *buf, size_t cap)
{
	int l = snprintf(buf, cap, "%.17Lf", v);
	if (l <= 0 || (size_t)l >= cap)
		return 0;
	size_t n = (size_t)l;
	if (memchr(buf, '.', n)) {
		while (n && buf[n - 1] == '0')
			n--;
		if (n && buf[n - 1] == '.')
			n--;
	}
	if (n == 2 && buf[0] == '-' && buf[1] == '0') {
		buf[0] = '0';
		n = 1;
	}
	buf[n] = 0;
	return n;
}
