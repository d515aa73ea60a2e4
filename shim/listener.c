/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Listening sockets: safe directories, binding, systemd socket activation and readiness. */
#include "listener.h"

#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim-error.h"

#define SD_LISTEN_FDS_START 3

gboolean
uffd_shim_safe_dir (const char *dir, mode_t mode, GError **error)
{
    struct stat st;

    if (mkdir (dir, mode) == 0)
        chmod (dir, mode); /* umask-independent */
    else if (errno != EEXIST) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "cannot create %s: %s",
                     dir, g_strerror (errno));
        return FALSE;
    }
    if (lstat (dir, &st) < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "%s: %s", dir,
                     g_strerror (errno));
        return FALSE;
    }
    if (S_ISLNK (st.st_mode) || !S_ISDIR (st.st_mode)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "%s is a symlink or not a directory; refusing to use it", dir);
        return FALSE;
    }
    if (st.st_uid != geteuid () || (st.st_mode & 0022)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "%s must be owned by uid %d and not writable by group or others "
                     "(it is uid %d, mode %04o); fix with: chown %d %s && chmod go-w %s",
                     dir, (int) geteuid (), (int) st.st_uid, st.st_mode & 07777, (int) geteuid (),
                     dir, dir);
        return FALSE;
    }
    return TRUE;
}

static gboolean
fill_addr (const char *path, struct sockaddr_un *sa, GError **error)
{
    memset (sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen (path) >= sizeof sa->sun_path) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s: path too long", path);
        return FALSE;
    }
    strcpy (sa->sun_path, path);
    return TRUE;
}

int
uffd_shim_listen (const char *path, mode_t mode, GError **error)
{
    g_autofree char *tmp = g_strdup_printf ("%s.%d.new", path, (int) getpid ());
    struct sockaddr_un sa;
    struct stat st;
    int fd;

    if (!fill_addr (tmp, &sa, error))
        return -1;
    /* Replace only a stale socket, never another kind of file. */
    if (lstat (path, &st) == 0 && !S_ISSOCK (st.st_mode)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s exists and is not a socket", path);
        return -1;
    }
    /* Bind and listen under a temporary name, then rename into place: a
     * client never finds the path bound but not yet listening. */
    unlink (tmp);
    fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || chmod (tmp, mode) < 0 ||
        listen (fd, 512) < 0 || rename (tmp, path) < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "cannot listen on %s: %s",
                     path, g_strerror (errno));
        unlink (tmp);
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

static gboolean
is_seqpacket_listener (int fd)
{
    int type = 0, acc = 0;
    socklen_t l1 = sizeof type, l2 = sizeof acc;

    return getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_SEQPACKET &&
           getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) == 0 && acc;
}

static gboolean
bound_to (int fd, const char *path)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof sa;

    memset (&sa, 0, sizeof sa);
    return getsockname (fd, (struct sockaddr *) &sa, &len) == 0 && sa.sun_family == AF_UNIX &&
           strncmp (sa.sun_path, path, sizeof sa.sun_path) == 0;
}

gboolean
uffd_shim_listen_systemd (const char *client_path, const char *admin_path, int *client_fd,
                          int *admin_fd, GError **error)
{
    const char *pid_s = g_getenv ("LISTEN_PID"), *fds_s = g_getenv ("LISTEN_FDS");
    g_auto (GStrv) names = NULL;
    guint64 pid, n;

    *client_fd = *admin_fd = -1;
    if (!pid_s || !fds_s)
        return FALSE;
    if (!g_ascii_string_to_unsigned (pid_s, 10, 1, G_MAXINT32, &pid, NULL) ||
        (pid_t) pid != getpid ())
        return FALSE;
    if (!g_ascii_string_to_unsigned (fds_s, 10, 1, 2, &n, NULL)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "LISTEN_FDS=%s: expected 1 or 2 sockets", fds_s);
        return FALSE;
    }
    if (g_getenv ("LISTEN_FDNAMES"))
        names = g_strsplit (g_getenv ("LISTEN_FDNAMES"), ":", -1);
    for (guint i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + (int) i;
        const char *nm = names && g_strv_length (names) == n ? names[i] : "";

        if (!is_seqpacket_listener (fd)) {
            g_set_error (error, UFFD_SHIM_ERROR, 0,
                         "socket-activated fd %d is not a listening SOCK_SEQPACKET socket "
                         "(set SocketMode/ListenSequentialPacket= in the .socket unit)", fd);
            return FALSE;
        }
        fcntl (fd, F_SETFD, FD_CLOEXEC);
        fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
        if (g_str_equal (nm, "admin") || (!*nm && bound_to (fd, admin_path)))
            *admin_fd = fd;
        else if (g_str_equal (nm, "uffd") || (!*nm && bound_to (fd, client_path)))
            *client_fd = fd;
        else {
            g_set_error (error, UFFD_SHIM_ERROR, 0,
                         "socket-activated fd %d is neither the client nor the admin socket", fd);
            return FALSE;
        }
    }
    g_unsetenv ("LISTEN_PID");
    g_unsetenv ("LISTEN_FDS");
    g_unsetenv ("LISTEN_FDNAMES");
    return TRUE;
}

/* #syscalls: socket sendto close */
void
uffd_shim_notify (const char *state)
{
    const char *path = g_getenv ("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;
    int fd;

    if (!path || (path[0] != '/' && path[0] != '@') || strlen (path) >= sizeof sa.sun_path)
        return;
    memcpy (sa.sun_path, path, strlen (path));
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path));
    fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void) !sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &sa, len);
    close (fd);
}
