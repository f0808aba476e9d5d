/*
 * libember-proto: the wire formats ember speaks, kept apart from sockets and threads.
 *
 * - An incremental HTTP/1.1 request reader (over http-parser) that turns bytes, split any
 *   way they arrive, into complete requests one at a time, within named limits.
 * - An HTTP/1.1 response serializer.
 * - The KServe v2 (Open Inference Protocol) JSON codec: infer requests and responses to and
 *   from ember_tensors, model metadata, and the {"error": "..."} body.
 *
 * Nothing here touches a socket, a thread or global state: every object hangs off the
 * caller. Functions return 0 (or a documented positive value) on success and a negative
 * EMBER_E* code on failure, with a sentence in the caller's ember_err.
 */
#ifndef EMBER_PROTO_H
#define EMBER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <ember/engine.h>
#include <ember/err.h>

/* ---- Limits: every bound the protocol layer enforces, in one place. ------------------- */

/* Bytes of header names and values of one request (request line not included). */
#define EMBER_HTTP_MAX_HEADER_BYTES (16 * 1024)
/* Header lines in one request. */
#define EMBER_HTTP_MAX_HEADERS 64
/* Bytes of the request target (path and query). */
#define EMBER_HTTP_MAX_URL 8192
/* Bytes of one request body (after chunked decoding). */
#define EMBER_HTTP_MAX_BODY (64 * 1024 * 1024)
/* Elements of one decoded tensor (64 MiB of FP32). */
#define EMBER_KSERVE_MAX_ELEMENTS (16 * 1024 * 1024)
/* Inputs or requested outputs in one infer request. */
#define EMBER_KSERVE_MAX_TENSORS 256
/* Bytes of the optional request "id". */
#define EMBER_KSERVE_MAX_ID 256
/* Largest parameters.timeout_ms of an infer request (one hour). */
#define EMBER_KSERVE_MAX_TIMEOUT_MS 3600000

/* ---- HTTP requests ------------------------------------------------------------------- */

typedef enum ember_http_method {
    EMBER_HTTP_OTHER = 0, /* any method http-parser knows but ember does not serve */
    EMBER_HTTP_GET,
    EMBER_HTTP_HEAD,
    EMBER_HTTP_POST,
    EMBER_HTTP_PUT,
    EMBER_HTTP_DELETE,
    EMBER_HTTP_OPTIONS,
} ember_http_method;

typedef struct ember_http_header {
    const char *name;
    const char *value;
} ember_http_header;

/* One complete request. Every string is NUL-terminated and owned by the request. */
typedef struct ember_http_request {
    ember_http_method method;
    const char *method_name; /* "GET", "PATCH"...: static, for logs */
    int http_major, http_minor;
    char *target;               /* the request target as sent */
    char *path;                 /* its path, not percent-decoded ("/v2/models/x") */
    char *query;                /* its query without '?', NULL when absent */
    ember_http_header *headers; /* every header in arrival order, names as sent */
    int nheaders;
    const char *host;         /* borrowed from headers; NULL when absent */
    const char *content_type; /* borrowed from headers; NULL when absent */
    int64_t content_length;   /* -1 when there was no Content-Length (chunked or no body) */
    int expect_continue;      /* the client sent "Expect: 100-continue" */
    int keep_alive;           /* the connection stays open after the response */
    char *body;               /* NUL-terminated (not counted in body_len); never NULL */
    size_t body_len;
} ember_http_request;

/* Case-insensitive lookup of the first header with that name; NULL when absent. */
const char *ember_http_request_header(const ember_http_request *req, const char *name);
void ember_http_request_free(ember_http_request *req);

typedef struct ember_http_limits {
    size_t max_header_bytes;
    int max_headers;
    size_t max_url;
    size_t max_body;
} ember_http_limits;

#define EMBER_HTTP_LIMITS_DEFAULT                                                                  \
    ((ember_http_limits){EMBER_HTTP_MAX_HEADER_BYTES, EMBER_HTTP_MAX_HEADERS, EMBER_HTTP_MAX_URL,  \
                         EMBER_HTTP_MAX_BODY})

/* The per-connection request assembler. */
typedef struct ember_http_reader ember_http_reader;

/* limits may be NULL for EMBER_HTTP_LIMITS_DEFAULT; it is copied. Free with
 * ember_http_reader_free. */
int ember_http_reader_create(const ember_http_limits *limits, ember_http_reader **out,
                             ember_err *err);
void ember_http_reader_free(ember_http_reader *r);

/* Positive results of ember_http_reader_feed. */
enum {
    EMBER_HTTP_NEED_MORE = 0, /* every byte was consumed; no request is complete yet */
    EMBER_HTTP_REQUEST = 1,   /* a request is complete: *out holds it */
    EMBER_HTTP_CONTINUE = 2,  /* headers asking for "100 Continue" are complete; body pending */
};

/*
 * Feed bytes as they arrive. Parsing stops at the first event, so call again with the bytes
 * after *consumed until it returns EMBER_HTTP_NEED_MORE; requests come out in order. On
 * EMBER_HTTP_REQUEST *out is the caller's (free with ember_http_request_free); a request
 * whose keep_alive is 0 is the connection's last: feed nothing after it.
 *
 * Errors: EMBER_EINVAL for malformed input, EMBER_ENOMEM when a limit is crossed (or memory
 * ran out). After an error the reader is spent (later feeds return EMBER_ESTATE): answer with
 * ember_http_reader_error_status and close the connection.
 */
int ember_http_reader_feed(ember_http_reader *r, const char *buf, size_t len, size_t *consumed,
                           ember_http_request **out, ember_err *err);

/* The peer closed its side. Returns 0 when that happened between requests, EMBER_EINVAL
 * when a request was cut off. */
int ember_http_reader_eof(ember_http_reader *r, ember_err *err);

/* After a failed feed: the status to answer with: 400 malformed, 411 a POST or PUT with
 * neither Content-Length nor chunked encoding, 413 body too large,
 * 414 URL too long, 431 header too large or too many headers, 505 not HTTP/1.x,
 * 500 out of memory. 0 when there was no error. */
int ember_http_reader_error_status(const ember_http_reader *r);

/* True while part of a request has been fed but it is not complete. */
int ember_http_reader_in_request(const ember_http_reader *r);
/* True while part of a request has been fed but its header section is not complete. */
int ember_http_reader_in_headers(const ember_http_reader *r);

/* ---- HTTP responses ------------------------------------------------------------------ */

/* The interim response that answers "Expect: 100-continue". */
#define EMBER_HTTP_CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"

typedef struct ember_http_response {
    int status;
    const char *content_type; /* NULL: no Content-Type header */
    const char *body;         /* may be NULL when body_len is 0 */
    size_t body_len;
    int keep_alive;                   /* "Connection: keep-alive" or "Connection: close" */
    int head;                         /* answering HEAD: headers as for GET, no body bytes */
    const ember_http_header *headers; /* extra headers such as Allow, Retry-After */
    int nheaders;
} ember_http_response;

/* The reason phrase of a status ("Not Found"); "Unknown" for codes it does not know. */
const char *ember_http_reason(int status);

/* Serialize status line, headers and body into one buffer. On success *out (malloc'd,
 * the caller frees it) holds *out_len bytes. EMBER_EINVAL for a status outside 100..599 or
 * an extra header containing CR, LF or NUL, or a name that is not a token. */
int ember_http_response_serialize(const ember_http_response *resp, char **out, size_t *out_len,
                                  ember_err *err);

/* ---- KServe v2 JSON ------------------------------------------------------------------ */

/*
 * Datatype names: FP32, INT64, INT32, INT8, UINT8, BOOL, and BYTES for encoded outputs only
 * (EMBER_DT_BYTES below). JSON numbers cannot carry NaN or
 * infinities, so FP32 values that are not finite are written as the strings "NaN",
 * "Infinity" and "-Infinity" (the protobuf JSON mapping's choice) and those strings are
 * accepted on input. Other FP32 values are written with 9 significant digits, which
 * round-trips every float. JSON numbers are parsed as doubles, so INT64 values must lie
 * within +-2^53 (where doubles still hold every integer); larger magnitudes are rejected.
 */

/* A tensor of strings, for encoding outputs only (the classification extension's): its data
 * is an array of NUL-terminated strings (const char *const *), one per element. The engine
 * computes on no strings, so this is ONNX's STRING code outside ember_dtype's list; the
 * KServe datatype table (and so every decoder) does not know it. */
#define EMBER_DT_BYTES ((ember_dtype)8)

/* "FP32" etc.; NULL for a dtype without a KServe name. */
const char *ember_kserve_datatype_name(ember_dtype dt);
/* The dtype of a KServe datatype name; EMBER_DT_UNDEFINED when unknown. */
ember_dtype ember_kserve_datatype(const char *name);

/* An infer request's scheduling parameters. */
typedef struct ember_kserve_sched {
    int priority;       /* 0 "high", 1 "normal", 2 "low"; -1 when not given */
    int64_t timeout_ms; /* 0..EMBER_KSERVE_MAX_TIMEOUT_MS; -1 when not given */
    int energy;         /* "energy": true asks for the request's energy in the answer; 0 or 1 */
} ember_kserve_sched;

/*
 * Read "parameters": {"priority": "high"|"normal"|"low", "timeout_ms": N, "energy": BOOL} of an
 * infer request body without decoding the rest: cheap enough for an event loop (one pass over
 * the bytes, no allocation but the parameters object). Other keys of "parameters" are ignored.
 * A body whose top level cannot be followed reports nothing (the full decode will reject it).
 * EMBER_EINVAL, with a message, when "parameters" is malformed or a value is out of range.
 */
int ember_kserve_peek_sched(const char *body, size_t len, ember_kserve_sched *out, ember_err *err);

/* A decoded infer request. The caller owns it and frees it with ember_infer_request_clear. */
typedef struct ember_infer_request {
    char *id;             /* NULL when the request had no "id" */
    ember_tensor *inputs; /* [ninputs], in the model's input order; data malloc'd here */
    int ninputs;
    int *outputs;          /* indices into the model's outputs, in the order requested */
    int noutputs;          /* every output of the model when "outputs" is absent or empty */
    unsigned char *binary; /* [noutputs]: 1 when that output is asked for as binary data */
    int *classify;         /* [noutputs]: K of the classification extension; 0 when not asked */
} ember_infer_request;

/*
 * Decode an infer request body against the model's inputs and outputs. Every input of the
 * model must be given exactly once with the model's datatype, rank and fixed dims (a
 * negative model dim accepts any size >= 1); "data" is flat row-major or nested arrays with
 * exactly as many elements as the shape. Errors (all with a message naming the input and,
 * where it helps, the element): EMBER_EINVAL for malformed JSON or values, EMBER_ENOTFOUND
 * for unknown or missing names, EMBER_ESHAPE for datatype, shape, count or element limit;
 * all of those are the client's fault (HTTP 400). EMBER_ENOMEM only when memory ran out.
 * On failure *out is left empty.
 */
int ember_kserve_decode_request(const char *body, size_t len, const ember_io_info *inputs,
                                int ninputs, const ember_io_info *outputs, int noutputs,
                                ember_infer_request *out, ember_err *err);
void ember_infer_request_clear(ember_infer_request *req);

/*
 * The binary tensor data extension: the body is header_len bytes of JSON (the value of the
 * Inference-Header-Content-Length header) followed by raw tensor bytes. An input with
 * "parameters": {"binary_data_size": N} and no "data" takes the next N bytes, which must be
 * exactly its elements times the datatype's size (little-endian, as the hosts ember runs on;
 * BOOL one byte each). Outputs are asked for as binary with the request's
 * "parameters": {"binary_data_output": true} or an output's "parameters": {"binary_data":
 * true} (which wins); req->binary records the answer per output. Bytes left over, or too few,
 * are EMBER_ESHAPE. An output's "parameters": {"classification": K} (the classification
 * extension: an integer 1..EMBER_CLASSIFY_MAX_K, else EMBER_EINVAL) is recorded in
 * req->classify; the caller turns that output into top-K strings (ember_classify_topk). ember_kserve_decode_request is this with header_len == len.
 */
int ember_kserve_decode_request_binary(const char *body, size_t len, size_t header_len,
                                       const ember_io_info *inputs, int ninputs,
                                       const ember_io_info *outputs, int noutputs,
                                       ember_infer_request *out, ember_err *err);

/* A named tensor, borrowed, for encoding. */
typedef struct ember_named_tensor {
    const char *name;
    ember_tensor tensor;
} ember_named_tensor;

/* Encode an infer request (what a client sends). id may be NULL; outputs may be NULL with
 * noutputs 0 to ask for every output. *json is malloc'd, NUL-terminated, the caller frees. */
int ember_kserve_encode_request(const char *id, const ember_named_tensor *inputs, int ninputs,
                                const char *const *outputs, int noutputs, char **json, size_t *len,
                                ember_err *err);

/* Encode an infer response: {"model_name","model_version","id"?,"outputs":[...]}.
 * *json is malloc'd, NUL-terminated, the caller frees. */
int ember_kserve_encode_response(const char *model_name, const char *model_version, const char *id,
                                 const ember_named_tensor *outputs, int noutputs, char **json,
                                 size_t *len, ember_err *err);

/* ember_kserve_encode_response with the outputs whose binary[i] is set written as raw bytes
 * after the JSON (which gives their "parameters": {"binary_data_size": N} instead of
 * "data"); a BYTES output's elements are each a 4-byte little-endian length and the bytes,
 * as the extension defines them; *header_len is the JSON's length, for Inference-Header-Content-Length. binary may
 * be NULL (no binary output; then *header_len == *len). */
int ember_kserve_encode_response_binary(const char *model_name, const char *model_version,
                                        const char *id, const ember_named_tensor *outputs,
                                        int noutputs, const unsigned char *binary, char **body,
                                        size_t *len, size_t *header_len, ember_err *err);

/* A decoded infer response; the caller frees it with ember_infer_response_clear. */
typedef struct ember_infer_response {
    char *model_name;
    char *model_version;   /* NULL when absent */
    char *id;              /* NULL when absent */
    char **names;          /* [noutputs] */
    ember_tensor *outputs; /* [noutputs], data malloc'd here */
    int noutputs;
} ember_infer_response;

/* Decode an infer response body (what a client receives). Same value rules and errors as
 * ember_kserve_decode_request, without a model to check against. */
int ember_kserve_decode_response(const char *body, size_t len, ember_infer_response *out,
                                 ember_err *err);
void ember_infer_response_clear(ember_infer_response *resp);

/* Model metadata: {"name","versions":[...],"platform","inputs":[{"name","datatype","shape"}],
 * "outputs":[...]}, dynamic dims as -1. *json is malloc'd, the caller frees. */
int ember_kserve_encode_metadata(const char *name, const char *const *versions, int nversions,
                                 const char *platform, const ember_io_info *inputs, int ninputs,
                                 const ember_io_info *outputs, int noutputs, char **json,
                                 size_t *len, ember_err *err);

/* {"error":"msg"} with msg escaped; malloc'd, NULL only when memory ran out. */
char *ember_kserve_error_json(const char *msg, size_t *len);

/* ---- NumPy .npy files (format 1.0-3.0; <f4 <i8 <i4 |i1 |u1 |b1, C order) ---- */

/* Decode a whole .npy file held in buf. On success t->data is malloc'd; the caller frees it. */
int ember_npy_decode(const void *buf, size_t len, ember_tensor *t, ember_err *err);
/* Read path into t (t->data malloc'd, the caller frees it); errors name the file. */
int ember_npy_load(const char *path, ember_tensor *t, ember_err *err);
/* Write t to path as .npy 1.0, through a temporary file renamed into place. */
int ember_npy_save(const char *path, const ember_tensor *t, ember_err *err);

/* ---- WAV (RIFF, 16-bit integer PCM) ---- */

typedef struct ember_wav {
    int sample_rate;
    int channels;
    int64_t frames;   /* samples per channel */
    int16_t *samples; /* frames * channels, interleaved; malloc'd, freed by ember_wav_free */
} ember_wav;

int ember_wav_decode(const void *buf, size_t len, ember_wav *out, ember_err *err);
void ember_wav_free(ember_wav *w);

/* ---- Raw media inputs: JPEG, PNG and WAV bodies into float tensors ---- */

/* Pixels (width x height) of a JPEG or PNG before any scaling; larger images are refused
 * before their pixels are decoded. */
#define EMBER_MEDIA_MAX_PIXELS (50 * 1000 * 1000)
/* Width or height of an image, and of a preprocessing target. */
#define EMBER_MEDIA_MAX_SIDE 65535
/* K of the classification extension. */
#define EMBER_CLASSIFY_MAX_K 1000

/* A decoded 8-bit image: rows top to bottom, channels interleaved (3: R,G,B; 1: gray). */
typedef struct ember_image {
    int width, height, channels;
    unsigned char *pixels; /* width * height * channels; malloc'd, freed by ember_image_free */
} ember_image;

void ember_image_free(ember_image *img);

typedef enum ember_image_order {
    EMBER_IMAGE_RGB = 0,
    EMBER_IMAGE_BGR,
    EMBER_IMAGE_GRAY, /* one channel: luma (ITU-R BT.601, as libjpeg and libpng compute it) */
} ember_image_order;

typedef enum ember_image_layout {
    EMBER_IMAGE_NCHW = 0,
    EMBER_IMAGE_NHWC,
} ember_image_layout;

/*
 * How a model wants its image input, from its config: decode, then either resize straight to
 * width x height (resize == 0) or resize so the shorter side is `resize` (aspect kept) and
 * cut the centered width x height out of that; bilinear with half-pixel centers, results
 * rounded to 8 bits. Then each value v (0..255) of channel c becomes
 * (v * scale - mean[c]) / std[c] in the model's channel order, laid out NCHW or NHWC with a
 * leading batch dim of 1 (rank 4). A zeroed struct plus width and height is valid: scale 0
 * means 1, std 0 means 1, max_pixels 0 means EMBER_MEDIA_MAX_PIXELS (which also bounds the
 * resized image before the crop). width x height x 3 must stay within
 * EMBER_KSERVE_MAX_ELEMENTS.
 */
typedef struct ember_image_prep {
    int width, height;
    int resize;
    ember_image_order order;
    ember_image_layout layout;
    float scale;
    float mean[3], std[3]; /* per channel of the output order (GRAY uses [0]) */
    int64_t max_pixels;
} ember_image_prep;

/*
 * Decode a JPEG (baseline or progressive, 8-bit) or PNG (any bit depth, palette, gray,
 * alpha dropped, interlaced) held in buf into 8-bit RGB, or gray when gray is set. A JPEG
 * wider than needed is decoded at 1/2, 1/4 or 1/8 scale with libjpeg's DCT scaling: the
 * smallest scale whose result still covers min_width x min_height (both 0: full size;
 * one 0: no bound on that side). max_pixels bounds width x height as stored (0:
 * EMBER_MEDIA_MAX_PIXELS). Errors: EMBER_EFORMAT for a corrupt or truncated file, with the
 * decoder's words, EMBER_EUNSUPPORTED for a valid but unsupported one (a CMYK JPEG),
 * EMBER_ENOMEM when max_pixels is crossed (or memory ran out). ember_image_decode picks the
 * format from the first bytes. out is the caller's (ember_image_free) on success, empty on
 * failure.
 */
int ember_jpeg_decode(const void *buf, size_t len, int gray, int min_width, int min_height,
                      int64_t max_pixels, ember_image *out, ember_err *err);
int ember_png_decode(const void *buf, size_t len, int gray, int64_t max_pixels, ember_image *out,
                     ember_err *err);
int ember_image_decode(const void *buf, size_t len, int gray, int min_width, int min_height,
                       int64_t max_pixels, ember_image *out, ember_err *err);

/* The steps of ember_image_preprocess, for callers and tests that want one at a time. Each
 * writes a new image into out (the caller's), leaving in untouched. */
int ember_image_resize(const ember_image *in, int width, int height, ember_image *out,
                       ember_err *err);
int ember_image_crop_center(const ember_image *in, int width, int height, ember_image *out,
                            ember_err *err);
/* in must already be prep->width x prep->height; t->data is malloc'd, the caller frees it. */
int ember_image_to_tensor(const ember_image *in, const ember_image_prep *prep, ember_tensor *t,
                          ember_err *err);

/* The whole path: decode buf (JPEG or PNG, told apart by their signatures) and preprocess
 * it for prep into a FP32 tensor of rank 4 (t->data malloc'd, the caller frees it).
 * EMBER_EINVAL for a bad prep; decode errors as above. */
int ember_image_preprocess(const void *buf, size_t len, const ember_image_prep *prep,
                           ember_tensor *t, ember_err *err);

/* How a model wants an audio input: PCM16 WAV at sample_rate with `channels` channels
 * (a mono model accepts any channel count, averaged to one), each sample s becoming
 * s / 32768 * (scale ? scale : 1); frames, when > 0, is the exact length wanted. The tensor
 * is FP32 [1, frames] for mono, [1, frames, channels] otherwise. */
typedef struct ember_audio_prep {
    int sample_rate;
    int channels;
    int64_t frames;
    float scale;
} ember_audio_prep;

/* Decode a WAV body for prep. EMBER_EFORMAT for a file ember_wav_decode refuses,
 * EMBER_ESHAPE for a sample rate, channel count or length other than prep's (the message
 * gives both). t->data is malloc'd, the caller frees it. */
int ember_audio_preprocess(const void *buf, size_t len, const ember_audio_prep *prep,
                           ember_tensor *t, ember_err *err);

/*
 * The classification extension: the top k scores of each row of an output (rows: dims[0]
 * for rank >= 2, else one row of every element) as "score:index:label" strings, highest
 * first, ties by lower index; score printed with %g's 6 digits, label from labels[index]
 * (":label" omitted when labels is NULL or has no entry for that index). k is clipped to the
 * row length. FP32, INT64, INT32, INT8, UINT8 and BOOL outputs. *out is one malloc'd block
 * holding rows * k pointers and their strings (free(*out) frees all); *nout = rows * k.
 * EMBER_EINVAL for k outside 1..EMBER_CLASSIFY_MAX_K or an empty output.
 */
int ember_classify_topk(const ember_tensor *scores, int k, const char *const *labels, int nlabels,
                        char ***out, int *nout, ember_err *err);

#endif
