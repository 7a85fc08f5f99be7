/* SPDX-License-Identifier: MIT */
/*
 * test_tcp.c - the stream channel over TCP (io/tcp.h), on loopback: two
 * gv_tcp instances exchange whole messages in order, in the clear and
 * sealed; handshakes that must fail do (not sealed alike, another
 * cluster, an unknown key) and say so; a reader that stops makes the
 * sender's queue fill to its bound, then ready() fires once it reads
 * again; garbage on a listener closes that connection only; a peer that
 * goes away is reported with down().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/tcp.h"

#define MAXMSG (300u * 1024)

struct side {
	gv_tcp *t;
	gv_addr addr;
	/* what arrived */
	uint8_t *got;
	size_t got_len, got_msgs;
	gv_addr from;
	size_t readies, downs;
};

static void
on_recv(void *ud, unsigned lep, gv_time now, const gv_addr *peer,
	const uint8_t *msg, size_t len)
{
	struct side *s = ud;
	(void)lep, (void)now;
	s->got = realloc(s->got, s->got_len + len + 4);
	assert_non_null(s->got);
	memcpy(s->got + s->got_len, &len, 4); /* the length, then the bytes */
	memcpy(s->got + s->got_len + 4, msg, len);
	s->got_len += len + 4;
	s->got_msgs++;
	s->from = *peer;
}

static void
on_ready(void *ud, unsigned lep, gv_time now, const gv_addr *peer)
{
	(void)lep, (void)now, (void)peer;
	((struct side *)ud)->readies++;
}

static void
on_down(void *ud, unsigned lep, gv_time now, const gv_addr *peer)
{
	(void)lep, (void)now, (void)peer;
	((struct side *)ud)->downs++;
}

static void
quiet(void *ud, int level, const char *msg)
{
	(void)ud, (void)level, (void)msg;
}

static uint16_t
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	return ntohs(sa.sin_port);
}

static void
side_init(struct side *s, uint32_t cluster, gv_keyring *kr, size_t queue)
{
	memset(s, 0, sizeof(*s));
	gv_tcp_config c;
	gv_tcp_config_default(&c);
	c.cluster = cluster;
	c.keyring = kr;
	c.max_msg = MAXMSG;
	c.queue_max = queue;
	c.log = quiet;
	c.ops = (gv_tcp_ops){on_recv, on_ready, on_down};
	c.ud = s;
	assert_int_equal(gv_tcp_new(&s->t, &c), 0);
	s->addr = (gv_addr){.family = 4, .port = free_port(),
			    .addr = {127, 0, 0, 1}};
	assert_int_equal(gv_tcp_listen(s->t, 0, &s->addr, &s->addr, 0, 7), 0);
}

static void
side_fini(struct side *s)
{
	gv_tcp_del(s->t);
	free(s->got);
}

static gv_time
now_us(void)
{
	return gv_io_now();
}

/* Poll both (b may be NULL: not read) for up to ms, or until *cond. */
static void
run(struct side *a, struct side *b, int ms, const size_t *cond, size_t want)
{
	gv_time end = now_us() + (gv_time)ms * 1000;
	while (now_us() < end) {
		struct pollfd p[2] = {{gv_tcp_fd(a->t), POLLIN, 0},
				      {b ? gv_tcp_fd(b->t) : -1, POLLIN, 0}};
		poll(p, 2, 5);
		gv_tcp_poll(a->t, now_us());
		gv_tcp_tick(a->t, now_us());
		if (b) {
			gv_tcp_poll(b->t, now_us());
			gv_tcp_tick(b->t, now_us());
		}
		if (cond && *cond >= want)
			return;
	}
}

static uint8_t *
pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
	return p;
}

/* A sends three messages (small, big, empty) to B: in order, whole. */
static void
exchange(gv_keyring *ka, gv_keyring *kb)
{
	struct side a, b;
	side_init(&a, 1, ka, 1u << 20);
	side_init(&b, 1, kb, 1u << 20);
	size_t lens[3] = {5, MAXMSG, 0};
	uint8_t *m[3];
	for (int i = 0; i < 3; i++) {
		m[i] = pattern(lens[i], (unsigned)i);
		assert_int_equal(gv_tcp_send(a.t, 0, &b.addr, m[i], lens[i],
					     now_us()),
				 0);
	}
	run(&a, &b, 3000, &b.got_msgs, 3);
	assert_int_equal(b.got_msgs, 3);
	assert_true(gv_addr_eq(&b.from, &a.addr)); /* who A says it is */
	size_t off = 0;
	for (int i = 0; i < 3; i++) {
		uint32_t l;
		memcpy(&l, b.got + off, 4);
		assert_int_equal(l, lens[i]);
		assert_memory_equal(b.got + off + 4, m[i], lens[i] ? lens[i] : 0);
		off += 4 + l;
		free(m[i]);
	}
	gv_tcp_stats st;
	gv_tcp_get_stats(b.t, &st);
	assert_int_equal(st.refused, 0);
	assert_int_equal(st.auth_failed, 0);
	assert_int_equal(a.downs, 0);
	side_fini(&a);
	side_fini(&b);
}

static gv_keyring *
ring(uint8_t fill)
{
	gv_keyring *kr;
	assert_int_equal(gv_keyring_new(&kr, NULL), 0);
	uint8_t key[GV_KEY_LEN];
	memset(key, fill, sizeof(key));
	assert_int_equal(gv_keyring_install(kr, key), 1);
	return kr;
}

static void
test_clear(void **state)
{
	(void)state;
	exchange(NULL, NULL);
}

static void
test_sealed(void **state)
{
	(void)state;
	gv_keyring *k1 = ring(1), *k2 = ring(1);
	exchange(k1, k2);
	gv_keyring_del(k1);
	gv_keyring_del(k2);
}

/* A handshake that must be refused: nothing arrives, both count it, the
 * connector is told the peer is down. */
static void
refused(uint32_t ca, gv_keyring *ka, uint32_t cb, gv_keyring *kb)
{
	struct side a, b;
	side_init(&a, ca, ka, 1u << 20);
	side_init(&b, cb, kb, 1u << 20);
	uint8_t msg[16] = {1, 2, 3};
	assert_int_equal(gv_tcp_send(a.t, 0, &b.addr, msg, sizeof(msg),
				     now_us()),
			 0);
	run(&a, &b, 1000, &a.downs, 1);
	assert_int_equal(b.got_msgs, 0);
	assert_int_equal(a.downs, 1);
	gv_tcp_stats sa, sb;
	gv_tcp_get_stats(a.t, &sa);
	gv_tcp_get_stats(b.t, &sb);
	assert_int_equal(sa.refused, 1);
	assert_int_equal(sb.refused, 1);
	side_fini(&a);
	side_fini(&b);
}

static void
test_refusals(void **state)
{
	(void)state;
	gv_keyring *k1 = ring(1), *k2 = ring(2);
	refused(1, k1, 1, NULL); /* sealed to clear */
	refused(1, NULL, 1, k1); /* clear to sealed */
	refused(1, k1, 1, k2);   /* a key the peer lacks */
	refused(1, NULL, 2, NULL); /* another cluster */
	gv_keyring_del(k1);
	gv_keyring_del(k2);
}

/* B stops reading: A's queue fills to its bound and refuses; once B reads
 * again, ready() fires and everything arrives, in order. */
static void
test_backpressure(void **state)
{
	(void)state;
	struct side a, b;
	const size_t queue = 512u * 1024;
	side_init(&a, 1, NULL, queue);
	side_init(&b, 1, NULL, 1u << 20);
	uint8_t *m = pattern(64 * 1024, 9);
	size_t sent = 0;
	/* the handshake first, then B stops reading */
	assert_int_equal(gv_tcp_send(a.t, 0, &b.addr, m, 1, now_us()), 0);
	sent++;
	run(&a, &b, 2000, &b.got_msgs, 1);
	int rc = 0;
	for (int i = 0; i < 100000 && rc == 0; i++) {
		rc = gv_tcp_send(a.t, 0, &b.addr, m, 64 * 1024, now_us());
		if (rc == 0)
			sent++;
		run(&a, NULL, 0, NULL, 0);
	}
	assert_int_equal(rc, GV_EAGAIN);
	gv_tcp_stats st;
	gv_tcp_get_stats(a.t, &st);
	assert_true(st.queued_bytes <= queue + 64 * 1024 + 8);
	assert_true(st.queue_full >= 1);
	run(&a, &b, 5000, &b.got_msgs, sent);
	assert_int_equal(b.got_msgs, sent);
	assert_true(a.readies >= 1);
	free(m);
	side_fini(&a);
	side_fini(&b);
}

static int
raw_connect(const gv_addr *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(to->port)};
	memcpy(&sa.sin_addr, to->addr, 4);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Garbage closes that connection only; a good peer still gets through. */
static void
test_garbage(void **state)
{
	(void)state;
	struct side a, b;
	side_init(&a, 1, NULL, 1u << 20);
	side_init(&b, 1, NULL, 1u << 20);
	const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f}; /* 2 GiB frame */
	uint8_t junk[200];
	memset(junk, 'x', sizeof(junk));
	junk[0] = sizeof(junk) - 4; /* a frame of HELLO size? no: junk */
	junk[1] = junk[2] = junk[3] = 0;
	int f1 = raw_connect(&b.addr), f2 = raw_connect(&b.addr),
	    f3 = raw_connect(&b.addr);
	assert_int_equal(write(f1, huge, 4), 4);
	assert_int_equal(write(f2, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(write(f3, junk, 3), 3); /* then hangs up */
	close(f3);
	run(&b, NULL, 300, NULL, 0);
	gv_tcp_stats st;
	gv_tcp_get_stats(b.t, &st);
	assert_true(st.bad_frames >= 2);
	uint8_t msg[3] = {7, 7, 7};
	assert_int_equal(gv_tcp_send(a.t, 0, &b.addr, msg, 3, now_us()), 0);
	run(&a, &b, 2000, &b.got_msgs, 1);
	assert_int_equal(b.got_msgs, 1);
	close(f1);
	close(f2);
	side_fini(&a);
	side_fini(&b);
}

/* The peer goes away: the sender is told (down), and a later send opens
 * a new connection once it is back. */
static void
test_peer_gone(void **state)
{
	(void)state;
	struct side a, b;
	side_init(&a, 1, NULL, 1u << 20);
	side_init(&b, 1, NULL, 1u << 20);
	uint8_t msg[8] = {0};
	assert_int_equal(gv_tcp_send(a.t, 0, &b.addr, msg, 8, now_us()), 0);
	run(&a, &b, 2000, &b.got_msgs, 1);
	gv_addr baddr = b.addr;
	side_fini(&b);
	/* the next send finds the connection broken (or learns it in poll) */
	for (int i = 0; i < 50 && !a.downs; i++) {
		(void)gv_tcp_send(a.t, 0, &baddr, msg, 8, now_us());
		run(&a, NULL, 20, &a.downs, 1);
	}
	assert_true(a.downs >= 1);
	side_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_peer_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
