/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Installing the libvirt qemu hook into <hooks_dir>/qemu.d and making libvirtd re-read it. */
/*
 * Theory of operation
 * -------------------
 * Copy, not symlink. The hook is installed as a copy (mode 0755, root:root)
 * because:
 *  - Debian's AppArmor profile for libvirtd lets it execute (rmix) whatever
 *    is under /etc/libvirt/hooks, but nothing in our libexecdir; AppArmor judges the path a symlink
 *    resolves to, so a symlinked hook would be denied there;
 *  - libvirt runs hooks as root: a copy in a root-owned directory cannot be
 *    redirected by anyone who can write to wherever a symlink points (a build
 *    tree, for example).
 * The price is that an upgrade must re-run "uffd-shimctl hook install"; the
 * marker string (UFFD_SHIM_HOOK_MARKER) lets install replace its own older
 * copy and lets uninstall remove it, and nothing else.
 *
 * Every file operation is relative to an fd of the qemu.d directory, which
 * must be owned by root (or the caller) and not writable by group or others:
 * libvirt would run as root anything placed there.
 *
 * Reload. libvirt's daemon that runs the QEMU driver (libvirtd, or virtqemud
 * where the modular daemons run) caches "is there any qemu hook" at start and on SIGHUP but
 * lists qemu.d on every hook call, so SIGHUP is only needed when no qemu hook
 * existed before; sending it is always harmless. libvirtd holds an fcntl
 * write lock on byte 0 of its pid file for its whole life, so F_GETLK tells
 * us the pid of the real owner; a pidfd taken before that check makes sure
 * the signal reaches that very process.
 */
#include "install.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "facts.h"
#include "wire.h"

#define HOOK_BINARY_MAX UFFD_SHIM_HOOK_BINARY_MAX

typedef int HookFd;
static void
hook_fd_close (int fd)
{
    if (fd >= 0)
        close (fd);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (HookFd, hook_fd_close, -1)

static gboolean
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                 "%s %s: %s", what, path, g_strerror (errsv));
    return FALSE;
}

/* Reads the whole regular file open on @fd (at most HOOK_BINARY_MAX bytes). */
static gboolean
read_fd_contents (int fd, const char *path, GBytes **out, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new ();
    guint8 chunk[65536];

    for (;;) {
        ssize_t n = read (fd, chunk, sizeof chunk);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return set_errno_error (error, errno, "cannot read", path);
        if (n == 0)
            break;
        if (buf->len + (gsize) n > HOOK_BINARY_MAX) {
            g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                         "%s is larger than %u bytes", path, HOOK_BINARY_MAX);
            return FALSE;
        }
        g_byte_array_append (buf, chunk, (guint) n);
    }
    *out = g_byte_array_free_to_bytes (g_steal_pointer (&buf));
    return TRUE;
}

static gboolean
bytes_have_marker (GBytes *bytes)
{
    gsize len = 0;
    const void *data = g_bytes_get_data (bytes, &len);

    return data != NULL &&
           memmem (data, len, UFFD_SHIM_HOOK_MARKER, strlen (UFFD_SHIM_HOOK_MARKER)) != NULL;
}

/* Owned by root or by us, not writable by group or others. */
static gboolean
owner_ok (const struct stat *st)
{
    return (st->st_uid == 0 || st->st_uid == geteuid ()) &&
           (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static gboolean
read_hook_binary (const char *hook_binary, GBytes **out, GError **error)
{
    g_auto(HookFd) fd = -1;
    struct stat st;

    if (hook_binary == NULL || !g_path_is_absolute (hook_binary)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "hook binary must be an absolute path, not '%s'",
                     hook_binary != NULL ? hook_binary : "");
        return FALSE;
    }
    fd = open (hook_binary, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return set_errno_error (error, errno, "cannot open", hook_binary);
    if (fstat (fd, &st) < 0)
        return set_errno_error (error, errno, "cannot stat", hook_binary);
    if (!S_ISREG (st.st_mode) || (st.st_mode & S_IXUSR) == 0) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "%s is not an executable regular file", hook_binary);
        return FALSE;
    }
    if (!owner_ok (&st)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                     "%s must be owned by root and not writable by group or others "
                     "(libvirt runs hooks as root)", hook_binary);
        return FALSE;
    }
    if (!read_fd_contents (fd, hook_binary, out, error))
        return FALSE;
    if (!bytes_have_marker (*out)) {
        g_clear_pointer (out, g_bytes_unref);
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "%s is not uffd-shim-hook", hook_binary);
        return FALSE;
    }
    return TRUE;
}

/* mkdir @path 0755 unless it exists; it must then be a directory. */
static gboolean
ensure_dir (const char *path, GError **error)
{
    struct stat st;

    if (mkdir (path, 0755) == 0) {
        /* mkdir honours the umask; the documented mode is 0755. */
        if (chmod (path, 0755) < 0)
            return set_errno_error (error, errno, "cannot chmod", path);
        return TRUE;
    }
    if (errno != EEXIST)
        return set_errno_error (error, errno, "cannot create directory", path);
    if (stat (path, &st) < 0)
        return set_errno_error (error, errno, "cannot stat", path);
    if (!S_ISDIR (st.st_mode)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                     "%s exists and is not a directory", path);
        return FALSE;
    }
    return TRUE;
}

/* Opens @path as a directory that only root (or we) can write to. */
static int
open_safe_dir (const char *path, GError **error)
{
    g_auto(HookFd) fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        set_errno_error (error, errno, "cannot open directory", path);
        return -1;
    }
    if (fstat (fd, &st) < 0) {
        set_errno_error (error, errno, "cannot stat", path);
        return -1;
    }
    if (!owner_ok (&st)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                     "%s must be owned by root and not writable by group or others "
                     "(libvirt runs every hook in it as root)", path);
        return -1;
    }
    return g_steal_fd (&fd);
}

typedef enum { HOOK_FILE_ABSENT, HOOK_FILE_OURS, HOOK_FILE_FOREIGN } HookFileState;

/* What is at @dirfd/UFFD_SHIM_HOOK_INSTALL_NAME? Never follows a symlink. */
static gboolean
inspect_installed (int dirfd, const char *dir_path, HookFileState *state, GError **error)
{
    g_autofree char *path = g_build_filename (dir_path, UFFD_SHIM_HOOK_INSTALL_NAME, NULL);
    g_auto(HookFd) fd = -1;
    struct stat st;
    int found;

    if (fstatat (dirfd, UFFD_SHIM_HOOK_INSTALL_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            return set_errno_error (error, errno, "cannot stat", path);
        *state = HOOK_FILE_ABSENT;
        return TRUE;
    }
    *state = HOOK_FILE_FOREIGN;
    if (!S_ISREG (st.st_mode) || st.st_size > (off_t) HOOK_BINARY_MAX)
        return TRUE;
    fd = openat (dirfd, UFFD_SHIM_HOOK_INSTALL_NAME,
                 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return set_errno_error (error, errno, "cannot open", path);
    found = uffd_shim_fd_find (fd, UFFD_SHIM_HOOK_MARKER, HOOK_BINARY_MAX);
    if (found < 0)
        return set_errno_error (error, -found, "cannot read", path);
    if (found)
        *state = HOOK_FILE_OURS;
    return TRUE;
}

/* Writes @contents to a new file @tmp in @dirfd: mode 0755, root:root when
 * we are root, synced. Removes it again on failure. */
static gboolean
write_temp_copy (int dirfd, const char *tmp, GBytes *contents, GError **error)
{
    g_auto(HookFd) fd = -1;
    gsize len = 0;
    const guint8 *data = g_bytes_get_data (contents, &len);
    int errsv;

    fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return set_errno_error (error, errno, "cannot create", tmp);
    errno = 0;
    if (uffd_shim_write_all (fd, data, len) == 0 &&
        (geteuid () != 0 || fchown (fd, 0, 0) == 0) &&
        fchmod (fd, 0755) == 0 &&
        fsync (fd) == 0 &&
        close (g_steal_fd (&fd)) == 0)
        return TRUE;
    errsv = errno != 0 ? errno : EIO;
    unlinkat (dirfd, tmp, 0);
    return set_errno_error (error, errsv, "cannot write", tmp);
}

gboolean
uffd_shim_hook_install (const char *hooks_dir, const char *hook_binary, GError **error)
{
    g_autofree char *qemu_d = NULL;
    g_autofree char *tmp = NULL;
    g_autoptr(GBytes) contents = NULL;
    g_auto(HookFd) dirfd = -1;
    HookFileState state;

    if (hooks_dir == NULL || !g_path_is_absolute (hooks_dir)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "hooks directory must be an absolute path, not '%s'",
                     hooks_dir != NULL ? hooks_dir : "");
        return FALSE;
    }
    if (!read_hook_binary (hook_binary, &contents, error))
        return FALSE;

    qemu_d = g_build_filename (hooks_dir, "qemu.d", NULL);
    if (!ensure_dir (hooks_dir, error) || !ensure_dir (qemu_d, error))
        return FALSE;
    dirfd = open_safe_dir (qemu_d, error);
    if (dirfd < 0)
        return FALSE;
    if (!inspect_installed (dirfd, qemu_d, &state, error))
        return FALSE;
    if (state == HOOK_FILE_FOREIGN) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                     "%s/%s exists and was not installed by uffd-shim; not replacing it",
                     qemu_d, UFFD_SHIM_HOOK_INSTALL_NAME);
        return FALSE;
    }

    /* A dot file without the execute bit: libvirt skips it if it looks. */
    tmp = g_strdup_printf (".%s.%08x.tmp", UFFD_SHIM_HOOK_INSTALL_NAME, g_random_int ());
    if (!write_temp_copy (dirfd, tmp, contents, error))
        return FALSE;
    if (renameat (dirfd, tmp, dirfd, UFFD_SHIM_HOOK_INSTALL_NAME) < 0) {
        int errsv = errno;

        unlinkat (dirfd, tmp, 0);
        return set_errno_error (error, errsv, "cannot install hook into", qemu_d);
    }
    if (fsync (dirfd) < 0)
        return set_errno_error (error, errno, "cannot sync", qemu_d);
    return TRUE;
}

gboolean
uffd_shim_hook_uninstall (const char *hooks_dir, GError **error)
{
    g_autofree char *qemu_d = NULL;
    g_auto(HookFd) dirfd = -1;
    HookFileState state;

    if (hooks_dir == NULL || !g_path_is_absolute (hooks_dir)) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "hooks directory must be an absolute path, not '%s'",
                     hooks_dir != NULL ? hooks_dir : "");
        return FALSE;
    }
    qemu_d = g_build_filename (hooks_dir, "qemu.d", NULL);
    dirfd = open (qemu_d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 && errno == ENOENT)
        return TRUE;
    if (dirfd < 0)
        return set_errno_error (error, errno, "cannot open directory", qemu_d);
    if (!inspect_installed (dirfd, qemu_d, &state, error))
        return FALSE;
    if (state == HOOK_FILE_ABSENT)
        return TRUE;
    if (state == HOOK_FILE_FOREIGN) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                     "%s/%s was not installed by uffd-shim; leaving it in place",
                     qemu_d, UFFD_SHIM_HOOK_INSTALL_NAME);
        return FALSE;
    }
    if (unlinkat (dirfd, UFFD_SHIM_HOOK_INSTALL_NAME, 0) < 0)
        return set_errno_error (error, errno, "cannot remove the hook from", qemu_d);
    if (fsync (dirfd) < 0)
        return set_errno_error (error, errno, "cannot sync", qemu_d);
    return TRUE;
}

static int
send_signal (int pidfd, pid_t pid, int sig)
{
#ifdef SYS_pidfd_send_signal
    if (pidfd >= 0)
        return (int) syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#endif
    return kill (pid, sig);
}

/* The pid in @pidfile, open on @fd; never 1 (init is nobody's daemon). */
static gboolean
read_pidfile (int fd, const char *pidfile, pid_t *pid, GError **error)
{
    char buf[64];
    ssize_t n;

    do
        n = read (fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return set_errno_error (error, errno, "cannot read", pidfile);
    if (!uffd_shim_parse_pidfile (buf, (gsize) n, pid) || *pid < 2) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "%s does not contain a process id", pidfile);
        return FALSE;
    }
    return TRUE;
}

/* Signals the lock holder of @pidfile; *pid_out is its pid. */
static gboolean
reload_one (const char *pidfile, pid_t *pid_out, GError **error)
{
    g_auto(HookFd) fd = -1;
    g_auto(HookFd) pidfd = -1;
    pid_t pid, owner = 0;
    int err;

    g_return_val_if_fail (pidfile != NULL, FALSE);

    fd = open (pidfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return set_errno_error (error, errno, "cannot open the daemon's pid file", pidfile);
    if (!read_pidfile (fd, pidfile, &pid, error))
        return FALSE;

    pidfd = uffd_shim_pidfd_open (pid);
    if (pidfd < 0 && errno == ESRCH) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                     "the daemon of %s is not running (no process %d)", pidfile, (int) pid);
        return FALSE;
    }
    if (pidfd < 0 && errno != ENOSYS)
        return set_errno_error (error, errno, "cannot open a pidfd for the pid in", pidfile);

    if ((err = uffd_shim_pidfile_lock_owner (fd, &owner)) < 0)
        return set_errno_error (error, -err, "cannot query the lock on", pidfile);
    if (owner == 0) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                     "the daemon of %s is not running: no process holds its lock "
                     "(stale pid file)", pidfile);
        return FALSE;
    }
    if (owner != pid) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                     "%s names process %d but process %d holds its lock; not signalling",
                     pidfile, (int) pid, (int) owner);
        return FALSE;
    }
    if (send_signal (pidfd, pid, SIGHUP) < 0) {
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                     "cannot send SIGHUP to pid %d of %s: %s", (int) pid, pidfile,
                     g_strerror (errno));
        return FALSE;
    }
    *pid_out = pid;
    return TRUE;
}

gboolean
uffd_shim_hook_reload_libvirtd (const char *pidfile, GError **error)
{
    pid_t pid;

    return reload_one (pidfile, &pid, error);
}

const char *const uffd_shim_libvirt_pidfiles[] = {
    "/run/virtqemud.pid",
    "/run/libvirtd.pid",
    "/run/libvirt/virtqemud.pid",
    "/run/libvirt/libvirtd.pid",
    NULL,
};

void
uffd_shim_reloaded_free (UffdShimReloaded *r)
{
    if (!r)
        return;
    g_free (r->pidfile);
    g_free (r->name);
    g_free (r);
}

static char *
process_name (pid_t pid)
{
    g_autofree char *path = g_strdup_printf ("/proc/%d/comm", (int) pid);
    g_autofree char *comm = NULL;

    if (!g_file_get_contents (path, &comm, NULL, NULL))
        return g_strdup ("libvirt daemon");
    return g_strdup (g_strstrip (comm));
}

gboolean
uffd_shim_hook_reload_daemons (const char *const *pidfiles, GPtrArray *reloaded, GError **error)
{
    g_autoptr(GString) tried = g_string_new (NULL);
    g_autoptr(GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
    g_autoptr(GError) first = NULL;

    if (pidfiles == NULL)
        pidfiles = uffd_shim_libvirt_pidfiles;
    for (const char *const *p = pidfiles; *p; p++) {
        g_autoptr(GError) e = NULL;
        UffdShimReloaded *r;
        gboolean seen = FALSE;
        pid_t pid;

        g_string_append_printf (tried, "%s%s", tried->len ? ", " : "", *p);
        if (!reload_one (*p, &pid, &e)) {
            /* Not running under this name (or a file nobody holds a lock
             * on, or one whose holder it does not name: never signalled):
             * try the next one, and say why if none answers. */
            if (!g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT) && !first)
                first = g_steal_pointer (&e);
            continue;
        }
        for (guint i = 0; i < pids->len; i++)
            seen |= g_array_index (pids, pid_t, i) == pid;
        if (seen)
            continue;
        g_array_append_val (pids, pid);
        r = g_new0 (UffdShimReloaded, 1);
        r->pidfile = g_strdup (*p);
        r->name = process_name (pid);
        r->pid = (int) pid;
        g_ptr_array_add (reloaded, r);
    }
    if (pids->len == 0 && first) {
        g_propagate_error (error, g_steal_pointer (&first));
        return FALSE;
    }
    if (pids->len == 0) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                     "no libvirt daemon (virtqemud or libvirtd) is running: none of %s names "
                     "a live process holding its lock", tried->str);
        return FALSE;
    }
    return TRUE;
}
