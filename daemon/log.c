/*
 * The log writer. A line is formatted into one buffer and written with a single fputs so
 * that lines from the loop thread and from workers never interleave; the level filter is a
 * plain field of the caller's daemon_log, set once by main().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int prio;
    } levels[] = {
        {"error", LOG_ERR}, {"warn", LOG_WARNING}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(name, levels[i].name) == 0)
            return levels[i].prio;
    return -1;
}

void log_emit(const daemon_log *lg, int prio, const char *fmt, ...)
{
    if (prio > lg->level)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "<%d>", prio);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* One line per event even if a message carried a newline. */
    for (char *p = line + n; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    strcat(line, "\n");
    fputs(line, stderr);
}
