/* SPDX-License-Identifier: MIT */
/*
 * persist_int.h - what persist.c (the logs, the snapshots, the
 * persistence thread), persist_load.c (loading, start and stop) and
 * persist_cmd.c (SAVE and the rest, INFO, CONFIG) share. Private.
 */
#ifndef GV_SERVER_PERSIST_INT_H
#define GV_SERVER_PERSIST_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "server/persist.h"
#include "server/persist_fmt.h"

enum { FS_ALWAYS, FS_EVERYSEC, FS_NO };
enum { K_SAVE, K_REWRITE, K_AUTO };
enum { FIN_NONE, FIN_ASKED, FIN_OK, FIN_FAILED };

#define BUCKET_BITS 12
#define NBUCKETS (1u << BUCKET_BITS)
#define SLICE_BYTES (512u << 10)
#define SLICE_NS 2000000ull     /* 2 ms of a shard's turn */
#define BIG_REC (1u << 20)      /* written from where it lies */
#define LOG_HOLD (64u << 20)    /* unwritten bytes kept after a failure */
#define REWRITE_MIN (64ull << 20) /* auto rewrite: log at least this */
#define MAX_MEMBERS 4096

struct pshard {
	struct gvd_persist *p;
	unsigned idx;
	/* the log: the shard's thread writes; lfd is swapped under mu,
	 * which the persistence thread holds while it syncs */
	pthread_mutex_t mu;
	int lfd;
	uint64_t gen;
	uint64_t good;   /* bytes of the log file that are whole records */
	uint8_t *buf;    /* records not written yet */
	size_t len, cap;
	bool dropped;    /* records were lost: incomplete until a snapshot */
	uint64_t drops, drops_at; /* losses, and at the snapshot's start */
	gv_time mend_at; /* the last snapshot begun to mend a loss */
	bool failing;    /* the last write failed */
	gv_time err_at;
	_Atomic uint64_t written, synced; /* bytes, over all generations */
	_Atomic uint64_t log_size, base_size;
	_Atomic uint64_t changes; /* since the last snapshot began */
	/* a snapshot (the shard's thread, fin with the finisher) */
	_Atomic bool want;
	bool on;
	int sfd, old_lfd;
	uint64_t sgen;
	uint32_t bucket;
	uint64_t entries, sbytes;
	uint8_t *sbuf;
	size_t slen, scap;
	bool sfail;
	uint64_t changes_at;
	uint64_t rot_written; /* written when the old log was left */
	_Atomic int fin;
	char why[200];
};

struct gvd_persist {
	gv_daemon *d;
	char dir[1024];
	int dfd, lockfd;
	_Atomic int fsync; /* FS_* */
	pthread_mutex_t mu; /* save points; the thread's sleep */
	pthread_cond_t cv;
	uint64_t secs[GV_SAVE_POINTS], chg[GV_SAVE_POINTS];
	int npoints;
	char save[256];
	pthread_t th;
	bool th_on;
	_Atomic bool stop;
	struct pshard ps[MAX_SHARDS];
	/* the snapshot of all shards at once ("a cycle") */
	_Atomic int inprog;   /* shards still in it */
	_Atomic int kind;     /* K_* of the one running */
	_Atomic bool failed;  /* a shard's part failed */
	_Atomic bool scheduled; /* BGREWRITEAOF during a BGSAVE */
	_Atomic int64_t lastsave, cycle_start_ms, last_cycle_s;
	_Atomic int last_status, last_rw_status; /* 0 ok, 1 err */
	_Atomic uint64_t saves, rewrites, save_errors;
	_Atomic uint64_t write_errors, dropped_records, pause_max_ns;
	_Atomic int write_status;
	_Atomic int write_errno; /* of the last failed write */
	/* what the start loaded */
	gv_addr seeds[64];
	size_t nseeds;
	uint64_t loaded, loaded_expired, load_ms, log_records, torn;
};

int64_t gvp__wall_ms(void);
uint64_t gvp__mono_ns(void);
int gvp__fsync_policy(const char *s);
void gvp__name_of(char *out, size_t len, unsigned shard, uint64_t gen,
		  const char *ext);
/* shard-S-G.snap or shard-S-G.log: true with its numbers. */
bool gvp__parse_name(const char *name, unsigned *shard, uint64_t *gen,
		     bool *snap);
int gvp__write_all(int fd, const void *p, size_t n);
/* A new file of ours in DIR (mode 600, no link followed) with its
 * header: the descriptor, or -errno. */
int gvp__create_file(struct gvd_persist *p, const char *name, int kind,
		     unsigned shard, uint64_t gen);
/* Write a shard's pending log records: 0, or -errno (kept, retried). */
int gvp__log_flush(struct pshard *ps, gv_time now);
/* The nodes' journal (node.h). */
void gvp__journal(void *ud, const gv_record *r, bool removed);
/* A shard's part of a snapshot is over (its thread, or at close). */
void gvp__snap_done(struct pshard *ps);
/* Begin a snapshot of every shard unless one runs; any thread. */
bool gvp__try_cycle(struct gvd_persist *p, int kind, bool wake);
/* The persistence thread. */
void *gvp__main(void *arg);

#endif /* GV_SERVER_PERSIST_INT_H */
