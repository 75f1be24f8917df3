/*
 * state.c — `custody init`: creates a state directory and whatever of its
 * pieces are missing (see config.h for the layout).
 *
 * Rules:
 *   - Never overwrite. Every file is written to a private temporary file and
 *     link()ed into place; link fails rather than replace a file, even one
 *     that appeared a moment ago, so a file is either complete or absent.
 *   - Secret keys are created with open(O_CREAT | O_EXCL, 0600): they are
 *     never readable by others, not even while being written. Their PEM text
 *     is formatted in an OpenSSL secure-memory BIO (cleared when freed) and
 *     is never logged.
 *   - Idempotent: a second run finds everything and changes nothing. A
 *     missing public half (node.pub, cert.pem) is rebuilt from the existing
 *     private key; a public half without its private key is an error, since
 *     making a new key would leave a mismatched pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config/config.h"

#define CERT_DAYS 365

/* state_init's working state: where, and the message buffer. */
struct init {
    const char *dir; /* absolute state directory */
    struct strbuf *err;
};

static int fail(struct init *in, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a one-line message in the caller's error buffer and returns rc. */
static int fail(struct init *in, int rc, const char *fmt, ...)
{
    if (in->err) {
        va_list ap;
        va_start(ap, fmt);
        sb_vprintf(in->err, fmt, ap);
        sb_puts(in->err, "\n");
        va_end(ap);
    }
    return rc;
}

/* OpenSSL failed: log its error queue (never key material, only reasons),
 * clear it, and return CUSTODY_EINTERNAL with a message. */
static int ssl_fail(struct init *in, const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        log_error("custody init: %s: %s", what, buf);
    }
    return fail(in, CUSTODY_EINTERNAL, "%s failed (OpenSSL)", what);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ------------------------------------------------------------------------ */
/* Files and directories                                                    */
/* ------------------------------------------------------------------------ */

/* Makes directory STATE/rel (rel "" is the state directory itself) with
 * exactly mode when missing. Returns 0 or an error (with a message). */
static int ensure_dir(struct init *in, const char *rel, mode_t mode)
{
    char *path = *rel ? util_path_join(in->dir, rel) : util_strdup(in->dir);
    int rc = 0;
    if (mkdir(path, mode) == 0) {
        /* mkdir's mode is filtered by the umask; set exactly what we mean */
        if (chmod(path, mode) != 0) rc = custody_err_from_errno(errno);
        log_debug("custody init: created %s/", path);
    } else if (errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) != 0)
            rc = custody_err_from_errno(errno);
        else if (!S_ISDIR(st.st_mode))
            rc = CUSTODY_ENOTDIR;
    } else {
        rc = custody_err_from_errno(errno);
    }
    if (rc) fail(in, rc, "cannot create directory %s: %s", path, custody_strerror(rc));
    free(path);
    return rc;
}

/*
 * Creates STATE/rel holding data[0..len) with exactly mode, unless it exists.
 * The temp file is opened O_CREAT|O_EXCL with the final mode, so a 0600 key
 * is never more readable than that. Returns 1 when created, 0 when the file
 * was already there, or a negative error (with a message).
 */
static int create_file(struct init *in, const char *rel, const void *data, size_t len, mode_t mode)
{
    char *path = util_path_join(in->dir, rel);
    struct strbuf tmp = STRBUF_INIT;
    int rc = 0;
    uint8_t rnd[8];
    char rhex[2 * sizeof rnd + 1];

    if (exists(path)) goto out;
    if ((rc = util_random(rnd, sizeof rnd)) != 0) goto out;
    util_hex_encode(rnd, sizeof rnd, rhex);
    sb_printf(&tmp, "%s.tmp.%s", path, rhex);

    int fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = custody_err_from_errno(errno);
        goto out;
    }
    rc = util_write_all(fd, data, len);
    if (!rc && fchmod(fd, mode) != 0) /* exact mode: the umask may have removed bits */
        rc = custody_err_from_errno(errno);
    if (!rc && fsync(fd) != 0) rc = custody_err_from_errno(errno);
    if (close(fd) != 0 && !rc) rc = custody_err_from_errno(errno);
    if (!rc) {
        /* link, unlike rename, never replaces: if the file appeared meanwhile
         * someone else created it, and theirs stays */
        if (link(tmp.buf, path) == 0)
            rc = 1;
        else if (errno != EEXIST)
            rc = custody_err_from_errno(errno);
    }
    unlink(tmp.buf);
    if (rc == 1) {
        char *slash = strrchr(path, '/');
        *slash = '\0';
        util_fsync_dir(path);
        *slash = '/';
        log_debug("custody init: created %s", path);
    }
out:
    if (rc < 0) fail(in, rc, "cannot create %s: %s", path, custody_strerror(rc));
    sb_free(&tmp);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Keys and the certificate                                                 */
/* ------------------------------------------------------------------------ */

/* What to write into a BIO: a private key (PKCS#8), a public key, a cert. */
enum pem_kind { PEM_PRIVATE_KEY, PEM_PUBLIC_KEY, PEM_CERT };

/* Writes obj as PEM to STATE/rel. A private key is formatted in a secure
 * memory BIO (cleared on free) and written from there, never copied. Returns 1 created, 0 existed,
 * or an error. */
static int write_pem(struct init *in, const char *rel, enum pem_kind kind, void *obj, mode_t mode)
{
    BIO *bio = BIO_new(kind == PEM_PRIVATE_KEY ? BIO_s_secmem() : BIO_s_mem());
    if (!bio) return ssl_fail(in, "BIO_new");
    int ok;
    if (kind == PEM_PRIVATE_KEY)
        ok = PEM_write_bio_PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL);
    else if (kind == PEM_PUBLIC_KEY)
        ok = PEM_write_bio_PUBKEY(bio, obj);
    else
        ok = PEM_write_bio_X509(bio, obj);
    int rc;
    if (!ok) {
        rc = ssl_fail(in, "writing PEM");
    } else {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        rc = create_file(in, rel, data, (size_t)len, mode);
    }
    BIO_free(bio);
    return rc;
}

/* A passphrase callback that declines: init never prompts on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

static EVP_PKEY *read_private_key(struct init *in, const char *rel)
{
    char *path = util_path_join(in->dir, rel);
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_file(path, "r");
    if (bio) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    if (!pkey) {
        ERR_clear_error();
        fail(in, CUSTODY_EINVAL, "cannot read the private key %s", path);
    }
    free(path);
    return pkey;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!ext) return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A self-signed X.509v3 certificate for localhost, 127.0.0.1 and ::1,
 * valid CERT_DAYS days from now, with a random 127-bit serial. */
static X509 *make_cert(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    BIGNUM *serial = NULL;
    uint8_t rnd[16];
    if (!x || util_random(rnd, sizeof rnd) != 0) goto fail;
    rnd[0] = (uint8_t)((rnd[0] & 0x7f) | 0x40); /* positive and exactly 16 bytes */
    serial = BN_bin2bn(rnd, sizeof rnd, NULL);
    if (!serial || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x))) goto fail;
    if (!X509_set_version(x, X509_VERSION_3) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 24 * 3600) ||
        !X509_set_pubkey(x, pkey))
        goto fail;

    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"custody (development)", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto fail;

    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") ||
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
        add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    /* SHA-256, except for keys that sign without a separate digest (a user's
     * Ed25519 key put in tls/key.pem) */
    int id = EVP_PKEY_get_base_id(pkey);
    const EVP_MD *md = id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
    if (X509_sign(x, pkey, md) <= 0) goto fail;
    BN_free(serial);
    return x;
fail:
    BN_free(serial);
    X509_free(x);
    return NULL;
}

static int write_node_pub(struct init *in, const char *rel, EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519)
        return fail(in, CUSTODY_EINVAL, "the node key is not an Ed25519 key");
    return write_pem(in, rel, PEM_PUBLIC_KEY, pkey, 0644);
}

static int write_cert(struct init *in, const char *rel, EVP_PKEY *pkey)
{
    X509 *x = make_cert(pkey);
    if (!x) return ssl_fail(in, "making the certificate");
    int rc = write_pem(in, rel, PEM_CERT, x, 0644);
    X509_free(x);
    return rc;
}

/* A private key file and the public file made from it. */
struct key_pair {
    const char *priv, *pub;   /* relative to the state directory */
    const char *type, *param; /* EVP_PKEY_Q_keygen's arguments */
    int (*write_public)(struct init *in, const char *rel, EVP_PKEY *pkey);
};

static const struct key_pair node_key = {"keys/node.ed25519", "keys/node.pub", "ED25519", NULL,
                                         write_node_pub};
static const struct key_pair tls_key = {"tls/key.pem", "tls/cert.pem", "EC", "P-256", write_cert};

/*
 * Creates whatever half of kp is missing. A missing private key is generated
 * and written first; if another process wrote one meanwhile, that one wins
 * and the public half is made from it.
 */
static int ensure_pair(struct init *in, const struct key_pair *kp)
{
    char *priv_path = util_path_join(in->dir, kp->priv);
    char *pub_path = util_path_join(in->dir, kp->pub);
    bool have_priv = exists(priv_path), have_pub = exists(pub_path);
    int rc = 0;
    EVP_PKEY *pkey = NULL;

    if (have_priv && have_pub) goto out;
    if (have_pub) {
        rc = fail(in, CUSTODY_EEXIST,
                  "%s exists but its private key %s does not; move %s aside to make a new pair",
                  pub_path, priv_path, pub_path);
        goto out;
    }
    if (!have_priv) {
        pkey = kp->param ? EVP_PKEY_Q_keygen(NULL, NULL, kp->type, kp->param)
                         : EVP_PKEY_Q_keygen(NULL, NULL, kp->type);
        if (!pkey) {
            rc = ssl_fail(in, "generating a key");
            goto out;
        }
        rc = write_pem(in, kp->priv, PEM_PRIVATE_KEY, pkey, 0600);
        if (rc < 0) goto out;
        if (rc == 0) { /* lost a race: use the key that is on disk */
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    if (!pkey && !(pkey = read_private_key(in, kp->priv))) {
        rc = CUSTODY_EINVAL;
        goto out;
    }
    rc = kp->write_public(in, kp->pub, pkey);
out:
    EVP_PKEY_free(pkey);
    free(priv_path);
    free(pub_path);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* config.yaml, roots.yaml and the demo root                                */
/* ------------------------------------------------------------------------ */

/* The host name for the template, if it is sensible text; else "custody". */
static char *template_node_name(void)
{
    struct custody_config *defaults = config_new_default("/");
    char *name = util_strdup(defaults->node_name);
    config_unref(defaults);
    size_t len = strlen(name);
    bool ok = len > 0 && len <= 255 && util_utf8_valid(name, len);
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
    if (!ok) {
        free(name);
        name = util_strdup("custody");
    }
    return name;
}

static int ensure_config(struct init *in)
{
    struct strbuf text = STRBUF_INIT;
    char *name = template_node_name();
    config_template(&text, name);
    int rc = create_file(in, CONFIG_FILE, text.buf, text.len, 0644);
    free(name);
    sb_free(&text);
    return rc < 0 ? rc : 0;
}

static int ensure_roots(struct init *in)
{
    struct cfg_label label = {.key = "classification", .value = "public"};
    struct cfg_root demo = {.name = "demo", .labels = &label, .nlabels = 1};
    demo.path = util_path_join(in->dir, "demo");
    struct strbuf text = STRBUF_INIT;
    int rc = config_format_roots(&demo, 1, &text);
    if (rc == 0)
        rc = create_file(in, CONFIG_ROOTS_FILE, text.buf, text.len, 0600);
    else
        fail(in, rc, "cannot format roots.yaml for %s", demo.path);
    sb_free(&text);
    free(demo.path);
    return rc < 0 ? rc : 0;
}

static const struct {
    const char *rel;
    const char *content;
} demo_files[] = {
    {"demo/README.md", "# The demo root\n"
                       "\n"
                       "`custody init` registered this directory as the root `demo` (see\n"
                       "roots.yaml in the state directory), labelled `classification: public`.\n"
                       "Everything here is an ordinary file: read, write, move and delete it\n"
                       "through custodyd, e.g. `custody cat demo:/hello.txt`, and every change\n"
                       "is kept as a version. Nothing here matters; feel free to experiment.\n"},
    {"demo/hello.txt", "hello from custody\n"},
    {"demo/notes/todo.md", "# To do\n"
                           "\n"
                           "- [x] run `custody init`\n"
                           "- [ ] start custodyd\n"
                           "- [ ] read demo:/hello.txt through the API\n"
                           "- [ ] write a file and look at its versions\n"},
    {"demo/data/numbers.csv", "n,square,cube\n"
                              "1,1,1\n"
                              "2,4,8\n"
                              "3,9,27\n"
                              "4,16,64\n"
                              "5,25,125\n"},
};

/* The starter policy: readable, and the README's `policy explain` tour. */
static const char starter_policy[] =
    "// custody's starter policy (STATE/policy/starter.cedar, written by `custody init`).\n"
    "//\n"
    "// custodyd decides every request with the Cedar policies in the .cedar files\n"
    "// of STATE/policy (read in file name order). Default deny: a request is allowed\n"
    "// only when some permit holds and no forbid does. After editing, check with\n"
    "// `custody policy check` and apply with `custody policy reload` (or SIGHUP);\n"
    "// `custody policy explain` shows why a request is allowed or refused.\n"
    "// docs/policy.md lists the entities and the context custody provides.\n"
    "\n"
    "// The operator (custodyd's own user on its Unix socket) may do anything that\n"
    "// no forbid below refuses.\n"
    "@id(\"operator\")\n"
    "permit (principal is Operator, action, resource);\n"
    "\n"
    "// The demo agent (`custody agent add demo`) may read and write the demo root.\n"
    "@id(\"demo-agent-reads-and-writes-demo\")\n"
    "permit (\n"
    "    principal == Agent::\"demo\",\n"
    "    action in Action::\"readwrite\",\n"
    "    resource in Root::\"demo\"\n"
    ");\n"
    "\n"
    "// The demo agent may see and load the models in the cache (custody model ls).\n"
    "@id(\"demo-agent-loads-models\")\n"
    "permit (\n"
    "    principal == Agent::\"demo\",\n"
    "    action in [Action::\"model.load\", Action::\"model.show\"],\n"
    "    resource is Model\n"
    ");\n"
    "\n"
    "// Nobody reads files labelled classification=phi without a verified\n"
    "// endpoint attestation...\n"
    "@id(\"phi-read-needs-attestation\")\n"
    "forbid (principal, action in [Action::\"read\", Action::\"model.load\"], resource)\n"
    "when { resource has labels && resource.labels has classification &&\n"
    "       resource.labels.classification == \"phi\" }\n"
    "unless { context.attested };\n"
    "\n"
    "// ...and nobody exports them: moving one out of a phi root is refused.\n"
    "@id(\"phi-no-export\")\n"
    "forbid (principal, action == Action::\"move\", resource)\n"
    "when { resource has labels && resource.labels has classification &&\n"
    "       resource.labels.classification == \"phi\" && context has destination &&\n"
    "       !(context.destination.labels has classification &&\n"
    "         context.destination.labels.classification == \"phi\") };\n";

static int ensure_policy(struct init *in)
{
    int rc = ensure_dir(in, "policy", 0700);
    if (!rc)
        rc = create_file(in, "policy/starter.cedar", starter_policy, strlen(starter_policy), 0600);
    return rc < 0 ? rc : 0;
}

static int ensure_demo(struct init *in)
{
    int rc;
    if ((rc = ensure_dir(in, "demo", 0755)) || (rc = ensure_dir(in, "demo/notes", 0755)) ||
        (rc = ensure_dir(in, "demo/data", 0755)))
        return rc;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(demo_files); i++) {
        const char *c = demo_files[i].content;
        if ((rc = create_file(in, demo_files[i].rel, c, strlen(c), 0644)) < 0) return rc;
    }
    return 0;
}

int state_init(const char *state_dir, struct strbuf *err)
{
    char *dir = config_path_absolute(state_dir);
    struct init in = {.dir = dir, .err = err};
    int rc = 0;

    /* the parents as an ordinary mkdir -p would make them, the directory itself private */
    char *parent = util_strdup(dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if ((rc = util_mkdir_p(parent, 0755)) != 0)
            fail(&in, rc, "cannot create directory %s: %s", parent, custody_strerror(rc));
    }
    free(parent);

    if (!rc) rc = ensure_dir(&in, "", 0700);
    if (!rc) rc = ensure_dir(&in, "keys", 0700);
    if (!rc) rc = ensure_dir(&in, "tls", 0700);
    if (!rc) rc = ensure_pair(&in, &node_key);
    if (!rc) rc = ensure_pair(&in, &tls_key);
    if (!rc) rc = ensure_config(&in);
    if (!rc) rc = ensure_roots(&in);
    if (!rc) rc = ensure_demo(&in);
    if (!rc) rc = ensure_policy(&in);
    if (!rc) log_debug("custody init: state directory %s is ready", dir);
    free(dir);
    return rc;
}
