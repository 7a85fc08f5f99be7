/* SPDX-License-Identifier: MIT */
/*
 * node.h - one grapevine node (one shard of one process): the gossip
 * protocol as a sans-IO state machine, in the ngtcp2 style.
 *
 * Bytes in:   gv_node_recv(node, now, from, bytes, len)
 * Bytes out:  gv_node_send(node, now, &to, buf, cap), repeatedly, until it
 *             returns 0; call it after every other call, since a put, a
 *             received datagram or an expiry may all produce datagrams.
 * Time:       gv_node_next_expiry(node) says when to call
 *             gv_node_handle_expiry(node, now).
 * Randomness: a generator seeded from cfg.seed; nothing else.
 *
 * The node does dissemination (eager flooding of new writes over `fanout`
 * successor cycles, or straight from the origin in clusters of at most 16
 * peers; periodic push / pull / push-pull rounds with a retransmit budget;
 * a seen cache for duplicates), Merkle
 * anti-entropy, SWIM membership with Lifeguard's suspicion and local-health
 * refinements, the partition signal, region-aware peer choice, conflict
 * reporting and tombstone collection. Time is in microseconds (gv_time) on
 * the caller's monotonic clock; the HLC's wall clock is now + wall_offset.
 */
#ifndef GV_CORE_NODE_H
#define GV_CORE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <grapevine/grapevine.h>

#include "keyring.h"
#include "store.h"
#include "wire.h"

typedef struct gv_node gv_node;

/*
 * Keys beginning with these 4 bytes are the engine's own (key rotation,
 * keys.c): they replicate like any entry but the API refuses to write
 * them and on_update does not report them.
 */
#define GV_RESERVED_PREFIX "\0gv\0"
#define GV_RESERVED_LEN 4

static inline bool
gv_key_reserved(const void *key, size_t klen)
{
	return klen >= GV_RESERVED_LEN &&
	       memcmp(key, GV_RESERVED_PREFIX, GV_RESERVED_LEN) == 0;
}

enum gv_keyop {
	GV_KEYOP_INSTALL = 1,
	GV_KEYOP_USE = 2,
	GV_KEYOP_REMOVE = 3,
};

/* How updates spread between anti-entropy rounds. */
enum gv_mode {
	GV_MODE_EAGER = 0, /* push new updates at once over fanout successor
			    * cycles (every node gets ~fanout copies) */
	GV_MODE_PUSH,      /* push pending updates once per round only */
	GV_MODE_PULL,      /* each round, send a digest; peers answer */
	GV_MODE_PUSHPULL,  /* each round, push pending updates and a digest */
	GV_MODE_TREE,      /* push new updates at once along a broadcast
			    * tree (one copy per node), announce them on
			    * the other links (tree.c) */
};

/* Per-update priority: scales the fanout by 0.5 / 1 / 1.5 / 2. */
enum gv_priority {
	GV_PRIO_LOW = 0,
	GV_PRIO_NORMAL = 1,
	GV_PRIO_HIGH = 2,
	GV_PRIO_CRITICAL = 3,
};

/* A member as the callbacks and gv_node_members() show it. The string
 * pointers are valid for the duration of the call only. */
typedef struct gv_member_info {
	gv_node_id id;
	gv_addr addr;
	uint32_t incarnation;
	uint8_t state; /* enum gv_member_state */
	const char *name;
	const char *region;
} gv_member_info;

/* One entry of the recent-conflicts log. */
typedef struct gv_conflict_info {
	uint8_t key[64]; /* first bytes of the key */
	size_t klen;     /* full key length */
	gv_version winner, loser;
	uint8_t winner_val[64], loser_val[64]; /* first bytes of the values */
	size_t winner_vlen, loser_vlen;        /* full value lengths */
	bool winner_tomb, loser_tomb;
	gv_time at; /* when this node saw it */
} gv_conflict_info;

typedef struct gv_node_callbacks {
	/* A write was stored here: result is GV_MERGE_APPLIED or
	 * GV_MERGE_CONFLICT_APPLIED for remote writes, -1 for local ones. */
	void (*on_update)(void *ud, const gv_record *rec, int result,
			  gv_time now);
	/* A member changed state (old_state is 255 for a new member). */
	void (*on_member)(void *ud, const gv_member_info *m, int old_state,
			  gv_time now);
	/* Two concurrent writes met here (also recorded in the log). */
	void (*on_conflict)(void *ud, const gv_record *winner,
			    const gv_record *loser, gv_time now);
	/* The reachable fraction crossed the quorum: partitioned or healed. */
	void (*on_partition)(void *ud, bool partitioned, double reach,
			     gv_time now);
	/* A seed refused our join: its shard count differs from ours. */
	void (*on_join_refused)(void *ud, const gv_addr *seed,
				unsigned their_shards, gv_time now);
	/*
	 * The stream channel (stream.c; NULL: none, and values must fit a
	 * datagram). Queue one whole message for the peer whose gossip
	 * address is @to, on a reliable, ordered, authenticated pipe (the
	 * transport copies it). Returns 0; GV_EAGAIN when that peer's
	 * bounded queue is full (call gv_node_stream_ready when it drains);
	 * another negative code when the peer cannot be reached.
	 */
	int (*stream_send)(void *ud, const gv_addr *to, const uint8_t *msg,
			   size_t len);
	/* Optional: a clock in nanoseconds (the host's; the core has
	 * none), read around each compression and decompression to count
	 * their CPU cost (compress_ns, decompress_ns). NULL: not counted. */
	uint64_t (*clock_ns)(void *ud);
} gv_node_callbacks;

/* Stream channel limits */
#define GV_STREAM_MAX_FETCHES 64 /* values being fetched at once */
#define GV_STREAM_MAX_SENDS 64   /* values being sent at once */
#define GV_STREAM_SOURCES 4      /* announcers remembered per fetch */
#define GV_STREAM_DEFAULT_CHUNK (256u * 1024)
#define GV_STREAM_DEFAULT_THRESHOLD 16384
/* the largest value that travels inside a datagram (with any key, its
 * meta header and the seal, it stays under GV_WIRE_MAX_MTU): without a
 * stream channel, the largest value a node accepts */
#define GV_STREAM_INLINE_MAX 60000
/* the largest message a node sends: a DATA chunk with its header */
#define GV_STREAM_MAX_MSG(chunk) ((chunk) + GV_MAX_KEY + 64)

typedef struct gv_node_config {
	gv_node_id id;      /* non-zero */
	gv_addr addr;       /* this node's advertised address */
	char name[GV_WIRE_MAX_NAME + 1];
	char region[GV_WIRE_MAX_REGION + 1];
	uint32_t cluster;   /* cluster id carried in every datagram */
	uint16_t shard;     /* this node's shard index */
	uint16_t shards;    /* shards per process (0 or 1: unsharded); every
			       node of a cluster must agree (checked at join) */
	bool external_membership; /* no SWIM here: another shard of the same
				     process feeds gv_node_set_member() */
	uint64_t seed;      /* seeds the node's random generator */
	int64_t wall_offset_ms; /* HLC wall clock = now / 1000 + this */
	const gv_mem *mem;  /* NULL: gv_mem_libc() */

	/* dissemination */
	enum gv_mode mode;          /* GV_MODE_EAGER */
	unsigned fanout;            /* 3 */
	unsigned retransmit_mult;   /* 4: budget = mult * ceil(log10(N+1)) */
	uint64_t interval_ms;       /* 100: gossip round */
	size_t max_datagram;        /* 1400 */
	/* eager: the least time between two flooding passes of a node
	 * (1000 us). A write after a quiet spell goes at once; under load
	 * what arrives meanwhile waits for the next pass and shares its
	 * datagrams, so a node sends at most fanout datagrams per gap to
	 * its successors (more only when they are full). 0: every batch. */
	uint32_t flood_gap_us;
	/* tree mode: writes a node passed on are announced (ids only) to
	 * its other neighbours tree_lazy_us later (10000); a node told of
	 * a write it lacks waits tree_graft_us (20000) for the tree to
	 * bring it, then asks the announcer (GRAFT) */
	uint32_t tree_lazy_us;
	uint32_t tree_graft_us;
	unsigned pull_window_rounds; /* 10: a digest lists updates this recent */
	/*
	 * Bounds on what waits to be sent (0: no bound). A write that finds
	 * its queue full is still stored, counted (flood_drops, rumor_drops,
	 * outbox_drops) and reaches the peers through anti-entropy.
	 */
	size_t flood_max_bytes;  /* 16 MiB of encoded writes waiting for the
				  * next eager flooding pass */
	size_t max_rumors;       /* 65536 update rumors queued (push modes);
				  * full: the most-sent one is retired */
	size_t ready_max_bytes;  /* 16 MiB of encoded bulk datagrams
				  * (anti-entropy, syncs, pull replies): 2 s
				  * of the default anti-entropy budget */

	/* anti-entropy */
	uint64_t ae_interval_ms;    /* 1000; 0 disables periodic sessions */
	unsigned ae_max_sessions;   /* 2 concurrent sessions we initiate */
	uint64_t ae_bytes_per_sec;  /* 8 MiB/s of anti-entropy sends */
	uint64_t ae_timeout_ms;     /* 500: idle session closes */
	unsigned merkle_fan_log2;   /* 4 */
	unsigned merkle_depth;      /* 4 */

	/*
	 * membership / failure detection. The defaults see a crashed member
	 * dead at every live node within ~1.4 s (5 nodes) and ~2.5 s (150
	 * nodes) p99, with no false death at 10% loss, for 5 pings per node
	 * per second (tests/sim/test_sim_detect.c; docs/internals.md)
	 */
	uint64_t probe_interval_ms; /* 200 */
	uint64_t probe_timeout_ms;  /* 100: then ping-req, and ping again */
	unsigned indirect_checks;   /* 3 */
	unsigned suspicion_mult;    /* 3: min timeout = mult*log10(N)*probe,
				     * N at least 10 (0.6 s; 1.3 s at 150) */
	unsigned suspicion_max_mult; /* 6: max = this * min */
	unsigned awareness_max;     /* 8: local-health score ceiling */
	uint64_t reconnect_interval_ms; /* 1000: re-contact dead and seeds */
	uint64_t dead_reap_ms;      /* 24 h: forget dead members after */

	/* partitions and regions */
	double quorum;              /* 0.51 */
	bool read_only_in_minority; /* refuse local writes when partitioned */
	double region_affinity;     /* 0.7 */
	unsigned cross_region_fanout; /* 1 */

	/* data */
	gv_store_config store;
	uint64_t tombstone_grace_ms; /* 24 h */
	/* ids per generation of a recently-seen set consulted before the
	 * store (0, the default: none; the store's versions are the
	 * duplicate check, as cheap as the set's lookup, and the set cost
	 * ~11% of the CPU at 300,000 writes/s on 8 nodes) */
	size_t dedup_per_gen;
	/* entries (a power of two, 0: none) of a direct-mapped cache of
	 * the last updates seen, checked first: a duplicate copy (eager
	 * flooding delivers each write ~fanout times) costs one lookup in
	 * a small hot array instead of two cache misses in the store
	 * (1024: 8 KiB, allocated at the first update received) */
	size_t seen_cache;
	size_t conflict_log;        /* 128 recent conflicts kept */

	/* security: with a keyring, every datagram is sealed with its
	 * primary key and only sealed datagrams that a key of the ring
	 * opens are accepted (keyring.h); NULL runs in the clear. Not
	 * owned: it may be shared by several nodes (a process's shards),
	 * and it must outlive them. The node's id must be unique per
	 * process lifetime (the daemon draws it at random), or its
	 * datagrams read as replays until its incarnation moves on. */
	gv_keyring *keyring;

	/* stream channel (with cb.stream_send): values longer than
	 * stream_threshold bytes are announced in gossip and fetched over
	 * the stream (16384; at most GV_STREAM_INLINE_MAX); chunk size
	 * (256 KiB); a fetch without progress for stream_timeout_ms (2000)
	 * asks another source; a transfer whose peer has not taken a chunk
	 * for stream_stall_ms (10000) is abandoned */
	size_t stream_threshold;
	size_t stream_chunk;
	uint64_t stream_timeout_ms;
	uint64_t stream_stall_ms;
	/* compression (compress.h): a datagram whose records (its padding
	 * aside) exceed compress_threshold bytes is sent as one zstd frame
	 * (GV_WIRE_FLAG_ZSTD) when that saves at least an eighth of them
	 * (else raw, counted in compress_skipped; after failures in a row
	 * the next few are sent raw untried, zdgram.c). 0: never compress;
	 * compressed datagrams are accepted whatever this says. Default
	 * GV_COMPRESS_THRESHOLD_DEFAULT (docs/compression.md). */
	size_t compress_threshold;
	int compress_level;   /* zstd level (GV_COMPRESS_LEVEL_DEFAULT) */
	/* also compress datagrams padded to max_datagram for a UDP GSO
	 * chain (they go out one by one then); false: they stay raw and
	 * chained (the default, docs/compression.md) */
	bool compress_padded;
	/* pack: a flooding datagram takes as many records as should
	 * compress into max_datagram (after the node's recent ratio), and
	 * is sent compressed and padded with zeros to max_datagram, so GSO
	 * chains stay whole with fewer datagrams; one that does not fit is
	 * rebuilt raw (default false, docs/compression.md) */
	bool compress_pack;

	gv_node_callbacks cb;
	void *ud;
} gv_node_config;

/* The gv_node as an endpoint for a transport or the simulator (ep is the
 * gv_node *). */
extern const gv_endpoint_ops gv_node_ops;

/* Fill cfg with the defaults above (id, addr and seed left zero). */
void gv_node_config_default(gv_node_config *cfg);

/*
 * A fixed peer list shared read-only by many nodes: for benchmarks of
 * dissemination alone at sizes where every node holding a full SWIM
 * membership would not fit in memory (10^4..10^5 simulated nodes). With
 * static peers, membership and failure detection are off.
 */
typedef struct gv_static_peers {
	size_t n;
	const gv_node_id *id;
	const gv_addr *addr;
	const uint16_t *region; /* region index per peer, or NULL */
} gv_static_peers;

/*
 * gv_node_new - create a node.
 * Returns 0 and *out, or GV_EINVAL (zero id, bad address family, fanout 0,
 * max_datagram out of range, quorum outside (0, 1], ...), GV_ENOMEM.
 */
int gv_node_new(gv_node **out, const gv_node_config *cfg, gv_time now);
void gv_node_del(gv_node *n);

/*
 * gv_node_add_member - learn a member without gossip (pre-populated
 * membership: static configuration, or a simulator's fast start). The
 * member is alive with the given incarnation; nothing is broadcast.
 * Returns 0 (also if already known), GV_EINVAL, GV_ENOMEM.
 */
int gv_node_add_member(gv_node *n, gv_time now, const gv_member_info *info);

/*
 * gv_node_set_member - membership fed from outside (external_membership:
 * the shard that runs SWIM tells the others). Adds the member or updates
 * its address, incarnation, state and, when given (non-NULL), its name
 * and region: peer choice by region needs them on every shard. A member
 * that comes back from dead starts anti-entropy as usual. Nothing is
 * gossiped.
 * Returns 0, GV_EINVAL, GV_ENOMEM.
 */
int gv_node_set_member(gv_node *n, gv_time now, const gv_member_info *info);

/* Use a shared static peer list (see gv_static_peers); it must outlive the
 * node. Call before any traffic. */
int gv_node_set_static_peers(gv_node *n, const gv_static_peers *peers,
			     uint16_t own_region);

/*
 * gv_node_join - contact seeds: announce ourselves, ask each for its
 * membership, start anti-entropy with the first that answers. Seeds are
 * re-contacted every reconnect interval while we know no live member.
 * Returns 0, GV_EINVAL (no seeds), GV_ENOMEM.
 */
int gv_node_join(gv_node *n, gv_time now, const gv_addr *seeds,
		 size_t nseeds);

/* gv_node_leave - tell the cluster we are leaving (gossiped as LEFT).
 * Keep calling send() for a little while to flush. */
int gv_node_leave(gv_node *n, gv_time now);

/*
 * gv_node_recv - process one datagram from `from`.
 * Returns 0, or the decoder's error (GV_EMALFORMED, GV_ETRUNCATED,
 * GV_EBADMAGIC, GV_ECHECKSUM, GV_ECLUSTER, GV_EVERSION): the datagram was
 * counted and dropped; state is unchanged by the bad part.
 */
int gv_node_recv(gv_node *n, gv_time now, const gv_addr *from,
		 const uint8_t *buf, size_t len);

/*
 * gv_node_send - the next datagram to send, if any.
 * Returns its length (> 0) with *to set, 0 when nothing is due,
 * GV_ENOBUFS if cap is smaller than the configured max_datagram.
 * Datagrams are batched up to max_datagram; a single update too large for
 * that (a big value) is sent alone in a datagram of up to GV_WIRE_MAX_MTU
 * bytes, so give a buffer of GV_WIRE_MAX_MTU to replicate big values
 * (with a smaller one they are counted in outbox_drops and left to
 * anti-entropy, which has the same limit).
 */
ssize_t gv_node_send(gv_node *n, gv_time now, gv_addr *to, uint8_t *buf,
		     size_t cap);

/*
 * The stream channel (cb.stream_send and stream.c).
 * gv_node_stream_recv - one whole message from the peer whose gossip
 * address is @from (the transport authenticated it). Returns 0 or
 * GV_EMALFORMED (counted in stream_bad and dropped).
 * gv_node_stream_ready - @peer's queue has room again (NULL: every
 * peer's): blocked transfers resume.
 * gv_node_stream_down - the pipe to or from @peer broke: transfers to it
 * are dropped, fetches from it ask another source.
 * gv_node_stream_pending - fetches and transfers open (0: idle).
 */
int gv_node_stream_recv(gv_node *n, gv_time now, const gv_addr *from,
			const uint8_t *msg, size_t len);
void gv_node_stream_ready(gv_node *n, gv_time now, const gv_addr *peer);
void gv_node_stream_down(gv_node *n, gv_time now, const gv_addr *peer);
size_t gv_node_stream_pending(const gv_node *n);

/* When gv_node_handle_expiry should next be called (GV_TIME_NEVER: no
 * timer pending). */
gv_time gv_node_next_expiry(const gv_node *n);

/* Run the timers due at now. Returns 0. */
int gv_node_handle_expiry(gv_node *n, gv_time now);

/*
 * gv_node_put / gv_node_delete - a local write or delete, disseminated at
 * once. priority: enum gv_priority.
 * Returns 0; the store's errors (GV_EKEYSIZE, GV_EVALSIZE, GV_ENOSPC,
 * GV_ENOMEM); GV_ENOTFOUND (delete of an absent key); GV_EREADONLY when
 * partitioned with read_only_in_minority.
 */
int gv_node_put(gv_node *n, gv_time now, const void *key, size_t klen,
		const void *val, size_t vlen, int priority);
int gv_node_delete(gv_node *n, gv_time now, const void *key, size_t klen,
		   int priority);

/*
 * Expiry and counters (store.h, counter.h). Deadlines are absolute, in
 * cluster milliseconds: the HLC's wall part (gv_node_clock_ms), the same
 * clock on every node within their skew, so a key expires at the same
 * moment everywhere whatever order its writes arrived in. An expired key
 * reads as absent at once; the node reclaims its memory in the background
 * (a bounded slice of the table per expiry_tick_ms).
 *
 * gv_node_put_ex - gv_node_put with a deadline (0: none; one already
 * passed is GV_EINVAL: delete instead).
 * gv_node_expire - set (deadline) or clear (0) the expiry of a live key,
 * keeping its value: a string is written again at a new version with the
 * new deadline; a counter changes its expiry register (so increments
 * concurrent with the EXPIRE still count). The later change wins.
 * Returns 0, GV_ENOTFOUND (absent or expired), or put's errors.
 * gv_node_incr - add to a counter (INCRBY: by->is_float false, by->di;
 * INCRBYFLOAT: true, by->df). A string value that reads as a number
 * becomes the counter's base (keeping its expiry); an absent key starts
 * at 0. Returns 0 with the stored entry in *out (its value the counter's
 * state: read it with gv_counter_decode + gv_counter_format), or
 * GV_ENOTINT (the value, or the counter, is not an integer), GV_ENOTFLOAT,
 * GV_EOVERFLOW, GV_ENANINF, GV_EFULL (more than GV_COUNTER_MAX_SLOTS nodes
 * changed this counter since it was set), or put's errors.
 * gv_node_get_at - gv_node_get at time now (expiry checked against the
 * cluster clock then).
 */
typedef struct gv_incr {
	bool is_float;
	int64_t di;
	long double df;
} gv_incr;

uint64_t gv_node_clock_ms(gv_node *n, gv_time now);

/*
 * gv_node_flush - FLUSHDB for this node's shard of the cluster: a
 * replicated operation. It is a reserved entry whose version is the flush
 * point: every node that stores it (now, or on heal after a partition)
 * removes each entry older than it and drops older writes that arrive
 * later; writes after it survive. Returns 0 or a write's errors.
 */
int gv_node_flush(gv_node *n, gv_time now, int priority);
int gv_node_put_ex(gv_node *n, gv_time now, const void *key, size_t klen,
		   const void *val, size_t vlen, uint64_t expire, int priority);
/*
 * gv_node_put_nx - write only if key is absent (or expired) at this node:
 * SET NX. Returns 0 (written), 1 (the key exists: nothing written), or
 * put's errors. Checked against this replica only: two nodes
 * can both succeed; the write is marked, and when gossip later brings the
 * two together the conflict is counted in nx_conflicts.
 */
int gv_node_put_nx(gv_node *n, gv_time now, const void *key, size_t klen,
		   const void *val, size_t vlen, uint64_t expire, int priority);
/* gv_node_put_cond - gv_node_put_ex of a write the caller made under a
 * check of its own against this replica (an EXEC after WATCH): marked
 * conditional like SET NX's, so a conflict of two is counted. */
int gv_node_put_cond(gv_node *n, gv_time now, const void *key, size_t klen,
		     const void *val, size_t vlen, uint64_t expire,
		     int priority);
int gv_node_expire(gv_node *n, gv_time now, const void *key, size_t klen,
		   uint64_t expire, int priority);
int gv_node_incr(gv_node *n, gv_time now, const void *key, size_t klen,
		 const gv_incr *by, int priority, gv_record *out);
int gv_node_get_at(gv_node *n, gv_time now, const void *key, size_t klen,
		   gv_record *out);

/*
 * gv_node_import - merge a write into the store without spreading it (a
 * snapshot being loaded, or a test setting up state); anti-entropy will
 * reconcile it with the peers like any other difference.
 * Returns a gv_merge_result (>= 0) or the store's error.
 */
int gv_node_import(gv_node *n, gv_time now, const gv_record *rec);

/*
 * Persistence (grapevined --dir, docs/persistence.md). A journal, if set,
 * is called after every change of the store, whatever made it (a local
 * write, a merge from gossip or anti-entropy, expiry, a collected
 * tombstone): r is the entry as it is now, or with removed the key of one
 * that is gone (r->key, r->klen). A flush is logged as its own reserved
 * entry; the entries it drops are not reported. The callback must not
 * call back into the node.
 *
 * Loading: gv_node_load installs records exactly as given (no merge
 * rule, nothing spread, the journal not called; the clock observes their
 * versions), gv_node_load_remove undoes one, and gv_node_load_end, once
 * after the last, rebuilds what derives from the store (a flush's cut,
 * the hash index, the keyring's entries). Call them before the node
 * takes part in gossip.
 */
typedef void (*gv_journal_fn)(void *ud, const gv_record *r, bool removed);
void gv_node_set_journal(gv_node *n, gv_journal_fn fn, void *ud);
int gv_node_load(gv_node *n, gv_time now, const gv_record *rec);
int gv_node_load_remove(gv_node *n, const void *key, size_t klen);
int gv_node_load_end(gv_node *n, gv_time now);
/* Room for n more entries before a load of n (gv_store_reserve). */
int gv_node_load_reserve(gv_node *n, size_t count);

/*
 * gv_node_sync - start an anti-entropy session with the member at addr
 * now (besides the periodic ones). Returns 0, or GV_EFULL when the session
 * limit is reached.
 */
int gv_node_sync(gv_node *n, gv_time now, gv_node_id peer,
		 const gv_addr *addr);

/* gv_node_get - the live value of key. Returns 0 or GV_ENOTFOUND. */
int gv_node_get(const gv_node *n, const void *key, size_t klen,
		gv_record *out);
/* Live reserved entries in the store (the engine's own, keys.c and
 * flush.c, and hashes' fields and expiry registers, hash.c): the user's
 * key count is count - tombstones - this + gv_node_hash_count(). */
size_t gv_node_reserved_count(const gv_node *n);

/*
 * Convergence watch (gvctl watch): how many members hold the newest
 * version of a key. gv_node_watch() asks every live member for its
 * version of key (one datagram each) and returns the tally of the previous
 * round for the same key (the answers take a round trip to arrive); the
 * first call reports this node alone. One key is watched at a time.
 */
typedef struct gv_node_watch_result {
	gv_version latest;   /* newest version seen (0,0: no such key) */
	unsigned with_latest; /* members (this node included) holding it */
	unsigned answered;    /* members that answered (this node included) */
	unsigned total;       /* live members when the round started (+1) */
} gv_node_watch_result;

int gv_node_watch(gv_node *n, gv_time now, const void *key, size_t klen,
		  gv_node_watch_result *out);

/*
 * gv_node_holders - WAIT's question: how many other live members hold key
 * at version ver or newer? Answers come from queries like the watch's
 * (one small datagram to each live member not yet heard to hold it, at
 * most every 2 ms per key); call again until the count is high enough
 * or time is up. A member heard to hold it once stays counted (a newer
 * version supersedes, never removes, the write). Up to GV_HOLD_SLOTS
 * (key, version) questions are followed at once.
 * Returns 0 with *holders and *alive (other live members now).
 */
int gv_node_holders(gv_node *n, gv_time now, const void *key, size_t klen,
		    const gv_version *ver, unsigned *holders, unsigned *alive);

/*
 * Hashes (hash.c; the rule is in docs/cache.md). Each field is its own
 * entry (a reserved key made of the hash's key and the field) with its
 * own version: fields written at two nodes at once both survive, one
 * field written twice resolves by last-write-wins (a conflict, as for
 * keys), HDEL leaves a field tombstone. A write of the key itself (DEL,
 * SET, INCR...) at version v removes every field older than v, wherever
 * it was written; the hash's expiry is a last-write-wins register of
 * its own: once its deadline D has passed, fields written before D are
 * gone. A node keeps an index of its hashes (key -> fields in arrival
 * order), counted in the store's memory.
 *
 * The callers check types (a hash command on a string is Redis's
 * WRONGTYPE): gv_node_key_type says what key holds.
 *
 * gv_node_hset - HSET of one field. Returns 1 (a new field), 0 (one
 *   changed), or put's errors (GV_EKEYSIZE: key and field together too
 *   long for a key).
 * gv_node_hdel - 1 (deleted), 0 (no such field), or put's errors.
 * gv_node_hget - the live field: 0 with *out (a counter's state for a
 *   field HINCRBY made: gv_counter_decode), or GV_ENOTFOUND.
 * gv_node_hincr - gv_node_incr on a field (errors as it).
 * gv_node_hlen - the number of live fields.
 * gv_node_hash_foreach - fn for each live field, in arrival order; a
 *   non-zero return stops the walk and is returned. The node must not be
 *   changed by fn.
 * gv_node_hash_expire - EXPIRE (deadline, cluster ms) or PERSIST (0) of
 *   a live hash. Returns 0, GV_ENOTFOUND, or put's errors.
 * gv_node_hash_deadline - the live hash's deadline (0: none).
 * gv_node_key_version - key's version as WATCH sees it (its entry's,
 *   or for a hash the newest of its fields' and expiry's), *live whether
 *   it holds a live value (hash or not).
 * gv_node_hash_count - hashes held here (counted in DBSIZE).
 * gv_node_hash_foreach_key - fn for each hash not expired at now_ms
 *   (its key in rec->key, rec->klen; nothing else set) whose key hash's
 *   top `bits` bits are bucket (bits 0: all hashes), as
 *   gv_store_foreach_bucket; it changes nothing (fn may not either).
 * gv_node_hash_has - whether the index holds key (changes nothing).
 */
enum { GV_TYPE_NONE = 0, GV_TYPE_STRING = 1, GV_TYPE_HASH = 2 };
/* The store key of a hash's field (WAIT asks peers about it): written
 * into out (GV_MAX_KEY bytes); returns its length, or 0 when key and
 * field are too long together. */
size_t gv_hash_field_key(uint8_t *out, const void *key, size_t klen,
			 const void *field, size_t flen);
/* A store key as users name it: a hash's field entry as "key[field]"
 * (at most cap bytes written, *full its whole length). Returns the bytes
 * written, or 0 if key is not a field's entry (shown as it is). */
size_t gv_key_display(const uint8_t *key, size_t klen, uint8_t *out,
		      size_t cap, size_t *full);
int gv_node_key_type(gv_node *n, gv_time now, const void *key, size_t klen);
int gv_node_hset(gv_node *n, gv_time now, const void *key, size_t klen,
		 const void *field, size_t flen, const void *val, size_t vlen,
		 int priority);
int gv_node_hdel(gv_node *n, gv_time now, const void *key, size_t klen,
		 const void *field, size_t flen, int priority);
int gv_node_hget(gv_node *n, gv_time now, const void *key, size_t klen,
		 const void *field, size_t flen, gv_record *out);
int gv_node_hincr(gv_node *n, gv_time now, const void *key, size_t klen,
		  const void *field, size_t flen, const gv_incr *by,
		  int priority, gv_record *out);
size_t gv_node_hlen(gv_node *n, gv_time now, const void *key, size_t klen);
typedef int (*gv_hash_fn)(void *ud, const uint8_t *field, size_t flen,
			  const gv_record *rec);
int gv_node_hash_foreach(gv_node *n, gv_time now, const void *key,
			 size_t klen, gv_hash_fn fn, void *ud);
int gv_node_hash_expire(gv_node *n, gv_time now, const void *key,
			size_t klen, uint64_t deadline, int priority);
uint64_t gv_node_hash_deadline(gv_node *n, gv_time now, const void *key,
			       size_t klen);
void gv_node_key_version(gv_node *n, gv_time now, const void *key,
			 size_t klen, gv_version *ver, bool *live);
size_t gv_node_hash_count(const gv_node *n);
int gv_node_hash_foreach_key(gv_node *n, uint64_t now_ms, uint32_t bucket,
			     unsigned bits, gv_store_iter_fn fn, void *ud);
bool gv_node_hash_has(const gv_node *n, const void *key, size_t klen);

/* The Merkle root of this node's data. */
uint64_t gv_node_root(gv_node *n);

/* The store (read-only use: iteration, counts). */
const gv_store *gv_node_store(const gv_node *n);

/* Members other than self; writes up to max, returns the total count. */
size_t gv_node_members(const gv_node *n, gv_member_info *out, size_t max);

/* Self as a member (incarnation, state). */
void gv_node_self(const gv_node *n, gv_member_info *out);

/* The most recent conflicts, newest first; returns how many were written. */
size_t gv_node_conflicts(const gv_node *n, gv_conflict_info *out, size_t max);

/* Fraction of the membership reachable (alive, self included). */
double gv_node_reach(const gv_node *n);
bool gv_node_partitioned(const gv_node *n);

typedef struct gv_node_stats {
	/* datagrams */
	uint64_t dgrams_in, dgrams_out, bytes_in, bytes_out;
	uint64_t dgrams_bad;        /* failed to decode: counted and dropped */
	uint64_t dgrams_foreign;    /* other cluster or shard */
	/* updates */
	uint64_t updates_local;
	uint64_t updates_in;        /* update records received */
	uint64_t updates_out;       /* update records sent */
	uint64_t merge[GV_MERGE_NRESULTS];
	uint64_t updates_refused;   /* store refused (cap, limits): AE retries */
	uint64_t dedup_hits;
	uint64_t hlc_rejected;      /* update timestamps too far ahead */
	/* anti-entropy */
	uint64_t ae_sessions;       /* sessions initiated */
	uint64_t ae_sessions_clean; /* ... that found the roots equal */
	uint64_t ae_msgs_out, ae_bytes_out, ae_msgs_in, ae_bytes_in;
	uint64_t ae_entries_sent;
	/* membership */
	uint64_t probes, probe_fails, ping_reqs, suspicions, refutes;
	uint64_t members_alive, members_suspect, members_dead, members_left;
	uint64_t awareness;
	/* tombstones */
	uint64_t tombstones_purged;
	/* partitions */
	uint64_t partitions, heals;
	/* sends dropped because the outbox was full */
	uint64_t outbox_drops;
	/* joins refused: ours by a seed, or a joiner's by us (shard count) */
	uint64_t joins_refused;
	/* sealed gossip: datagrams dropped before they touched any state */
	uint64_t auth_clear;       /* clear, while we hold a keyring */
	uint64_t auth_no_keyring;  /* sealed, and we hold no keyring */
	uint64_t auth_unknown_key; /* sealed with a key not in our ring */
	uint64_t auth_failed;      /* tag did not verify: forged, tampered */
	uint64_t auth_replayed;    /* seen before */
	uint64_t auth_stale;       /* older than the replay window */
	uint64_t auth_windows_forgotten; /* replay table full: half dropped */
	uint64_t seal_errors;      /* could not seal: not sent */
	uint64_t keyring_changes;  /* ring changed by gossiped key operations */
	uint64_t keyring_errors;   /* a gossiped operation could not apply */
	/* writes not queued for eager flooding (flood_max_bytes reached):
	 * stored, and carried to the peers by anti-entropy */
	uint64_t flood_drops;
	/* update rumors retired early because the push queue was full
	 * (max_rumors), and purge rumors not queued: anti-entropy (and, for
	 * purges, the tombstone grace period) covers them */
	uint64_t rumor_drops;
	/* broadcast tree (tree mode): announced write ids sent and
	 * received, write ids asked for by GRAFTs (announced but not
	 * received in time) and asked of us, announcements not queued
	 * (the queue was full: anti-entropy covers them) */
	uint64_t tree_ihave_out, tree_ihave_in;
	uint64_t tree_grafts_out, tree_grafts_in;
	uint64_t tree_dups; /* a second copy on the tree (views differ) */
	uint64_t tree_graft_drops; /* missing writes not asked for: over
				    * the GRAFT budget (anti-entropy) */
	uint64_t tree_ann_drops;
	/* writes received first on a tree link, and the hops they took
	 * from their origin (summed: the mean is the tree's path length) */
	uint64_t tree_received, tree_hops;
	/* expiry: expired entries reclaimed (turned into tombstones by the
	 * background cycle); counters: states joined with a concurrent one,
	 * and increments at this node */
	uint64_t expired_reclaimed;
	uint64_t counter_joins;
	uint64_t counter_incrs;
	/* flushes: applied here (local or from a peer), entries they
	 * removed, and writes older than the last flush dropped on arrival */
	uint64_t flushes;
	uint64_t flushed_entries;
	uint64_t flushed_updates;
	/* conflicts between two conditional writes (SET NX) that both found
	 * the key absent at their nodes: both succeeded, one was lost */
	uint64_t nx_conflicts;
	/* stream channel: messages and bytes; fetches started, retried at
	 * another source, timed out, given up, not started (table full);
	 * values fetched and served (and their bytes); NACKs; malformed or
	 * digest-failed messages; messages for no open fetch; values
	 * refused (max_value, max_memory); sends that found a full queue;
	 * transfers abandoned because the peer stalled */
	uint64_t stream_msgs_in, stream_msgs_out;
	uint64_t stream_bytes_in, stream_bytes_out;
	uint64_t stream_fetches, stream_fetch_retries, stream_timeouts;
	uint64_t stream_fetch_failed, stream_fetch_drops;
	uint64_t stream_values_in, stream_value_bytes_in;
	uint64_t stream_sends, stream_values_out, stream_value_bytes_out;
	uint64_t stream_nacks_in, stream_nacks_out;
	uint64_t stream_bad, stream_unexpected, stream_refused;
	uint64_t stream_blocked, stream_stalls;
	/* stream chunks sent compressed (their bytes are counted in
	 * compress_in_bytes / compress_out_bytes with the datagrams'), and
	 * received compressed */
	uint64_t stream_chunks_zipped, stream_chunks_unzipped;
	/* transfers ended by their fetcher (it went to another source) */
	uint64_t stream_cancels;
	/* hashes (hash.c): a string and a hash written concurrently at two
	 * nodes (the newer decided the type); fields removed because a
	 * newer delete, overwrite or expiry of their key made them dead;
	 * remote field writes dropped on arrival for the same reason */
	uint64_t type_conflicts;
	uint64_t hash_fields_killed;
	uint64_t hash_refused;
	/* compression: datagrams sent compressed, their records' bytes
	 * before and after (compression ratio: in / out); datagrams tried
	 * but sent raw (not an eighth smaller) or not tried (backing off
	 * after failures); compressed datagrams
	 * received, and those refused (a bad frame: among dgrams_bad); the
	 * time spent, when cb.clock_ns is given */
	uint64_t compressed_datagrams;
	uint64_t compress_in_bytes, compress_out_bytes;
	uint64_t compress_skipped;
	uint64_t decompressed_datagrams;
	uint64_t decompress_errors;
	uint64_t compress_ns, decompress_ns;
	uint64_t compress_reused; /* of compressed_datagrams: a kept frame
				   * reused (the same records to another
				   * peer), not compressed again */
} gv_node_stats;

const gv_node_stats *gv_node_get_stats(const gv_node *n);

/*
 * gv_node_set_compress - change cfg.compress_threshold and
 * cfg.compress_level at run time (the next datagram sent uses them).
 * Returns 0, GV_EINVAL (n NULL, level out of range).
 */
int gv_node_set_compress(gv_node *n, size_t threshold, int level);

/*
 * gv_node_keys_op - change the cluster's keyring, through gossip (keys.c).
 * INSTALL adds @key everywhere; USE makes the held key @id primary
 * everywhere (install it on every member first: `keys list` shows when
 * all hold it); REMOVE drops @id everywhere (not the primary). The
 * operation applies here at once and reaches the other members like a
 * write. Returns 0; GV_ENOKEYRING (running in the clear), GV_EFULL (ring
 * full, or another key has this id), GV_ENOTFOUND (USE or REMOVE of a
 * key not held here), GV_EPRIMARY (REMOVE of the primary), GV_EINVAL
 * (also: a node with external membership -- shard 0 does this), or a
 * store error.
 */
int gv_node_keys_op(gv_node *n, gv_time now, int op, const uint8_t *key,
		    uint32_t id);

typedef struct gv_key_status {
	uint32_t id;
	bool held;          /* in this node's ring */
	bool primary;       /* this node's primary */
	unsigned holders;   /* live members (this one included) holding it */
	unsigned primaries; /* ... using it as their primary */
} gv_key_status;

/*
 * gv_node_keys_list - every key this node holds or a live member reports
 * holding, this node's primary first, with holder counts from the
 * members' reports (each member rewrites its report when its ring
 * changes). *live: live members counted, this node included. Returns how
 * many keys were written (at most max); 0 without a keyring.
 */
size_t gv_node_keys_list(const gv_node *n, gv_key_status *out, size_t max,
			 unsigned *live);

/* Name of a mode ("eager", ...); gv_mode_parse returns -1 if unknown. */
const char *gv_mode_name(int mode);
int gv_mode_parse(const char *s);

#endif /* GV_CORE_NODE_H */
