/* SPDX-License-Identifier: MIT */
/*
 * test_resp.c - the RESP codec: request forms (multibulk, inline, quoted
 * inline), pipelining with the same results at every split point, limits
 * and protocol errors, random garbage, byte-exact encoders, the output
 * buffer, and the reply parser (round trips, nesting, nulls, truncation,
 * allocation failures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/rng.h"
#include "server/resp.h"
#include "test_mem.h"

#define S(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

/* Parse @in (copied, since inline parsing writes in place) once. */
static int
parse_once(gv_resp_req *p, const char *in, size_t n, char *copy,
	   size_t *consumed)
{
	memcpy(copy, in, n);
	return gv_resp_req_parse(p, copy, n, consumed);
}

/* Check p->argv against the NULL-terminated list of C strings. */
static void
check_argv(const gv_resp_req *p, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	assert_int_equal(p->argc, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p->argv[i].len, strlen(want[i]));
		assert_memory_equal(p->argv[i].ptr, want[i], p->argv[i].len);
	}
}

static void
log_str(gv_resp_buf *log, const char *s)
{
	assert_int_equal(gv_resp_buf_append(log, s, strlen(s)), 0);
}

static void
log_fmt(gv_resp_buf *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
log_fmt(gv_resp_buf *log, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	log_str(log, tmp);
}

/*
 * Feed @s to a fresh parser, chunk i ending at cuts[i] (the last chunk
 * ends at @n), through a gv_resp_buf used as a connection's input buffer
 * (it slides and grows, so the parser sees its bytes move). Writes a
 * transcript of commands, the error if any and the bytes left over.
 */
static void
transcript(const char *s, size_t n, const size_t *cuts, size_t ncuts,
	   const gv_resp_limits *lim, gv_resp_buf *log)
{
	gv_resp_req p;
	gv_resp_buf in;
	gv_resp_req_init(&p, gv_mem_libc(), lim);
	gv_resp_buf_init(&in, gv_mem_libc(), 0);
	size_t fed = 0;
	int err = 0;
	for (size_t c = 0; c <= ncuts && !err; c++) {
		size_t to = c < ncuts ? cuts[c] : n;
		if (to < fed)
			to = fed;
		char *w = gv_resp_buf_reserve(&in, to - fed + 1);
		assert_non_null(w);
		memcpy(w, s + fed, to - fed);
		gv_resp_buf_commit(&in, to - fed);
		fed = to;
		for (;;) {
			size_t used = SIZE_MAX;
			char *d = gv_resp_buf_data(&in);
			size_t len = gv_resp_buf_pending(&in);
			int r = gv_resp_req_parse(&p, d, len, &used);
			if (r < 0) {
				log_fmt(log, "ERR %d %s\n", r,
					gv_resp_req_errmsg(&p));
				assert_string_not_equal(gv_resp_req_errmsg(&p),
							"");
				/* Latched. */
				assert_int_equal(gv_resp_req_parse(&p, d, len,
								   &used),
						 r);
				err = r;
				break;
			}
			assert_true(used <= len);
			if (r == 0) {
				gv_resp_buf_consume(&in, used);
				break;
			}
			assert_int_equal(r, 1);
			assert_true(p.argc >= 1);
			log_fmt(log, "%zu", p.argc);
			for (size_t i = 0; i < p.argc; i++) {
				/* Arguments lie inside the consumed bytes. */
				assert_true(p.argv[i].ptr >= d);
				assert_true(p.argv[i].ptr + p.argv[i].len <=
					    d + used);
				log_fmt(log, " %zu:", p.argv[i].len);
				assert_int_equal(
					gv_resp_buf_append(log, p.argv[i].ptr,
							   p.argv[i].len),
					0);
			}
			log_str(log, "\n");
			gv_resp_buf_consume(&in, used);
		}
	}
	if (!err)
		log_fmt(log, "LEFT %zu\n", gv_resp_buf_pending(&in));
	gv_resp_buf_fini(&in);
	gv_resp_req_fini(&p);
}

static void
assert_same_log(gv_resp_buf *a, gv_resp_buf *b)
{
	if (gv_resp_buf_pending(a) != gv_resp_buf_pending(b) ||
	    memcmp(gv_resp_buf_data(a), gv_resp_buf_data(b),
		   gv_resp_buf_pending(a)) != 0) {
		print_error("transcripts differ:\n--- whole\n%.*s--- split\n"
			    "%.*s",
			    (int)gv_resp_buf_pending(a), gv_resp_buf_data(a),
			    (int)gv_resp_buf_pending(b), gv_resp_buf_data(b));
		fail();
	}
}

/*
 * The same stream split at every byte boundary, byte by byte and in random
 * chunks must give the transcript of the whole stream at once.
 */
static void
check_splits(const char *s, size_t n, const gv_resp_limits *lim,
	     uint64_t seed, int random_rounds, gv_resp_buf *whole_out)
{
	gv_resp_buf whole, part;
	gv_resp_buf_init(&whole, gv_mem_libc(), 0);
	gv_resp_buf_init(&part, gv_mem_libc(), 0);
	transcript(s, n, NULL, 0, lim, &whole);
	for (size_t k = 0; k <= n; k++) {
		gv_resp_buf_clear(&part);
		transcript(s, n, &k, 1, lim, &part);
		assert_same_log(&whole, &part);
	}
	size_t *cuts = test_malloc((n + 1) * sizeof(*cuts));
	for (size_t k = 0; k < n; k++)
		cuts[k] = k + 1;
	gv_resp_buf_clear(&part);
	transcript(s, n, cuts, n, lim, &part);
	assert_same_log(&whole, &part);
	gv_rng rng;
	gv_rng_seed(&rng, seed);
	for (int round = 0; round < random_rounds; round++) {
		size_t nc = 0, at = 0;
		while (at < n) {
			at += 1 + gv_rng_below(&rng, 17);
			if (at > n)
				at = n;
			cuts[nc++] = at;
		}
		gv_resp_buf_clear(&part);
		transcript(s, n, cuts, nc, lim, &part);
		assert_same_log(&whole, &part);
	}
	test_free(cuts);
	if (whole_out)
		gv_resp_buf_append(whole_out, gv_resp_buf_data(&whole),
				   gv_resp_buf_pending(&whole));
	gv_resp_buf_fini(&whole);
	gv_resp_buf_fini(&part);
}

/* ------------------------------------------------------------------ */
/* Request parser                                                     */

static void
test_resp_multibulk_command(void **state)
{
	static const char in[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n"
				 "$9\r\nva\r\nl\0ue!\r\n";
	char buf[sizeof(in)];
	gv_resp_req p;
	size_t used = 0;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(parse_once(&p, in, sizeof(in) - 1, buf, &used), 1);
	assert_int_equal(used, sizeof(in) - 1);
	assert_int_equal(p.argc, 3);
	assert_int_equal(p.argv[0].len, 3);
	assert_memory_equal(p.argv[0].ptr, "SET", 3);
	assert_memory_equal(p.argv[1].ptr, "key", 3);
	/* Binary-safe: CRLF and NUL inside a bulk are data. */
	assert_int_equal(p.argv[2].len, 9);
	assert_memory_equal(p.argv[2].ptr, "va\r\nl\0ue!", 9);
	/* Zero copy: arguments point into the buffer. */
	assert_ptr_equal(p.argv[0].ptr, buf + 8);
	/* Nothing more: need more, nothing consumed. */
	assert_int_equal(gv_resp_req_parse(&p, buf + used, 0, &used), 0);
	assert_int_equal(used, 0);

	/* An empty argument. */
	assert_int_equal(parse_once(&p, S("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
				    buf, &used),
			 1);
	check_argv(&p, (const char *[]){"ECHO", "", NULL});
	assert_int_equal(used, 20);
	gv_resp_req_fini(&p);
}

static void
test_resp_inline_command(void **state)
{
	char buf[128];
	gv_resp_req p;
	size_t used = 0;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(parse_once(&p, S("PING\r\n"), buf, &used), 1);
	check_argv(&p, (const char *[]){"PING", NULL});
	assert_int_equal(used, 6);
	/* LF alone ends a line too; runs of blanks separate arguments. */
	assert_int_equal(parse_once(&p, S("  SET\tk  \x0bv \n"), buf, &used),
			 1);
	check_argv(&p, (const char *[]){"SET", "k", "v", NULL});
	assert_int_equal(used, 13);
	/* Blank lines and empty multibulks are skipped, not returned. */
	assert_int_equal(parse_once(&p, S("\r\n \t\r\n*0\r\n*-1\r\nGET a\r\n"),
				    buf, &used),
			 1);
	check_argv(&p, (const char *[]){"GET", "a", NULL});
	assert_int_equal(used, 22);
	/* Any negative count is an empty request, as in Redis. */
	assert_int_equal(parse_once(&p, S("*-5\r\n*-2147483648\r\nPING\r\n"),
				    buf, &used),
			 1);
	check_argv(&p, (const char *[]){"PING", NULL});
	assert_int_equal(used, 25);
	/* Skipped bytes are handed back even when no command follows. */
	assert_int_equal(parse_once(&p, S("\r\n\r\n*0\r\nGE"), buf, &used),
			 0);
	assert_int_equal(used, 8);
	gv_resp_req_fini(&p);
}

static void
test_resp_inline_quotes(void **state)
{
	char buf[256];
	gv_resp_req p;
	size_t used = 0;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(
		parse_once(&p,
			   S("SET \"a b\" 'c d' \"\\n\\r\\t\\\\\\\"\\x41\\x7a"
			     "\\q\\b\\a\" '\\'x\\n' \"\" ''\r\n"),
			   buf, &used),
		1);
	check_argv(&p, (const char *[]){"SET", "a b", "c d",
					"\n\r\t\\\"Azq\b\a", "'x\\n", "", "",
					NULL});
	/* A quote inside an unquoted word opens a quoted part (as Redis). */
	assert_int_equal(parse_once(&p, S("foo\"bar baz\" x\r\n"), buf, &used),
			 1);
	check_argv(&p, (const char *[]){"foobar baz", "x", NULL});
	/* \x needs two hex digits, else it is an ordinary escape. */
	assert_int_equal(parse_once(&p, S("\"\\xg1\\x4\"\n"), buf, &used), 1);
	check_argv(&p, (const char *[]){"xg1x4", NULL});
	/* A NUL byte through \x00. */
	assert_int_equal(parse_once(&p, S("\"a\\x00b\"\n"), buf, &used), 1);
	assert_int_equal(p.argc, 1);
	assert_int_equal(p.argv[0].len, 3);
	assert_memory_equal(p.argv[0].ptr, "a\0b", 3);
	gv_resp_req_fini(&p);

	static const char *const bad[] = {
		"GET \"abc\r\n",   /* never closed */
		"GET \"abc\"d\r\n", /* closing quote not followed by a blank */
		"GET 'abc\r\n",
		"GET 'a'b\r\n",
		"GET \"abc\\\"\r\n", /* escaped closing quote */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gv_resp_req_init(&p, gv_mem_libc(), NULL);
		int r = parse_once(&p, bad[i], strlen(bad[i]), buf, &used);
		assert_int_equal(r, GV_EMALFORMED);
		assert_string_equal(gv_resp_req_errmsg(&p),
				    "Protocol error: unbalanced quotes in "
				    "request");
		gv_resp_req_fini(&p);
	}
}

static void
test_resp_pipelined(void **state)
{
	char in[4096];
	size_t n = 0;
	for (int i = 0; i < 50; i++) {
		if (i % 3 == 0)
			n += (size_t)snprintf(in + n, sizeof(in) - n,
					      "*2\r\n$3\r\nGET\r\n"
					      "$%d\r\nk%d\r\n",
					      i < 10 ? 2 : 3, i);
		else if (i % 3 == 1)
			n += (size_t)snprintf(in + n, sizeof(in) - n,
					      "GET k%d\r\n", i);
		else
			n += (size_t)snprintf(in + n, sizeof(in) - n,
					      "\r\nGET \"k%d\"\n", i);
	}
	gv_resp_req p;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	size_t off = 0;
	for (int i = 0; i < 50; i++) {
		size_t used = 0;
		assert_int_equal(
			gv_resp_req_parse(&p, in + off, n - off, &used), 1);
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		check_argv(&p, (const char *[]){"GET", key, NULL});
		off += used;
	}
	assert_int_equal(off, n);
	gv_resp_req_fini(&p);
}

/* The mixed stream the split tests replay. */
static const char mixed[] =
	"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
	"PING\r\n"
	"\r\n"
	"  \t \r\n"
	"*0\r\n"
	"*-1\r\n"
	"set \"a b\\n\\x41\" 'it\\'s' plain\n"
	"*1\r\n$0\r\n\r\n"
	"GET \"\"\r\n"
	"*2\r\n$4\r\nECHO\r\n$12\r\n\0\1\2\r\n\n\r*$-1!\r\n"
	"\n\n\n"
	"*2\r\n$3\r\nGET\r\n$3\r\nab";

static void
test_resp_split_every_boundary(void **state)
{
	gv_resp_buf whole;
	gv_resp_buf_init(&whole, gv_mem_libc(), 0);
	check_splits(mixed, sizeof(mixed) - 1, NULL, 1, 200, &whole);
	/* And the transcript is the one we mean. */
	static const char want[] =
		"3 3:SET 3:key 5:va\r\nl\n"
		"1 4:PING\n"
		"4 3:set 5:a b\nA 4:it's 5:plain\n"
		"1 0:\n"
		"2 3:GET 0:\n"
		"2 4:ECHO 12:\0\1\2\r\n\n\r*$-1!\n"
		"LEFT 19\n";
	assert_int_equal(gv_resp_buf_pending(&whole), sizeof(want) - 1);
	assert_memory_equal(gv_resp_buf_data(&whole), want, sizeof(want) - 1);
	gv_resp_buf_fini(&whole);

	/* Streams that end in each kind of error split the same way. */
	static const char *const errs[] = {
		"PING\r\n*2\r\n$3\r\nGET\r\n$x\r\n",
		"GET a\r\nGET \"unbalanced\r\nPING\r\n",
		"*1\r\n$3\r\nGETxx",
		"*2\r\n$3\r\nGET\r\n+foo\r\n",
		"*-2\r\n",
		"*1\r\n$-1\r\n",
		"*123456789012345678901234567890123456\r\n",
		"*1\r\n$1234567890123456789012345678901234567\r\n",
		"*1\rX",
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		check_splits(errs[i], strlen(errs[i]), NULL, i, 20, NULL);

	/* Limits split the same way too. */
	gv_resp_limits lim = {.max_args = 3, .max_bulk = 8, .max_inline = 12};
	static const char *const lims[] = {
		"GET a\r\n*4\r\n$1\r\na\r\n",
		"*2\r\n$3\r\nGET\r\n$9\r\n123456789\r\n",
		"*2\r\n$3\r\nGET\r\n$8\r\n12345678\r\nPING\r\n",
		"GET 123456\r\nGET 1234567\r\n",
		"GET 12345\r\r\nGET 1234567890",
		"a b c\r\na b c d\r\n",
	};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		check_splits(lims[i], strlen(lims[i]), &lim, i, 20, NULL);
}

/* Parse @in in one go and expect error @err with message @msg. */
static void
expect_error(const gv_resp_limits *lim, const char *in, size_t n, int err,
	     const char *msg)
{
	char *buf = test_malloc(n + 1);
	gv_resp_req p;
	size_t used = 0;
	gv_resp_req_init(&p, gv_mem_libc(), lim);
	int r;
	size_t off = 0;
	while ((r = parse_once(&p, in + off, n - off, buf, &used)) == 1)
		off += used;
	if (r != err)
		print_error("input %.*s: got %d (%s)\n", (int)n, in, r,
			    gv_resp_req_errmsg(&p));
	assert_int_equal(r, err);
	assert_string_equal(gv_resp_req_errmsg(&p), msg);
	gv_resp_req_fini(&p);
	test_free(buf);
}

/* Redis's limits for a client that has not passed a password check. */
static void
test_resp_unauth_limits(void **state)
{
	(void)state;
	static const char ok[] = "*10\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
				 "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
				 "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n";
	char buf[256];
	size_t used;
	gv_resp_req p;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	p.unauth = true;
	assert_int_equal(parse_once(&p, ok, sizeof(ok) - 1, buf, &used), 1);
	assert_int_equal(p.argc, 10);
	assert_int_equal(parse_once(&p, S("*11\r\n"), buf, &used), GV_ERANGE);
	assert_string_equal(gv_resp_req_errmsg(&p),
			    "Protocol error: unauthenticated multibulk length");
	gv_resp_req_reset(&p);
	p.unauth = true;
	assert_int_equal(parse_once(&p, S("*1\r\n$16384\r\n"), buf, &used), 0);
	gv_resp_req_reset(&p);
	assert_int_equal(parse_once(&p, S("*1\r\n$16385\r\n"), buf, &used),
			 GV_EVALSIZE);
	assert_string_equal(gv_resp_req_errmsg(&p),
			    "Protocol error: unauthenticated bulk length");
	/* the caller clears it once the client is authenticated */
	gv_resp_req_reset(&p);
	p.unauth = false;
	assert_int_equal(parse_once(&p, S("*11\r\n"), buf, &used), 0);
	gv_resp_req_fini(&p);
}

static void
test_resp_protocol_errors(void **state)
{
	expect_error(NULL, S("*abc\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*2147483648\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*+1\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*1\rX"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*99999999999999999999\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid multibulk length");
	expect_error(NULL, S("*1\r\n+PING\r\n"), GV_EMALFORMED,
		     "Protocol error: expected '$', got '+'");
	expect_error(NULL, S("*1\r\n\0"), GV_EMALFORMED,
		     "Protocol error: expected '$', got '\\x00'");
	expect_error(NULL, S("*1\r\n$x\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid bulk length");
	expect_error(NULL, S("*1\r\n$-1\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid bulk length");
	expect_error(NULL, S("*1\r\n$ 1\r\n"), GV_EMALFORMED,
		     "Protocol error: invalid bulk length");
	expect_error(NULL, S("*1\r\n$3\r\nabcd\r\n"), GV_EMALFORMED,
		     "Protocol error: expected CRLF after bulk string");
	expect_error(NULL, S("*1\r\n$3\r\nabc\n\r"), GV_EMALFORMED,
		     "Protocol error: expected CRLF after bulk string");
	expect_error(NULL, S("*000000000000000000000000000000001\r\n"),
		     GV_EMALFORMED,
		     "Protocol error: too big mbulk count string");
	expect_error(NULL, S("*1\r\n$000000000000000000000000000000003"),
		     GV_EMALFORMED,
		     "Protocol error: too big bulk count string");
	/* Commands before the error are still returned. */
	expect_error(NULL, S("PING\r\nGET a\r\n*1\r\n$1\r\nab\r\n"),
		     GV_EMALFORMED,
		     "Protocol error: expected CRLF after bulk string");
}

static void
test_resp_limits(void **state)
{
	/* Defaults: 65536 arguments, 512 MiB bulks, 64 KiB inline lines. */
	expect_error(NULL, S("*65537\r\n"), GV_ERANGE,
		     "Protocol error: too many arguments (max 65536)");
	expect_error(NULL, S("*1\r\n$536870913\r\n"), GV_EVALSIZE,
		     "Protocol error: bulk too long (max 536870912 bytes)");
	char *line = test_malloc(70000);
	memset(line, 'a', 70000);
	expect_error(NULL, line, 65537, GV_ERANGE,
		     "Protocol error: too big inline request (max 65536 "
		     "bytes)");
	line[65536] = '\n'; /* exactly the limit */
	char *copy = test_malloc(70000);
	gv_resp_req p;
	size_t used;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(parse_once(&p, line, 65537, copy, &used), 1);
	assert_int_equal(p.argc, 1);
	assert_int_equal(p.argv[0].len, 65536);
	gv_resp_req_fini(&p);
	test_free(copy);
	test_free(line);

	/* Configured limits; a bulk over the limit fails at its header,
	 * before any of its bytes arrive. */
	gv_resp_limits lim = {.max_args = 3, .max_bulk = 8, .max_inline = 12};
	expect_error(&lim, S("*4\r\n"), GV_ERANGE,
		     "Protocol error: too many arguments (max 3)");
	expect_error(&lim, S("a b c d\r\n"), GV_ERANGE,
		     "Protocol error: too many arguments (max 3)");
	expect_error(&lim, S("*1\r\n$9\r\n"), GV_EVALSIZE,
		     "Protocol error: bulk too long (max 8 bytes)");
	expect_error(&lim, S("GET 12345678\r\n"), GV_ERANGE,
		     "Protocol error: too big inline request (max 12 bytes)");
	expect_error(&lim, S("GET 123456789"), GV_ERANGE,
		     "Protocol error: too big inline request (max 12 bytes)");
	/* At the limits: fine. */
	char buf[64];
	gv_resp_req_init(&p, gv_mem_libc(), &lim);
	assert_int_equal(parse_once(&p, S("*3\r\n$1\r\na\r\n$8\r\n12345678\r\n"
					  "$0\r\n\r\n"),
				    buf, &used),
			 1);
	assert_int_equal(p.argc, 3);
	assert_int_equal(parse_once(&p, S("GET 1234567\r\n"), buf, &used), 1);
	assert_int_equal(p.argc, 2);
	gv_resp_req_fini(&p);
}

static void
test_resp_need_hint(void **state)
{
	char buf[64];
	gv_resp_req p;
	size_t used = 1;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(gv_resp_req_need(&p), 0);
	assert_int_equal(
		parse_once(&p, S("*2\r\n$3\r\nGET\r\n$100\r\nab"), buf, &used),
		0);
	assert_int_equal(used, 0);
	assert_int_equal(gv_resp_req_need(&p), 19 + 100 + 2);
	/* Skipped empties shift the hint with the buffer. */
	gv_resp_req_reset(&p);
	assert_int_equal(parse_once(&p, S("\r\n*1\r\n$10\r\n"), buf, &used),
			 0);
	assert_int_equal(used, 2);
	assert_int_equal(gv_resp_req_need(&p), 9 + 10 + 2);
	gv_resp_req_fini(&p);
}

static void
test_resp_argv_growth_and_alloc_failure(void **state)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_req p;
	char buf[64];
	size_t used;

	/* A huge announced count allocates nothing up front. */
	gv_resp_req_init(&p, &tm.mem, NULL);
	assert_int_equal(parse_once(&p, S("*65536\r\n$1\r\na\r\n"), buf, &used),
			 0);
	assert_true(tm.peak_bytes <= 8 * sizeof(gv_resp_arg));
	gv_resp_req_fini(&p);
	assert_int_equal(tm.live_bytes, 0);

	/* 1000 arguments: the argv grows as they arrive. */
	size_t n = 0, cap = 1000 * 8 + 16;
	char *big = test_malloc(cap);
	n += (size_t)snprintf(big, cap, "*1000\r\n");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(big + n, cap - n, "$1\r\n%c\r\n",
				      'a' + i % 26);
	gv_resp_req_init(&p, &tm.mem, NULL);
	assert_int_equal(gv_resp_req_parse(&p, big, n, &used), 1);
	assert_int_equal(p.argc, 1000);
	assert_int_equal(used, n);
	assert_memory_equal(p.argv[999].ptr, "l", 1);
	gv_resp_req_fini(&p);
	assert_int_equal(tm.live_bytes, 0);

	/* Fail each growth in turn: GV_ENOMEM, latched, nothing leaked. */
	for (long k = 0; k < 16; k++) {
		gv_resp_req_init(&p, &tm.mem, NULL);
		gv_test_mem_fail_after(&tm, k, 0);
		int r = gv_resp_req_parse(&p, big, n, &used);
		gv_test_mem_no_fail(&tm);
		if (r == 1) {
			gv_resp_req_fini(&p);
			break;
		}
		assert_int_equal(r, GV_ENOMEM);
		assert_string_equal(gv_resp_req_errmsg(&p), "out of memory");
		assert_int_equal(gv_resp_req_parse(&p, big, n, &used),
				 GV_ENOMEM);
		gv_resp_req_fini(&p);
		assert_int_equal(tm.live_bytes, 0);
	}
	test_free(big);
}

/* Bytes that make RESP-ish garbage: headers, digits, quotes, CRLF. */
static char
garbage_byte(gv_rng *rng)
{
	static const char alpha[] = "*$+-:\r\n\r\n0123456789-1 \t\"'\\xaA";
	if (gv_rng_below(rng, 8) == 0)
		return (char)gv_rng_next(rng);
	return alpha[gv_rng_below(rng, sizeof(alpha) - 1)];
}

static void
check_reply_total(const char *s, size_t n)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_value v;
	size_t used = SIZE_MAX, scanned = SIZE_MAX;
	int r = gv_resp_reply_parse(s, n, &tm.mem, NULL, &v, &used);
	int rs = gv_resp_reply_scan(s, n, NULL, &scanned);
	assert_int_equal(r, rs);
	assert_true(r == 1 || r == 0 || r == GV_EMALFORMED ||
		    r == GV_EVALSIZE);
	if (r == 1) {
		assert_true(used <= n);
		assert_int_equal(used, scanned);
		gv_resp_value_fini(&tm.mem, &v);
	}
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_resp_garbage_never_crashes(void **state)
{
	gv_resp_limits lim = {.max_args = 8, .max_bulk = 64, .max_inline = 48};
	char buf[200];
	gv_rng rng;
	for (uint64_t seed = 0; seed < 2000; seed++) {
		gv_rng_seed(&rng, seed);
		size_t n = (size_t)gv_rng_below(&rng, sizeof(buf));
		bool raw = seed % 4 == 0;
		for (size_t i = 0; i < n; i++)
			buf[i] = raw ? (char)gv_rng_next(&rng)
				     : garbage_byte(&rng);
		/* Either parses or errors, identically however it is split. */
		check_splits(buf, n, seed % 2 ? &lim : NULL, seed, 2, NULL);
		for (size_t off = 0; off < n; off += 1 + off / 2)
			check_reply_total(buf + off, n - off);
	}
	/* Valid streams with a few bytes flipped, dropped or repeated. */
	char mut[sizeof(mixed) * 2];
	for (uint64_t seed = 0; seed < 1000; seed++) {
		gv_rng_seed(&rng, seed);
		size_t n = sizeof(mixed) - 1;
		memcpy(mut, mixed, n);
		int edits = 1 + (int)gv_rng_below(&rng, 4);
		for (int e = 0; e < edits && n > 1; e++) {
			size_t at = (size_t)gv_rng_below(&rng, n);
			switch (gv_rng_below(&rng, 3)) {
			case 0: mut[at] = garbage_byte(&rng); break;
			case 1:
				memmove(mut + at, mut + at + 1, n - at - 1);
				n--;
				break;
			default:
				memmove(mut + at + 1, mut + at, n - at);
				n++;
			}
		}
		check_splits(mut, n, seed % 2 ? &lim : NULL, seed, 2, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* Buffer and encoders                                                */

static void
assert_buf(gv_resp_buf *b, const char *want, size_t n)
{
	if (gv_resp_buf_pending(b) != n ||
	    memcmp(gv_resp_buf_data(b), want, n) != 0) {
		print_error("got %zu bytes \"%.*s\", want %zu \"%.*s\"\n",
			    gv_resp_buf_pending(b),
			    (int)gv_resp_buf_pending(b), gv_resp_buf_data(b), n,
			    (int)n, want);
		fail();
	}
	gv_resp_buf_clear(b);
}

static void
test_resp_encoder_exact(void **state)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_buf b;
	gv_resp_buf_init(&b, &tm.mem, 0);

	assert_int_equal(gv_resp_out_ok(&b), 0);
	assert_buf(&b, S("+OK\r\n"));
	gv_resp_out_simple(&b, "PONG");
	assert_buf(&b, S("+PONG\r\n"));
	gv_resp_out_simple(&b, "a\r\nb");
	assert_buf(&b, S("+a  b\r\n"));
	gv_resp_out_error(&b, "ERR unknown command 'FOO'");
	assert_buf(&b, S("-ERR unknown command 'FOO'\r\n"));
	gv_resp_out_errorf(&b, "ERR %s %d", "bad\nthing", 7);
	assert_buf(&b, S("-ERR bad thing 7\r\n"));
	gv_resp_out_int(&b, 0);
	assert_buf(&b, S(":0\r\n"));
	gv_resp_out_int(&b, -1);
	assert_buf(&b, S(":-1\r\n"));
	gv_resp_out_int(&b, 1234567);
	assert_buf(&b, S(":1234567\r\n"));
	gv_resp_out_int(&b, INT64_MAX);
	assert_buf(&b, S(":9223372036854775807\r\n"));
	gv_resp_out_int(&b, INT64_MIN);
	assert_buf(&b, S(":-9223372036854775808\r\n"));
	gv_resp_out_bulk(&b, "foo", 3);
	assert_buf(&b, S("$3\r\nfoo\r\n"));
	gv_resp_out_bulk(&b, "", 0);
	assert_buf(&b, S("$0\r\n\r\n"));
	gv_resp_out_bulk(&b, "a\0\r\n", 4);
	assert_buf(&b, S("$4\r\na\0\r\n\r\n"));
	gv_resp_out_bulk_str(&b, "hello");
	assert_buf(&b, S("$5\r\nhello\r\n"));
	gv_resp_out_bulkf(&b, "%d-%s", 12, "ab");
	assert_buf(&b, S("$5\r\n12-ab\r\n"));
	gv_resp_out_null(&b);
	assert_buf(&b, S("$-1\r\n"));
	gv_resp_out_array(&b, 3);
	assert_buf(&b, S("*3\r\n"));
	gv_resp_out_array(&b, 0);
	assert_buf(&b, S("*0\r\n"));
	gv_resp_out_null_array(&b);
	assert_buf(&b, S("*-1\r\n"));
	const char *argv[] = {"SET", "k", "v\r\n"};
	gv_resp_out_command(&b, 3, argv, NULL);
	assert_buf(&b, S("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n"));
	size_t lens[] = {3, 0};
	gv_resp_out_command(&b, 2, argv, lens);
	assert_buf(&b, S("*2\r\n$3\r\nSET\r\n$0\r\n\r\n"));

	/* Long formatted strings are not cut. */
	char want[1100], big[1001];
	memset(big, 'x', 1000);
	big[1000] = '\0';
	big[10] = '\r';
	gv_resp_out_bulkf(&b, "%s!", big);
	int n = snprintf(want, sizeof(want), "$1001\r\n%s!\r\n", big);
	assert_buf(&b, want, (size_t)n);
	gv_resp_out_errorf(&b, "ERR %s", big);
	big[10] = ' ';
	n = snprintf(want, sizeof(want), "-ERR %s\r\n", big);
	assert_buf(&b, want, (size_t)n);

	/* A whole reply in one buffer, in order. */
	gv_resp_out_array(&b, 2);
	gv_resp_out_bulk_str(&b, "a");
	gv_resp_out_int(&b, 5);
	assert_buf(&b, S("*2\r\n$1\r\na\r\n:5\r\n"));
	gv_resp_buf_fini(&b);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_resp_buf_api(void **state)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_buf b;
	gv_resp_buf_init(&b, &tm.mem, 0);
	assert_int_equal(gv_resp_buf_pending(&b), 0);
	assert_int_equal(tm.total_allocs, 0);

	/* Append, write part of it, append more: order is kept across
	 * slides and growth. */
	char ref[5000];
	size_t rs = 0, rlen = 0;
	for (int i = 0; i < 400; i++) {
		char chunk[16];
		int n = snprintf(chunk, sizeof(chunk), "<%d>", i);
		assert_int_equal(gv_resp_buf_append(&b, chunk, (size_t)n), 0);
		memcpy(ref + rlen, chunk, (size_t)n);
		rlen += (size_t)n;
		size_t drop = (size_t)i % 7;
		if (drop > rlen - rs)
			drop = rlen - rs;
		gv_resp_buf_consume(&b, drop);
		rs += drop;
		assert_int_equal(gv_resp_buf_pending(&b), rlen - rs);
		assert_memory_equal(gv_resp_buf_data(&b), ref + rs, rlen - rs);
	}
	gv_resp_buf_consume(&b, SIZE_MAX); /* more than pending: all */
	assert_int_equal(gv_resp_buf_pending(&b), 0);

	/* reserve + commit (a socket read). */
	char *w = gv_resp_buf_reserve(&b, 100);
	assert_non_null(w);
	memcpy(w, "hello", 5);
	gv_resp_buf_commit(&b, 5);
	assert_buf(&b, S("hello"));
	gv_resp_buf_trim(&b);
	assert_int_equal(tm.live_bytes, 0);

	/* Allocation failure latches until clear. */
	gv_test_mem_fail_after(&tm, 0, 0);
	assert_int_equal(gv_resp_out_ok(&b), GV_ENOMEM);
	assert_int_equal(gv_resp_out_ok(&b), GV_ENOMEM);
	assert_null(gv_resp_buf_reserve(&b, 1));
	assert_int_equal(gv_resp_buf_pending(&b), 0);
	gv_resp_buf_clear(&b);
	assert_int_equal(gv_resp_out_ok(&b), 0);
	assert_buf(&b, S("+OK\r\n"));
	gv_resp_buf_fini(&b);

	/* A pending-bytes limit: GV_ENOSPC, latched, nothing partial. */
	gv_resp_buf_init(&b, &tm.mem, 10);
	assert_int_equal(gv_resp_out_ok(&b), 0);
	assert_int_equal(gv_resp_out_bulk_str(&b, "abc"), GV_ENOSPC);
	assert_int_equal(gv_resp_out_int(&b, 1), GV_ENOSPC);
	assert_buf(&b, S("+OK\r\n")); /* clears */
	assert_int_equal(gv_resp_out_int(&b, 1), 0);
	gv_resp_buf_consume(&b, 4);
	assert_int_equal(gv_resp_out_bulk_str(&b, "abc"), 0); /* 9 bytes */
	gv_resp_buf_fini(&b);
	assert_int_equal(tm.live_bytes, 0);
}

/* ------------------------------------------------------------------ */
/* Reply parser                                                       */

/* Re-encode a parsed value with the encoders. */
static void
encode_value(gv_resp_buf *b, const gv_resp_value *v)
{
	switch (v->type) {
	case GV_RESP_SIMPLE:
		assert_int_equal(gv_resp_buf_append(b, "+", 1), 0);
		gv_resp_buf_append(b, v->str, v->len);
		gv_resp_buf_append(b, "\r\n", 2);
		break;
	case GV_RESP_ERROR:
		gv_resp_buf_append(b, "-", 1);
		gv_resp_buf_append(b, v->str, v->len);
		gv_resp_buf_append(b, "\r\n", 2);
		break;
	case GV_RESP_INTEGER: gv_resp_out_int(b, v->integer); break;
	case GV_RESP_BULK: gv_resp_out_bulk(b, v->str, v->len); break;
	case GV_RESP_NIL: gv_resp_out_null(b); break;
	case GV_RESP_NIL_ARRAY: gv_resp_out_null_array(b); break;
	case GV_RESP_ARRAY:
		gv_resp_out_array(b, v->n);
		for (size_t i = 0; i < v->n; i++)
			encode_value(b, &v->elems[i]);
		break;
	default: fail();
	}
}

static void
test_resp_reply_roundtrip(void **state)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_buf b, again;
	gv_resp_buf_init(&b, gv_mem_libc(), 0);
	gv_resp_buf_init(&again, gv_mem_libc(), 0);

	gv_resp_out_array(&b, 8);
	gv_resp_out_ok(&b);
	gv_resp_out_error(&b, "ERR bad");
	gv_resp_out_int(&b, -42);
	gv_resp_out_bulk(&b, "he\r\nllo", 7);
	gv_resp_out_null(&b);
	gv_resp_out_null_array(&b);
	gv_resp_out_array(&b, 0);
	gv_resp_out_array(&b, 2);
	gv_resp_out_array(&b, 1);
	gv_resp_out_bulk(&b, "", 0);
	gv_resp_out_int(&b, INT64_MIN);
	gv_resp_out_simple(&b, "trailing"); /* a second reply */

	gv_resp_value v;
	size_t used = 0;
	const char *d = gv_resp_buf_data(&b);
	size_t n = gv_resp_buf_pending(&b);
	assert_int_equal(gv_resp_reply_parse(d, n, &tm.mem, NULL, &v, &used),
			 1);
	assert_int_equal(used, n - strlen("+trailing\r\n"));
	assert_int_equal(v.type, GV_RESP_ARRAY);
	assert_int_equal(v.n, 8);
	assert_int_equal(v.elems[0].type, GV_RESP_SIMPLE);
	assert_int_equal(v.elems[0].len, 2);
	assert_memory_equal(v.elems[0].str, "OK", 2);
	assert_int_equal(v.elems[1].type, GV_RESP_ERROR);
	assert_memory_equal(v.elems[1].str, "ERR bad", 7);
	assert_int_equal(v.elems[2].type, GV_RESP_INTEGER);
	assert_int_equal(v.elems[2].integer, -42);
	assert_int_equal(v.elems[3].type, GV_RESP_BULK);
	assert_int_equal(v.elems[3].len, 7);
	assert_memory_equal(v.elems[3].str, "he\r\nllo", 7);
	assert_int_equal(v.elems[4].type, GV_RESP_NIL);
	assert_int_equal(v.elems[5].type, GV_RESP_NIL_ARRAY);
	assert_int_equal(v.elems[6].type, GV_RESP_ARRAY);
	assert_int_equal(v.elems[6].n, 0);
	assert_null(v.elems[6].elems);
	const gv_resp_value *nest = &v.elems[7];
	assert_int_equal(nest->type, GV_RESP_ARRAY);
	assert_int_equal(nest->n, 2);
	assert_int_equal(nest->elems[0].type, GV_RESP_ARRAY);
	assert_int_equal(nest->elems[0].elems[0].type, GV_RESP_BULK);
	assert_int_equal(nest->elems[0].elems[0].len, 0);
	assert_int_equal(nest->elems[1].integer, INT64_MIN);
	/* Re-encoding gives the same bytes. */
	encode_value(&again, &v);
	assert_int_equal(gv_resp_buf_pending(&again), used);
	assert_memory_equal(gv_resp_buf_data(&again), d, used);
	gv_resp_value_fini(&tm.mem, &v);
	assert_int_equal(tm.live_bytes, 0);
	/* The next reply follows. */
	assert_int_equal(gv_resp_reply_parse(d + used, n - used, &tm.mem, NULL,
					     &v, &used),
			 1);
	assert_int_equal(v.type, GV_RESP_SIMPLE);
	assert_string_equal(gv_resp_type_name(v.type), "simple");
	gv_resp_value_fini(&tm.mem, &v);

	/* Random trees: encode, parse, re-encode. */
	gv_rng rng;
	gv_rng_seed(&rng, 7);
	for (int round = 0; round < 300; round++) {
		gv_resp_buf_clear(&b);
		gv_resp_buf_clear(&again);
		/* A random tree, encoded in prefix order with a stack of
		 * elements left per level. */
		int left[8] = {1}, depth = 0;
		while (depth >= 0) {
			if (left[depth] == 0) {
				depth--;
				continue;
			}
			left[depth]--;
			char s[40];
			size_t sl = (size_t)gv_rng_below(&rng, sizeof(s));
			for (size_t i = 0; i < sl; i++)
				s[i] = (char)gv_rng_next(&rng);
			switch (gv_rng_below(&rng, depth < 6 ? 8 : 6)) {
			case 0: gv_resp_out_simple(&b, "fine"); break;
			case 1: gv_resp_out_error(&b, "ERR nope"); break;
			case 2:
				gv_resp_out_int(&b, (int64_t)gv_rng_next(&rng));
				break;
			case 3: gv_resp_out_bulk(&b, s, sl); break;
			case 4: gv_resp_out_null(&b); break;
			case 5: gv_resp_out_null_array(&b); break;
			default: {
				int k = (int)gv_rng_below(&rng, 5);
				gv_resp_out_array(&b, (size_t)k);
				left[++depth] = k;
			}
			}
		}
		d = gv_resp_buf_data(&b);
		n = gv_resp_buf_pending(&b);
		assert_int_equal(gv_resp_reply_parse(d, n, &tm.mem, NULL, &v,
						     &used),
				 1);
		assert_int_equal(used, n);
		encode_value(&again, &v);
		assert_int_equal(gv_resp_buf_pending(&again), n);
		assert_memory_equal(gv_resp_buf_data(&again), d, n);
		gv_resp_value_fini(&tm.mem, &v);
		/* Every proper prefix needs more. */
		for (size_t k = 0; k < n; k++)
			assert_int_equal(gv_resp_reply_parse(d, k, &tm.mem,
							     NULL, &v, &used),
					 0);
		assert_int_equal(tm.live_bytes, 0);
	}

	/* A request encoded by gv_resp_out_command parses back. */
	gv_resp_buf_clear(&b);
	const char *argv[] = {"SET", "k", "a b\r\n"};
	gv_resp_out_command(&b, 3, argv, NULL);
	gv_resp_req p;
	gv_resp_req_init(&p, gv_mem_libc(), NULL);
	assert_int_equal(gv_resp_req_parse(&p, gv_resp_buf_data(&b),
					   gv_resp_buf_pending(&b), &used),
			 1);
	check_argv(&p, (const char *[]){"SET", "k", "a b\r\n", NULL});
	gv_resp_req_fini(&p);
	gv_resp_buf_fini(&b);
	gv_resp_buf_fini(&again);
}

static void
test_resp_reply_truncated(void **state)
{
	static const char *const full[] = {
		"+OK\r\n",
		"-ERR x\r\n",
		":123\r\n",
		"$5\r\nhello\r\n",
		"$-1\r\n",
		"*-1\r\n",
		"*0\r\n",
		"*2\r\n*1\r\n$1\r\na\r\n$-1\r\n",
	};
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		size_t n = strlen(full[i]), used;
		gv_resp_value v;
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(gv_resp_reply_parse(full[i], k,
							     &tm.mem, NULL, &v,
							     &used),
					 0);
			assert_int_equal(gv_resp_reply_scan(full[i], k, NULL,
							    &used),
					 0);
		}
		assert_int_equal(gv_resp_reply_parse(full[i], n, &tm.mem, NULL,
						     &v, &used),
				 1);
		assert_int_equal(used, n);
		gv_resp_value_fini(&tm.mem, &v);
	}
	/* A huge announced array costs nothing until its bytes arrive. */
	gv_resp_value v;
	size_t used, allocs = tm.total_allocs;
	assert_int_equal(gv_resp_reply_parse(S("*1000000\r\n:1\r\n"), &tm.mem,
					     NULL, &v, &used),
			 0);
	assert_int_equal(tm.total_allocs, allocs);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_resp_reply_malformed(void **state)
{
	static const char *const bad[] = {
		"?\r\n",         "$-2\r\n",     "*-2\r\n",  ":abc\r\n",
		":\r\n",         "+OK\rX",      "$3\r\nabcd\r\n",
		"$x\r\n",        "*1\r\n!\r\n", ":1\r\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gv_resp_value v;
		size_t used;
		int r = gv_resp_reply_parse(bad[i], strlen(bad[i]),
					    gv_mem_libc(), NULL, &v, &used);
		if (r != GV_EMALFORMED)
			print_error("reply %s: %d\n", bad[i], r);
		assert_int_equal(r, GV_EMALFORMED);
	}
	/* Nesting: 32 levels are fine, 33 are not. */
	char deep[256];
	size_t n = 0;
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "*1\r\n");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, ":1\r\n");
	gv_resp_value v;
	size_t used;
	assert_int_equal(gv_resp_reply_parse(deep, n, gv_mem_libc(), NULL, &v,
					     &used),
			 GV_EMALFORMED);
	assert_int_equal(gv_resp_reply_parse(deep + 4, n - 4, gv_mem_libc(),
					     NULL, &v, &used),
			 1);
	gv_resp_value_fini(gv_mem_libc(), &v);
	/* Limits. */
	gv_resp_limits lim = {.max_bulk = 4, .max_elems = 2};
	assert_int_equal(gv_resp_reply_scan(S("$5\r\n"), &lim, &used),
			 GV_EVALSIZE);
	assert_int_equal(gv_resp_reply_scan(S("*3\r\n"), &lim, &used),
			 GV_EVALSIZE);
	assert_int_equal(gv_resp_reply_scan(S("+hello"), &lim, &used),
			 GV_EVALSIZE);
	assert_int_equal(gv_resp_reply_scan(S("*2\r\n$4\r\nabcd\r\n+ok\r\n"),
					    &lim, &used),
			 1);
	assert_int_equal(gv_resp_reply_scan(S("*16777217\r\n"), NULL, &used),
			 GV_EVALSIZE);
}

static void
test_resp_reply_alloc_failure(void **state)
{
	static const char in[] = "*3\r\n*2\r\n:1\r\n*1\r\n+a\r\n$-1\r\n"
				 "*1\r\n*1\r\n:2\r\n";
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_resp_value v;
	size_t used;
	long k;
	for (k = 0; k < 20; k++) {
		gv_test_mem_fail_after(&tm, k, 0);
		int r = gv_resp_reply_parse(S(in), &tm.mem, NULL, &v, &used);
		gv_test_mem_no_fail(&tm);
		if (r == 1) {
			gv_resp_value_fini(&tm.mem, &v);
			break;
		}
		assert_int_equal(r, GV_ENOMEM);
		assert_int_equal(tm.live_bytes, 0);
	}
	assert_int_equal(k, 5); /* five arrays, five allocations */
	assert_int_equal(tm.live_bytes, 0);
}

/* RESP3's types, and what the same calls write to a RESP2 client. */
static void
test_resp_resp3_encoders(void **state)
{
	(void)state;
	gv_resp_buf b;
	gv_resp_buf_init(&b, gv_mem_libc(), 0);
	assert_int_equal(b.proto, 0); /* RESP2 unless asked */
	gv_resp_out_null(&b);
	assert_buf(&b, S("$-1\r\n"));
	gv_resp_out_null_array(&b);
	assert_buf(&b, S("*-1\r\n"));
	gv_resp_out_map(&b, 3);
	assert_buf(&b, S("*6\r\n"));
	gv_resp_out_set(&b, 2);
	assert_buf(&b, S("*2\r\n"));
	gv_resp_out_double(&b, 1.5);
	assert_buf(&b, S("$3\r\n1.5\r\n"));
	gv_resp_out_double(&b, 0.1);
	assert_buf(&b, S("$19\r\n0.10000000000000001\r\n"));
	gv_resp_out_double(&b, -1.0 / 0.0);
	assert_buf(&b, S("$4\r\n-inf\r\n"));
	gv_resp_out_bool(&b, true);
	assert_buf(&b, S(":1\r\n"));
	gv_resp_out_bool(&b, false);
	assert_buf(&b, S(":0\r\n"));
	gv_resp_out_verbatim(&b, "txt", "a\r\nb", 4);
	assert_buf(&b, S("$4\r\na\r\nb\r\n"));
	assert_int_equal(gv_resp_out_verbatim(&b, "text", "x", 1), GV_EINVAL);

	b.proto = 3;
	gv_resp_out_null(&b);
	assert_buf(&b, S("_\r\n"));
	gv_resp_out_null_array(&b);
	assert_buf(&b, S("_\r\n"));
	gv_resp_out_map(&b, 3);
	assert_buf(&b, S("%3\r\n"));
	gv_resp_out_map(&b, 0);
	assert_buf(&b, S("%0\r\n"));
	gv_resp_out_set(&b, 2);
	assert_buf(&b, S("~2\r\n"));
	gv_resp_out_double(&b, 1.5);
	assert_buf(&b, S(",1.5\r\n"));
	gv_resp_out_double(&b, 1.0 / 0.0);
	assert_buf(&b, S(",inf\r\n"));
	gv_resp_out_double(&b, 0.0 / 0.0);
	assert_buf(&b, S(",nan\r\n"));
	gv_resp_out_double(&b, 3.0);
	assert_buf(&b, S(",3\r\n"));
	gv_resp_out_bool(&b, true);
	assert_buf(&b, S("#t\r\n"));
	gv_resp_out_bool(&b, false);
	assert_buf(&b, S("#f\r\n"));
	gv_resp_out_verbatim(&b, "txt", "a\r\nb", 4);
	assert_buf(&b, S("=8\r\ntxt:a\r\nb\r\n"));
	gv_resp_out_verbatim(&b, "txt", "", 0);
	assert_buf(&b, S("=4\r\ntxt:\r\n"));
	/* the RESP2 types stay as they are */
	gv_resp_out_array(&b, 2);
	assert_buf(&b, S("*2\r\n"));
	gv_resp_out_bulk(&b, "x", 1);
	assert_buf(&b, S("$1\r\nx\r\n"));
	/* clearing keeps the protocol */
	gv_resp_buf_clear(&b);
	assert_int_equal(b.proto, 3);
	gv_resp_buf_fini(&b);

	/* a full buffer latches, whatever the type */
	gv_resp_buf_init(&b, gv_mem_libc(), 4);
	b.proto = 3;
	assert_int_equal(gv_resp_out_verbatim(&b, "txt", "x", 1), GV_ENOSPC);
	assert_int_equal(gv_resp_out_bool(&b, true), GV_ENOSPC);
	gv_resp_buf_fini(&b);
}

/* The reply parser reads RESP3 as the RESP2 types (see resp.h). */
static void
test_resp_reply_resp3(void **state)
{
	(void)state;
	static const char in[] = "%2\r\n$1\r\na\r\n_\r\n+b\r\n~3\r\n#t\r\n"
				 "#f\r\n,1.5\r\n=6\r\ntxt:hi\r\n";
	gv_resp_value v;
	size_t used = 0;
	assert_int_equal(gv_resp_reply_parse(in, sizeof(in) - 1, gv_mem_libc(),
					     NULL, &v, &used),
			 1);
	assert_int_equal(used, sizeof(in) - 1 - strlen("=6\r\ntxt:hi\r\n"));
	assert_int_equal(v.type, GV_RESP_ARRAY);
	assert_int_equal(v.n, 4);
	assert_int_equal(v.elems[1].type, GV_RESP_NIL);
	assert_int_equal(v.elems[3].type, GV_RESP_ARRAY);
	assert_int_equal(v.elems[3].n, 3);
	assert_int_equal(v.elems[3].elems[0].type, GV_RESP_INTEGER);
	assert_int_equal(v.elems[3].elems[0].integer, 1);
	assert_int_equal(v.elems[3].elems[1].integer, 0);
	assert_int_equal(v.elems[3].elems[2].type, GV_RESP_SIMPLE);
	assert_int_equal(v.elems[3].elems[2].len, 3);
	gv_resp_value_fini(gv_mem_libc(), &v);
	const char *rest = in + used;
	assert_int_equal(gv_resp_reply_parse(rest, strlen(rest), gv_mem_libc(),
					     NULL, &v, &used),
			 1);
	assert_int_equal(v.type, GV_RESP_BULK);
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.str, "hi", 2);
	gv_resp_value_fini(gv_mem_libc(), &v);
	/* truncated: need more, at every cut */
	for (size_t cut = 0; cut < sizeof(in) - 1 - 12; cut++)
		assert_int_equal(gv_resp_reply_scan(in, cut, NULL, &used), 0);
	static const char *const bad[] = {"_x\r\n", "#x\r\n", "#t\n\n",
					  "=3\r\ntxt\r\n", "%-1\r\n",
					  "~-1\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(gv_resp_reply_scan(bad[i], strlen(bad[i]),
						    NULL, &used),
				 GV_EMALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resp_multibulk_command),
		cmocka_unit_test(test_resp_inline_command),
		cmocka_unit_test(test_resp_inline_quotes),
		cmocka_unit_test(test_resp_pipelined),
		cmocka_unit_test(test_resp_split_every_boundary),
		cmocka_unit_test(test_resp_protocol_errors),
		cmocka_unit_test(test_resp_limits),
		cmocka_unit_test(test_resp_need_hint),
		cmocka_unit_test(test_resp_argv_growth_and_alloc_failure),
		cmocka_unit_test(test_resp_garbage_never_crashes),
		cmocka_unit_test(test_resp_encoder_exact),
		cmocka_unit_test(test_resp_buf_api),
		cmocka_unit_test(test_resp_reply_roundtrip),
		cmocka_unit_test(test_resp_reply_truncated),
		cmocka_unit_test(test_resp_reply_malformed),
		cmocka_unit_test(test_resp_reply_alloc_failure),
		cmocka_unit_test(test_resp_resp3_encoders),
		cmocka_unit_test(test_resp_unauth_limits),
		cmocka_unit_test(test_resp_reply_resp3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
