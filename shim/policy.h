/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-out decision and the fate of a bound grant: facts in, verdict out (pure, no I/O). */
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
     * peer holds (or the grant already bound to the peer), or NULL if there
     * is no such domain among the grants. */
    const UffdShimGrant *grant;
    /* That domain's status XML, or NULL if it could not be read. */
    const UffdShimLibvirtRecord *status;
    gboolean domain_allowed;        /* config allow/deny lists */
    gboolean last;                  /* the request carries the LAST hint */
    gint64 now;
} UffdShimPolicyInput;

/* Is @g bound to the very process @peer (same pid and start time)? */
gboolean uffd_shim_policy_bound_to (const UffdShimGrant *g, const UffdShimPeer *peer);

/*
 * Returns UFFD_SHIM_OK or the denial's status code. The checks run in a
 * fixed order so a denial always names the first failed condition.
 *
 * Never fail at the switch: what can change between the first hand-out of
 * an incoming migration (QEMU's capability probe, before the source sends
 * anything) and its last one (the switch to postcopy, inside the guest's
 * pause) is not held against the QEMU the grant is bound to: the clock
 * (expiry), the configuration (allow/deny lists, the emulator list: a QEMU
 * binary upgraded on disk during a long precopy keeps its identity, checked
 * against the one recorded at binding). The last use is kept for a LAST
 * request, so a grant cannot run out before the switch.
 */
int uffd_shim_policy_decide (const UffdShimPolicyInput *in);

typedef enum {
    UFFD_SHIM_BOUND_KEEP = 0,   /* the incoming migration goes on */
    UFFD_SHIM_BOUND_EXITED,     /* the bound QEMU is gone */
    UFFD_SHIM_BOUND_DONE,       /* libvirt no longer shows its incoming migration */
} UffdShimBoundVerdict;

/*
 * The fate of an active grant bound to a QEMU, checked once a second.
 * @alive: TRUE, FALSE, or -1 when it could not be told (e.g. /proc
 * unreadable under fd exhaustion): only a QEMU known to be gone ends a
 * grant as exited. @status: the domain's status XML, or NULL if it could not
 * be read (kept: a transient failure never ends a migration's grant).
 */
UffdShimBoundVerdict uffd_shim_policy_bound_verdict (const UffdShimGrant *g, int alive,
                                                     const UffdShimLibvirtRecord *status);

#endif
