/* SPDX-License-Identifier: MIT */
/*
 * hash.c - Redis hashes whose fields merge one by one.
 *
 * A hash is not one value: each field is its own store entry, under a
 * reserved key made of the hash's key and the field,
 *
 *   "\0gv\0H" klen u16 key field     the field's value (bytes), or a
 *                                    counter state (HINCRBY), or the
 *                                    tombstone an HDEL left
 *   "\0gv\0X" key                    the hash's expiry register: no value;
 *                                    its deadline is the entry's (0 or a
 *                                    tombstone: none, PERSIST)
 *
 * so last-write-wins, conflicts, tombstones and their collection, Merkle
 * anti-entropy and dissemination all work per field, unchanged, and a
 * field's entry lives on the hash key's shard (the daemon routes by the
 * user key). The key's own entry (a string, a counter, or the tombstone
 * of a DEL) is the hash's epoch: a field older than it is dead. So a DEL
 * (or SET, INCR...) of the key at version v removes every field written
 * before v, at whatever node, and keeps those written after it; the
 * newest write decides the key's type. The expiry register applies when
 * it is newer than the key's entry: once its deadline D has passed,
 * fields written before D are dead, and a field written after D starts a
 * new hash (as Redis's HSET on an expired key).
 *
 * Dead fields are removed from the store at once (no tombstone: the
 * key's entry or the register stands for them) when the write that kills
 * them is stored here, and are refused when they arrive later. A node
 * that has not yet seen the killing write still holds them; anti-entropy
 * moves the killing write to it in the same session, so the two agree.
 * Fields dead by expiry go when the hash is next touched, when the
 * register's deadline is reclaimed or collected, whichever comes first
 * (until then another node may push them again: refused, a short-lived
 * anti-entropy difference). Field tombstones are kept whatever their age
 * (refusing them at one node and not another would make a lasting
 * difference); they are collected as any tombstone. An expiry register
 * older than the key's entry no longer applies; it stays until its
 * deadline, then goes as an expired entry (PERSIST writes the
 * register's tombstone).
 *
 * The index: per hash key, its live fields in the order they arrived
 * (HGETALL, HSCAN and HRANDFIELD list them without scanning the store),
 * and the newest field version seen (WATCH). It follows every change of
 * a field's entry: local writes and merges (gv__hash_on_entry, from
 * keys.c's reserved-entry dispatch), kills (gv__hash_on_plain), expiry,
 * and flushes (rebuilt). Its memory is counted in the store's mem_used,
 * so --max-memory sees it.
 */

#include "hash_int.h"

#define P_FIELD 'H'
#define P_EXPIRY 'X'
#define FKEY_HDR (GV_RESERVED_LEN + 3)
#define XKEY_HDR (GV_RESERVED_LEN + 1)

/* ------------------------------------------------------ keys */

static size_t
fkey(uint8_t *out, const void *key, size_t klen, const void *field,
     size_t flen)
{
	memcpy(out, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	out[GV_RESERVED_LEN] = P_FIELD;
	gv__st16(out + GV_RESERVED_LEN + 1, (uint16_t)klen);
	if (klen)
		memcpy(out + FKEY_HDR, key, klen);
	if (flen)
		memcpy(out + FKEY_HDR + klen, field, flen);
	return FKEY_HDR + klen + flen;
}

static size_t
xkey(uint8_t *out, const void *key, size_t klen)
{
	memcpy(out, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	out[GV_RESERVED_LEN] = P_EXPIRY;
	if (klen)
		memcpy(out + XKEY_HDR, key, klen);
	return XKEY_HDR + klen;
}

static bool
fits(size_t klen, size_t flen)
{
	return FKEY_HDR + klen + flen <= GV_MAX_KEY;
}

/* A hash entry's parts: 'H' (field) or 'X' (expiry), or 0. */
static int
parse(const uint8_t *k, size_t kl, const uint8_t **key, size_t *klen,
      const uint8_t **field, size_t *flen)
{
	if (kl <= GV_RESERVED_LEN || !gv_key_reserved(k, kl))
		return 0;
	if (k[GV_RESERVED_LEN] == P_EXPIRY) {
		*key = k + XKEY_HDR;
		*klen = kl - XKEY_HDR;
		*field = NULL;
		*flen = 0;
		return P_EXPIRY;
	}
	if (k[GV_RESERVED_LEN] != P_FIELD || kl < FKEY_HDR)
		return 0;
	size_t l = gv__ld16(k + GV_RESERVED_LEN + 1);
	if (FKEY_HDR + l > kl)
		return 0;
	*key = k + FKEY_HDR;
	*klen = l;
	*field = k + FKEY_HDR + l;
	*flen = kl - FKEY_HDR - l;
	return P_FIELD;
}

size_t
gv_hash_field_key(uint8_t *out, const void *key, size_t klen,
		  const void *field, size_t flen)
{
	return fits(klen, flen) ? fkey(out, key, klen, field, flen) : 0;
}

size_t
gv_key_display(const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
	       size_t *full)
{
	return gv__hash_display(key, klen, out, cap, full);
}

size_t
gv__hash_display(const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
		 size_t *full)
{
	const uint8_t *k, *f;
	size_t kl, fl;
	if (parse(key, klen, &k, &kl, &f, &fl) != P_FIELD)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < kl && n < cap; i++)
		out[n++] = k[i];
	if (n < cap)
		out[n++] = '[';
	for (size_t i = 0; i < fl && n < cap; i++)
		out[n++] = f[i];
	if (n < cap)
		out[n++] = ']';
	*full = kl + fl + 2;
	return n;
}

static int
rebuild_visit(void *ud, const gv_record *r)
{
	gv_node *n = ud;
	const uint8_t *k, *f;
	size_t kl, fl;
	if (!r->tombstone && parse(r->key, r->klen, &k, &kl, &f, &fl) == P_FIELD)
		gv__hash_index(n, k, kl, f, fl, &r->ver, true);
	return 0;
}

void
gv__hash_rebuild(gv_node *n)
{
	gv__hash_fini(n);
	if (n->store.reserved_live)
		gv_store_foreach(&n->store, rebuild_visit, n);
}

/* ------------------------------------------------------ the rule */

/* What decides which of key's fields are alive. */
struct hstate {
	bool plain;        /* key holds an entry of its own */
	gv_record p;       /* it (tombstones included) */
	bool plain_live;   /* ... live and not expired */
	bool x;            /* an expiry register newer than p */
	gv_version xver;
	uint64_t deadline; /* its deadline (0: none) */
	uint64_t now_ms;
};

static void
hstate_of(gv_node *n, const void *key, size_t klen, struct hstate *st)
{
	memset(st, 0, sizeof(*st));
	st->now_ms = n->store.now_ms;
	if (gv_store_lookup(&n->store, key, klen, &st->p) == 0) {
		st->plain = true;
		st->plain_live = !st->p.tombstone &&
				 !gv_record_expired(&st->p, st->now_ms);
	}
	uint8_t xk[GV_MAX_KEY + XKEY_HDR];
	gv_record x;
	if (klen + XKEY_HDR <= GV_MAX_KEY &&
	    gv_store_lookup(&n->store, xk, xkey(xk, key, klen), &x) == 0 &&
	    (!st->plain || gv_version_cmp(&x.ver, &st->p.ver) > 0)) {
		st->x = true;
		st->xver = x.ver;
		st->deadline = x.expire;
	}
}

/* Is a field write of version v dead under st? */
static bool
dead(const struct hstate *st, const gv_version *v)
{
	if (st->plain && gv_version_cmp(v, &st->p.ver) < 0)
		return true;
	return st->x && st->deadline && st->deadline <= st->now_ms &&
	       gv_hlc_ms(v->hlc) < st->deadline;
}

/* Remove key's fields that are dead under st (and the expiry register,
 * once the key's entry is newer than it). */
static void
settle(gv_node *n, struct hkey *k, const struct hstate *st,
       gv_version *killed_max)
{
	uint8_t fk[GV_MAX_KEY];
	for (uint32_t i = 0; k && i < k->nv; i++) {
		struct hfield *e = k->v[i];
		if (!e)
			continue;
		gv_record r;
		size_t l = fkey(fk, k->key, k->klen, e->f, e->flen);
		if (gv_store_lookup(&n->store, fk, l, &r) == 0 &&
		    !dead(st, &r.ver))
			continue;
		if (killed_max && gv_version_cmp(&r.ver, killed_max) > 0)
			*killed_max = r.ver;
		gv_store_remove(&n->store, fk, l);
		n->st.hash_fields_killed++;
		bool found;
		size_t s = gv__hf_slot(k, e->f, e->flen, e->h, &found);
		uint32_t nv = k->nv;
		gv__hf_remove(n, k, s);
		if (!k->n) {
			gv__hk_del(n, k);
			k = NULL;
		} else if (k->nv != nv || k->v[i]) {
			i = UINT32_MAX; /* compacted: walk again */
		}
	}
}

/* The hash of key, with its dead fields removed; NULL: none here. */
static struct hkey *
live_hash(gv_node *n, const void *key, size_t klen, struct hstate *st)
{
	hstate_of(n, key, klen, st);
	struct hkey *k = gv__hk_find(n, key, klen, gv__key_hash(key, klen));
	if (!k)
		return NULL;
	if (st->x && st->deadline && st->deadline <= st->now_ms) {
		settle(n, k, st, NULL);
		k = gv__hk_find(n, key, klen, gv__key_hash(key, klen));
	}
	return k;
}

bool
gv__hash_on_entry(gv_node *n, gv_time now, const gv_record *r)
{
	const uint8_t *k, *f;
	size_t kl, fl;
	int t = parse(r->key, r->klen, &k, &kl, &f, &fl);
	if (!t)
		return false;
	(void)now;
	if (t == P_FIELD) {
		gv__hash_index(n, k, kl, f, fl, &r->ver, !r->tombstone);
		return true;
	}
	/* an expiry register: its deadline may have passed already */
	if (r->expire && r->expire <= n->store.now_ms) {
		struct hstate st;
		live_hash(n, k, kl, &st);
	}
	return true;
}

bool
gv__hash_refuse(gv_node *n, gv_time now, const gv_record *in)
{
	(void)now;
	const uint8_t *k, *f;
	size_t kl, fl;
	int t = parse(in->key, in->klen, &k, &kl, &f, &fl);
	if (!t)
		return false;
	struct hstate st;
	hstate_of(n, k, kl, &st);
	if (t == P_EXPIRY || in->tombstone)
		return false; /* kept: see the top of the file */
	if (dead(&st, &in->ver)) {
		/* a live string newer than a field its writer had not
		 * seen: the string won a type race */
		if (st.plain_live && gv_version_cmp(&st.p.prev, &in->ver) < 0)
			n->st.type_conflicts++;
		n->st.hash_refused++;
		return true;
	}
	if (st.plain_live &&
	    !gv__hk_find(n, k, kl, gv__key_hash(k, kl)))
		n->st.type_conflicts++; /* the hash wins over a live string */
	return false;
}

void
gv__hash_on_plain(gv_node *n, gv_time now, const gv_record *r, bool remote)
{
	(void)now;
	struct hkey *k = gv__hk_find(n, r->key, r->klen,
				 gv__key_hash(r->key, r->klen));
	if (!k)
		return;
	struct hstate st;
	hstate_of(n, r->key, r->klen, &st);
	gv_version killed = {0, 0};
	settle(n, k, &st, &killed);
	bool left = gv__hk_find(n, r->key, r->klen,
			    gv__key_hash(r->key, r->klen)) != NULL;
	if (remote && !r->tombstone &&
	    ((!gv_version_is_zero(&killed) &&
	      gv_version_cmp(&r->prev, &killed) < 0) ||
	     (gv_version_is_zero(&killed) && left)))
		n->st.type_conflicts++;
}

bool
gv__hash_seen(gv_node *n, const void *key, size_t klen, gv_version *seen)
{
	if (!gv__hk_find(n, key, klen, gv__key_hash(key, klen)))
		return false; /* every write of a key asks: the cheap test first */
	struct hstate st;
	struct hkey *k = live_hash(n, key, klen, &st);
	if (!k)
		return false;
	*seen = k->newest;
	if (st.x && gv_version_cmp(&st.xver, seen) > 0)
		*seen = st.xver;
	return true;
}

/* ------------------------------------------------------ the API */

static void
clock_in(gv_node *n, gv_time now)
{
	n->now = now;
	n->store.now_ms = gv__cluster_ms(n, now);
}

int
gv_node_key_type(gv_node *n, gv_time now, const void *key, size_t klen)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen))
		return GV_TYPE_NONE;
	clock_in(n, now);
	struct hstate st;
	if (n->hidx.count && gv__hk_find(n, key, klen, gv__key_hash(key, klen)) &&
	    live_hash(n, key, klen, &st))
		return GV_TYPE_HASH;
	gv_record r;
	return gv_store_get(&n->store, key, klen, &r) == 0 ? GV_TYPE_STRING
							   : GV_TYPE_NONE;
}

/* A hash that is about to get its first field: an expiry register still
 * standing from an earlier one (emptied by HDEL) would apply to it; a
 * new hash has none, as in Redis. */
static int
fresh_hash(gv_node *n, gv_time now, const void *key, size_t klen,
	   const struct hstate *st, int priority)
{
	if (!st->x || st->deadline <= st->now_ms)
		return 0;
	uint8_t xk[GV_MAX_KEY];
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	return gv__write_local(n, now, xk, xkey(xk, key, klen), NULL, 0, 0, 0,
			       &ver, priority, true, NULL);
}

int
gv_node_hset(gv_node *n, gv_time now, const void *key, size_t klen,
	     const void *field, size_t flen, const void *val, size_t vlen,
	     int priority)
{
	if (!n || (klen && !key) || (flen && !field) || (vlen && !val) ||
	    gv_key_reserved(key, klen))
		return GV_EINVAL;
	if (!fits(klen, flen))
		return GV_EKEYSIZE;
	clock_in(n, now);
	struct hstate st;
	struct hkey *k = live_hash(n, key, klen, &st);
	if (!k) {
		int rc = fresh_hash(n, now, key, klen, &st, priority);
		if (rc)
			return rc;
	}
	uint8_t fk[GV_MAX_KEY];
	size_t l = fkey(fk, key, klen, field, flen);
	gv_record old;
	bool had = gv_store_get(&n->store, fk, l, &old) == 0;
	/* the index's share, checked with the entry's: --max-memory */
	size_t need = gv_store_entry_size(l, vlen) + 64 + flen +
		      (k ? 0 : 96 + klen);
	if (n->store.max_memory &&
	    n->store.mem_used + need > n->store.max_memory)
		return GV_ENOSPC;
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	int rc = gv__write_local(n, now, fk, l, val, vlen, 0, 0, &ver,
				 priority, false, NULL);
	return rc ? rc : !had;
}

int
gv_node_hdel(gv_node *n, gv_time now, const void *key, size_t klen,
	     const void *field, size_t flen, int priority)
{
	if (!n || (klen && !key) || (flen && !field) ||
	    gv_key_reserved(key, klen))
		return GV_EINVAL;
	if (!fits(klen, flen))
		return 0;
	clock_in(n, now);
	struct hstate st;
	if (!live_hash(n, key, klen, &st))
		return 0;
	uint8_t fk[GV_MAX_KEY];
	size_t l = fkey(fk, key, klen, field, flen);
	if (gv_store_get(&n->store, fk, l, NULL))
		return 0;
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	int rc = gv__write_local(n, now, fk, l, NULL, 0, 0, 0, &ver, priority,
				 true, NULL);
	return rc == GV_ENOTFOUND ? 0 : rc ? rc : 1;
}

int
gv_node_hget(gv_node *n, gv_time now, const void *key, size_t klen,
	     const void *field, size_t flen, gv_record *out)
{
	if (!n || (klen && !key) || (flen && !field) ||
	    gv_key_reserved(key, klen) || !fits(klen, flen))
		return GV_ENOTFOUND;
	clock_in(n, now);
	struct hstate st;
	if (!live_hash(n, key, klen, &st))
		return GV_ENOTFOUND;
	uint8_t fk[GV_MAX_KEY];
	return gv_store_get(&n->store, fk, fkey(fk, key, klen, field, flen),
			    out);
}

int
gv_node_hincr(gv_node *n, gv_time now, const void *key, size_t klen,
	      const void *field, size_t flen, const gv_incr *by, int priority,
	      gv_record *out)
{
	if (!n || !by || (klen && !key) || (flen && !field) ||
	    gv_key_reserved(key, klen))
		return GV_EINVAL;
	if (!fits(klen, flen))
		return GV_EKEYSIZE;
	clock_in(n, now);
	struct hstate st;
	struct hkey *k = live_hash(n, key, klen, &st);
	uint8_t fk[GV_MAX_KEY];
	size_t l = fkey(fk, key, klen, field, flen);
	gv_record r;
	bool live = k && gv_store_get(&n->store, fk, l, &r) == 0;
	gv_counter c;
	int rc = gv__counter_of(n, fk, l, live, &r, by->is_float, &c);
	if (rc)
		return rc;
	/* a new counter starts from the write that ended the last one:
	 * the field's tombstone (gv__counter_of), or the key's own write */
	if (!live && st.plain && gv_version_cmp(&st.p.ver, &c.epoch) > 0)
		c.epoch = st.p.ver;
	if ((rc = gv__counter_fits(&c, by)))
		return rc;
	if (!k && (rc = fresh_hash(n, now, key, klen, &st, priority)))
		return rc;
	return gv__counter_step(n, now, fk, l, &c, by, priority, out);
}

size_t
gv_node_hlen(gv_node *n, gv_time now, const void *key, size_t klen)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen))
		return 0;
	clock_in(n, now);
	struct hstate st;
	struct hkey *k = live_hash(n, key, klen, &st);
	return k ? k->n : 0;
}

int
gv_node_hash_foreach(gv_node *n, gv_time now, const void *key, size_t klen,
		     gv_hash_fn fn, void *ud)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen))
		return 0;
	clock_in(n, now);
	struct hstate st;
	struct hkey *k = live_hash(n, key, klen, &st);
	uint8_t fk[GV_MAX_KEY];
	for (uint32_t i = 0; k && i < k->nv; i++) {
		const struct hfield *e = k->v[i];
		gv_record r;
		if (!e || gv_store_get(&n->store, fk,
				       fkey(fk, key, klen, e->f, e->flen),
				       &r))
			continue;
		int rc = fn(ud, e->f, e->flen, &r);
		if (rc)
			return rc;
	}
	return 0;
}

int
gv_node_hash_expire(gv_node *n, gv_time now, const void *key, size_t klen,
		    uint64_t deadline, int priority)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen) ||
	    klen + XKEY_HDR > GV_MAX_KEY)
		return GV_EINVAL;
	clock_in(n, now);
	if (deadline && deadline <= n->store.now_ms)
		return GV_EINVAL;
	struct hstate st;
	if (!live_hash(n, key, klen, &st))
		return GV_ENOTFOUND;
	uint8_t xk[GV_MAX_KEY];
	gv_version ver = {gv_hlc_now(&n->hlc, gv__wall_ms(n, now)), n->self};
	/* PERSIST: a tombstone of the register (collected in time) */
	return gv__write_local(n, now, xk, xkey(xk, key, klen), NULL, 0, 0,
			       deadline, &ver, priority, deadline == 0, NULL);
}

uint64_t
gv_node_hash_deadline(gv_node *n, gv_time now, const void *key, size_t klen)
{
	if (!n || (klen && !key) || gv_key_reserved(key, klen))
		return 0;
	clock_in(n, now);
	struct hstate st;
	if (!live_hash(n, key, klen, &st) || !st.x ||
	    st.deadline <= st.now_ms)
		return 0;
	return st.deadline;
}

void
gv_node_key_version(gv_node *n, gv_time now, const void *key, size_t klen,
		    gv_version *ver, bool *live)
{
	*ver = (gv_version){0, 0};
	*live = false;
	if (!n || (klen && !key))
		return;
	clock_in(n, now);
	struct hstate st;
	struct hkey *k = n->hidx.count ? live_hash(n, key, klen, &st) : NULL;
	if (!k)
		hstate_of(n, key, klen, &st);
	if (st.plain) {
		*ver = st.p.ver;
		*live = st.plain_live;
	}
	if (k) {
		*live = true;
		if (gv_version_cmp(&k->newest, ver) > 0)
			*ver = k->newest;
		if (st.x && gv_version_cmp(&st.xver, ver) > 0)
			*ver = st.xver;
	}
}

size_t
gv_node_hash_count(const gv_node *n)
{
	return n ? n->hidx.count : 0;
}

bool
gv_node_hash_has(const gv_node *n, const void *key, size_t klen)
{
	return n && gv__hk_find(n, key, klen, gv__key_hash(key, klen)) != NULL;
}

/* Every field of k is older than its hash's passed deadline (read-only:
 * the walks that list keys must not change the store). */
static bool
expired_ro(const gv_node *n, const struct hkey *k, uint64_t now_ms)
{
	uint8_t xk[GV_MAX_KEY];
	gv_record x, p;
	if (k->klen + XKEY_HDR > GV_MAX_KEY ||
	    gv_store_lookup(&n->store, xk, xkey(xk, k->key, k->klen), &x) ||
	    !x.expire || x.expire > now_ms)
		return false;
	if (gv_store_lookup(&n->store, k->key, k->klen, &p) == 0 &&
	    gv_version_cmp(&x.ver, &p.ver) < 0)
		return false;
	return gv_hlc_ms(k->newest.hlc) < x.expire;
}

int
gv_node_hash_foreach_key(gv_node *n, uint64_t now_ms, uint32_t bucket,
			 unsigned bits, gv_store_iter_fn fn, void *ud)
{
	struct gv_hidx *x = &n->hidx;
	if (bits > 32 || (bits && bits < 32 && bucket >> bits))
		return GV_EINVAL;
	/* the table is ordered by the top bits of the key hash: a bucket's
	 * keys sit in the run from its first home slot on */
	size_t start = 0, end = x->cap;
	unsigned lg = x->cap ? (unsigned)__builtin_ctzll(x->cap) : 0;
	if (bits && x->cap) {
		start = lg >= bits ? (size_t)bucket << (lg - bits)
				   : (size_t)bucket >> (bits - lg);
		end = lg >= bits ? (size_t)(bucket + 1ull) << (lg - bits)
				 : start + 1;
	}
	for (size_t j = start; x->cap && j - start < x->cap; j++) {
		const struct hkey *k = x->slots[j & (x->cap - 1)];
		if (!k) {
			if (j >= end)
				break;
			continue;
		}
		if (bits && (uint32_t)(k->h >> (64 - bits)) != bucket)
			continue;
		if (expired_ro(n, k, now_ms))
			continue;
		gv_record r;
		memset(&r, 0, sizeof(r));
		r.key = k->key;
		r.klen = k->klen;
		r.ver = k->newest;
		r.hash = k->h;
		int rc = fn(ud, &r);
		if (rc)
			return rc;
	}
	return 0;
}
