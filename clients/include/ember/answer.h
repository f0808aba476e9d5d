/*
 * libember-client: reading an infer answer (KServe v2 JSON, with or without the binary tensor
 * data extension) into plain C arrays.
 *
 * ember_answer_parse takes a 200 response of POST /v2/models/NAME/infer as
 * ember_client_request returned it. Numeric outputs (FP32, INT64, INT32, INT8, UINT8, BOOL)
 * come back as doubles (an INT64 beyond 2^53 loses its last bits, as it does in any JSON
 * reader); BYTES outputs, such as the classification extension's "score:index:label"
 * strings, as byte strings with their lengths, whether the answer carried them as JSON
 * strings or, with "binary_data", as 4-byte little-endian lengths each followed by its bytes
 * after the JSON (Inference-Header-Content-Length). ember_output_class splits one
 * classification string into its score, index and label.
 *
 * Everything is checked against the answer's own shapes and sizes: a datatype this client
 * does not know, data that does not fill the shape, a binary section that runs short or
 * long, and a length prefix past the end are EMBER_EFORMAT with a sentence naming the output.
 */
#ifndef EMBER_ANSWER_H
#define EMBER_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include <ember/client.h>
#include <ember/err.h>

/* Dimensions an output's shape may have (emberd's EMBER_MAX_RANK). */
#define EMBER_ANSWER_MAX_RANK 8

typedef struct ember_output {
    char *name;
    char datatype[8]; /* "FP32", "BYTES", ... */
    int rank;
    int64_t shape[EMBER_ANSWER_MAX_RANK];
    size_t count; /* elements: the product of shape */
    /* Numeric datatypes: count values, row-major; NULL for BYTES. */
    double *values;
    /* BYTES: count elements, each followed by a NUL that lengths[i] does not count (an
     * element may hold NULs of its own); NULL for numeric datatypes. */
    char **strings;
    size_t *lengths;
} ember_output;

typedef struct ember_answer {
    char *model_name;
    char *model_version; /* NULL when absent */
    char *id;            /* NULL when the request had none */
    int noutputs;
    ember_output *outputs;
} ember_answer;

/*
 * Decode r (a response to an infer request) into *a, which the caller frees with
 * ember_answer_free (also after a failure, when it is empty). A status other than 200 fails
 * with EMBER_EINVAL and emberd's own message ("emberd answered 400: ..."); a malformed answer
 * with EMBER_EFORMAT, an unknown datatype with EMBER_EUNSUPPORTED, memory with EMBER_ENOMEM.
 */
int ember_answer_parse(const ember_response *r, ember_answer *a, ember_err *err);
void ember_answer_free(ember_answer *a);

/* The output called name, or NULL. */
const ember_output *ember_answer_output(const ember_answer *a, const char *name);

/* Element i of a BYTES output and its length in *len (may be NULL); NULL when o is not
 * BYTES or i is out of range. Borrowed from the answer. */
const char *ember_output_string(const ember_output *o, size_t i, size_t *len);

/* One element of a classification output: "score:index:label" or "score:index". */
typedef struct ember_class {
    double score;
    int64_t index;
    const char *label; /* borrowed from the answer; "" when the model has no label for it */
    size_t label_len;
} ember_class;

/* Element i of a BYTES output read as a classification string. EMBER_EINVAL when o is not
 * BYTES or i is out of range, EMBER_EFORMAT when the element is not "score:index[:label]". */
int ember_output_class(const ember_output *o, size_t i, ember_class *out, ember_err *err);

#endif
