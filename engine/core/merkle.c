/* SPDX-License-Identifier: MIT */
/*
 * merkle.c - the lazily recomputed Merkle tree over key-hash buckets (see
 * merkle.h for the shape and the digest rules).
 *
 * Invariant that makes updates O(1) amortised: if a node is dirty, so are
 * all its ancestors. An update walks up marking nodes dirty and stops at the
 * first one that already is; a recompute clears the flag of every node it
 * recomputes, top-down through dirty children only.
 */
#include "merkle.h"

int
gv_merkle_init(gv_merkle *m, const gv_mem *mem, unsigned fan_log2,
	       unsigned depth)
{
	if (!m || !mem || fan_log2 < 1 || fan_log2 > 8 || depth < 1 ||
	    depth > GV_MERKLE_MAX_DEPTH ||
	    fan_log2 * depth > GV_MERKLE_MAX_LEAF_BITS)
		return GV_EINVAL;
	gv_merkle t;
	memset(&t, 0, sizeof(t));
	t.mem = mem;
	t.fan_log2 = fan_log2;
	t.depth = depth;
	t.leaf_bits = fan_log2 * depth;
	size_t n = 0;
	for (unsigned l = 0; l <= depth; l++) {
		t.off[l] = n;
		n += (size_t)1 << (fan_log2 * l);
	}
	t.off[depth + 1] = n;
	t.nnodes = n;
	t.digest = gv__zalloc(mem, n * sizeof(uint64_t));
	if (!t.digest)
		return GV_ENOMEM;
	t.dirty = gv__zalloc(mem, t.off[depth]);
	if (!t.dirty) {
		gv__free(mem, t.digest, n * sizeof(uint64_t));
		return GV_ENOMEM;
	}
	*m = t;
	return 0;
}

void
gv_merkle_fini(gv_merkle *m)
{
	if (!m || !m->digest)
		return;
	gv__free(m->mem, m->digest, m->nnodes * sizeof(uint64_t));
	gv__free(m->mem, m->dirty, m->off[m->depth]);
	m->digest = NULL;
	m->dirty = NULL;
}

void
gv_merkle_clear(gv_merkle *m)
{
	memset(m->digest, 0, m->nnodes * sizeof(uint64_t));
	memset(m->dirty, 0, m->off[m->depth]);
}

uint64_t
gv_merkle_entry_digest(uint64_t key_hash, const gv_version *ver,
		       bool tombstone)
{
	uint64_t buf[3] = {ver->hlc, ver->origin, tombstone ? 1 : 0};
	uint64_t d = XXH3_64bits_withSeed(buf, sizeof(buf), key_hash);
	/* 0 means "empty": keep an entry from vanishing from its leaf. */
	return d ? d : 1;
}

void
gv_merkle_update(gv_merkle *m, uint64_t key_hash, uint64_t delta)
{
	if (!delta)
		return;
	uint32_t idx = gv_merkle_leaf_of(m, key_hash);
	m->digest[m->off[m->depth] + idx] ^= delta;
	for (unsigned l = m->depth; l-- > 0;) {
		idx >>= m->fan_log2;
		uint8_t *d = &m->dirty[m->off[l] + idx];
		if (*d)
			break; /* ancestors are dirty already */
		*d = 1;
	}
}

static uint64_t
recompute(gv_merkle *m, unsigned level, uint32_t index)
{
	size_t self = m->off[level] + index;
	if (level == m->depth || !m->dirty[self])
		return m->digest[self];
	unsigned arity = gv_merkle_arity(m);
	size_t first = m->off[level + 1] + ((size_t)index << m->fan_log2);
	uint64_t any = 0;
	for (unsigned c = 0; c < arity; c++) {
		uint64_t d = recompute(m, level + 1, (index << m->fan_log2) + c);
		any |= d;
	}
	uint64_t digest = any ? XXH3_64bits(&m->digest[first],
					    arity * sizeof(uint64_t))
			      : 0;
	m->digest[self] = digest;
	m->dirty[self] = 0;
	m->recomputed++;
	return digest;
}

uint64_t
gv_merkle_root(gv_merkle *m)
{
	return recompute(m, 0, 0);
}

uint64_t
gv_merkle_digest(gv_merkle *m, unsigned level, uint32_t index)
{
	if (level > m->depth || index >= gv_merkle_level_size(m, level))
		return 0;
	return recompute(m, level, index);
}

int
gv_merkle_children(gv_merkle *m, unsigned level, uint32_t index,
		   uint64_t *out, size_t cap)
{
	if (level >= m->depth || index >= gv_merkle_level_size(m, level))
		return GV_EINVAL;
	unsigned arity = gv_merkle_arity(m);
	if (cap < arity)
		return GV_ENOBUFS;
	recompute(m, level, index);
	memcpy(out, &m->digest[m->off[level + 1] + ((size_t)index << m->fan_log2)],
	       arity * sizeof(uint64_t));
	return (int)arity;
}

size_t
gv_merkle_diff(const uint64_t *a, const uint64_t *b, size_t n, uint32_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			out[k++] = (uint32_t)i;
	return k;
}
