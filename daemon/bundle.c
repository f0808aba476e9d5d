/*
 * Opening sealed model bundles. libember-security checks the bundle (layout, signer,
 * signature, revocation, name, expiry) before it decrypts a byte, and decrypts into
 * sodium_malloc'd memory; this file adds what only the daemon knows: the bundle must say the
 * NAME and VERSION of the folder it sits in (so a valid bundle cannot be replayed under another
 * name or version), its version must not be below the floor in the state directory, and the
 * plaintext goes straight into the engine's locked, undumpable weights and is wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"

int bundle_keys_open(bundle_keys *k, const char *trust_dir, const char *revoked,
                     const char *device_key, const char *state_dir, ember_err *err)
{
    memset(k, 0, sizeof *k);
    if (!trust_dir && !device_key && !state_dir && !revoked)
        return 0;
    if (!trust_dir || !device_key || !state_dir)
        return ember_err_set(err, EMBER_EINVAL,
                             "sealed models need all of --trust, --device-key and --state "
                             "(trust, device_key and state in the configuration)");
    int rc = ember_security_init(err);
    if (rc == 0)
        rc = ember_trust_new(&k->trust, err);
    if (rc == 0)
        rc = ember_trust_load_dir(k->trust, trust_dir, err);
    if (rc == 0 && ember_trust_nkeys(k->trust) == 0)
        rc = ember_err_set(err, EMBER_EINVAL, "the trust store %s holds no *.pub key", trust_dir);
    if (rc == 0 && revoked)
        rc = ember_trust_load_revoked(k->trust, revoked, err);
    if (rc == 0)
        rc = ember_key_load(device_key, EMBER_KEY_DEVICE, &k->device, err);
    if (rc == 0)
        rc = ember_rollback_open(state_dir, &k->floors, err);
    if (rc < 0)
        bundle_keys_free(k);
    return rc;
}

void bundle_keys_free(bundle_keys *k)
{
    ember_trust_free(k->trust);
    ember_key_free(k->device);
    ember_rollback_free(k->floors);
    memset(k, 0, sizeof *k);
}

/* Prefix err's message with path, keeping its code. */
static int fail_in(const char *path, int rc, ember_err *err)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return ember_err_set(err, rc, "refusing %s: %s", path, msg);
}

/* What the daemon requires of a verified bundle before it is decrypted. */
typedef struct open_check {
    const bundle_keys *k;
    const char *name;
    int version;
} open_check;

static int check_verified(const ember_bundle_info *info, void *arg, ember_err *err)
{
    const open_check *c = arg;
    if (strcmp(info->name, c->name) != 0 || info->version != (uint64_t)c->version)
        return ember_err_set(err, EMBER_SEC_EHEADER,
                             "the bundle is %s version %llu, not %s version %d as its folder "
                             "says",
                             info->name, (unsigned long long)info->version, c->name, c->version);
    int rc = ember_rollback_check(c->k->floors, c->name, info->version, err);
    if (rc < 0)
        return rc;
    if (!ember_bundle_for_device(info, c->k->device))
        return ember_err_set(err, EMBER_SEC_ENOTRECIPIENT,
                             "the bundle is not sealed to this device's key");
    return 0;
}

int bundle_model_open(const bundle_keys *k, const char *path, const void *buf, size_t len,
                      const char *name, int version, ember_model **out, ember_err *err)
{
    if (!k->trust)
        return ember_err_set(err, EMBER_EINVAL,
                             "refusing %s: it is a sealed bundle and emberd has no trust store "
                             "(start it with --trust, --device-key and --state)",
                             path);
    open_check c = {k, name, version};
    ember_plain *plain;
    int rc = ember_bundle_open_checked(k->trust, k->device, buf, len, (int64_t)time(NULL),
                                       check_verified, &c, &plain, NULL, err);
    if (rc < 0)
        return fail_in(path, rc, err);
    rc = ember_model_load_mem_locked(plain->data, plain->len, out, err);
    ember_plain_free(plain);
    return rc < 0 ? fail_in(path, rc, err) : 0;
}

/* The largest file that can hold a bundle within the format's limits. */
#define BUNDLE_FILE_MAX                                                                            \
    (EMBER_BUNDLE_FIXED_HEADER + EMBER_BUNDLE_MAX_RECIPIENTS * EMBER_BUNDLE_RECIPIENT_SIZE +       \
     EMBER_BUNDLE_MAX_PAYLOAD +                                                                    \
     (EMBER_BUNDLE_MAX_PAYLOAD / EMBER_BUNDLE_CHUNK + 2) * EMBER_BUNDLE_CHUNK_OVERHEAD + 4096 +    \
     EMBER_BUNDLE_SIGNATURE_SIZE)

/* A huge-page aligned and advised anonymous mapping of len bytes (len > 0), or NULL. A
 * model's bundle is tens of megabytes: read into malloc'd memory it costs one page fault
 * per 4 KiB, on a virtual machine more than the read itself. Read, not mapped from the
 * file: what is verified must be what is decrypted, whoever writes the file meanwhile. */
#define BUNDLE_HUGE ((size_t)2 * 1024 * 1024)
static void *bundle_buf_alloc(size_t len)
{
    size_t span = (len + BUNDLE_HUGE - 1) / BUNDLE_HUGE * BUNDLE_HUGE;
    unsigned char *p = mmap(NULL, span + BUNDLE_HUGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    unsigned char *a =
        (unsigned char *)(((uintptr_t)p + BUNDLE_HUGE - 1) & ~(uintptr_t)(BUNDLE_HUGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    munmap(a + span, (size_t)(p + BUNDLE_HUGE - a));
#ifdef MADV_HUGEPAGE
    madvise(a, span, MADV_HUGEPAGE);
#endif
    return a;
}

void bundle_file_free(void *buf, size_t len)
{
    if (buf)
        munmap(buf, (len + BUNDLE_HUGE - 1) / BUNDLE_HUGE * BUNDLE_HUGE);
}

int bundle_file_read(const char *path, void **buf, size_t *len, ember_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    char magic[sizeof EMBER_BUNDLE_MAGIC - 1];
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = ember_err_set(err, EMBER_EIO, "%s is not a readable regular file", path);
    else if (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
             !ember_bundle_is_sealed(magic, sizeof magic))
        rc = 0; /* not a sealed bundle: the caller decides */
    else if ((uint64_t)st.st_size > BUNDLE_FILE_MAX)
        rc = ember_err_set(err, EMBER_ENOMEM,
                           "refusing %s: %lld bytes is larger than a bundle "
                           "can be",
                           path, (long long)st.st_size);
    else if ((*buf = bundle_buf_alloc((size_t)st.st_size)) == NULL)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    else
        rc = 1;
    for (size_t got = 0; rc == 1 && got < (size_t)st.st_size;) {
        ssize_t n = pread(fd, (char *)*buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n <= 0) {
            bundle_file_free(*buf, (size_t)st.st_size);
            rc = ember_err_set(err, EMBER_EIO, "cannot read %s: %s", path,
                               n < 0 ? strerror(errno) : "it shrank while being read");
        }
        got += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    if (rc == 1)
        *len = (size_t)st.st_size;
    return rc;
}

int bundle_accept(const bundle_keys *k, const char *name, int version, ember_err *err)
{
    return ember_rollback_accept(k->floors, name, (uint64_t)version, err);
}
