/*
 * RIFF/WAVE PCM16 decoding.
 *
 * Walks the chunk list (RIFF "WAVE" then "fmt ", "data" and any others, each padded to an
 * even length), takes the format from "fmt " and the samples from "data". Only 16-bit
 * integer PCM is accepted, which is what microphones on edge boards and every wake-word
 * model here use. Every chunk length is checked against the buffer before it is followed.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#define WAV_MAX_CHANNELS 8

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int ember_wav_decode(const void *buf, size_t len, ember_wav *out, ember_err *err)
{
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    if (len < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WAVE", 4) != 0)
        return ember_err_set(err, EMBER_EFORMAT, "not a WAV file (no RIFF/WAVE header)");
    int have_fmt = 0;
    unsigned channels = 0, bits = 0, format = 0;
    uint32_t rate = 0;
    size_t pos = 12;
    while (pos + 8 <= len) {
        const unsigned char *c = b + pos;
        uint32_t clen = le32(c + 4);
        if (clen > len - pos - 8)
            return ember_err_set(err, EMBER_EFORMAT, "WAV chunk '%.4s' runs past the end", c);
        if (memcmp(c, "fmt ", 4) == 0) {
            if (clen < 16)
                return ember_err_set(err, EMBER_EFORMAT, "WAV 'fmt ' chunk is too short");
            format = le16(c + 8);
            channels = le16(c + 10);
            rate = le32(c + 12);
            bits = le16(c + 22);
            /* WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format GUID. */
            if (format == 0xFFFE && clen >= 40)
                format = le16(c + 8 + 24);
            have_fmt = 1;
        } else if (memcmp(c, "data", 4) == 0) {
            if (!have_fmt)
                return ember_err_set(err, EMBER_EFORMAT, "WAV 'data' comes before 'fmt '");
            if (format != 1 || bits != 16)
                return ember_err_set(err, EMBER_EUNSUPPORTED,
                                     "WAV must be 16-bit integer PCM (got format %u, %u bits)",
                                     format, bits);
            if (channels < 1 || channels > WAV_MAX_CHANNELS || rate < 1 || rate > 384000)
                return ember_err_set(err, EMBER_EFORMAT, "WAV has %u channels at %u Hz",
                                     channels, (unsigned)rate);
            size_t frames = clen / (2u * channels);
            out->samples = malloc(frames * channels * sizeof *out->samples + 1);
            if (!out->samples)
                return ember_err_set(err, EMBER_ENOMEM, "out of memory");
            for (size_t i = 0; i < frames * channels; i++)
                out->samples[i] = (int16_t)le16(c + 8 + 2 * i);
            out->frames = (int64_t)frames;
            out->channels = (int)channels;
            out->sample_rate = (int)rate;
            return 0;
        }
        pos += 8 + (size_t)clen + (clen & 1);
    }
    return ember_err_set(err, EMBER_EFORMAT, "WAV has no 'data' chunk");
}

void ember_wav_free(ember_wav *w)
{
    free(w->samples);
    w->samples = NULL;
}
