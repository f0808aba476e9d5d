/*
 * Raw media request bodies into model inputs: JPEG (libjpeg-turbo) and PNG (libpng) images
 * and PCM16 WAV audio, preprocessed as the model's config says, and the classification
 * extension's top-K strings for outputs.
 *
 * Images decode to 8-bit RGB or gray (JPEGs larger than needed at 1/2..1/8 scale through
 * libjpeg's DCT scaling, which is far cheaper than decoding every pixel and shrinking), then
 * go through bilinear resize, center crop and the per-channel affine map into FP32 NCHW or
 * NHWC. Both decoders report errors by longjmp; each call keeps its jmp_buf and message in
 * a local context, so nothing here is global. Every size is checked against
 * EMBER_MEDIA_MAX_PIXELS before pixels are allocated, and decoder warnings (truncated or
 * corrupt data) are errors: a request never runs on a half-gray picture.
 */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include <ember/proto.h>

void ember_image_free(ember_image *img)
{
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static int image_alloc(ember_image *img, int width, int height, int channels, ember_err *err)
{
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->pixels = malloc((size_t)width * (size_t)height * (size_t)channels);
    if (!img->pixels)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for a %dx%d image", width, height);
    return 0;
}

static int check_pixels(const char *what, int64_t width, int64_t height, int64_t max_pixels,
                        ember_err *err)
{
    if (max_pixels <= 0)
        max_pixels = EMBER_MEDIA_MAX_PIXELS;
    if (width < 1 || height < 1)
        return ember_err_set(err, EMBER_EFORMAT, "%s: empty image (%lldx%lld)", what,
                             (long long)width, (long long)height);
    if (width > EMBER_MEDIA_MAX_SIDE || height > EMBER_MEDIA_MAX_SIDE ||
        width * height > max_pixels)
        return ember_err_set(err, EMBER_ENOMEM,
                             "%s: image of %lldx%lld pixels is larger than the limit of %lld "
                             "pixels and %d per side",
                             what, (long long)width, (long long)height, (long long)max_pixels,
                             EMBER_MEDIA_MAX_SIDE);
    return 0;
}

/* ---- JPEG ---- */

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands back a pointer to it */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr ci)
{
    jpeg_fail *f = (jpeg_fail *)ci->err;
    f->mgr.format_message(ci, f->msg);
    longjmp(f->jb, 1);
}

/* Level -1 is a warning: corrupt or truncated data that libjpeg would paper over. */
static void jpeg_fail_emit(j_common_ptr ci, int level)
{
    if (level < 0)
        jpeg_fail_exit(ci);
}

int ember_jpeg_decode(const void *buf, size_t len, int gray, int min_width, int min_height,
                      int64_t max_pixels, ember_image *out, ember_err *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_fail fail;
    unsigned char *volatile pixels = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (len < 3 || memcmp(buf, "\xff\xd8\xff", 3) != 0)
        return ember_err_set(err, EMBER_EFORMAT, "image/jpeg: not a JPEG file");
    ci.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail_exit;
    fail.mgr.emit_message = jpeg_fail_emit;
    if (setjmp(fail.jb)) {
        jpeg_destroy_decompress(&ci);
        free(pixels);
        return ember_err_set(err, EMBER_EFORMAT, "image/jpeg: %s", fail.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, (const unsigned char *)buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    rc = check_pixels("image/jpeg", ci.image_width, ci.image_height, max_pixels, err);
    if (rc == 0 && (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK))
        rc = ember_err_set(err, EMBER_EUNSUPPORTED, "image/jpeg: CMYK images are not supported");
    if (rc < 0) {
        jpeg_destroy_decompress(&ci);
        return rc;
    }
    ci.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    /* The smallest DCT scale whose output still covers what the caller needs. */
    for (unsigned denom = min_width > 0 || min_height > 0 ? 8 : 1; denom >= 1; denom /= 2) {
        ci.scale_num = 1;
        ci.scale_denom = denom;
        jpeg_calc_output_dimensions(&ci);
        if ((int)ci.output_width >= min_width && (int)ci.output_height >= min_height)
            break;
    }
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, c = ci.output_components;
    pixels = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!pixels) {
        jpeg_destroy_decompress(&ci);
        return ember_err_set(err, EMBER_ENOMEM, "image/jpeg: out of memory for %dx%d", w, h);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = pixels + (size_t)ci.output_scanline * (size_t)w * (size_t)c;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    out->width = w;
    out->height = h;
    out->channels = c;
    out->pixels = pixels;
    return 0;
}

/* ---- PNG ---- */

typedef struct png_src {
    const unsigned char *p;
    size_t len, pos;
    char msg[200];
} png_src;

static void png_src_read(png_structp png, png_bytep data, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "the file is truncated");
    memcpy(data, s->p + s->pos, n);
    s->pos += n;
}

static void png_src_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_src_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* ancillary-chunk trouble: the pixels are still right */
}

int ember_png_decode(const void *buf, size_t len, int gray, int64_t max_pixels, ember_image *out,
                     ember_err *err)
{
    png_src src = {buf, len, 0, {0}};
    png_structp png;
    png_infop info = NULL;
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;

    memset(out, 0, sizeof *out);
    if (len < 8 || png_sig_cmp((png_const_bytep)buf, 0, 8) != 0)
        return ember_err_set(err, EMBER_EFORMAT, "image/png: not a PNG file");
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_src_error, png_src_warning);
    if (png)
        info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ember_err_set(err, EMBER_ENOMEM, "image/png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return ember_err_set(err, EMBER_EFORMAT, "image/png: %s", src.msg);
    }
    png_set_read_fn(png, &src, png_src_read);
    png_set_benign_errors(png, 0);
    /* Our own bound decides, with our message. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);
    png_uint_32 pw, ph;
    int depth, ctype;
    png_get_IHDR(png, info, &pw, &ph, &depth, &ctype, NULL, NULL, NULL);
    int rc = check_pixels("image/png", pw, ph, max_pixels, err);
    if (rc < 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (gray && (ctype & PNG_COLOR_MASK_COLOR))
        png_set_rgb_to_gray_fixed(png, 1, 29900, 58700); /* BT.601, as libjpeg */
    else if (!gray && !(ctype & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    size_t stride = (size_t)pw * (size_t)c;
    if (png_get_rowbytes(png, info) != stride)
        png_error(png, "unexpected row size after conversion");
    pixels = malloc(stride * ph);
    rows = malloc(ph * sizeof *rows);
    if (!pixels || !rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < ph; y++)
        rows[y] = pixels + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int)pw;
    out->height = (int)ph;
    out->channels = c;
    out->pixels = pixels;
    return 0;
}

int ember_image_decode(const void *buf, size_t len, int gray, int min_width, int min_height,
                       int64_t max_pixels, ember_image *out, ember_err *err)
{
    if (len >= 8 && png_sig_cmp((png_const_bytep)buf, 0, 8) == 0)
        return ember_png_decode(buf, len, gray, max_pixels, out, err);
    if (len >= 3 && memcmp(buf, "\xff\xd8\xff", 3) == 0)
        return ember_jpeg_decode(buf, len, gray, min_width, min_height, max_pixels, out, err);
    memset(out, 0, sizeof *out);
    return ember_err_set(err, EMBER_EFORMAT, "image: neither a JPEG nor a PNG file");
}

/* ---- Preprocessing ---- */

static int check_size(const char *what, int width, int height, ember_err *err)
{
    if (width < 1 || height < 1 || width > EMBER_MEDIA_MAX_SIDE || height > EMBER_MEDIA_MAX_SIDE)
        return ember_err_set(err, EMBER_EINVAL, "%s: size %dx%d is outside 1..%d", what, width,
                             height, EMBER_MEDIA_MAX_SIDE);
    return 0;
}

/* Half-pixel centers: output pixel x samples the input at (x + 0.5) * in / out - 0.5,
 * clamped to the edge pixels. */
static void bilinear_taps(int in, int out, int i, int *i0, int *i1, float *f)
{
    float s = ((float)i + 0.5f) * (float)in / (float)out - 0.5f;
    if (s < 0)
        s = 0;
    int a = (int)s;
    if (a >= in - 1) {
        *i0 = *i1 = in - 1;
        *f = 0;
        return;
    }
    *i0 = a;
    *i1 = a + 1;
    *f = s - (float)a;
}

int ember_image_resize(const ember_image *in, int width, int height, ember_image *out,
                       ember_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_size("resize", width, height, err);
    if (rc < 0 || (rc = image_alloc(out, width, height, in->channels, err)) < 0)
        return rc;
    int c = in->channels;
    for (int y = 0; y < height; y++) {
        int y0, y1;
        float fy;
        bilinear_taps(in->height, height, y, &y0, &y1, &fy);
        const unsigned char *r0 = in->pixels + (size_t)y0 * in->width * c;
        const unsigned char *r1 = in->pixels + (size_t)y1 * in->width * c;
        unsigned char *o = out->pixels + (size_t)y * width * c;
        for (int x = 0; x < width; x++) {
            int x0, x1;
            float fx;
            bilinear_taps(in->width, width, x, &x0, &x1, &fx);
            for (int k = 0; k < c; k++) {
                float top = r0[x0 * c + k] + fx * (float)(r0[x1 * c + k] - r0[x0 * c + k]);
                float bot = r1[x0 * c + k] + fx * (float)(r1[x1 * c + k] - r1[x0 * c + k]);
                float v = top + fy * (bot - top) + 0.5f;
                o[x * c + k] = v >= 255 ? 255 : v <= 0 ? 0 : (unsigned char)v;
            }
        }
    }
    return 0;
}

int ember_image_crop_center(const ember_image *in, int width, int height, ember_image *out,
                            ember_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_size("crop", width, height, err);
    if (rc < 0)
        return rc;
    if (width > in->width || height > in->height)
        return ember_err_set(err, EMBER_EINVAL, "crop: %dx%d does not fit in a %dx%d image", width,
                             height, in->width, in->height);
    if ((rc = image_alloc(out, width, height, in->channels, err)) < 0)
        return rc;
    int x0 = (in->width - width) / 2, y0 = (in->height - height) / 2, c = in->channels;
    for (int y = 0; y < height; y++)
        memcpy(out->pixels + (size_t)y * width * c,
               in->pixels + ((size_t)(y0 + y) * in->width + x0) * c, (size_t)width * c);
    return 0;
}

static int prep_check(const ember_image_prep *p, ember_err *err)
{
    int rc = check_size("image preprocessing", p->width, p->height, err);
    if (rc < 0)
        return rc;
    if (p->resize < 0 || p->resize > EMBER_MEDIA_MAX_SIDE ||
        (p->resize && (p->resize < p->width || p->resize < p->height)))
        return ember_err_set(err, EMBER_EINVAL,
                             "image preprocessing: resize %d must be 0 or at least the "
                             "target's %dx%d",
                             p->resize, p->width, p->height);
    if ((int64_t)p->width * p->height * 3 > EMBER_KSERVE_MAX_ELEMENTS)
        return ember_err_set(err, EMBER_EINVAL,
                             "image preprocessing: %dx%d is more than %d tensor elements", p->width,
                             p->height, EMBER_KSERVE_MAX_ELEMENTS);
    if (p->order < EMBER_IMAGE_RGB || p->order > EMBER_IMAGE_GRAY || p->layout < EMBER_IMAGE_NCHW ||
        p->layout > EMBER_IMAGE_NHWC)
        return ember_err_set(err, EMBER_EINVAL, "image preprocessing: bad channel order or layout");
    for (int k = 0; k < 3; k++)
        if (!(p->std[k] >= 0) || !isfinite(p->std[k]) || !isfinite(p->mean[k]) ||
            !isfinite(p->scale))
            return ember_err_set(err, EMBER_EINVAL,
                                 "image preprocessing: mean, std and scale must be finite, std "
                                 "not negative");
    return 0;
}

int ember_image_to_tensor(const ember_image *in, const ember_image_prep *prep, ember_tensor *t,
                          ember_err *err)
{
    memset(t, 0, sizeof *t);
    int rc = prep_check(prep, err);
    if (rc < 0)
        return rc;
    int c = prep->order == EMBER_IMAGE_GRAY ? 1 : 3;
    if (in->width != prep->width || in->height != prep->height || in->channels != c)
        return ember_err_set(err, EMBER_EINVAL,
                             "image: %dx%d with %d channels, the model wants %dx%d with %d",
                             in->width, in->height, in->channels, prep->width, prep->height, c);
    int w = in->width, h = in->height;
    float *d = malloc((size_t)w * h * c * sizeof *d);
    if (!d)
        return ember_err_set(err, EMBER_ENOMEM, "image: out of memory for the tensor");
    float scale = prep->scale != 0 ? prep->scale : 1;
    for (int k = 0; k < c; k++) {
        int src = prep->order == EMBER_IMAGE_BGR ? 2 - k : k;
        float mean = prep->mean[k], std = prep->std[k] != 0 ? prep->std[k] : 1;
        for (int i = 0; i < w * h; i++) {
            float v = ((float)in->pixels[(size_t)i * c + src] * scale - mean) / std;
            if (prep->layout == EMBER_IMAGE_NCHW)
                d[(size_t)k * w * h + i] = v;
            else
                d[(size_t)i * c + k] = v;
        }
    }
    t->dtype = EMBER_DT_FLOAT;
    t->rank = 4;
    t->dims[0] = 1;
    if (prep->layout == EMBER_IMAGE_NCHW) {
        t->dims[1] = c;
        t->dims[2] = h;
        t->dims[3] = w;
    } else {
        t->dims[1] = h;
        t->dims[2] = w;
        t->dims[3] = c;
    }
    t->data = d;
    return 0;
}

int ember_image_preprocess(const void *buf, size_t len, const ember_image_prep *prep,
                           ember_tensor *t, ember_err *err)
{
    ember_image img, sized;
    memset(t, 0, sizeof *t);
    int rc = prep_check(prep, err);
    if (rc < 0)
        return rc;
    int min = prep->resize;
    rc = ember_image_decode(buf, len, prep->order == EMBER_IMAGE_GRAY, min ? min : prep->width,
                            min ? min : prep->height, prep->max_pixels, &img, err);
    if (rc < 0)
        return rc;
    if (!prep->resize) {
        rc = ember_image_resize(&img, prep->width, prep->height, &sized, err);
        ember_image_free(&img);
        if (rc < 0)
            return rc;
    } else {
        /* Shorter side to `resize`, the other in proportion (rounded, never below resize). */
        int64_t w = img.width, h = img.height, r = prep->resize;
        int64_t nw = w <= h ? r : (w * r + h / 2) / h;
        int64_t nh = w <= h ? (h * r + w / 2) / w : r;
        int64_t max = prep->max_pixels > 0 ? prep->max_pixels : EMBER_MEDIA_MAX_PIXELS;
        if (nw > EMBER_MEDIA_MAX_SIDE || nh > EMBER_MEDIA_MAX_SIDE || nw * nh > max) {
            ember_image_free(&img);
            return ember_err_set(err, EMBER_ENOMEM,
                                 "image: a %dx%d image resized to a shorter side of %d is "
                                 "too large",
                                 img.width, img.height, prep->resize);
        }
        ember_image mid;
        rc = ember_image_resize(&img, (int)nw, (int)nh, &mid, err);
        ember_image_free(&img);
        if (rc < 0)
            return rc;
        rc = ember_image_crop_center(&mid, prep->width, prep->height, &sized, err);
        ember_image_free(&mid);
        if (rc < 0)
            return rc;
    }
    rc = ember_image_to_tensor(&sized, prep, t, err);
    ember_image_free(&sized);
    return rc;
}

/* ---- Audio ---- */

int ember_audio_preprocess(const void *buf, size_t len, const ember_audio_prep *prep,
                           ember_tensor *t, ember_err *err)
{
    ember_wav w;
    memset(t, 0, sizeof *t);
    if (prep->sample_rate < 1 || prep->channels < 1 || prep->frames < 0 || !isfinite(prep->scale))
        return ember_err_set(err, EMBER_EINVAL,
                             "audio preprocessing: bad sample rate, "
                             "channels, length or scale");
    int rc = ember_wav_decode(buf, len, &w, err);
    if (rc < 0)
        return rc;
    if (w.sample_rate != prep->sample_rate)
        rc = ember_err_set(err, EMBER_ESHAPE, "audio/wav: sample rate %d Hz, the model wants %d Hz",
                           w.sample_rate, prep->sample_rate);
    else if (prep->channels != 1 && w.channels != prep->channels)
        rc = ember_err_set(err, EMBER_ESHAPE, "audio/wav: %d channels, the model wants %d",
                           w.channels, prep->channels);
    else if (prep->frames > 0 && w.frames != prep->frames)
        rc = ember_err_set(err, EMBER_ESHAPE, "audio/wav: %lld samples, the model wants %lld",
                           (long long)w.frames, (long long)prep->frames);
    else if (w.frames < 1)
        rc = ember_err_set(err, EMBER_ESHAPE, "audio/wav: no samples");
    else if (w.frames * prep->channels > EMBER_KSERVE_MAX_ELEMENTS)
        rc = ember_err_set(err, EMBER_ESHAPE, "audio/wav: %lld samples exceed the limit of %d",
                           (long long)w.frames, EMBER_KSERVE_MAX_ELEMENTS);
    if (rc < 0) {
        ember_wav_free(&w);
        return rc;
    }
    int oc = prep->channels;
    float *d = malloc((size_t)w.frames * oc * sizeof *d);
    if (!d) {
        ember_wav_free(&w);
        return ember_err_set(err, EMBER_ENOMEM, "audio/wav: out of memory");
    }
    float k = (prep->scale != 0 ? prep->scale : 1) / 32768.0f;
    for (int64_t i = 0; i < w.frames; i++) {
        const int16_t *s = w.samples + i * w.channels;
        if (oc == 1) {
            float sum = 0;
            for (int ch = 0; ch < w.channels; ch++)
                sum += s[ch];
            d[i] = sum / (float)w.channels * k;
        } else {
            for (int ch = 0; ch < oc; ch++)
                d[i * oc + ch] = s[ch] * k;
        }
    }
    t->dtype = EMBER_DT_FLOAT;
    t->dims[0] = 1;
    t->dims[1] = w.frames;
    t->rank = 2;
    if (oc > 1) {
        t->dims[2] = oc;
        t->rank = 3;
    }
    t->data = d;
    ember_wav_free(&w);
    return 0;
}

/* ---- Classification extension ---- */

typedef struct scored {
    double score;
    int64_t index;
} scored;

/* Highest first, NaN last, ties by lower index. */
static int scored_cmp(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    int xn = isnan(x->score), yn = isnan(y->score);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static double element(const ember_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case EMBER_DT_FLOAT: return ((const float *)t->data)[i];
    case EMBER_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case EMBER_DT_INT32: return ((const int32_t *)t->data)[i];
    case EMBER_DT_INT8: return ((const int8_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i]; /* UINT8, BOOL */
    }
}

int ember_classify_topk(const ember_tensor *scores, int k, const char *const *labels, int nlabels,
                        char ***out, int *nout, ember_err *err)
{
    *out = NULL;
    *nout = 0;
    if (k < 1 || k > EMBER_CLASSIFY_MAX_K)
        return ember_err_set(err, EMBER_EINVAL, "classification: %d is outside 1..%d", k,
                             EMBER_CLASSIFY_MAX_K);
    ember_dtype dt = scores->dtype;
    if (dt != EMBER_DT_FLOAT && dt != EMBER_DT_INT64 && dt != EMBER_DT_INT32 &&
        dt != EMBER_DT_INT8 && dt != EMBER_DT_UINT8 && dt != EMBER_DT_BOOL)
        return ember_err_set(err, EMBER_EINVAL, "classification: unsupported datatype");
    /* proto needs only the engine's header, so the count is done here. */
    int64_t n = 1;
    for (int i = 0; i < scores->rank && n > 0; i++)
        n = scores->dims[i] < 0 || scores->dims[i] > EMBER_KSERVE_MAX_ELEMENTS
                ? -1
                : n * scores->dims[i];
    int64_t rows = scores->rank >= 2 ? scores->dims[0] : 1;
    if (n > EMBER_KSERVE_MAX_ELEMENTS)
        return ember_err_set(err, EMBER_EINVAL, "classification: the output is too large");
    if (n < 1 || rows < 1)
        return ember_err_set(err, EMBER_EINVAL, "classification: the output is empty");
    int64_t cols = n / rows;
    int kk = cols < k ? (int)cols : k;
    if (rows * kk > EMBER_KSERVE_MAX_ELEMENTS)
        return ember_err_set(err, EMBER_EINVAL, "classification: too many results");
    scored *s = malloc((size_t)cols * sizeof *s);
    int64_t total = rows * kk;
    /* First pass sizes the block, the second fills it. */
    size_t bytes = (size_t)total * sizeof(char *);
    char **res = NULL;
    char *text = NULL;
    for (int pass = 0; pass < 2 && s; pass++) {
        if (pass == 1) {
            res = malloc(bytes);
            if (!res)
                break;
            text = (char *)(res + total);
        }
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++)
                s[i] = (scored){element(scores, r * cols + i), i};
            qsort(s, (size_t)cols, sizeof *s, scored_cmp);
            for (int j = 0; j < kk; j++) {
                int64_t idx = s[j].index;
                const char *label = labels && idx < nlabels ? labels[idx] : NULL;
                char one[64];
                int m = snprintf(one, sizeof one, "%g:%lld", s[j].score, (long long)idx);
                size_t need = (size_t)m + (label ? 1 + strlen(label) : 0) + 1;
                if (pass == 0) {
                    bytes += need;
                } else {
                    res[r * kk + j] = text;
                    text += sprintf(text, "%s%s%s", one, label ? ":" : "", label ? label : "") + 1;
                }
            }
        }
    }
    free(s);
    if (!res)
        return ember_err_set(err, EMBER_ENOMEM, "classification: out of memory");
    *out = res;
    *nout = (int)total;
    return 0;
}
