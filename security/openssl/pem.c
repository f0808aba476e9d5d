/*
 * PEM Ed25519 keys, as `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write
 * them: parsed by OpenSSL from memory, then handed back as raw 32-byte keys for libsodium. An
 * encrypted private key is refused rather than prompting for a passphrase.
 */
#include <limits.h>
#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ember/security.h>

#include "module.h"

int ossl_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

const char *ossl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "%s", fallback);
    ERR_clear_error();
    return buf;
}

/* The Ed25519 key in a PEM text: private (PKCS#8) or public (SubjectPublicKeyInfo). */
static int pem_ed25519(const char *text, size_t len, int private, uint8_t out[32], const char *path,
                       ember_err *err)
{
    if (len > INT_MAX)
        return ember_err_set(err, EMBER_SEC_EKEY, "%s: too large for a key", path);
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = NULL;
    if (bio)
        pkey = private ? PEM_read_bio_PrivateKey(bio, NULL, ossl_no_passphrase, NULL)
                       : PEM_read_bio_PUBKEY(bio, NULL, ossl_no_passphrase, NULL);
    int rc = 0;
    size_t n = 32;
    if (!pkey)
        rc = ember_err_set(err, EMBER_SEC_EKEY, "%s: not a readable PEM %s key%s", path,
                           private ? "private" : "public",
                           private ? " (an encrypted key is not supported)" : "");
    else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519)
        rc = ember_err_set(err, EMBER_SEC_EKEY, "%s: the PEM key is not an Ed25519 key", path);
    else if ((private ? EVP_PKEY_get_raw_private_key(pkey, out, &n)
                      : EVP_PKEY_get_raw_public_key(pkey, out, &n)) != 1 ||
             n != 32)
        rc = ember_err_set(err, EMBER_SEC_EKEY, "%s: cannot read the Ed25519 %s key", path,
                           private ? "private" : "public");
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int ossl_pem_ed25519_seed(const char *text, size_t len, uint8_t seed[32], const char *path,
                          ember_err *err)
{
    return pem_ed25519(text, len, 1, seed, path, err);
}

int ossl_pem_ed25519_public(const char *text, size_t len, uint8_t pk[32], const char *path,
                            ember_err *err)
{
    return pem_ed25519(text, len, 0, pk, path, err);
}
