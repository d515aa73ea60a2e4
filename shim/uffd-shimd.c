/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shimd: the broker that hands /dev/userfaultfd to granted QEMU processes. */
/*
 * Signals: SIGTERM and SIGINT stop the daemon (grants stay in the state
 * file). SIGHUP reads the configuration file again and applies it as a
 * whole, keeping the sockets, the grants and the connections open; a file
 * that does not parse, or that changes what only a restart can change
 * (uffd_shim_config_reload_check), is refused with a log line and the
 * running configuration stays. It never ends the daemon.
 */
#include <errno.h>
#include <glib.h>
#include <glib-unix.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "isolation.h"
#include "server.h"
#include "shim-error.h"

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UffdShimConfig, uffd_shim_config_clear)

typedef struct {
    UffdShimConfig *cfg; /* the running configuration, changed in place */
    UffdShimServer *srv;
    const char *path;
    gboolean missing_ok;
} Reload;

static gboolean
on_signal (gpointer loop)
{
    g_main_loop_quit (loop);
    return G_SOURCE_CONTINUE;
}

/* #syscalls: open openat fstat newfstatat statx read close (the file; no user lookup) */
static gboolean
on_hup (gpointer data)
{
    Reload *r = data;
    g_auto (UffdShimConfig) next = { 0 };
    g_autoptr (GError) e = NULL;

    uffd_shim_config_init_defaults (&next);
    if (!uffd_shim_config_load_full (&next, r->path, r->missing_ok, FALSE, &e) ||
        !uffd_shim_config_reload_check (r->cfg, &next, &e)) {
        g_warning ("SIGHUP: configuration not reloaded, the running one stays: %s", e->message);
        return G_SOURCE_CONTINUE;
    }
    uffd_shim_config_clear (r->cfg);
    *r->cfg = next;
    memset (&next, 0, sizeof next);
    if (r->srv)
        uffd_shim_server_reconfigure (r->srv);
    g_message ("SIGHUP: reloaded the configuration from %s (sockets, grants and connections kept)",
               r->path);
    return G_SOURCE_CONTINUE;
}

/* Every client connection is an fd: take all the open-file limit allows
 * (systemd's default soft limit is 1024, the hard one far higher). The
 * server lowers max-clients to what fits (server.c). Under the shipped unit
 * LimitNOFILE= sets both, and nothing is to be raised. */
static void
raise_nofile (void)
{
    struct rlimit rl;
    rlim_t was;

    if (getrlimit (RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
        g_message ("cannot raise the open-file limit from %" G_GUINT64_FORMAT " to %"
                   G_GUINT64_FORMAT ": %s", (guint64) was, (guint64) rl.rlim_max,
                   g_strerror (errno));
}

static gboolean
open_sockets (const UffdShimConfig *cfg, int *client_fd, int *admin_fd, GError **error)
{
    g_autofree char *cdir = g_path_get_dirname (cfg->socket);
    g_autofree char *adir = g_path_get_dirname (cfg->admin_socket);

    if (!uffd_shim_safe_dir (cfg->state_dir, 0755, error))
        return FALSE;
    if (uffd_shim_listen_systemd (cfg->socket, cfg->admin_socket, client_fd, admin_fd, error)) {
        if (*client_fd < 0 || *admin_fd < 0) {
            g_set_error (error, UFFD_SHIM_ERROR, 0,
                         "socket activation must pass both sockets (FileDescriptorName=uffd "
                         "and FileDescriptorName=admin)");
            return FALSE;
        }
        return TRUE;
    }
    if (error && *error)
        return FALSE;
    if (!uffd_shim_safe_dir (cdir, 0755, error) || !uffd_shim_safe_dir (adir, 0755, error))
        return FALSE;
    *client_fd = uffd_shim_listen (cfg->socket, cfg->socket_mode, error);
    if (*client_fd < 0)
        return FALSE;
    *admin_fd = uffd_shim_listen (cfg->admin_socket, 0600, error);
    return *admin_fd >= 0;
}

int
main (int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    g_autofree char *log_mode = NULL;
    gboolean check_only = FALSE, version = FALSE;
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
          "Configuration file (default " UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf)", "PATH" },
        { "log", 'l', 0, G_OPTION_ARG_STRING, &log_mode, "Log to 'stderr' or 'syslog'", "WHERE" },
        { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_only, "Validate the configuration and exit", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) ctx = g_option_context_new ("- hand /dev/userfaultfd to granted QEMU processes");
    g_autoptr (GError) error = NULL;
    /* Declared before the server that points to it, so freed after it. */
    g_auto (UffdShimConfig) cfg = { 0 };
    g_autoptr (GMainLoop) loop = NULL;
    g_autoptr (UffdShimServer) srv = NULL;
    UffdShimSeccompMode seccomp_mode;
    Reload reload = { 0 };
    gboolean missing_ok;
    int client_fd = -1, admin_fd = -1;

    /* Fixed malloc thresholds: glibc otherwise raises them after a large
     * block is freed, and the heap then keeps its high-water mark. */
    mallopt (M_MMAP_THRESHOLD, 128 * 1024);
    mallopt (M_TRIM_THRESHOLD, 128 * 1024);
    setlocale (LC_ALL, "");
    g_option_context_add_main_entries (ctx, entries, NULL);
    if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
        fprintf (stderr, "uffd-shimd: %s\n", error->message);
        return 2;
    }
    if (version) {
        printf ("uffd-shimd %s\n", UFFD_SHIM_VERSION_STRING);
        return 0;
    }
    /* Only the default file may be missing when the daemon starts (the
     * defaults apply); a file someone named must exist, and --check-config
     * checks a file, so it must exist too. */
    if (!config_path && g_getenv ("UFFD_SHIM_CONFIG") && *g_getenv ("UFFD_SHIM_CONFIG"))
        config_path = g_strdup (g_getenv ("UFFD_SHIM_CONFIG"));
    missing_ok = !config_path && !check_only;
    if (!config_path)
        config_path = g_strdup (UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf");
    uffd_shim_config_init_defaults (&cfg);
    if (!uffd_shim_config_load (&cfg, config_path, missing_ok, &error)) {
        fprintf (stderr, "uffd-shimd: bad configuration: %s\n", error->message);
        return 1;
    }
    if (!uffd_shim_seccomp_mode_from_env (&seccomp_mode, &error)) {
        fprintf (stderr, "uffd-shimd: %s\n", error->message);
        return 2;
    }
    if (check_only) {
        printf ("uffd-shimd: %s: OK\n", config_path);
        return 0;
    }
    uffd_shim_log_init ("uffd-shimd", log_mode ? log_mode : cfg.log);
    if (log_mode && !g_str_equal (log_mode, "stderr") && !g_str_equal (log_mode, "syslog")) {
        g_warning ("--log %s: expected stderr or syslog", log_mode);
        return 2;
    }
    /* From here on SIGHUP reloads, never kills. */
    reload = (Reload) { &cfg, NULL, config_path, missing_ok };
    g_unix_signal_add (SIGHUP, on_hup, &reload);
    umask (0077);
    raise_nofile ();
    if (!open_sockets (&cfg, &client_fd, &admin_fd, &error)) {
        g_warning ("%s", error->message);
        return 1;
    }
    /* What GLib's main loop and glibc do for the broker from here on:
     * #syscalls: poll ppoll read write eventfd2 futex (the loop and its wake-ups)
     * #syscalls: clock_gettime clock_nanosleep gettimeofday time (timeouts, log times)
     * #syscalls: brk mmap mprotect munmap mremap madvise (malloc, never PROT_EXEC)
     * #syscalls: rt_sigprocmask rt_sigaction rt_sigreturn restart_syscall (g_unix_signal_add)
     * #syscalls: getpid gettid tgkill (abort, of g_error and failed assertions)
     * #syscalls: lseek getuid geteuid getrandom sched_yield (glibc and GLib paths the test suites do not reach)
     * #syscalls: exit exit_group
     * #syscalls: rseq set_robust_list prctl (GLib's worker thread starting, PR_SET_NAME) */
    loop = g_main_loop_new (NULL, FALSE);
    srv = uffd_shim_server_new (&cfg, client_fd, admin_fd, &error);
    if (!srv) {
        g_warning ("%s", error->message);
        return 1;
    }
    if (!uffd_shim_drop_privileges (&error)) {
        g_warning ("%s", error->message);
        return 1;
    }
    g_unix_signal_add (SIGTERM, on_signal, loop);
    g_unix_signal_add (SIGINT, on_signal, loop);
    reload.srv = srv;
    /* Last step of setup: from here on only the event loop's system calls. */
    if (!uffd_shim_seccomp_install (seccomp_mode, &error)) {
        g_warning ("%s", error->message);
        return 1;
    }
    g_message ("listening on %s (clients) and %s (admin); QEMU user %s (uid %d), libvirt run dir %s",
               cfg.socket, cfg.admin_socket, cfg.qemu_user, (int) cfg.qemu_uid, cfg.libvirt_run_dir);
    uffd_shim_notify ("READY=1\nSTATUS=serving");
    g_main_loop_run (loop);
    uffd_shim_notify ("STOPPING=1");
    g_message ("stopping; grants are kept in %s", cfg.state_dir);
    g_clear_pointer (&srv, uffd_shim_server_free);
    uffd_shim_config_clear (&cfg);
    return 0;
}
