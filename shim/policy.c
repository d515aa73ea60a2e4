/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-out decision: facts in, status out (pure, no I/O). */
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

static gboolean
exe_ok (const UffdShimPolicyInput *in)
{
    if (!in->peer->exe_known)
        return FALSE;
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
    default: return UFFD_SHIM_E_NOT_GRANTED;
    }
}

int
uffd_shim_policy_decide (const UffdShimPolicyInput *in)
{
    const UffdShimGrant *g = in->grant;

    if (!uid_ok (in))
        return UFFD_SHIM_E_WRONG_UID;
    if (!exe_ok (in))
        return UFFD_SHIM_E_WRONG_EXE;
    if (!g)
        return UFFD_SHIM_E_NOT_GRANTED;
    if (g->state != UFFD_SHIM_GRANT_ACTIVE)
        return ended_status (g->state);
    if (in->now >= g->expires)
        return UFFD_SHIM_E_EXPIRED;
    if (g->uses_left == 0)
        return UFFD_SHIM_E_EXHAUSTED;
    if (!in->domain_allowed)
        return UFFD_SHIM_E_DOMAIN_DENIED;
    if (!in->status || in->status->status_pid != in->peer->pid ||
        strcmp (in->status->name, g->name) != 0)
        return UFFD_SHIM_E_NOT_GRANTED;
    if (memcmp (in->status->uuid, g->uuid, sizeof g->uuid) != 0)
        return UFFD_SHIM_E_UUID_MISMATCH;
    /* Once used, a grant belongs to that one QEMU process. */
    if (g->pid && (g->pid != in->peer->pid || g->starttime != in->peer->starttime))
        return UFFD_SHIM_E_NOT_GRANTED;
    /* The granted QEMU itself, but open to the processes of its uid (other
     * QEMUs): a tracer, or anyone who can ptrace it, could make it ask and
     * take the socket or the device (pidfd_getfd). */
    if (in->peer->tracer)
        return UFFD_SHIM_E_TRACED;
    if (in->peer->dumpable)
        return UFFD_SHIM_E_DUMPABLE;
    return UFFD_SHIM_OK;
}
