/*
 * The HTTP/1.1 request reader: http-parser drives a per-connection state machine and this
 * file's callbacks assemble the request it describes (target, headers, body) into buffers
 * that survive across feeds, so bytes may arrive split anywhere. When a request completes
 * (or its headers ask for "100 Continue") the callback pauses the parser, which makes
 * http_parser_execute return right after that byte; the caller gets the event and feeds the
 * rest later. That yields pipelined requests one at a time, in order, with no queue here.
 * Every size is checked against the reader's limits as bytes arrive, never after the fact.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include <ember/proto.h>

#include "buf.h"

struct ember_http_reader {
    http_parser parser;
    ember_http_limits lim;
    ember_err *err;      /* the caller's, only during a feed */
    int status;          /* HTTP status of the failure, 0 while healthy */
    int event;           /* what paused the parser */
    int in_request;      /* between message begin and message complete */
    int in_headers;      /* between message begin and headers complete */
    int in_value;        /* the last header callback was for a value */
    int saw_header;      /* a header field has started (the target is complete) */
    size_t header_bytes; /* names and values so far */
    proto_buf url, field, value, body;
    ember_http_header *headers;
    int nheaders;
    ember_http_request *req; /* the request being assembled, after headers complete */
};

/* Record a failure from inside a callback; returning nonzero stops http-parser. */
static int reader_fail(ember_http_reader *r, int status, int code, const char *msg)
{
    r->status = status;
    ember_err_set(r->err, code, "%s", msg);
    return -1;
}

static int reader_limit(ember_http_reader *r, int status, const char *what, size_t limit)
{
    r->status = status;
    ember_err_set(r->err, EMBER_ENOMEM, "%s exceeds the limit of %zu", what, limit);
    return -1;
}

static int reader_oom(ember_http_reader *r)
{
    return reader_fail(r, 500, EMBER_ENOMEM, "out of memory while reading the request");
}

static void reader_reset_message(ember_http_reader *r)
{
    for (int i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->nheaders = 0;
    proto_buf_reset(&r->url);
    proto_buf_reset(&r->field);
    proto_buf_reset(&r->value);
    proto_buf_free(&r->body);
    r->header_bytes = 0;
    r->in_value = 0;
    r->saw_header = 0;
    ember_http_request_free(r->req);
    r->req = NULL;
}

/* Move the completed field/value pair into the header array. */
static int reader_push_header(ember_http_reader *r)
{
    ember_http_header *h = realloc(r->headers, (size_t)(r->nheaders + 1) * sizeof *h);
    if (!h)
        return reader_oom(r);
    r->headers = h;
    size_t nlen, vlen;
    char *name = proto_buf_take(&r->field, &nlen);
    char *value = proto_buf_take(&r->value, &vlen);
    if (!name || !value) {
        free(name);
        free(value);
        return reader_oom(r);
    }
    /* Trailing whitespace of a value is not part of it (RFC 9110 5.5). */
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        value[--vlen] = '\0';
    r->headers[r->nheaders].name = name;
    r->headers[r->nheaders].value = value;
    r->nheaders++;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    ember_http_reader *r = p->data;
    reader_reset_message(r);
    r->in_request = 1;
    r->in_headers = 1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    ember_http_reader *r = p->data;
    if (r->url.len + len > r->lim.max_url)
        return reader_limit(r, 414, "request target", r->lim.max_url);
    return proto_buf_append(&r->url, at, len) < 0 ? reader_oom(r) : 0;
}

static int reader_count_header_bytes(ember_http_reader *r, size_t len)
{
    r->header_bytes += len;
    if (r->header_bytes > r->lim.max_header_bytes)
        return reader_limit(r, 431, "request header section", r->lim.max_header_bytes);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    ember_http_reader *r = p->data;
    if (!r->saw_header || r->in_value) {
        if (r->in_value && reader_push_header(r) < 0)
            return -1;
        if (r->nheaders >= r->lim.max_headers) {
            r->status = 431;
            ember_err_set(r->err, EMBER_ENOMEM, "more than %d request headers", r->lim.max_headers);
            return -1;
        }
        r->saw_header = 1;
        r->in_value = 0;
    }
    if (reader_count_header_bytes(r, len) < 0)
        return -1;
    return proto_buf_append(&r->field, at, len) < 0 ? reader_oom(r) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    ember_http_reader *r = p->data;
    r->in_value = 1;
    if (reader_count_header_bytes(r, len) < 0)
        return -1;
    return proto_buf_append(&r->value, at, len) < 0 ? reader_oom(r) : 0;
}

static ember_http_method reader_method(unsigned m)
{
    switch (m) {
    case HTTP_GET: return EMBER_HTTP_GET;
    case HTTP_HEAD: return EMBER_HTTP_HEAD;
    case HTTP_POST: return EMBER_HTTP_POST;
    case HTTP_PUT: return EMBER_HTTP_PUT;
    case HTTP_DELETE: return EMBER_HTTP_DELETE;
    case HTTP_OPTIONS: return EMBER_HTTP_OPTIONS;
    default: return EMBER_HTTP_OTHER;
    }
}

/* Split the target into path and query. */
static int reader_split_target(ember_http_reader *r, ember_http_request *req)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    int is_connect = r->parser.method == HTTP_CONNECT;
    if (r->url.len == 0 || http_parser_parse_url(r->url.data, r->url.len, is_connect, &u) != 0)
        return reader_fail(r, 400, EMBER_EINVAL, "malformed request target");
    if (u.field_set & (1 << UF_PATH))
        req->path = strndup(r->url.data + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    else
        req->path = strdup("/");
    if (u.field_set & (1 << UF_QUERY)) {
        req->query = strndup(r->url.data + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
        if (!req->query)
            return reader_oom(r);
    }
    req->target = proto_buf_take(&r->url, NULL);
    return req->path && req->target ? 0 : reader_oom(r);
}

static int on_headers_complete(http_parser *p)
{
    ember_http_reader *r = p->data;
    r->in_headers = 0;
    if (r->saw_header && reader_push_header(r) < 0)
        return -1;
    if (p->http_major != 1) {
        r->status = 505;
        ember_err_set(r->err, EMBER_EINVAL, "HTTP/%u.%u is not supported", p->http_major,
                      p->http_minor);
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->lim.max_body)
        return reader_limit(r, 413, "request body", r->lim.max_body);
    /* Without a length a POST or PUT body could only end when the connection does. */
    if ((p->method == HTTP_POST || p->method == HTTP_PUT) &&
        !(p->flags & (F_CONTENTLENGTH | F_CHUNKED)))
        return reader_fail(r, 411, EMBER_EINVAL,
                           "a POST or PUT request needs Content-Length or "
                           "Transfer-Encoding: chunked (Content-Length: 0 for no body)");

    ember_http_request *req = calloc(1, sizeof *req);
    if (!req)
        return reader_oom(r);
    r->req = req;
    req->method = reader_method(p->method);
    req->method_name = http_method_str((enum http_method)p->method);
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->headers = r->headers;
    req->nheaders = r->nheaders;
    r->headers = NULL;
    r->nheaders = 0;
    if (reader_split_target(r, req) < 0)
        return -1;
    req->host = ember_http_request_header(req, "Host");
    req->content_type = ember_http_request_header(req, "Content-Type");
    req->content_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
    const char *expect = ember_http_request_header(req, "Expect");
    req->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
    /* An upgrade or CONNECT hands the connection to another protocol that ember does not
     * speak: answer this request and close. */
    int upgrade =
        ((p->flags & F_UPGRADE) && (p->flags & F_CONNECTION_UPGRADE)) || p->method == HTTP_CONNECT;
    req->keep_alive = http_should_keep_alive(p) && !upgrade;

    int has_body = (p->flags & F_CHUNKED) || req->content_length > 0;
    if (has_body) {
        size_t first = req->content_length > 0 ? (size_t)req->content_length : 0;
        if (proto_buf_reserve(&r->body, first < 65536 ? first : 65536) < 0)
            return reader_oom(r);
    }
    if (req->expect_continue && has_body) {
        r->event = EMBER_HTTP_CONTINUE;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    ember_http_reader *r = p->data;
    if (r->body.len + len > r->lim.max_body)
        return reader_limit(r, 413, "request body", r->lim.max_body);
    return proto_buf_append(&r->body, at, len) < 0 ? reader_oom(r) : 0;
}

static int on_message_complete(http_parser *p)
{
    ember_http_reader *r = p->data;
    ember_http_request *req = r->req;
    req->body = proto_buf_take(&r->body, &req->body_len);
    if (!req->body)
        return reader_oom(r);
    r->in_request = 0;
    r->event = EMBER_HTTP_REQUEST;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings reader_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int ember_http_reader_create(const ember_http_limits *limits, ember_http_reader **out,
                             ember_err *err)
{
    ember_http_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ember_err_set(err, EMBER_ENOMEM, "http reader: out of memory");
    r->lim = limits ? *limits : EMBER_HTTP_LIMITS_DEFAULT;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    *out = r;
    return 0;
}

void ember_http_reader_free(ember_http_reader *r)
{
    if (!r)
        return;
    reader_reset_message(r);
    proto_buf_free(&r->url);
    proto_buf_free(&r->field);
    proto_buf_free(&r->value);
    free(r);
}

int ember_http_reader_feed(ember_http_reader *r, const char *buf, size_t len, size_t *consumed,
                           ember_http_request **out, ember_err *err)
{
    *consumed = 0;
    *out = NULL;
    if (r->status)
        return ember_err_set(err, EMBER_ESTATE, "http reader: used after an error");
    if (len == 0)
        return EMBER_HTTP_NEED_MORE; /* http-parser reads a zero length as end of stream */

    r->err = err;
    r->event = EMBER_HTTP_NEED_MORE;
    size_t n = http_parser_execute(&r->parser, &reader_settings, buf, len);
    r->err = NULL;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    *consumed = n;

    if (e == HPE_PAUSED) {
        http_parser_pause(&r->parser, 0);
        if (r->event == EMBER_HTTP_REQUEST) {
            *out = r->req;
            r->req = NULL;
        }
        return r->event;
    }
    if (e == HPE_OK)
        return EMBER_HTTP_NEED_MORE;

    if (r->status) /* a callback already chose the status and wrote the message */
        return r->status == 400 || r->status == 411 || r->status == 505 ? EMBER_EINVAL
                                                                        : EMBER_ENOMEM;
    if (e == HPE_HEADER_OVERFLOW) {
        /* http-parser's own cap on the head: the target when no header began yet. */
        if (!r->saw_header) {
            r->status = 414;
            return ember_err_set(err, EMBER_ENOMEM, "request target exceeds the limit of %zu",
                                 r->lim.max_url);
        }
        r->status = 431;
        return ember_err_set(err, EMBER_ENOMEM, "request header section exceeds the limit of %zu",
                             r->lim.max_header_bytes);
    }
    r->status = 400;
    return ember_err_set(err, EMBER_EINVAL, "malformed request: %s", http_errno_description(e));
}

int ember_http_reader_eof(ember_http_reader *r, ember_err *err)
{
    if (r->in_request)
        return ember_err_set(err, EMBER_EINVAL, "connection closed in the middle of a request");
    return 0;
}

int ember_http_reader_error_status(const ember_http_reader *r)
{
    return r->status;
}

int ember_http_reader_in_request(const ember_http_reader *r)
{
    return r->in_request;
}

int ember_http_reader_in_headers(const ember_http_reader *r)
{
    return r->in_headers;
}

const char *ember_http_request_header(const ember_http_request *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void ember_http_request_free(ember_http_request *req)
{
    if (!req)
        return;
    for (int i = 0; i < req->nheaders; i++) {
        free((char *)req->headers[i].name);
        free((char *)req->headers[i].value);
    }
    free(req->headers);
    free(req->target);
    free(req->path);
    free(req->query);
    free(req->body);
    free(req);
}
