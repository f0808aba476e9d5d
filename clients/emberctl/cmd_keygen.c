/*
 * emberctl keygen: make a signer (Ed25519) or device (X25519) key pair as NAME.key and
 * NAME.pub. The private key file is created 0600 and never over an existing file; the public
 * one is what goes into a device's trust store (signer) or to `emberctl seal --to` (device).
 */
#include <getopt.h>
#include <stdio.h>

#include <ember/security.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl keygen --signer NAME | --device NAME [-o DIR]\n"
           "\n"
           "Make a key pair and write DIR/NAME.key (private, mode 0600) and DIR/NAME.pub\n"
           "(public). A signer key (Ed25519) signs bundles with 'emberctl seal --sign';\n"
           "its .pub goes into each device's trust directory (emberd --trust). A device\n"
           "key (X25519) opens bundles sealed to it: its .key stays on the device\n"
           "(emberd --device-key), its .pub is given to 'emberctl seal --to'.\n"
           "Existing files are never overwritten. Prints the new key's id.\n"
           "\n"
           "Options:\n"
           "  --signer NAME       make a signer key pair\n"
           "  --device NAME       make a device key pair\n"
           "  -o, --output DIR    write into DIR (default: the current directory)\n"
           "  -h, --help          show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error or a file that cannot be written.\n");
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    enum { OPT_SIGNER = 256, OPT_DEVICE };
    static const struct option longopts[] = {
        {"signer", required_argument, NULL, OPT_SIGNER},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *dir = ".";
    ember_key_kind kind = 0;
    int opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_SIGNER:
        case OPT_DEVICE:
            if (name)
                return emberctl_usage_error("keygen", "give one of --signer NAME, --device NAME");
            name = optarg;
            kind = opt == OPT_SIGNER ? EMBER_KEY_SIGNER : EMBER_KEY_DEVICE;
            break;
        case 'o': dir = optarg; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default:
            return emberctl_usage_error("keygen", "unknown option or missing value: '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind != argc)
        return emberctl_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    if (!name)
        return emberctl_usage_error("keygen", "give --signer NAME or --device NAME");
    ember_err err = {{0}};
    char id[EMBER_KEY_ID_HEX];
    if (ember_security_init(&err) < 0 || ember_keygen(dir, name, kind, id, &err) < 0) {
        emberctl_error("keygen: %s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    printf("wrote %s/%s.key (private, 0600) and %s/%s.pub: %s key %s\n", dir, name, dir, name,
           kind == EMBER_KEY_SIGNER ? "signer" : "device", id);
    return EMBERCTL_EXIT_OK;
}

const emberctl_cmd emberctl_cmd_keygen = {
    .name = "keygen",
    .summary = "make a signer or device key pair (NAME.key, NAME.pub)",
    .run = run,
};
