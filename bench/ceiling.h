/* SPDX-License-Identifier: MIT */
/*
 * ceiling.h - the raw loopback UDP ceiling of this machine, measured with
 * the engine's own transport (a gv_io worker, engine/io/io.h): one
 * endpoint produces datagrams as fast as the loop takes them, another
 * counts them. Gossip benchmarks divide by it, so their figures read as a
 * fraction of what the machine can move at all, which survives a noisy or
 * slower machine better than datagrams per second do.
 *
 * `gvbench ceiling` prints it; gv_bench_ceiling_measure() is the same
 * measurement for other subcommands (throughput measures it in the same
 * run to report efficiency).
 */
#ifndef GV_BENCH_CEILING_H
#define GV_BENCH_CEILING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The engine's default max_datagram (engine/core/node.h). */
#define CEILING_DEF_PAYLOAD 1400
/* Smallest payload: the header that tells measured datagrams apart. */
#define CEILING_MIN_PAYLOAD 16
/* Largest UDP payload over IPv4. */
#define CEILING_MAX_PAYLOAD 65507

struct ceiling_opts {
	double seconds;   /* measured window (default 3) */
	double warmup_s;  /* sending before the window (default 0.5) */
	size_t payload;   /* bytes per datagram (default 1400) */
	int backend;      /* enum gv_io_backend (default GV_IO_AUTO) */
	unsigned threads; /* 1: sender and receiver in one worker; 2: one
	                   * worker each, on two threads pinned to two
	                   * cores; 0 (default): both, the higher is the
	                   * ceiling */
	bool gso;         /* false (default): one datagram per send, as the
	                   * ceiling is defined (batched submissions, not
	                   * batched segments); true: the io layer's UDP GSO
	                   * chains the sender's back-to-back datagrams */
	unsigned batch;   /* datagrams produced per loop iteration; 0
	                   * (default): the worker's send_slots (1024), or
	                   * fewer when the sink's receive buffer could not
	                   * hold that many (large payloads) */
};

/* One configuration (one or two threads) measured. */
struct ceiling_run {
	unsigned threads;
	unsigned batch;         /* datagrams produced per iteration */
	bool pinned;            /* threads pinned to cpu_send / cpu_recv */
	int cpu_send, cpu_recv; /* -1: not pinned */
	uint64_t sent;          /* produced by the sender in the window */
	uint64_t received;      /* of those, delivered to the receiver */
	uint64_t drops;         /* sent - received */
	uint64_t kernel_drops;  /* the sink socket's receive-queue drops
	                         * during the window (the kernel counter
	                         * behind gv_io's kernel_drops) */
	uint64_t send_errors;   /* sends the kernel refused (gv_io stats) */
	double per_submit;      /* datagrams sent per submit (the batch the
	                         * sender's worker reached) */
	double max_iter_ms;     /* the sender's longest loop iteration in the
	                         * window: tens of ms mean the machine was
	                         * busy and the figure is low */
	double wall_s;          /* the window as the sender measured it */
	double dps;             /* received / wall_s */
	double bps;             /* dps * payload */
};

struct ceiling_result {
	struct ceiling_opts opts; /* as given (batch 0: see runs[].batch) */
	char backend[16];         /* "io_uring" or "recvmmsg" */
	unsigned nruns;
	struct ceiling_run runs[2]; /* in order: one thread, two */
	unsigned best;              /* index into runs: the higher dps */
	double ceiling_dps;         /* runs[best].dps */
	double ceiling_bps;         /* runs[best].bps */
	double total_s;             /* the whole measurement, warm-ups and
	                             * drains included */
};

/* Fill o with the defaults above. */
void gv_bench_ceiling_opts_default(struct ceiling_opts *o);

/*
 * gv_bench_ceiling_measure - run the measurement: for each configuration
 * asked, warm up for opts->warmup_s, count for opts->seconds, then let the
 * receiver drain. Takes about nruns * (warmup_s + seconds + 0.1) seconds
 * and the one or two threads it starts. Prints nothing (gv_io warnings
 * aside, on stderr).
 * Returns 0 and *out; GV_EINVAL (opts out of range); GV_ENOMEM; -errno
 * from gv_io (io_uring refused with GV_IO_URING, sockets, the ring),
 * from pthread_create, or -ETIMEDOUT when a worker did not finish within
 * 10 s of its window.
 */
int gv_bench_ceiling_measure(const struct ceiling_opts *opts,
                             struct ceiling_result *out);

/*
 * gvbench_ceiling - the `gvbench ceiling` subcommand. argc/argv are the
 * arguments after the subcommand name. Returns the exit status: 0, 1 when
 * the measurement failed, 2 on a usage error.
 */
int gvbench_ceiling(int argc, char **argv);

#endif /* GV_BENCH_CEILING_H */
