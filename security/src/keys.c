/*
 * Signer (Ed25519) and device (X25519) keys: generating them, writing and reading key files,
 * and key ids. A key file is one text line, "ember-ed25519-secret BASE64" and so on (format in
 * docs/security.md); a signer's private key may also be a PEM PKCS#8 file from
 * `openssl genpkey -algorithm ed25519`, read through OpenSSL (ember-openssl.so, loaded only
 * then) and used with libsodium.
 * Private key material only ever sits in sodium_malloc'd memory, and a private key file that
 * group or others can access is refused before a byte of it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ember/openssl.h>
#include <sodium.h>

#include "sec_int.h"

struct ember_key {
    ember_key_kind kind;
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* Ed25519: seed || pk; X25519: 32 bytes */
    uint8_t pk[32];
    uint8_t id[EMBER_KEY_ID_BYTES];
};

static const char *kind_word(ember_key_kind kind, int secret)
{
    if (kind == EMBER_KEY_SIGNER)
        return secret ? "ember-ed25519-secret" : "ember-ed25519";
    return secret ? "ember-x25519-secret" : "ember-x25519";
}

void ember_key_id(const uint8_t pk[32], uint8_t id[EMBER_KEY_ID_BYTES])
{
    crypto_generichash(id, EMBER_KEY_ID_BYTES, pk, 32, NULL, 0);
}

void ember_key_id_to_hex(const uint8_t id[EMBER_KEY_ID_BYTES], char out[EMBER_KEY_ID_HEX])
{
    sodium_bin2hex(out, EMBER_KEY_ID_HEX, id, EMBER_KEY_ID_BYTES);
}

static ember_key *key_new(ember_key_kind kind)
{
    ember_key *k = sodium_malloc(sizeof *k);
    if (k) {
        sodium_memzero(k, sizeof *k);
        k->kind = kind;
    }
    return k;
}

void ember_key_free(ember_key *k)
{
    if (k)
        sodium_free(k);
}

ember_key_kind ember_key_kind_of(const ember_key *k)
{
    return k->kind;
}

const uint8_t *ember_key_public(const ember_key *k)
{
    return k->pk;
}

void ember_key_id_hex(const ember_key *k, char out[EMBER_KEY_ID_HEX])
{
    ember_key_id_to_hex(k->id, out);
}

/* Fill k's public half and id from 32 secret bytes (an Ed25519 seed or an X25519 scalar). */
static int key_from_secret(ember_key *k, const uint8_t secret[32])
{
    if (k->kind == EMBER_KEY_SIGNER) {
        if (crypto_sign_seed_keypair(k->pk, k->sk, secret) != 0)
            return -1;
    } else {
        memcpy(k->sk, secret, 32);
        if (crypto_scalarmult_base(k->pk, k->sk) != 0)
            return -1;
    }
    ember_key_id(k->pk, k->id);
    return 0;
}

/* Write text to path, created with mode (O_EXCL: never over an existing file) and fsync'd. */
static int write_new_file(const char *path, const char *text, mode_t mode, ember_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return ember_err_set(err, errno == EEXIST ? EMBER_ESTATE : EMBER_EIO,
                             "cannot create %s: %s", path, strerror(errno));
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    /* umask may have cleared bits, never added them; fchmod makes the mode exact. */
    int ok = off == n && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        unlink(path);
        return ember_err_set(err, EMBER_EIO, "cannot write %s: %s", path, strerror(saved));
    }
    return 0;
}

int ember_keygen(const char *dir, const char *name, ember_key_kind kind,
                 char id_hex[EMBER_KEY_ID_HEX], ember_err *err)
{
    if (kind != EMBER_KEY_SIGNER && kind != EMBER_KEY_DEVICE)
        return ember_err_set(err, EMBER_EINVAL, "unknown key kind %d", (int)kind);
    if (!sec_name_ok(name, strlen(name), EMBER_KEY_NAME_MAX))
        return ember_err_set(err, EMBER_EINVAL,
                             "key name '%s': use 1-%d of A-Z a-z 0-9 _ . - not starting with a "
                             "dot",
                             name, EMBER_KEY_NAME_MAX);
    char key_path[4096], pub_path[4096];
    if (snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name) >= (int)sizeof key_path ||
        snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name) >= (int)sizeof pub_path)
        return ember_err_set(err, EMBER_EINVAL, "directory path too long");
    if (access(pub_path, F_OK) == 0)
        return ember_err_set(err, EMBER_ESTATE, "%s already exists; not overwriting it", pub_path);

    ember_key *k = key_new(kind);
    /* secret bytes, their base64 and the line, all in locked memory */
    const size_t b64 = sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL);
    const size_t cap = 32 + b64 + 64;
    uint8_t *secret = sodium_malloc(cap);
    if (!k || !secret) {
        ember_key_free(k);
        if (secret)
            sodium_free(secret);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    }
    char *text = (char *)secret + 32;
    randombytes_buf(secret, 32);
    int rc = key_from_secret(k, secret) == 0
                 ? 0
                 : ember_err_set(err, EMBER_EUNSUPPORTED, "key derivation failed");
    if (rc == 0) {
        size_t w = (size_t)snprintf(text, cap - 32, "%s ", kind_word(kind, 1));
        sodium_bin2base64(text + w, cap - 32 - w, secret, 32, sodium_base64_VARIANT_ORIGINAL);
        strcat(text, "\n");
        rc = write_new_file(key_path, text, 0600, err);
    }
    if (rc == 0) {
        char pubtext[256];
        size_t w = (size_t)snprintf(pubtext, sizeof pubtext, "%s ", kind_word(kind, 0));
        sodium_bin2base64(pubtext + w, sizeof pubtext - w, k->pk, 32,
                          sodium_base64_VARIANT_ORIGINAL);
        w = strlen(pubtext);
        snprintf(pubtext + w, sizeof pubtext - w, " %s\n", name);
        rc = write_new_file(pub_path, pubtext, 0644, err);
        if (rc < 0)
            unlink(key_path);
    }
    if (rc == 0 && id_hex)
        ember_key_id_hex(k, id_hex);
    sodium_free(secret);
    ember_key_free(k);
    return rc;
}

/* The first line of text that is neither blank nor a # comment (text is modified). */
static char *first_line(char *text, size_t len)
{
    char *cur = text, *line;
    while ((line = sec_next_line(&cur, text + len)))
        if (*line && *line != '#')
            return line;
    return NULL;
}

/* "WORD BASE64 [comment]" -> 32 bytes in out, when WORD is expected. */
static int parse_key_line(char *line, const char *expected, uint8_t out[32], const char *path,
                          ember_err *err)
{
    size_t wl = strlen(expected);
    if (!line || strncmp(line, expected, wl) != 0 || (line[wl] != ' ' && line[wl] != '\t'))
        return ember_err_set(err, EMBER_SEC_EKEY, "%s: expected a line starting '%s '", path,
                             expected);
    char *b = line + wl;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t bl = strcspn(b, " \t");
    size_t got = 0;
    const char *endp = NULL;
    if (sodium_base642bin(out, 32, b, bl, NULL, &got, &endp, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != 32 || endp != b + bl)
        return ember_err_set(err, EMBER_SEC_EKEY, "%s: the key is not 32 bytes of base64", path);
    return 0;
}

/* A PEM PKCS#8 Ed25519 private key -> its 32-byte seed, through ember-openssl.so. */
static int pem_signer_seed(const char *text, size_t len, uint8_t seed[32], const char *path,
                           ember_err *err)
{
    const ember_openssl_api *o = ember_openssl(err);
    return o ? o->pem_ed25519_seed(text, len, seed, path, err) : EMBER_EUNSUPPORTED;
}

int sec_pem_pubkey(const char *text, size_t len, uint8_t pk[32], const char *path, ember_err *err)
{
    const ember_openssl_api *o = ember_openssl(err);
    return o ? o->pem_ed25519_public(text, len, pk, path, err) : EMBER_EUNSUPPORTED;
}

int sec_pubkey_line(char *line, ember_key_kind kind, uint8_t pk[32], const char *path,
                    ember_err *err)
{
    return parse_key_line(line, kind_word(kind, 0), pk, path, err);
}

int ember_key_load(const char *path, ember_key_kind kind, ember_key **out, ember_err *err)
{
    char *text;
    size_t len;
    int rc = sec_read_file(path, EMBER_KEY_FILE_MAX, 1, &text, &len, err);
    if (rc < 0)
        return rc;
    ember_key *k = key_new(kind);
    uint8_t *secret = sodium_malloc(32);
    if (!k || !secret) {
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
    } else if (strstr(text, "-----BEGIN PRIVATE KEY-----")) {
        if (kind != EMBER_KEY_SIGNER)
            rc = ember_err_set(err, EMBER_SEC_EKEY,
                               "%s: a device key must be an ember key file (emberctl keygen "
                               "--device)",
                               path);
        else
            rc = pem_signer_seed(text, len, secret, path, err);
    } else {
        char *line = first_line(text, len);
        if (line && strncmp(line, kind_word(kind, 1), strlen(kind_word(kind, 1))) != 0 &&
            (strncmp(line, "ember-ed25519-secret", 20) == 0 ||
             strncmp(line, "ember-x25519-secret", 19) == 0))
            rc = ember_err_set(err, EMBER_SEC_EKEY, "%s: this is a %s key, not a %s key", path,
                               kind == EMBER_KEY_SIGNER ? "device" : "signer",
                               kind == EMBER_KEY_SIGNER ? "signer" : "device");
        else
            rc = parse_key_line(line, kind_word(kind, 1), secret, path, err);
    }
    if (rc == 0 && key_from_secret(k, secret) != 0)
        rc = ember_err_set(err, EMBER_SEC_EKEY, "%s: key derivation failed", path);
    if (secret)
        sodium_free(secret);
    sec_free_file(text, 1);
    if (rc < 0) {
        ember_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int ember_pubkey_load(const char *path, ember_key_kind kind, uint8_t pk[32], ember_err *err)
{
    char *text;
    size_t len;
    int rc = sec_read_file(path, EMBER_KEY_FILE_MAX, 0, &text, &len, err);
    if (rc < 0)
        return rc;
    if (strstr(text, "PRIVATE KEY") || strstr(text, "-secret "))
        rc = ember_err_set(err, EMBER_SEC_EKEY,
                           "%s holds a private key; give the public key (.pub) instead", path);
    else if (strstr(text, "-----BEGIN PUBLIC KEY-----"))
        rc = kind == EMBER_KEY_SIGNER
                 ? sec_pem_pubkey(text, len, pk, path, err)
                 : ember_err_set(err, EMBER_SEC_EKEY, "%s: a device key must be an ember .pub",
                                 path);
    else
        rc = sec_pubkey_line(first_line(text, len), kind, pk, path, err);
    free(text);
    return rc;
}

int ember_bundle_for_device(const ember_bundle_info *info, const ember_key *device)
{
    if (!device || device->kind != EMBER_KEY_DEVICE)
        return 0;
    for (int i = 0; i < info->nrecipients; i++)
        if (sodium_memcmp(info->recipients[i], device->id, EMBER_KEY_ID_BYTES) == 0)
            return 1;
    return 0;
}

const uint8_t *sec_key_secret(const ember_key *k)
{
    return k->sk;
}
