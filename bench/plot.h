/* SPDX-License-Identifier: MIT */
/*
 * plot.h - gvbench's --plot FILE.png: the figures of a run drawn by
 * gnuplot. A plot is a few series of (x, y) points; plot_png() writes
 * them and a gnuplot script into a temporary directory, runs `gnuplot`
 * (pngcairo terminal, plain png where pngcairo is missing) and removes
 * the directory. gnuplot is a separate program (Debian package
 * gnuplot-nox, installed by tools/bootstrap.sh), not a library: a machine
 * without it still runs every benchmark, and --plot then reports the
 * error without touching the results.
 *
 * plot_reach is the convergence picture of `gvbench converge`: for the
 * p50, p90 and p99 update, the fraction of the nodes holding it against
 * the time since its injection.
 */
#ifndef GV_BENCH_PLOT_H
#define GV_BENCH_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

struct plot_series {
	const char *title;
	const double *x, *y;
	size_t n;
	const char *with; /* gnuplot style: "steps", "lines", "linespoints" */
	bool y2;          /* against the right-hand axis */
};

struct plot_spec {
	const char *title;
	const char *xlabel, *ylabel, *y2label; /* y2label: NULL if no y2 */
	bool logx, logy, logy2;
	double ymin, ymax;       /* ymin == ymax: automatic */
	double xmark;            /* > 0: a dashed vertical line there */
	const char *xmark_label; /* its label */
	const char *key_pos;     /* gnuplot key position, e.g. "top left";
	                          * NULL: "bottom right" */
};

/*
 * plot_png - draw the ns series of s into the PNG file png. Errors (no
 * gnuplot, gnuplot failed, no file written) are printed to stderr as
 * "gvbench CMD: --plot: ..." with what to do.
 * Returns 0 or -1.
 */
int plot_png(const char *cmd, const char *png, const struct plot_spec *spec,
             const struct plot_series *s, size_t ns);

/* Times to reach 1, 2, ..., N nodes, for each of a run's updates. */
struct plot_reach {
	size_t nodes;
	size_t cap, count; /* updates room, added */
	uint64_t *t;       /* count rows of nodes µs since injection, sorted;
	                    * GV_TIME_NEVER: not reached */
};

/* Room for `updates` updates of `nodes` nodes. Returns 0, GV_ENOMEM. */
int plot_reach_init(struct plot_reach *r, size_t nodes, size_t updates);
void plot_reach_fini(struct plot_reach *r);

/*
 * plot_reach_add - one update: applied[i] is node i's apply time
 * (GV_TIME_NEVER: none; reordered), injected its injection time. Updates
 * beyond the room given to init are ignored.
 */
void plot_reach_add(struct plot_reach *r, gv_time *applied, gv_time injected);

/*
 * plot_reach_png - the fraction of nodes reached against the time since
 * injection, for the p50, p90 and p99 update (at each fraction k/N, the
 * percentile over updates of the time to reach k nodes, nearest rank).
 * Returns 0 or -1 (printed, see plot_png).
 */
int plot_reach_png(const char *cmd, const char *png, const char *title,
                   const struct plot_reach *r);

#endif /* GV_BENCH_PLOT_H */
