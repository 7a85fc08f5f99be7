/* SPDX-License-Identifier: MIT */
/*
 * zbench.h - what `gvbench converge` and `throughput` need to measure
 * compression (docs/compression.md): realistic values (JSON documents,
 * HTML fragments, random bytes from a seeded PRNG), the
 * --compress-threshold list that runs the same benchmark once per
 * threshold in one invocation, and the compression figures of a run.
 */
#ifndef GV_BENCH_ZBENCH_H
#define GV_BENCH_ZBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum zb_kind {
	ZB_RANDOM = 0, /* splitmix64 bytes: incompressible */
	ZB_JSON,       /* user records as a JSON document */
	ZB_HTML,       /* product-card HTML fragments */
};

/* "random", "json", "html"; -1 if unknown. */
int zb_kind_parse(const char *s);
const char *zb_kind_name(int kind);

/* Fill val[0, len) with a value of this kind; different seeds give
 * different documents of the same shape. */
void zb_fill(int kind, uint8_t *val, size_t len, uint64_t seed);

#define ZB_MAX_THRESHOLDS 8
#define ZB_DEFAULT ((size_t)-1) /* the node's default threshold */

/*
 * zb_thresholds_parse - "off", "0", "512" or a comma list of them
 * ("off,256,512,1024"): one run per entry, in order. Returns the count
 * (>= 1), or -1 with the error printed (prefixed "gvbench CMD:").
 */
int zb_thresholds_parse(const char *cmd, const char *s, size_t *out);

/* A zstd level, -7 .. 19; -1 with the error printed. */
int zb_level_parse(const char *cmd, const char *s, int *out);

/*
 * zb_opts - the compression options converge and throughput share:
 * --values (kind), --compress-level (level_s, NULL: the default),
 * --compress-threshold (thr_s, NULL: the default; a list runs once per
 * entry, not with --seal both). Fills *kind, *level, thr[] and *nthr.
 * Returns 0, or -1 with the error printed ("gvbench CMD: ...").
 */
int zb_opts(const char *cmd, const char *values, const char *level_s,
	    const char *thr_s, const char *seal, int *kind, int *level,
	    size_t *thr, int *nthr);

/* A threshold for output: "off" or the number. */
const char *zb_threshold_str(size_t t, char *buf, size_t len);

/* A run's compression counters (summed over its nodes). */
struct zb_stats {
	uint64_t compressed, skipped, in_bytes, out_bytes;
	uint64_t decompressed, errors, compress_ns, decompress_ns;
};

void zb_stats_diff(struct zb_stats *out, const struct zb_stats *a,
                   const struct zb_stats *b);

/* One line of text: ratio, datagrams compressed and skipped, CPU per
 * write (writes: the run's), decompression errors. */
void zb_print(FILE *f, const struct zb_stats *z, size_t threshold, int kind,
              uint64_t writes);

/* The same as JSON members (",\"compress\":{...}"). */
void zb_json(FILE *f, const struct zb_stats *z, size_t threshold, int kind,
             uint64_t writes);

/* Copy a netcluster_stats' z_* counters (netcluster.h) */
#define ZB_FROM_NETCLUSTER(z, d)                                               \
	(*(z) = (struct zb_stats){(d)->z_compressed, (d)->z_skipped,           \
	                          (d)->z_in_bytes, (d)->z_out_bytes,           \
	                          (d)->z_decompressed, (d)->z_errors,          \
	                          (d)->z_compress_ns, (d)->z_decompress_ns})

/* This process's CPU time (user + system), seconds. */
double zb_cpu_seconds(void);

/* One run of a threshold list, for the table that ends it. */
struct zb_row {
	size_t threshold;
	double ratio;
	double bytes_per_write;   /* gossip bytes sent (all nodes) per write */
	double cpu_us_per_write;  /* process CPU per write */
	double zcpu_us_per_write; /* of which compression + decompression */
	double p50_ms, p99_ms;    /* convergence */
	double extra;             /* converge: datagrams/write; throughput:
	                           * converged writes/s */
};

/* The table of a threshold list's runs, each against the first. */
void zb_table(FILE *f, const char *extra_name, const struct zb_row *rows,
              size_t n);

/* Fill a row from a run's counters. */
void zb_row_fill(struct zb_row *row, size_t threshold, const struct zb_stats *z,
                 uint64_t bytes_out, uint64_t writes, double cpu_s);

#endif
