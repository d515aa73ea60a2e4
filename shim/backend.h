/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost-user back-ends: which process serves a granted domain's vhost-user device, and may it have the device. */
#ifndef UFFD_SHIM_BACKEND_H
#define UFFD_SHIM_BACKEND_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "grants.h"
#include "peer.h"
#include "policy.h"

/* vhost-user sockets taken from one domain's status XML, at most. */
#define UFFD_SHIM_BACKEND_SOCKETS_MAX 64
/* Open files of one process looked at, at most (its /proc/PID/fdinfo). */
#define UFFD_SHIM_BACKEND_FDS_MAX 65536

/* ---- pure: parsers ---------------------------------------------------------- */

/*
 * The vhost-user sockets a domain's QEMU connects to as a client, from its
 * status XML (<domstatus><domain><devices>, the document read by
 * uffd_shim_status_xml_read as for uffd_shim_parse_status_xml): the path of
 * <disk type='vhostuser'><source type='unix' path=.../> (QEMU is always the
 * client of a vhost-user disk) and of <interface type='vhostuser'><source
 * type='unix' path=... mode='client'/>. Paths are absolute, 1..107 bytes,
 * without control characters; anything else, or more than
 * UFFD_SHIM_BACKEND_SOCKETS_MAX of them, fails the parse. Appends g_strdup()ed
 * paths to @paths (a GPtrArray with g_free as its free function).
 */
gboolean uffd_shim_backend_parse_sockets (const char *buf, gsize len, GPtrArray *paths,
                                          GError **error);

/* The "mnt_id:" and "ino:" lines of a /proc/PID/fdinfo/N file. */
gboolean uffd_shim_parse_fdinfo (const char *buf, gsize len, int *mnt_id, guint64 *ino);

/* One AF_UNIX socket as sock_diag describes it. */
typedef struct {
    guint64 ino;        /* socket inode (what /proc/PID/fdinfo/N calls ino) */
    guint8 state;       /* TCP_LISTEN (10) for a listening socket, TCP_ESTABLISHED (1) connected */
    gboolean bound;     /* bound to a path: vfs_dev/vfs_ino are that file's */
    dev_t vfs_dev;      /* as stat() reports it */
    guint32 vfs_ino;    /* the kernel reports 32 bits */
    guint32 peer;       /* inode of the connected peer socket, 0 if none */
} UffdShimUnixSock;

/* Parses one SOCK_DIAG_BY_FAMILY reply (struct nlmsghdr, struct
 * unix_diag_msg and its attributes) for the socket @ino. FALSE on anything
 * malformed, an error message, or another socket. */
gboolean uffd_shim_parse_unix_diag (const void *buf, gsize len, guint64 ino, UffdShimUnixSock *out);

/* ---- pure: the decision ----------------------------------------------------- */

/* Finer reason than the status code, for the audit line. */
typedef enum {
    UFFD_SHIM_BACKEND_WHY_OK,
    UFFD_SHIM_BACKEND_WHY_UID,           /* not the configured back-end user */
    UFFD_SHIM_BACKEND_WHY_EXE,           /* not an allowed back-end executable */
    UFFD_SHIM_BACKEND_WHY_NO_SOCKET,     /* listens on no vhost-user socket of a granted domain */
    UFFD_SHIM_BACKEND_WHY_GRANT_ENDED,   /* that domain's grant ended or expired */
    UFFD_SHIM_BACKEND_WHY_DOMAIN,        /* allow-domains / deny-domains */
    UFFD_SHIM_BACKEND_WHY_NOT_CONNECTED, /* no connection to that domain's QEMU */
    UFFD_SHIM_BACKEND_WHY_SHARED,        /* serves another domain too */
    UFFD_SHIM_BACKEND_WHY_USED_UP,       /* the grant's back-end hand-outs are used up */
    UFFD_SHIM_BACKEND_WHY_MAX_
} UffdShimBackendWhy;

typedef struct {
    uid_t backend_uid;                /* (uid_t) -1: back-ends are not configured */
    const UffdShimPeer *peer;
    const UffdShimFileId *executables; /* identities of the allowed back-end binaries */
    gsize n_executables;
    /* A granted domain one of whose vhost-user sockets the peer holds the
     * listening end of (preferably one whose QEMU it is connected to), or
     * NULL. */
    const UffdShimGrant *grant;
    guint n_granted_domains;          /* granted domains whose sockets the peer listens on */
    gboolean qemu_connected;          /* that domain's QEMU holds the other end of a connection of the peer */
    gboolean serves_other;            /* the QEMU of another running domain does */
    gboolean shared_allowed;          /* [backend] shared = true */
    gboolean domain_allowed;          /* allow-domains / deny-domains */
    guint32 uses_left;                /* back-end hand-outs left on the grant */
    gint64 now;
} UffdShimBackendInput;

/* UFFD_SHIM_OK or the status code of the denial (the client sees only that);
 * *@why says which check failed. The checks run in a fixed order. */
int uffd_shim_backend_decide (const UffdShimBackendInput *in, UffdShimBackendWhy *why);
const char *uffd_shim_backend_why_name (UffdShimBackendWhy why);

/* ---- pure: the back-end budget of each grant ---------------------------------- */

/*
 * Back-ends draw on a budget of their own per grant ([backend] uses), not
 * on the grant's uses: a back-end cannot use up what its QEMU needs at the
 * switch to postcopy. Kept in memory only, keyed by the grant's name, UUID
 * and creation time (a replaced grant starts afresh); a broker restart
 * starts every budget afresh (documented in docs/design.md).
 */
typedef struct UffdShimBackendBudget UffdShimBackendBudget;

UffdShimBackendBudget *uffd_shim_backend_budget_new (void);
void uffd_shim_backend_budget_free (UffdShimBackendBudget *b);
guint32 uffd_shim_backend_budget_left (UffdShimBackendBudget *b, const UffdShimGrant *g, guint32 per_grant);
void uffd_shim_backend_budget_consume (UffdShimBackendBudget *b, const UffdShimGrant *g, guint32 per_grant);
/* Forgets the budgets of grants that are no longer active. */
void uffd_shim_backend_budget_prune (UffdShimBackendBudget *b, UffdShimGrants *grants);

/* ---- facts (backend-facts.c: /proc, sock_diag, libvirt's files) ------------------ */

typedef struct UffdShimBackendFactsCtx UffdShimBackendFactsCtx;

/* Opens the sock_diag netlink socket; call before the seccomp filter is
 * installed (the filter allows no new netlink socket). NULL with @error set
 * if the kernel has no AF_UNIX sock_diag. */
UffdShimBackendFactsCtx *uffd_shim_backend_facts_new (GError **error);
void uffd_shim_backend_facts_free (UffdShimBackendFactsCtx *ctx);

typedef struct {
    UffdShimGrant *grant;               /* see UffdShimBackendInput */
    guint n_granted_domains;
    gboolean qemu_connected;
    gboolean serves_other;
    pid_t qemu_pid;                     /* that domain's QEMU, 0 if none */
    char socket[108];                   /* the vhost-user socket the peer listens on */
} UffdShimBackendFacts;

/*
 * What the kernel and libvirt say about @peer and the active grants in
 * @grants: the peer's sockets (/proc/PID/fdinfo, sock_diag), the vhost-user
 * socket paths in each granted domain's status XML (with that domain's QEMU
 * found as for a QEMU request: pid file, its lock, status XML), the sockets
 * of that QEMU, and, when the peer has connections that do not lead to it,
 * the sockets of every other running domain's QEMU. @request_sock_ino is the
 * inode of the broker's end of the request's connection (left out).
 */
void uffd_shim_backend_gather (UffdShimBackendFactsCtx *ctx, const UffdShimConfig *cfg,
                               UffdShimGrants *grants, const UffdShimPeer *peer,
                               guint64 request_sock_ino, UffdShimBackendFacts *facts);

/* TRUE if back-end requests are configured at all ([backend] user and
 * executables) and @peer runs one of the back-end executables. */
gboolean uffd_shim_backend_candidate (const UffdShimConfig *cfg, const UffdShimPeer *peer);

/* The identities (device, inode) of the configured back-end executables. */
GArray *uffd_shim_backend_executable_ids (const UffdShimConfig *cfg);

#endif
