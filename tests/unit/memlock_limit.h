/*
 * For tests of what happens past RLIMIT_MEMLOCK: runs a step in a child process (the limit
 * cannot be raised back) that has dropped CAP_IPC_LOCK, with which root locks past any limit,
 * and set the limit.
 */
#ifndef EMBER_TEST_MEMLOCK_LIMIT_H
#define EMBER_TEST_MEMLOCK_LIMIT_H

#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ember/err.h>

/* Runs step(arg, err) under a lock limit of bytes; *rc is what it returned and msg (cap
 * bytes) its error message. Returns 0, or -1 when the child could not run or did not finish. */
static inline int memlock_limited(rlim_t bytes, int (*step)(void *arg, ember_err *err),
                                  void *arg, int *rc, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) == 0) {
            d[0].effective &= ~(1u << CAP_IPC_LOCK);
            syscall(SYS_capset, &h, d);
        }
        setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){bytes, bytes});
        ember_err err = {{0}};
        int r = step(arg, &err);
        dprintf(fds[1], "%d %s", r, err.msg);
        _exit(0);
    }
    close(fds[1]);
    char out[512] = "";
    size_t n = 0;
    ssize_t got;
    while (n < sizeof out - 1 && (got = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    close(fds[0]);
    int status, used = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(out, "%d %n", rc, &used) != 1)
        return -1;
    snprintf(msg, cap, "%s", out + used);
    return 0;
}

#endif
