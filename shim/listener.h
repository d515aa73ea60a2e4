/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Listening sockets: safe directories, binding, systemd socket activation and readiness. */
#ifndef UFFD_SHIM_LISTENER_H
#define UFFD_SHIM_LISTENER_H

#include <glib.h>
#include <sys/types.h>

/* Creates @dir (mode @mode) if missing; refuses a symlink, a non-directory, a
 * directory not owned by root, or one writable by group or others. */
gboolean uffd_shim_safe_dir (const char *dir, mode_t mode, GError **error);

/* A listening, non-blocking SOCK_SEQPACKET socket at @path with @mode. */
int uffd_shim_listen (const char *path, mode_t mode, GError **error);

/* Takes the sockets passed by systemd (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES):
 * names "uffd" and "admin", or else matched by path. Returns FALSE with no
 * error when the process was not socket-activated. */
gboolean uffd_shim_listen_systemd (const char *client_path, const char *admin_path,
                                   int *client_fd, int *admin_fd, GError **error);

/* sd_notify(3) for Type=notify; a no-op without $NOTIFY_SOCKET. */
void uffd_shim_notify (const char *state);

#endif
