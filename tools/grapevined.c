/* SPDX-License-Identifier: MIT */
/*
 * grapevined.c - the grapevine daemon: parse the configuration, start the
 * engine (engine/server/daemon.h), serve until SIGTERM or SIGINT, leave the
 * cluster gracefully and exit 0. Bad flags and start-up failures (a port in
 * use, a seed with another shard count) are clear errors and non-zero exits.
 */
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
		fputs(out, stdout);
		return 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	gv_daemon *d;
	if (gv_daemon_new(&d, &cfg, err, sizeof(err))) {
		fprintf(stderr, "grapevined: %s\n", err);
		return 1;
	}
	rc = gv_daemon_run(d, &stop);
	gv_daemon_del(d);
	return rc;
}
