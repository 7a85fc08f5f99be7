/* SPDX-License-Identifier: MIT */
/*
 * merkle.h - a Merkle tree over key-hash buckets, for anti-entropy.
 *
 * The tree has arity 2^fan_log2 and depth levels below the root, so
 * 2^(fan_log2 * depth) leaves (default 16-ary, depth 4: 65,536 leaves). A
 * key belongs to the leaf given by the top bits of its 64-bit hash (the
 * store uses the same bits, so it can list a leaf's entries cheaply).
 *
 * A leaf's digest is the XOR of its entries' digests, so adding, removing or
 * overwriting an entry updates its leaf in O(1) (gv_merkle_update with the
 * XOR of old and new entry digests). Inner digests are recomputed lazily:
 * an update marks the path to the root dirty (stopping at the first node
 * already dirty, so it is O(1) amortised) and a read recomputes only dirty
 * nodes. An inner digest is 0 when all its children are 0 (empty subtree)
 * and XXH3-64 of its children's digests otherwise.
 *
 * Nodes are addressed by (level, index): level 0 is the root (index 0),
 * level depth holds the leaves; node (l, i) has children (l+1, i*arity ..
 * i*arity + arity-1).
 */
#ifndef GV_CORE_MERKLE_H
#define GV_CORE_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

#define GV_MERKLE_MAX_DEPTH 8
#define GV_MERKLE_MAX_LEAF_BITS 24
#define GV_MERKLE_DEFAULT_FAN_LOG2 4
#define GV_MERKLE_DEFAULT_DEPTH 4

typedef struct gv_merkle {
	const gv_mem *mem;
	unsigned fan_log2; /* arity = 1 << fan_log2 */
	unsigned depth;    /* levels below the root */
	unsigned leaf_bits; /* fan_log2 * depth */
	size_t nnodes;
	uint64_t *digest;  /* all levels, root first; level l at off[l] */
	uint8_t *dirty;    /* one byte per inner node (levels 0..depth-1) */
	size_t off[GV_MERKLE_MAX_DEPTH + 2];
	uint64_t recomputed; /* stats: inner digests recomputed */
} gv_merkle;

/*
 * gv_merkle_init - an empty tree (all digests 0).
 * @fan_log2: 1..8; @depth: 1..GV_MERKLE_MAX_DEPTH; fan_log2 * depth at most
 * GV_MERKLE_MAX_LEAF_BITS.
 * Returns 0, GV_EINVAL or GV_ENOMEM.
 */
int gv_merkle_init(gv_merkle *m, const gv_mem *mem, unsigned fan_log2,
		   unsigned depth);
void gv_merkle_fini(gv_merkle *m);

/* Reset to the empty tree. */
void gv_merkle_clear(gv_merkle *m);

static inline unsigned
gv_merkle_arity(const gv_merkle *m)
{
	return 1u << m->fan_log2;
}

static inline uint32_t
gv_merkle_nleaves(const gv_merkle *m)
{
	return (uint32_t)1 << m->leaf_bits;
}

/* Nodes at level l. */
static inline uint32_t
gv_merkle_level_size(const gv_merkle *m, unsigned level)
{
	return (uint32_t)1 << (m->fan_log2 * level);
}

/* The leaf a key hash belongs to: its top leaf_bits bits. */
static inline uint32_t
gv_merkle_leaf_of(const gv_merkle *m, uint64_t key_hash)
{
	return (uint32_t)(key_hash >> (64 - m->leaf_bits));
}

/* Hint that the leaf of key_hash will be updated soon (its digest). */
static inline void
gv_merkle_prefetch(const gv_merkle *m, uint64_t key_hash)
{
	if (m->digest)
		__builtin_prefetch(&m->digest[m->off[m->depth] +
					      gv_merkle_leaf_of(m, key_hash)],
				   1);
}

/* An entry's digest: XXH3 over its key hash, version and tombstone flag. */
uint64_t gv_merkle_entry_digest(uint64_t key_hash, const gv_version *ver,
				bool tombstone);

/*
 * gv_merkle_update - XOR delta into the leaf of key_hash. To add an entry
 * pass its digest, to remove it pass its digest again, to overwrite pass
 * old ^ new.
 */
void gv_merkle_update(gv_merkle *m, uint64_t key_hash, uint64_t delta);

/* The root digest (recomputes what is dirty). */
uint64_t gv_merkle_root(gv_merkle *m);

/*
 * gv_merkle_digest - the digest of node (level, index).
 * Returns 0 for an empty subtree. level ≤ depth, index < level size
 * (checked: out of range returns 0 and is a caller bug).
 */
uint64_t gv_merkle_digest(gv_merkle *m, unsigned level, uint32_t index);

/*
 * gv_merkle_children - copy the arity child digests of inner node
 * (level, index) into out (cap at least arity).
 * Returns the number written (arity), or GV_EINVAL (level ≥ depth, index
 * out of range) or GV_ENOBUFS (cap < arity).
 */
int gv_merkle_children(gv_merkle *m, unsigned level, uint32_t index,
		       uint64_t *out, size_t cap);

/*
 * gv_merkle_diff - the pure comparison at the heart of anti-entropy: given
 * the child digests of the same node in two trees (n each), write the
 * indices (0..n-1) where they differ into out (room for n) and return how
 * many.
 */
size_t gv_merkle_diff(const uint64_t *a, const uint64_t *b, size_t n,
		      uint32_t *out);

#endif /* GV_CORE_MERKLE_H */
