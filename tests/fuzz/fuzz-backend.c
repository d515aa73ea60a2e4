/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for the vhost-user back-end parsers: status XML sockets, /proc fdinfo, sock_diag replies. */
#include <glib.h>
#include <string.h>
#include <sys/un.h>

#include "backend.h"
#include "fuzz-main.h"

/*
 * One input feeds all three parsers. Oracles: no crash or leak; a failed
 * socket parse comes with an error; accepted sockets are absolute paths
 * that fit sun_path, at most UFFD_SHIM_BACKEND_SOCKETS_MAX of them; an
 * accepted sock_diag reply is about the inode asked for (read where the
 * inode of a well-formed reply is, so that valid seeds parse).
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GError) error = NULL;
    UffdShimUnixSock u;
    guint32 ino = 0;
    guint64 fino = 0;
    int mnt = 0;

    if (uffd_shim_backend_parse_sockets ((const char *) data, size, paths, &error)) {
        g_assert_null (error);
        g_assert_cmpuint (paths->len, <=, UFFD_SHIM_BACKEND_SOCKETS_MAX);
        for (guint i = 0; i < paths->len; i++) {
            const char *p = g_ptr_array_index (paths, i);
            g_assert_true (p[0] == '/');
            g_assert_cmpuint (strlen (p), <, sizeof (((struct sockaddr_un *) 0)->sun_path));
        }
    } else {
        g_assert_nonnull (error);
    }
    (void) uffd_shim_parse_fdinfo ((const char *) data, size, &mnt, &fino);
    if (size >= 24)
        memcpy (&ino, data + 20, 4); /* after struct nlmsghdr and 4 bytes of unix_diag_msg */
    if (uffd_shim_parse_unix_diag (data, size, ino, &u))
        g_assert_cmpuint (u.ino, ==, ino);
    return 0;
}
