/*
 * "No allocation while a session runs": this test is linked with -Wl,--wrap for malloc,
 * calloc, realloc and posix_memalign, so every allocation the engine makes goes through the
 * counters below. After the first runs for a shape (recording, then the first planned run),
 * further runs must allocate nothing: the digits model always, and, when ../shared is there,
 * Silero VAD (25 If subgraphs, LSTM) and MobileNetV2.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/engine.h>
#include <ember/proto.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static long allocations;

void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    allocations++;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocations++;
    return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    allocations++;
    return __real_posix_memalign(p, a, n);
}

static char *path_in(const char *env, const char *dflt, const char *rel)
{
    static char buf[4096];
    const char *root = getenv(env);
    snprintf(buf, sizeof buf, "%s/%s", root ? root : dflt, rel);
    return buf;
}

/* The heap after the last steady_allocations: resident and in use. */
static size_t heap_kib, heap_used_kib;

/* Resident KiB of the brk heap ([heap] in /proc/self/smaps). */
static size_t heap_rss_kib(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int inside = 0;
    size_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
            inside = strstr(line, "[heap]") != NULL;
        else if (inside && strncmp(line, "Rss:", 4) == 0)
            kib += strtoul(line + 4, NULL, 10);
    }
    fclose(f);
    return kib;
}

/* Loads model, runs it on inputs five times and returns the allocations of runs 3..5. */
static long steady_allocations(const char *model, ember_tensor *in, int nin)
{
    ember_model *m;
    ember_session *s;
    ember_err err = {{0}};
    ember_tensor out[8];
    ck_assert_msg(ember_model_load(model, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    int nout = ember_model_noutputs(m);
    ck_assert_int_le(nout, 8);
    long before = 0;
    int rc = 0;
    /* No Check assertion inside the counted runs: Check allocates when it records one. */
    for (int run = 0; run < 5 && rc == 0; run++) {
        if (run == 2)
            before = allocations;
        rc = ember_session_run(s, in, nin, out, nout, &err);
    }
    long steady = allocations - before;
    ck_assert_msg(rc == 0, "%s", err.msg);
    heap_kib = heap_rss_kib();
    heap_used_kib = mallinfo2().uordblks / 1024;
    ember_session_free(s);
    ember_model_free(m);
    return steady;
}

START_TEST(digits_runs_allocate_nothing)
{
    float x[3 * 64];
    for (int i = 0; i < 3 * 64; i++)
        x[i] = (float)(i % 17);
    ember_tensor in = {EMBER_DT_FLOAT, 2, {3, 64}, x};
    long n = steady_allocations(path_in("EMBER_SOURCE_ROOT", ".", "models/digits/1/model.onnx"),
                                &in, 1);
    ck_assert_msg(n == 0, "3 steady runs made %ld allocations", n);
}
END_TEST

/* Reference models: inputs from NAME.ref/input_K.npy. */
static const char *const shared_models[] = {"audio/silero_vad_v5", "vision/mobilenet_v2"};

/* Runs shared_models[i] as steady_allocations does, on its reference inputs; 0 when the
 * model is absent (it comes with ../shared). */
static int reference_model_run(int i, long *steady)
{
    char model[4200], npy[4300];
    snprintf(model, sizeof model, "%s.onnx",
             path_in("EMBER_SHARED_MODELS", "../shared/models", shared_models[i]));
    FILE *f = fopen(model, "rb");
    if (!f) {
        printf("skipping %s: %s is absent (it comes with ../shared)\n", shared_models[i], model);
        return 0;
    }
    fclose(f);
    ember_tensor in[4] = {{0}};
    ember_err err = {{0}};
    int nin = 0;
    for (; nin < 4; nin++) {
        snprintf(npy, sizeof npy, "%.*s.ref/input_%d.npy", (int)strlen(model) - 5, model, nin);
        if (ember_npy_load(npy, &in[nin], &err) != 0)
            break;
    }
    ck_assert_int_gt(nin, 0);
    *steady = steady_allocations(model, in, nin);
    for (int k = 0; k < nin; k++)
        free(in[k].data);
    return 1;
}

START_TEST(reference_model_runs_allocate_nothing)
{
    long n;
    if (reference_model_run(_i, &n))
        ck_assert_msg(n == 0, "%s: 3 steady runs made %ld allocations", shared_models[_i], n);
}
END_TEST

/* The recording run mallocs and frees every tensor once; what it freed is given back, not
 * left resident in the heap for the life of the session (7 MB on mobilenet_v2). */
START_TEST(recording_run_heap_is_given_back)
{
    long n;
    if (reference_model_run(_i, &n))
        ck_assert_msg(heap_kib <= heap_used_kib + 1024,
                      "%s: %zu KiB of heap resident, %zu KiB in use", shared_models[_i], heap_kib,
                      heap_used_kib);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noalloc");
    TCase *tc = tcase_create("steady state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, digits_runs_allocate_nothing);
    tcase_add_loop_test(tc, reference_model_runs_allocate_nothing, 0, 2);
    suite_add_tcase(s, tc);
    /* Under qemu-user, /proc/self/smaps describes the emulator's heap, not the model's:
     * make check-arm64 excludes the "needs-native" tag. */
    TCase *native = tcase_create("heap (native)");
    tcase_set_tags(native, "needs-native");
    tcase_set_timeout(native, 120);
    tcase_add_loop_test(native, recording_run_heap_is_given_back, 0, 2);
    suite_add_tcase(s, native);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
