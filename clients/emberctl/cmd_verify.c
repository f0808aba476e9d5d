/*
 * emberctl verify: check a sealed bundle against a trust directory exactly as emberd would
 * before loading it (layout, trusted signer, signature, revocation, name allowed, expiry) and
 * print what it says: model, version, signer, recipients, and, given a device key, whether
 * that device can open it (it tries, and throws the plaintext away).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/security.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl verify BUNDLE --trust DIR [--revoked FILE] [--device-key FILE]\n"
           "\n"
           "Verify a sealed bundle (from 'emberctl seal') the way emberd does before loading\n"
           "it, without decrypting it, and print its model name and version, creation and\n"
           "expiry times, signer, and recipient devices. With --device-key it also opens the\n"
           "bundle in memory to tell whether that device can (nothing is written).\n"
           "\n"
           "Options:\n"
           "  --trust DIR         trusted signer keys: every DIR/*.pub (see docs/security.md)\n"
           "  --revoked FILE      revoked key ids, one per line\n"
           "  --device-key FILE   a device private key (emberctl keygen --device)\n"
           "  -h, --help          show this help and exit\n"
           "\n"
           "Exit status: 0 when the bundle verifies (and, with --device-key, opens), 1 when it\n"
           "is refused (the reason is printed), 2 for a usage error or unreadable input.\n");
}

static void print_time(const char *label, int64_t t)
{
    char buf[64] = "never";
    time_t tt = (time_t)t;
    struct tm tm;
    if (t && gmtime_r(&tt, &tm))
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-12s%s\n", label, buf);
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    enum { OPT_TRUST = 256, OPT_REVOKED, OPT_DEVICE };
    static const struct option longopts[] = {
        {"trust", required_argument, NULL, OPT_TRUST},
        {"revoked", required_argument, NULL, OPT_REVOKED},
        {"device-key", required_argument, NULL, OPT_DEVICE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *trust_dir = NULL, *revoked = NULL, *device_path = NULL;
    int opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_TRUST: trust_dir = optarg; break;
        case OPT_REVOKED: revoked = optarg; break;
        case OPT_DEVICE: device_path = optarg; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default:
            return emberctl_usage_error("verify", "unknown option or missing value: '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("verify", "give exactly one BUNDLE");
    if (!trust_dir)
        return emberctl_usage_error("verify", "--trust DIR is required");

    ember_err err = {{0}};
    ember_trust *trust = NULL;
    ember_key *device = NULL;
    char *buf = NULL;
    size_t len = 0;
    int status = EMBERCTL_EXIT_USAGE;
    if (ember_security_init(&err) < 0 || ember_trust_new(&trust, &err) < 0 ||
        ember_trust_load_dir(trust, trust_dir, &err) < 0 ||
        (revoked && ember_trust_load_revoked(trust, revoked, &err) < 0) ||
        (device_path && ember_key_load(device_path, EMBER_KEY_DEVICE, &device, &err) < 0)) {
        emberctl_error("verify: %s", err.msg);
        goto done;
    }
    if (emberctl_read_file(argv[optind], EMBER_BUNDLE_MAX_PAYLOAD * 2, &buf, &len) < 0)
        goto done;

    ember_bundle_info info;
    int64_t now = (int64_t)time(NULL);
    int rc = ember_bundle_verify(trust, buf, len, now, &info, &err);
    char id[EMBER_KEY_ID_HEX], dev_id[EMBER_KEY_ID_HEX] = "";
    if (device)
        ember_key_id_hex(device, dev_id);
    if (rc == 0) {
        ember_key_id_to_hex(info.signer_id, id);
        printf("%-12s%s version %llu\n", "model:", info.name, (unsigned long long)info.version);
        print_time("created:", info.created);
        print_time("expires:", info.expires);
        printf("%-12s%s (trusted: %s)\n", "signer:", id, info.signer_file);
        printf("%-12s%llu bytes\n", "payload:", (unsigned long long)info.payload_size);
        printf("%-12s%d\n", "recipients:", info.nrecipients);
        for (int i = 0; i < info.nrecipients; i++) {
            ember_key_id_to_hex(info.recipients[i], id);
            printf("  %s%s\n", id, device && strcmp(id, dev_id) == 0 ? "  (this device)" : "");
        }
    }
    if (rc == 0 && device) {
        ember_plain *plain = NULL;
        rc = ember_bundle_open(trust, device, buf, len, now, &plain, NULL, &err);
        ember_plain_free(plain);
        printf("%-12s%s\n", "device:", rc == 0 ? "this device can open it" : err.msg);
    }
    if (rc < 0) {
        emberctl_error("verify: %s: refused: %s", argv[optind], err.msg);
        status = EMBERCTL_EXIT_FAIL;
    } else {
        printf("%-12sOK\n", "verified:");
        status = EMBERCTL_EXIT_OK;
    }
done:
    free(buf);
    ember_key_free(device);
    ember_trust_free(trust);
    return status;
}

const emberctl_cmd emberctl_cmd_verify = {
    .name = "verify",
    .summary = "check a sealed bundle's signature and say who can open it (no daemon)",
    .run = run,
};
