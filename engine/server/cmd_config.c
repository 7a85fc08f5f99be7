/* SPDX-License-Identifier: MIT */
/*
 * cmd_config.c - CONFIG GET, SET, RESETSTAT and HELP, as Redis 7 answers
 * them. CONFIG GET knows the Redis parameters clients and test harnesses
 * read (with the values that are true of grapevine: one database, no
 * saving, no eviction) and every grapevined flag under its own name, from
 * config.c's option table. CONFIG SET changes what can change at run
 * time on the front end alone (requirepass, timeout) or that the shards
 * pick up at their next publish (compress-threshold), and accepts the
 * values of the others that are already so (save "", appendonly no,
 * maxmemory-policy noeviction); the rest is immutable, in Redis's words.
 * Runs on the front end's thread.
 *
 * Redis's "bind" and "port" are the RESP listener's host and port;
 * grapevined's own --bind (its gossip address) is "gossip-bind" here,
 * the one flag whose name Redis already uses.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <ctype.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "server/counters.h"
#include "server/persist.h"

enum { P_REDIS, P_FLAG };

/* A parameter: a Redis one (get/set below) or grapevined flag @flag. */
struct param {
	const char *name;
	int kind;
	size_t flag; /* P_FLAG: index in config.c's table */
};

/* The Redis parameters, in the order CONFIG GET lists them. */
static const char *const redis_params[] = {"appendfsync",
                                           "appendonly",
                                           "bind",
                                           "cluster-enabled",
                                           "databases",
                                           "dir",
                                           "maxclients",
                                           "maxmemory",
                                           "maxmemory-policy",
                                           "port",
                                           "proto-max-bulk-len",
                                           "requirepass",
                                           "save",
                                           "timeout",
                                           NULL};

/* Redis's maxmemory-policy values, in its error's order. */
static const char *const policies[] = {
        "volatile-lru",   "volatile-lfu", "volatile-random",
        "volatile-ttl",   "allkeys-lru",  "allkeys-lfu",
        "allkeys-random", "noeviction",   NULL};

/* The i-th parameter of all (Redis's, then the flags but "bind"), or
 * false past the last. */
static bool
param_at(size_t i, struct param *p)
{
	size_t nr = 0;
	while (redis_params[nr])
		nr++;
	if (i < nr) {
		*p = (struct param){redis_params[i], P_REDIS, 0};
		return true;
	}
	i -= nr;
	for (size_t f = 0; gv_daemon_config_name(f); f++) {
		const char *n = gv_daemon_config_name(f);
		/* Redis's name wins where both have one */
		bool redis = false;
		for (size_t k = 0; redis_params[k]; k++)
			redis |= !strcmp(n, redis_params[k]) &&
			         strcmp(n, "bind");
		if (redis)
			continue;
		if (i-- == 0) {
			*p = (struct param){strcmp(n, "bind") ? n
			                                      : "gossip-bind",
			                    P_FLAG, f};
			return true;
		}
	}
	return false;
}

/* @p's value now, into out[len]. */
static void
param_value(gv_daemon *d, const struct param *p, char *out, size_t len)
{
	if (p->kind == P_FLAG) {
		gv_daemon_config_format(&d->cfg, p->flag, out, len);
		return;
	}
	const char *n = p->name;
	char host[64];
	out[0] = 0;
	if (gvd_persist_param(d, n, out, len)) {
		/* appendonly, appendfsync, save, dir (persist.c) */
	} else if (!strcmp(n, "cluster-enabled")) {
		snprintf(out, len, "no");
	} else if (!strcmp(n, "bind")) {
		/* the host part of --resp, without its port */
		gv_addr a = d->cfg.resp;
		a.port = 0;
		gv_addr_str(&a, host, sizeof(host));
		char *colon = strrchr(host, ':');
		if (colon)
			*colon = 0;
		if (host[0] == '[') {
			size_t l = strlen(host);
			memmove(host, host + 1, l);
			if (l >= 2 && host[l - 2] == ']')
				host[l - 2] = 0;
		}
		snprintf(out, len, "%s", host);
	} else if (!strcmp(n, "databases")) {
		snprintf(out, len, "1");
	} else if (!strcmp(n, "maxclients")) {
		snprintf(out, len, "%u", gvd_maxclients());
	} else if (!strcmp(n, "maxmemory")) {
		snprintf(out, len, "%llu",
		         (unsigned long long)d->cfg.max_memory);
	} else if (!strcmp(n, "maxmemory-policy")) {
		snprintf(out, len, "%s", d->maxmemory_policy);
	} else if (!strcmp(n, "port")) {
		snprintf(out, len, "%u", d->cfg.resp.port);
	} else if (!strcmp(n, "proto-max-bulk-len")) {
		snprintf(out, len, "%zu", d->lim.max_bulk);
	} else if (!strcmp(n, "requirepass")) {
		/* Redis answers it too: CONFIG is an admin command, and a
		 * client that can run it is past AUTH */
		snprintf(out, len, "%s", d->cfg.requirepass);
	} else if (!strcmp(n, "timeout")) {
		snprintf(out, len, "%u", d->cfg.timeout);
	}
}

/* CONFIG GET pattern [pattern ...]: each matching parameter once, as a
 * map (RESP3) or name/value pairs (RESP2). */
void
gvd_cmd_config_get(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	char *pats[64];
	size_t np = 0;
	for (size_t i = 2; i < ac && np < 64; i++)
		if ((pats[np] = strndup(av[i].ptr, av[i].len)))
			np++;
	/* Redis 7: a name without glob characters is looked up as given
	 * and answered under the name given ("MAXMEMORY"); patterns match
	 * (any case) and answer the parameters' own names. Either way a
	 * parameter comes once. */
	size_t n = 0;
	struct param p;
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			gv_resp_out_map(&r->reply, n);
		for (size_t i = 0; param_at(i, &p); i++) {
			const char *as = NULL;
			for (size_t k = 0; k < np && !as; k++) {
				bool glob = strpbrk(pats[k], "[*?") != NULL;
				if (glob ? !fnmatch(pats[k], p.name, FNM_CASEFOLD)
					 : !strcasecmp(pats[k], p.name))
					as = glob ? p.name : pats[k];
			}
			if (!as)
				continue;
			if (!pass) {
				n++;
				continue;
			}
			char v[4096];
			param_value(d, &p, v, sizeof(v));
			gv_resp_out_bulk_str(&r->reply, as);
			gv_resp_out_bulk_str(&r->reply, v);
		}
	}
	for (size_t k = 0; k < np; k++)
		free(pats[k]);
}

/* A name as Redis's errors quote it (cut at 128 bytes and at a NUL). */
#define QUOTED(a)                                                              \
	(int)strnlen((a)->ptr, (a)->len < 128 ? (a)->len : 128), (a)->ptr

static void
set_failed(struct client *c, const gv_resp_arg *name, const char *why)
{
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_errorf(&r->reply,
		                   "ERR CONFIG SET failed (possibly related to "
		                   "argument '%.*s') - %s",
		                   QUOTED(name), why);
}

/* Check (and with @apply, set) one parameter; NULL if fine, else the
 * reason CONFIG SET gives. */
static const char *
set_one(gv_daemon *d, const char *name, const gv_resp_arg *v, bool apply)
{
	if (!strcmp(name, "requirepass")) {
		if (v->len >= sizeof(d->cfg.requirepass) ||
		    memchr(v->ptr, 0, v->len))
			return "argument too long or holds a NUL byte";
		if (apply) {
			memcpy(d->cfg.requirepass, v->ptr, v->len);
			d->cfg.requirepass[v->len] = 0;
		}
		return NULL;
	}
	if (!strcmp(name, "timeout")) {
		char buf[24];
		if (!v->len || v->len >= sizeof(buf))
			return "argument couldn't be parsed into an integer";
		memcpy(buf, v->ptr, v->len);
		buf[v->len] = 0;
		char *end;
		long long t = strtoll(buf, &end, 10);
		if (*end || end == buf)
			return "argument couldn't be parsed into an integer";
		if (t < 0 || t > INT_MAX)
			return "argument must be between 0 and 2147483647 "
			       "inclusive";
		if (apply)
			d->cfg.timeout = (unsigned)t;
		return NULL;
	}
	if (!strcmp(name, "compress-threshold")) {
		/* the shards' nodes take it at their next publish (100 ms) */
		char buf[24];
		unsigned long long t = 0;
		if (v->len == 3 && !strncasecmp(v->ptr, "off", 3)) {
			t = 0;
		} else {
			if (!v->len || v->len >= sizeof(buf))
				return "argument couldn't be parsed into an "
				       "integer";
			memcpy(buf, v->ptr, v->len);
			buf[v->len] = 0;
			char *end;
			t = strtoull(buf, &end, 10);
			if (*end || end == buf || buf[0] == '-')
				return "argument couldn't be parsed into an "
				       "integer";
			if (t > 65507)
				return "argument must be off or between 0 and "
				       "65507 inclusive";
		}
		if (apply) {
			d->cfg.compress_threshold = t;
			atomic_store_explicit(&d->compress_threshold, t,
					      memory_order_relaxed);
		}
		return NULL;
	}
	if (!strcmp(name, "maxmemory-policy")) {
		size_t k = 0;
		while (policies[k] &&
		       !(strlen(policies[k]) == v->len &&
		         !strncasecmp(policies[k], v->ptr, v->len)))
			k++;
		if (!policies[k])
			return "argument(s) must be one of the following: "
			       "volatile-lru, volatile-lfu, volatile-random, "
			       "volatile-ttl, allkeys-lru, allkeys-lfu, "
			       "allkeys-random, noeviction";
		if (strcmp(policies[k], "noeviction"))
			return "grapevine never evicts keys (a write past "
			       "--max-memory is refused): only noeviction";
		return NULL; /* already so */
	}
	if (!strcmp(name, "save") || !strcmp(name, "appendfsync")) {
		char buf[256];
		if (v->len >= sizeof(buf) || memchr(v->ptr, 0, v->len))
			return !strcmp(name, "save") ? "Invalid save parameters"
						     : "argument(s) must be one "
						       "of the following: "
						       "everysec, always, no";
		memcpy(buf, v->ptr, v->len);
		buf[v->len] = 0;
		for (char *q = buf; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		return gvd_persist_set(d, name, buf, !apply);
	}
	if (!strcmp(name, "appendonly")) {
		bool on = d->persist != NULL;
		if (v->len == 2 && !strncasecmp(v->ptr, "no", 2))
			return on ? "grapevined keeps its log while it runs "
				    "with --dir: only yes"
				  : NULL;
		if (v->len == 3 && !strncasecmp(v->ptr, "yes", 3))
			return on ? NULL
				  : "persistence is off: start grapevined "
				    "with --dir DIR";
		return "argument must be 'yes' or 'no'";
	}
	return "can't set immutable config";
}

/* CONFIG SET name value [name value ...]: all checked, then all set. */
void
gvd_cmd_config_set(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	if ((ac - 2) % 2) { /* Redis's text too */
		struct req *r = gvd_ready(c);
		if (r)
			gv_resp_out_error(&r->reply,
			                  "ERR wrong number of arguments for "
			                  "'config|set' command");
		return;
	}
	size_t npairs = (ac - 2) / 2;
	const char *names[64];
	if (npairs > 64)
		npairs = 64;
	for (size_t i = 0; i < npairs; i++) {
		const gv_resp_arg *a = &av[2 + 2 * i];
		struct param p;
		names[i] = NULL;
		for (size_t k = 0; param_at(k, &p) && !names[i]; k++)
			if (strlen(p.name) == a->len &&
			    !strncasecmp(p.name, a->ptr, a->len))
				names[i] = p.name;
		if (!names[i]) {
			struct req *r = gvd_ready(c);
			if (r)
				gv_resp_out_errorf(&r->reply,
				                   "ERR Unknown option or "
				                   "number of arguments for "
				                   "CONFIG SET - '%.*s'",
				                   QUOTED(a));
			return;
		}
		const char *why = set_one(d, names[i], &av[3 + 2 * i], false);
		if (why && !strcmp(why, "can't set immutable config"))
			return set_failed(c, a, why);
		for (size_t k = 0; k < i; k++)
			if (names[k] == names[i])
				return set_failed(c, a, "duplicate parameter");
	}
	for (size_t i = 0; i < npairs; i++) {
		const char *why = set_one(d, names[i], &av[3 + 2 * i], false);
		if (why)
			return set_failed(c, &av[2 + 2 * i], why);
	}
	for (size_t i = 0; i < npairs; i++)
		set_one(d, names[i], &av[3 + 2 * i], true);
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_ok(&r->reply);
}

/*
 * CONFIG RESETSTAT: the counters Redis resets (commands, connections,
 * keyspace hits and misses, expired keys). /metrics reads the same
 * counters, so a scraper sees the reset as it sees a restart.
 */
void
gvd_cmd_config_resetstat(gv_daemon *d, struct client *c, gv_resp_arg *av,
                         size_t ac)
{
	(void)av, (void)ac;
	/* the workers' counters are theirs to write: INFO shows the totals
	 * less what they were now */
	d->commands_base += gvd_tsum(d, GVD_T_COMMANDS);
	d->hits_base += gvd_tsum(d, GVD_T_HITS);
	d->misses_base += gvd_tsum(d, GVD_T_MISSES);
	d->connections = 0;
	d->ops_prev = 0;
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_ok(&r->reply);
}

/* Redis 7.0's text without REWRITE, which grapevine has not. */
void
gvd_cmd_config_help(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	static const char *const help[] = {
	        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands "
	        "are:",
	        "GET <pattern>",
	        "    Return parameters matching the glob-like <pattern> and "
	        "their values.",
	        "SET <directive> <value>",
	        "    Set the configuration <directive> to <value>.",
	        "RESETSTAT",
	        "    Reset statistics reported by the INFO command.",
	        "HELP",
	        "    Prints this help.",
	        NULL};
	gvd_help_reply(c, help);
}
