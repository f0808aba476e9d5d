/*
 * HTTP details of emberd against slow, silent and unusual clients: half a header section
 * answered 408 once header_timeout_ms passes (and a trickle of bytes does not extend it), a
 * stalled body answered 408 after idle_timeout_ms, a silent connection closed after
 * idle_timeout_ms, POST without a length answered 411, and an infer body sent chunked.
 * The timeouts come from a --config file with short values.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define HEADER_TIMEOUT_MS 300
#define IDLE_TIMEOUT_MS 500

static void start_short_timeouts(emberd_proc *d, char *dir)
{
    char cfg[PATH_MAX], text[128];
    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    snprintf(text, sizeof text, "{\"header_timeout_ms\": %d, \"idle_timeout_ms\": %d}",
             HEADER_TIMEOUT_MS, IDLE_TIMEOUT_MS);
    it_write_file(cfg, text, strlen(text));
    const char *const extra[] = {"--config", cfg, NULL};
    it_emberd_start(d, extra, 0);
}

static void send_raw(ember_client *c, const char *s)
{
    ember_err err;
    ck_assert_msg(ember_client_send_raw(c, s, strlen(s), &err) == 0, "%s", err.msg);
}

static void expect_answer(ember_client *c, int status, const char *what)
{
    ember_response r;
    ember_err err;
    ck_assert_msg(ember_client_recv_response(c, "GET", &r, &err) == 0, "%s: %s", what, err.msg);
    it_assert_error(&r, status, what);
    ember_response_free(&r);
}

START_TEST(half_header_times_out)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    start_short_timeouts(&d, dir);

    ember_client *c = it_client(d.socket);
    send_raw(c, "GET /v2/health/live HTTP/1.1\r\nHo");
    expect_answer(c, 408, "half a header section");
    ember_client_close(c);

    /* A byte every 50 ms keeps the connection busy but not alive past the deadline. */
    c = it_client(d.socket);
    send_raw(c, "GET /v2/health/live HTTP/1.1\r\n");
    for (int i = 0; i < 2 * HEADER_TIMEOUT_MS / 50; i++) {
        ember_err err;
        if (ember_client_send_raw(c, "X", 1, &err) < 0)
            break; /* emberd answered and closed its side */
        usleep(50 * 1000);
    }
    expect_answer(c, 408, "a trickled header section");
    ember_client_close(c);

    /* A body that stops arriving. */
    c = it_client(d.socket);
    send_raw(c, "POST /v2/models/digits/infer HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"in");
    expect_answer(c, 408, "a stalled body");
    ember_client_close(c);

    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Connect a plain socket to sock. */
static int raw_connect(const char *sock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    return fd;
}

START_TEST(idle_connection_closed)
{
    char dir[IT_DIR_MAX], buf[4096];
    emberd_proc d;
    start_short_timeouts(&d, dir);

    /* Silent from the start, and silent after one answered request. */
    for (int round = 0; round < 2; round++) {
        int fd = raw_connect(d.socket);
        if (round == 1) {
            static const char get[] = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
            ck_assert(write(fd, get, sizeof get - 1) == (ssize_t)(sizeof get - 1));
            struct pollfd p = {.fd = fd, .events = POLLIN};
            ck_assert(poll(&p, 1, IT_CLIENT_TIMEOUT_MS) == 1);
            ssize_t n = read(fd, buf, sizeof buf);
            ck_assert_msg(n > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0, "answer: %.*s",
                          (int)(n > 0 ? n : 0), buf);
        }
        /* Nothing more is sent: emberd must close (read sees EOF), well within the poll. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, IT_CLIENT_TIMEOUT_MS) == 1, "round %d: still open", round);
        ck_assert_msg(read(fd, buf, sizeof buf) == 0, "round %d: expected EOF", round);
        close(fd);
    }
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(post_without_length_is_411)
{
    ember_client *c = it_client(it_daemon.socket);
    send_raw(c, "POST /v2/repository/index HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_answer(c, 411, "POST without Content-Length");
    ember_client_close(c);
    it_assert_healthy(it_daemon.socket);
}
END_TEST

START_TEST(chunked_infer_body)
{
    digits_ref ref;
    char size[32];
    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, 3, "chunked");
    size_t len = strlen(body), third = len / 3;
    ember_client *c = it_client(it_daemon.socket);
    send_raw(c, "POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    ember_err err;
    for (size_t off = 0; off < len; off += third) {
        size_t n = off + third <= len ? third : len - off;
        snprintf(size, sizeof size, "%zx\r\n", n);
        send_raw(c, size);
        ck_assert(ember_client_send_raw(c, body + off, n, &err) == 0);
        send_raw(c, "\r\n");
    }
    send_raw(c, "0\r\n\r\n");
    ember_response r;
    ck_assert_msg(ember_client_recv_response(c, "POST", &r, &err) == 0, "%s", err.msg);
    it_assert_infer_ok(&r, &ref, 0, 3, "chunked");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

Suite *it_suite_http(void)
{
    Suite *s = suite_create("http");
    TCase *tc = it_tcase("http", 0);
    tcase_add_test(tc, half_header_times_out);
    tcase_add_test(tc, idle_connection_closed);
    suite_add_tcase(s, tc);
    TCase *td = it_tcase("http-daemon", 1);
    tcase_add_test(td, post_without_length_is_411);
    tcase_add_test(td, chunked_infer_body);
    suite_add_tcase(s, td);
    return s;
}
