/*
 * The listener and the server's lifecycle. Starting prepares the socket path (its directory
 * is created; a socket file nobody answers on is stale and removed; a live daemon or a
 * non-socket file makes us refuse), binds it with mode 0660 and starts the worker pool.
 * Under socket activation the listener is the socket systemd passed, and its file is
 * systemd's. With --tls-listen a TCP listener (tls.c) feeds the same connections, TLS only.
 * Shutdown closes the listeners and removes the socket file first, so no new client arrives;
 * idle connections close at once and busy ones after their answer (or when the grace timer
 * fires); once no connection and no job is left the pool is joined and on_stopped runs.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "limits.h"
#include "server.h"

/* Create every missing directory above path (mode 0755). */
static int socket_dir_create(const char *path, ember_err *err)
{
    char dir[PATH_MAX];
    if (strlen(path) >= sizeof dir)
        return ember_err_set(err, EMBER_EINVAL, "socket path is too long");
    strcpy(dir, path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return ember_err_set(err, EMBER_EIO, "cannot create directory %s: %s", dir,
                                 strerror(errno));
        *p = '/';
    }
    return 0;
}

/* Make path free to bind: remove a stale socket, refuse anything else in the way. */
static int socket_path_prepare(const char *path, const daemon_log *lg, ember_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path[0] == '\0' || strlen(path) >= sizeof sa.sun_path)
        return ember_err_set(err, EMBER_EINVAL, "socket path '%s' must be 1 to %zu bytes", path,
                             sizeof sa.sun_path - 1);
    int rc = socket_dir_create(path, err);
    if (rc < 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return ember_err_set(err, EMBER_EIO, "cannot inspect %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s exists and is not a socket; refusing to replace it", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ember_err_set(err, EMBER_EIO, "socket: %s", strerror(errno));
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0)
        return ember_err_set(err, EMBER_EBUSY,
                             "another daemon is already listening on %s; refusing to start", path);
    if (e != ECONNREFUSED)
        return ember_err_set(err, EMBER_EIO, "cannot check the existing socket %s: %s", path,
                             strerror(e));
    if (unlink(path) < 0 && errno != ENOENT)
        return ember_err_set(err, EMBER_EIO, "cannot remove the stale socket %s: %s", path,
                             strerror(errno));
    log_info(lg, "server: removed the stale socket %s", path);
    return 0;
}

static void server_on_connection(uv_stream_t *listener, int status)
{
    server *srv = listener->data;
    if (status < 0) {
        log_warn(srv->log, "server: accept: %s", uv_strerror(status));
        return;
    }
    conn_accept(srv, listener == (uv_stream_t *)&srv->tls.listener);
}

static int server_listen(server *srv, int listen_fd, ember_err *err)
{
    int rc = uv_pipe_init(srv->loop, &srv->listener, 0);
    if (rc < 0)
        return ember_err_set(err, EMBER_EIO, "cannot create the listener: %s", uv_strerror(rc));
    srv->listener.data = srv;
    srv->listener_open = 1;
    if (listen_fd >= 0) {
        rc = uv_pipe_open(&srv->listener, listen_fd);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&srv->listener, EMBERD_LISTEN_BACKLOG,
                           server_on_connection);
        if (rc < 0)
            return ember_err_set(err, EMBER_EIO, "cannot listen on the socket systemd passed: %s",
                                 uv_strerror(rc));
        /* Name it for the logs. */
        char path[sizeof((struct sockaddr_un *)0)->sun_path + 1];
        size_t len = sizeof path;
        if (uv_pipe_getsockname(&srv->listener, path, &len) == 0 && len > 0) {
            char *copy = strdup(path);
            if (copy) {
                free(srv->socket_path);
                srv->socket_path = copy;
            }
        }
        srv->inherited = 1;
        return 0;
    }
    /* The socket is created with mode 0660 (never wider, not even for a moment). */
    mode_t old = umask(0117);
    rc = uv_pipe_bind(&srv->listener, srv->socket_path);
    umask(old);
    if (rc < 0)
        return ember_err_set(err, EMBER_EIO, "cannot bind %s: %s", srv->socket_path,
                             uv_strerror(rc));
    srv->bound = 1;
    if (chmod(srv->socket_path, 0660) < 0)
        return ember_err_set(err, EMBER_EIO, "cannot chmod %s: %s", srv->socket_path,
                             strerror(errno));
    rc = uv_listen((uv_stream_t *)&srv->listener, EMBERD_LISTEN_BACKLOG, server_on_connection);
    if (rc < 0)
        return ember_err_set(err, EMBER_EIO, "cannot listen on %s: %s", srv->socket_path,
                             uv_strerror(rc));
    return 0;
}

/* Undo a partial start. */
static void server_abort(server *srv)
{
    if (srv->listener_open) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listener_open = 0;
    }
    tls_server_close(&srv->tls);
    if (srv->bound) {
        unlink(srv->socket_path);
        srv->bound = 0;
    }
    if (srv->infer_open) {
        infer_queue_close(&srv->infer);
        srv->infer_open = 0;
    }
    if (srv->grace_open) {
        uv_close((uv_handle_t *)&srv->grace, NULL);
        srv->grace_open = 0;
    }
}

static void server_gauges(void *ctx, metrics_gauges *g)
{
    server *srv = ctx;
    g->queue_depth = infer_queue_depth(&srv->infer);
    g->queue_capacity = srv->queue_cap;
    g->workers = srv->infer.nworkers;
    g->busy = srv->infer.running;
    g->connections = srv->nconns;
}

int server_start(server *srv, uv_loop_t *loop, const server_config *cfg, registry *reg,
                 const daemon_log *lg, ember_err *err)
{
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->log = lg;
    srv->router.reg = reg;
    srv->router.metrics = &srv->metrics;
    srv->router.gauges = server_gauges;
    srv->router.gauges_ctx = srv;
    srv->queue_cap = cfg->queue;
    srv->max_conns = cfg->max_connections;
    srv->header_timeout_ms = cfg->header_timeout_ms;
    srv->idle_timeout_ms = cfg->idle_timeout_ms;
    metrics_init(&srv->metrics);
    registry_attach(reg, loop);
    srv->router.version = cfg->version;
    srv->acl = cfg->acl;
    srv->self = geteuid();
    srv->socket_path = strdup(cfg->socket_path);
    if (!srv->socket_path)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");

    int rc = cfg->listen_fd >= 0 ? 0 : socket_path_prepare(srv->socket_path, lg, err);
    if (rc < 0)
        return rc;
    uv_timer_init(loop, &srv->grace);
    srv->grace.data = srv;
    srv->grace_open = 1;
    rc = infer_queue_init(&srv->infer, loop, cfg->workers, cfg->queue, cfg->inline_max_us,
                          conn_job_done, srv, err);
    if (rc < 0) {
        server_abort(srv);
        return rc;
    }
    srv->infer_open = 1;
    rc = server_listen(srv, cfg->listen_fd, err);
    gid_t gid;
    if (rc == 0 && cfg->socket_group && srv->bound &&
        (rc = acl_group_id(cfg->socket_group, &gid, err)) == 0 &&
        chown(srv->socket_path, (uid_t)-1, gid) < 0)
        rc = ember_err_set(err, EMBER_EIO, "cannot give %s to group %s: %s", srv->socket_path,
                           cfg->socket_group, strerror(errno));
    if (rc == 0 && cfg->tls && cfg->tls->listen &&
        (rc = tls_server_start(&srv->tls, loop, cfg->tls, server_on_connection, srv, err)) == 0)
        srv->tls_on = 1;
    if (rc < 0) {
        server_abort(srv);
        return rc;
    }
    return 0;
}

void server_maybe_finish(server *srv)
{
    if (!srv->stopping || srv->finished || srv->nconns > 0 || srv->infer.in_flight > 0)
        return;
    srv->finished = 1;
    uv_timer_stop(&srv->grace);
    uv_close((uv_handle_t *)&srv->grace, NULL);
    srv->grace_open = 0;
    infer_queue_close(&srv->infer);
    srv->infer_open = 0;
    log_info(srv->log, "server: stopped");
    if (srv->on_stopped)
        srv->on_stopped(srv->stop_ctx);
}

static void server_on_grace_expired(uv_timer_t *t)
{
    server *srv = t->data;
    log_warn(srv->log, "server: closing %d connection(s) still busy after %d ms", srv->nconns,
             EMBERD_SHUTDOWN_GRACE_MS);
    for (conn *c = srv->conns; c; c = conn_next(c))
        conn_close(c);
}

void server_shutdown(server *srv, void (*on_stopped)(void *ctx), void *ctx)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    srv->on_stopped = on_stopped;
    srv->stop_ctx = ctx;
    log_info(srv->log, "server: shutting down (%d connection(s), %d job(s) in flight)", srv->nconns,
             srv->infer.in_flight);
    uv_close((uv_handle_t *)&srv->listener, NULL);
    srv->listener_open = 0;
    tls_server_close(&srv->tls);
    if (srv->bound && unlink(srv->socket_path) < 0 && errno != ENOENT)
        log_warn(srv->log, "server: cannot remove %s: %s", srv->socket_path, strerror(errno));
    srv->bound = 0;
    for (conn *c = srv->conns; c; c = conn_next(c))
        conn_shutdown(c);
    uv_timer_start(&srv->grace, server_on_grace_expired, EMBERD_SHUTDOWN_GRACE_MS, 0);
    server_maybe_finish(srv);
}

void server_free(server *srv)
{
    metrics_free(&srv->metrics);
    tls_server_free(&srv->tls);
    free(srv->socket_path);
    srv->socket_path = NULL;
}
