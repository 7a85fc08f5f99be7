/* SPDX-License-Identifier: MIT */
/*
 * hash_index.c - the index of a node's hashes (hash.c): per hash key, its
 * live fields in the order they arrived here, found by field in a small
 * open-addressing table of positions, and the newest field version seen.
 * Keys sit in an open-addressing table whose home slot is the top bits
 * of the key hash, as the store's, so SCAN walks hashes leaf by leaf.
 * Removal is backward-shift in both tables; the arrival order keeps
 * holes, compacted when they pass half. Every byte is counted in the
 * store's mem_used (--max-memory sees it).
 */
#include "hash_int.h"

/* ------------------------------------------------------ memory */

static void *
halloc(gv_node *n, size_t sz)
{
	void *p = gv__alloc(n->mem, sz);
	if (p) {
		n->hidx.bytes += sz;
		n->store.mem_used += sz;
	}
	return p;
}

static void
hfree(gv_node *n, void *p, size_t sz)
{
	if (!p)
		return;
	gv__free(n->mem, p, sz);
	n->hidx.bytes -= sz;
	n->store.mem_used -= sz;
}

/* ------------------------------------------------------ the index */

struct hkey *
gv__hk_find(const gv_node *n, const void *key, size_t klen, uint64_t h)
{
	const struct gv_hidx *x = &n->hidx;
	if (!x->count)
		return NULL;
	size_t mask = x->cap - 1;
	for (size_t i = (size_t)(h >> x->shift);; i = (i + 1) & mask) {
		struct hkey *k = x->slots[i];
		if (!k)
			return NULL;
		if (k->h == h && k->klen == klen &&
		    memcmp(k->key, key, klen) == 0)
			return k;
	}
}

static size_t
hk_slot(const struct gv_hidx *x, const struct hkey *k)
{
	size_t mask = x->cap - 1;
	size_t i = (size_t)(k->h >> x->shift);
	while (x->slots[i] != k)
		i = (i + 1) & mask;
	return i;
}

static void
hk_place(struct hkey **slots, size_t cap, unsigned shift, struct hkey *k)
{
	size_t i = (size_t)(k->h >> shift);
	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = k;
}

static int
hk_grow(gv_node *n)
{
	struct gv_hidx *x = &n->hidx;
	size_t cap = x->cap ? x->cap * 2 : 16;
	struct hkey **s = halloc(n, cap * sizeof(*s));
	if (!s)
		return GV_ENOMEM;
	memset(s, 0, cap * sizeof(*s));
	unsigned shift = 64 - (unsigned)__builtin_ctzll(cap);
	for (size_t i = 0; i < x->cap; i++)
		if (x->slots[i])
			hk_place(s, cap, shift, x->slots[i]);
	hfree(n, x->slots, x->cap * sizeof(*s));
	x->slots = s;
	x->cap = cap;
	x->shift = shift;
	return 0;
}

static struct hkey *
hk_add(gv_node *n, const void *key, size_t klen, uint64_t h)
{
	struct gv_hidx *x = &n->hidx;
	if ((x->count + 1) * 4 > x->cap * 3 && hk_grow(n))
		return NULL;
	struct hkey *k = halloc(n, sizeof(*k) + klen);
	if (!k)
		return NULL;
	memset(k, 0, sizeof(*k));
	k->h = h;
	k->klen = (uint32_t)klen;
	memcpy(k->key, key, klen);
	hk_place(x->slots, x->cap, x->shift, k);
	x->count++;
	return k;
}

static void
hk_free(gv_node *n, struct hkey *k)
{
	for (uint32_t i = 0; i < k->nv; i++)
		if (k->v[i])
			hfree(n, k->v[i], sizeof(struct hfield) + k->v[i]->flen);
	hfree(n, k->v, k->vcap * sizeof(*k->v));
	hfree(n, k->tab, k->tcap * sizeof(*k->tab));
	hfree(n, k, sizeof(*k) + k->klen);
}

/* Remove k from the table (backward shift) and free it. */
void
gv__hk_del(gv_node *n, struct hkey *k)
{
	struct gv_hidx *x = &n->hidx;
	size_t mask = x->cap - 1;
	size_t hole = hk_slot(x, k);
	x->slots[hole] = NULL;
	for (size_t j = (hole + 1) & mask; x->slots[j]; j = (j + 1) & mask) {
		size_t home = (size_t)(x->slots[j]->h >> x->shift);
		if (((j - home) & mask) < ((j - hole) & mask))
			continue;
		x->slots[hole] = x->slots[j];
		x->slots[j] = NULL;
		hole = j;
	}
	x->count--;
	hk_free(n, k);
}

/* The tab slot of field (or of the empty slot where it would go). */
size_t
gv__hf_slot(const struct hkey *k, const void *f, size_t flen, uint64_t fh,
	bool *found)
{
	size_t mask = k->tcap - 1;
	for (size_t i = (size_t)fh & mask;; i = (i + 1) & mask) {
		uint32_t t = k->tab[i];
		if (!t) {
			*found = false;
			return i;
		}
		const struct hfield *e = k->v[t - 1];
		if (e->h == fh && e->flen == flen &&
		    memcmp(e->f, f, flen) == 0) {
			*found = true;
			return i;
		}
	}
}

/* Compact v (drop holes) and rebuild tab with tcap slots. */
static int
hf_rebuild(gv_node *n, struct hkey *k, uint32_t tcap)
{
	uint32_t *tab = halloc(n, tcap * sizeof(*tab));
	if (!tab)
		return GV_ENOMEM;
	memset(tab, 0, tcap * sizeof(*tab));
	uint32_t j = 0;
	for (uint32_t i = 0; i < k->nv; i++)
		if (k->v[i])
			k->v[j++] = k->v[i];
	k->nv = j;
	for (uint32_t i = 0; i < j; i++) {
		size_t s = (size_t)k->v[i]->h & (tcap - 1);
		while (tab[s])
			s = (s + 1) & (tcap - 1);
		tab[s] = i + 1;
	}
	hfree(n, k->tab, k->tcap * sizeof(*tab));
	k->tab = tab;
	k->tcap = tcap;
	return 0;
}

static int
hf_add(gv_node *n, struct hkey *k, const void *f, size_t flen, uint64_t fh)
{
	if ((k->n + 1) * 4 > k->tcap * 3 &&
	    hf_rebuild(n, k, k->tcap ? k->tcap * 2 : 8))
		return GV_ENOMEM;
	if (k->nv == k->vcap) {
		uint32_t cap = k->vcap ? k->vcap * 2 : 4;
		struct hfield **v = halloc(n, cap * sizeof(*v));
		if (!v)
			return GV_ENOMEM;
		if (k->nv)
			memcpy(v, k->v, k->nv * sizeof(*v));
		hfree(n, k->v, k->vcap * sizeof(*v));
		k->v = v;
		k->vcap = cap;
	}
	struct hfield *e = halloc(n, sizeof(*e) + flen);
	if (!e)
		return GV_ENOMEM;
	e->h = fh;
	e->flen = (uint32_t)flen;
	memcpy(e->f, f, flen);
	bool found;
	size_t s = gv__hf_slot(k, f, flen, fh, &found);
	k->v[k->nv++] = e;
	k->tab[s] = k->nv;
	k->n++;
	return 0;
}

/* Remove the field in tab slot s. */
void
gv__hf_remove(gv_node *n, struct hkey *k, size_t s)
{
	uint32_t vi = k->tab[s] - 1;
	struct hfield *e = k->v[vi];
	k->v[vi] = NULL;
	hfree(n, e, sizeof(*e) + e->flen);
	k->n--;
	size_t mask = k->tcap - 1;
	size_t hole = s;
	k->tab[hole] = 0;
	for (size_t j = (hole + 1) & mask; k->tab[j]; j = (j + 1) & mask) {
		size_t home = (size_t)k->v[k->tab[j] - 1]->h & mask;
		if (((j - home) & mask) < ((j - hole) & mask))
			continue;
		k->tab[hole] = k->tab[j];
		k->tab[j] = 0;
		hole = j;
	}
	/* trailing holes cost nothing; many holes: compact */
	while (k->nv && !k->v[k->nv - 1])
		k->nv--;
	if (k->nv > 16 && k->nv - k->n > k->nv / 2)
		hf_rebuild(n, k, k->tcap); /* on failure: kept as is */
}

static uint64_t
field_hash(const void *f, size_t flen)
{
	return XXH3_64bits(f, flen);
}

/* Index a live field entry, or forget a deleted one. */
void
gv__hash_index(gv_node *n, const uint8_t *key, size_t klen, const uint8_t *f,
	    size_t flen, const gv_version *ver, bool live)
{
	uint64_t h = gv__key_hash(key, klen);
	struct hkey *k = gv__hk_find(n, key, klen, h);
	if (!k) {
		if (!live)
			return;
		k = hk_add(n, key, klen, h);
		if (!k)
			return; /* out of memory: the field is stored, unlisted */
	}
	if (gv_version_cmp(ver, &k->newest) > 0)
		k->newest = *ver;
	uint64_t fh = field_hash(f, flen);
	bool found = false;
	size_t s = k->tcap ? gv__hf_slot(k, f, flen, fh, &found) : 0;
	if (live && !found)
		hf_add(n, k, f, flen, fh);
	else if (!live && found)
		gv__hf_remove(n, k, s);
	if (!k->n)
		gv__hk_del(n, k);
}

void
gv__hash_fini(gv_node *n)
{
	struct gv_hidx *x = &n->hidx;
	for (size_t i = 0; i < x->cap; i++)
		if (x->slots[i])
			hk_free(n, x->slots[i]);
	hfree(n, x->slots, x->cap * sizeof(*x->slots));
	memset(x, 0, sizeof(*x));
}
