/* SPDX-License-Identifier: MIT */
/*
 * commands.h - grapevined's command table: every command the RESP front
 * end knows is one row (name, arity, flags, key positions, ACL
 * categories, docs, handler), as in Redis's commands.def. gvd_command
 * (commands.c) looks the name up here, checks the arity against the row
 * and runs its handler; COMMAND, COMMAND INFO, DOCS, LIST, COUNT and
 * GETKEYS (cmd_command.c) answer from the same rows, in Redis 7's shapes.
 * The rows are in cmd_table.c.
 * Private to engine/server.
 *
 * A row's fields, with Redis's meaning:
 *   name     lowercase; a subcommand's is "container|sub" ("command|info");
 *   arity    N: exactly N arguments, the name included; -N: at least N;
 *   flags    CMD_*, listed by COMMAND INFO in the order of the enum;
 *   first, last, step  the key positions (last -1: the last argument; all
 *            0: no key). A command with keys has one key spec, from these
 *            and kflags (its KS_* access flags);
 *   acl      the ACL categories the row adds (ACL_*); those its flags
 *            imply (@write, @read, @admin @dangerous, @fast or @slow) are
 *            added when COMMAND INFO lists them, as Redis does;
 *   tips     NULL-terminated strings, or NULL;
 *   group, summary, since, complexity  COMMAND DOCS's strings;
 *   history  NULL-terminated pairs (version, change), or NULL;
 *   args     COMMAND DOCS's argument tree, ended by a row without name;
 *   subs, nsubs  a container's subcommand rows, sorted by name;
 *   fn       the handler, called only with an argument count the arity
 *            allows (a container's, when no subcommand is given).
 * Each table (gvd_cmds, a container's subs) is sorted by name, for a
 * binary search.
 */
#ifndef GV_SERVER_COMMANDS_H
#define GV_SERVER_COMMANDS_H

#include <stddef.h>

#include "server/daemon_int.h"

/* Command flags, in the order COMMAND INFO lists them (Redis's). */
enum {
	CMD_WRITE = 1u << 0,
	CMD_READONLY = 1u << 1,
	CMD_DENYOOM = 1u << 2,
	CMD_ADMIN = 1u << 3,
	CMD_NOSCRIPT = 1u << 4,
	CMD_BLOCKING = 1u << 5,
	CMD_LOADING = 1u << 6,
	CMD_STALE = 1u << 7,
	CMD_SKIP_SLOWLOG = 1u << 8,
	CMD_FAST = 1u << 9,
	CMD_NO_AUTH = 1u << 10,
	CMD_ALLOW_BUSY = 1u << 11,
};

/* ACL categories, in Redis's order (the order COMMAND INFO lists them). */
enum {
	ACL_KEYSPACE = 1u << 0,
	ACL_READ = 1u << 1,
	ACL_WRITE = 1u << 2,
	ACL_SET = 1u << 3,
	ACL_SORTEDSET = 1u << 4,
	ACL_LIST = 1u << 5,
	ACL_HASH = 1u << 6,
	ACL_STRING = 1u << 7,
	ACL_BITMAP = 1u << 8,
	ACL_HYPERLOGLOG = 1u << 9,
	ACL_GEO = 1u << 10,
	ACL_STREAM = 1u << 11,
	ACL_PUBSUB = 1u << 12,
	ACL_ADMIN = 1u << 13,
	ACL_FAST = 1u << 14,
	ACL_SLOW = 1u << 15,
	ACL_BLOCKING = 1u << 16,
	ACL_DANGEROUS = 1u << 17,
	ACL_CONNECTION = 1u << 18,
	ACL_TRANSACTION = 1u << 19,
	ACL_SCRIPTING = 1u << 20,
};

/* A key spec's flags, in Redis's order. */
enum {
	KS_RO = 1u << 0,
	KS_RW = 1u << 1,
	KS_OW = 1u << 2,
	KS_RM = 1u << 3,
	KS_ACCESS = 1u << 4,
	KS_UPDATE = 1u << 5,
	KS_INSERT = 1u << 6,
	KS_DELETE = 1u << 7,
};

/* A documented argument's flags. */
enum {
	ARG_OPTIONAL = 1u << 0,
	ARG_MULTIPLE = 1u << 1,
	ARG_MULTIPLE_TOKEN = 1u << 2,
};

/*
 * One argument in COMMAND DOCS. @type is Redis's name for it: "key",
 * "string", "integer", "pattern", "pure-token", "oneof" or "block" (the
 * last two with @sub). A "key" argument is the command's key spec 0.
 * The strings are listed in Redis's order: name, type, token, since,
 * deprecated_since, then flags and the sub-arguments.
 */
struct gvd_cmd_arg {
	const char *name, *type, *token, *since;
	const char *deprecated; /* deprecated_since, or NULL */
	unsigned flags;
	const struct gvd_cmd_arg *sub;
};

typedef void gvd_cmd_fn(gv_daemon *d, struct client *c, gv_resp_arg *av,
			size_t ac);

struct gvd_cmd {
	const char *name;
	int arity;
	unsigned flags;
	int first, last, step;
	unsigned acl, kflags;
	const char *const *tips;
	const char *group, *summary, *since, *complexity;
	const char *const *history;
	const struct gvd_cmd_arg *args;
	const struct gvd_cmd *subs;
	size_t nsubs;
	gvd_cmd_fn *fn;
};

/* The top-level commands, sorted by name; COMMAND COUNT is gvd_ncmds. */
extern const struct gvd_cmd gvd_cmds[];
extern const size_t gvd_ncmds;

/*
 * gvd_cmd_find - the row of @tab (@n rows, sorted) named @p (@len bytes,
 * any case; a subcommand row matches on its part after '|'), or NULL.
 * O(log n), allocates nothing.
 */
const struct gvd_cmd *gvd_cmd_find(const struct gvd_cmd *tab, size_t n,
				   const char *p, size_t len);

/* The handlers of the rows (commands.c; COMMAND's in cmd_command.c). */
gvd_cmd_fn gvd_cmd_ping, gvd_cmd_echo, gvd_cmd_quit, gvd_cmd_get,
	gvd_cmd_set, gvd_cmd_del, gvd_cmd_exists, gvd_cmd_mget, gvd_cmd_mset,
	gvd_cmd_dbsize, gvd_cmd_scan, gvd_cmd_info, gvd_cmd_gv_keys,
	gvd_cmd_gv_members, gvd_cmd_gv_conflicts, gvd_cmd_gv_stats,
	gvd_cmd_gv_watch;
/* cmd_keys.c: single-key commands run whole on the key's shard */
gvd_cmd_fn gvd_cmd_setex, gvd_cmd_psetex, gvd_cmd_setnx, gvd_cmd_getset,
	gvd_cmd_getdel, gvd_cmd_getex, gvd_cmd_expire, gvd_cmd_pexpire,
	gvd_cmd_expireat, gvd_cmd_pexpireat, gvd_cmd_ttl, gvd_cmd_pttl,
	gvd_cmd_expiretime, gvd_cmd_pexpiretime, gvd_cmd_persist,
	gvd_cmd_incr, gvd_cmd_decr, gvd_cmd_incrby, gvd_cmd_decrby,
	gvd_cmd_incrbyfloat, gvd_cmd_flushdb, gvd_cmd_flushall;
/* cmd_multikey.c */
gvd_cmd_fn gvd_cmd_rename, gvd_cmd_renamenx, gvd_cmd_copy, gvd_cmd_msetnx;
/* cmd_wait.c */
gvd_cmd_fn gvd_cmd_wait;
/* cmd_strings.c */
gvd_cmd_fn gvd_cmd_append, gvd_cmd_strlen, gvd_cmd_getrange,
	gvd_cmd_setrange, gvd_cmd_type, gvd_cmd_touch, gvd_cmd_keys,
	gvd_cmd_randomkey, gvd_cmd_object, gvd_cmd_object_encoding,
	gvd_cmd_object_freq, gvd_cmd_object_idletime, gvd_cmd_object_refcount,
	gvd_cmd_object_help;
/* cmd_hash.c */
gvd_cmd_fn gvd_cmd_hset, gvd_cmd_hsetnx, gvd_cmd_hmset, gvd_cmd_hget,
	gvd_cmd_hmget, gvd_cmd_hdel, gvd_cmd_hgetall, gvd_cmd_hkeys,
	gvd_cmd_hvals, gvd_cmd_hlen, gvd_cmd_hexists, gvd_cmd_hstrlen,
	gvd_cmd_hincrby, gvd_cmd_hincrbyfloat, gvd_cmd_hrandfield,
	gvd_cmd_hscan;
/* cmd_conn.c */
gvd_cmd_fn gvd_cmd_hello, gvd_cmd_auth, gvd_cmd_select, gvd_cmd_reset,
	gvd_cmd_time, gvd_cmd_lastsave, gvd_cmd_client_getname,
	gvd_cmd_client_help, gvd_cmd_client_id, gvd_cmd_client_info,
	gvd_cmd_client_kill, gvd_cmd_client_list, gvd_cmd_client_no_evict,
	gvd_cmd_client_no_touch, gvd_cmd_client_reply, gvd_cmd_client_setinfo,
	gvd_cmd_client_setname;
/* cmd_config.c */
gvd_cmd_fn gvd_cmd_config_get, gvd_cmd_config_help, gvd_cmd_config_resetstat,
	gvd_cmd_config_set;
gvd_cmd_fn gvd_cmd_multi, gvd_cmd_exec, gvd_cmd_discard, gvd_cmd_watch,
	gvd_cmd_unwatch; /* multi.c */
gvd_cmd_fn gvd_cmd_command, gvd_cmd_command_count, gvd_cmd_command_docs,
	gvd_cmd_command_getkeys, gvd_cmd_command_getkeysandflags,
	gvd_cmd_command_help, gvd_cmd_command_info, gvd_cmd_command_list;

#endif
