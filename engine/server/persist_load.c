/* SPDX-License-Identifier: MIT */
/*
 * persist_load.c - grapevined --dir at start and stop: the directory
 * locked, each shard's newest snapshot and its logs loaded (damage
 * handled as persist.c's header says), new logs begun, the persistence
 * thread started; at stop, what is pending written and synced.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "server/persist_int.h"

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
	static const uint8_t empty[GVP_HDR_LEN];
	const uint8_t *m = empty; /* an empty file reads as no bytes */
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
	int ret = 0;
	uint64_t entries = 0;
	gv_time now = gv_io_now();
	uint64_t now_ms = (uint64_t)gvp__wall_ms();
	struct gvp_header h;
	if (!f->snap && size < GVP_HDR_LEN &&
	    !memcmp(m, GVP_MAGIC, size < 4 ? size : 4)) {
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
		ret = -1;
		goto out;
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
			 "%s/%s: offset %zu: cannot be loaded: %s (start "
			 "with the limits the data was written under)",
			 p->dir, f->name, off, L.why);
		ret = -1;
		goto out;
	}
	if (rc != GVP_OK)
		goto bad;
	goto out;
torn:
	/* only a log's: a snapshot is renamed into place whole, and its
	 * loader calls a cut one damaged */
	gv_log(GV_LOG_WARN, "dropping an incomplete last record of a log "
	       "(a crash in mid-write)", "file=%s/%s offset=%zu bytes=%zu",
	       p->dir, f->name, cut, size - cut);
	p->torn++;
	int wfd = openat(p->dfd, f->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd >= 0) {
		if (ftruncate(wfd, (off_t)cut) == 0)
			(void)fsync(wfd);
		close(wfd);
	}
	goto out;
bad:
	if (!p->d->cfg.load_damaged) {
		snprintf(err, errlen,
			 "%s/%s: offset %zu: %s; the file is damaged: refusing "
			 "to start (move it aside, or start with --load-damaged "
			 "to set it aside and load the rest)",
			 p->dir, f->name, off, why);
		ret = -1;
		goto out;
	}
	char aside[96];
	snprintf(aside, sizeof(aside), "%s.damaged", f->name);
	gv_log(GV_LOG_ERROR, "damaged file set aside; starting with what it "
	       "held before the damage and the other files",
	       "file=%s/%s offset=%zu reason=\"%s\" aside=%s", p->dir, f->name,
	       off, why, aside);
	if (renameat(p->dfd, f->name, p->dfd, aside))
		gv_log(GV_LOG_ERROR, "cannot rename it", "error=%s",
		       strerror(errno));
out:
	if (!ret)
		p->loaded += entries;
	if (size)
		munmap((void *)m, size);
	close(fd);
	return ret;
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
		uint64_t g;
		bool snap;
		if (!gvp__parse_name(e->d_name, &s, &g, &snap))
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
		v[n].snap = snap;
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
	uint64_t t0 = gvp__mono_ns();
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
			else if (!v[i].snap) /* no record: nothing to keep */
				(void)unlinkat(p->dfd, v[i].name, 0);
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
	p->load_ms = (gvp__mono_ns() - t0) / 1000000;
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
	atomic_store(&p->fsync, gvp__fsync_policy(d->cfg.appendfsync));
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
		gvp__name_of(name, sizeof(name), i, ps->gen, "log");
		int fd = gvp__create_file(p, name, GVP_KIND_LOG, i, ps->gen);
		if (fd < 0) {
			snprintf(err, errlen, "%s/%s: cannot create: %s",
				 p->dir, name, strerror(-fd));
			return -1;
		}
		ps->lfd = fd;
		ps->good = GVP_HDR_LEN;
		atomic_store(&ps->log_size, ps->good);
		gv_node_set_journal(d->shards[i].node, gvp__journal, ps);
	}
	(void)fsync(p->dfd);
	atomic_store(&p->lastsave, (int64_t)time(NULL));
	/* what the logs held goes into a snapshot at once: a node that
	 * restarts often does not pile up logs */
	if (any_log)
		(void)gvp__try_cycle(p, K_AUTO, false);
	if (pthread_create(&p->th, NULL, gvp__main, p)) {
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
				gvp__snap_done(ps);
			} else if (ps->old_lfd >= 0) {
				close(ps->old_lfd);
			}
		}
		if (ps->lfd >= 0) {
			if (gvp__log_flush(ps, gv_io_now()))
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

