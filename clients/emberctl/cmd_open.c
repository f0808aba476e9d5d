/*
 * emberctl open: for debugging, verify and decrypt a sealed bundle with a device key and write
 * the compiled model inside it to a file (mode 0600). emberd never does this: it decrypts into
 * locked memory only. Rollback floors are not consulted or changed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ember/security.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl open BUNDLE --device-key FILE --trust DIR [--revoked FILE]\n"
           "                    -o MODEL.ember\n"
           "\n"
           "Debugging aid: verify a sealed bundle exactly as emberd does, decrypt it with the\n"
           "device key and write the compiled model it holds to MODEL.ember (mode 0600).\n"
           "This puts the plaintext model on disk; emberd itself never does.\n"
           "\n"
           "Options:\n"
           "  --device-key FILE   the device private key the bundle was sealed to\n"
           "  --trust DIR         trusted signer keys: every DIR/*.pub\n"
           "  --revoked FILE      revoked key ids, one per line\n"
           "  -o, --output FILE   where to write the compiled model (required)\n"
           "  -h, --help          show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 1 when the bundle is refused (the reason is printed),\n"
           "2 for a usage error or unreadable input.\n");
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    enum { OPT_TRUST = 256, OPT_REVOKED, OPT_DEVICE };
    static const struct option longopts[] = {
        {"trust", required_argument, NULL, OPT_TRUST},
        {"revoked", required_argument, NULL, OPT_REVOKED},
        {"device-key", required_argument, NULL, OPT_DEVICE},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *trust_dir = NULL, *revoked = NULL, *device_path = NULL, *out = NULL;
    int opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_TRUST: trust_dir = optarg; break;
        case OPT_REVOKED: revoked = optarg; break;
        case OPT_DEVICE: device_path = optarg; break;
        case 'o': out = optarg; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default:
            return emberctl_usage_error("open", "unknown option or missing value: '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("open", "give exactly one BUNDLE");
    if (!trust_dir || !device_path || !out)
        return emberctl_usage_error("open", "--device-key, --trust and -o are required");

    ember_err err = {{0}};
    ember_trust *trust = NULL;
    ember_key *device = NULL;
    ember_plain *plain = NULL;
    char *buf = NULL;
    size_t len = 0;
    int status = EMBERCTL_EXIT_USAGE;
    if (ember_security_init(&err) < 0 || ember_trust_new(&trust, &err) < 0 ||
        ember_trust_load_dir(trust, trust_dir, &err) < 0 ||
        (revoked && ember_trust_load_revoked(trust, revoked, &err) < 0) ||
        ember_key_load(device_path, EMBER_KEY_DEVICE, &device, &err) < 0) {
        emberctl_error("open: %s", err.msg);
        goto done;
    }
    if (emberctl_read_file(argv[optind], EMBER_BUNDLE_MAX_PAYLOAD * 2, &buf, &len) < 0)
        goto done;
    ember_bundle_info info;
    if (ember_bundle_open(trust, device, buf, len, (int64_t)time(NULL), &plain, &info, &err) < 0) {
        emberctl_error("open: %s: refused: %s", argv[optind], err.msg);
        status = EMBERCTL_EXIT_FAIL;
        goto done;
    }
    if (ember_sec_write_file(out, plain->data, plain->len, 0600, &err) < 0) {
        emberctl_error("open: %s", err.msg);
        goto done;
    }
    printf("wrote %s: %s version %llu, %zu bytes\n", out, info.name,
           (unsigned long long)info.version, plain->len);
    status = EMBERCTL_EXIT_OK;
done:
    ember_plain_free(plain);
    free(buf);
    ember_key_free(device);
    ember_trust_free(trust);
    return status;
}

const emberctl_cmd emberctl_cmd_open = {
    .name = "open",
    .summary = "decrypt a sealed bundle with a device key, for debugging (no daemon)",
    .run = run,
};
