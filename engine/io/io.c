/* SPDX-License-Identifier: MIT */
/*
 * io.c - the worker's loop, independent of the backend: configuration,
 * sockets and addresses, the endpoints and their timer heap, the send
 * pool, and the iteration itself.
 *
 * The loop keeps the sans-IO contract: after every call into an endpoint
 * (a timer run, an attach or a poke; for received datagrams, once per
 * batch, see gv__io_mark) it drains the endpoint's send() until it
 * returns 0, each datagram written straight
 * into a free send slot, and re-reads next_expiry() into a binary
 * min-heap of endpoints, so finding the next timer is O(1) and updating
 * one is O(log n) whatever the number of endpoints. A slot filled is
 * handed to the backend, which queues it (an SQE, or a sendmmsg entry)
 * for the submit that ends the iteration; when the pool runs dry
 * mid-iteration the backend submits and reaps until a slot frees.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/io_int.h"

#define DEF_MAX_ENDPOINTS 64
#define DEF_RING_ENTRIES 1024
#define DEF_BUF_COUNT 1024
#define DEF_BUF_SIZE 2048
#define DEF_SEND_SLOTS 1024
#define DEF_SOCKBUF (4 << 20)

/* The longest wait of one gv_io_run() iteration: a safety net only, since
 * gv_io_wake() and signals end a wait at once. */
#define RUN_MAX_WAIT_US 250000

/* ------------------------------------------------------------ basics */

gv_time
gv_io_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (gv_time)ts.tv_sec * 1000000u + (gv_time)ts.tv_nsec / 1000u;
}

void
gv_io_config_default(gv_io_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = GV_IO_AUTO;
	cfg->max_endpoints = DEF_MAX_ENDPOINTS;
	cfg->ring_entries = DEF_RING_ENTRIES;
	cfg->buf_count = DEF_BUF_COUNT;
	cfg->buf_size = DEF_BUF_SIZE;
	cfg->send_slots = DEF_SEND_SLOTS;
	cfg->rcvbuf = DEF_SOCKBUF;
	cfg->sndbuf = DEF_SOCKBUF;
	cfg->gso = true;
	cfg->gro = true;
}

void
gv__io_log(gv_io *io, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!io->cfg.log && level > GV_IO_LOG_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (io->cfg.log)
		io->cfg.log(io->cfg.log_ud, level, msg);
	else
		fprintf(stderr, "grapevine io: %s\n", msg);
}

const char *
gv_io_backend_name(const gv_io *io)
{
	return io->kind == GV_IO_URING ? "io_uring" : "recvmmsg";
}

/* ------------------------------------------------------------ addresses */

/* sockaddr -> gv_addr; IPv4-mapped IPv6 addresses come out as IPv4. */
static int
sa_to_addr(const void *name, socklen_t len, gv_addr *out)
{
	const struct sockaddr *sa = name;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};

	if (len >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = name;

		memset(out, 0, sizeof(*out));
		out->family = 4;
		out->port = ntohs(in->sin_port);
		memcpy(out->addr, &in->sin_addr, 4);
		return 0;
	}
	if (len >= sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = name;

		memset(out, 0, sizeof(*out));
		out->port = ntohs(in6->sin6_port);
		if (!memcmp(in6->sin6_addr.s6_addr, mapped, 12)) {
			out->family = 4;
			memcpy(out->addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			out->family = 6;
			memcpy(out->addr, in6->sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return GV_EINVAL;
}

/* gv_addr -> a sockaddr for a socket of family fam (IPv4 destinations of
 * an IPv6 socket become IPv4-mapped). */
static int
addr_to_sa(const gv_addr *a, int fam, struct sockaddr_in6 *st, socklen_t *len)
{
	if (fam == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)st;

		if (a->family != 4)
			return GV_EINVAL;
		memset(in, 0, sizeof(*in));
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
		return 0;
	}
	memset(st, 0, sizeof(*st));
	st->sin6_family = AF_INET6;
	st->sin6_port = htons(a->port);
	if (a->family == 4) {
		st->sin6_addr.s6_addr[10] = 0xff;
		st->sin6_addr.s6_addr[11] = 0xff;
		memcpy(st->sin6_addr.s6_addr + 12, a->addr, 4);
	} else if (a->family == 6) {
		memcpy(st->sin6_addr.s6_addr, a->addr, 16);
	} else {
		return GV_EINVAL;
	}
	*len = sizeof(*st);
	return 0;
}

int
gv_io_addr_parse(gv_addr *out, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *end;
	gv_addr a;
	size_t n;

	if (!out || !s)
		return GV_EINVAL;
	memset(&a, 0, sizeof(a));
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return GV_EINVAL;
		n = (size_t)(end - s - 1);
		s++;
		if (end[1] == ':')
			port = end + 2;
	} else {
		end = strrchr(s, ':');
		if (end && strchr(s, ':') == end) { /* one colon: IPv4:port */
			n = (size_t)(end - s);
			port = end + 1;
		} else {
			n = strlen(s); /* bare IPv4 or IPv6 */
		}
	}
	if (n == 0 || n >= sizeof(host))
		return GV_EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a.addr) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, host, a.addr) == 1)
		a.family = 6;
	else
		return GV_EINVAL;
	if (port) {
		char *e;
		unsigned long p;

		if (*port < '0' || *port > '9')
			return GV_EINVAL;
		errno = 0;
		p = strtoul(port, &e, 10);
		if (*e || errno || p > 65535)
			return GV_EINVAL;
		a.port = (uint16_t)p;
	}
	*out = a;
	return 0;
}

int
gv_io_addr_format(const gv_addr *a, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->addr, host,
	               sizeof(host)))
		return snprintf(buf, cap, "?:%u", a->port);
	if (a->family == 6)
		return snprintf(buf, cap, "[%s]:%u", host, a->port);
	return snprintf(buf, cap, "%s:%u", host, a->port);
}

/* ------------------------------------------------------------ timer heap */

static bool
heap_less(const gv_io *io, unsigned a, unsigned b)
{
	return io->eps[io->heap[a]].expiry < io->eps[io->heap[b]].expiry;
}

static void
heap_swap(gv_io *io, unsigned a, unsigned b)
{
	unsigned t = io->heap[a];

	io->heap[a] = io->heap[b];
	io->heap[b] = t;
	io->eps[io->heap[a]].heap_pos = a;
	io->eps[io->heap[b]].heap_pos = b;
}

static void
heap_fix(gv_io *io, unsigned i)
{
	while (i > 0 && heap_less(io, i, (i - 1) / 2)) {
		heap_swap(io, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		unsigned l = 2 * i + 1, m = i;

		if (l < io->nheap && heap_less(io, l, m))
			m = l;
		if (l + 1 < io->nheap && heap_less(io, l + 1, m))
			m = l + 1;
		if (m == i)
			break;
		heap_swap(io, i, m);
		i = m;
	}
}

/* Set endpoint epi's timer to t (GV_TIME_NEVER removes it). */
static void
heap_set(gv_io *io, unsigned epi, gv_time t)
{
	struct gv__io_ep *e = &io->eps[epi];

	if (e->expiry == GV_TIME_NEVER) {
		if (t == GV_TIME_NEVER)
			return;
		e->expiry = t;
		e->heap_pos = io->nheap;
		io->heap[io->nheap++] = epi;
		heap_fix(io, e->heap_pos);
		return;
	}
	if (t == GV_TIME_NEVER) {
		unsigned pos = e->heap_pos;

		e->expiry = GV_TIME_NEVER;
		if (pos != --io->nheap) {
			io->heap[pos] = io->heap[io->nheap];
			io->eps[io->heap[pos]].heap_pos = pos;
			heap_fix(io, pos);
		}
		return;
	}
	e->expiry = t;
	heap_fix(io, e->heap_pos);
}

/* ------------------------------------------------------------ send path */

static int
slot_get(gv_io *io, unsigned *out)
{
	if (io->nfree == 0) {
		int r;

		io->st.pool_exhausted++;
		r = io->kind == GV_IO_URING ? gv__io_uring_reclaim(io)
		                            : gv__io_mmsg_reclaim(io);
		if (r < 0)
			return r;
		if (io->nfree == 0)
			return -EAGAIN;
	}
	*out = io->free_slots[--io->nfree];
	return 0;
}

/* Free slot s and the slots chained behind it. */
static void
slot_release(gv_io *io, unsigned s)
{
	struct gv__io_slot *sl = &io->slots[s];

	for (unsigned i = 0; i < sl->nchain; i++)
		gv__io_slot_put(io, sl->chain[i]);
	sl->nchain = 0;
	gv__io_slot_put(io, s);
}

void
gv__io_send_done(gv_io *io, unsigned slot, long res)
{
	struct gv__io_slot *sl = &io->slots[slot];
	unsigned segs = 1 + sl->nchain;

	if (res >= 0) {
		io->st.dgrams_out += segs;
		io->st.bytes_out += (uint64_t)res;
		if (sl->nchain)
			io->st.gso_sends++;
	} else {
		io->st.send_errors += segs;
		if (sl->nchain && io->gso &&
		    (res == -EINVAL || res == -EIO || res == -EOPNOTSUPP ||
		     res == -ENOPROTOOPT)) {
			io->gso = false;
			gv__io_log(io, GV_IO_LOG_WARN,
			           "UDP GSO send refused (%s): sending datagrams "
			           "one by one from now on",
			           strerror((int)-res));
		} else if (!io->warned_send) {
			io->warned_send = true;
			gv__io_log(io, GV_IO_LOG_WARN,
			           "sendmsg failed: %s (counted; warned once)",
			           strerror((int)-res));
		}
	}
	slot_release(io, slot);
}

/* Hand slot s (and its chain) to the backend. */
static void
queue_lead(gv_io *io, unsigned s)
{
	struct gv__io_slot *sl = &io->slots[s];
	int r;

	if (sl->nchain) {
		struct cmsghdr *cm;

		sl->iovs[0] = sl->iov;
		for (unsigned i = 0; i < sl->nchain; i++)
			sl->iovs[i + 1] = io->slots[sl->chain[i]].iov;
		sl->msg.msg_iov = sl->iovs;
		sl->msg.msg_iovlen = 1 + sl->nchain;
		sl->msg.msg_control = sl->ctl.buf;
		sl->msg.msg_controllen = sizeof(sl->ctl.buf);
		cm = CMSG_FIRSTHDR(&sl->msg);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		memcpy(CMSG_DATA(cm), &sl->gso, sizeof(sl->gso));
	}
	r = io->kind == GV_IO_URING ? gv__io_uring_queue_send(io, s)
	                            : gv__io_mmsg_queue_send(io, s);
	if (r < 0) {
		io->st.send_errors += 1 + sl->nchain;
		slot_release(io, s);
	}
}

/* May slot s join the chain led by slot lead (see struct gv__io_slot)? */
static bool
chains(const gv_io *io, const struct gv__io_slot *lead, size_t last,
       size_t total, const struct gv__io_slot *sl, size_t n)
{
	return io->gso && lead->nchain + 1 < GV__IO_GSO_MAX &&
	       last == lead->iov.iov_len && n <= lead->iov.iov_len &&
	       total + n <= GV__IO_GSO_BYTES &&
	       lead->msg.msg_namelen == sl->msg.msg_namelen &&
	       memcmp(&lead->sa, &sl->sa, sl->msg.msg_namelen) == 0;
}

/*
 * Drain endpoint epi's send() into send slots, until it returns 0.
 * Datagrams to the same peer back to back are chained for one GSO send
 * (see struct gv__io_slot): an endpoint that has several datagrams for a
 * peer (a flooding pass, an anti-entropy answer) crosses the kernel's
 * UDP path once for them.
 */
static void
drain(gv_io *io, unsigned epi)
{
	struct gv__io_ep *e = &io->eps[epi];
	int lead = -1;
	size_t last = 0, total = 0;

	for (;;) {
		struct gv__io_slot *sl;
		gv_addr to;
		ssize_t n;
		unsigned s;
		int r;

		/* a chain holds slots: send it before waiting for one */
		if (lead >= 0 && io->nfree == 0) {
			queue_lead(io, (unsigned)lead);
			lead = -1;
		}
		r = slot_get(io, &s);
		if (r < 0) {
			/* The kernel refused the ring; what the endpoint
			 * has queued waits for the next call. */
			gv__io_log(io, GV_IO_LOG_ERROR,
			           "send pool: reclaim failed: %s",
			           strerror(-r));
			break;
		}
		sl = &io->slots[s];
		memset(&to, 0, sizeof(to));
		io->in_call = true;
		n = e->ops.send(e->ep, io->now, &to, sl->buf, io->cfg.buf_size);
		io->in_call = false;
		if (n <= 0 || (size_t)n > io->cfg.buf_size) {
			gv__io_slot_put(io, s);
			if (n != 0)
				io->st.ep_errors++;
			break;
		}
		if (io->cfg.filter) {
			bool pass;

			io->in_call = true;
			pass = io->cfg.filter(io->cfg.filter_ud, (int)epi, &to,
			                      true);
			io->in_call = false;
			if (!pass) {
				io->st.filtered_out++;
				gv__io_slot_put(io, s);
				continue;
			}
		}
		if (addr_to_sa(&to, e->family, &sl->sa, &sl->msg.msg_namelen) <
		    0) {
			io->st.send_errors++;
			gv__io_slot_put(io, s);
			continue;
		}
		sl->iov.iov_len = (size_t)n;
		sl->ep = epi;
		sl->nchain = 0;
		sl->msg.msg_iov = &sl->iov;
		sl->msg.msg_iovlen = 1;
		sl->msg.msg_control = NULL;
		sl->msg.msg_controllen = 0;
		if (lead >= 0) {
			struct gv__io_slot *ld = &io->slots[lead];

			if (chains(io, ld, last, total, sl, (size_t)n)) {
				ld->chain[ld->nchain++] = s;
				ld->gso = (uint16_t)ld->iov.iov_len;
				last = (size_t)n;
				total += (size_t)n;
				continue;
			}
			queue_lead(io, (unsigned)lead);
		}
		lead = (int)s;
		last = total = (size_t)n;
	}
	if (lead >= 0)
		queue_lead(io, (unsigned)lead);
}

void
gv__io_after_call(gv_io *io, unsigned epi)
{
	struct gv__io_ep *e = &io->eps[epi];

	if (!e->attached)
		return;
	drain(io, epi);
	heap_set(io, epi, e->ops.next_expiry(e->ep));
}

/*
 * Received datagrams: an endpoint given datagrams is drained once, after
 * the whole batch the kernel handed over, not after each one. A node that
 * forwards what it receives (eager flooding) then puts everything that
 * arrived for it in this batch into one datagram per peer: under load the
 * batches grow and the datagram count per update shrinks, instead of the
 * node answering each datagram with datagrams of its own.
 */
void
gv__io_mark(gv_io *io, unsigned epi)
{
	struct gv__io_ep *e = &io->eps[epi];

	if (e->dirty)
		return;
	e->dirty = true;
	io->dirty[io->ndirty++] = epi;
}

void
gv__io_drain_marked(gv_io *io)
{
	/* A drain may mark no one (it only sends), so this ends. */
	while (io->ndirty) {
		unsigned epi = io->dirty[--io->ndirty];

		io->eps[epi].dirty = false;
		gv__io_after_call(io, epi);
	}
}

/* ------------------------------------------------------------ receive path */

void
gv__io_note_drops(gv_io *io, struct gv__io_ep *e, uint32_t raw)
{
	/* raw is the kernel's running 32-bit count (sk_drops); a value
	 * older than one seen already (a datagram queued before a later
	 * drop) is not news. */
	int32_t d = (int32_t)(raw - e->drops_raw);

	if (d > 0) {
		e->drops_raw = raw;
		e->drops += (uint64_t)d;
		io->st.kernel_drops += (uint64_t)d;
	}
}

bool
gv__io_deliver(gv_io *io, unsigned epi, const void *name, socklen_t namelen,
               const uint8_t *buf, size_t len)
{
	struct gv__io_ep *e = &io->eps[epi];
	gv_addr from;
	int r;

	if (!e->attached) {
		io->st.detached_drops++;
		return false;
	}
	if (sa_to_addr(name, namelen, &from) < 0) {
		io->st.recv_errors++;
		return false;
	}
	if (io->cfg.filter) {
		bool pass;

		io->in_call = true;
		pass = io->cfg.filter(io->cfg.filter_ud, (int)epi, &from,
		                      false);
		io->in_call = false;
		if (!pass) {
			io->st.filtered_in++;
			return false;
		}
	}
	io->st.dgrams_in++;
	io->st.bytes_in += len;
	io->delivered++;
	io->in_call = true;
	r = e->ops.recv(e->ep, io->now, &from, buf, len);
	io->in_call = false;
	if (r < 0)
		io->st.ep_errors++;
	return true;
}

bool
gv__io_deliver_gro(gv_io *io, unsigned epi, const void *name,
                   socklen_t namelen, const uint8_t *buf, size_t len,
                   size_t seg)
{
	bool called = false;

	if (!seg || seg >= len)
		return gv__io_deliver(io, epi, name, namelen, buf, len);
	io->st.gro_recvs++;
	for (size_t off = 0; off < len; off += seg) {
		size_t n = len - off < seg ? len - off : seg;

		called |= gv__io_deliver(io, epi, name, namelen, buf + off, n);
	}
	return called;
}

/* ------------------------------------------------------------ lifecycle */

static int
check_config(const gv_io_config *c)
{
	if (c->backend < GV_IO_AUTO || c->backend > GV_IO_MMSG)
		return GV_EINVAL;
	if (c->max_endpoints == 0 || c->max_endpoints > 65536)
		return GV_EINVAL;
	if (c->ring_entries == 0 || c->ring_entries > 32768)
		return GV_EINVAL;
	if (c->buf_count == 0 || c->buf_count > 32768)
		return GV_EINVAL;
	if (c->buf_size < 64 || c->buf_size > 65536)
		return GV_EINVAL;
	if (c->send_slots == 0 || c->send_slots > 65536)
		return GV_EINVAL;
	if (c->rcvbuf < 0 || c->sndbuf < 0)
		return GV_EINVAL;
	return 0;
}

static void *
map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
gv_io_new(gv_io **out, const gv_io_config *cfg)
{
	gv_io *io;
	unsigned i;
	int r;

	if (!out || !cfg)
		return GV_EINVAL;
	r = check_config(cfg);
	if (r < 0)
		return r;
	io = calloc(1, sizeof(*io));
	if (!io)
		return GV_ENOMEM;
	io->cfg = *cfg;
	io->gso = cfg->gso;
	io->gro = cfg->gro && cfg->buf_size >= 65536;
	io->wake_fd = -1;
	io->watch_fd = -1;
	io->m.epfd = -1;
	io->eps = calloc(cfg->max_endpoints, sizeof(*io->eps));
	io->heap = calloc(cfg->max_endpoints, sizeof(*io->heap));
	io->due = calloc(cfg->max_endpoints, sizeof(*io->due));
	io->dirty = calloc(cfg->max_endpoints, sizeof(*io->dirty));
	io->slots = calloc(cfg->send_slots, sizeof(*io->slots));
	io->free_slots = calloc(cfg->send_slots, sizeof(*io->free_slots));
	io->slot_mem = map((size_t)cfg->send_slots * cfg->buf_size);
	if (!io->eps || !io->heap || !io->due || !io->dirty || !io->slots ||
	    !io->free_slots || !io->slot_mem) {
		gv_io_del(io);
		return GV_ENOMEM;
	}
	for (i = 0; i < cfg->send_slots; i++) {
		struct gv__io_slot *sl = &io->slots[i];

		sl->buf = io->slot_mem + (size_t)i * cfg->buf_size;
		sl->iov.iov_base = sl->buf;
		sl->msg.msg_name = &sl->sa;
		sl->msg.msg_iov = &sl->iov;
		sl->msg.msg_iovlen = 1;
		/* Hand out low slots first: their pages stay warm. */
		io->free_slots[i] = cfg->send_slots - 1 - i;
	}
	io->nfree = cfg->send_slots;

	r = GV_EINVAL;
	if (cfg->backend != GV_IO_MMSG) {
		io->kind = GV_IO_URING;
		r = gv__io_uring_init(io);
		if (r < 0) {
			gv__io_uring_fini(io);
			if (cfg->backend == GV_IO_URING) {
				gv_io_del(io);
				return r;
			}
			gv__io_log(io, GV_IO_LOG_WARN,
			           "io_uring unavailable (%s): falling back "
			           "to recvmmsg/sendmmsg with epoll",
			           strerror(-r));
		}
	}
	if (r < 0) {
		io->kind = GV_IO_MMSG;
		r = gv__io_mmsg_init(io);
		if (r < 0) {
			gv_io_del(io);
			return r;
		}
	}
	gv__io_log(io, GV_IO_LOG_INFO,
	           "worker ready: backend %s, %u receive buffers of %zu "
	           "bytes, %u send slots",
	           gv_io_backend_name(io), io->nbufs, io->stride,
	           cfg->send_slots);
	*out = io;
	return 0;
}

void
gv_io_del(gv_io *io)
{
	unsigned i;

	if (!io)
		return;
	if (io->kind == GV_IO_URING)
		gv__io_uring_fini(io);
	else if (io->kind == GV_IO_MMSG)
		gv__io_mmsg_fini(io);
	for (i = 0; i < io->neps; i++)
		if (io->eps[i].used)
			close(io->eps[i].fd);
	if (io->wake_fd >= 0)
		close(io->wake_fd);
	if (io->bufs)
		munmap(io->bufs, io->bufs_size);
	if (io->slot_mem)
		munmap(io->slot_mem,
		       (size_t)io->cfg.send_slots * io->cfg.buf_size);
	free(io->eps);
	free(io->heap);
	free(io->due);
	free(io->dirty);
	free(io->slots);
	free(io->free_slots);
	free(io);
}

/* ------------------------------------------------------------ endpoints */

/* Ask for size bytes of socket buffer: the FORCE variant passes
 * net.core.[rw]mem_max when we have CAP_NET_ADMIN; report the grant. */
static int
set_sockbuf(int fd, int opt, int force_opt, int size)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (size > 0 &&
	    setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) < 0)
		return 0;
	return v;
}

static bool
ep_ok(const gv_io *io, int idx)
{
	return idx >= 0 && (unsigned)idx < io->neps && io->eps[idx].used;
}

static bool
ops_ok(const gv_io_ops *ops)
{
	return ops && ops->recv && ops->send && ops->next_expiry &&
	       ops->handle_expiry;
}

static int
arm(gv_io *io, unsigned epi)
{
	return io->kind == GV_IO_URING ? gv__io_uring_arm(io, epi)
	                               : gv__io_mmsg_arm(io, epi);
}

int
gv_io_add(gv_io *io, const gv_addr *bind_addr, const gv_io_ops *ops, void *ep,
          gv_addr *bound)
{
	struct sockaddr_in6 sa;
	socklen_t salen;
	struct gv__io_ep *e;
	int fam, fd, one = 1, r;
	unsigned idx;

	if (!io || !bind_addr || io->in_call)
		return GV_EINVAL;
	if (bind_addr->family != 4 && bind_addr->family != 6)
		return GV_EINVAL;
	if (ops && (!ops_ok(ops) || !ep))
		return GV_EINVAL;
	if (io->neps == io->cfg.max_endpoints)
		return GV_EFULL;
	fam = bind_addr->family == 4 ? AF_INET : AF_INET6;
	/* io_uring sockets stay blocking: the ring never blocks the thread,
	 * and with O_NONBLOCK it would fail a send on a full socket buffer
	 * instead of waiting for room. */
	fd = socket(fam,
	            SOCK_DGRAM | SOCK_CLOEXEC |
	                    (io->kind == GV_IO_MMSG ? SOCK_NONBLOCK : 0),
	            IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	/* Never with port 0: Linux may then hand out a port another
	 * SO_REUSEADDR socket holds, and the two silently share it. */
	if ((io->cfg.reuse_addr && bind_addr->port != 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
		goto fail;
	/* best effort: without it the kernel splits GSO sends itself */
	if (io->gro)
		(void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	addr_to_sa(bind_addr, fam, &sa, &salen);
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0)
		goto fail;
	salen = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		goto fail;

	idx = io->neps;
	e = &io->eps[idx];
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->family = fam;
	e->expiry = GV_TIME_NEVER;
	e->used = true;
	sa_to_addr(&sa, salen, &e->addr);
	e->rcvbuf = set_sockbuf(fd, SO_RCVBUF, SO_RCVBUFFORCE, io->cfg.rcvbuf);
	e->sndbuf = set_sockbuf(fd, SO_SNDBUF, SO_SNDBUFFORCE, io->cfg.sndbuf);
	/* Linux reports twice what it grants for payload. */
	if (!io->warned_buf &&
	    ((io->cfg.rcvbuf > 0 && e->rcvbuf / 2 < io->cfg.rcvbuf) ||
	     (io->cfg.sndbuf > 0 && e->sndbuf / 2 < io->cfg.sndbuf))) {
		io->warned_buf = true;
		gv__io_log(io, GV_IO_LOG_WARN,
		           "socket buffers: asked %d/%d, granted %d/%d "
		           "(net.core.rmem_max / wmem_max cap them)",
		           io->cfg.rcvbuf, io->cfg.sndbuf, e->rcvbuf / 2,
		           e->sndbuf / 2);
	}
	io->neps++;
	if (ops) {
		r = gv_io_attach(io, (int)idx, ops, ep);
		if (r < 0) { /* the kernel refused to arm it: undo */
			io->neps--;
			e->used = false;
			close(fd);
			return r;
		}
	}
	if (bound)
		*bound = e->addr;
	return (int)idx;
fail:
	r = -errno;
	close(fd);
	return r;
}

int
gv_io_attach(gv_io *io, int idx, const gv_io_ops *ops, void *ep)
{
	struct gv__io_ep *e;
	int r;

	if (!io || !ep_ok(io, idx) || !ops_ok(ops) || !ep || io->in_call)
		return GV_EINVAL;
	e = &io->eps[idx];
	if (e->attached)
		return GV_EINVAL;
	e->ops = *ops;
	e->ep = ep;
	e->attached = true;
	if (!e->armed && !e->need_arm) {
		r = arm(io, (unsigned)idx);
		if (r < 0) {
			e->attached = false;
			return r;
		}
	}
	io->now = gv_io_now();
	gv__io_after_call(io, (unsigned)idx);
	return 0;
}

int
gv_io_detach(gv_io *io, int idx)
{
	struct gv__io_ep *e;

	if (!io || !ep_ok(io, idx) || io->in_call)
		return GV_EINVAL;
	e = &io->eps[idx];
	if (!e->attached)
		return GV_EINVAL;
	heap_set(io, (unsigned)idx, GV_TIME_NEVER);
	e->attached = false;
	e->ep = NULL;
	return 0;
}

int
gv_io_poke(gv_io *io, int idx)
{
	if (!io || !ep_ok(io, idx) || io->in_call || !io->eps[idx].attached)
		return GV_EINVAL;
	io->now = gv_io_now();
	gv__io_after_call(io, (unsigned)idx);
	return 0;
}

static void
refresh_drops(gv_io *io, struct gv__io_ep *e)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (getsockopt(e->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
		gv__io_note_drops(io, e, mi[SK_MEMINFO_DROPS]);
}

int
gv_io_get_ep_info(gv_io *io, int idx, gv_io_ep_info *out)
{
	struct gv__io_ep *e;

	if (!io || !ep_ok(io, idx) || !out)
		return GV_EINVAL;
	e = &io->eps[idx];
	refresh_drops(io, e);
	out->addr = e->addr;
	out->fd = e->fd;
	out->rcvbuf = e->rcvbuf;
	out->sndbuf = e->sndbuf;
	out->kernel_drops = e->drops;
	out->attached = e->attached;
	return 0;
}

void
gv_io_get_stats(gv_io *io, gv_io_stats *out)
{
	unsigned i;

	if (!io || !out)
		return;
	for (i = 0; i < io->neps; i++)
		if (io->eps[i].used)
			refresh_drops(io, &io->eps[i]);
	*out = io->st;
}

/* ------------------------------------------------------------ the loop */

/* Run every timer due now, each endpoint once: the due ones are taken out
 * of the heap first, so one whose expiry stays in the past cannot starve
 * the others (it runs again next iteration). */
static void
run_expiries(gv_io *io)
{
	unsigned n = 0, i;

	io->now = gv_io_now();
	while (io->nheap && io->eps[io->heap[0]].expiry <= io->now) {
		unsigned epi = io->heap[0];

		heap_set(io, epi, GV_TIME_NEVER);
		io->due[n++] = epi;
	}
	for (i = 0; i < n; i++) {
		struct gv__io_ep *e = &io->eps[io->due[i]];
		int r;

		if (!e->attached)
			continue;
		io->st.expiries++;
		io->in_call = true;
		r = e->ops.handle_expiry(e->ep, io->now);
		io->in_call = false;
		if (r < 0)
			io->st.ep_errors++;
		gv__io_after_call(io, io->due[i]);
	}
}

int
gv_io_run_once(gv_io *io, gv_time max_wait_us)
{
	gv_time wait = max_wait_us, now;
	int r;

	if (!io || io->in_call || io->running)
		return GV_EINVAL;
	io->running = true;
	io->st.iterations++;
	io->delivered = 0;
	now = gv_io_now();
	if (io->nheap) {
		gv_time t = io->eps[io->heap[0]].expiry;

		if (t <= now)
			wait = 0;
		else if (t - now < wait)
			wait = t - now;
	}
	r = io->kind == GV_IO_URING ? gv__io_uring_wait(io, wait)
	                            : gv__io_mmsg_wait(io, wait);
	if (r < 0)
		goto out;
	run_expiries(io);
	if (io->watch_ready && io->watch_cb) {
		io->watch_ready = false;
		io->watch_cb(io->watch_ud, gv_io_now());
	}
	/*
	 * Clear the wake flag before on_iter reads the owner's queues. The
	 * exchange pairs with the one in gv_io_wake(): a waker whose exchange
	 * came first is seen here (acquire) with its queue writes, so on_iter
	 * below sees them; one that comes after finds 0 and writes the
	 * eventfd, so the next wait ends at once.
	 */
	__atomic_exchange_n(&io->wake_flag, 0, __ATOMIC_ACQ_REL);
	if (io->cfg.on_iter)
		io->cfg.on_iter(io->cfg.iter_ud);
	r = io->kind == GV_IO_URING ? gv__io_uring_finish(io)
	                            : gv__io_mmsg_finish(io);
	if (r >= 0)
		r = io->delivered;
out:
	io->running = false;
	return r;
}

int
gv_io_run(gv_io *io, const volatile sig_atomic_t *stop)
{
	if (!io || !stop)
		return GV_EINVAL;
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		int r = gv_io_run_once(io, RUN_MAX_WAIT_US);

		if (r < 0)
			return r;
	}
	return 0;
}

int
gv_io_watch(gv_io *io, int fd, void (*cb)(void *ud, gv_time now), void *ud)
{
	if (!io || io->running || io->in_call || (fd >= 0 && !cb))
		return GV_EINVAL;
	int old = io->watch_fd;
	io->watch_fd = fd;
	io->watch_cb = fd >= 0 ? cb : NULL;
	io->watch_ud = ud;
	io->watch_ready = false;
	return io->kind == GV_IO_URING ? gv__io_uring_watch(io)
				       : gv__io_mmsg_watch(io, old);
}

void
gv_io_wake(gv_io *io)
{
	uint64_t one = 1;
	ssize_t r;

	/* See gv_io_run_once: one eventfd write per pending wake. */
	if (__atomic_exchange_n(&io->wake_flag, 1, __ATOMIC_ACQ_REL))
		return;
	do
		r = write(io->wake_fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}
