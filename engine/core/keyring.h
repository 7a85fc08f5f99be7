/* SPDX-License-Identifier: MIT */
/*
 * keyring.h - cluster keys and datagram sealing (authenticated encryption).
 *
 * A keyring holds up to GV_KEYRING_MAX 32-byte keys, one of them primary.
 * A node with a keyring seals every datagram it sends with the primary key
 * and accepts a datagram only if a key of its ring opens it; a node
 * without one runs in the clear. Keys are named by a 32-bit id (a keyed
 * hash of the key, shown as 8 hex digits), which travels in the sealed
 * header so the receiver finds the key without trying each.
 *
 * Sealed datagram (flags GV_WIRE_FLAG_SEALED, plus GV_WIRE_FLAG_AESGCM
 * for AES-256-GCM):
 *   [0, 32)        the clear header's first 32 bytes (magic .. seq)
 *   [32, 36)       key id u32
 *   [36, 40)       boot u32: a random value the sender drew when it started
 *   [40, len - 16) the records, encrypted
 *   [len - 16, len) the authentication tag
 * The 40 header bytes are the associated data: they are authenticated,
 * not encrypted (a receiver needs the sender, seq and key id before it
 * can open). The XXH3 checksum of a clear datagram is not needed: the tag
 * detects any corruption.
 *
 * Nonces are never stored or sent: they are built from the header, which
 * is unique per datagram as long as a sender's (id, boot, incarnation,
 * shard, seq) never repeats. seq counts up per node and shard; boot and a
 * random node id (the daemon draws both from /dev/urandom) make a
 * restarted process a new sender.
 *   XChaCha20-Poly1305: key K, 24-byte nonce sender|boot|incarnation|
 *     shard|seq (low 48 bits; sealing refuses seq >= 2^48).
 *   AES-256-GCM: a subkey BLAKE2b-256(key K, "gv1-aes256gcm"|sender|boot|
 *     incarnation|shard) per sender, 12-byte nonce seq|0; the expanded
 *     subkeys are cached (gv_seal_cache).
 *
 * Thread safety: every function may be called from any thread. Changes
 * and reads take a short spinlock; seal and open run on the copy of the
 * ring their gv_seal_cache keeps (one cache per thread), refreshed only
 * when the ring's generation moved, so the data path takes no lock. No
 * memory is kept per change.
 */
#ifndef GV_CORE_KEYRING_H
#define GV_CORE_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

#define GV_KEY_LEN 32
#define GV_KEYRING_MAX 16
#define GV_SEAL_OVERHEAD 16 /* the tag */
#define GV_SEAL_MAX_SEQ (((uint64_t)1 << 48) - 1)

enum gv_cipher {
	GV_CIPHER_AUTO = 0,      /* AES-256-GCM where this CPU has AES-NI */
	GV_CIPHER_AES256GCM = 1,
	GV_CIPHER_XCHACHA20 = 2, /* XChaCha20-Poly1305 */
};

typedef struct gv_keyring gv_keyring;
typedef struct gv_seal_cache gv_seal_cache;

/* Creates an empty keyring (initialises libsodium). Cipher: AUTO. */
int gv_keyring_new(gv_keyring **out, const gv_mem *mem);
void gv_keyring_del(gv_keyring *kr);

/* True if this CPU can run AES-256-GCM (libsodium needs AES-NI+PCLMUL). */
bool gv_cipher_aes_available(void);
/* Chooses the cipher for sealing (AUTO resolves now). Opening accepts
 * either. GV_EINVAL: unknown, or AES-256-GCM on a CPU without AES-NI. */
int gv_keyring_set_cipher(gv_keyring *kr, int cipher);
int gv_keyring_cipher(const gv_keyring *kr); /* resolved: never AUTO */
const char *gv_cipher_name(int cipher);
/* "auto", "aes256gcm" / "aes-256-gcm", "xchacha20poly1305" / "xchacha20" */
int gv_cipher_parse(const char *s);

/*
 * gv_key_parse - one key: 64 hex digits, or base64 (standard or URL-safe,
 * with or without padding) of 32 bytes. Surrounding blanks are ignored.
 * Returns 0 or GV_EINVAL.
 */
int gv_key_parse(const char *s, size_t len, uint8_t key[GV_KEY_LEN]);
/* The key's id: a keyed BLAKE2b of the key, never 0. */
uint32_t gv_key_id(const uint8_t key[GV_KEY_LEN]);
/* Parses "8 hex digits" as a key id. 0 on success, GV_EINVAL otherwise. */
int gv_key_id_parse(const char *s, size_t len, uint32_t *id);

/*
 * gv_keyring_load - replace the ring with the keys in a keyring file's
 * text: one key per line (gv_key_parse), blank lines and lines starting
 * with '#' ignored; the first key is primary. At least one key, at most
 * GV_KEYRING_MAX, no key twice. On error the ring is unchanged and err
 * says which line and why. Returns 0 or GV_EINVAL / GV_ENOMEM.
 */
int gv_keyring_load(gv_keyring *kr, const char *text, size_t len, char *err,
		    size_t errlen);

/* Adds a key. Returns 1 if added, 0 if already held; GV_EFULL (ring full
 * or another key with the same id), GV_ENOMEM. The first key added to an
 * empty ring becomes primary. */
int gv_keyring_install(gv_keyring *kr, const uint8_t key[GV_KEY_LEN]);
/* Makes a held key primary. 1 if it changed, 0 if it already was;
 * GV_ENOTFOUND. */
int gv_keyring_use(gv_keyring *kr, uint32_t id);
/* Removes a key. 1 removed; GV_ENOTFOUND; GV_EPRIMARY (switch first). */
int gv_keyring_remove(gv_keyring *kr, uint32_t id);

/* Key ids, primary first; returns how many (also when > max). */
size_t gv_keyring_list(const gv_keyring *kr, uint32_t *ids, size_t max);
size_t gv_keyring_count(const gv_keyring *kr);
uint32_t gv_keyring_primary(const gv_keyring *kr); /* 0: empty */
/* Copies a held key. 0 or GV_ENOTFOUND. */
int gv_keyring_get(const gv_keyring *kr, uint32_t id,
		   uint8_t key[GV_KEY_LEN]);
/* Bumped by every change: lets a reader notice one cheaply. */
uint64_t gv_keyring_generation(const gv_keyring *kr);

/* Per-thread cache of expanded AES-GCM subkeys (~35 KiB). */
int gv_seal_cache_new(gv_seal_cache **out, const gv_mem *mem);
void gv_seal_cache_del(gv_seal_cache *c, const gv_mem *mem);

/*
 * gv_seal - seal a finished clear datagram in place: buf[0, len) becomes
 * a sealed datagram of len + GV_SEAL_OVERHEAD bytes (cap must allow it).
 * Returns the new length; GV_EINVAL (not a clear datagram, cap too small),
 * GV_ENOTFOUND (empty ring), GV_ERANGE (seq >= 2^48: the sender must
 * start over with a new boot or id).
 */
ssize_t gv_seal(const gv_keyring *kr, gv_seal_cache *c, uint8_t *buf,
		size_t len, size_t cap, uint32_t boot);

/*
 * gv_open - authenticate and decrypt a sealed datagram whose header
 * gv_wire_check_sealed() accepted. out (room for len bytes) receives the
 * header and the plaintext records; *outlen its length, to read with
 * gv_wire_open_plain(). Returns 0; GV_ENOTFOUND (no key of the ring has
 * the id the header names), GV_EAUTH (the tag does not verify: forged,
 * tampered, truncated or corrupted), GV_EINVAL.
 */
int gv_open(const gv_keyring *kr, gv_seal_cache *c, const uint8_t *in,
	    size_t len, uint8_t *out, size_t *outlen);

#endif /* GV_CORE_KEYRING_H */
