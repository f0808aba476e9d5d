/*
 * Sealed models in emberd (docs/security.md): the trust store, revoked keys, this device's
 * key and the rollback floors, read once at startup, and the one function that turns a
 * model.ember file that is a sealed bundle into a model. Read-only after bundle_keys_open
 * (the floors live in files), so any thread may open bundles at once.
 */
#ifndef EMBERD_BUNDLE_H
#define EMBERD_BUNDLE_H

#include <ember/engine.h>
#include <ember/security.h>

typedef struct bundle_keys {
    ember_trust *trust;     /* NULL when sealed models are not configured */
    ember_key *device;      /* this device's private key */
    ember_rollback *floors; /* the --state directory */
} bundle_keys;

/* Read the trust store, the revoked-keys file (may be NULL), the device key and open (create)
 * the state directory. All of trust_dir, device_key and state_dir, or none of them (then
 * *k is empty and every sealed bundle is refused). Errors name the file. */
int bundle_keys_open(bundle_keys *k, const char *trust_dir, const char *revoked,
                     const char *device_key, const char *state_dir, ember_err *err);
void bundle_keys_free(bundle_keys *k);

/*
 * Open the sealed bundle buf (len bytes, read from path) as model name, version: verified
 * (trusted, non-revoked signer allowed for name, signature, not expired), its name and version
 * equal to name and version, not below name's rollback floor, opened with the device key into
 * locked memory and loaded with ember_model_load_mem_locked; the plaintext is wiped before
 * returning. The floor is not raised here: bundle_accept does that once the load succeeded.
 * *out is the caller's (ember_model_free). Runs on any thread.
 */
int bundle_model_open(const bundle_keys *k, const char *path, const void *buf, size_t len,
                      const char *name, int version, ember_model **out, ember_err *err);

/* Read path whole when it is a sealed bundle: returns 1 with *buf (the caller's to
 * bundle_file_free) and *len, 0 when it is not a sealed bundle (nothing read), or an error
 * (a file larger than any bundle can be is EMBER_ENOMEM). */
int bundle_file_read(const char *path, void **buf, size_t *len, ember_err *err);
void bundle_file_free(void *buf, size_t len);

/* Raise name's rollback floor to version (durably). */
int bundle_accept(const bundle_keys *k, const char *name, int version, ember_err *err);

#endif
