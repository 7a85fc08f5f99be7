/* SPDX-License-Identifier: MIT */
/*
 * cache_load.h - one load step of `gvbench cache`: C connections to the
 * node under test send a SET/GET mix for a while, and a reader thread
 * with one connection to every other node measures read-after-write lag
 * on a sample of the acknowledged SETs.
 *
 * Closed loop (rate 0): each connection sends `pipeline` requests
 * together and the next ones when all their replies are in (as
 * redis-benchmark -P does); the step measures the most the node
 * acknowledges. Open loop (rate > 0): the same batches of `pipeline`
 * requests, put on a timeline at rate/(C x pipeline) batches a second
 * per connection, each sent when due once the connection's previous
 * batch is answered; a request's latency counts from its batch's
 * scheduled time, so queueing in front of a slow node shows (no
 * coordinated omission). The requests keep the shape of the closed
 * loop's: at a fraction of the max, the node does that fraction of the
 * max step's work, not more system calls for the same requests.
 *
 * Keys: connection c owns cache:<c>:0 .. cache:<c>:<K/C - 1>, and every
 * SET writes a value that starts with 16 hex digits of a sequence number
 * that grows per connection across the steps of a cluster, then filler
 * to the value size. A connection's replies come in order, so the last
 * acknowledged sequence of every key is known (cache_keys.acked): what
 * the no-lost-write check expects at every node, and what a lag reader
 * waits for (a larger one counts: the write was applied or overwritten).
 *
 * Lag: from the time the SET's reply reached the writer (its
 * acknowledgment) to the time a GET reply at the other node first showed
 * that write or a newer one, both on CLOCK_MONOTONIC of this process. A
 * reader learns of a sampled write at its acknowledgment, reads at once,
 * and reads again every poll_ns after each reply until it sees it or
 * lag_timeout_ns passes; a lag therefore includes one GET round trip.
 */
#ifndef GV_BENCH_CACHE_LOAD_H
#define GV_BENCH_CACHE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_SEQ_DIGITS 16 /* a value's leading hex sequence number */

/* The key space of a cluster and what it holds, kept across its steps. */
struct cache_keys {
	size_t conns, per_conn; /* keys = conns * per_conn */
	uint64_t *acked;        /* per key: last acknowledged sequence, 0:
	                         * never written */
	uint64_t *seq;          /* per connection: last sequence used */
};

/* Room for conns x per_conn keys, all unwritten. Returns 0, -ENOMEM. */
int cache_keys_init(struct cache_keys *k, size_t conns, size_t per_conn);
void cache_keys_fini(struct cache_keys *k);

/* The name of key index i ("cache:<c>:<j>"); returns its length. */
size_t cache_key_name(const struct cache_keys *k, size_t i, char *buf,
                      size_t cap);

/* The sequence number a value starts with; 0 when it starts with none. */
uint64_t cache_value_seq(const char *v, size_t len);

struct cache_step_opts {
	int port;                /* the node under test */
	const int *reader_ports; /* the other nodes, nreaders of them */
	size_t nreaders;
	unsigned conns, pipeline;
	double get_ratio; /* fraction of the requests that are GETs */
	size_t value_size;
	double seconds;
	double rate;      /* ops/s offered; 0: closed loop */
	size_t lag_max;   /* sampled SETs per step, spread over it; 0: none */
	uint64_t poll_ns; /* a reader's pause between polls */
	uint64_t lag_timeout_ns;
	uint64_t drain_timeout_ns; /* replies still missing after the load */
	uint64_t seed;
	bool progress; /* a bar on stderr */
	const char *label;
};

struct cache_step {
	double elapsed_s; /* first request to last reply */
	uint64_t sets, gets, get_hits, errors;
	uint64_t *lat_ns; /* sorted latencies, nlat (every request) */
	size_t nlat;
	uint64_t *lag_ns; /* sorted lags, nlag (sampled writes x readers) */
	size_t nlag;
	uint64_t lag_writes;   /* writes sampled */
	uint64_t lag_timeouts; /* (write, reader) pairs never seen */
	double max_late_ms;    /* open loop: the most a batch was sent
	                        * after its scheduled time (its connection
	                        * still waiting, or the client behind) */
};

/*
 * cache_step_run - one step against the node o->port, updating k.
 * Errors (a connection refused or closed, replies missing after the
 * drain timeout, a reply that is not RESP) are printed as "gvbench
 * cache: ...". Returns 0, -EINTR when interrupted (cc_interrupted), or
 * another -errno. Free r with cache_step_fini, whatever the result.
 */
int cache_step_run(const struct cache_step_opts *o, struct cache_keys *k,
                   struct cache_step *r);
void cache_step_fini(struct cache_step *r);

#endif /* GV_BENCH_CACHE_LOAD_H */
