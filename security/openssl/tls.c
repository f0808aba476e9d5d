/*
 * The TLS server side of ember-openssl.so, and the module's table. A context holds the
 * server's certificate chain, its key and the CAs client certificates must chain to; it
 * speaks TLS 1.3 only. A session reads ciphertext from one memory BIO and writes to another,
 * so the caller's event loop moves the bytes and nothing here waits on a socket.
 *
 * Client certificates are asked for when there is a CA: one that does not verify fails the
 * handshake (SSL_VERIFY_PEER), while a client that sends none gets in unauthenticated and the
 * caller decides what it may do.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "module.h"

/* Certificates in a client's chain checked at most (leaf, intermediates, root). */
#define TLS_VERIFY_DEPTH 8

struct ember_tls_ctx {
    SSL_CTX *ssl;
};

struct ember_tls {
    SSL *ssl;
    BIO *in, *out; /* ciphertext from and to the peer; the SSL owns both */
};

static BIO *pem_bio(const char *text)
{
    size_t len = strlen(text);
    return len > INT_MAX ? NULL : BIO_new_mem_buf(text, (int)len);
}

/* The chain: the first certificate is the server's, the rest go out with it. */
static int ctx_use_chain(SSL_CTX *ssl, const char *text, const char *path, ember_err *err)
{
    char why[160];
    BIO *bio = pem_bio(text);
    X509 *x = bio ? PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL) : NULL;
    int rc = 0;
    if (!x || SSL_CTX_use_certificate(ssl, x) != 1)
        rc = ember_err_set(err, EMBER_EINVAL, "%s: no usable PEM certificate (%s)", path,
                           ossl_reason(why, sizeof why, "none found"));
    X509_free(x);
    while (rc == 0 && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (SSL_CTX_add0_chain_cert(ssl, x) != 1) {
            X509_free(x);
            rc = ember_err_set(err, EMBER_EINVAL, "%s: cannot add a chain certificate (%s)", path,
                               ossl_reason(why, sizeof why, "unknown"));
        }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the file reads as "no start line" */
    return rc;
}

static int ctx_use_key(SSL_CTX *ssl, const char *text, const char *key_path, const char *cert_path,
                       ember_err *err)
{
    char why[160];
    BIO *bio = pem_bio(text);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, ossl_no_passphrase, NULL) : NULL;
    int rc = 0;
    if (!k)
        rc = ember_err_set(err, EMBER_EINVAL,
                           "%s: not a readable PEM private key (an encrypted key is not "
                           "supported) (%s)",
                           key_path, ossl_reason(why, sizeof why, "unknown"));
    else if (SSL_CTX_use_PrivateKey(ssl, k) != 1 || SSL_CTX_check_private_key(ssl) != 1)
        rc = ember_err_set(err, EMBER_EINVAL,
                           "%s: the private key does not match the certificate in %s (%s)",
                           key_path, cert_path, ossl_reason(why, sizeof why, "unknown"));
    EVP_PKEY_free(k);
    BIO_free(bio);
    return rc;
}

/* Trust the CAs in text for client certificates, and name them in the CertificateRequest. */
static int ctx_use_ca(SSL_CTX *ssl, const char *text, const char *path, ember_err *err)
{
    char why[160];
    BIO *bio = pem_bio(text);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    X509_STORE *store = SSL_CTX_get_cert_store(ssl);
    int n = 0, rc = 0;
    X509 *x;
    while (rc == 0 && bio && names && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_NAME *name = X509_NAME_dup(X509_get_subject_name(x));
        if (X509_STORE_add_cert(store, x) != 1 || !name || !sk_X509_NAME_push(names, name)) {
            X509_NAME_free(name);
            rc = ember_err_set(err, EMBER_EINVAL, "%s: cannot use a CA certificate (%s)", path,
                               ossl_reason(why, sizeof why, "unknown"));
        }
        X509_free(x);
        n++;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (rc == 0 && n == 0)
        rc = ember_err_set(err, EMBER_EINVAL, "%s: no PEM certificate in the file", path);
    if (rc < 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return rc;
    }
    SSL_CTX_set_client_CA_list(ssl, names);
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(ssl, TLS_VERIFY_DEPTH);
    return 0;
}

static void tls_ctx_free(ember_tls_ctx *ctx)
{
    if (ctx) {
        SSL_CTX_free(ctx->ssl);
        free(ctx);
    }
}

static int tls_ctx_new(const ember_tls_pem *pem, ember_tls_ctx **out, ember_err *err)
{
    ember_tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx || !(ctx->ssl = SSL_CTX_new(TLS_server_method()))) {
        free(ctx);
        return ember_err_set(err, EMBER_ENOMEM, "cannot create a TLS context");
    }
    SSL_CTX *ssl = ctx->ssl;
    int rc = 0;
    if (SSL_CTX_set_min_proto_version(ssl, TLS1_3_VERSION) != 1)
        rc = ember_err_set(err, EMBER_EUNSUPPORTED, "this OpenSSL cannot do TLS 1.3");
    /* No session tickets (no resumption to reason about), and idle sessions give back their
     * buffers: a thousand idle connections must stay cheap. */
    SSL_CTX_set_num_tickets(ssl, 0);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
    if (rc == 0)
        rc = ctx_use_chain(ssl, pem->cert_chain, pem->cert_path, err);
    if (rc == 0)
        rc = ctx_use_key(ssl, pem->key, pem->key_path, pem->cert_path, err);
    if (rc == 0 && pem->ca)
        rc = ctx_use_ca(ssl, pem->ca, pem->ca_path, err);
    if (rc < 0) {
        tls_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

static void tls_session_free(ember_tls *t)
{
    if (t) {
        SSL_free(t->ssl); /* and both BIOs */
        free(t);
    }
}

static int tls_session_new(ember_tls_ctx *ctx, ember_tls **out)
{
    ember_tls *t = calloc(1, sizeof *t);
    if (!t)
        return EMBER_ENOMEM;
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        return EMBER_ENOMEM;
    }
    BIO_set_mem_eof_return(t->in, -1); /* empty means "wait", not end of stream */
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;
}

static int tls_input(ember_tls *t, const void *cipher, size_t len, ember_err *err)
{
    if (len > INT_MAX || BIO_write(t->in, cipher, (int)len) != (int)len)
        return ember_err_set(err, EMBER_ENOMEM, "cannot buffer %zu bytes of TLS input", len);
    return 0;
}

static int tls_read(ember_tls *t, void *buf, size_t cap, size_t *got, ember_err *err)
{
    char why[160];
    *got = 0;
    ERR_clear_error();
    size_t n = 0;
    int ok = SSL_read_ex(t->ssl, buf, cap, &n);
    if (ok == 1) {
        *got = n;
        return EMBER_TLS_MORE;
    }
    switch (SSL_get_error(t->ssl, ok)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return EMBER_TLS_MORE;
    case SSL_ERROR_ZERO_RETURN: return EMBER_TLS_CLOSED;
    default: break;
    }
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        return ember_err_set(err, EMBER_EIO, "client certificate refused: %s",
                             X509_verify_cert_error_string(v));
    }
    return ember_err_set(err, EMBER_EIO, "%s", ossl_reason(why, sizeof why, "TLS failure"));
}

static int tls_write(ember_tls *t, const void *plain, size_t len, ember_err *err)
{
    char why[160];
    ERR_clear_error();
    size_t n = 0;
    if (len > 0 && (SSL_write_ex(t->ssl, plain, len, &n) != 1 || n != len))
        return ember_err_set(err, EMBER_EIO, "TLS write: %s",
                             ossl_reason(why, sizeof why, "failed"));
    return 0;
}

static void tls_close_notify(ember_tls *t)
{
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

static size_t tls_pending(ember_tls *t)
{
    return BIO_ctrl_pending(t->out);
}

static size_t tls_output(ember_tls *t, void *buf, size_t cap)
{
    int n = BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

static int tls_established(ember_tls *t)
{
    return SSL_is_init_finished(t->ssl);
}

static int tls_peer(ember_tls *t, char *subject, size_t subject_cap, char *cn, size_t cn_cap)
{
    subject[0] = cn[0] = '\0';
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (!x || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return 0;
    X509_NAME *name = X509_get_subject_name(x);
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(bio, subject, subject_cap > INT_MAX ? INT_MAX : (int)subject_cap - 1);
        subject[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    const ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)) : NULL;
    /* A common name with a NUL inside could pass for another: it counts as none. */
    if (s && (size_t)ASN1_STRING_length(s) < cn_cap &&
        memchr(ASN1_STRING_get0_data(s), 0, (size_t)ASN1_STRING_length(s)) == NULL) {
        memcpy(cn, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        cn[ASN1_STRING_length(s)] = '\0';
    }
    ERR_clear_error();
    return 1;
}

static const ember_openssl_api module_api = {
    .abi = EMBER_OPENSSL_ABI,
    .pem_ed25519_seed = ossl_pem_ed25519_seed,
    .pem_ed25519_public = ossl_pem_ed25519_public,
    .ctx_new = tls_ctx_new,
    .ctx_free = tls_ctx_free,
    .session_new = tls_session_new,
    .session_free = tls_session_free,
    .input = tls_input,
    .read = tls_read,
    .write = tls_write,
    .close_notify = tls_close_notify,
    .pending = tls_pending,
    .output = tls_output,
    .established = tls_established,
    .peer = tls_peer,
};

__attribute__((visibility("default"))) const ember_openssl_api *ember_openssl_module(void);

const ember_openssl_api *ember_openssl_module(void)
{
    return &module_api;
}
