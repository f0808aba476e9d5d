/*
 * The rollback floor: for each model name, the highest version this device ever accepted,
 * kept in a state directory as one small file per name (NAME.floor, a decimal number and a
 * newline). Raising a floor writes a temporary file, fsyncs it, renames it over the old one
 * and fsyncs the directory, so after a crash the file holds the old floor or the new one,
 * never a torn mix. A floor file that does not parse is an error, never "no floor": failing
 * closed is the point.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sec_int.h"

#define FLOOR_FILE_MAX 32

struct ember_rollback {
    char *dir;
};

int ember_rollback_open(const char *dir, ember_rollback **out, ember_err *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return ember_err_set(err, EMBER_EIO, "cannot create state directory %s: %s", dir,
                             strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return ember_err_set(err, EMBER_EIO, "state directory %s is not a directory", dir);
    ember_rollback *rb = calloc(1, sizeof *rb);
    if (!rb || !(rb->dir = strdup(dir))) {
        free(rb);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    }
    *out = rb;
    return 0;
}

void ember_rollback_free(ember_rollback *rb)
{
    if (rb) {
        free(rb->dir);
        free(rb);
    }
}

static int floor_path(const ember_rollback *rb, const char *name, char *path, size_t cap,
                      ember_err *err)
{
    if (!ember_bundle_name_ok(name))
        return ember_err_set(err, EMBER_EINVAL, "invalid model name '%s'", name);
    if (snprintf(path, cap, "%s/%s.floor", rb->dir, name) >= (int)cap)
        return ember_err_set(err, EMBER_EINVAL, "state path too long");
    return 0;
}

int ember_rollback_floor(const ember_rollback *rb, const char *name, uint64_t *floor,
                         ember_err *err)
{
    char path[4096];
    int rc = floor_path(rb, name, path, sizeof path, err);
    if (rc < 0)
        return rc;
    char *text;
    size_t len;
    rc = sec_read_file(path, FLOOR_FILE_MAX, 0, &text, &len, err);
    if (rc == EMBER_ENOTFOUND) {
        *floor = 0;
        return 0;
    }
    if (rc < 0)
        return rc;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    int ok = text[0] >= '1' && text[0] <= '9' && errno == 0 && end && strcmp(end, "\n") == 0 &&
             v <= EMBER_BUNDLE_VERSION_MAX;
    free(text);
    if (!ok)
        return ember_err_set(err, EMBER_EFORMAT,
                             "rollback state %s is damaged; refusing to guess the floor", path);
    *floor = v;
    return 0;
}

int ember_rollback_check(const ember_rollback *rb, const char *name, uint64_t version,
                         ember_err *err)
{
    uint64_t floor;
    int rc = ember_rollback_floor(rb, name, &floor, err);
    if (rc < 0)
        return rc;
    if (version < floor)
        return ember_err_set(err, EMBER_SEC_EROLLBACK,
                             "%s version %llu is older than version %llu, already accepted "
                             "(rollback refused)",
                             name, (unsigned long long)version, (unsigned long long)floor);
    return 0;
}

int ember_rollback_accept(ember_rollback *rb, const char *name, uint64_t version, ember_err *err)
{
    uint64_t floor;
    int rc = ember_rollback_floor(rb, name, &floor, err);
    if (rc < 0)
        return rc;
    if (version <= floor)
        return 0;
    char path[4096], text[FLOOR_FILE_MAX];
    if ((rc = floor_path(rb, name, path, sizeof path, err)) < 0)
        return rc;
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)version);
    return ember_sec_write_file(path, text, (size_t)n, 0600, err);
}
