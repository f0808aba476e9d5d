/*
 * Decoding infer answers for libember-client (ember/answer.h). The JSON part is parsed with
 * cJSON; each output's elements come from its "data" (nested arrays flattened row-major) or,
 * when its parameters give a binary_data_size, from the next that many bytes after the JSON,
 * in the order of the outputs. Every count is checked against the shape before anything is
 * stored, and the binary section must be used up exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <ember/answer.h>

/* The datatypes emberd answers with; size is a binary element's bytes (0: BYTES). */
typedef struct answer_type {
    const char *name;
    size_t size;
    int is_signed, is_float;
} answer_type;

static const answer_type answer_types[] = {
    {"FP32", 4, 1, 1},  {"INT64", 8, 1, 0}, {"INT32", 4, 1, 0}, {"INT8", 1, 1, 0},
    {"UINT8", 1, 0, 0}, {"BOOL", 1, 0, 0},  {"BYTES", 0, 0, 0},
};

static uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* One little-endian binary element of t as a double. */
static double binary_value(const answer_type *t, const unsigned char *p)
{
    uint64_t v = load_le(p, t->size);
    if (t->is_float) {
        uint32_t bits = (uint32_t)v;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    if (t->is_signed && t->size < 8 && (v >> (8 * t->size - 1)) & 1)
        v |= ~UINT64_C(0) << (8 * t->size); /* sign-extend */
    return t->is_signed ? (double)(int64_t)v : (double)v;
}

static int output_store_string(ember_output *o, size_t i, const char *s, size_t n)
{
    o->strings[i] = malloc(n + 1);
    if (!o->strings[i])
        return EMBER_ENOMEM;
    memcpy(o->strings[i], s, n);
    o->strings[i][n] = '\0';
    o->lengths[i] = n;
    return 0;
}

/* Append the leaves of data (a nested array) to o from *at; EMBER_EFORMAT naming o. */
static int data_flatten(const cJSON *data, ember_output *o, size_t *at, ember_err *err)
{
    if (cJSON_IsArray(data)) {
        for (const cJSON *e = data->child; e; e = e->next) {
            int rc = data_flatten(e, o, at, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (*at >= o->count)
        return ember_err_set(err, EMBER_EFORMAT,
                             "output '%.64s': \"data\" holds more than its shape's %zu elements",
                             o->name, o->count);
    if (o->strings) {
        if (!cJSON_IsString(data))
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': a BYTES element of \"data\" is not a string",
                                 o->name);
        if (output_store_string(o, *at, data->valuestring, strlen(data->valuestring)) < 0)
            return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    } else if (cJSON_IsNumber(data) || cJSON_IsBool(data)) {
        o->values[*at] = cJSON_IsBool(data) ? cJSON_IsTrue(data) : data->valuedouble;
    } else {
        return ember_err_set(err, EMBER_EFORMAT,
                             "output '%.64s': an element of \"data\" is not a number", o->name);
    }
    (*at)++;
    return 0;
}

/* The size bytes at bin as o's elements (type t). */
static int binary_read(const answer_type *t, const unsigned char *bin, size_t size, ember_output *o,
                       ember_err *err)
{
    if (t->size) {
        if (size / t->size != o->count || size % t->size)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': binary_data_size %zu is not %zu elements of "
                                 "%zu bytes",
                                 o->name, size, o->count, t->size);
        for (size_t i = 0; i < o->count; i++)
            o->values[i] = binary_value(t, bin + i * t->size);
        return 0;
    }
    size_t at = 0;
    for (size_t i = 0; i < o->count; i++) {
        if (size - at < 4)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': binary data ends before element %zu's length",
                                 o->name, i);
        size_t n = (size_t)load_le(bin + at, 4);
        at += 4;
        if (n > size - at)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': element %zu claims %zu bytes, %zu remain",
                                 o->name, i, n, size - at);
        if (output_store_string(o, i, (const char *)bin + at, n) < 0)
            return ember_err_set(err, EMBER_ENOMEM, "out of memory");
        at += n;
    }
    if (at != size)
        return ember_err_set(err, EMBER_EFORMAT,
                             "output '%.64s': %zu bytes of binary data after its %zu elements",
                             o->name, size - at, o->count);
    return 0;
}

/* The head of output obj (name, datatype, shape) into o, its storage allocated. max bounds
 * the element count (no answer can carry more elements than it has bytes). */
static int output_head(const cJSON *obj, size_t max, ember_output *o, const answer_type **type,
                       ember_err *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    if (!cJSON_IsString(name) || !cJSON_IsString(dt) || !cJSON_IsArray(shape))
        return ember_err_set(err, EMBER_EFORMAT,
                             "an output lacks a string \"name\", \"datatype\" or a \"shape\"");
    if (!(o->name = strdup(name->valuestring)))
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    *type = NULL;
    for (size_t i = 0; i < sizeof answer_types / sizeof answer_types[0]; i++)
        if (strcmp(dt->valuestring, answer_types[i].name) == 0)
            *type = &answer_types[i];
    if (!*type)
        return ember_err_set(err, EMBER_EUNSUPPORTED, "output '%.64s': unknown datatype '%.16s'",
                             o->name, dt->valuestring);
    snprintf(o->datatype, sizeof o->datatype, "%s", (*type)->name);
    o->count = 1;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (o->rank == EMBER_ANSWER_MAX_RANK || !cJSON_IsNumber(d) || d->valuedouble < 0 ||
            d->valuedouble > (double)max || d->valuedouble != (double)(int64_t)d->valuedouble)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': \"shape\" is not up to %d sizes the answer can "
                                 "hold",
                                 o->name, EMBER_ANSWER_MAX_RANK);
        size_t dim = (size_t)d->valuedouble;
        o->shape[o->rank++] = (int64_t)dim;
        if (dim && o->count > max / dim)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "output '%.64s': its shape has more elements than the answer "
                                 "has bytes",
                                 o->name);
        o->count *= dim;
    }
    size_t n = o->count ? o->count : 1;
    if ((*type)->size) {
        o->values = calloc(n, sizeof *o->values);
    } else {
        o->strings = calloc(n, sizeof *o->strings);
        o->lengths = calloc(n, sizeof *o->lengths);
    }
    if (!o->values && !(o->strings && o->lengths))
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    return 0;
}

/* The JSON's length: Inference-Header-Content-Length, else the whole body. */
static int answer_json_len(const ember_response *r, size_t *len, ember_err *err)
{
    const char *h = ember_response_header(r, "Inference-Header-Content-Length");
    *len = r->body_len;
    if (!h)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(h, &end, 10);
    if (*h < '0' || *h > '9' || *end || errno || v > r->body_len)
        return ember_err_set(err, EMBER_EFORMAT,
                             "Inference-Header-Content-Length '%.32s' is not within the body's "
                             "%zu bytes",
                             h, r->body_len);
    *len = (size_t)v;
    return 0;
}

static int opt_string(const cJSON *root, const char *key, int required, char **out, ember_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v && !required)
        return 0;
    if (!cJSON_IsString(v))
        return ember_err_set(err, EMBER_EFORMAT, "the answer's \"%s\" is %s", key,
                             v ? "not a string" : "missing");
    return (*out = strdup(v->valuestring)) ? 0 : ember_err_set(err, EMBER_ENOMEM, "out of memory");
}

static int answer_outputs(const cJSON *list, const ember_response *r, size_t json_len,
                          ember_answer *a, ember_err *err)
{
    int n = cJSON_GetArraySize(list);
    a->outputs = calloc((size_t)(n ? n : 1), sizeof *a->outputs);
    if (!a->outputs)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    size_t at = json_len; /* the next unread byte of the binary section */
    int rc = 0;
    for (const cJSON *obj = list->child; obj && rc == 0; obj = obj->next) {
        ember_output *o = &a->outputs[a->noutputs++];
        const answer_type *t = NULL;
        if ((rc = output_head(obj, r->body_len, o, &t, err)) < 0)
            break;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "parameters"), "binary_data_size");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
        if (size) {
            if (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
                size->valuedouble > (double)(r->body_len - at) ||
                size->valuedouble != (double)(size_t)size->valuedouble)
                return ember_err_set(err, EMBER_EFORMAT,
                                     "output '%.64s': binary_data_size is not a byte count "
                                     "within the %zu bytes left after the JSON",
                                     o->name, r->body_len - at);
            size_t bytes = (size_t)size->valuedouble;
            rc = binary_read(t, (const unsigned char *)r->body + at, bytes, o, err);
            at += bytes;
        } else if (data) {
            size_t filled = 0;
            rc = data_flatten(data, o, &filled, err);
            if (rc == 0 && filled != o->count)
                rc = ember_err_set(err, EMBER_EFORMAT,
                                   "output '%.64s': \"data\" holds %zu elements, its shape %zu",
                                   o->name, filled, o->count);
        } else {
            rc = ember_err_set(err, EMBER_EFORMAT,
                               "output '%.64s' has neither \"data\" nor binary_data_size", o->name);
        }
    }
    if (rc == 0 && at != r->body_len)
        rc = ember_err_set(err, EMBER_EFORMAT,
                           "%zu bytes after the JSON belong to no output's binary_data_size",
                           r->body_len - at);
    return rc;
}

int ember_answer_parse(const ember_response *r, ember_answer *a, ember_err *err)
{
    memset(a, 0, sizeof *a);
    size_t json_len;
    int rc = answer_json_len(r, &json_len, err);
    if (rc < 0)
        return rc;
    cJSON *root = cJSON_ParseWithLength(r->body, json_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ember_err_set(err, EMBER_EFORMAT, "the answer (status %d) is not a JSON object",
                             r->status);
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (r->status != 200) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        rc = ember_err_set(err, EMBER_EINVAL, "emberd answered %d: %s", r->status,
                           cJSON_IsString(e) ? e->valuestring : "(no message)");
    } else if ((rc = opt_string(root, "model_name", 1, &a->model_name, err)) == 0 &&
               (rc = opt_string(root, "model_version", 0, &a->model_version, err)) == 0 &&
               (rc = opt_string(root, "id", 0, &a->id, err)) == 0) {
        rc = cJSON_IsArray(list)
                 ? answer_outputs(list, r, json_len, a, err)
                 : ember_err_set(err, EMBER_EFORMAT, "the answer has no \"outputs\" array");
    }
    cJSON_Delete(root);
    if (rc < 0)
        ember_answer_free(a);
    return rc;
}

void ember_answer_free(ember_answer *a)
{
    for (int i = 0; a && i < a->noutputs; i++) {
        ember_output *o = &a->outputs[i];
        for (size_t k = 0; o->strings && k < o->count; k++)
            free(o->strings[k]);
        free(o->strings);
        free(o->lengths);
        free(o->values);
        free(o->name);
    }
    if (!a)
        return;
    free(a->outputs);
    free(a->model_name);
    free(a->model_version);
    free(a->id);
    memset(a, 0, sizeof *a);
}

const ember_output *ember_answer_output(const ember_answer *a, const char *name)
{
    for (int i = 0; i < a->noutputs; i++)
        if (strcmp(a->outputs[i].name, name) == 0)
            return &a->outputs[i];
    return NULL;
}

const char *ember_output_string(const ember_output *o, size_t i, size_t *len)
{
    if (!o->strings || i >= o->count)
        return NULL;
    if (len)
        *len = o->lengths[i];
    return o->strings[i];
}

int ember_output_class(const ember_output *o, size_t i, ember_class *out, ember_err *err)
{
    size_t len;
    const char *s = ember_output_string(o, i, &len);
    if (!s)
        return ember_err_set(err, EMBER_EINVAL, "output '%.64s' has no BYTES element %zu", o->name,
                             i);
    char *end;
    errno = 0;
    out->score = strtod(s, &end);
    const char *idx = end + 1;
    if (end == s || *end != ':' || errno || *idx < '0' || *idx > '9')
        return ember_err_set(err, EMBER_EFORMAT,
                             "output '%.64s' element %zu is not \"score:index[:label]\": %.64s",
                             o->name, i, s);
    long long v = strtoll(idx, &end, 10);
    if (errno || (*end != ':' && end != s + len))
        return ember_err_set(err, EMBER_EFORMAT,
                             "output '%.64s' element %zu is not \"score:index[:label]\": %.64s",
                             o->name, i, s);
    out->index = v;
    out->label = *end == ':' ? end + 1 : end;
    out->label_len = (size_t)(s + len - out->label);
    return 0;
}
