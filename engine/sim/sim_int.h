/* SPDX-License-Identifier: MIT */
/*
 * sim_int.h - the simulator's internals, shared by sim.c (datagrams,
 * timers, restarts) and sim_stream.c (the stream channel model).
 */
#ifndef GV_SIM_SIM_INT_H
#define GV_SIM_SIM_INT_H

#include "core/rng.h"
#include "sim/sim.h"

enum { EV_DELIVER = 0, EV_TIMER = 1, EV_RESTART = 2, EV_STREAM = 3 };

/* Datagram buffers: class c holds up to 64 << c bytes (64 .. 65536). */
#define MSG_MIN_SHIFT 6
#define MSG_NCLASSES 17 /* 64 B .. 4 MiB */

struct sim_msg {
	struct sim_msg *next; /* free-list link */
	uint32_t len;
	uint16_t refs; /* deliveries pending: 2 for a duplicate */
	uint8_t cls;
	uint8_t data[];
};

struct sim_ev {
	gv_time at;
	uint64_t key; /* sequence << 2 | kind: unique, breaks ties in order */
	uint32_t to;  /* the endpoint the event is for */
	uint32_t from;
	struct sim_msg *msg;
};

struct sim_ep {
	const gv_sim_ops *ops; /* NULL: empty slot */
	void *ep;
	gv_time armed;      /* time of the live timer event, or NEVER */
	gv_time restart_at; /* time of the live restart event, or NEVER */
	uint32_t group;
	uint8_t region;
	bool up;
};

struct sim_lat {
	gv_time min, span; /* uniform in [min, min + span] */
};

struct gv_sim {
	const gv_mem *mem;
	gv_sim_config cfg;
	gv_rng rng;
	gv_time now;
	uint64_t seq;
	bool busy; /* inside an event or an endpoint call */
	size_t n;
	struct sim_ep *eps;
	struct sim_ev *q; /* binary min-heap */
	size_t qlen, qcap;
	uint8_t *scratch; /* GV_SIM_SEND_CAP bytes for send() */
	struct sim_msg *pool[MSG_NCLASSES];
	struct sim_lat lat[GV_SIM_MAX_REGIONS][GV_SIM_MAX_REGIONS];
	gv_sim_stats st;
	struct sim_streams *streams; /* sim_stream.c; NULL: none */
};


void *gv__sim_alloc(const gv_sim *sim, size_t size);
void gv__sim_free(const gv_sim *sim, void *p, size_t size);
struct sim_msg *gv__sim_msg_get(gv_sim *sim, const uint8_t *buf, size_t len);
void gv__sim_msg_put(gv_sim *sim, struct sim_msg *m);
int gv__sim_q_push(gv_sim *sim, gv_time at, unsigned kind, uint32_t to,
		   uint32_t from, struct sim_msg *msg);
void gv__sim_after_call(gv_sim *sim, uint32_t i, bool expired);
void gv__sim_fill_addr(const gv_sim *sim, uint32_t i, gv_addr *out);
gv_time gv__sim_sample_delay(gv_sim *sim, const struct sim_ep *a,
			     const struct sim_ep *b);
/* sim_stream.c */
void gv__sim_stream_deliver(gv_sim *sim, const struct sim_ev *ev);
void gv__sim_stream_fini(gv_sim *sim);

#endif /* GV_SIM_SIM_INT_H */
