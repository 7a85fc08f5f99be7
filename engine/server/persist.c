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
 * thread once per turn of its loop (and, with appendfsync always, synced
 * before the replies of the turn's writes go out; everysec: synced by the
 * persistence thread every second).
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
 */
#define _GNU_SOURCE
#include "server/persist.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "server/commands.h"
#include "server/log.h"
#include "server/persist_fmt.h"

enum { FS_ALWAYS, FS_EVERYSEC, FS_NO };
enum { K_SAVE, K_REWRITE, K_AUTO };
enum { FIN_NONE, FIN_ASKED, FIN_OK, FIN_FAILED };

#define BUCKET_BITS 12
#define NBUCKETS (1u << BUCKET_BITS)
#define SLICE_BYTES (512u << 10)
#define SLICE_NS 2000000ull     /* 2 ms of a shard's turn */
#define BIG_REC (1u << 20)      /* written from where it lies */
#define LOG_HOLD (64u << 20)    /* unwritten bytes kept after a failure */
#define REWRITE_MIN (64ull << 20) /* auto rewrite: log at least this */
#define MAX_MEMBERS 4096

struct pshard {
	struct gvd_persist *p;
	unsigned idx;
	/* the log: the shard's thread writes; lfd is swapped under mu,
	 * which the persistence thread holds while it syncs */
	pthread_mutex_t mu;
	int lfd;
	uint64_t gen;
	uint64_t good;   /* bytes of the log file that are whole records */
	uint8_t *buf;    /* records not written yet */
	size_t len, cap;
	bool dropped;    /* records were lost: incomplete until a snapshot */
	bool failing;    /* the last write failed */
	gv_time err_at;
	_Atomic uint64_t written, synced; /* bytes, over all generations */
	_Atomic uint64_t log_size, base_size;
	_Atomic uint64_t changes; /* since the last snapshot began */
	/* a snapshot (the shard's thread, fin with the finisher) */
	_Atomic bool want;
	bool on;
	int sfd, old_lfd;
	uint64_t sgen;
	uint32_t bucket;
	uint64_t entries, sbytes;
	uint8_t *sbuf;
	size_t slen, scap;
	bool sfail;
	uint64_t changes_at;
	uint64_t rot_written; /* written when the old log was left */
	_Atomic int fin;
	char why[200];
};

struct gvd_persist {
	gv_daemon *d;
	char dir[1024];
	int dfd, lockfd;
	_Atomic int fsync; /* FS_* */
	pthread_mutex_t mu; /* save points; the thread's sleep */
	pthread_cond_t cv;
	uint64_t secs[GV_SAVE_POINTS], chg[GV_SAVE_POINTS];
	int npoints;
	char save[256];
	pthread_t th;
	bool th_on;
	_Atomic bool stop;
	struct pshard ps[MAX_SHARDS];
	/* the snapshot of all shards at once ("a cycle") */
	_Atomic int inprog;   /* shards still in it */
	_Atomic int kind;     /* K_* of the one running */
	_Atomic bool failed;  /* a shard's part failed */
	_Atomic bool scheduled; /* BGREWRITEAOF during a BGSAVE */
	_Atomic int64_t lastsave, cycle_start_ms, last_cycle_s;
	_Atomic int last_status, last_rw_status; /* 0 ok, 1 err */
	_Atomic uint64_t saves, rewrites, save_errors;
	_Atomic uint64_t write_errors, dropped_records, pause_max_ns;
	_Atomic int write_status;
	/* what the start loaded */
	gv_addr seeds[64];
	size_t nseeds;
	uint64_t loaded, loaded_expired, load_ms, log_records, torn;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
fsync_policy(const char *s)
{
	return !strcmp(s, "always") ? FS_ALWAYS
	       : !strcmp(s, "no")   ? FS_NO
				    : FS_EVERYSEC;
}

static void
name_of(char *out, size_t len, unsigned shard, uint64_t gen, const char *ext)
{
	snprintf(out, len, "shard-%u-%llu.%s", shard, (unsigned long long)gen,
		 ext);
}

/* Write all of p[0..n) (a regular file: short only on error). */
static int
write_all(int fd, const void *p, size_t n)
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
static int
create_file(struct gvd_persist *p, const char *name, int kind, unsigned shard,
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
				.created_ms = (uint64_t)wall_ms()};
	gvp_header_encode(&hd, h);
	int rc = write_all(fd, h, sizeof(h));
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
static int
log_flush(struct pshard *ps, gv_time now)
{
	if (!ps->len)
		return 0;
	if (ps->lfd < 0)
		return -EBADF;
	int rc = write_all(ps->lfd, ps->buf, ps->len);
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
	if (ps->failing || log_flush(ps, now)) {
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

/* The node's journal (node.h): on the shard's thread. */
static void
journal(void *ud, const gv_record *r, bool removed)
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
			(void)log_flush(ps, gv_io_now());
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
	if (log_flush(ps, now)) {
		snap_abort(ps, "cannot write the log", -EIO);
		return;
	}
	uint64_t gen = ps->gen + 1;
	name_of(name, sizeof(name), ps->idx, gen, "log");
	int fd = create_file(p, name, GVP_KIND_LOG, ps->idx, gen);
	if (fd < 0) {
		snap_abort(ps, "cannot start a log", fd);
		return;
	}
	char tmp[80];
	name_of(name, sizeof(name), ps->idx, gen, "snap");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int sfd = create_file(p, tmp, GVP_KIND_SNAP, ps->idx, gen);
	if (sfd < 0) {
		close(fd);
		name_of(name, sizeof(name), ps->idx, gen, "log");
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
	if (ps->dropped) /* this log and the snapshot will be whole */
		ps->dropped = false;
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
	int rc = write_all(ps->sfd, ps->sbuf, ps->slen);
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
		if ((rc = write_all(ps->sfd, head, hn)) ||
		    (rc = write_all(ps->sfd, r->val, r->vlen)) ||
		    (rc = write_all(ps->sfd, tail, 4)))
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
	uint64_t t0 = mono_ns();
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
		if (!whole && mono_ns() - t0 > SLICE_NS)
			break;
	}
	int rc = ps->bucket == NBUCKETS ? snap_end(ps) : snap_out(ps);
	uint64_t took = mono_ns() - t0;
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
		unsigned long long g;
		char ext[8];
		int used = 0;
		if (sscanf(e->d_name, "shard-%u-%llu.%4[a-z]%n", &s, &g, ext,
			   &used) != 3 ||
		    e->d_name[used] || s != idx || g >= gen ||
		    (strcmp(ext, "snap") && strcmp(ext, "log")))
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
	name_of(name, sizeof(name), ps->idx, ps->sgen, "snap");
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

static void start_cycle(struct gvd_persist *p, int kind, bool wake);

/* The shard's part of a cycle is over: the last one closes it. */
static void
snap_done(struct pshard *ps)
{
	struct gvd_persist *p = ps->p;
	bool ok = atomic_load(&ps->fin) == FIN_OK && !ps->sfail;
	if (ps->sfd >= 0) { /* failed before the finisher */
		char name[64], tmp[80];
		close(ps->sfd);
		ps->sfd = -1;
		name_of(name, sizeof(name), ps->idx, ps->sgen, "snap");
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
	int64_t took = (wall_ms() - atomic_load(&p->cycle_start_ms)) / 1000;
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
		start_cycle(p, K_REWRITE, true);
}

/* Begin a cycle on every shard, if none runs. Any thread. */
static bool
try_cycle(struct gvd_persist *p, int kind, bool wake)
{
	int zero = 0;
	if (!atomic_compare_exchange_strong(&p->inprog, &zero, (int)p->d->k))
		return false;
	atomic_store(&p->kind, kind);
	atomic_store(&p->failed, false);
	atomic_store(&p->cycle_start_ms, wall_ms());
	for (unsigned i = 0; i < p->d->k; i++)
		atomic_store(&p->ps[i].want, true);
	if (wake)
		for (unsigned t = 0; t < p->d->nthreads; t++)
			gv_shard_wake(p->d->workers[t].rt);
	return true;
}

static void
start_cycle(struct gvd_persist *p, int kind, bool wake)
{
	(void)try_cycle(p, kind, wake);
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
			(void)log_flush(ps, now);
		if (!ps->on && atomic_load_explicit(&ps->want,
						    memory_order_acquire)) {
			atomic_store(&ps->want, false);
			snap_begin(ps, now);
		}
		if (!ps->on)
			continue;
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
			snap_done(ps);
	}
	/* a log that lost records, writable again: a snapshot mends it */
	for (unsigned j = 0; j < w->nlocal; j++) {
		struct pshard *ps = &p->ps[w->local[j]];
		if (ps->dropped && !ps->failing && !ps->on)
			start_cycle(p, K_AUTO, true);
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
	snap_done(ps);
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
		start_cycle(p, K_SAVE, true);
	else if (logs >= REWRITE_MIN && logs >= 2 * bases)
		start_cycle(p, K_REWRITE, true);
}

static void *
persist_main(void *arg)
{
	struct gvd_persist *p = arg;
	uint64_t last_sync = mono_ns();
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
		uint64_t now = mono_ns();
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

/* ------------------------------------------------------------ loading */

struct file {
	unsigned shard;
	uint64_t gen;
	bool snap;
	char name[64];
};

static int
file_cmp(const void *a, const void *b)
{
	const struct file *x = a, *y = b;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return (int)y->snap - (int)x->snap; /* a generation's snapshot first */
}

static void
on_member(void *ud, const gv_addr *a)
{
	struct gvd_persist *p = ud;
	if (p->nseeds < sizeof(p->seeds) / sizeof(p->seeds[0]))
		p->seeds[p->nseeds++] = *a;
}

/* Load one file into shard ps; 0, or -1 with err (refused). */
static int
load_file(struct gvd_persist *p, struct pshard *ps, const struct file *f,
	  char *err, size_t errlen)
{
	gv_node *n = p->d->shards[ps->idx].node;
	int fd = openat(p->dfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s: cannot open: %s", p->dir,
			 f->name, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "%s/%s: %s", p->dir, f->name,
			 strerror(errno));
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	const uint8_t *m = NULL;
	if (size) {
		m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			snprintf(err, errlen, "%s/%s: cannot map: %s", p->dir,
				 f->name, strerror(errno));
			close(fd);
			return -1;
		}
		(void)madvise((void *)m, size, MADV_SEQUENTIAL);
	}
	const char *why = NULL;
	size_t off = 0, cut = SIZE_MAX;
	uint64_t entries = 0;
	gv_time now = gv_io_now();
	uint64_t now_ms = (uint64_t)wall_ms();
	struct gvp_header h;
	if (!f->snap && size < GVP_HDR_LEN && (size == 0 || !memcmp(m, GVP_MAGIC, size < 4 ? size : 4))) {
		cut = 0; /* created, header cut short by a crash */
		why = "incomplete header";
		goto torn;
	}
	if (gvp_header_decode(m, size, &h, &why))
		goto bad;
	if ((h.kind == GVP_KIND_SNAP) != f->snap || h.shard != f->shard ||
	    h.gen != f->gen) {
		why = "header does not match the file's name";
		goto bad;
	}
	if (h.shards != p->d->k) {
		snprintf(err, errlen,
			 "%s/%s was written with --shards %u; this node has "
			 "--shards %u (start it with --shards %u, or another "
			 "--dir)",
			 p->dir, f->name, h.shards, p->d->k, h.shards);
		goto out_err;
	}
	off = GVP_HDR_LEN;
	struct gvp_load L = {.snap = f->snap, .now = now, .now_ms = now_ms,
			     .on_member = f->snap && ps->idx == 0 ? on_member
								 : NULL,
			     .ud = p};
	int rc = gvp_load_records(n, m + off, size - off, off, &L);
	entries = L.entries;
	p->loaded_expired += L.expired;
	if (!f->snap)
		p->log_records += L.records;
	off = L.off;
	why = L.why;
	if (rc == GVP_TORN) {
		cut = L.off;
		goto torn;
	}
	if (rc == GVP_NOROOM) {
		snprintf(err, errlen,
			 "%s/%s: offset %zu: the data does not fit in "
			 "--max-memory (%s)",
			 p->dir, f->name, off, L.why);
		goto out_err;
	}
	if (rc != GVP_OK)
		goto bad;
	p->loaded += entries;
	if (m)
		munmap((void *)m, size);
	close(fd);
	return 0;
torn:
	if (f->snap) /* a snapshot is renamed into place only whole */
		goto bad;
	gv_log(GV_LOG_WARN, "dropping an incomplete last record of a log "
	       "(a crash in mid-write)", "file=%s/%s offset=%zu bytes=%zu",
	       p->dir, f->name, cut, size - cut);
	p->torn++;
	if (m)
		munmap((void *)m, size);
	close(fd);
	fd = openat(p->dfd, f->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)cut) == 0)
			(void)fsync(fd);
		close(fd);
	}
	p->loaded += entries;
	return 0;
bad:
	if (p->d->cfg.load_damaged) {
		char aside[96];
		snprintf(aside, sizeof(aside), "%s.damaged", f->name);
		gv_log(GV_LOG_ERROR, "damaged file set aside; starting with "
		       "what it held before the damage and the other files",
		       "file=%s/%s offset=%zu reason=\"%s\" aside=%s", p->dir,
		       f->name, off, why, aside);
		if (renameat(p->dfd, f->name, p->dfd, aside))
			gv_log(GV_LOG_ERROR, "cannot rename it", "error=%s",
			       strerror(errno));
		p->loaded += entries;
		if (m)
			munmap((void *)m, size);
		close(fd);
		return 0;
	}
	snprintf(err, errlen,
		 "%s/%s: offset %zu: %s; the file is damaged: refusing to "
		 "start (move it aside, or start with --load-damaged to set "
		 "it aside and load the rest)",
		 p->dir, f->name, off, why);
out_err:
	if (m)
		munmap((void *)m, size);
	close(fd);
	return -1;
}

/* Every file of DIR, sorted; the stale .tmp files removed. */
static int
list_files(struct gvd_persist *p, struct file **out, size_t *nout, char *err,
	   size_t errlen)
{
	int fd = dup(p->dfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		snprintf(err, errlen, "%s: %s", p->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct file *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		size_t l = strlen(e->d_name);
		if (l > 4 && !strcmp(e->d_name + l - 4, ".tmp") &&
		    !strncmp(e->d_name, "shard-", 6)) {
			(void)unlinkat(p->dfd, e->d_name, 0);
			continue;
		}
		unsigned s;
		unsigned long long g;
		char ext[8];
		int used = 0;
		if (sscanf(e->d_name, "shard-%u-%llu.%4[a-z]%n", &s, &g, ext,
			   &used) != 3 ||
		    e->d_name[used] || (strcmp(ext, "snap") && strcmp(ext, "log")))
			continue;
		if (s >= p->d->k) {
			snprintf(err, errlen,
				 "%s/%s is of key shard %u, and this node has "
				 "--shards %u (start it with the --shards the "
				 "files were written with, or another --dir)",
				 p->dir, e->d_name, s, p->d->k);
			free(v);
			closedir(dir);
			return -1;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct file *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(dir);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			v = nv;
		}
		v[n].shard = s;
		v[n].gen = g;
		v[n].snap = !strcmp(ext, "snap");
		if (l >= sizeof(v[n].name))
			continue;
		memcpy(v[n].name, e->d_name, l + 1);
		n++;
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), file_cmp);
	*out = v;
	*nout = n;
	return 0;
}

static int
load_all(struct gvd_persist *p, bool *any_log, char *err, size_t errlen)
{
	struct file *v;
	size_t n;
	uint64_t t0 = mono_ns();
	if (list_files(p, &v, &n, err, errlen))
		return -1;
	*any_log = false;
	for (unsigned s = 0; s < p->d->k; s++) {
		struct pshard *ps = &p->ps[s];
		/* the newest snapshot, then the logs from its generation */
		size_t first = SIZE_MAX;
		uint64_t from = 0;
		for (size_t i = 0; i < n; i++)
			if (v[i].shard == s && v[i].snap) {
				first = i;
				from = v[i].gen;
			}
		for (size_t i = 0; i < n; i++) {
			if (v[i].shard != s)
				continue;
			if (v[i].gen > ps->gen)
				ps->gen = v[i].gen;
			bool use = first == SIZE_MAX
					   ? !v[i].snap
					   : i == first ||
						     (!v[i].snap &&
						      v[i].gen >= from);
			if (!use) { /* older than the snapshot: done with */
				(void)unlinkat(p->dfd, v[i].name, 0);
				continue;
			}
			uint64_t before = p->log_records;
			if (load_file(p, ps, &v[i], err, errlen)) {
				free(v);
				return -1;
			}
			if (p->log_records != before)
				*any_log = true;
			if (v[i].snap) {
				struct stat st;
				if (fstatat(p->dfd, v[i].name, &st, 0) == 0)
					atomic_store(&ps->base_size,
						     (uint64_t)st.st_size);
			}
		}
		int rc = gv_node_load_end(p->d->shards[s].node, gv_io_now());
		if (rc) {
			snprintf(err, errlen, "loading shard %u: %s", s,
				 gv_strerror(rc));
			free(v);
			return -1;
		}
	}
	free(v);
	p->load_ms = (mono_ns() - t0) / 1000000;
	return 0;
}

/* ---------------------------------------------------------- lifecycle */

static int
mkdir_p(const char *path)
{
	char b[1024];
	snprintf(b, sizeof(b), "%s", path);
	for (char *s = b + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(b, 0700) && errno != EEXIST)
				return -1;
			*s = '/';
		}
	if (mkdir(b, 0700) && errno != EEXIST)
		return -1;
	return 0;
}

int
gvd_persist_open(gv_daemon *d, char *err, size_t errlen)
{
	if (!d->cfg.dir[0])
		return 0;
	struct gvd_persist *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->d = d;
	p->dfd = p->lockfd = -1;
	snprintf(p->dir, sizeof(p->dir), "%s", d->cfg.dir);
	atomic_store(&p->fsync, fsync_policy(d->cfg.appendfsync));
	snprintf(p->save, sizeof(p->save), "%s", d->cfg.save);
	p->npoints = gv_save_parse(p->save, p->secs, p->chg);
	if (p->npoints < 0)
		p->npoints = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (unsigned i = 0; i < d->k; i++) {
		struct pshard *ps = &p->ps[i];
		ps->p = p;
		ps->idx = i;
		ps->lfd = ps->sfd = ps->old_lfd = -1;
		pthread_mutex_init(&ps->mu, NULL);
	}
	d->persist = p;
	if (mkdir_p(p->dir)) {
		snprintf(err, errlen, "--dir %s: cannot create it: %s", p->dir,
			 strerror(errno));
		return -1;
	}
	p->dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dfd < 0) {
		snprintf(err, errlen, "--dir %s: %s", p->dir, strerror(errno));
		return -1;
	}
	p->lockfd = openat(p->dfd, "grapevined.lock",
			   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (p->lockfd < 0 || flock(p->lockfd, LOCK_EX | LOCK_NB)) {
		snprintf(err, errlen, "--dir %s: %s", p->dir,
			 p->lockfd < 0 ? strerror(errno)
				       : "another grapevined uses it");
		return -1;
	}
	bool any_log;
	if (load_all(p, &any_log, err, errlen))
		return -1;
	gv_log(GV_LOG_INFO, "data loaded", "dir=%s entries=%llu "
	       "log_records=%llu expired=%llu torn=%llu ms=%llu", p->dir,
	       (unsigned long long)p->loaded,
	       (unsigned long long)p->log_records,
	       (unsigned long long)p->loaded_expired,
	       (unsigned long long)p->torn, (unsigned long long)p->load_ms);
	/* a new log for each shard, after every generation on disk */
	for (unsigned i = 0; i < d->k; i++) {
		struct pshard *ps = &p->ps[i];
		char name[64];
		ps->gen++;
		name_of(name, sizeof(name), i, ps->gen, "log");
		int fd = create_file(p, name, GVP_KIND_LOG, i, ps->gen);
		if (fd < 0) {
			snprintf(err, errlen, "%s/%s: cannot create: %s",
				 p->dir, name, strerror(-fd));
			return -1;
		}
		ps->lfd = fd;
		ps->good = GVP_HDR_LEN;
		atomic_store(&ps->log_size, ps->good);
		gv_node_set_journal(d->shards[i].node, journal, ps);
	}
	(void)fsync(p->dfd);
	atomic_store(&p->lastsave, (int64_t)time(NULL));
	/* what the logs held goes into a snapshot at once: a node that
	 * restarts often does not pile up logs */
	if (any_log)
		(void)try_cycle(p, K_AUTO, false);
	if (pthread_create(&p->th, NULL, persist_main, p)) {
		snprintf(err, errlen, "cannot start the persistence thread");
		return -1;
	}
	p->th_on = true;
	return 0;
}

void
gvd_persist_close(gv_daemon *d)
{
	struct gvd_persist *p = d->persist;
	if (!p)
		return;
	if (p->th_on) {
		atomic_store(&p->stop, true);
		pthread_mutex_lock(&p->mu);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->th, NULL);
	}
	/* the threads are stopped: everything pending goes to disk */
	for (unsigned i = 0; i < d->k; i++) {
		struct pshard *ps = &p->ps[i];
		if (ps->on) { /* a snapshot cut short: the logs hold all */
			if (ps->sfd >= 0) {
				ps->sfail = true;
				snap_done(ps);
			} else if (ps->old_lfd >= 0) {
				close(ps->old_lfd);
			}
		}
		if (ps->lfd >= 0) {
			if (log_flush(ps, gv_io_now()))
				gv_log(GV_LOG_ERROR, "log records not written "
				       "at shutdown", "shard=%u", i);
			(void)fdatasync(ps->lfd);
			close(ps->lfd);
		}
		if (d->shards[i].node)
			gv_node_set_journal(d->shards[i].node, NULL, NULL);
		free(ps->buf);
		free(ps->sbuf);
		pthread_mutex_destroy(&ps->mu);
	}
	if (p->dfd >= 0) {
		(void)fsync(p->dfd);
		close(p->dfd);
	}
	if (p->lockfd >= 0)
		close(p->lockfd); /* and its lock */
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	d->persist = NULL;
}

size_t
gvd_persist_seeds(const gv_daemon *d, gv_addr *out, size_t max)
{
	const struct gvd_persist *p = d->persist;
	size_t n = 0;
	for (size_t i = 0; p && i < p->nseeds && n < max; i++)
		out[n++] = p->seeds[i];
	return n;
}

/* ------------------------------------------------- commands and INFO */

static void __attribute__((format(printf, 2, 3)))
rawf(gv_resp_buf *b, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	int l = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l > 0)
		(void)gv_resp_buf_append(b, line,
					 (size_t)l < sizeof(line) ? (size_t)l
								  : sizeof(line) - 1);
}

static void
status_reply(struct client *c, const char *s)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_simple(&r->reply, s);
}

static bool
need_dir(gv_daemon *d, struct client *c)
{
	if (d->persist)
		return true;
	gvd_error_reply(c, "ERR persistence is off: start grapevined with "
			   "--dir DIR");
	return false;
}

void
gvd_cmd_bgsave(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	if (ac > 2 || (ac == 2 && !gvd_arg_is(&av[1], "schedule")))
		return gvd_error_reply(c, "ERR syntax error");
	if (!need_dir(d, c))
		return;
	if (!try_cycle(d->persist, K_SAVE, true))
		return gvd_error_reply(c, "ERR Background save already in "
					  "progress");
	status_reply(c, "Background saving started");
}

void
gvd_cmd_bgrewriteaof(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	(void)av, (void)ac;
	if (!need_dir(d, c))
		return;
	struct gvd_persist *p = d->persist;
	if (try_cycle(p, K_REWRITE, true))
		return status_reply(c, "Background append only file "
				       "rewriting started");
	if (atomic_load(&p->kind) == K_REWRITE)
		return gvd_error_reply(c, "ERR Background append only file "
					  "rewriting already in progress");
	atomic_store(&p->scheduled, true);
	status_reply(c, "Background append only file rewriting scheduled");
}

void
gvd_cmd_save(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	if (!need_dir(d, c))
		return;
	struct gvd_persist *p = d->persist;
	int zero = 0;
	if (!atomic_compare_exchange_strong(&p->inprog, &zero, (int)d->k))
		return gvd_error_reply(c, "ERR Background save already in "
					  "progress");
	atomic_store(&p->kind, K_SAVE);
	atomic_store(&p->failed, false);
	atomic_store(&p->cycle_start_ms, wall_ms());
	struct req *r = gvd_req_new(c, C_OK, d->k);
	if (!r) {
		atomic_store(&p->inprog, 0);
		return;
	}
	for (unsigned i = 0; i < d->k; i++) {
		r->subs[i].op = OP_SAVE;
		r->subs[i].shard = (uint16_t)i;
	}
	gvd_dispatch(d, r);
}

void
gvd_cmd_lastsave(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_int(&r->reply,
				d->persist ? atomic_load(&d->persist->lastsave)
					   : (int64_t)d->started);
}

void
gvd_persist_info(gv_daemon *d, gv_resp_buf *b, uint64_t changes_no_dir)
{
	struct gvd_persist *p = d->persist;
	if (!p) {
		rawf(
			b,
			"loading:0\r\nasync_loading:0\r\n"
			"rdb_changes_since_last_save:%llu\r\n"
			"rdb_bgsave_in_progress:0\r\nrdb_last_save_time:%lld\r\n"
			"rdb_last_bgsave_status:ok\r\n"
			"rdb_last_bgsave_time_sec:-1\r\n"
			"rdb_current_bgsave_time_sec:-1\r\nrdb_saves:0\r\n"
			"aof_enabled:0\r\naof_rewrite_in_progress:0\r\n"
			"aof_rewrite_scheduled:0\r\n"
			"aof_last_rewrite_time_sec:-1\r\n"
			"aof_current_rewrite_time_sec:-1\r\n"
			"aof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n"
			"aof_last_write_status:ok\r\n"
			"module_fork_in_progress:0\r\n",
			(unsigned long long)changes_no_dir,
			(long long)d->started);
		return;
	}
	uint64_t changes = 0, logs = 0, bases = 0, pend = 0;
	for (unsigned i = 0; i < d->k; i++) {
		changes += atomic_load(&p->ps[i].changes);
		logs += atomic_load(&p->ps[i].log_size);
		bases += atomic_load(&p->ps[i].base_size);
		pend += atomic_load(&p->ps[i].written) -
			atomic_load(&p->ps[i].synced);
	}
	int inprog = atomic_load(&p->inprog);
	int kind = atomic_load(&p->kind);
	long long cur = inprog ? (wall_ms() - atomic_load(&p->cycle_start_ms)) /
					 1000
			       : -1;
	static const char *const fs[] = {"always", "everysec", "no"};
	rawf(
		b,
		"loading:0\r\nasync_loading:0\r\n"
		"rdb_changes_since_last_save:%llu\r\n"
		"rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%lld\r\n"
		"rdb_last_bgsave_status:%s\r\n"
		"rdb_last_bgsave_time_sec:%lld\r\n"
		"rdb_current_bgsave_time_sec:%lld\r\nrdb_saves:%llu\r\n"
		"rdb_last_load_keys_expired:%llu\r\n"
		"rdb_last_load_keys_loaded:%llu\r\n"
		"aof_enabled:1\r\naof_rewrite_in_progress:%d\r\n"
		"aof_rewrite_scheduled:%d\r\n"
		"aof_last_rewrite_time_sec:%lld\r\n"
		"aof_current_rewrite_time_sec:%lld\r\n"
		"aof_last_bgrewrite_status:%s\r\naof_rewrites:%llu\r\n"
		"aof_last_write_status:%s\r\n"
		"module_fork_in_progress:0\r\n"
		"aof_current_size:%llu\r\naof_base_size:%llu\r\n"
		"aof_pending_rewrite:0\r\naof_buffer_length:0\r\n"
		"aof_pending_bio_fsync:%d\r\naof_delayed_fsync:0\r\n"
		"gv_dir:%s\r\ngv_appendfsync:%s\r\n"
		"gv_aof_write_errors:%llu\r\ngv_aof_lost_records:%llu\r\n"
		"gv_aof_unsynced_bytes:%llu\r\ngv_save_errors:%llu\r\n"
		"gv_snapshot_slice_max_us:%llu\r\n"
		"gv_load_ms:%llu\r\ngv_load_log_records:%llu\r\n"
		"gv_load_torn_records:%llu\r\n",
		(unsigned long long)changes, inprog && kind != K_REWRITE,
		(long long)atomic_load(&p->lastsave),
		atomic_load(&p->last_status) ? "err" : "ok",
		(long long)atomic_load(&p->last_cycle_s),
		kind != K_REWRITE ? cur : -1LL,
		(unsigned long long)atomic_load(&p->saves),
		(unsigned long long)p->loaded_expired,
		(unsigned long long)p->loaded, inprog && kind == K_REWRITE,
		(int)atomic_load(&p->scheduled),
		(long long)atomic_load(&p->last_cycle_s),
		kind == K_REWRITE ? cur : -1LL,
		atomic_load(&p->last_rw_status) ? "err" : "ok",
		(unsigned long long)atomic_load(&p->rewrites),
		atomic_load(&p->write_status) ? "err" : "ok",
		(unsigned long long)logs, (unsigned long long)bases, pend != 0,
		p->dir, fs[atomic_load(&p->fsync)],
		(unsigned long long)atomic_load(&p->write_errors),
		(unsigned long long)atomic_load(&p->dropped_records),
		(unsigned long long)pend,
		(unsigned long long)atomic_load(&p->save_errors),
		(unsigned long long)(atomic_load(&p->pause_max_ns) / 1000),
		(unsigned long long)p->load_ms,
		(unsigned long long)p->log_records,
		(unsigned long long)p->torn);
}

/* CONFIG GET's values of dir, save, appendonly, appendfsync. */
bool
gvd_persist_param(gv_daemon *d, const char *name, char *out, size_t len)
{
	struct gvd_persist *p = d->persist;
	if (!strcmp(name, "appendonly")) {
		snprintf(out, len, "%s", p ? "yes" : "no");
	} else if (!strcmp(name, "appendfsync")) {
		static const char *const fs[] = {"always", "everysec", "no"};
		snprintf(out, len, "%s",
			 p ? fs[atomic_load(&p->fsync)] : d->cfg.appendfsync);
	} else if (!strcmp(name, "save")) {
		if (p) {
			pthread_mutex_lock(&p->mu);
			snprintf(out, len, "%s", p->save);
			pthread_mutex_unlock(&p->mu);
		} else {
			out[0] = 0;
		}
	} else if (!strcmp(name, "dir")) {
		if (p)
			snprintf(out, len, "%s", p->dir);
		else if (!getcwd(out, len))
			out[0] = 0;
	} else {
		return false;
	}
	return true;
}

/* CONFIG SET of save or appendfsync: NULL if done (or, with check, if
 * it would be), else the reason. */
const char *
gvd_persist_set(gv_daemon *d, const char *name, const char *v, bool check)
{
	struct gvd_persist *p = d->persist;
	if (!strcmp(name, "appendfsync")) {
		if (strcmp(v, "always") && strcmp(v, "everysec") &&
		    strcmp(v, "no"))
			return "argument(s) must be one of the following: "
			       "everysec, always, no";
		if (!check && p)
			atomic_store(&p->fsync, fsync_policy(v));
		if (!check)
			snprintf(d->cfg.appendfsync,
				 sizeof(d->cfg.appendfsync), "%s", v);
		return NULL;
	}
	if (!strcmp(name, "save")) {
		uint64_t a[GV_SAVE_POINTS], b[GV_SAVE_POINTS];
		int n = gv_save_parse(v, a, b);
		if (n < 0 || strlen(v) >= sizeof(d->cfg.save))
			return "Invalid save parameters";
		if (!p && n)
			return "grapevine saves nothing without --dir: only "
			       "\"\"";
		if (!check && p) {
			pthread_mutex_lock(&p->mu);
			memcpy(p->secs, a, sizeof(a));
			memcpy(p->chg, b, sizeof(b));
			p->npoints = n;
			snprintf(p->save, sizeof(p->save), "%s", v);
			pthread_mutex_unlock(&p->mu);
		}
		return NULL;
	}
	return "unknown";
}
