/*
 * The KServe datatype table: name, ember dtype and element size of each datatype the JSON
 * codec carries. FP16, UINT16 and the others KServe defines are absent until the engine
 * computes in them.
 */
#include <string.h>

#include <ember/proto.h>

#include "kserve.h"

static const struct kserve_type {
    const char *name;
    ember_dtype dtype;
    size_t size;
} kserve_types[] = {
    {"FP32", EMBER_DT_FLOAT, 4}, {"INT64", EMBER_DT_INT64, 8}, {"INT32", EMBER_DT_INT32, 4},
    {"INT8", EMBER_DT_INT8, 1},  {"UINT8", EMBER_DT_UINT8, 1}, {"BOOL", EMBER_DT_BOOL, 1},
};

#define KSERVE_NTYPES (sizeof kserve_types / sizeof kserve_types[0])

const char *ember_kserve_datatype_name(ember_dtype dt)
{
    for (size_t i = 0; i < KSERVE_NTYPES; i++)
        if (kserve_types[i].dtype == dt)
            return kserve_types[i].name;
    return NULL;
}

ember_dtype ember_kserve_datatype(const char *name)
{
    for (size_t i = 0; i < KSERVE_NTYPES; i++)
        if (strcmp(kserve_types[i].name, name) == 0)
            return kserve_types[i].dtype;
    return EMBER_DT_UNDEFINED;
}

size_t kserve_dtype_size(ember_dtype dt)
{
    for (size_t i = 0; i < KSERVE_NTYPES; i++)
        if (kserve_types[i].dtype == dt)
            return kserve_types[i].size;
    return 0;
}
