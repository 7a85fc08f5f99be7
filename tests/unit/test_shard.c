/* SPDX-License-Identifier: MIT */
/*
 * test_shard.c - the shard runtime (engine/shard/shard.c) driven as its
 * owners drive it: 100,000 commands applied once each and in order, their
 * replies taken in order (on io_uring when the kernel allows it and on the
 * recvmmsg fallback); replies held back by a tiny reply ring, with no
 * command taken meanwhile, and handed out after a stop; a callback that
 * answers too often; commands never taken handed back after a stop; at
 * most one ring of commands per loop iteration; snapshots published on
 * request, reflecting every command submitted before the request; two
 * shards of three gv_nodes each on loopback, a put made in on_cmd
 * reaching all six; the callbacks, a stop asked from inside the loop, the
 * argument checks, the CPU list and pinning.
 *
 * Nothing here asserts on time: waits are bounded (WAIT_S seconds) and
 * fail saying what they waited for. Callbacks run on the shard's thread,
 * where cmocka cannot fail a test, so they record what they saw in
 * atomics (or in fields the owner reads after gv_shard_stop's join) and
 * the owner asserts. Where the kernel gives no event loop or no loopback
 * socket, the whole program exits 77 (skipped).
 */
#define _GNU_SOURCE /* sched_getcpu, pthread_getname_np */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/node.h"
#include "io/io.h"
#include "shard/shard.h"

#define MS 1000u
#define SEC 1000000u
#define WAIT_S 30 /* bound on any wait (TSan and a busy machine are slow) */

static const int backend_auto = GV_IO_AUTO;
static const int backend_mmsg = GV_IO_MMSG;

static void
sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Poll cond every 100 us for WAIT_S seconds, then fail naming what. */
#define WAIT_UNTIL(cond, what)                                                 \
	do {                                                                   \
		gv_time t0_ = gv_io_now();                                     \
		while (!(cond)) {                                              \
			if (gv_io_now() - t0_ > (gv_time)WAIT_S * SEC)         \
				fail_msg("waited %d s for %s", WAIT_S, what);  \
			sleep_us(100);                                         \
		}                                                              \
	} while (0)

/* Warnings and errors the shards logged (a pin refused, a loop error). */
static atomic_uint log_warnings;

static void
test_log(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level <= GV_IO_LOG_WARN) {
		atomic_fetch_add(&log_warnings, 1);
		fprintf(stderr, "# shard log (%d): %s\n", level, msg);
	}
}

static void
base_config(gv_shard_config *cfg, gv_shard_ops ops, void *ud, size_t cmd_size)
{
	gv_shard_config_default(cfg);
	cfg->name = "tshard";
	cfg->io.log = test_log;
	cfg->cmd_size = cmd_size;
	cfg->ops = ops;
	cfg->ud = ud;
}

/*
 * Shards not yet freed: a test that fails leaves its shards running, and
 * the teardown (reap) stops and frees them before the next test. For the
 * same reason every context a callback touches is static, not on the
 * stack of a test function that a failure unwinds.
 */
#define MAX_LIVE 4
static gv_shard *live[MAX_LIVE];

static gv_shard *
new_shard(const gv_shard_config *cfg)
{
	gv_shard *sh = NULL;

	assert_int_equal(gv_shard_new(&sh, cfg), 0);
	assert_non_null(sh);
	for (unsigned i = 0; i < MAX_LIVE; i++) {
		if (!live[i]) {
			live[i] = sh;
			return sh;
		}
	}
	fail_msg("more than %d shards at once", MAX_LIVE);
	return NULL;
}

static void
del_shard(gv_shard *sh)
{
	for (unsigned i = 0; i < MAX_LIVE; i++)
		if (live[i] == sh)
			live[i] = NULL;
	gv_shard_del(sh);
}

static int
reap(void **state)
{
	(void)state;
	for (unsigned i = 0; i < MAX_LIVE; i++) {
		if (live[i]) {
			gv_shard_del(live[i]);
			live[i] = NULL;
		}
	}
	return 0;
}

/* Stop (from here) and free; the shard's counters are read before. */
static void
stop_and_stats(gv_shard *sh, gv_shard_stats *st)
{
	gv_shard_stop(sh);
	assert_true(gv_shard_done(sh));
	assert_int_equal(gv_shard_error(sh), 0);
	gv_shard_get_stats(sh, st);
}

/* ---- 1. order and exactly-once ---------------------------------------- */

typedef struct seq_cmd {
	uint64_t seq;
	uint32_t tag;
	uint32_t pad;
} seq_cmd;

typedef struct seq_reply {
	uint64_t seq;
} seq_reply;

typedef struct order_ctx {
	uint64_t next;          /* shard thread: the sequence expected */
	atomic_ulong bad_seq;   /* commands out of order or repeated */
	atomic_ulong bad_reply; /* gv_shard_reply refused */
} order_ctx;

static void
order_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	order_ctx *c = ud;
	seq_cmd *k = cmd;
	seq_reply r = {k->seq};

	(void)now;
	if (k->seq != c->next || k->tag != (uint32_t)(k->seq * 2654435761u))
		atomic_fetch_add(&c->bad_seq, 1);
	c->next = k->seq + 1;
	if (gv_shard_reply(sh, &r) != 0)
		atomic_fetch_add(&c->bad_reply, 1);
}

#define ORDER_N 100000u
#define ORDER_BURST 700u

static void
test_shard_cmds_in_order(void **state)
{
	gv_shard_ops ops = {.on_cmd = order_on_cmd};
	gv_shard_config cfg;
	gv_shard_stats st;
	static order_ctx ctx;
	gv_shard *sh;
	uint64_t sub = 0, took = 0, efull = 0;
	gv_time t0;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.io.backend = **(const int **)state;
	cfg.reply_size = sizeof(seq_reply);
	cfg.cmd_cap = 1024;
	cfg.reply_cap = 1024;
	sh = new_shard(&cfg);
	print_message("backend %s\n", gv_io_backend_name(gv_shard_io(sh)));
	assert_int_equal(gv_shard_start(sh), 0);

	t0 = gv_io_now();
	while (took < ORDER_N) {
		bool progress = false;
		seq_reply r;

		for (unsigned b = 0; b < ORDER_BURST && sub < ORDER_N; b++) {
			seq_cmd k = {sub, (uint32_t)(sub * 2654435761u), 0};
			int rc = gv_shard_submit(sh, &k);

			if (rc == GV_EFULL) {
				efull++;
				break;
			}
			assert_int_equal(rc, 0);
			sub++;
			progress = true;
		}
		gv_shard_wake(sh);
		while (gv_shard_take(sh, &r) == 1) {
			if (r.seq != took)
				fail_msg("reply %" PRIu64 " where %" PRIu64
				         " was due",
				         r.seq, took);
			took++;
			progress = true;
		}
		if (!progress) {
			if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
				fail_msg("after %d s: %" PRIu64
				         " submitted, %" PRIu64 " replies",
				         WAIT_S, sub, took);
			sched_yield();
		}
	}
	stop_and_stats(sh, &st);
	print_message("%u commands, %" PRIu64
	              " submits refused (full), %" PRIu64 " replies held\n",
	              ORDER_N, efull, st.replies_held);
	assert_int_equal(atomic_load(&ctx.bad_seq), 0);
	assert_int_equal(atomic_load(&ctx.bad_reply), 0);
	assert_int_equal(ctx.next, ORDER_N);
	assert_int_equal(st.cmds, ORDER_N);
	assert_int_equal(st.replies, ORDER_N);
	assert_int_equal(gv_shard_pending(sh), 0);
	{
		seq_reply r;

		assert_int_equal(gv_shard_take(sh, &r), 0);
	}
	del_shard(sh);
}

/*
 * gv_shard_room: what the owner may submit now, all of it taken. Groups
 * of random sizes (up to the whole ring) go in only when the room says
 * they fit, and every submit of a group then succeeds, while the shard
 * drains concurrently: the check-then-push that makes grapevined's
 * dispatch all-or-nothing.
 */
#define ROOM_CAP 256u
#define ROOM_N 200000u

static void
test_shard_room_groups(void **state)
{
	gv_shard_ops ops = {.on_cmd = order_on_cmd};
	gv_shard_config cfg;
	gv_shard_stats st;
	static order_ctx ctx;
	gv_shard *sh;
	uint64_t sub = 0, took = 0, waits = 0, rnd = 88172645463325252ull;
	gv_time t0;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.cmd_cap = ROOM_CAP;
	cfg.reply_cap = ROOM_CAP;
	sh = new_shard(&cfg);
	/* before start nothing is taken: the room is exact */
	assert_int_equal(gv_shard_capacity(sh), ROOM_CAP);
	assert_int_equal(gv_shard_room(sh), ROOM_CAP);
	for (unsigned i = 0; i < ROOM_CAP; i++) {
		seq_cmd k = {sub, (uint32_t)(sub * 2654435761u), 0};

		assert_int_equal(gv_shard_submit(sh, &k), 0);
		sub++;
		assert_int_equal(gv_shard_room(sh), ROOM_CAP - i - 1);
	}
	{
		seq_cmd k = {sub, 0, 0};

		assert_int_equal(gv_shard_submit(sh, &k), GV_EFULL);
	}
	assert_int_equal(gv_shard_start(sh), 0);
	gv_shard_wake(sh);

	t0 = gv_io_now();
	while (took < ROOM_N) {
		seq_reply r;
		size_t g;

		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		g = 1 + (size_t)(rnd % ROOM_CAP);
		if (g > ROOM_N - sub)
			g = (size_t)(ROOM_N - sub);
		while (g && gv_shard_room(sh) < g) {
			/* the group waits, whole: take replies meanwhile */
			waits++;
			while (gv_shard_take(sh, &r) == 1) {
				assert_int_equal(r.seq, took);
				took++;
			}
			if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
				fail_msg("no room for %zu after %d s", g,
				         WAIT_S);
			sched_yield();
		}
		for (size_t i = 0; i < g; i++) {
			seq_cmd k = {sub, (uint32_t)(sub * 2654435761u), 0};

			/* the room was checked: never refused */
			assert_int_equal(gv_shard_submit(sh, &k), 0);
			sub++;
		}
		gv_shard_wake(sh);
		while (gv_shard_take(sh, &r) == 1) {
			assert_int_equal(r.seq, took);
			took++;
		}
		if (!g)
			sched_yield();
	}
	stop_and_stats(sh, &st);
	print_message("%u commands in groups, %" PRIu64 " waits for room\n",
	              ROOM_N, waits);
	assert_int_equal(atomic_load(&ctx.bad_seq), 0);
	assert_int_equal(ctx.next, ROOM_N);
	del_shard(sh);
}

/* ---- 2. held replies -------------------------------------------------- */

#define HELD_CAP 4u
#define HELD_N 300u

typedef struct held_ctx {
	uint64_t next;        /* shard thread */
	uint64_t sent;        /* shard thread: replies queued */
	atomic_ulong taken;   /* owner: replies taken (release) */
	atomic_ulong max_out; /* most replies not yet taken seen */
	atomic_ulong bad_seq, bad_reply;
} held_ctx;

static void
held_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	held_ctx *c = ud;
	seq_cmd *k = cmd;
	seq_reply r = {k->seq};
	/*
	 * Acquire: pairs with the owner's release after each take, so a
	 * slot the shard saw freed (its take came before ours) is counted;
	 * at most the take in progress is not, hence the + 1 in the bound.
	 */
	uint64_t out =
	        c->sent - atomic_load_explicit(&c->taken, memory_order_acquire);

	(void)now;
	if (out > atomic_load(&c->max_out))
		atomic_store(&c->max_out, out);
	if (k->seq != c->next)
		atomic_fetch_add(&c->bad_seq, 1);
	c->next = k->seq + 1;
	if (gv_shard_reply(sh, &r) != 0)
		atomic_fetch_add(&c->bad_reply, 1);
	c->sent++;
}

static void
test_shard_replies_held(void **state)
{
	gv_shard_ops ops = {.on_cmd = held_on_cmd};
	gv_shard_config cfg;
	gv_shard_stats st;
	static held_ctx ctx;
	gv_shard *sh;
	uint64_t took = 0;
	gv_time t0;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.reply_cap = HELD_CAP;
	cfg.cmd_cap = 512;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_start(sh), 0);

	for (uint64_t i = 0; i < HELD_N; i++) {
		seq_cmd k = {i, 0, 0};

		assert_int_equal(gv_shard_submit(sh, &k), 0);
	}
	gv_shard_wake(sh);
	/* take nothing until the shard holds replies: it must stop taking
	 * commands with the ring full and one batch of replies held */
	WAIT_UNTIL((gv_shard_get_stats(sh, &st),
	            st.replies_held > 0 && st.cmds > 0),
	           "replies to be held");
	sleep_us(20 * MS); /* room to misbehave, not a timing assertion */
	gv_shard_get_stats(sh, &st);
	print_message("before the first take: %" PRIu64
	              " commands applied, %" PRIu64
	              " replies held, %zu commands waiting\n",
	              st.cmds, st.replies_held, gv_shard_pending(sh));
	assert_true(st.cmds <= HELD_CAP + GV_SHARD_BATCH);
	assert_true(gv_shard_pending(sh) >= HELD_N - HELD_CAP - GV_SHARD_BATCH);

	/* now take slowly */
	t0 = gv_io_now();
	while (took < HELD_N) {
		seq_reply r;

		if (gv_shard_take(sh, &r) == 1) {
			if (r.seq != took)
				fail_msg("reply %" PRIu64 " where %" PRIu64
				         " was due",
				         r.seq, took);
			took++;
			atomic_store_explicit(&ctx.taken, took,
			                      memory_order_release);
			if (took % 3 == 0)
				sleep_us(50);
			continue;
		}
		if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
			fail_msg("after %d s: %" PRIu64 " of %u replies",
			         WAIT_S, took, HELD_N);
		sleep_us(50);
	}
	stop_and_stats(sh, &st);
	print_message("%" PRIu64
	              " replies held in all, at most %lu not taken\n",
	              st.replies_held, atomic_load(&ctx.max_out));
	assert_int_equal(atomic_load(&ctx.bad_seq), 0);
	assert_int_equal(atomic_load(&ctx.bad_reply), 0);
	assert_true(atomic_load(&ctx.max_out) <= HELD_CAP + GV_SHARD_BATCH);
	assert_int_equal(st.cmds, HELD_N);
	assert_int_equal(st.replies, HELD_N);
	assert_true(st.replies_held > 0);
	del_shard(sh);
}

/* A callback answering one command HELD_CAP + GV_SHARD_BATCH + 1 times:
 * the ring takes HELD_CAP, the shard holds a batch, the rest is refused. */
typedef struct over_ctx {
	int rc[HELD_CAP + GV_SHARD_BATCH + 2];
} over_ctx;

static void
over_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	over_ctx *c = ud;

	(void)cmd;
	(void)now;
	for (uint64_t i = 0; i < HELD_CAP + GV_SHARD_BATCH + 2; i++) {
		seq_reply r = {i};

		c->rc[i] = gv_shard_reply(sh, &r);
	}
}

static void
test_shard_reply_overflow(void **state)
{
	gv_shard_ops ops = {.on_cmd = over_on_cmd};
	gv_shard_config cfg;
	gv_shard_stats st;
	static over_ctx ctx;
	gv_shard *sh;
	seq_cmd k = {0, 0, 0};
	uint64_t took = 0;
	(void)state;

	memset(&ctx, 0x55, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.reply_cap = HELD_CAP;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_start(sh), 0);
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL((gv_shard_get_stats(sh, &st), st.cmds == 1), "the command");
	/* the 68 replies accepted come out in order, the rest never */
	{
		gv_time t0 = gv_io_now();

		while (took < HELD_CAP + GV_SHARD_BATCH) {
			seq_reply r;

			if (gv_shard_take(sh, &r) == 1) {
				assert_int_equal(r.seq, took);
				took++;
			} else if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC) {
				fail_msg("%" PRIu64 " replies only", took);
			} else {
				sleep_us(100);
			}
		}
	}
	stop_and_stats(sh, &st);
	{
		seq_reply r;

		assert_int_equal(gv_shard_take(sh, &r), 0);
	}
	for (unsigned i = 0; i < HELD_CAP + GV_SHARD_BATCH; i++)
		assert_int_equal(ctx.rc[i], 0);
	assert_int_equal(ctx.rc[HELD_CAP + GV_SHARD_BATCH], GV_EFULL);
	assert_int_equal(ctx.rc[HELD_CAP + GV_SHARD_BATCH + 1], GV_EFULL);
	assert_int_equal(st.replies, HELD_CAP + GV_SHARD_BATCH);
	assert_int_equal(st.replies_held, GV_SHARD_BATCH);
	del_shard(sh);
}

/*
 * Replies still held when the shard stops are not lost: gv_shard_take
 * hands them out after the ring's, in order.
 */
static void
test_shard_held_after_stop(void **state)
{
	gv_shard_ops ops = {.on_cmd = held_on_cmd};
	gv_shard_config cfg;
	gv_shard_stats st;
	static held_ctx ctx;
	gv_shard *sh;
	seq_reply r;
	seq_cmd back;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.reply_cap = HELD_CAP;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_start(sh), 0);
	for (uint64_t i = 0; i < 10; i++) {
		seq_cmd k = {i, 0, 0};

		assert_int_equal(gv_shard_submit(sh, &k), 0);
	}
	gv_shard_wake(sh);
	WAIT_UNTIL((gv_shard_get_stats(sh, &st), st.cmds == 10),
	           "the 10 commands");
	stop_and_stats(sh, &st);
	assert_int_equal(st.replies, 10);
	assert_int_equal(st.replies_held, 10 - HELD_CAP);
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(gv_shard_take(sh, &r), 1);
		assert_int_equal(r.seq, i);
	}
	assert_int_equal(gv_shard_take(sh, &r), 0);
	assert_int_equal(gv_shard_unapplied(sh, &back), 0);
	assert_int_equal(atomic_load(&ctx.bad_seq), 0);
	assert_int_equal(atomic_load(&ctx.bad_reply), 0);
	del_shard(sh);
}

/* ---- at most one ring of commands per iteration ----------------------- */

#define FLOOD_CAP 64u
#define FLOOD_N 20000u

typedef struct flood_ctx {
	uint64_t next;      /* shard thread */
	atomic_ulong iters; /* on_iter calls */
	atomic_ulong bad_seq;
	atomic_ulong submitted;           /* owner: commands queued (release) */
	atomic_bool stuck;                /* a wait for the owner timed out */
	uint64_t max_per_iter, this_iter; /* shard thread */
} flood_ctx;

static void
flood_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	flood_ctx *c = ud;
	seq_cmd *k = cmd;

	(void)sh;
	(void)now;
	if (k->seq != c->next)
		atomic_fetch_add(&c->bad_seq, 1);
	c->next = k->seq + 1;
	c->this_iter++;
	/*
	 * Wait until the owner has filled the ring again (it has room up
	 * to a ring past this command, which is popped): whenever the
	 * shard looks, a ring's worth is waiting. Acquire: pairs with the
	 * owner's release after each submit. Not how a real callback
	 * behaves (it never waits for its owner), but it makes the owner
	 * as fast as can be, on a machine of any load.
	 */
	uint64_t want = k->seq + 1 + FLOOD_CAP;
	gv_time t0 = gv_io_now();

	if (want > FLOOD_N)
		want = FLOOD_N;
	while (!atomic_load(&c->stuck) &&
	       atomic_load_explicit(&c->submitted, memory_order_acquire) <
	               want) {
		if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
			atomic_store(&c->stuck, true);
		sched_yield();
	}
}

static void
flood_on_iter(void *ud, gv_shard *sh, gv_time now)
{
	flood_ctx *c = ud;

	(void)sh;
	(void)now;
	if (c->this_iter > c->max_per_iter)
		c->max_per_iter = c->this_iter;
	c->this_iter = 0;
	atomic_fetch_add(&c->iters, 1);
}

/*
 * An owner that keeps the command ring full must not keep the loop from
 * its sockets and timers: each iteration takes at most cmd_cap commands.
 */
static void
test_shard_cmds_bounded_per_iter(void **state)
{
	gv_shard_ops ops = {.on_cmd = flood_on_cmd, .on_iter = flood_on_iter};
	gv_shard_config cfg;
	gv_shard_stats st;
	static flood_ctx ctx;
	gv_shard *sh;
	uint64_t sub = 0;
	gv_time t0;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.cmd_cap = FLOOD_CAP;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_start(sh), 0);
	t0 = gv_io_now();
	while (sub < FLOOD_N) {
		seq_cmd k = {sub, 0, 0};

		if (gv_shard_submit(sh, &k) == 0) {
			sub++;
			atomic_store_explicit(&ctx.submitted, sub,
			                      memory_order_release);
			if (sub % 16 == 0)
				gv_shard_wake(sh);
			continue;
		}
		gv_shard_wake(sh);
		if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
			fail_msg("%" PRIu64 " commands submitted only", sub);
		sched_yield();
	}
	gv_shard_wake(sh);
	WAIT_UNTIL((gv_shard_get_stats(sh, &st), st.cmds == FLOOD_N),
	           "every command");
	stop_and_stats(sh, &st);
	print_message("%u commands in %lu iterations, at most %" PRIu64
	              " in one\n",
	              FLOOD_N, atomic_load(&ctx.iters), ctx.max_per_iter);
	assert_false(atomic_load(&ctx.stuck));
	assert_int_equal(atomic_load(&ctx.bad_seq), 0);
	assert_int_equal(ctx.next, FLOOD_N);
	assert_true(ctx.max_per_iter <= FLOOD_CAP);
	assert_true(atomic_load(&ctx.iters) >= FLOOD_N / FLOOD_CAP);
	del_shard(sh);
}

/* ---- 3. snapshots ----------------------------------------------------- */

typedef struct snap {
	uint64_t applied;
	uint64_t publishes;
} snap;

typedef struct snap_ctx {
	uint64_t applied, publishes; /* shard thread */
	atomic_ulong iters;
	/*
	 * A gate the owner opens to send its commands and its request while
	 * an iteration is past its commands: GATE_ARMED, on_iter then sets
	 * GATE_IN and waits (bounded) for GATE_GO. Owner's stores release,
	 * on_iter's loads acquire, and back.
	 */
	atomic_int gate;
	atomic_bool gate_stuck; /* a wait for the owner timed out */
} snap_ctx;

enum { GATE_OFF, GATE_ARMED, GATE_IN, GATE_GO };

static void
snap_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	snap_ctx *c = ud;

	(void)sh;
	(void)cmd;
	(void)now;
	c->applied++;
}

static void
snap_on_iter(void *ud, gv_shard *sh, gv_time now)
{
	snap_ctx *c = ud;

	(void)sh;
	(void)now;
	atomic_fetch_add(&c->iters, 1);
	if (atomic_load(&c->gate) == GATE_ARMED) {
		gv_time t0 = gv_io_now();

		atomic_store(&c->gate, GATE_IN);
		while (atomic_load(&c->gate) != GATE_GO) {
			if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC) {
				atomic_store(&c->gate_stuck, true);
				break;
			}
			sched_yield();
		}
		atomic_store(&c->gate, GATE_OFF);
	}
}

static void
snap_on_publish(void *ud, gv_shard *sh, void *buf, gv_time now)
{
	snap_ctx *c = ud;
	snap *s = buf;

	(void)sh;
	(void)now;
	s->applied = c->applied;
	s->publishes = ++c->publishes;
}

static void
test_shard_snapshot_on_request(void **state)
{
	gv_shard_ops ops = {.on_cmd = snap_on_cmd,
	                    .on_iter = snap_on_iter,
	                    .on_publish = snap_on_publish};
	gv_shard_config cfg;
	gv_shard_stats st;
	static snap_ctx ctx;
	gv_shard *sh;
	snap s;
	uint64_t total = 0, t, got, last = 0;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.pub_size = sizeof(snap);
	cfg.pub_every_us = 0;
	sh = new_shard(&cfg);

	/* nothing published yet: 0 and dst zeroed, before and after start */
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(gv_shard_read_snapshot(sh, &s), 0);
	assert_int_equal(s.applied, 0);
	assert_int_equal(s.publishes, 0);
	assert_int_equal(gv_shard_published(sh), 0);
	assert_int_equal(gv_shard_start(sh), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(atomic_load(&ctx.iters) > 2, "the loop to iterate");
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(gv_shard_read_snapshot(sh, &s), 0);
	assert_int_equal(s.applied, 0);
	gv_shard_get_stats(sh, &st);
	assert_int_equal(st.publishes, 0); /* pub_every_us 0: none periodic */

	/*
	 * Rounds of k commands then a request: the snapshot answering it
	 * shows every command submitted before. Odd rounds send both while
	 * an iteration is in on_iter, past its commands and before its
	 * publish: that iteration must leave the request to the next.
	 */
	for (unsigned round = 0; round < 200; round++) {
		unsigned k = 1 + (round * 37) % 100;

		if (round & 1) {
			atomic_store(&ctx.gate, GATE_ARMED);
			gv_shard_wake(sh);
			WAIT_UNTIL(atomic_load(&ctx.gate) == GATE_IN,
			           "on_iter at the gate");
		}
		for (unsigned i = 0; i < k; i++) {
			seq_cmd c = {total + i, 0, 0};

			assert_int_equal(gv_shard_submit(sh, &c), 0);
		}
		total += k;
		if (round % 3 == 0)
			gv_shard_wake(sh);
		t = gv_shard_request_publish(sh);
		assert_true(t > last);
		if (round & 1)
			atomic_store(&ctx.gate, GATE_GO);
		WAIT_UNTIL(gv_shard_published(sh) >= t, "the snapshot");
		assert_false(atomic_load(&ctx.gate_stuck));
		memset(&s, 0xa5, sizeof(s));
		got = gv_shard_read_snapshot(sh, &s);
		if (got < t || s.applied != total)
			fail_msg("round %u: ticket %" PRIu64 " for %" PRIu64
			         ", snapshot shows %" PRIu64 " of %" PRIu64
			         " commands",
			         round, got, t, s.applied, total);
		last = t;
	}
	stop_and_stats(sh, &st);
	assert_int_equal(st.cmds, total);
	assert_int_equal(st.publishes, 200); /* one per request, no more */
	assert_int_equal(st.publishes, ctx.publishes);
	del_shard(sh);
}

/* Periodic publishes happen with nobody asking. */
static void
test_shard_snapshot_periodic(void **state)
{
	gv_shard_ops ops = {.on_cmd = snap_on_cmd,
	                    .on_publish = snap_on_publish};
	gv_shard_config cfg;
	gv_shard_stats st;
	static snap_ctx ctx;
	gv_shard *sh;
	snap s;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.pub_size = sizeof(snap);
	cfg.pub_every_us = 1000;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_start(sh), 0);
	/* the loop iterates at least every 250 ms on its own */
	WAIT_UNTIL((gv_shard_get_stats(sh, &st), st.publishes >= 3),
	           "three periodic publishes");
	gv_shard_read_snapshot(sh, &s);
	assert_true(s.publishes >= 1);
	stop_and_stats(sh, &st);
	assert_int_equal(st.publishes, ctx.publishes);
	del_shard(sh);
}

/* ---- 4. nodes --------------------------------------------------------- */

#define NSH 2
#define NPER 3
#define NN (NSH * NPER)

enum { OP_PUT = 1, OP_GET = 2 };

typedef struct node_cmd {
	uint8_t op;
	uint8_t ep;
	char key[14];
} node_cmd;

typedef struct node_reply {
	uint8_t op;
	uint8_t shard;
	int16_t rc;    /* PUT: gv_node_put's result */
	uint32_t have; /* GET: bit ep set when node ep has key = "v" key */
	char key[14];
} node_reply;

typedef struct node_slot {
	atomic_ulong updates; /* on_update calls */
} node_slot;

static void
on_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	node_slot *s = ud;

	(void)rec;
	(void)result;
	(void)now;
	atomic_fetch_add(&s->updates, 1);
}

static void
node_val(char *val, size_t cap, const char *key)
{
	snprintf(val, cap, "v-%s", key);
}

static void
nodes_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	node_cmd *k = cmd;
	node_reply r = {.op = k->op, .shard = (uint8_t)gv_shard_index(sh)};
	char val[32];

	(void)ud;
	memcpy(r.key, k->key, sizeof(r.key));
	node_val(val, sizeof(val), k->key);
	if (k->op == OP_PUT) {
		r.rc = (int16_t)gv_node_put(gv_shard_node(sh, k->ep), now,
		                            k->key, strlen(k->key), val,
		                            strlen(val), GV_PRIO_NORMAL);
		gv_shard_touch(sh, k->ep);
	} else {
		for (unsigned ep = 0; ep < gv_shard_nodes(sh); ep++) {
			gv_record rec;

			if (gv_node_get(gv_shard_node(sh, (int)ep), k->key,
			                strlen(k->key), &rec) == 0 &&
			    rec.vlen == strlen(val) &&
			    !memcmp(rec.val, val, rec.vlen))
				r.have |= 1u << ep;
		}
	}
	(void)gv_shard_reply(sh, &r);
}

/* Put key at node ep of shard s; wait until all NN nodes have it. */
static void
put_and_spread(gv_shard **sh, unsigned s, unsigned ep, const char *key)
{
	node_cmd k = {OP_PUT, (uint8_t)ep, {0}};
	uint32_t have[NSH] = {0};
	bool put_done = false;
	gv_time t0 = gv_io_now(), last_get = 0;

	snprintf(k.key, sizeof(k.key), "%s", key);
	assert_int_equal(gv_shard_submit(sh[s], &k), 0);
	gv_shard_wake(sh[s]);
	for (;;) {
		bool all = put_done;
		node_reply r;

		for (unsigned i = 0; i < NSH; i++) {
			while (gv_shard_take(sh[i], &r) == 1) {
				if (strcmp(r.key, key))
					continue; /* an earlier key's GET */
				if (r.op == OP_PUT) {
					assert_int_equal(r.rc, 0);
					put_done = true;
				} else {
					have[r.shard] |= r.have;
				}
			}
		}
		for (unsigned i = 0; i < NSH; i++)
			all = all && have[i] == (1u << NPER) - 1;
		if (all)
			break;
		if (gv_io_now() - t0 > (gv_time)WAIT_S * SEC)
			fail_msg("after %d s %s is at nodes %#x, %#x", WAIT_S,
			         key, have[0], have[1]);
		if (gv_io_now() - last_get > 5 * MS) {
			node_cmd g = {OP_GET, 0, {0}};

			snprintf(g.key, sizeof(g.key), "%s", key);
			for (unsigned i = 0; i < NSH; i++) {
				assert_int_equal(gv_shard_submit(sh[i], &g), 0);
				gv_shard_wake(sh[i]);
			}
			last_get = gv_io_now();
		}
		sleep_us(200);
	}
	print_message("%s: from node %u of shard %u to all %d in %.2f ms\n",
	              key, ep, s, NN, (gv_io_now() - t0) / 1e3);
}

static void
test_shard_nodes(void **state)
{
	gv_shard_ops ops = {.on_cmd = nodes_on_cmd};
	gv_shard *sh[NSH];
	gv_node *n[NN];
	static node_slot slot[NN];
	gv_addr addr[NN];
	int ep[NN];
	gv_time now = gv_io_now();

	for (unsigned s = 0; s < NSH; s++) {
		gv_shard_config cfg;

		base_config(&cfg, ops, NULL, sizeof(node_cmd));
		cfg.io.backend = **(const int **)state;
		cfg.index = s;
		cfg.reply_size = sizeof(node_reply);
		sh[s] = new_shard(&cfg);
		assert_int_equal(gv_shard_index(sh[s]), s);
		assert_non_null(gv_shard_io(sh[s]));
		assert_int_equal(gv_shard_nodes(sh[s]), 0);
		for (unsigned j = 0; j < NPER; j++) {
			unsigned i = s * NPER + j;
			gv_addr bind;

			assert_int_equal(gv_io_addr_parse(&bind, "127.0.0.1:0"),
			                 0);
			ep[i] = gv_shard_add_node(sh[s], &bind, NULL, &addr[i]);
			assert_int_equal(ep[i], (int)j);
			assert_null(gv_shard_node(sh[s], ep[i]));
		}
		assert_int_equal(gv_shard_nodes(sh[s]), NPER);
	}
	print_message("backend %s\n", gv_io_backend_name(gv_shard_io(sh[0])));
	for (unsigned i = 0; i < NN; i++) {
		gv_node_config nc;

		atomic_init(&slot[i].updates, 0);
		gv_node_config_default(&nc);
		nc.id = 100 + (gv_node_id)i;
		nc.addr = addr[i];
		nc.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		nc.cluster = 42;
		snprintf(nc.name, sizeof(nc.name), "n%u", i);
		nc.cb.on_update = on_update;
		nc.ud = &slot[i];
		assert_int_equal(gv_node_new(&n[i], &nc, now), 0);
	}
	/* prejoin: everyone knows everyone (bench/netcluster.c prejoin) */
	for (unsigned i = 0; i < NN; i++) {
		for (unsigned j = 0; j < NN; j++) {
			char name[8];
			gv_member_info m = {0};

			if (j == i)
				continue;
			snprintf(name, sizeof(name), "n%u", j);
			m.id = 100 + (gv_node_id)j;
			m.addr = addr[j];
			m.state = GV_MEMBER_ALIVE;
			m.name = name;
			m.region = "";
			assert_int_equal(gv_node_add_member(n[i], now, &m), 0);
		}
	}
	for (unsigned i = 0; i < NN; i++) {
		unsigned s = i / NPER;

		assert_int_equal(gv_shard_attach(sh[s], ep[i], n[i]), 0);
		assert_ptr_equal(gv_shard_node(sh[s], ep[i]), n[i]);
	}
	assert_int_equal(gv_shard_attach(sh[0], NPER, n[0]), GV_EINVAL);
	assert_int_equal(gv_shard_attach(sh[0], -1, n[0]), GV_EINVAL);
	assert_null(gv_shard_node(sh[0], NPER));
	assert_null(gv_shard_node(sh[0], -1));
	for (unsigned s = 0; s < NSH; s++)
		assert_int_equal(gv_shard_start(sh[s]), 0);

	put_and_spread(sh, 0, 0, "alpha");
	put_and_spread(sh, 1, 2, "beta");
	put_and_spread(sh, 0, 1, "gamma");

	for (unsigned s = 0; s < NSH; s++) {
		gv_shard_stats st;

		stop_and_stats(sh[s], &st);
		assert_int_equal(st.cmds, st.replies);
	}
	/* each node stored each of the 3 writes once */
	for (unsigned i = 0; i < NN; i++)
		assert_int_equal(atomic_load(&slot[i].updates), 3);
	for (unsigned i = 1; i < NN; i++)
		assert_int_equal(gv_node_root(n[i]), gv_node_root(n[0]));
	for (unsigned i = 0; i < NN; i++) {
		const gv_node_stats *ns = gv_node_get_stats(n[i]);

		assert_int_equal(ns->dgrams_bad, 0);
		assert_int_equal(ns->dgrams_foreign, 0);
	}
	for (unsigned s = 0; s < NSH; s++) {
		gv_io_stats ios;

		gv_io_get_stats(gv_shard_io(sh[s]), &ios);
		assert_int_equal(ios.send_errors, 0);
		assert_int_equal(ios.ep_errors, 0);
		del_shard(sh[s]);
	}
	for (unsigned i = 0; i < NN; i++)
		gv_node_del(n[i]);
}

/* ---- 5. callbacks and stopping ---------------------------------------- */

enum { OP_REPLY = 1, OP_STOP = 2 };

typedef struct cb_ctx {
	atomic_ulong iters, reply_calls, cmds;
	atomic_int stop_seen; /* on_cmd after the stop command (must not) */
	atomic_bool stopping;
} cb_ctx;

static void
cb_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	cb_ctx *c = ud;
	seq_cmd *k = cmd;
	seq_reply r = {k->seq};

	(void)now;
	atomic_fetch_add(&c->cmds, 1);
	if (k->tag == OP_REPLY) {
		(void)gv_shard_reply(sh, &r);
	} else if (k->tag == OP_STOP) {
		atomic_store(&c->stopping, true);
		gv_shard_request_stop(sh);
	}
}

static void
cb_on_iter(void *ud, gv_shard *sh, gv_time now)
{
	cb_ctx *c = ud;

	(void)sh;
	(void)now;
	atomic_fetch_add(&c->iters, 1);
}

static void
cb_on_reply(void *ud, gv_shard *sh)
{
	cb_ctx *c = ud;

	(void)sh;
	atomic_fetch_add(&c->reply_calls, 1);
}

static void
test_shard_callbacks_and_stop(void **state)
{
	gv_shard_ops ops = {.on_cmd = cb_on_cmd,
	                    .on_iter = cb_on_iter,
	                    .on_reply = cb_on_reply};
	gv_shard_config cfg;
	gv_shard_stats st;
	static cb_ctx ctx;
	gv_shard *sh;
	seq_cmd k = {7, OP_REPLY, 0};
	seq_reply r;
	unsigned long calls;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	sh = new_shard(&cfg);
	assert_false(gv_shard_done(sh));
	assert_int_equal(gv_shard_error(sh), 0);
	assert_int_equal(gv_shard_start(sh), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(atomic_load(&ctx.iters) >= 1, "on_iter");
	assert_int_equal(atomic_load(&ctx.reply_calls), 0); /* no reply yet */

	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(gv_shard_take(sh, &r) == 1, "the reply");
	assert_int_equal(r.seq, 7);
	WAIT_UNTIL(atomic_load(&ctx.reply_calls) >= 1, "on_reply");
	calls = atomic_load(&ctx.reply_calls);
	/* a command with no reply, then: no further on_reply */
	k.seq = 8;
	k.tag = 0;
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(atomic_load(&ctx.cmds) == 2, "the second command");
	gv_shard_wake(sh);
	WAIT_UNTIL((gv_shard_get_stats(sh, &st), st.cmds == 2),
	           "the second batch to end");
	assert_int_equal(atomic_load(&ctx.reply_calls), calls);

	/* stop from inside: the loop ends after this iteration */
	k.tag = OP_STOP;
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(gv_shard_done(sh), "the loop to stop itself");
	assert_int_equal(gv_shard_error(sh), 0);
	assert_true(atomic_load(&ctx.stopping));
	/* a command after the stop stays in the ring; only once the thread
	 * is joined does gv_shard_unapplied hand it back */
	k.seq = 9;
	k.tag = OP_REPLY;
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	{
		seq_cmd back;

		assert_int_equal(gv_shard_unapplied(sh, &back), 0);
		gv_shard_stop(sh);
		gv_shard_stop(sh);
		assert_true(gv_shard_done(sh));
		assert_int_equal(gv_shard_error(sh), 0);
		assert_int_equal(atomic_load(&ctx.cmds), 3);
		assert_int_equal(gv_shard_pending(sh), 1);
		assert_int_equal(gv_shard_unapplied(sh, &back), 1);
		assert_int_equal(back.seq, 9);
		assert_int_equal(back.tag, OP_REPLY);
		assert_int_equal(gv_shard_unapplied(sh, &back), 0);
		assert_int_equal(gv_shard_pending(sh), 0);
	}
	assert_int_equal(gv_shard_take(sh, &r), 0);
	assert_int_equal(gv_shard_start(sh), GV_EINVAL); /* no restart */
	del_shard(sh);
}

/* A shard that never ran, with sockets and a node: del frees it all. */
static void
test_shard_del_unstarted(void **state)
{
	gv_shard_ops ops = {.on_cmd = cb_on_cmd};
	gv_shard_config cfg;
	gv_node_config nc;
	gv_shard *sh;
	gv_node *node;
	gv_addr bind, bound;
	seq_cmd k = {1, OP_REPLY, 0};
	snap s;
	(void)state;

	base_config(&cfg, ops, NULL, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.pub_size = sizeof(snap);
	sh = new_shard(&cfg);
	gv_shard_stop(sh); /* not running: nothing to do */
	assert_false(gv_shard_done(sh));
	assert_int_equal(gv_io_addr_parse(&bind, "127.0.0.1:0"), 0);
	assert_int_equal(gv_shard_add_node(sh, &bind, NULL, &bound), 0);
	assert_int_equal(gv_shard_add_node(sh, &bind, NULL, NULL), 1);
	gv_node_config_default(&nc);
	nc.id = 9;
	nc.addr = bound;
	nc.cluster = 42;
	assert_int_equal(gv_node_new(&node, &nc, gv_io_now()), 0);
	assert_int_equal(gv_shard_attach(sh, 0, node), 0);
	assert_int_equal(gv_shard_attach(sh, 0, node), GV_EINVAL); /* twice */
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	assert_int_equal(gv_shard_submit(sh, &k), 0); /* left in the ring */
	assert_int_equal(gv_shard_pending(sh), 2);
	{
		seq_cmd back = {0, 0, 0};

		assert_int_equal(gv_shard_unapplied(sh, &back), 1);
		assert_int_equal(back.seq, 1);
		assert_int_equal(gv_shard_pending(sh), 1);
	}
	assert_int_equal(gv_shard_read_snapshot(sh, &s), 0);
	del_shard(sh);
	gv_node_del(node);
	gv_shard_del(NULL);
}

/* ---- 6. argument checks ----------------------------------------------- */

typedef struct arg_ctx {
	atomic_int reply_rc, take_rc;
	atomic_bool ran;
} arg_ctx;

static void
arg_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	arg_ctx *c = ud;
	seq_reply r = {1};

	(void)cmd;
	(void)now;
	atomic_store(&c->reply_rc, gv_shard_reply(sh, &r));
	atomic_store(&c->ran, true);
}

static void
test_shard_arg_checks(void **state)
{
	gv_shard_ops ops = {.on_cmd = arg_on_cmd};
	gv_shard_ops no_cmd = {.on_iter = cb_on_iter};
	gv_shard_config cfg;
	gv_shard *sh, *const sentinel = (gv_shard *)&sentinel;
	static arg_ctx ctx;
	seq_cmd k = {0, 0, 0};
	seq_reply r;
	(void)state;

	memset(&ctx, 0, sizeof(ctx));
	base_config(&cfg, ops, &ctx, 0);
	sh = sentinel;
	assert_int_equal(gv_shard_new(&sh, &cfg), GV_EINVAL); /* cmd_size 0 */
	assert_ptr_equal(sh, sentinel);
	base_config(&cfg, no_cmd, &ctx, sizeof(seq_cmd));
	assert_int_equal(gv_shard_new(&sh, &cfg), GV_EINVAL); /* no on_cmd */
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.cmd_cap = 3;
	assert_int_equal(gv_shard_new(&sh, &cfg), GV_EINVAL);
	cfg.cmd_cap = 0;
	assert_int_equal(gv_shard_new(&sh, &cfg), GV_EINVAL);
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_size = sizeof(seq_reply);
	cfg.reply_cap = 6;
	assert_int_equal(gv_shard_new(&sh, &cfg), GV_EINVAL);
	assert_int_equal(gv_shard_new(NULL, &cfg), GV_EINVAL);
	assert_int_equal(gv_shard_new(&sh, NULL), GV_EINVAL);
	assert_ptr_equal(sh, sentinel);

	/* no reply ring: reply is refused, take finds nothing; no restart */
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.reply_cap = 3; /* not checked without a reply ring */
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_take(sh, &r), 0);
	assert_int_equal(gv_shard_start(sh), 0);
	assert_int_equal(gv_shard_start(sh), GV_EINVAL);
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	gv_shard_wake(sh);
	WAIT_UNTIL(atomic_load(&ctx.ran), "the command");
	assert_int_equal(atomic_load(&ctx.reply_rc), GV_EINVAL);
	assert_int_equal(gv_shard_take(sh, &r), 0);
	del_shard(sh); /* stops it */

	/* a full command ring refuses, and queues nothing */
	base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
	cfg.cmd_cap = 2;
	sh = new_shard(&cfg);
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	assert_int_equal(gv_shard_submit(sh, &k), 0);
	assert_int_equal(gv_shard_submit(sh, &k), GV_EFULL);
	assert_int_equal(gv_shard_pending(sh), 2);
	del_shard(sh);
}

/* ---- 7. CPUs and pinning ---------------------------------------------- */

typedef struct pin_ctx {
	atomic_int cpu; /* sched_getcpu() in on_cmd */
	atomic_bool ran;
	char name[16]; /* the thread's name (written before ran) */
} pin_ctx;

static void
pin_on_cmd(void *ud, gv_shard *sh, void *cmd, gv_time now)
{
	pin_ctx *c = ud;

	(void)sh;
	(void)cmd;
	(void)now;
	atomic_store(&c->cpu, sched_getcpu());
	(void)pthread_getname_np(pthread_self(), c->name, sizeof(c->name));
	atomic_store(&c->ran, true);
}

static void
test_shard_cpus_and_pin(void **state)
{
	static int cpus[CPU_SETSIZE];
	unsigned n = gv_shard_cpus(cpus, CPU_SETSIZE);
	unsigned pick[2];
	(void)state;

	assert_true(n >= 1);
	for (unsigned i = 1; i < n; i++)
		assert_true(cpus[i] > cpus[i - 1]);
	assert_true(cpus[0] >= 0);
	assert_int_equal(gv_shard_cpus(NULL, 0), n); /* just the count */
	{
		int one[1] = {-1};

		assert_int_equal(gv_shard_cpus(one, 1), n);
		assert_int_equal(one[0], cpus[0]);
	}
	print_message("%u CPUs, first %d, last %d\n", n, cpus[0], cpus[n - 1]);

	pick[0] = 0;
	pick[1] = n - 1;
	for (unsigned p = 0; p < (n > 1 ? 2u : 1u); p++) {
		gv_shard_ops ops = {.on_cmd = pin_on_cmd};
		gv_shard_config cfg;
		static pin_ctx ctx;
		gv_shard *sh;
		seq_cmd k = {0, 0, 0};
		unsigned warned = atomic_load(&log_warnings);

		memset(&ctx, 0, sizeof(ctx));
		atomic_init(&ctx.cpu, -1);
		base_config(&cfg, ops, &ctx, sizeof(seq_cmd));
		cfg.cpu = cpus[pick[p]];
		cfg.index = 3 + p;
		sh = new_shard(&cfg);
		assert_int_equal(gv_shard_start(sh), 0);
		assert_int_equal(gv_shard_submit(sh, &k), 0);
		gv_shard_wake(sh);
		WAIT_UNTIL(atomic_load(&ctx.ran), "the command");
		del_shard(sh);
		assert_int_equal(atomic_load(&ctx.cpu), cpus[pick[p]]);
		assert_string_equal(ctx.name, p ? "tshard4" : "tshard3");
		assert_int_equal(atomic_load(&log_warnings), warned);
	}
}

/* Can this machine run an event loop with a loopback UDP socket? */
static int
probe(void)
{
	gv_io_config cfg;
	gv_io *io = NULL;
	gv_addr bind;
	int rc;

	gv_io_config_default(&cfg);
	rc = gv_io_new(&io, &cfg);
	if (rc) {
		printf("# no event loop here (%s): skipped\n", gv_strerror(rc));
		return 77;
	}
	(void)gv_io_addr_parse(&bind, "127.0.0.1:0");
	rc = gv_io_add(io, &bind, NULL, NULL, NULL);
	gv_io_del(io);
	if (rc < 0) {
		printf("# no loopback UDP socket here (%s): skipped\n",
		       gv_strerror(rc));
		return 77;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        {"test_shard_cmds_in_order/auto", test_shard_cmds_in_order,
	         NULL, reap, (void *)&backend_auto},
	        {"test_shard_cmds_in_order/recvmmsg", test_shard_cmds_in_order,
	         NULL, reap, (void *)&backend_mmsg},
	        cmocka_unit_test_teardown(test_shard_room_groups, reap),
	        cmocka_unit_test_teardown(test_shard_replies_held, reap),
	        cmocka_unit_test_teardown(test_shard_reply_overflow, reap),
	        cmocka_unit_test_teardown(test_shard_held_after_stop, reap),
	        cmocka_unit_test_teardown(test_shard_cmds_bounded_per_iter,
	                                  reap),
	        cmocka_unit_test_teardown(test_shard_snapshot_on_request, reap),
	        cmocka_unit_test_teardown(test_shard_snapshot_periodic, reap),
	        {"test_shard_nodes/auto", test_shard_nodes, NULL, reap,
	         (void *)&backend_auto},
	        {"test_shard_nodes/recvmmsg", test_shard_nodes, NULL, reap,
	         (void *)&backend_mmsg},
	        cmocka_unit_test_teardown(test_shard_callbacks_and_stop, reap),
	        cmocka_unit_test_teardown(test_shard_del_unstarted, reap),
	        cmocka_unit_test_teardown(test_shard_arg_checks, reap),
	        cmocka_unit_test_teardown(test_shard_cpus_and_pin, reap),
	};
	int rc = probe();

	if (rc)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
