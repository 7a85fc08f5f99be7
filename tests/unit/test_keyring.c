/* SPDX-License-Identifier: MIT */
/*
 * test_keyring.c - cluster keys and sealing (engine/core/keyring.c).
 *
 * Key text (hex, base64 variants, junk), keyring files (comments, blank
 * lines, duplicates, too many keys, no keys), install/use/remove rules,
 * and sealing: round trips with both ciphers, every single-byte change of
 * a sealed datagram (header, body, tag) refused, truncation refused, a key
 * outside the ring refused, rotation (a datagram sealed with an older key
 * still opens while that key is held), and known nonces never repeating
 * for different headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/keyring.h"
#include "core/rng.h"
#include "core/wire.h"

#define CLUSTER 0xC0FFEE01u

#define HEX1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* the same 32 bytes in base64 */
#define B64_1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define HEX2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static gv_keyring *
ring_of(const char *text)
{
	gv_keyring *kr;
	assert_int_equal(gv_keyring_new(&kr, NULL), 0);
	char err[128] = "";
	int rc = gv_keyring_load(kr, text, strlen(text), err, sizeof(err));
	if (rc)
		print_error("load: %s\n", err);
	assert_int_equal(rc, 0);
	return kr;
}

static void
test_key_parse(void **state)
{
	(void)state;
	uint8_t a[GV_KEY_LEN], b[GV_KEY_LEN];
	assert_int_equal(gv_key_parse(HEX1, strlen(HEX1), a), 0);
	for (int i = 0; i < GV_KEY_LEN; i++)
		assert_int_equal(a[i], i);
	assert_int_equal(gv_key_parse(B64_1, strlen(B64_1), b), 0);
	assert_memory_equal(a, b, GV_KEY_LEN);
	/* no padding, URL-safe, surrounding blanks */
	assert_int_equal(gv_key_parse(B64_1, strlen(B64_1) - 1, b), 0);
	assert_memory_equal(a, b, GV_KEY_LEN);
	const char *spaced = "  \t" HEX1 "\r\n";
	assert_int_equal(gv_key_parse(spaced, strlen(spaced), b), 0);
	assert_memory_equal(a, b, GV_KEY_LEN);
	const char *url = "_-8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	assert_int_equal(gv_key_parse(url, strlen(url), b), 0);
	assert_int_equal(b[0], 0xff);
	assert_int_equal(b[1], 0xef);
	/* junk */
	const char *bad[] = {
		"", "  ", "00", HEX1 "00", /* 33 bytes */
		"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=x",
		"0001020304050607 08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(gv_key_parse(bad[i], strlen(bad[i]), b),
				 GV_EINVAL);
	assert_int_equal(gv_key_parse(NULL, 0, b), GV_EINVAL);

	uint32_t id = gv_key_id(a), back;
	assert_int_not_equal(id, 0);
	char hex[16];
	snprintf(hex, sizeof(hex), "%08x", id);
	assert_int_equal(gv_key_id_parse(hex, 8, &back), 0);
	assert_int_equal(back, id);
	assert_int_equal(gv_key_id_parse("0000000g", 8, &back), GV_EINVAL);
	assert_int_equal(gv_key_id_parse("00000000", 8, &back), GV_EINVAL);
	assert_int_equal(gv_key_id_parse("1234", 4, &back), GV_EINVAL);
}

static void
test_keyring_load(void **state)
{
	(void)state;
	gv_keyring *kr = ring_of("# cluster keys\n\n" HEX2 "\n  " B64_1
				 "  \n# end\n");
	uint8_t k1[GV_KEY_LEN], k2[GV_KEY_LEN];
	gv_key_parse(HEX1, strlen(HEX1), k1);
	gv_key_parse(HEX2, strlen(HEX2), k2);
	uint32_t ids[4];
	assert_int_equal(gv_keyring_list(kr, ids, 4), 2);
	assert_int_equal(ids[0], gv_key_id(k2)); /* first line: primary */
	assert_int_equal(ids[1], gv_key_id(k1));
	assert_int_equal(gv_keyring_primary(kr), gv_key_id(k2));

	/* errors leave the ring as it was, and say which line */
	char err[160];
	const char *dup = HEX1 "\n" B64_1 "\n";
	assert_int_equal(gv_keyring_load(kr, dup, strlen(dup), err,
					 sizeof(err)),
			 GV_EINVAL);
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "twice"));
	const char *junk = HEX1 "\n\nnot a key\n";
	assert_int_equal(gv_keyring_load(kr, junk, strlen(junk), err,
					 sizeof(err)),
			 GV_EINVAL);
	assert_non_null(strstr(err, "line 3"));
	const char *none = "# nothing\n\n";
	assert_int_equal(gv_keyring_load(kr, none, strlen(none), err,
					 sizeof(err)),
			 GV_EINVAL);
	assert_non_null(strstr(err, "no keys"));
	char many[17 * 70] = "";
	for (int i = 0; i < 17; i++) {
		char line[70];
		snprintf(line, sizeof(line), "%062x%02x\n", 0, i + 1);
		strcat(many, line);
	}
	assert_int_equal(gv_keyring_load(kr, many, strlen(many), err,
					 sizeof(err)),
			 GV_EINVAL);
	assert_non_null(strstr(err, "line 17"));
	assert_int_equal(gv_keyring_count(kr), 2);
	assert_int_equal(gv_keyring_primary(kr), gv_key_id(k2));
	gv_keyring_del(kr);
}

static void
test_keyring_ops(void **state)
{
	(void)state;
	gv_keyring *kr;
	assert_int_equal(gv_keyring_new(&kr, NULL), 0);
	assert_int_equal(gv_keyring_primary(kr), 0);
	uint8_t k[GV_KEYRING_MAX + 1][GV_KEY_LEN];
	for (int i = 0; i <= GV_KEYRING_MAX; i++) {
		memset(k[i], 0, GV_KEY_LEN);
		k[i][0] = (uint8_t)(i + 1);
	}
	uint64_t g0 = gv_keyring_generation(kr);
	assert_int_equal(gv_keyring_install(kr, k[0]), 1);
	assert_true(gv_keyring_generation(kr) > g0);
	assert_int_equal(gv_keyring_primary(kr), gv_key_id(k[0]));
	assert_int_equal(gv_keyring_install(kr, k[0]), 0); /* held */
	for (int i = 1; i < GV_KEYRING_MAX; i++)
		assert_int_equal(gv_keyring_install(kr, k[i]), 1);
	assert_int_equal(gv_keyring_install(kr, k[GV_KEYRING_MAX]),
			 GV_EFULL);
	assert_int_equal(gv_keyring_primary(kr), gv_key_id(k[0]));
	assert_int_equal(gv_keyring_remove(kr, gv_key_id(k[0])),
			 GV_EPRIMARY);
	assert_int_equal(gv_keyring_use(kr, gv_key_id(k[5])), 1);
	assert_int_equal(gv_keyring_use(kr, gv_key_id(k[5])), 0);
	assert_int_equal(gv_keyring_primary(kr), gv_key_id(k[5]));
	assert_int_equal(gv_keyring_remove(kr, gv_key_id(k[0])), 1);
	assert_int_equal(gv_keyring_remove(kr, gv_key_id(k[0])),
			 GV_ENOTFOUND);
	assert_int_equal(gv_keyring_use(kr, gv_key_id(k[0])), GV_ENOTFOUND);
	assert_int_equal(gv_keyring_count(kr), GV_KEYRING_MAX - 1);
	uint8_t got[GV_KEY_LEN];
	assert_int_equal(gv_keyring_get(kr, gv_key_id(k[7]), got), 0);
	assert_memory_equal(got, k[7], GV_KEY_LEN);
	assert_int_equal(gv_keyring_get(kr, gv_key_id(k[0]), got),
			 GV_ENOTFOUND);
	/* every id still listed once, primary first */
	uint32_t ids[GV_KEYRING_MAX];
	size_t n = gv_keyring_list(kr, ids, GV_KEYRING_MAX);
	assert_int_equal(n, GV_KEYRING_MAX - 1);
	assert_int_equal(ids[0], gv_key_id(k[5]));
	for (int i = 1; i < GV_KEYRING_MAX; i++) {
		int seen = 0;
		for (size_t j = 0; j < n; j++)
			seen += ids[j] == gv_key_id(k[i]);
		assert_int_equal(seen, 1);
	}
	assert_int_equal(gv_cipher_parse("aes-256-gcm"), GV_CIPHER_AES256GCM);
	assert_int_equal(gv_cipher_parse("xchacha20poly1305"),
			 GV_CIPHER_XCHACHA20);
	assert_int_equal(gv_cipher_parse("auto"), GV_CIPHER_AUTO);
	assert_int_equal(gv_cipher_parse("rot13"), GV_EINVAL);
	assert_int_equal(gv_keyring_set_cipher(kr, 9), GV_EINVAL);
	gv_keyring_del(kr);
}

/* A clear datagram with a few update records. */
static size_t
make_dgram(uint8_t *buf, size_t cap, uint64_t sender, uint32_t inc,
	   uint64_t seq, uint16_t shard, int records)
{
	gv_wire_header h = {.cluster = CLUSTER, .shard = shard,
			    .sender = sender, .incarnation = inc, .seq = seq};
	gv_wire_writer w;
	assert_int_equal(gv_wire_begin(&w, buf, cap, &h), 0);
	for (int i = 0; i < records; i++) {
		char key[16], val[24];
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "value-%d-%llu", i,
			 (unsigned long long)seq);
		gv_wire_update u = {
			.ver = {.hlc = 1000 + (uint64_t)i, .origin = sender},
			.priority = 1,
			.key = (const uint8_t *)key,
			.klen = (uint16_t)strlen(key),
			.val = (const uint8_t *)val,
			.vlen = (uint16_t)strlen(val),
		};
		assert_int_equal(gv_wire_put_update(&w, &u), 0);
	}
	ssize_t len = gv_wire_finish(&w);
	assert_true(len > 0);
	return (size_t)len;
}

static void
roundtrip(int cipher)
{
	gv_keyring *kr = ring_of(HEX1 "\n" HEX2 "\n");
	assert_int_equal(gv_keyring_set_cipher(kr, cipher), 0);
	gv_seal_cache *sc, *oc;
	assert_int_equal(gv_seal_cache_new(&sc, gv_mem_libc()), 0);
	assert_int_equal(gv_seal_cache_new(&oc, gv_mem_libc()), 0);
	uint8_t clear[1500], buf[1500], out[1500], bad[1500];
	for (uint64_t seq = 1; seq <= 40; seq++) {
		size_t len = make_dgram(clear, 1400, 77 + seq % 3, 2, seq,
					(uint16_t)(seq % 2), (int)(seq % 9));
		memcpy(buf, clear, len);
		ssize_t sl = gv_seal(kr, sc, buf, len, sizeof(buf), 0xB007);
		assert_int_equal(sl, (ssize_t)(len + GV_SEAL_OVERHEAD));
		assert_true(buf[3] & GV_WIRE_FLAG_SEALED);
		assert_int_equal(!!(buf[3] & GV_WIRE_FLAG_AESGCM),
				 cipher == GV_CIPHER_AES256GCM);
		/* the records do not travel in the clear */
		if (len > GV_WIRE_HEADER_LEN + 16)
			assert_memory_not_equal(buf + GV_WIRE_HEADER_LEN,
						clear + GV_WIRE_HEADER_LEN,
						16);
		gv_wire_header h;
		assert_int_equal(gv_wire_check_sealed(&h, buf, (size_t)sl,
						      CLUSTER),
				 0);
		assert_int_equal(h.seq, seq);
		assert_int_equal(gv_wire_check_sealed(&h, buf, (size_t)sl,
						      CLUSTER + 1),
				 GV_ECLUSTER);
		size_t ol = 0;
		assert_int_equal(gv_open(kr, oc, buf, (size_t)sl, out, &ol),
				 0);
		assert_int_equal(ol, len);
		assert_memory_equal(out + 32, buf + 32, 8);
		assert_memory_equal(out + GV_WIRE_HEADER_LEN,
				    clear + GV_WIRE_HEADER_LEN,
				    len - GV_WIRE_HEADER_LEN);
		gv_wire_reader r;
		gv_wire_record rec;
		assert_int_equal(gv_wire_open_plain(&r, out, ol), 0);
		int recs = 0, rc;
		while ((rc = gv_wire_next(&r, &rec)) == 1)
			recs++;
		assert_int_equal(rc, 0);
		assert_int_equal(recs, (int)(seq % 9));

		/* every single-byte change is refused (not only
		 * some): header, body and tag */
		for (size_t at = 0; at < (size_t)sl; at++) {
			memcpy(bad, buf, (size_t)sl);
			bad[at] ^= (uint8_t)(1u << (at % 8));
			rc = gv_open(kr, oc, bad, (size_t)sl, out, &ol);
			if (at >= 32 && at < 36)
				assert_true(rc == GV_ENOTFOUND ||
					    rc == GV_EAUTH);
			else
				assert_int_equal(rc, GV_EAUTH);
		}
		/* truncated anywhere */
		for (size_t cut = GV_WIRE_HEADER_LEN + GV_SEAL_OVERHEAD;
		     cut < (size_t)sl; cut += 7)
			assert_int_equal(gv_open(kr, oc, buf, cut, out, &ol),
					 GV_EAUTH);
		assert_int_equal(gv_open(kr, oc, buf, GV_WIRE_HEADER_LEN, out,
					 &ol),
				 GV_EINVAL);
	}
	/* another cluster's key: unknown id; a ring holding only the
	 * secondary key cannot open the primary's datagrams */
	size_t len = make_dgram(buf, 1400, 5, 1, 9, 0, 3);
	ssize_t sl = gv_seal(kr, sc, buf, len, sizeof(buf), 1);
	gv_keyring *other = ring_of(HEX2 "\n");
	size_t ol;
	assert_int_equal(gv_open(other, oc, buf, (size_t)sl, out, &ol),
			 GV_ENOTFOUND);
	/* rotation: the other ring installs the first key, then it opens
	 * datagrams sealed with either */
	uint8_t k1[GV_KEY_LEN];
	gv_key_parse(HEX1, strlen(HEX1), k1);
	assert_int_equal(gv_keyring_install(other, k1), 1);
	assert_int_equal(gv_open(other, oc, buf, (size_t)sl, out, &ol), 0);
	assert_int_equal(gv_keyring_use(kr, gv_key_id(k1) ^ 0), 0);
	uint8_t k2[GV_KEY_LEN];
	gv_key_parse(HEX2, strlen(HEX2), k2);
	assert_int_equal(gv_keyring_use(kr, gv_key_id(k2)), 1);
	len = make_dgram(buf, 1400, 5, 1, 10, 0, 3);
	sl = gv_seal(kr, sc, buf, len, sizeof(buf), 1);
	assert_int_equal(gv_open(other, oc, buf, (size_t)sl, out, &ol), 0);
	/* seal refusals: no room for the tag, already sealed, 2^48 */
	len = make_dgram(buf, 1400, 5, 1, 11, 0, 1);
	assert_int_equal(gv_seal(kr, sc, buf, len, len + 15, 1), GV_EINVAL);
	sl = gv_seal(kr, sc, buf, len, sizeof(buf), 1);
	assert_int_equal(gv_seal(kr, sc, buf, (size_t)sl, sizeof(buf), 1),
			 GV_EINVAL);
	len = make_dgram(buf, 1400, 5, 1, GV_SEAL_MAX_SEQ + 1, 0, 1);
	assert_int_equal(gv_seal(kr, sc, buf, len, sizeof(buf), 1),
			 GV_ERANGE);
	gv_keyring *empty;
	assert_int_equal(gv_keyring_new(&empty, NULL), 0);
	len = make_dgram(buf, 1400, 5, 1, 12, 0, 1);
	assert_int_equal(gv_seal(empty, sc, buf, len, sizeof(buf), 1),
			 GV_ENOTFOUND);
	gv_keyring_del(empty);
	gv_keyring_del(other);
	gv_seal_cache_del(sc, gv_mem_libc());
	gv_seal_cache_del(oc, gv_mem_libc());
	gv_keyring_del(kr);
}

static void
test_seal_xchacha(void **state)
{
	(void)state;
	roundtrip(GV_CIPHER_XCHACHA20);
}

static void
test_seal_aesgcm(void **state)
{
	(void)state;
	if (!gv_cipher_aes_available())
		skip();
	roundtrip(GV_CIPHER_AES256GCM);
}

/* Two datagrams that differ only in boot (or only in shard) must not
 * share a keystream: their ciphertexts of equal plaintexts differ. */
static void
test_seal_nonce_inputs(void **state)
{
	(void)state;
	for (int cipher = 1; cipher <= 2; cipher++) {
		if (cipher == GV_CIPHER_AES256GCM &&
		    !gv_cipher_aes_available())
			continue;
		gv_keyring *kr = ring_of(HEX1 "\n");
		assert_int_equal(gv_keyring_set_cipher(kr, cipher), 0);
		gv_seal_cache *sc;
		assert_int_equal(gv_seal_cache_new(&sc, gv_mem_libc()), 0);
		uint8_t a[1500], b[1500];
		size_t len = make_dgram(a, 1400, 5, 1, 9, 0, 4);
		memcpy(b, a, len);
		gv_seal(kr, sc, a, len, sizeof(a), 1);
		gv_seal(kr, sc, b, len, sizeof(b), 2);
		assert_memory_not_equal(a + 40, b + 40, len - 40);
		len = make_dgram(a, 1400, 5, 1, 9, 0, 4);
		size_t lb = make_dgram(b, 1400, 5, 1, 9, 1, 4);
		assert_int_equal(len, lb);
		gv_seal(kr, sc, a, len, sizeof(a), 1);
		gv_seal(kr, sc, b, len, sizeof(b), 1);
		assert_memory_not_equal(a + 40, b + 40, len - 40);
		gv_seal_cache_del(sc, gv_mem_libc());
		gv_keyring_del(kr);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_keyring_load),
		cmocka_unit_test(test_keyring_ops),
		cmocka_unit_test(test_seal_xchacha),
		cmocka_unit_test(test_seal_aesgcm),
		cmocka_unit_test(test_seal_nonce_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
