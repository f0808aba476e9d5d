/*
 * emberd's side of systemd: the listening socket a socket unit hands over (sd_listen_fds),
 * readiness and status for Type=notify (READY=1, STATUS=, RELOADING=1, STOPPING=1) and the
 * watchdog keep-alive (WATCHDOG=1). Built without libsystemd every call is a no-op and no
 * socket is inherited.
 */
#ifndef EMBERD_NOTIFY_H
#define EMBERD_NOTIFY_H

#include <stdint.h>

/* The listening Unix stream socket systemd passed (SD_LISTEN_FDS_START), or -1 when there is
 * none. More than one socket, or one that is not a Unix stream socket in listening state, is
 * an error: -2 with a message in why (of cap bytes). Clears $LISTEN_FDS so children do not
 * inherit it. */
int notify_listen_fd(char *why, int cap);

/* Send state (lines such as "READY=1\nSTATUS=serving 2 models") to the service manager;
 * nothing when not run by one. */
void notify_send(const char *state);

/* The watchdog period the service manager asks for, in microseconds; 0 when off. */
uint64_t notify_watchdog_usec(void);

#endif
