/* SPDX-License-Identifier: MIT */
/*
 * keyring_file.c - the --keyring file: read and checked at start (the
 * daemon refuses to start on any problem), rewritten safely after the
 * ring changes so that a restart comes back with the cluster's keys.
 */
#define _GNU_SOURCE
#include "server/daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"

/* Write all @n bytes, retrying short writes and EINTR: 0 or -errno. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0) /* a regular file takes at least one byte */
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The keyring file follows the ring: after a key operation (here or from
 * the cluster) it is rewritten, primary first, so that a restart comes
 * back with the keys the cluster uses. Written to FILE.tmp (mode 0600),
 * synced, then renamed over FILE.
 */
void
gvd_save_keyring(gv_daemon *d)
{
	if (!d->keyring)
		return;
	uint64_t gen = gv_keyring_generation(d->keyring);
	if (gen == d->keyring_saved)
		return;
	uint32_t ids[GV_KEYRING_MAX];
	size_t k = gv_keyring_list(d->keyring, ids, GV_KEYRING_MAX);
	if (k > GV_KEYRING_MAX)
		k = GV_KEYRING_MAX;
	if (k == 0) /* a ring is never emptied; never write one that is */
		return;
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.keyring);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		gv_log(GV_LOG_ERROR, "cannot write the keyring file",
		       "file=%s error=\"%s\"", tmp, strerror(errno));
		d->keyring_saved = gen; /* said once per change */
		return;
	}
	char text[GV_KEYRING_MAX * 80 + 256];
	size_t len = (size_t)snprintf(
		text, sizeof(text),
		"# grapevine keyring, rewritten by grapevined after a key "
		"change\n# the first key is primary\n");
	for (size_t i = 0; i < k; i++) {
		uint8_t key[GV_KEY_LEN];
		if (gv_keyring_get(d->keyring, ids[i], key))
			continue;
		for (int j = 0; j < GV_KEY_LEN; j++)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%02x", key[j]);
		text[len++] = '\n';
		explicit_bzero(key, sizeof(key));
	}
	/* The first failing step names the error; each is checked so that
	 * FILE is replaced only by a complete, synced copy. */
	const char *step = NULL;
	int rc = write_all(fd, text, len);
	explicit_bzero(text, sizeof(text));
	if (rc) {
		step = "write";
	} else if (fsync(fd) != 0) {
		rc = -errno;
		step = "fsync";
	}
	/* close after a failed step only frees the descriptor; after a good
	 * fsync its error (EIO from NFS, say) still fails the save */
	if (close(fd) != 0 && !step) {
		rc = -errno;
		step = "close";
	}
	if (!step && rename(tmp, d->cfg.keyring) != 0) {
		rc = -errno;
		step = "rename";
	}
	if (!step) {
		gv_log(GV_LOG_INFO, "keyring changed and saved",
		       "file=%s keys=%zu primary=%08x", d->cfg.keyring, k,
		       k ? ids[0] : 0);
	} else {
		gv_log(GV_LOG_ERROR, "cannot write the keyring file",
		       "file=%s step=%s error=\"%s\"", d->cfg.keyring, step,
		       strerror(-rc));
		/* FILE.tmp holds the keys: do not leave it behind unsaid */
		if (unlink(tmp) != 0 && errno != ENOENT)
			gv_log(GV_LOG_ERROR,
			       "cannot remove the temporary keyring file",
			       "file=%s error=\"%s\"", tmp, strerror(errno));
	}
	d->keyring_saved = gen;
}

/* Reads and checks the --keyring file; the daemon refuses to start on
 * any problem (a node that cannot seal must not gossip in the clear). */
int
gvd_load_keyring(gv_daemon *d, char *err, size_t errlen)
{
	const char *path = d->cfg.keyring;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "--keyring %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat stt;
	/* fstat of an open descriptor does not fail; if it did, only this
	 * warning would be lost */
	if (fstat(fd, &stt) == 0 && (stt.st_mode & 077))
		gv_log(GV_LOG_WARN,
		       "keyring file is readable by other users (chmod 600)",
		       "file=%s mode=%03o", path, stt.st_mode & 0777);
	char text[65536];
	size_t len = 0;
	int rerr = 0;
	while (len < sizeof(text)) {
		ssize_t got = read(fd, text + len, sizeof(text) - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rerr = errno;
			break;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	bool big = len == sizeof(text);
	(void)close(fd); /* read-only: nothing to flush, nothing lost */
	if (rerr) {
		/* never parse a prefix: it could hold fewer keys, or a
		 * different primary, than the file */
		explicit_bzero(text, len);
		snprintf(err, errlen, "--keyring %s: %s", path, strerror(rerr));
		return -1;
	}
	if (big) {
		explicit_bzero(text, sizeof(text));
		snprintf(err, errlen, "--keyring %s: larger than 64 KiB", path);
		return -1;
	}
	char why[200];
	gv_keyring *kr = NULL;
	int rc = gv_keyring_new(&kr, gv_mem_libc());
	if (rc == 0)
		rc = gv_keyring_set_cipher(kr, d->cfg.cipher);
	if (rc == 0)
		rc = gv_keyring_load(kr, text, len, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", gv_strerror(rc));
	explicit_bzero(text, sizeof(text));
	if (rc) {
		/* never kept: gvd_save_keyring must not write over the file */
		gv_keyring_del(kr);
		snprintf(err, errlen, "--keyring %s: %s", path, why);
		return -1;
	}
	d->keyring = kr;
	d->keyring_saved = gv_keyring_generation(kr);
	return 0;
}
