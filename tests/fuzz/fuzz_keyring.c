/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keyring.c - the keyring file parser and the key and key-id
 * parsers (keyring.c) on arbitrary text. A file that loads must give a
 * ring of 1..GV_KEYRING_MAX distinct keys whose ids parse back from their
 * 8-digit form; one that does not must leave the ring as it was and say
 * why; a key that parses must come back from its hex form.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/keyring.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	static gv_keyring *kr;
	if (!kr && gv_keyring_new(&kr, NULL))
		abort();
	/* a known ring first, so a failed load can be seen to change it */
	static const char base[] =
		"0101010101010101010101010101010101010101010101010101010101010101\n";
	if (gv_keyring_load(kr, base, sizeof(base) - 1, NULL, 0))
		abort();
	uint32_t before = gv_keyring_primary(kr);
	char err[256] = "";
	int rc = gv_keyring_load(kr, (const char *)data, size, err, sizeof(err));
	uint32_t ids[GV_KEYRING_MAX + 1];
	size_t n = gv_keyring_list(kr, ids, GV_KEYRING_MAX + 1);
	if (rc == 0) {
		if (n < 1 || n > GV_KEYRING_MAX)
			abort();
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < i; j++)
				if (ids[i] == ids[j])
					abort();
			char hex[16];
			uint32_t back;
			snprintf(hex, sizeof(hex), "%08x", ids[i]);
			if (gv_key_id_parse(hex, 8, &back) || back != ids[i])
				abort();
		}
	} else if (!err[0] || n != 1 || gv_keyring_primary(kr) != before) {
		abort();
	}
	/* the whole input as one key */
	uint8_t key[GV_KEY_LEN], again[GV_KEY_LEN];
	if (gv_key_parse((const char *)data, size, key) == 0) {
		char hex[2 * GV_KEY_LEN + 1];
		for (int i = 0; i < GV_KEY_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		if (gv_key_parse(hex, 2 * GV_KEY_LEN, again) ||
		    memcmp(key, again, GV_KEY_LEN))
			abort();
	}
	uint32_t id;
	if (gv_key_id_parse((const char *)data, size, &id) == 0 && id == 0)
		abort();
	return 0;
}
