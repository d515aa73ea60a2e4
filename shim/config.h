/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Configuration file (/etc/uffd-shim/uffd-shim.conf): defaults, parsing, validation. */
#ifndef UFFD_SHIM_CONFIG_H
#define UFFD_SHIM_CONFIG_H

#include <glib.h>
#include <sys/types.h>

#define UFFD_SHIM_DEFAULT_CONFIG "/etc/uffd-shim/uffd-shim.conf"

typedef struct {
    /* [broker] */
    char *socket;             /* client socket path */
    char *admin_socket;       /* root-only admin socket path */
    char *state_dir;          /* where grants are persisted */
    guint socket_mode;        /* mode of the client socket */
    guint client_timeout_ms;  /* a client must send its request within this */
    guint max_clients;        /* connections served at once */
    char *log;                /* "stderr" or "syslog" */
    /* [qemu] */
    char *qemu_user;          /* user libvirt runs QEMU as */
    uid_t qemu_uid;           /* resolved from qemu_user, or -1 if unresolved */
    char *libvirt_run_dir;    /* libvirt's QEMU run directory (NAME.pid, NAME.xml) */
    char **emulators;         /* allowed emulator binaries (absolute paths) */
    /* [grants] */
    guint grant_lifetime_s;   /* default grant lifetime */
    guint grant_uses;         /* default use limit */
    guint max_grants;         /* active grants at once */
    char **allow_domains;     /* glob patterns; empty = all */
    char **deny_domains;      /* glob patterns; deny wins */
    /* [hook] */
    gboolean hook_opt_in;     /* only domains in hook_domains (or, see below, with metadata) */
    gboolean hook_metadata_opt_in; /* the incoming XML's <uffd-shim:postcopy enabled="yes"/>
                                    * opts a domain in when hook_opt_in */
    char **hook_domains;      /* glob patterns the hook acts on when opt-in */
    char *preload;            /* preload library for QEMU without native support */
    char **native_emulators;  /* emulators known to ask the broker natively */
    /* [backend]: vhost-user back-ends (backend.c); off unless user and executables are set */
    char *backend_user;           /* user back-ends run as, or NULL */
    uid_t backend_uid;            /* resolved from backend_user, or -1 */
    char **backend_executables;   /* allowed back-end binaries (absolute paths) */
    gboolean backend_shared;      /* a back-end serving several domains may be served */
    guint backend_uses;           /* back-end hand-outs per grant */
} UffdShimConfig;

/* Fills @cfg with the documented defaults. */
void uffd_shim_config_init_defaults (UffdShimConfig *cfg);

/* Parses @data (key file text) on top of the defaults. Pure: no I/O except
 * resolving qemu_user (skipped when @resolve_user is FALSE). On error the
 * message names the group, the key and the problem. */
gboolean uffd_shim_config_parse (UffdShimConfig *cfg, const char *data, gsize len,
                                 gboolean resolve_user, GError **error);

/* Loads @path (a missing file means defaults when @missing_ok). */
gboolean uffd_shim_config_load (UffdShimConfig *cfg, const char *path,
                                gboolean missing_ok, GError **error);
/* The same, resolving the QEMU user only if @resolve_user. */
gboolean uffd_shim_config_load_full (UffdShimConfig *cfg, const char *path, gboolean missing_ok,
                                     gboolean resolve_user, GError **error);

/* Whether the running daemon (configuration @old) can take @next, parsed
 * without resolving the QEMU user, on SIGHUP. Sockets, state directory, log,
 * socket mode and max-grants need a restart; so does [qemu] user changed to a
 * name (it is not looked up again). Sets next->qemu_uid. Pure. */
gboolean uffd_shim_config_reload_check (const UffdShimConfig *old, UffdShimConfig *next,
                                        GError **error);

/* Domain filter used by broker policy and hook: deny wins, empty allow = all. */
gboolean uffd_shim_config_domain_allowed (const UffdShimConfig *cfg, const char *name);

void uffd_shim_config_clear (UffdShimConfig *cfg);

#endif
