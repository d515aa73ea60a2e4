/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helper for test-hook.sh: lists the broker's grants as "NAME UUID" lines. */
#include <stdio.h>
#include <stdlib.h>

#include "admin-client.h"

int
main (int argc, char **argv)
{
    struct uffd_shim_grant_record *recs = NULL;
    size_t n = 0, i;
    int r;

    if (argc != 2) {
        fprintf (stderr, "usage: %s ADMIN-SOCKET\n", argv[0]);
        return 2;
    }
    r = uffd_shim_admin_list (argv[1], 0, &recs, &n, 5000);
    if (r != UFFD_SHIM_OK) {
        fprintf (stderr, "hook-test-grants: %s: %s\n", argv[1], uffd_shim_status_str (r));
        return 1;
    }
    for (i = 0; i < n; i++) {
        const unsigned char *u = recs[i].uuid;

        printf ("%s %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
                recs[i].name, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
                u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    }
    free (recs);
    return 0;
}
