/* SPDX-License-Identifier: MIT */
/*
 * io_int.h - the worker's state shared by the loop (io.c) and its two
 * backends (uring.c, mmsg.c). The loop owns the endpoints, the timer heap
 * and the send pool, and calls the endpoints; a backend moves datagrams
 * between the sockets and the loop: it hands each one received to
 * gv__io_deliver(), and takes each send slot the loop fills through its
 * queue function.
 */
#ifndef GV_IO_IO_INT_H
#define GV_IO_IO_INT_H

#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <liburing.h>

#include "io/io.h"

/* user_data of an io_uring submission: what it is, and for whom. */
enum {
	GV__IO_OP_RECV = 1, /* multishot recvmsg; index = endpoint */
	GV__IO_OP_SEND = 2, /* sendmsg; index = send slot */
	GV__IO_OP_WAKE = 3, /* eventfd read */
	GV__IO_OP_WATCH = 4, /* poll of the watched fd (gv_io_watch) */
};
#define GV__IO_UD(op, idx) (((uint64_t)(op) << 32) | (uint32_t)(idx))
#define GV__IO_UD_OP(ud) ((unsigned)((ud) >> 32))
#define GV__IO_UD_IDX(ud) ((uint32_t)(ud))

/* io_uring: room for the source address in each receive buffer. The
 * control message follows it, so keep it 8-byte aligned (the header is 16
 * bytes, a sockaddr_in6 28). */
#define GV__IO_NAMELEN ((sizeof(struct sockaddr_in6) + 7) & ~(size_t)7)

/* Control space for an SO_RXQ_OVFL message (a uint32_t) and a UDP_GRO
 * one (an int: the segment size of a coalesced receive). */
#define GV__IO_CMSG_SPACE (CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(int)))

/* Datagrams read per recvmmsg call in the fallback backend. */
#define GV__IO_MMSG_BATCH 64

struct gv__io_ep {
	int fd;
	int family;   /* AF_INET or AF_INET6 */
	gv_addr addr; /* as bound */
	gv_io_ops ops;
	void *ep;
	bool used;          /* the socket exists */
	bool attached;      /* ops/ep set: the loop calls it */
	bool armed;         /* receiving (multishot armed / in epoll) */
	bool need_arm;      /* io_uring: on the re-arm list */
	unsigned arm_fails; /* io_uring: receives ended by an error in a
	                     * row (re-arming stops after a few) */
	gv_time expiry;     /* as last read; GV_TIME_NEVER: not in heap */
	unsigned heap_pos;
	uint32_t drops_raw; /* the kernel's last sk_drops value seen */
	uint64_t drops;     /* accumulated from drops_raw */
	int rcvbuf, sndbuf; /* granted */
	bool dirty;         /* on io->dirty: drain at the end of the batch */
	struct msghdr rmsg; /* io_uring: the multishot recvmsg's template */
};

/* UDP GSO: at most this many datagrams, and bytes, per send */
#define GV__IO_GSO_MAX 32
#define GV__IO_GSO_BYTES 60000

/*
 * A datagram on its way out: the endpoint writes it straight into buf.
 * With UDP GSO a slot can lead a chain: the datagrams of the next slots,
 * all to the same peer and all gso bytes but the last, go out with this
 * one in a single sendmsg (iovs, UDP_SEGMENT = gso); the chained slots are
 * freed with the lead when its send completes.
 */
struct gv__io_slot {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in6 sa; /* large enough for sockaddr_in too */
	uint8_t *buf;
	unsigned ep;
	unsigned nchain; /* slots chained behind this one */
	uint16_t gso;    /* segment size when nchain > 0 */
	unsigned chain[GV__IO_GSO_MAX - 1];
	struct iovec iovs[GV__IO_GSO_MAX];
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
};

/* io_uring: a receive completion holding a buffer, not yet delivered. */
struct gv__io_pend {
	uint32_t ep;
	uint16_t bid;
	int32_t res;
};

struct gv__io_uring {
	struct io_uring ring;
	bool ring_ok; /* io_uring_queue_init succeeded */
	bool enabled; /* created disabled; enabled on first run */
	struct io_uring_buf_ring *br;
	size_t br_size;
	bool br_registered;
	unsigned br_mask;
	struct gv__io_pend *pend; /* ring of buf_count entries */
	unsigned pend_head, pend_tail;
	unsigned *rearm; /* endpoints whose receive ended */
	unsigned nrearm;
	unsigned narmed;   /* multishot receives in the kernel */
	uint64_t wake_val; /* the eventfd read's target */
	bool wake_armed;
	bool watch_armed;
};

struct gv__io_mmsg {
	int epfd;
	bool no_pwait2; /* epoll_pwait2 missing: ms timeouts */
	struct epoll_event *evs;
	unsigned nevs;
	struct mmsghdr rm[GV__IO_MMSG_BATCH];
	struct iovec riov[GV__IO_MMSG_BATCH];
	struct sockaddr_in6 rname[GV__IO_MMSG_BATCH];
	uint64_t rctl[GV__IO_MMSG_BATCH]
	             [(GV__IO_CMSG_SPACE + sizeof(uint64_t) - 1) /
	              sizeof(uint64_t)];
	struct mmsghdr *sm; /* send_slots entries */
	long *res;          /* SEND_BATCH: bytes sent, or -errno, per entry */
	unsigned *sendq;    /* slots queued, in order */
	unsigned nsendq;
};

struct gv_io {
	gv_io_config cfg;
	int kind; /* GV_IO_URING or GV_IO_MMSG */

	struct gv__io_ep *eps;
	unsigned neps;
	unsigned *heap; /* endpoint indices, min-heap on expiry */
	unsigned nheap;
	unsigned *due; /* scratch: endpoints whose timers are due */
	unsigned *dirty; /* endpoints given datagrams, not drained yet */
	unsigned ndirty;

	struct gv__io_slot *slots;
	uint8_t *slot_mem;
	unsigned *free_slots;
	unsigned nfree;

	uint8_t *bufs; /* receive buffers, buf_count * stride */
	size_t bufs_size;
	size_t stride;
	unsigned nbufs;

	int wake_fd;
	int wake_flag; /* 1 while a wake is pending (see gv_io_wake) */
	int watch_fd;  /* gv_io_watch: -1 none */
	void (*watch_cb)(void *ud, gv_time now);
	void *watch_ud;
	bool watch_ready; /* readable: call watch_cb this iteration */

	gv_time now;
	bool in_call;  /* inside an endpoint call or the filter */
	bool running;  /* inside gv_io_run_once (on_iter included) */
	int delivered; /* this iteration */
	bool warned_send;
	bool gso;        /* UDP GSO in use (cfg.gso, until the kernel refuses) */
	bool gro;        /* sockets ask for UDP GRO (cfg.gro, buf_size 64 KiB) */
	bool warned_recv;
	bool warned_buf;

	gv_io_stats st;
	struct gv__io_uring u;
	struct gv__io_mmsg m;
};

/* Loop (io.c) services for the backends. */
void gv__io_log(gv_io *io, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
bool gv__io_deliver(gv_io *io, unsigned epi, const void *name,
                    socklen_t namelen, const uint8_t *buf, size_t len);
/* A receive that may hold several datagrams coalesced by UDP GRO (seg:
 * their size, the last may be shorter; 0: one datagram): deliver each. */
bool gv__io_deliver_gro(gv_io *io, unsigned epi, const void *name,
                        socklen_t namelen, const uint8_t *buf, size_t len,
                        size_t seg);
void gv__io_after_call(gv_io *io, unsigned epi);
void gv__io_mark(gv_io *io, unsigned epi);
/* A send completed (res: bytes, or -errno): count it, free the slot and
 * its chain. */
void gv__io_send_done(gv_io *io, unsigned slot, long res);
void gv__io_drain_marked(gv_io *io);
void gv__io_note_drops(gv_io *io, struct gv__io_ep *e, uint32_t raw);
static inline void
gv__io_slot_put(gv_io *io, unsigned s)
{
	io->free_slots[io->nfree++] = s;
}

/* io_uring backend (uring.c). */
int gv__io_uring_init(gv_io *io);
void gv__io_uring_fini(gv_io *io);
int gv__io_uring_arm(gv_io *io, unsigned epi);
int gv__io_uring_queue_send(gv_io *io, unsigned slot);
int gv__io_uring_reclaim(gv_io *io);
int gv__io_uring_wait(gv_io *io, gv_time wait_us);
int gv__io_uring_finish(gv_io *io);
int gv__io_uring_watch(gv_io *io);

/* Fallback backend (mmsg.c). */
int gv__io_mmsg_init(gv_io *io);
void gv__io_mmsg_fini(gv_io *io);
int gv__io_mmsg_arm(gv_io *io, unsigned epi);
int gv__io_mmsg_queue_send(gv_io *io, unsigned slot);
int gv__io_mmsg_reclaim(gv_io *io);
int gv__io_mmsg_wait(gv_io *io, gv_time wait_us);
int gv__io_mmsg_finish(gv_io *io);
int gv__io_mmsg_watch(gv_io *io, int old_fd);

#endif /* GV_IO_IO_INT_H */
