/* SPDX-License-Identifier: MIT */
/*
 * test_io.c - the real-network transport over loopback, every case run
 * once per backend (io_uring, then recvmmsg/sendmmsg). When the kernel or
 * a sandbox refuses io_uring, the io_uring cases say why and are skipped.
 *
 * The endpoints are test doubles: a queue of datagrams to send, an echo
 * mode, a burst generator, a timer that re-arms itself, and counters per
 * source. Covered: ping-pong and echo, 64 endpoints on one worker with
 * exact accounting, timers (never early; late only within a generous
 * bound, since this machine is noisy), IPv6 and IPv4-mapped peers, a burst
 * far larger than the buffer ring into a small socket buffer (every
 * datagram delivered or counted as dropped), the drop filter, wake-ups
 * from another thread (a lost one would block a 10 s wait), gv_io_run and
 * its stop flag, oversize datagrams, attach and detach, argument checks,
 * and the fallback when io_uring_setup is refused (seccomp, in a thread).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"

#define MS 1000u
#define SEC 1000000u
#define QCAP 512
#define MSG_MAX 256

/* ------------------------------------------------------------ helpers */

static const int backend_uring = GV_IO_URING;
static const int backend_mmsg = GV_IO_MMSG;

static void
test_log(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level <= GV_IO_LOG_INFO)
		fprintf(stderr, "  [io %d] %s\n", level, msg);
}

static void
cfg_init(gv_io_config *cfg, void **state)
{
	gv_io_config_default(cfg);
	cfg->backend = **(const int **)state;
	cfg->log = test_log;
}

/* Create a worker; an io_uring that cannot be set up skips the test. */
static gv_io *
open_io(const gv_io_config *cfg)
{
	gv_io *io = NULL;
	int r = gv_io_new(&io, cfg);

	if (r < 0 && cfg->backend == GV_IO_URING) {
		print_message("io_uring unavailable here (%s): skipped\n",
		              gv_strerror(r));
		skip();
	}
	assert_int_equal(r, 0);
	assert_string_equal(gv_io_backend_name(io), cfg->backend == GV_IO_URING
	                                                    ? "io_uring"
	                                                    : "recvmmsg");
	return io;
}

static gv_addr
addr_of(const char *s)
{
	gv_addr a;

	assert_int_equal(gv_io_addr_parse(&a, s), 0);
	return a;
}

static void
st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Iterate until cond holds or timeout_us passes; true if it held. */
#define RUN_UNTIL(io, cond, timeout_us)                                        \
	({                                                                     \
		gv_time end_ = gv_io_now() + (timeout_us);                     \
		while (!(cond) && gv_io_now() < end_)                          \
			assert_true(gv_io_run_once((io), 20 * MS) >= 0);       \
		(bool)(cond);                                                  \
	})

/* ------------------------------------------------------------ endpoint */

struct msg {
	gv_addr to;
	uint16_t len;
	uint8_t data[MSG_MAX];
};

struct tep {
	int idx;
	gv_addr addr;
	struct msg *q;
	unsigned qhead, qtail;
	bool echo;
	unsigned pingpong; /* answer pong i with ping i+1 while i+1 < this */

	uint64_t rx, rx_bytes, tx;
	gv_addr last_from;
	uint8_t last[MSG_MAX];
	size_t last_len;
	uint64_t *from; /* datagrams per source (u32 at payload start) */
	unsigned nfrom;

	gv_time expiry, interval;
	unsigned fired, fire_max;
	gv_time due[16], at[16];

	uint64_t burst_left, burst_seq;
	gv_addr burst_to;
	size_t burst_len;
	unsigned chunk, chunk_left; /* burst pacing: per drain, 0: no limit */
};

static struct tep *
tep_new(unsigned nfrom)
{
	struct tep *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->q = calloc(QCAP, sizeof(*t->q));
	assert_non_null(t->q);
	t->expiry = GV_TIME_NEVER;
	if (nfrom) {
		t->from = calloc(nfrom, sizeof(*t->from));
		assert_non_null(t->from);
		t->nfrom = nfrom;
	}
	return t;
}

static void
tep_del(struct tep *t)
{
	if (!t)
		return;
	free(t->q);
	free(t->from);
	free(t);
}

static void
tep_queue(struct tep *t, const gv_addr *to, const void *data, size_t len)
{
	struct msg *m;

	assert_true(t->qtail - t->qhead < QCAP);
	assert_true(len <= MSG_MAX);
	m = &t->q[t->qtail++ % QCAP];
	m->to = *to;
	m->len = (uint16_t)len;
	memcpy(m->data, data, len);
}

static int
tep_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
         size_t len)
{
	struct tep *t = ep;

	(void)now;
	t->rx++;
	t->rx_bytes += len;
	t->last_from = *from;
	t->last_len = len < MSG_MAX ? len : MSG_MAX;
	memcpy(t->last, buf, t->last_len);
	if (t->from && len >= 4 && ld32(buf) < t->nfrom)
		t->from[ld32(buf)]++;
	if (t->echo && len <= MSG_MAX)
		tep_queue(t, from, buf, len);
	if (t->pingpong && len >= 8 && ld32(buf + 4) + 1 < t->pingpong) {
		uint8_t p[8];

		st32(p, ld32(buf));
		st32(p + 4, ld32(buf + 4) + 1);
		tep_queue(t, from, p, sizeof(p));
	}
	return 0;
}

static ssize_t
tep_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	struct tep *t = ep;

	(void)now;
	if (t->burst_left && (!t->chunk || t->chunk_left)) {
		if (t->chunk)
			t->chunk_left--;
		assert_true(cap >= t->burst_len && t->burst_len >= 8);
		memset(buf, 0, t->burst_len);
		st32(buf, (uint32_t)t->idx);
		st32(buf + 4, (uint32_t)t->burst_seq++);
		*to = t->burst_to;
		t->burst_left--;
		t->tx++;
		return (ssize_t)t->burst_len;
	}
	if (t->qhead == t->qtail)
		return 0;
	struct msg *m = &t->q[t->qhead++ % QCAP];

	assert_true(cap >= m->len);
	memcpy(buf, m->data, m->len);
	*to = m->to;
	t->tx++;
	return m->len;
}

static gv_time
tep_next_expiry(void *ep)
{
	return ((struct tep *)ep)->expiry;
}

static int
tep_handle_expiry(void *ep, gv_time now)
{
	struct tep *t = ep;

	if (now < t->expiry)
		return 0; /* early: not due */
	if (t->fired < 16) {
		t->due[t->fired] = t->expiry;
		t->at[t->fired] = now;
	}
	t->fired++;
	t->expiry = t->fired < t->fire_max ? now + t->interval : GV_TIME_NEVER;
	return 0;
}

static const gv_io_ops tep_ops = {
        .recv = tep_recv,
        .send = tep_send,
        .next_expiry = tep_next_expiry,
        .handle_expiry = tep_handle_expiry,
};

/* Add an endpoint bound to addr (port 0) and attach t to it. */
static int
tep_add(gv_io *io, struct tep *t, const char *addr)
{
	gv_addr bind = addr_of(addr);
	int idx = gv_io_add(io, &bind, NULL, NULL, &t->addr);

	assert_true(idx >= 0);
	assert_int_not_equal(t->addr.port, 0);
	t->idx = idx;
	assert_int_equal(gv_io_attach(io, idx, &tep_ops, t), 0);
	return idx;
}

/* A plain UDP socket, to play a foreign peer. */
static int
raw_socket(int fam)
{
	int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static void
raw_send(int fd, const gv_addr *to, const void *buf, size_t len)
{
	struct sockaddr_in in;

	assert_int_equal(to->family, 4);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(to->port);
	memcpy(&in.sin_addr, to->addr, 4);
	assert_int_equal(
	        sendto(fd, buf, len, 0, (struct sockaddr *)&in, sizeof(in)),
	        (ssize_t)len);
}

/* ------------------------------------------------------------ tests */

/* A strict ping-pong (each reply sent from inside recv), then a burst of
 * echoes; payloads and source addresses checked. */
static void
test_io_echo(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io *io;
	struct tep *a = tep_new(0), *b = tep_new(0);
	uint8_t p[8];
	gv_time t0;

	cfg_init(&cfg, state);
	io = open_io(&cfg);
	tep_add(io, a, "127.0.0.1:0");
	tep_add(io, b, "127.0.0.1");
	assert_int_not_equal(a->addr.port, b->addr.port);

	/* ping-pong: 200 round trips, one datagram in flight at a time */
	a->pingpong = 200;
	b->echo = true;
	st32(p, 7);
	st32(p + 4, 0);
	tep_queue(a, &b->addr, p, sizeof(p));
	t0 = gv_io_now();
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	assert_true(RUN_UNTIL(io, a->rx == 200, 10 * SEC));
	print_message("%s: 200 round trips in %.1f ms\n",
	              gv_io_backend_name(io), (gv_io_now() - t0) / 1e3);
	assert_int_equal(b->rx, 200);
	assert_true(gv_addr_eq(&a->last_from, &b->addr));
	assert_true(gv_addr_eq(&b->last_from, &a->addr));
	assert_int_equal(ld32(a->last + 4), 199);

	/* 300 echoes in one go */
	a->pingpong = 0;
	for (unsigned i = 0; i < 300; i++) {
		uint8_t m[100];

		memset(m, (int)i, sizeof(m));
		st32(m, 1000 + i);
		tep_queue(a, &b->addr, m, sizeof(m));
	}
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	assert_true(RUN_UNTIL(io, a->rx == 500, 10 * SEC));
	assert_int_equal(a->last_len, 100);
	assert_int_equal(a->last[99], (uint8_t)(ld32(a->last) - 1000));

	gv_io_get_stats(io, &st);
	assert_int_equal(st.dgrams_in, 1000);
	assert_int_equal(st.dgrams_out, 1000);
	assert_int_equal(st.bytes_out, 400 * 8 + 600 * 100);
	assert_int_equal(st.bytes_in, st.bytes_out);
	assert_int_equal(st.send_errors, 0);
	assert_int_equal(st.recv_errors, 0);
	assert_int_equal(st.kernel_drops, 0);
	assert_true(st.iterations > 0 && st.submits > 0);
	gv_io_del(io);
	tep_del(a);
	tep_del(b);
}

/* 64 endpoints on one worker, each sending 4 datagrams to every other:
 * every (source, destination) pair counted exactly. */
#define MANY 64
#define MANY_EACH 4
static void
test_io_many(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io *io;
	struct tep *t[MANY];
	uint64_t total = 0, want = MANY * (MANY - 1) * MANY_EACH;

	cfg_init(&cfg, state);
	cfg.max_endpoints = MANY;
	io = open_io(&cfg);
	for (int i = 0; i < MANY; i++) {
		t[i] = tep_new(MANY);
		assert_int_equal(tep_add(io, t[i], "127.0.0.1:0"), i);
		for (int j = 0; j < i; j++) /* port 0: never a shared port */
			assert_int_not_equal(t[j]->addr.port, t[i]->addr.port);
	}
	for (int i = 0; i < MANY; i++) {
		for (int j = 0; j < MANY; j++) {
			for (int k = 0; k < MANY_EACH && j != i; k++) {
				uint8_t p[32] = {0};

				st32(p, (uint32_t)i);
				st32(p + 4, (uint32_t)k);
				tep_queue(t[i], &t[j]->addr, p, sizeof(p));
			}
		}
		assert_int_equal(gv_io_poke(io, i), 0);
	}
	assert_true(RUN_UNTIL(io, ({
		                      total = 0;
		                      for (int i = 0; i < MANY; i++)
			                      total += t[i]->rx;
		                      total >= want;
	                      }),
	                      20 * SEC));
	/* nothing more arrives */
	for (int i = 0; i < 5; i++)
		assert_true(gv_io_run_once(io, 5 * MS) >= 0);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(t[i]->rx, (MANY - 1) * MANY_EACH);
		assert_int_equal(t[i]->tx, (MANY - 1) * MANY_EACH);
		for (int j = 0; j < MANY; j++)
			assert_int_equal(t[i]->from[j], j == i ? 0 : MANY_EACH);
	}
	gv_io_get_stats(io, &st);
	print_message("%s: %" PRIu64 " datagrams, %" PRIu64
	              " iterations, %" PRIu64 " submits, %" PRIu64
	              " pool stalls, %" PRIu64 " ring-dry re-arms\n",
	              gv_io_backend_name(io), st.dgrams_in, st.iterations,
	              st.submits, st.pool_exhausted, st.buf_exhausted);
	assert_int_equal(st.dgrams_in, want);
	assert_int_equal(st.dgrams_out, want);
	assert_int_equal(st.send_errors, 0);
	assert_int_equal(st.kernel_drops, 0);
	/* 16128 sends through 1024 slots: the pool ran dry and recovered */
	assert_true(st.pool_exhausted > 0);
	gv_io_del(io);
	for (int i = 0; i < MANY; i++)
		tep_del(t[i]);
}

/* Timers: never early, late by less than a generous bound; the loop's
 * wait ends at the expiry (each run_once may wait 10 s). */
static void
test_io_timers(void **state)
{
	gv_io_config cfg;
	gv_io *io;
	struct tep *a = tep_new(0), *b = tep_new(0);
	gv_time t0, took;

	cfg_init(&cfg, state);
	io = open_io(&cfg);
	tep_add(io, a, "127.0.0.1:0");
	tep_add(io, b, "127.0.0.1:0");

	a->interval = 20 * MS;
	a->fire_max = 5;
	a->expiry = gv_io_now() + 30 * MS;
	b->interval = 7 * MS;
	b->fire_max = 10;
	b->expiry = gv_io_now(); /* due at once */
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	assert_int_equal(gv_io_poke(io, b->idx), 0);
	t0 = gv_io_now();
	while ((a->fired < 5 || b->fired < 10) && gv_io_now() - t0 < 5 * SEC)
		assert_true(gv_io_run_once(io, 10 * SEC) >= 0);
	took = gv_io_now() - t0;
	assert_int_equal(a->fired, 5);
	assert_int_equal(b->fired, 10);
	for (unsigned i = 0; i < 5; i++) {
		assert_true(a->at[i] >= a->due[i]);
		assert_true(a->at[i] - a->due[i] < 500 * MS);
	}
	for (unsigned i = 0; i < 10; i++)
		assert_true(b->at[i] >= b->due[i]);
	print_message("%s: timers done in %.1f ms (ideal 110), a late by "
	              "%.2f ms at most\n",
	              gv_io_backend_name(io), took / 1e3, ({
		              gv_time m = 0;
		              for (unsigned i = 0; i < 5; i++)
			              if (a->at[i] - a->due[i] > m)
				              m = a->at[i] - a->due[i];
		              m / 1e3;
	              }));
	assert_true(took < 3 * SEC);

	/* No timer: run_once honours max_wait. */
	t0 = gv_io_now();
	assert_int_equal(gv_io_run_once(io, 30 * MS), 0);
	took = gv_io_now() - t0;
	assert_true(took >= 25 * MS && took < 2 * SEC);

	/* A timer set outside the loop is seen after a poke. */
	a->fire_max = 6;
	a->expiry = gv_io_now() + 40 * MS;
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	t0 = gv_io_now();
	while (a->fired < 6 && gv_io_now() - t0 < 5 * SEC)
		assert_true(gv_io_run_once(io, 10 * SEC) >= 0);
	assert_int_equal(a->fired, 6);
	assert_true(gv_io_now() - t0 < 3 * SEC);

	/* A detached endpoint's timer stops. */
	b->fire_max = 100;
	b->expiry = gv_io_now() + 5 * MS;
	assert_int_equal(gv_io_poke(io, b->idx), 0);
	assert_int_equal(gv_io_detach(io, b->idx), 0);
	unsigned before = b->fired;
	for (int i = 0; i < 3; i++)
		assert_true(gv_io_run_once(io, 10 * MS) >= 0);
	assert_int_equal(b->fired, before);
	gv_io_del(io);
	tep_del(a);
	tep_del(b);
}

/* IPv6 on ::1, and a dual-stack socket talking to an IPv4 one. */
static void
test_io_ipv6(void **state)
{
	gv_io_config cfg;
	gv_io *io;
	struct tep *a = tep_new(0), *b = tep_new(0), *c = tep_new(0),
	           *d = tep_new(0);
	gv_addr bind = addr_of("[::1]:0");
	uint8_t p[16] = "v6 hello";
	int idx;

	cfg_init(&cfg, state);
	io = open_io(&cfg);
	idx = gv_io_add(io, &bind, &tep_ops, a, &a->addr);
	if (idx == -EADDRNOTAVAIL || idx == -EAFNOSUPPORT) {
		gv_io_del(io);
		tep_del(a);
		tep_del(b);
		tep_del(c);
		tep_del(d);
		print_message("no IPv6 loopback here: skipped\n");
		skip();
	}
	assert_true(idx >= 0);
	a->idx = idx;
	assert_int_equal(a->addr.family, 6);
	tep_add(io, b, "[::1]:0");
	b->echo = true;
	tep_queue(a, &b->addr, p, sizeof(p));
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	assert_true(RUN_UNTIL(io, a->rx == 1, 5 * SEC));
	assert_true(gv_addr_eq(&a->last_from, &b->addr));
	assert_memory_equal(a->last, p, sizeof(p));

	/* "::" with an IPv4 peer: the destination goes out IPv4-mapped and
	 * the reply's source comes back as plain IPv4. */
	bind = addr_of("::");
	idx = gv_io_add(io, &bind, &tep_ops, c, &c->addr);
	if (idx >= 0) {
		c->idx = idx;
		tep_add(io, d, "127.0.0.1:0");
		d->echo = true;
		tep_queue(c, &d->addr, p, sizeof(p));
		assert_int_equal(gv_io_poke(io, c->idx), 0);
		assert_true(RUN_UNTIL(io, c->rx == 1, 5 * SEC));
		assert_int_equal(c->last_from.family, 4);
		assert_true(gv_addr_eq(&c->last_from, &d->addr));
		assert_int_equal(d->last_from.family, 4);
	} else {
		print_message("dual-stack bind refused (%s): part skipped\n",
		              gv_strerror(idx));
	}
	gv_io_del(io);
	tep_del(a);
	tep_del(b);
	tep_del(c);
	tep_del(d);
}

/* Dropped datagrams on the loopback device itself (the per-CPU backlog),
 * from /proc/net/softnet_stat: not charged to any socket. */
static uint64_t
softnet_drops(void)
{
	FILE *f = fopen("/proc/net/softnet_stat", "r");
	char line[512];
	uint64_t sum = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long processed, dropped;

		if (sscanf(line, "%llx %llx", &processed, &dropped) == 2)
			sum += dropped;
	}
	fclose(f);
	return sum;
}

/* Pacing: the sender may send `chunk` more datagrams each iteration. */
struct pace {
	gv_io *io;
	struct tep *tx;
};

static void
pace_on_iter(void *ud)
{
	struct pace *p = ud;

	if (p->io && p->tx->chunk && p->tx->burst_left) {
		p->tx->chunk_left = p->tx->chunk;
		assert_int_equal(gv_io_poke(p->io, p->tx->idx), 0);
	}
}

/*
 * 20,000 datagrams into a receiver with 256 receive buffers: all in one
 * drain (the receiver cannot read until it ends, so its socket overflows)
 * or `chunk` per iteration (the buffer ring is what limits), with the
 * default socket buffer or a small one. Every datagram sent is either
 * delivered or counted as dropped.
 */
static void
burst(void **state, int rcvbuf, unsigned chunk)
{
	enum { N = 20000 };
	gv_io_config cfg;
	gv_io_stats st;
	gv_io_ep_info info;
	gv_io *io;
	struct tep *tx = tep_new(0), *rx = tep_new(1);
	struct pace pace = {.tx = tx};
	uint64_t net0, net;

	cfg_init(&cfg, state);
	cfg.buf_count = 256;
	cfg.on_iter = pace_on_iter;
	cfg.iter_ud = &pace;
	io = open_io(&cfg);
	pace.io = io;
	tx->chunk = chunk;
	tx->chunk_left = chunk;
	tep_add(io, tx, "127.0.0.1:0");
	tep_add(io, rx, "127.0.0.1:0");
	if (rcvbuf) {
		assert_int_equal(gv_io_get_ep_info(io, rx->idx, &info), 0);
		assert_int_equal(setsockopt(info.fd, SOL_SOCKET, SO_RCVBUF,
		                            &rcvbuf, sizeof(rcvbuf)),
		                 0);
	}
	net0 = softnet_drops();
	tx->burst_left = N;
	tx->burst_to = rx->addr;
	tx->burst_len = 200;
	assert_int_equal(gv_io_poke(io, tx->idx), 0);
	/* until quiet: nothing delivered for 200 ms */
	for (gv_time last = gv_io_now(), end = last + 20 * SEC;
	     gv_io_now() - last < 200 * MS && gv_io_now() < end;) {
		int r = gv_io_run_once(io, 20 * MS);

		assert_true(r >= 0);
		if (r > 0)
			last = gv_io_now();
	}
	net = softnet_drops() - net0;
	gv_io_get_stats(io, &st);
	assert_int_equal(gv_io_get_ep_info(io, rx->idx, &info), 0);
	if (rcvbuf) {
		socklen_t len = sizeof(info.rcvbuf);

		assert_int_equal(getsockopt(info.fd, SOL_SOCKET, SO_RCVBUF,
		                            &info.rcvbuf, &len),
		                 0);
	}
	print_message("%s: rcvbuf %d, %u per iteration: sent %" PRIu64
	              ", delivered %" PRIu64 ", socket drops %" PRIu64
	              ", device drops %" PRIu64 ", ring ran dry %" PRIu64
	              " times, pool stalls %" PRIu64 "\n",
	              gv_io_backend_name(io), info.rcvbuf, chunk, st.dgrams_out,
	              rx->rx, st.kernel_drops, net, st.buf_exhausted,
	              st.pool_exhausted);
	assert_int_equal(tx->tx, N);
	assert_int_equal(st.dgrams_out + st.send_errors, N);
	assert_int_equal(st.send_errors, 0);
	assert_int_equal(st.dgrams_in, rx->rx);
	assert_int_equal(rx->from[0], rx->rx);
	assert_int_equal(info.kernel_drops, st.kernel_drops);
	/* Exact, unless the loopback device itself dropped (counted by the
	 * kernel per CPU, not per socket; possibly other traffic's). */
	assert_true(rx->rx + st.kernel_drops <= N);
	assert_true(rx->rx + st.kernel_drops + net >= N);
	if (rcvbuf)
		assert_true(st.kernel_drops > 0);
	gv_io_del(io);
	tep_del(tx);
	tep_del(rx);
}

static void
test_io_burst_small_rcvbuf(void **state)
{
	burst(state, 64 * 1024, 0);
}

static void
test_io_burst(void **state)
{
	burst(state, 0, 0);
}

static void
test_io_burst_paced(void **state)
{
	burst(state, 0, 2000);
}

struct filt {
	gv_addr a, b, c;
	int ia, ib, ic;
	unsigned calls_out, calls_in;
};

/* Drop A -> B on the way out, and B -> C on the way in. */
static bool
filter_fn(void *ud, int ep_idx, const gv_addr *peer, bool outgoing)
{
	struct filt *f = ud;

	if (outgoing) {
		f->calls_out++;
		return !(ep_idx == f->ia && gv_addr_eq(peer, &f->b));
	}
	f->calls_in++;
	return !(ep_idx == f->ic && gv_addr_eq(peer, &f->b));
}

static void
test_io_filter(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io *io;
	struct tep *a = tep_new(0), *b = tep_new(0), *c = tep_new(0);
	struct filt f;
	uint8_t p[8] = {0};

	cfg_init(&cfg, state);
	cfg.filter = filter_fn;
	cfg.filter_ud = &f;
	memset(&f, 0, sizeof(f));
	f.ia = -1;
	f.ic = -1;
	io = open_io(&cfg);
	f.ia = tep_add(io, a, "127.0.0.1:0");
	f.ib = tep_add(io, b, "127.0.0.1:0");
	f.ic = tep_add(io, c, "127.0.0.1:0");
	f.a = a->addr;
	f.b = b->addr;
	f.c = c->addr;
	for (int i = 0; i < 10; i++) {
		tep_queue(a, &b->addr, p, sizeof(p));
		tep_queue(a, &c->addr, p, sizeof(p));
		tep_queue(b, &a->addr, p, sizeof(p));
		tep_queue(b, &c->addr, p, sizeof(p));
	}
	assert_int_equal(gv_io_poke(io, a->idx), 0);
	assert_int_equal(gv_io_poke(io, b->idx), 0);
	assert_true(RUN_UNTIL(io, a->rx == 10 && c->rx == 10, 5 * SEC));
	for (int i = 0; i < 5; i++)
		assert_true(gv_io_run_once(io, 5 * MS) >= 0);
	gv_io_get_stats(io, &st);
	assert_int_equal(a->rx, 10);
	assert_int_equal(b->rx, 0);
	assert_int_equal(c->rx, 10);
	assert_true(gv_addr_eq(&c->last_from, &a->addr));
	assert_int_equal(st.filtered_out, 10);
	assert_int_equal(st.filtered_in, 10);
	assert_int_equal(st.dgrams_out, 30);
	assert_int_equal(st.dgrams_in, 20);
	assert_int_equal(f.calls_out, 40);
	assert_int_equal(f.calls_in, 30);
	gv_io_del(io);
	tep_del(a);
	tep_del(b);
	tep_del(c);
}

/* Wake-ups from another thread: the producer publishes a number, wakes
 * the loop and waits for on_iter to take it, 2,000 times, while the loop
 * waits up to 10 s per iteration: one lost wake would show as a 10 s
 * iteration. */
struct wake_ctx {
	gv_io *io;
	int produced, consumed, n;
	unsigned iters;
};

static void
wake_on_iter(void *ud)
{
	struct wake_ctx *w = ud;

	w->iters++;
	__atomic_store_n(&w->consumed,
	                 __atomic_load_n(&w->produced, __ATOMIC_ACQUIRE),
	                 __ATOMIC_RELEASE);
}

static void *
wake_producer(void *ud)
{
	struct wake_ctx *w = ud;

	for (int i = 1; i <= w->n; i++) {
		__atomic_store_n(&w->produced, i, __ATOMIC_RELEASE);
		gv_io_wake(w->io);
		while (__atomic_load_n(&w->consumed, __ATOMIC_ACQUIRE) < i)
			sched_yield();
	}
	return NULL;
}

static void
test_io_wake(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	struct wake_ctx w = {.n = 2000};
	pthread_t th;
	gv_time worst = 0, t0 = gv_io_now();

	cfg_init(&cfg, state);
	cfg.on_iter = wake_on_iter;
	cfg.iter_ud = &w;
	w.io = open_io(&cfg);
	assert_int_equal(pthread_create(&th, NULL, wake_producer, &w), 0);
	while (__atomic_load_n(&w.consumed, __ATOMIC_ACQUIRE) < w.n) {
		gv_time s = gv_io_now();

		assert_true(gv_io_run_once(w.io, 10 * SEC) >= 0);
		if (gv_io_now() - s > worst)
			worst = gv_io_now() - s;
		assert_true(gv_io_now() - t0 < 60 * SEC);
	}
	pthread_join(th, NULL);
	gv_io_get_stats(w.io, &st);
	print_message("%s: %d wakes in %.1f ms, %u iterations, longest %.2f "
	              "ms\n",
	              gv_io_backend_name(w.io), w.n, (gv_io_now() - t0) / 1e3,
	              w.iters, worst / 1e3);
	assert_true(worst < 5 * SEC);
	assert_true(st.wakes >= 1 && st.wakes <= (uint64_t)w.n);
	gv_io_del(w.io);
}

/* gv_io_run on its own thread, stopped from this one. */
struct run_ctx {
	gv_io *io;
	volatile sig_atomic_t stop;
	int ret;
	struct tep *t;
};

static void *
run_thread(void *ud)
{
	struct run_ctx *r = ud;

	r->ret = gv_io_run(r->io, &r->stop);
	return NULL;
}

static void
test_io_run_stop(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	struct run_ctx r = {0};
	struct tep *t = tep_new(0);
	pthread_t th;
	uint8_t p[4] = {1, 2, 3, 4};
	int fd = raw_socket(AF_INET);
	gv_time t0;

	cfg_init(&cfg, state);
	r.io = open_io(&cfg);
	tep_add(r.io, t, "127.0.0.1:0");
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	for (int i = 0; i < 10; i++)
		raw_send(fd, &t->addr, p, sizeof(p));
	usleep(100 * 1000);
	t0 = gv_io_now();
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	gv_io_wake(r.io);
	pthread_join(th, NULL);
	assert_true(gv_io_now() - t0 < 2 * SEC);
	assert_int_equal(r.ret, 0);
	gv_io_get_stats(r.io, &st);
	assert_int_equal(st.dgrams_in, 10);
	/* The ring belongs to the thread that ran it now. */
	if (cfg.backend == GV_IO_URING)
		assert_int_equal(gv_io_run_once(r.io, 0), -EEXIST);
	gv_io_del(r.io);
	close(fd);
	tep_del(t);
}

/* A datagram of buf_size arrives whole; one byte more is counted as
 * truncated and dropped, with either backend. */
static void
test_io_truncated(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io *io;
	struct tep *t = tep_new(0);
	int fd = raw_socket(AF_INET);
	static uint8_t big[4096];

	cfg_init(&cfg, state);
	cfg.buf_size = 1500;
	io = open_io(&cfg);
	tep_add(io, t, "127.0.0.1:0");
	raw_send(fd, &t->addr, big, 4000);
	raw_send(fd, &t->addr, big, 1501);
	raw_send(fd, &t->addr, big, 1500);
	raw_send(fd, &t->addr, big, 10);
	assert_true(RUN_UNTIL(io, t->rx == 2, 5 * SEC));
	for (int i = 0; i < 3; i++)
		assert_true(gv_io_run_once(io, 5 * MS) >= 0);
	gv_io_get_stats(io, &st);
	assert_int_equal(t->rx, 2);
	assert_int_equal(t->rx_bytes, 1510);
	assert_int_equal(st.truncated, 2);
	assert_int_equal(st.dgrams_in, 2);
	assert_int_equal(st.recv_errors, 0);
	gv_io_del(io);
	close(fd);
	tep_del(t);
}

/* A socket added without an endpoint keeps its datagrams in the kernel
 * until attach; a detached one drops and counts them. */
static void
test_io_attach_detach(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io_ep_info info;
	gv_io *io;
	struct tep *t = tep_new(0), *u = tep_new(0);
	gv_addr bind = addr_of("127.0.0.1:0"), bound;
	int fd = raw_socket(AF_INET), idx;
	uint8_t p[4] = {9, 9, 9, 9};

	cfg_init(&cfg, state);
	io = open_io(&cfg);
	idx = gv_io_add(io, &bind, NULL, NULL, &bound);
	assert_true(idx >= 0);
	assert_int_equal(gv_io_get_ep_info(io, idx, &info), 0);
	assert_false(info.attached);
	assert_true(gv_addr_eq(&info.addr, &bound));
	assert_true(info.rcvbuf > 0 && info.sndbuf > 0);
	assert_int_equal(gv_io_poke(io, idx), GV_EINVAL);
	assert_int_equal(gv_io_detach(io, idx), GV_EINVAL);
	for (int i = 0; i < 3; i++)
		raw_send(fd, &bound, p, sizeof(p));
	for (int i = 0; i < 3; i++)
		assert_true(gv_io_run_once(io, 5 * MS) >= 0);
	gv_io_get_stats(io, &st);
	assert_int_equal(st.dgrams_in + st.detached_drops, 0);

	t->idx = idx;
	t->addr = bound;
	assert_int_equal(gv_io_attach(io, idx, &tep_ops, t), 0);
	assert_int_equal(gv_io_attach(io, idx, &tep_ops, t), GV_EINVAL);
	assert_true(RUN_UNTIL(io, t->rx == 3, 5 * SEC));

	assert_int_equal(gv_io_detach(io, idx), 0);
	raw_send(fd, &bound, p, sizeof(p));
	raw_send(fd, &bound, p, sizeof(p));
	assert_true(RUN_UNTIL(io, ({
		                      gv_io_get_stats(io, &st);
		                      st.detached_drops == 2;
	                      }),
	                      5 * SEC));
	assert_int_equal(t->rx, 3);

	u->idx = idx;
	u->addr = bound;
	assert_int_equal(gv_io_attach(io, idx, &tep_ops, u), 0);
	raw_send(fd, &bound, p, sizeof(p));
	assert_true(RUN_UNTIL(io, u->rx == 1, 5 * SEC));
	assert_int_equal(t->rx, 3);
	gv_io_del(io);
	close(fd);
	tep_del(t);
	tep_del(u);
}

/* Argument checks, capacity, addresses. */
static void
test_io_args(void **state)
{
	gv_io_config cfg;
	gv_io *io = NULL;
	gv_addr a, bind;
	struct tep *t = tep_new(0);
	gv_io_ops bad = tep_ops;
	char s[64];

	cfg_init(&cfg, state);
	assert_int_equal(gv_io_new(NULL, &cfg), GV_EINVAL);
	assert_int_equal(gv_io_new(&io, NULL), GV_EINVAL);
	cfg.buf_size = 10;
	assert_int_equal(gv_io_new(&io, &cfg), GV_EINVAL);
	cfg_init(&cfg, state);
	cfg.backend = 7;
	assert_int_equal(gv_io_new(&io, &cfg), GV_EINVAL);
	cfg_init(&cfg, state);
	cfg.max_endpoints = 0;
	assert_int_equal(gv_io_new(&io, &cfg), GV_EINVAL);
	cfg_init(&cfg, state);
	cfg.rcvbuf = -1;
	assert_int_equal(gv_io_new(&io, &cfg), GV_EINVAL);
	assert_null(io);

	cfg_init(&cfg, state);
	cfg.max_endpoints = 2;
	io = open_io(&cfg);
	bind = addr_of("127.0.0.1:0");
	a = bind;
	a.family = 5;
	assert_int_equal(gv_io_add(io, &a, NULL, NULL, NULL), GV_EINVAL);
	bad.send = NULL;
	assert_int_equal(gv_io_add(io, &bind, &bad, t, NULL), GV_EINVAL);
	assert_int_equal(gv_io_add(io, &bind, &tep_ops, NULL, NULL), GV_EINVAL);
	assert_int_equal(gv_io_add(io, &bind, &tep_ops, t, &t->addr), 0);
	assert_int_equal(gv_io_add(io, &bind, NULL, NULL, NULL), 1);
	assert_int_equal(gv_io_add(io, &bind, NULL, NULL, NULL), GV_EFULL);
	assert_int_equal(gv_io_attach(io, 2, &tep_ops, t), GV_EINVAL);
	assert_int_equal(gv_io_attach(io, -1, &tep_ops, t), GV_EINVAL);
	assert_int_equal(gv_io_attach(io, 1, &bad, t), GV_EINVAL);
	assert_int_equal(gv_io_poke(io, 5), GV_EINVAL);
	gv_io_del(io);
	gv_io_del(NULL);

	/* An explicit port already bound: refused, unless reuse_addr asks
	 * for SO_REUSEADDR (then Linux lets both sockets hold it). */
	cfg_init(&cfg, state);
	io = open_io(&cfg);
	assert_int_equal(gv_io_add(io, &bind, NULL, NULL, &a), 0);
	assert_int_equal(gv_io_add(io, &a, NULL, NULL, NULL), -EADDRINUSE);
	gv_io_del(io);
	cfg.reuse_addr = true; /* a was just freed: reuse its port */
	io = open_io(&cfg);
	assert_int_equal(gv_io_add(io, &a, NULL, NULL, NULL), 0);
	assert_int_equal(gv_io_add(io, &a, NULL, NULL, NULL), 1);
	gv_io_del(io);

	/* addresses */
	assert_int_equal(gv_io_addr_parse(&a, "10.1.2.3:4567"), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 4567);
	assert_int_equal(a.addr[0], 10);
	assert_int_equal(a.addr[3], 3);
	gv_io_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "10.1.2.3:4567");
	assert_int_equal(gv_io_addr_parse(&a, "[fe80::1]:80"), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 80);
	gv_io_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "[fe80::1]:80");
	assert_int_equal(gv_io_addr_parse(&a, "::1"), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 0);
	assert_int_equal(gv_io_addr_parse(&a, "1.2.3.4:65536"), GV_EINVAL);
	assert_int_equal(gv_io_addr_parse(&a, "1.2.3.4:"), GV_EINVAL);
	assert_int_equal(gv_io_addr_parse(&a, "1.2.3:1"), GV_EINVAL);
	assert_int_equal(gv_io_addr_parse(&a, "[::1"), GV_EINVAL);
	assert_int_equal(gv_io_addr_parse(&a, "[::1]x"), GV_EINVAL);
	assert_int_equal(gv_io_addr_parse(&a, ""), GV_EINVAL);
	tep_del(t);
}

/* ------------------------------------------------ fallback under seccomp */

struct fb_ctx {
	int deny_errno;
	int uring_ret; /* gv_io_new with GV_IO_URING */
	int auto_ret;  /* gv_io_new with GV_IO_AUTO */
	char backend[16];
	char warn[256];
	int echo_ok;
};

static void
fb_log(void *ud, int level, const char *msg)
{
	struct fb_ctx *c = ud;

	if (level == GV_IO_LOG_WARN && !c->warn[0])
		snprintf(c->warn, sizeof(c->warn), "%s", msg);
}

/* Deny io_uring_setup to this thread only (no TSYNC), as a sandbox or
 * kernel.io_uring_disabled would. Returns 0 or -errno. */
static int
deny_io_uring(int err)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K,
	                 SECCOMP_RET_ERRNO |
	                         ((unsigned)err & SECCOMP_RET_DATA)),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

static void *
fb_thread(void *ud)
{
	struct fb_ctx *c = ud;
	gv_io_config cfg;
	gv_io *io = NULL;

	if (deny_io_uring(c->deny_errno) < 0) {
		c->uring_ret = 1; /* could not sandbox */
		return NULL;
	}
	gv_io_config_default(&cfg);
	cfg.log = fb_log;
	cfg.log_ud = c;
	cfg.backend = GV_IO_URING;
	c->uring_ret = gv_io_new(&io, &cfg);
	cfg.backend = GV_IO_AUTO;
	c->auto_ret = gv_io_new(&io, &cfg);
	if (c->auto_ret < 0)
		return NULL;
	snprintf(c->backend, sizeof(c->backend), "%s", gv_io_backend_name(io));

	/* a quick echo, checked without cmocka (this is not its thread) */
	struct tep *a = tep_new(0), *b = tep_new(0);
	gv_addr bind;
	uint8_t p[4] = {1};

	gv_io_addr_parse(&bind, "127.0.0.1:0");
	a->idx = gv_io_add(io, &bind, &tep_ops, a, &a->addr);
	b->idx = gv_io_add(io, &bind, &tep_ops, b, &b->addr);
	b->echo = true;
	if (a->idx >= 0 && b->idx >= 0) {
		tep_queue(a, &b->addr, p, sizeof(p));
		gv_io_poke(io, a->idx);
		for (gv_time end = gv_io_now() + 5 * SEC;
		     a->rx == 0 && gv_io_now() < end;)
			gv_io_run_once(io, 20 * MS);
		c->echo_ok = a->rx == 1;
	}
	gv_io_del(io);
	tep_del(a);
	tep_del(b);
	return NULL;
}

static void
fallback(int err)
{
	struct fb_ctx c;
	pthread_t th;

	memset(&c, 0, sizeof(c));
	c.deny_errno = err;
	assert_int_equal(pthread_create(&th, NULL, fb_thread, &c), 0);
	pthread_join(th, NULL);
	if (c.uring_ret == 1) {
		print_message("seccomp unavailable: skipped\n");
		skip();
	}
	assert_int_equal(c.uring_ret, -err);
	assert_int_equal(c.auto_ret, 0);
	assert_string_equal(c.backend, "recvmmsg");
	print_message("log: %s\n", c.warn);
	assert_non_null(strstr(c.warn, "io_uring unavailable"));
	assert_non_null(strstr(c.warn, "falling back"));
	assert_true(c.echo_ok);
}

static void
test_io_fallback_enosys(void **state)
{
	(void)state;
	fallback(ENOSYS);
}

static void
test_io_fallback_eperm(void **state)
{
	(void)state;
	fallback(EPERM);
}

/*
 * UDP GSO: datagrams an endpoint sends one peer back to back, all the same
 * size but the last, leave in one send; a size change or another peer ends
 * a chain. Every datagram arrives whole and alone (split by the kernel, or
 * with GRO by the io layer), and with gso off nothing is chained.
 */
static void
test_io_gso(void **state)
{
	static const uint16_t sizes[] = {100, 100, 100, 60, 100, 100, 120,
	                                 120, 120, 40, 200};
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	/* GSO with GRO (64 KiB receive buffers), GSO alone, neither */
	for (int mode = 0; mode < 3; mode++) {
		int gso = mode < 2, gro = mode == 0;
		gv_io_config cfg;
		gv_io_stats st;
		cfg_init(&cfg, state);
		cfg.gso = gso;
		cfg.gro = gro;
		if (gro)
			cfg.buf_size = 65536;
		gv_io *io = open_io(&cfg);
		struct tep *a = tep_new(0), *b = tep_new(0), *c = tep_new(0);
		tep_add(io, a, "127.0.0.1:0");
		tep_add(io, b, "127.0.0.1:0");
		tep_add(io, c, "127.0.0.1:0");
		uint64_t bytes = 0;
		for (size_t i = 0; i < n; i++) {
			uint8_t p[256];
			memset(p, (int)i + 1, sizeof(p));
			st32(p, (uint32_t)i);
			/* the 9th goes to c: it splits the 120-byte run */
			tep_queue(a, i == 8 ? &c->addr : &b->addr, p, sizes[i]);
			if (i != 8)
				bytes += sizes[i];
		}
		assert_int_equal(gv_io_poke(io, a->idx), 0);
		assert_true(RUN_UNTIL(io, b->rx == n - 1 && c->rx == 1,
		                      5 * SEC));
		assert_int_equal(b->rx_bytes, bytes);
		assert_int_equal(c->rx_bytes, 120);
		/* the last one to b: 200 bytes of (i + 1) = 11 after the id */
		assert_int_equal(b->last_len, 200);
		assert_int_equal(ld32(b->last), 10);
		assert_int_equal(b->last[199], 11);
		gv_io_get_stats(io, &st);
		print_message("%s gso %d gro %d: %" PRIu64 " datagrams in %" PRIu64
		              " GSO sends, %" PRIu64 " GRO receives\n",
		              gv_io_backend_name(io), gso, gro, st.dgrams_out,
		              st.gso_sends, st.gro_recvs);
		/* a coalesced receive is a GSO send arriving whole: never
		 * more of them, and none unless asked for */
		assert_true(st.gro_recvs <= st.gso_sends);
		if (!gro)
			assert_int_equal(st.gro_recvs, 0);
		assert_int_equal(st.dgrams_out, n);
		assert_int_equal(st.send_errors, 0);
		/* chains: 100x3+60, 100x2, 120x2 (then c's alone, then 40
		 * and 200 alone: a larger one cannot follow): three, unless
		 * the kernel refused GSO (then none, and a log line) */
		if (gso)
			assert_true(st.gso_sends == 3 || st.gso_sends == 0);
		else
			assert_int_equal(st.gso_sends, 0);
		gv_io_del(io);
		tep_del(a);
		tep_del(b);
		tep_del(c);
	}
}

/* Each case twice, named after its backend. */
#define BOTH(fn)                                                               \
	{#fn "/io_uring", fn, NULL, NULL, (void *)&backend_uring},             \
	{                                                                      \
#fn "/recvmmsg", fn, NULL, NULL, (void *)&backend_mmsg         \
	}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        BOTH(test_io_echo),
	        BOTH(test_io_many),
	        BOTH(test_io_timers),
	        BOTH(test_io_ipv6),
	        BOTH(test_io_burst),
	        BOTH(test_io_burst_small_rcvbuf),
	        BOTH(test_io_burst_paced),
	        BOTH(test_io_filter),
	        BOTH(test_io_wake),
	        BOTH(test_io_run_stop),
	        BOTH(test_io_truncated),
	        BOTH(test_io_attach_detach),
	        BOTH(test_io_args),
	        BOTH(test_io_gso),
	        cmocka_unit_test(test_io_fallback_enosys),
	        cmocka_unit_test(test_io_fallback_eperm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
