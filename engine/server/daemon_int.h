/* SPDX-License-Identifier: MIT */
/*
 * daemon_int.h - what the files of grapevined's engine share: its limits,
 * the request, client, shard and daemon structures, and the functions one
 * file calls in another (prefixed gvd_). Private to engine/server; the
 * interface is daemon.h.
 *
 * A client command becomes a `req` with one `sub` per shard-sized piece
 * (one key, or one shard for whole-node questions). Subs travel to the
 * worker thread hosting their shard over its command ring (the shard
 * runtime, engine/shard/shard.h), are applied there by that thread (the
 * only thread that touches its gv_nodes), and come back over its reply
 * ring. A client's replies go out in the order its
 * commands came in: the front end flushes a client's queue of reqs from
 * the head while the head is complete. So a write is acknowledged only
 * after the owning shard applied it, pipelining works, and a slow client
 * stalls nobody but itself: past a soft limit of unsent replies, or of
 * requests at the shards, it is not read (TCP pushes back on it); past
 * --client-output-limit it is disconnected. No thread ever waits for
 * another: a req that finds no room on a ring waits in the front end's
 * FIFO (inbound; its client is not read meanwhile once it has its share
 * of subs out), a sub kept for the next iteration (outbound), a dropped
 * and counted message (hooks, membership; the latter followed by a
 * resync).
 *
 * Subs go to a thread in batches (struct batch: up to BATCH_KEYS subs of
 * one req for one shard, one ring slot), and a req's batches are pushed
 * all or none: gvd_dispatch checks every ring has room for its part
 * first. One front-end thread pushes, each thread applies its ring in
 * order, so any req dispatched after another sees all of its writes or
 * (dispatched before) none: MSET and EXEC are atomic to readers on this
 * node, across shards.
 *
 * The files: daemon.c (lifecycle), shards.c (worker threads, their
 * shards, node callbacks, stats), dispatch.c (subs to the threads in
 * batches, all or none, and back), apply.c (a sub applied on its shard),
 * commands.c (a command parsed into subs; the table of commands is
 * cmd_table.c, COMMAND's introspection cmd_command.c, the connection
 * commands HELLO, AUTH, CLIENT, SELECT, RESET... cmd_conn.c, CONFIG
 * cmd_config.c, the string, expiry and counter commands cmd_keys.c and
 * cmd_strings.c, RENAME, COPY, MSETNX cmd_multikey.c, WAIT
 * cmd_wait.c), multi.c (MULTI/EXEC/WATCH: transactions), frontend.c
 * (client connections and replies), counters.c (the counter table behind
 * INFO, GV.STATS and /metrics), stats.c (INFO and GV.STATS),
 * metrics_http.c (/metrics), fastpath.c and fastpath_setup.c (clients
 * served by the worker threads: --frontend threads, docs/frontend.md),
 * hooks.c (the event-hook runner),
 * keyring_file.c (the --keyring file).
 */
#ifndef GV_SERVER_DAEMON_INT_H
#define GV_SERVER_DAEMON_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "core/node.h"
#include "io/io.h"
#include "server/daemon.h"
#include "server/resp.h"
#include "shard/metrics.h"
#include "shard/shard.h"
#include "shard/spsc.h"

#define MAX_SHARDS 64
#define RING 4096           /* requests in flight per shard of a thread */
#define EVQ 1024            /* pending hook events per shard */
#define MEMQ 4096           /* membership messages pending per thread */
#define OUT_SOFT (1u << 20)  /* client output past which it is not read */
#define CLIENT_PENDING 256 /* a client's subs in flight before it is not
                            * read: 1/16 of a shard's ring, and at most
                            * 256 values held for its replies */
#define IN_LIMIT (70u << 20)  /* client input cap (a max value + slack) */
/* A value this big is not copied once more than it must be: a GET's
 * reply is built on the shard thread and handed to the client's output
 * as it is, and a SET's request buffer is handed to the shard */
#define BIG_VALUE (1u << 20)
#define PUB_EVERY_US 100000 /* stats snapshot period */
#define GV_ECANCELED_SHUTDOWN GV_EFULL /* a request caught by shutdown */
#define GVD_EWRONGTYPE (-20001) /* a sub's rc: answered Redis's WRONGTYPE */
#define GVD_ESAVE (-20002) /* a sub's rc: SAVE failed on its shard */
/* The Redis version grapevined answers as (HELLO, INFO's redis_version):
 * clients pick their features by it, so it names the Redis whose
 * replies grapevined's are compared with. */
#define GVD_REDIS_VERSION "7.0.15"

enum op {
	OP_GET,
	OP_SET,
	OP_DEL,
	OP_EXISTS,
	OP_COUNT,
	OP_MEMBERS,
	OP_CONFLICTS,
	OP_SCAN,
	OP_WATCH,
	OP_KEYS, /* GV.KEYS, on shard 0 */
	OP_KEYCMD, /* a single-key command run by sub->kfn (cmd_keys.c) */
	OP_FLUSH,  /* FLUSHDB on every shard */
	OP_KEYLIST, /* KEYS: every live key matching the pattern */
	OP_WAIT,    /* WAIT: how many members hold key at ver or newer */
	OP_RANDOM,  /* RANDOMKEY: one live key at random, and the count */
	OP_VERSION, /* WATCH: the key's version (tombstones included) */
	OP_VCHECK,  /* EXEC: has the key still the WATCHed version? */
	OP_SAVE,    /* SAVE: the shard's whole snapshot (persist.c) */
};

/* How a req's subs combine into the reply. */
enum combine {
	C_READY,   /* reply already encoded in req->reply */
	C_BULK,    /* one sub: bulk value or null */
	C_OK,      /* all subs: +OK (or the first error) */
	C_SET,     /* SET: +OK, or null when NX/XX refused */
	C_SUM,     /* integers summed */
	C_MGET,    /* array of bulks, one per sub */
	C_RAW,     /* subs' out buffers are RESP fragments: array of them */
	C_SCAN,    /* cursor + keys */
	C_WATCH,   /* [version, with latest, total] */
	C_FRAG,    /* one sub whose out is the whole reply (RESP) */
	C_KEYS,    /* array: every sub's bulks (out) concatenated */
	C_RANDOM,  /* one sub's key, picked by weight (ival), or nil */
	C_WATCHED, /* WATCH: +OK, the versions kept in the client */
	C_EXEC,    /* EXEC: array of its commands' replies, or null */
};

/* Keys grouped into one batch (one ring slot) at most, unless a req
 * needs bigger batches to fit in a ring at all (gvd_dispatch). */
#define BATCH_KEYS 1024

struct req;
struct sub;
struct shard;

/* A single-key command's work on its shard's thread: parse s->args,
 * read and write the node, encode the whole reply into b; store errors
 * the front end words (OOM, READONLY) go in s->rc instead. */
typedef void gvd_key_fn(struct shard *sh, struct sub *s, gv_time now,
			gv_resp_buf *b);

struct sub {
	struct req *parent;
	uint8_t op;
	uint8_t setmode; /* 0, 1 NX, 2 XX */
	uint8_t proto;   /* the client's RESP version, for fragments */
	uint16_t shard;
	char *key;
	size_t klen;
	char *val;
	size_t vlen;
	/* results */
	int rc;
	int64_t ival;
	char *out; /* value copy, or a RESP fragment */
	size_t outlen;
	bool null;
	bool frag; /* OP_GET: out is the whole bulk reply ($len, value, CRLF),
		    * built on the shard thread for a big value */
	uint64_t cursor; /* scan: leaf in, next leaf out */
	size_t count;
	const char *pattern;
	/* OP_KEYCMD: the handler and the command's arguments (name and key
	 * included), copied into one block */
	gvd_key_fn *kfn;
	gv_resp_arg *args;
	size_t nargs;
	char *argbuf; /* a big request's input buffer, which args point
		       * into (handed over by the front end: gvd_donor) */
	bool cond; /* a write of an EXEC after WATCH: marked conditional */
	bool wrote; /* out: this sub wrote its key, at version ver (WAIT) */
	char *wkey; /* out: the entry it wrote, if not key (a hash's field) */
	size_t wklen;
	gv_version ver; /* GV.WATCH, WATCH, EXEC's check */
};

/*
 * A batch: a run of one req's subs for one shard, in the req's order;
 * the unit on a shard thread's command ring (a struct batch pointer).
 * The thread applies its subs in one go and answers with the same
 * pointer. A req's batches are pushed all or none (gvd_dispatch), so a
 * reader dispatched later sees all of its writes, on every shard.
 */
struct batch {
	struct req *r; /* the req dispatched (an EXEC's, for its commands) */
	struct sub **v;
	uint32_t n;
	uint16_t shard;
};

struct client;
struct gvd_cmd;

struct req {
	struct req *next;
	struct client *cl; /* NULL once the client is gone */
	int combine;
	uint8_t proto; /* the client's RESP version when it asked */
	bool noreply;  /* CLIENT REPLY OFF/SKIP: run, answer nothing */
	unsigned nsubs; /* subs[] */
	unsigned total; /* subs it waits for: nsubs, + its kids' (EXEC) */
	unsigned done;
	unsigned queued; /* what it adds to cl->queued */
	struct sub *subs;
	gv_resp_buf reply;
	uint64_t scan_shard; /* C_SCAN */
	char *pattern;
	/* dispatch (shards.c) */
	struct req *wnext;      /* the daemon's FIFO of reqs waiting; a
				 * worker's queue of others' commands */
	uint16_t origin;        /* fastpath.c: the worker that sent it */
	struct batch *batches;  /* made by gvd_dispatch */
	unsigned nbatches;
	struct sub **order;     /* the subs, grouped by shard */
	struct batch batch1;    /* a one-sub req's batch: no allocation */
	struct sub *order1;
	/* Transactions (multi.c). An EXEC's req owns its commands' reqs
	 * (kids, in order; their subs go out in its batches) and its
	 * check subs (subs[], first on each shard). */
	struct req **kids;
	unsigned nkids, kcap;
	bool kid;       /* captured by an EXEC: dispatched with it */
	bool watch_one; /* check and apply on one thread: check decides */
	_Atomic bool abort; /* a check failed: skip the rest (one thread) */
	bool aborted;   /* EXEC: a WATCHed key changed: null reply */
	int refused;    /* EXEC: refused whole before dispatch (OOM) */
	struct req *exec; /* a check-only req: the EXEC it decides */
	bool second;      /* the step after a check: its push ends the
			   * workers' hold (fastpath.c) */
	bool held;        /* a check whose push began a spell of it */
	gv_daemon *d;     /* for on_done */
	struct req *poll_next; /* WAIT: the daemon's list of waiting ones */
	/* called instead of flushing the client when every sub is back;
	 * returns a req it completed (to flush), or NULL */
	struct req *(*on_done)(gv_daemon *d, struct req *r);
};

/* A key WATCHed by a client, and the version it had then (zero: absent
 * or deleted). */
struct watched {
	char *key;
	size_t klen;
	gv_version ver;
	bool live;
};

/* A command queued after MULTI: its arguments, copied. */
struct queued_cmd {
	const struct gvd_cmd *cmd;
	gv_resp_arg *av;
	size_t ac;
	char *mem;
};

struct client {
	struct client *prev, *next; /* all clients, for shutdown */
	int fd;
	int fd_shown;   /* CLIENT LIST's fd= (fd is the serving thread's) */
	char *in;
	size_t inlen, incap;
	gv_resp_req parser;
	gv_resp_buf out;
	size_t out_big; /* the biggest reply pending in out (its limit) */
	struct req *head, *tail;
	bool closing; /* QUIT or protocol error: close once flushed */
	bool want_out;
	bool paused; /* not read: replies or requests piled up */
	unsigned inflight;
	size_t queued; /* subs (1 for a ready reply) not yet flushed */
	/* connection state (HELLO, AUTH, CLIENT, RESET): front end only */
	uint64_t id;            /* CLIENT ID: the daemon's connection count */
	char addr[64], laddr[64]; /* peer and local "ip:port" */
	int64_t created;        /* monotonic seconds: age */
	/* idle since, and CLIENT LIST's cmd= (a table row's name): written
	 * by the thread serving the client, read by the front end's
	 * CLIENT LIST and --timeout (atomics: a worker may serve it) */
	_Atomic int64_t last;
	const char *_Atomic last_cmd;
	char *name, *lib_name, *lib_ver; /* NULL: none */
	uint8_t proto;          /* 2 or 3 (HELLO) */
	bool authed;            /* AUTH passed, or no password was set */
	bool reply_off;         /* CLIENT REPLY OFF */
	bool skip_this, skip_next; /* CLIENT REPLY SKIP: the next command */
	bool no_evict, no_touch;
	bool killed;            /* CLIENT KILL: closed at the loop's tick */
	bool to_write;          /* on its thread's dirty list */
	struct client *dprev, *dnext;
	/* --frontend threads (fastpath.c). home: the worker serving it
	 * (NULL: the front end), written by the front end only; the rest
	 * by the thread serving it */
	struct worker *home;
	bool kill_sent;         /* front end: CLIENT KILL passed to home */
	struct client *wprev, *wnext; /* the worker's clients */
	struct client *rprev, *rnext; /* the worker's run list */
	_Atomic bool kill_req;  /* CLIENT KILL or --timeout from the front
				 * end, for the worker serving it */
	bool on_run;
	struct req *fwait;      /* a command not yet sent: its order waits */
	unsigned fout;          /* commands at another thread */
	bool migrate;           /* a command for the front end is next */
	size_t mig_used;        /* its bytes at c->in, parsed (argv) */
	bool wblocked;          /* parsing stopped at its share of replies */
	bool gone;              /* closed: waits for fout to come back */
	bool in_on;             /* the worker's epoll reports input */
	bool out_on;            /*                        and output room */
	/* transactions (multi.c) */
	bool multi;     /* after MULTI, until EXEC or DISCARD */
	bool dirty;     /* a command refused while queuing: EXECABORT */
	struct queued_cmd *mq;
	size_t nmq, mqcap;
	size_t mqbytes; /* their arguments' bytes: at most IN_LIMIT */
	struct watched *watch;
	size_t nwatch, wcap;
	unsigned watch_wait; /* WATCH reqs not yet back: not read */
	struct req *capture; /* EXEC running its commands: their reqs */
	/* WAIT: this client's last write (its key's shard and version) */
	char *lw_key;
	size_t lw_klen;
	uint16_t lw_shard;
	gv_version lw_ver;
};

/* A hook event, fixed size for the SPSC ring. */
struct event {
	char type[16];
	char name[64], addr[64], region[64], state[16];
	uint32_t incarnation;
	double reach;
	char key[128], winner[128], loser[128];
};

/* A membership change passed from shard 0 to the other shards' threads
 * (with the member's name and region: peer choice by region needs them on
 * every shard). */
struct member_msg {
	gv_node_id id;
	gv_addr addr; /* shard 0's address of the member */
	uint32_t incarnation;
	uint8_t state;
	char name[GV_WIRE_MAX_NAME + 1];
	char region[GV_WIRE_MAX_REGION + 1];
};

/* Stats a shard publishes for INFO, GV.STATS and /metrics (io: the
 * thread's socket counters, with its first shard only). */
struct pub {
	gv_node_stats st;
	size_t keys, tombstones, mem_used;
	size_t expires;    /* live keys with a deadline (reclaimed or not) */
	double expire_sum; /* their deadlines summed, cluster ms */
	uint64_t clock_ms; /* the cluster clock when published */
	double reach;
	bool partitioned;
	gv_io_stats io;
	gv_tcp_stats tcp; /* the thread's stream channel (first shard) */
};

struct worker;

/* One of the cluster's key shards, as hosted here: a gv_node on gossip
 * port PORT + idx, on thread idx % nthreads. */
struct shard {
	gv_daemon *d;
	unsigned idx;
	struct worker *w; /* the thread hosting it */
	gv_io *io;        /* that thread's loop */
	int ep;           /* its socket on that loop */
	gv_node *node;
	gv_addr addr;
	gv_spsc evq; /* hook events: this shard's thread -> hook thread */
	bool evq_ok;
	gv_histogram delay;
	uint64_t rng; /* RANDOMKEY's start slot (this thread only) */
	/* counters written by this shard's thread, read by the front end:
	 * atomics (relaxed) so the reads are not torn */
	_Atomic uint64_t ev_dropped;  /* hook events, evq full */
	_Atomic uint64_t mem_dropped; /* shard 0: member messages dropped */
	bool ev_full; /* evq was full at the last push: logged once */
};

/* A worker thread of this host (--threads): a gv_shard runtime hosting
 * the key shards local[0..nlocal), i.e. those with i % nthreads == idx. */
struct worker {
	gv_daemon *d;
	unsigned idx;
	gv_shard *rt;
	unsigned nlocal;
	unsigned local[MAX_SHARDS];
	gv_spsc memq; /* membership: shard 0's thread -> this thread */
	bool memq_ok;
	bool resync; /* shard 0's thread: a message to here was dropped */
	_Atomic int leave; /* 1: leave now (set by the front end), 2: left */
	gv_time leave_at;
	uint64_t compress_threshold; /* this thread's: as its nodes have it */
	/* --frontend threads: the clients this thread serves (fastpath.c) */
	struct gvd_tstats *ts;  /* its counters (allocated: own lines) */
	int cfd;                /* epoll set of its clients, -1: none */
	bool cfd_ready;         /* cfd readable (the loop's watch) */
	struct client *clients, *dirty, *run;
	gv_spsc tow, tom;       /* front end -> here, here -> front end */
	bool tow_ok, tom_ok;
	uintptr_t *tom_over;    /* messages the full tom ring did not take */
	size_t ntom_over, tom_over_cap;
	struct req *hq_head, *hq_tail; /* others' commands not yet applied */
	unsigned xout[MAX_SHARDS]; /* commands of ours at thread u */
	uint64_t wake_mask;     /* threads given work this turn */
	_Atomic bool kill_pending; /* the front end sent a kill */
};

/* Counters of the thread that runs commands (the front end, or a worker
 * serving clients): written by that thread only (relaxed load and store,
 * no read-modify-write), read by INFO. On their own cache lines. */
struct gvd_tstats {
	_Atomic uint64_t commands, hits, misses;
	_Atomic uint64_t fast_local, fast_hops, fast_handed, fast_served;
	_Atomic uint64_t pauses, out_disc, in_disc;
	_Atomic uint64_t paused; /* gauge: its clients not read now */
	char pad[64];
};

/* The calling thread's counters (NULL until its first command), and the
 * worker it is, when it serves clients (NULL: the front end). */
extern _Thread_local struct gvd_tstats *gvd_ts;
extern _Thread_local struct worker *gvd_self;

/* fastpath.c: --frontend threads. init after the workers are made and
 * before they start; fini after they stopped, before the clients are
 * closed. give: hand a new client to a worker (false: the front end
 * keeps it); take: the clients the workers handed back or closed (each
 * turn); kill: CLIENT KILL or --timeout of a worker's client; iter: a
 * worker's turn (its on_iter); dispatch: a worker's client's command. */
int gvd_fast_init(gv_daemon *d, char *err, size_t errlen);
void gvd_fast_fini(gv_daemon *d);
bool gvd_fast_give(gv_daemon *d, struct client *c);
void gvd_fast_take(gv_daemon *d);
void gvd_fast_kill(gv_daemon *d, struct client *c);
void gvd_fast_iter(struct worker *w, gv_time now);
void gvd_fast_dispatch(struct worker *w, struct req *r);
/* frontend.c, shared with fastpath.c: encode c's answered commands
 * (false: its output passed the hard limit); write what the socket
 * takes */
bool gvd_encode_replies(gv_daemon *d, struct client *c);
/* dispatch.c: a check's second step went out, or will not: the workers
 * may run their clients' commands again (one spell of the hold ends) */
void gvd_hold_release(gv_daemon *d);
void gvd_write_out(struct client *c);
/* frontend.c: room for 16 KiB more in c->in, grown as the parser needs
 * (0; 1: past the input cap, logged; -1: out of memory: close it either
 * way); the soft output limit past which a client is not read */
int gvd_input_room(const gv_daemon *d, struct client *c);
size_t gvd_out_soft(const gv_daemon *d);
/* a client handed back with a command parsed at the head of its input
 * (mig_used bytes): run it (the front end, at adoption) */
void gvd_run_handed(gv_daemon *d, struct client *c);

enum { GVD_T_COMMANDS, GVD_T_HITS, GVD_T_MISSES, GVD_T_LOCAL, GVD_T_HOPS,
       GVD_T_HANDED, GVD_T_SERVED, GVD_T_PAUSES, GVD_T_OUTDISC,
       GVD_T_INDISC, GVD_T_PAUSED };
/* A counter summed over the front end and the workers (commands, hits
 * and misses less what CONFIG RESETSTAT saw). */
uint64_t gvd_tsum(const gv_daemon *d, int which);

/* A thread's list of clients with replies to write (to_write, dprev,
 * dnext): pushed once, unlinked when the client goes. */
static inline void
gvd_dirty_push(struct client **head, struct client *c)
{
	if (c->to_write)
		return;
	c->to_write = true;
	c->dprev = NULL;
	c->dnext = *head;
	if (*head)
		(*head)->dprev = c;
	*head = c;
}

static inline void
gvd_dirty_unlink(struct client **head, struct client *c)
{
	if (!c->to_write)
		return;
	if (c->dprev)
		c->dprev->dnext = c->dnext;
	else
		*head = c->dnext;
	if (c->dnext)
		c->dnext->dprev = c->dprev;
	c->to_write = false;
	c->dprev = c->dnext = NULL;
}

static inline void
gvd_tinc(_Atomic uint64_t *x)
{
	atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

struct gv_daemon {
	gv_daemon_config cfg;
	const gv_mem *mem;
	unsigned k;        /* key shards (--shards) */
	unsigned nthreads; /* worker threads (--threads, resolved) */
	int cpus[MAX_SHARDS]; /* the CPUs this process may use (--pin) */
	unsigned ncpus;
	struct shard shards[MAX_SHARDS];
	struct worker workers[MAX_SHARDS];
	int lfd, mfd, epfd, efd;
	pthread_t hook_th;
	bool hook_running;
	_Atomic int hook_stop;
	_Atomic int fatal;
	/* CONFIG SET compress-threshold: written by the front end, read by
	 * each worker at its next publish (every 100 ms), which applies it
	 * to its nodes on their own thread; relaxed: a lone number that
	 * orders nothing else (a worker may apply it a tick later) */
	_Atomic uint64_t compress_threshold;
	char fatal_msg[256];
	gv_resp_limits lim;
	size_t in_limit; /* a client's input cap: the largest request */
	time_t started;
	int64_t started_mono; /* monotonic seconds at start */
	uint64_t connections;
	/* the front end's counters (gvd_ts on its thread); INFO adds the
	 * workers' and takes away what CONFIG RESETSTAT saw */
	struct gvd_tstats *ts;
	uint64_t commands_base, hits_base, misses_base;
	/* --frontend threads: on (and no requirepass), the next worker to
	 * be given a client, and the rings between the workers (thread t
	 * to u: xr[t * nthreads + u], tagged req pointers) */
	bool threaded;
	unsigned next_home;
	gv_spsc *xr;
	/* The hold: odd while the front end pushes a req to several
	 * threads, or an EXEC's (or RENAME's...) check is out and its
	 * second step not yet pushed; it grows by one as each such spell
	 * begins and ends (hold_depth counts the spells at once, front end
	 * only). A worker runs its clients' commands, and other workers',
	 * only after reading the same even value before and after draining
	 * its ring from the front end (fastpath.c) */
	_Atomic uint64_t fe_epoch;
	unsigned hold_depth;
	uint64_t next_client_id; /* CLIENT ID: never reused, not reset */
	/* expired keys: written by the shards' threads (expiry), read by
	 * INFO; atomic (relaxed) so the reads are not torn */

	int64_t idle_checked; /* last idle-timeout sweep, monotonic s */
	bool kill_pending;    /* a client has killed set (CLIENT KILL) */
	char maxmemory_policy[24]; /* CONFIG SET maxmemory-policy */
	char run_id[41];       /* INFO run_id: 40 random hex digits */
	uint64_t ops_prev, ops_per_sec; /* commands a second ago; the rate */
	/* front-end thread only */
	uint64_t out_disconnects, in_disconnects, read_pauses, busy_replies;
	uint64_t reqs_held; /* reqs that waited for ring room */
	uint64_t execs, exec_aborts, watch_aborts, watch_late;
	/* reqs waiting for room on the shards' rings, oldest first; while
	 * it is not empty every new req joins it (order is kept) */
	struct req *wait_head, *wait_tail;
	struct req *barrier; /* an EXEC's check out: dispatch waits */
	struct req *waits;   /* WAITs between two probes (cmd_wait.c) */
	/* each shard's store bytes as last published, for the memory
	 * check before dispatch (shards.c), and when it was read */
	size_t mem_seen[MAX_SHARDS];
	gv_time mem_seen_at;
	uint64_t oom_refused; /* reqs refused whole before dispatch */
	uint64_t metrics_refused, metrics_timeouts;
	unsigned nclients;
	struct gvd_metrics *metrics; /* /metrics (metrics_http.c); NULL: off */
	struct client *clients;
	time_t accept_logged; /* last "cannot accept" log line */
	uint64_t rng;         /* RANDOMKEY's choice of shard (not secret) */
	int64_t wall_offset_ms; /* Unix ms = monotonic ms + this */
	gv_keyring *keyring;    /* NULL: gossip in the clear */
	uint64_t keyring_saved; /* generation last written to the file */
	/* Coalescing, once per turn of the loop (gvd_turn_end): the
	 * threads that were given batches are woken once, and the clients
	 * whose replies came back are written once, with all of them */
	uint64_t wake_threads;  /* bit t: thread t was given work */
	struct client *dirty;   /* clients with replies to write */
	/* 1: a shard's wake of the front end is pending (its eventfd
	 * written); the front end clears it before it drains the rings,
	 * so a thread writes the eventfd at most once per turn */
	_Atomic int fe_wake;
	struct gvd_persist *persist; /* --dir (persist.c); NULL: off */
};

/* What the bounded queues of the daemon dropped or held back. */
struct drops {
	uint64_t hook_events, member_msgs, replies_held;
	unsigned paused_clients;
};

/*
 * The input buffer of the request being run, when it holds a value of
 * BIG_VALUE bytes or more (frontend.c offers it, gvd_copy_args takes it):
 * the command's sub keeps its arguments where they are instead of a copy,
 * and the client gets a new buffer for what follows. Front end thread.
 */
struct gvd_donor {
	char *buf;
	size_t len; /* the request's bytes, at buf */
	bool taken;
};
extern _Thread_local struct gvd_donor gvd_donor;

/* ----------------------------------------------------------- helpers */

static inline char *
dupmem(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (c && n)
		memcpy(c, p, n);
	return c;
}

static inline const char *
state_name(int s)
{
	static const char *const n[] = {"alive", "suspect", "dead", "left"};
	return s >= 0 && s < 4 ? n[s] : "new";
}

/* The key shard of a key: the same on every node (--shards). */
static inline unsigned
gvd_shard_of(const gv_daemon *d, const void *key, size_t klen)
{
	return (unsigned)(XXH3_64bits(key, klen) % d->k);
}

/* Is the argument the word s (any case)? */
static inline bool
gvd_arg_is(const gv_resp_arg *a, const char *s)
{
	return a->len == strlen(s) && strncasecmp(a->ptr, s, a->len) == 0;
}

/* Has every sub of r come back? */
static inline bool
req_done(const struct req *r)
{
	return r->done == r->total;
}

/* A version as gvctl reads it: "<hlc>@<origin, 16 hex digits>". */
static inline void
out_version(gv_resp_buf *b, const gv_version *v)
{
	gv_resp_out_bulkf(b, "%llu@%016llx", (unsigned long long)v->hlc,
			  (unsigned long long)v->origin);
}

/* ---------------------------------------------- across the files */

/* apply.c: run one sub on its shard's thread (the node is this thread's). */
void gvd_apply_sub(struct shard *sh, struct sub *s, gv_time now);

/* cmd_keys.c: the live value of key as clients read it (a counter's
 * number printed), copied: 0, GV_ENOTFOUND, GV_ENOMEM; with frag, a value
 * of BIG_VALUE bytes or more comes as its whole bulk reply ($len, the
 * bytes, CRLF), and the return is 1. */
int gvd_read_value(gv_node *n, gv_time now, const void *key, size_t klen,
		   char **out, size_t *outlen, bool frag);

/* cmd_keys.c: a value as clients read it, in place: bytes, or a
 * counter's number printed into num (GV_COUNTER_STR_MAX bytes). Valid
 * until the node's next write. */
struct gvd_value {
	const uint8_t *p;
	size_t n;
	uint64_t expire;
	gv_version ver;
	uint8_t kind;
};
bool gvd_value_get(gv_node *n, gv_time now, const void *key, size_t klen,
		   char *num, struct gvd_value *v);
void gvd_out_value(gv_resp_buf *b, bool have, const struct gvd_value *v);

/* Redis's text for an argument or value that is not a 64-bit integer. */
#define GVD_ERR_INT "ERR value is not an integer or out of range"

/* cmd_keys.c: the reply to an INCR-family write (gv_node_incr or
 * gv_node_hincr returned rc, the counter's entry in *r): the counter's new
 * value (an integer, or with is_float its bulk text), or Redis's error
 * for rc. @hash: the texts of HINCRBY/HINCRBYFLOAT. Returns true for a
 * success (the caller notes the write), false when it replied an error
 * or set s->rc. */
bool gvd_incr_reply(gv_resp_buf *b, struct sub *s, int rc,
		    const gv_record *r, bool is_float, bool hash);

/* cmd_hash.c: Redis's WRONGTYPE. gvd_wrongtype: if key holds a value
 * of another type than want (GV_TYPE_STRING, GV_TYPE_HASH), writes the
 * error into b and returns true. gvd_hash_encoding: OBJECT ENCODING of
 * a hash (listpack or hashtable, by Redis's limits). */
#define GVD_WRONGTYPE                                                         \
	"WRONGTYPE Operation against a key holding the wrong kind of value"
bool gvd_wrongtype(gv_node *n, gv_time now, const void *key, size_t klen,
		   int want, gv_resp_buf *b);
void gvd_hash_encoding(gv_node *n, gv_time now, const struct sub *s,
		       gv_resp_buf *b);
/* A hash field's value as clients read it (a counter's number printed
 * into num, GV_COUNTER_STR_MAX bytes): *p, *n. */
void gvd_field_value(const gv_record *r, char *num, const uint8_t **p,
		     size_t *n);
/* cmd_multikey.c: RENAME, COPY of a hash: its fields and values (counters as their
 * numbers) into b, then written at key (replacing what it held) with
 * the deadline. Return 0 or a store error. */
int gvd_hash_dump(gv_node *n, gv_time now, const void *key, size_t klen,
		  gv_resp_buf *b, uint64_t *deadline);
int gvd_hash_restore(gv_node *n, gv_time now, const void *key, size_t klen,
		     const uint8_t *p, size_t len, uint64_t deadline);

/* cmd_wait.c: WAITs due for another probe go out (every loop turn); the
 * loop sleeps at most 1 ms while any waits. */
void gvd_wait_tick(gv_daemon *d);

/* cmd_keys.c: copy av[0..ac) into one block for s->args (false: out of
 * memory); route a single-key command to its shard with its arguments,
 * fn running there (see gvd_key_fn). */
bool gvd_copy_args(struct sub *s, const gv_resp_arg *av, size_t ac);
void gvd_key_cmd(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac,
		 gvd_key_fn *fn);

/* commands.c: one parsed command, queued on c as a req (and its subs sent
 * to their shards); gvd_ready queues a reply the caller encodes now. */
void gvd_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac);
/* the same, its row already found (NULL: an unknown command) */
struct gvd_cmd;
void gvd_command_row(gv_daemon *d, struct client *c, const struct gvd_cmd *cmd,
		     gv_resp_arg *av, size_t ac);
struct req *gvd_ready(struct client *c);
/* A ready reply of one error line; of help lines (NULL-terminated), as
 * the HELP subcommands answer. */
void gvd_error_reply(struct client *c, const char *msg);
void gvd_help_reply(struct client *c, const char *const *lines);

/* cmd_conn.c: the connection state CLIENT LIST and INFO report; the
 * monotonic clock in seconds those use; the constant-time password
 * check (AUTH, HELLO AUTH). */
void gvd_client_info_line(gv_daemon *d, const struct client *c,
			  gv_resp_buf *b);
int64_t gvd_mono_s(void);
unsigned gvd_maxclients(void);
bool gvd_auth_ok(const gv_daemon *d, const char *user, size_t ulen,
		 const char *pass, size_t plen);

/* frontend.c: client connections, their reqs and replies. */
int gvd_listen_tcp(const gv_addr *a, char *err, size_t errlen,
		   const char *what);
void gvd_accept_clients(gv_daemon *d);
bool gvd_client_input(gv_daemon *d, struct client *c);
bool gvd_flush_resume(gv_daemon *d, struct client *c);
void gvd_client_close(gv_daemon *d, struct client *c);
/* c has replies to encode and write: done once, at the turn's end */
void gvd_mark_dirty(gv_daemon *d, struct client *c);
/* The end of a turn of the loop: wake the threads given work, then
 * write every dirty client's replies (one write each) */
void gvd_turn_end(gv_daemon *d);
void gvd_clients_tick(gv_daemon *d); /* CLIENT KILL, timeout: each turn */
struct req *gvd_req_new(struct client *c, int combine, unsigned nsubs);
struct req *gvd_req_alloc(int combine, unsigned nsubs);
void gvd_req_free(struct req *r);
void gvd_finish_one(gv_daemon *d, gv_resp_buf *o, struct client *c,
		    struct req *r);

/* multi.c: MULTI, EXEC, DISCARD, WATCH, UNWATCH. gvd_multi_intercept
 * takes a command while the client is in MULTI (true: handled: queued
 * or refused); gvd_watch_done keeps a WATCH's versions; _reset forgets
 * a client's transaction and WATCHes (on close). */
bool gvd_multi_intercept(gv_daemon *d, struct client *c,
			 const struct gvd_cmd *cmd, gv_resp_arg *av,
			 size_t ac);
void gvd_watch_done(struct client *c, struct req *r);
void gvd_multi_reset(struct client *c);
void gvd_exec_finish(gv_daemon *d, gv_resp_buf *o, struct client *c,
		     struct req *r);

/* shards.c: the worker threads and their shards: set up (bind every
 * gossip port), start (join first), leave (announce it, wait for the
 * threads to stop), stop and free; wake the front end (any thread). */
int gvd_shards_init(gv_daemon *d, char *err, size_t errlen);
int gvd_shards_start(gv_daemon *d, char *err, size_t errlen);
void gvd_shards_leave(gv_daemon *d);
void gvd_shards_fini(gv_daemon *d);
void gvd_shards_del(gv_daemon *d);
void gvd_wake_front(gv_daemon *d);

/* shards.c: send a req's subs to their shards' threads; take the
 * completed subs back (and flush their clients); the shards' published
 * stats summed, and the daemon's drop counters. */
void gvd_dispatch(gv_daemon *d, struct req *r);
/* One sub of op per shard (r made with a sub per shard): sub i on
 * shard i. */
void gvd_all_shards(struct req *r, int op);
void gvd_drain_shards(gv_daemon *d);
void gvd_dispatch_waiting(gv_daemon *d);
void gvd_dispatch_first(gv_daemon *d, struct req *r);
struct req *gvd_exec_checked(gv_daemon *d, struct req *chk);
bool gvd_mem_full(gv_daemon *d);
void gvd_req_finished(gv_daemon *d, struct req *r);
void gvd_sum_stats(gv_daemon *d, struct pub *t, struct pub *per);
void gvd_sum_drops(gv_daemon *d, struct drops *x);

/* stats.c: INFO and GV.STATS. gvd_info_text writes the sections @secs
 * names (@n of them, lowercase; none: the default ones) as INFO's text. */
void gvd_info_text(gv_daemon *d, gv_resp_buf *b, const char *const *secs,
		   size_t n);
void gvd_stats_array(gv_daemon *d, gv_resp_buf *b);

/* metrics_http.c: /metrics. _init registers the series (at start, with
 * the listener open); _event takes an epoll event and says whether it was
 * the metrics listener's or a scrape's; _tick closes scrapes past their
 * deadline (every turn of the loop); _fini closes them all. */
int gvd_metrics_init(gv_daemon *d, char *err, size_t errlen);
bool gvd_metrics_event(gv_daemon *d, void *p, uint32_t events);
void gvd_metrics_tick(gv_daemon *d);
void gvd_metrics_fini(gv_daemon *d);

/* hooks.c: queue an event for the hook thread (from a shard's thread);
 * gvd_hook_main is that thread. */
void gvd_push_event(struct shard *s, const struct event *e);
void *gvd_hook_main(void *arg);

/* keyring_file.c: the --keyring file, read at start, rewritten on change. */
int gvd_load_keyring(gv_daemon *d, char *err, size_t errlen);
void gvd_save_keyring(gv_daemon *d);

#endif
