/* SPDX-License-Identifier: MIT */
/*
 * counters.h - the daemon's counter table: every number that INFO,
 * GV.STATS and /metrics report is one row of GVD_COUNTERS, so a counter is
 * declared once and the three outputs loop over the same rows (stats.c,
 * metrics_http.c). What is not a number of the table (INFO's server
 * strings, role, reach, the propagation histogram) stays with its output.
 *
 * A row is X(id, stats, sec, info, type, prom, lname, lval, help, value):
 *   id     the row's index, GVD_C_<id>;
 *   stats  its GV.STATS name, or NULL. GV.STATS lists the rows that have
 *          one in table order, which gvctl and the tests rely on: existing
 *          names keep their place, new ones go at the end;
 *   sec    its INFO section (NONE, CLIENTS, MEMORY, STATS, REPL), and
 *   info   its INFO field name, or NONE and NULL: not in INFO;
 *   type   COUNTER (only grows) or GAUGE;
 *   prom   its Prometheus family name, or NULL: not in /metrics;
 *   lname, lval  the series' one label within that family, or NULL, NULL;
 *   help   the family's help text, given on its first row (NULL on the
 *          others);
 *   value  an expression in t (struct pub: the shards' stats summed by
 *          gvd_sum_stats), x (struct drops: gvd_sum_drops) and d (the
 *          gv_daemon, for the front end's own counters), evaluated on the
 *          front end's thread.
 * INFO prints a section's rows in table order.
 */
#ifndef GV_SERVER_COUNTERS_H
#define GV_SERVER_COUNTERS_H

#include <stdint.h>

#include "server/daemon.h"
#include "shard/metrics.h"

/* clang-format off */
#define GVD_COUNTERS(X)                                                       \
	X(KEYS, "keys", NONE, NULL, /* INFO keyspace: db0:keys= */            \
	  GAUGE, "grapevine_keys", NULL, NULL, "Live keys.",                  \
	  t.keys)                                                             \
	X(TOMBSTONES, "tombstones", REPL, "tombstones",                       \
	  GAUGE, "grapevine_tombstones", NULL, NULL,                          \
	  "Deleted keys kept as tombstones until purged.",                    \
	  t.tombstones)                                                       \
	X(USED_MEMORY, "used_memory", MEMORY, "used_memory",                  \
	  GAUGE, "grapevine_memory_used_bytes", NULL, NULL,                   \
	  "Bytes the stores hold.",                                           \
	  t.mem_used)                                                         \
	X(MAXMEMORY, NULL, MEMORY, "maxmemory",                               \
	  GAUGE, NULL, NULL, NULL, NULL,                                      \
	  d->cfg.max_memory)                                                  \
	X(MEMBERS_ALIVE, "members_alive", REPL, "members_alive",              \
	  GAUGE, "grapevine_members", "state", "alive", "Members by state.",  \
	  t.st.members_alive)                                                 \
	X(MEMBERS_SUSPECT, "members_suspect", REPL, "members_suspect",        \
	  GAUGE, "grapevine_members", "state", "suspect", NULL,               \
	  t.st.members_suspect)                                               \
	X(MEMBERS_DEAD, "members_dead", REPL, "members_dead",                 \
	  GAUGE, "grapevine_members", "state", "dead", NULL,                  \
	  t.st.members_dead)                                                  \
	X(MEMBERS_LEFT, "members_left", REPL, "members_left",                 \
	  GAUGE, "grapevine_members", "state", "left", NULL,                  \
	  t.st.members_left)                                                  \
	X(PARTITIONED, "partitioned", REPL, "partitioned",                    \
	  GAUGE, "grapevine_partitioned", NULL, NULL,                         \
	  "1 while this node is in a minority partition.",                    \
	  t.partitioned)                                                      \
	X(CONNECTIONS, NULL, STATS, "total_connections_received",             \
	  COUNTER, "grapevine_connections_total", NULL, NULL,                 \
	  "RESP connections accepted.",                                       \
	  d->connections)                                                     \
	X(COMMANDS, NULL, STATS, "total_commands_processed",                  \
	  COUNTER, "grapevine_commands_total", NULL, NULL,                    \
	  "RESP commands processed.",                                         \
	  gvd_tsum(d, GVD_T_COMMANDS))                                                        \
	X(DATAGRAMS_IN, "datagrams_in", STATS, "datagrams_in",                \
	  COUNTER, "grapevine_datagrams_in_total", NULL, NULL,                \
	  "Datagrams received.",                                              \
	  t.st.dgrams_in)                                                     \
	X(DATAGRAMS_OUT, "datagrams_out", STATS, "datagrams_out",             \
	  COUNTER, "grapevine_datagrams_out_total", NULL, NULL,               \
	  "Datagrams sent.",                                                  \
	  t.st.dgrams_out)                                                    \
	X(DATAGRAMS_BAD, "datagrams_bad", STATS, "datagrams_bad",             \
	  COUNTER, "grapevine_datagrams_bad_total", NULL, NULL,               \
	  "Datagrams dropped as malformed.",                                  \
	  t.st.dgrams_bad)                                                    \
	X(DATAGRAMS_FOREIGN, "datagrams_foreign", NONE, NULL,                 \
	  COUNTER, "grapevine_datagrams_foreign_total", NULL, NULL,           \
	  "Datagrams for another cluster or shard, dropped.",                 \
	  t.st.dgrams_foreign)                                                \
	X(BYTES_IN, "bytes_in", NONE, NULL,                                   \
	  COUNTER, "grapevine_received_bytes_total", NULL, NULL,              \
	  "Gossip bytes received.",                                           \
	  t.st.bytes_in)                                                      \
	X(BYTES_OUT, "bytes_out", NONE, NULL,                                 \
	  COUNTER, "grapevine_sent_bytes_total", NULL, NULL,                  \
	  "Gossip bytes sent.",                                               \
	  t.st.bytes_out)                                                     \
	X(UPDATES_LOCAL, "updates_local", NONE, NULL,                         \
	  COUNTER, "grapevine_updates_local_total", NULL, NULL,               \
	  "Writes made on this node.",                                        \
	  t.st.updates_local)                                                 \
	X(UPDATES_SENT, "updates_sent", REPL, "updates_sent",                 \
	  COUNTER, "grapevine_updates_sent_total", NULL, NULL,                \
	  "Update records sent.",                                             \
	  t.st.updates_out)                                                   \
	X(UPDATES_RECEIVED, "updates_received", REPL, "updates_received",     \
	  COUNTER, "grapevine_updates_received_total", NULL, NULL,            \
	  "Update records received.",                                         \
	  t.st.updates_in)                                                    \
	/* INFO's updates_applied counts the conflict winners too */          \
	X(UPDATES_APPLIED_ANY, NULL, REPL, "updates_applied",                 \
	  COUNTER, NULL, NULL, NULL, NULL,                                    \
	  t.st.merge[GV_MERGE_APPLIED] +                                      \
		  t.st.merge[GV_MERGE_CONFLICT_APPLIED])                      \
	X(UPDATES_APPLIED, "updates_applied", NONE, NULL,                     \
	  COUNTER, "grapevine_updates_applied_total", NULL, NULL,             \
	  "Remote updates applied (no conflict).",                            \
	  t.st.merge[GV_MERGE_APPLIED])                                       \
	X(UPDATES_DUPLICATE, "updates_duplicate", REPL, "updates_duplicate",  \
	  COUNTER, "grapevine_updates_duplicate_total", NULL, NULL,           \
	  "Duplicate updates received.",                                      \
	  t.st.merge[GV_MERGE_DUPLICATE] + t.st.dedup_hits)                   \
	X(UPDATES_STALE, "updates_stale", REPL, "updates_stale",              \
	  COUNTER, "grapevine_updates_stale_total", NULL, NULL,               \
	  "Stale updates received.",                                          \
	  t.st.merge[GV_MERGE_STALE])                                         \
	X(UPDATES_REFUSED, "updates_refused", REPL, "updates_dropped",        \
	  COUNTER, "grapevine_updates_refused_total", NULL, NULL,             \
	  "Updates the store refused (memory cap).",                          \
	  t.st.updates_refused)                                               \
	X(CONFLICTS_APPLIED, "conflicts_applied", NONE, NULL,                 \
	  COUNTER, NULL, NULL, NULL, NULL,                                    \
	  t.st.merge[GV_MERGE_CONFLICT_APPLIED])                              \
	X(CONFLICTS_LOST, "conflicts_lost", NONE, NULL,                       \
	  COUNTER, NULL, NULL, NULL, NULL,                                    \
	  t.st.merge[GV_MERGE_CONFLICT_LOST])                                 \
	X(CONFLICTS, NULL, REPL, "conflicts",                                 \
	  COUNTER, "grapevine_updates_conflict_total", NULL, NULL,            \
	  "Concurrent writes met here.",                                      \
	  t.st.merge[GV_MERGE_CONFLICT_APPLIED] +                             \
		  t.st.merge[GV_MERGE_CONFLICT_LOST])                         \
	X(AE_SESSIONS, "ae_sessions", REPL, "ae_sessions",                    \
	  COUNTER, "grapevine_ae_sessions_total", NULL, NULL,                 \
	  "Anti-entropy sessions started.",                                   \
	  t.st.ae_sessions)                                                   \
	X(AE_BYTES_OUT, "ae_bytes_out", NONE, NULL,                           \
	  COUNTER, "grapevine_ae_sent_bytes_total", NULL, NULL,               \
	  "Anti-entropy bytes sent.",                                         \
	  t.st.ae_bytes_out)                                                  \
	X(PROBES, "probes", NONE, NULL,                                       \
	  COUNTER, "grapevine_probes_total", NULL, NULL,                      \
	  "Failure-detector probes sent.",                                    \
	  t.st.probes)                                                        \
	X(PROBE_FAILS, "probe_fails", NONE, NULL,                             \
	  COUNTER, "grapevine_probe_failures_total", NULL, NULL,              \
	  "Probes not answered in time.",                                     \
	  t.st.probe_fails)                                                   \
	X(SUSPICIONS, "suspicions", NONE, NULL,                               \
	  COUNTER, "grapevine_suspicions_total", NULL, NULL,                  \
	  "Members this node began to suspect.",                              \
	  t.st.suspicions)                                                    \
	X(REFUTES, "refutes", NONE, NULL,                                     \
	  COUNTER, "grapevine_refutes_total", NULL, NULL,                     \
	  "Suspicions of this node it refuted.",                              \
	  t.st.refutes)                                                       \
	X(TOMBSTONES_PURGED, "tombstones_purged", NONE, NULL,                 \
	  COUNTER, "grapevine_tombstones_purged_total", NULL, NULL,           \
	  "Tombstones purged after their grace period.",                      \
	  t.st.tombstones_purged)                                             \
	X(JOINS_REFUSED, "joins_refused", NONE, NULL,                         \
	  COUNTER, "grapevine_joins_refused_total", NULL, NULL,               \
	  "Joins refused for a shard count mismatch (ours or a joiner's).",   \
	  t.st.joins_refused)                                                 \
	X(AUTH_CLEAR, "auth_clear", NONE, NULL,                               \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "clear",         \
	  "Datagrams refused by sealed-gossip checks, by reason.",            \
	  t.st.auth_clear)                                                    \
	X(AUTH_NO_KEYRING, "auth_no_keyring", NONE, NULL,                     \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "no_keyring",    \
	  NULL,                                                               \
	  t.st.auth_no_keyring)                                               \
	X(AUTH_UNKNOWN_KEY, "auth_unknown_key", NONE, NULL,                   \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "unknown_key",   \
	  NULL,                                                               \
	  t.st.auth_unknown_key)                                              \
	X(AUTH_FAILED, "auth_failed", NONE, NULL,                             \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "failed", NULL,  \
	  t.st.auth_failed)                                                   \
	X(AUTH_REPLAYED, "auth_replayed", NONE, NULL,                         \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "replayed", NULL,\
	  t.st.auth_replayed)                                                 \
	X(AUTH_STALE, "auth_stale", NONE, NULL,                               \
	  COUNTER, "grapevine_auth_dropped_total", "reason", "stale", NULL,   \
	  t.st.auth_stale)                                                    \
	X(SEAL_ERRORS, "seal_errors", NONE, NULL,                             \
	  COUNTER, "grapevine_seal_errors_total", NULL, NULL,                 \
	  "Datagrams not sent: sealing failed.",                              \
	  t.st.seal_errors)                                                   \
	X(KEYRING_CHANGES, "keyring_changes", NONE, NULL,                     \
	  COUNTER, "grapevine_keyring_changes_total", NULL, NULL,             \
	  "Keyring changes made by gossiped key operations.",                 \
	  t.st.keyring_changes)                                               \
	X(KEYRING_KEYS, "keyring_keys", NONE, NULL,                           \
	  GAUGE, "grapevine_keyring_keys", NULL, NULL,                        \
	  "Keys in the keyring (0: gossip in the clear).",                    \
	  d->keyring ? gv_keyring_count(d->keyring) : 0)                      \
	X(OUTBOX_DROPS, "outbox_drops", STATS, "outbox_drops",                \
	  COUNTER, "grapevine_outbox_drops_total", NULL, NULL,                \
	  "Datagrams not queued: send queue full.",                           \
	  t.st.outbox_drops)                                                  \
	X(FLOOD_DROPS, "flood_drops", STATS, "flood_drops",                   \
	  COUNTER, "grapevine_flood_drops_total", NULL, NULL,                 \
	  "Writes not queued for flooding (anti-entropy carries them).",      \
	  t.st.flood_drops)                                                   \
	X(RUMOR_DROPS, "rumor_drops", STATS, "rumor_drops",                   \
	  COUNTER, "grapevine_rumor_drops_total", NULL, NULL,                 \
	  "Rumors retired early: rumor queue full.",                          \
	  t.st.rumor_drops)                                                   \
	X(BUSY_REPLIES, "busy_replies", STATS, "busy_replies",                \
	  COUNTER, "grapevine_busy_replies_total", NULL, NULL,                \
	  "Requests answered BUSY: shard queue full.",                        \
	  d->busy_replies)                                                    \
	X(REPLIES_HELD, "replies_held", STATS, "replies_held",                \
	  COUNTER, "grapevine_replies_held_total", NULL, NULL,                \
	  "Replies a shard held back: its reply queue full.",                 \
	  x.replies_held)                                                     \
	X(HOOK_EVENTS_DROPPED, "hook_events_dropped", STATS,                  \
	  "hook_events_dropped",                                              \
	  COUNTER, "grapevine_hook_events_dropped_total", NULL, NULL,         \
	  "Hook events dropped: hook queue full.",                            \
	  x.hook_events)                                                      \
	X(MEMBER_MSGS_DROPPED, "member_msgs_dropped", STATS,                  \
	  "member_msgs_dropped",                                              \
	  COUNTER, "grapevine_member_msgs_dropped_total", NULL, NULL,         \
	  "Membership messages to shards dropped (then resynced).",           \
	  x.member_msgs)                                                      \
	X(CONNECTED_CLIENTS, NULL, CLIENTS, "connected_clients",              \
	  GAUGE, "grapevine_connected_clients", NULL, NULL,                   \
	  "RESP clients connected.",                                          \
	  d->nclients)                                                        \
	X(CLIENT_OUTPUT_LIMIT, NULL, CLIENTS, "client_output_limit",          \
	  GAUGE, NULL, NULL, NULL, NULL,                                      \
	  d->cfg.client_output_limit)                                         \
	X(PAUSED_CLIENTS, "paused_clients", CLIENTS, "paused_clients",        \
	  GAUGE, "grapevine_paused_clients", NULL, NULL,                      \
	  "Clients not read now (backpressure).",                             \
	  x.paused_clients + gvd_tsum(d, GVD_T_PAUSED))                      \
	X(CLIENT_READ_PAUSES, "client_read_pauses", CLIENTS,                  \
	  "client_read_pauses",                                               \
	  COUNTER, "grapevine_client_read_pauses_total", NULL, NULL,          \
	  "Times a client stopped being read (backpressure).",                \
	  d->read_pauses + gvd_tsum(d, GVD_T_PAUSES))                        \
	X(CLIENT_OUTPUT_DISCONNECTS, "client_output_disconnects", CLIENTS,    \
	  "client_output_disconnects",                                        \
	  COUNTER, "grapevine_client_output_disconnects_total", NULL, NULL,   \
	  "Clients closed: unsent replies over the output limit.",            \
	  d->out_disconnects + gvd_tsum(d, GVD_T_OUTDISC))                   \
	X(CLIENT_INPUT_DISCONNECTS, "client_input_disconnects", CLIENTS,      \
	  "client_input_disconnects",                                         \
	  COUNTER, "grapevine_client_input_disconnects_total", NULL, NULL,    \
	  "Clients closed: a request over the input limit.",                  \
	  d->in_disconnects + gvd_tsum(d, GVD_T_INDISC))                     \
	X(METRICS_REFUSED, "metrics_refused", STATS, "metrics_refused",       \
	  COUNTER, "grapevine_metrics_refused_total", NULL, NULL,             \
	  "Metrics connections closed at once: too many open.",               \
	  d->metrics_refused)                                                 \
	X(METRICS_TIMEOUTS, "metrics_timeouts", STATS, "metrics_timeouts",    \
	  COUNTER, "grapevine_metrics_timeouts_total", NULL, NULL,            \
	  "Metrics connections closed unanswered or unread at the deadline.", \
	  d->metrics_timeouts)                                                \
	X(EXPIRED_KEYS, "expired_keys", STATS, "expired_keys",                \
	  COUNTER, "grapevine_expired_keys_total", NULL, NULL,                \
	  "Expired keys reclaimed by the active expiry cycle.",               \
	  t.st.expired_reclaimed)                                             \
	X(COUNTER_INCRS, "counter_incrs", STATS, "counter_incrs",             \
	  COUNTER, "grapevine_increments_total", NULL, NULL,               \
	  "INCR-family changes made at this node.",                           \
	  t.st.counter_incrs)                                                 \
	X(COUNTER_JOINS, "counter_joins", STATS, "counter_joins",             \
	  COUNTER, "grapevine_crdt_joins_total", NULL, NULL,               \
	  "Counter states joined with a concurrent one (never conflicts).",   \
	  t.st.counter_joins)                                                 \
	X(FLUSHES, "flushes", STATS, "flushes",                               \
	  COUNTER, "grapevine_flushes_total", NULL, NULL,                     \
	  "FLUSHDB operations applied (local or from a peer), per shard.",    \
	  t.st.flushes)                                                       \
	X(FLUSHED_ENTRIES, "flushed_entries", STATS, "flushed_entries",       \
	  COUNTER, "grapevine_flushed_entries_total", NULL, NULL,             \
	  "Entries removed by flushes.",                                      \
	  t.st.flushed_entries)                                               \
	X(FLUSHED_UPDATES, "flushed_updates", STATS, "flushed_updates",       \
	  COUNTER, "grapevine_flushed_updates_total", NULL, NULL,             \
	  "Writes older than the last flush, dropped on arrival.",            \
	  t.st.flushed_updates)                                               \
	X(NX_CONFLICTS, "nx_conflicts", STATS, "nx_conflicts",                \
	  COUNTER, "grapevine_nx_conflicts_total", NULL, NULL,                \
	  "Conflicts of two conditional writes (SET NX) that both "           \
	  "succeeded at their nodes.",                                        \
	  t.st.nx_conflicts)                                                  \
	X(REQS_HELD, "reqs_held", STATS, "reqs_held",                         \
	  COUNTER, "grapevine_reqs_held_total", NULL, NULL,                   \
	  "Requests that waited for room on the shard queues.",               \
	  d->reqs_held)                                                       \
	X(OOM_REFUSED, "oom_refused", STATS, "oom_refused",                   \
	  COUNTER, "grapevine_oom_refused_total", NULL, NULL,                 \
	  "Writes refused whole before dispatch: a shard at its memory cap.", \
	  d->oom_refused)                                                     \
	X(EXECS, "execs", STATS, "execs",                                     \
	  COUNTER, "grapevine_execs_total", NULL, NULL,                       \
	  "Transactions run (EXEC, WATCHed keys unchanged or not).",          \
	  d->execs)                                                           \
	X(EXEC_ABORTS, "exec_aborts", STATS, "exec_aborts",                   \
	  COUNTER, "grapevine_exec_aborts_total", NULL, NULL,                 \
	  "Transactions refused with EXECABORT (a command refused in MULTI).",\
	  d->exec_aborts)                                                     \
	X(WATCH_ABORTS, "watch_aborts", STATS, "watch_aborts",                \
	  COUNTER, "grapevine_watch_aborts_total", NULL, NULL,                \
	  "EXECs answered null: a WATCHed key changed on this node.",         \
	  d->watch_aborts)                                                    \
	X(WATCH_LATE, "watch_late", STATS, "watch_late",                      \
	  COUNTER, "grapevine_watch_late_total", NULL, NULL,                  \
	  "WATCHed keys changed by gossip between an EXEC's check and apply.",\
	  d->watch_late)                                                      \
	X(STREAM_VALUES_IN, "stream_values_in", STATS, "stream_values_in",    \
	  COUNTER, "grapevine_stream_values_total", "dir", "in",              \
	  "Large values fetched (in) and served (out) over the stream "       \
	  "channel.",                                                         \
	  t.st.stream_values_in)                                              \
	X(STREAM_VALUES_OUT, "stream_values_out", STATS, "stream_values_out", \
	  COUNTER, "grapevine_stream_values_total", "dir", "out", NULL,       \
	  t.st.stream_values_out)                                             \
	X(STREAM_VALUE_BYTES_IN, "stream_value_bytes_in", STATS,              \
	  "stream_value_bytes_in",                                            \
	  COUNTER, "grapevine_stream_value_bytes_total", "dir", "in",         \
	  "Bytes of large values fetched (in) and served (out).",             \
	  t.st.stream_value_bytes_in)                                         \
	X(STREAM_VALUE_BYTES_OUT, "stream_value_bytes_out", STATS,            \
	  "stream_value_bytes_out",                                           \
	  COUNTER, "grapevine_stream_value_bytes_total", "dir", "out", NULL,  \
	  t.st.stream_value_bytes_out)                                        \
	X(STREAM_FETCHES, "stream_fetches", STATS, "stream_fetches",          \
	  COUNTER, "grapevine_stream_fetches_total", "outcome", "started",    \
	  "Fetches of large values: started, moved to another source, "       \
	  "given up (anti-entropy announces again), not started (table "      \
	  "full).",                                                           \
	  t.st.stream_fetches)                                                \
	X(STREAM_FETCH_RETRIES, "stream_fetch_retries", STATS,                \
	  "stream_fetch_retries",                                             \
	  COUNTER, "grapevine_stream_fetches_total", "outcome", "retried",    \
	  NULL, t.st.stream_fetch_retries)                                    \
	X(STREAM_FETCH_FAILED, "stream_fetch_failed", STATS,                  \
	  "stream_fetch_failed",                                              \
	  COUNTER, "grapevine_stream_fetches_total", "outcome", "failed",     \
	  NULL, t.st.stream_fetch_failed)                                     \
	X(STREAM_FETCH_DROPS, "stream_fetch_drops", STATS,                    \
	  "stream_fetch_drops",                                               \
	  COUNTER, "grapevine_stream_fetches_total", "outcome", "dropped",    \
	  NULL, t.st.stream_fetch_drops)                                      \
	X(STREAM_TIMEOUTS, "stream_timeouts", STATS, "stream_timeouts",       \
	  COUNTER, "grapevine_stream_timeouts_total", NULL, NULL,             \
	  "Fetches that made no progress for the stream timeout.",            \
	  t.st.stream_timeouts)                                               \
	X(STREAM_BAD, "stream_bad", STATS, "stream_bad",                      \
	  COUNTER, "grapevine_stream_bad_total", NULL, NULL,                  \
	  "Stream messages malformed or failing their value's digest: "       \
	  "dropped.",                                                         \
	  t.st.stream_bad)                                                    \
	X(STREAM_REFUSED, "stream_refused", STATS, "stream_refused",          \
	  COUNTER, "grapevine_stream_refused_total", NULL, NULL,              \
	  "Large values refused here: over --max-value or --max-memory.",     \
	  t.st.stream_refused)                                                \
	X(STREAM_BLOCKED, "stream_blocked", STATS, "stream_blocked",          \
	  COUNTER, "grapevine_stream_blocked_total", NULL, NULL,              \
	  "Stream sends that found the connection's queue full "              \
	  "(--stream-buffer): the transfer waits.",                           \
	  t.st.stream_blocked)                                                \
	X(STREAM_STALLS, "stream_stalls", STATS, "stream_stalls",             \
	  COUNTER, "grapevine_stream_stalls_total", NULL, NULL,               \
	  "Transfers abandoned: the peer took nothing for 10 s.",             \
	  t.st.stream_stalls)                                                 \
	X(STREAM_BYTES_IN, "stream_bytes_in", STATS, "stream_bytes_in",       \
	  COUNTER, "grapevine_stream_bytes_total", "dir", "in",               \
	  "Bytes of stream messages received and sent.",                      \
	  t.st.stream_bytes_in)                                               \
	X(STREAM_BYTES_OUT, "stream_bytes_out", STATS, "stream_bytes_out",    \
	  COUNTER, "grapevine_stream_bytes_total", "dir", "out", NULL,        \
	  t.st.stream_bytes_out)                                              \
	X(STREAM_CONNS, "stream_conns", STATS, "stream_conns",                \
	  GAUGE, "grapevine_stream_connections", NULL, NULL,                  \
	  "Stream channel connections open (TCP).",                           \
	  t.tcp.conns)                                                        \
	X(STREAM_QUEUED, "stream_queued_bytes", STATS, "stream_queued_bytes", \
	  GAUGE, "grapevine_stream_queued_bytes", NULL, NULL,                 \
	  "Bytes waiting in the stream connections' queues.",                 \
	  t.tcp.queued_bytes)                                                 \
	X(STREAM_CONNS_REFUSED, "stream_conns_refused", STATS,                \
	  "stream_conns_refused",                                             \
	  COUNTER, "grapevine_stream_conns_refused_total", NULL, NULL,        \
	  "Stream connections refused at the handshake (another cluster, "    \
	  "not sealed alike, unknown key, too many).",                        \
	  t.tcp.refused)                                                      \
	X(STREAM_AUTH_FAILED, "stream_auth_failed", STATS,                    \
	  "stream_auth_failed",                                               \
	  COUNTER, "grapevine_stream_auth_failed_total", NULL, NULL,          \
	  "Sealed stream frames that failed authentication (the connection "  \
	  "is closed).",                                                      \
	  t.tcp.auth_failed)                                                  \
	X(STREAM_CONNECT_FAILED, "stream_connect_failed", STATS,              \
	  "stream_connect_failed",                                            \
	  COUNTER, "grapevine_stream_connect_failed_total", NULL, NULL,       \
	  "Stream connections that could not be opened.",                     \
	  t.tcp.connect_failed)                                               \
	X(TYPE_CONFLICTS, "type_conflicts", STATS, "type_conflicts",          \
	  COUNTER, "grapevine_type_conflicts_total", NULL, NULL,              \
	  "A string and a hash written at once at two nodes: the newer won.", \
	  t.st.type_conflicts)                                                \
	X(HASH_FIELDS_KILLED, "hash_fields_killed", STATS,                    \
	  "hash_fields_killed", COUNTER,                                      \
	  "grapevine_hash_fields_killed_total", NULL, NULL,                   \
	  "Hash fields removed: older than a DEL, overwrite or expiry.",      \
	  t.st.hash_fields_killed)                                            \
	X(HASH_REFUSED, "hash_refused", STATS, "hash_refused",                \
	  COUNTER, "grapevine_hash_refused_total", NULL, NULL,                \
	  "Hash field writes that arrived already dead, dropped.",            \
	  t.st.hash_refused)                                                  \
	X(COMPRESSED_DATAGRAMS, "compressed_datagrams", STATS,                \
	  "compressed_datagrams",                                             \
	  COUNTER, "grapevine_compressed_datagrams_total", NULL, NULL,        \
	  "Gossip datagrams sent zstd-compressed.",                           \
	  t.st.compressed_datagrams)                                          \
	X(COMPRESS_IN_BYTES, "compress_in_bytes", NONE, NULL,                 \
	  COUNTER, "grapevine_compress_bytes_total", "stage", "raw",          \
	  "Records of the compressed datagrams, before (raw) and after.",     \
	  t.st.compress_in_bytes)                                             \
	X(COMPRESS_OUT_BYTES, "compress_out_bytes", NONE, NULL,               \
	  COUNTER, "grapevine_compress_bytes_total", "stage", "compressed",   \
	  NULL,                                                               \
	  t.st.compress_out_bytes)                                            \
	X(COMPRESS_SKIPPED, "compress_skipped", STATS, "compress_skipped",    \
	  COUNTER, "grapevine_compress_skipped_total", NULL, NULL,            \
	  "Datagrams tried and sent raw: compression saved too little.",      \
	  t.st.compress_skipped)                                              \
	X(DECOMPRESSED_DATAGRAMS, "decompressed_datagrams", NONE, NULL,       \
	  COUNTER, "grapevine_decompressed_datagrams_total", NULL, NULL,      \
	  "Compressed gossip datagrams received and inflated.",               \
	  t.st.decompressed_datagrams)                                        \
	X(DECOMPRESS_ERRORS, "decompress_errors", STATS, "decompress_errors", \
	  COUNTER, "grapevine_decompress_errors_total", NULL, NULL,           \
	  "Compressed datagrams refused: a bad frame (among datagrams_bad).", \
	  t.st.decompress_errors)                                             \
	X(COMPRESS_NS, "compress_ns", NONE, NULL, /* /metrics: seconds */     \
	  COUNTER, NULL, NULL, NULL, NULL,                                    \
	  t.st.compress_ns)                                                   \
	X(DECOMPRESS_NS, "decompress_ns", NONE, NULL,                         \
	  COUNTER, NULL, NULL, NULL, NULL,                                    \
	  t.st.decompress_ns)                                                 \
	X(STREAM_CHUNKS_ZIPPED, "stream_chunks_zipped", STATS,                \
	  "stream_chunks_zipped",                                             \
	  COUNTER, "grapevine_stream_chunks_compressed_total", "dir", "out",  \
	  "Large values' stream chunks sent (out) and received (in) "         \
	  "zstd-compressed (their bytes are in the compression totals).",     \
	  t.st.stream_chunks_zipped)                                          \
	X(STREAM_CHUNKS_UNZIPPED, "stream_chunks_unzipped", STATS,            \
	  "stream_chunks_unzipped",                                           \
	  COUNTER, "grapevine_stream_chunks_compressed_total", "dir", "in",   \
	  NULL, t.st.stream_chunks_unzipped)                                  \
	X(STREAM_CANCELS, "stream_cancels", STATS, "stream_cancels",          \
	  COUNTER, "grapevine_stream_cancels_total", NULL, NULL,              \
	  "Transfers stopped by their fetcher (it asked another source).",    \
	  t.st.stream_cancels)                                                \
	X(FE_LOCAL, "frontend_local", STATS, "frontend_local",               \
	  COUNTER, "grapevine_frontend_commands_total", "path", "local",      \
	  "Commands a worker thread ran for the clients it serves: on its "   \
	  "own shards (local) or another thread's (hop).",                    \
	  gvd_tsum(d, GVD_T_LOCAL))                                           \
	X(FE_HOPS, "frontend_hops", STATS, "frontend_hops",                   \
	  COUNTER, "grapevine_frontend_commands_total", "path", "hop",        \
	  NULL, gvd_tsum(d, GVD_T_HOPS))                                      \
	X(FE_SERVED, "frontend_served", STATS, "frontend_served",             \
	  COUNTER, "grapevine_frontend_clients_served_total", NULL, NULL,     \
	  "Clients given to a worker thread to serve (--frontend threads).",  \
	  gvd_tsum(d, GVD_T_SERVED))                                          \
	X(FE_HANDED, "frontend_handed", STATS, "frontend_handed",             \
	  COUNTER, "grapevine_frontend_clients_handed_total", NULL, NULL,     \
	  "Clients a worker thread handed to the front-end thread (a "        \
	  "command of a kind it does not run).",                              \
	  gvd_tsum(d, GVD_T_HANDED))                                          \
	X(TREE_IHAVE_OUT, "tree_ihave_out", STATS, "tree_ihave_out",          \
	  COUNTER, "grapevine_tree_ihave_out_total", NULL, NULL,              \
	  "Write ids announced to lazy neighbours (broadcast tree).",         \
	  t.st.tree_ihave_out)                                                \
	X(TREE_IHAVE_IN, "tree_ihave_in", STATS, "tree_ihave_in",             \
	  COUNTER, "grapevine_tree_ihave_in_total", NULL, NULL,               \
	  "Write ids announced to us (broadcast tree).",                      \
	  t.st.tree_ihave_in)                                                 \
	X(TREE_GRAFTS_OUT, "tree_grafts_out", STATS, "tree_grafts_out",       \
	  COUNTER, "grapevine_tree_grafts_out_total", NULL, NULL,             \
	  "Announced writes asked for: the tree did not bring them.",         \
	  t.st.tree_grafts_out)                                               \
	X(TREE_GRAFT_DROPS, "tree_graft_drops", STATS, "tree_graft_drops",    \
	  COUNTER, "grapevine_tree_graft_drops_total", NULL, NULL,            \
	  "Missing writes not asked for: GRAFT budget spent.",                \
	  t.st.tree_graft_drops)                                              \
	X(TREE_ANN_DROPS, "tree_ann_drops", STATS, "tree_ann_drops",          \
	  COUNTER, "grapevine_tree_ann_drops_total", NULL, NULL,              \
	  "Announcements not queued (anti-entropy covers them).",             \
	  t.st.tree_ann_drops)
/* clang-format on */

enum gvd_counter_id {
#define GVD_C_ID(id, ...) GVD_C_##id,
	GVD_COUNTERS(GVD_C_ID)
#undef GVD_C_ID
	GVD_NCOUNTERS
};

/* INFO sections that hold rows of the table, in INFO's order. */
enum gvd_info_sec {
	GVD_SEC_NONE,
	GVD_SEC_CLIENTS,
	GVD_SEC_MEMORY,
	GVD_SEC_STATS,
	GVD_SEC_REPL,
};

/* A row of the table without its value (see the top of this file). */
struct gvd_counter {
	const char *stats;
	enum gvd_info_sec sec;
	const char *info;
	enum gv_metric_type type;
	const char *prom;
	const char *lname, *lval;
	const char *help;
};

extern const struct gvd_counter gvd_counters[GVD_NCOUNTERS];

struct pub;

/*
 * gvd_counters_read - every row's value now, into v[GVD_NCOUNTERS], from
 * one gvd_sum_stats and one gvd_sum_drops; the summed stats also into *sum
 * unless sum is NULL (for INFO's reach). On the front end's thread.
 */
void gvd_counters_read(gv_daemon *d, uint64_t *v, struct pub *sum);

/* compression_ratio (GV.STATS, INFO, /metrics) from a read of the rows:
 * the compressed datagrams' raw bytes over their compressed bytes; 1
 * while none was compressed. */
double gvd_compression_ratio(const uint64_t *v);

#endif
