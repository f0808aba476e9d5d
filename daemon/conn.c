/*
 * One client connection. Bytes land in `in`; conn_pump feeds them to the connection's HTTP
 * reader, which stops after each complete request, so a connection answers one request at a
 * time and pipelined ones wait, in order, as unparsed bytes. While a request is busy the
 * connection keeps reading up to EMBERD_READ_AHEAD bytes (so it notices a hang-up) and then
 * stops. A request is answered by the router at once or by an inference job later; the
 * response is written, and when the write completes the next request is pumped.
 *
 * Slow or silent clients: while emberd waits for the client (not for an answer of its own)
 * the client timer runs: a header section must arrive within header_timeout_ms of its
 * first byte, and a body that stalls for idle_timeout_ms is answered 408; a connection
 * silent for idle_timeout_ms between requests is closed.
 *
 * TLS (tls.h): a connection from the TCP listener carries a session. The bytes libuv reads
 * are ciphertext for the session, which decrypts them into `in`; every write is encrypted
 * first. Until the handshake is done the client timer runs with header_timeout_ms, so a
 * stalled handshake is closed; a failed one (bad certificate, old protocol, plaintext HTTP)
 * gets the TLS alert and no HTTP answer. The role comes from the client's certificate once
 * the handshake is done; no request can arrive before.
 *
 * Lifetime: the stream handle, the two timers and every job in flight each hold a reference;
 * conn_close closes the handles and the memory goes when the last reference does, so a job
 * finishing after its client left finds a closed connection, not freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "limits.h"
#include "server.h"

struct conn {
    union {
        uv_stream_t stream;
        uv_pipe_t pipe; /* from the Unix socket */
        uv_tcp_t tcp;   /* from the TLS listener */
    };
    ember_tls *tls;    /* the TLS session, NULL on the Unix socket */
    int tls_ready;     /* its handshake is done and role set */
    uv_timer_t timer;  /* the linger deadline */
    uv_timer_t client; /* the slow-client deadline */
    int client_mode;   /* what the client timer is running for (enum below) */
    uv_shutdown_t shutdown_req;
    server *srv;
    ember_http_reader *reader;
    infer_job *job; /* the inference this connection waits for, NULL when none */
    char *in;       /* received bytes; [in_off, in_len) not yet fed to the reader */
    size_t in_off, in_len, in_cap;
    int refs;
    int busy;   /* a request is being answered */
    int last;   /* close after the response being prepared */
    int head;   /* the request being answered is a HEAD */
    int dead;   /* parse nothing more: the last request came, or the reader failed */
    int failed; /* the reader failed: the client may still be sending */
    int eof;    /* the client will send nothing more */
    int reading;
    int lingering; /* draining input after the last response, until EOF or the timer */
    int closing;
    int pumping;      /* conn_pump is on the stack: an answer written at once leaves it to go on */
    char desc[128];   /* "POST /v2/models/digits/infer" for the log */
    char who[192];    /* the peer, for 403s and the log (a long subject is cut) */
    daemon_role role; /* what the acl grants the peer */
    conn *prev, *next;
};

enum { CLIENT_NONE, CLIENT_IDLE, CLIENT_HEADERS, CLIENT_BODY, CLIENT_HANDSHAKE };

typedef struct conn_write {
    uv_write_t req;
    conn *c;
    char *owned; /* freed when the write completes; NULL for static bytes */
    int ends_request;
} conn_write;

static void conn_pump(conn *c);

static void conn_unref(conn *c)
{
    if (--c->refs > 0)
        return;
    server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    ember_http_reader_free(c->reader);
    if (c->tls)
        tls_session_free(&srv->tls, c->tls);
    free(c->in);
    free(c);
    server_maybe_finish(srv);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->stream, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->client, conn_on_handle_closed);
}

/* Make room for at least need more bytes at the end of `in`. A buffer is grown only when
 * short: realloc copies (and so makes resident) the whole old buffer. */
static int conn_room(conn *c, size_t need)
{
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_cap - c->in_len < need) {
        char *p = realloc(c->in, c->in_len + EMBERD_READ_CHUNK);
        if (!p)
            return -1;
        c->in = p;
        c->in_cap = c->in_len + EMBERD_READ_CHUNK;
    }
    return 0;
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    if (conn_room(c, EMBERD_READ_CHUNK) < 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_update_reading(conn *c)
{
    int want = !c->closing && !c->eof &&
               (c->lingering || (!c->dead && c->in_len - c->in_off < EMBERD_READ_AHEAD));
    if (want && !c->reading) {
        if (uv_read_start(&c->stream, conn_alloc, conn_on_read) < 0) {
            conn_close(c);
            return;
        }
        c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop(&c->stream);
        c->reading = 0;
    }
}

static void conn_on_linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* After an error response to a client that may still be sending: half-close, drain what
 * arrives, close on EOF or after EMBERD_LINGER_MS. */
static void conn_linger(conn *c)
{
    c->lingering = 1;
    c->in_off = c->in_len = 0;
    if (uv_shutdown(&c->shutdown_req, &c->stream, conn_on_shutdown) < 0 ||
        uv_timer_start(&c->timer, conn_on_linger_timeout, EMBERD_LINGER_MS, 0) < 0) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

/* The answer to the request in hand is written: on to the next one, or the end. */
static void conn_request_written(conn *c)
{
    c->busy = 0;
    if (!c->last) {
        if (!c->pumping)
            conn_pump(c);
    } else if (!c->eof && !c->srv->stopping &&
               (c->failed || ember_http_reader_in_request(c->reader))) {
        conn_linger(c);
    } else {
        conn_close(c);
    }
}

static void conn_on_write(uv_write_t *req, int status)
{
    conn_write *w = req->data;
    conn *c = w->c;
    int ends_request = w->ends_request;
    free(w->owned);
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        log_debug(c->srv->log, "http: write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    if (ends_request)
        conn_request_written(c);
}

/* Write bytes as they are; owned (may be NULL) is freed once written. An answer that fits
 * the socket's buffer is written at once, with no write request: that spares a loop turn
 * before the next request and libuv's epoll_ctl after each completed write. The last answer
 * of a connection always goes the queued way, so closing or lingering happens after
 * conn_pump has returned. */
static void conn_write_bytes(conn *c, const char *bytes, size_t len, char *owned, int ends_request)
{
    if (!(ends_request && c->last) && uv_stream_get_write_queue_size(&c->stream) == 0) {
        uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)len);
        int n = uv_try_write(&c->stream, &b, 1);
        if (n == (int)len) {
            free(owned);
            if (ends_request)
                conn_request_written(c);
            return;
        }
        if (n < 0 && n != UV_EAGAIN) {
            log_debug(c->srv->log, "http: write failed: %s", uv_strerror(n));
            free(owned);
            conn_close(c);
            return;
        }
        if (n > 0) {
            bytes += n;
            len -= (size_t)n;
        }
    }
    conn_write *w = malloc(sizeof *w);
    if (!w) {
        free(owned);
        conn_close(c);
        return;
    }
    w->c = c;
    w->owned = owned;
    w->ends_request = ends_request;
    w->req.data = w;
    uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)len);
    int rc = uv_write(&w->req, &c->stream, &b, 1, conn_on_write);
    if (rc < 0) {
        log_debug(c->srv->log, "http: write failed: %s", uv_strerror(rc));
        free(owned);
        free(w);
        conn_close(c);
    }
}

/* Write bytes; owned (may be NULL) is freed once written. On TLS the bytes are encrypted
 * first, and the last response of the connection is followed by close_notify. */
static void conn_send(conn *c, const char *bytes, size_t len, char *owned, int ends_request)
{
    if (c->tls) {
        char *cipher;
        ember_err err = {{0}};
        int rc = tls_session_seal(&c->srv->tls, c->tls, bytes, len, ends_request && c->last,
                                  &cipher, &len, &err);
        free(owned);
        if (rc < 0) {
            log_debug(c->srv->log, "tls: %s: %s", c->who, err.msg);
            conn_close(c);
            return;
        }
        bytes = owned = cipher;
    }
    conn_write_bytes(c, bytes, len, owned, ends_request);
}

/* nread bytes of ciphertext just landed at the end of `in`: hand them to the session, put
 * what they decrypt to in their place, and send what the session has to say (handshake
 * messages, or the alert that ends a failed handshake). 1 when the client sent close_notify,
 * 0 to go on, -1 when the connection is failing: it drains and closes. */
static int conn_tls_input(conn *c, size_t nread)
{
    server *srv = c->srv;
    ember_err err = {{0}};
    int rc = tls_session_input(&srv->tls, c->tls, c->in + c->in_len, nread, &err);
    while (rc == EMBER_TLS_MORE) {
        size_t before = c->in_len;
        if (conn_room(c, EMBERD_TLS_RECORD) < 0) {
            rc = ember_err_set(&err, EMBER_ENOMEM, "out of memory");
            break;
        }
        rc = tls_session_read(&srv->tls, c->tls, c->in, c->in_cap, &c->in_len, &err);
        if (c->in_len == before)
            break;
    }
    if (rc >= 0 && !c->tls_ready && tls_session_established(&srv->tls, c->tls)) {
        c->tls_ready = 1;
        c->role = tls_session_role(&srv->tls, c->tls, c->who, sizeof c->who);
        log_debug(srv->log, "tls: %s connected with the role '%s'", c->who, acl_role_name(c->role));
    }
    char *out;
    size_t out_len;
    ember_err werr = {{0}};
    if (tls_session_seal(&srv->tls, c->tls, NULL, 0, 0, &out, &out_len, &werr) == 0 && out)
        conn_write_bytes(c, out, out_len, out, 0);
    if (c->closing)
        return -1;
    if (rc < 0) {
        log_info(srv->log, "tls: %s: %s%s", c->who,
                 c->tls_ready ? "" : "handshake failed: ", err.msg);
        c->dead = c->failed = 1;
        conn_linger(c);
        return -1;
    }
    return rc == EMBER_TLS_CLOSED;
}

/* Answer the request in hand with a body (borrowed) of content_type (NULL: JSON). */
static void conn_reply_typed(conn *c, int status, const char *body, size_t len, const char *allow,
                             const char *content_type, size_t binary_header)
{
    ember_http_header extra[3];
    char ihcl[32];
    int nextra = 0;
    if (binary_header) {
        snprintf(ihcl, sizeof ihcl, "%zu", binary_header);
        extra[nextra++] = (ember_http_header){"Inference-Header-Content-Length", ihcl};
        content_type = "application/octet-stream";
    }
    if (allow)
        extra[nextra++] = (ember_http_header){"Allow", allow};
    if (status == 503)
        extra[nextra++] = (ember_http_header){"Retry-After", "1"};
    if (!body) {
        status = 500;
        len = 0;
    }
    ember_http_response resp = {
        .status = status,
        .content_type = content_type ? content_type : "application/json",
        .body = body,
        .body_len = len,
        .keep_alive = !c->last,
        .head = c->head,
        .headers = extra,
        .nheaders = nextra,
    };
    char *out;
    size_t out_len;
    ember_err err = {{0}};
    if (ember_http_response_serialize(&resp, &out, &out_len, &err) < 0) {
        log_error(c->srv->log, "http: %s: cannot write the response: %s", c->desc, err.msg);
        conn_close(c);
        return;
    }
    log_debug(c->srv->log, "http: %s -> %d", c->desc, status);
    conn_send(c, out, out_len, out, 1);
}

static void conn_reply(conn *c, int status, const char *body, size_t len, const char *allow)
{
    conn_reply_typed(c, status, body, len, allow, NULL, 0);
}

static void conn_reply_parse_error(conn *c, const char *msg)
{
    int status = ember_http_reader_error_status(c->reader);
    c->busy = c->dead = c->failed = c->last = 1;
    c->head = 0;
    snprintf(c->desc, sizeof c->desc, "(unparsable request)");
    log_debug(c->srv->log, "http: rejecting a request: %s", msg);
    size_t len;
    char *body = ember_kserve_error_json(msg, &len);
    conn_reply(c, status, body, len, NULL);
    free(body);
}

/* The status of a load that could not start. */
static int conn_load_status(int rc)
{
    switch (rc) {
    case EMBER_ENOTFOUND: return 404;
    case EMBER_EINVAL: return 400;
    case EMBER_ESTATE: return 409;
    case EMBER_EBUSY: return 503;
    default: return 500;
    }
}

/* A load job ended (loop thread): answer it like a finished inference. */
static void conn_on_load_done(void *arg, int status, const char *msg)
{
    infer_job *job = arg;
    conn *c = job->owner;
    job->status = status;
    if (status == 200) {
        size_t cap = strlen(job->name) + 64;
        job->json = malloc(cap);
        if (job->json)
            job->json_len = (size_t)snprintf(job->json, cap,
                                             "{\"name\":\"%s\",\"state\":\"READY\"}", job->name);
    } else {
        job->json = ember_kserve_error_json(msg, &job->json_len);
    }
    conn_job_done(job, c->srv);
}

static void conn_dispatch(conn *c, ember_http_request *req)
{
    server *srv = c->srv;
    c->busy = 1;
    c->head = req->method == EMBER_HTTP_HEAD;
    c->last = !req->keep_alive || srv->stopping;
    c->dead = c->dead || !req->keep_alive;
    snprintf(c->desc, sizeof c->desc, "%s %.100s", req->method_name, req->path);

    route_reply reply;
    infer_job *job = NULL;
    daemon_role need = router_role(req);
    if (c->role < need) {
        char msg[sizeof c->who + 64];
        snprintf(msg, sizeof msg, "forbidden: %s has the role '%s'; this needs '%s'", c->who,
                 acl_role_name(c->role), acl_role_name(need));
        log_info(srv->log, "http: %s: %s", c->desc, msg);
        memset(&reply, 0, sizeof reply);
        router_error(&reply, 403, msg);
    } else if (router_route(&srv->router, req, &reply, &job) == 1) {
        job->owner = c;
        ember_err err = {{0}};
        /* The job's reference is taken first: an expired job is answered inside submit. */
        c->refs++;
        if (job->kind == JOB_INFER)
            c->job = job;
        int rc = job->kind == JOB_LOAD
                     ? registry_load_async(srv->router.reg, job->name, conn_on_load_done, job, &err)
                     : infer_submit(&srv->infer, job);
        if (rc == 0) {
            ember_http_request_free(req);
            return;
        }
        c->refs--;
        c->job = NULL;
        if (job->kind == JOB_INFER)
            metrics_refused(&srv->metrics, job->entry, 503);
        infer_job_free(job);
        if (err.msg[0])
            router_error(&reply, conn_load_status(rc), err.msg);
        else
            router_error(&reply, 503,
                         rc == EMBER_EBUSY ? "the inference queue is full; retry later"
                                           : "the server is shutting down");
    }
    ember_http_request_free(req);
    conn_reply_typed(c, reply.status, reply.body, reply.body_len, reply.allow, reply.content_type,
                     0);
    free(reply.body);
}

void conn_job_done(infer_job *job, void *ctx)
{
    server *srv = ctx;
    conn *c = job->owner;
    if (c->job == job)
        c->job = NULL;
    if (job->kind == JOB_INFER)
        metrics_observe(&srv->metrics, job);
    if (job->status >= 500 && job->status != 504)
        log_error(srv->log, "infer: %s: %d %.*s", c->desc, job->status, (int)job->json_len,
                  job->json ? job->json : "");
    if (!c->closing)
        conn_reply_typed(c, job->status, job->json, job->json_len, NULL, NULL,
                         job->json_header_len);
    else
        log_debug(srv->log, "infer: %s: client gone, answer dropped", c->desc);
    infer_job_free(job);
    conn_unref(c);
}

static void conn_on_client_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    int mode = c->client_mode;
    c->client_mode = CLIENT_NONE;
    if (c->closing || c->busy)
        return;
    if (mode == CLIENT_HANDSHAKE) {
        log_info(c->srv->log, "tls: closing %s: no TLS handshake within %d ms", c->who,
                 c->srv->header_timeout_ms);
        conn_close(c);
        return;
    }
    if (mode == CLIENT_IDLE) {
        log_debug(c->srv->log, "http: closing a connection idle for %d ms",
                  c->srv->idle_timeout_ms);
        conn_close(c);
        return;
    }
    char msg[128];
    if (mode == CLIENT_HEADERS)
        snprintf(msg, sizeof msg, "the request's headers did not arrive within %d ms",
                 c->srv->header_timeout_ms);
    else
        snprintf(msg, sizeof msg, "the request's body stalled for %d ms", c->srv->idle_timeout_ms);
    c->busy = c->dead = c->failed = c->last = 1;
    c->head = 0;
    snprintf(c->desc, sizeof c->desc, "(slow request)");
    log_debug(c->srv->log, "http: %s", msg);
    size_t len;
    char *body = ember_kserve_error_json(msg, &len);
    conn_reply(c, 408, body, len, NULL);
    free(body);
}

/* Start, keep or stop the client timer for what the connection now waits on. The header
 * deadline counts from the request's first byte, so a trickle of bytes cannot extend it. */
static void conn_client_timer(conn *c)
{
    int mode = CLIENT_NONE;
    if (!c->closing && !c->lingering && !c->busy && !c->dead && !c->eof) {
        if (c->tls && !c->tls_ready)
            mode = CLIENT_HANDSHAKE;
        else if (ember_http_reader_in_headers(c->reader))
            mode = CLIENT_HEADERS;
        else if (ember_http_reader_in_request(c->reader))
            mode = CLIENT_BODY;
        else
            mode = CLIENT_IDLE;
    }
    if ((mode == CLIENT_HEADERS || mode == CLIENT_HANDSHAKE) && c->client_mode == mode)
        return;
    c->client_mode = mode;
    if (mode == CLIENT_NONE) {
        uv_timer_stop(&c->client);
        return;
    }
    int ms = mode == CLIENT_HEADERS || mode == CLIENT_HANDSHAKE ? c->srv->header_timeout_ms
                                                                : c->srv->idle_timeout_ms;
    uv_timer_start(&c->client, conn_on_client_timeout, (uint64_t)ms, 0);
}

static void conn_pump(conn *c)
{
    server *srv = c->srv;
    c->pumping = 1;
    while (!c->busy && !c->dead && !c->closing && !srv->stopping && c->in_off < c->in_len) {
        size_t used = 0;
        ember_http_request *req = NULL;
        ember_err err = {{0}};
        int rc = ember_http_reader_feed(c->reader, c->in + c->in_off, c->in_len - c->in_off, &used,
                                        &req, &err);
        c->in_off += used;
        if (rc < 0)
            conn_reply_parse_error(c, err.msg);
        else if (rc == EMBER_HTTP_CONTINUE)
            conn_send(c, EMBER_HTTP_CONTINUE_LINE, strlen(EMBER_HTTP_CONTINUE_LINE), NULL, 0);
        else if (rc == EMBER_HTTP_REQUEST)
            conn_dispatch(c, req);
    }
    c->pumping = 0;
    if (c->closing)
        return;
    if (!c->busy && (srv->stopping || c->eof || c->dead)) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
    conn_client_timer(c);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (nread == 0 || c->closing)
        return;
    if (nread > 0) {
        if (c->lingering)
            return; /* draining: the bytes are dropped */
        int closed = 0;
        if (!c->tls)
            c->in_len += (size_t)nread;
        else if ((closed = conn_tls_input(c, (size_t)nread)) < 0)
            return;
        if (!closed) {
            conn_pump(c);
            return;
        }
    } else if (nread != UV_EOF) {
        log_debug(c->srv->log, "http: read failed: %s", uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    c->eof = 1;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    /* The client left while its request waited for a worker: withdraw it, no compute. */
    if (c->job && c->job->sched_index >= 0) {
        infer_job *job = c->job;
        log_debug(c->srv->log, "infer: %s: client gone before its request ran", c->desc);
        conn_close(c); /* first, so the withdrawn job's answer is dropped */
        infer_cancel(&c->srv->infer, job);
        return;
    }
    conn_pump(c);
}

conn *conn_next(const conn *c)
{
    return c->next;
}

/* On server shutdown: an idle connection closes now, a busy one after its answer. */
void conn_shutdown(conn *c)
{
    if (c->busy)
        c->last = 1;
    else
        conn_close(c);
}

/* A TLS client: its session, its address for the log; the role waits for the handshake. */
static int conn_accept_tls(conn *c)
{
    server *srv = c->srv;
    char addr[80];
    uv_tcp_nodelay(&c->tcp, 1);
    tls_addr_name(&c->tcp, 1, addr, sizeof addr);
    snprintf(c->who, sizeof c->who, "TLS client %s", addr);
    c->role = ROLE_NONE;
    if (tls_session_new(&srv->tls, &c->tls) < 0) {
        log_error(srv->log, "tls: out of memory accepting a connection");
        return -1;
    }
    return 0;
}

/* A Unix socket client: who it is, from the kernel, and its role from the acl. */
static int conn_accept_local(conn *c)
{
    server *srv = c->srv;
    uv_os_fd_t fd;
    uid_t uid;
    gid_t gids[EMBERD_MAX_PEER_GROUPS + 1];
    int ngids = uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0
                    ? acl_peer(fd, &uid, gids, EMBERD_MAX_PEER_GROUPS + 1)
                    : -1;
    if (ngids < 0) {
        log_warn(srv->log, "http: cannot learn who connected; closing the connection");
        return -1;
    }
    snprintf(c->who, sizeof c->who, "uid %u", (unsigned)uid);
    c->role = acl_role(srv->acl, srv->self, uid, gids, ngids);
    return 0;
}

void conn_accept(server *srv, int tls)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error(srv->log, "http: out of memory accepting a connection");
        return;
    }
    c->srv = srv;
    if (tls)
        uv_tcp_init(srv->loop, &c->tcp);
    else
        uv_pipe_init(srv->loop, &c->pipe, 0);
    uv_timer_init(srv->loop, &c->timer);
    uv_timer_init(srv->loop, &c->client);
    c->stream.data = c->timer.data = c->client.data = c;
    c->refs = 3;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;

    uv_stream_t *listener = tls ? (uv_stream_t *)&srv->tls.listener : (uv_stream_t *)&srv->listener;
    int rc = uv_accept(listener, &c->stream);
    if (rc < 0) {
        log_warn(srv->log, "http: accept failed: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    if (srv->nconns > srv->max_conns) {
        log_warn(srv->log, "http: more than %d connections; closing a new one", srv->max_conns);
        conn_close(c);
        return;
    }
    if ((tls ? conn_accept_tls(c) : conn_accept_local(c)) < 0) {
        conn_close(c);
        return;
    }
    ember_err err = {{0}};
    if (ember_http_reader_create(NULL, &c->reader, &err) < 0) {
        log_error(srv->log, "http: %s", err.msg);
        conn_close(c);
        return;
    }
    conn_update_reading(c);
    conn_client_timer(c);
}
