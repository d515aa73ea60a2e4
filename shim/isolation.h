/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's isolation after setup: privileges dropped, then a seccomp allow-list. */
#ifndef UFFD_SHIM_ISOLATION_H
#define UFFD_SHIM_ISOLATION_H

#include <glib.h>

/* Stage 1. Keeps only CAP_SYS_PTRACE, clears the bounding and ambient sets,
 * sets no-new-privs and makes the process non-dumpable. Without root it only
 * sets no-new-privs and non-dumpable (tests run the broker unprivileged). */
gboolean uffd_shim_drop_privileges (GError **error);

typedef enum {
    UFFD_SHIM_SECCOMP_KILL, /* default: a syscall outside the list kills the broker */
    UFFD_SHIM_SECCOMP_LOG,  /* diagnosis: such a syscall is allowed and logged by the kernel */
    UFFD_SHIM_SECCOMP_OFF,  /* no filter */
} UffdShimSeccompMode;

/* The mode named by $UFFD_SHIM_SECCOMP ("kill", "log" or "off"; unset means
 * kill). FALSE for any other value. */
gboolean uffd_shim_seccomp_mode_from_env (UffdShimSeccompMode *mode, GError **error);

/* Stage 2. Installs the allow-list on every thread of the process. Needs
 * no-new-privs (stage 1 sets it). */
gboolean uffd_shim_seccomp_install (UffdShimSeccompMode mode, GError **error);

#endif
