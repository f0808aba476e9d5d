/*
 * The public model API: load a file or buffer, describe inputs and outputs.
 *
 * The format (ONNX protobuf or compiled .ember) is recognised by content, not by file name,
 * so a renamed file still loads and a file that is not a model fails with a message that says
 * what was expected. Files are mapped rather than read: a compiled model keeps its mapping
 * and runs on the weights in it. Also a summary of what a model holds (describe).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiled.h"
#include "passes.h"
#include "model.h"
#include "op.h"
#include "wmem.h"

#define MODEL_MAX_FILE_BYTES ((size_t)1 << 31)

static void io_from_value(ember_io_info *io, const eg_value *v)
{
    io->name = v->name;
    io->dtype = v->dtype;
    io->rank = v->rank < 0 ? 0 : v->rank;
    memcpy(io->dims, v->dims, sizeof io->dims);
}

/* How a model is loaded (bits). */
enum {
    LOAD_LOCKED = 1,     /* ember_model_load_mem_locked */
    LOAD_UNPREPARED = 2, /* ember_model_load_unprepared: no kernel prepare (weight packing) */
};

/* The kernels' preparation unless the load skips it, then the input and output
 * descriptions, once m->g is loaded. */
static int model_finish(ember_model *m, int how, ember_err *err)
{
    const eg_graph *g = m->g;
    int rc = how & LOAD_UNPREPARED ? 0 : eg_graph_prepare(m->g, err);
    if (rc == EMBER_ENOMEM && eg_wmem_explain(m->wmem, err))
        return EMBER_ENOMEM; /* a kernel's packed weights did not fit the lock limit */
    if (rc)
        return rc;
    m->inputs = calloc((size_t)g->nin + 1, sizeof *m->inputs);
    m->outputs = calloc((size_t)g->nout + 1, sizeof *m->outputs);
    if (!m->inputs || !m->outputs)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    for (int i = 0; i < g->nin; i++)
        io_from_value(&m->inputs[i], &g->val[g->in[i]]);
    for (int i = 0; i < g->nout; i++)
        io_from_value(&m->outputs[i], &g->val[g->out[i]]);
    return 0;
}

/* Imports and optimizes an ONNX model (compiled models were optimized before they were
 * written). unmap: buf is a file mapping to give back once parsed, so that it is not resident
 * while the kernels pack their weights. */
static int model_from_onnx(ember_model *m, const void *buf, size_t len, int unmap, ember_err *err)
{
    m->format = EMBER_FORMAT_ONNX;
    /* The weights are at most the file; what protobuf-c adds around them is small. */
    m->wmem = eg_wmem_new_arena(len + ((size_t)1 << 20));
    int rc = m->wmem ? eg_onnx_import(buf, len, m->wmem, &m->g, err)
                     : ember_err_set(err, EMBER_ENOMEM, "out of memory");
    if (unmap)
        munmap((void *)buf, len);
    return rc ? rc : eg_optimize(m->g, err);
}

static int model_load_mem(const void *buf, size_t len, int how, ember_model **out,
                          ember_err *err)
{
    int locked = how & LOAD_LOCKED;
    if (!buf || len == 0)
        return ember_err_set(err, EMBER_EFORMAT, "empty model");
    if (locked && !eg_compiled_is(buf, len))
        return ember_err_set(err, EMBER_EFORMAT, "only a compiled .ember model loads locked");
    ember_model *m = calloc(1, sizeof *m);
    if (!m)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc;
    if (eg_compiled_is(buf, len)) {
        /* The weights are copied once, to an aligned block constants then point into. */
        uint64_t woff, wsize;
        m->format = EMBER_FORMAT_COMPILED;
        rc = eg_compiled_check(buf, len, &woff, &wsize, err);
        if (rc == 0) {
            /* Secret weights, and all that is later derived from them, in locked memory; a
             * plain load's in an arena (huge pages). A sealed model is compact (emberctl
             * seal): the kernels' packed copies, about as much again, are made at load. */
            if (!(m->wmem = locked ? eg_wmem_new(2 * (size_t)wsize)
                                   : eg_wmem_new_arena((size_t)wsize)))
                rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
            else if (!(m->weights = eg_wmem_alloc(m->wmem, wsize)))
                rc = eg_wmem_explain(m->wmem, err);
        }
        if (rc == 0) {
            memcpy(m->weights, (const unsigned char *)buf + woff, wsize);
            rc = eg_compiled_load(buf, len, m->weights, m->wmem, &m->g, err);
        }
    } else {
        rc = model_from_onnx(m, buf, len, 0, err);
    }
    if (rc == 0)
        rc = model_finish(m, how, err);
    if (rc) {
        ember_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int ember_model_load_mem(const void *buf, size_t len, ember_model **out, ember_err *err)
{
    return model_load_mem(buf, len, 0, out, err);
}

int ember_model_load_mem_locked(const void *buf, size_t len, ember_model **out, ember_err *err)
{
    return model_load_mem(buf, len, LOAD_LOCKED, out, err);
}

/* A compiled file stays mapped and its constants are used in place; an ONNX file is
 * imported (which keeps what it needs) and unmapped. */
static int load_mapped(void *map, size_t len, int how, ember_model **out, ember_err *err)
{
    ember_model *m = calloc(1, sizeof *m);
    if (!m) {
        munmap(map, len);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    }
    int rc;
    if (!eg_compiled_is(map, len)) {
#ifdef MADV_POPULATE_READ
        /* protobuf-c reads all of it: map every page in one call, not one fault per 64 KiB. */
        madvise(map, len, MADV_POPULATE_READ);
#endif
        rc = model_from_onnx(m, map, len, 1, err);
    } else {
        m->format = EMBER_FORMAT_COMPILED;
        m->map = map;
        m->map_len = len;
        uint64_t woff, wsize;
        rc = eg_compiled_check(map, len, &woff, &wsize, err);
        if (rc == 0)
            rc = eg_compiled_load(map, len, (const unsigned char *)map + woff, NULL, &m->g, err);
        if (rc == 0)
            m->g->consts_in_file = 1;
    }
    if (rc == 0)
        rc = model_finish(m, how, err);
    if (rc) {
        ember_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int load_file(const char *path, int how, ember_model **out, ember_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    void *map = MAP_FAILED;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = ember_err_set(err, EMBER_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = ember_err_set(err, EMBER_EIO, "%s is not a regular file", path);
    else if (st.st_size == 0)
        rc = ember_err_set(err, EMBER_EFORMAT, "%s: empty model", path);
    else if ((uint64_t)st.st_size > MODEL_MAX_FILE_BYTES)
        rc = ember_err_set(err, EMBER_ENOMEM, "%s is larger than 2 GiB", path);
    else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        rc = ember_err_set(err, EMBER_EIO, "cannot map %s: %s", path, strerror(errno));
    close(fd);
    if (rc)
        return rc;
    rc = load_mapped(map, (size_t)st.st_size, how, out, err);
    if (rc && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        ember_err_set(err, rc, "%s: %s", path, msg);
    }
    return rc;
}

int ember_model_load(const char *path, ember_model **out, ember_err *err)
{
    return load_file(path, 0, out, err);
}

int ember_model_load_unprepared(const char *path, ember_model **out, ember_err *err)
{
    return load_file(path, LOAD_UNPREPARED, out, err);
}

void ember_model_free(ember_model *m)
{
    if (!m)
        return;
    eg_graph_free(m->g);
    if (m->map)
        munmap(m->map, m->map_len);
    eg_wmem_free(m->wmem); /* the weights with the rest (locked: wiped, unlocked), unmapped */
    free(m->inputs);
    free(m->outputs);
    free(m);
}

size_t ember_model_locked_bytes(const ember_model *m)
{
    return eg_wmem_locked_bytes(m->wmem);
}

/* ---- describe ---- */

static int graph_nodes(const eg_graph *g)
{
    int n = g->nnode;
    for (int i = 0; i < g->nnode; i++)
        for (int j = 0; j < g->node[i].nattr; j++)
            if (g->node[i].attr[j].g)
                n += graph_nodes(g->node[i].attr[j].g);
    return n;
}

static void add_tensor(ember_model_stats *st, ember_dtype dt, int rank, const int64_t *dims)
{
    int64_t bytes = eg_tensor_bytes(dt, rank, dims);
    if (bytes > 0) {
        st->params += bytes / (int64_t)ember_dtype_size(dt);
        st->weight_bytes += bytes;
    }
}

static void describe_graph(const eg_graph *g, ember_model_stats *st, ember_op_count *ops)
{
    for (int i = 0; i < g->nval; i++)
        if (g->val[i].kind == EG_VAL_CONST)
            add_tensor(st, g->val[i].dtype, g->val[i].rank, g->val[i].dims);
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        int k = 0;
        while (k < st->nops && (strcmp(ops[k].op, n->op) || strcmp(ops[k].domain, n->domain)))
            k++;
        if (k == st->nops)
            ops[st->nops++] = (ember_op_count){.domain = n->domain, .op = n->op};
        ops[k].count++;
        st->nodes++;
        for (int j = 0; j < n->nattr; j++) {
            const eg_attr *a = &n->attr[j];
            if (a->kind == EG_ATTR_TENSOR)
                add_tensor(st, a->t.dtype, a->t.rank, a->t.dims);
            if (a->g)
                describe_graph(a->g, st, ops);
        }
    }
}

static int by_count(const void *pa, const void *pb)
{
    const ember_op_count *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int c = strcmp(a->op, b->op);
    return c ? c : strcmp(a->domain, b->domain);
}

int ember_model_describe(const ember_model *m, ember_model_stats *out)
{
    memset(out, 0, sizeof *out);
    ember_op_count *ops = calloc((size_t)graph_nodes(m->g) + 1, sizeof *ops);
    if (!ops)
        return EMBER_ENOMEM;
    out->format = m->format;
    out->opset = m->g->opset;
    describe_graph(m->g, out, ops);
    qsort(ops, (size_t)out->nops, sizeof *ops, by_count);
    int keep = out->nops < EMBER_STATS_MAX_OPS ? out->nops : EMBER_STATS_MAX_OPS;
    memcpy(out->ops, ops, (size_t)keep * sizeof *ops);
    free(ops);
    return 0;
}

int ember_model_ninputs(const ember_model *m)
{
    return m->g->nin;
}

int ember_model_noutputs(const ember_model *m)
{
    return m->g->nout;
}

const ember_io_info *ember_model_input(const ember_model *m, int i)
{
    return i >= 0 && i < m->g->nin ? &m->inputs[i] : NULL;
}

const ember_io_info *ember_model_output(const ember_model *m, int i)
{
    return i >= 0 && i < m->g->nout ? &m->outputs[i] : NULL;
}

int ember_model_input_index(const ember_model *m, const char *name)
{
    for (int i = 0; i < m->g->nin; i++)
        if (strcmp(m->inputs[i].name, name) == 0)
            return i;
    return -1;
}

int ember_model_output_index(const ember_model *m, const char *name)
{
    for (int i = 0; i < m->g->nout; i++)
        if (strcmp(m->outputs[i].name, name) == 0)
            return i;
    return -1;
}
