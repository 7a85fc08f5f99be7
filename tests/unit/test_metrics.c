/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the metrics registry and its Prometheus text output:
 * exact output for a small registry (counter, labelled gauges, histogram
 * with an observation in +Inf), escaping of label values and help texts,
 * number formatting, rejection of invalid names and conflicting series,
 * histogram bounds, adding histograms, allocation failure at every
 * allocation point, and a smoke test of one thread observing while
 * another renders.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shard/metrics.h"
#include "test_mem.h"

#ifdef GV_TSAN
#define OBSERVATIONS 200000UL
#else
#define OBSERVATIONS 1000000UL
#endif

/* Render m into a fresh buffer and compare with want. */
static void
expect_output(const gv_metrics *m, const gv_mem *mem, const char *want)
{
	gv_metrics_buf b;
	gv_metrics_buf_init(&b, mem);
	ssize_t n = gv_metrics_write(m, &b);
	assert_true(n >= 0);
	assert_int_equal((size_t)n, strlen(want));
	assert_non_null(b.data);
	assert_string_equal(b.data, want);
	gv_metrics_buf_fini(&b);
}

static void
test_metrics_exposition(void **state)
{
	gv_test_mem tm;
	gv_metrics m;
	gv_histogram h;
	_Atomic uint64_t applied = 12345, alive = 3, suspect = 1;
	_Atomic uint64_t dropped = 0;
	_Atomic double load = 0.75;
	(void)state;

	gv_test_mem_init(&tm);
	gv_metrics_init(&m, &tm.mem);
	assert_int_equal(gv_metrics_add_counter(&m, "gv_updates_applied_total",
	                                        "Updates applied locally.",
	                                        NULL, 0, &applied),
	                 0);
	assert_int_equal(
	        gv_metrics_add_gauge(&m, "gv_members", "Members by state.",
	                             (gv_metric_label[]){{"state", "alive"}}, 1,
	                             &alive),
	        0);
	assert_int_equal(
	        gv_metrics_add_gauge(&m, "gv_members", "Members by state.",
	                             (gv_metric_label[]){{"state", "suspect"}},
	                             1, &suspect),
	        0);
	assert_int_equal(
	        gv_metrics_add_gauge_f64(&m, "gv_load", NULL, NULL, 0, &load),
	        0);
	assert_int_equal(gv_histogram_init(&h, gv_hist_delay_s_bounds,
	                                   GV_HIST_DELAY_S_N),
	                 0);
	assert_int_equal(
	        gv_metrics_add_histogram(
	                &m, "gv_delay_seconds",
	                "Update propagation delay, origin HLC to local apply.",
	                (gv_metric_label[]){{"shard", "0"}}, 1, &h),
	        0);
	/* A second series of a family first registered earlier. */
	assert_int_equal(
	        gv_metrics_add_counter(
	                &m, "gv_updates_applied_total",
	                "Updates applied locally.",
	                (gv_metric_label[]){{"shard", "1"}, {"kind", "delete"}},
	                2, &dropped),
	        0);

	gv_histogram_observe(&h, 0.00025);
	gv_histogram_observe(&h, 0.001); /* le is inclusive */
	gv_histogram_observe(&h, 0.0075);
	gv_histogram_observe(&h, 6); /* above every bound: +Inf */
	applied = 12346;

	expect_output(
	        &m, &tm.mem,
	        "# HELP gv_updates_applied_total Updates applied locally.\n"
	        "# TYPE gv_updates_applied_total counter\n"
	        "gv_updates_applied_total 12346\n"
	        "gv_updates_applied_total{shard=\"1\",kind=\"delete\"} 0\n"
	        "# HELP gv_members Members by state.\n"
	        "# TYPE gv_members gauge\n"
	        "gv_members{state=\"alive\"} 3\n"
	        "gv_members{state=\"suspect\"} 1\n"
	        "# TYPE gv_load gauge\n"
	        "gv_load 0.75\n"
	        "# HELP gv_delay_seconds Update propagation delay, "
	        "origin HLC to local apply.\n"
	        "# TYPE gv_delay_seconds histogram\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.0005\"} 1\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.001\"} 2\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.002\"} 2\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.005\"} 2\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.01\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.02\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.05\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.1\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.2\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"0.5\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"1\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"2\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"5\"} 3\n"
	        "gv_delay_seconds_bucket{shard=\"0\",le=\"+Inf\"} 4\n"
	        "gv_delay_seconds_sum{shard=\"0\"} 6.00875\n"
	        "gv_delay_seconds_count{shard=\"0\"} 4\n");

	/* Appending: a second write adds the same text after the first. */
	gv_metrics_buf b;
	gv_metrics_buf_init(&b, &tm.mem);
	ssize_t n1 = gv_metrics_write(&m, &b);
	assert_true(n1 > 0);
	ssize_t n2 = gv_metrics_write(&m, &b);
	assert_int_equal(n1, n2);
	assert_int_equal(b.len, (size_t)(n1 + n2));
	assert_memory_equal(b.data, b.data + n1, (size_t)n1);
	gv_metrics_buf_fini(&b);

	gv_metrics_fini(&m);
	assert_int_equal(tm.live_allocs, 0);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_metrics_empty(void **state)
{
	gv_metrics m;
	gv_metrics_buf b;
	(void)state;

	gv_metrics_init(&m, gv_mem_libc());
	gv_metrics_buf_init(&b, gv_mem_libc());
	assert_int_equal(gv_metrics_write(&m, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(gv_metrics_write(NULL, &b), GV_EINVAL);
	assert_int_equal(gv_metrics_write(&m, NULL), GV_EINVAL);
	gv_metrics_buf_fini(&b);
	gv_metrics_fini(&m);
}

static void
test_metrics_escaping(void **state)
{
	gv_test_mem tm;
	gv_metrics m;
	_Atomic uint64_t v = 1;
	(void)state;

	gv_test_mem_init(&tm);
	gv_metrics_init(&m, &tm.mem);
	assert_int_equal(
	        gv_metrics_add_counter(
	                &m, "esc_total",
	                "Help with \\ backslash,\nnewline "
	                "and \"quotes\".",
	                (gv_metric_label[]){{"path", "C:\\dir\\\"x\"\nend"},
	                                    {"empty", ""}},
	                2, &v),
	        0);
	/* Help: \ and newline escaped, quotes kept; values: all three. */
	expect_output(&m, &tm.mem,
	              "# HELP esc_total Help with \\\\ backslash,\\nnewline "
	              "and \"quotes\".\n"
	              "# TYPE esc_total counter\n"
	              "esc_total{path=\"C:\\\\dir\\\\\\\"x\\\"\\nend\","
	              "empty=\"\"} 1\n");
	gv_metrics_fini(&m);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_metrics_number_format(void **state)
{
	gv_metrics m;
	gv_histogram h;
	_Atomic double g[6] = {0.1, 1.0 / 3, -2.5e-300, 1e21, -INFINITY, NAN};
	_Atomic uint64_t big = UINT64_MAX;
	static const double bounds[] = {0.001, 0.1, 1e6};
	(void)state;

	gv_metrics_init(&m, gv_mem_libc());
	const char *names[] = {"g0", "g1", "g2", "g3", "g4", "g5"};
	for (int i = 0; i < 6; i++)
		assert_int_equal(gv_metrics_add_gauge_f64(&m, names[i], NULL,
		                                          NULL, 0, &g[i]),
		                 0);
	assert_int_equal(gv_metrics_add_counter(&m, "big", NULL, NULL, 0, &big),
	                 0);
	assert_int_equal(gv_histogram_init(&h, bounds, 3), 0);
	assert_int_equal(gv_metrics_add_histogram(&m, "h", NULL, NULL, 0, &h),
	                 0);
	gv_histogram_observe(&h, INFINITY); /* +Inf bucket; sum +Inf */
	expect_output(&m, gv_mem_libc(),
	              "# TYPE g0 gauge\ng0 0.1\n"
	              "# TYPE g1 gauge\ng1 0.3333333333333333\n"
	              "# TYPE g2 gauge\ng2 -2.5e-300\n"
	              "# TYPE g3 gauge\ng3 1e+21\n"
	              "# TYPE g4 gauge\ng4 -Inf\n"
	              "# TYPE g5 gauge\ng5 NaN\n"
	              "# TYPE big counter\nbig 18446744073709551615\n"
	              "# TYPE h histogram\n"
	              "h_bucket{le=\"0.001\"} 0\n"
	              "h_bucket{le=\"0.1\"} 0\n"
	              "h_bucket{le=\"1000000\"} 0\n"
	              "h_bucket{le=\"+Inf\"} 1\n"
	              "h_sum +Inf\n"
	              "h_count 1\n");
	gv_metrics_fini(&m);
}

static void
test_metrics_invalid_names(void **state)
{
	gv_test_mem tm;
	gv_metrics m;
	gv_histogram h;
	_Atomic uint64_t v = 0;
	static const char *bad[] = {
	        "", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{", "x\n",
	};
	static const char *good[] = {"a", "_x", ":y", "a:b_c9", "Z_9:"};
	static const char *bad_label[] = {"", "1a", "a:b", "__x", "a-b", "é"};
	(void)state;

	gv_test_mem_init(&tm);
	gv_metrics_init(&m, &tm.mem);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(gv_metrics_name_valid(bad[i]));
		assert_int_equal(
		        gv_metrics_add_counter(&m, bad[i], "h", NULL, 0, &v),
		        GV_EINVAL);
	}
	assert_false(gv_metrics_name_valid(NULL));
	assert_int_equal(gv_metrics_add_counter(&m, NULL, "h", NULL, 0, &v),
	                 GV_EINVAL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(gv_metrics_name_valid(good[i]));

	for (size_t i = 0; i < sizeof(bad_label) / sizeof(bad_label[0]); i++)
		assert_int_equal(
		        gv_metrics_add_gauge(
		                &m, "g", "h",
		                (gv_metric_label[]){{bad_label[i], "v"}}, 1,
		                &v),
		        GV_EINVAL);
	/* NULL label name or value, labels NULL with nlabels > 0. */
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h",
	                                      (gv_metric_label[]){{NULL, "v"}},
	                                      1, &v),
	                 GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h",
	                                      (gv_metric_label[]){{"a", NULL}},
	                                      1, &v),
	                 GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h", NULL, 1, &v),
	                 GV_EINVAL);
	/* The same label twice. */
	assert_int_equal(gv_metrics_add_gauge(
	                         &m, "g", "h",
	                         (gv_metric_label[]){{"a", "1"}, {"a", "2"}}, 2,
	                         &v),
	                 GV_EINVAL);
	/* NULL source. */
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h", NULL, 0, NULL),
	                 GV_EINVAL);
	/* "le" is reserved on histograms only. */
	assert_int_equal(gv_histogram_init(&h, NULL, 0), 0);
	assert_int_equal(gv_metrics_add_histogram(
	                         &m, "hist", "h",
	                         (gv_metric_label[]){{"le", "1"}}, 1, &h),
	                 GV_EINVAL);
	/* Nothing registered so far. */
	assert_int_equal(m.nfams, 0);
	assert_int_equal(m.nseries, 0);

	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h",
	                                      (gv_metric_label[]){{"le", "1"}},
	                                      1, &v),
	                 0);
	/* Same family: type and help must agree; no duplicate series. */
	assert_int_equal(
	        gv_metrics_add_counter(&m, "g", "h",
	                               (gv_metric_label[]){{"le", "2"}}, 1, &v),
	        GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "other help",
	                                      (gv_metric_label[]){{"le", "2"}},
	                                      1, &v),
	                 GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", NULL,
	                                      (gv_metric_label[]){{"le", "2"}},
	                                      1, &v),
	                 GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h",
	                                      (gv_metric_label[]){{"le", "1"}},
	                                      1, &v),
	                 GV_EINVAL);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h",
	                                      (gv_metric_label[]){{"le", "2"}},
	                                      1, &v),
	                 0);
	/* The unlabelled series is distinct from the labelled ones. */
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h", NULL, 0, &v), 0);
	assert_int_equal(gv_metrics_add_gauge(&m, "g", "h", NULL, 0, &v),
	                 GV_EINVAL);
	expect_output(&m, &tm.mem,
	              "# HELP g h\n# TYPE g gauge\n"
	              "g{le=\"1\"} 0\ng{le=\"2\"} 0\ng 0\n");
	gv_metrics_fini(&m);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_metrics_histogram_init(void **state)
{
	gv_histogram h;
	double many[GV_HIST_MAX_BOUNDS + 1];
	(void)state;

	for (int i = 0; i <= GV_HIST_MAX_BOUNDS; i++)
		many[i] = i;
	assert_int_equal(gv_histogram_init(&h, many, GV_HIST_MAX_BOUNDS), 0);
	assert_int_equal(gv_histogram_init(&h, many, GV_HIST_MAX_BOUNDS + 1),
	                 GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, NULL, 1), GV_EINVAL);
	assert_int_equal(gv_histogram_init(NULL, many, 1), GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, (double[]){1, 1}, 2), GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, (double[]){2, 1}, 2), GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, (double[]){1, NAN}, 2),
	                 GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, (double[]){1, INFINITY}, 2),
	                 GV_EINVAL);
	assert_int_equal(gv_histogram_init(&h, (double[]){-INFINITY, 1}, 2),
	                 GV_EINVAL);

	/* Bucketing: le inclusive, NaN ignored, negatives in the first. */
	uint64_t cum[4];
	double sum;
	assert_int_equal(gv_histogram_init(&h, (double[]){-1, 0, 10}, 3), 0);
	gv_histogram_observe(&h, -5);
	gv_histogram_observe(&h, -1);
	gv_histogram_observe(&h, -0.5);
	gv_histogram_observe(&h, 0);
	gv_histogram_observe(&h, 10);
	gv_histogram_observe(&h, 10.0000001);
	gv_histogram_observe(&h, NAN);
	gv_histogram_read(&h, cum, &sum);
	assert_int_equal(cum[0], 2);
	assert_int_equal(cum[1], 4);
	assert_int_equal(cum[2], 5);
	assert_int_equal(cum[3], 6);
	assert_true(fabs(sum - (-5 - 1 - 0.5 + 0 + 10 + 10.0000001)) < 1e-9);
	gv_histogram_read(&h, cum, NULL);
	assert_int_equal(cum[3], 6);

	/* No finite bounds: everything in +Inf. */
	assert_int_equal(gv_histogram_init(&h, NULL, 0), 0);
	gv_histogram_observe(&h, 1e300);
	gv_histogram_observe(&h, -1e300);
	gv_histogram_read(&h, cum, &sum);
	assert_int_equal(cum[0], 2);
	assert_true(sum == 0);
}

/*
 * Adding histograms (one per shard) into one: counts and sums add up,
 * repeatedly; different bounds are refused and leave dst as it was.
 */
static void
test_metrics_histogram_add(void **state)
{
	gv_histogram a, b, sum, other;
	uint64_t cum[GV_HIST_DELAY_S_N + 1];
	double total;
	(void)state;

	const double *s_bounds = gv_hist_delay_s_bounds;
	assert_int_equal(gv_histogram_init(&a, s_bounds, GV_HIST_DELAY_S_N), 0);
	assert_int_equal(gv_histogram_init(&b, s_bounds, GV_HIST_DELAY_S_N), 0);
	assert_int_equal(gv_histogram_init(&sum, s_bounds, GV_HIST_DELAY_S_N),
	                 0);
	gv_histogram_observe(&a, 0.0001); /* le 0.0005 */
	gv_histogram_observe(&a, 0.25);   /* le 0.5 */
	gv_histogram_observe(&b, 0.25);
	gv_histogram_observe(&b, 10); /* +Inf */
	assert_int_equal(gv_histogram_add(&sum, &a), 0);
	assert_int_equal(gv_histogram_add(&sum, &b), 0);
	gv_histogram_read(&sum, cum, &total);
	assert_int_equal(cum[0], 1);
	assert_int_equal(cum[8], 1);  /* le 0.2 */
	assert_int_equal(cum[9], 3);  /* le 0.5 */
	assert_int_equal(cum[12], 3); /* le 5 */
	assert_int_equal(cum[13], 4); /* +Inf */
	assert_true(fabs(total - (0.0001 + 0.25 + 0.25 + 10)) < 1e-12);
	/* the sources are untouched */
	gv_histogram_read(&a, cum, NULL);
	assert_int_equal(cum[13], 2);

	assert_int_equal(gv_histogram_init(&other, (double[]){1, 2}, 2), 0);
	gv_histogram_observe(&other, 1);
	assert_int_equal(gv_histogram_add(&sum, &other), GV_EINVAL);
	assert_int_equal(gv_histogram_add(&other, &sum), GV_EINVAL);
	assert_int_equal(gv_histogram_init(&other, gv_hist_delay_s_bounds,
	                                   GV_HIST_DELAY_S_N - 1),
	                 0);
	assert_int_equal(gv_histogram_add(&sum, &other), GV_EINVAL);
	gv_histogram_read(&sum, cum, &total);
	assert_int_equal(cum[13], 4);
}

/* Build a small registry; returns the first failing call's code. */
static int
build_registry(gv_metrics *m, _Atomic uint64_t *v, gv_histogram *h)
{
	char name[32], shard[8];
	int rc = 0;
	for (int i = 0; i < 12 && !rc; i++) {
		snprintf(name, sizeof(name), "fam_%d", i % 5);
		snprintf(shard, sizeof(shard), "%d", i);
		if (i % 5 == 4)
			rc = gv_metrics_add_histogram(
			        m, name, "A histogram.",
			        (gv_metric_label[]){{"shard", shard}}, 1, h);
		else
			rc = gv_metrics_add_counter(
			        m, name, "A counter \\ with help.",
			        (gv_metric_label[]){{"shard", shard},
			                            {"q", "\"quoted\""}},
			        2, v);
	}
	return rc;
}

/*
 * Fail each allocation in turn, through registration and through writing:
 * every failure is GV_ENOMEM, leaves the registry and buffer as they were,
 * and nothing leaks.
 */
static void
test_metrics_alloc_failure(void **state)
{
	gv_test_mem tm;
	gv_histogram h;
	_Atomic uint64_t v = 42;
	(void)state;

	assert_int_equal(gv_histogram_init(&h, gv_hist_delay_s_bounds,
	                                   GV_HIST_DELAY_S_N),
	                 0);
	gv_histogram_observe(&h, 3);

	/* The reference output, allocated without failures. */
	gv_metrics ref;
	gv_metrics_buf want;
	gv_metrics_init(&ref, gv_mem_libc());
	gv_metrics_buf_init(&want, gv_mem_libc());
	assert_int_equal(build_registry(&ref, &v, &h), 0);
	assert_true(gv_metrics_write(&ref, &want) > 0);

	int reg_failures = 0;
	for (long k = 0;; k++) {
		gv_metrics m;
		gv_test_mem_init(&tm);
		gv_metrics_init(&m, &tm.mem);
		gv_test_mem_fail_after(&tm, k, 0);
		int rc = build_registry(&m, &v, &h);
		if (rc == 0 && tm.failures == 0) {
			gv_metrics_fini(&m);
			break; /* every allocation point has been failed */
		}
		assert_int_equal(rc, GV_ENOMEM);
		assert_int_equal(tm.failures, 1);
		reg_failures++;
		/* What was registered before the failure still renders. */
		gv_test_mem_no_fail(&tm);
		gv_metrics_buf b;
		gv_metrics_buf_init(&b, &tm.mem);
		assert_true(gv_metrics_write(&m, &b) >= 0);
		gv_metrics_buf_fini(&b);
		gv_metrics_fini(&m);
		assert_int_equal(tm.live_allocs, 0);
		assert_int_equal(tm.live_bytes, 0);
	}
	assert_true(reg_failures > 10);

	/* Failures while writing, into a buffer that already holds text. */
	int write_failures = 0;
	for (long k = 0;; k++) {
		gv_metrics_buf b;
		gv_test_mem_init(&tm);
		gv_metrics_buf_init(&b, &tm.mem);
		assert_int_equal(gv_metrics_write(&ref, &b), (ssize_t)want.len);
		gv_test_mem_fail_after(&tm, k, 0);
		ssize_t n = gv_metrics_write(&ref, &b);
		if (tm.failures == 0) {
			assert_int_equal(n, (ssize_t)want.len);
			gv_metrics_buf_fini(&b);
			break;
		}
		write_failures++;
		assert_int_equal(n, GV_ENOMEM);
		assert_int_equal(b.len, want.len);
		assert_string_equal(b.data, want.data);
		gv_metrics_buf_fini(&b);
		assert_int_equal(tm.live_bytes, 0);
	}
	assert_true(write_failures >= 1);

	gv_metrics_buf_fini(&want);
	gv_metrics_fini(&ref);
}

/* ---------------------------------------------------------------------- */
/* Concurrency smoke test                                                 */
/* ---------------------------------------------------------------------- */

struct observer {
	gv_histogram *h;
	uint64_t n;
	_Atomic int done; /* tells the renderer to stop; no data rides on it */
};

static void *
observe_thread(void *arg)
{
	struct observer *o = arg;
	for (uint64_t i = 0; i < o->n; i++)
		gv_histogram_observe(o->h, (double)(i % 8000)); /* 0..7999 */
	atomic_store_explicit(&o->done, 1, memory_order_release);
	return NULL;
}

/* The value of the sample line that starts with prefix, or UINT64_MAX. */
static uint64_t
sample(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);
	if (!p)
		return UINT64_MAX;
	return strtoull(p + strlen(prefix), NULL, 10);
}

static void
test_metrics_concurrent_histogram(void **state)
{
	gv_metrics m;
	gv_histogram h;
	struct observer o;
	pthread_t t;
	gv_metrics_buf b;
	uint64_t last_count = 0;
	unsigned renders = 0;
	(void)state;

	/* integer milliseconds: the sums below stay exact */
	static const double ms_bounds[] = {0.5, 1,   2,   5,    10,   20,  50,
	                                   100, 200, 500, 1000, 2000, 5000};
	assert_int_equal(gv_histogram_init(&h, ms_bounds,
	                                   sizeof(ms_bounds) /
	                                           sizeof(ms_bounds[0])),
	                 0);
	gv_metrics_init(&m, gv_mem_libc());
	assert_int_equal(
	        gv_metrics_add_histogram(&m, "delay_ms", "Delay.", NULL, 0, &h),
	        0);
	gv_metrics_buf_init(&b, gv_mem_libc());
	o.h = &h;
	o.n = OBSERVATIONS;
	atomic_init(&o.done, 0);
	assert_int_equal(pthread_create(&t, NULL, observe_thread, &o), 0);

	for (;;) {
		int done = atomic_load_explicit(&o.done, memory_order_acquire);
		b.len = 0;
		assert_true(gv_metrics_write(&m, &b) > 0);
		renders++;
		uint64_t count = sample(b.data, "delay_ms_count ");
		uint64_t inf = sample(b.data, "delay_ms_bucket{le=\"+Inf\"} ");
		uint64_t le1 = sample(b.data, "delay_ms_bucket{le=\"1\"} ");
		uint64_t le5000 =
		        sample(b.data, "delay_ms_bucket{le=\"5000\"} ");
		/* Each rendering is self-consistent and counts only grow. */
		assert_int_equal(count, inf);
		assert_true(le1 <= le5000 && le5000 <= inf);
		assert_true(count >= last_count);
		assert_true(count <= o.n);
		last_count = count;
		if (done)
			break;
	}
	assert_int_equal(pthread_join(t, NULL), 0);

	/* Final: exact. Values 0..7999 repeat; n is a multiple of 8000. */
	b.len = 0;
	assert_true(gv_metrics_write(&m, &b) > 0);
	uint64_t rounds = o.n / 8000;
	assert_int_equal(o.n % 8000, 0);
	assert_int_equal(sample(b.data, "delay_ms_count "), o.n);
	assert_int_equal(sample(b.data, "delay_ms_bucket{le=\"0.5\"} "),
	                 rounds * 1); /* 0 */
	assert_int_equal(sample(b.data, "delay_ms_bucket{le=\"1\"} "),
	                 rounds * 2); /* 0, 1 */
	assert_int_equal(sample(b.data, "delay_ms_bucket{le=\"5000\"} "),
	                 rounds * 5001);
	uint64_t cum[GV_HIST_MAX_BOUNDS + 1];
	double sum;
	gv_histogram_read(&h, cum, &sum);
	/* Integer sums far below 2^53: exact in a double. */
	assert_true(sum == (double)rounds * (7999.0 * 8000.0 / 2));
	printf("# %u renderings during %lu observations\n", renders,
	       (unsigned long)o.n);

	gv_metrics_buf_fini(&b);
	gv_metrics_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_metrics_exposition),
	        cmocka_unit_test(test_metrics_empty),
	        cmocka_unit_test(test_metrics_escaping),
	        cmocka_unit_test(test_metrics_number_format),
	        cmocka_unit_test(test_metrics_invalid_names),
	        cmocka_unit_test(test_metrics_histogram_init),
	        cmocka_unit_test(test_metrics_histogram_add),
	        cmocka_unit_test(test_metrics_alloc_failure),
	        cmocka_unit_test(test_metrics_concurrent_histogram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
