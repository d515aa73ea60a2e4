/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure libvirt domain XML helpers for the hook: safe parsing, extraction, preload insertion and removal. */
/*
 * Theory of operation
 * -------------------
 * The hook reads the domain XML that libvirt (or an earlier qemu.d hook)
 * wrote to its stdin, as untrusted input: it is read the one way every
 * libvirt XML is read in the project (shim/libvirt-xml.c: size cap,
 * pre-scan, libxml2 without DTDs, entities or network, depth limit), with
 * a root <domain> in no namespace, and every surprise is an error (fail
 * closed).
 *
 * Extraction follows libvirt's own reading: <name>, <uuid> (the canonical
 * form virUUIDFormat writes, read by uffd_shim_uuid_parse as everywhere in
 * the project, white space around it ignored), <devices><emulator> and the
 * <metadata> element; elements are matched by namespace URI, never by
 * prefix, and a duplicate of anything we rely on is an error rather than a
 * guess.
 *
 * Output keeps the input tree and only adds, edits or removes the qemu:env
 * elements (libvirt reads them with the XPath ./qemu:commandline/qemu:env
 * bound to the namespace URI, so a prefix declared on our own element is as
 * good as one on <domain>; with several LD_PRELOAD entries the last one wins,
 * so all of them are updated). It is serialized without an XML declaration,
 * in UTF-8.
 *
 * Our LD_PRELOAD entry travels: libvirt keeps it in the migrated domain's
 * live definition and sends it on with the next migration, to hosts where
 * uffd-shim may keep the library elsewhere (Debian's multiarch directory,
 * /usr/lib64 on RPM systems) or not be installed at all. So an entry is
 * uffd-shim's when it is this host's preload path or any path whose file
 * name is UFFD_SHIM_DOMXML_PRELOAD_NAME. Adding keeps exactly one (this
 * host's, first); removing takes out every one, then a qemu:env left
 * without a value and a qemu:commandline left without children (with the
 * indentation before them), and leaves everything else as it was.
 */
#include "domxml.h"

#include <string.h>

#include "facts.h"
#include "libvirt-xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

/* Name of a domain, as in the wire protocol (UFFD_SHIM_NAME_MAX). */
#define DOMXML_NAME_MAX 256u

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlBuffer, xmlBufferFree)

typedef char DomxmlXmlChar;
static void
domxml_xml_free (DomxmlXmlChar *p)
{
    xmlFree (p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DomxmlXmlChar, domxml_xml_free)

void
uffd_shim_domain_info_free (UffdShimDomainInfo *info)
{
    if (info == NULL)
        return;
    g_free (info->name);
    g_free (info->emulator);
    g_free (info);
}

static const UffdShimXmlKind domain_xml = {
    .what = "domain XML",
    .root = "domain",
    .max_size = UFFD_SHIM_DOMXML_MAX_SIZE,
};

static gboolean
node_is (xmlNodePtr node, const char *ns_href, const char *name)
{
    if (node->type != XML_ELEMENT_NODE || !xmlStrEqual (node->name, BAD_CAST name))
        return FALSE;
    if (ns_href == NULL)
        return node->ns == NULL;
    return node->ns != NULL && xmlStrEqual (node->ns->href, BAD_CAST ns_href);
}

/* The only child of @parent called @name (no namespace); NULL if none. */
static gboolean
find_unique_child (xmlNodePtr parent, const char *name, xmlNodePtr *out, GError **error)
{
    xmlNodePtr node;

    *out = NULL;
    for (node = parent->children; node != NULL; node = node->next) {
        if (!node_is (node, NULL, name))
            continue;
        if (*out != NULL) {
            g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                         "more than one <%s> in <%s>", name, (const char *) parent->name);
            return FALSE;
        }
        *out = node;
    }
    return TRUE;
}

static char *
node_text (xmlNodePtr node)
{
    g_autoptr(DomxmlXmlChar) content = (DomxmlXmlChar *) xmlNodeGetContent (node);

    return g_strdup (content != NULL ? content : "");
}

static gboolean
extract_name (xmlNodePtr root, UffdShimDomainInfo *info, GError **error)
{
    xmlNodePtr node;

    if (!find_unique_child (root, "name", &node, error))
        return FALSE;
    if (node == NULL) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "domain XML has no <name>");
        return FALSE;
    }
    info->name = node_text (node);
    if (info->name[0] == '\0' || strlen (info->name) >= DOMXML_NAME_MAX) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                     "domain <name> must be 1 to %u bytes long", DOMXML_NAME_MAX - 1);
        return FALSE;
    }
    return TRUE;
}

static gboolean
extract_uuid (xmlNodePtr root, UffdShimDomainInfo *info, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node;

    if (!find_unique_child (root, "uuid", &node, error))
        return FALSE;
    if (node == NULL) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "domain XML has no <uuid>");
        return FALSE;
    }
    text = node_text (node);
    if (!uffd_shim_uuid_parse (g_strstrip (text), info->uuid)) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "domain <uuid> is not a valid UUID");
        return FALSE;
    }
    return TRUE;
}

static gboolean
extract_emulator (xmlNodePtr root, UffdShimDomainInfo *info, GError **error)
{
    xmlNodePtr devices;
    xmlNodePtr node;

    if (!find_unique_child (root, "devices", &devices, error))
        return FALSE;
    if (devices == NULL)
        return TRUE;
    if (!find_unique_child (devices, "emulator", &node, error))
        return FALSE;
    if (node != NULL)
        info->emulator = g_strstrip (node_text (node));
    return TRUE;
}

static gboolean
extract_opt_in (xmlNodePtr root, UffdShimDomainInfo *info, GError **error)
{
    g_autoptr(DomxmlXmlChar) enabled = NULL;
    xmlNodePtr metadata;
    xmlNodePtr found = NULL;
    xmlNodePtr node;

    if (!find_unique_child (root, "metadata", &metadata, error))
        return FALSE;
    if (metadata == NULL)
        return TRUE;
    for (node = metadata->children; node != NULL; node = node->next) {
        if (!node_is (node, UFFD_SHIM_DOMXML_NS, "postcopy"))
            continue;
        if (found != NULL) {
            g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                                 "more than one uffd-shim <postcopy> element in <metadata>");
            return FALSE;
        }
        found = node;
    }
    if (found == NULL)
        return TRUE;

    enabled = (DomxmlXmlChar *) xmlGetNoNsProp (found, BAD_CAST "enabled");
    if (g_strcmp0 (enabled, "yes") == 0) {
        info->postcopy = UFFD_SHIM_OPT_IN_YES;
    } else if (g_strcmp0 (enabled, "no") == 0) {
        info->postcopy = UFFD_SHIM_OPT_IN_NO;
    } else {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "uffd-shim <postcopy> in <metadata> needs enabled=\"yes\" or enabled=\"no\"");
        return FALSE;
    }
    return TRUE;
}

gboolean
uffd_shim_domxml_parse_info (const char *data, gsize len,
                             UffdShimDomainInfo **out, GError **error)
{
    g_autoptr(UffdShimDomainInfo) info = g_new0 (UffdShimDomainInfo, 1);
    g_autoptr(xmlDoc) doc = NULL;
    xmlNodePtr root;

    g_return_val_if_fail (out != NULL, FALSE);

    doc = uffd_shim_xml_read (&domain_xml, data, len, error);
    if (doc == NULL)
        return FALSE;
    root = xmlDocGetRootElement (doc);

    if (!extract_name (root, info, error) ||
        !extract_uuid (root, info, error) ||
        !extract_emulator (root, info, error) ||
        !extract_opt_in (root, info, error))
        return FALSE;

    *out = g_steal_pointer (&info);
    return TRUE;
}

static gboolean
preload_path_valid (const char *preload)
{
    return preload != NULL && preload[0] == '/' && strpbrk (preload, ": \t\n\r") == NULL;
}

/* Is the LD_PRELOAD entry @entry uffd-shim's (see the theory above)? */
static gboolean
is_shim_entry (const char *entry, const char *preload)
{
    const char *slash = strrchr (entry, '/');

    return strcmp (entry, preload) == 0 ||
           strcmp (slash != NULL ? slash + 1 : entry, UFFD_SHIM_DOMXML_PRELOAD_NAME) == 0;
}

/* @preload first, then the other entries of @old (ld.so separates entries
 * with ':' and ' '), each once; empty entries and other uffd-shim entries
 * dropped. */
static char *
preload_list_prepend (const char *old, const char *preload)
{
    g_autoptr(GString) s = g_string_new (preload);
    g_auto(GStrv) parts = g_strsplit_set (old != NULL ? old : "", ": ", -1);
    char **p;

    for (p = parts; *p != NULL; p++) {
        if ((*p)[0] == '\0' || is_shim_entry (*p, preload))
            continue;
        g_string_append_c (s, ':');
        g_string_append (s, *p);
    }
    return g_string_free (g_steal_pointer (&s), FALSE);
}

/* The entries of @old that are not uffd-shim's, ':'-separated (empty
 * entries dropped); NULL when @old has no uffd-shim entry (unchanged). */
static char *
preload_list_remove (const char *old, const char *preload)
{
    g_autoptr(GString) s = g_string_new (NULL);
    g_auto(GStrv) parts = g_strsplit_set (old != NULL ? old : "", ": ", -1);
    gboolean removed = FALSE;
    char **p;

    for (p = parts; *p != NULL; p++) {
        if ((*p)[0] == '\0')
            continue;
        if (is_shim_entry (*p, preload)) {
            removed = TRUE;
            continue;
        }
        if (s->len > 0)
            g_string_append_c (s, ':');
        g_string_append (s, *p);
    }
    return removed ? g_string_free (g_steal_pointer (&s), FALSE) : NULL;
}

/* Text of a whitespace-only text node, or NULL. */
static const char *
whitespace_text (xmlNodePtr node)
{
    const char *p;

    if (node == NULL || node->type != XML_TEXT_NODE || node->content == NULL)
        return NULL;
    for (p = (const char *) node->content; *p != '\0'; p++)
        if (!uffd_shim_xml_is_space (*p))
            return NULL;
    return (const char *) node->content;
}

/*
 * Appends @child as the last element of @parent. When @parent ends in
 * indentation ("\n" + spaces before its end tag) the child gets a line of its
 * own, indented one level (two spaces) deeper than that end tag.
 */
static void
append_child_indented (xmlNodePtr parent, xmlNodePtr child)
{
    const char *tail = whitespace_text (parent->last);
    g_autofree char *lead = NULL;
    const char *nl;

    if (tail == NULL || (nl = strrchr (tail, '\n')) == NULL) {
        xmlAddChild (parent, child);
        return;
    }
    lead = g_strdup_printf ("\n%s  ", nl + 1);
    /* Child first: libxml2 merges adjacent text nodes, so the indentation
     * must go in after the element separates it from the tail. */
    xmlAddPrevSibling (parent->last, child);
    xmlAddPrevSibling (child, xmlNewDocText (parent->doc, BAD_CAST lead));
}

/* Updates every LD_PRELOAD qemu:env; returns how many there are. */
static guint
update_existing_env (xmlNodePtr root, const char *preload, gboolean *changed,
                     xmlNodePtr *first_cmdline)
{
    guint found = 0;
    xmlNodePtr cmd;

    *first_cmdline = NULL;
    for (cmd = root->children; cmd != NULL; cmd = cmd->next) {
        xmlNodePtr env;

        if (!node_is (cmd, UFFD_SHIM_DOMXML_QEMU_NS, "commandline"))
            continue;
        if (*first_cmdline == NULL)
            *first_cmdline = cmd;
        for (env = cmd->children; env != NULL; env = env->next) {
            g_autoptr(DomxmlXmlChar) name = NULL;
            g_autoptr(DomxmlXmlChar) value = NULL;
            g_autofree char *updated = NULL;

            if (!node_is (env, UFFD_SHIM_DOMXML_QEMU_NS, "env"))
                continue;
            name = (DomxmlXmlChar *) xmlGetNoNsProp (env, BAD_CAST "name");
            if (g_strcmp0 (name, "LD_PRELOAD") != 0)
                continue;
            found++;
            value = (DomxmlXmlChar *) xmlGetNoNsProp (env, BAD_CAST "value");
            updated = preload_list_prepend (value, preload);
            if (g_strcmp0 (updated, value) != 0) {
                xmlSetProp (env, BAD_CAST "value", BAD_CAST updated);
                *changed = TRUE;
            }
        }
    }
    return found;
}

/* Unlinks and frees @node and the indentation (a whitespace-only text node
 * ending a line) just before it. */
static void
remove_with_indent (xmlNodePtr node)
{
    xmlNodePtr prev = node->prev;
    const char *ws = whitespace_text (prev);

    if (ws != NULL && strchr (ws, '\n') != NULL) {
        xmlUnlinkNode (prev);
        xmlFreeNode (prev);
    }
    xmlUnlinkNode (node);
    xmlFreeNode (node);
}

/* Has @node only whitespace text for children? */
static gboolean
only_whitespace_children (xmlNodePtr node)
{
    xmlNodePtr child;

    for (child = node->children; child != NULL; child = child->next)
        if (whitespace_text (child) == NULL)
            return FALSE;
    return TRUE;
}

/* Takes every uffd-shim entry out of the LD_PRELOAD qemu:env elements; see
 * the theory above. */
static void
remove_shim_env (xmlNodePtr root, const char *preload, gboolean *changed)
{
    xmlNodePtr cmd, next_cmd;

    for (cmd = root->children; cmd != NULL; cmd = next_cmd) {
        gboolean emptied = FALSE;
        xmlNodePtr env, next_env;

        next_cmd = cmd->next;
        if (!node_is (cmd, UFFD_SHIM_DOMXML_QEMU_NS, "commandline"))
            continue;
        for (env = cmd->children; env != NULL; env = next_env) {
            g_autoptr(DomxmlXmlChar) name = NULL;
            g_autoptr(DomxmlXmlChar) value = NULL;
            g_autofree char *rest = NULL;

            next_env = env->next;
            if (!node_is (env, UFFD_SHIM_DOMXML_QEMU_NS, "env"))
                continue;
            name = (DomxmlXmlChar *) xmlGetNoNsProp (env, BAD_CAST "name");
            if (g_strcmp0 (name, "LD_PRELOAD") != 0)
                continue;
            value = (DomxmlXmlChar *) xmlGetNoNsProp (env, BAD_CAST "value");
            rest = preload_list_remove (value, preload);
            if (rest == NULL)
                continue;
            *changed = TRUE;
            if (rest[0] != '\0') {
                xmlSetProp (env, BAD_CAST "value", BAD_CAST rest);
            } else {
                remove_with_indent (env);
                emptied = TRUE;
            }
        }
        if (emptied && only_whitespace_children (cmd))
            remove_with_indent (cmd);
    }
}

static xmlNodePtr
new_env_node (xmlDocPtr doc, xmlNsPtr ns, const char *preload)
{
    xmlNodePtr env = xmlNewDocNode (doc, ns, BAD_CAST "env", NULL);

    xmlNewProp (env, BAD_CAST "name", BAD_CAST "LD_PRELOAD");
    xmlNewProp (env, BAD_CAST "value", BAD_CAST preload);
    return env;
}

static void
add_env (xmlDocPtr doc, xmlNodePtr root, xmlNodePtr cmdline, const char *preload)
{
    xmlNodePtr env;
    xmlNsPtr ns;
    const char *tail;

    if (cmdline != NULL) {
        /* The element is in the qemu namespace, so the lookup succeeds. */
        ns = xmlSearchNsByHref (doc, cmdline, BAD_CAST UFFD_SHIM_DOMXML_QEMU_NS);
        append_child_indented (cmdline, new_env_node (doc, ns, preload));
        return;
    }

    cmdline = xmlNewDocNode (doc, NULL, BAD_CAST "commandline", NULL);
    ns = xmlNewNs (cmdline, BAD_CAST UFFD_SHIM_DOMXML_QEMU_NS, BAD_CAST "qemu");
    xmlSetNs (cmdline, ns);
    env = new_env_node (doc, ns, preload);
    tail = whitespace_text (root->last);
    if (tail != NULL && strchr (tail, '\n') != NULL) {
        const char *indent = strrchr (tail, '\n') + 1;
        g_autofree char *inner = g_strdup_printf ("\n%s    ", indent);
        g_autofree char *outer = g_strdup_printf ("\n%s  ", indent);

        xmlAddChild (cmdline, xmlNewDocText (doc, BAD_CAST inner));
        xmlAddChild (cmdline, env);
        xmlAddChild (cmdline, xmlNewDocText (doc, BAD_CAST outer));
    } else {
        xmlAddChild (cmdline, env);
    }
    append_child_indented (root, cmdline);
}

static gboolean
domxml_serialize (xmlDocPtr doc, char **out, gsize *out_len, GError **error)
{
    G_GNUC_UNUSED g_auto(UffdShimXmlErrorSave) silenced = uffd_shim_xml_silence ();
    g_autoptr(xmlBuffer) buf = xmlBufferCreate ();
    xmlSaveCtxtPtr save;
    long written;

    if (buf == NULL) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "cannot allocate an XML buffer");
        return FALSE;
    }
    save = xmlSaveToBuffer (buf, "UTF-8", XML_SAVE_NO_DECL);
    if (save == NULL) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "cannot serialize domain XML");
        return FALSE;
    }
    written = xmlSaveDoc (save, doc);
    if (xmlSaveClose (save) < 0 || written < 0) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "cannot serialize domain XML");
        return FALSE;
    }
    *out_len = (gsize) xmlBufferLength (buf);
    *out = g_strndup ((const char *) xmlBufferContent (buf), *out_len);
    return TRUE;
}

/* Adds (@add) or removes our LD_PRELOAD entry; the two public calls. */
static gboolean
domxml_edit_preload (const char *data, gsize len, const char *preload, gboolean add,
                     char **out, gsize *out_len, gboolean *changed, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNodePtr root;
    xmlNodePtr cmdline;
    gboolean did_change = FALSE;
    gsize n = 0;

    g_return_val_if_fail (out != NULL, FALSE);

    if (!preload_path_valid (preload)) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                     "preload library \"%s\" must be an absolute path without ':' or spaces",
                     preload != NULL ? preload : "");
        return FALSE;
    }
    doc = uffd_shim_xml_read (&domain_xml, data, len, error);
    if (doc == NULL)
        return FALSE;
    root = xmlDocGetRootElement (doc);

    if (!add) {
        remove_shim_env (root, preload, &did_change);
    } else if (update_existing_env (root, preload, &did_change, &cmdline) == 0) {
        add_env (doc, root, cmdline, preload);
        did_change = TRUE;
    }
    if (!domxml_serialize (doc, out, &n, error))
        return FALSE;
    if (out_len != NULL)
        *out_len = n;
    if (changed != NULL)
        *changed = did_change;
    return TRUE;
}

gboolean
uffd_shim_domxml_add_preload (const char *data, gsize len, const char *preload,
                              char **out, gsize *out_len, gboolean *changed,
                              GError **error)
{
    return domxml_edit_preload (data, len, preload, TRUE, out, out_len, changed, error);
}

gboolean
uffd_shim_domxml_remove_preload (const char *data, gsize len, const char *preload,
                                 char **out, gsize *out_len, gboolean *changed,
                                 GError **error)
{
    return domxml_edit_preload (data, len, preload, FALSE, out, out_len, changed, error);
}
