/*
 * Small helpers the rest of libember-security shares: reading key, trust and state files with
 * a size limit (secret ones straight into locked memory, after a permission check on the open
 * descriptor so the file checked is the file read), line splitting, name rules and the words
 * for each error code.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "sec_int.h"

const char *ember_security_strerror(int code)
{
    switch (code) {
    case EMBER_SEC_EMAGIC: return "not a sealed bundle";
    case EMBER_SEC_EVERSION: return "unsupported bundle format version";
    case EMBER_SEC_ELAYOUT: return "bundle sizes do not match the file";
    case EMBER_SEC_ELIMIT: return "bundle field over a limit";
    case EMBER_SEC_EUNTRUSTED: return "signer not trusted";
    case EMBER_SEC_ESIGNATURE: return "bad signature";
    case EMBER_SEC_EREVOKED: return "signer revoked";
    case EMBER_SEC_EHEADER: return "invalid bundle header field";
    case EMBER_SEC_ENAME: return "signer not allowed for this model name";
    case EMBER_SEC_EEXPIRED: return "bundle expired";
    case EMBER_SEC_ENOTRECIPIENT: return "bundle not sealed for this device";
    case EMBER_SEC_EUNWRAP: return "content key does not open";
    case EMBER_SEC_EDECRYPT: return "payload does not decrypt";
    case EMBER_SEC_EHASH: return "payload hash mismatch";
    case EMBER_SEC_EROLLBACK: return "version below the rollback floor";
    case EMBER_SEC_EKEYPERM: return "private key file readable by others";
    case EMBER_SEC_EKEY: return "bad key file";
    default: return ember_strerror(code);
    }
}

int ember_security_init(ember_err *err)
{
    if (sodium_init() < 0)
        return ember_err_set(err, EMBER_EUNSUPPORTED, "libsodium failed to initialise");
    return 0;
}

int sec_read_file(const char *path, size_t max, int secret, char **out, size_t *len, ember_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = ember_err_set(err, EMBER_EIO, "cannot stat %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = ember_err_set(err, EMBER_EINVAL, "%s is not a regular file", path);
    } else if (secret && (st.st_mode & 077)) {
        rc = ember_err_set(err, EMBER_SEC_EKEYPERM,
                           "%s: private key file has mode %04o; it must not be accessible to "
                           "group or others (chmod 600 %s)",
                           path, (unsigned)(st.st_mode & 07777), path);
    } else if ((uint64_t)st.st_size > max) {
        rc = ember_err_set(err, EMBER_ENOMEM, "%s: %lld bytes, more than the %zu allowed", path,
                           (long long)st.st_size, max);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    size_t cap = (size_t)st.st_size + 1;
    char *buf = secret ? sodium_malloc(cap) : malloc(cap);
    if (!buf) {
        close(fd);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != cap - 1) {
        sec_free_file(buf, secret);
        return ember_err_set(err, EMBER_EIO, "%s: short read", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

void sec_free_file(char *buf, int secret)
{
    if (secret)
        sodium_free(buf);
    else
        free(buf);
}

int sec_name_ok(const char *s, size_t n, size_t max)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    if (n == 0 || n > max || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(ok, s[i]))
            return 0;
    return 1;
}

int ember_bundle_name_ok(const char *s)
{
    size_t n = strlen(s);
    return sec_name_ok(s, n, EMBER_BUNDLE_NAME_MAX) && s[0] != '-' && s[0] != '_';
}

char *sec_next_line(char **cur, char *end)
{
    char *s = *cur;
    if (s >= end)
        return NULL;
    char *nl = memchr(s, '\n', (size_t)(end - s));
    char *e = nl ? nl : end;
    *cur = nl ? nl + 1 : end;
    while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int ember_sec_write_file(const char *path, const void *buf, size_t len, unsigned mode,
                         ember_err *err)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp ||
        snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return ember_err_set(err, EMBER_EINVAL, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ember_err_set(err, EMBER_EIO, "cannot create a file beside %s: %s", path,
                             strerror(errno));
    const uint8_t *p = buf;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = off == len && fchmod(fd, (mode_t)mode) == 0 && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (ok && rename(tmp, path) == 0) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ok = dfd >= 0 && fsync(dfd) == 0;
        saved = errno;
        if (dfd >= 0)
            close(dfd);
        if (ok)
            return 0;
        return ember_err_set(err, EMBER_EIO, "cannot sync the directory of %s: %s", path,
                             strerror(saved));
    }
    if (ok)
        saved = errno;
    unlink(tmp);
    return ember_err_set(err, EMBER_EIO, "cannot write %s: %s", path, strerror(saved));
}
