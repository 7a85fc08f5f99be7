/* SPDX-License-Identifier: MIT */
/*
 * tcp.h - the stream channel over TCP: one worker's connections, carrying
 * whole messages between a local endpoint (a node) and its peers.
 *
 * Each local endpoint listens on TCP at the port of its gossip socket
 * (the same number, the other protocol). A message for a peer goes out on
 * this endpoint's outbound connection to the peer's gossip address,
 * opened on demand; messages from a peer come in on the connection it
 * opened to us. Everything is non-blocking and runs on the worker's
 * thread: the loop watches gv_tcp_fd() (gv_io_watch) and calls
 * gv_tcp_poll() when it is readable, and gv_tcp_tick() now and then.
 *
 * Connection: the connector sends HELLO, the acceptor answers HELLO_ACK,
 * both as frames; then frames both ways (only the connector's direction is
 * used for messages, the other carries nothing but keeps the pipe honest).
 *   frame      len u32 (little-endian), body[len]
 *   HELLO      magic "gvs1", cluster u32, shard u16, sealed u8, key_id u32,
 *              node u64, addr (family u8, port u16, 16 bytes), nonce[24]
 *   HELLO_ACK  magic "gvs1", status u8 (GV_TCP_ST_*), key_id u32, nonce[24]
 * Sealed (a keyring given): the two must hold the connector's key id; each
 * direction has its own key, BLAKE2b-256 keyed with the cluster key over
 * a label, the HELLO and the HELLO_ACK (both nonces are fresh random, so
 * every connection has new keys and a recorded one cannot be replayed),
 * and every message body is XChaCha20-Poly1305 with a counter nonce: the
 * HELLO's contents (who the peer says it is) are authenticated by the
 * first message that opens. A peer that is not sealed alike, of another
 * cluster or shard, or whose key we lack is refused with a status saying
 * why, logged on both sides and counted.
 *
 * Bounds: a connection queues at most queue_max bytes (gv_tcp_send then
 * returns GV_EAGAIN, and ops.ready runs once it drained to half); a frame
 * over max_msg (+ the seal) closes the connection; at most max_conns
 * connections; a handshake has connect_timeout_ms; an idle connection
 * closes after idle_ms.
 */
#ifndef GV_IO_TCP_H
#define GV_IO_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

#include "core/keyring.h"
#include "io/io.h"

typedef struct gv_tcp gv_tcp;

enum gv_tcp_status {
	GV_TCP_ST_OK = 0,
	GV_TCP_ST_CLUSTER = 1,  /* another cluster */
	GV_TCP_ST_SHARD = 2,    /* no such shard here */
	GV_TCP_ST_SEALING = 3,  /* not sealed alike */
	GV_TCP_ST_KEY = 4,      /* the key id is not in our ring */
	GV_TCP_ST_FULL = 5,     /* too many connections */
};

typedef struct gv_tcp_ops {
	/* A whole message from @peer (its gossip address) for local
	 * endpoint lep; msg is valid for the call only. */
	void (*recv)(void *ud, unsigned lep, gv_time now, const gv_addr *peer,
		     const uint8_t *msg, size_t len);
	/* The connection to @peer drained: sends refused with GV_EAGAIN may
	 * be retried. */
	void (*ready)(void *ud, unsigned lep, gv_time now, const gv_addr *peer);
	/* A connection to or from @peer broke (or could not be opened). */
	void (*down)(void *ud, unsigned lep, gv_time now, const gv_addr *peer);
} gv_tcp_ops;

typedef struct gv_tcp_config {
	uint32_t cluster;
	gv_keyring *keyring;      /* NULL: in the clear */
	size_t max_msg;           /* largest message (required) */
	size_t queue_max;         /* 4 MiB per connection */
	unsigned max_conns;       /* 1024 */
	uint64_t connect_timeout_ms; /* 3000 */
	uint64_t idle_ms;         /* 60000 */
	gv_io_log_fn log;         /* NULL: stderr */
	void *log_ud;
	gv_tcp_ops ops;
	void *ud;
} gv_tcp_config;

typedef struct gv_tcp_stats {
	uint64_t conns_out, conns_in;   /* opened, accepted */
	uint64_t conns_closed;
	uint64_t connect_failed;        /* refused, unreachable, timed out */
	uint64_t refused;               /* handshakes refused (either side) */
	uint64_t auth_failed;           /* a sealed frame did not open */
	uint64_t bad_frames;            /* oversized or malformed */
	uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t queue_full;            /* sends refused with GV_EAGAIN */
	uint64_t queued_bytes;          /* now, all connections */
	uint64_t conns;                 /* now */
} gv_tcp_stats;

void gv_tcp_config_default(gv_tcp_config *cfg);
int gv_tcp_new(gv_tcp **out, const gv_tcp_config *cfg);
void gv_tcp_del(gv_tcp *t);

/*
 * gv_tcp_listen - listen on *bind (TCP) for local endpoint lep, which
 * advertises gossip address *self as node @node of shard @shard.
 * Returns 0, GV_EINVAL, GV_EFULL, -errno (socket, bind, listen).
 */
int gv_tcp_listen(gv_tcp *t, unsigned lep, const gv_addr *bind,
		  const gv_addr *self, uint16_t shard, gv_node_id node);

/*
 * gv_tcp_send - queue msg for @to's endpoint (its gossip address) from
 * local endpoint lep, opening the connection if need be; safe inside the
 * ops' callbacks. Returns 0, GV_EAGAIN (queue full), GV_EINVAL (too big,
 * unknown lep), GV_EFULL (too many connections), -errno.
 */
int gv_tcp_send(gv_tcp *t, unsigned lep, const gv_addr *to,
		const uint8_t *msg, size_t len, gv_time now);

/* The descriptor to watch (readable when something is to be done). */
int gv_tcp_fd(const gv_tcp *t);
/* Do what is to be done: accept, read, write, call the ops. */
void gv_tcp_poll(gv_tcp *t, gv_time now);
/* Timeouts and idle connections; cheap, call it every iteration. */
void gv_tcp_tick(gv_tcp *t, gv_time now);
void gv_tcp_get_stats(const gv_tcp *t, gv_tcp_stats *out);

#endif /* GV_IO_TCP_H */
