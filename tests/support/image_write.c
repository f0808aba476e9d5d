/*
 * Media files for tests (image_write.h). libpng and libjpeg write into memory buffers; the
 * PNG size patch recomputes IHDR's CRC-32 (the PNG polynomial) by hand; a WAV is its
 * 44-byte RIFF header and the samples, little-endian.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "image_write.h"

void membuf_put(membuf *m, const void *data, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
        ck_assert_ptr_nonnull(m->p);
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void png_mem_write(png_structp png, png_bytep data, size_t n)
{
    membuf_put(png_get_io_ptr(png), data, n);
}

static void png_mem_flush(png_structp png)
{
    (void)png;
}

membuf write_png(int w, int h, int color_type, int depth, int interlace,
                 const unsigned char *pixels)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    int c = color_type == PNG_COLOR_TYPE_GRAY ? 1 : color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t stride = (size_t)w * c * (depth / 8);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)pixels + y * stride;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return m;
}

membuf write_jpeg(int w, int h, int comps, int progressive, const unsigned char *pixels)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, &outlen);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    if (progressive)
        jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)ci.next_scanline * w * comps;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return (membuf){out, outlen, outlen};
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void png_claim_size(membuf *m, uint32_t w, uint32_t h)
{
    /* Signature (8), IHDR's length and type (8), then width and height; the CRC covers the
     * type and the 13 data bytes. */
    ck_assert_uint_ge(m->len, 33);
    be32(m->p + 16, w);
    be32(m->p + 20, h);
    be32(m->p + 29, crc32_png(m->p + 12, 17));
}

static void put_le(membuf *m, uint32_t v, int bytes)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    membuf_put(m, b, (size_t)bytes);
}

membuf write_wav(int rate, int channels, int frames, const int16_t *samples)
{
    membuf m = {0};
    uint32_t data = (uint32_t)frames * (uint32_t)channels * 2;
    membuf_put(&m, "RIFF", 4);
    put_le(&m, 36 + data, 4);
    membuf_put(&m, "WAVEfmt ", 8);
    put_le(&m, 16, 4);
    put_le(&m, 1, 2); /* PCM */
    put_le(&m, (uint32_t)channels, 2);
    put_le(&m, (uint32_t)rate, 4);
    put_le(&m, (uint32_t)rate * (uint32_t)channels * 2, 4);
    put_le(&m, (uint32_t)channels * 2, 2);
    put_le(&m, 16, 2);
    membuf_put(&m, "data", 4);
    put_le(&m, data, 4);
    for (int i = 0; i < frames * channels; i++)
        put_le(&m, (uint16_t)samples[i], 2);
    return m;
}
