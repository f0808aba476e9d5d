/*
 * Error codes and the caller-provided message buffer shared by every ember library.
 *
 * Functions return 0 on success or a negative EMBER_E* code. When the caller passes an
 * ember_err, the failing function writes a human-readable sentence into it; ember_strerror
 * turns a bare code into words. This header is self-contained so that libraries which do not
 * depend on each other can still agree on errors.
 */
#ifndef EMBER_ERR_H
#define EMBER_ERR_H

#include <stdarg.h>
#include <stdio.h>

enum {
    EMBER_OK = 0,
    EMBER_EINVAL = -1,       /* bad argument or malformed input */
    EMBER_ENOMEM = -2,       /* allocation failed or a size limit was crossed */
    EMBER_EIO = -3,          /* reading or writing a file or socket failed */
    EMBER_EFORMAT = -4,      /* a file is not in the expected format or is corrupt */
    EMBER_EUNSUPPORTED = -5, /* valid input that this build cannot handle (unknown op...) */
    EMBER_ESHAPE = -6,       /* tensor shape or data type does not match */
    EMBER_ENOTFOUND = -7,    /* no such model, input, file... */
    EMBER_EBUSY = -8,        /* a queue or pool is full */
    EMBER_ESTATE = -9,       /* the call does not fit the object's current state */
};

typedef struct ember_err {
    char msg[256];
} ember_err;

static inline const char *ember_strerror(int code)
{
    switch (code) {
    case EMBER_OK: return "success";
    case EMBER_EINVAL: return "invalid argument";
    case EMBER_ENOMEM: return "out of memory or limit exceeded";
    case EMBER_EIO: return "input/output error";
    case EMBER_EFORMAT: return "bad format";
    case EMBER_EUNSUPPORTED: return "not supported";
    case EMBER_ESHAPE: return "shape or type mismatch";
    case EMBER_ENOTFOUND: return "not found";
    case EMBER_EBUSY: return "busy";
    case EMBER_ESTATE: return "wrong state";
    default: return "unknown error";
    }
}

/* Write a formatted message into err (if err is not NULL) and return code, so that error
 * paths read `return ember_err_set(err, EMBER_EINVAL, "...", ...);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int ember_err_set(ember_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

#endif
