/* SPDX-License-Identifier: MIT */
/*
 * zbench.c - values and compression figures for gvbench (zbench.h).
 *
 * The JSON and HTML values are made from small vocabularies by a seeded
 * generator, so two values share their field names, tags and markup (as
 * a cache's values of one kind do) but not their contents: ids, names,
 * numbers, dates and words vary. They compress about as real documents
 * of their kind do (JSON ~3x, HTML ~4x with zstd -1 on a few KiB);
 * random bytes do not compress at all.
 */
#include "zbench.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/compress.h"
#include "core/rng.h"

static const char *const kinds[] = {"random", "json", "html"};

int
zb_kind_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, kinds[i]))
			return i;
	return -1;
}

const char *
zb_kind_name(int kind)
{
	return kind >= 0 && kind < 3 ? kinds[kind] : "?";
}

static const char *const first[] = {
        "Alice", "Bob",   "Chloe", "David", "Emma", "Farid",  "Grace", "Hugo",
        "Ines",  "Jonas", "Keiko", "Liam",  "Maya", "Noah",   "Olga",  "Pablo",
        "Quinn", "Rosa",  "Sven",  "Tara",  "Uma",  "Victor", "Wen",   "Yusuf"};
static const char *const last[] = {
        "Smith",  "Garcia", "Martin", "Kowalski", "Nguyen", "Rossi",  "Müller",
        "Dubois", "Tanaka", "Silva",  "Cohen",    "Novak",  "Larsen", "Okafor"};
static const char *const cities[] = {
        "Paris",  "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima",   "Oslo",
        "Austin", "Krakow", "Seoul", "Dublin",  "Porto",   "Denver", "Lyon"};
static const char *const tags[] = {"admin",      "beta",   "premium", "trial",
                                   "staff",      "mobile", "eu",      "us",
                                   "newsletter", "vip",    "support", "api"};
static const char *const words[] = {
        "fast",     "light",    "durable",  "classic", "organic",
        "compact",  "wireless", "steel",    "cotton",  "ceramic",
        "vintage",  "smart",    "portable", "quiet",   "waterproof",
        "handmade", "premium",  "eco",      "modular", "foldable"};
static const char *const nouns[] = {
        "lamp",   "chair", "kettle", "backpack",   "speaker",
        "jacket", "mug",   "desk",   "headphones", "blender",
        "tent",   "watch", "bottle", "shelf"};

#define PICK(r, a) (a[gv_rng_below(r, sizeof(a) / sizeof(a[0]))])

/* One JSON user record, into p (room >= 512). */
static int
json_doc(char *p, gv_rng *r)
{
	const char *f = PICK(r, first), *l = PICK(r, last);
	unsigned ntags = 1 + (unsigned)gv_rng_below(r, 3);
	int n = sprintf(
	        p,
	        "{\"id\":%" PRIu64 ",\"name\":\"%s %s\",\"email\":\"%s.%s%u"
	        "@example.com\",\"created\":\"2026-%02u-%02uT%02u:%02u:%02uZ\","
	        "\"active\":%s,\"score\":%u.%u,\"visits\":%u,\"address\":"
	        "{\"city\":\"%s\",\"zip\":\"%05u\",\"street\":\"%u %s "
	        "street\"},"
	        "\"tags\":[",
	        100000 + gv_rng_below(r, 900000), f, l, f, l,
	        (unsigned)gv_rng_below(r, 100),
	        1 + (unsigned)gv_rng_below(r, 12),
	        1 + (unsigned)gv_rng_below(r, 28),
	        (unsigned)gv_rng_below(r, 24), (unsigned)gv_rng_below(r, 60),
	        (unsigned)gv_rng_below(r, 60),
	        gv_rng_below(r, 4) ? "true" : "false",
	        (unsigned)gv_rng_below(r, 100), (unsigned)gv_rng_below(r, 10),
	        (unsigned)gv_rng_below(r, 5000), PICK(r, cities),
	        (unsigned)gv_rng_below(r, 100000),
	        1 + (unsigned)gv_rng_below(r, 300), PICK(r, nouns));
	for (unsigned i = 0; i < ntags; i++)
		n += sprintf(p + n, "%s\"%s\"", i ? "," : "", PICK(r, tags));
	n += sprintf(p + n, "]}");
	return n;
}

/* One HTML product card, into p (room >= 768). */
static int
html_doc(char *p, gv_rng *r)
{
	unsigned id = 10000 + (unsigned)gv_rng_below(r, 90000);
	const char *w1 = PICK(r, words), *w2 = PICK(r, words);
	const char *nn = PICK(r, nouns);
	return sprintf(
	        p,
	        "<div class=\"product-card\" data-id=\"%u\">\n"
	        "  <a href=\"/products/%u-%s-%s\" class=\"product-link\">\n"
	        "    <img src=\"/img/%u.jpg\" alt=\"%s %s %s\" loading=\"lazy\""
	        " width=\"320\" height=\"240\">\n"
	        "    <h2 class=\"product-title\">%s %s %s</h2>\n  </a>\n"
	        "  <p class=\"product-desc\">A %s %s, %s and %s, made to last."
	        "</p>\n"
	        "  <span class=\"price\" data-currency=\"EUR\">%u.%02u</span>\n"
	        "  <button class=\"btn btn-primary add-to-cart\" "
	        "data-id=\"%u\">"
	        "Add to cart</button>\n</div>\n",
	        id, id, w1, nn, id, w1, w2, nn, w1, w2, nn, w1, nn,
	        PICK(r, words), PICK(r, words),
	        1 + (unsigned)gv_rng_below(r, 500),
	        (unsigned)gv_rng_below(r, 100), id);
}

void
zb_fill(int kind, uint8_t *val, size_t len, uint64_t seed)
{
	gv_rng r;
	gv_rng_seed(&r, seed);
	if (kind == ZB_RANDOM) {
		for (size_t i = 0; i < len; i += 8) {
			uint64_t x = gv_rng_next(&r);
			memcpy(val + i, &x, len - i < 8 ? len - i : 8);
		}
		return;
	}
	/* documents one after another (a JSON array), cut at len */
	char doc[1024];
	size_t n = 0;
	if (kind == ZB_JSON && len)
		val[n++] = '[';
	while (n < len) {
		int l = kind == ZB_JSON ? json_doc(doc, &r) : html_doc(doc, &r);
		if (kind == ZB_JSON && n > 1) {
			val[n++] = ',';
			if (n == len)
				break;
		}
		size_t c = (size_t)l < len - n ? (size_t)l : len - n;
		memcpy(val + n, doc, c);
		n += c;
	}
}

int
zb_thresholds_parse(const char *cmd, const char *s, size_t *out)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf)) {
		fprintf(stderr, "gvbench %s: --compress-threshold: too long\n",
		        cmd);
		return -1;
	}
	strcpy(buf, s);
	int n = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (n == ZB_MAX_THRESHOLDS) {
			fprintf(stderr,
			        "gvbench %s: --compress-threshold: at most "
			        "%d values\n",
			        cmd, ZB_MAX_THRESHOLDS);
			return -1;
		}
		char *end;
		unsigned long long v = 0;
		if (strcmp(t, "off")) {
			v = strtoull(t, &end, 10);
			if (end == t || *end || t[0] == '-' || v > 65507) {
				fprintf(stderr,
				        "gvbench %s: --compress-threshold: "
				        "expected off or 0..65507, got '%s'\n",
				        cmd, t);
				return -1;
			}
		}
		out[n++] = (size_t)v;
	}
	if (!n) {
		fprintf(stderr, "gvbench %s: --compress-threshold: empty\n",
		        cmd);
		return -1;
	}
	return n;
}

int
zb_level_parse(const char *cmd, const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < -7 || v > 19) {
		fprintf(stderr,
		        "gvbench %s: --compress-level: expected -7 .. 19, got "
		        "'%s'\n",
		        cmd, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
zb_opts(const char *cmd, const char *values, const char *level_s,
	const char *thr_s, const char *seal, int *kind, int *level,
	size_t *thr, int *nthr)
{
	*kind = zb_kind_parse(values);
	if (*kind < 0) {
		fprintf(stderr,
		        "gvbench %s: --values: expected random, json or html, "
		        "got '%s'\n",
		        cmd, values);
		return -1;
	}
	*level = GV_COMPRESS_LEVEL_DEFAULT;
	if (level_s && zb_level_parse(cmd, level_s, level))
		return -1;
	thr[0] = GV_COMPRESS_THRESHOLD_DEFAULT;
	*nthr = thr_s ? zb_thresholds_parse(cmd, thr_s, thr) : 1;
	if (*nthr < 0)
		return -1;
	if (*nthr > 1 && strcmp(seal, "both") == 0) {
		fprintf(stderr,
		        "gvbench %s: a --compress-threshold list and --seal "
		        "both: one at a time\n",
		        cmd);
		return -1;
	}
	return 0;
}

const char *
zb_threshold_str(size_t t, char *buf, size_t len)
{
	if (!t)
		snprintf(buf, len, "off");
	else
		snprintf(buf, len, "%zu", t);
	return buf;
}

void
zb_stats_diff(struct zb_stats *out, const struct zb_stats *a,
              const struct zb_stats *b)
{
	out->compressed = b->compressed - a->compressed;
	out->skipped = b->skipped - a->skipped;
	out->in_bytes = b->in_bytes - a->in_bytes;
	out->out_bytes = b->out_bytes - a->out_bytes;
	out->decompressed = b->decompressed - a->decompressed;
	out->errors = b->errors - a->errors;
	out->compress_ns = b->compress_ns - a->compress_ns;
	out->decompress_ns = b->decompress_ns - a->decompress_ns;
}

static double
ratio(const struct zb_stats *z)
{
	return z->out_bytes ? (double)z->in_bytes / (double)z->out_bytes : 1.0;
}

static double
per(uint64_t ns, uint64_t writes)
{
	return writes ? (double)ns / 1000.0 / (double)writes : 0;
}

void
zb_print(FILE *f, const struct zb_stats *z, size_t threshold, int kind,
         uint64_t writes)
{
	char t[24];
	fprintf(f,
	        "  compression      threshold=%s values=%s ratio %.2f; "
	        "%" PRIu64 " datagrams compressed, %" PRIu64
	        " skipped; %.2f us compress + %.2f us decompress per write; "
	        "%" PRIu64 " errors\n",
	        zb_threshold_str(threshold, t, sizeof(t)), zb_kind_name(kind),
	        ratio(z), z->compressed, z->skipped,
	        per(z->compress_ns, writes), per(z->decompress_ns, writes),
	        z->errors);
}

void
zb_json(FILE *f, const struct zb_stats *z, size_t threshold, int kind,
        uint64_t writes)
{
	fprintf(f,
	        ",\"compress\":{\"threshold\":%zu,\"values\":\"%s\","
	        "\"ratio\":%.4f,\"datagrams\":%" PRIu64 ",\"skipped\":%" PRIu64
	        ",\"in_bytes\":%" PRIu64 ",\"out_bytes\":%" PRIu64
	        ",\"decompressed\":%" PRIu64 ",\"errors\":%" PRIu64
	        ",\"compress_us_per_write\":%.4f"
	        ",\"decompress_us_per_write\":%.4f}",
	        threshold, zb_kind_name(kind), ratio(z), z->compressed,
	        z->skipped, z->in_bytes, z->out_bytes, z->decompressed,
	        z->errors, per(z->compress_ns, writes),
	        per(z->decompress_ns, writes));
}

double
zb_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

void
zb_row_fill(struct zb_row *row, size_t threshold, const struct zb_stats *z,
            uint64_t bytes_out, uint64_t writes, double cpu_s)
{
	row->threshold = threshold;
	row->ratio = ratio(z);
	double w = writes ? (double)writes : 1;
	row->bytes_per_write = (double)bytes_out / w;
	row->cpu_us_per_write = cpu_s * 1e6 / w;
	row->zcpu_us_per_write =
	        (double)(z->compress_ns + z->decompress_ns) / 1000.0 / w;
}

static double
rel(double a, double b)
{
	return b > 0 ? a / b : 0;
}

void
zb_table(FILE *f, const char *extra_name, const struct zb_row *rows, size_t n)
{
	char t[24];
	fprintf(f,
	        "compression table (each run against the first):\n"
	        "%9s %6s %12s %7s %11s %7s %9s %8s %8s %7s %10s\n",
	        "threshold", "ratio", "bytes/write", "x", "cpu_us/wr", "x",
	        "z_us/wr", "p50_ms", "p99_ms", "x", extra_name);
	for (size_t i = 0; i < n; i++) {
		const struct zb_row *r = &rows[i];
		fprintf(f,
		        "%9s %6.2f %12.1f %7.3f %11.2f %7.3f %9.2f %8.2f "
		        "%8.2f %7.3f %10.2f\n",
		        zb_threshold_str(r->threshold, t, sizeof(t)), r->ratio,
		        r->bytes_per_write,
		        rel(r->bytes_per_write, rows[0].bytes_per_write),
		        r->cpu_us_per_write,
		        rel(r->cpu_us_per_write, rows[0].cpu_us_per_write),
		        r->zcpu_us_per_write, r->p50_ms, r->p99_ms,
		        rel(r->p99_ms, rows[0].p99_ms), r->extra);
	}
}
