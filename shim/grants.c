/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The grant table: creation, use, ending, and its persistent text form (pure, no I/O). */
#include "grants.h"

#include <string.h>

#include "protocol.h"

struct UffdShimGrants {
    GPtrArray *list; /* UffdShimGrant*, active and ended */
    guint max_active;
    char *boot_id;   /* written into the state text, NULL: none */
};

static void
grant_free (gpointer p)
{
    UffdShimGrant *gr = p;

    g_free (gr->name);
    g_free (gr);
}

UffdShimGrants *
uffd_shim_grants_new (guint max_active)
{
    UffdShimGrants *g = g_new0 (UffdShimGrants, 1);

    g->list = g_ptr_array_new_with_free_func (grant_free);
    g->max_active = max_active;
    return g;
}

void
uffd_shim_grants_free (UffdShimGrants *g)
{
    if (!g)
        return;
    g_ptr_array_unref (g->list);
    g_free (g->boot_id);
    g_free (g);
}

void
uffd_shim_grants_set_boot_id (UffdShimGrants *g, const char *boot_id)
{
    g_free (g->boot_id);
    g->boot_id = boot_id && *boot_id && !strpbrk (boot_id, "\n\r\\") ? g_strdup (boot_id) : NULL;
}

static gboolean
name_ok (const char *name)
{
    char buf[UFFD_SHIM_NAME_MAX] = { 0 };
    gsize n = name ? strlen (name) : 0;

    if (n == 0 || n >= sizeof buf)
        return FALSE;
    memcpy (buf, name, n);
    return uffd_shim_name_valid (buf);
}

UffdShimGrant *
uffd_shim_grants_lookup (UffdShimGrants *g, const char *name)
{
    UffdShimGrant *best = NULL;

    for (guint i = 0; i < g->list->len; i++) {
        UffdShimGrant *gr = g_ptr_array_index (g->list, i);
        if (!g_str_equal (gr->name, name))
            continue;
        if (gr->state == UFFD_SHIM_GRANT_ACTIVE)
            return gr;
        if (!best || gr->ended > best->ended)
            best = gr;
    }
    return best;
}

guint
uffd_shim_grants_active_count (UffdShimGrants *g)
{
    guint n = 0;

    for (guint i = 0; i < g->list->len; i++)
        if (((UffdShimGrant *) g_ptr_array_index (g->list, i))->state == UFFD_SHIM_GRANT_ACTIVE)
            n++;
    return n;
}

static void
end_grant (UffdShimGrant *gr, guint32 state, gint64 now)
{
    gr->state = state;
    gr->ended = now;
    gr->uses_left = 0;
}

/* Keeps at most UFFD_SHIM_TOMBSTONE_MAX ended grants: drops the oldest ended
 * ones (never @keep, the one just ended, which the caller still uses). */
static void
trim_tombstones (UffdShimGrants *g, const UffdShimGrant *keep)
{
    for (;;) {
        guint n = 0, oldest = G_MAXUINT;

        for (guint i = 0; i < g->list->len; i++) {
            const UffdShimGrant *gr = g_ptr_array_index (g->list, i);
            if (gr->state == UFFD_SHIM_GRANT_ACTIVE)
                continue;
            n++;
            if (gr != keep &&
                (oldest == G_MAXUINT ||
                 gr->ended < ((const UffdShimGrant *) g_ptr_array_index (g->list, oldest))->ended))
                oldest = i;
        }
        if (n <= UFFD_SHIM_TOMBSTONE_MAX || oldest == G_MAXUINT)
            return;
        g_ptr_array_remove_index (g->list, oldest);
    }
}

/* Drops ended grants of @name: only the newest outcome matters. */
static void
forget_ended (UffdShimGrants *g, const char *name)
{
    for (guint i = g->list->len; i-- > 0;) {
        UffdShimGrant *gr = g_ptr_array_index (g->list, i);
        if (gr->state != UFFD_SHIM_GRANT_ACTIVE && g_str_equal (gr->name, name))
            g_ptr_array_remove_index (g->list, i);
    }
}

int
uffd_shim_grants_add (UffdShimGrants *g, const char *name, const guint8 *uuid, gint64 now,
                      guint32 lifetime_s, guint32 uses, gboolean replace)
{
    static const guint8 zero[UFFD_SHIM_UUID_LEN];
    UffdShimGrant *old, *gr;

    if (!name_ok (name) || !memcmp (uuid, zero, sizeof zero) || lifetime_s == 0 || uses == 0)
        return UFFD_SHIM_E_INVALID;
    old = uffd_shim_grants_lookup (g, name);
    if (old && old->state == UFFD_SHIM_GRANT_ACTIVE) {
        if (!replace)
            return UFFD_SHIM_E_EXISTS;
        g_ptr_array_remove (g->list, old);
    } else if (uffd_shim_grants_active_count (g) >= g->max_active) {
        return UFFD_SHIM_E_LIMIT;
    }
    forget_ended (g, name);
    gr = g_new0 (UffdShimGrant, 1);
    gr->name = g_strdup (name);
    memcpy (gr->uuid, uuid, UFFD_SHIM_UUID_LEN);
    gr->created = now;
    gr->expires = now + lifetime_s;
    gr->uses_left = gr->uses_max = uses;
    gr->state = UFFD_SHIM_GRANT_ACTIVE;
    g_ptr_array_add (g->list, gr);
    return UFFD_SHIM_OK;
}

int
uffd_shim_grants_end (UffdShimGrants *g, const char *name, guint32 state, gint64 now)
{
    UffdShimGrant *gr = uffd_shim_grants_lookup (g, name);

    if (!gr || gr->state != UFFD_SHIM_GRANT_ACTIVE)
        return UFFD_SHIM_E_NOT_FOUND;
    forget_ended (g, name);
    end_grant (gr, state, now);
    trim_tombstones (g, gr);
    return UFFD_SHIM_OK;
}

static gint
by_state (gconstpointer a, gconstpointer b)
{
    const UffdShimGrant *x = *(UffdShimGrant *const *) a, *y = *(UffdShimGrant *const *) b;
    gboolean xa = x->state == UFFD_SHIM_GRANT_ACTIVE, ya = y->state == UFFD_SHIM_GRANT_ACTIVE;

    if (xa != ya)
        return xa ? -1 : 1;
    return (x->created > y->created) - (x->created < y->created);
}

GPtrArray *
uffd_shim_grants_all (UffdShimGrants *g)
{
    g_ptr_array_sort (g->list, by_state);
    return g->list;
}

GPtrArray *
uffd_shim_grants_unsorted (UffdShimGrants *g)
{
    return g->list;
}

gboolean
uffd_shim_grants_expire (UffdShimGrants *g, gint64 now,
                         void (*ended) (const UffdShimGrant *, gpointer), gpointer data)
{
    gboolean changed = FALSE;
    guint before;

    for (guint i = g->list->len; i-- > 0;) {
        UffdShimGrant *gr = g_ptr_array_index (g->list, i);

        if (gr->state == UFFD_SHIM_GRANT_ACTIVE) {
            if (gr->pid || now < gr->expires)
                continue;
            end_grant (gr, UFFD_SHIM_GRANT_EXPIRED, now);
            if (ended)
                ended (gr, data);
            changed = TRUE;
        }
        if (now - gr->ended > UFFD_SHIM_TOMBSTONE_SECONDS) {
            g_ptr_array_remove_index (g->list, i);
            changed = TRUE;
        }
    }
    /* The cap drops the oldest ended first, as at every other end. */
    before = g->list->len;
    trim_tombstones (g, NULL);
    return changed || g->list->len != before;
}

void
uffd_shim_grants_consume (UffdShimGrants *g, UffdShimGrant *gr, pid_t pid, guint64 starttime,
                          dev_t exe_dev, ino_t exe_ino, gboolean last, gint64 now)
{
    g_return_if_fail (gr->state == UFFD_SHIM_GRANT_ACTIVE && gr->uses_left > 0);
    gr->pid = pid;
    gr->starttime = starttime;
    gr->exe_dev = exe_dev;
    gr->exe_ino = exe_ino;
    gr->uses_left--;
    if (gr->uses_left == 0 || last) {
        forget_ended (g, gr->name);
        end_grant (gr, UFFD_SHIM_GRANT_EXHAUSTED, now);
        trim_tombstones (g, gr);
    }
}

#define STATE_GROUP_PREFIX "grant "

/* A key file string value, escaped as GKeyFile does (a name has no control
 * characters, so only a leading space and backslashes need it). */
static void
append_value (GString *out, const char *v)
{
    if (*v == ' ') {
        g_string_append (out, "\\s");
        v++;
    }
    for (; *v; v++) {
        if (*v == '\\')
            g_string_append (out, "\\\\");
        else if (*v == '\n')
            g_string_append (out, "\\n");
        else if (*v == '\t')
            g_string_append (out, "\\t");
        else if (*v == '\r')
            g_string_append (out, "\\r");
        else
            g_string_append_c (out, *v);
    }
}

/* Written directly (not through GKeyFile, whose per-key bookkeeping made a
 * save cost far more than the file write): the same key file text, which
 * uffd_shim_grants_from_data() reads with GKeyFile. */
static gint
by_ended_desc (gconstpointer a, gconstpointer b)
{
    const UffdShimGrant *x = *(UffdShimGrant *const *) a, *y = *(UffdShimGrant *const *) b;

    return (x->ended < y->ended) - (x->ended > y->ended);
}

/* The ended grants not to save: all but the UFFD_SHIM_TOMBSTONE_PERSIST newest. */
static GHashTable *
unsaved_tombstones (UffdShimGrants *g)
{
    g_autoptr (GPtrArray) ended = g_ptr_array_new ();
    GHashTable *skip = NULL;

    for (guint i = 0; i < g->list->len; i++) {
        UffdShimGrant *gr = g_ptr_array_index (g->list, i);
        if (gr->state != UFFD_SHIM_GRANT_ACTIVE)
            g_ptr_array_add (ended, gr);
    }
    if (ended->len <= UFFD_SHIM_TOMBSTONE_PERSIST)
        return NULL;
    g_ptr_array_sort (ended, by_ended_desc);
    skip = g_hash_table_new (g_direct_hash, g_direct_equal);
    for (guint i = UFFD_SHIM_TOMBSTONE_PERSIST; i < ended->len; i++)
        g_hash_table_add (skip, g_ptr_array_index (ended, i));
    return skip;
}

char *
uffd_shim_grants_to_data (UffdShimGrants *g, gsize *len)
{
    g_autoptr (GHashTable) skip = unsaved_tombstones (g);
    GString *out = g_string_sized_new (64 + MIN (g->list->len, 256) * 256);
    guint n = 0;

    g_string_append (out, "[uffd-shim]\nversion=1\n");
    if (g->boot_id)
        g_string_append_printf (out, "boot-id=%s\n", g->boot_id);
    for (guint i = 0; i < g->list->len; i++) {
        UffdShimGrant *gr = g_ptr_array_index (g->list, i);
        char uuid[37];

        if (skip && g_hash_table_contains (skip, gr))
            continue;

        uffd_shim_uuid_format (gr->uuid, uuid);
        g_string_append_printf (out, "\n[" STATE_GROUP_PREFIX "%u]\nname=", n++);
        append_value (out, gr->name);
        g_string_append_printf (out,
                                "\nuuid=%s\ncreated=%" G_GINT64_FORMAT "\nexpires=%" G_GINT64_FORMAT
                                "\nuses-left=%u\nuses-max=%u\npid=%d\nstarttime=%" G_GUINT64_FORMAT
                                "\nexe-dev=%" G_GUINT64_FORMAT "\nexe-ino=%" G_GUINT64_FORMAT
                                "\nstate=%s\nended=%" G_GINT64_FORMAT "\n",
                                uuid, gr->created, gr->expires, gr->uses_left, gr->uses_max,
                                (int) gr->pid, gr->starttime, (guint64) gr->exe_dev,
                                (guint64) gr->exe_ino, uffd_shim_grant_state_name (gr->state),
                                gr->ended);
    }
    if (len)
        *len = out->len;
    return g_string_free (out, FALSE);
}

static gboolean
get_i64 (GKeyFile *kf, const char *grp, const char *key, gint64 min, gint64 max, gint64 *out)
{
    g_autofree char *v = g_key_file_get_value (kf, grp, key, NULL);
    gint64 n;

    if (!v || !g_ascii_string_to_signed (v, 10, min, max, &n, NULL))
        return FALSE;
    *out = n;
    return TRUE;
}

static UffdShimGrant *
parse_grant (GKeyFile *kf, const char *grp)
{
    g_autoptr (GError) e = NULL;
    g_autofree char *name = g_key_file_get_string (kf, grp, "name", NULL);
    g_autofree char *uuid = g_key_file_get_string (kf, grp, "uuid", NULL);
    g_autofree char *state = g_key_file_get_string (kf, grp, "state", NULL);
    gint64 created, expires, left, max, pid, start, ended, exe_dev = 0, exe_ino = 0;
    guint32 st = UFFD_SHIM_GRANT_STATE_MAX_;
    UffdShimGrant *gr;
    guint8 u[UFFD_SHIM_UUID_LEN];

    if (!name || !name_ok (name) || !uuid || !uffd_shim_uuid_parse (uuid, u) || !state)
        return NULL;
    for (guint32 s = 0; s < UFFD_SHIM_GRANT_STATE_MAX_; s++)
        if (g_str_equal (state, uffd_shim_grant_state_name (s)))
            st = s;
    if (st == UFFD_SHIM_GRANT_STATE_MAX_ ||
        !get_i64 (kf, grp, "created", 0, G_MAXINT64 / 2, &created) ||
        !get_i64 (kf, grp, "expires", created, G_MAXINT64 / 2, &expires) ||
        !get_i64 (kf, grp, "uses-max", 1, 1000, &max) ||
        !get_i64 (kf, grp, "uses-left", 0, max, &left) ||
        !get_i64 (kf, grp, "pid", 0, G_MAXINT32, &pid) ||
        !get_i64 (kf, grp, "starttime", 0, G_MAXINT64, &start) ||
        !get_i64 (kf, grp, "ended", 0, G_MAXINT64 / 2, &ended))
        return NULL;
    /* Not in the state files of earlier versions: absent means not recorded. */
    if ((g_key_file_has_key (kf, grp, "exe-dev", NULL) &&
         !get_i64 (kf, grp, "exe-dev", 0, G_MAXINT64, &exe_dev)) ||
        (g_key_file_has_key (kf, grp, "exe-ino", NULL) &&
         !get_i64 (kf, grp, "exe-ino", 0, G_MAXINT64, &exe_ino)))
        return NULL;
    if ((st == UFFD_SHIM_GRANT_ACTIVE) != (left > 0))
        return NULL;
    gr = g_new0 (UffdShimGrant, 1);
    gr->name = g_steal_pointer (&name);
    memcpy (gr->uuid, u, sizeof u);
    gr->created = created;
    gr->expires = expires;
    gr->uses_left = (guint32) left;
    gr->uses_max = (guint32) max;
    gr->pid = (pid_t) pid;
    gr->starttime = (guint64) start;
    gr->exe_dev = (dev_t) exe_dev;
    gr->exe_ino = (ino_t) exe_ino;
    gr->state = st;
    gr->ended = ended;
    return gr;
}

gboolean
uffd_shim_grants_from_data (UffdShimGrants *g, const char *data, gsize len, guint *skipped,
                            GError **error)
{
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    g_auto (GStrv) groups = NULL;
    guint bad = 0;

    if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, error))
        return FALSE;
    g_ptr_array_set_size (g->list, 0);
    groups = g_key_file_get_groups (kf, NULL);
    for (gsize i = 0; groups[i]; i++) {
        UffdShimGrant *gr;

        if (g_str_equal (groups[i], "uffd-shim"))
            continue;
        gr = g_str_has_prefix (groups[i], STATE_GROUP_PREFIX) ? parse_grant (kf, groups[i]) : NULL;
        if (!gr || (gr->state == UFFD_SHIM_GRANT_ACTIVE && uffd_shim_grants_lookup (g, gr->name) &&
                    uffd_shim_grants_lookup (g, gr->name)->state == UFFD_SHIM_GRANT_ACTIVE) ||
            (gr->state == UFFD_SHIM_GRANT_ACTIVE &&
             uffd_shim_grants_active_count (g) >= g->max_active)) {
            if (gr)
                grant_free (gr);
            bad++;
            continue;
        }
        g_ptr_array_add (g->list, gr);
    }
    trim_tombstones (g, NULL);
    if (skipped)
        *skipped = bad;
    return TRUE;
}
