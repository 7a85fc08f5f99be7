/* SPDX-License-Identifier: MIT */
/*
 * sec.c - a node's side of sealed gossip: sealing what it sends, opening
 * what it receives, and the replay window.
 *
 * Order of checks on receipt, cheapest first, so that junk costs little
 * and nothing unauthenticated touches state:
 *   1. clear datagram while we hold a keyring: refused (auth_clear)
 *   2. header: magic, version, flags, cluster (dgrams_bad, dgrams_foreign)
 *   3. replay window, read only (auth_replayed, auth_stale)
 *   4. AEAD open with the key the header names (auth_unknown_key,
 *      auth_failed: forged, tampered, truncated or corrupted)
 *   5. replay window updated: only now, after the tag verified
 *
 * The replay window is per sender: the sender's (boot, incarnation), the
 * highest seq accepted and a bitmap of the GV_WIN_BITS seqs below it. A
 * datagram is accepted once: a repeat is "replayed"; one older than the
 * bitmap, or of an older incarnation (or of another boot at the same
 * incarnation: a replay from before a restart), is "stale". A newer
 * incarnation starts a new window. seq is per sender, not per receiver,
 * so the bitmap also absorbs the sender's datagrams to other nodes; a
 * datagram reordered behind more than GV_WIN_BITS of its sender's later
 * ones is dropped as stale, like a lost one (gossip repairs both).
 *
 * Entries are created only for senders that authenticated, so only the
 * cluster's own members fill the table; it holds up to GV_WIN_MAX
 * senders, then forgets the least recently heard half.
 */
#include "node_int.h"

#define GV_WIN_BITS 256
#define GV_WIN_WORDS (GV_WIN_BITS / 64)
#define GV_WIN_MIN 64
#define GV_WIN_MAX 65536

struct gv_win {
	uint64_t sender; /* 0: empty */
	uint64_t top;
	gv_time last;
	uint32_t boot, inc;
	uint64_t bits[GV_WIN_WORDS]; /* bit i: seq top - i was accepted */
};

int
gv__sec_init(gv_node *n)
{
	if (!n->cfg.keyring)
		return 0;
	n->boot = (uint32_t)gv_rng_next(&n->rng);
	int rc = gv_seal_cache_new(&n->seal_cache, n->mem);
	if (rc)
		return rc;
	/* room for the tag in every datagram we build */
	n->cfg.max_datagram -= GV_SEAL_OVERHEAD;
	return 0;
}

void
gv__sec_fini(gv_node *n)
{
	gv_seal_cache_del(n->seal_cache, n->mem);
	n->seal_cache = NULL;
	gv__free(n->mem, n->open_buf, n->open_cap);
	gv__free(n->mem, n->win, n->win_cap * sizeof(struct gv_win));
}

ssize_t
gv__sec_seal(gv_node *n, uint8_t *buf, size_t len, size_t cap)
{
	ssize_t rc = gv_seal(n->cfg.keyring, n->seal_cache, buf, len, cap,
			     n->boot);
	if (rc < 0)
		n->st.seal_errors++;
	return rc;
}

static size_t
win_slot(uint64_t sender, size_t cap)
{
	return (size_t)(XXH3_64bits(&sender, sizeof(sender)) & (cap - 1));
}

static struct gv_win *
win_find(const gv_node *n, uint64_t sender)
{
	if (!n->win)
		return NULL;
	for (size_t i = win_slot(sender, n->win_cap);;
	     i = (i + 1) & (n->win_cap - 1)) {
		struct gv_win *w = &n->win[i];
		if (w->sender == sender)
			return w;
		if (!w->sender)
			return NULL;
	}
}

/* Rebuilds the table at @cap, keeping entries heard at or after @since. */
static int
win_rebuild(gv_node *n, size_t cap, gv_time since)
{
	struct gv_win *t = gv__zalloc(n->mem, cap * sizeof(*t));
	if (!t)
		return GV_ENOMEM;
	size_t kept = 0;
	for (size_t i = 0; i < n->win_cap; i++) {
		const struct gv_win *w = &n->win[i];
		if (!w->sender || w->last < since)
			continue;
		size_t j = win_slot(w->sender, cap);
		while (t[j].sender)
			j = (j + 1) & (cap - 1);
		t[j] = *w;
		kept++;
	}
	gv__free(n->mem, n->win, n->win_cap * sizeof(*t));
	n->win = t;
	n->win_cap = cap;
	n->win_n = kept;
	return 0;
}

static struct gv_win *
win_add(gv_node *n, uint64_t sender)
{
	if ((n->win_n + 1) * 4 > n->win_cap * 3) {
		if (n->win_cap < GV_WIN_MAX) {
			if (win_rebuild(n, n->win_cap ? n->win_cap * 2
						      : GV_WIN_MIN,
					0))
				return NULL;
		} else {
			/* full: forget the least recently heard half */
			gv_time lo = n->now;
			for (size_t i = 0; i < n->win_cap; i++)
				if (n->win[i].sender && n->win[i].last < lo)
					lo = n->win[i].last;
			gv_time mid = lo + (n->now - lo) / 2;
			if (win_rebuild(n, n->win_cap, mid + 1))
				return NULL;
			n->st.auth_windows_forgotten++;
		}
	}
	size_t j = win_slot(sender, n->win_cap);
	while (n->win[j].sender)
		j = (j + 1) & (n->win_cap - 1);
	struct gv_win *w = &n->win[j];
	memset(w, 0, sizeof(*w));
	w->sender = sender;
	n->win_n++;
	return w;
}

/*
 * Whether (boot, inc, seq) from w's sender is new: 0 yes, GV_EREPLAY with
 * *stale telling which kind of old it is.
 */
static int
win_check(const struct gv_win *w, uint32_t boot, uint32_t inc, uint64_t seq,
	  bool *stale)
{
	*stale = false;
	if (!w || inc > w->inc)
		return 0;
	if (inc < w->inc || boot != w->boot) {
		*stale = true;
		return GV_EREPLAY;
	}
	if (seq > w->top)
		return 0;
	uint64_t back = w->top - seq;
	if (back >= GV_WIN_BITS) {
		*stale = true;
		return GV_EREPLAY;
	}
	if (w->bits[back / 64] >> (back % 64) & 1)
		return GV_EREPLAY;
	return 0;
}

static void
win_shift(struct gv_win *w, uint64_t by)
{
	if (by >= GV_WIN_BITS) {
		memset(w->bits, 0, sizeof(w->bits));
		return;
	}
	unsigned words = (unsigned)(by / 64), bits = (unsigned)(by % 64);
	for (int i = GV_WIN_WORDS - 1; i >= 0; i--) {
		uint64_t v = 0;
		int src = i - (int)words;
		if (src >= 0) {
			v = w->bits[src] << bits;
			if (bits && src > 0)
				v |= w->bits[src - 1] >> (64 - bits);
		}
		w->bits[i] = v;
	}
}

static void
win_accept(struct gv_win *w, bool fresh, uint32_t boot, uint32_t inc,
	   uint64_t seq, gv_time now)
{
	if (fresh || inc > w->inc) {
		memset(w->bits, 0, sizeof(w->bits));
		w->inc = inc;
		w->boot = boot;
		w->top = seq;
	} else if (seq > w->top) {
		win_shift(w, seq - w->top);
		w->top = seq;
	}
	uint64_t back = w->top - seq;
	w->bits[back / 64] |= (uint64_t)1 << (back % 64);
	w->last = now;
}

int
gv__sec_open(gv_node *n, const uint8_t *buf, size_t len, gv_wire_header *h,
	     const uint8_t **plain, size_t *plen)
{
	if (!n->cfg.keyring) {
		if (len >= GV_WIRE_HEADER_LEN && gv__ld16(buf) == GV_WIRE_MAGIC &&
		    (buf[3] & GV_WIRE_FLAG_SEALED)) {
			n->st.auth_no_keyring++;
			return GV_EAUTH;
		}
		n->st.dgrams_bad++;
		return GV_EMALFORMED;
	}
	if (len >= GV_WIRE_HEADER_LEN && gv__ld16(buf) == GV_WIRE_MAGIC &&
	    !(buf[3] & GV_WIRE_FLAG_SEALED)) {
		n->st.auth_clear++;
		return GV_EAUTH;
	}
	int rc = gv_wire_check_sealed(h, buf, len, n->cfg.cluster);
	if (rc) {
		if (rc == GV_ECLUSTER)
			n->st.dgrams_foreign++;
		else
			n->st.dgrams_bad++;
		return rc;
	}
	if (h->shard != n->cfg.shard) {
		n->st.dgrams_foreign++;
		return GV_ECLUSTER;
	}
	uint32_t boot = gv__ld32(buf + 36);
	struct gv_win *w = win_find(n, h->sender);
	bool stale;
	if (win_check(w, boot, h->incarnation, h->seq, &stale)) {
		if (stale)
			n->st.auth_stale++;
		else
			n->st.auth_replayed++;
		return GV_EREPLAY;
	}
	if (n->open_cap < len) {
		size_t cap = len < n->cfg.max_datagram + GV_SEAL_OVERHEAD
				     ? n->cfg.max_datagram + GV_SEAL_OVERHEAD
				     : len;
		uint8_t *b = gv__alloc(n->mem, cap);
		if (!b)
			return GV_ENOMEM;
		gv__free(n->mem, n->open_buf, n->open_cap);
		n->open_buf = b;
		n->open_cap = cap;
	}
	rc = gv_open(n->cfg.keyring, n->seal_cache, buf, len, n->open_buf,
		     plen);
	if (rc == GV_ENOTFOUND || rc == GV_EAUTH) {
		if (rc == GV_ENOTFOUND)
			n->st.auth_unknown_key++;
		else
			n->st.auth_failed++;
		return GV_EAUTH;
	}
	if (rc)
		return rc; /* no memory for the subkey cache: not the sender's
			    * fault, and not counted as a forgery */
	bool fresh = false;
	if (!w && h->sender != n->self) {
		w = win_add(n, h->sender);
		if (!w)
			return GV_ENOMEM;
		fresh = true;
	}
	if (w)
		win_accept(w, fresh, boot, h->incarnation, h->seq, n->now);
	*plain = n->open_buf;
	return 0;
}
