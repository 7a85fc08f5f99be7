/* SPDX-License-Identifier: MIT */
/*
 * flush.c - FLUSHDB as a replicated operation.
 *
 * A flush is one reserved entry per shard (prefix + 'f', no value) whose
 * version is the flush point. It replicates like any entry (gossip, then
 * anti-entropy for a node that was away), and each node that stores a
 * newer one than it holds applies it: every entry older than the point is
 * removed (no tombstones: the flush entry is the death certificate of
 * them all) and every older write that arrives later is dropped on
 * arrival (gv__flushed, checked before the store). Writes after the flush
 * carry later versions and survive everywhere. The entry is never
 * collected: a later flush replaces it.
 */
#include "node_int.h"

#define P_FLUSH 'f'

static bool
keep_reserved(void *ud, const gv_record *r)
{
	(void)ud;
	return gv__key_sys(r->key, r->klen); /* not hashes' entries */
}

void
gv__flush_apply(gv_node *n, const gv_record *r)
{
	if (n->flush_set && gv_version_cmp(&r->ver, &n->flush_ver) <= 0)
		return;
	n->flush_ver = r->ver;
	n->flush_set = true;
	n->st.flushes++;
	n->st.flushed_entries += gv_store_drop_before(&n->store, &r->ver,
						      keep_reserved, NULL);
	gv__hash_rebuild(n);
}

int
gv_node_flush(gv_node *n, gv_time now, int priority)
{
	(void)priority; /* a flush always goes out at critical priority */
	if (!n)
		return GV_EINVAL;
	uint8_t key[GV_RESERVED_LEN + 1];
	memcpy(key, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	key[GV_RESERVED_LEN] = P_FLUSH;
	return gv__reserved_write(n, now, key, sizeof(key), NULL, 0);
}
