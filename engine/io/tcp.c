/* SPDX-License-Identifier: MIT */
/*
 * tcp.c - the stream channel over TCP (see tcp.h).
 */
#include "io/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

/* little-endian fields */
static inline uint16_t
ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t
ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline void
st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void
st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#define MAGIC "gvs1"
#define HELLO_LEN (4 + 4 + 2 + 1 + 4 + 8 + 19 + 24)
#define ACK_LEN (4 + 1 + 4 + 24)
#define NONCE_LEN 24
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define MAX_LISTEN 64
#define READ_BUDGET (4u << 20) /* bytes read per connection per poll */
#define LISTEN_TAG (1ull << 63)

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

struct tconn {
	int fd;
	unsigned lep;
	bool outbound;
	int state;
	gv_addr peer;       /* the peer's gossip address */
	bool peer_known;
	uint32_t key_id;
	bool sealed;
	uint8_t k_tx[32], k_rx[32];
	uint64_t n_tx, n_rx;
	uint8_t hello[HELLO_LEN]; /* for the transcript */
	uint8_t in_hdr[4];
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;       /* frames to write: [head, len) */
	size_t out_head, out_len, out_cap;
	uint8_t *pend;      /* messages waiting for the handshake (len u32 +
			     * bytes each, not yet sealed) */
	size_t pend_len, pend_cap;
	bool want_ready, want_out;
	gv_time since, last_io;
	bool refused;       /* closed by a refusal (logged) or for being
			     * idle: no down() */
};

struct listener {
	int fd;
	gv_addr at;   /* bound: outbound connections leave from its IP */
	gv_addr self;
	uint16_t shard;
	gv_node_id node;
	bool used;
};

struct gv_tcp {
	gv_tcp_config cfg;
	int epfd;
	struct listener lis[MAX_LISTEN];
	struct tconn **conns;
	size_t nconns, conns_cap;
	size_t max_frame;
	bool in_poll;
	gv_time next_tick;
	gv_tcp_stats st;
};

/* ------------------------------------------------------------ helpers */

static void __attribute__((format(printf, 3, 4)))
tlog(gv_tcp *t, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (t->cfg.log)
		t->cfg.log(t->cfg.log_ud, level, buf);
	else
		fprintf(stderr, "grapevine stream: %s\n", buf);
}

static const char *
astr(const gv_addr *a, char *buf, size_t cap)
{
	gv_io_addr_format(a, buf, cap);
	return buf;
}

static socklen_t
to_sockaddr(const gv_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	memcpy(&s4->sin_addr, a->addr, 4);
	return sizeof(*s4);
}

static void
put_addr(uint8_t *p, const gv_addr *a)
{
	p[0] = a->family;
	st16(p + 1, a->port);
	memset(p + 3, 0, 16);
	memcpy(p + 3, a->addr, a->family == 6 ? 16 : 4);
}

static bool
get_addr(const uint8_t *p, gv_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = p[0];
	a->port = ld16(p + 1);
	if (a->family != 4 && a->family != 6)
		return false;
	memcpy(a->addr, p + 3, a->family == 6 ? 16 : 4);
	return true;
}

static bool
grow(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	uint8_t *np = realloc(*p, ncap);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

void
gv_tcp_config_default(gv_tcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_max = 4u << 20;
	cfg->max_conns = 1024;
	cfg->connect_timeout_ms = 3000;
	cfg->idle_ms = 60000;
}

int
gv_tcp_new(gv_tcp **out, const gv_tcp_config *cfg)
{
	if (!out || !cfg || !cfg->max_msg || cfg->max_msg > (64u << 20) ||
	    !cfg->ops.recv)
		return GV_EINVAL;
	if (cfg->keyring && sodium_init() < 0)
		return GV_EINVAL;
	gv_tcp *t = calloc(1, sizeof(*t));
	if (!t)
		return GV_ENOMEM;
	t->cfg = *cfg;
	if (!t->cfg.queue_max)
		t->cfg.queue_max = 4u << 20;
	if (!t->cfg.max_conns)
		t->cfg.max_conns = 1024;
	if (!t->cfg.connect_timeout_ms)
		t->cfg.connect_timeout_ms = 3000;
	if (!t->cfg.idle_ms)
		t->cfg.idle_ms = 60000;
	t->max_frame = cfg->max_msg + TAG_LEN;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0) {
		int e = -errno;
		free(t);
		return e;
	}
	for (unsigned i = 0; i < MAX_LISTEN; i++)
		t->lis[i].fd = -1;
	*out = t;
	return 0;
}

static void
conn_free(gv_tcp *t, struct tconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	t->st.queued_bytes -= c->out_len - c->out_head + c->pend_len;
	free(c->in);
	free(c->out);
	free(c->pend);
	sodium_memzero(c->k_tx, sizeof(c->k_tx));
	sodium_memzero(c->k_rx, sizeof(c->k_rx));
	free(c);
}

void
gv_tcp_del(gv_tcp *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nconns; i++)
		conn_free(t, t->conns[i]);
	free(t->conns);
	for (unsigned i = 0; i < MAX_LISTEN; i++)
		if (t->lis[i].fd >= 0)
			close(t->lis[i].fd);
	close(t->epfd);
	free(t);
}

int
gv_tcp_fd(const gv_tcp *t)
{
	return t->epfd;
}

void
gv_tcp_get_stats(const gv_tcp *t, gv_tcp_stats *out)
{
	*out = t->st;
	out->conns = t->nconns;
}

int
gv_tcp_listen(gv_tcp *t, unsigned lep, const gv_addr *at,
	      const gv_addr *self, uint16_t shard, gv_node_id node)
{
	if (!t || lep >= MAX_LISTEN || !at || !self || t->lis[lep].used)
		return GV_EINVAL;
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(at, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					      SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct epoll_event ev = {.events = EPOLLIN,
				 .data.u64 = LISTEN_TAG | lep};
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	t->lis[lep] = (struct listener){fd, *at, *self, shard, node, true};
	return 0;
}

/* ------------------------------------------------------------ conns */

static struct tconn *
conn_new(gv_tcp *t, int fd, unsigned lep, bool outbound, gv_time now)
{
	if (t->nconns >= t->cfg.max_conns)
		return NULL;
	if (t->nconns == t->conns_cap) {
		size_t ncap = t->conns_cap ? t->conns_cap * 2 : 16;
		struct tconn **nc = realloc(t->conns, ncap * sizeof(*nc));
		if (!nc)
			return NULL;
		t->conns = nc;
		t->conns_cap = ncap;
	}
	struct tconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->lep = lep;
	c->outbound = outbound;
	c->since = c->last_io = now;
	struct epoll_event ev = {.events = EPOLLIN | (outbound ? EPOLLOUT : 0),
				 .data.ptr = c};
	c->want_out = outbound;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(c);
		return NULL;
	}
	t->conns[t->nconns++] = c;
	return c;
}

static void
set_out(gv_tcp *t, struct tconn *c, bool on)
{
	if (c->want_out == on || c->state == C_DEAD)
		return;
	c->want_out = on;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
				 .data.ptr = c};
	(void)epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Mark dead (freed by reap, outside any iteration over conns). */
static void
conn_kill(gv_tcp *t, struct tconn *c, gv_time now, const char *why)
{
	if (c->state == C_DEAD)
		return;
	bool was_connecting = c->state != C_OPEN;
	c->state = C_DEAD;
	(void)epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	t->st.conns_closed++;
	if (why) {
		char a[64];
		tlog(t, GV_IO_LOG_DEBUG, "stream %s %s closed: %s",
		     c->outbound ? "to" : "from",
		     c->peer_known ? astr(&c->peer, a, sizeof(a)) : "?", why);
	}
	if (c->outbound && was_connecting && why)
		t->st.connect_failed++;
	(void)now;
}

/* Free the dead, telling the owner (never from inside gv_tcp_send: the
 * owner may be in the middle of a call that sends). */
static void
reap(gv_tcp *t, gv_time now)
{
	for (size_t i = 0; i < t->nconns;) {
		struct tconn *c = t->conns[i];
		if (c->state != C_DEAD) {
			i++;
			continue;
		}
		t->conns[i] = t->conns[--t->nconns];
		gv_addr peer = c->peer;
		unsigned lep = c->lep;
		bool tell = c->peer_known && !c->refused && t->cfg.ops.down;
		conn_free(t, c);
		if (tell)
			t->cfg.ops.down(t->cfg.ud, lep, now, &peer);
	}
}

/* Append one frame (sealed if the connection is) to the output. */
static int
frame_out(gv_tcp *t, struct tconn *c, const uint8_t *msg, size_t len)
{
	size_t body = len + (c->sealed ? TAG_LEN : 0);
	if (c->out_head && c->out_head == c->out_len)
		c->out_head = c->out_len = 0;
	if (c->out_head > c->out_cap / 2) {
		memmove(c->out, c->out + c->out_head, c->out_len - c->out_head);
		c->out_len -= c->out_head;
		c->out_head = 0;
	}
	if (!grow(&c->out, &c->out_cap, c->out_len + 4 + body))
		return GV_ENOMEM;
	uint8_t *p = c->out + c->out_len;
	st32(p, (uint32_t)body);
	if (c->sealed) {
		uint8_t nonce[NONCE_LEN] = {0};
		st64(nonce, c->n_tx++);
		unsigned long long clen;
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			p + 4, &clen, msg, len, NULL, 0, NULL, nonce, c->k_tx);
	} else if (len) {
		memcpy(p + 4, msg, len);
	}
	c->out_len += 4 + body;
	t->st.queued_bytes += 4 + body;
	return 0;
}

static void
flush_out(gv_tcp *t, struct tconn *c, gv_time now)
{
	while (c->out_head < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_head,
				 c->out_len - c->out_head,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_kill(t, c, now, strerror(errno));
			return;
		}
		c->out_head += (size_t)n;
		t->st.queued_bytes -= (size_t)n;
		t->st.bytes_out += (size_t)n;
		c->last_io = now;
	}
	set_out(t, c, c->out_head < c->out_len);
}

static size_t
queued(const struct tconn *c)
{
	return c->out_len - c->out_head + c->pend_len;
}

/* ------------------------------------------------------- handshake */

static void
derive(struct tconn *c, const uint8_t key[GV_KEY_LEN], const uint8_t *ack)
{
	uint8_t c2a[32], a2c[32];
	crypto_generichash_state h;
	static const char l1[] = "grapevine stream c2a", l2[] =
							     "grapevine stream a2c";
	crypto_generichash_init(&h, key, GV_KEY_LEN, 32);
	crypto_generichash_update(&h, (const uint8_t *)l1, sizeof(l1));
	crypto_generichash_update(&h, c->hello, HELLO_LEN);
	crypto_generichash_update(&h, ack, ACK_LEN);
	crypto_generichash_final(&h, c2a, 32);
	crypto_generichash_init(&h, key, GV_KEY_LEN, 32);
	crypto_generichash_update(&h, (const uint8_t *)l2, sizeof(l2));
	crypto_generichash_update(&h, c->hello, HELLO_LEN);
	crypto_generichash_update(&h, ack, ACK_LEN);
	crypto_generichash_final(&h, a2c, 32);
	memcpy(c->outbound ? c->k_tx : c->k_rx, c2a, 32);
	memcpy(c->outbound ? c->k_rx : c->k_tx, a2c, 32);
	sodium_memzero(c2a, 32);
	sodium_memzero(a2c, 32);
	c->sealed = true;
}

/* The handshake is over: seal and queue what waited for it. */
static void
opened(gv_tcp *t, struct tconn *c, gv_time now)
{
	c->state = C_OPEN;
	size_t off = 0;
	t->st.queued_bytes -= c->pend_len;
	while (off + 4 <= c->pend_len) {
		uint32_t len = ld32(c->pend + off);
		if (frame_out(t, c, c->pend + off + 4, len)) {
			conn_kill(t, c, now, "out of memory");
			return;
		}
		off += 4 + len;
	}
	c->pend_len = 0;
	flush_out(t, c, now);
}

static const char *
status_name(int st)
{
	switch (st) {
	case GV_TCP_ST_CLUSTER: return "another cluster";
	case GV_TCP_ST_SHARD: return "no such shard";
	case GV_TCP_ST_SEALING: return "not sealed alike (one side seals "
				       "with the keyring, the other does not)";
	case GV_TCP_ST_KEY: return "the key id is not in the keyring";
	case GV_TCP_ST_FULL: return "too many connections";
	default: return "ok";
	}
}

/* Acceptor: a HELLO arrived. */
static void
on_hello(gv_tcp *t, struct tconn *c, const uint8_t *b, size_t len,
	 gv_time now)
{
	const struct listener *l = &t->lis[c->lep];
	if (len != HELLO_LEN || memcmp(b, MAGIC, 4)) {
		t->st.bad_frames++;
		conn_kill(t, c, now, "not a grapevine stream");
		return;
	}
	memcpy(c->hello, b, HELLO_LEN);
	uint32_t cluster = ld32(b + 4);
	uint16_t shard = ld16(b + 8);
	bool sealed = b[10] != 0;
	uint32_t key_id = ld32(b + 11);
	if (get_addr(b + 23, &c->peer))
		c->peer_known = true;
	int st = GV_TCP_ST_OK;
	uint8_t key[GV_KEY_LEN];
	if (cluster != t->cfg.cluster)
		st = GV_TCP_ST_CLUSTER;
	else if (shard != l->shard)
		st = GV_TCP_ST_SHARD;
	else if (sealed != (t->cfg.keyring != NULL))
		st = GV_TCP_ST_SEALING;
	else if (sealed && gv_keyring_get(t->cfg.keyring, key_id, key))
		st = GV_TCP_ST_KEY;
	uint8_t ack[ACK_LEN];
	memcpy(ack, MAGIC, 4);
	ack[4] = (uint8_t)st;
	st32(ack + 5, key_id);
	randombytes_buf(ack + 9, NONCE_LEN);
	frame_out(t, c, ack, ACK_LEN);
	flush_out(t, c, now);
	if (st != GV_TCP_ST_OK) {
		char a[64];
		t->st.refused++;
		tlog(t, GV_IO_LOG_WARN,
		     "stream from %s refused: %s",
		     c->peer_known ? astr(&c->peer, a, sizeof(a)) : "?",
		     status_name(st));
		c->refused = true;
		conn_kill(t, c, now, NULL);
		return;
	}
	c->key_id = key_id;
	if (sealed) {
		derive(c, key, ack);
		sodium_memzero(key, sizeof(key));
	}
	c->state = C_OPEN;
}

/* Connector: the HELLO_ACK arrived. */
static void
on_ack(gv_tcp *t, struct tconn *c, const uint8_t *b, size_t len, gv_time now)
{
	if (len != ACK_LEN || memcmp(b, MAGIC, 4)) {
		t->st.bad_frames++;
		conn_kill(t, c, now, "not a grapevine stream");
		return;
	}
	if (b[4] != GV_TCP_ST_OK) {
		char a[64];
		t->st.refused++;
		tlog(t, GV_IO_LOG_WARN, "stream to %s refused by the peer: %s",
		     astr(&c->peer, a, sizeof(a)), status_name(b[4]));
		conn_kill(t, c, now, "refused");
		return;
	}
	if (t->cfg.keyring) {
		uint8_t key[GV_KEY_LEN];
		if (gv_keyring_get(t->cfg.keyring, c->key_id, key)) {
			conn_kill(t, c, now, "key removed during handshake");
			return;
		}
		derive(c, key, b);
		sodium_memzero(key, sizeof(key));
	}
	opened(t, c, now);
}

/* ------------------------------------------------------------ input */

/* One whole frame body. */
static void
on_frame(gv_tcp *t, struct tconn *c, uint8_t *b, size_t len, gv_time now)
{
	if (c->state == C_HANDSHAKE) {
		if (c->outbound)
			on_ack(t, c, b, len, now);
		else
			on_hello(t, c, b, len, now);
		return;
	}
	if (c->state != C_OPEN)
		return;
	if (c->sealed) {
		uint8_t nonce[NONCE_LEN] = {0};
		unsigned long long mlen;
		st64(nonce, c->n_rx);
		if (len < TAG_LEN ||
		    crypto_aead_xchacha20poly1305_ietf_decrypt(
			    b, &mlen, NULL, b, len, NULL, 0, nonce, c->k_rx)) {
			t->st.auth_failed++;
			char a[64];
			tlog(t, GV_IO_LOG_WARN,
			     "stream from %s: a frame failed authentication; "
			     "closed",
			     c->peer_known ? astr(&c->peer, a, sizeof(a))
					   : "?");
			c->refused = false;
			conn_kill(t, c, now, "authentication failed");
			return;
		}
		c->n_rx++;
		len = (size_t)mlen;
	}
	t->st.msgs_in++;
	if (c->outbound)
		return; /* the acceptor sends us nothing but its ACK */
	t->cfg.ops.recv(t->cfg.ud, c->lep, now, &c->peer, b, len);
}

static void
read_conn(gv_tcp *t, struct tconn *c, gv_time now)
{
	size_t budget = READ_BUDGET;
	while (c->state != C_DEAD && budget) {
		/* the length first, then the body into a buffer of its size */
		size_t need, have;
		uint8_t *dst;
		if (c->in_len < 4) {
			dst = c->in_hdr + c->in_len;
			need = 4 - c->in_len;
		} else {
			size_t body = ld32(c->in_hdr);
			have = c->in_len - 4;
			dst = c->in + have;
			need = body - have;
		}
		if (need > budget)
			need = budget;
		ssize_t n = need ? recv(c->fd, dst, need, MSG_DONTWAIT) : 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_kill(t, c, now, strerror(errno));
			return;
		}
		if (n == 0 && need) {
			conn_kill(t, c, now, "closed by the peer");
			return;
		}
		c->in_len += (size_t)n;
		budget -= (size_t)n;
		t->st.bytes_in += (size_t)n;
		c->last_io = now;
		if (c->in_len == 4) {
			size_t body = ld32(c->in_hdr);
			size_t cap = c->state == C_HANDSHAKE ? HELLO_LEN
							     : t->max_frame;
			if (body > cap) {
				t->st.bad_frames++;
				conn_kill(t, c, now, "frame too long");
				return;
			}
			if (!grow(&c->in, &c->in_cap, body ? body : 1)) {
				conn_kill(t, c, now, "out of memory");
				return;
			}
		}
		if (c->in_len >= 4 && c->in_len - 4 == ld32(c->in_hdr)) {
			size_t body = c->in_len - 4;
			c->in_len = 0;
			on_frame(t, c, c->in, body, now);
			/* a big buffer is not kept for an idle connection */
			if (c->in_cap > (1u << 20) && body < c->in_cap / 4) {
				free(c->in);
				c->in = NULL;
				c->in_cap = 0;
			}
		}
	}
}

static void
do_accept(gv_tcp *t, unsigned lep, gv_time now)
{
	for (;;) {
		int fd = accept4(t->lis[lep].fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
		struct tconn *c = conn_new(t, fd, lep, false, now);
		if (!c) {
			t->st.refused++;
			close(fd);
			continue;
		}
		c->state = C_HANDSHAKE;
		t->st.conns_in++;
	}
}

/* ------------------------------------------------------------ output */

static struct tconn *
find_out(gv_tcp *t, unsigned lep, const gv_addr *to)
{
	for (size_t i = 0; i < t->nconns; i++) {
		struct tconn *c = t->conns[i];
		if (c->outbound && c->lep == lep && c->state != C_DEAD &&
		    gv_addr_eq(&c->peer, to))
			return c;
	}
	return NULL;
}

static struct tconn *
connect_to(gv_tcp *t, unsigned lep, const gv_addr *to, gv_time now, int *err)
{
	const struct listener *l = &t->lis[lep];
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(to, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					      SOCK_CLOEXEC,
			0);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* from the address we listen on (not a wildcard): on a host with
	 * several, the peer (and a firewall) sees the node's own address */
	static const uint8_t zero[16];
	if (l->at.family == to->family &&
	    memcmp(l->at.addr, zero, l->at.family == 6 ? 16 : 4) != 0) {
		gv_addr from = l->at;
		from.port = 0;
		struct sockaddr_storage fs;
		socklen_t fl = to_sockaddr(&from, &fs);
		(void)bind(fd, (struct sockaddr *)&fs, fl);
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		*err = -errno;
		close(fd);
		t->st.connect_failed++;
		return NULL;
	}
	struct tconn *c = conn_new(t, fd, lep, true, now);
	if (!c) {
		close(fd);
		*err = GV_EFULL;
		return NULL;
	}
	c->state = C_CONNECTING;
	c->peer = *to;
	c->peer_known = true;
	t->st.conns_out++;
	uint8_t *h = c->hello;
	memcpy(h, MAGIC, 4);
	st32(h + 4, t->cfg.cluster);
	st16(h + 8, l->shard);
	h[10] = t->cfg.keyring != NULL;
	c->key_id = t->cfg.keyring ? gv_keyring_primary(t->cfg.keyring) : 0;
	st32(h + 11, c->key_id);
	st64(h + 15, l->node);
	put_addr(h + 23, &l->self);
	randombytes_buf(h + 42, NONCE_LEN);
	/* the HELLO is the first frame, in the clear (no keys yet) */
	if (frame_out(t, c, h, HELLO_LEN)) {
		conn_kill(t, c, now, "out of memory");
		*err = GV_ENOMEM;
		return NULL;
	}
	return c;
}

int
gv_tcp_send(gv_tcp *t, unsigned lep, const gv_addr *to, const uint8_t *msg,
	    size_t len, gv_time now)
{
	if (!t || lep >= MAX_LISTEN || !t->lis[lep].used || !to ||
	    len > t->cfg.max_msg || (!msg && len))
		return GV_EINVAL;
	struct tconn *c = find_out(t, lep, to);
	if (!c) {
		int err = 0;
		c = connect_to(t, lep, to, now, &err);
		if (!c)
			return err;
	}
	if (queued(c) && queued(c) + len > t->cfg.queue_max) {
		c->want_ready = true;
		t->st.queue_full++;
		return GV_EAGAIN;
	}
	t->st.msgs_out++;
	if (c->state != C_OPEN) {
		if (!grow(&c->pend, &c->pend_cap, c->pend_len + 4 + len))
			return GV_ENOMEM;
		st32(c->pend + c->pend_len, (uint32_t)len);
		if (len)
			memcpy(c->pend + c->pend_len + 4, msg, len);
		c->pend_len += 4 + len;
		t->st.queued_bytes += 4 + len;
		return 0;
	}
	int rc = frame_out(t, c, msg, len);
	if (rc)
		return rc;
	flush_out(t, c, now);
	return 0;
}

/* ------------------------------------------------------------ loop */

static void
on_writable(gv_tcp *t, struct tconn *c, gv_time now)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			conn_kill(t, c, now, strerror(err));
			return;
		}
		c->state = C_HANDSHAKE; /* the HELLO goes out; ACK awaited */
	}
	flush_out(t, c, now);
	if (c->state != C_DEAD && c->want_ready &&
	    queued(c) <= t->cfg.queue_max / 2) {
		c->want_ready = false;
		if (t->cfg.ops.ready)
			t->cfg.ops.ready(t->cfg.ud, c->lep, now, &c->peer);
	}
}

void
gv_tcp_poll(gv_tcp *t, gv_time now)
{
	if (!t || t->in_poll)
		return;
	t->in_poll = true;
	struct epoll_event evs[64];
	int n = epoll_wait(t->epfd, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 & LISTEN_TAG &&
		    (evs[i].data.u64 & ~LISTEN_TAG) < MAX_LISTEN) {
			do_accept(t, (unsigned)(evs[i].data.u64 & ~LISTEN_TAG),
				  now);
			continue;
		}
		struct tconn *c = evs[i].data.ptr;
		if (c->state == C_DEAD)
			continue;
		if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_writable(t, c, now);
		if (c->state != C_DEAD &&
		    (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			read_conn(t, c, now);
	}
	reap(t, now);
	t->in_poll = false;
}

void
gv_tcp_tick(gv_tcp *t, gv_time now)
{
	if (!t || t->in_poll || now < t->next_tick)
		return;
	t->next_tick = now + 100000;
	t->in_poll = true;
	gv_time hs = t->cfg.connect_timeout_ms * 1000;
	gv_time idle = t->cfg.idle_ms * 1000;
	for (size_t i = 0; i < t->nconns; i++) {
		struct tconn *c = t->conns[i];
		if (c->state == C_DEAD)
			continue;
		if (c->state != C_OPEN && now - c->since > hs) {
			conn_kill(t, c, now, "handshake timed out");
			continue;
		}
		if (c->state == C_OPEN && !queued(c) &&
		    now - c->last_io > idle) {
			/* idle: quietly, without down(): the other direction
			 * (the peer's connection to us) may be busy with a
			 * long transfer this one only asked for */
			c->refused = true;
			conn_kill(t, c, now, NULL);
			continue;
		}
		uint8_t key[GV_KEY_LEN];
		if (c->sealed && gv_keyring_get(t->cfg.keyring, c->key_id, key))
			conn_kill(t, c, now, "its key left the keyring");
		sodium_memzero(key, sizeof(key));
	}
	reap(t, now);
	t->in_poll = false;
}
