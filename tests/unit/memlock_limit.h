/*
 * For tests of what happens past RLIMIT_MEMLOCK: in a child process (the limit cannot be
 * raised back), drop CAP_IPC_LOCK, with which root locks past any limit, and set the limit.
 */
#ifndef EMBER_TEST_MEMLOCK_LIMIT_H
#define EMBER_TEST_MEMLOCK_LIMIT_H

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void memlock_limit_set(rlim_t bytes)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) == 0) {
        d[0].effective &= ~(1u << CAP_IPC_LOCK);
        syscall(SYS_capset, &h, d);
    }
    setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){bytes, bytes});
}

#endif
