/*
 * The memory planner: packs buffers with known sizes and lifetimes into one arena.
 */
#ifndef EMBER_PLANNER_H
#define EMBER_PLANNER_H

#include <stdint.h>

typedef struct eg_plan_item {
    int id;         /* caller's tag, untouched */
    int start, end; /* first and last step (inclusive) during which the buffer is live */
    int64_t size;   /* bytes, already rounded to the wanted alignment */
    int64_t offset; /* result */
} eg_plan_item;

/* Assign offsets so that no two items live at the same step overlap; returns the arena size.
 * Items are reordered. Sizes must be multiples of the alignment wanted for offsets. */
int64_t eg_plan_offsets(eg_plan_item *items, int n);

#endif
