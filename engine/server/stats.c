/* SPDX-License-Identifier: MIT */
/*
 * stats.c - INFO and GV.STATS, both written from the counter table
 * (counters.h): GV.STATS is the rows with a GV.STATS name, as name/value
 * pairs in table order; an INFO section is its rows as field:value lines,
 * after what is not a counter (the server's identity, role, reach, the
 * keyspace line). INFO has Redis 7's sections and fields where they mean
 * something here (persistence, replication and the like say what is
 * true of grapevine: nothing saved, no replicas, a master to clients)
 * and grapevine's own lines in them. Runs on the front end's thread.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <stdio.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "server/counters.h"
#include "server/persist.h"

/* ------------------------------------------------------------ stats */

#define OUT(b, ...)                                                           \
	do {                                                                  \
		char line_[512];                                              \
		int l_ = snprintf(line_, sizeof(line_), __VA_ARGS__);         \
		gv_resp_buf_append(b, line_, (size_t)l_);                     \
	} while (0)

/* The table's rows of one INFO section. */
static void
info_rows(gv_resp_buf *b, enum gvd_info_sec sec, const uint64_t *v)
{
	for (size_t i = 0; i < GVD_NCOUNTERS; i++)
		if (gvd_counters[i].sec == sec && gvd_counters[i].info)
			OUT(b, "%s:%llu\r\n", gvd_counters[i].info,
			    (unsigned long long)v[i]);
}

/* The sections INFO knows, in Redis's order; DEFAULT: those INFO without
 * a section (or "default") lists; "all" and "everything" add the rest. */
enum {
	S_SERVER,
	S_CLIENTS,
	S_MEMORY,
	S_PERSISTENCE,
	S_STATS,
	S_REPL,
	S_CPU,
	S_MODULES,
	S_COMMANDSTATS,
	S_ERRORSTATS,
	S_LATENCYSTATS,
	S_CLUSTER,
	S_KEYSPACE,
	S_N
};
#define S_DEFAULT                                                             \
	(((1u << S_N) - 1) & ~((1u << S_COMMANDSTATS) | (1u << S_LATENCYSTATS)))

static const char *const sec_names[S_N] = {
	"server",  "clients",      "memory",     "persistence",
	"stats",   "replication",  "cpu",        "modules",
	"commandstats", "errorstats", "latencystats", "cluster",
	"keyspace"};
static const char *const sec_heads[S_N] = {
	"Server",  "Clients",      "Memory",     "Persistence",
	"Stats",   "Replication",  "CPU",        "Modules",
	"Commandstats", "Errorstats", "Latencystats", "Cluster",
	"Keyspace"};

/* The sections @secs ask for, as bits; unknown names add nothing. */
static unsigned
wanted(const char *const *secs, size_t n)
{
	if (!n)
		return S_DEFAULT;
	unsigned w = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(secs[i], "default"))
			w |= S_DEFAULT;
		else if (!strcmp(secs[i], "all") ||
			 !strcmp(secs[i], "everything"))
			w |= (1u << S_N) - 1;
		else if (!strcmp(secs[i], "gossip")) /* grapevine's name */
			w |= 1u << S_REPL;
		for (int s = 0; s < S_N; s++)
			if (!strcmp(secs[i], sec_names[s]))
				w |= 1u << s;
	}
	return w;
}

/* Redis's bytesToHuman: "1.16M". */
static void
human(char *out, size_t len, uint64_t n)
{
	static const char units[] = "BKMGTPE";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(out, len, "%lluB", (unsigned long long)n);
	else
		snprintf(out, len, "%.2f%c", v, units[u]);
}

static double
tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* This process's resident bytes, from /proc (0 if unreadable). */
static uint64_t
rss_bytes(void)
{
	unsigned long long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &res) != 2)
		res = 0;
	(void)fclose(f); /* read-only */
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void
info_section(gv_daemon *d, gv_resp_buf *b, int s, const uint64_t *v,
	     const struct pub *t)
{
	char as[64], h1[32], h2[32];
	switch (s) {
	case S_SERVER: {
		struct utsname u;
		char exe[1024] = "";
		if (uname(&u))
			memset(&u, 0, sizeof(u));
		ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[el > 0 ? el : 0] = 0;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t up = gvd_mono_s() - d->started_mono;
#ifdef __GNUC__
		const int gcc[3] = {__GNUC__, __GNUC_MINOR__,
				    __GNUC_PATCHLEVEL__};
#else
		const int gcc[3] = {0, 0, 0};
#endif
		OUT(b, "redis_version:%s\r\nredis_git_sha1:00000000\r\n"
		    "redis_git_dirty:0\r\nredis_build_id:0\r\n"
		    "redis_mode:standalone\r\nos:%s %s %s\r\n"
		    "arch_bits:%d\r\nmonotonic_clock:POSIX clock_gettime\r\n"
		    "multiplexing_api:epoll\r\ngcc_version:%d.%d.%d\r\n"
		    "process_id:%d\r\nprocess_supervised:no\r\n"
		    "run_id:%s\r\ntcp_port:%u\r\n",
		    GVD_REDIS_VERSION, u.sysname, u.release, u.machine,
		    (int)sizeof(void *) * 8, gcc[0], gcc[1], gcc[2],
		    (int)getpid(), d->run_id, d->cfg.resp.port);
		OUT(b, "server_time_usec:%lld\r\nuptime_in_seconds:%lld\r\n"
		    "uptime_in_days:%lld\r\nhz:10\r\nconfigured_hz:10\r\n"
		    "executable:%s\r\nconfig_file:%s\r\n"
		    "io_threads_active:0\r\n",
		    (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000,
		    (long long)up, (long long)(up / 86400), exe,
		    d->cfg.config_file);
		OUT(b, "grapevine_version:%s\r\ngossip_addr:%s\r\nshards:%u\r\n"
		    "threads:%u\r\nio_backend:%s\r\nallocator:%s\r\n"
		    "node_name:%s\r\n",
		    GV_VERSION_STRING,
		    gv_addr_str(&d->cfg.bind, as, sizeof(as)), d->k,
		    d->nthreads, gv_io_backend_name(d->shards[0].io),
		    gv_mem_default_name(), d->cfg.name);
		break;
	}
	case S_CLIENTS:
		info_rows(b, GVD_SEC_CLIENTS, v);
		OUT(b, "cluster_connections:0\r\nmaxclients:%u\r\n"
		    "client_recent_max_input_buffer:0\r\n"
		    "client_recent_max_output_buffer:0\r\n"
		    "blocked_clients:0\r\ntracking_clients:0\r\n"
		    "clients_in_timeout_table:0\r\n",
		    gvd_maxclients());
		break;
	case S_MEMORY: {
		info_rows(b, GVD_SEC_MEMORY, v);
		uint64_t rss = rss_bytes();
		uint64_t sys = (uint64_t)sysconf(_SC_PHYS_PAGES) *
			       (uint64_t)sysconf(_SC_PAGESIZE);
		human(h1, sizeof(h1), v[GVD_C_USED_MEMORY]);
		human(h2, sizeof(h2), rss);
		OUT(b, "used_memory_human:%s\r\nused_memory_rss:%llu\r\n"
		    "used_memory_rss_human:%s\r\n",
		    h1, (unsigned long long)rss, h2);
		human(h1, sizeof(h1), sys);
		human(h2, sizeof(h2), v[GVD_C_MAXMEMORY]);
		OUT(b, "total_system_memory:%llu\r\n"
		    "total_system_memory_human:%s\r\nmaxmemory_human:%s\r\n"
		    "maxmemory_policy:%s\r\nmem_allocator:%s\r\n",
		    (unsigned long long)sys, h1, h2, d->maxmemory_policy,
		    gv_mem_default_name());
		break;
	}
	case S_PERSISTENCE:
		/* without --dir every local write is a change since the
		 * "last save", which is the start */
		gvd_persist_info(d, b, v[GVD_C_UPDATES_LOCAL]);
		break;
	case S_STATS:
		info_rows(b, GVD_SEC_STATS, v);
		/* expired_keys is a row of the table (the shards' reclaim) */
		OUT(b, "instantaneous_ops_per_sec:%llu\r\n"
		    "rejected_connections:0\r\n"
		    "evicted_keys:0\r\nkeyspace_hits:%llu\r\n"
		    "keyspace_misses:%llu\r\npubsub_channels:0\r\n"
		    "pubsub_patterns:0\r\n",
		    (unsigned long long)d->ops_per_sec,
		    (unsigned long long)gvd_tsum(d, GVD_T_HITS),
		    (unsigned long long)gvd_tsum(d, GVD_T_MISSES));
		OUT(b, "compression_ratio:%.3f\r\n", gvd_compression_ratio(v));
		break;
	case S_REPL:
		/* to its clients every node is a master: each takes writes,
		 * and gossip, not Redis replication, spreads them */
		OUT(b, "role:master\r\nconnected_slaves:0\r\n"
		    "master_failover_state:no-failover\r\n"
		    "master_replid:%s\r\n"
		    "master_replid2:0000000000000000000000000000000000000000"
		    "\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\n"
		    "repl_backlog_active:0\r\n",
		    d->run_id);
		info_rows(b, GVD_SEC_REPL, v);
		OUT(b, "reach:%.3f\r\n", t->reach);
		break;
	case S_CPU: {
		struct rusage self, kids, th;
		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		getrusage(RUSAGE_THREAD, &th);
		OUT(b, "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\n"
		    "used_cpu_sys_children:%.6f\r\n"
		    "used_cpu_user_children:%.6f\r\n"
		    "used_cpu_sys_main_thread:%.6f\r\n"
		    "used_cpu_user_main_thread:%.6f\r\n",
		    tv_s(self.ru_stime), tv_s(self.ru_utime),
		    tv_s(kids.ru_stime), tv_s(kids.ru_utime),
		    tv_s(th.ru_stime), tv_s(th.ru_utime));
		break;
	}
	case S_CLUSTER:
		OUT(b, "cluster_enabled:0\r\n");
		break;
	case S_KEYSPACE:
		/* avg_ttl: the mean time left of the keys with a deadline,
		 * from the shards' sums of deadlines (Redis's is an estimate
		 * from samples) */
		if (v[GVD_C_KEYS]) {
			uint64_t avg = 0;
			if (t->expires) {
				double left = t->expire_sum / (double)t->expires -
					      (double)t->clock_ms;
				avg = left > 0 ? (uint64_t)left : 0;
			}
			OUT(b, "db0:keys=%llu,expires=%llu,avg_ttl=%llu\r\n",
			    (unsigned long long)v[GVD_C_KEYS],
			    (unsigned long long)t->expires,
			    (unsigned long long)avg);
		}
		break;
	default: /* modules, commandstats, errorstats, latencystats */
		break;
	}
}

void
gvd_info_text(gv_daemon *d, gv_resp_buf *b, const char *const *secs,
	      size_t n)
{
	uint64_t v[GVD_NCOUNTERS];
	struct pub t;
	unsigned w = wanted(secs, n);
	if (!w)
		return;
	gvd_counters_read(d, v, &t);
	bool first = true;
	for (int s = 0; s < S_N; s++) {
		if (!(w & (1u << s)))
			continue;
		/* as Redis: a blank line between sections, none at the end */
		OUT(b, "%s# %s\r\n", first ? "" : "\r\n", sec_heads[s]);
		first = false;
		info_section(d, b, s, v, &t);
	}
}

void
gvd_stats_array(gv_daemon *d, gv_resp_buf *b)
{
	uint64_t v[GVD_NCOUNTERS];
	gvd_counters_read(d, v, NULL);
	size_t n = 0;
	for (size_t i = 0; i < GVD_NCOUNTERS; i++)
		n += gvd_counters[i].stats != NULL;
	gv_resp_out_map(b, n + 1); /* RESP2: the flat pairs gvctl reads */
	for (size_t i = 0; i < GVD_NCOUNTERS; i++) {
		if (!gvd_counters[i].stats)
			continue;
		gv_resp_out_bulk_str(b, gvd_counters[i].stats);
		gv_resp_out_int(b, (int64_t)v[i]);
	}
	/* the one number that is not an integer: a string, as INFO's */
	char ratio[32];
	snprintf(ratio, sizeof(ratio), "%.3f", gvd_compression_ratio(v));
	gv_resp_out_bulk_str(b, "compression_ratio");
	gv_resp_out_bulk_str(b, ratio);
}
