/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the daemon's numbers for INFO and GV.STATS: the stats each
 * shard publishes, summed (membership is shard 0's), and what the bounded
 * queues dropped or held back. Runs on the front end's thread.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ stats */


void
gvd_info_text(gv_daemon *d, gv_resp_buf *b, const char *sec)
{
	struct pub t;
	gvd_sum_stats(d, &t, NULL);
	struct drops x;
	gvd_sum_drops(d, &x);
	bool all = !sec[0] || !strcmp(sec, "all") || !strcmp(sec, "default") ||
		   !strcmp(sec, "everything");
	char line[512], as[64];
#define OUT(...)                                                              \
	do {                                                                  \
		int l_ = snprintf(line, sizeof(line), __VA_ARGS__);           \
		gv_resp_buf_append(b, line, (size_t)l_);                      \
	} while (0)
	if (all || !strcmp(sec, "server")) {
		OUT("# Server\r\ngrapevine_version:%s\r\nredis_version:7.0.0\r\n"
		    "process_id:%d\r\ntcp_port:%u\r\nuptime_in_seconds:%lld\r\n"
		    "gossip_addr:%s\r\nshards:%u\r\nthreads:%u\r\n"
		    "io_backend:%s\r\n"
		    "allocator:%s\r\nnode_name:%s\r\n\r\n",
		    GV_VERSION_STRING, (int)getpid(), d->cfg.resp.port,
		    (long long)(time(NULL) - d->started),
		    gv_addr_str(&d->cfg.bind, as, sizeof(as)), d->k,
		    d->nthreads,
		    gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
		    d->cfg.name);
	}
	if (all || !strcmp(sec, "clients"))
		OUT("# Clients\r\nconnected_clients:%u\r\n"
		    "client_output_limit:%llu\r\npaused_clients:%u\r\n"
		    "client_read_pauses:%llu\r\n"
		    "client_output_disconnects:%llu\r\n"
		    "client_input_disconnects:%llu\r\n\r\n",
		    d->nclients,
		    (unsigned long long)d->cfg.client_output_limit,
		    x.paused_clients, (unsigned long long)d->read_pauses,
		    (unsigned long long)d->out_disconnects,
		    (unsigned long long)d->in_disconnects);
	if (all || !strcmp(sec, "memory"))
		OUT("# Memory\r\nused_memory:%zu\r\nmaxmemory:%llu\r\n\r\n",
		    t.mem_used, (unsigned long long)d->cfg.max_memory);
	if (all || !strcmp(sec, "stats"))
		OUT("# Stats\r\ntotal_connections_received:%llu\r\n"
		    "total_commands_processed:%llu\r\n"
		    "datagrams_in:%llu\r\ndatagrams_out:%llu\r\n"
		    "datagrams_bad:%llu\r\nbusy_replies:%llu\r\n"
		    "replies_held:%llu\r\nhook_events_dropped:%llu\r\n"
		    "member_msgs_dropped:%llu\r\noutbox_drops:%llu\r\n"
		    "flood_drops:%llu\r\nrumor_drops:%llu\r\n\r\n",
		    (unsigned long long)d->connections,
		    (unsigned long long)d->commands,
		    (unsigned long long)t.st.dgrams_in,
		    (unsigned long long)t.st.dgrams_out,
		    (unsigned long long)t.st.dgrams_bad,
		    (unsigned long long)d->busy_replies,
		    (unsigned long long)x.replies_held,
		    (unsigned long long)x.hook_events,
		    (unsigned long long)x.member_msgs,
		    (unsigned long long)t.st.outbox_drops,
		    (unsigned long long)t.st.flood_drops,
		    (unsigned long long)t.st.rumor_drops);
	if (all || !strcmp(sec, "replication") || !strcmp(sec, "gossip"))
		OUT("# Replication\r\nrole:gossip\r\nmembers_alive:%llu\r\n"
		    "members_suspect:%llu\r\nmembers_dead:%llu\r\n"
		    "members_left:%llu\r\nupdates_sent:%llu\r\n"
		    "updates_received:%llu\r\nupdates_applied:%llu\r\n"
		    "updates_dropped:%llu\r\nupdates_duplicate:%llu\r\n"
		    "updates_stale:%llu\r\nconflicts:%llu\r\n"
		    "partitioned:%d\r\nreach:%.3f\r\nae_sessions:%llu\r\n"
		    "tombstones:%zu\r\n\r\n",
		    (unsigned long long)t.st.members_alive,
		    (unsigned long long)t.st.members_suspect,
		    (unsigned long long)t.st.members_dead,
		    (unsigned long long)t.st.members_left,
		    (unsigned long long)t.st.updates_out,
		    (unsigned long long)t.st.updates_in,
		    (unsigned long long)(t.st.merge[GV_MERGE_APPLIED] +
					 t.st.merge[GV_MERGE_CONFLICT_APPLIED]),
		    (unsigned long long)t.st.updates_refused,
		    (unsigned long long)(t.st.merge[GV_MERGE_DUPLICATE] +
					 t.st.dedup_hits),
		    (unsigned long long)t.st.merge[GV_MERGE_STALE],
		    (unsigned long long)(t.st.merge[GV_MERGE_CONFLICT_APPLIED] +
					 t.st.merge[GV_MERGE_CONFLICT_LOST]),
		    t.partitioned, t.reach,
		    (unsigned long long)t.st.ae_sessions, t.tombstones);
	if (all || !strcmp(sec, "keyspace"))
		OUT("# Keyspace\r\ndb0:keys=%zu,expires=0,avg_ttl=0\r\n",
		    t.keys);
#undef OUT
}

void
gvd_stats_array(gv_daemon *d, gv_resp_buf *b)
{
	struct pub t;
	gvd_sum_stats(d, &t, NULL);
	struct drops x;
	gvd_sum_drops(d, &x);
	struct {
		const char *k;
		uint64_t v;
	} f[] = {
		{"keys", t.keys},
		{"tombstones", t.tombstones},
		{"used_memory", t.mem_used},
		{"members_alive", t.st.members_alive},
		{"members_suspect", t.st.members_suspect},
		{"members_dead", t.st.members_dead},
		{"members_left", t.st.members_left},
		{"partitioned", t.partitioned},
		{"datagrams_in", t.st.dgrams_in},
		{"datagrams_out", t.st.dgrams_out},
		{"datagrams_bad", t.st.dgrams_bad},
		{"datagrams_foreign", t.st.dgrams_foreign},
		{"bytes_in", t.st.bytes_in},
		{"bytes_out", t.st.bytes_out},
		{"updates_local", t.st.updates_local},
		{"updates_sent", t.st.updates_out},
		{"updates_received", t.st.updates_in},
		{"updates_applied", t.st.merge[GV_MERGE_APPLIED]},
		{"updates_duplicate",
		 t.st.merge[GV_MERGE_DUPLICATE] + t.st.dedup_hits},
		{"updates_stale", t.st.merge[GV_MERGE_STALE]},
		{"updates_refused", t.st.updates_refused},
		{"conflicts_applied", t.st.merge[GV_MERGE_CONFLICT_APPLIED]},
		{"conflicts_lost", t.st.merge[GV_MERGE_CONFLICT_LOST]},
		{"ae_sessions", t.st.ae_sessions},
		{"ae_bytes_out", t.st.ae_bytes_out},
		{"probes", t.st.probes},
		{"probe_fails", t.st.probe_fails},
		{"suspicions", t.st.suspicions},
		{"refutes", t.st.refutes},
		{"tombstones_purged", t.st.tombstones_purged},
		{"joins_refused", t.st.joins_refused},
		{"auth_clear", t.st.auth_clear},
		{"auth_no_keyring", t.st.auth_no_keyring},
		{"auth_unknown_key", t.st.auth_unknown_key},
		{"auth_failed", t.st.auth_failed},
		{"auth_replayed", t.st.auth_replayed},
		{"auth_stale", t.st.auth_stale},
		{"seal_errors", t.st.seal_errors},
		{"keyring_changes", t.st.keyring_changes},
		{"keyring_keys", d->keyring ? gv_keyring_count(d->keyring) : 0},
		{"outbox_drops", t.st.outbox_drops},
		{"flood_drops", t.st.flood_drops},
		{"rumor_drops", t.st.rumor_drops},
		{"busy_replies", d->busy_replies},
		{"replies_held", x.replies_held},
		{"hook_events_dropped", x.hook_events},
		{"member_msgs_dropped", x.member_msgs},
		{"paused_clients", x.paused_clients},
		{"client_read_pauses", d->read_pauses},
		{"client_output_disconnects", d->out_disconnects},
		{"client_input_disconnects", d->in_disconnects},
	};
	size_t n = sizeof(f) / sizeof(f[0]);
	gv_resp_out_array(b, 2 * n);
	for (size_t i = 0; i < n; i++) {
		gv_resp_out_bulk_str(b, f[i].k);
		gv_resp_out_int(b, (int64_t)f[i].v);
	}
}
