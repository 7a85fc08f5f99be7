/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - the metrics registry, the lock-free histogram and the
 * Prometheus text writer (see metrics.h).
 *
 * The registry keeps two arrays: families (name, help, type) and series
 * (labels pre-rendered as `a="x",b="y"` with escaping done once at
 * registration, and a pointer to the live value). Each family links its
 * series in order through an index chain, so rendering is one pass over the
 * families that follows each chain. Everything is allocated through the
 * registry's gv_mem with sized frees, so each string remembers its size.
 */
#include "shard/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

const double gv_hist_delay_s_bounds[GV_HIST_DELAY_S_N] = {
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
        0.1,    0.2,   0.5,   1,     2,    5,
};

enum src_kind { SRC_U64, SRC_F64, SRC_HIST };

struct gv_metric_family {
	char *name; /* NUL-terminated; name_size bytes with the NUL */
	size_t name_size;
	char *help; /* NULL: no HELP line */
	size_t help_size;
	enum gv_metric_type type;
	size_t first, last; /* the series chain (never empty) */
};

struct gv_metric_series {
	size_t next;  /* next series of the family, or NONE */
	char *labels; /* rendered, without braces; NULL when none */
	size_t labels_size;
	enum src_kind kind;
	union {
		const _Atomic uint64_t *u64;
		const _Atomic double *f64;
		const gv_histogram *hist;
	} src;
};

/* ---------------------------------------------------------------------- */
/* Histogram                                                              */
/* ---------------------------------------------------------------------- */

int
gv_histogram_init(gv_histogram *h, const double *bounds, size_t n)
{
	if (!h || n > GV_HIST_MAX_BOUNDS || (n > 0 && !bounds))
		return GV_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]))
			return GV_EINVAL;
		if (i > 0 && !(bounds[i] > bounds[i - 1]))
			return GV_EINVAL;
	}
	memset(h, 0, sizeof(*h));
	h->nbounds = n;
	for (size_t i = 0; i < n; i++)
		h->bounds[i] = bounds[i];
	/*
	 * Plain initialisation: the histogram reaches the observing and the
	 * rendering threads through thread creation or a lock, which orders
	 * these stores before their first access.
	 */
	for (size_t i = 0; i <= GV_HIST_MAX_BOUNDS; i++)
		atomic_init(&h->buckets[i], 0);
	atomic_init(&h->sum, 0.0);
	return 0;
}

/*
 * C11 has no fetch_add for doubles: CAS the new sum in. Relaxed: the RMW
 * alone prevents a lost update against another adder; the reader may see
 * it before or after the bucket's (see metrics.h on why that is
 * acceptable).
 */
static void
sum_add(gv_histogram *h, double v)
{
	double old = atomic_load_explicit(&h->sum, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&h->sum, &old, old + v,
	                                              memory_order_relaxed,
	                                              memory_order_relaxed))
		;
}

void
gv_histogram_observe(gv_histogram *h, double v)
{
	if (isnan(v))
		return;
	/* Linear: at most 31 bounds, and delays mostly land in the first. */
	size_t i = 0;
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	/*
	 * Relaxed: the atomic RMW alone prevents the race that matters (a
	 * torn or lost count against the reader or another observer); no
	 * other memory is published through it.
	 */
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	sum_add(h, v);
}

int
gv_histogram_add(gv_histogram *dst, const gv_histogram *src)
{
	if (dst->nbounds != src->nbounds)
		return GV_EINVAL;
	for (size_t i = 0; i < src->nbounds; i++)
		if (dst->bounds[i] != src->bounds[i])
			return GV_EINVAL;
	/* Relaxed, as in gv_histogram_observe and gv_histogram_read. */
	for (size_t i = 0; i <= src->nbounds; i++)
		atomic_fetch_add_explicit(
		        &dst->buckets[i],
		        atomic_load_explicit(&src->buckets[i],
		                             memory_order_relaxed),
		        memory_order_relaxed);
	sum_add(dst, atomic_load_explicit(&src->sum, memory_order_relaxed));
	return 0;
}

void
gv_histogram_read(const gv_histogram *h, uint64_t *cum, double *sum)
{
	uint64_t total = 0;
	/*
	 * Relaxed loads: each bucket is read whole (no torn value); buckets
	 * read at slightly different moments still give cumulative counts
	 * that never decrease with le, since each is a sum of the same reads.
	 */
	for (size_t i = 0; i <= h->nbounds; i++) {
		total += atomic_load_explicit(&h->buckets[i],
		                              memory_order_relaxed);
		cum[i] = total;
	}
	if (sum)
		*sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

/* ---------------------------------------------------------------------- */
/* Output buffer                                                          */
/* ---------------------------------------------------------------------- */

void
gv_metrics_buf_init(gv_metrics_buf *b, const gv_mem *mem)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->mem = mem;
}

void
gv_metrics_buf_fini(gv_metrics_buf *b)
{
	if (b->data)
		b->mem->dealloc(b->mem->ctx, b->data, b->cap);
	gv_metrics_buf_init(b, b->mem);
}

/* Make room for extra more bytes plus the NUL. */
static int
buf_reserve(gv_metrics_buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return GV_ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	char *p = b->mem->alloc(b->mem->ctx, cap);
	if (!p)
		return GV_ENOMEM;
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		b->mem->dealloc(b->mem->ctx, b->data, b->cap);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

static int
buf_put(gv_metrics_buf *b, const char *s, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int
buf_puts(gv_metrics_buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

/*
 * Append s escaped for the text format: backslash and newline always, the
 * double quote too inside a label value (quote != 0).
 */
static int
buf_put_escaped(gv_metrics_buf *b, const char *s, int quote)
{
	int rc = 0;
	for (const char *p = s; *p && !rc; p++) {
		if (*p == '\\')
			rc = buf_put(b, "\\\\", 2);
		else if (*p == '\n')
			rc = buf_put(b, "\\n", 2);
		else if (*p == '"' && quote)
			rc = buf_put(b, "\\\"", 2);
		else
			rc = buf_put(b, p, 1);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Number formatting                                                      */
/* ---------------------------------------------------------------------- */

/*
 * The shortest of %.15g, %.16g, %.17g that reads back as v (so 0.1 prints
 * as "0.1", and any double survives the round trip), or the text format's
 * spellings of the special values.
 */
static void
fmt_double(char out[32], double v)
{
	if (isnan(v)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static void
fmt_u64(char out[32], uint64_t v)
{
	snprintf(out, 32, "%" PRIu64, v);
}

/* ---------------------------------------------------------------------- */
/* Validation                                                             */
/* ---------------------------------------------------------------------- */

static bool
is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
gv_metrics_name_valid(const char *name)
{
	if (!name || !(is_alpha_(name[0]) || name[0] == ':'))
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!is_alpha_(*p) && !is_digit(*p) && *p != ':')
			return false;
	return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved). */
static bool
label_name_valid(const char *name)
{
	if (!name || !is_alpha_(name[0]))
		return false;
	if (name[0] == '_' && name[1] == '_')
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!is_alpha_(*p) && !is_digit(*p))
			return false;
	return true;
}

static int
labels_valid(const gv_metric_label *labels, size_t n, enum gv_metric_type type)
{
	if (n > 0 && !labels)
		return GV_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!label_name_valid(labels[i].name) || !labels[i].value)
			return GV_EINVAL;
		if (type == GV_METRIC_HISTOGRAM &&
		    strcmp(labels[i].name, "le") == 0)
			return GV_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(labels[i].name, labels[j].name) == 0)
				return GV_EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Registry                                                               */
/* ---------------------------------------------------------------------- */

void
gv_metrics_init(gv_metrics *m, const gv_mem *mem)
{
	memset(m, 0, sizeof(*m));
	m->mem = mem;
}

static void
str_free(const gv_mem *mem, char *s, size_t size)
{
	if (s)
		mem->dealloc(mem->ctx, s, size);
}

static char *
str_dup(const gv_mem *mem, const char *s, size_t *size)
{
	size_t n = strlen(s) + 1;
	char *p = mem->alloc(mem->ctx, n);
	if (p) {
		memcpy(p, s, n);
		*size = n;
	}
	return p;
}

void
gv_metrics_fini(gv_metrics *m)
{
	const gv_mem *mem = m->mem;
	for (size_t i = 0; i < m->nfams; i++) {
		str_free(mem, m->fams[i].name, m->fams[i].name_size);
		str_free(mem, m->fams[i].help, m->fams[i].help_size);
	}
	for (size_t i = 0; i < m->nseries; i++)
		str_free(mem, m->series[i].labels, m->series[i].labels_size);
	if (m->fams)
		mem->dealloc(mem->ctx, m->fams, m->fams_cap * sizeof(*m->fams));
	if (m->series)
		mem->dealloc(mem->ctx, m->series,
		             m->series_cap * sizeof(*m->series));
	gv_metrics_init(m, mem);
}

/*
 * Make room for n + 1 elements of size esz in arr (cap of them allocated,
 * n used): *out is arr itself or a larger copy (arr then freed).
 */
static int
grow(const gv_mem *mem, void *arr, size_t *cap, size_t n, size_t esz,
     void **out)
{
	*out = arr;
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / esz)
		return GV_ENOMEM;
	void *p = mem->alloc(mem->ctx, ncap * esz);
	if (!p)
		return GV_ENOMEM;
	if (arr) {
		memcpy(p, arr, n * esz);
		mem->dealloc(mem->ctx, arr, *cap * esz);
	}
	*out = p;
	*cap = ncap;
	return 0;
}

/*
 * Render labels as `a="x",b="y"` (escaped) into a fresh allocation.
 * *out is NULL when there are none.
 */
static int
render_labels(const gv_mem *mem, const gv_metric_label *labels, size_t n,
              char **out, size_t *out_size)
{
	*out = NULL;
	*out_size = 0;
	if (n == 0)
		return 0;
	gv_metrics_buf b;
	gv_metrics_buf_init(&b, mem);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (i > 0)
			rc = buf_put(&b, ",", 1);
		if (!rc)
			rc = buf_puts(&b, labels[i].name);
		if (!rc)
			rc = buf_put(&b, "=\"", 2);
		if (!rc)
			rc = buf_put_escaped(&b, labels[i].value, 1);
		if (!rc)
			rc = buf_put(&b, "\"", 1);
	}
	if (rc) {
		gv_metrics_buf_fini(&b);
		return rc;
	}
	*out = b.data;
	*out_size = b.cap;
	return 0;
}

static bool
str_eq_null(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
add_series(gv_metrics *m, const char *name, const char *help,
           const gv_metric_label *labels, size_t nlabels,
           enum gv_metric_type type, enum src_kind kind, const void *src)
{
	if (!m || !src || !gv_metrics_name_valid(name))
		return GV_EINVAL;
	int rc = labels_valid(labels, nlabels, type);
	if (rc)
		return rc;

	size_t fam = NONE;
	for (size_t i = 0; i < m->nfams; i++)
		if (strcmp(m->fams[i].name, name) == 0) {
			fam = i;
			break;
		}
	if (fam != NONE && (m->fams[fam].type != type ||
	                    !str_eq_null(m->fams[fam].help, help)))
		return GV_EINVAL;

	char *lab;
	size_t lab_size;
	rc = render_labels(m->mem, labels, nlabels, &lab, &lab_size);
	if (rc)
		return rc;
	if (fam != NONE) {
		for (size_t s = m->fams[fam].first; s != NONE;
		     s = m->series[s].next)
			if (str_eq_null(m->series[s].labels, lab)) {
				str_free(m->mem, lab, lab_size);
				return GV_EINVAL;
			}
	}

	/* Allocate everything before changing anything. */
	char *fname = NULL, *fhelp = NULL;
	size_t fname_size = 0, fhelp_size = 0;
	void *p;
	rc = grow(m->mem, m->series, &m->series_cap, m->nseries,
	          sizeof(*m->series), &p);
	m->series = p;
	if (!rc && fam == NONE) {
		rc = grow(m->mem, m->fams, &m->fams_cap, m->nfams,
		          sizeof(*m->fams), &p);
		m->fams = p;
		if (!rc && !(fname = str_dup(m->mem, name, &fname_size)))
			rc = GV_ENOMEM;
		if (!rc && help &&
		    !(fhelp = str_dup(m->mem, help, &fhelp_size)))
			rc = GV_ENOMEM;
	}
	if (rc) {
		str_free(m->mem, fname, fname_size);
		str_free(m->mem, lab, lab_size);
		return rc;
	}

	size_t si = m->nseries++;
	struct gv_metric_series *s = &m->series[si];
	s->next = NONE;
	s->labels = lab;
	s->labels_size = lab_size;
	s->kind = kind;
	switch (kind) {
	case SRC_U64:
		s->src.u64 = src;
		break;
	case SRC_F64:
		s->src.f64 = src;
		break;
	case SRC_HIST:
		s->src.hist = src;
		break;
	}
	if (fam == NONE) {
		struct gv_metric_family *f = &m->fams[m->nfams++];
		f->name = fname;
		f->name_size = fname_size;
		f->help = fhelp;
		f->help_size = fhelp_size;
		f->type = type;
		f->first = si;
	} else {
		m->series[m->fams[fam].last].next = si;
	}
	m->fams[fam == NONE ? m->nfams - 1 : fam].last = si;
	return 0;
}

int
gv_metrics_add_counter(gv_metrics *m, const char *name, const char *help,
                       const gv_metric_label *labels, size_t nlabels,
                       const _Atomic uint64_t *src)
{
	return add_series(m, name, help, labels, nlabels, GV_METRIC_COUNTER,
	                  SRC_U64, src);
}

int
gv_metrics_add_gauge(gv_metrics *m, const char *name, const char *help,
                     const gv_metric_label *labels, size_t nlabels,
                     const _Atomic uint64_t *src)
{
	return add_series(m, name, help, labels, nlabels, GV_METRIC_GAUGE,
	                  SRC_U64, src);
}

int
gv_metrics_add_gauge_f64(gv_metrics *m, const char *name, const char *help,
                         const gv_metric_label *labels, size_t nlabels,
                         const _Atomic double *src)
{
	return add_series(m, name, help, labels, nlabels, GV_METRIC_GAUGE,
	                  SRC_F64, src);
}

int
gv_metrics_add_counter_f64(gv_metrics *m, const char *name, const char *help,
                           const gv_metric_label *labels, size_t nlabels,
                           const _Atomic double *src)
{
	return add_series(m, name, help, labels, nlabels, GV_METRIC_COUNTER,
	                  SRC_F64, src);
}

int
gv_metrics_add_histogram(gv_metrics *m, const char *name, const char *help,
                         const gv_metric_label *labels, size_t nlabels,
                         const gv_histogram *src)
{
	return add_series(m, name, help, labels, nlabels, GV_METRIC_HISTOGRAM,
	                  SRC_HIST, src);
}

/* ---------------------------------------------------------------------- */
/* Writer                                                                 */
/* ---------------------------------------------------------------------- */

static const char *
type_name(enum gv_metric_type t)
{
	switch (t) {
	case GV_METRIC_COUNTER:
		return "counter";
	case GV_METRIC_GAUGE:
		return "gauge";
	case GV_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/*
 * One sample line: name suffix{labels,le="le"} value. labels and le may
 * each be NULL.
 */
static int
put_sample(gv_metrics_buf *b, const char *name, const char *suffix,
           const char *labels, const char *le, const char *value)
{
	int rc = buf_puts(b, name);
	if (!rc && suffix)
		rc = buf_puts(b, suffix);
	if (!rc && (labels || le)) {
		rc = buf_put(b, "{", 1);
		if (!rc && labels)
			rc = buf_puts(b, labels);
		if (!rc && labels && le)
			rc = buf_put(b, ",", 1);
		if (!rc && le) {
			rc = buf_put(b, "le=\"", 4);
			if (!rc)
				rc = buf_puts(b, le);
			if (!rc)
				rc = buf_put(b, "\"", 1);
		}
		if (!rc)
			rc = buf_put(b, "}", 1);
	}
	if (!rc)
		rc = buf_put(b, " ", 1);
	if (!rc)
		rc = buf_puts(b, value);
	if (!rc)
		rc = buf_put(b, "\n", 1);
	return rc;
}

static int
put_histogram(gv_metrics_buf *b, const char *name, const char *labels,
              const gv_histogram *h)
{
	uint64_t cum[GV_HIST_MAX_BOUNDS + 1];
	double sum;
	char le[32], val[32];
	int rc = 0;

	gv_histogram_read(h, cum, &sum);
	for (size_t i = 0; i <= h->nbounds && !rc; i++) {
		if (i < h->nbounds)
			fmt_double(le, h->bounds[i]);
		else
			strcpy(le, "+Inf");
		fmt_u64(val, cum[i]);
		rc = put_sample(b, name, "_bucket", labels, le, val);
	}
	if (!rc) {
		fmt_double(val, sum);
		rc = put_sample(b, name, "_sum", labels, NULL, val);
	}
	if (!rc) {
		/* The +Inf bucket: _count and it always agree. */
		fmt_u64(val, cum[h->nbounds]);
		rc = put_sample(b, name, "_count", labels, NULL, val);
	}
	return rc;
}

static int
put_family(gv_metrics_buf *b, const gv_metrics *m,
           const struct gv_metric_family *f)
{
	int rc = 0;
	if (f->help) {
		rc = buf_puts(b, "# HELP ");
		if (!rc)
			rc = buf_puts(b, f->name);
		if (!rc)
			rc = buf_put(b, " ", 1);
		if (!rc)
			rc = buf_put_escaped(b, f->help, 0);
		if (!rc)
			rc = buf_put(b, "\n", 1);
	}
	if (!rc)
		rc = buf_puts(b, "# TYPE ");
	if (!rc)
		rc = buf_puts(b, f->name);
	if (!rc)
		rc = buf_put(b, " ", 1);
	if (!rc)
		rc = buf_puts(b, type_name(f->type));
	if (!rc)
		rc = buf_put(b, "\n", 1);

	for (size_t i = f->first; i != NONE && !rc; i = m->series[i].next) {
		const struct gv_metric_series *s = &m->series[i];
		char val[32];
		/*
		 * Relaxed loads: each value is read whole, which is the only
		 * race to prevent; the values are independent samples and
		 * order no other memory.
		 */
		switch (s->kind) {
		case SRC_U64:
			fmt_u64(val, atomic_load_explicit(
			                     s->src.u64, memory_order_relaxed));
			rc = put_sample(b, f->name, NULL, s->labels, NULL, val);
			break;
		case SRC_F64:
			fmt_double(val,
			           atomic_load_explicit(s->src.f64,
			                                memory_order_relaxed));
			rc = put_sample(b, f->name, NULL, s->labels, NULL, val);
			break;
		case SRC_HIST:
			rc = put_histogram(b, f->name, s->labels, s->src.hist);
			break;
		}
	}
	return rc;
}

ssize_t
gv_metrics_write(const gv_metrics *m, gv_metrics_buf *b)
{
	if (!m || !b || !b->mem)
		return GV_EINVAL;
	size_t start = b->len;
	int rc = 0;
	for (size_t i = 0; i < m->nfams && !rc; i++)
		rc = put_family(b, m, &m->fams[i]);
	if (rc) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		return rc;
	}
	return (ssize_t)(b->len - start);
}
