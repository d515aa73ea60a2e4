/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure libvirt domain XML helpers for the hook: safe parsing, extraction, preload insertion and removal. */
/*
 * Theory of operation
 * -------------------
 * The hook reads the domain XML that libvirt (or an earlier qemu.d hook)
 * wrote to its stdin. It comes from libvirt's own formatter, but may carry
 * <metadata> set by any libvirt user and, on a migration, a definition sent
 * by the source host, so it is parsed as untrusted input and every surprise
 * is an error (fail closed):
 *
 *  1. Size: more than UFFD_SHIM_DOMXML_MAX_SIZE bytes is rejected unread.
 *  2. A linear pre-scan rejects any "<!" markup other than comments and
 *     CDATA (so a DOCTYPE, and with it every entity declaration, internal or
 *     external, never reaches libxml2), more than UFFD_SHIM_DOMXML_MAX_ATTRS
 *     attributes on one element, and more than UFFD_SHIM_DOMXML_MAX_NS_DECLS
 *     namespace declarations in total. libxml2 2.9 checks duplicate
 *     attributes and namespaces quadratically; without the pre-scan a 4 MiB
 *     element of short attributes costs it about half an hour of CPU. The
 *     pre-scan ends a tag at any '<' (even inside quotes) exactly as libxml2
 *     ends an attribute value there, so both agree on where tags start and
 *     its count of '=' per tag is never below libxml2's attribute count.
 *  3. libxml2 parses with XML_PARSE_NONET and without XML_PARSE_NOENT,
 *     XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_DTDVALID and
 *     XML_PARSE_HUGE: no network, no file access, no entity substitution, its
 *     built-in limits (depth 256, 10 MB text nodes) stay on. As a second
 *     guard the internalSubset and entityDecl SAX callbacks stop the parser.
 *     The input is read as UTF-8 whatever it declares or starts with
 *     (XML_PARSE_IGNORE_ENC): libvirt writes nothing else, and a UTF-16,
 *     UTF-32 or EBCDIC document would look different to the byte-wise
 *     pre-scan than to libxml2; now it is simply malformed.
 *  4. After parsing, the tree may not be deeper than
 *     UFFD_SHIM_DOMXML_MAX_DEPTH and the root must be a <domain> without a
 *     namespace.
 *
 * Extraction follows libvirt's own reading: <name>, <uuid> (virUUIDParse
 * syntax), <devices><emulator> and the <metadata> element; elements are
 * matched by namespace URI, never by prefix, and a duplicate of anything we
 * rely on is an error rather than a guess.
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

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

/* Namespace declarations accepted in one document. */
#define UFFD_SHIM_DOMXML_MAX_NS_DECLS 1024u
/* Name of a domain, as in the wire protocol (UFFD_SHIM_NAME_MAX). */
#define DOMXML_NAME_MAX 256u

G_DEFINE_QUARK (uffd-shim-domxml-error-quark, uffd_shim_domxml_error)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlParserCtxt, xmlFreeParserCtxt)
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

static gboolean
has_prefix_n (const char *p, gsize avail, const char *prefix)
{
    gsize n = strlen (prefix);

    return avail >= n && memcmp (p, prefix, n) == 0;
}

/* Returns the offset just past @terminator at or after @from, or @len. */
static gsize
skip_past (const char *data, gsize len, gsize from, const char *terminator)
{
    gsize tlen = strlen (terminator);
    const char *hit;

    if (from >= len)
        return len;
    hit = memmem (data + from, len - from, terminator, tlen);
    if (hit == NULL)
        return len;
    return (gsize) (hit - data) + tlen;
}

static gboolean
is_xml_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Is the attribute name starting at @p (ended by '=' or space) "xmlns" or
 * "xmlns:..."? */
static gboolean
is_xmlns_name (const char *p, gsize avail)
{
    if (!has_prefix_n (p, avail, "xmlns"))
        return FALSE;
    if (avail == 5)
        return TRUE;
    return p[5] == ':' || p[5] == '=' || is_xml_space (p[5]);
}

/*
 * Scans one start tag from @pos (just past '<'); returns the offset after it.
 * Every attribute has exactly one '=' outside quotes, so counting those is an
 * upper bound that a well-formed tag cannot get under.
 */
static gboolean
prescan_start_tag (const char *data, gsize len, gsize *pos, guint *ns_decls,
                   GError **error)
{
    guint attrs = 0;
    char quote = 0;
    gsize name_start = *pos;
    gboolean in_name = TRUE;
    gsize i;

    for (i = *pos; i < len; i++) {
        char c = data[i];

        /* libxml2 ends an attribute value at '<' too (it is an error), then
         * parses that '<' as new markup; stopping here keeps both views of
         * where tags start the same. */
        if (c == '<')
            break;
        if (quote != 0) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '>')
            break;
        if (c == '"' || c == '\'') {
            quote = c;
            in_name = FALSE;
        } else if (c == '=') {
            in_name = FALSE;
            if (++attrs > UFFD_SHIM_DOMXML_MAX_ATTRS) {
                g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_FORBIDDEN,
                             "an element has more than %u attributes",
                             UFFD_SHIM_DOMXML_MAX_ATTRS);
                return FALSE;
            }
            if (is_xmlns_name (data + name_start, len - name_start) &&
                ++*ns_decls > UFFD_SHIM_DOMXML_MAX_NS_DECLS) {
                g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_FORBIDDEN,
                             "more than %u namespace declarations",
                             UFFD_SHIM_DOMXML_MAX_NS_DECLS);
                return FALSE;
            }
        } else if (is_xml_space (c)) {
            in_name = FALSE;
        } else if (!in_name) {
            in_name = TRUE;
            name_start = i;
        }
    }
    *pos = i;
    return TRUE;
}

static gboolean
domxml_prescan (const char *data, gsize len, GError **error)
{
    guint ns_decls = 0;
    gsize i = 0;

    while (i < len) {
        const char *lt = memchr (data + i, '<', len - i);

        if (lt == NULL)
            return TRUE;
        i = (gsize) (lt - data) + 1;
        if (has_prefix_n (data + i, len - i, "!--")) {
            i = skip_past (data, len, i + 3, "-->");
        } else if (has_prefix_n (data + i, len - i, "![CDATA[")) {
            i = skip_past (data, len, i + 8, "]]>");
        } else if (has_prefix_n (data + i, len - i, "!")) {
            g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_FORBIDDEN,
                                 "DOCTYPE and markup declarations are not allowed in domain XML");
            return FALSE;
        } else if (has_prefix_n (data + i, len - i, "?")) {
            i = skip_past (data, len, i + 1, "?>");
        } else if (!has_prefix_n (data + i, len - i, "/")) {
            if (!prescan_start_tag (data, len, &i, &ns_decls, error))
                return FALSE;
        }
    }
    return TRUE;
}

typedef struct {
    gboolean saw_dtd;
} DomxmlParseState;

/* libxml2 prints some errors (encoding, I/O) through its generic handler
 * even with XML_PARSE_NOERROR; they would end up in libvirt's error message
 * next to ours. Silenced around our calls, then restored. */
static void
domxml_silent (void *ctx, const char *msg, ...)
{
}

typedef struct {
    xmlGenericErrorFunc func;
    void *ctx;
} DomxmlErrorSave;

static DomxmlErrorSave
domxml_silence (void)
{
    DomxmlErrorSave save = { xmlGenericError, xmlGenericErrorContext };

    xmlSetGenericErrorFunc (NULL, domxml_silent);
    return save;
}

static void
domxml_unsilence (DomxmlErrorSave *save)
{
    xmlSetGenericErrorFunc (save->ctx, save->func);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DomxmlErrorSave, domxml_unsilence)

static void
domxml_sax_internal_subset (void *ctx, const xmlChar *name,
                            const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    DomxmlParseState *state = ctxt->_private;

    state->saw_dtd = TRUE;
    xmlStopParser (ctxt);
}

static void
domxml_sax_entity_decl (void *ctx, const xmlChar *name, int type,
                        const xmlChar *public_id, const xmlChar *system_id,
                        xmlChar *content)
{
    xmlParserCtxtPtr ctxt = ctx;
    DomxmlParseState *state = ctxt->_private;

    state->saw_dtd = TRUE;
    xmlStopParser (ctxt);
}

static gboolean
tree_depth_exceeds (xmlNodePtr root, guint max)
{
    xmlNodePtr node = root;
    guint depth = 1;

    if (root->children == NULL)
        return depth > max;
    while (node != NULL) {
        if (node->type == XML_ELEMENT_NODE && depth > max)
            return TRUE;
        if (node->type == XML_ELEMENT_NODE && node->children != NULL) {
            node = node->children;
            depth++;
            continue;
        }
        while (node->next == NULL) {
            node = node->parent;
            depth--;
            if (node == root || node == NULL)
                return FALSE;
        }
        node = node->next;
    }
    return FALSE;
}

/* Steps 1 and 2 of the theory: size, emptiness, pre-scan. */
static gboolean
domxml_check_input (const char *data, gsize len, GError **error)
{
    if (len > UFFD_SHIM_DOMXML_MAX_SIZE) {
        g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_TOO_LARGE,
                     "domain XML is %" G_GSIZE_FORMAT " bytes, more than the %u allowed",
                     len, UFFD_SHIM_DOMXML_MAX_SIZE);
        return FALSE;
    }
    if (data == NULL || len == 0) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_MALFORMED,
                             "domain XML is empty");
        return FALSE;
    }
    return domxml_prescan (data, len, error);
}

/* Step 3: libxml2 with the safe options and the DTD tripwires. */
static xmlDocPtr
domxml_libxml_parse (const char *data, gsize len, GError **error)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                        XML_PARSE_IGNORE_ENC;
    G_GNUC_UNUSED g_auto(DomxmlErrorSave) silenced = domxml_silence ();
    g_autoptr(xmlParserCtxt) ctxt = xmlNewParserCtxt ();
    g_autoptr(xmlDoc) doc = NULL;
    DomxmlParseState state = { FALSE };
    const xmlError *err;
    g_autofree char *msg = NULL;

    if (ctxt == NULL) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_MALFORMED,
                             "cannot allocate an XML parser");
        return NULL;
    }
    ctxt->_private = &state;
    ctxt->sax->internalSubset = domxml_sax_internal_subset;
    ctxt->sax->entityDecl = domxml_sax_entity_decl;

    doc = xmlCtxtReadMemory (ctxt, data, (int) len, NULL, "UTF-8", options);
    if (state.saw_dtd || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_FORBIDDEN,
                             "DOCTYPE and entity declarations are not allowed in domain XML");
        return NULL;
    }
    if (doc != NULL && ctxt->wellFormed && ctxt->nsWellFormed)
        return g_steal_pointer (&doc);

    err = xmlCtxtGetLastError (ctxt);
    msg = g_strdup (err != NULL && err->message != NULL ? err->message : "parse error");
    g_strchomp (msg);
    g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_MALFORMED,
                 "malformed domain XML (line %d): %s", err != NULL ? err->line : 0, msg);
    return NULL;
}

/* Step 4: the shape of the tree. */
static gboolean
domxml_check_tree (xmlDocPtr doc, GError **error)
{
    xmlNodePtr root = xmlDocGetRootElement (doc);

    if (root == NULL || root->ns != NULL || !xmlStrEqual (root->name, BAD_CAST "domain")) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                             "root element is not <domain>");
        return FALSE;
    }
    if (tree_depth_exceeds (root, UFFD_SHIM_DOMXML_MAX_DEPTH)) {
        g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_FORBIDDEN,
                     "domain XML is nested deeper than %u elements",
                     UFFD_SHIM_DOMXML_MAX_DEPTH);
        return FALSE;
    }
    return TRUE;
}

/* Parses @data into a tree whose root is <domain>; see the theory above. */
static xmlDocPtr
domxml_read (const char *data, gsize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    if (!domxml_check_input (data, len, error))
        return NULL;
    doc = domxml_libxml_parse (data, len, error);
    if (doc == NULL || !domxml_check_tree (doc, error))
        return NULL;
    return g_steal_pointer (&doc);
}

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
            g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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

gboolean
uffd_shim_domxml_parse_uuid (const char *text, guint8 uuid[16])
{
    const char *cur = text;
    guint i = 0;

    while (g_ascii_isspace (*cur))
        cur++;
    while (i < 16) {
        int hi, lo;

        if (*cur == '-' || *cur == ' ') {
            cur++;
            continue;
        }
        hi = g_ascii_xdigit_value (cur[0]);
        if (hi < 0)
            return FALSE;
        lo = g_ascii_xdigit_value (cur[1]);
        if (lo < 0)
            return FALSE;
        uuid[i++] = (guint8) (hi * 16 + lo);
        cur += 2;
    }
    while (*cur != '\0') {
        if (!g_ascii_isspace (*cur))
            return FALSE;
        cur++;
    }
    return TRUE;
}

static gboolean
extract_name (xmlNodePtr root, UffdShimDomainInfo *info, GError **error)
{
    xmlNodePtr node;

    if (!find_unique_child (root, "name", &node, error))
        return FALSE;
    if (node == NULL) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                             "domain XML has no <name>");
        return FALSE;
    }
    info->name = node_text (node);
    if (info->name[0] == '\0' || strlen (info->name) >= DOMXML_NAME_MAX) {
        g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                             "domain XML has no <uuid>");
        return FALSE;
    }
    text = node_text (node);
    if (!uffd_shim_domxml_parse_uuid (text, info->uuid)) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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
            g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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

    doc = domxml_read (data, len, error);
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
        if (!is_xml_space (*p))
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
    G_GNUC_UNUSED g_auto(DomxmlErrorSave) silenced = domxml_silence ();
    g_autoptr(xmlBuffer) buf = xmlBufferCreate ();
    xmlSaveCtxtPtr save;
    long written;

    if (buf == NULL) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                             "cannot allocate an XML buffer");
        return FALSE;
    }
    save = xmlSaveToBuffer (buf, "UTF-8", XML_SAVE_NO_DECL);
    if (save == NULL) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                             "cannot serialize domain XML");
        return FALSE;
    }
    written = xmlSaveDoc (save, doc);
    if (xmlSaveClose (save) < 0 || written < 0) {
        g_set_error_literal (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
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
        g_set_error (error, UFFD_SHIM_DOMXML_ERROR, UFFD_SHIM_DOMXML_ERROR_INVALID,
                     "preload library \"%s\" must be an absolute path without ':' or spaces",
                     preload != NULL ? preload : "");
        return FALSE;
    }
    doc = domxml_read (data, len, error);
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
