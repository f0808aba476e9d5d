/*
 * Reading an infer request's scheduling parameters before it is queued. The daemon must know
 * a request's priority and deadline on its event loop, where parsing a megabyte body into a
 * tree would stall every other client, so this walks the top-level object byte by byte,
 * skipping every member's value without building anything, and parses only the small
 * "parameters" object. The full decode on a worker still validates the whole body; a body
 * this walk cannot follow is left to it (no scheduling parameters are reported).
 */
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <ember/proto.h>

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Past the string starting at s[i] == '"'; n when it does not end. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Past the bytes of s[i..n) that cannot start or end a string, array or object (none of '"',
 * '[', ']', '{', '}'): sixteen at a time with SSE2 (every x86-64 has it), eight at a time in
 * a word elsewhere. OR-ing 0x20 folds the brackets onto the braces, and no other byte lands
 * on those two. */
static size_t skip_plain(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), fold = _mm_set1_epi8(0x20),
                  open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}');
    while (n - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i f = _mm_or_si128(v, fold);
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                   _mm_or_si128(_mm_cmpeq_epi8(f, open), _mm_cmpeq_epi8(f, close)));
        if (_mm_movemask_epi8(hit))
            break;
        i += 16;
    }
#endif
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t folded = w | (ones * 0x20);
        uint64_t q = w ^ (ones * '"'), o = folded ^ (ones * '{'), c = folded ^ (ones * '}');
        if (((q - ones) & ~q & highs) | ((o - ones) & ~o & highs) | ((c - ones) & ~c & highs))
            break;
        i += 8;
    }
    return i;
}

/* Past the value starting at s[i]; n when it does not end. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            i = skip_plain(s, i, n);
            if (i >= n)
                break;
            char ch = s[i];
            if (ch == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

static int params_read(const cJSON *p, ember_kserve_sched *out, ember_err *err)
{
    if (!cJSON_IsObject(p))
        return ember_err_set(err, EMBER_EINVAL, "\"parameters\" must be an object");
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(p, "priority");
    if (prio) {
        static const char *const names[] = {"high", "normal", "low"};
        out->priority = -1;
        for (int i = 0; i < 3 && cJSON_IsString(prio); i++)
            if (strcmp(prio->valuestring, names[i]) == 0)
                out->priority = i;
        if (out->priority < 0)
            return ember_err_set(err, EMBER_EINVAL,
                                 "parameters.priority must be \"high\", \"normal\" or \"low\"");
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "timeout_ms");
    if (t) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 ||
            t->valuedouble > EMBER_KSERVE_MAX_TIMEOUT_MS ||
            t->valuedouble != (double)(int64_t)t->valuedouble)
            return ember_err_set(err, EMBER_EINVAL,
                                 "parameters.timeout_ms must be an integer from 0 to %d",
                                 EMBER_KSERVE_MAX_TIMEOUT_MS);
        out->timeout_ms = (int64_t)t->valuedouble;
    }
    const cJSON *energy = cJSON_GetObjectItemCaseSensitive(p, "energy");
    if (energy) {
        if (!cJSON_IsBool(energy))
            return ember_err_set(err, EMBER_EINVAL, "parameters.energy must be a boolean");
        out->energy = cJSON_IsTrue(energy);
    }
    return 0;
}

int ember_kserve_peek_sched(const char *body, size_t len, ember_kserve_sched *out, ember_err *err)
{
    *out = (ember_kserve_sched){.priority = -1, .timeout_ms = -1};
    size_t i = skip_ws(body, 0, len);
    if (i >= len || body[i] != '{')
        return 0;
    i = skip_ws(body, i + 1, len);
    while (i < len && body[i] == '"') {
        size_t key = i + 1, end = skip_string(body, i, len);
        int is_params = end - key == 11 && memcmp(body + key, "parameters\"", 11) == 0;
        i = skip_ws(body, end, len);
        if (i >= len || body[i] != ':')
            return 0;
        i = skip_ws(body, i + 1, len);
        size_t vend = skip_value(body, i, len);
        if (is_params) {
            cJSON *p = cJSON_ParseWithLength(body + i, vend - i);
            if (!p)
                return ember_err_set(err, EMBER_EINVAL, "\"parameters\" is not valid JSON");
            int rc = params_read(p, out, err);
            cJSON_Delete(p);
            return rc;
        }
        i = skip_ws(body, vend, len);
        if (i >= len || body[i] != ',')
            return 0;
        i = skip_ws(body, i + 1, len);
    }
    return 0;
}
