/*
 * libember-client: a small blocking HTTP/1.1 client for emberd's Unix socket.
 *
 * An ember_client holds one connection to a socket path and reuses it (keep-alive) for every
 * request. ember_client_request sends one request and reads its response; when the daemon
 * has closed an idle kept-alive connection, the client reconnects before sending, so callers
 * never see that race. Every call is bounded by the client's timeout, so a hung daemon costs a
 * caller at most that long. Response bodies are bounded by a maximum size.
 *
 * For tools and tests that need to control the bytes on the wire (pipelining, partial writes),
 * ember_client_send_raw and ember_client_recv_response expose the two halves separately.
 *
 * A client is not thread-safe: use one per thread. Functions return 0 or a negative EMBER_E*
 * code and, when err is not NULL, write a sentence into it. An HTTP error status (404, 503...)
 * is not a failure of the call: it is returned in ember_response.status.
 */
#ifndef EMBER_CLIENT_H
#define EMBER_CLIENT_H

#include <stddef.h>

#include <ember/err.h>

/* Socket used when neither an explicit path nor $EMBER_SOCKET is given (same as emberd). */
#define EMBER_CLIENT_DEFAULT_SOCKET "/run/emberd/emberd.sock"
/* Environment variable naming the socket, consulted by ember_client_default_socket. */
#define EMBER_CLIENT_SOCKET_ENV "EMBER_SOCKET"

/* Defaults applied when the matching ember_client_opts field is 0. */
#define EMBER_CLIENT_DEFAULT_TIMEOUT_MS 30000
#define EMBER_CLIENT_DEFAULT_MAX_BODY (64u * 1024 * 1024)

/* Limits on a response's header section. A response crossing one fails with EMBER_ENOMEM. */
#define EMBER_CLIENT_MAX_HEADERS 64
#define EMBER_CLIENT_MAX_HEADER_BYTES 16384
/* Limit on the request line plus the caller's extra headers. */
#define EMBER_CLIENT_MAX_REQUEST_HEAD 8192

typedef struct ember_client ember_client;

typedef struct ember_client_opts {
    /* Upper bound in milliseconds on each call (connect, one request and its response, one
     * raw send, one response read). 0 means EMBER_CLIENT_DEFAULT_TIMEOUT_MS; negative means
     * wait forever. A call that runs out fails with EMBER_EIO and the connection is closed. */
    int timeout_ms;
    /* Largest response body accepted, in bytes. 0 means EMBER_CLIENT_DEFAULT_MAX_BODY. A
     * larger body fails the call with EMBER_ENOMEM and the connection is closed. */
    size_t max_body;
} ember_client_opts;

typedef struct ember_header {
    const char *name;
    const char *value;
} ember_header;

/*
 * A response, filled by ember_client_request or ember_client_recv_response. The caller owns
 * the struct (usually on its stack); the library owns the memory its pointers refer to until
 * ember_response_free. On failure the struct is left empty (safe to free, nothing to free).
 */
typedef struct ember_response {
    /* HTTP status code, e.g. 200. */
    int status;
    /* The body followed by a NUL that body_len does not count; "" when there is none. Never
     * NULL after a successful call. */
    char *body;
    size_t body_len;
    /* 1 if the connection stays open after this response. */
    int keep_alive;
    /* Headers in arrival order, names spelled as the server sent them. */
    int nheaders;
    ember_header headers[EMBER_CLIENT_MAX_HEADERS];
    /* Storage behind headers[]; private. */
    char *header_buf;
} ember_response;

/* Release what a response refers to and empty it. Safe on an empty or already-freed one. */
void ember_response_free(ember_response *r);

/* Value of the first header named name (case-insensitive), or NULL. Borrowed from r. */
const char *ember_response_header(const ember_response *r, const char *name);

/* The socket path to use when the user gave none: $EMBER_SOCKET if set and non-empty, else
 * EMBER_CLIENT_DEFAULT_SOCKET. Borrowed (environment or a constant); do not free. */
const char *ember_client_default_socket(void);

/*
 * Connect to the Unix socket at path. opts may be NULL for the defaults. On success *out is
 * owned by the caller: free it with ember_client_close. path is copied.
 * Fails with EMBER_EINVAL for a path that does not fit a socket address, EMBER_ENOTFOUND when
 * nothing exists at path, EMBER_EIO for any other connection failure; the message names the
 * path and, when no daemon is listening, says so.
 */
int ember_client_open(const char *path, const ember_client_opts *opts, ember_client **out,
                      ember_err *err);

/* Close the connection and free the client. NULL is ignored. */
void ember_client_close(ember_client *c);

/*
 * Send one request and read its response into *resp (which the caller then frees with
 * ember_response_free).
 *
 * method and path go on the request line as given (path must already be percent-encoded);
 * headers (nheaders entries, may be NULL when 0) are added after the client's own Host and
 * User-Agent; Content-Length is always sent for a body and for POST and PUT. None of these
 * strings may contain CR or LF. body (body_len bytes, may be NULL when 0) is borrowed for the
 * duration of the call.
 *
 * If the server answers before the whole body is sent (413 for an oversized body), sending
 * stops and that answer is returned. If the server closed the kept-alive connection while it
 * was idle, the client reconnects and sends on the new connection; when a reused connection
 * is closed without a single byte of answer, the request is sent once more on a fresh one
 * (emberd's requests have no side effects, so repeating one is harmless).
 */
int ember_client_request(ember_client *c, const char *method, const char *path,
                         const ember_header *headers, int nheaders, const void *body,
                         size_t body_len, ember_response *resp, ember_err *err);

/* ember_client_request with GET and no body. */
int ember_client_get(ember_client *c, const char *path, ember_response *resp, ember_err *err);

/* ember_client_request with POST, Content-Type: application/json and body. */
int ember_client_post_json(ember_client *c, const char *path, const void *body, size_t body_len,
                           ember_response *resp, ember_err *err);

/*
 * Write len bytes from buf exactly as given, connecting first if the client has no
 * connection (after a failure or a response that closed it). No transparent reconnect: the
 * bytes may continue a request begun by an earlier call. Pair with ember_client_recv_response
 * to pipeline requests or to split one request across several writes.
 */
int ember_client_send_raw(ember_client *c, const void *buf, size_t len, ember_err *err);

/*
 * Read the next response on the connection into *resp. method is the method of the request
 * it answers (only HEAD matters: its response has no body whatever its headers say); NULL
 * means GET. Bytes that arrive after this response (the next pipelined one) are kept for the
 * next call. Fails with EMBER_EIO when the connection closes before a whole response; the
 * message then says "without answering" if not a byte of it had arrived.
 */
int ember_client_recv_response(ember_client *c, const char *method, ember_response *resp,
                               ember_err *err);

/* Number of connections this client has opened so far (1 after ember_client_open); lets a
 * caller check that keep-alive held. */
unsigned ember_client_connect_count(const ember_client *c);

#endif
