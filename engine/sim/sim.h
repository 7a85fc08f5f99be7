/* SPDX-License-Identifier: MIT */
/*
 * sim.h - a deterministic network simulator for sans-IO endpoints.
 *
 * N endpoints (grapevine nodes, or anything else with the four calls of
 * gv_sim_ops) exchange datagrams over a virtual network on a virtual clock.
 * The network delays each datagram by a latency drawn per datagram (uniform
 * in [min, max], per pair of regions), loses, duplicates and reorders
 * datagrams at configured rates, splits the endpoints into partition groups
 * and heals them, and crashes and restarts endpoints. Nothing reads a clock
 * or a system random source: one generator seeded from cfg.seed draws every
 * random choice, and ties between events at the same virtual time are broken
 * by the order they were scheduled in, so the same seed and the same calls
 * replay the same run event for event.
 *
 * The simulator is an event loop over a binary min-heap of (time, sequence)
 * events: datagram deliveries, endpoint timers, scheduled restarts. After
 * every call into an endpoint (a delivered datagram, an expired timer, or
 * gv_sim_poke() after the caller acted on the endpoint itself) it drains the
 * endpoint's send() until it returns 0, routing each datagram through the
 * link model, and re-reads next_expiry() to re-arm the endpoint's timer.
 * Timers are deleted lazily: a popped timer whose time is no longer the
 * endpoint's armed time is skipped. Endpoints are never called re-entrantly.
 *
 * Endpoint i has the synthetic address 127.a.b.c:port, where a.b.c is i + 1
 * in base 256 and port is cfg.port, so address to index is O(1)
 * (gv_sim_addr, gv_sim_index). Datagrams to any other address are counted
 * and dropped.
 *
 * Not thread-safe; one simulator per thread. Not part of the sans-IO core:
 * the gv_sim library links gv_core and allocates through cfg.mem.
 */
#ifndef GV_SIM_SIM_H
#define GV_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

typedef struct gv_sim gv_sim;

/*
 * The four calls the simulator makes into an endpoint (the sans-IO
 * contract of engine/core/node.h). ep is the pointer given to
 * gv_sim_attach(); the simulator never frees it.
 *
 * recv:          one datagram from `from`; buf is valid for the call only.
 *                A negative return is counted (recv_errors) and ignored.
 * send:          the next datagram to send: write it to buf (cap bytes,
 *                at least GV_SIM_SEND_CAP), set *to, return its length;
 *                0 when nothing is due; negative on error (counted, and
 *                the drain stops).
 * next_expiry:   when handle_expiry is due, GV_TIME_NEVER if never. A time
 *                at or before now means "now".
 * handle_expiry: run the timers due at now. Negative returns are counted.
 */
typedef gv_endpoint_ops gv_sim_ops;

/* Largest simulated population (addresses 127.0.0.1 .. 127.255.255.254). */
#define GV_SIM_MAX_ENDPOINTS ((1u << 24) - 2)
/* Regions are 0 .. GV_SIM_MAX_REGIONS - 1. */
#define GV_SIM_MAX_REGIONS 32
/* The largest UDP payload over IPv4, and the default max_datagram. */
#define GV_SIM_MAX_DATAGRAM 65507
/* Longest latency or reorder delay, in microseconds (about 12.7 days), so
 * that virtual times cannot overflow. */
#define GV_SIM_MAX_DELAY ((gv_time)1 << 40)
/* The buffer capacity send() is always given: larger than any allowed
 * max_datagram, so an oversize datagram is seen and counted, not cut. */
#define GV_SIM_SEND_CAP 65536

/*
 * Observer: called for every datagram delivered, right after the receiving
 * endpoint's recv() returned and before its sends are drained, so it sees
 * the endpoint as the datagram left it. from and to are endpoint indices;
 * buf is valid for the call only. It may read anything and may call
 * gv_sim_crash() (crashing the receiver here keeps its replies from being
 * sent), gv_sim_restart() and the link and partition setters, but not
 * gv_sim_poke(), gv_sim_attach() or the run functions (they return
 * GV_EINVAL or do nothing while inside a call).
 */
typedef void (*gv_sim_deliver_fn)(void *ud, gv_time now, int from, int to,
                                  const uint8_t *buf, size_t len);

typedef struct gv_sim_config {
	size_t nendpoints;        /* capacity: endpoints 0 .. n-1 (required) */
	uint64_t seed;            /* seeds the simulator's generator */
	gv_time lat_min_us;       /* 200: one-way latency, inclusive bounds */
	gv_time lat_max_us;       /* 1000 */
	double loss;              /* 0: probability a datagram is lost */
	double dup;               /* 0: probability of a second copy */
	double reorder;           /* 0: probability of an extra delay */
	gv_time reorder_extra_us; /* 5000: extra delay, uniform in [0, this] */
	size_t max_datagram;      /* 65507: larger sends are dropped */
	uint16_t port;            /* 7946: every endpoint's port */
	const gv_mem *mem;        /* NULL: gv_mem_libc() */
	gv_sim_deliver_fn on_deliver; /* optional observer */
	void *ud;                     /* its first argument */
} gv_sim_config;

/*
 * Counters. Every datagram an endpoint sends, and every duplicate the
 * network makes, ends up exactly once as delivered or in one dropped_*
 * counter, or is still in flight:
 *   sent + duplicated == delivered + dropped_* + in flight.
 */
typedef struct gv_sim_stats {
	uint64_t sent;      /* datagrams returned by send() */
	uint64_t delivered; /* handed to recv() */
	uint64_t bytes_delivered;
	uint64_t dropped_loss;      /* random loss */
	uint64_t dropped_partition; /* groups differ, at send or at arrival */
	uint64_t dropped_down;      /* receiver crashed when it arrived */
	uint64_t dropped_unknown;   /* not an endpoint's address, or no
	                               endpoint attached there on arrival */
	uint64_t dropped_oversize;  /* longer than max_datagram */
	uint64_t dropped_nomem;     /* the allocator failed */
	uint64_t duplicated;        /* extra copies made */
	uint64_t reordered;         /* copies given the reorder extra delay */
	uint64_t timers;            /* handle_expiry() calls */
	uint64_t timers_stale;      /* timer events skipped (lazy deletion) */
	uint64_t timers_lost;       /* timers not armed: the allocator failed */
	uint64_t recv_errors, send_errors, expiry_errors; /* endpoint < 0 */
	uint64_t events;     /* events popped, stale ones included */
	uint64_t peak_queue; /* largest event queue length */
	uint64_t pool_bytes; /* datagram buffers held (in use or free) */
} gv_sim_stats;

/* Fill cfg with the defaults above (nendpoints 0, seed 0, no observer). */
void gv_sim_config_default(gv_sim_config *cfg);

/*
 * gv_sim_new - create a simulator at virtual time 0 with nendpoints empty
 * slots, all up, in partition group 0 and region 0.
 * Returns 0 and *out, GV_EINVAL (nendpoints 0 or above
 * GV_SIM_MAX_ENDPOINTS, lat_min_us > lat_max_us, a probability outside
 * [0, 1], a delay above GV_SIM_MAX_DELAY, max_datagram 0 or above
 * GV_SIM_MAX_DATAGRAM), GV_ENOMEM.
 */
int gv_sim_new(gv_sim **out, const gv_sim_config *cfg);

/* Free the simulator and the datagrams in flight. Attached endpoints are
 * the caller's; they are not called. NULL is a no-op. */
void gv_sim_del(gv_sim *sim);

/* Number of endpoint slots (cfg.nendpoints). */
size_t gv_sim_size(const gv_sim *sim);

/* gv_sim_addr - the address of endpoint i. Returns 0, GV_EINVAL. */
int gv_sim_addr(const gv_sim *sim, int i, gv_addr *out);

/* gv_sim_index - the endpoint an address belongs to, or -1. */
int gv_sim_index(const gv_sim *sim, const gv_addr *addr);

/*
 * gv_sim_attach - put endpoint ep with ops in slot i, replacing what was
 * there (the old endpoint is forgotten, not freed, and its armed timer is
 * cancelled). ops NULL empties the slot. If the slot is up the new
 * endpoint's sends are drained and its timer armed at once; if it is down,
 * that happens at gv_sim_restart() ("restart with empty state").
 * Datagrams in flight to slot i reach whatever is attached on arrival.
 * Returns 0, GV_EINVAL (bad index, ops missing a call, called from inside
 * an endpoint call or the observer).
 */
int gv_sim_attach(gv_sim *sim, int i, const gv_sim_ops *ops, void *ep);

/* The endpoint pointer in slot i (NULL if empty or out of range). */
void *gv_sim_endpoint(const gv_sim *sim, int i);

/*
 * gv_sim_set_region - put endpoint i in region r (default 0).
 * gv_sim_set_region_latency - one-way latency between regions a and b, in
 * both directions: uniform in [min_us, max_us]. Every pair starts at
 * [cfg.lat_min_us, cfg.lat_max_us]; a == b sets the latency within a
 * region. Both return 0, GV_EINVAL (index or region out of range,
 * min_us > max_us, max_us above GV_SIM_MAX_DELAY).
 */
int gv_sim_set_region(gv_sim *sim, int i, unsigned r);
int gv_sim_set_region_latency(gv_sim *sim, unsigned a, unsigned b,
                              gv_time min_us, gv_time max_us);

/*
 * gv_sim_partition - assign partition groups: endpoint i < n goes to group
 * group_of[i], endpoints from n on to group 0. Datagrams between different
 * groups are dropped, both when sent and, for those already in flight,
 * when they arrive. gv_sim_set_group moves one endpoint; gv_sim_heal puts
 * every endpoint back in group 0. Return 0, GV_EINVAL (n above the size,
 * bad index).
 */
int gv_sim_partition(gv_sim *sim, const unsigned *group_of, size_t n);
int gv_sim_set_group(gv_sim *sim, int i, unsigned group);
void gv_sim_heal(gv_sim *sim);

/*
 * gv_sim_set_link - change the loss, duplication and reorder probabilities
 * from now on (datagrams in flight keep their fate).
 * Returns 0, GV_EINVAL (a probability outside [0, 1]).
 */
int gv_sim_set_link(gv_sim *sim, double loss, double dup, double reorder);

/*
 * gv_sim_crash - endpoint i goes down now: its timer stops, a pending
 * scheduled restart is cancelled, datagrams reaching it while it is down
 * are dropped (dropped_down), and it is not called until it is restarted.
 * Datagrams it sent before are already on the wire and still arrive. The
 * endpoint object stays attached, for the caller to free, replace or
 * restart. Crashing a down endpoint does nothing.
 * Returns 0, GV_EINVAL (bad index).
 */
int gv_sim_crash(gv_sim *sim, int i);

/*
 * gv_sim_restart - endpoint i comes up at virtual time max(at, now): with
 * the endpoint still attached ("kept state") or a fresh one attached while
 * it was down ("empty state"). At that time its sends are drained and its
 * timer re-armed from next_expiry() (an expiry missed while down fires at
 * once). A future time, or a call from inside an endpoint call or the
 * observer, schedules the restart as an event; gv_sim_crash() cancels it.
 * Restarting an endpoint that is up does nothing.
 * Returns 0, GV_EINVAL (bad index, empty slot), GV_ENOMEM.
 */
int gv_sim_restart(gv_sim *sim, int i, gv_time at);

/* Whether endpoint i is up (false for a bad index). */
bool gv_sim_is_up(const gv_sim *sim, int i);

/*
 * gv_sim_poke - the caller acted on endpoint i outside the simulator (a
 * local put, a join): drain its sends at the current virtual time and
 * re-arm its timer. Does nothing while the endpoint is down (its output
 * waits for the restart).
 * Returns 0, GV_EINVAL (bad index, empty slot, called from inside an
 * endpoint call or the observer).
 */
int gv_sim_poke(gv_sim *sim, int i);

/* The virtual time, in microseconds from the start. */
gv_time gv_sim_now(const gv_sim *sim);

/* Events queued (stale timers included). */
size_t gv_sim_pending(const gv_sim *sim);

/*
 * gv_sim_step - process the earliest event, advancing the clock to its
 * time. Returns 1 if an event was processed, 0 if the queue is empty (or
 * when called from inside an endpoint call or the observer).
 */
int gv_sim_step(gv_sim *sim);

/* gv_sim_run_until - process every event with time <= t, then set the
 * clock to t (it never moves backwards). GV_TIME_NEVER runs until the
 * queue is empty and leaves the clock at the last event. */
void gv_sim_run_until(gv_sim *sim, gv_time t);

/*
 * gv_sim_run_while - process events while cond(ud) holds, checking it
 * before the first event and after every event, up to events at deadline.
 * Returns true as soon as cond is false (the clock stays at that event's
 * time); false when no event at or before the deadline is left and cond
 * still holds (the clock is then set to the deadline, unless that is
 * GV_TIME_NEVER).
 */
bool gv_sim_run_while(gv_sim *sim, bool (*cond)(void *ud), void *ud,
                      gv_time deadline);

/* The counters (updated live; valid until gv_sim_del). */
const gv_sim_stats *gv_sim_get_stats(const gv_sim *sim);

/*
 * The stream channel model (sim_stream.c): a reliable, ordered message
 * pipe per ordered pair of endpoints, as the daemon's TCP connections
 * are. A message sent at t arrives at max(t + latency, the pair's last
 * arrival) + len / bytes_per_sec: in order, never lost or duplicated. A
 * pair holds at most queue_max bytes in flight; a send beyond it returns
 * GV_EAGAIN, and the sender's ready() is called once the pair has
 * drained to half. A message whose receiver is down or across a
 * partition at arrival is dropped and both ends get down() (a reset
 * connection); a send to such a peer fails at once. A stalled endpoint
 * reads nothing: what is sent to it stays queued (its senders see
 * GV_EAGAIN) until gv_sim_stream_stall(sim, i, false).
 */
typedef struct gv_sim_stream_ops {
	int (*recv)(void *ep, gv_time now, const gv_addr *from,
		    const uint8_t *msg, size_t len);
	void (*ready)(void *ep, gv_time now, const gv_addr *peer);
	void (*down)(void *ep, gv_time now, const gv_addr *peer);
} gv_sim_stream_ops;

typedef struct gv_sim_stream_stats {
	uint64_t msgs, bytes;       /* delivered */
	uint64_t blocked;           /* sends refused with GV_EAGAIN */
	uint64_t resets;            /* messages dropped: down or partitioned */
	uint64_t peak_queued;       /* bytes in flight on one pair, at most */
} gv_sim_stream_stats;

/* Turn the model on (bytes_per_sec 0: 1 GB/s; queue_max 0: 4 MiB).
 * Returns 0, GV_EINVAL, GV_ENOMEM. */
int gv_sim_stream_enable(gv_sim *sim, uint64_t bytes_per_sec,
			 size_t queue_max);
/* Endpoint i's stream calls (ep as given to gv_sim_attach). */
int gv_sim_stream_attach(gv_sim *sim, int i, const gv_sim_stream_ops *ops);
/* Endpoint i sends msg to the endpoint at @to: 0, GV_EAGAIN, GV_EINVAL
 * (no such endpoint, or a message over 4 MiB), -ECONNREFUSED (down or
 * partitioned), GV_ENOMEM. Safe to call from inside an endpoint call. */
int gv_sim_stream_send(gv_sim *sim, int i, const gv_addr *to,
		       const uint8_t *msg, size_t len);
/* Endpoint i stops (true) or resumes (false) reading its streams. */
int gv_sim_stream_stall(gv_sim *sim, int i, bool stalled);
const gv_sim_stream_stats *gv_sim_stream_get_stats(const gv_sim *sim);

#endif /* GV_SIM_SIM_H */
