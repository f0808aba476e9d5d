/*
 * Who may do what on emberd's socket. Each connection's peer uid and groups come from the
 * kernel (SO_PEERCRED, SO_PEERGROUPS) when it is accepted; the "acl" object of the
 * configuration maps uids and groups to a role, and the router says which role a request
 * needs. Roles nest: infer includes read, admin includes both. docs/security.md has the rules.
 */
#ifndef EMBERD_ACL_H
#define EMBERD_ACL_H

#include <sys/types.h>

#include <cjson/cJSON.h>

#include <ember/err.h>

typedef enum daemon_role {
    ROLE_NONE = 0,
    ROLE_READ = 1,  /* health, server and model metadata, the index, /metrics */
    ROLE_INFER = 2, /* and .../infer */
    ROLE_ADMIN = 3, /* and repository load/unload, changing the power policy */
} daemon_role;

typedef struct acl_rule {
    int group; /* id is a gid (1) or a uid (0) */
    unsigned id;
    daemon_role role;
} acl_rule;

typedef struct daemon_acl {
    acl_rule *rules; /* malloc'd */
    int n;
    int set; /* the configuration has an "acl" object (even an empty one) */
} daemon_acl;

/* Parse the "acl" object of the configuration file path into acl (replacing what it held):
 * {"read": [...], "infer": [...], "admin": [...]}, each entry "user:NAME", "uid:N",
 * "group:NAME" or "gid:N". Names are looked up now. Errors name the file and the entry. */
int acl_parse(const char *path, const cJSON *obj, daemon_acl *acl, ember_err *err);
/* Walk a {"read": [...], "infer": [...], "admin": [...]} object, the configuration key key of
 * file path: entry runs for each string in turn, with its list's role. Errors (not an object,
 * an unknown role, a non-string entry, more than EMBERD_MAX_ACL_RULES entries, or entry's own)
 * name the file and the key. */
typedef int (*acl_entry_fn)(void *ctx, daemon_role role, const char *s, ember_err *err);
int acl_role_lists(const char *path, const char *key, const cJSON *obj, acl_entry_fn entry,
                   void *ctx, ember_err *err);
/* Copy src over dst when src is set. EMBER_ENOMEM on failure. */
int acl_copy(daemon_acl *dst, const daemon_acl *src);
void acl_free(daemon_acl *acl);

/* The role of a peer with uid and groups gids[0..ngids): the highest any rule grants. Without
 * an acl, self (emberd's own uid) and root get ROLE_ADMIN and everyone else (who got through
 * the socket's 0660 permissions) ROLE_INFER. */
daemon_role acl_role(const daemon_acl *acl, uid_t self, uid_t uid, const gid_t *gids, int ngids);
const char *acl_role_name(daemon_role r);
/* "read", "infer" or "admin" -> the role; ROLE_NONE for anything else. */
daemon_role acl_role_parse(const char *name);

/* The peer of a connected Unix socket: its uid, and its primary gid followed by its
 * supplementary groups in gids (at most cap; the rest are ignored). Returns the number of
 * groups, or -1 with errno. */
int acl_peer(int fd, uid_t *uid, gid_t *gids, int cap);

/* A group name or decimal gid -> the gid. EMBER_EINVAL when there is no such group. */
int acl_group_id(const char *name, gid_t *out, ember_err *err);

#endif
