/*
 * libember-security's private helpers: little-endian field access, bounded file reading and
 * the shared name rules. Nothing here is part of the public header.
 */
#ifndef EMBER_SEC_INT_H
#define EMBER_SEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ember/security.h>

static inline uint32_t sec_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sec_rd64(const uint8_t *p)
{
    return (uint64_t)sec_rd32(p) | (uint64_t)sec_rd32(p + 4) << 32;
}

static inline void sec_wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void sec_wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Read a whole regular file of at most max bytes into sodium_malloc'd memory (NUL-terminated,
 * *len bytes before the NUL) when secret is set, else malloc'd. With secret, a file with any
 * group or other permission bit is refused with EMBER_SEC_EKEYPERM. */
int sec_read_file(const char *path, size_t max, int secret, char **out, size_t *len,
                  ember_err *err);
void sec_free_file(char *buf, int secret);

/* 1 when s (n bytes) is a key or model name of [A-Za-z0-9_.-], first not a dot. */
int sec_name_ok(const char *s, size_t n, size_t max);

/* Split the next line off *cur (up to end), NUL-terminating it and stripping a trailing \r and
 * surrounding blanks; NULL at the end. */
char *sec_next_line(char **cur, char *end);

/* A PEM SubjectPublicKeyInfo Ed25519 key (text, len bytes) -> its 32 bytes. */
int sec_pem_pubkey(const char *text, size_t len, uint8_t pk[32], const char *path, ember_err *err);
/* One "ember-ed25519 BASE64 [comment]" (or x25519 for a device) line -> its 32 bytes. */
int sec_pubkey_line(char *line, ember_key_kind kind, uint8_t pk[32], const char *path,
                    ember_err *err);
/* A key's secret half: the Ed25519 secret key (seed || pk) or the X25519 scalar. */
const uint8_t *sec_key_secret(const ember_key *k);

/* One trusted signer key. */
typedef struct sec_trust_key {
    uint8_t pk[32];
    uint8_t id[EMBER_KEY_ID_BYTES];
    char file[EMBER_KEY_NAME_MAX + 8]; /* the trust store file it came from */
    int npatterns;                     /* 0: allowed for every model name */
    char *patterns[EMBER_TRUST_MAX_PATTERNS];
} sec_trust_key;

/* The trusted key with this id, or NULL. */
const sec_trust_key *sec_trust_find(const ember_trust *t, const uint8_t id[EMBER_KEY_ID_BYTES]);
/* 1 when the key id is revoked. */
int sec_trust_revoked(const ember_trust *t, const uint8_t id[EMBER_KEY_ID_BYTES]);
/* 1 when k may sign bundles named name. */
int sec_trust_allows(const sec_trust_key *k, const char *name);

#endif
