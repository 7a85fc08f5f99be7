/* SPDX-License-Identifier: MIT */
/*
 * keyring.c - cluster keys and datagram sealing. See keyring.h.
 *
 * libsodium is pure computation here (AEAD, BLAKE2b, hex/base64): the
 * core stays sans-IO. sodium_init() is the one call that may read the
 * kernel's randomness (to seed libsodium's own generator, which the core
 * never uses); it runs once, when the first keyring is made.
 */
#include "keyring.h"

#include <stdio.h>

/* libsodium's headers come with gv_core.h, ahead of its poisoning */
#include "wire.h"

struct snap {
	size_t n;           /* keys; [0] is primary */
	int cipher;         /* for sealing */
	uint32_t id[GV_KEYRING_MAX];
	uint64_t fp[GV_KEYRING_MAX]; /* fingerprint: tells reused ids apart */
	uint8_t key[GV_KEYRING_MAX][GV_KEY_LEN];
};

/*
 * Changes and readers take a spinlock (held for a copy of a few hundred
 * bytes; changes are rare). Seal and open never take it on their path: a
 * gv_seal_cache keeps its own copy of the ring, refreshed when the ring's
 * generation moves. No reader holds a pointer into the ring, so a change
 * is made in place and nothing is retired or leaked.
 */
struct gv_keyring {
	const gv_mem *mem;
	atomic_flag lock;
	uint64_t uid;        /* tells rings apart in a cache */
	_Atomic uint64_t gen; /* bumped by every change, under the lock */
	struct snap cur;
};

/* The AES-GCM subkey cache: open addressing over (sender context, key),
 * grown to fit every sender a node hears from (a direct-mapped table of
 * 64 thrashed at 150 nodes: a BLAKE2b and a key expansion, ~350 ns, on
 * most receives); past CACHE_MAX it starts over. */
#define CACHE_MIN 64
#define CACHE_MAX 65536

struct slot {
	crypto_aead_aes256gcm_state st; /* 16-byte aligned, first */
	uint64_t sender, fp;
	uint32_t boot, inc, key_id;
	uint16_t shard;
	bool used;
};

struct gv_seal_cache {
	const gv_mem *mem;
	struct slot *slot; /* cap of them, 16-byte aligned */
	void *slot_raw;    /* the block allocated for them */
	size_t cap, n;
	uint64_t uid, gen; /* the ring and generation snap was copied from */
	struct snap snap;
};

static _Atomic uint64_t next_uid = 1;

static void
lock(const gv_keyring *kr)
{
	atomic_flag *f = (atomic_flag *)&kr->lock;
	while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
		;
}

static void
unlock(const gv_keyring *kr)
{
	atomic_flag_clear_explicit((atomic_flag *)&kr->lock,
				   memory_order_release);
}

/* A change is done: readers and caches see it from now on. */
static void
changed(gv_keyring *kr)
{
	atomic_fetch_add_explicit(&kr->gen, 1, memory_order_release);
}

static const uint8_t id_ctx[16] = "grapevine keyid1";
static const char aes_ctx[] = "gv1-aes256gcm";

bool
gv_cipher_aes_available(void)
{
	if (sodium_init() < 0)
		return false;
	return crypto_aead_aes256gcm_is_available() != 0;
}

const char *
gv_cipher_name(int cipher)
{
	switch (cipher) {
	case GV_CIPHER_AUTO: return "auto";
	case GV_CIPHER_AES256GCM: return "aes256gcm";
	case GV_CIPHER_XCHACHA20: return "xchacha20poly1305";
	default: return "unknown";
	}
}

int
gv_cipher_parse(const char *s)
{
	if (!s)
		return GV_EINVAL;
	if (!strcmp(s, "auto"))
		return GV_CIPHER_AUTO;
	if (!strcmp(s, "aes256gcm") || !strcmp(s, "aes-256-gcm"))
		return GV_CIPHER_AES256GCM;
	if (!strcmp(s, "xchacha20poly1305") || !strcmp(s, "xchacha20") ||
	    !strcmp(s, "xchacha20-poly1305"))
		return GV_CIPHER_XCHACHA20;
	return GV_EINVAL;
}

int
gv_keyring_new(gv_keyring **out, const gv_mem *mem)
{
	if (!out)
		return GV_EINVAL;
	if (sodium_init() < 0)
		return GV_ENOMEM;
	if (!mem)
		mem = gv_mem_libc();
	gv_keyring *kr = gv__zalloc(mem, sizeof(*kr));
	if (!kr)
		return GV_ENOMEM;
	kr->mem = mem;
	atomic_flag_clear(&kr->lock);
	kr->uid = atomic_fetch_add(&next_uid, 1);
	atomic_init(&kr->gen, 1);
	kr->cur.cipher = crypto_aead_aes256gcm_is_available()
				 ? GV_CIPHER_AES256GCM
				 : GV_CIPHER_XCHACHA20;
	*out = kr;
	return 0;
}

void
gv_keyring_del(gv_keyring *kr)
{
	if (!kr)
		return;
	sodium_memzero(&kr->cur, sizeof(kr->cur));
	gv__free(kr->mem, kr, sizeof(*kr));
}

int
gv_keyring_set_cipher(gv_keyring *kr, int cipher)
{
	if (!kr)
		return GV_EINVAL;
	bool aes = crypto_aead_aes256gcm_is_available() != 0;
	switch (cipher) {
	case GV_CIPHER_AUTO:
		cipher = aes ? GV_CIPHER_AES256GCM : GV_CIPHER_XCHACHA20;
		break;
	case GV_CIPHER_AES256GCM:
		if (!aes)
			return GV_EINVAL;
		break;
	case GV_CIPHER_XCHACHA20: break;
	default: return GV_EINVAL;
	}
	lock(kr);
	kr->cur.cipher = cipher;
	changed(kr);
	unlock(kr);
	return 0;
}

int
gv_keyring_cipher(const gv_keyring *kr)
{
	if (!kr)
		return GV_CIPHER_XCHACHA20;
	lock(kr);
	int c = kr->cur.cipher;
	unlock(kr);
	return c;
}

/* ------------------------------------------------------------ key text */

static bool
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
gv_key_parse(const char *s, size_t len, uint8_t key[GV_KEY_LEN])
{
	if (!s || !key)
		return GV_EINVAL;
	while (len && blank(s[0])) {
		s++;
		len--;
	}
	while (len && blank(s[len - 1]))
		len--;
	/* sodium's decoders want a terminated string */
	char tmp[96];
	if (len == 0 || len >= sizeof(tmp))
		return GV_EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = 0;
	uint8_t out[GV_KEY_LEN + 8];
	size_t got = 0;
	const char *end = NULL;
	int rc = GV_EINVAL;
	if (len == 2 * GV_KEY_LEN) {
		if (sodium_hex2bin(out, sizeof(out), tmp, len, NULL, &got,
				   &end) == 0 &&
		    end == tmp + len && got == GV_KEY_LEN)
			rc = 0;
	} else {
		static const int variants[] = {
			sodium_base64_VARIANT_ORIGINAL,
			sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
			sodium_base64_VARIANT_URLSAFE,
			sodium_base64_VARIANT_URLSAFE_NO_PADDING,
		};
		for (size_t i = 0; rc && i < GV_ARRAY_LEN(variants); i++) {
			if (sodium_base642bin(out, sizeof(out), tmp, len, NULL,
					      &got, &end, variants[i]) == 0 &&
			    end == tmp + len && got == GV_KEY_LEN)
				rc = 0;
		}
	}
	if (rc == 0)
		memcpy(key, out, GV_KEY_LEN);
	sodium_memzero(out, sizeof(out));
	sodium_memzero(tmp, sizeof(tmp));
	return rc;
}

static uint64_t
key_hash(const uint8_t key[GV_KEY_LEN])
{
	uint8_t h[8];
	crypto_generichash(h, sizeof(h), id_ctx, sizeof(id_ctx), key,
			   GV_KEY_LEN);
	return gv__ld64(h);
}

uint32_t
gv_key_id(const uint8_t key[GV_KEY_LEN])
{
	uint32_t id = (uint32_t)key_hash(key);
	return id ? id : 1;
}

int
gv_key_id_parse(const char *s, size_t len, uint32_t *id)
{
	if (!s || !id || len != 8)
		return GV_EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return GV_EINVAL;
		v = v << 4 | d;
	}
	if (!v)
		return GV_EINVAL;
	*id = v;
	return 0;
}

/* ------------------------------------------------------------ the ring */

static int
find(const struct snap *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->id[i] == id)
			return (int)i;
	return -1;
}

static int
add(struct snap *s, const uint8_t key[GV_KEY_LEN])
{
	uint64_t fp = key_hash(key);
	uint32_t id = gv_key_id(key);
	int at = find(s, id);
	if (at >= 0)
		return s->fp[at] == fp ? 0 : GV_EFULL;
	if (s->n >= GV_KEYRING_MAX)
		return GV_EFULL;
	s->id[s->n] = id;
	s->fp[s->n] = fp;
	memcpy(s->key[s->n], key, GV_KEY_LEN);
	s->n++;
	return 1;
}

int
gv_keyring_load(gv_keyring *kr, const char *text, size_t len, char *err,
		size_t errlen)
{
	if (!kr || (!text && len)) {
		if (err && errlen)
			snprintf(err, errlen, "invalid argument");
		return GV_EINVAL;
	}
	struct snap *n = gv__zalloc(kr->mem, sizeof(*n));
	if (!n)
		return GV_ENOMEM;
	size_t off = 0;
	unsigned line = 0;
	int rc = 0;
	while (off < len && rc == 0) {
		size_t e = off;
		while (e < len && text[e] != '\n')
			e++;
		line++;
		const char *p = text + off;
		size_t l = e - off;
		off = e + 1;
		while (l && blank(*p)) {
			p++;
			l--;
		}
		while (l && blank(p[l - 1]))
			l--;
		if (!l || p[0] == '#')
			continue;
		uint8_t key[GV_KEY_LEN];
		if (gv_key_parse(p, l, key)) {
			if (err && errlen)
				snprintf(err, errlen,
					 "line %u: not a 32-byte key in hex "
					 "(64 digits) or base64 (44 "
					 "characters)",
					 line);
			rc = GV_EINVAL;
		} else {
			int a = add(n, key);
			if (a == 0) {
				if (err && errlen)
					snprintf(err, errlen,
						 "line %u: key %08x listed "
						 "twice",
						 line, gv_key_id(key));
				rc = GV_EINVAL;
			} else if (a < 0) {
				if (err && errlen)
					snprintf(err, errlen,
						 n->n >= GV_KEYRING_MAX
							 ? "line %u: more than "
							   "16 keys"
							 : "line %u: key id "
							   "collides with "
							   "another key's",
						 line);
				rc = GV_EINVAL;
			}
		}
		sodium_memzero(key, sizeof(key));
	}
	if (rc == 0 && n->n == 0) {
		if (err && errlen)
			snprintf(err, errlen, "no keys (one key per line: 64 "
					      "hex digits or base64)");
		rc = GV_EINVAL;
	}
	if (rc == 0) {
		lock(kr);
		n->cipher = kr->cur.cipher;
		kr->cur = *n;
		changed(kr);
		unlock(kr);
	}
	sodium_memzero(n, sizeof(*n));
	gv__free(kr->mem, n, sizeof(*n));
	return rc;
}

int
gv_keyring_install(gv_keyring *kr, const uint8_t key[GV_KEY_LEN])
{
	if (!kr || !key)
		return GV_EINVAL;
	lock(kr);
	int rc = add(&kr->cur, key);
	if (rc == 1)
		changed(kr);
	unlock(kr);
	return rc;
}

int
gv_keyring_use(gv_keyring *kr, uint32_t id)
{
	if (!kr)
		return GV_EINVAL;
	lock(kr);
	struct snap *n = &kr->cur;
	int at = find(n, id), rc = at < 0 ? GV_ENOTFOUND : at > 0;
	if (at > 0) {
		/* swap into slot 0; the order of the others does not
		 * matter */
		uint32_t tid = n->id[0];
		uint64_t tfp = n->fp[0];
		uint8_t tkey[GV_KEY_LEN];
		memcpy(tkey, n->key[0], GV_KEY_LEN);
		n->id[0] = n->id[at];
		n->fp[0] = n->fp[at];
		memcpy(n->key[0], n->key[at], GV_KEY_LEN);
		n->id[at] = tid;
		n->fp[at] = tfp;
		memcpy(n->key[at], tkey, GV_KEY_LEN);
		sodium_memzero(tkey, sizeof(tkey));
		changed(kr);
	}
	unlock(kr);
	return rc;
}

int
gv_keyring_remove(gv_keyring *kr, uint32_t id)
{
	if (!kr)
		return GV_EINVAL;
	lock(kr);
	struct snap *n = &kr->cur;
	int at = find(n, id);
	int rc = at < 0 ? GV_ENOTFOUND : at == 0 ? GV_EPRIMARY : 1;
	if (at > 0) {
		size_t last = n->n - 1;
		n->id[at] = n->id[last];
		n->fp[at] = n->fp[last];
		memcpy(n->key[at], n->key[last], GV_KEY_LEN);
		sodium_memzero(n->key[last], GV_KEY_LEN);
		n->n--;
		changed(kr);
	}
	unlock(kr);
	return rc;
}

size_t
gv_keyring_list(const gv_keyring *kr, uint32_t *ids, size_t max)
{
	if (!kr)
		return 0;
	lock(kr);
	size_t n = kr->cur.n;
	for (size_t i = 0; i < n && i < max; i++)
		ids[i] = kr->cur.id[i];
	unlock(kr);
	return n;
}

size_t
gv_keyring_count(const gv_keyring *kr)
{
	if (!kr)
		return 0;
	lock(kr);
	size_t n = kr->cur.n;
	unlock(kr);
	return n;
}

uint32_t
gv_keyring_primary(const gv_keyring *kr)
{
	if (!kr)
		return 0;
	lock(kr);
	uint32_t id = kr->cur.n ? kr->cur.id[0] : 0;
	unlock(kr);
	return id;
}

int
gv_keyring_get(const gv_keyring *kr, uint32_t id, uint8_t key[GV_KEY_LEN])
{
	if (!kr || !key)
		return GV_EINVAL;
	lock(kr);
	int at = find(&kr->cur, id);
	if (at >= 0)
		memcpy(key, kr->cur.key[at], GV_KEY_LEN);
	unlock(kr);
	return at < 0 ? GV_ENOTFOUND : 0;
}

uint64_t
gv_keyring_generation(const gv_keyring *kr)
{
	return kr ? atomic_load_explicit(&kr->gen, memory_order_acquire) : 0;
}

/* ------------------------------------------------------------ sealing */

/* A zeroed, 16-byte aligned array of cap slots (the AES state wants
 * it); *raw gets the block to free. */
static struct slot *
slots_new(const gv_mem *mem, size_t cap, void **raw)
{
	uint8_t *p = gv__zalloc(mem, cap * sizeof(struct slot) + 16);
	*raw = p;
	if (!p)
		return NULL;
	return (struct slot *)(void *)(p + ((16 - ((uintptr_t)p & 15)) & 15));
}

static void
slots_free(const gv_mem *mem, struct slot *s, void *raw, size_t cap)
{
	if (!raw)
		return;
	sodium_memzero(s, cap * sizeof(*s));
	gv__free(mem, raw, cap * sizeof(struct slot) + 16);
}

int
gv_seal_cache_new(gv_seal_cache **out, const gv_mem *mem)
{
	if (!out || !mem)
		return GV_EINVAL;
	gv_seal_cache *c = gv__zalloc(mem, sizeof(*c));
	if (!c)
		return GV_ENOMEM;
	c->mem = mem;
	c->slot = slots_new(mem, CACHE_MIN, &c->slot_raw);
	if (!c->slot) {
		gv__free(mem, c, sizeof(*c));
		return GV_ENOMEM;
	}
	c->cap = CACHE_MIN;
	*out = c;
	return 0;
}

void
gv_seal_cache_del(gv_seal_cache *c, const gv_mem *mem)
{
	if (!c || !mem)
		return;
	slots_free(mem, c->slot, c->slot_raw, c->cap);
	sodium_memzero(c, sizeof(*c));
	gv__free(mem, c, sizeof(*c));
}

/* The cache's copy of the ring, refreshed if the ring changed since. */
static const struct snap *
ring_of(const gv_keyring *kr, gv_seal_cache *c)
{
	uint64_t gen = atomic_load_explicit(&kr->gen, memory_order_acquire);
	if (c->uid != kr->uid || c->gen != gen) {
		lock(kr);
		c->snap = kr->cur;
		c->gen = atomic_load_explicit(&kr->gen, memory_order_relaxed);
		c->uid = kr->uid;
		unlock(kr);
	}
	return &c->snap;
}

struct ctx {
	uint64_t sender;
	uint32_t boot, inc;
	uint16_t shard;
	uint64_t seq;
};

static void
ctx_of(const uint8_t *h, uint32_t boot, struct ctx *x)
{
	x->shard = gv__ld16(h + 8);
	x->sender = gv__ld64(h + 12);
	x->inc = gv__ld32(h + 20);
	x->seq = gv__ld64(h + 24);
	x->boot = boot;
}

static void
xnonce(const struct ctx *x, uint8_t n[24])
{
	gv__st64(n, x->sender);
	gv__st32(n + 8, x->boot);
	gv__st32(n + 12, x->inc);
	gv__st16(n + 16, x->shard);
	uint8_t s[8];
	gv__st64(s, x->seq);
	memcpy(n + 18, s, 6);
}

static uint64_t
slot_hash(uint64_t sender, uint32_t boot, uint32_t inc, uint16_t shard,
	  uint64_t fp)
{
	uint64_t v[4] = {sender, (uint64_t)boot << 32 | inc, shard, fp};
	return XXH3_64bits(v, sizeof(v));
}

/* Grows the table (or, at CACHE_MAX, empties it); false on no memory. */
static bool
cache_make_room(gv_seal_cache *c)
{
	if ((c->n + 1) * 2 <= c->cap)
		return true;
	size_t cap = c->cap < CACHE_MAX ? c->cap * 2 : c->cap;
	void *raw;
	struct slot *t = slots_new(c->mem, cap, &raw);
	if (!t)
		return false;
	size_t n = 0;
	if (cap != c->cap) {
		for (size_t i = 0; i < c->cap; i++) {
			const struct slot *o = &c->slot[i];
			if (!o->used)
				continue;
			size_t j = slot_hash(o->sender, o->boot, o->inc,
					     o->shard, o->fp) &
				   (cap - 1);
			while (t[j].used)
				j = (j + 1) & (cap - 1);
			t[j] = *o;
			n++;
		}
	}
	slots_free(c->mem, c->slot, c->slot_raw, c->cap);
	c->slot = t;
	c->slot_raw = raw;
	c->cap = cap;
	c->n = n;
	return true;
}

/* The expanded AES-GCM subkey of (key, sender context), cached; NULL if
 * the cache cannot grow (no memory). */
static const crypto_aead_aes256gcm_state *
aes_state(gv_seal_cache *c, const struct snap *s, int at,
	  const struct ctx *x)
{
	uint64_t fp = s->fp[at];
	size_t mask = c->cap - 1;
	size_t i = slot_hash(x->sender, x->boot, x->inc, x->shard, fp) & mask;
	for (;; i = (i + 1) & mask) {
		struct slot *sl = &c->slot[i];
		if (!sl->used)
			break;
		if (sl->sender == x->sender && sl->fp == fp &&
		    sl->boot == x->boot && sl->inc == x->inc &&
		    sl->shard == x->shard)
			return &sl->st;
	}
	if (!cache_make_room(c))
		return NULL;
	mask = c->cap - 1;
	i = slot_hash(x->sender, x->boot, x->inc, x->shard, fp) & mask;
	while (c->slot[i].used)
		i = (i + 1) & mask;
	struct slot *sl = &c->slot[i];
	uint8_t in[sizeof(aes_ctx) - 1 + 18], sub[32];
	memcpy(in, aes_ctx, sizeof(aes_ctx) - 1);
	uint8_t *p = in + sizeof(aes_ctx) - 1;
	gv__st64(p, x->sender);
	gv__st32(p + 8, x->boot);
	gv__st32(p + 12, x->inc);
	gv__st16(p + 16, x->shard);
	crypto_generichash(sub, sizeof(sub), in, sizeof(in), s->key[at],
			   GV_KEY_LEN);
	crypto_aead_aes256gcm_beforenm(&sl->st, sub);
	sodium_memzero(sub, sizeof(sub));
	sl->used = true;
	sl->sender = x->sender;
	sl->fp = fp;
	sl->boot = x->boot;
	sl->inc = x->inc;
	sl->key_id = s->id[at];
	sl->shard = x->shard;
	c->n++;
	return &sl->st;
}

ssize_t
gv_seal(const gv_keyring *kr, gv_seal_cache *c, uint8_t *buf, size_t len,
	size_t cap, uint32_t boot)
{
	if (!kr || !c || !buf || len < GV_WIRE_HEADER_LEN ||
	    len + GV_SEAL_OVERHEAD > cap || (buf[3] & ~GV_WIRE_FLAG_ZSTD))
		return GV_EINVAL;
	const struct snap *s = ring_of(kr, c);
	if (!s->n)
		return GV_ENOTFOUND;
	struct ctx x;
	ctx_of(buf, boot, &x);
	if (x.seq > GV_SEAL_MAX_SEQ)
		return GV_ERANGE;
	int cipher = s->cipher;
	/* a compressed datagram stays so: its flag is in the AAD */
	buf[3] = (uint8_t)((buf[3] & GV_WIRE_FLAG_ZSTD) | GV_WIRE_FLAG_SEALED |
			   (cipher == GV_CIPHER_AES256GCM ? GV_WIRE_FLAG_AESGCM
							  : 0));
	gv__st32(buf + 32, s->id[0]);
	gv__st32(buf + 36, boot);
	uint8_t *m = buf + GV_WIRE_HEADER_LEN;
	unsigned long long mlen = len - GV_WIRE_HEADER_LEN;
	unsigned long long maclen = 0;
	int rc;
	if (cipher == GV_CIPHER_AES256GCM) {
		uint8_t n[crypto_aead_aes256gcm_NPUBBYTES] = {0};
		gv__st64(n, x.seq);
		const crypto_aead_aes256gcm_state *st = aes_state(c, s, 0, &x);
		if (!st)
			return GV_ENOMEM;
		rc = crypto_aead_aes256gcm_encrypt_detached_afternm(
			m, m + mlen, &maclen, m, mlen, buf, GV_WIRE_HEADER_LEN,
			NULL, n, st);
	} else {
		uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
		xnonce(&x, n);
		rc = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
			m, m + mlen, &maclen, m, mlen, buf, GV_WIRE_HEADER_LEN,
			NULL, n, s->key[0]);
	}
	if (rc != 0 || maclen != GV_SEAL_OVERHEAD)
		return GV_EINVAL;
	return (ssize_t)(len + GV_SEAL_OVERHEAD);
}

int
gv_open(const gv_keyring *kr, gv_seal_cache *c, const uint8_t *in,
	size_t len, uint8_t *out, size_t *outlen)
{
	if (!kr || !c || !in || !out || !outlen ||
	    len < GV_WIRE_HEADER_LEN + GV_SEAL_OVERHEAD)
		return GV_EINVAL;
	const struct snap *s = ring_of(kr, c);
	int at = find(s, gv__ld32(in + 32));
	if (at < 0)
		return GV_ENOTFOUND;
	struct ctx x;
	ctx_of(in, gv__ld32(in + 36), &x);
	const uint8_t *cph = in + GV_WIRE_HEADER_LEN;
	unsigned long long clen = len - GV_WIRE_HEADER_LEN - GV_SEAL_OVERHEAD;
	const uint8_t *mac = cph + clen;
	uint8_t *m = out + GV_WIRE_HEADER_LEN;
	int rc;
	if (in[3] & GV_WIRE_FLAG_AESGCM) {
		if (!crypto_aead_aes256gcm_is_available())
			return GV_EAUTH;
		uint8_t n[crypto_aead_aes256gcm_NPUBBYTES] = {0};
		gv__st64(n, x.seq);
		const crypto_aead_aes256gcm_state *st =
			aes_state(c, s, at, &x);
		if (!st)
			return GV_ENOMEM;
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(
			m, NULL, cph, clen, mac, in, GV_WIRE_HEADER_LEN, n, st);
	} else {
		if (x.seq > GV_SEAL_MAX_SEQ)
			return GV_EAUTH;
		uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
		xnonce(&x, n);
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			m, NULL, cph, clen, mac, in, GV_WIRE_HEADER_LEN, n,
			s->key[at]);
	}
	if (rc != 0)
		return GV_EAUTH;
	memcpy(out, in, GV_WIRE_HEADER_LEN);
	*outlen = GV_WIRE_HEADER_LEN + (size_t)clen;
	return 0;
}
