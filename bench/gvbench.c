/* SPDX-License-Identifier: MIT */
/*
 * gvbench.c - the grapevine benchmark driver: `gvbench <subcommand> [opts]`.
 *
 * `sim` measures dissemination on the deterministic simulated network
 * (engine/sim/cluster.h): it injects writes one at a time at random nodes
 * and records how long and how many gossip rounds each takes to reach every
 * node, and how many datagrams that cost. Everything but the wall clock is
 * a function of the seed, so two runs with the same flags print the same
 * numbers. The real-socket subcommands (converge, throughput, partition,
 * churn, ceiling) slot into `subcmds` below when they arrive.
 *
 * Conventions: results for humans go to stdout, progress to stderr (only
 * when it is a terminal), one JSON object per run and line to --json FILE
 * (appended). Exit status 0 on success, 1 when a run fails, 2 on a usage
 * error. A run in which some update did not converge still succeeds; its
 * `converged` field is below `updates` and the caller decides.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "core/node.h"
#include "core/rng.h"
#include "sim/cluster.h"

#define EXIT_USAGE 2

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ options */

/*
 * A subcommand describes its options as a table; parse_opts() fills the
 * destinations, checks ranges and prints the error. Both "--name value" and
 * "--name=value" are accepted.
 */
enum opt_kind {
	OPT_FLAG, /* bool */
	OPT_U64,  /* uint64_t in [umin, umax] */
	OPT_F64,  /* finite double in [fmin, fmax], or [fmin, fmax) */
	OPT_STR,  /* const char * */
	OPT_MODE, /* int: enum gv_mode, by name */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	void *dst;
	uint64_t umin, umax;
	double fmin, fmax;
	bool fmax_open; /* fmax itself excluded */
	bool seen;
};

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9') /* strtoull would take "-1" */
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int
parse_f64(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int
set_opt(const char *cmd, struct opt *o, const char *val)
{
	uint64_t u;
	double f;
	int m;

	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->dst = true;
		break;
	case OPT_U64:
		if (parse_u64(val, &u) || u < o->umin || u > o->umax) {
			fprintf(stderr,
			        "gvbench %s: %s: '%s' is not an integer in "
			        "[%" PRIu64 ", %" PRIu64 "]\n",
			        cmd, o->name, val, o->umin, o->umax);
			return -1;
		}
		*(uint64_t *)o->dst = u;
		break;
	case OPT_F64:
		if (parse_f64(val, &f) || f < o->fmin || f > o->fmax ||
		    (o->fmax_open && f == o->fmax)) {
			fprintf(stderr,
			        "gvbench %s: %s: '%s' is not a number in "
			        "[%g, %g%c\n",
			        cmd, o->name, val, o->fmin, o->fmax,
			        o->fmax_open ? ')' : ']');
			return -1;
		}
		*(double *)o->dst = f;
		break;
	case OPT_STR:
		if (!*val) {
			fprintf(stderr, "gvbench %s: %s: empty value\n", cmd,
			        o->name);
			return -1;
		}
		*(const char **)o->dst = val;
		break;
	case OPT_MODE:
		m = gv_mode_parse(val);
		if (m < 0) {
			fprintf(stderr,
			        "gvbench %s: %s: unknown mode '%s' (push, "
			        "pull, pushpull or eager)\n",
			        cmd, o->name, val);
			return -1;
		}
		*(int *)o->dst = m;
		break;
	}
	o->seen = true;
	return 0;
}

/* Returns 0, 1 if --help was asked (usage printed), or EXIT_USAGE. */
static int
parse_opts(const char *cmd, const char *usage, struct opt *opts, size_t n,
           int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage, stdout);
			return 1;
		}
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		struct opt *o = NULL;
		for (size_t k = 0; k < n; k++)
			if (strlen(opts[k].name) == len &&
			    !strncmp(opts[k].name, arg, len))
				o = &opts[k];
		if (!o) {
			fprintf(stderr,
			        "gvbench %s: unknown option '%s' (see gvbench "
			        "%s --help)\n",
			        cmd, arg, cmd);
			return EXIT_USAGE;
		}
		const char *val = NULL;
		if (o->kind == OPT_FLAG) {
			if (eq) {
				fprintf(stderr,
				        "gvbench %s: %s takes no value\n", cmd,
				        o->name);
				return EXIT_USAGE;
			}
		} else if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "gvbench %s: %s needs a value\n", cmd,
			        o->name);
			return EXIT_USAGE;
		}
		if (set_opt(cmd, o, val))
			return EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------ output */

struct machine {
	long cores;
	char kernel[sizeof(((struct utsname *)0)->release)];
};

static void
machine_get(struct machine *m)
{
	struct utsname u;

	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s", u.release);
	else
		snprintf(m->kernel, sizeof(m->kernel), "unknown");
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* A number, or null when there is none (JSON has no NaN). */
static void
json_num(FILE *f, double v, bool valid)
{
	if (valid && isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

/* ------------------------------------------------------------ sim */

#define SIM_USAGE                                                              \
	"usage: gvbench sim --nodes N [options]\n"                             \
	"       gvbench sim --table [--big] [options]\n"                       \
	"\n"                                                                   \
	"Dissemination on the deterministic simulated network: inject\n"       \
	"--updates writes one at a time at random nodes, run each until it\n"  \
	"reached every node (60 s virtual deadline), then 2 intervals more.\n" \
	"\n"                                                                   \
	"  --nodes N          cluster size (2 .. 16777214)\n"                  \
	"  --fanout F         peers per round (default 3)\n"                   \
	"  --mode M           push, pull, pushpull or eager (default "         \
	"pushpull)\n"                                                          \
	"  --interval-ms MS   gossip round (default 100)\n"                    \
	"  --loss P           datagram loss probability in [0, 1) (default "   \
	"0);\n"                                                                \
	"                     with loss > 0, anti-entropy stays on (N <= "     \
	"2000)\n"                                                              \
	"  --updates K        writes to inject (default 100; with --table\n"   \
	"                     100 for N <= 1000, 20 for 10000, 5 for "         \
	"100000)\n"                                                            \
	"  --seed S           seed of the cluster and the write placement "    \
	"(default 1)\n"                                                        \
	"  --static           static peer list, no SWIM (always for N > "      \
	"2000)\n"                                                              \
	"  --json FILE        append one JSON object per run (one line)\n"     \
	"  --table            run N = 10, 50, 150, 500, 1000, 10000\n"         \
	"  --big              with --table, add N = 100000\n"                  \
	"\n"                                                                   \
	"Percentiles are nearest-rank over the updates that converged.\n"      \
	"rounds = ceil(convergence time / interval) (not meaningful for "      \
	"eager).\n"                                                            \
	"rmr = payload datagrams / (updates * (N - 1)) - 1.\n"

/* Above this size a node holding every member does not fit in memory. */
#define SIM_PREJOINED_MAX 2000
#define SIM_WARMUP_US ((gv_time)1000000)
#define SIM_DEADLINE_US ((gv_time)60000000)
#define SIM_VALUE_LEN 32

struct sim_params {
	size_t nodes;
	unsigned fanout;
	int mode;
	uint64_t interval_ms;
	double loss;
	uint64_t updates;
	uint64_t seed;
	bool force_static;
	bool progress;
};

struct sim_result {
	struct sim_params p;
	bool is_static;
	bool ae;      /* anti-entropy on */
	bool reduced; /* per-node memory reduced (N > SIM_PREJOINED_MAX) */
	uint64_t converged;
	double rounds_mean;
	uint64_t rounds_p50, rounds_p99, rounds_max;
	double conv_p50, conv_p95, conv_p99, conv_max; /* ms */
	double t50_ms, t90_ms, t100_ms;                /* p50 across updates */
	bool have_t50, have_t90;
	uint64_t payload, sent;
	double messages_per_node, messages_per_node_per_update, rmr;
	double wall_s, virtual_s;
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of them at or below
 * it. v sorted, n > 0. */
static uint64_t
pct(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = ((size_t)p * n + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

/* Sort the n valid entries of v (GV_TIME_NEVER = none), return their
 * median in ms; *ok false when there are none. */
static double
median_ms(uint64_t *v, size_t n, bool *ok)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] != GV_TIME_NEVER)
			v[k++] = v[i];
	*ok = k > 0;
	if (!k)
		return 0;
	qsort(v, k, sizeof(*v), cmp_u64);
	return (double)pct(v, k, 50) / 1000.0;
}

static void
progress(const struct sim_params *p, uint64_t u)
{
	if (!p->progress)
		return;
	if (u < p->updates)
		fprintf(stderr,
		        "\rgvbench sim: N=%zu %s update %" PRIu64 "/%" PRIu64
		        "   ",
		        p->nodes, gv_mode_name(p->mode), u + 1, p->updates);
	else
		fprintf(stderr, "\r%60s\r", "");
}

/*
 * The condition gv_cluster_run_until_converged() checks, for the one track
 * of a run where no node is ever down: it counts the live nodes after every
 * event, O(N) each, which dominated the run time at N = 10^4.
 */
static bool
not_reached(void *ud)
{
	const gv_track *tr = ud;
	return tr->t100 == GV_TIME_NEVER;
}

/*
 * One run: build the cluster, warm it up, inject the updates one at a
 * time. Returns 0, or the cluster's error (printed).
 */
static int
sim_run(const struct sim_params *p, struct sim_result *r)
{
	gv_cluster_config cfg;
	gv_cluster *c;
	double w0 = now_s();

	memset(r, 0, sizeof(*r));
	r->p = *p;
	gv_cluster_config_default(&cfg);
	cfg.nodes = p->nodes;
	cfg.seed = p->seed;
	cfg.node.mode = p->mode;
	cfg.node.fanout = p->fanout;
	cfg.node.interval_ms = p->interval_ms;
	cfg.node.mem = gv_mem_default();
	cfg.net.mem = gv_mem_default();
	cfg.net.loss = p->loss;
	r->reduced = p->nodes > SIM_PREJOINED_MAX;
	r->is_static = r->reduced || p->force_static;
	cfg.membership =
	        r->is_static ? GV_CLUSTER_STATIC : GV_CLUSTER_PREJOINED;
	if (r->reduced) {
		cfg.node.merkle_depth = 2;
		cfg.node.dedup_per_gen = 256;
		cfg.node.conflict_log = 0;
	}
	/* Measure dissemination, not repair; under loss, repair is part of
	 * reaching everyone, except where memory forbids it. */
	r->ae = p->loss > 0 && !r->reduced;
	if (!r->ae)
		cfg.node.ae_interval_ms = 0;

	int rc = gv_cluster_new(&c, &cfg);
	if (rc) {
		fprintf(stderr, "gvbench sim: N=%zu: cluster: %s\n", p->nodes,
		        gv_strerror(rc));
		return rc;
	}
	uint64_t *conv = calloc(p->updates, sizeof(*conv));
	uint64_t *t50 = calloc(p->updates, sizeof(*t50));
	uint64_t *t90 = calloc(p->updates, sizeof(*t90));
	uint64_t *rounds = calloc(p->updates, sizeof(*rounds));
	if (!conv || !t50 || !t90 || !rounds) {
		fprintf(stderr, "gvbench sim: out of memory\n");
		rc = GV_ENOMEM;
		goto out;
	}

	gv_cluster_run_for(c, SIM_WARMUP_US);
	const gv_sim_stats *ss = gv_sim_get_stats(gv_cluster_sim(c));
	uint64_t sent0 = ss->sent;
	uint64_t payload0 = gv_cluster_payload_msgs(c);
	gv_time interval = (gv_time)p->interval_ms * 1000;
	gv_rng rng;
	gv_rng_seed(&rng, p->seed ^ UINT64_C(0x6776626e6368)); /* "gvbnch" */

	for (uint64_t u = 0; u < p->updates; u++) {
		char key[24];
		uint8_t val[SIM_VALUE_LEN];
		size_t at = (size_t)gv_rng_below(&rng, p->nodes);
		int klen = snprintf(key, sizeof(key), "u%" PRIu64, u);
		for (size_t i = 0; i < sizeof(val); i += 8) {
			uint64_t x = gv_rng_next(&rng);
			memcpy(val + i, &x, 8);
		}
		progress(p, u);
		int t = gv_cluster_put(c, at, key, (size_t)klen, val,
		                       sizeof(val), GV_PRIO_NORMAL);
		if (t < 0) {
			fprintf(stderr, "gvbench sim: put at node %zu: %s\n",
			        at, gv_strerror(t));
			rc = t;
			goto out;
		}
		const gv_track *tr = gv_cluster_track(c, t);
		gv_sim_run_while(gv_cluster_sim(c), not_reached, (void *)tr,
		                 gv_cluster_now(c) + SIM_DEADLINE_US);
		t50[u] = tr->t50 == GV_TIME_NEVER ? GV_TIME_NEVER
		                                  : tr->t50 - tr->injected;
		t90[u] = tr->t90 == GV_TIME_NEVER ? GV_TIME_NEVER
		                                  : tr->t90 - tr->injected;
		conv[u] = GV_TIME_NEVER;
		if (tr->t100 != GV_TIME_NEVER && gv_cluster_track_done(c, t)) {
			conv[u] = tr->t100 - tr->injected;
			rounds[r->converged] =
			        (conv[u] + interval - 1) / interval;
			r->converged++;
		}
		/* the per-node bitsets cost N/8 bytes a track, and every
		 * apply scans the tracks: keep one */
		gv_cluster_clear_tracks(c);
		gv_cluster_run_for(c, 2 * interval);
	}

	r->sent = ss->sent - sent0;
	r->payload = gv_cluster_payload_msgs(c) - payload0;
	r->messages_per_node = (double)r->sent / (double)p->nodes;
	r->messages_per_node_per_update =
	        r->messages_per_node / (double)p->updates;
	r->rmr = (double)r->payload /
	                 ((double)p->updates * (double)(p->nodes - 1)) -
	         1.0;
	r->virtual_s = (double)gv_cluster_now(c) / 1e6;

	if (r->converged) {
		size_t k = 0;
		for (uint64_t u = 0; u < p->updates; u++)
			if (conv[u] != GV_TIME_NEVER)
				conv[k++] = conv[u];
		qsort(conv, k, sizeof(*conv), cmp_u64);
		r->conv_p50 = (double)pct(conv, k, 50) / 1000.0;
		r->conv_p95 = (double)pct(conv, k, 95) / 1000.0;
		r->conv_p99 = (double)pct(conv, k, 99) / 1000.0;
		r->conv_max = (double)conv[k - 1] / 1000.0;
		r->t100_ms = r->conv_p50;
		double sum = 0;
		for (size_t i = 0; i < k; i++)
			sum += (double)rounds[i];
		r->rounds_mean = sum / (double)k;
		qsort(rounds, k, sizeof(*rounds), cmp_u64);
		r->rounds_p50 = pct(rounds, k, 50);
		r->rounds_p99 = pct(rounds, k, 99);
		r->rounds_max = rounds[k - 1];
	}
	r->t50_ms = median_ms(t50, p->updates, &r->have_t50);
	r->t90_ms = median_ms(t90, p->updates, &r->have_t90);
	r->wall_s = now_s() - w0;
	rc = 0;
out:
	progress(p, p->updates);
	free(conv);
	free(t50);
	free(t90);
	free(rounds);
	gv_cluster_del(c);
	return rc;
}

static const char *
ae_text(const struct sim_result *r)
{
	if (r->ae)
		return "on (loss > 0: repair is part of reaching everyone)";
	if (r->p.loss > 0)
		return "off (N > 2000: memory)";
	return "off (dissemination alone)";
}

static void
sim_print(FILE *f, const struct sim_result *r)
{
	const struct sim_params *p = &r->p;
	bool any = r->converged > 0;

	fprintf(f,
	        "sim: mode=%s nodes=%zu fanout=%u interval=%" PRIu64
	        "ms loss=%g updates=%" PRIu64 " seed=%" PRIu64
	        " membership=%s anti-entropy=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->fanout, p->interval_ms,
	        p->loss, p->updates, p->seed,
	        r->is_static ? "static" : "prejoined", ae_text(r));
	if (any) {
		fprintf(f,
		        "  convergence_ms   p50 %9.1f  p95 %9.1f  p99 %9.1f  "
		        "max %9.1f\n",
		        r->conv_p50, r->conv_p95, r->conv_p99, r->conv_max);
		fprintf(f,
		        "  rounds           mean %7.2f  p50 %5" PRIu64
		        "  p99 %5" PRIu64 "  max %5" PRIu64 "%s\n",
		        r->rounds_mean, r->rounds_p50, r->rounds_p99,
		        r->rounds_max,
		        p->mode == GV_MODE_EAGER
		                ? "  (eager: pushes at once, rounds not "
		                  "meaningful)"
		                : "");
	} else {
		fprintf(f, "  convergence_ms   -  (no update converged)\n");
		fprintf(f, "  rounds           -\n");
	}
	fprintf(f, "  time to 50%%      ");
	if (r->have_t50)
		fprintf(f, "%.1f ms (p50)\n", r->t50_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  time to 90%%      ");
	if (r->have_t90)
		fprintf(f, "%.1f ms (p50)\n", r->t90_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  time to 100%%     ");
	if (any)
		fprintf(f, "%.1f ms (p50)\n", r->t100_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  converged        %" PRIu64 "/%" PRIu64 "%s\n",
	        r->converged, p->updates,
	        r->converged < p->updates ? "  (NOT ALL CONVERGED)" : "");
	fprintf(f,
	        "  messages_per_node %.1f (%.2f per update; %" PRIu64
	        " datagrams, %" PRIu64 " with payload)\n",
	        r->messages_per_node, r->messages_per_node_per_update, r->sent,
	        r->payload);
	fprintf(f, "  rmr              %.3f\n", r->rmr);
	fprintf(f, "  wall             %.2f s  (virtual %.1f s)\n", r->wall_s,
	        r->virtual_s);
}

static void
sim_json(FILE *f, const struct sim_result *r, const struct machine *m)
{
	const struct sim_params *p = &r->p;
	bool any = r->converged > 0;

	fprintf(f, "{\"bench\":\"sim\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"mode\":");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f,
	        ",\"nodes\":%zu,\"fanout\":%u,\"interval_ms\":%" PRIu64
	        ",\"loss\":%.6g,\"updates\":%" PRIu64 ",\"seed\":%" PRIu64
	        ",\"membership\":\"%s\",\"anti_entropy\":%s"
	        ",\"reduced_memory\":%s,\"converged\":%" PRIu64,
	        p->nodes, p->fanout, p->interval_ms, p->loss, p->updates,
	        p->seed, r->is_static ? "static" : "prejoined",
	        r->ae ? "true" : "false", r->reduced ? "true" : "false",
	        r->converged);
	fprintf(f, ",\"rounds\":{\"mean\":");
	json_num(f, r->rounds_mean, any);
	fprintf(f, ",\"p50\":");
	json_num(f, (double)r->rounds_p50, any);
	fprintf(f, ",\"p99\":");
	json_num(f, (double)r->rounds_p99, any);
	fprintf(f, ",\"max\":");
	json_num(f, (double)r->rounds_max, any);
	fprintf(f, "},\"rounds_meaningful\":%s",
	        p->mode == GV_MODE_EAGER ? "false" : "true");
	fprintf(f, ",\"convergence_ms\":{\"p50\":");
	json_num(f, r->conv_p50, any);
	fprintf(f, ",\"p95\":");
	json_num(f, r->conv_p95, any);
	fprintf(f, ",\"p99\":");
	json_num(f, r->conv_p99, any);
	fprintf(f, ",\"max\":");
	json_num(f, r->conv_max, any);
	fprintf(f, "},\"t50_ms\":");
	json_num(f, r->t50_ms, r->have_t50);
	fprintf(f, ",\"t90_ms\":");
	json_num(f, r->t90_ms, r->have_t90);
	fprintf(f, ",\"t100_ms\":");
	json_num(f, r->t100_ms, any);
	fprintf(f,
	        ",\"datagrams_sent\":%" PRIu64 ",\"payload_msgs\":%" PRIu64
	        ",\"messages_per_node\":",
	        r->sent, r->payload);
	json_num(f, r->messages_per_node, true);
	fprintf(f, ",\"messages_per_node_per_update\":");
	json_num(f, r->messages_per_node_per_update, true);
	fprintf(f, ",\"rmr\":");
	json_num(f, r->rmr, true);
	fprintf(f, ",\"wall_s\":");
	json_num(f, r->wall_s, true);
	fprintf(f, ",\"virtual_s\":");
	json_num(f, r->virtual_s, true);
	fprintf(f, ",\"allocator\":");
	json_str(f, gv_mem_default_name());
	fprintf(f, ",\"machine\":{\"cores\":%ld,\"kernel\":", m->cores);
	json_str(f, m->kernel);
	fprintf(f, "}}\n");
}

static int
json_write(FILE *jf, const char *path, const struct sim_result *r,
           const struct machine *m)
{
	if (!jf)
		return 0;
	sim_json(jf, r, m);
	if (fflush(jf) || ferror(jf)) {
		fprintf(stderr, "gvbench sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
table_header(FILE *f, const struct sim_params *p)
{
	fprintf(f,
	        "sim table: mode=%s fanout=%u interval=%" PRIu64
	        "ms loss=%g seed=%" PRIu64 "\n",
	        gv_mode_name(p->mode), p->fanout, p->interval_ms, p->loss,
	        p->seed);
	fprintf(f, "%8s %-9s %9s %6s %6s %6s %10s %7s %10s %8s\n", "N",
	        "members", "converged", "r.p50", "r.p99", "r.max", "conv.p99ms",
	        "rmr", "msg/n/upd", "wall_s");
}

static void
table_row(FILE *f, const struct sim_result *r)
{
	char conv[32];

	snprintf(conv, sizeof(conv), "%" PRIu64 "/%" PRIu64, r->converged,
	         r->p.updates);
	fprintf(f, "%8zu %-9s %9s ", r->p.nodes,
	        r->is_static ? "static" : "prejoined", conv);
	if (r->converged)
		fprintf(f, "%6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %10.1f ",
		        r->rounds_p50, r->rounds_p99, r->rounds_max,
		        r->conv_p99);
	else
		fprintf(f, "%6s %6s %6s %10s ", "-", "-", "-", "-");
	fprintf(f, "%7.3f %10.2f %8.2f\n", r->rmr,
	        r->messages_per_node_per_update, r->wall_s);
	fflush(f);
}

static void
table_footer(FILE *f, const struct sim_params *p)
{
	fprintf(f, "anti-entropy: %s\n",
	        p->loss > 0 ? "on for N <= 2000 (loss > 0: repair is part of "
	                      "reaching everyone), off above"
	                    : "off (dissemination alone is measured)");
	fprintf(f, "N > 2000: static peer list (no SWIM), merkle_depth 2, "
	           "dedup 256/gen, no conflict log, anti-entropy off\n");
	fprintf(f,
	        "rounds = ceil(convergence / interval)%s; percentiles "
	        "nearest-rank over converged updates; msg/n/upd = "
	        "datagrams sent per node per update\n",
	        p->mode == GV_MODE_EAGER ? " (eager: not meaningful)" : "");
}

static int
cmd_sim(int argc, char **argv)
{
	uint64_t nodes = 0, fanout = 3, interval = 100, updates = 100, seed = 1;
	double loss = 0;
	int mode = GV_MODE_PUSHPULL;
	bool table = false, big = false, stat = false;
	const char *json = NULL;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 2,
	         .umax = GV_SIM_MAX_ENDPOINTS},
	        {.name = "--fanout",
	         .kind = OPT_U64,
	         .dst = &fanout,
	         .umin = 1,
	         .umax = 1000},
	        {.name = "--mode", .kind = OPT_MODE, .dst = &mode},
	        {.name = "--interval-ms",
	         .kind = OPT_U64,
	         .dst = &interval,
	         .umin = 1,
	         .umax = 3600000},
	        {.name = "--loss",
	         .kind = OPT_F64,
	         .dst = &loss,
	         .fmax = 1,
	         .fmax_open = true},
	        {.name = "--updates",
	         .kind = OPT_U64,
	         .dst = &updates,
	         .umin = 1,
	         .umax = 10000000},
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	        {.name = "--static", .kind = OPT_FLAG, .dst = &stat},
	        {.name = "--table", .kind = OPT_FLAG, .dst = &table},
	        {.name = "--big", .kind = OPT_FLAG, .dst = &big},
	};
	enum { O_NODES, O_FANOUT, O_MODE, O_INTERVAL, O_LOSS, O_UPDATES };
	int rc = parse_opts("sim", SIM_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (table && opts[O_NODES].seen) {
		fprintf(stderr, "gvbench sim: --nodes and --table exclude "
		                "each other\n");
		return EXIT_USAGE;
	}
	if (!table && !opts[O_NODES].seen) {
		fprintf(stderr, "gvbench sim: --nodes N or --table is "
		                "required (see gvbench sim --help)\n");
		return EXIT_USAGE;
	}
	if (big && !table) {
		fprintf(stderr, "gvbench sim: --big goes with --table\n");
		return EXIT_USAGE;
	}

	struct machine m;
	machine_get(&m);
	FILE *jf = NULL;
	if (json) {
		jf = fopen(json, "a");
		if (!jf) {
			fprintf(stderr, "gvbench sim: %s: %s\n", json,
			        strerror(errno));
			return 1;
		}
	}
	struct sim_params p = {
	        .nodes = nodes,
	        .fanout = (unsigned)fanout,
	        .mode = mode,
	        .interval_ms = interval,
	        .loss = loss,
	        .updates = updates,
	        .seed = seed,
	        .force_static = stat,
	        .progress = isatty(STDERR_FILENO),
	};
	struct sim_result r;
	rc = 0;
	if (!table) {
		if (sim_run(&p, &r))
			rc = 1;
		else {
			sim_print(stdout, &r);
			if (json_write(jf, json, &r, &m))
				rc = 1;
		}
	} else {
		static const size_t sizes[] = {10,   50,    150,   500,
		                               1000, 10000, 100000};
		size_t nsizes = sizeof(sizes) / sizeof(sizes[0]) - !big;
		double w0 = now_s();
		table_header(stdout, &p);
		for (size_t i = 0; i < nsizes && !rc; i++) {
			p.nodes = sizes[i];
			if (!opts[O_UPDATES].seen)
				p.updates = sizes[i] <= 1000    ? 100
				            : sizes[i] <= 10000 ? 20
				                                : 5;
			if (sim_run(&p, &r)) {
				rc = 1;
				break;
			}
			table_row(stdout, &r);
			if (json_write(jf, json, &r, &m))
				rc = 1;
		}
		table_footer(stdout, &p);
		printf("total wall %.1f s\n", now_s() - w0);
	}
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench sim: %s: %s\n", json, strerror(errno));
		rc = 1;
	}
	return rc;
}

/* ------------------------------------------------------------ main */

static const struct subcmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcmds[] = {
        {"sim", cmd_sim, "dissemination on the simulated network"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: gvbench <subcommand> [options]\n"
	           "       gvbench <subcommand> --help\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		fprintf(f, "  %-12s %s\n", subcmds[i].name, subcmds[i].summary);
	fprintf(f, "\n(the real-socket benchmarks converge, throughput, "
	           "partition, churn and ceiling arrive later)\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		if (!strcmp(argv[1], subcmds[i].name))
			return subcmds[i].run(argc - 2, argv + 2);
	fprintf(stderr, "gvbench: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
