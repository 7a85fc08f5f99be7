/* SPDX-License-Identifier: MIT */
/*
 * ceiling.c - `gvbench ceiling`: how many datagrams per second this
 * machine moves over loopback UDP through the engine's transport, so the
 * gossip figures can be read as a fraction of it.
 *
 * A source endpoint produces up to `batch` datagrams per loop iteration
 * (its timer is always due, so the loop never blocks and drains it each
 * time); a sink endpoint counts what arrives. Both sit on gv_io workers
 * exactly as grapevine nodes do: batched sendmsg SQEs and multishot
 * receives with io_uring, sendmmsg / recvmmsg with the fallback. Two
 * layouts are measured: one worker hosting both sockets (the engine's
 * shape: a worker sends and receives), and a worker each on two threads
 * pinned to two cores (no loop shares its time); the higher is the
 * ceiling.
 *
 * Accounting is exact, not sampled: the source stamps each datagram with
 * the phase it was sent in (warm-up or window), by its own clock, and
 * the sink counts by stamp, running until the network is quiet. So
 * `received` counts exactly the window's datagrams that arrived, never
 * more than `sent`, and sent - received is what the kernel dropped.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include <grapevine/grapevine.h>

#include "io/io.h"

#include "bench_util.h"
#include "ceiling.h"


#define HDR_MAGIC UINT32_C(0x6c637667) /* "gvcl" little-endian */
#define DEF_SECONDS 3.0
#define DEF_WARMUP_S 0.5
/* After the source stops: the sink waits for this long a quiet network. */
#define DRAIN_IDLE_US ((gv_time)50000)
#define DRAIN_WAIT_US ((gv_time)10000)
/* A worker still running this long after its window has failed. */
#define OVERRUN_US ((gv_time)10000000)

enum { PH_WARM, PH_WINDOW, PH_DONE };

/* ------------------------------------------------------------ endpoints */

/*
 * The kernel's count of datagrams dropped at socket fd (receive queue
 * full): the counter gv_io's kernel_drops accumulates. Read by the source
 * at the edges of its window, from its own thread, so the count covers
 * exactly the window's datagrams even when the sink runs on another
 * thread and is still working through warm-up datagrams.
 */
static uint32_t
sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
		return mi[SK_MEMINFO_DROPS];
	return 0;
}

struct src {
	gv_addr to;
	size_t payload;
	unsigned batch;
	unsigned budget; /* left this iteration */
	gv_time t0, t1;  /* the window as planned */
	gv_time w0, w1;  /* as it happened (iteration times) */
	int phase;
	uint64_t n[3];           /* produced, per phase */
	int sink_fd;             /* the sink's socket, for its drop counter */
	uint32_t drops0, drops1; /* its drop counter at the window's edges */
};

struct sink {
	size_t payload;
	uint64_t rx[3]; /* received, per phase stamp */
	uint64_t stray; /* not ours */
};

static int
src_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
         size_t len)
{
	return 0; /* nothing is sent to it */
}

static ssize_t
src_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	struct src *s = ep;
	uint32_t magic = HDR_MAGIC;

	if (!s->budget)
		return 0;
	s->budget--;
	/* Only the header is written: the ceiling is the transport's; what
	 * it costs to encode a datagram is the engine's own business. */
	memcpy(buf, &magic, 4);
	buf[4] = (uint8_t)s->phase;
	memcpy(buf + 8, &s->n[s->phase], 8);
	s->n[s->phase]++;
	*to = s->to;
	return (ssize_t)s->payload;
}

static gv_time
src_next_expiry(void *ep)
{
	const struct src *s = ep;

	return s->phase == PH_DONE ? GV_TIME_NEVER : 0; /* 0: now */
}

static int
src_expiry(void *ep, gv_time now)
{
	struct src *s = ep;

	if (s->phase == PH_WARM && now >= s->t0) {
		s->phase = PH_WINDOW;
		s->w0 = now;
		s->drops0 = sock_drops(s->sink_fd);
	}
	if (s->phase == PH_WINDOW && now >= s->t1) {
		s->phase = PH_DONE;
		s->w1 = now;
	}
	s->budget = s->phase == PH_DONE ? 0 : s->batch;
	return 0;
}

static int
sink_recv(void *ep, gv_time now, const gv_addr *from, const uint8_t *buf,
          size_t len)
{
	struct sink *k = ep;
	uint32_t magic;

	if (len != k->payload) {
		k->stray++;
		return 0;
	}
	memcpy(&magic, buf, 4);
	if (magic != HDR_MAGIC || buf[4] > PH_DONE) {
		k->stray++;
		return 0;
	}
	k->rx[buf[4]]++;
	return 0;
}

static ssize_t
sink_send(void *ep, gv_time now, gv_addr *to, uint8_t *buf, size_t cap)
{
	return 0;
}

static gv_time
sink_next_expiry(void *ep)
{
	return GV_TIME_NEVER;
}

static int
sink_expiry(void *ep, gv_time now)
{
	return 0;
}

static const gv_io_ops src_ops = {
        .recv = src_recv,
        .send = src_send,
        .next_expiry = src_next_expiry,
        .handle_expiry = src_expiry,
};

static const gv_io_ops sink_ops = {
        .recv = sink_recv,
        .send = sink_send,
        .next_expiry = sink_next_expiry,
        .handle_expiry = sink_expiry,
};

/* ------------------------------------------------------------ workers */

/* Shared by the workers of one run. */
struct ctl {
	int src_done; /* the source's sends have all completed */
	int abort;    /* a worker failed: the others stop */
};

struct worker {
	gv_io *io; /* deleted by the worker's thread, which owns the ring */
	struct src *src;   /* hosted here, or NULL */
	struct sink *sink; /* hosted here, or NULL */
	struct ctl *ctl;
	int cpu; /* -1: not pinned */
	bool pinned;
	gv_time deadline;
	int rc;
	gv_io_stats s0, s1; /* source's worker: window start, all sent */
	gv_time max_gap;    /* source's worker: longest iteration in the
	                     * window (a stall: the machine is busy) */
};

/*
 * The loop of one worker. The source's worker spins (wait 0) until the
 * window ends and its sends have completed; the sink's spins while the
 * source runs, then waits until the network has been quiet for
 * DRAIN_IDLE_US.
 */
static int
worker_loop(struct worker *w)
{
	struct src *s = w->src;
	struct sink *k = w->sink;
	bool s_snap = false, flushed = !s;
	gv_time done_at = 0, last_rx = 0, prev = 0;

	for (;;) {
		/* The release in the store below pairs with this acquire:
		 * nothing else crosses threads (counts are read after the
		 * join), it only ends the sink's spinning. */
		bool done =
		        __atomic_load_n(&w->ctl->src_done, __ATOMIC_ACQUIRE);
		bool busy = s ? s->phase != PH_DONE : !done;
		int r = gv_io_run_once(w->io, busy ? 0 : DRAIN_WAIT_US);
		gv_time now;

		if (r < 0)
			return r;
		now = gv_io_now();
		if (r > 0)
			last_rx = now;
		if (s && s->phase == PH_WINDOW && prev &&
		    now - prev > w->max_gap)
			w->max_gap = now - prev;
		prev = now;
		if (s && !s_snap && s->phase != PH_WARM) {
			gv_io_get_stats(w->io, &w->s0);
			s_snap = true;
		}
		if (!flushed && s->phase == PH_DONE) {
			gv_io_stats st;

			gv_io_get_stats(w->io, &st);
			if (st.dgrams_out + st.send_errors + st.filtered_out >=
			    s->n[PH_WARM] + s->n[PH_WINDOW]) {
				w->s1 = st;
				s->drops1 = sock_drops(s->sink_fd);
				flushed = true;
				__atomic_store_n(&w->ctl->src_done, 1,
				                 __ATOMIC_RELEASE);
			}
		}
		if (k) {
			bool src_over = s ? flushed : done;

			if (!done_at && src_over)
				done_at = now;
			if (done_at && now - done_at >= DRAIN_IDLE_US &&
			    now - last_rx >= DRAIN_IDLE_US)
				break;
		} else if (flushed) {
			break;
		}
		if (__atomic_load_n(&w->ctl->abort, __ATOMIC_RELAXED))
			return -ECANCELED;
		if (now > w->deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		w->pinned = pthread_setaffinity_np(pthread_self(), sizeof(set),
		                                   &set) == 0;
	}
	w->rc = worker_loop(w);
	if (w->rc)
		__atomic_store_n(&w->ctl->abort, 1, __ATOMIC_RELAXED);
	gv_io_del(w->io);
	w->io = NULL;
	return NULL;
}

/* ------------------------------------------------------------ measure */

/* gv_io's log: warnings and errors to stderr, each distinct one once per
 * measurement (the io_uring fallback would otherwise repeat per worker).
 * The workers log from their threads: the lock guards `last`. */
struct logctx {
	pthread_mutex_t lock;
	char last[256];
};

static void
io_log(void *ud, int level, const char *msg)
{
	struct logctx *lc = ud;

	if (level > GV_IO_LOG_WARN)
		return;
	pthread_mutex_lock(&lc->lock);
	if (strcmp(lc->last, msg)) {
		snprintf(lc->last, sizeof(lc->last), "%s", msg);
		fprintf(stderr, "gvbench ceiling: %s\n", msg);
	}
	pthread_mutex_unlock(&lc->lock);
}

/* The first two CPUs this process may run on; returns how many (0..2). */
static int
pick_cpus(int cpus[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

void
gv_bench_ceiling_opts_default(struct ceiling_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->seconds = DEF_SECONDS;
	o->warmup_s = DEF_WARMUP_S;
	o->payload = CEILING_DEF_PAYLOAD;
	o->backend = GV_IO_AUTO;
}

/* One layout: set up, run the workers, count. */
static int
measure_one(const struct ceiling_opts *o, unsigned threads, struct logctx *lc,
            struct ceiling_run *run, char *backend, size_t backend_cap)
{
	static const gv_addr lo = {.family = 4, .addr = {127, 0, 0, 1}};
	gv_io_config cfg;
	struct ctl ctl = {0};
	struct src s;
	struct sink k;
	struct worker w[2];
	pthread_t tid[2];
	unsigned started = 0, i;
	int cpus[2], ncpus, rc;
	gv_io_ep_info info;

	memset(w, 0, sizeof(w));
	memset(&s, 0, sizeof(s));
	memset(&k, 0, sizeof(k));
	gv_io_config_default(&cfg);
	cfg.backend = o->backend;
	cfg.gso = o->gso;
	if (cfg.buf_size < o->payload)
		cfg.buf_size = o->payload;
	cfg.log = io_log;
	cfg.log_ud = lc;
	s.payload = k.payload = o->payload;

	for (i = 0; i < threads; i++) {
		rc = gv_io_new(&w[i].io, &cfg);
		if (rc < 0)
			goto out;
	}
	/* The sink on the last worker, the source on the first. */
	rc = gv_io_add(w[threads - 1].io, &lo, &sink_ops, &k, NULL);
	if (rc < 0)
		goto out;
	rc = gv_io_get_ep_info(w[threads - 1].io, rc, &info);
	if (rc < 0)
		goto out;
	s.to = info.addr;
	s.sink_fd = info.fd;
	/* A batch the sink's receive buffer cannot hold is dropped before
	 * a single-worker loop gets to read it: with large payloads, send
	 * fewer per iteration (the kernel reports twice the usable bytes;
	 * a datagram takes about twice its payload in the queue). */
	s.batch = o->batch;
	if (!s.batch && info.rcvbuf <= 0) {
		s.batch = cfg.send_slots;
	} else if (!s.batch) {
		size_t fit = (size_t)info.rcvbuf / 2 / (2 * o->payload + 512);

		s.batch = fit < 1                ? 1
		          : fit < cfg.send_slots ? (unsigned)fit
		                                 : cfg.send_slots;
	}
	rc = gv_io_add(w[0].io, &lo, &src_ops, &s, NULL);
	if (rc < 0)
		goto out;
	snprintf(backend, backend_cap, "%s", gv_io_backend_name(w[0].io));

	ncpus = pick_cpus(cpus);
	w[0].src = &s;
	w[threads - 1].sink = &k;
	s.t0 = gv_io_now() + (gv_time)(o->warmup_s * 1e6);
	s.t1 = s.t0 + (gv_time)(o->seconds * 1e6);
	for (i = 0; i < threads; i++) {
		w[i].ctl = &ctl;
		/* Pin both or neither: one pinned thread against a free one
		 * measures the scheduler. */
		w[i].cpu = ncpus >= (int)threads ? cpus[i] : -1;
		w[i].deadline = s.t1 + OVERRUN_US;
	}
	for (i = 0; i < threads; i++) {
		rc = -pthread_create(&tid[i], NULL, worker_main, &w[i]);
		if (rc) {
			__atomic_store_n(&ctl.abort, 1, __ATOMIC_RELAXED);
			break;
		}
		started++;
	}
	/* The first error, not the -ECANCELED of the worker it stopped. */
	for (i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		if (!rc || rc == -ECANCELED)
			rc = w[i].rc ? w[i].rc : rc;
	}
	if (rc)
		goto out;

	memset(run, 0, sizeof(*run));
	run->threads = threads;
	run->batch = s.batch;
	run->pinned = true;
	for (i = 0; i < threads; i++)
		run->pinned = run->pinned && w[i].pinned;
	run->cpu_send = run->pinned ? w[0].cpu : -1;
	run->cpu_recv = run->pinned ? w[threads - 1].cpu : -1;
	run->sent = s.n[PH_WINDOW];
	run->received = k.rx[PH_WINDOW];
	/* received <= sent by construction; a violation shows as 0 drops
	 * and received > sent, which the smoke test catches. */
	run->drops = run->sent > run->received ? run->sent - run->received : 0;
	struct worker *ws = &w[0];
	run->kernel_drops = (uint32_t)(s.drops1 - s.drops0); /* it wraps */
	run->send_errors = ws->s1.send_errors - ws->s0.send_errors;
	uint64_t submits = ws->s1.submits - ws->s0.submits;
	run->per_submit = submits ? (double)run->sent / (double)submits : 0;
	run->wall_s = (double)(s.w1 - s.w0) / 1e6;
	run->max_iter_ms = (double)ws->max_gap / 1e3;
	run->dps = run->wall_s > 0 ? (double)run->received / run->wall_s : 0;
	run->bps = run->dps * (double)o->payload;
	rc = 0;
out:
	for (i = started; i < threads; i++)
		gv_io_del(w[i].io); /* never ran: no thread owns its ring */
	return rc;
}

int
gv_bench_ceiling_measure(const struct ceiling_opts *opts,
                         struct ceiling_result *out)
{
	struct ceiling_result r;
	struct logctx lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
	gv_time t = gv_io_now();
	unsigned lo, hi;

	if (!opts || !out)
		return GV_EINVAL;
	if (!(opts->seconds > 0 && opts->seconds <= 3600) ||
	    !(opts->warmup_s >= 0 && opts->warmup_s <= 3600) ||
	    opts->payload < CEILING_MIN_PAYLOAD ||
	    opts->payload > CEILING_MAX_PAYLOAD || opts->threads > 2 ||
	    opts->batch > 65536 || opts->backend < GV_IO_AUTO ||
	    opts->backend > GV_IO_MMSG)
		return GV_EINVAL;
	memset(&r, 0, sizeof(r));
	r.opts = *opts;
	lo = opts->threads ? opts->threads : 1;
	hi = opts->threads ? opts->threads : 2;
	for (unsigned th = lo; th <= hi; th++) {
		int rc = measure_one(&r.opts, th, &lc, &r.runs[r.nruns],
		                     r.backend, sizeof(r.backend));
		if (rc)
			return rc;
		if (r.runs[r.nruns].dps > r.runs[r.best].dps)
			r.best = r.nruns;
		r.nruns++;
	}
	r.ceiling_dps = r.runs[r.best].dps;
	r.ceiling_bps = r.runs[r.best].bps;
	r.total_s = (double)(gv_io_now() - t) / 1e6;
	*out = r;
	return 0;
}

/* ------------------------------------------------------------ options */

/*
 * A reduced copy of gvbench.c's option table (its parser is static there):
 * "--name value" and "--name=value", ranges checked, errors printed.
 */
/* ------------------------------------------------------------ output */

static const char *
cpus_text(const struct ceiling_run *u, char *buf, size_t cap)
{
	if (!u->pinned)
		snprintf(buf, cap, "no");
	else if (u->threads == 1)
		snprintf(buf, cap, "cpu%d", u->cpu_send);
	else
		snprintf(buf, cap, "cpu%d,%d", u->cpu_send, u->cpu_recv);
	return buf;
}

static void
ceiling_print(FILE *f, const struct ceiling_result *r, long cores,
              const char *kernel)
{
	const struct ceiling_opts *o = &r->opts;
	char cpus[32];

	fprintf(f,
	        "ceiling: backend=%s payload=%zu B window=%g s warm-up=%g s "
	        "batch=%u  (%ld cores, kernel %s)\n",
	        r->backend, o->payload, o->seconds, o->warmup_s,
	        r->runs[r->best].batch, cores, kernel);
	fprintf(f, "%7s %-8s %11s %11s %9s %7s %7s %11s %9s %7s %8s\n",
	        "threads", "pinned", "sent", "received", "drops", "kdrops",
	        "senderr", "dgrams/s", "MB/s", "dg/sub", "stall_ms");
	for (unsigned i = 0; i < r->nruns; i++) {
		const struct ceiling_run *u = &r->runs[i];

		fprintf(f,
		        "%7u %-8s %11" PRIu64 " %11" PRIu64 " %9" PRIu64
		        " %7" PRIu64 " %7" PRIu64
		        " %11.0f %9.1f %7.1f %8.1f%s\n",
		        u->threads, cpus_text(u, cpus, sizeof(cpus)), u->sent,
		        u->received, u->drops, u->kernel_drops, u->send_errors,
		        u->dps, u->bps / 1e6, u->per_submit, u->max_iter_ms,
		        r->nruns > 1 && i == r->best ? "  <- ceiling" : "");
	}
	fprintf(f,
	        "ceiling_dps %.0f  ceiling_bps %.0f (%.1f MB/s, %.2f Gbit/s)\n",
	        r->ceiling_dps, r->ceiling_bps, r->ceiling_bps / 1e6,
	        r->ceiling_bps * 8 / 1e9);
	fprintf(f, "drops = sent - received (window datagrams lost); kdrops = "
	           "receive-queue overflows; dg/sub = datagrams per sender "
	           "submit; stall_ms = longest sender iteration (tens of ms: "
	           "the machine was busy, measure again)\n");
}

static void
run_json(FILE *f, const struct ceiling_run *u)
{
	fprintf(f,
	        "{\"threads\":%u,\"batch\":%u,\"pinned\":%s,\"cpu_send\":%d"
	        ",\"cpu_recv\":%d"
	        ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
	        ",\"drops\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
	        ",\"send_errors\":%" PRIu64
	        ",\"per_submit\":%.1f,\"max_iter_ms\":%.3f,\"wall_s\":%.6f"
	        ",\"dps\":%.1f"
	        ",\"bps\":%.1f}",
	        u->threads, u->batch, u->pinned ? "true" : "false", u->cpu_send,
	        u->cpu_recv, u->sent, u->received, u->drops, u->kernel_drops,
	        u->send_errors, u->per_submit, u->max_iter_ms, u->wall_s,
	        u->dps, u->bps);
}

static void
ceiling_json(FILE *f, const struct ceiling_result *r, long cores,
             const char *kernel)
{
	const struct ceiling_opts *o = &r->opts;
	const struct ceiling_run *b = &r->runs[r->best];

	fprintf(f, "{\"bench\":\"ceiling\",\"version\":");
	json_str(f, GV_VERSION_STRING);
	fprintf(f, ",\"backend\":");
	json_str(f, r->backend);
	fprintf(f, ",\"gso\":%s", o->gso ? "true" : "false");
	fprintf(f,
	        ",\"payload\":%zu,\"seconds\":%g,\"warmup_s\":%g,\"batch\":%u"
	        ",\"ceiling_dps\":%.1f,\"ceiling_bps\":%.1f,\"threads\":%u"
	        ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
	        ",\"drops\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
	        ",\"send_errors\":%" PRIu64 ",\"wall_s\":%.6f,\"runs\":[",
	        o->payload, o->seconds, o->warmup_s, b->batch, r->ceiling_dps,
	        r->ceiling_bps, b->threads, b->sent, b->received, b->drops,
	        b->kernel_drops, b->send_errors, b->wall_s);
	for (unsigned i = 0; i < r->nruns; i++) {
		if (i)
			fputc(',', f);
		run_json(f, &r->runs[i]);
	}
	fprintf(f, "],\"total_s\":%.3f,\"machine\":{\"cores\":%ld,\"kernel\":",
	        r->total_s, cores);
	json_str(f, kernel);
	fprintf(f, "}}\n");
}

/* ------------------------------------------------------------ command */

#define CEILING_USAGE                                                          \
	"usage: gvbench ceiling [options]\n"                                   \
	"\n"                                                                   \
	"The raw loopback UDP ceiling of this machine through the engine's\n"  \
	"transport (a gv_io worker, batched sends and receives): a source\n"   \
	"endpoint sends as fast as the loop takes datagrams, a sink counts\n"  \
	"them. Measured with one worker hosting both sockets and with one\n"   \
	"worker each on two pinned threads; the higher is the ceiling.\n"      \
	"\n"                                                                   \
	"  --seconds S        measured window (default 3)\n"                   \
	"  --warmup S         sending before the window (default 0.5)\n"       \
	"  --payload BYTES    datagram size, 16 .. 65507 (default 1400, the\n" \
	"                     engine's max_datagram)\n"                        \
	"  --backend B        auto, uring or mmsg (default auto)\n"            \
	"  --threads T        1 or 2: measure that layout only (default "      \
	"both)\n"                                                              \
	"  --batch N          datagrams sent per loop iteration (default: "    \
	"the\n"                                                                \
	"                     worker's 1024 send slots, fewer when the\n"      \
	"                     receive buffer could not hold them)\n"           \
	"  --gso              let the io layer send back-to-back datagrams\n" \
	"                     as one UDP GSO send (default: one per send,\n"  \
	"                     the ceiling the engine's efficiency uses)\n"    \
	"  --json FILE        append one JSON object per run (one line)\n"     \
	"\n"                                                                   \
	"ceiling_dps = window datagrams received / window seconds;\n"          \
	"ceiling_bps = ceiling_dps * payload.\n"

int
gvbench_ceiling(int argc, char **argv)
{
	struct ceiling_opts o;
	struct ceiling_result r;
	uint64_t payload = CEILING_DEF_PAYLOAD, threads = 0, batch = 0;
	const char *json = NULL;
	struct machine m;
	FILE *jf = NULL;
	int rc;

	gv_bench_ceiling_opts_default(&o);
	struct opt opts[] = {
	        {.name = "--seconds",
	         .kind = OPT_F64,
	         .dst = &o.seconds,
	         .fmin = 0.01,
	         .fmax = 3600},
	        {.name = "--warmup",
	         .kind = OPT_F64,
	         .dst = &o.warmup_s,
	         .fmax = 3600},
	        {.name = "--payload",
	         .kind = OPT_U64,
	         .dst = &payload,
	         .umin = CEILING_MIN_PAYLOAD,
	         .umax = CEILING_MAX_PAYLOAD},
	        {.name = "--backend", .kind = OPT_IO, .dst = &o.backend},
	        {.name = "--threads",
	         .kind = OPT_U64,
	         .dst = &threads,
	         .umin = 1,
	         .umax = 2},
	        {.name = "--batch",
	         .kind = OPT_U64,
	         .dst = &batch,
	         .umin = 1,
	         .umax = 65536},
	        {.name = "--gso", .kind = OPT_FLAG, .dst = &o.gso},
	        {.name = "--json", .kind = OPT_STR, .dst = &json},
	};
	rc = parse_opts("ceiling", CEILING_USAGE, opts,
	                sizeof(opts) / sizeof(opts[0]), argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	o.payload = (size_t)payload;
	o.threads = (unsigned)threads;
	o.batch = (unsigned)batch;

	if (o.backend == GV_IO_URING) {
		/* Say plainly when the kernel or a sandbox refuses io_uring
		 * (the smoke test skips that backend on this message). */
		gv_io_config cfg;
		gv_io *probe;

		gv_io_config_default(&cfg);
		cfg.backend = GV_IO_URING;
		rc = gv_io_new(&probe, &cfg);
		if (rc < 0) {
			fprintf(stderr,
			        "gvbench ceiling: io_uring unavailable: %s\n",
			        gv_strerror(rc));
			return 1;
		}
		gv_io_del(probe);
	}
	machine_get(&m);
	if (json && json_open("ceiling", json, &jf))
		return 1;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "gvbench ceiling: measuring (%.0f s)...\r",
		        (o.threads ? 1 : 2) * (o.warmup_s + o.seconds + 0.1));
	rc = gv_bench_ceiling_measure(&o, &r);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%40s\r", "");
	if (rc) {
		fprintf(stderr, "gvbench ceiling: %s\n", gv_strerror(rc));
		if (jf)
			fclose(jf);
		return 1;
	}
	ceiling_print(stdout, &r, m.cores, m.kernel);
	if (jf) {
		ceiling_json(jf, &r, m.cores, m.kernel);
		if (json_flush("ceiling", json, jf))
			rc = 1;
		fclose(jf);
	}
	return rc;
}
