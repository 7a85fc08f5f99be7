/* SPDX-License-Identifier: MIT */
/*
 * cmd_command.c - COMMAND and its subcommands (COUNT, INFO, DOCS, LIST,
 * GETKEYS, GETKEYSANDFLAGS, HELP), answered from the command table
 * (cmd_table.c) in Redis 7's shapes and texts (RESP2's arrays, or
 * RESP3's maps and sets where Redis sends those), so clients that
 * probe a server's commands (redis-cli's hints, redis-py, cluster-aware
 * routers) read grapevined as they read Redis. Where Redis lists its
 * commands in its hash table's order, grapevined lists them in the
 * table's (by name). Runs on the front end's thread.
 */
#define _GNU_SOURCE
#include "server/commands.h"

#include <fnmatch.h>
#include <stdio.h>
#include <strings.h>

static const char *const flag_names[] = {
	"write",   "readonly", "denyoom", "admin",   "noscript",  "blocking",
	"loading", "stale",    "skip_slowlog", "fast", "no_auth",
	"allow_busy", NULL};

static const char *const acl_names[] = {
	"keyspace", "read",        "write",     "set",        "sortedset",
	"list",     "hash",        "string",    "bitmap",     "hyperloglog",
	"geo",      "stream",      "pubsub",    "admin",      "fast",
	"slow",     "blocking",    "dangerous", "connection", "transaction",
	"scripting", NULL};

static const char *const ks_names[] = {"RO",     "RW",     "OW",
				       "RM",     "access", "update",
				       "insert", "delete", NULL};

static const char *const arg_flag_names[] = {"optional", "multiple",
					     "multiple_token", NULL};

static size_t
count_strs(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static size_t
count_args(const struct gvd_cmd_arg *a)
{
	size_t n = 0;
	while (a && a[n].name)
		n++;
	return n;
}

/* The bits of @f set, as a set of status strings: names[i] for bit i,
 * @prefix before each. */
static void
out_bits(gv_resp_buf *b, unsigned f, const char *const *names,
	 const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; names[i]; i++)
		n += (f >> i) & 1;
	gv_resp_out_set(b, n);
	for (size_t i = 0; names[i]; i++) {
		if (!((f >> i) & 1))
			continue;
		char s[32];
		snprintf(s, sizeof(s), "%s%s", prefix, names[i]);
		gv_resp_out_simple(b, s);
	}
}

static void
out_pair(gv_resp_buf *b, const char *key, const char *val)
{
	gv_resp_out_bulk_str(b, key);
	gv_resp_out_bulk_str(b, val);
}

static void
out_pair_int(gv_resp_buf *b, const char *key, int64_t v)
{
	gv_resp_out_bulk_str(b, key);
	gv_resp_out_int(b, v);
}

/* A row's ACL categories: its own and those its flags imply, as Redis's
 * setImplicitACLCategories adds them. */
static unsigned
acl_of(const struct gvd_cmd *cmd)
{
	unsigned a = cmd->acl;
	if (cmd->flags & CMD_WRITE)
		a |= ACL_WRITE;
	if ((cmd->flags & CMD_READONLY) && !(a & ACL_SCRIPTING))
		a |= ACL_READ;
	if (cmd->flags & CMD_ADMIN)
		a |= ACL_ADMIN | ACL_DANGEROUS;
	if (cmd->flags & CMD_BLOCKING)
		a |= ACL_BLOCKING;
	a |= cmd->flags & CMD_FAST ? ACL_FAST : ACL_SLOW;
	return a;
}

/* The one key spec of a row with keys: begin at first, a range to last
 * (relative to first, or from the end when negative) by step. */
static void
out_keyspec(gv_resp_buf *b, const struct gvd_cmd *cmd)
{
	gv_resp_out_map(b, 3);
	gv_resp_out_bulk_str(b, "flags");
	out_bits(b, cmd->kflags, ks_names, "");
	gv_resp_out_bulk_str(b, "begin_search");
	gv_resp_out_map(b, 2);
	out_pair(b, "type", "index");
	gv_resp_out_bulk_str(b, "spec");
	gv_resp_out_map(b, 1);
	out_pair_int(b, "index", cmd->first);
	gv_resp_out_bulk_str(b, "find_keys");
	gv_resp_out_map(b, 2);
	out_pair(b, "type", "range");
	gv_resp_out_bulk_str(b, "spec");
	gv_resp_out_map(b, 3);
	out_pair_int(b, "lastkey",
		     cmd->last < 0 ? cmd->last : cmd->last - cmd->first);
	out_pair_int(b, "keystep", cmd->step);
	out_pair_int(b, "limit", 0);
}

/* COMMAND INFO's entry of 10: name, arity, flags, first, last, step, ACL
 * categories, tips, key specs, subcommands (entries of 10 themselves). */
static void
out_info(gv_resp_buf *b, const struct gvd_cmd *cmd)
{
	gv_resp_out_array(b, 10);
	gv_resp_out_bulk_str(b, cmd->name);
	gv_resp_out_int(b, cmd->arity);
	out_bits(b, cmd->flags, flag_names, "");
	gv_resp_out_int(b, cmd->first);
	gv_resp_out_int(b, cmd->last);
	gv_resp_out_int(b, cmd->step);
	out_bits(b, acl_of(cmd), acl_names, "@");
	size_t nt = count_strs(cmd->tips);
	gv_resp_out_set(b, nt);
	for (size_t i = 0; i < nt; i++)
		gv_resp_out_bulk_str(b, cmd->tips[i]);
	gv_resp_out_set(b, cmd->first ? 1 : 0);
	if (cmd->first)
		out_keyspec(b, cmd);
	/* Redis: an array of the subcommands, or an empty set */
	if (cmd->nsubs)
		gv_resp_out_array(b, cmd->nsubs);
	else
		gv_resp_out_set(b, 0);
	for (size_t i = 0; i < cmd->nsubs; i++)
		out_info(b, &cmd->subs[i]);
}

/* COMMAND DOCS's arguments: an array of maps (flat arrays in RESP2),
 * each in Redis's key order. */
static void
out_args(gv_resp_buf *b, const struct gvd_cmd_arg *a)
{
	size_t n = count_args(a);
	gv_resp_out_array(b, n);
	for (size_t i = 0; i < n; i++) {
		bool key = !strcmp(a[i].type, "key");
		size_t m = 2 + key + !!a[i].token + !!a[i].since +
			   !!a[i].deprecated + !!a[i].flags + !!a[i].sub;
		gv_resp_out_map(b, m);
		out_pair(b, "name", a[i].name);
		out_pair(b, "type", a[i].type);
		if (key)
			out_pair_int(b, "key_spec_index", 0);
		if (a[i].token)
			out_pair(b, "token", a[i].token);
		if (a[i].since)
			out_pair(b, "since", a[i].since);
		if (a[i].deprecated)
			out_pair(b, "deprecated_since", a[i].deprecated);
		if (a[i].flags) {
			gv_resp_out_bulk_str(b, "flags");
			out_bits(b, a[i].flags, arg_flag_names, "");
		}
		if (a[i].sub) {
			gv_resp_out_bulk_str(b, "arguments");
			out_args(b, a[i].sub);
		}
	}
}

/* COMMAND DOCS's map of one command: summary, since, group, complexity,
 * history, arguments, subcommands (name -> docs). */
static void
out_docs(gv_resp_buf *b, const struct gvd_cmd *cmd)
{
	size_t nh = count_strs(cmd->history) / 2;
	size_t m = 4 + !!nh + !!cmd->args + !!cmd->nsubs;
	gv_resp_out_map(b, m);
	out_pair(b, "summary", cmd->summary);
	out_pair(b, "since", cmd->since);
	out_pair(b, "group", cmd->group);
	out_pair(b, "complexity", cmd->complexity);
	if (nh) {
		gv_resp_out_bulk_str(b, "history");
		gv_resp_out_set(b, nh);
		for (size_t i = 0; i < nh; i++) {
			gv_resp_out_array(b, 2);
			gv_resp_out_bulk_str(b, cmd->history[2 * i]);
			gv_resp_out_bulk_str(b, cmd->history[2 * i + 1]);
		}
	}
	if (cmd->args) {
		gv_resp_out_bulk_str(b, "arguments");
		out_args(b, cmd->args);
	}
	if (cmd->nsubs) {
		gv_resp_out_bulk_str(b, "subcommands");
		gv_resp_out_map(b, cmd->nsubs);
		for (size_t i = 0; i < cmd->nsubs; i++) {
			gv_resp_out_bulk_str(b, cmd->subs[i].name);
			out_docs(b, &cmd->subs[i]);
		}
	}
}

/* A command by its full name, "get" or "command|info" (any case), as
 * COMMAND INFO and DOCS take it; NULL if there is none. */
static const struct gvd_cmd *
by_full_name(const gv_resp_arg *a)
{
	const char *bar = memchr(a->ptr, '|', a->len);
	size_t l0 = bar ? (size_t)(bar - a->ptr) : a->len;
	const struct gvd_cmd *cmd =
		gvd_cmd_find(gvd_cmds, gvd_ncmds, a->ptr, l0);
	if (!bar || !cmd)
		return cmd;
	const char *s = bar + 1;
	size_t sl = a->len - l0 - 1;
	if (!cmd->subs || memchr(s, '|', sl)) /* one level, as in Redis */
		return NULL;
	return gvd_cmd_find(cmd->subs, cmd->nsubs, s, sl);
}

/* ---------------------------------------------------------- handlers */

static void
all_info(gv_resp_buf *b)
{
	gv_resp_out_array(b, gvd_ncmds);
	for (size_t i = 0; i < gvd_ncmds; i++)
		out_info(b, &gvd_cmds[i]);
}

void
gvd_cmd_command(gv_daemon *d, struct client *c, gv_resp_arg *av, size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (r)
		all_info(&r->reply);
}

void
gvd_cmd_command_count(gv_daemon *d, struct client *c, gv_resp_arg *av,
		      size_t ac)
{
	(void)d, (void)av, (void)ac;
	struct req *r = gvd_ready(c);
	if (r)
		gv_resp_out_int(&r->reply, (int64_t)gvd_ncmds);
}

/* COMMAND INFO [name ...]: an entry per name, nil for an unknown one;
 * every command with no name. */
void
gvd_cmd_command_info(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	(void)d;
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	if (ac == 2)
		return all_info(&r->reply);
	gv_resp_out_array(&r->reply, ac - 2);
	for (size_t i = 2; i < ac; i++) {
		const struct gvd_cmd *cmd = by_full_name(&av[i]);
		if (cmd)
			out_info(&r->reply, cmd);
		else
			gv_resp_out_null(&r->reply);
	}
}

/* COMMAND DOCS [name ...]: name -> docs for each known name (unknown ones
 * are left out); every command with no name. */
void
gvd_cmd_command_docs(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	(void)d;
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	if (ac == 2) {
		gv_resp_out_map(&r->reply, gvd_ncmds);
		for (size_t i = 0; i < gvd_ncmds; i++) {
			gv_resp_out_bulk_str(&r->reply, gvd_cmds[i].name);
			out_docs(&r->reply, &gvd_cmds[i]);
		}
		return;
	}
	size_t n = 0;
	for (size_t i = 2; i < ac; i++)
		n += by_full_name(&av[i]) != NULL;
	gv_resp_out_map(&r->reply, n);
	for (size_t i = 2; i < ac; i++) {
		const struct gvd_cmd *cmd = by_full_name(&av[i]);
		if (cmd) {
			gv_resp_out_bulk_str(&r->reply, cmd->name);
			out_docs(&r->reply, cmd);
		}
	}
}

enum list_filter { F_NONE, F_MODULE, F_ACLCAT, F_PATTERN };

static bool
list_match(const struct gvd_cmd *cmd, int type, unsigned cat,
	   const char *pat)
{
	switch (type) {
	case F_MODULE:
		return false; /* no module commands */
	case F_ACLCAT:
		return acl_of(cmd) & cat;
	case F_PATTERN:
		return pat && !fnmatch(pat, cmd->name, FNM_CASEFOLD);
	default:
		return true;
	}
}

/* Rows of @tab (and their subcommands) that pass the filter: counted,
 * and their names written to @b if it is not NULL. */
static size_t
list_rows(gv_resp_buf *b, const struct gvd_cmd *tab, size_t n, int type,
	  unsigned cat, const char *pat)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (list_match(&tab[i], type, cat, pat)) {
			k++;
			if (b)
				gv_resp_out_bulk_str(b, tab[i].name);
		}
		k += list_rows(b, tab[i].subs, tab[i].nsubs, type, cat, pat);
	}
	return k;
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]:
 * every command's and subcommand's full name, or those that match. */
void
gvd_cmd_command_list(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	(void)d;
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	int type = F_NONE;
	unsigned cat = 0;
	char *pat = NULL;
	if (ac != 2) {
		if (ac == 5 && gvd_arg_is(&av[2], "filterby")) {
			if (gvd_arg_is(&av[3], "module"))
				type = F_MODULE;
			else if (gvd_arg_is(&av[3], "aclcat"))
				type = F_ACLCAT;
			else if (gvd_arg_is(&av[3], "pattern"))
				type = F_PATTERN;
		}
		if (type == F_NONE) {
			gv_resp_out_error(&r->reply, "ERR syntax error");
			return;
		}
	}
	if (type == F_ACLCAT)
		for (size_t i = 0; acl_names[i]; i++)
			if (gvd_arg_is(&av[4], acl_names[i]))
				cat = 1u << i;
	if (type == F_PATTERN) /* fnmatch wants a C string */
		pat = strndup(av[4].ptr, av[4].len);
	size_t n = list_rows(NULL, gvd_cmds, gvd_ncmds, type, cat, pat);
	gv_resp_out_array(&r->reply, n);
	list_rows(&r->reply, gvd_cmds, gvd_ncmds, type, cat, pat);
	free(pat);
}

/* COMMAND GETKEYS[ANDFLAGS] cmd arg...: the keys of a full command, from
 * its row's key positions (with the key spec's flags). */
static void
getkeys(struct client *c, gv_resp_arg *av, size_t ac, bool with_flags)
{
	struct req *r = gvd_ready(c);
	if (!r)
		return;
	gv_resp_arg *cv = av + 2;
	size_t cc = ac - 2;
	const struct gvd_cmd *cmd =
		gvd_cmd_find(gvd_cmds, gvd_ncmds, cv[0].ptr, cv[0].len);
	if (cmd && cmd->subs && cc > 1)
		cmd = gvd_cmd_find(cmd->subs, cmd->nsubs, cv[1].ptr, cv[1].len);
	const char *err = NULL;
	if (!cmd)
		err = "ERR Invalid command specified";
	else if (!cmd->first)
		err = "ERR The command has no key arguments";
	else if (cmd->arity >= 0 ? cc != (size_t)cmd->arity
				 : cc < (size_t)-cmd->arity)
		err = "ERR Invalid number of arguments specified for command";
	if (err) {
		gv_resp_out_error(&r->reply, err);
		return;
	}
	size_t last = cmd->last < 0 ? cc + (size_t)cmd->last
				    : (size_t)cmd->last;
	size_t n = 0;
	for (size_t i = (size_t)cmd->first; i <= last && i < cc;
	     i += (size_t)cmd->step)
		n++;
	gv_resp_out_array(&r->reply, n);
	for (size_t i = (size_t)cmd->first; i <= last && i < cc;
	     i += (size_t)cmd->step) {
		if (with_flags)
			gv_resp_out_array(&r->reply, 2);
		gv_resp_out_bulk(&r->reply, cv[i].ptr, cv[i].len);
		if (with_flags)
			out_bits(&r->reply, cmd->kflags, ks_names, "");
	}
}

void
gvd_cmd_command_getkeys(gv_daemon *d, struct client *c, gv_resp_arg *av,
			size_t ac)
{
	(void)d;
	getkeys(c, av, ac, false);
}

void
gvd_cmd_command_getkeysandflags(gv_daemon *d, struct client *c,
				gv_resp_arg *av, size_t ac)
{
	(void)d;
	getkeys(c, av, ac, true);
}

/* Redis 7.0's text, line for line. */
void
gvd_cmd_command_help(gv_daemon *d, struct client *c, gv_resp_arg *av,
		     size_t ac)
{
	(void)d, (void)av, (void)ac;
	static const char *const help[] = {
		"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands "
		"are:",
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for "
		"all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis "
		"commands.",
		"    If no command names are given, documentation details for "
		"all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
		"GETKEYSANDFLAGS <full-command>",
		"    Return the keys and the access flags from a full Redis "
		"command.",
		"HELP",
		"    Prints this help.",
		NULL};
	gvd_help_reply(c, help);
}
