/*
 * Raw media request bodies (JPEG, PNG, WAV) and the classification extension in emberd.
 *
 * A model's config.json may say how an image or a sound becomes its input ("inputs") and
 * name a labels file ("labels"); those keys become a media_config, read once per load and
 * shared by every version loaded with it. The loop thread only looks at a request's
 * Content-Type and query string (media_route_infer); the worker decodes and preprocesses
 * the body (media_decode) and turns outputs asked for with "classification": K into
 * "score:index:label" strings (media_classify). docs/config.md and docs/api.md describe
 * what users see.
 */
#ifndef EMBERD_MEDIA_INPUT_H
#define EMBERD_MEDIA_INPUT_H

#include <stdatomic.h>

#include <cjson/cJSON.h>

#include <ember/proto.h>

#include "router.h"

/* What a request's Content-Type asks for. */
typedef enum media_kind {
    MEDIA_NONE = 0, /* not a media type: a KServe JSON (or binary extension) body */
    MEDIA_JPEG,
    MEDIA_PNG,
    MEDIA_WAV,
    MEDIA_OTHER, /* an image, audio or video type emberd does not decode: 415 */
} media_kind;

/* The preprocessing and labels keys of one model's config.json. Immutable once read;
 * reference counted because every version's entry holds it and entries die on any thread's
 * last job. */
typedef struct media_config {
    atomic_int refs;
    char *image_input; /* the input a JPEG or PNG body fills; NULL: images not configured */
    ember_image_prep image;
    char *audio_input; /* the input a WAV body fills; NULL: audio not configured */
    ember_audio_prep audio;
    char **labels; /* [nlabels] in one block with their text; NULL without a labels file */
    int nlabels;
    char *labels_path; /* as configured, for messages */
} media_config;

/* Read config.json's key it ("inputs" or "labels"; path is the config file, for messages
 * and to find the labels file next to it) into *mc, creating it on first use. Errors name
 * the file and the key, as registry_config_read's do. */
int media_config_read(const char *path, const cJSON *it, media_config **mc, ember_err *err);
void media_config_ref(media_config *mc);
/* Drop a reference; NULL is allowed. */
void media_config_unref(media_config *mc);

/* Check mc (may be NULL) against a loaded model's inputs: the configured input exists, is the
 * model's only input, is FP32 and its shape takes what preprocessing produces. */
int media_config_check(const media_config *mc, const ember_io_info *inputs, int ninputs,
                       ember_err *err);

/* The kind of a Content-Type value (NULL: MEDIA_NONE). Parameters after ';' are ignored;
 * type and subtype compare case-insensitively. */
media_kind media_kind_of(const char *content_type);

/* A POST .../infer whose Content-Type is of kind (not MEDIA_NONE) for entry e. Loop thread:
 * checks the model is configured for it and reads the query string (id, timeout_ms,
 * priority and classification, in place of a JSON body's "id" and "parameters"), without
 * touching the body. Returns 1 with *job (taking req's body) or 0 with *reply filled (400
 * naming a bad query parameter). */
int media_route_infer(model_entry *e, ember_http_request *req, media_kind kind, route_reply *reply,
                      infer_job **job);

/* Worker thread: preprocess the job's raw body into *req (every output selected, each
 * classified with the job's K when it has one). A negative code on failure; media_status
 * gives its HTTP status: 413 for an image or sound past a limit (EMBER_ENOMEM, as the
 * decoders report it), 415 for an unsupported variant, 500 when memory ran out here
 * (EMBER_EIO), else 400. */
int media_decode(const infer_job *job, ember_infer_request *req, ember_err *err);
int media_status(int rc);

/* Worker thread: for every output of req with classify[i] > 0 replace named[i] by its top-K
 * strings (an EMBER_DT_BYTES tensor [rows, K], its data malloc'd), labels from e's labels
 * file.
 * Free them after encoding with media_classify_free, also after a failure. EMBER_EINVAL for
 * an output that cannot be classified. */
int media_classify(const model_entry *e, const ember_infer_request *req, ember_named_tensor *named,
                   ember_err *err);
void media_classify_free(ember_named_tensor *named, int n);

#endif
