/* SPDX-License-Identifier: MIT */
/*
 * hlc.h - hybrid logical clock (Kulkarni et al., compressed to 64 bits:
 * 48-bit wall milliseconds, 16-bit logical counter; see gv_hlc_make).
 *
 * Timestamps a node issues are strictly increasing, even when the wall
 * clock steps back, and greater than every remote timestamp the node has
 * observed, so a write always outranks what it replaced. A remote timestamp
 * more than max_drift_ms ahead of the local wall clock is rejected and
 * counted: adopting it would drag every later local write into the future.
 *
 * Sans-IO: the caller passes the wall clock in.
 */
#ifndef GV_CORE_HLC_H
#define GV_CORE_HLC_H

#include <stdint.h>

#include <grapevine/grapevine.h>

#define GV_HLC_DEFAULT_MAX_DRIFT_MS 60000

typedef struct gv_hlc {
	uint64_t last;         /* last timestamp issued or observed */
	uint64_t max_drift_ms; /* remote timestamps beyond wall + this: reject */
	uint64_t rejected;     /* remote timestamps rejected (too far ahead) */
} gv_hlc;

/* Initialise; max_drift_ms 0 selects GV_HLC_DEFAULT_MAX_DRIFT_MS. */
void gv_hlc_init(gv_hlc *c, uint64_t max_drift_ms);

/*
 * gv_hlc_now - a new timestamp for a local event at wall time wall_ms.
 * Strictly greater than every timestamp returned or observed before.
 * wall_ms is clamped to 48 bits.
 */
uint64_t gv_hlc_now(gv_hlc *c, uint64_t wall_ms);

/*
 * gv_hlc_observe - merge a remote timestamp seen at local wall time wall_ms.
 * Returns 0 (the clock now exceeds remote), or GV_EFUTURE when remote is
 * more than max_drift_ms ahead of wall_ms: the clock is unchanged and
 * c->rejected is incremented.
 */
int gv_hlc_observe(gv_hlc *c, uint64_t remote, uint64_t wall_ms);

/* Whether remote would be accepted by gv_hlc_observe (no state change). */
bool gv_hlc_acceptable(const gv_hlc *c, uint64_t remote, uint64_t wall_ms);

#endif /* GV_CORE_HLC_H */
