/*
 * Memory for a model's secrets: its weights and everything derived from them (packed kernel
 * data, attribute tensors), owned by the model and released with it.
 *
 * A model loaded locked (ember_model_load_mem_locked) gets an eg_wmem: bump allocation from
 * anonymous chunks that are locked in RAM (mlock: never swapped) and left out of core dumps
 * (MADV_DONTDUMP), and wiped before they are unmapped. A model loaded plainly from memory or
 * from ONNX gets an arena instead (eg_wmem_new_arena): the same bump allocation, neither
 * locked nor hidden, so its megabytes of weights cost a few huge-page faults rather than one
 * fault per 4 KiB page. A model with neither falls back to the ordinary heap.
 */
#ifndef EMBER_WMEM_H
#define EMBER_WMEM_H

#include <stddef.h>

#include <ember/engine.h>

typedef struct eg_wmem eg_wmem;

/* expect: about how many bytes the model will need (only said in eg_wmem_explain). */
eg_wmem *eg_wmem_new(size_t expect);
/* An arena: not locked, not hidden from dumps, not wiped. Its first chunk holds expect bytes
 * (later ones what is asked, at least 2 MiB). Chunks of 2 MiB and more are aligned and
 * advised for transparent huge pages. */
eg_wmem *eg_wmem_new_arena(size_t expect);
/* Wipes every chunk, unlocks and unmaps it. NULL is a no-op. */
void eg_wmem_free(eg_wmem *w);

/* bytes (0 allowed) aligned to EG_WMEM_ALIGN, locked and undumpable; lives until
 * eg_wmem_free. NULL when memory cannot be mapped or locked (eg_wmem_explain says which). */
#define EG_WMEM_ALIGN 64
void *eg_wmem_alloc(eg_wmem *w, size_t bytes);
/* Whether p lies in memory w handed out (then it must not be passed to free). */
int eg_wmem_owns(const eg_wmem *w, const void *p);
/* Bytes w holds mapped and locked (whole chunks); 0 for an arena. */
size_t eg_wmem_locked_bytes(const eg_wmem *w);
/* After a failed eg_wmem_alloc: sets err to say about how much locked memory the model
 * needs, what was refused, the process's RLIMIT_MEMLOCK, and how to raise it, and returns
 * EMBER_ENOMEM. 0 (err left
 * alone) when no allocation of w has failed. */
int eg_wmem_explain(const eg_wmem *w, ember_err *err);

#endif
