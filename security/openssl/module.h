/*
 * Private to ember-openssl.so: the functions its table (<ember/openssl.h>) points to, split
 * between pem.c (keys) and tls.c (the TLS server and the table itself).
 */
#ifndef EMBER_OPENSSL_MODULE_H
#define EMBER_OPENSSL_MODULE_H

#include <ember/openssl.h>

int ossl_pem_ed25519_seed(const char *text, size_t len, uint8_t seed[32], const char *path,
                          ember_err *err);
int ossl_pem_ed25519_public(const char *text, size_t len, uint8_t pk[32], const char *path,
                            ember_err *err);

/* A passphrase callback that refuses: an encrypted key fails instead of prompting. */
int ossl_no_passphrase(char *buf, int size, int rwflag, void *u);

/* OpenSSL's first queued error as words (and the queue cleared), or fallback. */
const char *ossl_reason(char *buf, size_t cap, const char *fallback);

#endif
