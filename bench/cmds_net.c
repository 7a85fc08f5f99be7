/* SPDX-License-Identifier: MIT */
/*
 * cmds_net.c - what `gvbench partition` and `gvbench churn` share (see
 * cmds_net.h).
 */
#include "cmds_net.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/node.h"
#include "io/io.h"

void
net_node_config(gv_node_config *nc, int mode, uint64_t interval_ms,
                uint64_t probe_ms)
{
	nc->mode = mode;
	nc->interval_ms = interval_ms;
	if (probe_ms) {
		nc->probe_interval_ms = probe_ms;
		/* grapevined's rule (engine/server/shards.c) */
		nc->probe_timeout_ms = probe_ms / 2 ? probe_ms / 2 : 1;
	}
	nc->mem = gv_mem_default();
}

void
delays_of(struct delays *d, uint64_t *v, size_t n)
{
	size_t k = 0;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < n; i++)
		if (v[i] != GV_TIME_NEVER)
			v[k++] = v[i];
	d->n = k;
	if (!k)
		return;
	qsort(v, k, sizeof(*v), cmp_u64);
	d->p50 = (double)pct(v, k, 50) / 1000.0;
	d->p95 = (double)pct(v, k, 95) / 1000.0;
	d->p99 = (double)pct(v, k, 99) / 1000.0;
	d->max = (double)v[k - 1] / 1000.0;
}

void
delays_json(FILE *f, const char *name, const struct delays *d)
{
	fprintf(f, ",");
	json_str(f, name);
	fprintf(f, ":{\"p50\":");
	json_num(f, d->p50, d->n > 0);
	fprintf(f, ",\"p95\":");
	json_num(f, d->p95, d->n > 0);
	fprintf(f, ",\"p99\":");
	json_num(f, d->p99, d->n > 0);
	fprintf(f, ",\"max\":");
	json_num(f, d->max, d->n > 0);
	fprintf(f, "}");
}

void
delays_print(FILE *f, const struct delays *d)
{
	if (!d->n)
		fprintf(f, "-");
	else
		fprintf(f, "p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms", d->p50,
		        d->p95, d->p99, d->max);
}

void
json_ms(FILE *f, gv_time at, gv_time from)
{
	json_num(f, at >= from ? (double)(at - from) / 1000.0 : 0,
	         at != GV_TIME_NEVER);
}

