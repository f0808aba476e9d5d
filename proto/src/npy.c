/*
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0) to and from ember tensors.
 *
 * A file is the magic "\x93NUMPY", a version, a little-endian header length, an ASCII Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } and the raw data.
 * The header parser accepts exactly that dict shape, in any key order, and nothing else;
 * every length is checked against the buffer before use, since a .npy comes from a user.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER 65536
#define NPY_MAX_BYTES ((int64_t)1 << 32)

static const struct {
    const char *descr;
    ember_dtype dtype;
} npy_types[] = {
    {"<f4", EMBER_DT_FLOAT}, {"<i8", EMBER_DT_INT64}, {"<i4", EMBER_DT_INT32},
    {"|i1", EMBER_DT_INT8},  {"|u1", EMBER_DT_UINT8}, {"|b1", EMBER_DT_BOOL},
};

/* Finds 'key': in the header and returns a pointer just past the colon and spaces. */
static const char *npy_field(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

static int npy_parse_header(const char *h, ember_tensor *t, ember_err *err)
{
    const char *p = npy_field(h, "descr");
    if (!p || *p != '\'')
        return ember_err_set(err, EMBER_EFORMAT, "npy header has no 'descr'");
    p++;
    const char *q = strchr(p, '\'');
    if (!q || q - p > 8)
        return ember_err_set(err, EMBER_EFORMAT, "npy header has a bad 'descr'");
    char descr[9];
    memcpy(descr, p, (size_t)(q - p));
    descr[q - p] = '\0';
    t->dtype = EMBER_DT_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(descr, npy_types[i].descr) == 0)
            t->dtype = npy_types[i].dtype;
    if (t->dtype == EMBER_DT_UNDEFINED)
        return ember_err_set(err, EMBER_EUNSUPPORTED,
                             "npy data type '%s' is not supported (use <f4, <i8, <i4, |i1, |u1 "
                             "or |b1)",
                             descr);

    p = npy_field(h, "fortran_order");
    if (!p || strncmp(p, "False", 5) != 0)
        return ember_err_set(err, EMBER_EUNSUPPORTED,
                             "npy array is in Fortran order; save it C-contiguous");

    p = npy_field(h, "shape");
    if (!p || *p != '(')
        return ember_err_set(err, EMBER_EFORMAT, "npy header has no 'shape'");
    p++;
    t->rank = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9')
            return ember_err_set(err, EMBER_EFORMAT, "npy header has a bad 'shape'");
        if (t->rank == EMBER_MAX_RANK)
            return ember_err_set(err, EMBER_EUNSUPPORTED, "npy array has more than %d dims",
                                 EMBER_MAX_RANK);
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 0)
            return ember_err_set(err, EMBER_EFORMAT, "npy header has a bad dimension");
        t->dims[t->rank++] = d;
        p = end;
    }
    return 0;
}

int ember_npy_decode(const void *buf, size_t len, ember_tensor *t, ember_err *err)
{
    const unsigned char *b = buf;
    memset(t, 0, sizeof *t);
    if (len < 10 || memcmp(b, NPY_MAGIC, 6) != 0)
        return ember_err_set(err, EMBER_EFORMAT, "not a .npy file (bad magic)");
    size_t hlen, off;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            return ember_err_set(err, EMBER_EFORMAT, "truncated .npy header");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    } else {
        return ember_err_set(err, EMBER_EUNSUPPORTED, ".npy format version %d is not supported",
                             b[6]);
    }
    if (hlen > NPY_MAX_HEADER || off + hlen > len)
        return ember_err_set(err, EMBER_EFORMAT, "truncated or oversized .npy header");
    char *h = malloc(hlen + 1);
    if (!h)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    memcpy(h, b + off, hlen);
    h[hlen] = '\0';
    int rc = npy_parse_header(h, t, err);
    free(h);
    if (rc)
        return rc;
    int64_t n = ember_tensor_count(t);
    int64_t es = (int64_t)ember_dtype_size(t->dtype);
    if (n < 0 || n > NPY_MAX_BYTES / es)
        return ember_err_set(err, EMBER_ENOMEM, ".npy array is too large");
    size_t bytes = (size_t)(n * es);
    if (len - off - hlen != bytes)
        return ember_err_set(err, EMBER_EFORMAT,
                             ".npy data is %zu bytes, but its shape needs %zu", len - off - hlen,
                             bytes);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    memcpy(t->data, b + off + hlen, bytes);
    return 0;
}

int ember_npy_load(const char *path, ember_tensor *t, ember_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    long len = -1;
    int rc = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0 || len > NPY_MAX_BYTES + NPY_MAX_HEADER)
        rc = ember_err_set(err, EMBER_EIO, "cannot read %s", path);
    else if (!(buf = malloc((size_t)len + 1)))
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    else if (fread(buf, 1, (size_t)len, f) != (size_t)len)
        rc = ember_err_set(err, EMBER_EIO, "cannot read %s", path);
    fclose(f);
    if (rc == 0) {
        rc = ember_npy_decode(buf, (size_t)len, t, err);
        if (rc && err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            ember_err_set(err, rc, "%s: %s", path, msg);
        }
    }
    free(buf);
    return rc;
}

int ember_npy_save(const char *path, const ember_tensor *t, ember_err *err)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype)
            descr = npy_types[i].descr;
    int64_t n = ember_tensor_count(t);
    if (!descr || n < 0)
        return ember_err_set(err, EMBER_EINVAL, "cannot save a %s tensor as .npy",
                             ember_dtype_name(t->dtype));
    char shape[256] = "";
    for (int i = 0; i < t->rank; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%lld,%s",
                 (long long)t->dims[i], t->rank > 1 && i < t->rank - 1 ? " " : "");
    if (t->rank > 1)
        shape[strlen(shape) - 1] = '\0'; /* numpy writes (1, 3) but (3,) */
    char header[512];
    int hl = snprintf(header, sizeof header,
                      "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    /* Pad with spaces so that magic + version + length + header + '\n' is 64-byte aligned. */
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    memset(header + hl, ' ', (size_t)pad);
    header[hl + pad] = '\n';
    hl += pad + 1;

    /* Write to a temporary name and rename, so a crash never leaves half a file behind. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return ember_err_set(err, EMBER_EIO, "cannot create %s: %s", tmp, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    size_t bytes = (size_t)n * ember_dtype_size(t->dtype);
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre &&
             fwrite(header, 1, (size_t)hl, f) == (size_t)hl &&
             (bytes == 0 || fwrite(t->data, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ember_err_set(err, EMBER_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}
