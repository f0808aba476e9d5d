/*
 * proto_buf: a byte buffer that doubles its capacity as it grows and keeps a NUL terminator
 * after its contents. Appends report EMBER_ENOMEM instead of aborting so that callers can
 * turn an allocation failure into an error response.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/err.h>

#include "buf.h"

int proto_buf_reserve(proto_buf *b, size_t more)
{
    if (more > SIZE_MAX / 2 - b->len)
        return EMBER_ENOMEM;
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return EMBER_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int proto_buf_append(proto_buf *b, const void *p, size_t n)
{
    if (proto_buf_reserve(b, n) < 0)
        return EMBER_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int proto_buf_puts(proto_buf *b, const char *s)
{
    return proto_buf_append(b, s, strlen(s));
}

int proto_buf_printf(proto_buf *b, const char *fmt, ...)
{
    /* Format straight into the spare room; only text that does not fit is formatted again. */
    va_list ap;
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (room)
        b->data[b->len] = '\0'; /* the cut-off attempt wrote past len */
    if (n < 0 || proto_buf_reserve(b, (size_t)n) < 0)
        return EMBER_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int proto_buf_int(proto_buf *b, long long v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    /* Through unsigned, so LLONG_MIN negates without overflow. */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return proto_buf_append(b, p, (size_t)(end - p));
}

int proto_buf_json_string(proto_buf *b, const char *s)
{
    if (proto_buf_append(b, "\"", 1) < 0)
        return EMBER_ENOMEM;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *out = NULL;
        switch (*p) {
        case '"': out = "\\\""; break;
        case '\\': out = "\\\\"; break;
        case '\n': out = "\\n"; break;
        case '\r': out = "\\r"; break;
        case '\t': out = "\\t"; break;
        case '\b': out = "\\b"; break;
        case '\f': out = "\\f"; break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                out = esc;
            }
        }
        int rc = out ? proto_buf_puts(b, out) : proto_buf_append(b, p, 1);
        if (rc < 0)
            return rc;
    }
    return proto_buf_append(b, "\"", 1);
}

char *proto_buf_take(proto_buf *b, size_t *len)
{
    if (!b->data && proto_buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void proto_buf_reset(proto_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void proto_buf_free(proto_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
