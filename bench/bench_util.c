/* SPDX-License-Identifier: MIT */
/*
 * bench_util.c - gvbench's shared helpers (see bench_util.h): option
 * parsing, JSON pieces, percentiles and the convergence summary.
 */
#include "bench_util.h"

#include "core/keyring.h"
#include "core/rng.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/node.h"
#include "io/io.h"

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000),
	                      (long)(us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ options */

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9') /* strtoull would take "-1" */
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int
parse_f64(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int
set_opt(const char *cmd, struct opt *o, const char *val)
{
	uint64_t u;
	double f;
	int m;

	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->dst = true;
		break;
	case OPT_U64:
		if (parse_u64(val, &u) || u < o->umin || u > o->umax) {
			fprintf(stderr,
			        "gvbench %s: %s: '%s' is not an integer in "
			        "[%" PRIu64 ", %" PRIu64 "]\n",
			        cmd, o->name, val, o->umin, o->umax);
			return -1;
		}
		*(uint64_t *)o->dst = u;
		break;
	case OPT_F64:
		if (parse_f64(val, &f) || f < o->fmin || f > o->fmax ||
		    (o->fmax_open && f == o->fmax)) {
			fprintf(stderr,
			        "gvbench %s: %s: '%s' is not a number in "
			        "[%g, %g%c\n",
			        cmd, o->name, val, o->fmin, o->fmax,
			        o->fmax_open ? ')' : ']');
			return -1;
		}
		*(double *)o->dst = f;
		break;
	case OPT_STR:
		if (!*val) {
			fprintf(stderr, "gvbench %s: %s: empty value\n", cmd,
			        o->name);
			return -1;
		}
		*(const char **)o->dst = val;
		break;
	case OPT_IO:
		if (!strcmp(val, "auto"))
			m = GV_IO_AUTO;
		else if (!strcmp(val, "uring") || !strcmp(val, "io_uring"))
			m = GV_IO_URING;
		else if (!strcmp(val, "mmsg") || !strcmp(val, "recvmmsg"))
			m = GV_IO_MMSG;
		else {
			fprintf(stderr,
			        "gvbench %s: %s: unknown backend '%s' (auto, "
			        "uring or mmsg)\n",
			        cmd, o->name, val);
			return -1;
		}
		*(int *)o->dst = m;
		break;
	case OPT_MODE:
		m = gv_mode_parse(val);
		if (m < 0) {
			fprintf(stderr,
			        "gvbench %s: %s: unknown mode '%s' (push, "
			        "pull, pushpull or eager)\n",
			        cmd, o->name, val);
			return -1;
		}
		*(int *)o->dst = m;
		break;
	}
	o->seen = true;
	return 0;
}

int
parse_opts(const char *cmd, const char *usage, struct opt *opts, size_t n,
           int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage, stdout);
			return 1;
		}
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		struct opt *o = NULL;
		for (size_t k = 0; k < n; k++)
			if (strlen(opts[k].name) == len &&
			    !strncmp(opts[k].name, arg, len))
				o = &opts[k];
		if (!o) {
			fprintf(stderr,
			        "gvbench %s: unknown option '%s' (see gvbench "
			        "%s --help)\n",
			        cmd, arg, cmd);
			return EXIT_USAGE;
		}
		const char *val = NULL;
		if (o->kind == OPT_FLAG) {
			if (eq) {
				fprintf(stderr,
				        "gvbench %s: %s takes no value\n", cmd,
				        o->name);
				return EXIT_USAGE;
			}
		} else if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "gvbench %s: %s needs a value\n", cmd,
			        o->name);
			return EXIT_USAGE;
		}
		if (set_opt(cmd, o, val))
			return EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------ output */

void
machine_get(struct machine *m)
{
	struct utsname u;

	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s", u.release);
	else
		snprintf(m->kernel, sizeof(m->kernel), "unknown");
}

void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void
json_num(FILE *f, double v, bool valid)
{
	if (valid && isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

int
json_open(const char *cmd, const char *path, FILE **out)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		fprintf(stderr, "gvbench %s: %s: %s\n", cmd, path,
		        strerror(errno));
		return -1;
	}
	*out = f;
	return 0;
}

void
json_end(FILE *f, const struct machine *m)
{
	fprintf(f, ",\"allocator\":");
	json_str(f, gv_mem_default_name());
	fprintf(f, ",\"machine\":{\"cores\":%ld,\"kernel\":", m->cores);
	json_str(f, m->kernel);
	fprintf(f, "}}\n");
}

int
json_flush(const char *cmd, const char *path, FILE *jf)
{
	if (!jf)
		return 0;
	if (fflush(jf) || ferror(jf)) {
		fprintf(stderr, "gvbench %s: %s: %s\n", cmd, path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

#define PROGRESS_WIDTH 30     /* characters of the bar */
#define PROGRESS_EVERY_S 0.05 /* redraw at most this often */

void
progress_bar(bool on, const char *cmd, const char *label, double frac)
{
	/* the driver's thread only: one bar at a time */
	static double last;
	char bar[PROGRESS_WIDTH + 1];
	double t = now_s();

	if (!on || t - last < PROGRESS_EVERY_S)
		return;
	last = t;
	if (!(frac > 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	int fill = (int)(frac * PROGRESS_WIDTH);
	for (int i = 0; i < PROGRESS_WIDTH; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[PROGRESS_WIDTH] = 0;
	/* \033[K: erase what a longer previous line left */
	fprintf(stderr, "\rgvbench %s: %s [%s] %3d%%\033[K", cmd, label, bar,
	        (int)(frac * 100));
}

void
progress_clear(bool on)
{
	if (on)
		fprintf(stderr, "\r\033[K");
}

/* ------------------------------------------------------------ statistics */

int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

uint64_t
pct(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = ((size_t)p * n + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

double
median_ms(uint64_t *v, size_t n, bool *ok)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] != GV_TIME_NEVER)
			v[k++] = v[i];
	*ok = k > 0;
	if (!k)
		return 0;
	qsort(v, k, sizeof(*v), cmp_u64);
	return (double)pct(v, k, 50) / 1000.0;
}

static uint64_t
rounds_of(uint64_t us, uint64_t interval_us)
{
	return (us + interval_us - 1) / interval_us;
}

void
conv_summarize(struct conv_summary *s, uint64_t *conv, uint64_t *t50,
               uint64_t *t90, size_t n, uint64_t interval_us)
{
	size_t k = 0;

	memset(s, 0, sizeof(*s));
	s->updates = n;
	for (size_t u = 0; u < n; u++)
		if (conv[u] != GV_TIME_NEVER)
			conv[k++] = conv[u];
	s->converged = k;
	if (k) {
		double sum = 0;

		qsort(conv, k, sizeof(*conv), cmp_u64);
		s->conv_p50 = (double)pct(conv, k, 50) / 1000.0;
		s->conv_p95 = (double)pct(conv, k, 95) / 1000.0;
		s->conv_p99 = (double)pct(conv, k, 99) / 1000.0;
		s->conv_max = (double)conv[k - 1] / 1000.0;
		s->t100_ms = s->conv_p50;
		/* rounds grow with the time, so their percentiles are the
		 * rounds of the time's percentiles */
		for (size_t i = 0; i < k; i++)
			sum += (double)rounds_of(conv[i], interval_us);
		s->rounds_mean = sum / (double)k;
		s->rounds_p50 = rounds_of(pct(conv, k, 50), interval_us);
		s->rounds_p99 = rounds_of(pct(conv, k, 99), interval_us);
		s->rounds_max = rounds_of(conv[k - 1], interval_us);
	}
	s->t50_ms = median_ms(t50, n, &s->have_t50);
	s->t90_ms = median_ms(t90, n, &s->have_t90);
}

void
conv_print(FILE *f, const struct conv_summary *s, bool eager)
{
	bool any = s->converged > 0;

	if (any) {
		fprintf(f,
		        "  convergence_ms   p50 %9.1f  p95 %9.1f  p99 %9.1f  "
		        "max %9.1f\n",
		        s->conv_p50, s->conv_p95, s->conv_p99, s->conv_max);
		fprintf(f,
		        "  rounds           mean %7.2f  p50 %5" PRIu64
		        "  p99 %5" PRIu64 "  max %5" PRIu64 "%s\n",
		        s->rounds_mean, s->rounds_p50, s->rounds_p99,
		        s->rounds_max,
		        eager ? "  (eager: pushes at once, rounds not "
		                "meaningful)"
		              : "");
	} else {
		fprintf(f, "  convergence_ms   -  (no update converged)\n");
		fprintf(f, "  rounds           -\n");
	}
	fprintf(f, "  time to 50%%      ");
	if (s->have_t50)
		fprintf(f, "%.1f ms (p50)\n", s->t50_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  time to 90%%      ");
	if (s->have_t90)
		fprintf(f, "%.1f ms (p50)\n", s->t90_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  time to 100%%     ");
	if (any)
		fprintf(f, "%.1f ms (p50)\n", s->t100_ms);
	else
		fprintf(f, "-\n");
	fprintf(f, "  converged        %" PRIu64 "/%" PRIu64 "%s\n",
	        s->converged, s->updates,
	        s->converged < s->updates ? "  (NOT ALL CONVERGED)" : "");
}

void
conv_json(FILE *f, const struct conv_summary *s, bool eager)
{
	bool any = s->converged > 0;

	fprintf(f, ",\"converged\":%" PRIu64, s->converged);
	fprintf(f, ",\"rounds\":{\"mean\":");
	json_num(f, s->rounds_mean, any);
	fprintf(f, ",\"p50\":");
	json_num(f, (double)s->rounds_p50, any);
	fprintf(f, ",\"p99\":");
	json_num(f, (double)s->rounds_p99, any);
	fprintf(f, ",\"max\":");
	json_num(f, (double)s->rounds_max, any);
	fprintf(f, "},\"rounds_meaningful\":%s", eager ? "false" : "true");
	fprintf(f, ",\"convergence_ms\":{\"p50\":");
	json_num(f, s->conv_p50, any);
	fprintf(f, ",\"p95\":");
	json_num(f, s->conv_p95, any);
	fprintf(f, ",\"p99\":");
	json_num(f, s->conv_p99, any);
	fprintf(f, ",\"max\":");
	json_num(f, s->conv_max, any);
	fprintf(f, "},\"t50_ms\":");
	json_num(f, s->t50_ms, s->have_t50);
	fprintf(f, ",\"t90_ms\":");
	json_num(f, s->t90_ms, s->have_t90);
	fprintf(f, ",\"t100_ms\":");
	json_num(f, s->t100_ms, any);
}

int
seal_setup(const char *cmd, const char *seal, const char *cipher,
           uint64_t seed, int *nruns, bool *sealed_first, gv_keyring **ring)
{
	*nruns = 1;
	*sealed_first = false;
	*ring = NULL;
	if (!strcmp(seal, "both"))
		*nruns = 2;
	else if (!strcmp(seal, "on"))
		*sealed_first = true;
	else if (strcmp(seal, "off")) {
		fprintf(stderr,
		        "gvbench %s: --seal: expected off, on or both, got "
		        "'%s'\n",
		        cmd, seal);
		return EXIT_USAGE;
	}
	int cipher_id = gv_cipher_parse(cipher);
	if (cipher_id < 0) {
		fprintf(stderr,
		        "gvbench %s: --cipher: expected auto, aes256gcm or "
		        "xchacha20poly1305, got '%s'\n",
		        cmd, cipher);
		return EXIT_USAGE;
	}
	if (*nruns == 1 && !*sealed_first)
		return 0;
	uint8_t key[GV_KEY_LEN];
	gv_rng kr;
	gv_rng_seed(&kr, seed ^ 0x6b657972696e67ull);
	for (size_t i = 0; i < GV_KEY_LEN; i += 8) {
		uint64_t x = gv_rng_next(&kr);
		memcpy(key + i, &x, 8);
	}
	if (gv_keyring_new(ring, NULL) ||
	    gv_keyring_set_cipher(*ring, cipher_id) ||
	    gv_keyring_install(*ring, key) != 1) {
		fprintf(stderr, "gvbench %s: --cipher %s: not available on "
		                "this CPU\n",
		        cmd, cipher);
		gv_keyring_del(*ring);
		*ring = NULL;
		return EXIT_USAGE;
	}
	return 0;
}

void
seal_free(gv_keyring *ring)
{
	gv_keyring_del(ring);
}

const char *
seal_cipher_name(const gv_keyring *ring)
{
	return ring ? gv_cipher_name(gv_keyring_cipher(ring)) : "none";
}
