/*
 * The operator registry: one table per kernel family, searched by (domain, op type).
 *
 * Lookups happen once per node at load time. Optimized tables (x86: AVX-512, then AVX2;
 * arm64: NEON) are searched before the reference families, each only when eg_cpu_level()
 * allows its level, so the first match is the fastest kernel this machine can run. An
 * optimized kernel hands the cases it does not cover back to the reference one
 * (eg_run_reference).
 */
#include <string.h>

#include "cpu.h"
#include "op.h"
#include "passes.h"

#define FAMILY(name) extern const eg_op eg_ops_##name[];
#include "families.h"
#undef FAMILY

static const eg_op *const families[] = {
#define FAMILY(name) eg_ops_##name,
#include "families.h"
#undef FAMILY
};

/* Optimized tables, fastest level first, NULL-terminated (empty on other architectures). */
#if defined(EMBER_X86_KERNELS)
extern const eg_fast_op eg_ops_x86_avx512[];
extern const eg_fast_op eg_ops_x86_avx2[];
#endif
#if defined(EMBER_ARM_KERNELS)
extern const eg_fast_op eg_ops_arm_neon[];
#endif
#if defined(EMBER_X86_KERNELS) || defined(EMBER_ARM_KERNELS)
extern const eg_kdata_format eg_kdata_formats[]; /* kernels/x86/pack.c */
#else
static const eg_kdata_format eg_kdata_formats[] = {{NULL, 0, NULL, NULL}};
#endif
static const eg_fast_op *const fast_families[] = {
#if defined(EMBER_X86_KERNELS)
    eg_ops_x86_avx512,
    eg_ops_x86_avx2,
#endif
#if defined(EMBER_ARM_KERNELS)
    eg_ops_arm_neon,
#endif
    NULL,
};

static const eg_op *find_in(const eg_op *table, const char *domain, const char *name)
{
    for (const eg_op *op = table; op->name; op++)
        if (strcmp(op->name, name) == 0 && strcmp(op->domain, domain) == 0)
            return op;
    return NULL;
}

static const eg_fast_op *find_fast(const eg_fast_op *table, const char *domain, const char *name)
{
    for (const eg_fast_op *f = table; f->op.name; f++)
        if (strcmp(f->op.name, name) == 0 && strcmp(f->op.domain, domain) == 0)
            return f;
    return NULL;
}

const eg_op *eg_op_find_level(const char *domain, const char *name, int level)
{
    const eg_op *op;
    const eg_fast_op *fast;
    for (size_t f = 0; fast_families[f]; f++)
        if (fast_families[f][0].level <= level &&
            (fast = find_fast(fast_families[f], domain, name)))
            return &fast->op;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        if ((op = find_in(families[f], domain, name)))
            return op;
    return NULL;
}

const eg_op *eg_op_find(const char *domain, const char *name)
{
    return eg_op_find_level(domain, name, eg_cpu_level());
}

const eg_fast_op *eg_op_fast(const eg_op *op)
{
    for (size_t f = 0; fast_families[f]; f++)
        for (const eg_fast_op *e = fast_families[f]; e->op.name; e++)
            if (&e->op == op)
                return e;
    return NULL;
}

int eg_op_fuses_act(const eg_op *op)
{
    const eg_fast_op *f = eg_op_fast(op);
    return f && f->fuses_act;
}

const eg_kdata_format *eg_kdata_format_of(const eg_op *op)
{
    const eg_fast_op *f = op ? eg_op_fast(op) : NULL;
    for (const eg_kdata_format *k = eg_kdata_formats; f && f->prepare && k->prepare; k++)
        if (k->prepare == f->prepare)
            return k;
    return NULL;
}

const eg_kdata_format *eg_kdata_format_best(const char *domain, const char *name)
{
    return eg_kdata_format_of(eg_op_find_level(domain, name, EG_CPU_COUNT));
}

int eg_run_reference(eg_kctx *k)
{
    const eg_node *n = eg_node_of(k);
    const eg_op *ref = eg_op_find_level(n->domain, n->op, EG_CPU_REF);
    if (!ref)
        return eg_fail(k, EMBER_EUNSUPPORTED, "no reference kernel");
    int rc = ref->run(k);
    if (rc || !n->act)
        return rc;
    ember_err e = {{0}};
    rc = eg_apply_activation(n, eg_out_tensor(k, 0), &e);
    return rc ? eg_fail(k, rc, "%s", e.msg) : 0;
}

int eg_graph_prepare(eg_graph *g, ember_err *err)
{
    for (int i = 0; i < g->nnode; i++) {
        eg_node *n = &g->node[i];
        for (int j = 0; j < n->nattr; j++)
            if (n->attr[j].g) {
                int rc = eg_graph_prepare(n->attr[j].g, err);
                if (rc)
                    return rc;
            }
        const eg_fast_op *f = n->impl ? eg_op_fast(n->impl) : NULL;
        if (f && f->prepare && !n->kdata) {
            int rc = f->prepare(n, g, err);
            if (rc)
                return rc;
            eg_graph_release_packed(g, n); /* now, so the two copies never pile up */
        }
    }
    return 0;
}
