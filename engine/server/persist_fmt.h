/* SPDX-License-Identifier: MIT */
/*
 * persist_fmt.h - the on-disk format of grapevined's persistence (--dir):
 * snapshot and log files, their header and records. Sans-IO: encoders
 * write into caller buffers, the decoder reads a buffer (a mapped file).
 * docs/persistence.md describes how the files are used.
 *
 * Every integer is little-endian. A file is a header and records.
 *
 * Header (GVP_HDR_LEN = 48 bytes):
 *   0  magic "GVPF"            4
 *   4  kind u8: 'S' snapshot, 'L' log
 *   5  version u8: 1 (GVP_VERSION)
 *   6  shard u16, 8 shards u16  the key shard it holds, of how many
 *   10 flags u16 (0), 12 reserved u32 (0)
 *   16 gen u64                 generation (see persist.c)
 *   24 node u64                id of the process that wrote it
 *   32 created_ms u64          wall clock when it was begun
 *   40 check u64               XXH3-64 of bytes 0..39
 *
 * Record: a frame around a body.
 *   len u32                    body bytes (1..GVP_MAX_BODY)
 *   lcheck u32                 XXH32 of the 4 len bytes, seed GVP_SEED:
 *                              a damaged length is told from a short file
 *   body: type u8, then by type
 *   bcheck u32                 low 32 bits of XXH3-64 of the body; for
 *                              an ENTRY, of its value with the XXH3-64 of
 *                              the rest of the body as seed (a big value
 *                              is checked where it lies, never copied)
 *
 * Bodies:
 *   GVP_ENTRY   flags u8 (bit 0 tombstone, bit 1 cond), kind u8,
 *               klen u16, vlen u32, ver hlc u64, ver origin u64,
 *               prev hlc u64, prev origin u64, expire u64, key, value:
 *               a store entry exactly as it is (store.h)
 *   GVP_REMOVE  klen u16, key: the entry is gone
 *   GVP_MEMBER  family u8 (4 or 6), port u16, addr 16: a member's gossip
 *               address when the snapshot was taken (rejoin)
 *   GVP_END     entries u64: the last record of a complete snapshot
 * A log holds ENTRY and REMOVE records; a snapshot ENTRY, MEMBER and one
 * END, last.
 *
 * Damage (gvp_next): fewer bytes than a frame says, at the end of the
 * file, is a torn tail (GVP_TORN: a crash in mid-write; so is a tail of
 * zero bytes, what a power loss can leave); anything else that does not
 * check is GVP_BAD with the reason.
 */
#ifndef GV_SERVER_PERSIST_FMT_H
#define GV_SERVER_PERSIST_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "core/store.h"

#define GVP_MAGIC "GVPF"
#define GVP_VERSION 1
#define GVP_HDR_LEN 48
#define GVP_FRAME 12 /* len, lcheck, bcheck */
#define GVP_SEED 0x67767066u
#define GVP_ENTRY_FIXED 49 /* type + the entry's fixed fields */
#define GVP_MAX_BODY UINT32_MAX /* a value of up to 4 GiB less the rest */

enum { GVP_KIND_SNAP = 'S', GVP_KIND_LOG = 'L' };
enum { GVP_ENTRY = 1, GVP_REMOVE = 2, GVP_MEMBER = 3, GVP_END = 4 };
enum { GVP_OK = 0, GVP_EOF = 1, GVP_TORN = 2, GVP_BAD = -1 };

struct gvp_header {
	uint8_t kind;
	uint8_t version;
	uint16_t shard, shards;
	uint64_t gen;
	uint64_t node;
	uint64_t created_ms;
};

/* A decoded record; pointers into the buffer given to gvp_next. */
struct gvp_rec {
	uint8_t type;
	gv_record rec;   /* ENTRY (key, val, versions...); REMOVE: key */
	gv_addr addr;    /* MEMBER */
	uint64_t count;  /* END */
};

void gvp_header_encode(const struct gvp_header *h, uint8_t out[GVP_HDR_LEN]);
/* 0, or GVP_BAD with *why (bad magic, check, version, kind). */
int gvp_header_decode(const uint8_t *p, size_t n, struct gvp_header *h,
		      const char **why);

/* Bytes of a whole record (frame included). */
size_t gvp_entry_size(size_t klen, size_t vlen);
/*
 * Encoders: the whole record into out (room for its size), returning
 * the bytes written. gvp_entry_head writes an entry's record up to its
 * value (GVP_ENTRY_HEAD + klen bytes) and the 4 bytes that follow the
 * value into tail: a caller writes a big value from where it lies.
 */
#define GVP_ENTRY_HEAD (8 + GVP_ENTRY_FIXED)
size_t gvp_entry_encode(const gv_record *r, uint8_t *out);
size_t gvp_entry_head(const gv_record *r, uint8_t *out, uint8_t tail[4]);
size_t gvp_remove_encode(const void *key, size_t klen, uint8_t *out);
size_t gvp_member_encode(const gv_addr *a, uint8_t *out);
size_t gvp_end_encode(uint64_t count, uint8_t *out);

/*
 * gvp_next - decode the record at p[0..n): GVP_OK (*used bytes, *out),
 * GVP_EOF (n == 0), GVP_TORN (an incomplete or zeroed tail: *used is n),
 * GVP_BAD (*why says what).
 */
int gvp_next(const uint8_t *p, size_t n, size_t *used, struct gvp_rec *out,
	     const char **why);

/* Loading a file's records into a node (gv_node_load, node.h). */
enum { GVP_NOROOM = -2 };
struct gvp_load {
	bool snap;          /* a snapshot's records (else a log's) */
	gv_time now;        /* the node's clock */
	uint64_t now_ms;    /* the wall clock: expired entries counted */
	void (*on_member)(void *ud, const gv_addr *a); /* MEMBER records */
	void *ud;
	uint64_t entries, records, expired; /* out */
	size_t off;         /* out: the damaged or torn record's offset */
	const char *why;    /* out: what is wrong there */
};

/*
 * gvp_load_records - the records of p[0..n) (a file past its header, at
 * file offset base) into node: GVP_OK, GVP_TORN (all but an incomplete
 * tail loaded), GVP_BAD or GVP_NOROOM (the node refused an entry: its
 * memory cap or its largest value), with L->off and L->why. A snapshot must end with its END
 * record and hold no REMOVE; a log holds no MEMBER or END.
 */
int gvp_load_records(gv_node *node, const uint8_t *p, size_t n, size_t base,
		     struct gvp_load *L);

#endif /* GV_SERVER_PERSIST_FMT_H */
