/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for shim/config.c: uffd_shim_config_parse on arbitrary key-file text. */
#include <glib.h>
#include <string.h>

#include "config.h"
#include "fuzz-main.h"

static void
check_paths (char **list)
{
    g_assert_nonnull (list);
    for (gsize i = 0; list[i]; i++)
        g_assert_true (list[i][0] == '/');
}

/*
 * Oracles: no crash and no leak (LeakSanitizer, valgrind in the replay);
 * FALSE comes with an error and TRUE without one; an accepted configuration
 * satisfies every documented constraint; parsing the same text twice gives
 * the same answer.
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    UffdShimConfig cfg, again;
    g_autoptr (GError) error = NULL;
    g_autoptr (GError) error2 = NULL;
    gboolean ok, ok2;

    uffd_shim_config_init_defaults (&cfg);
    ok = uffd_shim_config_parse (&cfg, (const char *) data, size, FALSE, &error);
    g_assert_true (ok == (error == NULL));
    if (ok) {
        g_assert_true (cfg.socket[0] == '/' && cfg.admin_socket[0] == '/');
        g_assert_cmpuint (strlen (cfg.socket), <, 108);
        g_assert_cmpuint (strlen (cfg.admin_socket), <, 108);
        g_assert_cmpstr (cfg.socket, !=, cfg.admin_socket);
        g_assert_true (cfg.state_dir[0] == '/' && cfg.libvirt_run_dir[0] == '/' &&
                       cfg.preload[0] == '/');
        g_assert_cmpuint (cfg.socket_mode, <=, 0777);
        g_assert_cmpuint (cfg.client_timeout_ms, >=, 10);
        g_assert_cmpuint (cfg.client_timeout_ms, <=, 60000);
        g_assert_cmpuint (cfg.max_clients, >=, 1);
        g_assert_cmpuint (cfg.grant_lifetime_s, >=, 1);
        g_assert_cmpuint (cfg.grant_lifetime_s, <=, 7 * 24 * 3600);
        g_assert_cmpuint (cfg.grant_uses, >=, 1);
        g_assert_cmpuint (cfg.grant_uses, <=, 1000);
        g_assert_true (g_str_equal (cfg.log, "stderr") || g_str_equal (cfg.log, "syslog"));
        g_assert_true (cfg.qemu_user[0] != '\0');
        g_assert_cmpint (cfg.qemu_uid, ==, (uid_t) -1); /* not resolved */
        check_paths (cfg.emulators);
        check_paths (cfg.native_emulators);
        /* Exercises the glob matching on the parsed patterns. */
        (void) uffd_shim_config_domain_allowed (&cfg, "vm-1");
        (void) uffd_shim_config_domain_allowed (&cfg, "");
    }
    uffd_shim_config_init_defaults (&again);
    ok2 = uffd_shim_config_parse (&again, (const char *) data, size, FALSE, &error2);
    g_assert_true (ok == ok2);
    if (!ok)
        g_assert_cmpstr (error->message, ==, error2->message);
    uffd_shim_config_clear (&again);
    uffd_shim_config_clear (&cfg);
    return 0;
}
