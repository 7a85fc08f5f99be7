/* SPDX-License-Identifier: MIT */
/*
 * cmds.h - gvbench subcommands that live in their own files, for
 * gvbench.c's dispatch table. Each takes the arguments after the
 * subcommand's name and returns the exit status: 0, 1 when the run
 * failed, 2 on a usage error.
 */
#ifndef GV_BENCH_CMDS_H
#define GV_BENCH_CMDS_H

/* `gvbench throughput` (cmd_throughput.c): sustained write rate on real
 * sockets, at a given rate or searched for with --max. */
int cmd_throughput(int argc, char **argv);

/* `gvbench cache` (cmd_cache.c): grapevined processes against a Redis
 * master and its replicas: acknowledged ops/s, latency and
 * read-after-write lag at the other nodes. */
int cmd_cache(int argc, char **argv);

/* `gvbench join` (cmd_join.c): cluster formation, N nodes joining
 * through K seeds at once on real UDP sockets. */
int cmd_join(int argc, char **argv);

#endif /* GV_BENCH_CMDS_H */
