/* SPDX-License-Identifier: MIT */
/*
 * test_sim_detect.c - failure detection on the default configuration
 * (gv_node_config_default), in virtual time: how long a crashed node takes
 * to be seen dead by every live node at 5 and 150 nodes (p50/p99/max over
 * seeds, victims and crash phases), and that 10% loss over ten virtual
 * minutes raises suspicions that are all refuted, never a death. Figures
 * are printed as `# ` lines; the bounds are the targets of issue 16.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_check.h"

#define S 1000000ull /* one virtual second */
#define STEP 10000ull /* views checked every 10 virtual ms */

static gv_cluster *
cluster(size_t n, uint64_t seed, double loss)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.seed = seed;
	cfg.net.loss = loss;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	return c;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) (sorted here). */
static double
pct(double *v, size_t n, int p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	size_t r = (n * (size_t)p + 99) / 100;
	return v[r ? r - 1 : 0];
}

struct detect {
	double suspect_p50, suspect_p99;
	double dead_p50, dead_p99, dead_max;
	uint64_t false_suspicions; /* suspicions of live members */
	uint64_t false_deaths;     /* live members seen dead */
};

/*
 * Crash one node per trial (victim and crash phase drawn from the seed,
 * after 3 s of warm-up) and time, from the crash, the first suspicion of
 * it anywhere and the moment every live node holds it dead.
 */
static void
measure(size_t n, unsigned trials, uint64_t seed0, double loss,
	struct detect *d)
{
	double *sus = calloc(trials, sizeof(double));
	double *dead = calloc(trials, sizeof(double));
	assert_non_null(sus);
	assert_non_null(dead);
	memset(d, 0, sizeof(*d));
	for (unsigned t = 0; t < trials; t++) {
		uint64_t seed = seed0 + t;
		gv_cluster *c = cluster(n, seed, loss);
		gv_rng rng;
		gv_rng_seed(&rng, seed * 7919);
		size_t victim = gv_rng_below(&rng, n);
		gv_node_id vid = gv_cluster_id(c, victim);
		gv_cluster_run_for(c, 3 * S + gv_rng_below(&rng, S));
		gv_time tc = gv_cluster_now(c);
		assert_int_equal(gv_cluster_crash(c, victim), 0);
		gv_time ts = GV_TIME_NEVER, td = GV_TIME_NEVER;
		for (gv_time el = 0; el < 60 * S && td == GV_TIME_NEVER;
		     el += STEP) {
			gv_cluster_run_for(c, STEP);
			size_t k = gv_cluster_count_view(c, vid,
							 GV_MEMBER_DEAD);
			if (ts == GV_TIME_NEVER &&
			    (k || gv_cluster_count_view(c, vid,
							GV_MEMBER_SUSPECT)))
				ts = gv_cluster_now(c);
			if (k == n - 1)
				td = gv_cluster_now(c);
		}
		assert_true(td != GV_TIME_NEVER);
		sus[t] = (double)(ts - tc) / 1e6;
		dead[t] = (double)(td - tc) / 1e6;
		/* anyone else suspected or declared dead was alive */
		for (size_t i = 0; i < n; i++) {
			if (i == victim)
				continue;
			gv_node_id id = gv_cluster_id(c, i);
			d->false_suspicions +=
				gv_cluster_count_view(c, id, GV_MEMBER_SUSPECT);
			d->false_deaths +=
				gv_cluster_count_view(c, id, GV_MEMBER_DEAD);
		}
		gv_cluster_del(c);
	}
	d->suspect_p50 = pct(sus, trials, 50);
	d->suspect_p99 = pct(sus, trials, 99);
	d->dead_p50 = pct(dead, trials, 50);
	d->dead_p99 = pct(dead, trials, 99);
	d->dead_max = dead[trials - 1];
	free(sus);
	free(dead);
}

static void
report(size_t n, unsigned trials, double loss, const struct detect *d)
{
	printf("# crash of 1 of %zu, loss %.0f%%, %u trials: first suspicion "
	       "p50 %.2f s p99 %.2f s; dead at every live node p50 %.2f s "
	       "p99 %.2f s max %.2f s\n",
	       n, loss * 100, trials, d->suspect_p50, d->suspect_p99,
	       d->dead_p50, d->dead_p99, d->dead_max);
}

static void
test_detect_crash_5(void **state)
{
	struct detect d;
	measure(5, 40, 100, 0.0, &d);
	report(5, 40, 0.0, &d);
	assert_int_equal(d.false_deaths, 0);
	assert_true(d.dead_p99 <= 3.0);
}

static void
test_detect_crash_150(void **state)
{
	struct detect d;
	measure(150, 20, 200, 0.0, &d);
	report(150, 20, 0.0, &d);
	assert_int_equal(d.false_deaths, 0);
	assert_true(d.dead_p99 <= 3.0);
}

/* Under 10% loss detection may take a little longer. */
static void
test_detect_crash_150_at_10pct_loss(void **state)
{
	struct detect d;
	measure(150, 6, 300, 0.10, &d);
	report(150, 6, 0.10, &d);
	assert_int_equal(d.false_deaths, 0);
	assert_true(d.dead_p99 <= 4.0);
}

/*
 * No crash, 10% loss for ten virtual minutes: suspicions come and are
 * refuted; no live node is ever declared dead. Also the failure
 * detector's traffic: pings and relayed pings per node per second, and
 * every datagram per node per second (gossip included, the cluster idle).
 */
static void
no_false_death(size_t n, uint64_t seed)
{
	gv_cluster *c = cluster(n, seed, 0.10);
	gv_cluster_run_for(c, 600 * S);
	const gv_cluster_events *ev = gv_cluster_get_events(c);
	uint64_t susp = 0, refutes = 0, probes = 0, relays = 0, fails = 0;
	for (size_t i = 0; i < n; i++) {
		const gv_node_stats *st =
			gv_node_get_stats(gv_cluster_node(c, i));
		susp += st->suspicions;
		refutes += st->refutes;
		probes += st->probes;
		relays += st->ping_reqs;
		fails += st->probe_fails;
	}
	const gv_sim_stats *ss = gv_sim_get_stats(gv_cluster_sim(c));
	double per = (double)n * 600.0;
	printf("# %zu nodes, 10%% loss, 10 min: %llu failed probes (false "
	       "suspicions raised), %llu suspect views, %llu refutations, "
	       "%llu deaths; per node per second %.2f pings, %.2f relayed "
	       "pings, %.1f datagrams, %.0f bytes delivered\n",
	       n, (unsigned long long)fails, (unsigned long long)susp,
	       (unsigned long long)refutes,
	       (unsigned long long)ev->member_dead, (double)probes / per,
	       (double)relays / per, (double)ss->sent / per,
	       (double)ss->bytes_delivered / per);
	assert_int_equal(ev->member_dead, 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(gv_cluster_count_view(c, gv_cluster_id(c, i),
						       GV_MEMBER_DEAD),
				 0);
	gv_cluster_del(c);
}

static void
test_detect_no_false_death_5_at_10pct_loss(void **state)
{
	no_false_death(5, 61);
}

static void
test_detect_no_false_death_150_at_10pct_loss(void **state)
{
	no_false_death(150, 62);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_crash_5),
		cmocka_unit_test(test_detect_crash_150),
		cmocka_unit_test(test_detect_crash_150_at_10pct_loss),
		cmocka_unit_test(test_detect_no_false_death_5_at_10pct_loss),
		cmocka_unit_test(test_detect_no_false_death_150_at_10pct_loss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
