/* SPDX-License-Identifier: MIT */
/*
 * sim.c - the deterministic network simulator (see sim.h): an event heap
 * ordered by (virtual time, scheduling sequence), the link model that
 * decides each datagram's fate and delay, per-endpoint bookkeeping (timer
 * armed, up or down, partition group, region) and a pool of datagram
 * buffers by power-of-two size class, so a run in steady state does not
 * allocate per datagram.
 *
 * Determinism rests on three things: every random draw comes from one
 * generator, in an order fixed by the order of events; events at the same
 * time run in the order they were scheduled (the sequence number); and
 * nothing depends on addresses of memory or on the wall clock.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <grapevine/grapevine.h>

#include "core/rng.h"
#include "sim/sim.h"
#include "sim/sim_int.h"

/* Time is virtual and randomness comes from the seeded generator; like the
 * core, make a slip a compile-time error. Memory comes from cfg.mem. */
#pragma GCC poison time clock gettimeofday clock_gettime timespec_get
#pragma GCC poison rand rand_r srand random srandom drand48 lrand48 getrandom
#pragma GCC poison arc4random malloc calloc realloc free

#define Q_INITIAL 1024

void *
gv__sim_alloc(const gv_sim *sim, size_t size)
{
	return sim->mem->alloc(sim->mem->ctx, size);
}

void
gv__sim_free(const gv_sim *sim, void *p, size_t size)
{
	if (p)
		sim->mem->dealloc(sim->mem->ctx, p, size);
}

static bool
prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0; /* false for NaN too */
}

static bool
index_ok(const gv_sim *sim, int i)
{
	return i >= 0 && (size_t)i < sim->n;
}

/* ---- datagram buffers ---- */

static size_t
msg_size(unsigned cls)
{
	return sizeof(struct sim_msg) + ((size_t)1 << (cls + MSG_MIN_SHIFT));
}

static unsigned
msg_class(size_t len)
{
	if (len <= ((size_t)1 << MSG_MIN_SHIFT))
		return 0;
	/* ceil(log2(len)) - MSG_MIN_SHIFT */
	return (unsigned)(64 - __builtin_clzll((unsigned long long)len - 1)) -
	       MSG_MIN_SHIFT;
}

struct sim_msg *
gv__sim_msg_get(gv_sim *sim, const uint8_t *buf, size_t len)
{
	unsigned c = msg_class(len);
	struct sim_msg *m = sim->pool[c];

	if (m) {
		sim->pool[c] = m->next;
	} else {
		m = gv__sim_alloc(sim, msg_size(c));
		if (!m)
			return NULL;
		m->cls = (uint8_t)c;
		sim->st.pool_bytes += msg_size(c);
	}
	m->next = NULL;
	m->len = (uint32_t)len;
	m->refs = 1;
	memcpy(m->data, buf, len);
	return m;
}

void
gv__sim_msg_put(gv_sim *sim, struct sim_msg *m)
{
	if (--m->refs == 0) {
		m->next = sim->pool[m->cls];
		sim->pool[m->cls] = m;
	}
}

/* ---- the event heap ---- */

static inline bool
ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->at < b->at || (a->at == b->at && a->key < b->key);
}

static int
q_grow(gv_sim *sim)
{
	size_t ncap = sim->qcap * 2;
	struct sim_ev *nq = gv__sim_alloc(sim, ncap * sizeof(*nq));

	if (!nq)
		return GV_ENOMEM;
	memcpy(nq, sim->q, sim->qlen * sizeof(*nq));
	gv__sim_free(sim, sim->q, sim->qcap * sizeof(*sim->q));
	sim->q = nq;
	sim->qcap = ncap;
	return 0;
}

int
gv__sim_q_push(gv_sim *sim, gv_time at, unsigned kind, uint32_t to,
	       uint32_t from, struct sim_msg *msg)
{
	struct sim_ev ev = {at, (sim->seq++ << 2) | kind, to, from, msg};
	size_t i;

	if (sim->qlen == sim->qcap && q_grow(sim) < 0)
		return GV_ENOMEM;
	i = sim->qlen++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ev_before(&ev, &sim->q[p]))
			break;
		sim->q[i] = sim->q[p];
		i = p;
	}
	sim->q[i] = ev;
	if (sim->qlen > sim->st.peak_queue)
		sim->st.peak_queue = sim->qlen;
	return 0;
}

static void
q_pop(gv_sim *sim, struct sim_ev *out)
{
	struct sim_ev *q = sim->q;
	struct sim_ev last;
	size_t i = 0, n;

	*out = q[0];
	n = --sim->qlen;
	if (n == 0)
		return;
	last = q[n];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && ev_before(&q[c + 1], &q[c]))
			c++;
		if (!ev_before(&q[c], &last))
			break;
		q[i] = q[c];
		i = c;
	}
	q[i] = last;
}

/* ---- the link model ---- */

gv_time
gv__sim_sample_delay(gv_sim *sim, const struct sim_ep *a, const struct sim_ep *b)
{
	const struct sim_lat *l = &sim->lat[a->region][b->region];
	gv_time d = l->min;

	if (l->span)
		d += gv_rng_below(&sim->rng, l->span + 1);
	if (sim->cfg.reorder > 0 &&
	    gv_rng_double(&sim->rng) < sim->cfg.reorder) {
		sim->st.reordered++;
		if (sim->cfg.reorder_extra_us)
			d += gv_rng_below(&sim->rng,
			                  sim->cfg.reorder_extra_us + 1);
	}
	return d;
}

/* One datagram from endpoint `from`, sent now: drop it, or schedule its
 * delivery (and maybe a duplicate's). */
static void
route(gv_sim *sim, uint32_t from, const gv_addr *to_addr, const uint8_t *buf,
      size_t len)
{
	struct sim_ep *a, *b;
	struct sim_msg *m;
	unsigned copies = 1;
	int to;

	sim->st.sent++;
	if (len > sim->cfg.max_datagram) {
		sim->st.dropped_oversize++;
		return;
	}
	to = gv_sim_index(sim, to_addr);
	if (to < 0) {
		sim->st.dropped_unknown++;
		return;
	}
	a = &sim->eps[from];
	b = &sim->eps[to];
	if (a->group != b->group) {
		sim->st.dropped_partition++;
		return;
	}
	if (sim->cfg.loss > 0 && gv_rng_double(&sim->rng) < sim->cfg.loss) {
		sim->st.dropped_loss++;
		return;
	}
	if (sim->cfg.dup > 0 && gv_rng_double(&sim->rng) < sim->cfg.dup) {
		copies = 2;
		sim->st.duplicated++;
	}
	m = gv__sim_msg_get(sim, buf, len);
	if (!m) {
		sim->st.dropped_nomem += copies;
		return;
	}
	m->refs = (uint16_t)copies;
	for (unsigned c = 0; c < copies; c++) {
		gv_time at = sim->now + gv__sim_sample_delay(sim, a, b);
		if (gv__sim_q_push(sim, at, EV_DELIVER, (uint32_t)to, from, m) < 0) {
			sim->st.dropped_nomem++;
			gv__sim_msg_put(sim, m);
		}
	}
}

/* ---- endpoints ---- */

/*
 * After any call into endpoint i: drain its sends, then re-arm its timer
 * if next_expiry moved. An expiry at or before now fires now; right after
 * a handle_expiry it fires 1 us later at the earliest, so an endpoint that
 * leaves its expiry in the past cannot stall the clock.
 */
void
gv__sim_after_call(gv_sim *sim, uint32_t i, bool expired)
{
	struct sim_ep *e = &sim->eps[i];
	gv_time t, floor;

	while (e->up && e->ops) {
		gv_addr to;
		ssize_t len;

		memset(&to, 0, sizeof(to));
		len = e->ops->send(e->ep, sim->now, &to, sim->scratch,
		                   GV_SIM_SEND_CAP);
		if (len == 0)
			break;
		if (len < 0) {
			sim->st.send_errors++;
			break;
		}
		route(sim, i, &to, sim->scratch, (size_t)len);
	}
	if (!e->up || !e->ops)
		return;

	t = e->ops->next_expiry(e->ep);
	if (t == GV_TIME_NEVER) {
		e->armed = GV_TIME_NEVER; /* any queued timer is now stale */
		return;
	}
	floor = expired ? sim->now + 1 : sim->now;
	if (t < floor)
		t = floor;
	if (t == e->armed)
		return;
	if (gv__sim_q_push(sim, t, EV_TIMER, i, i, NULL) < 0) {
		sim->st.timers_lost++;
		e->armed = GV_TIME_NEVER;
		return;
	}
	e->armed = t;
}

static void
do_restart(gv_sim *sim, uint32_t i)
{
	struct sim_ep *e = &sim->eps[i];

	e->restart_at = GV_TIME_NEVER;
	if (e->up || !e->ops)
		return;
	e->up = true;
	e->armed = GV_TIME_NEVER;
	gv__sim_after_call(sim, i, false);
}

void
gv__sim_fill_addr(const gv_sim *sim, uint32_t i, gv_addr *out)
{
	uint32_t v = i + 1;

	memset(out, 0, sizeof(*out));
	out->family = 4;
	out->port = sim->cfg.port;
	out->addr[0] = 127;
	out->addr[1] = (uint8_t)(v >> 16);
	out->addr[2] = (uint8_t)(v >> 8);
	out->addr[3] = (uint8_t)v;
}

/* ---- events ---- */

static void
ev_deliver(gv_sim *sim, const struct sim_ev *ev)
{
	struct sim_ep *b = &sim->eps[ev->to];
	struct sim_msg *m = ev->msg;
	gv_addr from;
	int r;

	if (!b->ops) {
		sim->st.dropped_unknown++;
	} else if (!b->up) {
		sim->st.dropped_down++;
	} else if (sim->eps[ev->from].group != b->group) {
		sim->st.dropped_partition++;
	} else {
		sim->st.delivered++;
		sim->st.bytes_delivered += m->len;
		gv__sim_fill_addr(sim, ev->from, &from);
		r = b->ops->recv(b->ep, sim->now, &from, m->data, m->len);
		if (r < 0)
			sim->st.recv_errors++;
		if (sim->cfg.on_deliver)
			sim->cfg.on_deliver(sim->cfg.ud, sim->now,
			                    (int)ev->from, (int)ev->to, m->data,
			                    m->len);
		gv__sim_msg_put(sim, m);
		gv__sim_after_call(sim, ev->to, false);
		return;
	}
	gv__sim_msg_put(sim, m);
}

static void
ev_timer(gv_sim *sim, const struct sim_ev *ev)
{
	struct sim_ep *e = &sim->eps[ev->to];
	int r;

	if (!e->up || !e->ops || ev->at != e->armed) {
		sim->st.timers_stale++;
		return;
	}
	e->armed = GV_TIME_NEVER;
	sim->st.timers++;
	r = e->ops->handle_expiry(e->ep, sim->now);
	if (r < 0)
		sim->st.expiry_errors++;
	gv__sim_after_call(sim, ev->to, true);
}

static void
ev_restart(gv_sim *sim, const struct sim_ev *ev)
{
	if (ev->at == sim->eps[ev->to].restart_at)
		do_restart(sim, ev->to);
}

/* ---- public API ---- */

void
gv_sim_config_default(gv_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lat_min_us = 200;
	cfg->lat_max_us = 1000;
	cfg->reorder_extra_us = 5000;
	cfg->max_datagram = GV_SIM_MAX_DATAGRAM;
	cfg->port = 7946;
}

int
gv_sim_new(gv_sim **out, const gv_sim_config *cfg)
{
	const gv_mem *mem;
	gv_sim *sim;

	if (!out || !cfg || cfg->nendpoints == 0 ||
	    cfg->nendpoints > GV_SIM_MAX_ENDPOINTS ||
	    cfg->lat_min_us > cfg->lat_max_us ||
	    cfg->lat_max_us > GV_SIM_MAX_DELAY ||
	    cfg->reorder_extra_us > GV_SIM_MAX_DELAY || !prob_ok(cfg->loss) ||
	    !prob_ok(cfg->dup) || !prob_ok(cfg->reorder) ||
	    cfg->max_datagram == 0 || cfg->max_datagram > GV_SIM_MAX_DATAGRAM)
		return GV_EINVAL;

	mem = cfg->mem ? cfg->mem : gv_mem_libc();
	sim = mem->alloc(mem->ctx, sizeof(*sim));
	if (!sim)
		return GV_ENOMEM;
	memset(sim, 0, sizeof(*sim));
	sim->mem = mem;
	sim->cfg = *cfg;
	sim->cfg.mem = mem;
	sim->n = cfg->nendpoints;
	gv_rng_seed(&sim->rng, cfg->seed);

	sim->eps = gv__sim_alloc(sim, sim->n * sizeof(*sim->eps));
	sim->qcap = Q_INITIAL;
	sim->q = gv__sim_alloc(sim, sim->qcap * sizeof(*sim->q));
	sim->scratch = gv__sim_alloc(sim, GV_SIM_SEND_CAP);
	if (!sim->eps || !sim->q || !sim->scratch) {
		gv_sim_del(sim);
		return GV_ENOMEM;
	}
	for (size_t i = 0; i < sim->n; i++) {
		struct sim_ep *e = &sim->eps[i];
		memset(e, 0, sizeof(*e));
		e->armed = GV_TIME_NEVER;
		e->restart_at = GV_TIME_NEVER;
		e->up = true;
	}
	for (unsigned a = 0; a < GV_SIM_MAX_REGIONS; a++)
		for (unsigned b = 0; b < GV_SIM_MAX_REGIONS; b++) {
			sim->lat[a][b].min = cfg->lat_min_us;
			sim->lat[a][b].span = cfg->lat_max_us - cfg->lat_min_us;
		}
	*out = sim;
	return 0;
}

void
gv_sim_del(gv_sim *sim)
{
	if (!sim)
		return;
	gv__sim_stream_fini(sim);
	/* Every buffer still referenced is referenced from the queue. */
	for (size_t i = 0; i < sim->qlen; i++)
		if (sim->q[i].msg)
			gv__sim_msg_put(sim, sim->q[i].msg);
	for (unsigned c = 0; c < MSG_NCLASSES; c++) {
		struct sim_msg *m = sim->pool[c];
		while (m) {
			struct sim_msg *next = m->next;
			gv__sim_free(sim, m, msg_size(c));
			m = next;
		}
	}
	gv__sim_free(sim, sim->scratch, GV_SIM_SEND_CAP);
	gv__sim_free(sim, sim->q, sim->qcap * sizeof(*sim->q));
	gv__sim_free(sim, sim->eps, sim->n * sizeof(*sim->eps));
	sim->mem->dealloc(sim->mem->ctx, sim, sizeof(*sim));
}

size_t
gv_sim_size(const gv_sim *sim)
{
	return sim->n;
}

int
gv_sim_addr(const gv_sim *sim, int i, gv_addr *out)
{
	if (!index_ok(sim, i) || !out)
		return GV_EINVAL;
	gv__sim_fill_addr(sim, (uint32_t)i, out);
	return 0;
}

int
gv_sim_index(const gv_sim *sim, const gv_addr *addr)
{
	uint32_t v;

	if (!addr || addr->family != 4 || addr->port != sim->cfg.port ||
	    addr->addr[0] != 127)
		return -1;
	v = (uint32_t)addr->addr[1] << 16 | (uint32_t)addr->addr[2] << 8 |
	    addr->addr[3];
	if (v == 0 || v > sim->n)
		return -1;
	return (int)(v - 1);
}

int
gv_sim_attach(gv_sim *sim, int i, const gv_sim_ops *ops, void *ep)
{
	struct sim_ep *e;

	if (!index_ok(sim, i) || sim->busy)
		return GV_EINVAL;
	if (ops && (!ops->recv || !ops->send || !ops->next_expiry ||
	            !ops->handle_expiry))
		return GV_EINVAL;
	e = &sim->eps[i];
	e->ops = ops;
	e->ep = ops ? ep : NULL;
	e->armed = GV_TIME_NEVER;
	if (ops && e->up) {
		sim->busy = true;
		gv__sim_after_call(sim, (uint32_t)i, false);
		sim->busy = false;
	}
	return 0;
}

void *
gv_sim_endpoint(const gv_sim *sim, int i)
{
	return index_ok(sim, i) ? sim->eps[i].ep : NULL;
}

int
gv_sim_set_region(gv_sim *sim, int i, unsigned r)
{
	if (!index_ok(sim, i) || r >= GV_SIM_MAX_REGIONS)
		return GV_EINVAL;
	sim->eps[i].region = (uint8_t)r;
	return 0;
}

int
gv_sim_set_region_latency(gv_sim *sim, unsigned a, unsigned b, gv_time min_us,
                          gv_time max_us)
{
	if (a >= GV_SIM_MAX_REGIONS || b >= GV_SIM_MAX_REGIONS ||
	    min_us > max_us || max_us > GV_SIM_MAX_DELAY)
		return GV_EINVAL;
	sim->lat[a][b].min = sim->lat[b][a].min = min_us;
	sim->lat[a][b].span = sim->lat[b][a].span = max_us - min_us;
	return 0;
}

int
gv_sim_partition(gv_sim *sim, const unsigned *group_of, size_t n)
{
	if (n > sim->n || (n && !group_of))
		return GV_EINVAL;
	for (size_t i = 0; i < sim->n; i++)
		sim->eps[i].group = i < n ? group_of[i] : 0;
	return 0;
}

int
gv_sim_set_group(gv_sim *sim, int i, unsigned group)
{
	if (!index_ok(sim, i))
		return GV_EINVAL;
	sim->eps[i].group = group;
	return 0;
}

void
gv_sim_heal(gv_sim *sim)
{
	for (size_t i = 0; i < sim->n; i++)
		sim->eps[i].group = 0;
}

int
gv_sim_set_link(gv_sim *sim, double loss, double dup, double reorder)
{
	if (!prob_ok(loss) || !prob_ok(dup) || !prob_ok(reorder))
		return GV_EINVAL;
	sim->cfg.loss = loss;
	sim->cfg.dup = dup;
	sim->cfg.reorder = reorder;
	return 0;
}

int
gv_sim_crash(gv_sim *sim, int i)
{
	struct sim_ep *e;

	if (!index_ok(sim, i))
		return GV_EINVAL;
	e = &sim->eps[i];
	e->up = false;
	e->armed = GV_TIME_NEVER;
	e->restart_at = GV_TIME_NEVER;
	return 0;
}

int
gv_sim_restart(gv_sim *sim, int i, gv_time at)
{
	struct sim_ep *e;

	if (!index_ok(sim, i) || !sim->eps[i].ops)
		return GV_EINVAL;
	e = &sim->eps[i];
	if (e->up)
		return 0;
	if (at <= sim->now && !sim->busy) {
		sim->busy = true;
		do_restart(sim, (uint32_t)i);
		sim->busy = false;
		return 0;
	}
	if (at < sim->now)
		at = sim->now;
	if (gv__sim_q_push(sim, at, EV_RESTART, (uint32_t)i, (uint32_t)i, NULL) < 0)
		return GV_ENOMEM;
	e->restart_at = at;
	return 0;
}

bool
gv_sim_is_up(const gv_sim *sim, int i)
{
	return index_ok(sim, i) && sim->eps[i].up;
}

int
gv_sim_poke(gv_sim *sim, int i)
{
	if (!index_ok(sim, i) || !sim->eps[i].ops || sim->busy)
		return GV_EINVAL;
	if (!sim->eps[i].up)
		return 0;
	sim->busy = true;
	gv__sim_after_call(sim, (uint32_t)i, false);
	sim->busy = false;
	return 0;
}

gv_time
gv_sim_now(const gv_sim *sim)
{
	return sim->now;
}

size_t
gv_sim_pending(const gv_sim *sim)
{
	return sim->qlen;
}

int
gv_sim_step(gv_sim *sim)
{
	struct sim_ev ev;

	if (sim->busy || sim->qlen == 0)
		return 0;
	q_pop(sim, &ev);
	sim->now = ev.at;
	sim->st.events++;
	sim->busy = true;
	switch (ev.key & 3) {
	case EV_DELIVER:
		ev_deliver(sim, &ev);
		break;
	case EV_TIMER:
		ev_timer(sim, &ev);
		break;
	case EV_RESTART:
		ev_restart(sim, &ev);
		break;
	default:
		gv__sim_stream_deliver(sim, &ev);
		break;
	}
	sim->busy = false;
	return 1;
}

void
gv_sim_run_until(gv_sim *sim, gv_time t)
{
	if (sim->busy)
		return;
	while (sim->qlen && sim->q[0].at <= t)
		gv_sim_step(sim);
	if (t != GV_TIME_NEVER && t > sim->now)
		sim->now = t;
}

bool
gv_sim_run_while(gv_sim *sim, bool (*cond)(void *ud), void *ud,
                 gv_time deadline)
{
	if (sim->busy)
		return false;
	if (!cond(ud))
		return true;
	while (sim->qlen && sim->q[0].at <= deadline) {
		gv_sim_step(sim);
		if (!cond(ud))
			return true;
	}
	if (deadline != GV_TIME_NEVER && deadline > sim->now)
		sim->now = deadline;
	return false;
}

const gv_sim_stats *
gv_sim_get_stats(const gv_sim *sim)
{
	return &sim->st;
}
