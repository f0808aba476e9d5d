/*
 * libember-security: sealed model bundles (docs/bundle.md), the keys that make and open them,
 * the trust store that says whose bundles a device accepts, and the rollback floor that keeps a
 * device from going back to an older version.
 *
 * The library handles bytes only: it never parses the compiled model it carries. A sealed
 * bundle is checked in a fixed order (layout, trusted signer, Ed25519 signature, revocation,
 * header fields, name allowed, expiry) and only then decrypted, into memory from
 * sodium_malloc (locked, guarded, excluded from core dumps, wiped on free).
 *
 * Every function returns 0 or a negative code: the shared EMBER_E* codes of <ember/err.h>, or
 * one of the EMBER_SEC_E* codes below, which name the exact reason a bundle or key was refused.
 * ember_security_strerror turns either into words; an ember_err carries the full sentence.
 */
#ifndef EMBER_SECURITY_H
#define EMBER_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include <ember/err.h>

/* Reasons a bundle, key or state file is refused (below every EMBER_E* code). */
enum {
    EMBER_SEC_EMAGIC = -101,        /* not a sealed bundle (magic) */
    EMBER_SEC_EVERSION = -102,      /* a bundle format version this build does not read */
    EMBER_SEC_ELAYOUT = -103,       /* sizes in the header disagree with each other or the file */
    EMBER_SEC_ELIMIT = -104,        /* a header field crosses a limit (payload, recipients) */
    EMBER_SEC_EUNTRUSTED = -105,    /* the signer's key is not in the trust store */
    EMBER_SEC_ESIGNATURE = -106,    /* the Ed25519 signature does not verify */
    EMBER_SEC_EREVOKED = -107,      /* the signer's key is revoked */
    EMBER_SEC_EHEADER = -108,       /* a signed header field is invalid (flags, name, version) */
    EMBER_SEC_ENAME = -109,         /* the signer is not allowed to sign this model name */
    EMBER_SEC_EEXPIRED = -110,      /* the bundle's expiry time has passed */
    EMBER_SEC_ENOTRECIPIENT = -111, /* no wrapped key for this device */
    EMBER_SEC_EUNWRAP = -112,       /* this device's wrapped content key does not open */
    EMBER_SEC_EDECRYPT = -113,      /* a payload chunk fails, is out of order, or the end is cut */
    EMBER_SEC_EHASH = -114,         /* the decrypted payload does not match its signed hash */
    EMBER_SEC_EROLLBACK = -115,     /* the version is below the highest one accepted */
    EMBER_SEC_EKEYPERM = -116,      /* a private key file is readable by group or others */
    EMBER_SEC_EKEY = -117,          /* a key file is malformed or of the wrong kind */
};

/* Limits (docs/bundle.md). */
#define EMBER_BUNDLE_MAGIC "EMBERSLD"
#define EMBER_BUNDLE_FORMAT 1
#define EMBER_BUNDLE_FIXED_HEADER 200  /* bytes before the recipient records */
#define EMBER_BUNDLE_RECIPIENT_SIZE 96 /* key id + crypto_box_seal'ed key */
#define EMBER_BUNDLE_SIGNATURE_SIZE 64 /* Ed25519 */
#define EMBER_BUNDLE_CHUNK (64 * 1024) /* plaintext bytes per secretstream chunk */
#define EMBER_BUNDLE_CHUNK_OVERHEAD 17 /* secretstream ABYTES per chunk */
#define EMBER_BUNDLE_MAX_RECIPIENTS 64
#define EMBER_BUNDLE_MAX_PAYLOAD (1ull << 30) /* 1 GiB of compiled model */
#define EMBER_BUNDLE_NAME_MAX 64
#define EMBER_BUNDLE_VERSION_MAX 999999999ull /* fits a VERSION directory name */
#define EMBER_KEY_ID_BYTES 16                 /* BLAKE2b-128 of the public key */
#define EMBER_KEY_ID_HEX (2 * EMBER_KEY_ID_BYTES + 1)
#define EMBER_KEY_FILE_MAX 16384 /* bytes of any key, trust or revoked file */
#define EMBER_TRUST_MAX_KEYS 256
#define EMBER_TRUST_MAX_PATTERNS 32 /* model-name patterns per trusted key */
#define EMBER_TRUST_MAX_REVOKED 1024
#define EMBER_KEY_NAME_MAX 64 /* NAME of NAME.key / NAME.pub */

/* Words for an EMBER_E* or EMBER_SEC_E* code. */
const char *ember_security_strerror(int code);

/* Initialise libsodium; call once before anything else (safe to call again). */
int ember_security_init(ember_err *err);

/* 1 when buf starts with the sealed-bundle magic (so it is not a plain compiled model). */
int ember_bundle_is_sealed(const void *buf, size_t len);

/* ---- keys ---- */

typedef enum ember_key_kind {
    EMBER_KEY_SIGNER = 1, /* Ed25519: signs bundles */
    EMBER_KEY_DEVICE = 2, /* X25519: opens bundles sealed to it */
} ember_key_kind;

/* A private key (and its public half) held in sodium_malloc'd memory. */
typedef struct ember_key ember_key;

/* Make a new key pair and write DIR/NAME.key (mode 0600, never over an existing file) and
 * DIR/NAME.pub (0644). NAME is 1..EMBER_KEY_NAME_MAX of [A-Za-z0-9_.-], not starting with a
 * dot. id_hex (may be NULL) receives the new key's id. */
int ember_keygen(const char *dir, const char *name, ember_key_kind kind,
                 char id_hex[EMBER_KEY_ID_HEX], ember_err *err);

/* Read a private key file: ember's own format, or for a signer a PEM PKCS#8 Ed25519 key as
 * `openssl genpkey -algorithm ed25519` writes. A file readable or writable by group or others
 * is refused (EMBER_SEC_EKEYPERM). *out is the caller's to ember_key_free. */
int ember_key_load(const char *path, ember_key_kind kind, ember_key **out, ember_err *err);
void ember_key_free(ember_key *k);
ember_key_kind ember_key_kind_of(const ember_key *k);
/* The key's public half (32 bytes) and id. */
const uint8_t *ember_key_public(const ember_key *k);
void ember_key_id_hex(const ember_key *k, char out[EMBER_KEY_ID_HEX]);

/* Read a public key file of kind (ember's format, or PEM SubjectPublicKeyInfo for a signer)
 * into pk. */
int ember_pubkey_load(const char *path, ember_key_kind kind, uint8_t pk[32], ember_err *err);

/* The id of a public key: BLAKE2b-128 of its 32 bytes, and its lowercase hex form. */
void ember_key_id(const uint8_t pk[32], uint8_t id[EMBER_KEY_ID_BYTES]);
void ember_key_id_to_hex(const uint8_t id[EMBER_KEY_ID_BYTES], char out[EMBER_KEY_ID_HEX]);

/* ---- trust store ---- */

/* Trusted signer keys (each optionally limited to model-name patterns) and revoked key ids. */
typedef struct ember_trust ember_trust;

/* An empty trust store (trusts nobody). *out is the caller's to ember_trust_free. */
int ember_trust_new(ember_trust **out, ember_err *err);
/* Add every DIR/ *.pub file (format in docs/security.md). Errors name the file and line. */
int ember_trust_load_dir(ember_trust *t, const char *dir, ember_err *err);
/* Add the key ids listed in a revoked-keys file (format in docs/security.md). */
int ember_trust_load_revoked(ember_trust *t, const char *path, ember_err *err);
void ember_trust_free(ember_trust *t);
int ember_trust_nkeys(const ember_trust *t);

/* ---- bundles ---- */

/* What a bundle's header says (filled by verify and open). */
typedef struct ember_bundle_info {
    char name[EMBER_BUNDLE_NAME_MAX + 1];
    uint64_t version;
    int64_t created, expires; /* Unix seconds; expires 0 = never */
    uint64_t payload_size;    /* bytes of the compiled model */
    uint8_t signer_id[EMBER_KEY_ID_BYTES];
    char signer_file[EMBER_KEY_NAME_MAX + 8]; /* trust store file that holds the signer */
    int nrecipients;
    uint8_t recipients[EMBER_BUNDLE_MAX_RECIPIENTS][EMBER_KEY_ID_BYTES];
} ember_bundle_info;

typedef struct ember_seal_params {
    const char *name;
    uint64_t version; /* 1..EMBER_BUNDLE_VERSION_MAX */
    int64_t created;  /* Unix seconds */
    int64_t expires;  /* 0 for never */
    const ember_key *signer;
    const uint8_t (*recipients)[32]; /* device public keys */
    int nrecipients;                 /* 1..EMBER_BUNDLE_MAX_RECIPIENTS */
} ember_seal_params;

/* Seal payload (a compiled .ember, 1..EMBER_BUNDLE_MAX_PAYLOAD bytes). On success *out
 * (*out_len bytes) is the caller's to free(). */
int ember_bundle_seal(const ember_seal_params *p, const void *payload, size_t payload_len,
                      uint8_t **out, size_t *out_len, ember_err *err);

/* Check a bundle without decrypting it: layout, a trusted signer, the signature, not revoked,
 * valid header fields, the signer allowed for the name, not expired at now (Unix seconds).
 * info (may be NULL) is filled as far as the checks got. */
int ember_bundle_verify(const ember_trust *t, const void *buf, size_t len, int64_t now,
                        ember_bundle_info *info, ember_err *err);

/* 1 when info lists device's key among the recipients. */
int ember_bundle_for_device(const ember_bundle_info *info, const ember_key *device);

/* Decrypted payload, in sodium_malloc'd memory; ember_plain_free wipes and frees it. */
typedef struct ember_plain {
    uint8_t *data;
    size_t len;
} ember_plain;

/* ember_bundle_verify, then unwrap the content key with device and decrypt every chunk into
 * locked memory, checking order, the final tag and the signed hash. On success *out is the
 * caller's to ember_plain_free. Nothing is decrypted unless verification passed. */
int ember_bundle_open(const ember_trust *t, const ember_key *device, const void *buf, size_t len,
                      int64_t now, ember_plain **out, ember_bundle_info *info, ember_err *err);
void ember_plain_free(ember_plain *p);

/* ember_bundle_open with the caller's own checks (name, version, rollback floor) between
 * verifying and decrypting: check(info, arg, err) runs once the bundle verified and nothing
 * is decrypted unless it returns 0 (its negative code is returned). One verification
 * instead of ember_bundle_verify then ember_bundle_open: Ed25519 over the whole bundle is
 * most of opening one (78% of mobilenet_v2's sealed load, twice). */
typedef int (*ember_bundle_check_fn)(const ember_bundle_info *info, void *arg, ember_err *err);
int ember_bundle_open_checked(const ember_trust *t, const ember_key *device, const void *buf,
                              size_t len, int64_t now, ember_bundle_check_fn check, void *arg,
                              ember_plain **out, ember_bundle_info *info, ember_err *err);

/* ---- rollback floor ---- */

/* The highest version accepted per model name, one file per name in a state directory. */
typedef struct ember_rollback ember_rollback;

/* Open (creating with mode 0700 if missing) the state directory. *out is the caller's to
 * ember_rollback_free. */
int ember_rollback_open(const char *dir, ember_rollback **out, ember_err *err);
void ember_rollback_free(ember_rollback *rb);
/* The floor for name (0 when none recorded). A damaged state file is an error. */
int ember_rollback_floor(const ember_rollback *rb, const char *name, uint64_t *floor,
                         ember_err *err);
/* EMBER_SEC_EROLLBACK when version is below name's floor. */
int ember_rollback_check(const ember_rollback *rb, const char *name, uint64_t version,
                         ember_err *err);
/* Raise name's floor to version (no-op when it is already as high): written to a temporary
 * file, fsync'd, renamed over the old one, and the directory fsync'd. */
int ember_rollback_accept(ember_rollback *rb, const char *name, uint64_t version, ember_err *err);

/* Write len bytes to path atomically: a temporary file beside it created with mode, fsync'd,
 * renamed over path, then the directory fsync'd. Readers see the old file or the new one. */
int ember_sec_write_file(const char *path, const void *buf, size_t len, unsigned mode,
                         ember_err *err);

/* 1 when s is a valid model name: 1..EMBER_BUNDLE_NAME_MAX of [A-Za-z0-9_.-], first a letter
 * or digit. */
int ember_bundle_name_ok(const char *s);

#endif
