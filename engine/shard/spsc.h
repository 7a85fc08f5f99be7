/* SPDX-License-Identifier: MIT */
/*
 * spsc.h - a bounded, lock-free, single-producer single-consumer ring.
 *
 * Shards (one thread each) and the RESP front-end thread talk over these:
 * one ring per direction per pair, so each ring has exactly one thread that
 * pushes and one that pops. Slots are fixed-size and copied in and out
 * (elem_size bytes, set at init), so a message costs no allocation and the
 * ring owns no pointers.
 *
 * Design (after concurrencykit's ck_ring and Lamport's queue): head and
 * tail are free-running counters, reduced modulo capacity (a power of two)
 * only to index a slot, so all capacity slots are usable and tail - head is
 * the fill level. The consumer owns head, the producer owns tail; each
 * keeps a private copy of the other's counter and reloads it only when the
 * copy says the ring is full (producer) or empty (consumer), so in the
 * common case neither side touches the other's cache line. Each side's
 * counters sit on their own cache line, separated by padding rather than
 * _Alignas so that a gv_spsc embedded in memory from a malloc-aligned
 * allocator is still correctly aligned for its type.
 *
 * Memory ordering: one release/acquire pair per direction.
 *  - The producer writes the slot, then stores tail with release; the
 *    consumer loads tail with acquire before reading the slot. This keeps
 *    the consumer from reading a slot before its bytes are written (RAW).
 *  - The consumer copies the slot out, then stores head with release; the
 *    producer loads head with acquire before overwriting the slot. This
 *    keeps the producer from overwriting a slot the consumer is still
 *    reading (WAR).
 * Each side reads its own counter relaxed: only it ever writes it.
 *
 * Counters are size_t: at a billion operations a second a 64-bit counter
 * wraps after five centuries; the arithmetic is modular anyway.
 */
#ifndef GV_SHARD_SPSC_H
#define GV_SHARD_SPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <grapevine/grapevine.h>

/* Bytes of padding between the consumer's and the producer's fields. */
#define GV_SPSC_LINE 64

typedef struct gv_spsc {
	char pad0[GV_SPSC_LINE];
	/* Consumer's line: written by the consumer only. */
	_Atomic size_t head; /* next slot to pop */
	size_t tail_cache;   /* consumer's last view of tail */
	char pad1[GV_SPSC_LINE];
	/* Producer's line: written by the producer only. */
	_Atomic size_t tail; /* next slot to push */
	size_t head_cache;   /* producer's last view of head */
	char pad2[GV_SPSC_LINE];
	/* Read-only after gv_spsc_init(); read by both sides. */
	unsigned char *slots; /* capacity * elem_size bytes, 64-aligned */
	size_t mask;          /* capacity - 1 */
	size_t elem_size;
	void *raw; /* the allocation slots points into */
	size_t raw_size;
	const gv_mem *mem;
	char pad3[GV_SPSC_LINE];
} gv_spsc;

/*
 * gv_spsc_init - set up an empty ring in caller-provided storage.
 * @r: the ring; any alignment (padding, not _Alignas, separates its lines).
 * @mem: allocator for the slot array (one allocation, freed by fini).
 * @capacity: number of slots, a power of two >= 1.
 * @elem_size: bytes per slot, >= 1. Slots are packed; a slot of 64 bytes
 *   starts on a 64-byte boundary.
 * Returns 0, GV_EINVAL (capacity zero or not a power of two, elem_size
 * zero, capacity * elem_size overflows) or GV_ENOMEM. On failure r is left
 * untouched and needs no fini.
 */
int gv_spsc_init(gv_spsc *r, const gv_mem *mem, size_t capacity,
                 size_t elem_size);

/* Free the slots. Neither side may be using the ring. */
void gv_spsc_fini(gv_spsc *r);

static inline size_t
gv_spsc_capacity(const gv_spsc *r)
{
	return r->mask + 1;
}

static inline void *
gv__spsc_slot(const gv_spsc *r, size_t i)
{
	return r->slots + (i & r->mask) * r->elem_size;
}

/*
 * Copy n elements between the ring starting at counter position pos and a
 * flat array, in at most two pieces (the ring may wrap).
 */
static inline void
gv__spsc_copy_in(gv_spsc *r, size_t pos, const void *src, size_t n)
{
	size_t idx = pos & r->mask;
	size_t first = r->mask + 1 - idx;
	if (first > n)
		first = n;
	memcpy(r->slots + idx * r->elem_size, src, first * r->elem_size);
	if (n > first)
		memcpy(r->slots,
		       (const unsigned char *)src + first * r->elem_size,
		       (n - first) * r->elem_size);
}

static inline void
gv__spsc_copy_out(const gv_spsc *r, size_t pos, void *dst, size_t n)
{
	size_t idx = pos & r->mask;
	size_t first = r->mask + 1 - idx;
	if (first > n)
		first = n;
	memcpy(dst, r->slots + idx * r->elem_size, first * r->elem_size);
	if (n > first)
		memcpy((unsigned char *)dst + first * r->elem_size, r->slots,
		       (n - first) * r->elem_size);
}

/*
 * Free slots as the producer sees them, reloading head only if the cached
 * copy shows fewer than want free. The reload is the acquire half of the
 * WAR pair: it pairs with the consumer's release store of head, so the
 * consumer's copy-out of a slot happens before we overwrite that slot.
 */
static inline size_t
gv__spsc_free(gv_spsc *r, size_t tail, size_t want)
{
	size_t cap = r->mask + 1;
	size_t avail = cap - (tail - r->head_cache);
	if (avail < want) {
		r->head_cache =
		        atomic_load_explicit(&r->head, memory_order_acquire);
		avail = cap - (tail - r->head_cache);
	}
	return avail;
}

/*
 * Filled slots as the consumer sees them, reloading tail only if the cached
 * copy shows fewer than want. The reload is the acquire half of the RAW
 * pair: it pairs with the producer's release store of tail, so the
 * producer's copy-in of a slot happens before we read that slot.
 */
static inline size_t
gv__spsc_filled(gv_spsc *r, size_t head, size_t want)
{
	size_t avail = r->tail_cache - head;
	if (avail < want) {
		r->tail_cache =
		        atomic_load_explicit(&r->tail, memory_order_acquire);
		avail = r->tail_cache - head;
	}
	return avail;
}

/*
 * gv_spsc_push - copy one element (elem_size bytes at elem) into the ring.
 * Producer thread only. Never blocks.
 * Returns 0, or GV_EFULL if the ring is full (nothing is copied).
 */
static inline int
gv_spsc_push(gv_spsc *r, const void *elem)
{
	/* Relaxed: only this thread writes tail. */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (gv__spsc_free(r, tail, 1) == 0)
		return GV_EFULL;
	memcpy(gv__spsc_slot(r, tail), elem, r->elem_size);
	/*
	 * Release: publishes the slot's bytes before the new tail, so a
	 * consumer that sees tail + 1 never reads a half-written slot.
	 */
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 0;
}

/*
 * gv_spsc_push_n - copy up to n elements (a packed array at elems) into the
 * ring, as many as fit, in order. Producer thread only. Never blocks.
 * Returns the number pushed (0 if full); they become visible to the
 * consumer together, with one release store.
 */
static inline size_t
gv_spsc_push_n(gv_spsc *r, const void *elems, size_t n)
{
	/* Relaxed: only this thread writes tail. */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t avail = gv__spsc_free(r, tail, n);
	if (n > avail)
		n = avail;
	if (n == 0)
		return 0;
	gv__spsc_copy_in(r, tail, elems, n);
	/* Release: as in gv_spsc_push, for all n slots at once. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

/*
 * gv_spsc_pop - copy the oldest element out to out (elem_size bytes) and
 * free its slot. Consumer thread only. Never blocks.
 * Returns 1 if an element was popped, 0 if the ring was empty (out is not
 * written).
 */
static inline int
gv_spsc_pop(gv_spsc *r, void *out)
{
	/* Relaxed: only this thread writes head. */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (gv__spsc_filled(r, head, 1) == 0)
		return 0;
	memcpy(out, gv__spsc_slot(r, head), r->elem_size);
	/*
	 * Release: orders our read of the slot before the new head, so a
	 * producer that sees head + 1 never overwrites a slot we are still
	 * copying out.
	 */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return 1;
}

/*
 * gv_spsc_pop_n - copy up to n of the oldest elements out to the packed
 * array out, in order. Consumer thread only. Never blocks.
 * Returns the number popped (0 if empty).
 */
static inline size_t
gv_spsc_pop_n(gv_spsc *r, void *out, size_t n)
{
	/* Relaxed: only this thread writes head. */
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t avail = gv__spsc_filled(r, head, n);
	if (n > avail)
		n = avail;
	if (n == 0)
		return 0;
	gv__spsc_copy_out(r, head, out, n);
	/* Release: as in gv_spsc_pop, for all n slots at once. */
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/*
 * gv_spsc_size - number of elements in the ring, approximately: exact when
 * called by either side while the other is idle, otherwise a value the
 * fill level had at some moment during the call or just after. Any thread.
 */
static inline size_t
gv_spsc_size(const gv_spsc *r)
{
	/*
	 * Acquire on head prevents a torn view in which tail looks older
	 * than head (tail - head would wrap to a huge value): the consumer
	 * stored this head after it saw a tail at least as large, so that
	 * tail store happens before our tail load below. Tail can only be
	 * newer; the clamp covers both sides moving between the two loads.
	 * Relaxed on tail: the result orders no other memory access.
	 */
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t n = tail - head;
	return n > r->mask + 1 ? r->mask + 1 : n;
}

#endif /* GV_SHARD_SPSC_H */
