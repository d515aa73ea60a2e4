/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: /proc text, libvirt pid file and status XML parsers. */
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "libvirt-record.h"
#include "libvirt-xml.h"
#include "log.h"
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
test_proc_tracer (void)
{
    pid_t t = -1;

    g_assert_true (uffd_shim_parse_proc_tracer ("Name:\tqemu\nPid:\t7\nTracerPid:\t0\nUid:\t1\n", &t));
    g_assert_cmpint (t, ==, 0);
    g_assert_true (uffd_shim_parse_proc_tracer ("Name:\tqemu\nTracerPid:\t4242\nUid:\t1\n", &t));
    g_assert_cmpint (t, ==, 4242);
    g_assert_false (uffd_shim_parse_proc_tracer ("Name:\tqemu\nUid:\t1\n", &t));
    g_assert_false (uffd_shim_parse_proc_tracer ("TracerPid:\t0\n", &t)); /* not after a newline */
    g_assert_false (uffd_shim_parse_proc_tracer ("Name:\tx\nTracerPid:\t12x\n", &t));
    g_assert_false (uffd_shim_parse_proc_tracer ("Name:\tx\nTracerPid:\t99999999999\n", &t));
    /* A comm of "x\nTracerPid: 0" is escaped by the kernel, never a line. */
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
    g_assert_false (r.incoming);
    /* The "migration in" job libvirt records on the destination; a job of
     * another kind, a job element in a namespace or further down is not it. */
    {
        static const struct {
            const char *job;
            gboolean incoming;
        } jobs[] = {
            { "<job type='none' async='migration in' phase='prepare' flags='0x0'>"
              "<migParams/></job>", TRUE },
            { "<job type='none' async='migration in' phase='postcopy_failed'/>", TRUE },
            { "<job type='none' async='migration out' phase='perform3'/>", FALSE },
            { "<job type='destroy'/>", FALSE },
            { "<job xmlns='urn:x' async='migration in'/>", FALSE },
            { "<x><job async='migration in'/></x>", FALSE },
            { "<job async='Migration In'/>", FALSE },
        };
        for (gsize i = 0; i < G_N_ELEMENTS (jobs); i++) {
            g_autofree char *x = g_strdup_printf (
                "<domstatus state='paused' reason='migration' pid='9'>%s<domain><name>vm1</name>"
                "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
                jobs[i].job);
            r.incoming = !jobs[i].incoming;
            g_assert_true (uffd_shim_parse_status_xml (x, strlen (x), &r, NULL));
            g_assert_cmpint (r.incoming, ==, jobs[i].incoming);
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr (GError) e = NULL;
        g_assert_false (uffd_shim_parse_status_xml (bad[i], strlen (bad[i]), &r, &e));
        g_assert_nonnull (e);
    }
}

/* What the broker reads from a status XML, and what it refuses. */
static void
test_status_xml_details (void)
{
#define U "01020304-0506-0708-090a-0b0c0d0e0f10"
    static const struct {
        const char *xml;
        const char *name; /* NULL: must be refused */
    } cases[] = {
        /* libvirt's own prologue: XML declaration and a comment */
        { "<?xml version='1.0'?>\n<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n"
          "<domstatus pid='7'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus>\n", "a" },
        /* entities, character references, CDATA, text of nested elements, padded uuid */
        { "<domstatus pid='7'><domain><name>a&amp;b&#x41;<![CDATA[<c>]]><i>d</i></name>"
          "<uuid> " U "\n</uuid></domain></domstatus>", "a&bA<c>d" },
        /* the first <domain>, <name> and <uuid> count; prefixed and foreign-namespace ones do not */
        { "<domstatus pid='7' xmlns:q='urn:q'><q:domain><name>no</name></q:domain>"
          "<domain xmlns:q='urn:q'><q:name>no</q:name><metadata xmlns='urn:m'><name>no</name></metadata>"
          "<name>yes</name><name>no</name><uuid>" U "</uuid></domain>"
          "<domain><name>no</name></domain></domstatus>", "yes" },
        /* <name> must be a child of <domain>, not deeper */
        { "<domstatus pid='7'><domain><x><name>a</name></x><uuid>" U "</uuid></domain></domstatus>", NULL },
        /* a default namespace puts <domain> in a namespace */
        { "<domstatus pid='7' xmlns='urn:x'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<domstatus pid='7'><domain xmlns='urn:x'><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        /* ... as it does on the root, even if xmlns='' takes it away again inside */
        { "<domstatus pid='7' xmlns='urn:x'><domain xmlns=''><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<domstatus pid='7'><domain><name xmlns=''>a</name><uuid>" U "</uuid></domain></domstatus>", "a" },
        /* one root, one pid attribute, no DOCTYPE, well-formed, UTF-8 */
        { "<domstatus pid='7'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus><domstatus pid='8'/>", NULL },
        { "<domstatus pid='7' pid='8'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<!DOCTYPE domstatus><domstatus pid='7'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<domstatus pid='7'><domain><name>a</name><uuid>" U "</uuid></domain>", NULL },
        { "<domstatus pid='7'><domain><name>a&e;</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<domstatus pid='7'><domain><name>\xff</name><uuid>" U "</uuid></domain></domstatus>", NULL },
        { "<x:domstatus xmlns:x='urn:x' pid='7'><domain><name>a</name><uuid>" U "</uuid></domain></x:domstatus>", NULL },
        { "<domstatus pid='7'><domain><name>a</name><uuid>" U "x</uuid></domain></domstatus>", NULL },
        { "<domstatus pid='7'><domain><name>a</name></domain></domstatus>", NULL },
        { "<domstatus pid='0'><domain><name>a</name><uuid>" U "</uuid></domain></domstatus>", NULL },
    };
#undef U

    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
        UffdShimLibvirtRecord r = { 0 };
        g_autoptr (GError) e = NULL;
        gboolean ok = uffd_shim_parse_status_xml (cases[i].xml, strlen (cases[i].xml), &r, &e);

        if (g_test_verbose ())
            g_test_message ("case %zu: %s", i, ok ? r.name : e->message);
        if (cases[i].name) {
            g_assert_true (ok);
            g_assert_cmpstr (r.name, ==, cases[i].name);
            g_assert_cmpint (r.status_pid, ==, 7);
            g_assert_cmpuint (r.uuid[15], ==, 16);
        } else {
            g_assert_false (ok);
            g_assert_nonnull (e);
        }
    }
}

/* A status XML libvirt could have written, with @inner in <domain> (after
 * its name and uuid) and @attrs on <domstatus>. */
static char *
status_with (const char *attrs, const char *inner)
{
    return g_strdup_printf ("<domstatus state='running' reason='booted' pid='7'%s>"
                            "<domain type='qemu' id='1'><name>vm</name>"
                            "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid>%s"
                            "<devices/></domain></domstatus>", attrs, inner);
}

/* Both readers of the status XML (the record and the vhost-user sockets)
 * refuse @xml with UFFD_SHIM_XML_ERROR @code, soon. */
static void
assert_status_refused (const char *what, const char *xml, gsize len, int code)
{
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GTimer) timer = g_timer_new ();
    g_autoptr (GError) e1 = NULL;
    g_autoptr (GError) e2 = NULL;
    UffdShimLibvirtRecord r = { 0 };

    if (g_test_verbose ())
        g_test_message ("%s", what);
    g_assert_false (uffd_shim_parse_status_xml (xml, len, &r, &e1));
    g_assert_error (e1, UFFD_SHIM_XML_ERROR, code);
    g_assert_false (uffd_shim_backend_parse_sockets (xml, len, paths, &e2));
    g_assert_error (e2, UFFD_SHIM_XML_ERROR, code);
    g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, 5.0);
}

static void
assert_status_taken (const char *xml, gsize len)
{
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
    UffdShimLibvirtRecord r = { 0 };
    g_autoptr (GError) e = NULL;

    g_assert_true (uffd_shim_parse_status_xml (xml, len, &r, &e));
    g_assert_no_error (e);
    g_assert_cmpint (r.status_pid, ==, 7);
    g_assert_cmpstr (r.name, ==, "vm");
    g_assert_true (uffd_shim_backend_parse_sockets (xml, len, paths, NULL));
}

/* Hostile status XML: the broker reads it the hardened way the hook reads
 * domain XML (shim/libvirt-xml.c), not with plain libxml2. */
static void
test_status_xml_hostile (void)
{
    static const struct {
        const char *what;
        const char *xml;
        int code;
    } cases[] = {
        { "internal entity",
          "<!DOCTYPE domstatus [<!ENTITY e 'x'>]><domstatus pid='7'><domain><name>&e;</name>"
          "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
          UFFD_SHIM_XML_ERROR_FORBIDDEN },
        { "external entity",
          "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/hostname'>]><domstatus pid='7'><domain>"
          "<name>&e;</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
          UFFD_SHIM_XML_ERROR_FORBIDDEN },
        { "billion laughs",
          "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
          "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]><domstatus pid='7'><domain>"
          "<name>&c;</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
          UFFD_SHIM_XML_ERROR_FORBIDDEN },
        { "DOCTYPE after libvirt's comment",
          "<!--\nWARNING\n-->\n<!DOCTYPE domstatus SYSTEM 'http://example.org/d.dtd'>"
          "<domstatus pid='7'><domain><name>vm</name>"
          "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
          UFFD_SHIM_XML_ERROR_FORBIDDEN },
        { "empty", "", UFFD_SHIM_XML_ERROR_MALFORMED },
        { "not well-formed", "<domstatus pid='7'><domain>", UFFD_SHIM_XML_ERROR_MALFORMED },
        { "wrong root",
          "<domain><name>vm</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain>",
          UFFD_SHIM_XML_ERROR_INVALID },
        { "root in a namespace",
          "<x:domstatus xmlns:x='urn:x' pid='7'><domain><name>vm</name>"
          "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></x:domstatus>",
          UFFD_SHIM_XML_ERROR_INVALID },
        { "root in a default namespace",
          "<domstatus xmlns='http://libvirt.org/schemas/domain/qemu/1.0' pid='7'><domain>"
          "<name>vm</name><uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>",
          UFFD_SHIM_XML_ERROR_INVALID },
        { "no <domain>", "<domstatus pid='7'><job async='migration in'/></domstatus>",
          UFFD_SHIM_XML_ERROR_INVALID },
    };
    /* UTF-16 with a byte order mark: plain libxml2 reads it, the project
     * reads only UTF-8 (what the byte-wise pre-scan sees). */
    static const char utf16[] = "\xff\xfe<\0d\0o\0m\0s\0t\0a\0t\0u\0s\0 \0p\0i\0d\0=\0'\0" "7\0'\0/\0>\0";
    g_autoptr (GString) deep = g_string_new (NULL);
    g_autoptr (GString) deepest_ok = g_string_new (NULL);
    g_autoptr (GString) attrs = g_string_new (NULL);
    g_autoptr (GString) ns = g_string_new (NULL);
    g_autofree char *xml = NULL;
    g_autofree char *big = NULL;
    gsize n;

    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
        assert_status_refused (cases[i].what, cases[i].xml, strlen (cases[i].xml), cases[i].code);
    assert_status_refused ("UTF-16", utf16, sizeof utf16 - 1, UFFD_SHIM_XML_ERROR_MALFORMED);

    /* Depth: <domstatus><domain> and the nesting in <metadata>; the limit
     * itself is taken, one more is refused (libxml2's own limit is 256). */
    for (guint i = 0; i < UFFD_SHIM_XML_MAX_DEPTH - 2; i++)
        g_string_append (deepest_ok, "<x>");
    for (guint i = 0; i < UFFD_SHIM_XML_MAX_DEPTH - 2; i++)
        g_string_append (deepest_ok, "</x>");
    g_string_printf (deep, "<x>%s</x>", deepest_ok->str);
    xml = status_with ("", deepest_ok->str);
    assert_status_taken (xml, strlen (xml));
    g_free (xml);
    xml = status_with ("", deep->str);
    assert_status_refused ("one element too deep", xml, strlen (xml), UFFD_SHIM_XML_ERROR_FORBIDDEN);
    g_free (xml);
    g_string_truncate (deep, 0);
    for (guint i = 0; i < 200; i++)
        g_string_append (deep, "<x>");
    for (guint i = 0; i < 200; i++)
        g_string_append (deep, "</x>");
    xml = status_with ("", deep->str);
    assert_status_refused ("200 elements deep", xml, strlen (xml), UFFD_SHIM_XML_ERROR_FORBIDDEN);
    g_free (xml);

    /* Attributes on one element, namespace declarations in the document. */
    for (guint i = 0; i <= UFFD_SHIM_XML_MAX_ATTRS; i++)
        g_string_append_printf (attrs, " a%u='%u'", i, i);
    xml = status_with (attrs->str, "");
    assert_status_refused ("too many attributes", xml, strlen (xml), UFFD_SHIM_XML_ERROR_FORBIDDEN);
    g_free (xml);
    for (guint i = 0; i <= UFFD_SHIM_XML_MAX_NS_DECLS; i++)
        g_string_append_printf (ns, "<m%u:x xmlns:m%u='urn:%u'/>", i, i, i);
    xml = status_with ("", ns->str);
    assert_status_refused ("too many namespace declarations", xml, strlen (xml),
                           UFFD_SHIM_XML_ERROR_FORBIDDEN);
    g_free (xml);

    /* Size: a document of exactly the cap is read, one byte more is not.
     * (Padded with elements, as libvirt's <qemuCaps> is long: libxml2,
     * without XML_PARSE_HUGE, refuses a run of white space near the end of
     * a document over 10 MB.) */
    xml = status_with ("", "");
    n = strlen (xml) + 1; /* and the final newline */
    g_string_truncate (attrs, 0);
    while (n + attrs->len + 26 <= UFFD_SHIM_STATUS_XML_MAX)
        g_string_append (attrs, "<flag name='x'/>\n");
    g_string_append (attrs, "<f v='");
    while (n + attrs->len + 3 < UFFD_SHIM_STATUS_XML_MAX)
        g_string_append_c (attrs, 'v');
    g_string_append (attrs, "'/>");
    g_free (xml);
    xml = status_with ("", attrs->str);
    big = g_strconcat (xml, "\n\n", NULL);
    g_assert_cmpuint (strlen (big), ==, UFFD_SHIM_STATUS_XML_MAX + 1);
    assert_status_taken (big, UFFD_SHIM_STATUS_XML_MAX);
    assert_status_refused ("oversize", big, UFFD_SHIM_STATUS_XML_MAX + 1,
                           UFFD_SHIM_XML_ERROR_TOO_LARGE);
}

/* A status XML as libvirt 9.0 wrote it on a migration's destination (the
 * seed tests/fuzz/corpus/status-xml/libvirt-9.0-migration-in.xml, 11 KB,
 * eight elements deep): the hardened reader's limits fit it. */
static void
test_status_xml_libvirt (void)
{
    const char *src = g_getenv ("UFFD_SHIM_SRCDIR");
    g_autofree char *path = NULL;
    g_autofree char *xml = NULL;
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
    UffdShimLibvirtRecord r = { 0 };
    g_autoptr (GError) e = NULL;
    gsize len = 0;

    g_assert_nonnull (src);
    path = g_build_filename (src, "tests", "fuzz", "corpus", "status-xml",
                             "libvirt-9.0-migration-in.xml", NULL);
    g_assert_true (g_file_get_contents (path, &xml, &len, NULL));
    g_assert_true (uffd_shim_parse_status_xml (xml, len, &r, &e));
    g_assert_no_error (e);
    g_assert_cmpint (r.status_pid, ==, 14299);
    g_assert_cmpstr (r.name, ==, "vm1");
    g_assert_cmpuint (r.uuid[0], ==, 0x73);
    g_assert_cmpuint (r.uuid[15], ==, 0xdd);
    g_assert_true (r.incoming);
    g_assert_true (uffd_shim_backend_parse_sockets (xml, len, paths, NULL));
    g_assert_cmpuint (paths->len, ==, 0);
}

static void
write_status (const char *dir, const char *xml, gboolean by_rename)
{
    g_autofree char *path = g_build_filename (dir, "vm.xml", NULL);
    g_autofree char *tmp = g_build_filename (dir, "vm.xml.new", NULL);

    if (by_rename) {
        g_assert_true (g_file_set_contents (tmp, xml, -1, NULL));
        g_assert_cmpint (chmod (tmp, 0600), ==, 0);
        g_assert_cmpint (rename (tmp, path), ==, 0);
    } else {
        /* In place, same size: only the ctime (and mtime) tell. */
        int fd = open (path, O_WRONLY);
        g_assert_cmpint (fd, >=, 0);
        g_assert_cmpint (pwrite (fd, xml, strlen (xml), 0), ==, (ssize_t) strlen (xml));
        close (fd);
    }
}

/* The status XML cache: used only for the same file version and pid. */
static void
test_status_cache (void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    UffdShimStatusCache *cache = NULL;
    UffdShimLibvirtRecord r = { 0 };
    const char *v100 = "<domstatus pid='100'><domain><name>vm</name>"
                       "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>";
    const char *v200 = "<domstatus pid='200'><domain><name>vm</name>"
                       "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>";
    const char *v300 = "<domstatus pid='300'><domain><name>vm</name>"
                       "<uuid>01020304-0506-0708-090a-0b0c0d0e0f10</uuid></domain></domstatus>";

    if (geteuid () != 0) {
        g_test_skip ("the broker reads only root-owned files");
        return;
    }
    dir = g_dir_make_tmp ("uffd-shim-status-XXXXXX", NULL);
    path = g_build_filename (dir, "vm.xml", NULL);
    write_status (dir, v100, TRUE);
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 100, &cache, &r, NULL));
    g_assert_nonnull (cache);
    g_assert_cmpint (r.status_pid, ==, 100);
    g_assert_cmpuint (cache->hits, ==, 0);
    memset (&r, 0, sizeof r);
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 100, &cache, &r, NULL));
    g_assert_cmpuint (cache->hits, ==, 1);
    g_assert_cmpint (r.status_pid, ==, 100);
    g_assert_cmpstr (r.name, ==, "vm");
    g_assert_cmpuint (r.uuid[15], ==, 16);
    /* Another pid: parsed again (and the file still names 100). */
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 101, &cache, &r, NULL));
    g_assert_cmpuint (cache->hits, ==, 1);
    g_assert_cmpint (r.status_pid, ==, 100);
    /* A new version by rename (libvirt's way): parsed again. */
    write_status (dir, v200, TRUE);
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 100, &cache, &r, NULL));
    g_assert_cmpuint (cache->hits, ==, 1);
    g_assert_cmpint (r.status_pid, ==, 200);
    /* Rewritten in place with the same size: parsed again (after a pause:
     * without fine-grained timestamps, the kernel's file times advance once
     * per clock tick). */
    g_usleep (50000);
    write_status (dir, v300, FALSE);
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 200, &cache, &r, NULL));
    g_assert_cmpuint (cache->hits, ==, 1);
    g_assert_cmpint (r.status_pid, ==, 300);
    /* Owner and mode are checked on every read, hit or not. */
    g_assert_cmpint (chmod (path, 0620), ==, 0);
    g_assert_false (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    g_assert_null (cache);
    g_assert_cmpint (chmod (path, 0600), ==, 0);
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    g_assert_cmpuint (cache->hits, ==, 1); /* a new cache since the chmod */
    /* A symbolic link in its place, even to that very file: refused. */
    {
        g_autofree char *real = g_build_filename (dir, "real.xml", NULL);

        g_assert_cmpint (rename (path, real), ==, 0);
        g_assert_cmpint (symlink ("real.xml", path), ==, 0);
        g_assert_false (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
        g_assert_null (cache);
        g_assert_cmpint (unlink (path), ==, 0);
        g_assert_cmpint (rename (real, path), ==, 0);
    }
    g_assert_true (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    /* Gone, or broken: no record, cache dropped. */
    write_status (dir, "<domstatus pid='300'>", TRUE);
    g_assert_false (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    g_assert_null (cache);
    g_assert_cmpint (unlink (path), ==, 0);
    g_assert_false (uffd_shim_libvirt_read_status_cached (dir, "vm", 300, &cache, &r, NULL));
    g_assert_null (cache);
    g_assert_cmpint (rmdir (dir), ==, 0);
}

static void
check_value (const char *in, const char *want)
{
    g_autofree char *got = uffd_shim_log_value (in);

    g_assert_cmpstr (got, ==, want);
}

static void
test_log_value (void)
{
    check_value ("vm1", "vm1");
    check_value ("/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-x86_64");
    check_value (NULL, "-");
    check_value ("-", "\"-\"");
    check_value ("", "\"\"");
    check_value ("a b", "\"a b\"");
    check_value ("a=b", "\"a=b\"");
    check_value ("say \"hi\"", "\"say \\\"hi\\\"\"");
    check_value ("back\\slash", "\"back\\\\slash\"");
    check_value ("/q\naudit: x=y", "\"/q\\naudit: x=y\"");
    check_value ("tab\there\x1b", "\"tab\\there\\033\"");
    check_value ("caf\xc3\xa9", "\"caf\\303\\251\"");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/parsers/proc-uids", test_proc_uids);
    g_test_add_func ("/parsers/proc-starttime", test_proc_starttime);
    g_test_add_func ("/parsers/proc-tracer", test_proc_tracer);
    g_test_add_func ("/parsers/pidfile", test_pidfile);
    g_test_add_func ("/parsers/status-xml", test_status_xml);
    g_test_add_func ("/parsers/status-xml-details", test_status_xml_details);
    g_test_add_func ("/parsers/status-xml-hostile", test_status_xml_hostile);
    g_test_add_func ("/parsers/status-xml-libvirt", test_status_xml_libvirt);
    g_test_add_func ("/parsers/status-cache", test_status_cache);
    g_test_add_func ("/parsers/log-value", test_log_value);
    return g_test_run ();
}
