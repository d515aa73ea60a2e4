/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-out decision: facts in, status out (pure, no I/O). */
#ifndef UFFD_SHIM_POLICY_H
#define UFFD_SHIM_POLICY_H

#include <glib.h>
#include <sys/stat.h>
#include "grants.h"
#include "libvirt-record.h"
#include "peer.h"

typedef struct {
    dev_t dev;
    ino_t ino;
} UffdShimFileId;

typedef struct {
    uid_t qemu_uid;
    const UffdShimPeer *peer;
    const UffdShimFileId *emulators; /* identities of the allowed emulator binaries */
    gsize n_emulators;
    /* The grant of the domain whose pid file names the peer and whose lock the
     * peer holds, or NULL if there is no such domain among the grants. */
    const UffdShimGrant *grant;
    /* That domain's status XML, or NULL if it could not be read. */
    const UffdShimLibvirtRecord *status;
    gboolean domain_allowed;        /* config allow/deny lists */
    gint64 now;
} UffdShimPolicyInput;

/* Returns UFFD_SHIM_OK or the denial's status code. The checks run in a
 * fixed order so a denial always names the first failed condition. */
int uffd_shim_policy_decide (const UffdShimPolicyInput *in);

#endif
