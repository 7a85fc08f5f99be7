/* SPDX-License-Identifier: MIT */
/*
 * persist_cmd.c - SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE as Redis 7
 * answers them, INFO persistence, and CONFIG GET/SET of dir, appendonly,
 * appendfsync and save (docs/persistence.md). Front-end thread.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/commands.h"
#include "server/persist_int.h"

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
	if (!gvp__try_cycle(d->persist, K_SAVE, true))
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
	if (gvp__try_cycle(p, K_REWRITE, true))
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
	atomic_store(&p->cycle_start_ms, gvp__wall_ms());
	struct req *r = gvd_req_new(c, C_OK, d->k);
	if (!r) {
		atomic_store(&p->inprog, 0);
		return;
	}
	gvd_all_shards(r, OP_SAVE);
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

const char *
gvd_persist_refuse(gv_daemon *d)
{
	struct gvd_persist *p = d->persist;
	if (!p ||
	    atomic_load_explicit(&p->fsync, memory_order_relaxed) != FS_ALWAYS ||
	    !atomic_load_explicit(&p->write_status, memory_order_relaxed))
		return NULL;
	return strerror(atomic_load_explicit(&p->write_errno,
					     memory_order_relaxed));
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
	long long cur = inprog ? (gvp__wall_ms() - atomic_load(&p->cycle_start_ms)) /
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
			atomic_store(&p->fsync, gvp__fsync_policy(v));
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
