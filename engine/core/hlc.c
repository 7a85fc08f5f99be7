/* SPDX-License-Identifier: MIT */
/*
 * hlc.c - hybrid logical clock. With the 48+16-bit layout, "take the max of
 * the physical and logical parts, bump the counter on a tie" collapses into
 * integer arithmetic: a timestamp is pt = wall << 16 when the wall clock is
 * ahead, else last + 1 (a counter overflow carries into the milliseconds,
 * which keeps the order total and costs at most a millisecond of skew).
 */
#include "hlc.h"

void
gv_hlc_init(gv_hlc *c, uint64_t max_drift_ms)
{
	c->last = 0;
	c->max_drift_ms = max_drift_ms ? max_drift_ms
				       : GV_HLC_DEFAULT_MAX_DRIFT_MS;
	c->rejected = 0;
}

static uint64_t
physical(uint64_t wall_ms)
{
	if (wall_ms > GV_HLC_MS_MAX)
		wall_ms = GV_HLC_MS_MAX;
	return gv_hlc_make(wall_ms, 0);
}

uint64_t
gv_hlc_now(gv_hlc *c, uint64_t wall_ms)
{
	uint64_t pt = physical(wall_ms);
	c->last = pt > c->last ? pt : c->last + 1;
	return c->last;
}

bool
gv_hlc_acceptable(const gv_hlc *c, uint64_t remote, uint64_t wall_ms)
{
	uint64_t limit = wall_ms + c->max_drift_ms;
	return gv_hlc_ms(remote) <= limit;
}

int
gv_hlc_observe(gv_hlc *c, uint64_t remote, uint64_t wall_ms)
{
	if (!gv_hlc_acceptable(c, remote, wall_ms)) {
		c->rejected++;
		return GV_EFUTURE;
	}
	uint64_t pt = physical(wall_ms);
	uint64_t m = remote > c->last ? remote : c->last;
	c->last = pt > m ? pt : m + 1;
	return 0;
}
