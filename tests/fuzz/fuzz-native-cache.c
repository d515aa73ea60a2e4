/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for hooks/native-cache.c: the hook's native-marker cache file parser on arbitrary bytes. */
#include <glib.h>
#include <string.h>

#include "fuzz-main.h"
#include "native-cache.h"

/*
 * Oracles: no crash, no read beyond @size; a file that parses has exactly
 * the size its count announces, at most UFFD_SHIM_NATIVE_CACHE_MAX entries,
 * answers 0 or 1, and re-formats from the parsed entries alone to the very
 * bytes read (nothing unchecked can hide in it); one that does not yields no
 * entries.
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    UffdShimNativeEntry entries[UFFD_SHIM_NATIVE_CACHE_MAX];
    g_autoptr (GBytes) again = NULL;
    guint n = 1234;

    if (!uffd_shim_native_cache_parse (data, size, entries, &n)) {
        g_assert_cmpuint (n, ==, 0);
        return 0;
    }
    g_assert_cmpuint (n, <=, UFFD_SHIM_NATIVE_CACHE_MAX);
    for (guint i = 0; i < n; i++)
        g_assert_cmpuint (entries[i].native, <=, 1);
    again = uffd_shim_native_cache_format (entries, n);
    g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), data, size);
    return 0;
}
