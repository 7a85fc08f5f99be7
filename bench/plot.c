/* SPDX-License-Identifier: MIT */
/*
 * plot.c - --plot through gnuplot (see plot.h). The data go to gnuplot as
 * a text file with one block per series (blocks separated by two blank
 * lines, selected with `index`), the commands as a script file; gnuplot
 * is started with posix_spawnp and waited for, its own messages left on
 * stderr where the user sees them.
 */
#include "plot.h"

#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

extern char **environ;

#define PLOT_W 960
#define PLOT_H 600

/* A gnuplot single-quoted string: a quote inside is written twice. */
static void
gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (*s != '\n')
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int
write_data(const char *path, const struct plot_series *s, size_t ns)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (size_t k = 0; k < ns; k++) {
		if (!s[k].n)
			continue;
		fprintf(f, "# %s\n", s[k].title);
		for (size_t i = 0; i < s[k].n; i++)
			fprintf(f, "%.9g %.9g\n", s[k].x[i], s[k].y[i]);
		fprintf(f, "\n\n");
	}
	return fclose(f) ? -1 : 0;
}

static int
write_script(const char *path, const char *data, const char *png,
             const struct plot_spec *p, const struct plot_series *s, size_t ns)
{
	FILE *f = fopen(path, "w");
	size_t block = 0;
	bool first = true;

	if (!f)
		return -1;
	/* pngcairo draws antialiased text and lines; gnuplot builds without
	 * cairo only have the libgd png terminal */
	fprintf(f,
	        "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
	        "  set terminal pngcairo size %d,%d noenhanced\n"
	        "} else {\n"
	        "  set terminal png size %d,%d noenhanced\n"
	        "}\n",
	        PLOT_W, PLOT_H, PLOT_W, PLOT_H);
	fprintf(f, "set output ");
	gp_str(f, png);
	fprintf(f, "\nset title ");
	gp_str(f, p->title);
	fprintf(f, "\nset xlabel ");
	gp_str(f, p->xlabel);
	fprintf(f, "\nset ylabel ");
	gp_str(f, p->ylabel);
	fprintf(f, "\nset grid\nset key %s box opaque\n",
	        p->key_pos ? p->key_pos : "bottom right");
	if (p->logx)
		fprintf(f, "set logscale x\n");
	if (p->logy)
		fprintf(f, "set logscale y\n");
	if (p->ymin != p->ymax)
		fprintf(f, "set yrange [%.9g:%.9g]\n", p->ymin, p->ymax);
	if (p->y2label) {
		fprintf(f, "set ytics nomirror\nset y2tics\nset y2label ");
		gp_str(f, p->y2label);
		fprintf(f, "\n");
		if (p->logy2)
			fprintf(f, "set logscale y2\n");
	}
	if (p->xmark > 0) {
		double xmax = 0;
		for (size_t k = 0; k < ns; k++)
			for (size_t i = 0; i < s[k].n; i++)
				if (s[k].x[i] > xmax)
					xmax = s[k].x[i];
		/* keep the mark in the picture when the data end before */
		if (p->xmark >= xmax)
			fprintf(f, "set xrange [*:%.9g]\n", p->xmark * 1.5);
		fprintf(f,
		        "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead "
		        "dashtype 2 linecolor rgb 'gray40'\n",
		        p->xmark, p->xmark);
		if (p->xmark_label) {
			fprintf(f, "set label ");
			gp_str(f, p->xmark_label);
			fprintf(f, " at %.9g, graph 0.5 offset 0.5,0\n",
			        p->xmark);
		}
	}
	fprintf(f, "plot");
	for (size_t k = 0; k < ns; k++) {
		if (!s[k].n)
			continue;
		fprintf(f, "%s ", first ? "" : ",");
		gp_str(f, data);
		fprintf(f, " index %zu using 1:2 with %s%s linewidth 2 title ",
		        block++, s[k].with, s[k].y2 ? " axes x1y2" : "");
		gp_str(f, s[k].title);
		first = false;
	}
	fprintf(f, "\n");
	return fclose(f) ? -1 : 0;
}

/* Run gnuplot on script; 0, or -1 with the reason printed. */
static int
run_gnuplot(const char *cmd, const char *script)
{
	char *argv[] = {"gnuplot", (char *)script, NULL};
	pid_t pid;
	int st;

	int rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (rc == ENOENT) {
		fprintf(stderr,
		        "gvbench %s: --plot: gnuplot not found: install the "
		        "gnuplot-nox package (tools/bootstrap.sh does); no "
		        "plot written, the results are unaffected\n",
		        cmd);
		return -1;
	}
	if (rc) {
		fprintf(stderr, "gvbench %s: --plot: cannot run gnuplot: %s\n",
		        cmd, strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "gvbench %s: --plot: waitpid: %s\n",
			        cmd, strerror(errno));
			return -1;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr,
		        "gvbench %s: --plot: gnuplot failed (%s %d; its "
		        "messages are above)\n",
		        cmd, WIFEXITED(st) ? "exit status" : "signal",
		        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return -1;
	}
	return 0;
}

int
plot_png(const char *cmd, const char *png, const struct plot_spec *spec,
         const struct plot_series *s, size_t ns)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], data[300], script[300];
	struct stat st;
	size_t points = 0;
	int rc = -1;

	for (size_t k = 0; k < ns; k++)
		points += s[k].n;
	if (!points) {
		fprintf(stderr, "gvbench %s: --plot: nothing to plot\n", cmd);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/gvbench-plot-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "gvbench %s: --plot: %s: %s\n", cmd, dir,
		        strerror(errno));
		return -1;
	}
	snprintf(data, sizeof(data), "%s/data.txt", dir);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	/* an old file must not pass for the new plot */
	if (unlink(png) && errno != ENOENT) {
		fprintf(stderr, "gvbench %s: --plot: %s: %s\n", cmd, png,
		        strerror(errno));
		goto out;
	}
	if (write_data(data, s, ns) ||
	    write_script(script, data, png, spec, s, ns)) {
		fprintf(stderr, "gvbench %s: --plot: writing %s: %s\n", cmd,
		        dir, strerror(errno));
		goto out;
	}
	if (run_gnuplot(cmd, script))
		goto out;
	if (stat(png, &st) || st.st_size == 0) {
		fprintf(stderr, "gvbench %s: --plot: gnuplot wrote no %s\n",
		        cmd, png);
		goto out;
	}
	rc = 0;
out:
	/* GVBENCH_KEEP_PLOT set: keep them, to rework a figure by hand */
	if (getenv("GVBENCH_KEEP_PLOT")) {
		fprintf(stderr,
		        "gvbench %s: --plot: script and data kept in "
		        "%s\n",
		        cmd, dir);
	} else {
		unlink(data);
		unlink(script);
		rmdir(dir);
	}
	return rc;
}

/* ------------------------------------------------------------ reach */

int
plot_reach_init(struct plot_reach *r, size_t nodes, size_t updates)
{
	memset(r, 0, sizeof(*r));
	r->t = calloc(nodes * (updates ? updates : 1), sizeof(*r->t));
	if (!r->t)
		return GV_ENOMEM;
	r->nodes = nodes;
	r->cap = updates;
	return 0;
}

void
plot_reach_fini(struct plot_reach *r)
{
	free(r->t);
	memset(r, 0, sizeof(*r));
}

void
plot_reach_add(struct plot_reach *r, gv_time *applied, gv_time injected)
{
	if (r->count >= r->cap)
		return;
	uint64_t *row = r->t + r->count * r->nodes;

	for (size_t i = 0; i < r->nodes; i++) {
		gv_time at = applied[i];
		row[i] = at == GV_TIME_NEVER ? GV_TIME_NEVER
		         : at > injected     ? at - injected
		                             : 0;
	}
	qsort(row, r->nodes, sizeof(*row), cmp_u64);
	r->count++;
}

int
plot_reach_png(const char *cmd, const char *png, const char *title,
               const struct plot_reach *r)
{
	static const unsigned pcts[] = {50, 90, 99};
	enum { NP = sizeof(pcts) / sizeof(pcts[0]) };
	size_t n = r->nodes;
	double *x = calloc(NP * n, sizeof(*x));
	double *y = calloc(NP * n, sizeof(*y));
	uint64_t *col = calloc(r->count ? r->count : 1, sizeof(*col));
	struct plot_series s[NP];
	char names[NP][32];
	int rc = -1;

	if (!x || !y || !col) {
		fprintf(stderr, "gvbench %s: --plot: out of memory\n", cmd);
		goto out;
	}
	for (unsigned p = 0; p < NP; p++) {
		snprintf(names[p], sizeof(names[p]), "p%u update", pcts[p]);
		s[p] = (struct plot_series){names[p], x + p * n, y + p * n,
		                            0,        "steps",   false};
	}
	/* A curve ends at the first k its update never reached. Nodes
	 * that hold the update at 0 µs (the writer) have no place on the
	 * log axis: the curve starts at the first one after. */
	bool ended[NP] = {false};
	for (size_t k = 0; r->count && k < n; k++) {
		for (size_t u = 0; u < r->count; u++)
			col[u] = r->t[u * n + k];
		qsort(col, r->count, sizeof(*col), cmp_u64);
		for (unsigned p = 0; p < NP; p++) {
			uint64_t t = pct(col, r->count, pcts[p]);
			if (ended[p] || t == GV_TIME_NEVER) {
				ended[p] = true;
				continue;
			}
			if (t == 0)
				continue;
			x[p * n + s[p].n] = (double)t / 1000.0;
			y[p * n + s[p].n] = (double)(k + 1) / (double)n;
			s[p].n++;
		}
	}
	struct plot_spec spec = {
	        .title = title,
	        .xlabel = "time since injection (ms, log scale)",
	        .ylabel = "fraction of nodes holding the update",
	        .logx = true,
	        .ymin = 0,
	        .ymax = 1.02,
	};
	rc = plot_png(cmd, png, &spec, s, NP);
out:
	free(x);
	free(y);
	free(col);
	return rc;
}
