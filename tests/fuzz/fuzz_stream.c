/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stream.c - the stream channel's message decoder and state machine
 * (engine/core/stream.c) under arbitrary input: FETCH, DATA and NACK
 * messages from four peers, interleaved with value announcements (the
 * GV_UPD_REF updates gossip carries), queue-full answers from the
 * transport, drains, broken connections and time passing. The node holds
 * one large value of its own (so FETCHes start transfers) and a small
 * memory cap (so refusals run). The input is a run of up to 48 chunks,
 * each [len u16][ctl u8][bytes]:
 *   ctl bits 0-1  the peer
 *   ctl bits 2-3  0, 1: bytes are a stream message from the peer;
 *                 2: an announcement: key = bytes[0..8), hlc, origin,
 *                    size from bytes[8..24), the digest from [24..32);
 *                 3: the peer's queue drained (ready), or with bit 4 its
 *                    connection broke (down)
 *   ctl bit 5     the transport refuses sends (GV_EAGAIN) from now on,
 *                 until a chunk without it
 *   ctl bits 6-7  time moves on by 0, 5 ms, 1 s or 12 s, and timers run
 * Every allocation must be back when the node is deleted.
 *
 * An input that starts with 'T' is instead the byte stream a peer sends on
 * a TCP connection to the node's stream listener (io/tcp.c, in the clear):
 * the framing and the handshake (HELLO) decode it, and the messages that
 * come out go to the node as above; the connection is written, read until
 * the listener has taken everything or closed it, and closed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/node_int.h"
#include "fuzz.h"
#include "io/tcp.h"

#define MAX_CHUNKS 48

static size_t live;
static bool refuse;

static void *
t_alloc(void *ctx, size_t size)
{
	(void)ctx;
	void *p = malloc(size ? size : 1);
	if (p)
		live += size;
	return p;
}

static void
t_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	if (p) {
		live -= size;
		free(p);
	}
}

static const gv_mem tmem = {t_alloc, t_free, NULL};

static int
st_send(void *ud, const gv_addr *to, const uint8_t *msg, size_t len)
{
	(void)ud, (void)to;
	if (len > GV_STREAM_MAX_MSG(GV_STREAM_DEFAULT_CHUNK))
		abort(); /* the node never builds more than it says */
	if (len && !msg)
		abort();
	return refuse ? GV_EAGAIN : 0;
}

static gv_addr
peer(unsigned i)
{
	return (gv_addr){.family = 4, .port = (uint16_t)(7000 + i),
			 .addr = {127, 0, 0, (uint8_t)(2 + i)}};
}

/* ------------------------------------------------------- TCP mode */

static gv_node *cur; /* the node of the input being run */
static gv_tcp *tcp;
static gv_addr tcp_addr;

static void
t_recv(void *ud, unsigned lep, gv_time now, const gv_addr *from,
       const uint8_t *msg, size_t len)
{
	(void)ud, (void)lep;
	if (cur)
		(void)gv_node_stream_recv(cur, now, from, msg, len);
}

static void
t_quiet(void *ud, int level, const char *msg)
{
	(void)ud, (void)level, (void)msg;
}

static bool
tcp_setup(void)
{
	if (tcp)
		return true;
	gv_tcp_config c;
	gv_tcp_config_default(&c);
	c.cluster = 7;
	c.max_msg = GV_STREAM_MAX_MSG(GV_STREAM_DEFAULT_CHUNK);
	c.log = t_quiet;
	c.ops.recv = t_recv;
	if (gv_tcp_new(&tcp, &c))
		return false;
	/* a free port: the kernel's pick for a socket bound to port 0 */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl))
		abort();
	close(fd);
	tcp_addr = (gv_addr){.family = 4, .port = ntohs(sa.sin_port),
			     .addr = {127, 0, 0, 1}};
	if (gv_tcp_listen(tcp, 0, &tcp_addr, &tcp_addr, 0, 1))
		abort();
	return true;
}

/* Write the bytes to a new connection and let the listener take them. */
static void
tcp_feed(const uint8_t *data, size_t size, gv_time now)
{
	if (!tcp_setup())
		return;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(tcp_addr.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	size_t off = 0;
	for (int spins = 0; spins < 200; spins++) {
		if (off < size) {
			ssize_t w = send(fd, data + off, size - off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
		}
		struct pollfd p = {gv_tcp_fd(tcp), POLLIN, 0};
		poll(&p, 1, 1);
		gv_tcp_poll(tcp, now);
		char sink[256];
		ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (r == 0)
			break; /* the listener closed it */
		if (off == size && spins > 4)
			break;
	}
	close(fd);
	for (int i = 0; i < 3; i++) { /* the hang-up, taken */
		struct pollfd p = {gv_tcp_fd(tcp), POLLIN, 0};
		poll(&p, 1, 1);
		gv_tcp_poll(tcp, now);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gv_node_config c;
	gv_node_config_default(&c);
	c.id = 1;
	c.addr = peer(9);
	c.cluster = 7;
	c.mem = &tmem;
	c.merkle_depth = 2;
	c.conflict_log = 4;
	c.stream_threshold = 1024;
	c.stream_timeout_ms = 100;
	c.stream_stall_ms = 500;
	c.store.max_value = 1u << 20;
	c.store.max_memory = 2u << 20;
	c.cb.stream_send = st_send;
	gv_time now = 1000000;
	gv_node *n;
	refuse = false;
	if (gv_node_new(&n, &c, now))
		return 0;
	for (unsigned i = 0; i < 4; i++) {
		gv_member_info m = {.id = 100 + i, .addr = peer(i),
				    .state = GV_MEMBER_ALIVE, .name = "p",
				    .region = ""};
		gv_node_add_member(n, now, &m);
	}
	static uint8_t big[40000];
	memset(big, 0x5a, sizeof(big));
	(void)gv_node_put(n, now, "big", 3, big, sizeof(big), GV_PRIO_NORMAL);
	if (size && data[0] == 'T') {
		cur = n;
		tcp_feed(data + 1, size - 1, now);
		cur = NULL;
		gv_node_del(n);
		if (live)
			abort();
		return 0;
	}
	size_t off = 0;
	for (int k = 0; k < MAX_CHUNKS && off + 3 <= size; k++) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		uint8_t ctl = data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		const uint8_t *b = data + off;
		off += len;
		gv_addr from = peer(ctl & 3);
		refuse = (ctl & 0x20) != 0;
		switch ((ctl >> 2) & 3) {
		case 0:
		case 1:
			(void)gv_node_stream_recv(n, now, &from, b, len);
			break;
		case 2: {
			if (len < 32)
				break;
			uint8_t ref[GV_WIRE_REF_LEN];
			memcpy(ref, b + 16, 16);
			gv_wire_update u = {
				.ver = {gv_wire_u64_at(b, 0) | 1, 100 + (ctl & 3)},
				.flags = GV_UPD_REF,
				.key = b + 32,
				.klen = (uint16_t)(len - 32 > 8 ? 8 : len - 32),
				.val = ref,
				.vlen = GV_WIRE_REF_LEN,
			};
			gv__stream_announced(n, now, &from, 100 + (ctl & 3),
					     &u,
					     0);
			break;
		}
		default:
			if (ctl & 0x10)
				gv_node_stream_down(n, now, &from);
			else
				gv_node_stream_ready(n, now, &from);
			break;
		}
		static const gv_time steps[4] = {0, 5000, 1000000, 12000000};
		now += steps[ctl >> 6];
		if (gv_node_next_expiry(n) <= now)
			gv_node_handle_expiry(n, now);
	}
	gv_node_del(n);
	if (live)
		abort(); /* a leak */
	return 0;
}
