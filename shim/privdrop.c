/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dropping privileges once the sockets are bound and the state is loaded. */
/*
 * Theory of operation
 * -------------------
 * What the broker must still do after setup, and what that needs:
 *  - open /dev/userfaultfd (root:root 0600) for every hand-out: uid 0 as the
 *    file's owner, no capability;
 *  - read libvirt's root-owned pid files and status XML, and write its own
 *    state file: uid 0 as owner, no capability (root-owned files, mode 0600
 *    or 0644 with the owner bits set, are open to their owner without
 *    CAP_DAC_OVERRIDE);
 *  - read /proc/PID/exe of a QEMU running as another uid (a ptrace-mode
 *    read): CAP_SYS_PTRACE. This is the one capability kept.
 * So the broker stays uid 0 with an effective/permitted set of just
 * CAP_SYS_PTRACE, empty inheritable, ambient and bounding sets (nothing it
 * executes could regain more), PR_SET_NO_NEW_PRIVS, and PR_SET_DUMPABLE 0 so
 * other processes of uid 0 without CAP_SYS_PTRACE cannot attach to it.
 * It never writes vm.unprivileged_userfaultfd: without CAP_SYS_ADMIN it could
 * not, even if it tried.
 * No-new-privs is also what lets the unprivileged-in-capabilities broker
 * install its seccomp allow-list, the last setup step (seccomp.c): from then
 * on a system call the event loop does not make kills the process.
 */
#include "privdrop.h"

#include <glib.h>

#include <cap-ng.h>
#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "shim-error.h"

gboolean
uffd_shim_drop_privileges (GError **error)
{
    if (geteuid () == 0) {
        capng_clear (CAPNG_SELECT_ALL);
        if (capng_update (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_PTRACE) < 0 ||
            capng_apply (CAPNG_SELECT_ALL) < 0) {
            g_set_error (error, UFFD_SHIM_ERROR, 0, "cannot drop capabilities");
            return FALSE;
        }
    }
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "prctl: %s",
                     g_strerror (errno));
        return FALSE;
    }
    return TRUE;
}
