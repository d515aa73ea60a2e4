/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Client-side socket I/O for the uffd-shim protocol (libc only, used by library, preload and tools). */
#ifndef UFFD_SHIM_WIRE_H
#define UFFD_SHIM_WIRE_H

#include <stddef.h>
#include <sys/types.h>

/* Connects a SOCK_SEQPACKET socket to @path; every later send/recv on it is
 * bounded by @timeout_ms. Returns the fd or -errno. */
int uffd_shim_wire_connect (const char *path, int timeout_ms);

/* Sends one record. Returns 0 or -errno. */
int uffd_shim_wire_send (int fd, const void *buf, size_t len);

/* Writes all @len bytes to @fd (retrying short writes and EINTR).
 * Returns 0 or -errno. */
int uffd_shim_write_all (int fd, const void *buf, size_t len);

/* Receives one record into @buf (at most @cap bytes); *len gets its size.
 * When @fd_out is non-NULL it receives the one fd attached (or -1). Any fd
 * that was not asked for, a second fd, a truncated record or truncated
 * control data are errors (-EPROTO), and every received fd is closed then.
 * Returns 0, -errno, or -ECONNRESET at end of stream. */
int uffd_shim_wire_recv (int fd, void *buf, size_t cap, size_t *len, int *fd_out);

#endif
