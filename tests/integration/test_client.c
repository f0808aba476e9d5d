/*
 * libember-client against a scripted server, for the behaviour a well-mannered emberd never
 * shows on demand: closing an idle kept-alive connection, closing one just as a request
 * arrives, never answering, oversized, chunked, close-delimited, interim and malformed
 * responses, an early 413 while a large body is still being sent.
 *
 * Each test runs a server thread on a Unix socket in a temporary directory. The thread follows
 * a small script (accept, read a request, write bytes, close) and records its own failures,
 * which the test checks after joining it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

typedef struct fake_server fake_server;
typedef void (*script_fn)(fake_server *s);

struct fake_server {
    char dir[IT_DIR_MAX];
    char path[IT_SOCK_MAX];
    int lfd;
    pthread_t tid;
    script_fn script;
    char fail[256]; /* first server-side problem, empty if none */
};

#define SRV_WAIT_MS 10000

static void srv_fail(fake_server *s, const char *what)
{
    if (!s->fail[0])
        snprintf(s->fail, sizeof s->fail, "server: %s", what);
}

static int srv_accept(fake_server *s)
{
    struct pollfd p = {.fd = s->lfd, .events = POLLIN};
    if (poll(&p, 1, SRV_WAIT_MS) != 1) {
        srv_fail(s, "no connection came");
        return -1;
    }
    return accept(s->lfd, NULL, NULL);
}

/* Read one request (headers, then a Content-Length body unless headers_only). Returns its
 * length, 0 when the client closed first, -1 on timeout. */
static int srv_read_request(fake_server *s, int fd, char *buf, size_t cap, int headers_only)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - buf);
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (headers_only || len >= head + body)
                return (int)len;
        }
        if (len + 1 >= cap) {
            srv_fail(s, "request larger than the server's buffer");
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, SRV_WAIT_MS) != 1) {
            srv_fail(s, "timed out reading a request");
            return -1;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

static void srv_write(fake_server *s, int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            srv_fail(s, "write failed");
            return;
        }
        off += (size_t)n;
    }
}

/* Wait until the client closes fd (or SRV_WAIT_MS), then close it. */
static void srv_drain_close(int fd)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, SRV_WAIT_MS) != 1 || read(fd, buf, sizeof buf) <= 0)
            break;
    }
    close(fd);
}

static void *srv_main(void *arg)
{
    fake_server *s = arg;
    s->script(s);
    return NULL;
}

static void srv_start(fake_server *s, script_fn script)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    memset(s, 0, sizeof *s);
    it_mkdtemp(s->dir);
    snprintf(s->path, sizeof s->path, "%s/fake.sock", s->dir);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s->path);
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert(s->lfd >= 0);
    ck_assert_msg(bind(s->lfd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind: %s",
                  strerror(errno));
    ck_assert(listen(s->lfd, 8) == 0);
    s->script = script;
    ck_assert(pthread_create(&s->tid, NULL, srv_main, s) == 0);
}

static void srv_finish(fake_server *s)
{
    pthread_join(s->tid, NULL);
    close(s->lfd);
    unlink(s->path);
    rmdir(s->dir);
    ck_assert_msg(!s->fail[0], "%s", s->fail);
}

static ember_client *open_client(fake_server *s, int timeout_ms, size_t max_body)
{
    ember_client_opts opts = {.timeout_ms = timeout_ms, .max_body = max_body};
    ember_client *c;
    ember_err err;
    ck_assert_msg(ember_client_open(s->path, &opts, &c, &err) == 0, "%s", err.msg);
    return c;
}

static void get_body(ember_client *c, const char *want)
{
    ember_response r;
    ember_err err;
    ck_assert_msg(ember_client_get(c, "/x", &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, want);
    ember_response_free(&r);
}

#define OK_ONE "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
#define OK_TWO "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"

/* --- the server closes a kept-alive connection while it is idle --- */

static void script_idle_close(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, OK_ONE);
    close(fd);
    fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, OK_TWO);
    srv_drain_close(fd);
}

START_TEST(reconnects_after_idle_close)
{
    fake_server s;
    srv_start(&s, script_idle_close);
    ember_client *c = open_client(&s, 5000, 0);
    get_body(c, "one");
    usleep(100 * 1000); /* let the close arrive */
    get_body(c, "two");
    ck_assert_uint_eq(ember_client_connect_count(c), 2);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* --- the server closes just as the next request arrives, without answering --- */

static void script_close_on_second(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, OK_ONE);
    srv_read_request(s, fd, buf, sizeof buf, 0);
    close(fd);
    fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, OK_TWO);
    srv_drain_close(fd);
}

START_TEST(retries_once_when_reused_connection_closes)
{
    fake_server s;
    srv_start(&s, script_close_on_second);
    ember_client *c = open_client(&s, 5000, 0);
    get_body(c, "one");
    get_body(c, "two");
    ck_assert_uint_eq(ember_client_connect_count(c), 2);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

static void script_never_answers_again(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, OK_ONE);
    srv_read_request(s, fd, buf, sizeof buf, 0);
    close(fd);
    fd = srv_accept(s);
    if (fd < 0)
        return;
    srv_read_request(s, fd, buf, sizeof buf, 0);
    close(fd);
}

START_TEST(does_not_retry_twice)
{
    fake_server s;
    ember_response r;
    ember_err err;

    srv_start(&s, script_never_answers_again);
    ember_client *c = open_client(&s, 5000, 0);
    get_body(c, "one");
    int rc = ember_client_get(c, "/x", &r, &err);
    ck_assert_int_eq(rc, EMBER_EIO);
    ck_assert_msg(strstr(err.msg, "without answering") != NULL, "%s", err.msg);
    ck_assert_uint_eq(ember_client_connect_count(c), 2);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* A fresh connection closed without an answer is not retried: the request may have run. */
static void script_close_first(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    srv_read_request(s, fd, buf, sizeof buf, 0);
    close(fd);
}

START_TEST(no_retry_on_fresh_connection)
{
    fake_server s;
    ember_response r;
    ember_err err;

    srv_start(&s, script_close_first);
    ember_client *c = open_client(&s, 5000, 0);
    ck_assert_int_eq(ember_client_get(c, "/x", &r, &err), EMBER_EIO);
    ck_assert_uint_eq(ember_client_connect_count(c), 1);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* --- a hung server --- */

static void script_hang(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    srv_read_request(s, fd, buf, sizeof buf, 0);
    srv_drain_close(fd);
}

START_TEST(times_out)
{
    fake_server s;
    ember_response r;
    ember_err err;
    struct timespec t0, t1;

    srv_start(&s, script_hang);
    ember_client *c = open_client(&s, 300, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = ember_client_get(c, "/x", &r, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_int_eq(rc, EMBER_EIO);
    ck_assert_msg(strstr(err.msg, "timed out") && strstr(err.msg, s.path), "%s", err.msg);
    ck_assert_msg(took >= 0.25 && took < 3.0, "timeout of 300 ms took %.3f s", took);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* --- responses of every framing --- */

static const char *canned_reply;

static void script_canned(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, canned_reply);
    if (strstr(canned_reply, "Connection: close"))
        close(fd);
    else
        srv_drain_close(fd);
}

static int canned(const char *reply, size_t max_body, ember_response *r, ember_err *err)
{
    fake_server s;
    canned_reply = reply;
    srv_start(&s, script_canned);
    ember_client *c = open_client(&s, 5000, max_body);
    int rc = ember_client_get(c, "/x", r, err);
    ember_client_close(c);
    srv_finish(&s);
    return rc;
}

START_TEST(body_over_limit)
{
    static char reply[4096];
    ember_response r;
    ember_err err;

    int n = snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n");
    memset(reply + n, 'x', 2000);
    reply[n + 2000] = '\0';
    ck_assert_int_eq(canned(reply, 1000, &r, &err), EMBER_ENOMEM);
    ck_assert_ptr_null(r.body);
    ck_assert_int_eq(canned(reply, 2000, &r, &err), 0);
    ck_assert_uint_eq(r.body_len, 2000);
    ember_response_free(&r);
}
END_TEST

START_TEST(chunked_body)
{
    ember_response r;
    ember_err err;
    ck_assert_int_eq(canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                            0, &r, &err),
                     0);
    ck_assert_str_eq(r.body, "hello world");
    ck_assert_int_eq(r.keep_alive, 1);
    ember_response_free(&r);
    ck_assert_int_eq(canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                            8, &r, &err),
                     EMBER_ENOMEM);
}
END_TEST

START_TEST(close_delimited_body)
{
    ember_response r;
    ember_err err;
    ck_assert_int_eq(
        canned("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 0, &r, &err), 0);
    ck_assert_str_eq(r.body, "until the end");
    ck_assert_int_eq(r.keep_alive, 0);
    ember_response_free(&r);
}
END_TEST

START_TEST(interim_response_skipped)
{
    ember_response r;
    ember_err err;
    ck_assert_int_eq(canned("HTTP/1.1 100 Continue\r\n\r\n" OK_ONE, 0, &r, &err), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "one");
    ember_response_free(&r);
}
END_TEST

START_TEST(headers_kept)
{
    ember_response r;
    ember_err err;
    ck_assert_int_eq(canned("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n"
                            "X-Empty:\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                            "\r\n{}",
                            0, &r, &err),
                     0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(r.nheaders, 4);
    ck_assert_str_eq(ember_response_header(&r, "retry-after"), "2");
    ck_assert_str_eq(ember_response_header(&r, "X-EMPTY"), "");
    ck_assert_str_eq(ember_response_header(&r, "content-type"), "application/json");
    ck_assert_ptr_null(ember_response_header(&r, "Allow"));
    ck_assert_str_eq(r.body, "{}");
    ember_response_free(&r);
}
END_TEST

START_TEST(too_many_headers)
{
    static char reply[8192];
    ember_response r;
    ember_err err;
    size_t len = (size_t)snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= EMBER_CLIENT_MAX_HEADERS; i++)
        len += (size_t)snprintf(reply + len, sizeof reply - len, "X-H%d: v\r\n", i);
    snprintf(reply + len, sizeof reply - len, "Content-Length: 0\r\n\r\n");
    ck_assert_int_eq(canned(reply, 0, &r, &err), EMBER_ENOMEM);
}
END_TEST

START_TEST(malformed_response)
{
    ember_response r;
    ember_err err;
    ck_assert_int_eq(canned("SMTP ready\r\n\r\n", 0, &r, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(r.body);
}
END_TEST

/* --- HEAD: a Content-Length but no body, then the next response --- */

static void script_head_then_get(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0) {
        if (strncmp(buf, "HEAD ", 5) != 0)
            srv_fail(s, "first request is not HEAD");
        srv_write(s, fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    }
    if (srv_read_request(s, fd, buf, sizeof buf, 0) > 0)
        srv_write(s, fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    srv_drain_close(fd);
}

START_TEST(head_has_no_body)
{
    fake_server s;
    ember_response r;
    ember_err err;

    srv_start(&s, script_head_then_get);
    ember_client *c = open_client(&s, 5000, 0);
    ck_assert_int_eq(ember_client_request(c, "HEAD", "/x", NULL, 0, NULL, 0, &r, &err), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_str_eq(r.body, "");
    ember_response_free(&r);
    get_body(c, "hello");
    ck_assert_uint_eq(ember_client_connect_count(c), 1);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* --- two responses arriving in one write are handed out one at a time --- */

static void script_pipelined(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    /* Both requests come in one write; answer both in one write too. */
    int n = srv_read_request(s, fd, buf, sizeof buf, 0);
    while (n > 0 && !strstr(strstr(buf, "\r\n\r\n") + 4, "\r\n\r\n")) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, SRV_WAIT_MS) != 1)
            break;
        ssize_t k = read(fd, buf + n, sizeof buf - (size_t)n - 1);
        if (k <= 0)
            break;
        n += (int)k;
        buf[n] = '\0';
    }
    srv_write(s, fd, OK_ONE OK_TWO);
    srv_drain_close(fd);
}

START_TEST(pipelined_responses_split)
{
    static const char reqs[] =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    fake_server s;
    ember_response r;
    ember_err err;

    srv_start(&s, script_pipelined);
    ember_client *c = open_client(&s, 5000, 0);
    ck_assert_int_eq(ember_client_send_raw(c, reqs, sizeof reqs - 1, &err), 0);
    ck_assert_int_eq(ember_client_recv_response(c, NULL, &r, &err), 0);
    ck_assert_str_eq(r.body, "one");
    ember_response_free(&r);
    /* Unread pipelined data makes a plain request refuse rather than mix answers up. */
    ck_assert_int_eq(ember_client_get(c, "/c", &r, &err), EMBER_ESTATE);
    ck_assert_int_eq(ember_client_recv_response(c, NULL, &r, &err), 0);
    ck_assert_str_eq(r.body, "two");
    ember_response_free(&r);
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

/* --- the server refuses a large body after its headers --- */

static void script_early_413(fake_server *s)
{
    char buf[4096];
    int fd = srv_accept(s);
    if (fd < 0)
        return;
    if (srv_read_request(s, fd, buf, sizeof buf, 1) > 0)
        srv_write(s, fd,
                  "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                  "Content-Length: 20\r\n\r\n{\"error\":\"too big!\"}");
    close(fd);
}

START_TEST(early_answer_while_sending)
{
    fake_server s;
    ember_response r;
    ember_err err;
    size_t len = 8u << 20;
    char *body = calloc(1, len);

    ck_assert(body != NULL);
    srv_start(&s, script_early_413);
    ember_client *c = open_client(&s, 5000, 0);
    ck_assert_msg(ember_client_post_json(c, "/big", body, len, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(r.body, "{\"error\":\"too big!\"}");
    ember_response_free(&r);
    ember_client_close(c);
    srv_finish(&s);
    free(body);
}
END_TEST

/* --- connecting and bad arguments --- */

START_TEST(connect_missing_socket)
{
    char dir[IT_DIR_MAX], path[IT_SOCK_MAX];
    ember_client *c;
    ember_err err;

    it_mkdtemp(dir);
    snprintf(path, sizeof path, "%s/none.sock", dir);
    ck_assert_int_eq(ember_client_open(path, NULL, &c, &err), EMBER_ENOTFOUND);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "is emberd running"), "%s", err.msg);
}
END_TEST

START_TEST(connect_refused)
{
    char dir[IT_DIR_MAX];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    ember_client *c;
    ember_err err;

    it_mkdtemp(dir);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/stale.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    /* Bound but never listening: what a crashed daemon's leftover socket looks like. */
    ck_assert_int_eq(ember_client_open(addr.sun_path, NULL, &c, &err), EMBER_EIO);
    ck_assert_msg(strstr(err.msg, addr.sun_path) && strstr(err.msg, "is emberd running"), "%s",
                  err.msg);
    close(fd);
}
END_TEST

START_TEST(bad_arguments)
{
    char longpath[200];
    ember_client *c;
    ember_err err;
    ember_response r;
    fake_server s;

    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_int_eq(ember_client_open(longpath, NULL, &c, &err), EMBER_EINVAL);
    ck_assert_int_eq(ember_client_open("", NULL, &c, &err), EMBER_EINVAL);

    canned_reply = OK_ONE;
    srv_start(&s, script_canned);
    c = open_client(&s, 5000, 0);
    ck_assert_int_eq(ember_client_get(c, "/x HTTP/1.1\r\nEvil: 1\r\n", &r, &err), EMBER_EINVAL);
    static const ember_header evil = {"X-A", "b\r\nX-Injected: 1"};
    ck_assert_int_eq(ember_client_request(c, "GET", "/x", &evil, 1, NULL, 0, &r, &err),
                     EMBER_EINVAL);
    get_body(c, "one");
    ember_client_close(c);
    srv_finish(&s);
}
END_TEST

START_TEST(default_socket)
{
    unsetenv(EMBER_CLIENT_SOCKET_ENV);
    ck_assert_str_eq(ember_client_default_socket(), "/run/emberd/emberd.sock");
    setenv(EMBER_CLIENT_SOCKET_ENV, "", 1);
    ck_assert_str_eq(ember_client_default_socket(), "/run/emberd/emberd.sock");
    setenv(EMBER_CLIENT_SOCKET_ENV, "/tmp/x.sock", 1);
    ck_assert_str_eq(ember_client_default_socket(), "/tmp/x.sock");
}
END_TEST

Suite *it_suite_client(void)
{
    Suite *s = suite_create("client");
    TCase *tc = it_tcase("client", 0);

    tcase_add_test(tc, reconnects_after_idle_close);
    tcase_add_test(tc, retries_once_when_reused_connection_closes);
    tcase_add_test(tc, does_not_retry_twice);
    tcase_add_test(tc, no_retry_on_fresh_connection);
    tcase_add_test(tc, times_out);
    tcase_add_test(tc, body_over_limit);
    tcase_add_test(tc, chunked_body);
    tcase_add_test(tc, close_delimited_body);
    tcase_add_test(tc, interim_response_skipped);
    tcase_add_test(tc, headers_kept);
    tcase_add_test(tc, too_many_headers);
    tcase_add_test(tc, malformed_response);
    tcase_add_test(tc, head_has_no_body);
    tcase_add_test(tc, pipelined_responses_split);
    tcase_add_test(tc, early_answer_while_sending);
    tcase_add_test(tc, connect_missing_socket);
    tcase_add_test(tc, connect_refused);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, default_socket);
    suite_add_tcase(s, tc);
    return s;
}
