/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared replay driver for the fuzz targets: with -DFUZZ_STANDALONE, main() feeds files to LLVMFuzzerTestOneInput. */
#ifndef UFFD_SHIM_FUZZ_MAIN_H
#define UFFD_SHIM_FUZZ_MAIN_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#ifdef FUZZ_STANDALONE
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs one input from a heap copy of exactly its size, as libFuzzer does,
 * so that a read past the end is caught by ASan or valgrind. */
static void
fuzz_run_file (const char *path)
{
    g_autoptr (GError) error = NULL;
    g_autofree char *contents = NULL;
    g_autofree uint8_t *copy = NULL;
    gsize len = 0;

    if (!g_file_get_contents (path, &contents, &len, &error)) {
        fprintf (stderr, "%s\n", error->message);
        exit (1);
    }
    /* Never NULL, even for an empty input (libFuzzer passes a valid pointer). */
    copy = g_malloc (len ? len : 1);
    memcpy (copy, contents, len);
    LLVMFuzzerTestOneInput (copy, len);
}

/* Replays every file named on the command line, or in a named directory. */
int
main (int argc, char **argv)
{
    guint n = 0;

    for (int i = 1; i < argc; i++) {
        g_autoptr (GDir) dir = NULL;
        const char *entry;

        if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
            fuzz_run_file (argv[i]);
            n++;
            continue;
        }
        dir = g_dir_open (argv[i], 0, NULL);
        while (dir && (entry = g_dir_read_name (dir)) != NULL) {
            g_autofree char *path = g_build_filename (argv[i], entry, NULL);

            fuzz_run_file (path);
            n++;
        }
    }
    printf ("replayed %u input(s)\n", n);
    return n > 0 ? 0 : 1;
}
#endif

#endif
