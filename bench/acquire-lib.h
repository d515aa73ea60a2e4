/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the acquisition and memory benchmarks: clocks, libvirt-like launch, broker facts. */
#ifndef UFFD_BENCH_ACQUIRE_LIB_H
#define UFFD_BENCH_ACQUIRE_LIB_H

#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns (void);

/* The canonical UUID text of benchmark domain number @i (never all zero). */
void bench_domain_uuid (unsigned i, uint8_t uuid[16], char text[37]);

/*
 * Starts @argv (argv[0] is executed) the way libvirt starts QEMU when @name is
 * set: the child writes RUN_DIR/NAME.pid with its pid and holds an fcntl
 * write lock on it across exec, writes RUN_DIR/NAME.xml (<domstatus pid=..>,
 * with the "migration in" job libvirt records on a migration destination,
 * with @uuid_text), both root-owned; then, when @uid is not (uid_t)-1, drops
 * to @uid/@uid with no supplementary groups before exec. The fds in
 * @keep[0..n_keep) are moved to 3, 4, ... in the child (every other fd
 * except the lock is closed on exec). Returns the child's pid or -1.
 */
pid_t bench_launch (char *const argv[], const char *run_dir, const char *name,
                    const char *uuid_text, uid_t uid, const int *keep, int n_keep);

/* utime + stime of @pid in nanoseconds (from /proc/PID/stat), or 0. */
uint64_t bench_cpu_ns (pid_t pid);

/* A field of /proc/PID/status or /proc/PID/smaps_rollup ("VmRSS", "Pss_Anon"...)
 * in KiB, or -1. */
long bench_proc_kib (pid_t pid, const char *file, const char *field);

/* Writes all of @len bytes / reads exactly @len bytes (EINTR-safe); 0 or -1. */
int bench_write_full (int fd, const void *buf, size_t len);
int bench_read_full (int fd, void *buf, size_t len);

#endif
