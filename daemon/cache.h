/*
 * A model version's response cache (config.json "cache"): answers to infer requests, keyed by
 * a BLAKE2b-256 hash of everything that decides the answer, kept in least-recently-used order
 * within a bound on entries and on bytes. Each model_entry owns its own cache, so a new
 * version, a reload or an unload starts empty. Loop thread only: lookups happen when a
 * request is queued, insertions when its answer is delivered.
 *
 * Cached answers carry no "id": the request's own id is spliced in for every answer, the
 * first (a miss) and every hit alike (cache_answer), so both are the same bytes.
 */
#ifndef EMBERD_CACHE_H
#define EMBERD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <ember/err.h>
#include <ember/proto.h>

#define CACHE_KEY_BYTES 32

/* config.json "cache": {"entries": N, "max_bytes": B, "max_answer_bytes": A}. */
typedef struct cache_config {
    int entries;             /* 0: no cache (the default) */
    size_t max_bytes;        /* answers' bytes kept at most, keys and bookkeeping included */
    size_t max_answer_bytes; /* a bigger answer is not kept */
} cache_config;

typedef struct response_cache response_cache;

/* A cache for cfg (entries > 0). EMBER_ENOMEM. */
int cache_new(const cache_config *cfg, response_cache **out, ember_err *err);
void cache_free(response_cache *c);

/* The key of req for model name/version: its input tensors (name, dtype, shape, bytes), the
 * outputs it asks for in order and how (binary or JSON). Scheduling parameters (priority,
 * timeout_ms) and the id do not change the answer and are left out. */
void cache_key(const char *name, const char *version, const ember_io_info *inputs,
               const ember_infer_request *req, const ember_io_info *outputs,
               uint8_t key[CACHE_KEY_BYTES]);

/* The answer kept for key (made most recently used), or NULL. *header_len is its JSON's
 * length (the rest is binary output data). The pointer stays valid until the next put. */
const char *cache_get(response_cache *c, const uint8_t key[CACHE_KEY_BYTES], size_t *len,
                      size_t *header_len);

/* Keep body (len bytes, the JSON being its first header_len; malloc'd, taken) under key,
 * dropping the least recently used answers to make room. An answer over max_answer_bytes,
 * or one already kept, is freed instead. */
void cache_put(response_cache *c, const uint8_t key[CACHE_KEY_BYTES], char *body, size_t len,
               size_t header_len);

/* Answers and bytes kept now (for tests of the bounds and for logs). */
int cache_count(const response_cache *c);
size_t cache_bytes(const response_cache *c);

/* An id-less answer of model name/version (body, len bytes, header_len the JSON's length when
 * binary output data follows it, else 0)
 * with "id": id put in before "outputs", byte for byte where and how
 * ember_kserve_encode_response writes it; id NULL copies it. *out is malloc'd. EMBER_ENOMEM,
 * or EMBER_EINVAL when body is not such an answer. */
int cache_answer(const char *body, size_t len, size_t header_len, const char *name,
                 const char *version, const char *id, char **out, size_t *out_len,
                 size_t *out_header_len);

#endif
