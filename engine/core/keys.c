/* SPDX-License-Identifier: MIT */
/*
 * keys.c - key rotation through gossip itself.
 *
 * A key operation (install, use, remove) is a write of a reserved entry
 * in the replicated map, so it travels like any write (sealed with the
 * current primary key), reaches nodes that were away through
 * anti-entropy, and resolves concurrent operations by last-write-wins:
 *
 *   "\0gv\0k" id u32   op u8 (GV_KEYOP_INSTALL or GV_KEYOP_REMOVE),
 *                      key[32] (install only)
 *   "\0gv\0p"          id u32, key[32]: the primary (use)
 *   "\0gv\0h" node u64 primary id u32, ids u32[]: the keys that node
 *                      holds, which it rewrites whenever its ring
 *                      changes ("keys list" counts holders from these)
 *
 * A node's ring is a function of the entries it holds: start from the
 * ring the node was created with (its keyring file), then apply the key
 * and primary entries in version order (install adds, use adds and makes
 * primary, remove drops unless the key is primary at that point). Every
 * node that holds the same entries therefore ends with the same ring,
 * whatever order they arrived in.
 *
 * Reserved entries are not user data: the API refuses to write them
 * (gv_node_put: GV_EINVAL), and on_update is not called for them.
 */
#include "node_int.h"

#define P_KEY 'k'
#define P_PRIMARY 'p'
#define P_HELD 'h'
#define P_FLUSH 'f' /* flush.c */

static bool
sync_ring(gv_node *n, gv_time now);

void
gv__keys_init_base(gv_node *n)
{
	if (!n->cfg.keyring)
		return;
	uint32_t ids[GV_KEYRING_MAX];
	size_t k = gv_keyring_list(n->cfg.keyring, ids, GV_KEYRING_MAX);
	n->keys.base_n = k < GV_KEYRING_MAX ? k : GV_KEYRING_MAX;
	for (size_t i = 0; i < n->keys.base_n; i++) {
		n->keys.base_id[i] = ids[i];
		gv_keyring_get(n->cfg.keyring, ids[i], n->keys.base_key[i]);
	}
}

void
gv__keys_fini(gv_node *n)
{
	sodium_memzero(&n->keys.base_key, sizeof(n->keys.base_key));
	sodium_memzero(n->keys.op, sizeof(n->keys.op));
	gv__free(n->mem, n->keys.held, n->keys.held_cap * sizeof(*n->keys.held));
	n->keys.held = NULL;
}

static struct gv_keyent *
op_slot(gv_node *n, uint32_t id)
{
	for (size_t i = 0; i < n->keys.nop; i++)
		if (n->keys.op[i].id == id)
			return &n->keys.op[i];
	if (n->keys.nop < GV_KEYOPS_MAX)
		return &n->keys.op[n->keys.nop++];
	/* full: reuse the oldest removal (its key is gone everywhere) */
	struct gv_keyent *old = NULL;
	for (size_t i = 0; i < n->keys.nop; i++) {
		struct gv_keyent *o = &n->keys.op[i];
		if (o->op == GV_KEYOP_REMOVE &&
		    (!old || gv_version_cmp(&o->ver, &old->ver) < 0))
			old = o;
	}
	return old;
}

static struct gv_held *
held_slot(gv_node *n, gv_node_id node)
{
	for (size_t i = 0; i < n->keys.nheld; i++)
		if (n->keys.held[i].node == node)
			return &n->keys.held[i];
	if (n->keys.nheld == n->keys.held_cap) {
		size_t cap = n->keys.held_cap ? n->keys.held_cap * 2 : 16;
		struct gv_held *h = gv__alloc(n->mem, cap * sizeof(*h));
		if (!h)
			return NULL;
		if (n->keys.nheld)
			memcpy(h, n->keys.held, n->keys.nheld * sizeof(*h));
		gv__free(n->mem, n->keys.held,
			 n->keys.held_cap * sizeof(*h));
		n->keys.held = h;
		n->keys.held_cap = cap;
	}
	struct gv_held *h = &n->keys.held[n->keys.nheld++];
	memset(h, 0, sizeof(*h));
	h->node = node;
	return h;
}

/* A reserved entry was stored here (a local operation or from a peer). */
void
gv__keys_on_entry(gv_node *n, gv_time now, const gv_record *r)
{
	if (gv__hash_on_entry(n, now, r))
		return;
	if (r->klen < GV_RESERVED_LEN + 1 || r->tombstone)
		return;
	const uint8_t *k = r->key + GV_RESERVED_LEN;
	size_t kl = r->klen - GV_RESERVED_LEN;
	const uint8_t *v = r->val;
	switch (k[0]) {
	case P_KEY: {
		if (kl != 5 || r->vlen < 1)
			return;
		uint8_t op = v[0];
		if (!(op == GV_KEYOP_INSTALL && r->vlen == 1 + GV_KEY_LEN) &&
		    !(op == GV_KEYOP_REMOVE && r->vlen == 1))
			return;
		struct gv_keyent *o = op_slot(n, gv__ld32(k + 1));
		if (!o)
			return;
		o->id = gv__ld32(k + 1);
		o->op = op;
		o->ver = r->ver;
		if (op == GV_KEYOP_INSTALL)
			memcpy(o->key, v + 1, GV_KEY_LEN);
		else
			sodium_memzero(o->key, GV_KEY_LEN);
		break;
	}
	case P_PRIMARY:
		if (kl != 1 || r->vlen != 4 + GV_KEY_LEN)
			return;
		n->keys.has_primary = true;
		n->keys.primary.id = gv__ld32(v);
		n->keys.primary.op = GV_KEYOP_USE;
		n->keys.primary.ver = r->ver;
		memcpy(n->keys.primary.key, v + 4, GV_KEY_LEN);
		break;
	case P_HELD: {
		if (kl != 9 || r->vlen < 4 || (r->vlen - 4) % 4 ||
		    (r->vlen - 4) / 4 > GV_KEYRING_MAX)
			return;
		struct gv_held *h = held_slot(n, gv__ld64(k + 1));
		if (!h)
			return;
		h->primary = gv__ld32(v);
		h->n = (r->vlen - 4) / 4;
		for (size_t i = 0; i < h->n; i++)
			h->ids[i] = gv__ld32(v + 4 + 4 * i);
		return; /* changes no ring */
	}
	case P_FLUSH:
		if (kl == 1)
			gv__flush_apply(n, r);
		return;
	default: return;
	}
	if (n->cfg.keyring)
		sync_ring(n, now);
}

static int
ver_cmp(const void *a, const void *b)
{
	const struct gv_keyent *x = *(const struct gv_keyent *const *)a;
	const struct gv_keyent *y = *(const struct gv_keyent *const *)b;
	return gv_version_cmp(&x->ver, &y->ver);
}

struct want {
	size_t n;
	uint32_t id[GV_KEYRING_MAX];
	const uint8_t *key[GV_KEYRING_MAX];
};

static int
want_find(const struct want *w, uint32_t id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->id[i] == id)
			return (int)i;
	return -1;
}

static void
want_add(struct want *w, uint32_t id, const uint8_t *key)
{
	if (want_find(w, id) < 0 && w->n < GV_KEYRING_MAX) {
		w->id[w->n] = id;
		w->key[w->n] = key;
		w->n++;
	}
}

/* Brings the keyring to what the entries say; true if it changed. */
static bool
sync_ring(gv_node *n, gv_time now)
{
	struct want w = {0};
	for (size_t i = 0; i < n->keys.base_n; i++)
		want_add(&w, n->keys.base_id[i], n->keys.base_key[i]);
	uint32_t primary = n->keys.base_n ? n->keys.base_id[0] : 0;
	const struct gv_keyent *ev[GV_KEYOPS_MAX + 1];
	size_t nev = 0;
	for (size_t i = 0; i < n->keys.nop; i++)
		ev[nev++] = &n->keys.op[i];
	if (n->keys.has_primary)
		ev[nev++] = &n->keys.primary;
	qsort(ev, nev, sizeof(ev[0]), ver_cmp);
	for (size_t i = 0; i < nev; i++) {
		const struct gv_keyent *o = ev[i];
		int at = want_find(&w, o->id);
		switch (o->op) {
		case GV_KEYOP_INSTALL: want_add(&w, o->id, o->key); break;
		case GV_KEYOP_USE:
			want_add(&w, o->id, o->key);
			if (want_find(&w, o->id) >= 0)
				primary = o->id;
			break;
		case GV_KEYOP_REMOVE:
			if (at >= 0 && o->id != primary) {
				w.n--;
				w.id[at] = w.id[w.n];
				w.key[at] = w.key[w.n];
			}
			break;
		}
	}
	gv_keyring *kr = n->cfg.keyring;
	uint64_t gen = gv_keyring_generation(kr);
	for (size_t i = 0; i < w.n; i++)
		if (gv_keyring_install(kr, w.key[i]) < 0)
			n->st.keyring_errors++;
	if (primary && gv_keyring_use(kr, primary) < 0)
		n->st.keyring_errors++;
	uint32_t ids[GV_KEYRING_MAX];
	size_t k = gv_keyring_list(kr, ids, GV_KEYRING_MAX);
	for (size_t i = 0; i < k && i < GV_KEYRING_MAX; i++)
		if (want_find(&w, ids[i]) < 0 &&
		    gv_keyring_remove(kr, ids[i]) < 0)
			n->st.keyring_errors++;
	bool changed = gen != gv_keyring_generation(kr);
	if (changed)
		n->st.keyring_changes++;
	gv__keys_publish(n, now);
	return changed;
}

static void
reserved_key(uint8_t *out, char what)
{
	memcpy(out, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	out[GV_RESERVED_LEN] = (uint8_t)what;
}

/* Writes this node's "held" entry if its ring differs from the last. */
void
gv__keys_publish(gv_node *n, gv_time now)
{
	gv_keyring *kr = n->cfg.keyring;
	if (!kr || n->cfg.external_membership)
		return;
	uint64_t gen = gv_keyring_generation(kr);
	if (n->keys.published && gen == n->keys.published_gen)
		return;
	uint32_t ids[GV_KEYRING_MAX];
	size_t k = gv_keyring_list(kr, ids, GV_KEYRING_MAX);
	if (k > GV_KEYRING_MAX)
		k = GV_KEYRING_MAX;
	uint8_t key[GV_RESERVED_LEN + 9], val[4 + 4 * GV_KEYRING_MAX];
	reserved_key(key, P_HELD);
	gv__st64(key + GV_RESERVED_LEN + 1, n->self);
	gv__st32(val, k ? ids[0] : 0);
	for (size_t i = 0; i < k; i++)
		gv__st32(val + 4 + 4 * i, ids[i]);
	n->keys.published = true;
	n->keys.published_gen = gen;
	gv__reserved_write(n, now, key, sizeof(key), val, 4 + 4 * k);
}

int
gv_node_keys_op(gv_node *n, gv_time now, int op, const uint8_t *key,
		uint32_t id)
{
	if (!n)
		return GV_EINVAL;
	gv_keyring *kr = n->cfg.keyring;
	if (!kr)
		return GV_ENOKEYRING;
	if (n->cfg.external_membership)
		return GV_EINVAL; /* shard 0 of the process does this */
	n->now = now;
	uint8_t k[GV_RESERVED_LEN + 5], v[4 + GV_KEY_LEN];
	uint8_t held[GV_KEY_LEN];
	int rc;
	switch (op) {
	case GV_KEYOP_INSTALL:
		if (!key)
			return GV_EINVAL;
		id = gv_key_id(key);
		if (gv_keyring_get(kr, id, held) == 0) {
			/* held already: written again all the same, so that
			 * install is idempotent; another key with this id
			 * cannot be held next to it */
			bool same = sodium_memcmp(held, key, GV_KEY_LEN) == 0;
			sodium_memzero(held, sizeof(held));
			if (!same)
				return GV_EFULL;
		} else if (gv_keyring_count(kr) >= GV_KEYRING_MAX) {
			return GV_EFULL;
		}
		reserved_key(k, P_KEY);
		gv__st32(k + GV_RESERVED_LEN + 1, id);
		v[0] = GV_KEYOP_INSTALL;
		memcpy(v + 1, key, GV_KEY_LEN);
		rc = gv__reserved_write(n, now, k, sizeof(k), v,
					1 + GV_KEY_LEN);
		break;
	case GV_KEYOP_USE:
		if (gv_keyring_get(kr, id, held))
			return GV_ENOTFOUND;
		reserved_key(k, P_PRIMARY);
		gv__st32(v, id);
		memcpy(v + 4, held, GV_KEY_LEN);
		rc = gv__reserved_write(n, now, k, GV_RESERVED_LEN + 1, v,
					4 + GV_KEY_LEN);
		break;
	case GV_KEYOP_REMOVE:
		if (gv_keyring_get(kr, id, held))
			return GV_ENOTFOUND;
		if (gv_keyring_primary(kr) == id)
			return GV_EPRIMARY;
		reserved_key(k, P_KEY);
		gv__st32(k + GV_RESERVED_LEN + 1, id);
		v[0] = GV_KEYOP_REMOVE;
		rc = gv__reserved_write(n, now, k, sizeof(k), v, 1);
		break;
	default: return GV_EINVAL;
	}
	sodium_memzero(held, sizeof(held));
	sodium_memzero(v, sizeof(v));
	return rc;
}

static bool
member_live(const gv_node *n, gv_node_id id, const gv_member_info *m,
	    size_t nm)
{
	if (id == n->self)
		return true;
	for (size_t i = 0; i < nm; i++)
		if (m[i].id == id)
			return m[i].state == GV_MEMBER_ALIVE ||
			       m[i].state == GV_MEMBER_SUSPECT;
	return false;
}

size_t
gv_node_keys_list(const gv_node *n, gv_key_status *out, size_t max,
		  unsigned *live)
{
	if (!n || !n->cfg.keyring)
		return 0;
	size_t nm = gv_node_members(n, NULL, 0);
	gv_member_info *m = nm ? gv__alloc(n->mem, nm * sizeof(*m)) : NULL;
	if (nm && !m)
		return 0;
	nm = gv_node_members(n, m, nm);
	unsigned total = 1;
	for (size_t i = 0; i < nm; i++)
		total += m[i].state == GV_MEMBER_ALIVE ||
			 m[i].state == GV_MEMBER_SUSPECT;
	if (live)
		*live = total;
	/* the keys: ours, then any another live member reports */
	size_t k = 0;
	uint32_t ids[GV_KEYRING_MAX];
	size_t mine = gv_keyring_list(n->cfg.keyring, ids, GV_KEYRING_MAX);
	for (size_t i = 0; i < mine && i < GV_KEYRING_MAX && k < max; i++) {
		memset(&out[k], 0, sizeof(out[k]));
		out[k].id = ids[i];
		out[k].held = true;
		out[k].primary = i == 0;
		k++;
	}
	for (size_t h = 0; h < n->keys.nheld; h++) {
		const struct gv_held *e = &n->keys.held[h];
		if (!member_live(n, e->node, m, nm))
			continue;
		for (size_t j = 0; j < e->n; j++) {
			size_t at = 0;
			while (at < k && out[at].id != e->ids[j])
				at++;
			if (at == k) {
				if (k == max)
					continue;
				memset(&out[k], 0, sizeof(out[k]));
				out[k++].id = e->ids[j];
			}
			out[at].holders++;
			if (e->primary == e->ids[j])
				out[at].primaries++;
		}
	}
	gv__free(n->mem, m, nm * sizeof(*m));
	return k;
}
