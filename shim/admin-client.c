/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Client side of the broker's admin socket (used by uffd-shimctl and the libvirt hook). */
#include "admin-client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "wire.h"

/* Sends @req and reads the reply header; returns the open socket in *sock. */
static int
exchange (const char *path, struct uffd_shim_admin_request *req, struct uffd_shim_reply *rep,
          int timeout_ms, int *sock)
{
    unsigned char buf[sizeof *rep + 1];
    size_t len = 0;
    int s, r;

    s = uffd_shim_wire_connect (path, timeout_ms);
    if (s < 0)
        return s;
    r = uffd_shim_wire_send (s, req, sizeof *req);
    if (r == 0)
        r = uffd_shim_wire_recv (s, buf, sizeof buf, &len, NULL);
    if (r == 0 && uffd_shim_parse_reply (buf, len, rep) != UFFD_SHIM_OK)
        r = -EPROTO;
    if (r < 0) {
        close (s);
        return r;
    }
    *sock = s;
    return 0;
}

static int
simple (const char *path, struct uffd_shim_admin_request *req, int timeout_ms)
{
    struct uffd_shim_reply rep;
    int s = -1;
    int r = exchange (path, req, &rep, timeout_ms, &s);

    if (r < 0)
        return r;
    close (s);
    return rep.count == 0 ? (int) rep.status : -EPROTO;
}

static int
set_name (struct uffd_shim_admin_request *req, const char *name)
{
    size_t n = strlen (name);

    if (n == 0 || n >= sizeof req->name)
        return -ENAMETOOLONG;
    memcpy (req->name, name, n);
    return 0;
}

int
uffd_shim_admin_grant (const char *sock, const char *name, const uint8_t uuid[UFFD_SHIM_UUID_LEN],
                       uint32_t lifetime_s, uint32_t uses, uint32_t flags, int timeout_ms)
{
    struct uffd_shim_admin_request req = { 0 };

    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_GRANT, sizeof req, flags);
    if (set_name (&req, name) < 0)
        return UFFD_SHIM_E_INVALID;
    memcpy (req.uuid, uuid, UFFD_SHIM_UUID_LEN);
    req.lifetime_s = lifetime_s;
    req.uses = uses;
    return simple (sock, &req, timeout_ms);
}

int
uffd_shim_admin_revoke (const char *sock, const char *name, int timeout_ms)
{
    struct uffd_shim_admin_request req = { 0 };

    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_REVOKE, sizeof req, 0);
    if (set_name (&req, name) < 0)
        return UFFD_SHIM_E_INVALID;
    return simple (sock, &req, timeout_ms);
}

int
uffd_shim_admin_list (const char *sock, uint32_t flags, struct uffd_shim_grant_record **out,
                      size_t *n, int timeout_ms)
{
    struct uffd_shim_admin_request req = { 0 };
    struct uffd_shim_reply rep;
    struct uffd_shim_grant_record *recs = NULL;
    int s = -1, r;

    *out = NULL;
    *n = 0;
    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_LIST, sizeof req, flags);
    r = exchange (sock, &req, &rep, timeout_ms, &s);
    if (r < 0)
        return r;
    if (rep.status != UFFD_SHIM_OK) {
        close (s);
        return (int) rep.status;
    }
    if (rep.count) {
        recs = calloc (rep.count, sizeof *recs);
        if (!recs) {
            close (s);
            return -ENOMEM;
        }
    }
    for (uint32_t i = 0; i < rep.count; i++) {
        unsigned char buf[sizeof *recs + 1];
        size_t len = 0;

        r = uffd_shim_wire_recv (s, buf, sizeof buf, &len, NULL);
        if (r == 0 && uffd_shim_parse_grant_record (buf, len, &recs[i]) != UFFD_SHIM_OK)
            r = -EPROTO;
        if (r < 0) {
            free (recs);
            close (s);
            return r;
        }
    }
    close (s);
    *out = recs;
    *n = rep.count;
    return UFFD_SHIM_OK;
}

int
uffd_shim_admin_status (const char *sock, struct uffd_shim_status_record *out, int timeout_ms)
{
    struct uffd_shim_admin_request req = { 0 };
    struct uffd_shim_reply rep;
    unsigned char buf[sizeof *out + 1];
    size_t len = 0;
    int s = -1, r;

    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_STATUS, sizeof req, 0);
    r = exchange (sock, &req, &rep, timeout_ms, &s);
    if (r < 0)
        return r;
    if (rep.status != UFFD_SHIM_OK || rep.count != 1) {
        close (s);
        return rep.status != UFFD_SHIM_OK ? (int) rep.status : -EPROTO;
    }
    r = uffd_shim_wire_recv (s, buf, sizeof buf, &len, NULL);
    close (s);
    if (r < 0)
        return r;
    return uffd_shim_parse_status_record (buf, len, out) == UFFD_SHIM_OK ? UFFD_SHIM_OK : -EPROTO;
}

const char *
uffd_shim_status_str (int status)
{
    if (status < 0)
        return strerror (-status);
    return uffd_shim_reason_text (status);
}

const char *
uffd_shim_status_name (int status)
{
    if (status < 0)
        return status == -EPROTO ? "malformed-reply" : "unreachable";
    return uffd_shim_status_code_name (status);
}
