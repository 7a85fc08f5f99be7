/* SPDX-License-Identifier: MIT */
/*
 * persist.c - grapevined --dir: a snapshot and an append-only log per key
 * shard, loaded at start (docs/persistence.md; the format is
 * persist_fmt.h).
 *
 * Files, in DIR: shard-S-G.snap (the snapshot of generation G of key
 * shard S) and shard-S-G.log (the log of generation G), written with mode
 * 600. Every change of a shard's store (a local write, a merge from
 * gossip, expiry, a collected tombstone: the node's journal, node.h) is a
 * record appended to the shard's current log, written by the shard's
 * thread before the replies of the batch or turn that made it go out
 * (gvd_persist_commit; with appendfsync always also synced then;
 * everysec: synced by the persistence thread every second).
 *
 * A snapshot is taken without stopping the shard, a slice per turn
 * (at most SLICE_BYTES or SLICE_NS): it begins by starting log G+1, then
 * walks the store by key-hash buckets (an entry that does not change is
 * met exactly once, however the table moves) into shard-S-G+1.snap.tmp;
 * the persistence thread syncs it, renames it into place, syncs DIR and
 * removes the files of older generations. The walk is not one instant's
 * picture, and need not be: every change after log G+1 began is in log
 * G+1, loaded after the snapshot, and a record installs its entry
 * exactly as it was (no merge rule), so the last record of a key decides
 * it, and a key no record of the log names is what the snapshot holds.
 *
 * Loading (before the threads start): the newest snapshot of each shard,
 * then its logs of that generation and later, in order. An incomplete
 * last record (a crash in mid-write) is dropped with a log line; any
 * other damage refuses the start with the file, offset and reason, or
 * with --load-damaged renames the file to FILE.damaged and goes on. A
 * failed write (a full disk) is counted and retried a second later; the
 * data stays served from memory; past LOG_HOLD unwritten bytes the log
 * is incomplete and the next snapshot (taken as soon as writes succeed)
 * makes the files whole again.
 *
 * This file: the logs, the snapshots and the persistence thread;
 * persist_load.c loads and starts, persist_cmd.c answers the commands.
 */
#define _GNU_SOURCE
#include "server/persist_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

int64_t
gvp__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
gvp__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
gvp__fsync_policy(const char *s)
{
	return !strcmp(s, "always") ? FS_ALWAYS
	       : !strcmp(s, "no")   ? FS_NO
				    : FS_EVERYSEC;
}

void
gvp__name_of(char *out, size_t len, unsigned shard, uint64_t gen, const char *ext)
{
	snprintf(out, len, "shard-%u-%llu.%s", shard, (unsigned long long)gen,
		 ext);
}

/* Write all of p[0..n) (a regular file: short only on error). */
bool
gvp__parse_name(const char *name, unsigned *shard, uint64_t *gen, bool *snap)
{
	unsigned s;
	unsigned long long g;
	char ext[8];
	int used = 0;
	if (sscanf(name, "shard-%u-%llu.%4[a-z]%n", &s, &g, ext, &used) != 3 ||
	    name[used] || (strcmp(ext, "snap") && strcmp(ext, "log")))
		return false;
	*shard = s;
	*gen = g;
	*snap = !strcmp(ext, "snap");
	return true;
}

int
gvp__write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint64_t
self_id(gv_daemon *d)
{
	gv_member_info me;
	gv_node_self(d->shards[0].node, &me);
	return me.id;
}

/* A new file of ours in DIR, mode 600, not through a link, with its
 * header. Returns the descriptor or -errno. */
int
gvp__create_file(struct gvd_persist *p, const char *name, int kind, unsigned shard,
	    uint64_t gen)
{
	(void)unlinkat(p->dfd, name, 0); /* a leftover of a failed attempt */
	int fd = openat(p->dfd, name,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
				(kind == GVP_KIND_LOG ? O_APPEND : 0),
			0600);
	if (fd < 0)
		return -errno;
	uint8_t h[GVP_HDR_LEN];
	struct gvp_header hd = {.kind = (uint8_t)kind,
				.version = GVP_VERSION,
				.shard = (uint16_t)shard,
				.shards = (uint16_t)p->d->k,
				.gen = gen,
				.node = self_id(p->d),
				.created_ms = (uint64_t)gvp__wall_ms()};
	gvp_header_encode(&hd, h);
	int rc = gvp__write_all(fd, h, sizeof(h));
	if (rc) {
		close(fd);
		(void)unlinkat(p->dfd, name, 0);
		return rc;
	}
	return fd;
}

/* ------------------------------------------------------------ the log */

static void
write_failed(struct pshard *ps, int rc, gv_time now)
{
	struct gvd_persist *p = ps->p;
	atomic_fetch_add(&p->write_errors, 1);
	atomic_store(&p->write_errno, -rc);
	atomic_store(&p->write_status, 1);
	ps->err_at = now;
	if (!ps->failing)
		gv_log(GV_LOG_ERROR, "cannot write the log; writes are kept "
		       "in memory and retried every second",
		       "shard=%u error=%s", ps->idx, strerror(-rc));
	ps->failing = true;
	/* whole records only: cut what a short write left */
	if (ps->lfd >= 0 && ftruncate(ps->lfd, (off_t)ps->good))
		ps->dropped = true; /* cannot tell what is there */
}

static void
write_ok(struct pshard *ps, size_t n)
{
	ps->good += n;
	atomic_fetch_add_explicit(&ps->written, n, memory_order_release);
	atomic_store_explicit(&ps->log_size, ps->good, memory_order_relaxed);
	if (ps->failing) {
		ps->failing = false;
		atomic_store(&ps->p->write_status, 0);
		gv_log(GV_LOG_INFO, "the log is written again", "shard=%u",
		       ps->idx);
	}
}

/* Write the pending records. 0, or -errno (kept for a retry). */
int
gvp__log_flush(struct pshard *ps, gv_time now)
{
	if (!ps->len)
		return 0;
	if (ps->lfd < 0)
		return -EBADF;
	int rc = gvp__write_all(ps->lfd, ps->buf, ps->len);
	if (rc) {
		write_failed(ps, rc, now);
		return rc;
	}
	write_ok(ps, ps->len);
	ps->len = 0;
	if (ps->cap > (4u << 20)) {
		free(ps->buf);
		ps->buf = NULL;
		ps->cap = 0;
	}
	return 0;
}

static void
lose_pending(struct pshard *ps)
{
	if (!ps->dropped)
		gv_log(GV_LOG_ERROR, "log records lost (the disk refuses "
		       "them); the next snapshot makes the files whole",
		       "shard=%u", ps->idx);
	ps->dropped = true;
	ps->drops++;
	atomic_fetch_add(&ps->p->dropped_records, 1);
	ps->len = 0;
}

static bool
reserve(struct pshard *ps, size_t need)
{
	if (ps->len + need <= ps->cap)
		return true;
	if (ps->len + need > LOG_HOLD && ps->failing) {
		lose_pending(ps);
		if (need > LOG_HOLD)
			return false;
	}
	size_t cap = ps->cap ? ps->cap : 65536;
	while (cap < ps->len + need)
		cap *= 2;
	uint8_t *b = realloc(ps->buf, cap);
	if (!b)
		return false;
	ps->buf = b;
	ps->cap = cap;
	return true;
}

/* A big entry: what is pending first, then it from where it lies. */
static void
log_big(struct pshard *ps, const gv_record *r)
{
	gv_time now = gv_io_now();
	if (ps->failing || gvp__log_flush(ps, now)) {
		lose_pending(ps);
		return;
	}
	uint8_t head[GVP_ENTRY_HEAD + GV_MAX_KEY], tail[4];
	size_t hn = gvp_entry_head(r, head, tail);
	struct iovec iov[3] = {{head, hn},
			       {(void *)r->val, r->vlen},
			       {tail, 4}};
	size_t total = hn + r->vlen + 4, done = 0;
	while (done < total) {
		ssize_t w = writev(ps->lfd, iov, 3);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			write_failed(ps, w < 0 ? -errno : -EIO, now);
			lose_pending(ps);
			return;
		}
		done += (size_t)w;
		for (int i = 0; i < 3; i++) {
			size_t k = (size_t)w < iov[i].iov_len ? (size_t)w
							      : iov[i].iov_len;
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			w -= (ssize_t)k;
		}
	}
	write_ok(ps, total);
}

/* The node's gvp__journal (node.h): on the shard's thread. */
void
gvp__journal(void *ud, const gv_record *r, bool removed)
{
	struct pshard *ps = ud;
	atomic_store_explicit(
		&ps->changes,
		atomic_load_explicit(&ps->changes, memory_order_relaxed) + 1,
		memory_order_relaxed);
	if (!removed && r->vlen >= BIG_REC) {
		log_big(ps, r);
		return;
	}
	size_t need = removed ? GVP_FRAME + 3 + r->klen
			      : gvp_entry_size(r->klen, r->vlen);
	if (!reserve(ps, need)) {
		lose_pending(ps);
		return;
	}
	ps->len += removed ? gvp_remove_encode(r->key, r->klen,
					       ps->buf + ps->len)
			   : gvp_entry_encode(r, ps->buf + ps->len);
}

void
gvd_persist_commit(struct worker *w)
{
	struct gvd_persist *p = w->d->persist;
	if (!p)
		return;
	bool sync = atomic_load_explicit(&p->fsync, memory_order_relaxed) ==
		    FS_ALWAYS;
	for (unsigned j = 0; j < w->nlocal; j++) {
		struct pshard *ps = &p->ps[w->local[j]];
		/* every policy: the records are the kernel's before the
		 * replies go (a kill -9 loses no acknowledged write); a
		 * failing disk is retried by the turn, once a second */
		if (ps->len && !ps->failing)
			(void)gvp__log_flush(ps, gv_io_now());
		if (!sync || ps->len || ps->lfd < 0 ||
		    atomic_load_explicit(&ps->written, memory_order_relaxed) ==
			    atomic_load_explicit(&ps->synced,
						 memory_order_relaxed))
			continue; /* a failed write is counted; kept in memory */
		uint64_t upto = atomic_load(&ps->written);
		if (fdatasync(ps->lfd) == 0)
			atomic_store(&ps->synced, upto);
		else
			write_failed(ps, -errno, gv_io_now());
	}
}

/* ----------------------------------------------------- the snapshots */

static void
snap_abort(struct pshard *ps, const char *what, int rc)
{
	snprintf(ps->why, sizeof(ps->why), "%s: %s", what,
		 rc ? strerror(-rc) : "failed");
	ps->sfail = true;
}

/* Begin a snapshot of this shard: log G+1 first, then the file. */
static void
snap_begin(struct pshard *ps, gv_time now)
{
	struct gvd_persist *p = ps->p;
	char name[64];
	ps->on = true;
	ps->sfail = false;
	ps->why[0] = 0;
	ps->bucket = 0;
	ps->entries = ps->sbytes = 0;
	ps->slen = 0;
	ps->sfd = ps->old_lfd = -1;
	atomic_store(&ps->fin, FIN_NONE);
	if (gvp__log_flush(ps, now)) {
		snap_abort(ps, "cannot write the log", -EIO);
		return;
	}
	uint64_t gen = ps->gen + 1;
	gvp__name_of(name, sizeof(name), ps->idx, gen, "log");
	int fd = gvp__create_file(p, name, GVP_KIND_LOG, ps->idx, gen);
	if (fd < 0) {
		snap_abort(ps, "cannot start a log", fd);
		return;
	}
	char tmp[80];
	gvp__name_of(name, sizeof(name), ps->idx, gen, "snap");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int sfd = gvp__create_file(p, tmp, GVP_KIND_SNAP, ps->idx, gen);
	if (sfd < 0) {
		close(fd);
		gvp__name_of(name, sizeof(name), ps->idx, gen, "log");
		(void)unlinkat(p->dfd, name, 0);
		snap_abort(ps, "cannot create the snapshot", sfd);
		return;
	}
	pthread_mutex_lock(&ps->mu);
	ps->old_lfd = ps->lfd;
	ps->lfd = fd;
	ps->rot_written = atomic_load(&ps->written);
	pthread_mutex_unlock(&ps->mu);
	ps->gen = ps->sgen = gen;
	ps->good = GVP_HDR_LEN;
	atomic_store(&ps->log_size, ps->good);
	ps->sfd = sfd;
	ps->sbytes = GVP_HDR_LEN;
	ps->changes_at = atomic_load(&ps->changes);
	/* records lost before now are in the snapshot's walk (the store
	 * holds them) and whatever follows in the new log */
	ps->drops_at = ps->drops;
}

static bool
sreserve(struct pshard *ps, size_t need)
{
	if (ps->slen + need <= ps->scap)
		return true;
	size_t cap = ps->scap ? ps->scap : SLICE_BYTES * 2;
	while (cap < ps->slen + need)
		cap *= 2;
	uint8_t *b = realloc(ps->sbuf, cap);
	if (!b)
		return false;
	ps->sbuf = b;
	ps->scap = cap;
	return true;
}

static int
snap_out(struct pshard *ps)
{
	if (!ps->slen)
		return 0;
	int rc = gvp__write_all(ps->sfd, ps->sbuf, ps->slen);
	if (rc)
		return rc;
	ps->sbytes += ps->slen;
	ps->slen = 0;
	return 0;
}

static int
snap_visit(void *ud, const gv_record *r)
{
	struct pshard *ps = ud;
	ps->entries++;
	if (r->vlen >= BIG_REC) {
		int rc = snap_out(ps);
		if (rc)
			return rc;
		uint8_t head[GVP_ENTRY_HEAD + GV_MAX_KEY], tail[4];
		size_t hn = gvp_entry_head(r, head, tail);
		if ((rc = gvp__write_all(ps->sfd, head, hn)) ||
		    (rc = gvp__write_all(ps->sfd, r->val, r->vlen)) ||
		    (rc = gvp__write_all(ps->sfd, tail, 4)))
			return rc;
		ps->sbytes += hn + r->vlen + 4;
		return 0;
	}
	if (!sreserve(ps, gvp_entry_size(r->klen, r->vlen)))
		return -ENOMEM;
	ps->slen += gvp_entry_encode(r, ps->sbuf + ps->slen);
	return 0;
}

/* The snapshot's last records: members (shard 0) and the end. */
static int
snap_end(struct pshard *ps)
{
	struct gvd_persist *p = ps->p;
	if (ps->idx == 0) {
		gv_member_info *m = malloc(MAX_MEMBERS * sizeof(*m));
		if (!m)
			return -ENOMEM;
		size_t n = gv_node_members(p->d->shards[0].node, m,
					   MAX_MEMBERS);
		if (n > MAX_MEMBERS)
			n = MAX_MEMBERS;
		for (size_t i = 0; i < n; i++) {
			if (m[i].state > 1) /* alive or suspect only */
				continue;
			if (!sreserve(ps, GVP_FRAME + 20)) {
				free(m);
				return -ENOMEM;
			}
			ps->slen += gvp_member_encode(&m[i].addr,
						      ps->sbuf + ps->slen);
		}
		free(m);
	}
	if (!sreserve(ps, GVP_FRAME + 9))
		return -ENOMEM;
	ps->slen += gvp_end_encode(ps->entries, ps->sbuf + ps->slen);
	return snap_out(ps);
}

/* One slice of the walk (all of it with whole); 1 when it is done. */
static int
snap_slice(struct pshard *ps, bool whole)
{
	struct gvd_persist *p = ps->p;
	const gv_store *st = gv_node_store(p->d->shards[ps->idx].node);
	uint64_t t0 = gvp__mono_ns();
	while (ps->bucket < NBUCKETS) {
		int rc = gv_store_foreach_bucket(st, ps->bucket, BUCKET_BITS,
						 snap_visit, ps);
		if (rc) {
			snap_abort(ps, "cannot write the snapshot", rc);
			return 1;
		}
		ps->bucket++;
		if (ps->slen >= SLICE_BYTES && (rc = snap_out(ps))) {
			snap_abort(ps, "cannot write the snapshot", rc);
			return 1;
		}
		if (!whole && gvp__mono_ns() - t0 > SLICE_NS)
			break;
	}
	int rc = ps->bucket == NBUCKETS ? snap_end(ps) : snap_out(ps);
	uint64_t took = gvp__mono_ns() - t0;
	if (!whole && took > atomic_load(&p->pause_max_ns))
		atomic_store(&p->pause_max_ns, took);
	if (rc) {
		snap_abort(ps, "cannot write the snapshot", rc);
		return 1;
	}
	return ps->bucket == NBUCKETS;
}

/* The files of shard idx in DIR older than gen (done with). */
static void
remove_older(struct gvd_persist *p, unsigned idx, uint64_t gen)
{
	int fd = dup(p->dfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(dir);
	struct dirent *e;
	while ((e = readdir(dir))) {
		unsigned s;
		uint64_t g;
		bool snap;
		if (!gvp__parse_name(e->d_name, &s, &g, &snap) || s != idx ||
		    g >= gen)
			continue;
		(void)unlinkat(p->dfd, e->d_name, 0);
	}
	closedir(dir);
}

/* Make the snapshot durable and current (the persistence thread, or the
 * shard's for SAVE). */
static void
snap_finish(struct pshard *ps)
{
	struct gvd_persist *p = ps->p;
	char name[64], tmp[80];
	gvp__name_of(name, sizeof(name), ps->idx, ps->sgen, "snap");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	bool ok = !ps->sfail;
	if (ok && fdatasync(ps->sfd)) {
		snap_abort(ps, "cannot sync the snapshot", -errno);
		ok = false;
	}
	close(ps->sfd);
	ps->sfd = -1;
	if (ok && renameat(p->dfd, tmp, p->dfd, name)) {
		snap_abort(ps, "cannot rename the snapshot", -errno);
		ok = false;
	}
	if (!ok)
		(void)unlinkat(p->dfd, tmp, 0);
	if (ok && fsync(p->dfd)) {
		snap_abort(ps, "cannot sync the directory", -errno);
		ok = false;
	}
	if (ps->old_lfd >= 0) {
		/* the old log's bytes are on disk: count them synced if the
		 * new log's sync has not passed them yet */
		if (fdatasync(ps->old_lfd) == 0) {
			pthread_mutex_lock(&ps->mu);
			if (atomic_load(&ps->synced) < ps->rot_written)
				atomic_store(&ps->synced, ps->rot_written);
			pthread_mutex_unlock(&ps->mu);
		}
		close(ps->old_lfd);
		ps->old_lfd = -1;
	}
	if (ok) {
		remove_older(p, ps->idx, ps->sgen);
		(void)fsync(p->dfd);
	}
	atomic_store(&ps->fin, ok ? FIN_OK : FIN_FAILED);
}

/* The shard's part of a cycle is over: the last one closes it. */
void
gvp__snap_done(struct pshard *ps)
{
	struct gvd_persist *p = ps->p;
	bool ok = atomic_load(&ps->fin) == FIN_OK && !ps->sfail;
	if (ps->sfd >= 0) { /* failed before the finisher */
		char name[64], tmp[80];
		close(ps->sfd);
		ps->sfd = -1;
		gvp__name_of(name, sizeof(name), ps->idx, ps->sgen, "snap");
		snprintf(tmp, sizeof(tmp), "%s.tmp", name);
		(void)unlinkat(p->dfd, tmp, 0);
	}
	if (ps->old_lfd >= 0) {
		close(ps->old_lfd);
		ps->old_lfd = -1;
	}
	ps->on = false;
	atomic_store(&ps->fin, FIN_NONE);
	if (ok) {
		if (ps->drops == ps->drops_at)
			ps->dropped = false; /* the files are whole again */
		atomic_store(&ps->base_size, ps->sbytes);
		atomic_fetch_sub(&ps->changes, ps->changes_at);
		gv_log(GV_LOG_INFO, "snapshot saved", "shard=%u entries=%llu "
		       "bytes=%llu", ps->idx, (unsigned long long)ps->entries,
		       (unsigned long long)ps->sbytes);
	} else {
		atomic_store(&p->failed, true);
		gv_log(GV_LOG_ERROR, "snapshot failed", "shard=%u reason=\"%s\"",
		       ps->idx, ps->why);
	}
	free(ps->sbuf);
	ps->sbuf = NULL;
	ps->scap = ps->slen = 0;
	if (atomic_fetch_sub(&p->inprog, 1) != 1)
		return;
	/* the last shard of the cycle */
	bool failed = atomic_exchange(&p->failed, false);
	int kind = atomic_load(&p->kind);
	int64_t took = (gvp__wall_ms() - atomic_load(&p->cycle_start_ms)) / 1000;
	atomic_store(&p->last_cycle_s, took);
	if (failed) {
		atomic_fetch_add(&p->save_errors, 1);
		atomic_store(&p->last_status, 1);
		if (kind == K_REWRITE)
			atomic_store(&p->last_rw_status, 1);
	} else {
		atomic_store(&p->lastsave, (int64_t)time(NULL));
		atomic_store(&p->last_status, 0);
		atomic_store(&p->last_rw_status, 0);
		atomic_fetch_add(kind == K_REWRITE ? &p->rewrites : &p->saves,
				 1);
	}
	if (atomic_exchange(&p->scheduled, false))
		(void)gvp__try_cycle(p, K_REWRITE, true);
}

/* Begin a cycle on every shard, if none runs. Any thread. */
bool
gvp__try_cycle(struct gvd_persist *p, int kind, bool wake)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong(&p->inprog, &zero, (int)p->d->k))
		return false;
	atomic_store(&p->kind, kind);
	atomic_store(&p->failed, false);
	atomic_store(&p->cycle_start_ms, gvp__wall_ms());
	for (unsigned i = 0; i < p->d->k; i++)
		atomic_store(&p->ps[i].want, true);
	if (wake)
		for (unsigned t = 0; t < p->d->nthreads; t++)
			gv_shard_wake(p->d->workers[t].rt);
	return true;
}

void
gvd_persist_iter(struct worker *w, gv_time now)
{
	struct gvd_persist *p = w->d->persist;
	if (!p)
		return;
	for (unsigned j = 0; j < w->nlocal; j++) {
		struct pshard *ps = &p->ps[w->local[j]];
		if (ps->len && (!ps->failing || now - ps->err_at >= 1000000))
			(void)gvp__log_flush(ps, now);
		if (!ps->on && atomic_load_explicit(&ps->want,
						    memory_order_acquire)) {
			atomic_store(&ps->want, false);
			snap_begin(ps, now);
		}
		if (!ps->on) {
			/* a log that lost records, writable again: a
			 * snapshot mends it (a failed one is retried 5 s on) */
			if (ps->dropped && !ps->failing &&
			    (!ps->mend_at || now - ps->mend_at >= 5000000) &&
			    gvp__try_cycle(p, K_AUTO, true))
				ps->mend_at = now;
			continue;
		}
		int fin = atomic_load_explicit(&ps->fin, memory_order_acquire);
		if (fin == FIN_NONE && (ps->sfail || snap_slice(ps, false))) {
			if (ps->sfail) {
				atomic_store(&ps->fin, FIN_FAILED);
			} else {
				atomic_store(&ps->fin, FIN_ASKED);
				pthread_mutex_lock(&p->mu);
				pthread_cond_signal(&p->cv);
				pthread_mutex_unlock(&p->mu);
			}
			fin = atomic_load(&ps->fin);
		}
		if (fin == FIN_OK || fin == FIN_FAILED)
			gvp__snap_done(ps);
	}
}

void
gvd_persist_save_sub(struct shard *sh, struct sub *s, gv_time now)
{
	struct gvd_persist *p = sh->d->persist;
	struct pshard *ps = &p->ps[sh->idx];
	if (ps->on) { /* cannot be: the front end took the cycle */
		s->rc = GV_EFULL;
		return;
	}
	atomic_store(&ps->want, false);
	snap_begin(ps, now);
	if (!ps->sfail)
		while (!snap_slice(ps, true))
			;
	if (!ps->sfail)
		snap_finish(ps);
	else
		atomic_store(&ps->fin, FIN_FAILED);
	bool ok = atomic_load(&ps->fin) == FIN_OK;
	gvp__snap_done(ps);
	s->rc = ok ? 0 : GVD_ESAVE;
}

/* ------------------------------------------- the persistence thread */

static void
check_points(struct gvd_persist *p)
{
	if (atomic_load(&p->inprog))
		return;
	uint64_t changes = 0, logs = 0, bases = 0;
	for (unsigned i = 0; i < p->d->k; i++) {
		changes += atomic_load(&p->ps[i].changes);
		logs += atomic_load(&p->ps[i].log_size);
		bases += atomic_load(&p->ps[i].base_size);
	}
	int64_t since = (int64_t)time(NULL) - atomic_load(&p->lastsave);
	pthread_mutex_lock(&p->mu);
	bool due = false;
	for (int i = 0; i < p->npoints; i++)
		due |= since >= (int64_t)p->secs[i] && changes >= p->chg[i] &&
		       changes > 0;
	pthread_mutex_unlock(&p->mu);
	if (due)
		(void)gvp__try_cycle(p, K_SAVE, true);
	else if (logs >= REWRITE_MIN && logs >= 2 * bases)
		(void)gvp__try_cycle(p, K_REWRITE, true);
}

void *
gvp__main(void *arg)
{
	struct gvd_persist *p = arg;
	uint64_t last_sync = gvp__mono_ns();
	(void)pthread_setname_np(pthread_self(), "gv-persist");
	while (!atomic_load(&p->stop)) {
		pthread_mutex_lock(&p->mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		pthread_mutex_unlock(&p->mu);
		for (unsigned i = 0; i < p->d->k; i++) {
			struct pshard *ps = &p->ps[i];
			if (atomic_load_explicit(&ps->fin,
						 memory_order_acquire) ==
			    FIN_ASKED) {
				snap_finish(ps);
				gv_shard_wake(p->d->shards[i].w->rt);
			}
		}
		uint64_t now = gvp__mono_ns();
		if (now - last_sync >= 1000000000ull) {
			last_sync = now;
			if (atomic_load(&p->fsync) == FS_EVERYSEC)
				for (unsigned i = 0; i < p->d->k; i++) {
					struct pshard *ps = &p->ps[i];
					pthread_mutex_lock(&ps->mu);
					uint64_t upto = atomic_load_explicit(
						&ps->written,
						memory_order_acquire);
					if (ps->lfd >= 0 &&
					    upto != atomic_load(&ps->synced) &&
					    fdatasync(ps->lfd) == 0)
						atomic_store(&ps->synced, upto);
					pthread_mutex_unlock(&ps->mu);
				}
			check_points(p);
		}
	}
	return NULL;
}
