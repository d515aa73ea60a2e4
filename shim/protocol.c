/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure encoding and validation of uffd-shim wire messages (no I/O, libc only). */
#include "protocol.h"

#include <string.h>

#include "uffd-shim.h"

void
uffd_shim_hdr_init (struct uffd_shim_hdr *h, uint16_t op, uint32_t length, uint32_t flags)
{
    uffd_shim_hdr_init_version (h, UFFD_SHIM_VERSION, op, length, flags);
}

void
uffd_shim_hdr_init_version (struct uffd_shim_hdr *h, uint16_t version, uint16_t op,
                            uint32_t length, uint32_t flags)
{
    h->magic = UFFD_SHIM_MAGIC;
    h->version = version;
    h->op = op;
    h->length = length;
    h->flags = flags;
}

/* Common checks: exact size, magic, version, length field, op, flags. */
static int
check_hdr (const void *buf, size_t len, size_t want, const uint16_t *ops, size_t nops,
           uint32_t allowed_flags)
{
    struct uffd_shim_hdr h;
    size_t i;

    if (len < sizeof h)
        return UFFD_SHIM_E_PROTOCOL;
    memcpy (&h, buf, sizeof h);
    if (h.magic != UFFD_SHIM_MAGIC)
        return UFFD_SHIM_E_PROTOCOL;
    if (h.version < UFFD_SHIM_VERSION_MIN || h.version > UFFD_SHIM_VERSION)
        return UFFD_SHIM_E_VERSION;
    if (len != want || h.length != want)
        return UFFD_SHIM_E_PROTOCOL;
    for (i = 0; i < nops; i++)
        if (h.op == ops[i])
            break;
    if (i == nops)
        return UFFD_SHIM_E_PROTOCOL;
    if (h.flags & ~allowed_flags)
        return UFFD_SHIM_E_PROTOCOL;
    return UFFD_SHIM_OK;
}

int
uffd_shim_parse_request (const void *buf, size_t len, struct uffd_shim_request *out)
{
    static const uint16_t ops[] = { UFFD_SHIM_OP_GET_DEVICE };
    int r = check_hdr (buf, len, sizeof *out, ops, 1, 0);

    if (r != UFFD_SHIM_OK)
        return r;
    memcpy (out, buf, sizeof *out);
    if (out->hints & ~(out->hdr.version == 1 ? UFFD_SHIM_HINTS_V1 : UFFD_SHIM_HINTS_ALL) ||
        out->reserved != 0)
        return UFFD_SHIM_E_PROTOCOL;
    if ((out->hints & UFFD_SHIM_HINT_LAST) && (out->hints & UFFD_SHIM_HINT_HOLD))
        return UFFD_SHIM_E_PROTOCOL;
    return UFFD_SHIM_OK;
}

int
uffd_shim_parse_reply (const void *buf, size_t len, struct uffd_shim_reply *out)
{
    static const uint16_t ops[] = { UFFD_SHIM_OP_REPLY };
    int r = check_hdr (buf, len, sizeof *out, ops, 1, 0);

    if (r != UFFD_SHIM_OK)
        return r;
    memcpy (out, buf, sizeof *out);
    if (out->status >= (out->hdr.version == 1 ? UFFD_SHIM_E_IN_USE : UFFD_SHIM_STATUS_MAX_) ||
        out->count > UFFD_SHIM_MAX_GRANTS)
        return UFFD_SHIM_E_PROTOCOL;
    return UFFD_SHIM_OK;
}

static int
zeroes (const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

int
uffd_shim_name_valid (const char name[UFFD_SHIM_NAME_MAX])
{
    size_t n = strnlen (name, UFFD_SHIM_NAME_MAX);

    if (n == 0 || n == UFFD_SHIM_NAME_MAX)
        return 0;
    if (!zeroes (name + n, UFFD_SHIM_NAME_MAX - n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) name[i];
        if (c < 0x20 || c == 0x7f || c == '/')
            return 0;
    }
    return 1;
}

int
uffd_shim_parse_admin_request (const void *buf, size_t len, struct uffd_shim_admin_request *out)
{
    static const uint16_t ops[] = { UFFD_SHIM_OP_GRANT, UFFD_SHIM_OP_REVOKE,
                                    UFFD_SHIM_OP_LIST, UFFD_SHIM_OP_STATUS };
    int r = check_hdr (buf, len, sizeof *out, ops, 4,
                       UFFD_SHIM_GRANT_FLAGS_ALL | UFFD_SHIM_LIST_FLAGS_ALL);

    if (r != UFFD_SHIM_OK)
        return r;
    memcpy (out, buf, sizeof *out);
    if (!zeroes (out->reserved, sizeof out->reserved))
        return UFFD_SHIM_E_PROTOCOL;
    switch (out->hdr.op) {
    case UFFD_SHIM_OP_GRANT:
        if (out->hdr.flags & ~UFFD_SHIM_GRANT_FLAGS_ALL)
            return UFFD_SHIM_E_PROTOCOL;
        if (!uffd_shim_name_valid (out->name))
            return UFFD_SHIM_E_INVALID;
        if (zeroes (out->uuid, sizeof out->uuid))
            return UFFD_SHIM_E_INVALID;
        return UFFD_SHIM_OK;
    case UFFD_SHIM_OP_REVOKE:
        if (out->hdr.flags || out->lifetime_s || out->uses || !zeroes (out->uuid, sizeof out->uuid))
            return UFFD_SHIM_E_PROTOCOL;
        return uffd_shim_name_valid (out->name) ? UFFD_SHIM_OK : UFFD_SHIM_E_INVALID;
    default: { /* LIST (flags: ALL, version 2), STATUS (no flags); nothing else */
        uint32_t flags_ok = out->hdr.op == UFFD_SHIM_OP_LIST && out->hdr.version >= 2
                            ? UFFD_SHIM_LIST_FLAGS_ALL : 0;

        if ((out->hdr.flags & ~flags_ok) || out->lifetime_s || out->uses ||
            !zeroes (out->uuid, sizeof out->uuid) || !zeroes (out->name, sizeof out->name))
            return UFFD_SHIM_E_PROTOCOL;
        return UFFD_SHIM_OK;
    }
    }
}

int
uffd_shim_parse_grant_record (const void *buf, size_t len, struct uffd_shim_grant_record *out)
{
    static const uint16_t ops[] = { UFFD_SHIM_OP_RECORD };
    int r = check_hdr (buf, len, sizeof *out, ops, 1, 0);

    if (r != UFFD_SHIM_OK)
        return r;
    memcpy (out, buf, sizeof *out);
    if (!uffd_shim_name_valid (out->name) || out->uses_left > out->uses_max ||
        out->state >= (out->hdr.version == 1 ? UFFD_SHIM_GRANT_DONE : UFFD_SHIM_GRANT_STATE_MAX_))
        return UFFD_SHIM_E_PROTOCOL;
    return UFFD_SHIM_OK;
}

int
uffd_shim_parse_status_record (const void *buf, size_t len, struct uffd_shim_status_record *out)
{
    static const uint16_t ops[] = { UFFD_SHIM_OP_RECORD };
    int r = check_hdr (buf, len, sizeof *out, ops, 1, 0);

    if (r != UFFD_SHIM_OK)
        return r;
    memcpy (out, buf, sizeof *out);
    return out->reserved == 0 ? UFFD_SHIM_OK : UFFD_SHIM_E_PROTOCOL;
}

uint32_t
uffd_shim_status_for_version (uint32_t status, uint16_t version)
{
    if (version >= 2)
        return status;
    switch (status) {
    case UFFD_SHIM_E_IN_USE: return UFFD_SHIM_E_INVALID;
    case UFFD_SHIM_E_NOT_MIGRATING: return UFFD_SHIM_E_NOT_GRANTED;
    case UFFD_SHIM_E_DUMPABLE: return UFFD_SHIM_E_PEER_GONE;
    case UFFD_SHIM_E_TRACED: return UFFD_SHIM_E_PEER_GONE;
    default: return status;
    }
}

/*
 * One row a status code, indexed by it: the name of docs/protocol.md's table
 * (as the audit log and uffd-shimctl spell it) and the English text. Every
 * place that turns a status into words reads it.
 */
static const struct {
    const char *name;
    const char *text;
} status_table[] = {
    [UFFD_SHIM_OK] = { "ok", "success" },
    [UFFD_SHIM_E_PROTOCOL] = { "protocol", "malformed request" },
    [UFFD_SHIM_E_VERSION] = { "version", "unsupported protocol version" },
    [UFFD_SHIM_E_WRONG_UID] = { "wrong-uid", "caller is not the configured QEMU user" },
    [UFFD_SHIM_E_WRONG_EXE] = { "wrong-exe", "caller's executable is not an allowed emulator" },
    [UFFD_SHIM_E_NOT_GRANTED] = { "not-granted", "caller is not the QEMU of a granted domain" },
    [UFFD_SHIM_E_EXPIRED] = { "expired", "the domain's grant expired" },
    [UFFD_SHIM_E_EXHAUSTED] = { "exhausted", "the domain's grant is used up" },
    [UFFD_SHIM_E_REVOKED] = { "revoked", "the domain's grant was revoked" },
    [UFFD_SHIM_E_DOMAIN_DENIED] = { "domain-denied",
        "the domain is excluded by the broker's allow/deny lists" },
    [UFFD_SHIM_E_UUID_MISMATCH] = { "uuid-mismatch",
        "libvirt's record of the domain has another UUID than the grant" },
    [UFFD_SHIM_E_PEER_GONE] = { "peer-gone", "caller exited while the broker decided" },
    [UFFD_SHIM_E_INTERNAL] = { "internal",
        "the broker could not open /dev/userfaultfd or ran out of file descriptors" },
    [UFFD_SHIM_E_NOT_ROOT] = { "not-root", "admin request from a non-root caller" },
    [UFFD_SHIM_E_EXISTS] = { "exists", "the domain already has a grant" },
    [UFFD_SHIM_E_NOT_FOUND] = { "not-found", "no grant for the domain" },
    [UFFD_SHIM_E_INVALID] = { "invalid", "invalid domain name, UUID or limits" },
    [UFFD_SHIM_E_STATE] = { "state", "the broker could not save its grant state" },
    [UFFD_SHIM_E_LIMIT] = { "limit", "too many grants" },
    [UFFD_SHIM_E_IN_USE] = { "in-use",
        "the grant serves the incoming migration of a running QEMU" },
    [UFFD_SHIM_E_NOT_MIGRATING] = { "not-migrating",
        "libvirt shows no incoming migration of the domain" },
    [UFFD_SHIM_E_DUMPABLE] = { "dumpable",
        "caller is dumpable: processes of its user could take the device from it" },
    [UFFD_SHIM_E_TRACED] = { "traced", "caller is being traced" },
};
_Static_assert (sizeof status_table / sizeof status_table[0] == UFFD_SHIM_STATUS_MAX_,
                "one row per status");

const char *
uffd_shim_status_code_name (int status)
{
    if (status < 0 || status >= UFFD_SHIM_STATUS_MAX_ || !status_table[status].name)
        return "unknown";
    return status_table[status].name;
}

const char *
uffd_shim_grant_state_name (uint32_t state)
{
    static const char *const names[] = {
        [UFFD_SHIM_GRANT_ACTIVE] = "active",       [UFFD_SHIM_GRANT_EXPIRED] = "expired",
        [UFFD_SHIM_GRANT_EXHAUSTED] = "exhausted", [UFFD_SHIM_GRANT_REVOKED] = "revoked",
        [UFFD_SHIM_GRANT_EXITED] = "exited",       [UFFD_SHIM_GRANT_DONE] = "done",
    };
    _Static_assert (sizeof names / sizeof names[0] == UFFD_SHIM_GRANT_STATE_MAX_,
                    "one name per grant state");

    return state < UFFD_SHIM_GRANT_STATE_MAX_ && names[state] ? names[state] : "unknown";
}

const char *
uffd_shim_reason_text (int reason)
{
    if (reason >= 0 && reason < UFFD_SHIM_STATUS_MAX_ && status_table[reason].text)
        return status_table[reason].text;
    switch (reason) {
    case UFFD_SHIM_R_NO_BROKER: return "the uffd-shim broker socket could not be reached";
    case UFFD_SHIM_R_BAD_REPLY: return "the broker's reply was malformed";
    case UFFD_SHIM_R_BAD_FD: return "the broker sent an fd that is not /dev/userfaultfd";
    case UFFD_SHIM_R_IOCTL: return "USERFAULTFD_IOC_NEW failed";
    case UFFD_SHIM_R_KERNEL: return "userfaultfd(2) failed for a reason the broker cannot fix";
    default: return "unknown reason";
    }
}
