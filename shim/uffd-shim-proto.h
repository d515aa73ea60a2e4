/* SPDX-License-Identifier: MIT */
/* uffd-shim wire protocol: the one definition shared by broker, library, hook and QEMU. */
/*
 * Theory of operation
 * -------------------
 * Both broker sockets are AF_UNIX SOCK_SEQPACKET, so every message is one
 * record with an exact length: a record of the wrong size is a protocol
 * error, never "the rest is still coming". A connection carries exactly one
 * request and its reply(s); then the broker closes it (a GET_DEVICE served
 * with the HOLD hint excepted: that connection stays open, carrying nothing,
 * until the grant ends or the client closes it).
 *
 * Versions: the broker accepts requests of version 1 and 2 and answers in
 * the version of the request. Version 2 adds the HOLD hint, the LIST flag
 * ALL, statuses 19 (in-use), 20 (not-migrating), 21 (dumpable), 22
 * (traced) and grant state 5 (done); a version 1 message that uses any of
 * them is malformed, and a version 1 client is never sent them (it is told
 * the nearest version 1 code instead).
 *
 * Every message starts with struct uffd_shim_hdr. All integers are in host
 * byte order (both ends are on the same host). Reserved fields and unknown
 * flag bits must be zero; the receiver rejects anything else. Strings are
 * NUL-padded fixed arrays; a string that fills its array without a NUL is
 * rejected, never truncated.
 *
 * Client socket (default /run/uffd-shim/uffd.sock):
 *   client -> broker  struct uffd_shim_request     (op UFFD_SHIM_OP_GET_DEVICE)
 *   broker -> client  struct uffd_shim_reply, with exactly one SCM_RIGHTS fd
 *                     (an O_RDWR /dev/userfaultfd) when status is
 *                     UFFD_SHIM_OK, and with no fd otherwise.
 *   The client sends no fd; a request that carries one is rejected.
 *
 * Admin socket (default /run/uffd-shim/admin.sock, root only):
 *   GRANT / REVOKE   client sends struct uffd_shim_admin_request,
 *                    broker replies struct uffd_shim_admin_reply.
 *   LIST             client sends struct uffd_shim_admin_request (name and
 *                    uuid zero), broker replies struct uffd_shim_admin_reply
 *                    whose count says how many struct uffd_shim_grant_record
 *                    messages follow.
 *   STATUS           broker replies struct uffd_shim_admin_reply followed by
 *                    one struct uffd_shim_status_record.
 *
 * docs/protocol.md documents every byte of these structures.
 */
#ifndef UFFD_SHIM_PROTO_H
#define UFFD_SHIM_PROTO_H

#include <stdint.h>

#define UFFD_SHIM_MAGIC   0x53464655u /* bytes "UFFS" on little-endian */
#define UFFD_SHIM_VERSION 2u     /* what this side sends */
#define UFFD_SHIM_VERSION_MIN 1u /* the oldest version still accepted */

#define UFFD_SHIM_DEFAULT_SOCKET       "/run/uffd-shim/uffd.sock"
#define UFFD_SHIM_DEFAULT_ADMIN_SOCKET "/run/uffd-shim/admin.sock"

/* A libvirt domain name, NUL-terminated inside the array. */
#define UFFD_SHIM_NAME_MAX 256u
#define UFFD_SHIM_UUID_LEN 16u
/* Upper bound on the records a LIST reply announces. */
#define UFFD_SHIM_MAX_GRANTS 65536u

enum uffd_shim_op {
    UFFD_SHIM_OP_GET_DEVICE = 1,  /* client socket */
    UFFD_SHIM_OP_GRANT      = 16, /* admin socket */
    UFFD_SHIM_OP_REVOKE     = 17,
    UFFD_SHIM_OP_LIST       = 18,
    UFFD_SHIM_OP_STATUS     = 19,
    UFFD_SHIM_OP_REPLY      = 32, /* op of every broker -> client message */
    UFFD_SHIM_OP_RECORD     = 33,
};

/* Hints a client may set in uffd_shim_request.hints. */
enum uffd_shim_hint {
    /* This is the last device the process needs for this migration (for
     * example the incoming postcopy setup). The broker may end the grant
     * after serving it. A hint can only shorten a grant, never extend it. */
    UFFD_SHIM_HINT_LAST = 1u << 0,
    /* (version 2) The client keeps a userfaultfd made from this device for
     * a later request of the same migration (QEMU's switch-time uffd, made
     * early). On success the broker keeps this connection open until the
     * grant ends, then closes it: the client's cue to close what it kept.
     * The client closing it while the grant is active counts as a LAST
     * request served. Not together with LAST. */
    UFFD_SHIM_HINT_HOLD = 1u << 1,
};
#define UFFD_SHIM_HINTS_V1 (UFFD_SHIM_HINT_LAST)
#define UFFD_SHIM_HINTS_ALL (UFFD_SHIM_HINT_LAST | UFFD_SHIM_HINT_HOLD)

/* Flags of an admin GRANT request. */
enum uffd_shim_grant_flag {
    /* Replace an existing grant for the same domain instead of failing. */
    UFFD_SHIM_GRANT_REPLACE = 1u << 0,
};
#define UFFD_SHIM_GRANT_FLAGS_ALL (UFFD_SHIM_GRANT_REPLACE)

/* Flags of an admin LIST request (version 2). */
enum uffd_shim_list_flag {
    /* Ended grants too, after the active ones. */
    UFFD_SHIM_LIST_ALL = 1u << 0,
};
#define UFFD_SHIM_LIST_FLAGS_ALL (UFFD_SHIM_LIST_ALL)

/* Status / reason codes. 0 is success; every denial has its own code. */
enum uffd_shim_status {
    UFFD_SHIM_OK                = 0,
    UFFD_SHIM_E_PROTOCOL        = 1,  /* malformed request */
    UFFD_SHIM_E_VERSION         = 2,  /* unsupported protocol version */
    UFFD_SHIM_E_WRONG_UID       = 3,  /* peer is not the configured QEMU user */
    UFFD_SHIM_E_WRONG_EXE       = 4,  /* peer executable is not an allowed emulator */
    UFFD_SHIM_E_NOT_GRANTED     = 5,  /* peer is not the QEMU of a granted domain */
    UFFD_SHIM_E_EXPIRED         = 6,  /* the domain's grant expired */
    UFFD_SHIM_E_EXHAUSTED       = 7,  /* the domain's grant was used up */
    UFFD_SHIM_E_REVOKED         = 8,  /* the domain's grant was revoked */
    UFFD_SHIM_E_DOMAIN_DENIED   = 9,  /* domain excluded by the allow/deny lists */
    UFFD_SHIM_E_UUID_MISMATCH   = 10, /* libvirt's record has another UUID */
    UFFD_SHIM_E_PEER_GONE       = 11, /* peer exited (or pid recycled) during the decision */
    UFFD_SHIM_E_INTERNAL        = 12, /* broker could not open the device, or lacked
                                       * fds or memory to identify the peer */
    UFFD_SHIM_E_NOT_ROOT        = 13, /* admin request from a non-root peer */
    UFFD_SHIM_E_EXISTS          = 14, /* GRANT: domain already has a grant */
    UFFD_SHIM_E_NOT_FOUND       = 15, /* REVOKE: no grant for the domain */
    UFFD_SHIM_E_INVALID         = 16, /* admin request with bad name/limits */
    UFFD_SHIM_E_STATE           = 17, /* grant state could not be saved */
    UFFD_SHIM_E_LIMIT           = 18, /* too many grants */
    UFFD_SHIM_E_IN_USE          = 19, /* (v2) REVOKE/GRANT REPLACE: the grant serves a
                                       * live QEMU's incoming migration */
    UFFD_SHIM_E_NOT_MIGRATING   = 20, /* (v2) libvirt shows no incoming migration of
                                       * the domain (no "migration in" job) */
    UFFD_SHIM_E_DUMPABLE        = 21, /* (v2) peer is dumpable: processes of its uid
                                       * could ptrace it or take its fds */
    UFFD_SHIM_E_TRACED          = 22, /* (v2) peer is being traced */
    UFFD_SHIM_STATUS_MAX_       = 23,
};

/* Grant states in uffd_shim_grant_record.state. */
enum uffd_shim_grant_state {
    UFFD_SHIM_GRANT_ACTIVE    = 0,
    UFFD_SHIM_GRANT_EXPIRED   = 1, /* lifetime passed */
    UFFD_SHIM_GRANT_EXHAUSTED = 2, /* use limit reached, or a LAST hint served */
    UFFD_SHIM_GRANT_REVOKED   = 3, /* revoked over the admin socket */
    UFFD_SHIM_GRANT_EXITED    = 4, /* the QEMU that used it exited */
    UFFD_SHIM_GRANT_DONE      = 5, /* (v2) libvirt no longer shows the incoming
                                    * migration of the QEMU that used it */
    UFFD_SHIM_GRANT_STATE_MAX_ = 6,
};

struct uffd_shim_hdr {
    uint32_t magic;   /* UFFD_SHIM_MAGIC */
    uint16_t version; /* UFFD_SHIM_VERSION */
    uint16_t op;      /* enum uffd_shim_op */
    uint32_t length;  /* total message length in bytes, header included */
    uint32_t flags;   /* per-op flags; unknown bits rejected */
};

/* client -> broker: 24 bytes */
struct uffd_shim_request {
    struct uffd_shim_hdr hdr; /* op GET_DEVICE, flags 0 */
    uint32_t hints;           /* enum uffd_shim_hint */
    uint32_t reserved;        /* 0 */
};

/* broker -> client: 24 bytes (+ one fd on success) */
struct uffd_shim_reply {
    struct uffd_shim_hdr hdr; /* op REPLY */
    uint32_t status;          /* enum uffd_shim_status */
    uint32_t count;           /* LIST: records that follow; STATUS: 1; else 0 */
};

/* admin client -> broker: 304 bytes */
struct uffd_shim_admin_request {
    struct uffd_shim_hdr hdr;          /* op GRANT/REVOKE/LIST/STATUS; flags per op */
    uint8_t uuid[UFFD_SHIM_UUID_LEN];  /* GRANT: domain UUID; else 0 */
    uint32_t lifetime_s;               /* GRANT: 0 = configured default */
    uint32_t uses;                     /* GRANT: 0 = configured default */
    uint32_t reserved[2];              /* 0 */
    char name[UFFD_SHIM_NAME_MAX];     /* GRANT/REVOKE: domain name; else empty */
};

/* admin reply record for LIST: 320 bytes */
struct uffd_shim_grant_record {
    struct uffd_shim_hdr hdr;          /* op RECORD */
    uint8_t uuid[UFFD_SHIM_UUID_LEN];
    int64_t created;                   /* unix seconds */
    int64_t expires;                   /* unix seconds */
    uint32_t uses_left;
    uint32_t uses_max;
    int32_t pid;                       /* QEMU that used it, 0 = not used yet */
    uint32_t state;                    /* enum uffd_shim_grant_state */
    char name[UFFD_SHIM_NAME_MAX];
};

/* admin reply record for STATUS: 64 bytes */
struct uffd_shim_status_record {
    struct uffd_shim_hdr hdr;  /* op RECORD */
    int32_t pid;               /* broker pid */
    uint32_t grants;           /* active grants */
    int64_t started;           /* unix seconds */
    uint64_t handed_out;       /* devices handed out since start */
    uint64_t denied;           /* denials since start */
    uint64_t dropped;          /* malformed / timed-out clients since start */
    uint32_t clients;          /* connections open now */
    uint32_t reserved;
};

#define UFFD_SHIM_STATIC_ASSERT(c, m) _Static_assert(c, m)
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_hdr) == 16, "hdr size");
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_request) == 24, "request size");
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_reply) == 24, "reply size");
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_admin_request) == 304, "admin request size");
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_grant_record) == 320, "grant record size");
UFFD_SHIM_STATIC_ASSERT(sizeof(struct uffd_shim_status_record) == 64, "status record size");

#endif /* UFFD_SHIM_PROTO_H */
