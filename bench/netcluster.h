/* SPDX-License-Identifier: MIT */
/*
 * netcluster.h - N gv_nodes on real loopback UDP sockets, and the
 * bookkeeping that measures them: the real-socket counterpart of
 * engine/sim/cluster.h, driven by `gvbench converge`.
 *
 * The nodes are single-shard, prejoined (every node knows every other at
 * start; or, for `join`, knowing nobody and joining through seeds) and
 * spread round-robin over W io workers (gv_shard, the daemon's
 * runtime: one thread and one gv_io loop each, one UDP socket per node on
 * 127.0.0.1). Every apply of a tracked write at every node is timestamped
 * on one clock, CLOCK_MONOTONIC (gv_io_now), shared by all threads.
 *
 * Threads. The driver is the thread that calls these functions; once
 * netcluster_new() returns, each gv_node is touched only by its worker.
 * The driver reaches the nodes through one SPSC command ring per worker
 * (puts, background puts, logged writes, reads of roots and values, kills
 * and restarts); workers publish through atomics (apply times, reach
 * counters, read sequence numbers, event times) and their counters
 * through the shard's snapshot, taken when the driver asks.
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
	/*
	 * Faults and state queries (`partition`, `churn`): with faults set
	 * the drop filter is installed on every worker from the start, so
	 * netcluster_partition() can cut the network at run time;
	 * netcluster_kill() / netcluster_restart() work either way.
	 */
	bool faults;
	size_t wlog;  /* logged writes: netcluster_write() slots */
	size_t wkeys; /* logged keyspace: "kw:<k>", k < wkeys */
	/* record, for every (target, observer) pair, when the observer
	 * first saw the target suspect and dead (n * n times each: for
	 * churn; nodes <= NETCLUSTER_WATCH_MAX) */
	bool watch_members;
	/* throughput writes (netcluster_tp_put), all counted: */
	size_t tp_updates; /* capacity: sequence numbers 0 .. tp_updates - 1
	                    * (0: none); needs value_size >= 8 */
	size_t tp_keys;    /* keyspace: "tp:<k>", k < tp_keys */
	uint64_t tp_ttl_ms; /* each write expires this long after it is
	                     * made (0: never): the cost of expiry */
	bool tp_counters;   /* each write is an INCRBY of its key's counter
	                     * (the cost of counters): the delta makes the
	                     * value the write's number plus one */
	size_t tp_writers; /* key k is written by node k % tp_writers only
	                    * (0: all nodes) */
	int value_kind;    /* enum zb_kind (zbench.h): what the values are
	                    * made of (ZB_RANDOM) */
	/*
	 * Cluster formation (`join`). 0: every node prejoined with every
	 * other (the default). K > 0: every node starts knowing nobody;
	 * nodes 0 .. K-1 are the seeds, and at t0 every node but node 0
	 * calls gv_node_join with the seeds' addresses (itself excluded),
	 * all at once: a join storm, as a fleet restart makes one. Each
	 * node's view (netcluster_view) is then counted from its member
	 * callbacks. At most NETCLUSTER_SEEDS_MAX and at most nodes.
	 */
	size_t join_seeds;
} netcluster_config;

#define NETCLUSTER_SEEDS_MAX 64

#define NETCLUSTER_WATCH_MAX 2048

/* Defaults: node defaults, auto backend, seed 1, 32-byte values. */
void netcluster_config_default(netcluster_config *cfg);

/*
 * netcluster_new - raise RLIMIT_NOFILE to fit the sockets, open every
 * socket (each node learns its port), create the nodes, prejoin every
 * node with every other, host them on the workers and start the worker
 * threads; the nodes start at netcluster_t0(). With cfg.join_seeds it
 * prejoins nobody: it waits until t0 and has every node but node 0 join
 * through the seeds (the commands run at once). The error is also
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

/*
 * netcluster_view - join_seeds > 0: the members node `node` sees alive
 * now (itself not counted: N - 1 is the full view), and *full (may be
 * NULL) the first time it saw all N - 1 (GV_TIME_NEVER: not yet). With
 * join_seeds 0 both read 0.
 */
size_t netcluster_view(const netcluster *c, size_t node, gv_time *full);

/*
 * netcluster_node_sent - node `node`'s datagrams and bytes sent, as of
 * the last netcluster_snapshot() (its own node only: a restart's
 * predecessor is not counted).
 */
void netcluster_node_sent(const netcluster *c, size_t node, uint64_t *dgrams,
                          uint64_t *bytes);

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
	/* failure detection and repair (gv_node_stats), for `partition`
	 * and `churn` to say where the time went */
	uint64_t probes, probe_fails, ping_reqs, suspicions, refutes;
	uint64_t ae_sessions_clean, ae_entries_sent;
	uint64_t partitions, heals; /* node partition / heal events */
	uint64_t ev_conflict;       /* conflicts seen by the callbacks */
	uint64_t io_filtered_in;    /* incoming datagrams the filter dropped */
	uint64_t down_puts;         /* writes sent to a killed node: skipped */
	/* compression (gv_node_stats) */
	uint64_t z_compressed, z_skipped, z_in_bytes, z_out_bytes;
	uint64_t z_decompressed, z_errors, z_compress_ns, z_decompress_ns;
	/* broadcast tree (gv_node_stats) */
	uint64_t tree_ihave_out, tree_grafts_out, tree_graft_drops;
	uint64_t tree_received, tree_hops;
} netcluster_stats;

/*
 * netcluster_snapshot - ask every worker for its counters and wait for the
 * answers (at most timeout_us).
 * Returns 0 and *out, -ETIMEDOUT (or a worker's loop failed).
 */
int netcluster_snapshot(netcluster *c, netcluster_stats *out,
                        uint64_t timeout_us);

/* out = b - a, counter by counter (b taken after a). */
void netcluster_stats_diff(netcluster_stats *out, const netcluster_stats *a,
                           const netcluster_stats *b);

/* ------------------------------------------------------------ faults */

/*
 * netcluster_partition - cut the network into groups: from now on the
 * drop filter discards every datagram between nodes of different groups,
 * both directions (outgoing at the sender, incoming at the receiver), and
 * every node's partition events from now on are recorded (see
 * netcluster_part_times). group_of[i] for every node. *at (may be NULL)
 * receives the time of the cut: the filters see the groups from then on.
 * Returns 0, GV_EINVAL (cfg.faults not set, or already cut: heal first).
 */
int netcluster_partition(netcluster *c, const unsigned *group_of, gv_time *at);

/* Let every datagram through again; returns the time of the heal. */
gv_time netcluster_heal(netcluster *c);

/*
 * netcluster_part_times - node i's first partition event at or after the
 * last cut (raised[i]) and first heal event at or after the last heal
 * (healed[i]); GV_TIME_NEVER when none. Either array may be NULL.
 */
void netcluster_part_times(const netcluster *c, gv_time *raised,
                           gv_time *healed);

/*
 * netcluster_kill - crash node `node` as a host crash looks from the
 * network: its worker detaches it (gv_io_detach: its timers stop, it
 * is never called again, datagrams arriving at its socket are dropped);
 * the socket stays open, silent, for a restart. Runs on the worker
 * (woken now); netcluster_down_at() tells when it happened.
 * Returns 0, GV_EINVAL (bad node), GV_EFULL (ring full: retry).
 */
int netcluster_kill(netcluster *c, size_t node);

/*
 * netcluster_restart - start a killed node again empty, as the daemon
 * restarts: a fresh gv_node with a new id, on the same socket (address),
 * joining through node `seed`'s address. Runs on the worker (woken now);
 * netcluster_up_at() tells when. Its ids for the member watch stay the
 * old one (the restarted node is a new member).
 * Returns 0, GV_EINVAL (bad node or seed, seed == node), GV_EFULL.
 */
int netcluster_restart(netcluster *c, size_t node, size_t seed);

/* When node's last kill / restart ran (0: not yet). */
gv_time netcluster_down_at(const netcluster *c, size_t node);
gv_time netcluster_up_at(const netcluster *c, size_t node);
/* The restart failed at the worker: its error, else 0. */
int netcluster_restart_error(const netcluster *c, size_t node);

/*
 * Member watch (cfg.watch_members): from netcluster_watch_from(c, t) on,
 * the first time at or after t at which `observer` saw `target` (by the
 * target's original id) suspect, and dead (GV_TIME_NEVER: not yet). A
 * node seen dead at once, without a suspect phase, has suspect == dead.
 */
void netcluster_watch_from(netcluster *c, gv_time t);
void netcluster_seen(const netcluster *c, size_t target, size_t observer,
                     gv_time *suspect, gv_time *dead);

/* ------------------------------------------------------------ logged writes */

/*
 * netcluster_write - logged write w (w < cfg.wlog) of key "kw:<key>"
 * (key < cfg.wkeys) at node `node`; its value names w (netcluster_read
 * reports it). The worker records the version the write got. Woken now.
 * Returns 0, GV_EINVAL, GV_EFULL.
 */
int netcluster_write(netcluster *c, size_t node, size_t w, size_t key);

/*
 * netcluster_write_result - logged write w's outcome once it ran: true
 * with *ver (the version it got) and *rc (the node's error, 0: done).
 */
bool netcluster_write_result(const netcluster *c, size_t w, gv_version *ver,
                             int *rc);

/* One key as a node holds it (netcluster_read). */
typedef struct netcluster_entry {
	bool present;   /* a live value (a tombstone reads as absent) */
	gv_version ver; /* when present */
	uint64_t wid;   /* logged keys: the write whose value it is
	                 * (UINT64_MAX: not a logged write's value) */
} netcluster_entry;

enum netcluster_space {
	NETCLUSTER_LOGGED = 0, /* "kw:<k>", k < cfg.wkeys */
	NETCLUSTER_BG,         /* "bg:<k>", k < cfg.bg_keys */
};

/*
 * netcluster_read - ask every worker for the Merkle root of each of its
 * live nodes (roots[i]; up[i] false for a killed node) and, if nkeys > 0,
 * node i's view of the first nkeys keys of `space` (vals[i * nkeys + k]),
 * and wait for the answers (at most timeout_us). up and vals may be NULL
 * (vals only with nkeys 0).
 * Returns 0, GV_EINVAL (nkeys beyond the space), GV_EFULL, -ETIMEDOUT.
 * After a failure a worker may still write the arrays: keep them until
 * netcluster_del() and read nothing more.
 */
int netcluster_read(netcluster *c, uint64_t *roots, bool *up, int space,
                    size_t nkeys, netcluster_entry *vals, uint64_t timeout_us);

/* Nodes that reported a conflict on logged key k so far. */
size_t netcluster_conflicts(const netcluster *c, size_t k);

#endif /* GV_BENCH_NETCLUSTER_H */
