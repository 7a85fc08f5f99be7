/* SPDX-License-Identifier: MIT */
/*
 * cache_report.c - what `gvbench cache` prints (cache_report.h): the
 * table rows, the JSON lines of the steps and of the comparisons, and the
 * PNGs of lag against the offered load.
 */
#include "cache_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grapevine/grapevine.h>

#include "plot.h"

int
cache_add_rec(struct cache_run *cr, const struct cache_rec *r)
{
	if (cr->nrecs == cr->caprecs) {
		size_t cap = cr->caprecs ? cr->caprecs * 2 : 64;
		struct cache_rec *p = realloc(cr->recs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		cr->recs = p;
		cr->caprecs = cap;
	}
	cr->recs[cr->nrecs++] = *r;
	return 0;
}

const char *
cache_rate_name(const struct cache_rec *r, char *buf, size_t cap)
{
	if (!r->frac)
		return "max";
	snprintf(buf, cap, "%g", r->frac);
	return buf;
}

void
cache_table_header(FILE *f)
{
	fprintf(f,
	        "%-10s %2s %3s %6s %5s %9s %9s %7s %7s %7s %7s %7s %7s "
	        "%5s\n",
	        "system", "N", "P", "value", "rate", "offered", "ops/s",
	        "p50_ms", "p99_ms", "p999_ms", "lag_p50", "lag_p99", "lag_max",
	        "lost");
}

void
cache_table_row(FILE *f, const struct cache_rec *r)
{
	char rb[16], off[32], lag[3][16];

	if (r->frac)
		snprintf(off, sizeof(off), "%.0f", r->offered);
	else
		snprintf(off, sizeof(off), "-");
	for (int i = 0; i < 3; i++) {
		if (r->have_lag)
			snprintf(lag[i], sizeof(lag[i]), "%.3f", r->lag[i]);
		else
			snprintf(lag[i], sizeof(lag[i]), "-");
	}
	fprintf(f,
	        "%-10s %2zu %3u %6zu %5s %9s %9.0f %7.3f %7.3f %7.3f %7s %7s "
	        "%7s %5" PRIu64 "\n",
	        cc_system_name(r->sys), r->nodes, r->pipeline, r->vsize,
	        cache_rate_name(r, rb, sizeof(rb)), off, r->ops, r->lat[0],
	        r->lat[1], r->lat[2], lag[0], lag[1], lag[2], r->lost);
	fflush(f);
}

/* ,"name":v (null unless valid) */
static void
jfield(FILE *f, const char *name, double v, bool valid)
{
	fprintf(f, ",\"%s\":", name);
	json_num(f, v, valid);
}

static void
json_pcts(FILE *f, const char *name, const char *const *keys, const double *v,
          size_t n, bool valid)
{
	fprintf(f, ",\"%s\":{", name);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\"%s\":", i ? "," : "", keys[i]);
		json_num(f, v[i], valid);
	}
	fputc('}', f);
}

void
cache_rec_json(const struct cache_run *cr, const struct cache_rec *r)
{
	static const char *const lat_k[] = {"p50", "p99", "p999", "max"};
	static const char *const lag_k[] = {"p50", "p99", "max"};
	FILE *f = cr->jf;
	bool gv = r->sys == CC_GRAPEVINED;
	char rb[16];

	fprintf(f, "{\"bench\":\"cache\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"system\":\"%s\",\"system_version\":",
	        cc_system_name(r->sys));
	json_str(f, r->version);
	fprintf(f, ",\"nodes\":%zu", r->nodes);
	jfield(f, "threads", cr->cc.threads, gv);
	jfield(f, "shards", cr->cc.shards, gv);
	fprintf(f, ",\"appendfsync\":");
	if (cr->cc.appendfsync)
		json_str(f, cr->cc.appendfsync);
	else
		fputs("null", f);
	fprintf(f, ",\"conns\":%u,\"pipeline\":%u", cr->conns, r->pipeline);
	jfield(f, "get_ratio", cr->get_ratio, true);
	fprintf(f, ",\"value_size\":%zu,\"keys\":%zu,\"rate\":", r->vsize,
	        cr->keys);
	if (r->frac)
		fputs(cache_rate_name(r, rb, sizeof(rb)), f);
	else
		fputs("\"max\"", f);
	jfield(f, "offered_ops", r->offered, r->frac > 0);
	jfield(f, "ops_per_s", r->ops, true);
	jfield(f, "set_per_s", r->set_ps, true);
	jfield(f, "get_per_s", r->get_ps, true);
	fprintf(f, ",\"get_hits\":%" PRIu64 ",\"errors\":%" PRIu64, r->get_hits,
	        r->errors);
	json_pcts(f, "latency_ms", lat_k, r->lat, 4, r->ops > 0);
	if (r->nodes > 1)
		json_pcts(f, "lag_ms", lag_k, r->lag, 3, r->have_lag);
	else
		fprintf(f, ",\"lag_ms\":null");
	fprintf(f,
	        ",\"lag_from\":\"ack\",\"lag_writes\":%" PRIu64
	        ",\"lag_samples\":%" PRIu64 ",\"lag_timeouts\":%" PRIu64
	        ",\"poll_us\":%" PRIu64 ",\"lost\":%" PRIu64,
	        r->lag_writes, r->lag_samples, r->lag_timeouts, cr->poll_us,
	        r->lost);
	jfield(f, "check_s", r->check_s, true);
	jfield(f, "max_late_ms", r->max_late_ms, r->frac > 0);
	jfield(f, "seconds", cr->seconds, true);
	jfield(f, "elapsed_s", r->elapsed_s, true);
	json_end(f, &cr->m);
}

static const struct cache_rec *
find_rec(const struct cache_run *cr, enum cc_system sys, size_t nodes,
         unsigned pipe, size_t vsize, double frac)
{
	for (size_t i = 0; i < cr->nrecs; i++) {
		const struct cache_rec *r = &cr->recs[i];
		if (r->sys == sys && r->nodes == nodes && r->pipeline == pipe &&
		    r->vsize == vsize && r->frac == frac)
			return r;
	}
	return NULL;
}

/* The open-loop fraction nearest half the max (the lag target's). */
static double
half_rate(const struct cache_run *cr)
{
	double best = 0;

	for (size_t i = 0; i < cr->nr; i++)
		if (!best || fabs(cr->rates[i] - 0.5) < fabs(best - 0.5))
			best = cr->rates[i];
	return best;
}

/* The comparison of the systems at nodes, pipe, vsize when both ran: a
 * line on stdout, and a JSON line. */
static void
compare_one(struct cache_run *cr, size_t nodes, unsigned pipe, size_t vsize,
            double hf)
{
	const struct cache_rec *g =
	        find_rec(cr, CC_GRAPEVINED, nodes, pipe, vsize, 0);
	const struct cache_rec *r =
	        find_rec(cr, CC_REDIS, nodes, pipe, vsize, 0);
	const struct cache_rec *gh =
	        find_rec(cr, CC_GRAPEVINED, nodes, pipe, vsize, hf);
	const struct cache_rec *rh =
	        find_rec(cr, CC_REDIS, nodes, pipe, vsize, hf);
	FILE *f = cr->jf;

	if (!g || !r)
		return;
	double ratio = r->ops > 0 ? g->ops / r->ops : 0;
	printf("compare N=%zu P=%u value %zu: grapevined %.0f vs redis %.0f "
	       "ops/s: %.2fx",
	       nodes, pipe, vsize, g->ops, r->ops, ratio);
	if (gh && rh && gh->have_lag && rh->have_lag)
		printf("; lag p99 at %g of max: %.3f vs %.3f ms", hf,
		       gh->lag[1], rh->lag[1]);
	printf("\n");
	if (!f)
		return;
	fprintf(f, "{\"bench\":\"cache\",\"system\":\"compare\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"nodes\":%zu,\"pipeline\":%u,\"value_size\":%zu", nodes,
	        pipe, vsize);
	fprintf(f, ",\"appendfsync\":");
	if (cr->cc.appendfsync)
		json_str(f, cr->cc.appendfsync);
	else
		fputs("null", f);
	jfield(f, "get_ratio", cr->get_ratio, true);
	jfield(f, "grapevined_ops", g->ops, true);
	jfield(f, "redis_ops", r->ops, true);
	jfield(f, "ratio_ops", ratio, r->ops > 0);
	jfield(f, "half_rate", hf, hf > 0);
	fprintf(f, ",\"lag_p99_half_ms\":{\"grapevined\":");
	json_num(f, gh ? gh->lag[1] : 0, gh && gh->have_lag);
	fprintf(f, ",\"redis\":");
	json_num(f, rh ? rh->lag[1] : 0, rh && rh->have_lag);
	fprintf(f, "},\"lost\":%" PRIu64, g->lost + r->lost);
	json_end(f, &cr->m);
}

void
cache_compare(struct cache_run *cr, size_t nodes)
{
	double hf = half_rate(cr);

	for (size_t p = 0; p < cr->np; p++)
		for (size_t v = 0; v < cr->nv; v++)
			compare_one(cr, nodes, cr->pipe[p], cr->vsize[v], hf);
	fflush(stdout);
}

/*
 * The PNG of N nodes, pipeline pipe, value size vsize: lag p50 and p99
 * against the offered ops/s of the open-loop steps, both systems. 0 when
 * drawn, 1 when there was nothing to draw, -1 when gnuplot failed.
 */
static int
plot_one(const struct cache_run *cr, size_t nodes, unsigned pipe, size_t vsize)
{
	double x[2][MAX_LIST], y[2][2][MAX_LIST];
	size_t k[2] = {0, 0}, ns = 0;
	struct plot_series s[4];
	char png[4096], title[160], t[4][48];

	for (size_t i = 0; i < cr->nrecs; i++) {
		const struct cache_rec *r = &cr->recs[i];
		if (r->nodes != nodes || r->pipeline != pipe ||
		    r->vsize != vsize || !r->have_lag || !r->frac)
			continue;
		size_t j = k[r->sys]++;
		x[r->sys][j] = r->offered;
		y[r->sys][0][j] = r->lag[0];
		y[r->sys][1][j] = r->lag[1];
	}
	for (int sy = 0; sy < 2; sy++)
		for (int q = 1; q >= 0 && k[sy]; q--) {
			snprintf(t[ns], sizeof(t[ns]), "%s lag %s",
			         cc_system_name((enum cc_system)sy),
			         q ? "p99" : "p50");
			s[ns] = (struct plot_series){
			        .title = t[ns],
			        .x = x[sy],
			        .y = y[sy][q],
			        .n = k[sy],
			        .with = q ? "linespoints" : "linespoints dt 2",
			};
			ns++;
		}
	if (!ns)
		return 1;
	int len = snprintf(png, sizeof(png), "%s-n%zu-p%u", cr->plot, nodes,
	                   pipe);
	if (cr->nv > 1)
		len += snprintf(png + len, sizeof(png) - (size_t)len, "-v%zu",
		                vsize);
	snprintf(png + len, sizeof(png) - (size_t)len, ".png");
	snprintf(title, sizeof(title),
	         "gvbench cache: read-after-write lag at the other %zu "
	         "node(s), P=%u, %zu-byte values",
	         nodes - 1, pipe, vsize);
	struct plot_spec spec = {
	        .title = title,
	        .xlabel = "offered ops/s at node 0 / the master",
	        .ylabel = "lag (ms, log scale)",
	        .logy = true,
	        .key_pos = "top left",
	};
	if (plot_png("cache", png, &spec, s, ns))
		return -1;
	printf("plot: %s\n", png);
	return 0;
}

/* Every PNG of the run (plot_one). Returns 0 or -1 (printed). */
int
cache_plots(const struct cache_run *cr)
{
	bool drawn = false;

	for (size_t n = 0; n < cr->nn; n++)
		for (size_t p = 0; p < cr->np; p++)
			for (size_t v = 0; v < cr->nv; v++) {
				if (cr->nodes[n] < 2)
					continue;
				int rc = plot_one(cr, cr->nodes[n], cr->pipe[p],
				                  cr->vsize[v]);
				if (rc < 0)
					return -1;
				drawn |= rc == 0;
			}
	if (!drawn)
		printf("plot: no lag to draw (no N >= 2 with open-loop "
		       "steps)\n");
	return 0;
}
