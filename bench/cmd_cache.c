/* SPDX-License-Identifier: MIT */
/*
 * cmd_cache.c - `gvbench cache`: grapevined against Redis replication, as
 * a cache operator sees them. For each cluster size N it starts N
 * grapevined processes (cache_cluster.h) and, in the same invocation, a
 * redis-server master with N-1 replicas, and drives node 0 (the master)
 * of each with the same load from its own RESP client (cache_load.h):
 * first a closed-loop step that finds the most ops/s the node
 * acknowledges, then open-loop steps at fractions of that rate. Each step
 * reports acknowledged ops/s, client-side latency, and the read-after-
 * write lag seen by readers at the other nodes; then every node must
 * hold the last acknowledged value of every key (the no-lost-write
 * check) before the next step starts.
 *
 * Output: a table row per step on stdout, a JSON line per step and one
 * comparing the systems per N, pipeline and value size (--json), and
 * with --plot one PNG per N >= 2, pipeline and value size of the lag
 * against the offered load for both systems.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "bench_util.h"
#include "cache_cluster.h"
#include "cache_load.h"
#include "cache_report.h"
#include "cmds.h"
#include "resp_client.h"

#define CACHE_USAGE                                                            \
	"usage: gvbench cache [options]\n"                                     \
	"\n"                                                                   \
	"grapevined against Redis replication on this machine: for each N,\n"  \
	"N grapevined processes on loopback (node 0 the seed), then a\n"       \
	"redis-server master with N-1 replicas (skipped with a message when\n" \
	"redis-server is not found). Node 0 / the master takes the load\n"     \
	"from C connections: a closed-loop step finds the most ops/s it\n"     \
	"acknowledges (\"max\"), then open-loop steps offer fractions of\n"    \
	"that rate. A reader thread with one connection to every other node\n" \
	"measures the read-after-write lag of sampled SETs; after each step\n" \
	"every node must hold every key's last acknowledged value.\n"          \
	"\n"                                                                   \
	"  --nodes LIST         cluster sizes, 1 .. 32 (default 1,2,3,8)\n"    \
	"  --systems LIST       grapevined, redis or both (default\n"          \
	"                       grapevined,redis)\n"                           \
	"  --conns C            load connections (default 50)\n"               \
	"  --pipeline LIST      requests in flight per connection (default\n"  \
	"                       1,16): closed loop sends P together and the\n" \
	"                       next P when all are answered, open loop\n"     \
	"                       sends when due while fewer than P wait\n"      \
	"  --get-ratio R        fraction of GETs, 0 .. 1 (default 0.5; 0:\n"   \
	"                       SET only)\n"                                   \
	"  --value-size LIST    SET value bytes, 16 .. 1048576 (default "      \
	"100)\n"                                                               \
	"  --keys K             key space, split evenly between the\n"         \
	"                       connections (default 10000)\n"                 \
	"  --seconds S          load per step (default 3)\n"                   \
	"  --warmup S           closed-loop load before the first step of\n"   \
	"                       each pipeline and value size, not reported\n"  \
	"                       (default 0.5)\n"                               \
	"  --rates LIST         open-loop steps, fractions of the max, in\n"   \
	"                       (0, 4] (default 0.25,0.5,0.75,1)\n"            \
	"  --lag-samples N      sampled SETs per step (default 2000)\n"        \
	"  --poll-us US         a lag reader's pause between polls (default\n" \
	"                       100)\n"                                        \
	"  --threads T          grapevined --threads (default: the online\n"   \
	"                       CPUs less one, at least 1: the load runs on\n" \
	"                       this machine too)\n"                            \
	"  --shards S           grapevined --shards (default: --threads,\n"    \
	"                       at least 2)\n"                                  \
	"  --appendfsync P      persist while measured: grapevined --dir\n"   \
	"                       --appendfsync P, Redis --appendonly yes\n"    \
	"                       --appendfsync P (always, everysec or no;\n"  \
	"                       default: neither saves anything)\n"         \
	"  --grapevined PATH    default: tools/grapevined of this build\n"     \
	"                       tree, else grapevined on PATH\n"               \
	"  --redis-server PATH  default: redis-server on PATH\n"               \
	"  --seed S             the load's key and mix choices (default 1)\n"  \
	"  --json FILE          append one JSON object per step (one line),\n" \
	"                       and one per comparison\n"                      \
	"  --plot PREFIX        PREFIX-nN-pP[-vV].png per N >= 2: lag p50\n"   \
	"                       and p99 against the offered ops/s, both\n"     \
	"                       systems (gnuplot, package gnuplot-nox; if\n"   \
	"                       it is missing the results stand, exit 0)\n"    \
	"\n"                                                                   \
	"Latency: per request, from its send (closed loop) or its scheduled\n" \
	"time (open loop) to its reply. Lag: from a sampled SET's reply at\n"  \
	"the writer to the first GET reply at another node showing it (or a\n" \
	"newer write of the key), on this process's monotonic clock; a\n"      \
	"reader hears of the write at its reply, reads at once and again\n"    \
	"every --poll-us after each answer, for at most 5 s (then a\n"         \
	"lag_timeout). lost: keys some node does not hold at their last\n"     \
	"acknowledged value 10 s after the step. Exit status 0, 1 when a\n"    \
	"run failed or a write was lost, 2 on a usage error, 77 when no\n"     \
	"system asked for can run.\n"

#define LAG_TIMEOUT_NS (UINT64_C(5) * 1000000000u)
#define DRAIN_TIMEOUT_NS (UINT64_C(10) * 1000000000u)
#define CHECK_TIMEOUT_S 10.0
#define CHECK_BATCH 256 /* keys per MGET */
#define READY_S 30.0

/* ------------------------------------------------------------ options */

/* A comma-separated list of numbers in [min, max] into out (at most
 * MAX_LIST). Prints the error. Returns the count, or -1. */
static int
parse_list(const char *opt, const char *s, double *out, double min, double max,
           bool integer)
{
	char buf[256];
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *end;
		double v = strtod(t, &end);
		if (end == t || *end || !(v >= min && v <= max) ||
		    (integer && v != floor(v)) || n == MAX_LIST)
			goto bad;
		out[n++] = v;
	}
	if (n)
		return n;
bad:
	fprintf(stderr,
	        "gvbench cache: %s: '%s' is not a list of at most %d "
	        "%s in [%g, %g]\n",
	        opt, s, MAX_LIST, integer ? "integers" : "numbers", min, max);
	return -1;
}

static int
parse_systems(const char *s, bool sys[2])
{
	char buf[64];

	sys[0] = sys[1] = false;
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "grapevined"))
			sys[CC_GRAPEVINED] = true;
		else if (!strcmp(t, "redis"))
			sys[CC_REDIS] = true;
		else
			goto bad;
	}
	if (sys[0] || sys[1])
		return 0;
bad:
	fprintf(stderr,
	        "gvbench cache: --systems: '%s': give grapevined, "
	        "redis or grapevined,redis\n",
	        s);
	return -1;
}

/* ------------------------------------------------------------ check */

/*
 * Wait until every node of c holds the last acknowledged value of every
 * key written, at most CHECK_TIMEOUT_S; *lost the keys some node still
 * lacks then, *secs how long it took. Returns 0 or -errno (printed).
 */
static int
check_writes(struct cache_cluster *c, const struct cache_keys *k,
             uint64_t *lost, double *secs)
{
	size_t nkeys = k->conns * k->per_conn;
	uint32_t *left = malloc((nkeys ? nkeys : 1) * sizeof(*left));
	char(*names)[48] = malloc(CHECK_BATCH * sizeof(*names));
	const char *argv[CHECK_BATCH + 1];
	size_t lens[CHECK_BATCH + 1];
	double t0 = now_s(), end = t0 + CHECK_TIMEOUT_S;
	int rc = 0;

	*lost = 0;
	if (!left || !names) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t nd = 0; nd < c->n && !rc; nd++) {
		struct resp_sync s;
		size_t nleft = 0;
		for (size_t i = 0; i < nkeys; i++)
			if (k->acked[i])
				left[nleft++] = (uint32_t)i;
		if ((rc = resp_sync_open(&s, c->node[nd].resp_port, 3000)))
			break;
		while (nleft && !rc) {
			size_t keep = 0;
			for (size_t b = 0; b < nleft && !rc; b += CHECK_BATCH) {
				size_t nb = nleft - b < CHECK_BATCH
				                    ? nleft - b
				                    : CHECK_BATCH;
				struct resp_val v;
				argv[0] = "MGET";
				lens[0] = 4;
				for (size_t j = 0; j < nb; j++) {
					lens[j + 1] = cache_key_name(
					        k, left[b + j], names[j],
					        sizeof(names[j]));
					argv[j + 1] = names[j];
				}
				rc = resp_sync_cmd(&s, 5000, &v, (int)nb + 1,
				                   argv, lens);
				if (!rc &&
				    (v.type != '*' || v.n != (long long)nb))
					rc = -EPROTO;
				const char *p = s.in.p + v.hdr;
				const char *e = s.in.p + s.in.len;
				for (size_t j = 0; j < nb && !rc; j++) {
					struct resp_val x;
					ssize_t len = resp_parse(
					        p, (size_t)(e - p), &x);
					p += len;
					uint32_t key = left[b + j];
					if (x.type != '$' || x.nil ||
					    cache_value_seq(x.s, x.len) !=
					            k->acked[key])
						left[keep++] = key;
				}
			}
			nleft = keep;
			if (!nleft || rc)
				break;
			if (cc_interrupted) {
				rc = -EINTR;
			} else if (now_s() > end) {
				*lost += nleft;
				break;
			}
			sleep_us(10000);
		}
		resp_sync_close(&s);
		if (rc && rc != -EINTR)
			fprintf(stderr,
			        "gvbench cache: the check at %s node "
			        "%zu: %s\n",
			        cc_system_name(c->sys), nd, strerror(-rc));
	}
out:
	*secs = now_s() - t0;
	free(left);
	free(names);
	return rc;
}

/* ------------------------------------------------------------ steps */

static double
ms(const uint64_t *v, size_t n, double p)
{
	/* nearest rank, as pct() but with a fraction: p999 is 99.9% */
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	return (double)v[rank ? rank - 1 : 0] / 1e6;
}

/* One step at frac of max (0: the closed-loop max itself). */
static int
one_step(struct cache_run *cr, struct cache_cluster *c, struct cache_keys *k,
         unsigned pipe, size_t vsize, double frac, double max_ops,
         double seconds, bool record, double *ops)
{
	int readers[CC_MAX_NODES];
	char label[96], rb[16];
	struct cache_step st;
	struct cache_rec r = {
	        .sys = c->sys,
	        .nodes = c->n,
	        .pipeline = pipe,
	        .vsize = vsize,
	        .frac = frac,
	        .offered = frac * max_ops,
	};

	for (size_t i = 1; i < c->n; i++)
		readers[i - 1] = c->node[i].resp_port;
	snprintf(label, sizeof(label), "%s N=%zu P=%u %s",
	         cc_system_name(c->sys), c->n, pipe,
	         record ? cache_rate_name(&r, rb, sizeof(rb)) : "warm-up");
	struct cache_step_opts o = {
	        .port = c->node[0].resp_port,
	        .reader_ports = readers,
	        .nreaders = record ? c->n - 1 : 0,
	        .conns = cr->conns,
	        .pipeline = pipe,
	        .get_ratio = cr->get_ratio,
	        .value_size = vsize,
	        .seconds = seconds,
	        .rate = r.offered,
	        .lag_max = record ? cr->lag_max : 0,
	        .poll_ns = cr->poll_us * 1000,
	        .lag_timeout_ns = LAG_TIMEOUT_NS,
	        .drain_timeout_ns = DRAIN_TIMEOUT_NS,
	        .seed = cr->seed,
	        .progress = cr->progress,
	        .label = label,
	};
	int rc = cache_step_run(&o, k, &st);
	if (!rc)
		rc = cache_cluster_alive(c);
	if (!rc)
		rc = check_writes(c, k, &r.lost, &r.check_s);
	if (rc || !record)
		goto out;
	double el = st.elapsed_s > 0 ? st.elapsed_s : seconds;
	r.set_ps = (double)st.sets / el;
	r.get_ps = (double)st.gets / el;
	r.ops = r.set_ps + r.get_ps;
	r.errors = st.errors;
	r.get_hits = st.get_hits;
	r.elapsed_s = st.elapsed_s;
	r.max_late_ms = st.max_late_ms;
	if (st.nlat) {
		r.lat[0] = ms(st.lat_ns, st.nlat, 50);
		r.lat[1] = ms(st.lat_ns, st.nlat, 99);
		r.lat[2] = ms(st.lat_ns, st.nlat, 99.9);
		r.lat[3] = (double)st.lat_ns[st.nlat - 1] / 1e6;
	}
	r.have_lag = st.nlag > 0;
	if (st.nlag) {
		r.lag[0] = ms(st.lag_ns, st.nlag, 50);
		r.lag[1] = ms(st.lag_ns, st.nlag, 99);
		r.lag[2] = (double)st.lag_ns[st.nlag - 1] / 1e6;
	}
	r.lag_writes = st.lag_writes;
	r.lag_samples = st.nlag;
	r.lag_timeouts = st.lag_timeouts;
	snprintf(r.version, sizeof(r.version), "%s", c->version);
	cr->lost += r.lost;
	*ops = r.ops;
	cache_table_row(stdout, &r);
	if (cr->jf) {
		cache_rec_json(cr, &r);
		if (json_flush("cache", cr->json, cr->jf))
			rc = -EIO;
	}
	if (!rc)
		rc = cache_add_rec(cr, &r);
out:
	cache_step_fini(&st);
	return rc;
}

/* Every step of one system at N nodes, on one cluster. */
static int
run_cluster(struct cache_run *cr, enum cc_system sys, size_t nodes)
{
	struct cache_cluster c;
	struct cache_keys k;
	int rc;

	if (cache_keys_init(&k, cr->conns, cr->keys / cr->conns))
		return -ENOMEM;
	if (cr->progress)
		fprintf(stderr, "gvbench cache: starting %zu %s\n", nodes,
		        cc_system_name(sys));
	rc = cache_cluster_start(&c, sys, nodes, &cr->cc);
	if (rc) {
		cache_keys_fini(&k);
		return rc;
	}
	for (size_t p = 0; p < cr->np && !rc; p++)
		for (size_t v = 0; v < cr->nv && !rc; v++) {
			double max_ops = 0, ops;
			if (cr->warmup > 0)
				rc = one_step(cr, &c, &k, cr->pipe[p],
				              cr->vsize[v], 0, 0, cr->warmup,
				              false, &ops);
			if (!rc)
				rc = one_step(cr, &c, &k, cr->pipe[p],
				              cr->vsize[v], 0, 0, cr->seconds,
				              true, &max_ops);
			if (!rc && !(max_ops > 0)) {
				fprintf(stderr,
				        "gvbench cache: %s N=%zu "
				        "acknowledged nothing\n",
				        cc_system_name(sys), nodes);
				rc = -EIO;
			}
			for (size_t i = 0; i < cr->nr && !rc; i++)
				rc = one_step(cr, &c, &k, cr->pipe[p],
				              cr->vsize[v], cr->rates[i],
				              max_ops, cr->seconds, true, &ops);
		}
	int src = cache_cluster_stop(&c, rc && rc != -EINTR ? CC_LOGS_KEEP
	                                                    : CC_LOGS_ON_ERROR);
	cache_keys_fini(&k);
	return rc ? rc : src;
}

/* ------------------------------------------------------------ command */

int
cmd_cache(int argc, char **argv)
{
	const char *nodes_s = "1,2,3,8", *systems_s = "grapevined,redis";
	const char *pipe_s = "1,16", *vsize_s = "100";
	const char *rates_s = "0.25,0.5,0.75,1";
	const char *gvd = NULL, *redis = NULL, *fsync_s = NULL;
	uint64_t conns = 50, keys = 10000, threads = 0, shards = 0;
	uint64_t lag_max = 2000, poll_us = 100, seed = 1;
	double list[MAX_LIST];
	int n, rc;
	struct cache_run *cr = calloc(1, sizeof(*cr));

	if (!cr) {
		fprintf(stderr, "gvbench cache: out of memory\n");
		return 1;
	}
	cr->get_ratio = 0.5;
	cr->seconds = 3;
	cr->warmup = 0.5;
	struct opt opts[] = {
	        {.name = "--nodes", .kind = OPT_STR, .dst = &nodes_s},
	        {.name = "--systems", .kind = OPT_STR, .dst = &systems_s},
	        {.name = "--conns",
	         .kind = OPT_U64,
	         .dst = &conns,
	         .umin = 1,
	         .umax = 10000},
	        {.name = "--pipeline", .kind = OPT_STR, .dst = &pipe_s},
	        {.name = "--get-ratio",
	         .kind = OPT_F64,
	         .dst = &cr->get_ratio,
	         .fmax = 1},
	        {.name = "--value-size", .kind = OPT_STR, .dst = &vsize_s},
	        {.name = "--keys",
	         .kind = OPT_U64,
	         .dst = &keys,
	         .umin = 1,
	         .umax = UINT64_C(1) << 26},
	        {.name = "--seconds",
	         .kind = OPT_F64,
	         .dst = &cr->seconds,
	         .fmin = 0.1,
	         .fmax = 3600},
	        {.name = "--warmup",
	         .kind = OPT_F64,
	         .dst = &cr->warmup,
	         .fmax = 3600},
	        {.name = "--rates", .kind = OPT_STR, .dst = &rates_s},
	        {.name = "--lag-samples",
	         .kind = OPT_U64,
	         .dst = &lag_max,
	         .umax = 1000000},
	        {.name = "--poll-us",
	         .kind = OPT_U64,
	         .dst = &poll_us,
	         .umax = 1000000},
	        {.name = "--threads",
	         .kind = OPT_U64,
	         .dst = &threads,
	         .umin = 1,
	         .umax = 1024},
	        {.name = "--shards",
	         .kind = OPT_U64,
	         .dst = &shards,
	         .umin = 1,
	         .umax = 1024},
	        {.name = "--grapevined", .kind = OPT_STR, .dst = &gvd},
	        {.name = "--appendfsync", .kind = OPT_STR, .dst = &fsync_s},
	        {.name = "--redis-server", .kind = OPT_STR, .dst = &redis},
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--json", .kind = OPT_STR, .dst = &cr->json},
	        {.name = "--plot", .kind = OPT_STR, .dst = &cr->plot},
	};
	rc = parse_opts("cache", CACHE_USAGE, opts,
	                sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc) {
		free(cr);
		return rc == 1 ? 0 : rc;
	}
	rc = EXIT_USAGE;
	if ((n = parse_list("--nodes", nodes_s, list, 1, CC_MAX_NODES, true)) <
	    0)
		goto out;
	for (cr->nn = 0; cr->nn < (size_t)n; cr->nn++)
		cr->nodes[cr->nn] = (size_t)list[cr->nn];
	if ((n = parse_list("--pipeline", pipe_s, list, 1, 4096, true)) < 0)
		goto out;
	for (cr->np = 0; cr->np < (size_t)n; cr->np++)
		cr->pipe[cr->np] = (unsigned)list[cr->np];
	if ((n = parse_list("--value-size", vsize_s, list, CACHE_SEQ_DIGITS,
	                    1 << 20, true)) < 0)
		goto out;
	for (cr->nv = 0; cr->nv < (size_t)n; cr->nv++)
		cr->vsize[cr->nv] = (size_t)list[cr->nv];
	if ((n = parse_list("--rates", rates_s, cr->rates, 1e-6, 4, false)) < 0)
		goto out;
	cr->nr = (size_t)n;
	if (parse_systems(systems_s, cr->sys))
		goto out;
	if (keys < conns) {
		fprintf(stderr,
		        "gvbench cache: --keys %" PRIu64 " is fewer than "
		        "--conns %" PRIu64 " (each connection owns its keys)\n",
		        keys, conns);
		goto out;
	}
	machine_get(&cr->m);
	cr->conns = (unsigned)conns;
	cr->keys = (size_t)(keys / conns * conns);
	cr->lag_max = (size_t)lag_max;
	cr->poll_us = poll_us;
	cr->seed = seed;
	/* the load generator and the lag reader share the machine: a
	 * worker thread per core would have them take turns with it */
	cr->cc.threads = threads ? (unsigned)threads
	                 : cr->m.cores > 1 ? (unsigned)cr->m.cores - 1 : 1;
	cr->cc.shards = shards ? (unsigned)shards
	                : cr->cc.threads > 2 ? cr->cc.threads : 2;
	cr->cc.ready_s = READY_S;
	if (fsync_s && strcmp(fsync_s, "always") && strcmp(fsync_s, "everysec") &&
	    strcmp(fsync_s, "no")) {
		fprintf(stderr, "gvbench cache: --appendfsync: expected always, "
		        "everysec or no, got '%s'\n", fsync_s);
		rc = EXIT_USAGE;
		goto out;
	}
	cr->cc.appendfsync = fsync_s;
	cr->progress = isatty(STDERR_FILENO);

	rc = 1;
	if (cr->sys[CC_GRAPEVINED]) {
		if (cc_find_program("grapevined", gvd, "../tools/grapevined",
		                    cr->gvd, sizeof(cr->gvd))) {
			fprintf(stderr,
			        "gvbench cache: grapevined not found%s%s "
			        "(build "
			        "it, or give --grapevined PATH)\n",
			        gvd ? " at " : "", gvd ? gvd : "");
			goto out;
		}
		cr->cc.grapevined = cr->gvd;
	}
	if (cr->sys[CC_REDIS]) {
		if (cc_find_program("redis-server", redis, NULL, cr->redis,
		                    sizeof(cr->redis))) {
			if (redis) {
				fprintf(stderr,
				        "gvbench cache: %s is not an "
				        "executable\n",
				        redis);
				goto out;
			}
			fprintf(stderr,
			        "redis-server not found: the Redis half "
			        "is skipped\n");
			cr->sys[CC_REDIS] = false;
		}
		cr->cc.redis_server = cr->redis;
	}
	if (!cr->sys[CC_GRAPEVINED] && !cr->sys[CC_REDIS]) {
		rc = 77;
		goto out;
	}
	if (cr->json && json_open("cache", cr->json, &cr->jf))
		goto out;

	cc_signals();
	/* the open loop sleeps to the next batch's due time: without this
	 * the kernel may wake it up to 50 us late (the default slack), and
	 * the lag readers (created from this thread) poll late */
	prctl(PR_SET_TIMERSLACK, 1UL);
	printf("gvbench cache: %u connections, get ratio %g, %zu keys, %g s "
	       "steps; grapevined --threads %u --shards %u\n",
	       cr->conns, cr->get_ratio, cr->keys, cr->seconds, cr->cc.threads,
	       cr->cc.shards);
	cache_table_header(stdout);
	rc = 0;
	for (size_t i = 0; i < cr->nn && !rc; i++) {
		for (int sys = 0; sys < 2 && !rc; sys++)
			if (cr->sys[sys])
				rc = run_cluster(cr, (enum cc_system)sys,
				                 cr->nodes[i]);
		if (!rc)
			cache_compare(cr, cr->nodes[i]);
	}
	if (rc == -EINTR)
		fprintf(stderr, "gvbench cache: interrupted: every process it "
		                "started is stopped\n");
	rc = rc ? 1 : 0;
	if (!rc && cr->lost) {
		fprintf(stderr,
		        "gvbench cache: %" PRIu64 " acknowledged writes "
		        "lost\n",
		        cr->lost);
		rc = 1;
	}
	/* a plot that fails leaves the results standing */
	if (cr->plot && cr->nrecs)
		cache_plots(cr);
out:
	if (cr->jf && fclose(cr->jf) && !rc) {
		fprintf(stderr, "gvbench cache: %s: %s\n", cr->json,
		        strerror(errno));
		rc = 1;
	}
	free(cr->recs);
	free(cr);
	return rc;
}
