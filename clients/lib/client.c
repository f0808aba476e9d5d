/*
 * libember-client's connection: connect to emberd's Unix socket, send requests, read
 * responses, all with a deadline.
 *
 * The socket is non-blocking and every wait goes through poll with the time left until the
 * call's deadline, so no call outlives the client's timeout. Bytes read from the socket land
 * in rbuf; the response parser consumes them and leaves any bytes of a following pipelined
 * response there for the next read. A connection that the daemon closed while idle is noticed
 * before sending (a peek shows end-of-file) or, when the close races the send, by the reused
 * connection ending without a byte of answer; either way the request goes out once more on a
 * fresh connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "unknown"
#endif

#define RBUF_SIZE 65536

struct ember_client {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd; /* -1 when not connected */
    int timeout_ms;
    size_t max_body;
    unsigned connects;
    unsigned exchanges; /* responses read on the current connection */
    size_t rpos, rlen;  /* unparsed bytes are rbuf[rpos..rlen) */
    char rbuf[RBUF_SIZE];
};

/* How a read ended when it failed: the connection closed before any byte of the response. */
enum { READ_OK, READ_FAILED, READ_SILENT_CLOSE };

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1 for no deadline. */
static int64_t deadline_of(const ember_client *c)
{
    return c->timeout_ms < 0 ? -1 : now_ms() + c->timeout_ms;
}

static int time_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return 0;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void drop_connection(ember_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->exchanges = 0;
    c->rpos = c->rlen = 0;
}

/* Wait until fd has one of events; returns the revents or a negative code on timeout. */
static int wait_fd(ember_client *c, short events, int64_t deadline, const char *doing,
                   ember_err *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int left = time_left(deadline);
        int n = poll(&pfd, 1, left);
        if (n > 0)
            return pfd.revents;
        if (n == 0)
            return ember_err_set(err, EMBER_EIO, "timed out after %d ms %s emberd at %s",
                                 c->timeout_ms, doing, c->path);
        if (errno != EINTR)
            return ember_err_set(err, EMBER_EIO, "poll on %s: %s", c->path, strerror(errno));
    }
}

static int connect_error(ember_client *c, int e, ember_err *err)
{
    if (e == ENOENT)
        return ember_err_set(err, EMBER_ENOTFOUND,
                             "cannot connect to emberd at %s: %s (is emberd running?)", c->path,
                             strerror(e));
    if (e == ECONNREFUSED)
        return ember_err_set(err, EMBER_EIO,
                             "cannot connect to emberd at %s: %s (is emberd running?)", c->path,
                             strerror(e));
    return ember_err_set(err, EMBER_EIO, "cannot connect to emberd at %s: %s", c->path,
                         strerror(e));
}

static int connect_socket(ember_client *c, int64_t deadline, ember_err *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, c->path, sizeof addr.sun_path);

    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return ember_err_set(err, EMBER_EIO, "socket: %s", strerror(errno));
    for (;;) {
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN) {
            /* The daemon's listen backlog is full; a Unix socket gives no event for a free
             * slot, so retry shortly, within the deadline. */
            if (time_left(deadline) == 0) {
                drop_connection(c);
                return ember_err_set(err, EMBER_EIO,
                                     "timed out after %d ms connecting to emberd at %s "
                                     "(its backlog is full)",
                                     c->timeout_ms, c->path);
            }
            poll(NULL, 0, 10);
            continue;
        }
        if (e == EINPROGRESS) {
            int so_err = 0;
            socklen_t len = sizeof so_err;
            int rc = wait_fd(c, POLLOUT, deadline, "connecting to", err);
            if (rc < 0) {
                drop_connection(c);
                return rc;
            }
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_err, &len);
            if (so_err == 0)
                break;
            e = so_err;
        }
        drop_connection(c);
        return connect_error(c, e, err);
    }
    c->connects++;
    c->exchanges = 0;
    c->rpos = c->rlen = 0;
    return 0;
}

/* True when the daemon has closed (or written unprompted to) an idle connection; either way
 * it cannot carry a new request. */
static int idle_connection_dead(ember_client *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    char byte;
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return 1;
}

/*
 * Write the iovecs. With stop_on_input, stop early when the daemon starts answering (or
 * closes) before everything is written, setting *early. *sent counts bytes written.
 * On failure *sys_errno holds the send error (0 for a timeout).
 */
static int send_iov(ember_client *c, struct iovec *iov, int iovcnt, int64_t deadline,
                    int stop_on_input, size_t *sent, int *early, int *sys_errno, ember_err *err)
{
    *sent = 0;
    *early = 0;
    *sys_errno = 0;
    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        short events = POLLOUT | (stop_on_input ? POLLIN : 0);
        int rev = wait_fd(c, events, deadline, "sending to", err);
        if (rev < 0)
            return rev;
        if (stop_on_input && (rev & (POLLIN | POLLHUP))) {
            *early = 1;
            return 0;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            *sys_errno = errno;
            return ember_err_set(err, EMBER_EIO, "sending to emberd at %s: %s", c->path,
                                 strerror(errno));
        }
        *sent += (size_t)n;
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Read one response. *how tells a silent close (no byte of response) from other failures. */
static int read_response(ember_client *c, int head, ember_response *resp, int64_t deadline,
                         int *how, ember_err *err)
{
    ember_resp_parser p;
    size_t got = 0;
    int rc;

    *how = READ_FAILED;
    rc = ember_resp_parser_init(&p, resp, c->max_body, head, err);
    if (rc < 0)
        return rc;
    for (;;) {
        if (c->rpos < c->rlen) {
            size_t used;
            rc = ember_resp_parser_feed(&p, c->rbuf + c->rpos, c->rlen - c->rpos, &used, err);
            c->rpos += used;
            got += used;
            if (rc < 0)
                goto fail;
            if (p.done) {
                int s = resp->status;
                if (s >= 100 && s < 200 && s != 101) {
                    /* An interim response (100 Continue): the real one follows. */
                    ember_response_free(resp);
                    rc = ember_resp_parser_init(&p, resp, c->max_body, head, err);
                    if (rc < 0)
                        goto fail;
                    continue;
                }
                break;
            }
            continue;
        }
        rc = wait_fd(c, POLLIN, deadline, "waiting for a response from", err);
        if (rc < 0)
            goto fail;
        ssize_t n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0 && errno != ECONNRESET) {
            rc = ember_err_set(err, EMBER_EIO, "reading from emberd at %s: %s", c->path,
                               strerror(errno));
            goto fail;
        }
        if (n <= 0) {
            rc = ember_resp_parser_eof(&p, err);
            if (rc < 0)
                goto fail;
            if (p.done)
                break;
            if (got == 0) {
                *how = READ_SILENT_CLOSE;
                rc = ember_err_set(err, EMBER_EIO,
                                   "emberd at %s closed the connection without answering", c->path);
            } else {
                rc = ember_err_set(err, EMBER_EIO,
                                   "emberd at %s closed the connection in the middle of a "
                                   "response",
                                   c->path);
            }
            goto fail;
        }
        c->rpos = 0;
        c->rlen = (size_t)n;
    }
    *how = READ_OK;
    c->exchanges++;
    if (!resp->keep_alive)
        drop_connection(c);
    return 0;

fail:
    ember_response_free(resp);
    drop_connection(c);
    return rc;
}

static int bad_token(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") != NULL;
}

static int build_head(char *buf, size_t cap, const char *method, const char *path,
                      const ember_header *headers, int nheaders, size_t body_len, ember_err *err)
{
    if (bad_token(method) || !*method || bad_token(path) || !*path)
        return ember_err_set(err, EMBER_EINVAL,
                             "request method and path must be non-empty "
                             "and contain no line breaks");
    int has_body = body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    size_t len = 0;
    int n = snprintf(buf, cap,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ember-client/" EMBER_VERSION
                     "\r\n",
                     method, path);
    if (n < 0 || (size_t)n >= cap)
        goto too_long;
    len = (size_t)n;
    for (int i = 0; i < nheaders; i++) {
        if (bad_token(headers[i].name) || bad_token(headers[i].value))
            return ember_err_set(err, EMBER_EINVAL, "request header %d has a line break", i);
        n = snprintf(buf + len, cap - len, "%s: %s\r\n", headers[i].name, headers[i].value);
        if (n < 0 || (size_t)n >= cap - len)
            goto too_long;
        len += (size_t)n;
    }
    if (has_body)
        n = snprintf(buf + len, cap - len, "Content-Length: %zu\r\n\r\n", body_len);
    else
        n = snprintf(buf + len, cap - len, "\r\n");
    if (n < 0 || (size_t)n >= cap - len)
        goto too_long;
    return (int)(len + (size_t)n);

too_long:
    return ember_err_set(err, EMBER_ENOMEM, "request line and headers exceed %d bytes",
                         EMBER_CLIENT_MAX_REQUEST_HEAD);
}

const char *ember_client_default_socket(void)
{
    const char *env = getenv(EMBER_CLIENT_SOCKET_ENV);
    return env && *env ? env : EMBER_CLIENT_DEFAULT_SOCKET;
}

int ember_client_open(const char *path, const ember_client_opts *opts, ember_client **out,
                      ember_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return ember_err_set(err, EMBER_EINVAL, "empty socket path");
    ember_client *c = calloc(1, sizeof *c);
    if (!c)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    if (strlen(path) >= sizeof c->path) {
        free(c);
        return ember_err_set(err, EMBER_EINVAL, "socket path is longer than %zu bytes: %s",
                             sizeof c->path - 1, path);
    }
    strcpy(c->path, path);
    c->fd = -1;
    c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : EMBER_CLIENT_DEFAULT_TIMEOUT_MS;
    c->max_body = opts && opts->max_body ? opts->max_body : EMBER_CLIENT_DEFAULT_MAX_BODY;
    int rc = connect_socket(c, deadline_of(c), err);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ember_client_close(ember_client *c)
{
    if (!c)
        return;
    drop_connection(c);
    free(c);
}

int ember_client_request(ember_client *c, const char *method, const char *path,
                         const ember_header *headers, int nheaders, const void *body,
                         size_t body_len, ember_response *resp, ember_err *err)
{
    char head[EMBER_CLIENT_MAX_REQUEST_HEAD];
    int64_t deadline = deadline_of(c);
    int is_head = method && strcmp(method, "HEAD") == 0;

    memset(resp, 0, sizeof *resp);
    if (c->fd >= 0 && c->rpos < c->rlen)
        return ember_err_set(err, EMBER_ESTATE, "an earlier pipelined response has not been read");
    int head_len = build_head(head, sizeof head, method, path, headers, nheaders, body_len, err);
    if (head_len < 0)
        return head_len;

    for (int attempt = 0;; attempt++) {
        int rc, how, early, sys_errno;
        size_t sent;

        if (c->fd >= 0 && idle_connection_dead(c))
            drop_connection(c);
        if (c->fd < 0 && (rc = connect_socket(c, deadline, err)) < 0)
            return rc;
        int reused = c->exchanges > 0;
        int may_retry = reused && attempt == 0;

        struct iovec iov[2] = {{head, (size_t)head_len}, {(void *)body, body ? body_len : 0}};
        rc = send_iov(c, iov, 2, deadline, 1, &sent, &early, &sys_errno, err);
        if (rc < 0) {
            if (sent == 0 && may_retry && (sys_errno == EPIPE || sys_errno == ECONNRESET)) {
                drop_connection(c);
                continue;
            }
            if (sent == 0 || sys_errno == 0) {
                drop_connection(c);
                return rc;
            }
            /* The daemon stopped reading mid-request; it may have said why (413). If not,
             * the send error is the one to report. */
            ember_err read_err;
            if (read_response(c, is_head, resp, deadline, &how, &read_err) == 0) {
                drop_connection(c);
                return 0;
            }
            return rc;
        }
        rc = read_response(c, is_head, resp, deadline, &how, err);
        if (rc < 0 && how == READ_SILENT_CLOSE && may_retry)
            continue;
        /* A response that came before the whole request was written leaves the connection
         * in the middle of a request; it cannot carry another. */
        if (early)
            drop_connection(c);
        return rc;
    }
}

int ember_client_get(ember_client *c, const char *path, ember_response *resp, ember_err *err)
{
    return ember_client_request(c, "GET", path, NULL, 0, NULL, 0, resp, err);
}

int ember_client_post_json(ember_client *c, const char *path, const void *body, size_t body_len,
                           ember_response *resp, ember_err *err)
{
    static const ember_header json = {"Content-Type", "application/json"};
    return ember_client_request(c, "POST", path, &json, 1, body, body_len, resp, err);
}

int ember_client_send_raw(ember_client *c, const void *buf, size_t len, ember_err *err)
{
    int64_t deadline = deadline_of(c);
    int rc, early, sys_errno;
    size_t sent;

    if (c->fd < 0 && (rc = connect_socket(c, deadline, err)) < 0)
        return rc;
    struct iovec iov = {(void *)buf, len};
    rc = send_iov(c, &iov, 1, deadline, 0, &sent, &early, &sys_errno, err);
    if (rc < 0)
        drop_connection(c);
    return rc;
}

int ember_client_recv_response(ember_client *c, const char *method, ember_response *resp,
                               ember_err *err)
{
    int how;

    memset(resp, 0, sizeof *resp);
    if (c->fd < 0)
        return ember_err_set(err, EMBER_ESTATE, "not connected to emberd at %s", c->path);
    return read_response(c, method && strcmp(method, "HEAD") == 0, resp, deadline_of(c), &how, err);
}

unsigned ember_client_connect_count(const ember_client *c)
{
    return c->connects;
}
