/*
 * emberctl seal: turn a compiled .ember model into a sealed bundle (docs/bundle.md), signed
 * with a signer key and encrypted so that only the listed devices can open it. The model is
 * loaded through the engine first, so a damaged or unsupported model fails here, on the build
 * machine, rather than on the device, and what is sealed is the model written again without
 * the kernels' packed weights (ember_model_save_mem_compact): about half the bytes to verify
 * and decrypt on every load, which costs more than packing there. The bundle is written
 * atomically.
 */
#define _GNU_SOURCE /* timegm */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/engine.h>
#include <ember/security.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl seal MODEL.ember --name N --version V --sign SIGNER.key\n"
           "                    --to DEVICE.pub [--to DEVICE.pub ...] [--expires TIME]\n"
           "                    -o SEALED.ember\n"
           "\n"
           "Seal a compiled model (from 'emberctl compile') for deployment: encrypt it with a\n"
           "fresh key (XChaCha20-Poly1305, 64 KiB chunks), wrap that key for each device\n"
           "(--to, 1 to %d), and sign the whole with an Ed25519 signer key. Deploy the\n"
           "result as MODELDIR/N/V/model.ember; emberd opens it only if it trusts the\n"
           "signer for N, it is sealed to its device key and V is not below the highest\n"
           "version of N it has accepted. The format is in docs/bundle.md. What is\n"
           "sealed is the model without its packed weights (emberd packs them on load):\n"
           "about half the bytes to verify and decrypt.\n"
           "\n"
           "Options:\n"
           "  --name N            model name (1-%d of A-Z a-z 0-9 _ . -)\n"
           "  --version V         model version, 1 to %llu\n"
           "  --sign FILE         signer private key (emberctl keygen --signer, or a PEM\n"
           "                      key from 'openssl genpkey -algorithm ed25519'); must not\n"
           "                      be readable by group or others\n"
           "  --to FILE           a device public key (repeat for more devices)\n"
           "  --expires TIME      refuse to load after TIME: Unix seconds, +Nd/+Nh/+Nm/+Ns\n"
           "                      from now, or YYYY-MM-DD[THH:MM:SSZ] (UTC). Default: never\n"
           "  -o, --output FILE   the sealed bundle to write (required)\n"
           "  -h, --help          show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error, an unreadable or invalid model\n"
           "or key, or an output that cannot be written.\n",
           EMBER_BUNDLE_MAX_RECIPIENTS, EMBER_BUNDLE_NAME_MAX,
           (unsigned long long)EMBER_BUNDLE_VERSION_MAX);
}

/* TIME as documented above -> Unix seconds; -1 when it does not parse. */
static int64_t parse_time(const char *s, int64_t now)
{
    char *end;
    if (s[0] == '+') {
        long long n = strtoll(s + 1, &end, 10);
        long long unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
        if (end == s + 1 || n <= 0 || n > 100LL * 365 * 86400 ||
            (*end && (strchr("dhms", *end) == NULL || end[1])))
            return -1;
        return now + n * unit;
    }
    long long v = strtoll(s, &end, 10);
    if (*s >= '0' && *s <= '9' && *end == '\0')
        return v > 0 ? v : -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (rest && *rest == 'T')
        rest = strptime(rest, "T%H:%M:%SZ", &tm);
    if (!rest || *rest)
        return -1;
    return (int64_t)timegm(&tm);
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    enum { OPT_NAME = 256, OPT_VERSION, OPT_SIGN, OPT_TO, OPT_EXPIRES };
    static const struct option longopts[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"version", required_argument, NULL, OPT_VERSION},
        {"sign", required_argument, NULL, OPT_SIGN},
        {"to", required_argument, NULL, OPT_TO},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *version_s = NULL, *sign = NULL, *expires_s = NULL, *out = NULL;
    const char *to[EMBER_BUNDLE_MAX_RECIPIENTS];
    int nto = 0, opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_NAME: name = optarg; break;
        case OPT_VERSION: version_s = optarg; break;
        case OPT_SIGN: sign = optarg; break;
        case OPT_TO:
            if (nto == EMBER_BUNDLE_MAX_RECIPIENTS)
                return emberctl_usage_error("seal", "at most %d --to devices",
                                            EMBER_BUNDLE_MAX_RECIPIENTS);
            to[nto++] = optarg;
            break;
        case OPT_EXPIRES: expires_s = optarg; break;
        case 'o': out = optarg; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default:
            return emberctl_usage_error("seal", "unknown option or missing value: '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("seal", "give exactly one MODEL.ember");
    if (!name || !version_s || !sign || nto == 0 || !out)
        return emberctl_usage_error("seal", "--name, --version, --sign, --to and -o are required");
    int version;
    if (emberctl_parse_int(version_s, &version) < 0 || version < 1)
        return emberctl_usage_error("seal", "--version wants a positive integer, not '%s'",
                                    version_s);
    int64_t now = (int64_t)time(NULL), expires = 0;
    if (expires_s && (expires = parse_time(expires_s, now)) <= 0)
        return emberctl_usage_error("seal", "--expires: cannot read '%s' as a time", expires_s);

    ember_err err = {{0}};
    if (ember_security_init(&err) < 0) {
        emberctl_error("seal: %s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    char *model = NULL;
    size_t model_len = 0;
    if (emberctl_read_file(argv[optind], EMBER_BUNDLE_MAX_PAYLOAD, &model, &model_len) < 0)
        return EMBERCTL_EXIT_USAGE;
    int status = EMBERCTL_EXIT_USAGE;
    ember_key *signer = NULL;
    uint8_t(*recipients)[32] = calloc((size_t)nto, sizeof *recipients);
    uint8_t *bundle = NULL;
    size_t bundle_len = 0;
    void *compact = NULL;
    size_t compact_len = 0;
    ember_model *m = NULL;
    if (ember_bundle_is_sealed(model, model_len)) {
        emberctl_error("seal: %s is already a sealed bundle", argv[optind]);
        goto done;
    }
    if (model_len < 8 || memcmp(model, "EMBERMDL", 8) != 0) {
        emberctl_error("seal: %s is not a compiled model; run 'emberctl compile' first",
                       argv[optind]);
        goto done;
    }
    if (ember_model_load_mem(model, model_len, &m, &err) < 0 ||
        ember_model_save_mem_compact(m, &compact, &compact_len, &err) < 0) {
        emberctl_error("seal: %s: %s", argv[optind], err.msg);
        goto done;
    }
    if (!recipients) {
        emberctl_error("seal: out of memory");
        goto done;
    }
    if (ember_key_load(sign, EMBER_KEY_SIGNER, &signer, &err) < 0) {
        emberctl_error("seal: %s", err.msg);
        goto done;
    }
    for (int i = 0; i < nto; i++) {
        if (ember_pubkey_load(to[i], EMBER_KEY_DEVICE, recipients[i], &err) < 0) {
            emberctl_error("seal: %s", err.msg);
            goto done;
        }
    }
    ember_seal_params p = {
        .name = name,
        .version = (uint64_t)version,
        .created = now,
        .expires = expires,
        .signer = signer,
        .recipients = (const uint8_t(*)[32])recipients,
        .nrecipients = nto,
    };
    if (ember_bundle_seal(&p, compact, compact_len, &bundle, &bundle_len, &err) < 0 ||
        ember_sec_write_file(out, bundle, bundle_len, 0644, &err) < 0) {
        emberctl_error("seal: %s", err.msg);
        goto done;
    }
    char id[EMBER_KEY_ID_HEX];
    ember_key_id_hex(signer, id);
    printf("wrote %s: %s version %d, %zu bytes, signed by %s, sealed to %d device(s)\n", out, name,
           version, bundle_len, id, nto);
    status = EMBERCTL_EXIT_OK;
done:
    ember_model_free(m);
    ember_key_free(signer);
    free(recipients);
    free(bundle);
    free(compact);
    free(model);
    return status;
}

const emberctl_cmd emberctl_cmd_seal = {
    .name = "seal",
    .summary = "sign and encrypt a compiled model for devices (no daemon)",
    .run = run,
};
