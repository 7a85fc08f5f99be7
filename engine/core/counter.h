/* SPDX-License-Identifier: MIT */
/*
 * counter.h - the counter CRDT behind INCR, DECR, INCRBY, DECRBY and
 * INCRBYFLOAT: concurrent increments at different nodes all count.
 *
 * State. A counter starts from a write of its key (the epoch: the version
 * of the string, delete or nothing it was first incremented on) and that
 * write's value (the base: an integer or a float). Each node that changes
 * it owns one slot: its own increments summed (isum for integer ones,
 * fsum for INCRBYFLOAT's), with a sequence number that grows with each of
 * its changes. The value is base + sum of all slots. Two states of the
 * same epoch merge by taking, per origin, the slot with the higher
 * sequence (a join: commutative, associative, idempotent), so every
 * increment made anywhere is counted once, whatever the order, loss or
 * duplication of the messages. The expiry is a last-write-wins register
 * inside the state (deadline and the version of the change that set it;
 * an EXPIRE or PERSIST also bumps the changing node's sequence).
 *
 * Versions. The store and the anti-entropy protocol identify an entry's
 * state by its version and assume that of two different states of a key
 * the one with the higher version has seen the other or won over it. A
 * counter's version is therefore computed from its state (gv_counter_ver):
 * hlc = the latest change in it, origin = the sum of the slots' sequences
 * (high 32 bits) and a hash of the state (low 32). Equal states have equal
 * versions; a join that adds anything raises the sum, so the joined state
 * outranks both inputs; and against a plain write (SET, DEL) the counter
 * competes by its latest change, as one write against another: the later
 * one wins (last-write-wins on the key's version).
 *
 * Other epochs. A SET, DEL or expiry of the key ends the epoch: the next
 * INCR starts a new counter from that write. States of different epochs
 * do not join; the higher version wins, as for any two writes (so
 * increments that had not seen a concurrent SET and are older than it are
 * lost to it, and reported as a conflict like any lost write).
 *
 * Encoding (little-endian; the entry's value bytes, kind GV_KIND_COUNTER):
 *   fmt u8 (1), flags u8 (bit 0: the base is a float),
 *   epoch hlc u64, epoch origin u64,
 *   base: i64, or a float as mantissa i64 + exponent i32,
 *   hlc u64 (the latest change: joins by maximum),
 *   expire u64, expire version hlc u64, origin u64,
 *   nslots u8, then per slot (sorted by origin, at most
 *   GV_COUNTER_MAX_SLOTS): origin u64, seq u32, sflags u8 (bit 0: fsum
 *   follows), isum i64, [fsum: mantissa i64, exponent i32].
 * Floats travel as frexpl's mantissa magnitude scaled to 64 bits (all of
 * an x86-64 long double's) and exponent * 2 + sign. A node whose long
 * double is narrower (aarch64's is wider) would round.
 */
#ifndef GV_CORE_COUNTER_H
#define GV_CORE_COUNTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

/* Most writers one counter epoch can have: the state must fit one UPDATE
 * in a default 1,400-byte datagram. */
#define GV_COUNTER_MAX_SLOTS 48
#define GV_COUNTER_MAX_ENC (72 + GV_COUNTER_MAX_SLOTS * 33)
/* Longest value string gv_counter_format writes (Redis's own bound for a
 * long double printed with %.17Lf), NUL included. */
#define GV_COUNTER_STR_MAX 5120

typedef struct gv_counter_slot {
	gv_node_id origin;
	uint32_t seq;     /* grows with each of origin's changes */
	int64_t isum;     /* origin's integer increments, summed */
	long double fsum; /* its INCRBYFLOAT increments, summed */
} gv_counter_slot;

typedef struct gv_counter {
	gv_version epoch; /* the write it started from; zero: none */
	bool base_float;
	int64_t base_i;
	long double base_f;
	uint64_t hlc;       /* the latest change's time (HLC) */
	uint64_t expire;    /* deadline, cluster ms; 0: none */
	gv_version exp_ver; /* the change that set expire */
	unsigned nslots;
	gv_counter_slot slots[GV_COUNTER_MAX_SLOTS]; /* sorted by origin */
} gv_counter;

/* Bytes gv_counter_encode writes for c. */
size_t gv_counter_size(const gv_counter *c);

/* Encode c at p (cap bytes). Returns the length, or GV_ENOBUFS. */
ssize_t gv_counter_encode(const gv_counter *c, uint8_t *p, size_t cap);

/* Decode a state. Returns 0, or GV_EMALFORMED (bad format, slots out of
 * order, too many slots, bytes left over). */
int gv_counter_decode(const uint8_t *p, size_t n, gv_counter *c);

/* The version of a state (see above). */
gv_version gv_counter_ver(const gv_counter *c);

/* a := join(a, b), both of the same epoch. Returns 0, or GV_EFULL when the
 * join would need more than GV_COUNTER_MAX_SLOTS slots (a unchanged). */
int gv_counter_join(gv_counter *a, const gv_counter *b);

/*
 * The value. gv_counter_int: 0 with *out set when the value is an integer
 * that fits 64 bits (a float path whose value prints as an integer
 * counts: Redis would read that string as one), GV_EINVAL when it is not
 * an integer, GV_ERANGE when the integer sum overflows.
 * gv_counter_float: the value as a long double.
 * gv_counter_format: the value as Redis prints it (integers in decimal;
 * floats as INCRBYFLOAT's replies: %.17Lf without trailing zeros); cap at
 * least GV_COUNTER_STR_MAX. Returns the length.
 */
int gv_counter_int(const gv_counter *c, int64_t *out);
long double gv_counter_float(const gv_counter *c);
size_t gv_counter_format(const gv_counter *c, char *buf, size_t cap);

/* Whether the value takes the float path (a float base or float sums). */
bool gv_counter_is_float(const gv_counter *c);

/*
 * gv_counter_add - node self's change: add di (integer) or df (float, when
 * is_float) to its slot, at time hlc. Returns 0; GV_EFULL when self has no
 * slot and all are taken.
 */
int gv_counter_add(gv_counter *c, gv_node_id self, uint64_t hlc, int64_t di,
		   long double df, bool is_float);

/* A change of the expiry by self at version ver (bumps self's slot so the
 * state's version grows). Returns 0 or GV_EFULL. */
int gv_counter_set_expire(gv_counter *c, gv_node_id self, const gv_version *ver,
			  uint64_t expire);

/*
 * Redis's number syntax. gv_parse_i64: a decimal integer with no spaces,
 * no leading '+' or zeros, that fits 64 bits (Redis's string2ll).
 * gv_parse_ld: a float as strtold reads it, all bytes used, not NaN
 * (Redis's string2ld; "inf" is accepted as Redis does). Both return true
 * on success.
 */
bool gv_parse_i64(const void *p, size_t n, int64_t *out);
bool gv_parse_ld(const void *p, size_t n, long double *out);

/* A long double as Redis prints INCRBYFLOAT's result; returns the length.
 * cap at least GV_COUNTER_STR_MAX. */
size_t gv_format_ld(long double v, char *buf, size_t cap);

#endif /* GV_CORE_COUNTER_H */
