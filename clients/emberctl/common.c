/*
 * Helpers every emberctl command uses: messages, connecting with the shared options, one
 * request with transport errors reported, reading the {"error": ...} of an HTTP error, path
 * encoding and reading a request file.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emberctl.h"

void emberctl_error(const char *fmt, ...)
{
    va_list ap;

    fputs("emberctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int emberctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "emberctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'emberctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return EMBERCTL_EXIT_USAGE;
}

int emberctl_parse_int(const char *s, int *out)
{
    char *end;

    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int emberctl_connect(const emberctl *ctl, ember_client **out)
{
    ember_client_opts opts = {.timeout_ms = ctl->timeout_ms};
    ember_err err;

    if (ember_client_open(ctl->socket_path, &opts, out, &err) < 0) {
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    return 0;
}

int emberctl_call(ember_client *c, const char *method, const char *path, const char *body,
                  size_t body_len, ember_response *resp)
{
    static const ember_header json = {"Content-Type", "application/json"};
    ember_err err;

    if (ember_client_request(c, method, path, body ? &json : NULL, body ? 1 : 0, body, body_len,
                             resp, &err) < 0) {
        emberctl_error("%s %s: %s", method, path, err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    return 0;
}

cJSON *emberctl_body_json(const ember_response *resp)
{
    return cJSON_ParseWithLength(resp->body, resp->body_len);
}

/* A scalar (or an empty container) as compact JSON text. */
static void print_compact(FILE *f, const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    fputs(text ? text : "null", f);
    cJSON_free(text);
}

static int is_container(const cJSON *j)
{
    return cJSON_IsArray(j) || cJSON_IsObject(j);
}

static void print_json_at(FILE *f, const cJSON *j, int depth)
{
    const cJSON *e;
    int flat = 1;

    if (!is_container(j) || !j->child) {
        print_compact(f, j);
        return;
    }
    if (cJSON_IsArray(j)) {
        cJSON_ArrayForEach(e, j)
        {
            if (is_container(e))
                flat = 0;
        }
        if (flat) {
            fputc('[', f);
            cJSON_ArrayForEach(e, j)
            {
                if (e != j->child)
                    fputs(", ", f);
                print_compact(f, e);
            }
            fputc(']', f);
            return;
        }
    }
    fputs(cJSON_IsArray(j) ? "[\n" : "{\n", f);
    cJSON_ArrayForEach(e, j)
    {
        fprintf(f, "%*s", 2 * (depth + 1), "");
        if (cJSON_IsObject(j)) {
            cJSON *key = cJSON_CreateString(e->string ? e->string : "");
            print_compact(f, key);
            cJSON_Delete(key);
            fputs(": ", f);
        }
        print_json_at(f, e, depth + 1);
        fputs(e->next ? ",\n" : "\n", f);
    }
    fprintf(f, "%*s%c", 2 * depth, "", cJSON_IsArray(j) ? ']' : '}');
}

void emberctl_print_json(FILE *f, const cJSON *j)
{
    print_json_at(f, j, 0);
    fputc('\n', f);
}

void emberctl_print_http_error(const char *what, const ember_response *resp)
{
    cJSON *j = emberctl_body_json(resp);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");

    if (cJSON_IsString(msg)) {
        emberctl_error("%s: HTTP %d: %s", what, resp->status, msg->valuestring);
    } else {
        /* Not the documented error shape: show the start of whatever came back. */
        int n = (int)(resp->body_len > 200 ? 200 : resp->body_len);
        while (n > 0 && isspace((unsigned char)resp->body[n - 1]))
            n--;
        emberctl_error("%s: HTTP %d%s%.*s", what, resp->status, n ? ": " : "", n, resp->body);
    }
    cJSON_Delete(j);
}

/* Append s to buf (capacity cap, NUL-terminated), percent-encoding every byte outside the
 * URL's unreserved set, or copying it as is when raw. */
static int path_append(char *buf, size_t cap, const char *s, int raw)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(buf);

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = raw || isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        size_t need = plain ? 1 : 3;
        if (len + need >= cap)
            return -1;
        if (plain) {
            buf[len++] = (char)ch;
        } else {
            buf[len++] = '%';
            buf[len++] = hex[ch >> 4];
            buf[len++] = hex[ch & 15];
        }
    }
    buf[len] = '\0';
    return 0;
}

int emberctl_model_path(char *buf, size_t cap, const char *name, const char *version,
                        const char *suffix)
{
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    if (path_append(buf, cap, "/v2/models/", 1) < 0 || path_append(buf, cap, name, 0) < 0)
        return -1;
    if (version && *version &&
        (path_append(buf, cap, "/versions/", 1) < 0 || path_append(buf, cap, version, 0) < 0))
        return -1;
    return path_append(buf, cap, suffix, 1);
}

int emberctl_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *shown = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0;
    char *buf;

    if (!f) {
        emberctl_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(cap);
    if (!buf)
        goto oom;
    for (;;) {
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                goto oom;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            emberctl_error("%s is larger than %zu bytes", shown, max);
            goto fail;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        emberctl_error("cannot read %s: %s", shown, strerror(errno));
        goto fail;
    }
    if (!is_stdin)
        fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;

oom:
    emberctl_error("out of memory reading %s", shown);
fail:
    if (!is_stdin)
        fclose(f);
    free(buf);
    return -1;
}
