/*
 * state.c — opening the node's audit log from its state directory:
 * STATE/keys/node.ed25519 signs checkpoints, the origin comes from the
 * configuration (default custody/<node name>/<key fingerprint>), and the
 * per-log pseudonym key STATE/ledger/hmac.key (32 random bytes, 0600) is
 * made on first use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "ledger.h"

int ledger_default_origin(const struct custody_config *cfg, const uint8_t pub[32], char *out,
                          size_t len)
{
    if (cfg->audit_origin) {
        util_strlcpy(out, cfg->audit_origin, len);
        return 0;
    }
    uint8_t h[UTIL_SHA256_LEN];
    char hex[17];
    util_sha256(pub, 32, h);
    util_hex_encode(h, 8, hex);
    char node[128];
    size_t o = 0;
    for (const char *p = cfg->node_name ? cfg->node_name : "node"; *p && o + 1 < sizeof node; p++)
        node[o++] = (*p == ' ' || *p == '+' || (unsigned char)*p < 0x20) ? '-' : *p;
    node[o] = '\0';
    snprintf(out, len, "custody/%s/%s", node, hex);
    return 0;
}

int ledger_load_key(const struct custody_config *cfg, struct tlog_key *key, char *origin,
                    size_t origin_len)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/keys/node.ed25519", cfg->state_dir) >= (int)sizeof path)
        return CUSTODY_ENAMETOOLONG;
    struct tlog_key tmp;
    int rc = tlog_key_load_pem(path, "node", TLOG_KEY_ED25519, &tmp);
    if (rc)
        return rc;
    ledger_default_origin(cfg, tmp.pub, origin, origin_len);
    rc = tlog_key_from_seed(origin, TLOG_KEY_ED25519, tmp.priv, key);
    tlog_key_wipe(&tmp);
    return rc;
}

static int load_hmac_key(const char *dir, uint8_t key[32], struct strbuf *err)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/hmac.key", dir) >= (int)sizeof path)
        return CUSTODY_ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        uint8_t k[32];
        if (util_random(k, sizeof k) != 0)
            return CUSTODY_EINTERNAL;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            bool ok = write(fd, k, sizeof k) == (ssize_t)sizeof k && fsync(fd) == 0;
            close(fd);
            OPENSSL_cleanse(k, sizeof k);
            if (!ok) {
                unlink(path);
                sb_printf(err, "%s: cannot write the pseudonym key", path);
                return CUSTODY_EIO;
            }
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        sb_printf(err, "%s: %s", path, strerror(errno));
        return custody_err_from_errno(errno);
    }
    ssize_t n = read(fd, key, 32);
    close(fd);
    if (n != 32) {
        sb_printf(err, "%s: not a 32-byte key", path);
        return CUSTODY_ECONFIG;
    }
    return 0;
}

int ledger_open_state(const struct custody_config *cfg, struct ledger **out, struct strbuf *err)
{
    struct tlog_key key;
    char origin[TLOG_NAME_MAX + 1];
    int rc = ledger_load_key(cfg, &key, origin, sizeof origin);
    if (rc) {
        sb_printf(err, "cannot load the node key %s/keys/node.ed25519: %s", cfg->state_dir,
                  custody_strerror(rc));
        return rc;
    }
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/" LEDGER_DIR, cfg->state_dir) >= (int)sizeof dir)
        return CUSTODY_ENAMETOOLONG;
    if (util_mkdir_p(dir, 0755) != 0) {
        sb_printf(err, "%s: %s", dir, strerror(errno));
        tlog_key_wipe(&key);
        return CUSTODY_EIO;
    }
    struct ledger_privacy pv = {.principal_id = cfg->audit_pseudo_principal,
                                .agent_id = cfg->audit_pseudo_agent,
                                .session_id = cfg->audit_pseudo_session};
    rc = load_hmac_key(dir, pv.key, err);
    if (rc) {
        tlog_key_wipe(&key);
        return rc;
    }
    struct ledger_opts o = {.dir = dir,
                            .origin = origin,
                            .key = &key,
                            .checkpoint_interval_ms = cfg->audit_checkpoint_interval_ms,
                            .batch_max = cfg->audit_batch_max,
                            .privacy = &pv};
    rc = ledger_open(&o, out, err);
    tlog_key_wipe(&key);
    OPENSSL_cleanse(&pv, sizeof pv);
    return rc;
}
