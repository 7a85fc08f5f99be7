/* SPDX-License-Identifier: MIT */
/*
 * resp_client.c - the RESP2 client pieces of `gvbench cache`
 * (resp_client.h): buffers, encoding, the reply parser and the sockets.
 * Nothing here allocates per reply: replies are described in place, in
 * the buffer they arrived in.
 */
#include "resp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_ROOM (64 * 1024)

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ buffers */

int
rbuf_reserve(struct rbuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
rbuf_put(struct rbuf *b, const void *p, size_t n)
{
	if (rbuf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void
rbuf_compact(struct rbuf *b)
{
	if (!b->off)
		return;
	memmove(b->p, b->p + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

void
rbuf_free(struct rbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
rbuf_cmd(struct rbuf *b, int argc, const char *const *argv, const size_t *lens)
{
	char hdr[32];
	int k = snprintf(hdr, sizeof(hdr), "*%d\r\n", argc);

	if (rbuf_put(b, hdr, (size_t)k))
		return -ENOMEM;
	for (int i = 0; i < argc; i++) {
		size_t len = lens ? lens[i] : strlen(argv[i]);
		k = snprintf(hdr, sizeof(hdr), "$%zu\r\n", len);
		if (rbuf_reserve(b, (size_t)k + len + 2))
			return -ENOMEM;
		rbuf_put(b, hdr, (size_t)k);
		rbuf_put(b, argv[i], len);
		rbuf_put(b, "\r\n", 2);
	}
	return 0;
}

/* ------------------------------------------------------------ replies */

/* The line at p[0..n) up to CRLF: its length without CRLF, -2 when
 * incomplete, -1 when a bare LF or CR shows it is not RESP. */
static ssize_t
line_len(const char *p, size_t n)
{
	const char *cr = memchr(p, '\r', n);

	if (!cr)
		return memchr(p, '\n', n) ? -1 : -2;
	if ((size_t)(cr - p) + 1 >= n)
		return -2;
	return cr[1] == '\n' ? cr - p : -1;
}

static int
parse_ll(const char *s, size_t len, long long *out)
{
	long long v = 0;
	bool neg = len && s[0] == '-';
	size_t i = neg;

	if (i == len || len > 20)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

ssize_t
resp_parse(const char *p, size_t n, struct resp_val *v)
{
	if (!n)
		return 0;
	ssize_t l = line_len(p + 1, n - 1);
	if (l == -2)
		return 0;
	if (l < 0)
		return -1;
	size_t hdr = 1 + (size_t)l + 2;

	memset(v, 0, sizeof(*v));
	v->type = p[0];
	switch (p[0]) {
	case '+':
	case '-':
		v->s = p + 1;
		v->len = (size_t)l;
		return (ssize_t)hdr;
	case ':':
		return parse_ll(p + 1, (size_t)l, &v->n) ? -1 : (ssize_t)hdr;
	case '$': {
		long long len;
		if (parse_ll(p + 1, (size_t)l, &len) || len < -1)
			return -1;
		if (len == -1) {
			v->nil = true;
			return (ssize_t)hdr;
		}
		if (n - hdr < (size_t)len + 2)
			return 0;
		if (p[hdr + (size_t)len] != '\r' ||
		    p[hdr + (size_t)len + 1] != '\n')
			return -1;
		v->s = p + hdr;
		v->len = (size_t)len;
		return (ssize_t)(hdr + (size_t)len + 2);
	}
	case '*': {
		long long cnt;
		if (parse_ll(p + 1, (size_t)l, &cnt) || cnt < -1)
			return -1;
		v->hdr = hdr;
		if (cnt == -1) {
			v->nil = true;
			return (ssize_t)hdr;
		}
		v->n = cnt;
		size_t off = hdr;
		for (long long i = 0; i < cnt; i++) {
			struct resp_val e;
			ssize_t k = resp_parse(p + off, n - off, &e);
			if (k <= 0)
				return k;
			off += (size_t)k;
		}
		return (ssize_t)off;
	}
	default:
		return -1;
	}
}

/* ------------------------------------------------------------ sockets */

int
resp_connect(int port, int timeout_ms)
{
	struct sockaddr_in sa = {
	        .sin_family = AF_INET,
	        .sin_port = htons((uint16_t)port),
	        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, err = 0;
	socklen_t elen = sizeof(err);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = -errno;
		goto fail;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int k = poll(&pfd, 1, timeout_ms);
	if (k <= 0) {
		err = k ? -errno : -ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) || err) {
		err = err ? -err : -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int
rbuf_send(int fd, struct rbuf *b)
{
	while (b->off < b->len) {
		ssize_t k =
		        send(fd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				rbuf_compact(b);
				return 1;
			}
			return -errno;
		}
		b->off += (size_t)k;
	}
	b->off = b->len = 0;
	return 0;
}

int
rbuf_recv(int fd, struct rbuf *b)
{
	for (;;) {
		rbuf_compact(b);
		if (rbuf_reserve(b, RECV_ROOM))
			return -ENOMEM;
		ssize_t k = recv(fd, b->p + b->len, b->cap - b->len, 0);
		if (k > 0) {
			b->len += (size_t)k;
			if (b->len < b->cap) /* the socket is drained */
				return 0;
			continue;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
}

/* ------------------------------------------------------------ blocking */

int
resp_sync_open(struct resp_sync *c, int port, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = resp_connect(port, timeout_ms);
	return c->fd < 0 ? c->fd : 0;
}

void
resp_sync_close(struct resp_sync *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	rbuf_free(&c->in);
	rbuf_free(&c->out);
}

int
resp_sync_cmd(struct resp_sync *c, int timeout_ms, struct resp_val *v, int argc,
              const char *const *argv, const size_t *lens)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	int rc;

	c->in.off = c->in.len = 0;
	c->out.off = c->out.len = 0;
	if (rbuf_cmd(&c->out, argc, argv, lens))
		return -ENOMEM;
	for (;;) {
		if (c->out.off < c->out.len) {
			rc = rbuf_send(c->fd, &c->out);
			if (rc < 0)
				return rc;
		} else {
			ssize_t k = resp_parse(c->in.p, c->in.len, v);
			if (k < 0)
				return -EPROTO;
			if (k > 0)
				return 0;
		}
		uint64_t now = mono_ns();
		if (now >= end)
			return -ETIMEDOUT;
		struct pollfd pfd = {
		        .fd = c->fd,
		        .events = c->out.off < c->out.len ? POLLOUT : POLLIN,
		};
		int wait = (int)((end - now) / 1000000u) + 1;
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return -errno;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			rc = rbuf_recv(c->fd, &c->in);
			if (rc < 0)
				return rc;
		}
	}
}

int
info_field(const char *text, size_t len, const char *name, char *out,
           size_t cap)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < len;) {
		const char *eol = memchr(text + i, '\n', len - i);
		size_t ll = eol ? (size_t)(eol - (text + i)) : len - i;
		if (ll > nl && !memcmp(text + i, name, nl) &&
		    text[i + nl] == ':') {
			size_t vl = ll - nl - 1;
			if (vl && text[i + nl + vl] == '\r')
				vl--;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, text + i + nl + 1, vl);
			out[vl] = 0;
			return 0;
		}
		i += ll + 1;
	}
	return -1;
}
