/*
 * Unit tests for libember-proto's raw media inputs: JPEG and PNG files this test writes
 * itself with libjpeg and libpng (no third-party images), decoded and taken through each
 * preprocessing step (bilinear resize, center crop, channel order, mean/std, NCHW/NHWC) with
 * values checked against hand-computed ones; libjpeg's DCT scaling; every truncated or
 * corrupt file an error; the pixel limit crossed; WAV bodies for audio models; and the
 * classification extension's top-K strings.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include <ember/proto.h>

#include "image_write.h"

/* ---- Test images ---- */

static unsigned char *solid(int w, int h, int c, const unsigned char *color)
{
    unsigned char *p = malloc((size_t)w * h * c);
    for (int i = 0; i < w * h; i++)
        memcpy(p + (size_t)i * c, color, (size_t)c);
    return p;
}

/* ---- PNG decoding ---- */

START_TEST(test_png_rgb_exact)
{
    const unsigned char px[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252, 0, 128, 255, 9, 8, 7};
    membuf m = write_png(3, 2, PNG_COLOR_TYPE_RGB, 8, 0, px);
    ember_image img;
    ember_err err = {{0}};
    ck_assert_msg(ember_png_decode(m.p, m.len, 0, 0, &img, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.width, 3);
    ck_assert_int_eq(img.height, 2);
    ck_assert_int_eq(img.channels, 3);
    ck_assert_mem_eq(img.pixels, px, sizeof px);
    ember_image_free(&img);
    ck_assert_ptr_null(img.pixels);
    /* The same through ember_image_decode, which tells formats apart by signature. */
    ck_assert_int_eq(ember_image_decode(m.p, m.len, 0, 0, 0, 0, &img, &err), 0);
    ck_assert_mem_eq(img.pixels, px, sizeof px);
    ember_image_free(&img);
    free(m.p);
}
END_TEST

START_TEST(test_png_conversions)
{
    ember_image img;
    ember_err err = {{0}};
    /* Gray to RGB: each value repeated. */
    const unsigned char g[] = {0, 100, 255, 7};
    membuf m = write_png(2, 2, PNG_COLOR_TYPE_GRAY, 8, 0, g);
    ck_assert_int_eq(ember_png_decode(m.p, m.len, 0, 0, &img, &err), 0);
    const unsigned char g3[] = {0, 0, 0, 100, 100, 100, 255, 255, 255, 7, 7, 7};
    ck_assert_mem_eq(img.pixels, g3, sizeof g3);
    ember_image_free(&img);
    free(m.p);
    /* RGB to gray with BT.601 weights: red 255 -> 0.299 * 255 = 76.2, green -> 149.7,
     * blue -> 29.1 (libpng rounds). */
    const unsigned char rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    m = write_png(4, 1, PNG_COLOR_TYPE_RGB, 8, 0, rgb);
    ck_assert_int_eq(ember_png_decode(m.p, m.len, 1, 0, &img, &err), 0);
    ck_assert_int_eq(img.channels, 1);
    ck_assert_int_le(abs(img.pixels[0] - 76), 1);
    ck_assert_int_le(abs(img.pixels[1] - 150), 1);
    ck_assert_int_le(abs(img.pixels[2] - 29), 1);
    ck_assert_int_eq(img.pixels[3], 255);
    ember_image_free(&img);
    free(m.p);
    /* Alpha dropped, 16 bits to 8 (the high byte), interlaced rows in place. */
    const unsigned char rgba[] = {10, 20, 30, 0, 40, 50, 60, 255};
    m = write_png(2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, 1, rgba);
    ck_assert_int_eq(ember_png_decode(m.p, m.len, 0, 0, &img, &err), 0);
    const unsigned char rgb2[] = {10, 20, 30, 40, 50, 60};
    ck_assert_mem_eq(img.pixels, rgb2, sizeof rgb2);
    ember_image_free(&img);
    free(m.p);
    const unsigned char g16[] = {0x12, 0x34, 0xfe, 0xdc};
    m = write_png(2, 1, PNG_COLOR_TYPE_GRAY, 16, 0, g16);
    ck_assert_int_eq(ember_png_decode(m.p, m.len, 1, 0, &img, &err), 0);
    ck_assert_int_eq(img.pixels[0], 0x12);
    ck_assert_int_eq(img.pixels[1], 0xfe);
    ember_image_free(&img);
    free(m.p);
    unsigned char big[16 * 9 * 3];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7);
    m = write_png(16, 9, PNG_COLOR_TYPE_RGB, 8, 1, big);
    ck_assert_int_eq(ember_png_decode(m.p, m.len, 0, 0, &img, &err), 0);
    ck_assert_mem_eq(img.pixels, big, sizeof big);
    ember_image_free(&img);
    free(m.p);
}
END_TEST

START_TEST(test_png_corrupt)
{
    unsigned char px[8 * 8 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (unsigned char)(i * 13);
    membuf m = write_png(8, 8, PNG_COLOR_TYPE_RGB, 8, 0, px);
    ember_image img;
    ember_err err = {{0}};
    /* Every truncation, from an empty body to a missing last byte of IEND. */
    for (size_t n = 0; n < m.len; n++) {
        err.msg[0] = 0;
        int rc = ember_png_decode(m.p, n, 0, 0, &img, &err);
        ck_assert_msg(rc == EMBER_EFORMAT, "prefix %zu of %zu: rc %d", n, m.len, rc);
        ck_assert_ptr_null(img.pixels);
        ck_assert_msg(strncmp(err.msg, "image/png: ", 11) == 0 && strlen(err.msg) > 11,
                      "prefix %zu: '%s'", n, err.msg);
    }
    ck_assert_int_eq(ember_png_decode(m.p, 20, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_str_eq(err.msg, "image/png: the file is truncated");
    /* A flipped bit in the IHDR chunk: its CRC no longer matches. */
    unsigned char *bad = malloc(m.len);
    memcpy(bad, m.p, m.len);
    bad[16] ^= 1;
    ck_assert_int_eq(ember_png_decode(bad, m.len, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "CRC") != NULL, "%s", err.msg);
    /* Not a PNG at all. */
    ck_assert_int_eq(ember_png_decode("GIF89a....", 10, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_str_eq(err.msg, "image/png: not a PNG file");
    ck_assert_int_eq(ember_image_decode("BM......", 8, 0, 0, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_str_eq(err.msg, "image: neither a JPEG nor a PNG file");
    free(bad);
    free(m.p);
}
END_TEST

/* ---- JPEG decoding ---- */

START_TEST(test_jpeg_decode_and_dct_scaling)
{
    const unsigned char color[] = {200, 100, 50};
    unsigned char *px = solid(64, 48, 3, color);
    ember_image img;
    ember_err err = {{0}};
    for (int progressive = 0; progressive < 2; progressive++) {
        membuf m = write_jpeg(64, 48, 3, progressive, px);
        /* Full size: a flat color survives quality 100 within a step or two. */
        ck_assert_msg(ember_jpeg_decode(m.p, m.len, 0, 0, 0, 0, &img, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(img.width, 64);
        ck_assert_int_eq(img.height, 48);
        for (int i = 0; i < 64 * 48 * 3; i++)
            ck_assert_int_le(abs(img.pixels[i] - color[i % 3]), 2);
        ember_image_free(&img);
        /* The smallest 1/8..1 scale that still covers the minimum. */
        static const int want[][4] = {
            {8, 6, 8, 6},    {1, 1, 8, 6},    {9, 6, 16, 12},     {16, 12, 16, 12},
            {17, 1, 32, 24}, {33, 1, 64, 48}, {100, 100, 64, 48},
        };
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            ck_assert_int_eq(
                ember_jpeg_decode(m.p, m.len, 0, want[k][0], want[k][1], 0, &img, &err), 0);
            ck_assert_int_eq(img.width, want[k][2]);
            ck_assert_int_eq(img.height, want[k][3]);
            for (int i = 0; i < img.width * img.height * 3; i++)
                ck_assert_int_le(abs(img.pixels[i] - color[i % 3]), 2);
            ember_image_free(&img);
        }
        /* Gray out of a color JPEG: BT.601 luma of (200,100,50) = 124.2. */
        ck_assert_int_eq(ember_image_decode(m.p, m.len, 1, 0, 0, 0, &img, &err), 0);
        ck_assert_int_eq(img.channels, 1);
        ck_assert_int_le(abs(img.pixels[0] - 124), 2);
        ember_image_free(&img);
        free(m.p);
    }
    free(px);
    /* A gray JPEG decoded as RGB repeats its value. */
    const unsigned char g = 90;
    px = solid(8, 8, 1, &g);
    membuf m = write_jpeg(8, 8, 1, 0, px);
    ck_assert_int_eq(ember_jpeg_decode(m.p, m.len, 0, 0, 0, 0, &img, &err), 0);
    ck_assert_int_eq(img.channels, 3);
    for (int i = 0; i < 8 * 8 * 3; i++)
        ck_assert_int_le(abs(img.pixels[i] - 90), 1);
    ember_image_free(&img);
    free(m.p);
    free(px);
}
END_TEST

START_TEST(test_jpeg_corrupt)
{
    unsigned char px[32 * 32 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (unsigned char)(i * 31);
    membuf m = write_jpeg(32, 32, 3, 0, px);
    ember_image img;
    ember_err err = {{0}};
    /* Every truncation: libjpeg would fill the rest with gray and warn; that is an error. */
    for (size_t n = 0; n < m.len; n++) {
        err.msg[0] = 0;
        int rc = ember_jpeg_decode(m.p, n, 0, 0, 0, 0, &img, &err);
        ck_assert_msg(rc == EMBER_EFORMAT, "prefix %zu of %zu: rc %d", n, m.len, rc);
        ck_assert_ptr_null(img.pixels);
        ck_assert_msg(strncmp(err.msg, "image/jpeg: ", 12) == 0 && strlen(err.msg) > 12,
                      "prefix %zu: '%s'", n, err.msg);
    }
    ck_assert_int_eq(ember_jpeg_decode(m.p, m.len - 2, 0, 0, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "Premature end") != NULL, "%s", err.msg);
    /* Garbage in the entropy-coded data after the headers. */
    unsigned char *bad = malloc(m.len);
    memcpy(bad, m.p, m.len);
    size_t sos = 0;
    for (size_t i = 0; i + 1 < m.len; i++)
        if (bad[i] == 0xff && bad[i + 1] == 0xda)
            sos = i;
    ck_assert_uint_gt(sos, 0);
    for (size_t i = sos + 20; i < sos + 40; i++)
        bad[i] = 0xff;
    ck_assert_int_eq(ember_jpeg_decode(bad, m.len, 0, 0, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(img.pixels);
    /* Headers of a different kind. */
    ck_assert_int_eq(ember_jpeg_decode("\xff\xd8\xff\xe0xx", 6, 0, 0, 0, 0, &img, &err),
                     EMBER_EFORMAT);
    ck_assert_int_eq(ember_jpeg_decode("\x89PNG", 4, 0, 0, 0, 0, &img, &err), EMBER_EFORMAT);
    ck_assert_str_eq(err.msg, "image/jpeg: not a JPEG file");
    free(bad);
    free(m.p);
}
END_TEST

/* ---- Size limits ---- */

START_TEST(test_pixel_limits)
{
    const unsigned char c3[] = {1, 2, 3};
    unsigned char *px = solid(8, 4, 3, c3);
    membuf p = write_png(8, 4, PNG_COLOR_TYPE_RGB, 8, 0, px);
    membuf j = write_jpeg(8, 4, 3, 0, px);
    ember_image img;
    ember_err err = {{0}};
    /* A caller's bound: 32 pixels pass, 31 do not. */
    ck_assert_int_eq(ember_png_decode(p.p, p.len, 0, 32, &img, &err), 0);
    ember_image_free(&img);
    ck_assert_int_eq(ember_png_decode(p.p, p.len, 0, 31, &img, &err), EMBER_ENOMEM);
    ck_assert_msg(strstr(err.msg, "8x4") && strstr(err.msg, "limit of 31"), "%s", err.msg);
    ck_assert_int_eq(ember_jpeg_decode(j.p, j.len, 0, 0, 0, 32, &img, &err), 0);
    ember_image_free(&img);
    ck_assert_int_eq(ember_jpeg_decode(j.p, j.len, 0, 0, 0, 31, &img, &err), EMBER_ENOMEM);
    ck_assert_ptr_null(img.pixels);

    /* EMBER_MEDIA_MAX_PIXELS: headers claiming 8000x8000 (64 M pixels), refused before any
     * pixel is allocated. PNG: IHDR's width and height, with its CRC made right again. */
    ck_assert_int_lt(EMBER_MEDIA_MAX_PIXELS, 8000LL * 8000);
    png_claim_size(&p, 8000, 8000);
    ck_assert_int_eq(ember_png_decode(p.p, p.len, 0, 0, &img, &err), EMBER_ENOMEM);
    ck_assert_msg(strstr(err.msg, "8000x8000"), "%s", err.msg);
    /* EMBER_MEDIA_MAX_SIDE: few pixels, but one side too long. */
    png_claim_size(&p, EMBER_MEDIA_MAX_SIDE + 1, 1);
    ck_assert_int_eq(ember_png_decode(p.p, p.len, 0, 0, &img, &err), EMBER_ENOMEM);
    ck_assert_msg(strstr(err.msg, "65536x1"), "%s", err.msg);
    /* JPEG: the SOF0 segment's height and width. */
    size_t sof = 0;
    for (size_t i = 0; i + 1 < j.len; i++)
        if (j.p[i] == 0xff && j.p[i + 1] == 0xc0 && !sof)
            sof = i;
    ck_assert_uint_gt(sof, 0);
    j.p[sof + 5] = 8000 >> 8;
    j.p[sof + 6] = 8000 & 0xff;
    j.p[sof + 7] = 8000 >> 8;
    j.p[sof + 8] = 8000 & 0xff;
    ck_assert_int_eq(ember_jpeg_decode(j.p, j.len, 0, 0, 0, 0, &img, &err), EMBER_ENOMEM);
    ck_assert_msg(strstr(err.msg, "8000x8000"), "%s", err.msg);
    /* Preprocessing targets are bounded by EMBER_MEDIA_MAX_SIDE. */
    ember_image_prep prep = {.width = EMBER_MEDIA_MAX_SIDE + 1, .height = 1};
    ember_tensor t;
    ck_assert_int_eq(ember_image_preprocess(p.p, p.len, &prep, &t, &err), EMBER_EINVAL);
    /* ... and their tensors by EMBER_KSERVE_MAX_ELEMENTS: 4096x1365x3 fits, x1366 not. */
    ck_assert_int_le(4096 * 1365 * 3, EMBER_KSERVE_MAX_ELEMENTS);
    ck_assert_int_gt(4096 * 1366 * 3, EMBER_KSERVE_MAX_ELEMENTS);
    prep = (ember_image_prep){.width = 4096, .height = 1366};
    ck_assert_int_eq(ember_image_preprocess(p.p, p.len, &prep, &t, &err), EMBER_EINVAL);
    ck_assert_msg(strstr(err.msg, "4096x1366 is more than"), "%s", err.msg);
    /* The image after "shorter side to resize" is bounded by max_pixels too: an 8x4 image
     * with its shorter side to 16 is 32x16 = 512 pixels. */
    memset(px, 9, 8 * 4 * 3);
    membuf q = write_png(8, 4, PNG_COLOR_TYPE_RGB, 8, 0, px);
    prep = (ember_image_prep){.width = 16, .height = 16, .resize = 16, .max_pixels = 512};
    ck_assert_int_eq(ember_image_preprocess(q.p, q.len, &prep, &t, &err), 0);
    ck_assert_float_eq(((float *)t.data)[0], 9);
    free(t.data);
    prep.max_pixels = 511;
    ck_assert_int_eq(ember_image_preprocess(q.p, q.len, &prep, &t, &err), EMBER_ENOMEM);
    ck_assert_msg(strstr(err.msg, "too large"), "%s", err.msg);
    free(q.p);
    ck_assert_int_eq(ember_image_resize(&(ember_image){1, 1, 1, (unsigned char *)c3},
                                        EMBER_MEDIA_MAX_SIDE + 1, 1, &img, &err),
                     EMBER_EINVAL);
    free(px);
    free(p.p);
    free(j.p);
}
END_TEST

/* ---- Preprocessing steps ---- */

START_TEST(test_resize_bilinear)
{
    ember_err err = {{0}};
    ember_image out;
    /* Half-pixel centers: upscaling [0, 100] by 2 samples at -0.25 (clamped to 0), 0.25,
     * 0.75 and 1.25 (clamped to 1): 0, 25, 75, 100. */
    unsigned char a[] = {0, 100};
    ember_image in = {2, 1, 1, a};
    ck_assert_int_eq(ember_image_resize(&in, 4, 1, &out, &err), 0);
    const unsigned char up[] = {0, 25, 75, 100};
    ck_assert_mem_eq(out.pixels, up, 4);
    ember_image_free(&out);
    /* The same vertically. */
    in = (ember_image){1, 2, 1, a};
    ck_assert_int_eq(ember_image_resize(&in, 1, 4, &out, &err), 0);
    ck_assert_mem_eq(out.pixels, up, 4);
    ember_image_free(&out);
    /* Halving [0, 40, 80, 121] samples at 0.5 and 2.5: 20 and 100.5, rounded to 101. */
    unsigned char b[] = {0, 40, 80, 121};
    in = (ember_image){4, 1, 1, b};
    ck_assert_int_eq(ember_image_resize(&in, 2, 1, &out, &err), 0);
    ck_assert_int_eq(out.pixels[0], 20);
    ck_assert_int_eq(out.pixels[1], 101);
    ember_image_free(&out);
    /* 2x2 RGB to 3x3: the center samples (0.5, 0.5), the mean of all four; channels apart. */
    unsigned char q[] = {0, 10, 200, 100, 20, 200, 40, 30, 200, 140, 40, 200};
    in = (ember_image){2, 2, 3, q};
    ck_assert_int_eq(ember_image_resize(&in, 3, 3, &out, &err), 0);
    ck_assert_int_eq(out.pixels[(1 * 3 + 1) * 3 + 0], 70);
    ck_assert_int_eq(out.pixels[(1 * 3 + 1) * 3 + 1], 25);
    ck_assert_int_eq(out.pixels[(1 * 3 + 1) * 3 + 2], 200);
    /* Corners keep the corner pixels. */
    ck_assert_int_eq(out.pixels[0], 0);
    ck_assert_int_eq(out.pixels[(2 * 3 + 2) * 3 + 0], 140);
    ember_image_free(&out);
    /* Same size is a copy. */
    ck_assert_int_eq(ember_image_resize(&in, 2, 2, &out, &err), 0);
    ck_assert_mem_eq(out.pixels, q, sizeof q);
    ember_image_free(&out);
}
END_TEST

START_TEST(test_crop_center)
{
    ember_err err = {{0}};
    unsigned char p[5 * 3];
    for (int i = 0; i < 15; i++)
        p[i] = (unsigned char)i;
    ember_image in = {5, 3, 1, p}, out;
    /* 5x3 -> 2x1: left (5-2)/2 = 1, top (3-1)/2 = 1: pixels 6 and 7. */
    ck_assert_int_eq(ember_image_crop_center(&in, 2, 1, &out, &err), 0);
    ck_assert_int_eq(out.width, 2);
    ck_assert_int_eq(out.pixels[0], 6);
    ck_assert_int_eq(out.pixels[1], 7);
    ember_image_free(&out);
    ck_assert_int_eq(ember_image_crop_center(&in, 3, 3, &out, &err), 0);
    const unsigned char mid[] = {1, 2, 3, 6, 7, 8, 11, 12, 13};
    ck_assert_mem_eq(out.pixels, mid, sizeof mid);
    ember_image_free(&out);
    ck_assert_int_eq(ember_image_crop_center(&in, 6, 1, &out, &err), EMBER_EINVAL);
    ck_assert_str_eq(err.msg, "crop: 6x1 does not fit in a 5x3 image");
}
END_TEST

START_TEST(test_to_tensor)
{
    ember_err err = {{0}};
    unsigned char p[] = {10, 20, 30, 40, 50, 60};
    ember_image in = {2, 1, 3, p};
    ember_image_prep prep = {.width = 2, .height = 1, .mean = {1, 2, 3}, .std = {2, 4, 5}};
    ember_tensor t;
    /* RGB, NCHW: plane R, then G, then B. */
    ck_assert_int_eq(ember_image_to_tensor(&in, &prep, &t, &err), 0);
    ck_assert_int_eq(t.dtype, EMBER_DT_FLOAT);
    ck_assert_int_eq(t.rank, 4);
    ck_assert_int_eq(t.dims[1], 3);
    ck_assert_int_eq(t.dims[2], 1);
    ck_assert_int_eq(t.dims[3], 2);
    const float nchw[] = {4.5f, 19.5f, 4.5f, 12, 5.4f, 11.4f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(((float *)t.data)[i], nchw[i], 1e-5);
    free(t.data);
    /* BGR, NHWC, scale 1/10: per pixel B, G, R with mean/std of the output channel. */
    prep.order = EMBER_IMAGE_BGR;
    prep.layout = EMBER_IMAGE_NHWC;
    prep.scale = 0.1f;
    ck_assert_int_eq(ember_image_to_tensor(&in, &prep, &t, &err), 0);
    ck_assert_int_eq(t.dims[1], 1);
    ck_assert_int_eq(t.dims[2], 2);
    ck_assert_int_eq(t.dims[3], 3);
    const float nhwc[] = {(3 - 1) / 2.f, (2 - 2) / 4.f, (1 - 3) / 5.f,
                          (6 - 1) / 2.f, (5 - 2) / 4.f, (4 - 3) / 5.f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(((float *)t.data)[i], nhwc[i], 1e-5);
    free(t.data);
    /* Defaults: scale 1, mean 0, std 1 gives the raw values. */
    ember_image_prep plain = {.width = 2, .height = 1};
    ck_assert_int_eq(ember_image_to_tensor(&in, &plain, &t, &err), 0);
    ck_assert_float_eq(((float *)t.data)[1], 40);
    free(t.data);
    /* Mismatches and bad settings. */
    plain.width = 3;
    ck_assert_int_eq(ember_image_to_tensor(&in, &plain, &t, &err), EMBER_EINVAL);
    ck_assert_str_eq(err.msg, "image: 2x1 with 3 channels, the model wants 3x1 with 3");
    plain.width = 2;
    plain.order = EMBER_IMAGE_GRAY;
    ck_assert_int_eq(ember_image_to_tensor(&in, &plain, &t, &err), EMBER_EINVAL);
    plain.order = EMBER_IMAGE_RGB;
    plain.std[1] = -1;
    ck_assert_int_eq(ember_image_to_tensor(&in, &plain, &t, &err), EMBER_EINVAL);
    plain.std[1] = NAN;
    ck_assert_int_eq(ember_image_to_tensor(&in, &plain, &t, &err), EMBER_EINVAL);
    ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(test_preprocess_whole)
{
    ember_err err = {{0}};
    ember_tensor t;
    /* Gray [0, 100] PNG straight to 4x1: the resize values above, then (v/100 - 0.5) / 0.5. */
    const unsigned char g[] = {0, 100};
    membuf m = write_png(2, 1, PNG_COLOR_TYPE_GRAY, 8, 0, g);
    ember_image_prep prep = {.width = 4,
                             .height = 1,
                             .order = EMBER_IMAGE_GRAY,
                             .scale = 0.01f,
                             .mean = {0.5f},
                             .std = {0.5f}};
    ck_assert_msg(ember_image_preprocess(m.p, m.len, &prep, &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(t.dims[1], 1);
    const float want[] = {-1, -0.5f, 0.5f, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(((float *)t.data)[i], want[i], 1e-5);
    free(t.data);
    free(m.p);
    /* A 6x2 PNG whose columns are 0, 50, ..., 250: shorter side to 4 makes it 12x4 (every
     * input column twice, blended at the seams), then the centered 4x4 is output columns
     * 4..7, sampling input x at 1.75, 2.25, 2.75, 3.25: 87.5 -> 88, 112.5 -> 113, 137.5 -> 138,
     * 162.5 -> 163. */
    unsigned char cols[6 * 2 * 3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 6; x++)
            for (int k = 0; k < 3; k++)
                cols[(y * 6 + x) * 3 + k] = (unsigned char)(x * 50 + k);
    m = write_png(6, 2, PNG_COLOR_TYPE_RGB, 8, 0, cols);
    ember_image_prep crop = {.width = 4, .height = 4, .resize = 4, .layout = EMBER_IMAGE_NHWC};
    ck_assert_msg(ember_image_preprocess(m.p, m.len, &crop, &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(t.dims[1], 4);
    ck_assert_int_eq(t.dims[2], 4);
    ck_assert_int_eq(t.dims[3], 3);
    const float row[] = {88, 113, 138, 163};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            ck_assert_float_eq(((float *)t.data)[(y * 4 + x) * 3 + 0], row[x]);
            ck_assert_float_eq(((float *)t.data)[(y * 4 + x) * 3 + 2], row[x] + 2);
        }
    free(t.data);
    free(m.p);
    /* A 256x256 JPEG for a 32x32 model decodes at 1/8 and still has its color. */
    const unsigned char color[] = {30, 160, 220};
    unsigned char *px = solid(256, 256, 3, color);
    m = write_jpeg(256, 256, 3, 0, px);
    ember_image_prep small = {
        .width = 32, .height = 32, .order = EMBER_IMAGE_BGR, .scale = 1.0f / 255};
    ck_assert_int_eq(ember_image_preprocess(m.p, m.len, &small, &t, &err), 0);
    ck_assert_int_eq(t.dims[2], 32);
    for (int i = 0; i < 32 * 32; i++) {
        ck_assert_float_eq_tol(((float *)t.data)[i], 220 / 255.f, 2.5 / 255);
        ck_assert_float_eq_tol(((float *)t.data)[2 * 32 * 32 + i], 30 / 255.f, 2.5 / 255);
    }
    free(t.data);
    /* A resize smaller than the target is a config error. */
    small.resize = 16;
    ck_assert_int_eq(ember_image_preprocess(m.p, m.len, &small, &t, &err), EMBER_EINVAL);
    ck_assert_msg(strstr(err.msg, "resize 16"), "%s", err.msg);
    /* Corrupt bodies come back as the decoder's error. */
    small.resize = 0;
    ck_assert_int_eq(ember_image_preprocess(m.p, m.len / 2, &small, &t, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(t.data);
    free(px);
    free(m.p);
}
END_TEST

/* ---- Audio ---- */

static size_t make_wav(unsigned char *b, int rate, int channels, const int16_t *s, int n)
{
    int bytes = n * 2;
    memcpy(b, "RIFF", 4);
    uint32_t v = (uint32_t)(36 + bytes);
    memcpy(b + 4, &v, 4);
    memcpy(b + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(b + 16, &v, 4);
    uint16_t h = 1;
    memcpy(b + 20, &h, 2);
    h = (uint16_t)channels;
    memcpy(b + 22, &h, 2);
    v = (uint32_t)rate;
    memcpy(b + 24, &v, 4);
    v = (uint32_t)(rate * channels * 2);
    memcpy(b + 28, &v, 4);
    h = (uint16_t)(channels * 2);
    memcpy(b + 32, &h, 2);
    h = 16;
    memcpy(b + 34, &h, 2);
    memcpy(b + 36, "data", 4);
    v = (uint32_t)bytes;
    memcpy(b + 40, &v, 4);
    memcpy(b + 44, s, (size_t)bytes);
    return 44 + (size_t)bytes;
}

START_TEST(test_audio)
{
    unsigned char b[256];
    ember_err err = {{0}};
    ember_tensor t;
    const int16_t mono[] = {0, 16384, -32768, 32767};
    size_t n = make_wav(b, 16000, 1, mono, 4);
    ember_audio_prep prep = {.sample_rate = 16000, .channels = 1};
    ck_assert_msg(ember_audio_preprocess(b, n, &prep, &t, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 1);
    ck_assert_int_eq(t.dims[1], 4);
    const float want[] = {0, 0.5f, -1, 32767 / 32768.f};
    ck_assert_mem_eq(t.data, want, sizeof want);
    free(t.data);
    /* Stereo to a mono model: averaged; to a stereo model: kept, [1, frames, 2]. */
    const int16_t st[] = {100, 300, -200, 0};
    n = make_wav(b, 16000, 2, st, 4);
    prep.scale = 32768;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), 0);
    ck_assert_int_eq(t.dims[1], 2);
    ck_assert_float_eq(((float *)t.data)[0], 200);
    ck_assert_float_eq(((float *)t.data)[1], -100);
    free(t.data);
    prep.channels = 2;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), 0);
    ck_assert_int_eq(t.rank, 3);
    ck_assert_float_eq(((float *)t.data)[1], 300);
    free(t.data);
    /* Rate, channels and length checked against the model. */
    prep.channels = 3;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), EMBER_ESHAPE);
    ck_assert_str_eq(err.msg, "audio/wav: 2 channels, the model wants 3");
    prep.channels = 1;
    prep.sample_rate = 8000;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), EMBER_ESHAPE);
    ck_assert_str_eq(err.msg, "audio/wav: sample rate 16000 Hz, the model wants 8000 Hz");
    prep.sample_rate = 16000;
    prep.frames = 3;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), EMBER_ESHAPE);
    ck_assert_str_eq(err.msg, "audio/wav: 2 samples, the model wants 3");
    prep.frames = 2;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), 0);
    free(t.data);
    /* Truncated and foreign bodies are the WAV decoder's errors. */
    for (size_t k = 0; k < 44; k++)
        ck_assert_int_lt(ember_audio_preprocess(b, k, &prep, &t, &err), 0);
    ck_assert_int_lt(ember_audio_preprocess("\x89PNG\r\n\x1a\n", 8, &prep, &t, &err), 0);
    ck_assert_ptr_null(t.data);
    prep.sample_rate = 0;
    ck_assert_int_eq(ember_audio_preprocess(b, n, &prep, &t, &err), EMBER_EINVAL);
}
END_TEST

/* ---- Classification extension ---- */

START_TEST(test_classify)
{
    ember_err err = {{0}};
    char **s;
    int n;
    float v[] = {0.1f, 0.7f, 0.2f, 0.7f, 0.25f, 3, -1, 0};
    const char *labels[] = {"cat", "dog", "fox"};
    /* One row of three: the top two, labelled. */
    ember_tensor t = {EMBER_DT_FLOAT, 1, {3}, v};
    ck_assert_int_eq(ember_classify_topk(&t, 2, labels, 3, &s, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(s[0], "0.7:1:dog");
    ck_assert_str_eq(s[1], "0.2:2:fox");
    free(s);
    /* Two rows of four: ties by lower index, no label past the list, k clipped to 4. */
    t = (ember_tensor){EMBER_DT_FLOAT, 2, {2, 4}, v};
    ck_assert_int_eq(ember_classify_topk(&t, 9, labels, 3, &s, &n, &err), 0);
    ck_assert_int_eq(n, 8);
    ck_assert_str_eq(s[0], "0.7:1:dog");
    ck_assert_str_eq(s[1], "0.7:3");
    ck_assert_str_eq(s[2], "0.2:2:fox");
    ck_assert_str_eq(s[3], "0.1:0:cat");
    ck_assert_str_eq(s[4], "3:1:dog");
    ck_assert_str_eq(s[5], "0.25:0:cat");
    ck_assert_str_eq(s[6], "0:3");
    ck_assert_str_eq(s[7], "-1:2:fox");
    free(s);
    /* Integer outputs, no labels. */
    int64_t iv[] = {5, -2, 9};
    t = (ember_tensor){EMBER_DT_INT64, 2, {1, 3}, iv};
    ck_assert_int_eq(ember_classify_topk(&t, 1, NULL, 0, &s, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(s[0], "9:2");
    free(s);
    /* K's bounds. */
    ck_assert_int_eq(ember_classify_topk(&t, 0, NULL, 0, &s, &n, &err), EMBER_EINVAL);
    ck_assert_int_eq(ember_classify_topk(&t, EMBER_CLASSIFY_MAX_K + 1, NULL, 0, &s, &n, &err),
                     EMBER_EINVAL);
    ck_assert_str_eq(err.msg, "classification: 1001 is outside 1..1000");
    ck_assert_ptr_null(s);
    t = (ember_tensor){EMBER_DT_FLOAT, 2, {0, 3}, v};
    ck_assert_int_eq(ember_classify_topk(&t, 1, NULL, 0, &s, &n, &err), EMBER_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto-media");
    TCase *tc = tcase_create("media");
    tcase_add_test(tc, test_png_rgb_exact);
    tcase_add_test(tc, test_png_conversions);
    tcase_add_test(tc, test_png_corrupt);
    tcase_add_test(tc, test_jpeg_decode_and_dct_scaling);
    tcase_add_test(tc, test_jpeg_corrupt);
    tcase_add_test(tc, test_pixel_limits);
    tcase_add_test(tc, test_resize_bilinear);
    tcase_add_test(tc, test_crop_center);
    tcase_add_test(tc, test_to_tensor);
    tcase_add_test(tc, test_preprocess_whole);
    tcase_add_test(tc, test_audio);
    tcase_add_test(tc, test_classify);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
