/*
 * The public model API: load a file or buffer, describe inputs and outputs.
 *
 * The format is recognised by content, not by file name, so a renamed file still loads and
 * a file that is not a model fails with a message that says what was expected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MODEL_MAX_FILE_BYTES ((size_t)1 << 31)

static void io_from_value(ember_io_info *io, const eg_value *v)
{
    io->name = v->name;
    io->dtype = v->dtype;
    io->rank = v->rank < 0 ? 0 : v->rank;
    memcpy(io->dims, v->dims, sizeof io->dims);
}

int ember_model_load_mem(const void *buf, size_t len, ember_model **out, ember_err *err)
{
    if (!buf || len == 0)
        return ember_err_set(err, EMBER_EFORMAT, "empty model");
    ember_model *m = calloc(1, sizeof *m);
    if (!m)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = eg_onnx_import(buf, len, &m->g, err);
    if (rc) {
        free(m);
        return rc;
    }
    const eg_graph *g = m->g;
    m->inputs = calloc((size_t)g->nin + 1, sizeof *m->inputs);
    m->outputs = calloc((size_t)g->nout + 1, sizeof *m->outputs);
    if (!m->inputs || !m->outputs) {
        ember_model_free(m);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    }
    for (int i = 0; i < g->nin; i++)
        io_from_value(&m->inputs[i], &g->val[g->in[i]]);
    for (int i = 0; i < g->nout; i++)
        io_from_value(&m->outputs[i], &g->val[g->out[i]]);
    *out = m;
    return 0;
}

int ember_model_load(const char *path, ember_model **out, ember_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ember_err_set(err, errno == ENOENT ? EMBER_ENOTFOUND : EMBER_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    unsigned char *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = ember_err_set(err, EMBER_EIO, "cannot read %s: %s", path, strerror(errno));
    } else if ((size_t)len > MODEL_MAX_FILE_BYTES) {
        rc = ember_err_set(err, EMBER_ENOMEM, "%s is larger than 2 GiB", path);
    } else if (!(buf = malloc((size_t)len + 1))) {
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory reading %s", path);
    } else if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        rc = ember_err_set(err, EMBER_EIO, "cannot read %s", path);
    }
    fclose(f);
    if (rc == 0) {
        rc = ember_model_load_mem(buf, (size_t)len, out, err);
        if (rc && err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            ember_err_set(err, rc, "%s: %s", path, msg);
        }
    }
    free(buf);
    return rc;
}

void ember_model_free(ember_model *m)
{
    if (!m)
        return;
    eg_graph_free(m->g);
    free(m->inputs);
    free(m->outputs);
    free(m);
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
