/*
 * The configuration file. The text is read whole (it is small and bounded), comments are
 * stripped with cJSON_Minify, and every member of the top-level object is matched against
 * the table of known keys; anything else is an error naming the file and the key, so a typo
 * never passes silently. Values are range-checked with the same bounds as the flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <ember/power.h>

#include "config.h"
#include "limits.h"
#include "log.h"

void daemon_config_init(daemon_config *c)
{
    *c = (daemon_config){.dev = -1, .log_level = -1, .tls_anonymous = -1, .inline_max_us = -1};
}

void daemon_config_free(daemon_config *c)
{
    free(c->socket_path);
    free(c->models_dir);
    free(c->power_policy);
    free(c->power_sysfs);
    free(c->power_profile);
    free(c->trust_dir);
    free(c->revoked_path);
    free(c->device_key_path);
    free(c->state_dir);
    free(c->socket_group);
    acl_free(&c->acl);
    free(c->tls_listen);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_client_ca);
    tls_roles_free(&c->tls_roles);
    daemon_config_init(c);
}

int daemon_file_read(const char *path, size_t max, char **out, ember_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(buf);
        return bad ? ember_err_set(err, EMBER_EIO, "cannot read %s", path)
                   : ember_err_set(err, EMBER_ENOMEM, "%s is larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int config_string(const char *path, const cJSON *it, char **out, ember_err *err)
{
    if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants a non-empty string", path,
                             it->string);
    char *s = strdup(it->valuestring);
    if (!s)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    free(*out);
    *out = s;
    return 0;
}

static int config_int(const char *path, const cJSON *it, int lo, int hi, int *out, ember_err *err)
{
    if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int)it->valuedouble ||
        it->valuedouble < lo || it->valuedouble > hi)
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants an integer from %d to %d", path,
                             it->string, lo, hi);
    *out = (int)it->valuedouble;
    return 0;
}

static int config_member(const char *path, const cJSON *it, daemon_config *c, ember_err *err)
{
    const char *k = it->string;
    if (strcmp(k, "socket") == 0)
        return config_string(path, it, &c->socket_path, err);
    if (strcmp(k, "models") == 0)
        return config_string(path, it, &c->models_dir, err);
    if (strcmp(k, "trust") == 0)
        return config_string(path, it, &c->trust_dir, err);
    if (strcmp(k, "revoked") == 0)
        return config_string(path, it, &c->revoked_path, err);
    if (strcmp(k, "device_key") == 0)
        return config_string(path, it, &c->device_key_path, err);
    if (strcmp(k, "state") == 0)
        return config_string(path, it, &c->state_dir, err);
    if (strcmp(k, "socket_group") == 0)
        return config_string(path, it, &c->socket_group, err);
    if (strcmp(k, "acl") == 0)
        return acl_parse(path, it, &c->acl, err);
    if (strcmp(k, "tls_listen") == 0)
        return config_string(path, it, &c->tls_listen, err);
    if (strcmp(k, "tls_cert") == 0)
        return config_string(path, it, &c->tls_cert, err);
    if (strcmp(k, "tls_key") == 0)
        return config_string(path, it, &c->tls_key, err);
    if (strcmp(k, "tls_client_ca") == 0)
        return config_string(path, it, &c->tls_client_ca, err);
    if (strcmp(k, "tls_roles") == 0)
        return tls_roles_parse(path, it, &c->tls_roles, err);
    if (strcmp(k, "tls_anonymous") == 0) {
        c->tls_anonymous = cJSON_IsString(it) ? tls_anonymous_parse(it->valuestring) : -1;
        if (c->tls_anonymous < 0)
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: key 'tls_anonymous' wants \"none\", \"read\" or \"infer\" "
                                 "(admin always takes a client certificate)",
                                 path);
        return 0;
    }
    if (strcmp(k, "dev") == 0) {
        if (!cJSON_IsBool(it))
            return ember_err_set(err, EMBER_EINVAL, "%s: key 'dev' wants true or false", path);
        c->dev = cJSON_IsTrue(it);
        return 0;
    }
    if (strcmp(k, "workers") == 0)
        return config_int(path, it, 1, EMBERD_MAX_WORKERS, &c->workers, err);
    if (strcmp(k, "queue") == 0)
        return config_int(path, it, 1, EMBERD_MAX_QUEUE, &c->queue, err);
    if (strcmp(k, "max_connections") == 0)
        return config_int(path, it, 1, EMBERD_MAX_MAX_CONNECTIONS, &c->max_connections, err);
    if (strcmp(k, "header_timeout_ms") == 0)
        return config_int(path, it, 1, EMBERD_MAX_CLIENT_TIMEOUT_MS, &c->header_timeout_ms, err);
    if (strcmp(k, "idle_timeout_ms") == 0)
        return config_int(path, it, 1, EMBERD_MAX_CLIENT_TIMEOUT_MS, &c->idle_timeout_ms, err);
    if (strcmp(k, "inline_max_us") == 0)
        return config_int(path, it, 0, EMBERD_MAX_INLINE_MAX_US, &c->inline_max_us, err);
    if (strcmp(k, "power_policy") == 0) {
        ember_power_policy pol;
        ember_err why = {{0}};
        if (!cJSON_IsString(it) || ember_power_policy_parse(it->valuestring, &pol, &why) < 0)
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: key 'power_policy' wants \"performance\", \"powersave\", "
                                 "\"ondemand\" or \"ember\"",
                                 path);
        return config_string(path, it, &c->power_policy, err);
    }
    if (strcmp(k, "power_sysfs") == 0)
        return config_string(path, it, &c->power_sysfs, err);
    if (strcmp(k, "power_profile") == 0)
        return config_string(path, it, &c->power_profile, err);
    if (strcmp(k, "power_sample_ms") == 0)
        return config_int(path, it, 1, EMBERD_MAX_POWER_SAMPLE_MS, &c->power_sample_ms, err);
    if (strcmp(k, "log_level") == 0) {
        int level = cJSON_IsString(it) ? log_level_parse(it->valuestring) : -1;
        if (level < 0)
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: key 'log_level' wants \"error\", \"warn\", \"info\" or "
                                 "\"debug\"",
                                 path);
        c->log_level = level;
        return 0;
    }
    return ember_err_set(err, EMBER_EINVAL, "%s: unknown key '%.64s'", path, k);
}

int daemon_json_object_read(const char *path, size_t max, cJSON **out, ember_err *err)
{
    char *text;
    int rc = daemon_file_read(path, max, &text, err);
    if (rc < 0)
        return rc;
    cJSON_Minify(text); /* drops comments */
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root)
        return ember_err_set(err, EMBER_EINVAL, "%s: not valid JSON", path);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ember_err_set(err, EMBER_EINVAL, "%s: must be a JSON object", path);
    }
    *out = root;
    return 0;
}

int daemon_config_load(const char *path, daemon_config *c, ember_err *err)
{
    cJSON *root;
    int rc = daemon_json_object_read(path, EMBERD_MAX_CONFIG_FILE, &root, err);
    if (rc < 0)
        return rc;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        rc = config_member(path, it, c, err);
        if (rc < 0)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

static int merge_string(char **dst, const char *src)
{
    if (!src)
        return 0;
    char *s = strdup(src);
    if (!s)
        return EMBER_ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

int daemon_config_merge(daemon_config *dst, const daemon_config *src)
{
    if (merge_string(&dst->socket_path, src->socket_path) < 0 ||
        merge_string(&dst->models_dir, src->models_dir) < 0 ||
        merge_string(&dst->trust_dir, src->trust_dir) < 0 ||
        merge_string(&dst->revoked_path, src->revoked_path) < 0 ||
        merge_string(&dst->device_key_path, src->device_key_path) < 0 ||
        merge_string(&dst->state_dir, src->state_dir) < 0 ||
        merge_string(&dst->socket_group, src->socket_group) < 0 ||
        acl_copy(&dst->acl, &src->acl) < 0 || merge_string(&dst->tls_listen, src->tls_listen) < 0 ||
        merge_string(&dst->tls_cert, src->tls_cert) < 0 ||
        merge_string(&dst->tls_key, src->tls_key) < 0 ||
        merge_string(&dst->tls_client_ca, src->tls_client_ca) < 0 ||
        tls_roles_copy(&dst->tls_roles, &src->tls_roles) < 0)
        return EMBER_ENOMEM;
    if (src->tls_anonymous >= 0)
        dst->tls_anonymous = src->tls_anonymous;
    if (merge_string(&dst->power_policy, src->power_policy) < 0 ||
        merge_string(&dst->power_sysfs, src->power_sysfs) < 0 ||
        merge_string(&dst->power_profile, src->power_profile) < 0)
        return EMBER_ENOMEM;
    if (src->power_sample_ms > 0)
        dst->power_sample_ms = src->power_sample_ms;
    if (src->dev >= 0)
        dst->dev = src->dev;
    if (src->workers > 0)
        dst->workers = src->workers;
    if (src->queue > 0)
        dst->queue = src->queue;
    if (src->max_connections > 0)
        dst->max_connections = src->max_connections;
    if (src->log_level >= 0)
        dst->log_level = src->log_level;
    if (src->header_timeout_ms > 0)
        dst->header_timeout_ms = src->header_timeout_ms;
    if (src->idle_timeout_ms > 0)
        dst->idle_timeout_ms = src->idle_timeout_ms;
    if (src->inline_max_us >= 0)
        dst->inline_max_us = src->inline_max_us;
    return 0;
}
