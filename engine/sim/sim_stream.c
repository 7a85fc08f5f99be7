/* SPDX-License-Identifier: MIT */
/*
 * sim_stream.c - the stream channel model (see sim.h): ordered, reliable,
 * bounded message pipes between simulated endpoints.
 */
#include <errno.h>
#include <string.h>

#include "sim/sim_int.h"

#pragma GCC poison malloc calloc realloc free

#define STREAM_MAX_MSG (4u << 20)

struct pair {
	uint64_t key; /* from << 32 | to, + 1 (0: empty slot) */
	gv_time last_at;
	size_t queued;
	bool want_ready;
};

struct sim_streams {
	uint64_t bps;
	size_t queue_max;
	const gv_sim_stream_ops **ops; /* per endpoint */
	bool *stalled;
	struct pair *pairs;
	size_t npairs, cap; /* open addressing, power of two */
	gv_sim_stream_stats st;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static struct pair *
pair_get(gv_sim *sim, uint32_t from, uint32_t to, bool create)
{
	struct sim_streams *ss = sim->streams;
	uint64_t key = ((uint64_t)from << 32 | to) + 1;
	if (create && (ss->npairs + 1) * 4 > ss->cap * 3) {
		size_t ncap = ss->cap ? ss->cap * 2 : 64;
		struct pair *np = gv__sim_alloc(sim, ncap * sizeof(*np));
		if (!np)
			return NULL;
		memset(np, 0, ncap * sizeof(*np));
		for (size_t i = 0; i < ss->cap; i++) {
			if (!ss->pairs[i].key)
				continue;
			size_t j = mix(ss->pairs[i].key) & (ncap - 1);
			while (np[j].key)
				j = (j + 1) & (ncap - 1);
			np[j] = ss->pairs[i];
		}
		gv__sim_free(sim, ss->pairs, ss->cap * sizeof(*ss->pairs));
		ss->pairs = np;
		ss->cap = ncap;
	}
	if (!ss->cap)
		return NULL;
	size_t j = mix(key) & (ss->cap - 1);
	while (ss->pairs[j].key) {
		if (ss->pairs[j].key == key)
			return &ss->pairs[j];
		j = (j + 1) & (ss->cap - 1);
	}
	if (!create)
		return NULL;
	ss->pairs[j] = (struct pair){.key = key};
	ss->npairs++;
	return &ss->pairs[j];
}

int
gv_sim_stream_enable(gv_sim *sim, uint64_t bytes_per_sec, size_t queue_max)
{
	if (!sim || sim->streams)
		return GV_EINVAL;
	struct sim_streams *ss = gv__sim_alloc(sim, sizeof(*ss));
	if (!ss)
		return GV_ENOMEM;
	memset(ss, 0, sizeof(*ss));
	ss->bps = bytes_per_sec ? bytes_per_sec : 1000000000ull;
	ss->queue_max = queue_max ? queue_max : (4u << 20);
	ss->ops = gv__sim_alloc(sim, sim->n * sizeof(*ss->ops));
	ss->stalled = gv__sim_alloc(sim, sim->n * sizeof(*ss->stalled));
	if (!ss->ops || !ss->stalled) {
		gv__sim_free(sim, ss->ops, sim->n * sizeof(*ss->ops));
		gv__sim_free(sim, ss->stalled, sim->n * sizeof(*ss->stalled));
		gv__sim_free(sim, ss, sizeof(*ss));
		return GV_ENOMEM;
	}
	memset(ss->ops, 0, sim->n * sizeof(*ss->ops));
	memset(ss->stalled, 0, sim->n * sizeof(*ss->stalled));
	sim->streams = ss;
	return 0;
}

void
gv__sim_stream_fini(gv_sim *sim)
{
	struct sim_streams *ss = sim->streams;
	if (!ss)
		return;
	gv__sim_free(sim, ss->pairs, ss->cap * sizeof(*ss->pairs));
	gv__sim_free(sim, ss->ops, sim->n * sizeof(*ss->ops));
	gv__sim_free(sim, ss->stalled, sim->n * sizeof(*ss->stalled));
	gv__sim_free(sim, ss, sizeof(*ss));
	sim->streams = NULL;
}

int
gv_sim_stream_attach(gv_sim *sim, int i, const gv_sim_stream_ops *ops)
{
	if (!sim || !sim->streams || i < 0 || (size_t)i >= sim->n)
		return GV_EINVAL;
	sim->streams->ops[i] = ops;
	return 0;
}

static bool
connected(const gv_sim *sim, uint32_t a, uint32_t b)
{
	const struct sim_ep *x = &sim->eps[a], *y = &sim->eps[b];
	return x->ops && y->ops && x->up && y->up && x->group == y->group &&
	       sim->streams->ops[b];
}

int
gv_sim_stream_send(gv_sim *sim, int i, const gv_addr *to, const uint8_t *msg,
		   size_t len)
{
	if (!sim || !sim->streams || i < 0 || (size_t)i >= sim->n || !to ||
	    len > STREAM_MAX_MSG || (!msg && len))
		return GV_EINVAL;
	int j = gv_sim_index(sim, to);
	if (j < 0)
		return GV_EINVAL;
	struct sim_streams *ss = sim->streams;
	if (!connected(sim, (uint32_t)i, (uint32_t)j))
		return -ECONNREFUSED;
	struct pair *p = pair_get(sim, (uint32_t)i, (uint32_t)j, true);
	if (!p)
		return GV_ENOMEM;
	if (p->queued && p->queued + len > ss->queue_max) {
		p->want_ready = true;
		ss->st.blocked++;
		return GV_EAGAIN;
	}
	struct sim_msg *m = gv__sim_msg_get(sim, msg, len);
	if (!m)
		return GV_ENOMEM;
	gv_time lat = sim->lat[sim->eps[i].region][sim->eps[j].region].min;
	gv_time at = sim->now + lat;
	if (at < p->last_at)
		at = p->last_at;
	at += (gv_time)((double)len * 1e6 / (double)ss->bps);
	if (gv__sim_q_push(sim, at, EV_STREAM, (uint32_t)j, (uint32_t)i, m)) {
		gv__sim_msg_put(sim, m);
		return GV_ENOMEM;
	}
	p->last_at = at;
	p->queued += len;
	if (p->queued > ss->st.peak_queued)
		ss->st.peak_queued = p->queued;
	return 0;
}

/* A reset: both ends learn the pipe broke. */
static void
reset(gv_sim *sim, uint32_t from, uint32_t to)
{
	struct sim_streams *ss = sim->streams;
	ss->st.resets++;
	gv_addr a;
	const struct sim_ep *e[2] = {&sim->eps[from], &sim->eps[to]};
	uint32_t idx[2] = {from, to};
	for (int k = 0; k < 2; k++) {
		uint32_t me = idx[k], peer = idx[1 - k];
		if (!e[k]->ops || !e[k]->up || !ss->ops[me] ||
		    !ss->ops[me]->down)
			continue;
		gv__sim_fill_addr(sim, peer, &a);
		ss->ops[me]->down(e[k]->ep, sim->now, &a);
		gv__sim_after_call(sim, me, false);
	}
}

void
gv__sim_stream_deliver(gv_sim *sim, const struct sim_ev *ev)
{
	struct sim_streams *ss = sim->streams;
	struct sim_msg *m = ev->msg;
	struct pair *p = ss ? pair_get(sim, ev->from, ev->to, false) : NULL;
	if (!p) {
		gv__sim_msg_put(sim, m);
		return;
	}
	if (ss->stalled[ev->to] && connected(sim, ev->from, ev->to)) {
		/* not read yet: it waits, and so does all behind it */
		gv_time at = sim->now + 1000;
		if (p->last_at < at)
			p->last_at = at;
		if (gv__sim_q_push(sim, at, EV_STREAM, ev->to, ev->from, m) ==
		    0)
			return;
	}
	p->queued -= m->len;
	if (!connected(sim, ev->from, ev->to)) {
		gv__sim_msg_put(sim, m);
		reset(sim, ev->from, ev->to);
		return;
	}
	struct sim_ep *b = &sim->eps[ev->to];
	gv_addr from;
	gv__sim_fill_addr(sim, ev->from, &from);
	ss->st.msgs++;
	ss->st.bytes += m->len;
	if (ss->ops[ev->to]->recv(b->ep, sim->now, &from, m->data, m->len) <
	    0)
		sim->st.recv_errors++;
	gv__sim_msg_put(sim, m);
	gv__sim_after_call(sim, ev->to, false);
	struct sim_ep *a = &sim->eps[ev->from];
	p = pair_get(sim, ev->from, ev->to, false);
	if (p && p->want_ready && p->queued <= ss->queue_max / 2 && a->up &&
	    a->ops && ss->ops[ev->from] && ss->ops[ev->from]->ready) {
		p->want_ready = false;
		gv_addr to;
		gv__sim_fill_addr(sim, ev->to, &to);
		ss->ops[ev->from]->ready(a->ep, sim->now, &to);
		gv__sim_after_call(sim, ev->from, false);
	}
}

int
gv_sim_stream_stall(gv_sim *sim, int i, bool stalled)
{
	if (!sim || !sim->streams || i < 0 || (size_t)i >= sim->n)
		return GV_EINVAL;
	sim->streams->stalled[i] = stalled;
	return 0;
}

const gv_sim_stream_stats *
gv_sim_stream_get_stats(const gv_sim *sim)
{
	static const gv_sim_stream_stats none;
	return sim && sim->streams ? &sim->streams->st : &none;
}
