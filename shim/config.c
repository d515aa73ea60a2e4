/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Configuration file: documented defaults, strict GKeyFile parsing and validation. */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "build-config.h"
#include "uffd-shim-proto.h"

#define SUN_PATH_MAX (sizeof (((struct sockaddr_un *) 0)->sun_path) - 1)

void
uffd_shim_config_init_defaults (UffdShimConfig *cfg)
{
    static const char *const emulators[] = {
        "/usr/bin/qemu-system-x86_64", "/usr/libexec/qemu-kvm", NULL,
    };

    memset (cfg, 0, sizeof *cfg);
    cfg->socket = g_strdup (UFFD_SHIM_DEFAULT_SOCKET);
    cfg->admin_socket = g_strdup (UFFD_SHIM_DEFAULT_ADMIN_SOCKET);
    cfg->state_dir = g_strdup ("/run/uffd-shim");
    cfg->socket_mode = 0666;
    cfg->client_timeout_ms = 2000;
    cfg->max_clients = 1024;
    cfg->log = g_strdup ("stderr");
    cfg->qemu_user = g_strdup ("libvirt-qemu");
    cfg->qemu_uid = (uid_t) -1;
    cfg->libvirt_run_dir = g_strdup ("/run/libvirt/qemu");
    cfg->emulators = g_strdupv ((char **) emulators);
    cfg->grant_lifetime_s = 1800;
    cfg->grant_uses = 8;
    cfg->max_grants = 4096;
    cfg->allow_domains = g_new0 (char *, 1);
    cfg->deny_domains = g_new0 (char *, 1);
    cfg->hook_opt_in = FALSE;
    cfg->hook_metadata_opt_in = FALSE;
    cfg->hook_domains = g_new0 (char *, 1);
    cfg->preload = g_strdup (UFFD_SHIM_PRELOAD_PATH);
    cfg->native_emulators = g_new0 (char *, 1);
    cfg->backend_uid = (uid_t) -1;
    cfg->backend_executables = g_new0 (char *, 1);
    cfg->backend_uses = 4;
}

void
uffd_shim_config_clear (UffdShimConfig *cfg)
{
    g_free (cfg->socket);
    g_free (cfg->admin_socket);
    g_free (cfg->state_dir);
    g_free (cfg->log);
    g_free (cfg->qemu_user);
    g_free (cfg->libvirt_run_dir);
    g_strfreev (cfg->emulators);
    g_strfreev (cfg->allow_domains);
    g_strfreev (cfg->deny_domains);
    g_strfreev (cfg->hook_domains);
    g_free (cfg->preload);
    g_strfreev (cfg->native_emulators);
    g_free (cfg->backend_user);
    g_strfreev (cfg->backend_executables);
    memset (cfg, 0, sizeof *cfg);
}

typedef enum { KEY_PATH, KEY_SOCKET, KEY_UINT, KEY_MODE, KEY_STRING, KEY_BOOL,
               KEY_PATH_LIST, KEY_PATTERN_LIST } KeyKind;

typedef struct {
    const char *group;
    const char *key;
    KeyKind kind;
    gsize offset;
    guint min, max; /* KEY_UINT */
} KeySpec;

#define OFF(f) G_STRUCT_OFFSET (UffdShimConfig, f)
static const KeySpec keys[] = {
    { "broker", "socket", KEY_SOCKET, OFF (socket), 0, 0 },
    { "broker", "admin-socket", KEY_SOCKET, OFF (admin_socket), 0, 0 },
    { "broker", "state-dir", KEY_PATH, OFF (state_dir), 0, 0 },
    { "broker", "socket-mode", KEY_MODE, OFF (socket_mode), 0, 0777 },
    { "broker", "client-timeout-ms", KEY_UINT, OFF (client_timeout_ms), 10, 60000 },
    { "broker", "max-clients", KEY_UINT, OFF (max_clients), 1, 65536 },
    { "broker", "log", KEY_STRING, OFF (log), 0, 0 },
    { "qemu", "user", KEY_STRING, OFF (qemu_user), 0, 0 },
    { "qemu", "libvirt-run-dir", KEY_PATH, OFF (libvirt_run_dir), 0, 0 },
    { "qemu", "emulators", KEY_PATH_LIST, OFF (emulators), 0, 0 },
    { "grants", "lifetime", KEY_UINT, OFF (grant_lifetime_s), 1, 7 * 24 * 3600 },
    { "grants", "uses", KEY_UINT, OFF (grant_uses), 1, 1000 },
    { "grants", "max-grants", KEY_UINT, OFF (max_grants), 1, UFFD_SHIM_MAX_GRANTS },
    { "grants", "allow-domains", KEY_PATTERN_LIST, OFF (allow_domains), 0, 0 },
    { "grants", "deny-domains", KEY_PATTERN_LIST, OFF (deny_domains), 0, 0 },
    { "hook", "opt-in", KEY_BOOL, OFF (hook_opt_in), 0, 0 },
    { "hook", "metadata-opt-in", KEY_BOOL, OFF (hook_metadata_opt_in), 0, 0 },
    { "hook", "domains", KEY_PATTERN_LIST, OFF (hook_domains), 0, 0 },
    { "hook", "preload", KEY_PATH, OFF (preload), 0, 0 },
    { "hook", "native-emulators", KEY_PATH_LIST, OFF (native_emulators), 0, 0 },
    { "backend", "user", KEY_STRING, OFF (backend_user), 0, 0 },
    { "backend", "executables", KEY_PATH_LIST, OFF (backend_executables), 0, 0 },
    { "backend", "shared", KEY_BOOL, OFF (backend_shared), 0, 0 },
    { "backend", "uses", KEY_UINT, OFF (backend_uses), 1, 1000 },
};
#undef OFF

static const KeySpec *
find_key (const char *group, const char *key)
{
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
        if (g_str_equal (keys[i].group, group) && g_str_equal (keys[i].key, key))
            return &keys[i];
    return NULL;
}

static gboolean
known_group (const char *group)
{
    for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
        if (g_str_equal (keys[i].group, group))
            return TRUE;
    return FALSE;
}

static gboolean
fail (GError **error, const KeySpec *k, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, const KeySpec *k, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start (ap, fmt);
    msg = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 "[%s] %s: %s", k->group, k->key, msg);
    return FALSE;
}

static gboolean
check_path (const KeySpec *k, const char *v, GError **error)
{
    if (v[0] != '/')
        return fail (error, k, "'%s' is not an absolute path", v);
    if (strstr (v, "/../") || g_str_has_suffix (v, "/.."))
        return fail (error, k, "'%s' contains '..'", v);
    if (strlen (v) >= PATH_MAX)
        return fail (error, k, "path is longer than %d bytes", PATH_MAX - 1);
    return TRUE;
}

static gboolean
parse_uint (const KeySpec *k, const char *v, guint base, guint *out, GError **error)
{
    guint64 n;
    g_autoptr (GError) e = NULL;

    if (!g_ascii_string_to_unsigned (v, base, k->min, k->max, &n, &e))
        return fail (error, k, "'%s' is not a number in %u..%u%s", v, k->min, k->max,
                     base == 8 ? " (octal)" : "");
    *out = (guint) n;
    return TRUE;
}

static gboolean
parse_value (UffdShimConfig *cfg, GKeyFile *kf, const KeySpec *k, GError **error)
{
    g_autoptr (GError) e = NULL;
    void *field = (char *) cfg + k->offset;

    if (k->kind == KEY_PATH_LIST || k->kind == KEY_PATTERN_LIST) {
        gsize n = 0;
        g_auto (GStrv) list = g_key_file_get_string_list (kf, k->group, k->key, &n, &e);
        if (!list)
            return fail (error, k, "%s", e->message);
        for (gsize i = 0; i < n; i++) {
            g_strstrip (list[i]);
            if (list[i][0] == '\0')
                return fail (error, k, "empty list entry");
            if (k->kind == KEY_PATH_LIST && !check_path (k, list[i], error))
                return FALSE;
            if (k->kind == KEY_PATTERN_LIST && strlen (list[i]) >= UFFD_SHIM_NAME_MAX)
                return fail (error, k, "pattern longer than %u bytes", UFFD_SHIM_NAME_MAX - 1);
        }
        g_strfreev (*(char ***) field);
        *(char ***) field = g_steal_pointer (&list);
        return TRUE;
    }
    if (k->kind == KEY_BOOL) {
        gboolean b = g_key_file_get_boolean (kf, k->group, k->key, &e);
        if (e)
            return fail (error, k, "not a boolean (use true or false)");
        *(gboolean *) field = b;
        return TRUE;
    }

    g_autofree char *v = g_key_file_get_string (kf, k->group, k->key, &e);
    if (!v)
        return fail (error, k, "%s", e->message);
    g_strstrip (v);
    switch (k->kind) {
    case KEY_SOCKET:
        if (!check_path (k, v, error))
            return FALSE;
        if (strlen (v) > SUN_PATH_MAX)
            return fail (error, k, "socket path is longer than %zu bytes", SUN_PATH_MAX);
        break;
    case KEY_PATH:
        if (!check_path (k, v, error))
            return FALSE;
        break;
    case KEY_UINT:
        return parse_uint (k, v, 10, (guint *) field, error);
    case KEY_MODE:
        return parse_uint (k, v, 8, (guint *) field, error);
    case KEY_STRING:
        if (v[0] == '\0')
            return fail (error, k, "must not be empty");
        if (g_str_equal (k->key, "log") && !g_str_equal (v, "stderr") && !g_str_equal (v, "syslog"))
            return fail (error, k, "'%s' is not one of: stderr, syslog", v);
        break;
    default:
        g_assert_not_reached ();
    }
    g_free (*(char **) field);
    *(char **) field = g_steal_pointer (&v);
    return TRUE;
}

/* @user (a name or a number) to a uid that is not root. */
static gboolean
resolve_user (const char *group, const char *user, const char *who, uid_t *uid, GError **error)
{
    guint64 n;
    struct passwd *pw;

    if (g_ascii_string_to_unsigned (user, 10, 1, G_MAXINT32, &n, NULL)) {
        *uid = (uid_t) n;
        return TRUE;
    }
    errno = 0;
    pw = getpwnam (user);
    if (!pw) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[%s] user: no such user '%s'", group, user);
        return FALSE;
    }
    if (pw->pw_uid == 0) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[%s] user: '%s' is root; a root %s needs no broker", group, user, who);
        return FALSE;
    }
    *uid = pw->pw_uid;
    return TRUE;
}

static gboolean
resolve_qemu_user (UffdShimConfig *cfg, GError **error)
{
    if (!resolve_user ("qemu", cfg->qemu_user, "QEMU", &cfg->qemu_uid, error))
        return FALSE;
    return !cfg->backend_user ||
           resolve_user ("backend", cfg->backend_user, "back-end", &cfg->backend_uid, error);
}

gboolean
uffd_shim_config_parse (UffdShimConfig *cfg, const char *data, gsize len,
                        gboolean resolve_user, GError **error)
{
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    g_auto (GStrv) groups = NULL;

    if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, error))
        return FALSE;
    groups = g_key_file_get_groups (kf, NULL);
    for (gsize g = 0; groups[g]; g++) {
        g_auto (GStrv) names = NULL;

        if (!known_group (groups[g])) {
            g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                         "[%s]: unknown group", groups[g]);
            return FALSE;
        }
        names = g_key_file_get_keys (kf, groups[g], NULL, NULL);
        for (gsize i = 0; names && names[i]; i++) {
            const KeySpec *k = find_key (groups[g], names[i]);
            if (!k) {
                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                             "[%s] %s: unknown key", groups[g], names[i]);
                return FALSE;
            }
            if (!parse_value (cfg, kf, k, error))
                return FALSE;
        }
    }
    if (g_str_equal (cfg->socket, cfg->admin_socket)) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[broker] admin-socket: must differ from [broker] socket");
        return FALSE;
    }
    if (resolve_user && !resolve_qemu_user (cfg, error))
        return FALSE;
    return TRUE;
}

gboolean
uffd_shim_config_load (UffdShimConfig *cfg, const char *path, gboolean missing_ok,
                       GError **error)
{
    return uffd_shim_config_load_full (cfg, path, missing_ok, TRUE, error);
}

gboolean
uffd_shim_config_load_full (UffdShimConfig *cfg, const char *path, gboolean missing_ok,
                            gboolean resolve_user, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr (GError) e = NULL;

    if (!g_file_get_contents (path, &data, &len, &e)) {
        if (missing_ok && g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return uffd_shim_config_parse (cfg, "", 0, resolve_user, error);
        g_propagate_prefixed_error (error, g_steal_pointer (&e), "%s: ", path);
        return FALSE;
    }
    if (!uffd_shim_config_parse (cfg, data, len, resolve_user, &e)) {
        g_propagate_prefixed_error (error, g_steal_pointer (&e), "%s: ", path);
        return FALSE;
    }
    return TRUE;
}

gboolean
uffd_shim_config_reload_check (const UffdShimConfig *old, UffdShimConfig *next, GError **error)
{
    static const struct {
        const char *key;
        gsize offset;
        gboolean is_uint;
    } fixed[] = {
        { "[broker] socket", G_STRUCT_OFFSET (UffdShimConfig, socket), FALSE },
        { "[broker] admin-socket", G_STRUCT_OFFSET (UffdShimConfig, admin_socket), FALSE },
        { "[broker] state-dir", G_STRUCT_OFFSET (UffdShimConfig, state_dir), FALSE },
        { "[broker] log", G_STRUCT_OFFSET (UffdShimConfig, log), FALSE },
        { "[broker] socket-mode", G_STRUCT_OFFSET (UffdShimConfig, socket_mode), TRUE },
        { "[grants] max-grants", G_STRUCT_OFFSET (UffdShimConfig, max_grants), TRUE },
    };
    guint64 uid;

    for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++) {
        const void *a = (const char *) old + fixed[i].offset, *b = (const char *) next + fixed[i].offset;
        gboolean same = fixed[i].is_uint ? *(const guint *) a == *(const guint *) b
                                         : g_strcmp0 (*(char *const *) a, *(char *const *) b) == 0;

        if (!same) {
            g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                         "%s changed: that takes a restart", fixed[i].key);
            return FALSE;
        }
    }
    /* A name is not looked up again: the lookup may need NSS modules the
     * running daemon can no longer load (seccomp). */
    if (g_str_equal (next->qemu_user, old->qemu_user))
        next->qemu_uid = old->qemu_uid;
    else if (g_ascii_string_to_unsigned (next->qemu_user, 10, 1, G_MAXINT32, &uid, NULL))
        next->qemu_uid = (uid_t) uid;
    else {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "[qemu] user changed to the name '%s': give a uid, or restart", next->qemu_user);
        return FALSE;
    }
    return TRUE;
}

static gboolean
matches_any (char *const *patterns, const char *name)
{
    for (gsize i = 0; patterns && patterns[i]; i++)
        if (g_pattern_match_simple (patterns[i], name))
            return TRUE;
    return FALSE;
}

gboolean
uffd_shim_config_domain_allowed (const UffdShimConfig *cfg, const char *name)
{
    if (matches_any (cfg->deny_domains, name))
        return FALSE;
    if (cfg->allow_domains && cfg->allow_domains[0])
        return matches_any (cfg->allow_domains, name);
    return TRUE;
}
