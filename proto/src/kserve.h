/*
 * Internals shared by the KServe encoder and decoder: the datatype table, which is the only
 * place that knows each dtype's KServe name and element size (so libember-proto needs the
 * engine's header but not its library).
 */
#ifndef EMBER_PROTO_KSERVE_H
#define EMBER_PROTO_KSERVE_H

#include <stddef.h>

#include <ember/engine.h>

/* Bytes per element of a dtype KServe can carry; 0 for any other. */
size_t kserve_dtype_size(ember_dtype dt);

#endif
