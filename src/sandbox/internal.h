/*
 * internal.h — the sandbox's own helpers (src/sandbox only).
 */
#ifndef CUSTODY_SANDBOX_INTERNAL_H
#define CUSTODY_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

/* One line of /proc/self/mountinfo. */
struct sbx_mount {
    unsigned major, minor;
    char *root;   /* the mounted directory, relative to its filesystem's root */
    char *point;  /* where it is mounted */
    char *fstype; /* "ext4", "fuse.custody", ... */
};

/* This mount namespace's mounts in mountinfo order (parents before the
 * mounts on top of them). */
int sbx_mounts_read(struct sbx_mount **out, size_t *n);
void sbx_mounts_free(struct sbx_mount *m, size_t n);
/* The same from mountinfo text (fuzz/fuzz_mountinfo.c); lines that do not
 * have its shape are skipped. */
int sbx_mounts_parse(const char *buf, size_t len, struct sbx_mount **out, size_t *n);

/* Enforces the Landlock domain (landlock.c). */
int sbx_landlock_enforce(struct strbuf *err);

#endif
