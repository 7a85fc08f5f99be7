/* SPDX-License-Identifier: MIT */
/*
 * mmsg.c - the fallback backend, for kernels and sandboxes without
 * io_uring: level-triggered epoll over the worker's sockets and its wake
 * eventfd, recvmmsg to read up to GV__IO_MMSG_BATCH datagrams per call,
 * sendmmsg to send every datagram an iteration produced, one call per run
 * of consecutive datagrams from the same socket.
 *
 * A ready socket is read until it is empty or buf_count datagrams were
 * taken from it in this iteration (epoll reports it again next time), so
 * one busy socket cannot starve the others. The receive buffers are a
 * small scratch batch: each datagram is delivered, and its endpoint's
 * sends drained, before the next recvmmsg reuses them. Sockets are
 * non-blocking; a send that finds its socket buffer full waits for room
 * briefly (as the io_uring backend's send would), then is counted as a
 * send error.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "io/io_int.h"

#define WAKE_TAG UINT64_MAX
#define WATCH_TAG (UINT64_MAX - 1)
/* sendmmsg takes at most UIO_MAXIOV messages per call. */
#define SEND_BATCH 1024
/* How long a send waits for room in a full socket buffer. */
#define SEND_ROOM_WAIT_MS 10

int
gv__io_mmsg_watch(gv_io *io, int old_fd)
{
	struct epoll_event ev;

	if (old_fd >= 0)
		(void)epoll_ctl(io->m.epfd, EPOLL_CTL_DEL, old_fd, NULL);
	if (io->watch_fd < 0)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = WATCH_TAG;
	if (epoll_ctl(io->m.epfd, EPOLL_CTL_ADD, io->watch_fd, &ev) < 0)
		return -errno;
	return 0;
}

int
gv__io_mmsg_init(gv_io *io)
{
	struct gv__io_mmsg *m = &io->m;
	struct epoll_event ev;
	unsigned i;

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		return -errno;
	io->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->wake_fd < 0)
		return -errno;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = WAKE_TAG;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, io->wake_fd, &ev) < 0)
		return -errno;
	m->nevs = io->cfg.max_endpoints + 1 < 256 ? io->cfg.max_endpoints + 1
	                                          : 256;
	m->evs = calloc(m->nevs, sizeof(*m->evs));
	m->sm = calloc(SEND_BATCH, sizeof(*m->sm));
	m->res = calloc(SEND_BATCH, sizeof(*m->res));
	m->sendq = calloc(io->cfg.send_slots, sizeof(*m->sendq));
	if (!m->evs || !m->sm || !m->res || !m->sendq)
		return GV_ENOMEM;

	io->nbufs = GV__IO_MMSG_BATCH;
	io->stride = (io->cfg.buf_size + 63) & ~(size_t)63;
	io->bufs_size = (size_t)io->nbufs * io->stride;
	io->bufs = mmap(NULL, io->bufs_size, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (io->bufs == MAP_FAILED) {
		io->bufs = NULL;
		return GV_ENOMEM;
	}
	for (i = 0; i < GV__IO_MMSG_BATCH; i++) {
		struct msghdr *h = &m->rm[i].msg_hdr;

		m->riov[i].iov_base = io->bufs + (size_t)i * io->stride;
		m->riov[i].iov_len = io->cfg.buf_size;
		h->msg_name = &m->rname[i];
		h->msg_iov = &m->riov[i];
		h->msg_iovlen = 1;
		h->msg_control = m->rctl[i];
	}
	return 0;
}

void
gv__io_mmsg_fini(gv_io *io)
{
	struct gv__io_mmsg *m = &io->m;

	if (m->epfd >= 0)
		close(m->epfd);
	m->epfd = -1;
	free(m->evs);
	free(m->sm);
	free(m->res);
	free(m->sendq);
	m->evs = NULL;
	m->sm = NULL;
	m->sendq = NULL;
}

int
gv__io_mmsg_arm(gv_io *io, unsigned epi)
{
	struct gv__io_ep *e = &io->eps[epi];
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = epi;
	if (epoll_ctl(io->m.epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0)
		return -errno;
	e->armed = true;
	return 0;
}

int
gv__io_mmsg_queue_send(gv_io *io, unsigned slot)
{
	io->m.sendq[io->m.nsendq++] = slot;
	return 0;
}

/* Send sm[0..k) on fd, accounting each message. */
static void
send_run(gv_io *io, int fd, unsigned k)
{
	struct gv__io_mmsg *m = &io->m;
	unsigned done = 0;
	bool waited = false;

	while (done < k) {
		int r = sendmmsg(fd, m->sm + done, k - done, 0);

		io->st.submits++;
		if (r >= 0) {
			for (unsigned i = done; i < done + (unsigned)r; i++)
				m->res[i] = m->sm[i].msg_len;
			done += (unsigned)r;
			waited = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && !waited) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			waited = true;
			if (poll(&pfd, 1, SEND_ROOM_WAIT_MS) > 0)
				continue;
		}
		m->res[done] = -errno;
		done++; /* that message is lost; go on with the next */
		waited = false;
	}
}

static void
flush(gv_io *io)
{
	struct gv__io_mmsg *m = &io->m;
	unsigned i = 0;

	while (i < m->nsendq) {
		int fd = io->eps[io->slots[m->sendq[i]].ep].fd;
		unsigned j = i, k = 0;

		while (j < m->nsendq && k < SEND_BATCH &&
		       io->eps[io->slots[m->sendq[j]].ep].fd == fd) {
			m->sm[k].msg_hdr = io->slots[m->sendq[j]].msg;
			m->sm[k].msg_len = 0;
			j++;
			k++;
		}
		send_run(io, fd, k);
		for (unsigned x = 0; i < j; i++, x++)
			gv__io_send_done(io, m->sendq[i], m->res[x]);
	}
	m->nsendq = 0;
}

int
gv__io_mmsg_reclaim(gv_io *io)
{
	flush(io);
	return 0;
}

int
gv__io_mmsg_finish(gv_io *io)
{
	flush(io);
	return 0;
}

static void
recv_socket(gv_io *io, unsigned epi)
{
	struct gv__io_mmsg *m = &io->m;
	struct gv__io_ep *e = &io->eps[epi];
	unsigned budget = io->cfg.buf_count;

	while (budget) {
		unsigned want =
		        budget < GV__IO_MMSG_BATCH ? budget : GV__IO_MMSG_BATCH;
		int n, i;

		for (i = 0; i < (int)want; i++) {
			struct msghdr *h = &m->rm[i].msg_hdr;

			h->msg_namelen = sizeof(m->rname[i]);
			h->msg_controllen = sizeof(m->rctl[i]);
			h->msg_flags = 0;
		}
		n = recvmmsg(e->fd, m->rm, want, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				io->st.recv_errors++;
				if (!io->warned_recv) {
					io->warned_recv = true;
					gv__io_log(io, GV_IO_LOG_WARN,
					           "recvmmsg failed: %s "
					           "(counted; warned once)",
					           strerror(errno));
				}
			}
			return;
		}
		for (i = 0; i < n; i++) {
			struct msghdr *h = &m->rm[i].msg_hdr;
			struct cmsghdr *cm;

			size_t seg = 0; /* UDP GRO: datagrams of this size */

			for (cm = CMSG_FIRSTHDR(h); cm;
			     cm = CMSG_NXTHDR(h, cm)) {
				if (cm->cmsg_level == SOL_SOCKET &&
				    cm->cmsg_type == SO_RXQ_OVFL &&
				    cm->cmsg_len >=
				            CMSG_LEN(sizeof(uint32_t))) {
					uint32_t v;

					memcpy(&v, CMSG_DATA(cm), sizeof(v));
					gv__io_note_drops(io, e, v);
				} else if (cm->cmsg_level == SOL_UDP &&
				           cm->cmsg_type == UDP_GRO &&
				           cm->cmsg_len >=
				                   CMSG_LEN(sizeof(int))) {
					int v;

					memcpy(&v, CMSG_DATA(cm), sizeof(v));
					seg = v > 0 ? (size_t)v : 0;
				}
			}
			if (h->msg_flags & MSG_TRUNC) {
				io->st.truncated++;
				continue;
			}
			if (gv__io_deliver_gro(io, epi, h->msg_name,
			                       h->msg_namelen,
			                       m->riov[i].iov_base,
			                       m->rm[i].msg_len, seg))
				gv__io_mark(io, epi);
		}
		budget -= (unsigned)n;
		if ((unsigned)n < want)
			return;
	}
}

static int
epoll_timed(gv_io *io, gv_time wait_us)
{
	struct gv__io_mmsg *m = &io->m;
	int ms;

	if (wait_us == GV_TIME_NEVER)
		return epoll_wait(m->epfd, m->evs, (int)m->nevs, -1);
	if (!m->no_pwait2) {
		struct timespec ts = {
		        .tv_sec = (time_t)(wait_us / 1000000u),
		        .tv_nsec = (long)(wait_us % 1000000u) * 1000,
		};
		int n = epoll_pwait2(m->epfd, m->evs, (int)m->nevs, &ts, NULL);

		if (n >= 0 || errno != ENOSYS)
			return n;
		m->no_pwait2 = true;
	}
	/* Round up: waking early would only spin. */
	ms = wait_us / 1000u >= (gv_time)INT32_MAX
	             ? INT32_MAX
	             : (int)((wait_us + 999) / 1000);
	return epoll_wait(m->epfd, m->evs, (int)m->nevs, ms);
}

int
gv__io_mmsg_wait(gv_io *io, gv_time wait_us)
{
	struct gv__io_mmsg *m = &io->m;
	int n, i;

	/* Sends queued by pokes go out before we sleep. */
	flush(io);
	n = epoll_timed(io, wait_us);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	io->now = gv_io_now();
	for (i = 0; i < n; i++) {
		if (m->evs[i].data.u64 == WATCH_TAG) {
			io->watch_ready = true;
			continue;
		}
		if (m->evs[i].data.u64 == WAKE_TAG) {
			uint64_t v;

			if (read(io->wake_fd, &v, sizeof(v)) == sizeof(v))
				io->st.wakes++;
			continue;
		}
		recv_socket(io, (unsigned)m->evs[i].data.u64);
	}
	gv__io_drain_marked(io);
	return 0;
}
