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
	/* throughput writes (netcluster_tp_put), all counted: */
	size_t tp_updates; /* capacity: sequence numbers 0 .. tp_updates - 1
	                    * (0: none); needs value_size >= 8 */
	size_t tp_keys;    /* keyspace: "tp:<k>", k < tp_keys */
	size_t tp_writers; /* key k is written by node k % tp_writers only
	                    * (0: all nodes) */
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

/*
 * Throughput writes. Every one is counted at every node, without
 * allocating: write s (a sequence number given in order by
 * netcluster_tp_put) carries s in the first 8 bytes of its value, and
 * each node keeps one bit per write saying whether it holds that write
 * or a newer one of the same key. The convergence rule:
 *
 *   write s has reached node i when node i applied s, or any later write
 *   of the same key (which overtook s: under last-write-wins s may then
 *   never be applied there); it has converged when it reached all N.
 *
 * "Later" is exact because each key has one writer (key k is written by
 * node k % tp_writers only): a node's hybrid clock grows with every local
 * write and its worker runs its puts in queue order, so the writes of one
 * key are ordered the same way by sequence number and by version. When a
 * node applies s it marks s and walks back the key's earlier writes (a
 * chain of sequence numbers) until one it already holds, so each (write,
 * node) pair costs O(1) amortized. The worker whose mark completes the
 * count stamps the convergence time. Memory: 40 bytes per write plus N
 * bits per write, and 4 bytes per key on the driver.
 */

/*
 * netcluster_tp_put - queue the next throughput write, of key `key`
 * (< tp_keys), at node key % tp_writers; the worker runs it after the
 * next netcluster_flush() wakes it. `offered` is stored with it (the
 * driver's time; netcluster_tp_get returns it). *seq is its sequence
 * number (0, 1, 2, ...).
 * Returns 0 and *seq; GV_EINVAL (no tracking, key out of range);
 * GV_ENOSPC (tp_updates writes queued already); GV_EFULL (the worker's
 * ring is full; nothing was queued, no sequence number used).
 */
int netcluster_tp_put(netcluster *c, uint64_t key, gv_time offered,
                      uint64_t *seq);

/* Throughput writes queued so far (the next sequence number). */
uint64_t netcluster_tp_count(const netcluster *c);

/* One throughput write as seen now. */
typedef struct netcluster_tp_info {
	gv_time offered;  /* as given to netcluster_tp_put */
	gv_time injected; /* its node ran the put; 0: not yet */
	gv_time done;     /* reached every node (see the rule above); 0:
	                   * not yet */
	size_t reached;   /* nodes it reached so far */
	int error;        /* the node refused the put: its error, else 0 */
} netcluster_tp_info;

/* Write seq (< netcluster_tp_count()) as seen now. Returns 0, GV_EINVAL. */
int netcluster_tp_get(const netcluster *c, uint64_t seq,
                      netcluster_tp_info *out);

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
	uint64_t bg_puts;      /* background puts done */
	uint64_t put_errors;   /* puts refused by a node */
	uint64_t tp_overtaken; /* throughput writes that reached a node
	                        * through a newer write of their key */
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
