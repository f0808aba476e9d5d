/*
 * Real-model equivalence with ONNX Runtime.
 *
 * For every NAME.onnx with a NAME.ref/ folder under the models directory, runs the model on
 * the reference inputs (input_K.npy, in the model's input order) and compares each output
 * with output_K.npy: max |ours - ref| must be <= 1e-4 * max |ref|. Then compiles it as
 * `emberctl compile` does (ember_model_load_unprepared, ember_model_save: the kernels' packed
 * weights go into the file), loads the .ember as emberd does (mapped, packed weights used in
 * place) and requires the same outputs bit for bit. Prints one line per model
 * with the error it reached, and ends with "N passed, M failed". Models named in the
 * --require file must pass; the others are reported but only fail the run when required.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ember/engine.h>
#include <ember/proto.h>

#define MAX_IO 16
#define REL_TOL 1e-4

/* Compiles onnx into dir, loads the result and runs it on in: 0 when every output equals
 * want's bytes exactly (the outputs of the ONNX load), else -1 with why set. */
static int check_compiled(const char *onnx, const char *dir, const ember_tensor *in, int nin,
                          const ember_tensor *want, int nout, char *why, size_t whylen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.ember", dir);
    ember_model *bare = NULL, *m = NULL;
    ember_session *s = NULL;
    ember_tensor got[MAX_IO];
    ember_err err = {{0}};
    int rc = -1;
    if (ember_model_load_unprepared(onnx, &bare, &err) != 0 ||
        ember_model_save(bare, path, &err) != 0 || ember_model_load(path, &m, &err) != 0 ||
        ember_session_create(m, &s, &err) != 0 ||
        ember_session_run(s, in, nin, got, nout, &err) != 0) {
        snprintf(why, whylen, "compiled: %s", err.msg);
        goto out;
    }
    rc = 0;
    for (int i = 0; i < nout && rc == 0; i++) {
        size_t bytes = (size_t)ember_tensor_count(&want[i]) * ember_dtype_size(want[i].dtype);
        if (got[i].dtype != want[i].dtype || got[i].rank != want[i].rank ||
            memcmp(got[i].dims, want[i].dims, sizeof(int64_t) * (size_t)got[i].rank) != 0 ||
            memcmp(got[i].data, want[i].data, bytes) != 0) {
            snprintf(why, whylen, "compiled: output %d differs from the .onnx load's", i);
            rc = -1;
        }
    }
out:
    ember_session_free(s);
    ember_model_free(m);
    ember_model_free(bare);
    unlink(path);
    return rc;
}

static int check_model(const char *onnx, const char *refdir, const char *tmpdir, char *why,
                       size_t whylen)
{
    ember_model *m = NULL;
    ember_session *s = NULL;
    ember_err err = {{0}};
    ember_tensor in[MAX_IO] = {{0}}, want[MAX_IO] = {{0}}, got[MAX_IO];
    int nin = 0, nout = 0, rc = -1;
    char path[8400];

    if (ember_model_load(onnx, &m, &err) != 0) {
        snprintf(why, whylen, "load: %s", err.msg);
        return -1;
    }
    nin = ember_model_ninputs(m);
    nout = ember_model_noutputs(m);
    if (nin > MAX_IO || nout > MAX_IO) {
        snprintf(why, whylen, "too many inputs or outputs");
        goto out;
    }
    for (int i = 0; i < nin; i++) {
        snprintf(path, sizeof path, "%s/input_%d.npy", refdir, i);
        if (ember_npy_load(path, &in[i], &err) != 0) {
            snprintf(why, whylen, "%s", err.msg);
            goto out;
        }
    }
    for (int i = 0; i < nout; i++) {
        snprintf(path, sizeof path, "%s/output_%d.npy", refdir, i);
        if (ember_npy_load(path, &want[i], &err) != 0) {
            snprintf(why, whylen, "%s", err.msg);
            goto out;
        }
    }
    if (ember_session_create(m, &s, &err) != 0 ||
        ember_session_run(s, in, nin, got, nout, &err) != 0) {
        snprintf(why, whylen, "run: %s", err.msg);
        goto out;
    }
    rc = check_compiled(onnx, tmpdir, in, nin, got, nout, why, whylen);
    if (rc)
        goto out;
    why[0] = '\0';
    for (int i = 0; i < nout; i++) {
        const char *name = ember_model_output(m, i)->name;
        if (got[i].dtype != want[i].dtype || got[i].rank != want[i].rank ||
            memcmp(got[i].dims, want[i].dims, sizeof(int64_t) * (size_t)got[i].rank) != 0) {
            snprintf(why, whylen, "output '%s': type or shape differs from the reference", name);
            rc = -1;
            break;
        }
        int64_t n = ember_tensor_count(&want[i]);
        double maxref = 0, maxdiff = 0;
        for (int64_t j = 0; j < n; j++) {
            double a = got[i].dtype == EMBER_DT_FLOAT ? ((float *)got[i].data)[j]
                                                      : (double)((int64_t *)got[i].data)[j];
            double b = want[i].dtype == EMBER_DT_FLOAT ? ((float *)want[i].data)[j]
                                                       : (double)((int64_t *)want[i].data)[j];
            if (fabs(b) > maxref)
                maxref = fabs(b);
            if (!(fabs(a - b) <= maxdiff))
                maxdiff = isnan(a - b) ? INFINITY : fabs(a - b);
        }
        double rel = maxref > 0 ? maxdiff / maxref : maxdiff;
        snprintf(why + strlen(why), whylen - strlen(why), "%s'%s' max|diff| %.3g (%.2g of scale)",
                 i ? ", " : "", name, maxdiff, rel);
        if (i == nout - 1)
            snprintf(why + strlen(why), whylen - strlen(why), "; compiled: identical");
        if (!(rel <= REL_TOL))
            rc = -1;
    }
out:
    for (int i = 0; i < MAX_IO; i++) {
        free(in[i].data);
        free(want[i].data);
    }
    ember_session_free(s);
    ember_model_free(m);
    return rc;
}

static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    if (buf && fread(buf, 1, 65535, f) == 0)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *root = NULL, *require_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--require") == 0 && i + 1 < argc)
            require_file = argv[++i];
        else
            root = argv[i];
    }
    if (!root) {
        fprintf(stderr, "usage: check-models [--require FILE] MODELS_DIR\n");
        return 2;
    }
    char *require = require_file ? read_text(require_file) : NULL;
    if (require_file && !require) {
        fprintf(stderr, "check-models: cannot read %s: %s\n", require_file, strerror(errno));
        return 2;
    }
    static const char *groups[] = {"vision", "audio", "mnist"};
    char *found[256];
    int nfound = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, groups[g]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) && nfound < 256) {
            size_t n = strlen(e->d_name);
            if (n > 4 && strcmp(e->d_name + n - 4, ".ref") == 0) {
                char *p = malloc(strlen(dir) + n + 2);
                sprintf(p, "%s/%.*s", dir, (int)(n - 4), e->d_name);
                found[nfound++] = p;
            }
        }
        closedir(d);
    }
    if (nfound == 0) {
        printf("SKIP: no reference models under %s; they come with ../shared\n", root);
        free(require);
        return 77;
    }
    qsort(found, (size_t)nfound, sizeof *found, by_name);
    char tmpdir[] = "/tmp/check-models-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "check-models: cannot make a temporary directory: %s\n", strerror(errno));
        return 2;
    }
    int passed = 0, failed = 0, required_failed = 0;
    for (int i = 0; i < nfound; i++) {
        char onnx[4200], refdir[4200], why[1024] = "";
        snprintf(onnx, sizeof onnx, "%s.onnx", found[i]);
        snprintf(refdir, sizeof refdir, "%s.ref", found[i]);
        const char *name = strrchr(found[i], '/') + 1;
        int ok = check_model(onnx, refdir, tmpdir, why, sizeof why) == 0;
        int req = listed(require, name);
        printf("%s %-22s %s%s\n", ok ? "ok  " : "FAIL", name, why,
               !ok && !req ? " (not yet required)" : "");
        if (ok)
            passed++;
        else
            failed++;
        if (!ok && req)
            required_failed++;
        free(found[i]);
    }
    rmdir(tmpdir);
    printf("%d passed, %d failed\n", passed, failed);
    free(require);
    if (required_failed) {
        printf("check-models: %d required model(s) failed\n", required_failed);
        return 1;
    }
    return 0;
}
