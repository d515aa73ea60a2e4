/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's seccomp allow-list, installed once setup is done. */
/* (Not named seccomp.h: that would shadow libseccomp's <seccomp.h>.) */
#ifndef UFFD_SHIM_SECCOMP_FILTER_H
#define UFFD_SHIM_SECCOMP_FILTER_H

#include <glib.h>

typedef enum {
    UFFD_SHIM_SECCOMP_KILL, /* default: a syscall outside the list kills the broker */
    UFFD_SHIM_SECCOMP_LOG,  /* diagnosis: such a syscall is allowed and logged by the kernel */
    UFFD_SHIM_SECCOMP_OFF,  /* no filter */
} UffdShimSeccompMode;

/* The mode named by $UFFD_SHIM_SECCOMP ("kill", "log" or "off"; unset means
 * kill). FALSE for any other value. */
gboolean uffd_shim_seccomp_mode_from_env (UffdShimSeccompMode *mode, GError **error);

/* Installs the allow-list on every thread of the process. Needs
 * no-new-privs (uffd_shim_drop_privileges() sets it). */
gboolean uffd_shim_seccomp_install (UffdShimSeccompMode mode, GError **error);

#endif
