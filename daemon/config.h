/*
 * emberd's configuration file (--config FILE): one JSON object, comments allowed, every key
 * documented in docs/config.md. A value a source does not set stays "unset", so the command
 * line can be laid over the file and the file over the defaults (daemon_config_merge).
 */
#ifndef EMBERD_CONFIG_H
#define EMBERD_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <ember/err.h>

#include "acl.h"
#include "tls.h"

typedef struct daemon_config {
    char *socket_path;                      /* malloc'd; NULL when unset */
    char *models_dir;                       /* malloc'd; NULL when unset */
    int dev;                                /* 0 or 1; -1 when unset */
    int workers;                            /* 0 when unset */
    int queue;                              /* 0 when unset */
    int max_connections;                    /* 0 when unset */
    int log_level;                          /* a syslog priority; -1 when unset */
    int header_timeout_ms, idle_timeout_ms; /* 0 when unset */
    int inline_max_us;                      /* -1 when unset; 0 turns inline runs off */
    /* The power governor (docs/config.md): malloc'd, NULL when unset (no governor). */
    char *power_policy, *power_sysfs, *power_profile;
    int power_sample_ms; /* 0 when unset */
    /* Sealed models (docs/security.md): malloc'd paths, NULL when unset. */
    char *trust_dir, *revoked_path, *device_key_path, *state_dir;
    /* The socket ACL (docs/security.md): the socket's group (a name or a number) and the
     * "acl" object's rules; the file sets them, flags never do. */
    char *socket_group;
    daemon_acl acl;
    /* The TLS listener (docs/security.md): malloc'd, NULL when unset (no listener); the
     * certificate roles and what a client without a certificate may do (a daemon_role, -1
     * when unset) come from the file only. */
    char *tls_listen, *tls_cert, *tls_key, *tls_client_ca;
    tls_roles tls_roles;
    int tls_anonymous;
} daemon_config;

/* Every value unset. */
void daemon_config_init(daemon_config *c);
void daemon_config_free(daemon_config *c);

/* Read path into c (values it lacks stay as they were). Errors name the file and the key:
 * EMBER_ENOTFOUND/EMBER_EIO when it cannot be read, EMBER_EINVAL for bad JSON, an unknown
 * key or a bad value, EMBER_ENOMEM when it is larger than EMBERD_MAX_CONFIG_FILE. */
int daemon_config_load(const char *path, daemon_config *c, ember_err *err);

/* Copy every value src sets into dst (strings are duplicated). EMBER_ENOMEM on failure. */
int daemon_config_merge(daemon_config *dst, const daemon_config *src);

/* Read a whole file of at most max bytes into *out (malloc'd, NUL-terminated, the caller
 * frees). EMBER_ENOTFOUND when it does not exist, EMBER_EIO when it cannot be read,
 * EMBER_ENOMEM when it is larger than max. Runs on any thread. */
int daemon_file_read(const char *path, size_t max, char **out, ember_err *err);

/* Read path (at most max bytes; JSON with comments) as a JSON object into *out, which the
 * caller frees with cJSON_Delete. Errors name the file; EMBER_ENOTFOUND when it is absent. */
int daemon_json_object_read(const char *path, size_t max, cJSON **out, ember_err *err);

#endif
