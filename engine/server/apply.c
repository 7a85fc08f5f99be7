/* SPDX-License-Identifier: MIT */
/*
 * apply.c - what a shard's thread does with a sub that came over its
 * inbound ring: read or write its gv_node and leave the result in the sub
 * (a value copy, a count, or a RESP fragment the front end splices into
 * the reply, encoded in the client's RESP version, sub->proto). Runs on
 * the shard's thread only, never on the front end.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"
#include "server/persist.h"

#include <fnmatch.h>
#include <stdio.h>

struct scan_ctx;
static int scan_emit(struct scan_ctx *c, const gv_record *r);

struct scan_ctx {
	struct sub *s;
	size_t cap;
	size_t used;
	size_t nkeys;
	uint64_t now_ms; /* expired keys are not listed */
	uint8_t type;    /* SCAN TYPE: 0 any, 1 string, 2 hash, 3 none */
	gv_node *n;
};

static int
scan_visit(void *ud, const gv_record *r)
{
	struct scan_ctx *c = ud;
	if (r->tombstone || gv_key_reserved(r->key, r->klen) ||
	    gv_record_expired(r, c->now_ms) || c->type > 1 ||
	    (gv_node_hash_count(c->n) && gv_node_hash_has(c->n, r->key,
							    r->klen)))
		return 0; /* (a string older than a hash: the hash's) */
	return scan_emit(c, r);
}

/* A hash's key (gv_node_hash_foreach_key). */
static int
scan_visit_hash(void *ud, const gv_record *r)
{
	struct scan_ctx *c = ud;
	if (c->type == 1 || c->type == 3)
		return 0;
	return scan_emit(c, r);
}

static int
scan_emit(struct scan_ctx *c, const gv_record *r)
{
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

struct pick {
	uint64_t skip;
	const uint8_t *key;
	size_t klen;
};

static int
pick_visit(void *ud, const gv_record *r)
{
	struct pick *p = ud;
	p->key = r->key;
	p->klen = r->klen;
	return p->skip-- == 0;
}

/*
 * RANDOMKEY's part on one shard: its live key count, and one of them: the
 * first live key from a random slot on. (Keys after a run of empty slots
 * are a little likelier; Redis's pick is not uniform either.)
 */
static void
random_key(struct shard *sh, struct sub *s, gv_time now)
{
	const gv_store *st = gv_node_store(sh->node);
	int64_t strings = (int64_t)(st->count - st->tombstones -
				    gv_node_reserved_count(sh->node));
	int64_t hashes = (int64_t)gv_node_hash_count(sh->node);
	int64_t live = strings + hashes;
	s->ival = 0;
	if (live <= 0 || !st->cap)
		return;
	uint64_t now_ms = gv_node_clock_ms(sh->node, now);
	if (!sh->rng)
		sh->rng = now ^ ((uint64_t)(uintptr_t)sh << 16);
	sh->rng = sh->rng * 6364136223846793005ull + 1442695040888963407ull;
	if (hashes && (int64_t)((sh->rng >> 20) % (uint64_t)live) < hashes) {
		/* a hash, picked from the index: the k-th one */
		struct pick p = {.skip = (sh->rng >> 7) % (uint64_t)hashes};
		gv_node_hash_foreach_key(sh->node, now_ms, 0, 0, pick_visit,
					 &p);
		if (p.key) {
			s->out = dupmem(p.key, p.klen);
			s->outlen = p.klen;
			s->rc = s->out ? 0 : GV_ENOMEM;
			s->ival = live;
			return;
		}
	}
	size_t start = (size_t)(sh->rng >> 17) & (st->cap - 1);
	for (size_t k = 0; k < st->cap; k++) {
		size_t i = (start + k) & (st->cap - 1);
		if (!st->slots[i])
			continue;
		gv_record r;
		if (gv_store_lookup_slot(st, i, &r) || r.tombstone ||
		    gv_key_reserved(r.key, r.klen) ||
		    gv_record_expired(&r, now_ms))
			continue;
		s->out = dupmem(r.key, r.klen);
		s->outlen = r.klen;
		s->rc = s->out ? 0 : GV_ENOMEM;
		s->ival = live;
		return;
	}
}

/* If s's key now holds another version than before (NULL: none), s
 * wrote it: say so, with the version, for the client's WAIT. (A hash
 * command names the field's entry it wrote last in s->wkey: WAIT asks
 * about that one.) */
static void
note_write(gv_node *n, struct sub *s, const gv_version *before)
{
	gv_record r;
	if (s->wkey) {
		if (gv_store_lookup(gv_node_store(n), s->wkey, s->wklen, &r))
			return;
		s->wrote = true;
		s->ver = r.ver;
		return;
	}
	if (gv_store_lookup(gv_node_store(n), s->key, s->klen, &r))
		return;
	if (before && gv_version_cmp(before, &r.ver) == 0)
		return;
	s->wrote = true;
	s->ver = r.ver;
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

/*
 * Encode a fragment with gv_resp_buf, then hand its bytes to the sub. The
 * encoders' results are not checked one by one: the buffer latches its
 * first failure, checked here once. A fragment with a hole would corrupt
 * the client's stream, so a failure (or the copy's) becomes the sub's
 * error and the client gets an error reply instead.
 */
static void
take_buf(struct sub *s, gv_resp_buf *b)
{
	s->out = NULL;
	s->outlen = 0;
	if (b->err) {
		s->rc = b->err;
	} else {
		s->out = dupmem(gv_resp_buf_data(b), gv_resp_buf_pending(b));
		if (s->out)
			s->outlen = gv_resp_buf_pending(b);
		else
			s->rc = GV_ENOMEM;
	}
	gv_resp_buf_fini(b);
}

void
gvd_apply_sub(struct shard *sh, struct sub *s, gv_time now)
{
	gv_node *n = sh->node;
	switch (s->op) {
	case OP_GET: {
		if (gv_node_hash_count(n) &&
		    gv_node_key_type(n, now, s->key, s->klen) ==
			    GV_TYPE_HASH) {
			/* GET: Redis's WRONGTYPE; MGET: nil */
			if (s->parent->combine == C_MGET)
				s->null = true;
			else
				s->rc = GVD_EWRONGTYPE;
			break;
		}
		int rc = gvd_read_value(n, now, s->key, s->klen, &s->out,
					&s->outlen, s->parent->combine == C_BULK);
		s->null = rc == GV_ENOTFOUND;
		s->frag = rc == 1;
		s->rc = rc == GV_ENOMEM ? rc : 0;
		break;
	}
	case OP_EXISTS:
		s->ival = gv_node_key_type(n, now, s->key, s->klen) !=
			  GV_TYPE_NONE;
		break;
	case OP_KEYLIST: {
		struct scan_ctx c = {.s = s,
				     .now_ms = gv_node_clock_ms(n, now),
				     .n = n};
		if (gv_store_foreach(gv_node_store(n), scan_visit, &c) ||
		    gv_node_hash_foreach_key(n, c.now_ms, 0, 0,
					     scan_visit_hash, &c))
			s->rc = GV_ENOMEM;
		s->outlen = c.used;
		s->ival = (int64_t)c.nkeys;
		break;
	}
	case OP_RANDOM:
		random_key(sh, s, now);
		break;
	case OP_SAVE:
		gvd_persist_save_sub(sh, s, now);
		break;
	case OP_FLUSH:
		s->rc = gv_node_flush(n, now, GV_PRIO_CRITICAL);
		break;
	case OP_WAIT: {
		unsigned holders = 0, alive = 0;
		s->rc = gv_node_holders(n, now, s->key, s->klen, &s->ver,
					&holders, &alive);
		s->ival = holders;
		break;
	}
	case OP_KEYCMD: {
		gv_resp_buf b;
		gv_resp_buf_init(&b, gv_mem_libc(), 0);
		b.proto = s->proto; /* the client's RESP version */
		gv_record before;
		bool had = gv_store_lookup(gv_node_store(n), s->key, s->klen,
					   &before) == 0;
		s->kfn(sh, s, now, &b);
		note_write(n, s, had ? &before.ver : NULL);
		if (s->rc)
			gv_resp_buf_fini(&b);
		else
			take_buf(s, &b);
		break;
	}
	case OP_SET: {
		bool exists = gv_node_key_type(n, now, s->key, s->klen) !=
			      GV_TYPE_NONE;
		if ((s->setmode == 1 && exists) || (s->setmode == 2 && !exists)) {
			s->null = true;
			break;
		}
		s->rc = s->cond ? gv_node_put_cond(n, now, s->key, s->klen,
						   s->val, s->vlen, 0,
						   GV_PRIO_NORMAL)
				: gv_node_put(n, now, s->key, s->klen, s->val,
					      s->vlen, GV_PRIO_NORMAL);
		if (!s->rc)
			note_write(n, s, NULL);
		break;
	}
	case OP_DEL: {
		int rc = gv_node_delete(n, now, s->key, s->klen,
					GV_PRIO_NORMAL);
		s->ival = rc == 0;
		s->rc = rc == GV_ENOTFOUND ? 0 : rc;
		if (rc == 0)
			note_write(n, s, NULL);
		break;
	}
	case OP_COUNT: {
		const gv_store *st = gv_node_store(n);
		s->ival = (int64_t)(st->count - st->tombstones -
				    gv_node_reserved_count(n) +
				    gv_node_hash_count(n));
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
		b.proto = s->proto; /* the client's RESP version */
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
		b.proto = s->proto; /* the client's RESP version */
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
		struct scan_ctx c = {.s = s,
				     .now_ms = gv_node_clock_ms(n, now),
				     .type = s->setmode,
				     .n = n};
		uint64_t leaf = s->cursor;
		const uint64_t leaves = 65536;
		while (leaf < leaves && c.nkeys < s->count) {
			/* non-zero only when scan_visit could not grow the
			 * output: stop, rather than skip the rest of the leaf */
			if (gv_store_foreach_bucket(gv_node_store(n),
						    (uint32_t)leaf, 16,
						    scan_visit, &c) ||
			    gv_node_hash_foreach_key(n, c.now_ms,
						     (uint32_t)leaf, 16,
						     scan_visit_hash, &c)) {
				s->rc = GV_ENOMEM;
				break;
			}
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
		b.proto = s->proto; /* the client's RESP version */
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
	case OP_VERSION:
	case OP_VCHECK: {
		/* tombstones included: a key deleted and written again is
		 * changed, though absent at both ends */
		gv_version v = {0, 0};
		bool live = false;
		if (s->key || !s->klen) {
			/* a hash: its newest field's or expiry's version, so
			 * a field changed here or by gossip counts; an
			 * expired key is absent, reclaimed or not */
			gv_node_key_version(n, now, s->key, s->klen, &v,
					    &live);
		} else {
			v.hlc = UINT64_MAX; /* no copy of the key: changed */
		}
		if (s->op == OP_VERSION) {
			s->ver = v;
			s->null = !live;
			break;
		}
		/* unchanged: the same version and as live as it was (a key
		 * that expired since is changed, as in Redis 7), or a
		 * tombstone since collected (absent and deleted read alike) */
		bool was_live = s->setmode & 1;
		bool same = (gv_version_cmp(&v, &s->ver) == 0 &&
			     live == was_live) ||
			    (!was_live && !live && gv_version_is_zero(&v));
		s->ival = !same;
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
