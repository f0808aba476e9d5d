/*
 * Internals shared by the KServe encoder and decoder: the datatype table, which is the only
 * place that knows each dtype's KServe name and element size (so libember-proto needs the
 * engine's header but not its library).
 */
#ifndef EMBER_PROTO_KSERVE_H
#define EMBER_PROTO_KSERVE_H

#include <stddef.h>
#include <stdint.h>

#include <ember/engine.h>

/* Bytes per element of a dtype KServe can carry; 0 for any other. */
size_t kserve_dtype_size(ember_dtype dt);

/* What a leaf of a "data" array was; numbers carry their value in kserve_leaves.num. */
enum {
    KSERVE_LEAF_NUMBER,
    KSERVE_LEAF_TRUE,
    KSERVE_LEAF_FALSE,
    KSERVE_LEAF_NULL,
    KSERVE_LEAF_OBJECT,
    KSERVE_LEAF_STRING, /* any string but the three below */
    KSERVE_LEAF_NAN,    /* "NaN" */
    KSERVE_LEAF_INF,    /* "Infinity" */
    KSERVE_LEAF_NINF,   /* "-Infinity" */
};

/* Array levels of a "data" array whose lengths are compared; deeper ones are past any rank. */
#define KSERVE_MAX_LEVELS (EMBER_MAX_RANK + 1)

/* The leaves of one tensor's "data" array in document order, nested arrays flattened. */
typedef struct kserve_leaves {
    int present;
    double *num;         /* [n]: a number's value as strtod reads it (cJSON's valuedouble) */
    unsigned char *kind; /* [n]: KSERVE_LEAF_* */
    int64_t n, cap;
    int depth;      /* the deepest array, the "data" array itself being 1 */
    int leaf_level; /* the level of the first leaf; 0 before one */
    int64_t len[KSERVE_MAX_LEVELS + 1]; /* [level]: the length of the first array there, +1 */
    int ragged; /* arrays of one level differ in length, or leaves sit at different levels */
} kserve_leaves;

/* Add a leaf found at array level `level`. 0 or EMBER_ENOMEM. */
int kserve_leaves_push(kserve_leaves *lv, int level, double d, int kind);
/* An array of `level` ended with n elements. */
void kserve_leaves_array(kserve_leaves *lv, int level, int64_t n);
void kserve_leaves_free(kserve_leaves *lv);

/* A body read by kserve_scan_body. */
typedef struct kserve_scan {
    char *doc; /* the body with each list element's "data" array emptied; NULL: none was */
    size_t doc_len;
    kserve_leaves *data; /* by list index; see kserve_scan_leaves */
    int ndata;
} kserve_scan;

/* Walk a JSON body whose tensor list is the top-level key `list` ("inputs" or "outputs").
 * 1: read, *out holds the leaves and the emptied copy (free with kserve_scan_free); 0: the
 * body must be parsed by cJSON alone (*out is empty); EMBER_ENOMEM. */
int kserve_scan_body(const char *body, size_t len, const char *list, kserve_scan *out);
void kserve_scan_free(kserve_scan *s);
/* The leaves of list element k's first "data" member when that was an array, else NULL. */
const kserve_leaves *kserve_scan_leaves(const kserve_scan *s, int k);

#endif
