/*
 * The server: the listening Unix socket, the set of client connections, the inference
 * queue they submit to, and the orderly shutdown that ties them together. server.c owns the
 * listener and the lifecycle; conn.c owns one connection each. Loop thread only.
 */
#ifndef EMBERD_SERVER_H
#define EMBERD_SERVER_H

#include <uv.h>

#include <ember/err.h>

#include "acl.h"
#include "infer.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "tls.h"

typedef struct conn conn;

typedef struct server_config {
    const char *socket_path; /* bound unless listen_fd is given */
    int listen_fd;           /* an inherited listening socket (systemd), or -1 */
    int workers;
    int queue;
    int inline_max_us; /* infer.h; 0: no inline runs */
    int max_connections;
    int header_timeout_ms, idle_timeout_ms;
    const char *version;
    const daemon_acl *acl;    /* who may do what (acl.h) */
    const char *socket_group; /* chgrp the socket to this group; NULL: leave it */
    const tls_settings *tls;  /* the TCP listener (tls.h); NULL or no ->listen: none */
} server_config;

typedef struct server {
    uv_loop_t *loop;
    const daemon_log *log;
    char *socket_path;
    uv_pipe_t listener;
    int listener_open;
    int bound;     /* the socket file is ours to remove */
    int inherited; /* the listener came from systemd, which owns its file */
    uv_timer_t grace;
    int grace_open;
    router router;
    metrics metrics;
    int queue_cap;
    int header_timeout_ms, idle_timeout_ms;
    infer_queue infer;
    int infer_open;
    conn *conns; /* every connection not yet freed */
    int nconns, max_conns;
    const daemon_acl *acl;
    tls_server tls; /* the TLS listener, when tls_on */
    int tls_on;
    uid_t self; /* emberd's own uid, for the default acl */
    int stopping, finished;
    void (*on_stopped)(void *ctx);
    void *stop_ctx;
} server;

/* Prepare the socket path (create its directory, clear a stale socket, refuse a live one),
 * bind, listen and start the workers; with cfg->listen_fd, listen on that socket instead
 * (its file is left alone, now and at shutdown). On failure everything opened is closed again: run
 * the loop once more to let libuv finish, then call server_free. */
int server_start(server *srv, uv_loop_t *loop, const server_config *cfg, registry *reg,
                 const daemon_log *lg, ember_err *err);

/* Stop accepting, remove the socket file, let in-flight requests finish (for at most
 * EMBERD_SHUTDOWN_GRACE_MS), close every connection, stop the workers, then call
 * on_stopped. Safe to call more than once. */
void server_shutdown(server *srv, void (*on_stopped)(void *ctx), void *ctx);

/* Free what the server allocated, once the loop has finished closing its handles. */
void server_free(server *srv);

/* For conn.c. */
void server_maybe_finish(server *srv);
/* Accept a client of the Unix socket, or of the TLS listener when tls is set. */
void conn_accept(server *srv, int tls);
conn *conn_next(const conn *c);
void conn_shutdown(conn *c);
void conn_close(conn *c);
void conn_job_done(infer_job *job, void *ctx);

#endif
