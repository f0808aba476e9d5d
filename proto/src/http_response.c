/*
 * HTTP/1.1 response serialization: status line, the framing headers every ember response
 * carries (Content-Type, Content-Length, Connection), any extra headers, and the body, into
 * one buffer so the daemon writes a response with a single call. Extra headers are checked
 * for CR/LF so that nothing a caller passes can split the response.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "buf.h"

const char *ember_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* RFC 9110 token characters. */
static int response_is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return 0;
    }
    return 1;
}

static int response_is_field_value(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

int ember_http_response_serialize(const ember_http_response *resp, char **out, size_t *out_len,
                                  ember_err *err)
{
    if (resp->status < 100 || resp->status > 599)
        return ember_err_set(err, EMBER_EINVAL, "http response: bad status %d", resp->status);
    if (resp->content_type && !response_is_field_value(resp->content_type))
        return ember_err_set(err, EMBER_EINVAL, "http response: bad Content-Type");
    for (int i = 0; i < resp->nheaders; i++) {
        const ember_http_header *h = &resp->headers[i];
        if (!response_is_token(h->name) || !response_is_field_value(h->value))
            return ember_err_set(err, EMBER_EINVAL, "http response: bad header '%s'", h->name);
    }

    /* Appended piece by piece into one allocation of the right size: no printf, no regrowth
     * (this runs for every answer). */
    size_t head = 128 + (resp->content_type ? strlen(resp->content_type) : 0);
    for (int i = 0; i < resp->nheaders; i++)
        head += strlen(resp->headers[i].name) + strlen(resp->headers[i].value) + 4;
    proto_buf b = {0};
    int rc = proto_buf_reserve(&b, head + (resp->head ? 0 : resp->body_len));
    if (rc == 0)
        rc = proto_buf_puts(&b, "HTTP/1.1 ");
    if (rc == 0)
        rc = proto_buf_int(&b, resp->status);
    if (rc == 0)
        rc = proto_buf_append(&b, " ", 1);
    if (rc == 0)
        rc = proto_buf_puts(&b, ember_http_reason(resp->status));
    if (rc == 0 && resp->content_type) {
        rc = proto_buf_puts(&b, "\r\nContent-Type: ");
        if (rc == 0)
            rc = proto_buf_puts(&b, resp->content_type);
    }
    if (rc == 0)
        rc = proto_buf_puts(&b, "\r\nContent-Length: ");
    if (rc == 0)
        rc = proto_buf_int(&b, (long long)resp->body_len);
    if (rc == 0)
        rc = proto_buf_puts(&b, resp->keep_alive ? "\r\nConnection: keep-alive\r\n"
                                                 : "\r\nConnection: close\r\n");
    for (int i = 0; rc == 0 && i < resp->nheaders; i++) {
        rc = proto_buf_puts(&b, resp->headers[i].name);
        if (rc == 0)
            rc = proto_buf_puts(&b, ": ");
        if (rc == 0)
            rc = proto_buf_puts(&b, resp->headers[i].value);
        if (rc == 0)
            rc = proto_buf_puts(&b, "\r\n");
    }
    if (rc == 0)
        rc = proto_buf_append(&b, "\r\n", 2);
    if (rc == 0 && !resp->head && resp->body_len)
        rc = proto_buf_append(&b, resp->body, resp->body_len);
    if (rc < 0) {
        proto_buf_free(&b);
        return ember_err_set(err, EMBER_ENOMEM, "http response: out of memory");
    }
    *out = proto_buf_take(&b, out_len);
    return 0;
}
