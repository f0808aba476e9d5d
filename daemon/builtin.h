/*
 * The built-in default model: the bytes of models/digits/1/model.onnx, which the build
 * turns into a C array with scripts/bin2c.py, served as digits version 1.
 */
#ifndef EMBERD_BUILTIN_H
#define EMBERD_BUILTIN_H

#include <stddef.h>

#define EMBERD_BUILTIN_MODEL_NAME "digits"
#define EMBERD_BUILTIN_MODEL_VERSION 1

extern const unsigned char emberd_builtin_model[];
extern const size_t emberd_builtin_model_len;

#endif
