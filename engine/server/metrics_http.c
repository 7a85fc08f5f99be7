/* SPDX-License-Identifier: MIT */
/*
 * metrics_http.c - /metrics: one HTTP request on the metrics port, read
 * with a deadline and answered inline by the front end in the Prometheus
 * text format (counters, gauges, the propagation-delay histogram).
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------ metrics */

void
gvd_serve_metrics(gv_daemon *d)
{
	int fd = accept4(d->mfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[2048];
	size_t got = 0;
	/* the front end serves this inline: a request that trickles in gets
	 * half a second in all, not a second per byte */
	gv_time deadline = gv_io_now() + 500000;
	while (got < sizeof(req) - 1) {
		gv_time now = gv_io_now();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			break;
		ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = 0;
	bool ok = !strncmp(req, "GET /metrics ", 13) ||
		  !strncmp(req, "GET / ", 6);
	gv_resp_buf body;
	gv_resp_buf_init(&body, gv_mem_libc(), 0);
	if (ok) {
		struct pub per[MAX_SHARDS], t;
		gvd_sum_stats(d, &t, per);
		char line[512];
#define M(name, type, help, v)                                                \
	do {                                                                  \
		int l_ = snprintf(line, sizeof(line),                         \
				  "# HELP " name " " help "\n# TYPE " name    \
				  " " type "\n" name " %llu\n",               \
				  (unsigned long long)(v));                   \
		gv_resp_buf_append(&body, line, (size_t)l_);                  \
	} while (0)
		M("grapevine_datagrams_in_total", "counter",
		  "Datagrams received.", t.st.dgrams_in);
		M("grapevine_datagrams_out_total", "counter", "Datagrams sent.",
		  t.st.dgrams_out);
		M("grapevine_datagrams_bad_total", "counter",
		  "Datagrams dropped as malformed.", t.st.dgrams_bad);
		M("grapevine_bytes_in_total", "counter", "Bytes received.",
		  t.st.bytes_in);
		M("grapevine_bytes_out_total", "counter", "Bytes sent.",
		  t.st.bytes_out);
		M("grapevine_updates_applied_total", "counter",
		  "Remote updates applied.", t.st.merge[GV_MERGE_APPLIED]);
		M("grapevine_updates_duplicate_total", "counter",
		  "Duplicate updates received.",
		  t.st.merge[GV_MERGE_DUPLICATE] + t.st.dedup_hits);
		M("grapevine_updates_stale_total", "counter",
		  "Stale updates received.", t.st.merge[GV_MERGE_STALE]);
		M("grapevine_updates_conflict_total", "counter",
		  "Concurrent writes met here.",
		  t.st.merge[GV_MERGE_CONFLICT_APPLIED] +
			  t.st.merge[GV_MERGE_CONFLICT_LOST]);
		M("grapevine_updates_refused_total", "counter",
		  "Updates the store refused (memory cap).",
		  t.st.updates_refused);
		M("grapevine_ae_sessions_total", "counter",
		  "Anti-entropy sessions started.", t.st.ae_sessions);
		M("grapevine_ae_bytes_out_total", "counter",
		  "Anti-entropy bytes sent.", t.st.ae_bytes_out);
		struct drops x;
		gvd_sum_drops(d, &x);
		M("grapevine_outbox_drops_total", "counter",
		  "Datagrams not queued: send queue full.", t.st.outbox_drops);
		M("grapevine_flood_drops_total", "counter",
		  "Writes not queued for flooding (anti-entropy carries them).",
		  t.st.flood_drops);
		M("grapevine_rumor_drops_total", "counter",
		  "Rumors retired early: rumor queue full.", t.st.rumor_drops);
		M("grapevine_busy_replies_total", "counter",
		  "Requests answered BUSY: shard queue full.", d->busy_replies);
		M("grapevine_replies_held_total", "counter",
		  "Replies a shard held back: its reply queue full.",
		  x.replies_held);
		M("grapevine_hook_events_dropped_total", "counter",
		  "Hook events dropped: hook queue full.", x.hook_events);
		M("grapevine_member_msgs_dropped_total", "counter",
		  "Membership messages to shards dropped (then resynced).",
		  x.member_msgs);
		M("grapevine_paused_clients", "gauge",
		  "Clients not read now (backpressure).", x.paused_clients);
		M("grapevine_client_read_pauses_total", "counter",
		  "Times a client stopped being read (backpressure).",
		  d->read_pauses);
		M("grapevine_client_output_disconnects_total", "counter",
		  "Clients closed: unsent replies over the output limit.",
		  d->out_disconnects);
		M("grapevine_client_input_disconnects_total", "counter",
		  "Clients closed: a request over the input limit.",
		  d->in_disconnects);
		M("grapevine_keys", "gauge", "Live keys.", t.keys);
		M("grapevine_partitioned", "gauge",
		  "1 while this node is in a minority partition.",
		  t.partitioned);
		M("grapevine_keyring_keys", "gauge",
		  "Keys in the keyring (0: gossip in the clear).",
		  d->keyring ? gv_keyring_count(d->keyring) : 0);
#undef M
		/* sealed gossip: datagrams refused, by reason */
		{
			static const char *const why[] = {
				"clear", "no_keyring", "unknown_key",
				"failed", "replayed", "stale"};
			const uint64_t v[] = {t.st.auth_clear,
					      t.st.auth_no_keyring,
					      t.st.auth_unknown_key,
					      t.st.auth_failed,
					      t.st.auth_replayed,
					      t.st.auth_stale};
			int l = snprintf(line, sizeof(line),
					 "# HELP grapevine_auth_dropped_total "
					 "Datagrams refused by sealed-gossip "
					 "checks, by reason.\n# TYPE "
					 "grapevine_auth_dropped_total "
					 "counter\n");
			gv_resp_buf_append(&body, line, (size_t)l);
			for (size_t i = 0; i < 6; i++) {
				l = snprintf(line, sizeof(line),
					     "grapevine_auth_dropped_total{"
					     "reason=\"%s\"} %llu\n",
					     why[i], (unsigned long long)v[i]);
				gv_resp_buf_append(&body, line, (size_t)l);
			}
		}
		int l = snprintf(line, sizeof(line),
				 "# HELP grapevine_members Members by state.\n"
				 "# TYPE grapevine_members gauge\n"
				 "grapevine_members{state=\"alive\"} %llu\n"
				 "grapevine_members{state=\"suspect\"} %llu\n"
				 "grapevine_members{state=\"dead\"} %llu\n"
				 "grapevine_members{state=\"left\"} %llu\n",
				 (unsigned long long)t.st.members_alive,
				 (unsigned long long)t.st.members_suspect,
				 (unsigned long long)t.st.members_dead,
				 (unsigned long long)t.st.members_left);
		gv_resp_buf_append(&body, line, (size_t)l);
		/* propagation delay: the shards' histograms summed */
		static const double bounds[] = {0.5, 1, 2, 5, 10, 20, 50,
						100, 200, 500, 1000, 2000, 5000};
		enum { NB = sizeof(bounds) / sizeof(bounds[0]) };
		uint64_t cum[NB + 1] = {0};
		double sum = 0;
		for (unsigned i = 0; i < d->k; i++) {
			uint64_t c[GV_HIST_MAX_BOUNDS + 1];
			double s;
			gv_histogram_read(&d->shards[i].delay, c, &s);
			for (int b = 0; b <= NB; b++)
				cum[b] += c[b];
			sum += s;
		}
		l = snprintf(line, sizeof(line),
			     "# HELP grapevine_propagation_delay_ms Origin "
			     "write (HLC) to local apply, milliseconds.\n"
			     "# TYPE grapevine_propagation_delay_ms "
			     "histogram\n");
		gv_resp_buf_append(&body, line, (size_t)l);
		for (int b = 0; b < NB; b++) {
			l = snprintf(line, sizeof(line),
				     "grapevine_propagation_delay_ms_bucket"
				     "{le=\"%g\"} %llu\n",
				     bounds[b], (unsigned long long)cum[b]);
			gv_resp_buf_append(&body, line, (size_t)l);
		}
		l = snprintf(line, sizeof(line),
			     "grapevine_propagation_delay_ms_bucket{le=\"+Inf\"}"
			     " %llu\ngrapevine_propagation_delay_ms_sum %g\n"
			     "grapevine_propagation_delay_ms_count %llu\n",
			     (unsigned long long)cum[NB], sum,
			     (unsigned long long)cum[NB]);
		gv_resp_buf_append(&body, line, (size_t)l);
	}
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  ok ? "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
			       "version=0.0.4\r\nContent-Length: %zu\r\n"
			       "Connection: close\r\n\r\n"
			     : "HTTP/1.1 404 Not Found\r\nContent-Length: %zu"
			       "\r\nConnection: close\r\n\r\n",
			  gv_resp_buf_pending(&body));
	ssize_t w = write(fd, head, (size_t)hl);
	if (w > 0 && gv_resp_buf_pending(&body))
		w = write(fd, gv_resp_buf_data(&body),
			  gv_resp_buf_pending(&body));
	(void)w;
	gv_resp_buf_fini(&body);
	close(fd);
}
