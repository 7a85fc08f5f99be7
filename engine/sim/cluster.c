/* SPDX-License-Identifier: MIT */
/*
 * cluster.c - gv_nodes on the simulated network, with measurement (see
 * cluster.h). Each node's callbacks feed the cluster's records; the
 * simulator's delivery observer counts payload messages.
 */
#include "sim/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/wire.h"

struct nodectx {
	gv_cluster *c;
	size_t idx;
};

struct gv_cluster {
	gv_cluster_config cfg;
	gv_sim *sim;
	size_t n;
	gv_node **nodes;
	struct nodectx *ctx;
	gv_node_id *ids;
	gv_addr *addrs;
	uint16_t *regions;
	gv_static_peers statics;
	bool *partitioned; /* per node */
	gv_track *tracks;
	size_t ntracks;
	gv_cluster_events ev;
	uint64_t payload_msgs;
	size_t live; /* nodes up (kept by crash and restart) */
};


void
gv_cluster_config_default(gv_cluster_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	gv_node_config_default(&cfg->node);
	gv_sim_config_default(&cfg->net);
	cfg->membership = GV_CLUSTER_PREJOINED;
	/* virtual time 0 is 2023-11-14 22:13:20 UTC on the nodes' HLC wall
	 * clocks, so timestamps look like real ones */
	cfg->node.wall_offset_ms = INT64_C(1700000000000);
	cfg->region_lat_min_us = 20000;
	cfg->region_lat_max_us = 40000;
	cfg->max_tracks = 4096;
	cfg->seed = 1;
}

/* ------------------------------------------------------------ callbacks */

static void
track_reach(gv_cluster *c, gv_track *tr, size_t node, gv_time now)
{
	if (tr->seen[node / 8] & (1u << (node % 8)))
		return;
	tr->seen[node / 8] |= (uint8_t)(1u << (node % 8));
	tr->reached++;
	tr->last = now;
	size_t live = gv_cluster_live(c);
	if (tr->t50 == GV_TIME_NEVER && tr->reached * 2 >= live)
		tr->t50 = now;
	if (tr->t90 == GV_TIME_NEVER && tr->reached * 10 >= live * 9)
		tr->t90 = now;
	if (tr->t100 == GV_TIME_NEVER && tr->reached >= live)
		tr->t100 = now;
}

static void
cb_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	struct nodectx *x = ud;
	gv_cluster *c = x->c;
	if (rec->klen > 64 || !c->ntracks)
		return;
	/* a version may satisfy several tracks of the same key */
	for (size_t t = 0; t < c->ntracks; t++) {
		gv_track *tr = &c->tracks[t];
		if (tr->klen == rec->klen &&
		    memcmp(tr->key, rec->key, rec->klen) == 0 &&
		    gv_version_cmp(&rec->ver, &tr->ver) >= 0)
			track_reach(c, tr, x->idx, now);
	}
}

static void
cb_member(void *ud, const gv_member_info *m, int old, gv_time now)
{
	gv_cluster *c = ((struct nodectx *)ud)->c;
	if (m->state == GV_MEMBER_DEAD)
		c->ev.member_dead++;
	else if (m->state == GV_MEMBER_SUSPECT)
		c->ev.member_suspect++;
	else if (m->state == GV_MEMBER_ALIVE)
		c->ev.member_alive++;
}

static void
cb_conflict(void *ud, const gv_record *w, const gv_record *l, gv_time now)
{
	((struct nodectx *)ud)->c->ev.conflicts++;
}

static void
cb_partition(void *ud, bool part, double reach, gv_time now)
{
	struct nodectx *x = ud;
	gv_cluster *c = x->c;
	if (part) {
		c->ev.partition++;
		c->ev.last_partition = now;
	} else {
		c->ev.heal++;
		c->ev.last_heal = now;
	}
	if (part != c->partitioned[x->idx]) {
		c->partitioned[x->idx] = part;
		if (part)
			c->ev.nodes_partitioned++;
		else
			c->ev.nodes_partitioned--;
	}
}

static void
on_deliver(void *ud, gv_time now, int from, int to, const uint8_t *buf,
	   size_t len)
{
	gv_cluster *c = ud;
	if (c->cfg.observer)
		c->cfg.observer(c->cfg.observer_ud, now, from, to, buf, len);
	/* a payload message: a datagram with an UPDATE record */
	gv_wire_reader r;
	gv_wire_record rec;
	if (gv_wire_open(&r, NULL, buf, len, c->cfg.node.cluster))
		return;
	while (gv_wire_next(&r, &rec) == 1)
		if (rec.type == GV_REC_UPDATE) {
			c->payload_msgs++;
			return;
		}
}

/* ------------------------------------------------------------ streams */

static int
cb_stream_send(void *ud, const gv_addr *to, const uint8_t *msg, size_t len)
{
	struct nodectx *x = ud;
	return gv_sim_stream_send(x->c->sim, (int)x->idx, to, msg, len);
}

static int
st_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *msg,
	size_t len)
{
	return gv_node_stream_recv(ep, now, from, msg, len);
}

static void
st_ready(void *ep, gv_time now, const gv_addr *peer)
{
	gv_node_stream_ready(ep, now, peer);
}

static void
st_down(void *ep, gv_time now, const gv_addr *peer)
{
	gv_node_stream_down(ep, now, peer);
}

static const gv_sim_stream_ops node_stream_ops = {st_recv, st_ready, st_down};

/* ------------------------------------------------------------ lifecycle */

static int
make_node(gv_cluster *c, size_t i, gv_time now, gv_node **out)
{
	gv_node_config nc = c->cfg.node;
	nc.id = c->ids[i];
	nc.addr = c->addrs[i];
	nc.seed = c->cfg.seed * 1000003u + i;
	snprintf(nc.name, sizeof(nc.name), "n%zu", i);
	if (c->cfg.regions > 1)
		snprintf(nc.region, sizeof(nc.region), "r%u",
			 (unsigned)c->regions[i]);
	nc.cb.on_update = cb_update;
	nc.cb.on_member = cb_member;
	nc.cb.on_conflict = cb_conflict;
	nc.cb.on_partition = cb_partition;
	if (c->cfg.stream)
		nc.cb.stream_send = cb_stream_send;
	nc.ud = &c->ctx[i];
	if (c->cfg.keyrings)
		nc.keyring = c->cfg.keyrings[i];
	int rc = gv_node_new(out, &nc, now);
	if (rc)
		return rc;
	if (c->cfg.membership == GV_CLUSTER_STATIC)
		return gv_node_set_static_peers(*out, &c->statics,
						c->regions[i]);
	return 0;
}

static void
prejoin(gv_cluster *c, size_t i, gv_time now)
{
	char name[32], region[16];
	for (size_t j = 0; j < c->n; j++) {
		if (j == i)
			continue;
		snprintf(name, sizeof(name), "n%zu", j);
		snprintf(region, sizeof(region), "r%u", (unsigned)c->regions[j]);
		gv_member_info m = {
			.id = c->ids[j],
			.addr = c->addrs[j],
			.state = GV_MEMBER_ALIVE,
			.name = name,
			.region = c->cfg.regions > 1 ? region : "",
		};
		gv_node_add_member(c->nodes[i], now, &m);
	}
}

int
gv_cluster_new(gv_cluster **out, const gv_cluster_config *cfg)
{
	if (!out || !cfg || cfg->nodes == 0 || cfg->nodes > GV_SIM_MAX_ENDPOINTS)
		return GV_EINVAL;
	gv_cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return GV_ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.max_tracks)
		c->cfg.max_tracks = 4096;
	c->n = cfg->nodes;
	gv_sim_config sc = cfg->net;
	sc.nendpoints = c->n;
	sc.seed = cfg->seed;
	sc.on_deliver = on_deliver;
	sc.ud = c;
	int rc = gv_sim_new(&c->sim, &sc);
	if (rc) {
		free(c);
		return rc;
	}
	c->nodes = calloc(c->n, sizeof(*c->nodes));
	c->ctx = calloc(c->n, sizeof(*c->ctx));
	c->ids = calloc(c->n, sizeof(*c->ids));
	c->addrs = calloc(c->n, sizeof(*c->addrs));
	c->regions = calloc(c->n, sizeof(*c->regions));
	c->partitioned = calloc(c->n, sizeof(*c->partitioned));
	c->tracks = calloc(c->cfg.max_tracks, sizeof(*c->tracks));
	if (!c->nodes || !c->ctx || !c->ids || !c->addrs || !c->regions ||
	    !c->partitioned || !c->tracks) {
		gv_cluster_del(c);
		return GV_ENOMEM;
	}
	uint64_t s = cfg->seed;
	for (size_t i = 0; i < c->n; i++) {
		c->ids[i] = gv_splitmix64(&s) | 1;
		gv_sim_addr(c->sim, (int)i, &c->addrs[i]);
		c->regions[i] = cfg->regions > 1 ? (uint16_t)(i % cfg->regions)
						 : 0;
		c->ctx[i] = (struct nodectx){c, i};
		gv_sim_set_region(c->sim, (int)i, c->regions[i]);
	}
	if (cfg->regions > 1)
		for (unsigned a = 0; a < cfg->regions; a++)
			for (unsigned b = 0; b < cfg->regions; b++)
				if (a != b)
					gv_sim_set_region_latency(
						c->sim, a, b,
						cfg->region_lat_min_us,
						cfg->region_lat_max_us);
	c->statics = (gv_static_peers){c->n, c->ids, c->addrs, c->regions};
	if (cfg->stream) {
		rc = gv_sim_stream_enable(c->sim, cfg->stream_bps,
					  cfg->stream_queue);
		for (size_t i = 0; i < c->n && rc == 0; i++)
			rc = gv_sim_stream_attach(c->sim, (int)i,
						  &node_stream_ops);
		if (rc) {
			gv_cluster_del(c);
			return rc;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		rc = make_node(c, i, 0, &c->nodes[i]);
		if (rc) {
			gv_cluster_del(c);
			return rc;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		if (cfg->membership == GV_CLUSTER_PREJOINED)
			prejoin(c, i, 0);
		gv_sim_attach(c->sim, (int)i, &gv_node_ops, c->nodes[i]);
	}
	c->live = c->n;
	if (cfg->membership == GV_CLUSTER_JOIN)
		for (size_t i = 1; i < c->n; i++) {
			gv_node_join(c->nodes[i], 0, &c->addrs[0], 1);
			gv_sim_poke(c->sim, (int)i);
		}
	*out = c;
	return 0;
}

void
gv_cluster_del(gv_cluster *c)
{
	if (!c)
		return;
	if (c->sim)
		gv_sim_del(c->sim);
	if (c->nodes)
		for (size_t i = 0; i < c->n; i++)
			gv_node_del(c->nodes[i]);
	gv_cluster_clear_tracks(c);
	free(c->nodes);
	free(c->ctx);
	free(c->ids);
	free(c->addrs);
	free(c->regions);
	free(c->partitioned);
	free(c->tracks);
	free(c);
}

gv_sim *
gv_cluster_sim(gv_cluster *c)
{
	return c->sim;
}

size_t
gv_cluster_size(const gv_cluster *c)
{
	return c->n;
}

gv_node *
gv_cluster_node(gv_cluster *c, size_t i)
{
	return i < c->n ? c->nodes[i] : NULL;
}

gv_node_id
gv_cluster_id(const gv_cluster *c, size_t i)
{
	return c->ids[i];
}

gv_time
gv_cluster_now(const gv_cluster *c)
{
	return gv_sim_now(c->sim);
}

bool
gv_cluster_up(const gv_cluster *c, size_t i)
{
	return gv_sim_is_up(c->sim, (int)i);
}

size_t
gv_cluster_live(const gv_cluster *c)
{
	return c->live;
}

/* ------------------------------------------------------------ writes */

static int
tracked_write(gv_cluster *c, size_t i, const void *key, size_t klen,
	      const void *val, size_t vlen, int priority, bool del)
{
	if (i >= c->n || klen > 64)
		return GV_EINVAL;
	if (c->ntracks == c->cfg.max_tracks)
		return GV_EFULL;
	gv_track *tr = &c->tracks[c->ntracks];
	memset(tr, 0, sizeof(*tr));
	tr->seen = calloc((c->n + 7) / 8, 1);
	if (!tr->seen)
		return GV_ENOMEM;
	memcpy(tr->key, key, klen);
	tr->klen = klen;
	tr->origin = i;
	tr->injected = gv_sim_now(c->sim);
	tr->t50 = tr->t90 = tr->t100 = GV_TIME_NEVER;
	/* the version is known only after the write: make the track live
	 * with the maximal version so the local apply does not count yet */
	tr->ver = (gv_version){UINT64_MAX, UINT64_MAX};
	c->ntracks++;
	gv_node *nd = c->nodes[i];
	gv_time now = gv_sim_now(c->sim);
	int rc = del ? gv_node_delete(nd, now, key, klen, GV_PRIO_NORMAL)
		     : gv_node_put(nd, now, key, klen, val, vlen, priority);
	if (rc) {
		free(tr->seen);
		c->ntracks--;
		return rc;
	}
	gv_record rec;
	gv_store_lookup(gv_node_store(nd), key, klen, &rec);
	tr->ver = rec.ver;
	track_reach(c, tr, i, now);
	gv_sim_poke(c->sim, (int)i);
	return (int)(c->ntracks - 1);
}

int
gv_cluster_put(gv_cluster *c, size_t i, const void *key, size_t klen,
	       const void *val, size_t vlen, int priority)
{
	return tracked_write(c, i, key, klen, val, vlen, priority, false);
}

int
gv_cluster_delete(gv_cluster *c, size_t i, const void *key, size_t klen)
{
	return tracked_write(c, i, key, klen, NULL, 0, GV_PRIO_NORMAL, true);
}

const gv_track *
gv_cluster_track(const gv_cluster *c, int t)
{
	if (t < 0 || (size_t)t >= c->ntracks)
		return NULL;
	return &c->tracks[t];
}

size_t
gv_cluster_ntracks(const gv_cluster *c)
{
	return c->ntracks;
}

void
gv_cluster_clear_tracks(gv_cluster *c)
{
	for (size_t t = 0; t < c->ntracks; t++)
		free(c->tracks[t].seen);
	c->ntracks = 0;
}

bool
gv_cluster_track_done(const gv_cluster *c, int t)
{
	const gv_track *tr = &c->tracks[t];
	/* every live node holds it */
	for (size_t i = 0; i < c->n; i++)
		if (gv_sim_is_up(c->sim, (int)i) &&
		    !(tr->seen[i / 8] & (1u << (i % 8))))
			return false;
	return true;
}

/* ------------------------------------------------------------ running */

void
gv_cluster_run_until(gv_cluster *c, gv_time t)
{
	gv_sim_run_until(c->sim, t);
}

void
gv_cluster_run_for(gv_cluster *c, gv_time dt)
{
	gv_sim_run_until(c->sim, gv_sim_now(c->sim) + dt);
}

struct conv_ctx {
	gv_cluster *c;
	size_t first; /* tracks before this are done */
};

static bool
not_converged(void *ud)
{
	struct conv_ctx *x = ud;
	gv_cluster *c = x->c;
	size_t live = gv_cluster_live(c);
	while (x->first < c->ntracks) {
		gv_track *tr = &c->tracks[x->first];
		if (tr->reached < live || !gv_cluster_track_done(c, (int)x->first))
			return true;
		x->first++;
	}
	return false;
}

bool
gv_cluster_run_until_converged(gv_cluster *c, gv_time deadline)
{
	struct conv_ctx x = {c, 0};
	if (!not_converged(&x))
		return true;
	gv_sim_run_while(c->sim, not_converged, &x, deadline);
	return !not_converged(&x);
}

bool
gv_cluster_roots_equal(gv_cluster *c)
{
	bool have = false;
	uint64_t root = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!gv_sim_is_up(c->sim, (int)i))
			continue;
		uint64_t r = gv_node_root(c->nodes[i]);
		if (have && r != root)
			return false;
		root = r;
		have = true;
	}
	return true;
}

gv_time
gv_cluster_run_until_roots_equal(gv_cluster *c, gv_time step,
				 gv_time deadline)
{
	for (;;) {
		if (gv_cluster_roots_equal(c))
			return gv_sim_now(c->sim);
		gv_time now = gv_sim_now(c->sim);
		if (now >= deadline)
			return GV_TIME_NEVER;
		gv_time next = now + step < deadline ? now + step : deadline;
		gv_sim_run_until(c->sim, next);
	}
}

int
gv_cluster_partition(gv_cluster *c, const unsigned *group_of)
{
	return gv_sim_partition(c->sim, group_of, c->n);
}

void
gv_cluster_heal(gv_cluster *c)
{
	gv_sim_heal(c->sim);
}

void
gv_cluster_set_loss(gv_cluster *c, double loss)
{
	gv_sim_set_link(c->sim, loss, c->cfg.net.dup, c->cfg.net.reorder);
}

int
gv_cluster_crash(gv_cluster *c, size_t i)
{
	if (i >= c->n)
		return GV_EINVAL;
	bool was = gv_sim_is_up(c->sim, (int)i);
	int rc = gv_sim_crash(c->sim, (int)i);
	if (rc == 0 && was && !gv_sim_is_up(c->sim, (int)i))
		c->live--;
	return rc;
}

int
gv_cluster_restart(gv_cluster *c, size_t i, bool keep_state)
{
	if (i >= c->n)
		return GV_EINVAL;
	gv_time now = gv_sim_now(c->sim);
	if (!keep_state) {
		gv_node *fresh;
		int rc = make_node(c, i, now, &fresh);
		if (rc)
			return rc;
		rc = gv_sim_attach(c->sim, (int)i, &gv_node_ops, fresh);
		if (rc) {
			gv_node_del(fresh);
			return rc;
		}
		gv_node_del(c->nodes[i]);
		c->nodes[i] = fresh;
		/* forget what the old incarnation of the node had seen */
		for (size_t t = 0; t < c->ntracks; t++) {
			gv_track *tr = &c->tracks[t];
			if (tr->seen[i / 8] & (1u << (i % 8))) {
				tr->seen[i / 8] &= (uint8_t)~(1u << (i % 8));
				tr->reached--;
			}
		}
		if (c->cfg.membership != GV_CLUSTER_STATIC) {
			/* join through the first live node */
			for (size_t j = 0; j < c->n; j++)
				if (j != i && gv_sim_is_up(c->sim, (int)j)) {
					gv_node_join(fresh, now, &c->addrs[j],
						     1);
					break;
				}
		}
	}
	bool was = gv_sim_is_up(c->sim, (int)i);
	int rc = gv_sim_restart(c->sim, (int)i, now);
	if (rc == 0 && !was && gv_sim_is_up(c->sim, (int)i))
		c->live++;
	return rc;
}

const gv_cluster_events *
gv_cluster_get_events(const gv_cluster *c)
{
	return &c->ev;
}

void
gv_cluster_reset_events(gv_cluster *c)
{
	size_t np = c->ev.nodes_partitioned;
	memset(&c->ev, 0, sizeof(c->ev));
	c->ev.nodes_partitioned = np;
}

size_t
gv_cluster_count_view(const gv_cluster *c, gv_node_id id, uint8_t state)
{
	size_t k = 0;
	gv_member_info *buf = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!gv_sim_is_up(c->sim, (int)i) || c->ids[i] == id)
			continue;
		size_t total = gv_node_members(c->nodes[i], NULL, 0);
		if (total > cap) {
			free(buf);
			cap = total;
			buf = malloc(cap * sizeof(*buf));
			if (!buf)
				return 0;
		}
		gv_node_members(c->nodes[i], buf, cap);
		for (size_t j = 0; j < total; j++)
			if (buf[j].id == id && buf[j].state == state)
				k++;
	}
	free(buf);
	return k;
}

uint64_t
gv_cluster_payload_msgs(const gv_cluster *c)
{
	return c->payload_msgs;
}
