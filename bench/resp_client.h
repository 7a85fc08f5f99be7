/* SPDX-License-Identifier: MIT */
/*
 * resp_client.h - the small Redis-protocol client of `gvbench cache`:
 * growable byte buffers, commands encoded in RESP2, a total parser of
 * replies (it never reads past what it is given and says "incomplete"
 * rather than guess), nonblocking sockets for the load (the caller owns
 * the epoll loop) and a blocking one-command-at-a-time connection for the
 * set-up and the checks (PING, INFO, MGET). It speaks to grapevined and to
 * redis-server alike: only what both answer in RESP2 is used.
 */
#ifndef GV_BENCH_RESP_CLIENT_H
#define GV_BENCH_RESP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds: the one clock of the benchmark, read
 * by its load and reader threads alike. */
uint64_t mono_ns(void);

/* ------------------------------------------------------------ buffers */

struct rbuf {
	char *p;
	size_t len, cap; /* bytes held, room */
	size_t off;      /* bytes already consumed (written or parsed) */
};

/* Room for n more bytes. Returns 0 or -ENOMEM. */
int rbuf_reserve(struct rbuf *b, size_t n);
/* Append n bytes. Returns 0 or -ENOMEM. */
int rbuf_put(struct rbuf *b, const void *p, size_t n);
/* Drop the consumed bytes (moves what is left to the front). */
void rbuf_compact(struct rbuf *b);
void rbuf_free(struct rbuf *b);

/*
 * rbuf_cmd - append one command of argc arguments (lens[i] bytes each;
 * lens NULL: NUL-terminated strings) as a RESP2 array of bulk strings.
 * Returns 0 or -ENOMEM.
 */
int rbuf_cmd(struct rbuf *b, int argc, const char *const *argv,
             const size_t *lens);

/* ------------------------------------------------------------ replies */

struct resp_val {
	char type;     /* '+', '-', ':', '$' or '*' */
	bool nil;      /* $-1 or *-1 */
	const char *s; /* '+', '-', '$': the text, len bytes (not NUL-ended) */
	size_t len;
	long long n; /* ':' the integer; '*' the element count */
	size_t hdr;  /* '*': where the first element starts */
};

/*
 * resp_parse - one reply at p[0..n). Returns its length in bytes (an
 * array with all its elements), 0 when the reply is not complete yet, or
 * -1 when the bytes are not RESP2 (RESP3 types included: the benchmark
 * never sends HELLO). *v describes the top level, pointing into p.
 */
ssize_t resp_parse(const char *p, size_t n, struct resp_val *v);

/* ------------------------------------------------------------ sockets */

/* A TCP connection to 127.0.0.1:port, nonblocking, TCP_NODELAY, the
 * connect completed (within timeout_ms). Returns the fd or -errno. */
int resp_connect(int port, int timeout_ms);

/*
 * rbuf_send - write what b holds past b->off to fd without blocking.
 * Returns 0 when all of it went, 1 when some is left (EAGAIN), -errno.
 */
int rbuf_send(int fd, struct rbuf *b);

/*
 * rbuf_recv - read from fd what is there into b (at least 64 KiB of
 * room each time). Returns 0 when it read something or nothing was
 * there, -ECONNRESET when the peer closed, -errno.
 */
int rbuf_recv(int fd, struct rbuf *b);

/* ------------------------------------------------------------ blocking */

/* One connection used one command at a time. */
struct resp_sync {
	int fd;
	struct rbuf in, out;
};

/* Connect to 127.0.0.1:port. Returns 0 or -errno. */
int resp_sync_open(struct resp_sync *c, int port, int timeout_ms);
void resp_sync_close(struct resp_sync *c);

/*
 * resp_sync_cmd - send one command (as rbuf_cmd) and wait at most
 * timeout_ms for its reply, described in *v; v's pointers stay valid
 * until the next call. Returns 0, -ETIMEDOUT, -EPROTO for bytes that are
 * not RESP, -errno.
 */
int resp_sync_cmd(struct resp_sync *c, int timeout_ms, struct resp_val *v,
                  int argc, const char *const *argv, const size_t *lens);

/*
 * info_field - the value of "name:value" in an INFO reply's text, copied
 * NUL-terminated into out. Returns 0, or -1 when the field is absent.
 */
int info_field(const char *text, size_t len, const char *name, char *out,
               size_t cap);

#endif /* GV_BENCH_RESP_CLIENT_H */
