/* SPDX-License-Identifier: MIT */
/*
 * persist.h - grapevined --dir: snapshots and an append-only log per key
 * shard (persist.c; the file format is persist_fmt.h; the guide is
 * docs/persistence.md). Private to engine/server.
 */
#ifndef GV_SERVER_PERSIST_H
#define GV_SERVER_PERSIST_H

#include "server/daemon_int.h"

/* After the shards' nodes are made, before their threads start: lock
 * DIR, load it into the nodes, open new logs, start the persistence
 * thread. 0 (also without --dir), or -1 with err: refuse to start. */
int gvd_persist_open(gv_daemon *d, char *err, size_t errlen);
/* After the threads stopped: write and sync what is pending, close. */
void gvd_persist_close(gv_daemon *d);
/* A worker's turn: write its shards' pending records, run their
 * snapshots a slice at a time. */
void gvd_persist_iter(struct worker *w, gv_time now);
/* Before the replies to the writes that made them go out: write the
 * worker's shards' records (and with appendfsync always, sync them). */
void gvd_persist_commit(struct worker *w);
/* OP_SAVE on its shard's thread: the whole snapshot, now. */
void gvd_persist_save_sub(struct shard *sh, struct sub *s, gv_time now);
/* The members the snapshot knew (gossip addresses): join seeds. */
size_t gvd_persist_seeds(const gv_daemon *d, gv_addr *out, size_t max);
/* NULL, or (appendfsync always, the log failing) why writes are
 * refused: the failed write's error. Any thread. */
const char *gvd_persist_refuse(gv_daemon *d);
/* INFO persistence (changes: the count to show without --dir). */
void gvd_persist_info(gv_daemon *d, gv_resp_buf *b, uint64_t changes);
/* CONFIG GET of appendonly, appendfsync, save, dir: false if another. */
bool gvd_persist_param(gv_daemon *d, const char *name, char *out,
		       size_t len);
/* CONFIG SET of appendfsync or save: NULL when (it would be) done. */
const char *gvd_persist_set(gv_daemon *d, const char *name, const char *v,
			    bool check);

void gvd_cmd_save(gv_daemon *d, struct client *c, gv_resp_arg *av,
		  size_t ac);
void gvd_cmd_bgsave(gv_daemon *d, struct client *c, gv_resp_arg *av,
		    size_t ac);
void gvd_cmd_bgrewriteaof(gv_daemon *d, struct client *c, gv_resp_arg *av,
			  size_t ac);

#endif /* GV_SERVER_PERSIST_H */
