/* SPDX-License-Identifier: MIT */
/*
 * counters.c - the counter table of counters.h made into its two halves:
 * the rows' names (gvd_counters, for the outputs to loop over) and the
 * reading of every row's value from one snapshot (gvd_counters_read).
 */
#include "server/counters.h"

#include "server/daemon_int.h"

const struct gvd_counter gvd_counters[GVD_NCOUNTERS] = {
#define ROW(id, stats, sec, info, type, prom, lname, lval, help, value)       \
	[GVD_C_##id] = {stats, GVD_SEC_##sec, info, GV_METRIC_##type, prom,   \
			lname, lval, help},
	GVD_COUNTERS(ROW)
#undef ROW
};

void
gvd_counters_read(gv_daemon *d, uint64_t *v, struct pub *sum)
{
	struct pub t;
	struct drops x;
	gvd_sum_stats(d, &t, NULL);
	gvd_sum_drops(d, &x);
#define ROW(id, stats, sec, info, type, prom, lname, lval, help, value)       \
	v[GVD_C_##id] = (uint64_t)(value);
	GVD_COUNTERS(ROW)
#undef ROW
	if (sum)
		*sum = t;
}

double
gvd_compression_ratio(const uint64_t *v)
{
	uint64_t in = v[GVD_C_COMPRESS_IN_BYTES];
	uint64_t out = v[GVD_C_COMPRESS_OUT_BYTES];
	return out ? (double)in / (double)out : 1.0;
}
