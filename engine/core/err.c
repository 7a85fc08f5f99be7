/* SPDX-License-Identifier: MIT */
/*
 * err.c - gv_strerror(): messages for grapevine's error codes and for
 * negative errno values.
 */
#include <grapevine/grapevine.h>

const char *
gv_strerror(int err)
{
	switch (err) {
	case GV_OK: return "success";
	case GV_EINVAL: return "invalid argument";
	case GV_ENOMEM: return "out of memory (allocator failed)";
	case GV_ENOSPC: return "memory cap reached";
	case GV_EKEYSIZE: return "key too long";
	case GV_EVALSIZE: return "value too long";
	case GV_ENOTFOUND: return "no such key";
	case GV_ESTALE: return "version not newer than the current one";
	case GV_EMALFORMED: return "malformed datagram";
	case GV_ETRUNCATED: return "truncated datagram";
	case GV_EBADMAGIC: return "not a grapevine datagram";
	case GV_EVERSION: return "unsupported protocol version";
	case GV_ECHECKSUM: return "checksum mismatch";
	case GV_ECLUSTER: return "datagram from another cluster";
	case GV_EFUTURE: return "timestamp too far in the future";
	case GV_ENOBUFS: return "output buffer too small";
	case GV_EFULL: return "table full";
	case GV_ERANGE: return "value out of range";
	case GV_EREADONLY: return "read-only while partitioned (minority side)";
	case GV_EAUTH: return "datagram failed authentication";
	case GV_EREPLAY: return "replayed or stale datagram";
	case GV_EPRIMARY: return "the primary key cannot be removed (use another first)";
	case GV_ENOKEYRING: return "no keyring (gossip runs in the clear)";
	case GV_ENOTINT: return "value is not an integer or out of range";
	case GV_ENOTFLOAT: return "value is not a valid float";
	case GV_EOVERFLOW: return "increment or decrement would overflow";
	case GV_ENANINF: return "increment would produce NaN or Infinity";
	case GV_EAGAIN: return "queue full, try again later";
	default: break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
