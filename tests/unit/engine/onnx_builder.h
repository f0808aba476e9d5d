/*
 * A tiny ONNX model writer for tests: builds a ModelProto with protobuf-c and packs it to
 * bytes, so unit tests exercise the real importer on models they describe in a few lines.
 */
#ifndef EMBER_TEST_ONNX_BUILDER_H
#define EMBER_TEST_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tb_model tb_model;

tb_model *tb_new(int opset);
/* A graph input or output; a dim of -1 becomes the symbolic dim "N". */
void tb_input(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims);
void tb_output(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims);
void tb_init(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims,
             const void *data, size_t bytes);
/* ins and outs are comma-separated names ("" inside marks an omitted optional input). */
void tb_node(tb_model *t, const char *op, const char *ins, const char *outs);
/* Attributes of the last node added. */
void tb_attr_int(tb_model *t, const char *name, int64_t v);
void tb_attr_float(tb_model *t, const char *name, float v);
void tb_attr_ints(tb_model *t, const char *name, int n, const int64_t *v);
void tb_attr_string(tb_model *t, const char *name, const char *v);
/* list is comma-separated, as for tb_node. */
void tb_attr_strings(tb_model *t, const char *name, const char *list);
/* Serialize; *buf is malloc'd, the caller frees it. */
size_t tb_pack(tb_model *t, uint8_t **buf);
void tb_free(tb_model *t);

#endif
