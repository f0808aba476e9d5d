/*
 * The router: maps a request's method and path onto the KServe v2 endpoints and answers
 * everything that needs no inference on the spot; an infer request becomes a job for the
 * caller to submit. It knows nothing of sockets.
 */
#ifndef EMBERD_ROUTER_H
#define EMBERD_ROUTER_H

#include <stddef.h>

#include <ember/proto.h>

#include "acl.h"
#include "infer.h"
#include "metrics.h"
#include "registry.h"

typedef struct router {
    registry *reg;       /* the loop thread's: routes look models up and unload them */
    const char *version; /* the project version, for GET /v2 */
    const metrics *metrics;
    void (*gauges)(void *ctx, metrics_gauges *g); /* fills the gauges for GET /metrics */
    void *gauges_ctx;
    struct daemon_power *power; /* GET/PUT /v2/power and the power gauges; NULL: none */
} router;

typedef struct route_reply {
    int status;
    char *body; /* malloc'd JSON; NULL only when memory ran out */
    size_t body_len;
    const char *allow;        /* the Allow header of a 405 */
    const char *content_type; /* NULL: application/json */
} route_reply;

/* Route req. Returns 0 with *reply filled (the caller frees reply->body), or 1 with *job
 * holding a new job to run: an inference (which has taken req's body) or a model load. */
int router_route(const router *rt, ember_http_request *req, route_reply *reply, infer_job **job);

/* Whether req changes how the daemon runs, so only the admin role may send it: PUT
 * /v2/power. */
int router_needs_admin(const ember_http_request *req);

/* The role (acl.h) req needs: admin for repository load/unload and what router_needs_admin
 * names, infer for .../infer, read for everything else. */
daemon_role router_role(const ember_http_request *req);

/* Fill reply with status and {"error": msg}. */
void router_error(route_reply *reply, int status, const char *msg);
/* Print a cJSON tree (NULL: out of memory) into reply with status; takes the tree. */
void router_reply_json(route_reply *reply, int status, cJSON *root);

#endif
