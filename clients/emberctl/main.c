/*
 * emberctl: the command line for emberd.
 *
 * main parses the options every command shares (--socket and --timeout, accepted before or
 * after the command name), then hands the rest of the arguments to the command found in the
 * table below. Commands parse their own options and print their own --help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emberctl.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "unknown"
#endif

static const emberctl_cmd *const commands[] = {
    &emberctl_cmd_health,
    &emberctl_cmd_models,
    &emberctl_cmd_infer,
    &emberctl_cmd_run,
    &emberctl_cmd_bench,
    &emberctl_cmd_compile,
    &emberctl_cmd_inspect,
    &emberctl_cmd_keygen,
    &emberctl_cmd_seal,
    &emberctl_cmd_verify,
    &emberctl_cmd_open,
    &emberctl_cmd_power_sim,
};

#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static const emberctl_cmd *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void print_help(void)
{
    printf("Usage: emberctl [--socket PATH] [--timeout MS] COMMAND [ARG...]\n"
           "       emberctl COMMAND --help\n"
           "       emberctl --help | --version\n"
           "\n"
           "Talk to emberd, the ember inference daemon, over its Unix socket (HTTP/1.1,\n"
           "KServe v2 REST protocol).\n"
           "\n"
           "Commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        printf("  %-10s %s\n", commands[i]->name, commands[i]->summary);
    printf("  %-10s %s\n", "help", "show this help, or a command's with 'help COMMAND'");
    printf("\n"
           "Options (accepted before or after COMMAND):\n"
           "  --socket PATH   emberd's socket; default $" EMBER_CLIENT_SOCKET_ENV " if set, else\n"
           "                  " EMBER_CLIENT_DEFAULT_SOCKET "\n"
           "  --timeout MS    give up on a request emberd has not answered after MS\n"
           "                  milliseconds (default %d; 0 waits forever)\n"
           "  -h, --help      show this help and exit\n"
           "  -V, --version   print emberctl's version and exit\n"
           "\n"
           "Environment:\n"
           "  " EMBER_CLIENT_SOCKET_ENV "    socket path used when --socket is not given\n"
           "\n"
           "Exit status:\n"
           "  0  success\n"
           "  1  emberd answered, but negatively (not ready, or an HTTP error)\n"
           "  2  usage error, unreadable input, or emberd could not be reached\n"
           "\n"
           "Run 'emberctl COMMAND --help' for a command's arguments.\n",
           EMBER_CLIENT_DEFAULT_TIMEOUT_MS);
}

/* If argv[*i] is the global option name (as "--name VALUE" or "--name=VALUE"), store the
 * value, advance *i past it and return 1; -1 when the value is missing; else 0. */
static int take_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        *i += 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

/* Remove --socket and --timeout from argv wherever they are (up to a "--"), storing their
 * values; returns the new argc or -1 after printing a usage error. */
static int strip_global_options(int argc, char **argv, const char **socket_path,
                                const char **timeout)
{
    int out = 1, i = 1;

    while (i < argc) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        int r = take_option(argc, argv, &i, "--socket", socket_path);
        if (r == 0)
            r = take_option(argc, argv, &i, "--timeout", timeout);
        if (r < 0) {
            emberctl_usage_error(NULL, "option '%s' needs a value", argv[i]);
            return -1;
        }
        if (r == 0)
            argv[out++] = argv[i++];
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    emberctl ctl = {.socket_path = NULL, .timeout_ms = 0};
    const char *timeout = NULL;

    argc = strip_global_options(argc, argv, &ctl.socket_path, &timeout);
    if (argc < 0)
        return EMBERCTL_EXIT_USAGE;
    if (!ctl.socket_path)
        ctl.socket_path = ember_client_default_socket();
    if (!*ctl.socket_path)
        return emberctl_usage_error(NULL, "--socket needs a non-empty path");
    if (timeout) {
        int ms;
        if (emberctl_parse_int(timeout, &ms) < 0)
            return emberctl_usage_error(NULL, "--timeout wants milliseconds, not '%s'", timeout);
        ctl.timeout_ms = ms == 0 ? -1 : ms;
    }

    if (argc < 2)
        return emberctl_usage_error(NULL, "no command given");
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_help();
        return EMBERCTL_EXIT_OK;
    }
    if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
        printf("emberctl %s\n", EMBER_VERSION);
        return EMBERCTL_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_help();
            return EMBERCTL_EXIT_OK;
        }
        const emberctl_cmd *cmd = find_command(argv[2]);
        if (!cmd)
            return emberctl_usage_error(NULL, "unknown command '%s'", argv[2]);
        char *help_argv[] = {argv[2], "--help", NULL};
        return cmd->run(&ctl, 2, help_argv);
    }
    if (name[0] == '-')
        return emberctl_usage_error(NULL, "unknown option '%s'", name);
    const emberctl_cmd *cmd = find_command(name);
    if (!cmd)
        return emberctl_usage_error(NULL, "unknown command '%s'", name);
    return cmd->run(&ctl, argc - 1, argv + 1);
}
