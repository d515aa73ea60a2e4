/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for libvirt's status XML and pid file parsers and the /proc text parsers. */
#include <glib.h>
#include <string.h>

#include "fuzz-main.h"
#include "libvirt-record.h"
#include "peer.h"

/*
 * Oracles: no crash or leak; FALSE comes with an error; an accepted status
 * XML yields a positive pid and a NUL-terminated name; an accepted pid file
 * a pid in 1..INT32_MAX; accepted /proc text uids and a non-zero start time.
 * The /proc parsers take C strings: they see the input up to its first NUL.
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    UffdShimLibvirtRecord rec;
    g_autoptr (GError) error = NULL;
    g_autofree char *text = NULL;
    pid_t pid = 0;
    uid_t uids[4];
    guint64 start = 0;

    memset (&rec, 0xa5, sizeof rec);
    if (uffd_shim_parse_status_xml ((const char *) data, size, &rec, &error)) {
        g_assert_null (error);
        g_assert_cmpint (rec.status_pid, >, 0);
        g_assert_nonnull (memchr (rec.name, '\0', sizeof rec.name));
    } else {
        g_assert_nonnull (error);
    }
    if (uffd_shim_parse_pidfile ((const char *) data, size, &pid))
        g_assert_cmpint (pid, >, 0);

    text = g_strndup ((const char *) data, size);
    (void) uffd_shim_parse_proc_uids (text, uids);
    if (uffd_shim_parse_proc_starttime (text, &start))
        g_assert_cmpuint (start, >, 0);
    return 0;
}
