/* SPDX-License-Identifier: MIT */
/*
 * log.c - logfmt lines on stderr (see log.h).
 */
#include "server/log.h"

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
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
	int k = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts,
			 names[l < 0 ? 0 : l > 3 ? 3 : l],
			 gv_log_quote(msg, q, sizeof(q)));
	if (k < 0)
		return;
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
	ssize_t w = write(2, line, len);
	(void)w;
}
