/* SPDX-License-Identifier: MIT */
/*
 * cache_cluster.h - the clusters `gvbench cache` measures, as processes on
 * loopback: N grapevined (node 0 the seed the others join), or a
 * redis-server master with N-1 replicas (node 0 the master). Ports come
 * from free blocks below the ephemeral range, each process writes its
 * output to a log in a temporary directory (shown when a start fails),
 * and every process is stopped with SIGTERM, then SIGKILL after a
 * timeout. The children get SIGTERM should gvbench itself die
 * (PR_SET_PDEATHSIG) and sit in their own process group, so a terminal's
 * ^C reaches gvbench alone, which then stops them in order.
 */
#ifndef GV_BENCH_CACHE_CLUSTER_H
#define GV_BENCH_CACHE_CLUSTER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CC_MAX_NODES 32

enum cc_system { CC_GRAPEVINED, CC_REDIS };

struct cc_node {
	pid_t pid; /* 0: not running */
	int resp_port;
	int gossip_port; /* grapevined: shard i gossips on gossip_port + i */
	char log[256];
};

struct cache_cluster {
	enum cc_system sys;
	size_t n;
	struct cc_node node[CC_MAX_NODES];
	char dir[128]; /* the logs (and redis-server's working dirs) */
	char version[64];
};

/* What a cluster is started with. */
struct cc_opts {
	const char *grapevined, *redis_server; /* program paths */
	unsigned threads, shards;              /* grapevined's */
	/* NULL: nothing saved; else every process persists with this
	 * policy (grapevined --dir --appendfsync P --save "", redis-server
	 * --appendonly yes --appendfsync P --save "") */
	const char *appendfsync;
	double ready_s; /* how long to wait for a cluster to form */
};

/* Set by SIGINT or SIGTERM while cc_signals() is in force: every wait
 * and load loop of the benchmark ends early when it is. */
extern volatile sig_atomic_t cc_interrupted;

/* Catch SIGINT and SIGTERM into cc_interrupted (no SA_RESTART) and
 * ignore SIGPIPE. */
void cc_signals(void);

/*
 * cc_find_program - the path of name to run: explicit (when non-NULL,
 * it must be executable), else, if sibling is non-NULL, the file
 * sibling relative to the directory of this executable
 * (/proc/self/exe), else the first on PATH. Writes out and returns 0, or
 * -ENOENT.
 */
int cc_find_program(const char *name, const char *explicit_path,
                    const char *sibling, char *out, size_t cap);

/*
 * cache_cluster_start - start n processes of sys and wait until the
 * cluster has formed: every node answers PING, and for grapevined every
 * node counts n-1 live members (INFO replication members_alive), for
 * Redis the master has n-1 connected replicas and every replica's link
 * is up. Errors are printed ("gvbench cache: ...", with the tail of the
 * log of the process that failed). On failure everything started is
 * stopped. A process that exits while starting (its port most likely
 * taken by another program between the check and its bind) makes it try
 * again on other ports, three times in all. Returns 0, -EINTR
 * (cc_interrupted), or another -errno.
 */
int cache_cluster_start(struct cache_cluster *c, enum cc_system sys, size_t n,
                        const struct cc_opts *o);

/*
 * cache_cluster_alive - 0 while every process runs; else prints which
 * one exited and how, and returns -ECHILD.
 */
int cache_cluster_alive(struct cache_cluster *c);

/* What becomes of a cluster's logs when it is stopped. */
enum cc_logs {
	CC_LOGS_DROP,     /* removed, whatever happened */
	CC_LOGS_ON_ERROR, /* kept when a process had to be killed or exited
	                   * other than 0 */
	CC_LOGS_KEEP,     /* kept */
};

/*
 * cache_cluster_stop - SIGTERM to every process, SIGKILL to those still
 * there after 5 s; the directory of the logs is removed or kept as logs
 * says (its path printed when kept). Returns 0, or -ECHILD when a
 * process had to be killed or exited with a status other than 0.
 */
int cache_cluster_stop(struct cache_cluster *c, enum cc_logs logs);

const char *cc_system_name(enum cc_system sys);

#endif /* GV_BENCH_CACHE_CLUSTER_H */
