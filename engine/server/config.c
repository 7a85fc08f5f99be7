/* SPDX-License-Identifier: MIT */
/*
 * config.c - grapevined's flags and config file. One table describes every
 * option (name, kind, range, where it goes, help); the command line and the
 * config file both go through it, so they cannot drift apart.
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/compress.h"
#include "core/node.h"
#include "io/io.h"

enum kind { K_ADDR, K_SEEDS, K_STR, K_UINT, K_SIZE, K_MODE, K_LEVEL, K_FLAG,
	    K_IO, K_FILE, K_CIPHER, K_INT };

struct opt {
	const char *name;
	enum kind kind;
	size_t off;   /* offset in gv_daemon_config */
	size_t size;  /* for strings */
	uint64_t min, max;
	const char *arg;
	const char *help;
};

#define OFF(f) offsetof(gv_daemon_config, f)
#define SZ(f) sizeof(((gv_daemon_config *)0)->f)

static const struct opt opts[] = {
	{"bind", K_ADDR, OFF(bind), 0, 0, 0, "HOST:PORT",
	 "gossip address; shard i uses PORT+i (default 127.0.0.1:7946)"},
	{"join", K_SEEDS, 0, 0, 0, 0, "HOST:PORT,...",
	 "seed nodes to join through"},
	{"name", K_STR, OFF(name), SZ(name), 0, 0, "NAME",
	 "member name (default HOST:PORT)"},
	{"shards", K_UINT, OFF(shards), 0, 1, 64, "S",
	 "key shards of the cluster (shard i gossips on PORT+i); every node "
	 "must use the same (default 8)"},
	{"threads", K_UINT, OFF(threads), 0, 1, 64, "T",
	 "worker threads on this host, each hosting its share of the "
	 "shards; nodes may differ (default: min(shards, CPUs this process "
	 "may use))"},
	{"resp", K_ADDR, OFF(resp), 0, 0, 0, "HOST:PORT",
	 "Redis-protocol listener (default 127.0.0.1:6380)"},
	{"metrics", K_ADDR, OFF(metrics), 0, 0, 0, "HOST:PORT",
	 "Prometheus /metrics listener (default off)"},
	{"interval-ms", K_UINT, OFF(interval_ms), 0, 1, 60000, "MS",
	 "gossip round (default 100)"},
	{"fanout", K_UINT, OFF(fanout), 0, 1, 64, "N",
	 "peers per push and round (default 3)"},
	{"mode", K_MODE, OFF(mode), 0, 0, 0, "MODE",
	 "eager (flooding), tree (a broadcast tree: one copy per node, "
	 "docs/internals.md), push, pull or pushpull (default eager)"},
	{"region", K_STR, OFF(region), SZ(region), 0, 0, "R",
	 "region tag (default none)"},
	{"max-memory", K_SIZE, OFF(max_memory), 0, 0, 0, "BYTES",
	 "memory cap per node, k/m/g suffixes (default none)"},
	{"max-value", K_SIZE, OFF(max_value), 0, 1, 512ull << 20, "BYTES",
	 "largest value, k/m/g suffixes, as Redis's proto-max-bulk-len "
	 "(default 512m; values over --stream-threshold travel over the "
	 "stream channel)"},
	{"stream-threshold", K_SIZE, OFF(stream_threshold), 0, 0, 60000,
	 "BYTES",
	 "values longer than BYTES are announced in gossip and fetched "
	 "over the stream channel, TCP on the gossip port numbers "
	 "(default 16384; at most 60000)"},
	{"stream-buffer", K_SIZE, OFF(stream_buffer), 0, 65536, 1ull << 30,
	 "BYTES",
	 "bytes queued per stream connection before its senders wait "
	 "(default 4m)"},
	{"client-output-limit", K_SIZE, OFF(client_output_limit), 0, 65536,
	 1ull << 40, "BYTES",
	 "disconnect a client whose unsent replies pass BYTES (default 64m)"},
	{"on-event", K_STR, OFF(on_event), SZ(on_event), 0, 0, "SCRIPT",
	 "run SCRIPT on member, partition and conflict events"},
	{"log-level", K_LEVEL, OFF(log_level), 0, 0, 0, "LEVEL",
	 "debug, info, warn or error (default info)"},
	{"cluster", K_STR, OFF(cluster), SZ(cluster), 0, 0, "NAME",
	 "cluster name; datagrams of other clusters are dropped"},
	{"probe-interval-ms", K_UINT, OFF(probe_interval_ms), 0, 10, 60000,
	 "MS", "failure-detector probe period (default 200)"},
	{"read-only-in-minority", K_FLAG, OFF(read_only_minority), 0, 0, 0,
	 NULL, "refuse writes while partitioned in a minority"},
	{"io", K_IO, OFF(io_backend), 0, 0, 0, "BACKEND",
	 "auto, uring or mmsg (default auto)"},
	{"pin", K_FLAG, OFF(pin), 0, 0, 0, NULL,
	 "pin worker thread t to the t-th CPU this process may use"},
	{"frontend", K_STR, OFF(frontend), SZ(frontend), 0, 0, "MODE",
	 "threads: RESP clients are served by every worker thread, a "
	 "command run on the thread of its key's shard (a client is handed "
	 "to the front-end thread at its first command of another kind: "
	 "docs/frontend.md); single: all by the front-end thread (default "
	 "threads)"},
	{"config", K_FILE, OFF(config_file), SZ(config_file), 0, 0, "FILE",
	 "read key = value settings (flag names) from FILE first"},
	{"keyring", K_STR, OFF(keyring), SZ(keyring), 0, 0, "FILE",
	 "cluster keys, one per line (64 hex digits or base64), the first "
	 "primary: every datagram is sealed (AEAD) and only sealed ones are "
	 "accepted; key changes are written back (default: none, gossip in "
	 "the clear)"},
	{"cipher", K_CIPHER, OFF(cipher), 0, 0, 0, "CIPHER",
	 "with --keyring: auto (AES-256-GCM where the CPU has AES-NI, else "
	 "XChaCha20-Poly1305), aes256gcm or xchacha20poly1305; receiving "
	 "takes either (default auto)"},
	{"requirepass", K_STR, OFF(requirepass), SZ(requirepass), 0, 0, "PASS",
	 "RESP clients must AUTH with PASS (or HELLO AUTH default PASS) "
	 "before any other command, as with Redis's requirepass; better "
	 "given in the --config file than on the command line, where ps "
	 "shows it (default: none)"},
	{"compress-threshold", K_SIZE, OFF(compress_threshold), 0, 0, 65507,
	 "BYTES|off",
	 "zstd-compress gossip datagrams whose records pass BYTES, when that "
	 "saves an eighth; 0 or off: never (compressed datagrams are "
	 "accepted either way; default 512, docs/compression.md)"},
	{"compress-level", K_INT, OFF(compress_level), 0, (uint64_t)-7, 19, "L",
	 "zstd level for gossip datagrams, -7 (fastest) .. 19 (default -1)"},
	{"flood-gap-us", K_UINT, OFF(flood_gap_us), 0, 0, 1000000, "US",
	 "eager mode: the least time between two flooding passes of a shard; "
	 "a write after a quiet spell goes at once, under load what comes "
	 "meanwhile shares the next pass's datagrams (default 200; the "
	 "library's default is 1000, for clusters of hundreds)"},
	{"tree-lazy-us", K_UINT, OFF(tree_lazy_us), 0, 100, 1000000, "US",
	 "tree mode: how long the ids of the writes a shard passed on wait "
	 "before they are announced to its other neighbours (default "
	 "10000)"},
	{"tree-graft-us", K_UINT, OFF(tree_graft_us), 0, 100, 10000000, "US",
	 "tree mode: how long a shard told of a write it lacks waits for "
	 "the tree to bring it before it asks the announcer (default "
	 "20000)"},
	{"dir", K_STR, OFF(dir), SZ(dir), 0, 0, "DIR",
	 "persistence: keep a snapshot and an append-only log of the "
	 "node's data in DIR, loaded at start (created with mode 700 if "
	 "missing; default: none, nothing is saved; docs/persistence.md)"},
	{"appendfsync", K_STR, OFF(appendfsync), SZ(appendfsync), 0, 0,
	 "POLICY",
	 "with --dir: always (a write is acknowledged once on disk), "
	 "everysec (the log is synced every second) or no (when the kernel "
	 "writes it) (default everysec)"},
	{"save", K_STR, OFF(save), SZ(save), 0, 0, "\"SECS CHANGES ...\"",
	 "with --dir: take a snapshot when SECS seconds and CHANGES changes "
	 "have passed since the last, for any pair, as Redis's save; \"\" "
	 "for none (default \"3600 1 300 100 60 10000\")"},
	{"load-damaged", K_FLAG, OFF(load_damaged), 0, 0, 0, NULL,
	 "with --dir: a damaged snapshot or log is renamed aside "
	 "(FILE.damaged) and the node starts with what loads, instead of "
	 "refusing to start"},
	{"timeout", K_UINT, OFF(timeout), 0, 0, 1u << 31, "S",
	 "close RESP clients idle for S seconds, as Redis's timeout "
	 "(default 0: never)"},
};

static void
errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

void
gv_daemon_config_default(gv_daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->bind = (gv_addr){.family = 4, .port = 7946, .addr = {127, 0, 0, 1}};
	c->resp = (gv_addr){.family = 4, .port = 6380, .addr = {127, 0, 0, 1}};
	c->shards = GV_DEFAULT_SHARDS;
	c->threads = 0; /* resolved at start: min(shards, usable CPUs) */
	c->interval_ms = 100;
	c->fanout = 3;
	c->mode = GV_MODE_EAGER;
	c->max_value = 512u << 20;
	c->stream_threshold = GV_STREAM_DEFAULT_THRESHOLD;
	c->stream_buffer = 4u << 20;
	c->client_output_limit = 64u << 20;
	snprintf(c->frontend, sizeof(c->frontend), "threads");
	c->flood_gap_us = 200;
	c->tree_lazy_us = 10000;
	c->tree_graft_us = 20000;
	c->log_level = GV_LOG_INFO;
	snprintf(c->cluster, sizeof(c->cluster), "grapevine");
	c->probe_interval_ms = 200; /* gv_node_config_default's */
	c->compress_threshold = GV_COMPRESS_THRESHOLD_DEFAULT;
	c->compress_level = GV_COMPRESS_LEVEL_DEFAULT;
	snprintf(c->appendfsync, sizeof(c->appendfsync), "everysec");
	snprintf(c->save, sizeof(c->save), "3600 1 300 100 60 10000");
}

int
gv_save_parse(const char *s, uint64_t secs[GV_SAVE_POINTS],
	      uint64_t changes[GV_SAVE_POINTS])
{
	int n = 0;
	const char *p = s;
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		uint64_t v[2];
		for (int k = 0; k < 2; k++) {
			while (*p == ' ')
				p++;
			if (*p < '0' || *p > '9')
				return -1;
			char *end;
			errno = 0;
			unsigned long long x = strtoull(p, &end, 10);
			if (errno || (*end && *end != ' '))
				return -1;
			v[k] = x;
			p = end;
		}
		if (n == GV_SAVE_POINTS)
			return -1;
		secs[n] = v[0];
		changes[n] = v[1];
		n++;
	}
	return n;
}

const char *
gv_addr_str(const gv_addr *a, char *buf, size_t len)
{
	/* always writes a string (cut to @len, as snprintf) */
	(void)gv_io_addr_format(a, buf, len);
	return buf;
}

int
gv_parse_hostport(const char *s, gv_addr *out, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
		port = colon + 1;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || end == port || *end || p > 65535)
		goto bad;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc || !res) {
		errf(err, errlen, "cannot resolve '%s': %s", host,
		     gai_strerror(rc));
		return -1;
	}
	gv_addr a = {0};
	if (res->ai_family == AF_INET) {
		a.family = 4;
		memcpy(a.addr, &((struct sockaddr_in *)res->ai_addr)->sin_addr,
		       4);
	} else {
		a.family = 6;
		memcpy(a.addr,
		       &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
	}
	freeaddrinfo(res);
	a.port = (uint16_t)p;
	*out = a;
	return 0;
bad:
	errf(err, errlen, "expected HOST:PORT, got '%s'", s);
	return -1;
}

int
gv_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	uint64_t mult = 1;
	switch (tolower((unsigned char)*end)) {
	case 0: break;
	case 'k': mult = 1024; end++; break;
	case 'm': mult = 1024 * 1024; end++; break;
	case 'g': mult = 1024ull * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (mult > 1 && v > UINT64_MAX / mult))
		return -1;
	*out = v * mult;
	return 0;
}

static int
apply(gv_daemon_config *c, const struct opt *o, const char *v, char *err,
      size_t errlen)
{
	char *base = (char *)c;
	char m[256];
	switch (o->kind) {
	case K_ADDR:
		if (gv_parse_hostport(v, (gv_addr *)(base + o->off), m,
				      sizeof(m)))
			goto fail;
		if (o->off == OFF(metrics))
			c->metrics_on = true;
		return 0;
	case K_SEEDS: {
		char buf[4096];
		if ((size_t)snprintf(buf, sizeof(buf), "%s", v) >= sizeof(buf)) {
			/* cut, the list would lose seeds without a word */
			snprintf(m, sizeof(m), "longer than %zu bytes",
				 sizeof(buf) - 1);
			goto fail;
		}
		c->nseeds = 0;
		for (char *save, *t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			if (!*t)
				continue;
			if (c->nseeds == GV_MAX_SEEDS) {
				snprintf(m, sizeof(m), "more than %d seeds",
					 GV_MAX_SEEDS);
				goto fail;
			}
			if (gv_parse_hostport(t, &c->seeds[c->nseeds], m,
					      sizeof(m)))
				goto fail;
			c->nseeds++;
		}
		return 0;
	}
	case K_STR:
	case K_FILE:
		if (strlen(v) >= o->size) {
			snprintf(m, sizeof(m), "longer than %zu bytes",
				 o->size - 1);
			goto fail;
		}
		if (o->off == OFF(appendfsync) && strcmp(v, "always") &&
		    strcmp(v, "everysec") && strcmp(v, "no")) {
			snprintf(m, sizeof(m),
				 "expected always, everysec or no, got '%s'",
				 v);
			goto fail;
		}
		if (o->off == OFF(save)) {
			uint64_t a[GV_SAVE_POINTS], b[GV_SAVE_POINTS];
			if (gv_save_parse(v, a, b) < 0) {
				snprintf(m, sizeof(m),
					 "expected \"\" or pairs of seconds "
					 "and changes (at most %d), got '%s'",
					 GV_SAVE_POINTS, v);
				goto fail;
			}
		}
		memcpy(base + o->off, v, strlen(v) + 1);
		return 0;
	case K_UINT: {
		char *end;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-' || x < o->min ||
		    x > o->max) {
			snprintf(m, sizeof(m),
				 "expected an integer in %llu..%llu, got '%s'",
				 (unsigned long long)o->min,
				 (unsigned long long)o->max, v);
			goto fail;
		}
		*(unsigned *)(base + o->off) = (unsigned)x;
		return 0;
	}
	case K_INT: { /* min and max are int64_t cast to uint64_t */
		char *end;
		errno = 0;
		long long x = strtoll(v, &end, 10);
		if (errno || end == v || *end || x < (int64_t)o->min ||
		    x > (int64_t)o->max) {
			snprintf(m, sizeof(m),
				 "expected an integer in %lld..%lld, got '%s'",
				 (long long)(int64_t)o->min,
				 (long long)(int64_t)o->max, v);
			goto fail;
		}
		*(int *)(base + o->off) = (int)x;
		return 0;
	}
	case K_SIZE: {
		uint64_t x;
		if (o->off == OFF(compress_threshold) && !strcmp(v, "off")) {
			c->compress_threshold = 0;
			return 0;
		}
		if (gv_parse_size(v, &x) ||
		    (o->max && (x < o->min || x > o->max))) {
			if (o->max)
				snprintf(m, sizeof(m),
					 "expected a size in %llu..%llu "
					 "bytes, got '%s'",
					 (unsigned long long)o->min,
					 (unsigned long long)o->max, v);
			else
				snprintf(m, sizeof(m),
					 "expected a size like 512m, got '%s'",
					 v);
			goto fail;
		}
		if (o->off == OFF(max_value))
			c->max_value = (size_t)x;
		else
			*(uint64_t *)(base + o->off) = x;
		return 0;
	}
	case K_MODE: {
		int mode = gv_mode_parse(v);
		if (mode < 0) {
			snprintf(m, sizeof(m),
				 "expected eager, tree, push, pull or "
				 "pushpull, got '%s'",
				 v);
			goto fail;
		}
		c->mode = mode;
		return 0;
	}
	case K_LEVEL: {
		static const char *const names[] = {"debug", "info", "warn",
						    "error"};
		for (int i = 0; i < 4; i++)
			if (strcmp(v, names[i]) == 0) {
				c->log_level = i;
				return 0;
			}
		snprintf(m, sizeof(m),
			 "expected debug, info, warn or error, got '%s'", v);
		goto fail;
	}
	case K_IO: {
		static const char *const names[] = {"auto", "uring", "mmsg"};
		for (int i = 0; i < 3; i++)
			if (strcmp(v, names[i]) == 0) {
				c->io_backend = i;
				return 0;
			}
		snprintf(m, sizeof(m), "expected auto, uring or mmsg, got '%s'",
			 v);
		goto fail;
	}
	case K_CIPHER: {
		int ci = gv_cipher_parse(v);
		if (ci < 0) {
			snprintf(m, sizeof(m),
				 "expected auto, aes256gcm or "
				 "xchacha20poly1305, got '%s'",
				 v);
			goto fail;
		}
		if (ci == GV_CIPHER_AES256GCM && !gv_cipher_aes_available()) {
			snprintf(m, sizeof(m),
				 "aes256gcm needs a CPU with AES-NI; use "
				 "xchacha20poly1305 (on every node)");
			goto fail;
		}
		c->cipher = ci;
		return 0;
	}
	case K_FLAG:
		if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
			*(bool *)(base + o->off) = true;
			return 0;
		}
		if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
			*(bool *)(base + o->off) = false;
			return 0;
		}
		snprintf(m, sizeof(m), "expected true or false, got '%s'", v);
		goto fail;
	}
	return 0;
fail:
	errf(err, errlen, "--%s: %s", o->name, m);
	return -1;
}

static const struct opt *
find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strlen(opts[i].name) == len &&
		    memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int
read_file(gv_daemon_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, errlen, "--config: cannot open %s: %s", path,
		     strerror(errno));
		return -1;
	}
	char line[4096];
	int lineno = 0, rc = -1;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		char *key = s, *val = NULL;
		if (eq) {
			*eq = 0;
			val = trim(eq + 1);
		}
		key = trim(key);
		const struct opt *o = find(key, strlen(key));
		if (!o || o->kind == K_FILE) {
			errf(err, errlen, "%s:%d: unknown setting '%s'", path,
			     lineno, key);
			goto out;
		}
		if (!val) {
			if (o->kind != K_FLAG) {
				errf(err, errlen, "%s:%d: '%s' needs a value",
				     path, lineno, key);
				goto out;
			}
			val = "true";
		}
		char sub[512];
		if (apply(c, o, val, sub, sizeof(sub))) {
			errf(err, errlen, "%s:%d: %s", path, lineno, sub);
			goto out;
		}
	}
	/* fgets returns NULL at the end and on a read error alike */
	if (ferror(f)) {
		errf(err, errlen, "--config: cannot read %s: %s", path,
		     strerror(errno));
		goto out;
	}
	rc = 0;
out:
	(void)fclose(f); /* read-only: nothing to flush, nothing lost */
	return rc;
}

const char *
gv_daemon_config_name(size_t i)
{
	return i < sizeof(opts) / sizeof(opts[0]) ? opts[i].name : NULL;
}

int
gv_daemon_config_format(const gv_daemon_config *c, size_t i, char *out,
			size_t len)
{
	if (i >= sizeof(opts) / sizeof(opts[0]) || !len)
		return -1;
	const struct opt *o = &opts[i];
	const char *base = (const char *)c;
	out[0] = 0;
	switch (o->kind) {
	case K_ADDR:
		if (o->off == OFF(metrics) && !c->metrics_on)
			return 0;
		gv_addr_str((const gv_addr *)(base + o->off), out, len);
		break;
	case K_SEEDS: {
		size_t n = 0;
		for (size_t k = 0; k < c->nseeds && n + 1 < len; k++) {
			char a[64];
			n += (size_t)snprintf(out + n, len - n, "%s%s",
					      k ? "," : "",
					      gv_addr_str(&c->seeds[k], a,
							  sizeof(a)));
		}
		break;
	}
	case K_STR:
	case K_FILE:
		snprintf(out, len, "%s", base + o->off);
		break;
	case K_UINT:
		snprintf(out, len, "%u", *(const unsigned *)(base + o->off));
		break;
	case K_INT:
		snprintf(out, len, "%d", *(const int *)(base + o->off));
		break;
	case K_SIZE:
		if (o->off == OFF(compress_threshold) &&
		    !c->compress_threshold) {
			snprintf(out, len, "off");
			break;
		}
		snprintf(out, len, "%llu",
			 o->off == OFF(max_value)
				 ? (unsigned long long)c->max_value
				 : (unsigned long long)*(const uint64_t *)(
					   base + o->off));
		break;
	case K_MODE:
		snprintf(out, len, "%s", gv_mode_name(c->mode));
		break;
	case K_LEVEL: {
		static const char *const names[] = {"debug", "info", "warn",
						    "error"};
		snprintf(out, len, "%s",
			 c->log_level >= 0 && c->log_level < 4
				 ? names[c->log_level]
				 : "info");
		break;
	}
	case K_IO: {
		static const char *const names[] = {"auto", "uring", "mmsg"};
		snprintf(out, len, "%s",
			 c->io_backend >= 0 && c->io_backend < 3
				 ? names[c->io_backend]
				 : "auto");
		break;
	}
	case K_CIPHER:
		snprintf(out, len, "%s",
			 c->cipher == GV_CIPHER_AUTO ? "auto"
						     : gv_cipher_name(c->cipher));
		break;
	case K_FLAG:
		snprintf(out, len, "%s",
			 *(const bool *)(base + o->off) ? "yes" : "no");
		break;
	}
	return (int)strlen(out);
}

const char *
gv_daemon_usage(void)
{
	static char buf[8192];
	if (buf[0])
		return buf;
	size_t n = (size_t)snprintf(
		buf, sizeof(buf),
		"usage: grapevined [options]\n\n"
		"grapevine's daemon: replicates a key/value map with its peers "
		"over UDP\n(gossip, anti-entropy, SWIM) and serves it over the "
		"Redis protocol.\n\noptions:\n");
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]) && n < sizeof(buf);
	     i++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "  %-28s %s\n",
				      left, opts[i].help);
	}
	if (n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n,
			 "  %-28s %s\n  %-28s %s\n", "--help",
			 "this text", "--version", "print the version");
	return buf;
}

int
gv_daemon_config_parse(gv_daemon_config *c, int argc, char **argv, char *err,
		       size_t errlen, char *out, size_t outlen)
{
	/* --config first, so that flags override the file */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--config") && i + 1 < argc) {
			if (read_file(c, argv[i + 1], err, errlen))
				return -1;
		} else if (!strncmp(a, "--config=", 9)) {
			if (read_file(c, a + 9, err, errlen))
				return -1;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			snprintf(out, outlen, "%s", gv_daemon_usage());
			return 1;
		}
		if (!strcmp(a, "--version")) {
			snprintf(out, outlen, "grapevined %s\n",
				 GV_VERSION_STRING);
			return 1;
		}
		if (strncmp(a, "--", 2) != 0) {
			errf(err, errlen, "unexpected argument '%s'", a);
			return -1;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = find(name, len);
		if (!o) {
			errf(err, errlen, "unknown option '%.*s'", (int)len + 2,
			     a);
			return -1;
		}
		const char *v;
		if (eq) {
			v = eq + 1;
		} else if (o->kind == K_FLAG) {
			v = "true";
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			errf(err, errlen, "--%s needs a value (%s)", o->name,
			     o->arg);
			return -1;
		}
		if (o->kind == K_FILE)
			continue; /* read above */
		if (apply(c, o, v, err, errlen))
			return -1;
	}
	if (c->threads > c->shards) {
		errf(err, errlen, "--threads %u: more threads than --shards %u "
		     "(each thread hosts at least one shard)", c->threads,
		     c->shards);
		return -1;
	}
	if (c->shards > 1 && (unsigned)c->bind.port + c->shards - 1 > 65535) {
		errf(err, errlen, "--bind: port %u + %u shards exceeds 65535",
		     c->bind.port, c->shards);
		return -1;
	}
	if (!c->name[0])
		gv_addr_str(&c->bind, c->name, sizeof(c->name));
	return 0;
}
