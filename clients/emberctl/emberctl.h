/*
 * emberctl's internals shared by main.c and the command files.
 *
 * Each command lives in its own cmd_*.c and exports one emberctl_cmd; main.c parses the
 * global options, finds the command in its table and calls run with the command's own
 * arguments (argv[0] is the command name). Adding a command is a new file, its extern below
 * and its line in main.c's table.
 */
#ifndef EMBERCTL_H
#define EMBERCTL_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include <ember/client.h>
#include <ember/engine.h>

/* Exit statuses, the same for every command. */
enum {
    EMBERCTL_EXIT_OK = 0,
    EMBERCTL_EXIT_FAIL = 1,  /* emberd answered, negatively: not ready, an HTTP error */
    EMBERCTL_EXIT_USAGE = 2, /* bad command line, unreadable input, or emberd unreachable */
};

/* Largest request file infer reads; matches emberd's default body limit. */
#define EMBERCTL_MAX_INPUT (64u * 1024 * 1024)

/* Options common to every command. */
typedef struct emberctl {
    const char *socket_path;
    int timeout_ms; /* as ember_client_opts.timeout_ms */
} emberctl;

typedef struct emberctl_cmd {
    const char *name;
    const char *summary; /* one line for `emberctl --help` */
    int (*run)(const emberctl *ctl, int argc, char **argv);
} emberctl_cmd;

extern const emberctl_cmd emberctl_cmd_health;
extern const emberctl_cmd emberctl_cmd_models;
extern const emberctl_cmd emberctl_cmd_infer;
extern const emberctl_cmd emberctl_cmd_run;
extern const emberctl_cmd emberctl_cmd_compile;
extern const emberctl_cmd emberctl_cmd_inspect;
extern const emberctl_cmd emberctl_cmd_bench;
extern const emberctl_cmd emberctl_cmd_keygen;
extern const emberctl_cmd emberctl_cmd_seal;
extern const emberctl_cmd emberctl_cmd_verify;
extern const emberctl_cmd emberctl_cmd_open;
extern const emberctl_cmd emberctl_cmd_power_sim;

/* Print "emberctl: " and the formatted message on stderr. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void emberctl_error(const char *fmt, ...);

/* Print a usage error for cmd ("emberctl CMD: ..." and a pointer to --help) and return
 * EMBERCTL_EXIT_USAGE. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int emberctl_usage_error(const char *cmd, const char *fmt, ...);

/* Parse a non-negative decimal int; 0 on success, -1 if s is not one. */
int emberctl_parse_int(const char *s, int *out);

/* Connect to ctl's socket. On failure prints why and returns EMBERCTL_EXIT_USAGE; on success
 * returns 0 and *out is the caller's to ember_client_close. */
int emberctl_connect(const emberctl *ctl, ember_client **out);

/* One request (body NULL for none, sent as JSON otherwise). On a transport failure prints why
 * and returns EMBERCTL_EXIT_USAGE; on success returns 0 and the caller frees *resp. */
int emberctl_call(ember_client *c, const char *method, const char *path, const char *body,
                  size_t body_len, ember_response *resp);

/* Parse resp's body as JSON; NULL if it is not JSON. Caller frees with cJSON_Delete. */
cJSON *emberctl_body_json(const ember_response *resp);

/* Print j as indented JSON (2 spaces; arrays of scalars, such as tensor data, on one line)
 * followed by a newline. */
void emberctl_print_json(FILE *f, const cJSON *j);

/* Print what an HTTP error response says ("emberctl: WHAT: HTTP 404: <error>") on stderr,
 * using the {"error": "..."} message when the body has one. */
void emberctl_print_http_error(const char *what, const ember_response *resp);

/* Write "/v2/models/NAME[/versions/VERSION]SUFFIX" into buf, percent-encoding name and
 * version; version NULL or "" leaves the version out. Returns 0, or -1 when it does not fit. */
int emberctl_model_path(char *buf, size_t cap, const char *name, const char *version,
                        const char *suffix);

/* Read a whole file ("-" for standard input), at most max bytes. On success *out (NUL-
 * terminated, *len bytes) is the caller's to free. On failure prints why and returns -1. */
int emberctl_read_file(const char *path, size_t max, char **out, size_t *len);

/* Record one -i [NAME=]FILE argument of command cmd in files[] (one slot per model input):
 * at the input NAME names or, for a plain FILE, the first input not yet given; *next tracks
 * that. Returns 0, or prints a usage error and returns EMBERCTL_EXIT_USAGE. */
int emberctl_assign_input(const char *cmd, const ember_model *m, const char *arg, int *next,
                          const char **files);

/* Load the model at path for command cmd and map its -i arguments (inputs[0..ninputs)) onto
 * files[] (cap slots, zeroed by the caller) with emberctl_assign_input. On success *out is
 * the caller's to ember_model_free; on failure prints why, leaves *out NULL and returns
 * EMBERCTL_EXIT_USAGE (also for a model with more than cap inputs or outputs). */
int emberctl_load_model(const char *cmd, const char *path, const char *const *inputs,
                        int ninputs, int cap, ember_model **out, const char **files);

#endif
