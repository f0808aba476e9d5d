/*
 * OpenSSL, loaded only when needed. Everything ember does with OpenSSL (reading PEM Ed25519
 * keys, the daemon's TLS 1.3 listener) lives in one shared module, ember-openssl.so, which
 * links libssl and libcrypto; programs reach it through ember_openssl(), which dlopens it on
 * first use. A daemon with no PEM key and no TLS listener never maps libcrypto, which saves
 * ~1.4 MB of resident memory (docs/security.md has the measurement).
 *
 * The module is found beside the build when the running program is inside the build tree
 * (meson test, the ASan build), else in its installed place, LIBDIR/ember/ember-openssl.so.
 * Nothing in the environment can redirect it.
 *
 * TLS sessions work on memory only: the caller moves ciphertext between the socket and the
 * session (ember_tls_api.input / .output), so the session never touches a file descriptor and
 * never blocks; the event loop stays the caller's.
 */
#ifndef EMBER_OPENSSL_H
#define EMBER_OPENSSL_H

#include <stddef.h>
#include <stdint.h>

#include <ember/err.h>

/* Bumped whenever the table below changes: a module of another version is refused. */
#define EMBER_OPENSSL_ABI 1
/* The one symbol the module exports: returns its table. */
#define EMBER_OPENSSL_ENTRY "ember_openssl_module"

typedef struct ember_tls_ctx ember_tls_ctx; /* a server's certificate, key and client CAs */
typedef struct ember_tls ember_tls;         /* one connection's session */

/* What ember_tls_read reports besides an error. */
enum {
    EMBER_TLS_MORE = 0,   /* nothing (more) to read until more ciphertext arrives */
    EMBER_TLS_CLOSED = 1, /* the peer sent close_notify */
};

/* PEM texts (not paths: the caller reads files, private ones with its permission rules).
 * Each is NUL-terminated; ca may be NULL (no client certificates are asked for). */
typedef struct ember_tls_pem {
    const char *cert_chain, *cert_path; /* the server certificate, then intermediates */
    const char *key, *key_path;         /* its private key (unencrypted PEM) */
    const char *ca, *ca_path;           /* CA certificates that client certificates chain to */
} ember_tls_pem;

typedef struct ember_openssl_api {
    int abi; /* EMBER_OPENSSL_ABI */
    /* A PEM PKCS#8 Ed25519 private key -> its 32-byte seed; a PEM SubjectPublicKeyInfo
     * Ed25519 key -> its 32 bytes. path only names the file in errors. Errors are
     * EMBER_SEC_EKEY (<ember/security.h>). */
    int (*pem_ed25519_seed)(const char *text, size_t len, uint8_t seed[32], const char *path,
                            ember_err *err);
    int (*pem_ed25519_public)(const char *text, size_t len, uint8_t pk[32], const char *path,
                              ember_err *err);

    /* A TLS 1.3-only server context. With pem->ca, clients are asked for a certificate, and
     * one that does not verify against ca fails the handshake; a client without one gets in
     * unauthenticated. Errors name the file and the problem (unreadable PEM, a key that does
     * not match the certificate). */
    int (*ctx_new)(const ember_tls_pem *pem, ember_tls_ctx **out, ember_err *err);
    void (*ctx_free)(ember_tls_ctx *ctx);

    /* A server session (EMBER_ENOMEM on failure). */
    int (*session_new)(ember_tls_ctx *ctx, ember_tls **out);
    void (*session_free)(ember_tls *t);
    /* Ciphertext from the peer. */
    int (*input)(ember_tls *t, const void *cipher, size_t len, ember_err *err);
    /* Advance the handshake and decrypt: up to cap bytes of plaintext into buf, *got of them.
     * EMBER_TLS_MORE, EMBER_TLS_CLOSED, or EMBER_EIO with the reason (a failed handshake:
     * an untrusted certificate, an old protocol version, not TLS at all). */
    int (*read)(ember_tls *t, void *buf, size_t cap, size_t *got, ember_err *err);
    /* Encrypt plaintext for the peer. */
    int (*write)(ember_tls *t, const void *plain, size_t len, ember_err *err);
    /* Queue close_notify. */
    void (*close_notify)(ember_tls *t);
    /* Ciphertext waiting to go to the peer: its size, and taking up to cap bytes of it. */
    size_t (*pending)(ember_tls *t);
    size_t (*output)(ember_tls *t, void *buf, size_t cap);
    /* 1 once the handshake is complete. */
    int (*established)(ember_tls *t);
    /* The peer's verified certificate: its subject as an RFC 2253 string and its common name
     * (empty when it has none). 1 with a verified certificate, 0 without one. */
    int (*peer)(ember_tls *t, char *subject, size_t subject_cap, char *cn, size_t cn_cap);
} ember_openssl_api;

/* The module's table, loading it on the first call (thread-safe). NULL with err set when it
 * cannot be loaded. */
const ember_openssl_api *ember_openssl(ember_err *err);

/* Read the server's files and make a TLS context: cert and ca as public files of at most
 * EMBER_TLS_FILE_MAX bytes, key as a private key file under the same rule as ember's own
 * keys (refused when group or others may access it, read into locked memory). ca may be
 * NULL. */
#define EMBER_TLS_FILE_MAX (1024 * 1024)
int ember_tls_ctx_open(const char *cert, const char *key, const char *ca, ember_tls_ctx **out,
                       ember_err *err);

#endif
