/* SPDX-License-Identifier: MIT */
/*
 * cmd_join.c - `gvbench join`: how a cluster forms. N nodes on real
 * loopback sockets start knowing nobody; every node but node 0 joins
 * through the K seeds (nodes 0 .. K-1) at the same instant, as a fleet
 * restart does (netcluster's join_seeds). The run times how long until
 * every node sees every other alive.
 *
 * Views come from the nodes' member callbacks, counted on their workers
 * (netcluster_view): a node has the full view when N - 1 members are
 * alive in it. The driver samples the views every SAMPLE_US for the
 * figure (smallest, median and largest view against time). Every node
 * is alive throughout, so every suspect or dead mark is false: they are
 * counted from the callbacks and the node counters. After formation the
 * run watches for --settle-ms more, so that suspicions raised late by
 * the formation load show.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "cmds.h"
#include "cmds_net.h"
#include "core/node.h"
#include "io/io.h"
#include "plot.h"

#define JOIN_USAGE                                                             \
	"usage: gvbench join --nodes N [options]\n"                            \
	"\n"                                                                   \
	"Cluster formation on real UDP sockets: N single-shard nodes on\n"     \
	"127.0.0.1 start knowing nobody; nodes 0..K-1 are seeds, and at\n"     \
	"once every node but node 0 joins through the seeds (itself\n"         \
	"excluded): a join storm. The run ends --settle-ms after every\n"      \
	"node sees all N members alive (its full view), or at --seconds.\n"    \
	"\n"                                                                   \
	"  --nodes N            cluster size (2 .. 10000)\n"                   \
	"  --seeds K            seed nodes (1 .. 64, at most N; default 1)\n"  \
	"  --seconds S          deadline for formation (default 60)\n"         \
	"  --settle-ms MS       watch after formation (default 1000)\n"        \
	"  --loss P             outgoing datagrams dropped, in [0, 1)\n"       \
	"  --probe-ms MS        probe period (default: the node's, 1000;\n"    \
	"                       probe timeout MS/2)\n"                         \
	"  --interval-ms MS     gossip round (default 100)\n"                  \
	"  --workers W          io threads (default: online cores)\n"          \
	"  --io B               auto, uring or mmsg (default auto)\n"          \
	"  --seed S             node ids, loss draws (default 1)\n"            \
	"  --json FILE          append one JSON object (one line)\n"           \
	"  --plot FILE.png      view sizes against time (gnuplot)\n"           \
	"\n"                                                                   \
	"formed_ms: from the joins until the last node had its full view\n"    \
	"(null if some node had none by the deadline). node_p50_ms ..\n"       \
	"node_max_ms: nearest-rank over the nodes of the time each got its\n"  \
	"full view. Datagrams and bytes: sent per node until formation (or\n"  \
	"the deadline). false_suspect / false_dead: suspect and dead marks\n"  \
	"seen by the member callbacks during the whole run (every node is\n"   \
	"alive: each one is false).\n"

#define SAMPLE_US 5000
#define SNAP_TIMEOUT_US ((uint64_t)10000000)

struct jn_params {
	size_t nodes, seeds;
	uint64_t seconds, settle_ms, probe_ms, interval_ms, seed;
	double loss;
	int backend;
	unsigned workers;
};

/* One sample of the views: µs since the joins, and view sizes with
 * self counted (N: full). */
struct jn_sample {
	double t_s;
	double vmin, vmed, vmax;
};

struct jn_result {
	struct jn_params p;
	unsigned workers;
	char backend[16];
	uint64_t probe_ms, interval_ms, reconnect_ms;
	bool formed, stable;
	size_t full, full_end; /* nodes with the full view by the deadline,
	                        * and at the end of the run */
	gv_time formed_us;     /* GV_TIME_NEVER: not formed */
	struct delays node;    /* per-node time to the full view */
	double dg_mean, b_mean;
	uint64_t dg_max, b_max, seed_dg, seed_b;
	netcluster_stats at_form, end; /* since the start */
	struct jn_sample *s;
	size_t ns, scap;
	double wall_s;
};

static int
sample_add(struct jn_result *r, const struct jn_sample *x)
{
	if (r->ns == r->scap) {
		size_t cap = r->scap ? r->scap * 2 : 1024;
		struct jn_sample *s = realloc(r->s, cap * sizeof(*s));
		if (!s)
			return GV_ENOMEM;
		r->s = s;
		r->scap = cap;
	}
	r->s[r->ns++] = *x;
	return 0;
}

/* Views now into v (n entries); returns how many are full. */
static size_t
views(netcluster *c, uint64_t *v, size_t n)
{
	size_t full = 0;

	for (size_t i = 0; i < n; i++) {
		v[i] = netcluster_view(c, i, NULL) + 1;
		full += v[i] == n;
	}
	return full;
}

static int
jn_run(const struct jn_params *p, struct jn_result *r)
{
	netcluster_config cfg;
	netcluster *c = NULL;
	char err[256];
	double w0 = now_s();
	size_t n = p->nodes;
	int rc;

	r->p = *p;
	netcluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.workers = p->workers;
	cfg.seed = p->seed;
	cfg.backend = p->backend;
	cfg.loss = p->loss;
	cfg.join_seeds = p->seeds;
	cfg.node.mem = gv_mem_default();
	if (p->interval_ms)
		cfg.node.interval_ms = p->interval_ms;
	if (p->probe_ms) {
		cfg.node.probe_interval_ms = p->probe_ms;
		cfg.node.probe_timeout_ms = p->probe_ms / 2 ? p->probe_ms / 2 : 1;
	}
	r->probe_ms = cfg.node.probe_interval_ms;
	r->interval_ms = cfg.node.interval_ms;
	r->reconnect_ms = cfg.node.reconnect_interval_ms;
	r->formed_us = GV_TIME_NEVER;

	uint64_t *v = calloc(n, sizeof(*v));
	uint64_t *tmp = calloc(n, sizeof(*tmp));
	if (!v || !tmp) {
		fprintf(stderr, "gvbench join: out of memory\n");
		rc = GV_ENOMEM;
		goto out;
	}
	rc = netcluster_new(&c, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gvbench join: N=%zu: %s\n", n,
		        err[0] ? err : gv_strerror(rc));
		goto out;
	}
	r->workers = netcluster_workers(c);
	snprintf(r->backend, sizeof(r->backend), "%s", netcluster_backend(c));
	/* netcluster_new returned at t0, the joins queued */
	gv_time t0 = netcluster_t0(c), now;
	gv_time deadline = t0 + p->seconds * 1000000, end = deadline;
	bool snapped = false;

	for (;;) {
		now = gv_io_now();
		size_t full = views(c, v, n);
		qsort(v, n, sizeof(*v), cmp_u64);
		struct jn_sample x = {
		        .t_s = (double)(now - t0) / 1e6,
		        .vmin = (double)v[0],
		        .vmed = (double)v[(n - 1) / 2],
		        .vmax = (double)v[n - 1],
		};
		rc = sample_add(r, &x);
		if (rc)
			goto failed;
		if (!r->formed) {
			/* formed: every node had its full view once */
			size_t got = 0;
			for (size_t i = 0; i < n; i++) {
				gv_time at;
				netcluster_view(c, i, &at);
				got += at != GV_TIME_NEVER;
			}
			r->full = got;
			(void)full;
			if (got == n) {
				r->formed = true;
				end = now + p->settle_ms * 1000;
				if (end > deadline + p->settle_ms * 1000)
					end = deadline + p->settle_ms * 1000;
			}
		}
		if ((r->formed || now >= deadline) && !snapped) {
			/* the traffic of the formation: counted now */
			rc = netcluster_snapshot(c, &r->at_form,
			                         SNAP_TIMEOUT_US);
			if (rc)
				goto failed;
			snapped = true;
			double dg = 0, b = 0;
			for (size_t i = 0; i < n; i++) {
				uint64_t d, by;
				netcluster_node_sent(c, i, &d, &by);
				dg += (double)d;
				b += (double)by;
				if (d > r->dg_max)
					r->dg_max = d;
				if (by > r->b_max)
					r->b_max = by;
				if (i == 0) {
					r->seed_dg = d;
					r->seed_b = by;
				}
			}
			r->dg_mean = dg / (double)n;
			r->b_mean = b / (double)n;
		}
		if (now >= end)
			break;
		sleep_us(SAMPLE_US);
	}
	rc = netcluster_snapshot(c, &r->end, SNAP_TIMEOUT_US);
	if (rc)
		goto failed;
	r->full_end = views(c, v, n);
	r->stable = r->formed && r->full_end == n;
	gv_time last = 0;
	for (size_t i = 0; i < n; i++) {
		gv_time at;
		netcluster_view(c, i, &at);
		tmp[i] = at == GV_TIME_NEVER ? at : at > t0 ? at - t0 : 0;
		if (at != GV_TIME_NEVER && tmp[i] > last)
			last = tmp[i];
	}
	if (r->formed)
		r->formed_us = last;
	delays_of(&r->node, tmp, n);
	rc = 0;
	goto out;
failed:
	fprintf(stderr, "gvbench join: %s\n", gv_strerror(rc));
out:
	netcluster_del(c);
	free(v);
	free(tmp);
	r->wall_s = now_s() - w0;
	return rc;
}

static void
jn_print(FILE *f, const struct jn_result *r)
{
	const struct jn_params *p = &r->p;
	const netcluster_stats *d = &r->end;

	fprintf(f,
	        "join: nodes=%zu seeds=%zu loss=%g probe=%" PRIu64
	        "ms interval=%" PRIu64 "ms seed=%" PRIu64 " workers=%u io=%s\n",
	        p->nodes, p->seeds, p->loss, r->probe_ms, r->interval_ms,
	        p->seed, r->workers, r->backend);
	if (r->formed)
		fprintf(f, "  formed           %.1f ms (every node saw all %zu "
		           "alive)\n",
		        (double)r->formed_us / 1000.0, p->nodes);
	else
		fprintf(f,
		        "  formed           no: %zu/%zu nodes had the full "
		        "view by the %" PRIu64 " s deadline\n",
		        r->full, p->nodes, p->seconds);
	fprintf(f, "  per node         ");
	delays_print(f, &r->node);
	fprintf(f, "\n  sent per node    %.1f datagrams (max %" PRIu64
	           "), %.0f bytes (max %" PRIu64 "); node 0: %" PRIu64
	           " datagrams, %" PRIu64 " bytes\n",
	        r->dg_mean, r->dg_max, r->b_mean, r->b_max, r->seed_dg,
	        r->seed_b);
	fprintf(f,
	        "  false marks      %" PRIu64 " suspect, %" PRIu64
	        " dead (callbacks); %" PRIu64 " suspicions raised, %" PRIu64
	        " refutations\n",
	        d->ev_suspect, d->ev_dead, d->suspicions, d->refutes);
	fprintf(f,
	        "  at the end       %zu/%zu nodes with the full view (%s); "
	        "%" PRIu64 " kernel drops\n",
	        r->full_end, p->nodes, r->stable ? "stable" : "NOT stable",
	        d->io_kernel_drops);
	fprintf(f, "  wall             %.2f s\n", r->wall_s);
}

static void
jn_json(FILE *f, const struct jn_result *r, const struct machine *m)
{
	const struct jn_params *p = &r->p;
	const netcluster_stats *a = &r->at_form, *d = &r->end;

	fprintf(f, "{\"bench\":\"join\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f,
	        ",\"nodes\":%zu,\"seeds\":%zu,\"loss\":%g,\"seconds\":%" PRIu64
	        ",\"settle_ms\":%" PRIu64 ",\"probe_ms\":%" PRIu64
	        ",\"interval_ms\":%" PRIu64 ",\"reconnect_ms\":%" PRIu64
	        ",\"seed\":%" PRIu64 ",\"workers\":%u,\"backend\":",
	        p->nodes, p->seeds, p->loss, p->seconds, p->settle_ms,
	        r->probe_ms, r->interval_ms, r->reconnect_ms, p->seed,
	        r->workers);
	json_str(f, r->backend);
	fprintf(f, ",\"formed\":%s,\"formed_ms\":",
	        r->formed ? "true" : "false");
	json_ms(f, r->formed_us, 0);
	fprintf(f, ",\"nodes_full\":%zu,\"nodes_full_end\":%zu,\"stable\":%s",
	        r->full, r->full_end, r->stable ? "true" : "false");
	fprintf(f, ",\"node_p50_ms\":");
	json_num(f, r->node.p50, r->node.n > 0);
	fprintf(f, ",\"node_p99_ms\":");
	json_num(f, r->node.p99, r->node.n > 0);
	fprintf(f, ",\"node_max_ms\":");
	json_num(f, r->node.max, r->node.n > 0);
	fprintf(f, ",\"dgrams_per_node_mean\":");
	json_num(f, r->dg_mean, true);
	fprintf(f, ",\"dgrams_per_node_max\":%" PRIu64 ",\"bytes_per_node_mean\":",
	        r->dg_max);
	json_num(f, r->b_mean, true);
	fprintf(f,
	        ",\"bytes_per_node_max\":%" PRIu64 ",\"seed_dgrams\":%" PRIu64
	        ",\"seed_bytes\":%" PRIu64,
	        r->b_max, r->seed_dg, r->seed_b);
	fprintf(f,
	        ",\"false_suspect\":%" PRIu64 ",\"false_dead\":%" PRIu64
	        ",\"suspicions\":%" PRIu64 ",\"refutes\":%" PRIu64,
	        d->ev_suspect, d->ev_dead, d->suspicions, d->refutes);
	fprintf(f,
	        ",\"formation\":{\"dgrams_out\":%" PRIu64
	        ",\"bytes_out\":%" PRIu64 ",\"dgrams_in\":%" PRIu64
	        ",\"probes\":%" PRIu64 ",\"probe_fails\":%" PRIu64
	        ",\"ae_sessions\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
	        ",\"outbox_drops\":%" PRIu64 "}",
	        a->dgrams_out, a->bytes_out, a->dgrams_in, a->probes,
	        a->probe_fails, a->ae_sessions, a->io_kernel_drops,
	        a->outbox_drops);
	fprintf(f, ",\"kernel_drops\":%" PRIu64 ",\"wall_s\":",
	        d->io_kernel_drops);
	json_num(f, r->wall_s, true);
	json_end(f, m);
}

static int
jn_plot(const char *png, const struct jn_result *r)
{
	size_t k = r->ns;
	double *x = calloc(k ? k : 1, sizeof(*x));
	double *lo = calloc(k ? k : 1, sizeof(*lo));
	double *md = calloc(k ? k : 1, sizeof(*md));
	double *hi = calloc(k ? k : 1, sizeof(*hi));
	char title[160];
	int rc = -1;

	if (!x || !lo || !md || !hi) {
		fprintf(stderr, "gvbench join: --plot: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		x[i] = r->s[i].t_s;
		lo[i] = r->s[i].vmin;
		md[i] = r->s[i].vmed;
		hi[i] = r->s[i].vmax;
	}
	snprintf(title, sizeof(title),
	         "gvbench join: %zu nodes, %zu seed%s, loss %g", r->p.nodes,
	         r->p.seeds, r->p.seeds == 1 ? "" : "s", r->p.loss);
	struct plot_series s[] = {
	        {"largest view", x, hi, k, "steps", false},
	        {"median view", x, md, k, "steps", false},
	        {"smallest view", x, lo, k, "steps", false},
	};
	struct plot_spec spec = {
	        .title = title,
	        .xlabel = "time since the joins (s)",
	        .ylabel = "members seen alive (self included)",
	        .ymin = 0,
	        .ymax = (double)r->p.nodes * 1.05,
	        .xmark = r->formed ? (double)r->formed_us / 1e6 : 0,
	        .xmark_label = "formed",
	        .key_pos = "bottom right",
	};
	rc = plot_png("join", png, &spec, s, sizeof(s) / sizeof(s[0]));
out:
	free(x);
	free(lo);
	free(md);
	free(hi);
	return rc;
}

int
cmd_join(int argc, char **argv)
{
	uint64_t nodes = 0, seeds = 1, seconds = 60, settle = 1000;
	uint64_t probe = 0, interval = 0, workers = 0, seed = 1;
	double loss = 0;
	const char *json = NULL, *png = NULL;
	int backend = GV_IO_AUTO;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 2,
	         .umax = 10000},
	        {.name = "--seeds",
	         .kind = OPT_U64,
	         .dst = &seeds,
	         .umin = 1,
	         .umax = NETCLUSTER_SEEDS_MAX},
	        {.name = "--seconds",
	         .kind = OPT_U64,
	         .dst = &seconds,
	         .umin = 1,
	         .umax = 3600},
	        {.name = "--settle-ms",
	         .kind = OPT_U64,
	         .dst = &settle,
	         .umax = 3600000},
	        {.name = "--loss",
	         .kind = OPT_F64,
	         .dst = &loss,
	         .fmin = 0,
	         .fmax = 1,
	         .fmax_open = true},
	        {.name = "--probe-ms",
	         .kind = OPT_U64,
	         .dst = &probe,
	         .umin = 2,
	         .umax = 60000},
	        {.name = "--interval-ms",
	         .kind = OPT_U64,
	         .dst = &interval,
	         .umin = 1,
	         .umax = 3600000},
	        {.name = "--workers",
	         .kind = OPT_U64,
	         .dst = &workers,
	         .umin = 1,
	         .umax = 1024},
	        {.name = "--io", .kind = OPT_IO, .dst = &backend},
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	        {.name = "--plot", .kind = OPT_STR, .dst = &png},
	};
	enum { O_NODES };
	int rc = parse_opts("join", JOIN_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!opts[O_NODES].seen) {
		fprintf(stderr, "gvbench join: --nodes N is required (see "
		                "gvbench join --help)\n");
		return EXIT_USAGE;
	}
	if (seeds > nodes) {
		fprintf(stderr,
		        "gvbench join: --seeds %" PRIu64 " exceeds --nodes %" PRIu64
		        "\n",
		        seeds, nodes);
		return EXIT_USAGE;
	}

	struct machine m;
	machine_get(&m);
	struct jn_params p = {
	        .nodes = nodes,
	        .seeds = seeds,
	        .seconds = seconds,
	        .settle_ms = settle,
	        .probe_ms = probe,
	        .interval_ms = interval,
	        .seed = seed,
	        .loss = loss,
	        .backend = backend,
	        .workers = (unsigned)workers,
	};
	struct jn_result r;
	memset(&r, 0, sizeof(r));
	FILE *jf = NULL;
	if (json && json_open("join", json, &jf))
		return 1;
	rc = 0;
	if (jn_run(&p, &r)) {
		rc = 1;
	} else {
		jn_print(stdout, &r);
		if (jf)
			jn_json(jf, &r, &m);
		if (json_flush("join", json, jf))
			rc = 1;
		if (png && jn_plot(png, &r))
			rc = 1;
		/* a cluster that did not form by the deadline: failed */
		if (!r.formed)
			rc = 1;
	}
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench join: %s: %s\n", json,
		        strerror(errno));
		rc = 1;
	}
	free(r.s);
	return rc;
}
