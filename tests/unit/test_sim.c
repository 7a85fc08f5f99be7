/* SPDX-License-Identifier: MIT */
/*
 * test_sim.c - the deterministic network simulator, driven by small test
 * endpoints written here: a "tick" endpoint that on its timer sends
 * numbered, timestamped datagrams to a fixed or a random peer (its own
 * seeded generator), and a "flood" endpoint that forwards one message to
 * `fanout` random peers when it first hears it and again for a few
 * periodic rounds. An observer on every delivery hashes the trace and
 * checks delays, groups and per-link order.
 *
 * Covered: addresses, configuration and allocation failures, determinism
 * by seed, latency bounds (uniform, reorder extra, region matrix), loss and
 * duplication rates, FIFO without reordering and inversions with it,
 * partitions and healing, crash and restart (kept and empty state,
 * scheduled), exact timer times and lazy deletion, unknown and oversize
 * datagrams, the run controls, and two size runs (a 100,000-endpoint flood
 * and 1,000 periodic endpoints for 60 virtual seconds) whose wall time is
 * printed, never asserted. Sanitizer builds run the size cases smaller.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/rng.h"
#include "sim/sim.h"
#include "test_mem.h"

#ifdef GV_SANITIZED
#define FLOOD_N 20000
#define PERIODIC_N 250
#else
#define FLOOD_N 100000
#define PERIODIC_N 1000
#endif

#define MS 1000u
#define SEC 1000000u

/* ------------------------------------------------------------ helpers */

static void
st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
st64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t
ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static double
wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t
dropped(const gv_sim_stats *st)
{
	return st->dropped_loss + st->dropped_partition + st->dropped_down +
	       st->dropped_unknown + st->dropped_oversize + st->dropped_nomem;
}

/* With nothing in flight, every datagram is accounted for exactly once. */
static void
check_accounting(gv_sim *sim)
{
	const gv_sim_stats *st = gv_sim_get_stats(sim);
	assert_int_equal(st->sent + st->duplicated,
	                 st->delivered + dropped(st));
}

/* ------------------------------------------------------- tick endpoint */

/* Payload: from u32, seq u32, sent_at u64, to u32, then filler. */
#define PAY_LEN 20

struct tick {
	gv_sim *sim;
	int self;
	int n;    /* peers are 0 .. n-1 */
	int peer; /* fixed destination, or -1: a random other one */
	gv_rng rng;
	gv_time next;   /* what next_expiry() returns */
	gv_time period; /* 0: one-shot (next becomes NEVER) */
	unsigned burst; /* datagrams per expiry */
	unsigned due;   /* datagrams waiting for send() */
	size_t len;     /* datagram length, >= PAY_LEN */
	bool stuck;     /* handle_expiry leaves next as it is */
	bool raw_dest;  /* send to dest instead of a peer */
	gv_addr dest;
	uint32_t seq;
	uint64_t nrecv;
	uint64_t nfired;
	gv_time fired[64]; /* the first 64 expiry times */
};

static int
tick_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
          size_t len)
{
	struct tick *t = ep;
	(void)now;
	(void)from;
	(void)buf;
	(void)len;
	t->nrecv++;
	return 0;
}

static ssize_t
tick_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	struct tick *t = ep;
	int dst;

	if (t->due == 0)
		return 0;
	assert_true(cap >= t->len);
	t->due--;
	if (t->peer >= 0) {
		dst = t->peer;
	} else {
		dst = (int)gv_rng_below(&t->rng, (uint64_t)t->n - 1);
		if (dst >= t->self)
			dst++;
	}
	if (t->raw_dest)
		*to = t->dest;
	else
		assert_int_equal(gv_sim_addr(t->sim, dst, to), 0);
	memset(buf, (int)(t->seq & 0xff), t->len);
	st32(buf, (uint32_t)t->self);
	st32(buf + 4, t->seq++);
	st64(buf + 8, now);
	st32(buf + 16, (uint32_t)dst);
	return (ssize_t)t->len;
}

static gv_time
tick_next_expiry(void *ep)
{
	struct tick *t = ep;
	return t->next;
}

static int
tick_handle_expiry(void *ep, gv_time now)
{
	struct tick *t = ep;

	if (t->nfired < 64)
		t->fired[t->nfired] = now;
	t->nfired++;
	if (t->stuck)
		return 0;
	t->due += t->burst;
	t->next = t->period ? now + t->period : GV_TIME_NEVER;
	return 0;
}

static const gv_sim_ops tick_ops = {
        tick_recv,
        tick_send,
        tick_next_expiry,
        tick_handle_expiry,
};

static void
tick_init(struct tick *t, gv_sim *sim, int self, int n, gv_time first,
          gv_time period, unsigned burst)
{
	memset(t, 0, sizeof(*t));
	t->sim = sim;
	t->self = self;
	t->n = n;
	t->peer = -1;
	gv_rng_seed(&t->rng, 0x71c0000u + (uint64_t)self);
	t->next = first;
	t->period = period;
	t->burst = burst;
	t->len = PAY_LEN;
}

/* n tick endpoints in slots 0..n-1; the first expiry of each is spread
 * over one period (drawn from `seed`). */
static struct tick *
ticks_attach(gv_sim *sim, int n, gv_time period, unsigned burst, uint64_t seed)
{
	struct tick *t = calloc((size_t)n, sizeof(*t));
	gv_rng g;

	assert_non_null(t);
	gv_rng_seed(&g, seed);
	for (int i = 0; i < n; i++) {
		gv_time first = 1 + gv_rng_below(&g, period);
		tick_init(&t[i], sim, i, n, first, period, burst);
		assert_int_equal(gv_sim_attach(sim, i, &tick_ops, &t[i]), 0);
	}
	return t;
}

/* Stop every timer and let the network drain. */
static void
ticks_quiesce(gv_sim *sim, struct tick *t, int n)
{
	for (int i = 0; i < n; i++) {
		t[i].next = GV_TIME_NEVER;
		t[i].period = 0;
		t[i].due = 0;
		if (gv_sim_is_up(sim, i))
			assert_int_equal(gv_sim_poke(sim, i), 0);
	}
	gv_sim_run_until(sim, GV_TIME_NEVER);
	assert_int_equal(gv_sim_pending(sim), 0);
}

/* ------------------------------------------------------------ observer */

#define OBS_MAXN 32

struct obs {
	gv_sim *sim;
	uint64_t hash;
	uint64_t n;   /* deliveries seen */
	uint64_t bad; /* deliveries breaking the expected bounds */
	/* delay bounds: [lo, hi + extra], per region pair if region set */
	gv_time lo, hi, extra;
	const unsigned *region;
	gv_time rlo[4][4], rhi[4][4];
	uint64_t per_pair[4][4];
	gv_time dmin, dmax;
	double dsum;
	uint64_t above_hi; /* delays above hi (reorder extra used) */
	/* partitions: deliveries between different groups of `group` */
	const unsigned *group;
	uint64_t cross;
	/* per-link order: last seq + 1 per (from, to) */
	uint32_t last[OBS_MAXN][OBS_MAXN];
	uint64_t inversions;
	/* deliveries to one endpoint */
	int watch;
	uint64_t watch_n;
	/* API calls from inside the observer must be refused */
	bool try_reentry;
	uint64_t reentry_refused;
};

static void
obs_init(struct obs *o, gv_time lo, gv_time hi)
{
	memset(o, 0, sizeof(*o));
	o->hash = UINT64_C(0xcbf29ce484222325);
	o->lo = lo;
	o->hi = hi;
	o->dmin = GV_TIME_NEVER;
	o->watch = -1;
}

static void
observe(void *ud, gv_time now, int from, int to, const uint8_t *buf, size_t len)
{
	struct obs *o = ud;
	gv_time lo = o->lo, hi = o->hi, delay;

	o->n++;
	o->hash = fnv(o->hash, &now, sizeof(now));
	o->hash = fnv(o->hash, &from, sizeof(from));
	o->hash = fnv(o->hash, &to, sizeof(to));
	o->hash = fnv(o->hash, &len, sizeof(len));
	o->hash = fnv(o->hash, buf, len);
	if (len < PAY_LEN || ld32(buf) != (uint32_t)from ||
	    ld32(buf + 16) != (uint32_t)to) {
		o->bad++;
		return;
	}
	delay = now - ld64(buf + 8);
	if (o->region) {
		unsigned ra = o->region[from], rb = o->region[to];
		lo = o->rlo[ra][rb];
		hi = o->rhi[ra][rb];
		o->per_pair[ra][rb]++;
	}
	if (delay < lo || delay > hi + o->extra)
		o->bad++;
	if (delay > hi)
		o->above_hi++;
	if (delay < o->dmin)
		o->dmin = delay;
	if (delay > o->dmax)
		o->dmax = delay;
	o->dsum += (double)delay;
	if (o->group && o->group[from] != o->group[to])
		o->cross++;
	if (from < OBS_MAXN && to < OBS_MAXN) {
		uint32_t seq = ld32(buf + 4);
		if (seq + 1 < o->last[from][to])
			o->inversions++;
		else
			o->last[from][to] = seq + 1;
	}
	if (to == o->watch)
		o->watch_n++;
	if (o->try_reentry) {
		if (gv_sim_poke(o->sim, to) == GV_EINVAL)
			o->reentry_refused++;
		if (gv_sim_attach(o->sim, to, NULL, NULL) == GV_EINVAL)
			o->reentry_refused++;
		if (gv_sim_step(o->sim) == 0)
			o->reentry_refused++;
	}
}

static gv_sim *
sim_make(gv_sim_config *cfg, struct obs *o)
{
	gv_sim *sim = NULL;

	if (o) {
		cfg->on_deliver = observe;
		cfg->ud = o;
	}
	assert_int_equal(gv_sim_new(&sim, cfg), 0);
	assert_non_null(sim);
	if (o)
		o->sim = sim;
	return sim;
}

/* ---------------------------------------------------------------- tests */

static void
test_sim_addresses(void **state)
{
	gv_sim_config cfg;
	gv_sim *sim;
	gv_addr a, b;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = 70000;
	sim = sim_make(&cfg, NULL);
	assert_int_equal(gv_sim_size(sim), 70000);

	/* Every address is distinct and maps back in O(1). */
	for (int i = 0; i < 70000; i++) {
		assert_int_equal(gv_sim_addr(sim, i, &a), 0);
		assert_int_equal(gv_sim_index(sim, &a), i);
	}
	assert_int_equal(gv_sim_addr(sim, 0, &a), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 7946);
	assert_int_equal(a.addr[0], 127);
	assert_int_equal(a.addr[1], 0);
	assert_int_equal(a.addr[2], 0);
	assert_int_equal(a.addr[3], 1);
	assert_int_equal(gv_sim_addr(sim, 65535, &a), 0);
	assert_int_equal(a.addr[1], 1);
	assert_int_equal(a.addr[2], 0);
	assert_int_equal(a.addr[3], 0);
	assert_int_equal(gv_sim_addr(sim, 1, &b), 0);
	assert_false(gv_addr_eq(&a, &b));

	/* Not endpoints. */
	assert_int_equal(gv_sim_addr(sim, 7, &a), 0);
	b = a;
	b.port++;
	assert_int_equal(gv_sim_index(sim, &b), -1);
	b = a;
	b.family = 6;
	assert_int_equal(gv_sim_index(sim, &b), -1);
	b = a;
	b.addr[0] = 10;
	assert_int_equal(gv_sim_index(sim, &b), -1);
	b = a;
	b.addr[3] = 0; /* 127.0.0.0 */
	assert_int_equal(gv_sim_index(sim, &b), -1);
	assert_int_equal(gv_sim_addr(sim, 69999, &b), 0);
	b.addr[3]++; /* index 70000 */
	assert_int_equal(gv_sim_index(sim, &b), -1);
	assert_int_equal(gv_sim_index(sim, NULL), -1);
	assert_int_equal(gv_sim_addr(sim, -1, &a), GV_EINVAL);
	assert_int_equal(gv_sim_addr(sim, 70000, &a), GV_EINVAL);
	assert_int_equal(gv_sim_addr(sim, 0, NULL), GV_EINVAL);
	gv_sim_del(sim);

	/* Another port. */
	cfg.port = 9000;
	cfg.nendpoints = 3;
	sim = sim_make(&cfg, NULL);
	assert_int_equal(gv_sim_addr(sim, 2, &a), 0);
	assert_int_equal(a.port, 9000);
	assert_int_equal(gv_sim_index(sim, &a), 2);
	gv_sim_del(sim);
}

static void
test_sim_config(void **state)
{
	gv_sim_config cfg, bad;
	gv_test_mem tm;
	gv_sim *sim = NULL;
	struct tick t;
	unsigned groups[4] = {0};
	static const gv_sim_ops half = {tick_recv, tick_send, NULL, NULL};
	(void)state;

	gv_sim_config_default(&cfg);
	assert_int_equal(cfg.lat_min_us, 200);
	assert_int_equal(cfg.lat_max_us, 1000);
	assert_int_equal(cfg.max_datagram, 65507);
	assert_int_equal(cfg.port, 7946);
	assert_true(cfg.loss == 0 && cfg.dup == 0 && cfg.reorder == 0);
	assert_null(cfg.mem);
	assert_null(cfg.on_deliver);

	/* Invalid configurations; *out untouched. */
	cfg.nendpoints = 4;
	const gv_sim_config *base = &cfg;
#define EXPECT_BAD(stmt)                                                       \
	do {                                                                   \
		bad = *base;                                                   \
		stmt;                                                          \
		sim = (gv_sim *)&bad;                                          \
		assert_int_equal(gv_sim_new(&sim, &bad), GV_EINVAL);           \
		assert_ptr_equal(sim, &bad);                                   \
	} while (0)
	EXPECT_BAD(bad.nendpoints = 0);
	EXPECT_BAD(bad.nendpoints = GV_SIM_MAX_ENDPOINTS + 1);
	EXPECT_BAD(bad.lat_min_us = 2000);
	EXPECT_BAD(bad.lat_max_us = GV_SIM_MAX_DELAY + 1);
	EXPECT_BAD(bad.reorder_extra_us = GV_SIM_MAX_DELAY + 1);
	EXPECT_BAD(bad.loss = -0.1);
	EXPECT_BAD(bad.dup = 1.5);
	EXPECT_BAD(bad.reorder = NAN);
	EXPECT_BAD(bad.max_datagram = 0);
	EXPECT_BAD(bad.max_datagram = GV_SIM_MAX_DATAGRAM + 1);
#undef EXPECT_BAD
	assert_int_equal(gv_sim_new(NULL, &cfg), GV_EINVAL);
	assert_int_equal(gv_sim_new(&sim, NULL), GV_EINVAL);
	gv_sim_del(NULL);

	/* Every allocation of gv_sim_new failing in turn: no leak. */
	gv_test_mem_init(&tm);
	cfg.mem = &tm.mem;
	for (long k = 0;; k++) {
		gv_test_mem_fail_after(&tm, k, 0);
		sim = NULL;
		int rc = gv_sim_new(&sim, &cfg);
		gv_test_mem_no_fail(&tm);
		if (rc == 0) {
			assert_true(k >= 4);
			gv_sim_del(sim);
			break;
		}
		assert_int_equal(rc, GV_ENOMEM);
		assert_null(sim);
		assert_int_equal(tm.live_allocs, 0);
	}
	assert_int_equal(tm.live_bytes, 0);

	/* Argument checks of the control calls. */
	sim = sim_make(&cfg, NULL);
	tick_init(&t, sim, 0, 4, GV_TIME_NEVER, 0, 0);
	assert_int_equal(gv_sim_attach(sim, 4, &tick_ops, &t), GV_EINVAL);
	assert_int_equal(gv_sim_attach(sim, -1, &tick_ops, &t), GV_EINVAL);
	assert_int_equal(gv_sim_attach(sim, 0, &half, &t), GV_EINVAL);
	assert_null(gv_sim_endpoint(sim, 0));
	assert_int_equal(gv_sim_attach(sim, 0, &tick_ops, &t), 0);
	assert_ptr_equal(gv_sim_endpoint(sim, 0), &t);
	assert_null(gv_sim_endpoint(sim, 4));
	assert_int_equal(gv_sim_set_region(sim, 0, GV_SIM_MAX_REGIONS),
	                 GV_EINVAL);
	assert_int_equal(gv_sim_set_region(sim, 4, 0), GV_EINVAL);
	assert_int_equal(gv_sim_set_region_latency(sim, 0, 1, 10, 9),
	                 GV_EINVAL);
	assert_int_equal(
	        gv_sim_set_region_latency(sim, GV_SIM_MAX_REGIONS, 0, 1, 2),
	        GV_EINVAL);
	assert_int_equal(
	        gv_sim_set_region_latency(sim, 0, 0, 0, GV_SIM_MAX_DELAY + 1),
	        GV_EINVAL);
	assert_int_equal(gv_sim_partition(sim, groups, 5), GV_EINVAL);
	assert_int_equal(gv_sim_partition(sim, NULL, 2), GV_EINVAL);
	assert_int_equal(gv_sim_partition(sim, NULL, 0), 0);
	assert_int_equal(gv_sim_set_group(sim, 4, 1), GV_EINVAL);
	assert_int_equal(gv_sim_set_link(sim, 0.1, 2, 0), GV_EINVAL);
	assert_int_equal(gv_sim_set_link(sim, NAN, 0, 0), GV_EINVAL);
	assert_int_equal(gv_sim_set_link(sim, 1, 1, 1), 0);
	assert_int_equal(gv_sim_crash(sim, 4), GV_EINVAL);
	assert_int_equal(gv_sim_restart(sim, 4, 0), GV_EINVAL);
	assert_int_equal(gv_sim_restart(sim, 1, 0), GV_EINVAL); /* empty */
	assert_int_equal(gv_sim_poke(sim, 1), GV_EINVAL);       /* empty */
	assert_int_equal(gv_sim_poke(sim, 4), GV_EINVAL);
	assert_false(gv_sim_is_up(sim, 4));
	assert_false(gv_sim_is_up(sim, -1));
	assert_true(gv_sim_is_up(sim, 1));
	assert_int_equal(gv_sim_step(sim), 0);
	gv_sim_del(sim);
	assert_int_equal(tm.live_bytes, 0);
}

/* One run of 64 tick endpoints under loss, duplication and reordering,
 * returning the hash of its delivery trace. */
static uint64_t
determinism_run(uint64_t seed, gv_sim_stats *st)
{
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = 64;
	cfg.seed = seed;
	cfg.loss = 0.1;
	cfg.dup = 0.05;
	cfg.reorder = 0.1;
	obs_init(&o, 200, 1000);
	o.extra = cfg.reorder_extra_us;
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, 64, 10 * MS, 2, 99);
	gv_sim_run_until(sim, 2 * SEC);
	assert_int_equal(gv_sim_crash(sim, 5), 0);
	gv_sim_run_until(sim, 2500 * MS);
	assert_int_equal(gv_sim_restart(sim, 5, 2600 * MS), 0);
	gv_sim_run_until(sim, 3 * SEC);
	ticks_quiesce(sim, t, 64);
	check_accounting(sim);
	*st = *gv_sim_get_stats(sim);
	assert_int_equal(o.n, st->delivered);
	assert_true(o.n > 20000);
	assert_int_equal(o.bad, 0);
	gv_sim_del(sim);
	free(t);
	return o.hash;
}

static void
test_sim_determinism(void **state)
{
	gv_sim_stats a, b, c;
	(void)state;

	uint64_t h1 = determinism_run(1, &a);
	uint64_t h2 = determinism_run(1, &b);
	uint64_t h3 = determinism_run(2, &c);
	assert_true(h1 == h2);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(h1 != h3);
	assert_true(a.dropped_loss != c.dropped_loss ||
	            a.duplicated != c.duplicated || a.reordered != c.reordered);
}

static void
test_sim_latency(void **state)
{
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	(void)state;

	/* Uniform in [300, 700]: both bounds reached, mean in the middle. */
	gv_sim_config_default(&cfg);
	cfg.nendpoints = 16;
	cfg.lat_min_us = 300;
	cfg.lat_max_us = 700;
	obs_init(&o, 300, 700);
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, 16, 1 * MS, 3, 1);
	gv_sim_run_until(sim, 1 * SEC);
	ticks_quiesce(sim, t, 16);
	assert_true(o.n >= 45000);
	assert_int_equal(o.bad, 0);
	assert_int_equal(o.dmin, 300);
	assert_int_equal(o.dmax, 700);
	assert_true(o.dsum / (double)o.n > 495 && o.dsum / (double)o.n < 505);
	assert_int_equal(gv_sim_get_stats(sim)->reordered, 0);
	gv_sim_del(sim);
	free(t);

	/* Reordering adds [0, 2000] to 30% of the datagrams. */
	cfg.reorder = 0.3;
	cfg.reorder_extra_us = 2000;
	obs_init(&o, 300, 700);
	o.extra = 2000;
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, 16, 1 * MS, 3, 1);
	gv_sim_run_until(sim, 1 * SEC);
	ticks_quiesce(sim, t, 16);
	st = gv_sim_get_stats(sim);
	assert_int_equal(o.bad, 0);
	assert_true(o.dmax > 2500 && o.dmax <= 2700);
	double f = (double)st->reordered / (double)st->sent;
	assert_true(f > 0.29 && f < 0.31);
	/* Extra delay > 0 pushes a delay above 700 with probability
	 * about 0.3 * E[min(1, extra / 400)]: well above 20%. */
	assert_true(o.above_hi > st->sent / 5);
	gv_sim_del(sim);
	free(t);

	/* Fixed latency: min == max. */
	cfg.reorder = 0;
	cfg.lat_min_us = cfg.lat_max_us = 250;
	obs_init(&o, 250, 250);
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, 16, 1 * MS, 1, 1);
	gv_sim_run_until(sim, 100 * MS);
	ticks_quiesce(sim, t, 16);
	assert_true(o.n > 1000);
	assert_int_equal(o.bad, 0);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_region_latency(void **state)
{
	enum { N = 30 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	unsigned region[N];
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	obs_init(&o, 0, 0);
	sim = sim_make(&cfg, &o);
	for (int i = 0; i < N; i++) {
		region[i] = (unsigned)i % 3;
		assert_int_equal(gv_sim_set_region(sim, i, region[i]), 0);
	}
	/* Region pairs not set keep the default [200, 1000]. */
	for (unsigned a = 0; a < 3; a++)
		for (unsigned b = 0; b < 3; b++) {
			o.rlo[a][b] = 200;
			o.rhi[a][b] = 1000;
		}
	struct {
		unsigned a, b;
		gv_time lo, hi;
	} set[] = {
	        {0, 0, 100, 200},
	        {1, 1, 1000, 1000},
	        {0, 1, 5000, 6000},
	        {2, 0, 20000, 20000},
	};
	for (size_t k = 0; k < sizeof(set) / sizeof(set[0]); k++) {
		assert_int_equal(gv_sim_set_region_latency(sim, set[k].a,
		                                           set[k].b, set[k].lo,
		                                           set[k].hi),
		                 0);
		o.rlo[set[k].a][set[k].b] = o.rlo[set[k].b][set[k].a] =
		        set[k].lo;
		o.rhi[set[k].a][set[k].b] = o.rhi[set[k].b][set[k].a] =
		        set[k].hi;
	}
	o.region = region;
	t = ticks_attach(sim, N, 2 * MS, 2, 5);
	gv_sim_run_until(sim, 1 * SEC);
	ticks_quiesce(sim, t, N);
	assert_int_equal(o.bad, 0);
	for (unsigned a = 0; a < 3; a++)
		for (unsigned b = 0; b < 3; b++)
			assert_true(o.per_pair[a][b] > 1000);
	check_accounting(sim);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_loss_dup(void **state)
{
	enum { N = 100 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	gv_sim_stats s0;
	double f;
	(void)state;

	/* 100 endpoints x 1000 datagrams/s: 100,000 per virtual second. */
	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	cfg.seed = 11;
	cfg.loss = 0.2;
	obs_init(&o, 200, 1000);
	sim = sim_make(&cfg, &o);
	st = gv_sim_get_stats(sim);
	t = ticks_attach(sim, N, 1 * MS, 1, 3);
	gv_sim_run_until(sim, 1 * SEC);
	assert_true(st->sent >= 99000);
	f = (double)st->dropped_loss / (double)st->sent;
	print_message("# loss 0.2: dropped %.4f of %llu\n", f,
	              (unsigned long long)st->sent);
	assert_true(f > 0.19 && f < 0.21);
	assert_int_equal(st->duplicated, 0);

	/* Duplication only. */
	assert_int_equal(gv_sim_set_link(sim, 0, 0.1, 0), 0);
	gv_sim_run_until(sim, 1010 * MS); /* in-flight ones land */
	s0 = *st;
	gv_sim_run_until(sim, 2 * SEC);
	f = (double)(st->duplicated - s0.duplicated) /
	    (double)(st->sent - s0.sent);
	print_message("# dup 0.1: duplicated %.4f\n", f);
	assert_true(f > 0.09 && f < 0.11);
	assert_int_equal(st->dropped_loss, s0.dropped_loss);
	f = (double)(st->delivered - s0.delivered) /
	    (double)(st->sent - s0.sent);
	assert_true(f > 1.09 && f < 1.11);

	/* Both: the duplicate is drawn for datagrams that were not lost. */
	assert_int_equal(gv_sim_set_link(sim, 0.2, 0.1, 0), 0);
	s0 = *st;
	gv_sim_run_until(sim, 3 * SEC);
	f = (double)(st->dropped_loss - s0.dropped_loss) /
	    (double)(st->sent - s0.sent);
	assert_true(f > 0.19 && f < 0.21);
	f = (double)(st->duplicated - s0.duplicated) /
	    (double)(st->sent - s0.sent - (st->dropped_loss - s0.dropped_loss));
	assert_true(f > 0.09 && f < 0.11);

	ticks_quiesce(sim, t, N);
	check_accounting(sim);
	assert_int_equal(o.n, st->delivered);
	assert_int_equal(o.bad, 0);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_reorder(void **state)
{
	enum { N = 8 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	(void)state;

	/* Fixed latency, no reordering: each link is FIFO. Bursts of four
	 * datagrams leave at the same virtual time. */
	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	cfg.lat_min_us = cfg.lat_max_us = 500;
	obs_init(&o, 500, 500);
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, N, 1 * MS, 4, 7);
	for (int i = 0; i < N; i++)
		t[i].peer = (i + 1) % N;
	gv_sim_run_until(sim, 2 * SEC);
	ticks_quiesce(sim, t, N);
	assert_true(o.n > 60000);
	assert_int_equal(o.bad, 0);
	assert_int_equal(o.inversions, 0);
	gv_sim_del(sim);
	free(t);

	/* With reordering, later datagrams overtake earlier ones. */
	cfg.reorder = 0.2;
	cfg.reorder_extra_us = 3000;
	obs_init(&o, 500, 500);
	o.extra = 3000;
	sim = sim_make(&cfg, &o);
	t = ticks_attach(sim, N, 1 * MS, 4, 7);
	for (int i = 0; i < N; i++)
		t[i].peer = (i + 1) % N;
	gv_sim_run_until(sim, 2 * SEC);
	ticks_quiesce(sim, t, N);
	assert_int_equal(o.bad, 0);
	print_message("# reorder 0.2: %llu inversions in %llu deliveries\n",
	              (unsigned long long)o.inversions,
	              (unsigned long long)o.n);
	assert_true(o.inversions > o.n / 20);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_partition(void **state)
{
	enum { N = 20 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	unsigned zero[N] = {0}, group[N];
	uint64_t cross, part, n, w;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	obs_init(&o, 200, 1000);
	sim = sim_make(&cfg, &o);
	st = gv_sim_get_stats(sim);
	t = ticks_attach(sim, N, 5 * MS, 2, 3);
	for (int i = 0; i < N; i++)
		group[i] = i < 7 ? 0 : i < 15 ? 1 : 2;

	/* Connected: traffic crosses the future group boundaries. */
	o.group = group;
	gv_sim_run_until(sim, 1 * SEC);
	assert_true(o.cross > 1000);
	assert_int_equal(st->dropped_partition, 0);

	/* Partitioned into three groups, with datagrams in flight: nothing
	 * crosses, in flight or new. */
	assert_int_equal(gv_sim_partition(sim, group, N), 0);
	cross = o.cross;
	n = o.n;
	gv_sim_run_until(sim, 2 * SEC);
	assert_int_equal(o.cross, cross);
	assert_true(o.n - n > 1000);
	assert_true(st->dropped_partition > 1000);

	/* Healed: traffic crosses again. */
	gv_sim_heal(sim);
	part = st->dropped_partition;
	gv_sim_run_until(sim, 3 * SEC);
	assert_true(o.cross - cross > 1000);
	assert_int_equal(st->dropped_partition, part);

	/* One endpoint isolated: nothing to or from it. */
	assert_int_equal(gv_sim_set_group(sim, 4, 9), 0);
	o.group = zero;
	o.watch = 4;
	gv_sim_run_until(sim, 3001 * MS); /* in-flight ones are dropped */
	w = o.watch_n;
	uint64_t recv4 = t[4].nrecv;
	gv_sim_run_until(sim, 4 * SEC);
	assert_int_equal(o.watch_n, w);
	assert_int_equal(t[4].nrecv, recv4);
	assert_true(t[4].seq > 0);
	assert_true(st->dropped_partition > part + 300);

	/* gv_sim_partition with a shorter array: the rest go to group 0. */
	unsigned two[2] = {5, 5};
	assert_int_equal(gv_sim_partition(sim, two, 2), 0);
	unsigned expect[N] = {5, 5};
	o.group = expect;
	o.watch = -1;
	gv_sim_run_until(sim, 4001 * MS);
	cross = o.cross;
	gv_sim_run_until(sim, 5 * SEC);
	assert_int_equal(o.cross, cross);

	ticks_quiesce(sim, t, N);
	check_accounting(sim);
	assert_int_equal(o.bad, 0);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_crash_restart(void **state)
{
	enum { N = 4 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t, fresh;
	const gv_sim_stats *st;
	uint64_t fired, recv, sent, w;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	obs_init(&o, 200, 1000);
	sim = sim_make(&cfg, &o);
	st = gv_sim_get_stats(sim);
	t = ticks_attach(sim, N, 10 * MS, 1, 4);
	gv_sim_run_until(sim, 100 * MS);
	assert_true(t[2].nfired >= 9);

	/* Crashed: no timer, no delivery, nothing sent. */
	assert_int_equal(gv_sim_crash(sim, 2), 0);
	assert_false(gv_sim_is_up(sim, 2));
	assert_int_equal(gv_sim_crash(sim, 2), 0); /* no-op */
	fired = t[2].nfired;
	recv = t[2].nrecv;
	sent = t[2].seq;
	gv_time missed = t[2].next;
	o.watch = 2;
	gv_sim_run_until(sim, 300 * MS);
	assert_int_equal(o.watch_n, 0);
	assert_int_equal(t[2].nfired, fired);
	assert_int_equal(t[2].nrecv, recv);
	assert_int_equal(t[2].seq, sent);
	assert_true(st->dropped_down > 10);
	assert_int_equal(gv_sim_poke(sim, 2), 0); /* down: does nothing */
	assert_int_equal(t[2].seq, sent);

	/* Kept-state restart: the expiry missed while down fires at once,
	 * then the timer runs on. */
	assert_true(missed < 300 * MS);
	assert_int_equal(gv_sim_restart(sim, 2, 0), 0);
	assert_true(gv_sim_is_up(sim, 2));
	assert_int_equal(gv_sim_restart(sim, 2, 0), 0); /* already up */
	gv_sim_run_until(sim, 300 * MS);
	assert_int_equal(t[2].nfired, fired + 1);
	assert_int_equal(t[2].fired[fired], 300 * MS);
	gv_sim_run_until(sim, 400 * MS);
	assert_int_equal(t[2].nfired, fired + 11);
	assert_int_equal(t[2].fired[fired + 10], 400 * MS);
	assert_true(t[2].nrecv > recv);
	assert_true(o.watch_n > 0);

	/* A scheduled restart. */
	assert_int_equal(gv_sim_crash(sim, 1), 0);
	assert_int_equal(gv_sim_restart(sim, 1, 450 * MS), 0);
	gv_sim_run_until(sim, 450 * MS - 1);
	assert_false(gv_sim_is_up(sim, 1));
	fired = t[1].nfired;
	gv_sim_run_until(sim, 450 * MS);
	assert_true(gv_sim_is_up(sim, 1));
	assert_int_equal(t[1].nfired, fired + 1);
	assert_int_equal(t[1].fired[fired], 450 * MS);

	/* A crash cancels a scheduled restart. */
	assert_int_equal(gv_sim_crash(sim, 3), 0);
	assert_int_equal(gv_sim_restart(sim, 3, 500 * MS), 0);
	gv_sim_run_until(sim, 480 * MS);
	assert_int_equal(gv_sim_crash(sim, 3), 0);
	gv_sim_run_until(sim, 600 * MS);
	assert_false(gv_sim_is_up(sim, 3));

	/* Empty-state restart: a fresh endpoint attached while down. The
	 * old one is never called again. */
	tick_init(&fresh, sim, 3, N, 605 * MS, 10 * MS, 1);
	assert_int_equal(gv_sim_attach(sim, 3, &tick_ops, &fresh), 0);
	assert_int_equal(fresh.nfired, 0); /* down: not armed yet */
	gv_sim_run_until(sim, 602 * MS);
	assert_int_equal(gv_sim_restart(sim, 3, 0), 0);
	struct tick old = t[3];
	gv_sim_run_until(sim, 800 * MS);
	assert_int_equal(fresh.fired[0], 605 * MS);
	assert_int_equal(fresh.nfired, 20);
	assert_true(fresh.nrecv > 0);
	assert_memory_equal(&old, &t[3], sizeof(old));

	/* Replacing an endpoint that is up works the same way. */
	tick_init(&t[3], sim, 3, N, 805 * MS, 10 * MS, 1);
	assert_int_equal(gv_sim_attach(sim, 3, &tick_ops, &t[3]), 0);
	fired = fresh.nfired;
	recv = fresh.nrecv;
	gv_sim_run_until(sim, 900 * MS);
	assert_int_equal(fresh.nfired, fired);
	assert_int_equal(fresh.nrecv, recv);
	assert_int_equal(t[3].nfired, 10);

	/* Emptying a slot: datagrams to it are unknown on arrival. */
	assert_int_equal(gv_sim_attach(sim, 3, NULL, NULL), 0);
	w = st->dropped_unknown;
	gv_sim_run_until(sim, 1000 * MS);
	assert_true(st->dropped_unknown > w);
	assert_int_equal(t[3].nfired, 10);

	o.watch = -1;
	ticks_quiesce(sim, t, 3);
	check_accounting(sim);
	assert_int_equal(o.bad, 0);
	gv_sim_del(sim);
	free(t);
}

static void
test_sim_timers(void **state)
{
	gv_sim_config cfg;
	gv_sim *sim;
	struct tick t;
	const gv_sim_stats *st;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = 1;
	sim = sim_make(&cfg, NULL);
	st = gv_sim_get_stats(sim);

	/* A one-shot at 1000 us. */
	tick_init(&t, sim, 0, 1, 1000, 0, 0);
	assert_int_equal(gv_sim_attach(sim, 0, &tick_ops, &t), 0);
	gv_sim_run_until(sim, 999);
	assert_int_equal(t.nfired, 0);
	gv_sim_run_until(sim, 5000);
	assert_int_equal(t.nfired, 1);
	assert_int_equal(t.fired[0], 1000);
	assert_int_equal(gv_sim_now(sim), 5000);

	/* Moved three times: only the last one fires; the two others are
	 * skipped when popped. */
	t.next = 8000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t.next = 6000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t.next = 9000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	gv_sim_run_until(sim, 20000);
	assert_int_equal(t.nfired, 2);
	assert_int_equal(t.fired[1], 9000);
	assert_int_equal(st->timers_stale, 2);
	assert_int_equal(st->timers, 2);

	/* Moved earlier: fires at the earlier time, once. */
	t.next = 30000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t.next = 25000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(gv_sim_poke(sim, 0), 0); /* unchanged: no event */
	assert_int_equal(gv_sim_pending(sim), 2);
	gv_sim_run_until(sim, 35000);
	assert_int_equal(t.nfired, 3);
	assert_int_equal(t.fired[2], 25000);
	assert_int_equal(st->timers_stale, 3);

	/* Cancelled (NEVER): nothing fires. */
	t.next = 36000;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t.next = GV_TIME_NEVER;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	gv_sim_run_until(sim, 40000);
	assert_int_equal(t.nfired, 3);

	/* Periodic every 250 us from 40000: exact times, inclusive of t. */
	t.next = 40000;
	t.period = 250;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	gv_sim_run_until(sim, 41000);
	assert_int_equal(t.nfired, 8);
	for (unsigned k = 0; k < 5; k++)
		assert_int_equal(t.fired[3 + k], 40000 + 250 * k);

	/* An expiry in the past fires now. */
	t.next = 100;
	t.period = 0;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	gv_sim_run_until(sim, 41000);
	assert_int_equal(t.nfired, 9);
	assert_int_equal(t.fired[8], 41000);

	/* An endpoint that leaves its expiry in the past after handling it
	 * does not stall the clock: it is called again 1 us later. */
	t.next = 0;
	t.stuck = true;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	gv_sim_run_until(sim, 41009);
	assert_int_equal(t.nfired, 19);
	for (unsigned k = 0; k < 10; k++)
		assert_int_equal(t.fired[9 + k], 41000 + k);
	t.stuck = false;
	t.next = GV_TIME_NEVER;
	gv_sim_run_until(sim, GV_TIME_NEVER);
	assert_int_equal(t.nfired, 20);
	assert_int_equal(gv_sim_pending(sim), 0);

	/* The clock never moves backwards; NEVER leaves it alone. */
	gv_time now = gv_sim_now(sim);
	gv_sim_run_until(sim, 10);
	assert_int_equal(gv_sim_now(sim), now);
	gv_sim_run_until(sim, GV_TIME_NEVER);
	assert_int_equal(gv_sim_now(sim), now);

	/* A crashed endpoint's timer is dropped; a restart re-arms it. */
	t.next = now + 100;
	t.period = 100;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(gv_sim_crash(sim, 0), 0);
	gv_sim_run_until(sim, now + 1000);
	assert_int_equal(t.nfired, 20);
	assert_int_equal(gv_sim_restart(sim, 0, now + 1050), 0);
	gv_sim_run_until(sim, now + 1200);
	assert_int_equal(t.nfired, 22);
	assert_int_equal(t.fired[20], now + 1050);
	assert_int_equal(t.fired[21], now + 1150);
	gv_sim_del(sim);
}

static void
test_sim_unknown_oversize(void **state)
{
	enum { N = 4 };
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	cfg.max_datagram = 1400;
	obs_init(&o, 200, 1000);
	sim = sim_make(&cfg, &o);
	st = gv_sim_get_stats(sim);
	t = calloc(N, sizeof(*t));
	assert_non_null(t);
	for (int i = 0; i < N; i++)
		tick_init(&t[i], sim, i, N, GV_TIME_NEVER, 0, 0);
	for (int i = 0; i < N - 1; i++) /* slot 3 stays empty */
		assert_int_equal(gv_sim_attach(sim, i, &tick_ops, &t[i]), 0);

	/* 1400 bytes pass, 1401 and the largest send are dropped. */
	t[0].peer = 1;
	t[0].len = 1400;
	t[0].due = 5;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t[0].len = 1401;
	t[0].due = 3;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	t[0].len = GV_SIM_SEND_CAP;
	t[0].due = 1;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(st->sent, 9);
	assert_int_equal(st->dropped_oversize, 4);
	gv_sim_run_until(sim, GV_TIME_NEVER);
	assert_int_equal(t[1].nrecv, 5);
	assert_int_equal(st->bytes_delivered, 5 * 1400);

	/* Addresses that are no endpoint's. */
	t[0].len = PAY_LEN;
	t[0].raw_dest = true;
	assert_int_equal(gv_sim_addr(sim, 1, &t[0].dest), 0);
	t[0].dest.port = 1;
	t[0].due = 1;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(gv_sim_addr(sim, 1, &t[0].dest), 0);
	t[0].dest.family = 6;
	t[0].due = 1;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(gv_sim_addr(sim, N - 1, &t[0].dest), 0);
	t[0].dest.addr[3]++; /* index N */
	t[0].due = 1;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(st->dropped_unknown, 3);
	assert_int_equal(gv_sim_pending(sim), 0);

	/* A slot with no endpoint: dropped on arrival. */
	t[0].raw_dest = false;
	t[0].peer = 3;
	t[0].due = 2;
	assert_int_equal(gv_sim_poke(sim, 0), 0);
	assert_int_equal(gv_sim_pending(sim), 2);
	gv_sim_run_until(sim, GV_TIME_NEVER);
	assert_int_equal(st->dropped_unknown, 5);
	assert_int_equal(st->delivered, 5);
	assert_int_equal(o.n, 5);
	check_accounting(sim);
	gv_sim_del(sim);
	free(t);
}

struct until {
	struct tick *t;
	uint64_t want;
};

static bool
recv_below(void *ud)
{
	struct until *u = ud;
	return u->t->nrecv < u->want;
}

static bool
always(void *ud)
{
	(void)ud;
	return true;
}

static void
test_sim_run_controls(void **state)
{
	gv_sim_config cfg;
	struct obs o;
	gv_sim *sim;
	struct tick *t;
	struct until u;
	gv_time now;
	(void)state;

	gv_sim_config_default(&cfg);
	cfg.nendpoints = 2;
	obs_init(&o, 200, 1000);
	sim = sim_make(&cfg, &o);
	assert_int_equal(gv_sim_step(sim), 0);
	t = ticks_attach(sim, 2, 1 * MS, 1, 1);
	assert_int_equal(gv_sim_pending(sim), 2);

	/* Stops right after the event that made cond false. */
	u.t = &t[1];
	u.want = 10;
	assert_true(gv_sim_run_while(sim, recv_below, &u, GV_TIME_NEVER));
	assert_int_equal(t[1].nrecv, 10);
	now = gv_sim_now(sim);
	assert_true(now > 9 * MS && now < 12 * MS);
	/* Already false: returns at once. */
	assert_true(gv_sim_run_while(sim, recv_below, &u, GV_TIME_NEVER));
	assert_int_equal(gv_sim_now(sim), now);

	/* The deadline: the clock ends on it. */
	assert_false(gv_sim_run_while(sim, always, NULL, now + 5 * MS));
	assert_int_equal(gv_sim_now(sim), now + 5 * MS);
	/* A deadline not reached by cond. */
	u.want = 1000000;
	assert_false(gv_sim_run_while(sim, recv_below, &u, 50 * MS));
	assert_int_equal(gv_sim_now(sim), 50 * MS);

	/* One event at a time. */
	uint64_t ev = gv_sim_get_stats(sim)->events;
	assert_int_equal(gv_sim_step(sim), 1);
	assert_int_equal(gv_sim_get_stats(sim)->events, ev + 1);
	assert_true(gv_sim_now(sim) >= 50 * MS);

	/* The observer cannot poke, attach or run the simulator. */
	o.try_reentry = true;
	uint64_t n = o.n;
	gv_sim_run_until(sim, 60 * MS);
	assert_true(o.n > n);
	assert_int_equal(o.reentry_refused, 3 * (o.n - n));
	o.try_reentry = false;

	ticks_quiesce(sim, t, 2);
	assert_int_equal(gv_sim_step(sim), 0);
	assert_false(gv_sim_run_while(sim, always, NULL, GV_TIME_NEVER));
	check_accounting(sim);
	assert_true(gv_sim_get_stats(sim)->peak_queue >= 2);
	gv_sim_del(sim);
	free(t);
}

/* Allocation failures while running: datagrams dropped and counted,
 * nothing leaked, datagrams in flight (and duplicates) freed by del. */
static void
test_sim_nomem(void **state)
{
	enum { N = 20 };
	gv_sim_config cfg;
	gv_test_mem tm;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	(void)state;

	gv_test_mem_init(&tm);
	gv_sim_config_default(&cfg);
	cfg.nendpoints = N;
	cfg.mem = &tm.mem;
	cfg.dup = 0.5;
	sim = sim_make(&cfg, NULL);
	st = gv_sim_get_stats(sim);
	t = ticks_attach(sim, N, 1 * MS, 20, 2);
	gv_sim_run_until(sim, 10 * MS);
	assert_true(st->pool_bytes > 0);

	/* Larger datagrams need a new size class: every allocation fails. */
	for (int i = 0; i < N; i++)
		t[i].len = 1000;
	gv_test_mem_fail_after(&tm, 0, 1);
	gv_sim_run_until(sim, 20 * MS);
	assert_true(st->dropped_nomem > 100);
	gv_test_mem_no_fail(&tm);
	gv_sim_run_until(sim, 30 * MS);

	/* The next datagrams get through again. */
	uint64_t d = st->delivered;
	gv_sim_run_until(sim, 40 * MS);
	assert_true(st->delivered > d + 100);

	/* Deleted with datagrams (and shared duplicates) in flight. */
	gv_sim_run_until(sim, 40 * MS + 300);
	assert_true(gv_sim_pending(sim) > N);
	gv_sim_del(sim);
	assert_int_equal(tm.live_bytes, 0);
	assert_int_equal(tm.live_allocs, 0);
	free(t);
}

/* ------------------------------------------------------ flood endpoint */

#define FLOOD_FANOUT 3
#define FLOOD_ROUNDS 5
#define FLOOD_ROUND (100 * MS)

struct flood {
	gv_sim *sim;
	uint32_t self, n;
	gv_rng rng;
	gv_time next;
	uint64_t *infected; /* shared counter */
	uint8_t have;
	uint8_t rounds_left;
	uint8_t pending;
};

static int
flood_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
           size_t len)
{
	struct flood *f = ep;
	(void)from;
	if (len != 8 || ld64(buf) != UINT64_C(0xfeed))
		return GV_EMALFORMED;
	if (f->have)
		return 0;
	f->have = 1;
	(*f->infected)++;
	f->pending = FLOOD_FANOUT;
	f->rounds_left = FLOOD_ROUNDS;
	f->next = now + FLOOD_ROUND;
	return 0;
}

static ssize_t
flood_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	struct flood *f = ep;
	uint32_t dst;
	(void)now;
	(void)cap;

	if (f->pending == 0)
		return 0;
	f->pending--;
	dst = (uint32_t)gv_rng_below(&f->rng, f->n - 1);
	if (dst >= f->self)
		dst++;
	gv_sim_addr(f->sim, (int)dst, to);
	st64(buf, UINT64_C(0xfeed));
	return 8;
}

static gv_time
flood_next_expiry(void *ep)
{
	struct flood *f = ep;
	return f->next;
}

static int
flood_handle_expiry(void *ep, gv_time now)
{
	struct flood *f = ep;

	if (f->rounds_left == 0) {
		f->next = GV_TIME_NEVER;
		return 0;
	}
	f->rounds_left--;
	f->pending = FLOOD_FANOUT;
	f->next = f->rounds_left ? now + FLOOD_ROUND : GV_TIME_NEVER;
	return 0;
}

static const gv_sim_ops flood_ops = {
        flood_recv,
        flood_send,
        flood_next_expiry,
        flood_handle_expiry,
};

static bool
not_all_infected(void *ud)
{
	uint64_t *c = ud;
	return *c < FLOOD_N;
}

/*
 * One message from endpoint 0, pushed to 3 random peers by each endpoint
 * that first hears it and again in each of 5 rounds 100 ms apart: every
 * one of FLOOD_N endpoints gets it (the eager push alone misses about
 * e^-3 of them).
 */
static void
test_sim_flood_large(void **state)
{
	gv_sim_config cfg;
	gv_sim *sim;
	struct flood *f;
	uint64_t infected = 0;
	const gv_sim_stats *st;
	double w0, w1, w2;
	(void)state;

	w0 = wall_now();
	gv_sim_config_default(&cfg);
	cfg.nendpoints = FLOOD_N;
	cfg.seed = 1;
	sim = sim_make(&cfg, NULL);
	st = gv_sim_get_stats(sim);
	f = calloc(FLOOD_N, sizeof(*f));
	assert_non_null(f);
	for (uint32_t i = 0; i < FLOOD_N; i++) {
		f[i].sim = sim;
		f[i].self = i;
		f[i].n = FLOOD_N;
		f[i].next = GV_TIME_NEVER;
		f[i].infected = &infected;
		gv_rng_seed(&f[i].rng, 1000 + i);
		assert_int_equal(gv_sim_attach(sim, (int)i, &flood_ops, &f[i]),
		                 0);
	}

	/* The origin's "local put". */
	f[0].have = 1;
	infected = 1;
	f[0].pending = FLOOD_FANOUT;
	f[0].rounds_left = FLOOD_ROUNDS;
	f[0].next = FLOOD_ROUND;
	assert_int_equal(gv_sim_poke(sim, 0), 0);

	w1 = wall_now();
	assert_true(
	        gv_sim_run_while(sim, not_all_infected, &infected, 30 * SEC));
	gv_time converged = gv_sim_now(sim);
	gv_sim_run_until(sim, GV_TIME_NEVER);
	w2 = wall_now();
	assert_int_equal(infected, FLOOD_N);
	for (uint32_t i = 0; i < FLOOD_N; i++)
		assert_int_equal(f[i].have, 1);
	assert_int_equal(st->sent,
	                 (uint64_t)FLOOD_N * FLOOD_FANOUT * (1 + FLOOD_ROUNDS));
	assert_int_equal(st->delivered, st->sent);
	assert_int_equal(st->recv_errors, 0);
	print_message("# flood: %d endpoints, all reached at %.3f virtual s; "
	              "%llu datagrams, %llu events, peak queue %llu; "
	              "wall %.2f s (setup %.2f s)\n",
	              FLOOD_N, (double)converged / SEC,
	              (unsigned long long)st->sent,
	              (unsigned long long)st->events,
	              (unsigned long long)st->peak_queue, w2 - w0, w1 - w0);
	gv_sim_del(sim);
	free(f);
}

/* PERIODIC_N endpoints, each sending 3 datagrams to random peers every
 * 100 ms, for 60 virtual seconds. */
static void
test_sim_periodic_large(void **state)
{
	gv_sim_config cfg;
	gv_sim *sim;
	struct tick *t;
	const gv_sim_stats *st;
	double w0, w1;
	(void)state;

	w0 = wall_now();
	gv_sim_config_default(&cfg);
	cfg.nendpoints = PERIODIC_N;
	cfg.seed = 3;
	sim = sim_make(&cfg, NULL);
	st = gv_sim_get_stats(sim);
	t = ticks_attach(sim, PERIODIC_N, 100 * MS, 3, 17);
	gv_sim_run_until(sim, 60 * SEC);
	w1 = wall_now();
	assert_int_equal(st->sent, (uint64_t)PERIODIC_N * 600 * 3);
	assert_int_equal(st->timers, (uint64_t)PERIODIC_N * 600);
	assert_true(st->delivered + 3 * PERIODIC_N >= st->sent);
	print_message("# periodic: %d endpoints x 60 virtual s: "
	              "%llu datagrams, %llu events, peak queue %llu; "
	              "wall %.2f s\n",
	              PERIODIC_N, (unsigned long long)st->sent,
	              (unsigned long long)st->events,
	              (unsigned long long)st->peak_queue, w1 - w0);
	ticks_quiesce(sim, t, PERIODIC_N);
	check_accounting(sim);
	gv_sim_del(sim);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sim_addresses),
	        cmocka_unit_test(test_sim_config),
	        cmocka_unit_test(test_sim_determinism),
	        cmocka_unit_test(test_sim_latency),
	        cmocka_unit_test(test_sim_region_latency),
	        cmocka_unit_test(test_sim_loss_dup),
	        cmocka_unit_test(test_sim_reorder),
	        cmocka_unit_test(test_sim_partition),
	        cmocka_unit_test(test_sim_crash_restart),
	        cmocka_unit_test(test_sim_timers),
	        cmocka_unit_test(test_sim_unknown_oversize),
	        cmocka_unit_test(test_sim_run_controls),
	        cmocka_unit_test(test_sim_nomem),
	        cmocka_unit_test(test_sim_flood_large),
	        cmocka_unit_test(test_sim_periodic_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
