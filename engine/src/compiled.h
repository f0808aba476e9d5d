/*
 * The compiled model format (.ember, see docs/ember-format.md): reading it into the IR and
 * writing the IR out, for model.c, which picks the format by content.
 */
#ifndef EMBER_COMPILED_H
#define EMBER_COMPILED_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"

#define EG_COMPILED_MAGIC "EMBERMDL"
#define EG_COMPILED_MAGIC_LEN 8
/* 2: node records carry the kernels' packed weights (docs/ember-format.md). */
#define EG_COMPILED_VERSION 2
#define EG_COMPILED_HEADER_SIZE 96
#define EG_COMPILED_ALIGN 64
/* Where the header keeps its checksum (treated as zero while the checksum is computed). */
#define EG_COMPILED_CRC_OFFSET 20

/* Whether buf starts with the compiled model's magic. */
int eg_compiled_is(const void *buf, size_t len);

/* Checks the header, the section bounds and the checksum of a compiled model of len bytes;
 * on success sets the weights section's offset and size within buf. */
int eg_compiled_check(const void *buf, size_t len, uint64_t *weights_off, uint64_t *weights_size,
                      ember_err *err);

/* Builds the graph of a compiled model that passed eg_compiled_check (the caller's, so the
 * checksum is computed once). Constants are
 * not copied: their data points into weights, the model's weights section as it lies in
 * memory (64-byte aligned), which must outlive the graph; such values are marked borrowed.
 * Every operator is looked up in the registry, and the graphs are linked. With wmem (a locked
 * model, wmem.h) every graph carries it and attribute tensors are copied into it. */
int eg_compiled_load(const void *buf, size_t len, const unsigned char *weights, eg_wmem *wmem,
                     eg_graph **out, ember_err *err);

/* The checksum the header carries: CRC-32 (IEEE 802.3, as zlib's crc32), continued from crc
 * (0 to start). */
uint32_t eg_crc32(uint32_t crc, const void *buf, size_t len);

#endif
