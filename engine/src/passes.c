/*
 * Graph passes run once after a model is imported, before any session exists.
 *
 * In order: Identity (and inference-mode Dropout) nodes are bypassed; nodes whose inputs are
 * all constants are run once and replaced by their results; a channel shuffle (Concat,
 * Reshape, Transpose) becomes one ember.ConcatShuffle; Relu, Clip, LeakyRelu, HardSigmoid,
 * Sigmoid and HardSwish that are the only reader of a Conv or Gemm are folded into it as an
 * epilogue, and so is HardSwish written out as x * HardSigmoid(x) (attributes
 * "ember.activation", "ember.alpha", "ember.beta", so a compiled model carries them); and
 * nodes nothing reads are removed. Each pass leaves a valid graph, re-linked, so any subset
 * is safe. Subgraphs (If branches) get the same passes after the graph around them, reading
 * its constants as their own.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "op.h"
#include "passes.h"

static int node_has_subgraph(const eg_node *n)
{
    for (int j = 0; j < n->nattr; j++)
        if (n->attr[j].g)
            return 1;
    return 0;
}

/* Whether a subgraph of node n reads value v of the enclosing graph. Deeper subgraphs reach
 * outer values through their parent's OUTER values, so the direct children tell. */
static int subgraph_reads(const eg_node *n, int v)
{
    for (int j = 0; j < n->nattr; j++) {
        const eg_graph *sub = n->attr[j].g;
        for (int i = 0; sub && i < sub->nval; i++)
            if (sub->val[i].kind == EG_VAL_OUTER && sub->val[i].outer == v)
                return 1;
    }
    return 0;
}

/* Makes everything that reads `from` read `to` instead, including subgraph references. */
static void replace_uses(eg_graph *g, int from, int to)
{
    for (int i = 0; i < g->nnode; i++) {
        eg_node *n = &g->node[i];
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == from)
                n->in[j] = to;
        for (int j = 0; j < n->nattr; j++) {
            eg_graph *sub = n->attr[j].g;
            for (int v = 0; sub && v < sub->nval; v++)
                if (sub->val[v].kind == EG_VAL_OUTER && sub->val[v].outer == from)
                    sub->val[v].outer = to;
        }
    }
}

static int is_output(const eg_graph *g, int v)
{
    for (int i = 0; i < g->nout; i++)
        if (g->out[i] == v)
            return 1;
    return 0;
}

/* Removes the nodes marked in drop, keeping order. */
static void remove_nodes(eg_graph *g, const unsigned char *drop)
{
    int w = 0;
    for (int i = 0; i < g->nnode; i++) {
        if (drop[i]) {
            eg_node_free(&g->node[i]);
        } else {
            g->node[w++] = g->node[i];
        }
    }
    g->nnode = w;
}

static int bypass_identities(eg_graph *g, unsigned char *drop)
{
    int changed = 0;
    for (int i = 0; i < g->nnode; i++) {
        eg_node *n = &g->node[i];
        int identity = strcmp(n->op, "Identity") == 0;
        /* Dropout is the identity at inference unless training_mode is given (it could be
         * true) or the mask output is read. */
        int dropout = strcmp(n->op, "Dropout") == 0 && n->nin <= 2 &&
                      !(n->nout > 1 && n->out[1] >= 0);
        if (n->domain[0] || !(identity || dropout) || n->nin < 1 || n->in[0] < 0 || n->nout < 1)
            continue;
        int out = n->out[0];
        if (out < 0 || is_output(g, out))
            continue;
        replace_uses(g, out, n->in[0]);
        drop[i] = 1;
        changed = 1;
    }
    return changed;
}

/* Marks nodes whose every input is a constant (or the result of a node marked before). */
static int mark_foldable(const eg_graph *g, unsigned char *fold)
{
    unsigned char *known = calloc((size_t)g->nval + 1, 1);
    int any = 0;
    if (!known)
        return 0;
    for (int v = 0; v < g->nval; v++)
        known[v] = g->val[v].kind == EG_VAL_CONST;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        if (node_has_subgraph(n) || n->domain[0] || strcmp(n->op, "Dropout") == 0)
            continue;
        int ok = 1;
        for (int j = 0; j < n->nin && ok; j++)
            ok = n->in[j] < 0 || known[n->in[j]];
        if (!ok)
            continue;
        fold[i] = 1;
        any = 1;
        for (int j = 0; j < n->nout; j++)
            if (n->out[j] >= 0)
                known[n->out[j]] = 1;
    }
    free(known);
    return any;
}

static const char *const fusable_acts[] = {"Relu",    "Clip",     "LeakyRelu", "HardSigmoid",
                                           "Sigmoid", "HardSwish"};

static int add_attr(eg_node *n, const char *name, int kind, float f, const char *s)
{
    eg_attr *a = realloc(n->attr, (size_t)(n->nattr + 1) * sizeof *a);
    if (!a)
        return EMBER_ENOMEM;
    n->attr = a;
    a = &n->attr[n->nattr];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->kind = kind;
    a->f = f;
    a->s = s ? strdup(s) : NULL;
    if (!a->name || (s && !a->s))
        return EMBER_ENOMEM;
    n->nattr++;
    return 0;
}

/* Reads a scalar float constant input, for Clip's bounds. */
static int const_scalar(const eg_graph *g, const eg_node *n, int j, float *v)
{
    if (j >= n->nin || n->in[j] < 0)
        return 1; /* absent: keep the default */
    const eg_value *c = &g->val[n->in[j]];
    if (c->kind != EG_VAL_CONST || c->dtype != EMBER_DT_FLOAT)
        return 0;
    for (int d = 0; d < c->rank; d++)
        if (c->dims[d] != 1)
            return 0;
    *v = *(const float *)c->data;
    return 1;
}

/* Who reads each value: node inputs counted one each (a subgraph's read counts as two, so such
 * a value is never taken for a single reader) and the first two nodes that read it. Built in
 * one sweep, so the fusions stay linear in the graph's size. */
typedef struct readers {
    int count;
    int node[2];
} readers;

static readers *find_readers(const eg_graph *g)
{
    readers *r = calloc((size_t)g->nval + 1, sizeof *r);
    if (!r)
        return NULL;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        for (int j = 0; j < n->nin; j++) {
            int v = n->in[j];
            if (v < 0)
                continue;
            if (r[v].count < 2)
                r[v].node[r[v].count] = i;
            r[v].count++;
        }
        for (int j = 0; j < n->nattr; j++) {
            const eg_graph *sub = n->attr[j].g;
            for (int v = 0; sub && v < sub->nval; v++)
                if (sub->val[v].kind == EG_VAL_OUTER)
                    r[sub->val[v].outer].count += 2;
        }
    }
    return r;
}

static int is_op(const eg_node *n, const char *op)
{
    return !n->domain[0] && strcmp(n->op, op) == 0;
}

/* The activation node a fuses into its producer as kind (its alpha and beta), or NULL. */
static const char *fusable_act(const eg_graph *g, const eg_node *a, float *alpha, float *beta)
{
    const char *kind = NULL;
    for (size_t k = 0; k < sizeof fusable_acts / sizeof fusable_acts[0]; k++)
        if (is_op(a, fusable_acts[k]))
            kind = fusable_acts[k];
    if (!kind || a->nout != 1 || a->out[0] < 0)
        return NULL;
    const eg_attr *at;
    *alpha = *beta = 0;
    if (strcmp(kind, "Clip") == 0) {
        *alpha = -3.402823466e+38f;
        *beta = 3.402823466e+38f;
        if ((at = eg_node_attr(a, "min")))
            *alpha = at->f;
        if ((at = eg_node_attr(a, "max")))
            *beta = at->f;
        if (!const_scalar(g, a, 1, alpha) || !const_scalar(g, a, 2, beta))
            return NULL;
    } else if (strcmp(kind, "LeakyRelu") == 0) {
        *alpha = (at = eg_node_attr(a, "alpha")) ? at->f : 0.01f;
    } else if (strcmp(kind, "HardSigmoid") == 0) {
        *alpha = (at = eg_node_attr(a, "alpha")) ? at->f : 0.2f;
        *beta = (at = eg_node_attr(a, "beta")) ? at->f : 0.5f;
    } else if (strcmp(kind, "HardSwish") == 0) {
        *alpha = 1.0f / 6;
        *beta = 0.5f;
    }
    return kind;
}

/* HardSwish written out as y * HardSigmoid(y): y's two readers are a HardSigmoid h whose only
 * reader is a Mul m of y and h's output. Returns m's index (and h's) or -1. */
static int hardswish_pair(const eg_graph *g, const readers *r, int y, int *hs)
{
    if (r[y].count != 2 || r[y].node[0] == r[y].node[1])
        return -1;
    for (int t = 0; t < 2; t++) {
        const eg_node *h = &g->node[r[y].node[t]], *m = &g->node[r[y].node[1 - t]];
        if (!is_op(h, "HardSigmoid") || h->nin != 1 || h->nout != 1 || h->out[0] < 0 ||
            !is_op(m, "Mul") || m->nin != 2 || m->nout != 1 || m->out[0] < 0)
            continue;
        int g0 = h->out[0];
        if (r[g0].count != 1 || is_output(g, g0) ||
            !((m->in[0] == y && m->in[1] == g0) || (m->in[0] == g0 && m->in[1] == y)))
            continue;
        *hs = r[y].node[t];
        return r[y].node[1 - t];
    }
    return -1;
}

/* Folds an activation that is the only reader of a Conv or Gemm output into it, and so
 * HardSigmoid-then-Mul (HardSwish spelled out, as PyTorch exports it) as one HardSwish. */
static int fuse_activations(eg_graph *g, unsigned char *drop)
{
    readers *r = find_readers(g);
    if (!r)
        return EMBER_ENOMEM;
    int changed = 0, rc = 0;
    for (int i = 0; i < g->nnode; i++) {
        eg_node *p = &g->node[i];
        if ((!is_op(p, "Conv") && !is_op(p, "Gemm")) || p->nout != 1 || p->out[0] < 0 ||
            eg_node_attr(p, "ember.activation") || is_output(g, p->out[0]))
            continue;
        int y = p->out[0], last = -1, hs = -1;
        float alpha, beta;
        const char *kind = NULL;
        if (r[y].count == 1 && !drop[r[y].node[0]] && g->node[r[y].node[0]].in[0] == y &&
            (kind = fusable_act(g, &g->node[r[y].node[0]], &alpha, &beta))) {
            last = r[y].node[0];
        } else if ((last = hardswish_pair(g, r, y, &hs)) >= 0 && !drop[last] && !drop[hs]) {
            kind = "HardSwish";
            fusable_act(g, &g->node[hs], &alpha, &beta);
            drop[hs] = 1;
        } else {
            continue;
        }
        if (add_attr(p, "ember.activation", EG_ATTR_STRING, 0, kind) ||
            add_attr(p, "ember.alpha", EG_ATTR_FLOAT, alpha, NULL) ||
            add_attr(p, "ember.beta", EG_ATTR_FLOAT, beta, NULL)) {
            rc = EMBER_ENOMEM;
            break;
        }
        /* The producer now writes the last fused node's output directly. */
        eg_node *a = &g->node[last];
        p->out[0] = a->out[0];
        a->out[0] = y;
        drop[last] = 1;
        changed = 1;
    }
    free(r);
    return rc ? rc : changed;
}

/* The positive entries of a constant int64 vector v of length n, or 0. */
static int const_dims(const eg_graph *g, int v, int64_t *out, int n)
{
    const eg_value *c = v >= 0 ? &g->val[v] : NULL;
    if (!c || c->kind != EG_VAL_CONST || c->dtype != EMBER_DT_INT64 || c->rank != 1 ||
        c->dims[0] != n)
        return 0;
    memcpy(out, c->data, (size_t)n * sizeof *out);
    for (int i = 0; i < n; i++)
        if (out[i] <= 0)
            return 0;
    return 1;
}

/* Replaces node t's operator, inputs and attributes with ember.ConcatShuffle's. */
static int make_concat_shuffle(eg_node *t, const eg_node *cat, const int64_t *shape, int r)
{
    const eg_attr *ax = eg_node_attr(cat, "axis");
    char *op = strdup("ConcatShuffle"), *domain = strdup("ember");
    int *in = malloc((size_t)cat->nin * sizeof *in);
    eg_attr *at = calloc(2, sizeof *at);
    int64_t *ints = malloc((size_t)r * sizeof *ints);
    char *n0 = strdup("axis"), *n1 = strdup("shape");
    if (!op || !domain || !in || !at || !ints || !n0 || !n1) {
        free(op), free(domain), free(in), free(at), free(ints), free(n0), free(n1);
        return EMBER_ENOMEM;
    }
    memcpy(in, cat->in, (size_t)cat->nin * sizeof *in);
    memcpy(ints, shape, (size_t)r * sizeof *ints);
    at[0] = (eg_attr){.name = n0, .kind = EG_ATTR_INT, .i = ax->i};
    at[1] = (eg_attr){.name = n1, .kind = EG_ATTR_INTS, .n = r, .ints = ints};
    for (int j = 0; j < t->nattr; j++)
        eg_attr_free(&t->attr[j]);
    free(t->attr);
    free(t->op);
    free(t->domain);
    free(t->in);
    t->op = op;
    t->domain = domain;
    t->in = in;
    t->nin = cat->nin;
    t->attr = at;
    t->nattr = 2;
    t->impl = eg_op_find(domain, op);
    return 0;
}

/* A channel shuffle as exported from PyTorch (ShuffleNet): Concat, Reshape to the constant
 * [n, g, c, s...], Transpose (0, 2, 1, 3...), each the only reader of the one before, becomes
 * one ember.ConcatShuffle that writes the shuffled channels straight from the Concat's inputs:
 * one copy where there were two (the Reshapes around it are views). */
static int fuse_channel_shuffles(eg_graph *g, unsigned char *drop)
{
    readers *r = find_readers(g);
    if (!r)
        return EMBER_ENOMEM;
    int changed = 0, rc = 0;
    for (int i = 0; i < g->nnode && rc == 0; i++) {
        eg_node *t = &g->node[i];
        const eg_attr *perm = eg_node_attr(t, "perm");
        if (!is_op(t, "Transpose") || t->nin != 1 || t->in[0] < 0 || !perm ||
            perm->kind != EG_ATTR_INTS || perm->n < 3 || perm->n > EMBER_MAX_RANK)
            continue;
        int rank = perm->n, ok = perm->ints[0] == 0 && perm->ints[1] == 2 && perm->ints[2] == 1;
        for (int d = 3; d < rank; d++)
            ok &= perm->ints[d] == d;
        int rv = t->in[0], p1 = g->val[rv].kind == EG_VAL_NODE ? g->val[rv].producer : -1;
        if (!ok || p1 < 0 || drop[p1] || r[rv].count != 1 || is_output(g, rv))
            continue;
        const eg_node *re = &g->node[p1];
        int64_t shape[EMBER_MAX_RANK];
        if (!is_op(re, "Reshape") || re->nin != 2 || re->in[0] < 0 ||
            !const_dims(g, re->in[1], shape, rank))
            continue;
        int cv = re->in[0], p0 = g->val[cv].kind == EG_VAL_NODE ? g->val[cv].producer : -1;
        if (p0 < 0 || drop[p0] || r[cv].count != 1 || is_output(g, cv))
            continue;
        const eg_node *cat = &g->node[p0];
        const eg_attr *ax = eg_node_attr(cat, "axis");
        if (!is_op(cat, "Concat") || cat->nin < 1 || cat->nin > 64 || !ax ||
            ax->kind != EG_ATTR_INT)
            continue;
        int missing = 0;
        for (int j = 0; j < cat->nin; j++)
            missing |= cat->in[j] < 0;
        if (missing)
            continue;
        rc = make_concat_shuffle(t, cat, shape, rank);
        drop[p0] = drop[p1] = 1;
        changed = 1;
    }
    free(r);
    return rc ? rc : changed;
}

static void mark_dead(const eg_graph *g, unsigned char *drop)
{
    unsigned char *needed = calloc((size_t)g->nval + 1, 1);
    if (!needed)
        return;
    for (int i = 0; i < g->nout; i++)
        needed[g->out[i]] = 1;
    for (int i = g->nnode - 1; i >= 0; i--) {
        const eg_node *n = &g->node[i];
        int live = 0;
        for (int j = 0; j < n->nout; j++)
            if (n->out[j] >= 0 && needed[n->out[j]])
                live = 1;
        if (!live || drop[i]) {
            drop[i] = 1;
            continue;
        }
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] >= 0)
                needed[n->in[j]] = 1;
        /* Values read inside this node's subgraphs stay too. */
        for (int v = 0; v < g->nval; v++)
            if (!needed[v] && subgraph_reads(n, v))
                needed[v] = 1;
    }
    free(needed);
}

static int optimize_one(eg_graph *g, ember_err *err);

/* While a subgraph is optimized, its references to constants of the graph around it read as
 * constants of its own (borrowing the data), so the passes fold through them; marks which. */
static void import_outer_constants(const eg_graph *g, eg_graph *sub, unsigned char *imported)
{
    for (int i = 0; i < sub->nval; i++) {
        eg_value *v = &sub->val[i];
        const eg_value *o = v->kind == EG_VAL_OUTER ? &g->val[v->outer] : NULL;
        if (!o || o->kind != EG_VAL_CONST)
            continue;
        v->kind = EG_VAL_CONST;
        v->dtype = o->dtype;
        v->rank = o->rank;
        memcpy(v->dims, o->dims, sizeof v->dims);
        v->data = o->data;
        imported[i] = 1;
    }
}

/* ...and afterwards are references again, so the weights stay stored once. */
static void unimport_outer_constants(eg_graph *sub, const unsigned char *imported, int n)
{
    for (int i = 0; i < n; i++)
        if (imported[i]) {
            sub->val[i].kind = EG_VAL_OUTER;
            sub->val[i].data = NULL;
        }
}

/* The passes below, then the same on every subgraph (If branches), outermost first so a
 * branch sees what folded around it: its constants then fold once here instead of on every
 * run. */
int eg_optimize(eg_graph *g, ember_err *err)
{
    int rc = optimize_one(g, err), subs = 0;
    for (int i = 0; i < g->nnode && rc == 0; i++)
        for (int j = 0; j < g->node[i].nattr && rc == 0; j++) {
            eg_graph *sub = g->node[i].attr[j].g;
            if (!sub)
                continue;
            int nval = sub->nval;
            unsigned char *imported = calloc((size_t)nval + 1, 1);
            if (!imported)
                return ember_err_set(err, EMBER_ENOMEM, "out of memory");
            import_outer_constants(g, sub, imported);
            rc = eg_optimize(sub, err);
            unimport_outer_constants(sub, imported, nval);
            free(imported);
            subs = 1;
        }
    /* Branches may read fewer outer values now; that shortens lifetimes here. */
    return rc == 0 && subs ? eg_graph_link(g, err) : rc;
}

static int optimize_one(eg_graph *g, ember_err *err)
{
    unsigned char *drop = calloc((size_t)g->nnode + 1, 1);
    if (!drop)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = 0;
    if (bypass_identities(g, drop)) {
        remove_nodes(g, drop);
        if ((rc = eg_graph_link(g, err)))
            goto out;
    }
    memset(drop, 0, (size_t)g->nnode + 1);
    if (mark_foldable(g, drop)) {
        if ((rc = eg_fold_nodes(g, drop, err)))
            goto out;
        remove_nodes(g, drop);
        if ((rc = eg_graph_link(g, err)))
            goto out;
    }
    memset(drop, 0, (size_t)g->nnode + 1);
    if ((rc = fuse_channel_shuffles(g, drop)) < 0)
        goto out;
    if (rc) {
        remove_nodes(g, drop);
        if ((rc = eg_graph_link(g, err)))
            goto out;
    }
    memset(drop, 0, (size_t)g->nnode + 1);
    rc = fuse_activations(g, drop);
    if (rc < 0)
        goto out;
    mark_dead(g, drop);
    remove_nodes(g, drop);
    rc = eg_graph_link(g, err);
out:
    free(drop);
    return rc;
}
