/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - grapevined: shard workers, the RESP front end, /metrics and
 * event hooks (see daemon.h for the threads and how they talk).
 *
 * A client command becomes a `req` with one `sub` per shard-sized piece
 * (one key, or one shard for whole-node questions). Subs travel to their
 * shard over its inbound SPSC ring, are applied there by the shard's own
 * thread (the only thread that touches its gv_node), and come back over
 * the shard's outbound ring. A client's replies go out in the order its
 * commands came in: the front end flushes a client's queue of reqs from
 * the head while the head is complete. So a write is acknowledged only
 * after the owning shard applied it, pipelining works, and a slow client
 * stalls nobody but itself: past a soft limit of unsent replies, or of
 * requests at the shards, it is not read (TCP pushes back on it); past
 * --client-output-limit it is disconnected. No thread ever waits for
 * another: a full ring is an error reply (inbound), a sub kept for the
 * next iteration (outbound), a dropped and counted message (hooks,
 * membership; the latter followed by a resync).
 */
#define _GNU_SOURCE
#include "server/daemon.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/node.h"
#include "io/io.h"
#include "server/log.h"
#include "server/resp.h"
#include "shard/metrics.h"
#include "shard/spsc.h"

#define MAX_SHARDS 64
#define RING 4096           /* requests in flight per shard */
#define EVQ 1024            /* pending hook events per shard */
#define OUT_SOFT (1u << 20)  /* client output past which it is not read */
#define CLIENT_PENDING 256 /* a client's subs in flight before it is not
                            * read: 1/16 of a shard's ring, and at most
                            * 256 values held for its replies */
#define IN_LIMIT (70u << 20)  /* client input cap (a max value + slack) */
#define PUB_EVERY_US 100000 /* stats snapshot period */
#define GV_ECANCELED_SHUTDOWN GV_EFULL /* a request caught by shutdown */

enum op {
	OP_GET,
	OP_SET,
	OP_DEL,
	OP_EXISTS,
	OP_COUNT,
	OP_MEMBERS,
	OP_CONFLICTS,
	OP_SCAN,
	OP_WATCH,
	OP_KEYS, /* GV.KEYS, on shard 0 */
};

/* How a req's subs combine into the reply. */
enum combine {
	C_READY,   /* reply already encoded in req->reply */
	C_BULK,    /* one sub: bulk value or null */
	C_OK,      /* all subs: +OK (or the first error) */
	C_SET,     /* SET: +OK, or null when NX/XX refused */
	C_SUM,     /* integers summed */
	C_MGET,    /* array of bulks, one per sub */
	C_RAW,     /* subs' out buffers are RESP fragments: array of them */
	C_SCAN,    /* cursor + keys */
	C_WATCH,   /* [version, with latest, total] */
};

struct req;

struct sub {
	struct req *parent;
	uint8_t op;
	uint8_t setmode; /* 0, 1 NX, 2 XX */
	uint16_t shard;
	char *key;
	size_t klen;
	char *val;
	size_t vlen;
	/* results */
	int rc;
	int64_t ival;
	char *out; /* value copy, or a RESP fragment */
	size_t outlen;
	bool null;
	uint64_t cursor; /* scan: leaf in, next leaf out */
	size_t count;
	const char *pattern;
	gv_version ver; /* watch */
};

struct client;

struct req {
	struct req *next;
	struct client *cl; /* NULL once the client is gone */
	int combine;
	unsigned nsubs, done;
	struct sub *subs;
	gv_resp_buf reply;
	uint64_t scan_shard; /* C_SCAN */
	char *pattern;
};

struct client {
	struct client *prev, *next; /* all clients, for shutdown */
	int fd;
	char *in;
	size_t inlen, incap;
	gv_resp_req parser;
	gv_resp_buf out;
	struct req *head, *tail;
	bool closing; /* QUIT or protocol error: close once flushed */
	bool want_out;
	bool paused; /* not read: replies or requests piled up */
	unsigned inflight;
	size_t queued; /* subs (1 for a ready reply) not yet flushed */
};

/* A hook event, fixed size for the SPSC ring. */
struct event {
	char type[16];
	char name[64], addr[64], region[64], state[16];
	uint32_t incarnation;
	double reach;
	char key[128], winner[128], loser[128];
};

/* A membership change passed from shard 0 to the others. */
struct member_msg {
	gv_node_id id;
	gv_addr addr; /* shard 0's address of the member */
	uint32_t incarnation;
	uint8_t state;
};

/* Stats a shard publishes for INFO, GV.STATS and /metrics. */
struct pub {
	gv_node_stats st;
	size_t keys, tombstones, mem_used;
	double reach;
	bool partitioned;
	gv_io_stats io;
};

struct shard {
	gv_daemon *d;
	unsigned idx;
	pthread_t th;
	bool running;
	gv_io *io;
	int ep;
	gv_node *node;
	gv_addr addr;
	gv_spsc inq, outq, memq, evq;
	bool rings;
	pthread_mutex_t pub_mu;
	struct pub pub;
	gv_time last_pub;
	gv_histogram delay;
	/* counters written by this shard's thread, read by the front end:
	 * atomics (relaxed) so the reads are not torn */
	_Atomic uint64_t ev_dropped;  /* hook events, evq full */
	_Atomic uint64_t mem_dropped; /* member messages, memq full */
	_Atomic uint64_t out_held;    /* replies held back, outq full */
	bool ev_full;   /* evq was full at the last push: logged once */
	bool resync;    /* shard 0: a member message was dropped for a shard */
	struct sub *held; /* a reply that found outq full: first next time */
	_Atomic int outq_full; /* set by the shard, cleared by the front end */
	volatile sig_atomic_t stop;
	_Atomic int leave; /* 1: leave now; set by the front end */
	gv_time leave_at;
	bool joined; /* shard 0: join sent */
};

struct gv_daemon {
	gv_daemon_config cfg;
	const gv_mem *mem;
	unsigned k;
	struct shard shards[MAX_SHARDS];
	int lfd, mfd, epfd, efd;
	pthread_t hook_th;
	bool hook_running;
	_Atomic int hook_stop;
	_Atomic int fatal;
	char fatal_msg[256];
	gv_resp_limits lim;
	time_t started;
	uint64_t commands, connections;
	/* front-end thread only */
	uint64_t out_disconnects, in_disconnects, read_pauses, busy_replies;
	unsigned nclients;
	struct client *clients;
	uint32_t cluster_id;
	int64_t wall_offset_ms; /* Unix ms = monotonic ms + this */
	gv_keyring *keyring;    /* NULL: gossip in the clear */
	uint64_t keyring_saved; /* generation last written to the file */
};

/* ----------------------------------------------------------- helpers */

static char *
dupmem(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (c && n)
		memcpy(c, p, n);
	return c;
}

static unsigned
shard_of(const gv_daemon *d, const void *key, size_t klen)
{
	return (unsigned)(XXH3_64bits(key, klen) % d->k);
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
state_name(int s)
{
	static const char *const n[] = {"alive", "suspect", "dead", "left"};
	return s >= 0 && s < 4 ? n[s] : "new";
}

static void
wake_front(gv_daemon *d)
{
	uint64_t one = 1;
	ssize_t w = write(d->efd, &one, sizeof(one));
	(void)w;
}

/* ------------------------------------------------------ node callbacks */

static void
push_event(struct shard *s, const struct event *e)
{
	if (!s->d->cfg.on_event[0])
		return;
	/* full queue: the event is dropped and counted (the hook runner is
	 * behind; the data the event was about is not lost); the engine
	 * never waits for it. Logged once per run of drops. */
	if (gv_spsc_push(&s->evq, e) == 0) {
		s->ev_full = false;
		return;
	}
	atomic_fetch_add_explicit(&s->ev_dropped, 1, memory_order_relaxed);
	if (!s->ev_full) {
		s->ev_full = true;
		gv_log(GV_LOG_WARN, "hook queue full, dropping events",
		       "shard=%u queue=%d event=%s", s->idx, EVQ, e->type);
	}
}

/* Tell shard i about a member (from shard 0's thread). A full ring drops
 * the message, counted, and marks shard i for a resync: shard 0 sends it
 * the whole membership as soon as there is room (shard_iter). */
static void
push_member(gv_daemon *d, unsigned i, const struct member_msg *mm)
{
	struct shard *t = &d->shards[i];
	if (!t->resync && gv_spsc_push(&t->memq, mm) == 0) {
		gv_io_wake(t->io);
		return;
	}
	atomic_fetch_add_explicit(&d->shards[0].mem_dropped, 1,
				  memory_order_relaxed);
	if (!t->resync)
		gv_log(GV_LOG_WARN, "member queue full, shard will resync",
		       "shard=%u", i);
	t->resync = true;
}

/* Shard 0: the whole membership to each shard marked for a resync. */
static void
resync_members(struct shard *sh)
{
	gv_daemon *d = sh->d;
	gv_member_info *m = NULL;
	size_t total = 0;
	for (unsigned i = 1; i < d->k; i++) {
		struct shard *t = &d->shards[i];
		if (!t->resync)
			continue;
		if (!m) {
			total = gv_node_members(sh->node, NULL, 0);
			m = calloc(total + 1, sizeof(*m));
			if (!m)
				return; /* next iteration */
			total = gv_node_members(sh->node, m, total);
		}
		size_t cap = t->memq.mask + 1;
		if (cap - gv_spsc_size(&t->memq) < total)
			continue; /* wait until it all fits */
		for (size_t j = 0; j < total; j++) {
			struct member_msg mm = {m[j].id, m[j].addr,
						m[j].incarnation, m[j].state};
			gv_spsc_push(&t->memq, &mm);
		}
		t->resync = false;
		gv_io_wake(t->io);
		gv_log(GV_LOG_INFO, "member queue resynced", "shard=%u "
		       "members=%zu", i, total);
	}
	free(m);
}

static void
cb_update(void *ud, const gv_record *rec, int result, gv_time now)
{
	struct shard *s = ud;
	if (result < 0)
		return; /* local write */
	double delay = (double)wall_ms() - (double)gv_hlc_ms(rec->ver.hlc);
	gv_histogram_observe(&s->delay, delay < 0 ? 0 : delay);
}

static void
cb_member(void *ud, const gv_member_info *m, int old, gv_time now)
{
	struct shard *s = ud;
	gv_daemon *d = s->d;
	char a[64], q[160];
	gv_addr_str(&m->addr, a, sizeof(a));
	int lvl = m->state == GV_MEMBER_ALIVE || m->state == GV_MEMBER_LEFT
			  ? GV_LOG_INFO
			  : GV_LOG_WARN;
	if (m->state != GV_MEMBER_SUSPECT || gv_log_level() <= GV_LOG_DEBUG)
		gv_log(lvl, "member state", "member=%s addr=%s from=%s to=%s "
		       "incarnation=%u",
		       gv_log_quote(m->name, q, sizeof(q)), a,
		       state_name(old), state_name(m->state), m->incarnation);
	/* the other shards learn it from here */
	for (unsigned i = 1; i < d->k; i++) {
		struct member_msg mm = {m->id, m->addr, m->incarnation,
					m->state};
		push_member(d, i, &mm);
	}
	const char *type = NULL;
	if (m->state == GV_MEMBER_ALIVE)
		type = "member-join";
	else if (m->state == GV_MEMBER_LEFT)
		type = "member-leave";
	else if (m->state == GV_MEMBER_DEAD)
		type = "member-failed";
	if (type) {
		struct event e = {0};
		snprintf(e.type, sizeof(e.type), "%s", type);
		snprintf(e.name, sizeof(e.name), "%s", m->name);
		snprintf(e.addr, sizeof(e.addr), "%s", a);
		snprintf(e.region, sizeof(e.region), "%s", m->region);
		snprintf(e.state, sizeof(e.state), "%s", state_name(m->state));
		e.incarnation = m->incarnation;
		push_event(s, &e);
	}
}

static void
copy_val(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(dst, v, k);
	dst[k] = 0;
}

static void
cb_conflict(void *ud, const gv_record *w, const gv_record *l, gv_time now)
{
	struct shard *s = ud;
	struct event e = {0};
	snprintf(e.type, sizeof(e.type), "conflict");
	copy_val(e.key, sizeof(e.key), w->key, w->klen);
	copy_val(e.winner, sizeof(e.winner), w->val, w->vlen);
	copy_val(e.loser, sizeof(e.loser), l->val, l->vlen);
	push_event(s, &e);
	if (gv_log_level() <= GV_LOG_DEBUG) {
		char q[300];
		gv_log(GV_LOG_DEBUG, "conflict", "shard=%u key=%s", s->idx,
		       gv_log_quote(e.key, q, sizeof(q)));
	}
}

static void
cb_partition(void *ud, bool part, double reach, gv_time now)
{
	struct shard *s = ud;
	gv_log(part ? GV_LOG_WARN : GV_LOG_INFO,
	       part ? "partition detected" : "partition healed",
	       "reach=%.2f quorum=0.51", reach);
	struct event e = {0};
	snprintf(e.type, sizeof(e.type), "%s", part ? "partition" : "heal");
	e.reach = reach;
	push_event(s, &e);
}

static void
cb_join_refused(void *ud, const gv_addr *seed, unsigned their, gv_time now)
{
	struct shard *s = ud;
	gv_daemon *d = s->d;
	char a[64];
	snprintf(d->fatal_msg, sizeof(d->fatal_msg),
		 "shard count mismatch: this node runs %u shards, seed %s runs "
		 "%u; every node of a cluster must use the same --shards",
		 d->k, gv_addr_str(seed, a, sizeof(a)), their);
	atomic_store(&d->fatal, 1);
	wake_front(d);
}

/* ------------------------------------------------------------ shards */


struct scan_ctx {
	struct sub *s;
	size_t cap;
	size_t used;
	size_t nkeys;
};

static int
scan_visit(void *ud, const gv_record *r)
{
	struct scan_ctx *c = ud;
	if (r->tombstone || gv_key_reserved(r->key, r->klen))
		return 0;
	if (c->s->pattern) {
		char k[GV_MAX_KEY + 1];
		memcpy(k, r->key, r->klen);
		k[r->klen] = 0;
		if (strlen(k) != r->klen || fnmatch(c->s->pattern, k, 0))
			return 0;
	}
	size_t need = 32 + r->klen;
	if (c->used + need > c->cap) {
		size_t cap = (c->cap + need) * 2;
		char *p = realloc(c->s->out, cap);
		if (!p)
			return 1;
		c->s->out = p;
		c->cap = cap;
	}
	c->used += (size_t)sprintf(c->s->out + c->used, "$%zu\r\n", r->klen);
	memcpy(c->s->out + c->used, r->key, r->klen);
	c->used += r->klen;
	memcpy(c->s->out + c->used, "\r\n", 2);
	c->used += 2;
	c->nkeys++;
	return 0;
}

/* A version as gvctl reads it: "<hlc>@<origin, 16 hex digits>". */
static void
out_version(gv_resp_buf *b, const gv_version *v)
{
	gv_resp_out_bulkf(b, "%llu@%016llx", (unsigned long long)v->hlc,
			  (unsigned long long)v->origin);
}

/* A conflict side's value: nil for a delete, else its first bytes. */
static void
out_value(gv_resp_buf *b, bool tomb, const uint8_t *val, size_t vlen,
	  size_t kept)
{
	if (tomb)
		gv_resp_out_null(b);
	else
		gv_resp_out_bulk(b, val, vlen < kept ? vlen : kept);
}

/* Encode a fragment with gv_resp_buf, then hand its bytes to the sub. */
static void
take_buf(struct sub *s, gv_resp_buf *b)
{
	s->outlen = gv_resp_buf_pending(b);
	s->out = dupmem(gv_resp_buf_data(b), s->outlen);
	gv_resp_buf_fini(b);
}

static void
apply_sub(struct shard *sh, struct sub *s, gv_time now)
{
	gv_node *n = sh->node;
	gv_record r;
	switch (s->op) {
	case OP_GET:
		if (gv_node_get(n, s->key, s->klen, &r) == 0) {
			s->out = dupmem(r.val, r.vlen);
			s->outlen = r.vlen;
			s->rc = s->out ? 0 : GV_ENOMEM;
		} else {
			s->null = true;
		}
		break;
	case OP_EXISTS:
		s->ival = gv_node_get(n, s->key, s->klen, &r) == 0;
		break;
	case OP_SET: {
		bool exists = gv_node_get(n, s->key, s->klen, &r) == 0;
		if ((s->setmode == 1 && exists) || (s->setmode == 2 && !exists)) {
			s->null = true;
			break;
		}
		s->rc = gv_node_put(n, now, s->key, s->klen, s->val, s->vlen,
				    GV_PRIO_NORMAL);
		break;
	}
	case OP_DEL: {
		int rc = gv_node_delete(n, now, s->key, s->klen,
					GV_PRIO_NORMAL);
		s->ival = rc == 0;
		s->rc = rc == GV_ENOTFOUND ? 0 : rc;
		break;
	}
	case OP_COUNT: {
		const gv_store *st = gv_node_store(n);
		s->ival = (int64_t)(st->count - st->tombstones -
				    gv_node_reserved_count(n));
		break;
	}
	case OP_MEMBERS: {
		size_t total = gv_node_members(n, NULL, 0);
		gv_member_info *m = calloc(total + 1, sizeof(*m));
		if (!m) {
			s->rc = GV_ENOMEM;
			break;
		}
		gv_node_self(n, &m[0]);
		gv_node_members(n, m + 1, total);
		gv_resp_buf b;
		gv_resp_buf_init(&b, gv_mem_libc(), 0);
		gv_resp_out_array(&b, total + 1);
		for (size_t i = 0; i <= total; i++) {
			char a[64];
			gv_resp_out_array(&b, 5);
			gv_resp_out_bulk_str(&b, m[i].name);
			gv_resp_out_bulk_str(&b,
					     gv_addr_str(&m[i].addr, a,
							 sizeof(a)));
			gv_resp_out_bulk_str(&b, m[i].region);
			gv_resp_out_bulk_str(&b, state_name(m[i].state));
			gv_resp_out_int(&b, m[i].incarnation);
		}
		free(m);
		take_buf(s, &b);
		break;
	}
	case OP_CONFLICTS: {
		size_t max = s->count ? s->count : 10;
		gv_conflict_info *c = calloc(max, sizeof(*c));
		if (!c) {
			s->rc = GV_ENOMEM;
			break;
		}
		size_t k = gv_node_conflicts(n, c, max);
		gv_resp_buf b;
		gv_resp_buf_init(&b, gv_mem_libc(), 0);
		for (size_t i = 0; i < k; i++) {
			gv_resp_out_array(&b, 6);
			gv_resp_out_bulk(&b, c[i].key,
					 c[i].klen < sizeof(c[i].key)
						 ? c[i].klen
						 : sizeof(c[i].key));
			out_value(&b, c[i].winner_tomb, c[i].winner_val,
				  c[i].winner_vlen, sizeof(c[i].winner_val));
			out_value(&b, c[i].loser_tomb, c[i].loser_val,
				  c[i].loser_vlen, sizeof(c[i].loser_val));
			out_version(&b, &c[i].winner);
			out_version(&b, &c[i].loser);
			/* when this node saw it, Unix milliseconds */
			gv_resp_out_int(&b, (int64_t)(c[i].at / 1000) +
						    sh->d->wall_offset_ms);
		}
		s->ival = (int64_t)k;
		free(c);
		take_buf(s, &b);
		break;
	}
	case OP_SCAN: {
		struct scan_ctx c = {.s = s};
		uint64_t leaf = s->cursor;
		const uint64_t leaves = 65536;
		while (leaf < leaves && c.nkeys < s->count) {
			gv_store_foreach_bucket(gv_node_store(n),
						(uint32_t)leaf, 16, scan_visit,
						&c);
			leaf++;
		}
		s->outlen = c.used;
		s->ival = (int64_t)c.nkeys;
		s->cursor = leaf;
		break;
	}
	case OP_KEYS: {
		gv_resp_buf b;
		gv_resp_buf_init(&b, gv_mem_libc(), 0);
		if (s->setmode == 0) {
			gv_key_status ks[2 * GV_KEYRING_MAX];
			unsigned live = 0;
			size_t k = gv_node_keys_list(n, ks, 2 * GV_KEYRING_MAX,
						     &live);
			gv_resp_out_array(&b, k);
			for (size_t i = 0; i < k; i++) {
				char id[16];
				snprintf(id, sizeof(id), "%08x", ks[i].id);
				gv_resp_out_array(&b, 5);
				gv_resp_out_bulk_str(&b, id);
				gv_resp_out_bulk_str(&b, ks[i].primary ? "primary"
							 : ks[i].held ? "held"
								      : "-");
				gv_resp_out_int(&b, ks[i].holders);
				gv_resp_out_int(&b, ks[i].primaries);
				gv_resp_out_int(&b, live);
			}
		} else {
			int rc = gv_node_keys_op(
				n, now, s->setmode, (const uint8_t *)s->val,
				(uint32_t)s->ival);
			if (rc == 0)
				gv_resp_out_ok(&b);
			else if (rc == GV_EFULL)
				gv_resp_out_errorf(&b,
						   "ERR keyring full (%d keys) "
						   "or key id taken",
						   GV_KEYRING_MAX);
			else if (rc == GV_ENOTFOUND)
				gv_resp_out_error(&b, "ERR no such key in "
						      "this node's keyring");
			else
				gv_resp_out_errorf(&b, "ERR %s",
						   gv_strerror(rc));
			if (s->val)
				explicit_bzero(s->val, s->vlen);
		}
		take_buf(s, &b);
		break;
	}
	case OP_WATCH: {
		gv_node_watch_result w;
		s->rc = gv_node_watch(n, now, s->key, s->klen, &w);
		s->ver = w.latest;
		s->ival = w.with_latest;
		s->count = w.total;
		break;
	}
	}
}

static void
publish(struct shard *sh, gv_time now)
{
	if (now - sh->last_pub < PUB_EVERY_US)
		return;
	/* never wait for a reader: skip this round if it holds the lock */
	if (pthread_mutex_trylock(&sh->pub_mu))
		return;
	sh->last_pub = now;
	const gv_store *st = gv_node_store(sh->node);
	sh->pub.st = *gv_node_get_stats(sh->node);
	sh->pub.keys = st->count - st->tombstones -
		       gv_node_reserved_count(sh->node);
	sh->pub.tombstones = st->tombstones;
	sh->pub.mem_used = st->mem_used;
	sh->pub.reach = gv_node_reach(sh->node);
	sh->pub.partitioned = gv_node_partitioned(sh->node);
	gv_io_get_stats(sh->io, &sh->pub.io);
	pthread_mutex_unlock(&sh->pub_mu);
}

/* Once per loop iteration of the shard's io worker. */
static void
shard_iter(void *ud)
{
	struct shard *sh = ud;
	gv_daemon *d = sh->d;
	gv_time now = gv_io_now();
	bool touched = false, replied = false;
	struct sub *s;
	/* a reply that found outq full goes first; while it cannot, no more
	 * requests are taken (they wait in inq, and a full inq is a BUSY
	 * reply): the shard never waits for the front end */
	if (sh->held && gv_spsc_push(&sh->outq, &sh->held) == 0) {
		sh->held = NULL;
		replied = true;
	}
	while (!sh->held && gv_spsc_pop(&sh->inq, &s)) {
		apply_sub(sh, s, now);
		if (gv_spsc_push(&sh->outq, &s)) {
			sh->held = s;
			atomic_fetch_add_explicit(&sh->out_held, 1,
						  memory_order_relaxed);
			atomic_store(&sh->outq_full, 1);
		}
		touched = replied = true;
	}
	if (sh->idx == 0)
		resync_members(sh);
	struct member_msg mm;
	while (gv_spsc_pop(&sh->memq, &mm)) {
		gv_member_info info = {.id = mm.id,
				       .addr = mm.addr,
				       .incarnation = mm.incarnation,
				       .state = mm.state};
		info.addr.port = (uint16_t)(info.addr.port + sh->idx);
		gv_node_set_member(sh->node, now, &info);
		touched = true;
	}
	if (atomic_load(&sh->leave) == 1) {
		atomic_store(&sh->leave, 2);
		if (sh->idx == 0)
			gv_node_leave(sh->node, now);
		sh->leave_at = now;
		touched = true;
	}
	if (atomic_load(&sh->leave) == 2 && now - sh->leave_at > 500000)
		sh->stop = 1; /* the leave has had half a second to go out */
	if (touched)
		gv_io_poke(sh->io, sh->ep);
	if (replied)
		wake_front(d);
	publish(sh, now);
}

static void *
shard_main(void *arg)
{
	struct shard *sh = arg;
	if (sh->d->cfg.pin) {
		cpu_set_t set;
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		CPU_ZERO(&set);
		CPU_SET(sh->idx % (unsigned)(cores > 0 ? cores : 1), &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	gv_io_run(sh->io, &sh->stop);
	return NULL;
}

static void
io_log(void *ud, int level, const char *msg)
{
	struct shard *sh = ud;
	int l = level == GV_IO_LOG_ERROR  ? GV_LOG_ERROR
		: level == GV_IO_LOG_WARN ? GV_LOG_WARN
		: level == GV_IO_LOG_INFO ? GV_LOG_INFO
					  : GV_LOG_DEBUG;
	gv_log(l, msg, "shard=%u", sh->idx);
}

static uint32_t
cluster_id(const char *name)
{
	return (uint32_t)XXH3_64bits(name, strlen(name));
}

static int
shard_init(gv_daemon *d, unsigned i, char *err, size_t errlen)
{
	struct shard *sh = &d->shards[i];
	sh->d = d;
	sh->idx = i;
	pthread_mutex_init(&sh->pub_mu, NULL);
	static const double bounds[] = {0.5, 1, 2, 5, 10, 20, 50,
					100, 200, 500, 1000, 2000, 5000};
	gv_histogram_init(&sh->delay, bounds,
			  sizeof(bounds) / sizeof(bounds[0]));
	if (gv_spsc_init(&sh->inq, d->mem, RING, sizeof(struct sub *)) ||
	    gv_spsc_init(&sh->outq, d->mem, RING, sizeof(struct sub *)) ||
	    gv_spsc_init(&sh->memq, d->mem, 4096, sizeof(struct member_msg)) ||
	    gv_spsc_init(&sh->evq, d->mem, EVQ, sizeof(struct event))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sh->rings = true;
	sh->addr = d->cfg.bind;
	sh->addr.port = (uint16_t)(d->cfg.bind.port + i);

	gv_node_config nc;
	gv_node_config_default(&nc);
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd >= 0) {
		ssize_t r = read(fd, &seed, sizeof(seed));
		(void)r;
		close(fd);
	}
	/* one id per process: every shard of a node shares it */
	static gv_node_id node_id;
	if (!node_id)
		node_id = seed | 1;
	nc.id = node_id;
	nc.addr = sh->addr;
	nc.seed = seed + i;
	snprintf(nc.name, sizeof(nc.name), "%s", d->cfg.name);
	snprintf(nc.region, sizeof(nc.region), "%s", d->cfg.region);
	nc.cluster = d->cluster_id;
	nc.shard = (uint16_t)i;
	nc.shards = (uint16_t)d->k;
	nc.external_membership = i > 0;
	nc.mode = d->cfg.mode;
	nc.fanout = d->cfg.fanout;
	nc.interval_ms = d->cfg.interval_ms;
	nc.probe_interval_ms = d->cfg.probe_interval_ms;
	nc.probe_timeout_ms = d->cfg.probe_interval_ms / 2
				      ? d->cfg.probe_interval_ms / 2
				      : 1;
	nc.read_only_in_minority = d->cfg.read_only_minority;
	nc.store.max_value = d->cfg.max_value;
	nc.store.max_memory = (size_t)(d->cfg.max_memory / d->k);
	struct timespec mono, real;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	nc.wall_offset_ms = (int64_t)real.tv_sec * 1000 +
			    real.tv_nsec / 1000000 -
			    ((int64_t)mono.tv_sec * 1000 +
			     mono.tv_nsec / 1000000);
	d->wall_offset_ms = nc.wall_offset_ms;
	nc.mem = d->mem;
	nc.keyring = d->keyring; /* shared by the shards */
	nc.cb.on_update = cb_update;
	nc.cb.on_conflict = cb_conflict;
	if (i == 0) {
		nc.cb.on_member = cb_member;
		nc.cb.on_partition = cb_partition;
		nc.cb.on_join_refused = cb_join_refused;
	}
	nc.ud = sh;
	int rc = gv_node_new(&sh->node, &nc, gv_io_now());
	if (rc) {
		snprintf(err, errlen, "shard %u: %s", i, gv_strerror(rc));
		return -1;
	}

	gv_io_config ic;
	gv_io_config_default(&ic);
	ic.backend = d->cfg.io_backend;
	ic.max_endpoints = 1;
	ic.buf_size = 65536; /* big values travel in one datagram */
	ic.buf_count = 256;
	ic.log = io_log;
	ic.log_ud = sh;
	ic.on_iter = shard_iter;
	ic.iter_ud = sh;
	rc = gv_io_new(&sh->io, &ic);
	if (rc) {
		snprintf(err, errlen, "shard %u: cannot start the network "
			 "worker: %s", i, gv_strerror(rc));
		return -1;
	}
	gv_addr bound;
	/* A process that just exited may hold its UDP ports a little
	 * longer: the kernel tears its io_uring down asynchronously. A
	 * restart (by hand, systemd or a test) retries for up to 2 s. */
	for (int tries = 0;; tries++) {
		rc = gv_io_add(sh->io, &sh->addr, &gv_node_ops, sh->node,
			       &bound);
		if (rc != -EADDRINUSE || tries == 100)
			break;
		if (tries == 0)
			gv_log(GV_LOG_INFO, "gossip port busy, retrying",
			       "shard=%u", i);
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	if (rc < 0) {
		char a[64];
		snprintf(err, errlen, "cannot bind gossip port %s: %s",
			 gv_addr_str(&sh->addr, a, sizeof(a)),
			 gv_strerror(rc));
		return -1;
	}
	sh->ep = rc;
	return 0;
}

static void
shard_fini(struct shard *sh)
{
	if (sh->io)
		gv_io_del(sh->io);
	if (sh->node)
		gv_node_del(sh->node);
	if (sh->rings) {
		gv_spsc_fini(&sh->inq);
		gv_spsc_fini(&sh->outq);
		gv_spsc_fini(&sh->memq);
		gv_spsc_fini(&sh->evq);
	}
	pthread_mutex_destroy(&sh->pub_mu);
}

/* ------------------------------------------------------------ hooks */

static void
run_hook(gv_daemon *d, const struct event *e)
{
	char env[12][320];
	char *envp[13];
	int k = 0;
#define ENV(fmt, ...) snprintf(env[k], sizeof(env[k]), fmt, __VA_ARGS__), \
		      envp[k] = env[k], k++
	ENV("GV_EVENT=%s", e->type);
	ENV("GV_NODE_NAME=%s", d->cfg.name);
	ENV("PATH=%s", "/usr/local/bin:/usr/bin:/bin");
	if (e->name[0]) {
		ENV("GV_MEMBER_NAME=%s", e->name);
		ENV("GV_MEMBER_ADDR=%s", e->addr);
		ENV("GV_MEMBER_REGION=%s", e->region);
		ENV("GV_MEMBER_STATE=%s", e->state);
		ENV("GV_MEMBER_INCARNATION=%u", e->incarnation);
	}
	if (!strcmp(e->type, "partition") || !strcmp(e->type, "heal"))
		ENV("GV_REACH=%.3f", e->reach);
	if (!strcmp(e->type, "conflict")) {
		ENV("GV_KEY=%s", e->key);
		ENV("GV_WINNER_VALUE=%s", e->winner);
		ENV("GV_LOSER_VALUE=%s", e->loser);
	}
#undef ENV
	envp[k] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {d->cfg.on_event, (char *)e->type, NULL};
		execve(d->cfg.on_event, argv, envp);
		_exit(127);
	}
	if (pid < 0) {
		gv_log(GV_LOG_WARN, "event hook not run", "error=%s",
		       strerror(errno));
		return;
	}
	/* wait at most 10 s, then kill it: hooks must not pile up */
	for (int i = 0; i < 1000; i++) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				gv_log(GV_LOG_WARN, "event hook failed",
				       "event=%s status=%d", e->type,
				       WIFEXITED(status) ? WEXITSTATUS(status)
							 : -1);
			return;
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	gv_log(GV_LOG_WARN, "event hook killed after 10 s", "event=%s",
	       e->type);
}

static void *
hook_main(void *arg)
{
	gv_daemon *d = arg;
	while (!atomic_load(&d->hook_stop)) {
		bool any = false;
		struct event e;
		for (unsigned i = 0; i < d->k; i++)
			while (gv_spsc_pop(&d->shards[i].evq, &e)) {
				run_hook(d, &e);
				any = true;
			}
		if (!any) {
			struct timespec ts = {0, 20000000};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ front end */

static int
listen_tcp(const gv_addr *a, char *err, size_t errlen, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->addr, 4);
		sl = sizeof(*s4);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					      SOCK_CLOEXEC,
			0);
	int one = 1;
	char as[64];
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 511)) {
		snprintf(err, errlen, "cannot listen for %s on %s: %s", what,
			 gv_addr_str(a, as, sizeof(as)), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void req_free(struct req *r);
static bool req_done(const struct req *r);

static void
client_close(gv_daemon *d, struct client *c)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* finished reqs go now; reqs still at the shards finish without a
	 * client (drain_shards frees them) */
	for (struct req *r = c->head, *next; r; r = next) {
		next = r->next;
		r->next = NULL;
		if (req_done(r))
			req_free(r);
		else
			r->cl = NULL;
	}
	free(c->in);
	gv_resp_req_fini(&c->parser);
	gv_resp_buf_fini(&c->out);
	free(c);
	d->nclients--;
}

static struct req *
req_new(struct client *c, int combine, unsigned nsubs)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cl = c;
	r->combine = combine;
	r->nsubs = nsubs;
	gv_resp_buf_init(&r->reply, gv_mem_libc(), 0);
	if (nsubs) {
		r->subs = calloc(nsubs, sizeof(*r->subs));
		if (!r->subs) {
			gv_resp_buf_fini(&r->reply);
			free(r);
			return NULL;
		}
		for (unsigned i = 0; i < nsubs; i++)
			r->subs[i].parent = r;
	}
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->queued += nsubs ? nsubs : 1;
	return r;
}

static void
req_free(struct req *r)
{
	for (unsigned i = 0; i < r->nsubs; i++) {
		free(r->subs[i].key);
		free(r->subs[i].val);
		free(r->subs[i].out);
	}
	free(r->subs);
	free(r->pattern);
	gv_resp_buf_fini(&r->reply);
	free(r);
}

static bool
req_done(const struct req *r)
{
	return r->done == r->nsubs;
}

/* A ready reply: an error or an immediate answer. */
static struct req *
ready(struct client *c)
{
	return req_new(c, C_READY, 0);
}

static int
send_sub(gv_daemon *d, struct sub *s)
{
	struct shard *sh = &d->shards[s->shard];
	if (gv_spsc_push(&sh->inq, &s))
		return -1;
	return 0;
}

static void
dispatch(gv_daemon *d, struct req *r)
{
	bool woken[MAX_SHARDS] = {false};
	for (unsigned i = 0; i < r->nsubs; i++) {
		struct sub *s = &r->subs[i];
		if (send_sub(d, s)) {
			/* the shard is far behind: answer this part with an
			 * error rather than wait */
			s->rc = GV_EFULL;
			r->done++;
			d->busy_replies++;
			continue;
		}
		if (!woken[s->shard]) {
			woken[s->shard] = true;
			gv_io_wake(d->shards[s->shard].io);
		}
	}
}

static bool
arg_is(const gv_resp_arg *a, const char *s)
{
	return a->len == strlen(s) && strncasecmp(a->ptr, s, a->len) == 0;
}

static bool
arg_u64(const gv_resp_arg *a, uint64_t *out)
{
	char buf[32];
	if (a->len == 0 || a->len >= sizeof(buf))
		return false;
	memcpy(buf, a->ptr, a->len);
	buf[a->len] = 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || *end || buf[0] == '-')
		return false;
	*out = v;
	return true;
}

static void
key_sub(gv_daemon *d, struct sub *s, int op, const gv_resp_arg *k,
	const gv_resp_arg *v)
{
	s->op = (uint8_t)op;
	s->key = dupmem(k->ptr, k->len);
	s->klen = k->len;
	s->shard = (uint16_t)shard_of(d, k->ptr, k->len);
	if (v) {
		s->val = dupmem(v->ptr, v->len);
		s->vlen = v->len;
	}
}

static void
all_shards(gv_daemon *d, struct req *r, int op)
{
	for (unsigned i = 0; i < r->nsubs; i++) {
		r->subs[i].op = (uint8_t)op;
		r->subs[i].shard = (uint16_t)i;
	}
}

static void info_text(gv_daemon *d, gv_resp_buf *b, const char *section);
static void stats_array(gv_daemon *d, gv_resp_buf *b);

static void keys_command(gv_daemon *d, struct client *c, gv_resp_arg *av,
			 size_t ac);

static void
wrong_args(struct client *c, const char *name)
{
	struct req *r = ready(c);
	if (r)
		gv_resp_out_errorf(&r->reply,
				   "ERR wrong number of arguments for '%s' "
				   "command",
				   name);
}

/* One parsed command. */
static void
command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	d->commands++;
	struct req *r;
	char name[32];
	size_t nl = av[0].len < sizeof(name) - 1 ? av[0].len : sizeof(name) - 1;
	for (size_t i = 0; i < nl; i++)
		name[i] = (char)tolower((unsigned char)av[0].ptr[i]);
	name[nl] = 0;

	if (!strcmp(name, "ping")) {
		if (ac > 2)
			return wrong_args(c, "ping");
		if ((r = ready(c))) {
			if (ac == 2)
				gv_resp_out_bulk(&r->reply, av[1].ptr,
						 av[1].len);
			else
				gv_resp_out_simple(&r->reply, "PONG");
		}
	} else if (!strcmp(name, "echo")) {
		if (ac != 2)
			return wrong_args(c, "echo");
		if ((r = ready(c)))
			gv_resp_out_bulk(&r->reply, av[1].ptr, av[1].len);
	} else if (!strcmp(name, "quit")) {
		if ((r = ready(c)))
			gv_resp_out_ok(&r->reply);
		c->closing = true;
	} else if (!strcmp(name, "get")) {
		if (ac != 2)
			return wrong_args(c, "get");
		if ((r = req_new(c, C_BULK, 1))) {
			key_sub(d, &r->subs[0], OP_GET, &av[1], NULL);
			dispatch(d, r);
		}
	} else if (!strcmp(name, "set")) {
		if (ac < 3)
			return wrong_args(c, "set");
		int mode = 0;
		for (size_t i = 3; i < ac; i++) {
			if (arg_is(&av[i], "nx") && !mode) {
				mode = 1;
			} else if (arg_is(&av[i], "xx") && !mode) {
				mode = 2;
			} else if (arg_is(&av[i], "ex") || arg_is(&av[i], "px") ||
				   arg_is(&av[i], "exat") ||
				   arg_is(&av[i], "pxat") ||
				   arg_is(&av[i], "keepttl")) {
				if ((r = ready(c)))
					gv_resp_out_error(
						&r->reply,
						"ERR expiry (EX/PX/EXAT/PXAT/"
						"KEEPTTL) is not supported: "
						"grapevine keys do not expire");
				return;
			} else if (arg_is(&av[i], "get")) {
				if ((r = ready(c)))
					gv_resp_out_error(
						&r->reply,
						"ERR SET ... GET is not "
						"supported");
				return;
			} else {
				if ((r = ready(c)))
					gv_resp_out_error(&r->reply,
							  "ERR syntax error");
				return;
			}
		}
		if ((r = req_new(c, C_SET, 1))) {
			key_sub(d, &r->subs[0], OP_SET, &av[1], &av[2]);
			r->subs[0].setmode = (uint8_t)mode;
			dispatch(d, r);
		}
	} else if (!strcmp(name, "del") || !strcmp(name, "unlink") ||
		   !strcmp(name, "exists")) {
		if (ac < 2)
			return wrong_args(c, name);
		bool del = name[0] != 'e';
		if ((r = req_new(c, C_SUM, (unsigned)(ac - 1)))) {
			for (size_t i = 1; i < ac; i++)
				key_sub(d, &r->subs[i - 1],
					del ? OP_DEL : OP_EXISTS, &av[i], NULL);
			dispatch(d, r);
		}
	} else if (!strcmp(name, "mget")) {
		if (ac < 2)
			return wrong_args(c, "mget");
		if ((r = req_new(c, C_MGET, (unsigned)(ac - 1)))) {
			for (size_t i = 1; i < ac; i++)
				key_sub(d, &r->subs[i - 1], OP_GET, &av[i],
					NULL);
			dispatch(d, r);
		}
	} else if (!strcmp(name, "mset")) {
		if (ac < 3 || (ac - 1) % 2)
			return wrong_args(c, "mset");
		if ((r = req_new(c, C_OK, (unsigned)((ac - 1) / 2)))) {
			for (size_t i = 1; i + 1 < ac; i += 2)
				key_sub(d, &r->subs[(i - 1) / 2], OP_SET,
					&av[i], &av[i + 1]);
			dispatch(d, r);
		}
	} else if (!strcmp(name, "dbsize")) {
		if ((r = req_new(c, C_SUM, d->k))) {
			all_shards(d, r, OP_COUNT);
			dispatch(d, r);
		}
	} else if (!strcmp(name, "scan")) {
		uint64_t cursor, count = 10;
		if (ac < 2 || !arg_u64(&av[1], &cursor)) {
			if ((r = ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR invalid cursor");
			return;
		}
		char *pattern = NULL;
		for (size_t i = 2; i < ac; i++) {
			if (arg_is(&av[i], "count") && i + 1 < ac &&
			    arg_u64(&av[i + 1], &count) && count > 0) {
				i++;
			} else if (arg_is(&av[i], "match") && i + 1 < ac) {
				free(pattern);
				pattern = calloc(1, av[i + 1].len + 1);
				if (pattern)
					memcpy(pattern, av[i + 1].ptr,
					       av[i + 1].len);
				i++;
			} else {
				free(pattern);
				if ((r = ready(c)))
					gv_resp_out_error(&r->reply,
							  "ERR syntax error");
				return;
			}
		}
		uint64_t sh = cursor % d->k, leaf = cursor / d->k;
		if (leaf >= 65536) {
			free(pattern);
			if ((r = ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR invalid cursor");
			return;
		}
		if ((r = req_new(c, C_SCAN, 1))) {
			r->subs[0].op = OP_SCAN;
			r->subs[0].shard = (uint16_t)sh;
			r->subs[0].cursor = leaf;
			r->subs[0].count = count > 100000 ? 100000 : count;
			r->pattern = pattern;
			r->subs[0].pattern = pattern;
			r->scan_shard = sh;
			dispatch(d, r);
		} else {
			free(pattern);
		}
	} else if (!strcmp(name, "info")) {
		if ((r = ready(c))) {
			gv_resp_buf b;
			gv_resp_buf_init(&b, gv_mem_libc(), 0);
			char sec[32] = "";
			if (ac > 1) {
				size_t l = av[1].len < 31 ? av[1].len : 31;
				for (size_t i = 0; i < l; i++)
					sec[i] = (char)tolower(
						(unsigned char)av[1].ptr[i]);
				sec[l] = 0;
			}
			info_text(d, &b, sec);
			gv_resp_out_bulk(&r->reply, gv_resp_buf_data(&b),
					 gv_resp_buf_pending(&b));
			gv_resp_buf_fini(&b);
		}
	} else if (!strcmp(name, "command")) {
		/* minimal: clients probe it at connect time */
		if ((r = ready(c))) {
			if (ac > 1 && arg_is(&av[1], "count"))
				gv_resp_out_int(&r->reply, 17);
			else
				gv_resp_out_array(&r->reply, 0);
		}
	} else if (!strcmp(name, "gv.keys")) {
		keys_command(d, c, av, ac);
	} else if (!strcmp(name, "gv.members")) {
		if ((r = req_new(c, C_RAW, 1))) {
			r->subs[0].op = OP_MEMBERS;
			r->subs[0].shard = 0;
			dispatch(d, r);
		}
	} else if (!strcmp(name, "gv.conflicts")) {
		uint64_t n = 10;
		if (ac > 2 || (ac == 2 && (!arg_u64(&av[1], &n) || n == 0 ||
					   n > 100000))) {
			if ((r = ready(c)))
				gv_resp_out_error(&r->reply,
						  "ERR usage: GV.CONFLICTS "
						  "[count 1..100000]");
			return;
		}
		if ((r = req_new(c, C_RAW, d->k))) {
			all_shards(d, r, OP_CONFLICTS);
			for (unsigned i = 0; i < d->k; i++)
				r->subs[i].count = n;
			r->scan_shard = n; /* cap of the merged reply */
			dispatch(d, r);
		}
	} else if (!strcmp(name, "gv.stats")) {
		if ((r = ready(c)))
			stats_array(d, &r->reply);
	} else if (!strcmp(name, "gv.watch")) {
		if (ac != 2)
			return wrong_args(c, "gv.watch");
		if ((r = req_new(c, C_WATCH, 1))) {
			key_sub(d, &r->subs[0], OP_WATCH, &av[1], NULL);
			dispatch(d, r);
		}
	} else {
		if ((r = ready(c))) {
			char q[40];
			size_t l = av[0].len < 32 ? av[0].len : 32;
			memcpy(q, av[0].ptr, l);
			q[l] = 0;
			gv_resp_out_errorf(&r->reply,
					   "ERR unknown command '%s'", q);
		}
	}
}

/* Encode a complete req's reply into the client's output. */
/*
 * GV.KEYS LIST | INSTALL KEY | USE KEY|ID | REMOVE KEY|ID: the cluster's
 * keyring (gvctl keys). KEY is 64 hex digits or base64, ID the key's 8
 * hex digits as LIST shows them. Changes go to shard 0, which owns the
 * membership, and travel to the cluster as gossip.
 */
static void
keys_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r;
	int op = -1;
	if (ac == 2 && arg_is(&av[1], "list"))
		op = 0;
	else if (ac == 3 && arg_is(&av[1], "install"))
		op = GV_KEYOP_INSTALL;
	else if (ac == 3 && arg_is(&av[1], "use"))
		op = GV_KEYOP_USE;
	else if (ac == 3 && arg_is(&av[1], "remove"))
		op = GV_KEYOP_REMOVE;
	if (op < 0) {
		if ((r = ready(c)))
			gv_resp_out_error(&r->reply,
					  "ERR usage: GV.KEYS LIST | INSTALL "
					  "KEY | USE KEY|ID | REMOVE KEY|ID");
		return;
	}
	if (!d->keyring) {
		if ((r = ready(c)))
			gv_resp_out_error(&r->reply,
					  "ERR no keyring: this node's gossip "
					  "runs in the clear (start it with "
					  "--keyring FILE)");
		return;
	}
	uint8_t key[GV_KEY_LEN];
	uint32_t id = 0;
	bool have_key = false;
	if (op) {
		const char *t = av[2].ptr;
		if (gv_key_parse(t, av[2].len, key) == 0) {
			have_key = true;
			id = gv_key_id(key);
		} else if (op == GV_KEYOP_INSTALL ||
			   gv_key_id_parse(t, av[2].len, &id)) {
			if ((r = ready(c)))
				gv_resp_out_error(
					&r->reply,
					op == GV_KEYOP_INSTALL
						? "ERR not a key: 32 bytes as "
						  "64 hex digits or base64"
						: "ERR not a key (64 hex digits "
						  "or base64) or a key id (8 "
						  "hex digits)");
			return;
		}
	}
	if ((r = req_new(c, C_RAW, 1))) {
		struct sub *s = &r->subs[0];
		s->op = OP_KEYS;
		s->shard = 0;
		s->setmode = (uint8_t)op;
		s->ival = id;
		if (have_key && op == GV_KEYOP_INSTALL) {
			s->val = dupmem(key, GV_KEY_LEN);
			s->vlen = GV_KEY_LEN;
		}
		dispatch(d, r);
	}
	explicit_bzero(key, sizeof(key));
}

/*
 * The keyring file follows the ring: after a key operation (here or from
 * the cluster) it is rewritten, primary first, so that a restart comes
 * back with the keys the cluster uses. Written to FILE.tmp (mode 0600),
 * synced, then renamed over FILE.
 */
static void
save_keyring(gv_daemon *d)
{
	if (!d->keyring)
		return;
	uint64_t gen = gv_keyring_generation(d->keyring);
	if (gen == d->keyring_saved)
		return;
	uint32_t ids[GV_KEYRING_MAX];
	size_t k = gv_keyring_list(d->keyring, ids, GV_KEYRING_MAX);
	if (k > GV_KEYRING_MAX)
		k = GV_KEYRING_MAX;
	if (k == 0) /* a ring is never emptied; never write one that is */
		return;
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.keyring);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		gv_log(GV_LOG_ERROR, "cannot write the keyring file",
		       "file=%s error=\"%s\"", tmp, strerror(errno));
		d->keyring_saved = gen; /* said once per change */
		return;
	}
	char text[GV_KEYRING_MAX * 80 + 256];
	size_t len = (size_t)snprintf(
		text, sizeof(text),
		"# grapevine keyring, rewritten by grapevined after a key "
		"change\n# the first key is primary\n");
	for (size_t i = 0; i < k; i++) {
		uint8_t key[GV_KEY_LEN];
		if (gv_keyring_get(d->keyring, ids[i], key))
			continue;
		for (int j = 0; j < GV_KEY_LEN; j++)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%02x", key[j]);
		text[len++] = '\n';
		explicit_bzero(key, sizeof(key));
	}
	bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	explicit_bzero(text, sizeof(text));
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, d->cfg.keyring) == 0) {
		gv_log(GV_LOG_INFO, "keyring changed and saved",
		       "file=%s keys=%zu primary=%08x", d->cfg.keyring, k,
		       k ? ids[0] : 0);
	} else {
		gv_log(GV_LOG_ERROR, "cannot write the keyring file",
		       "file=%s error=\"%s\"", d->cfg.keyring,
		       strerror(errno));
		unlink(tmp);
	}
	d->keyring_saved = gen;
}

/* Reads and checks the --keyring file; the daemon refuses to start on
 * any problem (a node that cannot seal must not gossip in the clear). */
static int
load_keyring(gv_daemon *d, char *err, size_t errlen)
{
	const char *path = d->cfg.keyring;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "--keyring %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat stt;
	if (fstat(fd, &stt) == 0 && (stt.st_mode & 077))
		gv_log(GV_LOG_WARN,
		       "keyring file is readable by other users (chmod 600)",
		       "file=%s mode=%03o", path, stt.st_mode & 0777);
	char text[65536];
	size_t len = 0;
	ssize_t got;
	while (len < sizeof(text) &&
	       (got = read(fd, text + len, sizeof(text) - len)) > 0)
		len += (size_t)got;
	bool big = len == sizeof(text);
	close(fd);
	if (big) {
		snprintf(err, errlen, "--keyring %s: larger than 64 KiB", path);
		return -1;
	}
	char why[200];
	gv_keyring *kr = NULL;
	int rc = gv_keyring_new(&kr, gv_mem_libc());
	if (rc == 0)
		rc = gv_keyring_set_cipher(kr, d->cfg.cipher);
	if (rc == 0)
		rc = gv_keyring_load(kr, text, len, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", gv_strerror(rc));
	explicit_bzero(text, sizeof(text));
	if (rc) {
		/* never kept: save_keyring must not write over the file */
		gv_keyring_del(kr);
		snprintf(err, errlen, "--keyring %s: %s", path, why);
		return -1;
	}
	d->keyring = kr;
	d->keyring_saved = gv_keyring_generation(kr);
	return 0;
}

static void
finish_req(gv_daemon *d, struct client *c, struct req *r)
{
	gv_resp_buf *o = &c->out;
	for (unsigned i = 0; i < r->nsubs; i++)
		if (r->subs[i].rc) {
			int rc = r->subs[i].rc;
			if (rc == GV_ENOSPC)
				gv_resp_out_error(o, "OOM command not allowed "
						     "when used memory > "
						     "'maxmemory'");
			else if (rc == GV_EREADONLY)
				gv_resp_out_error(o, "READONLY this node is in "
						     "a minority partition");
			else if (rc == GV_EFULL)
				gv_resp_out_error(o, "BUSY shard queue full, "
						     "try again");
			else
				gv_resp_out_errorf(o, "ERR %s",
						   gv_strerror(rc));
			return;
		}
	switch (r->combine) {
	case C_READY:
		gv_resp_buf_append(o, gv_resp_buf_data(&r->reply),
				   gv_resp_buf_pending(&r->reply));
		break;
	case C_BULK:
		if (r->subs[0].null)
			gv_resp_out_null(o);
		else
			gv_resp_out_bulk(o, r->subs[0].out, r->subs[0].outlen);
		break;
	case C_SET:
		if (r->subs[0].null)
			gv_resp_out_null(o);
		else
			gv_resp_out_ok(o);
		break;
	case C_OK:
		gv_resp_out_ok(o);
		break;
	case C_SUM: {
		int64_t sum = 0;
		for (unsigned i = 0; i < r->nsubs; i++)
			sum += r->subs[i].ival;
		gv_resp_out_int(o, sum);
		break;
	}
	case C_MGET:
		gv_resp_out_array(o, r->nsubs);
		for (unsigned i = 0; i < r->nsubs; i++)
			if (r->subs[i].null)
				gv_resp_out_null(o);
			else
				gv_resp_out_bulk(o, r->subs[i].out,
						 r->subs[i].outlen);
		break;
	case C_RAW:
		if (r->subs[0].op == OP_MEMBERS || r->subs[0].op == OP_KEYS) {
			gv_resp_buf_append(o, r->subs[0].out,
					   r->subs[0].outlen);
		} else {
			/* conflicts: concatenate up to the asked count */
			int64_t total = 0;
			for (unsigned i = 0; i < r->nsubs; i++)
				total += r->subs[i].ival;
			if ((uint64_t)total > r->scan_shard)
				total = (int64_t)r->scan_shard;
			gv_resp_out_array(o, (size_t)total);
			int64_t left = total;
			for (unsigned i = 0; i < r->nsubs && left > 0; i++) {
				if (r->subs[i].ival <= left) {
					gv_resp_buf_append(o, r->subs[i].out,
							   r->subs[i].outlen);
					left -= r->subs[i].ival;
					continue;
				}
				/* take the first `left` entries: re-scan */
				gv_resp_value v;
				const char *p = r->subs[i].out;
				size_t rem = r->subs[i].outlen;
				for (int64_t k = 0; k < left; k++) {
					size_t used = 0;
					if (gv_resp_reply_scan(p, rem, &d->lim,
							       &used) != 1)
						break;
					gv_resp_buf_append(o, p, used);
					p += used;
					rem -= used;
				}
				(void)v;
				left = 0;
			}
		}
		break;
	case C_SCAN: {
		struct sub *s = &r->subs[0];
		uint64_t sh = r->scan_shard, leaf = s->cursor;
		if (leaf >= 65536) {
			sh++;
			leaf = 0;
		}
		uint64_t next = sh >= d->k ? 0 : leaf * d->k + sh;
		gv_resp_out_array(o, 2);
		gv_resp_out_bulkf(o, "%llu", (unsigned long long)next);
		gv_resp_out_array(o, (size_t)s->ival);
		gv_resp_buf_append(o, s->out, s->outlen);
		break;
	}
	case C_WATCH: {
		struct sub *s = &r->subs[0];
		gv_resp_out_array(o, 3);
		if (gv_version_is_zero(&s->ver))
			gv_resp_out_null(o);
		else
			out_version(o, &s->ver);
		gv_resp_out_int(o, s->ival);
		gv_resp_out_int(o, (int64_t)s->count);
		break;
	}
	}
}

/* The soft output limit: OUT_SOFT, or half the hard limit if smaller. */
static size_t
out_soft(const gv_daemon *d)
{
	return d->cfg.client_output_limit / 2 < OUT_SOFT
		       ? (size_t)(d->cfg.client_output_limit / 2)
		       : OUT_SOFT;
}

/* Is the client not to be read for now? Its unsent replies passed the
 * soft limit (it pipelines without reading), or it has its share of
 * requests at the shards. TCP then pushes back on it, and its replies
 * do not grow further than what it already asked for. */
static bool
client_blocked(const gv_daemon *d, const struct client *c)
{
	return c->queued >= CLIENT_PENDING ||
	       gv_resp_buf_pending(&c->out) >= out_soft(d);
}

/* A paused client is read again below half of both limits, so that it
 * is not paused and resumed at every reply. */
static bool
client_can_resume(const gv_daemon *d, const struct client *c)
{
	return c->queued < CLIENT_PENDING / 2 &&
	       gv_resp_buf_pending(&c->out) < out_soft(d) / 2;
}

/* Returns false if the client was closed (output over the hard limit). */
static bool
flush_client(gv_daemon *d, struct client *c)
{
	while (c->head && req_done(c->head)) {
		struct req *r = c->head;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		finish_req(d, c, r);
		c->queued -= r->nsubs ? r->nsubs : 1;
		req_free(r);
		c->inflight--;
	}
	while (gv_resp_buf_pending(&c->out)) {
		ssize_t w = write(c->fd, gv_resp_buf_data(&c->out),
				  gv_resp_buf_pending(&c->out));
		if (w > 0) {
			gv_resp_buf_consume(&c->out, (size_t)w);
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->closing = true; /* broken pipe: nothing more to say */
		gv_resp_buf_clear(&c->out);
		break;
	}
	if (gv_resp_buf_pending(&c->out) > d->cfg.client_output_limit) {
		/* like Redis's client-output-buffer-limit: the client asked
		 * for more than it reads; it goes, nobody else waits */
		gv_log(GV_LOG_WARN, "client output over the limit, closing",
		       "fd=%d pending=%zu limit=%llu", c->fd,
		       gv_resp_buf_pending(&c->out),
		       (unsigned long long)d->cfg.client_output_limit);
		d->out_disconnects++;
		client_close(d, c);
		return false;
	}
	bool want = gv_resp_buf_pending(&c->out) > 0;
	bool was_paused = c->paused;
	if (c->paused && client_can_resume(d, c))
		c->paused = false; /* client_input reads it again */
	if (want != c->want_out || was_paused != c->paused) {
		struct epoll_event ev = {.events = (c->paused ? 0 : EPOLLIN) |
						   (want ? EPOLLOUT : 0),
					 .data.ptr = c};
		epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return true;
}

/* Mark a client not to be read (counted once per pause). */
static void
pause_client(gv_daemon *d, struct client *c)
{
	if (c->paused)
		return;
	c->paused = true;
	d->read_pauses++;
	struct epoll_event ev = {.events = c->want_out ? EPOLLOUT : 0,
				 .data.ptr = c};
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Run the complete commands buffered in c->in, until the client is
 * paused (then the rest waits there) or closing. */
static void
parse_input(gv_daemon *d, struct client *c)
{
	size_t off = 0;
	while (c->inlen && !c->closing && !c->paused) {
		if (client_blocked(d, c)) {
			pause_client(d, c);
			break;
		}
		size_t used = 0;
		int rc = gv_resp_req_parse(&c->parser, c->in + off,
					   c->inlen - off, &used);
		if (rc == 1) {
			command(d, c, c->parser.argv, c->parser.argc);
			c->inflight++;
			off += used;
			continue;
		}
		if (rc == 0) {
			off += used;
			break;
		}
		struct req *r = ready(c);
		if (r) {
			gv_resp_out_errorf(&r->reply, "ERR %s",
					   gv_resp_req_errmsg(&c->parser));
			c->inflight++;
		}
		c->closing = true;
	}
	if (off) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
}

/* Returns false if the client was closed. */
static bool
client_input(gv_daemon *d, struct client *c)
{
	for (;;) {
		/* what is buffered first: a pause may have left some */
		parse_input(d, c);
		if (c->closing)
			break;
		if (c->paused) {
			if (!flush_client(d, c))
				return false;
			if (c->paused)
				return true; /* TCP holds the rest */
			continue; /* the flush made room */
		}
		if (c->incap - c->inlen < 16384) {
			size_t need = gv_resp_req_need(&c->parser);
			size_t cap = c->incap * 2 > 65536 ? c->incap * 2 : 65536;
			if (need > cap)
				cap = need + 16384;
			if (cap > IN_LIMIT) {
				gv_log(GV_LOG_WARN, "client input too large, "
				       "closing", "fd=%d", c->fd);
				d->in_disconnects++;
				client_close(d, c);
				return false;
			}
			char *p = realloc(c->in, cap);
			if (!p) {
				client_close(d, c);
				return false;
			}
			c->in = p;
			c->incap = cap;
		}
		ssize_t n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (n == 0) {
			client_close(d, c);
			return false;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(d, c);
			return false;
		}
		c->inlen += (size_t)n;
	}
	if (!flush_client(d, c))
		return false;
	if (c->closing && !c->head && !gv_resp_buf_pending(&c->out)) {
		client_close(d, c);
		return false;
	}
	return true;
}

/* Flush, and when that ends a pause, go on with the client's input.
 * Returns false if the client was closed. */
static bool
flush_resume(gv_daemon *d, struct client *c)
{
	bool paused = c->paused;
	if (!flush_client(d, c))
		return false;
	if (paused && !c->paused)
		return client_input(d, c);
	return true;
}

static void
accept_clients(gv_daemon *d)
{
	for (;;) {
		int fd = accept4(d->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		gv_resp_req_init(&c->parser, gv_mem_libc(), &d->lim);
		gv_resp_buf_init(&c->out, gv_mem_libc(), 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		if (d->clients)
			d->clients->prev = c;
		d->clients = c;
		d->nclients++;
		d->connections++;
	}
}

/* Completed subs from the shards. */
static void
drain_shards(gv_daemon *d)
{
	for (unsigned i = 0; i < d->k; i++) {
		struct sub *s;
		if (d->shards[i].rings && atomic_load(&d->shards[i].outq_full) &&
		    atomic_exchange(&d->shards[i].outq_full, 0)) {
			/* it holds a reply back: there is room now (drained
			 * below, before it runs) */
			gv_io_wake(d->shards[i].io);
		}
		while (d->shards[i].rings && gv_spsc_pop(&d->shards[i].outq, &s)) {
			struct req *r = s->parent;
			r->done++;
			if (!req_done(r))
				continue;
			if (!r->cl) {
				/* its client is gone: nobody to answer */
				req_free(r);
				continue;
			}
			struct client *c = r->cl;
			if (c->head == r) {
				if (!flush_resume(d, c))
					continue;
				if (c->closing && !c->head &&
				    !gv_resp_buf_pending(&c->out))
					client_close(d, c);
			}
		}
	}
}

/* ------------------------------------------------------------ stats */

static void
sum_stats(gv_daemon *d, struct pub *t, struct pub *per)
{
	memset(t, 0, sizeof(*t));
	struct pub first;
	memset(&first, 0, sizeof(first));
	for (unsigned i = 0; i < d->k; i++) {
		struct shard *sh = &d->shards[i];
		pthread_mutex_lock(&sh->pub_mu);
		struct pub p = sh->pub;
		pthread_mutex_unlock(&sh->pub_mu);
		if (per)
			per[i] = p;
		if (i == 0)
			first = p;
		uint64_t *a = (uint64_t *)&t->st, *b = (uint64_t *)&p.st;
		for (size_t k = 0; k < sizeof(p.st) / sizeof(uint64_t); k++)
			a[k] += b[k];
		t->keys += p.keys;
		t->tombstones += p.tombstones;
		t->mem_used += p.mem_used;
		t->io.dgrams_in += p.io.dgrams_in;
		t->io.dgrams_out += p.io.dgrams_out;
	}
	/* membership is the node's, run by shard 0 (the others mirror it) */
	t->reach = first.reach;
	t->partitioned = first.partitioned;
	t->st.members_alive = first.st.members_alive;
	t->st.members_suspect = first.st.members_suspect;
	t->st.members_dead = first.st.members_dead;
	t->st.members_left = first.st.members_left;
	t->st.probes = first.st.probes;
	t->st.suspicions = first.st.suspicions;
	t->st.refutes = first.st.refutes;
	t->st.awareness = first.st.awareness; /* not a sum */
}

/* What the bounded queues of the daemon dropped or held back. */
struct drops {
	uint64_t hook_events, member_msgs, replies_held;
	unsigned paused_clients;
};

static void
sum_drops(gv_daemon *d, struct drops *x)
{
	memset(x, 0, sizeof(*x));
	for (unsigned i = 0; i < d->k; i++) {
		struct shard *sh = &d->shards[i];
		x->hook_events += atomic_load_explicit(&sh->ev_dropped,
						       memory_order_relaxed);
		x->member_msgs += atomic_load_explicit(&sh->mem_dropped,
						       memory_order_relaxed);
		x->replies_held += atomic_load_explicit(&sh->out_held,
							memory_order_relaxed);
	}
	for (struct client *c = d->clients; c; c = c->next)
		x->paused_clients += c->paused;
}

static void
info_text(gv_daemon *d, gv_resp_buf *b, const char *sec)
{
	struct pub t;
	sum_stats(d, &t, NULL);
	struct drops x;
	sum_drops(d, &x);
	bool all = !sec[0] || !strcmp(sec, "all") || !strcmp(sec, "default") ||
		   !strcmp(sec, "everything");
	char line[512], as[64];
#define OUT(...)                                                              \
	do {                                                                  \
		int l_ = snprintf(line, sizeof(line), __VA_ARGS__);           \
		gv_resp_buf_append(b, line, (size_t)l_);                      \
	} while (0)
	if (all || !strcmp(sec, "server")) {
		OUT("# Server\r\ngrapevine_version:%s\r\nredis_version:7.0.0\r\n"
		    "process_id:%d\r\ntcp_port:%u\r\nuptime_in_seconds:%lld\r\n"
		    "gossip_addr:%s\r\nshards:%u\r\nio_backend:%s\r\n"
		    "allocator:%s\r\nnode_name:%s\r\n\r\n",
		    GV_VERSION_STRING, (int)getpid(), d->cfg.resp.port,
		    (long long)(time(NULL) - d->started),
		    gv_addr_str(&d->cfg.bind, as, sizeof(as)), d->k,
		    gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
		    d->cfg.name);
	}
	if (all || !strcmp(sec, "clients"))
		OUT("# Clients\r\nconnected_clients:%u\r\n"
		    "client_output_limit:%llu\r\npaused_clients:%u\r\n"
		    "client_read_pauses:%llu\r\n"
		    "client_output_disconnects:%llu\r\n"
		    "client_input_disconnects:%llu\r\n\r\n",
		    d->nclients,
		    (unsigned long long)d->cfg.client_output_limit,
		    x.paused_clients, (unsigned long long)d->read_pauses,
		    (unsigned long long)d->out_disconnects,
		    (unsigned long long)d->in_disconnects);
	if (all || !strcmp(sec, "memory"))
		OUT("# Memory\r\nused_memory:%zu\r\nmaxmemory:%llu\r\n\r\n",
		    t.mem_used, (unsigned long long)d->cfg.max_memory);
	if (all || !strcmp(sec, "stats"))
		OUT("# Stats\r\ntotal_connections_received:%llu\r\n"
		    "total_commands_processed:%llu\r\n"
		    "datagrams_in:%llu\r\ndatagrams_out:%llu\r\n"
		    "datagrams_bad:%llu\r\nbusy_replies:%llu\r\n"
		    "replies_held:%llu\r\nhook_events_dropped:%llu\r\n"
		    "member_msgs_dropped:%llu\r\noutbox_drops:%llu\r\n"
		    "flood_drops:%llu\r\nrumor_drops:%llu\r\n\r\n",
		    (unsigned long long)d->connections,
		    (unsigned long long)d->commands,
		    (unsigned long long)t.st.dgrams_in,
		    (unsigned long long)t.st.dgrams_out,
		    (unsigned long long)t.st.dgrams_bad,
		    (unsigned long long)d->busy_replies,
		    (unsigned long long)x.replies_held,
		    (unsigned long long)x.hook_events,
		    (unsigned long long)x.member_msgs,
		    (unsigned long long)t.st.outbox_drops,
		    (unsigned long long)t.st.flood_drops,
		    (unsigned long long)t.st.rumor_drops);
	if (all || !strcmp(sec, "replication") || !strcmp(sec, "gossip"))
		OUT("# Replication\r\nrole:gossip\r\nmembers_alive:%llu\r\n"
		    "members_suspect:%llu\r\nmembers_dead:%llu\r\n"
		    "members_left:%llu\r\nupdates_sent:%llu\r\n"
		    "updates_received:%llu\r\nupdates_applied:%llu\r\n"
		    "updates_dropped:%llu\r\nupdates_duplicate:%llu\r\n"
		    "updates_stale:%llu\r\nconflicts:%llu\r\n"
		    "partitioned:%d\r\nreach:%.3f\r\nae_sessions:%llu\r\n"
		    "tombstones:%zu\r\n\r\n",
		    (unsigned long long)t.st.members_alive,
		    (unsigned long long)t.st.members_suspect,
		    (unsigned long long)t.st.members_dead,
		    (unsigned long long)t.st.members_left,
		    (unsigned long long)t.st.updates_out,
		    (unsigned long long)t.st.updates_in,
		    (unsigned long long)(t.st.merge[GV_MERGE_APPLIED] +
					 t.st.merge[GV_MERGE_CONFLICT_APPLIED]),
		    (unsigned long long)t.st.updates_refused,
		    (unsigned long long)(t.st.merge[GV_MERGE_DUPLICATE] +
					 t.st.dedup_hits),
		    (unsigned long long)t.st.merge[GV_MERGE_STALE],
		    (unsigned long long)(t.st.merge[GV_MERGE_CONFLICT_APPLIED] +
					 t.st.merge[GV_MERGE_CONFLICT_LOST]),
		    t.partitioned, t.reach,
		    (unsigned long long)t.st.ae_sessions, t.tombstones);
	if (all || !strcmp(sec, "keyspace"))
		OUT("# Keyspace\r\ndb0:keys=%zu,expires=0,avg_ttl=0\r\n",
		    t.keys);
#undef OUT
}

static void
stats_array(gv_daemon *d, gv_resp_buf *b)
{
	struct pub t;
	sum_stats(d, &t, NULL);
	struct drops x;
	sum_drops(d, &x);
	struct {
		const char *k;
		uint64_t v;
	} f[] = {
		{"keys", t.keys},
		{"tombstones", t.tombstones},
		{"used_memory", t.mem_used},
		{"members_alive", t.st.members_alive},
		{"members_suspect", t.st.members_suspect},
		{"members_dead", t.st.members_dead},
		{"members_left", t.st.members_left},
		{"partitioned", t.partitioned},
		{"datagrams_in", t.st.dgrams_in},
		{"datagrams_out", t.st.dgrams_out},
		{"datagrams_bad", t.st.dgrams_bad},
		{"datagrams_foreign", t.st.dgrams_foreign},
		{"bytes_in", t.st.bytes_in},
		{"bytes_out", t.st.bytes_out},
		{"updates_local", t.st.updates_local},
		{"updates_sent", t.st.updates_out},
		{"updates_received", t.st.updates_in},
		{"updates_applied", t.st.merge[GV_MERGE_APPLIED]},
		{"updates_duplicate",
		 t.st.merge[GV_MERGE_DUPLICATE] + t.st.dedup_hits},
		{"updates_stale", t.st.merge[GV_MERGE_STALE]},
		{"updates_refused", t.st.updates_refused},
		{"conflicts_applied", t.st.merge[GV_MERGE_CONFLICT_APPLIED]},
		{"conflicts_lost", t.st.merge[GV_MERGE_CONFLICT_LOST]},
		{"ae_sessions", t.st.ae_sessions},
		{"ae_bytes_out", t.st.ae_bytes_out},
		{"probes", t.st.probes},
		{"probe_fails", t.st.probe_fails},
		{"suspicions", t.st.suspicions},
		{"refutes", t.st.refutes},
		{"tombstones_purged", t.st.tombstones_purged},
		{"joins_refused", t.st.joins_refused},
		{"auth_clear", t.st.auth_clear},
		{"auth_no_keyring", t.st.auth_no_keyring},
		{"auth_unknown_key", t.st.auth_unknown_key},
		{"auth_failed", t.st.auth_failed},
		{"auth_replayed", t.st.auth_replayed},
		{"auth_stale", t.st.auth_stale},
		{"seal_errors", t.st.seal_errors},
		{"keyring_changes", t.st.keyring_changes},
		{"keyring_keys", d->keyring ? gv_keyring_count(d->keyring) : 0},
		{"outbox_drops", t.st.outbox_drops},
		{"flood_drops", t.st.flood_drops},
		{"rumor_drops", t.st.rumor_drops},
		{"busy_replies", d->busy_replies},
		{"replies_held", x.replies_held},
		{"hook_events_dropped", x.hook_events},
		{"member_msgs_dropped", x.member_msgs},
		{"paused_clients", x.paused_clients},
		{"client_read_pauses", d->read_pauses},
		{"client_output_disconnects", d->out_disconnects},
		{"client_input_disconnects", d->in_disconnects},
	};
	size_t n = sizeof(f) / sizeof(f[0]);
	gv_resp_out_array(b, 2 * n);
	for (size_t i = 0; i < n; i++) {
		gv_resp_out_bulk_str(b, f[i].k);
		gv_resp_out_int(b, (int64_t)f[i].v);
	}
}

/* ------------------------------------------------------------ metrics */

static void
serve_metrics(gv_daemon *d)
{
	int fd = accept4(d->mfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[2048];
	size_t got = 0;
	/* the front end serves this inline: a request that trickles in gets
	 * half a second in all, not a second per byte */
	gv_time deadline = gv_io_now() + 500000;
	while (got < sizeof(req) - 1) {
		gv_time now = gv_io_now();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			break;
		ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = 0;
	bool ok = !strncmp(req, "GET /metrics ", 13) ||
		  !strncmp(req, "GET / ", 6);
	gv_resp_buf body;
	gv_resp_buf_init(&body, gv_mem_libc(), 0);
	if (ok) {
		struct pub per[MAX_SHARDS], t;
		sum_stats(d, &t, per);
		char line[512];
#define M(name, type, help, v)                                                \
	do {                                                                  \
		int l_ = snprintf(line, sizeof(line),                         \
				  "# HELP " name " " help "\n# TYPE " name    \
				  " " type "\n" name " %llu\n",               \
				  (unsigned long long)(v));                   \
		gv_resp_buf_append(&body, line, (size_t)l_);                  \
	} while (0)
		M("grapevine_datagrams_in_total", "counter",
		  "Datagrams received.", t.st.dgrams_in);
		M("grapevine_datagrams_out_total", "counter", "Datagrams sent.",
		  t.st.dgrams_out);
		M("grapevine_datagrams_bad_total", "counter",
		  "Datagrams dropped as malformed.", t.st.dgrams_bad);
		M("grapevine_bytes_in_total", "counter", "Bytes received.",
		  t.st.bytes_in);
		M("grapevine_bytes_out_total", "counter", "Bytes sent.",
		  t.st.bytes_out);
		M("grapevine_updates_applied_total", "counter",
		  "Remote updates applied.", t.st.merge[GV_MERGE_APPLIED]);
		M("grapevine_updates_duplicate_total", "counter",
		  "Duplicate updates received.",
		  t.st.merge[GV_MERGE_DUPLICATE] + t.st.dedup_hits);
		M("grapevine_updates_stale_total", "counter",
		  "Stale updates received.", t.st.merge[GV_MERGE_STALE]);
		M("grapevine_updates_conflict_total", "counter",
		  "Concurrent writes met here.",
		  t.st.merge[GV_MERGE_CONFLICT_APPLIED] +
			  t.st.merge[GV_MERGE_CONFLICT_LOST]);
		M("grapevine_updates_refused_total", "counter",
		  "Updates the store refused (memory cap).",
		  t.st.updates_refused);
		M("grapevine_ae_sessions_total", "counter",
		  "Anti-entropy sessions started.", t.st.ae_sessions);
		M("grapevine_ae_bytes_out_total", "counter",
		  "Anti-entropy bytes sent.", t.st.ae_bytes_out);
		struct drops x;
		sum_drops(d, &x);
		M("grapevine_outbox_drops_total", "counter",
		  "Datagrams not queued: send queue full.", t.st.outbox_drops);
		M("grapevine_flood_drops_total", "counter",
		  "Writes not queued for flooding (anti-entropy carries them).",
		  t.st.flood_drops);
		M("grapevine_rumor_drops_total", "counter",
		  "Rumors retired early: rumor queue full.", t.st.rumor_drops);
		M("grapevine_busy_replies_total", "counter",
		  "Requests answered BUSY: shard queue full.", d->busy_replies);
		M("grapevine_replies_held_total", "counter",
		  "Replies a shard held back: its reply queue full.",
		  x.replies_held);
		M("grapevine_hook_events_dropped_total", "counter",
		  "Hook events dropped: hook queue full.", x.hook_events);
		M("grapevine_member_msgs_dropped_total", "counter",
		  "Membership messages to shards dropped (then resynced).",
		  x.member_msgs);
		M("grapevine_paused_clients", "gauge",
		  "Clients not read now (backpressure).", x.paused_clients);
		M("grapevine_client_read_pauses_total", "counter",
		  "Times a client stopped being read (backpressure).",
		  d->read_pauses);
		M("grapevine_client_output_disconnects_total", "counter",
		  "Clients closed: unsent replies over the output limit.",
		  d->out_disconnects);
		M("grapevine_client_input_disconnects_total", "counter",
		  "Clients closed: a request over the input limit.",
		  d->in_disconnects);
		M("grapevine_keys", "gauge", "Live keys.", t.keys);
		M("grapevine_partitioned", "gauge",
		  "1 while this node is in a minority partition.",
		  t.partitioned);
		M("grapevine_keyring_keys", "gauge",
		  "Keys in the keyring (0: gossip in the clear).",
		  d->keyring ? gv_keyring_count(d->keyring) : 0);
#undef M
		/* sealed gossip: datagrams refused, by reason */
		{
			static const char *const why[] = {
				"clear", "no_keyring", "unknown_key",
				"failed", "replayed", "stale"};
			const uint64_t v[] = {t.st.auth_clear,
					      t.st.auth_no_keyring,
					      t.st.auth_unknown_key,
					      t.st.auth_failed,
					      t.st.auth_replayed,
					      t.st.auth_stale};
			int l = snprintf(line, sizeof(line),
					 "# HELP grapevine_auth_dropped_total "
					 "Datagrams refused by sealed-gossip "
					 "checks, by reason.\n# TYPE "
					 "grapevine_auth_dropped_total "
					 "counter\n");
			gv_resp_buf_append(&body, line, (size_t)l);
			for (size_t i = 0; i < 6; i++) {
				l = snprintf(line, sizeof(line),
					     "grapevine_auth_dropped_total{"
					     "reason=\"%s\"} %llu\n",
					     why[i], (unsigned long long)v[i]);
				gv_resp_buf_append(&body, line, (size_t)l);
			}
		}
		int l = snprintf(line, sizeof(line),
				 "# HELP grapevine_members Members by state.\n"
				 "# TYPE grapevine_members gauge\n"
				 "grapevine_members{state=\"alive\"} %llu\n"
				 "grapevine_members{state=\"suspect\"} %llu\n"
				 "grapevine_members{state=\"dead\"} %llu\n"
				 "grapevine_members{state=\"left\"} %llu\n",
				 (unsigned long long)t.st.members_alive,
				 (unsigned long long)t.st.members_suspect,
				 (unsigned long long)t.st.members_dead,
				 (unsigned long long)t.st.members_left);
		gv_resp_buf_append(&body, line, (size_t)l);
		/* propagation delay: the shards' histograms summed */
		static const double bounds[] = {0.5, 1, 2, 5, 10, 20, 50,
						100, 200, 500, 1000, 2000, 5000};
		enum { NB = sizeof(bounds) / sizeof(bounds[0]) };
		uint64_t cum[NB + 1] = {0};
		double sum = 0;
		for (unsigned i = 0; i < d->k; i++) {
			uint64_t c[GV_HIST_MAX_BOUNDS + 1];
			double s;
			gv_histogram_read(&d->shards[i].delay, c, &s);
			for (int b = 0; b <= NB; b++)
				cum[b] += c[b];
			sum += s;
		}
		l = snprintf(line, sizeof(line),
			     "# HELP grapevine_propagation_delay_ms Origin "
			     "write (HLC) to local apply, milliseconds.\n"
			     "# TYPE grapevine_propagation_delay_ms "
			     "histogram\n");
		gv_resp_buf_append(&body, line, (size_t)l);
		for (int b = 0; b < NB; b++) {
			l = snprintf(line, sizeof(line),
				     "grapevine_propagation_delay_ms_bucket"
				     "{le=\"%g\"} %llu\n",
				     bounds[b], (unsigned long long)cum[b]);
			gv_resp_buf_append(&body, line, (size_t)l);
		}
		l = snprintf(line, sizeof(line),
			     "grapevine_propagation_delay_ms_bucket{le=\"+Inf\"}"
			     " %llu\ngrapevine_propagation_delay_ms_sum %g\n"
			     "grapevine_propagation_delay_ms_count %llu\n",
			     (unsigned long long)cum[NB], sum,
			     (unsigned long long)cum[NB]);
		gv_resp_buf_append(&body, line, (size_t)l);
	}
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  ok ? "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
			       "version=0.0.4\r\nContent-Length: %zu\r\n"
			       "Connection: close\r\n\r\n"
			     : "HTTP/1.1 404 Not Found\r\nContent-Length: %zu"
			       "\r\nConnection: close\r\n\r\n",
			  gv_resp_buf_pending(&body));
	ssize_t w = write(fd, head, (size_t)hl);
	if (w > 0 && gv_resp_buf_pending(&body))
		w = write(fd, gv_resp_buf_data(&body),
			  gv_resp_buf_pending(&body));
	(void)w;
	gv_resp_buf_fini(&body);
	close(fd);
}

/* ------------------------------------------------------------ lifecycle */

int
gv_daemon_new(gv_daemon **out, const gv_daemon_config *cfg, char *err,
	      size_t errlen)
{
	gv_daemon *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return GV_ENOMEM;
	}
	d->cfg = *cfg;
	d->k = cfg->shards ? cfg->shards : 1;
	if (d->k > MAX_SHARDS)
		d->k = MAX_SHARDS;
	d->mem = gv_mem_default();
	d->lfd = d->mfd = d->epfd = d->efd = -1;
	d->started = time(NULL);
	d->cluster_id = cluster_id(cfg->cluster);
	gv_resp_limits_init(&d->lim);
	d->lim.max_bulk = cfg->max_value + GV_MAX_KEY + 1024;
	gv_log_set_level(cfg->log_level);
	if (cfg->keyring[0] && load_keyring(d, err, errlen))
		goto fail;
	for (unsigned i = 0; i < d->k; i++)
		if (shard_init(d, i, err, errlen))
			goto fail;
	d->lfd = listen_tcp(&cfg->resp, err, errlen, "RESP");
	if (d->lfd < 0)
		goto fail;
	if (cfg->metrics_on) {
		d->mfd = listen_tcp(&cfg->metrics, err, errlen, "metrics");
		if (d->mfd < 0)
			goto fail;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->epfd < 0 || d->efd < 0) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->lfd};
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev);
	ev.data.ptr = &d->efd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->efd, &ev);
	if (d->mfd >= 0) {
		ev.data.ptr = &d->mfd;
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->mfd, &ev);
	}
	if (cfg->nseeds) {
		/* before the threads start: shard 0 is ours alone now */
		gv_node_join(d->shards[0].node, gv_io_now(), cfg->seeds,
			     cfg->nseeds);
		gv_io_poke(d->shards[0].io, d->shards[0].ep);
	}
	for (unsigned i = 0; i < d->k; i++) {
		if (pthread_create(&d->shards[i].th, NULL, shard_main,
				   &d->shards[i])) {
			snprintf(err, errlen, "cannot start shard thread");
			goto fail;
		}
		d->shards[i].running = true;
	}
	if (cfg->on_event[0]) {
		if (access(cfg->on_event, X_OK)) {
			snprintf(err, errlen, "--on-event %s: %s",
				 cfg->on_event, strerror(errno));
			goto fail;
		}
		if (pthread_create(&d->hook_th, NULL, hook_main, d) == 0)
			d->hook_running = true;
	}
	char a[64], r[64], m[64] = "off";
	if (d->mfd >= 0)
		gv_addr_str(&cfg->metrics, m, sizeof(m));
	gv_log(GV_LOG_INFO, "grapevined started",
	       "version=%s gossip=%s shards=%u resp=%s metrics=%s io=%s "
	       "allocator=%s gossip_auth=%s resp_auth=none",
	       GV_VERSION_STRING, gv_addr_str(&cfg->bind, a, sizeof(a)), d->k,
	       gv_addr_str(&cfg->resp, r, sizeof(r)), m,
	       gv_io_backend_name(d->shards[0].io), gv_mem_default_name(),
	       d->keyring ? gv_cipher_name(gv_keyring_cipher(d->keyring))
			  : "none");
	if (d->keyring)
		gv_log(GV_LOG_INFO, "gossip is sealed",
		       "cipher=%s keys=%zu primary=%08x keyring=%s",
		       gv_cipher_name(gv_keyring_cipher(d->keyring)),
		       gv_keyring_count(d->keyring),
		       gv_keyring_primary(d->keyring), cfg->keyring);
	else
		gv_log(GV_LOG_WARN,
		       "gossip runs in the clear (no keyring): anyone who "
		       "can reach the gossip port can read and write the "
		       "data",
		       NULL);
	*out = d;
	return 0;
fail:
	gv_daemon_del(d);
	return -1;
}

int
gv_daemon_run(gv_daemon *d, const volatile sig_atomic_t *stop)
{
	struct epoll_event evs[64];
	while (!*stop && !atomic_load(&d->fatal)) {
		int n = epoll_wait(d->epfd, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &d->lfd) {
				accept_clients(d);
			} else if (p == &d->mfd) {
				serve_metrics(d);
			} else if (p == &d->efd) {
				uint64_t v;
				ssize_t r = read(d->efd, &v, sizeof(v));
				(void)r;
			} else {
				struct client *c = p;
				if (c->paused &&
				    (evs[i].events & (EPOLLHUP | EPOLLERR))) {
					client_close(d, c); /* not read: gone */
					continue;
				}
				if (evs[i].events & (EPOLLIN | EPOLLHUP |
						     EPOLLERR)) {
					if (!client_input(d, c))
						continue;
				}
				if (evs[i].events & EPOLLOUT)
					flush_resume(d, c);
			}
		}
		drain_shards(d);
		save_keyring(d);
	}
	int fatal = atomic_load(&d->fatal);
	if (fatal)
		gv_log(GV_LOG_ERROR, "fatal", "error=%s",
		       gv_log_quote(d->fatal_msg, (char[300]){0}, 300));
	gv_log(GV_LOG_INFO, "leaving the cluster", NULL);
	for (unsigned i = 0; i < d->k; i++) {
		atomic_store(&d->shards[i].leave, 1);
		gv_io_wake(d->shards[i].io);
	}
	for (unsigned i = 0; i < d->k; i++)
		if (d->shards[i].running) {
			pthread_join(d->shards[i].th, NULL);
			d->shards[i].running = false;
		}
	drain_shards(d);
	gv_log(GV_LOG_INFO, "stopped", NULL);
	return fatal ? 1 : 0;
}

void
gv_daemon_del(gv_daemon *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->k; i++)
		if (d->shards[i].running) {
			d->shards[i].stop = 1;
			gv_io_wake(d->shards[i].io);
			pthread_join(d->shards[i].th, NULL);
			d->shards[i].running = false;
		}
	if (d->hook_running) {
		atomic_store(&d->hook_stop, 1);
		pthread_join(d->hook_th, NULL);
	}
	/* the shards are stopped: collect what came back, and what never
	 * left their queues, then the clients with their replies */
	drain_shards(d);
	for (unsigned i = 0; i < d->k; i++) {
		struct sub *sb;
		if ((sb = d->shards[i].held)) {
			/* applied, but its reply found outq full */
			d->shards[i].held = NULL;
			struct req *r = sb->parent;
			if (++r->done == r->nsubs && !r->cl)
				req_free(r);
		}
		while (d->shards[i].rings && gv_spsc_pop(&d->shards[i].inq, &sb)) {
			struct req *r = sb->parent;
			sb->rc = GV_ECANCELED_SHUTDOWN;
			if (++r->done == r->nsubs && !r->cl)
				req_free(r);
		}
	}
	while (d->clients)
		client_close(d, d->clients);
	for (unsigned i = 0; i < d->k; i++)
		shard_fini(&d->shards[i]);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->mfd >= 0)
		close(d->mfd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->efd >= 0)
		close(d->efd);
	save_keyring(d);
	gv_keyring_del(d->keyring);
	free(d);
}
