/* SPDX-License-Identifier: MIT */
/*
 * config.h - grapevined's configuration: defaults, command-line flags and
 * a config file (`key = value` lines, the flags' names without dashes; the
 * command line wins). Every bad value is a clear error naming the flag.
 */
#ifndef GV_SERVER_CONFIG_H
#define GV_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

#define GV_MAX_SEEDS 64

enum gv_log_level {
	GV_LOG_DEBUG = 0,
	GV_LOG_INFO,
	GV_LOG_WARN,
	GV_LOG_ERROR,
};

typedef struct gv_daemon_config {
	gv_addr bind;            /* --bind 127.0.0.1:7946 (shard i: port+i) */
	gv_addr seeds[GV_MAX_SEEDS]; /* --join host:port,... */
	size_t nseeds;
	char name[64];           /* --name (default: host:port) */
	unsigned shards;         /* --shards S: the cluster's key shards (8) */
	unsigned threads;        /* --threads T: this host's worker threads
				  * (0: min(S, CPUs from sched_getaffinity)) */
	gv_addr resp;            /* --resp 127.0.0.1:6380 */
	bool metrics_on;
	gv_addr metrics;         /* --metrics 127.0.0.1:9464 (off if absent) */
	unsigned interval_ms;    /* --interval-ms 100 */
	unsigned fanout;         /* --fanout 3 */
	int mode;                /* --mode eager */
	char region[64];         /* --region */
	uint64_t max_memory;     /* --max-memory BYTES (k/m/g suffixes); 0 none */
	size_t max_value;        /* --max-value BYTES (default 512 MiB) */
	uint64_t stream_threshold; /* --stream-threshold BYTES (16384) */
	uint64_t stream_buffer;    /* --stream-buffer BYTES (4 MiB) */
	uint64_t client_output_limit; /* --client-output-limit BYTES (64 MiB):
				       * unsent replies past it: disconnect */
	char on_event[1024];     /* --on-event SCRIPT */
	int log_level;           /* --log-level info */
	char cluster[64];        /* --cluster NAME (default "grapevine") */
	unsigned probe_interval_ms; /* --probe-interval-ms 200 */
	bool read_only_minority; /* --read-only-in-minority */
	int io_backend;          /* --io auto|uring|mmsg */
	bool pin;                /* --pin: thread t to the t-th usable CPU */
	char frontend[16];       /* --frontend threads|single (threads):
				  * clients served by every worker thread,
				  * or all by the front-end thread */
	char config_file[1024];  /* --config FILE */
	char keyring[1024];      /* --keyring FILE: seal gossip (none: clear) */
	int cipher;              /* --cipher auto|aes256gcm|xchacha20poly1305 */
	char requirepass[512];   /* --requirepass PASS: RESP clients AUTH
				  * first ("": no password) */
	unsigned flood_gap_us;   /* --flood-gap-us US (200): eager mode's
				  * least time between two flooding passes */
	unsigned tree_lazy_us;   /* --tree-lazy-us US (10000): announcements */
	unsigned tree_graft_us;  /* --tree-graft-us US (20000): wait before
				  * a GRAFT */
	unsigned timeout;        /* --timeout S: close RESP clients idle this
				  * long (0: never), Redis's timeout */
	uint64_t compress_threshold; /* --compress-threshold BYTES|off */
	int compress_level;          /* --compress-level L (1; -7..19) */
	/* persistence (docs/persistence.md) */
	char dir[1024];          /* --dir DIR: snapshots and log ("": off) */
	char appendfsync[16];    /* --appendfsync always|everysec|no */
	char save[256];          /* --save "SECS CHANGES ...": snapshots */
	bool load_damaged;       /* --load-damaged: set a damaged file aside
				  * and start with the rest */
} gv_daemon_config;

/*
 * gv_save_parse - Redis's save parameter: "" (none) or pairs "SECONDS
 * CHANGES ..." (at most GV_SAVE_POINTS). Returns the number of pairs,
 * -1 if s is not such a list.
 */
#define GV_SAVE_POINTS 8
int gv_save_parse(const char *s, uint64_t secs[GV_SAVE_POINTS],
		  uint64_t changes[GV_SAVE_POINTS]);

/* The default --shards: a property of the cluster, the same on every host
 * whatever its core count (hosts differ in --threads instead). */
#define GV_DEFAULT_SHARDS 8

/* Defaults (GV_DEFAULT_SHARDS shards, threads resolved at start). */
void gv_daemon_config_default(gv_daemon_config *cfg);

/*
 * gv_daemon_config_parse - apply argv (and a --config file, read first so
 * flags override it). On error, writes a message to err and returns -1;
 * returns 1 when --help or --version was asked (text written to out), 0 to
 * run.
 */
int gv_daemon_config_parse(gv_daemon_config *cfg, int argc, char **argv,
			   char *err, size_t errlen, char *out,
			   size_t outlen);

/* Parse "host:port" / "[v6]:port" (numeric or resolvable host). */
int gv_parse_hostport(const char *s, gv_addr *out, char *err, size_t errlen);

/* Format an address as "host:port" ("[::1]:7946" for IPv6). */
const char *gv_addr_str(const gv_addr *a, char *buf, size_t len);

/* Parse a size with optional k/m/g (powers of 1024) suffix. */
int gv_parse_size(const char *s, uint64_t *out);

/* The help text. */
const char *gv_daemon_usage(void);

/*
 * The options one by one, for CONFIG GET: gv_daemon_config_name(i) is the
 * i-th option's flag name without dashes (NULL past the last), and
 * gv_daemon_config_format writes its value in @cfg as its flag takes it
 * ("" for an unset address or list, "yes"/"no" for a switch). Returns
 * the length written (cut to @len - 1, as snprintf), or -1 past the last.
 */
const char *gv_daemon_config_name(size_t i);
int gv_daemon_config_format(const gv_daemon_config *cfg, size_t i, char *out,
			    size_t len);

#endif
