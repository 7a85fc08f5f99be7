/* SPDX-License-Identifier: MIT */
/*
 * node_int.h - the inside of a gv_node, shared by the files that make up
 * the node state machine:
 *
 *   node.c     public API, datagram intake and dispatch, the send path,
 *              timers
 *   members.c  membership and failure detection (SWIM + Lifeguard),
 *              partition signal, peer choice
 *   dissem.c   rumors: dissemination of updates and membership events,
 *              periodic rounds, pull digests
 *   ae.c       Merkle anti-entropy
 *   tomb.c     tombstone collection
 *   zdgram.c   compressed datagrams (zstd)
 *
 * Output takes two paths. Small control items (pings, acks, rumors for one
 * peer) wait in `items` and are encoded when send() is called, so that all
 * that is due for one destination shares a datagram and membership rumors
 * ride along (piggyback). Bulk answers (anti-entropy, membership sync, pull
 * replies) are encoded at once into ready datagrams (`ready`), paced by
 * the anti-entropy byte budget.
 */
#ifndef GV_CORE_NODE_INT_H
#define GV_CORE_NODE_INT_H

#include "compress.h"
#include "counter.h"
#include "dedup.h"
#include "hlc.h"
#include "merkle.h"
#include "node.h"
#include "rng.h"
#include "store.h"
#include "wire.h"

#define MS 1000ull /* gv_time is in microseconds */
#define GV_MAX_REGIONS 64
#define GV_BQ_BUCKETS 64
#define GV_MAX_CONFIRM 8
#define GV_MAX_RELAYS 64
#define GV_MAX_AE_SESSIONS 8
#define GV_MAX_ITEMS 8192
#define GV_NO_MEMBER UINT32_MAX
#define GV_REFUSED_MAX 8
#define GV_MAX_PROBES 10 /* probes per period while many are unreachable */
#define GV_ADDR_SEEN_WORDS 256 /* 16384 bits: superseded()'s filter */
#define GV_SYNC_EVERY 30 /* reconnect ticks between membership push-pulls */
#define GV_FLOOD_CYCLES 16 /* eager flooding: successor cycles at most */
#define GV_DIRECT_MAX 16   /* eager: up to this many peers, the origin
                            * sends to each itself */
#define GV_MAX_FLOOD_DESTS (2 * GV_FLOOD_CYCLES + GV_DIRECT_MAX)
#define GV_TREE_PENDING 4096  /* announced writes awaited at once */
#define GV_TREE_ANN_MAX 65536 /* write ids waiting to be announced */
#define GV_ZCACHE 8 /* compressed frames kept for reuse (zdgram.c) */

enum rumor_kind {
	RUMOR_UPDATE = 1,
	RUMOR_MEMBER = 2,
	RUMOR_PURGE = 3,
};

/*
 * A rumor: something to spread with a transmit budget. Updates and purges
 * carry their key (the value is read from the store at send time, so a
 * superseded rumor is noticed and dropped); member rumors name the member
 * and are encoded from its current record.
 */
struct rumor {
	struct rumor *qprev, *qnext; /* broadcast queue bucket */
	struct rumor *rprev, *rnext; /* recent list (pull digests) */
	uint32_t transmits;
	uint32_t limit;
	uint32_t refs;    /* pending items naming this rumor */
	uint8_t kind;
	uint8_t priority;
	bool in_queue;
	bool in_recent;
	gv_time created;
	gv_version ver;
	uint64_t key_hash;
	gv_node_id member;
	uint16_t klen;
	uint8_t key[];
};

/* Rumors waiting to be sent, bucketed by transmits: fewest-sent first. */
struct bqueue {
	struct rumor *head[GV_BQ_BUCKETS];
	struct rumor *tail[GV_BQ_BUCKETS];
	size_t count;
};

struct member {
	gv_node_id id;
	gv_addr addr;
	uint32_t incarnation;
	uint8_t state;
	uint16_t region;
	char name[GV_WIRE_MAX_NAME + 1];
	gv_time since; /* last state change */
	/* suspicion (Lifeguard: timeout shrinks with confirmations) */
	gv_node_id accuser; /* who suspected or declared it */
	gv_time suspect_start;
	gv_time suspect_deadline;
	unsigned nconfirm;
	gv_node_id confirm[GV_MAX_CONFIRM];
	struct rumor *rumor; /* its pending member rumor, if any */
};

enum item_kind {
	IT_PING = 1,
	IT_ACK,
	IT_PING_REQ,
	IT_MEMBER,   /* one member's record (id; self if id == self) */
	IT_SYNC_REQ,
	IT_RUMOR,    /* one specific update rumor (eager push) */
	IT_GOSSIP,   /* fill with pending update rumors */
	IT_PULL,     /* a pull digest of recent updates */
	IT_TOMB_ACK,
};

struct item {
	gv_addr to;
	uint8_t kind;
	union {
		struct {
			uint32_t probe;
			gv_node_id target;
			gv_addr taddr;
		} ping;
		struct {
			uint32_t probe;
			uint8_t flags;
		} ack;
		struct {
			gv_node_id id;
			uint8_t state_override; /* 255: current state */
		} member;
		struct {
			uint32_t session;
			uint8_t flags;
		} sync;
		struct rumor *r;
		uint64_t tack[3];
	} u;
};

/* A fully encoded datagram waiting to be sent. */
struct ready {
	struct ready *next;
	gv_addr to;
	bool ae; /* counts against the anti-entropy byte budget */
	size_t len;
	size_t alloc;
	uint8_t data[];
};

/* A probe relayed for another member (ping-req). */
struct relay {
	bool used;
	uint32_t our_probe;
	uint32_t their_probe;
	gv_addr requester;
	gv_time deadline;
};

/* The probe this node has in flight. */
struct probe {
	bool active;
	bool indirect_sent;
	uint32_t seq;
	gv_node_id target;
	gv_time direct_deadline;
	gv_time end;
	unsigned nacks_expected;
	unsigned nacks;
};

/* An anti-entropy session this node initiated. */
struct ae_session {
	bool used;
	uint32_t id;
	gv_node_id peer;
	gv_addr addr;
	gv_time started;
	gv_time last;
	bool exchanged; /* entries moved: confirm with another session */
	unsigned retries;
};

/* A tombstone this node originated, waiting for every member to hold it. */
struct tomb {
	struct tomb *next;
	gv_version ver;
	uint64_t key_hash;
	gv_time created;
	size_t nholders, cap;
	gv_node_id *holders; /* sorted */
	uint16_t klen;
	uint8_t key[];
};

/* The operator's convergence watch (watch.c). */
struct watch {
	bool active;
	uint32_t id;
	uint64_t key_hash;
	unsigned total;
	unsigned nanswers;
	size_t cap;
	gv_version *answers; /* [0] is ours */
};

/* WAIT: which members were heard to hold a key at a version or newer
 * (watch.c); a few at once, the least recently asked one replaced. */
#define GV_HOLD_SLOTS 8
#define GV_STREAM_MEMO 8 /* large values' digests remembered */
struct holders {
	bool active;
	uint32_t id; /* the PULL_QUERY session */
	uint64_t key_hash;
	gv_version ver;
	gv_time used, asked;
	unsigned n, cap;
	gv_addr *held;
};

#define GV_KEYOPS_MAX 64

struct gv_keyent {
	uint32_t id;
	uint8_t op; /* enum gv_keyop */
	gv_version ver;
	uint8_t key[GV_KEY_LEN];
};

struct gv_held {
	gv_node_id node;
	uint32_t primary;
	size_t n;
	uint32_t ids[GV_KEYRING_MAX];
};

/* The hash index (hash.c): user key -> its live fields, in the order
 * they arrived here. Zero until the first hash is written. */
struct hfield;
struct hkey;
struct gv_hidx {
	struct hkey **slots; /* open addressing; home = top bits of h */
	size_t cap;          /* 0 or a power of two */
	unsigned shift;
	size_t count;        /* hashes (each has a live field) */
	size_t bytes;        /* allocated, counted in the store's mem_used */
};

struct gv_node {
	gv_node_config cfg;
	const gv_mem *mem;
	gv_node_id self;
	/* this run's slot in the counters it changes (counter.h): new at
	 * every start, so a node restarted without its state (same id) never
	 * reuses a slot whose sequence it no longer knows */
	gv_node_id counter_slot;
	uint32_t incarnation;
	bool leaving;
	gv_rng rng;
	gv_hlc hlc;
	gv_store store;
	struct gv_hidx hidx; /* hashes (hash.c) */
	gv_merkle merkle;
	bool dedup_on;
	gv_dedup dedup;
	uint64_t *seen; /* cfg.seen_cache update ids, direct-mapped */
	bool purged_on;  /* allocated at the first collection */
	gv_dedup purged; /* recently collected tombstones */
	gv_node_stats st;
	uint64_t seq; /* datagram sequence */

	/* sealed gossip (sec.c) */
	uint32_t boot;             /* drawn at start: part of every nonce */
	gv_seal_cache *seal_cache;
	uint8_t *open_buf;         /* an opened datagram */
	size_t open_cap;
	struct gv_win *win;        /* replay windows, by sender */
	size_t win_cap, win_n;

	/* compressed gossip (zdgram.c), made at first use */
	struct gv_zctx *zctx;
	uint8_t *zbuf;             /* GV_WIRE_MAX_MTU: an inflated datagram,
				    * or a frame being made */
	struct gv_zcache {
		uint8_t *raw, *frame; /* records compressed, their frame */
		size_t cap, len, out; /* cap bytes each; out 0: empty */
	} zc[GV_ZCACHE];           /* the last GV_ZCACHE made */
	unsigned zc_next;
	double z_est;              /* packing: expected ratio (0: unset) */
	uint32_t z_fails;          /* attempts that failed in a row */
	uint32_t z_backoff;        /* eligible datagrams to send untried */

	/* key rotation through gossip (keys.c) */
	struct {
		size_t base_n; /* the ring the node was created with */
		uint32_t base_id[GV_KEYRING_MAX];
		uint8_t base_key[GV_KEYRING_MAX][GV_KEY_LEN];
		size_t nop;
		struct gv_keyent op[GV_KEYOPS_MAX]; /* per key id */
		bool has_primary;
		struct gv_keyent primary;
		struct gv_held *held; /* members' reports */
		size_t nheld, held_cap;
		bool published;
		uint64_t published_gen;
	} keys;

	/* regions: interned names; 0 is ours */
	unsigned nregions;
	bool multi_region; /* peers in more than one region */
	char regions[GV_MAX_REGIONS][GV_WIRE_MAX_REGION + 1];

	/* membership */
	struct member *members;
	size_t nmembers, members_cap;
	uint32_t *mindex; /* open addressing id -> member index */
	size_t mindex_cap;
	uint32_t *probe_order;
	size_t probe_n, probe_pos, probe_cap;
	struct probe probes[GV_MAX_PROBES]; /* usually one in flight */
	uint32_t probe_seq;
	struct relay relays[GV_MAX_RELAYS];
	unsigned nrelays;
	int awareness;
	struct rumor *self_rumor;
	gv_addr *seeds;
	size_t nseeds;
	bool partitioned;
	double reach;
	gv_node_id refused[GV_REFUSED_MAX]; /* joiners refused (shards) */
	bool synced;         /* a full membership has reached us */
	unsigned sync_ticks; /* reconnect ticks since the last push-pull */
	/* formation pulls (members.c): while forming, pull a whole view
	 * from a random live member at form_at, until pulls stop teaching
	 * us members; learned: members new to us since the last pull */
	bool forming;
	unsigned learned, form_idle;
	gv_time form_at;
	/* the earliest suspicion deadline, or earlier (members.c): the
	 * timers scan the members only when it is due */
	gv_time suspect_next;
	/* a bit per hash of every member address learned (never cleared):
	 * a new member whose bit is clear took nobody's address */
	uint64_t addr_seen[GV_ADDR_SEEN_WORDS];
	unsigned refused_pos;
	const gv_static_peers *statics;
	uint16_t static_own_region; /* our region index in statics */
	size_t static_self; /* our index in statics, or SIZE_MAX */

	/* dissemination */
	struct bqueue updates;
	struct bqueue mrumors;
	struct rumor *recent_head, *recent_tail;
	size_t nrecent;
	struct flood {
		/*
		 * Two buffers of records encoded once each when the write is
		 * applied (hot in cache), with where each goes: new writes
		 * fill q[pend]; a pass swaps and sends the other. The pass in
		 * progress: its destinations, the one being filled, the next
		 * record for it.
		 */
		struct flood_buf {
			uint8_t *enc;
			size_t enc_len, enc_cap;
			struct flood_ent {
				size_t off;
				uint32_t len;
				uint8_t fcycles;
				bool direct;
				gv_node_id ffrom;
			} *ents;
			size_t nents, ents_cap;
			unsigned maxc; /* largest fcycles */
			bool direct;   /* some entry is direct */
		} q[2];
		unsigned pend;
		bool active;
		unsigned ndest, cur;
		gv_node_id dest[GV_MAX_FLOOD_DESTS];
		gv_addr dest_addr[GV_MAX_FLOOD_DESTS];
		uint8_t dest_cycle[GV_MAX_FLOOD_DESTS]; /* 255: direct only */
		size_t pos;
		size_t raw_cap;    /* this pass's datagram size before
				    * compression (gv__z_pack_cap) */
		gv_time last_pass; /* when the last pass began */
		/* successors of this node, one per cycle (see dissem.c) */
		uint64_t epoch; /* members_epoch they were computed at */
		bool valid;
		unsigned nsucc;
		gv_node_id succ[GV_FLOOD_CYCLES];
		uint32_t succ_idx[GV_FLOOD_CYCLES]; /* static peers: index */
	} flood;
	/*
	 * The broadcast tree (eager mode, dissem.c): this node's neighbours
	 * (successor and predecessor in the first fanout cycles), each
	 * eager (in the tree: writes are pushed to it) or lazy (it is only
	 * told their ids); the ids of writes passed on since the last
	 * announcement; announced writes not received yet (FIFO: they all
	 * wait tree_graft_us); PRUNEs owed to senders that are no
	 * neighbours of ours.
	 */
	struct tree {
		uint64_t epoch;
		bool valid;
		unsigned nn;
		struct tnbr {
			gv_node_id id;
			uint32_t idx;   /* static peers: index */
			bool eager;     /* a tree link (else lazy) */
		} nb[2 * GV_FLOOD_CYCLES];
		struct tann {
			uint64_t kh, hlc;
			gv_node_id from;
			gv_time at; /* when it was queued */
			bool all; /* every neighbour, not only the lazy ones */
		} *ann;
		size_t nann, ann_cap;
		struct tpend {
			uint64_t kh, hlc;
			gv_time due;
			gv_addr addr, alt; /* announcers: first, another */
			gv_node_id from, alt_from;
			bool has_alt;
			uint8_t tries;
		} *pend;
		size_t phead, pcount; /* ring of GV_TREE_PENDING */
		/* direct-mapped by announced id: its ring slot + 1 (0:
		 * none), to find a pending write announced again */
		uint32_t *pslot;
		double graft_tokens; /* GRAFT budget (tree.c) */
		gv_time graft_at;
		/* the update being handled: its hops field */
		uint8_t cur_hops;
		/* direct-mapped (cfg.seen_cache entries): ids of writes
		 * received lately (the low 2 bits clear), with how the first
		 * copy came in the low 2 bits (tree.c: HAVE_*), to answer
		 * announcements without a lookup in the store and to tell a
		 * redundant link's duplicate from the tree's copy of a
		 * repaired write; from: who sent the first copy */
		struct thave {
			uint64_t idf;
			gv_node_id from;
		} *have;
	} tree;
	uint64_t members_epoch; /* bumped by every membership change */

	/* output */
	struct item *items;
	size_t nitems, items_cap;
	/* bulk datagrams: anti-entropy's (paced by ae_bytes_per_sec), and
	 * the others (tree control, syncs, pull replies), which do not wait
	 * behind them */
	struct ready *ready_head, *ready_tail;
	struct ready *fast_head, *fast_tail;
	size_t nready;
	size_t ready_bytes; /* allocated bytes of the ready list */
	double ae_tokens;
	gv_time ae_tokens_at;

	/* anti-entropy */
	struct ae_session ae[GV_MAX_AE_SESSIONS];
	bool ae_kick; /* start a session at the next expiry */

	/* tombstones */
	struct tomb *tombs;
	size_t ntombs;
	uint32_t sweep_bucket;

	struct watch watch;

	/* large values over the stream channel (stream.c) */
	struct {
		struct digest_memo {
			uint64_t kh;
			gv_version ver;
			size_t len;
			uint64_t digest;
		} memo[GV_STREAM_MEMO]; /* gv__value_digest */
		struct sfetch *fetch[GV_STREAM_MAX_FETCHES];
		struct sxfer *xfer[GV_STREAM_MAX_SENDS];
		size_t nfetch, nxfer;
		size_t chunk;         /* bytes of value per DATA message */
		size_t pending_bytes; /* values being received */
		uint8_t *msg;         /* a DATA message being built */
		gv_time next;         /* timer (GV_TIME_NEVER: none) */
	} stream;

	/* conflicts log (ring) */
	gv_conflict_info *conflicts;
	size_t nconflicts, conflict_pos;

	/* timers */
	gv_time next_round, next_probe_tick, next_ae, next_reconnect;
	gv_time next_sweep, next_dedup_advance;
	gv_time next_reclaim; /* the active expiry cycle */
	gv_version flush_ver; /* the last flush applied: older writes die */
	struct holders hold[GV_HOLD_SLOTS]; /* WAIT (watch.c) */
	bool flush_set;       /* the flush entry is in the store */
	size_t reclaim_cursor;
	gv_time now; /* last time seen, for callbacks from the store */
};

/* ---- hash.c: Redis hashes, one store entry per field */
/* Reserved entries that are the engine's own (keys, flush), not user
 * data: hashes' fields and expiry registers are user data (flushed,
 * counted as keys through their hash). */
static inline bool
gv__key_sys(const void *key, size_t klen)
{
	const uint8_t *k = key;
	return gv_key_reserved(key, klen) &&
	       !(klen > GV_RESERVED_LEN &&
		 (k[GV_RESERVED_LEN] == 'H' || k[GV_RESERVED_LEN] == 'X'));
}
void gv__hash_fini(gv_node *n);
/* A reserved entry was stored (local, remote, reclaimed): true if it
 * was a hash's (the index follows it). */
bool gv__hash_on_entry(gv_node *n, gv_time now, const gv_record *r);
/* A remote hash entry about to be merged: true if it is dead here (older
 * than its key's last write, or expired with its hash): drop it. */
bool gv__hash_refuse(gv_node *n, gv_time now, const gv_record *in);
/* A plain entry of key was stored (remote: from a peer): fields older
 * than it are dead. */
void gv__hash_on_plain(gv_node *n, gv_time now, const gv_record *r,
		       bool remote);
/* Whether key is a live hash here; if so, *seen: its newest version. */
bool gv__hash_seen(gv_node *n, const void *key, size_t klen,
		   gv_version *seen);
/* After a flush: the index made again from the store. */
void gv__hash_rebuild(gv_node *n);
/* A conflict's key as GV.CONFLICTS shows it: a field as "key[field]".
 * Returns the length written (at most cap), or 0: not a field. */
size_t gv__hash_display(const uint8_t *key, size_t klen, uint8_t *out,
			size_t cap, size_t *full);

/* ---- node.c */
/* A local write of key at version ver (kind, expire as gv_store_put_ex;
 * del: a tombstone), stored and disseminated; with the checks of every
 * local write. */
int gv__write_local(gv_node *n, gv_time now, const void *key, size_t klen,
		    const void *val, size_t vlen, uint8_t kind,
		    uint64_t expire, const gv_version *ver, int priority,
		    bool del, gv_record *out);
/* The counter of key as it stands (live entry r, or none): its decoded
 * state, or a new one whose base is a string's number. 0, GV_ENOTINT /
 * GV_ENOTFLOAT (a string that is not a number of that kind), GV_EINVAL. */
int gv__counter_of(gv_node *n, const void *key, size_t klen, bool live,
		   const gv_record *r, bool want_float, gv_counter *c);
/* Whether c can take the increment: 0, GV_ENANINF, GV_ENOTINT,
 * GV_EOVERFLOW. */
int gv__counter_fits(const gv_counter *c, const gv_incr *by);
/* Add it at this node's slot and write the state at key (INCR, HINCRBY). */
int gv__counter_step(gv_node *n, gv_time now, const void *key, size_t klen,
		     gv_counter *c, const gv_incr *by, int priority,
		     gv_record *out);
/* A counter state c written at key (its version the state's). */
int gv__write_counter(gv_node *n, gv_time now, const void *key,
		      size_t klen, const gv_counter *c, int priority,
		      gv_record *out);
int gv__node_item(gv_node *n, const gv_addr *to, const struct item *it);
struct ready *gv__ready_begin(gv_node *n, const gv_addr *to, bool ae,
			      size_t cap, gv_wire_writer *w);
void gv__ready_commit(gv_node *n, struct ready *r, gv_wire_writer *w);
void gv__header_for(gv_node *n, gv_wire_header *h);

/* keys.c: key rotation through gossip */
void gv__keys_init_base(gv_node *n);
void gv__keys_fini(gv_node *n);
void gv__keys_on_entry(gv_node *n, gv_time now, const gv_record *r);
/* A flush entry stored (keys.c dispatches it): apply it. */
void gv__flush_apply(gv_node *n, const gv_record *r);
/* Whether a write of version v is older than the last flush. */
static inline bool
gv__flushed(const gv_node *n, const gv_version *v)
{
	return n->flush_set && gv_version_cmp(v, &n->flush_ver) < 0;
}
void gv__keys_publish(gv_node *n, gv_time now);
/* node.c: a local write of a reserved entry */
int gv__reserved_write(gv_node *n, gv_time now, const void *key,
		       size_t klen, const void *val, size_t vlen);

/* sec.c: sealed gossip */
int gv__sec_init(gv_node *n);
void gv__sec_fini(gv_node *n);
ssize_t gv__sec_seal(gv_node *n, uint8_t *buf, size_t len, size_t cap);
/* 0 with *plain, *plen the opened datagram and *h its header; or a
 * negative code, already counted */
int gv__sec_open(gv_node *n, const uint8_t *buf, size_t len,
		 gv_wire_header *h, const uint8_t **plain, size_t *plen);
/* zdgram.c: compressed gossip. pack: compress the datagram in place if
 * it is worth it; returns its (new) length. unpack: inflate an opened
 * compressed datagram into the node's scratch, position rd on its
 * records, and point *buf, *len at it; or a negative code, counted. */
size_t gv__z_pack(gv_node *n, uint8_t *buf, size_t len);
int gv__z_unpack(gv_node *n, gv_wire_reader *rd, const uint8_t **buf,
		 size_t *len);
void gv__z_fini(gv_node *n);
/* Packing (cfg.compress_pack): the raw bytes a flooding datagram may
 * take so that they should compress into max_datagram (max_datagram
 * when not packing); and compress such a datagram into at most mtu
 * bytes, exactly mtu when @pad (the frame, then zeros: a full-size
 * datagram for a GSO chain). Returns the datagram's new length, or
 * GV_ENOBUFS (it would not fit: buf unchanged). */
size_t gv__z_pack_cap(gv_node *n, size_t cap);
ssize_t gv__z_fit(gv_node *n, uint8_t *buf, size_t len, size_t mtu,
		  bool pad);
uint64_t gv__wall_ms(const gv_node *n, gv_time now);
/* The cluster clock, ms: the HLC's wall part, never behind the wall. */
uint64_t gv__cluster_ms(const gv_node *n, gv_time now);
uint32_t gv__rand32(gv_node *n);
void gv__record_conflict(gv_node *n, const gv_record *winner,
			 const gv_record *loser);

/* Writer helper for bulk answers: one record at a time, new datagram when
 * full. */
struct bulk {
	gv_node *n;
	gv_addr to;
	bool ae;
	bool stream; /* its datagrams go over the stream channel */
	struct ready *r;
	gv_wire_writer w;
	unsigned datagrams;
	int err;
};
void gv__bulk_init(struct bulk *b, gv_node *n, const gv_addr *to, bool ae);
/* Make room for a record of `size` bytes (starting a new datagram if
 * needed). Returns the writer to put it with, or NULL on failure. */
gv_wire_writer *gv__bulk_room(struct bulk *b, size_t size);
void gv__bulk_finish(struct bulk *b);

/* ---- members.c */
int gv__members_init(gv_node *n);
void gv__members_fini(gv_node *n);
struct member *gv__member_find(const gv_node *n, gv_node_id id);
uint16_t gv__region_intern(gv_node *n, const uint8_t *name, size_t len);
size_t gv__member_count_live(const gv_node *n); /* alive + suspect */
size_t gv__cluster_size(const gv_node *n);      /* N incl. self */
void gv__on_member_record(gv_node *n, gv_time now, const gv_addr *addr,
			  gv_node_id from, const gv_wire_member *w);
void gv__on_ping(gv_node *n, gv_time now, const gv_addr *from,
		 gv_node_id sender, const gv_wire_ping *p);
void gv__on_ack(gv_node *n, gv_time now, const gv_addr *from,
		gv_node_id sender, const gv_wire_ack *a);
void gv__on_ping_req(gv_node *n, gv_time now, const gv_addr *from,
		     const gv_wire_ping_req *p);
void gv__on_sync_req(gv_node *n, gv_time now, const gv_addr *from,
		     gv_node_id sender, const gv_wire_sync_req *s);
void gv__probe_tick(gv_node *n, gv_time now);
void gv__members_timers(gv_node *n, gv_time now);
gv_time gv__members_next(const gv_node *n);
void gv__reconnect_tick(gv_node *n, gv_time now);
void gv__form_tick(gv_node *n, gv_time now); /* at form_at */
void gv__members_reap(gv_node *n, gv_time now);
void gv__update_reach(gv_node *n, gv_time now);
/* Choose up to k distinct random gossip targets (alive/suspect members or
 * static peers), skipping `exclude`; with regions, prefer ours. Writes
 * addresses; returns the count. */
size_t gv__pick_peers(gv_node *n, size_t k, gv_node_id exclude,
		      gv_addr *out);
bool gv__pick_one(gv_node *n, gv_node_id exclude, gv_node_id *id,
		  gv_addr *addr);
void gv__member_info(const gv_node *n, const struct member *m,
		     gv_member_info *out);
void gv__encode_member(const gv_node *n, const struct member *m,
		       uint8_t state_override, gv_wire_member *out);
void gv__encode_self(const gv_node *n, gv_wire_member *out);

/* ---- dissem.c */
void gv__bq_push(struct bqueue *q, struct rumor *r);
void gv__bq_remove(struct bqueue *q, struct rumor *r);
struct rumor *gv__rumor_new(gv_node *n, uint8_t kind, const void *key,
			    size_t klen, const gv_version *ver);
void gv__rumor_release(gv_node *n, struct rumor *r);
uint32_t gv__rumor_limit(const gv_node *n);
/* A write new here becomes a rumor; from: the peer it came from (0:
 * local); forward false: the origin sent it to everyone (GV_UPD_DIRECT). */
void gv__spread_update(gv_node *n, gv_time now, const gv_record *rec,
		       int priority, gv_node_id from, bool forward);
/* The next eager flooding datagram (0: none due), see dissem.c. */
ssize_t gv__flood_send(gv_node *n, gv_addr *to, uint8_t *buf, size_t cap);
/* Modes that push at once: flooding over cycles (eager) or the tree. */
static inline bool
gv__eager(const gv_node *n)
{
	return n->cfg.mode == GV_MODE_EAGER || n->cfg.mode == GV_MODE_TREE;
}
/* (static peers, for simulations of 10^4..10^5 nodes, flood: every
 * node computing the tree over them would cost N^2 log N) */
static inline bool
gv__tree_on(const gv_node *n)
{
	return n->cfg.mode == GV_MODE_TREE && !n->statics;
}
/* The first d cycles' successors and predecessors of this node, each
 * once: member (static peer) indices and ids; returns how many. */
unsigned gv__cycle_neighbours(const gv_node *n, unsigned d, uint32_t *idx,
			      gv_node_id *ids);
int gv__cycle_tree(const gv_node *n, unsigned d, gv_node_id *out,
		   unsigned max);
/* tree.c: the broadcast tree of eager mode */
void gv__tree_refresh(gv_node *n);
const gv_addr *gv__tree_addr(const gv_node *n, const struct tnbr *b);
void gv__tree_announce(gv_node *n, uint64_t kh, uint64_t hlc,
		       gv_node_id from, bool all);
void gv__tree_new(gv_node *n, gv_node_id sender, uint8_t uflags,
		  uint8_t priority, uint64_t kh, uint64_t hlc);
bool gv__tree_dup(gv_node *n, gv_node_id sender, uint8_t uflags,
		  uint8_t priority, uint64_t kh, uint64_t hlc);
void gv__tree_repaired(gv_node *n, uint64_t kh, uint64_t hlc);
void gv__on_tree(gv_node *n, gv_time now, const gv_addr *from,
		 gv_node_id sender, const gv_wire_tree *t);
void gv__tree_tick(gv_node *n, gv_time now);
gv_time gv__tree_next(const gv_node *n);
void gv__tree_fini(gv_node *n);
void gv__spread_member(gv_node *n, gv_node_id id);
void gv__spread_purge(gv_node *n, const void *key, size_t klen,
		      const gv_version *ver);
/* Records of a datagram decoded ahead of handling (see gv_node_recv). */
#define GV_RECV_AHEAD 32
/* Prefetch what the updates among recs will touch; khs[i], ids[i]: the
 * key hash and update id of recs[i] if it is an update (else 0). */
void gv__prefetch_updates(gv_node *n, const gv_wire_record *recs,
			  uint64_t *khs, uint64_t *ids, size_t nrecs);
/* kh, id: the key's hash and the update's id if already computed, else 0. */
void gv__on_update(gv_node *n, gv_time now, const gv_addr *from,
		   gv_node_id sender, const gv_wire_update *u, uint64_t kh,
		   uint64_t id);
void gv__on_pull_recent(gv_node *n, gv_time now, const gv_addr *from,
			const gv_wire_pull_digest *d);
void gv__round_tick(gv_node *n, gv_time now);
void gv__recent_expire(gv_node *n, gv_time now);
/* Put pending rumors into a datagram for `to`: member rumors always,
 * update rumors when `updates`. */
void gv__piggyback(gv_node *n, gv_wire_writer *w, bool updates,
		   const gv_addr *dest);
/* Put pending update rumors only (fewest-sent first). */
void gv__fill_updates(gv_node *n, gv_wire_writer *w, const gv_addr *dest);
int gv__put_update_rumor(gv_node *n, gv_wire_writer *w, struct rumor *r);
/* Encode a store record as an UPDATE (flags: GV_UPD_AE or 0). */
int gv__put_record(gv_node *n, gv_wire_writer *w, const gv_record *rec,
		   uint8_t priority, uint8_t flags);
/* Its encoded size (a value above the stream threshold: a reference). */
size_t gv__record_wire_size(const gv_node *n, const gv_record *rec);
void gv__put_pull_digest(gv_node *n, gv_wire_writer *w);
void gv__dissem_fini(gv_node *n);

/* ---- ae.c */
/* Close idle sessions; with start, begin one with a random peer. */
void gv__ae_tick(gv_node *n, gv_time now, bool start);
void gv__ae_start(gv_node *n, gv_time now, gv_node_id peer,
		  const gv_addr *addr);
void gv__on_merkle_resp(gv_node *n, gv_time now, const gv_addr *from,
			const gv_wire_merkle_resp *m);
void gv__on_merkle_req(gv_node *n, gv_time now, const gv_addr *from,
		       const gv_wire_merkle_req *m);
void gv__on_leaf_digest(gv_node *n, gv_time now, const gv_addr *from,
			const gv_wire_pull_digest *d);
void gv__on_entries_req(gv_node *n, gv_time now, const gv_addr *from,
			const gv_wire_entries_req *e);
void gv__ae_activity(gv_node *n, gv_time now, uint32_t session, bool data);
gv_time gv__ae_next(const gv_node *n);

/* ---- stream.c */
/* A value's XXH3-64, remembered by key and version. */
uint64_t gv__value_digest(gv_node *n, const gv_record *rec);
int gv__stream_init(gv_node *n);
void gv__stream_fini(gv_node *n);
bool gv__stream_on(const gv_node *n);
/* An UPDATE with GV_UPD_REF: fetch the value if it is news. */
void gv__stream_announced(gv_node *n, gv_time now, const gv_addr *from,
			  gv_node_id sender, const gv_wire_update *u,
			  uint64_t kh);
gv_time gv__stream_next(const gv_node *n);
/* A finished clear datagram as one stream message (0, or the transport's
 * refusal: then send it by UDP). */
int gv__stream_send_dgram(gv_node *n, const gv_addr *to, const uint8_t *dg,
			  size_t len);
/* node.c: such a datagram, received */
int gv__recv_stream_dgram(gv_node *n, gv_time now, const gv_addr *from,
			  const uint8_t *buf, size_t len);
void gv__stream_tick(gv_node *n, gv_time now);
/* dissem.c: merge a remote write that passed the arrival checks (the
 * stream's fetched values come through here too) */
void gv__apply_update(gv_node *n, gv_time now, gv_node_id sender,
		      const gv_record *in, uint64_t kh, uint8_t priority,
		      uint8_t uflags);

/* ---- watch.c */
void gv__on_watch(gv_node *n, gv_time now, const gv_addr *from,
		  const gv_wire_pull_digest *d);
void gv__watch_fini(gv_node *n);

/* ---- tomb.c */
void gv__tomb_stored(gv_node *n, gv_time now, const gv_record *rec);
void gv__on_tomb_ack(gv_node *n, gv_time now, gv_node_id sender,
		     const gv_wire_tomb_ack *a);
void gv__on_purge(gv_node *n, gv_time now, const gv_wire_purge *p);
void gv__tomb_sweep(gv_node *n, gv_time now);
void gv__tomb_fini(gv_node *n);
bool gv__tomb_purged_recently(gv_node *n, uint64_t key_hash,
			      const gv_version *ver);

#endif /* GV_CORE_NODE_INT_H */
