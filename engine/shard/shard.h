/* SPDX-License-Identifier: MIT */
/*
 * shard.h - the shard runtime: one worker thread running one gv_io loop
 * that hosts 1..N gv_nodes, with a command ring in, a reply ring out and a
 * published stats snapshot. grapevined (engine/server) and gvbench
 * (bench/netcluster.c) are both clients of it, so a benchmark figure is a
 * figure of the loop the daemon ships.
 *
 * The owner's work comes in as callbacks (gv_shard_ops), all run on the
 * shard's thread, which is the only thread that touches the nodes it
 * hosts once gv_shard_start() returned:
 *
 *   on_cmd      one command the owner submitted (a copy of its bytes),
 *               applied in submission order, in batches: `now` is the
 *               time the batch was taken from the ring;
 *   on_iter     once per loop iteration, after the commands: drain the
 *               owner's other queues here;
 *   on_publish  write the owner's snapshot (stats) into the shard's
 *               snapshot buffer, periodically and when asked;
 *   on_reply    replies were queued this iteration: wake their reader.
 *
 * Threads. One owner thread submits commands and takes replies (each ring
 * has one producer and one consumer); any thread may call gv_shard_wake,
 * gv_shard_request_stop and the snapshot calls. A reply that finds the
 * reply ring full is held in the shard (at most one batch of them) and no
 * more commands are taken until it went out: the shard never waits for
 * its owner, and a full command ring is the owner's signal to back off
 * (gv_shard_submit returns GV_EFULL).
 *
 * Nodes hosted on one shard are endpoints of its gv_io: gv_shard_add_node
 * opens a socket and hosts a node on it; gv_shard_io gives the loop for
 * what the runtime does not wrap (detach and re-attach on a crash test).
 */
#ifndef GV_SHARD_SHARD_H
#define GV_SHARD_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/node.h"
#include "io/io.h"
#include "io/tcp.h"

typedef struct gv_shard gv_shard;

typedef struct gv_shard_ops {
	void (*on_cmd)(void *ud, gv_shard *sh, void *cmd, gv_time now);
	void (*on_iter)(void *ud, gv_shard *sh, gv_time now);
	void (*on_publish)(void *ud, gv_shard *sh, void *snap, gv_time now);
	void (*on_reply)(void *ud, gv_shard *sh);
} gv_shard_ops;

typedef struct gv_shard_config {
	unsigned index;       /* 0: names the thread ("<name><index>") */
	const char *name;     /* "gv-shard": thread name prefix */
	gv_io_config io;      /* the loop's configuration (gv_io_config_
	                       * default); on_iter is the shard's own */
	size_t cmd_size;      /* bytes per command (required) */
	size_t cmd_cap;       /* 4096 commands in the ring (a power of 2) */
	size_t reply_size;    /* bytes per reply; 0: no reply ring */
	size_t reply_cap;     /* 4096 replies (a power of two) */
	size_t pub_size;      /* bytes of snapshot; 0: none */
	uint64_t pub_every_us; /* 100000: periodic publish; 0: on request */
	int cpu;              /* -1: not pinned; else the CPU to run on */
	gv_shard_ops ops;     /* on_cmd required; the others optional */
	void *ud;             /* passed to every callback */
} gv_shard_config;

/* Most replies a shard holds while its reply ring is full: one batch of
 * commands, each answered by at most one reply. */
#define GV_SHARD_BATCH 64

/* Fill cfg with the defaults above (cmd_size and ops.on_cmd left 0). */
void gv_shard_config_default(gv_shard_config *cfg);

/*
 * gv_shard_new - set up a shard: its gv_io, rings and snapshot buffer.
 * Nothing runs until gv_shard_start().
 * Returns 0 and *out; GV_EINVAL (no cmd_size or on_cmd, a capacity that
 * is not a power of two); GV_ENOMEM; gv_io_new()'s errors.
 */
int gv_shard_new(gv_shard **out, const gv_shard_config *cfg);

/* Stop the thread if it runs (gv_shard_stop) and free the shard. The
 * nodes it hosted are the owner's, and not freed. */
void gv_shard_del(gv_shard *sh);

/*
 * gv_shard_add_node - open a UDP socket bound to *bind and host node on
 * it (node NULL: the socket only, for gv_shard_attach later). *bound (may
 * be NULL) receives the bound address. Before gv_shard_start(), or from
 * the shard's own thread.
 * Returns the node's index on this shard (>= 0, in order of addition);
 * gv_io_add()'s errors (GV_EFULL past io.max_endpoints, -EADDRINUSE, ...).
 */
int gv_shard_add_node(gv_shard *sh, const gv_addr *bind, gv_node *node,
                      gv_addr *bound);

/*
 * gv_shard_attach - host node on socket ep (added without a node, or
 * detached through gv_io_detach). Same threads as gv_shard_add_node.
 * Returns 0 or gv_io_attach()'s errors.
 */
int gv_shard_attach(gv_shard *sh, int ep, gv_node *node);

/* The node hosted on socket ep (NULL: none), the number of sockets, and
 * the loop. */
gv_node *gv_shard_node(const gv_shard *sh, int ep);
unsigned gv_shard_nodes(const gv_shard *sh);
gv_io *gv_shard_io(const gv_shard *sh);
unsigned gv_shard_index(const gv_shard *sh);

/*
 * gv_shard_start - start the thread (pinned to cfg.cpu if >= 0; a pin the
 * kernel refuses is logged through io.log and ignored).
 * Returns 0, GV_EINVAL (already started), -errno from pthread_create.
 */
int gv_shard_start(gv_shard *sh);

/* Ask the loop to stop after its current iteration. Any thread, the
 * shard's own included (then it stops once the callback returns). */
void gv_shard_request_stop(gv_shard *sh);

/* Stop the thread and wait for it (not from the shard's thread). No-op
 * when not running. */
void gv_shard_stop(gv_shard *sh);

/* Has the thread ended (stopped, or the loop failed)? Any thread. */
bool gv_shard_done(const gv_shard *sh);

/* The loop's error if it stopped on one (gv_io_run), else 0. */
int gv_shard_error(const gv_shard *sh);

/*
 * gv_shard_submit - queue a command (cmd_size bytes, copied). Owner
 * thread only; the shard sees it after the next gv_shard_wake().
 * Returns 0 or GV_EFULL (the ring is full: nothing queued).
 */
int gv_shard_submit(gv_shard *sh, const void *cmd);

/* Commands waiting in the ring now (approximate from other threads). */
size_t gv_shard_pending(const gv_shard *sh);

/*
 * gv_shard_room - how many commands gv_shard_submit would take now
 * without GV_EFULL. Owner thread only: only the owner pushes and the
 * shard only pops, so the room can only grow until the owner's next
 * submit, and a caller that finds room for n can submit n that will all
 * be taken (an all-or-nothing group of commands: check, then push).
 * gv_shard_capacity is the ring's size (cfg.cmd_cap): a group larger
 * than that never fits.
 */
size_t gv_shard_room(const gv_shard *sh);
size_t gv_shard_capacity(const gv_shard *sh);

/*
 * gv_shard_take_cmds - apply the commands in the ring now, from the
 * shard's thread (on_iter), as the loop does before on_iter. Returns
 * whether the ring was found empty afterwards (no reply held): every
 * command submitted before the call was applied.
 */
bool gv_shard_take_cmds(gv_shard *sh);

/*
 * gv_shard_watch - one descriptor of the owner's for the loop to wait on
 * besides the stream channel (a set of client sockets, say): while fd is
 * readable, cb(ud, now) runs on the shard's thread once per iteration,
 * before on_iter. fd -1 removes it. Before gv_shard_start.
 * Returns 0, GV_EINVAL, -errno.
 */
int gv_shard_watch(gv_shard *sh, int fd, void (*cb)(void *ud, gv_time now),
		   void *ud);

/* Make the loop iterate soon (any thread; coalesced). */
void gv_shard_wake(gv_shard *sh);

/*
 * gv_shard_reply - queue a reply (reply_size bytes, copied) for the
 * owner. Shard thread only (from on_cmd or on_iter). A full reply ring
 * holds it in the shard (counted: replies_held) until there is room;
 * meanwhile no command is taken.
 * Returns 0, GV_EINVAL (no reply ring), GV_EFULL (more than
 * GV_SHARD_BATCH held: a callback answered a command twice).
 */
int gv_shard_reply(gv_shard *sh, const void *reply);

/*
 * gv_shard_take - the oldest reply, copied to out. Owner thread only.
 * When the shard was holding replies back, the owner's take wakes it;
 * after gv_shard_stop, the replies it still held come last.
 * Returns 1 with *out, 0 when there is none.
 */
int gv_shard_take(gv_shard *sh, void *out);

/*
 * gv_shard_unapplied - after gv_shard_stop (or before start): a command
 * the shard never took, oldest first, copied to out, so that the owner
 * can answer it. Owner thread only.
 * Returns 1 with *out, 0 when there is none (or the thread still runs).
 */
int gv_shard_unapplied(gv_shard *sh, void *out);

/*
 * The stream channel (io/tcp.h) for the nodes this shard hosts: their
 * cb.stream_send must end in gv_shard_stream_send (with the node's socket
 * index), and each node listens with gv_shard_stream_listen on the TCP
 * port of its gossip socket. Messages, drains and broken connections are
 * handed to the node (gv_node_stream_recv/ready/down) on the shard's
 * thread. gv_shard_enable_stream before gv_shard_start; the listens
 * before the start or from the shard's thread.
 * Returns 0, GV_EINVAL (already enabled, bad config), GV_ENOMEM, -errno.
 */
int gv_shard_enable_stream(gv_shard *sh, const gv_tcp_config *cfg);
int gv_shard_stream_listen(gv_shard *sh, int ep, const gv_addr *bind,
			   const gv_addr *self, uint16_t shard,
			   gv_node_id node);
/* Shard thread (inside the node's callback): gv_tcp_send's returns. */
int gv_shard_stream_send(gv_shard *sh, int ep, const gv_addr *to,
			 const uint8_t *msg, size_t len);
/* The channel's counters (zeros when not enabled). Shard thread, or any
 * thread once the shard stopped. */
void gv_shard_stream_stats(const gv_shard *sh, gv_tcp_stats *out);

/* Drain node ep's sends after this batch (the owner called into it from
 * on_cmd or on_iter: a put, a join, a membership change). Shard thread. */
void gv_shard_touch(gv_shard *sh, int ep);

/*
 * Snapshot. The shard calls on_publish into its buffer every
 * pub_every_us and whenever asked; a reader copies the buffer out.
 * gv_shard_request_publish returns a ticket; once gv_shard_published()
 * is at or past it, gv_shard_read_snapshot returns a snapshot taken after
 * the request. Any thread.
 */
/* (With pub_size 0 there is nothing to publish: the ticket is 0 and
 * gv_shard_published stays 0.) */
uint64_t gv_shard_request_publish(gv_shard *sh);
uint64_t gv_shard_published(const gv_shard *sh);
/* Copy the last snapshot (pub_size bytes) to dst; returns the last
 * ticket it answers (0: it answers no request: a periodic snapshot, or
 * none yet, when dst is all zeroes). */
uint64_t gv_shard_read_snapshot(gv_shard *sh, void *dst);

/* The runtime's own counters. */
typedef struct gv_shard_stats {
	uint64_t cmds;         /* commands applied */
	uint64_t replies;      /* replies queued */
	uint64_t replies_held; /* replies that found the reply ring full */
	uint64_t publishes;    /* snapshots written */
} gv_shard_stats;

/* Any thread (relaxed reads: each counter is exact, not the set). */
void gv_shard_get_stats(const gv_shard *sh, gv_shard_stats *out);

/*
 * gv_shard_cpus - the CPUs this process may run on (sched_getaffinity),
 * in increasing order: up to max written to cpus; returns how many there
 * are (at least 1: on failure, the online count with cpus 0..n-1).
 */
unsigned gv_shard_cpus(int *cpus, unsigned max);

#endif /* GV_SHARD_SHARD_H */
