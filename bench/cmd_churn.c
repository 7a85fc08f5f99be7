/* SPDX-License-Identifier: MIT */
/*
 * cmd_churn.c - `gvbench churn`: nodes crash under write load on real
 * loopback sockets; how long until every live node knows, and, with
 * --restart, how long a node restarted empty takes to catch up.
 *
 * A crash is a host crash as the network sees it: the victim's worker
 * detaches it (netcluster_kill: its timers stop, it is never called again,
 * datagrams that arrive at its socket are dropped, nothing more leaves
 * it), the socket stays bound but silent, so peers get no "port
 * unreachable" hint, as with a machine that lost power. A restart is what
 * grapevined does when it starts again: a fresh node, empty, with a new
 * id, on the same address, joining through a live node (a seed).
 *
 * Detection times come from the live nodes' member callbacks, timed on
 * their workers (CLOCK_MONOTONIC, the clock the kill is timed with). The
 * catch-up is polled every CATCHUP_POLL_US: a restarted node has caught up
 * when it holds every background key at least at the version the live
 * nodes held when it restarted (a read right after the restarts).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "cmds_net.h"
#include "core/node.h"
#include "core/rng.h"
#include "io/io.h"

#define CHURN_USAGE                                                            \
	"usage: gvbench churn --nodes N --kill K [options]\n"                  \
	"\n"                                                                   \
	"Crashes under write load on real UDP sockets (N prejoined\n"          \
	"single-shard nodes on 127.0.0.1, anti-entropy on). After\n"           \
	"--warmup-ms of background writes (--rate per second at random\n"      \
	"live nodes, keys bg:0..--keys-1), K random nodes crash at once: "     \
	"each\n"                                                               \
	"stops sending, receiving and running timers, its socket silent.\n"    \
	"The run then watches for --seconds. With --restart, once every\n"     \
	"live node has declared every crashed node dead (or half the window\n" \
	"passed), each is restarted empty with a new id on its address and\n"  \
	"joins through a live node. At the end the load stops and the run\n"   \
	"waits for every Merkle root to be equal (or --deadline-ms).\n"        \
	"\n"                                                                   \
	"  --nodes N            cluster size (3 .. 2048)\n"                    \
	"  --kill K             nodes crashed (1 .. N-2)\n"                    \
	"  --restart            restart them empty and time the catch-up\n"    \
	"  --rate R             background writes per second (default 200)\n"  \
	"  --keys K             background keyspace (default 1024)\n"          \
	"  --seconds S          window after the crash (default 10)\n"         \
	"  --probe-ms MS        failure-detection probe period, probe\n"       \
	"                       timeout MS/2 (default: the library's,\n"       \
	"                       gv_node_config_default)\n"                     \
	"  --loss P             outgoing datagrams dropped, in [0, 1)\n"       \
	"                       (default 0)\n"                                 \
	"  --interval-ms MS     gossip round (default 100)\n"                  \
	"  --mode M             eager, tree, push, pull or pushpull (default\n"      \
	"                       eager)\n"                                      \
	"  --warmup-ms MS       load before the crash (default 1000)\n"        \
	"  --deadline-ms MS     wait for equal roots at the end (default\n"    \
	"                       10000)\n"                                      \
	"  --workers W          io threads (default: online cores)\n"          \
	"  --io B               auto, uring or mmsg (default auto)\n"          \
	"  --seed S             node ids, victims, load (default 1)\n"         \
	"  --json FILE          append one JSON object (one line)\n"           \
	"\n"                                                                   \
	"suspect_ms / dead_ms per crashed node: from its crash until every\n"  \
	"live node saw it suspect (or dead) / dead; detect_ms = dead_ms.\n"    \
	"Percentiles are nearest-rank over the crashed nodes.\n"               \
	"false_positives: never-crashed nodes some node saw suspect or dead\n" \
	"during the window. catchup_ms: from a restart until the node held\n"  \
	"every key at the version the live nodes held at the restart.\n"

#define POLL_US 5000
#define CATCHUP_POLL_US 10000
#define READ_TIMEOUT_US ((uint64_t)10000000)

struct ch_params {
	size_t nodes, kill, keys;
	bool restart;
	uint64_t rate, seconds, probe_ms, interval_ms, warmup_ms, deadline_ms;
	uint64_t probe_timeout_ms;
	bool probe_set; /* --probe-ms given; else the library's defaults */
	double loss;
	int mode, backend;
	unsigned workers;
	uint64_t seed;
};

struct victim {
	size_t node;
	gv_time suspect, dead; /* µs from the crash; GV_TIME_NEVER */
	gv_time catchup;       /* µs from the restart; GV_TIME_NEVER */
};

struct ch_result {
	struct ch_params p;
	unsigned workers;
	char backend[16];
	uint64_t ae_interval_ms;
	struct victim *v;
	struct delays suspect, dead, pair_dead, catchup;
	size_t detected, caught_up, restarted;
	size_t false_suspect, false_dead;
	gv_time false_first; /* first false suspicion, µs from the crash */
	gv_time restart_at;  /* restarts issued, µs from the crash */
	gv_time roots_equal; /* µs after the load stopped */
	uint64_t bg_queued, bg_skipped;
	netcluster_stats d; /* crash .. end of window */
	double wall_s;
};

/* Background load at random never-crashed nodes, queued as time passes. */
struct load {
	netcluster *c;
	const bool *victim;
	uint64_t rate;
	gv_time start;
	uint64_t due, queued, skipped;
	gv_rng rng;
};

static void
load_run(struct load *l)
{
	size_t n = netcluster_size(l->c);
	uint64_t due;

	if (!l->rate)
		return;
	due = (gv_io_now() - l->start) * l->rate / 1000000;
	/* after a stall, skip (and count) what is over 100 ms late */
	if (due - l->due > l->rate / 10 + 1) {
		l->skipped += due - l->due - (l->rate / 10 + 1);
		l->due = due - (l->rate / 10 + 1);
	}
	for (; l->due < due; l->due++) {
		size_t at;
		do
			at = (size_t)gv_rng_below(&l->rng, n);
		while (l->victim[at]);
		if (netcluster_put_bg(l->c, at, gv_rng_next(&l->rng)))
			l->skipped++;
		else
			l->queued++;
	}
	netcluster_flush(l->c);
}

/* Keep the load going until t. */
static void
load_until(struct load *l, gv_time t)
{
	gv_time now;

	while ((now = gv_io_now()) < t) {
		load_run(l);
		sleep_us(t - now < POLL_US ? t - now : POLL_US);
	}
}

/* Victim j's detection as of now: suspect and dead everywhere, or not. */
static void
detection(netcluster *c, const bool *victim, struct victim *v, gv_time down)
{
	size_t n = netcluster_size(c);
	gv_time s_all = 0, d_all = 0, s, d;

	for (size_t o = 0; o < n; o++) {
		if (victim[o])
			continue;
		netcluster_seen(c, v->node, o, &s, &d);
		if (s == GV_TIME_NEVER)
			s_all = GV_TIME_NEVER;
		else if (s_all != GV_TIME_NEVER && s > s_all)
			s_all = s;
		if (d == GV_TIME_NEVER)
			d_all = GV_TIME_NEVER;
		else if (d_all != GV_TIME_NEVER && d > d_all)
			d_all = d;
	}
	v->suspect = s_all == GV_TIME_NEVER ? s_all
	             : s_all > down         ? s_all - down
	                                    : 0;
	v->dead = d_all == GV_TIME_NEVER ? d_all
	          : d_all > down         ? d_all - down
	                                 : 0;
}

/* Has node i every key at least at ref's version? */
static bool
holds(const netcluster_entry *vals, size_t i, const netcluster_entry *ref,
      size_t keys)
{
	for (size_t k = 0; k < keys; k++) {
		const netcluster_entry *e = &vals[i * keys + k];
		if (ref[k].present &&
		    (!e->present || gv_version_cmp(&e->ver, &ref[k].ver) < 0))
			return false;
	}
	return true;
}

static int
ch_run(const struct ch_params *p, struct ch_result *r)
{
	netcluster_config cfg;
	netcluster *c = NULL;
	netcluster_stats s0, s1;
	struct load l;
	char err[256];
	double w0 = now_s();
	size_t n = p->nodes, k = p->kill;
	int rc;

	r->p = *p;
	netcluster_config_default(&cfg);
	r->ae_interval_ms = cfg.node.ae_interval_ms;
	cfg.nodes = n;
	cfg.workers = p->workers;
	cfg.seed = p->seed;
	cfg.backend = p->backend;
	cfg.bg_keys = p->keys;
	cfg.faults = true;
	cfg.watch_members = true;
	cfg.loss = p->loss;
	net_node_config(&cfg.node, p->mode, p->interval_ms,
	                p->probe_set ? p->probe_ms : 0);
	r->p.probe_ms = cfg.node.probe_interval_ms;
	r->p.probe_timeout_ms = cfg.node.probe_timeout_ms;

	bool *victim = calloc(n, sizeof(*victim));
	bool *up = calloc(n, sizeof(*up));
	bool *nobody = calloc(n, sizeof(*nobody));
	uint64_t *roots = calloc(n, sizeof(*roots));
	uint64_t *tmp = calloc(n * k, sizeof(*tmp));
	netcluster_entry *vals = calloc(n * p->keys, sizeof(*vals));
	netcluster_entry *ref = calloc(p->keys, sizeof(*ref));
	r->v = calloc(k, sizeof(*r->v));
	if (!victim || !up || !nobody || !roots || !tmp || !vals || !ref ||
	    !r->v) {
		fprintf(stderr, "gvbench churn: out of memory\n");
		rc = GV_ENOMEM;
		goto out;
	}
	/* the victims: k distinct nodes drawn from the seed */
	gv_rng rng;
	gv_rng_seed(&rng, p->seed ^ UINT64_C(0x636875726e)); /* "churn" */
	for (size_t j = 0; j < k; j++) {
		size_t at;
		do
			at = (size_t)gv_rng_below(&rng, n);
		while (victim[at]);
		victim[at] = true;
		r->v[j] = (struct victim){at, GV_TIME_NEVER, GV_TIME_NEVER,
		                          GV_TIME_NEVER};
	}

	rc = netcluster_new(&c, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gvbench churn: N=%zu: %s\n", n,
		        err[0] ? err : gv_strerror(rc));
		goto out;
	}
	r->workers = netcluster_workers(c);
	snprintf(r->backend, sizeof(r->backend), "%s", netcluster_backend(c));
	gv_time t0 = netcluster_t0(c), now = gv_io_now();
	if (now < t0)
		sleep_us(t0 - now);
	/* until the crash, the victims take writes too */
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.victim = nobody;
	l.rate = p->rate;
	l.start = t0;
	gv_rng_seed(&l.rng, p->seed ^ UINT64_C(0x62672d6c6f6164)); /* bg */
	load_until(&l, t0 + p->warmup_ms * 1000);
	l.victim = victim;

	rc = netcluster_snapshot(c, &s0, READ_TIMEOUT_US);
	if (rc)
		goto failed;
	gv_time crash = gv_io_now();
	netcluster_watch_from(c, crash);
	for (size_t j = 0; j < k; j++)
		while ((rc = netcluster_kill(c, r->v[j].node)) == GV_EFULL)
			sleep_us(100);
	if (rc)
		goto failed;
	r->restart_at = GV_TIME_NEVER;
	gv_time end = crash + p->seconds * 1000000;
	gv_time restart_by = crash + p->seconds * 1000000 / 2;
	bool restarted = false, all_dead = false;
	gv_time next_poll = 0;

	for (;;) {
		load_run(&l);
		now = gv_io_now();
		if (!all_dead) {
			all_dead = true;
			for (size_t j = 0; j < k; j++) {
				gv_time down =
				        netcluster_down_at(c, r->v[j].node);
				if (!down) {
					all_dead = false;
					continue;
				}
				detection(c, victim, &r->v[j], down);
				all_dead &= r->v[j].dead != GV_TIME_NEVER;
			}
		}
		if (p->restart && !restarted &&
		    (all_dead || now >= restart_by)) {
			/* seed: the first never-crashed node */
			size_t seed = 0;
			while (victim[seed])
				seed++;
			for (size_t j = 0; j < k; j++)
				while ((rc = netcluster_restart(c, r->v[j].node,
				                                seed)) ==
				       GV_EFULL)
					sleep_us(100);
			if (rc)
				goto failed;
			restarted = true;
			r->restart_at = gv_io_now() - crash;
			/* what the live nodes hold now: the catch-up target */
			rc = netcluster_read(c, roots, up, NETCLUSTER_BG,
			                     p->keys, vals, READ_TIMEOUT_US);
			if (rc)
				goto failed;
			memset(ref, 0, p->keys * sizeof(*ref));
			for (size_t i = 0; i < n; i++) {
				if (victim[i])
					continue;
				for (size_t q = 0; q < p->keys; q++) {
					const netcluster_entry *e =
					        &vals[i * p->keys + q];
					if (e->present &&
					    (!ref[q].present ||
					     gv_version_cmp(&e->ver,
					                    &ref[q].ver) > 0))
						ref[q] = *e;
				}
			}
			next_poll = gv_io_now() + CATCHUP_POLL_US;
		}
		if (restarted && r->caught_up < k && now >= next_poll) {
			rc = netcluster_read(c, roots, up, NETCLUSTER_BG,
			                     p->keys, vals, READ_TIMEOUT_US);
			if (rc)
				goto failed;
			now = gv_io_now();
			next_poll = now + CATCHUP_POLL_US;
			r->caught_up = 0;
			for (size_t j = 0; j < k; j++) {
				struct victim *v = &r->v[j];
				gv_time at = netcluster_up_at(c, v->node);
				rc = netcluster_restart_error(c, v->node);
				if (rc) {
					fprintf(stderr,
					        "gvbench churn: restart of "
					        "node "
					        "%zu: %s\n",
					        v->node, gv_strerror(rc));
					goto out;
				}
				if (v->catchup == GV_TIME_NEVER && at &&
				    up[v->node] &&
				    holds(vals, v->node, ref, p->keys))
					v->catchup = now - at;
				r->caught_up += v->catchup != GV_TIME_NEVER;
			}
		}
		if (now >= end)
			break;
		sleep_us(POLL_US);
	}
	rc = netcluster_snapshot(c, &s1, READ_TIMEOUT_US);
	if (rc)
		goto failed;
	netcluster_stats_diff(&r->d, &s0, &s1);
	r->bg_queued = l.queued;
	r->bg_skipped = l.skipped;

	/* detection, pairs, false positives as of the end of the window */
	size_t np = 0;
	for (size_t j = 0; j < k; j++) {
		struct victim *v = &r->v[j];
		gv_time down = netcluster_down_at(c, v->node), s, d;
		detection(c, victim, v, down);
		for (size_t o = 0; o < n; o++) {
			if (victim[o])
				continue;
			netcluster_seen(c, v->node, o, &s, &d);
			tmp[np++] = d == GV_TIME_NEVER ? d
			            : d > down         ? d - down
			                               : 0;
		}
	}
	delays_of(&r->pair_dead, tmp, np);
	r->false_first = GV_TIME_NEVER;
	for (size_t t = 0; t < n; t++) {
		bool sus = false, dead = false;
		gv_time s, d;
		if (victim[t])
			continue;
		for (size_t o = 0; o < n; o++) {
			netcluster_seen(c, t, o, &s, &d);
			sus |= s != GV_TIME_NEVER;
			dead |= d != GV_TIME_NEVER;
			if (s != GV_TIME_NEVER &&
			    (r->false_first == GV_TIME_NEVER ||
			     s - crash < r->false_first))
				r->false_first = s > crash ? s - crash : 0;
		}
		r->false_suspect += sus;
		r->false_dead += dead;
	}
	for (size_t j = 0; j < k; j++) {
		tmp[j] = r->v[j].suspect;
		r->detected += r->v[j].dead != GV_TIME_NEVER;
	}
	delays_of(&r->suspect, tmp, k);
	for (size_t j = 0; j < k; j++)
		tmp[j] = r->v[j].dead;
	delays_of(&r->dead, tmp, k);
	r->restarted = restarted ? k : 0;
	for (size_t j = 0; j < k; j++)
		tmp[j] = r->v[j].catchup;
	delays_of(&r->catchup, tmp, k);

	/* the load stops: every live node should end with the same data */
	gv_time quiet = gv_io_now(), deadline = quiet + p->deadline_ms * 1000;
	r->roots_equal = GV_TIME_NEVER;
	for (;;) {
		rc = netcluster_read(c, roots, up, NETCLUSTER_BG, 0, NULL,
		                     READ_TIMEOUT_US);
		if (rc)
			goto failed;
		now = gv_io_now();
		bool eq = true, have = false;
		uint64_t root = 0;
		for (size_t i = 0; i < n && eq; i++) {
			if (!up[i])
				continue;
			eq = !have || roots[i] == root;
			root = roots[i];
			have = true;
		}
		if (eq) {
			r->roots_equal = now - quiet;
			break;
		}
		if (now >= deadline)
			break;
		sleep_us(POLL_US);
	}
	rc = 0;
	goto out;
failed:
	fprintf(stderr, "gvbench churn: %s\n", gv_strerror(rc));
out:
	/* the workers may still write the arrays after a failed read */
	netcluster_del(c);
	free(victim);
	free(up);
	free(nobody);
	free(roots);
	free(tmp);
	free(vals);
	free(ref);
	r->wall_s = now_s() - w0;
	return rc;
}

static void
ms_or_dash(FILE *f, gv_time us)
{
	if (us == GV_TIME_NEVER)
		fprintf(f, "%9s", "-");
	else
		fprintf(f, "%9.1f", (double)us / 1000.0);
}

static void
ch_print(FILE *f, const struct ch_result *r)
{
	const struct ch_params *p = &r->p;
	const netcluster_stats *d = &r->d;

	fprintf(f,
	        "churn: mode=%s nodes=%zu kill=%zu restart=%s rate=%" PRIu64
	        "/s keys=%zu window=%" PRIu64 "s probe=%" PRIu64
	        "/%" PRIu64 "ms loss=%g interval=%" PRIu64 "ms seed=%" PRIu64
	        " workers=%u io=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->kill,
	        p->restart ? "yes" : "no", p->rate, p->keys, p->seconds,
	        p->probe_ms, p->probe_timeout_ms, p->loss, p->interval_ms,
	        p->seed, r->workers, r->backend);
	fprintf(f, "  %6s %9s %9s %9s\n", "node", "suspect", "dead", "catchup");
	for (size_t j = 0; j < p->kill; j++) {
		fprintf(f, "  %6zu ", r->v[j].node);
		ms_or_dash(f, r->v[j].suspect);
		fprintf(f, " ");
		ms_or_dash(f, r->v[j].dead);
		fprintf(f, " ");
		ms_or_dash(f, r->v[j].catchup);
		fprintf(f, "\n");
	}
	fprintf(f, "  suspect          ");
	delays_print(f, &r->suspect);
	fprintf(f, "\n  dead (detect)    ");
	delays_print(f, &r->dead);
	fprintf(f, "  (%zu/%zu seen dead by every live node)\n", r->detected,
	        p->kill);
	fprintf(f, "  dead per pair    ");
	delays_print(f, &r->pair_dead);
	fprintf(f, "\n");
	if (p->restart) {
		fprintf(f, "  catchup          ");
		delays_print(f, &r->catchup);
		fprintf(f, "  (%zu/%zu caught up)\n", r->caught_up, p->kill);
	}
	fprintf(f,
	        "  false positives  %zu live nodes suspected (%zu declared "
	        "dead); first at ",
	        r->false_suspect, r->false_dead);
	ms_or_dash(f, r->false_first);
	fprintf(f, " ms, restarts at ");
	ms_or_dash(f, r->restart_at);
	fprintf(f, " ms after the crash\n");
	fprintf(f, "  roots equal      ");
	ms_or_dash(f, r->roots_equal);
	fprintf(f, " ms after the load stopped\n");
	fprintf(f,
	        "  window           %" PRIu64 " probes, %" PRIu64
	        " failed, %" PRIu64 " suspicions, %" PRIu64
	        " refutations, %" PRIu64 " ae sessions; %" PRIu64
	        " background writes (%" PRIu64 " skipped)\n",
	        d->probes, d->probe_fails, d->suspicions, d->refutes,
	        d->ae_sessions, d->bg_puts, r->bg_skipped);
	fprintf(f, "  wall             %.2f s\n", r->wall_s);
}

static void
ch_json(FILE *f, const struct ch_result *r, const struct machine *m)
{
	const struct ch_params *p = &r->p;
	const netcluster_stats *d = &r->d;

	fprintf(f, "{\"bench\":\"churn\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"mode\":");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f,
	        ",\"nodes\":%zu,\"kill\":%zu,\"restart\":%s,\"rate\":%" PRIu64
	        ",\"keys\":%zu,\"seconds\":%" PRIu64 ",\"probe_ms\":%" PRIu64
	        ",\"probe_timeout_ms\":%" PRIu64 ",\"loss\":%g"
	        ",\"interval_ms\":%" PRIu64 ",\"ae_interval_ms\":%" PRIu64
	        ",\"seed\":%" PRIu64 ",\"workers\":%u,\"io_backend\":",
	        p->nodes, p->kill, p->restart ? "true" : "false", p->rate,
	        p->keys, p->seconds, p->probe_ms, p->probe_timeout_ms, p->loss,
	        p->interval_ms, r->ae_interval_ms, p->seed, r->workers);
	json_str(f, r->backend);
	fprintf(f, ",\"crash\":\"detach\",\"victims\":[");
	for (size_t j = 0; j < p->kill; j++) {
		fprintf(f, "%s{\"node\":%zu,\"suspect_ms\":", j ? "," : "",
		        r->v[j].node);
		json_ms(f, r->v[j].suspect, 0);
		fprintf(f, ",\"dead_ms\":");
		json_ms(f, r->v[j].dead, 0);
		fprintf(f, ",\"catchup_ms\":");
		json_ms(f, r->v[j].catchup, 0);
		fprintf(f, "}");
	}
	fprintf(f, "],\"detected\":%zu", r->detected);
	delays_json(f, "detect_ms", &r->dead);
	delays_json(f, "suspect_ms", &r->suspect);
	delays_json(f, "dead_ms", &r->dead);
	delays_json(f, "observer_dead_ms", &r->pair_dead);
	fprintf(f,
	        ",\"false_positives\":%zu,\"false_dead\":%zu"
	        ",\"restarted\":%zu,\"caught_up\":%zu",
	        r->false_suspect, r->false_dead, r->restarted, r->caught_up);
	fprintf(f, ",\"false_first_ms\":");
	json_ms(f, r->false_first, 0);
	fprintf(f, ",\"restart_at_ms\":");
	json_ms(f, r->restart_at, 0);
	delays_json(f, "catchup_ms", &r->catchup);
	fprintf(f, ",\"roots_equal_ms\":");
	json_ms(f, r->roots_equal, 0);
	fprintf(f,
	        ",\"background_writes\":%" PRIu64
	        ",\"background_skipped\":%" PRIu64 ",\"down_puts\":%" PRIu64,
	        d->bg_puts, r->bg_skipped, d->down_puts);
	fprintf(f,
	        ",\"window\":{\"probes\":%" PRIu64 ",\"probe_fails\":%" PRIu64
	        ",\"suspicions\":%" PRIu64 ",\"refutes\":%" PRIu64
	        ",\"ae_sessions\":%" PRIu64 ",\"ae_entries_sent\":%" PRIu64
	        ",\"suspect_events\":%" PRIu64 ",\"dead_events\":%" PRIu64
	        ",\"kernel_drops\":%" PRIu64 "}",
	        d->probes, d->probe_fails, d->suspicions, d->refutes,
	        d->ae_sessions, d->ae_entries_sent, d->ev_suspect, d->ev_dead,
	        d->io_kernel_drops);
	fprintf(f, ",\"wall_s\":");
	json_num(f, r->wall_s, true);
	json_end(f, m);
}

int
cmd_churn(int argc, char **argv)
{
	uint64_t nodes = 0, kill = 0, rate = 200, keys = 1024, seconds = 10;
	uint64_t probe = 0, interval = 100, warmup = 1000, deadline = 10000;
	double loss = 0;
	uint64_t workers = 0, seed = 1;
	bool restart = false;
	int mode = GV_MODE_EAGER;
	const char *json = NULL;
	int backend = GV_IO_AUTO;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 3,
	         .umax = NETCLUSTER_WATCH_MAX},
	        {.name = "--kill",
	         .kind = OPT_U64,
	         .dst = &kill,
	         .umin = 1,
	         .umax = NETCLUSTER_WATCH_MAX},
	        {.name = "--restart", .kind = OPT_FLAG, .dst = &restart},
	        {.name = "--rate",
	         .kind = OPT_U64,
	         .dst = &rate,
	         .umax = 10000000},
	        {.name = "--keys",
	         .kind = OPT_U64,
	         .dst = &keys,
	         .umin = 1,
	         .umax = 1000000},
	        {.name = "--seconds",
	         .kind = OPT_U64,
	         .dst = &seconds,
	         .umin = 1,
	         .umax = 3600},
	        {.name = "--probe-ms",
	         .kind = OPT_U64,
	         .dst = &probe,
	         .umin = 2,
	         .umax = 60000},
	        {.name = "--loss",
	         .kind = OPT_F64,
	         .dst = &loss,
	         .fmin = 0,
	         .fmax = 1,
	         .fmax_open = true},
	        {.name = "--interval-ms",
	         .kind = OPT_U64,
	         .dst = &interval,
	         .umin = 1,
	         .umax = 3600000},
	        {.name = "--mode", .kind = OPT_MODE, .dst = &mode},
	        {.name = "--warmup-ms",
	         .kind = OPT_U64,
	         .dst = &warmup,
	         .umax = 3600000},
	        {.name = "--deadline-ms",
	         .kind = OPT_U64,
	         .dst = &deadline,
	         .umin = 1,
	         .umax = 3600000},
	        {.name = "--workers",
	         .kind = OPT_U64,
	         .dst = &workers,
	         .umin = 1,
	         .umax = 1024},
	        {.name = "--io", .kind = OPT_IO, .dst = &backend},
	        {.name = "--seed",
	         .kind = OPT_U64,
	         .dst = &seed,
	         .umax = UINT64_MAX},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	};
	enum { O_NODES, O_KILL };
	int rc = parse_opts("churn", CHURN_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!opts[O_NODES].seen || !opts[O_KILL].seen) {
		fprintf(stderr, "gvbench churn: --nodes N and --kill K are "
		                "required (see gvbench churn --help)\n");
		return EXIT_USAGE;
	}
	if (kill + 2 > nodes) {
		fprintf(stderr,
		        "gvbench churn: --kill %" PRIu64 " leaves fewer than 2 "
		        "of %" PRIu64 " nodes alive\n",
		        kill, nodes);
		return EXIT_USAGE;
	}

	struct machine m;
	machine_get(&m);
	struct ch_params p = {
	        .nodes = nodes,
	        .kill = kill,
	        .keys = keys,
	        .restart = restart,
	        .rate = rate,
	        .seconds = seconds,
	        .probe_ms = probe,
	        .probe_set = probe != 0,
	        .loss = loss,
	        .interval_ms = interval,
	        .warmup_ms = warmup,
	        .deadline_ms = deadline,
	        .mode = mode,
	        .backend = backend,
	        .workers = (unsigned)workers,
	        .seed = seed,
	};
	struct ch_result r;
	memset(&r, 0, sizeof(r));
	FILE *jf = NULL;
	if (json && json_open("churn", json, &jf))
		return 1;
	rc = 0;
	if (ch_run(&p, &r)) {
		rc = 1;
	} else {
		ch_print(stdout, &r);
		if (jf)
			ch_json(jf, &r, &m);
		if (json_flush("churn", json, jf))
			rc = 1;
	}
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench churn: %s: %s\n", json,
		        strerror(errno));
		rc = 1;
	}
	free(r.v);
	return rc;
}
