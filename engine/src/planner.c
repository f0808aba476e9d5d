/*
 * Greedy by size, first fit by offset: the largest buffers are placed first, each at the
 * lowest offset where it overlaps no already placed buffer whose lifetime intersects its own.
 * This is the classic heuristic for offline interval packing; within a few percent of the
 * lower bound (the peak of live bytes at any step) on convolutional networks.
 */
#include <stdlib.h>

#include "planner.h"

static int by_size_desc(const void *a, const void *b)
{
    const eg_plan_item *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->start - y->start;
}

static int by_offset(const void *a, const void *b)
{
    const eg_plan_item *x = *(eg_plan_item *const *)a, *y = *(eg_plan_item *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

int64_t eg_plan_offsets(eg_plan_item *items, int n)
{
    if (n <= 0)
        return 0;
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    eg_plan_item **live = malloc((size_t)n * sizeof *live);
    int64_t total = 0;
    if (!live) {
        /* No memory to plan with: lay everything end to end, which is always valid. */
        for (int i = 0; i < n; i++) {
            items[i].offset = total;
            total += items[i].size;
        }
        return total;
    }
    for (int i = 0; i < n; i++) {
        int nl = 0;
        for (int j = 0; j < i; j++)
            if (items[j].start <= items[i].end && items[i].start <= items[j].end)
                live[nl++] = &items[j];
        qsort(live, (size_t)nl, sizeof *live, by_offset);
        int64_t off = 0;
        for (int j = 0; j < nl; j++) {
            if (live[j]->offset >= off + items[i].size)
                break;
            if (live[j]->offset + live[j]->size > off)
                off = live[j]->offset + live[j]->size;
        }
        items[i].offset = off;
        if (off + items[i].size > total)
            total = off + items[i].size;
    }
    free(live);
    return total;
}
