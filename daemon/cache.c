/*
 * The response cache: a chained hash table of answers over their BLAKE2b keys (the first 8
 * bytes of a key are already a uniform hash) plus a doubly linked list from most to least
 * recently used. A hit moves its answer to the front; a put pushes at the front and evicts
 * from the back until the entry and byte bounds hold again. Each answer is accounted at its
 * length plus its node, so max_bytes bounds the memory the cache holds, not just the payload.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cache.h"

typedef struct cache_node {
    uint8_t key[CACHE_KEY_BYTES];
    char *body;
    size_t len, header_len;
    struct cache_node *chain;       /* next in its hash bucket */
    struct cache_node *prev, *next; /* recency list: prev is more recent */
} cache_node;

struct response_cache {
    cache_config cfg;
    cache_node **buckets;
    size_t nbuckets; /* a power of two */
    cache_node *mru, *lru;
    int count;
    size_t bytes;
};

static size_t node_cost(const cache_node *n)
{
    return sizeof *n + n->len;
}

int cache_new(const cache_config *cfg, response_cache **out, ember_err *err)
{
    response_cache *c = calloc(1, sizeof *c);
    if (!c)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for a response cache");
    c->cfg = *cfg;
    c->nbuckets = 16;
    while (c->nbuckets < (size_t)cfg->entries)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for a response cache of %d",
                             cfg->entries);
    }
    *out = c;
    return 0;
}

void cache_free(response_cache *c)
{
    if (!c)
        return;
    for (cache_node *n = c->mru, *next; n; n = next) {
        next = n->next;
        free(n->body);
        free(n);
    }
    free(c->buckets);
    free(c);
}

static void hash_update_u64(crypto_generichash_state *st, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update(st, b, sizeof b);
}

/* A string with its length first, so "ab"+"c" and "a"+"bc" differ. */
static void hash_update_str(crypto_generichash_state *st, const char *s)
{
    size_t n = strlen(s);
    hash_update_u64(st, n);
    crypto_generichash_update(st, (const unsigned char *)s, n);
}

void cache_key(const char *name, const char *version, const ember_io_info *inputs,
               const ember_infer_request *req, const ember_io_info *outputs,
               uint8_t key[CACHE_KEY_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CACHE_KEY_BYTES);
    hash_update_str(&st, "emberd response cache 1");
    hash_update_str(&st, name);
    hash_update_str(&st, version);
    hash_update_u64(&st, (uint64_t)req->ninputs);
    for (int i = 0; i < req->ninputs; i++) {
        const ember_tensor *t = &req->inputs[i];
        hash_update_str(&st, inputs[i].name);
        hash_update_u64(&st, (uint64_t)t->dtype);
        hash_update_u64(&st, (uint64_t)t->rank);
        for (int d = 0; d < t->rank; d++)
            hash_update_u64(&st, (uint64_t)t->dims[d]);
        int64_t count = ember_tensor_count(t);
        size_t bytes = count > 0 ? (size_t)count * ember_dtype_size(t->dtype) : 0;
        hash_update_u64(&st, bytes);
        crypto_generichash_update(&st, t->data, bytes);
    }
    hash_update_u64(&st, (uint64_t)req->noutputs);
    for (int i = 0; i < req->noutputs; i++) {
        hash_update_str(&st, outputs[req->outputs[i]].name);
        hash_update_u64(&st, req->binary ? req->binary[i] : 0);
        hash_update_u64(&st, req->classify ? (uint64_t)req->classify[i] : 0);
    }
    crypto_generichash_final(&st, key, CACHE_KEY_BYTES);
}

static cache_node **bucket_of(response_cache *c, const uint8_t key[CACHE_KEY_BYTES])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return &c->buckets[h & (c->nbuckets - 1)];
}

static void list_unlink(response_cache *c, cache_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->mru = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->lru = n->prev;
    n->prev = n->next = NULL;
}

static void list_push_front(response_cache *c, cache_node *n)
{
    n->prev = NULL;
    n->next = c->mru;
    if (c->mru)
        c->mru->prev = n;
    else
        c->lru = n;
    c->mru = n;
}

static cache_node *cache_find(response_cache *c, const uint8_t key[CACHE_KEY_BYTES])
{
    for (cache_node *n = *bucket_of(c, key); n; n = n->chain)
        if (memcmp(n->key, key, CACHE_KEY_BYTES) == 0)
            return n;
    return NULL;
}

static void cache_evict(response_cache *c, cache_node *n)
{
    for (cache_node **p = bucket_of(c, n->key); *p; p = &(*p)->chain) {
        if (*p == n) {
            *p = n->chain;
            break;
        }
    }
    list_unlink(c, n);
    c->count--;
    c->bytes -= node_cost(n);
    free(n->body);
    free(n);
}

const char *cache_get(response_cache *c, const uint8_t key[CACHE_KEY_BYTES], size_t *len,
                      size_t *header_len)
{
    cache_node *n = cache_find(c, key);
    if (!n)
        return NULL;
    list_unlink(c, n);
    list_push_front(c, n);
    *len = n->len;
    *header_len = n->header_len;
    return n->body;
}

void cache_put(response_cache *c, const uint8_t key[CACHE_KEY_BYTES], char *body, size_t len,
               size_t header_len)
{
    cache_node *n = NULL;
    if (len > c->cfg.max_answer_bytes || cache_find(c, key) || !(n = malloc(sizeof *n))) {
        free(body);
        return;
    }
    memcpy(n->key, key, CACHE_KEY_BYTES);
    n->body = body;
    n->len = len;
    n->header_len = header_len;
    if (node_cost(n) > c->cfg.max_bytes) {
        free(body);
        free(n);
        return;
    }
    while (c->lru && (c->count >= c->cfg.entries || c->bytes + node_cost(n) > c->cfg.max_bytes))
        cache_evict(c, c->lru);
    cache_node **b = bucket_of(c, key);
    n->chain = *b;
    *b = n;
    list_push_front(c, n);
    c->count++;
    c->bytes += node_cost(n);
}

int cache_count(const response_cache *c)
{
    return c->count;
}

size_t cache_bytes(const response_cache *c)
{
    return c->bytes;
}

int cache_answer(const char *body, size_t len, size_t header_len, const char *name,
                 const char *version, const char *id, char **out, size_t *out_len,
                 size_t *out_header_len)
{
    static const char outputs_key[] = "\"outputs\":";
    static const char empty_tail[] = "\"outputs\":[]}";
    const char *at =
        memmem(body, header_len ? header_len : len, outputs_key, sizeof outputs_key - 1);
    if (!at)
        return EMBER_EINVAL;
    size_t prefix = (size_t)(at - body);
    /* The id member exactly as the encoder writes it: encode an answer with no outputs and
     * take what lies between the shared prefix and "outputs". */
    char *probe = NULL;
    size_t probe_len = 0, member = 0;
    if (id) {
        ember_err err;
        if (ember_kserve_encode_response(name, version, id, NULL, 0, &probe, &probe_len, &err) < 0)
            return EMBER_ENOMEM;
        size_t tail = sizeof empty_tail - 1;
        if (probe_len < prefix + tail || memcmp(probe, body, prefix) != 0 ||
            memcmp(probe + probe_len - tail, empty_tail, tail) != 0) {
            free(probe);
            return EMBER_EINVAL;
        }
        member = probe_len - prefix - tail;
    }
    char *res = malloc(len + member + 1);
    if (!res) {
        free(probe);
        return EMBER_ENOMEM;
    }
    memcpy(res, body, prefix);
    if (member)
        memcpy(res + prefix, probe + prefix, member);
    memcpy(res + prefix + member, body + prefix, len - prefix);
    res[len + member] = '\0';
    free(probe);
    *out = res;
    *out_len = len + member;
    *out_header_len = header_len ? header_len + member : 0;
    return 0;
}
