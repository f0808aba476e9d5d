/*
 * The TLS listener's daemon side. Settings are checked by building the real context (the
 * module loads, the files are read, the key must be private to emberd's user and must match
 * the certificate), so --check-config and startup fail the same way. A bound listener is a
 * uv_tcp_t; each connection gets a session that conn.c feeds with the ciphertext libuv reads
 * and drains into libuv writes, so the handshake and every record ride the event loop and
 * nothing blocks. Roles: a verified client certificate gets the highest role a "tls_roles"
 * entry grants its subject or common name; a client without one gets "tls_anonymous".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "tls.h"

void tls_roles_free(tls_roles *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->rules[i].value);
    free(r->rules);
    *r = (tls_roles){0};
}

int tls_roles_copy(tls_roles *dst, const tls_roles *src)
{
    if (!src->set)
        return 0;
    tls_roles out = {.set = 1};
    out.rules = calloc((size_t)(src->n ? src->n : 1), sizeof *out.rules);
    if (!out.rules)
        return EMBER_ENOMEM;
    for (; out.n < src->n; out.n++) {
        out.rules[out.n] = src->rules[out.n];
        out.rules[out.n].value = strdup(src->rules[out.n].value);
        if (!out.rules[out.n].value) {
            tls_roles_free(&out);
            return EMBER_ENOMEM;
        }
    }
    tls_roles_free(dst);
    *dst = out;
    return 0;
}

/* One "cn:NAME" or "subject:SUBJECT" entry. */
static int rule_parse(const char *path, const char *role, const char *s, tls_rule *r,
                      ember_err *err)
{
    const char *v;
    if (strncmp(s, "cn:", 3) == 0) {
        r->subject = 0;
        v = s + 3;
    } else if (strncmp(s, "subject:", 8) == 0) {
        r->subject = 1;
        v = s + 8;
    } else {
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: tls_roles.%s: '%.64s' is not cn:NAME or subject:SUBJECT", path,
                             role, s);
    }
    if (!*v || strlen(v) > EMBERD_MAX_TLS_SUBJECT)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: tls_roles.%s: '%.64s' wants 1 to %d bytes after the colon", path,
                             role, s, EMBERD_MAX_TLS_SUBJECT);
    r->value = strdup(v);
    return r->value ? 0 : ember_err_set(err, EMBER_ENOMEM, "out of memory");
}

/* One entry of the "tls_roles" object, for acl_role_lists. */
static int tls_roles_entry(void *ctx, daemon_role role, const char *s, ember_err *err)
{
    void **args = ctx;
    tls_roles *out = args[0];
    int rc = rule_parse(args[1], acl_role_name(role), s, &out->rules[out->n], err);
    if (rc == 0)
        out->rules[out->n++].role = role;
    return rc;
}

int tls_roles_parse(const char *path, const cJSON *obj, tls_roles *r, ember_err *err)
{
    tls_roles out = {.set = 1};
    out.rules = calloc(EMBERD_MAX_ACL_RULES, sizeof *out.rules);
    if (!out.rules)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    void *args[] = {&out, (void *)path};
    int rc = acl_role_lists(path, "tls_roles", obj, tls_roles_entry, args, err);
    if (rc < 0) {
        tls_roles_free(&out);
        return rc;
    }
    tls_roles_free(r);
    *r = out;
    return 0;
}

daemon_role tls_roles_match(const tls_roles *r, const char *subject, const char *cn)
{
    daemon_role best = ROLE_NONE;
    for (int i = 0; i < r->n; i++) {
        const tls_rule *x = &r->rules[i];
        int match =
            x->subject ? strcmp(x->value, subject) == 0 : cn[0] && strcmp(x->value, cn) == 0;
        if (match && x->role > best)
            best = x->role;
    }
    return best;
}

int tls_anonymous_parse(const char *s)
{
    daemon_role r = acl_role_parse(s);
    return r == ROLE_ADMIN || (r == ROLE_NONE && strcmp(s, "none") != 0) ? -1 : (int)r;
}

void tls_addr_name(const uv_tcp_t *tcp, int peer, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char ip[64];
    int rc = peer ? uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &len)
                  : uv_tcp_getsockname(tcp, (struct sockaddr *)&sa, &len);
    if (rc < 0)
        snprintf(out, cap, "?");
    else if (sa.ss_family == AF_INET6 &&
             uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip) == 0)
        snprintf(out, cap, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    else if (sa.ss_family == AF_INET && uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip) == 0)
        snprintf(out, cap, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    else
        snprintf(out, cap, "?");
}

/* "HOST:PORT" or "[V6]:PORT" -> a socket address. */
static int addr_parse(const char *s, struct sockaddr_storage *sa, ember_err *err)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    int v6 = hl >= 2 && s[0] == '[' && s[hl - 1] == ']';
    if (v6) {
        h++;
        hl -= 2;
    }
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || hl == 0 || hl >= sizeof host || !colon[1] || *end || port < 0 || port > 65535)
        return ember_err_set(err, EMBER_EINVAL,
                             "tls_listen '%.64s' is not HOST:PORT (e.g. 127.0.0.1:8443 or "
                             "[::1]:8443; port 0 picks a free one)",
                             s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    int rc = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa)
                : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa);
    if (rc < 0)
        return ember_err_set(err, EMBER_EINVAL,
                             "tls_listen '%.64s': '%s' is not a numeric IPv%d address", s, host,
                             v6 ? 6 : 4);
    return 0;
}

/* What every use of the settings checks first: the files the listener needs are named. */
static int settings_complete(const tls_settings *s, ember_err *err)
{
    if (!s->listen) {
        if (s->cert || s->key || s->client_ca || (s->roles && s->roles->set))
            return ember_err_set(err, EMBER_EINVAL,
                                 "tls_cert, tls_key, tls_client_ca and tls_roles need "
                                 "tls_listen (--tls-listen)");
        return 0;
    }
    if (!s->cert || !s->key)
        return ember_err_set(err, EMBER_EINVAL,
                             "tls_listen needs tls_cert and tls_key (--tls-cert, --tls-key): "
                             "emberd never speaks plaintext HTTP over TCP");
    if (s->roles && s->roles->set && s->roles->n > 0 && !s->client_ca)
        return ember_err_set(err, EMBER_EINVAL,
                             "tls_roles needs tls_client_ca (--tls-client-ca): client "
                             "certificates are verified against it");
    return 0;
}

int tls_settings_check(const tls_settings *s, ember_err *err)
{
    struct sockaddr_storage sa;
    int rc = settings_complete(s, err);
    if (rc < 0 || !s->listen)
        return rc;
    if ((rc = addr_parse(s->listen, &sa, err)) < 0)
        return rc;
    ember_tls_ctx *ctx;
    if ((rc = ember_tls_ctx_open(s->cert, s->key, s->client_ca, &ctx, err)) < 0)
        return rc;
    ember_openssl(err)->ctx_free(ctx);
    return 0;
}

int tls_server_start(tls_server *ts, uv_loop_t *loop, const tls_settings *s,
                     uv_connection_cb on_connection, void *ctx, ember_err *err)
{
    memset(ts, 0, sizeof *ts);
    struct sockaddr_storage sa;
    int rc = settings_complete(s, err);
    if (rc == 0)
        rc = addr_parse(s->listen, &sa, err);
    if (rc == 0)
        rc = ember_tls_ctx_open(s->cert, s->key, s->client_ca, &ts->ctx, err);
    if (rc < 0)
        return rc;
    ts->api = ember_openssl(err);
    ts->roles = s->roles;
    ts->anonymous = s->anonymous;
    uv_tcp_init(loop, &ts->listener);
    ts->listener.data = ctx;
    ts->open = 1;
    rc = uv_tcp_bind(&ts->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ts->listener, EMBERD_LISTEN_BACKLOG, on_connection);
    if (rc < 0) {
        tls_server_close(ts);
        return ember_err_set(err, EMBER_EIO, "cannot listen on %s: %s", s->listen, uv_strerror(rc));
    }
    char addr[64];
    tls_addr_name(&ts->listener, 0, addr, sizeof addr);
    snprintf(ts->name, sizeof ts->name, "https://%s", addr);
    return 0;
}

void tls_server_close(tls_server *ts)
{
    if (ts->open) {
        uv_close((uv_handle_t *)&ts->listener, NULL);
        ts->open = 0;
    }
}

void tls_server_free(tls_server *ts)
{
    if (ts->ctx)
        ts->api->ctx_free(ts->ctx);
    ts->ctx = NULL;
}

int tls_session_new(tls_server *ts, ember_tls **out)
{
    return ts->api->session_new(ts->ctx, out);
}

void tls_session_free(tls_server *ts, ember_tls *t)
{
    ts->api->session_free(t);
}

int tls_session_input(tls_server *ts, ember_tls *t, const char *cipher, size_t n, ember_err *err)
{
    return ts->api->input(t, cipher, n, err);
}

int tls_session_read(tls_server *ts, ember_tls *t, char *buf, size_t cap, size_t *len,
                     ember_err *err)
{
    size_t got = 0;
    int rc = ts->api->read(t, buf + *len, cap - *len, &got, err);
    *len += got;
    return rc;
}

int tls_session_seal(tls_server *ts, ember_tls *t, const char *plain, size_t n, int close,
                     char **out, size_t *out_len, ember_err *err)
{
    *out = NULL;
    *out_len = 0;
    int rc = ts->api->write(t, plain, n, err);
    if (rc < 0)
        return rc;
    if (close)
        ts->api->close_notify(t);
    size_t pending = ts->api->pending(t);
    if (pending == 0)
        return 0;
    char *buf = malloc(pending);
    if (!buf)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    *out_len = ts->api->output(t, buf, pending);
    *out = buf;
    return 0;
}

int tls_session_established(tls_server *ts, ember_tls *t)
{
    return ts->api->established(t);
}

daemon_role tls_session_role(tls_server *ts, ember_tls *t, char *who, size_t cap)
{
    char subject[EMBERD_MAX_TLS_SUBJECT + 1], cn[EMBERD_MAX_TLS_SUBJECT + 1];
    if (!ts->api->peer(t, subject, sizeof subject, cn, sizeof cn)) {
        snprintf(who, cap, "a TLS client without a certificate");
        return ts->anonymous;
    }
    snprintf(who, cap, "certificate '%s'", subject);
    return ts->roles ? tls_roles_match(ts->roles, subject, cn) : ROLE_NONE;
}
