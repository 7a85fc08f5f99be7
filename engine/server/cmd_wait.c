/* SPDX-License-Identifier: MIT */
/*
 * cmd_wait.c - WAIT numreplicas timeout: how many other live members hold
 * this client's last write (its version of that key, or a newer one),
 * waiting at most timeout ms (0: without end) for numreplicas of them, as
 * Redis's WAIT does for replicas.
 *
 * The front end remembers each client's last write (key, shard, version:
 * frontend.c, from the subs that wrote). WAIT sends a probe to that key's
 * shard (OP_WAIT: gv_node_holders asks the members not yet heard to hold
 * it, and counts those that did); until the count is reached or time is
 * up, the WAIT sits in the daemon's list and probes again every
 * millisecond (the loop sleeps at most 1 ms meanwhile). The client's
 * later commands wait behind it, as in Redis. Inside MULTI it answers at
 * once with the count as it stands, as Redis does.
 *
 * What it promises: the members counted had stored the write (or a newer
 * one of the key) when they answered. Not that they still will after a
 * crash: nothing is written to disk yet, so a counted member that crashes
 * and restarts empty holds it only again once anti-entropy brings it back.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <time.h>

#include "core/counter.h"

static gv_time
now_us(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (gv_time)ts.tv_sec * 1000000u + (gv_time)ts.tv_nsec / 1000u;
}

/* The probe is back: done (enough holders, time up, client gone), or
 * wait for the next probe in the daemon's list. */
static struct req *
probe_back(gv_daemon *d, struct req *r)
{
	struct sub *s = &r->subs[0];
	gv_time now = now_us();
	bool enough = (uint64_t)s->ival >= s->count;
	bool late = r->scan_shard && now >= r->scan_shard;
	if (!r->cl || s->rc || enough || late)
		return r; /* C_SUM: the holders' count */
	r->done = 0;
	s->cursor = now + 1000; /* the next probe */
	r->poll_next = d->waits;
	d->waits = r;
	return NULL;
}

void
gvd_wait_tick(gv_daemon *d)
{
	if (!d->waits)
		return;
	gv_time now = now_us();
	struct req **pp = &d->waits;
	while (*pp) {
		struct req *r = *pp;
		if (!r->cl) {
			/* its client closed while it waited */
			*pp = r->poll_next;
			gvd_req_free(r);
			continue;
		}
		bool late = r->scan_shard && now >= r->scan_shard;
		if (now < r->subs[0].cursor && !late) {
			pp = &r->poll_next;
			continue;
		}
		*pp = r->poll_next;
		r->poll_next = NULL;
		if (late) {
			/* time is up between probes: answer what the last
			 * one counted */
			r->done = r->total;
			gvd_req_finished(d, r);
			continue;
		}
		gvd_dispatch(d, r);
	}
}

void
gvd_cmd_wait(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)ac;
	int64_t want, timeout;
	if (!gv_parse_i64(av[1].ptr, av[1].len, &want))
		return gvd_error_reply(c, "ERR value is not an integer or out of "
				      "range");
	if (!gv_parse_i64(av[2].ptr, av[2].len, &timeout))
		return gvd_error_reply(c, "ERR timeout is not an integer or out "
				      "of range");
	if (timeout < 0)
		return gvd_error_reply(c, "ERR timeout is negative");
	struct req *r = gvd_req_new(c, C_SUM, 1);
	if (!r)
		return;
	struct sub *s = &r->subs[0];
	s->op = OP_WAIT;
	/* no write yet: every member holds "nothing" (version zero) */
	s->key = c->lw_key ? dupmem(c->lw_key, c->lw_klen) : dupmem("", 0);
	s->klen = c->lw_key ? c->lw_klen : 0;
	s->shard = c->lw_key ? c->lw_shard : 0;
	s->ver = c->lw_key ? c->lw_ver : (gv_version){0, 0};
	s->count = want > 0 ? (size_t)want : 0;
	if (!s->key) {
		s->rc = GV_ENOMEM;
		r->done = r->total;
		return;
	}
	if (!c->capture) {
		/* one probe only inside MULTI: the count as it stands */
		r->scan_shard = timeout ? now_us() + (gv_time)timeout * 1000 : 0;
		r->d = d;
		r->on_done = probe_back;
	}
	gvd_dispatch(d, r);
}
