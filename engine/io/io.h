/* SPDX-License-Identifier: MIT */
/*
 * io.h - the real-network transport: one worker thread's UDP event loop.
 *
 * A gv_io is one worker: one thread, one io_uring, and the UDP sockets of
 * the endpoints it hosts (grapevine nodes, or anything with the four
 * sans-IO calls of gv_io_ops), one socket each. An iteration of the loop
 * waits for completions, the earliest endpoint expiry or the caller's
 * bound; hands every datagram received to its endpoint; runs the expired
 * timers; drains an endpoint's sends after every call into it; calls the
 * owner's on_iter hook; and submits every datagram produced with one
 * submit.
 *
 * io_uring backend: one multishot recvmsg per socket into a provided
 * buffer ring shared by the worker's sockets, re-armed when it ends (the
 * ring running dry included); sends are sendmsg SQEs built in a
 * preallocated pool of send slots, which the endpoints write into
 * directly; the wait's timeout is the earliest expiry; a wake from another
 * thread is an eventfd read completing. Fallback backend, for kernels or
 * sandboxes without io_uring: epoll for readiness and timeouts, recvmmsg
 * and sendmmsg in batches. Once running, neither allocates, takes a lock
 * or makes a syscall per datagram.
 *
 * Threading: gv_io_wake() may be called from any thread. Everything else
 * belongs to the thread that runs the loop: with io_uring the ring is
 * bound to the thread of its first submit (the kernel's single-issuer
 * mode) - the first gv_io_run_once(), unless a poke or an attach before it
 * had to submit because the send pool or the submission queue filled - so
 * a gv_io may be set up on one thread and handed to its worker before it
 * first runs. Endpoints are never called re-entrantly.
 */
#ifndef GV_IO_IO_H
#define GV_IO_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grapevine/grapevine.h>

typedef struct gv_io gv_io;

/*
 * The four calls the loop makes into an endpoint: the sans-IO contract of
 * engine/core/node.h (and of gv_sim_ops). ep is the pointer given to
 * gv_io_add() or gv_io_attach(); the loop never frees it.
 *
 * recv:          one datagram from `from`; buf is valid for the call only.
 *                A negative return is counted (ep_errors) and ignored.
 * send:          the next datagram: write it to buf (cap bytes, the
 *                configured buf_size), set *to, return its length; 0 when
 *                nothing is due; negative on error (counted; the drain
 *                stops).
 * next_expiry:   when handle_expiry is due, GV_TIME_NEVER if never. A time
 *                at or before now means "now".
 * handle_expiry: run the timers due at now. Negative returns are counted.
 */
typedef gv_endpoint_ops gv_io_ops;

/* Which backend gv_io_new() sets up. */
enum gv_io_backend {
	GV_IO_AUTO = 0, /* io_uring if the kernel allows it, else GV_IO_MMSG */
	GV_IO_URING,    /* io_uring or fail */
	GV_IO_MMSG,     /* epoll + recvmmsg / sendmmsg */
};

enum gv_io_log_level {
	GV_IO_LOG_ERROR = 0,
	GV_IO_LOG_WARN,
	GV_IO_LOG_INFO,
	GV_IO_LOG_DEBUG,
};

/*
 * Log sink: one line, no trailing newline, valid for the call only.
 * Called from the loop's thread (and from gv_io_new / gv_io_add).
 */
typedef void (*gv_io_log_fn)(void *ud, int level, const char *msg);

/*
 * Drop filter (for benchmarks that cut the network): called for every
 * datagram an endpoint sends (outgoing, peer = destination) and every
 * datagram that arrives for it (incoming, peer = source); false drops it
 * (counted in filtered_out / filtered_in). Called on the loop's thread;
 * it must not call back into the gv_io.
 */
typedef bool (*gv_io_filter_fn)(void *ud, int ep_idx, const gv_addr *peer,
                                bool outgoing);

typedef struct gv_io_config {
	int backend;            /* enum gv_io_backend; GV_IO_AUTO */
	unsigned max_endpoints; /* 64: sockets this worker can host */
	unsigned ring_entries;  /* 1024: io_uring submission queue size */
	unsigned buf_count;     /* 1024: receive buffers, rounded up to a
	                         * power of two (at most 32768) */
	size_t buf_size;        /* 2048: the largest datagram received
	                         * whole, and the cap given to send() */
	unsigned send_slots;    /* 1024: datagrams queued or in flight */
	int rcvbuf, sndbuf;     /* 4 MiB each, best effort (see
	                         * gv_io_get_ep_info); 0: the default */
	bool reuse_addr;        /* false. true: SO_REUSEADDR on sockets
	                         * bound to an explicit port, which for UDP
	                         * lets two live sockets share it (never
	                         * with port 0: Linux could then pick a
	                         * port another such socket holds) */
	gv_io_log_fn log;       /* NULL: warnings and errors to stderr */
	void *log_ud;
	void (*on_iter)(void *ud); /* once per iteration, before the submit:
	                            * drain the owner's queues here */
	void *iter_ud;
	gv_io_filter_fn filter; /* NULL: nothing dropped */
	void *filter_ud;
	bool gso;               /* true: datagrams an endpoint sends one peer
	                         * back to back (same size but the last) go
	                         * out as one UDP GSO send; off for good,
	                         * with a log line, if the kernel refuses */
	bool gro;               /* true: sockets ask for UDP GRO, so such a
	                         * GSO send arrives as one receive, split
	                         * here; only with buf_size 65536 (a
	                         * coalesced receive can be that long) */
} gv_io_config;

/* Fill cfg with the defaults above. */
void gv_io_config_default(gv_io_config *cfg);

/*
 * Counters, per worker. Datagrams an endpoint produced are accounted
 * exactly once, when their fate is known: dgrams_out, send_errors or
 * filtered_out (sends still in flight are in none yet).
 */
typedef struct gv_io_stats {
	uint64_t dgrams_in, bytes_in;   /* handed to endpoints */
	uint64_t dgrams_out, bytes_out; /* accepted by the kernel */
	uint64_t send_errors;   /* refused by the kernel, or to an address
	                         * the socket's family cannot reach */
	uint64_t recv_errors;   /* failed receives (malformed completion,
	                         * socket error) */
	uint64_t ep_errors;     /* negative returns from the endpoints */
	uint64_t truncated;     /* larger than buf_size: dropped */
	uint64_t buf_exhausted; /* multishot receives ended because the
	                         * buffer ring ran dry (then re-armed) */
	uint64_t rearms;        /* multishot receives re-armed */
	uint64_t kernel_drops;  /* datagrams the kernel dropped at our
	                         * sockets (receive queue full) */
	uint64_t filtered_in, filtered_out; /* dropped by the filter */
	uint64_t detached_drops; /* arrived for a detached endpoint */
	uint64_t pool_exhausted; /* send pool ran dry mid-iteration: the
	                          * loop submitted and reaped to go on */
	uint64_t iterations;     /* gv_io_run_once calls */
	uint64_t submits;        /* io_uring submits / sendmmsg calls */
	uint64_t expiries;       /* handle_expiry calls */
	uint64_t wakes;          /* wake-ups from gv_io_wake seen */
	uint64_t gso_sends;      /* sends that carried several datagrams
	                          * (UDP GSO) */
	uint64_t gro_recvs;      /* receives that carried several datagrams
	                          * (UDP GRO) */
} gv_io_stats;

/* One socket as gv_io_get_ep_info() shows it. */
typedef struct gv_io_ep_info {
	gv_addr addr; /* the bound address (port as bound) */
	int fd;
	int rcvbuf, sndbuf; /* what the kernel granted (getsockopt: twice
	                     * the usable payload bytes, as Linux reports) */
	uint64_t kernel_drops;
	bool attached;
} gv_io_ep_info;

/*
 * gv_io_new - set up a worker: the receive buffers, the send pool and,
 * with io_uring, the ring and its registered buffer ring. With GV_IO_AUTO
 * an io_uring that cannot be set up (ENOSYS, EPERM from a sandbox or
 * kernel.io_uring_disabled, ...) falls back to GV_IO_MMSG and logs why at
 * GV_IO_LOG_WARN.
 * Returns 0 and *out; GV_EINVAL (bad backend, zero or too large sizes,
 * buf_size under 64 or over 65536); GV_ENOMEM; -errno from the kernel
 * (with GV_IO_URING, io_uring's own error).
 */
int gv_io_new(gv_io **out, const gv_io_config *cfg);

/* Close every socket and free the worker. Endpoints are not freed. */
void gv_io_del(gv_io *io);

/* The backend in use: "io_uring" or "recvmmsg". */
const char *gv_io_backend_name(const gv_io *io);

/*
 * gv_io_add - open a UDP socket bound to *bind (IPv4 or IPv6; port 0
 * picks a free port) with SO_RXQ_OVFL, the configured buffer sizes and,
 * if cfg.reuse_addr, SO_REUSEADDR, and host ops/ep on it. ops may be NULL
 * to attach the endpoint later (an endpoint often needs its own bound
 * address to be created): until gv_io_attach() nothing is read from the
 * socket, so datagrams wait in the kernel. ops is copied. *bound (may be
 * NULL) receives the bound address.
 * Returns the endpoint's index (>= 0, in order of addition); GV_EINVAL
 * (bad address family, inside an endpoint call); GV_EFULL (max_endpoints
 * reached); -errno from socket(), setsockopt() or bind() (e.g.
 * -EADDRINUSE, -EADDRNOTAVAIL); gv_io_attach()'s errors (the socket is
 * then closed).
 */
int gv_io_add(gv_io *io, const gv_addr *bind, const gv_io_ops *ops, void *ep,
              gv_addr *bound);

/*
 * gv_io_attach - host ops/ep on socket idx (added without an endpoint, or
 * detached), start receiving, drain its sends and read its expiry.
 * Returns 0, GV_EINVAL (bad index, NULL ops or ep, a function missing,
 * already attached, inside an endpoint call), -errno when the kernel
 * refused to start receiving (epoll_ctl; a full submission queue that
 * could not be submitted).
 */
int gv_io_attach(gv_io *io, int idx, const gv_io_ops *ops, void *ep);

/*
 * gv_io_detach - stop calling socket idx's endpoint (the caller may then
 * free it): its timer stops and datagrams arriving for it are dropped and
 * counted (detached_drops). Sends already queued still go out. The socket
 * stays open, for gv_io_attach() to host a new endpoint.
 * Returns 0, GV_EINVAL (bad index, not attached, inside an endpoint call).
 */
int gv_io_detach(gv_io *io, int idx);

/*
 * gv_io_poke - the owner called into endpoint idx outside the loop (a
 * local put, a join): drain its sends and re-read its expiry. The
 * datagrams go out with the next iteration's submit.
 * Returns 0, GV_EINVAL (bad index, not attached, inside an endpoint call).
 */
int gv_io_poke(gv_io *io, int idx);

/* Socket idx's address, fd, granted buffer sizes and kernel drops.
 * Returns 0, GV_EINVAL. */
int gv_io_get_ep_info(gv_io *io, int idx, gv_io_ep_info *out);

/*
 * gv_io_run_once - one iteration: submit what is queued and wait up to
 * max_wait_us (0: do not block; GV_TIME_NEVER: no bound) for a datagram, a
 * wake or the earliest endpoint expiry; deliver every datagram received;
 * run the due timers; call on_iter; submit the datagrams produced.
 * Returns the number of datagrams delivered (>= 0), or -errno when the
 * kernel refused the ring or the wait (-EEXIST: called from another thread
 * than the one the ring is bound to); GV_EINVAL inside an endpoint call or
 * inside gv_io_run_once (from on_iter).
 */
int gv_io_run_once(gv_io *io, gv_time max_wait_us);

/*
 * gv_io_run - iterate until *stop is non-zero, checked between iterations.
 * A signal handler may set it (the signal ends the wait); another thread
 * sets it with an atomic store and then calls gv_io_wake().
 * Returns 0 when stopped, or the first error of gv_io_run_once().
 */
int gv_io_run(gv_io *io, const volatile sig_atomic_t *stop);

/*
 * gv_io_wake - make the loop iterate soon (its current or next wait ends
 * at once), so on_iter runs after this call. Any thread, async-signal
 * safe; wakes that come while one is pending are coalesced into it.
 */
void gv_io_wake(gv_io *io);

/*
 * gv_io_watch - one more descriptor for the loop to wait on (a worker's
 * TCP epoll set, say): while fd is readable, cb(ud, now) runs once per
 * iteration, after the timers and before on_iter, outside any endpoint
 * call (so it may call into endpoints and gv_io_poke them). One watch per
 * worker; fd -1 removes it. The owner's thread, outside gv_io_run_once.
 * Returns 0, GV_EINVAL, -errno (epoll_ctl, a full submission queue).
 */
int gv_io_watch(gv_io *io, int fd, void (*cb)(void *ud, gv_time now),
		void *ud);

/* Copy the counters to *out, first reading each socket's drop counter
 * from the kernel (a syscall per socket: not for the hot path). */
void gv_io_get_stats(gv_io *io, gv_io_stats *out);

/* CLOCK_MONOTONIC in microseconds: the time base the loop gives the
 * endpoints. */
gv_time gv_io_now(void);

/*
 * gv_io_addr_parse - "1.2.3.4:port", "[::1]:port", or an address without
 * a port (port 0). Returns 0 and *out, GV_EINVAL.
 */
int gv_io_addr_parse(gv_addr *out, const char *s);

/* gv_io_addr_format - write a in the form gv_io_addr_parse reads (at most
 * 48 bytes with the NUL). Returns the length written, as snprintf. */
int gv_io_addr_format(const gv_addr *a, char *buf, size_t cap);

#endif /* GV_IO_IO_H */
