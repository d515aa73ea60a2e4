/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Decisions of the libvirt hook: does a domain get a grant, does its QEMU need the preload. */
/*
 * Everything here is pure (arguments in, decision out) except
 * uffd_shim_hook_emulator_has_marker(), which reads the emulator binary:
 * a QEMU with the qemu-patches/ series asks the broker itself, and the
 * hook must then leave the domain XML alone (no qemu:env, no taint). The
 * hook runs as root on an incoming migration, so the scan opens the file
 * without blocking (a FIFO or device named as emulator cannot stall
 * libvirt), accepts only a regular file of bounded size and reads it with
 * uffd_shim_fd_find() (facts.c): plain read() in chunks that overlap by the
 * marker's length, so a marker across a chunk boundary is found and a file
 * truncated meanwhile only ends the scan early.
 */
#include "hook-policy.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facts.h"

static gboolean
name_listed (const char *const *patterns, const char *name)
{
    const char *const *p;

    for (p = patterns; p != NULL && *p != NULL; p++)
        if (g_pattern_match_simple (*p, name))
            return TRUE;
    return FALSE;
}

UffdShimHookDecision
uffd_shim_hook_decide (gboolean domain_allowed, gboolean opt_in, gboolean metadata_opt_in,
                       const char *const *hook_domains, const char *name,
                       UffdShimOptIn metadata)
{
    if (!domain_allowed)
        return UFFD_SHIM_HOOK_SKIP_DENIED;
    if (metadata == UFFD_SHIM_OPT_IN_NO)
        return UFFD_SHIM_HOOK_SKIP_OPTED_OUT;
    if (!opt_in)
        return UFFD_SHIM_HOOK_GRANT;
    if (name != NULL && name_listed (hook_domains, name))
        return UFFD_SHIM_HOOK_GRANT;
    /* The incoming XML is the source host's word: it opts in only if this
     * host's operator said it may. */
    if (metadata == UFFD_SHIM_OPT_IN_YES && metadata_opt_in)
        return UFFD_SHIM_HOOK_GRANT;
    return UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN;
}

const char *
uffd_shim_hook_decision_str (UffdShimHookDecision decision)
{
    switch (decision) {
    case UFFD_SHIM_HOOK_GRANT:
        return "grant";
    case UFFD_SHIM_HOOK_SKIP_DENIED:
        return "excluded by [grants] allow-domains/deny-domains";
    case UFFD_SHIM_HOOK_SKIP_OPTED_OUT:
        return "opted out by <uffd-shim:postcopy enabled=\"no\"/>";
    case UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN:
        return "not opted in ([hook] opt-in is set, the domain is not in [hook] domains, and "
               "its own metadata counts only with [hook] metadata-opt-in)";
    }
    return "unknown";
}

/* Closes *fd if open; for g_auto-style cleanup. */
static void
close_fd_p (int *fd)
{
    if (*fd >= 0)
        close (*fd);
}

gboolean
uffd_shim_hook_domain_running (const char *run_dir, const char *name, pid_t *pid)
{
    __attribute__ ((cleanup (close_fd_p))) int fd = -1;
    g_autofree char *path = g_strdup_printf ("%s/%s.pid", run_dir, name);
    struct stat st;
    pid_t owner = 0;

    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) ||
        uffd_shim_pidfile_lock_owner (fd, &owner) < 0 || owner == 0)
        return FALSE;
    *pid = owner;
    return TRUE;
}

gboolean
uffd_shim_hook_fd_has_marker (int fd)
{
    return uffd_shim_fd_find (fd, UFFD_SHIM_NATIVE_MARKER, UFFD_SHIM_NATIVE_SCAN_MAX) > 0;
}

gboolean
uffd_shim_hook_emulator_has_marker (const char *path)
{
    __attribute__ ((cleanup (close_fd_p))) int fd = -1;
    struct stat st;

    if (path == NULL || path[0] != '/')
        return FALSE;
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return FALSE;
    if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > UFFD_SHIM_NATIVE_SCAN_MAX)
        return FALSE;
    return uffd_shim_hook_fd_has_marker (fd);
}

gboolean
uffd_shim_hook_emulator_is_native (const char *emulator, const char *const *native_emulators)
{
    if (emulator == NULL)
        return FALSE;
    if (native_emulators != NULL && g_strv_contains (native_emulators, emulator))
        return TRUE;
    return uffd_shim_hook_emulator_has_marker (emulator);
}
