/*
 * Building, querying and freeing the IR graph (see graph.h).
 *
 * Values are looked up by name with a linear scan: graphs are built once at load time and
 * nothing on the run path looks anything up by name.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "graph.h"
#include "wmem.h"

size_t ember_dtype_size(ember_dtype dt)
{
    switch (dt) {
    case EMBER_DT_FLOAT: return 4;
    case EMBER_DT_UINT8: return 1;
    case EMBER_DT_INT8: return 1;
    case EMBER_DT_INT32: return 4;
    case EMBER_DT_INT64: return 8;
    case EMBER_DT_BOOL: return 1;
    default: return 0;
    }
}

const char *ember_dtype_name(ember_dtype dt)
{
    switch (dt) {
    case EMBER_DT_FLOAT: return "float32";
    case EMBER_DT_UINT8: return "uint8";
    case EMBER_DT_INT8: return "int8";
    case EMBER_DT_INT32: return "int32";
    case EMBER_DT_INT64: return "int64";
    case EMBER_DT_BOOL: return "bool";
    default: return "undefined";
    }
}

int64_t ember_tensor_count(const ember_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return -1;
        if (t->dims[i] && n > INT64_MAX / t->dims[i])
            return -1;
        n *= t->dims[i];
    }
    return n;
}

int64_t eg_tensor_bytes(ember_dtype dt, int rank, const int64_t *dims)
{
    ember_tensor t = {.dtype = dt, .rank = rank};
    if (rank < 0 || rank > EMBER_MAX_RANK)
        return -1;
    memcpy(t.dims, dims, (size_t)rank * sizeof *dims);
    int64_t n = ember_tensor_count(&t);
    int64_t es = (int64_t)ember_dtype_size(dt);
    if (n < 0 || es == 0 || n > INT64_MAX / es)
        return -1;
    return n * es;
}

eg_graph *eg_graph_new(eg_graph *parent, int opset)
{
    eg_graph *g = calloc(1, sizeof *g);
    if (g) {
        g->parent = parent;
        g->opset = opset;
    }
    return g;
}

void eg_attr_free(eg_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    for (int i = 0; a->strings && i < a->n; i++)
        free(a->strings[i]);
    free(a->strings);
    free(a->t.data);
    eg_graph_free(a->g);
}

void eg_node_free(eg_node *n)
{
    free(n->name);
    free(n->op);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int j = 0; j < n->nattr; j++)
        eg_attr_free(&n->attr[j]);
    free(n->attr);
    if (!n->kdata_borrowed)
        free(n->kdata);
}

/* What a node holds in its model's locked memory goes with that memory, not with free. */
static void node_disown(eg_node *n, const eg_wmem *w)
{
    if (n->kdata_borrowed || eg_wmem_owns(w, n->kdata))
        n->kdata = NULL;
    for (int j = 0; j < n->nattr; j++)
        if (eg_wmem_owns(w, n->attr[j].t.data))
            n->attr[j].t.data = NULL;
}

void eg_graph_free(eg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnode; i++) {
        node_disown(&g->node[i], g->wmem);
        eg_node_free(&g->node[i]);
    }
    for (int i = 0; i < g->nval; i++) {
        free(g->val[i].name);
        if (!g->val[i].borrowed)
            free(g->val[i].data);
    }
    free(g->node);
    free(g->val);
    free(g->in);
    free(g->out);
    free(g->name);
    free(g);
}

void eg_graph_release_packed(const eg_graph *g, const eg_node *n)
{
    if (!g->consts_in_file || g->parent || !n->kdata || n->nin < 2 || n->in[1] < 0)
        return;
    int v = n->in[1], readers = 0;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *r = &g->node[i];
        for (int j = 0; j < r->nattr; j++)
            if (r->attr[j].g)
                return; /* subgraphs read outer values too: keep it simple, keep them all */
        for (int j = 0; j < r->nin; j++)
            readers += r->in[j] == v;
    }
    const eg_value *c = &g->val[v];
    if (readers != 1 || c->kind != EG_VAL_CONST || !c->borrowed)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)c->data;
    uintptr_t hi = lo + (uintptr_t)eg_tensor_bytes(c->dtype, c->rank, c->dims);
    lo = (lo + page - 1) / page * page; /* whole pages only: neighbours may share the ends */
    hi = hi / page * page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int eg_graph_find(const eg_graph *g, const char *name)
{
    for (int i = 0; i < g->nval; i++)
        if (strcmp(g->val[i].name, name) == 0)
            return i;
    return -1;
}

int eg_graph_add_value(eg_graph *g, const char *name)
{
    if (g->nval == g->capval) {
        int cap = g->capval ? g->capval * 2 : 16;
        eg_value *v = realloc(g->val, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        g->val = v;
        g->capval = cap;
    }
    eg_value *v = &g->val[g->nval];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name)
        return -1;
    v->rank = -1;
    v->outer = -1;
    v->producer = -1;
    v->last_use = -1;
    v->view_of = -1;
    v->part_of = -1;
    return g->nval++;
}

const eg_attr *eg_node_attr(const eg_node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

/* Marks, in g, every value that subgraph sub (at any depth) reads from g, as used by node. */
static void mark_outer_uses(eg_graph *g, const eg_graph *sub, int node)
{
    for (int i = 0; i < sub->nval; i++) {
        const eg_value *v = &sub->val[i];
        if (v->kind != EG_VAL_OUTER)
            continue;
        /* Walk up to g: a reference from a nested subgraph chains through each level. */
        const eg_graph *level = sub;
        int idx = i;
        while (level->parent && level->parent != g && level->val[idx].kind == EG_VAL_OUTER) {
            idx = level->val[idx].outer;
            level = level->parent;
        }
        if (level->parent == g && level->val[idx].kind == EG_VAL_OUTER) {
            eg_value *ov = &g->val[level->val[idx].outer];
            if (ov->last_use < node)
                ov->last_use = node;
        }
    }
    for (int i = 0; i < sub->nnode; i++)
        for (int j = 0; j < sub->node[i].nattr; j++)
            if (sub->node[i].attr[j].g)
                mark_outer_uses(g, sub->node[i].attr[j].g, node);
}

/* Reads the fused-activation attributes the optimizer leaves on a node into its fields. */
static void link_activation(eg_node *n)
{
    static const char *const names[] = {NULL, "Relu", "Clip", "LeakyRelu", "HardSigmoid",
                                        "Sigmoid", "HardSwish"};
    const eg_attr *a = eg_node_attr(n, "ember.activation");
    n->act = 0;
    for (int k = 1; a && a->s && k < (int)(sizeof names / sizeof names[0]); k++)
        if (strcmp(a->s, names[k]) == 0)
            n->act = k;
    a = eg_node_attr(n, "ember.alpha");
    n->act_alpha = a ? a->f : 0;
    a = eg_node_attr(n, "ember.beta");
    n->act_beta = a ? a->f : 0;
}

/* Reshape-like nodes only relabel their input's dims, and a Slice of one contiguous run
 * (channels of one image) only moves the start, so their output may share the input's memory
 * (eg_out_view): then the input must stay live as long as the view. Walking backwards, a
 * chain of views extends every link's lifetime to the last reader of the last view. */
static void link_views(eg_graph *g)
{
    static const char *const views[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Slice"};
    for (int i = 0; i < g->nval; i++)
        g->val[i].view_of = -1;
    for (int i = g->nnode - 1; i >= 0; i--) {
        const eg_node *n = &g->node[i];
        int is_view = 0;
        for (size_t k = 0; k < sizeof views / sizeof views[0]; k++)
            is_view |= !n->domain[0] && strcmp(n->op, views[k]) == 0;
        if (!is_view || n->nin < 1 || n->in[0] < 0 || n->nout < 1 || n->out[0] < 0 ||
            g->val[n->out[0]].is_output)
            continue;
        eg_value *w = &g->val[n->out[0]], *src = &g->val[n->in[0]];
        w->view_of = n->in[0];
        if (src->kind == EG_VAL_NODE && w->last_use > src->last_use)
            src->last_use = w->last_use;
    }
}

/* Marks the inputs of each Concat that only it reads (once), produced by a node that is no
 * Concat and no view: a session may have their producers write straight into the Concat's
 * output (session.c, make_plan). */
static void link_concat_parts(eg_graph *g)
{
    int *reads = calloc((size_t)g->nval + 1, sizeof *reads);
    for (int i = 0; i < g->nval; i++)
        g->val[i].part_of = -1;
    if (!reads)
        return; /* no placement: always correct */
    for (int i = 0; i < g->nnode; i++)
        for (int j = 0; j < g->node[i].nin; j++)
            if (g->node[i].in[j] >= 0)
                reads[g->node[i].in[j]]++;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *c = &g->node[i];
        if (c->domain[0] || strcmp(c->op, "Concat") != 0 || c->nout < 1 || c->out[0] < 0)
            continue;
        for (int j = 0; j < c->nin; j++) {
            int v = c->in[j];
            eg_value *val = v >= 0 ? &g->val[v] : NULL;
            if (!val || val->kind != EG_VAL_NODE || reads[v] != 1 || val->last_use != i ||
                val->is_output || val->view_of >= 0 || val->producer < 0)
                continue;
            const eg_node *p = &g->node[val->producer];
            if (!p->domain[0] && strcmp(p->op, "Concat") == 0)
                continue;
            val->part_of = c->out[0];
        }
    }
    free(reads);
}

int eg_graph_link(eg_graph *g, ember_err *err)
{
    for (int i = 0; i < g->nval; i++) {
        g->val[i].producer = -1;
        g->val[i].last_use = -1;
        g->val[i].is_output = 0;
    }
    for (int i = 0; i < g->nnode; i++) {
        eg_node *n = &g->node[i];
        link_activation(n);
        for (int j = 0; j < n->nin; j++) {
            int v = n->in[j];
            if (v < 0)
                continue;
            eg_value *val = &g->val[v];
            if (val->kind == EG_VAL_NODE && (val->producer < 0 || val->producer >= i))
                return ember_err_set(err, EMBER_EFORMAT,
                                     "node '%s' (%s) reads '%s' before any node produces it",
                                     n->name, n->op, val->name);
            val->last_use = i;
        }
        for (int j = 0; j < n->nout; j++) {
            int v = n->out[j];
            if (v < 0)
                continue;
            if (g->val[v].kind != EG_VAL_NODE || g->val[v].producer >= 0)
                return ember_err_set(err, EMBER_EFORMAT, "value '%s' is produced twice",
                                     g->val[v].name);
            g->val[v].producer = i;
        }
        for (int j = 0; j < n->nattr; j++)
            if (n->attr[j].g)
                mark_outer_uses(g, n->attr[j].g, i);
    }
    for (int i = 0; i < g->nout; i++) {
        eg_value *v = &g->val[g->out[i]];
        if (v->kind == EG_VAL_NODE && v->producer < 0)
            return ember_err_set(err, EMBER_EFORMAT, "graph output '%s' is never produced",
                                 v->name);
        v->is_output = 1;
    }
    link_views(g);
    link_concat_parts(g);
    return 0;
}
