/*
 * Raw media bodies and the classification extension (see media_input.h). The config side
 * turns config.json's "inputs" and "labels" keys into a media_config with the same strict
 * checks and messages as the other keys: an unknown key, a wrong type or an out-of-range
 * value names the key's full path ("inputs.image.image.order"). Against a loaded model it
 * checks the configured input is the model's only, FP32 one and that its shape takes the
 * preprocessed tensor, either as is (rank 4 images, rank 2 or 3 audio) or, for an image and
 * a rank 2 input such as digits' [N, 64], flattened row-major in the configured layout.
 *
 * The request side runs in two halves: on the loop thread only the Content-Type, the model's
 * config and the query string are read; on a worker the body is decoded by libember-proto's
 * decoders. A decoder's "larger than the limit" (EMBER_ENOMEM) is a 413, an unsupported
 * variant (a CMYK JPEG) a 415, anything else about the body a 400.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media_input.h"

/* ---- Config ---- */

static media_config *media_config_new(void)
{
    media_config *mc = calloc(1, sizeof *mc);
    if (mc)
        atomic_init(&mc->refs, 1);
    return mc;
}

void media_config_ref(media_config *mc)
{
    if (mc)
        atomic_fetch_add(&mc->refs, 1);
}

void media_config_unref(media_config *mc)
{
    if (!mc || atomic_fetch_sub(&mc->refs, 1) != 1)
        return;
    free(mc->image_input);
    free(mc->audio_input);
    free(mc->labels);
    free(mc->labels_path);
    free(mc);
}

/* An integer value in min..max, else an error naming key. */
static int cfg_int(const char *path, const char *key, const cJSON *v, int64_t min, int64_t max,
                   int64_t *out, ember_err *err)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)min) ||
        !(v->valuedouble <= (double)max) || v->valuedouble != floor(v->valuedouble))
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants an integer from %lld to %lld",
                             path, key, (long long)min, (long long)max);
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* A finite number, other than 0 when nonzero is set. */
static int cfg_float(const char *path, const char *key, const cJSON *v, int nonzero, float *out,
                     ember_err *err)
{
    if (!cJSON_IsNumber(v) || !isfinite((float)v->valuedouble) ||
        (nonzero && (float)v->valuedouble == 0))
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants a finite number%s", path, key,
                             nonzero ? " other than 0" : "");
    *out = (float)v->valuedouble;
    return 0;
}

/* One of names (n of them), its index into *out. */
static int cfg_enum(const char *path, const char *key, const cJSON *v, const char *const *names,
                    int n, int *out, ember_err *err)
{
    for (int i = 0; i < n && cJSON_IsString(v); i++)
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char list[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                 i == 0       ? ""
                 : i == n - 1 ? " or "
                              : ", ",
                 names[i]);
    return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants %s", path, key, list);
}

/* An array of exactly n finite numbers (mean, std); positive ones when positive is set. */
static int cfg_floats(const char *path, const char *key, const cJSON *v, int n, int positive,
                      float *out, ember_err *err)
{
    int ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == n;
    const cJSON *x;
    int i = 0;
    cJSON_ArrayForEach(x, v)
    {
        if (!ok || !cJSON_IsNumber(x) || !isfinite((float)x->valuedouble) ||
            (positive && !((float)x->valuedouble > 0))) {
            ok = 0;
            break;
        }
        out[i++] = (float)x->valuedouble;
    }
    if (!ok)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key '%s' wants an array of %d finite%s numbers, one per channel "
                             "of \"order\"",
                             path, key, n, positive ? " positive" : "");
    return 0;
}

#define KEY_MAX 200

static int image_read(const char *path, const char *base, const cJSON *obj, ember_image_prep *p,
                      ember_err *err)
{
    char key[2 * KEY_MAX];
    const cJSON *it, *mean = NULL, *std = NULL;
    int have_w = 0, have_h = 0, rc = 0;
    int64_t v;
    *p = (ember_image_prep){.scale = 1, .std = {1, 1, 1}, .max_pixels = EMBER_MEDIA_MAX_PIXELS};
    cJSON_ArrayForEach(it, obj)
    {
        snprintf(key, sizeof key, "%s.%.64s", base, it->string);
        if (strcmp(it->string, "width") == 0 || strcmp(it->string, "height") == 0) {
            if ((rc = cfg_int(path, key, it, 1, EMBER_MEDIA_MAX_SIDE, &v, err)) < 0)
                return rc;
            if (it->string[0] == 'w')
                p->width = (int)v, have_w = 1;
            else
                p->height = (int)v, have_h = 1;
        } else if (strcmp(it->string, "resize") == 0) {
            if ((rc = cfg_int(path, key, it, 0, EMBER_MEDIA_MAX_SIDE, &v, err)) < 0)
                return rc;
            p->resize = (int)v;
        } else if (strcmp(it->string, "order") == 0) {
            static const char *const names[] = {"rgb", "bgr", "gray"};
            int i;
            if ((rc = cfg_enum(path, key, it, names, 3, &i, err)) < 0)
                return rc;
            p->order = (ember_image_order)i;
        } else if (strcmp(it->string, "layout") == 0) {
            static const char *const names[] = {"nchw", "nhwc"};
            int i;
            if ((rc = cfg_enum(path, key, it, names, 2, &i, err)) < 0)
                return rc;
            p->layout = (ember_image_layout)i;
        } else if (strcmp(it->string, "scale") == 0) {
            if ((rc = cfg_float(path, key, it, 1, &p->scale, err)) < 0)
                return rc;
        } else if (strcmp(it->string, "mean") == 0) {
            mean = it;
        } else if (strcmp(it->string, "std") == 0) {
            std = it;
        } else if (strcmp(it->string, "max_pixels") == 0) {
            if ((rc = cfg_int(path, key, it, 1, EMBER_MEDIA_MAX_PIXELS, &v, err)) < 0)
                return rc;
            p->max_pixels = v;
        } else {
            return ember_err_set(err, EMBER_EINVAL, "%s: unknown key '%s'", path, key);
        }
    }
    if (!have_w || !have_h)
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' needs \"width\" and \"height\"", path,
                             base);
    int c = p->order == EMBER_IMAGE_GRAY ? 1 : 3;
    snprintf(key, sizeof key, "%s.mean", base);
    if (mean && (rc = cfg_floats(path, key, mean, c, 0, p->mean, err)) < 0)
        return rc;
    snprintf(key, sizeof key, "%s.std", base);
    if (std && (rc = cfg_floats(path, key, std, c, 1, p->std, err)) < 0)
        return rc;
    if (p->resize && (p->resize < p->width || p->resize < p->height))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key '%s.resize' must be 0 or at least width and height (%dx%d)",
                             path, base, p->width, p->height);
    if ((int64_t)p->width * p->height * c > EMBER_KSERVE_MAX_ELEMENTS)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key '%s': %dx%d with %d channels is more than %d tensor elements",
                             path, base, p->width, p->height, c, EMBER_KSERVE_MAX_ELEMENTS);
    return 0;
}

static int audio_read(const char *path, const char *base, const cJSON *obj, ember_audio_prep *p,
                      ember_err *err)
{
    char key[2 * KEY_MAX];
    const cJSON *it;
    int rc;
    int64_t v;
    *p = (ember_audio_prep){.channels = 1, .scale = 1};
    cJSON_ArrayForEach(it, obj)
    {
        snprintf(key, sizeof key, "%s.%.64s", base, it->string);
        if (strcmp(it->string, "sample_rate") == 0) {
            if ((rc = cfg_int(path, key, it, 1, 1000000, &v, err)) < 0)
                return rc;
            p->sample_rate = (int)v;
        } else if (strcmp(it->string, "channels") == 0) {
            if ((rc = cfg_int(path, key, it, 1, 64, &v, err)) < 0)
                return rc;
            p->channels = (int)v;
        } else if (strcmp(it->string, "frames") == 0) {
            if ((rc = cfg_int(path, key, it, 0, EMBER_KSERVE_MAX_ELEMENTS, &v, err)) < 0)
                return rc;
            p->frames = v;
        } else if (strcmp(it->string, "scale") == 0) {
            if ((rc = cfg_float(path, key, it, 1, &p->scale, err)) < 0)
                return rc;
        } else {
            return ember_err_set(err, EMBER_EINVAL, "%s: unknown key '%s'", path, key);
        }
    }
    if (!p->sample_rate)
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' needs \"sample_rate\"", path, base);
    return 0;
}

/* "inputs": {NAME: {"image": {...}} or {"audio": {...}}, ...}, at most one of each kind. */
static int inputs_read(const char *path, const cJSON *inputs, media_config *mc, ember_err *err)
{
    if (!cJSON_IsObject(inputs) || !inputs->child)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key 'inputs' wants an object of input names, each "
                             "{\"image\": {...}} or {\"audio\": {...}}",
                             path);
    const cJSON *in;
    cJSON_ArrayForEach(in, inputs)
    {
        char key[KEY_MAX];
        snprintf(key, sizeof key, "inputs.%.64s", in->string);
        const cJSON *kind = in->child;
        if (!cJSON_IsObject(in) || !kind || kind->next ||
            (strcmp(kind->string, "image") != 0 && strcmp(kind->string, "audio") != 0) ||
            !cJSON_IsObject(kind))
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: key '%s' wants exactly one of \"image\": {...} or "
                                 "\"audio\": {...}",
                                 path, key);
        int image = strcmp(kind->string, "image") == 0;
        char **name = image ? &mc->image_input : &mc->audio_input;
        snprintf(key, sizeof key, "inputs.%.64s.%s", in->string, kind->string);
        if (*name)
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: key '%s': input '%s' already takes %s; one input per kind",
                                 path, key, *name, image ? "images" : "audio");
        int rc = image ? image_read(path, key, kind, &mc->image, err)
                       : audio_read(path, key, kind, &mc->audio, err);
        if (rc < 0)
            return rc;
        if (!(*name = strdup(in->string)))
            return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    }
    return 0;
}

/* Whether s (len bytes) is UTF-8 without control characters other than tab. */
static int labels_text_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        int more = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : -1;
        if (more < 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ||
            (more > 0 && i + (size_t)more >= len))
            return 0;
        for (int k = 1; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += 1 + (size_t)more;
    }
    return 1;
}

/* "labels": "FILE", relative to the folder of path, inside it. One label per line. */
static int labels_read(const char *path, const cJSON *v, media_config *mc, ember_err *err)
{
    const char *rel = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!rel || !*rel || rel[0] == '/' || strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
        strstr(rel, "/../") || (strlen(rel) >= 3 && strcmp(rel + strlen(rel) - 3, "/..") == 0))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key 'labels' wants a file name relative to the model's folder "
                             "(no '..', not absolute)",
                             path);
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    char file[4096];
    if (snprintf(file, sizeof file, "%.*s/%s", dirlen, slash ? path : ".", rel) >= (int)sizeof file)
        return ember_err_set(err, EMBER_EINVAL, "%s: key 'labels': the path is too long", path);
    FILE *f = fopen(file, "rb");
    if (!f)
        return ember_err_set(err, errno == ENOENT ? EMBER_EINVAL : EMBER_EIO,
                             "%s: key 'labels': cannot open %s: %s", path, file, strerror(errno));
    char *text = malloc(EMBERD_MAX_LABELS_FILE + 1);
    size_t len = text ? fread(text, 1, EMBERD_MAX_LABELS_FILE + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    int rc = 0;
    if (!text)
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", file);
    else if (bad)
        rc = ember_err_set(err, EMBER_EIO, "%s: key 'labels': cannot read %s", path, file);
    else if (len > EMBERD_MAX_LABELS_FILE)
        rc = ember_err_set(err, EMBER_EINVAL, "%s: key 'labels': %s is larger than %d bytes", path,
                           file, EMBERD_MAX_LABELS_FILE);
    else if (!labels_text_ok((const unsigned char *)text, len))
        rc = ember_err_set(err, EMBER_EINVAL,
                           "%s: key 'labels': %s is not UTF-8 text without control characters",
                           path, file);
    if (rc < 0) {
        free(text);
        return rc;
    }
    /* Lines: a last line without a newline counts, an empty file has none. */
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    n += len > 0 && text[len - 1] != '\n';
    if (n > EMBERD_MAX_LABELS) {
        free(text);
        return ember_err_set(err, EMBER_EINVAL, "%s: key 'labels': %s has more than %d lines", path,
                             file, EMBERD_MAX_LABELS);
    }
    /* One block: the pointers, then the text with each line ended by a NUL. */
    char **labels = malloc((size_t)n * sizeof *labels + len + 1);
    if (!labels) {
        free(text);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", file);
    }
    char *t = (char *)(labels + n);
    memcpy(t, text, len);
    t[len] = '\0';
    free(text);
    for (int i = 0; i < n; i++) {
        labels[i] = t;
        char *nl = strchr(t, '\n');
        if (nl)
            *nl = '\0';
        size_t l = strlen(t);
        if (l && t[l - 1] == '\r')
            t[l - 1] = '\0';
        t = nl ? nl + 1 : t + l;
    }
    free(mc->labels);
    free(mc->labels_path);
    mc->labels = labels;
    mc->nlabels = n;
    if (!(mc->labels_path = strdup(rel)))
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", file);
    return 0;
}

int media_config_read(const char *path, const cJSON *it, media_config **mc, ember_err *err)
{
    if (!*mc && !(*mc = media_config_new()))
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    if (strcmp(it->string, "labels") == 0)
        return labels_read(path, it, *mc, err);
    return inputs_read(path, it, *mc, err);
}

/* ---- Checking a config against a model ---- */

static int dim_ok(int64_t model, int64_t have)
{
    return model < 0 || model == have;
}

/* The dims a configured kind produces for input `in`, written to have (rank *hrank): what
 * media_decode hands the engine. 0, or -1 when in cannot take it. */
static int media_dims(const media_config *mc, int image, const ember_io_info *in, int64_t *have,
                      int *hrank)
{
    if (image) {
        const ember_image_prep *p = &mc->image;
        int64_t c = p->order == EMBER_IMAGE_GRAY ? 1 : 3;
        if (in->rank == 2) {
            *hrank = 2;
            have[0] = 1;
            have[1] = c * p->width * p->height;
        } else {
            *hrank = 4;
            have[0] = 1;
            int64_t chw[3] = {c, p->height, p->width}, hwc[3] = {p->height, p->width, c};
            memcpy(have + 1, p->layout == EMBER_IMAGE_NCHW ? chw : hwc, sizeof chw);
        }
    } else {
        const ember_audio_prep *p = &mc->audio;
        *hrank = p->channels > 1 ? 3 : 2;
        have[0] = 1;
        have[1] = p->frames ? p->frames : (in->rank >= 2 ? in->dims[1] : 0);
        have[2] = p->channels;
    }
    if (in->rank != *hrank)
        return -1;
    for (int d = 0; d < *hrank; d++)
        if (!dim_ok(in->dims[d], have[d]))
            return -1;
    return 0;
}

static int check_one(const media_config *mc, int image, const ember_io_info *inputs, int ninputs,
                     ember_err *err)
{
    const char *name = image ? mc->image_input : mc->audio_input;
    const char *kind = image ? "image" : "audio";
    if (!name)
        return 0;
    const ember_io_info *in = NULL;
    for (int i = 0; i < ninputs; i++)
        if (strcmp(inputs[i].name, name) == 0)
            in = &inputs[i];
    if (!in)
        return ember_err_set(err, EMBER_EINVAL, "key 'inputs.%s': the model has no input '%s'",
                             name, name);
    if (ninputs != 1)
        return ember_err_set(err, EMBER_EINVAL,
                             "key 'inputs.%s': a raw %s body fills the model's only input, and "
                             "this model has %d",
                             name, kind, ninputs);
    if (in->dtype != EMBER_DT_FLOAT)
        return ember_err_set(err, EMBER_EINVAL, "key 'inputs.%s': input '%s' is not FP32", name,
                             name);
    int64_t have[4];
    int hrank;
    if (media_dims(mc, image, in, have, &hrank) < 0) {
        char want[96] = "", got[96] = "";
        for (int d = 0; d < in->rank; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                     (long long)in->dims[d]);
        for (int d = 0; d < hrank; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)have[d]);
        return ember_err_set(err, EMBER_EINVAL,
                             "key 'inputs.%s.%s': preprocessing gives [%s] but input '%s' is [%s]",
                             name, kind, got, name, want);
    }
    return 0;
}

int media_config_check(const media_config *mc, const ember_io_info *inputs, int ninputs,
                       ember_err *err)
{
    if (!mc)
        return 0;
    int rc = check_one(mc, 1, inputs, ninputs, err);
    return rc < 0 ? rc : check_one(mc, 0, inputs, ninputs, err);
}

/* ---- Requests ---- */

media_kind media_kind_of(const char *ct)
{
    if (!ct)
        return MEDIA_NONE;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const struct {
        const char *type;
        media_kind kind;
    } types[] = {{"image/jpeg", MEDIA_JPEG},
                 {"image/png", MEDIA_PNG},
                 {"audio/wav", MEDIA_WAV},
                 {"audio/x-wav", MEDIA_WAV},
                 {"audio/wave", MEDIA_WAV}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].type) == n && strncasecmp(ct, types[i].type, n) == 0)
            return types[i].kind;
    if (strncasecmp(ct, "image/", 6) == 0 || strncasecmp(ct, "audio/", 6) == 0 ||
        strncasecmp(ct, "video/", 6) == 0)
        return MEDIA_OTHER;
    return MEDIA_NONE;
}

/* What a raw-body request's query string carries in place of a JSON body's "id" and
 * "parameters": ?id=S&timeout_ms=N&priority=P&classification=K, each at most once. */
typedef struct media_params {
    char id[EMBER_KSERVE_MAX_ID + 1];
    int has_id;
    int64_t timeout_ms; /* -1: none */
    int priority;       /* -1: the model's */
    int classify;       /* 0: none */
} media_params;

static int hex_digit(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The n bytes at v percent-decoded ('+' is a space, as in a form) into out (cap bytes with
 * the NUL). The length, or -1 for a bad escape, a control character or more than cap - 1. */
static int query_unescape(const char *v, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)v[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_digit((unsigned char)v[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit((unsigned char)v[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || len + 1 >= cap)
            return -1;
        out[len++] = (char)c;
    }
    out[len] = '\0';
    return (int)len;
}

/* A decimal integer of n bytes at v, lo..hi; -1 when it is not one. */
static long long query_int(const char *v, size_t n, long long lo, long long hi)
{
    long long x = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x < lo || x > hi ? -1 : x;
}

static int media_query(const char *query, media_params *mp, char *msg, size_t cap)
{
    static const char *const keys[] = {"id", "timeout_ms", "priority", "classification"};
    static const char *const prio[] = {"high", "normal", "low"};
    int seen[4] = {0};
    *mp = (media_params){.timeout_ms = -1, .priority = -1};
    for (const char *p = query; p && *p;) {
        size_t n = strcspn(p, "&"), kn = strcspn(p, "=&");
        const char *v = p + kn + 1;
        size_t vn = kn < n ? n - kn - 1 : 0;
        if (n == 0) {
            p++;
            continue;
        }
        int k = 0;
        while (k < 4 && !(strlen(keys[k]) == kn && strncmp(p, keys[k], kn) == 0))
            k++;
        if (k == 4) {
            snprintf(msg, cap,
                     "unknown query parameter '%.*s' (a raw media body takes id, timeout_ms, "
                     "priority and classification)",
                     (int)(n > 64 ? 64 : n), p);
            return -1;
        }
        if (seen[k]++) {
            snprintf(msg, cap, "query parameter %s is given twice", keys[k]);
            return -1;
        }
        long long x;
        if (k == 0) {
            mp->has_id = 1;
            if (kn == n || query_unescape(v, vn, mp->id, sizeof mp->id) < 0) {
                snprintf(msg, cap,
                         "query parameter id wants 0 to %d bytes, percent-encoded, without "
                         "control characters",
                         EMBER_KSERVE_MAX_ID);
                return -1;
            }
        } else if (k == 1) {
            if (kn == n || (x = query_int(v, vn, 0, EMBER_KSERVE_MAX_TIMEOUT_MS)) < 0) {
                snprintf(msg, cap, "query parameter timeout_ms wants an integer from 0 to %d",
                         EMBER_KSERVE_MAX_TIMEOUT_MS);
                return -1;
            }
            mp->timeout_ms = x;
        } else if (k == 2) {
            for (int i = 0; i < 3 && kn < n; i++)
                if (strlen(prio[i]) == vn && strncmp(v, prio[i], vn) == 0)
                    mp->priority = i;
            if (mp->priority < 0) {
                snprintf(msg, cap, "query parameter priority wants high, normal or low");
                return -1;
            }
        } else {
            if (kn == n || (x = query_int(v, vn, 1, EMBER_CLASSIFY_MAX_K)) < 0) {
                snprintf(msg, cap, "query parameter classification wants an integer from 1 to %d",
                         EMBER_CLASSIFY_MAX_K);
                return -1;
            }
            mp->classify = (int)x;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}

int media_route_infer(model_entry *e, ember_http_request *req, media_kind kind, route_reply *reply,
                      infer_job **job)
{
    char msg[400];
    if (kind == MEDIA_OTHER) {
        snprintf(msg, sizeof msg,
                 "Content-Type '%.64s' is not supported: send KServe JSON, or image/jpeg, "
                 "image/png or audio/wav to a model configured for them",
                 req->content_type);
        router_error(reply, 415, msg);
        return 0;
    }
    const media_config *mc = e->cfg.media;
    int image = kind != MEDIA_WAV;
    if (!mc || !(image ? mc->image_input : mc->audio_input)) {
        snprintf(msg, sizeof msg,
                 "model '%s' is not configured for %s bodies: its config.json needs \"inputs\": "
                 "{\"INPUT\": {\"%s\": {...}}} (docs/config.md)",
                 e->name, image ? "image" : "audio", image ? "image" : "audio");
        router_error(reply, 415, msg);
        return 0;
    }
    media_params mp;
    if (media_query(req->query, &mp, msg, sizeof msg) < 0) {
        router_error(reply, 400, msg);
        return 0;
    }
    *job = infer_job_new(e, req->body, req->body_len);
    if (!*job || (mp.has_id && !((*job)->media_id = strdup(mp.id)))) {
        infer_job_free(*job);
        *job = NULL;
        router_error(reply, 500, "out of memory");
        return 0;
    }
    (*job)->media = (int)kind;
    (*job)->classify = mp.classify;
    (*job)->priority = mp.priority >= 0 ? mp.priority : e->cfg.priority;
    if (mp.timeout_ms >= 0)
        (*job)->deadline = uv_hrtime() + (uint64_t)mp.timeout_ms * 1000000u;
    req->body = NULL;
    req->body_len = 0;
    return 1;
}

int media_status(int rc)
{
    switch (rc) {
    case EMBER_ENOMEM: return 413; /* the decoders' pixel and sample limits */
    case EMBER_EUNSUPPORTED: return 415;
    case EMBER_EIO: return 500; /* media_decode's own allocations */
    default: return 400;
    }
}

int media_decode(const infer_job *job, ember_infer_request *req, ember_err *err)
{
    const model_entry *e = job->entry;
    const media_config *mc = e->cfg.media;
    memset(req, 0, sizeof *req);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc;
    /* The Content-Type decides the format; the decoders would otherwise take either. */
    if (job->media == MEDIA_PNG &&
        (job->body_len < 8 || memcmp(job->body, png_sig, sizeof png_sig) != 0))
        return ember_err_set(err, EMBER_EFORMAT, "image/png: the body is not a PNG file");
    if (job->media == MEDIA_JPEG &&
        (job->body_len < 3 || memcmp(job->body, "\xff\xd8\xff", 3) != 0))
        return ember_err_set(err, EMBER_EFORMAT, "image/jpeg: the body is not a JPEG file");
    ember_tensor t;
    if (job->media == MEDIA_WAV)
        rc = ember_audio_preprocess(job->body, job->body_len, &mc->audio, &t, err);
    else
        rc = ember_image_preprocess(job->body, job->body_len, &mc->image, &t, err);
    if (rc < 0)
        return rc;
    if (job->media != MEDIA_WAV && e->inputs[0].rank == 2) {
        /* Flattened row-major in the configured layout (media_config_check allowed it). */
        t.dims[1] *= t.dims[2] * t.dims[3];
        t.rank = 2;
    }
    int n = e->noutputs > 0 ? e->noutputs : 1;
    req->inputs = malloc(sizeof *req->inputs);
    req->outputs = calloc((size_t)n, sizeof *req->outputs);
    req->binary = calloc((size_t)n, 1);
    req->classify = calloc((size_t)n, sizeof *req->classify);
    if (!req->inputs || !req->outputs || !req->binary || !req->classify) {
        free(t.data);
        ember_infer_request_clear(req);
        return ember_err_set(err, EMBER_EIO, "out of memory for the request");
    }
    if (job->media_id && !(req->id = strdup(job->media_id))) {
        free(t.data);
        ember_infer_request_clear(req);
        return ember_err_set(err, EMBER_EIO, "out of memory for the request");
    }
    req->inputs[0] = t;
    req->ninputs = 1;
    req->noutputs = e->noutputs;
    for (int i = 0; i < e->noutputs; i++) {
        req->outputs[i] = i;
        req->classify[i] = job->classify;
    }
    return 0;
}

int media_classify(const model_entry *e, const ember_infer_request *req, ember_named_tensor *named,
                   ember_err *err)
{
    const media_config *mc = e->cfg.media;
    const char *const *labels = mc ? (const char *const *)mc->labels : NULL;
    int nlabels = mc ? mc->nlabels : 0;
    for (int i = 0; req->classify && i < req->noutputs; i++) {
        if (req->classify[i] <= 0)
            continue;
        ember_tensor *t = &named[i].tensor;
        char **top;
        int n;
        int rc = ember_classify_topk(t, req->classify[i], labels, nlabels, &top, &n, err);
        if (rc < 0) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return ember_err_set(err, rc, "output '%s': %s", named[i].name, why);
        }
        int64_t rows = t->rank >= 2 ? t->dims[0] : 1;
        t->dtype = EMBER_DT_BYTES;
        t->rank = 2;
        t->dims[0] = rows;
        t->dims[1] = n / rows;
        t->data = top;
    }
    return 0;
}

void media_classify_free(ember_named_tensor *named, int n)
{
    for (int i = 0; named && i < n; i++)
        if (named[i].tensor.dtype == EMBER_DT_BYTES)
            free(named[i].tensor.data);
}
