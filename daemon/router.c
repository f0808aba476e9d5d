/*
 * The router. A path is split into segments and matched against the KServe v2 REST routes:
 *   /v2                                   GET   server metadata
 *   /v2/health/live, /v2/health/ready     GET
 *   /v2/models/NAME[/versions/V]          GET   model metadata
 *   /v2/models/NAME[/versions/V]/ready    GET
 *   /v2/models/NAME[/versions/V]/infer    POST  becomes an infer_job (KServe JSON, or a raw
 *                                               image or sound: media_input.c)
 *   /v2/repository/index                  POST
 *   /v2/repository/models/NAME/load       POST  becomes a load job
 *   /v2/repository/models/NAME/unload     POST
 *   /v2/power                             GET   the power governor; PUT switches policy
 *   /metrics                              GET   Prometheus text
 * HEAD is accepted wherever GET is. The method is checked before the model is looked up, so
 * a known route with the wrong method is a 405 (with Allow) whatever the model name is.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "media_input.h"
#include "power.h"
#include "router.h"

#define ROUTE_MAX_SEGMENTS 8

void router_error(route_reply *reply, int status, const char *msg)
{
    reply->status = status;
    reply->body = ember_kserve_error_json(msg, &reply->body_len);
}

void router_reply_json(route_reply *reply, int status, cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!s) {
        router_error(reply, 500, "out of memory");
        return;
    }
    reply->status = status;
    reply->body = s;
    reply->body_len = strlen(s);
}

/* Split "/a/b/c" into segments pointing into buf (a copy of path). -1 when the path has an
 * empty segment (//, trailing /) or too many. */
static int route_split(const char *path, char *buf, size_t cap, char **seg)
{
    if (path[0] != '/' || strlen(path) >= cap)
        return -1;
    strcpy(buf, path + 1);
    int n = 0;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (*p == '\0' || n == ROUTE_MAX_SEGMENTS)
            return -1;
        seg[n++] = p;
        if (!slash)
            return n;
        p = slash + 1;
    }
}

static int is_get(const ember_http_request *req)
{
    return req->method == EMBER_HTTP_GET || req->method == EMBER_HTTP_HEAD;
}

static void route_method_not_allowed(route_reply *reply, const ember_http_request *req,
                                     const char *allow)
{
    char msg[128];
    snprintf(msg, sizeof msg, "method %s is not allowed here (allowed: %s)", req->method_name,
             allow);
    router_error(reply, 405, msg);
    reply->allow = allow;
}

static void route_server_metadata(const router *rt, route_reply *reply)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", "ember");
    cJSON_AddStringToObject(root, "version", rt->version);
    cJSON *ext = cJSON_AddArrayToObject(root, "extensions");
    /* The protocol extensions emberd implements, by the names Triton's KServe v2 extension
     * documents give them (docs/api.md). */
    static const char *const extensions[] = {"model_repository", "binary_tensor_data",
                                             "classification"};
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        cJSON_AddItemToArray(ext, cJSON_CreateString(extensions[i]));
    router_reply_json(reply, 200, root);
}

static void route_health(const router *rt, const char *what, route_reply *reply)
{
    cJSON *root = cJSON_CreateObject();
    if (strcmp(what, "live") == 0) {
        cJSON_AddBoolToObject(root, "live", 1);
        router_reply_json(reply, 200, root);
    } else {
        int ready = rt->reg->nmodels > 0;
        cJSON_AddBoolToObject(root, "ready", ready);
        router_reply_json(reply, ready ? 200 : 503, root);
    }
}

static void route_repository_index(const router *rt, route_reply *reply)
{
    cJSON *root = cJSON_CreateArray();
    for (int i = 0; i < rt->reg->nmodels; i++) {
        const model_entry *e = rt->reg->models[i];
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", e->name);
        cJSON_AddStringToObject(m, "version", e->version_str);
        cJSON_AddStringToObject(m, "state", "READY");
        cJSON_AddItemToArray(root, m);
    }
    router_reply_json(reply, 200, root);
}

/* Metadata of e; versions lists every loaded version of its name (only e's own when the
 * request named a version). */
static void route_model_metadata(const router *rt, const model_entry *e, int one,
                                 route_reply *reply)
{
    const char *versions[EMBERD_MAX_MODEL_VERSIONS];
    int first = 0, n = one ? 0 : registry_versions(rt->reg, e->name, &first);
    for (int i = 0; i < n && i < EMBERD_MAX_MODEL_VERSIONS; i++)
        versions[i] = rt->reg->models[first + i]->version_str;
    if (n == 0) {
        versions[0] = e->version_str;
        n = 1;
    }
    ember_err err = {{0}};
    if (ember_kserve_encode_metadata(e->name, versions, n, "ember", e->inputs, e->ninputs,
                                     e->outputs, e->noutputs, &reply->body, &reply->body_len,
                                     &err) < 0) {
        router_error(reply, 500, err.msg);
        return;
    }
    reply->status = 200;
}

static void route_model_ready(const model_entry *e, route_reply *reply)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", e->name);
    cJSON_AddBoolToObject(root, "ready", 1);
    router_reply_json(reply, 200, root);
}

/* /v2/models/NAME[/versions/V][/ready|/infer]: seg[0..1] are "v2", "models". */
static int route_model(const router *rt, ember_http_request *req, char **seg, int n,
                       route_reply *reply, infer_job **job)
{
    const char *name = seg[2], *version = NULL, *action = NULL;
    if (n == 4) {
        action = seg[3];
    } else if ((n == 5 || n == 6) && strcmp(seg[3], "versions") == 0) {
        version = seg[4];
        action = n == 6 ? seg[5] : NULL;
    } else if (n != 3) {
        return -1;
    }
    if (action && strcmp(action, "ready") != 0 && strcmp(action, "infer") != 0)
        return -1;

    int infer = action && strcmp(action, "infer") == 0;
    if (infer && req->method != EMBER_HTTP_POST) {
        route_method_not_allowed(reply, req, "POST");
        return 0;
    }
    if (!infer && !is_get(req)) {
        route_method_not_allowed(reply, req, "GET, HEAD");
        return 0;
    }

    char msg[256];
    model_entry *e = registry_find(rt->reg, name, NULL);
    if (!e) {
        snprintf(msg, sizeof msg, "unknown model '%.128s'", name);
        router_error(reply, 404, msg);
        return 0;
    }
    if (version && !(e = registry_find(rt->reg, name, version))) {
        int first = 0, nv = registry_versions(rt->reg, name, &first);
        int len =
            snprintf(msg, sizeof msg, "model '%s' has no version '%.32s' (serving", name, version);
        for (int i = 0; i < nv && len < (int)sizeof msg - 16; i++)
            len += snprintf(msg + len, sizeof msg - (size_t)len, " %s",
                            rt->reg->models[first + i]->version_str);
        snprintf(msg + len, sizeof msg - (size_t)len, ")");
        router_error(reply, 404, msg);
        return 0;
    }
    if (!action) {
        route_model_metadata(rt, e, version != NULL, reply);
        return 0;
    }
    if (!infer) {
        route_model_ready(e, reply);
        return 0;
    }
    media_kind mk = media_kind_of(req->content_type);
    if (mk != MEDIA_NONE)
        return media_route_infer(e, req, mk, reply, job);
    /* The binary tensor extension: the JSON is only the first header_len bytes. */
    size_t header_len = req->body_len;
    const char *ihcl = ember_http_request_header(req, "Inference-Header-Content-Length");
    if (ihcl) {
        char *end;
        unsigned long long v = strtoull(ihcl, &end, 10);
        if (*ihcl < '0' || *ihcl > '9' || *end != '\0' || v > req->body_len) {
            snprintf(msg, sizeof msg,
                     "Inference-Header-Content-Length must be a byte count within the body "
                     "(%zu bytes), not '%.32s'",
                     req->body_len, ihcl);
            router_error(reply, 400, msg);
            return 0;
        }
        header_len = (size_t)v;
    }
    ember_kserve_sched sp;
    ember_err err = {{0}};
    if (ember_kserve_peek_sched(req->body, header_len, &sp, &err) < 0) {
        router_error(reply, 400, err.msg);
        return 0;
    }
    *job = infer_job_new(e, req->body, req->body_len);
    if (!*job) {
        router_error(reply, 500, "out of memory");
        return 0;
    }
    (*job)->header_len = header_len;
    (*job)->priority = sp.priority >= 0 ? sp.priority : e->cfg.priority;
    (*job)->want_energy = sp.energy;
    if (sp.timeout_ms >= 0)
        (*job)->deadline = uv_hrtime() + (uint64_t)sp.timeout_ms * 1000000u;
    req->body = NULL;
    req->body_len = 0;
    return 1;
}

/* /v2/repository/models/NAME/{load,unload}: seg[0..2] are "v2", "repository", "models". */
static int route_repository_model(const router *rt, ember_http_request *req, char **seg,
                                  route_reply *reply, infer_job **job)
{
    const char *name = seg[3], *action = seg[4];
    int load = strcmp(action, "load") == 0;
    if (!load && strcmp(action, "unload") != 0)
        return -1;
    if (req->method != EMBER_HTTP_POST) {
        route_method_not_allowed(reply, req, "POST");
        return 0;
    }
    if (load) {
        *job = infer_job_new_load(name);
        if (!*job) {
            router_error(reply, 500, "out of memory");
            return 0;
        }
        return 1;
    }
    ember_err err = {{0}};
    if (registry_unload(rt->reg, name, &err) < 0) {
        router_error(reply, 404, err.msg);
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", name);
    cJSON_AddStringToObject(root, "state", "UNAVAILABLE");
    router_reply_json(reply, 200, root);
    return 0;
}

static void route_metrics(const router *rt, route_reply *reply)
{
    metrics_gauges g = {.reg = rt->reg};
    rt->gauges(rt->gauges_ctx, &g);
    power_read_gauges(rt->power, &g);
    if (metrics_render(rt->metrics, &g, &reply->body, &reply->body_len) < 0) {
        router_error(reply, 500, "out of memory");
        return;
    }
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

int router_needs_admin(const ember_http_request *req)
{
    return req->method == EMBER_HTTP_PUT && strcmp(req->path, "/v2/power") == 0;
}

daemon_role router_role(const ember_http_request *req)
{
    const char *p = req->path;
    size_t n = strlen(p);
    if (router_needs_admin(req) || strncmp(p, "/v2/repository/models/", 22) == 0)
        return ROLE_ADMIN;
    if (strncmp(p, "/v2/models/", 11) == 0 && n > 6 && strcmp(p + n - 6, "/infer") == 0)
        return ROLE_INFER;
    return ROLE_READ;
}

int router_route(const router *rt, ember_http_request *req, route_reply *reply, infer_job **job)
{
    memset(reply, 0, sizeof *reply);
    *job = NULL;
    char buf[EMBER_HTTP_MAX_URL + 1];
    char *seg[ROUTE_MAX_SEGMENTS];
    int n = route_split(req->path, buf, sizeof buf, seg);

    if (n == 1 && strcmp(seg[0], "metrics") == 0) {
        if (!is_get(req))
            route_method_not_allowed(reply, req, "GET, HEAD");
        else
            route_metrics(rt, reply);
        return 0;
    }
    if (n >= 1 && strcmp(seg[0], "v2") == 0) {
        if (n == 1) {
            if (!is_get(req))
                route_method_not_allowed(reply, req, "GET, HEAD");
            else
                route_server_metadata(rt, reply);
            return 0;
        }
        if (n == 3 && strcmp(seg[1], "health") == 0 &&
            (strcmp(seg[2], "live") == 0 || strcmp(seg[2], "ready") == 0)) {
            if (!is_get(req))
                route_method_not_allowed(reply, req, "GET, HEAD");
            else
                route_health(rt, seg[2], reply);
            return 0;
        }
        if (n == 2 && strcmp(seg[1], "power") == 0) {
            power_route(rt->power, req, reply);
            return 0;
        }
        if (n == 3 && strcmp(seg[1], "repository") == 0 && strcmp(seg[2], "index") == 0) {
            if (req->method != EMBER_HTTP_POST)
                route_method_not_allowed(reply, req, "POST");
            else
                route_repository_index(rt, reply);
            return 0;
        }
        if (n == 5 && strcmp(seg[1], "repository") == 0 && strcmp(seg[2], "models") == 0) {
            int rc = route_repository_model(rt, req, seg, reply, job);
            if (rc >= 0)
                return rc;
        }
        if (n >= 3 && strcmp(seg[1], "models") == 0) {
            int rc = route_model(rt, req, seg, n, reply, job);
            if (rc >= 0)
                return rc;
        }
    }
    char msg[256];
    snprintf(msg, sizeof msg, "no route for %.200s", req->path);
    router_error(reply, 404, msg);
    return 0;
}
