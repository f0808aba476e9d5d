/*
 * Check unit tests for libember-security: sealing and opening bundles, and the attack suite of
 * issue 5. Every tampering is tried twice where it matters: as an attacker without the
 * signing key (the signature or layout check must catch it), and re-signed with the trusted
 * key (so the decryption layer's own checks are proven too). Each case asserts its specific
 * EMBER_SEC_E* code. Keys are real files in a temporary directory; crypto is real libsodium.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <ember/security.h>

#include "../memlock_limit.h"
#include "sec_int.h"

/* 3 full chunks and a partial one. */
#define PAYLOAD_LEN (3 * EMBER_BUNDLE_CHUNK + 1000)
#define NCHUNKS 4
#define NOW ((int64_t)1700000000)

static char dir[64], trust_dir[128];
static ember_key *signer, *rogue, *dev_a, *dev_b;
static ember_trust *trust;
static uint8_t *payload;

static const char *path_in(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static ember_key *keygen_load(const char *name, ember_key_kind kind)
{
    ember_err err = {{0}};
    char file[80];
    ck_assert_msg(ember_keygen(dir, name, kind, NULL, &err) == 0, "keygen: %s", err.msg);
    snprintf(file, sizeof file, "%s.key", name);
    ember_key *k = NULL;
    ck_assert_msg(ember_key_load(path_in(file), kind, &k, &err) == 0, "load: %s", err.msg);
    return k;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    char *t = strdup(read_text(from));
    write_text(to, t);
    free(t);
}

static ember_trust *trust_from(const char *d, const char *revoked)
{
    ember_trust *t;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_trust_new(&t, &err), 0);
    ck_assert_msg(ember_trust_load_dir(t, d, &err) == 0, "trust: %s", err.msg);
    if (revoked)
        ck_assert_msg(ember_trust_load_revoked(t, revoked, &err) == 0, "revoked: %s", err.msg);
    return t;
}

static void setup(void)
{
    ck_assert_int_eq(ember_security_init(NULL), 0);
    snprintf(dir, sizeof dir, "/tmp/ember-sec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(trust_dir, sizeof trust_dir, "%s/trust", dir);
    ck_assert_int_eq(mkdir(trust_dir, 0700), 0);
    signer = keygen_load("signer", EMBER_KEY_SIGNER);
    rogue = keygen_load("rogue", EMBER_KEY_SIGNER);
    dev_a = keygen_load("dev-a", EMBER_KEY_DEVICE);
    dev_b = keygen_load("dev-b", EMBER_KEY_DEVICE);
    copy_file(path_in("signer.pub"), path_in("trust/signer.pub"));
    trust = trust_from(trust_dir, NULL);
    payload = malloc(PAYLOAD_LEN);
    randombytes_buf(payload, PAYLOAD_LEN);
}

static void teardown(void)
{
    char cmd[128];
    ember_key_free(signer);
    ember_key_free(rogue);
    ember_key_free(dev_a);
    ember_key_free(dev_b);
    ember_trust_free(trust);
    free(payload);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A bundle of payload named name, version v, sealed to n devices (dev_a, then dev_b). */
static uint8_t *seal_full(const ember_key *by, const char *name, uint64_t v, int64_t expires, int n,
                          size_t *len)
{
    uint8_t rcpt[2][32];
    memcpy(rcpt[0], ember_key_public(dev_a), 32);
    memcpy(rcpt[1], ember_key_public(dev_b), 32);
    ember_seal_params p = {.name = name,
                           .version = v,
                           .created = NOW - 100,
                           .expires = expires,
                           .signer = by,
                           .recipients = (const uint8_t(*)[32])rcpt,
                           .nrecipients = n};
    uint8_t *b = NULL;
    ember_err err = {{0}};
    ck_assert_msg(ember_bundle_seal(&p, payload, PAYLOAD_LEN, &b, len, &err) == 0, "seal: %s",
                  err.msg);
    return b;
}

static uint8_t *seal1(size_t *len)
{
    return seal_full(signer, "digits", 2, 0, 1, len);
}

static uint8_t *seal2(size_t *len)
{
    return seal_full(signer, "digits", 2, 0, 2, len);
}

/* Sign b again with k (what only a holder of k can do). */
static void resign(uint8_t *b, size_t len, const ember_key *k)
{
    crypto_sign_detached(b + len - 64, NULL, b, len - 64, sec_key_secret(k));
}

static int verify(const uint8_t *b, size_t len, ember_err *err)
{
    return ember_bundle_verify(trust, b, len, NOW, NULL, err);
}

/* Open with dev_a and throw the plaintext away; the code. */
static int open_a(const ember_trust *t, const uint8_t *b, size_t len, ember_err *err)
{
    ember_plain *p = NULL;
    int rc = ember_bundle_open(t, dev_a, b, len, NOW, &p, NULL, err);
    ember_plain_free(p);
    return rc;
}

#define ASSERT_CODE(expr, want)                                                                    \
    do {                                                                                           \
        ember_err e_ = {{0}};                                                                      \
        int rc_ = (expr);                                                                          \
        (void)e_;                                                                                  \
        ck_assert_msg(rc_ == (want), "%s: got %d (%s), want %d (%s)", #expr, rc_,                  \
                      ember_security_strerror(rc_), (want), ember_security_strerror(want));        \
    } while (0)

START_TEST(seal_open_roundtrip)
{
    size_t len;
    uint8_t *b = seal2(&len);
    ember_err err = {{0}};
    ember_bundle_info info;
    ember_plain *p = NULL;
    ck_assert_msg(ember_bundle_open(trust, dev_a, b, len, NOW, &p, &info, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(p->len, PAYLOAD_LEN);
    ck_assert_mem_eq(p->data, payload, PAYLOAD_LEN);
    ck_assert_str_eq(info.name, "digits");
    ck_assert_uint_eq(info.version, 2);
    ck_assert_int_eq(info.nrecipients, 2);
    ck_assert_str_eq(info.signer_file, "signer.pub");
    ck_assert(ember_bundle_for_device(&info, dev_a));
    ck_assert(ember_bundle_for_device(&info, dev_b));
    ember_plain_free(p);
    ck_assert_int_eq(ember_bundle_open(trust, dev_b, b, len, NOW, &p, NULL, &err), 0);
    ck_assert_mem_eq(p->data, payload, PAYLOAD_LEN);
    ember_plain_free(p);
    ck_assert(ember_bundle_is_sealed(b, len));
    ck_assert_uint_eq(len, EMBER_BUNDLE_FIXED_HEADER + 2 * EMBER_BUNDLE_RECIPIENT_SIZE +
                               PAYLOAD_LEN + NCHUNKS * EMBER_BUNDLE_CHUNK_OVERHEAD + 64);
    free(b);
}
END_TEST

/* The plaintext sits in memory that is excluded from core dumps (and locked: we run as root
 * or with a memlock limit, so only "dd" is asserted). */
START_TEST(plaintext_not_dumpable)
{
    size_t len;
    uint8_t *b = seal1(&len);
    ember_plain *p = NULL;
    ck_assert_int_eq(ember_bundle_open(trust, dev_a, b, len, NOW, &p, NULL, NULL), 0);
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int inside = 0, found = 0;
    uintptr_t at = (uintptr_t)p->data;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = at >= lo && at < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " dd") != NULL;
    }
    fclose(f);
    ck_assert_msg(found, "the plaintext mapping is not marked MADV_DONTDUMP");
    ember_plain_free(p);
    free(b);
}
END_TEST

#ifndef __SANITIZE_ADDRESS__
/* Past RLIMIT_MEMLOCK the plaintext is refused rather than left in swappable memory (which
 * sodium_malloc alone would do), with the limit and how to raise it. */
static uint8_t *bundle_under_limit;
static size_t bundle_under_limit_len;

static int open_step(void *arg, ember_err *err)
{
    (void)arg;
    ember_plain *p = NULL;
    int rc = ember_bundle_open(trust, dev_a, bundle_under_limit, bundle_under_limit_len, NOW, &p,
                               NULL, err);
    ember_plain_free(p);
    return rc;
}

START_TEST(plaintext_over_the_lock_limit_is_refused)
{
    bundle_under_limit = seal1(&bundle_under_limit_len);
    int rc;
    char msg[300];
    ck_assert_int_eq(memlock_limited(64 * 1024, open_step, NULL, &rc, msg, sizeof msg), 0);
    ck_assert_int_eq(rc, EMBER_ENOMEM);
    ck_assert_msg(strstr(msg, "digits version 2"), "%s", msg);
    ck_assert_msg(strstr(msg, "RLIMIT_MEMLOCK is 64 KiB"), "%s", msg);
    ck_assert_msg(strstr(msg, "LimitMEMLOCK="), "%s", msg);
    free(bundle_under_limit);
}
END_TEST
#endif

/* Expected error for a byte flipped (XOR 1) at off, by an attacker without the key. */
static int expected_for_flip(const uint8_t *b, size_t len, size_t off)
{
    size_t hsize = sec_rd32(b + 12);
    if (off < 8)
        return EMBER_SEC_EMAGIC;
    if (off < 12)
        return EMBER_SEC_EVERSION;
    if (off < 16)
        return EMBER_SEC_ELAYOUT;
    if (off >= 20 && off < 24) {
        uint32_t n = sec_rd32(b + 20) ^ (1u << (8 * (off - 20)));
        return n < 1 || n > EMBER_BUNDLE_MAX_RECIPIENTS ? EMBER_SEC_ELIMIT : EMBER_SEC_ELAYOUT;
    }
    if (off >= 48 && off < 56) {
        uint64_t v = sec_rd64(b + 48) ^ (1ull << (8 * (off - 48)));
        return v > EMBER_BUNDLE_MAX_PAYLOAD ? EMBER_SEC_ELIMIT : EMBER_SEC_ELAYOUT;
    }
    if (off >= 56 && off < 60)
        return EMBER_SEC_ELAYOUT;
    if (off >= 128 && off < 144)
        return EMBER_SEC_EUNTRUSTED;
    (void)hsize, (void)len;
    return EMBER_SEC_ESIGNATURE;
}

START_TEST(flip_every_header_byte)
{
    size_t len;
    uint8_t *b = seal2(&len);
    size_t hsize = sec_rd32(b + 12);
    for (size_t off = 0; off < hsize; off++) {
        b[off] ^= 1;
        ember_err err = {{0}};
        int rc = verify(b, len, &err);
        b[off] ^= 1;
        int want = expected_for_flip(b, len, off);
        ck_assert_msg(rc == want, "byte %zu: got %d (%s), want %d", off, rc, err.msg, want);
    }
    ck_assert_int_eq(verify(b, len, NULL), 0);
    free(b);
}
END_TEST

/* The check of ember_bundle_open_checked: called once, after verification and before
 * decryption, with the verified header; its refusal is the result and nothing is opened. */
static int checks_seen;
static int refuse_version_2(const ember_bundle_info *info, void *arg, ember_err *err)
{
    (void)arg;
    checks_seen++;
    if (info->version == 2)
        return ember_err_set(err, EMBER_SEC_EROLLBACK, "version 2 is below the floor");
    return 0;
}

static int accept_all(const ember_bundle_info *info, void *arg, ember_err *err)
{
    (void)info;
    (void)err;
    (*(int *)arg)++;
    return 0;
}

START_TEST(open_checked_runs_the_check_between_verify_and_decrypt)
{
    size_t len;
    uint8_t *b = seal1(&len); /* digits version 2 */
    ember_plain *p = NULL;
    checks_seen = 0;
    ASSERT_CODE(ember_bundle_open_checked(trust, dev_a, b, len, NOW, refuse_version_2, NULL, &p,
                                          NULL, &e_),
                EMBER_SEC_EROLLBACK);
    ck_assert_int_eq(checks_seen, 1);
    ck_assert_ptr_null(p);
    /* A bundle that does not verify never reaches the check. */
    b[len - 1] ^= 1;
    int calls = 0;
    ASSERT_CODE(ember_bundle_open_checked(trust, dev_a, b, len, NOW, accept_all, &calls, &p, NULL,
                                          &e_),
                EMBER_SEC_ESIGNATURE);
    ck_assert_int_eq(calls, 0);
    b[len - 1] ^= 1;
    ember_bundle_info info;
    ASSERT_CODE(ember_bundle_open_checked(trust, dev_a, b, len, NOW, accept_all, &calls, &p,
                                          &info, &e_),
                0);
    ck_assert_int_eq(calls, 1);
    ck_assert_uint_eq(p->len, PAYLOAD_LEN);
    ck_assert_int_eq(memcmp(p->data, payload, PAYLOAD_LEN), 0);
    ember_plain_free(p);
    free(b);
}
END_TEST

START_TEST(flip_ciphertext_tag_and_signature)
{
    size_t len;
    uint8_t *b = seal2(&len);
    size_t hsize = sec_rd32(b + 12);
    /* In every chunk: the encrypted tag byte (first), a middle byte, the MAC (last 16). */
    for (int c = 0; c < NCHUNKS; c++) {
        size_t start = hsize + (size_t)c * (EMBER_BUNDLE_CHUNK + 17);
        size_t n = c + 1 < NCHUNKS ? EMBER_BUNDLE_CHUNK + 17 : 1000 + 17;
        size_t offs[] = {start, start + n / 2, start + n - 16, start + n - 1};
        for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            b[offs[i]] ^= 1;
            ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ESIGNATURE);
            resign(b, len, signer);
            ASSERT_CODE(open_a(trust, b, len, &e_), EMBER_SEC_EDECRYPT);
            b[offs[i]] ^= 1;
            resign(b, len, signer);
        }
    }
    for (size_t off = len - 64; off < len; off++) {
        b[off] ^= 0x80;
        ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ESIGNATURE);
        b[off] ^= 0x80;
    }
    ASSERT_CODE(open_a(trust, b, len, &e_), 0);
    free(b);
}
END_TEST

/* Tampering that only a signer could do is still caught by the decryption layer. */
START_TEST(resigned_header_tampering)
{
    size_t len;
    uint8_t *b = seal2(&len);
    const size_t rec_a = EMBER_BUNDLE_FIXED_HEADER, rec_b = rec_a + EMBER_BUNDLE_RECIPIENT_SIZE;
    struct {
        size_t off;
        int want;
    } cases[] = {
        {144, EMBER_SEC_EHASH},               /* payload hash */
        {176, EMBER_SEC_EDECRYPT},            /* secretstream header */
        {rec_a + 3, EMBER_SEC_ENOTRECIPIENT}, /* dev_a's key id */
        {rec_a + 16, EMBER_SEC_EUNWRAP},      /* dev_a's wrapped key, first byte */
        {rec_a + 95, EMBER_SEC_EUNWRAP},      /* ... and last */
        {rec_b + 40, 0},                      /* dev_b's record does not concern a */
        {16, EMBER_SEC_EHEADER},              /* flags */
        {60, EMBER_SEC_EHEADER},              /* name length 7: a NUL in the name */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b[cases[i].off] ^= 1;
        resign(b, len, signer);
        ASSERT_CODE(open_a(trust, b, len, &e_), cases[i].want);
        b[cases[i].off] ^= 1;
    }
    b[64] = '.'; /* ".igits": not a valid model name */
    resign(b, len, signer);
    ASSERT_CODE(open_a(trust, b, len, &e_), EMBER_SEC_EHEADER);
    free(b);
}
END_TEST

START_TEST(truncate_at_every_chunk_boundary)
{
    size_t len;
    uint8_t *b = seal1(&len);
    size_t hsize = sec_rd32(b + 12);
    for (int c = 0; c <= NCHUNKS; c++) {
        size_t cut = hsize + (size_t)c * (EMBER_BUNDLE_CHUNK + 17);
        if (c == NCHUNKS)
            cut = len - 64; /* every chunk, no signature */
        /* attacker: drop the tail (keeping or moving the signature) */
        ASSERT_CODE(verify(b, cut, &e_), EMBER_SEC_ELAYOUT);
        if (c == 0 || c == NCHUNKS)
            continue;
        /* signer-made: whole chunks only, the size field shrunk to match, re-signed */
        size_t tlen = cut + 64;
        uint8_t *t = malloc(tlen);
        memcpy(t, b, cut);
        sec_wr64(t + 48, (uint64_t)c * EMBER_BUNDLE_CHUNK);
        resign(t, tlen, signer);
        ASSERT_CODE(verify(t, tlen, &e_), 0);
        ASSERT_CODE(open_a(trust, t, tlen, &e_), EMBER_SEC_EDECRYPT);
        free(t);
    }
    free(b);
}
END_TEST

START_TEST(swap_two_chunks)
{
    size_t len;
    uint8_t *b = seal1(&len);
    size_t hsize = sec_rd32(b + 12), csz = EMBER_BUNDLE_CHUNK + 17;
    uint8_t *tmp = malloc(csz);
    memcpy(tmp, b + hsize, csz);
    memmove(b + hsize, b + hsize + csz, csz);
    memcpy(b + hsize + csz, tmp, csz);
    free(tmp);
    ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ESIGNATURE);
    resign(b, len, signer);
    ASSERT_CODE(open_a(trust, b, len, &e_), EMBER_SEC_EDECRYPT);
    free(b);
}
END_TEST

START_TEST(resigned_by_untrusted_key)
{
    size_t len;
    uint8_t *b = seal1(&len);
    resign(b, len, rogue); /* still naming the trusted signer's id */
    ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ESIGNATURE);
    ember_key_id(ember_key_public(rogue), b + 128);
    resign(b, len, rogue);
    ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_EUNTRUSTED);
    free(b);
    b = seal_full(rogue, "digits", 2, 0, 1, &len);
    ASSERT_CODE(open_a(trust, b, len, &e_), EMBER_SEC_EUNTRUSTED);
    free(b);
}
END_TEST

START_TEST(revoked_signer)
{
    char line[64];
    ember_key_id_hex(signer, line);
    strcat(line, "  # leaked\n");
    write_text(path_in("revoked"), line);
    ember_trust *t = trust_from(trust_dir, path_in("revoked"));
    size_t len;
    uint8_t *b = seal1(&len);
    ASSERT_CODE(open_a(t, b, len, &e_), EMBER_SEC_EREVOKED);
    ASSERT_CODE(open_a(trust, b, len, &e_), 0);
    ember_trust_free(t);
    free(b);
    write_text(path_in("revoked"), "# none\nnot-hex\n");
    ember_err err = {{0}};
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_revoked(t, path_in("revoked"), &err), EMBER_EINVAL);
    ck_assert_msg(strstr(err.msg, ":2:"), "names the line: %s", err.msg);
    ember_trust_free(t);
}
END_TEST

START_TEST(signer_not_allowed_for_name)
{
    char text[512];
    snprintf(text, sizeof text, "# limited\n%smodels: sensor-* kws\n",
             read_text(path_in("signer.pub")));
    write_text(path_in("trust/signer.pub"), text);
    ember_trust *t = trust_from(trust_dir, NULL);
    size_t len;
    uint8_t *b = seal1(&len);
    ASSERT_CODE(open_a(t, b, len, &e_), EMBER_SEC_ENAME);
    free(b);
    b = seal_full(signer, "sensor-7", 1, 0, 1, &len);
    ASSERT_CODE(open_a(t, b, len, &e_), 0);
    free(b);
    b = seal_full(signer, "kws", 1, 0, 1, &len);
    ASSERT_CODE(open_a(t, b, len, &e_), 0);
    free(b);
    ember_trust_free(t);
}
END_TEST

START_TEST(expired)
{
    size_t len;
    uint8_t *b = seal_full(signer, "digits", 2, NOW - 10, 1, &len);
    ASSERT_CODE(open_a(trust, b, len, &e_), EMBER_SEC_EEXPIRED);
    ASSERT_CODE(ember_bundle_verify(trust, b, len, NOW - 11, NULL, &e_), 0);
    free(b);
}
END_TEST

START_TEST(bundle_for_another_device)
{
    size_t len;
    uint8_t *b = seal1(&len);
    ember_plain *p = NULL;
    ember_bundle_info info;
    ASSERT_CODE(ember_bundle_open(trust, dev_b, b, len, NOW, &p, &info, &e_),
                EMBER_SEC_ENOTRECIPIENT);
    ck_assert_ptr_null(p);
    ck_assert(!ember_bundle_for_device(&info, dev_b));
    ck_assert(ember_bundle_for_device(&info, dev_a));
    free(b);
}
END_TEST

START_TEST(header_length_past_end)
{
    size_t len;
    uint8_t *b = seal1(&len);
    ember_err err = {{0}};
    sec_wr32(b + 12, (uint32_t)len + 100);
    ck_assert_int_eq(verify(b, len, &err), EMBER_SEC_ELAYOUT);
    ck_assert_msg(strstr(err.msg, "past the end"), "%s", err.msg);
    sec_wr32(b + 12, 0xFFFFFFFFu);
    ck_assert_int_eq(verify(b, len, &err), EMBER_SEC_ELAYOUT);
    ASSERT_CODE(verify(b, 40, &e_), EMBER_SEC_ELAYOUT);
    ASSERT_CODE(verify(b, 5, &e_), EMBER_SEC_EMAGIC);
    free(b);
}
END_TEST

START_TEST(claimed_4gib_payload)
{
    size_t len;
    uint8_t *b = seal1(&len);
    ember_err err = {{0}};
    sec_wr64(b + 48, 4ull << 30);
    ck_assert_int_eq(verify(b, len, &err), EMBER_SEC_ELIMIT);
    ck_assert_msg(strstr(err.msg, "4294967296"), "%s", err.msg);
    /* just over the limit, and at it (then only the file length disagrees) */
    sec_wr64(b + 48, EMBER_BUNDLE_MAX_PAYLOAD + 1);
    ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ELIMIT);
    sec_wr64(b + 48, EMBER_BUNDLE_MAX_PAYLOAD);
    ASSERT_CODE(verify(b, len, &e_), EMBER_SEC_ELAYOUT);
    free(b);
}
END_TEST

START_TEST(seal_limits)
{
    uint8_t rcpt[EMBER_BUNDLE_MAX_RECIPIENTS + 1][32];
    for (int i = 0; i <= EMBER_BUNDLE_MAX_RECIPIENTS; i++)
        memcpy(rcpt[i], ember_key_public(dev_a), 32);
    ember_seal_params p = {.name = "digits",
                           .version = 1,
                           .created = NOW,
                           .signer = signer,
                           .recipients = (const uint8_t(*)[32])rcpt,
                           .nrecipients = EMBER_BUNDLE_MAX_RECIPIENTS};
    uint8_t *b = NULL;
    size_t len;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), 0);
    ASSERT_CODE(open_a(trust, b, len, &e_), 0);
    free(b);
    p.nrecipients = EMBER_BUNDLE_MAX_RECIPIENTS + 1;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), EMBER_SEC_ELIMIT);
    p.nrecipients = 0;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), EMBER_SEC_ELIMIT);
    p.nrecipients = 1;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 0, &b, &len, &e_), EMBER_SEC_ELIMIT);
    ASSERT_CODE(ember_bundle_seal(&p, payload, EMBER_BUNDLE_MAX_PAYLOAD + 1, &b, &len, &e_),
                EMBER_SEC_ELIMIT);
    p.version = EMBER_BUNDLE_VERSION_MAX + 1;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), EMBER_EINVAL);
    p.version = EMBER_BUNDLE_VERSION_MAX;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), 0);
    free(b);
    char name[EMBER_BUNDLE_NAME_MAX + 2];
    memset(name, 'a', sizeof name);
    name[EMBER_BUNDLE_NAME_MAX] = '\0';
    p.name = name;
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), 0);
    free(b);
    name[EMBER_BUNDLE_NAME_MAX] = 'a';
    name[EMBER_BUNDLE_NAME_MAX + 1] = '\0';
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), EMBER_EINVAL);
    p.name = "../etc";
    ASSERT_CODE(ember_bundle_seal(&p, payload, 100, &b, &len, &e_), EMBER_EINVAL);
}
END_TEST

START_TEST(rollback_floor)
{
    ember_rollback *rb;
    ember_err err = {{0}};
    const char *state = path_in("state");
    ck_assert_int_eq(ember_rollback_open(state, &rb, &err), 0);
    ASSERT_CODE(ember_rollback_check(rb, "digits", 1, &e_), 0);
    ASSERT_CODE(ember_rollback_accept(rb, "digits", 5, &e_), 0);
    ASSERT_CODE(ember_rollback_check(rb, "digits", 4, &e_), EMBER_SEC_EROLLBACK);
    ASSERT_CODE(ember_rollback_check(rb, "digits", 5, &e_), 0);
    ASSERT_CODE(ember_rollback_check(rb, "other", 1, &e_), 0);
    ASSERT_CODE(ember_rollback_accept(rb, "digits", 3, &e_), 0); /* never lowers */
    ember_rollback_free(rb);
    /* reopened: the floor survived */
    ck_assert_int_eq(ember_rollback_open(state, &rb, &err), 0);
    ASSERT_CODE(ember_rollback_check(rb, "digits", 4, &e_), EMBER_SEC_EROLLBACK);
    uint64_t floor;
    ck_assert_int_eq(ember_rollback_floor(rb, "digits", &floor, NULL), 0);
    ck_assert_uint_eq(floor, 5);
    ck_assert_str_eq(read_text(path_in("state/digits.floor")), "5\n");
    struct stat st;
    ck_assert_int_eq(stat(state, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    /* a damaged floor fails closed */
    write_text(path_in("state/digits.floor"), "x\n");
    ASSERT_CODE(ember_rollback_check(rb, "digits", 9, &e_), EMBER_EFORMAT);
    ASSERT_CODE(ember_rollback_check(rb, "../x", 9, &e_), EMBER_EINVAL);
    ember_rollback_free(rb);
}
END_TEST

START_TEST(key_file_permissions)
{
    struct stat st;
    ck_assert_int_eq(stat(path_in("signer.key"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(path_in("signer.pub"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    const mode_t bad[] = {0640, 0604, 0660, 0644, 0620, 0602};
    ember_key *k = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(chmod(path_in("signer.key"), bad[i]), 0);
        ASSERT_CODE(ember_key_load(path_in("signer.key"), EMBER_KEY_SIGNER, &k, &e_),
                    EMBER_SEC_EKEYPERM);
        ck_assert_int_eq(chmod(path_in("dev-a.key"), bad[i]), 0);
        ASSERT_CODE(ember_key_load(path_in("dev-a.key"), EMBER_KEY_DEVICE, &k, &e_),
                    EMBER_SEC_EKEYPERM);
    }
    ck_assert_int_eq(chmod(path_in("signer.key"), 0400), 0);
    ASSERT_CODE(ember_key_load(path_in("signer.key"), EMBER_KEY_SIGNER, &k, &e_), 0);
    ember_key_free(k);
    /* never overwritten; wrong kinds and malformed files are refused */
    ASSERT_CODE(ember_keygen(dir, "signer", EMBER_KEY_SIGNER, NULL, &e_), EMBER_ESTATE);
    ASSERT_CODE(ember_key_load(path_in("signer.key"), EMBER_KEY_DEVICE, &k, &e_), EMBER_SEC_EKEY);
    ASSERT_CODE(ember_keygen(dir, ".hidden", EMBER_KEY_SIGNER, NULL, &e_), EMBER_EINVAL);
    int fd = open(path_in("junk.key"), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, "ember-ed25519-secret AAAA\n", 26), 26);
    close(fd);
    ASSERT_CODE(ember_key_load(path_in("junk.key"), EMBER_KEY_SIGNER, &k, &e_), EMBER_SEC_EKEY);
    /* the size limit */
    fd = open(path_in("big.key"), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(ftruncate(fd, EMBER_KEY_FILE_MAX + 1), 0);
    close(fd);
    ASSERT_CODE(ember_key_load(path_in("big.key"), EMBER_KEY_SIGNER, &k, &e_), EMBER_ENOMEM);
    uint8_t pk[32];
    ASSERT_CODE(ember_pubkey_load(path_in("dev-a.key"), EMBER_KEY_DEVICE, pk, &e_), EMBER_SEC_EKEY);
    ASSERT_CODE(ember_pubkey_load(path_in("dev-a.pub"), EMBER_KEY_DEVICE, pk, &e_), 0);
    ck_assert_mem_eq(pk, ember_key_public(dev_a), 32);
}
END_TEST

/* A signer key made by `openssl genpkey -algorithm ed25519` (here through the same OpenSSL
 * API), its public half trusted as PEM. */
START_TEST(openssl_pem_signer)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ck_assert_ptr_nonnull(pkey);
    int fd = open(path_in("pem.key"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *f = fdopen(fd, "w");
    ck_assert(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    f = fopen(path_in("trust/pem.pub"), "w");
    fputs("models: digits\n", f);
    ck_assert(PEM_write_PUBKEY(f, pkey));
    fclose(f);
    EVP_PKEY_free(pkey);
    ember_key *k = NULL;
    ASSERT_CODE(ember_key_load(path_in("pem.key"), EMBER_KEY_SIGNER, &k, &e_), 0);
    ember_trust *t = trust_from(trust_dir, NULL);
    ck_assert_int_eq(ember_trust_nkeys(t), 2);
    size_t len;
    uint8_t *b = seal_full(k, "digits", 3, 0, 1, &len);
    ember_bundle_info info;
    ASSERT_CODE(ember_bundle_verify(t, b, len, NOW, &info, &e_), 0);
    ck_assert_str_eq(info.signer_file, "pem.pub");
    free(b);
    b = seal_full(k, "other", 3, 0, 1, &len);
    ASSERT_CODE(open_a(t, b, len, &e_), EMBER_SEC_ENAME);
    free(b);
    ember_key_free(k);
    ember_trust_free(t);
    chmod(path_in("pem.key"), 0644);
    ASSERT_CODE(ember_key_load(path_in("pem.key"), EMBER_KEY_SIGNER, &k, &e_), EMBER_SEC_EKEYPERM);
}
END_TEST

START_TEST(trust_store_errors)
{
    ember_trust *t;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_dir(t, path_in("nope"), &err), EMBER_ENOTFOUND);
    ember_trust_free(t);
    /* two keys in one file */
    char text[512];
    snprintf(text, sizeof text, "%s%s", read_text(path_in("signer.pub")),
             read_text(path_in("rogue.pub")));
    write_text(path_in("trust/two.pub"), text);
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_dir(t, trust_dir, &err), EMBER_SEC_EKEY);
    ember_trust_free(t);
    unlink(path_in("trust/two.pub"));
    /* an unknown line names the file and line */
    write_text(path_in("trust/bad.pub"), "# ok\nmodel: digits\n");
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_dir(t, trust_dir, &err), EMBER_EINVAL);
    ck_assert_msg(strstr(err.msg, "bad.pub:2"), "%s", err.msg);
    ember_trust_free(t);
    unlink(path_in("trust/bad.pub"));
    /* a device key is not a signer */
    copy_file(path_in("dev-a.pub"), path_in("trust/dev.pub"));
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_dir(t, trust_dir, &err), EMBER_EINVAL);
    ember_trust_free(t);
    unlink(path_in("trust/dev.pub"));
    /* files not named *.pub are ignored */
    write_text(path_in("trust/README"), "not a key\n");
    t = trust_from(trust_dir, NULL);
    ck_assert_int_eq(ember_trust_nkeys(t), 1);
    ember_trust_free(t);
}
END_TEST

START_TEST(trust_store_key_limit)
{
    char text[256], name[64];
    snprintf(text, sizeof text, "%s", read_text(path_in("dev-a.pub")));
    ember_trust *t;
    ember_err err = {{0}};
    /* EMBER_TRUST_MAX_KEYS distinct keys load, one more does not */
    for (int i = 0; i < EMBER_TRUST_MAX_KEYS; i++) {
        uint8_t pk[32], sk[64];
        char b64[64];
        crypto_sign_keypair(pk, sk);
        sodium_bin2base64(b64, sizeof b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
        snprintf(name, sizeof name, "trust/k%03d.pub", i);
        snprintf(text, sizeof text, "ember-ed25519 %s k%d\n", b64, i);
        write_text(path_in(name), text);
    }
    ck_assert_int_eq(ember_trust_new(&t, NULL), 0);
    ck_assert_int_eq(ember_trust_load_dir(t, trust_dir, &err), EMBER_ENOMEM);
    ember_trust_free(t);
    unlink(path_in("trust/k000.pub"));
    t = trust_from(trust_dir, NULL);
    ck_assert_int_eq(ember_trust_nkeys(t), EMBER_TRUST_MAX_KEYS);
    ember_trust_free(t);
}
END_TEST

static Suite *security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("bundle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, seal_open_roundtrip);
    tcase_add_test(tc, flip_every_header_byte);
    tcase_add_test(tc, flip_ciphertext_tag_and_signature);
    tcase_add_test(tc, open_checked_runs_the_check_between_verify_and_decrypt);
    tcase_add_test(tc, resigned_header_tampering);
    tcase_add_test(tc, truncate_at_every_chunk_boundary);
    tcase_add_test(tc, swap_two_chunks);
    tcase_add_test(tc, resigned_by_untrusted_key);
    tcase_add_test(tc, revoked_signer);
    tcase_add_test(tc, signer_not_allowed_for_name);
    tcase_add_test(tc, expired);
    tcase_add_test(tc, bundle_for_another_device);
    tcase_add_test(tc, header_length_past_end);
    tcase_add_test(tc, claimed_4gib_payload);
    tcase_add_test(tc, seal_limits);
    tcase_add_test(tc, rollback_floor);
    tcase_add_test(tc, key_file_permissions);
    tcase_add_test(tc, openssl_pem_signer);
    tcase_add_test(tc, trust_store_errors);
    tcase_add_test(tc, trust_store_key_limit);
    suite_add_tcase(s, tc);
    /* qemu-user accepts madvise but ignores it, so MADV_DONTDUMP cannot be seen under
     * emulation: make check-arm64 excludes the "needs-native" tag. */
    TCase *native = tcase_create("bundle-native");
    tcase_set_tags(native, "needs-native");
    tcase_add_checked_fixture(native, setup, teardown);
    tcase_add_test(native, plaintext_not_dumpable);
#ifndef __SANITIZE_ADDRESS__ /* ASan's mlock interceptor does nothing and returns 0 */
    tcase_add_test(native, plaintext_over_the_lock_limit_is_refused);
#endif
    suite_add_tcase(s, native);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(security_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
