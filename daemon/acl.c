/*
 * The socket ACL. Rules are resolved to numeric ids when the configuration is read (user and
 * group names are looked up once, at startup, never on the event loop), so deciding a
 * connection's role is a scan of a short array against the peer's credentials, which the
 * kernel reports for the process that connected: no lookup, no blocking, no spoofing.
 */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl.h"
#include "limits.h"

static const char *const role_names[] = {"none", "read", "infer", "admin"};

const char *acl_role_name(daemon_role r)
{
    return r >= ROLE_NONE && r <= ROLE_ADMIN ? role_names[r] : "none";
}

daemon_role acl_role_parse(const char *name)
{
    for (int r = ROLE_READ; r <= ROLE_ADMIN; r++)
        if (strcmp(name, role_names[r]) == 0)
            return (daemon_role)r;
    return ROLE_NONE;
}

void acl_free(daemon_acl *acl)
{
    free(acl->rules);
    *acl = (daemon_acl){0};
}

int acl_copy(daemon_acl *dst, const daemon_acl *src)
{
    if (!src->set)
        return 0;
    acl_rule *r = malloc((size_t)(src->n ? src->n : 1) * sizeof *r);
    if (!r)
        return EMBER_ENOMEM;
    memcpy(r, src->rules, (size_t)src->n * sizeof *r);
    acl_free(dst);
    dst->rules = r;
    dst->n = src->n;
    dst->set = 1;
    return 0;
}

/* A decimal id without sign; -1 for anything else. */
static long parse_id(const char *s)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    return *end || errno || v > 0x7fffffffUL ? -1 : (long)v;
}

int acl_group_id(const char *name, gid_t *out, ember_err *err)
{
    long id = parse_id(name);
    if (id >= 0) {
        *out = (gid_t)id;
        return 0;
    }
    struct group *g = getgrnam(name);
    if (!g)
        return ember_err_set(err, EMBER_EINVAL, "no group '%.64s'", name);
    *out = g->gr_gid;
    return 0;
}

/* One "user:NAME", "uid:N", "group:NAME" or "gid:N" entry. */
static int rule_parse(const char *path, const char *role, const char *s, acl_rule *r,
                      ember_err *err)
{
    const char *colon = strchr(s, ':');
    size_t kind = colon ? (size_t)(colon - s) : 0;
    const char *v = colon ? colon + 1 : "";
    long id = -1;
    if (kind == 3 && strncmp(s, "uid", 3) == 0) {
        r->group = 0;
        id = parse_id(v);
    } else if (kind == 3 && strncmp(s, "gid", 3) == 0) {
        r->group = 1;
        id = parse_id(v);
    } else if (kind == 4 && strncmp(s, "user", 4) == 0) {
        struct passwd *pw = *v ? getpwnam(v) : NULL;
        r->group = 0;
        if (!pw)
            return ember_err_set(err, EMBER_EINVAL, "%s: acl.%s: no user '%.64s'", path, role, v);
        id = pw->pw_uid;
    } else if (kind == 5 && strncmp(s, "group", 5) == 0) {
        struct group *g = *v ? getgrnam(v) : NULL;
        r->group = 1;
        if (!g)
            return ember_err_set(err, EMBER_EINVAL, "%s: acl.%s: no group '%.64s'", path, role, v);
        id = g->gr_gid;
    } else {
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: acl.%s: '%.64s' is not user:NAME, uid:N, group:NAME or gid:N",
                             path, role, s);
    }
    if (id < 0)
        return ember_err_set(err, EMBER_EINVAL, "%s: acl.%s: '%.64s' wants a decimal id", path,
                             role, s);
    r->id = (unsigned)id;
    return 0;
}

int acl_role_lists(const char *path, const char *key, const cJSON *obj, acl_entry_fn entry,
                   void *ctx, ember_err *err)
{
    if (!cJSON_IsObject(obj))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key '%s' wants an object with \"read\", \"infer\" and "
                             "\"admin\" lists",
                             path, key);
    int n = 0;
    const cJSON *list;
    cJSON_ArrayForEach(list, obj)
    {
        daemon_role role = acl_role_parse(list->string);
        if (role == ROLE_NONE)
            return ember_err_set(err, EMBER_EINVAL,
                                 "%s: %s: unknown role '%.64s' (read, infer or admin)", path, key,
                                 list->string);
        if (!cJSON_IsArray(list))
            return ember_err_set(err, EMBER_EINVAL, "%s: %s.%s wants a list of strings", path, key,
                                 list->string);
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (!cJSON_IsString(it))
                return ember_err_set(err, EMBER_EINVAL, "%s: %s.%s wants a list of strings", path,
                                     key, list->string);
            if (n++ == EMBERD_MAX_ACL_RULES)
                return ember_err_set(err, EMBER_EINVAL, "%s: %s: more than %d entries", path, key,
                                     EMBERD_MAX_ACL_RULES);
            int rc = entry(ctx, role, it->valuestring, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* One entry of the "acl" object, for acl_role_lists. */
static int acl_entry(void *ctx, daemon_role role, const char *s, ember_err *err)
{
    void **args = ctx;
    daemon_acl *out = args[0];
    int rc = rule_parse(args[1], acl_role_name(role), s, &out->rules[out->n], err);
    if (rc == 0)
        out->rules[out->n++].role = role;
    return rc;
}

int acl_parse(const char *path, const cJSON *obj, daemon_acl *acl, ember_err *err)
{
    daemon_acl out = {.set = 1};
    out.rules = malloc(EMBERD_MAX_ACL_RULES * sizeof *out.rules);
    if (!out.rules)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    void *args[] = {&out, (void *)path};
    int rc = acl_role_lists(path, "acl", obj, acl_entry, args, err);
    if (rc < 0) {
        acl_free(&out);
        return rc;
    }
    acl_free(acl);
    *acl = out;
    return 0;
}

daemon_role acl_role(const daemon_acl *acl, uid_t self, uid_t uid, const gid_t *gids, int ngids)
{
    if (!acl->set)
        return uid == self || uid == 0 ? ROLE_ADMIN : ROLE_INFER;
    daemon_role best = ROLE_NONE;
    for (int i = 0; i < acl->n; i++) {
        const acl_rule *r = &acl->rules[i];
        int match = !r->group && r->id == (unsigned)uid;
        for (int g = 0; r->group && g < ngids && !match; g++)
            match = r->id == (unsigned)gids[g];
        if (match && r->role > best)
            best = r->role;
    }
    return best;
}

int acl_peer(int fd, uid_t *uid, gid_t *gids, int cap)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (cap < 1 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    *uid = cred.uid;
    gids[0] = cred.gid;
    int n = 1;
#ifdef SO_PEERGROUPS
    gid_t extra[EMBERD_MAX_PEER_GROUPS];
    len = sizeof extra;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, extra, &len) == 0)
        for (size_t i = 0; i < len / sizeof *extra && n < cap; i++)
            gids[n++] = extra[i];
#endif
    return n;
}
