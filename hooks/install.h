/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Installing the libvirt qemu hook into <hooks_dir>/qemu.d and making libvirtd re-read it. */
#ifndef UFFD_SHIM_HOOK_INSTALL_H
#define UFFD_SHIM_HOOK_INSTALL_H

#include <glib.h>

/* File name of the hook inside <hooks_dir>/qemu.d (libvirt runs them in
 * strcmp order; 50 leaves room on both sides). */
#define UFFD_SHIM_HOOK_INSTALL_NAME "50-uffd-shim"

/* A string compiled into uffd-shim-hook. install only copies a binary that
 * contains it, and uninstall only removes a file that contains it, so neither
 * ever touches a hook someone else put at that name. */
#define UFFD_SHIM_HOOK_MARKER "uffd-shim-hook-marker:9f0b3c1e-6a52-4d3e-8c1f-2b7d5e4a9c60"

/* Largest hook binary read for the marker (it is about 100 KiB). */
#define UFFD_SHIM_HOOK_BINARY_MAX (64u * 1024u * 1024u)

/*
 * Copies @hook_binary (an absolute path to a regular executable file that
 * carries UFFD_SHIM_HOOK_MARKER, owned by root or the caller, not writable
 * by group or others) to @hooks_dir/qemu.d/50-uffd-shim, mode 0755 and, when
 * run as root, owner root:root. Creates @hooks_dir and @hooks_dir/qemu.d
 * (0755) when missing (the parent of @hooks_dir must exist). Replaces an
 * earlier copy of the hook atomically; refuses to replace anything else.
 * Never touches @hooks_dir/qemu or any other file. Errors are in G_FILE_ERROR.
 *
 * libvirtd notices the new hook at its next start or SIGHUP (see
 * uffd_shim_hook_reload_libvirtd()), unless some qemu hook was already
 * installed when it last (re)read its hooks.
 */
gboolean uffd_shim_hook_install (const char *hooks_dir, const char *hook_binary,
                                 GError **error);

/*
 * Removes @hooks_dir/qemu.d/50-uffd-shim if it is a regular file carrying
 * UFFD_SHIM_HOOK_MARKER; a missing hook is success. Refuses (error
 * G_FILE_ERROR_EXIST) to remove a file it did not install. Leaves the qemu.d
 * directory in place (an empty qemu.d changes nothing for libvirt, and it
 * may have been there before install).
 */
gboolean uffd_shim_hook_uninstall (const char *hooks_dir, GError **error);

/*
 * Sends SIGHUP to the libvirtd whose pid is in @pidfile (Debian:
 * /run/libvirtd.pid), so that it re-reads its hooks. The pid is trusted only
 * if that process holds libvirtd's fcntl lock on @pidfile; the signal goes
 * through a pidfd taken before that check, so a recycled pid never gets it.
 */
gboolean uffd_shim_hook_reload_libvirtd (const char *pidfile, GError **error);

/*
 * Pid files of the daemons that run libvirt's QEMU driver and its hooks, in
 * the order they are tried. A privileged libvirt daemon writes, and holds an
 * fcntl lock on, RUNSTATEDIR/<name>.pid (virPidFileConstructPath; the same
 * in libvirt 9.0 and 11.x, with or without --daemon): /run/virtqemud.pid for
 * the modular QEMU daemon (RHEL 9, Fedora), /run/libvirtd.pid for the
 * monolithic one (Debian 12 and 13, Ubuntu). The /run/libvirt/ names are
 * what a daemon started with --pid-file there writes (a private test host,
 * a packager's choice).
 */
extern const char *const uffd_shim_libvirt_pidfiles[];

/* The name of one daemon reloaded by uffd_shim_hook_reload_daemons(). */
typedef struct {
    char *pidfile;
    char *name;    /* its comm ("virtqemud", "libvirtd"), or "libvirt daemon" */
    int pid;
} UffdShimReloaded;

void uffd_shim_reloaded_free (UffdShimReloaded *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimReloaded, uffd_shim_reloaded_free)

/*
 * Sends SIGHUP, as uffd_shim_hook_reload_libvirtd() does, to every daemon
 * running under one of @pidfiles (NULL: uffd_shim_libvirt_pidfiles): a
 * missing or stale pid file (no lock holder) is skipped; a pid file whose
 * lock holder is not the process it names is an error. Each daemon is
 * signalled once even if two files name it. Appends an UffdShimReloaded to
 * @reloaded for each. FALSE (G_FILE_ERROR_NOENT, naming the files tried)
 * when no daemon runs.
 */
gboolean uffd_shim_hook_reload_daemons (const char *const *pidfiles, GPtrArray *reloaded,
                                        GError **error);

#endif /* UFFD_SHIM_HOOK_INSTALL_H */
