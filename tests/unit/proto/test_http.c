/*
 * Unit tests for libember-proto's HTTP side: the incremental request reader (whole, split at
 * every byte offset, one byte at a time, pipelined, keep-alive rules, 100-continue, each limit
 * crossed, malformed input) and the response serializer.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#define MAX_REQS 16

typedef struct collected {
    ember_http_request *reqs[MAX_REQS];
    int n;
    int continues;
    int rc;     /* the first error, 0 if none */
    int status; /* the reader's error status */
    ember_err err;
} collected;

static void collected_free(collected *c)
{
    for (int i = 0; i < c->n; i++)
        ember_http_request_free(c->reqs[i]);
    c->n = 0;
}

/* Feed buf into r, collecting every event, until it is consumed or an error stops it. */
static void feed(ember_http_reader *r, const char *buf, size_t len, collected *c)
{
    while (len > 0 && c->rc == 0) {
        size_t used = 12345;
        ember_http_request *req = (ember_http_request *)1;
        int rc = ember_http_reader_feed(r, buf, len, &used, &req, &c->err);
        ck_assert_uint_le(used, len);
        if (rc < 0) {
            c->rc = rc;
            c->status = ember_http_reader_error_status(r);
            ck_assert_ptr_null(req);
            return;
        }
        buf += used;
        len -= used;
        if (rc == EMBER_HTTP_REQUEST) {
            ck_assert_ptr_nonnull(req);
            ck_assert_int_lt(c->n, MAX_REQS);
            c->reqs[c->n++] = req;
        } else {
            ck_assert_ptr_null(req);
            if (rc == EMBER_HTTP_CONTINUE)
                c->continues++;
            else
                ck_assert_uint_eq(len, 0);
        }
    }
}

/* Parse a whole buffer with a fresh reader. */
static void parse(const char *buf, size_t len, const ember_http_limits *lim, collected *c)
{
    ember_http_reader *r;
    memset(c, 0, sizeof *c);
    ck_assert_int_eq(ember_http_reader_create(lim, &r, NULL), 0);
    feed(r, buf, len, c);
    ember_http_reader_free(r);
}

/* A canonical text of what was parsed, to compare runs fed with different splits. */
static char *describe(const collected *c)
{
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "rc=%d status=%d continues=%d n=%d\n", c->rc, c->status,
                          c->continues, c->n);
    for (int i = 0; i < c->n; i++) {
        const ember_http_request *q = c->reqs[i];
        n += (size_t)snprintf(s + n, cap - n, "%s %s ? %s HTTP/%d.%d ka=%d cl=%lld ec=%d\n",
                              q->method_name, q->path, q->query ? q->query : "(none)",
                              q->http_major, q->http_minor, q->keep_alive,
                              (long long)q->content_length, q->expect_continue);
        for (int h = 0; h < q->nheaders; h++)
            n += (size_t)snprintf(s + n, cap - n, "  %s=%s\n", q->headers[h].name,
                                  q->headers[h].value);
        n += (size_t)snprintf(s + n, cap - n, "  body[%zu]=%.*s\n", q->body_len, (int)q->body_len,
                              q->body);
    }
    return s;
}

static const char *const corpus[] = {
    "GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "POST /v2/models/digits/infer?x=1&y=2 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
    "Content-Length: 11\r\n\r\n{\"a\":[1,2]}",
    "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n"
    "X-Trailer: t\r\n\r\n",
    "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzHEAD /c HTTP/1.1\r\n"
    "Connection: close\r\n\r\n",
    "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbodyGET /f "
    "HTTP/1.0\r\n\r\n",
    "GET /g HTTP/1.1\r\nX-Folded: a\r\n b\r\nX-Empty:\r\nX-Space:   padded   \r\n\r\n",
    "\r\nGET /leading-crlf HTTP/1.1\r\n\r\n",
};
#define NCORPUS ((int)(sizeof corpus / sizeof corpus[0]))

START_TEST(test_simple_get)
{
    collected c;
    const char *s = "GET /v2/models/digits?verbose=1 HTTP/1.1\r\nHost: localhost\r\n"
                    "User-Agent: t\r\n\r\n";
    parse(s, strlen(s), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.n, 1);
    ember_http_request *q = c.reqs[0];
    ck_assert_int_eq(q->method, EMBER_HTTP_GET);
    ck_assert_str_eq(q->method_name, "GET");
    ck_assert_str_eq(q->target, "/v2/models/digits?verbose=1");
    ck_assert_str_eq(q->path, "/v2/models/digits");
    ck_assert_str_eq(q->query, "verbose=1");
    ck_assert_str_eq(q->host, "localhost");
    ck_assert_ptr_null(q->content_type);
    ck_assert_int_eq(q->content_length, -1);
    ck_assert_int_eq(q->keep_alive, 1);
    ck_assert_uint_eq(q->body_len, 0);
    ck_assert_str_eq(q->body, "");
    ck_assert_str_eq(ember_http_request_header(q, "user-agent"), "t");
    ck_assert_ptr_null(ember_http_request_header(q, "Accept"));
    collected_free(&c);
}
END_TEST

START_TEST(test_post_body)
{
    collected c;
    parse(corpus[1], strlen(corpus[1]), NULL, &c);
    ck_assert_int_eq(c.n, 1);
    ember_http_request *q = c.reqs[0];
    ck_assert_int_eq(q->method, EMBER_HTTP_POST);
    ck_assert_str_eq(q->path, "/v2/models/digits/infer");
    ck_assert_str_eq(q->query, "x=1&y=2");
    ck_assert_str_eq(q->content_type, "application/json");
    ck_assert_int_eq(q->content_length, 11);
    ck_assert_uint_eq(q->body_len, 11);
    ck_assert_str_eq(q->body, "{\"a\":[1,2]}");
    collected_free(&c);
}
END_TEST

START_TEST(test_chunked_body)
{
    collected c;
    parse(corpus[2], strlen(corpus[2]), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.reqs[0]->body, "hello world");
    ck_assert_int_eq(c.reqs[0]->content_length, -1);
    collected_free(&c);
}
END_TEST

START_TEST(test_pipelined)
{
    collected c;
    parse(corpus[3], strlen(corpus[3]), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.n, 3);
    ck_assert_str_eq(c.reqs[0]->path, "/a");
    ck_assert_int_eq(c.reqs[0]->keep_alive, 1);
    ck_assert_str_eq(c.reqs[1]->path, "/b");
    ck_assert_str_eq(c.reqs[1]->body, "xyz");
    ck_assert_str_eq(c.reqs[2]->path, "/c");
    ck_assert_int_eq(c.reqs[2]->method, EMBER_HTTP_HEAD);
    ck_assert_int_eq(c.reqs[2]->keep_alive, 0);
    collected_free(&c);
}
END_TEST

/* Each feed returns after exactly one request, so the caller can hold the rest back. */
START_TEST(test_pipelined_one_at_a_time)
{
    ember_http_reader *r;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    const char *s = corpus[3];
    size_t len = strlen(s), used;
    ember_http_request *q;
    ck_assert_int_eq(ember_http_reader_feed(r, s, len, &used, &q, NULL), EMBER_HTTP_REQUEST);
    ck_assert_uint_eq(used, strlen("GET /a HTTP/1.1\r\n\r\n"));
    ck_assert_int_eq(ember_http_reader_in_request(r), 0);
    ember_http_request_free(q);
    s += used;
    len -= used;
    ck_assert_int_eq(ember_http_reader_feed(r, s, len, &used, &q, NULL), EMBER_HTTP_REQUEST);
    ck_assert_uint_eq(used, strlen("POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"));
    ck_assert_str_eq(q->body, "xyz");
    ember_http_request_free(q);
    ember_http_reader_free(r);
}
END_TEST

/* Every two-way split of every corpus entry parses exactly as the whole does. */
START_TEST(test_split_every_offset)
{
    const char *s = corpus[_i];
    size_t len = strlen(s);
    collected whole;
    parse(s, len, NULL, &whole);
    ck_assert_int_eq(whole.rc, 0);
    char *want = describe(&whole);
    collected_free(&whole);
    for (size_t k = 0; k <= len; k++) {
        ember_http_reader *r;
        collected c;
        memset(&c, 0, sizeof c);
        ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
        feed(r, s, k, &c);
        feed(r, s + k, len - k, &c);
        char *got = describe(&c);
        ck_assert_msg(strcmp(got, want) == 0, "split at %zu:\n%s\nwant:\n%s", k, got, want);
        free(got);
        collected_free(&c);
        ember_http_reader_free(r);
    }
    free(want);
}
END_TEST

START_TEST(test_one_byte_at_a_time)
{
    const char *s = corpus[_i];
    size_t len = strlen(s);
    collected whole, c;
    parse(s, len, NULL, &whole);
    char *want = describe(&whole);
    collected_free(&whole);
    ember_http_reader *r;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    for (size_t k = 0; k < len; k++)
        feed(r, s + k, 1, &c);
    char *got = describe(&c);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    collected_free(&c);
    ember_http_reader_free(r);
}
END_TEST

START_TEST(test_keep_alive_rules)
{
    static const struct {
        const char *req;
        int keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collected c;
        parse(cases[i].req, strlen(cases[i].req), NULL, &c);
        ck_assert_int_eq(c.rc, 0);
        ck_assert_int_eq(c.n, 1);
        ck_assert_msg(c.reqs[0]->keep_alive == cases[i].keep_alive, "case %zu", i);
        collected_free(&c);
    }
}
END_TEST

START_TEST(test_expect_continue)
{
    ember_http_reader *r;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    const char *head = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    size_t used;
    ember_http_request *q;
    size_t len = strlen(head), off = 0;
    int rc = ember_http_reader_feed(r, head, len, &used, &q, NULL);
    ck_assert_int_eq(rc, EMBER_HTTP_CONTINUE);
    off = used;
    ck_assert_int_eq(ember_http_reader_feed(r, head + off, len - off, &used, &q, NULL),
                     EMBER_HTTP_NEED_MORE);
    ck_assert_int_eq(ember_http_reader_in_request(r), 1);
    ck_assert_int_eq(ember_http_reader_feed(r, "body", 4, &used, &q, NULL), EMBER_HTTP_REQUEST);
    ck_assert_int_eq(q->expect_continue, 1);
    ck_assert_str_eq(q->body, "body");
    ember_http_request_free(q);
    ember_http_reader_free(r);

    /* Nothing to continue when there is no body. */
    collected c;
    const char *nobody = "GET /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
    parse(nobody, strlen(nobody), NULL, &c);
    ck_assert_int_eq(c.continues, 0);
    ck_assert_int_eq(c.n, 1);
    collected_free(&c);
}
END_TEST

START_TEST(test_header_values)
{
    collected c;
    parse(corpus[5], strlen(corpus[5]), NULL, &c);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(ember_http_request_header(c.reqs[0], "X-Empty"), "");
    ck_assert_str_eq(ember_http_request_header(c.reqs[0], "x-space"), "padded");
    collected_free(&c);
}
END_TEST

static char *make_request(size_t url_len, int nheaders, size_t header_value_len)
{
    size_t cap = url_len + (size_t)nheaders * 32 + header_value_len + 256;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "GET /");
    memset(s + n, 'u', url_len - 1);
    n += url_len - 1;
    n += (size_t)snprintf(s + n, cap - n, " HTTP/1.1\r\n");
    for (int i = 0; i < nheaders; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-H%d: v\r\n", i);
    if (header_value_len) {
        n += (size_t)snprintf(s + n, cap - n, "X-Big: ");
        memset(s + n, 'v', header_value_len);
        n += header_value_len;
        n += (size_t)snprintf(s + n, cap - n, "\r\n");
    }
    snprintf(s + n, cap - n, "\r\n");
    return s;
}

START_TEST(test_limit_url)
{
    collected c;
    char *ok = make_request(EMBER_HTTP_MAX_URL, 0, 0);
    parse(ok, strlen(ok), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(strlen(c.reqs[0]->target), EMBER_HTTP_MAX_URL);
    collected_free(&c);
    free(ok);

    /* Just over ours, and far over http-parser's own 80 KiB head limit. */
    size_t sizes[] = {EMBER_HTTP_MAX_URL + 1, 100 * 1024};
    for (int i = 0; i < 2; i++) {
        char *big = make_request(sizes[i], 0, 0);
        parse(big, strlen(big), NULL, &c);
        ck_assert_int_eq(c.rc, EMBER_ENOMEM);
        ck_assert_int_eq(c.status, 414);
        ck_assert_ptr_nonnull(strstr(c.err.msg, "request target"));
        free(big);
    }
}
END_TEST

START_TEST(test_limit_header_bytes)
{
    collected c;
    /* "X-Big" plus the value: exactly at the limit passes, one more byte fails. */
    char *ok = make_request(1, 0, EMBER_HTTP_MAX_HEADER_BYTES - 5);
    parse(ok, strlen(ok), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    collected_free(&c);
    free(ok);
    char *big = make_request(1, 0, EMBER_HTTP_MAX_HEADER_BYTES - 4);
    parse(big, strlen(big), NULL, &c);
    ck_assert_int_eq(c.rc, EMBER_ENOMEM);
    ck_assert_int_eq(c.status, 431);
    free(big);
    /* Past http-parser's own cap on the head. */
    big = make_request(1, 0, 100 * 1024);
    parse(big, strlen(big), NULL, &c);
    ck_assert_int_eq(c.status, 431);
    free(big);
}
END_TEST

START_TEST(test_limit_header_count)
{
    collected c;
    char *ok = make_request(1, EMBER_HTTP_MAX_HEADERS, 0);
    parse(ok, strlen(ok), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.reqs[0]->nheaders, EMBER_HTTP_MAX_HEADERS);
    collected_free(&c);
    free(ok);
    char *big = make_request(1, EMBER_HTTP_MAX_HEADERS + 1, 0);
    parse(big, strlen(big), NULL, &c);
    ck_assert_int_eq(c.rc, EMBER_ENOMEM);
    ck_assert_int_eq(c.status, 431);
    ck_assert_ptr_nonnull(strstr(c.err.msg, "headers"));
    free(big);
}
END_TEST

START_TEST(test_limit_body)
{
    collected c;
    char head[128];
    /* Exactly the limit is accepted (the reader then waits for the body). */
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             EMBER_HTTP_MAX_BODY);
    parse(head, strlen(head), NULL, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.n, 0);
    /* One more is refused as soon as the headers end, before any body byte. */
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             EMBER_HTTP_MAX_BODY + 1);
    parse(head, strlen(head), NULL, &c);
    ck_assert_int_eq(c.rc, EMBER_ENOMEM);
    ck_assert_int_eq(c.status, 413);

    /* Chunked bodies are counted as they arrive. */
    ember_http_limits lim = EMBER_HTTP_LIMITS_DEFAULT;
    lim.max_body = 10;
    const char *ch = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "a\r\n0123456789\r\n0\r\n\r\n";
    parse(ch, strlen(ch), &lim, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.n, 1);
    collected_free(&c);
    const char *ch2 = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "a\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n";
    parse(ch2, strlen(ch2), &lim, &c);
    ck_assert_int_eq(c.status, 413);
}
END_TEST

START_TEST(test_malformed)
{
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"HELLO\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nBad\x01Header: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nBad(Header: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / XTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nX: a\x01 b\r\n\r\n", 400},
        {"GET /a b HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: a\r\r\n\r\n", 400},
        {"POST /v2/repository/index HTTP/1.1\r\nHost: a\r\n\r\n", 411},
        {"PUT /x HTTP/1.1\r\n\r\n", 411},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collected c;
        parse(cases[i].req, strlen(cases[i].req), NULL, &c);
        ck_assert_msg(c.rc < 0, "case %zu accepted", i);
        ck_assert_msg(c.status == cases[i].status, "case %zu: status %d", i, c.status);
        ck_assert_msg(c.err.msg[0] != '\0', "case %zu: no message", i);
        collected_free(&c);
    }
}
END_TEST

/* in_headers is true from a request's first byte to the end of its header section. */
START_TEST(test_in_headers)
{
    static const char req[] = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    const size_t head = sizeof req - 1 - 2;
    ember_http_reader *r;
    ember_http_request *q = NULL;
    size_t used;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    ck_assert(!ember_http_reader_in_headers(r));
    ck_assert_int_eq(ember_http_reader_feed(r, req, 5, &used, &q, NULL), EMBER_HTTP_NEED_MORE);
    ck_assert(ember_http_reader_in_headers(r) && ember_http_reader_in_request(r));
    ck_assert_int_eq(ember_http_reader_feed(r, req + 5, head - 5, &used, &q, NULL),
                     EMBER_HTTP_NEED_MORE);
    ck_assert(!ember_http_reader_in_headers(r) && ember_http_reader_in_request(r));
    ck_assert_int_eq(ember_http_reader_feed(r, req + head, 2, &used, &q, NULL), EMBER_HTTP_REQUEST);
    ck_assert(!ember_http_reader_in_headers(r) && !ember_http_reader_in_request(r));
    ember_http_request_free(q);
    ember_http_reader_free(r);
}
END_TEST

START_TEST(test_spent_after_error)
{
    ember_http_reader *r;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    size_t used;
    ember_http_request *q;
    ck_assert_int_lt(ember_http_reader_feed(r, "BAD\r\n\r\n", 7, &used, &q, NULL), 0);
    ck_assert_int_eq(ember_http_reader_error_status(r), 400);
    ck_assert_int_eq(ember_http_reader_feed(r, "GET / HTTP/1.1\r\n\r\n", 18, &used, &q, NULL),
                     EMBER_ESTATE);
    ember_http_reader_free(r);
}
END_TEST

START_TEST(test_eof)
{
    ember_http_reader *r;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    ck_assert_int_eq(ember_http_reader_eof(r, NULL), 0);
    size_t used;
    ember_http_request *q;
    ck_assert_int_eq(ember_http_reader_feed(r, "GET / HT", 8, &used, &q, NULL),
                     EMBER_HTTP_NEED_MORE);
    ck_assert_int_eq(ember_http_reader_in_request(r), 1);
    ember_err err;
    ck_assert_int_eq(ember_http_reader_eof(r, &err), EMBER_EINVAL);
    ember_http_reader_free(r);
}
END_TEST

/* A partly assembled request is freed with the reader. */
START_TEST(test_free_mid_request)
{
    ember_http_reader *r;
    ck_assert_int_eq(ember_http_reader_create(NULL, &r, NULL), 0);
    const char *s = "POST /x HTTP/1.1\r\nContent-Length: 100\r\nX-A: b\r\n\r\nabc";
    size_t used;
    ember_http_request *q;
    ck_assert_int_eq(ember_http_reader_feed(r, s, strlen(s), &used, &q, NULL),
                     EMBER_HTTP_NEED_MORE);
    ember_http_reader_free(r);
}
END_TEST

START_TEST(test_response_serialize)
{
    ember_http_header extra[] = {{"Allow", "GET, HEAD"}, {"Retry-After", "1"}};
    ember_http_response resp = {
        .status = 405,
        .content_type = "application/json",
        .body = "{\"error\":\"x\"}",
        .body_len = 13,
        .keep_alive = 1,
        .headers = extra,
        .nheaders = 2,
    };
    char *out;
    size_t len;
    ck_assert_int_eq(ember_http_response_serialize(&resp, &out, &len, NULL), 0);
    const char *want = "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
                       "Content-Length: 13\r\nConnection: keep-alive\r\nAllow: GET, HEAD\r\n"
                       "Retry-After: 1\r\n\r\n{\"error\":\"x\"}";
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_str_eq(out, want);
    free(out);

    resp.head = 1;
    resp.keep_alive = 0;
    resp.nheaders = 0;
    resp.status = 200;
    ck_assert_int_eq(ember_http_response_serialize(&resp, &out, &len, NULL), 0);
    ck_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: 13\r\nConnection: close\r\n\r\n");
    free(out);
}
END_TEST

START_TEST(test_response_rejects_injection)
{
    ember_http_header bad[] = {{"X-A", "v\r\nX-Injected: 1"}};
    ember_http_response resp = {.status = 200, .headers = bad, .nheaders = 1};
    char *out;
    size_t len;
    ember_err err;
    ck_assert_int_eq(ember_http_response_serialize(&resp, &out, &len, &err), EMBER_EINVAL);
    ember_http_header badname[] = {{"X A", "v"}};
    resp.headers = badname;
    ck_assert_int_eq(ember_http_response_serialize(&resp, &out, &len, &err), EMBER_EINVAL);
    resp.nheaders = 0;
    resp.status = 42;
    ck_assert_int_eq(ember_http_response_serialize(&resp, &out, &len, &err), EMBER_EINVAL);
}
END_TEST

START_TEST(test_reasons)
{
    ck_assert_str_eq(ember_http_reason(404), "Not Found");
    ck_assert_str_eq(ember_http_reason(413), "Content Too Large");
    ck_assert_str_eq(ember_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(ember_http_reason(503), "Service Unavailable");
    ck_assert_str_eq(ember_http_reason(299), "Unknown");
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("proto-http");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_simple_get);
    tcase_add_test(tc, test_post_body);
    tcase_add_test(tc, test_chunked_body);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_pipelined_one_at_a_time);
    tcase_add_loop_test(tc, test_split_every_offset, 0, NCORPUS);
    tcase_add_loop_test(tc, test_one_byte_at_a_time, 0, NCORPUS);
    tcase_add_test(tc, test_keep_alive_rules);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_header_values);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_spent_after_error);
    tcase_add_test(tc, test_in_headers);
    tcase_add_test(tc, test_eof);
    tcase_add_test(tc, test_free_mid_request);
    suite_add_tcase(s, tc);

    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, test_limit_url);
    tcase_add_test(lim, test_limit_header_bytes);
    tcase_add_test(lim, test_limit_header_count);
    tcase_add_test(lim, test_limit_body);
    suite_add_tcase(s, lim);

    TCase *resp = tcase_create("response");
    tcase_add_test(resp, test_response_serialize);
    tcase_add_test(resp, test_response_rejects_injection);
    tcase_add_test(resp, test_reasons);
    suite_add_tcase(s, resp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
