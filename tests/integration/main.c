/*
 * Runner for the integration tests. Every suite runs by default; meson runs one suite per
 * test() through Check's CK_RUN_SUITE, so each shows up (and times out) on its own.
 * All temporary directories live under one root made here and removed at the end.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    /* Short root: a socket path must fit in 108 bytes. */
    snprintf(it_root, sizeof it_root, "%s/ember-it.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(it_root)) {
        perror("mkdtemp");
        return 1;
    }

    SRunner *sr = srunner_create(it_suite_client());
    srunner_add_suite(sr, it_suite_endpoints());
    srunner_add_suite(sr, it_suite_infer());
    srunner_add_suite(sr, it_suite_errors());
    srunner_add_suite(sr, it_suite_connection());
    srunner_add_suite(sr, it_suite_lifecycle());
    srunner_add_suite(sr, it_suite_emberctl());
    srunner_add_suite(sr, it_suite_repository());
    srunner_add_suite(sr, it_suite_config());
    srunner_add_suite(sr, it_suite_scheduling());
    srunner_add_suite(sr, it_suite_http());
    srunner_add_suite(sr, it_suite_binary());
    srunner_add_suite(sr, it_suite_power());
    srunner_add_suite(sr, it_suite_security());
    srunner_add_suite(sr, it_suite_cache());
    srunner_add_suite(sr, it_suite_batch());
    srunner_add_suite(sr, it_suite_media());
    srunner_add_suite(sr, it_suite_answer());
    srunner_add_suite(sr, it_suite_inline());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    int run = srunner_ntests_run(sr);
    srunner_free(sr);

    nftw(it_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (run == 0) {
        fprintf(stderr, "no test ran (CK_RUN_SUITE=%s)\n",
                getenv("CK_RUN_SUITE") ? getenv("CK_RUN_SUITE") : "");
        return 1;
    }
    return failed ? 1 : 0;
}
