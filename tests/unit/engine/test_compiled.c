/*
 * Check unit tests for the compiled .ember format: a model compiled and loaded back (from
 * memory and from a mapped file) has the same IR and gives bit-identical outputs to the ONNX
 * original, including every attribute kind and If subgraphs; constants lie 64-byte aligned
 * in the file and are used in place; every truncation, flipped byte and structurally corrupt
 * table (with a recomputed checksum) is an error, never a crash; and the introspection API
 * (describe, MAC counting) reports what the model holds.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/engine.h>

#include "../memlock_limit.h"
#include "compiled.h"
#include "cpu.h"
#include "model.h"
#include "op.h"
#include "onnx.pb-c.h"
#include "wmem.h"

/* Linked with -Wl,--wrap=munmap: while `watch` holds addresses, every unmapping of a region
 * that contains one of them checks that the region was wiped first (the test reads the
 * counters afterwards; an assertion here could not say which model was unloaded). */
int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);
#define WATCH_MAX 64
static const void *watch[WATCH_MAX];
static int nwatch, watch_seen[WATCH_MAX], watch_dirty[WATCH_MAX];

int __wrap_munmap(void *addr, size_t len)
{
    for (int i = 0; i < nwatch; i++) {
        const unsigned char *a = addr, *w = watch[i];
        if (w < a || w >= a + len)
            continue;
        watch_seen[i]++;
        for (size_t j = 0; j < len; j++)
            if (a[j]) {
                watch_dirty[i]++;
                break;
            }
    }
    return __real_munmap(addr, len);
}

static char *source_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("EMBER_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the header checksum after a test edits the tables. */
static void fix_crc(unsigned char *buf)
{
    uint64_t woff = rd64(buf + 64);
    wr32(buf + EG_COMPILED_CRC_OFFSET, 0);
    wr32(buf + EG_COMPILED_CRC_OFFSET, eg_crc32(0, buf, (size_t)woff));
}

/* ---- a small ONNX writer for models with subgraphs and every attribute kind ---- */

typedef struct pb {
    void *p[512];
    int n;
} pb;

static void *pb_new(pb *b, size_t bytes)
{
    ck_assert_int_lt(b->n, 512);
    void *p = calloc(1, bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    b->p[b->n++] = p;
    return p;
}

static void pb_free(pb *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->p[i]);
}

#define PUSH(b, n, items, v)                                                                       \
    do {                                                                                           \
        void *_o = (items);                                                                        \
        (items) = pb_new((b), ((n) + 1) * sizeof *(items));                                        \
        if (_o)                                                                                    \
            memcpy((items), _o, (n) * sizeof *(items));                                            \
        (items)[(n)++] = (v);                                                                      \
    } while (0)

static Onnx__ValueInfoProto *vi(pb *b, const char *name, int dt, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = pb_new(b, sizeof *v);
    Onnx__TypeProto *tp = pb_new(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pb_new(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = pb_new(b, sizeof *sh);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    v->name = (char *)name;
    v->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = dt;
    tt->shape = sh;
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = pb_new(b, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
        PUSH(b, sh->n_dim, sh->dim, d);
    }
    return v;
}

static Onnx__TensorProto *tensor(pb *b, const char *name, int dt, int rank, const int64_t *dims,
                                 const void *data, size_t bytes)
{
    Onnx__TensorProto *t = pb_new(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = (size_t)rank;
    t->dims = pb_new(b, (size_t)rank * sizeof *t->dims);
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = pb_new(b, bytes);
    memcpy(t->raw_data.data, data, bytes);
    return t;
}

static Onnx__NodeProto *node(pb *b, Onnx__GraphProto *g, const char *op, const char *name,
                             const char *in0, const char *in1, const char *out)
{
    Onnx__NodeProto *n = pb_new(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    if (in0)
        PUSH(b, n->n_input, n->input, (char *)in0);
    if (in1)
        PUSH(b, n->n_input, n->input, (char *)in1);
    PUSH(b, n->n_output, n->output, (char *)out);
    PUSH(b, g->n_node, g->node, n);
    return n;
}

static Onnx__AttributeProto *attr(pb *b, Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = pb_new(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    PUSH(b, n->n_attribute, n->attribute, a);
    return a;
}

static Onnx__GraphProto *graph(pb *b, const char *name)
{
    Onnx__GraphProto *g = pb_new(b, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = (char *)name;
    return g;
}

/*
 * Z = Transpose(LeakyRelu(If(cond, then: A * K, else: If(cond, then: -A, else: A - E))))
 * with A = X + C, K from a Constant node, E an initializer of the outer else branch read two
 * levels down, and extra FLOAT/INTS/FLOATS/STRING/STRINGS/TENSOR attributes on the Add.
 */
static size_t build_if_model(uint8_t **out)
{
    pb b = {.n = 0};
    static const int64_t d23[] = {2, 3}, d32[] = {3, 2}, d1[] = {1};
    static const float c[] = {1, -2, 3, -4, 5, -6}, k[] = {0.5f, 0.25f, -1, 2, 3, -0.125f};
    static const float e[] = {3.5f};
    static const int64_t tdata[] = {7, -9};
    Onnx__GraphProto *g = graph(&b, "main");
    PUSH(&b, g->n_input, g->input, vi(&b, "X", EMBER_DT_FLOAT, 2, d23));
    PUSH(&b, g->n_input, g->input, vi(&b, "cond", EMBER_DT_BOOL, 0, NULL));
    PUSH(&b, g->n_output, g->output, vi(&b, "Z", EMBER_DT_FLOAT, 2, d32));
    PUSH(&b, g->n_initializer, g->initializer, tensor(&b, "C", EMBER_DT_FLOAT, 2, d23, c, 24));

    Onnx__NodeProto *add = node(&b, g, "Add", "add", "X", "C", "A");
    Onnx__AttributeProto *a = attr(&b, add, "gain", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = 1.5f;
    a = attr(&b, add, "note", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)"hello";
    a->s.len = 5;
    a = attr(&b, add, "tags", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    ProtobufCBinaryData s1 = {1, (uint8_t *)"a"}, s2 = {2, (uint8_t *)"bb"};
    PUSH(&b, a->n_strings, a->strings, s1);
    PUSH(&b, a->n_strings, a->strings, s2);
    a = attr(&b, add, "scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    PUSH(&b, a->n_floats, a->floats, 0.5f);
    PUSH(&b, a->n_floats, a->floats, -2.0f);
    a = attr(&b, add, "ks", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    PUSH(&b, a->n_ints, a->ints, 1);
    PUSH(&b, a->n_ints, a->ints, -3);
    a = attr(&b, add, "table", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tensor(&b, "", EMBER_DT_INT64, 1, (int64_t[]){2}, tdata, sizeof tdata);

    Onnx__NodeProto *cn = node(&b, g, "Constant", "const_k", NULL, NULL, "K");
    a = attr(&b, cn, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = tensor(&b, "", EMBER_DT_FLOAT, 2, d23, k, sizeof k);

    Onnx__GraphProto *then_g = graph(&b, "then");
    node(&b, then_g, "Mul", "mul", "A", "K", "then_out");
    PUSH(&b, then_g->n_output, then_g->output, vi(&b, "then_out", EMBER_DT_FLOAT, 2, d23));

    Onnx__GraphProto *inner_then = graph(&b, "inner_then");
    node(&b, inner_then, "Neg", "neg", "A", NULL, "it_out");
    PUSH(&b, inner_then->n_output, inner_then->output, vi(&b, "it_out", EMBER_DT_FLOAT, 2, d23));
    Onnx__GraphProto *inner_else = graph(&b, "inner_else");
    node(&b, inner_else, "Sub", "sub", "A", "E", "ie_out");
    PUSH(&b, inner_else->n_output, inner_else->output, vi(&b, "ie_out", EMBER_DT_FLOAT, 2, d23));

    Onnx__GraphProto *else_g = graph(&b, "else");
    PUSH(&b, else_g->n_initializer, else_g->initializer,
         tensor(&b, "E", EMBER_DT_FLOAT, 1, d1, e, sizeof e));
    Onnx__NodeProto *inner = node(&b, else_g, "If", "inner_if", "cond", NULL, "else_out");
    attr(&b, inner, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = inner_then;
    attr(&b, inner, "else_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = inner_else;
    PUSH(&b, else_g->n_output, else_g->output, vi(&b, "else_out", EMBER_DT_FLOAT, 2, d23));

    Onnx__NodeProto *ifn = node(&b, g, "If", "if", "cond", NULL, "B");
    attr(&b, ifn, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = then_g;
    attr(&b, ifn, "else_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = else_g;

    Onnx__NodeProto *lr = node(&b, g, "LeakyRelu", "lrelu", "B", NULL, "L");
    a = attr(&b, lr, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = 0.1f;
    Onnx__NodeProto *tr = node(&b, g, "Transpose", "transpose", "L", NULL, "Z");
    a = attr(&b, tr, "perm", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    PUSH(&b, a->n_ints, a->ints, 1);
    PUSH(&b, a->n_ints, a->ints, 0);

    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    onnx__model_proto__init(&m);
    onnx__operator_set_id_proto__init(&op);
    op.domain = "";
    op.has_version = 1;
    op.version = 13;
    m.has_ir_version = 1;
    m.ir_version = 7;
    m.n_opset_import = 1;
    m.opset_import = ops;
    m.graph = g;
    size_t len = onnx__model_proto__get_packed_size(&m);
    *out = malloc(len);
    ck_assert_ptr_nonnull(*out);
    onnx__model_proto__pack(&m, *out);
    pb_free(&b);
    return len;
}

/* ---- helpers ---- */

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static ember_model *load_mem_ok(const void *buf, size_t len)
{
    ember_model *m = NULL;
    ember_err err = {{0}};
    ck_assert_msg(ember_model_load_mem(buf, len, &m, &err) == 0, "load: %s", err.msg);
    return m;
}

/* The built-in digits model, from its ONNX file. */
static ember_model *load_digits(void)
{
    ember_err err = {{0}};
    ember_model *m = NULL;
    ck_assert_msg(ember_model_load(source_path("models/digits/1/model.onnx"), &m, &err) == 0,
                  "%s", err.msg);
    return m;
}

static unsigned char *compile_mem(const ember_model *m, size_t *len)
{
    void *buf = NULL;
    ember_err err = {{0}};
    ck_assert_msg(ember_model_save_mem(m, &buf, len, &err) == 0, "save: %s", err.msg);
    return buf;
}

/* A fresh file name under a private temporary directory; the caller unlinks it. */
static void temp_path(char *buf, size_t cap, char *dir, size_t dircap, const char *name)
{
    snprintf(dir, dircap, "/tmp/ember-compiled-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void assert_attr_eq(const eg_attr *a, const eg_attr *b);

static void assert_graph_eq(const eg_graph *a, const eg_graph *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->opset, b->opset);
    ck_assert_int_eq(a->nval, b->nval);
    ck_assert_int_eq(a->nnode, b->nnode);
    ck_assert_int_eq(a->nin, b->nin);
    ck_assert_int_eq(a->nout, b->nout);
    ck_assert_int_eq(!a->parent, !b->parent);
    for (int i = 0; i < a->nin; i++)
        ck_assert_int_eq(a->in[i], b->in[i]);
    for (int i = 0; i < a->nout; i++)
        ck_assert_int_eq(a->out[i], b->out[i]);
    for (int i = 0; i < a->nval; i++) {
        const eg_value *x = &a->val[i], *y = &b->val[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_int_eq(x->rank, y->rank);
        for (int d = 0; d < x->rank; d++)
            ck_assert_int_eq(x->dims[d], y->dims[d]);
        ck_assert_int_eq(x->producer, y->producer);
        ck_assert_int_eq(x->last_use, y->last_use);
        ck_assert_int_eq(x->is_output, y->is_output);
        if (x->kind == EG_VAL_OUTER)
            ck_assert_int_eq(x->outer, y->outer);
        if (x->kind == EG_VAL_CONST) {
            int64_t bytes = eg_tensor_bytes(x->dtype, x->rank, x->dims);
            ck_assert_int_eq(memcmp(x->data, y->data, (size_t)bytes), 0);
            ck_assert_int_eq(y->borrowed, 1);
        }
    }
    for (int i = 0; i < a->nnode; i++) {
        const eg_node *x = &a->node[i], *y = &b->node[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_str_eq(x->op, y->op);
        ck_assert_str_eq(x->domain, y->domain);
        ck_assert_ptr_eq(x->impl, y->impl);
        ck_assert_int_eq(x->nin, y->nin);
        ck_assert_int_eq(x->nout, y->nout);
        ck_assert_int_eq(x->nattr, y->nattr);
        for (int j = 0; j < x->nin; j++)
            ck_assert_int_eq(x->in[j], y->in[j]);
        for (int j = 0; j < x->nout; j++)
            ck_assert_int_eq(x->out[j], y->out[j]);
        for (int j = 0; j < x->nattr; j++)
            assert_attr_eq(&x->attr[j], &y->attr[j]);
    }
}

static void assert_attr_eq(const eg_attr *a, const eg_attr *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->kind, b->kind);
    switch (a->kind) {
    case EG_ATTR_FLOAT: ck_assert_int_eq(memcmp(&a->f, &b->f, sizeof a->f), 0); break;
    case EG_ATTR_INT: ck_assert_int_eq(a->i, b->i); break;
    case EG_ATTR_STRING: ck_assert_str_eq(a->s, b->s); break;
    case EG_ATTR_FLOATS:
        ck_assert_int_eq(a->n, b->n);
        ck_assert_int_eq(memcmp(a->floats, b->floats, (size_t)a->n * sizeof *a->floats), 0);
        break;
    case EG_ATTR_INTS:
        ck_assert_int_eq(a->n, b->n);
        for (int i = 0; i < a->n; i++)
            ck_assert_int_eq(a->ints[i], b->ints[i]);
        break;
    case EG_ATTR_STRINGS:
        ck_assert_int_eq(a->n, b->n);
        for (int i = 0; i < a->n; i++)
            ck_assert_str_eq(a->strings[i], b->strings[i]);
        break;
    case EG_ATTR_TENSOR: {
        ck_assert_int_eq(a->t.dtype, b->t.dtype);
        ck_assert_int_eq(a->t.rank, b->t.rank);
        int64_t bytes = eg_tensor_bytes(a->t.dtype, a->t.rank, a->t.dims);
        ck_assert_int_ge(bytes, 0);
        ck_assert_int_eq(memcmp(a->t.data, b->t.data, (size_t)bytes), 0);
        break;
    }
    case EG_ATTR_GRAPH: assert_graph_eq(a->g, b->g); break;
    default: ck_abort_msg("unexpected attribute kind %d", a->kind);
    }
}

/* Runs m on inputs and returns a malloc'd copy of output 0 (*bytes long). */
static void *run_copy(const ember_model *m, const ember_tensor *in, int nin, size_t *bytes)
{
    ember_session *s;
    ember_err err = {{0}};
    ember_tensor out[4];
    ck_assert_int_le(ember_model_noutputs(m), 4);
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    ck_assert_msg(ember_session_run(s, in, nin, out, ember_model_noutputs(m), &err) == 0,
                  "run: %s", err.msg);
    *bytes = (size_t)eg_tensor_bytes(out[0].dtype, out[0].rank, out[0].dims);
    void *copy = malloc(*bytes + 1);
    memcpy(copy, out[0].data, *bytes);
    ember_session_free(s);
    return copy;
}

static void assert_same_outputs(const ember_model *a, const ember_model *b,
                                const ember_tensor *in, int nin)
{
    size_t na, nb;
    void *ya = run_copy(a, in, nin, &na), *yb = run_copy(b, in, nin, &nb);
    ck_assert_int_eq(na, nb);
    ck_assert_msg(memcmp(ya, yb, na) == 0, "outputs differ");
    free(ya);
    free(yb);
}

static void digits_input(ember_tensor *t, float *data, int batch)
{
    uint32_t x = 12345;
    for (int i = 0; i < batch * 64; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (float)(x >> 8) / (float)(1u << 24) * 16.0f;
    }
    *t = (ember_tensor){.dtype = EMBER_DT_FLOAT, .rank = 2, .dims = {batch, 64}, .data = data};
}

/* ---- tests ---- */

START_TEST(digits_round_trip_is_exact)
{
    ember_err err = {{0}};
    ember_model *onnx = NULL, *mem, *file = NULL;
    ck_assert_msg(ember_model_load(source_path("models/digits/1/model.onnx"), &onnx, &err) == 0,
                  "%s", err.msg);
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    mem = load_mem_ok(buf, len);

    char dir[64], path[128];
    temp_path(path, sizeof path, dir, sizeof dir, "digits.ember");
    ck_assert_msg(ember_model_save(onnx, path, &err) == 0, "save: %s", err.msg);
    ck_assert_msg(ember_model_load(path, &file, &err) == 0, "load: %s", err.msg);
    size_t flen;
    unsigned char *fbytes = read_all(path, &flen);
    ck_assert_int_eq(flen, len);
    ck_assert_int_eq(memcmp(fbytes, buf, len), 0); /* the writer is deterministic */

    /* Node counts depend on what the load-time passes fuse; both loads must agree. */
    ember_model_stats st, ost;
    ck_assert_int_eq(ember_model_describe(onnx, &ost), 0);
    ck_assert_int_eq(ost.format, EMBER_FORMAT_ONNX);
    ck_assert_int_eq(ember_model_describe(file, &st), 0);
    ck_assert_int_eq(st.format, EMBER_FORMAT_COMPILED);
    ck_assert_int_eq(st.opset, 13);
    ck_assert_int_eq(st.nodes, ost.nodes);
    ck_assert_int_eq(st.nops, ost.nops);
    ck_assert_int_eq(st.params, 64 * 32 + 32 + 32 * 10 + 10);
    ck_assert_int_eq(st.weight_bytes, 4 * st.params);
    ck_assert_str_eq(st.ops[0].op, "Gemm");
    ck_assert_int_eq(st.ops[0].count, 2);

    assert_graph_eq(onnx->g, mem->g);
    assert_graph_eq(onnx->g, file->g);
    ck_assert_str_eq(ember_model_input(file, 0)->name, ember_model_input(onnx, 0)->name);
    ck_assert_int_eq(ember_model_input(file, 0)->dims[0], -1);

    float data[7 * 64];
    ember_tensor in;
    digits_input(&in, data, 7);
    assert_same_outputs(onnx, mem, &in, 1);
    assert_same_outputs(onnx, file, &in, 1);

    ember_model_free(onnx);
    ember_model_free(mem);
    ember_model_free(file); /* unmaps */
    free(buf);
    free(fbytes);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(constants_are_aligned_and_used_in_place)
{
    ember_err err = {{0}};
    ember_model *onnx = NULL, *file = NULL;
    ck_assert_int_eq(ember_model_load(source_path("models/digits/1/model.onnx"), &onnx, &err), 0);
    char dir[64], path[128];
    temp_path(path, sizeof path, dir, sizeof dir, "digits.ember");
    ck_assert_int_eq(ember_model_save(onnx, path, &err), 0);
    ck_assert_int_eq(ember_model_load(path, &file, &err), 0);
    size_t len;
    unsigned char *bytes = read_all(path, &len);
    uint64_t woff = rd64(bytes + 64), wsize = rd64(bytes + 72);
    ck_assert_int_eq(woff % 64, 0);
    ck_assert_int_eq(woff + wsize, len);

    int nconst = 0;
    for (int i = 0; i < file->g->nval; i++) {
        const eg_value *v = &file->g->val[i];
        if (v->kind != EG_VAL_CONST)
            continue;
        nconst++;
        /* Points into the mapping, at a 64-byte aligned file offset in the weights section,
         * and holds exactly the file's bytes there. */
        const unsigned char *p = v->data, *map = file->map;
        ck_assert(p >= map + woff && p < map + len);
        size_t off = (size_t)(p - map);
        ck_assert_int_eq(off % 64, 0);
        ck_assert_int_eq((uintptr_t)p % 64, 0);
        int64_t n = eg_tensor_bytes(v->dtype, v->rank, v->dims);
        ck_assert_int_eq(memcmp(bytes + off, p, (size_t)n), 0);
    }
    ck_assert_int_eq(nconst, 4);

    /* From memory: one aligned copy of the weights, owned by the model. */
    ember_model *mem = load_mem_ok(bytes, len);
    free(bytes);
    for (int i = 0; i < mem->g->nval; i++)
        if (mem->g->val[i].kind == EG_VAL_CONST) {
            ck_assert_int_eq((uintptr_t)mem->g->val[i].data % 64, 0);
            ck_assert(mem->g->val[i].data >= mem->weights);
        }
    ember_model_free(mem);
    ember_model_free(file);
    ember_model_free(onnx);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* The VmFlags of the mapping holding addr, from /proc/self/smaps ("" when not found). */
static void vm_flags_of(const void *addr, char *flags, size_t cap)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int inside = 0;
    flags[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            snprintf(flags, cap, "%.200s", line + 8);
    }
    fclose(f);
}

/* Whether addr lies in a mapping locked in RAM and left out of core dumps. */
static void assert_locked_undumped(const void *addr, const char *what)
{
    char flags[256];
    vm_flags_of(addr, flags, sizeof flags);
    ck_assert_msg(strstr(flags, " dd"), "%s: VmFlags:%s", what, flags);
#ifndef __SANITIZE_ADDRESS__ /* ASan's mlock interceptor does nothing and returns 0 */
    ck_assert_msg(strstr(flags, " lo"), "%s: VmFlags:%s", what, flags);
#endif
}

/* The nodes whose prepare left packed weights (kdata), at most cap of them. */
static int packed_nodes(const eg_graph *g, const eg_node **out, int cap)
{
    int n = 0;
    for (int i = 0; i < g->nnode && n < cap; i++)
        if (g->node[i].kdata)
            out[n++] = &g->node[i];
    return n;
}

/* ember_model_load_mem_locked: the weights and the kernels' packed copies of them sit in
 * locked pages left out of core dumps, the model answers exactly as the plain load does,
 * and an ONNX buffer is refused. */
START_TEST(locked_weights_are_locked_and_not_dumped)
{
    ember_err err = {{0}};
    ember_model *onnx = load_digits(), *locked = NULL;
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    ck_assert_msg(ember_model_load_mem_locked(buf, len, &locked, &err) == 0, "%s", err.msg);
    ck_assert_int_eq((uintptr_t)locked->weights % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
    assert_locked_undumped(locked->weights, "weights");
    const eg_node *packed[8];
    int npacked = packed_nodes(locked->g, packed, 8);
    /* The digits MLP's two Gemms: packed wherever optimized kernels run. */
    if (eg_cpu_level() != EG_CPU_REF)
        ck_assert_int_eq(npacked, 2);
    /* The packed weights came with the file: they lie in the locked copy of its weights. */
    size_t wsize = (size_t)rd64(buf + 72);
    for (int i = 0; i < npacked; i++) {
        ck_assert(eg_wmem_owns(locked->wmem, packed[i]->kdata));
        ck_assert(packed[i]->kdata_borrowed);
        ck_assert((const unsigned char *)packed[i]->kdata >= (unsigned char *)locked->weights &&
                  (const unsigned char *)packed[i]->kdata < (unsigned char *)locked->weights + wsize);
        assert_locked_undumped(packed[i]->kdata, packed[i]->name);
    }
    ck_assert_uint_ge(eg_wmem_locked_bytes(locked->wmem), wsize);
    ck_assert_uint_eq(ember_model_locked_bytes(locked), eg_wmem_locked_bytes(locked->wmem));

    /* A plain load's weights and packed weights are neither, and nothing is locked for it. */
    char flags[256];
    ember_model *plain = load_mem_ok(buf, len);
    vm_flags_of(plain->weights, flags, sizeof flags);
    ck_assert_msg(!strstr(flags, " dd"), "VmFlags:%s", flags);
    ck_assert_int_eq(packed_nodes(plain->g, packed, 8), npacked);
    for (int i = 0; i < npacked; i++) {
        vm_flags_of(packed[i]->kdata, flags, sizeof flags);
        ck_assert_msg(!strstr(flags, " dd"), "%s: VmFlags:%s", packed[i]->name, flags);
    }
    ck_assert_uint_eq(ember_model_locked_bytes(plain), 0);

    float data[3 * 64];
    ember_tensor in;
    digits_input(&in, data, 3);
    assert_same_outputs(onnx, locked, &in, 1);

    /* The ONNX protobuf is not a compiled model: refused, nothing loaded. */
    size_t olen;
    unsigned char *obytes = read_all(source_path("models/digits/1/model.onnx"), &olen);
    ember_model *none = NULL;
    ck_assert_int_eq(ember_model_load_mem_locked(obytes, olen, &none, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(none);
    ck_assert_ptr_nonnull(strstr(err.msg, "compiled"));

    free(obytes);
    free(buf);
    ember_model_free(plain);
    ember_model_free(locked);
    ember_model_free(onnx);
}
END_TEST

/* Unloading a locked model wipes its weights and every packed copy before the pages go back
 * to the kernel (seen from the munmap wrapper above). */
START_TEST(unload_wipes_locked_weights_and_packed_copies)
{
    ember_err err = {{0}};
    ember_model *onnx = load_digits(), *locked = NULL;
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    ck_assert_msg(ember_model_load_mem_locked(buf, len, &locked, &err) == 0, "%s", err.msg);
    const eg_node *packed[8];
    int npacked = packed_nodes(locked->g, packed, 8);
    nwatch = 0;
    watch[nwatch++] = locked->weights;
    for (int i = 0; i < npacked; i++)
        watch[nwatch++] = packed[i]->kdata;
    memset(watch_seen, 0, sizeof watch_seen);
    memset(watch_dirty, 0, sizeof watch_dirty);
    ember_model_free(locked);
    int n = nwatch;
    nwatch = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(watch_seen[i] == 1, "region %d unmapped %d times", i, watch_seen[i]);
        ck_assert_msg(watch_dirty[i] == 0, "region %d was not wiped before munmap", i);
    }
    free(buf);
    ember_model_free(onnx);
}
END_TEST

#ifndef __SANITIZE_ADDRESS__
/* Over the lock limit, a locked load fails with EMBER_ENOMEM and says how much it needed, the
 * limit, and how to raise it. */
typedef struct locked_load {
    const unsigned char *buf;
    size_t len;
} locked_load;

static int load_locked_step(void *arg, ember_err *err)
{
    const locked_load *l = arg;
    ember_model *m = NULL;
    int rc = ember_model_load_mem_locked(l->buf, l->len, &m, err);
    ember_model_free(m);
    return rc;
}

START_TEST(locked_load_over_the_limit_says_what_it_needs)
{
    ember_model *onnx = load_digits();
    locked_load l;
    unsigned char *buf = compile_mem(onnx, &l.len);
    l.buf = buf;
    int rc;
    char msg[300];
    ck_assert_int_eq(memlock_limited(64 * 1024, load_locked_step, &l, &rc, msg, sizeof msg), 0);
    ck_assert_int_eq(rc, EMBER_ENOMEM);
    char need[128];
    snprintf(need, sizeof need, "cannot lock ~%zu KiB for the model (256 KiB more refused",
             (2 * (size_t)rd64(buf + 72) + 1023) / 1024);
    ck_assert_msg(strstr(msg, need), "%s", msg);
    ck_assert_msg(strstr(msg, "RLIMIT_MEMLOCK is 64 KiB"), "%s", msg);
    ck_assert_msg(strstr(msg, "LimitMEMLOCK="), "%s", msg);
    free(buf);
    ember_model_free(onnx);
}
END_TEST
#endif

/* Whether the page at addr is mapped in this process (/proc/self/pagemap bit 63; mincore
 * would answer for the page cache instead). */
static int page_present(const void *addr)
{
    FILE *f = fopen("/proc/self/pagemap", "rb");
    ck_assert_ptr_nonnull(f);
    uint64_t e = 0;
    long off = (long)((uintptr_t)addr / (uintptr_t)sysconf(_SC_PAGESIZE) * sizeof e);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    ck_assert_int_eq(fread(&e, sizeof e, 1, f), 1);
    fclose(f);
    return (int)(e >> 63);
}

/* The bytes prepare leaves for packed node i of model m (its kernel's kdata format). */
static size_t kdata_bytes(const ember_model *m, const eg_node *n)
{
    const eg_kdata_format *f = eg_kdata_format_of(n->impl);
    ck_assert_ptr_nonnull(f);
    int64_t b = f->bytes(n, m->g);
    ck_assert_int_gt(b, 0);
    return (size_t)b;
}

/* Writes len bytes of buf to path. */
static void write_all(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Both digits models answer the same; then they are freed and the file and its directory
 * removed. */
static void same_outputs_then_free(ember_model *onnx, ember_model *file, const char *path,
                                   const char *dir)
{
    float data[3 * 64];
    ember_tensor in;
    digits_input(&in, data, 3);
    assert_same_outputs(onnx, file, &in, 1);
    ember_model_free(file);
    ember_model_free(onnx);
    unlink(path);
    rmdir(dir);
}

/* A compiled file carries the kernels' packed weights: a mapped load packs nothing, its
 * nodes' kdata point into the file mapping (pages shared with every process mapping the
 * file) and hold exactly what prepare makes from the ONNX model, and it answers the same. */
START_TEST(mapped_model_uses_stored_packed_weights_in_place)
{
    if (eg_cpu_level() == EG_CPU_REF)
        return; /* nothing is packed */
    ember_err err = {{0}};
    ember_model *onnx = load_digits(), *file = NULL;
    char dir[64], path[128];
    temp_path(path, sizeof path, dir, sizeof dir, "digits.ember");
    ck_assert_msg(ember_model_save(onnx, path, &err) == 0, "save: %s", err.msg);
    ck_assert_msg(ember_model_load(path, &file, &err) == 0, "load: %s", err.msg);
    const eg_node *packed[8];
    int npacked = packed_nodes(file->g, packed, 8);
    ck_assert_int_eq(npacked, 2);
    const unsigned char *map = file->map;
    for (int i = 0; i < npacked; i++) {
        const eg_node *n = packed[i], *o = &onnx->g->node[n - file->g->node];
        const unsigned char *p = n->kdata;
        ck_assert(n->kdata_borrowed);
        ck_assert(!o->kdata_borrowed);
        ck_assert(p >= map + rd64(map + 64) && p + kdata_bytes(file, n) <= map + file->map_len);
        ck_assert_int_eq((uintptr_t)p % 64, 0);
        ck_assert_uint_eq(kdata_bytes(file, n), kdata_bytes(onnx, o));
        ck_assert_int_eq(memcmp(p, o->kdata, kdata_bytes(onnx, o)), 0);
    }
    same_outputs_then_free(onnx, file, path, dir);
}
END_TEST

/* Replaces every stored packed-weights format id of the compiled model in buf (a u32 in the
 * tables equal to the id, which no other field of the digits model's tables is) by id ^ flip
 * and fixes the checksum; returns how many it changed. */
static int retag_packed(unsigned char *buf, uint32_t id, uint32_t flip)
{
    uint64_t toff = rd64(buf + 48), tsize = rd64(buf + 56);
    int n = 0;
    for (uint64_t at = toff; at + 4 <= toff + tsize; at += 4)
        if (rd32(buf + at) == id) {
            wr32(buf + at, id ^ flip);
            n++;
        }
    fix_crc(buf);
    return n;
}

/* The digits model compiled to memory (*len bytes, the caller frees), *onnx its ONNX load,
 * and *id the layout id of its two Gemms' packed weights. */
static unsigned char *compile_digits_packed(ember_model **onnx, size_t *len, uint32_t *id)
{
    *onnx = load_digits();
    unsigned char *buf = compile_mem(*onnx, len);
    const eg_node *packed[8];
    ck_assert_int_eq(packed_nodes((*onnx)->g, packed, 8), 2);
    *id = eg_kdata_format_of(packed[0]->impl)->id;
    return buf;
}

/* Packed weights stored for another layout (another build's kernels) are not used: the
 * kernels pack at load, as for an ONNX model, and the mapped originals they packed are given
 * back (not resident twice); reading them again brings back the file's bytes. */
START_TEST(packed_weights_of_another_layout_are_packed_at_load)
{
    if (eg_cpu_level() == EG_CPU_REF)
        return;
    ember_err err = {{0}};
    ember_model *onnx, *file = NULL;
    size_t len;
    uint32_t id;
    unsigned char *buf = compile_digits_packed(&onnx, &len, &id);
    ck_assert_int_eq(retag_packed(buf, id, 0x8000u), 2); /* the two Gemms */
    char dir[64], path[128];
    temp_path(path, sizeof path, dir, sizeof dir, "digits.ember");
    write_all(path, buf, len);
    free(buf);
    ck_assert_msg(ember_model_load(path, &file, &err) == 0, "load: %s", err.msg);
    const eg_node *packed[8];
    int npacked = packed_nodes(file->g, packed, 8);
    ck_assert_int_eq(npacked, 2);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int dropped = 0;
    for (int i = 0; i < npacked; i++) {
        const eg_node *n = packed[i], *o = &onnx->g->node[n - file->g->node];
        ck_assert(!n->kdata_borrowed);
        ck_assert_int_eq(memcmp(n->kdata, o->kdata, kdata_bytes(onnx, o)), 0);
        const eg_value *w = &file->g->val[n->in[1]];
        uintptr_t lo = ((uintptr_t)w->data + page - 1) / page * page;
        uintptr_t hi =
            ((uintptr_t)w->data + (uintptr_t)eg_tensor_bytes(w->dtype, w->rank, w->dims)) / page *
            page;
        for (uintptr_t a = lo; a < hi; a += page) {
            ck_assert_msg(!page_present((const void *)a), "%s: a packed original is resident",
                          n->name);
            dropped++;
        }
        const eg_value *ow = &onnx->g->val[eg_graph_find(onnx->g, w->name)];
        ck_assert_int_eq(
            memcmp(w->data, ow->data, (size_t)eg_tensor_bytes(w->dtype, w->rank, w->dims)), 0);
    }
    ck_assert_int_ge(dropped, 1); /* the 64x32 Gemm's 8 KiB hold at least one whole page */
    same_outputs_then_free(onnx, file, path, dir);
}
END_TEST

/* Stored packed weights of the right layout but not the size the kernel reads are corrupt
 * (the kernels would read past them): refused, never used. */
START_TEST(packed_weights_of_the_wrong_size_are_refused)
{
    if (eg_cpu_level() == EG_CPU_REF)
        return;
    ember_err err = {{0}};
    ember_model *onnx, *m = NULL;
    size_t len;
    uint32_t id;
    unsigned char *buf = compile_digits_packed(&onnx, &len, &id);
    uint64_t toff = rd64(buf + 48), tsize = rd64(buf + 56);
    unsigned char *rec = NULL;
    for (uint64_t at = toff; !rec && at + 4 <= toff + tsize; at += 4)
        if (rd32(buf + at) == id)
            rec = buf + at; /* format, reserved, offset, size */
    ck_assert_ptr_nonnull(rec);
    uint64_t size = rd64(rec + 16);
    wr32(rec + 16, (uint32_t)size - 64);
    fix_crc(buf);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, "corrupt compiled model") && strstr(err.msg, "bytes of packed"),
                  "%s", err.msg);
    /* Pointing past the weights section is refused even when the layout is not this one. */
    wr32(rec + 16, (uint32_t)size);
    wr32(rec + 8, (uint32_t)rd64(buf + 72));
    retag_packed(buf, id, 0x8000u);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "outside the"), "%s", err.msg);
    free(buf);
    ember_model_free(onnx);
}
END_TEST

/* ember_model_save_mem_compact (what emberctl seal wraps): the same model without packed
 * weights, smaller by them; a locked load of it packs at load into locked memory and answers
 * exactly as the full file does. */
START_TEST(compact_save_packs_at_load_and_answers_the_same)
{
    ember_err err = {{0}};
    ember_model *onnx = load_digits(), *full = NULL, *compact = NULL;
    size_t flen, clen;
    unsigned char *fbuf = compile_mem(onnx, &flen);
    void *cbuf = NULL;
    ck_assert_msg(ember_model_save_mem_compact(onnx, &cbuf, &clen, &err) == 0, "%s", err.msg);
    /* The full file holds each pack the best kernel makes (64-byte aligned), whatever this
     * machine runs. */
    size_t packs = 0, npacks = 0;
    for (int i = 0; i < onnx->g->nnode; i++) {
        const eg_node *n = &onnx->g->node[i];
        const eg_kdata_format *f = eg_kdata_format_best(n->domain, n->op);
        if (f && f->bytes(n, onnx->g) > 0) {
            packs += (size_t)f->bytes(n, onnx->g);
            npacks++;
        }
    }
    ck_assert_uint_eq(npacks, 2);
    ck_assert_uint_ge(flen - clen, packs);
    ck_assert_uint_lt(flen - clen, packs + 64 * npacks);
    const eg_node *packed[8];
    int npacked = packed_nodes(onnx->g, packed, 8);
    ck_assert_msg(ember_model_load_mem(fbuf, flen, &full, &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_model_load_mem_locked(cbuf, clen, &compact, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(packed_nodes(compact->g, packed, 8), npacked);
    for (int i = 0; i < npacked; i++) {
        const eg_node *n = packed[i], *f = &full->g->node[n - compact->g->node];
        ck_assert(!n->kdata_borrowed && f->kdata_borrowed);
        ck_assert(eg_wmem_owns(compact->wmem, n->kdata));
        ck_assert_int_eq(memcmp(n->kdata, f->kdata, kdata_bytes(full, f)), 0);
    }
    float data[3 * 64];
    ember_tensor in;
    digits_input(&in, data, 3);
    assert_same_outputs(full, compact, &in, 1);
    free(fbuf);
    free(cbuf);
    ember_model_free(compact);
    ember_model_free(full);
    ember_model_free(onnx);
}
END_TEST

/* A file of an older format version (before the packed weights) is refused with a message
 * that says to compile it again. */
START_TEST(older_version_says_compile_again)
{
    ember_model *onnx = load_digits(), *m = NULL;
    ember_err err = {{0}};
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    wr32(buf + 8, EG_COMPILED_VERSION - 1);
    fix_crc(buf);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, "version 1 is older") && strstr(err.msg, "emberctl compile"),
                  "%s", err.msg);
    free(buf);
    ember_model_free(onnx);
}
END_TEST

/* ember_model_load_unprepared (emberctl compile): nothing is packed, the compiled bytes are
 * the same as from a full load, and a session made from it still answers the same. */
START_TEST(unprepared_load_packs_nothing_and_saves_the_same)
{
    ember_err err = {{0}};
    ember_model *full = NULL, *bare = NULL;
    const char *onnx = source_path("models/digits/1/model.onnx");
    ck_assert_int_eq(ember_model_load(onnx, &full, &err), 0);
    ck_assert_msg(ember_model_load_unprepared(onnx, &bare, &err) == 0, "%s", err.msg);
    const eg_node *packed[8];
    ck_assert_int_eq(packed_nodes(bare->g, packed, 8), 0);
    size_t flen, blen;
    unsigned char *fbuf = compile_mem(full, &flen), *bbuf = compile_mem(bare, &blen);
    ck_assert_uint_eq(flen, blen);
    ck_assert_int_eq(memcmp(fbuf, bbuf, flen), 0);
    float data[3 * 64];
    ember_tensor in;
    digits_input(&in, data, 3);
    assert_same_outputs(full, bare, &in, 1);
    free(fbuf);
    free(bbuf);
    ember_model_free(bare);
    ember_model_free(full);
}
END_TEST

START_TEST(every_attribute_kind_and_if_round_trip)
{
    uint8_t *onnx_buf;
    size_t onnx_len = build_if_model(&onnx_buf);
    ember_model *onnx = load_mem_ok(onnx_buf, onnx_len);
    free(onnx_buf);
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    ember_model *comp = load_mem_ok(buf, len);
    ck_assert_int_eq(rd32(buf + 80), 5); /* main, then, else, inner then, inner else */
    assert_graph_eq(onnx->g, comp->g);

    static const float c[] = {1, -2, 3, -4, 5, -6}, k[] = {0.5f, 0.25f, -1, 2, 3, -0.125f};
    float x[6] = {0.25f, 1, -7, 2.5f, -1, 8};
    for (int branch = 0; branch < 2; branch++) {
        uint8_t cond = (uint8_t)branch;
        ember_tensor in[2] = {
            {.dtype = EMBER_DT_FLOAT, .rank = 2, .dims = {2, 3}, .data = x},
            {.dtype = EMBER_DT_BOOL, .rank = 0, .data = &cond},
        };
        assert_same_outputs(onnx, comp, in, 2);
        size_t n;
        float *z = run_copy(comp, in, 2, &n);
        ck_assert_int_eq(n, 6 * sizeof(float));
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                float a = x[i * 3 + j] + c[i * 3 + j];
                float b = branch ? a * k[i * 3 + j] : a - 3.5f;
                float want = b < 0 ? b * 0.1f : b;
                ck_assert_float_eq_tol(z[j * 2 + i], want, 1e-6f);
            }
        free(z);
    }

    ember_model_stats st, ost;
    ck_assert_int_eq(ember_model_describe(comp, &st), 0);
    ck_assert_int_eq(ember_model_describe(onnx, &ost), 0);
    ck_assert_int_eq(st.nodes, ost.nodes);
    ck_assert_int_ge(st.nodes, 7); /* the Ifs, their four branches' nodes, Transpose */
    ck_assert_int_eq(st.params, 6 + 1 + 2 + 6); /* C, E, the Add's table, K */

    ember_model_free(comp);
    ember_model_free(onnx);
    free(buf);
}
END_TEST

START_TEST(every_truncation_is_a_format_error)
{
    ember_err err = {{0}};
    ember_model *onnx = NULL;
    ck_assert_int_eq(ember_model_load(source_path("models/digits/1/model.onnx"), &onnx, &err), 0);
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    for (size_t n = 0; n < len; n++) {
        ember_model *m = NULL;
        err.msg[0] = '\0';
        int rc = ember_model_load_mem(buf, n, &m, &err);
        ck_assert_msg(rc == EMBER_EFORMAT, "length %zu: rc %d (%s)", n, rc, err.msg);
        ck_assert_ptr_null(m);
        ck_assert_msg(err.msg[0], "length %zu: no message", n);
    }
    /* And through a mapped file, for a few lengths. */
    char dir[64], path[128];
    temp_path(path, sizeof path, dir, sizeof dir, "cut.ember");
    size_t cuts[] = {1, 8, 50, 96, 200, len / 2, len - 64, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(buf, 1, cuts[i], f);
        fclose(f);
        ember_model *m = NULL;
        int rc = ember_model_load(path, &m, &err);
        ck_assert_msg(rc == EMBER_EFORMAT, "cut %zu: rc %d (%s)", cuts[i], rc, err.msg);
        ck_assert_ptr_null(m);
    }
    ember_model *m = NULL;
    ember_model_load(path, &m, &err);
    ck_assert_msg(strstr(err.msg, "cut.ember") != NULL, "message names the file: %s", err.msg);
    unlink(path);
    rmdir(dir);
    ember_model_free(onnx);
    free(buf);
}
END_TEST

START_TEST(flipped_bytes_in_header_and_tables_are_caught)
{
    uint8_t *onnx_buf;
    size_t onnx_len = build_if_model(&onnx_buf);
    ember_model *onnx = load_mem_ok(onnx_buf, onnx_len);
    free(onnx_buf);
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    uint64_t woff = rd64(buf + 64);
    for (size_t i = 0; i < woff; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (unsigned char)(1u << bit);
            ember_model *m = NULL;
            ember_err err = {{0}};
            int rc = ember_model_load_mem(buf, len, &m, &err);
            ck_assert_msg(rc < 0, "flipping bit %d of byte %zu went unnoticed", bit, i);
            ck_assert_ptr_null(m);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    ember_model *m = load_mem_ok(buf, len); /* restored */
    ember_model_free(m);
    ember_model_free(onnx);
    free(buf);
}
END_TEST

/* The checksum only catches accidents; structural checks must hold against any table bytes. */
START_TEST(corrupt_tables_with_a_valid_checksum_never_crash)
{
    uint8_t *onnx_buf;
    size_t onnx_len = build_if_model(&onnx_buf);
    ember_model *onnx = load_mem_ok(onnx_buf, onnx_len);
    free(onnx_buf);
    size_t len;
    unsigned char *orig = compile_mem(onnx, &len);
    unsigned char *buf = malloc(len);
    uint64_t toff = rd64(orig + 32), woff = rd64(orig + 64);
    uint32_t x = 2463534242u;
    int loaded = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, orig, len);
        int nflip = 1 + iter % 4;
        for (int f = 0; f < nflip; f++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t at = (size_t)(toff + x % (woff - toff));
            /* Mostly small values and all-ones, the ones that slip past range checks. */
            static const unsigned char vals[] = {0, 1, 2, 0x7f, 0x80, 0xff};
            buf[at] = (iter & 1) ? vals[(x >> 8) % 6] : (unsigned char)(x >> 16);
        }
        fix_crc(buf);
        ember_model *m = NULL;
        ember_err err = {{0}};
        int rc = ember_model_load_mem(buf, len, &m, &err);
        if (rc == 0) {
            loaded++;
            ember_model_free(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_msg(err.msg[0], "error %d without a message", rc);
        }
    }
    ck_assert_int_lt(loaded, 3000);

    /* Absurd counts are refused before anything is allocated for them. */
    memcpy(buf, orig, len);
    wr32(buf + 80, 0xffffffffu);
    fix_crc(buf);
    ember_model *m = NULL;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    memcpy(buf, orig, len);
    wr32(buf + rd64(orig + 48) + 12, 0x7fffffffu); /* graph 0's value count */
    fix_crc(buf);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "corrupt compiled model") != NULL, "%s", err.msg);

    ember_model_free(onnx);
    free(orig);
    free(buf);
}
END_TEST

START_TEST(unknown_operator_and_newer_version_are_named)
{
    ember_err err = {{0}};
    ember_model *onnx = NULL;
    ck_assert_int_eq(ember_model_load(source_path("models/digits/1/model.onnx"), &onnx, &err), 0);
    size_t len;
    unsigned char *buf = compile_mem(onnx, &len);
    uint64_t soff = rd64(buf + 32), ssize = rd64(buf + 40);
    unsigned char *op = memmem(buf + soff, ssize, "Softmax", 8);
    ck_assert_ptr_nonnull(op);
    op[6] = 'y';
    fix_crc(buf);
    ember_model *m = NULL;
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "unsupported operator 'Softmay'") &&
                      strstr(err.msg, "opset 13"),
                  "%s", err.msg);
    op[6] = 'x';
    wr32(buf + 8, EG_COMPILED_VERSION + 1);
    fix_crc(buf);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "version 2") != NULL, "%s", err.msg);
    ck_assert_ptr_null(m);
    ember_model_free(onnx);
    free(buf);
}
END_TEST

START_TEST(crc32_matches_zlib)
{
    ck_assert_uint_eq(eg_crc32(0, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(eg_crc32(eg_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}
END_TEST

START_TEST(session_counts_macs_only_when_asked)
{
    ember_err err = {{0}};
    ember_model *m = NULL;
    ck_assert_int_eq(ember_model_load(source_path("models/digits/1/model.onnx"), &m, &err), 0);
    ember_session *s;
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    float data[3 * 64];
    ember_tensor in, out;
    digits_input(&in, data, 3);
    ck_assert_int_eq(ember_session_run(s, &in, 1, &out, 1, &err), 0);
    ck_assert_int_eq(ember_session_macs(s), 0);
    ember_session_count_macs(s, 1);
    ck_assert_int_eq(ember_session_run(s, &in, 1, &out, 1, &err), 0);
    ck_assert_int_eq(ember_session_macs(s), 3 * (64 * 32 + 32 * 10));
    ck_assert_int_eq(ember_session_run(s, &in, 1, &out, 1, &err), 0); /* not accumulated */
    ck_assert_int_eq(ember_session_macs(s), 3 * (64 * 32 + 32 * 10));
    ck_assert_uint_gt(ember_session_arena_bytes(s), 0);
    ember_session_free(s);
    ember_model_free(m);
}
END_TEST

static Suite *compiled_suite(void)
{
    Suite *s = suite_create("compiled");
    TCase *r = tcase_create("round trip");
    tcase_set_timeout(r, 60);
    tcase_add_test(r, digits_round_trip_is_exact);
    tcase_add_test(r, unprepared_load_packs_nothing_and_saves_the_same);
    tcase_add_test(r, constants_are_aligned_and_used_in_place);
    tcase_add_test(r, every_attribute_kind_and_if_round_trip);
    tcase_add_test(r, session_counts_macs_only_when_asked);
    tcase_add_test(r, crc32_matches_zlib);
    suite_add_tcase(s, r);
    /* qemu-user accepts MADV_DONTDUMP but ignores it, so make check-arm64 leaves this out. */
    TCase *native = tcase_create("round trip (native)");
    tcase_set_tags(native, "needs-native");
    tcase_add_test(native, locked_weights_are_locked_and_not_dumped);
    tcase_add_test(native, unload_wipes_locked_weights_and_packed_copies);
    tcase_add_test(native, mapped_model_uses_stored_packed_weights_in_place);
    tcase_add_test(native, packed_weights_of_another_layout_are_packed_at_load);
    tcase_add_test(native, compact_save_packs_at_load_and_answers_the_same);
#ifndef __SANITIZE_ADDRESS__ /* ASan's mlock interceptor does nothing and returns 0 */
    tcase_add_test(native, locked_load_over_the_limit_says_what_it_needs);
#endif
    suite_add_tcase(s, native);
    TCase *c = tcase_create("corruption");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, every_truncation_is_a_format_error);
    tcase_add_test(c, flipped_bytes_in_header_and_tables_are_caught);
    tcase_add_test(c, corrupt_tables_with_a_valid_checksum_never_crash);
    tcase_add_test(c, unknown_operator_and_newer_version_are_named);
    tcase_add_test(c, older_version_says_compile_again);
    tcase_add_test(c, packed_weights_of_the_wrong_size_are_refused);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(compiled_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
