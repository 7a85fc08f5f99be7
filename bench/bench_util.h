/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - what gvbench's subcommands share: option tables and their
 * parser, the JSON writer's pieces, the machine description, nearest-rank
 * percentiles, and the convergence summary (percentiles of convergence
 * time, rounds, time to 50/90/100% of the nodes) with the table lines and
 * JSON fields that print it, so `sim` and `converge` report the same
 * figures the same way.
 */
#ifndef GV_BENCH_UTIL_H
#define GV_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/utsname.h>

#include <grapevine/grapevine.h>

#define EXIT_USAGE 2

/* CLOCK_MONOTONIC in seconds (wall time of a run). */
double now_s(void);

/* Sleep for us microseconds (the driver's pacing and polling). */
void sleep_us(uint64_t us);

/* ------------------------------------------------------------ options */

/*
 * A subcommand describes its options as a table; parse_opts() fills the
 * destinations, checks ranges and prints the error. Both "--name value" and
 * "--name=value" are accepted.
 */
enum opt_kind {
	OPT_FLAG, /* bool */
	OPT_U64,  /* uint64_t in [umin, umax] */
	OPT_F64,  /* finite double in [fmin, fmax], or [fmin, fmax) */
	OPT_STR,  /* const char * */
	OPT_MODE, /* int: enum gv_mode, by name */
	OPT_IO,   /* int: enum gv_io_backend, by name (auto, uring or
	           * io_uring, mmsg or recvmmsg) */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	void *dst;
	uint64_t umin, umax;
	double fmin, fmax;
	bool fmax_open; /* fmax itself excluded */
	bool seen;
};

/*
 * parse_opts - parse argv against opts; errors name the option and go to
 * stderr prefixed "gvbench CMD:". Returns 0, 1 if --help was asked (usage
 * printed to stdout), or EXIT_USAGE.
 */
int parse_opts(const char *cmd, const char *usage, struct opt *opts, size_t n,
               int argc, char **argv);

/* ------------------------------------------------------------ output */

struct machine {
	long cores;
	char kernel[sizeof(((struct utsname *)0)->release)];
};

void machine_get(struct machine *m);

/* A JSON string literal, escaped. */
void json_str(FILE *f, const char *s);

/* A number, or null when there is none (JSON has no NaN). */
void json_num(FILE *f, double v, bool valid);

/* Open --json FILE for appending; prints the error. Returns 0 or -1. */
int json_open(const char *cmd, const char *path, FILE **out);
/* Ends a JSON line: ,"allocator":...,"machine":{cores, kernel}}\n */
void json_end(FILE *f, const struct machine *m);

/* Flush after a JSON line; prints the error. Returns 0 or -1. A NULL jf
 * (no --json) is a no-op. */
int json_flush(const char *cmd, const char *path, FILE *jf);

/*
 * progress_bar - redraw "gvbench CMD: LABEL [#####     ]  42%" in place on
 * stderr, at most every 50 ms; nothing unless on (callers pass
 * isatty(STDERR_FILENO): a log file gets no progress). frac is clamped to
 * [0, 1]. progress_clear() erases the line before results are printed.
 */
void progress_bar(bool on, const char *cmd, const char *label, double frac);
void progress_clear(bool on);

/* ------------------------------------------------------------ statistics */

int cmp_u64(const void *a, const void *b);

/* Nearest rank: the smallest value with at least p% of them at or below
 * it. v sorted, n > 0. */
uint64_t pct(const uint64_t *v, size_t n, unsigned p);

/* Sort the n valid entries of v (GV_TIME_NEVER = none), return their
 * median in ms; *ok false when there are none. */
double median_ms(uint64_t *v, size_t n, bool *ok);

/*
 * The convergence figures of a run, over its updates. Percentiles are
 * nearest-rank over the updates that converged; rounds = ceil(convergence
 * time / interval); t50/t90/t100 are the p50 over updates of the time to
 * reach 50/90/100% of the nodes (t100 = convergence p50).
 */
struct conv_summary {
	uint64_t updates;
	uint64_t converged;
	double rounds_mean;
	uint64_t rounds_p50, rounds_p99, rounds_max;
	double conv_p50, conv_p95, conv_p99, conv_max; /* ms */
	double t50_ms, t90_ms, t100_ms;
	bool have_t50, have_t90;
};

/*
 * conv_summarize - fill s from per-update times in µs since injection
 * (GV_TIME_NEVER: not reached): conv (to every node), t50, t90, n updates
 * each. Reorders the three arrays.
 */
void conv_summarize(struct conv_summary *s, uint64_t *conv, uint64_t *t50,
                    uint64_t *t90, size_t n, uint64_t interval_us);

/* The table lines: convergence_ms, rounds, time to 50/90/100%, converged. */
void conv_print(FILE *f, const struct conv_summary *s, bool eager);

/* The JSON fields, each preceded by a comma: converged, rounds,
 * rounds_meaningful, convergence_ms, t50_ms, t90_ms, t100_ms. */
void conv_json(FILE *f, const struct conv_summary *s, bool eager);

/*
 * --seal off|on|both and --cipher, shared by converge and throughput.
 * seal_setup parses them: *nruns 1 or 2 (both: clear, then sealed),
 * *sealed_first true for "on", and *ring a keyring with one key drawn
 * from @seed (NULL for "off"); free it with seal_free. Prints the error
 * and returns EXIT_USAGE on a bad value or a cipher this CPU lacks.
 */
typedef struct gv_keyring gv_keyring;
int seal_setup(const char *cmd, const char *seal, const char *cipher,
               uint64_t seed, int *nruns, bool *sealed_first,
               gv_keyring **ring);
void seal_free(gv_keyring *ring);
/* "none", or the ring's cipher name */
const char *seal_cipher_name(const gv_keyring *ring);

#endif /* GV_BENCH_UTIL_H */
