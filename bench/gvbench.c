/* SPDX-License-Identifier: MIT */
/*
 * gvbench.c - the grapevine benchmark driver: `gvbench <subcommand> [opts]`.
 *
 * `sim` measures dissemination on the deterministic simulated network
 * (engine/sim/cluster.h): it injects writes one at a time at random nodes
 * and records how long and how many gossip rounds each takes to reach every
 * node, and how many datagrams that cost. Everything but the wall clock is
 * a function of the seed, so two runs with the same flags print the same
 * numbers. `converge` measures the same on real UDP sockets through the io
 * workers (bench/netcluster.h), on the machine's monotonic clock.
 * `throughput` lives in cmd_throughput.c and `cache` (grapevined
 * processes against redis-server, over RESP) in cmd_cache.c (cmds.h);
 * the other real-socket
 * subcommands (partition, churn) slot into `subcmds` below when they
 * arrive. Shared helpers: bench_util.h; --plot: plot.h.
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
#include <time.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "bench_util.h"
#include "ceiling.h"
#include "cmds_net.h"
#include "cmds.h"
#include "core/compress.h"
#include "core/node.h"
#include "core/rng.h"
#include "io/io.h"
#include "netcluster.h"
#include "plot.h"
#include "sim/cluster.h"
#include "zbench.h"

/* Progress bar on stderr (callers pass on = isatty(stderr)); u ==
 * updates erases it. */
static void
progress(bool on, const char *cmd, size_t nodes, int mode, uint64_t u,
         uint64_t updates)
{
	char label[64];

	if (!on)
		return;
	if (u >= updates) {
		progress_clear(on);
		return;
	}
	snprintf(label, sizeof(label), "N=%zu %s update %" PRIu64 "/%" PRIu64,
	         nodes, gv_mode_name(mode), u + 1, updates);
	progress_bar(on, cmd, label, (double)u / (double)updates);
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
	"  --mode M           push, pull, pushpull, eager or tree (default "         \
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
	struct conv_summary s;
	uint64_t payload, sent;
	double messages_per_node, messages_per_node_per_update, rmr;
	double wall_s, virtual_s;
};

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
	if (!conv || !t50 || !t90) {
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
		progress(p->progress, "sim", p->nodes, p->mode, u, p->updates);
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
		if (tr->t100 != GV_TIME_NEVER && gv_cluster_track_done(c, t))
			conv[u] = tr->t100 - tr->injected;
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

	conv_summarize(&r->s, conv, t50, t90, p->updates, interval);
	r->wall_s = now_s() - w0;
	rc = 0;
out:
	progress(p->progress, "sim", p->nodes, p->mode, p->updates, p->updates);
	free(conv);
	free(t50);
	free(t90);
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

	fprintf(f,
	        "sim: mode=%s nodes=%zu fanout=%u interval=%" PRIu64
	        "ms loss=%g updates=%" PRIu64 " seed=%" PRIu64
	        " membership=%s anti-entropy=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->fanout, p->interval_ms,
	        p->loss, p->updates, p->seed,
	        r->is_static ? "static" : "prejoined", ae_text(r));
	conv_print(f, &r->s, (p->mode == GV_MODE_EAGER || p->mode == GV_MODE_TREE));
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

	fprintf(f, "{\"bench\":\"sim\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"mode\":");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f,
	        ",\"nodes\":%zu,\"fanout\":%u,\"interval_ms\":%" PRIu64
	        ",\"loss\":%.6g,\"updates\":%" PRIu64 ",\"seed\":%" PRIu64
	        ",\"membership\":\"%s\",\"anti_entropy\":%s"
	        ",\"reduced_memory\":%s",
	        p->nodes, p->fanout, p->interval_ms, p->loss, p->updates,
	        p->seed, r->is_static ? "static" : "prejoined",
	        r->ae ? "true" : "false", r->reduced ? "true" : "false");
	conv_json(f, &r->s, (p->mode == GV_MODE_EAGER || p->mode == GV_MODE_TREE));
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
	json_end(f, m);
}

static int
json_write(FILE *jf, const char *path, const struct sim_result *r,
           const struct machine *m)
{
	if (jf)
		sim_json(jf, r, m);
	return json_flush("sim", path, jf);
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

	snprintf(conv, sizeof(conv), "%" PRIu64 "/%" PRIu64, r->s.converged,
	         r->p.updates);
	fprintf(f, "%8zu %-9s %9s ", r->p.nodes,
	        r->is_static ? "static" : "prejoined", conv);
	if (r->s.converged)
		fprintf(f, "%6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %10.1f ",
		        r->s.rounds_p50, r->s.rounds_p99, r->s.rounds_max,
		        r->s.conv_p99);
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
	        (p->mode == GV_MODE_EAGER || p->mode == GV_MODE_TREE) ? " (eager: not meaningful)" : "");
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
	if (json && json_open("sim", json, &jf))
		return 1;
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

/* ------------------------------------------------------------ converge */

#define CONVERGE_USAGE                                                         \
	"usage: gvbench converge --nodes N [options]\n"                        \
	"\n"                                                                   \
	"Convergence on real UDP sockets: N single-shard nodes on\n"           \
	"127.0.0.1, one socket each, prejoined, hosted by --workers io\n"      \
	"threads (io_uring, else recvmmsg). After a warm-up, --updates\n"      \
	"writes are injected one at a time at random nodes (optionally\n"      \
	"over --background-ups load); each is followed until every node\n"     \
	"applied it (or --deadline-ms), then 2 intervals more. Every apply\n"  \
	"at every node is timestamped on one clock (CLOCK_MONOTONIC).\n"       \
	"\n"                                                                   \
	"  --nodes N            cluster size (2 .. 4096)\n"                    \
	"  --workers W          io threads (default: online cores)\n"          \
	"  --fanout F           peers per round (default 3)\n"                 \
	"  --mode M             eager, tree, push, pull or pushpull (default\n"      \
	"                       eager)\n"                                      \
	"  --interval-ms MS     gossip round (default 100)\n"                  \
	"  --updates K          tracked writes (default 200)\n"                \
	"  --background-ups R   untracked writes per second at random\n"       \
	"                       nodes (default 0; keys bg:0..4095)\n"          \
	"  --loss P             drop outgoing datagrams with probability P\n"  \
	"                       in [0, 1) (default 0); with loss > 0,\n"       \
	"                       anti-entropy stays on\n"                       \
	"  --value-size B       value bytes, 1 .. 60000 (default 32; above\n"  \
	"                       max_datagram a write is a datagram of its\n"  \
	"                       own)\n"                                        \
	"  --values K           random, json or html: what values are made\n" \
	"                       of (default random: incompressible)\n"        \
	"  --compress-threshold T[,T...]\n"                                    \
	"                       off or bytes: the nodes' threshold; a list\n" \
	"                       runs once per entry and ends with a table\n"  \
	"                       against the first (default: the node's)\n"   \
	"  --compress-level L   zstd level, -7 .. 19 (default -1)\n"          \
	"  --compress-padded    also compress datagrams padded for GSO\n"     \
	"  --compress-pack      pack flooding datagrams to what compresses\n" \
	"                       into one, sent padded (GSO chains kept)\n"   \
	"  --seed S             node ids and write placement (default 1)\n"    \
	"  --deadline-ms MS     give up on a write after this (default\n"      \
	"                       10000)\n"                                      \
	"  --warmup-ms MS       run before the first write (default 1000)\n"   \
	"  --io B               auto, uring or mmsg (default auto)\n"          \
	"  --json FILE          append one JSON object per run (one line)\n"   \
	"  --seal S             off, on or both: seal gossip with a random\n"  \
	"                       cluster key; both runs clear then sealed\n"    \
	"                       (default off)\n"                               \
	"  --cipher C           with --seal: auto, aes256gcm or\n"             \
	"                       xchacha20poly1305 (default auto)\n"            \
	"  --plot FILE.png      draw with gnuplot the fraction of nodes\n"     \
	"                       holding the p50/p90/p99 update against the\n"  \
	"                       time since injection; if gnuplot (package\n"   \
	"                       gnuplot-nox) is missing or fails, the error\n" \
	"                       is printed and the results stand (exit 0)\n"   \
	"\n"                                                                   \
	"A progress bar goes to stderr when it is a terminal.\n"               \
	"Percentiles are nearest-rank over the updates that converged.\n"      \
	"rounds = ceil(convergence time / interval) (not meaningful for "      \
	"eager).\n"                                                            \
	"rmr = update records sent / (updates * (N - 1)) - 1, without "        \
	"background\n"                                                         \
	"load only.\n"

#define CV_POLL_US 200
#define CV_SNAP_TIMEOUT_US ((uint64_t)10000000)
#define CV_BG_KEYS 4096
#define CV_MISSED_SHOWN 10 /* updates that did not converge, on stderr */

struct cv_params {
	size_t nodes;
	unsigned workers; /* 0: online cores */
	unsigned fanout;
	int mode;
	uint64_t interval_ms;
	uint64_t updates;
	uint64_t bg_ups;
	double loss;
	size_t value_size;
	uint64_t seed;
	uint64_t deadline_ms;
	uint64_t warmup_ms;
	int backend;
	bool progress;
	bool plot; /* collect reach times for --plot */
	gv_keyring *keyring; /* non-NULL: every node seals its gossip */
	int value_kind;      /* enum zb_kind */
	size_t threshold;    /* compress_threshold */
	int level;
	bool padded;
	bool pack;
};

struct cv_result {
	struct cv_params p;
	struct conv_summary s;
	unsigned workers;
	char backend[16];
	bool ae;
	netcluster_stats d;   /* counters over the measured window */
	netcluster_stats end; /* at its end (member views) */
	double messages_per_node, messages_per_node_per_update;
	double rmr;
	bool have_rmr;
	double bg_achieved;  /* background writes/s done in the window */
	uint64_t bg_dropped; /* not queued: a worker's ring was full */
	double window_s, wall_s;
	struct plot_reach reach; /* with p.plot; the caller finis it */
	bool have_cmp;        /* --seal both: the clear run's p99 */
	double clear_p99_ms;
	double cpu_s;         /* process CPU over the window */
	struct zb_stats z;
};

/* Background load: rate writes/s in total, at random nodes and keys,
 * queued in small batches as time passes. */
struct pacer {
	netcluster *c;
	uint64_t rate;
	gv_time start;
	uint64_t sent; /* writes due so far (queued or dropped) */
	uint64_t dropped;
	gv_rng rng;
};

static void
pace(struct pacer *pc)
{
	if (!pc->rate)
		return;
	gv_time now = gv_io_now();
	uint64_t due = (now - pc->start) * pc->rate / 1000000;
	size_t n = netcluster_size(pc->c);

	/* after a stall (the driver descheduled), do not burst: what is
	 * more than 100 ms late is skipped and counted */
	if (due - pc->sent > pc->rate / 10 + 1) {
		pc->dropped += due - pc->sent - (pc->rate / 10 + 1);
		pc->sent = due - (pc->rate / 10 + 1);
	}
	for (; pc->sent < due; pc->sent++) {
		size_t at = (size_t)gv_rng_below(&pc->rng, n);
		if (netcluster_put_bg(pc->c, at, gv_rng_next(&pc->rng)))
			pc->dropped++;
	}
	netcluster_flush(pc->c);
}

/* Keep the background going until t. */
static void
pace_until(struct pacer *pc, gv_time t)
{
	gv_time now;

	while ((now = gv_io_now()) < t) {
		pace(pc);
		sleep_us(t - now < CV_POLL_US ? (long)(t - now) : CV_POLL_US);
	}
}

static uint64_t
since(gv_time at, gv_time inj, uint64_t deadline_us)
{
	if (at == GV_TIME_NEVER)
		return GV_TIME_NEVER;
	at = at > inj ? at - inj : 0;
	return at <= deadline_us ? at : GV_TIME_NEVER;
}

/*
 * From track t's apply times (applied[n], scratch, reordered) the times
 * since injection to 50%, 90% and 100% of the nodes (GV_TIME_NEVER: not
 * within the deadline), as the simulator counts them: the k-th apply with
 * k the smallest count that is at least half, nine tenths, all of n.
 */
static void
track_times(netcluster *c, size_t t, gv_time *applied, uint64_t deadline_us,
            uint64_t *conv, uint64_t *t50, uint64_t *t90)
{
	size_t n = netcluster_size(c);
	gv_time inj;

	*conv = *t50 = *t90 = GV_TIME_NEVER;
	if (!netcluster_track(c, t, &inj, applied))
		return;
	qsort(applied, n, sizeof(*applied), cmp_u64);
	*t50 = since(applied[(n + 1) / 2 - 1], inj, deadline_us);
	*t90 = since(applied[(9 * n + 9) / 10 - 1], inj, deadline_us);
	*conv = since(applied[n - 1], inj, deadline_us);
}

static int
cv_run(const struct cv_params *p, struct cv_result *r)
{
	netcluster_config cfg;
	netcluster *c = NULL;
	netcluster_stats s0, s1;
	struct pacer pc;
	char err[256];
	double w0 = now_s(), win0;
	gv_time interval = (gv_time)p->interval_ms * 1000;
	int rc;

	memset(r, 0, sizeof(*r));
	r->p = *p;
	netcluster_config_default(&cfg);
	cfg.nodes = p->nodes;
	cfg.workers = p->workers;
	cfg.seed = p->seed;
	cfg.backend = p->backend;
	cfg.loss = p->loss;
	cfg.tracks = p->updates;
	cfg.value_size = p->value_size;
	cfg.bg_keys = CV_BG_KEYS;
	cfg.node.mode = p->mode;
	cfg.node.fanout = p->fanout;
	cfg.node.interval_ms = p->interval_ms;
	cfg.node.mem = gv_mem_default();
	cfg.node.keyring = p->keyring;
	cfg.value_kind = p->value_kind;
	cfg.node.compress_threshold = p->threshold;
	cfg.node.compress_level = p->level;
	cfg.node.compress_padded = p->padded;
	cfg.node.compress_pack = p->pack;
	/* as in sim: measure dissemination, not repair, unless loss makes
	 * repair part of reaching everyone */
	r->ae = p->loss > 0;
	if (!r->ae)
		cfg.node.ae_interval_ms = 0;

	uint64_t *conv = calloc(p->updates, sizeof(*conv));
	uint64_t *t50 = calloc(p->updates, sizeof(*t50));
	uint64_t *t90 = calloc(p->updates, sizeof(*t90));
	gv_time *applied = calloc(p->nodes, sizeof(*applied));
	if (!conv || !t50 || !t90 || !applied ||
	    (p->plot && plot_reach_init(&r->reach, p->nodes, p->updates))) {
		fprintf(stderr, "gvbench converge: out of memory\n");
		rc = GV_ENOMEM;
		goto out;
	}
	rc = netcluster_new(&c, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gvbench converge: N=%zu: %s\n", p->nodes,
		        err[0] ? err : gv_strerror(rc));
		goto out;
	}
	r->workers = netcluster_workers(c);
	snprintf(r->backend, sizeof(r->backend), "%s", netcluster_backend(c));

	/* the nodes start at t0; nothing goes to them before */
	gv_time t0 = netcluster_t0(c), now = gv_io_now();
	if (now < t0)
		sleep_us((long)(t0 - now));
	memset(&pc, 0, sizeof(pc));
	pc.c = c;
	pc.rate = p->bg_ups;
	pc.start = t0;
	gv_rng_seed(&pc.rng, p->seed ^ UINT64_C(0x62672d6c6f6164)); /* bg */
	gv_rng rng;
	gv_rng_seed(&rng, p->seed ^ UINT64_C(0x6776626e6368)); /* "gvbnch" */

	pace_until(&pc, pc.start + p->warmup_ms * 1000);
	rc = netcluster_snapshot(c, &s0, CV_SNAP_TIMEOUT_US);
	if (rc)
		goto snap_failed;
	win0 = now_s();
	double cpu0 = zb_cpu_seconds();
	uint64_t dropped0 = pc.dropped;
	unsigned missed = 0;

	for (uint64_t u = 0; u < p->updates; u++) {
		size_t at = (size_t)gv_rng_below(&rng, p->nodes);
		gv_time deadline;

		progress(p->progress, "converge", p->nodes, p->mode, u,
		         p->updates);
		while (netcluster_put(c, at, (size_t)u) == GV_EFULL) {
			pace(&pc);
			sleep_us(CV_POLL_US);
		}
		deadline = gv_io_now() + p->deadline_ms * 1000;
		for (;;) {
			pace(&pc);
			if (netcluster_reached(c, (size_t)u) >= p->nodes)
				break;
			rc = netcluster_put_error(c, (size_t)u);
			if (rc) {
				fprintf(stderr,
				        "gvbench converge: put at node %zu: "
				        "%s\n",
				        at, gv_strerror(rc));
				goto out;
			}
			if (gv_io_now() >= deadline)
				break;
			sleep_us(CV_POLL_US);
		}
		track_times(c, (size_t)u, applied, p->deadline_ms * 1000,
		            &conv[u], &t50[u], &t90[u]);
		gv_time inj;
		if (p->plot && netcluster_track(c, (size_t)u, &inj, applied))
			plot_reach_add(&r->reach, applied, inj);
		if (conv[u] == GV_TIME_NEVER && ++missed <= CV_MISSED_SHOWN)
			fprintf(stderr,
			        "%sgvbench converge: update %" PRIu64
			        " (written at node %zu) reached %zu/%zu nodes "
			        "in %" PRIu64 " ms%s\n",
			        p->progress ? "\n" : "", u, at,
			        netcluster_reached(c, (size_t)u), p->nodes,
			        p->deadline_ms,
			        missed == CV_MISSED_SHOWN ? " (further ones "
			                                    "not shown)"
			                                  : "");
		pace_until(&pc, gv_io_now() + 2 * interval);
	}

	rc = netcluster_snapshot(c, &s1, CV_SNAP_TIMEOUT_US);
	if (rc)
		goto snap_failed;
	r->window_s = now_s() - win0;
	r->cpu_s = zb_cpu_seconds() - cpu0;
	r->bg_dropped = pc.dropped - dropped0;
	netcluster_stats_diff(&r->d, &s0, &s1);
	ZB_FROM_NETCLUSTER(&r->z, &r->d);
	r->end = s1;
	if (r->d.put_errors) {
		fprintf(stderr,
		        "gvbench converge: %" PRIu64 " writes refused by "
		        "the nodes\n",
		        r->d.put_errors);
		rc = GV_EINVAL;
		goto out;
	}
	r->messages_per_node = (double)r->d.dgrams_out / (double)p->nodes;
	r->messages_per_node_per_update =
	        r->messages_per_node / (double)p->updates;
	r->have_rmr = p->bg_ups == 0;
	r->rmr = (double)r->d.updates_out /
	                 ((double)p->updates * (double)(p->nodes - 1)) -
	         1.0;
	r->bg_achieved = (double)r->d.bg_puts / r->window_s;
	conv_summarize(&r->s, conv, t50, t90, p->updates, interval);
	rc = 0;
	goto out;
snap_failed:
	fprintf(stderr, "gvbench converge: worker counters: %s\n",
	        gv_strerror(rc));
out:
	progress(p->progress, "converge", p->nodes, p->mode, p->updates,
	         p->updates);
	netcluster_del(c);
	r->wall_s = now_s() - w0;
	free(conv);
	free(t50);
	free(t90);
	free(applied);
	return rc;
}

static void
cv_print(FILE *f, const struct cv_result *r)
{
	const struct cv_params *p = &r->p;
	const netcluster_stats *d = &r->d;

	fprintf(f,
	        "converge: mode=%s nodes=%zu fanout=%u interval=%" PRIu64
	        "ms loss=%g updates=%" PRIu64 " background=%" PRIu64
	        "/s value=%zuB seed=%" PRIu64 " workers=%u io=%s "
	        "anti-entropy=%s sealed=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->fanout, p->interval_ms,
	        p->loss, p->updates, p->bg_ups, p->value_size, p->seed,
	        r->workers, r->backend,
	        r->ae ? "on (loss > 0)" : "off (dissemination alone)",
	        p->keyring ? seal_cipher_name(p->keyring) : "no");
	conv_print(f, &r->s, (p->mode == GV_MODE_EAGER || p->mode == GV_MODE_TREE));
	fprintf(f,
	        "  messages_per_node %.1f (%.2f per update; %" PRIu64
	        " datagrams, %" PRIu64 " update records)\n",
	        r->messages_per_node, r->messages_per_node_per_update,
	        d->dgrams_out, d->updates_out);
	fprintf(f,
	        "  bytes            %.0f sent per update (all nodes); process "
	        "CPU %.1f us per update\n",
	        (double)d->bytes_out / (double)p->updates,
	        r->cpu_s * 1e6 / (double)p->updates);
	zb_print(f, &r->z, p->threshold, p->value_kind, p->updates);
	if (r->have_rmr)
		fprintf(f, "  rmr              %.3f (update records)\n",
		        r->rmr);
	else
		fprintf(f, "  rmr              -  (background load)\n");
	if (p->mode == GV_MODE_TREE)
		fprintf(f,
		        "  tree             %.2f hops per write received, %.2f "
		        "ids announced per update, %" PRIu64 " grafted, %" PRIu64
		        " not asked (budget)\n",
		        d->tree_received ? (double)d->tree_hops /
		                                   (double)d->tree_received
		                         : 0.0,
		        (double)d->tree_ihave_out / (double)p->updates,
		        d->tree_grafts_out, d->tree_graft_drops);
	if (p->bg_ups)
		fprintf(f,
		        "  background       %.0f writes/s done (%" PRIu64
		        " not queued)\n",
		        r->bg_achieved, r->bg_dropped);
	fprintf(f,
	        "  io               kernel drops %" PRIu64
	        ", send errors %" PRIu64 ", loss drops %" PRIu64
	        ", buffer ring dry %" PRIu64 ", send pool dry %" PRIu64 "\n",
	        d->io_kernel_drops, d->io_send_errors, d->io_filtered_out,
	        d->io_buf_exhausted, d->io_pool_exhausted);
	fprintf(f,
	        "  members          %" PRIu64 " suspect / %" PRIu64
	        " dead events; %" PRIu64 " suspect, %" PRIu64
	        " dead in views at the end\n",
	        d->ev_suspect, d->ev_dead, r->end.members_suspect,
	        r->end.members_dead);
	fprintf(f, "  wall             %.2f s  (measured %.2f s)\n", r->wall_s,
	        r->window_s);
}

static void
cv_json(FILE *f, const struct cv_result *r, const struct machine *m)
{
	const struct cv_params *p = &r->p;
	const netcluster_stats *d = &r->d;

	fprintf(f, "{\"bench\":\"converge\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"mode\":");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f, ",\"sealed\":%s,\"cipher\":", p->keyring ? "true" : "false");
	json_str(f, seal_cipher_name(p->keyring));
	if (r->have_cmp) {
		fprintf(f, ",\"clear_p99_ms\":");
		json_num(f, r->clear_p99_ms, true);
	}
	fprintf(f,
	        ",\"nodes\":%zu,\"fanout\":%u,\"interval_ms\":%" PRIu64
	        ",\"loss\":%.6g,\"updates\":%" PRIu64
	        ",\"background_ups\":%" PRIu64 ",\"value_size\":%zu"
	        ",\"seed\":%" PRIu64 ",\"workers\":%u,\"io_backend\":",
	        p->nodes, p->fanout, p->interval_ms, p->loss, p->updates,
	        p->bg_ups, p->value_size, p->seed, r->workers);
	json_str(f, r->backend);
	fprintf(f,
	        ",\"membership\":\"prejoined\",\"anti_entropy\":%s"
	        ",\"deadline_ms\":%" PRIu64,
	        r->ae ? "true" : "false", p->deadline_ms);
	conv_json(f, &r->s, (p->mode == GV_MODE_EAGER || p->mode == GV_MODE_TREE));
	fprintf(f,
	        ",\"datagrams_sent\":%" PRIu64 ",\"update_records\":%" PRIu64
	        ",\"messages_per_node\":",
	        d->dgrams_out, d->updates_out);
	json_num(f, r->messages_per_node, true);
	fprintf(f, ",\"messages_per_node_per_update\":");
	json_num(f, r->messages_per_node_per_update, true);
	fprintf(f, ",\"rmr\":");
	json_num(f, r->rmr, r->have_rmr);
	fprintf(f, ",\"rmr_basis\":\"update_records\"");
	fprintf(f,
	        ",\"tree\":{\"received\":%" PRIu64 ",\"hops\":%" PRIu64
	        ",\"ihave_ids\":%" PRIu64 ",\"grafts\":%" PRIu64
	        ",\"graft_drops\":%" PRIu64 "}",
	        d->tree_received, d->tree_hops, d->tree_ihave_out,
	        d->tree_grafts_out, d->tree_graft_drops);
	fprintf(f, ",\"background_ups_achieved\":");
	json_num(f, r->bg_achieved, true);
	fprintf(f,
	        ",\"io\":{\"kernel_drops\":%" PRIu64 ",\"send_errors\":%" PRIu64
	        ",\"loss_drops\":%" PRIu64 ",\"buf_exhausted\":%" PRIu64
	        ",\"pool_exhausted\":%" PRIu64 "}",
	        d->io_kernel_drops, d->io_send_errors, d->io_filtered_out,
	        d->io_buf_exhausted, d->io_pool_exhausted);
	fprintf(f,
	        ",\"member_events\":{\"suspect\":%" PRIu64 ",\"dead\":%" PRIu64
	        "}",
	        d->ev_suspect, d->ev_dead);
	fprintf(f, ",\"bytes_out\":%" PRIu64 ",\"cpu_s\":", d->bytes_out);
	json_num(f, r->cpu_s, true);
	zb_json(f, &r->z, p->threshold, p->value_kind, p->updates);
	fprintf(f, ",\"wall_s\":");
	json_num(f, r->wall_s, true);
	fprintf(f, ",\"measured_s\":");
	json_num(f, r->window_s, true);
	json_end(f, m);
}

static int
cv_plot(const char *png, const struct cv_result *r)
{
	char title[160];

	snprintf(title, sizeof(title),
	         "gvbench converge: %zu nodes, %s, %" PRIu64 " updates",
	         r->p.nodes, gv_mode_name(r->p.mode), r->reach.count);
	return plot_reach_png("converge", png, title, &r->reach);
}

static int
cmd_converge(int argc, char **argv)
{
	uint64_t nodes = 0, workers = 0, fanout = 3, interval = 100;
	uint64_t updates = 200, bg = 0, vsize = 32, seed = 1;
	uint64_t deadline = 10000, warmup = 1000;
	double loss = 0;
	int mode = GV_MODE_EAGER;
	const char *json = NULL, *plot = NULL;
	const char *seal = "off", *cipher = "auto";
	const char *values = "random", *zthr = NULL;
	const char *zlevel_s = NULL;
	bool zpadded = false, zpack = false;
	int backend = GV_IO_AUTO;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 2,
	         .umax = 4096},
	        {.name = "--values", .kind = OPT_STR, .dst = &values},
	        {.name = "--compress-threshold", .kind = OPT_STR, .dst = &zthr},
	        {.name = "--compress-level",
	         .kind = OPT_STR,
	         .dst = &zlevel_s},
	        {.name = "--compress-padded", .kind = OPT_FLAG, .dst = &zpadded},
	        {.name = "--compress-pack", .kind = OPT_FLAG, .dst = &zpack},
	        {.name = "--seal", .kind = OPT_STR, .dst = &seal},
	        {.name = "--cipher", .kind = OPT_STR, .dst = &cipher},
	        {.name = "--workers",
	         .kind = OPT_U64,
	         .dst = &workers,
	         .umin = 1,
	         .umax = 1024},
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
	        {.name = "--updates",
	         .kind = OPT_U64,
	         .dst = &updates,
	         .umin = 1,
	         .umax = 1000000},
	        {.name = "--background-ups",
	         .kind = OPT_U64,
	         .dst = &bg,
	         .umax = 10000000},
	        {.name = "--loss",
	         .kind = OPT_F64,
	         .dst = &loss,
	         .fmax = 1,
	         .fmax_open = true},
	        {.name = "--value-size",
	         .kind = OPT_U64,
	         .dst = &vsize,
	         .umin = 1,
	         .umax = 60000},
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--deadline-ms",
	         .kind = OPT_U64,
	         .dst = &deadline,
	         .umin = 1,
	         .umax = 3600000},
	        {.name = "--warmup-ms",
	         .kind = OPT_U64,
	         .dst = &warmup,
	         .umax = 3600000},
	        {.name = "--io", .kind = OPT_IO, .dst = &backend},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	        {.name = "--plot", .kind = OPT_STR, .dst = &plot},
	};
	enum { O_NODES };
	int rc = parse_opts("converge", CONVERGE_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!opts[O_NODES].seen) {
		fprintf(stderr, "gvbench converge: --nodes N is required (see "
		                "gvbench converge --help)\n");
		return EXIT_USAGE;
	}

	int kind, zlevel, nthr;
	size_t thr[ZB_MAX_THRESHOLDS];
	if (zb_opts("converge", values, zlevel_s, zthr, seal, &kind, &zlevel,
	            thr, &nthr))
		return EXIT_USAGE;

	struct machine m;
	machine_get(&m);
	FILE *jf = NULL;
	if (json && json_open("converge", json, &jf))
		return 1;
	struct cv_params p = {
	        .value_kind = kind,
	        .threshold = thr[0],
	        .level = zlevel,
	        .padded = zpadded,
	        .pack = zpack,
	        .nodes = nodes,
	        .workers = (unsigned)workers,
	        .fanout = (unsigned)fanout,
	        .mode = mode,
	        .interval_ms = interval,
	        .updates = updates,
	        .bg_ups = bg,
	        .loss = loss,
	        .value_size = vsize,
	        .seed = seed,
	        .deadline_ms = deadline,
	        .warmup_ms = warmup,
	        .backend = backend,
	        .progress = isatty(STDERR_FILENO),
	        .plot = plot != NULL,
	};
	int nruns;
	bool sealed_first;
	gv_keyring *ring;
	rc = seal_setup("converge", seal, cipher, seed, &nruns, &sealed_first,
	                &ring);
	if (rc) {
		if (jf)
			fclose(jf);
		return rc;
	}
	struct cv_result r;
	double clear_p99 = 0;
	struct zb_row rows[ZB_MAX_THRESHOLDS];
	if (nthr > 1)
		nruns = nthr;
	for (int run = 0; run < nruns && rc == 0; run++) {
		if (nthr > 1) {
			p.threshold = thr[run];
			p.keyring = sealed_first ? ring : NULL;
		} else {
			p.keyring = (run == 1 || sealed_first) ? ring : NULL;
		}
		if (cv_run(&p, &r)) {
			rc = 1;
		} else {
			if (run == 1 && nthr == 1) {
				r.have_cmp = true;
				r.clear_p99_ms = clear_p99;
			}
			clear_p99 = r.s.conv_p99;
			zb_row_fill(&rows[run % ZB_MAX_THRESHOLDS], p.threshold,
			            &r.z, r.d.bytes_out, p.updates, r.cpu_s);
			rows[run % ZB_MAX_THRESHOLDS].p50_ms = r.s.conv_p50;
			rows[run % ZB_MAX_THRESHOLDS].p99_ms = r.s.conv_p99;
			rows[run % ZB_MAX_THRESHOLDS].extra =
			        (double)r.d.dgrams_out / (double)p.updates;
			if (nthr > 1 && run == nthr - 1)
				zb_table(stdout, "dgrams/wr", rows,
				         (size_t)nthr);
			cv_print(stdout, &r);
			if (jf)
				cv_json(jf, &r, &m);
			if (json_flush("converge", json, jf))
				rc = 1;
			/* a plot that fails leaves the results standing */
			if (plot && run == nruns - 1 && cv_plot(plot, &r) == 0)
				printf("plot: %s\n", plot);
			if (r.have_cmp)
				printf("sealed vs clear  p99 %.1f vs %.1f ms\n",
				       r.s.conv_p99, r.clear_p99_ms);
		}
		plot_reach_fini(&r.reach);
	}
	seal_free(ring);
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench converge: %s: %s\n", json,
		        strerror(errno));
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
        {"converge", cmd_converge,
         "convergence of N nodes on real UDP sockets"},
        {"ceiling", gvbench_ceiling,
         "loopback UDP ceiling of this machine through gv_io"},
        {"partition", cmd_partition,
         "partition with conflicting writes, detection and heal"},
        {"churn", cmd_churn,
         "crashed nodes: failure detection, restart and catch-up"},
        {"join", cmd_join,
         "cluster formation: N nodes joining through K seeds at once"},
        {"throughput", cmd_throughput,
         "sustained writes/s converging on real UDP sockets (--max)"},
        {"cache", cmd_cache,
         "grapevined processes against Redis replication over RESP"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: gvbench <subcommand> [options]\n"
	           "       gvbench <subcommand> --help\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		fprintf(f, "  %-12s %s\n", subcmds[i].name, subcmds[i].summary);
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
