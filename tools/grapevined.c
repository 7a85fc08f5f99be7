/* SPDX-License-Identifier: MIT */
/*
 * grapevined.c - the grapevine daemon: parse the configuration, start the
 * engine (engine/server/daemon.h), serve until SIGTERM or SIGINT, leave the
 * cluster gracefully and exit 0. Bad flags and start-up failures (a port in
 * use, a seed with another shard count) are clear errors and non-zero exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/daemon.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	gv_daemon_config cfg;
	gv_daemon_config_default(&cfg);
	static char err[1024], out[8192];
	int rc = gv_daemon_config_parse(&cfg, argc, argv, err, sizeof(err), out,
					sizeof(out));
	if (rc < 0) {
		fprintf(stderr, "grapevined: %s\n(see grapevined --help)\n",
			err);
		return 2;
	}
	if (rc > 0) {
		/* --help, --version: exit 0 only if the text got out */
		if (fputs(out, stdout) == EOF || fflush(stdout) != 0) {
			fprintf(stderr, "grapevined: cannot write output: %s\n",
				strerror(errno));
			return 1;
		}
		return 0;
	}
	/* Without these handlers SIGTERM would kill the daemon without
	 * leaving the cluster, and a client's reset connection would kill
	 * it with SIGPIPE: refuse to start rather than run like that. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "grapevined: cannot install signal handlers: "
				"%s\n",
			strerror(errno));
		return 1;
	}

	gv_daemon *d;
	if (gv_daemon_new(&d, &cfg, err, sizeof(err))) {
		fprintf(stderr, "grapevined: %s\n", err);
		return 1;
	}
	rc = gv_daemon_run(d, &stop);
	gv_daemon_del(d);
	return rc;
}
