/* SPDX-License-Identifier: MIT */
/*
 * cmd_table.c - the command table's rows (commands.h says what a row
 * holds) and their lookup. The Redis commands carry Redis 7.0's own
 * arity, flags, key positions, ACL categories, tips and docs, except where
 * grapevine accepts less: SET has no GET or expiry options (its key spec
 * is OW update, its docs list key, value and NX|XX), SCAN no TYPE, INFO
 * one section. The COMMAND family that answers from the rows is
 * cmd_command.c.
 */
#include "server/commands.h"

#include <ctype.h>

/* Static arrays for the rows: a NULL-terminated string list and an
 * argument list ended by an empty row. */
#define STRS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const struct gvd_cmd_arg[]){__VA_ARGS__, {0}})

#define KEYS_ARG {.name = "key", .type = "key", .flags = ARG_MULTIPLE}
#define MULTI_SHARD_SUM                                                       \
	STRS("request_policy:multi_shard", "response_policy:agg_sum")
#define CMD_NAMES_ARG                                                         \
	{.name = "command-name", .type = "string",                            \
	 .flags = ARG_OPTIONAL | ARG_MULTIPLE}

/* COMMAND's subcommands, sorted by their name after "command|". */
static const struct gvd_cmd command_subs[] = {
	{.name = "command|count", .arity = 2, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .group = "server",
	 .summary = "Get total number of Redis commands", .since = "2.8.13",
	 .complexity = "O(1)", .fn = gvd_cmd_command_count},
	{.name = "command|docs", .arity = -2, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .tips = STRS("nondeterministic_output_order"),
	 .group = "server",
	 .summary = "Get array of specific Redis command documentation",
	 .since = "7.0.0",
	 .complexity = "O(N) where N is the number of commands to look up",
	 .args = ARGS(CMD_NAMES_ARG), .fn = gvd_cmd_command_docs},
	{.name = "command|getkeys", .arity = -4,
	 .flags = CMD_LOADING | CMD_STALE, .acl = ACL_CONNECTION,
	 .group = "server",
	 .summary = "Extract keys given a full Redis command",
	 .since = "2.8.13",
	 .complexity = "O(N) where N is the number of arguments to the command",
	 .fn = gvd_cmd_command_getkeys},
	{.name = "command|getkeysandflags", .arity = -4,
	 .flags = CMD_LOADING | CMD_STALE, .acl = ACL_CONNECTION,
	 .group = "server",
	 .summary = "Extract keys and access flags given a full Redis command",
	 .since = "7.0.0",
	 .complexity = "O(N) where N is the number of arguments to the command",
	 .fn = gvd_cmd_command_getkeysandflags},
	{.name = "command|help", .arity = 2, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .group = "server",
	 .summary = "Show helpful text about the different subcommands",
	 .since = "5.0.0", .complexity = "O(1)", .fn = gvd_cmd_command_help},
	{.name = "command|info", .arity = -2, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .tips = STRS("nondeterministic_output_order"),
	 .group = "server",
	 .summary = "Get array of specific Redis command details, or all when "
		    "no argument is given.",
	 .since = "2.8.13",
	 .complexity = "O(N) where N is the number of commands to look up",
	 .history = STRS("7.0.0", "Allowed to be called with no argument to "
				  "get info on all commands."),
	 .args = ARGS(CMD_NAMES_ARG), .fn = gvd_cmd_command_info},
	{.name = "command|list", .arity = -2, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .tips = STRS("nondeterministic_output_order"),
	 .group = "server", .summary = "Get an array of Redis command names",
	 .since = "7.0.0",
	 .complexity = "O(N) where N is the total number of Redis commands",
	 .args = ARGS({.name = "filterby", .type = "oneof",
		       .token = "FILTERBY", .flags = ARG_OPTIONAL,
		       .sub = ARGS({.name = "module-name", .type = "string",
				    .token = "MODULE"},
				   {.name = "category", .type = "string",
				    .token = "ACLCAT"},
				   {.name = "pattern", .type = "pattern",
				    .token = "PATTERN"})}),
	 .fn = gvd_cmd_command_list},
};

/* The top-level commands, sorted by name. */
const struct gvd_cmd gvd_cmds[] = {
	{.name = "command", .arity = -1, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_CONNECTION, .tips = STRS("nondeterministic_output_order"),
	 .group = "server", .summary = "Get array of Redis command details",
	 .since = "2.8.13",
	 .complexity = "O(N) where N is the total number of Redis commands",
	 .subs = command_subs,
	 .nsubs = sizeof(command_subs) / sizeof(command_subs[0]),
	 .fn = gvd_cmd_command},
	{.name = "dbsize", .arity = 1, .flags = CMD_READONLY | CMD_FAST,
	 .acl = ACL_KEYSPACE,
	 .tips = STRS("request_policy:all_shards", "response_policy:agg_sum"),
	 .group = "server",
	 .summary = "Return the number of keys in the selected database",
	 .since = "1.0.0", .complexity = "O(1)", .fn = gvd_cmd_dbsize},
	{.name = "del", .arity = -2, .flags = CMD_WRITE, .first = 1,
	 .last = -1, .step = 1, .acl = ACL_KEYSPACE,
	 .kflags = KS_RM | KS_DELETE, .tips = MULTI_SHARD_SUM,
	 .group = "generic", .summary = "Delete a key", .since = "1.0.0",
	 .complexity = "O(N) where N is the number of keys that will be "
		       "removed. When a key to remove holds a value other than "
		       "a string, the individual complexity for this key is "
		       "O(M) where M is the number of elements in the list, "
		       "set, sorted set or hash. Removing a single key that "
		       "holds a string value is O(1).",
	 .args = ARGS(KEYS_ARG), .fn = gvd_cmd_del},
	{.name = "discard", .arity = 1,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST |
		  CMD_ALLOW_BUSY,
	 .acl = ACL_TRANSACTION, .group = "transactions",
	 .summary = "Discard all commands issued after MULTI",
	 .since = "2.0.0",
	 .complexity = "O(N), when N is the number of queued commands",
	 .fn = gvd_cmd_discard},
	{.name = "echo", .arity = 2,
	 .flags = CMD_LOADING | CMD_STALE | CMD_FAST, .acl = ACL_CONNECTION,
	 .group = "connection", .summary = "Echo the given string",
	 .since = "1.0.0", .complexity = "O(1)",
	 .args = ARGS({.name = "message", .type = "string"}),
	 .fn = gvd_cmd_echo},
	{.name = "exec", .arity = 1,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_SKIP_SLOWLOG,
	 .acl = ACL_TRANSACTION, .group = "transactions",
	 .summary = "Execute all commands issued after MULTI",
	 .since = "1.2.0",
	 .complexity = "Depends on commands in the transaction",
	 .fn = gvd_cmd_exec},
	{.name = "exists", .arity = -2, .flags = CMD_READONLY | CMD_FAST,
	 .first = 1, .last = -1, .step = 1, .acl = ACL_KEYSPACE,
	 .kflags = KS_RO, .tips = MULTI_SHARD_SUM, .group = "generic",
	 .summary = "Determine if a key exists", .since = "1.0.0",
	 .complexity = "O(N) where N is the number of keys to check.",
	 .history = STRS("3.0.3", "Accepts multiple `key` arguments."),
	 .args = ARGS(KEYS_ARG), .fn = gvd_cmd_exists},
	{.name = "get", .arity = 2, .flags = CMD_READONLY | CMD_FAST,
	 .first = 1, .last = 1, .step = 1, .acl = ACL_STRING,
	 .kflags = KS_RO | KS_ACCESS, .group = "string",
	 .summary = "Get the value of a key", .since = "1.0.0",
	 .complexity = "O(1)", .args = ARGS({.name = "key", .type = "key"}),
	 .fn = gvd_cmd_get},
	{.name = "gv.conflicts", .arity = -1, .flags = CMD_READONLY,
	 .tips = STRS("nondeterministic_output"), .group = "cluster",
	 .summary = "Get the most recent write conflicts this node resolved, "
		    "newest first: key, winner and loser values and versions, "
		    "and when",
	 .since = "0.1.0",
	 .complexity = "O(N) where N is the number of conflicts returned",
	 .args = ARGS({.name = "count", .type = "integer",
		       .flags = ARG_OPTIONAL}),
	 .fn = gvd_cmd_gv_conflicts},
	{.name = "gv.keys", .arity = -1, .flags = CMD_ADMIN,
	 .group = "cluster",
	 .summary = "List, install, use or remove the keys of the cluster's "
		    "gossip keyring",
	 .since = "0.1.0", .complexity = "O(N) where N is the number of keys",
	 .args = ARGS({.name = "action", .type = "oneof",
		       .sub = ARGS({.name = "list", .type = "pure-token",
				    .token = "LIST"},
				   {.name = "install-key", .type = "string",
				    .token = "INSTALL"},
				   {.name = "use-key-or-id", .type = "string",
				    .token = "USE"},
				   {.name = "remove-key-or-id",
				    .type = "string", .token = "REMOVE"})}),
	 .fn = gvd_cmd_gv_keys},
	{.name = "gv.members", .arity = 1, .flags = CMD_READONLY,
	 .tips = STRS("nondeterministic_output"), .group = "cluster",
	 .summary = "Get the cluster's members as this node sees them: name, "
		    "address, region, state and incarnation",
	 .since = "0.1.0",
	 .complexity = "O(N) where N is the number of members",
	 .fn = gvd_cmd_gv_members},
	{.name = "gv.stats", .arity = 1, .flags = CMD_READONLY,
	 .tips = STRS("nondeterministic_output"), .group = "server",
	 .summary = "Get this node's counters as field and value pairs",
	 .since = "0.1.0", .complexity = "O(1)", .fn = gvd_cmd_gv_stats},
	{.name = "gv.watch", .arity = 2, .flags = CMD_READONLY, .first = 1,
	 .last = 1, .step = 1, .kflags = KS_RO,
	 .tips = STRS("nondeterministic_output"), .group = "generic",
	 .summary = "Get the newest version of a key this node knows, how many "
		    "live members hold it and how many there are",
	 .since = "0.1.0",
	 .complexity = "O(N) where N is the number of members",
	 .args = ARGS({.name = "key", .type = "key"}),
	 .fn = gvd_cmd_gv_watch},
	{.name = "info", .arity = -1, .flags = CMD_LOADING | CMD_STALE,
	 .acl = ACL_DANGEROUS,
	 .tips = STRS("nondeterministic_output", "request_policy:all_shards",
		      "response_policy:special"),
	 .group = "server",
	 .summary = "Get information and statistics about the server",
	 .since = "1.0.0", .complexity = "O(1)",
	 .args = ARGS({.name = "section", .type = "string",
		       .flags = ARG_OPTIONAL}),
	 .fn = gvd_cmd_info},
	{.name = "mget", .arity = -2, .flags = CMD_READONLY | CMD_FAST,
	 .first = 1, .last = -1, .step = 1, .acl = ACL_STRING,
	 .kflags = KS_RO | KS_ACCESS,
	 .tips = STRS("request_policy:multi_shard"), .group = "string",
	 .summary = "Get the values of all the given keys", .since = "1.0.0",
	 .complexity = "O(N) where N is the number of keys to retrieve.",
	 .args = ARGS(KEYS_ARG), .fn = gvd_cmd_mget},
	{.name = "mset", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM,
	 .first = 1, .last = -1, .step = 2, .acl = ACL_STRING,
	 .kflags = KS_OW | KS_UPDATE,
	 .tips = STRS("request_policy:multi_shard",
		      "response_policy:all_succeeded"),
	 .group = "string", .summary = "Set multiple keys to multiple values",
	 .since = "1.0.1",
	 .complexity = "O(N) where N is the number of keys to set.",
	 .args = ARGS({.name = "key_value", .type = "block",
		       .flags = ARG_MULTIPLE,
		       .sub = ARGS({.name = "key", .type = "key"},
				   {.name = "value", .type = "string"})}),
	 .fn = gvd_cmd_mset},
	{.name = "multi", .arity = 1,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST |
		  CMD_ALLOW_BUSY,
	 .acl = ACL_TRANSACTION, .group = "transactions",
	 .summary = "Mark the start of a transaction block",
	 .since = "1.2.0", .complexity = "O(1)", .fn = gvd_cmd_multi},
	{.name = "ping", .arity = -1, .flags = CMD_FAST, .acl = ACL_CONNECTION,
	 .tips = STRS("request_policy:all_shards",
		      "response_policy:all_succeeded"),
	 .group = "connection", .summary = "Ping the server", .since = "1.0.0",
	 .complexity = "O(1)",
	 .args = ARGS({.name = "message", .type = "string",
		       .flags = ARG_OPTIONAL}),
	 .fn = gvd_cmd_ping},
	{.name = "quit", .arity = -1,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST |
		  CMD_NO_AUTH | CMD_ALLOW_BUSY,
	 .acl = ACL_CONNECTION, .group = "connection",
	 .summary = "Close the connection", .since = "1.0.0",
	 .complexity = "O(1)", .fn = gvd_cmd_quit},
	{.name = "scan", .arity = -2, .flags = CMD_READONLY,
	 .acl = ACL_KEYSPACE,
	 .tips = STRS("nondeterministic_output", "request_policy:special"),
	 .group = "generic", .summary = "Incrementally iterate the keys space",
	 .since = "2.8.0",
	 .complexity = "O(1) for every call. O(N) for a complete iteration, "
		       "including enough command calls for the cursor to "
		       "return back to 0. N is the number of elements inside "
		       "the collection.",
	 .args = ARGS({.name = "cursor", .type = "integer"},
		      {.name = "pattern", .type = "pattern", .token = "MATCH",
		       .flags = ARG_OPTIONAL},
		      {.name = "count", .type = "integer", .token = "COUNT",
		       .flags = ARG_OPTIONAL}),
	 .fn = gvd_cmd_scan},
	{.name = "set", .arity = -3, .flags = CMD_WRITE | CMD_DENYOOM,
	 .first = 1, .last = 1, .step = 1, .acl = ACL_STRING,
	 .kflags = KS_OW | KS_UPDATE, .group = "string",
	 .summary = "Set the string value of a key", .since = "1.0.0",
	 .complexity = "O(1)",
	 .args = ARGS({.name = "key", .type = "key"},
		      {.name = "value", .type = "string"},
		      {.name = "condition", .type = "oneof",
		       .since = "2.6.12", .flags = ARG_OPTIONAL,
		       .sub = ARGS({.name = "nx", .type = "pure-token",
				    .token = "NX"},
				   {.name = "xx", .type = "pure-token",
				    .token = "XX"})}),
	 .fn = gvd_cmd_set},
	{.name = "unlink", .arity = -2, .flags = CMD_WRITE | CMD_FAST,
	 .first = 1, .last = -1, .step = 1, .acl = ACL_KEYSPACE,
	 .kflags = KS_RM | KS_DELETE, .tips = MULTI_SHARD_SUM,
	 .group = "generic",
	 .summary = "Delete a key asynchronously in another thread. Otherwise "
		    "it is just as DEL, but non blocking.",
	 .since = "4.0.0",
	 .complexity = "O(1) for each key removed regardless of its size. "
		       "Then the command does O(N) work in a different thread "
		       "in order to reclaim memory, where N is the number of "
		       "allocations the deleted objects where composed of.",
	 .args = ARGS(KEYS_ARG), .fn = gvd_cmd_del},
	{.name = "unwatch", .arity = 1,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST |
		  CMD_ALLOW_BUSY,
	 .acl = ACL_TRANSACTION, .group = "transactions",
	 .summary = "Forget about all watched keys", .since = "2.2.0",
	 .complexity = "O(1)", .fn = gvd_cmd_unwatch},
	/* checked against this node's replica only (README): its docs say
	 * so, as the issue asks of every conditional write */
	{.name = "watch", .arity = -2,
	 .flags = CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST |
		  CMD_ALLOW_BUSY,
	 .first = 1, .last = -1, .step = 1, .acl = ACL_TRANSACTION,
	 .kflags = KS_RO, .group = "transactions",
	 .summary = "Watch the given keys to determine execution of the "
		    "MULTI/EXEC block (grapevine: checked against this "
		    "node's replica only; two nodes can both succeed)",
	 .since = "2.2.0", .complexity = "O(1) for every key.",
	 .args = ARGS(KEYS_ARG), .fn = gvd_cmd_watch},
};

const size_t gvd_ncmds = sizeof(gvd_cmds) / sizeof(gvd_cmds[0]);

/* @p (@len bytes, any case) against a row's lowercase @name, in strcmp's
 * order, so that a table sorted by strcmp is sorted for this too. */
static int
name_cmp(const char *p, size_t len, const char *name)
{
	for (size_t i = 0; i < len; i++) {
		int a = tolower((unsigned char)p[i]);
		int b = (unsigned char)name[i];
		if (!b)
			return 1;
		if (a != b)
			return a - b;
	}
	return name[len] ? -1 : 0;
}

const struct gvd_cmd *
gvd_cmd_find(const struct gvd_cmd *tab, size_t n, const char *p, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = tab[mid].name, *bar = strchr(name, '|');
		int c = name_cmp(p, len, bar ? bar + 1 : name);
		if (!c)
			return &tab[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
