/* SPDX-License-Identifier: MIT */
/*
 * stats.c - INFO and GV.STATS, both written from the counter table
 * (counters.h): GV.STATS is the rows with a GV.STATS name, as name/value
 * pairs in table order; an INFO section is its rows as field:value lines,
 * after what is not a counter (the server's identity, role, reach, the
 * keyspace line). Runs on the front end's thread.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "server/counters.h"

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

void
gvd_info_text(gv_daemon *d, gv_resp_buf *b, const char *sec)
{
	uint64_t v[GVD_NCOUNTERS];
	struct pub t;
	gvd_counters_read(d, v, &t);
	bool all = !sec[0] || !strcmp(sec, "all") || !strcmp(sec, "default") ||
		   !strcmp(sec, "everything");
	char as[64];
	if (all || !strcmp(sec, "server"))
		OUT(b, "# Server\r\ngrapevine_version:%s\r\n"
		    "redis_version:7.0.0\r\nprocess_id:%d\r\ntcp_port:%u\r\n"
		    "uptime_in_seconds:%lld\r\ngossip_addr:%s\r\nshards:%u\r\n"
		    "threads:%u\r\nio_backend:%s\r\nallocator:%s\r\n"
		    "node_name:%s\r\n\r\n",
		    GV_VERSION_STRING, (int)getpid(), d->cfg.resp.port,
		    (long long)(time(NULL) - d->started),
		    gv_addr_str(&d->cfg.bind, as, sizeof(as)), d->k,
		    d->nthreads,
		    gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
		    d->cfg.name);
	static const struct {
		const char *name, *head;
		enum gvd_info_sec sec;
	} secs[] = {
		{"clients", "# Clients", GVD_SEC_CLIENTS},
		{"memory", "# Memory", GVD_SEC_MEMORY},
		{"stats", "# Stats", GVD_SEC_STATS},
		{"replication", "# Replication\r\nrole:gossip", GVD_SEC_REPL},
	};
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		bool repl = secs[i].sec == GVD_SEC_REPL;
		if (!all && strcmp(sec, secs[i].name) &&
		    !(repl && !strcmp(sec, "gossip")))
			continue;
		OUT(b, "%s\r\n", secs[i].head);
		info_rows(b, secs[i].sec, v);
		if (repl)
			OUT(b, "reach:%.3f\r\n", t.reach);
		OUT(b, "\r\n");
	}
	if (all || !strcmp(sec, "keyspace"))
		OUT(b, "# Keyspace\r\ndb0:keys=%llu,expires=0,avg_ttl=0\r\n",
		    (unsigned long long)v[GVD_C_KEYS]);
}

void
gvd_stats_array(gv_daemon *d, gv_resp_buf *b)
{
	uint64_t v[GVD_NCOUNTERS];
	gvd_counters_read(d, v, NULL);
	size_t n = 0;
	for (size_t i = 0; i < GVD_NCOUNTERS; i++)
		n += gvd_counters[i].stats != NULL;
	gv_resp_out_array(b, 2 * n);
	for (size_t i = 0; i < GVD_NCOUNTERS; i++) {
		if (!gvd_counters[i].stats)
			continue;
		gv_resp_out_bulk_str(b, gvd_counters[i].stats);
		gv_resp_out_int(b, (int64_t)v[i]);
	}
}
