/* SPDX-License-Identifier: MIT */
/*
 * hooks.c - --on-event: shards queue events (membership, conflicts,
 * partitions) on their hook ring without waiting, and one thread runs the
 * hook program for each, with the event in its environment and at most
 * 10 s to finish.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"

/* ------------------------------------------------------------ hooks */

void
gvd_push_event(struct shard *s, const struct event *e)
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

/* Sleep @ns nanoseconds, the whole of them: a signal delivered to this
 * thread (EINTR) resumes the sleep with the time left. */
static void
sleep_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	/* any other error is EINVAL/EFAULT, impossible for this timespec */
}

/* Wait for @pid without a timeout; false (logged) if it cannot be. */
static bool
reap(pid_t pid, const char *type)
{
	while (waitpid(pid, NULL, 0) < 0) {
		if (errno == EINTR)
			continue;
		gv_log(GV_LOG_ERROR, "event hook not reaped", "event=%s error=%s",
		       type, strerror(errno));
		return false;
	}
	return true;
}

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
		(void)execve(d->cfg.on_event, argv, envp);
		/* execve returned: it failed. Only async-signal-safe calls
		 * are allowed in the child of a threaded process, so no log
		 * here: the parent reports exit status 127 below. */
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
		if (r < 0 && errno != EINTR) {
			/* ECHILD: not our child any more (reaped elsewhere,
			 * or SIGCHLD ignored). Never kill a pid we no longer
			 * own: it may be reused by another process. */
			gv_log(GV_LOG_ERROR, "event hook lost",
			       "event=%s error=%s", e->type, strerror(errno));
			return;
		}
		sleep_ns(10000000);
	}
	if (kill(pid, SIGKILL) != 0) {
		/* Only EPERM is possible for an unreaped child, if it gave
		 * up our real uid (it had the privilege to). Still wait for
		 * it, so hooks never pile up; events meanwhile queue and,
		 * once the queue is full, are dropped and counted. */
		gv_log(GV_LOG_ERROR, "event hook cannot be killed, waiting",
		       "event=%s error=%s", e->type, strerror(errno));
		(void)reap(pid, e->type); /* reap() logs its failure */
		return;
	}
	if (reap(pid, e->type))
		gv_log(GV_LOG_WARN, "event hook killed after 10 s", "event=%s",
		       e->type);
}

void *
gvd_hook_main(void *arg)
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
		if (!any)
			sleep_ns(20000000);
	}
	return NULL;
}
