/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Decisions of the libvirt hook: does a domain get a grant, does its QEMU need the preload. */
#ifndef UFFD_SHIM_HOOK_POLICY_H
#define UFFD_SHIM_HOOK_POLICY_H

#include <glib.h>

#include "domxml.h"

typedef enum {
    UFFD_SHIM_HOOK_GRANT = 0,          /* open a grant for the domain */
    UFFD_SHIM_HOOK_SKIP_DENIED,        /* [grants] allow/deny lists exclude it */
    UFFD_SHIM_HOOK_SKIP_OPTED_OUT,     /* its metadata says enabled="no" */
    UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN,  /* opt-in mode, neither listed nor opted in */
} UffdShimHookDecision;

/*
 * @domain_allowed: uffd_shim_config_domain_allowed() for @name.
 * @opt_in, @metadata_opt_in, @hook_domains: [hook] opt-in, metadata-opt-in
 * and domains (glob patterns).
 * @metadata: the domain's <uffd-shim:postcopy> element, from the incoming
 * domain XML, which the source host wrote.
 * This host's policy decides; the metadata can only narrow it. Deny wins:
 * the allow/deny lists first, then an explicit enabled="no"; then, in
 * opt-in mode, a match in @hook_domains, or enabled="yes" only when
 * @metadata_opt_in (the operator trusts the sources' metadata).
 */
UffdShimHookDecision uffd_shim_hook_decide (gboolean domain_allowed, gboolean opt_in,
                                            gboolean metadata_opt_in,
                                            const char *const *hook_domains,
                                            const char *name, UffdShimOptIn metadata);

/*
 * Does a QEMU of domain @name run on this host already: is
 * @run_dir/@name.pid (libvirt's pid file, not a symlink) locked (libvirt's
 * QEMU holds the lock for its life)? *pid: the lock's owner. Opens the file
 * without blocking and reads nothing from it.
 */
gboolean uffd_shim_hook_domain_running (const char *run_dir, const char *name, pid_t *pid);

const char *uffd_shim_hook_decision_str (UffdShimHookDecision decision);

/*
 * The string a QEMU built with the qemu-patches/ series (which asks the
 * broker by itself) carries in its binary, followed by a space and the
 * broker socket it was built for.
 */
#define UFFD_SHIM_NATIVE_MARKER "uffd-shim-native-broker-v1"

/* Binaries larger than this are not scanned for the marker (not native). */
#define UFFD_SHIM_NATIVE_SCAN_MAX ((goffset) 512 << 20)

/*
 * Does @emulator ask the broker natively, so that it needs no preload?
 * TRUE when @emulator (exact path, may be NULL) is one of
 * @native_emulators (may be NULL; [hook] native-emulators), or when the
 * file carries UFFD_SHIM_NATIVE_MARKER (see
 * uffd_shim_hook_emulator_has_marker()).
 */
gboolean uffd_shim_hook_emulator_is_native (const char *emulator,
                                            const char *const *native_emulators);

/*
 * Does the regular file @path contain UFFD_SHIM_NATIVE_MARKER? Reads the
 * file once in bounded chunks (nothing is executed); FALSE for a missing,
 * unreadable, non-regular or larger than UFFD_SHIM_NATIVE_SCAN_MAX file.
 */
gboolean uffd_shim_hook_emulator_has_marker (const char *path);

/*
 * The scan of uffd_shim_hook_emulator_has_marker() on an open file, from its
 * current offset to its end or UFFD_SHIM_NATIVE_SCAN_MAX bytes (then FALSE).
 */
gboolean uffd_shim_hook_fd_has_marker (int fd);

#endif /* UFFD_SHIM_HOOK_POLICY_H */
