/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shimctl: administer the uffd-shim broker (status, grants, grant, revoke, hook, doctor, audit). */
/*
 * Command line. One mechanism for every command: GOption. The main context
 * takes the global options up to the first non-option word, the command
 * (strict POSIX parsing); each command has its own GOptionContext with its
 * options and parameter string, plus the global ones again, so
 * "uffd-shimctl grants --json" and "uffd-shimctl --json grants" are the same
 * and "uffd-shimctl COMMAND --help" prints that command's help.
 *
 * Errors. Every failure goes through ctl_fail(): a line on stderr, or under
 * --json one JSON object on stdout ({"error": {...}}) and nothing on stderr,
 * with the same exit status (2 usage or configuration, 1 refused or failed,
 * 3 the broker unreachable).
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin-client.h"
#include "audit-record.h"
#include "build-config.h"
#include "config.h"
#include "doctor.h"
#include "facts.h"
#include "install.h"
#include "protocol.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
/* The broker's limits on a GRANT (docs/protocol.md). */
#define MAX_LIFETIME_S (7u * 24u * 3600u)
#define MAX_USES 1000u

typedef struct {
    UffdShimConfig cfg;
    const char *command;
    /* global options (main context) */
    char *config_path;
    gboolean config_given;
    char *admin_socket;
    gboolean json;
    gboolean version;
    /* the same, given after the command */
    char *late_config_path;
    char *late_admin_socket;
    int timeout_ms;
    /* grant */
    int lifetime;
    int uses;
    gboolean replace;
    /* grants */
    gboolean all;
    /* hook */
    gboolean reload;
    char *hooks_dir;
    char *pidfile;
    /* doctor */
    char *root;
    int doctor_timeout_ms;
    /* audit */
    char *log_file;
    gboolean journal;
} Ctl;

static void
ctl_clear (Ctl *c)
{
    uffd_shim_config_clear (&c->cfg);
    g_free (c->config_path);
    g_free (c->admin_socket);
    g_free (c->late_config_path);
    g_free (c->late_admin_socket);
    g_free (c->hooks_dir);
    g_free (c->pidfile);
    g_free (c->root);
    g_free (c->log_file);
}

static void
print_json_node (JsonNode *root)
{
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autofree char *text = NULL;

    json_generator_set_pretty (gen, TRUE);
    json_generator_set_root (gen, root);
    text = json_generator_to_data (gen, NULL);
    printf ("%s\n", text);
}

static void
print_json (JsonBuilder *b)
{
    g_autoptr (JsonNode) root = json_builder_get_root (b);

    print_json_node (root);
}

/*
 * Reports a failure and returns @status. @reason is a stable word for
 * scripts ("usage", "config", a broker status name, "unreachable", ...).
 */
G_GNUC_PRINTF (4, 5) static int
ctl_fail (const Ctl *c, int status, const char *reason, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start (ap, fmt);
    msg = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    if (c->json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();

        json_builder_begin_object (b);
        json_builder_set_member_name (b, "error");
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "command");
        if (c->command)
            json_builder_add_string_value (b, c->command);
        else
            json_builder_add_null_value (b);
        json_builder_set_member_name (b, "reason");
        json_builder_add_string_value (b, reason);
        json_builder_set_member_name (b, "message");
        json_builder_add_string_value (b, msg);
        json_builder_set_member_name (b, "exit_status");
        json_builder_add_int_value (b, status);
        json_builder_end_object (b);
        json_builder_end_object (b);
        print_json (b);
    } else if (c->command) {
        fprintf (stderr, "uffd-shimctl: %s: %s\n", c->command, msg);
    } else {
        fprintf (stderr, "uffd-shimctl: %s\n", msg);
    }
    return status;
}

/* The failure of an admin call. */
static int
admin_failed (const Ctl *c, int st)
{
    if (st < 0)
        return ctl_fail (c, EXIT_UNREACHABLE, uffd_shim_status_name (st),
                         "cannot reach the broker at %s: %s. Is uffd-shimd running? Start it "
                         "(systemctl start uffd-shimd.socket, or run uffd-shimd) or check "
                         "[broker] admin-socket.",
                         c->cfg.admin_socket, uffd_shim_status_str (st));
    return ctl_fail (c, EXIT_REFUSED, uffd_shim_status_name (st), "the broker refused: %s",
                     uffd_shim_status_str (st));
}

static char *
fmt_time (gint64 t)
{
    g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (t);

    return dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

static void
json_member_int (JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name (b, name);
    json_builder_add_int_value (b, v);
}

static void
json_member_str (JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name (b, name);
    if (v)
        json_builder_add_string_value (b, v);
    else
        json_builder_add_null_value (b);
}

/* ---- status, grants, grant, revoke ------------------------------------- */

static int
cmd_status (Ctl *c, int argc, char **argv)
{
    struct uffd_shim_status_record r;
    int st = uffd_shim_admin_status (c->cfg.admin_socket, &r, c->timeout_ms);

    if (st != 0)
        return admin_failed (c, st);
    if (c->json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();

        json_builder_begin_object (b);
        json_member_int (b, "pid", r.pid);
        json_member_int (b, "started", r.started);
        json_member_int (b, "grants", r.grants);
        json_member_int (b, "handed_out", (gint64) r.handed_out);
        json_member_int (b, "denied", (gint64) r.denied);
        json_member_int (b, "dropped", (gint64) r.dropped);
        json_member_int (b, "clients", r.clients);
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

/* What an ended grant's state means, for `grants --all`. */
static const char *
state_why (guint32 state)
{
    switch (state) {
    case UFFD_SHIM_GRANT_ACTIVE: return "";
    case UFFD_SHIM_GRANT_EXPIRED: return "lifetime over before the migration needed it";
    case UFFD_SHIM_GRANT_EXHAUSTED: return "used up (use limit or the LAST hint)";
    case UFFD_SHIM_GRANT_REVOKED: return "revoked (domain stopped, or by hand)";
    case UFFD_SHIM_GRANT_EXITED: return "its QEMU exited";
    case UFFD_SHIM_GRANT_DONE: return "the incoming migration was over";
    }
    return "unknown";
}

static int
cmd_grants (Ctl *c, int argc, char **argv)
{
    g_autofree struct uffd_shim_grant_record *recs = NULL;
    size_t n = 0;
    int st = uffd_shim_admin_list (c->cfg.admin_socket, c->all ? UFFD_SHIM_LIST_ALL : 0, &recs,
                                   &n, c->timeout_ms);
    g_autoptr (JsonBuilder) b = json_builder_new ();

    if (st != 0)
        return admin_failed (c, st);
    if (!c->json && n == 0) {
        printf (c->all ? "no grants\n" : "no active grants\n");
        return 0;
    }
    if (c->json)
        json_builder_begin_array (b);
    else
        printf ("%-24s %-36s %-9s %-7s %-9s %-19s%s\n", "DOMAIN", "UUID", "USES", "PID", "STATE",
                "EXPIRES", c->all ? " WHY" : "");
    for (size_t i = 0; i < n; i++) {
        char uuid[37];
        g_autofree char *exp = fmt_time (recs[i].expires);
        const char *state = uffd_shim_grant_state_name (recs[i].state);

        uffd_shim_uuid_format (recs[i].uuid, uuid);
        if (!c->json) {
            g_autofree char *uses = g_strdup_printf ("%u/%u", recs[i].uses_left, recs[i].uses_max);

            printf ("%-24s %-36s %-9s %-7d %-9s %-19s%s%s\n", recs[i].name, uuid, uses,
                    recs[i].pid, state, exp, c->all && *state_why (recs[i].state) ? " " : "",
                    c->all ? state_why (recs[i].state) : "");
            continue;
        }
        json_builder_begin_object (b);
        json_member_str (b, "domain", recs[i].name);
        json_member_str (b, "uuid", uuid);
        json_member_int (b, "created", recs[i].created);
        json_member_int (b, "expires", recs[i].expires);
        json_member_int (b, "uses_left", recs[i].uses_left);
        json_member_int (b, "uses_max", recs[i].uses_max);
        json_member_int (b, "pid", recs[i].pid);
        json_member_str (b, "state", state);
        if (c->all)
            json_member_str (b, "why", recs[i].state == UFFD_SHIM_GRANT_ACTIVE
                                       ? NULL : state_why (recs[i].state));
        json_builder_end_object (b);
    }
    if (c->json) {
        json_builder_end_array (b);
        print_json (b);
    }
    return 0;
}

static int
cmd_grant (Ctl *c, int argc, char **argv)
{
    guint8 uuid[UFFD_SHIM_UUID_LEN];
    int st;

    if (!uffd_shim_uuid_parse (argv[1], uuid))
        return ctl_fail (c, EXIT_USAGE, "usage",
                         "'%s' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", argv[1]);
    if (c->lifetime != 0 && (c->lifetime < 1 || (guint) c->lifetime > MAX_LIFETIME_S))
        return ctl_fail (c, EXIT_USAGE, "usage", "--lifetime must be 1..%u seconds",
                         MAX_LIFETIME_S);
    if (c->uses != 0 && (c->uses < 1 || (guint) c->uses > MAX_USES))
        return ctl_fail (c, EXIT_USAGE, "usage", "--uses must be 1..%u", MAX_USES);
    st = uffd_shim_admin_grant (c->cfg.admin_socket, argv[0], uuid, (guint32) c->lifetime,
                                (guint32) c->uses, c->replace ? UFFD_SHIM_GRANT_REPLACE : 0,
                                c->timeout_ms);
    if (st != 0)
        return admin_failed (c, st);
    if (c->json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();

        json_builder_begin_object (b);
        json_member_str (b, "granted", argv[0]);
        json_builder_end_object (b);
        print_json (b);
    } else {
        printf ("granted %s\n", argv[0]);
    }
    return 0;
}

static int
cmd_revoke (Ctl *c, int argc, char **argv)
{
    int st = uffd_shim_admin_revoke (c->cfg.admin_socket, argv[0], c->timeout_ms);

    if (st != 0)
        return admin_failed (c, st);
    if (c->json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();

        json_builder_begin_object (b);
        json_member_str (b, "revoked", argv[0]);
        json_builder_end_object (b);
        print_json (b);
    } else {
        printf ("revoked %s\n", argv[0]);
    }
    return 0;
}

/* ---- doctor ----------------------------------------------------------- */

static int
cmd_doctor (Ctl *c, int argc, char **argv)
{
    UffdShimDoctorOptions o = {
        .root = c->root ? c->root : g_getenv ("UFFD_SHIM_DOCTOR_ROOT"),
        .hooks_dir = g_getenv ("UFFD_SHIM_LIBVIRT_HOOKS_DIR"),
        .libvirtd_pidfile = g_getenv ("UFFD_SHIM_LIBVIRTD_PIDFILE"),
        .timeout_ms = c->doctor_timeout_ms ? c->doctor_timeout_ms : 5000,
    };
    g_autoptr (GError) error = NULL;

    if (o.timeout_ms < 100 || o.timeout_ms > 600000)
        return ctl_fail (c, EXIT_USAGE, "usage", "--timeout-ms must be 100..600000");
    /* Under --root, the configuration is the root's own unless -c names one. */
    if (o.root && *o.root && !g_str_equal (o.root, "/") && !c->config_given) {
        g_autofree char *p = g_build_filename (o.root, c->config_path, NULL);

        uffd_shim_config_clear (&c->cfg);
        uffd_shim_config_init_defaults (&c->cfg);
        if (!uffd_shim_config_load (&c->cfg, p, TRUE, &error))
            return ctl_fail (c, EXIT_USAGE, "config", "bad configuration: %s", error->message);
    }
    return uffd_shim_doctor_run (&c->cfg, &o, c->json);
}

/* ---- hook ------------------------------------------------------------- */

static int
hook_reload (Ctl *c, const char *action, JsonBuilder *b)
{
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) done = g_ptr_array_new_with_free_func ((GDestroyNotify) uffd_shim_reloaded_free);
    const char *env = g_getenv ("UFFD_SHIM_LIBVIRTD_PIDFILE");
    const char *given = c->pidfile ? c->pidfile : env;
    const char *one[] = { given, NULL };

    if (!c->reload) {
        if (!c->json)
            printf ("libvirt's daemon (libvirtd, or virtqemud) reads its hooks only at start and "
                    "on SIGHUP: run 'uffd-shimctl hook %s --reload', or 'systemctl reload "
                    "virtqemud' or 'systemctl reload libvirtd', whichever runs.\n", action);
        return 0;
    }
    if (!uffd_shim_hook_reload_daemons (given ? one : NULL, done, &error))
        return ctl_fail (c, EXIT_REFUSED, "reload", "cannot make libvirt re-read its hooks: %s",
                         error->message);
    if (b) {
        json_builder_set_member_name (b, "reloaded");
        json_builder_begin_array (b);
    }
    for (guint i = 0; i < done->len; i++) {
        UffdShimReloaded *r = done->pdata[i];

        if (b) {
            json_builder_begin_object (b);
            json_member_str (b, "daemon", r->name);
            json_member_int (b, "pid", r->pid);
            json_member_str (b, "pidfile", r->pidfile);
            json_builder_end_object (b);
        } else {
            printf ("%s (pid %d, pid file %s) re-read its hooks\n", r->name, r->pid, r->pidfile);
        }
    }
    if (b)
        json_builder_end_array (b);
    return 0;
}

static int
cmd_hook (Ctl *c, int argc, char **argv)
{
    const char *env_dir = g_getenv ("UFFD_SHIM_LIBVIRT_HOOKS_DIR");
    const char *hooks_dir = c->hooks_dir ? c->hooks_dir : env_dir ? env_dir : "/etc/libvirt/hooks";
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonBuilder) b = c->json ? json_builder_new () : NULL;
    gboolean install = g_str_equal (argv[0], "install");
    int rc;

    if (!install && !g_str_equal (argv[0], "uninstall"))
        return ctl_fail (c, EXIT_USAGE, "usage", "expected 'install' or 'uninstall', not '%s'",
                         argv[0]);
    if (install ? !uffd_shim_hook_install (hooks_dir, UFFD_SHIM_HOOK_PATH, &error)
                : !uffd_shim_hook_uninstall (hooks_dir, &error))
        return ctl_fail (c, EXIT_REFUSED, argv[0], "%s", error->message);
    if (b) {
        g_autofree char *path = g_build_filename (hooks_dir, "qemu.d", UFFD_SHIM_HOOK_INSTALL_NAME, NULL);

        json_builder_begin_object (b);
        json_member_str (b, install ? "installed" : "removed", path);
    } else {
        printf (install ? "installed the uffd-shim hook in %s/qemu.d\n"
                        : "removed the uffd-shim hook from %s/qemu.d\n", hooks_dir);
    }
    rc = hook_reload (c, argv[0], b);
    if (b && rc == 0) {
        json_builder_end_object (b);
        print_json (b);
    }
    return rc;
}

/* ---- audit ------------------------------------------------------------ */

/* The broker's log lines: from --log-file, the journal, or syslog's file. */
static gboolean
read_audit_source (Ctl *c, char **text, char **source, GError **error)
{
    const char *file = c->log_file;

    if (!file && !c->journal && g_file_test ("/run/systemd/journal/socket", G_FILE_TEST_EXISTS) &&
        g_find_program_in_path ("journalctl"))
        c->journal = TRUE;
    if (!file && !c->journal) {
        static const char *const syslog_files[] = { "/var/log/auth.log", "/var/log/secure", NULL };

        for (const char *const *f = syslog_files; *f && !file; f++)
            if (g_file_test (*f, G_FILE_TEST_IS_REGULAR))
                file = *f;
        if (!file) {
            g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                         "no journal and no /var/log/auth.log or /var/log/secure: name the "
                         "broker's log with --log-file");
            return FALSE;
        }
    }
    if (file) {
        *source = g_strdup (file);
        return g_file_get_contents (file, text, NULL, error);
    }
    {
        /* The broker logs under the identifier uffd-shimd (syslog and journal). */
        char *argv[] = { (char *) "journalctl", (char *) "-q", (char *) "--no-pager",
                         (char *) "-o", (char *) "short-iso", (char *) "-t",
                         (char *) "uffd-shimd", NULL };
        int status = 0;

        *source = g_strdup ("the journal (journalctl -t uffd-shimd)");
        if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                           NULL, NULL, text, NULL, &status, error))
            return FALSE;
        return g_spawn_check_wait_status (status, error);
    }
}

static void
audit_json (const char *domain, const char *source, GPtrArray *grants)
{
    g_autoptr (JsonBuilder) b = json_builder_new ();

    json_builder_begin_object (b);
    json_member_str (b, "domain", domain);
    json_member_str (b, "source", source);
    json_builder_set_member_name (b, "grants");
    json_builder_begin_array (b);
    for (guint i = 0; i < grants->len; i++) {
        UffdShimAuditGrant *g = grants->pdata[i];

        json_builder_begin_object (b);
        json_member_str (b, "uuid", g->uuid);
        json_member_str (b, "created", g->created_at);
        json_member_str (b, "ended", g->ended_at);
        json_member_str (b, "why", g->why);
        json_builder_set_member_name (b, "used_shim");
        json_builder_add_boolean_value (b, uffd_shim_audit_grant_used (g));
        json_member_int (b, "devices", g->handed_out);
        json_builder_set_member_name (b, "last_hint");
        json_builder_add_boolean_value (b, g->last_seen);
        json_builder_set_member_name (b, "pids");
        json_builder_begin_array (b);
        for (guint j = 0; j < g->pids->len; j++)
            json_builder_add_int_value (b, g_array_index (g->pids, int, j));
        json_builder_end_array (b);
        json_builder_set_member_name (b, "denials");
        json_builder_begin_array (b);
        for (guint j = 0; j < g->denials->len; j++)
            json_builder_add_string_value (b, g->denials->pdata[j]);
        json_builder_end_array (b);
        json_builder_end_object (b);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
    print_json (b);
}

static void
audit_text (const char *domain, const char *source, GPtrArray *grants)
{
    printf ("%s: %u grant%s in %s\n", domain, grants->len, grants->len == 1 ? "" : "s", source);
    for (guint i = 0; i < grants->len; i++) {
        UffdShimAuditGrant *g = grants->pdata[i];
        g_autoptr (GString) pids = g_string_new (NULL);

        for (guint j = 0; j < g->pids->len; j++)
            g_string_append_printf (pids, "%s%d", j ? ", " : "", g_array_index (g->pids, int, j));
        printf ("  grant %s, created %s, %s%s%s%s\n", g->uuid ? g->uuid : "(uuid unknown)",
                g->created_at ? g->created_at : "(time unknown)",
                g->why ? "ended " : "not ended (active)", g->ended_at ? g->ended_at : "",
                g->why ? ": " : "", g->why ? g->why : "");
        if (uffd_shim_audit_grant_used (g))
            printf ("    used the shim: yes, %u device%s handed to QEMU pid %s%s\n", g->handed_out,
                    g->handed_out == 1 ? "" : "s", pids->str,
                    g->last_seen ? " (the last with the LAST hint)" : "");
        else
            printf ("    used the shim: no (no device handed out)\n");
        for (guint j = 0; j < g->denials->len; j++)
            printf ("    denied: %s\n", (char *) g->denials->pdata[j]);
    }
}

static int
cmd_audit (Ctl *c, int argc, char **argv)
{
    g_autoptr (GError) error = NULL;
    g_autoptr (UffdShimAuditLog) log = uffd_shim_audit_log_new (argv[0]);
    g_autofree char *text = NULL, *source = NULL;
    g_auto (GStrv) lines = NULL;
    GPtrArray *grants;

    if (c->log_file && c->journal)
        return ctl_fail (c, EXIT_USAGE, "usage", "--log-file and --journal exclude each other");
    if (!read_audit_source (c, &text, &source, &error))
        return ctl_fail (c, EXIT_USAGE, "log", "cannot read the broker's log: %s", error->message);
    lines = g_strsplit (text, "\n", -1);
    for (char **l = lines; *l; l++)
        uffd_shim_audit_log_feed (log, *l, NULL);
    grants = uffd_shim_audit_log_grants (log);
    if (c->json)
        audit_json (argv[0], source, grants);
    else
        audit_text (argv[0], source, grants);
    /* 0: the domain's latest grant had the shim hand out a device. */
    return grants->len > 0 && uffd_shim_audit_grant_used (grants->pdata[grants->len - 1])
           ? 0 : EXIT_REFUSED;
}

/* ---- the command table and main ---------------------------------------- */

typedef struct {
    const char *name;
    const char *params;  /* parameter string of its help */
    const char *summary;
    int min_args, max_args;
    gboolean needs_config;
    int (*run) (Ctl *c, int argc, char **argv);
    void (*options) (Ctl *c, GOptionContext *ctx);
} Command;

static void
grant_options (Ctl *c, GOptionContext *ctx)
{
    GOptionEntry e[] = {
        { "lifetime", 0, 0, G_OPTION_ARG_INT, &c->lifetime, "Seconds the grant lasts (default: [grants] lifetime)", "SECONDS" },
        { "uses", 0, 0, G_OPTION_ARG_INT, &c->uses, "Devices it hands out at most (default: [grants] uses)", "N" },
        { "replace", 0, 0, G_OPTION_ARG_NONE, &c->replace, "Replace an active grant of the domain", NULL },
        { NULL },
    };
    g_option_context_add_main_entries (ctx, e, NULL);
}

static void
grants_options (Ctl *c, GOptionContext *ctx)
{
    GOptionEntry e[] = {
        { "all", 'a', 0, G_OPTION_ARG_NONE, &c->all, "Ended grants too, with why they ended", NULL },
        { NULL },
    };
    g_option_context_add_main_entries (ctx, e, NULL);
}

static void
hook_options (Ctl *c, GOptionContext *ctx)
{
    GOptionEntry e[] = {
        { "reload", 'r', 0, G_OPTION_ARG_NONE, &c->reload, "Make the running libvirt daemon (virtqemud or libvirtd) re-read its hooks (SIGHUP)", NULL },
        { "hooks-dir", 0, 0, G_OPTION_ARG_FILENAME, &c->hooks_dir, "libvirt's hook directory (default /etc/libvirt/hooks)", "DIR" },
        { "libvirtd-pidfile", 0, 0, G_OPTION_ARG_FILENAME, &c->pidfile, "Pid file of the daemon to reload (default: the running one of /run/virtqemud.pid, /run/libvirtd.pid, /run/libvirt/virtqemud.pid, /run/libvirt/libvirtd.pid)", "FILE" },
        { NULL },
    };
    g_option_context_add_main_entries (ctx, e, NULL);
}

static void
doctor_options (Ctl *c, GOptionContext *ctx)
{
    GOptionEntry e[] = {
        { "root", 0, 0, G_OPTION_ARG_FILENAME, &c->root, "Check the tree under DIR instead of the host", "DIR" },
        { "timeout-ms", 0, 0, G_OPTION_ARG_INT, &c->doctor_timeout_ms, "Bound on each program run and the status call (default 5000)", "N" },
        { NULL },
    };
    g_option_context_add_main_entries (ctx, e, NULL);
}

static void
audit_options (Ctl *c, GOptionContext *ctx)
{
    GOptionEntry e[] = {
        { "log-file", 'f', 0, G_OPTION_ARG_FILENAME, &c->log_file, "Read the broker's log from FILE (its stderr, or syslog's file)", "FILE" },
        { "journal", 0, 0, G_OPTION_ARG_NONE, &c->journal, "Read the journal (journalctl -t uffd-shimd)", NULL },
        { NULL },
    };
    g_option_context_add_main_entries (ctx, e, NULL);
}

static const Command commands[] = {
    { "status", "", "The broker's state and counters.", 0, 0, TRUE, cmd_status, NULL },
    { "grants", "", "The active grants (--all: ended ones too, with why).", 0, 0, TRUE, cmd_grants, grants_options },
    { "grant", "DOMAIN UUID", "Open a grant by hand (the hook does it for incoming migrations).", 2, 2, TRUE, cmd_grant, grant_options },
    { "revoke", "DOMAIN", "End the domain's grant.", 1, 1, TRUE, cmd_revoke, NULL },
    { "hook", "install|uninstall", "Install or remove the libvirt qemu hook (qemu.d/" UFFD_SHIM_HOOK_INSTALL_NAME ").", 1, 1, FALSE, cmd_hook, hook_options },
    { "doctor", "", "Check the host: kernel, sysctl, libvirt, broker, hook, QEMU, AppArmor/SELinux.", 0, 0, TRUE, cmd_doctor, doctor_options },
    { "audit", "DOMAIN", "What the broker's log says about DOMAIN's grants: did its migration use the shim. Exit 0 when the latest grant handed out a device.", 1, 1, FALSE, cmd_audit, audit_options },
};

static const Command *
find_command (const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
        if (g_str_equal (commands[i].name, name))
            return &commands[i];
    return NULL;
}

static char *
commands_summary (void)
{
    GString *s = g_string_new ("Commands (uffd-shimctl COMMAND --help for each):\n");

    for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
        g_string_append_printf (s, "  %-8s %-18s %s\n", commands[i].name, commands[i].params,
                                commands[i].summary);
    g_string_truncate (s, s->len - 1);
    return g_string_free (s, FALSE);
}

static void
add_global_group (Ctl *c, GOptionContext *ctx, gboolean late)
{
    GOptionEntry e[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, late ? &c->late_config_path : &c->config_path, "Configuration file (default " UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf)", "PATH" },
        { "admin-socket", 0, 0, G_OPTION_ARG_FILENAME, late ? &c->late_admin_socket : &c->admin_socket, "Broker admin socket", "PATH" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &c->json, "Print JSON (errors too, on stdout)", NULL },
        { NULL },
    };

    g_option_context_add_main_entries (ctx, e, NULL);
}

/* Takes an option given after the command over the one before it. */
static void
take_late (char **early, char **late)
{
    if (*late) {
        g_free (*early);
        *early = g_steal_pointer (late);
    }
}

static int
run_command (Ctl *c, const Command *cmd, int argc, char **argv)
{
    g_autofree char *pstring = g_strdup_printf ("%s%s%s", cmd->name, *cmd->params ? " " : "",
                                                cmd->params);
    g_autoptr (GOptionContext) ctx = g_option_context_new (pstring);
    g_autoptr (GError) error = NULL;

    c->command = cmd->name;
    g_option_context_set_summary (ctx, cmd->summary);
    g_option_context_set_help_enabled (ctx, TRUE);
    if (cmd->options)
        cmd->options (c, ctx);
    add_global_group (c, ctx, TRUE);
    if (!g_option_context_parse (ctx, &argc, &argv, &error))
        return ctl_fail (c, EXIT_USAGE, "usage", "%s (see 'uffd-shimctl %s --help')",
                         error->message, cmd->name);
    /* argv[0] is the command itself. */
    if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args)
        return ctl_fail (c, EXIT_USAGE, "usage", "usage: uffd-shimctl %s (see 'uffd-shimctl %s --help')",
                         pstring, cmd->name);
    c->config_given = c->config_path || c->late_config_path;
    take_late (&c->config_path, &c->late_config_path);
    take_late (&c->admin_socket, &c->late_admin_socket);
    if (!c->config_path)
        c->config_path = g_strdup (g_getenv ("UFFD_SHIM_CONFIG") ? g_getenv ("UFFD_SHIM_CONFIG")
                                   : UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf");
    uffd_shim_config_init_defaults (&c->cfg);
    if (cmd->needs_config && !uffd_shim_config_load (&c->cfg, c->config_path, TRUE, &error))
        return ctl_fail (c, EXIT_USAGE, "config", "bad configuration: %s", error->message);
    if (c->admin_socket) {
        g_free (c->cfg.admin_socket);
        c->cfg.admin_socket = g_strdup (c->admin_socket);
    }
    return cmd->run (c, argc - 1, argv + 1);
}

int
main (int argc, char **argv)
{
    Ctl c = { .timeout_ms = 5000 };
    g_autoptr (GOptionContext) ctx = g_option_context_new ("COMMAND [OPTIONS] [ARGS] - administer the uffd-shim broker");
    g_autoptr (GError) error = NULL;
    g_autofree char *summary = commands_summary ();
    GOptionEntry version[] = {
        { "version", 'V', 0, G_OPTION_ARG_NONE, &c.version, "Print the version and exit", NULL },
        { NULL },
    };
    const Command *cmd;
    int rc;

    setlocale (LC_ALL, "");
    g_option_context_set_summary (ctx, summary);
    add_global_group (&c, ctx, FALSE);
    g_option_context_add_main_entries (ctx, version, NULL);
    /* Stop at the command: what follows is its own. */
    g_option_context_set_strict_posix (ctx, TRUE);
    if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
        rc = ctl_fail (&c, EXIT_USAGE, "usage", "%s", error->message);
        ctl_clear (&c);
        return rc;
    }
    if (c.version) {
        if (c.json) {
            g_autoptr (JsonBuilder) b = json_builder_new ();

            json_builder_begin_object (b);
            json_member_str (b, "version", UFFD_SHIM_VERSION_STRING);
            json_builder_end_object (b);
            print_json (b);
        } else {
            printf ("uffd-shimctl %s\n", UFFD_SHIM_VERSION_STRING);
        }
        ctl_clear (&c);
        return 0;
    }
    if (argc < 2) {
        g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);

        rc = c.json ? ctl_fail (&c, EXIT_USAGE, "usage", "no command given")
                    : (fprintf (stderr, "%s", help), EXIT_USAGE);
        ctl_clear (&c);
        return rc;
    }
    cmd = find_command (argv[1]);
    if (!cmd)
        rc = ctl_fail (&c, EXIT_USAGE, "usage", "unknown command '%s' (status, grants, grant, "
                       "revoke, hook, doctor, audit; uffd-shimctl --help)", argv[1]);
    else
        rc = run_command (&c, cmd, argc - 1, argv + 1);
    ctl_clear (&c);
    return rc;
}
