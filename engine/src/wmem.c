/*
 * The locked allocator behind eg_wmem (wmem.h), and the same without the locking (an arena).
 * Allocations are carved front to back from chunks of at least WMEM_CHUNK bytes; a request
 * larger than a chunk (the weights section, a big packed matrix) gets a chunk of its own, so
 * the waste is at most the tail of each chunk. Nothing is returned before the model goes: the
 * model's memory is allocated once at load and released all together, wiped with
 * explicit_bzero (when locked) so no weight survives unload. Chunks of 2 MiB or more are
 * 2 MiB aligned and advised for transparent huge pages: on a virtual machine a 4 KiB page
 * fault costs about as much as copying the page several times, and megabytes of weights are
 * thousands of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "graph.h"
#include "op.h"
#include "wmem.h"

#define WMEM_CHUNK ((size_t)256 * 1024)
#define WMEM_HUGE ((size_t)2 * 1024 * 1024)

typedef struct wchunk {
    unsigned char *p;
    size_t len, used;
} wchunk;

struct eg_wmem {
    wchunk *chunk;
    int nchunk, cap;
    size_t expect;       /* what the model is expected to need in all, for messages */
    int arena;           /* not locked, dumped, not wiped (eg_wmem_new_arena) */
    size_t first;        /* an arena's first chunk */
    size_t locked;       /* bytes of all chunks */
    size_t failed_bytes; /* the chunk that could not be mapped or locked, 0 if none */
    int failed_errno;
};

eg_wmem *eg_wmem_new(size_t expect)
{
    eg_wmem *w = calloc(1, sizeof *w);
    if (w)
        w->expect = expect;
    return w;
}

eg_wmem *eg_wmem_new_arena(size_t expect)
{
    eg_wmem *w = eg_wmem_new(expect);
    if (w) {
        w->arena = 1;
        w->first = expect;
    }
    return w;
}

void eg_wmem_free(eg_wmem *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nchunk; i++) {
        if (!w->arena) {
            explicit_bzero(w->chunk[i].p, w->chunk[i].len);
            munlock(w->chunk[i].p, w->chunk[i].len);
        }
        munmap(w->chunk[i].p, w->chunk[i].len);
    }
    free(w->chunk);
    free(w);
}

/* len bytes (a multiple of the page size) of fresh anonymous memory; huge-page aligned and
 * advised when len is at least a huge page. MAP_FAILED on failure. */
static void *map_chunk(size_t len)
{
    int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (len < WMEM_HUGE || len > SIZE_MAX - WMEM_HUGE)
        return mmap(NULL, len, prot, flags, -1, 0);
    unsigned char *p = mmap(NULL, len + WMEM_HUGE, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return p;
    unsigned char *a = (unsigned char *)(((uintptr_t)p + WMEM_HUGE - 1) & ~(uintptr_t)(WMEM_HUGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + len < p + len + WMEM_HUGE)
        munmap(a + len, (size_t)(p + len + WMEM_HUGE - (a + len)));
#ifdef MADV_HUGEPAGE
    madvise(a, len, MADV_HUGEPAGE); /* advice: without huge pages it works as before */
#endif
    return a;
}

static wchunk *chunk_add(eg_wmem *w, size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* An arena's first chunk is what its owner expects to hold (a whole model's weights: huge
     * pages when that is 2 MiB or more); a small model's stays small, so a daemon serving only
     * tiny models does not take a 2 MiB huge page for each. */
    size_t least = w->arena && w->nchunk == 0 && w->first > WMEM_CHUNK ? w->first : WMEM_CHUNK;
    size_t len = bytes > least ? bytes : least;
    if (len > SIZE_MAX - WMEM_HUGE)
        return NULL;
    len = (len + page - 1) / page * page;
    if (w->nchunk == w->cap) {
        int cap = w->cap ? 2 * w->cap : 8;
        wchunk *c = realloc(w->chunk, (size_t)cap * sizeof *c);
        if (!c)
            return NULL;
        w->chunk = c;
        w->cap = cap;
    }
    void *p = map_chunk(len);
    if (p == MAP_FAILED) {
        w->failed_bytes = len;
        w->failed_errno = errno;
        return NULL;
    }
    if (!w->arena && (madvise(p, len, MADV_DONTDUMP) != 0 || mlock(p, len) != 0)) {
        w->failed_bytes = len;
        w->failed_errno = errno;
        munmap(p, len);
        return NULL;
    }
    w->locked += w->arena ? 0 : len;
    w->chunk[w->nchunk] = (wchunk){p, len, 0};
    return &w->chunk[w->nchunk++];
}

void *eg_wmem_alloc(eg_wmem *w, size_t bytes)
{
    if (bytes > SIZE_MAX - EG_WMEM_ALIGN)
        return NULL;
    size_t need = (bytes + EG_WMEM_ALIGN - 1) / EG_WMEM_ALIGN * EG_WMEM_ALIGN;
    need = need ? need : EG_WMEM_ALIGN;
    wchunk *c = w->nchunk ? &w->chunk[w->nchunk - 1] : NULL;
    if (!c || c->len - c->used < need)
        c = chunk_add(w, need);
    if (!c)
        return NULL;
    void *p = c->p + c->used;
    c->used += need;
    return p;
}

int eg_wmem_owns(const eg_wmem *w, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; w && p && i < w->nchunk; i++)
        if (a >= (uintptr_t)w->chunk[i].p && a < (uintptr_t)w->chunk[i].p + w->chunk[i].len)
            return 1;
    return 0;
}

size_t eg_wmem_locked_bytes(const eg_wmem *w)
{
    return w ? w->locked : 0;
}

int eg_wmem_explain(const eg_wmem *w, ember_err *err)
{
    if (!w || !w->failed_bytes)
        return 0;
    if (w->arena)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for %zu KiB of the model (%s)",
                             (w->failed_bytes + 1023) / 1024, strerror(w->failed_errno));
    struct rlimit rl;
    char limit[48] = "unknown";
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            snprintf(limit, sizeof limit, "unlimited");
        else
            snprintf(limit, sizeof limit, "%llu KiB", (unsigned long long)rl.rlim_cur / 1024);
    }
    /* Short enough to survive the daemon's "refusing PATH: " prefix in an ember_err. */
    return ember_err_set(err, EMBER_ENOMEM,
                         "cannot lock ~%zu KiB for the model (%zu KiB more refused after %zu "
                         "KiB: %s); RLIMIT_MEMLOCK is %s per process: raise LimitMEMLOCK=",
                         (w->expect + 1023) / 1024, (w->failed_bytes + 1023) / 1024,
                         w->locked / 1024, strerror(w->failed_errno), limit);
}

void *eg_kdata_alloc(const eg_graph *g, size_t bytes)
{
    if (g->wmem)
        return eg_wmem_alloc(g->wmem, bytes);
    void *p = NULL;
    return posix_memalign(&p, EG_WMEM_ALIGN, bytes ? bytes : 1) == 0 ? p : NULL;
}
