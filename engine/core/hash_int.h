/* SPDX-License-Identifier: MIT */
/*
 * hash_int.h - what hash.c and hash_index.c share: the index's records.
 */
#ifndef GV_CORE_HASH_INT_H
#define GV_CORE_HASH_INT_H

#include "node_int.h"

struct hfield {
	uint64_t h;
	uint32_t flen;
	uint8_t f[];
};

struct hkey {
	uint64_t h;        /* key hash (gv__key_hash) */
	gv_version newest; /* newest field write seen (live or deleted) */
	uint32_t n;        /* live fields */
	uint32_t nv, vcap; /* v: arrival order, NULL holes */
	struct hfield **v;
	uint32_t *tab; /* index + 1 into v; 0: empty; home: low bits */
	uint32_t tcap;
	uint32_t klen;
	uint8_t key[];
};

/* The hash of key (h: gv__key_hash of it), or NULL. */
struct hkey *gv__hk_find(const gv_node *n, const void *key, size_t klen,
			 uint64_t h);
/* Remove k from the index and free it. */
void gv__hk_del(gv_node *n, struct hkey *k);
/* The slot of field (fh: its hash) in k's table, *found whether it is
 * there (else the empty slot where it would go). k->tcap must be > 0. */
size_t gv__hf_slot(const struct hkey *k, const void *f, size_t flen,
		   uint64_t fh, bool *found);
/* Remove the field in slot s of k's table (k may then have n == 0). */
void gv__hf_remove(gv_node *n, struct hkey *k, size_t s);
/* A live field entry indexed, or a deleted one forgotten (the key's
 * record freed when its last field goes). */
void gv__hash_index(gv_node *n, const uint8_t *key, size_t klen,
		    const uint8_t *f, size_t flen, const gv_version *ver,
		    bool live);

#endif /* GV_CORE_HASH_INT_H */
