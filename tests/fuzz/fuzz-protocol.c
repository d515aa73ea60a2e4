/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for shim/protocol.c: every wire-record parser on arbitrary bytes. */
#include <glib.h>
#include <string.h>

#include "fuzz-main.h"
#include "protocol.h"

static gboolean
status_ok (int r)
{
    return r == UFFD_SHIM_OK || r == UFFD_SHIM_E_PROTOCOL || r == UFFD_SHIM_E_VERSION ||
           r == UFFD_SHIM_E_INVALID;
}

/* A foreign version is reported as such whatever else is wrong with the record. */
static void
check_version_rule (const uint8_t *data, size_t size, int r)
{
    struct uffd_shim_hdr h;

    if (size < sizeof h)
        return;
    memcpy (&h, data, sizeof h);
    if (h.magic == UFFD_SHIM_MAGIC &&
        (h.version < UFFD_SHIM_VERSION_MIN || h.version > UFFD_SHIM_VERSION))
        g_assert_cmpint (r, ==, UFFD_SHIM_E_VERSION);
    if (h.magic != UFFD_SHIM_MAGIC)
        g_assert_cmpint (r, ==, UFFD_SHIM_E_PROTOCOL);
}

/*
 * Oracles: no crash, no read beyond @size; every result is a known status;
 * a record that parses OK has the exact size and re-encodes, from the parsed
 * fields alone, to the very bytes received (nothing unchecked can hide in it).
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int r;

    {
        struct uffd_shim_request in, enc = { 0 };

        r = uffd_shim_parse_request (data, size, &in);
        g_assert_true (r == UFFD_SHIM_OK || r == UFFD_SHIM_E_PROTOCOL || r == UFFD_SHIM_E_VERSION);
        check_version_rule (data, size, r);
        if (r == UFFD_SHIM_OK) {
            g_assert_cmpuint (size, ==, sizeof enc);
            uffd_shim_hdr_init_version (&enc.hdr, in.hdr.version,
                                        UFFD_SHIM_OP_GET_DEVICE, sizeof enc, 0);
            enc.hints = in.hints;
            g_assert_cmpuint (in.hints & ~UFFD_SHIM_HINTS_ALL, ==, 0);
            g_assert_cmpmem (&enc, sizeof enc, data, size);
        }
    }
    {
        struct uffd_shim_reply in, enc = { 0 };

        r = uffd_shim_parse_reply (data, size, &in);
        g_assert_true (r == UFFD_SHIM_OK || r == UFFD_SHIM_E_PROTOCOL || r == UFFD_SHIM_E_VERSION);
        check_version_rule (data, size, r);
        if (r == UFFD_SHIM_OK) {
            g_assert_cmpuint (in.status, <, UFFD_SHIM_STATUS_MAX_);
            g_assert_cmpuint (in.count, <=, UFFD_SHIM_MAX_GRANTS);
            g_assert_nonnull (uffd_shim_reason_text ((int) in.status));
            uffd_shim_hdr_init_version (&enc.hdr, in.hdr.version,
                                        UFFD_SHIM_OP_REPLY, sizeof enc, 0);
            enc.status = in.status;
            enc.count = in.count;
            g_assert_cmpmem (&enc, sizeof enc, data, size);
        }
    }
    {
        struct uffd_shim_admin_request in, enc = { 0 };

        r = uffd_shim_parse_admin_request (data, size, &in);
        g_assert_true (status_ok (r));
        check_version_rule (data, size, r);
        if (r == UFFD_SHIM_OK) {
            static const guint8 zero[UFFD_SHIM_UUID_LEN];

            switch (in.hdr.op) {
            case UFFD_SHIM_OP_GRANT:
                g_assert_true (uffd_shim_name_valid (in.name));
                g_assert_true (memcmp (in.uuid, zero, sizeof zero) != 0);
                break;
            case UFFD_SHIM_OP_REVOKE:
                g_assert_true (uffd_shim_name_valid (in.name));
                g_assert_cmpuint (in.hdr.flags, ==, 0);
                break;
            case UFFD_SHIM_OP_LIST:
            case UFFD_SHIM_OP_STATUS:
                g_assert_cmpuint (in.name[0], ==, 0);
                g_assert_cmpuint (in.hdr.flags, ==, 0);
                break;
            default:
                g_assert_not_reached ();
            }
            uffd_shim_hdr_init_version (&enc.hdr, in.hdr.version,
                                        in.hdr.op, sizeof enc, in.hdr.flags);
            memcpy (enc.uuid, in.uuid, sizeof enc.uuid);
            enc.lifetime_s = in.lifetime_s;
            enc.uses = in.uses;
            /* strncpy pads with NULs: the canonical form of the name field. */
            strncpy (enc.name, in.name, sizeof enc.name);
            g_assert_cmpmem (&enc, sizeof enc, data, size);
        } else if (r == UFFD_SHIM_E_INVALID) {
            g_assert_true (in.hdr.op == UFFD_SHIM_OP_GRANT || in.hdr.op == UFFD_SHIM_OP_REVOKE);
        }
    }
    {
        struct uffd_shim_grant_record in, enc = { 0 };

        r = uffd_shim_parse_grant_record (data, size, &in);
        g_assert_true (r == UFFD_SHIM_OK || r == UFFD_SHIM_E_PROTOCOL || r == UFFD_SHIM_E_VERSION);
        check_version_rule (data, size, r);
        if (r == UFFD_SHIM_OK) {
            g_assert_true (uffd_shim_name_valid (in.name));
            g_assert_cmpuint (in.uses_left, <=, in.uses_max);
            uffd_shim_hdr_init_version (&enc.hdr, in.hdr.version,
                                        UFFD_SHIM_OP_RECORD, sizeof enc, 0);
            memcpy (enc.uuid, in.uuid, sizeof enc.uuid);
            enc.created = in.created;
            enc.expires = in.expires;
            enc.uses_left = in.uses_left;
            enc.uses_max = in.uses_max;
            enc.pid = in.pid;
            enc.state = in.state;
            strncpy (enc.name, in.name, sizeof enc.name);
            g_assert_cmpmem (&enc, sizeof enc, data, size);
        }
    }
    {
        struct uffd_shim_status_record in, enc = { 0 };

        r = uffd_shim_parse_status_record (data, size, &in);
        g_assert_true (r == UFFD_SHIM_OK || r == UFFD_SHIM_E_PROTOCOL || r == UFFD_SHIM_E_VERSION);
        check_version_rule (data, size, r);
        if (r == UFFD_SHIM_OK) {
            uffd_shim_hdr_init_version (&enc.hdr, in.hdr.version,
                                        UFFD_SHIM_OP_RECORD, sizeof enc, 0);
            enc.pid = in.pid;
            enc.grants = in.grants;
            enc.started = in.started;
            enc.handed_out = in.handed_out;
            enc.denied = in.denied;
            enc.dropped = in.dropped;
            enc.clients = in.clients;
            g_assert_cmpmem (&enc, sizeof enc, data, size);
        }
    }
    /* The name validator on every window of the input that fits the field. */
    if (size >= UFFD_SHIM_NAME_MAX) {
        char name[UFFD_SHIM_NAME_MAX];

        memcpy (name, data + size - UFFD_SHIM_NAME_MAX, sizeof name);
        if (uffd_shim_name_valid (name)) {
            size_t n = strlen (name);
            g_assert_true (n > 0 && n < UFFD_SHIM_NAME_MAX && !strchr (name, '/'));
        }
    }
    if (size >= sizeof (int)) {
        int code;

        memcpy (&code, data, sizeof code);
        g_assert_nonnull (uffd_shim_reason_text (code));
    }
    return 0;
}
