/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the acquisition and memory benchmarks: clocks, libvirt-like launch, broker facts. */
#include "acquire-lib.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t
bench_now_ns (void)
{
    struct timespec ts;

    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void
bench_domain_uuid (unsigned i, uint8_t uuid[16], char text[37])
{
    for (int k = 0; k < 12; k++)
        uuid[k] = (uint8_t) (0xb0 + k);
    uuid[12] = (uint8_t) (i >> 24);
    uuid[13] = (uint8_t) (i >> 16);
    uuid[14] = (uint8_t) (i >> 8);
    uuid[15] = (uint8_t) i;
    snprintf (text, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
              uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
              uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

/* All of @len bytes, through EINTR and short transfers; -1 on error or EOF. */
static int
full_io (int fd, char *p, size_t len, int writing)
{
    while (len > 0) {
        ssize_t n = writing ? write (fd, p, len) : read (fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int
bench_write_full (int fd, const void *buf, size_t len)
{
    return full_io (fd, (char *) buf, len, 1);
}

int
bench_read_full (int fd, void *buf, size_t len)
{
    return full_io (fd, buf, len, 0);
}

/* In the child: the libvirt side of a QEMU start. Exits on failure. */
static void
write_libvirt_files (const char *run_dir, const char *name, const char *uuid_text)
{
    char path[4096], tmp[4096], buf[1024];
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd, n;

    snprintf (path, sizeof path, "%s/%s.pid", run_dir, name);
    /* No O_CLOEXEC: the lock stays with the exec'd program, as with libvirt. */
    fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fchmod (fd, 0644) < 0 || fcntl (fd, F_SETLK, &fl) < 0) {
        perror (path);
        _exit (126);
    }
    n = snprintf (buf, sizeof buf, "%d", (int) getpid ());
    if (bench_write_full (fd, buf, (size_t) n) < 0)
        _exit (126);
    n = snprintf (buf, sizeof buf,
                  "<domstatus state='paused' reason='migration' pid='%d'>\n"
                  "  <job type='none' async='migration in' phase='prepare'/>\n"
                  "  <domain type='kvm' id='1'>\n    <name>%s</name>\n    <uuid>%s</uuid>\n"
                  "  </domain>\n</domstatus>\n",
                  (int) getpid (), name, uuid_text);
    snprintf (tmp, sizeof tmp, "%s/%s.xml.new", run_dir, name);
    fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || bench_write_full (fd, buf, (size_t) n) < 0 || close (fd) < 0) {
        perror (tmp);
        _exit (126);
    }
    snprintf (path, sizeof path, "%s/%s.xml", run_dir, name);
    if (rename (tmp, path) < 0) {
        perror (path);
        _exit (126);
    }
}

pid_t
bench_launch (char *const argv[], const char *run_dir, const char *name, const char *uuid_text,
              uid_t uid, const int *keep, int n_keep)
{
    pid_t pid = fork ();

    if (pid != 0)
        return pid;
    /* Move the kept fds out of the way, then down to 3, 4, ... */
    for (int i = 0; i < n_keep; i++)
        if (dup2 (keep[i], 200 + i) < 0)
            _exit (126);
    for (int i = 0; i < n_keep; i++)
        if (dup2 (200 + i, 3 + i) < 0 || close (200 + i) < 0)
            _exit (126);
    for (int f = 3 + n_keep; f < 1024; f++)
        (void) fcntl (f, F_SETFD, FD_CLOEXEC);
    if (name)
        write_libvirt_files (run_dir, name, uuid_text);
    if (uid != (uid_t) -1) {
        if (setgroups (0, NULL) < 0 || setresgid (uid, uid, uid) < 0 ||
            setresuid (uid, uid, uid) < 0) {
            perror ("drop to the QEMU uid");
            _exit (126);
        }
    }
    execv (argv[0], argv);
    perror (argv[0]);
    _exit (127);
}

uint64_t
bench_cpu_ns (pid_t pid)
{
    char path[64], buf[2048];
    const char *p;
    unsigned long long ut = 0, st = 0;
    ssize_t n;
    int fd;

    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr (buf, ')');
    /* After "comm)": state(3) ... utime is field 14, stime 15. */
    if (!p || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (ut + st) * (1000000000ull / (unsigned long long) sysconf (_SC_CLK_TCK));
}

long
bench_proc_kib (pid_t pid, const char *file, const char *field)
{
    char path[64], line[256];
    size_t fl = strlen (field);
    long v = -1;
    FILE *f;

    snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, file);
    f = fopen (path, "re");
    if (!f)
        return -1;
    while (fgets (line, sizeof line, f))
        if (!strncmp (line, field, fl) && line[fl] == ':') {
            v = strtol (line + fl + 1, NULL, 10);
            break;
        }
    fclose (f);
    return v;
}
