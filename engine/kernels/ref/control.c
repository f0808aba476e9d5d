/*
 * Reference kernels: control flow (If).
 *
 * If runs one of its two branch subgraphs through eg_subgraph_run, which gives the branch a
 * frame of its own that can read the enclosing graph's values, then copies the branch's
 * outputs into the node's outputs. The branches may produce different shapes; each run's
 * outputs take the shapes of the branch that ran.
 */
#include "kutil.h"

/* Branch outputs are held on the stack: eg_scratch is shared with the nodes the branch runs. */
#define IF_MAX_OUTPUTS 64

static int if_run(eg_kctx *k)
{
    const ember_tensor *cond = eg_in(k, 0);
    if (!cond || cond->dtype != EMBER_DT_BOOL || ember_tensor_count(cond) != 1)
        return eg_fail(k, EMBER_ESHAPE, "cond must be a bool tensor with one element");
    int take_then = *(const uint8_t *)cond->data != 0;
    const char *which = take_then ? "then_branch" : "else_branch";
    const eg_graph *g = eg_attr_graph(k, which);
    if (!g)
        return eg_fail(k, EMBER_EINVAL, "graph attribute %s is missing", which);
    int nout = eg_nout(k);
    if (g->nin != 0)
        return eg_fail(k, EMBER_EINVAL, "%s must take no inputs, it takes %d", which, g->nin);
    if (g->nout != nout)
        return eg_fail(k, EMBER_EINVAL, "%s has %d outputs, the node %d", which, g->nout, nout);
    if (nout > IF_MAX_OUTPUTS)
        return eg_fail(k, EMBER_EUNSUPPORTED, "more than %d outputs", IF_MAX_OUTPUTS);
    ember_tensor outs[IF_MAX_OUTPUTS];
    int rc = eg_subgraph_run(k, g, NULL, outs);
    if (rc)
        return rc;
    for (int i = 0; i < nout; i++) {
        if (!eg_out_wanted(k, i))
            continue;
        const ember_tensor *t = &outs[i];
        size_t es = ember_dtype_size(t->dtype);
        int64_t n = ember_tensor_count(t);
        if (es == 0 || n < 0)
            return eg_fail(k, EMBER_EUNSUPPORTED, "%s output %d has an unsupported type", which, i);
        void *y = eg_out(k, i, t->dtype, t->rank, t->dims);
        if (!y)
            return EMBER_ENOMEM;
        if (n > 0)
            memcpy(y, t->data, (size_t)n * es);
    }
    return 0;
}

const eg_op eg_ops_control[] = {
    {"If", "", if_run},
    {NULL, NULL, NULL},
};
