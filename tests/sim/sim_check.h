/* SPDX-License-Identifier: MIT */
/*
 * sim_check.h - invariant checks shared by the simulation tests: every
 * live node holds the same entries; no accepted write is lost (each is
 * present, or superseded by a higher version of its key, everywhere).
 */
#ifndef GV_TEST_SIM_CHECK_H
#define GV_TEST_SIM_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "sim/cluster.h"

/* An accepted write, as the test remembers it. */
struct accepted {
	char key[48];
	size_t klen;
	gv_version ver;
	bool del;
};

struct write_log {
	struct accepted *w;
	size_t n, cap;
};

static inline void
log_write(struct write_log *l, const char *key, const gv_version *ver,
	  bool del)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->w = realloc(l->w, l->cap * sizeof(*l->w));
		if (!l->w)
			abort();
	}
	struct accepted *a = &l->w[l->n++];
	snprintf(a->key, sizeof(a->key), "%s", key);
	a->klen = strlen(a->key);
	a->ver = *ver;
	a->del = del;
}

/* Write at node i through the node API; log it if accepted. */
static inline int
sim_put(gv_cluster *c, struct write_log *l, size_t i, const char *key,
	const char *val, bool del)
{
	gv_node *n = gv_cluster_node(c, i);
	gv_time now = gv_cluster_now(c);
	int rc = del ? gv_node_delete(n, now, key, strlen(key), GV_PRIO_NORMAL)
		     : gv_node_put(n, now, key, strlen(key), val, strlen(val),
				   GV_PRIO_NORMAL);
	gv_sim_poke(gv_cluster_sim(c), (int)i);
	if (rc)
		return rc;
	gv_record r;
	gv_store_lookup(gv_node_store(n), key, strlen(key), &r);
	log_write(l, key, &r.ver, del);
	return 0;
}

static inline int
acc_cmp(const void *x, const void *y)
{
	const struct accepted *a = x, *b = y;
	int c = strcmp(a->key, b->key);
	return c ? c : gv_version_cmp(&a->ver, &b->ver);
}

/*
 * No accepted write is lost: at every live node each key holds at least
 * the newest accepted version of it (a newer one is fine), or nothing at
 * all if that newest write was a delete whose tombstone was collected.
 * Returns the number of violations (printing the first few).
 */
static inline size_t
check_no_lost_writes(gv_cluster *c, struct write_log *l)
{
	qsort(l->w, l->n, sizeof(*l->w), acc_cmp);
	size_t bad = 0;
	for (size_t k = 0; k < l->n; k++) {
		/* the newest write of each key: the last of its run */
		if (k + 1 < l->n && strcmp(l->w[k + 1].key, l->w[k].key) == 0)
			continue;
		const struct accepted *a = &l->w[k];
		for (size_t i = 0; i < gv_cluster_size(c); i++) {
			if (!gv_cluster_up(c, i))
				continue;
			const gv_store *s = gv_node_store(gv_cluster_node(c, i));
			gv_record r;
			int rc = gv_store_lookup(s, a->key, a->klen, &r);
			bool ok = rc == 0 ? gv_version_cmp(&r.ver, &a->ver) >= 0
					  : a->del;
			if (!ok && bad++ < 5)
				printf("# node %zu: %s is %s\n", i, a->key,
				       rc ? "missing" : "older than accepted");
		}
	}
	return bad;
}

struct cmp_ctx {
	const gv_store *other;
	size_t missing;
};

static inline int
cmp_visit(void *ud, const gv_record *r)
{
	struct cmp_ctx *x = ud;
	gv_record o;
	if (gv_store_lookup(x->other, r->key, r->klen, &o) ||
	    gv_version_cmp(&o.ver, &r->ver) != 0 || o.tombstone != r->tombstone)
		x->missing++;
	return 0;
}

/* Every live node holds exactly the entries of the first live node. */
static inline size_t
check_identical(gv_cluster *c)
{
	size_t first = SIZE_MAX, bad = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		if (!gv_cluster_up(c, i))
			continue;
		if (first == SIZE_MAX) {
			first = i;
			continue;
		}
		const gv_store *a = gv_node_store(gv_cluster_node(c, first));
		const gv_store *b = gv_node_store(gv_cluster_node(c, i));
		struct cmp_ctx x = {b, 0};
		gv_store_foreach(a, cmp_visit, &x);
		if (x.missing || a->count != b->count) {
			if (bad++ < 5)
				printf("# node %zu differs from node %zu: %zu "
				       "entries, %zu vs %zu\n",
				       i, first, x.missing, a->count, b->count);
		}
	}
	return bad;
}

#endif
