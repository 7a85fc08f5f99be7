/* SPDX-License-Identifier: MIT */
/*
 * cmd_partition.c - `gvbench partition`: a network partition with
 * conflicting writes on real loopback sockets, and its healing.
 *
 * After a warm-up the drop filter of every io worker cuts the cluster into
 * groups (bench/netcluster.h: every datagram between nodes of different
 * groups is dropped, both directions). At once, each conflicting key is
 * written at one node of every group, and every group writes keys of its
 * own. The run measures how long the nodes of each minority group take to
 * raise the partition event (the nodes' own signal: the reachable part of
 * their membership fell under the quorum), heals the network after
 * --heal-after-ms, and measures how long until every node's Merkle root is
 * the same. It then reads every written key at every node: each must hold
 * the write that wins by last-write-wins among those made, or it was lost.
 *
 * Event times are taken on the workers when the callbacks run, on the
 * CLOCK_MONOTONIC the cut and the heal are timed with; the roots are
 * polled every HEAL_POLL_US, so heal_ms is late by at most that plus one
 * read of the roots.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grapevine/grapevine.h>

#include "cmds_net.h"
#include "core/node.h"
#include "io/io.h"

#define PARTITION_USAGE                                                        \
	"usage: gvbench partition --nodes N [options]\n"                       \
	"\n"                                                                   \
	"A partition with conflicting writes on real UDP sockets (N\n"         \
	"prejoined single-shard nodes on 127.0.0.1, anti-entropy on).\n"       \
	"After --warmup-ms the io workers' drop filter cuts the nodes into\n"  \
	"--groups groups (every datagram between groups dropped, both\n"       \
	"directions); at once each of --conflicts keys is written at a node\n" \
	"of every group, and each group writes --writes keys of its own.\n"    \
	"After --heal-after-ms the network heals; the run ends when every\n"   \
	"Merkle root is equal (or --deadline-ms), then every key is read at\n" \
	"every node and checked against the last-write-wins winner.\n"         \
	"\n"                                                                   \
	"  --nodes N            cluster size (4 .. 4096)\n"                    \
	"  --groups G           groups (2 .. 16, default 2)\n"                 \
	"  --split F            fraction of the nodes in the first group,\n"   \
	"                       (0, 0.5] (default 0.33); the others share\n"   \
	"                       the rest evenly\n"                             \
	"  --conflicts C        keys written in every group (default 20)\n"    \
	"  --writes W           keys of its own per group (default 10)\n"      \
	"  --heal-after-ms T    partition length (default 2000)\n"             \
	"  --probe-ms MS        failure-detection probe period (default\n"     \
	"                       100; probe timeout MS/2)\n"                    \
	"  --interval-ms MS     gossip round (default 100)\n"                  \
	"  --mode M             eager, tree, push, pull or pushpull (default\n"      \
	"                       eager)\n"                                      \
	"  --warmup-ms MS       run before the cut (default 1000)\n"           \
	"  --deadline-ms MS     give up on the heal after this (default\n"     \
	"                       30000)\n"                                      \
	"  --workers W          io threads (default: online cores)\n"          \
	"  --io B               auto, uring or mmsg (default auto)\n"          \
	"  --seed S             node ids (default 1)\n"                        \
	"  --json FILE          append one JSON object (one line)\n"           \
	"\n"                                                                   \
	"A group is a minority when its share of the nodes is under the\n"     \
	"quorum (0.51): its nodes should raise the partition event, the\n"     \
	"others never. detect_ms: from the cut until every minority node\n"    \
	"raised it. heal_ms: from the heal until every root is equal.\n"       \
	"lost: keys whose winning write is not held by every node.\n"

#define HEAL_POLL_US 2000
#define READ_TIMEOUT_US ((uint64_t)10000000)
#define MAX_GROUPS 16

struct pt_params {
	size_t nodes;
	unsigned groups;
	double split;
	size_t conflicts, writes;
	uint64_t heal_after_ms, probe_ms, interval_ms, warmup_ms, deadline_ms;
	int mode, backend;
	unsigned workers;
	uint64_t seed;
};

struct pt_result {
	struct pt_params p;
	unsigned workers;
	char backend[16];
	uint64_t ae_interval_ms;
	double quorum;
	size_t size[MAX_GROUPS];
	bool minority[MAX_GROUPS];
	size_t minority_nodes, detected, false_events;
	struct delays detect; /* over the minority nodes that raised it */
	gv_time detect_all;   /* µs from the cut, GV_TIME_NEVER: not all */
	gv_time heal_all;     /* roots equal, µs from the heal */
	gv_time heal_events;  /* every raised node healed, µs from heal */
	size_t healed, raised_total;
	size_t conflicts, conflict_nodes, unexpected_conflicts;
	size_t keys, writes, lost, stale_nodes;
	netcluster_stats during, after; /* cut..heal, heal..end */
	netcluster_stats end;           /* member views at the end */
	double wall_s;
};

static unsigned
group_of_node(const struct pt_result *r, size_t i)
{
	unsigned g = 0;
	size_t end = r->size[0];

	while (i >= end)
		end += r->size[++g];
	return g;
}

/* The k-th node of group g (k < size[g]). */
static size_t
node_in_group(const struct pt_result *r, unsigned g, size_t k)
{
	size_t base = 0;

	for (unsigned h = 0; h < g; h++)
		base += r->size[h];
	return base + k;
}

/* The group sizes: the first round(split * N), the rest shared evenly. */
static int
plan_groups(struct pt_result *r)
{
	const struct pt_params *p = &r->p;
	size_t first = (size_t)llround(p->split * (double)p->nodes);
	size_t rest, each, extra;

	if (first < 1)
		first = 1;
	rest = p->nodes - first;
	each = rest / (p->groups - 1);
	extra = rest % (p->groups - 1);
	if (each < 1)
		return -1;
	r->size[0] = first;
	for (unsigned g = 1; g < p->groups; g++)
		r->size[g] = each + (g - 1 < extra);
	for (unsigned g = 0; g < p->groups; g++) {
		r->minority[g] =
		        (double)r->size[g] / (double)p->nodes < r->quorum;
		if (r->minority[g])
			r->minority_nodes += r->size[g];
	}
	return 0;
}

/* Wait for every logged write to have run; 0, or the first error. */
static int
wait_writes(netcluster *c, size_t nw, gv_version *ver)
{
	gv_time deadline = gv_io_now() + READ_TIMEOUT_US;

	for (size_t w = 0; w < nw; w++) {
		int rc;

		while (!netcluster_write_result(c, w, &ver[w], &rc)) {
			if (gv_io_now() > deadline)
				return -ETIMEDOUT;
			sleep_us(100);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static bool
all_equal(const uint64_t *roots, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (roots[i] != roots[0])
			return false;
	return true;
}

static int
pt_run(const struct pt_params *p, struct pt_result *r)
{
	netcluster_config cfg;
	netcluster *c = NULL;
	netcluster_stats s0, s1, s2;
	char err[256];
	double w0 = now_s();
	size_t n = p->nodes, nkeys, nwrites;
	int rc;

	r->p = *p;
	netcluster_config_default(&cfg);
	r->quorum = cfg.node.quorum;
	r->ae_interval_ms = cfg.node.ae_interval_ms;
	if (plan_groups(r)) {
		fprintf(stderr,
		        "gvbench partition: %zu nodes cannot make %u groups "
		        "with --split %g\n",
		        n, p->groups, p->split);
		return GV_EINVAL;
	}
	nkeys = p->conflicts + (size_t)p->groups * p->writes;
	nwrites = p->conflicts * p->groups + (size_t)p->groups * p->writes;
	r->keys = nkeys;
	r->writes = nwrites;

	cfg.nodes = n;
	cfg.workers = p->workers;
	cfg.seed = p->seed;
	cfg.backend = p->backend;
	cfg.faults = true;
	cfg.wlog = nwrites;
	cfg.wkeys = nkeys;
	net_node_config(&cfg.node, p->mode, p->interval_ms, p->probe_ms);

	unsigned *group = calloc(n, sizeof(*group));
	uint64_t *roots = calloc(n, sizeof(*roots));
	gv_time *raised = calloc(n, sizeof(*raised));
	gv_time *healed = calloc(n, sizeof(*healed));
	uint64_t *delay = calloc(n, sizeof(*delay));
	gv_version *ver = calloc(nwrites ? nwrites : 1, sizeof(*ver));
	size_t *wkey = calloc(nwrites ? nwrites : 1, sizeof(*wkey));
	netcluster_entry *vals = calloc(n * (nkeys ? nkeys : 1), sizeof(*vals));
	if (!group || !roots || !raised || !healed || !delay || !ver || !wkey ||
	    !vals) {
		fprintf(stderr, "gvbench partition: out of memory\n");
		rc = GV_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		group[i] = group_of_node(r, i);

	rc = netcluster_new(&c, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gvbench partition: N=%zu: %s\n", n,
		        err[0] ? err : gv_strerror(rc));
		goto out;
	}
	r->workers = netcluster_workers(c);
	snprintf(r->backend, sizeof(r->backend), "%s", netcluster_backend(c));
	gv_time t0 = netcluster_t0(c), now = gv_io_now();
	if (now < t0)
		sleep_us(t0 - now);
	sleep_us(p->warmup_ms * 1000);

	rc = netcluster_snapshot(c, &s0, READ_TIMEOUT_US);
	if (rc)
		goto failed;
	gv_time cut;
	rc = netcluster_partition(c, group, &cut);
	if (rc)
		goto failed;

	/* the writes, on every side of the cut at once */
	size_t w = 0;
	for (size_t k = 0; k < p->conflicts; k++)
		for (unsigned g = 0; g < p->groups; g++) {
			size_t at = node_in_group(r, g, k % r->size[g]);
			wkey[w] = k;
			while ((rc = netcluster_write(c, at, w, k)) == GV_EFULL)
				sleep_us(100);
			if (rc)
				goto failed;
			w++;
		}
	for (unsigned g = 0; g < p->groups; g++)
		for (size_t j = 0; j < p->writes; j++) {
			size_t k = p->conflicts + g * p->writes + j;
			size_t at = node_in_group(
			        r, g, (p->conflicts + j) % r->size[g]);
			wkey[w] = k;
			while ((rc = netcluster_write(c, at, w, k)) == GV_EFULL)
				sleep_us(100);
			if (rc)
				goto failed;
			w++;
		}
	rc = wait_writes(c, nwrites, ver);
	if (rc) {
		fprintf(stderr, "gvbench partition: a write failed: %s\n",
		        gv_strerror(rc));
		goto out;
	}

	/* the partition lasts heal_after_ms from the cut */
	gv_time heal_at = cut + p->heal_after_ms * 1000;
	now = gv_io_now();
	if (now < heal_at)
		sleep_us(heal_at - now);
	rc = netcluster_snapshot(c, &s1, READ_TIMEOUT_US);
	if (rc)
		goto failed;
	gv_time heal = netcluster_heal(c);
	netcluster_part_times(c, raised, NULL);

	/* until every root is equal and every partitioned node healed */
	gv_time deadline = heal + p->deadline_ms * 1000;
	r->heal_all = r->heal_events = GV_TIME_NEVER;
	for (;;) {
		rc = netcluster_read(c, roots, NULL, NETCLUSTER_LOGGED, 0, NULL,
		                     READ_TIMEOUT_US);
		if (rc)
			goto failed;
		now = gv_io_now();
		if (r->heal_all == GV_TIME_NEVER && all_equal(roots, n))
			r->heal_all = now - heal;
		if (r->heal_events == GV_TIME_NEVER) {
			gv_time last = 0;
			bool all = true;
			netcluster_part_times(c, NULL, healed);
			for (size_t i = 0; i < n; i++) {
				if (raised[i] == GV_TIME_NEVER)
					continue;
				if (healed[i] == GV_TIME_NEVER)
					all = false;
				else if (healed[i] > last)
					last = healed[i];
			}
			if (all)
				r->heal_events = last > heal ? last - heal : 0;
		}
		if ((r->heal_all != GV_TIME_NEVER &&
		     r->heal_events != GV_TIME_NEVER) ||
		    now >= deadline)
			break;
		sleep_us(HEAL_POLL_US);
	}
	rc = netcluster_snapshot(c, &s2, READ_TIMEOUT_US);
	if (rc)
		goto failed;
	netcluster_stats_diff(&r->during, &s0, &s1);
	netcluster_stats_diff(&r->after, &s1, &s2);
	r->end = s2;

	/* detection, from the partition events recorded since the cut */
	size_t nd = 0;
	r->detect_all = 0;
	for (size_t i = 0; i < n; i++) {
		bool minor = r->minority[group[i]];
		bool did = raised[i] != GV_TIME_NEVER && raised[i] <= heal;

		r->raised_total += did;
		if (!minor) {
			r->false_events += did;
			continue;
		}
		delay[nd++] = did ? raised[i] - cut : GV_TIME_NEVER;
		if (!did)
			r->detect_all = GV_TIME_NEVER;
		else if (r->detect_all != GV_TIME_NEVER &&
		         raised[i] - cut > r->detect_all)
			r->detect_all = raised[i] - cut;
	}
	delays_of(&r->detect, delay, nd);
	r->detected = r->detect.n;
	if (!r->minority_nodes)
		r->detect_all = GV_TIME_NEVER;
	netcluster_part_times(c, NULL, healed);
	for (size_t i = 0; i < n; i++)
		r->healed += raised[i] != GV_TIME_NEVER &&
		             healed[i] != GV_TIME_NEVER;

	/* conflicts: the keys written in every group, and any other */
	for (size_t k = 0; k < nkeys; k++) {
		size_t by = netcluster_conflicts(c, k);
		if (k < p->conflicts) {
			r->conflicts += by > 0;
			r->conflict_nodes += by;
		} else {
			r->unexpected_conflicts += by > 0;
		}
	}

	/* lost: every node must hold each key's last-write-wins winner */
	rc = netcluster_read(c, roots, NULL, NETCLUSTER_LOGGED, nkeys, vals,
	                     READ_TIMEOUT_US);
	if (rc)
		goto failed;
	for (size_t k = 0; k < nkeys; k++) {
		size_t win = SIZE_MAX, bad = 0;

		for (size_t x = 0; x < nwrites; x++)
			if (wkey[x] == k &&
			    (win == SIZE_MAX ||
			     gv_version_cmp(&ver[x], &ver[win]) > 0))
				win = x;
		for (size_t i = 0; i < n; i++) {
			const netcluster_entry *e = &vals[i * nkeys + k];
			bool ok = e->present && e->wid == win &&
			          gv_version_cmp(&e->ver, &ver[win]) == 0;
			bad += !ok;
		}
		r->lost += bad > 0;
		r->stale_nodes += bad;
	}
	rc = 0;
	goto out;
failed:
	fprintf(stderr, "gvbench partition: %s\n", gv_strerror(rc));
out:
	/* the workers may still write the arrays after a failed read */
	netcluster_del(c);
	free(group);
	free(roots);
	free(raised);
	free(healed);
	free(delay);
	free(ver);
	free(wkey);
	free(vals);
	r->wall_s = now_s() - w0;
	return rc;
}

static void
ms_or_dash(FILE *f, gv_time us)
{
	if (us == GV_TIME_NEVER)
		fprintf(f, "-");
	else
		fprintf(f, "%.1f ms", (double)us / 1000.0);
}

static void
pt_print(FILE *f, const struct pt_result *r)
{
	const struct pt_params *p = &r->p;
	const netcluster_stats *d = &r->during, *a = &r->after;

	fprintf(f,
	        "partition: mode=%s nodes=%zu groups=%u split=%g probe=%" PRIu64
	        "ms interval=%" PRIu64 "ms heal-after=%" PRIu64
	        "ms seed=%" PRIu64 " workers=%u io=%s\n",
	        gv_mode_name(p->mode), p->nodes, p->groups, p->split,
	        p->probe_ms, p->interval_ms, p->heal_after_ms, p->seed,
	        r->workers, r->backend);
	fprintf(f, "  groups           ");
	for (unsigned g = 0; g < p->groups; g++)
		fprintf(f, "%s%zu%s", g ? " / " : "", r->size[g],
		        r->minority[g] ? " (minority)" : "");
	fprintf(f, "\n  detect           ");
	ms_or_dash(f, r->detect_all);
	fprintf(f, "  (all %zu minority nodes; %zu raised it)\n",
	        r->minority_nodes, r->detected);
	fprintf(f, "  detect per node  ");
	delays_print(f, &r->detect);
	fprintf(f, "\n  false events     %zu (majority nodes that raised it)\n",
	        r->false_events);
	fprintf(f, "  heal             ");
	ms_or_dash(f, r->heal_all);
	fprintf(f, "  (roots equal; heal events ");
	ms_or_dash(f, r->heal_events);
	fprintf(f, ")\n");
	fprintf(f,
	        "  conflicts        %zu of %zu keys (%zu node reports; %zu "
	        "unexpected)\n",
	        r->conflicts, p->conflicts, r->conflict_nodes,
	        r->unexpected_conflicts);
	fprintf(f,
	        "  lost             %zu of %zu keys (%zu stale node views)\n",
	        r->lost, r->keys, r->stale_nodes);
	fprintf(f,
	        "  while cut        %" PRIu64 " probes, %" PRIu64
	        " failed, %" PRIu64 " suspicions, %" PRIu64
	        " partition events, %" PRIu64 "+%" PRIu64
	        " datagrams filtered\n",
	        d->probes, d->probe_fails, d->suspicions, d->partitions,
	        d->io_filtered_out, d->io_filtered_in);
	fprintf(f,
	        "  after heal       %" PRIu64 " refutations, %" PRIu64
	        " heal / %" PRIu64 " partition events, %" PRIu64
	        " ae sessions (%" PRIu64 " clean), %" PRIu64
	        " ae entries sent\n",
	        a->refutes, a->heals, a->partitions, a->ae_sessions,
	        a->ae_sessions_clean, a->ae_entries_sent);
	fprintf(f,
	        "  at the end       %zu of %zu partitioned nodes healed; "
	        "views hold %" PRIu64 " suspect, %" PRIu64 " dead\n",
	        r->healed, r->raised_total, r->end.members_suspect,
	        r->end.members_dead);
	fprintf(f, "  wall             %.2f s\n", r->wall_s);
}

static void
pt_json(FILE *f, const struct pt_result *r, const struct machine *m)
{
	const struct pt_params *p = &r->p;
	const netcluster_stats *d = &r->during, *a = &r->after;

	fprintf(f, "{\"bench\":\"partition\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"mode\":");
	json_str(f, gv_mode_name(p->mode));
	fprintf(f, ",\"nodes\":%zu,\"groups\":%u,\"group_sizes\":[", p->nodes,
	        p->groups);
	for (unsigned g = 0; g < p->groups; g++)
		fprintf(f, "%s%zu", g ? "," : "", r->size[g]);
	fprintf(f, "],\"split\":");
	json_num(f, p->split, true);
	fprintf(f, ",\"quorum\":");
	json_num(f, r->quorum, true);
	fprintf(f,
	        ",\"probe_ms\":%" PRIu64 ",\"interval_ms\":%" PRIu64
	        ",\"ae_interval_ms\":%" PRIu64 ",\"heal_after_ms\":%" PRIu64
	        ",\"deadline_ms\":%" PRIu64 ",\"seed\":%" PRIu64
	        ",\"workers\":%u,\"io_backend\":",
	        p->probe_ms, p->interval_ms, r->ae_interval_ms,
	        p->heal_after_ms, p->deadline_ms, p->seed, r->workers);
	json_str(f, r->backend);
	fprintf(f, ",\"minority_nodes\":%zu,\"detected\":%zu,\"detect_ms\":",
	        r->minority_nodes, r->detected);
	json_ms(f, r->detect_all, 0);
	fprintf(f, ",\"detect_ms_p50\":");
	json_num(f, r->detect.p50, r->detect.n > 0);
	fprintf(f, ",\"detect_ms_p95\":");
	json_num(f, r->detect.p95, r->detect.n > 0);
	fprintf(f, ",\"detect_ms_p99\":");
	json_num(f, r->detect.p99, r->detect.n > 0);
	fprintf(f, ",\"false_events\":%zu,\"heal_ms\":", r->false_events);
	json_ms(f, r->heal_all, 0);
	fprintf(f, ",\"heal_event_ms\":");
	json_ms(f, r->heal_events, 0);
	fprintf(f,
	        ",\"raised\":%zu,\"healed\":%zu,\"conflicts_written\":%zu"
	        ",\"writes_per_group\":%zu,\"keys\":%zu,\"writes\":%zu"
	        ",\"conflicts\":%zu,\"conflict_reports\":%zu"
	        ",\"unexpected_conflicts\":%zu,\"lost\":%zu"
	        ",\"stale_node_keys\":%zu",
	        r->raised_total, r->healed, p->conflicts, p->writes, r->keys,
	        r->writes, r->conflicts, r->conflict_nodes,
	        r->unexpected_conflicts, r->lost, r->stale_nodes);
	fprintf(f,
	        ",\"during\":{\"probes\":%" PRIu64 ",\"probe_fails\":%" PRIu64
	        ",\"suspicions\":%" PRIu64 ",\"partition_events\":%" PRIu64
	        ",\"filtered_out\":%" PRIu64 ",\"filtered_in\":%" PRIu64 "}",
	        d->probes, d->probe_fails, d->suspicions, d->partitions,
	        d->io_filtered_out, d->io_filtered_in);
	fprintf(f,
	        ",\"after\":{\"refutes\":%" PRIu64 ",\"heal_events\":%" PRIu64
	        ",\"partition_events\":%" PRIu64 ",\"ae_sessions\":%" PRIu64
	        ",\"ae_sessions_clean\":%" PRIu64
	        ",\"ae_entries_sent\":%" PRIu64 ",\"conflict_events\":%" PRIu64
	        "}",
	        a->refutes, a->heals, a->partitions, a->ae_sessions,
	        a->ae_sessions_clean, a->ae_entries_sent, a->ev_conflict);
	fprintf(f,
	        ",\"end_views\":{\"suspect\":%" PRIu64 ",\"dead\":%" PRIu64 "}",
	        r->end.members_suspect, r->end.members_dead);
	fprintf(f, ",\"wall_s\":");
	json_num(f, r->wall_s, true);
	json_end(f, m);
}

int
cmd_partition(int argc, char **argv)
{
	uint64_t nodes = 0, groups = 2, conflicts = 20, writes = 10;
	uint64_t heal_after = 2000, probe = 100, interval = 100;
	uint64_t warmup = 1000, deadline = 30000, workers = 0, seed = 1;
	double split = 0.33;
	int mode = GV_MODE_EAGER;
	const char *json = NULL;
	int backend = GV_IO_AUTO;
	struct opt opts[] = {
	        {.name = "--nodes",
	         .kind = OPT_U64,
	         .dst = &nodes,
	         .umin = 4,
	         .umax = 4096},
	        {.name = "--groups",
	         .kind = OPT_U64,
	         .dst = &groups,
	         .umin = 2,
	         .umax = MAX_GROUPS},
	        {.name = "--split",
	         .kind = OPT_F64,
	         .dst = &split,
	         .fmin = 0.001,
	         .fmax = 0.5},
	        {.name = "--conflicts",
	         .kind = OPT_U64,
	         .dst = &conflicts,
	         .umax = 10000},
	        {.name = "--writes",
	         .kind = OPT_U64,
	         .dst = &writes,
	         .umax = 10000},
	        {.name = "--heal-after-ms",
	         .kind = OPT_U64,
	         .dst = &heal_after,
	         .umax = 3600000},
	        {.name = "--probe-ms",
	         .kind = OPT_U64,
	         .dst = &probe,
	         .umin = 2,
	         .umax = 60000},
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
	enum { O_NODES };
	int rc = parse_opts("partition", PARTITION_USAGE, opts,
	                    sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!opts[O_NODES].seen) {
		fprintf(stderr, "gvbench partition: --nodes N is required "
		                "(see gvbench partition --help)\n");
		return EXIT_USAGE;
	}
	if (nodes < groups * 2) {
		fprintf(stderr,
		        "gvbench partition: %" PRIu64 " groups need at least "
		        "%" PRIu64 " nodes\n",
		        groups, groups * 2);
		return EXIT_USAGE;
	}

	struct machine m;
	machine_get(&m);
	struct pt_params p = {
	        .nodes = nodes,
	        .groups = (unsigned)groups,
	        .split = split,
	        .conflicts = conflicts,
	        .writes = writes,
	        .heal_after_ms = heal_after,
	        .probe_ms = probe,
	        .interval_ms = interval,
	        .warmup_ms = warmup,
	        .deadline_ms = deadline,
	        .mode = mode,
	        .backend = backend,
	        .workers = (unsigned)workers,
	        .seed = seed,
	};
	struct pt_result *r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "gvbench partition: out of memory\n");
		return 1;
	}
	FILE *jf = NULL;
	if (json && json_open("partition", json, &jf)) {
		free(r);
		return 1;
	}
	rc = 0;
	if (pt_run(&p, r)) {
		rc = 1;
	} else {
		pt_print(stdout, r);
		if (jf)
			pt_json(jf, r, &m);
		if (json_flush("partition", json, jf))
			rc = 1;
	}
	if (jf && fclose(jf) && !rc) {
		fprintf(stderr, "gvbench partition: %s: %s\n", json,
		        strerror(errno));
		rc = 1;
	}
	free(r);
	return rc;
}
