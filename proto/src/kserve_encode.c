/*
 * KServe v2 JSON encoding: infer requests (for clients), infer responses, model metadata and
 * error bodies. Tensors are written straight into a proto_buf rather than through a cJSON
 * tree, which would cost a node per element; strings go through one escaper. FP32 values use
 * %.9g, enough digits for every float to read back bit-exact, and non-finite values become
 * the strings "NaN", "Infinity", "-Infinity" because JSON has no token for them.
 */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "buf.h"
#include "kserve.h"

static int encode_float(proto_buf *b, float f)
{
    if (isnan(f))
        return proto_buf_puts(b, "\"NaN\"");
    if (isinf(f))
        return proto_buf_puts(b, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return proto_buf_printf(b, "%.9g", (double)f);
}

static int encode_element(proto_buf *b, const ember_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case EMBER_DT_FLOAT: return encode_float(b, ((const float *)t->data)[i]);
    case EMBER_DT_INT64: return proto_buf_int(b, ((const int64_t *)t->data)[i]);
    case EMBER_DT_INT32: return proto_buf_int(b, ((const int32_t *)t->data)[i]);
    case EMBER_DT_INT8: return proto_buf_int(b, ((const int8_t *)t->data)[i]);
    case EMBER_DT_UINT8: return proto_buf_int(b, ((const uint8_t *)t->data)[i]);
    case EMBER_DT_BOOL: return proto_buf_puts(b, ((const uint8_t *)t->data)[i] ? "true" : "false");
    default: return EMBER_EINVAL;
    }
}

static int encode_shape(proto_buf *b, int rank, const int64_t *dims)
{
    int rc = proto_buf_puts(b, "[");
    for (int i = 0; rc == 0 && i < rank; i++) {
        if (i)
            rc = proto_buf_append(b, ",", 1);
        if (rc == 0)
            rc = proto_buf_int(b, dims[i] < 0 ? -1 : dims[i]);
    }
    return rc ? rc : proto_buf_puts(b, "]");
}

/* The elements of a BYTES tensor: JSON strings into b, or with bin set each as a 4-byte
 * little-endian length and its bytes into bin (b gets the byte count). */
static int encode_strings(proto_buf *b, const char *const *s, int64_t n, proto_buf *bin)
{
    if (bin) {
        size_t start = bin->len;
        int rc = 0;
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            size_t len = strlen(s[i]);
            if (len > UINT32_MAX)
                return EMBER_EINVAL;
            unsigned char le[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                                   (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
            rc = proto_buf_append(bin, le, 4);
            if (rc == 0)
                rc = proto_buf_append(bin, s[i], len);
        }
        return rc ? rc
                  : proto_buf_printf(b, ",\"parameters\":{\"binary_data_size\":%zu}}",
                                     bin->len - start);
    }
    int rc = proto_buf_puts(b, ",\"data\":[");
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = proto_buf_append(b, ",", 1);
        if (rc == 0)
            rc = proto_buf_json_string(b, s[i]);
    }
    return rc ? rc : proto_buf_puts(b, "]}");
}

/* {"name":...,"datatype":...,"shape":[...],"data":[...]} */
/* Write one tensor; with binary set its bytes go to bin instead of a "data" array. */
static int encode_tensor(proto_buf *b, const ember_named_tensor *nt, proto_buf *bin, ember_err *err)
{
    const ember_tensor *t = &nt->tensor;
    const char *dt = t->dtype == EMBER_DT_BYTES ? "BYTES" : ember_kserve_datatype_name(t->dtype);
    if (!dt)
        return ember_err_set(err, EMBER_EUNSUPPORTED, "tensor '%s': datatype %d has no KServe name",
                             nt->name, (int)t->dtype);
    if (t->rank < 0 || t->rank > EMBER_MAX_RANK)
        return ember_err_set(err, EMBER_EINVAL, "tensor '%s': bad rank %d", nt->name, t->rank);
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && n > INT64_MAX / t->dims[i]))
            return ember_err_set(err, EMBER_EINVAL, "tensor '%s': bad dim %lld", nt->name,
                                 (long long)t->dims[i]);
        n *= t->dims[i];
    }
    int rc = proto_buf_puts(b, "{\"name\":");
    if (rc == 0)
        rc = proto_buf_json_string(b, nt->name);
    if (rc == 0)
        rc = proto_buf_puts(b, ",\"datatype\":\"");
    if (rc == 0)
        rc = proto_buf_puts(b, dt);
    if (rc == 0)
        rc = proto_buf_puts(b, "\",\"shape\":");
    if (rc == 0)
        rc = encode_shape(b, t->rank, t->dims);
    if (rc == 0 && t->dtype == EMBER_DT_BYTES) {
        rc = encode_strings(b, (const char *const *)t->data, n, bin);
        return rc < 0 ? ember_err_set(err, EMBER_ENOMEM, "out of memory encoding a response") : 0;
    }
    if (rc == 0 && bin) {
        size_t bytes = (size_t)n * kserve_dtype_size(t->dtype);
        rc = proto_buf_puts(b, ",\"parameters\":{\"binary_data_size\":");
        if (rc == 0)
            rc = proto_buf_int(b, (long long)bytes);
        if (rc == 0)
            rc = proto_buf_puts(b, "}}");
        if (rc == 0)
            rc = proto_buf_append(bin, t->data, bytes);
        return rc < 0 ? ember_err_set(err, EMBER_ENOMEM, "out of memory encoding a response") : 0;
    }
    if (rc == 0)
        rc = proto_buf_puts(b, ",\"data\":[");
    /* Reserve roughly what the numbers need so the loop rarely reallocates. */
    if (rc == 0 && n > 0)
        rc = proto_buf_reserve(b, (size_t)n * (t->dtype == EMBER_DT_FLOAT ? 12 : 4));
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = proto_buf_append(b, ",", 1);
        if (rc == 0)
            rc = encode_element(b, t, i);
    }
    if (rc == 0)
        rc = proto_buf_puts(b, "]}");
    return rc < 0 ? ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON") : 0;
}

static int encode_tensors(proto_buf *b, const char *key, const ember_named_tensor *ts, int n,
                          const unsigned char *binary, proto_buf *bin, ember_err *err)
{
    if (proto_buf_append(b, "\"", 1) < 0 || proto_buf_puts(b, key) < 0 ||
        proto_buf_puts(b, "\":[") < 0)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    for (int i = 0; i < n; i++) {
        if (i && proto_buf_append(b, ",", 1) < 0)
            return ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
        int rc = encode_tensor(b, &ts[i], binary && binary[i] ? bin : NULL, err);
        if (rc < 0)
            return rc;
    }
    if (proto_buf_puts(b, "]") < 0)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    return 0;
}

/* `"key":"value",` for a string that may be NULL (then nothing is written). */
static int encode_member(proto_buf *b, const char *key, const char *value)
{
    if (!value)
        return 0;
    int rc = proto_buf_append(b, "\"", 1);
    if (rc == 0)
        rc = proto_buf_puts(b, key);
    if (rc == 0)
        rc = proto_buf_puts(b, "\":");
    if (rc == 0)
        rc = proto_buf_json_string(b, value);
    return rc ? rc : proto_buf_append(b, ",", 1);
}

static int encode_finish(proto_buf *b, int rc, char **json, size_t *len, ember_err *err)
{
    if (rc == 0 && proto_buf_puts(b, "}") < 0)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    if (rc == 0 && !(*json = proto_buf_take(b, len)))
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    proto_buf_free(b);
    return rc;
}

int ember_kserve_encode_request(const char *id, const ember_named_tensor *inputs, int ninputs,
                                const char *const *outputs, int noutputs, char **json, size_t *len,
                                ember_err *err)
{
    proto_buf b = {0};
    int rc = proto_buf_puts(&b, "{") || encode_member(&b, "id", id)
                 ? ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON")
                 : encode_tensors(&b, "inputs", inputs, ninputs, NULL, NULL, err);
    if (rc == 0 && noutputs > 0) {
        rc = proto_buf_puts(&b, ",\"outputs\":[");
        for (int i = 0; rc == 0 && i < noutputs; i++) {
            rc = proto_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            if (rc == 0)
                rc = proto_buf_json_string(&b, outputs[i]);
            if (rc == 0)
                rc = proto_buf_puts(&b, "}");
        }
        if (rc == 0)
            rc = proto_buf_puts(&b, "]");
        if (rc < 0)
            rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    }
    return encode_finish(&b, rc, json, len, err);
}

int ember_kserve_encode_response(const char *model_name, const char *model_version, const char *id,
                                 const ember_named_tensor *outputs, int noutputs, char **json,
                                 size_t *len, ember_err *err)
{
    size_t header_len;
    return ember_kserve_encode_response_binary(model_name, model_version, id, outputs, noutputs,
                                               NULL, json, len, &header_len, err);
}

int ember_kserve_encode_response_binary(const char *model_name, const char *model_version,
                                        const char *id, const ember_named_tensor *outputs,
                                        int noutputs, const unsigned char *binary, char **body,
                                        size_t *len, size_t *header_len, ember_err *err)
{
    proto_buf b = {0}, bin = {0};
    int rc = proto_buf_puts(&b, "{") || encode_member(&b, "model_name", model_name) ||
                     encode_member(&b, "model_version", model_version) ||
                     encode_member(&b, "id", id)
                 ? ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON")
                 : encode_tensors(&b, "outputs", outputs, noutputs, binary, &bin, err);
    if (rc == 0 && proto_buf_puts(&b, "}") < 0)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    *header_len = b.len;
    if (rc == 0 && bin.len && proto_buf_append(&b, bin.data, bin.len) < 0)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding a response");
    if (rc == 0 && !(*body = proto_buf_take(&b, len)))
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    proto_buf_free(&b);
    proto_buf_free(&bin);
    return rc;
}

static int encode_io(proto_buf *b, const char *key, const ember_io_info *io, int n)
{
    int rc = proto_buf_printf(b, ",\"%s\":[", key);
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *dt = ember_kserve_datatype_name(io[i].dtype);
        rc = proto_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (rc == 0)
            rc = proto_buf_json_string(b, io[i].name);
        if (rc == 0)
            rc = proto_buf_printf(b, ",\"datatype\":\"%s\",\"shape\":", dt ? dt : "UNKNOWN");
        if (rc == 0)
            rc = encode_shape(b, io[i].rank, io[i].dims);
        if (rc == 0)
            rc = proto_buf_puts(b, "}");
    }
    return rc ? rc : proto_buf_puts(b, "]");
}

int ember_kserve_encode_metadata(const char *name, const char *const *versions, int nversions,
                                 const char *platform, const ember_io_info *inputs, int ninputs,
                                 const ember_io_info *outputs, int noutputs, char **json,
                                 size_t *len, ember_err *err)
{
    proto_buf b = {0};
    int rc = proto_buf_puts(&b, "{\"name\":");
    if (rc == 0)
        rc = proto_buf_json_string(&b, name);
    if (rc == 0)
        rc = proto_buf_puts(&b, ",\"versions\":[");
    for (int i = 0; rc == 0 && i < nversions; i++) {
        if (i)
            rc = proto_buf_append(&b, ",", 1);
        if (rc == 0)
            rc = proto_buf_json_string(&b, versions[i]);
    }
    if (rc == 0)
        rc = proto_buf_puts(&b, "],\"platform\":");
    if (rc == 0)
        rc = proto_buf_json_string(&b, platform);
    if (rc == 0)
        rc = encode_io(&b, "inputs", inputs, ninputs);
    if (rc == 0)
        rc = encode_io(&b, "outputs", outputs, noutputs);
    if (rc < 0)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory encoding JSON");
    return encode_finish(&b, rc, json, len, err);
}

char *ember_kserve_error_json(const char *msg, size_t *len)
{
    proto_buf b = {0};
    if (proto_buf_puts(&b, "{\"error\":") || proto_buf_json_string(&b, msg) ||
        proto_buf_puts(&b, "}")) {
        proto_buf_free(&b);
        return NULL;
    }
    return proto_buf_take(&b, len);
}
