/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: configuration defaults, parsing, and errors that name the key. */
#include <glib.h>
#include <string.h>

#include "config.h"

static void
expect_error (const char *text, const char *needle)
{
    UffdShimConfig cfg;
    g_autoptr (GError) e = NULL;

    uffd_shim_config_init_defaults (&cfg);
    g_assert_false (uffd_shim_config_parse (&cfg, text, strlen (text), FALSE, &e));
    g_assert_nonnull (e);
    if (!strstr (e->message, needle))
        g_error ("'%s' lacks '%s'", e->message, needle);
    uffd_shim_config_clear (&cfg);
}

static void
test_defaults (void)
{
    UffdShimConfig cfg;
    g_autoptr (GError) e = NULL;

    uffd_shim_config_init_defaults (&cfg);
    g_assert_true (uffd_shim_config_parse (&cfg, "", 0, FALSE, &e));
    g_assert_cmpstr (cfg.socket, ==, "/run/uffd-shim/uffd.sock");
    g_assert_cmpstr (cfg.admin_socket, ==, "/run/uffd-shim/admin.sock");
    g_assert_cmpstr (cfg.qemu_user, ==, "libvirt-qemu");
    g_assert_cmpstr (cfg.libvirt_run_dir, ==, "/run/libvirt/qemu");
    g_assert_cmpuint (cfg.grant_lifetime_s, ==, 1800);
    g_assert_cmpuint (cfg.grant_uses, ==, 8);
    g_assert_cmpuint (cfg.socket_mode, ==, 0666);
    g_assert_true (uffd_shim_config_domain_allowed (&cfg, "anything"));
    uffd_shim_config_clear (&cfg);
}

static void
test_values (void)
{
    const char *text = "[broker]\nsocket=/tmp/x.sock\nsocket-mode=0660\nclient-timeout-ms=250\n"
                       "[qemu]\nuser=4242\nemulators=/a/qemu;/b/qemu;\n"
                       "[grants]\nlifetime=60\nuses=3\nallow-domains=web-*;db1\ndeny-domains=web-evil\n"
                       "[hook]\nopt-in=true\ndomains=web-*\n";
    UffdShimConfig cfg;
    g_autoptr (GError) e = NULL;

    uffd_shim_config_init_defaults (&cfg);
    g_assert_true (uffd_shim_config_parse (&cfg, text, strlen (text), TRUE, &e));
    g_assert_no_error (e);
    g_assert_cmpstr (cfg.socket, ==, "/tmp/x.sock");
    g_assert_cmpuint (cfg.socket_mode, ==, 0660);
    g_assert_cmpuint (cfg.client_timeout_ms, ==, 250);
    g_assert_cmpint (cfg.qemu_uid, ==, 4242);
    g_assert_cmpuint (g_strv_length (cfg.emulators), ==, 2);
    g_assert_cmpuint (cfg.grant_uses, ==, 3);
    g_assert_true (cfg.hook_opt_in);
    g_assert_true (uffd_shim_config_domain_allowed (&cfg, "web-1"));
    g_assert_true (uffd_shim_config_domain_allowed (&cfg, "db1"));
    g_assert_false (uffd_shim_config_domain_allowed (&cfg, "web-evil"));
    g_assert_false (uffd_shim_config_domain_allowed (&cfg, "db2"));
    uffd_shim_config_clear (&cfg);
}

static void
test_errors (void)
{
    expect_error ("[broker]\nsocket=relative.sock\n", "[broker] socket: 'relative.sock' is not an absolute path");
    expect_error ("[broker]\nsokcet=/x\n", "[broker] sokcet: unknown key");
    expect_error ("[brocker]\n", "[brocker]: unknown group");
    expect_error ("[grants]\nlifetime=0\n", "[grants] lifetime:");
    expect_error ("[grants]\nuses=abc\n", "[grants] uses: 'abc' is not a number");
    expect_error ("[broker]\nsocket-mode=999\n", "[broker] socket-mode:");
    expect_error ("[broker]\nlog=file\n", "[broker] log: 'file' is not one of");
    expect_error ("[qemu]\nemulators=/ok;relative\n", "[qemu] emulators: 'relative'");
    expect_error ("[hook]\nopt-in=maybe\n", "[hook] opt-in: not a boolean");
    expect_error ("[broker]\nadmin-socket=/run/uffd-shim/uffd.sock\n", "[broker] admin-socket: must differ");
    expect_error ("[broker]\nsocket=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                  "[broker] socket: socket path is longer");
    expect_error ("not a key file", "");
}

static void
test_user_resolution (void)
{
    const char *texts[] = { "[qemu]\nuser=root\n", "[qemu]\nuser=no-such-user-uffd\n" };
    const char *msgs[] = { "[qemu] user: 'root' is root", "[qemu] user: no such user" };

    for (int i = 0; i < 2; i++) {
        UffdShimConfig cfg;
        g_autoptr (GError) e = NULL;
        uffd_shim_config_init_defaults (&cfg);
        g_assert_false (uffd_shim_config_parse (&cfg, texts[i], strlen (texts[i]), TRUE, &e));
        g_assert_nonnull (strstr (e->message, msgs[i]));
        uffd_shim_config_clear (&cfg);
    }
}

/* Whether a daemon running @old_text takes @new_text on SIGHUP; the uid it
 * would serve then in *uid. */
static gboolean
reloads (const char *old_text, const char *new_text, uid_t *uid, char **msg)
{
    UffdShimConfig old, next;
    g_autoptr (GError) e = NULL;
    gboolean ok;

    uffd_shim_config_init_defaults (&old);
    uffd_shim_config_init_defaults (&next);
    g_assert_true (uffd_shim_config_parse (&old, old_text, strlen (old_text), TRUE, NULL));
    g_assert_true (uffd_shim_config_parse (&next, new_text, strlen (new_text), FALSE, NULL));
    ok = uffd_shim_config_reload_check (&old, &next, &e);
    *uid = next.qemu_uid;
    if (msg)
        *msg = e ? g_strdup (e->message) : NULL;
    uffd_shim_config_clear (&old);
    uffd_shim_config_clear (&next);
    return ok;
}

static void
test_reload_check (void)
{
    const char *base = "[qemu]\nuser=64055\n";
    uid_t uid = 0;
    g_autofree char *msg = NULL, *msg2 = NULL;

    g_assert_true (reloads (base, "[qemu]\nuser=64055\n[grants]\nlifetime=60\ndeny-domains=x*\n"
                                  "[broker]\nmax-clients=10\nclient-timeout-ms=500\n", &uid, NULL));
    g_assert_cmpint (uid, ==, 64055);
    g_assert_true (reloads (base, "[qemu]\nuser=1234\n", &uid, NULL));
    g_assert_cmpint (uid, ==, 1234);
    g_assert_false (reloads (base, "[qemu]\nuser=someone\n", &uid, &msg));
    g_assert_nonnull (strstr (msg, "[qemu] user changed to the name 'someone'"));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[broker]\nsocket=/run/x.sock\n", &uid, &msg2));
    g_assert_nonnull (strstr (msg2, "[broker] socket changed: that takes a restart"));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[broker]\nadmin-socket=/run/a.sock\n", &uid, NULL));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[broker]\nstate-dir=/run/s\n", &uid, NULL));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[broker]\nlog=syslog\n", &uid, NULL));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[broker]\nsocket-mode=0660\n", &uid, NULL));
    g_assert_false (reloads (base, "[qemu]\nuser=64055\n[grants]\nmax-grants=10\n", &uid, NULL));
}

static void
test_backend (void)
{
    const char *text = "[qemu]\nuser=4242\n"
                       "[backend]\nuser=4343\nexecutables=/usr/local/bin/qemu-storage-daemon\n"
                       "shared=true\nuses=2\n";
    const char *texts[] = { "[qemu]\nuser=4242\n[backend]\nuser=root\n",
                            "[qemu]\nuser=4242\n[backend]\nuser=no-such-user-uffd\n" };
    const char *msgs[] = { "[backend] user: 'root' is root", "[backend] user: no such user" };
    UffdShimConfig cfg;
    g_autoptr (GError) e = NULL;

    /* off by default */
    uffd_shim_config_init_defaults (&cfg);
    g_assert_true (uffd_shim_config_parse (&cfg, "[qemu]\nuser=4242\n", 16, TRUE, &e));
    g_assert_true (cfg.backend_uid == (uid_t) -1);
    g_assert_cmpuint (g_strv_length (cfg.backend_executables), ==, 0);
    g_assert_false (cfg.backend_shared);
    g_assert_cmpuint (cfg.backend_uses, ==, 4);
    uffd_shim_config_clear (&cfg);

    uffd_shim_config_init_defaults (&cfg);
    g_assert_true (uffd_shim_config_parse (&cfg, text, strlen (text), TRUE, &e));
    g_assert_cmpint (cfg.backend_uid, ==, 4343);
    g_assert_cmpstr (cfg.backend_executables[0], ==, "/usr/local/bin/qemu-storage-daemon");
    g_assert_true (cfg.backend_shared);
    g_assert_cmpuint (cfg.backend_uses, ==, 2);
    uffd_shim_config_clear (&cfg);

    for (int i = 0; i < 2; i++) {
        g_autoptr (GError) e2 = NULL;
        uffd_shim_config_init_defaults (&cfg);
        g_assert_false (uffd_shim_config_parse (&cfg, texts[i], strlen (texts[i]), TRUE, &e2));
        g_assert_nonnull (strstr (e2->message, msgs[i]));
        uffd_shim_config_clear (&cfg);
    }
    expect_error ("[backend]\nexecutables=qemu-storage-daemon\n", "[backend] executables: 'qemu-storage-daemon'");
    expect_error ("[backend]\nuses=0\n", "[backend] uses:");
    expect_error ("[backend]\nshared=sometimes\n", "[backend] shared: not a boolean");
    expect_error ("[backend]\nuser=\n", "[backend] user: must not be empty");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/config/defaults", test_defaults);
    g_test_add_func ("/config/values", test_values);
    g_test_add_func ("/config/errors", test_errors);
    g_test_add_func ("/config/user", test_user_resolution);
    g_test_add_func ("/config/reload-check", test_reload_check);
    g_test_add_func ("/config/backend", test_backend);
    return g_test_run ();
}
