/*
 * A growable byte buffer, private to libember-proto: what the reader assembles URLs, headers
 * and bodies in and what the encoders write JSON and responses into. It always keeps a NUL
 * after the last byte so text can be handed out as a C string.
 */
#ifndef EMBER_PROTO_BUF_H
#define EMBER_PROTO_BUF_H

#include <stddef.h>

typedef struct proto_buf {
    char *data;
    size_t len, cap;
} proto_buf;

/* Make room for `more` bytes after len (plus the NUL). 0 or EMBER_ENOMEM. */
int proto_buf_reserve(proto_buf *b, size_t more);
int proto_buf_append(proto_buf *b, const void *p, size_t n);
int proto_buf_puts(proto_buf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int proto_buf_printf(proto_buf *b, const char *fmt, ...);
/* Append v in decimal (what "%lld" writes), without the cost of a printf. */
int proto_buf_int(proto_buf *b, long long v);
/* Append s as a JSON string literal, quotes included. */
int proto_buf_json_string(proto_buf *b, const char *s);
/* Hand the bytes to the caller (who frees them) and leave b empty; NULL only when an empty
 * buffer could not be allocated. */
char *proto_buf_take(proto_buf *b, size_t *len);
void proto_buf_reset(proto_buf *b);
void proto_buf_free(proto_buf *b);

#endif
