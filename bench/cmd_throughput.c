/* SPDX-License-Identifier: MIT */
/*
 * cmd_throughput.c - `gvbench throughput`: how many writes per second N
 * nodes on real loopback sockets (bench/netcluster.h) carry to every node,
 * and how fast. The driver offers writes at a steady rate spread over the
 * writer nodes for --seconds, then lets the cluster drain; every write is
 * followed at every node (netcluster_tp_put: no sampling), so the figures
 * are over all of them. --max searches for the highest rate at which
 * TP_TARGET of the writes converge within TP_WINDOW_US, by doubling and
 * then bisection over short steps, one fresh cluster per step.
 *
 * The loopback UDP ceiling (ceiling.h) is measured first, in the same run,
 * so that efficiency reads as the fraction of what the machine can move at
 * all: converged update deliveries per second over the datagrams per
 * second the machine carries times the update records one datagram holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "bench_util.h"
#include "ceiling.h"
#include "cmds.h"
#include "core/compress.h"
#include "core/node.h"
#include "core/rng.h"
#include "core/wire.h"
#include "io/io.h"
#include "netcluster.h"
#include "zbench.h"
#include "plot.h"

#define TP_USAGE                                                               \
	"usage: gvbench throughput --nodes N (--rate R | --max) [options]\n"   \
	"\n"                                                                   \
	"Sustained writes on real UDP sockets: N single-shard nodes on\n"      \
	"127.0.0.1 (as in `gvbench converge`), prejoined, anti-entropy at "    \
	"the\n"                                                                \
	"node default. After a warm-up the driver offers R writes/s for\n"     \
	"--seconds, spread over the writer nodes, keys drawn uniformly from\n" \
	"the key space, then drains. Every write is followed at every node;\n" \
	"it has converged when all N hold it or a newer write of its key\n"    \
	"(each key has a single writer node, so newer is well defined). The\n" \
	"loopback UDP ceiling is measured first, in the same run.\n"           \
	"\n"                                                                   \
	"  --nodes N            cluster size (2 .. 4096)\n"                    \
	"  --rate R             offer R writes/s\n"                            \
	"  --max                search for the highest rate at which 99.9% "   \
	"of\n"                                                                 \
	"                       the writes converge within 1 s: steps of\n"    \
	"                       --seconds on a fresh cluster, the rate "       \
	"doubled\n"                                                            \
	"                       from --start-rate until a step fails "         \
	"(halved\n"                                                            \
	"                       while the first ones fail), then bisected\n"   \
	"                       until the bounds are within 5%, or until "     \
	"the\n"                                                                \
	"                       next step would end past --budget-s (the\n"    \
	"                       ceiling included)\n"                           \
	"  --seconds S          load per run or step (default 5 with "         \
	"--rate,\n"                                                            \
	"                       1 with --max)\n"                               \
	"  --value-size B       value bytes, 8 .. 1024 (default 32; the "      \
	"first\n"                                                              \
	"                       8 carry the write's number)\n"                 \
	"  --values K           random, json or html: what values are made\n" \
	"                       of (default random: incompressible)\n"        \
	"  --compress-threshold T[,T...]\n"                                    \
	"                       off or bytes: the nodes' threshold; a list\n" \
	"                       runs once per entry (the ceiling once) and\n" \
	"                       ends with a table against the first\n"       \
	"                       (default: the node's)\n"                      \
	"  --compress-level L   zstd level, -7 .. 19 (default -1)\n"          \
	"  --compress-padded    also compress datagrams padded for GSO\n"     \
	"  --compress-pack      pack flooding datagrams to what compresses\n" \
	"                       into one, sent padded (GSO chains kept)\n"   \
	"  --key-space K        keys tp:0 .. tp:K-1 (default 10000)\n"         \
	"  --ttl-ms MS          every write expires MS after it is made, as\n" \
	"                       SET ... PX MS (default 0: never): the cost\n"  \
	"                       of expiry\n"                                   \
	"  --counters           every write is an INCRBY of its key's\n"       \
	"                       counter (a CRDT): the cost of counters\n"      \
	"  --writers W          writer nodes 0 .. W-1; key k is written by\n"  \
	"                       node k mod W (default: all nodes)\n"           \
	"  --mode M             eager, tree, push, pull or pushpull (default "       \
	"eager)\n"                                                             \
	"  --fanout F           peers per round (default 3)\n"                 \
	"  --interval-ms MS     gossip round (default 100)\n"                  \
	"  --anti-entropy-ms MS anti-entropy period (default: the node's,\n"   \
	"                       1000); 0: off, dissemination alone (as\n"      \
	"                       `gvbench converge` measures it)\n"             \
	"  --workers W          io threads (default: online cores)\n"          \
	"  --seed S             node ids and keys (default 1)\n"               \
	"  --warmup-ms MS       run before the load (default 300)\n"           \
	"  --drain-ms MS        after the load, wait at most this for the\n"   \
	"                       writes still on their way (default 2000 "      \
	"with\n"                                                               \
	"                       --rate, 1000 with --max: the window)\n"        \
	"  --ceiling-seconds S  ceiling window (default 1; 0: skip it, no\n"   \
	"                       efficiency)\n"                                 \
	"  --start-rate R       --max: the first step (default 1000)\n"        \
	"  --budget-s S         --max: time for the whole run (default 30,\n"  \
	"                       or 12 steps' worth of longer --seconds); a\n"  \
	"                       search it cuts short before a step failed\n"  \
	"                       reports a lower bound, not a maximum\n"      \
	"  --io B               auto, uring or mmsg (default auto)\n"          \
	"  --seal S             off, on or both: seal gossip with a random\n"  \
	"                       cluster key; both runs clear then sealed "     \
	"and\n"                                                                \
	"                       reports sealed_vs_clear (default off)\n"       \
	"  --cipher C           with --seal: auto, aes256gcm or\n"             \
	"                       xchacha20poly1305 (default auto)\n"            \
	"  --json FILE          append one JSON object per run (one line)\n"   \
	"  --plot FILE.png      draw with gnuplot: the CDF of convergence "    \
	"times\n"                                                              \
	"                       (--rate), or converged writes/s and p99 "      \
	"against\n"                                                            \
	"                       the offered rate (--max); if gnuplot "         \
	"(package\n"                                                           \
	"                       gnuplot-nox) is missing or fails, the error "  \
	"is\n"                                                                 \
	"                       printed and the results stand (exit status "   \
	"0)\n"                                                                 \
	"\n"                                                                   \
	"Convergence time: from the driver queueing the write to its node "    \
	"to\n"                                                                 \
	"the last node holding it. converged_ups: writes converged within 1 "  \
	"s,\n"                                                                 \
	"per second of load. frac_converged: those / the writes due at the\n"  \
	"rate (a write not queued because its node's ring was full counts "    \
	"as\n"                                                                 \
	"not converged). lost: queued writes not converged at the end of "     \
	"the\n"                                                                \
	"drain. efficiency = converged_ups * (N - 1) / (ceiling_dps * "        \
	"update\n"                                                             \
	"records per max_datagram). Percentiles are nearest-rank over the\n"   \
	"writes that converged. A progress bar goes to stderr when it is a\n"  \
	"terminal.\n"

#define TP_WINDOW_US ((uint64_t)1000000) /* "converged within 1 s" */
#define TP_TARGET 0.999                  /* of the writes due, to pass */
#define TP_RESOLUTION 0.05 /* --max stops when hi <= lo * (1 + this) */
#define TP_POLL_US 200     /* driver's pacing period */
#define TP_DRAIN_POLL_US 1000
#define TP_SNAP_TIMEOUT_US ((uint64_t)10000000)
#define TP_MAX_STEPS 64     /* the search ends long before, by budget */
#define TP_PLOT_POINTS 2000 /* a CDF is drawn from at most this many */

struct tp_params {
	size_t nodes;
	unsigned workers; /* 0: online cores */
	unsigned fanout;
	int mode;
	uint64_t interval_ms;
	size_t value_size;
	size_t key_space;
	uint64_t ttl_ms;
	bool counters;
	size_t writers;
	uint64_t seed;
	int backend;
	double seconds;
	uint64_t warmup_ms, drain_ms;
	uint64_t ae_ms; /* anti-entropy period; 0: off */
	bool progress;
	gv_keyring *keyring; /* non-NULL: every node seals its gossip */
	int value_kind;      /* enum zb_kind */
	size_t threshold;    /* compress_threshold */
	int level;
	bool padded;
	bool pack;
};

/* One run at one rate (a --rate run, or a step of --max). */
struct tp_step {
	uint64_t target_ups;
	double load_s;        /* the load window */
	double measured_s;    /* load and drain: counters, datagrams/s, cpu */
	double setup_s;       /* cluster creation, warm-up and teardown */
	uint64_t due;         /* writes due at the rate in the window */
	uint64_t offered;     /* queued to their node */
	uint64_t not_offered; /* due but not queued: the node's ring was
	                       * full (its worker is behind) */
	double driver_lag_ms; /* the most the driver queued a write after it
	                       * was due (descheduled on a busy machine) */
	uint64_t refused;     /* the node refused the put */
	uint64_t conv_window; /* converged within TP_WINDOW_US */
	uint64_t conv_total;  /* converged by the end of the drain */
	uint64_t lost;        /* offered - conv_total */
	double offered_ups, converged_ups, frac;
	bool passed;
	bool have_conv, have_queue;
	double conv_p50, conv_p95, conv_p99, conv_max; /* ms */
	double queue_p50, queue_p99;                   /* ms */
	netcluster_stats d; /* counters over measured_s */
	double datagrams_per_s, bytes_per_update, cpu_s;
	unsigned workers;
	char backend[16];
	uint64_t *conv_us; /* sorted convergence times, conv_total of them
	                    * (kept for --plot, else NULL) */
};

struct tp_result {
	struct tp_params p;
	bool max;
	bool have_ceiling;
	struct ceiling_result ceil;
	size_t upd_per_dgram;
	struct tp_step steps[TP_MAX_STEPS];
	size_t nsteps;
	size_t best;      /* the step reported at the top level */
	bool any_passed;  /* --max: some step passed (best is the highest) */
	bool found;       /* --max: a failing step above the best bounds it:
	                   * the maximum is within the search's bracket;
	                   * else best is only a lower bound */
	uint64_t above;   /* --max: the lowest failing rate above best (0:
	                   * none) */
	const char *stop; /* --max: why the search ended */
	bool have_eff;    /* the ceiling was measured */
	double efficiency;
	double wall_s;
	bool have_cmp;    /* --seal both: the clear run's figure */
	double clear_ups; /* its converged writes/s */
};

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Writes a run at rate queues at most: the ones due in the window. */
static uint64_t
capacity(const struct tp_params *p, uint64_t rate)
{
	return (uint64_t)((double)rate * p->seconds) + 1;
}

/*
 * Bytes of tracking a run at rate needs: netcluster's 40-byte slot and
 * N bits per write, the driver's two arrays of times, and 4 bytes per
 * key. Refused when above half the machine's memory.
 */
static bool
tracking_fits(const struct tp_params *p, uint64_t rate, double *need_mb)
{
	double per = 40.0 + 16.0 + (double)(p->nodes + 7) / 8.0;
	double need =
	        (double)capacity(p, rate) * per + 4.0 * (double)p->key_space;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	*need_mb = need / 1e6;
	return pages <= 0 || psz <= 0 || need <= (double)pages * psz / 2;
}

static void
step_label(char *buf, size_t len, size_t idx, bool max, uint64_t rate,
           const char *phase)
{
	if (max)
		snprintf(buf, len, "step %zu: %" PRIu64 " writes/s, %s",
		         idx + 1, rate, phase);
	else
		snprintf(buf, len, "%" PRIu64 " writes/s, %s", rate, phase);
}

/* The percentiles of a sorted array of µs, in ms. */
static double
pct_ms(const uint64_t *v, size_t n, unsigned p)
{
	return (double)pct(v, n, p) / 1000.0;
}

/*
 * Offer writes at rate for p->seconds, from start. Returns 0, or a
 * netcluster error other than a full ring (printed).
 */
static int
offer(netcluster *c, const struct tp_params *p, struct tp_step *st, gv_rng *rng,
      gv_time start, size_t idx, bool max)
{
	uint64_t rate = st->target_ups;
	gv_time end = start + (gv_time)(p->seconds * 1e6);
	uint64_t issued = 0;
	char label[64];

	step_label(label, sizeof(label), idx, max, rate, "load");
	for (;;) {
		gv_time now = gv_io_now();
		bool last = now >= end;

		if (last)
			now = end;
		uint64_t due =
		        (uint64_t)((double)(now - start) * (double)rate / 1e6);
		/*
		 * After a stall (the driver descheduled) the writes due are
		 * queued at once: the cluster sees the burst the clients
		 * would have made. Their convergence counts from now (the
		 * nodes had no part in the delay), which is reported.
		 */
		if (due > issued + 1) {
			double lag = (double)(now - start) / 1e3 -
			             (double)issued * 1e3 / (double)rate;
			if (lag > st->driver_lag_ms)
				st->driver_lag_ms = lag;
		}
		for (; issued < due; issued++) {
			uint64_t seq;
			int rc = netcluster_tp_put(
			        c, gv_rng_below(rng, p->key_space), now, &seq);
			if (rc == GV_EFULL) {
				st->not_offered++;
			} else if (rc) {
				progress_clear(p->progress);
				fprintf(stderr,
				        "gvbench throughput: queueing a write: "
				        "%s\n",
				        gv_strerror(rc));
				return rc;
			}
		}
		netcluster_flush(c);
		if (last)
			break;
		progress_bar(p->progress, "throughput", label,
		             (double)(now - start) / (double)(end - start));
		sleep_us(end - now < TP_POLL_US ? (long)(end - now)
		                                : TP_POLL_US);
	}
	st->due = issued;
	st->offered = netcluster_tp_count(c);
	st->load_s = (double)(end - start) / 1e6;
	return 0;
}

/* Wait until every offered write converged (or was refused), or the
 * drain ended. */
static void
drain(netcluster *c, const struct tp_params *p, const struct tp_step *st,
      gv_time load_end, size_t idx, bool max)
{
	gv_time end = load_end + p->drain_ms * 1000;
	uint64_t n = netcluster_tp_count(c), cursor = 0;
	netcluster_tp_info in;
	char label[64];

	step_label(label, sizeof(label), idx, max, st->target_ups, "drain");
	for (;;) {
		while (cursor < n && netcluster_tp_get(c, cursor, &in) == 0 &&
		       (in.done || in.error))
			cursor++;
		gv_time now = gv_io_now();
		if (cursor == n || now >= end)
			return;
		progress_bar(p->progress, "throughput", label,
		             (double)(now - load_end) /
		                     (double)(end - load_end));
		sleep_us(TP_DRAIN_POLL_US);
	}
}

/* The figures of a step from every write's times. Returns 0, GV_ENOMEM. */
static int
tally(netcluster *c, struct tp_step *st, bool keep)
{
	uint64_t n = st->offered;
	uint64_t *conv = calloc(n ? n : 1, sizeof(*conv));
	uint64_t *queue = calloc(n ? n : 1, sizeof(*queue));
	size_t nq = 0;
	netcluster_tp_info in;

	if (!conv || !queue) {
		free(conv);
		free(queue);
		return GV_ENOMEM;
	}
	for (uint64_t s = 0; s < n; s++) {
		if (netcluster_tp_get(c, s, &in))
			continue;
		if (in.error) {
			st->refused++;
			continue;
		}
		if (in.injected)
			queue[nq++] = in.injected > in.offered
			                      ? in.injected - in.offered
			                      : 0;
		if (!in.done)
			continue;
		uint64_t t = in.done > in.offered ? in.done - in.offered : 0;
		conv[st->conv_total++] = t;
		if (t <= TP_WINDOW_US)
			st->conv_window++;
	}
	st->lost = n - st->conv_total;
	st->offered_ups = (double)st->offered / st->load_s;
	st->converged_ups = (double)st->conv_window / st->load_s;
	st->frac = st->due ? (double)st->conv_window / (double)st->due : 0;
	st->passed = st->due && st->frac >= TP_TARGET;
	st->have_conv = st->conv_total > 0;
	if (st->have_conv) {
		size_t k = st->conv_total;

		qsort(conv, k, sizeof(*conv), cmp_u64);
		st->conv_p50 = pct_ms(conv, k, 50);
		st->conv_p95 = pct_ms(conv, k, 95);
		st->conv_p99 = pct_ms(conv, k, 99);
		st->conv_max = (double)conv[k - 1] / 1000.0;
	}
	st->have_queue = nq > 0;
	if (nq) {
		qsort(queue, nq, sizeof(*queue), cmp_u64);
		st->queue_p50 = pct_ms(queue, nq, 50);
		st->queue_p99 = pct_ms(queue, nq, 99);
	}
	free(queue);
	if (keep)
		st->conv_us = conv;
	else
		free(conv);
	return 0;
}

/*
 * One run at st->target_ups: a fresh cluster, a warm-up, the load, the
 * drain. keep: keep the convergence times for --plot. Returns 0, or the
 * error (printed).
 */
static int
step_run(const struct tp_params *p, struct tp_step *st, size_t idx, bool max,
         bool keep)
{
	netcluster_config cfg;
	netcluster *c = NULL;
	netcluster_stats s0, s1;
	char err[256];
	double w0 = now_s(), cpu0, setup = 0;
	int rc;

	netcluster_config_default(&cfg);
	cfg.nodes = p->nodes;
	cfg.workers = p->workers;
	cfg.seed = p->seed;
	cfg.backend = p->backend;
	cfg.value_size = p->value_size;
	cfg.tp_updates = (size_t)capacity(p, st->target_ups);
	cfg.tp_keys = p->key_space;
	cfg.tp_ttl_ms = p->ttl_ms;
	cfg.tp_counters = p->counters;
	cfg.tp_writers = p->writers;
	cfg.node.mode = p->mode;
	cfg.node.fanout = p->fanout;
	cfg.node.interval_ms = p->interval_ms;
	cfg.node.mem = gv_mem_default();
	cfg.node.ae_interval_ms = p->ae_ms;
	cfg.node.keyring = p->keyring;
	cfg.value_kind = p->value_kind;
	cfg.node.compress_threshold = p->threshold;
	cfg.node.compress_level = p->level;
	cfg.node.compress_padded = p->padded;
	cfg.node.compress_pack = p->pack;

	rc = netcluster_new(&c, &cfg, err, sizeof(err));
	if (rc) {
		progress_clear(p->progress);
		fprintf(stderr, "gvbench throughput: N=%zu: %s\n", p->nodes,
		        err[0] ? err : gv_strerror(rc));
		return rc;
	}
	st->workers = netcluster_workers(c);
	snprintf(st->backend, sizeof(st->backend), "%s", netcluster_backend(c));

	/* the nodes start at t0; nothing goes to them before */
	gv_time now = gv_io_now(), t0 = netcluster_t0(c);
	if (now < t0)
		sleep_us((long)(t0 - now));
	sleep_us((long)(p->warmup_ms * 1000));

	gv_rng rng;
	gv_rng_seed(&rng, p->seed ^ UINT64_C(0x74687270757420)); /* thrput */
	rc = netcluster_snapshot(c, &s0, TP_SNAP_TIMEOUT_US);
	if (rc)
		goto snap_failed;
	cpu0 = cpu_seconds();
	gv_time start = gv_io_now();
	setup = now_s() - w0;

	rc = offer(c, p, st, &rng, start, idx, max);
	if (rc)
		goto out;
	drain(c, p, st, start + (gv_time)(st->load_s * 1e6), idx, max);
	rc = netcluster_snapshot(c, &s1, TP_SNAP_TIMEOUT_US);
	if (rc)
		goto snap_failed;
	st->cpu_s = cpu_seconds() - cpu0;
	st->measured_s = (double)(gv_io_now() - start) / 1e6;
	netcluster_stats_diff(&st->d, &s0, &s1);
	rc = tally(c, st, keep);
	if (rc) {
		progress_clear(p->progress);
		fprintf(stderr, "gvbench throughput: out of memory\n");
		goto out;
	}
	st->datagrams_per_s = (double)st->d.dgrams_out / st->measured_s;
	st->bytes_per_update =
	        st->offered ? (double)st->d.bytes_out / (double)st->offered : 0;
	goto out;
snap_failed:
	progress_clear(p->progress);
	fprintf(stderr, "gvbench throughput: worker counters: %s\n",
	        gv_strerror(rc));
out:
	w0 = now_s();
	netcluster_del(c);
	st->setup_s = setup + (now_s() - w0);
	return rc;
}

/* ------------------------------------------------------------ search */

/* Seconds a step takes at most (a failing one drains in full); setup_s:
 * what the last one spent around its load and drain (set-up, warm-up,
 * teardown). */
static double
step_cost(const struct tp_params *p, double setup_s)
{
	return setup_s + p->seconds + (double)p->drain_ms / 1000.0;
}

static void
step_row_header(FILE *f)
{
	fprintf(f, "%5s %10s %10s %10s %9s %9s %8s %6s\n", "step", "target/s",
	        "offered/s", "conv/s", "conv%", "p99_ms", "lost", "pass");
}

static void
step_row(FILE *f, size_t idx, const struct tp_step *st)
{
	fprintf(f, "%5zu %10" PRIu64 " %10.0f %10.0f %9.3f ", idx + 1,
	        st->target_ups, st->offered_ups, st->converged_ups,
	        100.0 * st->frac);
	if (st->have_conv)
		fprintf(f, "%9.1f", st->conv_p99);
	else
		fprintf(f, "%9s", "-");
	fprintf(f, " %8" PRIu64 " %6s\n", st->lost, st->passed ? "yes" : "no");
	fflush(f);
}

/*
 * --max: doubling from start until a step fails (halving while the first
 * ones fail), then bisection between the highest passing and the lowest
 * failing rate. Steps are printed as they finish. Returns 0 or the error
 * of a step.
 */
static int
search(const struct tp_params *p, struct tp_result *r, uint64_t start,
       double budget_s, double t_begin)
{
	uint64_t lo = 0, hi = 0, rate = start;
	/* a guess until a step measured it */
	double setup_s = 0.2 + (double)p->warmup_ms / 1000.0;
	double need_mb;

	step_row_header(stdout);
	r->stop = "budget";
	while (r->nsteps < TP_MAX_STEPS) {
		double elapsed = now_s() - t_begin;
		if (r->nsteps && elapsed + step_cost(p, setup_s) > budget_s)
			break;
		if (!tracking_fits(p, rate, &need_mb)) {
			r->stop = "memory";
			if (!r->nsteps) {
				fprintf(stderr,
				        "gvbench throughput: %" PRIu64
				        " writes/s for %g s need %.0f MB of "
				        "tracking, more than half the memory\n",
				        rate, p->seconds, need_mb);
				return GV_ENOMEM;
			}
			break;
		}
		struct tp_step *st = &r->steps[r->nsteps];
		memset(st, 0, sizeof(*st));
		st->target_ups = rate;
		int rc = step_run(p, st, r->nsteps, true, false);
		if (rc)
			return rc;
		progress_clear(p->progress);
		step_row(stdout, r->nsteps, st);
		setup_s = st->setup_s;
		r->nsteps++;
		if (st->passed)
			lo = rate > lo ? rate : lo;
		else
			hi = !hi || rate < hi ? rate : hi;
		if (!hi) {
			rate *= 2;
		} else if (!lo) {
			rate /= 2;
			if ((double)rate * p->seconds < 1) {
				r->stop = "floor";
				break;
			}
		} else {
			if (hi - lo <= 1 ||
			    (double)hi <= (double)lo * (1 + TP_RESOLUTION)) {
				r->stop = "resolution";
				break;
			}
			rate = lo + (hi - lo) / 2;
		}
	}
	if (r->nsteps == TP_MAX_STEPS)
		r->stop = "steps";
	/* the top level reports the highest passing step, else the lowest
	 * rate tried */
	r->best = 0;
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct tp_step *a = &r->steps[i], *b = &r->steps[r->best];
		if (a->passed &&
		    (!r->any_passed || a->target_ups > b->target_ups))
			r->best = i;
		else if (!r->any_passed && !a->passed &&
		         a->target_ups < b->target_ups)
			r->best = i;
		r->any_passed |= a->passed;
	}
	r->found = false;
	r->above = 0;
	if (r->any_passed)
		for (size_t i = 0; i < r->nsteps; i++) {
			const struct tp_step *a = &r->steps[i];
			if (!a->passed &&
			    a->target_ups > r->steps[r->best].target_ups &&
			    (!r->above || a->target_ups < r->above))
				r->above = a->target_ups;
		}
	r->found = r->above != 0;
	return 0;
}

/* ------------------------------------------------------------ output */

static void
tp_print(FILE *f, const struct tp_result *r)
{
	const struct tp_params *p = &r->p;
	const struct tp_step *st = &r->steps[r->best];
	const netcluster_stats *d = &st->d;

	fprintf(f,
	        "throughput: mode=%s nodes=%zu fanout=%u interval=%" PRIu64
	        "ms value=%zuB keys=%zu ttl=%" PRIu64 "ms counters=%s"
	        " writers=%zu seed=%" PRIu64
	        " workers=%u io=%s anti-entropy=%s sealed=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->fanout, p->interval_ms,
	        p->value_size, p->key_space, p->ttl_ms,
	        p->counters ? "yes" : "no", p->writers, p->seed, st->workers,
	        st->backend, p->ae_ms ? "on" : "off",
	        p->keyring ? seal_cipher_name(p->keyring) : "no");
	if (r->max && r->any_passed && !r->found)
		fprintf(f,
		        "  search           %zu steps of %g s, stopped by "
		        "%s BEFORE ANY STEP FAILED: the maximum was not found, "
		        "it is at least the highest passing step (more "
		        "--budget-s, or a higher --start-rate):\n",
		        r->nsteps, p->seconds, r->stop);
	else if (r->max)
		fprintf(f,
		        "  search           %zu steps of %g s, stopped by "
		        "%s; %s\n",
		        r->nsteps, p->seconds, r->stop,
		        r->any_passed
		                ? "the highest passing step:"
		                : "NO STEP PASSED; the lowest rate tried:");
	fprintf(f,
	        "  offered          %.0f writes/s (target %" PRIu64 ", %" PRIu64
	        " not offered: ring full; driver late by up "
	        "to %.1f ms)\n",
	        st->offered_ups, st->target_ups, st->not_offered,
	        st->driver_lag_ms);
	fprintf(f,
	        "  converged        %.0f writes/s within %" PRIu64
	        " ms (%.3f%% of the writes due; target %.1f%%)\n",
	        st->converged_ups, TP_WINDOW_US / 1000, 100.0 * st->frac,
	        100.0 * TP_TARGET);
	if (st->have_conv)
		fprintf(f,
		        "  convergence_ms   p50 %9.1f  p95 %9.1f  p99 %9.1f  "
		        "max %9.1f\n",
		        st->conv_p50, st->conv_p95, st->conv_p99, st->conv_max);
	else
		fprintf(f, "  convergence_ms   -  (no write converged)\n");
	fprintf(f, "  queue_ms         p50 %9.1f  p99 %9.1f  (driver to put)\n",
	        st->queue_p50, st->queue_p99);
	fprintf(f,
	        "  lost             %" PRIu64 " (not converged %" PRIu64
	        " ms after the load; %" PRIu64 " refused by the nodes)\n",
	        st->lost, p->drain_ms, st->refused);
	fprintf(f,
	        "  overtaken        %" PRIu64 " (write, node) pairs reached "
	        "through a newer write of the key\n",
	        d->tp_overtaken);
	fprintf(f,
	        "  datagrams        %.0f/s; %.1f bytes sent per write; %zu "
	        "update records fit a datagram\n",
	        st->datagrams_per_s, st->bytes_per_update, r->upd_per_dgram);
	if (r->have_ceiling)
		fprintf(f, "  ceiling          %.0f datagrams/s (%s, %zu B)\n",
		        r->ceil.ceiling_dps, r->ceil.backend,
		        r->ceil.opts.payload);
	else
		fprintf(f, "  ceiling          -  (--ceiling-seconds 0)\n");
	if (r->have_eff)
		fprintf(f,
		        "  efficiency       %.4f (converged deliveries / "
		        "(ceiling x records per datagram))\n",
		        r->efficiency);
	fprintf(f,
	        "  cpu              %.2f s user+sys over %.2f s (%.2f cores "
	        "busy; %.2f us per write)\n",
	        st->cpu_s, st->measured_s, st->cpu_s / st->measured_s,
	        st->offered ? st->cpu_s * 1e6 / (double)st->offered : 0);
	struct zb_stats z;
	ZB_FROM_NETCLUSTER(&z, d);
	zb_print(f, &z, p->threshold, p->value_kind, st->offered);
	fprintf(f,
	        "  io               kernel drops %" PRIu64
	        ", send errors %" PRIu64 ", buffer ring dry %" PRIu64
	        ", send pool dry %" PRIu64 ", outbox drops %" PRIu64 "\n",
	        d->io_kernel_drops, d->io_send_errors, d->io_buf_exhausted,
	        d->io_pool_exhausted, d->outbox_drops);
	fprintf(f,
	        "  members          %" PRIu64 " suspect / %" PRIu64
	        " dead events\n",
	        d->ev_suspect, d->ev_dead);
	fprintf(f, "  wall             %.2f s\n", r->wall_s);
}

static void
step_json(FILE *f, const struct tp_step *st)
{
	fprintf(f,
	        "{\"target_ups\":%" PRIu64 ",\"offered_ups\":", st->target_ups);
	json_num(f, st->offered_ups, true);
	fprintf(f, ",\"converged_ups\":");
	json_num(f, st->converged_ups, true);
	fprintf(f, ",\"frac_converged\":");
	json_num(f, st->frac, true);
	fprintf(f, ",\"p99_ms\":");
	json_num(f, st->conv_p99, st->have_conv);
	fprintf(f, ",\"lost\":%" PRIu64 ",\"passed\":%s}", st->lost,
	        st->passed ? "true" : "false");
}

static void
tp_json(FILE *f, const struct tp_result *r, const struct machine *m)
{
	const struct tp_params *p = &r->p;
	const struct tp_step *st = &r->steps[r->best];
	const netcluster_stats *d = &st->d;

	fprintf(f, "{\"bench\":\"throughput\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"search\":\"%s\",\"mode\":", r->max ? "max" : "rate");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f, ",\"sealed\":%s,\"cipher\":", p->keyring ? "true" : "false");
	json_str(f, seal_cipher_name(p->keyring));
	if (r->have_cmp) {
		fprintf(f, ",\"clear_converged_ups\":");
		json_num(f, r->clear_ups, true);
		fprintf(f, ",\"sealed_vs_clear\":");
		json_num(f,
		         r->clear_ups > 0 ? r->steps[r->best].converged_ups /
		                                    r->clear_ups
		                          : 0,
		         true);
	}
	fprintf(f,
	        ",\"nodes\":%zu,\"fanout\":%u,\"interval_ms\":%" PRIu64
	        ",\"value_size\":%zu,\"key_space\":%zu,\"ttl_ms\":%" PRIu64
	        ",\"counters\":%s,\"writers\":%zu"
	        ",\"seed\":%" PRIu64 ",\"workers\":%u,\"io_backend\":",
	        p->nodes, p->fanout, p->interval_ms, p->value_size,
	        p->key_space, p->ttl_ms, p->counters ? "true" : "false",
	        p->writers, p->seed, st->workers);
	json_str(f, st->backend);
	fprintf(f,
	        ",\"membership\":\"prejoined\",\"anti_entropy\":%s"
	        ",\"ae_interval_ms\":%" PRIu64 ",\"seconds\":",
	        p->ae_ms ? "true" : "false", p->ae_ms);
	json_num(f, p->seconds, true);
	fprintf(f,
	        ",\"warmup_ms\":%" PRIu64 ",\"drain_ms\":%" PRIu64
	        ",\"window_ms\":%" PRIu64 ",\"target_frac\":",
	        p->warmup_ms, p->drain_ms, TP_WINDOW_US / 1000);
	json_num(f, TP_TARGET, true);
	fprintf(f,
	        ",\"target_ups\":%" PRIu64 ",\"offered_ups\":", st->target_ups);
	json_num(f, st->offered_ups, true);
	fprintf(f,
	        ",\"updates\":%" PRIu64 ",\"not_offered\":%" PRIu64
	        ",\"driver_lag_ms\":%.3f"
	        ",\"converged\":%" PRIu64 ",\"converged_ups\":",
	        st->offered, st->not_offered, st->driver_lag_ms,
	        st->conv_window);
	json_num(f, st->converged_ups, true);
	fprintf(f, ",\"frac_converged\":");
	json_num(f, st->frac, true);
	fprintf(f, ",\"passed\":%s,\"convergence_ms\":{\"p50\":",
	        st->passed ? "true" : "false");
	json_num(f, st->conv_p50, st->have_conv);
	fprintf(f, ",\"p95\":");
	json_num(f, st->conv_p95, st->have_conv);
	fprintf(f, ",\"p99\":");
	json_num(f, st->conv_p99, st->have_conv);
	fprintf(f, ",\"max\":");
	json_num(f, st->conv_max, st->have_conv);
	fprintf(f, "},\"queue_ms\":{\"p50\":");
	json_num(f, st->queue_p50, st->have_queue);
	fprintf(f, ",\"p99\":");
	json_num(f, st->queue_p99, st->have_queue);
	fprintf(f,
	        "},\"lost\":%" PRIu64 ",\"refused\":%" PRIu64
	        ",\"overtaken\":%" PRIu64 ",\"datagrams_sent\":%" PRIu64
	        ",\"datagrams_per_s\":",
	        st->lost, st->refused, d->tp_overtaken, d->dgrams_out);
	json_num(f, st->datagrams_per_s, true);
	fprintf(f, ",\"bytes_per_update\":");
	json_num(f, st->bytes_per_update, st->offered > 0);
	fprintf(f,
	        ",\"updates_per_datagram\":%zu,\"cpu_s\":", r->upd_per_dgram);
	json_num(f, st->cpu_s, true);
	fprintf(f, ",\"ceiling_dps\":");
	json_num(f, r->ceil.ceiling_dps, r->have_ceiling);
	fprintf(f, ",\"ceiling_backend\":");
	if (r->have_ceiling)
		json_str(f, r->ceil.backend);
	else
		fputs("null", f);
	fprintf(f, ",\"efficiency\":");
	json_num(f, r->efficiency, r->have_eff);
	fprintf(f,
	        ",\"io\":{\"kernel_drops\":%" PRIu64 ",\"send_errors\":%" PRIu64
	        ",\"buf_exhausted\":%" PRIu64 ",\"pool_exhausted\":%" PRIu64
	        ",\"outbox_drops\":%" PRIu64 "}",
	        d->io_kernel_drops, d->io_send_errors, d->io_buf_exhausted,
	        d->io_pool_exhausted, d->outbox_drops);
	fprintf(f,
	        ",\"member_events\":{\"suspect\":%" PRIu64 ",\"dead\":%" PRIu64
	        "}",
	        d->ev_suspect, d->ev_dead);
	fprintf(f, ",\"measured_s\":");
	json_num(f, st->measured_s, true);
	if (r->max) {
		/* a maximum only when a failing step bounds it; a search
		 * cut short names the lower bound it reached */
		fprintf(f, ",\"max_found\":%s,\"max_ups\":",
		        r->found ? "true" : "false");
		json_num(f, (double)st->target_ups, r->any_passed && r->found);
		fprintf(f, ",\"lower_bound_ups\":");
		json_num(f, (double)st->target_ups, r->any_passed);
		fprintf(f, ",\"failed_above_ups\":");
		json_num(f, (double)r->above, r->found);
		fprintf(f, ",\"stop\":\"%s\",\"steps\":[", r->stop);
		for (size_t i = 0; i < r->nsteps; i++) {
			if (i)
				fputc(',', f);
			step_json(f, &r->steps[i]);
		}
		fputc(']', f);
	}
	struct zb_stats z;
	ZB_FROM_NETCLUSTER(&z, d);
	fprintf(f, ",\"bytes_per_write\":");
	json_num(f, st->bytes_per_update, true);
	fprintf(f, ",\"cpu_s\":");
	json_num(f, st->cpu_s, true);
	zb_json(f, &z, p->threshold, p->value_kind, st->offered);
	fprintf(f, ",\"wall_s\":");
	json_num(f, r->wall_s, true);
	json_end(f, m);
}

/* --rate: the CDF of convergence times; --max: converged writes/s and
 * p99 against the offered rate. Returns 0 or -1 (printed). */
static int
tp_plot(const char *png, const struct tp_result *r)
{
	const struct tp_params *p = &r->p;
	char title[160];
	int rc = -1;

	if (!r->max) {
		const struct tp_step *st = &r->steps[0];
		size_t k = st->conv_total;
		size_t np = k < TP_PLOT_POINTS ? k : TP_PLOT_POINTS;
		double *x = calloc(np ? np : 1, sizeof(*x));
		double *y = calloc(np ? np : 1, sizeof(*y));

		if (!x || !y) {
			fprintf(stderr, "gvbench throughput: --plot: out of "
			                "memory\n");
			goto out1;
		}
		/* evenly spaced ranks, the last always drawn; y counts
		 * against the writes due, so it tops out at the fraction
		 * that converged at all; x from 1 µs (log axis) */
		for (size_t i = 0; i < np; i++) {
			size_t rank = np > 1 ? i * (k - 1) / (np - 1) : k - 1;
			uint64_t t = st->conv_us[rank];
			x[i] = (double)(t ? t : 1) / 1000.0;
			y[i] = (double)(rank + 1) / (double)st->due;
		}
		snprintf(title, sizeof(title),
		         "gvbench throughput: %zu nodes, %s, %" PRIu64
		         " writes/s offered for %g s",
		         p->nodes, gv_mode_name(p->mode), st->target_ups,
		         p->seconds);
		struct plot_series s = {"writes converged (all nodes)",
		                        x,
		                        y,
		                        np,
		                        "steps",
		                        false};
		struct plot_spec spec = {
		        .title = title,
		        .xlabel = "convergence time (ms, log scale)",
		        .ylabel = "fraction of the writes due",
		        .logx = true,
		        .ymin = 0,
		        .ymax = 1.02,
		        .xmark = (double)TP_WINDOW_US / 1000.0,
		        .xmark_label = "1 s",
		        .key_pos = "top left",
		};
		rc = plot_png("throughput", png, &spec, &s, 1);
	out1:
		free(x);
		free(y);
		return rc;
	}

	/* --max: the steps by offered rate */
	size_t n = r->nsteps, ord[TP_MAX_STEPS];
	double xo[TP_MAX_STEPS], yc[TP_MAX_STEPS], yi[TP_MAX_STEPS];
	double x9[TP_MAX_STEPS], y9[TP_MAX_STEPS];
	size_t n9 = 0;

	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	for (size_t i = 1; i < n; i++) /* insertion sort: a few steps */
		for (size_t j = i;
		     j > 0 && r->steps[ord[j]].target_ups <
		                      r->steps[ord[j - 1]].target_ups;
		     j--) {
			size_t t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		const struct tp_step *st = &r->steps[ord[i]];
		xo[i] = st->offered_ups;
		yc[i] = st->converged_ups;
		yi[i] = st->offered_ups;
		if (st->have_conv && st->conv_p99 > 0) {
			x9[n9] = st->offered_ups;
			y9[n9++] = st->conv_p99;
		}
	}
	snprintf(title, sizeof(title),
	         "gvbench throughput --max: %zu nodes, %s, steps of %g s",
	         p->nodes, gv_mode_name(p->mode), p->seconds);
	struct plot_series s[] = {
	        {"offered (all converging)", xo, yi, n, "lines", false},
	        {"converged within 1 s", xo, yc, n, "linespoints", false},
	        {"convergence p99 (ms, right)", x9, y9, n9, "linespoints",
	         true},
	};
	struct plot_spec spec = {
	        .title = title,
	        .xlabel = "offered writes/s",
	        .ylabel = "writes/s",
	        .y2label = "p99 convergence (ms, log scale)",
	        .logy2 = true,
	        .key_pos = "top left",
	};
	return plot_png("throughput", png, &spec, s, sizeof(s) / sizeof(s[0]));
}

/* ------------------------------------------------------------ command */

/* How many update records of this size fill one datagram: the longest
 * key of the space ("tp:<K-1>") with value_size bytes, after the header. */
static size_t
updates_per_datagram(size_t key_space, size_t value_size, size_t max_dgram)
{
	char key[32];
	int klen = snprintf(key, sizeof(key), "tp:%zu", key_space - 1);
	size_t rec = gv_wire_update_size((size_t)klen, value_size);

	return max_dgram > GV_WIRE_HEADER_LEN
	               ? (max_dgram - GV_WIRE_HEADER_LEN) / rec
	               : 0;
}

int
cmd_throughput(int argc, char **argv)
{
	uint64_t nodes = 0, rate = 0, vsize = 32, keys = 10000, writers = 0;
	uint64_t ttl = 0;
	bool counters = false;
	uint64_t fanout = 3, interval = 100, workers = 0, seed = 1;
	uint64_t warmup = 300, drain_ms = 2000, start = 1000, ae_ms;
	double seconds = 5, ceil_s = 1, budget = 30;
	int mode = GV_MODE_EAGER;
	bool max = false;
	const char *json = NULL, *plot = NULL;
	const char *seal = "off", *cipher = "auto";
	const char *values = "random", *zthr = NULL;
	const char *zlevel_s = NULL;
	bool zpadded = false, zpack = false;
	int backend = GV_IO_AUTO;
	gv_node_config nc;

	gv_node_config_default(&nc);
	ae_ms = nc.ae_interval_ms;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 2,
	         .umax = 4096},
	        {.name = "--rate",
	         .kind = OPT_U64,
	         .dst = &rate,
	         .umin = 1,
	         .umax = 100000000},
	        {.name = "--max", .kind = OPT_FLAG, .dst = &max},
	        {.name = "--seconds",
	         .kind = OPT_F64,
	         .dst = &seconds,
	         .fmin = 0.01,
	         .fmax = 3600},
	        {.name = "--drain-ms",
	         .kind = OPT_U64,
	         .dst = &drain_ms,
	         .umax = 3600000},
	        {.name = "--writers",
	         .kind = OPT_U64,
	         .dst = &writers,
	         .umin = 1,
	         .umax = 4096},
	        {.name = "--start-rate",
	         .kind = OPT_U64,
	         .dst = &start,
	         .umin = 1,
	         .umax = 100000000},
	        {.name = "--budget-s",
	         .kind = OPT_F64,
	         .dst = &budget,
	         .fmin = 1,
	         .fmax = 86400},
	        {.name = "--value-size",
	         .kind = OPT_U64,
	         .dst = &vsize,
	         .umin = 8,
	         .umax = 1024},
	        {.name = "--counters", .kind = OPT_FLAG, .dst = &counters},
	        {.name = "--ttl-ms",
	         .kind = OPT_U64,
	         .dst = &ttl,
	         .umin = 1,
	         .umax = UINT64_C(1) << 40},
	        {.name = "--key-space",
	         .kind = OPT_U64,
	         .dst = &keys,
	         .umin = 1,
	         .umax = UINT64_C(1) << 24},
	        {.name = "--mode", .kind = OPT_MODE, .dst = &mode},
	        {.name = "--fanout",
	         .kind = OPT_U64,
	         .dst = &fanout,
	         .umin = 1,
	         .umax = 1000},
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
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--warmup-ms",
	         .kind = OPT_U64,
	         .dst = &warmup,
	         .umax = 3600000},
	        {.name = "--ceiling-seconds",
	         .kind = OPT_F64,
	         .dst = &ceil_s,
	         .fmax = 60},
	        {.name = "--anti-entropy-ms",
	         .kind = OPT_U64,
	         .dst = &ae_ms,
	         .umax = 3600000},
	        {.name = "--io", .kind = OPT_IO, .dst = &backend},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	        {.name = "--plot", .kind = OPT_STR, .dst = &plot},
	        {.name = "--seal", .kind = OPT_STR, .dst = &seal},
	        {.name = "--cipher", .kind = OPT_STR, .dst = &cipher},
	        {.name = "--values", .kind = OPT_STR, .dst = &values},
	        {.name = "--compress-threshold", .kind = OPT_STR, .dst = &zthr},
	        {.name = "--compress-level",
	         .kind = OPT_STR,
	         .dst = &zlevel_s},
	        {.name = "--compress-padded", .kind = OPT_FLAG, .dst = &zpadded},
	        {.name = "--compress-pack", .kind = OPT_FLAG, .dst = &zpack},
	};
	enum {
		O_NODES,
		O_RATE,
		O_MAX,
		O_SECONDS,
		O_DRAIN,
		O_WRITERS,
		O_START,
		O_BUDGET,
	};
	int rc = parse_opts("throughput", TP_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!opts[O_NODES].seen) {
		fprintf(stderr,
		        "gvbench throughput: --nodes N is required (see "
		        "gvbench throughput --help)\n");
		return EXIT_USAGE;
	}
	if (opts[O_RATE].seen == max) {
		fprintf(stderr, "gvbench throughput: give one of --rate R and "
		                "--max\n");
		return EXIT_USAGE;
	}
	if (!max && (opts[O_START].seen || opts[O_BUDGET].seen)) {
		fprintf(stderr, "gvbench throughput: --start-rate and "
		                "--budget-s go with --max\n");
		return EXIT_USAGE;
	}
	if (writers > nodes) {
		fprintf(stderr,
		        "gvbench throughput: --writers %" PRIu64
		        " is more than --nodes %" PRIu64 "\n",
		        writers, nodes);
		return EXIT_USAGE;
	}
	if (!writers)
		writers = nodes;
	int kind, zlevel, nthr;
	size_t thr[ZB_MAX_THRESHOLDS];
	if (zb_opts("throughput", values, zlevel_s, zthr, seal, &kind, &zlevel,
	            thr, &nthr))
		return EXIT_USAGE;
	int nruns;
	bool seal_first;
	gv_keyring *ring;
	rc = seal_setup("throughput", seal, cipher, seed, &nruns, &seal_first,
	                &ring);
	if (rc)
		return rc;
	if (nthr > 1)
		nruns = nthr;
	struct zb_row rows[ZB_MAX_THRESHOLDS];
	if (max && !opts[O_SECONDS].seen)
		seconds = 1;
	if (max && !opts[O_DRAIN].seen)
		drain_ms = TP_WINDOW_US / 1000;
	/* the default budget buys as many steps as 30 s does with 1 s
	 * steps (about ten: doubling from 1000 to the 512,000s, then a
	 * bisection), whatever --seconds is */
	if (max && !opts[O_BUDGET].seen) {
		double step = seconds + 0.5 + (double)warmup / 1000.0 +
		              (double)drain_ms / 1000.0;
		if (12 * step > budget)
			budget = 12 * step;
	}
	if (!max && (double)rate * seconds < 1) {
		fprintf(stderr, "gvbench throughput: --rate x --seconds is "
		                "below one write\n");
		return EXIT_USAGE;
	}

	double t_begin = now_s();
	struct tp_result *r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "gvbench throughput: out of memory\n");
		return 1;
	}
	r->p = (struct tp_params){
	        .nodes = nodes,
	        .workers = (unsigned)workers,
	        .fanout = (unsigned)fanout,
	        .mode = mode,
	        .interval_ms = interval,
	        .value_size = vsize,
	        .key_space = keys,
	        .ttl_ms = ttl,
	        .counters = counters,
	        .writers = writers,
	        .seed = seed,
	        .backend = backend,
	        .seconds = seconds,
	        .warmup_ms = warmup,
	        .drain_ms = drain_ms,
	        .ae_ms = ae_ms,
	        .progress = isatty(STDERR_FILENO),
	        .value_kind = kind,
	        .threshold = thr[0],
	        .level = zlevel,
	        .padded = zpadded,
	        .pack = zpack,
	};
	r->max = max;
	r->upd_per_dgram = updates_per_datagram(keys, vsize, nc.max_datagram);

	struct machine m;
	machine_get(&m);
	FILE *jf = NULL;
	if (json && json_open("throughput", json, &jf)) {
		free(r);
		return 1;
	}
	rc = 1;

	/* the ceiling first, on an idle machine (as idle as it gets) */
	if (ceil_s > 0) {
		struct ceiling_opts co;

		gv_bench_ceiling_opts_default(&co);
		co.seconds = ceil_s;
		co.warmup_s = ceil_s / 4;
		co.backend = backend;
		progress_bar(r->p.progress, "throughput", "loopback ceiling",
		             0);
		int crc = gv_bench_ceiling_measure(&co, &r->ceil);
		progress_clear(r->p.progress);
		if (crc) {
			fprintf(stderr, "gvbench throughput: ceiling: %s\n",
			        gv_strerror(crc));
			goto out;
		}
		r->have_ceiling = true;
	}

	double clear_ups = 0;
	for (int run = 0; run < nruns; run++) {
		if (run >= 1) {
			/* --seal both: the same again, sealed; a threshold
			 * list: the same at the next threshold; the ceiling
			 * stands */
			for (size_t i = 0; i < r->nsteps; i++)
				free(r->steps[i].conv_us);
			clear_ups = r->steps[r->best].converged_ups;
			struct tp_result keep = *r;
			memset(r, 0, sizeof(*r));
			r->p = keep.p;
			r->max = keep.max;
			r->have_ceiling = keep.have_ceiling;
			r->ceil = keep.ceil;
			r->upd_per_dgram = keep.upd_per_dgram;
			r->have_cmp = nthr == 1;
			r->clear_ups = clear_ups;
			t_begin = now_s();
		}
		if (nthr > 1)
			r->p.threshold = thr[run];
		r->p.keyring = ((run == 1 && nthr == 1) || seal_first) ? ring
		                                                        : NULL;
		if (r->p.keyring) /* the tag takes 16 bytes of every datagram */
			r->upd_per_dgram = updates_per_datagram(
			        keys, vsize,
			        nc.max_datagram - GV_SEAL_OVERHEAD);
		rc = 1;
		if (max) {
			if (search(&r->p, r, start, budget, t_begin))
				goto out;
		} else {
			double need_mb;

			if (!tracking_fits(&r->p, rate, &need_mb)) {
				fprintf(stderr,
				        "gvbench throughput: %" PRIu64
				        " writes/s for %g s need %.0f MB of "
				        "tracking, "
				        "more than half the memory: lower "
				        "--rate or "
				        "--seconds\n",
				        rate, seconds, need_mb);
				goto out;
			}
			r->steps[0].target_ups = rate;
			r->nsteps = 1;
			if (step_run(&r->p, &r->steps[0], 0, false,
			             plot != NULL))
				goto out;
			progress_clear(r->p.progress);
		}
		const struct tp_step *best = &r->steps[r->best];
		r->have_eff = r->have_ceiling && r->upd_per_dgram &&
		              r->ceil.ceiling_dps > 0;
		if (r->have_eff)
			r->efficiency = best->converged_ups *
			                (double)(nodes - 1) /
			                (r->ceil.ceiling_dps *
			                 (double)r->upd_per_dgram);
		r->wall_s = now_s() - t_begin;
		tp_print(stdout, r);
		{
			struct zb_stats z;
			struct zb_row *row = &rows[run % ZB_MAX_THRESHOLDS];
			ZB_FROM_NETCLUSTER(&z, &best->d);
			zb_row_fill(row, r->p.threshold, &z, best->d.bytes_out,
			            best->offered, best->cpu_s);
			row->p50_ms = best->conv_p50;
			row->p99_ms = best->conv_p99;
			row->extra = best->converged_ups;
			if (nthr > 1 && run == nthr - 1)
				zb_table(stdout, "conv/s", rows, (size_t)nthr);
		}
		fflush(stdout);
		rc = 0;
		if (jf)
			tp_json(jf, r, &m);
		if (json_flush("throughput", json, jf)) {
			rc = 1;
			goto out;
		}
		/* a plot that fails leaves the results standing: printed, exit
		 * 0 */
		if (plot && run == nruns - 1 && tp_plot(plot, r) == 0)
			printf("plot: %s\n", plot);
		if (r->have_cmp)
			printf("sealed vs clear  %.0f vs %.0f writes/s: %.3f "
			       "(%.1f%% "
			       "%s)\n",
			       r->steps[r->best].converged_ups, r->clear_ups,
			       r->clear_ups > 0
			               ? r->steps[r->best].converged_ups /
			                         r->clear_ups
			               : 0,
			       r->clear_ups > 0
			               ? 100.0 * fabs(1 -
			                              r->steps[r->best]
			                                              .converged_ups /
			                                      r->clear_ups)
			               : 0,
			       r->steps[r->best].converged_ups <= r->clear_ups
			               ? "loss"
			               : "gain");
	}
out:
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench throughput: %s: %s\n", json,
		        strerror(errno));
		rc = 1;
	}
	for (size_t i = 0; i < r->nsteps; i++)
		free(r->steps[i].conv_us);
	free(r);
	seal_free(ring);
	return rc;
}
