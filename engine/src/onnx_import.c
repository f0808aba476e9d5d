/*
 * ONNX import: a ModelProto (parsed by protobuf-c from our onnx.proto subset) into the IR.
 *
 * Tensors are converted to dense native arrays as they are read (raw_data or the typed
 * repeated fields), subgraphs of If are imported recursively with names resolved through the
 * enclosing graphs, and every operator is looked up in the registry here, so an unknown op
 * fails at load time with its name, node and opset rather than at the first request.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "onnx.pb-c.h"
#include "op.h"
#include "wmem.h"

#define ONNX_TYPE_UINT16 4
#define ONNX_TYPE_INT16 5

typedef struct import_ctx {
    ember_err *err;
    int opset;
    eg_wmem *arena; /* where protobuf-c unpacks, or NULL for the heap */
} import_ctx;

static int import_graph(import_ctx *ic, const Onnx__GraphProto *gp, eg_graph *parent,
                        eg_graph **out);

static int dtype_from_onnx(int32_t t, ember_dtype *dt)
{
    switch (t) {
    case EMBER_DT_FLOAT:
    case EMBER_DT_UINT8:
    case EMBER_DT_INT8:
    case EMBER_DT_INT32:
    case EMBER_DT_INT64:
    case EMBER_DT_BOOL:
        *dt = (ember_dtype)t;
        return 0;
    default:
        return -1;
    }
}

static const char *onnx_type_name(int32_t t)
{
    static const char *names[] = {"UNDEFINED", "FLOAT",  "UINT8",   "INT8",     "UINT16",
                                  "INT16",     "INT32",  "INT64",   "STRING",   "BOOL",
                                  "FLOAT16",   "DOUBLE", "UINT32",  "UINT64",   "COMPLEX64",
                                  "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]))
        return names[t];
    return "unknown";
}

/* Fill t (dtype, dims, data) from a TensorProto. The data is freshly allocated, except that
 * when borrowed is given and the message was unpacked into the import's arena, raw_data is
 * used where it lies and *borrowed set (the arena goes with the model). */
static int tensor_from_proto(import_ctx *ic, const Onnx__TensorProto *tp, ember_tensor *t,
                             int *borrowed)
{
    const char *name = tp->name ? tp->name : "(unnamed)";
    memset(t, 0, sizeof *t);
    if (tp->has_data_location && tp->data_location == 1)
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                             "tensor '%s' keeps its data in an external file, which ember does "
                             "not read",
                             name);
    if (dtype_from_onnx(tp->data_type, &t->dtype) != 0)
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                             "tensor '%s' has data type %s (%d), which ember does not support",
                             name, onnx_type_name(tp->data_type), tp->data_type);
    if (tp->n_dims > EMBER_MAX_RANK)
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED, "tensor '%s' has rank %zu (max %d)",
                             name, tp->n_dims, EMBER_MAX_RANK);
    t->rank = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return ember_err_set(ic->err, EMBER_EFORMAT, "tensor '%s' has a negative dim", name);
        t->dims[i] = tp->dims[i];
    }
    int64_t count = ember_tensor_count(t);
    int64_t bytes = eg_tensor_bytes(t->dtype, t->rank, t->dims);
    if (count < 0 || bytes < 0 || bytes > ((int64_t)1 << 34))
        return ember_err_set(ic->err, EMBER_EFORMAT, "tensor '%s' is too large", name);
    if (tp->has_raw_data && bytes > 0 && tp->raw_data.len == (size_t)bytes &&
        (!ic->arena || borrowed)) {
        /* ONNX raw_data is little-endian, as is every machine ember targets. protobuf-c
         * allocated it for the message, which is ours and freed right after the import: the
         * tensor takes the block instead of a copy (the weights are most of a model). */
        ProtobufCBinaryData *raw = (ProtobufCBinaryData *)&tp->raw_data;
        t->data = raw->data;
        raw->data = NULL;
        if (borrowed)
            *borrowed = ic->arena != NULL;
        return 0;
    }
    size_t es = ember_dtype_size(t->dtype);
    t->data = malloc(bytes ? (size_t)bytes : 1);
    if (!t->data)
        return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory reading tensor '%s'", name);

    size_t n = (size_t)count;
    if (tp->has_raw_data) {
        if (tp->raw_data.len != (size_t)bytes)
            goto bad_len;
        if (bytes)
            memcpy(t->data, tp->raw_data.data, (size_t)bytes);
        return 0;
    }
    if (n == 0 && tp->n_float_data + tp->n_int32_data + tp->n_int64_data == 0)
        return 0;
    switch (t->dtype) {
    case EMBER_DT_FLOAT:
        if (tp->n_float_data != n)
            goto bad_len;
        memcpy(t->data, tp->float_data, n * es);
        return 0;
    case EMBER_DT_INT64:
        if (tp->n_int64_data != n)
            goto bad_len;
        memcpy(t->data, tp->int64_data, n * es);
        return 0;
    case EMBER_DT_INT32:
        if (tp->n_int32_data != n)
            goto bad_len;
        memcpy(t->data, tp->int32_data, n * es);
        return 0;
    case EMBER_DT_INT8:
    case EMBER_DT_UINT8:
    case EMBER_DT_BOOL:
        if (tp->n_int32_data != n)
            goto bad_len;
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i];
        return 0;
    default:
        break;
    }
bad_len:
    free(t->data);
    t->data = NULL;
    return ember_err_set(ic->err, EMBER_EFORMAT,
                         "tensor '%s': data length does not match its shape (%lld elements)", name,
                         (long long)count);
}

static void type_from_proto(const Onnx__TypeProto *tp, eg_value *v)
{
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    ember_dtype dt;
    if (tt->has_elem_type && dtype_from_onnx(tt->elem_type, &dt) == 0)
        v->dtype = dt;
    if (tt->shape && tt->shape->n_dim <= EMBER_MAX_RANK) {
        v->rank = (int)tt->shape->n_dim;
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            v->dims[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                                 d->dim_value >= 0
                             ? d->dim_value
                             : -1;
        }
    }
}

/* Index of name in g, resolving through enclosing graphs by adding an OUTER value; -1 if the
 * name is nowhere. */
static int resolve(eg_graph *g, const char *name)
{
    int i = eg_graph_find(g, name);
    if (i >= 0 || !g->parent)
        return i;
    int p = resolve(g->parent, name);
    if (p < 0)
        return -1;
    i = eg_graph_add_value(g, name);
    if (i < 0)
        return -1;
    g->val[i].kind = EG_VAL_OUTER;
    g->val[i].outer = p;
    g->val[i].dtype = g->parent->val[p].dtype;
    g->val[i].rank = g->parent->val[p].rank;
    memcpy(g->val[i].dims, g->parent->val[p].dims, sizeof g->val[i].dims);
    return i;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int import_attr(import_ctx *ic, eg_graph *g, const Onnx__AttributeProto *ap, eg_attr *a,
                       const eg_node *n)
{
    a->name = dup_or_empty(ap->name);
    if (!a->name)
        return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
    if (ap->ref_attr_name)
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                             "node '%s' (%s): attribute '%s' refers to a function attribute",
                             n->name, n->op, a->name);
    a->kind = ap->type;
    switch (ap->type) {
    case EG_ATTR_FLOAT:
        a->f = ap->f;
        return 0;
    case EG_ATTR_INT:
        a->i = ap->i;
        return 0;
    case EG_ATTR_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        return 0;
    case EG_ATTR_TENSOR:
        if (!ap->t)
            break;
        return tensor_from_proto(ic, ap->t, &a->t, NULL);
    case EG_ATTR_GRAPH:
        if (!ap->g)
            break;
        return import_graph(ic, ap->g, g, &a->g);
    case EG_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = malloc((ap->n_floats + 1) * sizeof *a->floats);
        if (!a->floats)
            return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
        return 0;
    case EG_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = malloc((ap->n_ints + 1) * sizeof *a->ints);
        if (!a->ints)
            return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
        return 0;
    case EG_ATTR_STRINGS:
        a->strings = calloc(ap->n_strings + 1, sizeof *a->strings);
        if (!a->strings)
            return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = malloc(ap->strings[i].len + 1);
            if (!a->strings[i])
                return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
            a->n = (int)i + 1;
            memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = '\0';
        }
        return 0;
    default:
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                             "node '%s' (%s): attribute '%s' has type %d, which ember does not "
                             "support",
                             n->name, n->op, a->name, ap->type);
    }
    return ember_err_set(ic->err, EMBER_EFORMAT, "node '%s' (%s): attribute '%s' has no value",
                         n->name, n->op, a->name);
}

static int import_node(import_ctx *ic, eg_graph *g, const Onnx__NodeProto *np, eg_node *n)
{
    n->op = dup_or_empty(np->op_type);
    n->domain = dup_or_empty(np->domain);
    n->name = dup_or_empty(np->name);
    n->in = calloc(np->n_input + 1, sizeof *n->in);
    n->out = calloc(np->n_output + 1, sizeof *n->out);
    n->attr = calloc(np->n_attribute + 1, sizeof *n->attr);
    if (!n->op || !n->domain || !n->name || !n->in || !n->out || !n->attr)
        return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
    if (strcmp(n->domain, "ai.onnx") == 0)
        n->domain[0] = '\0';

    n->impl = eg_op_find(n->domain, n->op);
    if (!n->impl)
        return ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                             "unsupported operator '%s%s%s' in node '%s' (opset %d)",
                             n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op,
                             n->name, ic->opset);

    n->nin = (int)np->n_input;
    for (size_t i = 0; i < np->n_input; i++) {
        const char *name = np->input[i];
        if (!name || !name[0]) {
            n->in[i] = -1;
            continue;
        }
        int v = resolve(g, name);
        if (v < 0)
            return ember_err_set(ic->err, EMBER_EFORMAT,
                                 "node '%s' (%s) reads '%s', which no input, initializer or "
                                 "earlier node defines",
                                 n->name, n->op, name);
        n->in[i] = v;
    }
    /* Attributes (and so subgraphs) after inputs: a subgraph sees the values defined so far. */
    for (size_t i = 0; i < np->n_attribute; i++) {
        n->nattr = (int)i + 1;
        int rc = import_attr(ic, g, np->attribute[i], &n->attr[i], n);
        if (rc)
            return rc;
    }
    n->nout = (int)np->n_output;
    for (size_t i = 0; i < np->n_output; i++) {
        const char *name = np->output[i];
        if (!name || !name[0]) {
            n->out[i] = -1;
            continue;
        }
        if (eg_graph_find(g, name) >= 0)
            return ember_err_set(ic->err, EMBER_EFORMAT,
                                 "node '%s' (%s) writes '%s', which is already defined", n->name,
                                 n->op, name);
        int v = eg_graph_add_value(g, name);
        if (v < 0)
            return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        n->out[i] = v;
    }
    return 0;
}

static int import_graph(import_ctx *ic, const Onnx__GraphProto *gp, eg_graph *parent,
                        eg_graph **out)
{
    int rc;
    eg_graph *g = eg_graph_new(parent, ic->opset);
    if (!g)
        return ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
    g->name = dup_or_empty(gp->name);
    g->in = calloc(gp->n_input + 1, sizeof *g->in);
    g->out = calloc(gp->n_output + 1, sizeof *g->out);
    g->node = calloc(gp->n_node + 1, sizeof *g->node);
    if (!g->name || !g->in || !g->out || !g->node) {
        rc = ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
        goto fail;
    }

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0]) {
            rc = ember_err_set(ic->err, EMBER_EFORMAT, "an initializer has no name");
            goto fail;
        }
        if (eg_graph_find(g, tp->name) >= 0) {
            rc = ember_err_set(ic->err, EMBER_EFORMAT, "initializer '%s' is defined twice",
                               tp->name);
            goto fail;
        }
        int v = eg_graph_add_value(g, tp->name);
        if (v < 0) {
            rc = ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
            goto fail;
        }
        ember_tensor t;
        int borrowed = 0;
        rc = tensor_from_proto(ic, tp, &t, &borrowed);
        if (rc)
            goto fail;
        eg_value *val = &g->val[v];
        val->borrowed = borrowed;
        val->kind = EG_VAL_CONST;
        val->dtype = t.dtype;
        val->rank = t.rank;
        memcpy(val->dims, t.dims, sizeof val->dims);
        val->data = t.data;
    }

    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !vi->name[0]) {
            rc = ember_err_set(ic->err, EMBER_EFORMAT, "graph input %zu has no name", i);
            goto fail;
        }
        /* Older exporters list initializers among the inputs; those stay constants. */
        if (eg_graph_find(g, vi->name) >= 0)
            continue;
        int v = eg_graph_add_value(g, vi->name);
        if (v < 0) {
            rc = ember_err_set(ic->err, EMBER_ENOMEM, "out of memory");
            goto fail;
        }
        g->val[v].kind = EG_VAL_INPUT;
        type_from_proto(vi->type, &g->val[v]);
        if (parent == NULL && g->val[v].dtype == EMBER_DT_UNDEFINED) {
            int32_t et = vi->type && vi->type->tensor_type ? vi->type->tensor_type->elem_type : 0;
            rc = ember_err_set(ic->err, EMBER_EUNSUPPORTED,
                               "model input '%s' has type %s, which ember does not support",
                               vi->name, onnx_type_name(et));
            goto fail;
        }
        g->in[g->nin++] = v;
    }

    for (size_t i = 0; i < gp->n_node; i++) {
        g->nnode = (int)i + 1;
        rc = import_node(ic, g, gp->node[i], &g->node[i]);
        if (rc)
            goto fail;
    }

    for (size_t i = 0; i < gp->n_value_info; i++) {
        int v = eg_graph_find(g, gp->value_info[i]->name ? gp->value_info[i]->name : "");
        if (v >= 0 && g->val[v].kind == EG_VAL_NODE)
            type_from_proto(gp->value_info[i]->type, &g->val[v]);
    }

    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        int v = vi->name ? resolve(g, vi->name) : -1;
        if (v < 0) {
            rc = ember_err_set(ic->err, EMBER_EFORMAT, "graph output '%s' is never defined",
                               vi->name ? vi->name : "");
            goto fail;
        }
        if (g->val[v].kind == EG_VAL_NODE || g->val[v].dtype == EMBER_DT_UNDEFINED)
            type_from_proto(vi->type, &g->val[v]);
        g->out[g->nout++] = v;
    }

    rc = eg_graph_link(g, ic->err);
    if (rc)
        goto fail;
    *out = g;
    return 0;
fail:
    eg_graph_free(g);
    return rc;
}

static void *arena_alloc(void *arena, size_t size)
{
    return eg_wmem_alloc(arena, size);
}

static void arena_free(void *arena, void *p)
{
    (void)arena; /* everything goes with the arena */
    (void)p;
}

int eg_onnx_import(const void *buf, size_t len, eg_wmem *arena, eg_graph **out, ember_err *err)
{
    ProtobufCAllocator pa = {arena_alloc, arena_free, arena};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(arena ? &pa : NULL, len, buf);
    if (!mp && arena && eg_wmem_explain(arena, err))
        return EMBER_ENOMEM;
    if (!mp)
        return ember_err_set(err, EMBER_EFORMAT,
                             "not a valid ONNX model: the protobuf data is truncated or corrupt");
    import_ctx ic = {.err = err, .opset = -1, .arena = arena};
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !d[0] || strcmp(d, "ai.onnx") == 0)
            ic.opset = (int)mp->opset_import[i]->version;
    }
    int rc;
    if (!mp->graph)
        rc = ember_err_set(err, EMBER_EFORMAT, "not a valid ONNX model: it has no graph");
    else if (ic.opset < 0 && mp->n_opset_import == 0)
        rc = ember_err_set(err, EMBER_EFORMAT, "not a valid ONNX model: no opset_import");
    else if (ic.opset == 0)
        rc = ember_err_set(err, EMBER_EFORMAT, "not a valid ONNX model: opset version 0");
    else
        rc = import_graph(&ic, mp->graph, NULL, out);
    onnx__model_proto__free_unpacked(mp, arena ? &pa : NULL);
    return rc;
}

int eg_onnx_tensor(const void *buf, size_t len, ember_tensor *t, ember_err *err)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!tp)
        return ember_err_set(err, EMBER_EFORMAT, "not a valid ONNX TensorProto");
    import_ctx ic = {.err = err};
    int rc = tensor_from_proto(&ic, tp, t, NULL);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return rc;
}
