/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libuffd-shim: obtain a userfaultfd for the caller's own memory, through the broker if needed. */
#ifndef UFFD_SHIM_H
#define UFFD_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Options for uffd_shim_userfaultfd(). */
#define UFFD_SHIM_OPT_LAST        (1u << 0) /* tell the broker this is the last uffd needed */
#define UFFD_SHIM_OPT_BROKER_ONLY (1u << 1) /* skip the syscall and the device node */

/*
 * Reasons (*reason). 0..99 are the broker's status codes (see
 * uffd-shim-proto.h: UFFD_SHIM_E_*); these are the library's own:
 */
#define UFFD_SHIM_R_NO_BROKER 100 /* the broker socket could not be reached */
#define UFFD_SHIM_R_BAD_REPLY 101 /* the broker answered something malformed */
#define UFFD_SHIM_R_BAD_FD    102 /* the fd received is not the userfaultfd device */
#define UFFD_SHIM_R_IOCTL     103 /* USERFAULTFD_IOC_NEW on the device failed */
#define UFFD_SHIM_R_KERNEL    104 /* the syscall failed for a reason the broker cannot fix */

/*
 * uffd_shim_userfaultfd - a userfaultfd for the calling process's memory
 * @flags:   as for userfaultfd(2): O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY
 * @options: UFFD_SHIM_OPT_*
 * @reason:  if non-NULL, receives 0 or the reason of the failure
 *
 * Tries, in order: the userfaultfd(2) syscall; opening /dev/userfaultfd and
 * USERFAULTFD_IOC_NEW; asking the broker (socket $UFFD_SHIM_SOCKET, default
 * /run/uffd-shim/uffd.sock) for the device. A device fd is closed right after
 * the ioctl. Returns the new userfaultfd, or -1 with errno set (EPERM when the
 * broker denied, EHOSTUNREACH/ENOENT/ECONNREFUSED when it is unreachable).
 * While it asks the broker the process is non-dumpable (see
 * uffd_shim_get_device); it is dumpable again, if it was, on return.
 */
int uffd_shim_userfaultfd (int flags, unsigned int options, int *reason);

/*
 * uffd_shim_get_device - ask the broker for an O_RDWR /dev/userfaultfd fd
 * @socket_path: NULL for $UFFD_SHIM_SOCKET or the default
 * @options:     UFFD_SHIM_OPT_LAST or 0
 * Returns the device fd (O_CLOEXEC), or -1 with errno and *reason set.
 *
 * Before it connects it makes the process non-dumpable (PR_SET_DUMPABLE 0):
 * the broker refuses a dumpable or traced process, since another process of
 * its uid could ptrace it or take the socket or the device from it
 * (pidfd_getfd). On failure the previous value is back on return; on
 * success it stays until uffd_shim_put_device(), which the caller should
 * call as soon as it has made its userfaultfds.
 */
int uffd_shim_get_device (const char *socket_path, unsigned int options, int *reason);

/*
 * uffd_shim_put_device - close a device from uffd_shim_get_device()
 * Closes @dev and makes the process dumpable again if it was before (once
 * every device obtained from the library is put back). @dev < 0: nothing.
 */
void uffd_shim_put_device (int dev);

/* A static English text for a reason code. */
const char *uffd_shim_strreason (int reason);

#ifdef __cplusplus
}
#endif
#endif
