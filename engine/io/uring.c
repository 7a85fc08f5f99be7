/* SPDX-License-Identifier: MIT */
/*
 * uring.c - the io_uring backend.
 *
 * Receiving: every socket has one multishot recvmsg in the kernel, which
 * picks a buffer from a provided buffer ring (group GV_IO_BGID) shared by
 * the worker's sockets and posts one completion per datagram: the
 * io_uring_recvmsg_out header, the source address, the SO_RXQ_OVFL
 * control message, then the payload. A completion without
 * IORING_CQE_F_MORE ends the request (the ring ran dry: -ENOBUFS; or an
 * error) and the socket goes on the re-arm list, re-armed at the end of
 * the iteration, once the buffers delivered meanwhile are back in the
 * ring; datagrams that arrive in between wait in the socket's queue.
 *
 * Completions are reaped in two steps: a send completion frees its slot at
 * once, a receive completion holding a buffer is queued (the pending
 * ring) and delivered by the loop. Reaping never calls an endpoint, so it
 * may run in the middle of a drain, when the send pool runs dry. The
 * pending ring cannot overflow: each entry holds a distinct buffer.
 *
 * The ring is created disabled, single-issuer, with deferred task work
 * (completions are posted only when the loop enters the kernel, in
 * batches) and the task-run flag (the kernel says when receive work is
 * still pending), and enabled by the first submit, from the loop's
 * thread. Kernels without those flags get the ring without them.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "io/io_int.h"

#define GV_IO_BGID 0
/* Receives ended by an error, in a row, after which a socket is no
 * longer re-armed (a kernel refusing multishot recvmsg would otherwise
 * fail every iteration). */
#define MAX_ARM_FAILS 8
/* Extra kernel entries per iteration to run pending receive work. */
#define MAX_EXTRA_ENTERS 64

static unsigned
pow2(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint8_t *
buf_addr(const gv_io *io, unsigned bid)
{
	return io->bufs + (size_t)bid * io->stride;
}

static int
ensure_enabled(gv_io *io)
{
	struct gv__io_uring *u = &io->u;
	int r;

	if (u->enabled)
		return 0;
	/* liburing 2.3 declares io_uring_enable_rings() but does not export
	 * it (missing from its symbol map): make the call ourselves. */
	r = (int)syscall(__NR_io_uring_register, u->ring.ring_fd,
	                 IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (r < 0)
		return -errno;
	u->enabled = true;
	return 0;
}

/* Submit what is queued (not waiting). */
static int
submit(gv_io *io)
{
	int r = ensure_enabled(io);

	if (r < 0)
		return r;
	io->st.submits++;
	r = io_uring_submit(&io->u.ring);
	return r < 0 ? r : 0;
}

/* An SQE, submitting what is queued if the submission queue is full. */
static struct io_uring_sqe *
get_sqe(gv_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->u.ring);

	if (!sqe && submit(io) == 0)
		sqe = io_uring_get_sqe(&io->u.ring);
	return sqe;
}

static void
return_buf(gv_io *io, unsigned bid)
{
	struct gv__io_uring *u = &io->u;

	io_uring_buf_ring_add(u->br, buf_addr(io, bid), (unsigned)io->stride,
	                      (unsigned short)bid, (int)u->br_mask, 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static int
arm_wake(gv_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, io->wake_fd, &io->u.wake_val,
	                   sizeof(io->u.wake_val), 0);
	io_uring_sqe_set_data64(sqe, GV__IO_UD(GV__IO_OP_WAKE, 0));
	io->u.wake_armed = true;
	return 0;
}

static int
arm_watch(gv_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, io->watch_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, GV__IO_UD(GV__IO_OP_WATCH, 0));
	io->u.watch_armed = true;
	return 0;
}

int
gv__io_uring_watch(gv_io *io)
{
	/* a poll armed on a previous fd completes on its own (or never):
	 * its completion only marks the watch ready once, harmlessly */
	io->u.watch_armed = false;
	return io->watch_fd >= 0 ? arm_watch(io) : 0;
}

int
gv__io_uring_arm(gv_io *io, unsigned epi)
{
	struct gv__io_ep *e = &io->eps[epi];
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	/* With a provided buffer only the lengths count: the kernel lays
	 * out name and control data at the start of each buffer. */
	memset(&e->rmsg, 0, sizeof(e->rmsg));
	e->rmsg.msg_namelen = GV__IO_NAMELEN;
	e->rmsg.msg_controllen = GV__IO_CMSG_SPACE;
	io_uring_prep_recvmsg_multishot(sqe, e->fd, &e->rmsg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = GV_IO_BGID;
	io_uring_sqe_set_data64(sqe, GV__IO_UD(GV__IO_OP_RECV, epi));
	e->armed = true;
	io->u.narmed++;
	return 0;
}

int
gv__io_uring_queue_send(gv_io *io, unsigned slot)
{
	struct gv__io_slot *sl = &io->slots[slot];
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_sendmsg(sqe, io->eps[sl->ep].fd, &sl->msg, 0);
	io_uring_sqe_set_data64(sqe, GV__IO_UD(GV__IO_OP_SEND, slot));
	return 0;
}

static void
recv_ended(gv_io *io, unsigned epi, int res)
{
	struct gv__io_ep *e = &io->eps[epi];

	e->armed = false;
	io->u.narmed--;
	if (res < 0 && res != -ENOBUFS && res != -ECANCELED &&
	    ++e->arm_fails >= MAX_ARM_FAILS) {
		gv__io_log(io, GV_IO_LOG_ERROR,
		           "socket %u: receive failed %u times in a row (%s): "
		           "no longer receiving",
		           epi, e->arm_fails, strerror(-res));
		return;
	}
	if (!e->need_arm) {
		e->need_arm = true;
		io->u.rearm[io->u.nrearm++] = epi;
	}
}

/* Account one completion. Never calls an endpoint. */
static void
handle_cqe(gv_io *io, const struct io_uring_cqe *cqe)
{
	struct gv__io_uring *u = &io->u;
	uint64_t ud = cqe->user_data;
	unsigned idx = GV__IO_UD_IDX(ud);

	switch (GV__IO_UD_OP(ud)) {
	case GV__IO_OP_SEND:
		gv__io_send_done(io, idx, cqe->res);
		break;
	case GV__IO_OP_RECV:
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

			if (cqe->res >= 0) {
				struct gv__io_pend *p =
				        &u->pend[u->pend_tail++ & u->br_mask];

				p->ep = idx;
				p->bid = (uint16_t)bid;
				p->res = cqe->res;
			} else {
				return_buf(io, bid);
			}
		}
		if (cqe->res == -ENOBUFS) {
			io->st.buf_exhausted++;
		} else if (cqe->res < 0 && cqe->res != -ECANCELED) {
			io->st.recv_errors++;
			if (!io->warned_recv) {
				io->warned_recv = true;
				gv__io_log(io, GV_IO_LOG_WARN,
				           "recvmsg failed: %s (counted; "
				           "warned once)",
				           strerror(-cqe->res));
			}
		}
		if (!(cqe->flags & IORING_CQE_F_MORE))
			recv_ended(io, idx, cqe->res);
		break;
	case GV__IO_OP_WATCH:
		u->watch_armed = false;
		if (io->watch_fd >= 0)
			io->watch_ready = true;
		break;
	case GV__IO_OP_WAKE:
		u->wake_armed = false;
		if (cqe->res >= 0)
			io->st.wakes++;
		break;
	default:
		break; /* a cancel's own completion, liburing's timeout */
	}
}

static void
reap(gv_io *io)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&io->u.ring, head, cqe)
	{
		handle_cqe(io, cqe);
		n++;
	}
	io_uring_cq_advance(&io->u.ring, n);
}

static void
deliver(gv_io *io, const struct gv__io_pend *p)
{
	struct gv__io_ep *e = &io->eps[p->ep];
	struct io_uring_recvmsg_out *o;
	struct cmsghdr *cm;
	uint8_t *buf = buf_addr(io, p->bid);
	bool called = false;
	size_t seg = 0; /* UDP GRO: several datagrams of this size */

	o = io_uring_recvmsg_validate(buf, p->res, &e->rmsg);
	if (!o) {
		io->st.recv_errors++;
		goto out;
	}
	for (cm = io_uring_recvmsg_cmsg_firsthdr(o, &e->rmsg); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(o, &e->rmsg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SO_RXQ_OVFL &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
			uint32_t v;

			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			gv__io_note_drops(io, e, v);
		} else if (cm->cmsg_level == SOL_UDP &&
		           cm->cmsg_type == UDP_GRO &&
		           cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;

			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			seg = v > 0 ? (size_t)v : 0;
		}
	}
	/* Whatever room the buffer has, buf_size is the limit, as with
	 * recvmmsg. */
	if ((o->flags & MSG_TRUNC) || o->payloadlen > io->cfg.buf_size) {
		io->st.truncated++;
		goto out;
	}
	e->arm_fails = 0;
	called = gv__io_deliver_gro(
	        io, p->ep, io_uring_recvmsg_name(o),
	        o->namelen < e->rmsg.msg_namelen ? o->namelen
	                                         : e->rmsg.msg_namelen,
	        io_uring_recvmsg_payload(o, &e->rmsg),
	        io_uring_recvmsg_payload_length(o, p->res, &e->rmsg), seg);
out:
	/* The endpoint copied what it keeps: the buffer can go back before
	 * the drain, which may wait for the kernel. */
	return_buf(io, p->bid);
	if (called)
		gv__io_mark(io, p->ep);
}

static void
deliver_pending(gv_io *io)
{
	struct gv__io_uring *u = &io->u;

	/* A drain may reap more completions onto the tail: keep going. */
	while (u->pend_head != u->pend_tail) {
		struct gv__io_pend p = u->pend[u->pend_head++ & u->br_mask];

		deliver(io, &p);
	}
}

int
gv__io_uring_reclaim(gv_io *io)
{
	while (io->nfree == 0) {
		int r = ensure_enabled(io);

		if (r < 0)
			return r;
		if (io_uring_sq_ready(&io->u.ring))
			io->st.submits++;
		r = io_uring_submit_and_wait(&io->u.ring, 1);
		if (r < 0 && r != -EINTR && r != -ETIME)
			return r;
		reap(io);
	}
	return 0;
}

int
gv__io_uring_wait(gv_io *io, gv_time wait_us)
{
	struct gv__io_uring *u = &io->u;
	struct io_uring_cqe *cqe;
	int r = ensure_enabled(io);

	if (r < 0)
		return r;
	/* Completions already posted (by the last submit), or received
	 * datagrams reaped mid-drain: no need to enter the kernel. */
	if (io_uring_cq_ready(&u->ring) == 0 && u->pend_head == u->pend_tail) {
		if (io_uring_sq_ready(&u->ring))
			io->st.submits++;
		if (wait_us == 0) {
			r = io_uring_submit_and_get_events(&u->ring);
		} else if (wait_us == GV_TIME_NEVER) {
			r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
			                                     NULL, NULL);
		} else {
			struct __kernel_timespec ts = {
			        .tv_sec = (long long)(wait_us / 1000000u),
			        .tv_nsec =
			                (long long)(wait_us % 1000000u) * 1000,
			};

			r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
			                                     &ts, NULL);
		}
		if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN &&
		    r != -EBUSY)
			return r;
	}
	io->now = gv_io_now();
	reap(io);
	deliver_pending(io);
	/*
	 * A multishot receive posts a bounded batch of datagrams per run of
	 * task work (32 on current kernels) and leaves the rest queued as
	 * more task work, which IORING_SQ_TASKRUN announces: enter again to
	 * run it, so a socket is read as fast as datagrams arrive, not 32
	 * per iteration. Bounded, so timers and on_iter still run.
	 */
	for (unsigned extra = 0;
	     extra < MAX_EXTRA_ENTERS && io->delivered < (int)io->nbufs * 4 &&
	     (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
	     extra++) {
		r = io_uring_get_events(&u->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
		io->now = gv_io_now();
		reap(io);
		deliver_pending(io);
	}
	/* Drain the endpoints given datagrams; a drain that waits for send
	 * slots may reap more datagrams: deliver and drain those too. */
	for (;;) {
		gv__io_drain_marked(io);
		if (u->pend_head == u->pend_tail)
			break;
		deliver_pending(io);
	}
	return 0;
}

int
gv__io_uring_finish(gv_io *io)
{
	struct gv__io_uring *u = &io->u;
	int r;

	while (u->nrearm) {
		unsigned epi = u->rearm[--u->nrearm];

		io->eps[epi].need_arm = false;
		if (gv__io_uring_arm(io, epi) < 0) {
			io->eps[epi].need_arm = true;
			u->nrearm++;
			break;
		}
		io->st.rearms++;
	}
	if (!u->wake_armed)
		arm_wake(io);
	if (io->watch_fd >= 0 && !u->watch_armed && !io->watch_ready)
		arm_watch(io);
	if (!io_uring_sq_ready(&u->ring))
		return 0;
	r = ensure_enabled(io);
	if (r < 0)
		return r;
	io->st.submits++;
	/* Submit, and post what completed meanwhile (deferred task work),
	 * so a busy next iteration need not enter the kernel to wait. */
	r = io_uring_submit_and_get_events(&u->ring);
	return r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY ? r : 0;
}

int
gv__io_uring_init(gv_io *io)
{
	static const unsigned flagsets[] = {
	        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
	                IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
	                IORING_SETUP_R_DISABLED,
	        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
	                IORING_SETUP_TASKRUN_FLAG,
	        0,
	};
	struct gv__io_uring *u = &io->u;
	const gv_io_config *c = &io->cfg;
	struct io_uring_params p;
	struct io_uring_buf_reg reg;
	unsigned nbufs = pow2(c->buf_count), i;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int r = -EINVAL;
	unsigned flags = 0; /* the set the ring was created with */

	for (i = 0; i < sizeof(flagsets) / sizeof(flagsets[0]); i++) {
		memset(&p, 0, sizeof(p));
		/* Room for every completion that can be outstanding: one per
		 * buffer, per send slot, per socket, and the wake. */
		p.flags =
		        flagsets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		p.cq_entries =
		        pow2(nbufs + c->send_slots + c->max_endpoints + 2);
		r = io_uring_queue_init_params(c->ring_entries, &u->ring, &p);
		flags = flagsets[i];
		if (r != -EINVAL)
			break;
	}
	if (r < 0)
		return r;
	u->ring_ok = true;
	u->enabled = !(flags & IORING_SETUP_R_DISABLED);
	gv__io_log(io, GV_IO_LOG_DEBUG,
	           "io_uring: %u sq / %u cq entries, flags %#x", p.sq_entries,
	           p.cq_entries, p.flags);

	u->br_mask = nbufs - 1;
	u->br_size =
	        (nbufs * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
	u->br = mmap(NULL, u->br_size, PROT_READ | PROT_WRITE,
	             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->br == MAP_FAILED) {
		u->br = NULL;
		return -ENOMEM;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = nbufs;
	reg.bgid = GV_IO_BGID;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0)
		return r;
	u->br_registered = true;
	io_uring_buf_ring_init(u->br);

	/* Each buffer: the recvmsg_out header, the source address, the
	 * drop counter's control message, then buf_size of payload. */
	io->nbufs = nbufs;
	io->stride = (sizeof(struct io_uring_recvmsg_out) + GV__IO_NAMELEN +
	              GV__IO_CMSG_SPACE + c->buf_size + 63) &
	             ~(size_t)63;
	io->bufs_size = (size_t)nbufs * io->stride;
	io->bufs = mmap(NULL, io->bufs_size, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (io->bufs == MAP_FAILED) {
		io->bufs = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(u->br, buf_addr(io, i),
		                      (unsigned)io->stride, (unsigned short)i,
		                      (int)u->br_mask, (int)i);
	io_uring_buf_ring_advance(u->br, (int)nbufs);

	u->pend = calloc(nbufs, sizeof(*u->pend));
	u->rearm = calloc(c->max_endpoints, sizeof(*u->rearm));
	if (!u->pend || !u->rearm)
		return -ENOMEM;
	/* Blocking: the ring waits for it, never the thread. */
	io->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (io->wake_fd < 0)
		return -errno;
	return arm_wake(io);
}

/* Cancel everything in the kernel and wait (briefly) for it to finish, so
 * no request still writes into buffers about to be unmapped. */
static void
quiesce(gv_io *io)
{
	struct gv__io_uring *u = &io->u;
	struct io_uring_sqe *sqe;
	int tries;

	if (!u->enabled)
		return; /* nothing was ever submitted */
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe && io_uring_submit(&u->ring) >= 0)
		sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, 0);
	for (tries = 0; tries < 100; tries++) {
		struct __kernel_timespec ts = {.tv_nsec = 10 * 1000 * 1000};
		struct io_uring_cqe *cqe;
		int r;

		r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts,
		                                     NULL);
		if (r < 0 && r != -ETIME && r != -EINTR)
			return; /* e.g. -EEXIST: another thread's ring */
		reap(io);
		u->pend_head = u->pend_tail; /* not delivered: going away */
		if (u->narmed == 0 && !u->wake_armed &&
		    io->nfree == io->cfg.send_slots)
			return;
	}
}

void
gv__io_uring_fini(gv_io *io)
{
	struct gv__io_uring *u = &io->u;

	if (u->ring_ok) {
		quiesce(io);
		io_uring_queue_exit(&u->ring);
		u->ring_ok = false;
	}
	if (u->br)
		munmap(u->br, u->br_size);
	u->br = NULL;
	if (io->bufs)
		munmap(io->bufs, io->bufs_size);
	io->bufs = NULL;
	io->nbufs = 0;
	if (io->wake_fd >= 0)
		close(io->wake_fd);
	io->wake_fd = -1;
	free(u->pend);
	free(u->rearm);
	u->pend = NULL;
	u->rearm = NULL;
}
