/* SPDX-License-Identifier: MIT */
/*
 * wire.h - grapevine's datagram format: encoder and total decoder.
 *
 * A datagram is a fixed header followed by typed records. Everything is
 * little-endian with explicit lengths, and a datagram is at most
 * max_datagram bytes (default GV_WIRE_DEFAULT_MTU).
 *
 * Header (GV_WIRE_HEADER_LEN = 40 bytes):
 *   off len field
 *     0   2 magic        0x7667 ("gv" read as a little-endian u16)
 *     2   1 version      GV_WIRE_VERSION
 *     3   1 flags        bit 0: sealed (AEAD, see keyring.h); bit 1: the
 *                        AEAD is AES-256-GCM, not XChaCha20-Poly1305;
 *                        bit 2: compressed (the records region is one
 *                        zstd frame, compress.h, whose content is the
 *                        records, then only zero bytes if any: the
 *                        padding of a packed datagram to max_datagram;
 *                        compressed before sealing, so sealed it is the
 *                        plaintext that is a frame);
 *                        others must be 0
 *     4   4 cluster      cluster id; a mismatch is GV_ECLUSTER
 *     8   2 shard        shard index of sender and receiver
 *    10   2 reserved     must be 0
 *    12   8 sender       sender node id
 *    20   4 incarnation  sender incarnation
 *    24   8 seq          sender's datagram sequence number
 *    32   8 checksum     XXH3-64 of bytes [40, len) seeded with XXH3-64 of
 *                        bytes [0, 32); detects truncation and corruption
 *                        (sealed: key id u32, boot u32, and the records
 *                        are encrypted and end in a 16-byte tag)
 *
 * Record: type u8, body length u16, body. The decoder skips records of
 * unknown type (forward compatibility) and rejects a body length that runs
 * past the datagram. Bodies (all integers little-endian):
 *
 *   UPDATE      hlc u64, origin u64, prev_hlc u64, prev_origin u64,
 *               flags u8 (GV_UPD_*), priority u8 (0..3), hops u8,
 *               klen u16, vlen u16, key[klen], value[vlen]; with
 *               GV_UPD_META the value's first GV_WIRE_META_LEN bytes are
 *               the entry's kind u8 (GV_KIND_*) and expiry deadline u64
 *               (cluster milliseconds, 0: none), and the rest its bytes;
 *               with GV_UPD_REF those bytes are a reference to a value
 *               too large for a datagram: size u64, XXH3-64 digest u64
 *   PING        probe u32, target u64
 *   ACK         probe u32, flags u8 (GV_ACK_NACK)
 *   PING_REQ    probe u32, target u64, addr
 *   MEMBER      state u8 (GV_MEMBER_*), node u64, incarnation u32,
 *               accuser u64 (who suspected or declared it; 0 if none), addr,
 *               region_len u8, region[], name_len u8, name[]
 *   MERKLE_REQ  session u32, level u8, count u16, index u32[count]
 *               ("send me the children digests of these nodes")
 *   MERKLE_RESP session u32, level u8, fan_log2 u8, count u16, then count
 *               groups of (index u32, digest u64[1 << fan_log2]); level is
 *               the parents' level, index the parent's index
 *   ENTRIES_REQ session u32, kind u8 (GV_ENTRIES_*), count u16,
 *               item u64[count] (leaf indices or key hashes)
 *   ENTRIES_RESP session u32, flags u8 (GV_ENTRIES_LAST), count u16
 *               (the entries travel as UPDATE records with GV_UPD_AE in the
 *               same datagram; count says how many follow)
 *   PULL_DIGEST session u32, bucket u32 (GV_PULL_RECENT: recent writes),
 *               count u16, count items of (key_hash u64, hlc u64,
 *               origin u64)
 *   SYNC_REQ    session u32, flags u8 (GV_SYNC_*), shards u16 (the
 *               sender's shard count: every node of a cluster must run the
 *               same number; a mismatch is refused with GV_SYNC_MISMATCH)
 *               ("send me your full membership": the receiver answers
 *               with its MEMBER records; GV_SYNC_REPLY marks a SYNC_REQ
 *               that is such an answer, the sender's MEMBER records
 *               following in the same or the next datagrams)
 *   TOMB_ACK    count u16, count items of (key_hash u64, hlc u64,
 *               origin u64)
 *               ("I hold these tombstones": sent to a tombstone's origin,
 *               which collects it once every member holds it)
 *   PURGE       hlc u64, origin u64, klen u16, key[klen]
 *               ("every member holds the tombstone of key at version
 *               (hlc, origin): collect it")
 *   TREE        kind u8 (GV_TREE_*), count u16, count items of
 *               (key_hash u64, hlc u64): the broadcast tree's control
 *               (IHAVE "I have these writes", on a link outside the
 *               tree; GRAFT "send me these")
 *
 * addr: family u8 (4 or 6), port u16, then 4 or 16 address bytes (network
 * byte order, as in sockaddr).
 *
 * Decoded records point into the datagram (zero copy): the decoder never
 * allocates. Arrays inside records are exposed as a pointer to their first
 * byte and a count; read their elements with gv_wire_u32_at() /
 * gv_wire_u64_at(), since they may be unaligned.
 */
#ifndef GV_CORE_WIRE_H
#define GV_CORE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

#define GV_WIRE_MAGIC 0x7667
#define GV_WIRE_VERSION 1
#define GV_WIRE_HEADER_LEN 40
#define GV_WIRE_RECORD_HDR 3   /* type u8 + length u16 */
#define GV_WIRE_DEFAULT_MTU 1400
#define GV_WIRE_MIN_MTU 512
#define GV_WIRE_MAX_MTU 65507 /* largest UDP payload over IPv4 */

#define GV_WIRE_FLAG_SEALED 0x01
#define GV_WIRE_FLAG_AESGCM 0x02
#define GV_WIRE_FLAG_ZSTD 0x04

/* Fixed part of an UPDATE body, before key and value. */
#define GV_WIRE_UPDATE_FIXED 39
/* kind u8 + expiry u64 at the head of an UPDATE's value (GV_UPD_META) */
#define GV_WIRE_META_LEN 9
#define GV_WIRE_MAX_REGION 63
#define GV_WIRE_MAX_NAME 63

enum gv_wire_type {
	GV_REC_UPDATE = 1,
	GV_REC_PING = 2,
	GV_REC_ACK = 3,
	GV_REC_PING_REQ = 4,
	GV_REC_MEMBER = 5,
	GV_REC_MERKLE_REQ = 6,
	GV_REC_MERKLE_RESP = 7,
	GV_REC_ENTRIES_REQ = 8,
	GV_REC_ENTRIES_RESP = 9,
	GV_REC_PULL_DIGEST = 10,
	GV_REC_SYNC_REQ = 11,
	GV_REC_TOMB_ACK = 12,
	GV_REC_PURGE = 13,
	GV_REC_PAD = 14, /* zeros, skipped: makes a datagram max_datagram
	                  * long, so back-to-back datagrams to one peer
	                  * can go out as one UDP GSO send */
	GV_REC_TREE = 15, /* broadcast tree control (tree.c): IHAVE or
	                   * GRAFT */
};

/* TREE kinds */
#define GV_TREE_IHAVE 1 /* items: writes the sender has (lazy link) */
#define GV_TREE_GRAFT 2 /* items: writes the sender lacks: send them */
#define GV_TREE_KIND_MAX GV_TREE_GRAFT
#define GV_TREE_ITEM 16 /* key_hash u64, hlc u64 */

/* UPDATE flags */
#define GV_UPD_TOMBSTONE 0x01 /* a delete: vlen must be 0 */
#define GV_UPD_AE 0x02        /* sent by anti-entropy: apply, do not rumor */
#define GV_UPD_DIRECT 0x04    /* the origin sent it to every live member
                               * itself: apply, do not forward */
#define GV_UPD_META 0x08      /* the value begins with kind and expiry:
                               * set by the encoder from kind/expire */
#define GV_UPD_COND 0x10      /* a conditional write (SET NX) that found the
                               * key absent */
#define GV_UPD_REF 0x20       /* the value is not here: its bytes are a
                               * reference (GV_WIRE_REF_LEN: size u64,
                               * XXH3-64 digest u64); the receiver fetches
                               * it over the stream channel (stream.h) */
#define GV_UPD_GRAFT 0x40     /* the answer to a GRAFT (broadcast tree):
                               * apply and pass on; its duplicates prune
                               * nothing */
#define GV_UPD_FLAGS_ALL                                                      \
	(GV_UPD_TOMBSTONE | GV_UPD_AE | GV_UPD_DIRECT | GV_UPD_META |          \
	 GV_UPD_COND | GV_UPD_REF | GV_UPD_GRAFT)
#define GV_WIRE_REF_LEN 16

/* ACK flags */
#define GV_ACK_NACK 0x01 /* ping-req relay could not reach the target */

/* Member states, in order of precedence at equal incarnation. */
enum gv_member_state {
	GV_MEMBER_ALIVE = 0,
	GV_MEMBER_SUSPECT = 1,
	GV_MEMBER_DEAD = 2,
	GV_MEMBER_LEFT = 3,
};

/* ENTRIES_REQ kinds */
#define GV_ENTRIES_LEAVES 0 /* items are Merkle leaf indices */
#define GV_ENTRIES_KEYS 1   /* items are key hashes */
/* ENTRIES_RESP flags */
#define GV_ENTRIES_LAST 0x01

#define GV_PULL_RECENT UINT32_MAX
/* PULL_DIGEST buckets for the operator's version query (gv_node_watch):
 * a QUERY lists key hashes (versions 0); the ANSWER gives the receiver's
 * version of each (0, 0 when it holds none). */
#define GV_PULL_QUERY (UINT32_MAX - 1)
#define GV_PULL_ANSWER (UINT32_MAX - 2)

/* SYNC_REQ flags */
#define GV_SYNC_JOIN 0x01  /* the sender is joining the cluster */
#define GV_SYNC_REPLY 0x02 /* an answer: the sender's MEMBER records follow */
#define GV_SYNC_MISMATCH 0x04 /* reply: refused, shard counts differ */
#define GV_SYNC_FLAGS_ALL (GV_SYNC_JOIN | GV_SYNC_REPLY | GV_SYNC_MISMATCH)

typedef struct gv_wire_header {
	uint8_t version;
	uint8_t flags;
	uint32_t cluster;
	uint16_t shard;
	gv_node_id sender;
	uint32_t incarnation;
	uint64_t seq;
	/* encoder only, not on the wire: the datagram will be sealed
	 * (keyring.h), whose tag replaces the checksum, so gv_wire_finish
	 * leaves the checksum field 0 instead of hashing the records */
	bool unsummed;
} gv_wire_header;

/* A network address as it travels on the wire. */
typedef gv_addr gv_wire_addr;

typedef struct gv_wire_update {
	gv_version ver;
	gv_version prev;
	uint8_t flags;    /* GV_UPD_* */
	uint8_t priority; /* 0 low, 1 normal, 2 high, 3 critical */
	uint8_t hops;
	const uint8_t *key;
	uint16_t klen;
	const uint8_t *val;
	uint16_t vlen;    /* the value's bytes, the meta header excluded */
	uint8_t kind;     /* GV_KIND_* (store.h); 0: plain bytes */
	uint64_t expire;  /* deadline, cluster ms; 0: none */
} gv_wire_update;

typedef struct gv_wire_ping {
	uint32_t probe;
	gv_node_id target;
} gv_wire_ping;

typedef struct gv_wire_ack {
	uint32_t probe;
	uint8_t flags;
} gv_wire_ack;

typedef struct gv_wire_ping_req {
	uint32_t probe;
	gv_node_id target;
	gv_wire_addr addr;
} gv_wire_ping_req;

typedef struct gv_wire_member {
	uint8_t state;
	gv_node_id node;
	uint32_t incarnation;
	gv_node_id accuser; /* who suspected or declared it (0: n/a) */
	gv_wire_addr addr;
	const uint8_t *region;
	uint8_t region_len;
	const uint8_t *name;
	uint8_t name_len;
} gv_wire_member;

typedef struct gv_wire_merkle_req {
	uint32_t session;
	uint8_t level;
	uint16_t count;
	const uint8_t *index; /* count u32 */
} gv_wire_merkle_req;

typedef struct gv_wire_merkle_resp {
	uint32_t session;
	uint8_t level;
	uint8_t fan_log2;
	uint16_t count;
	const uint8_t *groups; /* count x (u32 index, u64 digest[1<<fan_log2]) */
} gv_wire_merkle_resp;

typedef struct gv_wire_entries_req {
	uint32_t session;
	uint8_t kind;
	uint16_t count;
	const uint8_t *items; /* count u64 */
} gv_wire_entries_req;

typedef struct gv_wire_entries_resp {
	uint32_t session;
	uint8_t flags;
	uint16_t count;
} gv_wire_entries_resp;

typedef struct gv_wire_pull_digest {
	uint32_t session;
	uint32_t bucket;
	uint16_t count;
	const uint8_t *items; /* count x (u64 key_hash, u64 hlc, u64 origin) */
} gv_wire_pull_digest;

typedef struct gv_wire_sync_req {
	uint32_t session;
	uint8_t flags; /* GV_SYNC_* */
	uint16_t shards; /* the sender's shard count (0: not sharded) */
} gv_wire_sync_req;

typedef struct gv_wire_tomb_ack {
	uint16_t count;
	const uint8_t *items; /* count x (u64 key_hash, u64 hlc, u64 origin) */
} gv_wire_tomb_ack;

typedef struct gv_wire_purge {
	gv_version ver; /* the tombstone's version */
	const uint8_t *key;
	uint16_t klen;
} gv_wire_purge;

typedef struct gv_wire_tree {
	uint8_t kind;  /* GV_TREE_* */
	uint16_t count;
	const uint8_t *items; /* count x (u64 key_hash, u64 hlc) */
} gv_wire_tree;

/* Item i of a TREE record. */
static inline void
gv_wire_tree_item(const gv_wire_tree *t, size_t i, uint64_t *kh, uint64_t *hlc)
{
	const uint8_t *p = t->items + GV_TREE_ITEM * i;
	memcpy(kh, p, 8);
	memcpy(hlc, p + 8, 8);
}

typedef struct gv_wire_record {
	uint8_t type; /* enum gv_wire_type */
	union {
		gv_wire_update update;
		gv_wire_ping ping;
		gv_wire_ack ack;
		gv_wire_ping_req ping_req;
		gv_wire_member member;
		gv_wire_merkle_req merkle_req;
		gv_wire_merkle_resp merkle_resp;
		gv_wire_entries_req entries_req;
		gv_wire_entries_resp entries_resp;
		gv_wire_pull_digest pull_digest;
		gv_wire_sync_req sync_req;
		gv_wire_tomb_ack tomb_ack;
		gv_wire_purge purge;
		gv_wire_tree tree;
	} u;
} gv_wire_record;

/* Unaligned element access for arrays inside decoded records. */
static inline uint32_t
gv_wire_u32_at(const uint8_t *p, size_t i)
{
	uint32_t v;
	memcpy(&v, p + 4 * i, 4);
	return v;
}
static inline uint64_t
gv_wire_u64_at(const uint8_t *p, size_t i)
{
	uint64_t v;
	memcpy(&v, p + 8 * i, 8);
	return v;
}

/*
 * Encoded size of records, for planning what fits in a datagram: the whole
 * record, its GV_WIRE_RECORD_HDR bytes included, exactly what the matching
 * put_* appends (compare with gv_wire_room()). A size whose body would
 * exceed 65535 bytes is still returned; such a record is GV_EINVAL to put.
 * gv_wire_member_size() sizes an unknown address family as IPv6;
 * gv_wire_merkle_resp_size() returns SIZE_MAX for fan_log2 outside 1..8
 * (a record that never fits).
 */
size_t gv_wire_update_size(size_t klen, size_t vlen);

/* The same for an entry of this kind and expiry (the meta header added
 * when either is set). */
size_t gv_wire_update_size_meta(size_t klen, size_t vlen, uint8_t kind,
				uint64_t expire);
size_t gv_wire_member_size(const gv_wire_member *m);
size_t gv_wire_merkle_req_size(uint16_t count);
size_t gv_wire_merkle_resp_size(uint8_t fan_log2, uint16_t count);
size_t gv_wire_entries_req_size(uint16_t count);
size_t gv_wire_pull_digest_size(uint16_t count);
size_t gv_wire_tomb_ack_size(uint16_t count);
size_t gv_wire_purge_size(size_t klen);
size_t gv_wire_tree_size(uint16_t count);

/* ---------------------------------------------------------------- encoder
 *
 * gv_wire_writer builds one datagram in a caller buffer. Each put_* either
 * appends the whole record and returns 0, or returns GV_ENOBUFS and leaves
 * the writer unchanged (so a caller can fill a datagram greedily and start
 * the next one with the record that did not fit); GV_EINVAL for a record
 * that could never be encoded (a field too long for its length prefix or a
 * value the decoder would reject: klen > GV_MAX_KEY, body > 65535 bytes,
 * region or name > 63, address family not 4 or 6, unknown flag bits or
 * member state, priority > 3, tombstone with a value, fan_log2 outside
 * 1..8, entries kind not GV_ENTRIES_*, a NULL array or key with a non-zero
 * count or length)
 * or an invalid writer. On error nothing is written, not even past len.
 * GV_ENOBUFS from a writer that holds no record yet (records == 0) means
 * the record is larger than this datagram size can ever carry.
 *
 * A record with a body of B bytes needs GV_WIRE_RECORD_HDR + B bytes of
 * gv_wire_room(); the gv_wire_*_size() helpers above give that sum.
 */
typedef struct gv_wire_writer {
	uint8_t *buf;
	size_t cap; /* min(buffer size, max_datagram) */
	size_t len;
	unsigned records;
	bool unsummed; /* from the header: no checksum */
} gv_wire_writer;

/*
 * gv_wire_encode_update - encode one UPDATE record (header included) at p,
 * outside any datagram, to be copied into datagrams with gv_wire_put_raw:
 * a record sent to several peers is encoded once.
 * Returns its length, GV_ENOBUFS (room too small), GV_EINVAL.
 */
ssize_t gv_wire_encode_update(uint8_t *p, size_t room,
			      const gv_wire_update *u);

/*
 * gv_wire_put_raw - append a record encoded by gv_wire_encode_update (len
 * bytes, header included; the body length in its header must match).
 * Returns 0, GV_ENOBUFS (nothing written), GV_EINVAL.
 */
int gv_wire_put_raw(gv_wire_writer *w, const uint8_t *rec, size_t len);

/*
 * gv_wire_pad_to - pad the datagram with a PAD record to exactly len bytes
 * (len <= w->cap). The record is not counted in w->records.
 * Returns 0 (also when already len long), GV_ENOBUFS when the gap is
 * shorter than a record header (1 or 2 bytes) or the datagram is longer,
 * GV_EINVAL.
 */
int gv_wire_pad_to(gv_wire_writer *w, size_t len);

/*
 * gv_wire_begin - start a datagram: write the header (checksum left zero).
 * @cap: size of buf; clamped to GV_WIRE_MAX_MTU.
 * h->version is ignored (GV_WIRE_VERSION is written). h->flags must be 0:
 * GV_WIRE_FLAG_SEALED is refused until sealing is implemented.
 * Returns 0, GV_EINVAL (NULL argument, cap < GV_WIRE_HEADER_LEN + a record
 * header, or h->flags non-zero). On error *w is not written.
 */
int gv_wire_begin(gv_wire_writer *w, uint8_t *buf, size_t cap,
		  const gv_wire_header *h);

/*
 * gv_wire_room - bytes left for records (cap - len): a record of size S
 * (see gv_wire_*_size()) fits if and only if S <= gv_wire_room(w), unless
 * it is GV_EINVAL. Returns 0 for a NULL or invalid writer.
 */
size_t gv_wire_room(const gv_wire_writer *w);

int gv_wire_put_update(gv_wire_writer *w, const gv_wire_update *u);
int gv_wire_put_ping(gv_wire_writer *w, const gv_wire_ping *p);
int gv_wire_put_ack(gv_wire_writer *w, const gv_wire_ack *a);
int gv_wire_put_ping_req(gv_wire_writer *w, const gv_wire_ping_req *p);
int gv_wire_put_member(gv_wire_writer *w, const gv_wire_member *m);
/* index: count u32 values in host order (encoded little-endian). */
int gv_wire_put_merkle_req(gv_wire_writer *w, uint32_t session, uint8_t level,
			   const uint32_t *index, uint16_t count);
/* groups: count indices, and count * (1 << fan_log2) digests, in order. */
int gv_wire_put_merkle_resp(gv_wire_writer *w, uint32_t session,
			    uint8_t level, uint8_t fan_log2,
			    const uint32_t *index, const uint64_t *digests,
			    uint16_t count);
int gv_wire_put_entries_req(gv_wire_writer *w, uint32_t session, uint8_t kind,
			    const uint64_t *items, uint16_t count);
int gv_wire_put_entries_resp(gv_wire_writer *w,
			     const gv_wire_entries_resp *r);
/* items: count triples (key_hash, hlc, origin). */
int gv_wire_put_pull_digest(gv_wire_writer *w, uint32_t session,
			    uint32_t bucket, const uint64_t *items,
			    uint16_t count);
/* s->flags: GV_SYNC_* only. */
int gv_wire_put_sync_req(gv_wire_writer *w, const gv_wire_sync_req *s);
/* items: count triples (key_hash, hlc, origin) in host order. */
int gv_wire_put_tomb_ack(gv_wire_writer *w, const uint64_t *items,
			 uint16_t count);
/* p->klen <= GV_MAX_KEY; p->key may be NULL only when klen is 0. */
int gv_wire_put_purge(gv_wire_writer *w, const gv_wire_purge *p);
/* items: count x 2 u64 (key_hash, hlc) */
int gv_wire_put_tree(gv_wire_writer *w, uint8_t kind, const uint64_t *items,
		     uint16_t count);

/*
 * gv_wire_finish - complete the datagram: compute the checksum. May be
 * called again after more records are put.
 * Returns the datagram length (> 0), or GV_EINVAL for an invalid writer.
 */
ssize_t gv_wire_finish(gv_wire_writer *w);

/* ---------------------------------------------------------------- decoder
 *
 * gv_wire_open checks the header and the checksum of a whole datagram;
 * then gv_wire_next walks the records. Nothing is allocated; decoded
 * records point into buf, which must outlive them.
 */
typedef struct gv_wire_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
} gv_wire_reader;

/*
 * gv_wire_open - validate a datagram and position the reader at its first
 * record.
 * @h: receives the header fields; may be NULL.
 * @cluster: expected cluster id.
 * Checks, in this order: length, magic, version, flags, reserved, maximum
 * length, checksum, cluster. A compressed datagram (GV_WIRE_FLAG_ZSTD,
 * checksummed over its compressed bytes) opens here too, but its reader
 * is not for gv_wire_next: gv_wire_inflate it first.
 * Returns 0; GV_EINVAL (r NULL, or buf NULL with len > 0), GV_ETRUNCATED
 * (shorter than a header), GV_EBADMAGIC, GV_EVERSION, GV_EMALFORMED (any
 * flag bit but GV_WIRE_FLAG_ZSTD set -- a sealed datagram goes to gv_open
 * instead --
 * reserved field non-zero, longer than GV_WIRE_MAX_MTU),
 * GV_ECHECKSUM, GV_ECLUSTER. On error neither *r nor *h is written.
 */
int gv_wire_open(gv_wire_reader *r, gv_wire_header *h, const uint8_t *buf,
		 size_t len, uint32_t cluster);

/*
 * gv_wire_check_sealed - check a sealed datagram's header before opening
 * it (keyring.h): length (header and tag at least, at most
 * GV_WIRE_MAX_MTU), magic, version, flags (sealed, and no unknown bit),
 * reserved, cluster (GV_WIRE_FLAG_ZSTD may be set too). Fills *h.
 * Returns 0; GV_ETRUNCATED, GV_EBADMAGIC,
 * GV_EVERSION, GV_EMALFORMED (also: not sealed), GV_ECLUSTER.
 */
int gv_wire_check_sealed(gv_wire_header *h, const uint8_t *buf, size_t len,
			 uint32_t cluster);

/*
 * gv_wire_open_plain - position a reader on an opened sealed datagram
 * (gv_open's output: the header and the decrypted records). There is no
 * checksum to check: the AEAD tag was.
 */
int gv_wire_open_plain(gv_wire_reader *r, const uint8_t *buf, size_t len);

/*
 * gv_wire_unpadded_len - the datagram's length without its trailing PAD
 * record (gv_wire_pad_to), if it ends in one: what is worth compressing.
 * @buf, @len: a whole datagram built by gv_wire_begin..finish (its
 * records are walked by their headers only). Returns len when there is no
 * trailing PAD or the records do not parse.
 */
size_t gv_wire_unpadded_len(const uint8_t *buf, size_t len);

/*
 * gv_wire_set_compressed - after the records region [GV_WIRE_HEADER_LEN,
 * len) of a datagram was replaced by its zstd frame: set
 * GV_WIRE_FLAG_ZSTD and, when @summed (a clear datagram; a sealed one
 * leaves it to the AEAD tag), recompute the checksum over the frame.
 */
void gv_wire_set_compressed(uint8_t *buf, size_t len, bool summed);

struct gv_zctx;

/*
 * gv_wire_inflate - decompress an opened compressed datagram (@buf, @len:
 * header and zstd frame, as gv_wire_open or gv_open left it) into @out:
 * the header copied, GV_WIRE_FLAG_ZSTD cleared, then the records; and
 * position @r on them for gv_wire_next.
 * @cap: room at out, at most GV_WIRE_MAX_MTU is used: a frame that
 * declares more is refused before anything is decompressed.
 * The frame may be followed by zero bytes (padding), nothing else.
 * Returns 0 with *outlen set; GV_EINVAL, GV_EMALFORMED (not compressed, a
 * bad frame: see gv_decompress, or non-zero bytes after it), GV_ERANGE
 * (declares more than fits).
 */
int gv_wire_inflate(struct gv_zctx *z, gv_wire_reader *r, uint8_t *out,
		    size_t cap, const uint8_t *buf, size_t len,
		    size_t *outlen);

/*
 * gv_wire_next - decode the next record.
 * Returns 1 with *rec filled, 0 at the end of the datagram, or a negative
 * error: GV_EINVAL (NULL argument), GV_ETRUNCATED (a record header or body
 * length runs past the end of the datagram), GV_EMALFORMED (a record that
 * disagrees with itself or a field out of range: bad family, unknown member
 * state, tombstone with a value, priority > 3, unknown update, ack,
 * entries or sync flags, unknown entries kind, counts or klen/vlen that
 * disagree with the body length, fan_log2 out of 1..8, key longer than
 * GV_MAX_KEY (in UPDATE or PURGE),
 * region or name longer than 63; a known record's body must be exactly as
 * long as its fields). Records of unknown type are skipped. After an error
 * the reader stays at the bad record and every later call returns the same
 * error; *rec is written only when 1 is returned.
 */
int gv_wire_next(gv_wire_reader *r, gv_wire_record *rec);

#endif /* GV_CORE_WIRE_H */
