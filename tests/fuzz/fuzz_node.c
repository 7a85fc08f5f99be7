/* SPDX-License-Identifier: MIT */
/*
 * fuzz_node.c - arbitrary datagrams into a live node: the node's whole
 * receive path (membership, dissemination, anti-entropy, tombstones,
 * watch), its timers and its send path, with no socket. The input is a
 * run of up to 32 chunks, each [len u16][ctl u8][bytes]: the bytes
 * become a datagram from one of 4 peer addresses (ctl bits 0-1), with
 * magic, version, cluster and shard forced and the checksum fixed so the
 * records are explored; every datagram the node produces is drained.
 * Then time moves on by ctl bits 2-7 (0 to 77 s, below) and whatever is
 * due runs, as in a driver that came back late: one chunk reaches probe
 * timeouts, suspicion, reaping and tombstone GC, where a fixed 10 ms a
 * chunk took thousands (most of this target's time went to such
 * chunks). A timer still due after it ran (a driver would spin) aborts.
 *
 * The node is created and deleted per input, so each input replays alone
 * exactly (tests/fuzz/replay.c) and every leak shows. What made that
 * slow (~2,000 exec/s, profiled) is kept small: a depth-2 Merkle tree
 * (the default 16^4 leaves zeroed 560 KiB per node), a short conflict log
 * and seen cache, a store capped at 64 KiB; and the node's blocks are
 * recycled between inputs (cache_alloc). Reap and tombstone grace are
 * seconds, not a day, so that they run.
 *
 * Built with FUZZ_SEALED (fuzz_node_sealed.c, target node_sealed), the
 * node holds a keyring, and each datagram, once its header is forced, is
 * sealed with the cluster key by the peers' own ring (its boot taken from
 * the input's bytes 36..40), so that the sealed receive path runs past
 * authentication: replay windows over the input's senders, incarnations
 * and seqs, key operations carried in reserved entries (which change the
 * node's ring: it is made per input), and the node's sealed sends.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/keyring.h"
#include "core/node.h"
#include "core/wire.h"
#include "fuzz.h"

#ifdef FUZZ_SEALED
#define FUZZ_KEY "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c\n"
#endif

#define CLUSTER 7u
#define MS 1000u
#define MAX_CHUNKS 32 /* datagrams per input; the rest is ignored */

/*
 * The node's allocator: libc (so ASan's redzones guard every block), but
 * a freed block is kept, poisoned, and handed out again for the same size,
 * so the next input's node does not go through ASan's allocator and
 * quarantine for each of its tables. A block used after its free is
 * still reported (use-after-poison). Every free must carry the size
 * allocated, and every byte must be back after gv_node_del: a leak check
 * that needs no LSan, so it also holds in CTest's replay under any
 * compiler. Not instrumented for coverage: its branches would only be
 * noise in the fuzzer's features.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(FUZZ_ASAN)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
/* from <sanitizer/allocator_interface.h>, which gcc 12 does not ship */
size_t __sanitizer_get_allocated_size(const volatile void *p);
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define CACHE_BLOCKS 64

static struct {
	void *p;
	size_t size;
} cache[CACHE_BLOCKS];
static size_t ncache;
static size_t live_bytes, live_blocks;

NO_COVERAGE static void *
cache_alloc(void *ctx, size_t size)
{
	(void)ctx;
	if (!size)
		size = 1;
	void *p = NULL;
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].size == size) {
			p = cache[i].p;
			cache[i] = cache[--ncache];
			ASAN_UNPOISON_MEMORY_REGION(p, size);
			/* garbage, as malloc would leave (ASan fills too) */
			memset(p, 0xbe, size < 4096 ? size : 4096);
			break;
		}
	if (!p && !(p = malloc(size)))
		return NULL;
	live_bytes += size;
	live_blocks++;
	return p;
}

NO_COVERAGE static void
cache_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	if (!p)
		return;
	if (!size)
		size = 1;
#ifdef FUZZ_ASAN
	if (__sanitizer_get_allocated_size(p) != size) {
		fprintf(stderr, "fuzz_node: a block of %zu bytes freed as %zu\n",
			__sanitizer_get_allocated_size(p), size);
		abort();
	}
#endif
	if (size > live_bytes || !live_blocks) {
		fprintf(stderr, "fuzz_node: %zu bytes freed, %zu live\n", size,
			live_bytes);
		abort();
	}
	live_bytes -= size;
	live_blocks--;
	/* full: the oldest in turn makes room, so that the blocks freed
	 * last by gv_node_del (the tables, the node) are always kept */
	static size_t victim;
	size_t i = ncache;
	if (ncache == CACHE_BLOCKS) {
		i = victim++ % CACHE_BLOCKS;
		ASAN_UNPOISON_MEMORY_REGION(cache[i].p, cache[i].size);
		free(cache[i].p);
	} else {
		ncache++;
	}
	ASAN_POISON_MEMORY_REGION(p, size);
	cache[i].p = p;
	cache[i].size = size;
}

static const gv_mem cache_mem = {cache_alloc, cache_free, NULL};

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

/*
 * Run what is due at `now` until nothing is. A late driver runs every
 * timer missed at once (the node skips whole missed periods), so a jump
 * costs one pass whatever its length.
 */
static void
expire(gv_node *n, gv_time now)
{
	for (int i = 0; gv_node_next_expiry(n) <= now; i++) {
		if (i == 1000)
			abort(); /* run, and still due: a driver would spin */
		gv_node_handle_expiry(n, now);
		drain(n, now);
	}
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
	cfg.mem = &cache_mem;
	cfg.merkle_depth = 2;
	cfg.conflict_log = 4;
	cfg.seen_cache = 16;
	cfg.store.max_memory = 64u << 10;
	cfg.dead_reap_ms = 10000;
	cfg.tombstone_grace_ms = 3000;
	gv_time now = 1000000;
#ifdef FUZZ_SEALED
	/* the peers' ring never changes; the node's is its own, per input */
	static gv_keyring *peers;
	static gv_seal_cache *pc;
	if (!peers && (gv_keyring_new(&peers, NULL) ||
		       gv_keyring_load(peers, FUZZ_KEY, sizeof(FUZZ_KEY) - 1,
				       NULL, 0) ||
		       gv_seal_cache_new(&pc, gv_mem_libc())))
		abort();
	gv_keyring *ring;
	if (gv_keyring_new(&ring, NULL) ||
	    gv_keyring_load(ring, FUZZ_KEY, sizeof(FUZZ_KEY) - 1, NULL, 0))
		abort();
	cfg.keyring = ring;
#endif
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

	static uint8_t buf[GV_WIRE_MAX_MTU + GV_SEAL_OVERHEAD];
	size_t off = 0;
	for (int k = 0; k < MAX_CHUNKS && off + 3 <= size; k++) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		uint8_t ctl = data[off + 2];
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
#ifdef FUZZ_SEALED
			uint32_t boot = (uint32_t)buf[36] |
					(uint32_t)buf[37] << 8 |
					(uint32_t)buf[38] << 16 |
					(uint32_t)buf[39] << 24;
			buf[10] = buf[11] = 0; /* reserved */
			ssize_t sl = gv_seal(peers, pc, buf, len,
					     len + GV_SEAL_OVERHEAD, boot);
			if (sl > 0)
				len = (size_t)sl;
#else
			fuzz_fix_checksum(buf, len);
#endif
		}
		gv_addr peer = cfg.addr;
		peer.port = (uint16_t)(7001 + (ctl & 3));
		gv_node_recv(n, now, &peer, buf, len);
		drain(n, now);
		/* ctl bits 2-5 times 10 ms, times 8 ^ bits 6-7: 0-150 ms in
		 * steps of 10 ms, ..., 0-77 s in steps of 5 s */
		now += (gv_time)((ctl >> 2) & 15) * 10 * MS << (3 * (ctl >> 6));
		expire(n, now);
	}
	gv_node_del(n);
#ifdef FUZZ_SEALED
	gv_keyring_del(ring);
#endif
	if (live_bytes || live_blocks) {
		fprintf(stderr, "fuzz_node: the node leaked %zu bytes in %zu "
				"blocks\n", live_bytes, live_blocks);
		abort();
	}
	return 0;
}
