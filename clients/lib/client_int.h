/*
 * Private to libember-client: the incremental response parser that client.c feeds with the
 * bytes it reads. It wraps http-parser, collects status, headers and body into an
 * ember_response within the public size limits, and stops right after one complete response
 * so that bytes of a following pipelined response stay unparsed in the caller's buffer.
 */
#ifndef EMBER_CLIENT_INT_H
#define EMBER_CLIENT_INT_H

#include <stddef.h>

#include <http_parser.h>

#include <ember/client.h>

typedef struct ember_resp_parser {
    http_parser hp;
    ember_response *resp;
    size_t max_body;
    size_t body_cap;
    size_t header_len; /* bytes of resp->header_buf in use */
    int header_state;  /* 0 before any header, 1 inside a name, 2 inside a value */
    int head;          /* answering a HEAD request: no body whatever the headers say */
    int done;          /* one complete response parsed */
    int fail_code;     /* EMBER_E* set by a callback that stopped the parser */
    char fail_msg[160];
} ember_resp_parser;

/* Start parsing a response into resp (which it empties first). max_body bounds the body. */
int ember_resp_parser_init(ember_resp_parser *p, ember_response *resp, size_t max_body, int head,
                           ember_err *err);

/* Parse up to len bytes; *used says how many were consumed. After the last byte of a
 * response p->done is set and nothing further is consumed. On a malformed or oversized
 * response returns a negative code and resp must be freed by the caller. */
int ember_resp_parser_feed(ember_resp_parser *p, const char *data, size_t len, size_t *used,
                           ember_err *err);

/* Tell the parser the connection ended; completes a body delimited by the close. */
int ember_resp_parser_eof(ember_resp_parser *p, ember_err *err);

#endif
