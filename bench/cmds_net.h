/* SPDX-License-Identifier: MIT */
/*
 * cmds_net.h - gvbench's fault benchmarks on real sockets (`partition`,
 * `churn`: bench/cmd_partition.c, bench/cmd_churn.c, both driving
 * bench/netcluster.h), and the few pieces they share: the node settings
 * both use, percentiles of event times, and the JSON fields every run
 * carries.
 */
#ifndef GV_BENCH_CMDS_NET_H
#define GV_BENCH_CMDS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_util.h"
#include "netcluster.h"

/* The subcommands (argc and argv after the subcommand's name). */
int cmd_partition(int argc, char **argv);
int cmd_churn(int argc, char **argv);

/*
 * net_node_config - the failure-detection settings of both benchmarks:
 * probes every probe_ms with a probe timeout of half of it (as the daemon
 * derives it), or the library's defaults with probe_ms 0 (the node config
 * already holds them), gossip rounds every interval_ms in `mode`,
 * anti-entropy on
 * at the node default (it repairs what a partition or a crash missed).
 */
void net_node_config(gv_node_config *nc, int mode, uint64_t interval_ms,
                     uint64_t probe_ms);

/* Percentiles of event delays (nearest rank, ms) over the n that
 * happened; n == 0: none (printed as null). */
struct delays {
	size_t n;
	double p50, p95, p99, max;
};

/* Fill d from v (µs, GV_TIME_NEVER: did not happen), n entries;
 * reorders v. */
void delays_of(struct delays *d, uint64_t *v, size_t n);

/* `,"name":{"p50":..,"p95":..,"p99":..,"max":..}` (nulls when none). */
void delays_json(FILE *f, const char *name, const struct delays *d);

/* "p50 .. p95 .. p99 .. max .. ms" or "-" on a table line. */
void delays_print(FILE *f, const struct delays *d);

/* µs since `from` in ms, for JSON and tables; at == GV_TIME_NEVER: the
 * event did not happen (json null). */
void json_ms(FILE *f, gv_time at, gv_time from);

#endif /* GV_BENCH_CMDS_NET_H */
