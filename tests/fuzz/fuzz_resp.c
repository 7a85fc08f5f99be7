/* SPDX-License-Identifier: MIT */
/*
 * fuzz_resp.c - the RESP request parser on a client speaking garbage, fed
 * in pieces as a socket would deliver them (the first byte sets the piece
 * size). Every command returned must have its arguments inside the input;
 * an error must latch.
 */
#include <stdlib.h>

#include "server/resp.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	gv_resp_limits lim;
	gv_resp_limits_init(&lim);
	lim.max_args = 64;
	lim.max_bulk = 4096;
	lim.max_inline = 1024;
	gv_resp_req p;
	gv_resp_req_init(&p, gv_mem_libc(), &lim);
	size_t have = 0, fed = 0;
	int last = 0;
	while (fed < size || have) {
		size_t add = size - fed < piece ? size - fed : piece;
		memcpy(buf + have, data + fed, add);
		have += add;
		fed += add;
		size_t used = 0;
		int rc = gv_resp_req_parse(&p, buf, have, &used);
		if (rc < 0) {
			if (last < 0 && rc != last)
				abort(); /* the error must latch */
			last = rc;
			if (gv_resp_req_parse(&p, buf, have, &used) != rc)
				abort();
			break;
		}
		if (used > have)
			abort();
		if (rc == 1) {
			if (p.argc < 1)
				abort();
			for (size_t i = 0; i < p.argc; i++)
				if (p.argv[i].ptr < buf ||
				    p.argv[i].ptr + p.argv[i].len > buf + have)
					abort();
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		if (rc == 0 && add == 0)
			break; /* needs more than there is */
	}
	gv_resp_req_fini(&p);
	free(buf);
	return 0;
}
