/*
 * emberd's log: one line per event on stderr, prefixed with its syslog priority (<3> error,
 * <4> warning, <6> info, <7> debug) so that journald files each line at the right level.
 */
#ifndef EMBERD_LOG_H
#define EMBERD_LOG_H

#include <syslog.h>

typedef struct daemon_log {
    int level; /* lines with a priority number above this are dropped */
} daemon_log;

/* "error", "warn", "info" or "debug" to a syslog priority; -1 for anything else. */
int log_level_parse(const char *name);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void log_emit(const daemon_log *lg, int prio, const char *fmt, ...);

#define log_error(lg, ...) log_emit((lg), LOG_ERR, __VA_ARGS__)
#define log_warn(lg, ...) log_emit((lg), LOG_WARNING, __VA_ARGS__)
#define log_info(lg, ...) log_emit((lg), LOG_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_emit((lg), LOG_DEBUG, __VA_ARGS__)

#endif
