/* SPDX-License-Identifier: MIT */
/*
 * grapevine: a gossip replication engine.
 *
 * This is the public header of libgrapevine. It holds what every program
 * and every layer shares: version macros, error codes and gv_strerror(),
 * the allocator interface the sans-IO core allocates through, and the small
 * value types (versions, node ids) that travel between layers.
 *
 * Conventions (see STYLE.md): functions return 0 on success, -errno for
 * system errors and a negative GV_E* code for protocol and argument errors;
 * functions that produce bytes return a signed size; out-parameters are
 * written only on success.
 */
#ifndef GRAPEVINE_GRAPEVINE_H
#define GRAPEVINE_GRAPEVINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GV_VERSION_MAJOR 0
#define GV_VERSION_MINOR 1
#define GV_VERSION_PATCH 0
#define GV_VERSION_STRING "0.1.0"
/* One number that grows with each release: 0xMMmmpp. */
#define GV_VERSION_NUM                                                        \
	((GV_VERSION_MAJOR << 16) | (GV_VERSION_MINOR << 8) | GV_VERSION_PATCH)

/*
 * Error codes. They live well below any -errno value (Linux errno < 4096),
 * so one int carries either kind without ambiguity.
 */
enum gv_error {
	GV_OK = 0,
	GV_EINVAL = -10001,     /* invalid argument */
	GV_ENOMEM = -10002,     /* the allocator failed */
	GV_ENOSPC = -10003,     /* the configured memory cap would be exceeded */
	GV_EKEYSIZE = -10004,   /* key longer than GV_MAX_KEY */
	GV_EVALSIZE = -10005,   /* value longer than the configured maximum */
	GV_ENOTFOUND = -10006,  /* no such key (or it is deleted) */
	GV_ESTALE = -10007,     /* version not newer than the current one */
	GV_EMALFORMED = -10008, /* malformed datagram or record */
	GV_ETRUNCATED = -10009, /* datagram shorter than its lengths claim */
	GV_EBADMAGIC = -10010,  /* not a grapevine datagram */
	GV_EVERSION = -10011,   /* unsupported wire protocol version */
	GV_ECHECKSUM = -10012,  /* datagram checksum mismatch */
	GV_ECLUSTER = -10013,   /* datagram from another cluster */
	GV_EFUTURE = -10014,    /* remote timestamp too far in the future */
	GV_ENOBUFS = -10015,    /* output buffer too small */
	GV_EFULL = -10016,      /* fixed-capacity table is full */
	GV_ERANGE = -10017,     /* numeric argument out of range */
	GV_EREADONLY = -10018,  /* partitioned and configured read-only */
	GV_EAUTH = -10019,      /* sealed datagram failed authentication, or a
				 * clear one where a keyring is required */
	GV_EREPLAY = -10020,    /* sealed datagram seen before, or too old */
	GV_EPRIMARY = -10021,   /* the primary key cannot be removed */
	GV_ENOKEYRING = -10022, /* key operation on a node without a keyring */
	GV_ENOTINT = -10023,    /* the value is not an integer (or out of
				 * range) */
	GV_ENOTFLOAT = -10024,  /* the value is not a valid float */
	GV_EOVERFLOW = -10025,  /* increment or decrement would overflow */
	GV_ENANINF = -10026,    /* the result would be NaN or infinite */
	GV_EAGAIN = -10027,     /* a bounded queue is full: try again later */
};

/*
 * gv_strerror - a human-readable message for a grapevine return code.
 * @err: 0, a negative GV_E* code or a negative errno value.
 * Returns a static string; never NULL.
 */
const char *gv_strerror(int err);

/* Longest key, in bytes. */
#define GV_MAX_KEY 1024

/* A node's identity: random 64-bit, chosen at first start. */
typedef uint64_t gv_node_id;

/*
 * A write's version: hybrid logical clock timestamp (48-bit milliseconds,
 * 16-bit logical counter) and the id of the node that wrote it. Versions are
 * totally ordered: higher hlc wins, ties go to the higher origin. The zero
 * version {0, 0} means "none" (a first write replaces nothing).
 */
typedef struct gv_version {
	uint64_t hlc;
	gv_node_id origin;
} gv_version;

/* Compare two versions: <0, 0, >0 as a is older, equal, newer than b. */
static inline int
gv_version_cmp(const gv_version *a, const gv_version *b)
{
	if (a->hlc != b->hlc)
		return a->hlc < b->hlc ? -1 : 1;
	if (a->origin != b->origin)
		return a->origin < b->origin ? -1 : 1;
	return 0;
}

static inline bool
gv_version_is_zero(const gv_version *v)
{
	return v->hlc == 0 && v->origin == 0;
}

/*
 * A network address as grapevine carries it (on the wire and between
 * layers): IPv4 or IPv6 and a port. Compare with gv_addr_eq (padding bytes
 * are not part of the value).
 */
typedef struct gv_addr {
	uint8_t family;   /* 4 or 6 */
	uint16_t port;    /* host byte order */
	uint8_t addr[16]; /* network byte order; 4 bytes used for IPv4 */
} gv_addr;

static inline bool
gv_addr_eq(const gv_addr *a, const gv_addr *b)
{
	if (a->family != b->family || a->port != b->port)
		return false;
	unsigned n = a->family == 6 ? 16 : 4;
	for (unsigned i = 0; i < n; i++)
		if (a->addr[i] != b->addr[i])
			return false;
	return true;
}

/* Time as the core sees it: microseconds on the caller's monotonic clock. */
typedef uint64_t gv_time;
#define GV_TIME_NEVER UINT64_MAX

/*
 * A sans-IO endpoint as a transport or a simulator drives it (nng-style
 * ops table). After every call into the endpoint the driver calls send()
 * until it returns 0 (it returns a datagram's length and its destination),
 * and re-reads next_expiry(). gv_node_ops (core/node.h) is the table for a
 * gv_node.
 */
typedef struct gv_endpoint_ops {
	int (*recv)(void *ep, gv_time now, const gv_addr *from,
		    const uint8_t *buf, size_t len);
	ssize_t (*send)(void *ep, gv_time now, gv_addr *to, uint8_t *buf,
			size_t cap);
	gv_time (*next_expiry)(void *ep);
	int (*handle_expiry)(void *ep, gv_time now);
} gv_endpoint_ops;

/* HLC timestamp layout helpers. */
#define GV_HLC_LOGICAL_BITS 16
#define GV_HLC_MS_MAX ((UINT64_C(1) << 48) - 1)
static inline uint64_t
gv_hlc_ms(uint64_t ts)
{
	return ts >> GV_HLC_LOGICAL_BITS;
}
static inline uint64_t
gv_hlc_make(uint64_t ms, uint16_t logical)
{
	return (ms << GV_HLC_LOGICAL_BITS) | logical;
}

/*
 * The allocator the core allocates through. Frees are sized (the size
 * passed to alloc), which lets a counting allocator account exactly and
 * lets arena allocators skip headers. alloc returns memory aligned like
 * malloc, or NULL on failure. dealloc(ctx, NULL, 0) is a no-op.
 */
typedef struct gv_mem {
	void *(*alloc)(void *ctx, size_t size);
	void (*dealloc)(void *ctx, void *ptr, size_t size);
	void *ctx;
} gv_mem;

/* The libc allocator (malloc/free). Always available. */
const gv_mem *gv_mem_libc(void);

/*
 * The allocator programs use: mimalloc when libgrapevine was built with it,
 * else libc. Declared here, defined in gv_alloc (not in the core).
 */
const gv_mem *gv_mem_default(void);

/* Name of the allocator gv_mem_default() returns ("mimalloc" or "libc"). */
const char *gv_mem_default_name(void);

#ifdef __cplusplus
}
#endif

#endif /* GRAPEVINE_GRAPEVINE_H */
