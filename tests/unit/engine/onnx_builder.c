/*
 * Test-only ONNX writer (see onnx_builder.h). Every allocation is remembered in one list so
 * tb_free releases the whole message tree without walking protobuf-c's structures.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx_builder.h"

struct tb_model {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    void **allocs;
    size_t nallocs;
};

static void *tb_alloc(tb_model *t, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    void **a = realloc(t->allocs, (t->nallocs + 1) * sizeof *a);
    if (!p || !a)
        abort();
    t->allocs = a;
    t->allocs[t->nallocs++] = p;
    return p;
}

static char *tb_strdup(tb_model *t, const char *s)
{
    char *d = tb_alloc(t, strlen(s) + 1);
    strcpy(d, s);
    return d;
}

/* Appends p to a protobuf-c repeated field (n, items). */
#define TB_PUSH(t, n, items, p)                                                                    \
    do {                                                                                           \
        void *_old = (items);                                                                      \
        (items) = tb_alloc((t), ((n) + 1) * sizeof *(items));                                      \
        if (_old)                                                                                  \
            memcpy((items), _old, (n) * sizeof *(items));                                          \
        (items)[(n)++] = (p);                                                                      \
    } while (0)

tb_model *tb_new(int opset)
{
    tb_model *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    onnx__model_proto__init(&t->model);
    onnx__graph_proto__init(&t->graph);
    onnx__operator_set_id_proto__init(&t->opset);
    t->opset.domain = "";
    t->opset.has_version = 1;
    t->opset.version = opset;
    t->opsets[0] = &t->opset;
    t->model.has_ir_version = 1;
    t->model.ir_version = 7;
    t->model.n_opset_import = 1;
    t->model.opset_import = t->opsets;
    t->model.graph = &t->graph;
    t->graph.name = "test";
    return t;
}

static Onnx__ValueInfoProto *value_info(tb_model *t, const char *name, int dtype, int rank,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = tb_alloc(t, sizeof *vi);
    Onnx__TypeProto *tp = tb_alloc(t, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = tb_alloc(t, sizeof *tt);
    Onnx__TensorShapeProto *sh = tb_alloc(t, sizeof *sh);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    vi->name = tb_strdup(t, name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    tt->shape = sh;
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = tb_alloc(t, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        TB_PUSH(t, sh->n_dim, sh->dim, d);
    }
    return vi;
}

void tb_input(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims)
{
    TB_PUSH(t, t->graph.n_input, t->graph.input, value_info(t, name, dtype, rank, dims));
}

void tb_output(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims)
{
    TB_PUSH(t, t->graph.n_output, t->graph.output, value_info(t, name, dtype, rank, dims));
}

void tb_init(tb_model *t, const char *name, int dtype, int rank, const int64_t *dims,
             const void *data, size_t bytes)
{
    Onnx__TensorProto *tp = tb_alloc(t, sizeof *tp);
    onnx__tensor_proto__init(tp);
    tp->name = tb_strdup(t, name);
    tp->has_data_type = 1;
    tp->data_type = dtype;
    tp->n_dims = (size_t)rank;
    tp->dims = tb_alloc(t, (size_t)rank * sizeof *tp->dims);
    if (rank)
        memcpy(tp->dims, dims, (size_t)rank * sizeof *tp->dims);
    tp->has_raw_data = 1;
    tp->raw_data.len = bytes;
    tp->raw_data.data = tb_alloc(t, bytes);
    if (bytes)
        memcpy(tp->raw_data.data, data, bytes);
    TB_PUSH(t, t->graph.n_initializer, t->graph.initializer, tp);
}

static void split_names(tb_model *t, const char *list, size_t *n, char ***items)
{
    if (!list || !*list)
        return;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *s = tb_alloc(t, len + 1);
        memcpy(s, p, len);
        TB_PUSH(t, *n, *items, s);
        if (!comma)
            break;
        p = comma + 1;
    }
}

void tb_node(tb_model *t, const char *op, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = tb_alloc(t, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = tb_strdup(t, op);
    n->name = tb_strdup(t, op);
    split_names(t, ins, &n->n_input, &n->input);
    split_names(t, outs, &n->n_output, &n->output);
    TB_PUSH(t, t->graph.n_node, t->graph.node, n);
}

static Onnx__AttributeProto *new_attr(tb_model *t, const char *name, int type)
{
    Onnx__AttributeProto *a = tb_alloc(t, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = tb_strdup(t, name);
    a->has_type = 1;
    a->type = type;
    Onnx__NodeProto *n = t->graph.node[t->graph.n_node - 1];
    TB_PUSH(t, n->n_attribute, n->attribute, a);
    return a;
}

void tb_attr_int(tb_model *t, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(t, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void tb_attr_float(tb_model *t, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(t, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void tb_attr_ints(tb_model *t, const char *name, int n, const int64_t *v)
{
    Onnx__AttributeProto *a = new_attr(t, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)n;
    a->ints = tb_alloc(t, (size_t)n * sizeof *v);
    if (n)
        memcpy(a->ints, v, (size_t)n * sizeof *v);
}

void tb_attr_string(tb_model *t, const char *name, const char *v)
{
    Onnx__AttributeProto *a = new_attr(t, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)tb_strdup(t, v);
}

void tb_attr_strings(tb_model *t, const char *name, const char *list)
{
    Onnx__AttributeProto *a = new_attr(t, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    char **items = NULL;
    size_t n = 0;
    split_names(t, list, &n, &items);
    a->n_strings = n;
    a->strings = tb_alloc(t, (n ? n : 1) * sizeof *a->strings);
    for (size_t i = 0; i < n; i++)
        a->strings[i] = (ProtobufCBinaryData){strlen(items[i]), (uint8_t *)items[i]};
}

size_t tb_pack(tb_model *t, uint8_t **buf)
{
    size_t len = onnx__model_proto__get_packed_size(&t->model);
    *buf = malloc(len);
    if (!*buf)
        abort();
    return onnx__model_proto__pack(&t->model, *buf);
}

void tb_free(tb_model *t)
{
    for (size_t i = 0; i < t->nallocs; i++)
        free(t->allocs[i]);
    free(t->allocs);
    free(t);
}
