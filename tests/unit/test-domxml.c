/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of hooks/domxml.c: extraction, opt-in, preload insertion and removal, hostile inputs. */
#include <string.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "domxml.h"

#define PRELOAD "/usr/lib/x86_64-linux-gnu/uffd-shim/libuffd-shim-preload.so"
/* The preload where another host's package keeps it (RPM). */
#define PRELOAD_RPM "/usr/lib64/uffd-shim/libuffd-shim-preload.so"
#define QEMU_NS UFFD_SHIM_DOMXML_QEMU_NS
/* A hang guard, not a speed target: every hostile input is refused in
 * milliseconds (tens of them under valgrind on a busy machine), while an
 * expansion or a quadratic walk would take minutes or exhaust memory. */
#define HOSTILE_MAX_SECONDS 10.0

/* Shaped like libvirt 9.0's migratable XML, plus metadata from another app. */
static const char base_xml[] =
    "<domain type='qemu'>\n"
    "  <name>guest1</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "  <description>caf\xc3\xa9 &amp; &lt;tea&gt;</description>\n"
    "  <metadata>\n"
    "    <app1:foo xmlns:app1='http://app1.org/app1/' x='1'>fizz<!-- keep me --></app1:foo>\n"
    "  </metadata>\n"
    "  <memory unit='KiB'>131072</memory>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>\n"
    "  </os>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <console type='pty'/>\n"
    "  </devices>\n"
    "</domain>\n";

/* ---- helpers ---------------------------------------------------------- */

static UffdShimDomainInfo *
parse_ok (const char *xml)
{
    g_autoptr(GError) error = NULL;
    UffdShimDomainInfo *info = NULL;

    g_assert_true (uffd_shim_domxml_parse_info (xml, strlen (xml), &info, &error));
    g_assert_no_error (error);
    g_assert_nonnull (info);
    return info;
}

static void
assert_parse_fails (const char *xml, gsize len, int code)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(UffdShimDomainInfo) info = NULL;
    g_autoptr(GTimer) timer = g_timer_new ();

    g_assert_false (uffd_shim_domxml_parse_info (xml, len, &info, &error));
    g_assert_null (info);
    g_assert_error (error, UFFD_SHIM_XML_ERROR, code);
    g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, HOSTILE_MAX_SECONDS);
}

static void
assert_preload_fails (const char *xml, gsize len, int code)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autoptr(GTimer) timer = g_timer_new ();

    g_assert_false (uffd_shim_domxml_add_preload (xml, len, PRELOAD, &out, NULL, NULL, &error));
    g_assert_null (out);
    g_assert_error (error, UFFD_SHIM_XML_ERROR, code);
    g_clear_error (&error);
    g_assert_false (uffd_shim_domxml_remove_preload (xml, len, PRELOAD, &out, NULL, NULL, &error));
    g_assert_null (out);
    g_assert_error (error, UFFD_SHIM_XML_ERROR, code);
    g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, HOSTILE_MAX_SECONDS);
}

static char *
add_preload_ok (const char *xml, gboolean expect_changed)
{
    g_autoptr(GError) error = NULL;
    char *out = NULL;
    gsize out_len = 0;
    gboolean changed = !expect_changed;

    g_assert_true (uffd_shim_domxml_add_preload (xml, strlen (xml), PRELOAD, &out, &out_len,
                                                 &changed, &error));
    g_assert_no_error (error);
    g_assert_nonnull (out);
    g_assert_cmpuint (out_len, ==, strlen (out));
    g_assert_cmpint (changed, ==, expect_changed);
    return out;
}

static char *
remove_preload_ok (const char *xml, gboolean expect_changed)
{
    g_autoptr(GError) error = NULL;
    char *out = NULL;
    gsize out_len = 0;
    gboolean changed = !expect_changed;

    g_assert_true (uffd_shim_domxml_remove_preload (xml, strlen (xml), PRELOAD, &out, &out_len,
                                                    &changed, &error));
    g_assert_no_error (error);
    g_assert_nonnull (out);
    g_assert_cmpuint (out_len, ==, strlen (out));
    g_assert_cmpint (changed, ==, expect_changed);
    return out;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathObject, xmlXPathFreeObject)

/* Evaluates @expr (prefixes q = qemu, a1 = app1, u = uffd-shim) as a string. */
static char *
xpath_string (const char *xml, const char *expr)
{
    g_autoptr(xmlDoc) doc = xmlReadMemory (xml, (int) strlen (xml), NULL, NULL, XML_PARSE_NONET);
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(xmlXPathObject) obj = NULL;
    g_autofree char *s = NULL;
    xmlChar *str;

    g_assert_nonnull (doc);
    ctxt = xmlXPathNewContext (doc);
    xmlXPathRegisterNs (ctxt, BAD_CAST "q", BAD_CAST QEMU_NS);
    xmlXPathRegisterNs (ctxt, BAD_CAST "a1", BAD_CAST "http://app1.org/app1/");
    xmlXPathRegisterNs (ctxt, BAD_CAST "u", BAD_CAST UFFD_SHIM_DOMXML_NS);
    obj = xmlXPathEvalExpression (BAD_CAST expr, ctxt);
    g_assert_nonnull (obj);
    str = xmlXPathCastToString (obj);
    s = g_strdup ((const char *) str);
    xmlFree (str);
    return g_steal_pointer (&s);
}

static void
assert_xpath (const char *xml, const char *expr, const char *expected)
{
    g_autofree char *got = xpath_string (xml, expr);

    g_assert_cmpstr (got, ==, expected);
}

/* Inserts @snippet before "</domain>" of base_xml. */
static char *
base_with (const char *snippet)
{
    const char *end = strstr (base_xml, "</domain>");

    return g_strdup_printf ("%.*s%s%s", (int) (end - base_xml), base_xml, snippet, end);
}

/* Replaces the metadata of base_xml with @inner. */
static char *
base_with_metadata (const char *inner)
{
    const char *start = strstr (base_xml, "<metadata>") + strlen ("<metadata>");
    const char *end = strstr (base_xml, "</metadata>");
    g_autofree char *head = g_strndup (base_xml, (gsize) (start - base_xml));

    return g_strdup_printf ("%s%s%s", head, inner, end);
}

/* ---- extraction ------------------------------------------------------- */

static void
test_extract_basic (void)
{
    g_autoptr(UffdShimDomainInfo) info = parse_ok (base_xml);
    static const guint8 uuid[16] = {
        0xc7, 0xa5, 0xfd, 0xbd, 0xed, 0xaf, 0x94, 0x55,
        0x92, 0x6a, 0xd6, 0x5c, 0x16, 0xdb, 0x18, 0x09,
    };

    g_assert_cmpstr (info->name, ==, "guest1");
    g_assert_cmpmem (info->uuid, 16, uuid, 16);
    g_assert_cmpstr (info->emulator, ==, "/usr/bin/qemu-system-x86_64");
    g_assert_cmpint (info->postcopy, ==, UFFD_SHIM_OPT_IN_UNSET);
}

static void
test_extract_no_emulator (void)
{
    static const char xml[] =
        "<domain type='kvm'><name>a</name>"
        "<uuid>00000000-0000-0000-0000-000000000001</uuid></domain>";
    g_autoptr(UffdShimDomainInfo) info = parse_ok (xml);

    g_assert_null (info->emulator);
}

/* The <uuid> is read as libvirt writes it (virUUIDFormat: the canonical
 * 36-character form), by the project's one UUID parser; white space around
 * it is ignored. */
static void
test_uuid_syntax (void)
{
    static const char *const bad[] = {
        "", "c7a5fdbdedaf9455926ad65c16db1809", "c7a5fd-bdedaf-9455-926a-d65c16db1809",
        "c7a5fdbd-edaf-9455-926a-d65c16db180", "c7a5fdbd-edaf-9455-926a-d65c16db18099",
        "g7a5fdbd-edaf-9455-926a-d65c16db1809", "c7a5fdbd-edaf-9455-926a-d65c16db1809 x",
    };
    g_autofree char *padded = g_strdup_printf (
        "<domain><name>a</name><uuid>  c7a5fdbd-edaf-9455-926a-D65C16DB1809\n</uuid></domain>");
    g_autoptr(UffdShimDomainInfo) info = parse_ok (padded);

    g_assert_cmpint (info->uuid[0], ==, 0xc7);
    g_assert_cmpint (info->uuid[15], ==, 0x09);
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autofree char *xml = g_strdup_printf (
            "<domain><name>a</name><uuid>%s</uuid></domain>", bad[i]);

        assert_parse_fails (xml, strlen (xml), UFFD_SHIM_XML_ERROR_INVALID);
    }
}

static void
test_extract_invalid (void)
{
    static const char *const bad[] = {
        /* missing uuid */
        "<domain><name>a</name></domain>",
        /* missing name */
        "<domain><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* empty name */
        "<domain><name></name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* duplicate name */
        "<domain><name>a</name><name>b</name>"
        "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* duplicate uuid */
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* bad uuid */
        "<domain><name>a</name><uuid>not-a-uuid</uuid></domain>",
        /* two emulators */
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<devices><emulator>/a</emulator><emulator>/b</emulator></devices></domain>",
        /* wrong root */
        "<network><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></network>",
        /* root in a namespace */
        "<d:domain xmlns:d='urn:x'><name>a</name>"
        "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></d:domain>",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++)
        assert_parse_fails (bad[i], strlen (bad[i]), UFFD_SHIM_XML_ERROR_INVALID);
}

static void
test_name_too_long (void)
{
    g_autofree char *name = g_strnfill (256, 'n');
    g_autofree char *xml = g_strdup_printf (
        "<domain><name>%s</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>", name);

    assert_parse_fails (xml, strlen (xml), UFFD_SHIM_XML_ERROR_INVALID);
}

/* ---- opt-in ----------------------------------------------------------- */

static UffdShimOptIn
opt_in_of (const char *metadata)
{
    g_autofree char *xml = base_with_metadata (metadata);
    g_autoptr(UffdShimDomainInfo) info = parse_ok (xml);

    return info->postcopy;
}

static void
test_opt_in (void)
{
    g_assert_cmpint (opt_in_of ("<uffd-shim:postcopy xmlns:uffd-shim='" UFFD_SHIM_DOMXML_NS
                                "' enabled='yes'/>"), ==, UFFD_SHIM_OPT_IN_YES);
    g_assert_cmpint (opt_in_of ("<uffd-shim:postcopy xmlns:uffd-shim='" UFFD_SHIM_DOMXML_NS
                                "' enabled='no'/>"), ==, UFFD_SHIM_OPT_IN_NO);
    /* The prefix does not matter, the namespace URI does. */
    g_assert_cmpint (opt_in_of ("<x:postcopy xmlns:x='" UFFD_SHIM_DOMXML_NS
                                "' enabled='yes'/>"), ==, UFFD_SHIM_OPT_IN_YES);
    g_assert_cmpint (opt_in_of ("<postcopy xmlns='" UFFD_SHIM_DOMXML_NS
                                "' enabled='yes'/>"), ==, UFFD_SHIM_OPT_IN_YES);
    /* Same name in another namespace, or none: not ours. */
    g_assert_cmpint (opt_in_of ("<uffd-shim:postcopy xmlns:uffd-shim='http://example.org/other'"
                                " enabled='yes'/>"), ==, UFFD_SHIM_OPT_IN_UNSET);
    g_assert_cmpint (opt_in_of ("<postcopy enabled='yes'/>"), ==, UFFD_SHIM_OPT_IN_UNSET);
    /* Nested deeper than a direct child of <metadata>: not ours. */
    g_assert_cmpint (opt_in_of ("<a:w xmlns:a='urn:a'><uffd-shim:postcopy xmlns:uffd-shim='"
                                UFFD_SHIM_DOMXML_NS "' enabled='yes'/></a:w>"), ==,
                     UFFD_SHIM_OPT_IN_UNSET);
}

static void
test_opt_in_outside_metadata (void)
{
    g_autofree char *xml = base_with ("  <uffd-shim:postcopy xmlns:uffd-shim='" UFFD_SHIM_DOMXML_NS
                                      "' enabled='yes'/>\n");
    g_autoptr(UffdShimDomainInfo) info = parse_ok (xml);

    g_assert_cmpint (info->postcopy, ==, UFFD_SHIM_OPT_IN_UNSET);
}

static void
test_opt_in_invalid (void)
{
    static const char *const bad[] = {
        "<u:postcopy xmlns:u='" UFFD_SHIM_DOMXML_NS "' enabled='true'/>",
        "<u:postcopy xmlns:u='" UFFD_SHIM_DOMXML_NS "' enabled='YES'/>",
        "<u:postcopy xmlns:u='" UFFD_SHIM_DOMXML_NS "'/>",
        "<u:postcopy xmlns:u='" UFFD_SHIM_DOMXML_NS "' enabled='yes'/>"
        "<u:postcopy xmlns:u='" UFFD_SHIM_DOMXML_NS "' enabled='no'/>",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autofree char *xml = base_with_metadata (bad[i]);

        assert_parse_fails (xml, strlen (xml), UFFD_SHIM_XML_ERROR_INVALID);
    }
}

static void
test_opt_in_two_metadata (void)
{
    g_autofree char *xml = base_with ("  <metadata/>\n");

    assert_parse_fails (xml, strlen (xml), UFFD_SHIM_XML_ERROR_INVALID);
}

/* ---- preload insertion ------------------------------------------------ */

static void
test_preload_plain (void)
{
    g_autofree char *out = add_preload_ok (base_xml, TRUE);
    g_autoptr(UffdShimDomainInfo) info = parse_ok (out);

    assert_xpath (out, "count(/domain/q:commandline)", "1");
    assert_xpath (out, "count(/domain/q:commandline/q:env)", "1");
    assert_xpath (out, "string(/domain/q:commandline/q:env/@name)", "LD_PRELOAD");
    assert_xpath (out, "string(/domain/q:commandline/q:env/@value)", PRELOAD);
    /* The rest is intact. */
    g_assert_cmpstr (info->name, ==, "guest1");
    assert_xpath (out, "string(/domain/@type)", "qemu");
    assert_xpath (out, "string(/domain/description)", "caf\xc3\xa9 & <tea>");
    assert_xpath (out, "string(/domain/metadata/a1:foo/@x)", "1");
    assert_xpath (out, "string(/domain/metadata/a1:foo)", "fizz");
    assert_xpath (out, "count(/domain/metadata/a1:foo/comment())", "1");
    assert_xpath (out, "string(/domain/os/type/@machine)", "pc-i440fx-7.2");
    assert_xpath (out, "count(/domain/devices/console)", "1");
    assert_xpath (out, "string(/domain/memory/@unit)", "KiB");
    /* No XML declaration: libvirt's own output has none. */
    g_assert_false (g_str_has_prefix (out, "<?xml"));
}

static void
test_preload_exact_output (void)
{
    static const char in[] =
        "<domain type='qemu'>\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "</domain>\n";
    static const char expected[] =
        "<domain type=\"qemu\">\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  <qemu:commandline xmlns:qemu=\"" QEMU_NS "\">\n"
        "    <qemu:env name=\"LD_PRELOAD\" value=\"" PRELOAD "\"/>\n"
        "  </qemu:commandline>\n"
        "</domain>\n";
    g_autofree char *out = add_preload_ok (in, TRUE);

    g_assert_cmpstr (out, ==, expected);
}

static void
test_preload_existing_commandline (void)
{
    g_autofree char *xml = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:arg value='-trace'/>\n"
        "    <qemu:arg value='migration_*'/>\n"
        "    <qemu:env name='FOO' value='bar'/>\n"
        "  </qemu:commandline>\n");
    g_autofree char *out = add_preload_ok (xml, TRUE);

    assert_xpath (out, "count(/domain/q:commandline)", "1");
    assert_xpath (out, "count(/domain/q:commandline/q:arg)", "2");
    assert_xpath (out, "string(/domain/q:commandline/q:arg[2]/@value)", "migration_*");
    assert_xpath (out, "string(/domain/q:commandline/q:env[@name='FOO']/@value)", "bar");
    assert_xpath (out, "string(/domain/q:commandline/q:env[@name='LD_PRELOAD']/@value)", PRELOAD);
    /* Appended last, so the args-then-env order of libvirt's schema holds. */
    assert_xpath (out, "string(/domain/q:commandline/*[last()]/@name)", "LD_PRELOAD");
}

static void
test_preload_existing_ld_preload (void)
{
    static const struct {
        const char *before;
        const char *after;
        gboolean changed;
    } cases[] = {
        { "/opt/other.so", PRELOAD ":/opt/other.so", TRUE },
        { "/a.so /b.so", PRELOAD ":/a.so:/b.so", TRUE },
        { "/a.so:" PRELOAD ":/b.so", PRELOAD ":/a.so:/b.so", TRUE },
        { PRELOAD ":" PRELOAD, PRELOAD, TRUE },
        { "", PRELOAD, TRUE },
        { "::", PRELOAD, TRUE },
        { PRELOAD, PRELOAD, FALSE },
        { PRELOAD ":/a.so", PRELOAD ":/a.so", FALSE },
        /* Brought from a host that keeps the library elsewhere: replaced. */
        { PRELOAD_RPM, PRELOAD, TRUE },
        { "/a.so:" PRELOAD_RPM, PRELOAD ":/a.so", TRUE },
        { PRELOAD ":" PRELOAD_RPM, PRELOAD, TRUE },
        { "libuffd-shim-preload.so /a.so", PRELOAD ":/a.so", TRUE },
        /* Only the exact file name counts. */
        { "/opt/libuffd-shim-preload.so.1", PRELOAD ":/opt/libuffd-shim-preload.so.1", TRUE },
        { "/opt/xlibuffd-shim-preload.so", PRELOAD ":/opt/xlibuffd-shim-preload.so", TRUE },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *snippet = g_strdup_printf (
            "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
            "    <qemu:env name='LD_PRELOAD' value='%s'/>\n"
            "  </qemu:commandline>\n", cases[i].before);
        g_autofree char *xml = base_with (snippet);
        g_autofree char *out = add_preload_ok (xml, cases[i].changed);

        assert_xpath (out, "count(//q:env)", "1");
        assert_xpath (out, "string(//q:env/@value)", cases[i].after);
    }
}

static void
test_preload_several_ld_preload (void)
{
    /* libvirt applies them in order, the last wins: all must get ours. */
    g_autofree char *xml = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:env name='LD_PRELOAD' value='/a.so'/>\n"
        "  </qemu:commandline>\n"
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:env name='LD_PRELOAD' value='/b.so'/>\n"
        "  </qemu:commandline>\n");
    g_autofree char *out = add_preload_ok (xml, TRUE);

    assert_xpath (out, "count(//q:env)", "2");
    assert_xpath (out, "string((//q:env)[1]/@value)", PRELOAD ":/a.so");
    assert_xpath (out, "string((//q:env)[2]/@value)", PRELOAD ":/b.so");
}

static void
test_preload_value_without_value_attr (void)
{
    g_autofree char *xml = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'><qemu:env name='LD_PRELOAD'/></qemu:commandline>\n");
    g_autofree char *out = add_preload_ok (xml, TRUE);

    assert_xpath (out, "string(//q:env/@value)", PRELOAD);
}

static void
test_preload_other_prefix (void)
{
    /* Namespace declared on <domain> with another prefix, as another hook
     * may have written it. */
    static const char xml[] =
        "<domain type='qemu' xmlns:qq='" QEMU_NS "'>\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  <qq:commandline>\n"
        "    <qq:arg value='-S'/>\n"
        "  </qq:commandline>\n"
        "</domain>\n";
    g_autofree char *out = add_preload_ok (xml, TRUE);

    assert_xpath (out, "count(/domain/q:commandline)", "1");
    assert_xpath (out, "string(/domain/q:commandline/q:env/@value)", PRELOAD);
    g_assert_nonnull (strstr (out, "<qq:env name=\"LD_PRELOAD\""));
}

static void
test_preload_prefix_clash (void)
{
    /* "qemu" bound to another URI on <domain>: ours must not be confused. */
    static const char xml[] =
        "<domain type='qemu' xmlns:qemu='urn:not-qemu'>\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  <qemu:commandline><qemu:env name='LD_PRELOAD' value='/x.so'/></qemu:commandline>\n"
        "</domain>\n";
    g_autofree char *out = add_preload_ok (xml, TRUE);

    assert_xpath (out, "count(/domain/q:commandline/q:env)", "1");
    assert_xpath (out, "string(/domain/q:commandline/q:env/@value)", PRELOAD);
    assert_xpath (out, "count(/domain/*[namespace-uri()='urn:not-qemu'])", "1");
    assert_xpath (out, "string(//*[namespace-uri()='urn:not-qemu']/*/@value)", "/x.so");
}

static void
test_preload_idempotent (void)
{
    g_autofree char *once = add_preload_ok (base_xml, TRUE);
    g_autofree char *twice = add_preload_ok (once, FALSE);

    g_assert_cmpstr (once, ==, twice);
}

static void
test_preload_keeps_other_hooks (void)
{
    /* What an earlier qemu.d hook may have added: other namespaces, other
     * qemu args, CDATA, processing instructions, comments. */
    g_autofree char *xml = base_with (
        "  <!-- added by 10-other-hook -->\n"
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'><qemu:arg value='-d'/></qemu:commandline>\n"
        "  <qemu:capabilities xmlns:qemu='" QEMU_NS "'><qemu:del capability='foo'/></qemu:capabilities>\n"
        "  <?other-hook keep?>\n");
    g_autofree char *src = g_strdup_printf ("<?xml version='1.0' encoding='UTF-8'?>\n%s", xml);
    g_autofree char *out = NULL;

    /* Put a CDATA section into the description, too. */
    {
        g_autoptr(GString) s = g_string_new (src);

        g_string_replace (s, "caf\xc3\xa9", "<![CDATA[raw <b>]]>", 1);
        out = add_preload_ok (s->str, TRUE);
    }
    g_assert_nonnull (strstr (out, "<!-- added by 10-other-hook -->"));
    g_assert_nonnull (strstr (out, "<?other-hook keep?>"));
    g_assert_nonnull (strstr (out, "<![CDATA[raw <b>]]>"));
    assert_xpath (out, "string(/domain/q:capabilities/q:del/@capability)", "foo");
    assert_xpath (out, "string(/domain/q:commandline/q:arg/@value)", "-d");
    assert_xpath (out, "string(/domain/q:commandline/q:env/@value)", PRELOAD);
    assert_xpath (out, "string(/domain/metadata/a1:foo/@x)", "1");
}

static void
test_preload_bad_path (void)
{
    static const char *const bad[] = { "relative.so", "/a.so:/b.so", "/a b.so", "" };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL;

        g_assert_false (uffd_shim_domxml_add_preload (base_xml, strlen (base_xml), bad[i],
                                                      &out, NULL, NULL, &error));
        g_assert_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID);
    }
}

/* ---- preload removal -------------------------------------------------- */

static void
test_unpreload_exact_output (void)
{
    /* What add put in, and the indentation with it, goes again. */
    static const char in[] =
        "<domain type='qemu'>\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:env name='LD_PRELOAD' value='" PRELOAD_RPM "'/>\n"
        "  </qemu:commandline>\n"
        "</domain>\n";
    static const char expected[] =
        "<domain type=\"qemu\">\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "</domain>\n";
    g_autofree char *out = remove_preload_ok (in, TRUE);
    g_autofree char *added = add_preload_ok (expected, TRUE);
    g_autofree char *again = remove_preload_ok (added, TRUE);

    g_assert_cmpstr (out, ==, expected);
    g_assert_cmpstr (again, ==, expected);
}

static void
test_unpreload_nothing (void)
{
    /* No preload of ours: unchanged, the rest intact. */
    g_autofree char *other = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:env name='LD_PRELOAD' value='/a.so /b.so'/>\n"
        "    <qemu:env name='FOO' value='" PRELOAD "'/>\n"
        "  </qemu:commandline>\n");
    g_autofree char *valueless = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'><qemu:env name='LD_PRELOAD'/></qemu:commandline>\n");
    g_autofree char *out = remove_preload_ok (base_xml, FALSE);
    g_autofree char *out2 = remove_preload_ok (other, FALSE);
    g_autofree char *out3 = remove_preload_ok (valueless, FALSE);

    assert_xpath (out, "count(//q:commandline)", "0");
    assert_xpath (out, "string(/domain/metadata/a1:foo)", "fizz");
    assert_xpath (out, "count(/domain/metadata/a1:foo/comment())", "1");
    assert_xpath (out, "string(/domain/description)", "caf\xc3\xa9 & <tea>");
    assert_xpath (out2, "string(//q:env[@name='LD_PRELOAD']/@value)", "/a.so /b.so");
    assert_xpath (out2, "string(//q:env[@name='FOO']/@value)", PRELOAD);
    assert_xpath (out3, "count(//q:env)", "1");
}

static void
test_unpreload_entries (void)
{
    static const struct {
        const char *before;
        const char *after; /* NULL: the qemu:env and its qemu:commandline go */
    } cases[] = {
        { PRELOAD, NULL },
        { PRELOAD_RPM, NULL },
        { PRELOAD ":" PRELOAD_RPM, NULL },
        { "libuffd-shim-preload.so", NULL },
        { PRELOAD ":/a.so", "/a.so" },
        { "/a.so " PRELOAD_RPM " /b.so", "/a.so:/b.so" },
        { "::" PRELOAD "::/a.so", "/a.so" },
        { "/opt/libuffd-shim-preload.so.1:" PRELOAD, "/opt/libuffd-shim-preload.so.1" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *snippet = g_strdup_printf (
            "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
            "    <qemu:env name='LD_PRELOAD' value='%s'/>\n"
            "  </qemu:commandline>\n", cases[i].before);
        g_autofree char *xml = base_with (snippet);
        g_autofree char *out = remove_preload_ok (xml, TRUE);
        g_autofree char *twice = remove_preload_ok (out, FALSE);

        if (cases[i].after == NULL) {
            assert_xpath (out, "count(//q:commandline)", "0");
            g_assert_null (strstr (out, "commandline"));
        } else {
            assert_xpath (out, "count(//q:env)", "1");
            assert_xpath (out, "string(//q:env/@value)", cases[i].after);
        }
        g_assert_cmpstr (out, ==, twice);
    }
}

static void
test_unpreload_keeps_the_rest (void)
{
    /* Other args and env stay, and so does their qemu:commandline; a
     * second qemu:commandline holding only ours goes; one with a comment
     * left stays. */
    g_autofree char *xml = base_with (
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:arg value='-S'/>\n"
        "    <qemu:env name='LD_PRELOAD' value='" PRELOAD "'/>\n"
        "    <qemu:env name='FOO' value='bar'/>\n"
        "  </qemu:commandline>\n"
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <qemu:env name='LD_PRELOAD' value='" PRELOAD_RPM "'/>\n"
        "  </qemu:commandline>\n"
        "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n"
        "    <!-- an operator's note -->\n"
        "    <qemu:env name='LD_PRELOAD' value='" PRELOAD "'/>\n"
        "  </qemu:commandline>\n"
        "  <qemu:capabilities xmlns:qemu='" QEMU_NS "'><qemu:del capability='foo'/></qemu:capabilities>\n");
    g_autofree char *out = remove_preload_ok (xml, TRUE);
    g_autoptr(UffdShimDomainInfo) info = parse_ok (out);

    assert_xpath (out, "count(//q:commandline)", "2");
    assert_xpath (out, "count(//q:env[@name='LD_PRELOAD'])", "0");
    assert_xpath (out, "string(/domain/q:commandline[1]/q:arg/@value)", "-S");
    assert_xpath (out, "string(/domain/q:commandline[1]/q:env[@name='FOO']/@value)", "bar");
    assert_xpath (out, "count(/domain/q:commandline[2]/comment())", "1");
    assert_xpath (out, "string(/domain/q:capabilities/q:del/@capability)", "foo");
    g_assert_cmpstr (info->name, ==, "guest1");
    g_assert_null (strstr (out, "libuffd-shim-preload"));
}

static void
test_unpreload_prefix_clash (void)
{
    /* "qemu" bound to another URI: not libvirt's qemu:env, not touched. */
    static const char xml[] =
        "<domain type='qemu' xmlns:qemu='urn:not-qemu'>\n"
        "  <name>g</name>\n"
        "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  <qemu:commandline><qemu:env name='LD_PRELOAD' value='" PRELOAD "'/></qemu:commandline>\n"
        "</domain>\n";
    g_autofree char *out = remove_preload_ok (xml, FALSE);

    assert_xpath (out, "string(//*[namespace-uri()='urn:not-qemu']/*/@value)", PRELOAD);
}

static void
test_unpreload_bad_path (void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;

    g_assert_false (uffd_shim_domxml_remove_preload (base_xml, strlen (base_xml), "rel.so",
                                                     &out, NULL, NULL, &error));
    g_assert_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID);
}

/* ---- hostile inputs --------------------------------------------------- */

static void
assert_both_fail (const char *xml, gsize len, int code)
{
    assert_parse_fails (xml, len, code);
    assert_preload_fails (xml, len, code);
}

static void
test_hostile_malformed (void)
{
    static const char *const bad[] = {
        "<domain><name>a</name>",
        "<domain><name>a</domain>",
        "not xml at all",
        "<domain></domain><domain></domain>",
        "<domain attr='1' attr='2'/>",
        "<domain>&undefined;</domain>",
        "<domain><a b='x<c/>'/></domain>",
        "<domain xmlns:p='urn:a'><q:x/></domain>",
        "\xff\xfe<\x00d\x00",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++)
        assert_both_fail (bad[i], strlen (bad[i]), UFFD_SHIM_XML_ERROR_MALFORMED);
    assert_both_fail ("", 0, UFFD_SHIM_XML_ERROR_MALFORMED);
    assert_both_fail (NULL, 0, UFFD_SHIM_XML_ERROR_MALFORMED);
    /* An embedded NUL. */
    assert_both_fail ("<domain>\0</domain>", 18, UFFD_SHIM_XML_ERROR_MALFORMED);
}

static void
test_hostile_huge (void)
{
    gsize len = UFFD_SHIM_DOMXML_MAX_SIZE + 1;
    g_autofree char *xml = g_malloc (len);

    memset (xml, ' ', len);
    memcpy (xml, "<domain>", 8);
    assert_both_fail (xml, len, UFFD_SHIM_XML_ERROR_TOO_LARGE);
}

static void
test_hostile_big_text_within_cap (void)
{
    /* Just under the cap is fine and fast. */
    gsize pad = UFFD_SHIM_DOMXML_MAX_SIZE - 200;
    g_autofree char *filler = g_strnfill (pad, 'x');
    g_autofree char *xml = g_strdup_printf (
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<description>%s</description></domain>", filler);
    g_autoptr(GTimer) timer = g_timer_new ();
    g_autoptr(UffdShimDomainInfo) info = parse_ok (xml);

    g_assert_cmpstr (info->name, ==, "a");
    g_assert_cmpuint (strlen (xml), <=, UFFD_SHIM_DOMXML_MAX_SIZE);
    g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, HOSTILE_MAX_SECONDS);
}

static void
test_hostile_billion_laughs (void)
{
    static const char xml[] =
        "<?xml version='1.0'?>\n"
        "<!DOCTYPE domain [\n"
        "  <!ENTITY lol 'lol'>\n"
        "  <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        "  <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
        "  <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        "  <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
        "  <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
        "  <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
        "  <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
        "  <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
        "  <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
        "]>\n"
        "<domain><name>&lol9;</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<description a='&lol9;'/></domain>\n";

    assert_both_fail (xml, strlen (xml), UFFD_SHIM_XML_ERROR_FORBIDDEN);
}

static void
test_hostile_external_entity (void)
{
    static const char *const bad[] = {
        "<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>\n"
        "<domain><name>&xxe;</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        "<!DOCTYPE domain SYSTEM 'file:///etc/passwd'>\n"
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        "<!DOCTYPE domain [<!ENTITY % p SYSTEM 'http://127.0.0.1:1/x.dtd'> %p;]>\n"
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* Even a harmless DOCTYPE: libvirt never writes one. */
        "<!DOCTYPE domain>\n"
        "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>",
        /* Markup declarations are refused wherever they appear. */
        "<domain><!ENTITY x 'y'><name>a</name></domain>",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++)
        assert_both_fail (bad[i], strlen (bad[i]), UFFD_SHIM_XML_ERROR_FORBIDDEN);
}

static char *
nested (guint depth)
{
    g_autoptr(GString) s = g_string_new ("<domain><name>a</name>"
                                         "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
                                         "<metadata>");
    guint i;

    for (i = 0; i < depth; i++)
        g_string_append (s, "<x:d xmlns:x='urn:x'>");
    for (i = 0; i < depth; i++)
        g_string_append (s, "</x:d>");
    g_string_append (s, "</metadata></domain>");
    return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
test_hostile_deep_nesting (void)
{
    /* <domain><metadata> plus depth levels. */
    g_autofree char *ok = nested (UFFD_SHIM_XML_MAX_DEPTH - 2);
    g_autofree char *too_deep = nested (UFFD_SHIM_XML_MAX_DEPTH - 1);
    g_autoptr(GString) very_deep = g_string_new ("<domain>");
    g_autoptr(UffdShimDomainInfo) info = parse_ok (ok);
    guint i;

    g_assert_cmpstr (info->name, ==, "a");
    assert_both_fail (too_deep, strlen (too_deep), UFFD_SHIM_XML_ERROR_FORBIDDEN);
    /* 500000 levels: libxml2's own limit (256) stops it at once. */
    for (i = 0; i < 500000; i++)
        g_string_append (very_deep, "<a>");
    assert_parse_fails (very_deep->str, very_deep->len, UFFD_SHIM_XML_ERROR_MALFORMED);
}

static void
test_hostile_many_attributes (void)
{
    /* libxml2 2.9 checks duplicate attributes in O(n^2): 4 MiB of short
     * attributes would take it tens of minutes. */
    g_autoptr(GString) s = g_string_new ("<domain><name>a</name><x ");
    g_autoptr(GString) quoted = g_string_new ("<domain><name>a</name><x q='x");
    guint i;

    for (i = 0; s->len < UFFD_SHIM_DOMXML_MAX_SIZE - 64; i++)
        g_string_append_printf (s, "a%u='' ", i);
    g_string_append (s, "/></domain>");
    assert_both_fail (s->str, s->len, UFFD_SHIM_XML_ERROR_FORBIDDEN);

    /* The same behind an unterminated quote that libxml2 ends at '<'. */
    g_string_append (quoted, "<y ");
    for (i = 0; quoted->len < UFFD_SHIM_DOMXML_MAX_SIZE - 64; i++)
        g_string_append_printf (quoted, "a%u=\"\" ", i);
    g_string_append (quoted, "/>'/></domain>");
    assert_both_fail (quoted->str, quoted->len, UFFD_SHIM_XML_ERROR_FORBIDDEN);

    /* Many namespace declarations spread over elements. */
    g_string_assign (s, "<domain>");
    for (i = 0; i < 1100; i++)
        g_string_append_printf (s, "<e xmlns:p%u='urn:%u'/>", i, i);
    g_string_append (s, "</domain>");
    assert_both_fail (s->str, s->len, UFFD_SHIM_XML_ERROR_FORBIDDEN);

    /* Up to the per-element limit is fine. */
    g_string_assign (s, "<domain><name>a</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><x");
    for (i = 0; i < UFFD_SHIM_XML_MAX_ATTRS; i++)
        g_string_append_printf (s, " a%u='='", i);
    g_string_append (s, "/></domain>");
    {
        g_autoptr(UffdShimDomainInfo) info = parse_ok (s->str);

        g_assert_cmpstr (info->name, ==, "a");
    }
}

static void
test_hostile_encodings (void)
{
    g_autoptr(GString) s = g_string_new ("<?xml version='1.0' encoding='IBM037'?><domain><x");
    g_autoptr(GError) error = NULL;
    g_autofree char *ebcdic = NULL;
    g_autofree char *utf16 = NULL;
    gsize len = 0;
    guint i;

    /* EBCDIC has no byte '<' or '='; the pre-scan would see no tags. */
    for (i = 0; s->len < UFFD_SHIM_DOMXML_MAX_SIZE / 2; i++)
        g_string_append_printf (s, " a%u=''", i);
    g_string_append (s, "/></domain>");
    ebcdic = g_convert (s->str, (gssize) s->len, "IBM037", "UTF-8", NULL, &len, &error);
    if (ebcdic != NULL)
        assert_both_fail (ebcdic, len, UFFD_SHIM_XML_ERROR_MALFORMED);
    else
        g_test_message ("no IBM037 converter: %s", error->message);
    g_clear_error (&error);

    /* UTF-16 with a byte order mark: libvirt never writes it. */
    utf16 = g_convert (base_xml, -1, "UTF-16", "UTF-8", NULL, &len, &error);
    g_assert_no_error (error);
    assert_both_fail (utf16, len, UFFD_SHIM_XML_ERROR_MALFORMED);

    /* A declared single-byte encoding is ignored: its bytes must be UTF-8. */
    {
        static const char latin1[] =
            "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
            "<domain><name>caf\xe9</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>";
        static const char ascii[] =
            "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
            "<domain><name>cafe</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>";
        g_autoptr(UffdShimDomainInfo) info = parse_ok (ascii);

        g_assert_cmpstr (info->name, ==, "cafe");
        assert_both_fail (latin1, strlen (latin1), UFFD_SHIM_XML_ERROR_MALFORMED);
    }
}

static void
test_hostile_many_elements (void)
{
    /* A million siblings inside the size cap are accepted. This takes well
     * under a second in an optimised build; the generous bound (sanitizer
     * and valgrind runs are ten to fifty times slower) still catches
     * anything quadratic, which would take hours. */
    g_autoptr(GString) s = g_string_new ("<domain><name>a</name>"
                                         "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>");
    g_autoptr(GTimer) timer = g_timer_new ();
    g_autofree char *out = NULL;

    while (s->len < UFFD_SHIM_DOMXML_MAX_SIZE - 64)
        g_string_append (s, "<a/>");
    g_string_append (s, "</domain>");
    out = add_preload_ok (s->str, TRUE);
    g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, 12 * HOSTILE_MAX_SECONDS);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);

    g_test_add_func ("/domxml/extract/basic", test_extract_basic);
    g_test_add_func ("/domxml/extract/no-emulator", test_extract_no_emulator);
    g_test_add_func ("/domxml/extract/uuid-syntax", test_uuid_syntax);
    g_test_add_func ("/domxml/extract/invalid", test_extract_invalid);
    g_test_add_func ("/domxml/extract/name-too-long", test_name_too_long);
    g_test_add_func ("/domxml/opt-in/values", test_opt_in);
    g_test_add_func ("/domxml/opt-in/outside-metadata", test_opt_in_outside_metadata);
    g_test_add_func ("/domxml/opt-in/invalid", test_opt_in_invalid);
    g_test_add_func ("/domxml/opt-in/two-metadata", test_opt_in_two_metadata);
    g_test_add_func ("/domxml/preload/plain", test_preload_plain);
    g_test_add_func ("/domxml/preload/exact-output", test_preload_exact_output);
    g_test_add_func ("/domxml/preload/existing-commandline", test_preload_existing_commandline);
    g_test_add_func ("/domxml/preload/existing-ld-preload", test_preload_existing_ld_preload);
    g_test_add_func ("/domxml/preload/several-ld-preload", test_preload_several_ld_preload);
    g_test_add_func ("/domxml/preload/env-without-value", test_preload_value_without_value_attr);
    g_test_add_func ("/domxml/preload/other-prefix", test_preload_other_prefix);
    g_test_add_func ("/domxml/preload/prefix-clash", test_preload_prefix_clash);
    g_test_add_func ("/domxml/preload/idempotent", test_preload_idempotent);
    g_test_add_func ("/domxml/preload/keeps-other-hooks", test_preload_keeps_other_hooks);
    g_test_add_func ("/domxml/preload/bad-path", test_preload_bad_path);
    g_test_add_func ("/domxml/unpreload/exact-output", test_unpreload_exact_output);
    g_test_add_func ("/domxml/unpreload/nothing", test_unpreload_nothing);
    g_test_add_func ("/domxml/unpreload/entries", test_unpreload_entries);
    g_test_add_func ("/domxml/unpreload/keeps-the-rest", test_unpreload_keeps_the_rest);
    g_test_add_func ("/domxml/unpreload/prefix-clash", test_unpreload_prefix_clash);
    g_test_add_func ("/domxml/unpreload/bad-path", test_unpreload_bad_path);
    g_test_add_func ("/domxml/hostile/malformed", test_hostile_malformed);
    g_test_add_func ("/domxml/hostile/huge", test_hostile_huge);
    g_test_add_func ("/domxml/hostile/big-text-within-cap", test_hostile_big_text_within_cap);
    g_test_add_func ("/domxml/hostile/billion-laughs", test_hostile_billion_laughs);
    g_test_add_func ("/domxml/hostile/external-entity", test_hostile_external_entity);
    g_test_add_func ("/domxml/hostile/deep-nesting", test_hostile_deep_nesting);
    g_test_add_func ("/domxml/hostile/many-attributes", test_hostile_many_attributes);
    g_test_add_func ("/domxml/hostile/encodings", test_hostile_encodings);
    g_test_add_func ("/domxml/hostile/many-elements", test_hostile_many_elements);

    return g_test_run ();
}
