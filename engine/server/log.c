/* SPDX-License-Identifier: MIT */
/*
 * log.c - logfmt lines on stderr (see log.h).
 */
#include "server/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Read on every call from any thread, set once at start-up. */
static _Atomic int level = GV_LOG_INFO;

void
gv_log_set_level(int l)
{
	atomic_store_explicit(&level, l, memory_order_relaxed);
}

int
gv_log_level(void)
{
	return atomic_load_explicit(&level, memory_order_relaxed);
}

const char *
gv_log_quote(const char *s, char *buf, size_t len)
{
	size_t k = 0;
	if (len < 3)
		return "\"\"";
	buf[k++] = '"';
	for (; *s && k + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[k++] = '\\';
		buf[k++] = *s == '\n' ? ' ' : *s;
	}
	buf[k++] = '"';
	buf[k] = 0;
	return buf;
}

void
gv_log(int l, const char *msg, const char *kv_fmt, ...)
{
	if (l < gv_log_level())
		return;
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char line[2048], q[512], ts[40];
	struct timespec now;
	struct tm tm;
	int saved_errno = errno; /* callers log, then read errno */
	/* Neither fails for the realtime clock of a sane host; if one ever
	 * does, the line is stamped 1970-01-01 rather than with garbage. */
	if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
	    !gmtime_r(&now.tv_sec, &tm)) {
		now = (struct timespec){0};
		(void)gmtime_r(&now.tv_sec, &tm); /* the epoch: cannot fail */
	}
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
	int k = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts,
			 names[l < 0 ? 0 : l > 3 ? 3 : l],
			 gv_log_quote(msg, q, sizeof(q)));
	if (k < 0) {
		errno = saved_errno;
		return;
	}
	size_t len = (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
	if (kv_fmt && *kv_fmt && len + 2 < sizeof(line)) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, kv_fmt);
		int m = vsnprintf(line + len, sizeof(line) - len, kv_fmt, ap);
		va_end(ap);
		if (m > 0)
			len += (size_t)m < sizeof(line) - len
				       ? (size_t)m
				       : sizeof(line) - len - 1;
	}
	if (len + 1 < sizeof(line))
		line[len++] = '\n';
	else
		line[sizeof(line) - 1] = '\n', len = sizeof(line);
	/* One write(2) keeps concurrent lines whole. A short write (a pipe
	 * full of a slow reader) is finished rather than cut; EINTR is
	 * retried. Any other error (stderr closed, EAGAIN on a non-blocking
	 * pipe) drops the line: there is nowhere left to report it to. */
	const char *p = line;
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		len -= (size_t)w;
	}
	errno = saved_errno;
}
