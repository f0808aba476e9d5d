/*
 * emberd's optional TCP listener, TLS 1.3 only. The OpenSSL side (contexts, sessions on
 * memory BIOs) is ember-openssl.so, loaded only when a listener is configured; this file is
 * the daemon's side: the settings and their checks, the listening uv_tcp_t, one session per
 * connection whose ciphertext conn.c moves through libuv, and the mapping of verified client
 * certificates to roles. docs/security.md has the rules; docs/config.md the keys.
 */
#ifndef EMBERD_TLS_H
#define EMBERD_TLS_H

#include <uv.h>

#include <cjson/cJSON.h>

#include <ember/err.h>
#include <ember/openssl.h>

#include "acl.h"

/* One "cn:NAME" or "subject:RFC2253" entry of the "tls_roles" object. */
typedef struct tls_rule {
    int subject; /* value is a whole subject (1) or a common name (0) */
    daemon_role role;
    char *value; /* malloc'd */
} tls_rule;

typedef struct tls_roles {
    tls_rule *rules; /* malloc'd */
    int n;
    int set;
} tls_roles;

/* Parse the "tls_roles" object of the configuration file path:
 * {"read": [...], "infer": [...], "admin": [...]}, entries "cn:NAME" or "subject:SUBJECT".
 * Errors name the file and the entry. */
int tls_roles_parse(const char *path, const cJSON *obj, tls_roles *r, ember_err *err);
/* Copy src over dst when src is set. EMBER_ENOMEM on failure. */
int tls_roles_copy(tls_roles *dst, const tls_roles *src);
void tls_roles_free(tls_roles *r);
/* The highest role an entry grants a certificate with this subject and common name. */
daemon_role tls_roles_match(const tls_roles *r, const char *subject, const char *cn);

/* "none", "read" or "infer" (what a client without a certificate may do) -> the role; -1
 * for anything else, "admin" included: admin always takes a certificate. */
int tls_anonymous_parse(const char *s);

typedef struct tls_settings {
    const char *listen; /* "HOST:PORT" ("[V6]:PORT"); NULL: no listener */
    const char *cert, *key, *client_ca;
    const tls_roles *roles;
    daemon_role anonymous;
} tls_settings;

/* The local (peer 0) or remote (peer 1) address of a TCP handle as "IP:PORT" or
 * "[IP6]:PORT", "?" when unknown. */
void tls_addr_name(const uv_tcp_t *tcp, int peer, char *out, size_t cap);

/* Check s as startup would, loading the files (EMBER_EINVAL & co., with the key or file
 * named). Nothing is left open. */
int tls_settings_check(const tls_settings *s, ember_err *err);

typedef struct tls_server {
    uv_tcp_t listener;
    int open;
    const ember_openssl_api *api;
    ember_tls_ctx *ctx;
    const tls_roles *roles;
    daemon_role anonymous;
    char name[80]; /* "https://127.0.0.1:8443", the port as bound */
} tls_server;

/* Load the files, bind and listen; on_connection runs for each client (data = ctx). On
 * failure what was opened is closed (run the loop once more, then tls_server_free). */
int tls_server_start(tls_server *ts, uv_loop_t *loop, const tls_settings *s,
                     uv_connection_cb on_connection, void *ctx, ember_err *err);
/* Stop accepting. */
void tls_server_close(tls_server *ts);
void tls_server_free(tls_server *ts);

/* A connection's session (conn.c): made when the client is accepted, freed with it. */
int tls_session_new(tls_server *ts, ember_tls **out);
void tls_session_free(tls_server *ts, ember_tls *t);
/* Ciphertext from the client in; plaintext out into buf[*len, cap), *len advanced. Returns
 * EMBER_TLS_MORE, EMBER_TLS_CLOSED, or EMBER_EIO (a failed handshake, with the reason). */
int tls_session_input(tls_server *ts, ember_tls *t, const char *cipher, size_t n, ember_err *err);
int tls_session_read(tls_server *ts, ember_tls *t, char *buf, size_t cap, size_t *len,
                     ember_err *err);
/* Encrypt plain (n may be 0), then queue close_notify when close is set; *out (malloc'd, the
 * caller frees; NULL when there is nothing) is the ciphertext to send. */
int tls_session_seal(tls_server *ts, ember_tls *t, const char *plain, size_t n, int close,
                     char **out, size_t *out_len, ember_err *err);
/* 1 once the handshake is done. */
int tls_session_established(tls_server *ts, ember_tls *t);
/* The role of the client at the other end of an established session, and who it is for the
 * logs ("certificate CN=app,O=Acme" or "a TLS client without a certificate"). */
daemon_role tls_session_role(tls_server *ts, ember_tls *t, char *who, size_t cap);

#endif
