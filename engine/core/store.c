/* SPDX-License-Identifier: MIT */
/*
 * store.c - the versioned key/value store (see store.h for the model).
 *
 * Open addressing with linear probing; a slot holds a pointer to an entry
 * or NULL. The home slot is the top log2(cap) bits of the key hash, so the
 * table is ordered by hash prefix and a Merkle leaf's entries sit in one run
 * of slots. Removal (tombstone collection) uses backward-shift deletion, so
 * no deleted-slot markers ever accumulate. The table doubles at 3/4 load.
 *
 * Every change that can fail (allocation, memory cap) is checked before
 * anything is modified, so an error leaves the store exactly as it was.
 */
#include "store.h"

#include "counter.h"

/*
 * Entry header: 40 bytes, then key bytes, then (META_BIT) the kind u8 and
 * expiry u64, then value bytes. The key hash is
 * not stored: it is recomputed (XXH3 over at most 1 KiB) when the table
 * grows or a walk needs it, which keeps the per-entry overhead under 64
 * bytes at every load factor.
 */
struct gv_entry {
	gv_version ver;
	gv_version prev;
	uint16_t klen;       /* <= GV_MAX_KEY */
	uint16_t flags;      /* TOMB_BIT | META_BIT | COND_BIT */
	uint32_t vlen;       /* value bytes (the meta header excluded) */
	uint8_t data[];
};

#define TOMB_BIT 0x1u
#define META_BIT 0x2u /* kind and expiry follow the key */
#define COND_BIT 0x4u /* written by a conditional write */
#define VLEN_MAX UINT32_MAX
#define META_LEN 9

_Static_assert(sizeof(struct gv_entry) == 40, "entry header is 40 bytes");

static const char *const merge_names[GV_MERGE_NRESULTS] = {
	"applied", "stale", "duplicate", "conflict-applied", "conflict-lost",
};

const char *
gv_merge_result_name(int result)
{
	if (result < 0 || result >= GV_MERGE_NRESULTS)
		return "error";
	return merge_names[result];
}

size_t
gv_store_entry_size(size_t klen, size_t vlen)
{
	return sizeof(struct gv_entry) + klen + vlen;
}

static inline bool
entry_tomb(const struct gv_entry *e)
{
	return (e->flags & TOMB_BIT) != 0;
}

static inline size_t
entry_vlen(const struct gv_entry *e)
{
	return e->vlen;
}

static inline bool
entry_meta(const struct gv_entry *e)
{
	return (e->flags & META_BIT) != 0;
}

static inline size_t
entry_size(const struct gv_entry *e)
{
	return gv_store_entry_size(e->klen, entry_vlen(e)) +
	       (entry_meta(e) ? META_LEN : 0);
}

static inline uint8_t
entry_kind(const struct gv_entry *e)
{
	return entry_meta(e) ? e->data[e->klen] : 0;
}

static inline uint64_t
entry_expire(const struct gv_entry *e)
{
	return entry_meta(e) ? gv__ld64(e->data + e->klen + 1) : 0;
}

static inline const uint8_t *
entry_val(const struct gv_entry *e)
{
	return e->data + e->klen + (entry_meta(e) ? META_LEN : 0);
}

/* A live entry whose deadline has passed at now_ms. */
static inline bool
entry_expired_at(const struct gv_entry *e, uint64_t now_ms)
{
	uint64_t x;
	return !entry_tomb(e) && now_ms && (x = entry_expire(e)) && x <= now_ms;
}

/* Merkle: an entry with a deadline counts as live whether reclaimed or
 * not, so replicas that reclaim at different moments agree. */
static inline bool
digest_tomb(bool tomb, uint64_t expire)
{
	return tomb && !expire;
}

static inline uint64_t
entry_hash(const struct gv_entry *e)
{
	return gv__key_hash(e->data, e->klen);
}

static void
entry_view(const struct gv_entry *e, uint64_t hash, gv_record *r)
{
	r->key = e->data;
	r->klen = e->klen;
	r->val = entry_val(e);
	r->vlen = entry_vlen(e);
	r->ver = e->ver;
	r->prev = e->prev;
	r->tombstone = entry_tomb(e);
	r->kind = entry_kind(e);
	r->expire = entry_expire(e);
	r->cond = (e->flags & COND_BIT) != 0;
	r->hash = hash;
}

static uint64_t
entry_digest(const struct gv_entry *e, uint64_t hash)
{
	return gv_merkle_entry_digest(hash, &e->ver,
				      digest_tomb(entry_tomb(e), entry_expire(e)));
}

static unsigned
log2_pow2(size_t n)
{
	return (unsigned)__builtin_ctzll((unsigned long long)n);
}

static size_t
pow2_at_least(size_t n)
{
	size_t c = GV_STORE_MIN_CAPACITY;
	while (c < n)
		c <<= 1;
	return c;
}

int
gv_store_init(gv_store *s, const gv_mem *mem, const gv_store_config *cfg)
{
	if (!s || !mem)
		return GV_EINVAL;
	gv_store_config def = {0};
	if (!cfg)
		cfg = &def;
	if (cfg->max_value > VLEN_MAX ||
	    cfg->initial_capacity > (SIZE_MAX / 2 / sizeof(void *)))
		return GV_EINVAL;
	/* Room for initial_capacity keys below the 3/4 load limit. */
	size_t cap = pow2_at_least(cfg->initial_capacity +
				   cfg->initial_capacity / 3 + 1);
	size_t table = cap * sizeof(struct gv_entry *);
	if (cfg->max_memory && table > cfg->max_memory)
		return GV_EINVAL;
	struct gv_entry **slots = gv__zalloc(mem, table);
	if (!slots)
		return GV_ENOMEM;
	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->slots = slots;
	s->cap = cap;
	s->shift = 64 - log2_pow2(cap);
	s->max_value = cfg->max_value ? cfg->max_value
				      : GV_STORE_DEFAULT_MAX_VALUE;
	s->max_memory = cfg->max_memory;
	s->mem_used = table;
	return 0;
}

void
gv_store_fini(gv_store *s)
{
	if (!s || !s->slots)
		return;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			gv__free(s->mem, s->slots[i], entry_size(s->slots[i]));
	gv__free(s->mem, s->slots, s->cap * sizeof(struct gv_entry *));
	s->slots = NULL;
}

static int
fold_into_merkle(void *ud, const gv_record *r)
{
	gv_merkle_update(ud, r->hash,
			 gv_merkle_entry_digest(r->hash, &r->ver,
						digest_tomb(r->tombstone,
							    r->expire)));
	return 0;
}

void
gv_store_set_merkle(gv_store *s, gv_merkle *m)
{
	s->merkle = m;
	if (m)
		gv_store_foreach(s, fold_into_merkle, m);
}

/* Slot index of key, or the empty slot where it would go (*found false). */
static size_t
find_slot(const gv_store *s, uint64_t hash, const void *key, size_t klen,
	  bool *found)
{
	size_t mask = s->cap - 1;
	size_t i = (size_t)(hash >> s->shift);
	for (;;) {
		const struct gv_entry *e = s->slots[i];
		if (!e) {
			*found = false;
			return i;
		}
		if (e->klen == klen && memcmp(e->data, key, klen) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static bool
over_cap(const gv_store *s, size_t add, size_t sub)
{
	if (!s->max_memory)
		return false;
	return s->mem_used - sub + add > s->max_memory;
}

/* Rehash into a table of new_cap slots, already allocated as `slots`. */
static void
rehash(gv_store *s, struct gv_entry **slots, size_t new_cap)
{
	unsigned shift = 64 - log2_pow2(new_cap);
	size_t mask = new_cap - 1;
	for (size_t i = 0; i < s->cap; i++) {
		struct gv_entry *e = s->slots[i];
		if (!e)
			continue;
		size_t j = (size_t)(entry_hash(e) >> shift);
		while (slots[j])
			j = (j + 1) & mask;
		slots[j] = e;
	}
	gv__free(s->mem, s->slots, s->cap * sizeof(struct gv_entry *));
	s->mem_used -= s->cap * sizeof(struct gv_entry *);
	s->mem_used += new_cap * sizeof(struct gv_entry *);
	s->slots = slots;
	s->cap = new_cap;
	s->shift = shift;
}

/* What install writes besides key and value. */
struct meta {
	uint8_t kind;
	uint64_t expire;
	bool cond;
};

static inline size_t
meta_len(const struct meta *m)
{
	return m->kind || m->expire ? META_LEN : 0;
}

/* Write flags, meta and value of e (its key is in place). */
static void
entry_fill(struct gv_entry *e, const void *val, size_t vlen, bool tomb,
	   const struct meta *m)
{
	size_t ml = meta_len(m);
	e->vlen = (uint32_t)vlen;
	e->flags = (uint16_t)((tomb ? TOMB_BIT : 0) | (ml ? META_BIT : 0) |
			      (m->cond && !tomb ? COND_BIT : 0));
	uint8_t *p = e->data + e->klen;
	/* the value first: it may be this entry's own bytes, where the meta
	 * header is about to go */
	if (vlen)
		memmove(p + ml, val, vlen);
	if (ml) {
		p[0] = m->kind;
		gv__st64(p + 1, m->expire);
	}
}

static struct gv_entry *
entry_new(gv_store *s, const void *key, size_t klen,
	  const void *val, size_t vlen, const gv_version *ver,
	  const gv_version *prev, bool tomb, const struct meta *m)
{
	struct gv_entry *e = gv__alloc(
		s->mem, gv_store_entry_size(klen, vlen) + meta_len(m));
	if (!e)
		return NULL;
	e->ver = *ver;
	e->prev = *prev;
	e->klen = (uint16_t)klen;
	if (klen)
		memcpy(e->data, key, klen);
	entry_fill(e, val, vlen, tomb, m);
	return e;
}

/* A live entry under the engine's reserved prefix (node.h's
 * GV_RESERVED_PREFIX): counted apart, so that the user's key count is
 * count - tombstones - reserved_live. */
static inline bool
entry_reserved_live(const struct gv_entry *e)
{
	return !entry_tomb(e) && e->klen >= 4 &&
	       memcmp(e->data, "\0gv\0", 4) == 0;
}

static void
account_add(gv_store *s, const struct gv_entry *e)
{
	s->count++;
	s->reserved_live += entry_reserved_live(e);
	s->tombstones += entry_tomb(e);
	if (!entry_tomb(e) && entry_expire(e)) {
		s->expiring++;
		s->expire_sum += (double)entry_expire(e);
	}
	s->mem_used += entry_size(e);
	s->key_bytes += e->klen;
	s->val_bytes += entry_vlen(e);
}

static void
account_sub(gv_store *s, const struct gv_entry *e)
{
	s->count--;
	s->reserved_live -= entry_reserved_live(e);
	s->tombstones -= entry_tomb(e);
	if (!entry_tomb(e) && entry_expire(e)) {
		s->expiring--;
		s->expire_sum -= (double)entry_expire(e);
		if (!s->expiring)
			s->expire_sum = 0; /* no drift kept past empty */
	}
	s->mem_used -= entry_size(e);
	s->key_bytes -= e->klen;
	s->val_bytes -= entry_vlen(e);
}

/* Tell the journal (store.h) what entry e holds now. */
static void
journal_entry(gv_store *s, const struct gv_entry *e, uint64_t hash)
{
	gv_record r;
	entry_view(e, hash, &r);
	s->journal(s->journal_ud, &r, false);
}

/* Tell the journal that key is gone. */
static void
journal_removed(gv_store *s, const void *key, size_t klen, uint64_t hash)
{
	gv_record r;
	memset(&r, 0, sizeof(r));
	r.key = key;
	r.klen = klen;
	r.hash = hash;
	s->journal(s->journal_ud, &r, true);
}

/*
 * Store a new entry for key at slot i (found: replace the entry there;
 * else insert, growing the table first if needed). All checks happen
 * before the first change. With replaced != NULL the replaced entry is
 * handed back to the caller (who must free it) instead of being freed.
 */
static int
install(gv_store *s, size_t i, bool found, uint64_t hash, const void *key,
	size_t klen, const void *val, size_t vlen, const gv_version *ver,
	const gv_version *prev, bool tomb, const struct meta *m,
	gv_record *out, struct gv_entry **replaced)
{
	size_t need = gv_store_entry_size(klen, vlen) + meta_len(m);
	struct gv_entry *old = found ? s->slots[i] : NULL;
	size_t old_size = old ? entry_size(old) : 0;
	size_t new_cap = s->cap;
	if (!found && (s->count + 1) * 4 > s->cap * 3)
		new_cap = s->cap * 2;
	size_t table_add = (new_cap - s->cap) * sizeof(struct gv_entry *);
	if (over_cap(s, need + table_add, old_size))
		return GV_ENOSPC;

	if (old && !replaced && entry_size(old) == need) {
		/* Same size (the key is the same): overwrite in place, with no
		 * allocation; memmove, since val may be this entry's own bytes. */
		uint64_t delta = entry_digest(old, hash);
		account_sub(s, old);
		old->ver = *ver;
		old->prev = *prev;
		entry_fill(old, val, vlen, tomb, m);
		delta ^= entry_digest(old, hash);
		account_add(s, old);
		if (s->merkle)
			gv_merkle_update(s->merkle, hash, delta);
		if (out)
			entry_view(old, hash, out);
		if (s->journal)
			journal_entry(s, old, hash);
		return 0;
	}

	struct gv_entry *e =
		entry_new(s, key, klen, val, vlen, ver, prev, tomb, m);
	if (!e)
		return GV_ENOMEM;
	if (new_cap != s->cap) {
		struct gv_entry **slots = gv__zalloc(
			s->mem, new_cap * sizeof(struct gv_entry *));
		if (!slots) {
			gv__free(s->mem, e, need);
			return GV_ENOMEM;
		}
		rehash(s, slots, new_cap);
		i = find_slot(s, hash, key, klen, &found);
	}

	uint64_t delta = entry_digest(e, hash);
	if (old) {
		delta ^= entry_digest(old, hash);
		account_sub(s, old);
		if (replaced)
			*replaced = old;
		else
			gv__free(s->mem, old, old_size);
	}
	s->slots[i] = e;
	account_add(s, e);
	if (s->merkle)
		gv_merkle_update(s->merkle, hash, delta);
	if (out)
		entry_view(e, hash, out);
	if (s->journal)
		journal_entry(s, e, hash);
	return 0;
}

static int
check_key(const void *key, size_t klen)
{
	if (klen > GV_MAX_KEY)
		return GV_EKEYSIZE;
	if (klen && !key)
		return GV_EINVAL;
	return 0;
}

static int
local_write(gv_store *s, const void *key, size_t klen, const void *val,
	    size_t vlen, const struct meta *m, const gv_version *ver,
	    bool tomb, const gv_version *seen, gv_record *out)
{
	int rc = check_key(key, klen);
	if (rc)
		return rc;
	if (!ver || gv_version_is_zero(ver) || (vlen && !val) ||
	    m->kind > GV_KIND_MAX || (tomb && m->kind))
		return GV_EINVAL;
	if (!tomb && m->expire && s->now_ms && m->expire <= s->now_ms)
		return GV_EINVAL;
	if (vlen > s->max_value)
		return GV_EVALSIZE;
	uint64_t hash = gv__key_hash(key, klen);
	bool found;
	size_t i = find_slot(s, hash, key, klen, &found);
	gv_version prev = {0, 0};
	if (found) {
		const struct gv_entry *cur = s->slots[i];
		if (gv_version_cmp(ver, &cur->ver) <= 0)
			return GV_ESTALE;
		if (tomb && !seen &&
		    (entry_tomb(cur) || entry_expired_at(cur, s->now_ms)))
			return GV_ENOTFOUND;
		prev = cur->ver;
	} else if (tomb && !seen) {
		return GV_ENOTFOUND;
	}
	if (seen && gv_version_cmp(seen, &prev) > 0)
		prev = *seen;
	return install(s, i, found, hash, key, klen, val, vlen, ver, &prev,
		       tomb, m, out, NULL);
}

int
gv_store_put(gv_store *s, const void *key, size_t klen, const void *val,
	     size_t vlen, const gv_version *ver, gv_record *out)
{
	struct meta m = {0, 0, false};
	return local_write(s, key, klen, val, vlen, &m, ver, false, NULL, out);
}

int
gv_store_put_ex(gv_store *s, const void *key, size_t klen, const void *val,
		size_t vlen, uint8_t kind, uint64_t expire, bool cond,
		const gv_version *ver, gv_record *out)
{
	struct meta m = {kind, expire, cond};
	if (kind == GV_KIND_COUNTER) {
		gv_counter c;
		if (gv_counter_decode(val, vlen, &c) || c.expire != expire)
			return GV_EINVAL;
	}
	return local_write(s, key, klen, val, vlen, &m, ver, false, NULL, out);
}

int
gv_store_write_seen(gv_store *s, const void *key, size_t klen,
		    const void *val, size_t vlen, uint8_t kind,
		    uint64_t expire, bool tomb, const gv_version *seen,
		    const gv_version *ver, gv_record *out)
{
	struct meta m = {tomb ? 0 : kind, tomb ? 0 : expire, false};
	if (!seen)
		return GV_EINVAL;
	if (m.kind == GV_KIND_COUNTER) {
		gv_counter c;
		if (gv_counter_decode(val, vlen, &c) || c.expire != expire)
			return GV_EINVAL;
	}
	return local_write(s, key, klen, tomb ? NULL : val, tomb ? 0 : vlen,
			   &m, ver, tomb, seen, out);
}

int
gv_store_del(gv_store *s, const void *key, size_t klen, const gv_version *ver,
	     gv_record *out)
{
	struct meta m = {0, 0, false};
	return local_write(s, key, klen, NULL, 0, &m, ver, true, NULL, out);
}

/*
 * Two live counter states of one epoch: store their join (counter.h).
 * Its version is computed from the state and outranks both unless it
 * equals one of them: then it is that one (duplicate or stale).
 */
static int
merge_counters(gv_store *s, size_t i, uint64_t hash, const gv_record *in,
	       const gv_counter *w, gv_record *out)
{
	struct gv_entry *cur = s->slots[i];
	gv_counter j;
	if (gv_counter_decode(entry_val(cur), entry_vlen(cur), &j))
		return GV_EINVAL; /* cannot happen: checked when stored */
	if (gv_counter_join(&j, w))
		return GV_EFULL;
	gv_version jv = gv_counter_ver(&j);
	if (gv_version_cmp(&jv, &cur->ver) == 0)
		return gv_version_cmp(&in->ver, &cur->ver) == 0
			       ? GV_MERGE_DUPLICATE
			       : GV_MERGE_STALE;
	uint8_t buf[GV_COUNTER_MAX_ENC];
	ssize_t n = gv_counter_encode(&j, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if ((size_t)n > s->max_value)
		return GV_EVALSIZE;
	struct meta m = {GV_KIND_COUNTER, j.expire, false};
	gv_version prev = cur->ver;
	int rc = install(s, i, true, hash, in->key, in->klen, buf, (size_t)n,
			 &jv, &prev, false, &m, out, NULL);
	if (rc)
		return rc;
	if (gv_version_cmp(&jv, &in->ver) != 0)
		s->joins++;
	return GV_MERGE_APPLIED;
}

/*
 * The merge rule (see store.h): with local winner L and arriving write W,
 *   W == L                     duplicate
 *   W >  L, W.prev >= L        applied (W's writer held L or newer)
 *   W >  L, W.prev <  L        conflict-applied
 *   W <  L, L.prev >= W        stale (L's writer held W or newer)
 *   W <  L, L.prev <  W        conflict-lost
 * except that two live counter states of one epoch join (merge_counters),
 * and a write whose deadline has passed is merged as its tombstone.
 */
int
gv_store_merge(gv_store *s, const gv_record *in, gv_conflict_fn on_conflict,
	       void *ud)
{
	return gv_store_merge_out(s, in, 0, on_conflict, ud, NULL);
}

int
gv_store_merge_out(gv_store *s, const gv_record *in0, uint64_t hash,
		   gv_conflict_fn on_conflict, void *ud, gv_record *out)
{
	if (!in0)
		return GV_EINVAL;
	int rc = check_key(in0->key, in0->klen);
	if (rc)
		return rc;
	if (gv_version_is_zero(&in0->ver) || (in0->tombstone && in0->vlen) ||
	    (in0->vlen && !in0->val) || in0->kind > GV_KIND_MAX ||
	    (in0->tombstone && in0->kind))
		return GV_EINVAL;
	if (in0->vlen > s->max_value)
		return GV_EVALSIZE;
	gv_record inx = *in0;
	const gv_record *in = &inx;
	if (gv_record_expired(in, s->now_ms) && !in->tombstone) {
		/* already expired: what every replica turns it into */
		inx.tombstone = true;
		inx.kind = 0;
		inx.val = NULL;
		inx.vlen = 0;
	}
	gv_counter wc;
	if (in->kind == GV_KIND_COUNTER) {
		/* a counter's version is its state's: one that is not would
		 * break "equal versions, equal states" for every replica */
		if (gv_counter_decode(in->val, in->vlen, &wc) ||
		    wc.expire != in->expire)
			return GV_EINVAL;
		gv_version cv = gv_counter_ver(&wc);
		if (gv_version_cmp(&cv, &in->ver) != 0)
			return GV_EINVAL;
	}
	if (!hash)
		hash = gv__key_hash(in->key, in->klen);
	bool found;
	size_t i = find_slot(s, hash, in->key, in->klen, &found);
	int result = GV_MERGE_APPLIED;
	const struct gv_entry *cur = found ? s->slots[i] : NULL;
	if (cur && in->kind == GV_KIND_COUNTER &&
	    entry_kind(cur) == GV_KIND_COUNTER && !entry_tomb(cur) &&
	    !entry_expired_at(cur, s->now_ms)) {
		gv_counter lc;
		if (gv_counter_decode(entry_val(cur), entry_vlen(cur), &lc) == 0 &&
		    gv_version_cmp(&lc.epoch, &wc.epoch) == 0) {
			result = merge_counters(s, i, hash, in, &wc, out);
			if (result >= 0)
				s->merges[result]++;
			return result;
		}
	}
	if (cur) {
		int c = gv_version_cmp(&in->ver, &cur->ver);
		if (c == 0)
			result = GV_MERGE_DUPLICATE;
		else if (c > 0 && gv_version_cmp(&in->prev, &cur->ver) < 0)
			result = GV_MERGE_CONFLICT_APPLIED;
		else if (c < 0)
			result = gv_version_cmp(&cur->prev, &in->ver) >= 0
					 ? GV_MERGE_STALE
					 : GV_MERGE_CONFLICT_LOST;
	}
	gv_record remote = *in;
	remote.hash = hash;
	gv_record local;
	if (result == GV_MERGE_CONFLICT_LOST && on_conflict) {
		entry_view(cur, hash, &local);
		on_conflict(ud, &local, &remote);
	}
	if (result == GV_MERGE_APPLIED || result == GV_MERGE_CONFLICT_APPLIED) {
		/* the loser of a conflict is reported after the install,
		 * so it must not be overwritten in place */
		bool report = result == GV_MERGE_CONFLICT_APPLIED &&
			      on_conflict;
		struct gv_entry *old = NULL;
		struct meta m = {in->kind, in->expire, in->cond};
		rc = install(s, i, found, hash, in->key, in->klen, in->val,
			     in->vlen, &in->ver, &in->prev, in->tombstone, &m,
			     out, report ? &old : NULL);
		if (rc)
			return rc;
		/* Report the conflict only once it is applied, while the
		 * loser's bytes are still allocated. */
		if (old) {
			entry_view(old, hash, &local);
			on_conflict(ud, &remote, &local);
		}
		if (old)
			gv__free(s->mem, old, entry_size(old));
	}
	s->merges[result]++;
	return result;
}

int
gv_store_lookup(const gv_store *s, const void *key, size_t klen,
		gv_record *out)
{
	if (check_key(key, klen))
		return GV_ENOTFOUND;
	bool found;
	uint64_t hash = gv__key_hash(key, klen);
	size_t i = find_slot(s, hash, key, klen, &found);
	if (!found)
		return GV_ENOTFOUND;
	if (out)
		entry_view(s->slots[i], hash, out);
	return 0;
}

int
gv_store_lookup_hash(const gv_store *s, uint64_t hash, gv_record *out)
{
	if (!s->cap)
		return GV_ENOTFOUND;
	size_t mask = s->cap - 1;
	bool found = false;
	gv_record r;
	for (size_t i = (size_t)(hash >> s->shift);; i = (i + 1) & mask) {
		const struct gv_entry *e = s->slots[i];
		if (!e)
			break;
		if (entry_hash(e) != hash)
			continue;
		entry_view(e, hash, &r);
		if (!found || gv_version_cmp(&r.ver, &out->ver) > 0)
			*out = r;
		found = true;
	}
	return found ? 0 : GV_ENOTFOUND;
}

int
gv_store_get_at(const gv_store *s, const void *key, size_t klen,
		uint64_t now_ms, gv_record *out)
{
	gv_record r;
	int rc = gv_store_lookup(s, key, klen, &r);
	if (rc)
		return rc;
	if (r.tombstone || gv_record_expired(&r, now_ms))
		return GV_ENOTFOUND;
	if (out)
		*out = r;
	return 0;
}

int
gv_store_get(const gv_store *s, const void *key, size_t klen, gv_record *out)
{
	return gv_store_get_at(s, key, klen, s->now_ms, out);
}

size_t
gv_store_reclaim(gv_store *s, size_t *cursor, size_t max_slots,
		 void (*fn)(void *ud, const gv_record *tomb), void *ud)
{
	size_t done = 0;
	if (!s->slots || !s->expiring || !s->now_ms)
		return 0;
	size_t mask = s->cap - 1;
	size_t n = max_slots < s->cap ? max_slots : s->cap;
	for (size_t k = 0; k < n; k++) {
		size_t i = (*cursor + k) & mask;
		struct gv_entry *e = s->slots[i];
		if (!e || !entry_expired_at(e, s->now_ms))
			continue;
		uint64_t hash = entry_hash(e);
		struct meta m = {0, entry_expire(e), false};
		gv_version ver = e->ver, prev = e->prev;
		gv_record t;
		/* found: no growth, slot i stays valid; a failed allocation
		 * leaves it for a later pass */
		if (install(s, i, true, hash, e->data, e->klen, NULL, 0, &ver,
			    &prev, true, &m, &t, NULL))
			continue;
		s->reclaimed++;
		done++;
		if (fn)
			fn(ud, &t);
	}
	*cursor = (*cursor + n) & mask;
	return done;
}

/* Backward-shift deletion of slot i (linear probing, no markers). */
static void
remove_slot(gv_store *s, size_t i)
{
	size_t mask = s->cap - 1;
	size_t hole = i;
	size_t j = i;
	s->slots[hole] = NULL;
	for (;;) {
		j = (j + 1) & mask;
		struct gv_entry *e = s->slots[j];
		if (!e)
			return;
		size_t home = (size_t)(entry_hash(e) >> s->shift);
		/* Move e into the hole unless its home lies in (hole, j]. */
		bool home_after_hole = ((j - home) & mask) < ((j - hole) & mask);
		if (home_after_hole)
			continue;
		s->slots[hole] = e;
		s->slots[j] = NULL;
		hole = j;
	}
}

int
gv_store_purge(gv_store *s, const void *key, size_t klen,
	       const gv_version *ver)
{
	if (check_key(key, klen) || !ver)
		return GV_ENOTFOUND;
	uint64_t hash = gv__key_hash(key, klen);
	bool found;
	size_t i = find_slot(s, hash, key, klen, &found);
	if (!found)
		return GV_ENOTFOUND;
	struct gv_entry *e = s->slots[i];
	if (!(entry_tomb(e) || entry_expired_at(e, s->now_ms)) ||
	    gv_version_cmp(&e->ver, ver) != 0)
		return GV_ENOTFOUND;
	if (s->merkle)
		gv_merkle_update(s->merkle, hash, entry_digest(e, hash));
	account_sub(s, e);
	remove_slot(s, i);
	if (s->journal)
		journal_removed(s, e->data, e->klen, hash);
	gv__free(s->mem, e, entry_size(e));
	return 0;
}

int
gv_store_remove(gv_store *s, const void *key, size_t klen)
{
	if (check_key(key, klen))
		return GV_ENOTFOUND;
	uint64_t hash = gv__key_hash(key, klen);
	bool found;
	size_t i = find_slot(s, hash, key, klen, &found);
	if (!found)
		return GV_ENOTFOUND;
	struct gv_entry *e = s->slots[i];
	if (s->merkle)
		gv_merkle_update(s->merkle, hash, entry_digest(e, hash));
	account_sub(s, e);
	remove_slot(s, i);
	if (s->journal)
		journal_removed(s, e->data, e->klen, hash);
	gv__free(s->mem, e, entry_size(e));
	return 0;
}

int
gv_store_reserve(gv_store *s, size_t n)
{
	size_t cap = s->cap;
	while ((s->count + n) * 4 > cap * 3)
		cap *= 2;
	if (cap == s->cap)
		return 0;
	size_t add = (cap - s->cap) * sizeof(struct gv_entry *);
	if (over_cap(s, add, 0))
		return GV_ENOSPC;
	struct gv_entry **slots =
		gv__zalloc(s->mem, cap * sizeof(struct gv_entry *));
	if (!slots)
		return GV_ENOMEM;
	rehash(s, slots, cap);
	return 0;
}

int
gv_store_load(gv_store *s, const gv_record *rec)
{
	if (!rec)
		return GV_EINVAL;
	int rc = check_key(rec->key, rec->klen);
	if (rc)
		return rc;
	if (gv_version_is_zero(&rec->ver) || (rec->tombstone && rec->vlen) ||
	    (rec->vlen && !rec->val) || rec->kind > GV_KIND_MAX ||
	    (rec->tombstone && rec->kind))
		return GV_EINVAL;
	if (rec->vlen > s->max_value)
		return GV_EVALSIZE;
	uint64_t hash = gv__key_hash(rec->key, rec->klen);
	bool found;
	size_t i = find_slot(s, hash, rec->key, rec->klen, &found);
	struct meta m = {rec->kind, rec->expire, rec->cond};
	void (*j)(void *, const gv_record *, bool) = s->journal;
	s->journal = NULL;
	rc = install(s, i, found, hash, rec->key, rec->klen, rec->val,
		     rec->vlen, &rec->ver, &rec->prev, rec->tombstone, &m, NULL,
		     NULL);
	s->journal = j;
	return rc;
}

int
gv_store_lookup_slot(const gv_store *s, size_t i, gv_record *out)
{
	if (i >= s->cap || !s->slots[i])
		return GV_ENOTFOUND;
	const struct gv_entry *e = s->slots[i];
	entry_view(e, entry_hash(e), out);
	return 0;
}

size_t
gv_store_drop_before(gv_store *s, const gv_version *ver,
		     bool (*keep)(void *ud, const gv_record *r), void *ud)
{
	size_t dropped = 0;
	/*
	 * Backward-shift deletion only moves entries into the hole or later
	 * (in scan order, wrapping at the end), so after a removal slot i is
	 * looked at again and nothing is skipped; an entry that wraps from
	 * the table's start back to its end is seen twice, and kept twice.
	 */
	for (size_t i = 0; i < s->cap;) {
		struct gv_entry *e = s->slots[i];
		if (!e || gv_version_cmp(&e->ver, ver) >= 0) {
			i++;
			continue;
		}
		uint64_t hash = entry_hash(e);
		gv_record r;
		entry_view(e, hash, &r);
		if (keep && keep(ud, &r)) {
			i++;
			continue;
		}
		if (s->merkle)
			gv_merkle_update(s->merkle, hash, entry_digest(e, hash));
		account_sub(s, e);
		remove_slot(s, i);
		gv__free(s->mem, e, entry_size(e));
		dropped++;
	}
	return dropped;
}

int
gv_store_foreach(const gv_store *s, gv_store_iter_fn fn, void *ud)
{
	gv_record r;
	for (size_t i = 0; i < s->cap; i++) {
		const struct gv_entry *e = s->slots[i];
		if (!e)
			continue;
		entry_view(e, entry_hash(e), &r);
		int rc = fn(ud, &r);
		if (rc)
			return rc;
	}
	return 0;
}

int
gv_store_foreach_bucket(const gv_store *s, uint32_t bucket, unsigned bits,
			gv_store_iter_fn fn, void *ud)
{
	if (bits == 0 || bits > 32 || (bits < 32 && bucket >> bits))
		return GV_EINVAL;
	unsigned lg = log2_pow2(s->cap);
	size_t start, end;
	if (lg >= bits) {
		start = (size_t)bucket << (lg - bits);
		end = (size_t)(bucket + 1ull) << (lg - bits);
	} else {
		start = (size_t)bucket >> (bits - lg);
		end = start + 1;
	}
	/*
	 * Every entry whose home slot lies in [start, end) sits in the run of
	 * full slots that begins at its home, so scanning from start until
	 * the first empty slot at or after end sees all of them.
	 */
	size_t mask = s->cap - 1;
	gv_record r;
	for (size_t j = start; j - start < s->cap; j++) {
		const struct gv_entry *e = s->slots[j & mask];
		if (!e) {
			if (j >= end)
				break;
			continue;
		}
		uint64_t hash = entry_hash(e);
		if ((uint32_t)(hash >> (64 - bits)) != bucket)
			continue;
		entry_view(e, hash, &r);
		int rc = fn(ud, &r);
		if (rc)
			return rc;
	}
	return 0;
}

double
gv_store_overhead_per_entry(const gv_store *s)
{
	if (!s->count)
		return 0.0;
	return (double)(s->mem_used - s->key_bytes - s->val_bytes) /
	       (double)s->count;
}
