/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The grant table: creation, use, ending, and its persistent text form (pure, no I/O). */
#ifndef UFFD_SHIM_GRANTS_H
#define UFFD_SHIM_GRANTS_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>
#include "facts.h"
#include "protocol.h"
#include "uffd-shim-proto.h"

/*
 * A grant's life (docs/design.md, "Grant lifecycle"): created by the hook at
 * `migrate begin`; until its first hand-out it is unbound and ends at its
 * expiry (the wall clock only ever ends a grant nobody used). The first
 * hand-out binds it to that QEMU process (pid, start time, executable);
 * from then on it serves that process only, for as long as libvirt shows
 * the domain's incoming migration, and ends when libvirt no longer does
 * (done), when that process exits (exited), at a LAST request or the close
 * of a HOLD connection (exhausted), or at a revoke, which is refused while
 * the migration is still going (in-use).
 */
typedef struct {
    char *name;
    guint8 uuid[UFFD_SHIM_UUID_LEN];
    gint64 created;     /* unix seconds */
    gint64 expires;     /* unix seconds; ends the grant only while it is unbound */
    guint32 uses_left;
    guint32 uses_max;
    pid_t pid;          /* QEMU bound at first use, 0 before */
    guint64 starttime;  /* that process's start time (clock ticks since boot) */
    dev_t exe_dev;      /* and its executable (0/0: not recorded, an older state file) */
    ino_t exe_ino;
    guint32 state;      /* enum uffd_shim_grant_state */
    gint64 ended;       /* when state left ACTIVE, unix seconds */
} UffdShimGrant;

typedef struct UffdShimGrants UffdShimGrants;

/* Ended grants ("tombstones") are kept this long, and at most this many (the
 * oldest ended goes first, at every end), so that a late request is told why
 * it is refused (expired, exhausted, revoked) while the table, and with it
 * the broker's memory and state file, stays bounded however many domains
 * come and go. */
#define UFFD_SHIM_TOMBSTONE_SECONDS 3600
#define UFFD_SHIM_TOMBSTONE_MAX 1024
/* The state file keeps every active grant but only this many of the most
 * recently ended ones: a state save (one per batch of hand-outs) stays small
 * however many domains came and went; after a restart an older one is
 * "not-granted" instead of "exhausted", a denial all the same. */
#define UFFD_SHIM_TOMBSTONE_PERSIST 64

UffdShimGrants *uffd_shim_grants_new (guint max_active);
void uffd_shim_grants_free (UffdShimGrants *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimGrants, uffd_shim_grants_free)

/* Adds an active grant; returns UFFD_SHIM_OK, E_EXISTS (active grant for the
 * name and !replace), E_LIMIT or E_INVALID. */
int uffd_shim_grants_add (UffdShimGrants *g, const char *name, const guint8 *uuid,
                          gint64 now, guint32 lifetime_s, guint32 uses, gboolean replace);

/* Ends the active grant of @name with @state; E_NOT_FOUND if there is none. */
int uffd_shim_grants_end (UffdShimGrants *g, const char *name, guint32 state, gint64 now);

/* The grant of @name (active, or the most recent ended one), or NULL. */
UffdShimGrant *uffd_shim_grants_lookup (UffdShimGrants *g, const char *name);

/* Active grants first, then ended ones; valid until the next change. */
GPtrArray *uffd_shim_grants_all (UffdShimGrants *g);
/* Every grant, in no particular order (no sorting); valid until the next change. */
GPtrArray *uffd_shim_grants_unsorted (UffdShimGrants *g);
guint uffd_shim_grants_active_count (UffdShimGrants *g);

/* Ends every active grant that is still unbound and whose lifetime passed
 * (calls @ended for each) and forgets old ended ones. A bound grant never
 * expires by the clock. Returns TRUE if anything changed. */
gboolean uffd_shim_grants_expire (UffdShimGrants *g, gint64 now,
                                  void (*ended) (const UffdShimGrant *, gpointer), gpointer data);

/* Records one use by the process @pid/@starttime running @exe_dev/@exe_ino,
 * binding the grant to it; ends the grant (EXHAUSTED) when the limit is
 * reached or @last is set. */
void uffd_shim_grants_consume (UffdShimGrants *g, UffdShimGrant *grant, pid_t pid,
                               guint64 starttime, dev_t exe_dev, ino_t exe_ino, gboolean last,
                               gint64 now);

/* The boot the state text is written in (the server reads
 * /proc/sys/kernel/random/boot_id and ignores state of another boot);
 * NULL or "": none recorded. */
void uffd_shim_grants_set_boot_id (UffdShimGrants *g, const char *boot_id);

/* Text form for the state file. */
char *uffd_shim_grants_to_data (UffdShimGrants *g, gsize *len);
/* Replaces the table with the parsed text; entries that fail validation are
 * skipped and counted in *skipped. FALSE only if the text is no key file. */
gboolean uffd_shim_grants_from_data (UffdShimGrants *g, const char *data, gsize len,
                                     guint *skipped, GError **error);

#endif
