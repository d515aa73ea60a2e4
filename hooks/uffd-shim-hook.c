/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shim-hook: libvirt qemu hook that opens and revokes broker grants around incoming migrations. */
/*
 * Theory of operation
 * -------------------
 * Installed as /etc/libvirt/hooks/qemu.d/50-uffd-shim and run by libvirtd
 * (as root; environment LC_ALL=C plus PATH, HOME, USER, LOGNAME, TMPDIR,
 * LD_PRELOAD, LD_LIBRARY_PATH passed through, so UFFD_SHIM_CONFIG, which the
 * tests use, never reaches a hook run by libvirt) as
 *     50-uffd-shim <domain> <operation> <sub-operation> -
 * with the domain XML on stdin. What libvirt 9.0 does with a hook
 * (src/util/virhook.c virHookCall/virRunScript, src/util/vircommand.c,
 * src/qemu/qemu_migration.c qemuMigrationDstPrepareFresh):
 *
 *  - Chain. /etc/libvirt/hooks/qemu runs first, then every executable in
 *    qemu.d in strcmp() order. Each script gets on stdin the latest
 *    NON-EMPTY stdout of the scripts before it that exited 0, or the
 *    original XML when there is none. An empty (or whitespace-only) stdout
 *    changes nothing: the next script and libvirt keep seeing the previous
 *    XML, not the original and not nothing. So "unchanged" is written as no
 *    output at all, and a change is the full edited copy of our own stdin,
 *    which keeps what earlier hooks added. If a script exits non-zero, the
 *    rest still run, but on the original XML, and libvirt fails the call.
 *  - migrate begin runs on the destination of an incoming migration (not for
 *    a postcopy resume), before the domain object exists, with the
 *    definition formatted with VIR_DOMAIN_XML_SECURE|MIGRATABLE; the domain
 *    name in argv is the destination name (after --dname). It runs for
 *    offline migrations too (no QEMU will start). A non-zero exit
 *    aborts the incoming migration, and libvirt's error carries our stderr
 *    ("Child process (...) unexpected exit status 1: <stderr>"). A
 *    non-empty final output is parsed as an inactive definition (without
 *    schema validation), must pass qemuDomainDefCheckABIStability() against
 *    the incoming one (qemu:commandline is not guest ABI, so adding
 *    qemu:env passes) and replaces it; the domain is then tainted
 *    "hook-script", and the qemu:env makes it "custom-argv" as well. Empty
 *    final output: "using the original XML".
 *  - libvirt writes stdin while it collects stdout and stderr
 *    (virCommandProcessIO) and ignores EPIPE there, so a hook that exits
 *    without reading stdin does not fail the call. We drain stdin anyway: no
 *    write of libvirt's is ever left to hit a closed pipe.
 *  - There is no timeout on hooks, and the domain (and for migrate the whole
 *    incoming job) waits for us: every broker call here has one (5 s).
 *  - Exit status of stopped/release is only logged; reconnect failing would
 *    kill the QEMU, so reconnect does nothing.
 *  - A hook must never call back into libvirt (virsh, API): deadlock.
 *
 * What this hook does:
 *  - migrate begin: if the domain is eligible (allow/deny lists, [hook]
 *    opt-in and domains; the incoming XML comes from the source host, so
 *    its metadata <uffd-shim:postcopy enabled=".."/> can opt a domain out
 *    but, unless [hook] metadata-opt-in, never in), open a grant for
 *    name+uuid (replacing an old one, but never the grant of a domain of
 *    that name whose QEMU runs here: its libvirt pid file is locked; libvirt
 *    refuses such a migration itself), and unless the emulator asks the
 *    broker natively (the marker in its binary; the answer is cached per
 *    file, native-cache.c), print the XML with LD_PRELOAD of the preload
 *    library added through qemu:env.
 *  - migrate begin of a domain the preload does not apply to here (excluded
 *    by the lists or opt-in, a native emulator, the library missing): take
 *    out a uffd-shim LD_PRELOAD its definition brings. libvirt keeps the
 *    qemu:env our hook added on a previous destination in the domain's live
 *    definition and sends it on with every later migration; on a host
 *    without uffd-shim nothing can take it out, and ld.so there prints
 *    "cannot be preloaded ... ignored" into the domain's log and QEMU runs
 *    on (docs/runbook.md, "The preload in migrated domains").
 *  - stopped end, release end: revoke the grant (no grant is fine; a grant
 *    still serving a live QEMU's migration is refused by the broker, and
 *    at stopped/release that QEMU is gone). On a source host after a
 *    migration out there is none. Failures are logged.
 *  - everything else (reconnect included): drain stdin, exit 0.
 *
 * It never refuses a migration. The hook cannot tell whether a migration
 * will use postcopy (libvirt does not pass the flags), and a migration that
 * needs no userfaultfd must not depend on the shim: broker down, grant
 * refused, preload missing, a domain XML it cannot use all let the
 * migration go on, with a warning on stderr and in syslog. A postcopy
 * migration then fails at QEMU's capability probe, before the source sends
 * anything, with the guest still running there; the preload (added even
 * when the broker is down) names the reason in the domain's log.
 *
 * The grant is not revoked when the incoming migration simply succeeds (no
 * hook runs then): the broker ends it when libvirt's status XML no longer
 * shows the migration. If libvirt refuses the migration before it starts
 * QEMU (a later qemu.d hook fails, the ABI check fails), no QEMU ever uses
 * the grant and its lifetime ends it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "admin-client.h"
#include "build-config.h"
#include "config.h"
#include "domxml.h"
#include "hook-policy.h"
#include "install.h"
#include "libxml-lazy.h"
#include "native-cache.h"
#include "uffd-shim-proto.h"
#include "wire.h"

#define HOOK_PROG "uffd-shim-hook"
#define HOOK_ADMIN_TIMEOUT_MS 5000
#define HOOK_CONFIG_ENV "UFFD_SHIM_CONFIG"
/* Like UFFD_SHIM_CONFIG, for tests; empty: no cache. */
#define HOOK_NATIVE_CACHE_ENV "UFFD_SHIM_HOOK_CACHE"

/* Lets install/uninstall recognise this binary (see install.h). */
__attribute__((used)) static const char hook_marker[] = UFFD_SHIM_HOOK_MARKER;

typedef UffdShimConfig HookConfig;
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HookConfig, uffd_shim_config_clear)

G_GNUC_PRINTF (1, 2) static void
hook_msg (const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start (ap, fmt);
    text = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    fprintf (stderr, "%s: %s\n", HOOK_PROG, text);
}

/* A migration that goes on without uffd-shim: stderr (libvirt's debug log)
 * and syslog, where an operator looks when postcopy failed. */
G_GNUC_PRINTF (2, 3) static void
hook_warn_unshimmed (const char *name, const char *fmt, ...)
{
    g_autofree char *why = NULL;
    va_list ap;

    va_start (ap, fmt);
    why = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    hook_msg ("incoming migration of domain '%s' goes on without uffd-shim: %s "
              "(postcopy will fail before the switch; precopy is unaffected)", name, why);
    openlog (HOOK_PROG, LOG_PID, LOG_DAEMON);
    syslog (LOG_WARNING, "incoming migration of domain '%s' goes on without uffd-shim: %s", name,
            why);
    closelog ();
}

/*
 * Reads stdin to EOF. Keeps at most @cap bytes (plus one, so the caller can
 * tell "too large"); the rest is read and dropped. @out may be NULL to drop
 * everything.
 */
static gboolean
read_stdin (GByteArray *out, gsize cap)
{
    guint8 chunk[65536];

    for (;;) {
        ssize_t n = read (STDIN_FILENO, chunk, sizeof chunk);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EBADF; /* no stdin at all: nothing to drain */
        if (n == 0)
            return TRUE;
        if (out != NULL && out->len <= cap)
            g_byte_array_append (out, chunk, (guint) MIN ((gsize) n, cap + 1 - out->len));
    }
}

static const char *
config_path (gboolean *missing_ok)
{
    const char *env = g_getenv (HOOK_CONFIG_ENV);

    /* Only the default file may be absent; a path someone named must exist. */
    *missing_ok = env == NULL || env[0] == '\0';
    return *missing_ok ? UFFD_SHIM_SYSCONFDIR "/uffd-shim/uffd-shim.conf" : env;
}

static gboolean
load_config (HookConfig *cfg)
{
    g_autoptr(GError) error = NULL;
    gboolean missing_ok;
    const char *path = config_path (&missing_ok);

    uffd_shim_config_init_defaults (cfg);
    if (!uffd_shim_config_load (cfg, path, missing_ok, &error)) {
        hook_msg ("bad configuration: %s", error->message);
        return FALSE;
    }
    return TRUE;
}

/* Why the broker could not serve @r (an admin call's result), with the fix. */
static char *
broker_failure_text (const HookConfig *cfg, int r)
{
    if (r == -EPROTO)
        return g_strdup_printf ("the broker at %s sent a malformed reply (uffd-shimd and "
                                "uffd-shim-hook from different versions?)", cfg->admin_socket);
    if (r < 0)
        return g_strdup_printf ("cannot reach the uffd-shim broker at %s: %s; start uffd-shimd "
                                "on this host, or check [broker] admin-socket in the "
                                "configuration", cfg->admin_socket, uffd_shim_status_str (r));
    return g_strdup_printf ("the broker at %s refused a grant: %s", cfg->admin_socket,
                            uffd_shim_status_str (r));
}

static void
report_broker_failure (const HookConfig *cfg, const char *action, const char *name, int r)
{
    if (r == -EPROTO)
        hook_msg ("%s for domain '%s': the broker at %s sent a malformed reply "
                  "(uffd-shimd and uffd-shim-hook from different versions?)",
                  action, name, cfg->admin_socket);
    else if (r < 0)
        hook_msg ("%s for domain '%s': cannot reach the uffd-shim broker at %s: %s; "
                  "start uffd-shimd on this host, or check [broker] admin-socket in the configuration",
                  action, name, cfg->admin_socket, uffd_shim_status_str (r));
    else
        hook_msg ("%s for domain '%s': the broker at %s refused: %s",
                  action, name, cfg->admin_socket, uffd_shim_status_str (r));
}

/* Where the native-marker answers are kept (native-cache.c), NULL for nowhere. */
static const char *
native_cache_dir (void)
{
    const char *env = g_getenv (HOOK_NATIVE_CACHE_ENV);

    if (env == NULL)
        return UFFD_SHIM_NATIVE_CACHE_DIR;
    return env[0] != '\0' ? env : NULL;
}

static const char *
preload_path (const HookConfig *cfg)
{
    return cfg->preload != NULL && cfg->preload[0] != '\0' ? cfg->preload
                                                           : UFFD_SHIM_PRELOAD_PATH;
}

/*
 * Where the preload does not apply to the domain on this host (excluded,
 * native emulator, library missing), the XML to print for @xml: without the
 * uffd-shim LD_PRELOAD that it may bring from the source host (libvirt keeps
 * the one our hook added there in the live definition and sends it on), so
 * that the QEMU here neither loads a library it has no use for nor, where
 * that path does not exist, starts with ld.so's error in its log. NULL when
 * there is none: the XML stays unchanged. Never fails the migration.
 */
static char *
unpreload_xml (const HookConfig *cfg, const char *name, const GByteArray *xml, gsize *out_len)
{
    g_autoptr(GError) error = NULL;
    const char *preload = preload_path (cfg);
    g_autofree char *edited = NULL;
    gboolean changed = FALSE;

    /* Most definitions carry no preload: do not even parse them. libvirt
     * escapes only <>&'" in attribute values, so a path without those
     * appears verbatim. */
    if (memmem (xml->data, xml->len, UFFD_SHIM_DOMXML_PRELOAD_NAME,
                strlen (UFFD_SHIM_DOMXML_PRELOAD_NAME)) == NULL &&
        memmem (xml->data, xml->len, preload, strlen (preload)) == NULL)
        return NULL;
    if (!uffd_shim_domxml_remove_preload ((const char *) xml->data, xml->len, preload,
                                          &edited, out_len, &changed, &error)) {
        hook_msg ("incoming migration of domain '%s': cannot take out the uffd-shim preload "
                  "its definition may carry: %s", name, error->message);
        return NULL;
    }
    return changed ? g_steal_pointer (&edited) : NULL;
}

/*
 * The XML to print for @xml: NULL when it stays unchanged (LD_PRELOAD
 * already right, or a native emulator whose definition carries no preload).
 * Returns FALSE when the migration goes on without the shim (message
 * printed); *out may still hold the XML without a preload.
 */
static gboolean
preload_xml (const HookConfig *cfg, const GByteArray *xml, const UffdShimDomainInfo *info,
             char **out, gsize *out_len)
{
    g_autoptr(GError) error = NULL;
    const char *preload = preload_path (cfg);
    g_autofree char *edited = NULL;
    gboolean changed = FALSE;

    *out = NULL;
    if (uffd_shim_hook_emulator_is_native_cached (info->emulator,
                                                  (const char *const *) cfg->native_emulators,
                                                  native_cache_dir (), NULL)) {
        *out = unpreload_xml (cfg, info->name, xml, out_len);
        return TRUE;
    }
    if (!g_file_test (preload, G_FILE_TEST_IS_REGULAR)) {
        hook_warn_unshimmed (info->name, "the preload library %s is missing; install uffd-shim "
                             "on this host or fix [hook] preload", preload);
        *out = unpreload_xml (cfg, info->name, xml, out_len);
        return FALSE;
    }
    if (!uffd_shim_domxml_add_preload ((const char *) xml->data, xml->len, preload,
                                       &edited, out_len, &changed, &error)) {
        hook_warn_unshimmed (info->name, "cannot add the preload: %s", error->message);
        return FALSE;
    }
    if (changed)
        *out = g_steal_pointer (&edited);
    return TRUE;
}

/* Prints @out (if any) for libvirt; on failure revokes the grant (if
 * @granted) and returns 1, which refuses the migration: libvirt would
 * otherwise read a truncated definition. */
static int
emit_xml (const HookConfig *cfg, const char *name, const char *out, gsize out_len,
          gboolean granted)
{
    if (out == NULL || uffd_shim_write_all (STDOUT_FILENO, out, out_len) >= 0)
        return 0;
    hook_msg ("incoming migration of domain '%s' refused: cannot write the domain XML to "
              "libvirt: %s", name, g_strerror (errno));
    if (granted)
        uffd_shim_admin_revoke (cfg->admin_socket, name, HOOK_ADMIN_TIMEOUT_MS);
    return 1;
}

/* A domain the shim does not serve here: only the preload it may bring goes. */
static int
hook_pass (const HookConfig *cfg, const char *name, const GByteArray *xml)
{
    gsize out_len = 0;
    g_autofree char *out = unpreload_xml (cfg, name, xml, &out_len);

    return emit_xml (cfg, name, out, out_len, FALSE);
}

/* Reads the domain XML from stdin (at most the parser's cap). */
static gboolean
read_domain_xml (const char *name, GByteArray *xml)
{
    if (!read_stdin (xml, UFFD_SHIM_DOMXML_MAX_SIZE)) {
        hook_warn_unshimmed (name, "cannot read the domain XML: %s", g_strerror (errno));
        return FALSE;
    }
    if (xml->len > UFFD_SHIM_DOMXML_MAX_SIZE) {
        hook_warn_unshimmed (name, "its domain XML is larger than %u bytes",
                             UFFD_SHIM_DOMXML_MAX_SIZE);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_domain (const char *name, const GByteArray *xml, UffdShimDomainInfo **info)
{
    g_autoptr(GError) error = NULL;

    if (!uffd_shim_domxml_parse_info ((const char *) xml->data, xml->len, info, &error)) {
        hook_warn_unshimmed (name, "cannot use its domain XML: %s", error->message);
        return FALSE;
    }
    if (strcmp ((*info)->name, name) != 0) {
        hook_warn_unshimmed (name, "the domain XML names '%s'", (*info)->name);
        return FALSE;
    }
    return TRUE;
}

static gboolean
open_grant (const HookConfig *cfg, const UffdShimDomainInfo *info)
{
    int r = uffd_shim_admin_grant (cfg->admin_socket, info->name, info->uuid, 0, 0,
                                   UFFD_SHIM_GRANT_REPLACE, HOOK_ADMIN_TIMEOUT_MS);
    g_autofree char *why = NULL;

    if (r == UFFD_SHIM_OK)
        return TRUE;
    why = broker_failure_text (cfg, r);
    hook_warn_unshimmed (info->name, "%s", why);
    return FALSE;
}

static int
hook_migrate_begin (const char *name)
{
    g_auto(HookConfig) cfg = { 0 };
    g_autoptr(GByteArray) xml = g_byte_array_new ();
    g_autoptr(UffdShimDomainInfo) info = NULL;
    g_autofree char *out = NULL;
    gsize out_len = 0;
    gboolean granted;
    pid_t running;

    /* Every early return exits 0 and leaves the XML unchanged (no output),
     * but for a uffd-shim preload it brought where the preload does not
     * apply (hook_pass). */
    if (!read_domain_xml (name, xml))
        return 0;
    if (!load_config (&cfg)) {
        hook_warn_unshimmed (name, "its configuration cannot be used (see above)");
        return 0;
    }
    /* Excluded domains pass without us parsing their XML, unless it names
     * the preload. */
    if (!uffd_shim_config_domain_allowed (&cfg, name))
        return hook_pass (&cfg, name, xml);
    if (!parse_domain (name, xml, &info))
        return 0;
    if (uffd_shim_hook_decide (TRUE, cfg.hook_opt_in, cfg.hook_metadata_opt_in,
                               (const char *const *) cfg.hook_domains, name,
                               info->postcopy) != UFFD_SHIM_HOOK_GRANT)
        return hook_pass (&cfg, name, xml);
    /* A migration naming a domain that runs here must not reset the grant
     * of that domain's QEMU. libvirt refuses such a migration itself. */
    if (uffd_shim_hook_domain_running (cfg.libvirt_run_dir, name, &running)) {
        hook_msg ("incoming migration of domain '%s': a domain of that name runs on this host "
                  "(QEMU pid %d holds %s/%s.pid); its userfaultfd grant is left alone and no "
                  "grant is opened", name, (int) running, cfg.libvirt_run_dir, name);
        return 0;
    }

    if (!preload_xml (&cfg, xml, info, &out, &out_len))
        return emit_xml (&cfg, name, out, out_len, FALSE);
    /* Without a grant the preload still goes in: at QEMU's capability probe
     * it asks the broker and writes the broker's answer (or that there is
     * none) into the domain's log. */
    granted = open_grant (&cfg, info);
    return emit_xml (&cfg, name, out, out_len, granted);
}

/* stopped end / release end: libvirt only logs our exit status, so 0 always. */
static int
hook_revoke (const char *name)
{
    g_auto(HookConfig) cfg = { 0 };
    int r;

    read_stdin (NULL, 0);
    if (!load_config (&cfg))
        return 0;
    r = uffd_shim_admin_revoke (cfg.admin_socket, name, HOOK_ADMIN_TIMEOUT_MS);
    if (r != UFFD_SHIM_OK && r != UFFD_SHIM_E_NOT_FOUND)
        report_broker_failure (&cfg, "cannot revoke the userfaultfd grant", name, r);
    return 0;
}

int
main (int argc, char **argv)
{
    const char *name, *op, *subop;

    if (argc == 2 && strcmp (argv[1], "--version") == 0) {
        printf ("%s %s\n", HOOK_PROG, UFFD_SHIM_VERSION_STRING);
        return 0;
    }
    if (argc < 4) {
        fprintf (stderr, "usage: %s DOMAIN OPERATION SUB-OPERATION [EXTRA] < DOMAIN-XML\n"
                 "(a libvirt qemu hook: install it with 'uffd-shimctl hook install')\n",
                 HOOK_PROG);
        return 2;
    }
    /* A closed stdout must be an error we report, not a silent death. */
    signal (SIGPIPE, SIG_IGN);

    name = argv[1];
    op = argv[2];
    subop = argv[3];
    /*
     * Decided from argv alone, before anything is set up: an operation we
     * ignore costs an exec (without libxml2: see libxml-lazy.c) and draining
     * stdin. Only migrate begin reads domain XML, so only it loads libxml2.
     */
    if (strcmp (op, "migrate") == 0 && strcmp (subop, "begin") == 0) {
        g_autoptr(GError) error = NULL;

        if (!uffd_shim_hook_libxml_load (&error)) {
            read_stdin (NULL, 0);
            hook_msg ("incoming migration of domain '%s' refused: %s", name, error->message);
            return 1;
        }
        return hook_migrate_begin (name);
    }
    if ((strcmp (op, "stopped") == 0 || strcmp (op, "release") == 0) &&
        strcmp (subop, "end") == 0)
        return hook_revoke (name);

    /* reconnect begin keeps the grant; nothing else concerns us. */
    read_stdin (NULL, 0);
    return 0;
}
