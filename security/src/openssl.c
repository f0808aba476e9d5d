/*
 * Loading ember-openssl.so on first need (see <ember/openssl.h> for why). The module path is
 * fixed at build time: the module in the build tree when the running program itself lives in
 * the build tree, else the installed one; no environment variable can point a daemon at
 * other code. The first caller loads it under pthread_once; a failure is remembered, with its
 * reason, for every later caller.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/openssl.h>

#include "sec_int.h"

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static const ember_openssl_api *module_api;
static char module_path[PATH_MAX];
static char module_error[PATH_MAX + 64];

/* 1 when the running program's file is below the build directory. */
static int running_from_build(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    size_t root = strlen(EMBER_BUILD_ROOT);
    return (size_t)n > root && strncmp(exe, EMBER_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

static void module_load(void)
{
    snprintf(module_path, sizeof module_path, "%s",
             running_from_build() ? EMBER_OPENSSL_MODULE_BUILT : EMBER_OPENSSL_MODULE_INSTALLED);
    void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(module_error, sizeof module_error, "%s", dlerror());
        return;
    }
    const ember_openssl_api *(*entry)(void) =
        (const ember_openssl_api *(*)(void))dlsym(h, EMBER_OPENSSL_ENTRY);
    const ember_openssl_api *api = entry ? entry() : NULL;
    if (!api || api->abi != EMBER_OPENSSL_ABI) {
        snprintf(module_error, sizeof module_error, "%s is not an ember-openssl module of ABI %d",
                 module_path, EMBER_OPENSSL_ABI);
        dlclose(h);
        return;
    }
    module_api = api; /* loaded for good: never closed */
}

const ember_openssl_api *ember_openssl(ember_err *err)
{
    pthread_once(&module_once, module_load);
    if (!module_api)
        ember_err_set(err, EMBER_EUNSUPPORTED, "cannot load OpenSSL support: %s", module_error);
    return module_api;
}

int ember_tls_ctx_open(const char *cert, const char *key, const char *ca, ember_tls_ctx **out,
                       ember_err *err)
{
    const ember_openssl_api *o = ember_openssl(err);
    if (!o)
        return EMBER_EUNSUPPORTED;
    int rc = ember_security_init(err); /* the key goes to sodium_malloc'd memory */
    if (rc < 0)
        return rc;
    char *cert_text = NULL, *key_text = NULL, *ca_text = NULL;
    size_t len;
    rc = sec_read_file(cert, EMBER_TLS_FILE_MAX, 0, &cert_text, &len, err);
    if (rc == 0)
        rc = sec_read_file(key, EMBER_KEY_FILE_MAX, 1, &key_text, &len, err);
    if (rc == 0 && ca)
        rc = sec_read_file(ca, EMBER_TLS_FILE_MAX, 0, &ca_text, &len, err);
    if (rc == 0) {
        ember_tls_pem pem = {.cert_chain = cert_text,
                             .cert_path = cert,
                             .key = key_text,
                             .key_path = key,
                             .ca = ca_text,
                             .ca_path = ca};
        rc = o->ctx_new(&pem, out, err);
    }
    free(cert_text);
    if (key_text)
        sec_free_file(key_text, 1);
    free(ca_text);
    return rc;
}
