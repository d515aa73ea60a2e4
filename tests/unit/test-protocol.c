/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: wire message validation (exact sizes, magic, version, flags, names). */
#include <glib.h>
#include <string.h>

#include "protocol.h"

static struct uffd_shim_request
good_request (void)
{
    struct uffd_shim_request r = { 0 };

    uffd_shim_hdr_init (&r.hdr, UFFD_SHIM_OP_GET_DEVICE, sizeof r, 0);
    return r;
}

static void
test_request_ok (void)
{
    struct uffd_shim_request r = good_request (), out;

    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hints = UFFD_SHIM_HINT_LAST;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    g_assert_cmpuint (out.hints, ==, UFFD_SHIM_HINT_LAST);
}

static void
test_request_bad (void)
{
    struct uffd_shim_request r, out;
    unsigned char big[sizeof r + 8] = { 0 };

    r = good_request ();
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r - 1, &out), ==, UFFD_SHIM_E_PROTOCOL);
    g_assert_cmpint (uffd_shim_parse_request (&r, 0, &out), ==, UFFD_SHIM_E_PROTOCOL);
    memcpy (big, &r, sizeof r);
    g_assert_cmpint (uffd_shim_parse_request (big, sizeof big, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r.hdr.magic ^= 1;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.hdr.version = UFFD_SHIM_VERSION + 1;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_VERSION);
    r.hdr.version = 0;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_VERSION);
    /* Version 1 requests are still served; they may not use version 2 hints. */
    r = good_request ();
    r.hdr.version = 1;
    r.hints = UFFD_SHIM_HINT_LAST;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    g_assert_cmpuint (out.hdr.version, ==, 1);
    r.hints = UFFD_SHIM_HINT_HOLD;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r.hdr.version = 2;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hints = UFFD_SHIM_HINT_HOLD | UFFD_SHIM_HINT_LAST;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r.hints = 1u << 2;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.hdr.length = sizeof r + 1;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.hdr.flags = 1;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.hints = 1u << 7;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.reserved = 1;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = good_request ();
    r.hdr.op = UFFD_SHIM_OP_GRANT;
    g_assert_cmpint (uffd_shim_parse_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
}

static struct uffd_shim_admin_request
grant_request (const char *name)
{
    struct uffd_shim_admin_request r = { 0 };

    uffd_shim_hdr_init (&r.hdr, UFFD_SHIM_OP_GRANT, sizeof r, 0);
    memset (r.uuid, 0xab, sizeof r.uuid);
    strncpy (r.name, name, sizeof r.name);
    return r;
}

static void
test_admin (void)
{
    struct uffd_shim_admin_request r = grant_request ("vm-1"), out;

    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hdr.flags = UFFD_SHIM_GRANT_REPLACE;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hdr.flags = 1u << 9;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r = grant_request ("");
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    r = grant_request ("a/b");
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    r = grant_request ("bad\nname");
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    /* A name filling the array without a NUL is rejected, never truncated. */
    r = grant_request ("x");
    memset (r.name, 'x', sizeof r.name);
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    /* Garbage after the NUL. */
    r = grant_request ("vm");
    r.name[200] = 'z';
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    r = grant_request ("vm");
    memset (r.uuid, 0, sizeof r.uuid);
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_INVALID);
    r = grant_request ("vm");
    r.reserved[1] = 3;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    /* LIST carries nothing. */
    memset (&r, 0, sizeof r);
    uffd_shim_hdr_init (&r.hdr, UFFD_SHIM_OP_LIST, sizeof r, 0);
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.name[0] = 'a';
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    /* LIST ALL is a version 2 flag; STATUS takes no flags. */
    memset (&r, 0, sizeof r);
    uffd_shim_hdr_init (&r.hdr, UFFD_SHIM_OP_LIST, sizeof r, UFFD_SHIM_LIST_ALL);
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hdr.version = 1;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    r.hdr.version = 2;
    r.hdr.op = UFFD_SHIM_OP_STATUS;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    /* REVOKE with a uuid or limits is malformed. */
    r = grant_request ("vm");
    r.hdr.op = UFFD_SHIM_OP_REVOKE;
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    memset (r.uuid, 0, sizeof r.uuid);
    g_assert_cmpint (uffd_shim_parse_admin_request (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
}

static void
test_reply (void)
{
    struct uffd_shim_reply r = { 0 }, out;

    uffd_shim_hdr_init (&r.hdr, UFFD_SHIM_OP_REPLY, sizeof r, 0);
    r.status = UFFD_SHIM_E_EXPIRED;
    g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.status = UFFD_SHIM_STATUS_MAX_;
    g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    /* in-use is a version 2 status. */
    r.status = UFFD_SHIM_E_IN_USE;
    g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
    r.hdr.version = 1;
    g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
    /* So are dumpable and traced; a version 1 client is told peer-gone. */
    for (uint32_t st = UFFD_SHIM_E_DUMPABLE; st <= UFFD_SHIM_E_TRACED; st++) {
        r.status = st;
        r.hdr.version = 2;
        g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_OK);
        r.hdr.version = 1;
        g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
        g_assert_cmpuint (uffd_shim_status_for_version (st, 2), ==, st);
        g_assert_cmpuint (uffd_shim_status_for_version (st, 1), ==, UFFD_SHIM_E_PEER_GONE);
    }
    g_assert_cmpuint (uffd_shim_status_for_version (UFFD_SHIM_E_NOT_GRANTED, 1), ==,
                      UFFD_SHIM_E_NOT_GRANTED);
    r.hdr.version = 2;
    r.status = 0;
    r.count = UFFD_SHIM_MAX_GRANTS + 1;
    g_assert_cmpint (uffd_shim_parse_reply (&r, sizeof r, &out), ==, UFFD_SHIM_E_PROTOCOL);
}

static void
test_reason_texts (void)
{
    for (int i = 0; i < UFFD_SHIM_STATUS_MAX_; i++) {
        g_assert_cmpstr (uffd_shim_reason_text (i), !=, "unknown reason");
        g_assert_cmpstr (uffd_shim_status_code_name (i), !=, "unknown");
    }
    g_assert_cmpstr (uffd_shim_reason_text (9999), ==, "unknown reason");
    g_assert_cmpstr (uffd_shim_status_code_name (UFFD_SHIM_STATUS_MAX_), ==, "unknown");
    g_assert_cmpstr (uffd_shim_status_code_name (UFFD_SHIM_E_NOT_MIGRATING), ==, "not-migrating");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/protocol/request/ok", test_request_ok);
    g_test_add_func ("/protocol/request/bad", test_request_bad);
    g_test_add_func ("/protocol/admin", test_admin);
    g_test_add_func ("/protocol/reply", test_reply);
    g_test_add_func ("/protocol/reason-texts", test_reason_texts);
    return g_test_run ();
}
