/* SPDX-License-Identifier: MIT */
/*
 * netcluster.h - N gv_nodes on real loopback UDP sockets, and the
 * bookkeeping that measures them: the real-socket counterpart of
 * engine/sim/cluster.h, driven by `gvbench converge`.
 *
 * The nodes are single-shard, prejoined (every node knows every other at
 * start) and spread round-robin over W io workers (engine/io: one thread
 * and one io_uring each, one UDP socket per node on 127.0.0.1). Every
 * apply of a tracked write at every node is timestamped on one clock,
 * CLOCK_MONOTONIC (gv_io_now), shared by all threads.
 *
 * Threads. The driver is the thread that calls these functions; once
 * netcluster_new() returns, each gv_node is touched only by its worker.
 * The driver reaches the nodes through one SPSC command ring per worker
 * (puts, background puts, stats snapshots); workers publish through
 * atomics (apply times, reach counters, snapshot sequence numbers).
 */
#ifndef GV_BENCH_NETCLUSTER_H
#define GV_BENCH_NETCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"

typedef struct netcluster netcluster;

typedef struct netcluster_config {
	size_t nodes;        /* >= 2 */
	unsigned workers;    /* io worker threads; 0: online cores (at most
	                      * nodes) */
	uint64_t seed;       /* node ids, node seeds, loss draws */
	gv_node_config node; /* template; id, addr, seed, name, callbacks
	                      * and wall_offset_ms are set per node */
	int backend;         /* enum gv_io_backend (GV_IO_AUTO) */
	double loss;         /* outgoing datagrams dropped, in [0, 1) */
	size_t tracks;       /* tracked writes: keys "cv:<t>", t < tracks */
	size_t value_size;   /* bytes per value (tracked and background) */
	size_t bg_keys;      /* background keyspace: "bg:<k>", k < bg_keys */
} netcluster_config;

/* Defaults: node defaults, auto backend, seed 1, 32-byte values. */
void netcluster_config_default(netcluster_config *cfg);

/*
 * netcluster_new - raise RLIMIT_NOFILE to fit the sockets, open every
 * socket (each node learns its port), create the nodes, prejoin every
 * node with every other, host them on the workers and start the worker
 * threads; the nodes start at netcluster_t0(). The error is also
 * described in err (errlen bytes).
 * Returns 0 and *out; GV_EINVAL; GV_ENOMEM; -EMFILE (the file limit
 * cannot be raised enough); -errno or a GV_E* code from the io layer or
 * the nodes.
 */
int netcluster_new(netcluster **out, const netcluster_config *cfg, char *err,
                   size_t errlen);

/* Stop the workers (each finishes its iteration), join them, free
 * everything. */
void netcluster_del(netcluster *c);

/*
 * The time (gv_io_now) the nodes were created at, shortly after
 * netcluster_new() returns (see netcluster.c): put nothing before it.
 */
gv_time netcluster_t0(const netcluster *c);

size_t netcluster_size(const netcluster *c);
unsigned netcluster_workers(const netcluster *c);
/* "io_uring" or "recvmmsg" */
const char *netcluster_backend(const netcluster *c);

/*
 * netcluster_put - have node `node` write tracked key t ("cv:<t>") as soon
 * as its worker wakes (woken now). The worker takes the injection time
 * when it calls gv_node_put. Each track is written once.
 * Returns 0, GV_EINVAL (bad node or track), GV_EFULL (the worker's ring is
 * full: retry).
 */
int netcluster_put(netcluster *c, size_t node, size_t t);

/*
 * netcluster_put_bg - have node `node` write background key k % bg_keys,
 * untracked. The worker is woken by the next netcluster_flush().
 * Returns 0, GV_EINVAL, GV_EFULL.
 */
int netcluster_put_bg(netcluster *c, size_t node, uint64_t k);

/* Wake the workers that were given background puts since the last
 * flush. */
void netcluster_flush(netcluster *c);

/* Nodes that applied track t so far (the writer included). */
size_t netcluster_reached(const netcluster *c, size_t t);

/* The put of track t failed at its node: the node's error, else 0. */
int netcluster_put_error(const netcluster *c, size_t t);

/*
 * netcluster_track - track t's injection time and each node's first apply
 * time (applied[i] for node i, n entries; GV_TIME_NEVER: not applied yet),
 * as seen now. Returns false (nothing written) if the put has not run yet.
 */
bool netcluster_track(const netcluster *c, size_t t, gv_time *injected,
                      gv_time *applied);

/* Counters summed over nodes and workers since the start. */
typedef struct netcluster_stats {
	/* node stats (gv_node_stats) */
	uint64_t dgrams_out, bytes_out, dgrams_in;
	uint64_t updates_out; /* update records sent */
	uint64_t updates_refused, outbox_drops, hlc_rejected;
	uint64_t ae_sessions, ae_msgs_out;
	uint64_t members_suspect, members_dead; /* views, now */
	/* member events seen by the callbacks */
	uint64_t ev_suspect, ev_dead;
	/* workers */
	uint64_t bg_puts;    /* background puts done */
	uint64_t put_errors; /* puts refused by a node */
	/* io (gv_io_stats) */
	uint64_t io_dgrams_out, io_send_errors, io_kernel_drops;
	uint64_t io_filtered_out, io_buf_exhausted, io_pool_exhausted;
	uint64_t io_truncated, io_recv_errors;
} netcluster_stats;

/*
 * netcluster_snapshot - ask every worker for its counters and wait for the
 * answers (at most timeout_us).
 * Returns 0 and *out, GV_EFULL (a ring stayed full), -ETIMEDOUT.
 */
int netcluster_snapshot(netcluster *c, netcluster_stats *out,
                        uint64_t timeout_us);

/* out = b - a, counter by counter (b taken after a). */
void netcluster_stats_diff(netcluster_stats *out, const netcluster_stats *a,
                           const netcluster_stats *b);

#endif /* GV_BENCH_NETCLUSTER_H */
