/*
 * The operator registry: one table per kernel family, searched by (domain, op type).
 *
 * Lookups happen once per node at load time. Optimized kernels will register ahead of the
 * reference ones (chosen by CPU feature) so the first match wins.
 */
#include <string.h>

#include "op.h"

#define FAMILY(name) extern const eg_op eg_ops_##name[];
#include "families.h"
#undef FAMILY

static const eg_op *const families[] = {
#define FAMILY(name) eg_ops_##name,
#include "families.h"
#undef FAMILY
};

const eg_op *eg_op_find(const char *domain, const char *name)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const eg_op *op = families[f]; op->name; op++)
            if (strcmp(op->name, name) == 0 && strcmp(op->domain, domain) == 0)
                return op;
    return NULL;
}
