/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LD_PRELOAD test helper: make every userfaultfd(2) created via syscall() user-mode-only. */

/*
 * Negative control for the DMA check of tests/guest: QEMU 7.2 creates its
 * userfaultfds with glibc's syscall(__NR_userfaultfd, flags).  This library
 * interposes syscall() and ORs UFFD_USER_MODE_ONLY into those flags, so the
 * destination's postcopy still works for vCPU (user-mode) faults under TCG,
 * but a kernel-mode fault on a missing page (IDE DMA preadv() into guest
 * RAM) fails with EFAULT and the guest reports DMA-ERR / DMA-BAD.
 *
 * Build: cc -shared -fPIC -O2 -o force-umo.so force-umo.c -ldl
 * Use:   LD_PRELOAD=/path/to/force-umo.so qemu-system-x86_64 ...
 * Set FORCE_UMO_VERBOSE=1 to log each rewritten call on stderr.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
    static syscall_fn real_syscall;
    long a[6];
    va_list ap;
    int i;

    /*
     * glibc's syscall() takes up to six long arguments; read them all
     * (the unused ones are whatever is in the registers, as for glibc).
     */
    va_start(ap, number);
    for (i = 0; i < 6; i++) {
        a[i] = va_arg(ap, long);
    }
    va_end(ap);

    if (!real_syscall) {
        real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        if (!real_syscall) {
            abort();
        }
    }
    if (number == __NR_userfaultfd) {
        long flags = a[0] | UFFD_USER_MODE_ONLY;
        const char *v = getenv("FORCE_UMO_VERBOSE");

        if (v && *v == '1') {
            fprintf(stderr, "force-umo: userfaultfd(%#lx) -> userfaultfd(%#lx)\n",
                    a[0], flags);
        }
        a[0] = flags;
    }
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
