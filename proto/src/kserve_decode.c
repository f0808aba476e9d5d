/*
 * KServe v2 JSON decoding: infer requests (checked against a model's inputs and outputs) and
 * infer responses (for clients) into ember_tensors whose data this file allocates.
 *
 * cJSON parses the body into a tree, except each tensor's "data" array, which the fast reader
 * (kserve_scan.c) turns into flat leaves when it can; each tensor object is then read in
 * three steps: its "datatype" and "shape" (rank, dims, element count within
 * EMBER_KSERVE_MAX_ELEMENTS), the caller's checks against the model, and "data", whose
 * leaves (flat or nested, no deeper than the rank, not ragged) are counted and only then
 * converted element by element into one allocation.
 * Every rejection names the tensor and, for values, the element's flat index.
 */
#define _GNU_SOURCE /* memmem */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <ember/proto.h>

#include "kserve.h"

/* Largest magnitude a double holds every integer up to; INT64 data must stay within it. */
#define KSERVE_EXACT_INT 9007199254740992.0

static void shape_format(const ember_tensor *t, char *s, size_t cap)
{
    size_t n = (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < t->rank && n < cap; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (n < cap)
        snprintf(s + n, cap - n, "]");
}

static void info_shape_format(const ember_io_info *io, char *s, size_t cap)
{
    ember_tensor t = {.rank = io->rank};
    memcpy(t.dims, io->dims, sizeof t.dims);
    shape_format(&t, s, cap);
}

static const char *leaf_kind_name(int kind)
{
    switch (kind) {
    case KSERVE_LEAF_TRUE:
    case KSERVE_LEAF_FALSE: return "a boolean";
    case KSERVE_LEAF_NULL: return "null";
    case KSERVE_LEAF_OBJECT: return "an object";
    case KSERVE_LEAF_NUMBER: return "a number";
    default: return "a string";
    }
}

/* A leaf of a cJSON "data" tree as the fast reader describes leaves. */
static int node_leaf(const cJSON *v, double *d)
{
    *d = 0;
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, "NaN") == 0         ? KSERVE_LEAF_NAN
               : strcmp(v->valuestring, "Infinity") == 0  ? KSERVE_LEAF_INF
               : strcmp(v->valuestring, "-Infinity") == 0 ? KSERVE_LEAF_NINF
                                                          : KSERVE_LEAF_STRING;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? KSERVE_LEAF_TRUE : KSERVE_LEAF_FALSE;
    if (cJSON_IsNull(v))
        return KSERVE_LEAF_NULL;
    if (cJSON_IsObject(v))
        return KSERVE_LEAF_OBJECT;
    *d = v->valuedouble;
    return KSERVE_LEAF_NUMBER;
}

/* The integral value of a JSON number within [lo, hi], or an error naming element i. */
static int element_integer(int kind, double d, double lo, double hi, const char *type, int64_t i,
                           const char *what, double *out, ember_err *err)
{
    if (kind != KSERVE_LEAF_NUMBER)
        return ember_err_set(err, EMBER_EINVAL, "%s: element %lld is %s, not a number", what,
                             (long long)i, leaf_kind_name(kind));
    if (!isfinite(d) || d < lo || d > hi)
        return ember_err_set(err, EMBER_EINVAL, "%s: element %lld (%.17g) is out of range for %s",
                             what, (long long)i, d, type);
    if (d != trunc(d))
        return ember_err_set(err, EMBER_EINVAL, "%s: element %lld (%.17g) is not an integer", what,
                             (long long)i, d);
    *out = d;
    return 0;
}

static int element_float(int kind, double d, int64_t i, const char *what, float *out,
                         ember_err *err)
{
    float f;
    switch (kind) {
    case KSERVE_LEAF_NUMBER:
        f = (float)d;
        if (!isfinite(d) || isinf(f))
            return ember_err_set(err, EMBER_EINVAL, "%s: element %lld is out of range for FP32",
                                 what, (long long)i);
        *out = f;
        return 0;
    case KSERVE_LEAF_NAN: *out = NAN; return 0;
    case KSERVE_LEAF_INF: *out = INFINITY; return 0;
    case KSERVE_LEAF_NINF: *out = -INFINITY; return 0;
    case KSERVE_LEAF_STRING:
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: element %lld is a string other than \"NaN\", \"Infinity\" "
                             "or \"-Infinity\", not a number",
                             what, (long long)i);
    default:
        return ember_err_set(err, EMBER_EINVAL, "%s: element %lld is %s, not a number", what,
                             (long long)i, leaf_kind_name(kind));
    }
}

static int element_decode(int kind, double v, ember_dtype dt, void *data, int64_t i,
                          const char *what, ember_err *err)
{
    double d;
    int rc;
    switch (dt) {
    case EMBER_DT_FLOAT: return element_float(kind, v, i, what, (float *)data + i, err);
    case EMBER_DT_BOOL:
        if (kind != KSERVE_LEAF_TRUE && kind != KSERVE_LEAF_FALSE)
            return ember_err_set(err, EMBER_EINVAL, "%s: element %lld is %s, not a boolean", what,
                                 (long long)i, leaf_kind_name(kind));
        ((uint8_t *)data)[i] = kind == KSERVE_LEAF_TRUE;
        return 0;
    case EMBER_DT_INT64:
        rc = element_integer(kind, v, -KSERVE_EXACT_INT, KSERVE_EXACT_INT,
                             "INT64 (JSON carries +-2^53)", i, what, &d, err);
        if (rc == 0)
            ((int64_t *)data)[i] = (int64_t)d;
        return rc;
    case EMBER_DT_INT32:
        rc = element_integer(kind, v, INT32_MIN, INT32_MAX, "INT32", i, what, &d, err);
        if (rc == 0)
            ((int32_t *)data)[i] = (int32_t)d;
        return rc;
    case EMBER_DT_INT8:
        rc = element_integer(kind, v, INT8_MIN, INT8_MAX, "INT8", i, what, &d, err);
        if (rc == 0)
            ((int8_t *)data)[i] = (int8_t)d;
        return rc;
    case EMBER_DT_UINT8:
        rc = element_integer(kind, v, 0, UINT8_MAX, "UINT8", i, what, &d, err);
        if (rc == 0)
            ((uint8_t *)data)[i] = (uint8_t)d;
        return rc;
    default: return ember_err_set(err, EMBER_EINVAL, "%s: datatype not supported", what);
    }
}

/* The leaves of a cJSON "data" array, as the fast reader collects them. */
static int tree_leaves(const cJSON *node, int level, kserve_leaves *lv)
{
    int64_t n = 0;
    for (const cJSON *c = node->child; c; c = c->next, n++) {
        double d;
        int kind = cJSON_IsArray(c) ? -1 : node_leaf(c, &d);
        int rc = kind < 0 ? tree_leaves(c, level + 1, lv) : kserve_leaves_push(lv, level, d, kind);
        if (rc < 0)
            return rc;
    }
    kserve_leaves_array(lv, level, n);
    return 0;
}

/* Read "datatype" and "shape" of a tensor object into t (dtype, rank, dims). */
static int tensor_head(const cJSON *obj, const char *what, ember_tensor *t, ember_err *err)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "datatype");
    if (!dt)
        return ember_err_set(err, EMBER_EINVAL, "%s has no \"datatype\"", what);
    if (!cJSON_IsString(dt))
        return ember_err_set(err, EMBER_EINVAL, "%s: \"datatype\" must be a string", what);
    t->dtype = ember_kserve_datatype(dt->valuestring);
    if (t->dtype == EMBER_DT_UNDEFINED)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: unknown datatype '%.32s' (known: FP32, INT64, INT32, INT8, "
                             "UINT8, BOOL)",
                             what, dt->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    if (!shape)
        return ember_err_set(err, EMBER_EINVAL, "%s has no \"shape\"", what);
    if (!cJSON_IsArray(shape))
        return ember_err_set(err, EMBER_EINVAL, "%s: \"shape\" must be an array of integers", what);
    int rank = cJSON_GetArraySize(shape);
    if (rank > EMBER_MAX_RANK)
        return ember_err_set(err, EMBER_ESHAPE, "%s: rank %d exceeds the limit of %d", what, rank,
                             EMBER_MAX_RANK);
    t->rank = rank;
    int k = 0;
    for (const cJSON *c = shape->child; c; c = c->next, k++) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (d < 0 || d != trunc(d) || d > KSERVE_EXACT_INT)
            return ember_err_set(err, EMBER_EINVAL, "%s: shape[%d] must be a non-negative integer",
                                 what, k);
        t->dims[k] = (int64_t)d;
    }
    return 0;
}

/* Element count of t's shape, or an error when it is above EMBER_KSERVE_MAX_ELEMENTS. */
static int tensor_count(const ember_tensor *t, const char *what, int64_t *count, ember_err *err)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] == 0)
            n = 0;
    for (int i = 0; i < t->rank && n; i++) {
        if (t->dims[i] > EMBER_KSERVE_MAX_ELEMENTS / n) {
            char s[160];
            shape_format(t, s, sizeof s);
            return ember_err_set(err, EMBER_ESHAPE,
                                 "%s: shape %s holds more than the limit of %d elements", what, s,
                                 EMBER_KSERVE_MAX_ELEMENTS);
        }
        n *= t->dims[i];
    }
    *count = n;
    return 0;
}

/* FP32 elements converted per block by the fast path of tensor_data. */
#define FLOAT_BLOCK 64

/* FLOAT_BLOCK leaves into floats; 0 when one is not a number or its float is not finite
 * (element_float then words the error), else 1. A float from a finite double is NaN or
 * infinite exactly when element_float refuses the double. */
static int float_block(const double *restrict num, const unsigned char *restrict kind,
                       float *restrict f)
{
    int other = 0, bad = 0;
    for (int j = 0; j < FLOAT_BLOCK; j++) {
        f[j] = (float)num[j];
        other |= kind[j] ^ KSERVE_LEAF_NUMBER;
        bad |= !(fabsf(f[j]) <= FLT_MAX);
    }
    return !(other | bad);
}

/* Read "data" into a fresh allocation of count elements of t->dtype. lv holds its leaves
 * when the fast reader took the body, else they are collected from the cJSON tree. */
static int tensor_data(const cJSON *obj, const kserve_leaves *lv, const char *what,
                       ember_tensor *t, int64_t count, ember_err *err)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    if (!data)
        return ember_err_set(err, EMBER_EINVAL, "%s has no \"data\"", what);
    if (!cJSON_IsArray(data))
        return ember_err_set(err, EMBER_EINVAL, "%s: \"data\" must be an array", what);
    kserve_leaves tree = {0};
    int rc = 0;
    if (!lv) {
        if (tree_leaves(data, 1, &tree) < 0) {
            kserve_leaves_free(&tree);
            return ember_err_set(err, EMBER_ENOMEM, "%s: out of memory", what);
        }
        lv = &tree;
    }
    if (lv->depth > (t->rank > 0 ? t->rank : 1)) {
        rc = ember_err_set(err, EMBER_ESHAPE, "%s: \"data\" is nested deeper than the shape's rank",
                           what);
    } else if (lv->ragged) {
        rc = ember_err_set(err, EMBER_ESHAPE,
                           "%s: \"data\" is ragged: its nested arrays differ in length or "
                           "depth",
                           what);
    } else if (lv->n != count) {
        char s[160];
        shape_format(t, s, sizeof s);
        rc = ember_err_set(err, EMBER_ESHAPE, "%s: \"data\" has %lld elements, shape %s needs %lld",
                           what, (long long)lv->n, s, (long long)count);
    } else {
        size_t bytes = (size_t)count * kserve_dtype_size(t->dtype);
        t->data = malloc(bytes ? bytes : 1);
        if (!t->data)
            rc = ember_err_set(err, EMBER_ENOMEM, "%s: out of memory for %zu bytes", what, bytes);
    }
    int64_t i = 0;
    if (rc == 0 && t->dtype == EMBER_DT_FLOAT) {
        /* The common case, kept tight: blocks of numbers that fit a float, converted without
         * a branch per element (a block that holds anything else is done again below). */
        float *f = t->data;
        for (; count - i >= FLOAT_BLOCK; i += FLOAT_BLOCK)
            if (!float_block(lv->num + i, lv->kind + i, f + i))
                break;
    }
    for (; rc == 0 && i < count; i++)
        rc = element_decode(lv->kind[i], lv->num[i], t->dtype, t->data, i, what, err);
    kserve_leaves_free(&tree);
    if (rc < 0) {
        free(t->data);
        t->data = NULL;
    }
    return rc;
}

static int decode_parse(const char *body, size_t len, cJSON **root, ember_err *err)
{
    const char *end = body;
    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!*root)
        return ember_err_set(err, EMBER_EINVAL, "body is not valid JSON (error at byte %zu)",
                             (size_t)(end - body));
    while (end < body + len && *end && strchr(" \t\r\n", *end))
        end++;
    if (end < body + len) {
        cJSON_Delete(*root);
        *root = NULL;
        return ember_err_set(err, EMBER_EINVAL,
                             "body is not valid JSON (trailing data at byte %zu)",
                             (size_t)(end - body));
    }
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return ember_err_set(err, EMBER_EINVAL, "body must be a JSON object");
    }
    return 0;
}

/* Parse a body whose tensor list is `list`: through the fast reader when it takes the body
 * (sc then holds the "data" leaves and cJSON parses only the rest), else with cJSON alone,
 * which also words every syntax error (sc left empty). */
static int decode_body(const char *body, size_t len, const char *list, kserve_scan *sc,
                       cJSON **root, ember_err *err)
{
    /* A body with no "data" key (the binary extension's JSON header) has nothing for the
     * fast reader: its walk would only add a pass. */
    int rc = memmem(body, len, "\"data\"", 6) ? kserve_scan_body(body, len, list, sc) : 0;
    if (rc == 0)
        memset(sc, 0, sizeof *sc);
    if (rc < 0)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading the body");
    if (rc == 1) {
        *root = sc->doc ? cJSON_ParseWithLength(sc->doc, sc->doc_len)
                        : cJSON_ParseWithLength(body, len);
        if (cJSON_IsObject(*root))
            return 0;
        cJSON_Delete(*root);
        kserve_scan_free(sc);
    }
    return decode_parse(body, len, root, err);
}

/* Optional string member; EINVAL when present but not a string or too long. */
static int decode_opt_string(const cJSON *root, const char *key, size_t max, char **out,
                             ember_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return ember_err_set(err, EMBER_EINVAL, "\"%s\" must be a string", key);
    if (strlen(v->valuestring) > max)
        return ember_err_set(err, EMBER_EINVAL, "\"%s\" exceeds the limit of %zu bytes", key, max);
    *out = strdup(v->valuestring);
    return *out ? 0 : ember_err_set(err, EMBER_ENOMEM, "out of memory");
}

/* The "name" of an element of "inputs" or "outputs" (index k). */
static int decode_name(const cJSON *obj, const char *list, int k, const char **name, ember_err *err)
{
    if (!cJSON_IsObject(obj))
        return ember_err_set(err, EMBER_EINVAL, "\"%s\"[%d] must be an object", list, k);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsString(n))
        return ember_err_set(err, EMBER_EINVAL, "\"%s\"[%d] needs a string \"name\"", list, k);
    *name = n->valuestring;
    return 0;
}

static int decode_list(const cJSON *root, const char *key, int required, const cJSON **list, int *n,
                       ember_err *err)
{
    *list = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    if (!*list)
        return required ? ember_err_set(err, EMBER_EINVAL, "body has no \"%s\"", key) : 0;
    if (!cJSON_IsArray(*list))
        return ember_err_set(err, EMBER_EINVAL, "\"%s\" must be an array", key);
    *n = cJSON_GetArraySize(*list);
    if (*n > EMBER_KSERVE_MAX_TENSORS)
        return ember_err_set(err, EMBER_EINVAL, "\"%s\" has %d entries, above the limit of %d", key,
                             *n, EMBER_KSERVE_MAX_TENSORS);
    return 0;
}

/* Check a request tensor's datatype and shape against the model's input. */
static int request_check_input(const ember_io_info *io, const ember_tensor *t, const char *what,
                               ember_err *err)
{
    if (t->dtype != io->dtype) {
        const char *want = ember_kserve_datatype_name(io->dtype);
        return ember_err_set(err, EMBER_ESHAPE, "%s has datatype %s, the model expects %s", what,
                             ember_kserve_datatype_name(t->dtype), want ? want : "another type");
    }
    /* The expected shape is formatted only for an error: a request that fits pays nothing. */
    char s[160];
    if (t->rank != io->rank) {
        info_shape_format(io, s, sizeof s);
        return ember_err_set(err, EMBER_ESHAPE, "%s has rank %d, the model expects rank %d %s",
                             what, t->rank, io->rank, s);
    }
    for (int i = 0; i < t->rank; i++) {
        if (io->dims[i] >= 0 && t->dims[i] != io->dims[i]) {
            info_shape_format(io, s, sizeof s);
            return ember_err_set(err, EMBER_ESHAPE,
                                 "%s: dim %d is %lld, the model expects %lld (shape %s)", what, i,
                                 (long long)t->dims[i], (long long)io->dims[i], s);
        }
        if (io->dims[i] < 0 && t->dims[i] < 1)
            return ember_err_set(err, EMBER_ESHAPE, "%s: dim %d is %lld, must be at least 1", what,
                                 i, (long long)t->dims[i]);
    }
    return 0;
}

/* The binary part of a request body still to be taken by inputs. */
typedef struct binary_cursor {
    const char *p;
    size_t left;
} binary_cursor;

/* Take an input's bytes from the binary part when it says "binary_data_size". Returns 1 when
 * it did, 0 when the input has no binary data (its "data" is read as JSON). */
static int tensor_binary(const cJSON *obj, const char *what, ember_tensor *t, int64_t count,
                         binary_cursor *bin, ember_err *err)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(params, "binary_data_size");
    if (!size)
        return 0;
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
        size->valuedouble != (double)(int64_t)size->valuedouble)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: parameters.binary_data_size must be a byte count", what);
    if (cJSON_GetObjectItemCaseSensitive(obj, "data"))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s has both \"data\" and parameters.binary_data_size", what);
    size_t want = (size_t)count * kserve_dtype_size(t->dtype);
    double n = size->valuedouble;
    if (n != (double)want)
        return ember_err_set(err, EMBER_ESHAPE,
                             "%s: binary_data_size is %.0f bytes, its shape and datatype need %zu",
                             what, n, want);
    if (want > bin->left)
        return ember_err_set(err, EMBER_ESHAPE,
                             "%s: binary_data_size %zu runs past the end of the body (%zu bytes "
                             "left after Inference-Header-Content-Length)",
                             what, want, bin->left);
    t->data = malloc(want ? want : 1);
    if (!t->data)
        return ember_err_set(err, EMBER_ENOMEM, "%s: out of memory for %zu bytes", what, want);
    memcpy(t->data, bin->p, want);
    if (t->dtype == EMBER_DT_BOOL)
        for (size_t i = 0; i < want; i++)
            ((unsigned char *)t->data)[i] = ((unsigned char *)t->data)[i] != 0;
    bin->p += want;
    bin->left -= want;
    return 1;
}

static int request_inputs(const cJSON *root, const kserve_scan *sc, const ember_io_info *inputs,
                          int ninputs, binary_cursor *bin, ember_infer_request *out,
                          ember_err *err)
{
    const cJSON *list;
    int n;
    int rc = decode_list(root, "inputs", 1, &list, &n, err);
    if (rc < 0)
        return rc;
    out->inputs = calloc((size_t)(ninputs > 0 ? ninputs : 1), sizeof *out->inputs);
    if (!out->inputs)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    out->ninputs = ninputs;

    int k = 0;
    for (const cJSON *obj = list->child; obj; obj = obj->next, k++) {
        const char *name;
        if ((rc = decode_name(obj, "inputs", k, &name, err)) < 0)
            return rc;
        char what[160];
        snprintf(what, sizeof what, "input '%.128s'", name);
        int idx = -1;
        for (int i = 0; i < ninputs; i++)
            if (strcmp(inputs[i].name, name) == 0)
                idx = i;
        if (idx < 0)
            return ember_err_set(err, EMBER_ENOTFOUND, "unknown %s", what);
        ember_tensor *t = &out->inputs[idx];
        if (t->data)
            return ember_err_set(err, EMBER_EINVAL, "%s is given twice", what);
        int64_t count;
        if ((rc = tensor_head(obj, what, t, err)) < 0 ||
            (rc = request_check_input(&inputs[idx], t, what, err)) < 0 ||
            (rc = tensor_count(t, what, &count, err)) < 0 ||
            (rc = tensor_binary(obj, what, t, count, bin, err)) < 0 ||
            (rc == 0 &&
             (rc = tensor_data(obj, kserve_scan_leaves(sc, k), what, t, count, err)) < 0))
            return rc;
    }
    if (bin->left)
        return ember_err_set(err, EMBER_ESHAPE,
                             "%zu bytes of binary data follow the JSON but no input takes them",
                             bin->left);
    for (int i = 0; i < ninputs; i++)
        if (!out->inputs[i].data)
            return ember_err_set(err, EMBER_ENOTFOUND, "missing input '%.128s'", inputs[i].name);
    return 0;
}

static int request_outputs(const cJSON *root, const ember_io_info *outputs, int noutputs,
                           ember_infer_request *out, ember_err *err)
{
    const cJSON *list;
    int n;
    int rc = decode_list(root, "outputs", 0, &list, &n, err);
    if (rc < 0)
        return rc;
    int all = n == 0;
    size_t cap = (size_t)(all ? (noutputs > 0 ? noutputs : 1) : n);
    out->outputs = calloc(cap, sizeof(int));
    out->binary = calloc(cap, 1);
    out->classify = calloc(cap, sizeof(int));
    if (!out->outputs || !out->binary || !out->classify)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    const cJSON *bo = cJSON_GetObjectItemCaseSensitive(params, "binary_data_output");
    if (bo && !cJSON_IsBool(bo))
        return ember_err_set(err, EMBER_EINVAL, "parameters.binary_data_output must be a boolean");
    unsigned char all_binary = cJSON_IsTrue(bo);
    if (all) {
        for (int i = 0; i < noutputs; i++) {
            out->outputs[i] = i;
            out->binary[i] = all_binary;
        }
        out->noutputs = noutputs;
        return 0;
    }
    int k = 0;
    for (const cJSON *obj = list->child; obj; obj = obj->next, k++) {
        const char *name;
        if ((rc = decode_name(obj, "outputs", k, &name, err)) < 0)
            return rc;
        int idx = -1;
        for (int i = 0; i < noutputs; i++)
            if (strcmp(outputs[i].name, name) == 0)
                idx = i;
        if (idx < 0)
            return ember_err_set(err, EMBER_ENOTFOUND, "unknown output '%.128s'", name);
        for (int j = 0; j < out->noutputs; j++)
            if (out->outputs[j] == idx)
                return ember_err_set(err, EMBER_EINVAL, "output '%.128s' is requested twice", name);
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
        const cJSON *bd = cJSON_GetObjectItemCaseSensitive(op, "binary_data");
        if (bd && !cJSON_IsBool(bd))
            return ember_err_set(err, EMBER_EINVAL,
                                 "output '%.128s': parameters.binary_data must be a boolean", name);
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(op, "classification");
        if (cl && (!cJSON_IsNumber(cl) || !(cl->valuedouble >= 1) ||
                   cl->valuedouble > EMBER_CLASSIFY_MAX_K ||
                   cl->valuedouble != (double)(int)cl->valuedouble))
            return ember_err_set(err, EMBER_EINVAL,
                                 "output '%.128s': parameters.classification must be an integer "
                                 "from 1 to %d",
                                 name, EMBER_CLASSIFY_MAX_K);
        out->classify[out->noutputs] = cl ? cl->valueint : 0;
        out->binary[out->noutputs] = bd ? (unsigned char)cJSON_IsTrue(bd) : all_binary;
        out->outputs[out->noutputs++] = idx;
    }
    return 0;
}

int ember_kserve_decode_request(const char *body, size_t len, const ember_io_info *inputs,
                                int ninputs, const ember_io_info *outputs, int noutputs,
                                ember_infer_request *out, ember_err *err)
{
    return ember_kserve_decode_request_binary(body, len, len, inputs, ninputs, outputs, noutputs,
                                              out, err);
}

int ember_kserve_decode_request_binary(const char *body, size_t len, size_t header_len,
                                       const ember_io_info *inputs, int ninputs,
                                       const ember_io_info *outputs, int noutputs,
                                       ember_infer_request *out, ember_err *err)
{
    memset(out, 0, sizeof *out);
    if (header_len > len)
        return ember_err_set(err, EMBER_EINVAL,
                             "Inference-Header-Content-Length %zu is larger than the body (%zu)",
                             header_len, len);
    binary_cursor bin = {body + header_len, len - header_len};
    cJSON *root;
    kserve_scan sc;
    int rc = decode_body(body, header_len, "inputs", &sc, &root, err);
    if (rc < 0)
        return rc;
    if ((rc = decode_opt_string(root, "id", EMBER_KSERVE_MAX_ID, &out->id, err)) == 0 &&
        (rc = request_inputs(root, &sc, inputs, ninputs, &bin, out, err)) == 0)
        rc = request_outputs(root, outputs, noutputs, out, err);
    cJSON_Delete(root);
    kserve_scan_free(&sc);
    if (rc < 0)
        ember_infer_request_clear(out);
    return rc;
}

void ember_infer_request_clear(ember_infer_request *req)
{
    for (int i = 0; req->inputs && i < req->ninputs; i++)
        free(req->inputs[i].data);
    free(req->inputs);
    free(req->outputs);
    free(req->binary);
    free(req->classify);
    free(req->id);
    memset(req, 0, sizeof *req);
}

int ember_kserve_decode_response(const char *body, size_t len, ember_infer_response *out,
                                 ember_err *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    kserve_scan sc;
    int rc = decode_body(body, len, "outputs", &sc, &root, err);
    if (rc < 0)
        return rc;
    const cJSON *list;
    int n = 0;
    if ((rc = decode_opt_string(root, "model_name", 1024, &out->model_name, err)) < 0 ||
        (rc = decode_opt_string(root, "model_version", 64, &out->model_version, err)) < 0 ||
        (rc = decode_opt_string(root, "id", EMBER_KSERVE_MAX_ID, &out->id, err)) < 0 ||
        (rc = decode_list(root, "outputs", 1, &list, &n, err)) < 0)
        goto done;
    if (!out->model_name) {
        rc = ember_err_set(err, EMBER_EINVAL, "body has no \"model_name\"");
        goto done;
    }
    out->names = calloc((size_t)(n ? n : 1), sizeof *out->names);
    out->outputs = calloc((size_t)(n ? n : 1), sizeof *out->outputs);
    if (!out->names || !out->outputs) {
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
        goto done;
    }
    int k = 0;
    for (const cJSON *obj = list->child; obj; obj = obj->next, k++) {
        const char *name;
        if ((rc = decode_name(obj, "outputs", k, &name, err)) < 0)
            goto done;
        char what[160];
        snprintf(what, sizeof what, "output '%.128s'", name);
        out->names[k] = strdup(name);
        out->noutputs = k + 1;
        if (!out->names[k]) {
            rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
            goto done;
        }
        int64_t count;
        ember_tensor *t = &out->outputs[k];
        if ((rc = tensor_head(obj, what, t, err)) < 0 ||
            (rc = tensor_count(t, what, &count, err)) < 0 ||
            (rc = tensor_data(obj, kserve_scan_leaves(&sc, k), what, t, count, err)) < 0)
            goto done;
    }
done:
    cJSON_Delete(root);
    kserve_scan_free(&sc);
    if (rc < 0)
        ember_infer_response_clear(out);
    return rc;
}

void ember_infer_response_clear(ember_infer_response *resp)
{
    for (int i = 0; i < resp->noutputs; i++) {
        free(resp->names[i]);
        free(resp->outputs[i].data);
    }
    free(resp->names);
    free(resp->outputs);
    free(resp->model_name);
    free(resp->model_version);
    free(resp->id);
    memset(resp, 0, sizeof *resp);
}
