/* SPDX-License-Identifier: MIT */
/*
 * cache_report.h - the figures of `gvbench cache` and how they are
 * printed: a record per step (cmd_cache.c fills them), the table on
 * stdout, a JSON line per step and per comparison of the two systems, and
 * the PNGs of lag against the offered load. The record of a run holds
 * its parameters too, since every JSON line repeats them.
 */
#ifndef GV_BENCH_CACHE_REPORT_H
#define GV_BENCH_CACHE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_util.h"
#include "cache_cluster.h"

#define MAX_LIST 16 /* entries of a list option */

/* One step's figures, for the table, the JSON and the plots. */
struct cache_rec {
	enum cc_system sys;
	size_t nodes;
	unsigned pipeline;
	size_t vsize;
	double frac; /* 0: the closed-loop "max" step */
	double offered, ops, set_ps, get_ps;
	uint64_t errors, get_hits;
	double lat[4]; /* ms: p50, p99, p999, max */
	bool have_lag; /* some lag measured (N >= 2) */
	double lag[3]; /* ms: p50, p99, max */
	uint64_t lag_writes, lag_samples, lag_timeouts;
	uint64_t lost;
	double check_s, elapsed_s, max_late_ms;
	char version[64];
};

/* A run: the options it was given, the records of its steps, --json. */
struct cache_run {
	size_t nodes[MAX_LIST], nn;
	bool sys[2];
	unsigned conns;
	unsigned pipe[MAX_LIST];
	size_t np;
	double get_ratio;
	size_t vsize[MAX_LIST], nv;
	size_t keys;
	double seconds, warmup;
	double rates[MAX_LIST];
	size_t nr;
	size_t lag_max;
	uint64_t poll_us;
	uint64_t seed;
	struct cc_opts cc;
	char gvd[4096], redis[4096];
	bool progress;
	FILE *jf;
	const char *json, *plot;
	struct machine m;
	struct cache_rec *recs;
	size_t nrecs, caprecs;
	uint64_t lost; /* over the run */
};

/* Append a step's record to cr->recs. Returns 0 or -ENOMEM. */
int cache_add_rec(struct cache_run *cr, const struct cache_rec *r);

/* "max", or the fraction as %g into buf. */
const char *cache_rate_name(const struct cache_rec *r, char *buf, size_t cap);

/* The table's header and one row (flushed). */
void cache_table_header(FILE *f);
void cache_table_row(FILE *f, const struct cache_rec *r);

/* A step's JSON line to cr->jf. */
void cache_rec_json(const struct cache_run *cr, const struct cache_rec *r);

/*
 * cache_compare - for every pipeline and value size both systems ran at
 * nodes: a "compare" line on stdout and, with --json, a JSON line
 * (grapevined's max ops/s over Redis's, lag p99 at the rate nearest
 * half the max).
 */
void cache_compare(struct cache_run *cr, size_t nodes);

/*
 * cache_plots - PREFIX-nN-pP[-vV].png for each N >= 2, pipeline and value
 * size: lag p50 and p99 against the offered ops/s, both systems. Returns
 * 0, or -1 when gnuplot failed (printed: the results stand).
 */
int cache_plots(const struct cache_run *cr);

#endif /* GV_BENCH_CACHE_REPORT_H */
