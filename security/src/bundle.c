/*
 * The sealed bundle (docs/bundle.md): a fixed 200-byte header, one 96-byte record per
 * recipient device (its key id and the content key sealed to it with crypto_box_seal), the
 * compiled model encrypted with XChaCha20-Poly1305 secretstream in 64 KiB chunks, and an
 * Ed25519 signature over everything before it.
 *
 * Opening runs in a fixed order so nothing unauthenticated is ever interpreted beyond the few
 * size fields needed to find the signature: layout (magic, format, sizes against the file
 * length), signer in the trust store, signature, revocation, the remaining header fields, name
 * allowed for the signer, expiry; only then the content key is unwrapped and the payload
 * decrypted, into sodium_malloc'd memory, chunk by chunk, with the final tag and the signed
 * BLAKE2b hash of the plaintext checked at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "sec_int.h"

/* Header field offsets. */
enum {
    H_MAGIC = 0,
    H_FORMAT = 8,
    H_HEADER_SIZE = 12,
    H_FLAGS = 16,
    H_NRECIPIENTS = 20,
    H_VERSION = 24,
    H_CREATED = 32,
    H_EXPIRES = 40,
    H_PAYLOAD_SIZE = 48,
    H_CHUNK_SIZE = 56,
    H_NAME_LEN = 60,
    H_NAME = 64,
    H_SIGNER_ID = 128,
    H_PAYLOAD_HASH = 144,
    H_STREAM_HEADER = 176,
};

#define WRAPPED_SIZE (crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES)
#define HASH_SIZE 32

_Static_assert(H_STREAM_HEADER + crypto_secretstream_xchacha20poly1305_HEADERBYTES ==
                   EMBER_BUNDLE_FIXED_HEADER,
               "fixed header layout");
_Static_assert(EMBER_KEY_ID_BYTES + WRAPPED_SIZE == EMBER_BUNDLE_RECIPIENT_SIZE,
               "recipient record layout");
_Static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == EMBER_BUNDLE_CHUNK_OVERHEAD,
               "chunk overhead");
_Static_assert(crypto_sign_BYTES == EMBER_BUNDLE_SIGNATURE_SIZE, "signature size");

int ember_bundle_is_sealed(const void *buf, size_t len)
{
    return len >= 8 && memcmp(buf, EMBER_BUNDLE_MAGIC, 8) == 0;
}

static uint64_t nchunks_of(uint64_t payload)
{
    return (payload + EMBER_BUNDLE_CHUNK - 1) / EMBER_BUNDLE_CHUNK;
}

static uint64_t ciphertext_size(uint64_t payload)
{
    return payload + nchunks_of(payload) * EMBER_BUNDLE_CHUNK_OVERHEAD;
}

int ember_bundle_seal(const ember_seal_params *p, const void *payload, size_t payload_len,
                      uint8_t **out, size_t *out_len, ember_err *err)
{
    if (!ember_bundle_name_ok(p->name))
        return ember_err_set(err, EMBER_EINVAL,
                             "model name '%s': use 1-%d of A-Z a-z 0-9 _ . -, starting with a "
                             "letter or digit",
                             p->name, EMBER_BUNDLE_NAME_MAX);
    if (p->version < 1 || p->version > EMBER_BUNDLE_VERSION_MAX)
        return ember_err_set(err, EMBER_EINVAL, "version must be 1 to %llu",
                             (unsigned long long)EMBER_BUNDLE_VERSION_MAX);
    if (p->nrecipients < 1 || p->nrecipients > EMBER_BUNDLE_MAX_RECIPIENTS)
        return ember_err_set(err, EMBER_SEC_ELIMIT, "a bundle has 1 to %d recipients, not %d",
                             EMBER_BUNDLE_MAX_RECIPIENTS, p->nrecipients);
    if (payload_len < 1 || payload_len > EMBER_BUNDLE_MAX_PAYLOAD)
        return ember_err_set(err, EMBER_SEC_ELIMIT, "payload of %zu bytes; 1 to %llu allowed",
                             payload_len, (unsigned long long)EMBER_BUNDLE_MAX_PAYLOAD);
    if (!p->signer || ember_key_kind_of(p->signer) != EMBER_KEY_SIGNER)
        return ember_err_set(err, EMBER_SEC_EKEY, "sealing needs a signer key");
    if (p->expires < 0 || (p->expires != 0 && p->expires <= p->created))
        return ember_err_set(err, EMBER_EINVAL, "the expiry must be after the creation time");

    size_t hsize = EMBER_BUNDLE_FIXED_HEADER + (size_t)p->nrecipients * EMBER_BUNDLE_RECIPIENT_SIZE;
    size_t total = hsize + (size_t)ciphertext_size(payload_len) + EMBER_BUNDLE_SIGNATURE_SIZE;
    uint8_t *b = calloc(1, total);
    uint8_t *key = sodium_malloc(crypto_secretstream_xchacha20poly1305_KEYBYTES);
    crypto_secretstream_xchacha20poly1305_state *st = sodium_malloc(sizeof *st);
    if (!b || !key || !st) {
        free(b);
        if (key)
            sodium_free(key);
        if (st)
            sodium_free(st);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory sealing %zu bytes", payload_len);
    }
    size_t name_len = strlen(p->name);
    memcpy(b + H_MAGIC, EMBER_BUNDLE_MAGIC, 8);
    sec_wr32(b + H_FORMAT, EMBER_BUNDLE_FORMAT);
    sec_wr32(b + H_HEADER_SIZE, (uint32_t)hsize);
    sec_wr32(b + H_FLAGS, 0);
    sec_wr32(b + H_NRECIPIENTS, (uint32_t)p->nrecipients);
    sec_wr64(b + H_VERSION, p->version);
    sec_wr64(b + H_CREATED, (uint64_t)p->created);
    sec_wr64(b + H_EXPIRES, (uint64_t)p->expires);
    sec_wr64(b + H_PAYLOAD_SIZE, payload_len);
    sec_wr32(b + H_CHUNK_SIZE, EMBER_BUNDLE_CHUNK);
    sec_wr32(b + H_NAME_LEN, (uint32_t)name_len);
    memcpy(b + H_NAME, p->name, name_len);
    ember_key_id(ember_key_public(p->signer), b + H_SIGNER_ID);
    crypto_generichash(b + H_PAYLOAD_HASH, HASH_SIZE, payload, payload_len, NULL, 0);

    int rc = 0;
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_init_push(st, b + H_STREAM_HEADER, key);
    for (int i = 0; i < p->nrecipients && rc == 0; i++) {
        uint8_t *r = b + EMBER_BUNDLE_FIXED_HEADER + (size_t)i * EMBER_BUNDLE_RECIPIENT_SIZE;
        ember_key_id(p->recipients[i], r);
        if (crypto_box_seal(r + EMBER_KEY_ID_BYTES, key,
                            crypto_secretstream_xchacha20poly1305_KEYBYTES, p->recipients[i]) != 0)
            rc = ember_err_set(err, EMBER_SEC_EKEY, "recipient %d: not a usable X25519 key", i + 1);
    }
    const uint8_t *in = payload;
    uint8_t *ct = b + hsize;
    for (size_t off = 0; rc == 0 && off < payload_len; off += EMBER_BUNDLE_CHUNK) {
        size_t n = payload_len - off < EMBER_BUNDLE_CHUNK ? payload_len - off : EMBER_BUNDLE_CHUNK;
        unsigned char tag = off + n == payload_len
                                ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
        crypto_secretstream_xchacha20poly1305_push(st, ct, NULL, in + off, n, NULL, 0, tag);
        ct += n + EMBER_BUNDLE_CHUNK_OVERHEAD;
    }
    sodium_free(st);
    sodium_free(key);
    if (rc == 0)
        crypto_sign_detached(b + total - EMBER_BUNDLE_SIGNATURE_SIZE, NULL, b,
                             total - EMBER_BUNDLE_SIGNATURE_SIZE, sec_key_secret(p->signer));
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    *out_len = total;
    return 0;
}

/* The size fields, checked against each other and the buffer before anything else. */
static int check_layout(const uint8_t *b, size_t len, ember_err *err)
{
    if (len < 8 || memcmp(b, EMBER_BUNDLE_MAGIC, 8) != 0)
        return ember_err_set(err, EMBER_SEC_EMAGIC, "not a sealed ember bundle (bad magic)");
    if (len < EMBER_BUNDLE_FIXED_HEADER + EMBER_BUNDLE_SIGNATURE_SIZE)
        return ember_err_set(err, EMBER_SEC_ELAYOUT,
                             "truncated: %zu bytes is shorter than a bundle header", len);
    uint32_t format = sec_rd32(b + H_FORMAT);
    if (format != EMBER_BUNDLE_FORMAT)
        return ember_err_set(err, EMBER_SEC_EVERSION,
                             "bundle format version %u; this ember reads version %d", format,
                             EMBER_BUNDLE_FORMAT);
    uint32_t hsize = sec_rd32(b + H_HEADER_SIZE), n = sec_rd32(b + H_NRECIPIENTS);
    uint64_t payload = sec_rd64(b + H_PAYLOAD_SIZE);
    if (hsize > len - EMBER_BUNDLE_SIGNATURE_SIZE)
        return ember_err_set(err, EMBER_SEC_ELAYOUT,
                             "header length %u points past the end of the %zu-byte file", hsize,
                             len);
    if (n < 1 || n > EMBER_BUNDLE_MAX_RECIPIENTS)
        return ember_err_set(err, EMBER_SEC_ELIMIT, "%u recipients; a bundle has 1 to %d", n,
                             EMBER_BUNDLE_MAX_RECIPIENTS);
    if (hsize != EMBER_BUNDLE_FIXED_HEADER + n * EMBER_BUNDLE_RECIPIENT_SIZE)
        return ember_err_set(err, EMBER_SEC_ELAYOUT,
                             "header length %u does not fit %u recipient records", hsize, n);
    if (payload > EMBER_BUNDLE_MAX_PAYLOAD)
        return ember_err_set(
            err, EMBER_SEC_ELIMIT, "claimed payload of %llu bytes is over the %llu-byte limit",
            (unsigned long long)payload, (unsigned long long)EMBER_BUNDLE_MAX_PAYLOAD);
    if (payload == 0)
        return ember_err_set(err, EMBER_SEC_ELAYOUT, "empty payload");
    if (sec_rd32(b + H_CHUNK_SIZE) != EMBER_BUNDLE_CHUNK)
        return ember_err_set(err, EMBER_SEC_ELAYOUT, "chunk size %u; format 1 uses %d",
                             sec_rd32(b + H_CHUNK_SIZE), EMBER_BUNDLE_CHUNK);
    uint64_t want = hsize + ciphertext_size(payload) + EMBER_BUNDLE_SIGNATURE_SIZE;
    if (want != len)
        return ember_err_set(err, EMBER_SEC_ELAYOUT,
                             "the header describes %llu bytes but the file has %zu (truncated "
                             "or extended)",
                             (unsigned long long)want, len);
    return 0;
}

int ember_bundle_verify(const ember_trust *t, const void *buf, size_t len, int64_t now,
                        ember_bundle_info *info, ember_err *err)
{
    const uint8_t *b = buf;
    ember_bundle_info scratch;
    if (!info)
        info = &scratch;
    memset(info, 0, sizeof *info);
    int rc = check_layout(b, len, err);
    if (rc < 0)
        return rc;
    memcpy(info->signer_id, b + H_SIGNER_ID, EMBER_KEY_ID_BYTES);
    info->payload_size = sec_rd64(b + H_PAYLOAD_SIZE);

    char idhex[EMBER_KEY_ID_HEX];
    ember_key_id_to_hex(info->signer_id, idhex);
    const sec_trust_key *k = sec_trust_find(t, info->signer_id);
    if (!k)
        return ember_err_set(err, EMBER_SEC_EUNTRUSTED,
                             "signed by key %s, which is not in the trust store", idhex);
    snprintf(info->signer_file, sizeof info->signer_file, "%s", k->file);
    if (crypto_sign_verify_detached(b + len - EMBER_BUNDLE_SIGNATURE_SIZE, b,
                                    len - EMBER_BUNDLE_SIGNATURE_SIZE, k->pk) != 0)
        return ember_err_set(err, EMBER_SEC_ESIGNATURE,
                             "the signature does not verify with key %s (%s): the bundle was "
                             "altered",
                             idhex, k->file);
    if (sec_trust_revoked(t, info->signer_id))
        return ember_err_set(err, EMBER_SEC_EREVOKED, "signer key %s (%s) is revoked", idhex,
                             k->file);

    /* Authentic from here on; still checked, since a signer may be buggy. */
    uint32_t name_len = sec_rd32(b + H_NAME_LEN);
    if (sec_rd32(b + H_FLAGS) != 0)
        return ember_err_set(err, EMBER_SEC_EHEADER, "unknown flags 0x%x", sec_rd32(b + H_FLAGS));
    if (name_len < 1 || name_len > EMBER_BUNDLE_NAME_MAX)
        return ember_err_set(err, EMBER_SEC_EHEADER, "model name length %u", name_len);
    memcpy(info->name, b + H_NAME, name_len);
    info->name[name_len] = '\0';
    for (uint32_t i = name_len; i < EMBER_BUNDLE_NAME_MAX; i++)
        if (b[H_NAME + i] != 0)
            return ember_err_set(err, EMBER_SEC_EHEADER, "model name padding is not zero");
    if (strlen(info->name) != name_len || !ember_bundle_name_ok(info->name))
        return ember_err_set(err, EMBER_SEC_EHEADER, "invalid model name");
    info->version = sec_rd64(b + H_VERSION);
    info->created = (int64_t)sec_rd64(b + H_CREATED);
    info->expires = (int64_t)sec_rd64(b + H_EXPIRES);
    if (info->version < 1 || info->version > EMBER_BUNDLE_VERSION_MAX)
        return ember_err_set(err, EMBER_SEC_EHEADER, "model version %llu out of range",
                             (unsigned long long)info->version);
    if (info->expires < 0)
        return ember_err_set(err, EMBER_SEC_EHEADER, "negative expiry time");
    info->nrecipients = (int)sec_rd32(b + H_NRECIPIENTS);
    for (int i = 0; i < info->nrecipients; i++)
        memcpy(info->recipients[i],
               b + EMBER_BUNDLE_FIXED_HEADER + (size_t)i * EMBER_BUNDLE_RECIPIENT_SIZE,
               EMBER_KEY_ID_BYTES);
    if (!sec_trust_allows(k, info->name))
        return ember_err_set(err, EMBER_SEC_ENAME,
                             "signer %s (%s) is not allowed to sign model '%s'", idhex, k->file,
                             info->name);
    if (info->expires != 0 && now >= info->expires)
        return ember_err_set(err, EMBER_SEC_EEXPIRED, "%s version %llu expired at %lld (now %lld)",
                             info->name, (unsigned long long)info->version,
                             (long long)info->expires, (long long)now);
    return 0;
}

void ember_plain_free(ember_plain *p)
{
    if (!p)
        return;
    if (p->data)
        sodium_free(p->data);
    free(p);
}

/* Decrypt every chunk of a verified bundle into plain->data. */
static int decrypt(const uint8_t *b, const uint8_t *key, ember_plain *plain, ember_err *err)
{
    crypto_secretstream_xchacha20poly1305_state *st = sodium_malloc(sizeof *st);
    if (!st)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = 0;
    if (crypto_secretstream_xchacha20poly1305_init_pull(st, b + H_STREAM_HEADER, key) != 0)
        rc = ember_err_set(err, EMBER_SEC_EDECRYPT, "bad secretstream header");
    const uint8_t *ct = b + sec_rd32(b + H_HEADER_SIZE);
    uint64_t nchunks = nchunks_of(plain->len);
    for (uint64_t i = 0; rc == 0 && i < nchunks; i++) {
        size_t off = (size_t)i * EMBER_BUNDLE_CHUNK;
        size_t n = plain->len - off < EMBER_BUNDLE_CHUNK ? plain->len - off : EMBER_BUNDLE_CHUNK;
        unsigned char tag = 0;
        unsigned long long got = 0;
        int last = i + 1 == nchunks;
        if (crypto_secretstream_xchacha20poly1305_pull(st, plain->data + off, &got, &tag, ct,
                                                       n + EMBER_BUNDLE_CHUNK_OVERHEAD, NULL,
                                                       0) != 0)
            rc = ember_err_set(err, EMBER_SEC_EDECRYPT,
                               "payload chunk %llu of %llu does not decrypt (altered, reordered "
                               "or from another bundle)",
                               (unsigned long long)i + 1, (unsigned long long)nchunks);
        else if (got != n)
            rc = ember_err_set(err, EMBER_SEC_EDECRYPT, "payload chunk %llu has the wrong size",
                               (unsigned long long)i + 1);
        else if (last && tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            rc = ember_err_set(err, EMBER_SEC_EDECRYPT,
                               "the payload ends without its final chunk (truncated)");
        else if (!last && tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            rc = ember_err_set(err, EMBER_SEC_EDECRYPT,
                               "payload chunk %llu is marked final before the end",
                               (unsigned long long)i + 1);
        ct += n + EMBER_BUNDLE_CHUNK_OVERHEAD;
    }
    sodium_free(st);
    return rc;
}

int ember_bundle_open(const ember_trust *t, const ember_key *device, const void *buf, size_t len,
                      int64_t now, ember_plain **out, ember_bundle_info *info, ember_err *err)
{
    return ember_bundle_open_checked(t, device, buf, len, now, NULL, NULL, out, info, err);
}

int ember_bundle_open_checked(const ember_trust *t, const ember_key *device, const void *buf,
                              size_t len, int64_t now, ember_bundle_check_fn check, void *arg,
                              ember_plain **out, ember_bundle_info *info, ember_err *err)
{
    ember_bundle_info scratch;
    if (!info)
        info = &scratch;
    int rc = ember_bundle_verify(t, buf, len, now, info, err);
    if (rc == 0 && check)
        rc = check(info, arg, err);
    if (rc < 0)
        return rc;
    if (!device || ember_key_kind_of(device) != EMBER_KEY_DEVICE)
        return ember_err_set(err, EMBER_SEC_EKEY, "opening a bundle needs a device key");
    const uint8_t *b = buf;
    const uint8_t *wrapped = NULL;
    uint8_t id[EMBER_KEY_ID_BYTES];
    ember_key_id(ember_key_public(device), id);
    for (int i = 0; i < info->nrecipients; i++)
        if (memcmp(info->recipients[i], id, sizeof id) == 0)
            wrapped = b + EMBER_BUNDLE_FIXED_HEADER + (size_t)i * EMBER_BUNDLE_RECIPIENT_SIZE +
                      EMBER_KEY_ID_BYTES;
    char idhex[EMBER_KEY_ID_HEX];
    ember_key_id_to_hex(id, idhex);
    if (!wrapped)
        return ember_err_set(err, EMBER_SEC_ENOTRECIPIENT,
                             "%s version %llu is not sealed for this device (key %s)", info->name,
                             (unsigned long long)info->version, idhex);

    uint8_t *key = sodium_malloc(crypto_secretstream_xchacha20poly1305_KEYBYTES);
    ember_plain *plain = calloc(1, sizeof *plain);
    if (plain) {
        plain->len = (size_t)info->payload_size;
        plain->data = sodium_malloc(plain->len);
    }
    if (!key || !plain || !plain->data) {
        if (key)
            sodium_free(key);
        ember_plain_free(plain);
        return ember_err_set(err, EMBER_ENOMEM, "out of locked memory for %llu bytes",
                             (unsigned long long)info->payload_size);
    }
    /* sodium_malloc ignores a failed mlock; the plaintext must not land in swappable pages. */
    if (sodium_mlock(plain->data, plain->len) != 0) {
        int e = errno;
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        getrlimit(RLIMIT_MEMLOCK, &rl);
        char limit[32] = "unlimited";
        if (rl.rlim_cur != RLIM_INFINITY)
            snprintf(limit, sizeof limit, "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
        sodium_free(key);
        ember_plain_free(plain);
        return ember_err_set(err, EMBER_ENOMEM,
                             "cannot lock the %llu KiB %s version %llu decrypts to in memory: %s; "
                             "RLIMIT_MEMLOCK is %s: raise it (systemd: LimitMEMLOCK=, see "
                             "docs/security.md)",
                             (unsigned long long)(info->payload_size + 1023) / 1024, info->name,
                             (unsigned long long)info->version, strerror(e), limit);
    }
    if (crypto_box_seal_open(key, wrapped, WRAPPED_SIZE, ember_key_public(device),
                             sec_key_secret(device)) != 0)
        rc = ember_err_set(err, EMBER_SEC_EUNWRAP,
                           "the content key sealed for device %s does not open", idhex);
    if (rc == 0)
        rc = decrypt(b, key, plain, err);
    sodium_free(key);
    uint8_t hash[HASH_SIZE];
    if (rc == 0) {
        crypto_generichash(hash, sizeof hash, plain->data, plain->len, NULL, 0);
        if (sodium_memcmp(hash, b + H_PAYLOAD_HASH, sizeof hash) != 0)
            rc = ember_err_set(err, EMBER_SEC_EHASH,
                               "the decrypted payload does not match the signed hash");
    }
    if (rc < 0) {
        ember_plain_free(plain);
        return rc;
    }
    *out = plain;
    return 0;
}
