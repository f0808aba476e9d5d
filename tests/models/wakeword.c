/*
 * The openWakeWord pipeline through ember, end to end, on real speech.
 *
 * For each WAV: 16 kHz PCM16 samples as float [1, N] into melspectrogram.onnx, its
 * [1,1,F,32] output mapped x/10 + 2; windows of 76 mel frames every 8 frames through
 * embedding_model.onnx give one 96-d embedding each; every head scores each run of its last
 * T embeddings and keeps its best. The clip named after a head must reach >= 0.5 on that head
 * and < 0.1 on every other; the negative clip < 0.1 everywhere. ember's scores are printed
 * beside ONNX Runtime's from scores-onnxruntime.txt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/engine.h>
#include <ember/proto.h>

#define MEL_BINS 32
#define WINDOW 76
#define STEP 8
#define EMB 96

static const char *heads[] = {"hey_jarvis_v0.1", "alexa_v0.1", "hey_mycroft_v0.1", "weather_v0.1"};
#define NHEADS 4
static const char *clips[] = {"hey_jarvis", "alexa", "negative"};
#define NCLIPS 3

static const char *dir;

static ember_session *open_model(const char *name, ember_model **m)
{
    char path[4096];
    ember_err err = {{0}};
    ember_session *s = NULL;
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    if (ember_model_load(path, m, &err) != 0 || ember_session_create(*m, &s, &err) != 0) {
        printf("FAIL loading %s: %s\n", name, err.msg);
        exit(1);
    }
    return s;
}

static void run1(ember_session *s, const ember_tensor *in, ember_tensor *out, const char *what)
{
    ember_err err = {{0}};
    if (ember_session_run(s, in, 1, out, 1, &err) != 0) {
        printf("FAIL running %s: %s\n", what, err.msg);
        exit(1);
    }
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ORT's score for clip/head from scores-onnxruntime.txt, or -1. */
static double ort_score(const char *scores, const char *clip, const char *head)
{
    char key[128];
    snprintf(key, sizeof key, "%s.wav ", clip);
    const char *line = scores ? strstr(scores, key) : NULL;
    if (!line)
        return -1;
    snprintf(key, sizeof key, "\"%s\":\"", head);
    const char *p = strstr(line, key);
    const char *eol = strchr(line, '\n');
    if (!p || (eol && p > eol))
        return -1;
    return atof(p + strlen(key));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wakeword AUDIO_MODELS_DIR\n");
        return 2;
    }
    dir = argv[1];
    char path[4096];
    snprintf(path, sizeof path, "%s/wakeword/scores-onnxruntime.txt", dir);
    size_t slen;
    char *scores = (char *)read_all(path, &slen);
    if (!scores) {
        printf("SKIP: no wake-word data at %s; it comes with ../shared\n", path);
        return 77;
    }
    scores[slen] = '\0';

    ember_model *mel_m, *emb_m, *head_m[NHEADS];
    ember_session *mel = open_model("melspectrogram", &mel_m);
    ember_session *emb = open_model("embedding_model", &emb_m);
    ember_session *head[NHEADS];
    for (int h = 0; h < NHEADS; h++)
        head[h] = open_model(heads[h], &head_m[h]);

    int failures = 0;
    printf("%-12s %-18s %8s %8s\n", "clip", "head", "ember", "ORT");
    for (int c = 0; c < NCLIPS; c++) {
        snprintf(path, sizeof path, "%s/wakeword/%s.wav", dir, clips[c]);
        size_t len;
        unsigned char *wavbuf = read_all(path, &len);
        ember_wav wav;
        ember_err err = {{0}};
        if (!wavbuf || ember_wav_decode(wavbuf, len, &wav, &err) != 0) {
            printf("FAIL %s: %s\n", path, wavbuf ? err.msg : "cannot read");
            return 1;
        }
        free(wavbuf);
        if (wav.sample_rate != 16000 || wav.channels != 1) {
            printf("FAIL %s: expected 16 kHz mono\n", path);
            return 1;
        }
        float *audio = malloc(sizeof(float) * (size_t)wav.frames);
        for (int64_t i = 0; i < wav.frames; i++)
            audio[i] = wav.samples[i];
        ember_tensor ain = {EMBER_DT_FLOAT, 2, {1, wav.frames}, audio}, mout;
        run1(mel, &ain, &mout, "melspectrogram");
        int64_t frames = mout.dims[2];
        float *melv = malloc(sizeof(float) * (size_t)(frames * MEL_BINS));
        for (int64_t i = 0; i < frames * MEL_BINS; i++)
            melv[i] = ((const float *)mout.data)[i] / 10.0f + 2.0f;

        int64_t nemb = frames >= WINDOW ? (frames - WINDOW) / STEP + 1 : 0;
        float *embs = malloc(sizeof(float) * (size_t)(nemb * EMB + 1));
        for (int64_t w = 0; w < nemb; w++) {
            ember_tensor win = {EMBER_DT_FLOAT, 4, {1, WINDOW, MEL_BINS, 1},
                                melv + w * STEP * MEL_BINS},
                         eout;
            run1(emb, &win, &eout, "embedding_model");
            memcpy(embs + w * EMB, eout.data, sizeof(float) * EMB);
        }

        for (int h = 0; h < NHEADS; h++) {
            int64_t t = ember_model_input(head_m[h], 0)->dims[1];
            double best = 0;
            for (int64_t end = t; end <= nemb; end++) {
                ember_tensor hin = {EMBER_DT_FLOAT, 3, {1, t, EMB}, embs + (end - t) * EMB}, hout;
                run1(head[h], &hin, &hout, heads[h]);
                double sc = ((const float *)hout.data)[0];
                if (sc > best)
                    best = sc;
            }
            int target = strncmp(heads[h], clips[c], strlen(clips[c])) == 0 &&
                         heads[h][strlen(clips[c])] == '_';
            int ok = target ? best >= 0.5 : best < 0.1;
            printf("%-12s %-18s %8.3f %8.3f%s\n", clips[c], heads[h], best,
                   ort_score(scores, clips[c], heads[h]),
                   ok ? "" : target ? "  FAIL: expected >= 0.5" : "  FAIL: expected < 0.1");
            failures += !ok;
        }
        printf("%-12s (%lld mel frames, %lld embeddings)\n", clips[c], (long long)frames,
               (long long)nemb);
        free(audio);
        free(melv);
        free(embs);
        ember_wav_free(&wav);
    }
    for (int h = 0; h < NHEADS; h++) {
        ember_session_free(head[h]);
        ember_model_free(head_m[h]);
    }
    ember_session_free(emb);
    ember_session_free(mel);
    ember_model_free(emb_m);
    ember_model_free(mel_m);
    free(scores);
    printf("%d passed, %d failed\n", NCLIPS * NHEADS - failures, failures);
    return failures ? 1 : 0;
}
