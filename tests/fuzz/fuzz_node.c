/* SPDX-License-Identifier: MIT */
/*
 * fuzz_node.c - arbitrary datagrams into a live node: the node's whole
 * receive path (membership, dissemination, anti-entropy, tombstones,
 * watch), its timers and its send path, with no socket. The input is a
 * run of chunks, each [len u16][from u8][bytes]: the bytes become a
 * datagram from one of 4 peer addresses, with magic, version, cluster and
 * shard forced and the checksum fixed so the records are explored; time
 * moves 10 ms between chunks, every expiry runs, and every datagram the
 * node produces is drained. The node is created and deleted per input,
 * so the sanitizers see every leak.
 */
#include <stdlib.h>

#include "core/node.h"
#include "core/wire.h"
#include "fuzz.h"

#define CLUSTER 7u

static void
drain(gv_node *n, gv_time now)
{
	static uint8_t out[GV_WIRE_MAX_MTU];
	gv_addr to;
	for (int i = 0; i < 10000; i++) {
		ssize_t len = gv_node_send(n, now, &to, out, sizeof(out));
		if (len <= 0)
			return;
	}
	abort(); /* output that never ends */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gv_node_config cfg;
	gv_node_config_default(&cfg);
	cfg.id = 0x1111;
	cfg.cluster = CLUSTER;
	cfg.addr.family = 4;
	cfg.addr.port = 7000;
	cfg.addr.addr[0] = 127;
	cfg.addr.addr[3] = 1;
	cfg.seed = 1;
	gv_time now = 1000000;
	gv_node *n;
	if (gv_node_new(&n, &cfg, now))
		abort();
	/* a peer it knows, and a write, so that rumors and anti-entropy
	 * have something to work on */
	gv_member_info m;
	memset(&m, 0, sizeof(m));
	m.id = 0x2222;
	m.addr = cfg.addr;
	m.addr.port = 7001;
	m.state = GV_MEMBER_ALIVE;
	gv_node_add_member(n, now, &m);
	gv_node_put(n, now, "k", 1, "v", 1, GV_PRIO_NORMAL);
	drain(n, now);

	static uint8_t buf[GV_WIRE_MAX_MTU];
	size_t off = 0;
	while (off + 3 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		uint8_t from = data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, data + off, len);
		off += len;
		if (len >= GV_WIRE_HEADER_LEN) {
			buf[0] = GV_WIRE_MAGIC & 0xff;
			buf[1] = GV_WIRE_MAGIC >> 8;
			buf[2] = GV_WIRE_VERSION;
			buf[3] = 0;
			for (int i = 0; i < 4; i++)
				buf[4 + i] = (uint8_t)(CLUSTER >> (8 * i));
			buf[8] = buf[9] = 0; /* shard 0 */
			fuzz_fix_checksum(buf, len);
		}
		gv_addr peer = cfg.addr;
		peer.port = (uint16_t)(7001 + (from & 3));
		gv_node_recv(n, now, &peer, buf, len);
		drain(n, now);
		now += 10000;
		if (gv_node_next_expiry(n) <= now)
			gv_node_handle_expiry(n, now);
		drain(n, now);
	}
	gv_node_del(n);
	return 0;
}
