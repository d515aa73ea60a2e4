/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark: the broker's memory when idle and across 100,000 grant lifecycles, each with a hand-out. */
/*
 * usage (root):
 *   bench-memory run --socket S --admin-socket A --run-dir DIR --broker-pid P
 *                [--qemu-uid UID] [--count N] [--samples N1,N2,...]
 *
 * One grant lifecycle is what one incoming migration costs the broker: a
 * GRANT for a new domain (its own name and UUID), one GET_DEVICE by that
 * domain's QEMU, a REVOKE (the hook at the end). Every lifecycle uses a new
 * domain name, mem-0, mem-1, ..., so nothing the broker keeps per domain
 * (ended grants, "tombstones") is reused. The "QEMU" is one process (this
 * program re-executed as the QEMU uid); for each domain the driver writes
 * the libvirt files as libvirt would (NAME.pid naming the QEMU, root-owned;
 * NAME.xml, <domstatus pid=..> with the domain's UUID) and hands the QEMU
 * the pid file's fd, on which the QEMU takes the fcntl write lock, as a
 * QEMU started by libvirt holds it; after the lifecycle it closes it and the
 * files are removed. The broker's memory (VmRSS, VmHWM from /proc/PID/status;
 * Rss, Pss, Pss_Anon, Pss_File, Anonymous from /proc/PID/smaps_rollup) is
 * sampled before the first lifecycle and after each count in --samples; the
 * broker's counters must show exactly one hand-out per lifecycle.
 * Output: one JSON object per sample on stdout (JSON lines).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acquire-lib.h"
#include "admin-client.h"
#include "uffd-shim.h"

enum { FD_CMD = 3 };

/* ---- the QEMU side ------------------------------------------------------------ */

static int
recv_fd (int sock)
{
    char b;
    union {
        char buf[CMSG_SPACE (sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = &b, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c;
    int fd;

    if (recvmsg (sock, &msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    c = CMSG_FIRSTHDR (&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -1;
    memcpy (&fd, CMSG_DATA (c), sizeof fd);
    return fd;
}

/* For each pid file fd received: lock it, get the device, report, unlock. */
static int
client_main (void)
{
    for (;;) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        int pidfd = recv_fd (FD_CMD), reason = 0, dev;
        int32_t result;

        if (pidfd < 0)
            return 0; /* the driver is done */
        if (fcntl (pidfd, F_SETLK, &fl) < 0)
            result = -1000 - errno;
        else {
            /* The switch-time request (LAST): it ends the grant, as a
             * migration's last hand-out does. */
            dev = uffd_shim_get_device (NULL, UFFD_SHIM_OPT_LAST, &reason);
            result = dev >= 0 ? 0 : reason;
            uffd_shim_put_device (dev);
        }
        close (pidfd);
        if (bench_write_full (FD_CMD, &result, sizeof result) < 0)
            return 3;
    }
}

/* ---- driver --------------------------------------------------------------- */

static int
send_fd (int sock, int fd)
{
    char b = 'f';
    union {
        char buf[CMSG_SPACE (sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = &b, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR (&msg);

    memset (ctl.buf, 0, sizeof ctl.buf);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (sizeof (int));
    memcpy (CMSG_DATA (c), &fd, sizeof fd);
    return sendmsg (sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int
write_file (const char *path, const char *data, mode_t mode, int keep)
{
    char tmp[4096];
    int fd;

    snprintf (tmp, sizeof tmp, "%s.new", path);
    fd = open (tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || bench_write_full (fd, data, strlen (data)) < 0 || fchmod (fd, mode) < 0 ||
        rename (tmp, path) < 0) {
        perror (path);
        if (fd >= 0)
            close (fd);
        return -1;
    }
    if (keep)
        return fd;
    close (fd);
    return 0;
}

static void
sample (pid_t broker, const char *admin, unsigned long done, double seconds, int settled)
{
    struct uffd_shim_status_record st = { 0 };

    (void) uffd_shim_admin_status (admin, &st, 10000);
    printf ("{\"lifecycles\": %lu, \"settled\": %s, \"seconds\": %.3f, \"VmRSS_kib\": %ld, \"VmHWM_kib\": %ld, "
            "\"Rss_kib\": %ld, \"Pss_kib\": %ld, \"Pss_Anon_kib\": %ld, \"Pss_File_kib\": %ld, "
            "\"Anonymous_kib\": %ld, \"handed_out\": %llu, \"denied\": %llu, "
            "\"active_grants\": %u}\n",
            done, settled ? "true" : "false", seconds, bench_proc_kib (broker, "status", "VmRSS"),
            bench_proc_kib (broker, "status", "VmHWM"),
            bench_proc_kib (broker, "smaps_rollup", "Rss"),
            bench_proc_kib (broker, "smaps_rollup", "Pss"),
            bench_proc_kib (broker, "smaps_rollup", "Pss_Anon"),
            bench_proc_kib (broker, "smaps_rollup", "Pss_File"),
            bench_proc_kib (broker, "smaps_rollup", "Anonymous"),
            (unsigned long long) st.handed_out, (unsigned long long) st.denied, st.grants);
    fflush (stdout);
}

static int
usage (void)
{
    fprintf (stderr, "usage: bench-memory run --socket S --admin-socket A --run-dir DIR "
             "--broker-pid P [--qemu-uid UID] [--count N] [--samples N1,N2,...]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    const char *sock = NULL, *admin = NULL, *run_dir = NULL, *samples = "1000,10000,50000,100000";
    unsigned long count = 100000, next_sample;
    uid_t uid = 64055;
    pid_t broker = 0, child;
    char self[4096], *sample_list, *save = NULL, *tok;
    int sv[2], ws;
    uint64_t t0;
    ssize_t n;

    if (argc == 2 && !strcmp (argv[1], "child"))
        return client_main ();
    if (argc < 2 || strcmp (argv[1], "run"))
        return usage ();
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (!strcmp (k, "--socket"))
            sock = v;
        else if (!strcmp (k, "--admin-socket"))
            admin = v;
        else if (!strcmp (k, "--run-dir"))
            run_dir = v;
        else if (!strcmp (k, "--broker-pid"))
            broker = (pid_t) atoi (v);
        else if (!strcmp (k, "--qemu-uid"))
            uid = (uid_t) atoi (v);
        else if (!strcmp (k, "--count"))
            count = strtoul (v, NULL, 10);
        else if (!strcmp (k, "--samples"))
            samples = v;
        else
            return usage ();
    }
    if (!sock || !admin || !run_dir || broker <= 0 || count == 0)
        return usage ();
    setenv ("UFFD_SHIM_SOCKET", sock, 1);
    signal (SIGPIPE, SIG_IGN);
    n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return 1;
    self[n] = '\0';
    {
        char *cargv[] = { self, "child", NULL };
        child = bench_launch (cargv, NULL, NULL, NULL, uid, &sv[1], 1);
    }
    if (child < 0)
        return 1;
    close (sv[1]);

    sample_list = strdup (samples);
    tok = strtok_r (sample_list, ",", &save);
    next_sample = tok ? strtoul (tok, NULL, 10) : 0;
    sample (broker, admin, 0, 0, 0);
    t0 = bench_now_ns ();
    for (unsigned long i = 0; i < count; i++) {
        char name[32], text[37], path[4096], xml[1024], pid[16];
        uint8_t uuid[16];
        int32_t result = -1;
        int st, pfd;

        snprintf (name, sizeof name, "mem-%lu", i);
        bench_domain_uuid ((unsigned) i, uuid, text);
        snprintf (pid, sizeof pid, "%d", (int) child);
        snprintf (path, sizeof path, "%s/%s.pid", run_dir, name);
        pfd = write_file (path, pid, 0644, 1);
        snprintf (xml, sizeof xml,
                  "<domstatus state='paused' reason='migration' pid='%d'>\n"
                  "  <job type='none' async='migration in' phase='prepare'/>\n"
                  "  <domain type='kvm' id='1'>\n    <name>%s</name>\n    <uuid>%s</uuid>\n"
                  "  </domain>\n</domstatus>\n", (int) child, name, text);
        snprintf (path, sizeof path, "%s/%s.xml", run_dir, name);
        if (pfd < 0 || write_file (path, xml, 0600, 0) < 0)
            return 1;
        st = uffd_shim_admin_grant (admin, name, uuid, 600, 8, 0, 10000);
        if (st != 0) {
            fprintf (stderr, "bench-memory: grant %s: %s\n", name, uffd_shim_status_str (st));
            return 1;
        }
        if (send_fd (sv[0], pfd) < 0 || bench_read_full (sv[0], &result, sizeof result) < 0) {
            fprintf (stderr, "bench-memory: the client died\n");
            return 1;
        }
        close (pfd);
        if (result != 0) {
            fprintf (stderr, "bench-memory: %s: hand-out failed: %d (%s)\n", name, result,
                     result > -1000 ? uffd_shim_strreason (result) : strerror (-result - 1000));
            return 1;
        }
        /* Ended by the LAST hand-out: the hook's revoke at the end finds none. */
        st = uffd_shim_admin_revoke (admin, name, 10000);
        if (st != UFFD_SHIM_E_NOT_FOUND) {
            fprintf (stderr, "bench-memory: revoke %s: %s\n", name, uffd_shim_status_str (st));
            return 1;
        }
        snprintf (path, sizeof path, "%s/%s.pid", run_dir, name);
        unlink (path);
        snprintf (path, sizeof path, "%s/%s.xml", run_dir, name);
        unlink (path);
        if (i + 1 == next_sample) {
            sample (broker, admin, i + 1, (double) (bench_now_ns () - t0) / 1e9, 0);
            fprintf (stderr, "bench-memory: %lu lifecycles\n", i + 1);
            tok = strtok_r (NULL, ",", &save);
            next_sample = tok ? strtoul (tok, NULL, 10) : 0;
        }
    }
    close (sv[0]);
    if (waitpid (child, &ws, 0) < 0 || !WIFEXITED (ws) || WEXITSTATUS (ws) != 0) {
        fprintf (stderr, "bench-memory: the client failed (%#x)\n", ws);
        return 1;
    }
    /* Idle again: after a few of the broker's once-a-second ticks. */
    sleep (3);
    sample (broker, admin, count, (double) (bench_now_ns () - t0) / 1e9, 1);
    free (sample_list);
    return 0;
}
