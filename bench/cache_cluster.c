/* SPDX-License-Identifier: MIT */
/*
 * cache_cluster.c - starting, watching and stopping the grapevined and
 * redis-server clusters of `gvbench cache` (cache_cluster.h).
 */
#define _GNU_SOURCE /* nftw: FTW_DEPTH, FTW_PHYS */
#include "cache_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "resp_client.h"

#define STOP_TIMEOUT_S 5.0
#define CMD_TIMEOUT_MS 2000
#define START_ATTEMPTS 3
#define ARG_LEN 192 /* one argument of a command line built here */

volatile sig_atomic_t cc_interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	cc_interrupted = 1;
}

void
cc_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

const char *
cc_system_name(enum cc_system sys)
{
	return sys == CC_REDIS ? "redis" : "grapevined";
}

int
cc_find_program(const char *name, const char *explicit_path,
                const char *sibling, char *out, size_t cap)
{
	char buf[PATH_MAX];

	if (explicit_path) {
		if (access(explicit_path, X_OK))
			return -ENOENT;
		snprintf(out, cap, "%s", explicit_path);
		return 0;
	}
	if (sibling) {
		ssize_t k = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
		if (k > 0) {
			buf[k] = 0;
			char *slash = strrchr(buf, '/');
			if (slash) {
				*slash = 0;
				char cand[PATH_MAX + 64];
				snprintf(cand, sizeof(cand), "%s/%s", buf,
				         sibling);
				if (!access(cand, X_OK) &&
				    realpath(cand, buf)) {
					snprintf(out, cap, "%s", buf);
					return 0;
				}
			}
		}
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, name);
		if (len && !access(buf, X_OK)) {
			snprintf(out, cap, "%s", buf);
			return 0;
		}
		path = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------ ports */

static bool
port_free(int port, int type)
{
	struct sockaddr_in sa = {
	        .sin_family = AF_INET,
	        .sin_port = htons((uint16_t)port),
	        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * A base port such that base .. base+n-1 are free for TCP and UDP, below
 * the ephemeral range: a client connection cannot then take a port
 * meant for a server that is still starting. Random, so that two runs
 * at once rarely try the same block. Returns the base or -1.
 */
static int
free_port_block(int n)
{
	int lo = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%d", &lo) != 1)
			lo = 32768;
		fclose(f);
	}
	if (lo - n <= 10001)
		return -1;
	unsigned seed = (unsigned)getpid() ^ (unsigned)mono_ns();
	for (int tries = 0; tries < 200; tries++) {
		int base = 10000 +
		           (int)(rand_r(&seed) % (unsigned)(lo - n - 10000));
		bool ok = true;
		for (int p = base; ok && p < base + n; p++)
			ok = port_free(p, SOCK_STREAM) &&
			     port_free(p, SOCK_DGRAM);
		if (ok)
			return base;
	}
	return -1;
}

/* ------------------------------------------------------------ processes */

static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid)
		return pid; /* the child's id, or -1 */
	/* the child: its own process group (a terminal's ^C goes to
	 * gvbench, which stops it), SIGTERM when gvbench dies */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	int in = open("/dev/null", O_RDONLY);
	int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (in < 0 || out < 0)
		_exit(127);
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The last lines of a log, to stderr. */
static void
log_tail(const char *log)
{
	char buf[2048];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f,
	      size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0,
	      SEEK_SET);
	size_t k = fread(buf, 1, sizeof(buf) - 1, f);
	buf[k] = 0;
	fclose(f);
	fprintf(stderr, "--- %s (end) ---\n%s%s---\n", log, buf,
	        k && buf[k - 1] == '\n' ? "" : "\n");
}

static void
describe_exit(char *buf, size_t cap, int st)
{
	if (WIFEXITED(st))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, cap, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, cap, "stopped (status 0x%x)", st);
}

int
cache_cluster_alive(struct cache_cluster *c)
{
	for (size_t i = 0; i < c->n; i++) {
		int st;
		if (!c->node[i].pid ||
		    waitpid(c->node[i].pid, &st, WNOHANG) != c->node[i].pid)
			continue;
		char how[64];
		describe_exit(how, sizeof(how), st);
		fprintf(stderr, "gvbench cache: %s node %zu (pid %d) %s\n",
		        cc_system_name(c->sys), i, (int)c->node[i].pid, how);
		log_tail(c->node[i].log);
		c->node[i].pid = 0;
		return -ECHILD;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
cache_cluster_stop(struct cache_cluster *c, enum cc_logs logs)
{
	int rc = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->node[i].pid > 0)
			kill(c->node[i].pid, SIGTERM);
	double end = now_s() + STOP_TIMEOUT_S;
	for (size_t i = 0; i < c->n; i++) {
		pid_t pid = c->node[i].pid;
		int st = 0;
		pid_t k;
		if (pid <= 0)
			continue;
		while ((k = waitpid(pid, &st, WNOHANG)) == 0 && now_s() < end)
			sleep_us(10000);
		if (k == 0) {
			fprintf(stderr,
			        "gvbench cache: %s node %zu (pid %d) still "
			        "there %.0f s after SIGTERM: killed\n",
			        cc_system_name(c->sys), i, (int)pid,
			        STOP_TIMEOUT_S);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			rc = -ECHILD;
		} else if (k == pid && !(WIFEXITED(st) && !WEXITSTATUS(st))) {
			char how[64];
			describe_exit(how, sizeof(how), st);
			if (logs != CC_LOGS_DROP)
				fprintf(stderr,
				        "gvbench cache: %s node %zu (pid %d) "
				        "%s "
				        "when stopped\n",
				        cc_system_name(c->sys), i, (int)pid,
				        how);
			rc = -ECHILD;
		}
		c->node[i].pid = 0;
	}
	if (!c->dir[0])
		return rc;
	if (logs == CC_LOGS_KEEP || (logs == CC_LOGS_ON_ERROR && rc))
		fprintf(stderr, "gvbench cache: the logs are in %s\n", c->dir);
	else
		nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	c->dir[0] = 0;
	return rc;
}

/* ------------------------------------------------------------ readiness */

static int
node_cmd(const struct cc_node *nd, struct resp_sync *s, const char *a0,
         const char *a1, struct resp_val *v)
{
	const char *argv[] = {a0, a1};

	if (s->fd < 0) {
		int rc = resp_sync_open(s, nd->resp_port, CMD_TIMEOUT_MS);
		if (rc)
			return rc;
	}
	int rc = resp_sync_cmd(s, CMD_TIMEOUT_MS, v, a1 ? 2 : 1, argv, NULL);
	if (rc)
		resp_sync_close(s);
	return rc;
}

/* Is node i ready: it answers PING, and it sees the cluster formed. */
static bool
node_ready(struct cache_cluster *c, size_t i, struct resp_sync *s)
{
	struct resp_val v;
	char val[64];

	if (node_cmd(&c->node[i], s, "PING", NULL, &v) || v.type != '+')
		return false;
	if (c->n == 1 && c->sys == CC_GRAPEVINED)
		return true;
	if (node_cmd(&c->node[i], s, "INFO", "replication", &v) ||
	    v.type != '$' || v.nil)
		return false;
	if (c->sys == CC_GRAPEVINED)
		return !info_field(v.s, v.len, "members_alive", val,
		                   sizeof(val)) &&
		       strtoul(val, NULL, 10) == c->n - 1;
	if (i == 0)
		return !info_field(v.s, v.len, "connected_slaves", val,
		                   sizeof(val)) &&
		       strtoul(val, NULL, 10) == c->n - 1;
	return !info_field(v.s, v.len, "master_link_status", val,
	                   sizeof(val)) &&
	       !strcmp(val, "up");
}

static void
read_version(struct cache_cluster *c, struct resp_sync *s)
{
	struct resp_val v;

	snprintf(c->version, sizeof(c->version), "%s",
	         c->sys == CC_GRAPEVINED ? GV_VERSION_STRING : "?");
	if (c->sys == CC_REDIS &&
	    !node_cmd(&c->node[0], s, "INFO", "server", &v) && v.type == '$' &&
	    !v.nil)
		info_field(v.s, v.len, "redis_version", c->version,
		           sizeof(c->version));
}

/* ------------------------------------------------------------ start */

static void
args_grapevined(const struct cache_cluster *c, size_t i,
                const struct cc_opts *o, char bufs[][ARG_LEN], char **argv)
{
	int k = 0;

	argv[k++] = (char *)o->grapevined;
	argv[k++] = "--bind";
	snprintf(bufs[0], ARG_LEN, "127.0.0.1:%d", c->node[i].gossip_port);
	argv[k++] = bufs[0];
	argv[k++] = "--resp";
	snprintf(bufs[1], ARG_LEN, "127.0.0.1:%d", c->node[i].resp_port);
	argv[k++] = bufs[1];
	argv[k++] = "--shards";
	snprintf(bufs[2], ARG_LEN, "%u", o->shards);
	argv[k++] = bufs[2];
	argv[k++] = "--threads";
	snprintf(bufs[3], ARG_LEN, "%u", o->threads);
	argv[k++] = bufs[3];
	argv[k++] = "--name";
	snprintf(bufs[4], ARG_LEN, "n%zu", i);
	argv[k++] = bufs[4];
	argv[k++] = "--log-level";
	argv[k++] = "warn";
	if (i) {
		argv[k++] = "--join";
		snprintf(bufs[5], ARG_LEN, "127.0.0.1:%d",
		         c->node[0].gossip_port);
		argv[k++] = bufs[5];
	}
	if (o->appendfsync) {
		/* in the run's directory, removed with it */
		argv[k++] = "--dir";
		snprintf(bufs[6], ARG_LEN, "%.*s/gvd%zu", ARG_LEN - 16, c->dir,
		         i);
		argv[k++] = bufs[6];
		argv[k++] = "--appendfsync";
		argv[k++] = (char *)o->appendfsync;
		argv[k++] = "--save";
		argv[k++] = "";
	}
	argv[k] = NULL;
}

static int
args_redis(const struct cache_cluster *c, size_t i, const struct cc_opts *o,
           char bufs[][ARG_LEN], char **argv)
{
	char dir[sizeof(c->dir) + 32];
	int k = 0;

	snprintf(dir, sizeof(dir), "%s/redis%zu", c->dir, i);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	argv[k++] = (char *)o->redis_server;
	argv[k++] = "--port";
	snprintf(bufs[0], ARG_LEN, "%d", c->node[i].resp_port);
	argv[k++] = bufs[0];
	argv[k++] = "--bind";
	argv[k++] = "127.0.0.1";
	argv[k++] = "--save";
	argv[k++] = "";
	argv[k++] = "--appendonly";
	argv[k++] = o->appendfsync ? "yes" : "no";
	if (o->appendfsync) {
		argv[k++] = "--appendfsync";
		argv[k++] = (char *)o->appendfsync;
	}
	argv[k++] = "--daemonize";
	argv[k++] = "no";
	argv[k++] = "--protected-mode";
	argv[k++] = "no";
	argv[k++] = "--dir";
	snprintf(bufs[1], ARG_LEN, "%s", dir);
	argv[k++] = bufs[1];
	if (i) {
		argv[k++] = "--replicaof";
		argv[k++] = "127.0.0.1";
		snprintf(bufs[2], ARG_LEN, "%d", c->node[0].resp_port);
		argv[k++] = bufs[2];
	}
	argv[k] = NULL;
	return 0;
}

static int
start_once(struct cache_cluster *c, enum cc_system sys, size_t n,
           const struct cc_opts *o, bool last)
{
	unsigned shards = sys == CC_GRAPEVINED ? o->shards : 0;
	int per = (int)shards + 1; /* gossip ports and the RESP port */
	int rc;

	memset(c, 0, sizeof(*c));
	c->sys = sys;
	c->n = n;
	/* the processes' logs and Redis's directories: mkdtemp's template */
	const char *tmp = getenv("TMPDIR");
	snprintf(c->dir, sizeof(c->dir), "%s/gvbench-cache-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->dir)) {
		rc = -errno;
		fprintf(stderr, "gvbench cache: mkdtemp: %s\n", strerror(-rc));
		c->dir[0] = 0;
		return rc;
	}
	int base = free_port_block(per * (int)n);
	if (base < 0) {
		fprintf(stderr, "gvbench cache: no block of %d free ports\n",
		        per * (int)n);
		rc = -EADDRINUSE;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		c->node[i].gossip_port = base + (int)(i * shards);
		c->node[i].resp_port = base + (int)(n * shards + i);
		snprintf(c->node[i].log, sizeof(c->node[i].log), "%s/%s%zu.log",
		         c->dir, cc_system_name(sys), i);
	}
	for (size_t i = 0; i < n; i++) {
		char bufs[8][ARG_LEN], *argv[32];
		if (sys == CC_GRAPEVINED) {
			args_grapevined(c, i, o, bufs, argv);
		} else if ((rc = args_redis(c, i, o, bufs, argv))) {
			fprintf(stderr, "gvbench cache: %s: %s\n", c->dir,
			        strerror(-rc));
			goto fail;
		}
		c->node[i].pid = spawn(argv, c->node[i].log);
		if (c->node[i].pid < 0) {
			rc = -errno;
			c->node[i].pid = 0;
			fprintf(stderr, "gvbench cache: fork: %s\n",
			        strerror(-rc));
			goto fail;
		}
	}

	/* poll every node until each is ready, or one exits, or time's up */
	struct resp_sync s[CC_MAX_NODES] = {0};
	bool ready[CC_MAX_NODES] = {false};
	size_t nready = 0;
	double end = now_s() + o->ready_s;
	for (size_t i = 0; i < n; i++)
		s[i].fd = -1;
	rc = 0;
	while (nready < n) {
		if (cc_interrupted) {
			rc = -EINTR;
			break;
		}
		if ((rc = cache_cluster_alive(c)))
			break;
		for (size_t i = 0; i < n; i++)
			if (!ready[i] && node_ready(c, i, &s[i])) {
				ready[i] = true;
				nready++;
			}
		if (nready == n)
			break;
		if (now_s() > end) {
			fprintf(stderr,
			        "gvbench cache: %s: the cluster of %zu did not "
			        "form in %.0f s (%zu ready)\n",
			        cc_system_name(sys), n, o->ready_s, nready);
			for (size_t i = 0; i < n; i++)
				if (!ready[i]) {
					log_tail(c->node[i].log);
					break;
				}
			rc = -ETIMEDOUT;
			break;
		}
		sleep_us(20000);
	}
	if (!rc)
		read_version(c, &s[0]);
	for (size_t i = 0; i < n; i++)
		if (s[i].fd >= 0)
			resp_sync_close(&s[i]);
	if (!rc)
		return 0;
fail:
	/* the logs of a start that will be tried again go */
	cache_cluster_stop(c, rc == -EINTR             ? CC_LOGS_ON_ERROR
	                      : !last && rc == -ECHILD ? CC_LOGS_DROP
	                                               : CC_LOGS_KEEP);
	return rc;
}

int
cache_cluster_start(struct cache_cluster *c, enum cc_system sys, size_t n,
                    const struct cc_opts *o)
{
	int rc = -ECHILD;

	/* a process that exits while starting most likely lost its port to
	 * another program between the check and its bind: other ports */
	for (int attempt = 0; attempt < START_ATTEMPTS && rc == -ECHILD;
	     attempt++) {
		if (attempt)
			fprintf(stderr,
			        "gvbench cache: %s: starting again on other "
			        "ports\n",
			        cc_system_name(sys));
		rc = start_once(c, sys, n, o, attempt == START_ATTEMPTS - 1);
	}
	return rc;
}
