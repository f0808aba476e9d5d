/*
 * The trust store: the signer keys a device accepts bundles from, each optionally limited to
 * model names matching glob patterns, and the ids of revoked keys. A trust directory holds one
 * public key per *.pub file (an ember-ed25519 line or a PEM public key) plus optional
 * "models: PATTERN..." lines; a revoked file lists key ids in hex. Both formats are in
 * docs/security.md. Parsing is strict: any line it does not understand fails the whole load,
 * naming the file and line, so a typo never silently widens or narrows trust.
 */
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sec_int.h"

#define PATTERN_MAX 128

struct ember_trust {
    sec_trust_key *keys;
    int nkeys;
    uint8_t (*revoked)[EMBER_KEY_ID_BYTES];
    int nrevoked;
};

int ember_trust_new(ember_trust **out, ember_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ember_err_set(err, EMBER_ENOMEM, "out of memory");
}

static void key_clear(sec_trust_key *k)
{
    for (int i = 0; i < k->npatterns; i++)
        free(k->patterns[i]);
    k->npatterns = 0;
}

void ember_trust_free(ember_trust *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nkeys; i++)
        key_clear(&t->keys[i]);
    free(t->keys);
    free(t->revoked);
    free(t);
}

int ember_trust_nkeys(const ember_trust *t)
{
    return t->nkeys;
}

const sec_trust_key *sec_trust_find(const ember_trust *t, const uint8_t id[EMBER_KEY_ID_BYTES])
{
    for (int i = 0; t && i < t->nkeys; i++)
        if (memcmp(t->keys[i].id, id, EMBER_KEY_ID_BYTES) == 0)
            return &t->keys[i];
    return NULL;
}

int sec_trust_revoked(const ember_trust *t, const uint8_t id[EMBER_KEY_ID_BYTES])
{
    for (int i = 0; t && i < t->nrevoked; i++)
        if (memcmp(t->revoked[i], id, EMBER_KEY_ID_BYTES) == 0)
            return 1;
    return 0;
}

int sec_trust_allows(const sec_trust_key *k, const char *name)
{
    if (k->npatterns == 0)
        return 1;
    for (int i = 0; i < k->npatterns; i++)
        if (fnmatch(k->patterns[i], name, 0) == 0)
            return 1;
    return 0;
}

/* "models: PATTERN..." -> k's patterns. */
static int parse_models(sec_trust_key *k, char *rest, const char *path, int lineno, ember_err *err)
{
    char *save = NULL;
    int any = 0;
    for (char *p = strtok_r(rest, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
        if (k->npatterns == EMBER_TRUST_MAX_PATTERNS)
            return ember_err_set(err, EMBER_ENOMEM, "%s:%d: more than %d model patterns", path,
                                 lineno, EMBER_TRUST_MAX_PATTERNS);
        if (strlen(p) > PATTERN_MAX)
            return ember_err_set(err, EMBER_EINVAL, "%s:%d: a pattern longer than %d bytes", path,
                                 lineno, PATTERN_MAX);
        if (!(k->patterns[k->npatterns] = strdup(p)))
            return ember_err_set(err, EMBER_ENOMEM, "out of memory");
        k->npatterns++;
        any = 1;
    }
    if (!any)
        return ember_err_set(err, EMBER_EINVAL, "%s:%d: 'models:' needs at least one pattern", path,
                             lineno);
    return 0;
}

/* One trust file -> k (its patterns are k's to free even on failure). */
static int parse_trust_file(sec_trust_key *k, char *text, size_t len, const char *path,
                            ember_err *err)
{
    char *cur = text, *end = text + len, *line, *pem = NULL;
    int lineno = 0, nkeys = 0, rc = 0;
    while (rc == 0 && (line = sec_next_line(&cur, end))) {
        lineno++;
        if (pem) {
            line[strlen(line)] = '\n'; /* keep the block whole for OpenSSL */
            if (strncmp(line, "-----END PUBLIC KEY-----", 24) == 0) {
                rc = sec_pem_pubkey(pem, (size_t)(cur - pem), k->pk, path, err);
                pem = NULL;
                nkeys++;
            }
            continue;
        }
        if (*line == '\0' || *line == '#')
            continue;
        if (strncmp(line, "models:", 7) == 0) {
            rc = parse_models(k, line + 7, path, lineno, err);
        } else if (strcmp(line, "-----BEGIN PUBLIC KEY-----") == 0) {
            line[strlen(line)] = '\n';
            pem = line;
        } else if (strncmp(line, "ember-ed25519 ", 14) == 0) {
            rc = sec_pubkey_line(line, EMBER_KEY_SIGNER, k->pk, path, err);
            nkeys++;
        } else {
            rc = ember_err_set(err, EMBER_EINVAL,
                               "%s:%d: expected 'ember-ed25519 KEY', a PEM public key or "
                               "'models: PATTERN...'",
                               path, lineno);
        }
    }
    if (rc < 0)
        return rc;
    if (pem)
        return ember_err_set(err, EMBER_SEC_EKEY, "%s: PEM block without its END line", path);
    if (nkeys != 1)
        return ember_err_set(err, EMBER_SEC_EKEY, "%s: holds %d keys; a trust file holds one", path,
                             nkeys);
    ember_key_id(k->pk, k->id);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int ember_trust_load_dir(ember_trust *t, const char *dir, ember_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ember_err_set(err, EMBER_ENOTFOUND, "cannot open trust directory %s: %m", dir);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".pub"))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) {
            rc = ember_err_set(err, EMBER_EINVAL, "%s/%s: path too long", dir, de->d_name);
            break;
        }
        if (strlen(de->d_name) >= sizeof t->keys[0].file) {
            rc = ember_err_set(err, EMBER_EINVAL, "%s: file name longer than %zu bytes", path,
                               sizeof t->keys[0].file - 1);
            break;
        }
        if (t->nkeys == EMBER_TRUST_MAX_KEYS) {
            rc = ember_err_set(err, EMBER_ENOMEM, "%s: more than %d trusted keys", dir,
                               EMBER_TRUST_MAX_KEYS);
            break;
        }
        char *text;
        size_t len;
        if ((rc = sec_read_file(path, EMBER_KEY_FILE_MAX, 0, &text, &len, err)) < 0)
            break;
        sec_trust_key *grown = realloc(t->keys, (size_t)(t->nkeys + 1) * sizeof *grown);
        if (!grown) {
            free(text);
            rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
            break;
        }
        t->keys = grown;
        sec_trust_key *k = &t->keys[t->nkeys];
        memset(k, 0, sizeof *k);
        snprintf(k->file, sizeof k->file, "%s", de->d_name);
        rc = parse_trust_file(k, text, len, path, err);
        free(text);
        if (rc == 0 && sec_trust_find(t, k->id))
            rc = ember_err_set(err, EMBER_EINVAL, "%s: the same key is also in %s", path,
                               sec_trust_find(t, k->id)->file);
        if (rc < 0)
            key_clear(k);
        else
            t->nkeys++;
    }
    closedir(d);
    return rc;
}

int ember_trust_load_revoked(ember_trust *t, const char *path, ember_err *err)
{
    char *text;
    size_t len;
    int rc = sec_read_file(path, EMBER_KEY_FILE_MAX, 0, &text, &len, err);
    if (rc < 0)
        return rc;
    char *cur = text, *line;
    int lineno = 0;
    while (rc == 0 && (line = sec_next_line(&cur, text + len))) {
        lineno++;
        if (*line == '\0' || *line == '#')
            continue;
        size_t n = strcspn(line, " \t#");
        uint8_t id[EMBER_KEY_ID_BYTES];
        size_t got = 0;
        const char *endp = NULL;
        if (n != 2 * EMBER_KEY_ID_BYTES ||
            sodium_hex2bin(id, sizeof id, line, n, NULL, &got, &endp) != 0 || got != sizeof id) {
            rc = ember_err_set(err, EMBER_EINVAL, "%s:%d: expected a key id of %d hex digits", path,
                               lineno, 2 * EMBER_KEY_ID_BYTES);
        } else if (t->nrevoked == EMBER_TRUST_MAX_REVOKED) {
            rc = ember_err_set(err, EMBER_ENOMEM, "%s: more than %d revoked keys", path,
                               EMBER_TRUST_MAX_REVOKED);
        } else {
            void *grown = realloc(t->revoked, (size_t)(t->nrevoked + 1) * sizeof *t->revoked);
            if (!grown) {
                rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
            } else {
                t->revoked = grown;
                memcpy(t->revoked[t->nrevoked++], id, sizeof id);
            }
        }
    }
    free(text);
    return rc;
}
