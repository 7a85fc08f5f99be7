/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - grapevined's engine room: K shard workers (a thread, an
 * io_uring and one gv_node each, gossiping on port+i), the RESP front end
 * and /metrics (one epoll thread), and the event-hook runner.
 *
 * Threads talk only through SPSC rings and wake-ups: the front end sends
 * each command (or each key of a multi-key command) to the shard that owns
 * the key, xxh3(key) % K, and answers the client, in order, when every
 * shard involved has applied its part. Shard 0 runs the membership protocol
 * for the node and passes every membership change to the other shards.
 */
#ifndef GV_SERVER_DAEMON_H
#define GV_SERVER_DAEMON_H

#include <signal.h>

#include "server/config.h"

typedef struct gv_daemon gv_daemon;

/*
 * gv_daemon_new - bind every socket (gossip shards, RESP, metrics) and
 * start the threads; on error, writes a message to err and returns a
 * negative code (nothing left running).
 */
int gv_daemon_new(gv_daemon **out, const gv_daemon_config *cfg, char *err,
		  size_t errlen);

/*
 * gv_daemon_run - serve until *stop (SIGTERM/SIGINT) or a fatal condition
 * (a seed refused our join: shard counts differ). Then leave the cluster
 * gracefully (tell the peers, flush) and stop the threads.
 * Returns 0 after a clean stop, 1 after a fatal condition.
 */
int gv_daemon_run(gv_daemon *d, const volatile sig_atomic_t *stop);

void gv_daemon_del(gv_daemon *d);

#endif
