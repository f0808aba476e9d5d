/*
 * The fast reader of KServe bodies. A tensor's "data" array is nearly all of an infer body,
 * and cJSON would make a node and a strtod call of each of its numbers. This file walks the
 * body once with a strict JSON grammar: each "data" array of an element of the tensor list
 * ("inputs" of a request, "outputs" of a response) becomes a flat list of leaves (the double
 * cJSON would have read, or what else the leaf was) and the document is copied with those
 * arrays emptied, for cJSON to build the small tree of everything else.
 *
 * The walk refuses what it is not sure cJSON reads the same way (\u escapes, control
 * characters in strings, whitespace beyond JSON's four, numbers longer than cJSON's 63-byte
 * buffer, nesting past SCAN_MAX_DEPTH, a byte-order mark) and every syntax error; the
 * decoder then parses the original body with cJSON alone, so those bodies are read, or
 * rejected with the same message, exactly as before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "buf.h"
#include "kserve.h"

/* Deeper bodies go the cJSON way (whose own limit is 1000). */
#define SCAN_MAX_DEPTH 512
/* cJSON reads a number through a buffer of 64 bytes with its NUL. */
#define SCAN_MAX_NUMBER 63

/* Back from a step: 0 fine, SCAN_REFUSE to hand the body to cJSON, or EMBER_ENOMEM. */
#define SCAN_REFUSE 1

typedef enum scan_role { ROLE_ANY, ROLE_ROOT, ROLE_LIST, ROLE_ELEM } scan_role;

typedef struct scanner {
    const char *s;
    size_t i, n;
    int depth;
    const char *list; /* the key of the tensor list */
    size_t list_len;
    kserve_scan *out;
    size_t copied; /* body bytes before this offset are already in doc */
    proto_buf doc;
} scanner;

static int scan_value(scanner *sc, scan_role role, int k);

static void scan_ws(scanner *sc)
{
    const char *s = sc->s;
    size_t i = sc->i;
    while (i < sc->n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    sc->i = i;
}

static int scan_next(const scanner *sc)
{
    return sc->i < sc->n ? (unsigned char)sc->s[sc->i] : -1;
}

/* A string at s[i] == '"'; its raw bytes (no escapes decoded) are [*start, *start + *len). */
static int scan_string(scanner *sc, size_t *start, size_t *len)
{
    const char *s = sc->s;
    size_t i = sc->i + 1;
    *start = i;
    for (; i < sc->n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *len = i - *start;
            sc->i = i + 1;
            return 0;
        }
        if (c < 0x20)
            return SCAN_REFUSE;
        if (c == '\\') {
            if (++i >= sc->n || !strchr("\"\\/bfnrt", s[i]) || s[i] == '\0')
                return SCAN_REFUSE;
        }
    }
    return SCAN_REFUSE;
}

/* Powers of ten that doubles hold exactly. */
static const double scan_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Every helper of the number path is inlined into the loop over a "data" array: a call
 * per number cost more than the number. */
#define SCAN_INLINE static inline __attribute__((always_inline))

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* 10^k for the digits of a partial word. */
static const uint64_t scan_pow10_u64[] = {1,      10,      100,      1000,     10000,
                                          100000, 1000000, 10000000, 100000000};

/* The value of eight digits 0..9, one per byte of a little-endian word (the first, most
 * significant, in the low byte), by pairing neighbours: 8 -> 4 of 0..99 -> 2 of 0..9999 ->
 * one. */
SCAN_INLINE uint64_t eight_digits_value(uint64_t w)
{
    w = w * 10 + (w >> 8);
    w = (((w & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064)) +
         (((w >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001))) >>
        32;
    return w & 0xFFFFFFFFu;
}
#endif

/* Digits from p on (before end), appended to *m (which may wrap past 19 digits: the caller
 * counts them); returns the end of the run. Eight bytes at a time: less '0' per byte, a
 * digit is 0..9 and the first other byte has its top bit set after adding 0x76 or already
 * (a borrow or carry only reaches bytes after it, which are not read); the digits before it,
 * shifted up to the word's top, read as eight with leading zeros. */
SCAN_INLINE const char *scan_digits(const char *p, const char *end, uint64_t *m)
{
    uint64_t v = *m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t d = w - UINT64_C(0x3030303030303030);
        uint64_t other = ((d + UINT64_C(0x7676767676767676)) | d) & UINT64_C(0x8080808080808080);
        if (!other) {
            v = v * 100000000u + eight_digits_value(d);
            p += 8;
            continue;
        }
        unsigned k = (unsigned)__builtin_ctzll(other) >> 3;
        if (k)
            v = v * scan_pow10_u64[k] + eight_digits_value(d << (64 - 8 * k));
        *m = v;
        return p + k;
    }
#endif
    for (; p < end && (unsigned char)(*p - '0') < 10; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *m = v;
    return p;
}

/*
 * A JSON number at p (< end) into the double strtod gives for it (what cJSON stores);
 * returns the end of it, or NULL to refuse the body. Up to 19 digits make an exact integer
 * m; when m <= 2^53 and the power of ten is within 10^+-22, one correctly rounded multiply or
 * divide is the correctly rounded result (Clinger's fast path). Anything else goes to strtod
 * on a copy, as cJSON does.
 */
SCAN_INLINE const char *number_at(const char *p, const char *end, double *out)
{
    const char *start = p;
    int neg = *p == '-';
    uint64_t m = 0;
    size_t digits;
    p += neg;
    if (p >= end || (unsigned char)(*p - '0') >= 10)
        return NULL;
    if (*p == '0') {
        digits = 1, p++;
    } else {
        const char *q = scan_digits(p, end, &m);
        digits = (size_t)(q - p), p = q;
    }
    int e10 = 0;
    if (p < end && *p == '.') {
        const char *q = scan_digits(p + 1, end, &m);
        size_t frac = (size_t)(q - (p + 1));
        if (frac == 0)
            return NULL;
        p = q;
        digits += frac;
        e10 = -(int)frac;
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        int eneg = 0, e = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || (unsigned char)(*p - '0') >= 10)
            return NULL;
        for (; p < end && (unsigned char)(*p - '0') < 10; p++)
            if (e < 100000)
                e = e * 10 + (*p - '0');
        e10 += eneg ? -e : e;
    }
    if (p - start > SCAN_MAX_NUMBER)
        return NULL;
    double d;
    if (digits <= 19 && m == 0) {
        d = 0.0;
    } else if (digits <= 19 && m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        d = e10 < 0 ? (double)m / scan_pow10[-e10] : (double)m * scan_pow10[e10];
    } else {
        char buf[SCAN_MAX_NUMBER + 1];
        memcpy(buf, start, (size_t)(p - start));
        buf[p - start] = '\0';
        *out = strtod(buf, NULL);
        return p;
    }
    *out = neg ? -d : d;
    return p;
}

static int scan_number(scanner *sc, double *out)
{
    const char *end = number_at(sc->s + sc->i, sc->s + sc->n, out);
    if (!end)
        return SCAN_REFUSE;
    sc->i = (size_t)(end - sc->s);
    return 0;
}

/* A run of numbers at s[i] separated by bare commas, the bulk of a body, into leaves of lv at
 * its leaf level; *count grows by how many. In its own function, so that the offsets and the
 * leaf arrays stay in registers (a store through kind may alias any of them in memory). */
__attribute__((noinline)) static int scan_number_run(scanner *sc, kserve_leaves *lv, int level, int64_t *count)
{
    const char *p = sc->s + sc->i, *end = sc->s + sc->n;
    int64_t cnt = lv->n, cap = lv->cap, first = cnt;
    double *num = lv->num;
    unsigned char *kind = lv->kind;
    int rc = 0;
    for (;;) {
        double d;
        if (!(p = number_at(p, end, &d))) {
            rc = SCAN_REFUSE;
            break;
        }
        if (cnt == cap) {
            lv->n = cnt;
            if ((rc = kserve_leaves_push(lv, level, d, KSERVE_LEAF_NUMBER)) != 0)
                break;
            cnt = lv->n, cap = lv->cap, num = lv->num, kind = lv->kind;
        } else {
            num[cnt] = d;
            kind[cnt++] = KSERVE_LEAF_NUMBER;
        }
        if (end - p < 2 || p[0] != ',' || (p[1] != '-' && (unsigned char)(p[1] - '0') >= 10))
            break;
        p++;
    }
    lv->n = cnt;
    *count += cnt - first;
    if (p)
        sc->i = (size_t)(p - sc->s);
    return rc;
}

static int scan_literal(scanner *sc, const char *word)
{
    size_t len = strlen(word);
    if (sc->n - sc->i < len || memcmp(sc->s + sc->i, word, len) != 0)
        return SCAN_REFUSE;
    sc->i += len;
    return 0;
}

/* Into the array or object at s[i]; *more is 0 when it closes at once (it is then left). */
static int scan_open(scanner *sc, char close, int *more)
{
    if (++sc->depth > SCAN_MAX_DEPTH)
        return SCAN_REFUSE;
    sc->i++;
    scan_ws(sc);
    *more = scan_next(sc) != close;
    if (!*more)
        sc->i++;
    return 0;
}

/* After a member or element: ws, then ',' (more follow: 1) or the closing byte (0). */
static int scan_after(scanner *sc, char close, int *more)
{
    scan_ws(sc);
    int c = scan_next(sc);
    if (c != ',' && c != close)
        return SCAN_REFUSE;
    sc->i++;
    *more = c == ',';
    if (*more)
        scan_ws(sc);
    return 0;
}

int kserve_leaves_push(kserve_leaves *lv, int level, double d, int kind)
{
    if (lv->leaf_level != level) {
        if (lv->leaf_level)
            lv->ragged = 1;
        else
            lv->leaf_level = level;
    }
    if (lv->n == lv->cap) {
        int64_t cap = lv->cap ? lv->cap * 2 : 256;
        double *num = realloc(lv->num, (size_t)cap * sizeof *num);
        if (num)
            lv->num = num;
        unsigned char *kinds = realloc(lv->kind, (size_t)cap);
        if (kinds)
            lv->kind = kinds;
        if (!num || !kinds)
            return EMBER_ENOMEM;
        lv->cap = cap;
    }
    lv->num[lv->n] = d;
    lv->kind[lv->n++] = (unsigned char)kind;
    return 0;
}

void kserve_leaves_array(kserve_leaves *lv, int level, int64_t n)
{
    if (level > lv->depth)
        lv->depth = level;
    if (level > KSERVE_MAX_LEVELS)
        return;
    if (!lv->len[level])
        lv->len[level] = n + 1;
    else if (lv->len[level] != n + 1)
        lv->ragged = 1;
}

void kserve_leaves_free(kserve_leaves *lv)
{
    free(lv->num);
    free(lv->kind);
    memset(lv, 0, sizeof *lv);
}

static int scan_leaf(scanner *sc, kserve_leaves *lv, int level)
{
    int c = scan_next(sc), rc;
    double d = 0;
    unsigned char kind;
    size_t start, len;
    if (c == '-' || (c >= '0' && c <= '9')) {
        if ((rc = scan_number(sc, &d)) != 0)
            return rc;
        if (lv->n < lv->cap && lv->leaf_level == level) { /* the usual case, without a call */
            lv->num[lv->n] = d;
            lv->kind[lv->n++] = KSERVE_LEAF_NUMBER;
            return 0;
        }
        kind = KSERVE_LEAF_NUMBER;
    } else if (c == '"') {
        if ((rc = scan_string(sc, &start, &len)) != 0)
            return rc;
        const char *p = sc->s + start;
        kind = len == 3 && memcmp(p, "NaN", 3) == 0         ? KSERVE_LEAF_NAN
               : len == 8 && memcmp(p, "Infinity", 8) == 0  ? KSERVE_LEAF_INF
               : len == 9 && memcmp(p, "-Infinity", 9) == 0 ? KSERVE_LEAF_NINF
                                                            : KSERVE_LEAF_STRING;
    } else if (c == 't' || c == 'f') {
        rc = scan_literal(sc, c == 't' ? "true" : "false");
        kind = c == 't' ? KSERVE_LEAF_TRUE : KSERVE_LEAF_FALSE;
    } else if (c == 'n') {
        rc = scan_literal(sc, "null");
        kind = KSERVE_LEAF_NULL;
    } else if (c == '{') {
        rc = scan_value(sc, ROLE_ANY, 0);
        kind = KSERVE_LEAF_OBJECT;
    } else {
        return SCAN_REFUSE;
    }
    return rc ? rc : kserve_leaves_push(lv, level, d, kind);
}

/* A (nested) "data" array at s[i] == '['; level is its array depth, the outermost 1. */
static int scan_data(scanner *sc, kserve_leaves *lv, int level)
{
    int more, rc = scan_open(sc, ']', &more);
    if (rc)
        return rc;
    int64_t n = 0;
    for (; more; n++) {
        int c = scan_next(sc);
        if ((c == '-' || (unsigned)(c - '0') < 10) && lv->leaf_level == level) {
            if ((rc = scan_number_run(sc, lv, level, &n)) != 0)
                return rc;
            n--; /* the loop counts the last */
        } else {
            rc = c == '[' ? scan_data(sc, lv, level + 1) : scan_leaf(sc, lv, level);
            if (rc)
                return rc;
        }
        if ((rc = scan_after(sc, ']', &more)))
            return rc;
    }
    kserve_leaves_array(lv, level, n);
    sc->depth--;
    return 0;
}

/* The "data" array of list element k: read into leaves, emptied in the copy. */
static int scan_tensor_data(scanner *sc, int k)
{
    kserve_scan *out = sc->out;
    if (k >= out->ndata) {
        int n = out->ndata ? out->ndata * 2 : 4;
        while (n <= k)
            n *= 2;
        kserve_leaves *d = realloc(out->data, (size_t)n * sizeof *d);
        if (!d)
            return EMBER_ENOMEM;
        memset(d + out->ndata, 0, (size_t)(n - out->ndata) * sizeof *d);
        out->data = d;
        out->ndata = n;
    }
    kserve_leaves *lv = &out->data[k];
    lv->present = 1;
    size_t open = sc->i;
    if (proto_buf_append(&sc->doc, sc->s + sc->copied, open + 1 - sc->copied) < 0)
        return EMBER_ENOMEM;
    int rc = scan_data(sc, lv, 1);
    if (rc == 0)
        sc->copied = sc->i - 1; /* from the closing bracket on */
    return rc;
}

static int scan_object(scanner *sc, scan_role role, int k)
{
    int more, rc = scan_open(sc, '}', &more);
    if (rc)
        return rc;
    int seen = 0; /* cJSON finds a key's first member: later ones are not special */
    while (more) {
        size_t key, len;
        if (scan_next(sc) != '"' || (rc = scan_string(sc, &key, &len)))
            return rc ? rc : SCAN_REFUSE;
        scan_ws(sc);
        if (scan_next(sc) != ':')
            return SCAN_REFUSE;
        sc->i++;
        scan_ws(sc);
        const char *name = sc->s + key;
        if (!seen && role == ROLE_ROOT && len == sc->list_len &&
            memcmp(name, sc->list, len) == 0) {
            seen = 1;
            rc = scan_value(sc, ROLE_LIST, 0);
        } else if (!seen && role == ROLE_ELEM && len == 4 && memcmp(name, "data", 4) == 0) {
            seen = 1;
            rc = scan_next(sc) == '[' ? scan_tensor_data(sc, k) : scan_value(sc, ROLE_ANY, 0);
        } else {
            rc = scan_value(sc, ROLE_ANY, 0);
        }
        if (rc || (rc = scan_after(sc, '}', &more)))
            return rc;
    }
    sc->depth--;
    return 0;
}

static int scan_array(scanner *sc, scan_role role)
{
    int more, rc = scan_open(sc, ']', &more);
    if (rc)
        return rc;
    for (int k = 0; more; k++) {
        if (role == ROLE_LIST && k >= EMBER_KSERVE_MAX_TENSORS)
            return SCAN_REFUSE; /* the decoder's own check words this one */
        rc = scan_value(sc, role == ROLE_LIST ? ROLE_ELEM : ROLE_ANY, k);
        if (rc || (rc = scan_after(sc, ']', &more)))
            return rc;
    }
    sc->depth--;
    return 0;
}

static int scan_value(scanner *sc, scan_role role, int k)
{
    int c = scan_next(sc);
    double d;
    size_t start, len;
    switch (c) {
    case '{': return scan_object(sc, role == ROLE_ELEM || role == ROLE_ROOT ? role : ROLE_ANY, k);
    case '[': return scan_array(sc, role == ROLE_LIST ? ROLE_LIST : ROLE_ANY);
    case '"': return scan_string(sc, &start, &len);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return scan_number(sc, &d);
        return SCAN_REFUSE;
    }
}

int kserve_scan_body(const char *body, size_t len, const char *list, kserve_scan *out)
{
    memset(out, 0, sizeof *out);
    scanner sc = {.s = body, .n = len, .list = list, .list_len = strlen(list), .out = out};
    scan_ws(&sc);
    int rc = scan_next(&sc) == '{' ? scan_object(&sc, ROLE_ROOT, 0) : SCAN_REFUSE;
    if (rc == 0) {
        scan_ws(&sc);
        if (sc.i != len)
            rc = SCAN_REFUSE;
    }
    if (rc == 0 && sc.doc.data) {
        if (proto_buf_append(&sc.doc, body + sc.copied, len - sc.copied) < 0)
            rc = EMBER_ENOMEM;
        else
            out->doc = proto_buf_take(&sc.doc, &out->doc_len);
    }
    proto_buf_free(&sc.doc);
    if (rc != 0)
        kserve_scan_free(out);
    return rc == 0 ? 1 : rc == SCAN_REFUSE ? 0 : rc;
}

void kserve_scan_free(kserve_scan *s)
{
    for (int i = 0; i < s->ndata; i++)
        kserve_leaves_free(&s->data[i]);
    free(s->data);
    free(s->doc);
    memset(s, 0, sizeof *s);
}

const kserve_leaves *kserve_scan_leaves(const kserve_scan *s, int k)
{
    return k < s->ndata && s->data[k].present ? &s->data[k] : NULL;
}
