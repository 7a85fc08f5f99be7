/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - a small metrics registry and its Prometheus text exposition
 * (format 0.0.4), for the daemon's /metrics endpoint.
 *
 * The registry does not own the values. Each series points at a live value
 * that its owning thread updates with relaxed atomics (a counter, a gauge,
 * or a gv_histogram); the rendering thread reads them with relaxed loads,
 * so a value may live on another thread. (grapevined points its series at
 * a snapshot its front end fills just before each rendering.)
 * Registration copies names, help texts and labels, and is done once at
 * start-up: it is not safe concurrently with rendering.
 *
 * Series that share a name form one metric family: they share one type and
 * one help text, and the output has one "# HELP" and one "# TYPE" line per
 * family, families in the order first registered and their series in the
 * order added.
 *
 * Output goes into a gv_metrics_buf, a growable byte buffer that allocates
 * through a gv_mem and can be reused from one scrape to the next.
 *
 * Numbers are printed with printf and checked with strtod, in the C locale
 * (the daemon never calls setlocale).
 */
#ifndef GV_SHARD_METRICS_H
#define GV_SHARD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

/* ---------------------------------------------------------------------- */
/* Histogram                                                              */
/* ---------------------------------------------------------------------- */

/* Most finite bucket bounds a histogram may have (+Inf comes on top). */
#define GV_HIST_MAX_BOUNDS 31

/*
 * Bounds for update propagation delay (origin HLC to local apply), in
 * seconds (Prometheus's base unit), 0.5 ms to 5 s: GV_HIST_DELAY_S_N values
 * in gv_hist_delay_s_bounds.
 */
#define GV_HIST_DELAY_S_N 13
extern const double gv_hist_delay_s_bounds[GV_HIST_DELAY_S_N];

/*
 * A histogram with fixed buckets, observed lock-free. Bucket i counts the
 * observations v with bounds[i-1] < v <= bounds[i]; the last bucket counts
 * those above every bound (+Inf). Counts are kept per bucket, not
 * cumulatively, so an observation touches one counter; the renderer sums
 * them into Prometheus's cumulative "le" buckets, and _count is the +Inf
 * bucket, so the two always agree within one rendering.
 */
typedef struct gv_histogram {
	size_t nbounds;
	double bounds[GV_HIST_MAX_BOUNDS];
	/*
	 * Per-bucket counts. Atomic so the metrics thread's reads race with
	 * no increment (no torn or lost counts); relaxed, because a count
	 * orders no other memory.
	 */
	_Atomic uint64_t buckets[GV_HIST_MAX_BOUNDS + 1];
	/*
	 * Sum of observations. Atomic for the same reason, updated by CAS so
	 * that two observing threads (if a caller ever has them) lose no
	 * update; with the one writer a shard has, the first CAS succeeds.
	 */
	_Atomic double sum;
} gv_histogram;

/*
 * gv_histogram_init - set up an empty histogram with the given finite
 * bucket bounds (copied), which must be strictly increasing. n may be 0:
 * then the histogram has only the +Inf bucket.
 * Returns 0, or GV_EINVAL (n > GV_HIST_MAX_BOUNDS, bounds NULL with n > 0,
 * a bound NaN or infinite, bounds not strictly increasing).
 */
int gv_histogram_init(gv_histogram *h, const double *bounds, size_t n);

/*
 * gv_histogram_observe - count one observation of v. Lock-free, no
 * allocation; meant for a shard thread's hot path while the metrics thread
 * renders. NaN is ignored (it would poison the sum for good). Negative
 * values are counted, but Prometheus then no longer treats _sum as a
 * counter: callers measuring delays clamp them at 0.
 *
 * The bucket increment and the sum update are two separate atomics, so a
 * concurrent reader may see one without the other: _count (and the
 * buckets) one observation ahead of _sum, or behind it. That is
 * acceptable for Prometheus: each series is still a monotonic counter,
 * the next scrape sees both, and the only consumer of the pair,
 * rate(_sum) / rate(_count), averages over many observations, where one in
 * flight moves nothing. Making the pair atomic would need a lock or a
 * hot/cold double buffer on the hot path.
 */
void gv_histogram_observe(gv_histogram *h, double v);

/*
 * gv_histogram_read - a snapshot for tests and programs: the cumulative
 * count at each bound into cum[0..nbounds] (cum[nbounds] is the +Inf bucket
 * and the total count), and the sum into *sum (may be NULL). Same
 * consistency as rendering (see gv_histogram_observe).
 */
void gv_histogram_read(const gv_histogram *h, uint64_t *cum, double *sum);

/*
 * gv_histogram_add - add src's counts and sum into dst, which must have the
 * same bounds: how per-thread histograms become one series (src may be
 * observed meanwhile; dst gets what gv_histogram_read would have seen).
 * Returns 0, or GV_EINVAL (the bounds differ; dst is then unchanged).
 */
int gv_histogram_add(gv_histogram *dst, const gv_histogram *src);

/* ---------------------------------------------------------------------- */
/* Output buffer                                                          */
/* ---------------------------------------------------------------------- */

/*
 * A growable byte buffer. data[0..len) holds the output, followed by a NUL
 * (so tests can compare it as a string) whenever data is not NULL.
 */
typedef struct gv_metrics_buf {
	char *data;
	size_t len;
	size_t cap; /* bytes allocated at data */
	const gv_mem *mem;
} gv_metrics_buf;

/* An empty buffer that will allocate through mem. Allocates nothing. */
void gv_metrics_buf_init(gv_metrics_buf *b, const gv_mem *mem);

/* Free the buffer's storage. */
void gv_metrics_buf_fini(gv_metrics_buf *b);

/* ---------------------------------------------------------------------- */
/* Registry                                                               */
/* ---------------------------------------------------------------------- */

enum gv_metric_type {
	GV_METRIC_COUNTER,
	GV_METRIC_GAUGE,
	GV_METRIC_HISTOGRAM,
};

/* One label of a series: name="value". Both strings are copied. */
typedef struct gv_metric_label {
	const char *name;
	const char *value;
} gv_metric_label;

struct gv_metric_family;
struct gv_metric_series;

typedef struct gv_metrics {
	const gv_mem *mem;
	struct gv_metric_family *fams;
	size_t nfams, fams_cap;
	struct gv_metric_series *series;
	size_t nseries, series_cap;
} gv_metrics;

/* An empty registry that allocates through mem. Allocates nothing. */
void gv_metrics_init(gv_metrics *m, const gv_mem *mem);

/* Free the registry's copies. The live values are the caller's. */
void gv_metrics_fini(gv_metrics *m);

/*
 * gv_metrics_add_counter, _add_gauge, _add_gauge_f64, _add_histogram -
 * register one series that reads its value from src, a live value owned by
 * the caller that must outlive the registry (or its last rendering).
 * @name: the family name, matching [a-zA-Z_:][a-zA-Z0-9_:]*. A name
 *   already registered adds a series to that family: its type and help
 *   must then be the same.
 * @help: one-line description (copied; \ and newlines are escaped on
 *   output), or NULL for no "# HELP" line.
 * @labels, @nlabels: the series' labels, in output order (copied; may be
 *   NULL with nlabels 0). Label names match [a-zA-Z_][a-zA-Z0-9_]*, do not
 *   start with "__", are distinct, and are not "le" on a histogram. Values
 *   are any string; \, " and newline are escaped on output.
 * Returns 0, GV_EINVAL (a NULL argument, an invalid metric or label name,
 * a type or help that differs from the family's, a series with the same
 * labels already in the family) or GV_ENOMEM. On failure the registry is
 * unchanged.
 */
int gv_metrics_add_counter(gv_metrics *m, const char *name, const char *help,
                           const gv_metric_label *labels, size_t nlabels,
                           const _Atomic uint64_t *src);
int gv_metrics_add_gauge(gv_metrics *m, const char *name, const char *help,
                         const gv_metric_label *labels, size_t nlabels,
                         const _Atomic uint64_t *src);
int gv_metrics_add_gauge_f64(gv_metrics *m, const char *name, const char *help,
                             const gv_metric_label *labels, size_t nlabels,
                             const _Atomic double *src);
/* A counter of a float quantity (seconds of CPU, say). */
int gv_metrics_add_counter_f64(gv_metrics *m, const char *name,
                               const char *help,
                               const gv_metric_label *labels, size_t nlabels,
                               const _Atomic double *src);
int gv_metrics_add_histogram(gv_metrics *m, const char *name, const char *help,
                             const gv_metric_label *labels, size_t nlabels,
                             const gv_histogram *src);

/*
 * gv_metrics_write - render every family in Prometheus text format 0.0.4,
 * appending to b. Reads the live values with relaxed atomic loads; may run
 * while their owners update them.
 * Returns the number of bytes appended, GV_EINVAL (m or b NULL, b not
 * initialised) or GV_ENOMEM (then b->len is as it was; bytes past it are
 * unspecified).
 */
ssize_t gv_metrics_write(const gv_metrics *m, gv_metrics_buf *b);

/* Whether name matches [a-zA-Z_:][a-zA-Z0-9_:]* (a metric name). */
bool gv_metrics_name_valid(const char *name);

#endif /* GV_SHARD_METRICS_H */
