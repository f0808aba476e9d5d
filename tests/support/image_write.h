/*
 * Test support: PNG, JPEG and WAV files written into memory with libpng and libjpeg (and by
 * hand for WAV), so media tests make their own inputs instead of shipping third-party
 * files. Failures fail the calling Check test.
 */
#ifndef EMBER_TEST_IMAGE_WRITE_H
#define EMBER_TEST_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct membuf {
    unsigned char *p; /* malloc'd; the caller frees it */
    size_t len, cap;
} membuf;

void membuf_put(membuf *m, const void *data, size_t n);

/* color_type PNG_COLOR_TYPE_GRAY, _RGB or _RGB_ALPHA; depth 8 or 16 (16: pixels are
 * big-endian pairs). */
membuf write_png(int w, int h, int color_type, int depth, int interlace,
                 const unsigned char *pixels);
/* A quality-100 JPEG of comps (1 gray or 3 RGB) interleaved channels. */
membuf write_jpeg(int w, int h, int comps, int progressive, const unsigned char *pixels);
/* Make a PNG from write_png claim to be w x h in its IHDR (its CRC made right again). */
void png_claim_size(membuf *m, uint32_t w, uint32_t h);
/* A PCM16 WAV of frames x channels interleaved samples. */
membuf write_wav(int rate, int channels, int frames, const int16_t *samples);

#endif
