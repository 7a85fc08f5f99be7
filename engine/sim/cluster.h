/* SPDX-License-Identifier: MIT */
/*
 * cluster.h - a cluster of gv_nodes on the simulated network, and the
 * bookkeeping that measures them: when each tracked write reached each
 * node, member and partition events, payload messages. It is what the
 * simulation tests (tests/sim) and `gvbench sim` drive.
 *
 * Deterministic: node ids, node seeds and the network all derive from the
 * cluster seed, and nothing reads a real clock.
 */
#ifndef GV_SIM_CLUSTER_H
#define GV_SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "sim/sim.h"

enum gv_cluster_membership {
	GV_CLUSTER_PREJOINED = 0, /* every node knows every other at start */
	GV_CLUSTER_JOIN,          /* nodes join through node 0 (a seed) */
	GV_CLUSTER_STATIC,        /* shared static peer list, no SWIM */
};

typedef struct gv_cluster_config {
	size_t nodes;
	uint64_t seed;
	gv_node_config node; /* template; id, addr, seed, region per node */
	gv_sim_config net;   /* nendpoints and seed are set from the above */
	unsigned regions;    /* >1: node i is in region i % regions */
	gv_time region_lat_min_us; /* cross-region latency */
	gv_time region_lat_max_us;
	int membership;      /* enum gv_cluster_membership */
	size_t max_tracks;   /* tracked writes (default 4096) */
	/* optional: node i's keyring (else node.keyring, shared) */
	gv_keyring **keyrings;
	/* optional: also called for every datagram delivered */
	gv_sim_deliver_fn observer;
	void *observer_ud;
	/* the stream channel (sim.h's model): nodes fetch large values
	 * over it; 0 bytes/s and 0 queue take the model's defaults */
	bool stream;
	uint64_t stream_bps;
	size_t stream_queue;
} gv_cluster_config;

/* Defaults: node defaults, simulator defaults, prejoined, no regions. */
void gv_cluster_config_default(gv_cluster_config *cfg);

/* One tracked write and when it reached the nodes. */
typedef struct gv_track {
	size_t origin;      /* node index that wrote it */
	gv_version ver;
	gv_time injected;
	size_t reached;     /* nodes holding it (or a newer version) */
	gv_time t50, t90, t100; /* reach times; GV_TIME_NEVER until then */
	gv_time last;       /* last apply seen */
	uint8_t *seen;      /* bitset per node */
	uint8_t key[64];
	size_t klen;
} gv_track;

typedef struct gv_cluster gv_cluster;

/* Returns 0, GV_EINVAL, GV_ENOMEM, or a node/simulator error. */
int gv_cluster_new(gv_cluster **out, const gv_cluster_config *cfg);
void gv_cluster_del(gv_cluster *c);

gv_sim *gv_cluster_sim(gv_cluster *c);
size_t gv_cluster_size(const gv_cluster *c);
gv_node *gv_cluster_node(gv_cluster *c, size_t i);
gv_time gv_cluster_now(const gv_cluster *c);
bool gv_cluster_up(const gv_cluster *c, size_t i);
size_t gv_cluster_live(const gv_cluster *c);

/*
 * gv_cluster_put / gv_cluster_delete - a local write at node i, tracked
 * (key up to 64 bytes for tracking). Returns the track index (>= 0) or a
 * negative error from the node.
 */
int gv_cluster_put(gv_cluster *c, size_t i, const void *key, size_t klen,
		   const void *val, size_t vlen, int priority);
int gv_cluster_delete(gv_cluster *c, size_t i, const void *key, size_t klen);

const gv_track *gv_cluster_track(const gv_cluster *c, int t);
size_t gv_cluster_ntracks(const gv_cluster *c);
/* Forget all tracks (free their per-node bitsets). */
void gv_cluster_clear_tracks(gv_cluster *c);

/* Has track t reached every live node? */
bool gv_cluster_track_done(const gv_cluster *c, int t);

void gv_cluster_run_until(gv_cluster *c, gv_time t);
void gv_cluster_run_for(gv_cluster *c, gv_time dt);
/* Run until every track has reached every live node, or the deadline.
 * Returns true if they all did. */
bool gv_cluster_run_until_converged(gv_cluster *c, gv_time deadline);
/* Run until every live node has the same Merkle root, checking every
 * `step`; returns the time it happened, or GV_TIME_NEVER at the deadline. */
gv_time gv_cluster_run_until_roots_equal(gv_cluster *c, gv_time step,
					 gv_time deadline);
bool gv_cluster_roots_equal(gv_cluster *c);

/* Partition the nodes: group_of[i] for every node. */
int gv_cluster_partition(gv_cluster *c, const unsigned *group_of);
void gv_cluster_heal(gv_cluster *c);
void gv_cluster_set_loss(gv_cluster *c, double loss);

/* Crash node i; restart it with its state kept, or empty (a new node with
 * the same id that joins through a live node). */
int gv_cluster_crash(gv_cluster *c, size_t i);
int gv_cluster_restart(gv_cluster *c, size_t i, bool keep_state);

/* Events seen, summed over nodes. */
typedef struct gv_cluster_events {
	uint64_t partition;  /* partition events raised */
	uint64_t heal;
	uint64_t member_dead; /* a node marked some member dead */
	uint64_t member_suspect;
	uint64_t member_alive;
	uint64_t conflicts;
	gv_time last_partition; /* time of the latest partition event */
	gv_time last_heal;
	size_t nodes_partitioned; /* nodes currently in partition state */
} gv_cluster_events;

const gv_cluster_events *gv_cluster_get_events(const gv_cluster *c);
void gv_cluster_reset_events(gv_cluster *c);

/* How many live nodes see member `id` in `state` (its own view excluded). */
size_t gv_cluster_count_view(const gv_cluster *c, gv_node_id id,
			     uint8_t state);

/* Node i's id. */
gv_node_id gv_cluster_id(const gv_cluster *c, size_t i);

/* Datagrams that carried at least one UPDATE record (payload messages). */
uint64_t gv_cluster_payload_msgs(const gv_cluster *c);

#endif /* GV_SIM_CLUSTER_H */
