/* SPDX-License-Identifier: MIT */
/*
 * log.h - one line per event, logfmt (`ts=... level=info msg="..." k=v`),
 * to stderr, at or above the configured level. Safe from any thread: each
 * line is one write(2) (finished by more if the kernel takes only part).
 * gv_log leaves errno as it found it.
 */
#ifndef GV_SERVER_LOG_H
#define GV_SERVER_LOG_H

#include "server/config.h"

void gv_log_set_level(int level);
int gv_log_level(void);

/*
 * gv_log - log msg with key=value pairs given as a printf-style tail,
 * e.g. gv_log(GV_LOG_INFO, "member joined", "name=%s addr=%s", n, a).
 * Values with spaces must be quoted by the caller (use gv_log_quote).
 */
void gv_log(int level, const char *msg, const char *kv_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Quote a value for logfmt into buf (escapes " and \). */
const char *gv_log_quote(const char *s, char *buf, size_t len);

#endif
