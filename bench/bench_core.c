/* SPDX-License-Identifier: MIT */
/*
 * bench_core.c - micro-benchmarks of the core structures, one subcommand
 * each (bench_core <name> [options]). Each measurement prints one JSON line
 * on stdout, so perf/ scripts can collect them; anything for humans goes to
 * stderr. The inputs are drawn from a fixed seed before the clock starts,
 * so runs compare like with like. To add a benchmark, write a
 * `static int bench_<name>(int argc, char **argv)` and add a row to
 * `benches`.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grapevine/grapevine.h>

#include "core/dedup.h"
#include "core/store.h"
#include "core/rng.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parse "--ops N" style options shared by the benchmarks. */
static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v == 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * dedup: insert rate of gv_dedup_insert() with 1 and 2 threads. The ids
 * imitate gossip fan-in: half are new, half repeat an id issued within the
 * last per_gen ids of the same stream (so most repeats are still in the
 * window). Each thread has a stream of its own, drawn up front: with one
 * shared stream split between the threads, any drift between them would
 * push repeats out of the window and change the mix being measured.
 */
#define DEDUP_MAX_THREADS 2u

#define DEDUP_USAGE                                                            \
	"dedup [--ops N] [--per-gen N] [--gens N]  insert rate, 1 and 2 "      \
	"threads"

struct dedup_cfg {
	uint64_t nops;
	uint64_t per_gen;
	uint64_t ngens;
};

struct dedup_worker {
	gv_dedup *d;
	pthread_barrier_t *start;
	uint64_t *ids;
	uint64_t nops;
	uint64_t news;
};

/*
 * Half new ids (a splitmix64 sequence: distinct, well spread), half
 * repeats of one of the last `window` new ids.
 */
static void
dedup_stream(uint64_t *ids, uint64_t nops, uint64_t window, uint64_t seed)
{
	uint64_t seq = seed * 0x100000000ULL, issued = 0;
	gv_rng rng;

	gv_rng_seed(&rng, seed);
	for (uint64_t i = 0; i < nops; i++) {
		if (issued == 0 || gv_rng_below(&rng, 2) == 0) {
			ids[i] = gv_splitmix64(&seq);
			issued++;
		} else {
			uint64_t back = gv_rng_below(
			        &rng, issued < window ? issued : window);
			uint64_t s = seq - (back + 1) * 0x9e3779b97f4a7c15ULL;
			ids[i] = gv_splitmix64(&s);
		}
	}
}

static void *
dedup_worker(void *arg)
{
	struct dedup_worker *w = arg;
	uint64_t news = 0;

	pthread_barrier_wait(w->start);
	for (uint64_t i = 0; i < w->nops; i++)
		news += (uint64_t)gv_dedup_insert(w->d, w->ids[i]);
	w->news = news;
	return NULL;
}

static int
dedup_run(const struct dedup_cfg *cfg, unsigned nthreads)
{
	pthread_t th[DEDUP_MAX_THREADS];
	struct dedup_worker w[DEDUP_MAX_THREADS];
	pthread_barrier_t start;
	gv_dedup d;
	uint64_t news = 0, per_thread = cfg->nops / nthreads, nops;
	int rc;

	rc = gv_dedup_init(&d, gv_mem_default(), cfg->per_gen,
	                   (unsigned)cfg->ngens);
	if (rc) {
		fprintf(stderr, "dedup: init: %s\n", gv_strerror(rc));
		return 1;
	}
	for (unsigned t = 0; t < nthreads; t++) {
		w[t] = (struct dedup_worker){
		        .d = &d, .start = &start, .nops = per_thread};
		w[t].ids = malloc(per_thread * sizeof(uint64_t));
		if (!w[t].ids) {
			fprintf(stderr, "dedup: out of memory\n");
			exit(1);
		}
		dedup_stream(w[t].ids, per_thread, cfg->per_gen, t + 1);
	}
	pthread_barrier_init(&start, NULL, nthreads + 1);
	for (unsigned t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, dedup_worker, &w[t])) {
			fprintf(stderr, "dedup: pthread_create failed\n");
			exit(1);
		}
	pthread_barrier_wait(&start);
	double t0 = now_s();
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	double secs = now_s() - t0;
	pthread_barrier_destroy(&start);
	for (unsigned t = 0; t < nthreads; t++) {
		news += w[t].news;
		free(w[t].ids);
	}
	nops = per_thread * nthreads;

	printf("{\"bench\":\"dedup\",\"threads\":%u,\"ops\":%" PRIu64
	       ",\"seconds\":%.6f,\"ops_per_s\":%.0f,\"ns_per_op\":%.2f"
	       ",\"new\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"advances\":%" PRIu64
	       ",\"overflow\":%" PRIu64 ",\"per_gen\":%" PRIu64
	       ",\"ngens\":%" PRIu64 ",\"alloc\":\"%s\"}\n",
	       nthreads, nops, secs, (double)nops / secs,
	       secs * 1e9 / (double)nops, news, (uint64_t)atomic_load(&d.hits),
	       (uint64_t)atomic_load(&d.advances),
	       (uint64_t)atomic_load(&d.overflow), cfg->per_gen, cfg->ngens,
	       gv_mem_default_name());
	fflush(stdout);
	gv_dedup_fini(&d);
	return 0;
}

static int
bench_dedup(int argc, char **argv)
{
	struct dedup_cfg cfg = {
	        .nops = 4000000, .per_gen = 1 << 16, .ngens = 4};
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		uint64_t *opt = NULL;

		if (!strcmp(argv[i], "--ops"))
			opt = &cfg.nops;
		else if (!strcmp(argv[i], "--per-gen"))
			opt = &cfg.per_gen;
		else if (!strcmp(argv[i], "--gens"))
			opt = &cfg.ngens;
		if (!opt || i + 1 >= argc || parse_u64(argv[i + 1], opt)) {
			fprintf(stderr, "usage: bench_core %s\n", DEDUP_USAGE);
			return 2;
		}
		i++;
	}
	if (cfg.ngens > GV_DEDUP_MAX_GENS) {
		fprintf(stderr, "dedup: --gens at most %d\n",
		        GV_DEDUP_MAX_GENS);
		return 2;
	}
	for (unsigned t = 1; t <= DEDUP_MAX_THREADS && !rc; t++)
		rc = dedup_run(&cfg, t);
	return rc;
}


/*
 * store: put, get and merge rates of the versioned store, and the memory
 * each entry costs beyond its key and value bytes, two ways: the store's
 * own accounting (bytes requested) and the growth of the process's
 * resident set (what the allocator really used, rounding included).
 */
#define STORE_USAGE "store [--ops N] [--value-size N]  put/get/merge rates"

static long
rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * 4096;
}

static int
bench_store(int argc, char **argv)
{
	uint64_t nops = 1000000, vsize = 32;
	for (int i = 0; i < argc; i++) {
		uint64_t *opt = NULL;
		if (!strcmp(argv[i], "--ops"))
			opt = &nops;
		else if (!strcmp(argv[i], "--value-size"))
			opt = &vsize;
		if (!opt || i + 1 >= argc || parse_u64(argv[i + 1], opt) ||
		    vsize > 65536) {
			fprintf(stderr, "usage: bench_core %s\n", STORE_USAGE);
			return 2;
		}
		i++;
	}
	char *val = malloc(vsize);
	char (*keys)[24] = malloc(nops * sizeof(*keys));
	size_t *klen = malloc(nops * sizeof(size_t));
	if (!val || !keys || !klen) {
		fprintf(stderr, "store: out of memory\n");
		return 1;
	}
	memset(val, 'v', vsize);
	for (uint64_t i = 0; i < nops; i++)
		klen[i] = (size_t)snprintf(keys[i], sizeof(keys[i]),
					   "user:%010" PRIu64, i);

	gv_store s;
	if (gv_store_init(&s, gv_mem_default(), NULL)) {
		fprintf(stderr, "store: init failed\n");
		return 1;
	}
	long rss0 = rss_bytes();
	double t0 = now_s();
	for (uint64_t i = 0; i < nops; i++) {
		gv_version v = {gv_hlc_make(1000 + i, 0), 1};
		if (gv_store_put(&s, keys[i], klen[i], val, vsize, &v, NULL)) {
			fprintf(stderr, "store: put failed\n");
			return 1;
		}
	}
	double t_put = now_s() - t0;
	long rss1 = rss_bytes();

	gv_rng rng;
	gv_rng_seed(&rng, 1);
	uint64_t found = 0;
	t0 = now_s();
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t k = gv_rng_below(&rng, nops);
		gv_record r;
		found += gv_store_get(&s, keys[k], klen[k], &r) == 0;
	}
	double t_get = now_s() - t0;

	/* Remote overwrites that replace the current winner. */
	t0 = now_s();
	for (uint64_t i = 0; i < nops; i++) {
		gv_record in = {.key = (const uint8_t *)keys[i],
				.klen = klen[i],
				.val = (const uint8_t *)val,
				.vlen = vsize,
				.ver = {gv_hlc_make(1000 + nops + i, 0), 2},
				.prev = {gv_hlc_make(1000 + i, 0), 1}};
		if (gv_store_merge(&s, &in, NULL, NULL) != GV_MERGE_APPLIED) {
			fprintf(stderr, "store: merge failed\n");
			return 1;
		}
	}
	double t_merge = now_s() - t0;

	double rss_per_entry =
		rss0 < 0 || rss1 < 0
			? -1.0
			: (double)(rss1 - rss0) / (double)nops -
				  (double)(klen[0] + vsize);
	printf("{\"bench\":\"store\",\"entries\":%zu,\"value_size\":%" PRIu64
	       ",\"key_size\":%zu,\"put_per_s\":%.0f,\"get_per_s\":%.0f"
	       ",\"merge_per_s\":%.0f,\"overhead_bytes_per_entry\":%.1f"
	       ",\"load\":%.3f,\"rss_overhead_bytes_per_entry\":%.1f"
	       ",\"found\":%" PRIu64 ",\"alloc\":\"%s\"}\n",
	       s.count, vsize, klen[0], (double)nops / t_put,
	       (double)nops / t_get, (double)nops / t_merge,
	       gv_store_overhead_per_entry(&s),
	       (double)s.count / (double)s.cap, rss_per_entry, found,
	       gv_mem_default_name());
	fflush(stdout);
	gv_store_fini(&s);
	free(val);
	free(keys);
	free(klen);
	return 0;
}

static const struct bench {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} benches[] = {
        {"store", bench_store, STORE_USAGE},
        {"dedup", bench_dedup, DEDUP_USAGE},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_core <benchmark> [options]\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %s\n", benches[i].usage);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!strcmp(argv[1], benches[i].name))
			return benches[i].run(argc - 2, argv + 2);
	fprintf(stderr, "bench_core: unknown benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
