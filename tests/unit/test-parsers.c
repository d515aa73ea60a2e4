/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: /proc text, libvirt pid file and status XML parsers. */
#include <glib.h>
#include <string.h>

#include "libvirt-record.h"
#include "peer.h"

static void
test_proc_uids (void)
{
    uid_t u[4];

    g_assert_true (uffd_shim_parse_proc_uids ("Name:\tqemu\nUid:\t64055\t64055\t64055\t64055\nGid:\t1\n", u));
    g_assert_cmpint (u[3], ==, 64055);
    g_assert_true (uffd_shim_parse_proc_uids ("Name:\tx\nUid:\t1\t2\t3\t4\n", u));
    g_assert_cmpint (u[0], ==, 1);
    g_assert_cmpint (u[2], ==, 3);
    g_assert_false (uffd_shim_parse_proc_uids ("Name:\tx\nUid:\t1\t2\t3\n", u));
    g_assert_false (uffd_shim_parse_proc_uids ("Uid:\t1\t2\t3\t4\n", u)); /* not after a newline */
    g_assert_false (uffd_shim_parse_proc_uids ("Name:\tx\nUid:\t1\t2\t3\t99999999999\n", u));
}

static void
test_proc_starttime (void)
{
    guint64 t = 0;
    const char *stat = "123 (qemu) x) S 1 123 123 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 987654 1000 50";

    g_assert_true (uffd_shim_parse_proc_starttime (stat, &t));
    g_assert_cmpuint (t, ==, 987654);
    g_assert_false (uffd_shim_parse_proc_starttime ("123 (x) S 1 2", &t));
    g_assert_false (uffd_shim_parse_proc_starttime ("no paren", &t));
}

static void
test_pidfile (void)
{
    pid_t p;

    g_assert_true (uffd_shim_parse_pidfile ("1234", 4, &p));
    g_assert_cmpint (p, ==, 1234);
    g_assert_true (uffd_shim_parse_pidfile ("1234\n", 5, &p));
    g_assert_false (uffd_shim_parse_pidfile ("", 0, &p));
    g_assert_false (uffd_shim_parse_pidfile ("0", 1, &p));
    g_assert_false (uffd_shim_parse_pidfile ("-1", 2, &p));
    g_assert_false (uffd_shim_parse_pidfile ("12a", 3, &p));
    g_assert_false (uffd_shim_parse_pidfile (" 12", 3, &p));
    g_assert_false (uffd_shim_parse_pidfile ("99999999999", 11, &p));
}

static void
test_status_xml (void)
{
    const char *good = "<domstatus state='running' pid='4242'>\n<taint flag='x'/>\n"
                       "<domain type='qemu' id='3'><name>vm1</name>"
                       "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>";
    const char *bad[] = {
        "<domstatus pid='4242'><domain><name>vm1</name></domain></domstatus>",
        "<domstatus><domain><name>vm1</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
        "<domain><name>vm1</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain>",
        "<domstatus pid='x'><domain><name>vm1</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
        "<domstatus pid='1'><domain><name>vm1</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain>",
        "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domstatus pid='1'><domain><name>&e;</name>"
        "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
        "",
    };
    UffdShimLibvirtRecord r = { 0 };

    g_assert_true (uffd_shim_parse_status_xml (good, strlen (good), &r, NULL));
    g_assert_cmpint (r.status_pid, ==, 4242);
    g_assert_cmpstr (r.name, ==, "vm1");
    g_assert_cmpuint (r.uuid[15], ==, 16);
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr (GError) e = NULL;
        g_assert_false (uffd_shim_parse_status_xml (bad[i], strlen (bad[i]), &r, &e));
        g_assert_nonnull (e);
    }
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/parsers/proc-uids", test_proc_uids);
    g_test_add_func ("/parsers/proc-starttime", test_proc_starttime);
    g_test_add_func ("/parsers/pidfile", test_pidfile);
    g_test_add_func ("/parsers/status-xml", test_status_xml);
    return g_test_run ();
}
