/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shimctl: administer the uffd-shim broker (status, grants, grant, revoke, hook, doctor). */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin-client.h"
#include "build-config.h"
#include "config.h"
#include "doctor.h"
#include "grants.h"
#include "install.h"

typedef struct {
    UffdShimConfig cfg;
    gboolean json;
    int timeout_ms;
} Ctl;

static void
print_json (JsonBuilder *b)
{
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree char *text = NULL;

    json_generator_set_pretty (gen, TRUE);
    json_generator_set_root (gen, root);
    text = json_generator_to_data (gen, NULL);
    printf ("%s\n", text);
}

/* Prints the failure of an admin call and returns the exit status. */
static int
admin_failed (Ctl *c, const char *what, int st)
{
    if (st < 0)
        fprintf (stderr, "uffd-shimctl: %s: cannot reach the broker at %s: %s\n"
                         "Is uffd-shimd running? Start it (systemctl start uffd-shimd.socket, "
                         "or run uffd-shimd) or check [broker] admin-socket.\n",
                 what, c->cfg.admin_socket, uffd_shim_status_str (st));
    else
        fprintf (stderr, "uffd-shimctl: %s: %s\n", what, uffd_shim_status_str (st));
    return st < 0 ? 3 : 1;
}

static char *
fmt_time (gint64 t)
{
    g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (t);

    return dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

static int
cmd_status (Ctl *c)
{
    struct uffd_shim_status_record r;
    int st = uffd_shim_admin_status (c->cfg.admin_socket, &r, c->timeout_ms);

    if (st != 0)
        return admin_failed (c, "status", st);
    if (c->json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "pid");
        json_builder_add_int_value (b, r.pid);
        json_builder_set_member_name (b, "started");
        json_builder_add_int_value (b, r.started);
        json_builder_set_member_name (b, "grants");
        json_builder_add_int_value (b, r.grants);
        json_builder_set_member_name (b, "handed_out");
        json_builder_add_int_value (b, (gint64) r.handed_out);
        json_builder_set_member_name (b, "denied");
        json_builder_add_int_value (b, (gint64) r.denied);
        json_builder_set_member_name (b, "dropped");
        json_builder_add_int_value (b, (gint64) r.dropped);
        json_builder_set_member_name (b, "clients");
        json_builder_add_int_value (b, r.clients);
        json_builder_end_object (b);
        print_json (b);
    } else {
        g_autofree char *started = fmt_time (r.started);
        printf ("broker:     running (pid %d, since %s)\n", r.pid, started);
        printf ("socket:     %s\nadmin:      %s\n", c->cfg.socket, c->cfg.admin_socket);
        printf ("grants:     %u active\n", r.grants);
        printf ("handed out: %" G_GUINT64_FORMAT "\ndenied:     %" G_GUINT64_FORMAT
                "\ndropped:    %" G_GUINT64_FORMAT "\nclients:    %u open\n",
                r.handed_out, r.denied, r.dropped, r.clients);
    }
    return 0;
}

static int
cmd_grants (Ctl *c)
{
    g_autofree struct uffd_shim_grant_record *recs = NULL;
    size_t n = 0;
    int st = uffd_shim_admin_list (c->cfg.admin_socket, 0, &recs, &n, c->timeout_ms);
    g_autoptr (JsonBuilder) b = json_builder_new ();

    if (st != 0)
        return admin_failed (c, "grants", st);
    if (!c->json && n == 0) {
        printf ("no active grants\n");
        return 0;
    }
    if (c->json)
        json_builder_begin_array (b);
    else
        printf ("%-24s %-36s %-9s %-6s %-8s %s\n", "DOMAIN", "UUID", "USES", "PID", "STATE",
                "EXPIRES");
    for (size_t i = 0; i < n; i++) {
        char uuid[37];
        g_autofree char *exp = fmt_time (recs[i].expires);

        uffd_shim_uuid_format (recs[i].uuid, uuid);
        if (!c->json) {
            g_autofree char *uses = g_strdup_printf ("%u/%u", recs[i].uses_left, recs[i].uses_max);
            printf ("%-24s %-36s %-9s %-6d %-8s %s\n", recs[i].name, uuid, uses, recs[i].pid,
                    uffd_shim_grant_state_name (recs[i].state), exp);
            continue;
        }
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "domain");
        json_builder_add_string_value (b, recs[i].name);
        json_builder_set_member_name (b, "uuid");
        json_builder_add_string_value (b, uuid);
        json_builder_set_member_name (b, "created");
        json_builder_add_int_value (b, recs[i].created);
        json_builder_set_member_name (b, "expires");
        json_builder_add_int_value (b, recs[i].expires);
        json_builder_set_member_name (b, "uses_left");
        json_builder_add_int_value (b, recs[i].uses_left);
        json_builder_set_member_name (b, "uses_max");
        json_builder_add_int_value (b, recs[i].uses_max);
        json_builder_set_member_name (b, "pid");
        json_builder_add_int_value (b, recs[i].pid);
        json_builder_set_member_name (b, "state");
        json_builder_add_string_value (b, uffd_shim_grant_state_name (recs[i].state));
        json_builder_end_object (b);
    }
    if (c->json) {
        json_builder_end_array (b);
        print_json (b);
    }
    return 0;
}

static gboolean
parse_u32 (const char *s, guint32 max, guint32 *out)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned (s, 10, 1, max, &v, NULL))
        return FALSE;
    *out = (guint32) v;
    return TRUE;
}

static int
cmd_grant (Ctl *c, int argc, char **argv)
{
    guint8 uuid[UFFD_SHIM_UUID_LEN];
    guint32 lifetime = 0, uses = 0, flags = 0;
    int st;

    if (argc < 2) {
        fprintf (stderr, "usage: uffd-shimctl grant DOMAIN UUID [--lifetime SECONDS] [--uses N] [--replace]\n");
        return 2;
    }
    if (!uffd_shim_uuid_parse (argv[1], uuid)) {
        fprintf (stderr, "uffd-shimctl: '%s' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (g_str_equal (argv[i], "--replace"))
            flags |= UFFD_SHIM_GRANT_REPLACE;
        else if (g_str_equal (argv[i], "--lifetime") && i + 1 < argc && parse_u32 (argv[i + 1], 7 * 24 * 3600, &lifetime))
            i++;
        else if (g_str_equal (argv[i], "--uses") && i + 1 < argc && parse_u32 (argv[i + 1], 1000, &uses))
            i++;
        else {
            fprintf (stderr, "uffd-shimctl: grant: bad option '%s' (--lifetime 1..604800, --uses 1..1000, --replace)\n", argv[i]);
            return 2;
        }
    }
    st = uffd_shim_admin_grant (c->cfg.admin_socket, argv[0], uuid, lifetime, uses, flags, c->timeout_ms);
    if (st != 0)
        return admin_failed (c, "grant", st);
    if (!c->json)
        printf ("granted %s\n", argv[0]);
    return 0;
}

static int
cmd_revoke (Ctl *c, int argc, char **argv)
{
    int st;

    if (argc != 1) {
        fprintf (stderr, "usage: uffd-shimctl revoke DOMAIN\n");
        return 2;
    }
    st = uffd_shim_admin_revoke (c->cfg.admin_socket, argv[0], c->timeout_ms);
    if (st != 0)
        return admin_failed (c, "revoke", st);
    if (!c->json)
        printf ("revoked %s\n", argv[0]);
    return 0;
}

/* doctor [--root=DIR] [--timeout-ms=N]: host readiness checks (shim/doctor.c). */
static int
cmd_doctor (Ctl *c, int argc, char **argv, const char *config_path, gboolean config_given)
{
    UffdShimDoctorOptions o = {
        .root = g_getenv ("UFFD_SHIM_DOCTOR_ROOT"),
        .hooks_dir = g_getenv ("UFFD_SHIM_LIBVIRT_HOOKS_DIR"),
        .libvirtd_pidfile = g_getenv ("UFFD_SHIM_LIBVIRTD_PIDFILE"),
        .timeout_ms = 5000,
    };
    g_autoptr (GError) error = NULL;
    guint64 v;

    for (int i = 0; i < argc; i++) {
        if (g_str_has_prefix (argv[i], "--root="))
            o.root = argv[i] + strlen ("--root=");
        else if (g_str_equal (argv[i], "--root") && i + 1 < argc)
            o.root = argv[++i];
        else if (g_str_has_prefix (argv[i], "--timeout-ms=") &&
                 g_ascii_string_to_unsigned (argv[i] + strlen ("--timeout-ms="), 10, 100, 600000, &v, NULL))
            o.timeout_ms = (int) v;
        else {
            fprintf (stderr, "usage: uffd-shimctl [--json] doctor [--root=DIR] [--timeout-ms=N]\n");
            return 2;
        }
    }
    /* Under --root, the configuration is the root's own unless -c names one. */
    if (o.root && *o.root && !g_str_equal (o.root, "/") && !config_given) {
        g_autofree char *p = g_build_filename (o.root, config_path, NULL);

        uffd_shim_config_clear (&c->cfg);
        uffd_shim_config_init_defaults (&c->cfg);
        if (!uffd_shim_config_load (&c->cfg, p, TRUE, &error)) {
            fprintf (stderr, "uffd-shimctl: bad configuration: %s\n", error->message);
            return 2;
        }
    }
    return uffd_shim_doctor_run (&c->cfg, &o, c->json);
}

static int
cmd_hook (Ctl *c, int argc, char **argv)
{
    const char *hooks_dir = g_getenv ("UFFD_SHIM_LIBVIRT_HOOKS_DIR");
    const char *pidfile = g_getenv ("UFFD_SHIM_LIBVIRTD_PIDFILE");
    g_autoptr (GError) error = NULL;
    gboolean reload = FALSE;

    if (!hooks_dir)
        hooks_dir = "/etc/libvirt/hooks";
    if (!pidfile)
        pidfile = "/run/libvirtd.pid";
    for (int i = 1; i < argc; i++) {
        if (g_str_equal (argv[i], "--reload"))
            reload = TRUE;
        else if (g_str_has_prefix (argv[i], "--hooks-dir="))
            hooks_dir = argv[i] + strlen ("--hooks-dir=");
        else if (g_str_has_prefix (argv[i], "--libvirtd-pidfile="))
            pidfile = argv[i] + strlen ("--libvirtd-pidfile=");
        else {
            argc = 0;
            break;
        }
    }
    if (argc >= 1 && g_str_equal (argv[0], "install")) {
        if (!uffd_shim_hook_install (hooks_dir, UFFD_SHIM_HOOK_PATH, &error)) {
            fprintf (stderr, "uffd-shimctl: hook install: %s\n", error->message);
            return 1;
        }
        printf ("installed the uffd-shim hook in %s/qemu.d\n", hooks_dir);
    } else if (argc >= 1 && g_str_equal (argv[0], "uninstall")) {
        if (!uffd_shim_hook_uninstall (hooks_dir, &error)) {
            fprintf (stderr, "uffd-shimctl: hook uninstall: %s\n", error->message);
            return 1;
        }
        printf ("removed the uffd-shim hook from %s/qemu.d\n", hooks_dir);
    } else {
        fprintf (stderr, "usage: uffd-shimctl hook install|uninstall [--reload] "
                         "[--hooks-dir=DIR] [--libvirtd-pidfile=FILE]\n");
        return 2;
    }
    if (!reload) {
        printf ("libvirtd reads its hooks only at start and on SIGHUP: run "
                "'uffd-shimctl hook %s --reload', 'systemctl reload libvirtd', or "
                "'kill -HUP $(cat %s)'.\n", argv[0], pidfile);
        return 0;
    }
    if (!uffd_shim_hook_reload_libvirtd (pidfile, &error)) {
        fprintf (stderr, "uffd-shimctl: reload libvirtd: %s\n", error->message);
        return 1;
    }
    printf ("libvirtd (pid file %s) re-read its hooks\n", pidfile);
    return 0;
}

int
main (int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    g_autofree char *admin_socket = NULL;
    Ctl c = { .timeout_ms = 5000 };
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file", "PATH" },
        { "admin-socket", 0, 0, G_OPTION_ARG_FILENAME, &admin_socket, "Broker admin socket", "PATH" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &c.json, "Print JSON", NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) ctx = g_option_context_new ("COMMAND [ARGS] - administer the uffd-shim broker");
    g_autoptr (GError) error = NULL;
    gboolean config_given;
    int rc;

    setlocale (LC_ALL, "");
    g_option_context_set_summary (ctx,
        "Commands:\n"
        "  status                         broker state and counters\n"
        "  grants                         active grants\n"
        "  grant DOMAIN UUID [--lifetime S] [--uses N] [--replace]\n"
        "  revoke DOMAIN\n"
        "  hook install|uninstall [--reload]   the libvirt qemu hook\n"
        "  doctor [--root=DIR]            check the host (kernel, sysctl, libvirt, broker, hook, QEMU, LSM)");
    g_option_context_add_main_entries (ctx, entries, NULL);
    /* Subcommand options (--uses, --reload, ...) are left in argv. */
    g_option_context_set_ignore_unknown_options (ctx, TRUE);
    if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
        fprintf (stderr, "uffd-shimctl: %s\n", error->message);
        return 2;
    }
    if (argc < 2) {
        g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
        fprintf (stderr, "%s", help);
        return 2;
    }
    config_given = config_path != NULL;
    if (!config_path)
        config_path = g_strdup (g_getenv ("UFFD_SHIM_CONFIG") ? g_getenv ("UFFD_SHIM_CONFIG")
                                                            : UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf");
    uffd_shim_config_init_defaults (&c.cfg);
    if (!uffd_shim_config_load (&c.cfg, config_path, TRUE, &error)) {
        fprintf (stderr, "uffd-shimctl: bad configuration: %s\n", error->message);
        return 2;
    }
    if (admin_socket) {
        g_free (c.cfg.admin_socket);
        c.cfg.admin_socket = g_steal_pointer (&admin_socket);
    }
    if (g_str_equal (argv[1], "status"))
        rc = cmd_status (&c);
    else if (g_str_equal (argv[1], "grants"))
        rc = cmd_grants (&c);
    else if (g_str_equal (argv[1], "grant"))
        rc = cmd_grant (&c, argc - 2, argv + 2);
    else if (g_str_equal (argv[1], "revoke"))
        rc = cmd_revoke (&c, argc - 2, argv + 2);
    else if (g_str_equal (argv[1], "hook"))
        rc = cmd_hook (&c, argc - 2, argv + 2);
    else if (g_str_equal (argv[1], "doctor"))
        rc = cmd_doctor (&c, argc - 2, argv + 2, config_path, config_given);
    else {
        fprintf (stderr, "uffd-shimctl: unknown command '%s' (status, grants, grant, revoke, hook, doctor)\n", argv[1]);
        rc = 2;
    }
    uffd_shim_config_clear (&c.cfg);
    return rc;
}
