/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for hooks/domxml.c (libFuzzer; with -DFUZZ_STANDALONE it replays files under plain gcc). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "domxml.h"

#define FUZZ_PRELOAD "/usr/lib/uffd-shim/libuffd-shim-preload.so"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_same_info (const UffdShimDomainInfo *a, const UffdShimDomainInfo *b)
{
    g_assert_cmpstr (a->name, ==, b->name);
    g_assert_cmpmem (a->uuid, sizeof a->uuid, b->uuid, sizeof b->uuid);
    g_assert_cmpstr (a->emulator, ==, b->emulator);
    g_assert_cmpint (a->postcopy, ==, b->postcopy);
}

/*
 * Oracles: nothing crashes or leaks; the preload edit is idempotent; it
 * keeps what the extraction sees; removing takes out what adding put in
 * (there is always something to take out of an added output), and is
 * idempotent too. The only allowed new failure on our own output is
 * FORBIDDEN (our namespace declaration can be the one too many).
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    g_autoptr(UffdShimDomainInfo) info = NULL;
    g_autoptr(UffdShimDomainInfo) info2 = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *out2 = NULL;
    g_autofree char *bare = NULL;
    g_autofree char *bare2 = NULL;
    gsize out_len = 0, out2_len = 0, bare_len = 0, bare2_len = 0;
    gboolean changed = FALSE;
    gboolean parsed;

    parsed = uffd_shim_domxml_parse_info ((const char *) data, size, &info, NULL);
    /* The input itself may bring a preload of ours (or be hostile). */
    if (uffd_shim_domxml_remove_preload ((const char *) data, size, FUZZ_PRELOAD,
                                         &bare, &bare_len, &changed, NULL))
        g_assert_cmpuint (strlen (bare), ==, bare_len);
    g_clear_pointer (&bare, g_free);
    if (!uffd_shim_domxml_add_preload ((const char *) data, size, FUZZ_PRELOAD,
                                       &out, &out_len, &changed, NULL))
        return 0;
    g_assert_cmpuint (strlen (out), ==, out_len);

    if (parsed) {
        if (uffd_shim_domxml_parse_info (out, out_len, &info2, &error))
            check_same_info (info, info2);
        else
            g_assert_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN);
        g_clear_error (&error);
    }

    if (uffd_shim_domxml_add_preload (out, out_len, FUZZ_PRELOAD, &out2, &out2_len,
                                      &changed, &error)) {
        g_assert_false (changed);
        g_assert_cmpstr (out, ==, out2);
    } else {
        g_assert_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN);
    }
    g_clear_error (&error);

    if (!uffd_shim_domxml_remove_preload (out, out_len, FUZZ_PRELOAD, &bare, &bare_len,
                                          &changed, &error)) {
        g_assert_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN);
        return 0;
    }
    g_assert_true (changed);
    g_assert_true (uffd_shim_domxml_remove_preload (bare, bare_len, FUZZ_PRELOAD, &bare2,
                                                    &bare2_len, &changed, NULL));
    g_assert_false (changed);
    g_assert_cmpstr (bare, ==, bare2);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Replays every file named on the command line (or in a named directory). */
static void
run_file (const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *contents = NULL;
    gsize len = 0;

    if (!g_file_get_contents (path, &contents, &len, &error)) {
        fprintf (stderr, "fuzz-domxml: %s\n", error->message);
        exit (1);
    }
    LLVMFuzzerTestOneInput ((const uint8_t *) contents, len);
}

int
main (int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        g_autoptr(GDir) dir = NULL;
        const char *entry;

        if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
            run_file (argv[i]);
            continue;
        }
        dir = g_dir_open (argv[i], 0, NULL);
        while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL) {
            g_autofree char *path = g_build_filename (argv[i], entry, NULL);

            run_file (path);
        }
    }
    return 0;
}
#endif
