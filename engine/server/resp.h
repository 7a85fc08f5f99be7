/* SPDX-License-Identifier: MIT */
/*
 * resp.h - the Redis protocol (RESP2, and RESP3's reply types for clients
 * that ask for them with HELLO 3), so redis-cli, redis-benchmark and any
 * Redis client can talk to grapevined, and gvctl can talk to it too.
 *
 * Three pieces, all sans-IO (bytes in, bytes out; the caller owns sockets):
 *
 *  - gv_resp_req: the server's incremental, zero-copy request parser. Feed
 *    it the unconsumed bytes of a client's input buffer as they arrive; it
 *    returns complete commands as an argv of (pointer, length) pairs that
 *    point into that buffer. It accepts the multibulk form
 *    ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline commands ("GET k\r\n",
 *    what telnet users type), any number of them pipelined in one buffer.
 *    Its only allocation is the argv array, grown through a gv_mem.
 *  - gv_resp_buf and gv_resp_out_*: a growable byte buffer (through a
 *    gv_mem) and the reply encoders that append to it. The same buffer type
 *    serves as a connection's input buffer (reserve, commit).
 *  - gv_resp_reply_*: the client's parser, one full reply (arrays
 *    recursively) into a small tree whose strings point into the buffer.
 *
 * Both parsers are total: any bytes give a result, an error or "need more",
 * never a read out of bounds, so a fuzz target can call them directly.
 * The parsers live in resp_parse.c, the buffer and encoders in resp_out.c.
 *
 * Inline commands follow Redis (sdssplitargs): arguments are separated by
 * blanks; "double quotes" take the escapes \n \r \t \b \a \\ \" \xHH (any
 * other \c is c), 'single quotes' take \' only, and a closing quote must be
 * followed by a blank or the end of the line. Quoted arguments are
 * unescaped in place, which is why the request parser takes a non-const
 * buffer; multibulk bytes are never written.
 */
#ifndef GV_SERVER_RESP_H
#define GV_SERVER_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

/* Defaults of gv_resp_limits (gv_resp_limits_init). */
#define GV_RESP_DEFAULT_MAX_ARGS 65536
#define GV_RESP_DEFAULT_MAX_BULK (512u * 1024 * 1024) /* proto-max-bulk-len */
#define GV_RESP_DEFAULT_MAX_INLINE (64 * 1024)
#define GV_RESP_DEFAULT_MAX_ELEMS (16u * 1024 * 1024)
/* Deepest array nesting the reply parser accepts (its stack is fixed). */
#define GV_RESP_MAX_DEPTH 32

/*
 * Limits. Requests beyond them are protocol errors; replies beyond them are
 * GV_EMALFORMED or GV_EVALSIZE. A zero field means "the default".
 */
typedef struct gv_resp_limits {
	size_t max_args;   /* most arguments in one request */
	size_t max_bulk;   /* longest bulk string (request or reply) */
	size_t max_inline; /* longest inline request line, CR included */
	size_t max_elems;  /* most elements in one reply array */
} gv_resp_limits;

/* Fill @lim with the defaults above. */
void gv_resp_limits_init(gv_resp_limits *lim);

/*
 * Growable byte buffer. Pending bytes are data[start, end). Allocation
 * failures latch: after the first one every append returns the same error
 * until gv_resp_buf_clear(), so a reply is never sent with a hole in it and
 * a caller may check once after encoding a whole reply.
 */
typedef struct gv_resp_buf {
	const gv_mem *mem;
	char *data;
	size_t start; /* first pending byte */
	size_t end;   /* one past the last pending byte */
	size_t cap;
	size_t limit; /* most pending bytes; 0 = unlimited */
	int err;      /* latched error, 0 if none */
	uint8_t proto; /* the encoders' protocol: 3 RESP3, else RESP2 (the
			* default: gv_resp_buf_init leaves it 0) */
} gv_resp_buf;

/*
 * gv_resp_buf_init - an empty buffer that allocates through @mem.
 * @limit: most pending bytes (appends beyond it fail with GV_ENOSPC);
 * 0 for no limit. Allocates nothing until the first append.
 */
void gv_resp_buf_init(gv_resp_buf *b, const gv_mem *mem, size_t limit);

/* Free the storage. The buffer may be initialised again. */
void gv_resp_buf_fini(gv_resp_buf *b);

/* Drop all pending bytes and the latched error; keeps the storage and
 * the protocol. */
void gv_resp_buf_clear(gv_resp_buf *b);

/* Free the storage if nothing is pending (after a burst of big replies). */
void gv_resp_buf_trim(gv_resp_buf *b);

/*
 * gv_resp_buf_adopt - @data (@len bytes, allocated with the buffer's
 * allocator, or malloc for gv_mem_libc()) becomes the pending bytes,
 * without a copy, if the buffer is empty and has no latched error; the
 * buffer owns it from then on. Returns true if adopted; false leaves
 * both as they were (append instead).
 */
bool gv_resp_buf_adopt(gv_resp_buf *b, char *data, size_t len);

/*
 * gv_resp_buf_reserve - room for at least @n more bytes at the end.
 * Returns a pointer to write them to (then call gv_resp_buf_commit), or
 * NULL with @b->err set to GV_ENOMEM or GV_ENOSPC. May move the pending
 * bytes: pointers into the buffer are invalid afterwards.
 */
char *gv_resp_buf_reserve(gv_resp_buf *b, size_t n);

/* Mark @n bytes written after gv_resp_buf_reserve() as pending. */
void gv_resp_buf_commit(gv_resp_buf *b, size_t n);

/*
 * gv_resp_buf_append - append @n bytes from @p.
 * Returns 0, GV_ENOMEM or GV_ENOSPC (also the latched error, if any).
 * Invalidates pointers into the buffer.
 */
int gv_resp_buf_append(gv_resp_buf *b, const void *p, size_t n);

/* The pending bytes: gv_resp_buf_pending(b) of them. */
static inline char *
gv_resp_buf_data(const gv_resp_buf *b)
{
	return b->data + b->start;
}

static inline size_t
gv_resp_buf_pending(const gv_resp_buf *b)
{
	return b->end - b->start;
}

/* Drop the first @n pending bytes (written to the socket, or parsed). */
void gv_resp_buf_consume(gv_resp_buf *b, size_t n);

/*
 * Reply encoders. Each appends one value to @b and returns 0, GV_ENOMEM or
 * GV_ENOSPC (see gv_resp_buf_append). Strings given to the line types
 * (simple, error) must not hold CR or LF; any they hold are written as
 * spaces, as Redis does. The types RESP3 added (null, map, set, double,
 * boolean, verbatim) are written as RESP3 when @b->proto is 3 and as
 * Redis writes them to a RESP2 client otherwise, so a reply is encoded
 * once for both protocols.
 */

/* "+<s>\r\n" */
int gv_resp_out_simple(gv_resp_buf *b, const char *s);

/* "+OK\r\n" */
int gv_resp_out_ok(gv_resp_buf *b);

/*
 * "-<msg>\r\n". @msg starts with the error code, as in "ERR no such key"
 * or "WRONGTYPE ...".
 */
int gv_resp_out_error(gv_resp_buf *b, const char *msg);

/* gv_resp_out_error() with a printf format; GV_EINVAL if it fails. */
int gv_resp_out_errorf(gv_resp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ":<v>\r\n" */
int gv_resp_out_int(gv_resp_buf *b, int64_t v);

/* "$<n>\r\n<bytes>\r\n" */
int gv_resp_out_bulk(gv_resp_buf *b, const void *p, size_t n);

/* A bulk string from a C string. */
int gv_resp_out_bulk_str(gv_resp_buf *b, const char *s);

/* A bulk string from a printf format; GV_EINVAL if it fails. */
int gv_resp_out_bulkf(gv_resp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The null bulk string "$-1\r\n" (GET of a missing key); RESP3 "_\r\n". */
int gv_resp_out_null(gv_resp_buf *b);

/* An array header "*<n>\r\n"; the @n elements follow. */
int gv_resp_out_array(gv_resp_buf *b, size_t n);

/* The null array "*-1\r\n"; RESP3 "_\r\n". */
int gv_resp_out_null_array(gv_resp_buf *b);

/* A map header of @n pairs: RESP3 "%<n>\r\n", RESP2 the flat array
 * "*<2n>\r\n"; the @n keys and values follow, alternating. */
int gv_resp_out_map(gv_resp_buf *b, size_t n);

/* A set header: RESP3 "~<n>\r\n", RESP2 "*<n>\r\n"; @n elements follow. */
int gv_resp_out_set(gv_resp_buf *b, size_t n);

/* A double: RESP3 ",<v>\r\n", RESP2 a bulk string, both as Redis 7.0
 * formats it (%.17g; "inf", "-inf", "nan"). */
int gv_resp_out_double(gv_resp_buf *b, double v);

/* A boolean: RESP3 "#t\r\n" / "#f\r\n", RESP2 ":1\r\n" / ":0\r\n". */
int gv_resp_out_bool(gv_resp_buf *b, bool v);

/* A verbatim string of format @fmt (3 characters, "txt" or "mkd"):
 * RESP3 "=<n+4>\r\n<fmt>:<bytes>\r\n", RESP2 a bulk string of the bytes
 * (INFO, CLIENT INFO, CLIENT LIST). GV_EINVAL if @fmt is not 3 long. */
int gv_resp_out_verbatim(gv_resp_buf *b, const char *fmt, const void *p,
			 size_t n);

/*
 * gv_resp_out_command - a client request: an array of @argc bulk strings.
 * @lens: the lengths of @argv's strings, or NULL to use strlen().
 */
int gv_resp_out_command(gv_resp_buf *b, size_t argc, const char *const *argv,
			const size_t *lens);

/* One argument of a parsed request. */
typedef struct gv_resp_arg {
	const char *ptr; /* into the buffer given to gv_resp_req_parse() */
	size_t len;
	size_t off; /* offset of ptr in that buffer (used while parsing) */
} gv_resp_arg;

/*
 * The request parser of one connection. Fields are private except argv
 * and argc, which are valid after gv_resp_req_parse() returns 1.
 */
typedef struct gv_resp_req {
	gv_resp_arg *argv;
	size_t argc;
	/* private */
	const gv_mem *mem;
	gv_resp_limits lim;
	size_t cap;     /* argv entries allocated */
	size_t start;   /* where the current command begins */
	size_t pos;     /* next byte to parse */
	int64_t mbulk;  /* arguments announced; -1 before the '*' header */
	int64_t bulk;   /* length of the bulk awaited; -1 before its header */
	int kind;       /* 0 between commands, 1 inline, 2 multibulk */
	int err;        /* latched error */
	bool unauth;    /* set by the caller: the client has not passed a
			 * password check, so Redis's tighter limits hold
			 * (see gv_resp_req_parse) */
	char errmsg[96];
} gv_resp_req;

/*
 * gv_resp_req_init - a parser whose argv grows through @mem.
 * @lim: limits, or NULL for the defaults. Allocates nothing yet.
 */
void gv_resp_req_init(gv_resp_req *p, const gv_mem *mem,
		      const gv_resp_limits *lim);

/* Free the argv array. */
void gv_resp_req_fini(gv_resp_req *p);

/* Forget any partial command and a latched error (keeps argv storage). */
void gv_resp_req_reset(gv_resp_req *p);

/*
 * gv_resp_req_parse - parse the next command from a connection's input.
 * @buf, @len: the unconsumed input. The parser remembers its progress as
 *             offsets into @buf, so between calls the caller may move the
 *             bytes (grow or compact its buffer) but must keep them, minus
 *             the consumed prefix, at the start of the next @buf.
 * @consumed:  set on return 0 or 1: bytes at the start of @buf the caller
 *             drops before the next call (a command, or blank lines and
 *             empty "*0" requests skipped on the way).
 *
 * Returns 1 with p->argv / p->argc set to a command (argc >= 1; pointers
 * into @buf, valid until the caller drops those bytes); 0 if more bytes
 * are needed; or a negative code, after which the parser only returns that
 * code again (reset it, or better close the connection, as Redis does):
 *   GV_EMALFORMED  malformed input (bad '*' or '$' header, non-numeric or
 *                  negative length, missing CRLF, unbalanced quotes)
 *   GV_ERANGE      more arguments than max_args, or an inline line longer
 *                  than max_inline
 *   GV_EVALSIZE    a bulk string longer than max_bulk
 *   GV_ENOMEM      the argv array could not grow
 * gv_resp_req_errmsg() then holds "Protocol error: ..." (or "out of
 * memory"), to be sent as "-ERR <message>" before closing.
 *
 * A "$-1" null bulk is not a valid argument (Redis rejects it too), while
 * "*0" and any negative count ("*-1") are empty requests and skipped, as
 * Redis skips them; a count past INT32_MAX is malformed, as in Redis.
 */
int gv_resp_req_parse(gv_resp_req *p, char *buf, size_t len,
		      size_t *consumed);

/*
 * While @p->unauth is set (a server with a password, a client that has
 * not given it), requests are held to Redis's limits for such clients, so
 * that a stranger cannot make the server buffer much: more than 10
 * arguments is GV_ERANGE "Protocol error: unauthenticated multibulk
 * length", a bulk longer than 16384 bytes GV_EVALSIZE "Protocol error:
 * unauthenticated bulk length".
 */

/* The message of the latched error, or "" if none. */
const char *gv_resp_req_errmsg(const gv_resp_req *p);

/*
 * gv_resp_req_need - while a bulk argument is incomplete, the buffer length
 * (counted from the @buf of the last call, minus what it consumed) that
 * would complete it; else 0. A server uses it to grow its input buffer once
 * for a big value instead of doubling many times.
 */
size_t gv_resp_req_need(const gv_resp_req *p);

/* Reply value types. The parser reads RESP3's types too, as the RESP2
 * type a RESP2 client gets: null "_" as NIL, a boolean as INTEGER 1 or 0,
 * a double or big number as SIMPLE (its text), a verbatim string as BULK
 * (without its "txt:"), a set or push as ARRAY and a map as the ARRAY of
 * its keys and values. */
enum gv_resp_type {
	GV_RESP_SIMPLE = 1,     /* +OK */
	GV_RESP_ERROR = 2,      /* -ERR ... */
	GV_RESP_INTEGER = 3,    /* :42 */
	GV_RESP_BULK = 4,       /* $3 foo */
	GV_RESP_NIL = 5,        /* $-1 */
	GV_RESP_ARRAY = 6,      /* *n ... */
	GV_RESP_NIL_ARRAY = 7,  /* *-1 */
};

/*
 * A parsed reply. str/len hold the text of SIMPLE, ERROR and BULK (into the
 * parsed buffer, not NUL-terminated); integer holds INTEGER; elems/n hold
 * ARRAY (elems allocated through the parser's gv_mem, NULL when n is 0).
 */
typedef struct gv_resp_value {
	int type;
	int64_t integer;
	const char *str;
	size_t len;
	struct gv_resp_value *elems;
	size_t n;
} gv_resp_value;

/*
 * gv_resp_reply_scan - is one full reply at the start of @buf?
 * @lim: limits (max_bulk, max_elems), or NULL for the defaults.
 * Returns 1 and sets @consumed to its length, 0 if more bytes are needed,
 * GV_EMALFORMED (not RESP, or nested deeper than GV_RESP_MAX_DEPTH) or
 * GV_EVALSIZE (beyond a limit). Allocates nothing.
 */
int gv_resp_reply_scan(const char *buf, size_t len, const gv_resp_limits *lim,
		       size_t *consumed);

/*
 * gv_resp_reply_parse - parse one full reply at the start of @buf into @out.
 * Returns 1 (@out and @consumed set; free with gv_resp_value_fini, keep
 * @buf while using the strings), 0 if more bytes are needed, or the errors
 * of gv_resp_reply_scan() and GV_ENOMEM. Arrays are allocated through @mem
 * only once the whole reply is present, so a huge announced count costs
 * nothing until its bytes arrive.
 */
int gv_resp_reply_parse(const char *buf, size_t len, const gv_mem *mem,
			const gv_resp_limits *lim, gv_resp_value *out,
			size_t *consumed);

/* Free the arrays of a value filled by gv_resp_reply_parse(). */
void gv_resp_value_fini(const gv_mem *mem, gv_resp_value *v);

/* "simple", "error", "integer", "bulk", "nil", "array", "nil-array". */
const char *gv_resp_type_name(int type);

#endif /* GV_SERVER_RESP_H */
