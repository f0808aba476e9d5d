/*
 * systemd integration through libsystemd's sd-daemon calls, compiled only when meson found
 * libsystemd (EMBERD_HAVE_SYSTEMD). sd_notify is a datagram to $NOTIFY_SOCKET and returns at
 * once, so calling it from the loop thread is safe; without a service manager it does
 * nothing.
 */
#include <stdio.h>

#include "notify.h"

#ifdef EMBERD_HAVE_SYSTEMD
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

int notify_listen_fd(char *why, int cap)
{
    int n = sd_listen_fds(1);
    if (n < 0) {
        snprintf(why, (size_t)cap, "cannot read the sockets systemd passed: error %d", -n);
        return -2;
    }
    if (n == 0)
        return -1;
    if (n > 1) {
        snprintf(why, (size_t)cap, "systemd passed %d sockets; emberd listens on one", n);
        return -2;
    }
    int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
        snprintf(why, (size_t)cap,
                 "the socket systemd passed is not a listening Unix stream socket (set "
                 "ListenStream= to a path)");
        return -2;
    }
    return fd;
}

void notify_send(const char *state)
{
    sd_notify(0, state);
}

uint64_t notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

#else

int notify_listen_fd(char *why, int cap)
{
    (void)why;
    (void)cap;
    return -1;
}

void notify_send(const char *state)
{
    (void)state;
}

uint64_t notify_watchdog_usec(void)
{
    return 0;
}

#endif
