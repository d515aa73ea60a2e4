/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-out decision and the fate of a bound grant: facts in, verdict out (pure, no I/O). */
#include "policy.h"

#include <string.h>

static gboolean
uid_ok (const UffdShimPolicyInput *in)
{
    if (in->qemu_uid == (uid_t) -1 || in->peer->uid != in->qemu_uid)
        return FALSE;
    for (int i = 0; i < 4; i++)
        if (in->peer->uids[i] != in->qemu_uid)
            return FALSE;
    return TRUE;
}

gboolean
uffd_shim_policy_bound_to (const UffdShimGrant *g, const UffdShimPeer *peer)
{
    return g && g->pid && g->pid == peer->pid && g->starttime == peer->starttime;
}

/* The peer runs an allowed emulator: the one recorded when the grant was
 * bound to it (if recorded), else one of the configured emulators. */
static gboolean
exe_ok (const UffdShimPolicyInput *in, gboolean bound)
{
    const UffdShimGrant *g = in->grant;

    if (!in->peer->exe_known)
        return FALSE;
    if (bound && (g->exe_dev || g->exe_ino))
        return g->exe_dev == in->peer->exe_dev && g->exe_ino == in->peer->exe_ino;
    for (gsize i = 0; i < in->n_emulators; i++)
        if (in->emulators[i].dev == in->peer->exe_dev && in->emulators[i].ino == in->peer->exe_ino)
            return TRUE;
    return FALSE;
}

static int
ended_status (guint32 state)
{
    switch (state) {
    case UFFD_SHIM_GRANT_EXPIRED: return UFFD_SHIM_E_EXPIRED;
    case UFFD_SHIM_GRANT_EXHAUSTED: return UFFD_SHIM_E_EXHAUSTED;
    case UFFD_SHIM_GRANT_REVOKED: return UFFD_SHIM_E_REVOKED;
    case UFFD_SHIM_GRANT_DONE: return UFFD_SHIM_E_NOT_MIGRATING;
    default: return UFFD_SHIM_E_NOT_GRANTED;
    }
}

int
uffd_shim_policy_decide (const UffdShimPolicyInput *in)
{
    const UffdShimGrant *g = in->grant;
    gboolean bound = uffd_shim_policy_bound_to (g, in->peer);

    if (!uid_ok (in))
        return UFFD_SHIM_E_WRONG_UID;
    if (!exe_ok (in, bound))
        return UFFD_SHIM_E_WRONG_EXE;
    if (!g)
        return UFFD_SHIM_E_NOT_GRANTED;
    if (g->state != UFFD_SHIM_GRANT_ACTIVE)
        return ended_status (g->state);
    /* Once used, a grant belongs to that one QEMU process. */
    if (g->pid && !bound)
        return UFFD_SHIM_E_NOT_GRANTED;
    /* The clock only ends a grant nobody used yet. */
    if (!bound && in->now >= g->expires)
        return UFFD_SHIM_E_EXPIRED;
    /* The last use is kept for the LAST request (the switch-time uffd). */
    if (g->uses_left == 0 || (g->uses_left == 1 && !in->last))
        return UFFD_SHIM_E_EXHAUSTED;
    if (!bound && !in->domain_allowed)
        return UFFD_SHIM_E_DOMAIN_DENIED;
    if (!in->status || in->status->status_pid != in->peer->pid ||
        strcmp (in->status->name, g->name) != 0)
        return UFFD_SHIM_E_NOT_GRANTED;
    if (memcmp (in->status->uuid, g->uuid, sizeof g->uuid) != 0)
        return UFFD_SHIM_E_UUID_MISMATCH;
    if (!in->status->incoming)
        return UFFD_SHIM_E_NOT_MIGRATING;
    /* The granted QEMU itself, but open to the processes of its uid (other
     * QEMUs): a tracer, or anyone who can ptrace it, could make it ask and
     * take the socket or the device (pidfd_getfd). */
    if (in->peer->tracer)
        return UFFD_SHIM_E_TRACED;
    if (in->peer->dumpable)
        return UFFD_SHIM_E_DUMPABLE;
    return UFFD_SHIM_OK;
}

UffdShimBoundVerdict
uffd_shim_policy_bound_verdict (const UffdShimGrant *g, int alive,
                                const UffdShimLibvirtRecord *status)
{
    if (alive == FALSE)
        return UFFD_SHIM_BOUND_EXITED;
    if (alive == TRUE && status && (status->status_pid != g->pid || !status->incoming))
        return UFFD_SHIM_BOUND_DONE;
    return UFFD_SHIM_BOUND_KEEP;
}
