/*
 * HTTP response parsing for libember-client, on top of http-parser.
 *
 * http-parser hands over header names, header values and body bytes in pieces that follow
 * the reads, so each callback appends to the response being built: headers go into one
 * fixed buffer of EMBER_CLIENT_MAX_HEADER_BYTES as NUL-terminated name and value strings
 * (the ember_header pointers point into it and never move), the body into a buffer that
 * doubles up to the caller's limit. When a response is complete the parser pauses itself,
 * which makes http_parser_execute return right after that response's last byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"

static ember_resp_parser *parser_of(http_parser *hp)
{
    return (ember_resp_parser *)hp->data;
}

static int fail(ember_resp_parser *p, int code, const char *msg)
{
    p->fail_code = code;
    snprintf(p->fail_msg, sizeof p->fail_msg, "%s", msg);
    return -1;
}

static int header_append(ember_resp_parser *p, const char *at, size_t len)
{
    if (len > EMBER_CLIENT_MAX_HEADER_BYTES - p->header_len)
        return fail(p, EMBER_ENOMEM, "response headers exceed the client's limit");
    memcpy(p->resp->header_buf + p->header_len, at, len);
    p->header_len += len;
    return 0;
}

/* Close the header being built: terminate its last string; a name with no value callback
 * (an empty value) gets "". */
static int header_finish(ember_resp_parser *p)
{
    ember_response *r = p->resp;

    if (p->header_state == 0)
        return 0;
    if (header_append(p, "", 1) < 0)
        return -1;
    if (p->header_state == 1)
        r->headers[r->nheaders - 1].value = r->header_buf + p->header_len - 1;
    p->header_state = 0;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    ember_resp_parser *p = parser_of(hp);
    ember_response *r = p->resp;

    if (p->header_state != 1) {
        if (header_finish(p) < 0)
            return -1;
        if (r->nheaders == EMBER_CLIENT_MAX_HEADERS)
            return fail(p, EMBER_ENOMEM, "response has more headers than the client's limit");
        r->headers[r->nheaders].name = r->header_buf + p->header_len;
        r->headers[r->nheaders].value = NULL;
        r->nheaders++;
        p->header_state = 1;
    }
    return header_append(p, at, len);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    ember_resp_parser *p = parser_of(hp);
    ember_response *r = p->resp;

    if (p->header_state == 1) {
        if (header_append(p, "", 1) < 0)
            return -1;
        r->headers[r->nheaders - 1].value = r->header_buf + p->header_len;
        p->header_state = 2;
    }
    return header_append(p, at, len);
}

static int on_headers_complete(http_parser *hp)
{
    ember_resp_parser *p = parser_of(hp);

    if (header_finish(p) < 0)
        return -1;
    p->resp->status = hp->status_code;
    /* ULLONG_MAX means no Content-Length; a chunked or close-delimited body is checked as
     * it arrives. */
    if (!p->head && hp->content_length != UINT64_MAX && hp->content_length > p->max_body)
        return fail(p, EMBER_ENOMEM, "response body is larger than the client's limit");
    return p->head ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    ember_resp_parser *p = parser_of(hp);
    ember_response *r = p->resp;

    if (len > p->max_body - r->body_len)
        return fail(p, EMBER_ENOMEM, "response body is larger than the client's limit");
    if (r->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        if (cap > p->max_body + 1)
            cap = p->max_body + 1;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return fail(p, EMBER_ENOMEM, "out of memory for the response body");
        r->body = nb;
        p->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    ember_resp_parser *p = parser_of(hp);

    if (!p->resp->body) {
        p->resp->body = calloc(1, 1);
        if (!p->resp->body)
            return fail(p, EMBER_ENOMEM, "out of memory for the response body");
    }
    p->resp->keep_alive = http_should_keep_alive(hp);
    p->done = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void ember_response_free(ember_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->header_buf);
    memset(r, 0, sizeof *r);
}

const char *ember_response_header(const ember_response *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int ember_resp_parser_init(ember_resp_parser *p, ember_response *resp, size_t max_body, int head,
                           ember_err *err)
{
    memset(p, 0, sizeof *p);
    memset(resp, 0, sizeof *resp);
    resp->header_buf = malloc(EMBER_CLIENT_MAX_HEADER_BYTES);
    if (!resp->header_buf)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for response headers");
    http_parser_init(&p->hp, HTTP_RESPONSE);
    p->hp.data = p;
    p->resp = resp;
    p->max_body = max_body;
    p->head = head;
    return 0;
}

static int parse_error(ember_resp_parser *p, ember_err *err)
{
    if (p->fail_code)
        return ember_err_set(err, p->fail_code, "%s", p->fail_msg);
    return ember_err_set(err, EMBER_EFORMAT, "malformed HTTP response from emberd: %s",
                         http_errno_description(HTTP_PARSER_ERRNO(&p->hp)));
}

int ember_resp_parser_feed(ember_resp_parser *p, const char *data, size_t len, size_t *used,
                           ember_err *err)
{
    *used = 0;
    if (p->done || len == 0)
        return 0;
    *used = http_parser_execute(&p->hp, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e != HPE_OK && !(e == HPE_PAUSED && p->done))
        return parse_error(p, err);
    return 0;
}

int ember_resp_parser_eof(ember_resp_parser *p, ember_err *err)
{
    if (p->done)
        return 0;
    http_parser_execute(&p->hp, &settings, NULL, 0);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e != HPE_OK && !(e == HPE_PAUSED && p->done))
        return parse_error(p, err);
    return 0;
}
