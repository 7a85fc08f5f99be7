/* SPDX-License-Identifier: MIT */
/*
 * store.h - the versioned key/value store of one shard.
 *
 * Each key maps to its winning write: value, version (hlc, origin), the
 * version that write replaced at its origin, and a tombstone flag for
 * deletes. Writes merge by last-write-wins on the version, so every replica
 * picks the same winner whatever the order in which writes arrive.
 *
 * Conflicts. Two writes A < B are concurrent when B's writer had not seen A:
 * its replaced version B.prev is older than A (B.prev < A). A writer's
 * replaced version is the newest version it held, so B.prev >= A exactly
 * when B's writer held A or something newer. The rule is symmetric in
 * arrival order: a node holding A that receives B, and a node holding B that
 * receives A, both report the same conflict (conflict-applied at the first,
 * conflict-lost at the second) with the same winner B.
 *
 * Layout. Open addressing with linear probing over an array of entry
 * pointers; the home slot of a key is the top bits of its XXH3-64 hash, the
 * same bits that pick its Merkle leaf, so listing a leaf's entries scans
 * one run of the table. Each entry is one allocation: a 40-byte header,
 * then key and value bytes; with 8-byte slots at a load of 3/8 to 3/4 the
 * overhead beyond key and value bytes is 51 to 61 bytes per entry.
 *
 * Kinds and expiry. An entry holds plain bytes (GV_KIND_BYTES) or a
 * counter's state (GV_KIND_COUNTER, counter.h: same-epoch states merge by
 * joining, not by last-write-wins), and may carry an expiry deadline in
 * cluster milliseconds (HLC time). An entry whose deadline has passed
 * reads as absent (gv_store_get_at); gv_store_reclaim turns it into a
 * tombstone of the same version, keeping the deadline, so an older write
 * still held by some replica cannot come back. A reclaimed and an
 * unreclaimed copy of one write are the same write: its Merkle digest
 * counts an entry with a deadline as live either way, merging one into
 * the other is a duplicate, and replicas that reclaim at different moments
 * never disagree in anti-entropy. A write that arrives already expired is
 * stored as its reclaimed tombstone.
 *
 * Memory: every byte comes from the gv_mem given at init, and the total
 * (table + entries) is capped by max_memory. A write that would pass the cap
 * fails with GV_ENOSPC and changes nothing; nothing already stored is lost.
 */
#ifndef GV_CORE_STORE_H
#define GV_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

#include "merkle.h"

#define GV_STORE_DEFAULT_MAX_VALUE (1u << 20)
#define GV_STORE_MIN_CAPACITY 16

/* Outcome of merging a remote write (gv_store_merge). */
enum gv_merge_result {
	GV_MERGE_APPLIED = 0,    /* newer, and it replaced our winner: stored */
	GV_MERGE_STALE,          /* older, and our winner replaced it */
	GV_MERGE_DUPLICATE,      /* the very version we hold */
	GV_MERGE_CONFLICT_APPLIED, /* concurrent and newer: stored */
	GV_MERGE_CONFLICT_LOST,  /* concurrent and older: dropped */
	GV_MERGE_NRESULTS
};

/* What an entry's value holds. */
enum gv_kind {
	GV_KIND_BYTES = 0,
	GV_KIND_COUNTER = 1, /* a counter state (counter.h) */
	GV_KIND_MAX = GV_KIND_COUNTER,
};

/* Name of a merge result ("applied", "stale", ...). */
const char *gv_merge_result_name(int result);

/*
 * A view of one entry. Pointers returned by the store point into it and
 * stay valid until the next call that modifies the store.
 */
typedef struct gv_record {
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;
	size_t vlen;
	gv_version ver;  /* this write */
	gv_version prev; /* the version it replaced at its origin */
	bool tombstone;
	uint8_t kind;    /* GV_KIND_* (a tombstone: 0) */
	uint64_t expire; /* deadline, cluster ms; 0: none */
	bool cond;       /* made by a conditional write (SET NX) that found
			  * the key absent: two such writes of one key in
			  * conflict are counted apart (nx_conflicts) */
	uint64_t hash;   /* key hash (filled by the store; ignored as input) */
} gv_record;

typedef struct gv_store_config {
	size_t max_value;  /* bytes; 0 = GV_STORE_DEFAULT_MAX_VALUE */
	size_t max_memory; /* bytes of table + entries; 0 = no cap */
	size_t initial_capacity; /* keys to size for; 0 = minimum */
} gv_store_config;

struct gv_entry;

typedef struct gv_store {
	const gv_mem *mem;
	struct gv_entry **slots;
	size_t cap;   /* slots, power of two */
	unsigned shift; /* 64 - log2(cap): home slot = hash >> shift */
	size_t count;      /* entries, tombstones included */
	size_t tombstones;
	size_t max_value;
	size_t max_memory;
	size_t mem_used;   /* table + entries, bytes requested */
	size_t key_bytes;  /* sum of key lengths */
	size_t val_bytes;  /* sum of value lengths */
	gv_merkle *merkle; /* kept in step with every change, if set */
	uint64_t merges[GV_MERGE_NRESULTS]; /* stats by result */
	/* The cluster clock (ms) as the owner last saw it: entries whose
	 * deadline is at or before it are expired. The owner (gv_node) sets
	 * it before every call; 0 expires nothing. */
	uint64_t now_ms;
	gv_node_id self;    /* the owner's id (joined counter states) */
	size_t expiring;    /* live entries with a deadline */
	double expire_sum;  /* their deadlines summed (ms): INFO's avg_ttl */
	uint64_t reclaimed; /* expired entries turned into tombstones */
	uint64_t joins;     /* counter states joined by a merge */
	size_t reserved_live; /* live entries under the reserved prefix
			       * (node.h): the engine's own, and hashes'
			       * fields (hash.c) */
	/* If set, called after every change of an entry: r is the entry
	 * as it is now (inserted, replaced, reclaimed), or (removed) the
	 * key of one that is gone (purged, removed). Not called by
	 * gv_store_drop_before (a flush: the flush's own entry stands for
	 * it) nor by gv_store_load. The persistence log hangs here. */
	void (*journal)(void *ud, const gv_record *r, bool removed);
	void *journal_ud;
} gv_store;

/*
 * Called by gv_store_merge when the arriving write and the local winner
 * are concurrent, before anything is freed: both records are valid for the
 * duration of the call only.
 */
typedef void (*gv_conflict_fn)(void *ud, const gv_record *winner,
			       const gv_record *loser);

/* Called once per entry by the iterators; a non-zero return stops the walk
 * and is returned by the iterator. The store must not be modified. */
typedef int (*gv_store_iter_fn)(void *ud, const gv_record *rec);

/*
 * gv_store_init - an empty store.
 * Returns 0, GV_EINVAL (bad arguments, or the cap is smaller than the
 * initial table), GV_ENOMEM.
 */
int gv_store_init(gv_store *s, const gv_mem *mem, const gv_store_config *cfg);

/* Free every entry and the table. The attached Merkle tree is untouched. */
void gv_store_fini(gv_store *s);

/*
 * gv_store_set_merkle - keep m in step with the store from now on, and
 * fold the current contents into it (m should be empty). NULL detaches.
 */
void gv_store_set_merkle(gv_store *s, gv_merkle *m);

/*
 * gv_store_put - a local write: store val under key with version ver,
 * replacing (and recording as prev) whatever version the key held.
 * ver must be newer than the key's current version: the caller makes it
 * with its HLC, which has observed every stored version.
 * @out: if not NULL, receives a view of the stored entry.
 * Returns 0; GV_EKEYSIZE, GV_EVALSIZE, GV_EINVAL (zero version),
 * GV_ESTALE (ver not newer), GV_ENOSPC, GV_ENOMEM. On error nothing changes.
 */
int gv_store_put(gv_store *s, const void *key, size_t klen, const void *val,
		 size_t vlen, const gv_version *ver, gv_record *out);

/*
 * gv_store_put_ex - gv_store_put with a kind and an expiry deadline
 * (cluster ms, 0: none; one already passed is GV_EINVAL).
 */
int gv_store_put_ex(gv_store *s, const void *key, size_t klen, const void *val,
		    size_t vlen, uint8_t kind, uint64_t expire, bool cond,
		    const gv_version *ver, gv_record *out);

/*
 * gv_store_write_seen - a local write (tomb: a delete) whose writer had
 * seen the version *seen of this key's data held elsewhere (a hash's
 * fields, hash.c): the write records as prev the newer of that and the
 * key's own version, so that its receivers do not take it for a write
 * concurrent with what it replaced. A delete writes its tombstone even if
 * the key is absent or deleted here. Errors as gv_store_put_ex.
 */
int gv_store_write_seen(gv_store *s, const void *key, size_t klen,
			const void *val, size_t vlen, uint8_t kind,
			uint64_t expire, bool tomb, const gv_version *seen,
			const gv_version *ver, gv_record *out);

/*
 * gv_store_remove - remove key's entry, whatever it holds, leaving no
 * tombstone (a hash's field that a newer delete of its key made dead:
 * the delete's own entry stops it from coming back). Returns 0 or
 * GV_ENOTFOUND.
 */
int gv_store_remove(gv_store *s, const void *key, size_t klen);

/*
 * gv_store_del - a local delete: replace the key's value with a tombstone
 * of version ver.
 * Returns 0; GV_ENOTFOUND (no such key, or already deleted: no tombstone is
 * written), GV_EKEYSIZE, GV_EINVAL, GV_ESTALE, GV_ENOSPC, GV_ENOMEM.
 */
int gv_store_del(gv_store *s, const void *key, size_t klen,
		 const gv_version *ver, gv_record *out);

/*
 * gv_store_merge - merge a remote write (in: key, val, ver, prev,
 * tombstone; in->hash is ignored).
 * Returns a gv_merge_result (>= 0), or GV_EKEYSIZE, GV_EVALSIZE, GV_EINVAL
 * (zero version, tombstone with a value), GV_ENOSPC, GV_ENOMEM: then the
 * store is unchanged and the caller may retry later (anti-entropy will).
 * on_conflict (may be NULL) is called for the two conflict results.
 */
int gv_store_merge(gv_store *s, const gv_record *in, gv_conflict_fn on_conflict,
		   void *ud);

/*
 * gv_store_prefetch - hint that the key with this hash will be merged or
 * looked up soon: stage 0 fetches its home slot (and its Merkle leaf),
 * stage 1 (once the slot is likely in cache) the entry the slot points
 * to. A node calls both for the updates of a datagram before merging
 * them, and the daemon's workers for the commands a client pipelined, so
 * their cache misses overlap instead of following one another.
 */
static inline void
gv_store_prefetch(const gv_store *s, uint64_t hash, int stage)
{
	if (!s->slots)
		return;
	struct gv_entry *const *slot = &s->slots[hash >> s->shift];
	if (stage == 0) {
		__builtin_prefetch(slot);
		if (s->merkle)
			gv_merkle_prefetch(s->merkle, hash);
	} else if (*slot) {
		/* the header and the key, which may cross a line */
		__builtin_prefetch(*slot);
		__builtin_prefetch((const char *)*slot + 63);
	}
}

/*
 * gv_store_merge_out - gv_store_merge with the key's hash already computed
 * (gv__key_hash(in->key, in->klen); 0: compute it) and, when the write is
 * stored (GV_MERGE_APPLIED, GV_MERGE_CONFLICT_APPLIED), a view of the
 * stored entry in *out (if not NULL): a node's intake needs both, and
 * would otherwise hash the key again and look it up a second time.
 */
int gv_store_merge_out(gv_store *s, const gv_record *in, uint64_t hash,
		       gv_conflict_fn on_conflict, void *ud, gv_record *out);

/*
 * gv_store_get - the live value of key.
 * Returns 0 with *out filled; GV_ENOTFOUND when absent or deleted.
 */
int gv_store_get(const gv_store *s, const void *key, size_t klen,
		 gv_record *out);

/*
 * gv_store_get_at - the live value of key at cluster time now_ms: an
 * expired entry is GV_ENOTFOUND. (gv_store_get uses s->now_ms.)
 */
int gv_store_get_at(const gv_store *s, const void *key, size_t klen,
		    uint64_t now_ms, gv_record *out);

/* Whether the record's deadline has passed at now_ms. */
static inline bool
gv_record_expired(const gv_record *r, uint64_t now_ms)
{
	return r->expire && now_ms && r->expire <= now_ms;
}

/*
 * gv_store_reclaim - the background expiry cycle: examine up to max_slots
 * table slots from *cursor on (wrapping, advancing *cursor) and turn each
 * live entry whose deadline has passed at s->now_ms into its tombstone,
 * calling fn (may be NULL) with the tombstone. Returns the number
 * reclaimed. Bounded work per call, like Redis's active expiry cycle.
 */
size_t gv_store_reclaim(gv_store *s, size_t *cursor, size_t max_slots,
			void (*fn)(void *ud, const gv_record *tomb), void *ud);

/*
 * gv_store_lookup - the entry of key, tombstones included.
 * Returns 0 with *out filled, or GV_ENOTFOUND.
 */
int gv_store_lookup(const gv_store *s, const void *key, size_t klen,
		    gv_record *out);

/*
 * gv_store_lookup_hash - the newest entry whose key hashes to @hash (two
 * keys with one 64-bit hash are as rare as the hash makes them).
 * Returns 0 with *out filled, or GV_ENOTFOUND.
 */
int gv_store_lookup_hash(const gv_store *s, uint64_t hash, gv_record *out);

/*
 * gv_store_purge - collect a tombstone: remove key if it holds a tombstone
 * (or an expired entry) of exactly version ver (a newer write is kept).
 * Returns 0 or GV_ENOTFOUND.
 */
int gv_store_purge(gv_store *s, const void *key, size_t klen,
		   const gv_version *ver);

/*
 * gv_store_drop_before - remove every entry whose version is older than
 * ver (a flush), except those keep(ud, rec) says to keep. No tombstones:
 * the caller's record of the flush stops older writes from coming back.
 * Returns the number removed. O(table).
 */
size_t gv_store_drop_before(gv_store *s, const gv_version *ver,
			    bool (*keep)(void *ud, const gv_record *r),
			    void *ud);

/*
 * gv_store_reserve - grow the table now for n more entries (a load of n
 * entries in key-hash order, as a snapshot holds them, into a table
 * that grows as it goes would pile them into one probe run). Returns 0,
 * GV_ENOSPC (the cap), GV_ENOMEM.
 */
int gv_store_reserve(gv_store *s, size_t n);

/*
 * gv_store_load - install rec exactly as given (a snapshot or log record
 * being loaded): whatever key held is replaced, with no merge rule, and
 * the journal is not called. Returns 0; the errors of gv_store_put.
 */
int gv_store_load(gv_store *s, const gv_record *rec);

/* The entry in table slot i (< cap), if any: 0 or GV_ENOTFOUND. */
int gv_store_lookup_slot(const gv_store *s, size_t i, gv_record *out);

/* Walk every entry (tombstones included), in table order. */
int gv_store_foreach(const gv_store *s, gv_store_iter_fn fn, void *ud);

/*
 * gv_store_foreach_bucket - walk the entries whose key hash has top
 * `bits` bits equal to bucket (a Merkle leaf when bits = leaf_bits).
 * Cost: the entries of the bucket plus the probe run they sit in.
 * Returns the first non-zero fn result, 0, or GV_EINVAL (bits 0 or > 32,
 * bucket out of range).
 */
int gv_store_foreach_bucket(const gv_store *s, uint32_t bucket, unsigned bits,
			    gv_store_iter_fn fn, void *ud);

/* Bytes the store holds beyond its keys' and values' bytes, per entry. */
double gv_store_overhead_per_entry(const gv_store *s);

/* Size in bytes of one entry's allocation for a key and value length. */
size_t gv_store_entry_size(size_t klen, size_t vlen);

#endif /* GV_CORE_STORE_H */
