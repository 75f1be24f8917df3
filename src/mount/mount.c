/*
 * mount.c — mnt_run: finds the root's directory (custodyd's root list),
 * refuses a non-empty mount point, mounts with libfuse's multi-threaded
 * loop, and unmounts on SIGTERM / SIGINT. Each FUSE thread talks to
 * custodyd through a client of its own.
 *
 * Kernel caching: attributes and names are cached for 1 s and file pages
 * stay in the page cache across opens while the file's mtime and size are
 * unchanged (libfuse's auto_cache), so a file read twice reaches us once.
 * Roots labelled sensitive get no caching at all: every read reaches this
 * process and is counted in the file's event. See docs/mount.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mount/internal.h"
#include "util/util.h"

static struct mnt *g_mnt; /* the one mount of this process */

struct mnt *mnt_self(void)
{
    return g_mnt;
}

static void client_free(void *c)
{
    custody_client_close(c);
}

custody_client_t *mnt_client(void)
{
    struct mnt *m = g_mnt;
    custody_client_t *c = pthread_getspecific(m->ckey);
    if (!c) {
        c = m->o->new_client(m->o->new_client_arg);
        if (c) pthread_setspecific(m->ckey, c);
    }
    return c;
}

void mnt_resource(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s", g_mnt->o->root, path);
}

int mnt_errno(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case CUSTODY_ENOENT:
    case CUSTODY_ENOROOT:
    case CUSTODY_ENOVERSION:
        return -ENOENT;
    case CUSTODY_EEXIST:
        return -EEXIST;
    case CUSTODY_ENOTDIR:
        return -ENOTDIR;
    case CUSTODY_EISDIR:
        return -EISDIR;
    case CUSTODY_ENOTEMPTY:
        return -ENOTEMPTY;
    case CUSTODY_EBADPATH:
    case CUSTODY_EINVAL:
        return -EINVAL;
    case CUSTODY_ENOSPC:
        return -ENOSPC;
    case CUSTODY_ETOOBIG:
        return -EFBIG;
    case CUSTODY_EXDEV:
        return -EXDEV;
    case CUSTODY_EPERM:
        return -EPERM;
    case CUSTODY_ELOOP:
        return -ELOOP;
    case CUSTODY_ENAMETOOLONG:
        return -ENAMETOOLONG;
    case CUSTODY_EROFS:
        return -EROFS;
    case CUSTODY_EPRECOND:
    case CUSTODY_ECONFLICT:
        return -EBUSY;
    case CUSTODY_ENOMEM:
        return -ENOMEM;
    case CUSTODY_EAGAIN:
        return -EAGAIN;
    case CUSTODY_ETIMEDOUT:
        return -ETIMEDOUT;
    case CUSTODY_EESCAPE:
    case CUSTODY_EUNAUTH:
    case CUSTODY_EDENIED:
    case CUSTODY_EBADTOKEN:
    case CUSTODY_EEXPIRED:
    case CUSTODY_EREVOKED:
    case CUSTODY_EQUARANTINED:
    case CUSTODY_EBADSIG:
    case CUSTODY_EREPLAY:
        return -EACCES;
    case CUSTODY_EUNSUPPORTED:
        return -EOPNOTSUPP;
    default:
        return -EIO; /* custodyd unreachable, the audit log failing, ... */
    }
}

int mnt_fail(const char *what, const char *path, int rc)
{
    int e = mnt_errno(rc);
    if (e != -ENOENT && e != -EEXIST && e != -ENOTEMPTY) {
        custody_client_t *c = pthread_getspecific(g_mnt->ckey);
        const char *msg = c ? custody_client_last_error(c) : NULL;
        fprintf(stderr, "custody mount: %s %s:%s: %s (%s)\n", what, g_mnt->o->root, path,
                msg && *msg ? msg : custody_strerror(rc), custody_err_code(rc));
    }
    return e;
}

int mnt_open_beneath(const char *path, int flags)
{
    const char *rel = path[0] == '/' ? path + 1 : path;
    if (!*rel) rel = ".";
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, g_mnt->rootfd, rel, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

int mnt_chattr(const char *path, const mode_t *mode, const struct timespec ts[2])
{
    int fd = mnt_open_beneath(path, O_PATH);
    if (fd < 0) return fd;
    /* an O_PATH fd takes neither fchmod nor futimens: go through its /proc link */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int rc = 0;
    if (mode && chmod(proc, *mode & 07777) != 0) rc = -errno;
    if (!rc && ts && utimensat(AT_FDCWD, proc, ts, 0) != 0) rc = -errno;
    close(fd);
    return rc;
}

void *mnt_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    struct mnt *m = g_mnt;
    (void)conn;
    cfg->use_ino = 0;
    cfg->nullpath_ok = 0;
    cfg->negative_timeout = 0;
    if (m->sensitive) {
        cfg->entry_timeout = cfg->attr_timeout = 0;
        cfg->direct_io = 1;
        cfg->auto_cache = 0;
    } else {
        cfg->entry_timeout = cfg->attr_timeout = 1.0;
        cfg->auto_cache = 1;
        cfg->kernel_cache = 0;
    }
    return m;
}

/* The root's directory on this host, from custodyd's list of roots. */
static int find_root(custody_client_t *c, const char *name, char **path, bool *labelled)
{
    custody_root_t *roots = NULL;
    size_t n = 0;
    int rc = custody_root_list(c, &roots, &n);
    if (rc) return rc;
    rc = CUSTODY_ENOROOT;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(roots[i].name, name) != 0) continue;
        *path = util_strdup(roots[i].path);
        *labelled = false;
        const char *want = g_mnt->o->sensitive_label;
        for (size_t k = 0; want && *want && k < roots[i].nlabels; k++) {
            const char *key = roots[i].labels[k].key, *v = roots[i].labels[k].value;
            if ((key && strcasecmp(key, want) == 0) || (v && strcasecmp(v, want) == 0))
                *labelled = true;
        }
        rc = 0;
    }
    custody_roots_free(roots, n);
    return rc;
}

static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return true; /* the mount reports the real error */
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = false;
    closedir(d);
    return empty;
}

int mnt_run(const struct mnt_opts *o)
{
    struct mnt m = {.o = o, .rootfd = -1};
    pthread_mutex_init(&m.mu, NULL);
    pthread_key_create(&m.ckey, client_free);
    g_mnt = &m;
    custody_client_t *c = mnt_client();
    char *path = NULL;
    int rc = c ? find_root(c, o->root, &path, &m.sensitive) : CUSTODY_ECONNECT;
    if (rc) {
        fprintf(stderr, "custody mount: root \"%s\": %s (%s)\n", o->root,
                c && *custody_client_last_error(c) ? custody_client_last_error(c)
                                                   : custody_strerror(rc),
                custody_err_code(rc));
        goto out;
    }
    m.rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m.rootfd < 0) {
        rc = custody_err_from_errno(errno);
        fprintf(stderr, "custody mount: %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (!o->allow_nonempty && !dir_is_empty(o->mountpoint)) {
        fprintf(stderr,
                "custody mount: %s is not empty (its files would be hidden; --nonempty mounts "
                "over it anyway)\n",
                o->mountpoint);
        rc = CUSTODY_ENOTEMPTY;
        goto out;
    }
    snprintf(m.tmpdir, sizeof m.tmpdir, "%s/tmp", o->state_dir);
    mkdir(m.tmpdir, 0700);

    char fsname[128];
    snprintf(fsname, sizeof fsname, "fsname=custody:%s,subtype=custody,default_permissions",
             o->root);
    char *argv[] = {"custody-mount", "-o", fsname, o->debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
    struct fuse *f = fuse_new(&args, &mnt_ops, sizeof mnt_ops, &m);
    if (!f) {
        rc = CUSTODY_EINTERNAL;
        goto out_args;
    }
    if (fuse_mount(f, o->mountpoint) != 0) {
        fprintf(stderr, "custody mount: cannot mount on %s\n", o->mountpoint);
        rc = CUSTODY_EPERM;
        fuse_destroy(f);
        goto out_args;
    }
    if ((rc = mnt_audit_start(&m)) != 0) {
        fprintf(stderr, "custody mount: cannot start the usage reporter\n");
        fuse_unmount(f);
        fuse_destroy(f);
        goto out_args;
    }
    struct fuse_session *se = fuse_get_session(f);
    fuse_set_signal_handlers(se);
    if (!o->quiet)
        fprintf(stderr, "custody mount: %s:/ on %s (%s)\n", o->root, o->mountpoint,
                m.sensitive ? "sensitive root: no kernel caching" : "kernel caching on");
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, 16);
    fuse_loop_cfg_set_idle_threads(lc, 16); /* threads keep their clients (and connections) */
    int lrc = fuse_loop_mt(f, lc);
    fuse_loop_cfg_destroy(lc);
    fuse_remove_signal_handlers(se);
    mnt_files_close_all();
    mnt_audit_stop(&m);
    fuse_unmount(f);
    fuse_destroy(f);
    rc = lrc < 0 ? CUSTODY_EIO : 0;
    if (!o->quiet) fprintf(stderr, "custody mount: %s unmounted\n", o->mountpoint);
out_args:
    fuse_opt_free_args(&args);
out:
    free(path);
    if (m.rootfd >= 0) close(m.rootfd);
    /* the main thread's client (the others went with their threads) */
    custody_client_t *mine = pthread_getspecific(m.ckey);
    if (mine) {
        pthread_setspecific(m.ckey, NULL);
        custody_client_close(mine);
    }
    g_mnt = NULL;
    return rc;
}
